//! The multi-year programme: one district, at least three consecutive annual
//! cycles.
//!
//! The model's first credibility rule is that participatory budgeting **recurs
//! annually for at least three years**. [`Commitment`] makes a shorter commitment
//! a compile error; [`Programme::new`] refuses one at run time, and a stored
//! programme that breaks the rule does not load.
//!
//! ```compile_fail
//! use medborgarbudget::process::Commitment;
//! let two_years = Commitment::<2>::new(); // a programme is at least three years
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::command::{Command, Event};
use super::error::CycleError;
use super::records::{
    Allocation, CouncilDecision, CycleSetup, FundingSource, Lesson, RulesVersion,
};
use super::{AnyCycle, Cycle, Step};
use crate::area::Area;
use crate::area::Resident;
use crate::ids::ProjectId;
use crate::ids::{CycleId, ProgrammeId};
use crate::money::{Currency, Money};
use crate::part::{BudgetPart, PartId};
use crate::project::{DeliveryStatus, HandOver, Milestone, Progress};
use crate::tally::Tally;

/// The fewest years a programme may commit to.
pub const MIN_YEARS: u8 = 3;

mod sealed {
    pub trait AtLeastThreeYears {}
}

/// Implemented for `Commitment<N>` with `N ≥ 3` only.
#[diagnostic::on_unimplemented(
    message = "a programme must commit to at least three years, not {Self}",
    label = "participatory budgeting recurs annually for at least three years",
    note = "use Commitment::<3> or longer; Programme::new refuses shorter commitments at run time"
)]
pub trait AtLeastThreeYears: sealed::AtLeastThreeYears {}

/// A commitment to run a programme for `YEARS` consecutive years, checked at
/// compile time: `Commitment::<2>::new()` does not compile.
///
/// ```
/// use medborgarbudget::process::Commitment;
/// const THREE: Commitment<3> = Commitment::new();
/// assert_eq!(THREE.years(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment<const YEARS: u8>(());

impl<const YEARS: u8> Commitment<YEARS>
where
    Commitment<YEARS>: AtLeastThreeYears,
{
    /// The commitment; exists only for three years or more.
    pub const fn new() -> Self {
        Commitment(())
    }

    /// The number of years.
    pub const fn years(&self) -> u8 {
        YEARS
    }
}

impl<const YEARS: u8> Default for Commitment<YEARS>
where
    Commitment<YEARS>: AtLeastThreeYears,
{
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! commitments {
    ($($n:literal)*) => {
        $(
            impl sealed::AtLeastThreeYears for Commitment<$n> {}
            impl AtLeastThreeYears for Commitment<$n> {}
        )*
    };
}
commitments!(
    3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35
    36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66
    67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97
    98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120
    121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143
    144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159 160 161 162 163 164 165 166
    167 168 169 170 171 172 173 174 175 176 177 178 179 180 181 182 183 184 185 186 187 188 189
    190 191 192 193 194 195 196 197 198 199 200 201 202 203 204 205 206 207 208 209 210 211 212
    213 214 215 216 217 218 219 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235
    236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255
);

/// How a programme is set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProgrammeSetup {
    /// The programme's id.
    pub id: ProgrammeId,
    /// The district.
    pub area: Area,
    /// The currency of every budget.
    pub currency: Currency,
    /// The first year.
    pub first_year: i32,
    /// The committed number of consecutive years (at least three).
    pub years: u8,
    /// The council decision that lets unspent money carry over to the next
    /// year; `None` when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry_over: Option<CouncilDecision>,
    /// When the programme was established.
    pub established_at: DateTime<Utc>,
}

