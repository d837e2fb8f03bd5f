//! Step 4, working the ideas into a shortlist with residents: reviews, merges,
//! proposals, costs, feasibility, scores, and the gate into voting.

use chrono::{DateTime, Utc};

use crate::area::Resident;
use crate::ballot::BallotKind;
use crate::criteria::Score;
use crate::idea::{Idea, IdeaStatus};
use crate::ids::{IdeaId, ProjectId};
use crate::money::Money;
use crate::part::PartId;
use crate::process::Step;
use crate::process::cycle::{Cycle, gate, reject_idea, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::{ExclusionGroup, VotingWindow};
use crate::process::stage::{Framework, Voting, stage};
use crate::project::{Feasibility, Project, ProjectProposal};
use serde::Serialize;

/// Step 4, Bearbetning och urval: ideas are worked into a shortlist with
/// residents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Shortlisting {
    pub(crate) framework: Framework,
}
stage!(Shortlisting, Shortlisting);

/// Step 4: working the ideas into a shortlist with residents.
impl Cycle<Shortlisting> {
    pub(crate) fn idea_in(
        &self,
        idea: IdeaId,
        operation: &'static str,
        expected: IdeaStatus,
    ) -> Result<usize, CycleError> {
        let i = self.core.idea_index(idea)?;
        let status = self.core.ideas[i].status();
        if *status != expected {
            return Err(CycleError::IdeaStatus {
                idea,
                operation,
                status: status.name(),
                expected: expected.name(),
            });
        }
        Ok(i)
    }

    pub(crate) fn open_project(&self, project: ProjectId) -> Result<usize, CycleError> {
        let i = self.core.project_index(project)?;
        if !self.core.projects[i].is_on_shortlist() {
            return Err(CycleError::Withdrawn { project });
        }
        Ok(i)
    }

    /// Takes a submitted idea up for review.
    ///
    /// # Errors
    /// An unknown idea or one not in status submitted.
    pub fn review_idea(&mut self, idea: IdeaId) -> Result<(), CycleError> {
        let i = self.idea_in(idea, "review", IdeaStatus::Submitted)?;
        self.core.ideas[i].set_status(IdeaStatus::UnderReview);
        Ok(())
    }

    /// Merges an idea under review into another idea under review.
    ///
    /// # Errors
    /// Unknown ideas, an idea merged into itself, or either not under review.
    pub fn merge_idea(&mut self, idea: IdeaId, into: IdeaId) -> Result<(), CycleError> {
        if idea == into {
            return Err(CycleError::MergeIntoItself { idea });
        }
        let i = self.idea_in(idea, "merge", IdeaStatus::UnderReview)?;
        self.idea_in(into, "receive a merge", IdeaStatus::UnderReview)?;
        self.core.ideas[i].set_status(IdeaStatus::Merged { into });
        Ok(())
    }

    /// Rejects an idea under review, with a reason for its author.
    ///
    /// # Errors
    /// An unknown idea, one not under review, or an empty reason.
    pub fn reject_idea(&mut self, idea: IdeaId, reason: String) -> Result<(), CycleError> {
        reject_idea(&mut self.core, idea, reason, Step::Shortlisting)
    }

    /// Puts a project on the shortlist, built from ideas under review with the
    /// residents who worked on it.
    ///
    /// # Errors
    /// A reused id, empty texts, no ideas, ideas not under review, or no
    /// residents (or one named twice).
    pub fn propose_project(&mut self, proposal: ProjectProposal) -> Result<(), CycleError> {
        let project = proposal.id;
        if self.project(project).is_some() {
            return Err(CycleError::DuplicateId {
                kind: "project",
                id: project.to_string(),
            });
        }
        require_text("the project's title", &proposal.title)?;
        require_text("the project's description", &proposal.description)?;
        self.check_part("a project", proposal.part.as_ref())?;
        if proposal.ideas.is_empty() {
            return Err(CycleError::NoIdeas { project });
        }
        if proposal.worked_on_by.is_empty() {
            return Err(CycleError::NoResidents { project });
        }
        for (k, r) in proposal.worked_on_by.iter().enumerate() {
            if proposal.worked_on_by[..k].iter().any(|o| o.id() == r.id()) {
                return Err(CycleError::ResidentTwice {
                    project,
                    resident: r.id(),
                });
            }
        }
        let mut indices = Vec::with_capacity(proposal.ideas.len());
        for (k, &idea) in proposal.ideas.iter().enumerate() {
            if proposal.ideas[..k].contains(&idea) {
                return Err(CycleError::DuplicateId {
                    kind: "idea in proposal",
                    id: idea.to_string(),
                });
            }
            indices.push(self.idea_in(idea, "shortlist", IdeaStatus::UnderReview)?);
        }
        for i in indices {
            self.core.ideas[i].set_status(IdeaStatus::Shortlisted { project });
        }
        self.core.projects.push(Project::new(proposal));
        Ok(())
    }

