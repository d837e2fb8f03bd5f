//! Ballots and the rules they must follow.
//!
//! The council fixes the [`BallotRules`] in step 1: the kind of ballot, how many
//! projects a voter may choose, cost limits for knapsack ballots, points for
//! cumulative ballots, what a second ballot from the same resident does, and the
//! counting rule. [`BallotRules::check`] validates a ballot against the rules and the
//! shortlist and names the broken rule with the values involved.
//!
//! ```
//! use medborgarbudget::ballot::{BallotError, BallotKind, BallotRules, Choices};
//! use medborgarbudget::ids::ProjectId;
//! use medborgarbudget::money::{Currency, Money};
//!
//! let rules = BallotRules::builder(BallotKind::Knapsack)
//!     .min_budget_share(7_000) // Decidim's "use at least 70 %"
//!     .build()?;
//! let (a, b) = (ProjectId::from_u128(1), ProjectId::from_u128(2));
//! let cost = |p: ProjectId| Some(Money::new(if p == a { 700 } else { 500 }, Currency::SEK));
//! let budget = Money::new(1_000, Currency::SEK);
//!
//! assert!(rules.check(&Choices::Approval(vec![a]), &cost, budget).is_ok());
//! let err = rules.check(&Choices::Approval(vec![a, b]), &cost, budget).unwrap_err();
//! assert!(matches!(err, BallotError::OverCostLimit { .. }));
//! let err = rules.check(&Choices::Approval(vec![b]), &cost, budget).unwrap_err();
//! assert!(matches!(err, BallotError::UnderBudgetShare { .. }));
//! # Ok::<(), medborgarbudget::ballot::RulesError>(())
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::area::{EligibilityVersion, Resident};
use crate::ids::{BallotId, ProjectId, ResidentId};
use crate::money::Money;
use crate::part::{PartCounting, PartId, PartVoting};
use crate::tally::{Rule, TieBreaking};

/// The kind of ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BallotKind {
    /// Approve any number of projects (within the min/max).
    Approval,
    /// Approve projects whose total cost stays within a limit (by default the
    /// budget), as in Decidim and Stanford PB.
    Knapsack,
    /// Distribute points among projects.
    Cumulative,
    /// Rank projects, best first.
    Ranked,
}

impl fmt::Display for BallotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BallotKind::Approval => "approval",
            BallotKind::Knapsack => "knapsack",
            BallotKind::Cumulative => "cumulative",
            BallotKind::Ranked => "ranked",
        })
    }
}

/// What a second ballot from a resident who has already voted does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecondBallot {
    /// Refused with an error (the default).
    #[default]
    Refuse,
    /// Replaces the first ballot.
    Replace,
}

/// Points for cumulative ballots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PointsRule {
    /// Points each voter may distribute.
    pub per_voter: u32,
    /// Most points one project may receive from one voter.
    pub per_project: Option<u32>,
    /// Whether a voter must distribute all points (no, when left out).
    #[serde(default)]
    pub must_use_all: bool,
}

/// How the ballots are counted: a [`Rule`] and its tie-breaking. The rule is
/// typed, so a name no rule has is refused when the ballot rules are written
/// (in step 1), not when voting closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Counting {
    /// The rule, serialised by its name (`"mes-add1"`, see [`Rule`]);
    /// greedy when left out.
    #[serde(default = "greedy")]
    pub rule: Rule,
    /// The tie-breaking chain; by project id when left out.
    #[serde(default = "TieBreaking::by_project_id")]
    pub tie_breaking: TieBreaking,
}

fn greedy() -> Rule {
    Rule::Greedy
}

impl Default for Counting {
    /// Greedy by votes, ties broken by project id.
    fn default() -> Self {
        Counting {
            rule: Rule::Greedy,
            tie_breaking: TieBreaking::by_project_id(),
        }
    }
}

