//! Step 5, voting: digital ballots and paper batches, the count, and the gate
//! into implementation.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::area::Resident;
use crate::ballot::{
    Ballot, BallotSubmission, Channel, EligibilityCheck, PaperBatch, SecondBallot,
};
use crate::ids::{AreaId, BallotId, ProjectId, ResidentId};
use crate::money::Money;
use crate::part::{PartId, PartVoting};
use crate::process::Step;
use crate::process::cycle::{Count, Cycle, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::{FundingDecision, ProjectScore, VotingWindow};
use crate::process::stage::{Framework, Implementation, stage};
use crate::project::Project;
use crate::tally::{Rule, Tally};
use serde::Serialize;

/// The ballots of a paper batch checked so far, indexed as the cycle's
/// ballot box indexes its own: by id, by voter and part, and each voter's home
/// and parts. Lookups are by key, so checking a batch stays linear in its
/// size.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    ids: HashSet<BallotId>,
    by_voter: HashMap<(ResidentId, Option<PartId>), BallotId>,
    homes: HashMap<ResidentId, AreaId>,
    parts: HashMap<ResidentId, Vec<PartId>>,
}

impl Pending {
    fn add(&mut self, ballot: &Ballot) {
        self.ids.insert(ballot.id);
        self.by_voter
            .insert((ballot.voter, ballot.part.clone()), ballot.id);
        if let Some(home) = ballot.home {
            self.homes.insert(ballot.voter, home);
        }
        if let Some(part) = &ballot.part {
            self.parts
                .entry(ballot.voter)
                .or_default()
                .push(part.clone());
        }
    }
}

/// Step 5, Röstning: residents vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Voting {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
}
stage!(Voting, Voting);

/// Step 5: voting.
impl Cycle<Voting> {
    /// The voting window.
    pub fn window(&self) -> &VotingWindow {
        &self.stage.window
    }

    /// The ballot a submission is counted as on `channel`: the voter's id, the
    /// choices, the time and the verdict under the cycle's eligibility rules —
    /// not the voter's record.
    pub fn ballot_record(&self, ballot: &BallotSubmission, channel: Channel) -> Ballot {
        // The home decides a voter's own parts: kept only where it does.
        let home = self.needs_home().then(|| ballot.voter.residence().area);
        Ballot {
            home,
            part: ballot.part.clone(),
            id: ballot.id,
            voter: ballot.voter.id(),
            cast_at: ballot.cast_at,
            choices: ballot.choices.clone(),
            channel,
            eligibility: EligibilityCheck {
                rules: self.eligibility().version(),
            },
        }
    }

    /// Checks one ballot; with `record`, the voter's record is checked against
    /// the eligibility rules, without, the ballot's recorded verdict must name
    /// the cycle's rules. `pending` holds voters of the same paper batch already
    /// checked. Returns where the ballot goes (the slot it replaces, if any).
    pub(crate) fn check_ballot(
        &self,
        ballot: &Ballot,
        record: Option<&Resident>,
        pending: &Pending,
    ) -> Result<Option<usize>, CycleError> {
        let id = ballot.id;
        if self.core.ballots.ids.contains(&id) || pending.ids.contains(&id) {
            return Err(CycleError::DuplicateId {
                kind: "ballot",
                id: id.to_string(),
            });
        }
        let window = self.stage.window;
        if !window.contains(ballot.cast_at) {
            return Err(CycleError::OutsideWindow {
                ballot: id,
                cast_at: ballot.cast_at,
                opens: window.opens,
                closes: window.closes,
            });
        }
        match record {
            Some(resident) => self.check_eligible("voting", resident, ballot.cast_at)?,
            None => {
                let current = self.eligibility().version();
                if ballot.eligibility.rules != current {
                    return Err(CycleError::EligibilityRulesDiffer {
                        ballot: id,
                        recorded: ballot.eligibility.rules,
                        current,
                    });
                }
            }
        }
        if let Channel::Paper {
            entered_by,
            entered_at,
        } = &ballot.channel
        {
            require_text("the official entering paper ballots", entered_by)?;
            self.core.check_time("enter paper ballots", *entered_at)?;
            if ballot.cast_at > *entered_at {
                return Err(CycleError::EnteredBeforeCast {
                    ballot: id,
                    cast_at: ballot.cast_at,
                    entered_at: *entered_at,
                });
            }
        }
        let part = ballot.part.as_ref();
        self.check_part("a ballot", part)?;
        if let Some(part) = part {
            self.check_part_voting(ballot.voter, ballot.home, part, pending)?;
        }
        let budget = self.part_budget(part)?;
        // A ballot chooses among its part's projects only.
        let cost_of = |p: ProjectId| {
            self.core
                .shortlist()
                .find(|x| x.id() == p && x.proposal().part.as_ref() == part)
                .and_then(Project::cost)
        };
        self.rules()
            .check(&ballot.choices, cost_of, budget)
            .map_err(|source| CycleError::Ballot { ballot: id, source })?;
        let voter = ballot.voter;
        let existing = self
            .core
            .ballots
            .position_of(voter, part)
            .map(|i| (i, self.core.ballots.ballots[i].id()));
        let earlier = pending
            .by_voter
            .get(&(voter, part.cloned()))
            .copied()
            .or(existing.map(|(_, b)| b));
        match (earlier, self.rules().second_ballot()) {
            (Some(existing), SecondBallot::Refuse) => {
                Err(CycleError::AlreadyVoted { voter, existing })
            }
            _ => Ok(existing.map(|(i, _)| i)),
        }
    }