    /// Records (or revises) a project's cost estimate.
    ///
    /// # Errors
    /// An unknown or withdrawn project, or a cost that is not positive or in
    /// another currency.
    pub fn estimate_cost(&mut self, project: ProjectId, cost: Money) -> Result<(), CycleError> {
        let i = self.open_project(project)?;
        self.core.check_currency("the cost estimate", cost)?;
        if !cost.is_positive() {
            return Err(CycleError::NotPositive {
                what: "a cost estimate",
                amount: cost,
            });
        }
        self.core.projects[i].set_cost(cost);
        Ok(())
    }

    /// Records (or revises) whether a project is feasible.
    ///
    /// # Errors
    /// An unknown or withdrawn project, or an infeasibility without a reason.
    pub fn assess_feasibility(
        &mut self,
        project: ProjectId,
        feasibility: Feasibility,
    ) -> Result<(), CycleError> {
        let i = self.open_project(project)?;
        if let Feasibility::Infeasible { reason } = &feasibility {
            require_text("the reason a project is infeasible", reason)?;
        }
        self.core.projects[i].set_feasibility(feasibility);
        Ok(())
    }

    /// Scores a project against one criterion.
    ///
    /// # Errors
    /// An unknown or withdrawn project, or an unknown criterion.
    pub fn score_project(
        &mut self,
        project: ProjectId,
        criterion: String,
        score: Score,
    ) -> Result<(), CycleError> {
        let i = self.open_project(project)?;
        if self.criteria().get(&criterion).is_none() {
            return Err(CycleError::UnknownCriterion { project, criterion });
        }
        self.core.projects[i].set_score(criterion, score);
        Ok(())
    }

    /// Records another resident who worked on a project.
    ///
    /// # Errors
    /// An unknown or withdrawn project, or a resident already recorded.
    pub fn add_co_creator(
        &mut self,
        project: ProjectId,
        resident: Resident,
    ) -> Result<(), CycleError> {
        let i = self.open_project(project)?;
        let p = &mut self.core.projects[i];
        if p.proposal()
            .worked_on_by
            .iter()
            .any(|r| r.id() == resident.id())
        {
            return Err(CycleError::ResidentTwice {
                project,
                resident: resident.id(),
            });
        }
        p.proposal_mut().worked_on_by.push(resident);
        Ok(())
    }

    /// Takes a project off the shortlist, with a reason.
    ///
    /// # Errors
    /// An unknown or already withdrawn project, or an empty reason.
    pub fn withdraw_project(
        &mut self,
        project: ProjectId,
        reason: String,
    ) -> Result<(), CycleError> {
        require_text("the reason for withdrawing", &reason)?;
        let i = self.open_project(project)?;
        self.core.projects[i].withdraw(reason);
        Ok(())
    }

    /// Declares projects on the shortlist that exclude each other: at most one
    /// of them is funded. The count leaves out a project of the group once the
    /// rule has chosen another
    /// ([`SetAsideReason::Excluded`](crate::process::SetAsideReason)), and a
    /// council's adjustment cannot fund two.
    ///
    /// # Errors
    /// Fewer than two projects, one named twice, an unknown or withdrawn
    /// project, or an empty reason.
    pub fn declare_exclusion(&mut self, group: ExclusionGroup) -> Result<(), CycleError> {
        require_text("the reason projects exclude each other", &group.reason)?;
        if group.projects.len() < 2 {
            return Err(CycleError::ExclusionTooSmall {
                projects: group.projects.len(),
            });
        }
        for (k, &project) in group.projects.iter().enumerate() {
            if group.projects[..k].contains(&project) {
                return Err(CycleError::ProjectRepeated {
                    project,
                    list: "an exclusion group",
                });
            }
            self.open_project(project)?;
        }
        if let [first, rest @ ..] = group.projects.as_slice() {
            let part_of =
                |id: &ProjectId| self.project(*id).and_then(|p| p.proposal().part.clone());
            if let Some(second) = rest.iter().find(|p| part_of(p) != part_of(first)) {
                return Err(CycleError::ExclusionAcrossParts {
                    first: *first,
                    second: *second,
                });
            }
        }
        self.core.exclusions.push(group);
        Ok(())
    }

