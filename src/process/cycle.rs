//! `Cycle<S>`: one year's cycle in stage `S`, offering only what is legal there.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{CycleError, GateError, TransitionError};
use super::records::{
    Allocation, CycleSetup, Evaluation, FundingDecision, FundingSource, Lesson, OutreachActivity,
    Participation, ProjectScore, VoterRegister, VotingWindow,
};
use super::stage::{
    AcceptsFunds, Active, Closed, Criteria, Decided, FollowUp, Framed, Framework, IdeaGeneration,
    Implementation, Outreach, Shortlisting, Stage, Voting,
};
use super::{Abandoned, Step};
use crate::area::{Area, Eligibility, Resident};
use crate::ballot::{
    Ballot, BallotKind, BallotRules, BallotSubmission, Channel, Choices, EligibilityCheck,
    PaperBatch, SecondBallot,
};
use crate::criteria::{CriteriaSet, Score};
use crate::idea::{Idea, IdeaStatus, IdeaSubmission};
use crate::ids::{BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use crate::money::{Currency, Money};
use crate::project::{DeliveryStatus, Feasibility, Milestone, Progress, Project, ProjectProposal};
use crate::tally::{Candidate, Election, Profile, ProfileKind, Rule, Tally};

/// The ballots of a cycle, with an index by voter and by id (rebuilt, never
/// stored).
#[derive(Debug, Clone, Default)]
pub(crate) struct BallotBox {
    ballots: Vec<Ballot>,
    by_voter: HashMap<ResidentId, usize>,
    ids: HashSet<BallotId>,
}

impl PartialEq for BallotBox {
    fn eq(&self, other: &Self) -> bool {
        self.ballots == other.ballots
    }
}
impl Eq for BallotBox {}

impl Serialize for BallotBox {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ballots.serialize(s)
    }
}

impl<'de> Deserialize<'de> for BallotBox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only used for snapshots, which are re-validated by replaying them; the
        // indexes are rebuilt there.
        Ok(BallotBox {
            ballots: Vec::deserialize(d)?,
            ..BallotBox::default()
        })
    }
}

impl BallotBox {
    pub(crate) fn as_slice(&self) -> &[Ballot] {
        &self.ballots
    }

    /// Where `voter`'s ballot is, if any.
    fn position_of(&self, voter: ResidentId) -> Option<usize> {
        self.by_voter.get(&voter).copied()
    }

    /// Adds or replaces (at `replace`) a ballot. Checked by the caller.
    fn put(&mut self, ballot: Ballot, replace: Option<usize>) {
        let voter = ballot.voter();
        self.ids.insert(ballot.id());
        match replace.and_then(|i| self.ballots.get_mut(i)) {
            Some(slot) => {
                self.ids.remove(&slot.id());
                *slot = ballot;
            }
            None => {
                self.by_voter.insert(voter, self.ballots.len());
                self.ballots.push(ballot);
            }
        }
    }
}

/// Everything a cycle gathers, whatever its stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Core {
    pub(crate) setup: CycleSetup,
    /// When each step began, in order; the first entry is step 1.
    pub(crate) timeline: Vec<(Step, DateTime<Utc>)>,
    pub(crate) lessons: Vec<Lesson>,
    /// Money added after (or besides) the council's base allocation.
    pub(crate) additions: Vec<Allocation>,
    pub(crate) outreach: Vec<OutreachActivity>,
    pub(crate) ideas: Vec<Idea>,
    pub(crate) projects: Vec<Project>,
    pub(crate) ballots: BallotBox,
    /// Who took part by group, once counted (steps 6–7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) participation: Option<Participation>,
}

/// One year's cycle in stage `S`.
///
/// Methods exist only in the stage where they are legal: [`Cycle::submit_idea`] on
/// `Cycle<IdeaGeneration>`, [`Cycle::cast_ballot`] on `Cycle<Voting>`, and so on.
/// Transitions consume the cycle and return the next stage, or give it back
/// unchanged inside a [`TransitionError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle<S> {
    pub(crate) core: Core,
    pub(crate) stage: S,
}

impl<S: Stage> Serialize for Cycle<S> {
    /// A snapshot: `{"step": …, "core": …, "stage": …}`, the same form as
    /// [`AnyCycle`](super::AnyCycle).
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        #[derive(Serialize)]
        struct Tagged<'a, S> {
            step: Step,
            core: &'a Core,
            stage: &'a S,
        }
        Tagged {
            step: S::STEP,
            core: &self.core,
            stage: &self.stage,
        }
        .serialize(s)
    }
}

fn refuse<S: Stage>(cycle: Cycle<S>, error: CycleError) -> TransitionError<Cycle<S>> {
    TransitionError::new(cycle, error)
}

fn require_text(field: &'static str, text: &str) -> Result<(), CycleError> {
    if text.trim().is_empty() {
        Err(CycleError::EmptyText { field })
    } else {
        Ok(())
    }
}

