//! Step 7, follow-up: did the programme reach the residents it was meant for, and
//! deliver what they chose? Measures for one cycle ([`CycleMetrics`]) and for a
//! whole programme with the change from year to year ([`ProgrammeMetrics`]), for
//! real and simulated cycles alike.
//!
//! Every measure is exact: counts are integers, money is [`Money`], ratios are
//! reduced [`Fraction`]s (use [`Fraction::value`] for a float to print or plot).
//! That makes metrics `Eq`, and the same cycle always gives the same figures.
//!
//! ## Computed, not stored
//!
//! The figures of a cycle are computed from it whenever they are needed
//! ([`Cycle::metrics`] or [`CycleMetrics::of`]); the next year's criteria step
//! reads them through [`Programme::follow_up`]. The
//! [`Evaluation`](crate::process::Evaluation) that closes a cycle records what
//! people decided (lessons, a summary) and, optionally, the digest of the
//! figures as published ([`CycleMetrics::digest`]), which
//! [`CycleMetrics::published`] checks on request. Loading a cycle never
//! recounts them.
//!
//! ## The measures
//!
//! * **Turnout**: voters (ballots counted, one per voter) over the area's
//!   population, and per group of each [`Breakdown`](crate::area::Breakdown) of
//!   the area, with the group of a voter taken from their ballot
//!   ([`Resident::group`](crate::area::Resident::group)). A group's
//!   *representation* is its share of voters over its share of the population,
//!   `(voters_g / voters) / (population_g / population)`.
//! * **Support**: a voter supports the projects they approved, ranked, or gave
//!   more than zero points. For each voter, the funded projects they support —
//!   counted ([`CycleMetrics::satisfaction_by_count`]) and by cost as a share of
//!   the budget ([`CycleMetrics::satisfaction_by_cost`]) — with the mean and the
//!   Gini coefficient `Σ_i Σ_j |x_i − x_j| / (2 n Σ x)` over voters.
//! * **Proportionality**: extended justified representation up to one project
//!   (Peters, Pierczyński and Skowron, *Proportional participatory budgeting
//!   with additive utilities*, NeurIPS 2021) with that support and cost
//!   utilities `u_i(S) = Σ cost of the projects of S voter i supports`. For a
//!   non-empty set `T` of projects on the ballot, a group of voters who all
//!   support every project of `T` is *T-cohesive* if
//!   `|group| · budget ≥ voters · cost(T)`. A voter of the group is satisfied up
//!   to one project if `u_i(W) ≥ u_i(T)` for the funded set `W`, or some
//!   `a ∈ T \ W` gives `u_i(W ∪ {a}) > u_i(T)`. The funded set satisfies EJR up
//!   to one project if every T-cohesive group has a satisfied member; it is
//!   violated for `T` exactly when the unsatisfied voters among those who
//!   support all of `T` are themselves a T-cohesive group. With at most
//!   sixteen projects on the ballot every `T` is tried
//!   ([`Proportionality::Exact`]); with more, the sets of one or two projects
//!   ([`Proportionality::Indicator`]).
//! * **Money and delivery**: the budget, what was carried in, spent and left
//!   over, funded projects delivered, cancelled or in progress, residents who
//!   co-created, ideas, projects on the ballot, outreach.

mod ejr;
mod exact;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ballot::{Ballot, Choices};
use crate::idea::Idea;
use crate::ids::{CycleId, ProgrammeId, ProjectId, ResidentId};
use crate::money::{Money, MoneyError};
use crate::part::BudgetPart;
use crate::process::stage::Decided;
use crate::process::{
    Adjustment, Allocation, AnyCycle, Cycle, CycleError, CycleSetup, FiguresDigest,
    FundingDecision, FundingSource, OutreachActivity, Participation, Programme, Step,
};
use crate::project::{DeliveryStatus, Project};
use crate::tally::Fraction;

use ejr::{EXACT_MAX_PROJECTS, Instance, Overflow};
use exact::{change_bp, gini, ratio, ratio_of_products};

/// Turnout of one population group (`age` = `65+`, …) against its share of the
/// area's population, from the cycle's participation count
/// ([`Participation`]). Where the count was
/// suppressed (too few voters to publish), so are the measures derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupTurnout {
    /// The dimension (`age`, `language`).
    pub dimension: String,
    /// The group within it.
    pub group: String,
    /// Residents in the group (from the area's breakdown).
    pub population: u64,
    /// Voters who belong to the group, as counted from the register; `None`
    /// when suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<u64>,
    /// `voters / population` (zero for an empty group); `None` when
    /// suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnout: Option<Fraction>,
    /// The group's share of voters divided by its share of the population:
    /// 1 is proportional, below 1 under-represented. Zero when nobody voted;
    /// `None` when suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<Fraction>,
    /// Contacts made by the outreach activities aimed at the group (the
    /// people each reported reaching, added up; activities aimed at everyone
    /// are not counted here): the first stage of the group's funnel.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reached: u64,
    /// Ideas whose author belongs to the group: the second stage (the third
    /// is `voters`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ideas: u64,
}

