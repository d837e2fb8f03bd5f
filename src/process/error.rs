//! Errors of the process: refused commands, closed gates, broken event streams.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{RulesVersion, Step};
use crate::area::{EligibilityVersion, Ineligible};
use crate::ballot::{BallotError, RulesError};
use crate::ids::{BallotId, IdeaId, ProjectId, ResidentId};
use crate::money::{Currency, Money, MoneyError};
use crate::part::PartId;
use crate::project::ProgressError;
use crate::tally::{Rule, TallyError};

/// Why a cycle cannot leave a step: the gate of GUIDE §1 that is not met.
///
/// For a front end it serialises with a stable machine code, the variant's
/// name in snake_case, and its fields under `details`:
/// `{"code":"window_open","details":{"closes":"…","at":"…"}}`
/// ([`Available`](super::Available) lists them with their messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GateError {
    /// Step 1: no council allocation.
    #[error("no budget has been set aside by a council decision")]
    NoBudget,
    /// Step 1: who may take part is not fixed.
    #[error("eligibility has not been fixed")]
    NoEligibility,
    /// Step 1: no ballot rules.
    #[error("ballot rules have not been fixed")]
    NoBallotRules,
    /// Step 1: no criteria.
    #[error("criteria have not been fixed")]
    NoCriteria,
    /// Step 1: the ballot rules do not fit the budget.
    #[error("the ballot rules do not fit the budget: {0}")]
    RulesDoNotFitBudget(RulesError),
    /// Step 1: the parts' amounts do not add up to the council's allocation.
    #[error("the budget parts add up to {parts_total}, not the council's allocation {allocation}")]
    PartsDoNotAddUp {
        /// The parts' amounts together.
        parts_total: Money,
        /// The allocation.
        allocation: Money,
    },
    /// Step 1: council money for a part the cycle does not have.
    #[error("money was added to budget part {part}, which this cycle does not have")]
    UnknownPart {
        /// The part.
        part: PartId,
    },
    /// Step 4: a project on the shortlist of a cycle of several parts that
    /// names none.
    #[error("project {project} names no budget part, or one the cycle does not have")]
    ProjectWithoutPart {
        /// The project.
        project: ProjectId,
    },
    /// Step 4: a budget part with fewer projects than a ballot must choose.
    #[error(
        "budget part {part} has {on_shortlist} projects on the shortlist; ballots must choose at least {min_projects}"
    )]
    PartTooShortForRules {
        /// The part.
        part: PartId,
        /// Projects a ballot must choose.
        min_projects: u32,
        /// The part's projects on the shortlist.
        on_shortlist: usize,
    },
    /// Step 4: a budget part without a project on the shortlist.
    #[error("budget part {part} has no project on the shortlist")]
    PartWithoutProjects {
        /// The part.
        part: PartId,
    },
    /// Step 2: no outreach recorded.
    #[error("no outreach activity has been recorded")]
    NoOutreach,
    /// Step 3: no admissible idea.
    #[error("no admissible idea has been submitted")]
    NoAdmissibleIdea,
    /// Step 3: an idea is dated after the end of idea generation.
    #[error("idea {idea} is dated {submitted_at}, after idea generation ends at {at}")]
    IdeaAfterEnd {
        /// The idea.
        idea: IdeaId,
        /// Its submission time.
        submitted_at: DateTime<Utc>,
        /// The end of idea generation.
        at: DateTime<Utc>,
    },
    /// A record of the step is dated after the time the step is to end.
    #[error("{record} is dated {dated}, after the step would end at {at}")]
    RecordedAfterEnd {
        /// What the record is.
        record: &'static str,
        /// Its date or time.
        dated: String,
        /// The end of the step.
        at: DateTime<Utc>,
    },
    /// Step 4: even the cheapest ballot the rules allow (the `min_projects`
    /// cheapest projects) costs more than a ballot may.
    #[error(
        "no ballot could follow the rules: the {min_projects} cheapest projects cost {cheapest}, over the ballot's cost limit {limit}"
    )]
    CheapestBallotOverLimit {
        /// The fewest projects a ballot must choose.
        min_projects: u32,
        /// What the cheapest such choice costs.
        cheapest: Money,
        /// The most a ballot may cost.
        limit: Money,
    },
    /// Step 4: a ballot must spend a share of the budget that no allowed
    /// choice reaches.
    #[error(
        "no ballot could follow the rules: a ballot must use at least {required}, but the cost limit is {limit} and the largest allowed choice costs {largest}"
    )]
    BudgetShareUnreachable {
        /// The least a ballot must spend.
        required: Money,
        /// The most a ballot may cost.
        limit: Money,
        /// The dearest choice the rules allow.
        largest: Money,
    },
    /// Step 4: ideas without an answer (merged, rejected or shortlisted).
    #[error("{} ideas have no decision yet, first {}", ideas.len(), ideas.first().map(ToString::to_string).unwrap_or_default())]
    UndecidedIdeas {
        /// The ideas.
        ideas: Vec<IdeaId>,
    },
    /// Step 4: fewer than two projects on the shortlist.
    #[error("{on_shortlist} projects on the shortlist; at least 2 are required")]
    TooFewProjects {
        /// Projects on the shortlist.
        on_shortlist: usize,
    },
    /// Step 4: more projects must be chosen than there are on the shortlist.
    #[error(
        "ballots must choose at least {min_projects} projects but the shortlist has {on_shortlist}"
    )]
    ShortlistTooShortForRules {
        /// The ballot rules' minimum.
        min_projects: u32,
        /// Projects on the shortlist.
        on_shortlist: usize,
    },
    /// Step 4: a project without a cost estimate.
    #[error("project {project} has no cost estimate")]
    NotCosted {
        /// The project.
        project: ProjectId,
    },
    /// Step 4: a project costing more than the budget.
    #[error("project {project} costs {cost}, more than the budget {budget}")]
    CostOverBudget {
        /// The project.
        project: ProjectId,
        /// Its cost.
        cost: Money,
        /// The budget.
        budget: Money,
    },
    /// Step 4: a project not assessed feasible.
    #[error("project {project} has not been assessed feasible")]
    NotFeasible {
        /// The project.
        project: ProjectId,
    },
    /// Step 4: a project not scored on a criterion.
    #[error("project {project} has no score for criterion {criterion:?}")]
    NotScored {
        /// The project.
        project: ProjectId,
        /// The criterion.
        criterion: String,
    },
    /// Step 5: the voting window has not closed.
    #[error("voting closes at {closes}; it cannot be closed at {at}")]
    WindowOpen {
        /// The window's end.
        closes: DateTime<Utc>,
        /// The time of the attempt.
        at: DateTime<Utc>,
    },
    /// Step 5: the funded projects cost more than the budget.
    #[error("the funded projects cost {total_cost}, more than the budget {budget}")]
    OutcomeOverBudget {
        /// Their total cost.
        total_cost: Money,
        /// The budget.
        budget: Money,
    },
    /// Step 6: funded projects neither completed nor cancelled.
    #[error("{} funded projects are neither completed nor cancelled", projects.len())]
    Unfinished {
        /// The projects.
        projects: Vec<ProjectId>,
    },
    /// Step 7: an evaluation without a lesson.
    #[error("the evaluation records no lesson")]
    NoLessons,
}