/// Invalid ballot rules. Serialises as [`GateError`](crate::process::GateError)
/// does: `{"code":"min_above_max","details":{"min":3,"max":2}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RulesError {
    /// The minimum number of projects exceeds the maximum.
    #[error("ballot rules: minimum {min} projects exceeds the maximum {max}")]
    MinAboveMax {
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// A maximum of zero projects.
    #[error("ballot rules: the maximum number of projects must be at least 1")]
    ZeroMax,
    /// A setting that does not apply to the ballot kind.
    #[error("ballot rules: {setting} does not apply to {kind} ballots")]
    NotForKind {
        /// The setting.
        setting: &'static str,
        /// The ballot kind.
        kind: BallotKind,
    },
    /// Zero points per voter or per project.
    #[error("ballot rules: points per voter and per project must be at least 1")]
    ZeroPoints,
    /// The cap per project exceeds the points per voter.
    #[error(
        "ballot rules: at most {cap} points per project exceeds the {per_voter} points a voter has"
    )]
    ProjectCapAbovePoints {
        /// The cap per project.
        cap: u32,
        /// Points per voter.
        per_voter: u32,
    },
    /// Parts counted together by a rule that is not equal shares.
    #[error(
        "ballot rules: counting budget parts together needs an equal-shares rule (mes, mes-add1, …), not {rule}"
    )]
    TogetherNeedsEqualShares {
        /// The rule given.
        rule: Rule,
    },
    /// A minimum number of votes of zero (leave it out for none).
    #[error("ballot rules: a minimum number of votes must be at least 1")]
    ZeroMinimumVotes,
    /// A share of the budget outside 1..=10 000 basis points.
    #[error("ballot rules: minimum budget share {basis_points} basis points is outside 1..=10000")]
    ShareOutOfRange {
        /// The share given.
        basis_points: u16,
    },
    /// A cost limit that is not positive.
    #[error("ballot rules: the cost limit {limit} must be positive")]
    CostLimitNotPositive {
        /// The limit.
        limit: Money,
    },
    /// The cost limit exceeds the budget or is in another currency.
    #[error("ballot rules: the cost limit {limit} does not fit the budget {budget}")]
    CostLimitAboveBudget {
        /// The limit.
        limit: Money,
        /// The budget.
        budget: Money,
    },
}

/// The rules a ballot must follow. Built with [`BallotRules::builder`]; every
/// combination of settings is checked when built and when deserialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RawRules", into = "RawRules")]
pub struct BallotRules {
    raw: RawRules,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawRules {
    kind: BallotKind,
    #[serde(default = "one")]
    min_projects: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_projects: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_total_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_budget_share: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    points: Option<PointsRule>,
    #[serde(default)]
    second_ballot: SecondBallot,
    #[serde(default)]
    counting: Counting,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minimum_votes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    part_voting: Option<PartVoting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    part_counting: Option<PartCounting>,
}

/// The least projects a ballot must choose, unless the rules say otherwise.
fn one() -> u32 {
    1
}

/// Points a cumulative ballot has unless the rules say otherwise.
const DEFAULT_POINTS: PointsRule = PointsRule {
    per_voter: 10,
    per_project: None,
    must_use_all: false,
};

impl TryFrom<RawRules> for BallotRules {
    type Error = RulesError;
    /// Rules as read: what JSON leaves out is what the builder starts with
    /// (at least one project; 10 points for cumulative ballots).
    fn try_from(mut raw: RawRules) -> Result<Self, Self::Error> {
        if raw.kind == BallotKind::Cumulative && raw.points.is_none() {
            raw.points = Some(DEFAULT_POINTS);
        }
        raw.validate().map_err(crate::wire::refused)?;
        Ok(BallotRules { raw })
    }
}

impl From<BallotRules> for RawRules {
    fn from(rules: BallotRules) -> Self {
        rules.raw
    }
}

impl RawRules {
    fn validate(&self) -> Result<(), RulesError> {
        let kind = self.kind;
        if let Some(max) = self.max_projects {
            if max == 0 {
                return Err(RulesError::ZeroMax);
            }
            if self.min_projects > max {
                return Err(RulesError::MinAboveMax {
                    min: self.min_projects,
                    max,
                });
            }
        }
        if kind != BallotKind::Knapsack {
            if self.max_total_cost.is_some() {
                return Err(RulesError::NotForKind {
                    setting: "a total cost limit",
                    kind,
                });
            }
            if self.min_budget_share.is_some() {
                return Err(RulesError::NotForKind {
                    setting: "a minimum budget share",
                    kind,
                });
            }
        }
        if self.minimum_votes == Some(0) {
            return Err(RulesError::ZeroMinimumVotes);
        }
        if self.part_counting == Some(PartCounting::Together) {
            if self.counting.rule.equal_shares().is_none() {
                return Err(RulesError::TogetherNeedsEqualShares {
                    rule: self.counting.rule.clone(),
                });
            }
            if kind == BallotKind::Ranked {
                return Err(RulesError::NotForKind {
                    setting: "counting parts together",
                    kind,
                });
            }
        }
        if let Some(limit) = self.max_total_cost.filter(|l| !l.is_positive()) {
            return Err(RulesError::CostLimitNotPositive { limit });
        }
        if let Some(bp) = self.min_budget_share.filter(|bp| *bp == 0 || *bp > 10_000) {
            return Err(RulesError::ShareOutOfRange { basis_points: bp });
        }
        match (kind, self.points) {
            // Filled in with the builder's default before this check.
            (BallotKind::Cumulative, None) => {}
            (BallotKind::Cumulative, Some(p)) => {
                if p.per_voter == 0 || p.per_project == Some(0) {
                    return Err(RulesError::ZeroPoints);
                }
                if let Some(cap) = p.per_project.filter(|cap| *cap > p.per_voter) {
                    return Err(RulesError::ProjectCapAbovePoints {
                        cap,
                        per_voter: p.per_voter,
                    });
                }
            }
            (_, Some(_)) => {
                return Err(RulesError::NotForKind {
                    setting: "points",
                    kind,
                });
            }
            (_, None) => {}
        }
        Ok(())
    }
}

/// Builds [`BallotRules`].
#[derive(Debug, Clone)]
pub struct BallotRulesBuilder {
    raw: RawRules,
    points_cap: Option<u32>,
    use_all_points: bool,
}

impl BallotRulesBuilder {
    /// At least `n` projects per ballot (default 1).
    pub fn min_projects(mut self, n: u32) -> Self {
        self.raw.min_projects = n;
        self
    }