impl Core {
    /// A copy of everything but the ballots (for deciding commands that do not
    /// read them without copying a large vote).
    pub(crate) fn clone_without_ballots(&self) -> Core {
        Core {
            setup: self.setup.clone(),
            timeline: self.timeline.clone(),
            lessons: self.lessons.clone(),
            additions: self.additions.clone(),
            outreach: self.outreach.clone(),
            ideas: self.ideas.clone(),
            projects: self.projects.clone(),
            ballots: BallotBox::default(),
            participation: self.participation.clone(),
        }
    }

    fn began(&self) -> DateTime<Utc> {
        self.timeline
            .last()
            .map_or(self.setup.started_at, |(_, at)| *at)
    }

    fn current_step(&self) -> Step {
        self.timeline.last().map_or(Step::Criteria, |(s, _)| *s)
    }

    fn check_time(&self, operation: &'static str, at: DateTime<Utc>) -> Result<(), CycleError> {
        let began = self.began();
        if at < began {
            return Err(CycleError::BeforeStep {
                operation,
                at,
                step: self.current_step(),
                began,
            });
        }
        Ok(())
    }

    fn check_currency(&self, what: &'static str, amount: Money) -> Result<(), CycleError> {
        if amount.currency() == self.setup.currency {
            Ok(())
        } else {
            Err(CycleError::WrongCurrency {
                what,
                expected: self.setup.currency,
                found: amount.currency(),
            })
        }
    }

    fn check_allocation(&self, allocation: &Allocation) -> Result<(), CycleError> {
        self.check_currency("the allocation", allocation.amount)?;
        if !allocation.amount.is_positive() {
            return Err(CycleError::NotPositive {
                what: "an allocation",
                amount: allocation.amount,
            });
        }
        match allocation.decision.missing() {
            Some(field) => Err(CycleError::EmptyText { field }),
            None => Ok(()),
        }
    }

    fn additions_total(&self) -> Result<Money, CycleError> {
        Ok(Money::sum(
            self.setup.currency,
            self.additions.iter().map(|a| a.amount),
        )?)
    }

    pub(crate) fn budget_with(&self, base: Option<&Allocation>) -> Result<Money, CycleError> {
        let extra = self.additions_total()?;
        Ok(match base {
            Some(b) => b.amount.checked_add(extra)?,
            None => extra,
        })
    }

    fn idea_index(&self, idea: IdeaId) -> Result<usize, CycleError> {
        self.ideas
            .iter()
            .position(|i| i.id() == idea)
            .ok_or(CycleError::UnknownIdea { idea })
    }

    fn project_index(&self, project: ProjectId) -> Result<usize, CycleError> {
        self.projects
            .iter()
            .position(|p| p.id() == project)
            .ok_or(CycleError::UnknownProject { project })
    }

    fn enter(&mut self, step: Step, at: DateTime<Utc>) {
        self.timeline.push((step, at));
    }

    fn shortlist(&self) -> impl Iterator<Item = &Project> {
        self.projects.iter().filter(|p| p.is_on_shortlist())
    }

    /// Total spent on funded projects that are completed or cancelled.
    pub(crate) fn spent(&self) -> Result<Money, CycleError> {
        Ok(Money::sum(
            self.setup.currency,
            self.projects
                .iter()
                .filter_map(|p| p.delivery().and_then(|d| d.spent())),
        )?)
    }
}

/// Accessors available in every stage.
impl<S: Stage> Cycle<S> {
    /// The cycle's id.
    pub fn id(&self) -> CycleId {
        self.core.setup.id
    }

    /// The year the cycle runs.
    pub fn year(&self) -> i32 {
        self.core.setup.year
    }

    /// The district.
    pub fn area(&self) -> &Area {
        &self.core.setup.area
    }

    /// The currency of the budget.
    pub fn currency(&self) -> Currency {
        self.core.setup.currency
    }

    /// How the cycle was set up.
    pub fn setup(&self) -> &CycleSetup {
        &self.core.setup
    }

    /// The current step (the same as `S::STEP`).
    pub fn step(&self) -> Step {
        S::STEP
    }

    /// The stage data.
    pub fn stage(&self) -> &S {
        &self.stage
    }

    /// When each step began, in order.
    pub fn timeline(&self) -> &[(Step, DateTime<Utc>)] {
        &self.core.timeline
    }

    /// Lessons from earlier years, received in step 1.
    pub fn lessons(&self) -> &[Lesson] {
        &self.core.lessons
    }

    /// Money added besides the council's base allocation (carry-over, top-ups).
    pub fn additions(&self) -> &[Allocation] {
        &self.core.additions
    }

    /// Outreach activities (step 2).
    pub fn outreach(&self) -> &[OutreachActivity] {
        &self.core.outreach
    }

    /// Ideas in order of submission (step 3 on).
    pub fn ideas(&self) -> &[Idea] {
        &self.core.ideas
    }

    /// One idea.
    pub fn idea(&self, id: IdeaId) -> Option<&Idea> {
        self.core.ideas.iter().find(|i| i.id() == id)
    }

    /// Projects in order of proposal, withdrawn ones included (step 4 on).
    pub fn projects(&self) -> &[Project] {
        &self.core.projects
    }

