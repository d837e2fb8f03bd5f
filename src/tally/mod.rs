//! Counting the votes: the [`Tally`] trait, the compact ballot [`Profile`] it
//! reads, explicit [`TieBreaking`], and the rules the crate ships.
//!
//! A tally takes an [`Election`] — the projects on the ballot with their costs, the
//! budget and the ballots — and returns an [`Outcome`]: the projects selected in the
//! order the rule chose them, their total cost, and the rule and tie-breaking used,
//! with rule-specific [`OutcomeDetails`]. Amounts are integer minor units; every
//! count is exact.
//!
//! Each is a [`Rule`] (the table of rules, by name, that ballot rules and the
//! command line use) and a type of its own:
//!
//! | name | rule | definition |
//! |---|---|---|
//! | `greedy` | [`Greedy`] | by support, skip what no longer fits |
//! | `greedy-no-skip` | [`GreedyNoSkip`] | by support, stop at the first that does not fit |
//! | `greedy-threshold:N` | [`GreedyThreshold`] | greedy over projects with enough support |
//! | `mes` | [`Mes`] | Method of Equal Shares, no completion |
//! | `mes-add1` | [`MesAdd1`] | equal shares, +1 unit per voter per run (pabulib `equalshares/add1`) |
//! | `mes-add1-exhaustive` | [`MesAdd1`] `{ exhaustive_stop: true }` | … stopping at the first exhaustive outcome |
//! | `mes-add1-comparison` | [`MesAdd1Comparison`] | add1, then greedy if more voters prefer it |
//! | `mes-greedy` | [`MesGreedy`] | equal shares, then greedy completion |
//! | `mes:cardinality`, `mes-add1:cardinality`, … | [`EqualShares`] | any of the above with cardinality [`Utility`] |
//! | `phragmen` | [`Phragmen::STOP`] | sequential Phragmén, stop at the first that breaks the budget |
//! | `phragmen-skip` | [`Phragmen::SKIP`] | sequential Phragmén, skip it |
//! | `max-welfare` | [`MaxWelfare`] | exact knapsack: most total support |
//! | `maximin-support` | [`MaximinSupport`] | the maximin support method, supports weighed against costs |
//!
//! Support is approvals for approval ballots, points for cumulative and scoring
//! ballots, and Borda points for rankings (first of three gets 3), so `greedy` on
//! rankings is Kraków's rule and equal shares on rankings uses Borda utilities.
//!
//! **Exactness.** Equal shares and Phragmén divide money and loads, so their
//! quantities are rationals whose denominators grow round by round. They run
//! first in `f64`; every decision (the smallest ρ or load, whether a project is
//! affordable) compares two quantities, and when a comparison that could change
//! the outcome is closer than 10⁻⁹ (relative) the rule runs again in exact
//! rationals. Float error over these sums and rounds stays orders of magnitude
//! below that margin, so the outcome is the exact one either way;
//! [`OutcomeDetails::exact_arithmetic`] says when the exact run decided. Greedy
//! and maximum welfare use integers only. The outcomes equal pabutools' exact
//! (fraction) outcomes on every real election in pabulib's reference set.
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

mod affine;
mod arith;
pub(crate) mod endowed;
mod explain;
mod greedy;
mod maximin;
mod mes;
mod phragmen;
mod profile;
mod rule;
mod satisfaction;
mod support;
mod tie;
mod welfare;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use explain::{
    Explanation, MAX_EXTRA_VOTERS, MAX_THREADS, Measure, ProjectExplanation, Round, SCAN_VOTERS,
    Trace, explain,
};
pub use greedy::{Greedy, GreedyNoSkip, GreedyThreshold};
pub use maximin::MaximinSupport;
pub use mes::{
    Comparison, Completion, EqualShares, Mes, MesAdd1, MesAdd1Comparison, MesGreedy, Utility,
};
pub use phragmen::{OnOverflow, Phragmen};
pub use profile::{BallotView, MERGE_LIMIT, Profile, ProfileBuilder, ProfileKind};
pub use rule::{CustomRule, MAX_CUSTOM_NAME, Rule};
pub use satisfaction::Satisfaction;
pub use tie::{TieBreak, TieBreaking};
pub use welfare::{MaxWelfare, NODE_LIMIT};

