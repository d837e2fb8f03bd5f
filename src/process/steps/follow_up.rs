//! Step 7, follow-up: the evaluation that closes the cycle.

use crate::process::cycle::{Cycle, gate, require_text};
use crate::process::error::{GateError, TransitionError};
use crate::process::records::{Evaluation, FundingDecision, VotingWindow};
use crate::process::stage::{Closed, Framework, stage};
use serde::Serialize;

/// Step 7, Uppföljning: the cycle is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FollowUp {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
}
stage!(FollowUp, FollowUp);

/// Step 7: follow-up.
impl Cycle<FollowUp> {
    /// Gate of step 7: an evaluation with at least one lesson. The cycle closes.
    ///
    /// # Errors
    /// No lesson, an empty lesson, or a time before follow-up began; the cycle
    /// comes back unchanged.
    pub fn close(self, evaluation: Evaluation) -> Result<Cycle<Closed>, TransitionError<Self>> {
        let at = evaluation.recorded_at;
        self.advance(
            "close the cycle",
            at,
            |_| {
                if evaluation.lessons.is_empty() {
                    return Err(gate::<FollowUp>(GateError::NoLessons));
                }
                evaluation
                    .lessons
                    .iter()
                    .try_for_each(|l| require_text("a lesson", l))?;
                Ok(evaluation)
            },
            |_, s, evaluation| Closed {
                framework: s.framework,
                window: s.window,
                decision: s.decision,
                evaluation,
            },
        )
    }
}
