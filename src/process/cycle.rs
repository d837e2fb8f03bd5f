//! `Cycle<S>`: one year's cycle in stage `S`, offering only what is legal there.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Step;
use super::error::{CycleError, GateError, TransitionError};
use super::records::{
    Adjustment, Allocation, CycleSetup, ExclusionGroup, FundingDecision, Lesson, OutreachActivity,
    PartOutcome, Participation, RulesVersion, SetAside, SetAsideReason, VoterRegister,
    VotingWindow,
};
use super::stage::{AcceptsFunds, Decided, FollowUp, Framed, Framework, Implementation, Stage};
use crate::area::{Area, Eligibility, Resident};
use crate::ballot::{Ballot, BallotKind, BallotRules, Choices};
use crate::criteria::CriteriaSet;
use crate::idea::{Idea, IdeaStatus};
use crate::ids::{AreaId, BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use crate::money::{Currency, Money};
use crate::part::{BudgetPart, PartId};
use crate::project::Project;
use crate::tally::endowed::Class;
use crate::tally::{
    Candidate, Election, EqualShares, Outcome, Profile, ProfileKind, Tally, TieBreaking,
};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;

/// The ballots of a cycle, with an index by voter and by id (rebuilt, never
/// stored).
#[derive(Debug, Clone, Default)]
pub(crate) struct BallotBox {
    pub(crate) ballots: Vec<Ballot>,
    /// Where each voter's ballot is, by voter and budget part.
    by_voter: HashMap<(ResidentId, Option<PartId>), usize>,
    /// The parts each voter has a ballot in (cycles of several parts only).
    parts_by_voter: HashMap<ResidentId, Vec<PartId>>,
    /// Each voter's home, as their ballots record it (own-part voting only).
    homes: HashMap<ResidentId, AreaId>,
    pub(crate) ids: HashSet<BallotId>,
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

impl BallotBox {
    pub(crate) fn as_slice(&self) -> &[Ballot] {
        &self.ballots
    }

    /// Where `voter`'s ballot is, if any.
    pub(crate) fn position_of(&self, voter: ResidentId, part: Option<&PartId>) -> Option<usize> {
        self.by_voter.get(&(voter, part.cloned())).copied()
    }

    /// The home `voter`'s ballots record, if any.
    pub(crate) fn home_of(&self, voter: ResidentId) -> Option<AreaId> {
        self.homes.get(&voter).copied()
    }

    /// The parts `voter` has a ballot in.
    pub(crate) fn parts_of(&self, voter: ResidentId) -> &[PartId] {
        self.parts_by_voter.get(&voter).map_or(&[], Vec::as_slice)
    }

    /// Adds or replaces (at `replace`) a ballot. Checked by the caller.
    pub(crate) fn put(&mut self, ballot: Ballot, replace: Option<usize>) {
        let voter = ballot.voter();
        self.ids.insert(ballot.id());
        if let Some(home) = ballot.home {
            self.homes.insert(voter, home);
        }
        match replace.and_then(|i| self.ballots.get_mut(i)) {
            Some(slot) => {
                self.ids.remove(&slot.id());
                *slot = ballot;
            }
            None => {
                if let Some(part) = &ballot.part {
                    self.parts_by_voter
                        .entry(voter)
                        .or_default()
                        .push(part.clone());
                }
                self.by_voter
                    .insert((voter, ballot.part.clone()), self.ballots.len());
                self.ballots.push(ballot);
            }
        }
    }
}

/// Everything a cycle gathers, whatever its stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) participation: Option<Participation>,
    /// Groups of projects of which at most one is funded (declared in step 4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) exclusions: Vec<ExclusionGroup>,
    /// The council's changes to the counted outcome (step 6), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) adjustments: Vec<Adjustment>,
}

/// What [`Cycle::count_by`] found: the last count's outcome, the projects it
/// funds, and the projects left out.
pub(crate) struct Count {
    pub(crate) outcome: Outcome,
    pub(crate) funded: Vec<ProjectId>,
    pub(crate) set_aside: Vec<SetAside>,
    /// Each part's outcome, in a cycle of several parts.
    pub(crate) parts: Vec<PartOutcome>,
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

#[cfg(feature = "schema")]
impl schemars::JsonSchema for BallotBox {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ballots".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<Vec<Ballot>>()
    }
}

#[cfg(feature = "schema")]
impl<S: Stage + schemars::JsonSchema> schemars::JsonSchema for Cycle<S> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Cycle{}", S::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let step = serde_json::to_value(S::STEP).unwrap_or_default();
        let core = generator.subschema_for::<Core>();
        let stage = generator.subschema_for::<S>();
        schemars::json_schema!({
            "description": "A cycle's state as a read model (it does not load back: a cycle is stored as its events)",
            "type": "object",
            "properties": {"step": {"const": step}, "core": core, "stage": stage},
            "required": ["step", "core", "stage"]
        })
    }
}

