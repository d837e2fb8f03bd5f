//! The Method of Equal Shares and its completions.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use num_rational::BigRational;

use super::affine::{Affine, Horizon};
use super::arith::{Eval, Halt, Num, Queue, Ratio, Steps, Undecided};
use super::support::Supporters;
use super::{
    Election, Fraction, Outcome, OutcomeDetails, ProfileKind, Tally, TallyError, TieBreaking,
};

/// A project's ρ, whether the float run is sure the project is affordable,
/// and ρ exactly where the float run knows it (no supporter's money caps it).
struct Rho<N> {
    rho: N,
    certain: bool,
    exact: Option<Ratio>,
}

/// The money every voter starts a run with: `num / den` exactly, and as a
/// number of the run's arithmetic.
struct Start<N> {
    num: u64,
    den: u64,
    value: N,
}

impl<N: Num> Start<N> {
    fn new(num: u64, den: u64) -> Start<N> {
        Start {
            num,
            den,
            value: N::per_voter(num, den),
        }
    }
}

/// What the float run knows exactly of a voter's money during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// The starting money: nothing paid yet.
    Start,
    /// Nothing: paid all they had, beyond doubt.
    Nothing,
    /// Some amount known only up to rounding.
    Unknown,
}

/// One pass over a project's supporters at a price.
struct Pass<N> {
    /// Their money.
    money: N,
    /// The money of those who cannot pay their share at the price.
    poor_money: N,
    /// Their utility.
    poor_utility: N,
    /// How many of them.
    poor: usize,
    /// Supporting ballots visited.
    supporters: u64,
    /// For floats, where every side was told beyond doubt and every voter who
    /// pays all they have holds a known amount: the exact sums (`None`
    /// otherwise, and always for exact numbers).
    known: Option<Known>,
}

/// The exact sums of a [`Pass`] that the float run can vouch for.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    /// `Σ utility · voters` over those who pay all they have.
    poor_units: u128,
    /// Voters among them who still hold the starting money.
    poor_start: u128,
}

/// What a traced run leaves for the next: enough to start a run at a larger
/// money per voter from the first round whose decisions could differ there,
/// with the rounds before it as they were.
pub(crate) struct Trail<N> {
    /// The money per voter the run started with (whole units).
    base: u64,
    selected: Vec<usize>,
    /// Per round, each paying ballot: its money after paying, and what the
    /// float run knows of it exactly.
    paid: Vec<Vec<(usize, N, Held)>>,
    /// Per round, and one more for the round that found nothing left: the
    /// first whole `t ≥ 1` past `base` at which a decision of the round could
    /// differ (`u64::MAX`: none).
    horizons: Vec<u64>,
    /// Each price evaluated: the round, the project and its value (lower
    /// bounds of its price in any later round).
    prices: Vec<(usize, usize, N)>,
}

impl<N: Num> Trail<N> {
    /// The start of a run at `per_voter`: the rounds whose decisions all hold
    /// there, moved to start from it; `None` when no round does (or
    /// `per_voter` is not past the base).
    fn resume(mut self, per_voter: u64) -> Option<Trail<N>> {
        let t = per_voter.checked_sub(self.base).filter(|&t| t > 0)?;
        let kept = self.horizons.iter().take_while(|&&h| h > t).count();
        let kept = kept.min(self.selected.len());
        if kept == 0 {
            return None;
        }
        self.selected.truncate(kept);
        self.paid.truncate(kept);
        self.horizons.truncate(kept);
        self.prices.retain(|&(round, ..)| round < kept);
        for (_, _, price) in &mut self.prices {
            *price = price.shifted(t);
        }
        for round in &mut self.paid {
            for (_, money, _) in round.iter_mut() {
                *money = money.shifted(t);
            }
        }
        for h in &mut self.horizons {
            *h = h.saturating_sub(t);
        }
        self.base = per_voter;
        Some(self)
    }
}

/// A traced run: its outcome, the next whole money per voter at which the
/// outcome can differ, and the trail for the next traced run (`None` when the
/// run was exact).
type Traced = (MesRun, Option<u64>, Option<Trail<Affine<f64>>>);

/// Supporting ballots past which a price pass is split among threads.
const PARALLEL_PASS: usize = 1 << 16;

/// Supporting ballots past which a price pass is split among threads where
/// the voters' money does not fit in cache ([`OUT_OF_CACHE`] ballots or more):
/// each supporter then costs a read from memory, and a smaller pass is worth
/// the threads' start.
const PARALLEL_PASS_OUT_OF_CACHE: usize = 1 << 12;

/// add1 jumps of this many units or fewer count as no jump: a traced run
/// costs several plain ones.
const SHORT_JUMP: u64 = 2;

/// Plain add1 runs in a row from which a helper thread runs every other one
/// (see [`Shares::step_units`]): fewer do not repay starting it.
const PARALLEL_STEPS: u64 = 4;

/// Distinct ballots from which the voters' money is taken not to fit in cache.
const OUT_OF_CACHE: usize = 1 << 20;

/// The most threads one price pass uses.
const MAX_PASS_THREADS: usize = 4;

/// A lean pass's sums over some supporting ballots (see
/// [`Shares::lean_pass`]).
struct Lean<N> {
    money: N,
    poor_money: N,
    poor_voters: u64,
    poor: usize,
    supporters: u64,
}

impl<N: Num> Lean<N> {
    /// The sums over `groups`, each ballot's voters owing `share`; with
    /// `heavy` (a bit per ballot, set where more than one voter cast it), the
    /// weights are read only for the ballots it marks (the others are one
    /// voter each), which spares a read from memory per supporter where the
    /// weights do not fit in cache.
    fn over(
        groups: &[u32],
        budgets: &[N],
        weights: &[u64],
        heavy: Option<&[u64]>,
        share: &N,
    ) -> Lean<N> {
        match heavy {
            Some(heavy) => Self::sum(groups, budgets, share, |g| {
                match heavy.get(g >> 6).map(|word| word >> (g & 63) & 1) {
                    Some(0) => Some(1),
                    _ => weights.get(g).copied(),
                }
            }),
            None => Self::sum(groups, budgets, share, |g| weights.get(g).copied()),
        }
    }

    #[inline(always)]
    fn sum(
        groups: &[u32],
        budgets: &[N],
        share: &N,
        weight: impl Fn(usize) -> Option<u64>,
    ) -> Lean<N> {
        let mut lean = Lean {
            money: N::zero(),
            poor_money: N::zero(),
            poor_voters: 0,
            poor: 0,
            supporters: 0,
        };
        for &g in groups {
            let g = g as usize;
            let (Some(b), Some(w)) = (budgets.get(g), weight(g)) else {
                continue;
            };
            let money = b.mul_u64(w);
            if N::quiet_less(b, share) {
                lean.poor_money = lean.poor_money.add(&money);
                lean.poor_voters += w;
                lean.poor += 1;
            }
            lean.money = lean.money.add(&money);
            lean.supporters += 1;
        }
        lean
    }

    /// Adds the sums of a later part.
    fn join(&mut self, later: Lean<N>) {
        self.money = self.money.add(&later.money);
        self.poor_money = self.poor_money.add(&later.poor_money);
        self.poor_voters += later.poor_voters;
        self.poor += later.poor;
        self.supporters += later.supporters;
    }
}

/// Passes of the fixed-point search for ρ before it sorts the supporters
/// instead (see [`Shares::rho`]).
const FIXED_POINT_PASSES: usize = 6;

/// How one run of equal shares went.
#[derive(Debug, Clone)]
pub(crate) struct MesRun {
    pub(crate) selected: Vec<usize>,
    pub(crate) total_cost: u128,
    /// Whether a near-tie sent the run to exact arithmetic.
    pub(crate) exact: bool,
}

/// The context every run of equal shares on one election shares.
pub(crate) struct Shares<'e> {
    election: &'e Election,
    supporters: Cow<'e, Supporters>,
    support: Vec<u64>,
    /// Approval ballots: utilities are costs (supporters split a project's cost
    /// equally). Points and rankings: the points are the utilities.
    cost_utility: bool,
    ties: &'e TieBreaking,
    /// Each project's place in the tie-breaking chain.
    ranks: Vec<u32>,
    /// Projects that always have the same ρ.
    twins: Vec<Vec<usize>>,
    /// Each project's supporters' total utility, `Σ utility · voters` (less
    /// than 2¹²⁸: utilities and the number of voters are `u64`s).
    utility_totals: Vec<u128>,
    /// Threads a large price pass may use (asked once, when first needed).
    threads: std::sync::OnceLock<usize>,
    steps: Steps,
    rule: &'static str,
}

/// The tally error for a run that stopped at the step limit.
pub(crate) fn out_of_steps(rule: &str, steps: &Steps) -> TallyError {
    TallyError::StepLimit {
        rule: rule.to_owned(),
        limit: steps.limit(),
    }
}