/// Why a tally could not produce an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
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
    /// An exact search gave up.
    #[error(
        "rule {rule}: the instance is too hard to solve exactly (gave up after {explored} search nodes)"
    )]
    TooHard {
        /// The rule.
        rule: String,
        /// Nodes explored.
        explored: u64,
    },
    /// A rule name no built-in rule has.
    #[error("unknown rule {name:?}; known rules: {known}")]
    UnknownRule {
        /// The name given.
        name: String,
        /// The names the crate knows.
        known: String,
    },
    /// A rule's option that does not read (`greedy-threshold:many`).
    #[error("rule {rule}: the option {option:?} is not a whole number")]
    BadRuleOption {
        /// The rule.
        rule: String,
        /// The option given.
        option: String,
    },
    /// An equal-shares rule with a utility it does not know (`mes:votes`).
    #[error("rule {rule}: unknown utility {utility:?}; utilities: cost, cardinality")]
    UnknownUtility {
        /// The rule.
        rule: String,
        /// The utility given.
        utility: String,
    },
    /// A name a rule of one's own cannot have.
    #[error("{name:?} cannot name a rule of your own: {why}")]
    BadCustomRule {
        /// The name given.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A rule of one's own was asked to count without its tally.
    #[error("the rule custom:{name} counts only with its own tally, and none was passed")]
    UnregisteredRule {
        /// The rule's name.
        name: String,
    },
    /// A count overflowed 64 bits.
    #[error("a vote count overflowed 64 bits")]
    Overflow,
    /// The count used up the election's step limit
    /// ([`Election::with_step_limit`]).
    #[error("rule {rule}: the count stopped at the step limit of {limit} steps")]
    StepLimit {
        /// The rule.
        rule: String,
        /// The limit.
        limit: u64,
    },
}

/// A project on the ballot, as a tally sees it: a label (the project id as text)
/// and a cost in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone)]
pub struct Election {
    budget: u64,
    candidates: Vec<Candidate>,
    /// Shared, so that the counterfactual elections [`explain`] counts (one
    /// cost changed) do not copy the ballots.
    profile: Arc<Profile>,
    /// What the rules compute from the ballots alone, computed once and
    /// shared by every copy with the same ballots.
    derived: Arc<Derived>,
    step_limit: Option<u64>,
    /// The election's units in one whole currency unit ([`Election::with_unit`]).
    unit: u64,
}

/// Facts of a profile, computed when first needed.
#[derive(Debug, Default)]
struct Derived {
    support: std::sync::OnceLock<Result<Vec<u64>, TallyError>>,
    supporters: std::sync::OnceLock<Result<support::Supporters, TallyError>>,
}

impl PartialEq for Election {
    fn eq(&self, other: &Election) -> bool {
        self.budget == other.budget
            && self.candidates == other.candidates
            && self.profile == other.profile
            && self.step_limit == other.step_limit
            && self.unit == other.unit
    }
}

impl Eq for Election {}