/// Why a programme refused a command or does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgrammeError {
    /// A commitment shorter than three years.
    #[error("a programme must commit to at least {MIN_YEARS} years, not {years}")]
    CommitmentTooShort {
        /// The years given.
        years: u8,
    },
    /// The programme has been concluded.
    #[error("the programme has been concluded")]
    Concluded,
    /// No cycle for this year.
    #[error("the programme has no cycle for {year}")]
    NoCycle {
        /// The year.
        year: i32,
    },
    /// The previous year's cycle has not reached implementation.
    #[error(
        "the cycle of {year} cannot start: the cycle of {previous_year} is in step {previous_step}; it must reach implementation first"
    )]
    PreviousNotAdvanced {
        /// The year that cannot start.
        year: i32,
        /// The previous year.
        previous_year: i32,
        /// Its step.
        previous_step: Step,
    },
    /// A command a cycle refused.
    #[error("cycle of {year}: {source}")]
    Cycle {
        /// The year.
        year: i32,
        /// The cycle's error.
        source: CycleError,
    },
    /// Carry-over credited by hand; only the programme credits it.
    #[error(
        "cycle of {year}: carry-over is credited by the programme when a year ends, not by hand"
    )]
    CarryOverByHand {
        /// The year.
        year: i32,
    },
    /// Concluding while cycles still run.
    #[error("cannot conclude: the cycles of {running:?} are still running")]
    StillRunning {
        /// Years still running.
        running: Vec<i32>,
    },
    /// Concluding before three cycles are closed.
    #[error("cannot conclude: {closed} cycles closed; at least {MIN_YEARS} are required")]
    TooFewClosed {
        /// Closed cycles.
        closed: usize,
    },
    /// Concluding before every committed year has had its cycle.
    #[error("cannot conclude: {cycles} of the {committed} committed years have had a cycle")]
    CommitmentNotServed {
        /// Cycles run.
        cycles: usize,
        /// Years committed.
        committed: u8,
    },
    /// The council decision that lets money carry over lacks a part.
    #[error("the programme's carry-over decision needs {field}")]
    CarryOverDecisionIncomplete {
        /// What is missing (`"the deciding body"`, `"the decision's reference"`).
        field: &'static str,
    },
    /// A cycle id the programme has already used (a retried request).
    #[error("the cycle id {id} cannot start {year}: it is the cycle of {used_by}")]
    DuplicateCycleId {
        /// The id given.
        id: CycleId,
        /// The year the command would start.
        year: i32,
        /// The year whose cycle has this id.
        used_by: i32,
    },
    /// A year that is not the programme's next one.
    #[error("the cycle of {year} cannot start: the programme's next year is {next}")]
    YearOutOfOrder {
        /// The year given.
        year: i32,
        /// The year the next cycle runs.
        next: i32,
    },
    /// Arithmetic on money failed.
    #[error(transparent)]
    Money(#[from] crate::money::MoneyError),
    /// An event stream that does not rebuild the programme: the event, and
    /// (as its source) the rule it breaks.
    #[error("programme event {index} ({event}) does not replay")]
    Replay {
        /// Position in the stream.
        index: usize,
        /// The event's kind.
        event: &'static str,
        /// Why.
        #[source]
        source: Box<ProgrammeError>,
    },
    /// A year written under process rules this build does not know.
    #[error(
        "the cycle of {year} was written under process rules version {version}; this build knows versions 1 to {}",
        RulesVersion::CURRENT
    )]
    RulesTooNew {
        /// The year.
        year: i32,
        /// The version its log records.
        version: RulesVersion,
    },
    /// A stream that does not start with `established`, or has it again.
    #[error("a programme's stream has exactly one established event, its first")]
    EstablishedNotFirst,
    /// Recorded events that are not the ones the rules produce at this point.
    #[error("the recorded events differ from what the rules produce here")]
    RecordedDiffer,
    /// Concluding while projects handed over to the programme are still being
    /// built.
    #[error("cannot conclude: projects still being built: {unfinished:?} (year, project)")]
    DeliveriesUnfinished {
        /// Each one's year and project.
        unfinished: Vec<(i32, ProjectId)>,
    },
    /// No project of this year was handed over to the programme as `project`.
    #[error("no project {project} of {year} is being delivered by the programme")]
    NoDelivery {
        /// The year.
        year: i32,
        /// The project.
        project: ProjectId,
    },
    /// An update to a delivery that is wrong in itself (the cycle's rule it
    /// breaks: an empty reason, a negative amount, completion without a
    /// co-creator, …).
    #[error("delivery of project {project} of {year}: {source}")]
    Delivery {
        /// The year.
        year: i32,
        /// The project.
        project: ProjectId,
        /// Why.
        source: Box<CycleError>,
    },
    /// An update dated before the delivery's last record.
    #[error(
        "delivery of project {project} of {year}: an update at {at} is before its last record at {last}"
    )]
    DeliveryOutOfOrder {
        /// The year.
        year: i32,
        /// The project.
        project: ProjectId,
        /// The update's time.
        at: DateTime<Utc>,
        /// The last record's time.
        last: DateTime<Utc>,
    },
}

/// A request to a programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgrammeCommand {
    /// Start the next year's cycle.
    StartCycle {
        /// The new cycle's id: never one the programme has used.
        id: CycleId,
        /// The year it runs: the programme's next year
        /// ([`Programme::next_year`]), so that a retried request cannot start
        /// the year after.
        year: i32,
        /// When.
        at: DateTime<Utc>,
    },
    /// A command to one year's cycle.
    Cycle {
        /// The year.
        year: i32,
        /// The command.
        command: Command,
    },
    /// An update to a project a year handed over to the programme.
    Delivery {
        /// The year whose project it is.
        year: i32,
        /// The project.
        project: ProjectId,
        /// The update.
        update: DeliveryUpdate,
    },
    /// Conclude the programme.
    Conclude {
        /// When.
        at: DateTime<Utc>,
    },
}