    /// At most `n` projects per ballot.
    pub fn max_projects(mut self, n: u32) -> Self {
        self.raw.max_projects = Some(n);
        self
    }

    /// Knapsack only: the chosen projects may cost at most `limit` together
    /// (default: the budget).
    pub fn max_total_cost(mut self, limit: Money) -> Self {
        self.raw.max_total_cost = Some(limit);
        self
    }

    /// Knapsack only: the chosen projects must use at least this share of the
    /// budget, in basis points (7 000 = 70 %).
    pub fn min_budget_share(mut self, basis_points: u16) -> Self {
        self.raw.min_budget_share = Some(basis_points);
        self
    }

    /// Cumulative only: at most `cap` points to one project.
    pub fn max_points_per_project(mut self, cap: u32) -> Self {
        self.points_cap = Some(cap);
        self
    }

    /// Cumulative only: voters must distribute all their points.
    pub fn must_use_all_points(mut self) -> Self {
        self.use_all_points = true;
        self
    }

    /// What a second ballot from the same resident does (default: refused).
    pub fn second_ballot(mut self, policy: SecondBallot) -> Self {
        self.raw.second_ballot = policy;
        self
    }

    /// The counting rule (default: greedy, ties by project id).
    pub fn counting(mut self, counting: Counting) -> Self {
        self.raw.counting = counting;
        self
    }

    /// In a cycle of several budget parts, which parts a resident may cast a
    /// ballot in (default: any).
    pub fn part_voting(mut self, voting: PartVoting) -> Self {
        self.raw.part_voting = Some(voting);
        self
    }

    /// In a cycle of several budget parts, how the parts are counted
    /// (default: each alone, [`PartCounting::Separately`]).
    pub fn part_counting(mut self, counting: PartCounting) -> Self {
        self.raw.part_counting = Some(counting);
        self
    }

    /// A project chosen on fewer than `n` ballots is not funded, whatever the
    /// rule (it is left out before counting); `n` ≥ 1. Default: no minimum.
    pub fn minimum_votes(mut self, n: u32) -> Self {
        self.raw.minimum_votes = Some(n);
        self
    }

