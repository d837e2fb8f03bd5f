//! Ideas residents submit in step 3 and that are worked on in step 4.
//!
//! An idea's status moves `submitted → under review → merged into another /
//! rejected with a reason / shortlisted as a project`. An idea may also be rejected
//! as inadmissible while ideas are still being collected. Ideas record their author
//! and co-authors: the model asks residents to co-create, not only propose.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::area::Resident;
use crate::ids::{IdeaId, ProjectId};
use crate::money::Money;
use crate::process::Step;
use crate::text::LocalText;

/// An idea as a resident submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IdeaSubmission {
    /// The idea's id (chosen by the caller, so that replays are exact).
    pub id: IdeaId,
    /// The resident who submits it, as on the day of submission.
    pub author: Resident,
    /// Residents who wrote it together with the author.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_authors: Vec<Resident>,
    /// A short title.
    pub title: LocalText,
    /// What the idea is.
    pub description: LocalText,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// The author's own estimate of the cost, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<Money>,
}

/// Where an idea stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IdeaStatus {
    /// Submitted, not yet taken up.
    Submitted,
    /// Being worked on with residents (step 4).
    UnderReview,
    /// Merged into another idea.
    Merged {
        /// The idea it was merged into.
        into: IdeaId,
    },
    /// Rejected, with the reason given to the author.
    Rejected {
        /// Why.
        reason: String,
        /// The step in which it was rejected (idea generation: inadmissible).
        step: Step,
    },
    /// Part of a project on the shortlist.
    Shortlisted {
        /// The project.
        project: ProjectId,
    },
}

impl IdeaStatus {
    /// A short name of the status, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            IdeaStatus::Submitted => "submitted",
            IdeaStatus::UnderReview => "under review",
            IdeaStatus::Merged { .. } => "merged",
            IdeaStatus::Rejected { .. } => "rejected",
            IdeaStatus::Shortlisted { .. } => "shortlisted",
        }
    }
}

/// An idea with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Idea {
    #[serde(flatten)]
    submission: IdeaSubmission,
    #[serde(flatten)]
    status: IdeaStatus,
}

impl Idea {
    pub(crate) fn new(submission: IdeaSubmission) -> Idea {
        Idea {
            submission,
            status: IdeaStatus::Submitted,
        }
    }

    pub(crate) fn set_status(&mut self, status: IdeaStatus) {
        self.status = status;
    }

    /// The idea's id.
    pub fn id(&self) -> IdeaId {
        self.submission.id
    }

    /// The submission as received.
    pub fn submission(&self) -> &IdeaSubmission {
        &self.submission
    }

    /// The author.
    pub fn author(&self) -> &Resident {
        &self.submission.author
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.submission.title
    }

    /// The status.
    pub fn status(&self) -> &IdeaStatus {
        &self.status
    }

    /// Whether the idea has an answer: merged, rejected or shortlisted.
    pub fn is_decided(&self) -> bool {
        !matches!(self.status, IdeaStatus::Submitted | IdeaStatus::UnderReview)
    }

    /// Whether the idea is still admissible (not rejected).
    pub fn is_admissible(&self) -> bool {
        !matches!(self.status, IdeaStatus::Rejected { .. })
    }

    /// The author and the co-authors.
    pub fn residents(&self) -> impl Iterator<Item = &Resident> {
        std::iter::once(&self.submission.author).chain(&self.submission.co_authors)
    }
}
