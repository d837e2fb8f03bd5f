//! Why a project won or lost: an outcome's [`Trace`], round by round, and for
//! every project how far it was from the other side ([`explain`]).
//!
//! See [`explain`] for the measures and how they are found.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use serde::Serialize;

use super::mes::{MES, MES_ADD1, MES_ADD1_COMPARISON, MES_ADD1_EXHAUSTIVE, MES_GREEDY};
use super::phragmen::{PHRAGMEN, PHRAGMEN_SKIP};
use super::support::Supporters;
use super::{
    Completion, Election, EqualShares, Outcome, ProfileKind, Rule, Tally, TallyError, TieBreaking,
    Utility, greedy,
};

/// Below this many added voters, a threshold for a rule that is not monotone in
/// added voters is checked one number at a time, which makes it exact.
pub const SCAN_VOTERS: u64 = 32;

/// The most added voters a search tries before it answers [`Measure::Never`].
pub const MAX_EXTRA_VOTERS: u64 = 1 << 40;

/// Most threads [`explain`] uses (fewer on a machine with fewer cores).
pub const MAX_THREADS: usize = 8;

/// One round of a count, as [`Outcome::trace`] replays it. Amounts are minor
/// units; ρ, prices, money left and loads are shown as floats (the decisions
/// themselves were exact).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Round {
    /// Greedy (or a greedy completion) looked at a project, in order of
    /// support: funded if it still fitted, otherwise skipped for lack of money
    /// (or, for `greedy-no-skip`, the count stopped here).
    ByVotes {
        /// The project (index in the election).
        project: usize,
        /// Its support.
        support: u64,
        /// Whether it was funded.
        funded: bool,
        /// Money left after this round.
        money_left: u64,
    },
    /// Equal shares bought a project: it had the smallest ρ among those its
    /// supporters could still afford.
    EqualShares {
        /// The project.
        project: usize,
        /// ρ: the price per unit of utility (approval ballots: per supporter,
        /// relative to the cost, as cost utilities have it; points: per point).
        rho: f64,
        /// What each supporter paid who could pay in full (the others paid all
        /// they had).
        price: f64,
        /// Each supporting ballot (distinct ballot index of the profile) and
        /// the money each of its voters had left after paying.
        money_left: Vec<(usize, f64)>,
    },
    /// Sequential Phragmén bought a project: the earliest time its supporters
    /// together had earned its cost.
    Phragmen {
        /// The project.
        project: usize,
        /// The load (time) at which it was bought; each supporter's load is
        /// this afterwards.
        load: f64,
    },
    /// Sequential Phragmén (`phragmen`) stopped: this project came next and
    /// its purchase would have broken the budget.
    Overflow {
        /// The project.
        project: usize,
        /// The load (time) at which it came next.
        load: f64,
    },
}

/// How a count went, round by round ([`Outcome::trace`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Trace {
    /// The rule.
    pub rule: String,
    /// Equal shares: the money each voter started with in the run kept.
    pub per_voter_budget: Option<f64>,
    /// The rounds, in order.
    pub rounds: Vec<Round>,
    /// Where a greedy completion (`mes-greedy`) begins in `rounds`.
    pub completion_from: Option<usize>,
}

impl Outcome {
    /// How this outcome came about, round by round: for greedy rules every
    /// project looked at in order of support, funded or skipped for lack of
    /// money; for equal shares the ρ of each project bought and each
    /// supporter's money left; for Phragmén the load of each. The comparison
    /// rule traces the outcome it took. Maximum welfare chooses a whole set at
    /// once, and a rule of your own is unknown here: their traces have no
    /// rounds.
    ///
    /// The trace is replayed from the outcome and the election it was counted
    /// from (pass the same election), so counting stays as fast as before for
    /// those who never ask.
    ///
    /// ```
    /// use medborgarbudget::tally::{Candidate, Election, Mes, Profile, ProfileKind, Round, Tally, TieBreaking};
    ///
    /// let mut profile = Profile::builder(ProfileKind::Approval, 2);
    /// profile.push_approval(&[0], 3)?;
    /// profile.push_approval(&[0, 1], 1)?;
    /// let election = Election::new(100, vec![Candidate::new("a", 60), Candidate::new("b", 30)], profile.build())?;
    /// let outcome = Mes.tally(&election, &TieBreaking::by_project_id())?;
    /// let trace = outcome.trace(&election)?;
    /// // four voters with 25 each: a costs 15 a supporter
    /// let Round::EqualShares { project, price, .. } = &trace.rounds[0] else { unreachable!() };
    /// assert_eq!((*project, *price), (0, 15.0));
    /// # Ok::<(), medborgarbudget::tally::TallyError>(())
    /// ```
    ///
    /// # Errors
    /// A count of the election fails (only for `mes-greedy`, which counts equal
    /// shares again to find where its completion begins).
    pub fn trace(&self, election: &Election) -> Result<Trace, TallyError> {
        self.trace_with(election, None)
    }