/// What happens to a project a year handed over to the programme
/// ([`Command::HandOver`]), recorded in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryUpdate {
    /// A milestone reached.
    Milestone {
        /// The milestone.
        milestone: Milestone,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// Progress.
    Progress {
        /// How far along it is.
        progress: Progress,
        /// When.
        at: DateTime<Utc>,
    },
    /// A resident who co-creates it.
    CoCreator {
        /// The resident.
        resident: Resident,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new planned completion.
    RevisePlan {
        /// The day it is now planned for.
        planned_completion: NaiveDate,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new cost estimate.
    ReviseCost {
        /// The new estimate.
        estimate: Money,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Completed at its final cost (a co-creator must be on the record).
    Complete {
        /// What it cost.
        final_cost: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// Cancelled.
    Cancel {
        /// Why.
        reason: String,
        /// Money spent before cancelling.
        spent: Money,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DeliveryUpdate {
    /// When it was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            DeliveryUpdate::Milestone { at, .. }
            | DeliveryUpdate::Progress { at, .. }
            | DeliveryUpdate::CoCreator { at, .. }
            | DeliveryUpdate::RevisePlan { at, .. }
            | DeliveryUpdate::ReviseCost { at, .. }
            | DeliveryUpdate::Complete { at, .. }
            | DeliveryUpdate::Cancel { at, .. } => *at,
        }
    }

    /// The update's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryUpdate::Milestone { .. } => "milestone",
            DeliveryUpdate::Progress { .. } => "progress",
            DeliveryUpdate::CoCreator { .. } => "co_creator",
            DeliveryUpdate::RevisePlan { .. } => "revise_plan",
            DeliveryUpdate::ReviseCost { .. } => "revise_cost",
            DeliveryUpdate::Complete { .. } => "complete",
            DeliveryUpdate::Cancel { .. } => "cancel",
        }
    }
}

/// A project a year handed over to the programme while it was still being
/// built, and everything recorded about it since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OngoingDelivery {
    /// The year whose project it is.
    pub year: i32,
    /// The project.
    pub project: ProjectId,
    /// Its title.
    pub title: String,
    /// The hand-over: the plan and reason as first recorded.
    pub handed_over: HandOver,
    /// The planned completion now (the hand-over's, or the last revision's).
    pub planned_completion: NaiveDate,
    /// The cost estimate now (the shortlist's, or the last revision's).
    pub estimate: Money,
    /// What the year held back for it when it ended (its estimate then):
    /// once it is finished, what of this it did not spend carries over like
    /// any unspent money.
    pub committed: Money,
    /// The budget part it belongs to, in a cycle of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<PartId>,
    /// Milestones, the cycle's and the programme's.
    pub milestones: Vec<Milestone>,
    /// Latest progress.
    pub progress: Progress,
    /// Residents who co-create it, the cycle's and the programme's.
    pub co_creators: Vec<Resident>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every update since the hand-over, in order: its status history.
    pub history: Vec<DeliveryUpdate>,
}

impl OngoingDelivery {
    /// Money spent on it: the final cost, the amount spent before cancelling,
    /// or nothing while it is being built.
    pub fn spent(&self) -> Option<Money> {
        match &self.status {
            DeliveryStatus::InProgress => None,
            DeliveryStatus::Completed { final_cost, .. } => Some(*final_cost),
            DeliveryStatus::Cancelled { spent, .. } => Some(*spent),
        }
    }

    /// Whether it is completed or cancelled.
    pub fn is_finished(&self) -> bool {
        !matches!(self.status, DeliveryStatus::InProgress)
    }

    fn last_recorded(&self) -> DateTime<Utc> {
        self.history
            .last()
            .map_or(self.handed_over.at, DeliveryUpdate::at)
    }

    /// Applies `update` after checking it; nothing changes when it is refused.
    fn update(&mut self, update: DeliveryUpdate) -> Result<(), ProgrammeError> {
        let (year, project) = (self.year, self.project);
        let refuse = |source| ProgrammeError::Delivery {
            year,
            project,
            source: Box::new(source),
        };
        if self.is_finished() {
            return Err(refuse(CycleError::AlreadyFinished { project }));
        }
        let last = self.last_recorded();
        if update.at() < last {
            return Err(ProgrammeError::DeliveryOutOfOrder {
                year,
                project,
                at: update.at(),
                last,
            });
        }
        let currency = self.estimate.currency();
        let amount = |what: &'static str, m: Money| {
            if m.currency() != currency {
                Err(refuse(CycleError::WrongCurrency {
                    what,
                    expected: currency,
                    found: m.currency(),
                }))
            } else if m.is_negative() {
                Err(refuse(CycleError::Negative { what, amount: m }))
            } else {
                Ok(())
            }
        };
        let text = |field: &'static str, t: &str| {
            if t.trim().is_empty() {
                Err(refuse(CycleError::EmptyText { field }))
            } else {
                Ok(())
            }
        };
        match &update {
            DeliveryUpdate::Milestone { milestone, .. } => {
                text("the milestone's title", &milestone.title)?;
                self.milestones.push(milestone.clone());
            }
            DeliveryUpdate::Progress { progress, .. } => self.progress = *progress,
            DeliveryUpdate::CoCreator { resident, .. } => {
                if self.co_creators.iter().any(|r| r.id() == resident.id()) {
                    return Err(refuse(CycleError::ResidentTwice {
                        project,
                        resident: resident.id(),
                    }));
                }
                self.co_creators.push(resident.clone());
            }
            DeliveryUpdate::RevisePlan {
                planned_completion,
                reason,
                at,
            } => {
                text("the reason for the new plan", reason)?;
                if *planned_completion < at.date_naive() {
                    return Err(refuse(CycleError::PlannedInThePast {
                        project,
                        planned: *planned_completion,
                        at: *at,
                    }));
                }
                self.planned_completion = *planned_completion;
            }
            DeliveryUpdate::ReviseCost {
                estimate, reason, ..
            } => {
                text("the reason for the new estimate", reason)?;
                amount("a cost estimate", *estimate)?;
                self.estimate = *estimate;
            }
            DeliveryUpdate::Complete { final_cost, at } => {
                amount("a final cost", *final_cost)?;
                if self.co_creators.is_empty() {
                    return Err(refuse(CycleError::NoCoCreators { project }));
                }
                self.progress = Progress::new(100).map_err(|e| refuse(e.into()))?;
                self.status = DeliveryStatus::Completed {
                    at: *at,
                    final_cost: *final_cost,
                };
            }
            DeliveryUpdate::Cancel { reason, spent, at } => {
                text("the reason for cancelling", reason)?;
                amount("an amount spent", *spent)?;
                self.status = DeliveryStatus::Cancelled {
                    at: *at,
                    reason: reason.clone(),
                    spent: *spent,
                };
            }
        }
        self.history.push(update);
        Ok(())
    }
}

/// Something a programme accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgrammeEvent {
    /// The programme was established.
    Established(ProgrammeSetup),
    /// An event of one year's cycle.
    Cycle {
        /// The year.
        year: i32,
        /// The cycle's event.
        event: Event,
    },
    /// An update to a project a year handed over to the programme.
    Delivery {
        /// The year whose project it is.
        year: i32,
        /// The project.
        project: ProjectId,
        /// The update.
        update: DeliveryUpdate,
    },
    /// The programme was concluded.
    Concluded(CredibilityReport),
}

impl ProgrammeCommand {
    /// The command's name, for messages: a year's command is named by its
    /// cycle command (`cast_ballot`).
    pub fn name(&self) -> &'static str {
        match self {
            ProgrammeCommand::StartCycle { .. } => "start_cycle",
            ProgrammeCommand::Cycle { command, .. } => command.name(),
            ProgrammeCommand::Delivery { .. } => "delivery",
            ProgrammeCommand::Conclude { .. } => "conclude",
        }
    }
}

impl ProgrammeEvent {
    /// The event's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ProgrammeEvent::Established(_) => "established",
            ProgrammeEvent::Cycle { event, .. } => event.name(),
            ProgrammeEvent::Delivery { .. } => "delivery",
            ProgrammeEvent::Concluded(_) => "concluded",
        }
    }
}

/// Money left unspent by a year that ended, and where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CarryOver {
    /// The year that left it.
    pub from_year: i32,
    /// The amount.
    pub amount: Money,
    /// The year it was credited to, or `None` while waiting for a cycle that can
    /// still receive money.
    pub credited_to: Option<i32>,
    /// The budget part it was left by and goes to, in a cycle of several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartId>,
}