/// Why a command was refused. The cycle is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CycleError {
    /// The command does not belong to the cycle's current step.
    #[error("{operation} is not possible in step {step}")]
    NotInThisStep {
        /// The command.
        operation: &'static str,
        /// The cycle's step.
        step: Step,
    },
    /// Money carried over from an earlier year offered as the council's base
    /// allocation: carry-over is added to a budget, it never is one.
    #[error(
        "money carried over from {from_year} cannot be the base allocation; the council's own allocation is, and carry-over is added to it"
    )]
    CarryOverAsBase {
        /// The year the money was left unspent.
        from_year: i32,
    },
    /// A gate that is not met.
    #[error("cannot leave step {step}: {source}")]
    Gate {
        /// The step that cannot be left.
        step: Step,
        /// What is missing.
        source: GateError,
    },
    /// A timestamp before the start of the current step.
    #[error("{operation} at {at} is before step {step} began at {began}")]
    BeforeStep {
        /// The command.
        operation: &'static str,
        /// Its time.
        at: DateTime<Utc>,
        /// The current step.
        step: Step,
        /// When the step began.
        began: DateTime<Utc>,
    },
    /// An amount in another currency than the cycle's.
    #[error("{what} is in {found}; the cycle's currency is {expected}")]
    WrongCurrency {
        /// What the amount is.
        what: &'static str,
        /// The cycle's currency.
        expected: Currency,
        /// The amount's currency.
        found: Currency,
    },
    /// An amount that must be positive.
    #[error("{what} must be positive, got {amount}")]
    NotPositive {
        /// What the amount is.
        what: &'static str,
        /// The amount.
        amount: Money,
    },
    /// An amount that may not be negative.
    #[error("{what} may not be negative, got {amount}")]
    Negative {
        /// What the amount is.
        what: &'static str,
        /// The amount.
        amount: Money,
    },
    /// Arithmetic on money failed.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// An outreach activity aims at a group the area's breakdown does not
    /// have, or names one twice.
    #[error("outreach aimed at {dimension}={group}: {problem}")]
    OutreachGroup {
        /// The dimension.
        dimension: String,
        /// The group.
        group: String,
        /// What is wrong: not a group of the area, or named twice.
        problem: &'static str,
    },
    /// A required text is empty.
    #[error("{field} may not be empty")]
    EmptyText {
        /// The field.
        field: &'static str,
    },
    /// An id already used in this cycle.
    #[error("{kind} id {id} is already used in this cycle")]
    DuplicateId {
        /// What kind of id.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// No idea with this id.
    #[error("no idea {idea} in this cycle")]
    UnknownIdea {
        /// The idea.
        idea: IdeaId,
    },
    /// No project with this id.
    #[error("no project {project} in this cycle")]
    UnknownProject {
        /// The project.
        project: ProjectId,
    },
    /// An idea in the wrong status for the command.
    #[error("idea {idea} is {status}; {operation} needs it {expected}")]
    IdeaStatus {
        /// The idea.
        idea: IdeaId,
        /// The command.
        operation: &'static str,
        /// Its status.
        status: &'static str,
        /// The status required.
        expected: &'static str,
    },
    /// An idea merged into itself.
    #[error("idea {idea} cannot be merged into itself")]
    MergeIntoItself {
        /// The idea.
        idea: IdeaId,
    },
    /// A resident who may not take part.
    #[error("{action} refused: {source}")]
    Ineligible {
        /// What the resident tried to do.
        action: &'static str,
        /// Why they may not.
        source: Ineligible,
    },
    /// A project proposal without the residents who worked on it.
    #[error("project {project} names no resident who worked on it; residents co-create projects")]
    NoResidents {
        /// The project.
        project: ProjectId,
    },
    /// A project proposal without ideas.
    #[error("project {project} is not built from any idea")]
    NoIdeas {
        /// The project.
        project: ProjectId,
    },
    /// A resident recorded twice on the same project.
    #[error("resident {resident} is already recorded on project {project}")]
    ResidentTwice {
        /// The project.
        project: ProjectId,
        /// The resident.
        resident: ResidentId,
    },
    /// A score for a criterion the cycle does not have.
    #[error("project {project}: no criterion named {criterion:?}")]
    UnknownCriterion {
        /// The project.
        project: ProjectId,
        /// The criterion.
        criterion: String,
    },
    /// A project withdrawn from the shortlist.
    #[error("project {project} has been withdrawn from the shortlist")]
    Withdrawn {
        /// The project.
        project: ProjectId,
    },
    /// Too many budget parts.
    #[error("{given} budget parts; a cycle has at most {limit}")]
    TooManyParts {
        /// Parts given.
        given: usize,
        /// The limit.
        limit: usize,
    },
    /// A budget part that cannot be.
    #[error("budget part {part}: {why}")]
    BadPart {
        /// The part.
        part: PartId,
        /// What is wrong.
        why: &'static str,
    },
    /// A part the cycle does not have, or naming one in a cycle of one budget.
    #[error("{what} names budget part {part:?}, which this cycle does not have")]
    NoSuchPart {
        /// What named it.
        what: &'static str,
        /// The part named (`None`: none was named, in a cycle of several).
        part: Option<PartId>,
    },
    /// A ballot in a part the voter may not vote in.
    #[error("voter {voter} may not vote in budget part {part}: {why}")]
    PartNotAllowed {
        /// The voter.
        voter: ResidentId,
        /// The part.
        part: PartId,
        /// Why (the ballot rules' part voting).
        why: &'static str,
    },
    /// An exclusion group with projects of different parts.
    #[error(
        "projects {first} and {second} are in different budget parts and cannot exclude each other"
    )]
    ExclusionAcrossParts {
        /// One project.
        first: ProjectId,
        /// Another, of another part.
        second: ProjectId,
    },
    /// A project handed over to the programme: the programme records the rest
    /// of its delivery.
    #[error("project {project} has been handed over to the programme; record its delivery there")]
    HandedOver {
        /// The project.
        project: ProjectId,
    },
    /// Handing over a project of a cycle outside a programme.
    #[error("project {project} cannot be handed over: the cycle belongs to no programme")]
    NoProgramme {
        /// The project.
        project: ProjectId,
    },
    /// A planned completion before the day it is planned on.
    #[error("project {project}: a completion planned for {planned} is before {at}")]
    PlannedInThePast {
        /// The project.
        project: ProjectId,
        /// The planned day.
        planned: chrono::NaiveDate,
        /// When it was planned.
        at: DateTime<Utc>,
    },
    /// An exclusion group of fewer than two projects.
    #[error("an exclusion group needs at least two projects; this one has {projects}")]
    ExclusionTooSmall {
        /// Projects named.
        projects: usize,
    },
    /// A project named twice in a list that takes each once.
    #[error("project {project} appears twice in {list}")]
    ProjectRepeated {
        /// The project.
        project: ProjectId,
        /// The list.
        list: &'static str,
    },
    /// Funding two projects of one exclusion group.
    #[error("projects {first} and {second} exclude each other ({reason}); at most one is funded")]
    Excludes {
        /// The project funded already.
        first: ProjectId,
        /// The project that would join it.
        second: ProjectId,
        /// The group's reason.
        reason: String,
    },
    /// An adjustment that neither adds nor removes a project.
    #[error("a council adjustment must add or remove at least one project")]
    EmptyAdjustment,
    /// Adding a project that is funded already.
    #[error("project {project} is funded already")]
    AlreadyFunded {
        /// The project.
        project: ProjectId,
    },
    /// Removing a funded project whose delivery has begun on the record.
    #[error(
        "project {project} has work on the record (milestones, progress, co-creators or an end); cancel it instead"
    )]
    DeliveryBegun {
        /// The project.
        project: ProjectId,
    },
    /// An adjusted outcome that costs more than the budget.
    #[error(
        "the adjusted outcome costs {total_cost}, more than the budget {budget}; a decision that raises the budget must say by how much"
    )]
    AdjustedOverBudget {
        /// The cost of every project funded after the adjustment.
        total_cost: Money,
        /// The budget, with every raise recorded.
        budget: Money,
    },
    /// A project that was not funded.
    #[error("project {project} was not funded")]
    NotFunded {
        /// The project.
        project: ProjectId,
    },
    /// A funded project already completed or cancelled.
    #[error("project {project} is already completed or cancelled")]
    AlreadyFinished {
        /// The project.
        project: ProjectId,
    },
    /// Completing a project no resident co-created during implementation.
    #[error(
        "project {project} has no resident co-creator recorded in implementation; residents co-create what is built"
    )]
    NoCoCreators {
        /// The project.
        project: ProjectId,
    },
    /// An invalid progress value.
    #[error(transparent)]
    Progress(#[from] ProgressError),
    /// A voting window that ends before it starts or starts before voting opens.
    #[error(
        "voting window {opens} – {closes} is invalid: it must open no earlier than {at} and close after it opens"
    )]
    InvalidWindow {
        /// Opening.
        opens: DateTime<Utc>,
        /// Closing.
        closes: DateTime<Utc>,
        /// When voting was opened.
        at: DateTime<Utc>,
    },
    /// A ballot cast outside the voting window.
    #[error("ballot {ballot} cast at {cast_at}, outside the voting window {opens} – {closes}")]
    OutsideWindow {
        /// The ballot.
        ballot: BallotId,
        /// When it was cast.
        cast_at: DateTime<Utc>,
        /// Opening.
        opens: DateTime<Utc>,
        /// Closing.
        closes: DateTime<Utc>,
    },
    /// A ballot that breaks the ballot rules.
    #[error("ballot {ballot} breaks the ballot rules: {source}")]
    Ballot {
        /// The ballot.
        ballot: BallotId,
        /// The broken rule.
        source: BallotError,
    },
    /// A second ballot where the rules refuse it.
    #[error("resident {voter} has already voted (ballot {existing}); a second ballot is refused")]
    AlreadyVoted {
        /// The voter.
        voter: ResidentId,
        /// The ballot already counted.
        existing: BallotId,
    },
    /// A paper ballot entered before the time it says it was cast.
    #[error("ballot {ballot} is entered at {entered_at}, before it was cast at {cast_at}")]
    EnteredBeforeCast {
        /// The ballot.
        ballot: BallotId,
        /// When it was cast.
        cast_at: DateTime<Utc>,
        /// When it was entered.
        entered_at: DateTime<Utc>,
    },
    /// A paper ballot of a batch was refused; the whole batch is refused.
    #[error("paper ballot {index} of the batch was refused: {source}")]
    PaperBallot {
        /// Position in the batch.
        index: usize,
        /// Why.
        source: Box<CycleError>,
    },
    /// A tally whose rule is not the one fixed in step 1.
    #[error("the ballot rules name the counting rule {expected}, not {given}")]
    WrongRule {
        /// The rule fixed in step 1.
        expected: Rule,
        /// The rule given.
        given: Rule,
    },
    /// A rule of one's own, and no tally was passed to count it.
    #[error("the counting rule {rule} is a rule of your own: pass its tally to count")]
    UnknownRule {
        /// The rule.
        rule: Rule,
    },
    /// The tally failed.
    #[error("counting failed: {0}")]
    Tally(#[from] TallyError),
    /// A recorded funding decision that does not match the ballots and rules.
    #[error("the recorded funding decision is inconsistent: {field} does not match")]
    DecisionMismatch {
        /// What does not match.
        field: &'static str,
    },
    /// A recorded ballot whose eligibility verdict was given under other rules
    /// than the cycle's.
    #[error(
        "ballot {ballot} was found eligible under eligibility rules {recorded}, but the cycle's rules are {current}"
    )]
    EligibilityRulesDiffer {
        /// The ballot.
        ballot: BallotId,
        /// The version its verdict names.
        recorded: EligibilityVersion,
        /// The version of the cycle's rules.
        current: EligibilityVersion,
    },
    /// A recorded ballot on a channel its event does not allow.
    #[error("ballot {ballot}: {reason}")]
    InvalidBallotRecord {
        /// The ballot.
        ballot: BallotId,
        /// What is wrong.
        reason: &'static str,
    },
    /// Participation was counted already.
    #[error("participation by group has already been counted for this cycle")]
    ParticipationCounted,
    /// A register that names a resident twice.
    #[error("the register names resident {resident} twice")]
    RegisterResidentTwice {
        /// The resident (as the register names them: a pseudonym when counted
        /// through a repository).
        resident: ResidentId,
    },
    /// A minimum cell size of zero.
    #[error("the minimum cell size for counting participation must be at least 1")]
    ZeroMinCell,
    /// A recorded participation count that breaks the rules of counting.
    #[error("the recorded participation count is invalid: {reason}")]
    InvalidParticipation {
        /// What is wrong.
        reason: String,
    },
}

