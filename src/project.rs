//! Projects: ideas worked into costed, assessed proposals (step 4), voted on
//! (step 5) and, when funded, built with residents (step 6).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::area::Resident;
use crate::criteria::{CriteriaSet, Score};
use crate::ids::{IdeaId, ProjectId, ResidentId};
use crate::money::Money;
use crate::text::LocalText;

/// A project proposed for the shortlist, built from one or more ideas together
/// with residents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectProposal {
    /// The project's id (chosen by the caller, so that replays are exact).
    pub id: ProjectId,
    /// A short title for the ballot.
    pub title: LocalText,
    /// What will be built or done.
    pub description: LocalText,
    /// The ideas it comes from (all under review).
    pub ideas: Vec<IdeaId>,
    /// Residents who worked it out with the officials (at least one).
    pub worked_on_by: Vec<Resident>,
    /// The budget part it competes in, in a cycle of several
    /// ([`crate::part`]); `None` in a cycle of one budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<crate::part::PartId>,
}

/// Whether the administration can carry a project out: `{"kind":"feasible"}`
/// or `{"kind":"infeasible","reason":…}`. Read also as logs before the one
/// tagging convention wrote it, with `verdict` for `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Feasibility {
    /// It can be done.
    Feasible,
    /// It cannot, and why.
    Infeasible {
        /// The reason.
        reason: String,
    },
}

impl<'de> Deserialize<'de> for Feasibility {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Feasibility, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
        enum Wire {
            Feasible,
            Infeasible { reason: String },
        }
        let mut value = serde_json::Value::deserialize(d)?;
        if let Some(map) = value.as_object_mut() {
            if !map.contains_key("kind")
                && let Some(tag) = map.remove("verdict")
            {
                map.insert("kind".into(), tag);
            }
            // serde lets an internally tagged unit variant ignore fields.
            let feasible = map.get("kind").and_then(serde_json::Value::as_str) == Some("feasible");
            let allowed: &[&str] = if feasible {
                &["kind"]
            } else {
                &["kind", "reason"]
            };
            if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(serde::de::Error::unknown_field(unknown, allowed));
            }
        }
        Ok(
            match serde_json::from_value(value).map_err(serde::de::Error::custom)? {
                Wire::Feasible => Feasibility::Feasible,
                Wire::Infeasible { reason } => Feasibility::Infeasible { reason },
            },
        )
    }
}

/// Whether a project is on the ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ShortlistStatus {
    /// On the shortlist.
    OnShortlist,
    /// Taken off the shortlist before the vote.
    Withdrawn {
        /// Why.
        reason: String,
    },
}

/// A milestone reached during implementation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// What was reached (“design workshop with residents held”).
    pub title: String,
    /// When.
    pub reached_on: NaiveDate,
}

/// Progress of a funded project, 0 to 100 percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "u8", into = "u8")]
pub struct Progress(u8);

/// A progress value above 100 %. Serialises as the crate's other errors do:
/// `{"code":"progress_above_100","details":{"percent":120}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("progress {0} % is above 100 %")]
pub struct ProgressError(pub u8);

impl Serialize for ProgressError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Details {
            percent: u8,
        }
        crate::wire::serialize_error(s, "progress_above_100", Details { percent: self.0 })
    }
}

impl Progress {
    /// A percentage from 0 to 100.
    ///
    /// # Errors
    /// [`ProgressError`] above 100.
    pub fn new(percent: u8) -> Result<Progress, ProgressError> {
        if percent <= 100 {
            Ok(Progress(percent))
        } else {
            Err(ProgressError(percent))
        }
    }

    /// The percentage.
    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Progress {
    type Error = ProgressError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Progress::new(v).map_err(crate::wire::refused)
    }
}

impl From<Progress> for u8 {
    fn from(p: Progress) -> u8 {
        p.0
    }
}

/// How a funded project ended, or that it is still being built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DeliveryStatus {
    /// Being built.
    InProgress,
    /// Delivered.
    Completed {
        /// When.
        at: DateTime<Utc>,
        /// What it cost in the end.
        final_cost: Money,
    },
    /// Cancelled.
    Cancelled {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Money spent before it was cancelled.
        spent: Money,
    },
}

/// The implementation record of a funded project (step 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Delivery {
    /// Milestones reached.
    pub milestones: Vec<Milestone>,
    /// Latest progress.
    pub progress: Progress,
    /// Residents who co-created it during implementation.
    pub co_creators: Vec<Resident>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Handed over to the programme while still being built: later years
    /// report on it ([`Programme::deliveries`](crate::process::Programme::deliveries)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handed_over: Option<HandOver>,
}

/// A project handed over to the programme in step 6, to be finished in a
/// later year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    /// When it is planned to be completed.
    pub planned_completion: NaiveDate,
    /// Why it takes longer than the year.
    pub reason: String,
    /// When it was handed over.
    pub at: DateTime<Utc>,
}