    /// [`Outcome::trace`], with the election's supporters if already at hand.
    fn trace_with(
        &self,
        election: &Election,
        supporters: Option<&Supporters>,
    ) -> Result<Trace, TallyError> {
        let per_voter = self.details.per_voter_budget.map(|f| f.value());
        let mut trace = Trace {
            rule: self.rule.clone(),
            per_voter_budget: None,
            rounds: Vec::new(),
            completion_from: None,
        };
        let (base, utility) = base_and_utility(&self.rule);
        let shares = |trace: &mut Trace, selected: &[usize]| -> Result<(), TallyError> {
            let budget = per_voter.unwrap_or_else(|| {
                election.budget() as f64 / election.profile().num_voters().max(1) as f64
            });
            trace.per_voter_budget = Some(budget);
            let all = given_or_new(supporters, election)?;
            let (unit, cost_utility) = utilities(election, utility);
            let unit = unit.then(|| all.unit());
            trace.rounds = equal_shares_rounds(
                election,
                unit.as_ref().unwrap_or(all),
                cost_utility,
                budget,
                selected,
            );
            Ok(())
        };
        let support = &self.scores;
        match base {
            greedy::NAME | greedy::THRESHOLD | greedy::NO_SKIP => {
                trace.rounds = by_votes_rounds(
                    election,
                    &self.tie_breaking,
                    support,
                    &self.selected,
                    self.details.threshold.unwrap_or(0),
                    self.rule == greedy::NO_SKIP,
                );
            }
            MES | MES_ADD1 | MES_ADD1_EXHAUSTIVE => shares(&mut trace, &self.selected)?,
            MES_ADD1_COMPARISON => {
                if self.details.comparison.is_some_and(|c| c.greedy_taken) {
                    trace.rounds = by_votes_rounds(
                        election,
                        &self.tie_breaking,
                        support,
                        &self.selected,
                        0,
                        false,
                    );
                } else {
                    shares(&mut trace, &self.selected)?;
                }
            }
            MES_GREEDY => {
                let mes = EqualShares {
                    completion: Completion::None,
                    utility,
                };
                let first = mes.tally(election, &self.tie_breaking)?.selected.len();
                let (mes, rest) = self.selected.split_at(first.min(self.selected.len()));
                shares(&mut trace, mes)?;
                trace.completion_from = Some(trace.rounds.len());
                let left = election
                    .budget()
                    .saturating_sub(mes.iter().map(|&p| cost(election, p)).sum());
                trace.rounds.extend(completion_rounds(
                    election,
                    &self.tie_breaking,
                    support,
                    mes,
                    rest,
                    left,
                ));
            }
            PHRAGMEN | PHRAGMEN_SKIP => {
                let ranks = self.tie_breaking.ranks(election, &self.scores);
                trace.rounds = phragmen_rounds(
                    election,
                    given_or_new(supporters, election)?,
                    &self.selected,
                    (self.rule == PHRAGMEN).then_some(ranks.as_slice()),
                );
            }
            _ => {}
        }
        Ok(trace)
    }
}

/// `given`, or the election's own.
fn given_or_new<'a>(
    given: Option<&'a Supporters>,
    election: &'a Election,
) -> Result<&'a Supporters, TallyError> {
    given.map_or_else(|| election.supporters(), Ok)
}

/// A rule's name without its utility, and the utility (`mes:cardinality`).
fn base_and_utility(rule: &str) -> (&str, Utility) {
    match rule.split_once(':') {
        Some((base, utility)) => (base, utility.parse().unwrap_or_default()),
        None => (rule, Utility::Cost),
    }
}

/// Under `utility`: whether every supporter's utility is 1 where the ballots
/// carry points, and whether utilities are costs.
fn utilities(election: &Election, utility: Utility) -> (bool, bool) {
    let approval = election.profile().kind() == ProfileKind::Approval;
    (
        utility == Utility::Cardinality && !approval,
        approval && utility == Utility::Cost,
    )
}

fn cost(election: &Election, p: usize) -> u64 {
    election.candidates().get(p).map_or(0, |c| c.cost)
}

/// Greedy's order: by support, then the chain, then index.
fn by_votes_order(
    election: &Election,
    ties: &TieBreaking,
    support: &[u64],
    mut projects: Vec<usize>,
) -> Vec<usize> {
    greedy::by_support(&mut projects, support, &ties.ranks(election, support));
    projects
}

fn by_votes_rounds(
    election: &Election,
    ties: &TieBreaking,
    support: &[u64],
    selected: &[usize],
    threshold: u64,
    no_skip: bool,
) -> Vec<Round> {
    let funded: HashSet<usize> = selected.iter().copied().collect();
    let considered = (0..election.candidates().len())
        .filter(|&p| support.get(p).is_some_and(|&s| s >= threshold))
        .filter(|&p| !no_skip || cost(election, p) <= election.budget())
        .collect();
    let mut left = election.budget();
    let mut rounds = Vec::new();
    for p in by_votes_order(election, ties, support, considered) {
        let funded = funded.contains(&p);
        if funded {
            left = left.saturating_sub(cost(election, p));
        }
        rounds.push(Round::ByVotes {
            project: p,
            support: support.get(p).copied().unwrap_or(0),
            funded,
            money_left: left,
        });
        if no_skip && !funded {
            break;
        }
    }
    rounds
}

/// The greedy completion of `mes-greedy`: every project with support that
/// equal shares left out, by support.
fn completion_rounds(
    election: &Election,
    ties: &TieBreaking,
    support: &[u64],
    first: &[usize],
    added: &[usize],
    mut left: u64,
) -> Vec<Round> {
    let first: HashSet<usize> = first.iter().copied().collect();
    let added: HashSet<usize> = added.iter().copied().collect();
    let rest = (0..election.candidates().len())
        .filter(|p| !first.contains(p) && support.get(*p).is_some_and(|&s| s > 0))
        .collect();
    by_votes_order(election, ties, support, rest)
        .into_iter()
        .map(|p| {
            let funded = added.contains(&p);
            if funded {
                left = left.saturating_sub(cost(election, p));
            }
            Round::ByVotes {
                project: p,
                support: support.get(p).copied().unwrap_or(0),
                funded,
                money_left: left,
            }
        })
        .collect()
}

/// Equal shares replayed in floats: each voter starts with `per_voter`; each
/// project bought is paid at its ρ.
fn equal_shares_rounds(
    election: &Election,
    supporters: &Supporters,
    cost_utility: bool,
    per_voter: f64,
    selected: &[usize],
) -> Vec<Round> {
    let mut money = vec![per_voter; supporters.num_groups()];
    let mut rounds = Vec::with_capacity(selected.len());
    for &p in selected {
        let c = cost(election, p) as f64;
        // Supporters by the ρ at which they run out: money / utility.
        let mut by_limit: Vec<(usize, f64, f64)> = supporters
            .of(p)
            .map(|(g, u)| {
                let u = if cost_utility { c } else { u as f64 };
                (
                    g,
                    u,
                    supporters.weights().get(g).copied().unwrap_or(0) as f64,
                )
            })
            .collect();
        by_limit.sort_by(|a, b| (money[a.0] / a.1).total_cmp(&(money[b.0] / b.1)));
        let mut utility: f64 = by_limit.iter().map(|&(_, u, w)| u * w).sum();
        let mut to_pay = c;
        let mut rho = 0.0;
        for &(g, u, w) in &by_limit {
            let limit = money[g] / u;
            if limit * utility >= to_pay {
                break;
            }
            to_pay -= money[g] * w;
            utility -= u * w;
            rho = limit;
        }
        if utility > 0.0 {
            rho = rho.max(to_pay / utility);
        }
        let mut left = Vec::with_capacity(by_limit.len());
        for &(g, u, _) in &by_limit {
            money[g] = (money[g] - (rho * u).min(money[g])).max(0.0);
            left.push((g, money[g]));
        }
        left.sort_by_key(|&(g, _)| g);
        let unit = if cost_utility { c } else { 1.0 };
        rounds.push(Round::EqualShares {
            project: p,
            rho,
            price: rho * unit,
            money_left: left,
        });
    }
    rounds
}