    /// One project.
    pub fn project(&self, id: ProjectId) -> Option<&Project> {
        self.core.projects.iter().find(|p| p.id() == id)
    }

    /// The ballots counted (step 5 on), in order of casting; a replaced ballot
    /// takes the place of the one it replaces.
    pub fn ballots(&self) -> &[Ballot] {
        self.core.ballots.as_slice()
    }

    /// Money spent on funded projects that are completed or cancelled.
    ///
    /// # Errors
    /// An overflow adding the amounts.
    pub fn spent(&self) -> Result<Money, CycleError> {
        self.core.spent()
    }
}

/// Step 1: the council fixes the framework.
impl Cycle<Criteria> {
    /// Starts a cycle in step 1.
    pub fn new(setup: CycleSetup) -> Cycle<Criteria> {
        let started = setup.started_at;
        Cycle {
            core: Core {
                setup,
                timeline: vec![(Step::Criteria, started)],
                lessons: Vec::new(),
                additions: Vec::new(),
                outreach: Vec::new(),
                ideas: Vec::new(),
                projects: Vec::new(),
                ballots: BallotBox::default(),
                participation: None,
            },
            stage: Criteria::default(),
        }
    }

    /// Sets (or replaces) the council's base allocation. Before outreach starts
    /// the budget may still change; afterwards it can only grow.
    ///
    /// # Errors
    /// An amount that is not positive or in another currency, or a decision
    /// without a body or reference.
    pub fn set_budget(&mut self, allocation: Allocation) -> Result<(), CycleError> {
        self.core.check_allocation(&allocation)?;
        if let FundingSource::CarryOver { from_year } = allocation.source {
            return Err(CycleError::CarryOverAsBase { from_year });
        }
        self.core.budget_with(Some(&allocation))?;
        self.stage.base = Some(allocation);
        Ok(())
    }

    /// Fixes who may take part.
    pub fn set_eligibility(&mut self, eligibility: Eligibility) {
        self.stage.eligibility = Some(eligibility);
    }

    /// Fixes the ballot and counting rules.
    pub fn set_ballot_rules(&mut self, rules: BallotRules) {
        self.stage.rules = Some(rules);
    }

    /// Fixes the criteria.
    pub fn set_criteria(&mut self, criteria: CriteriaSet) {
        self.stage.criteria = Some(criteria);
    }

    /// Receives lessons from earlier years' follow-up.
    ///
    /// # Errors
    /// An empty lesson.
    pub fn receive_lessons(&mut self, lessons: Vec<Lesson>) -> Result<(), CycleError> {
        for l in &lessons {
            require_text("a lesson", &l.text)?;
        }
        self.core.lessons.extend(lessons);
        Ok(())
    }

    /// The base allocation, if set.
    pub fn base_allocation(&self) -> Option<&Allocation> {
        self.stage.base.as_ref()
    }

    /// The budget so far: the base allocation plus additions.
    ///
    /// # Errors
    /// An overflow adding the amounts.
    pub fn budget(&self) -> Result<Money, CycleError> {
        self.core.budget_with(self.stage.base.as_ref())
    }

    fn framework_ready(&self) -> Result<Framework, GateError> {
        let base = self.stage.base.clone().ok_or(GateError::NoBudget)?;
        let eligibility = self.stage.eligibility.ok_or(GateError::NoEligibility)?;
        let rules = self.stage.rules.clone().ok_or(GateError::NoBallotRules)?;
        let criteria = self.stage.criteria.clone().ok_or(GateError::NoCriteria)?;
        let budget = self
            .core
            .budget_with(Some(&base))
            .map_err(|_| GateError::NoBudget)?;
        rules
            .check_budget(budget)
            .map_err(GateError::RulesDoNotFitBudget)?;
        Ok(Framework {
            base,
            eligibility,
            rules,
            criteria,
        })
    }

    /// Gate of step 1: budget (with its council decision), eligibility, ballot
    /// rules that fit the budget, and criteria (which by type include social
    /// sustainability and public health). Then outreach begins.
    ///
    /// # Errors
    /// The first missing piece; the cycle comes back unchanged.
    pub fn begin_outreach(
        mut self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Outreach>, TransitionError<Self>> {
        if let Err(e) = self.core.check_time("begin outreach", at) {
            return Err(refuse(self, e));
        }
        match self.framework_ready() {
            Ok(framework) => {
                self.core.enter(Step::Outreach, at);
                Ok(Cycle {
                    core: self.core,
                    stage: Outreach { framework },
                })
            }
            Err(source) => Err(refuse(
                self,
                CycleError::Gate {
                    step: Step::Criteria,
                    source,
                },
            )),
        }
    }
}

/// Steps 1 to 4: money may be added (never removed) until the ballot is published.
impl<S: AcceptsFunds> Cycle<S> {
    /// Adds money to the budget: a top-up or carry-over, with its decision.
    ///
    /// # Errors
    /// An amount that is not positive, in another currency or that overflows, or a
    /// decision without a body or reference.
    pub fn add_funds(&mut self, allocation: Allocation) -> Result<(), CycleError> {
        self.core.check_allocation(&allocation)?;
        self.core
            .additions_total()?
            .checked_add(allocation.amount)?;
        self.core.additions.push(allocation);
        Ok(())
    }
}

/// After step 1: the framework is fixed.
impl<S: Framed> Cycle<S> {
    /// The framework fixed in step 1.
    pub fn framework(&self) -> &Framework {
        self.stage.framework()
    }