impl Delivery {
    pub(crate) fn new() -> Delivery {
        Delivery {
            milestones: Vec::new(),
            progress: Progress::default(),
            co_creators: Vec::new(),
            status: DeliveryStatus::InProgress,
            handed_over: None,
        }
    }

    /// Money spent on it: the final cost, the amount spent before cancelling, or
    /// nothing while in progress.
    pub fn spent(&self) -> Option<Money> {
        match &self.status {
            DeliveryStatus::InProgress => None,
            DeliveryStatus::Completed { final_cost, .. } => Some(*final_cost),
            DeliveryStatus::Cancelled { spent, .. } => Some(*spent),
        }
    }

    /// Whether anything of its delivery is on the record: a milestone,
    /// progress, a co-creator, or its end.
    pub fn has_begun(&self) -> bool {
        !self.milestones.is_empty()
            || self.progress.percent() > 0
            || !self.co_creators.is_empty()
            || self.is_finished()
            || self.handed_over.is_some()
    }

    /// Whether it is completed or cancelled.
    pub fn is_finished(&self) -> bool {
        !matches!(self.status, DeliveryStatus::InProgress)
    }

    /// Whether the cycle is done with it: finished, or handed over to the
    /// programme.
    pub fn is_settled(&self) -> bool {
        self.is_finished() || self.handed_over.is_some()
    }
}

/// A project: a proposal, its assessment in step 4, and its delivery if funded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Project {
    proposal: ProjectProposal,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feasibility: Option<Feasibility>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    scores: BTreeMap<String, Score>,
    shortlist: ShortlistStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<Delivery>,
}

impl Project {
    pub(crate) fn new(proposal: ProjectProposal) -> Project {
        Project {
            proposal,
            cost: None,
            feasibility: None,
            scores: BTreeMap::new(),
            shortlist: ShortlistStatus::OnShortlist,
            delivery: None,
        }
    }

    /// The project's id.
    pub fn id(&self) -> ProjectId {
        self.proposal.id
    }

    /// The proposal, with every resident who worked on it in step 4.
    pub fn proposal(&self) -> &ProjectProposal {
        &self.proposal
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.proposal.title
    }

    /// The cost estimate.
    pub fn cost(&self) -> Option<Money> {
        self.cost
    }

    /// The feasibility verdict.
    pub fn feasibility(&self) -> Option<&Feasibility> {
        self.feasibility.as_ref()
    }

    /// Scores by criterion name.
    pub fn scores(&self) -> &BTreeMap<String, Score> {
        &self.scores
    }

    /// Whether it is on the ballot.
    pub fn shortlist_status(&self) -> &ShortlistStatus {
        &self.shortlist
    }

    /// Whether it is on the shortlist (not withdrawn).
    pub fn is_on_shortlist(&self) -> bool {
        self.shortlist == ShortlistStatus::OnShortlist
    }

    /// The implementation record, once funded.
    pub fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }

    /// The weighted score Σ weight × score over the criteria, if every criterion
    /// is scored.
    pub fn weighted_score(&self, criteria: &CriteriaSet) -> Option<u64> {
        criteria
            .iter()
            .map(|c| {
                self.scores
                    .get(c.name())
                    .map(|s| u64::from(c.weight()) * u64::from(s.value()))
            })
            .sum()
    }

    /// Whether `resident` worked on the project in step 4 or co-created it in
    /// step 6.
    pub fn involves(&self, resident: ResidentId) -> bool {
        self.proposal
            .worked_on_by
            .iter()
            .any(|r| r.id() == resident)
            || self
                .delivery
                .iter()
                .flat_map(|d| &d.co_creators)
                .any(|r| r.id() == resident)
    }

    pub(crate) fn proposal_mut(&mut self) -> &mut ProjectProposal {
        &mut self.proposal
    }

    pub(crate) fn set_cost(&mut self, cost: Money) {
        self.cost = Some(cost);
    }

    pub(crate) fn set_feasibility(&mut self, f: Feasibility) {
        self.feasibility = Some(f);
    }

    pub(crate) fn set_score(&mut self, criterion: String, score: Score) {
        self.scores.insert(criterion, score);
    }

    pub(crate) fn withdraw(&mut self, reason: String) {
        self.shortlist = ShortlistStatus::Withdrawn { reason };
    }

    pub(crate) fn fund(&mut self) {
        self.delivery = Some(Delivery::new());
    }

    /// Undoes [`Project::fund`] (a council's adjustment, before any work).
    pub(crate) fn unfund(&mut self) {
        self.delivery = None;
    }

    pub(crate) fn delivery_mut(&mut self) -> Option<&mut Delivery> {
        self.delivery.as_mut()
    }
}

#[cfg(feature = "schema")]
struct_error_schema!(
    ProgressError,
    "progress_above_100",
    "percent",
    {"type": "integer", "minimum": 101, "maximum": 255}
);