impl Election {
    /// An election; the profile must be built for exactly these candidates.
    /// A shared profile (`Arc<Profile>`, as [`crate::pabulib::PbFile`] holds
    /// its ballots) is used without a copy.
    ///
    /// # Errors
    /// [`TallyError::ProfileMismatch`] or [`TallyError::DuplicateLabel`].
    pub fn new(
        budget: u64,
        candidates: Vec<Candidate>,
        profile: impl Into<Arc<Profile>>,
    ) -> Result<Election, TallyError> {
        let profile = profile.into();
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
            derived: Arc::default(),
            step_limit: None,
            unit: 1,
        })
    }

    /// The election with a cap on the work any rule may do counting it: a rule
    /// that would take more than `steps` steps stops with
    /// [`TallyError::StepLimit`] instead. A step is one unit of a rule's inner
    /// work — a supporter visited while pricing a project or adding up a load, a
    /// queue entry taken, a search node — and a supporter visited in exact
    /// rational arithmetic counts 16 steps, so the time a count takes is roughly
    /// proportional to its steps, and the same election with the same limit
    /// always gives the same result. Services counting uploaded elections
    /// and fuzzers bound their work with it. Without a limit every rule still
    /// ends (each documents why), but some inputs take very long: an exact
    /// knapsack, or add1 when costs are large.
    ///
    /// ```
    /// use medborgarbudget::tally::{Candidate, Election, Mes, Profile, ProfileKind, Tally, TallyError, TieBreaking};
    ///
    /// let mut profile = Profile::builder(ProfileKind::Approval, 2);
    /// profile.push_approval(&[0, 1], 10)?;
    /// let election = Election::new(100, vec![Candidate::new("a", 50), Candidate::new("b", 50)], profile.build())?;
    /// let ties = TieBreaking::by_project_id();
    /// assert!(Mes.tally(&election.clone().with_step_limit(1_000), &ties).is_ok());
    /// assert!(matches!(
    ///     Mes.tally(&election.with_step_limit(2), &ties),
    ///     Err(TallyError::StepLimit { limit: 2, .. })
    /// ));
    /// # Ok::<(), TallyError>(())
    /// ```
    #[must_use]
    pub fn with_step_limit(mut self, steps: u64) -> Election {
        self.step_limit = Some(steps);
        self
    }

    /// The step limit, if any.
    pub fn step_limit(&self) -> Option<u64> {
        self.step_limit
    }

    /// The election with amounts in units of which `unit` make one whole
    /// currency unit (1, the default: amounts are whole currency units; 100:
    /// they are öre, grosz or cents). Only add1 reads it: each of its runs
    /// raises every voter's money by one whole currency unit, starting from
    /// `⌊budget / n⌋` whole units, as pabulib's `equalshares/add1` does. A `.pb`
    /// file's election takes the file's scale
    /// ([`PbFile::election`](crate::pabulib::PbFile::election)); a cycle's,
    /// under [`RulesVersion`](crate::process::RulesVersion) 2 and later, its
    /// currency's minor units per major — so a cycle and its `.pb` export count
    /// alike. A unit of 0 is taken as 1.
    ///
    /// ```
    /// use medborgarbudget::tally::{Candidate, Election, MesAdd1, Profile, ProfileKind, Tally, TieBreaking};
    ///
    /// // In öre: 2 voters, a budget of 10.00 (1 000 öre), a (6.00) by both and b
    /// // (6.00) by the first.
    /// let mut profile = Profile::builder(ProfileKind::Approval, 2);
    /// profile.push_approval(&[0, 1], 1)?;
    /// profile.push_approval(&[0], 1)?;
    /// let ore = Election::new(1_000, vec![Candidate::new("a", 600), Candidate::new("b", 600)], profile.build())?;
    /// let ties = TieBreaking::by_project_id();
    /// let by_ore = MesAdd1::default().tally(&ore, &ties)?;
    /// let by_krona = MesAdd1::default().tally(&ore.clone().with_unit(100), &ties)?;
    /// // The last money per voter within budget: 8.99 stepping öre, 8.00 kronor.
    /// assert_eq!(by_ore.details.per_voter_budget.map(|f| f.numerator), Some(899));
    /// assert_eq!(by_krona.details.per_voter_budget.map(|f| f.numerator), Some(800));
    /// # Ok::<(), medborgarbudget::tally::TallyError>(())
    /// ```
    #[must_use]
    pub fn with_unit(mut self, unit: u64) -> Election {
        self.unit = unit.max(1);
        self
    }

    /// The election's units in one whole currency unit ([`Election::with_unit`]).
    pub fn unit(&self) -> u64 {
        self.unit
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

    /// The ballots, shared.
    pub(crate) fn shared_profile(&self) -> Arc<Profile> {
        Arc::clone(&self.profile)
    }

    /// Each candidate's support ([`Profile::support`]), computed once.
    fn support(&self) -> Result<&[u64], TallyError> {
        match self.derived.support.get_or_init(|| self.profile.support()) {
            Ok(s) => Ok(s),
            Err(e) => Err(e.clone()),
        }
    }

    /// Who supports what, computed once.
    fn supporters(&self) -> Result<&support::Supporters, TallyError> {
        match self
            .derived
            .supporters
            .get_or_init(|| support::Supporters::new(self))
        {
            Ok(s) => Ok(s),
            Err(e) => Err(e.clone()),
        }
    }

    /// This election with other ballots (and nothing derived from the old).
    fn with_profile(&self, profile: Profile) -> Election {
        Election {
            profile: Arc::new(profile),
            derived: Arc::default(),
            ..self.clone()
        }
    }
}

/// The result of a tally. Rules of your own build it with [`Outcome::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
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
    /// Each candidate's support (approvals, points or Borda points), indexed like
    /// the candidates.
    pub scores: Vec<u64>,
    /// What else the rule reports.
    #[serde(default)]
    pub details: OutcomeDetails,
}

/// An exact non-negative fraction, such as the money each voter starts with
/// under equal shares (`budget / voters`).
///
/// Serialised as `{"numerator": 3, "denominator": 4}`; a part beyond `u64` is
/// written as a decimal string, so that every value round-trips through JSON
/// and through serde's buffered (internally tagged) forms, which do not carry
/// `u128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fraction {
    /// Numerator.
    #[serde(with = "wide")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "wide::schema"))]
    pub numerator: u128,
    /// Denominator (never zero).
    #[serde(with = "wide")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "wide::schema"))]
    pub denominator: u128,
}