impl<'e> Shares<'e> {
    #[cfg(test)]
    pub(crate) fn new(
        election: &'e Election,
        ties: &'e TieBreaking,
        rule: &'static str,
    ) -> Result<Shares<'e>, TallyError> {
        Shares::with_utility(election, ties, rule, Utility::Cost)
    }

    pub(crate) fn with_utility(
        election: &'e Election,
        ties: &'e TieBreaking,
        rule: &'static str,
        utility: Utility,
    ) -> Result<Shares<'e>, TallyError> {
        let kind = election.profile().kind();
        let supporters = match (utility, kind) {
            (Utility::Cardinality, ProfileKind::Points | ProfileKind::Ranking) => {
                Cow::Owned(election.supporters()?.unit())
            }
            _ => Cow::Borrowed(election.supporters()?),
        };
        let support = election.support()?.to_vec();
        let cost_utility = kind == ProfileKind::Approval && utility == Utility::Cost;
        let candidates = election.candidates();
        let twins = supporters.twins(
            candidates.len(),
            |p| candidates.get(p).map_or(0, |c| c.cost),
            !cost_utility,
        );
        let cost = |p: usize| candidates.get(p).map_or(0, |c| c.cost);
        let utility_totals: Vec<u128> = (0..candidates.len())
            .map(|p| {
                if kind == ProfileKind::Approval {
                    // Every supporter gives the same utility: the support counts
                    // the voters (no pass over them).
                    let u = if cost_utility { cost(p).max(1) } else { 1 };
                    let voters = support.get(p).copied().unwrap_or(0);
                    return u128::from(u) * u128::from(voters);
                }
                supporters.of(p).fold(0_u128, |sum, (g, u)| {
                    let u = if cost_utility { cost(p).max(1) } else { u };
                    let w = supporters.weights().get(g).copied().unwrap_or(0);
                    sum.saturating_add(u128::from(u) * u128::from(w))
                })
            })
            .collect();
        Ok(Shares {
            election,
            ranks: ties.ranks(election, &support),
            utility_totals,
            threads: std::sync::OnceLock::new(),
            supporters,
            support,
            cost_utility,
            ties,
            twins,
            steps: Steps::new(election.step_limit()),
            rule,
        })
    }

    pub(crate) fn supporters(&self) -> &Supporters {
        &self.supporters
    }

    /// One run with `num / den` minor units per voter: floats first, exact
    /// rationals if the floats meet a near-tie.
    pub(crate) fn run(&self, num: u64, den: u64) -> Result<MesRun, TallyError> {
        let halted = |halt| self.halted(halt);
        let (selected, exact) = match self.run_with::<f64>(num, den, None, &mut None) {
            Ok(selected) => (selected?, false),
            Err(Halt::Undecided) => (
                self.run_with::<BigRational>(num, den, None, &mut None)
                    .map_err(halted)??,
                true,
            ),
            Err(halt) => return Err(halted(halt)),
        };
        Ok(MesRun {
            total_cost: self.total_cost(&selected),
            selected,
            exact,
        })
    }

    /// Threads a pass or a run of add1 steps may use (asked once).
    fn threads(&self) -> usize {
        *self.threads.get_or_init(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PASS_THREADS))
        })
    }

    /// A copy of the context for another thread, with its own step counter
    /// limited to `limit` (the rest is borrowed or small: per project).
    fn fork(&self, limit: u64) -> Shares<'_> {
        Shares {
            election: self.election,
            supporters: Cow::Borrowed(&*self.supporters),
            support: self.support.clone(),
            cost_utility: self.cost_utility,
            ties: self.ties,
            ranks: self.ranks.clone(),
            twins: self.twins.clone(),
            utility_totals: self.utility_totals.clone(),
            threads: self.threads.clone(),
            steps: Steps::new(Some(limit)),
            rule: self.rule,
        }
    }

    /// Plain runs at `count` budgets per voter, `from`, `from + unit`, …, up
    /// to the first for which `ends` holds or that fails: their results in
    /// order, ending with that one.
    ///
    /// From [`PARALLEL_STEPS`] runs on, with two threads or more, a helper
    /// runs every other budget while this thread runs the rest, each going
    /// on until the other has found an end below it; runs past the first end
    /// are dropped. Each thread counts its runs' steps against what is left
    /// of the limit, and the runs kept are charged in order, so a step limit
    /// ends the count at the same run, with the same error, as running them
    /// one after another.
    fn step_units(
        &self,
        from: u64,
        unit: u64,
        count: u64,
        ends: &(dyn Fn(&MesRun) -> bool + Sync),
    ) -> Vec<Result<MesRun, TallyError>> {
        let budget_at = |i: u64| {
            i.checked_mul(unit)
                .and_then(|d| from.checked_add(d))
                .ok_or(TallyError::Overflow)
        };
        if self.threads() < 2 || count < PARALLEL_STEPS {
            let mut out = Vec::new();
            for i in 0..count {
                let run = budget_at(i).and_then(|b| self.run(b, 1));
                let end = run.as_ref().map_or(true, ends);
                out.push(run);
                if end {
                    break;
                }
            }
            return out;
        }
        let left = self.steps.limit().saturating_sub(self.steps.used());
        let first_end = AtomicU64::new(u64::MAX);
        // One thread's runs: every `stride`-th from `i`, each with its steps.
        let work = |shares: Shares<'_>, mut i: u64, stride: u64| {
            let mut out = Vec::new();
            while i < count && i <= first_end.load(AtomicOrdering::Relaxed) {
                let before = shares.steps.used();
                let run = budget_at(i).and_then(|b| shares.run(b, 1));
                if run.as_ref().map_or(true, ends) {
                    first_end.fetch_min(i, AtomicOrdering::Relaxed);
                }
                out.push((i, run, shares.steps.used().saturating_sub(before)));
                i = i.saturating_add(stride);
            }
            out
        };
        let mut done = std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .spawn_scoped(scope, {
                    let shares = self.fork(left);
                    let work = &work;
                    move || work(shares, 1, 2)
                })
                .ok();
            let stride = if helper.is_some() { 2 } else { 1 };
            let mut done = work(self.fork(left), 0, stride);
            match helper.map(std::thread::ScopedJoinHandle::join) {
                Some(Ok(theirs)) => done.extend(theirs),
                // A helper cannot panic; if it is lost, its runs are made here.
                Some(Err(_)) => done.extend(work(self.fork(left), 1, 2)),
                None => {}
            }
            done
        });
        done.sort_by_key(|(i, ..)| *i);
        let end = first_end.into_inner();
        let mut out = Vec::new();
        for (i, run, steps) in done {
            if i > end {
                break;
            }
            let run = match run {
                Err(TallyError::StepLimit { .. }) => Err(out_of_steps(self.rule, &self.steps)),
                Ok(run) => match self.steps.charge(steps) {
                    Ok(()) => Ok(run),
                    Err(halt) => Err(self.halted(halt)),
                },
                Err(e) => Err(e),
            };
            let failed = run.is_err();
            out.push(run);
            if failed {
                break;
            }
        }
        out
    }

    /// One run with `per_voter` whole units per voter, and the next whole
    /// budget above it at which the outcome can differ (`None`: none), from a
    /// run in numbers affine in the money per voter (see [`super::affine`]):
    /// every budget in between gives this run's outcome. Floats first; where
    /// they meet a near-tie, exact rationals.
    pub(crate) fn run_traced(
        &self,
        per_voter: u64,
        from: Option<Trail<Affine<f64>>>,
    ) -> Result<Traced, TallyError> {
        let halted = |halt| self.halted(halt);
        let horizon = Horizon::start();
        let mut trail = None;
        let floats = self.run_with::<Affine<f64>>(
            per_voter,
            1,
            from.map(Ok).or(Some(Err(per_voter))),
            &mut trail,
        );
        let (selected, exact, horizon) = match floats {
            Ok(selected) => (selected?, false, horizon.next()),
            Err(Halt::Undecided) => {
                trail = None;
                let horizon = Horizon::start();
                let selected = self
                    .run_with::<Affine<BigRational>>(per_voter, 1, None, &mut None)
                    .map_err(halted)??;
                (selected, true, horizon.next())
            }
            Err(halt) => return Err(halted(halt)),
        };
        let next = horizon.map(|t| per_voter.saturating_add(t));
        Ok((
            MesRun {
                total_cost: self.total_cost(&selected),
                selected,
                exact,
            },
            next,
            trail,
        ))
    }

    /// The cost of `selected` (a `u128`: no sum of `u64` costs overflows it).
    fn total_cost(&self, selected: &[usize]) -> u128 {
        selected
            .iter()
            .filter_map(|&p| self.election.candidates().get(p))
            .map(|c| u128::from(c.cost))
            .sum()
    }

    /// The tally error for a run that halted.
    fn halted(&self, halt: Halt) -> TallyError {
        match halt {
            Halt::OutOfSteps => out_of_steps(self.rule, &self.steps),
            // Exact comparisons always decide.
            Halt::Undecided => TallyError::Overflow,
        }
    }

    fn utility(&self, p: usize, u: u64) -> u64 {
        if self.cost_utility {
            self.election
                .candidates()
                .get(p)
                .map_or(0, |c| c.cost.max(1))
        } else {
            u
        }
    }

    /// ρ of project `p`: the least price per unit of utility at which its
    /// supporters, each paying `min(budget, ρ · utility)`, cover its cost. `None`
    /// when they cannot afford it.
    ///
    /// Voters who cannot pay ρ·u pay everything they have; ρ is the fixed point
    /// of `ρ = (cost − money of those) / (utility of the others)`, approached
    /// from below: in exact arithmetic each pass raises ρ and so adds voters who
    /// cannot pay, and the search ends at the first pass that adds none. Floats
    /// round, and a voter whose money per utility is exactly the fixed point
    /// (common: budgets are sums of earlier equal payments) can fall on either
    /// side of it from one pass to the next — which made the old search, that
    /// stopped only when the number of such voters stayed the same, alternate
    /// forever. Here ρ never decreases, so the set only grows: a pass either ends
    /// the search or adds a voter, at most one pass per supporter. After
    /// [`FIXED_POINT_PASSES`] passes the supporters are sorted by money per
    /// utility and ρ is read off in one scan ([`Shares::rho_sorted`]), so the
    /// work is `O(k log k)` for `k` supporters at worst.
    fn rho<N: Num>(
        &self,
        p: usize,
        budgets: &[N],
        held: &[Held],
        start: &Start<N>,
        fresh: &[bool],
        floor: Option<&N>,
    ) -> Result<Option<Rho<N>>, Halt> {
        let fresh = self.is_fresh(p, fresh);
        let found = self.rho_search(p, budgets, held, start, (false, floor), fresh)?;
        match found {
            Some(found) if N::TRACED && !fresh => self.rho_settled(p, budgets, found).map(Some),
            other => Ok(other),
        }
    }

    /// Whether `p`'s price can be had without visiting its supporters: cost
    /// utilities, and `fresh[p]`: none of them has paid yet.
    fn is_fresh(&self, p: usize, fresh: &[bool]) -> bool {
        self.cost_utility && fresh.get(p).copied().unwrap_or(false)
    }

    /// With cost utilities, ρ of a project none of whose supporters has paid
    /// yet, without visiting them: all hold `start`, so all can pay the
    /// uncapped share `cost / voters` (ρ = `1 / voters`, known exactly) or
    /// none can and the project is out. For traced numbers, where the money
    /// could first cover the cost is recorded.
    fn rho_fresh<N: Num>(&self, p: usize, start: &Start<N>) -> Option<Rho<N>> {
        let cost = self.election.candidates().get(p).map_or(0, |c| c.cost);
        // Approval ballots: a project's support is its voters.
        let voters = self.support.get(p).copied().unwrap_or(0);
        let cost_n = N::from_u64(cost);
        // start · voters ≥ cost, in integers.
        let covers =
            u128::from(start.num) * u128::from(voters) >= u128::from(cost) * u128::from(start.den);
        if voters == 0 || !covers {
            // Out while the money is short; traced (whole units per voter,
            // `den` 1): out until `(num + t) · voters ≥ cost`.
            if N::TRACED && voters > 0 {
                let short = u128::from(cost) * u128::from(start.den)
                    - u128::from(start.num) * u128::from(voters);
                let per_unit = u128::from(voters) * u128::from(start.den);
                N::horizon_at(u64::try_from(short.div_ceil(per_unit)).unwrap_or(u64::MAX));
            }
            return None;
        }
        // Covered now, and more money per voter only covers it more.
        let total = self.utility_totals.get(p).copied().unwrap_or(0);
        Some(Rho {
            rho: if cost == 0 {
                N::zero()
            } else {
                cost_n.div(&N::from_u128(total))
            },
            certain: true,
            exact: Ratio::new(u128::from(cost), total).filter(|_| cost > 0),
        })
    }

    /// For traced numbers: ρ as the formula of the supporters who pay all they
    /// have just above the current money, `ρ_C = (cost − money of C) / (utility
    /// of the others)` for that set `C`.
    ///
    /// No supporter is watched here. For *any* set `C`, `ρ_C` is a lower bound
    /// of ρ: each supporter pays `min(money, ρ·u)`, at most their money and at
    /// most `ρ·u`, so at `ρ_C` the payments reach at most the cost, and ρ, where
    /// they reach it, is no lower. So as the money rises past a point where
    /// some supporter changes sides, the formula stays a lower bound of the
    /// project's ρ, which is all the queue needs of a project that does not win
    /// (its value is watched against the winner's). For the winner, the
    /// formula must stay ρ itself: each of its supporters staying on the same
    /// side is exactly what the payments watch (`min(money, ρ·u)` records where
    /// the two cross), so it is watched there, once.
    fn rho_settled<N: Num>(&self, p: usize, budgets: &[N], found: Rho<N>) -> Result<Rho<N>, Halt> {
        let cost = self.election.candidates().get(p).map_or(0, |c| c.cost);
        if cost == 0 {
            return Ok(found);
        }
        let mut poor_money = N::zero();
        let mut rich_utility = N::zero();
        let mut k = 0;
        let weights = self.supporters.weights();
        for (g, u) in self.supporters.of(p) {
            let w = weights[g];
            let u = N::from_u64(self.utility(p, u));
            if N::settle_less(&budgets[g], &found.rho.mul(&u)) {
                poor_money = poor_money.add(&budgets[g].mul_u64(w));
            } else {
                rich_utility = rich_utility.add(&u.mul_u64(w));
            }
            k += 1;
        }
        self.steps.charge(k * N::STEP)?;
        if !rich_utility.is_positive() {
            // Everyone pays all they have: their money equals the cost exactly,
            // which the next unit may change.
            N::watch(&N::per_voter(0, 1), &N::zero());
            return Ok(found);
        }
        let rho = N::from_u64(cost).sub(&poor_money).div(&rich_utility);
        Ok(Rho {
            rho,
            certain: found.certain,
            exact: found.exact,
        })
    }

    /// ρ as [`Shares::rho`] describes, without the watch. `held[g]`: what the
    /// float run knows exactly of the money of ballot `g`'s voters.
    ///
    /// The first pass sums the supporters' money and, at once, finds who cannot
    /// pay the uncapped price (cost over the supporters' total utility, fixed
    /// per project); where everyone can, that is ρ, found in one pass.
    ///
    /// Where the last pass told every supporter's side beyond doubt (clearly
    /// in floats, or exactly for voters whose money is known exactly) and those
    /// who pay all they have hold a known amount, ρ is a ratio of integers and
    /// the float run knows it exactly ([`Rho::exact`]): ρ is the one price at
    /// which the supporters' payments cover the cost, and the pass shows this
    /// price covers it.
    ///
    /// Without `vouch`, `floor` (a price at or below ρ: the project's price in
    /// an earlier round of the run) may start the search above the uncapped
    /// price. From any price `r ≤ ρ` the step stays in `[r, ρ]`: at `r` the
    /// payments `min(money, r·u)` cover at most the cost, and with the set who
    /// cannot pay at `r` (within the set at ρ) paying all they have, the price
    /// that covers the cost is no more than ρ. So it ends where the search from
    /// the uncapped price ends, in fewer passes where money changed little.
    /// A step that does not raise the price ends the search at once: a pass
    /// at the same price would find the same voters short.
    fn rho_search<N: Num>(
        &self,
        p: usize,
        budgets: &[N],
        held: &[Held],
        start: &Start<N>,
        (vouch, floor): (bool, Option<&N>),
        fresh: bool,
    ) -> Result<Option<Rho<N>>, Halt> {
        if fresh {
            self.steps.charge(N::STEP)?;
            return Ok(self.rho_fresh(p, start));
        }
        let cost = self.election.candidates().get(p).map_or(0, |c| c.cost);
        let cost_n = N::from_u64(cost);
        let total = self.utility_totals.get(p).copied().unwrap_or(0);
        let utility = N::from_u128(total);
        let mut rho = cost_n.div(&utility);
        let vouch = vouch && !N::EXACT;
        // From a floor, the set found at it gives the next price as at any
        // other (`poor` starts at no count a pass can give); where that price
        // is not above the floor, the floor is ρ (see above).
        let mut poor = 0;
        if let Some(floor) = floor.filter(|f| !vouch && N::quiet_less(&rho, f)) {
            rho = floor.clone();
            poor = usize::MAX;
        }
        let mut exact = if vouch {
            Ratio::new(u128::from(cost), total)
        } else {
            None
        };
        let classify = |rho: &N, exact| {
            if vouch {
                self.classify::<N, true>(p, budgets, held, start, rho, exact)
            } else {
                self.classify::<N, false>(p, budgets, held, start, rho, exact)
            }
        };
        let first = classify(&rho, exact);
        self.steps.charge(first.supporters.max(1) * N::STEP)?;
        if first.supporters == 0 {
            return Ok(None);
        }
        let certain = match N::decide(&first.money, &cost_n) {
            Ok(Ordering::Less) => return Ok(None),
            Ok(_) => true,
            Err(Undecided) => false,
        };
        let found = |rho, exact| {
            Ok(Some(Rho {
                rho,
                certain,
                exact,
            }))
        };
        if cost == 0 {
            return found(N::zero(), None);
        }
        let mut pass = first;
        for k in 0..FIXED_POINT_PASSES {
            if k > 0 {
                pass = classify(&rho, exact);
                self.steps.charge(pass.supporters * N::STEP)?;
            }
            if pass.poor == poor {
                let exact = pass.known.and_then(|k| self.price(p, start, k));
                return found(rho, exact.filter(|_| certain));
            }
            poor = pass.poor;
            let rest = utility.sub(&pass.poor_utility);
            if !rest.is_positive() {
                // Everyone pays everything: affordable only at equality, which the
                // check above left to exact arithmetic (where this cannot happen:
                // ρ is a weighted mean of the voters' money per utility, so not
                // all of them can be below it).
                return if N::EXACT {
                    found(rho, None)
                } else {
                    Err(Halt::Undecided)
                };
            }
            let next = cost_n.sub(&pass.poor_money).div(&rest);
            if N::quiet_less(&rho, &next) {
                rho = next;
                exact = pass.known.and_then(|k| self.price(p, start, k));
            } else if !vouch {
                // ρ stays: another pass at it would find the same voters short
                // and end the search here.
                return found(rho, None);
            } else {
                exact = None;
            }
        }
        found(self.rho_sorted(p, budgets, &cost_n, &utility)?, None)
    }

    /// One pass over `p`'s supporters at price `rho` (exactly `exact`, where
    /// known): their money, and who cannot pay `rho · utility`; with `VOUCH`,
    /// also the exact sums where every side is known beyond doubt.
    fn classify<N: Num, const VOUCH: bool>(
        &self,
        p: usize,
        budgets: &[N],
        held: &[Held],
        start: &Start<N>,
        rho: &N,
        exact: Option<Ratio>,
    ) -> Pass<N> {
        let cost_n = self
            .cost_utility
            .then(|| N::from_u64(self.election.candidates().get(p).map_or(0, |c| c.cost)));
        // With cost utilities every supporter pays the same share.
        let share = cost_n.as_ref().map(|c| rho.mul(c));
        let mut pass = Pass {
            money: N::zero(),
            poor_money: N::zero(),
            poor_utility: N::zero(),
            poor: 0,
            supporters: 0,
            known: VOUCH.then_some(Known::default()),
        };
        if let (false, Some(share), Some(cost)) = (VOUCH, &share, &cost_n) {
            // The common case, lean: everyone's share is the same, and the
            // utility of those who cannot pay it is the cost per voter.
            let lean = self.lean_pass(self.supporters.groups_of(p), budgets, share);
            pass.money = lean.money;
            pass.poor_money = lean.poor_money;
            pass.poor = lean.poor;
            pass.supporters = lean.supporters;
            pass.poor_utility = cost.mul_u64(lean.poor_voters);
            return pass;
        }
        let weights = self.supporters.weights();
        for (g, u_raw) in self.supporters.of(p) {
            let w = weights[g];
            let b = &budgets[g];
            let money = b.mul_u64(w);
            let u = match &cost_n {
                Some(c) => c.clone(),
                None => N::from_u64(u_raw),
            };
            let due = match &share {
                Some(s) => s.clone(),
                None => rho.mul(&u),
            };
            let mut below = N::quiet_less(b, &due);
            if VOUCH && let Some(known) = pass.known {
                pass.known = self.vouch(
                    p,
                    (g, u_raw, w),
                    (b, &due),
                    &mut below,
                    held,
                    start,
                    exact,
                    known,
                );
            }
            if below {
                pass.poor_money = pass.poor_money.add(&money);
                pass.poor_utility = pass.poor_utility.add(&u.mul_u64(w));
                pass.poor += 1;
            }
            pass.money = pass.money.add(&money);
            pass.supporters += 1;
        }
        pass
    }

    /// A pass with cost utilities over the supporting ballots `groups`, each
    /// owing `share`: past [`PARALLEL_PASS`] ballots, split among threads
    /// (the parts added up in order, so the sums do not depend on the threads'
    /// timing).
    fn lean_pass<N: Num>(&self, groups: &[u32], budgets: &[N], share: &N) -> Lean<N> {
        let weights = self.supporters.weights();
        let out_of_cache = budgets.len() >= OUT_OF_CACHE;
        let heavy = out_of_cache.then(|| self.supporters.heavy());
        let least = if out_of_cache {
            PARALLEL_PASS_OUT_OF_CACHE
        } else {
            PARALLEL_PASS
        };
        let threads = if groups.len() >= least {
            self.threads()
        } else {
            1
        };
        if threads <= 1 {
            return Lean::over(groups, budgets, weights, heavy, share);
        }
        let size = groups.len().div_ceil(threads);
        let mut parts = groups.chunks(size);
        let first = parts.next().unwrap_or(&[]);
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .map(|part| {
                    let thread = std::thread::Builder::new().spawn_scoped(scope, move || {
                        Lean::over(part, budgets, weights, heavy, share)
                    });
                    (part, thread.ok())
                })
                .collect();
            let mut sum = Lean::over(first, budgets, weights, heavy, share);
            for (part, handle) in handles {
                // A part cannot panic; where its thread could not start or is
                // lost, it is counted here.
                let lean = handle
                    .and_then(|h| h.join().ok())
                    .unwrap_or_else(|| Lean::over(part, budgets, weights, heavy, share));
                sum.join(lean);
            }
            sum
        })
    }

    /// For [`Shares::classify`]: tells the side of a voter (ballot `g`,
    /// utility `u`, `w` voters, money `b` against `due`) beyond doubt, setting
    /// `below` where only exact numbers can tell, and adds them to the exact
    /// sums; `None` where the side or the money is not known exactly.
    #[allow(clippy::too_many_arguments)]
    fn vouch<N: Num>(
        &self,
        p: usize,
        (g, u, w): (usize, u64, u64),
        (b, due): (&N, &N),
        below: &mut bool,
        held: &[Held],
        start: &Start<N>,
        exact: Option<Ratio>,
        mut known: Known,
    ) -> Option<Known> {
        let state = held.get(g).copied().unwrap_or(Held::Unknown);
        let (low, high) = if *below { (b, due) } else { (due, b) };
        if !N::surely_at_least(high, low, &start.value) {
            // Too close for floats: decided exactly where the voter's money is
            // known exactly.
            *below = match state {
                Held::Nothing => true,
                Held::Start => !self.start_covers(p, u, start, exact?)?,
                Held::Unknown => return None,
            };
        }
        if *below {
            let units = u128::from(self.utility(p, u)) * u128::from(w);
            known.poor_units = known.poor_units.checked_add(units)?;
            match state {
                Held::Nothing => {}
                Held::Start => known.poor_start = known.poor_start.checked_add(u128::from(w))?,
                Held::Unknown => return None,
            }
        }
        Some(known)
    }

    /// Whether a voter holding exactly `start` and giving `p` utility `u`
    /// (raw: the ballot's) can pay `rho · u`, in integers (`None`: too large).
    fn start_covers<N>(&self, p: usize, u: u64, start: &Start<N>, rho: Ratio) -> Option<bool> {
        let due = rho.times(self.utility(p, u))?;
        let held = Ratio::new(u128::from(start.num), u128::from(start.den))?;
        Some(held.order(due) != Ordering::Less)
    }

    /// ρ exactly, from a pass whose every side is known: `(cost − start ·
    /// voters paying all of `start`) / (total utility − utility of those paying
    /// all they have)`; `None` where it does not fit 128 bits.
    fn price<N>(&self, p: usize, start: &Start<N>, known: Known) -> Option<Ratio> {
        let cost = u128::from(self.election.candidates().get(p).map_or(0, |c| c.cost));
        let total = self.utility_totals.get(p).copied()?;
        let den = u128::from(start.den);
        let num = cost
            .checked_mul(den)?
            .checked_sub(u128::from(start.num).checked_mul(known.poor_start)?)?;
        let rest = total.checked_sub(known.poor_units)?.checked_mul(den)?;
        Ratio::new(num, rest)
    }

    /// ρ by sorting the supporters by money per utility, the point where each
    /// stops being able to pay ρ·u, and scanning: with the first `j` of them
    /// paying all they have, ρ = (cost − their money) / (the others' utility) is
    /// the answer as soon as the next supporter can pay it. The caller has
    /// checked that the supporters can afford the project.
    fn rho_sorted<N: Num>(
        &self,
        p: usize,
        budgets: &[N],
        cost: &N,
        utility: &N,
    ) -> Result<N, Halt> {
        let weights = self.supporters.weights();
        let mut voters: Vec<(N, N, N)> = self
            .supporters
            .of(p)
            .map(|(g, u)| {
                let w = weights[g];
                let u = N::from_u64(self.utility(p, u));
                (budgets[g].div(&u), budgets[g].mul_u64(w), u.mul_u64(w))
            })
            .collect();
        let n = voters.len() as u64;
        // A sort's comparisons, as steps.
        self.steps
            .charge(n.saturating_mul(u64::from(n.max(2).ilog2()) + 1) * N::STEP)?;
        voters.sort_by(|a, b| {
            if N::quiet_less(&a.0, &b.0) {
                Ordering::Less
            } else if N::quiet_less(&b.0, &a.0) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        let mut poor_money = N::zero();
        let mut poor_utility = N::zero();
        let mut last = N::zero();
        for (threshold, money, weight) in voters {
            let rest = utility.sub(&poor_utility);
            if rest.is_positive() {
                let rho = cost.sub(&poor_money).div(&rest);
                if !N::quiet_less(&threshold, &rho) {
                    return Ok(rho);
                }
            }
            poor_money = poor_money.add(&money);
            poor_utility = poor_utility.add(&weight);
            last = threshold;
        }
        // Every supporter pays all they have: money equals the cost exactly, and
        // ρ is the largest money per utility.
        if N::EXACT {
            Ok(last)
        } else {
            Err(Halt::Undecided)
        }
    }

    /// The run proper, in arithmetic `N`: the projects chosen in order, or why
    /// the run stopped (a near-tie the floats leave to exact arithmetic, the
    /// step limit, or — as `Ok(Err(_))` — a tie the chain refuses).
    ///
    /// `from`: for traced numbers, `Ok` to start from the rounds a trail kept
    /// (its base is then the money per voter), `Err(base)` to start afresh and
    /// leave a trail in `trail`; `None` for neither.
    fn run_with<N: Num>(
        &self,
        num: u64,
        den: u64,
        from: Option<Result<Trail<N>, u64>>,
        trail: &mut Option<Trail<N>>,
    ) -> Result<Result<Vec<usize>, TallyError>, Halt> {
        let start = Start::<N>::new(num, den);
        let groups = self.supporters.num_groups();
        let mut budgets = vec![start.value.clone(); groups];
        let mut held = vec![Held::Start; groups];
        let keep = N::TRACED && from.is_some();
        let mut kept = match from {
            Some(Ok(kept)) => kept,
            Some(Err(base)) => Trail {
                base,
                selected: Vec::new(),
                paid: Vec::new(),
                horizons: Vec::new(),
                prices: Vec::new(),
            },
            None => Trail {
                base: 0,
                selected: Vec::new(),
                paid: Vec::new(),
                horizons: Vec::new(),
                prices: Vec::new(),
            },
        };
        // Projects none of whose supporters has paid yet (cost utilities: their
        // price needs no pass over them).
        let profile = self.election.profile();
        let mut fresh = vec![self.cost_utility; self.election.candidates().len()];
        let mut fresh_left = if self.cost_utility { fresh.len() } else { 0 };
        let mut paid_by = |g: usize, fresh: &mut Vec<bool>| {
            if fresh_left == 0 {
                return;
            }
            for &q in profile.ballot(g).map_or(&[][..], |b| b.projects) {
                if let Some(f) = fresh.get_mut(q as usize)
                    && *f
                {
                    *f = false;
                    fresh_left -= 1;
                }
            }
        };
        // The rounds kept: their payments, and their horizons still ahead.
        for round in &kept.paid {
            for (g, money, known) in round {
                if let (Some(b), Some(h)) = (budgets.get_mut(*g), held.get_mut(*g)) {
                    *b = money.clone();
                    *h = *known;
                }
                paid_by(*g, &mut fresh);
            }
        }
        if let Some(&h) = kept.horizons.iter().min() {
            super::affine::carry(h);
        }
        let taken: std::collections::HashSet<usize> = kept.selected.iter().copied().collect();
        let classes: Vec<Vec<usize>> = self
            .twins
            .iter()
            .map(|c| c.iter().copied().filter(|p| !taken.contains(p)).collect())
            .collect();
        let mut queue = Queue::<N>::ordered(classes, self.ranks.clone(), Vec::new());
        if !kept.prices.is_empty() {
            // The latest price of each project in the rounds kept.
            let mut latest: Vec<Option<&N>> = vec![None; self.election.candidates().len()];
            for (_, p, price) in &kept.prices {
                if let Some(slot) = latest.get_mut(*p) {
                    *slot = Some(price);
                }
            }
            queue = queue.with_bounds(|p| latest.get(p).copied().flatten().cloned());
        }
        let mut selected = std::mem::take(&mut kept.selected);
        let mut prices = std::mem::take(&mut kept.prices);
        // Each project's last price this run: money only falls from round to
        // round, so prices only rise, and the last is where the next search
        // can start.
        let mut floors: Vec<Option<N>> = vec![None; self.election.candidates().len()];
        // At most one round per project: each round's winner leaves the queue.
        loop {
            let before = if keep {
                super::affine::begin_round()
            } else {
                0
            };
            let round = selected.len();
            let won = queue.round_known(
                &self.steps,
                |c| {
                    let floor = floors.get(c).and_then(Option::as_ref);
                    let found = self.rho::<N>(c, &budgets, &held, &start, &fresh, floor)?;
                    if let (Some(r), Some(f)) = (&found, floors.get_mut(c)) {
                        *f = Some(r.rho.clone());
                    }
                    if keep && let Some(r) = &found {
                        prices.push((round, c, r.rho.clone()));
                    }
                    Ok(match found {
                        Some(Rho {
                            rho, certain: true, ..
                        }) => Eval::Value(rho),
                        Some(Rho {
                            rho,
                            certain: false,
                            ..
                        }) => Eval::Uncertain(rho),
                        None => Eval::Drop,
                    })
                },
                // At a near-tie: ρ exactly, where the float run can vouch for it.
                |c| {
                    let fresh = self.is_fresh(c, &fresh);
                    let found =
                        self.rho_search::<N>(c, &budgets, &held, &start, (true, None), fresh)?;
                    Ok(found.and_then(|r| r.exact))
                },
            )?;
            let Some(won) = won else {
                if keep {
                    kept.horizons.push(super::affine::end_round(before));
                }
                break;
            };
            if !won.tied.is_empty() {
                return Ok(Err(self.tie(won.project, &won.tied)));
            }
            let winner = won.project;
            let mut paid = 0_u64;
            let mut log = Vec::new();
            for (g, u) in self.supporters.of(winner) {
                let due = won.value.mul(&N::from_u64(self.utility(winner, u)));
                // Known to pay all they have only where clearly short of their
                // share (or holding nothing already).
                if let Some(h) = held.get_mut(g)
                    && *h != Held::Nothing
                {
                    *h = if N::surely_at_least(&due, &budgets[g], &start.value)
                        && !N::surely_at_least(&budgets[g], &due, &start.value)
                    {
                        Held::Nothing
                    } else {
                        Held::Unknown
                    };
                }
                let pay = N::min_value(&budgets[g], &due);
                budgets[g] = budgets[g].sub(&pay);
                paid_by(g, &mut fresh);
                if keep {
                    log.push((g, budgets[g].clone(), held[g]));
                }
                paid += 1;
            }
            self.steps.charge(paid * N::STEP)?;
            selected.push(winner);
            if keep {
                kept.paid.push(log);
                kept.horizons.push(super::affine::end_round(before));
            }
        }
        if keep {
            kept.selected = selected.clone();
            kept.prices = prices;
            *trail = Some(kept);
        }
        Ok(Ok(selected))
    }

    /// The tie error for `winner` and the projects the chain leaves tied with it.
    pub(crate) fn tie(&self, winner: usize, tied: &[usize]) -> TallyError {
        let mut projects = vec![winner];
        projects.extend_from_slice(tied);
        projects.sort_unstable();
        projects.dedup();
        TallyError::Tie {
            rule: self.rule.to_owned(),
            projects: projects
                .iter()
                .filter_map(|&p| self.election.candidates().get(p))
                .map(|c| c.label.clone())
                .collect(),
            tie_breaking: self.ties.clone(),
        }
    }

    pub(crate) fn outcome(
        &self,
        rule: &str,
        selected: Vec<usize>,
        details: OutcomeDetails,
    ) -> Outcome {
        let total_cost = selected
            .iter()
            .filter_map(|&p| self.election.candidates().get(p))
            .map(|c| u128::from(c.cost))
            .sum::<u128>();
        Outcome {
            rule: rule.to_owned(),
            tie_breaking: self.ties.clone(),
            selected,
            // Every outcome here keeps within the budget, a `u64`.
            total_cost: u64::try_from(total_cost).unwrap_or(u64::MAX),
            budget: self.election.budget(),
            scores: self.support.clone(),
            details,
        }
    }

    /// Adds projects greedily by support, skipping those that no longer fit:
    /// one sort and one pass.
    pub(crate) fn greedy_fill(&self, selected: &mut Vec<usize>) {
        let e = self.election;
        let candidates = e.candidates();
        let mut taken = vec![false; candidates.len()];
        let mut spent = 0_u128;
        for &p in selected.iter() {
            if let (Some(t), Some(c)) = (taken.get_mut(p), candidates.get(p)) {
                *t = true;
                spent += u128::from(c.cost);
            }
        }
        let mut left = u128::from(e.budget()).saturating_sub(spent);
        let mut rest: Vec<usize> = (0..candidates.len()).filter(|&p| !taken[p]).collect();
        super::greedy::by_support(&mut rest, &self.support, &self.ranks);
        for p in rest {
            let cost = candidates.get(p).map_or(u128::MAX, |c| u128::from(c.cost));
            if self.support[p] > 0 && cost <= left {
                left -= cost;
                selected.push(p);
            }
        }
    }
}

pub(super) const MES: &str = "mes";
pub(super) const MES_GREEDY: &str = "mes-greedy";
pub(super) const MES_ADD1: &str = "mes-add1";
pub(super) const MES_ADD1_EXHAUSTIVE: &str = "mes-add1-exhaustive";
pub(super) const MES_ADD1_COMPARISON: &str = "mes-add1-comparison";

/// The Method of Equal Shares (Peters & Skowron, *Proportionality and the Limits
/// of Welfarism*, EC 2020; Peters, Pierczyński & Skowron, *Proportional
/// Participatory Budgeting with Additive Utilities*, NeurIPS 2021;
/// equalshares.net).
///
/// Each of the `n` voters starts with `budget / n`. Repeatedly, for every project
/// its supporters can still afford, find the least ρ such that each supporter
/// paying `min(own money, ρ · utility)` covers the cost; fund the project with the
/// smallest ρ and charge its supporters. Stop when no project is affordable.
/// Utilities: for approval ballots, a project's cost (the supporters split its
/// cost equally; "cost utilities"); for cumulative and scoring ballots, the
/// points; for rankings, Borda points. No completion: the outcome may leave money
/// unspent (see [`MesAdd1`] and [`MesGreedy`]).
///
/// Arithmetic is exact: a float run decides everything not close to a tie, and a
/// run with exact rationals decides the rest (see the `arith` notes in the crate
/// docs of [`crate::tally`]). Ties of ρ are broken by the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mes;

impl Tally for Mes {
    fn name(&self) -> &str {
        MES
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        one_run(election, ties, MES, Utility::Cost, false)
    }
}

/// Equal shares at `budget / n` per voter, completed greedily or not.
fn one_run(
    election: &Election,
    ties: &TieBreaking,
    rule: &'static str,
    utility: Utility,
    greedy: bool,
) -> Result<Outcome, TallyError> {
    let shares = Shares::with_utility(election, ties, rule, utility)?;
    let n = election.profile().num_voters().max(1);
    let run = shares.run(election.budget(), n)?;
    let mut selected = run.selected;
    if greedy {
        shares.greedy_fill(&mut selected);
    }
    Ok(shares.outcome(
        rule,
        selected,
        OutcomeDetails {
            per_voter_budget: Some(Fraction::new(u128::from(election.budget()), u128::from(n))),
            exact_arithmetic: run.exact,
            ..OutcomeDetails::default()
        },
    ))
}

/// Equal shares, then utilitarian completion: projects not funded are added by
/// support (votes or points), highest first, each that still fits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MesGreedy;

impl Tally for MesGreedy {
    fn name(&self) -> &str {
        MES_GREEDY
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        one_run(election, ties, MES_GREEDY, Utility::Cost, true)
    }
}

/// Equal shares completed by raising the voters' money, pabulib's
/// `equalshares/add1`: each voter starts with ⌊budget / n⌋ whole units; after each
/// run every voter gets one unit more, and the last outcome whose cost is still
/// within the budget is kept. With `exhaustive_stop`, the increases also stop at
/// the first outcome that is exhaustive — no project left out would still fit —
/// as equalshares.net recommends.
///
/// The increases also stop once every project with support is funded (more money
/// cannot change the outcome then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MesAdd1 {
    /// Stop at the first exhaustive outcome.
    pub exhaustive_stop: bool,
}

