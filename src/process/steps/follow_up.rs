//! Step 7, follow-up: the evaluation that closes the cycle.

use crate::process::Step;
use crate::process::cycle::{Cycle, refuse, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::Evaluation;
use crate::process::stage::{Closed, FollowUp};

/// Step 7: follow-up.
impl Cycle<FollowUp> {
    /// Gate of step 7: an evaluation with at least one lesson. The cycle closes.
    ///
    /// # Errors
    /// No lesson, an empty lesson, or a time before follow-up began; the cycle
    /// comes back unchanged.
    pub fn close(mut self, evaluation: Evaluation) -> Result<Cycle<Closed>, TransitionError<Self>> {
        let check = || -> Result<(), CycleError> {
            self.core
                .check_time("close the cycle", evaluation.recorded_at)?;
            if evaluation.lessons.is_empty() {
                return Err(CycleError::Gate {
                    step: Step::FollowUp,
                    source: GateError::NoLessons,
                });
            }
            for l in &evaluation.lessons {
                require_text("a lesson", l)?;
            }
            Ok(())
        };
        if let Err(e) = check() {
            return Err(refuse(self, e));
        }
        self.core.enter(Step::Closed, evaluation.recorded_at);
        Ok(Cycle {
            core: self.core,
            stage: Closed {
                framework: self.stage.framework,
                window: self.stage.window,
                decision: self.stage.decision,
                evaluation,
            },
        })
    }
}