/// For serde: a funnel count of zero is left out, so that figures without a
/// funnel serialise, and digest, as they did before it existed.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The distribution of a per-voter measure: its mean and its Gini coefficient
/// (0 = everyone equal, towards 1 = concentrated on few voters), both exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Distribution {
    /// Mean over voters.
    pub mean: Fraction,
    /// Gini coefficient over voters (zero when every value is zero).
    pub gini: Fraction,
}

/// How proportional the funded set is, by EJR up to one project (Peters,
/// Pierczyński and Skowron, 2021) with approval-style support (a voter supports
/// the projects they approved, gave points or ranked) and cost utilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Proportionality {
    /// Checked exactly: every subset of the shortlist was tried.
    Exact {
        /// Whether the funded set satisfies EJR up to one project.
        ejr_up_to_one: bool,
        /// The projects `T` of a violating group, if any: the first found,
        /// trying sets depth first in ballot order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        witness: Option<Vec<ProjectId>>,
    },
    /// Too many projects to check exactly: only groups that support one or two
    /// common projects were checked. A violation found is a real violation; none
    /// found is evidence, not proof.
    Indicator {
        /// Violating project sets of size one or two found.
        violations: u64,
        /// Project sets checked.
        checked: u64,
    },
}

/// The follow-up of one cycle: who took part, who got what, what was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CycleMetrics {
    /// The cycle.
    pub cycle: CycleId,
    /// Its year.
    pub year: i32,
    /// The area's population.
    pub population: u64,
    /// Ballots counted (one per voter).
    pub voters: u64,
    /// `voters / population`.
    pub turnout: Fraction,
    /// Turnout and representation by group, for every group in the area's
    /// breakdown, in its order.
    pub groups: Vec<GroupTurnout>,
    /// Residents reached by outreach (as recorded) and the number of activities.
    pub outreach_reached: u64,
    /// Outreach activities recorded.
    pub outreach_activities: u64,
    /// Ideas submitted.
    pub ideas: u64,
    /// Projects on the ballot.
    pub projects_on_ballot: u64,
    /// Projects funded.
    pub funded: u64,
    /// Share of voters with at least one funded project they supported.
    pub voters_with_funded: Fraction,
    /// Funded projects each voter supported.
    pub satisfaction_by_count: Distribution,
    /// Cost of the funded projects each voter supported, as a share of the
    /// budget.
    pub satisfaction_by_cost: Distribution,
    /// EJR up to one project.
    pub proportionality: Proportionality,
    /// The budget (council money and additions, carry-over included).
    pub budget: Money,
    /// Of which carried over from the year before.
    pub carried_in: Money,
    /// Money spent on funded projects: final costs of completed ones, what was
    /// spent on cancelled ones, and estimates of those still in progress.
    pub spent: Money,
    /// `budget - spent`.
    pub left_over: Money,
    /// Funded projects completed.
    pub delivered: u64,
    /// Funded projects cancelled.
    pub cancelled: u64,
    /// Funded projects still in progress.
    pub in_progress: u64,
    /// Distinct residents who co-created: worked projects out in step 4 or took
    /// part in implementing them in step 6.
    pub co_creators: u64,
    /// In a cycle of several budget parts, each part's figures, in the order
    /// of the parts; empty (and not written) for a cycle of one budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartFigures>,
}

/// One budget part's figures ([`CycleMetrics::parts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PartFigures {
    /// The part.
    pub part: crate::part::PartId,
    /// Its name.
    pub name: String,
    /// Its money.
    pub budget: Money,
    /// Ballots cast in it.
    pub ballots: u64,
    /// Projects on its ballot.
    pub projects_on_ballot: u64,
    /// Its projects funded (after any council adjustment).
    pub funded: u64,
    /// Their cost (final cost, money spent before cancelling, or the
    /// estimate while being built).
    pub cost: Money,
}

/// The change of the main measures from one year to the next (later minus
/// earlier), as signed values in the unit of each measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct YearChange {
    /// The later year.
    pub year: i32,
    /// Change in voters.
    pub voters: i64,
    /// Change in turnout, in basis points (1/10,000) of the population.
    pub turnout_bp: i64,
    /// Change in the share of voters with a funded project, in basis points.
    pub voters_with_funded_bp: i64,
    /// Change in mean satisfaction by cost, in basis points of the budget.
    pub satisfaction_by_cost_bp: i64,
    /// Change in money spent.
    pub spent: Money,
    /// Change in co-creators.
    pub co_creators: i64,
}

