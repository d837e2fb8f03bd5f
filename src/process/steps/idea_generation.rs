//! Step 3, idea generation: ideas from eligible residents, and the gate into
//! shortlisting.

use chrono::{DateTime, Utc};

use crate::area::Resident;
use crate::idea::{Idea, IdeaSubmission};
use crate::ids::{IdeaId, ResidentId};
use crate::process::Step;
use crate::process::cycle::{Cycle, gate, reject_idea, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::stage::{Framework, Shortlisting, stage};
use serde::Serialize;

/// Step 3, Idégenerering: residents submit ideas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IdeaGeneration {
    pub(crate) framework: Framework,
}
stage!(IdeaGeneration, IdeaGeneration);

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

    /// Every condition of step 3's gate not met at `at`: no idea dated after
    /// `at`, and an admissible idea.
    pub fn unmet(&self, at: DateTime<Utc>) -> Vec<GateError> {
        let ideas = &self.core.ideas;
        let mut unmet = Vec::new();
        if let Some(late) = ideas.iter().find(|i| i.submission().submitted_at > at) {
            unmet.push(GateError::IdeaAfterEnd {
                idea: late.id(),
                submitted_at: late.submission().submitted_at,
                at,
            });
        }
        if !ideas.iter().any(Idea::is_admissible) {
            unmet.push(GateError::NoAdmissibleIdea);
        }
        unmet
    }

    /// Gate of step 3: at least one admissible idea, none dated after `at`. Then
    /// the ideas are worked on.
    ///
    /// # Errors
    /// No admissible idea; the cycle comes back unchanged.
    pub fn begin_shortlisting(
        self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Shortlisting>, TransitionError<Self>> {
        self.advance(
            "begin shortlisting",
            at,
            |c| match c.unmet(at).into_iter().next() {
                Some(first) => Err(gate::<IdeaGeneration>(first)),
                None => Ok(()),
            },
            |_, s, ()| Shortlisting {
                framework: s.framework,
            },
        )
    }
}