impl<S: Stage> Serialize for Cycle<S> {
    /// The state as a read model: `{"step": …, "core": …, "stage": …}`, the same
    /// form as [`AnyCycle`](super::AnyCycle). It does not load back: a cycle is
    /// stored as its events ([`Snapshot`](super::Snapshot)).
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

pub(super) fn refuse<S: Stage>(cycle: Cycle<S>, error: CycleError) -> TransitionError<Cycle<S>> {
    TransitionError::new(cycle, error)
}

/// A condition of step `S`'s gate that is not met.
pub(super) fn gate<S: Stage>(source: GateError) -> CycleError {
    CycleError::Gate {
        step: S::STEP,
        source,
    }
}

impl<S: Stage> Cycle<S> {
    /// The one way out of a step, used by every transition: `operation` at `at`
    /// may not be before the current step began; then `gate` reads the cycle as
    /// it is (its refusals tagged with [`gate`]); only if both pass does the
    /// cycle enter `T`'s step at `at`, with the stage `next` builds from this
    /// stage and what the gate found (`next` may also update the core, such as
    /// marking funded projects). A refusal gives the cycle back unchanged.
    pub(super) fn advance<T: Stage, G>(
        self,
        operation: &'static str,
        at: DateTime<Utc>,
        gate: impl FnOnce(&Self) -> Result<G, CycleError>,
        next: impl FnOnce(&mut Core, S, G) -> T,
    ) -> Result<Cycle<T>, TransitionError<Self>> {
        let found = match self
            .core
            .check_time(operation, at)
            .and_then(|()| gate(&self))
        {
            Ok(found) => found,
            Err(e) => return Err(refuse(self, e)),
        };
        let Cycle { mut core, stage } = self;
        core.enter(T::STEP, at);
        let stage = next(&mut core, stage, found);
        Ok(Cycle { core, stage })
    }
}

pub(super) fn require_text(field: &'static str, text: &str) -> Result<(), CycleError> {
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
            exclusions: self.exclusions.clone(),
            adjustments: self.adjustments.clone(),
        }
    }

    pub(crate) fn began(&self) -> DateTime<Utc> {
        self.timeline
            .last()
            .map_or(self.setup.started_at, |(_, at)| *at)
    }

    pub(crate) fn current_step(&self) -> Step {
        self.timeline.last().map_or(Step::Criteria, |(s, _)| *s)
    }

    pub(crate) fn check_time(
        &self,
        operation: &'static str,
        at: DateTime<Utc>,
    ) -> Result<(), CycleError> {
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

    pub(crate) fn check_currency(
        &self,
        what: &'static str,
        amount: Money,
    ) -> Result<(), CycleError> {
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

    pub(crate) fn check_allocation(&self, allocation: &Allocation) -> Result<(), CycleError> {
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

    pub(crate) fn additions_total(&self) -> Result<Money, CycleError> {
        Ok(Money::sum(
            self.setup.currency,
            self.additions.iter().map(|a| a.amount),
        )?)
    }

    pub(crate) fn budget_with(&self, base: Option<&Allocation>) -> Result<Money, CycleError> {
        let raised = Money::sum(
            self.setup.currency,
            self.adjustments.iter().filter_map(|a| a.raises_budget_by),
        )?;
        let extra = self.additions_total()?.checked_add(raised)?;
        Ok(match base {
            Some(b) => b.amount.checked_add(extra)?,
            None => extra,
        })
    }

    pub(crate) fn idea_index(&self, idea: IdeaId) -> Result<usize, CycleError> {
        self.ideas
            .iter()
            .position(|i| i.id() == idea)
            .ok_or(CycleError::UnknownIdea { idea })
    }

    pub(crate) fn project_index(&self, project: ProjectId) -> Result<usize, CycleError> {
        self.projects
            .iter()
            .position(|p| p.id() == project)
            .ok_or(CycleError::UnknownProject { project })
    }

    pub(crate) fn enter(&mut self, step: Step, at: DateTime<Utc>) {
        self.timeline.push((step, at));
    }

    pub(crate) fn shortlist(&self) -> impl Iterator<Item = &Project> {
        self.projects.iter().filter(|p| p.is_on_shortlist())
    }

    /// Each of `parts` with its money: the council's amount plus the
    /// additions that go to it ([`crate::part::destination`]).
    pub(crate) fn part_money(
        &self,
        parts: &[BudgetPart],
    ) -> Result<Vec<(BudgetPart, Money)>, CycleError> {
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            let money = Money::sum(
                self.setup.currency,
                std::iter::once(part.amount)
                    .chain(
                        self.additions
                            .iter()
                            .filter(|a| {
                                crate::part::destination(parts, a.part.as_ref()) == Some(&part.id)
                            })
                            .map(|a| a.amount),
                    )
                    .chain(
                        self.adjustments
                            .iter()
                            .filter(|a| {
                                crate::part::destination(parts, a.part.as_ref()) == Some(&part.id)
                            })
                            .filter_map(|a| a.raises_budget_by),
                    ),
            )?;
            out.push((part.clone(), money));
        }
        Ok(out)
    }

    /// The first two projects of `funded` that share an exclusion group, in
    /// the order funded (the earlier, the later), and the group.
    pub(crate) fn excluding(
        &self,
        funded: &[ProjectId],
    ) -> Option<(ProjectId, ProjectId, &ExclusionGroup)> {
        funded.iter().enumerate().find_map(|(k, &later)| {
            funded[..k].iter().find_map(|&earlier| {
                self.exclusions
                    .iter()
                    .find(|g| g.projects.contains(&earlier) && g.projects.contains(&later))
                    .map(|g| (earlier, later, g))
            })
        })
    }

    /// The projects funded: the counted decision's, then each adjustment's
    /// removals and additions in order.
    pub(crate) fn funded_after(&self, decision: &FundingDecision) -> Vec<ProjectId> {
        let mut funded = decision.funded.clone();
        for a in &self.adjustments {
            funded.retain(|p| !a.remove.contains(p));
            funded.extend(&a.add);
        }
        funded
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

    /// What `projects` cost together, at their estimates (a project without
    /// one counts nothing).
    pub(crate) fn cost_of(&self, projects: &[ProjectId]) -> Result<Money, CycleError> {
        Ok(Money::sum(
            self.currency(),
            projects
                .iter()
                .filter_map(|&p| self.project(p).and_then(Project::cost)),
        )?)
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

/// Steps 1 to 4: money may be added (never removed) until the ballot is published.
impl<S: AcceptsFunds> Cycle<S> {
    /// Adds money to the budget: a top-up or carry-over, with its decision.
    ///
    /// # Errors
    /// An amount that is not positive, in another currency or that overflows, or a
    /// decision without a body or reference.
    pub fn add_funds(&mut self, allocation: Allocation) -> Result<(), CycleError> {
        self.core.check_allocation(&allocation)?;
        // Council money names a part the cycle has, or none; carry-over goes
        // where `destination` sends it.
        if let Some(parts) = self.stage.fixed_parts()
            && crate::part::missing_part(parts, &allocation).is_some()
        {
            return Err(CycleError::NoSuchPart {
                what: "an addition of money",
                part: allocation.part.clone(),
            });
        }
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

    /// The budget parts (empty for a cycle of one budget).
    pub fn parts(&self) -> &[BudgetPart] {
        &self.framework().parts
    }

    /// The money of budget part `part` (the whole budget for `None`): the
    /// council's amount for it plus additions named for it.
    ///
    /// # Errors
    /// A part the cycle does not have, or an overflow.
    pub fn part_budget(&self, part: Option<&PartId>) -> Result<Money, CycleError> {
        let Some(id) = part else {
            return self.budget();
        };
        self.core
            .part_money(self.parts())?
            .into_iter()
            .find(|(p, _)| &p.id == id)
            .map(|(_, money)| money)
            .ok_or_else(|| CycleError::NoSuchPart {
                what: "a budget",
                part: Some(id.clone()),
            })
    }

    /// The part `what` must belong to: `None` in a cycle of one budget (and
    /// `part` must be `None`), one of the parts in a cycle of several.
    pub(crate) fn check_part(
        &self,
        what: &'static str,
        part: Option<&PartId>,
    ) -> Result<(), CycleError> {
        let parts = self.parts();
        let ok = match part {
            None => parts.is_empty(),
            Some(id) => parts.iter().any(|p| &p.id == id),
        };
        if ok {
            Ok(())
        } else {
            Err(CycleError::NoSuchPart {
                what,
                part: part.cloned(),
            })
        }
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
    /// labelled by id, and the ballots; amounts in minor units, with the
    /// currency's minor units per major as the unit add1 steps
    /// ([`Election::with_unit`]) from [`RulesVersion`] 2 on (version 1 stepped
    /// one minor unit).
    ///
    /// # Errors
    /// A cost or budget that is not a positive amount, or a ballot the profile
    /// cannot hold (impossible for ballots this cycle accepted).
    ///
    /// In a cycle of several budget parts this is every part's projects and
    /// ballots within the whole budget, for display; each part is counted
    /// alone ([`Cycle::part_election`]).
    pub fn election(&self) -> Result<Election, CycleError> {
        self.election_of(None, &[], true)
    }

    /// The election of budget part `part`: its projects, its ballots and its
    /// money.
    ///
    /// # Errors
    /// As [`Cycle::election`], or a part the cycle does not have.
    pub fn part_election(&self, part: &PartId) -> Result<Election, CycleError> {
        self.election_of(Some(part), &[], false)
    }

    /// The election of `part` (every part if `all`), without the projects
    /// `left_out`: they are not candidates, and ballots count as if they had
    /// not chosen them (a ranking closes up).
    pub(crate) fn election_of(
        &self,
        part: Option<&PartId>,
        left_out: &[ProjectId],
        all: bool,
    ) -> Result<Election, CycleError> {
        let in_part = |p: Option<&PartId>| all || p == part;
        let ballots = self
            .ballots()
            .iter()
            .filter(|b| in_part(b.part.as_ref()))
            .map(|b| vec![b.choices()]);
        let budget = if all {
            self.budget()?
        } else {
            self.part_budget(part)?
        };
        self.election_with(in_part, left_out, ballots, budget)
    }

    /// The election of the shortlisted projects `in_part` takes, without
    /// `left_out`, within `budget`: one ballot per entry of `ballots`, each
    /// joining the choices it lists (a voter's ballots in several parts).
    fn election_with<'b>(
        &self,
        in_part: impl Fn(Option<&PartId>) -> bool,
        left_out: &[ProjectId],
        ballots: impl IntoIterator<Item = Vec<&'b Choices>>,
        budget: Money,
    ) -> Result<Election, CycleError> {
        let shortlist: Vec<&Project> = self
            .core
            .shortlist()
            .filter(|p| in_part(p.proposal().part.as_ref()) && !left_out.contains(&p.id()))
            .collect();
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
        let index: HashMap<ProjectId, u32> = shortlist
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p.id(), u32::try_from(i).ok()?)))
            .collect();
        // A ballot's project: its index among the candidates, or none if it
        // is left out.
        let index_of = |id: ProjectId| -> Result<Option<u32>, CycleError> {
            if left_out.contains(&id) {
                return Ok(None);
            }
            index
                .get(&id)
                .copied()
                .map(Some)
                .ok_or(CycleError::UnknownProject { project: id })
        };
        let kind = match self.rules().kind() {
            BallotKind::Approval | BallotKind::Knapsack => ProfileKind::Approval,
            BallotKind::Cumulative => ProfileKind::Points,
            BallotKind::Ranked => ProfileKind::Ranking,
        };
        let mut profile = Profile::builder(kind, candidates.len());
        for choices in ballots {
            let (mut chosen, mut points) = (Vec::new(), Vec::new());
            for c in choices {
                match c {
                    Choices::Approval(ps) | Choices::Ranking(ps) => {
                        for &p in ps {
                            chosen.extend(index_of(p)?);
                        }
                    }
                    Choices::Points(ps) => {
                        for &(p, v) in ps {
                            points.extend(index_of(p)?.map(|i| (i, v)));
                        }
                    }
                }
            }
            match kind {
                ProfileKind::Approval => profile.push_approval(&chosen, 1)?,
                ProfileKind::Ranking => profile.push_ranking(&chosen, 1)?,
                ProfileKind::Points => profile.push_points(&points, 1)?,
            }
        }
        let election = Election::new(to_units(budget)?, candidates, profile.build())?;
        // Rules version 2: add1 steps whole currency units, as the `.pb`
        // export counts; version 1 stepped minor units.
        Ok(if self.setup().rules_version >= RulesVersion(2) {
            let unit = u64::try_from(self.currency().minor_per_major()).unwrap_or(1);
            election.with_unit(unit)
        } else {
            election
        })
    }

    /// The elections of a count of the parts together: every voter's ballots
    /// joined into one over all the shortlist but `left_out`, within the
    /// whole budget; and the voters by class, each class's voters starting
    /// with their share of the money of each part that is theirs (the part's
    /// money over the voters whose part it is).
    fn together(&self, left_out: &[ProjectId]) -> Result<(Election, Vec<Class>), CycleError> {
        let parts = self.core.part_money(self.parts())?;
        // Each voter's ballots, in the order of their first.
        let mut order: Vec<ResidentId> = Vec::new();
        let mut by_voter: HashMap<ResidentId, Vec<&Choices>> = HashMap::new();
        for b in self.ballots() {
            by_voter
                .entry(b.voter)
                .or_insert_with(|| {
                    order.push(b.voter);
                    Vec::new()
                })
                .push(b.choices());
        }
        let area = self.area();
        // The parts that are a voter's: by their home (recorded on every
        // ballot when parts are counted together).
        let theirs = |voter: ResidentId| -> Vec<bool> {
            let home = self.core.ballots.home_of(voter);
            parts
                .iter()
                .map(|(p, _)| match home {
                    Some(home) => p.serves(area, home),
                    None => p.area.is_none(),
                })
                .collect()
        };
        let mut classes: Vec<(Vec<bool>, Vec<ResidentId>)> = Vec::new();
        let mut voters_of = vec![0_u64; parts.len()];
        for &voter in &order {
            let key = theirs(voter);
            for (n, &is) in voters_of.iter_mut().zip(&key) {
                *n += u64::from(is);
            }
            match classes.iter_mut().find(|(k, _)| *k == key) {
                Some((_, voters)) => voters.push(voter),
                None => classes.push((key, vec![voter])),
            }
        }
        let budget = self.budget()?;
        let all = |_: Option<&PartId>| true;
        let ballots_of = |voters: &[ResidentId]| -> Vec<Vec<&Choices>> {
            voters
                .iter()
                .map(|v| by_voter.get(v).cloned().unwrap_or_default())
                .collect()
        };
        let whole = self.election_with(all, left_out, ballots_of(&order), budget)?;
        let mut out = Vec::with_capacity(classes.len());
        for (key, voters) in &classes {
            let mut money = BigRational::zero();
            for (((_, amount), &n), &is) in parts.iter().zip(&voters_of).zip(key) {
                if is && n > 0 {
                    money += BigRational::new(BigInt::from(amount.minor()), BigInt::from(n));
                }
            }
            out.push(Class {
                election: self.election_with(all, left_out, ballots_of(voters), budget)?,
                money,
            });
        }
        Ok((whole, out))
    }

    /// The count by `tally` under the ballot rules' minimum number of votes
    /// and the cycle's exclusion groups. Projects with too few votes never
    /// run; then each count that funds two projects of an exclusion group
    /// leaves out the later of the first such pair and counts again, so the
    /// rule's earlier choice stands. Each round leaves out one more project,
    /// so there are at most as many rounds as projects. For rules that choose
    /// one project at a time (greedy, equal shares without completion,
    /// Phragmén, maximin support) this is the rule run with a chosen project's
    /// group leaving the running.
    ///
    /// # Errors
    /// The tally's error, or an election that cannot be built.
    ///
    /// In a cycle of several budget parts, each part is counted alone, in the
    /// order of the parts; the count funds each part's projects in turn.
    pub(crate) fn count_by(
        &self,
        tally: &dyn Tally,
        ties: &TieBreaking,
    ) -> Result<Count, CycleError> {
        if self.parts().is_empty() {
            return self.count_part(tally, ties, None);
        }
        if self.rules().parts_together()
            && let Some(rule) = tally.rule().equal_shares()
        {
            return self.count_together(rule, ties);
        }
        let mut whole: Option<Count> = None;
        let mut scores: HashMap<ProjectId, u64> = HashMap::new();
        for part in self.parts() {
            let count = self.count_part(tally, ties, Some(&part.id))?;
            let full = self.election_of(Some(&part.id), &[], false)?;
            let candidates = self
                .core
                .shortlist()
                .filter(|p| p.proposal().part.as_ref() == Some(&part.id));
            for (p, s) in candidates.zip(full.profile().support()?) {
                scores.insert(p.id(), s);
            }
            let outcome = PartOutcome {
                part: part.id.clone(),
                funded: count.funded.clone(),
                total_cost: self.cost_of(&count.funded)?,
                budget: self.part_budget(Some(&part.id))?,
                ballots_counted: self
                    .ballots()
                    .iter()
                    .filter(|b| b.part.as_ref() == Some(&part.id))
                    .count() as u64,
            };
            match &mut whole {
                None => {
                    whole = Some(Count {
                        parts: vec![outcome],
                        ..count
                    });
                }
                Some(w) => {
                    w.funded.extend(count.funded);
                    w.set_aside.extend(count.set_aside);
                    w.parts.push(outcome);
                }
            }
        }
        let mut whole = whole.ok_or(CycleError::DecisionMismatch {
            field: "parts (none to count)",
        })?;
        // Scores: each project's support among its part's ballots.
        whole.outcome.scores = self
            .core
            .shortlist()
            .map(|p| scores.get(&p.id()).copied().unwrap_or(0))
            .collect();
        Ok(whole)
    }

    /// One part's count (the whole cycle's for `None` in a cycle of one
    /// budget): see [`Cycle::count_by`].
    fn count_part(
        &self,
        tally: &dyn Tally,
        ties: &TieBreaking,
        part: Option<&PartId>,
    ) -> Result<Count, CycleError> {
        let shortlist: Vec<ProjectId> = self
            .core
            .shortlist()
            .filter(|p| p.proposal().part.as_ref() == part)
            .map(Project::id)
            .collect();
        self.count_leaving_out(&shortlist, |left_out| {
            let election = self.election_of(part, left_out, false)?;
            Ok(tally.tally(&election, ties)?)
        })
    }

    /// The count of every part together by equal shares `rule`
    /// ([`crate::part::PartCounting::Together`]): one outcome, shown per part.
    fn count_together(&self, rule: EqualShares, ties: &TieBreaking) -> Result<Count, CycleError> {
        let shortlist: Vec<ProjectId> = self.core.shortlist().map(Project::id).collect();
        let mut count = self.count_leaving_out(&shortlist, |left_out| {
            let (whole, classes) = self.together(left_out)?;
            Ok(crate::tally::endowed::count(&whole, &classes, rule, ties)?)
        })?;
        for each in self.parts() {
            let part = Some(&each.id);
            let funded: Vec<ProjectId> = count
                .funded
                .iter()
                .copied()
                .filter(|&p| {
                    self.project(p)
                        .is_some_and(|x| x.proposal().part.as_ref() == part)
                })
                .collect();
            count.parts.push(PartOutcome {
                part: each.id.clone(),
                total_cost: self.cost_of(&funded)?,
                funded,
                budget: self.part_budget(part)?,
                ballots_counted: self
                    .ballots()
                    .iter()
                    .filter(|b| b.part.as_ref() == part)
                    .count() as u64,
            });
        }
        // Scores: each project's support among all the ballots.
        count.outcome.scores = self.election()?.profile().support()?;
        Ok(count)
    }

    /// The count of `shortlist` by `count` (given the projects left out)
    /// under the minimum number of votes and the exclusion groups: see
    /// [`Cycle::count_by`].
    fn count_leaving_out(
        &self,
        shortlist: &[ProjectId],
        count: impl Fn(&[ProjectId]) -> Result<Outcome, CycleError>,
    ) -> Result<Count, CycleError> {
        let mut set_aside: Vec<SetAside> = self
            .too_few_votes()
            .into_iter()
            .filter(|s| shortlist.contains(&s.project))
            .collect();
        loop {
            let left_out: Vec<ProjectId> = set_aside.iter().map(|s| s.project).collect();
            let outcome = count(&left_out)?;
            let candidates: Vec<ProjectId> = shortlist
                .iter()
                .filter(|p| !left_out.contains(p))
                .copied()
                .collect();
            let funded = outcome
                .selected
                .iter()
                .map(|&i| {
                    candidates
                        .get(i)
                        .copied()
                        .ok_or(CycleError::DecisionMismatch {
                            field: "a selected project index",
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            match self.core.excluding(&funded) {
                Some((chosen, project, _)) => set_aside.push(SetAside {
                    project,
                    reason: SetAsideReason::Excluded { chosen },
                }),
                None => {
                    return Ok(Count {
                        outcome,
                        funded,
                        set_aside,
                        parts: Vec::new(),
                    });
                }
            }
        }
    }

    /// How many ballots chose each project on the shortlist, in shortlist
    /// order.
    pub fn votes(&self) -> Vec<(ProjectId, u64)> {
        let mut votes: Vec<(ProjectId, u64)> = self.core.shortlist().map(|p| (p.id(), 0)).collect();
        let index: HashMap<ProjectId, usize> = votes
            .iter()
            .enumerate()
            .map(|(k, &(p, _))| (p, k))
            .collect();
        let mut count = |p: &ProjectId| {
            if let Some(&k) = index.get(p) {
                votes[k].1 += 1;
            }
        };
        for ballot in self.ballots() {
            match ballot.choices() {
                Choices::Approval(ps) | Choices::Ranking(ps) => ps.iter().for_each(&mut count),
                // Zero points express no support.
                Choices::Points(ps) => ps.iter().filter(|e| e.1 > 0).for_each(|e| count(&e.0)),
            }
        }
        votes
    }

    /// The projects the ballot rules' minimum number of votes leaves out.
    pub(crate) fn too_few_votes(&self) -> Vec<SetAside> {
        let Some(minimum) = self.rules().minimum_votes() else {
            return Vec::new();
        };
        self.votes()
            .into_iter()
            .filter(|&(_, votes)| votes < u64::from(minimum))
            .map(|(project, votes)| SetAside {
                project,
                reason: SetAsideReason::TooFewVotes { votes, minimum },
            })
            .collect()
    }

    pub(crate) fn check_eligible(
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
    pub(crate) fn record_participation(
        &mut self,
        participation: Participation,
    ) -> Result<(), CycleError> {
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

    /// The funding decision: the outcome as counted. A council's adjustments
    /// are kept beside it ([`Cycle::adjustments`]); [`Cycle::funded`] is the
    /// outcome after them.
    pub fn decision(&self) -> &FundingDecision {
        self.stage.decision()
    }

    /// The council's adjustments to the counted outcome, in order.
    pub fn adjustments(&self) -> &[Adjustment] {
        &self.core.adjustments
    }

    /// The projects funded after the council's adjustments: the counted ones
    /// in the order counted, less those removed, then those added.
    pub fn funded(&self) -> Vec<ProjectId> {
        self.core.funded_after(self.decision())
    }
}

/// Rejecting an idea: in step 3 as inadmissible, in step 4 after review.
pub(super) fn reject_idea(
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