    /// The budget: the base allocation plus additions.
    ///
    /// # Errors
    /// An overflow adding the amounts (impossible for a cycle built by this crate:
    /// every addition is checked).
    pub fn budget(&self) -> Result<Money, CycleError> {
        self.core.budget_with(Some(&self.framework().base))
    }

    /// Who may take part.
    pub fn eligibility(&self) -> &Eligibility {
        &self.framework().eligibility
    }

    /// The ballot rules.
    pub fn rules(&self) -> &BallotRules {
        &self.framework().rules
    }

    /// The criteria.
    pub fn criteria(&self) -> &CriteriaSet {
        &self.framework().criteria
    }

    /// The election as a tally sees it: projects on the shortlist in order,
    /// labelled by id, and the ballots.
    ///
    /// # Errors
    /// A cost or budget that is not a positive amount, or a ballot the profile
    /// cannot hold (impossible for ballots this cycle accepted).
    pub fn election(&self) -> Result<Election, CycleError> {
        let shortlist: Vec<&Project> = self.core.shortlist().collect();
        let to_units = |m: Money| {
            u64::try_from(m.minor()).map_err(|_| CycleError::Negative {
                what: "an amount in the election",
                amount: m,
            })
        };
        let mut candidates = Vec::with_capacity(shortlist.len());
        for p in &shortlist {
            let cost = p
                .cost()
                .ok_or(CycleError::UnknownProject { project: p.id() })?;
            candidates.push(Candidate::new(p.id().to_string(), to_units(cost)?));
        }
        let index_of = |id: ProjectId| -> Result<u32, CycleError> {
            shortlist
                .iter()
                .position(|p| p.id() == id)
                .and_then(|i| u32::try_from(i).ok())
                .ok_or(CycleError::UnknownProject { project: id })
        };
        let kind = match self.rules().kind() {
            BallotKind::Approval | BallotKind::Knapsack => ProfileKind::Approval,
            BallotKind::Cumulative => ProfileKind::Points,
            BallotKind::Ranked => ProfileKind::Ranking,
        };
        let mut profile = Profile::builder(kind, candidates.len());
        for ballot in self.ballots() {
            match ballot.choices() {
                Choices::Approval(ps) => {
                    let idx = ps
                        .iter()
                        .map(|&p| index_of(p))
                        .collect::<Result<Vec<_>, _>>()?;
                    profile.push_approval(&idx, 1)?;
                }
                Choices::Ranking(ps) => {
                    let idx = ps
                        .iter()
                        .map(|&p| index_of(p))
                        .collect::<Result<Vec<_>, _>>()?;
                    profile.push_ranking(&idx, 1)?;
                }
                Choices::Points(ps) => {
                    let idx = ps
                        .iter()
                        .map(|&(p, v)| index_of(p).map(|i| (i, v)))
                        .collect::<Result<Vec<_>, _>>()?;
                    profile.push_points(&idx, 1)?;
                }
            }
        }
        Ok(Election::new(
            to_units(self.budget()?)?,
            candidates,
            profile.build(),
        )?)
    }

    fn check_eligible(
        &self,
        action: &'static str,
        resident: &Resident,
        at: DateTime<Utc>,
    ) -> Result<(), CycleError> {
        self.eligibility()
            .check(resident, self.area(), at.date_naive())
            .map_err(|source| CycleError::Ineligible { action, source })
    }
}

/// After the vote.
impl Core {
    /// Participation by group from `register`: the register's residents whose
    /// id is a voter's, by their groups, suppressed as [`Participation`] says.
    pub(crate) fn count_participation(
        &self,
        register: &VoterRegister,
    ) -> Result<Participation, CycleError> {
        if self.participation.is_some() {
            return Err(CycleError::ParticipationCounted);
        }
        if register.min_cell == 0 {
            return Err(CycleError::ZeroMinCell);
        }
        let voters: HashSet<ResidentId> =
            self.ballots.as_slice().iter().map(Ballot::voter).collect();
        let breakdown = self.setup.area.breakdown();
        let mut seen: HashSet<ResidentId> = HashSet::with_capacity(register.residents.len());
        let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
        for r in &register.residents {
            if !seen.insert(r.id()) {
                return Err(CycleError::RegisterResidentTwice { resident: r.id() });
            }
            if voters.contains(&r.id()) {
                for b in breakdown {
                    if let Some(g) = r.group(&b.dimension) {
                        *counts.entry((b.dimension.as_str(), g)).or_default() += 1;
                    }
                }
            }
        }
        Ok(Participation::suppressed(
            &self.setup.area,
            register.min_cell,
            |d, g| counts.get(&(d, g)).copied().unwrap_or(0),
        ))
    }

