//! Equal shares where voters start with different money: the count of a
//! cycle whose budget parts are counted together
//! ([`crate::part::PartCounting::Together`]).
//!
//! equalshares.net ("City districts") describes one election of equal shares
//! over every district's projects, corrected for turnout: first decide each
//! district's share of the money, then divide it equally among the voters of
//! that district. Here every voter belongs to one *class* (in a cycle: the
//! voters whose homes give them the same parts), and each voter of a class
//! starts with the class's money. The method is otherwise the one
//! [`super::Mes`] documents: for every project its supporters can still
//! afford, the least ρ at which each supporter paying `min(own money,
//! ρ · utility)` covers the cost; the project of least ρ is funded (ties by the
//! chain) and its supporters pay. With the same money for every voter it is
//! [`super::Mes`].
//!
//! Completions follow the equal-shares rule the cycle counts by: greedy as
//! [`super::MesGreedy`]; add1 raises every voter's money in proportion to what
//! they started with, by one unit (of [`super::Election::unit`]) for the
//! average voter per run, and keeps the last outcome within the budget; the
//! comparison step is [`super::MesAdd1Comparison`]'s. add1 does not step unit
//! by unit: a run in numbers affine in the step ([`super::affine`]) tells the
//! next step at which the outcome can differ, and the runs in between are
//! skipped, as [`super::MesAdd1`] does.
//!
//! The arithmetic is exact rationals throughout (a district's count, not a
//! city's; dividing parts' money among their voters makes near-ties common).

use std::cmp::Ordering;

use num_rational::BigRational;
use num_traits::Zero;

use super::affine::{Affine, Horizon};
use super::arith::{Halt, Num, Steps};
use super::mes::{Shares, compare_with_greedy, out_of_steps};
use super::{
    Completion, Election, EqualShares, Outcome, OutcomeDetails, ProfileKind, TallyError,
    TieBreaking, Utility,
};

/// Voters who start with the same money: their ballots, over the same
/// candidates as the whole election, and what each of them starts with.
#[derive(Debug)]
pub(crate) struct Class {
    /// The class's voters, one ballot each.
    pub(crate) election: Election,
    /// The money each of them starts with, in minor units.
    pub(crate) money: BigRational,
}

/// Counts `whole` (every voter's ballot, the candidates and the budget) by
/// equal shares `rule`, each voter starting with their class's money.
///
/// # Errors
/// A tie the chain leaves, the election's step limit, or an election that
/// cannot be read.
pub(crate) fn count(
    whole: &Election,
    classes: &[Class],
    rule: EqualShares,
    ties: &TieBreaking,
) -> Result<Outcome, TallyError> {
    let name = rule.name_static();
    let shares = Shares::with_utility(whole, ties, name, rule.utility)?;
    let count = Endowed::new(whole, classes, rule.utility, ties, name)?;
    let details = |runs: Option<u32>| OutcomeDetails {
        add1_runs: runs,
        exact_arithmetic: true,
        ..OutcomeDetails::default()
    };
    let start = count.start.clone();
    let (selected, details) = match rule.completion {
        Completion::None => (count.run(start)?, details(None)),
        Completion::Greedy => {
            let mut selected = count.run(start)?;
            shares.greedy_fill(&mut selected);
            (selected, details(None))
        }
        Completion::Add1 | Completion::Add1Exhaustive => {
            let (selected, runs) = count.add1(rule.completion == Completion::Add1Exhaustive)?;
            (selected, details(Some(runs)))
        }
        Completion::Add1Comparison => {
            let (selected, runs) = count.add1(false)?;
            let (selected, comparison) = compare_with_greedy(&shares, whole, ties, selected)?;
            (
                selected,
                OutcomeDetails {
                    comparison: Some(comparison),
                    ..details(Some(runs))
                },
            )
        }
    };
    Ok(shares.outcome(name, selected, details))
}