/// A transition that was refused; the cycle comes back unchanged, like
/// `std::io::IntoInnerError`.
///
/// Boxed, so that a `Result` of a transition stays small.
pub struct TransitionError<C> {
    inner: Box<(C, CycleError)>,
}

impl CycleError {
    /// The error naming `f(resident)` for every resident it names: a
    /// [`crate::store::Repository`] turns the pseudonyms a refusal names back into
    /// the ids its caller sent.
    pub(crate) fn rename_residents(self, f: &dyn Fn(ResidentId) -> ResidentId) -> CycleError {
        match self {
            CycleError::Ineligible { action, source } => CycleError::Ineligible {
                action,
                source: source.rename(f),
            },
            CycleError::ResidentTwice { project, resident } => CycleError::ResidentTwice {
                project,
                resident: f(resident),
            },
            CycleError::AlreadyVoted { voter, existing } => CycleError::AlreadyVoted {
                voter: f(voter),
                existing,
            },
            CycleError::RegisterResidentTwice { resident } => CycleError::RegisterResidentTwice {
                resident: f(resident),
            },
            CycleError::PartNotAllowed { voter, part, why } => CycleError::PartNotAllowed {
                voter: f(voter),
                part,
                why,
            },
            CycleError::PaperBallot { index, source } => CycleError::PaperBallot {
                index,
                source: Box::new(source.rename_residents(f)),
            },
            other => other,
        }
    }
}