/// The follow-up of a whole programme: each counted year, the changes from one
/// to the next, and the money over all years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProgrammeMetrics {
    /// Years whose vote was counted, in order.
    pub years: Vec<CycleMetrics>,
    /// From each counted year to the next counted one.
    pub changes: Vec<YearChange>,
    /// Money the council set aside over all the programme's years (without
    /// carry-over, which would count it twice), as in the
    /// [`CredibilityReport`](crate::process::CredibilityReport).
    pub set_aside: Money,
    /// Money spent over the counted years: the sum of their
    /// [`CycleMetrics::spent`], so projects still in progress count at their
    /// estimates.
    pub spent: Money,
    /// Unspent money carried over to a later year (the programme's
    /// [`CarryOver`](crate::process::CarryOver) records).
    pub carried_over: Money,
    /// Money left unspent by years that ended and received by no later year:
    /// carry-over still waiting for a cycle, or, when the programme lets no
    /// money carry over, what each ended year left.
    pub left_at_end: Money,
}

/// Why follow-up metrics cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FollowUpError {
    /// The figures could not be written as JSON to take their digest.
    #[error("cycle {cycle}: the follow-up figures cannot be written as JSON: {message}")]
    Serialise {
        /// The cycle.
        cycle: CycleId,
        /// Why.
        message: String,
    },
    /// The cycle's vote has not been counted: it is in a step before
    /// implementation, or was abandoned before the vote was counted.
    #[error(
        "cycle {cycle} of {year} is in step {step} and its vote has not been counted; follow-up metrics need a cycle in implementation, follow-up or closed"
    )]
    NotCounted {
        /// The cycle.
        cycle: CycleId,
        /// Its year.
        year: i32,
        /// The step it is in.
        step: Step,
    },
    /// The budget the vote was counted within is not positive.
    #[error("cycle {cycle}: the budget {budget} is not positive")]
    NotPositiveBudget {
        /// The cycle.
        cycle: CycleId,
        /// The budget.
        budget: Money,
    },
    /// A project on the ballot has no cost estimate.
    #[error("cycle {cycle}: project {project} on the ballot has no cost estimate")]
    NotCosted {
        /// The cycle.
        cycle: CycleId,
        /// The project.
        project: ProjectId,
    },
    /// A project on the ballot costs less than nothing.
    #[error("cycle {cycle}: project {project} on the ballot has a negative cost {cost}")]
    NegativeCost {
        /// The cycle.
        cycle: CycleId,
        /// The project.
        project: ProjectId,
        /// Its cost estimate.
        cost: Money,
    },
    /// Adding up money failed (an overflow or another currency).
    #[error("cycle {cycle}: adding up {what} failed: {source}")]
    Money {
        /// The cycle.
        cycle: CycleId,
        /// The amount being computed.
        what: &'static str,
        /// The failure.
        source: MoneyError,
    },
    /// Adding up a programme's money failed.
    #[error("programme {programme}: adding up {what} failed: {source}")]
    ProgrammeMoney {
        /// The programme.
        programme: ProgrammeId,
        /// The amount being computed.
        what: &'static str,
        /// The failure.
        source: MoneyError,
    },
    /// A measure overflows exact arithmetic (amounts far beyond any budget).
    #[error("cycle {cycle}: {what} overflows exact arithmetic")]
    Overflow {
        /// The cycle.
        cycle: CycleId,
        /// The measure.
        what: &'static str,
    },
    /// The cycle could not tell its budget.
    #[error("cycle {cycle}: {source}")]
    Cycle {
        /// The cycle.
        cycle: CycleId,
        /// Why.
        source: Box<CycleError>,
    },
}

impl GroupTurnout {
    /// A group of `population.0` residents of `population.1`, with `voters.0`
    /// voters of `voters.1`: turnout `v_g / p_g`, representation
    /// `(v_g / v) / (p_g / p) = v_g · p / (v · p_g)`, each zero when its
    /// denominator is (an empty group, nobody voted).
    fn new(
        dimension: &str,
        group: &str,
        population: (u64, u64),
        voters: (Option<u64>, u64),
    ) -> Result<GroupTurnout, Overflow> {
        let ((p_g, p), (v_g, v)) = (population, voters);
        let wide = u128::from;
        Ok(GroupTurnout {
            dimension: dimension.to_owned(),
            group: group.to_owned(),
            population: p_g,
            voters: v_g,
            turnout: v_g.map(|v_g| ratio(wide(v_g), wide(p_g))),
            representation: v_g
                .map(|v_g| ratio_of_products(wide(v_g), wide(p), wide(v), wide(p_g)))
                .transpose()?,
            reached: 0,
            ideas: 0,
        })
    }
}

/// What a cycle holds that its follow-up measures, seen without its stage.
struct Inputs<'a> {
    setup: &'a CycleSetup,
    additions: &'a [Allocation],
    outreach: &'a [OutreachActivity],
    ideas: &'a [Idea],
    projects: &'a [Project],
    ballots: &'a [Ballot],
    decision: &'a FundingDecision,
    /// The projects funded after the council's adjustments.
    funded: Vec<ProjectId>,
    /// Council adjustments, whose raises add to the counted budget.
    adjustments: &'a [Adjustment],
    /// The budget parts with their money, for a cycle of several.
    parts: Vec<(BudgetPart, Money)>,
    participation: Option<&'a Participation>,
}

