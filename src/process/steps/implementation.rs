//! Step 6, implementation co-created with residents: milestones, progress,
//! completion and cancellation, and the gate into follow-up.

use chrono::{DateTime, Utc};

use crate::area::Resident;
use crate::ids::ProjectId;
use crate::money::Money;
use crate::process::cycle::{Cycle, gate, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::{Adjustment, FundingDecision, VotingWindow};
use crate::process::stage::{FollowUp, Framework, stage};
use crate::project::{DeliveryStatus, HandOver, Milestone, Progress, Project};
use serde::Serialize;

/// Step 6, Genomförande: funded projects are built with residents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Implementation {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
}
stage!(Implementation, Implementation);

/// Step 6: implementation, co-created with residents.
impl Cycle<Implementation> {
    pub(crate) fn funded_project(
        &mut self,
        project: ProjectId,
    ) -> Result<&mut Project, CycleError> {
        let i = self.core.project_index(project)?;
        let p = &mut self.core.projects[i];
        match p.delivery() {
            None => Err(CycleError::NotFunded { project }),
            Some(d) if d.is_finished() => Err(CycleError::AlreadyFinished { project }),
            Some(d) if d.handed_over.is_some() => Err(CycleError::HandedOver { project }),
            Some(_) => Ok(p),
        }
    }

    pub(crate) fn delivery(
        &mut self,
        project: ProjectId,
    ) -> Result<&mut crate::project::Delivery, CycleError> {
        self.funded_project(project)?
            .delivery_mut()
            .ok_or(CycleError::NotFunded { project })
    }

    /// Records a council's adjustment of the counted outcome: projects of the
    /// ballot funded beyond the count, or funded projects dropped before any
    /// work on them is on the record. The counted decision stays as it was;
    /// the adjustment is kept beside it. The funded projects must then respect
    /// every exclusion group and fit the budget, raised by what the decision
    /// adds to it.
    ///
    /// # Errors
    /// No decision (body or reference missing), an empty reason, nothing added
    /// or removed, a project named twice, an unknown, withdrawn or already
    /// funded project to add, an unfunded project or one whose delivery has
    /// begun to remove, a raise that is not positive or in another currency, two
    /// projects of one exclusion group, an outcome over the budget, or a time
    /// before implementation began. Nothing changes.
    pub fn adjust_outcome(&mut self, adjustment: Adjustment) -> Result<(), CycleError> {
        if let Some(field) = adjustment.decision.missing() {
            return Err(CycleError::EmptyText { field });
        }
        require_text("the reason for the adjustment", &adjustment.reason)?;
        self.core.check_time("adjust the outcome", adjustment.at)?;
        if adjustment.add.is_empty() && adjustment.remove.is_empty() {
            return Err(CycleError::EmptyAdjustment);
        }
        let named: Vec<ProjectId> = adjustment
            .remove
            .iter()
            .chain(&adjustment.add)
            .copied()
            .collect();
        for (k, &project) in named.iter().enumerate() {
            if named[..k].contains(&project) {
                return Err(CycleError::ProjectRepeated {
                    project,
                    list: "the adjustment",
                });
            }
        }
        let raise = match adjustment.raises_budget_by {
            Some(raise) => {
                self.core.check_currency("the budget raise", raise)?;
                if !raise.is_positive() {
                    return Err(CycleError::NotPositive {
                        what: "a budget raise",
                        amount: raise,
                    });
                }
                raise
            }
            None => Money::zero(self.currency()),
        };
        let mut funded = self.funded();
        for &project in &adjustment.remove {
            let p = &self.core.projects[self.core.project_index(project)?];
            match p.delivery() {
                None => return Err(CycleError::NotFunded { project }),
                Some(d) if d.has_begun() => return Err(CycleError::DeliveryBegun { project }),
                Some(_) => funded.retain(|&f| f != project),
            }
        }
        for &project in &adjustment.add {
            let p = &self.core.projects[self.core.project_index(project)?];
            if !p.is_on_shortlist() {
                return Err(CycleError::Withdrawn { project });
            }
            if p.delivery().is_some() {
                return Err(CycleError::AlreadyFunded { project });
            }
            funded.push(project);
        }
        if let Some((first, second, group)) = self.core.excluding(&funded) {
            return Err(CycleError::Excludes {
                first,
                second,
                reason: group.reason.clone(),
            });
        }
        let total_cost = self.cost_of(&funded)?;
        let budget = self.budget()?.checked_add(raise)?;
        if total_cost.minor() > budget.minor() {
            return Err(CycleError::AdjustedOverBudget { total_cost, budget });
        }
        // Several parts: each part's projects fit its money, the raise going
        // to the part the adjustment names.
        let parts = self.parts();
        // Parts counted together share their money: the whole budget (above)
        // is the limit.
        let together = self.rules().parts_together();
        if parts.is_empty() {
            if adjustment.part.is_some() {
                return Err(CycleError::NoSuchPart {
                    what: "an adjustment",
                    part: adjustment.part.clone(),
                });
            }
        } else {
            if let Some(named) = &adjustment.part
                && !parts.iter().any(|p| &p.id == named)
            {
                return Err(CycleError::NoSuchPart {
                    what: "an adjustment",
                    part: adjustment.part.clone(),
                });
            }
            let to = crate::part::destination(parts, adjustment.part.as_ref());
            for (part, money) in self.core.part_money(parts)? {
                let budget = if Some(&part.id) == to {
                    money.checked_add(raise)?
                } else {
                    money
                };
                let total_cost = Money::sum(
                    self.currency(),
                    funded
                        .iter()
                        .filter_map(|&p| self.project(p))
                        .filter(|p| p.proposal().part.as_ref() == Some(&part.id))
                        .filter_map(Project::cost),
                )?;
                if total_cost.minor() > budget.minor() && !together {
                    return Err(CycleError::AdjustedOverBudget { total_cost, budget });
                }
            }
        }
        for p in &mut self.core.projects {
            if adjustment.remove.contains(&p.id()) {
                p.unfund();
            } else if adjustment.add.contains(&p.id()) {
                p.fund();
            }
        }
        self.core.adjustments.push(adjustment);
        Ok(())
    }

