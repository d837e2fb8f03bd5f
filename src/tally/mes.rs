//! The Method of Equal Shares and its completions.

use std::cmp::Ordering;

use num_rational::BigRational;

use super::arith::{Eval, Num, Queue, Undecided};
use super::support::Supporters;
use super::{
    Election, Fraction, Outcome, OutcomeDetails, ProfileKind, Tally, TallyError, TieBreaking,
};

/// A project's ρ, and whether the float run is sure the project is affordable.
struct Rho<N> {
    rho: N,
    certain: bool,
}

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
    supporters: Supporters,
    support: Vec<u64>,
    /// Approval ballots: utilities are costs (supporters split a project's cost
    /// equally). Points and rankings: the points are the utilities.
    cost_utility: bool,
}

impl<'e> Shares<'e> {
    pub(crate) fn new(election: &'e Election) -> Result<Shares<'e>, TallyError> {
        Ok(Shares {
            election,
            supporters: Supporters::new(election)?,
            support: election.profile().support()?,
            cost_utility: election.profile().kind() == ProfileKind::Approval,
        })
    }

    pub(crate) fn supporters(&self) -> &Supporters {
        &self.supporters
    }

    /// One run with `num / den` minor units per voter: floats first, exact
    /// rationals if the floats meet a near-tie.
    pub(crate) fn run(&self, num: u64, den: u64, ties: &TieBreaking) -> Result<MesRun, TallyError> {
        let (selected, exact) = match self.run_with::<f64>(num, den, ties)? {
            Ok(selected) => (selected, false),
            Err(Undecided) => match self.run_with::<BigRational>(num, den, ties)? {
                Ok(selected) => (selected, true),
                // Exact comparisons always decide.
                Err(Undecided) => return Err(TallyError::Overflow),
            },
        };
        let total_cost = selected
            .iter()
            .filter_map(|&p| self.election.candidates().get(p))
            .map(|c| u128::from(c.cost))
            .sum();
        Ok(MesRun {
            selected,
            total_cost,
            exact,
        })
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
    fn rho<N: Num>(&self, p: usize, budgets: &[N]) -> Result<Option<Rho<N>>, Undecided> {
        let cost = self.election.candidates().get(p).map_or(0, |c| c.cost);
        let cost_n = N::from_u64(cost);
        let mut money = N::zero();
        let mut utility = N::zero();
        let mut any = false;
        for (g, u) in self.supporters.of(p) {
            let w = self.supporters.weights[g];
            money = money.add(&budgets[g].mul_u64(w));
            utility = utility.add(&N::from_u64(self.utility(p, u)).mul_u64(w));
            any = true;
        }
        if !any {
            return Ok(None);
        }
        let certain = match N::decide(&money, &cost_n) {
            Ok(Ordering::Less) => return Ok(None),
            Ok(_) => true,
            Err(Undecided) => false,
        };
        let found = |rho| Ok(Some(Rho { rho, certain }));
        if cost == 0 {
            return found(N::zero());
        }
        // Fixed point: those who cannot pay ρ·u pay everything they have; ρ rises
        // until the set of such voters stops growing.
        let mut rho = cost_n.div(&utility);
        let mut poor = 0_usize;
        loop {
            let mut poor_money = N::zero();
            let mut poor_utility = N::zero();
            let mut count = 0;
            for (g, u) in self.supporters.of(p) {
                let u = N::from_u64(self.utility(p, u));
                if N::less(&budgets[g], &rho.mul(&u)) {
                    let w = self.supporters.weights[g];
                    poor_money = poor_money.add(&budgets[g].mul_u64(w));
                    poor_utility = poor_utility.add(&u.mul_u64(w));
                    count += 1;
                }
            }
            if count == poor {
                return found(rho);
            }
            poor = count;
            let rest = utility.sub(&poor_utility);
            if !rest.is_positive() {
                // Everyone pays everything: affordable only at equality, which the
                // check above left to exact arithmetic.
                return if N::EXACT { found(rho) } else { Err(Undecided) };
            }
            rho = cost_n.sub(&poor_money).div(&rest);
        }
    }

    /// The run proper, in arithmetic `N`. The outer `Result` is an error of the
    /// election (a tie the chain refuses); the inner one a float run that must
    /// be redone exactly.
    fn run_with<N: Num>(
        &self,
        num: u64,
        den: u64,
        ties: &TieBreaking,
    ) -> Result<Result<Vec<usize>, Undecided>, TallyError> {
        let candidates = self.election.candidates();
        let per_voter = N::from_ratio(num, den);
        let mut budgets = vec![per_voter; self.supporters.num_groups()];
        let mut alive: Vec<bool> = vec![true; candidates.len()];
        let mut queue = Queue::<N>::new(0..candidates.len());
        let mut selected = Vec::new();
        loop {
            // ρ only rises as money is spent: last round's ρ bounds this round's.
            let round = queue.round(|c| {
                if !alive[c] {
                    return Ok(Eval::Drop);
                }
                Ok(match self.rho::<N>(c, &budgets)? {
                    Some(Rho { rho, certain: true }) => Eval::Value(rho),
                    Some(Rho {
                        rho,
                        certain: false,
                    }) => Eval::Uncertain(rho),
                    None => {
                        alive[c] = false;
                        Eval::Drop
                    }
                })
            });
            let (tied, rho) = match round {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(Undecided) => return Ok(Err(Undecided)),
            };
            let winner = match tied.as_slice() {
                [only] => *only,
                _ => self.break_tie(&tied, ties)?,
            };
            for (g, u) in self.supporters.of(winner) {
                let due = rho.mul(&N::from_u64(self.utility(winner, u)));
                let pay = N::min_value(&budgets[g], &due);
                budgets[g] = budgets[g].sub(&pay);
            }
            selected.push(winner);
            alive[winner] = false;
        }
        Ok(Ok(selected))
    }

    /// The project the chain puts first among `tied`, or an error naming them.
    pub(crate) fn break_tie(
        &self,
        tied: &[usize],
        ties: &TieBreaking,
    ) -> Result<usize, TallyError> {
        let e = self.election;
        let mut sorted = tied.to_vec();
        sorted.sort_by(|&a, &b| ties.compare(e, &self.support, a, b).then(a.cmp(&b)));
        match sorted.as_slice() {
            [first, second, ..] if ties.compare(e, &self.support, *first, *second).is_eq() => {
                Err(TallyError::Tie {
                    rule: MES.to_owned(),
                    projects: sorted
                        .iter()
                        .filter(|&&p| ties.compare(e, &self.support, *first, p).is_eq())
                        .filter_map(|&p| e.candidates().get(p))
                        .map(|c| c.label.clone())
                        .collect(),
                    tie_breaking: ties.clone(),
                })
            }
            [first, ..] => Ok(*first),
            [] => Err(TallyError::Overflow),
        }
    }

    fn outcome(
        &self,
        rule: &str,
        ties: &TieBreaking,
        selected: Vec<usize>,
        details: OutcomeDetails,
    ) -> Outcome {
        let total_cost = selected
            .iter()
            .filter_map(|&p| self.election.candidates().get(p))
            .map(|c| c.cost)
            .sum();
        Outcome {
            rule: rule.to_owned(),
            tie_breaking: ties.clone(),
            selected,
            total_cost,
            budget: self.election.budget(),
            scores: self.support.clone(),
            details,
        }
    }

    /// Adds projects greedily by support, skipping those that no longer fit.
    pub(crate) fn greedy_fill(&self, selected: &mut Vec<usize>, ties: &TieBreaking) {
        let e = self.election;
        let mut left = e.budget().saturating_sub(
            selected
                .iter()
                .filter_map(|&p| e.candidates().get(p))
                .map(|c| c.cost)
                .sum(),
        );
        let mut rest: Vec<usize> = (0..e.candidates().len())
            .filter(|p| !selected.contains(p))
            .collect();
        rest.sort_by(|&a, &b| {
            self.support[b]
                .cmp(&self.support[a])
                .then_with(|| ties.compare(e, &self.support, a, b))
                .then(a.cmp(&b))
        });
        for p in rest {
            let cost = e.candidates().get(p).map_or(u64::MAX, |c| c.cost);
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
        let shares = Shares::new(election)?;
        let n = election.profile().num_voters().max(1);
        let run = shares.run(election.budget(), n, ties)?;
        Ok(shares.outcome(
            MES,
            ties,
            run.selected,
            OutcomeDetails {
                per_voter_budget: Some(Fraction::new(u128::from(election.budget()), u128::from(n))),
                exact_arithmetic: run.exact,
                ..OutcomeDetails::default()
            },
        ))
    }
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
        let shares = Shares::new(election)?;
        let n = election.profile().num_voters().max(1);
        let run = shares.run(election.budget(), n, ties)?;
        let mut selected = run.selected;
        shares.greedy_fill(&mut selected, ties);
        Ok(shares.outcome(
            MES_GREEDY,
            ties,
            selected,
            OutcomeDetails {
                per_voter_budget: Some(Fraction::new(u128::from(election.budget()), u128::from(n))),
                exact_arithmetic: run.exact,
                ..OutcomeDetails::default()
            },
        ))
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

pub(crate) fn add1(
    shares: &Shares<'_>,
    exhaustive_stop: bool,
    ties: &TieBreaking,
) -> Result<Add1, TallyError> {
    let e = shares.election;
    let budget = u128::from(e.budget());
    let n = e.profile().num_voters().max(1);
    let supported = shares.support.iter().filter(|s| **s > 0).count();
    let mut per_voter = e.budget() / n;
    let mut runs = 0_u32;
    let mut exact = false;
    let mut kept: Option<(MesRun, u64)> = None;
    loop {
        let run = shares.run(per_voter, 1, ties)?;
        runs += 1;
        exact |= run.exact;
        if run.total_cost > budget {
            break;
        }
        let left = budget - run.total_cost;
        let exhaustive = e
            .candidates()
            .iter()
            .enumerate()
            .all(|(p, c)| run.selected.contains(&p) || u128::from(c.cost) > left);
        let complete = run.selected.len() >= supported;
        kept = Some((run, per_voter));
        if complete || (exhaustive_stop && exhaustive) {
            break;
        }
        per_voter = per_voter.checked_add(1).ok_or(TallyError::Overflow)?;
    }
    let (run, per_voter) = match kept {
        Some(k) => k,
        None => (shares.run(e.budget() / n, 1, ties)?, e.budget() / n),
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
        let shares = Shares::new(election)?;
        let done = add1(&shares, self.exhaustive_stop, ties)?;
        Ok(shares.outcome(
            self.name(),
            ties,
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
        let shares = Shares::new(election)?;
        let done = add1(&shares, false, ties)?;
        let greedy = super::Greedy.tally(election, ties)?;
        let sup = shares.supporters();
        let count = |selected: &[usize]| {
            let mut funded = vec![0_u32; sup.num_groups()];
            for &p in selected {
                for (g, _) in sup.of(p) {
                    funded[g] += 1;
                }
            }
            funded
        };
        let (m, g) = (count(&done.run.selected), count(&greedy.selected));
        let mut comparison = Comparison {
            prefer_equal_shares: 0,
            prefer_greedy: 0,
            greedy_taken: false,
        };
        for (k, w) in sup.weights.iter().enumerate() {
            match m[k].cmp(&g[k]) {
                Ordering::Greater => comparison.prefer_equal_shares += w,
                Ordering::Less => comparison.prefer_greedy += w,
                Ordering::Equal => {}
            }
        }
        comparison.greedy_taken = comparison.prefer_greedy > comparison.prefer_equal_shares;
        let selected = if comparison.greedy_taken {
            greedy.selected
        } else {
            done.run.selected
        };
        Ok(shares.outcome(
            MES_ADD1_COMPARISON,
            ties,
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn exact_ties_go_to_exact_arithmetic_and_the_chain() {
        // Two projects with the same cost and two supporters each: ρ ties exactly.
        let e = approval(&[50, 50], 100, &[&[0], &[0], &[1], &[1]]);
        let by_id = Mes.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(by_id.selected, vec![0, 1]);
        assert!(by_id.details.exact_arithmetic);
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
        assert_eq!(o.details.add1_runs, Some(5));
        // Exhaustive stop: with 5 each, B (6) does not fit in the 4 left: stop.
        let x = MesAdd1 {
            exhaustive_stop: true,
        }
        .tally(&e, &TieBreaking::by_project_id())
        .unwrap();
        assert_eq!(x.details.add1_runs, Some(1));
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whenever the float run decides, exact arithmetic decides the same.
        #[test]
        fn float_decisions_equal_exact_ones(e in small_election(), per_voter in 1u64..40) {
            let shares = Shares::new(&e).unwrap();
            let ties = TieBreaking::by_project_id();
            let exact = shares.run_with::<BigRational>(per_voter, 1, &ties).unwrap().unwrap();
            if let Ok(float) = shares.run_with::<f64>(per_voter, 1, &ties).unwrap() {
                prop_assert_eq!(float, exact);
            }
            let n = e.profile().num_voters();
            let exact = shares.run_with::<BigRational>(e.budget(), n, &ties).unwrap().unwrap();
            prop_assert_eq!(shares.run(e.budget(), n, &ties).unwrap().selected, exact);
        }
    }
}