/// The projects a ballot supports: approved, ranked, or given points.
fn supported(choices: &Choices) -> Vec<ProjectId> {
    match choices {
        Choices::Approval(p) | Choices::Ranking(p) => p.clone(),
        Choices::Points(p) => p
            .iter()
            .filter(|(_, points)| *points > 0)
            .map(|(id, _)| *id)
            .collect(),
    }
}

impl Inputs<'_> {
    fn cycle(&self) -> CycleId {
        self.setup.id
    }

    fn overflow(&self, what: &'static str) -> impl Fn(Overflow) -> FollowUpError {
        let cycle = self.cycle();
        move |Overflow| FollowUpError::Overflow { cycle, what }
    }

    fn money(&self, what: &'static str) -> impl Fn(MoneyError) -> FollowUpError {
        let cycle = self.cycle();
        move |source| FollowUpError::Money {
            cycle,
            what,
            source,
        }
    }

    fn project(&self, id: ProjectId) -> Option<&Project> {
        self.projects.iter().find(|p| p.id() == id)
    }

    /// Each part's figures, for a cycle of several.
    fn part_figures(&self) -> Result<Vec<PartFigures>, FollowUpError> {
        let currency = self.setup.currency;
        let mut out = Vec::with_capacity(self.parts.len());
        for (part, budget) in &self.parts {
            let of_part = |p: &Project| p.proposal().part.as_ref() == Some(&part.id);
            let funded: Vec<&Project> = self
                .funded
                .iter()
                .filter_map(|&id| self.project(id))
                .filter(|p| of_part(p))
                .collect();
            let cost = Money::sum(
                currency,
                funded.iter().filter_map(|p| {
                    p.delivery()
                        .and_then(crate::project::Delivery::spent)
                        .or_else(|| p.cost())
                }),
            )
            .map_err(self.money("a part's cost"))?;
            out.push(PartFigures {
                part: part.id.clone(),
                name: part.name.clone(),
                budget: *budget,
                ballots: self
                    .ballots
                    .iter()
                    .filter(|b| b.part.as_ref() == Some(&part.id))
                    .count() as u64,
                projects_on_ballot: self
                    .decision
                    .scores
                    .iter()
                    .filter_map(|s| self.project(s.project))
                    .filter(|p| of_part(p))
                    .count() as u64,
                funded: funded.len() as u64,
                cost,
            });
        }
        Ok(out)
    }

    fn metrics(&self) -> Result<CycleMetrics, FollowUpError> {
        let cycle = self.cycle();
        let currency = self.setup.currency;
        let budget = Money::sum(
            currency,
            std::iter::once(self.decision.budget)
                .chain(self.adjustments.iter().filter_map(|a| a.raises_budget_by)),
        )
        .map_err(self.money("the budget"))?;
        let budget_minor = u128::try_from(budget.minor())
            .ok()
            .filter(|b| *b > 0)
            .ok_or(FollowUpError::NotPositiveBudget { cycle, budget })?;

        // The ballot: the shortlist in the order the decision scored it.
        let shortlist: Vec<ProjectId> = self.decision.scores.iter().map(|s| s.project).collect();
        let index: HashMap<ProjectId, usize> =
            shortlist.iter().enumerate().map(|(k, &p)| (p, k)).collect();
        let mut costs = Vec::with_capacity(shortlist.len());
        for &project in &shortlist {
            let cost = self
                .project(project)
                .and_then(Project::cost)
                .ok_or(FollowUpError::NotCosted { cycle, project })?;
            costs.push(
                u128::try_from(cost.minor()).map_err(|_| FollowUpError::NegativeCost {
                    cycle,
                    project,
                    cost,
                })?,
            );
        }
        let mut funded = vec![false; shortlist.len()];
        for p in &self.funded {
            if let Some(&k) = index.get(p) {
                funded[k] = true;
            }
        }

        // Support: each voter's projects on the ballot, each once.
        let support: Vec<Vec<usize>> = self
            .ballots
            .iter()
            .map(|b| {
                let mut s: Vec<usize> = supported(b.choices())
                    .iter()
                    .filter_map(|p| index.get(p).copied())
                    .collect();
                s.sort_unstable();
                s.dedup();
                s
            })
            .collect();
        let n = support.len() as u128;
        let mut by_count = Vec::with_capacity(support.len());
        let mut by_cost = Vec::with_capacity(support.len());
        for s in &support {
            let mine = s.iter().filter(|&&k| funded[k]);
            by_count.push(mine.clone().count() as u128);
            let mut cost: u128 = 0;
            for &k in mine {
                cost = cost
                    .checked_add(costs[k])
                    .ok_or(Overflow)
                    .map_err(self.overflow("satisfaction by cost"))?;
            }
            by_cost.push(cost);
        }
        let with_funded = by_count.iter().filter(|&&c| c > 0).count() as u128;
        let total_count: u128 = by_count.iter().sum();
        let total_cost = by_cost
            .iter()
            .try_fold(0u128, |a, &c| a.checked_add(c))
            .ok_or(Overflow)
            .map_err(self.overflow("satisfaction by cost"))?;
        let satisfaction_by_count = Distribution {
            mean: ratio(total_count, n),
            gini: gini(&mut by_count).map_err(self.overflow("satisfaction by count"))?,
        };
        let satisfaction_by_cost = Distribution {
            mean: ratio_of_products(total_cost, 1, n, budget_minor)
                .map_err(self.overflow("mean satisfaction by cost"))?,
            gini: gini(&mut by_cost).map_err(self.overflow("satisfaction by cost"))?,
        };

        let proportionality = {
            let what = self.overflow("EJR up to one project");
            let instance = Instance::new(budget_minor, costs, funded, &support).map_err(&what)?;
            if instance.projects() <= EXACT_MAX_PROJECTS {
                let witness = instance.exact().map_err(&what)?;
                Proportionality::Exact {
                    ejr_up_to_one: witness.is_none(),
                    witness: witness.map(|t| t.into_iter().map(|k| shortlist[k]).collect()),
                }
            } else {
                let (violations, checked) = instance.indicator().map_err(&what)?;
                Proportionality::Indicator {
                    violations,
                    checked,
                }
            }
        };

        // Who voted, by group: from the participation count, if made (ballots
        // keep no record of their voters).
        let population = u64::from(self.setup.area.population());
        // In a cycle of several parts a voter may cast a ballot in each.
        let voters = if self.parts.is_empty() {
            self.ballots.len() as u64
        } else {
            self.ballots
                .iter()
                .map(Ballot::voter)
                .collect::<HashSet<_>>()
                .len() as u64
        };
        let mut groups = Vec::new();
        for count in self.participation.map_or(&[][..], |p| &p.groups) {
            let size = self
                .setup
                .area
                .group(&count.dimension, &count.group)
                .map_or(0, |g| u64::from(g.size));
            let mut row = GroupTurnout::new(
                &count.dimension,
                &count.group,
                (size, population),
                (count.voters, voters),
            )
            .map_err(self.overflow("a group's representation"))?;
            // The funnel: contacts by the activities aimed at the group, and
            // its residents' ideas.
            row.reached = self
                .outreach
                .iter()
                .filter(|a| {
                    a.groups
                        .iter()
                        .any(|t| t.dimension == count.dimension && t.group == count.group)
                })
                .map(|a| u64::from(a.people_reached))
                .sum();
            row.ideas = self
                .ideas
                .iter()
                .filter(|i| {
                    i.submission().author.group(&count.dimension) == Some(count.group.as_str())
                })
                .count() as u64;
            groups.push(row);
        }

        // Money and delivery.
        let carried_in = Money::sum(
            currency,
            self.additions
                .iter()
                .filter(|a| matches!(a.source, FundingSource::CarryOver { .. }))
                .map(|a| a.amount),
        )
        .map_err(self.money("the money carried in"))?;
        let (mut delivered, mut cancelled, mut in_progress) = (0u64, 0u64, 0u64);
        let mut spent = Vec::with_capacity(self.funded.len());
        for &id in &self.funded {
            let project = self.project(id);
            match project.and_then(Project::delivery).map(|d| &d.status) {
                Some(DeliveryStatus::Completed { final_cost, .. }) => {
                    delivered += 1;
                    spent.push(*final_cost);
                }
                Some(DeliveryStatus::Cancelled { spent: s, .. }) => {
                    cancelled += 1;
                    spent.push(*s);
                }
                Some(DeliveryStatus::InProgress) | None => {
                    in_progress += 1;
                    spent.extend(project.and_then(Project::cost));
                }
            }
        }
        let spent = Money::sum(currency, spent).map_err(self.money("the money spent"))?;
        let left_over = budget
            .checked_sub(spent)
            .map_err(self.money("the money left over"))?;
        let co_creators: HashSet<ResidentId> = self
            .projects
            .iter()
            .flat_map(|p| {
                p.proposal()
                    .worked_on_by
                    .iter()
                    .chain(p.delivery().into_iter().flat_map(|d| &d.co_creators))
            })
            .map(|r| r.id())
            .collect();

        Ok(CycleMetrics {
            cycle,
            year: self.setup.year,
            population,
            voters,
            turnout: ratio(u128::from(voters), u128::from(population)),
            groups,
            outreach_reached: self
                .outreach
                .iter()
                .map(|a| u64::from(a.people_reached))
                .sum(),
            outreach_activities: self.outreach.len() as u64,
            ideas: self.ideas.len() as u64,
            projects_on_ballot: shortlist.len() as u64,
            funded: self.funded.len() as u64,
            voters_with_funded: ratio(with_funded, n),
            satisfaction_by_count,
            satisfaction_by_cost,
            proportionality,
            budget,
            carried_in,
            spent,
            left_over,
            delivered,
            cancelled,
            in_progress,
            co_creators: co_creators.len() as u64,
            parts: self.part_figures()?,
        })
    }
}