pub(crate) struct Add1 {
    pub(crate) run: MesRun,
    pub(crate) per_voter: u64,
    pub(crate) runs: u32,
    pub(crate) exact: bool,
}

/// Equal shares with add1: the outcome of stepping the money per voter one unit
/// at a time from ⌊budget / n⌋, without stepping. Each run is traced
/// ([`Shares::run_traced`]) and gives the next whole budget at which the outcome
/// can change; every budget skipped gives the same outcome as the run before
/// it, so the stopping test (overspent, complete, exhaustive) — a function of
/// the outcome — cannot trigger in between. Kept: the last budget whose
/// outcome is within the budget, which after an overspent run is the unit just
/// below it.
///
/// Termination: once a voter's money is at least `C`, the total cost of all
/// projects, every supporter can pay for any project on their own whatever they
/// have paid before (at most `C` in all), so every supported project is funded
/// and the loop ends (`complete`); each run moves the budget up by at least one
/// unit. In practice the runs are as many as the distinct outcomes met, not
/// `C − ⌊budget / n⌋`.
pub(crate) fn add1(shares: &Shares<'_>, exhaustive_stop: bool) -> Result<Add1, TallyError> {
    add1_by(shares, exhaustive_stop, true)
}

/// add1 by the definition, one run per unit: the oracle the jumping version is
/// tested against.
#[cfg(test)]
pub(crate) fn add1_stepping(
    shares: &Shares<'_>,
    exhaustive_stop: bool,
) -> Result<Add1, TallyError> {
    add1_by(shares, exhaustive_stop, false)
}