    /// Whether ballots record the voter's home: in a cycle of several parts
    /// where the rules let residents vote in their own parts only (their
    /// home decides which), or count the parts together (their home decides
    /// their share of which parts' money).
    fn needs_home(&self) -> bool {
        !self.parts().is_empty()
            && (self.rules().part_voting() != PartVoting::Any || self.rules().parts_together())
    }

    /// Whether `voter`, registered in `home`, may vote in `part` under the
    /// ballot rules' part voting, given the parts they have voted in and the
    /// home their earlier ballots give (`pending`: the same paper batch).
    fn check_part_voting(
        &self,
        voter: ResidentId,
        home: Option<AreaId>,
        part: &PartId,
        pending: &Pending,
    ) -> Result<(), CycleError> {
        let refuse = |why| {
            Err(CycleError::PartNotAllowed {
                voter,
                part: part.clone(),
                why,
            })
        };
        if !self.needs_home() {
            return Ok(());
        }
        let Some(home) = home else {
            return refuse(
                "the ballot records no home, which the rules need for the voter's parts",
            );
        };
        let earlier = self
            .core
            .ballots
            .home_of(voter)
            .or_else(|| pending.homes.get(&voter).copied());
        if earlier.is_some_and(|h| h != home) {
            return refuse("the voter's earlier ballots give another home");
        }
        if self.rules().part_voting() == PartVoting::Any {
            return Ok(());
        }
        let area = self.area();
        let own = |id: &PartId| {
            self.parts()
                .iter()
                .find(|p| &p.id == id)
                .is_some_and(|p| p.serves(area, home))
        };
        if own(part) {
            return Ok(());
        }
        match self.rules().part_voting() {
            PartVoting::Any => Ok(()),
            PartVoting::Own => {
                refuse("the ballot rules let residents vote in their own parts only")
            }
            PartVoting::OwnPlus { others } => {
                let mut elsewhere: Vec<&PartId> = self
                    .core
                    .ballots
                    .parts_of(voter)
                    .iter()
                    .chain(pending.parts.get(&voter).into_iter().flatten())
                    .filter(|p| !own(p) && *p != part)
                    .collect();
                elsewhere.sort_unstable();
                elsewhere.dedup();
                if elsewhere.len() >= usize::from(others) {
                    refuse("the ballot rules' limit of other parts is reached")
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks a digital ballot without casting it: what [`Cycle::cast_ballot`]
    /// would refuse. Front ends can check a ballot before submitting it.
    ///
    /// # Errors
    /// The error `cast_ballot` would return.
    pub fn check_cast(&self, ballot: &BallotSubmission) -> Result<(), CycleError> {
        let record = self.ballot_record(ballot, Channel::Digital);
        self.check_ballot(&record, Some(&ballot.voter), &Pending::default())
            .map(drop)
    }

    /// Counts a digital ballot from an eligible resident, cast within the window
    /// and following the rules. A second ballot is refused or replaces the first,
    /// as the rules say. The cycle keeps the ballot as a [`Ballot`]: the voter's
    /// record is checked, not kept.
    ///
    /// # Errors
    /// An ineligible voter, a ballot outside the window, a broken ballot rule, a
    /// reused ballot id, or a refused second ballot. Nothing changes.
    pub fn cast_ballot(&mut self, ballot: BallotSubmission) -> Result<(), CycleError> {
        let record = self.ballot_record(&ballot, Channel::Digital);
        let slot = self.check_ballot(&record, Some(&ballot.voter), &Pending::default())?;
        self.core.ballots.put(record, slot);
        Ok(())
    }

    /// Counts a ballot as recorded in a log ([`Event::BallotCast`](crate::process::Event)):
    /// every rule `cast_ballot` and `enter_paper_ballots` check, except that the
    /// voter's eligibility is the recorded verdict, which must name the cycle's
    /// eligibility rules.
    ///
    /// # Errors
    /// What `cast_ballot` refuses, or [`CycleError::EligibilityRulesDiffer`].
    pub fn record_ballot(&mut self, ballot: Ballot) -> Result<(), CycleError> {
        let slot = self.check_ballot(&ballot, None, &Pending::default())?;
        self.core.ballots.put(ballot, slot);
        Ok(())
    }

    /// Checks a batch of paper ballots without entering it: the ballots it
    /// would count (see [`Cycle::ballot_record`]).
    ///
    /// # Errors
    /// The error [`Cycle::enter_paper_ballots`] would return.
    pub fn check_paper(&self, batch: &PaperBatch) -> Result<Vec<Ballot>, CycleError> {
        require_text("the official entering paper ballots", &batch.entered_by)?;
        if batch.ballots.is_empty() {
            return Err(CycleError::EmptyText {
                field: "the batch of paper ballots",
            });
        }
        self.core
            .check_time("enter paper ballots", batch.entered_at)?;
        let channel = Channel::Paper {
            entered_by: batch.entered_by.clone(),
            entered_at: batch.entered_at,
        };
        let mut pending = Pending::default();
        let mut records = Vec::with_capacity(batch.ballots.len());
        for (index, ballot) in batch.ballots.iter().enumerate() {
            let in_batch = |e| CycleError::PaperBallot {
                index,
                source: Box::new(e),
            };
            let record = self.ballot_record(ballot, channel.clone());
            self.check_ballot(&record, Some(&ballot.voter), &pending)
                .map_err(in_batch)?;
            pending.add(&record);
            records.push(record);
        }
        Ok(records)
    }

    /// Enters a batch of paper ballots; they stay marked as paper. All or nothing:
    /// one refused ballot refuses the batch, naming its position.
    ///
    /// # Errors
    /// An empty batch or official, an entry time before voting began, or the first
    /// refused ballot.
    pub fn enter_paper_ballots(&mut self, batch: PaperBatch) -> Result<(), CycleError> {
        for record in self.check_paper(&batch)? {
            // A voter twice in one batch (rules: replace) lands in the slot the
            // first one took.
            let slot = self
                .core
                .ballots
                .position_of(record.voter, record.part.as_ref());
            self.core.ballots.put(record, slot);
        }
        Ok(())
    }

    pub(crate) fn count(
        &self,
        at: DateTime<Utc>,
        tally: &dyn Tally,
    ) -> Result<FundingDecision, CycleError> {
        self.check_closable(at)?;
        let counting = self.rules().counting();
        if !counting.rule.is_counted_by(tally) {
            return Err(CycleError::WrongRule {
                expected: counting.rule.clone(),
                given: tally.rule(),
            });
        }
        let shortlist: Vec<ProjectId> = self.core.shortlist().map(Project::id).collect();
        let Count {
            outcome,
            funded,
            set_aside,
            parts,
        } = self.count_by(tally, &counting.tie_breaking)?;
        // Scores are each project's support on the whole ballots (of its
        // part).
        // (A cycle of several parts has them from each part's election.)
        let scores = if !parts.is_empty() || set_aside.is_empty() {
            outcome.scores
        } else {
            self.election()?.profile().support()?
        };
        let total_cost = self.cost_of(&funded)?;
        Ok(FundingDecision {
            rule: outcome.rule,
            tie_breaking: outcome.tie_breaking,
            funded,
            total_cost,
            budget: self.budget()?,
            scores: shortlist
                .iter()
                .zip(scores)
                .map(|(&project, score)| ProjectScore { project, score })
                .collect(),
            ballots_counted: self.ballots().len() as u64,
            decided_at: at,
            set_aside,
            parts,
        })
    }

    /// Every condition of step 5's gate not met at `at`, before counting: the
    /// voting window closed, and no paper ballots entered after `at`. (The
    /// count itself must then keep within the budget.)
    pub fn unmet(&self, at: DateTime<Utc>) -> Vec<GateError> {
        let mut unmet = Vec::new();
        let closes = self.stage.window.closes;
        if at < closes {
            unmet.push(GateError::WindowOpen { closes, at });
        }
        let last_entry = self
            .ballots()
            .iter()
            .filter_map(|b| match &b.channel {
                Channel::Paper { entered_at, .. } => Some(*entered_at),
                Channel::Digital => None,
            })
            .max();
        if let Some(entered) = last_entry.filter(|e| *e > at) {
            unmet.push(GateError::RecordedAfterEnd {
                record: "a batch of paper ballots",
                dated: entered.to_rfc3339(),
                at,
            });
        }
        unmet
    }

    pub(crate) fn check_closable(&self, at: DateTime<Utc>) -> Result<(), CycleError> {
        self.core.check_time("close voting", at)?;
        match self.unmet(at).into_iter().next() {
            Some(source) => Err(CycleError::Gate {
                step: Step::Voting,
                source,
            }),
            None => Ok(()),
        }
    }

    /// Checks a recorded decision against the cycle: the rule fixed in step 1,
    /// funded projects on the shortlist (each once), costs and budget that add up
    /// and fit, the number of ballots; and, for a built-in rule, that counting
    /// again gives the same decision.
    pub(crate) fn check_decision(
        &self,
        decision: &FundingDecision,
        recount: bool,
    ) -> Result<(), CycleError> {
        self.check_closable(decision.decided_at)?;
        let counting = self.rules().counting();
        let mismatch = |field| CycleError::DecisionMismatch { field };
        if decision.rule != counting.rule.name() {
            return Err(CycleError::WrongRule {
                expected: counting.rule.clone(),
                given: Rule::named(&decision.rule),
            });
        }
        if decision.tie_breaking != counting.tie_breaking {
            return Err(mismatch("tie_breaking"));
        }
        let mut costs = Vec::with_capacity(decision.funded.len());
        for (k, &p) in decision.funded.iter().enumerate() {
            if decision.funded[..k].contains(&p) {
                return Err(mismatch("funded (a project appears twice)"));
            }
            let project = self
                .core
                .shortlist()
                .find(|x| x.id() == p)
                .ok_or(mismatch("funded (a project not on the shortlist)"))?;
            costs.push(
                project
                    .cost()
                    .ok_or(mismatch("funded (a project without cost)"))?,
            );
        }
        if Money::sum(self.currency(), costs)? != decision.total_cost {
            return Err(mismatch("total_cost"));
        }
        let budget = self.budget()?;
        if decision.budget != budget {
            return Err(mismatch("budget"));
        }
        if decision.total_cost.minor() > budget.minor() {
            return Err(CycleError::Gate {
                step: Step::Voting,
                source: GateError::OutcomeOverBudget {
                    total_cost: decision.total_cost,
                    budget,
                },
            });
        }
        if decision.ballots_counted != self.ballots().len() as u64 {
            return Err(mismatch("ballots_counted"));
        }
        // Several parts: each part's outcome is its own projects within its
        // own money, and together they are the decision.
        let parts = self.parts();
        if decision.parts.len() != parts.len()
            || decision
                .parts
                .iter()
                .zip(parts)
                .any(|(d, p)| d.part != p.id)
        {
            return Err(mismatch("parts"));
        }
        let together = self.rules().parts_together();
        let mut all: Vec<ProjectId> = Vec::with_capacity(decision.funded.len());
        for outcome in &decision.parts {
            let part = Some(&outcome.part);
            let budget = self.part_budget(part)?;
            let costs = outcome.funded.iter().map(|&p| {
                self.project(p)
                    .filter(|x| x.proposal().part.as_ref() == part)
                    .and_then(Project::cost)
                    .ok_or(mismatch("parts (a project of another part)"))
            });
            let total = Money::sum(self.currency(), costs.collect::<Result<Vec<_>, _>>()?)?;
            let ballots = self
                .ballots()
                .iter()
                .filter(|b| b.part.as_ref() == part)
                .count() as u64;
            if total != outcome.total_cost
                || budget != outcome.budget
                || ballots != outcome.ballots_counted
            {
                return Err(mismatch("parts (a part's cost, money or ballots)"));
            }
            // Counted together, a part's voters may spend on others' parts:
            // only the whole must keep within the budget (checked above).
            if total.minor() > budget.minor() && !together {
                return Err(CycleError::Gate {
                    step: Step::Voting,
                    source: GateError::OutcomeOverBudget {
                        total_cost: total,
                        budget,
                    },
                });
            }
            all.extend(&outcome.funded);
        }
        // Counted separately, the decision is each part's projects in turn;
        // counted together, each part's are the decision's of that part, in
        // the order the count chose them.
        let in_order = if together {
            all.len() == decision.funded.len()
                && decision.parts.iter().all(|o| {
                    decision
                        .funded
                        .iter()
                        .filter(|&&p| {
                            self.project(p)
                                .is_some_and(|x| x.proposal().part.as_ref() == Some(&o.part))
                        })
                        .eq(o.funded.iter())
                })
        } else {
            all == decision.funded
        };
        if !parts.is_empty() && !in_order {
            return Err(mismatch("funded (not the parts' projects in turn)"));
        }
        // What every rule, a custom one too, must respect: exclusion groups
        // and the minimum number of votes.
        if let Some((first, second, group)) = self.core.excluding(&decision.funded) {
            return Err(CycleError::Excludes {
                first,
                second,
                reason: group.reason.clone(),
            });
        }
        let too_few = self.too_few_votes();
        for (k, aside) in decision.set_aside.iter().enumerate() {
            if decision.funded.contains(&aside.project)
                || decision.set_aside[..k]
                    .iter()
                    .any(|a| a.project == aside.project)
                || !self.core.shortlist().any(|p| p.id() == aside.project)
            {
                return Err(mismatch("set_aside"));
            }
        }
        if too_few.iter().any(|t| !decision.set_aside.contains(t)) {
            return Err(mismatch("set_aside (projects with too few votes)"));
        }
        let shortlist: Vec<ProjectId> = self.core.shortlist().map(Project::id).collect();
        if decision.scores.len() != shortlist.len()
            || decision
                .scores
                .iter()
                .zip(&shortlist)
                .any(|(s, p)| s.project != *p)
        {
            return Err(mismatch("scores"));
        }
        if recount
            && !counting.rule.is_custom()
            && self.count(decision.decided_at, &counting.rule)? != *decision
        {
            return Err(mismatch("the outcome of counting again"));
        }
        Ok(())
    }

    /// Implementation with `decision`, which `decide` finds: the funded projects
    /// move to delivery.
    fn into_implementation(
        self,
        at: DateTime<Utc>,
        decide: impl FnOnce(&Self) -> Result<FundingDecision, CycleError>,
    ) -> Result<Cycle<Implementation>, TransitionError<Self>> {
        self.advance("close voting", at, decide, |core, s, decision| {
            for p in &mut core.projects {
                if decision.funded.contains(&p.id()) {
                    p.fund();
                }
            }
            Implementation {
                framework: s.framework,
                window: s.window,
                decision,
            }
        })
    }

    /// Gate of step 5: the window has closed, the ballots are counted by the rule
    /// fixed in step 1, and the outcome fits the budget. Funded projects move to
    /// implementation.
    ///
    /// # Errors
    /// A window still open, a tally of another rule, or a failed count (such as a
    /// tie the rules refuse to break); the cycle comes back unchanged.
    pub fn close_voting(
        self,
        at: DateTime<Utc>,
        tally: &dyn Tally,
    ) -> Result<Cycle<Implementation>, TransitionError<Self>> {
        self.into_implementation(at, |c| {
            let decision = c.count(at, tally)?;
            c.check_decision(&decision, false)?;
            Ok(decision)
        })
    }

    /// Closes voting with a decision recorded earlier (replaying a log): the same
    /// checks as [`Cycle::close_voting`], and for built-in rules a recount.
    ///
    /// # Errors
    /// A decision that does not match the cycle; the cycle comes back unchanged.
    pub fn close_with_decision(
        self,
        decision: FundingDecision,
    ) -> Result<Cycle<Implementation>, TransitionError<Self>> {
        self.into_implementation(decision.decided_at, |c| {
            c.check_decision(&decision, true)?;
            Ok(decision)
        })
    }
}