impl CycleMetrics {
    /// The follow-up of a cycle whose vote was counted: one in implementation,
    /// follow-up or closed, or abandoned after the vote. Metrics of a cycle
    /// still in implementation count funded projects in progress at their
    /// estimates.
    ///
    /// # Errors
    /// [`FollowUpError::NotCounted`] for a cycle before the vote was counted
    /// (or abandoned before); otherwise an inconsistency or an overflow, naming
    /// the cycle.
    pub fn of(cycle: &AnyCycle) -> Result<CycleMetrics, FollowUpError> {
        let Some(decision) = cycle.decision() else {
            return Err(FollowUpError::NotCounted {
                cycle: cycle.id(),
                year: cycle.year(),
                step: cycle.step(),
            });
        };
        let core = cycle.core();
        Inputs {
            setup: &core.setup,
            additions: &core.additions,
            outreach: &core.outreach,
            ideas: &core.ideas,
            projects: &core.projects,
            ballots: core.ballots.as_slice(),
            decision,
            funded: core.funded_after(decision),
            adjustments: &core.adjustments,
            parts: core
                .part_money(cycle.framework().map_or(&[], |f| &f.parts))
                .map_err(|source| FollowUpError::Cycle {
                    cycle: cycle.id(),
                    source: Box::new(source),
                })?,
            participation: core.participation.as_ref(),
        }
        .metrics()
    }

