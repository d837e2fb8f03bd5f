//! Step 2, outreach: activities that reach residents, and the gate into idea
//! generation.

use chrono::{DateTime, Utc};

use crate::process::Step;
use crate::process::cycle::{Cycle, gate, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::OutreachActivity;
use crate::process::stage::{Framework, IdeaGeneration, stage};
use serde::Serialize;

/// Step 2, Marknadsföring: reaching as many residents as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outreach {
    pub(crate) framework: Framework,
}
stage!(Outreach, Outreach);

/// Step 2: outreach.
impl Cycle<Outreach> {
    /// Records an outreach activity.
    ///
    /// # Errors
    /// No language, an empty description, a target group the area does not
    /// have (or one named twice), or a date before outreach began.
    pub fn record_outreach(&mut self, activity: OutreachActivity) -> Result<(), CycleError> {
        require_text("the activity's description", &activity.description)?;
        if activity.languages.iter().all(|l| l.trim().is_empty()) {
            return Err(CycleError::EmptyText {
                field: "the activity's languages",
            });
        }
        let area = &self.core.setup.area;
        for (k, target) in activity.groups.iter().enumerate() {
            let problem = if activity.groups[..k].contains(target) {
                Some("named twice")
            } else if area.group(&target.dimension, &target.group).is_none() {
                Some("not a group of the area's breakdown")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(CycleError::OutreachGroup {
                    dimension: target.dimension.clone(),
                    group: target.group.clone(),
                    problem,
                });
            }
        }
        if activity.held_on < self.core.began().date_naive() {
            return Err(CycleError::BeforeStep {
                operation: "record outreach",
                at: activity
                    .held_on
                    .and_hms_opt(0, 0, 0)
                    .map_or(self.core.began(), |t| t.and_utc()),
                step: Step::Outreach,
                began: self.core.began(),
            });
        }
        self.core.outreach.push(activity);
        Ok(())
    }

    /// Every condition of step 2's gate not met at `at`: an outreach activity
    /// recorded, none held after `at`.
    pub fn unmet(&self, at: DateTime<Utc>) -> Vec<GateError> {
        let outreach = &self.core.outreach;
        if outreach.is_empty() {
            return vec![GateError::NoOutreach];
        }
        outreach
            .iter()
            .find(|a| a.held_on > at.date_naive())
            .map(|late| GateError::RecordedAfterEnd {
                record: "an outreach activity",
                dated: late.held_on.to_string(),
                at,
            })
            .into_iter()
            .collect()
    }

    /// Gate of step 2: at least one outreach activity. Then ideas are collected.
    ///
    /// # Errors
    /// No outreach recorded; the cycle comes back unchanged.
    pub fn open_idea_generation(
        self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<IdeaGeneration>, TransitionError<Self>> {
        self.advance(
            "open idea generation",
            at,
            |c| match c.unmet(at).into_iter().next() {
                Some(first) => Err(gate::<Outreach>(first)),
                None => Ok(()),
            },
            |_, s, ()| IdeaGeneration {
                framework: s.framework,
            },
        )
    }
}