fn add1_by(shares: &Shares<'_>, exhaustive_stop: bool, jump: bool) -> Result<Add1, TallyError> {
    let e = shares.election;
    let budget = u128::from(e.budget());
    let n = e.profile().num_voters().max(1);
    let supported = shares.support.iter().filter(|s| **s > 0).count();
    // One whole currency unit, and ⌊budget / n⌋ of them to start.
    let unit = e.unit().max(1);
    let start = e.budget() / n / unit * unit;
    let mut per_voter = start;
    let mut runs = 0_u32;
    let mut exact = false;
    let mut kept: Option<(MesRun, u64)> = None;
    // Whether a run ends the count: over the budget, every supported project
    // funded, or (exhaustive) no project left that the money would cover.
    let ends = |run: &MesRun| {
        run.total_cost > budget
            || run.selected.len() >= supported
            || (exhaustive_stop && exhaustive(e, &run.selected, budget))
    };
    // Where traced runs keep finding that the next unit may differ (a voter's
    // money crosses some price every unit), a plain run is cheaper: after `k`
    // such runs in a row, the next 2^(k−2) units (at most 64) are stepped
    // plainly before tracing again (with two threads, two at a time).
    let (mut streak, mut plain_left) = (0_u32, 0_u64);
    let mut stepped = std::collections::VecDeque::new();
    // The last traced run's trail: the next starts from the rounds it keeps.
    let mut trail: Option<Trail<Affine<f64>>> = None;
    loop {
        let (run, next) = if jump && plain_left == 0 {
            let from = trail.take().and_then(|t| t.resume(per_voter));
            let (run, next, left) = shares.run_traced(per_voter, from)?;
            trail = left;
            // The first whole unit at or past the next budget that can differ.
            let next = next.map(|next| {
                let units = (next - per_voter).div_ceil(unit);
                per_voter.saturating_add(units.saturating_mul(unit))
            });
            let short = per_voter.checked_add(unit.saturating_mul(SHORT_JUMP));
            if matches!((next, short), (Some(next), Some(short)) if next <= short) {
                streak = streak.saturating_add(1);
                if streak >= 2 {
                    plain_left = 1 << (streak - 2).min(6);
                }
            } else {
                streak = 0;
            }
            (run, next)
        } else {
            if jump && stepped.is_empty() {
                stepped.extend(shares.step_units(per_voter, unit, plain_left, &ends));
            }
            plain_left = plain_left.saturating_sub(1);
            let run = match stepped.pop_front() {
                Some(run) => run?,
                None => shares.run(per_voter, 1)?,
            };
            (run, None)
        };
        runs = runs.saturating_add(1);
        exact |= run.exact;
        if run.total_cost > budget {
            // The kept outcome held up to the unit below this one.
            if let Some(k) = kept.as_mut() {
                k.1 = per_voter - unit;
            }
            break;
        }
        let end = ends(&run);
        kept = Some((run, per_voter));
        if end {
            break;
        }
        per_voter = match next {
            Some(next) => next,
            // Stepping, or no decision left that could change (not reached
            // when jumping: such a run is complete).
            None => per_voter.checked_add(unit).ok_or(TallyError::Overflow)?,
        };
    }
    let (run, per_voter) = match kept {
        Some(k) => k,
        None => (shares.run(start, 1)?, start),
    };
    Ok(Add1 {
        run,
        per_voter,
        runs,
        exact,
    })
}