    /// The digest of these figures as published: what an
    /// [`Evaluation::figures`](crate::process::Evaluation::figures) records.
    ///
    /// # Errors
    /// [`FollowUpError::Serialise`] if the figures cannot be written as JSON.
    pub fn digest(&self) -> Result<FiguresDigest, FollowUpError> {
        let json = serde_json::to_value(self).map_err(|e| FollowUpError::Serialise {
            cycle: self.cycle,
            message: e.to_string(),
        })?;
        Ok(FiguresDigest::of_json(&json))
    }

    /// Whether the figures published when `cycle` closed are its own: `None`
    /// when it has not closed or its evaluation pinned no figures, otherwise
    /// whether the recorded digest is the digest of the figures computed now
    /// (for a digest recorded before the funnel by group existed, of the
    /// figures without it).
    /// This recounts (with the exact EJR check), so it runs when asked, never
    /// when a cycle is loaded.
    ///
    /// # Errors
    /// As [`CycleMetrics::of`].
    pub fn published(cycle: &AnyCycle) -> Result<Option<bool>, FollowUpError> {
        let Some(recorded) = cycle.evaluation().and_then(|e| e.figures) else {
            return Ok(None);
        };
        let figures = CycleMetrics::of(cycle)?;
        if figures.digest()? == recorded {
            return Ok(Some(true));
        }
        // Figures published before the funnel by group existed: the digest
        // covers the rest of them.
        let mut before = figures;
        for g in &mut before.groups {
            g.reached = 0;
            g.ideas = 0;
        }
        Ok(Some(before.digest()? == recorded))
    }
}

impl Programme {
    /// The follow-up figures of the cycle of `year` once it has closed: what
    /// the next year's criteria step reads, beside the lessons
    /// ([`Programme::lessons_for`]), to set its budget, outreach and criteria.
    /// `Ok(None)` for a year without a cycle or one not closed. They are
    /// computed from the cycle (as [`CycleMetrics::of`]), never read from a
    /// stored copy; [`ProgrammeMetrics::of`] gives every year's.
    ///
    /// # Errors
    /// As [`CycleMetrics::of`].
    pub fn follow_up(&self, year: i32) -> Result<Option<CycleMetrics>, FollowUpError> {
        match self.cycle(year) {
            Some(cycle) if cycle.step() == Step::Closed => CycleMetrics::of(cycle).map(Some),
            _ => Ok(None),
        }
    }
}

/// Follow-up metrics of a cycle whose vote was counted.
impl<S: Decided> Cycle<S> {
    /// The cycle's follow-up metrics as of now, the same as
    /// [`CycleMetrics::of`]. In step 7 these are the figures to publish (an
    /// [`Evaluation`](crate::process::Evaluation) may pin their digest).
    ///
    /// # Errors
    /// An inconsistency or an overflow, naming the cycle.
    pub fn metrics(&self) -> Result<CycleMetrics, FollowUpError> {
        Inputs {
            setup: self.setup(),
            additions: self.additions(),
            outreach: self.outreach(),
            ideas: self.ideas(),
            projects: self.projects(),
            ballots: self.ballots(),
            decision: self.decision(),
            funded: self.funded(),
            adjustments: self.adjustments(),
            parts: self
                .core
                .part_money(self.parts())
                .map_err(|source| FollowUpError::Cycle {
                    cycle: self.id(),
                    source: Box::new(source),
                })?,
            participation: self.participation(),
        }
        .metrics()
    }
}