/// Phragmén replayed in floats: loads start at 0; buying a project sets its
/// supporters' loads to the time it is bought. With `stop`, the project at
/// which the count stopped ends the rounds: the earliest of the rest (by the
/// chain's `ranks` on equal times).
fn phragmen_rounds(
    election: &Election,
    supporters: &Supporters,
    selected: &[usize],
    stop: Option<&[u32]>,
) -> Vec<Round> {
    let mut load = vec![0.0_f64; supporters.num_groups()];
    let time = |load: &[f64], p: usize| {
        let (mut sum, mut voters) = (cost(election, p) as f64, 0.0);
        for (g, _) in supporters.of(p) {
            let w = supporters.weights().get(g).copied().unwrap_or(0) as f64;
            sum += load.get(g).copied().unwrap_or(0.0) * w;
            voters += w;
        }
        (voters > 0.0).then(|| sum / voters)
    };
    let mut rounds: Vec<Round> = selected
        .iter()
        .map(|&p| {
            let t = time(&load, p).unwrap_or(f64::INFINITY);
            for (g, _) in supporters.of(p) {
                load[g] = t;
            }
            Round::Phragmen {
                project: p,
                load: t,
            }
        })
        .collect();
    if let Some(ranks) = stop {
        let bought: HashSet<usize> = selected.iter().copied().collect();
        let next = (0..election.candidates().len())
            .filter(|p| !bought.contains(p))
            .filter_map(|p| {
                Some((
                    time(&load, p)?,
                    ranks.get(p).copied().unwrap_or(u32::MAX),
                    p,
                ))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((t, _, p)) = next {
            rounds.push(Round::Overflow {
                project: p,
                load: t,
            });
        }
    }
    rounds
}

/// A measure of how far a project was from the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Measure {
    /// The exact value.
    Exact(u64),
    /// A value at which the outcome flips — the project is funded on one side
    /// of it and not on the other — for a rule that is not monotone in the
    /// change (see [`explain`]): a value further out may flip it
    /// back.
    Threshold(u64),
    /// No change of this kind would have funded the project.
    Never,
}

impl Measure {
    /// The value, if there is one.
    pub fn value(self) -> Option<u64> {
        match self {
            Measure::Exact(v) | Measure::Threshold(v) => Some(v),
            Measure::Never => None,
        }
    }
}

/// Why one project won or lost ([`explain`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ProjectExplanation {
    /// The project (index in the election).
    pub project: usize,
    /// Whether it was funded.
    pub selected: bool,
    /// Its cost.
    pub cost: u64,
    /// Its support (approvals, points or Borda points).
    pub support: u64,
    /// Not funded: the largest cost at which it would have been funded
    /// ([`Measure::Never`]: not even free). Funded: the largest cost at which it
    /// still would have been (at most the budget).
    pub max_cost: Measure,
    /// Not funded: the fewest added voters supporting only it that would have
    /// funded it. `None` for a funded project.
    pub extra_voters: Option<Measure>,
}

impl ProjectExplanation {
    /// Funded: how much its cost could have risen before it lost.
    pub fn cost_margin(&self) -> Option<u64> {
        if self.selected {
            self.max_cost.value().map(|m| m.saturating_sub(self.cost))
        } else {
            None
        }
    }
}

/// Why every project won or lost ([`explain`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Explanation {
    /// The rule.
    pub rule: String,
    /// One per project, in the election's order.
    pub projects: Vec<ProjectExplanation>,
    /// Counterfactual counts made.
    pub counts: u64,
}

/// Which changes `rule` is monotone in: (cost, added voters).
fn monotone(rule: &Rule) -> (bool, bool) {
    match rule {
        Rule::Greedy
        | Rule::GreedyNoSkip { .. }
        | Rule::GreedyThreshold { .. }
        | Rule::Phragmen
        | Rule::PhragmenSkip => (true, true),
        Rule::Mes
        | Rule::EqualShares(EqualShares {
            completion: Completion::None,
            ..
        }) => (true, false),
        _ => (false, false),
    }
}

impl Rule {
    /// Whether [`explain`] finds this rule's cost measure exactly with few
    /// recounts: lowering a project's cost never makes it lose (greedy,
    /// equal shares without completion, Phragmén). For other rules the
    /// measures are thresholds, and add1's recounts are slow.
    pub fn explains_exactly(&self) -> bool {
        monotone(self).0
    }
}