    /// Takes a recorded participation count, checked against the area and the
    /// ballots.
    fn record_participation(&mut self, participation: Participation) -> Result<(), CycleError> {
        if self.participation.is_some() {
            return Err(CycleError::ParticipationCounted);
        }
        participation
            .check(&self.setup.area, self.ballots.as_slice().len() as u64)
            .map_err(|reason| CycleError::InvalidParticipation { reason })?;
        self.participation = Some(participation);
        Ok(())
    }
}

/// Steps 6 and 7: participation by group.
macro_rules! participation {
    ($($stage:ident),*) => {$(
        impl Cycle<$stage> {
            /// Counts who took part by group of the area's breakdown, once: the
            /// residents of `register` whose id is a voter's (ballots keep no
            /// record of their voters), with counts under the register's
            /// minimum cell size suppressed. Returns the counts, which the cycle
            /// keeps (and its follow-up reports); the register is not kept.
            ///
            /// # Errors
            /// Counted already, a resident twice in the register, or a minimum
            /// cell size of zero.
            pub fn count_participation(
                &mut self,
                register: &VoterRegister,
            ) -> Result<&Participation, CycleError> {
                let counted = self.core.count_participation(register)?;
                Ok(self.core.participation.insert(counted))
            }

            /// Takes participation counts as recorded in a log
            /// ([`Event::ParticipationCounted`](super::Event)), checked against
            /// the area's breakdown and the ballots.
            ///
            /// # Errors
            /// Counted already, or counts that break the rules of counting.
            pub fn record_participation(
                &mut self,
                participation: Participation,
            ) -> Result<(), CycleError> {
                self.core.record_participation(participation)
            }
        }
    )*};
}
participation!(Implementation, FollowUp);

impl<S: Stage> Cycle<S> {
    /// Who took part by group, once counted.
    pub fn participation(&self) -> Option<&Participation> {
        self.core.participation.as_ref()
    }
}

impl<S: Decided> Cycle<S> {
    /// The voting window.
    pub fn window(&self) -> &VotingWindow {
        self.stage.window()
    }