impl YearChange {
    fn between(earlier: &CycleMetrics, later: &CycleMetrics) -> Result<YearChange, FollowUpError> {
        let cycle = later.cycle;
        let overflow = |what| move |Overflow| FollowUpError::Overflow { cycle, what };
        let count = |e: u64, l: u64, what| {
            i64::try_from(e)
                .ok()
                .zip(i64::try_from(l).ok())
                .and_then(|(e, l)| l.checked_sub(e))
                .ok_or(FollowUpError::Overflow { cycle, what })
        };
        Ok(YearChange {
            year: later.year,
            voters: count(earlier.voters, later.voters, "the change in voters")?,
            turnout_bp: change_bp(earlier.turnout, later.turnout)
                .map_err(overflow("the change in turnout"))?,
            voters_with_funded_bp: change_bp(earlier.voters_with_funded, later.voters_with_funded)
                .map_err(overflow("the change in voters with a funded project"))?,
            satisfaction_by_cost_bp: change_bp(
                earlier.satisfaction_by_cost.mean,
                later.satisfaction_by_cost.mean,
            )
            .map_err(overflow("the change in satisfaction by cost"))?,
            spent: later.spent.checked_sub(earlier.spent).map_err(|source| {
                FollowUpError::Money {
                    cycle,
                    what: "the change in money spent",
                    source,
                }
            })?,
            co_creators: count(
                earlier.co_creators,
                later.co_creators,
                "the change in co-creators",
            )?,
        })
    }
}