/// Explains `outcome`, the outcome `tally` gave for `election` with `ties`:
/// for every project, how far it was from the other side. Projects are
/// explained in parallel (at most [`MAX_THREADS`] threads, no more than the
/// machine's cores).
///
/// The measures follow Boehmer, Faliszewski, Janeczko, Peters, Pierczyński,
/// Schierreich, Skowron and Szufa, *Evaluation of Project Performance in
/// Participatory Budgeting* (IJCAI 2024, arXiv 2312.14723): a project that lost
/// is the weaker the larger a change it needed to win. Two changes are
/// measured, each with everything else as it was:
///
/// * **its cost** ("cost reduction"): the largest cost at which the project
///   would have been funded; for a funded project, the largest cost at which it
///   still would have been, so `max_cost − cost` is how much its cost could
///   have risen;
/// * **more voters** ("add singletons"): the fewest additional voters, each
///   supporting this project alone, that would have funded it. A new voter's
///   ballot approves it, gives it the most points any ballot gives, or ranks it
///   alone.
///
/// Each measure is found by counting counterfactual elections with the same
/// rule and tie-breaking, exactly as the rule counts (integers and exact
/// rationals): a search over the cost or the number of voters. A counterfactual
/// count that ends in a tie the chain does not break counts as not funding the
/// project. Where the rule is *monotone* in the change — lowering a project's
/// cost or adding its voters never makes it lose — the search finds the
/// boundary and the boundary is the answer ([`Measure::Exact`]):
///
/// | rule | cost | voters |
/// |---|---|---|
/// | greedy (all three) | exact | exact |
/// | `mes` | exact | scanned when small, else a threshold |
/// | `phragmen`, `phragmen-skip` | exact | exact |
/// | add1, `mes-greedy`, `max-welfare`, `maximin-support`, rules of your own | threshold | threshold |
///
/// Why: a sequential rule (greedy, equal shares, Phragmén) counts the same as
/// before until it picks the project; a cheaper project (or one with more
/// supporters, each new one with no other project) has a smaller ρ, an
/// earlier load or a higher place by votes in every round, fits where it
/// fitted before, and wins any tie it won before (the chain's `min-cost` and
/// `max-votes` only favour it more), so it is picked no later. Added voters
/// change what every voter has under equal shares (`budget / n`), so there a
/// project's chances need not grow with them; and add1, a completion or a
/// knapsack may reorder everything when one cost changes. No efficient exact
/// method is known for those: the search then reports a [`Measure::Threshold`] —
/// a value at which the outcome flips (funded on one side, not on the other),
/// found by doubling and bisection — and for added voters it checks every
/// number below a threshold of at most [`SCAN_VOTERS`], which makes the answer
/// exact again.
///
/// ```
/// use medborgarbudget::tally::{explain, Candidate, Election, Greedy, Measure, Profile, ProfileKind, Tally, TieBreaking};
///
/// let mut profile = Profile::builder(ProfileKind::Approval, 3);
/// profile.push_approval(&[0], 5)?;
/// profile.push_approval(&[1], 4)?;
/// profile.push_approval(&[2], 3)?;
/// let candidates = vec![Candidate::new("a", 60), Candidate::new("b", 50), Candidate::new("c", 30)];
/// let election = Election::new(100, candidates, profile.build())?;
/// let ties = TieBreaking::by_project_id();
/// let outcome = Greedy.tally(&election, &ties)?; // a and c
/// let why = explain(&Greedy, &election, &ties, &outcome)?;
/// // b would have fitted at 40, after a; or with two more voters, before a
/// assert_eq!(why.projects[1].max_cost, Measure::Exact(40));
/// assert_eq!(why.projects[1].extra_voters, Some(Measure::Exact(2)));
/// // a could have cost the whole budget
/// assert_eq!(why.projects[0].cost_margin(), Some(40));
/// # Ok::<(), medborgarbudget::tally::TallyError>(())
/// ```
///
/// # Errors
/// A counterfactual count fails other than by a tie (the step limit, an
/// overflow).
pub fn explain<T: Tally + Sync + ?Sized>(
    tally: &T,
    election: &Election,
    ties: &TieBreaking,
    outcome: &Outcome,
) -> Result<Explanation, TallyError> {
    let (cost_monotone, voters_monotone) = monotone(&tally.rule());
    let traced = matches!(
        base_and_utility(&outcome.rule).0,
        MES | MES_ADD1 | MES_ADD1_EXHAUSTIVE | MES_ADD1_COMPARISON | PHRAGMEN | PHRAGMEN_SKIP
    );
    let supporters = if traced {
        Some(election.supporters()?)
    } else {
        None
    };
    let trace = outcome.trace_with(election, supporters)?;
    let search = Search {
        tally,
        election,
        ties,
        supporters,
        trace,
        selected: outcome.selected.iter().copied().collect(),
        scores: &outcome.scores,
        cost_monotone,
        voters_monotone,
        counts: AtomicU64::new(0),
    };
    let n = election.candidates().len();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
        .min(n.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ProjectExplanation, TallyError>>>> =
        Mutex::new(vec![None; n]);
    let work = || {
        loop {
            let p = next.fetch_add(1, AtomicOrdering::Relaxed);
            if p >= n {
                break;
            }
            let one = search.project(p);
            let failed = one.is_err();
            if let Ok(mut all) = results.lock() {
                all[p] = Some(one);
            }
            if failed {
                // The others stop at their next project.
                next.store(n, AtomicOrdering::Relaxed);
            }
        }
    };
    std::thread::scope(|scope| {
        // This thread works too, so a helper that cannot start leaves its
        // projects to the others.
        for _ in 1..threads {
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    let results = results.into_inner().unwrap_or_default();
    let mut projects = Vec::with_capacity(n);
    for r in results {
        match r {
            Some(Ok(e)) => projects.push(e),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if projects.len() != n {
        // Only after a failure, which was returned above.
        return Err(TallyError::Overflow);
    }
    Ok(Explanation {
        rule: tally.name().to_owned(),
        projects,
        counts: search.counts.into_inner(),
    })
}

/// Where a search starts: estimates read off a trace, which the search then
/// checks by counting (a wrong estimate costs counts, never correctness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hint {
    /// The largest cost at which the project would be funded.
    cost: Option<u64>,
    /// The fewest added voters that would fund it.
    voters: Option<u64>,
}

/// The estimates for project `p`, not funded in the count `trace` replays,
/// from the rounds of that count: in each round, the cost (and the voters)
/// with which `p` would have beaten the project bought.
fn hint(
    election: &Election,
    supporters: Option<&Supporters>,
    trace: &Trace,
    p: usize,
    support: u64,
) -> Hint {
    if trace.completion_from.is_some() {
        return Hint::default();
    }
    match trace.rounds.first() {
        Some(Round::ByVotes { .. }) => by_votes_hint(election, trace, p, support),
        Some(Round::EqualShares { .. }) | None if trace.per_voter_budget.is_some() => {
            supporters.map_or_else(Hint::default, |s| equal_shares_hint(election, s, trace, p))
        }
        Some(Round::Phragmen { .. }) => {
            supporters.map_or_else(Hint::default, |s| phragmen_hint(election, s, trace, p))
        }
        _ => Hint::default(),
    }
}

/// Greedy: at its place in the order the project gets the money left before
/// it; with more votes it moves up to the last place at which its cost still
/// fits.
fn by_votes_hint(election: &Election, trace: &Trace, p: usize, support: u64) -> Hint {
    let c = cost(election, p);
    let mut before = election.budget();
    let mut hint = Hint::default();
    let mut pass = None;
    for round in &trace.rounds {
        let Round::ByVotes {
            project,
            support: s,
            money_left,
            ..
        } = *round
        else {
            return Hint::default();
        };
        if project == p {
            hint.cost = Some(before);
            break;
        }
        if before >= c {
            pass = Some(s);
        }
        before = money_left;
    }
    let each = election.profile().newcomer_support();
    hint.voters = pass.map(|s| {
        s.saturating_add(1)
            .saturating_sub(support)
            .div_ceil(each)
            .max(1)
    });
    hint
}

/// Money of `p`'s supporters per voter and their weights, as
/// `(money, weight, utility)`.
type Purse = Vec<(f64, f64, f64)>;

/// Equal shares: in each round, the largest cost whose ρ would have been no
/// more than the ρ of the project bought (`Σ min(money, ρ·utility) ≥ cost`),
/// and the added voters (each with the money every voter started with) that
/// would have made up the difference.
fn equal_shares_hint(
    election: &Election,
    supporters: &Supporters,
    trace: &Trace,
    p: usize,
) -> Hint {
    let Some(start) = trace.per_voter_budget else {
        return Hint::default();
    };
    let (unit, cost_utility) = utilities(election, base_and_utility(&trace.rule).1);
    let c = cost(election, p) as f64;
    let top_points = if cost_utility {
        c
    } else if unit {
        1.0
    } else {
        election.profile().newcomer_support() as f64
    };
    let mut groups: Vec<usize> = Vec::new();
    let mut purse: Purse = Vec::new();
    let mut place = std::collections::HashMap::new();
    for (g, u) in supporters.of(p) {
        place.insert(g, purse.len());
        groups.push(g);
        purse.push((
            start,
            supporters.weights().get(g).copied().unwrap_or(0) as f64,
            if unit { 1.0 } else { u as f64 },
        ));
    }
    // What `p`'s supporters, their money scaled by `scale`, would pay at `rho`.
    let pays = |purse: &Purse, rho: f64, scale: f64| -> f64 {
        purse
            .iter()
            .map(|&(m, w, u)| w * (scale * m).min(rho * if cost_utility { c } else { u }))
            .sum()
    };
    // Added voters, each with `scale · start`, to make up `c` at `rho`.
    let needed = |purse: &Purse, rho: f64, scale: f64| -> f64 {
        let newcomer = (scale * start).min(rho * top_points);
        if newcomer > 0.0 {
            ((c - pays(purse, rho, scale)) / newcomer).ceil().max(1.0)
        } else {
            f64::INFINITY
        }
    };
    let (mut best_cost, mut fewest) = (0.0_f64, f64::INFINITY);
    let mut best_round: Option<(Purse, f64)> = None;
    let mut consider = |purse: &Purse, rho: f64| {
        let afford = if cost_utility {
            largest_cost_approval(purse, rho)
        } else {
            pays(purse, rho, 1.0)
        };
        best_cost = best_cost.max(afford);
        let k = needed(purse, rho, 1.0);
        if k < fewest {
            fewest = k;
            best_round = Some((purse.clone(), rho));
        }
    };
    for round in &trace.rounds {
        let Round::EqualShares {
            rho, money_left, ..
        } = round
        else {
            return Hint::default();
        };
        consider(&purse, *rho);
        for &(g, m) in money_left {
            if let Some(&i) = place.get(&g) {
                purse[i].0 = m;
            }
        }
    }
    consider(&purse, f64::INFINITY);
    // Added voters dilute everyone's money (`budget / n` becomes
    // `budget / (n + k)`): a few fixed-point steps at the round that needed
    // the fewest.
    if let Some((purse, rho)) = best_round {
        let n = election.profile().num_voters().max(1) as f64;
        for _ in 0..8 {
            let k = needed(&purse, rho, n / (n + fewest));
            if !k.is_finite() || k == fewest {
                break;
            }
            fewest = k;
        }
    }
    Hint {
        cost: Some(best_cost.floor().clamp(0.0, election.budget() as f64) as u64),
        voters: fewest.is_finite().then_some(fewest as u64),
    }
}

/// Approval ballots (cost utilities): the largest cost `c` with
/// `Σ weight·min(money, ρ·c) ≥ c`. With `x = ρ·c` the price per supporter,
/// `F(x) = Σ weight·min(money, x)` is concave and piecewise linear, and the
/// answer is `F(x*)` at the `x*` where `F(x) = x / ρ`.
fn largest_cost_approval(purse: &Purse, rho: f64) -> f64 {
    let all: f64 = purse.iter().map(|&(m, w, _)| w * m).sum();
    if !rho.is_finite() {
        return all;
    }
    if rho <= 0.0 {
        return 0.0;
    }
    let q = 1.0 / rho;
    let mut by_money: Vec<(f64, f64)> = purse.iter().map(|&(m, w, _)| (m, w)).collect();
    by_money.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut capped, mut weight) = (0.0, by_money.iter().map(|&(_, w)| w).sum::<f64>());
    for &(m, w) in &by_money {
        if capped + weight * m < q * m {
            return if q > weight {
                q * capped / (q - weight)
            } else {
                all
            };
        }
        capped += w * m;
        weight -= w;
    }
    all
}

/// Phragmén: in each round, the largest cost whose time would have been no
/// later than the load of the project bought, and the added voters (with no
/// load) that would have made it so.
fn phragmen_hint(election: &Election, supporters: &Supporters, trace: &Trace, p: usize) -> Hint {
    let c = cost(election, p) as f64;
    let mut load = vec![0.0_f64; supporters.num_groups()];
    let mut left = election.budget() as f64;
    let (mut best_cost, mut fewest) = (0.0_f64, f64::INFINITY);
    let mut consider = |load: &[f64], t: f64, left: f64| {
        let (mut carried, mut voters) = (0.0, 0.0);
        for (g, _) in supporters.of(p) {
            let w = supporters.weights().get(g).copied().unwrap_or(0) as f64;
            carried += w * load.get(g).copied().unwrap_or(0.0);
            voters += w;
        }
        let afford = if t.is_finite() {
            t * voters - carried
        } else {
            left
        };
        best_cost = best_cost.max(afford.min(left));
        if c <= left && t > 0.0 {
            fewest = fewest.min(((c + carried) / t - voters).ceil().max(1.0));
        }
    };
    let mut stopped = false;
    for round in &trace.rounds {
        let (project, t) = match *round {
            Round::Phragmen { project, load: t } => (project, t),
            Round::Overflow { project, load: t } => {
                // Whatever comes before the project that stopped the count
                // is bought, if it fits.
                let t = if project == p { f64::INFINITY } else { t };
                consider(&load, t, left);
                stopped = true;
                continue;
            }
            _ => return Hint::default(),
        };
        consider(&load, t, left);
        for (g, _) in supporters.of(project) {
            if let Some(l) = load.get_mut(g) {
                *l = t;
            }
        }
        left -= cost(election, project) as f64;
    }
    if !stopped {
        consider(&load, f64::INFINITY, left);
    }
    Hint {
        cost: Some(best_cost.floor().clamp(0.0, election.budget() as f64) as u64),
        voters: fewest.is_finite().then_some(fewest as u64),
    }
}

struct Search<'a, T: ?Sized> {
    tally: &'a T,
    election: &'a Election,
    ties: &'a TieBreaking,
    supporters: Option<&'a Supporters>,
    /// The trace of the outcome explained.
    trace: Trace,
    selected: HashSet<usize>,
    scores: &'a [u64],
    cost_monotone: bool,
    voters_monotone: bool,
    counts: AtomicU64,
}

impl<T: Tally + ?Sized> Search<'_, T> {
    /// Whether `p` is funded in `election` (an unbroken tie: not funded), and
    /// the outcome.
    fn count(&self, election: &Election, p: usize) -> Result<(bool, Option<Outcome>), TallyError> {
        self.counts.fetch_add(1, AtomicOrdering::Relaxed);
        match self.tally.tally(election, self.ties) {
            Ok(o) => Ok((o.selected.contains(&p), Some(o))),
            Err(TallyError::Tie { .. }) => Ok((false, None)),
            Err(e) => Err(e),
        }
    }

    fn costing(&self, p: usize, c: u64) -> Election {
        let mut e = self.election.clone();
        if let Some(candidate) = e.candidates.get_mut(p) {
            candidate.cost = c;
        }
        e
    }

    fn at_cost(&self, p: usize, c: u64) -> Result<bool, TallyError> {
        if c > self.election.budget() {
            return Ok(false);
        }
        Ok(self.count(&self.costing(p, c), p)?.0)
    }

    fn with_voters(&self, p: usize, k: u64) -> Result<bool, TallyError> {
        let index = u32::try_from(p).map_err(|_| TallyError::Overflow)?;
        let e = self
            .election
            .with_profile(self.election.profile.with_voters_for(index, k)?);
        Ok(self.count(&e, p)?.0)
    }

    fn project(&self, p: usize) -> Result<ProjectExplanation, TallyError> {
        let c = cost(self.election, p);
        let selected = self.selected.contains(&p);
        let support = self.scores.get(p).copied().unwrap_or(0);
        let exactness = |v: u64, monotone: bool| {
            if monotone {
                Measure::Exact(v)
            } else {
                Measure::Threshold(v)
            }
        };
        let max_cost = if selected {
            // The count without it (priced out of reach) says where it would
            // have stopped winning.
            let budget = self.election.budget();
            let hint = match self.count(&self.costing(p, budget.saturating_add(1)), p)? {
                (_, Some(without)) if !self.trace.rounds.is_empty() => {
                    let trace = without.trace_with(&self.costing(p, c), self.supporters)?;
                    hint(self.election, self.supporters, &trace, p, support).cost
                }
                _ => None,
            };
            let top = self.boundary(c, Some(budget.saturating_add(1)), hint, |x| {
                self.at_cost(p, x)
            })?;
            exactness(top.unwrap_or(c), self.cost_monotone)
        } else if c == 0 {
            Measure::Never
        } else {
            // A hint that funds it shows it wins at some cost; otherwise the
            // answer lies below the hint, if it wins even free.
            let (mut lo, mut hi) = (None, c);
            let mut start = None;
            if let Some(h) = hint(self.election, self.supporters, &self.trace, p, support).cost {
                if h < c && self.at_cost(p, h)? {
                    (lo, start) = (Some(h), Some(h));
                } else if h < c {
                    hi = h;
                    start = h.checked_sub(1);
                }
            }
            if lo.is_none() && self.at_cost(p, 0)? {
                lo = Some(0);
            }
            match lo {
                None => Measure::Never,
                Some(lo) => {
                    let top = self.boundary(lo, Some(hi), start, |x| self.at_cost(p, x))?;
                    exactness(top.unwrap_or(lo), self.cost_monotone)
                }
            }
        };
        let extra_voters = if selected {
            None
        } else {
            Some(self.fewest_voters(p, support)?)
        };
        Ok(ProjectExplanation {
            project: p,
            selected,
            cost: c,
            support,
            max_cost,
            extra_voters,
        })
    }

    /// With `yes(lo)` true and `yes(hi)` false (not evaluated; `None`: not
    /// known below [`MAX_EXTRA_VOTERS`]), an `x ≥ lo` with `yes(x)` and not
    /// `yes(x + 1)`: galloping out from `hint` (or up from `lo`, when `hi` is
    /// not known or `hint` is `lo`) until both sides are found, then
    /// bisection. `None` if `yes` holds up to the cap.
    fn boundary(
        &self,
        mut lo: u64,
        mut hi: Option<u64>,
        hint: Option<u64>,
        yes: impl Fn(u64) -> Result<bool, TallyError>,
    ) -> Result<Option<u64>, TallyError> {
        let below = |x: u64, hi: Option<u64>| hi.is_none_or(|h| x < h);
        let mut gallop_up = hi.is_none() || hint == Some(lo);
        if let Some(h) = hint.filter(|&h| h > lo && below(h, hi)) {
            if yes(h)? {
                lo = h;
                gallop_up = true;
            } else {
                hi = Some(h);
                // Gallop down from the hint.
                let mut step = 1;
                while let Some(x) = h.checked_sub(step).filter(|&x| x > lo) {
                    if yes(x)? {
                        lo = x;
                        break;
                    }
                    hi = Some(x);
                    step *= 2;
                }
            }
        }
        if gallop_up {
            // Gallop up until `yes` fails.
            let (from, mut step) = (lo, 1_u64);
            loop {
                let x = from.saturating_add(step);
                if !below(x, hi) {
                    break;
                }
                if x > MAX_EXTRA_VOTERS && hi.is_none() {
                    return Ok(None);
                }
                if yes(x)? {
                    lo = x;
                    step = step.saturating_mul(2);
                } else {
                    hi = Some(x);
                    break;
                }
            }
        }
        let Some(mut hi) = hi else {
            return Ok(None);
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if yes(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(lo))
    }

    fn fewest_voters(&self, p: usize, support: u64) -> Result<Measure, TallyError> {
        if cost(self.election, p) > self.election.budget() {
            return Ok(Measure::Never);
        }
        // The last number of added voters that does not fund it; 0 does not.
        let hint = hint(self.election, self.supporters, &self.trace, p, support)
            .voters
            .map(|k| k.saturating_sub(1));
        let not_funded = |k: u64| Ok(k == 0 || !self.with_voters(p, k)?);
        let Some(last) = self.boundary(0, None, hint, not_funded)? else {
            return Ok(Measure::Never);
        };
        let flip = last + 1;
        if self.voters_monotone {
            return Ok(Measure::Exact(flip));
        }
        if flip <= SCAN_VOTERS {
            for x in 1..flip {
                if self.with_voters(p, x)? {
                    return Ok(Measure::Exact(x));
                }
            }
            return Ok(Measure::Exact(flip));
        }
        Ok(Measure::Threshold(flip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Greedy, Mes, Phragmen, Profile};
    use proptest::prelude::*;

    fn election(kind: ProfileKind, costs: &[u64], budget: u64, ballots: &[Vec<u32>]) -> Election {
        let candidates = costs
            .iter()
            .enumerate()
            .map(|(i, &c)| Candidate::new(format!("p{i}"), c))
            .collect::<Vec<_>>();
        let mut b = Profile::builder(kind, candidates.len());
        for ballot in ballots {
            match kind {
                ProfileKind::Points => {
                    let entries: Vec<(u32, u32)> = ballot.iter().map(|&p| (p, p % 3 + 1)).collect();
                    b.push_points(&entries, 1).unwrap();
                }
                _ => b.push_approval(ballot, 1).unwrap(),
            }
        }
        Election::new(budget, candidates, b.build()).unwrap()
    }

    fn brute_funded(rule: &Rule, e: &Election, p: usize) -> bool {
        match rule.tally(e, &TieBreaking::by_project_id()) {
            Ok(o) => o.selected.contains(&p),
            Err(TallyError::Tie { .. }) => false,
            Err(err) => panic!("{err}"),
        }
    }

    /// Every measure against a scan of every cost and every number of voters
    /// up to a bound: exact answers equal the scan's, thresholds flip.
    fn check_against_brute_force(rule: &Rule, e: &Election) {
        let ties = TieBreaking::by_project_id();
        let outcome = rule.tally(e, &ties).unwrap();
        let why = explain(rule, e, &ties, &outcome).unwrap();
        assert_eq!(why.projects.len(), e.candidates().len());
        for x in &why.projects {
            let p = x.project;
            assert_eq!(x.selected, outcome.selected.contains(&p));
            let at = |c: u64| {
                let mut e = e.clone();
                e.candidates[p].cost = c;
                brute_funded(rule, &e, p)
            };
            match x.max_cost {
                Measure::Exact(m) => {
                    let best = (0..=e.budget()).rev().find(|&c| at(c));
                    assert_eq!(Some(m), best, "{rule} project {p}: max cost");
                }
                Measure::Threshold(m) => {
                    assert!(at(m), "{rule} project {p}: funded at {m}");
                    assert!(!at(m + 1), "{rule} project {p}: not funded at {}", m + 1);
                }
                Measure::Never => {
                    assert!(!x.selected);
                    assert!(!at(0), "{rule} project {p}: not even free");
                }
            }
            if x.selected {
                assert_eq!(x.extra_voters, None);
                continue;
            }
            let with = |k: u64| {
                let e = e.clone();
                let e = e.with_profile(e.profile.with_voters_for(p as u32, k).unwrap());
                brute_funded(rule, &e, p)
            };
            match x.extra_voters.unwrap() {
                Measure::Exact(k) => {
                    let fewest = (1..=k).find(|&k| with(k));
                    assert_eq!(fewest, Some(k), "{rule} project {p}: fewest voters");
                }
                Measure::Threshold(k) => {
                    assert!(k > SCAN_VOTERS);
                    assert!(with(k) && !with(k - 1), "{rule} project {p}: flips at {k}");
                }
                Measure::Never => assert!(e.candidates()[p].cost > e.budget() || !with(1 << 20)),
            }
        }
    }

    fn small_election() -> impl Strategy<Value = (Vec<u64>, u64, Vec<Vec<u32>>)> {
        (2_usize..=5).prop_flat_map(|m| {
            (
                proptest::collection::vec(1_u64..=30, m),
                10_u64..=60,
                proptest::collection::vec(
                    proptest::collection::btree_set(0..m as u32, 1..=m)
                        .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
                    1..=8,
                ),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn measures_agree_with_scanning_every_cost_and_voter_count(
            (costs, budget, ballots) in small_election(),
        ) {
            let e = election(ProfileKind::Approval, &costs, budget, &ballots);
            let extra = [
                Rule::GreedyThreshold { threshold: 2 },
                Rule::from_equal_shares(EqualShares {
                    completion: Completion::None,
                    utility: Utility::Cardinality,
                }),
            ];
            for rule in Rule::BUILTIN.iter().cloned().chain(extra) {
                check_against_brute_force(&rule, &e);
            }
        }

        #[test]
        fn measures_agree_with_scanning_on_points_ballots(
            (costs, budget, ballots) in small_election(),
        ) {
            let e = election(ProfileKind::Points, &costs, budget, &ballots);
            let cardinality = Rule::from_equal_shares(EqualShares {
                completion: Completion::None,
                utility: Utility::Cardinality,
            });
            for rule in [Rule::Greedy, Rule::Mes, Rule::MesAdd1, Rule::Phragmen, cardinality] {
                check_against_brute_force(&rule, &e);
            }
        }
    }

    #[test]
    fn a_project_nobody_supports_is_never_funded_by_equal_shares_at_any_cost() {
        let e = election(ProfileKind::Approval, &[10, 10], 20, &[vec![0]]);
        let ties = TieBreaking::by_project_id();
        let o = Mes.tally(&e, &ties).unwrap();
        let why = explain(&Mes, &e, &ties, &o).unwrap();
        assert!(why.projects[0].selected);
        assert!(!why.projects[1].selected);
        // With one voter approving it alone, it has 10 of the 20.
        assert_eq!(why.projects[1].extra_voters, Some(Measure::Exact(1)));
        assert!(why.counts > 0);
    }

    /// A rule that funds nothing: every search gives up at its cap, after a
    /// bounded number of counts (doubling up to [`MAX_EXTRA_VOTERS`]).
    #[test]
    fn searches_end_at_their_cap_when_nothing_wins() {
        struct Nothing;
        impl Tally for Nothing {
            fn name(&self) -> &str {
                "nothing"
            }
            fn tally(&self, e: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
                Outcome::new("nothing", ties.clone(), Vec::new(), e)
            }
        }
        let e = election(ProfileKind::Approval, &[10, 20], 50, &[vec![0], vec![1]]);
        let ties = TieBreaking::by_project_id();
        let o = Nothing.tally(&e, &ties).unwrap();
        let why = explain(&Nothing, &e, &ties, &o).unwrap();
        for x in &why.projects {
            assert_eq!(x.max_cost, Measure::Never);
            assert_eq!(x.extra_voters, Some(Measure::Never));
        }
        // Per project: one count free, 41 doublings to 2^40 and one past it.
        let bound = 2 * (1 + MAX_EXTRA_VOTERS.ilog2() as u64 + 2);
        assert!(why.counts <= bound, "{} counts", why.counts);
    }

    #[test]
    fn a_project_dearer_than_the_budget_never_wins_by_votes() {
        let e = election(ProfileKind::Approval, &[50, 10], 20, &[vec![0], vec![0]]);
        let ties = TieBreaking::by_project_id();
        let o = Greedy.tally(&e, &ties).unwrap();
        let why = explain(&Greedy, &e, &ties, &o).unwrap();
        assert_eq!(why.projects[0].max_cost, Measure::Exact(20));
        assert_eq!(why.projects[0].extra_voters, Some(Measure::Never));
        // p1 (no votes) is funded after p0 is skipped: it could cost 20.
        assert_eq!(why.projects[1].cost_margin(), Some(10));
    }

    #[test]
    fn traces_replay_each_rule() {
        // Four voters with 25 each (budget 100). A (60) by 1–3; B (40) by 3–4.
        let e = election(
            ProfileKind::Approval,
            &[60, 40, 30],
            100,
            &[vec![0], vec![0], vec![0, 1], vec![1, 2]],
        );
        let ties = TieBreaking::by_project_id();
        let t = Mes.tally(&e, &ties).unwrap().trace(&e).unwrap();
        assert_eq!(t.per_voter_budget, Some(25.0));
        let [
            Round::EqualShares {
                project: 0,
                price,
                money_left,
                ..
            },
        ] = t.rounds.as_slice()
        else {
            panic!("{t:?}")
        };
        assert_eq!(*price, 20.0);
        // Voters 1 and 2 cast the same ballot: one entry for both.
        assert_eq!(money_left.len(), 2);
        assert!(money_left.iter().all(|&(_, m)| m == 5.0));

        let t = Rule::MesGreedy.tally(&e, &ties).unwrap().trace(&e).unwrap();
        assert_eq!(t.completion_from, Some(1));
        assert!(matches!(
            t.rounds[1..],
            [
                Round::ByVotes {
                    project: 1,
                    funded: true,
                    money_left: 0,
                    ..
                },
                Round::ByVotes {
                    project: 2,
                    funded: false,
                    ..
                }
            ]
        ));

        let t = Greedy.tally(&e, &ties).unwrap().trace(&e).unwrap();
        assert!(matches!(
            t.rounds[..],
            [
                Round::ByVotes {
                    project: 0,
                    support: 3,
                    funded: true,
                    money_left: 40
                },
                Round::ByVotes {
                    project: 1,
                    support: 2,
                    funded: true,
                    money_left: 0
                },
                Round::ByVotes {
                    project: 2,
                    support: 1,
                    funded: false,
                    money_left: 0
                },
            ]
        ));

        let t = Phragmen::STOP.tally(&e, &ties).unwrap().trace(&e).unwrap();
        // A: 60 / 3 = 20; B: (40 + 20) / 2 = 30.
        assert!(matches!(
            t.rounds[..2],
            [
                Round::Phragmen {
                    project: 0,
                    load: 20.0
                },
                Round::Phragmen {
                    project: 1,
                    load: 30.0
                }
            ]
        ));
    }
}
