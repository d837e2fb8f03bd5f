//! Sequential Phragmén for participatory budgeting.

use num_rational::BigRational;

use super::arith::{Eval, Halt, Num, Queue, Steps};
use super::support::Supporters;
use super::{Election, Outcome, OutcomeDetails, Tally, TallyError, TieBreaking};

pub(super) const PHRAGMEN: &str = "phragmen";
pub(super) const PHRAGMEN_SKIP: &str = "phragmen-skip";

/// What sequential Phragmén does with a project whose purchase would break the
/// budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnOverflow {
    /// Stop: the outcome is what was bought before it (the reference outcomes'
    /// variant).
    #[default]
    Stop,
    /// Skip it and go on with the next.
    Skip,
}

/// Sequential Phragmén (Phragmén 1894; for participatory budgeting as in Los,
/// Christoff & Grossi, *Proportional Budget Allocations*, 2022, and the pabulib
/// reference outcomes).
///
/// Voters earn money continuously at the same rate; a project is bought as soon
/// as its supporters together have earned its cost, and buying it spends all
/// their money. Equivalently, with each voter carrying a load (0 at the start), the
/// next project is the one minimising `t = (cost + Σ supporters' loads) / number of
/// supporters`, after which its supporters' loads become `t`. Every ballot counts
/// as approval of the projects it lists. Exact arithmetic as for
/// [`Mes`](super::Mes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phragmen {
    /// Stop at, or skip, a project that would break the budget.
    pub on_overflow: OnOverflow,
}

impl Phragmen {
    /// The reference variant: stop at the first project that would break the
    /// budget.
    pub const STOP: Phragmen = Phragmen {
        on_overflow: OnOverflow::Stop,
    };
    /// The variant that skips such a project and goes on.
    pub const SKIP: Phragmen = Phragmen {
        on_overflow: OnOverflow::Skip,
    };

    /// The run proper in arithmetic `N`: the projects bought in order, or why
    /// the run stopped (a near-tie the floats leave to exact arithmetic, the
    /// step limit, or — as `Ok(Err(_))` — a tie the chain refuses).
    ///
    /// Termination: every round takes its winner out of the queue (bought,
    /// skipped, or the end of the count), so there are at most as many rounds
    /// as projects; a round's work is bounded as [`Queue`] says.
    fn run<N: Num>(
        &self,
        e: &Election,
        count: &Count<'_>,
    ) -> Result<Result<Vec<usize>, TallyError>, Halt> {
        let candidates = e.candidates();
        let sup = &count.supporters;
        let mut loads = vec![N::zero(); sup.num_groups()];
        let mut queue = Queue::<N>::ordered(
            count.classes.clone(),
            count.ranks.clone(),
            count.costs.clone(),
        );
        let mut selected = Vec::new();
        let mut spent: u128 = 0;
        // Loads only grow, so a project's time only grows.
        while let Some(won) = queue.round(&count.steps, |c| {
            let mut load = N::from_u64(candidates[c].cost);
            let mut voters = 0_u64;
            let mut seen = 0_u64;
            for (g, _) in sup.of(c) {
                let w = sup.weights()[g];
                load = load.add(&loads[g].mul_u64(w));
                voters = voters.saturating_add(w);
                seen += 1;
            }
            count.steps.charge(seen.max(1) * N::STEP)?;
            Ok(if seen == 0 {
                Eval::Drop
            } else {
                Eval::Value(load.div(&N::from_u64(voters.max(1))))
            })
        })? {
            if !won.tied.is_empty() {
                return Ok(Err(tie(
                    e,
                    self.name(),
                    &count.ties,
                    won.project,
                    &won.tied,
                )));
            }
            let winner = won.project;
            let cost = u128::from(candidates[winner].cost);
            if spent + cost > u128::from(e.budget()) {
                match self.on_overflow {
                    OnOverflow::Stop => break,
                    OnOverflow::Skip => continue,
                }
            }
            spent += cost;
            let mut paid = 0_u64;
            for (g, _) in sup.of(winner) {
                loads[g] = won.value.clone();
                paid += 1;
            }
            count.steps.charge(paid * N::STEP)?;
            selected.push(winner);
        }
        Ok(Ok(selected))
    }
}

/// What every run of Phragmén on one election shares.
struct Count<'e> {
    supporters: &'e Supporters,
    ranks: Vec<u32>,
    /// Projects with the same supporters: their loads differ by their costs
    /// only, so the cheapest goes first whatever the loads are.
    classes: Vec<Vec<usize>>,
    costs: Vec<u64>,
    steps: Steps,
    ties: TieBreaking,
}

