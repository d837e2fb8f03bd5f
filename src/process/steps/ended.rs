//! The ends of a cycle: closed, or abandoned from any running step.

use chrono::{DateTime, Utc};

use crate::process::cycle::{Cycle, require_text};
use crate::process::error::TransitionError;
use crate::process::records::Evaluation;
use crate::process::stage::{Active, Closed};
use crate::process::{Abandoned, Step};

/// A closed cycle.
impl Cycle<Closed> {
    /// The evaluation.
    pub fn evaluation(&self) -> &Evaluation {
        &self.stage.evaluation
    }
}

/// Any running stage can be abandoned.
impl<S: Active> Cycle<S>
where
    S: Into<crate::process::stage::Previous>,
{
    /// Abandons the cycle with a reason. An abandoned year counts against the
    /// programme's credibility.
    ///
    /// # Errors
    /// An empty reason or a time before the current step began; the cycle comes
    /// back unchanged.
    pub fn abandon(
        self,
        reason: String,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Abandoned>, TransitionError<Self>> {
        self.advance(
            "abandon",
            at,
            |_| require_text("the reason for abandoning", &reason).map(|()| reason),
            |_, s, reason| Abandoned {
                from: Box::new(s.into()),
                reason,
                at,
            },
        )
    }
}

/// An abandoned cycle.
impl Cycle<Abandoned> {
    /// The step it was abandoned in.
    pub fn abandoned_in(&self) -> Step {
        self.stage.from_step()
    }

    /// Why.
    pub fn reason(&self) -> &str {
        self.stage.reason()
    }
}