/// One year in the credibility report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct YearReport {
    /// The year.
    pub year: i32,
    /// The cycle.
    pub cycle: CycleId,
    /// `Closed` or `Abandoned`.
    pub outcome: Step,
    /// For an abandoned year: the step it was abandoned in and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<(Step, String)>,
    /// Money set aside: council allocation plus additions.
    pub set_aside: Money,
    /// Of which carried over from earlier years.
    pub carried_in: Money,
    /// Money spent on funded projects.
    pub spent: Money,
    /// Money left unspent (never below zero).
    pub unspent: Money,
    /// Ideas submitted.
    pub ideas: usize,
    /// Ballots counted.
    pub ballots: usize,
    /// Projects funded.
    pub funded: usize,
    /// Funded projects completed.
    pub completed: usize,
    /// Funded projects cancelled.
    pub cancelled: usize,
    /// Of the completed and cancelled, those finished after the year, by
    /// the programme (handed over in step 6).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub finished_later: usize,
    /// Distinct residents who co-created projects (step 4 and 6).
    pub co_creators: usize,
}

/// What a concluded programme reports about its credibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CredibilityReport {
    /// The programme.
    pub programme: ProgrammeId,
    /// Years committed.
    pub committed_years: u8,
    /// Each year's figures.
    pub years: Vec<YearReport>,
    /// Years whose cycle closed.
    pub years_run: usize,
    /// Years whose cycle was abandoned.
    pub years_abandoned: usize,
    /// Total money set aside by council decisions (carry-over not counted twice).
    pub total_set_aside: Money,
    /// Total spent.
    pub total_spent: Money,
    /// Unspent money carried over between years.
    pub total_carried_over: Money,
    /// Unspent money no later year received.
    pub left_at_end: Money,
    /// Credible: every committed year ran and closed, none was abandoned.
    pub credible: bool,
    /// When it was concluded.
    pub concluded_at: DateTime<Utc>,
}

/// One district's programme of annual cycles.
///
/// Serialised as a read model (for display and reports); a programme is stored
/// as its events and loaded by [`Programme::replay`] or
/// [`Programme::from_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Programme {
    setup: ProgrammeSetup,
    cycles: Vec<AnyCycle>,
    carry: Vec<CarryOver>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deliveries: Vec<OngoingDelivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    concluded: Option<CredibilityReport>,
}

impl ProgrammeError {
    /// The error naming `f(resident)` for every resident it names (see
    /// [`CycleError`]'s counterpart).
    pub(crate) fn rename_residents(
        self,
        f: &dyn Fn(crate::ids::ResidentId) -> crate::ids::ResidentId,
    ) -> ProgrammeError {
        match self {
            ProgrammeError::Cycle { year, source } => ProgrammeError::Cycle {
                year,
                source: source.rename_residents(f),
            },
            other => other,
        }
    }
}

fn cycle_err(year: i32) -> impl Fn(CycleError) -> ProgrammeError {
    move |source| ProgrammeError::Cycle { year, source }
}

impl Programme {
    /// Establishes a programme; `setup.years` must be at least three, and a
    /// carry-over decision must name its deciding body and reference (it is
    /// checked here, not first when a year ends with money left).
    ///
    /// # Errors
    /// [`ProgrammeError::CommitmentTooShort`] or
    /// [`ProgrammeError::CarryOverDecisionIncomplete`].
    pub fn new(setup: ProgrammeSetup) -> Result<Programme, ProgrammeError> {
        if setup.years < MIN_YEARS {
            return Err(ProgrammeError::CommitmentTooShort { years: setup.years });
        }
        if let Some(field) = setup.carry_over.as_ref().and_then(CouncilDecision::missing) {
            return Err(ProgrammeError::CarryOverDecisionIncomplete { field });
        }
        Ok(Programme {
            setup,
            cycles: Vec::new(),
            carry: Vec::new(),
            deliveries: Vec::new(),
            concluded: None,
        })
    }

    /// Establishes a programme with a commitment checked at compile time; the
    /// years in `setup` are replaced by the commitment's.
    ///
    /// # Errors
    /// [`ProgrammeError::CarryOverDecisionIncomplete`].
    pub fn committed<const YEARS: u8>(
        _: Commitment<YEARS>,
        mut setup: ProgrammeSetup,
    ) -> Result<Programme, ProgrammeError>
    where
        Commitment<YEARS>: AtLeastThreeYears,
    {
        setup.years = YEARS;
        Programme::new(setup)
    }

    /// The programme's id.
    pub fn id(&self) -> ProgrammeId {
        self.setup.id
    }

    /// How it was set up.
    pub fn setup(&self) -> &ProgrammeSetup {
        &self.setup
    }

    /// The cycles, one per year from the first year.
    pub fn cycles(&self) -> &[AnyCycle] {
        &self.cycles
    }

    /// The cycle of `year`.
    pub fn cycle(&self, year: i32) -> Option<&AnyCycle> {
        let i = usize::try_from(year.checked_sub(self.setup.first_year)?).ok()?;
        self.cycles.get(i)
    }

    fn cycle_index(&self, year: i32) -> Result<usize, ProgrammeError> {
        year.checked_sub(self.setup.first_year)
            .and_then(|d| usize::try_from(d).ok())
            .filter(|i| *i < self.cycles.len())
            .ok_or(ProgrammeError::NoCycle { year })
    }

    /// Projects years handed over to the programme while still being built,
    /// finished or not, in the order handed over.
    pub fn deliveries(&self) -> &[OngoingDelivery] {
        &self.deliveries
    }

    /// Carry-over between years so far.
    pub fn carry_over(&self) -> &[CarryOver] {
        &self.carry
    }

    /// The report, once concluded.
    pub fn report(&self) -> Option<&CredibilityReport> {
        self.concluded.as_ref()
    }

    /// The year the next cycle would run.
    pub fn next_year(&self) -> i32 {
        self.setup.first_year + i32::try_from(self.cycles.len()).unwrap_or(i32::MAX)
    }

