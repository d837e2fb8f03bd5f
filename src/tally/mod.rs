//! Counting the votes: the [`Tally`] trait, the compact ballot [`Profile`] it
//! reads, explicit [`TieBreaking`], and the rules the crate ships.
//!
//! A tally takes an [`Election`] — the projects on the ballot with their costs, the
//! budget and the ballots — and returns an [`Outcome`]: the projects selected in the
//! order the rule chose them, their total cost, and the rule and tie-breaking used.
//! Amounts are integer minor units; every count is exact.
//!
//! ```
//! use medborgarbudget::tally::{Candidate, Election, Greedy, Profile, ProfileKind, Tally, TieBreaking};
//!
//! let candidates = vec![
//!     Candidate::new("park", 600),
//!     Candidate::new("library", 500),
//!     Candidate::new("bench", 100),
//! ];
//! let mut profile = Profile::builder(ProfileKind::Approval, candidates.len());
//! profile.push_approval(&[0, 2], 3)?; // three voters approve park and bench
//! profile.push_approval(&[1], 2)?; // two approve the library
//! let election = Election::new(1_000, candidates, profile.build())?;
//!
//! let outcome = Greedy.tally(&election, &TieBreaking::by_project_id())?;
//! // park and bench tie on three votes; ties go by project id as text
//! assert_eq!(outcome.selected_labels(&election), ["bench", "park"]);
//! assert_eq!(outcome.total_cost(), 700); // the library no longer fits
//! # Ok::<(), medborgarbudget::tally::TallyError>(())
//! ```

mod greedy;
mod profile;
mod tie;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use greedy::Greedy;
pub use profile::{Profile, ProfileBuilder, ProfileKind};
pub use tie::{TieBreak, TieBreaking};

/// Why a tally could not produce an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TallyError {
    /// Projects stayed tied after the whole tie-breaking chain, and the order
    /// changes the outcome.
    #[error(
        "rule {rule}: projects {projects:?} are tied and the tie-breaking chain [{tie_breaking}] does not separate them"
    )]
    Tie {
        /// The rule.
        rule: String,
        /// Labels of the tied projects.
        projects: Vec<String>,
        /// The chain that was used.
        tie_breaking: TieBreaking,
    },
    /// A ballot refers to a project index outside the election.
    #[error(
        "ballot entry refers to project index {index}, but the election has {projects} projects"
    )]
    ProjectOutOfRange {
        /// The index given.
        index: u32,
        /// Number of projects.
        projects: usize,
    },
    /// A ballot names the same project twice.
    #[error("a ballot names project index {index} twice")]
    DuplicateInBallot {
        /// The repeated index.
        index: u32,
    },
    /// The profile and the candidate list disagree.
    #[error("the profile is for {profile} projects but the election lists {candidates}")]
    ProfileMismatch {
        /// Projects the profile was built for.
        profile: usize,
        /// Candidates in the election.
        candidates: usize,
    },
    /// An entry of the wrong kind was pushed into a profile.
    #[error("a {given:?} ballot cannot be added to a {kind:?} profile")]
    WrongBallotKind {
        /// The profile's kind.
        kind: ProfileKind,
        /// The kind pushed.
        given: ProfileKind,
    },
    /// Two candidates share a label.
    #[error("two projects share the label {label:?}")]
    DuplicateLabel {
        /// The label.
        label: String,
    },
    /// A tie-breaking chain that cannot be used.
    #[error("invalid tie-breaking chain: {reason}")]
    InvalidTieBreaking {
        /// What is wrong.
        reason: &'static str,
    },
    /// A count overflowed 64 bits.
    #[error("a vote count overflowed 64 bits")]
    Overflow,
}

/// A project on the ballot, as a tally sees it: a label (the project id as text)
/// and a cost in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Candidate {
    /// The project's label; tie-breaking by id compares these as text.
    pub label: String,
    /// The cost in minor units.
    pub cost: u64,
}

impl Candidate {
    /// A candidate with a label and a cost in minor units.
    pub fn new(label: impl Into<String>, cost: u64) -> Candidate {
        Candidate {
            label: label.into(),
            cost,
        }
    }
}

/// What a tally reads: the budget, the candidates and the ballots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    budget: u64,
    candidates: Vec<Candidate>,
    profile: Profile,
}

impl Election {
    /// An election; the profile must be built for exactly these candidates.
    ///
    /// # Errors
    /// [`TallyError::ProfileMismatch`] or [`TallyError::DuplicateLabel`].
    pub fn new(
        budget: u64,
        candidates: Vec<Candidate>,
        profile: Profile,
    ) -> Result<Election, TallyError> {
        if profile.num_projects() != candidates.len() {
            return Err(TallyError::ProfileMismatch {
                profile: profile.num_projects(),
                candidates: candidates.len(),
            });
        }
        let mut labels: Vec<&str> = candidates.iter().map(|c| c.label.as_str()).collect();
        labels.sort_unstable();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(TallyError::DuplicateLabel {
                label: w[0].to_owned(),
            });
        }
        Ok(Election {
            budget,
            candidates,
            profile,
        })
    }

    /// The budget in minor units.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The candidates, indexed as in the profile.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The ballots.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }
}

/// The result of a tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The rule's name, as [`Tally::name`] gives it.
    pub rule: String,
    /// The tie-breaking chain used.
    pub tie_breaking: TieBreaking,
    /// Indices of the selected candidates, in the order the rule chose them.
    pub selected: Vec<usize>,
    /// Total cost of the selection in minor units.
    pub total_cost: u64,
    /// The budget in minor units.
    pub budget: u64,
    /// Each candidate's score under the rule (approvals, points or the rule's own
    /// measure), indexed like the candidates.
    pub scores: Vec<u64>,
}

impl Outcome {
    /// Total cost of the selection.
    pub fn total_cost(&self) -> u64 {
        self.total_cost
    }

    /// Budget not spent.
    pub fn left_over(&self) -> u64 {
        self.budget.saturating_sub(self.total_cost)
    }

    /// Labels of the selected candidates, in the order chosen.
    pub fn selected_labels<'e>(&self, election: &'e Election) -> Vec<&'e str> {
        self.selected
            .iter()
            .filter_map(|&i| election.candidates.get(i))
            .map(|c| c.label.as_str())
            .collect()
    }
}

/// A counting rule: an election in, an outcome out.
///
/// Implementations must be deterministic: the same election and tie-breaking give
/// the same outcome. `&T`, `Box<T>` and `Arc<T>` of a tally are tallies.
pub trait Tally {
    /// The rule's name as recorded in outcomes and named in ballot rules
    /// (`greedy`, …).
    fn name(&self) -> &str;

    /// Counts the election.
    ///
    /// # Errors
    /// A tie the chain cannot break, or an election the rule cannot count.
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError>;
}

impl<T: Tally + ?Sized> Tally for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}

impl<T: Tally + ?Sized> Tally for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}

impl<T: Tally + ?Sized> Tally for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}

/// The rules this crate ships, by name; used to re-check a recorded outcome when a
/// cycle is loaded.
pub fn builtin(name: &str) -> Option<&'static dyn Tally> {
    match name {
        greedy::NAME => Some(&Greedy),
        _ => None,
    }
}