/// For the test oracles of equal shares: keeps in `best` the project of least
/// ρ, then lowest rank, marking `tie` when the least is shared.
#[cfg(test)]
pub(crate) fn keep_least(
    best: &mut Option<(num_rational::BigRational, usize)>,
    tie: &mut bool,
    rho: num_rational::BigRational,
    p: usize,
    ranks: &[u32],
) {
    match best {
        None => *best = Some((rho, p)),
        Some((b, q)) => match rho.cmp(b).then(ranks[p].cmp(&ranks[*q])) {
            std::cmp::Ordering::Less => {
                *best = Some((rho, p));
                *tie = false;
            }
            std::cmp::Ordering::Equal => *tie = true,
            std::cmp::Ordering::Greater => {}
        },
    }
}

/// A `u128` as a number when it fits `u64`, otherwise as a decimal string.
mod wide {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// A non-negative integer, or one as a decimal string.
    #[cfg(feature = "schema")]
    pub(super) fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+$"}
            ]
        })
    }

    pub(super) fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        match u64::try_from(*value) {
            Ok(small) => s.serialize_u64(small),
            Err(_) => s.collect_str(value),
        }
    }

    struct Wide;

    impl Visitor<'_> for Wide {
        type Value = u128;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer, or one as a decimal string")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u128, E> {
            Ok(u128::from(v))
        }

        fn visit_u128<E: de::Error>(self, v: u128) -> Result<u128, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u128, E> {
            u128::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u128, E> {
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        d.deserialize_any(Wide)
    }
}

impl Fraction {
    /// The fraction as the nearest `f64`, for printing and plotting.
    pub fn value(&self) -> f64 {
        self.numerator as f64 / self.denominator.max(1) as f64
    }

    /// `numerator / denominator`, reduced; a zero denominator is taken as one.
    pub fn new(numerator: u128, denominator: u128) -> Fraction {
        let denominator = denominator.max(1);
        let g = num_integer::gcd(numerator, denominator).max(1);
        Fraction {
            numerator: numerator / g,
            denominator: denominator / g,
        }
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.denominator == 1 {
            write!(f, "{}", self.numerator)
        } else {
            write!(f, "{}/{}", self.numerator, self.denominator)
        }
    }
}

/// Rule-specific facts of an outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutcomeDetails {
    /// Equal shares: the money each voter had in the run kept, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_voter_budget: Option<Fraction>,
    /// Equal shares with add1: how many runs were made. Like
    /// `exact_arithmetic`, this says how the count went, not what it found:
    /// where to jump is found in floats, so the same ballots in another order
    /// (whose sums round differently) may take another number of runs to the
    /// same outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add1_runs: Option<u32>,
    /// Whether a near-tie made the rule decide with exact rationals (the outcome
    /// is exact either way). The float path refuses comparisons it cannot
    /// tell beyond rounding, so whether it meets one can depend on the order
    /// of the ballots (their sums round differently); the outcome does not.
    #[serde(default)]
    pub exact_arithmetic: bool,
    /// The comparison step: how many voters prefer which outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Greedy with a threshold: the least support a project needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// Maximum welfare: search nodes explored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_nodes: Option<u64>,
}

impl Outcome {
    /// An outcome selecting `selected` (candidate indices, in the order chosen):
    /// the total cost, budget and each candidate's support are read from the
    /// election; details are empty.
    ///
    /// # Errors
    /// An index outside the election, or a support count that overflows.
    pub fn new(
        rule: impl Into<String>,
        tie_breaking: TieBreaking,
        selected: Vec<usize>,
        election: &Election,
    ) -> Result<Outcome, TallyError> {
        let mut total_cost = 0_u64;
        for &p in &selected {
            let candidate = election
                .candidates
                .get(p)
                .ok_or(TallyError::ProjectOutOfRange {
                    index: u32::try_from(p).unwrap_or(u32::MAX),
                    projects: election.candidates.len(),
                })?;
            total_cost = total_cost
                .checked_add(candidate.cost)
                .ok_or(TallyError::Overflow)?;
        }
        Ok(Outcome {
            rule: rule.into(),
            tie_breaking,
            selected,
            total_cost,
            budget: election.budget,
            scores: election.support()?.to_vec(),
            details: OutcomeDetails::default(),
        })
    }

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

    /// The rule this tally counts by, as ballot rules name it: the built-in
    /// [`Rule`] of its name, or a rule of your own ([`Rule::Custom`]) for any
    /// other name. Tallies with options (thresholds) say them here.
    fn rule(&self) -> Rule {
        Rule::named(self.name())
    }

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
    fn rule(&self) -> Rule {
        (**self).rule()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}

impl<T: Tally + ?Sized> Tally for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn rule(&self) -> Rule {
        (**self).rule()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}

impl<T: Tally + ?Sized> Tally for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn rule(&self) -> Rule {
        (**self).rule()
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        (**self).tally(election, ties)
    }
}