    /// Every condition of step 4's gate not met yet, in the order the gate
    /// checks them (the first is the error [`Cycle::open_voting`] gives):
    /// every idea answered, at least two projects on the shortlist and as many
    /// as ballots must choose, a ballot the rules allow, and each project
    /// costed within the budget, feasible and scored on every criterion.
    pub fn unmet(&self) -> Vec<GateError> {
        let mut unmet = Vec::new();
        let undecided: Vec<IdeaId> = self
            .core
            .ideas
            .iter()
            .filter(|i| !i.is_decided())
            .map(Idea::id)
            .collect();
        if !undecided.is_empty() {
            unmet.push(GateError::UndecidedIdeas { ideas: undecided });
        }
        let on_shortlist = self.core.shortlist().count();
        if on_shortlist < 2 {
            unmet.push(GateError::TooFewProjects { on_shortlist });
        }
        let min_projects = self.rules().min_projects();
        if on_shortlist < min_projects as usize {
            unmet.push(GateError::ShortlistTooShortForRules {
                min_projects,
                on_shortlist,
            });
        }
        let Ok(budget) = self.budget() else {
            unmet.push(GateError::NoBudget);
            return unmet;
        };
        if self.parts().is_empty()
            && let Err(e) = self.ballots_possible(budget, None)
        {
            unmet.push(e);
        }
        // Several parts: each part's ballot must be one the rules allow.
        for part in self.parts() {
            let on_part = self
                .core
                .shortlist()
                .filter(|p| p.proposal().part.as_ref() == Some(&part.id))
                .count();
            if on_part == 0 {
                unmet.push(GateError::PartWithoutProjects {
                    part: part.id.clone(),
                });
            } else if on_part < min_projects as usize {
                unmet.push(GateError::PartTooShortForRules {
                    part: part.id.clone(),
                    min_projects,
                    on_shortlist: on_part,
                });
            }
            if let Ok(money) = self.part_budget(Some(&part.id))
                && let Err(e) = self.ballots_possible(money, Some(&part.id))
            {
                unmet.push(e);
            }
        }
        for p in self.core.shortlist() {
            let project = p.id();
            // In a cycle of several parts, a project fits its part's money.
            let budget = if self.parts().is_empty() {
                budget
            } else {
                match self.part_budget(p.proposal().part.as_ref()) {
                    Ok(b) if p.proposal().part.is_some() => b,
                    _ => {
                        unmet.push(GateError::ProjectWithoutPart { project });
                        continue;
                    }
                }
            };
            match p.cost() {
                None => unmet.push(GateError::NotCosted { project }),
                Some(cost) if cost.minor() > budget.minor() => {
                    unmet.push(GateError::CostOverBudget {
                        project,
                        cost,
                        budget,
                    });
                }
                Some(_) => {}
            }
            if p.feasibility() != Some(&Feasibility::Feasible) {
                unmet.push(GateError::NotFeasible { project });
            }
            for c in self
                .criteria()
                .iter()
                .filter(|c| !p.scores().contains_key(c.name()))
            {
                unmet.push(GateError::NotScored {
                    project,
                    criterion: c.name().to_owned(),
                });
            }
        }
        unmet
    }

    pub(crate) fn shortlist_ready(&self) -> Result<(), GateError> {
        match self.unmet().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Necessary conditions for a valid knapsack ballot to exist: the cheapest
    /// allowed choice fits the cost limit, and the required share of the budget
    /// is within the limit and reachable with the shortlist.
    pub(crate) fn ballots_possible(
        &self,
        budget: Money,
        part: Option<&PartId>,
    ) -> Result<(), GateError> {
        let rules = self.rules();
        if rules.kind() != BallotKind::Knapsack {
            return Ok(());
        }
        let limit = match rules.max_total_cost() {
            Some(l) if l.minor() < budget.minor() => l,
            _ => budget,
        };
        let mut costs: Vec<i64> = self
            .core
            .shortlist()
            .filter(|p| part.is_none() || p.proposal().part.as_ref() == part)
            .filter_map(|p| p.cost().map(|c| c.minor()))
            .collect();
        costs.sort_unstable();
        let currency = self.currency();
        let sum =
            |cs: &[i64]| Money::new(cs.iter().fold(0_i64, |a, c| a.saturating_add(*c)), currency);
        let cheapest = sum(costs.get(..rules.min_projects() as usize).unwrap_or(&costs));
        if cheapest.minor() > limit.minor() {
            return Err(GateError::CheapestBallotOverLimit {
                min_projects: rules.min_projects(),
                cheapest,
                limit,
            });
        }
        if let Some(bp) = rules.min_budget_share() {
            let required = budget.share_ceil(bp);
            let most = costs
                .len()
                .min(rules.max_projects().map_or(usize::MAX, |m| m as usize));
            let largest = sum(&costs[costs.len() - most..]);
            if required.minor() > limit.minor() || required.minor() > largest.minor() {
                return Err(GateError::BudgetShareUnreachable {
                    required,
                    limit,
                    largest,
                });
            }
        }
        Ok(())
    }

    /// Gate of step 4: every idea has an answer; at least two projects on the
    /// shortlist (and as many as ballots must choose), each costed within the
    /// budget, feasible and scored on every criterion. Then voting opens for
    /// `window`, which may not open before `at`.
    ///
    /// # Errors
    /// The first unmet condition; the cycle comes back unchanged.
    pub fn open_voting(
        self,
        window: VotingWindow,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Voting>, TransitionError<Self>> {
        self.advance(
            "open voting",
            at,
            |c| {
                if window.opens < at || window.closes <= window.opens {
                    return Err(CycleError::InvalidWindow {
                        opens: window.opens,
                        closes: window.closes,
                        at,
                    });
                }
                c.shortlist_ready().map_err(gate::<Shortlisting>)
            },
            |_, s, ()| Voting {
                framework: s.framework,
                window,
            },
        )
    }
}