impl Tally for MesAdd1 {
    fn name(&self) -> &str {
        if self.exhaustive_stop {
            MES_ADD1_EXHAUSTIVE
        } else {
            MES_ADD1
        }
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        self.count(election, ties, Utility::Cost)
    }
}

impl MesAdd1 {
    fn count(
        self,
        election: &Election,
        ties: &TieBreaking,
        utility: Utility,
    ) -> Result<Outcome, TallyError> {
        let rule = named(
            if self.exhaustive_stop {
                MES_ADD1_EXHAUSTIVE
            } else {
                MES_ADD1
            },
            utility,
        );
        let shares = Shares::with_utility(election, ties, rule, utility)?;
        let done = add1(&shares, self.exhaustive_stop)?;
        Ok(shares.outcome(
            rule,
            done.run.selected,
            OutcomeDetails {
                per_voter_budget: Some(Fraction::new(u128::from(done.per_voter), 1)),
                add1_runs: Some(done.runs),
                exact_arithmetic: done.exact,
                ..OutcomeDetails::default()
            },
        ))
    }
}

/// The `-comparison` step of pabulib's `equalshares/add1-comparison`: compute
/// equal shares with add1 and utilitarian greedy; if strictly more voters have
/// more funded projects they support under greedy than under equal shares, the
/// greedy outcome is taken, otherwise equal shares'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MesAdd1Comparison;

/// How many voters prefer which outcome, in the comparison step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Comparison {
    /// Voters with more supported projects funded under equal shares.
    pub prefer_equal_shares: u64,
    /// Voters with more supported projects funded under greedy.
    pub prefer_greedy: u64,
    /// Whether the greedy outcome was taken.
    pub greedy_taken: bool,
}

impl Tally for MesAdd1Comparison {
    fn name(&self) -> &str {
        MES_ADD1_COMPARISON
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        self.count(election, ties, Utility::Cost)
    }
}

impl MesAdd1Comparison {
    fn count(
        self,
        election: &Election,
        ties: &TieBreaking,
        utility: Utility,
    ) -> Result<Outcome, TallyError> {
        let rule = named(MES_ADD1_COMPARISON, utility);
        let shares = Shares::with_utility(election, ties, rule, utility)?;
        let done = add1(&shares, false)?;
        let (selected, comparison) =
            compare_with_greedy(&shares, election, ties, done.run.selected)?;
        Ok(shares.outcome(
            rule,
            selected,
            OutcomeDetails {
                per_voter_budget: Some(Fraction::new(u128::from(done.per_voter), 1)),
                add1_runs: Some(done.runs),
                exact_arithmetic: done.exact,
                comparison: Some(comparison),
                ..OutcomeDetails::default()
            },
        ))
    }
}

/// The comparison step: the greedy outcome if strictly more voters have more
/// funded projects they support under it than under `selected`, otherwise
/// `selected`; with the counts.
///
/// # Errors
/// Greedy's error.
pub(crate) fn compare_with_greedy(
    shares: &Shares<'_>,
    election: &Election,
    ties: &TieBreaking,
    selected: Vec<usize>,
) -> Result<(Vec<usize>, Comparison), TallyError> {
    let greedy = super::Greedy.tally(election, ties)?;
    let sup = shares.supporters();
    let count = |selected: &[usize]| {
        let mut funded = vec![0_u64; sup.num_groups()];
        for &p in selected {
            for (g, _) in sup.of(p) {
                funded[g] += 1;
            }
        }
        funded
    };
    let (m, g) = (count(&selected), count(&greedy.selected));
    let mut comparison = Comparison {
        prefer_equal_shares: 0,
        prefer_greedy: 0,
        greedy_taken: false,
    };
    for (k, w) in sup.weights().iter().enumerate() {
        match m[k].cmp(&g[k]) {
            Ordering::Greater => comparison.prefer_equal_shares += w,
            Ordering::Less => comparison.prefer_greedy += w,
            Ordering::Equal => {}
        }
    }
    comparison.greedy_taken = comparison.prefer_greedy > comparison.prefer_equal_shares;
    Ok(if comparison.greedy_taken {
        (greedy.selected, comparison)
    } else {
        (selected, comparison)
    })
}

/// Whether `selected` (costing at most `budget`) is exhaustive: no project
/// left out would still fit.
pub(crate) fn exhaustive(e: &Election, selected: &[usize], budget: u128) -> bool {
    let spent: u128 = selected
        .iter()
        .filter_map(|&p| e.candidates().get(p))
        .map(|c| u128::from(c.cost))
        .sum();
    let left = budget.saturating_sub(spent);
    let mut funded = vec![false; e.candidates().len()];
    for &p in selected {
        if let Some(f) = funded.get_mut(p) {
            *f = true;
        }
    }
    e.candidates()
        .iter()
        .zip(&funded)
        .all(|(c, &f)| f || u128::from(c.cost) > left)
}