    /// Lessons of the cycles closed so far for years before `year`, available
    /// to that year's criteria step.
    pub fn lessons_for(&self, year: i32) -> Vec<Lesson> {
        self.cycles
            .iter()
            .filter(|c| c.year() < year)
            .filter_map(|c| c.evaluation().map(|e| (c.year(), e)))
            .flat_map(|(y, e)| {
                e.lessons.iter().map(move |text| Lesson {
                    year: y,
                    text: text.clone(),
                })
            })
            .collect()
    }

    /// Applies a command and returns the events it produced (including what the
    /// programme does in consequence: lessons and carry-over passed on when a
    /// year ends). A refused command changes nothing. A command that can reach
    /// beyond one cycle — starting a year, closing or abandoning one (lessons
    /// and carry-over pass on), concluding — is [`Programme::decide`] then
    /// [`Programme::evolve`]: decided on a copy, and only its accepted events
    /// change the programme. A command to one cycle that cannot end its year is
    /// applied to that cycle in place, whose own `apply` refuses before it
    /// changes anything; it gives the same events without copying the
    /// programme per command.
    ///
    /// # Errors
    /// The rule the command breaks.
    pub fn apply(
        &mut self,
        command: ProgrammeCommand,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        self.apply_inner(command, None)
    }

    /// Like [`Programme::apply`], counting votes with `tally`.
    ///
    /// # Errors
    /// The rule the command breaks.
    pub fn apply_with_tally(
        &mut self,
        command: ProgrammeCommand,
        tally: &dyn Tally,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        self.apply_inner(command, Some(tally))
    }

    fn apply_inner(
        &mut self,
        command: ProgrammeCommand,
        tally: Option<&dyn Tally>,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        if let ProgrammeCommand::Cycle { command: c, .. } = &command
            && !c.may_end_the_year()
        {
            // A command to one cycle that cannot end its year has no
            // consequence beyond that cycle, whose own `apply` changes nothing
            // when it refuses (its typed methods check before they change
            // anything). Running it in place gives what deciding on a copy and
            // evolving would, without copying the programme per command.
            return self.execute(command, tally);
        }
        let events = self.decide_inner(&command, tally)?;
        self.evolve_slice(&events, 0)?;
        Ok(events)
    }

    /// Runs a command on this programme, changing it as it goes. For a command
    /// that ends a year, starts one or concludes, a refusal may leave it
    /// half-changed, so those only run through [`Programme::decide_inner`]
    /// (on a copy) and [`Programme::evolve_slice`] (on events already decided)
    /// call it.
    fn execute(
        &mut self,
        command: ProgrammeCommand,
        tally: Option<&dyn Tally>,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        if self.concluded.is_some() {
            return Err(ProgrammeError::Concluded);
        }
        match command {
            ProgrammeCommand::StartCycle { id, year, at } => {
                self.start_cycle(id, year, at, RulesVersion::CURRENT)
            }
            ProgrammeCommand::Cycle { year, command } => {
                if let Command::AddFunds(Allocation {
                    source: FundingSource::CarryOver { .. },
                    ..
                }) = command
                {
                    return Err(ProgrammeError::CarryOverByHand { year });
                }
                let i = self.cycle_index(year)?;
                let cycle = &mut self.cycles[i];
                let events = match tally {
                    Some(t) => cycle.apply_with_tally(command, t),
                    None => cycle.apply(command),
                }
                .map_err(cycle_err(year))?;
                let mut out: Vec<ProgrammeEvent> = events
                    .into_iter()
                    .map(|event| ProgrammeEvent::Cycle { year, event })
                    .collect();
                if self.cycles[i].has_ended() {
                    out.extend(self.year_ended(i)?);
                }
                Ok(out)
            }
            ProgrammeCommand::Delivery {
                year,
                project,
                update,
            } => {
                let delivery = self
                    .deliveries
                    .iter_mut()
                    .find(|d| d.year == year && d.project == project)
                    .ok_or(ProgrammeError::NoDelivery { year, project })?;
                delivery.update(update.clone())?;
                let mut out = vec![ProgrammeEvent::Delivery {
                    year,
                    project,
                    update,
                }];
                // Finished: what the year held back and it did not spend
                // carries over, as unspent money does when a year ends.
                if let Some(spent) = delivery.spent() {
                    let left = delivery.committed.checked_sub(spent)?;
                    // A year that counted its parts together carries one sum.
                    let together = self.cycles.iter().any(|c| {
                        c.year() == year && c.framework().is_some_and(|f| f.rules.parts_together())
                    });
                    let part = delivery.part.clone().filter(|_| !together);
                    if left.is_positive() {
                        // To the newest year, if it still takes money.
                        let newest = self.cycles.len().saturating_sub(1);
                        out.extend(self.carry(year, left, part, newest)?);
                    }
                }
                Ok(out)
            }
            ProgrammeCommand::Conclude { at } => {
                let report = self.credibility(at)?;
                self.concluded = Some(report.clone());
                Ok(vec![ProgrammeEvent::Concluded(report)])
            }
        }
    }