    /// Checks the settings together.
    ///
    /// # Errors
    /// The first inconsistent setting.
    pub fn build(mut self) -> Result<BallotRules, RulesError> {
        match self.raw.points.as_mut() {
            Some(points) => {
                points.per_project = self.points_cap.or(points.per_project);
                points.must_use_all |= self.use_all_points;
            }
            None if self.points_cap.is_some() || self.use_all_points => {
                return Err(RulesError::NotForKind {
                    setting: "points",
                    kind: self.raw.kind,
                });
            }
            None => {}
        }
        BallotRules::try_from(self.raw)
    }
}

/// A ballot's choices; the variant must match the ballot kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
pub enum Choices {
    /// Approved projects (approval and knapsack ballots).
    Approval(Vec<ProjectId>),
    /// Points per project (cumulative ballots).
    Points(Vec<(ProjectId, u32)>),
    /// Projects ranked best first (ranked ballots).
    Ranking(Vec<ProjectId>),
}

impl Choices {
    /// The projects chosen, in ballot order.
    pub fn projects(&self) -> Vec<ProjectId> {
        match self {
            Choices::Approval(p) | Choices::Ranking(p) => p.clone(),
            Choices::Points(p) => p.iter().map(|(id, _)| *id).collect(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Choices::Approval(_) => "approval",
            Choices::Points(_) => "points",
            Choices::Ranking(_) => "ranking",
        }
    }
}

/// Why a ballot breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BallotError {
    /// Choices of the wrong form for the ballot kind.
    #[error("a {kind} ballot cannot hold {given} choices")]
    WrongKind {
        /// The ballot kind of the cycle.
        kind: BallotKind,
        /// The form given.
        given: &'static str,
    },
    /// A project that is not on the shortlist.
    #[error("project {project} is not on the ballot")]
    UnknownProject {
        /// The project.
        project: ProjectId,
    },
    /// A project chosen twice.
    #[error("project {project} is chosen twice")]
    DuplicateProject {
        /// The project.
        project: ProjectId,
    },
    /// Fewer projects than the minimum.
    #[error("{chosen} projects chosen; the rules require at least {min}")]
    TooFewProjects {
        /// Projects chosen.
        chosen: usize,
        /// The minimum.
        min: u32,
    },
    /// More projects than the maximum.
    #[error("{chosen} projects chosen; the rules allow at most {max}")]
    TooManyProjects {
        /// Projects chosen.
        chosen: usize,
        /// The maximum.
        max: u32,
    },
    /// Knapsack: the chosen projects cost more than the limit.
    #[error("the chosen projects cost {total}, over the limit of {limit}")]
    OverCostLimit {
        /// Total cost chosen.
        total: Money,
        /// The limit.
        limit: Money,
    },
    /// Knapsack: the chosen projects use too little of the budget.
    #[error(
        "the chosen projects cost {total}; the rules require at least {required} ({basis_points} basis points of the budget)"
    )]
    UnderBudgetShare {
        /// Total cost chosen.
        total: Money,
        /// The least allowed.
        required: Money,
        /// The share in basis points.
        basis_points: u16,
    },
    /// Cumulative: more points than a voter has.
    #[error("{given} points given; each voter has {allowed}")]
    TooManyPoints {
        /// Points given.
        given: u64,
        /// Points allowed.
        allowed: u32,
    },
    /// Cumulative: not all points used where the rules require it.
    #[error("{given} points given; the rules require all {required} to be used")]
    PointsNotAllUsed {
        /// Points given.
        given: u64,
        /// Points required.
        required: u32,
    },
    /// Cumulative: too many points to one project.
    #[error("{given} points to project {project}; at most {cap} per project")]
    OverProjectCap {
        /// The project.
        project: ProjectId,
        /// Points given.
        given: u32,
        /// The cap.
        cap: u32,
    },
    /// Cumulative: zero points to a listed project.
    #[error("project {project} is listed with 0 points")]
    ZeroPoints {
        /// The project.
        project: ProjectId,
    },
    /// Costs could not be added (different currencies or overflow).
    #[error("cannot add up the costs of the chosen projects: {0}")]
    Money(#[from] crate::money::MoneyError),
}

impl BallotRules {
    /// Starts rules of a kind. Cumulative ballots start with 10 points per voter;
    /// set others with [`BallotRules::cumulative`].
    pub fn builder(kind: BallotKind) -> BallotRulesBuilder {
        BallotRulesBuilder {
            raw: RawRules {
                kind,
                min_projects: 1,
                max_projects: None,
                max_total_cost: None,
                min_budget_share: None,
                points: (kind == BallotKind::Cumulative).then_some(DEFAULT_POINTS),
                second_ballot: SecondBallot::Refuse,
                counting: Counting::default(),
                minimum_votes: None,
                part_voting: None,
                part_counting: None,
            },
            points_cap: None,
            use_all_points: false,
        }
    }

    /// Starts cumulative rules with `points_per_voter` points.
    pub fn cumulative(points_per_voter: u32) -> BallotRulesBuilder {
        let mut b = BallotRules::builder(BallotKind::Cumulative);
        b.raw.points = Some(PointsRule {
            per_voter: points_per_voter,
            per_project: None,
            must_use_all: false,
        });
        b
    }

    /// Approval ballots with default settings.
    pub fn approval() -> BallotRules {
        BallotRules {
            raw: BallotRules::builder(BallotKind::Approval).raw,
        }
    }

    /// The ballot kind.
    pub fn kind(&self) -> BallotKind {
        self.raw.kind
    }

    /// Least number of projects per ballot.
    pub fn min_projects(&self) -> u32 {
        self.raw.min_projects
    }

    /// Most projects per ballot.
    pub fn max_projects(&self) -> Option<u32> {
        self.raw.max_projects
    }