/// The tie error for `winner` and the projects the chain leaves tied with it.
fn tie(e: &Election, rule: &str, ties: &TieBreaking, winner: usize, tied: &[usize]) -> TallyError {
    let mut projects = vec![winner];
    projects.extend_from_slice(tied);
    projects.sort_unstable();
    projects.dedup();
    TallyError::Tie {
        rule: rule.to_owned(),
        projects: projects
            .iter()
            .filter_map(|&p| e.candidates().get(p))
            .map(|c| c.label.clone())
            .collect(),
        tie_breaking: ties.clone(),
    }
}

impl Tally for Phragmen {
    fn name(&self) -> &str {
        match self.on_overflow {
            OnOverflow::Stop => PHRAGMEN,
            OnOverflow::Skip => PHRAGMEN_SKIP,
        }
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let supporters = election.supporters()?;
        let support = election.support()?;
        let candidates = election.candidates();
        let count = Count {
            classes: supporters.twins(candidates.len(), |_| 0, false),
            costs: candidates.iter().map(|c| c.cost).collect(),
            ranks: ties.ranks(election, support),
            supporters,
            steps: Steps::new(election.step_limit()),
            ties: ties.clone(),
        };
        let halted = |halt| match halt {
            Halt::OutOfSteps => TallyError::StepLimit {
                rule: self.name().to_owned(),
                limit: count.steps.limit(),
            },
            // Exact comparisons always decide.
            Halt::Undecided => TallyError::Overflow,
        };
        let (selected, exact) = match self.run::<f64>(election, &count) {
            Ok(selected) => (selected?, false),
            Err(Halt::Undecided) => (
                self.run::<BigRational>(election, &count)
                    .map_err(halted)??,
                true,
            ),
            Err(halt) => return Err(halted(halt)),
        };
        let total_cost = selected
            .iter()
            .filter_map(|&p| candidates.get(p))
            .map(|c| u128::from(c.cost))
            .sum::<u128>();
        Ok(Outcome {
            rule: self.name().to_owned(),
            tie_breaking: ties.clone(),
            selected,
            // Within the budget, a `u64`.
            total_cost: u64::try_from(total_cost).unwrap_or(u64::MAX),
            budget: election.budget(),
            scores: support.to_vec(),
            details: OutcomeDetails {
                exact_arithmetic: exact,
                ..OutcomeDetails::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, ProfileKind};

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
    fn loads_decide_and_the_budget_stops_or_skips() {
        // A (60) by 1–3, B (40) by 3–4, C (30) by 4, D (5) by 1.
        // t(D) = 5 first; voter 1's load is 5. t(A) = 65/3, t(B) = 40/2 = 20: B
        // (spent 45); voters 3 and 4 carry 20. t(A) = 85/3 ≈ 28.3 < t(C) = 50: A
        // would make 105 > 100: stop — or skip A, then C (spent 75).
        let e = approval(&[60, 40, 30, 5], 100, &[&[0, 3], &[0], &[0, 1], &[1, 2]]);
        let stop = Phragmen::STOP
            .tally(&e, &TieBreaking::by_project_id())
            .unwrap();
        assert_eq!(stop.selected, vec![3, 1]);
        assert!(!stop.details.exact_arithmetic);
        let skip = Phragmen::SKIP
            .tally(&e, &TieBreaking::by_project_id())
            .unwrap();
        assert_eq!(skip.selected, vec![3, 1, 2]);
        assert_eq!(skip.total_cost, 75);
    }

    #[test]
    fn exact_ties_follow_the_chain() {
        let e = approval(&[50, 50], 100, &[&[0], &[1]]);
        let o = Phragmen::STOP
            .tally(&e, &TieBreaking::by_project_id())
            .unwrap();
        assert_eq!(o.selected, vec![0, 1]);
        assert!(o.details.exact_arithmetic);
        assert!(matches!(
            Phragmen::STOP.tally(&e, &TieBreaking::refuse()),
            Err(TallyError::Tie { .. })
        ));
    }

    #[test]
    fn symmetric_elections_take_linear_work() {
        // As for equal shares: three thousand projects costing 1, one voter
        // approving all of them (twins: every load rises together) or one voter
        // per project (disjoint: loads never change). A step limit proportional
        // to the input shows the work is near-linear.
        let n = 3_000_u32;
        let all: Vec<u32> = (0..n).collect();
        let candidates: Vec<Candidate> =
            (0..n).map(|i| Candidate::new(format!("{i}"), 1)).collect();
        let mut one = Profile::builder(ProfileKind::Approval, n as usize);
        one.push_approval(&all, 2).unwrap();
        let mut each = Profile::builder(ProfileKind::Approval, n as usize);
        for i in 0..n {
            each.push_approval(&[i], 1).unwrap();
        }
        for profile in [one.build(), each.build()] {
            let e = Election::new(u64::from(n), candidates.clone(), profile)
                .unwrap()
                .with_step_limit(200 * u64::from(n));
            for rule in [Phragmen::STOP, Phragmen::SKIP] {
                let o = rule.tally(&e, &TieBreaking::by_project_id()).unwrap();
                assert_eq!(o.selected.len(), n as usize);
            }
        }
    }

    /// Sequential Phragmén the plain way, as a reference: exact loads, every
    /// project's time computed from scratch every round, the smallest taken,
    /// ties by `rank` or a tie (`None`) when the ranks are equal too.
    fn reference(e: &Election, rule: Phragmen, rank: &[u32]) -> Option<Vec<usize>> {
        let ballots: Vec<_> = e.profile().iter().collect();
        let mut loads = vec![BigRational::from_integer(0.into()); ballots.len()];
        let mut out_of_it = vec![false; e.candidates().len()];
        let mut selected = Vec::new();
        let mut spent = 0_u64;
        loop {
            let mut best: Option<(BigRational, usize)> = None;
            let mut tie = false;
            for (p, c) in e.candidates().iter().enumerate() {
                let supporters: Vec<usize> = (0..ballots.len())
                    .filter(|&g| ballots[g].projects.contains(&(p as u32)))
                    .collect();
                if out_of_it[p] || supporters.is_empty() {
                    continue;
                }
                let voters: u64 = supporters.iter().map(|&g| ballots[g].count).sum();
                let load: BigRational = supporters
                    .iter()
                    .map(|&g| loads[g].clone() * BigRational::from_integer(ballots[g].count.into()))
                    .fold(BigRational::from_integer(c.cost.into()), |a, b| a + b);
                let t = load / BigRational::from_integer(voters.into());
                match &best {
                    None => best = Some((t, p)),
                    Some((b, q)) => match t.cmp(b).then(rank[p].cmp(&rank[*q])) {
                        std::cmp::Ordering::Less => {
                            best = Some((t, p));
                            tie = false;
                        }
                        std::cmp::Ordering::Equal => tie = true,
                        std::cmp::Ordering::Greater => {}
                    },
                }
            }
            let Some((t, winner)) = best else {
                return Some(selected);
            };
            if tie {
                return None;
            }
            out_of_it[winner] = true;
            let cost = e.candidates()[winner].cost;
            if spent + cost > e.budget() {
                match rule.on_overflow {
                    OnOverflow::Stop => return Some(selected),
                    OnOverflow::Skip => continue,
                }
            }
            spent += cost;
            for (g, b) in ballots.iter().enumerate() {
                if b.projects.contains(&(winner as u32)) {
                    loads[g] = t.clone();
                }
            }
            selected.push(winner);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// The queue, its classes of projects with the same supporters and the
        /// float path give what computing every time from scratch gives.
        #[test]
        fn outcomes_equal_the_plain_definition(
            costs in proptest::collection::vec(proptest::sample::select(vec![1u64, 2, 3, 6, 12]), 2..8),
            budget in proptest::sample::select(vec![5u64, 12, 30, 61]),
            ballots in proptest::collection::vec(proptest::collection::btree_set(0u32..8, 0..5), 1..10),
            skip in proptest::prelude::any::<bool>(),
            chain in proptest::sample::select(vec!["id", "min-cost", "refuse"]),
        ) {
            let n = costs.len();
            let lists: Vec<Vec<u32>> = ballots
                .into_iter()
                .map(|b| b.into_iter().filter(|&p| (p as usize) < n).collect())
                .collect();
            let refs: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
            let e = approval(&costs, budget, &refs);
            let ties: TieBreaking = chain.parse().unwrap();
            let rule = if skip { Phragmen::SKIP } else { Phragmen::STOP };
            let rank = ties.ranks(&e, &e.profile().support().unwrap());
            match (rule.tally(&e, &ties), reference(&e, rule, &rank)) {
                (Ok(o), Some(expected)) => proptest::prop_assert_eq!(o.selected, expected),
                (Err(TallyError::Tie { .. }), None) => {}
                (got, expected) => proptest::prop_assert!(false, "got {:?}, expected {:?}", got.map(|o| o.selected), expected),
            }
        }
    }
}