/// What a project gives each of its supporters under equal shares: the
/// measure the method equalises. Approval ballots carry no utilities of their
/// own; points and rankings do.
///
/// * `Cost` (the default; equalshares.net's choice for approval ballots): an
///   approved project is worth its cost to each supporter, so supporters split
///   its cost equally. Points and Borda points are kept as they are.
/// * `Cardinality`: every supported project is worth 1 to each supporter,
///   whatever its cost and whatever points it was given (Peters, Pierczyński
///   & Skowron, *Proportional Participatory Budgeting with Additive Utilities*,
///   NeurIPS 2021; pabutools' `Cardinality_Sat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Utility {
    /// Cost utilities (approval), the ballot's points otherwise.
    #[default]
    Cost,
    /// One per supported project.
    Cardinality,
}

impl fmt::Display for Utility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Utility::Cost => "cost",
            Utility::Cardinality => "cardinality",
        })
    }
}

impl FromStr for Utility {
    type Err = TallyError;

    fn from_str(text: &str) -> Result<Utility, TallyError> {
        match text {
            "cost" => Ok(Utility::Cost),
            "cardinality" => Ok(Utility::Cardinality),
            _ => Err(TallyError::UnknownUtility {
                rule: "mes".to_owned(),
                utility: text.to_owned(),
            }),
        }
    }
}

/// How an equal-shares rule completes its outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Completion {
    /// None: [`Mes`].
    #[default]
    None,
    /// Raise the money per voter: [`MesAdd1`].
    Add1,
    /// … stopping at the first exhaustive outcome.
    Add1Exhaustive,
    /// add1, then greedy if more voters prefer it: [`MesAdd1Comparison`].
    Add1Comparison,
    /// Greedy completion: [`MesGreedy`].
    Greedy,
}

/// Any equal-shares rule with any [`Utility`]: `mes:cardinality`,
/// `mes-add1:cardinality`, … With cost utilities it counts exactly as
/// [`Mes`], [`MesAdd1`], [`MesAdd1Comparison`] or [`MesGreedy`].
///
/// ```
/// use medborgarbudget::tally::{Candidate, Completion, Election, EqualShares, Profile, ProfileKind, Tally, TieBreaking, Utility};
///
/// // Two voters with 50 each. Voter 1 wants a (80) or b (20); voter 2 wants b.
/// let mut profile = Profile::builder(ProfileKind::Approval, 2);
/// profile.push_approval(&[0, 1], 1)?;
/// profile.push_approval(&[1], 1)?;
/// let election = Election::new(100, vec![Candidate::new("a", 80), Candidate::new("b", 20)], profile.build())?;
/// let ties = TieBreaking::by_project_id();
/// let by = |utility| EqualShares { completion: Completion::None, utility };
/// // By cost, b's 20 split two ways (ρ = 1/2 of its cost each) beats nothing
/// // else; by cardinality too: b costs 10 a supporter, a cannot be afforded.
/// let cardinality = by(Utility::Cardinality).tally(&election, &ties)?;
/// assert_eq!(cardinality.rule, "mes:cardinality");
/// assert_eq!(cardinality.selected, [1]);
/// # Ok::<(), medborgarbudget::tally::TallyError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EqualShares {
    /// The completion.
    pub completion: Completion,
    /// The utilities.
    pub utility: Utility,
}

impl Tally for EqualShares {
    fn name(&self) -> &str {
        self.name_static()
    }

    fn rule(&self) -> super::Rule {
        super::Rule::from_equal_shares(*self)
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let u = self.utility;
        match self.completion {
            Completion::None => one_run(election, ties, self.name_static(), u, false),
            Completion::Add1 => MesAdd1 {
                exhaustive_stop: false,
            }
            .count(election, ties, u),
            Completion::Add1Exhaustive => MesAdd1 {
                exhaustive_stop: true,
            }
            .count(election, ties, u),
            Completion::Add1Comparison => MesAdd1Comparison.count(election, ties, u),
            Completion::Greedy => one_run(election, ties, self.name_static(), u, true),
        }
    }
}

impl EqualShares {
    /// The rule's name: `mes-add1`, `mes-add1:cardinality`, …
    pub fn name_static(&self) -> &'static str {
        named(self.base(), self.utility)
    }

    /// The rule's name without its utility (`mes-add1`).
    pub fn base(&self) -> &'static str {
        match self.completion {
            Completion::None => MES,
            Completion::Add1 => MES_ADD1,
            Completion::Add1Exhaustive => MES_ADD1_EXHAUSTIVE,
            Completion::Add1Comparison => MES_ADD1_COMPARISON,
            Completion::Greedy => MES_GREEDY,
        }
    }

    /// The equal-shares rule named `base` (`mes`, `mes-add1`, …), if it is one.
    pub fn named(base: &str, utility: Utility) -> Option<EqualShares> {
        let completion = match base {
            MES => Completion::None,
            MES_ADD1 => Completion::Add1,
            MES_ADD1_EXHAUSTIVE => Completion::Add1Exhaustive,
            MES_ADD1_COMPARISON => Completion::Add1Comparison,
            MES_GREEDY => Completion::Greedy,
            _ => return None,
        };
        Some(EqualShares {
            completion,
            utility,
        })
    }
}