    /// Knapsack cost limit, if set apart from the budget.
    pub fn max_total_cost(&self) -> Option<Money> {
        self.raw.max_total_cost
    }

    /// Knapsack minimum share of the budget in basis points.
    pub fn min_budget_share(&self) -> Option<u16> {
        self.raw.min_budget_share
    }

    /// Points for cumulative ballots.
    pub fn points(&self) -> Option<PointsRule> {
        self.raw.points
    }

    /// What a second ballot does.
    pub fn second_ballot(&self) -> SecondBallot {
        self.raw.second_ballot
    }

    /// The counting rule.
    pub fn counting(&self) -> &Counting {
        &self.raw.counting
    }

    /// In a cycle of several budget parts, which parts a resident may cast a
    /// ballot in.
    pub fn part_voting(&self) -> PartVoting {
        self.raw.part_voting.unwrap_or_default()
    }

    /// In a cycle of several budget parts, how the parts are counted.
    pub fn part_counting(&self) -> PartCounting {
        self.raw.part_counting.unwrap_or_default()
    }

    /// Whether the parts are counted together ([`PartCounting::Together`]):
    /// their money is one pool, so only the whole budget limits the count and
    /// the council, and what is left carries over as one sum.
    pub fn parts_together(&self) -> bool {
        self.part_counting() == PartCounting::Together
    }

    /// The least number of ballots that must choose a project for it to be
    /// funded, if the rules set one.
    pub fn minimum_votes(&self) -> Option<u32> {
        self.raw.minimum_votes
    }

    /// Checks the rules against the budget (step 1's gate): a knapsack cost limit
    /// must be in the budget's currency and not above it.
    ///
    /// # Errors
    /// [`RulesError::CostLimitAboveBudget`].
    pub fn check_budget(&self, budget: Money) -> Result<(), RulesError> {
        match self.raw.max_total_cost {
            Some(limit)
                if limit.currency() != budget.currency() || limit.minor() > budget.minor() =>
            {
                Err(RulesError::CostLimitAboveBudget { limit, budget })
            }
            _ => Ok(()),
        }
    }

    /// Checks a ballot's choices; `cost_of` gives the cost of each project on the
    /// ballot (and `None` for a project that is not on it).
    ///
    /// # Errors
    /// The first broken rule, with the values involved.
    pub fn check<F>(&self, choices: &Choices, cost_of: F, budget: Money) -> Result<(), BallotError>
    where
        F: Fn(ProjectId) -> Option<Money>,
    {
        let kind = self.raw.kind;
        let form_ok = matches!(
            (kind, choices),
            (
                BallotKind::Approval | BallotKind::Knapsack,
                Choices::Approval(_)
            ) | (BallotKind::Cumulative, Choices::Points(_))
                | (BallotKind::Ranked, Choices::Ranking(_))
        );
        if !form_ok {
            return Err(BallotError::WrongKind {
                kind,
                given: choices.name(),
            });
        }
        let projects = choices.projects();
        let mut costs = Vec::with_capacity(projects.len());
        for (k, &project) in projects.iter().enumerate() {
            if projects[..k].contains(&project) {
                return Err(BallotError::DuplicateProject { project });
            }
            costs.push(cost_of(project).ok_or(BallotError::UnknownProject { project })?);
        }
        if projects.len() < self.raw.min_projects as usize {
            return Err(BallotError::TooFewProjects {
                chosen: projects.len(),
                min: self.raw.min_projects,
            });
        }
        if let Some(max) = self
            .raw
            .max_projects
            .filter(|m| projects.len() > *m as usize)
        {
            return Err(BallotError::TooManyProjects {
                chosen: projects.len(),
                max,
            });
        }
        if kind == BallotKind::Knapsack {
            let total = Money::sum(budget.currency(), costs)?;
            // The limit, and never more than the budget the ballot is for (a
            // part's, in a cycle of several).
            let limit = match self.raw.max_total_cost {
                Some(l) if l.checked_cmp(&budget)?.is_lt() => l,
                _ => budget,
            };
            if total.checked_cmp(&limit)?.is_gt() {
                return Err(BallotError::OverCostLimit { total, limit });
            }
            if let Some(bp) = self.raw.min_budget_share {
                let required = budget.share_ceil(bp);
                if total.checked_cmp(&required)?.is_lt() {
                    return Err(BallotError::UnderBudgetShare {
                        total,
                        required,
                        basis_points: bp,
                    });
                }
            }
        }
        if let (Choices::Points(points), Some(rule)) = (choices, self.raw.points) {
            let mut given = 0_u64;
            for &(project, p) in points {
                if p == 0 {
                    return Err(BallotError::ZeroPoints { project });
                }
                if let Some(cap) = rule.per_project.filter(|cap| p > *cap) {
                    return Err(BallotError::OverProjectCap {
                        project,
                        given: p,
                        cap,
                    });
                }
                given += u64::from(p);
            }
            if given > u64::from(rule.per_voter) {
                return Err(BallotError::TooManyPoints {
                    given,
                    allowed: rule.per_voter,
                });
            }
            if rule.must_use_all && given < u64::from(rule.per_voter) {
                return Err(BallotError::PointsNotAllUsed {
                    given,
                    required: rule.per_voter,
                });
            }
        }
        Ok(())
    }
}