    /// Hands a funded project still being built over to the cycle's
    /// programme: step 6 may end without it, and later years report on it
    /// until it is completed or cancelled
    /// ([`ProgrammeCommand::Delivery`](crate::process::ProgrammeCommand)); the
    /// programme cannot conclude before. Its estimated cost stays committed, so
    /// it is not carried over as unspent.
    ///
    /// # Errors
    /// A cycle outside a programme, an unknown, unfunded, finished or handed
    /// over project, an empty reason, a planned completion before the hand-over
    /// or a time before implementation began.
    pub fn hand_over(&mut self, project: ProjectId, hand_over: HandOver) -> Result<(), CycleError> {
        if self.core.setup.programme.is_none() {
            return Err(CycleError::NoProgramme { project });
        }
        require_text("the reason for handing over", &hand_over.reason)?;
        self.core.check_time("hand a project over", hand_over.at)?;
        if hand_over.planned_completion < hand_over.at.date_naive() {
            return Err(CycleError::PlannedInThePast {
                project,
                planned: hand_over.planned_completion,
                at: hand_over.at,
            });
        }
        self.delivery(project)?.handed_over = Some(hand_over);
        Ok(())
    }

    /// Records a milestone of a funded project.
    ///
    /// # Errors
    /// An unknown, unfunded or finished project, or an empty title.
    pub fn record_milestone(
        &mut self,
        project: ProjectId,
        milestone: Milestone,
    ) -> Result<(), CycleError> {
        require_text("the milestone's title", &milestone.title)?;
        self.delivery(project)?.milestones.push(milestone);
        Ok(())
    }

    /// Records the progress of a funded project.
    ///
    /// # Errors
    /// An unknown, unfunded or finished project.
    pub fn record_progress(
        &mut self,
        project: ProjectId,
        progress: Progress,
    ) -> Result<(), CycleError> {
        self.delivery(project)?.progress = progress;
        Ok(())
    }