impl<C> TransitionError<C> {
    pub(crate) fn new(cycle: C, error: CycleError) -> Self {
        TransitionError {
            inner: Box::new((cycle, error)),
        }
    }

    /// Why the transition was refused.
    pub fn error(&self) -> &CycleError {
        &self.inner.1
    }

    /// The cycle, unchanged.
    pub fn into_cycle(self) -> C {
        self.inner.0
    }

    /// The cycle and the error.
    pub fn into_parts(self) -> (C, CycleError) {
        *self.inner
    }
}

impl<C> fmt::Debug for TransitionError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitionError")
            .field("error", self.error())
            .finish_non_exhaustive()
    }
}

impl<C> fmt::Display for TransitionError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transition refused: {}", self.error())
    }
}

impl<C> std::error::Error for TransitionError<C> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error())
    }
}

impl<C> From<TransitionError<C>> for CycleError {
    fn from(e: TransitionError<C>) -> CycleError {
        e.inner.1
    }
}

/// Why an event stream does not rebuild a cycle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplayError {
    /// No events.
    #[error("the event stream is empty; a cycle's stream starts with cycle_started")]
    Empty,
    /// The first event does not start a cycle, or a later one starts another.
    #[error("event {index} ({event}): a cycle's stream has exactly one cycle_started, first")]
    Start {
        /// Position in the stream.
        index: usize,
        /// The event's kind.
        event: &'static str,
    },
    /// A cycle written under rules this build does not know (a newer build
    /// wrote it).
    #[error(
        "the cycle was written under process rules version {version}; this build knows versions 1 to {known}"
    )]
    RulesTooNew {
        /// The version the log records.
        version: RulesVersion,
        /// The newest this build knows.
        known: RulesVersion,
    },
    /// An event breaks a rule of the process.
    #[error("event {index} ({event}) breaks a rule: {source}")]
    Rejected {
        /// Position in the stream.
        index: usize,
        /// The event's kind.
        event: &'static str,
        /// The rule.
        source: CycleError,
    },
}