/// One count's context: the voters grouped (one group: identical ballots of
/// one class), and what every run shares.
struct Endowed<'e> {
    whole: &'e Election,
    /// Per group: the money one of its voters starts with.
    start: Vec<BigRational>,
    /// Per group: how many voters.
    weights: Vec<u64>,
    /// Per project: its supporting groups, each with the utility it gets.
    supporters: Vec<Vec<(usize, u64)>>,
    costs: Vec<u64>,
    ranks: Vec<u32>,
    ties: &'e TieBreaking,
    steps: Steps,
    rule: &'static str,
}

impl<'e> Endowed<'e> {
    fn new(
        whole: &'e Election,
        classes: &[Class],
        utility: Utility,
        ties: &'e TieBreaking,
        rule: &'static str,
    ) -> Result<Endowed<'e>, TallyError> {
        let candidates = whole.candidates();
        let costs: Vec<u64> = candidates.iter().map(|c| c.cost).collect();
        let kind = whole.profile().kind();
        let cost_utility = kind == ProfileKind::Approval && utility == Utility::Cost;
        let mut supporters: Vec<Vec<(usize, u64)>> = vec![Vec::new(); costs.len()];
        let (mut start, mut weights) = (Vec::new(), Vec::new());
        for class in classes {
            let own = class.election.supporters()?;
            let unit;
            let groups = if utility == Utility::Cardinality && kind != ProfileKind::Approval {
                unit = own.unit();
                &unit
            } else {
                own
            };
            let offset = start.len();
            // Every class's election has the whole election's candidates.
            let projects = class.election.candidates().len().min(costs.len());
            for (p, list) in supporters.iter_mut().enumerate().take(projects) {
                for (g, u) in groups.of(p) {
                    let u = if cost_utility { costs[p].max(1) } else { u };
                    if u > 0 {
                        list.push((offset + g, u));
                    }
                }
            }
            start.extend(std::iter::repeat_n(
                class.money.clone(),
                groups.num_groups(),
            ));
            weights.extend_from_slice(groups.weights());
        }
        Ok(Endowed {
            whole,
            start,
            weights,
            supporters,
            ranks: ties.ranks(whole, &whole.profile().support()?),
            costs,
            ties,
            steps: Steps::new(whole.step_limit()),
            rule,
        })
    }

    fn halted(&self, halt: Halt) -> TallyError {
        match halt {
            Halt::OutOfSteps => out_of_steps(self.rule, &self.steps),
            // Exact comparisons always decide.
            Halt::Undecided => TallyError::Overflow,
        }
    }

    fn decide<N: Num>(&self, a: &N, b: &N) -> Result<Ordering, TallyError> {
        N::decide(a, b).map_err(|_| TallyError::Overflow)
    }

    /// One run of equal shares from `money` (per group): the projects funded,
    /// in order.
    fn run<N: Num>(&self, mut money: Vec<N>) -> Result<Vec<usize>, TallyError> {
        let n = self.costs.len();
        let mut open: Vec<bool> = self.supporters.iter().map(|s| !s.is_empty()).collect();
        // Each project's ρ when last found: money only falls during a run, so
        // ρ only rises, and a project whose last ρ is above the best found
        // this round need not be priced again.
        let mut last: Vec<Option<N>> = vec![None; n];
        let mut selected = Vec::new();
        loop {
            let mut best: Option<(usize, N)> = None;
            let mut tied: Vec<usize> = Vec::new();
            for p in 0..n {
                if !open[p] {
                    continue;
                }
                if let (Some((_, b)), Some(floor)) = (&best, &last[p])
                    && self.decide(b, floor)? == Ordering::Less
                {
                    continue;
                }
                let Some(rho) = self.rho(p, &money)? else {
                    open[p] = false;
                    continue;
                };
                last[p] = Some(rho.clone());
                match &best {
                    None => best = Some((p, rho)),
                    Some((q, b)) => {
                        match self
                            .decide(&rho, b)?
                            .then(self.ranks[p].cmp(&self.ranks[*q]))
                        {
                            Ordering::Less => {
                                best = Some((p, rho));
                                tied.clear();
                            }
                            Ordering::Equal => tied.push(p),
                            Ordering::Greater => {}
                        }
                    }
                }
            }
            let Some((winner, rho)) = best else {
                return Ok(selected);
            };
            if !tied.is_empty() {
                let labels = std::iter::once(winner)
                    .chain(tied)
                    .filter_map(|p| self.whole.candidates().get(p))
                    .map(|c| c.label.clone())
                    .collect();
                return Err(TallyError::Tie {
                    rule: self.rule.to_owned(),
                    projects: labels,
                    tie_breaking: self.ties.clone(),
                });
            }
            for &(g, u) in &self.supporters[winner] {
                let due = rho.mul_u64(u);
                let pay = N::min_value(&money[g], &due);
                money[g] = money[g].sub(&pay);
            }
            open[winner] = false;
            selected.push(winner);
        }
    }

    /// ρ of project `p` with the supporters' `money`: the least price per
    /// unit of utility at which each paying `min(money, ρ · utility)` covers
    /// its cost; `None` when all they have does not.
    fn rho<N: Num>(&self, p: usize, money: &[N]) -> Result<Option<N>, TallyError> {
        let supporters = &self.supporters[p];
        let len = u64::try_from(supporters.len()).unwrap_or(u64::MAX);
        self.steps
            .charge(N::STEP.saturating_mul(len))
            .map_err(|h| self.halted(h))?;
        let cost = N::from_u64(self.costs[p]);
        let weight = |g: usize| self.weights.get(g).copied().unwrap_or(0);
        let total = supporters.iter().fold(N::zero(), |sum, &(g, _)| {
            sum.add(&money[g].mul_u64(weight(g)))
        });
        if self.decide(&total, &cost)? == Ordering::Less {
            return Ok(None);
        }
        if self.costs[p] == 0 {
            return Ok(Some(N::zero()));
        }
        // Supporters by money per unit of utility: those who cannot pay
        // their share at ρ come first.
        let mut by_ratio: Vec<(usize, u64, N)> = supporters
            .iter()
            .map(|&(g, u)| (g, u, money[g].div(&N::from_u64(u))))
            .collect();
        by_ratio.sort_by(|a, b| {
            if N::quiet_less(&a.2, &b.2) {
                Ordering::Less
            } else if N::quiet_less(&b.2, &a.2) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        let mut utility: u128 = supporters
            .iter()
            .map(|&(g, u)| u128::from(u) * u128::from(weight(g)))
            .sum();
        let mut poor = N::zero();
        let mut rho = None;
        for (g, u, ratio) in &by_ratio {
            let price = cost.sub(&poor).div(&N::from_u128(utility));
            if !N::settle_less(ratio, &price) {
                rho = Some(price);
                break;
            }
            poor = poor.add(&money[*g].mul_u64(weight(*g)));
            utility -= u128::from(*u) * u128::from(weight(*g));
            if utility == 0 {
                // Everyone pays all they have: that covers the cost exactly.
                rho = Some(ratio.clone());
                break;
            }
        }
        let Some(rho) = rho else {
            return Ok(None);
        };
        if N::TRACED {
            // Who pays all they have and who pays their share decides ρ's
            // formula: where that could change, the run's decisions end.
            for (_, _, ratio) in &by_ratio {
                N::watch(ratio, &rho);
            }
        }
        Ok(Some(rho))
    }

    /// The cost of `selected`.
    fn cost(&self, selected: &[usize]) -> u128 {
        selected
            .iter()
            .filter_map(|&p| self.costs.get(p))
            .map(|&c| u128::from(c))
            .sum()
    }

    /// add1: the outcome kept and the runs made. Run `k` gives each group
    /// its starting money plus `k · unit · (its money / the average voter's)`;
    /// the last run within the budget is kept, the increases ending as
    /// [`super::MesAdd1`]'s do (over the budget, every supported project
    /// funded, or with `exhaustive_stop` nothing left out that would fit).
    ///
    /// Termination: each run moves `k` up by at least one. Once every voter
    /// with money holds at least the total cost of all projects, every
    /// project such a voter supports is funded whatever was paid before, so
    /// the outcome no longer changes; from there a run either overspends or
    /// records no comparison that could change (every remaining one is
    /// between quantities that no longer cross), and the loop ends. Projects
    /// supported only by voters without money (a class no part with voters
    /// gives money to) are never affordable and never counted as reachable
    /// beyond that. The election's step limit, where set, bounds the work.
    fn add1(&self, exhaustive_stop: bool) -> Result<(Vec<usize>, u32), TallyError> {
        let budget = u128::from(self.whole.budget());
        let voters: u64 = self.weights.iter().sum();
        let total: BigRational = self
            .start
            .iter()
            .zip(&self.weights)
            .fold(<BigRational as Zero>::zero(), |s, (m, &w)| {
                s + m * rational(w)
            });
        if voters == 0 || Zero::is_zero(&total) {
            return Ok((self.run(self.start.clone())?, 1));
        }
        let step = rational(self.whole.unit().max(1)) * rational(voters) / total;
        let slopes: Vec<BigRational> = self.start.iter().map(|m| m * &step).collect();
        let supported = self.supporters.iter().filter(|s| !s.is_empty()).count();
        let ends = |selected: &[usize]| {
            if selected.len() >= supported {
                return true;
            }
            exhaustive_stop && super::mes::exhaustive(self.whole, selected, budget)
        };
        let mut k: u64 = 0;
        let mut runs = 0_u32;
        let mut kept: Option<Vec<usize>> = None;
        loop {
            let money: Vec<Affine<BigRational>> = self
                .start
                .iter()
                .zip(&slopes)
                .map(|(m, s)| Affine::line(m + s * rational(k), s.clone()))
                .collect();
            let horizon = Horizon::start();
            let selected = self.run(money)?;
            let next = horizon.next();
            runs = runs.saturating_add(1);
            if self.cost(&selected) > budget {
                break;
            }
            let end = ends(&selected);
            kept = Some(selected);
            if end {
                break;
            }
            // The next run whose outcome can differ; none: no run will.
            match next {
                Some(t) => k = k.checked_add(t).ok_or(TallyError::Overflow)?,
                None => break,
            }
        }
        match kept {
            Some(selected) => Ok((selected, runs)),
            // The first run spends at most the money the voters hold, which
            // is at most the budget; kept for completeness.
            None => Ok((self.run(self.start.clone())?, runs)),
        }
    }
}

fn rational(v: u64) -> BigRational {
    BigRational::from_integer(v.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, Tally};
    use proptest::prelude::*;

    /// `(ballot, how many voters)` per class, over `costs`.
    type Ballots = Vec<(Vec<(u32, u32)>, u64)>;

    fn election(costs: &[u64], budget: u64, points: bool, ballots: &Ballots) -> Election {
        let kind = if points {
            ProfileKind::Points
        } else {
            ProfileKind::Approval
        };
        let mut profile = Profile::builder(kind, costs.len());
        for (ballot, count) in ballots {
            if points {
                profile.push_points(ballot, *count).unwrap();
            } else {
                let idx: Vec<u32> = ballot.iter().map(|e| e.0).collect();
                profile.push_approval(&idx, *count).unwrap();
            }
        }
        let candidates = costs
            .iter()
            .enumerate()
            .map(|(i, &c)| Candidate::new(format!("p{i}"), c))
            .collect();
        Election::new(budget, candidates, profile.build()).unwrap()
    }

    /// The classes' elections and the whole one (every class's ballots).
    fn classes(
        costs: &[u64],
        budget: u64,
        points: bool,
        by_class: &[(Ballots, BigRational)],
    ) -> (Election, Vec<Class>) {
        let all: Ballots = by_class.iter().flat_map(|(b, _)| b.clone()).collect();
        let whole = election(costs, budget, points, &all);
        let classes = by_class
            .iter()
            .map(|(b, money)| Class {
                election: election(costs, budget, points, b),
                money: money.clone(),
            })
            .collect();
        (whole, classes)
    }

    fn ratio(num: u64, den: u64) -> BigRational {
        BigRational::new(num.into(), den.into())
    }

    /// The definition, voter by voter: the oracle for one run.
    fn reference(
        costs: &[u64],
        points: bool,
        by_class: &[(Ballots, BigRational)],
        ranks: &[u32],
    ) -> Option<Vec<usize>> {
        // One entry per voter: their money and (project, utility) choices.
        let mut voters: Vec<(BigRational, Vec<(usize, u64)>)> = Vec::new();
        for (ballots, money) in by_class {
            for (ballot, count) in ballots {
                let choices: Vec<(usize, u64)> = ballot
                    .iter()
                    .map(|&(p, v)| {
                        let u = if points {
                            u64::from(v)
                        } else {
                            costs[p as usize].max(1)
                        };
                        (p as usize, u)
                    })
                    .filter(|&(_, u)| u > 0)
                    .collect();
                for _ in 0..*count {
                    voters.push((money.clone(), choices.clone()));
                }
            }
        }
        let mut funded = vec![false; costs.len()];
        let mut out = Vec::new();
        loop {
            let mut best: Option<(BigRational, usize)> = None;
            let mut tie = false;
            for p in 0..costs.len() {
                let s: Vec<(usize, BigRational)> = voters
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (_, c))| {
                        c.iter().find(|e| e.0 == p).map(|e| (i, rational(e.1)))
                    })
                    .collect();
                if funded[p] || s.is_empty() {
                    continue;
                }
                let cost = rational(costs[p]);
                let money: BigRational = s
                    .iter()
                    .fold(<BigRational as Zero>::zero(), |a, (i, _)| a + &voters[*i].0);
                if money < cost {
                    continue;
                }
                // The least ρ with Σ min(money, ρ·u) ≥ cost: among the
                // candidates money/u and the equal split of what is left.
                let mut points: Vec<BigRational> =
                    s.iter().map(|(i, u)| &voters[*i].0 / u).collect();
                points.sort();
                let pays = |rho: &BigRational| {
                    s.iter().fold(<BigRational as Zero>::zero(), |a, (i, u)| {
                        let due = rho * u;
                        a + if voters[*i].0 < due {
                            voters[*i].0.clone()
                        } else {
                            due
                        }
                    })
                };
                let mut rho = None;
                for j in 0..=points.len() {
                    let paid: BigRational = s
                        .iter()
                        .filter(|(i, u)| j > 0 && &voters[*i].0 / u <= points[j - 1])
                        .fold(<BigRational as Zero>::zero(), |a, (i, _)| a + &voters[*i].0);
                    let rest: BigRational = s
                        .iter()
                        .filter(|(i, u)| !(j > 0 && &voters[*i].0 / u <= points[j - 1]))
                        .fold(<BigRational as Zero>::zero(), |a, (_, u)| a + u);
                    if Zero::is_zero(&rest) {
                        continue;
                    }
                    let r = (&cost - paid) / rest;
                    if pays(&r) >= cost && rho.as_ref().is_none_or(|x| &r < x) {
                        rho = Some(r);
                    }
                }
                let rho = if costs[p] == 0 {
                    <BigRational as Zero>::zero()
                } else {
                    rho.or_else(|| points.last().cloned())?
                };
                crate::tally::keep_least(&mut best, &mut tie, rho, p, ranks);
            }
            let Some((rho, winner)) = best else {
                return Some(out);
            };
            if tie {
                return None;
            }
            for (money, choices) in &mut voters {
                if let Some(&(_, u)) = choices.iter().find(|e| e.0 == winner) {
                    let due = &rho * rational(u);
                    *money = if *money < due {
                        <BigRational as Zero>::zero()
                    } else {
                        &*money - due
                    };
                }
            }
            funded[winner] = true;
            out.push(winner);
        }
    }

    fn rule(completion: Completion) -> EqualShares {
        EqualShares {
            completion,
            utility: Utility::Cost,
        }
    }

    #[test]
    fn money_divided_by_turnout_lets_a_small_district_fund_its_project() {
        // Two districts of 1 000 each; 10 voters in A, 2 in B. A's voters
        // want a1 and a2 (600 each), B's want b (1 000).
        let costs = [600, 600, 1_000];
        let a: Ballots = vec![(vec![(0, 1), (1, 1)], 10)];
        let b: Ballots = vec![(vec![(2, 1)], 2)];
        let ties = TieBreaking::by_project_id();
        // Equal money (2 000 / 12 each): A's ten voters hold 1 667 and fund
        // a1 and a2; B's two hold 333, and b is out.
        let equal = ratio(2_000, 12);
        let (whole, cls) = classes(
            &costs,
            2_000,
            false,
            &[(a.clone(), equal.clone()), (b.clone(), equal)],
        );
        let plain = count(&whole, &cls, rule(Completion::None), &ties).unwrap();
        assert_eq!(plain.selected, [0, 1]);
        assert_eq!(
            plain.selected,
            crate::tally::Mes.tally(&whole, &ties).unwrap().selected
        );
        // Each district's money divided among its voters: 100 for A's, 500
        // for B's. b is funded by B's voters, and only a1 by A's.
        let (whole, cls) = classes(
            &costs,
            2_000,
            false,
            &[(a, ratio(100, 1)), (b, ratio(500, 1))],
        );
        let weighted = count(&whole, &cls, rule(Completion::None), &ties).unwrap();
        assert_eq!(weighted.selected_labels(&whole), ["p0", "p2"]);
        assert_eq!(weighted.total_cost, 1_600);
        assert!(weighted.details.exact_arithmetic);
    }

    #[test]
    fn a_tie_the_chain_leaves_is_refused_naming_the_projects() {
        let costs = [100, 100];
        let ballots: Ballots = vec![(vec![(0, 1)], 1), (vec![(1, 1)], 1)];
        let (whole, cls) = classes(&costs, 200, false, &[(ballots, ratio(100, 1))]);
        let refuse: TieBreaking = "refuse".parse().unwrap();
        match count(&whole, &cls, rule(Completion::None), &refuse) {
            Err(TallyError::Tie { projects, .. }) => assert_eq!(projects, ["p0", "p1"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_step_limit_ends_the_count() {
        let costs = [100, 100, 100];
        let ballots: Ballots = vec![(vec![(0, 1), (1, 1), (2, 1)], 3)];
        let (whole, cls) = classes(&costs, 300, false, &[(ballots, ratio(100, 1))]);
        let whole = whole.with_step_limit(3);
        assert!(matches!(
            count(
                &whole,
                &cls,
                rule(Completion::Add1),
                &TieBreaking::by_project_id()
            ),
            Err(TallyError::StepLimit { .. })
        ));
    }

    #[test]
    fn add1_ends_when_a_project_is_supported_only_by_voters_without_money() {
        // p1's only supporter starts with nothing, so never gains anything:
        // "every supported project funded" is never reached, and the count
        // must still end.
        let costs = [100, 50];
        let rich: Ballots = vec![(vec![(0, 1)], 2)];
        let poor: Ballots = vec![(vec![(1, 1)], 1)];
        let (whole, cls) = classes(
            &costs,
            1_000,
            false,
            &[(rich, ratio(30, 1)), (poor, ratio(0, 1))],
        );
        let ties = TieBreaking::by_project_id();
        let e = Endowed::new(&whole, &cls, Utility::Cost, &ties, "mes-add1").unwrap();
        let (selected, runs) = e.add1(false).unwrap();
        assert_eq!(selected, [0]);
        assert!(runs <= 3, "{runs} runs");
    }

    prop_compose! {
        /// Small elections of two or three classes with awkward money, so
        /// that ties and voters at the fixed point are common.
        fn classed()(
            costs in prop::collection::vec(prop::sample::select(vec![1u64, 2, 3, 6, 12, 30]), 2..7),
            points in any::<bool>(),
            by_class in prop::collection::vec((
                prop::collection::vec((prop::collection::btree_map(0u32..7, 1u32..4, 0..5), 1u64..3), 1..5),
                1u64..40,
                1u64..4,
            ), 2..4),
        ) -> (Vec<u64>, bool, Vec<(Ballots, BigRational)>) {
            let n = costs.len() as u32;
            let by_class = by_class
                .into_iter()
                .map(|(ballots, num, den)| {
                    let ballots = ballots
                        .into_iter()
                        .map(|(b, c)| (b.into_iter().filter(|(p, _)| *p < n).collect(), c))
                        .collect();
                    (ballots, ratio(num, den))
                })
                .collect();
            (costs, points, by_class)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_run_equals_the_definition_voter_by_voter((costs, points, by_class) in classed()) {
            let budget = costs.iter().sum::<u64>() * 2;
            let (whole, cls) = classes(&costs, budget, points, &by_class);
            let ties = TieBreaking::by_project_id();
            let ranks = ties.ranks(&whole, &whole.profile().support().unwrap());
            let got = count(&whole, &cls, rule(Completion::None), &ties).map(|o| o.selected);
            match (got, reference(&costs, points, &by_class, &ranks)) {
                (Ok(got), Some(expected)) => prop_assert_eq!(got, expected),
                (Err(TallyError::Tie { .. }), None) => {}
                (got, expected) => prop_assert!(false, "got {got:?}, expected {expected:?}"),
            }
        }

        #[test]
        fn add1_jumping_equals_stepping_one_run_at_a_time((costs, points, by_class) in classed(), exhaustive in any::<bool>()) {
            let budget = costs.iter().sum::<u64>();
            let (whole, cls) = classes(&costs, budget, points, &by_class);
            let ties = TieBreaking::by_project_id();
            let e = Endowed::new(&whole, &cls, Utility::Cost, &ties, "mes-add1").unwrap();
            let jumped = e.add1(exhaustive).map(|(s, _)| s);
            // Stepping: run k at start + k · step, plain rationals.
            let voters: u64 = e.weights.iter().sum();
            let total = e.start.iter().zip(&e.weights).fold(<BigRational as Zero>::zero(), |s, (m, &w)| s + m * rational(w));
            let step = rational(voters) / total;
            let supported = e.supporters.iter().filter(|s| !s.is_empty()).count();
            // By run `last` the poorest voter holds every project's cost:
            // every supported project is funded.
            let poorest = e.start.iter().min().cloned().unwrap();
            let last = (rational(costs.iter().sum()) / (&poorest * &step)).ceil().to_integer();
            let last = u64::try_from(last).unwrap() + 1;
            let mut kept = None;
            let mut stepped = Ok(());
            for k in 0..=last {
                let money: Vec<BigRational> = e.start.iter().map(|m| m + m * &step * rational(k)).collect();
                match e.run(money) {
                    Err(err) => { stepped = Err(err); break; }
                    Ok(s) => {
                        if e.cost(&s) > u128::from(budget) { break; }
                        let end = s.len() >= supported || (exhaustive && super::super::mes::exhaustive(&whole, &s, u128::from(budget)));
                        kept = Some(s);
                        if end { break; }
                    }
                }
            }
            match (jumped, stepped) {
                (Ok(j), Ok(())) => prop_assert_eq!(Some(j), kept),
                (Err(TallyError::Tie { .. }), Err(TallyError::Tie { .. })) => {}
                (j, s) => prop_assert!(false, "jumped {j:?}, stepped {s:?}"),
            }
        }

        #[test]
        fn with_the_same_money_for_everyone_it_is_equal_shares((costs, points, by_class) in classed(), completion in prop::sample::select(vec![Completion::None, Completion::Greedy, Completion::Add1, Completion::Add1Exhaustive, Completion::Add1Comparison])) {
            // Whole units per voter from the start, as add1 starts there.
            let voters: u64 = by_class.iter().flat_map(|(b, _)| b.iter().map(|x| x.1)).sum();
            let budget = voters * 7;
            let same: Vec<(Ballots, BigRational)> = by_class.into_iter().map(|(b, _)| (b, ratio(7, 1))).collect();
            let (whole, cls) = classes(&costs, budget, points, &same);
            let ties = TieBreaking::by_project_id();
            let es = rule(completion);
            let ours = count(&whole, &cls, es, &ties).map(|o| (o.selected, o.details.comparison));
            let theirs = es.tally(&whole, &ties).map(|o| (o.selected, o.details.comparison));
            match (ours, theirs) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(TallyError::Tie { .. }), Err(TallyError::Tie { .. })) => {}
                (a, b) => prop_assert!(false, "{a:?} against {b:?}"),
            }
        }
    }
}
