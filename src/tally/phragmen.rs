//! Sequential Phragmén for participatory budgeting.

use num_rational::BigRational;

use super::arith::{Eval, Num, Queue, Undecided};
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

    fn run<N: Num>(
        &self,
        e: &Election,
        sup: &Supporters,
        support: &[u64],
        ties: &TieBreaking,
    ) -> Result<Result<Vec<usize>, Undecided>, TallyError> {
        let candidates = e.candidates();
        let mut loads = vec![N::zero(); sup.num_groups()];
        let mut alive: Vec<bool> = (0..candidates.len())
            .map(|p| sup.of(p).next().is_some())
            .collect();
        let mut queue = Queue::<N>::new(0..candidates.len());
        let mut selected = Vec::new();
        let mut spent: u128 = 0;
        loop {
            // Loads only grow, so a project's time only grows.
            let round = queue.round(|c| {
                if !alive[c] {
                    return Ok(Eval::Drop);
                }
                let mut load = N::from_u64(candidates[c].cost);
                let mut voters = 0_u64;
                for (g, _) in sup.of(c) {
                    let w = sup.weights[g];
                    load = load.add(&loads[g].mul_u64(w));
                    voters = voters.saturating_add(w);
                }
                Ok(Eval::Value(load.div(&N::from_u64(voters.max(1)))))
            });
            let (tied, t) = match round {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(Undecided) => return Ok(Err(Undecided)),
            };
            let winner = match tied.as_slice() {
                [only] => *only,
                _ => pick(e, support, &tied, ties, self.name())?,
            };
            alive[winner] = false;
            let cost = u128::from(candidates[winner].cost);
            if spent + cost > u128::from(e.budget()) {
                match self.on_overflow {
                    OnOverflow::Stop => break,
                    OnOverflow::Skip => continue,
                }
            }
            spent += cost;
            for (g, _) in sup.of(winner) {
                loads[g] = t.clone();
            }
            selected.push(winner);
        }
        Ok(Ok(selected))
    }
}

/// The first of `tied` by the chain, or a tie error.
fn pick(
    e: &Election,
    support: &[u64],
    tied: &[usize],
    ties: &TieBreaking,
    rule: &str,
) -> Result<usize, TallyError> {
    let mut sorted = tied.to_vec();
    sorted.sort_by(|&a, &b| ties.compare(e, support, a, b).then(a.cmp(&b)));
    match sorted.as_slice() {
        [first, second, ..] if ties.compare(e, support, *first, *second).is_eq() => {
            Err(TallyError::Tie {
                rule: rule.to_owned(),
                projects: sorted
                    .iter()
                    .filter(|&&p| ties.compare(e, support, *first, p).is_eq())
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

impl Tally for Phragmen {
    fn name(&self) -> &str {
        match self.on_overflow {
            OnOverflow::Stop => PHRAGMEN,
            OnOverflow::Skip => PHRAGMEN_SKIP,
        }
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let sup = Supporters::new(election)?;
        let support = election.profile().support()?;
        let (selected, exact) = match self.run::<f64>(election, &sup, &support, ties)? {
            Ok(s) => (s, false),
            Err(Undecided) => match self.run::<BigRational>(election, &sup, &support, ties)? {
                Ok(s) => (s, true),
                Err(Undecided) => return Err(TallyError::Overflow),
            },
        };
        let total_cost = selected
            .iter()
            .filter_map(|&p| election.candidates().get(p))
            .map(|c| c.cost)
            .sum();
        Ok(Outcome {
            rule: self.name().to_owned(),
            tie_breaking: ties.clone(),
            selected,
            total_cost,
            budget: election.budget(),
            scores: support,
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
}