impl ProgrammeMetrics {
    /// The follow-up of a programme: the metrics of every year whose vote was
    /// counted (see [`CycleMetrics::of`]), the change from each such year to the
    /// next, and the money over all years, from the programme's carry-over
    /// records.
    ///
    /// # Errors
    /// The first year whose metrics fail, or an overflow adding up money.
    pub fn of(programme: &Programme) -> Result<ProgrammeMetrics, FollowUpError> {
        let id = programme.id();
        let currency = programme.setup().currency;
        let sum = |what, amounts: Vec<Money>| {
            Money::sum(currency, amounts).map_err(|source| FollowUpError::ProgrammeMoney {
                programme: id,
                what,
                source,
            })
        };
        let years = programme
            .cycles()
            .iter()
            .filter(|c| c.decision().is_some())
            .map(CycleMetrics::of)
            .collect::<Result<Vec<_>, _>>()?;
        let changes = years
            .windows(2)
            .map(|w| YearChange::between(&w[0], &w[1]))
            .collect::<Result<Vec<_>, _>>()?;

        let cycle_err = |c: &AnyCycle| {
            let cycle = c.id();
            move |e: CycleError| FollowUpError::Cycle {
                cycle,
                source: Box::new(e),
            }
        };
        let mut council = Vec::with_capacity(programme.cycles().len());
        let mut unspent = Vec::new();
        for c in programme.cycles() {
            let budget = c.budget().map_err(cycle_err(c))?;
            let carried_in = Money::sum(
                currency,
                c.core()
                    .additions
                    .iter()
                    .filter(|a| matches!(a.source, FundingSource::CarryOver { .. }))
                    .map(|a| a.amount),
            )
            .map_err(|e| cycle_err(c)(CycleError::Money(e)))?;
            council.push(
                budget
                    .checked_sub(carried_in)
                    .map_err(|e| cycle_err(c)(CycleError::Money(e)))?,
            );
            if c.has_ended() {
                let left = budget
                    .checked_sub(c.spent().map_err(cycle_err(c))?)
                    .map_err(|e| cycle_err(c)(CycleError::Money(e)))?;
                if left.is_positive() {
                    unspent.push(left);
                }
            }
        }
        let carry = programme.carry_over();
        let credited = |yes: bool| {
            carry
                .iter()
                .filter(|co| co.credited_to.is_some() == yes)
                .map(|co| co.amount)
                .collect::<Vec<_>>()
        };
        let left_at_end = if programme.setup().carry_over.is_some() {
            sum("the money left at the end", credited(false))?
        } else {
            sum("the money left at the end", unspent)?
        };
        Ok(ProgrammeMetrics {
            set_aside: sum("the money set aside", council)?,
            spent: sum("the money spent", years.iter().map(|y| y.spent).collect())?,
            carried_over: sum("the money carried over", credited(true))?,
            left_at_end,
            years,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: u128, d: u128) -> Fraction {
        Fraction::new(n, d)
    }

    #[test]
    fn representation_by_hand() {
        // 7 600 residents, 10 voters; 900 aged 12-17 of whom 2 voted: they are
        // 900/7 600 of the area and 2/10 of the voters, (2/10)/(900/7 600) =
        // 76/45 — over-represented.
        let g = GroupTurnout::new("age", "12-17", (900, 7_600), (Some(2), 10)).unwrap();
        assert_eq!((g.dimension.as_str(), g.group.as_str()), ("age", "12-17"));
        assert_eq!((g.population, g.voters), (900, Some(2)));
        assert_eq!(g.turnout, Some(f(1, 450)));
        assert_eq!(g.representation, Some(f(76, 45)));
        // 5 000 of 7 600 with 6 of 10 voters: (6/10)/(5 000/7 600) = 114/125.
        let g = GroupTurnout::new("age", "18-64", (5_000, 7_600), (Some(6), 10)).unwrap();
        assert_eq!(g.representation, Some(f(114, 125)));
        // Exactly proportional.
        let g = GroupTurnout::new("language", "so", (380, 7_600), (Some(5), 100)).unwrap();
        assert_eq!(g.representation, Some(f(1, 1)));
        // Nobody voted; an empty group.
        let g = GroupTurnout::new("age", "65+", (700, 7_600), (Some(0), 0)).unwrap();
        assert_eq!(
            (g.turnout, g.representation),
            (Some(f(0, 1)), Some(f(0, 1)))
        );
        let g = GroupTurnout::new("age", "unknown", (0, 7_600), (Some(3), 10)).unwrap();
        assert_eq!(
            (g.turnout, g.representation),
            (Some(f(0, 1)), Some(f(0, 1)))
        );
        // A suppressed count: nothing derived from it.
        let g = GroupTurnout::new("age", "65+", (700, 7_600), (None, 10)).unwrap();
        assert_eq!((g.voters, g.turnout, g.representation), (None, None, None));
    }

    #[test]
    fn fractions_round_trip_through_buffered_serde() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(tag = "kind")]
        enum Tagged {
            Measure { value: Fraction },
        }
        assert_eq!(
            serde_json::to_string(&f(6, 8)).unwrap(),
            r#"{"numerator":3,"denominator":4}"#
        );
        let huge = Fraction {
            numerator: u128::MAX,
            denominator: 7,
        };
        assert!(
            serde_json::to_string(&huge)
                .unwrap()
                .contains(&format!("\"{}\"", u128::MAX))
        );
        for value in [f(0, 1), f(76, 45), huge] {
            let tagged = Tagged::Measure { value };
            let json = serde_json::to_string(&tagged).unwrap();
            assert_eq!(serde_json::from_str::<Tagged>(&json).unwrap(), tagged);
            let json = serde_json::to_value(&tagged).unwrap();
            assert_eq!(serde_json::from_value::<Tagged>(json).unwrap(), tagged);
        }
        assert!(serde_json::from_str::<Fraction>(r#"{"numerator":-1,"denominator":2}"#).is_err());
        assert!(serde_json::from_str::<Fraction>(r#"{"numerator":"x","denominator":2}"#).is_err());
    }

    #[test]
    fn supported_projects_of_each_ballot_kind() {
        let [a, b, c] = [1, 2, 3].map(ProjectId::from_u128);
        assert_eq!(supported(&Choices::Approval(vec![a, c])), [a, c]);
        assert_eq!(supported(&Choices::Ranking(vec![c, a, b])), [c, a, b]);
        assert_eq!(
            supported(&Choices::Points(vec![(a, 3), (b, 0), (c, 1)])),
            [a, c]
        );
    }

    #[test]
    fn year_changes_in_basis_points() {
        let fraction_metrics = |voters: u64, population: u64, mean: Fraction| CycleMetrics {
            cycle: CycleId::from_u128(voters.into()),
            year: 2026,
            population,
            voters,
            turnout: ratio(voters.into(), population.into()),
            groups: Vec::new(),
            outreach_reached: 0,
            outreach_activities: 0,
            ideas: 0,
            projects_on_ballot: 0,
            funded: 0,
            voters_with_funded: f(1, 2),
            satisfaction_by_count: Distribution {
                mean: f(0, 1),
                gini: f(0, 1),
            },
            satisfaction_by_cost: Distribution {
                mean,
                gini: f(0, 1),
            },
            proportionality: Proportionality::Indicator {
                violations: 0,
                checked: 0,
            },
            budget: Money::new(100, crate::money::Currency::SEK),
            carried_in: Money::zero(crate::money::Currency::SEK),
            spent: Money::new(70, crate::money::Currency::SEK),
            left_over: Money::new(30, crate::money::Currency::SEK),
            delivered: 0,
            cancelled: 0,
            in_progress: 0,
            co_creators: 5,
            parts: Vec::new(),
        };
        let earlier = fraction_metrics(760, 7_600, f(7, 10));
        let mut later = fraction_metrics(380, 7_600, f(70, 113));
        later.year = 2027;
        later.spent = Money::new(100, crate::money::Currency::SEK);
        later.co_creators = 2;
        let change = YearChange::between(&earlier, &later).unwrap();
        assert_eq!(
            change,
            YearChange {
                year: 2027,
                voters: -380,
                turnout_bp: -500,
                voters_with_funded_bp: 0,
                // 70/113 − 7/10 = −91/1 130 = −805.3 bp.
                satisfaction_by_cost_bp: -805,
                spent: Money::new(30, crate::money::Currency::SEK),
                co_creators: -3,
            }
        );
        assert_eq!(earlier.digest().unwrap(), earlier.clone().digest().unwrap());
        assert_ne!(earlier.digest().unwrap(), later.digest().unwrap());
        let mut other = earlier.clone();
        other.co_creators += 1;
        assert_ne!(earlier.digest().unwrap(), other.digest().unwrap());
    }
}