/// A ballot as a voter or an official submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BallotSubmission {
    /// The ballot's id (chosen by the caller, so that replays are exact).
    pub id: BallotId,
    /// The voter's record on the day of voting.
    pub voter: Resident,
    /// When the ballot was cast.
    pub cast_at: DateTime<Utc>,
    /// The choices.
    pub choices: Choices,
    /// The budget part it is for, in a cycle of several
    /// ([`crate::part`]); `None` in a cycle of one budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartId>,
}

/// Paper ballots entered together by an official.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PaperBatch {
    /// Who entered the ballots (name or staff id).
    pub entered_by: String,
    /// When they were entered.
    pub entered_at: DateTime<Utc>,
    /// The ballots, each with the time it was cast on paper.
    pub ballots: Vec<BallotSubmission>,
}

/// How a ballot reached the count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Channel {
    /// Cast digitally by the voter.
    Digital,
    /// Cast on paper and entered by an official.
    Paper {
        /// Who entered it.
        entered_by: String,
        /// When it was entered.
        entered_at: DateTime<Utc>,
    },
}

/// The eligibility verdict a ballot was counted on: the voter's record was
/// checked on the day of voting against the cycle's eligibility rules, named
/// by their version. The record itself is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EligibilityCheck {
    /// The rules the voter was found eligible under.
    pub rules: EligibilityVersion,
}

/// A counted ballot, as the cycle and its log keep it: what counting and audit
/// need — the voter's id (a keyed pseudonym when stored through a
/// [`Repository`](crate::store::Repository)), the choices, when and how it was
/// cast, and the eligibility verdict — and nothing that describes the voter (no
/// birth date, residence or groups), so that ballots cannot be linked to
/// residents by matching records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    /// The ballot's id.
    pub id: BallotId,
    /// The voter's id (a pseudonym once stored through a repository).
    pub voter: ResidentId,
    /// When it was cast.
    pub cast_at: DateTime<Utc>,
    /// The choices.
    pub choices: Choices,
    /// Paper or digital.
    pub channel: Channel,
    /// The eligibility verdict (which, in a cycle of several budget parts,
    /// covers the voter's right to vote in the ballot's part).
    pub eligibility: EligibilityCheck,
    /// The budget part it is for, in a cycle of several; `None` in a cycle of
    /// one budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartId>,
    /// The voter's home (the district or one of its sub-areas), recorded only
    /// in a cycle of several parts whose rules let residents vote in their own
    /// parts: it decides which parts are the voter's own, and one voter cannot
    /// claim two homes. Nothing finer than a neighbourhood is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<crate::ids::AreaId>,
}

impl Ballot {
    /// The ballot's id.
    pub fn id(&self) -> BallotId {
        self.id
    }

    /// The voter's id.
    pub fn voter(&self) -> ResidentId {
        self.voter
    }

    /// When it was cast.
    pub fn cast_at(&self) -> DateTime<Utc> {
        self.cast_at
    }

    /// The choices.
    pub fn choices(&self) -> &Choices {
        &self.choices
    }