    /// Records a resident who co-creates a funded project.
    ///
    /// # Errors
    /// An unknown, unfunded or finished project, or a resident already recorded.
    pub fn add_co_creator(
        &mut self,
        project: ProjectId,
        resident: Resident,
    ) -> Result<(), CycleError> {
        let d = self.delivery(project)?;
        if d.co_creators.iter().any(|r| r.id() == resident.id()) {
            return Err(CycleError::ResidentTwice {
                project,
                resident: resident.id(),
            });
        }
        d.co_creators.push(resident);
        Ok(())
    }

    /// Completes a funded project at its final cost; it must have been
    /// co-created by at least one resident during implementation.
    ///
    /// # Errors
    /// An unknown, unfunded or finished project, no co-creator, a negative cost or
    /// one in another currency, or a time before implementation began.
    pub fn complete_project(
        &mut self,
        project: ProjectId,
        final_cost: Money,
        at: DateTime<Utc>,
    ) -> Result<(), CycleError> {
        self.core.check_time("complete a project", at)?;
        self.core.check_currency("the final cost", final_cost)?;
        if final_cost.is_negative() {
            return Err(CycleError::Negative {
                what: "a final cost",
                amount: final_cost,
            });
        }
        let d = self.delivery(project)?;
        if d.co_creators.is_empty() {
            return Err(CycleError::NoCoCreators { project });
        }
        d.progress = Progress::new(100)?;
        d.status = DeliveryStatus::Completed { at, final_cost };
        Ok(())
    }

    /// Cancels a funded project with a reason and the money already spent.
    ///
    /// # Errors
    /// An unknown, unfunded or finished project, an empty reason, a negative amount
    /// or one in another currency, or a time before implementation began.
    pub fn cancel_project(
        &mut self,
        project: ProjectId,
        reason: String,
        spent: Money,
        at: DateTime<Utc>,
    ) -> Result<(), CycleError> {
        require_text("the reason for cancelling", &reason)?;
        self.core.check_time("cancel a project", at)?;
        self.core.check_currency("the amount spent", spent)?;
        if spent.is_negative() {
            return Err(CycleError::Negative {
                what: "an amount spent",
                amount: spent,
            });
        }
        self.delivery(project)?.status = DeliveryStatus::Cancelled { at, reason, spent };
        Ok(())
    }

    /// Gate of step 6: every funded project is completed, cancelled or handed
    /// over to the programme ([`Cycle::hand_over`]). Then the cycle is
    /// followed up.
    ///
    /// # Errors
    /// Unfinished projects; the cycle comes back unchanged.
    pub fn begin_follow_up(
        self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<FollowUp>, TransitionError<Self>> {
        self.advance(
            "begin follow-up",
            at,
            |c| c.delivered_by(at),
            |_, s, ()| FollowUp {
                framework: s.framework,
                window: s.window,
                decision: s.decision,
            },
        )
    }

    /// Gate of step 6: every funded project finished, none after `at`.
    fn delivered_by(&self, at: DateTime<Utc>) -> Result<(), CycleError> {
        match self.unmet(at).into_iter().next() {
            Some(first) => Err(gate::<Implementation>(first)),
            None => Ok(()),
        }
    }

    /// Every condition of step 6's gate not met at `at`: every funded project
    /// completed, cancelled or handed over to the programme, none of them
    /// after `at`.
    pub fn unmet(&self, at: DateTime<Utc>) -> Vec<GateError> {
        let projects = &self.core.projects;
        let mut unmet = Vec::new();
        let unfinished: Vec<ProjectId> = projects
            .iter()
            .filter(|p| p.delivery().is_some_and(|d| !d.is_settled()))
            .map(Project::id)
            .collect();
        if !unfinished.is_empty() {
            unmet.push(GateError::Unfinished {
                projects: unfinished,
            });
        }
        let last_finished = projects
            .iter()
            .filter_map(|p| match p.delivery().map(|d| &d.status) {
                Some(
                    DeliveryStatus::Completed { at, .. } | DeliveryStatus::Cancelled { at, .. },
                ) => Some(*at),
                _ => None,
            })
            .max();
        if let Some(finished) = last_finished.filter(|f| *f > at) {
            unmet.push(GateError::RecordedAfterEnd {
                record: "a project's completion or cancellation",
                dated: finished.to_rfc3339(),
                at,
            });
        }
        unmet
    }
}