    /// Money `from_year` leaves unspent, carried over (if the programme
    /// lets money carry over): credited to the cycle at index `to` if it
    /// still takes money and is a later year, or kept for the next year to
    /// start.
    fn carry(
        &mut self,
        from_year: i32,
        amount: Money,
        part: Option<PartId>,
        to: usize,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        let Some(allocation) = self.carry_allocation(from_year, amount, part.clone()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut credited_to = None;
        if let Some(newest) = self.cycles.get_mut(to)
            && newest.step() <= Step::Shortlisting
            && newest.year() > from_year
        {
            let y = newest.year();
            let events = newest
                .apply(Command::AddFunds(allocation))
                .map_err(cycle_err(y))?;
            out.extend(
                events
                    .into_iter()
                    .map(|event| ProgrammeEvent::Cycle { year: y, event }),
            );
            credited_to = Some(y);
        }
        self.carry.push(CarryOver {
            from_year,
            amount,
            credited_to,
            part,
        });
        Ok(out)
    }

    fn carry_allocation(
        &self,
        from_year: i32,
        amount: Money,
        part: Option<PartId>,
    ) -> Option<Allocation> {
        self.setup.carry_over.as_ref().map(|decision| Allocation {
            part,
            amount,
            decision: decision.clone(),
            source: FundingSource::CarryOver { from_year },
        })
    }

    fn start_cycle(
        &mut self,
        id: CycleId,
        year: i32,
        at: DateTime<Utc>,
        rules_version: RulesVersion,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        if !rules_version.is_known() {
            return Err(ProgrammeError::RulesTooNew {
                year,
                version: rules_version,
            });
        }
        let next = self.next_year();
        if year != next {
            return Err(ProgrammeError::YearOutOfOrder { year, next });
        }
        if let Some(used) = self.cycles.iter().find(|c| c.id() == id) {
            return Err(ProgrammeError::DuplicateCycleId {
                id,
                year,
                used_by: used.year(),
            });
        }
        if let Some(previous) = self.cycles.last()
            && previous.step() < Step::Implementation
        {
            return Err(ProgrammeError::PreviousNotAdvanced {
                year,
                previous_year: previous.year(),
                previous_step: previous.step(),
            });
        }
        let setup = CycleSetup {
            id,
            programme: Some(self.setup.id),
            year,
            area: self.setup.area.clone(),
            currency: self.setup.currency,
            started_at: at,
            rules_version,
        };
        let mut cycle = AnyCycle::Criteria(Cycle::new(setup.clone()));
        let mut events = vec![Event::CycleStarted(setup)];
        let lessons = self.lessons_for(year);
        if !lessons.is_empty() {
            events.extend(
                cycle
                    .apply(Command::ReceiveLessons { lessons })
                    .map_err(cycle_err(year))?,
            );
        }
        let mut credited = Vec::new();
        for (k, c) in self
            .carry
            .iter()
            .enumerate()
            .filter(|(_, c)| c.credited_to.is_none())
        {
            if let Some(allocation) = self.carry_allocation(c.from_year, c.amount, c.part.clone()) {
                events.extend(
                    cycle
                        .apply(Command::AddFunds(allocation))
                        .map_err(cycle_err(year))?,
                );
                credited.push(k);
            }
        }
        for k in credited {
            if let Some(c) = self.carry.get_mut(k) {
                c.credited_to = Some(year);
            }
        }
        self.cycles.push(cycle);
        Ok(events
            .into_iter()
            .map(|event| ProgrammeEvent::Cycle { year, event })
            .collect())
    }

    /// What happens when the cycle at index `i` ends: its unspent money carries
    /// over, its lessons go to later cycles still in step 1.
    fn year_ended(&mut self, i: usize) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        let ended = &self.cycles[i];
        let year = ended.year();
        let mut out = Vec::new();
        let lessons: Vec<Lesson> = ended
            .evaluation()
            .map(|e| {
                e.lessons
                    .iter()
                    .map(|text| Lesson {
                        year,
                        text: text.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unspent = unspent_by_part(ended).map_err(cycle_err(year))?;
        // Projects still being built that the year handed over.
        for p in ended.projects() {
            if let Some(d) = p.delivery()
                && let Some(hand_over) = &d.handed_over
                && !d.is_finished()
            {
                let estimate = p.cost().ok_or(ProgrammeError::Cycle {
                    year,
                    source: CycleError::UnknownProject { project: p.id() },
                })?;
                self.deliveries.push(OngoingDelivery {
                    year,
                    project: p.id(),
                    title: p.title().to_owned(),
                    handed_over: hand_over.clone(),
                    planned_completion: hand_over.planned_completion,
                    estimate,
                    committed: estimate,
                    part: p.proposal().part.clone(),
                    milestones: d.milestones.clone(),
                    progress: d.progress,
                    co_creators: d.co_creators.clone(),
                    status: DeliveryStatus::InProgress,
                    history: Vec::new(),
                });
            }
        }
        if !lessons.is_empty() {
            for later in self.cycles.iter_mut().skip(i + 1) {
                if later.step() == Step::Criteria {
                    let y = later.year();
                    let events = later
                        .apply(Command::ReceiveLessons {
                            lessons: lessons.clone(),
                        })
                        .map_err(cycle_err(y))?;
                    out.extend(
                        events
                            .into_iter()
                            .map(|event| ProgrammeEvent::Cycle { year: y, event }),
                    );
                }
            }
        }
        // Each part's unspent money goes to the next year while it still
        // takes money.
        for (part, unspent) in unspent.into_iter().filter(|(_, m)| m.is_positive()) {
            out.extend(self.carry(year, unspent, part, i + 1)?);
        }
        Ok(out)
    }

    fn credibility(&self, at: DateTime<Utc>) -> Result<CredibilityReport, ProgrammeError> {
        let running: Vec<i32> = self
            .cycles
            .iter()
            .filter(|c| !c.has_ended())
            .map(AnyCycle::year)
            .collect();
        if !running.is_empty() {
            return Err(ProgrammeError::StillRunning { running });
        }
        let unfinished: Vec<(i32, ProjectId)> = self
            .deliveries
            .iter()
            .filter(|d| !d.is_finished())
            .map(|d| (d.year, d.project))
            .collect();
        if !unfinished.is_empty() {
            return Err(ProgrammeError::DeliveriesUnfinished { unfinished });
        }
        let closed = self
            .cycles
            .iter()
            .filter(|c| c.step() == Step::Closed)
            .count();
        if closed < usize::from(MIN_YEARS) {
            return Err(ProgrammeError::TooFewClosed { closed });
        }
        if self.cycles.len() < usize::from(self.setup.years) {
            return Err(ProgrammeError::CommitmentNotServed {
                cycles: self.cycles.len(),
                committed: self.setup.years,
            });
        }
        let currency = self.setup.currency;
        let mut years = Vec::with_capacity(self.cycles.len());
        for c in &self.cycles {
            years.push(year_report(c, &self.deliveries).map_err(cycle_err(c.year()))?);
        }
        let sum = |f: &dyn Fn(&YearReport) -> Money| Money::sum(currency, years.iter().map(f));
        let total_carried_over = Money::sum(
            currency,
            self.carry
                .iter()
                .filter(|c| c.credited_to.is_some())
                .map(|c| c.amount),
        )?;
        let left_at_end = Money::sum(
            currency,
            self.carry
                .iter()
                .filter(|c| c.credited_to.is_none())
                .map(|c| c.amount),
        )?;
        let years_abandoned = years
            .iter()
            .filter(|y| y.outcome == Step::Abandoned)
            .count();
        Ok(CredibilityReport {
            programme: self.setup.id,
            committed_years: self.setup.years,
            years_run: closed,
            years_abandoned,
            total_set_aside: sum(&|y| y.set_aside)?.checked_sub(sum(&|y| y.carried_in)?)?,
            total_spent: sum(&|y| y.spent)?,
            total_carried_over,
            left_at_end,
            credible: years_abandoned == 0 && closed >= usize::from(self.setup.years),
            concluded_at: at,
            years,
        })
    }

    /// Concludes the programme: every cycle ended, at least three closed, every
    /// committed year served.
    ///
    /// # Errors
    /// Running cycles, fewer than three closed, or years not yet served.
    pub fn conclude(&mut self, at: DateTime<Utc>) -> Result<CredibilityReport, ProgrammeError> {
        let report = self.credibility(at)?;
        if self.concluded.is_some() {
            return Err(ProgrammeError::Concluded);
        }
        self.concluded = Some(report.clone());
        Ok(report)
    }

    /// Rebuilds a programme from its events, checking every rule, and that each
    /// consequence the programme derives (lessons, carry-over) is the one
    /// recorded.
    ///
    /// # Errors
    /// [`ProgrammeError::Replay`] naming the event's position.
    pub fn replay<I>(events: I) -> Result<Programme, ProgrammeError>
    where
        I: IntoIterator<Item = ProgrammeEvent>,
    {
        let mut events = events.into_iter();
        let mut programme = match events.next() {
            Some(ProgrammeEvent::Established(setup)) => {
                Programme::new(setup).map_err(|e| ProgrammeError::Replay {
                    index: 0,
                    event: "established",
                    source: Box::new(e),
                })?
            }
            other => {
                return Err(ProgrammeError::Replay {
                    index: 0,
                    event: other.as_ref().map_or("end of stream", ProgrammeEvent::name),
                    source: Box::new(ProgrammeError::EstablishedNotFirst),
                });
            }
        };
        programme.evolve(events.collect(), 1)?;
        Ok(programme)
    }

    /// Applies recorded events (after `established`) through the same rules; each
    /// command's events are recognised as a group, the consequences the programme
    /// derives must be the ones recorded. `offset` is the position of the first
    /// event in its stream, for messages.
    ///
    /// # Errors
    /// [`ProgrammeError::Replay`] naming the event's position.
    pub fn evolve(
        &mut self,
        events: Vec<ProgrammeEvent>,
        offset: usize,
    ) -> Result<(), ProgrammeError> {
        self.evolve_slice(&events, offset)
    }

    fn evolve_slice(
        &mut self,
        events: &[ProgrammeEvent],
        offset: usize,
    ) -> Result<(), ProgrammeError> {
        let replay_err = |i: usize, source: ProgrammeError| ProgrammeError::Replay {
            index: offset + i,
            event: events.get(i).map_or("end of stream", ProgrammeEvent::name),
            source: Box::new(source),
        };
        let mut i = 0;
        while let Some(event) = events.get(i) {
            let produced =
                match event {
                    ProgrammeEvent::Established(_) => {
                        return Err(replay_err(i, ProgrammeError::EstablishedNotFirst));
                    }
                    ProgrammeEvent::Cycle {
                        event: Event::CycleStarted(setup),
                        ..
                    } if self.concluded.is_none() => self.start_cycle(
                        setup.id,
                        setup.year,
                        setup.started_at,
                        setup.rules_version,
                    ),
                    ProgrammeEvent::Cycle {
                        event: Event::CycleStarted(_),
                        ..
                    } => Err(ProgrammeError::Concluded),
                    ProgrammeEvent::Cycle {
                        year,
                        event: Event::Accepted(command),
                    } => self.execute(
                        ProgrammeCommand::Cycle {
                            year: *year,
                            command: command.clone(),
                        },
                        None,
                    ),
                    ProgrammeEvent::Cycle {
                        year,
                        event:
                            Event::VotingClosed(_)
                            | Event::BallotCast(_)
                            | Event::ParticipationCounted(_),
                    } => self.replay_cycle_event(*year, event),
                    ProgrammeEvent::Delivery {
                        year,
                        project,
                        update,
                    } => self.execute(
                        ProgrammeCommand::Delivery {
                            year: *year,
                            project: *project,
                            update: update.clone(),
                        },
                        None,
                    ),
                    ProgrammeEvent::Concluded(report) => self.execute(
                        ProgrammeCommand::Conclude {
                            at: report.concluded_at,
                        },
                        None,
                    ),
                }
                .map_err(|e| replay_err(i, e))?;
            let recorded = events.get(i..i + produced.len());
            if recorded != Some(produced.as_slice()) {
                return Err(replay_err(i, ProgrammeError::RecordedDiffer));
            }
            i += produced.len().max(1);
        }
        Ok(())
    }

    /// The events `command` would produce, without changing the programme (the
    /// "decide" half of [`Programme::apply`]). Ballots are checked in place;
    /// other commands run on a copy without ballots, except counting, closing
    /// with follow-up metrics and concluding, which read them.
    ///
    /// # Errors
    /// What `apply` would refuse.
    pub fn decide(
        &self,
        command: &ProgrammeCommand,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        self.decide_inner(command, None)
    }

    fn decide_inner(
        &self,
        command: &ProgrammeCommand,
        tally: Option<&dyn Tally>,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        if self.concluded.is_some() {
            return Err(ProgrammeError::Concluded);
        }
        let keep = match command {
            ProgrammeCommand::Cycle {
                year,
                command: ballot @ (Command::CastBallot(_) | Command::EnterPaperBallots(_)),
            } => {
                let i = self.cycle_index(*year)?;
                let events = self.cycles[i].decide(ballot).map_err(cycle_err(*year))?;
                return Ok(events
                    .into_iter()
                    .map(|event| ProgrammeEvent::Cycle { year: *year, event })
                    .collect());
            }
            ProgrammeCommand::Cycle {
                year,
                command: Command::CloseVoting { .. } | Command::CountParticipation(_),
            } => Some(*year),
            ProgrammeCommand::Conclude { .. } => {
                return self.clone().execute(command.clone(), None);
            }
            _ => None,
        };
        let mut scratch = Programme {
            setup: self.setup.clone(),
            cycles: self
                .cycles
                .iter()
                .map(|c| {
                    if Some(c.year()) == keep {
                        c.clone()
                    } else {
                        c.without_ballots()
                    }
                })
                .collect(),
            carry: self.carry.clone(),
            deliveries: self.deliveries.clone(),
            concluded: None,
        };
        scratch.execute(command.clone(), tally)
    }

    fn replay_cycle_event(
        &mut self,
        year: i32,
        event: &ProgrammeEvent,
    ) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        let ProgrammeEvent::Cycle { event: inner, .. } = event else {
            return Ok(Vec::new());
        };
        let i = self.cycle_index(year)?;
        self.cycles[i]
            .apply_event(inner.clone())
            .map_err(cycle_err(year))?;
        Ok(vec![event.clone()])
    }
}

/// Money a cycle leaves unspent: what its parts leave ([`unspent_by_part`]).
fn unspent(cycle: &AnyCycle) -> Result<Money, CycleError> {
    Ok(Money::sum(
        cycle.setup().currency,
        unspent_by_part(cycle)?.into_iter().map(|(_, m)| m),
    )?)
}

/// Money each budget part of a cycle leaves unspent (one entry, `None`, for
/// a cycle of one budget or of parts counted together): its money minus what its projects spent and the
/// estimates of its projects handed over still being built, never below
/// zero.
fn unspent_by_part(cycle: &AnyCycle) -> Result<Vec<(Option<PartId>, Money)>, CycleError> {
    let currency = cycle.setup().currency;
    let parts: &[BudgetPart] = cycle.framework().map_or(&[], |f| &f.parts);
    // What a part's projects spent or still hold.
    let used = |part: Option<&PartId>| -> Result<Money, CycleError> {
        let mut amounts = Vec::new();
        for p in cycle
            .projects()
            .iter()
            .filter(|p| part.is_none() || p.proposal().part.as_ref() == part)
        {
            match p.delivery() {
                Some(d) if d.is_finished() => amounts.extend(d.spent()),
                Some(d) if d.handed_over.is_some() => amounts.extend(p.cost()),
                _ => {}
            }
        }
        Ok(Money::sum(currency, amounts)?)
    };
    let floor = |m: Money| {
        if m.is_negative() {
            Money::zero(currency)
        } else {
            m
        }
    };
    // One budget, or parts counted together (their money was spent as one):
    // one sum, which a later year's parts receive where money naming no part
    // goes.
    let together = cycle.framework().is_some_and(|f| f.rules.parts_together());
    if parts.is_empty() || together {
        return Ok(vec![(
            None,
            floor(cycle.budget()?.checked_sub(used(None)?)?),
        )]);
    }
    let mut out = Vec::with_capacity(parts.len());
    for (part, money) in cycle.core().part_money(parts)? {
        let left = money.checked_sub(used(Some(&part.id))?)?;
        out.push((Some(part.id), floor(left)));
    }
    Ok(out)
}

fn year_report(c: &AnyCycle, deliveries: &[OngoingDelivery]) -> Result<YearReport, CycleError> {
    let core = c.core();
    let later: Vec<&OngoingDelivery> = deliveries
        .iter()
        .filter(|d| d.year == core.setup.year)
        .collect();
    let later_status =
        |s: fn(&DeliveryStatus) -> bool| later.iter().filter(|d| s(&d.status)).count();
    let spent_later = Money::sum(core.setup.currency, later.iter().filter_map(|d| d.spent()))?;
    let currency = core.setup.currency;
    let carried_in = Money::sum(
        currency,
        core.additions
            .iter()
            .filter(|a| matches!(a.source, FundingSource::CarryOver { .. }))
            .map(|a| a.amount),
    )?;
    let funded: Vec<_> = core.projects.iter().filter_map(|p| p.delivery()).collect();
    let mut co_creators: Vec<_> = core
        .projects
        .iter()
        .flat_map(|p| {
            p.proposal()
                .worked_on_by
                .iter()
                .chain(p.delivery().into_iter().flat_map(|d| &d.co_creators))
        })
        .map(crate::area::Resident::id)
        .collect();
    co_creators.sort_unstable();
    co_creators.dedup();
    let abandoned = match c {
        AnyCycle::Abandoned(a) => Some((a.abandoned_in(), a.reason().to_owned())),
        _ => None,
    };
    Ok(YearReport {
        year: core.setup.year,
        cycle: core.setup.id,
        outcome: c.step(),
        abandoned,
        set_aside: c.budget()?,
        carried_in,
        spent: c.spent()?.checked_add(spent_later)?,
        unspent: unspent(c)?,
        ideas: core.ideas.len(),
        ballots: core.ballots.as_slice().len(),
        funded: funded.len(),
        completed: funded
            .iter()
            .filter(|d| matches!(d.status, DeliveryStatus::Completed { .. }))
            .count()
            + later_status(|s| matches!(s, DeliveryStatus::Completed { .. })),
        cancelled: funded
            .iter()
            .filter(|d| matches!(d.status, DeliveryStatus::Cancelled { .. }))
            .count()
            + later_status(|s| matches!(s, DeliveryStatus::Cancelled { .. })),
        finished_later: later.iter().filter(|d| d.is_finished()).count(),
        co_creators: co_creators.len(),
    })
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}