    /// Whether it was cast on paper.
    pub fn is_paper(&self) -> bool {
        matches!(self.channel, Channel::Paper { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn p(n: u128) -> ProjectId {
        ProjectId::from_u128(n)
    }

    fn sek(minor: i64) -> Money {
        Money::new(minor, Currency::SEK)
    }

    /// Projects 1..=4 cost 100, 200, 300, 400.
    fn cost(id: ProjectId) -> Option<Money> {
        let n = id.as_uuid().as_u128();
        (1..=4)
            .contains(&n)
            .then(|| sek(i64::try_from(n).unwrap_or(0) * 100))
    }

    #[test]
    fn rules_reject_inconsistent_settings() {
        use BallotKind::*;
        let e = |b: BallotRulesBuilder| b.build().unwrap_err();
        assert_eq!(
            e(BallotRules::builder(Approval)
                .min_projects(3)
                .max_projects(2)),
            RulesError::MinAboveMax { min: 3, max: 2 }
        );
        assert_eq!(
            e(BallotRules::builder(Approval).max_projects(0)),
            RulesError::ZeroMax
        );
        assert!(matches!(
            e(BallotRules::builder(Approval).max_total_cost(sek(5))),
            RulesError::NotForKind { .. }
        ));
        assert!(matches!(
            e(BallotRules::builder(Ranked).min_budget_share(10)),
            RulesError::NotForKind { .. }
        ));
        assert!(matches!(
            e(BallotRules::builder(Knapsack).max_total_cost(sek(0))),
            RulesError::CostLimitNotPositive { .. }
        ));
        assert!(matches!(
            e(BallotRules::builder(Knapsack).min_budget_share(0)),
            RulesError::ShareOutOfRange { .. }
        ));
        assert!(matches!(
            e(BallotRules::builder(Knapsack).min_budget_share(10_001)),
            RulesError::ShareOutOfRange { .. }
        ));
        assert_eq!(e(BallotRules::cumulative(0)), RulesError::ZeroPoints);
        assert!(matches!(
            e(BallotRules::builder(Approval).max_points_per_project(3)),
            RulesError::NotForKind { .. }
        ));
        assert!(matches!(
            e(BallotRules::builder(Ranked).must_use_all_points()),
            RulesError::NotForKind { .. }
        ));
        assert_eq!(
            e(BallotRules::cumulative(5).max_points_per_project(0)),
            RulesError::ZeroPoints
        );
        assert_eq!(
            e(BallotRules::cumulative(5).max_points_per_project(6)),
            RulesError::ProjectCapAbovePoints {
                cap: 6,
                per_voter: 5
            }
        );
    }

    #[test]
    fn a_counting_rule_with_a_typo_is_refused_when_the_rules_are_read() {
        let rules = BallotRules::builder(BallotKind::Approval)
            .counting(Counting {
                rule: Rule::MesAdd1,
                tie_breaking: TieBreaking::by_project_id(),
            })
            .build()
            .unwrap();
        let json = serde_json::to_string(&rules).unwrap();
        assert!(json.contains("\"rule\":\"mes-add1\""), "{json}");
        let typo = json.replace("\"mes-add1\"", "\"mes-ad1\"");
        let err = serde_json::from_str::<BallotRules>(&typo).unwrap_err();
        assert!(
            err.to_string().contains("unknown rule \"mes-ad1\""),
            "{err}"
        );
    }

    #[test]
    fn deserialised_rules_are_checked() {
        let rules = BallotRules::builder(BallotKind::Knapsack)
            .max_projects(3)
            .min_budget_share(5_000)
            .build()
            .unwrap();
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(serde_json::from_str::<BallotRules>(&json).unwrap(), rules);
        let broken = json.replace("\"knapsack\"", "\"approval\"");
        assert!(serde_json::from_str::<BallotRules>(&broken).is_err());
        // Cumulative rules without points get the builder's 10 points.
        let no_points = r#"{"kind":"cumulative","min_projects":1}"#;
        assert_eq!(
            serde_json::from_str::<BallotRules>(no_points).unwrap(),
            BallotRules::cumulative(10).build().unwrap()
        );
        let zero = r#"{"kind":"cumulative","points":{"per_voter":0}}"#;
        assert!(serde_json::from_str::<BallotRules>(zero).is_err());
    }

    #[test]
    fn budget_check_limits_knapsack_cap() {
        let rules = BallotRules::builder(BallotKind::Knapsack)
            .max_total_cost(sek(600))
            .build()
            .unwrap();
        assert!(rules.check_budget(sek(600)).is_ok());
        assert!(rules.check_budget(sek(500)).is_err());
        assert!(
            rules
                .check_budget(Money::new(1_000, Currency::EUR))
                .is_err()
        );
        assert!(BallotRules::approval().check_budget(sek(1)).is_ok());
    }

    #[test]
    fn approval_counts_and_projects() {
        let rules = BallotRules::builder(BallotKind::Approval)
            .min_projects(2)
            .max_projects(3)
            .build()
            .unwrap();
        let ok = Choices::Approval(vec![p(1), p(2)]);
        assert!(rules.check(&ok, cost, sek(1_000)).is_ok());
        let check = |c: Choices| rules.check(&c, cost, sek(1_000)).unwrap_err();
        assert_eq!(
            check(Choices::Approval(vec![p(1)])),
            BallotError::TooFewProjects { chosen: 1, min: 2 }
        );
        assert_eq!(
            check(Choices::Approval(vec![p(1), p(2), p(3), p(4)])),
            BallotError::TooManyProjects { chosen: 4, max: 3 }
        );
        assert_eq!(
            check(Choices::Approval(vec![p(1), p(9)])),
            BallotError::UnknownProject { project: p(9) }
        );
        assert_eq!(
            check(Choices::Approval(vec![p(1), p(1)])),
            BallotError::DuplicateProject { project: p(1) }
        );
        assert!(matches!(
            check(Choices::Ranking(vec![p(1), p(2)])),
            BallotError::WrongKind { .. }
        ));
        assert!(matches!(
            check(Choices::Points(vec![(p(1), 1)])),
            BallotError::WrongKind { .. }
        ));
    }

    #[test]
    fn knapsack_limits_and_share() {
        let rules = BallotRules::builder(BallotKind::Knapsack)
            .max_total_cost(sek(600))
            .min_budget_share(3_000)
            .build()
            .unwrap();
        let budget = sek(1_000);
        assert!(
            rules
                .check(&Choices::Approval(vec![p(2), p(4)]), cost, budget)
                .is_ok()
        );
        assert_eq!(
            rules.check(&Choices::Approval(vec![p(3), p(4)]), cost, budget),
            Err(BallotError::OverCostLimit {
                total: sek(700),
                limit: sek(600)
            })
        );
        assert_eq!(
            rules.check(&Choices::Approval(vec![p(1)]), cost, budget),
            Err(BallotError::UnderBudgetShare {
                total: sek(100),
                required: sek(300),
                basis_points: 3_000
            })
        );
        let default_cap = BallotRules::builder(BallotKind::Knapsack).build().unwrap();
        assert!(
            default_cap
                .check(
                    &Choices::Approval(vec![p(1), p(2), p(3), p(4)]),
                    cost,
                    budget
                )
                .is_ok()
        );
        assert!(
            default_cap
                .check(
                    &Choices::Approval(vec![p(1), p(2), p(3), p(4)]),
                    cost,
                    sek(999)
                )
                .is_err()
        );
        assert!(matches!(
            default_cap.check(
                &Choices::Approval(vec![p(1)]),
                |_| Some(Money::new(1, Currency::EUR)),
                budget
            ),
            Err(BallotError::Money(_))
        ));
    }

    #[test]
    fn cumulative_points() {
        let rules = BallotRules::cumulative(10)
            .max_points_per_project(6)
            .must_use_all_points()
            .build()
            .unwrap();
        let b = sek(1_000);
        assert!(
            rules
                .check(&Choices::Points(vec![(p(1), 6), (p(2), 4)]), cost, b)
                .is_ok()
        );
        assert_eq!(
            rules.check(&Choices::Points(vec![(p(1), 7), (p(2), 3)]), cost, b),
            Err(BallotError::OverProjectCap {
                project: p(1),
                given: 7,
                cap: 6
            })
        );
        assert_eq!(
            rules.check(&Choices::Points(vec![(p(1), 6), (p(2), 5)]), cost, b),
            Err(BallotError::TooManyPoints {
                given: 11,
                allowed: 10
            })
        );
        assert_eq!(
            rules.check(&Choices::Points(vec![(p(1), 6)]), cost, b),
            Err(BallotError::PointsNotAllUsed {
                given: 6,
                required: 10
            })
        );
        assert_eq!(
            rules.check(&Choices::Points(vec![(p(1), 0), (p(2), 6)]), cost, b),
            Err(BallotError::ZeroPoints { project: p(1) })
        );
        assert!(matches!(
            rules.check(&Choices::Approval(vec![p(1)]), cost, b),
            Err(BallotError::WrongKind { .. })
        ));
        let loose = BallotRules::cumulative(10).build().unwrap();
        assert!(
            loose
                .check(&Choices::Points(vec![(p(1), 10)]), cost, b)
                .is_ok()
        );
    }

    #[test]
    fn ranked_ballots() {
        let rules = BallotRules::builder(BallotKind::Ranked)
            .max_projects(2)
            .build()
            .unwrap();
        assert!(
            rules
                .check(&Choices::Ranking(vec![p(2), p(1)]), cost, sek(1))
                .is_ok()
        );
        assert!(matches!(
            rules.check(&Choices::Ranking(vec![p(2), p(1), p(3)]), cost, sek(1)),
            Err(BallotError::TooManyProjects { .. })
        ));
        assert!(matches!(
            rules.check(&Choices::Approval(vec![p(2)]), cost, sek(1)),
            Err(BallotError::WrongKind { .. })
        ));
    }
}
