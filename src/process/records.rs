//! Records the process keeps: council decisions, money set aside, outreach, the
//! voting window, the funding decision, the evaluation and its lessons.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::area::Area;
use crate::followup::CycleMetrics;
use crate::ids::{CycleId, ProgrammeId, ProjectId};
use crate::money::{Currency, Money};
use crate::tally::TieBreaking;

/// What a new cycle is for: its id, year, area and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleSetup {
    /// The cycle's id.
    pub id: CycleId,
    /// The programme the cycle belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<ProgrammeId>,
    /// The year the cycle runs.
    pub year: i32,
    /// The district.
    pub area: Area,
    /// The currency of the budget.
    pub currency: Currency,
    /// When step 1 began.
    pub started_at: DateTime<Utc>,
}

/// A council decision that sets money aside (beslut i fullmäktige eller nämnd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouncilDecision {
    /// The body that decided (`Kommunfullmäktige`, `Stadsdelsnämnden Angered`).
    pub body: String,
    /// The decision's reference (`KF § 123/2026`).
    pub reference: String,
    /// The day of the decision.
    pub decided_on: NaiveDate,
}

/// Where money set aside for a cycle comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FundingSource {
    /// A council allocation.
    Council,
    /// Money left unspent by an earlier year's cycle of the programme.
    CarryOver {
        /// The year it comes from.
        from_year: i32,
    },
}

/// Money set aside for a cycle, with the decision behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The amount (positive).
    pub amount: Money,
    /// The decision.
    pub decision: CouncilDecision,
    /// Where it comes from.
    pub source: FundingSource,
}

/// A channel used to reach residents in step 2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutreachChannel {
    /// Knocking on doors, talking in the street.
    DoorToDoor,
    /// A public meeting or dialogue evening.
    Meeting,
    /// Schools and youth centres.
    School,
    /// Associations, religious communities, sports clubs.
    Associations,
    /// Posters, leaflets, local papers.
    Print,
    /// Social media and the municipality's web site.
    Digital,
    /// Anything else, described.
    Other(String),
}

/// One outreach activity (step 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutreachActivity {
    /// The channel.
    pub channel: OutreachChannel,
    /// What was done.
    pub description: String,
    /// Languages used, as BCP 47 tags (`sv`, `ar`, `so`); at least one.
    pub languages: Vec<String>,
    /// Estimated number of people reached.
    pub people_reached: u32,
    /// When it took place.
    pub held_on: NaiveDate,
}

/// When ballots may be cast: from `opens` (inclusive) to `closes` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VotingWindow {
    /// First instant a ballot may be cast.
    pub opens: DateTime<Utc>,
    /// First instant a ballot may no longer be cast.
    pub closes: DateTime<Utc>,
}

impl VotingWindow {
    /// Whether `at` lies in the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.opens <= at && at < self.closes
    }
}

/// A project's score under the counting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectScore {
    /// The project.
    pub project: ProjectId,
    /// Approvals, points or the rule's own measure.
    pub score: u64,
}

/// The result of the vote, as recorded when voting closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingDecision {
    /// The counting rule.
    pub rule: String,
    /// The tie-breaking used.
    pub tie_breaking: TieBreaking,
    /// Funded projects in the order the rule chose them.
    pub funded: Vec<ProjectId>,
    /// Their total cost.
    pub total_cost: Money,
    /// The budget they were chosen within.
    pub budget: Money,
    /// Each project's score, in shortlist order.
    pub scores: Vec<ProjectScore>,
    /// Number of ballots counted.
    pub ballots_counted: u64,
    /// When voting was closed and counted.
    pub decided_at: DateTime<Utc>,
}

/// The evaluation that closes a cycle (step 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// What was learnt, for next year's criteria step (at least one).
    pub lessons: Vec<String>,
    /// A summary of the follow-up: turnout, who took part, what was delivered.
    pub summary: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The follow-up metrics of the cycle, as computed by
    /// [`Cycle::metrics`](super::Cycle::metrics) in step 7. When present, closing
    /// the cycle (and every replay or load of it) recomputes them and refuses
    /// metrics that differ; the next year reads them through
    /// [`Programme::follow_up`](super::Programme::follow_up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<CycleMetrics>,
}

/// A lesson from a closed year, available to later years' criteria step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    /// The year it was learnt.
    pub year: i32,
    /// The lesson.
    pub text: String,
}