    /// The funding decision.
    pub fn decision(&self) -> &FundingDecision {
        self.stage.decision()
    }
}

/// Step 2: outreach.
impl Cycle<Outreach> {
    /// Records an outreach activity.
    ///
    /// # Errors
    /// No language, an empty description, or a date before outreach began.
    pub fn record_outreach(&mut self, activity: OutreachActivity) -> Result<(), CycleError> {
        require_text("the activity's description", &activity.description)?;
        if activity.languages.iter().all(|l| l.trim().is_empty()) {
            return Err(CycleError::EmptyText {
                field: "the activity's languages",
            });
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

    /// Gate of step 2: at least one outreach activity. Then ideas are collected.
    ///
    /// # Errors
    /// No outreach recorded; the cycle comes back unchanged.
    pub fn open_idea_generation(
        mut self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<IdeaGeneration>, TransitionError<Self>> {
        if let Err(e) = self.core.check_time("open idea generation", at) {
            return Err(refuse(self, e));
        }
        let gate = |source| CycleError::Gate {
            step: Step::Outreach,
            source,
        };
        if self.core.outreach.is_empty() {
            return Err(refuse(self, gate(GateError::NoOutreach)));
        }
        if let Some(late) = self
            .core
            .outreach
            .iter()
            .find(|a| a.held_on > at.date_naive())
        {
            let e = gate(GateError::RecordedAfterEnd {
                record: "an outreach activity",
                dated: late.held_on.to_string(),
                at,
            });
            return Err(refuse(self, e));
        }
        self.core.enter(Step::IdeaGeneration, at);
        Ok(Cycle {
            core: self.core,
            stage: IdeaGeneration {
                framework: self.stage.framework,
            },
        })
    }
}

/// Rejecting an idea: in step 3 as inadmissible, in step 4 after review.
fn reject_idea(
    core: &mut Core,
    idea: IdeaId,
    reason: String,
    step: Step,
) -> Result<(), CycleError> {
    require_text("the reason for rejecting", &reason)?;
    let i = core.idea_index(idea)?;
    let expected = if step == Step::IdeaGeneration {
        IdeaStatus::Submitted
    } else {
        IdeaStatus::UnderReview
    };
    let status = core.ideas[i].status();
    if *status != expected {
        return Err(CycleError::IdeaStatus {
            idea,
            operation: "reject",
            status: status.name(),
            expected: expected.name(),
        });
    }
    core.ideas[i].set_status(IdeaStatus::Rejected { reason, step });
    Ok(())
}

/// Step 3: idea generation.
impl Cycle<IdeaGeneration> {
    /// Receives an idea from an eligible resident.
    ///
    /// # Errors
    /// A reused id, an empty title or description, an author or co-author who may
    /// not take part, a time before idea generation began, or a cost estimate in
    /// another currency.
    pub fn submit_idea(&mut self, idea: IdeaSubmission) -> Result<(), CycleError> {
        if self.idea(idea.id).is_some() {
            return Err(CycleError::DuplicateId {
                kind: "idea",
                id: idea.id.to_string(),
            });
        }
        require_text("the idea's title", &idea.title)?;
        require_text("the idea's description", &idea.description)?;
        self.core.check_time("submit an idea", idea.submitted_at)?;
        for resident in std::iter::once(&idea.author).chain(&idea.co_authors) {
            self.check_eligible("submitting an idea", resident, idea.submitted_at)?;
        }
        let authors: Vec<ResidentId> = std::iter::once(&idea.author)
            .chain(&idea.co_authors)
            .map(Resident::id)
            .collect();
        if let Some(twice) = (1..authors.len()).find(|&k| authors[..k].contains(&authors[k])) {
            return Err(CycleError::DuplicateId {
                kind: "co-author",
                id: authors[twice].to_string(),
            });
        }
        if let Some(cost) = idea.estimated_cost {
            self.core.check_currency("the estimated cost", cost)?;
        }
        self.core.ideas.push(Idea::new(idea));
        Ok(())
    }

    /// Rejects a submitted idea as inadmissible, with a reason for its author.
    ///
    /// # Errors
    /// An unknown idea, one already rejected, or an empty reason.
    pub fn reject_idea(&mut self, idea: IdeaId, reason: String) -> Result<(), CycleError> {
        reject_idea(&mut self.core, idea, reason, Step::IdeaGeneration)
    }

    /// Gate of step 3: at least one admissible idea, none dated after `at`. Then
    /// the ideas are worked on.
    ///
    /// # Errors
    /// No admissible idea; the cycle comes back unchanged.
    pub fn begin_shortlisting(
        mut self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Shortlisting>, TransitionError<Self>> {
        if let Err(e) = self.core.check_time("begin shortlisting", at) {
            return Err(refuse(self, e));
        }
        let gate = |source| CycleError::Gate {
            step: Step::IdeaGeneration,
            source,
        };
        if let Some(late) = self
            .core
            .ideas
            .iter()
            .find(|i| i.submission().submitted_at > at)
        {
            let e = gate(GateError::IdeaAfterEnd {
                idea: late.id(),
                submitted_at: late.submission().submitted_at,
                at,
            });
            return Err(refuse(self, e));
        }
        if !self.core.ideas.iter().any(Idea::is_admissible) {
            return Err(refuse(self, gate(GateError::NoAdmissibleIdea)));
        }
        self.core.enter(Step::Shortlisting, at);
        Ok(Cycle {
            core: self.core,
            stage: Shortlisting {
                framework: self.stage.framework,
            },
        })
    }
}

/// Step 4: working the ideas into a shortlist with residents.
impl Cycle<Shortlisting> {
    fn idea_in(
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

    fn open_project(&self, project: ProjectId) -> Result<usize, CycleError> {
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

    fn shortlist_ready(&self) -> Result<(), GateError> {
        let undecided: Vec<IdeaId> = self
            .core
            .ideas
            .iter()
            .filter(|i| !i.is_decided())
            .map(Idea::id)
            .collect();
        if !undecided.is_empty() {
            return Err(GateError::UndecidedIdeas { ideas: undecided });
        }
        let on_shortlist = self.core.shortlist().count();
        if on_shortlist < 2 {
            return Err(GateError::TooFewProjects { on_shortlist });
        }
        let min_projects = self.rules().min_projects();
        if on_shortlist < min_projects as usize {
            return Err(GateError::ShortlistTooShortForRules {
                min_projects,
                on_shortlist,
            });
        }
        let budget = self.budget().map_err(|_| GateError::NoBudget)?;
        self.ballots_possible(budget)?;
        for p in self.core.shortlist() {
            let project = p.id();
            let cost = p.cost().ok_or(GateError::NotCosted { project })?;
            if cost.minor() > budget.minor() {
                return Err(GateError::CostOverBudget {
                    project,
                    cost,
                    budget,
                });
            }
            if p.feasibility() != Some(&Feasibility::Feasible) {
                return Err(GateError::NotFeasible { project });
            }
            if let Some(c) = self
                .criteria()
                .iter()
                .find(|c| !p.scores().contains_key(c.name()))
            {
                return Err(GateError::NotScored {
                    project,
                    criterion: c.name().to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Necessary conditions for a valid knapsack ballot to exist: the cheapest
    /// allowed choice fits the cost limit, and the required share of the budget
    /// is within the limit and reachable with the shortlist.
    fn ballots_possible(&self, budget: Money) -> Result<(), GateError> {
        let rules = self.rules();
        if rules.kind() != BallotKind::Knapsack {
            return Ok(());
        }
        let limit = rules.max_total_cost().unwrap_or(budget);
        let mut costs: Vec<i64> = self
            .core
            .shortlist()
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
        mut self,
        window: VotingWindow,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Voting>, TransitionError<Self>> {
        if let Err(e) = self.core.check_time("open voting", at) {
            return Err(refuse(self, e));
        }
        if window.opens < at || window.closes <= window.opens {
            let e = CycleError::InvalidWindow {
                opens: window.opens,
                closes: window.closes,
                at,
            };
            return Err(refuse(self, e));
        }
        if let Err(source) = self.shortlist_ready() {
            let e = CycleError::Gate {
                step: Step::Shortlisting,
                source,
            };
            return Err(refuse(self, e));
        }
        self.core.enter(Step::Voting, at);
        Ok(Cycle {
            core: self.core,
            stage: Voting {
                framework: self.stage.framework,
                window,
            },
        })
    }
}

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
        Ballot {
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
    fn check_ballot(
        &self,
        ballot: &Ballot,
        record: Option<&Resident>,
        pending: &HashMap<ResidentId, BallotId>,
        pending_ids: &HashSet<BallotId>,
    ) -> Result<Option<usize>, CycleError> {
        let id = ballot.id;
        if self.core.ballots.ids.contains(&id) || pending_ids.contains(&id) {
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
        let budget = self.budget()?;
        let cost_of = |p: ProjectId| {
            self.core
                .shortlist()
                .find(|x| x.id() == p)
                .and_then(Project::cost)
        };
        self.rules()
            .check(&ballot.choices, cost_of, budget)
            .map_err(|source| CycleError::Ballot { ballot: id, source })?;
        let voter = ballot.voter;
        let existing = self
            .core
            .ballots
            .position_of(voter)
            .map(|i| (i, self.core.ballots.ballots[i].id()));
        let earlier = pending.get(&voter).copied().or(existing.map(|(_, b)| b));
        match (earlier, self.rules().second_ballot()) {
            (Some(existing), SecondBallot::Refuse) => {
                Err(CycleError::AlreadyVoted { voter, existing })
            }
            _ => Ok(existing.map(|(i, _)| i)),
        }
    }

    /// Checks a digital ballot without casting it: what [`Cycle::cast_ballot`]
    /// would refuse. Front ends can check a ballot before submitting it.
    ///
    /// # Errors
    /// The error `cast_ballot` would return.
    pub fn check_cast(&self, ballot: &BallotSubmission) -> Result<(), CycleError> {
        let record = self.ballot_record(ballot, Channel::Digital);
        self.check_ballot(
            &record,
            Some(&ballot.voter),
            &HashMap::new(),
            &HashSet::new(),
        )
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
        let slot = self.check_ballot(
            &record,
            Some(&ballot.voter),
            &HashMap::new(),
            &HashSet::new(),
        )?;
        self.core.ballots.put(record, slot);
        Ok(())
    }

    /// Counts a ballot as recorded in a log ([`Event::BallotCast`](super::Event)):
    /// every rule `cast_ballot` and `enter_paper_ballots` check, except that the
    /// voter's eligibility is the recorded verdict, which must name the cycle's
    /// eligibility rules.
    ///
    /// # Errors
    /// What `cast_ballot` refuses, or [`CycleError::EligibilityRulesDiffer`].
    pub fn record_ballot(&mut self, ballot: Ballot) -> Result<(), CycleError> {
        let slot = self.check_ballot(&ballot, None, &HashMap::new(), &HashSet::new())?;
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
        let mut pending = HashMap::new();
        let mut pending_ids = HashSet::new();
        let mut records = Vec::with_capacity(batch.ballots.len());
        for (index, ballot) in batch.ballots.iter().enumerate() {
            let in_batch = |e| CycleError::PaperBallot {
                index,
                source: Box::new(e),
            };
            let record = self.ballot_record(ballot, channel.clone());
            self.check_ballot(&record, Some(&ballot.voter), &pending, &pending_ids)
                .map_err(in_batch)?;
            pending.insert(record.voter, record.id);
            pending_ids.insert(record.id);
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
            let slot = self.core.ballots.position_of(record.voter);
            self.core.ballots.put(record, slot);
        }
        Ok(())
    }

    fn count(&self, at: DateTime<Utc>, tally: &dyn Tally) -> Result<FundingDecision, CycleError> {
        self.check_closable(at)?;
        let counting = self.rules().counting();
        if !counting.rule.is_counted_by(tally) {
            return Err(CycleError::WrongRule {
                expected: counting.rule.clone(),
                given: tally.rule(),
            });
        }
        let election = self.election()?;
        let outcome = tally.tally(&election, &counting.tie_breaking)?;
        let shortlist: Vec<ProjectId> = self.core.shortlist().map(Project::id).collect();
        let funded = outcome
            .selected
            .iter()
            .map(|&i| {
                shortlist
                    .get(i)
                    .copied()
                    .ok_or(CycleError::DecisionMismatch {
                        field: "a selected project index",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let total_cost = Money::sum(
            self.currency(),
            funded
                .iter()
                .filter_map(|&p| self.project(p).and_then(Project::cost)),
        )?;
        Ok(FundingDecision {
            rule: outcome.rule,
            tie_breaking: outcome.tie_breaking,
            funded,
            total_cost,
            budget: self.budget()?,
            scores: shortlist
                .iter()
                .zip(outcome.scores)
                .map(|(&project, score)| ProjectScore { project, score })
                .collect(),
            ballots_counted: self.ballots().len() as u64,
            decided_at: at,
        })
    }

    fn check_closable(&self, at: DateTime<Utc>) -> Result<(), CycleError> {
        self.core.check_time("close voting", at)?;
        let gate = |source| CycleError::Gate {
            step: Step::Voting,
            source,
        };
        let closes = self.stage.window.closes;
        if at < closes {
            return Err(gate(GateError::WindowOpen { closes, at }));
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
            return Err(gate(GateError::RecordedAfterEnd {
                record: "a batch of paper ballots",
                dated: entered.to_rfc3339(),
                at,
            }));
        }
        Ok(())
    }

    /// Checks a recorded decision against the cycle: the rule fixed in step 1,
    /// funded projects on the shortlist (each once), costs and budget that add up
    /// and fit, the number of ballots; and, for a built-in rule, that counting
    /// again gives the same decision.
    fn check_decision(&self, decision: &FundingDecision, recount: bool) -> Result<(), CycleError> {
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

    fn into_implementation(mut self, decision: FundingDecision) -> Cycle<Implementation> {
        self.core.enter(Step::Implementation, decision.decided_at);
        for p in &mut self.core.projects {
            if decision.funded.contains(&p.id()) {
                p.fund();
            }
        }
        Cycle {
            core: self.core,
            stage: Implementation {
                framework: self.stage.framework,
                window: self.stage.window,
                decision,
            },
        }
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
        match self
            .count(at, tally)
            .and_then(|d| self.check_decision(&d, false).map(|()| d))
        {
            Ok(decision) => Ok(self.into_implementation(decision)),
            Err(e) => Err(refuse(self, e)),
        }
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
        match self.check_decision(&decision, true) {
            Ok(()) => Ok(self.into_implementation(decision)),
            Err(e) => Err(refuse(self, e)),
        }
    }
}

/// Step 6: implementation, co-created with residents.
impl Cycle<Implementation> {
    fn funded_project(&mut self, project: ProjectId) -> Result<&mut Project, CycleError> {
        let i = self.core.project_index(project)?;
        let p = &mut self.core.projects[i];
        match p.delivery() {
            None => Err(CycleError::NotFunded { project }),
            Some(d) if d.is_finished() => Err(CycleError::AlreadyFinished { project }),
            Some(_) => Ok(p),
        }
    }

    fn delivery(
        &mut self,
        project: ProjectId,
    ) -> Result<&mut crate::project::Delivery, CycleError> {
        self.funded_project(project)?
            .delivery_mut()
            .ok_or(CycleError::NotFunded { project })
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

    /// Gate of step 6: every funded project is completed or cancelled. Then the
    /// cycle is followed up.
    ///
    /// # Errors
    /// Unfinished projects; the cycle comes back unchanged.
    pub fn begin_follow_up(
        mut self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<FollowUp>, TransitionError<Self>> {
        if let Err(e) = self.core.check_time("begin follow-up", at) {
            return Err(refuse(self, e));
        }
        let unfinished: Vec<ProjectId> = self
            .core
            .projects
            .iter()
            .filter(|p| p.delivery().is_some_and(|d| !d.is_finished()))
            .map(Project::id)
            .collect();
        let gate = |source| CycleError::Gate {
            step: Step::Implementation,
            source,
        };
        if !unfinished.is_empty() {
            let e = gate(GateError::Unfinished {
                projects: unfinished,
            });
            return Err(refuse(self, e));
        }
        let last_finished = self
            .core
            .projects
            .iter()
            .filter_map(|p| match p.delivery().map(|d| &d.status) {
                Some(
                    DeliveryStatus::Completed { at, .. } | DeliveryStatus::Cancelled { at, .. },
                ) => Some(*at),
                _ => None,
            })
            .max();
        if let Some(finished) = last_finished.filter(|f| *f > at) {
            let e = gate(GateError::RecordedAfterEnd {
                record: "a project's completion or cancellation",
                dated: finished.to_rfc3339(),
                at,
            });
            return Err(refuse(self, e));
        }
        self.core.enter(Step::FollowUp, at);
        Ok(Cycle {
            core: self.core,
            stage: FollowUp {
                framework: self.stage.framework,
                window: self.stage.window,
                decision: self.stage.decision,
            },
        })
    }
}

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
    S: Into<super::stage::Previous>,
{
    /// Abandons the cycle with a reason. An abandoned year counts against the
    /// programme's credibility.
    ///
    /// # Errors
    /// An empty reason or a time before the current step began; the cycle comes
    /// back unchanged.
    pub fn abandon(
        mut self,
        reason: String,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Abandoned>, TransitionError<Self>> {
        if let Err(e) = require_text("the reason for abandoning", &reason)
            .and_then(|()| self.core.check_time("abandon", at))
        {
            return Err(refuse(self, e));
        }
        self.core.enter(Step::Abandoned, at);
        Ok(Cycle {
            core: self.core,
            stage: Abandoned {
                from: Box::new(self.stage.into()),
                reason,
                at,
            },
        })
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