/// The name an equal-shares rule `base` has with `utility`: the base for cost
/// utilities, `base:cardinality` otherwise.
fn named(base: &'static str, utility: Utility) -> &'static str {
    match (utility, base) {
        (Utility::Cost, _) => base,
        (Utility::Cardinality, MES_ADD1) => "mes-add1:cardinality",
        (Utility::Cardinality, MES_ADD1_EXHAUSTIVE) => "mes-add1-exhaustive:cardinality",
        (Utility::Cardinality, MES_ADD1_COMPARISON) => "mes-add1-comparison:cardinality",
        (Utility::Cardinality, MES_GREEDY) => "mes-greedy:cardinality",
        (Utility::Cardinality, _) => "mes:cardinality",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_pass_split_among_threads_sums_what_one_thread_does() {
        // 79,800 distinct ballots all supporting project 0: past the split.
        let n = 400_u32;
        let mut profile = super::super::Profile::builder(ProfileKind::Approval, n as usize);
        for a in 1..n {
            for b in a + 1..n {
                profile
                    .push_approval(&[0, a, b], 1 + u64::from(a % 3))
                    .unwrap();
            }
        }
        let candidates = (0..n)
            .map(|p| super::super::Candidate::new(format!("{p}"), 1_000 + u64::from(p)))
            .collect();
        let e = Election::new(50_000, candidates, profile.build()).unwrap();
        let ties = TieBreaking::by_project_id();
        let shares = Shares::new(&e, &ties, MES).unwrap();
        // Two threads whatever the machine has.
        shares.threads.set(2).unwrap();
        let groups = shares.supporters.groups_of(0);
        assert!(groups.len() >= PARALLEL_PASS);
        // Money that differs per ballot, some of it below the share.
        let budgets: Vec<f64> = (0..shares.supporters.num_groups())
            .map(|g| (g % 97) as f64 * 0.37)
            .collect();
        let share = 17.5;
        let split = shares.lean_pass(groups, &budgets, &share);
        let one = Lean::over(groups, &budgets, shares.supporters.weights(), None, &share);
        let sparse = Lean::over(
            groups,
            &budgets,
            shares.supporters.weights(),
            Some(shares.supporters.heavy()),
            &share,
        );
        assert_eq!(
            (sparse.poor, sparse.poor_voters, sparse.supporters),
            (one.poor, one.poor_voters, one.supporters)
        );
        assert_eq!(
            (sparse.money, sparse.poor_money),
            (one.money, one.poor_money)
        );
        assert_eq!(
            (split.poor, split.poor_voters, split.supporters),
            (one.poor, one.poor_voters, one.supporters)
        );
        assert!(one.poor > 0 && one.poor < groups.len());
        for (a, b) in [(split.money, one.money), (split.poor_money, one.poor_money)] {
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
        }
    }
    use crate::tally::{Candidate, Profile, ProfileKind};
    use proptest::prelude::*;

    fn approval(costs: &[u64], budget: u64, ballots: &[&[u32]]) -> Election {
        let candidates = costs
            .iter()
            .enumerate()
            .map(|(i, &c)| Candidate::new(format!("{}", (b'A' + i as u8) as char), c))
            .collect::<Vec<_>>();
        let mut b = Profile::builder(ProfileKind::Approval, candidates.len());
        for ballot in ballots {
            b.push_approval(ballot, 1).unwrap();
        }
        Election::new(budget, candidates, b.build()).unwrap()
    }

    #[test]
    fn supporters_split_costs_equally() {
        // Four voters with 25 each. A (60) by 1–3: 20 each, ρ = 1/3. B (40) by 3–4:
        // 20 each, ρ = 1/2. C (30) by 4 alone: unaffordable. After A, voter 3 has 5
        // left and B is unaffordable too.
        let e = approval(&[60, 40, 30], 100, &[&[0], &[0], &[0, 1], &[1, 2]]);
        let o = Mes.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected, vec![0]);
        assert_eq!(o.details.per_voter_budget, Some(Fraction::new(25, 1)));
        assert!(!o.details.exact_arithmetic);
        // Completion by greedy adds B (2 votes) then C does not fit.
        let g = MesGreedy.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(g.selected, vec![0, 1]);
    }

    #[test]
    fn exact_ties_go_by_the_chain_without_exact_arithmetic() {
        // Two projects with the same cost and two supporters each: ρ ties
        // exactly, at 1/2, which the float run knows exactly (no supporter's
        // money caps it).
        let e = approval(&[50, 50], 100, &[&[0], &[0], &[1], &[1]]);
        let by_id = Mes.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(by_id.selected, vec![0, 1]);
        assert!(!by_id.details.exact_arithmetic);
        let reversed = Mes
            .tally(
                &e,
                &TieBreaking::new(vec![crate::tally::TieBreak::Explicit(vec!["B".into()])])
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(reversed.selected, vec![1, 0]);
        assert!(matches!(
            Mes.tally(&e, &TieBreaking::refuse()),
            Err(TallyError::Tie { .. })
        ));
    }

    #[test]
    fn add1_raises_money_until_the_budget_would_break() {
        // Budget 10, 2 voters: 5 each. A (6) by both: 3 each → funded; B (6) by
        // voter 1 only: unaffordable with 2 left. With 8 each, A then B (voter 1
        // pays 6 of its 5 left? no: 8 − 3 = 5 < 6) … with 9 each: 9 − 3 = 6 ≥ 6,
        // B funded, cost 12 > 10: the last run within budget is kept.
        let e = approval(&[6, 6], 10, &[&[0, 1], &[0]]);
        let o = MesAdd1::default()
            .tally(&e, &TieBreaking::by_project_id())
            .unwrap();
        assert_eq!(o.selected, vec![0]);
        assert_eq!(o.details.per_voter_budget, Some(Fraction::new(8, 1)));
        // Stepping runs with 5, 6, 7, 8, 9 each; jumping only where the outcome
        // can change (9, where voter 1 can pay B), and where a float horizon
        // stops short of it.
        let ties = TieBreaking::by_project_id();
        let shares = Shares::new(&e, &ties, MES_ADD1).unwrap();
        assert_eq!(add1_stepping(&shares, false).unwrap().runs, 5);
        assert!(o.details.add1_runs.is_some_and(|runs| runs < 5));
        // Exhaustive stop: with 5 each, B (6) does not fit in the 4 left: stop.
        let x = MesAdd1 {
            exhaustive_stop: true,
        }
        .tally(&e, &TieBreaking::by_project_id())
        .unwrap();
        assert_eq!(x.details.add1_runs, Some(1));
    }

    /// Plain runs stepped two at a time give what stepping one at a time
    /// gives: the same runs up to the first that ends the count, the same steps
    /// charged, and under every step limit the same error at the same run.
    #[test]
    fn stepping_two_at_a_time_is_stepping_one_at_a_time() {
        let e = approval(
            &[30, 45, 60, 90, 120],
            200,
            &[&[0, 1], &[1, 2], &[2, 3], &[3, 4], &[0, 4]],
        );
        let ties = TieBreaking::by_project_id();
        let ends = |run: &MesRun| run.total_cost > 150;
        let step = |limit: Option<u64>, threads: usize| {
            let e = limit.map_or_else(|| e.clone(), |l| e.clone().with_step_limit(l));
            let shares = Shares::new(&e, &ties, MES_ADD1).unwrap();
            shares.threads.set(threads).unwrap();
            let runs: Vec<_> = shares
                .step_units(1, 1, 60, &ends)
                .into_iter()
                .map(|r| {
                    r.map(|r| (r.selected, r.total_cost))
                        .map_err(|e| e.to_string())
                })
                .collect();
            (runs, shares.steps.used())
        };
        let (all, used) = step(None, 1);
        assert!(
            all.len() > 2 * PARALLEL_STEPS as usize && all.len() < 60,
            "{all:?}"
        );
        assert!(all.iter().all(Result::is_ok));
        assert!(
            all.last()
                .is_some_and(|r| r.as_ref().is_ok_and(|r| r.1 > 150))
        );
        assert_eq!(step(None, 2), (all.clone(), used));
        for limit in 0..=used {
            let (one, one_used) = step(Some(limit), 1);
            let (two, two_used) = step(Some(limit), 2);
            assert_eq!(one, two, "limit {limit}");
            if limit < used {
                assert!(one.last().is_some_and(Result::is_err), "limit {limit}");
            } else {
                assert_eq!((&one, one_used, two_used), (&all, used, used));
            }
        }
    }

    /// The work stepping may do per shared election in the test below (about a
    /// second); `MEDBORGARBUDGET_ADD1_STEPS` raises it for a thorough run.
    fn stepping_limit() -> u64 {
        std::env::var("MEDBORGARBUDGET_ADD1_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3_000_000)
    }

    /// add1 by jumping against stepping on every shared election where
    /// stepping ends within its step limit: the same projects in the same order
    /// and the same final money per voter, for both stops.
    #[test]
    fn add1_jumps_to_what_stepping_gives_on_the_shared_elections() {
        let dir = std::env::var_os("MEDBORGARBUDGET_PABULIB").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"),
            std::path::PathBuf::from,
        );
        let Ok(entries) = std::fs::read_dir(dir.join("files")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {} is missing",
                dir.display()
            );
            println!("skipped: no pabulib data at {}", dir.display());
            return;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pb"))
            .collect();
        files.sort();
        let checked = std::sync::atomic::AtomicUsize::new(0);
        let skipped = std::sync::atomic::AtomicUsize::new(0);
        let (jumping_runs, stepping_runs) = (
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
        );
        let check = |path: &std::path::PathBuf| {
            let Ok(file) = crate::pabulib::read_file(path) else {
                return;
            };
            let Ok(election) = file.election() else {
                return;
            };
            let ties = TieBreaking::by_project_id();
            let limited = election.clone().with_step_limit(stepping_limit());
            for stop in [false, true] {
                let slow =
                    Shares::new(&limited, &ties, MES_ADD1).and_then(|s| add1_stepping(&s, stop));
                let slow = match slow {
                    Err(TallyError::StepLimit { .. }) => {
                        skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    other => other,
                };
                let fast = Shares::new(&election, &ties, MES_ADD1).and_then(|s| add1(&s, stop));
                match (&fast, &slow) {
                    (Ok(f), Ok(s)) => {
                        assert_eq!(
                            (&f.run.selected, f.per_voter),
                            (&s.run.selected, s.per_voter),
                            "{} (exhaustive stop: {stop})",
                            path.display()
                        );
                        jumping_runs
                            .fetch_add(u64::from(f.runs), std::sync::atomic::Ordering::Relaxed);
                        stepping_runs
                            .fetch_add(u64::from(s.runs), std::sync::atomic::Ordering::Relaxed);
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "{}", path.display())
                    }
                    _ => panic!(
                        "{}: jumping {:?}, stepping {:?}",
                        path.display(),
                        fast.map(|f| f.per_voter),
                        slow.map(|s| s.per_voter)
                    ),
                }
                checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    while let Some(path) =
                        files.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    {
                        check(path);
                    }
                });
            }
        });
        let checked = checked.into_inner();
        assert!(checked > 0, "no shared election was checked");
        println!(
            "add1: {} (election, stop) pairs agree; {} skipped at the step limit; {} runs jumping, {} stepping",
            checked,
            skipped.into_inner(),
            jumping_runs.into_inner(),
            stepping_runs.into_inner()
        );
    }

    #[test]
    fn add1_jumps_where_stepping_would_take_forever() {
        // One voter with 10, a project of 10¹²: stepping would raise the voter's
        // money unit by unit to 10¹² (finite, but never in practice); jumping
        // goes straight there, where the project becomes affordable and the
        // outcome overspends.
        let e = approval(&[1_000_000_000_000, 5], 10, &[&[0], &[1]]);
        let limited = e.clone().with_step_limit(100_000);
        let o = MesAdd1::default()
            .tally(&limited, &TieBreaking::by_project_id())
            .unwrap();
        assert_eq!(o.selected, vec![1]);
        assert!(o.details.add1_runs.is_some_and(|runs| runs < 10));
        assert_eq!(
            o.details.per_voter_budget,
            Some(Fraction::new(999_999_999_999, 1))
        );
        let ties = TieBreaking::by_project_id();
        let shares = Shares::new(&limited, &ties, MES_ADD1).unwrap();
        assert!(matches!(
            add1_stepping(&shares, false),
            Err(TallyError::StepLimit { limit: 100_000, .. })
        ));
        // The bound in the docs: at most C − ⌊B/n⌋ + 1 runs, here 9 + 6 − 5 + 1.
        let e = approval(&[9, 6], 10, &[&[0], &[1]]);
        let o = MesAdd1::default()
            .tally(&e, &TieBreaking::by_project_id())
            .unwrap();
        assert!(o.details.add1_runs.unwrap() <= 9 + 6 - 5 + 1);
    }

    #[test]
    fn cardinal_utilities_use_points() {
        let candidates = vec![Candidate::new("a", 60), Candidate::new("b", 60)];
        let mut b = Profile::builder(ProfileKind::Points, 2);
        b.push_points(&[(0, 1), (1, 9)], 1).unwrap();
        b.push_points(&[(0, 5), (1, 5)], 1).unwrap();
        let e = Election::new(100, candidates, b.build()).unwrap();
        // ρ(a) = 60/6 = 10 per point, ρ(b) = 60/14: b first.
        let o = Mes.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected.first(), Some(&1));
    }

    prop_compose! {
        fn small_election()(
            costs in prop::collection::vec(1u64..60, 2..7),
            budget in 20u64..200,
            ballots in prop::collection::vec(prop::collection::btree_set(0u32..7, 0..5), 1..12),
        ) -> Election {
            let n = costs.len() as u32;
            let ballots: Vec<Vec<u32>> = ballots.into_iter().map(|b| b.into_iter().filter(|p| *p < n).collect()).collect();
            let refs: Vec<&[u32]> = ballots.iter().map(Vec::as_slice).collect();
            approval(&costs, budget, &refs)
        }
    }

    /// Equal shares the plain way, as a reference: exact rationals, every
    /// project priced from scratch every round by trying each number of
    /// supporters who pay all they have (sorted by money per utility), the
    /// smallest ρ funded, ties by `rank` (lower first) or a tie when the ranks
    /// are equal too. `None` for such a tie.
    fn reference(e: &Election, per_voter: BigRational, rank: &[u32]) -> Option<Vec<usize>> {
        reference_by(e, per_voter, rank, Utility::Cost)
    }

    /// [`reference`] with `utility`: by cardinality, every supported project
    /// is worth 1 to its supporters.
    fn reference_by(
        e: &Election,
        per_voter: BigRational,
        rank: &[u32],
        utility: Utility,
    ) -> Option<Vec<usize>> {
        use num_traits::Zero as _;
        let zero = || BigRational::from_u64(0);
        let cardinality = utility == Utility::Cardinality;
        let cost_utility = e.profile().kind() == ProfileKind::Approval && !cardinality;
        let ballots: Vec<_> = e.profile().iter().collect();
        let mut budgets = vec![per_voter; ballots.len()];
        let mut funded = vec![false; e.candidates().len()];
        let mut out = Vec::new();
        let supporters = |p: usize| -> Vec<(usize, BigRational, u64)> {
            ballots
                .iter()
                .enumerate()
                .filter_map(|(g, b)| {
                    let k = b.projects.iter().position(|&q| q as usize == p)?;
                    let points = b.points.get(k).map_or(1, |&v| u64::from(v));
                    let u = if cost_utility {
                        e.candidates()[p].cost.max(1)
                    } else if cardinality {
                        u64::from(points > 0)
                    } else {
                        points
                    };
                    (u > 0).then(|| (g, BigRational::from_u64(u), b.count))
                })
                .collect()
        };
        loop {
            let mut best: Option<(BigRational, usize)> = None;
            let mut tie = false;
            for (p, &done) in funded.iter().enumerate() {
                if done {
                    continue;
                }
                let cost = BigRational::from_u64(e.candidates()[p].cost);
                let mut s = supporters(p);
                if s.is_empty() {
                    continue;
                }
                let money: BigRational = s
                    .iter()
                    .map(|(g, _, w)| budgets[*g].clone() * BigRational::from_u64(*w))
                    .fold(zero(), |a, b| a + b);
                if money < cost {
                    continue;
                }
                s.sort_by(|a, b| (budgets[a.0].clone() / &a.1).cmp(&(budgets[b.0].clone() / &b.1)));
                let mut rho = None;
                for j in 0..=s.len() {
                    let paid: BigRational = s[..j]
                        .iter()
                        .map(|(g, _, w)| budgets[*g].clone() * BigRational::from_u64(*w))
                        .fold(zero(), |a, b| a + b);
                    let rest: BigRational = s[j..]
                        .iter()
                        .map(|(_, u, w)| u.clone() * BigRational::from_u64(*w))
                        .fold(zero(), |a, b| a + b);
                    if rest.is_zero() {
                        rho = s.last().map(|(g, u, _)| budgets[*g].clone() / u);
                        break;
                    }
                    let r = (cost.clone() - paid) / rest;
                    let below = j == 0 || budgets[s[j - 1].0].clone() / &s[j - 1].1 <= r;
                    let above = budgets[s[j].0].clone() / &s[j].1 >= r;
                    if below && above {
                        rho = Some(r);
                        break;
                    }
                }
                let rho = if cost.is_zero() { zero() } else { rho? };
                super::super::keep_least(&mut best, &mut tie, rho, p, rank);
            }
            let Some((rho, winner)) = best else {
                return Some(out);
            };
            if tie {
                return None;
            }
            for (g, u, _) in supporters(winner) {
                let due = rho.clone() * u;
                let pay = if budgets[g] < due {
                    budgets[g].clone()
                } else {
                    due
                };
                budgets[g] = budgets[g].clone() - pay;
            }
            funded[winner] = true;
            out.push(winner);
        }
    }

    prop_compose! {
        /// Small elections with few distinct costs and voters, so that twins,
        /// exact ties and voters at the fixed point are common.
        fn awkward_election()(
            costs in prop::collection::vec(prop::sample::select(vec![1u64, 2, 3, 6, 12, 30]), 2..8),
            budget in prop::sample::select(vec![7u64, 12, 30, 60, 61, 100]),
            points in any::<bool>(),
            ballots in prop::collection::vec(prop::collection::btree_map(0u32..8, 1u32..4, 0..6), 1..10),
        ) -> Election {
            let n = costs.len();
            let candidates = costs
                .iter()
                .enumerate()
                .map(|(i, &c)| Candidate::new(format!("p{i}"), c))
                .collect::<Vec<_>>();
            let kind = if points { ProfileKind::Points } else { ProfileKind::Approval };
            let mut b = Profile::builder(kind, n);
            for ballot in ballots {
                let entries: Vec<(u32, u32)> = ballot.into_iter().filter(|(p, _)| (*p as usize) < n).collect();
                if points {
                    b.push_points(&entries, 1).unwrap();
                } else {
                    let approved: Vec<u32> = entries.iter().map(|e| e.0).collect();
                    b.push_approval(&approved, 1).unwrap();
                }
            }
            Election::new(budget, candidates, b.build()).unwrap()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whenever the float run decides, exact arithmetic decides the same.
        #[test]
        fn float_decisions_equal_exact_ones(e in small_election(), per_voter in 1u64..40) {
            let ties = TieBreaking::by_project_id();
            let shares = Shares::new(&e, &ties, MES).unwrap();
            let exact = shares.run_with::<BigRational>(per_voter, 1, None, &mut None).unwrap().unwrap();
            if let Ok(float) = shares.run_with::<f64>(per_voter, 1, None, &mut None) {
                prop_assert_eq!(float.unwrap(), exact);
            }
            let n = e.profile().num_voters();
            let exact = shares.run_with::<BigRational>(e.budget(), n, None, &mut None).unwrap().unwrap();
            prop_assert_eq!(shares.run(e.budget(), n).unwrap().selected, exact);
        }

        /// With cardinality utilities too, approval and points ballots.
        #[test]
        fn cardinality_outcomes_equal_the_plain_definition(e in awkward_election(), per_voter in 1u64..25, chain in prop::sample::select(vec!["id", "min-cost", "refuse"])) {
            let ties: TieBreaking = chain.parse().unwrap();
            let shares = Shares::with_utility(&e, &ties, "mes:cardinality", Utility::Cardinality).unwrap();
            let expected = reference_by(&e, BigRational::from_u64(per_voter), &shares.ranks, Utility::Cardinality);
            match (shares.run(per_voter, 1), expected) {
                (Ok(run), Some(expected)) => prop_assert_eq!(run.selected, expected),
                (Err(TallyError::Tie { .. }), None) => {}
                (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got.map(|r| r.selected), expected),
            }
        }

        /// The queue, the twins and the fixed point give what pricing every
        /// project from scratch gives, ties included.
        #[test]
        fn outcomes_equal_the_plain_definition(e in awkward_election(), per_voter in 1u64..25, chain in prop::sample::select(vec!["id", "min-cost", "refuse"])) {
            let ties: TieBreaking = chain.parse().unwrap();
            let shares = Shares::new(&e, &ties, MES).unwrap();
            let expected = reference(&e, BigRational::from_u64(per_voter), &shares.ranks);
            match (shares.run(per_voter, 1), expected) {
                (Ok(run), Some(expected)) => prop_assert_eq!(run.selected, expected),
                (Err(TallyError::Tie { .. }), None) => {}
                (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got.map(|r| r.selected), expected),
            }
        }

        /// add1 by jumping gives what stepping one unit at a time gives: the same
        /// projects in the same order, the same final money per voter, or the
        /// same error, with both stops, on elections with awkward budgets and
        /// costs in the hundreds (many units between changes).
        #[test]
        fn add1_jumps_to_what_stepping_gives(
            e in awkward_election(),
            scale in prop::sample::select(vec![1u64, 7, 100]),
            extra in 0u64..50,
            chain in prop::sample::select(vec!["id", "min-cost", "refuse"]),
        ) {
            let candidates: Vec<Candidate> = e
                .candidates()
                .iter()
                .map(|c| Candidate::new(c.label.clone(), c.cost * scale))
                .collect();
            let e = Election::new(e.budget() * scale + extra, candidates, e.profile().clone()).unwrap();
            let ties: TieBreaking = chain.parse().unwrap();
            let shares = Shares::new(&e, &ties, MES_ADD1).unwrap();
            for stop in [false, true] {
                let fast = add1(&shares, stop).map(|a| (a.run.selected, a.per_voter));
                let slow = add1_stepping(&shares, stop).map(|a| (a.run.selected, a.per_voter));
                match (&fast, &slow) {
                    (Ok(f), Ok(s)) => prop_assert_eq!(f, s),
                    (Err(TallyError::Tie { .. }), Err(TallyError::Tie { .. })) => {}
                    _ => prop_assert!(false, "stop {}: jumping {:?}, stepping {:?}", stop, fast, slow),
                }
            }
        }

        /// The fixed-point search for ρ and the sorted scan agree exactly, and
        /// in floats up to rounding; where the float search claims to know ρ
        /// exactly, it is exactly right.
        #[test]
        fn both_ways_to_price_a_project_agree(e in awkward_election(), paid in prop::collection::vec(0u64..20, 10), per_voter in 5u64..40) {
            let ties = TieBreaking::by_project_id();
            let shares = Shares::new(&e, &ties, MES).unwrap();
            let budgets: Vec<BigRational> = (0..shares.supporters.num_groups())
                .map(|g| BigRational::from_u64(per_voter.saturating_sub(paid[g % paid.len()])))
                .collect();
            let floats: Vec<f64> = budgets.iter().map(|b| num_traits::ToPrimitive::to_f64(b).unwrap()).collect();
            for p in 0..e.candidates().len() {
                let start = Start::new(per_voter, 1);
                let scale = BigRational::from_u64(per_voter);
                let Some(Rho { rho, .. }) = shares.rho::<BigRational>(p, &budgets, &[], &start, &[], None).unwrap() else { continue };
                let cost = BigRational::from_u64(e.candidates()[p].cost);
                if e.candidates()[p].cost == 0 { continue; }
                let utility = shares.supporters.of(p).fold(BigRational::from_u64(0), |a, (g, u)| {
                    a + BigRational::from_u64(shares.utility(p, u) * shares.supporters.weights()[g])
                });
                prop_assert_eq!(&shares.rho_sorted(p, &budgets, &cost, &utility).unwrap(), &rho);
                // Any price at or below ρ starts the search as well: ρ itself,
                // half of it, and ρ where everyone holds one unit more.
                let richer: Vec<BigRational> = budgets.iter().map(|b| b + BigRational::from_u64(1)).collect();
                let more = Start::new(per_voter + 1, 1);
                let below = shares.rho::<BigRational>(p, &richer, &[], &more, &[], None).unwrap().map(|r| r.rho);
                for floor in [Some(rho.clone()), Some(&rho / BigRational::from_u64(2)), below] {
                    let from = shares.rho::<BigRational>(p, &budgets, &[], &start, &[], floor.as_ref()).unwrap().map(|r| r.rho);
                    prop_assert_eq!(from.as_ref(), Some(&rho), "floor {:?}", floor);
                }
                // What a run would know: who still holds the starting money,
                // who holds nothing.
                let held: Vec<Held> = budgets.iter().map(|b| match b {
                    b if *b == scale => Held::Start,
                    b if num_traits::Zero::is_zero(b) => Held::Nothing,
                    _ => Held::Unknown,
                }).collect();
                if let Ok(Some(Rho { rho: f, exact: known, .. })) = shares.rho_search::<f64>(p, &floats, &held, &Start::new(per_voter, 1), (true, None), false) {
                    let exact = num_traits::ToPrimitive::to_f64(&rho).unwrap();
                    prop_assert!((f - exact).abs() <= 1e-9 * exact.max(1.0), "{} vs {}", f, exact);
                    // Where the float run claims to know ρ exactly, it does.
                    if let Some(known) = known {
                        let (num, den) = known.parts();
                        prop_assert_eq!(&BigRational::new(num.into(), den.into()), &rho);
                    }
                }
            }
        }
    }

    /// Budgets in which ρ's fixed point sits exactly on a voter's money per
    /// utility; the search must end there (it used to alternate forever).
    #[test]
    fn pricing_ends_when_a_voter_sits_on_the_fixed_point() {
        // The 13-voter cumulative election from the Mechanical Turk data that
        // looped forever (issue 9).
        let text = include_str!("../../tests/data/mes_loop.pb");
        let file = crate::pabulib::parse(text.as_bytes()).unwrap();
        let e = file.election().unwrap();
        let ties = TieBreaking::by_project_id();
        let o = Mes.tally(&e, &ties).unwrap();
        let shares = Shares::new(&e, &ties, MES).unwrap();
        let n = e.profile().num_voters();
        let expected = reference(
            &e,
            BigRational::new(e.budget().into(), n.into()),
            &shares.ranks,
        )
        .unwrap();
        assert_eq!(o.selected, expected);
        // The fallback: budgets 1, 2, …, 100 and a cost of 5,049 take seven
        // passes (each adds a few voters who cannot pay), one more than the
        // search makes before sorting; ρ is 99.
        let k = 100_u32;
        let mut candidates = vec![Candidate::new("big", 5_049)];
        candidates.extend((0..k).map(|i| Candidate::new(format!("own{i}"), 1)));
        let mut b = Profile::builder(ProfileKind::Points, candidates.len());
        for i in 0..k {
            b.push_points(&[(0, 1), (i + 1, 1)], 1).unwrap();
        }
        let e = Election::new(10_000, candidates, b.build()).unwrap();
        let shares = Shares::new(&e, &ties, MES).unwrap();
        let budgets: Vec<BigRational> = (1..=u64::from(k)).map(BigRational::from_u64).collect();
        let start = Start::new(u64::from(k), 1);
        let Some(Rho { rho, .. }) = shares
            .rho::<BigRational>(0, &budgets, &[], &start, &[], None)
            .unwrap()
        else {
            panic!("affordable");
        };
        assert_eq!(rho, BigRational::from_u64(99));
        let passes = (FIXED_POINT_PASSES as u64 + 1) * u64::from(k);
        assert!(shares.steps.used() > passes, "the sorted scan ran");
        let floats: Vec<f64> = (1..=k).map(f64::from).collect();
        let Some(Rho { rho, .. }) = shares
            .rho::<f64>(0, &floats, &[], &Start::new(u64::from(k), 1), &[], None)
            .unwrap()
        else {
            panic!("affordable");
        };
        assert!((rho - 99.0).abs() < 1e-9);
    }

    #[test]
    fn symmetric_elections_take_linear_work() {
        // Three thousand projects costing 1: one voter approving all, and one
        // voter per project. Every ρ ties; the exact run used to price every
        // project in every round (20 s). A step limit proportional to the input
        // proves the work is near-linear now.
        let n = 3_000_u32;
        let all: Vec<u32> = (0..n).collect();
        let candidates: Vec<Candidate> =
            (0..n).map(|i| Candidate::new(format!("{i}"), 1)).collect();
        let mut one = Profile::builder(ProfileKind::Approval, n as usize);
        one.push_approval(&all, 1).unwrap();
        let mut each = Profile::builder(ProfileKind::Approval, n as usize);
        for i in 0..n {
            each.push_approval(&[i], 1).unwrap();
        }
        for profile in [one.build(), each.build()] {
            let e = Election::new(u64::from(n), candidates.clone(), profile)
                .unwrap()
                .with_step_limit(200 * u64::from(n));
            let o = Mes.tally(&e, &TieBreaking::by_project_id()).unwrap();
            assert_eq!(o.selected.len(), n as usize);
            assert_eq!(o.total_cost, u64::from(n));
        }
    }
}
