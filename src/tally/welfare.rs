//! Exact maximum utilitarian welfare: a 0/1 knapsack solved exactly.

use std::cmp::Ordering;

use super::arith::{Halt, Steps};
use super::{Election, Outcome, OutcomeDetails, Tally, TallyError, TieBreaking};

pub(super) const MAX_WELFARE: &str = "max-welfare";

/// The most search nodes [`MaxWelfare`] explores before giving up.
pub const NODE_LIMIT: u64 = 200_000_000;

/// Maximum utilitarian welfare: the set of projects within the budget with the
/// largest total support (approvals, points or Borda points), found exactly by
/// branch and bound over a knapsack (items by support per unit cost, bound by the
/// fractional relaxation, all in integers).
///
/// Among optimal sets it takes the cheapest, then the one whose projects come
/// first by the tie-breaking chain. Instances of a few hundred projects, as real
/// participatory budgets are, solve in milliseconds; a search that would explore
/// more than [`NODE_LIMIT`] nodes stops with [`TallyError::TooHard`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxWelfare;

struct Search<'a> {
    /// Items by decreasing value density: (project, value, cost).
    items: Vec<(usize, u64, u64)>,
    /// `prefix_cost[i]`, `prefix_value[i]`: totals of the first `i` items.
    prefix_cost: Vec<u128>,
    prefix_value: Vec<u128>,
    budget: u64,
    /// Rank of each project in the tie-breaking order.
    rank: &'a [u32],
    /// The best set found, unless it is the first `best_len` projects of the
    /// current path (kept there instead of copied at every improvement).
    best: Vec<usize>,
    best_len: Option<usize>,
    best_value: u128,
    best_cost: u128,
    nodes: u64,
    steps: Steps,
}

/// Why the search stopped before the end.
#[derive(Debug)]
enum Stop {
    /// More than [`NODE_LIMIT`] nodes.
    TooHard,
    /// The election's step limit.
    Steps,
}

impl From<Halt> for Stop {
    fn from(_: Halt) -> Stop {
        // Steps only halt for their limit.
        Stop::Steps
    }
}

/// A node of the depth-first search, or the step back out of an item taken.
enum Frame {
    /// Decide items from `k` on with `room` left and `value` so far;
    /// `excluded` says the previous item was left out on this path.
    Enter {
        k: usize,
        room: u64,
        value: u128,
        excluded: bool,
    },
    /// The subtree that took item `k` is done: drop it and try without.
    Untake { k: usize, room: u64, value: u128 },
}

impl Search<'_> {
    /// Upper bound on the value reachable from item `k` with `room` left, as
    /// `numerator / denominator` (the fractional relaxation: items in density
    /// order while they fit, then a fraction of the next), in `O(log n)` by a
    /// binary search over the prefix sums.
    fn bound(&self, k: usize, room: u64, value: u128) -> (u128, u128) {
        let base = self.prefix_cost[k];
        let limit = base + u128::from(room);
        // The first `j` items (from `k`) that fit together.
        let j = self.prefix_cost[k..].partition_point(|&c| c <= limit) + k - 1;
        let total = value + self.prefix_value[j] - self.prefix_value[k];
        match self.items.get(j) {
            Some(&(_, v, c)) => {
                let left = limit - self.prefix_cost[j];
                (total * u128::from(c) + u128::from(v) * left, u128::from(c))
            }
            None => (total, 1),
        }
    }

    fn better(
        &self,
        path: &[usize],
        chosen: &[usize],
        value: u128,
        cost: u128,
    ) -> Result<bool, Stop> {
        Ok(match value.cmp(&self.best_value) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => match cost.cmp(&self.best_cost) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    let best = match self.best_len {
                        Some(len) => path.get(..len).unwrap_or(path),
                        None => &self.best,
                    };
                    self.steps.charge((chosen.len() + best.len()) as u64)?;
                    let key = |set: &[usize]| {
                        let mut r: Vec<u32> = set.iter().map(|&p| self.rank[p]).collect();
                        r.sort_unstable();
                        r
                    };
                    key(chosen) < key(best)
                }
            },
        })
    }

    /// Keeps the current path `chosen` if it beats the best set so far.
    fn consider(&mut self, chosen: &[usize], value: u128, room: u64) -> Result<(), Stop> {
        let cost = u128::from(self.budget - room);
        if self.better(chosen, chosen, value, cost)? {
            self.best_len = Some(chosen.len());
            self.best_value = value;
            self.best_cost = cost;
        }
        Ok(())
    }

    /// Branch and bound, depth first, taking an item before leaving it out, on
    /// an explicit stack (at most two frames per item, so no recursion depth to
    /// overflow).
    ///
    /// Termination: every `Enter` frame is a node of the binary tree over the
    /// items, of depth at most the number of items, so the search ends; and it
    /// stops at [`NODE_LIMIT`] nodes or the election's step limit.
    ///
    /// Two items with the same value and cost, next to each other in the order
    /// (the later one ranks after the earlier), are interchangeable: a set that
    /// takes the later one without the earlier is never better than the same set
    /// with the earlier one instead (same value and cost, earlier in the chain).
    /// So after leaving an item out, an identical next item is left out too:
    /// identical projects cost one branch per how many of them to take, not one
    /// per subset.
    fn run(&mut self) -> Result<(), Stop> {
        let mut chosen: Vec<usize> = Vec::new();
        let mut stack = vec![Frame::Enter {
            k: 0,
            room: self.budget,
            value: 0,
            excluded: false,
        }];
        self.consider(&chosen, 0, self.budget)?;
        let cost_per_node = u64::from(self.items.len().max(2).ilog2()) + 1;
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Untake { k, room, value } => {
                    // The best set is about to leave the path: copy it (once per
                    // improvement, not at every one).
                    if self.best_len.is_some_and(|len| len >= chosen.len()) {
                        self.best = chosen.clone();
                        self.best_len = None;
                    }
                    chosen.pop();
                    stack.push(Frame::Enter {
                        k: k + 1,
                        room,
                        value,
                        excluded: true,
                    });
                }
                Frame::Enter {
                    k,
                    room,
                    value,
                    excluded,
                } => {
                    self.nodes += 1;
                    if self.nodes > NODE_LIMIT {
                        return Err(Stop::TooHard);
                    }
                    self.steps.charge(cost_per_node)?;
                    let Some(&(p, v, c)) = self.items.get(k) else {
                        continue;
                    };
                    let (num, den) = self.bound(k, room, value);
                    // Prune only when the bound is strictly below the best: equal
                    // values may still be a cheaper or earlier-ranked set.
                    if num < self.best_value * den {
                        continue;
                    }
                    let twin_left_out = excluded
                        && k > 0
                        && self
                            .items
                            .get(k - 1)
                            .is_some_and(|&(_, pv, pc)| (pv, pc) == (v, c));
                    if c <= room && !twin_left_out {
                        stack.push(Frame::Untake { k, room, value });
                        chosen.push(p);
                        let (room, value) = (room - c, value + u128::from(v));
                        self.consider(&chosen, value, room)?;
                        stack.push(Frame::Enter {
                            k: k + 1,
                            room,
                            value,
                            excluded: false,
                        });
                    } else {
                        stack.push(Frame::Enter {
                            k: k + 1,
                            room,
                            value,
                            excluded: true,
                        });
                    }
                }
            }
        }
        if let Some(len) = self.best_len.take() {
            self.best = chosen.get(..len).unwrap_or(&chosen).to_vec();
        }
        Ok(())
    }
}

impl Tally for MaxWelfare {
    fn name(&self) -> &str {
        MAX_WELFARE
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let support = election.support()?.to_vec();
        let budget = election.budget();
        let candidates = election.candidates();
        // Each project's place in the chain's order, index order among projects
        // the chain leaves tied: optimal sets of equal value and cost are told
        // apart by these.
        let chain = ties.ranks(election, &support);
        let mut by_chain: Vec<usize> = (0..candidates.len()).collect();
        by_chain.sort_by_key(|&p| (chain[p], p));
        let mut rank = vec![0_u32; candidates.len()];
        for (r, &p) in by_chain.iter().enumerate() {
            rank[p] = u32::try_from(r).unwrap_or(u32::MAX);
        }
        let mut items: Vec<(usize, u64, u64)> = candidates
            .iter()
            .enumerate()
            .filter(|(p, c)| support[*p] > 0 && c.cost <= budget)
            .map(|(p, c)| (p, support[p], c.cost))
            .collect();
        // By value per unit cost, descending (cross-multiplied, exact); free
        // projects first; equal items by the chain.
        items.sort_by(|a, b| {
            (u128::from(b.1) * u128::from(a.2))
                .cmp(&(u128::from(a.1) * u128::from(b.2)))
                .then(rank[a.0].cmp(&rank[b.0]))
                .then(a.0.cmp(&b.0))
        });
        let mut prefix_cost = Vec::with_capacity(items.len() + 1);
        let mut prefix_value = Vec::with_capacity(items.len() + 1);
        let (mut c, mut v) = (0_u128, 0_u128);
        prefix_cost.push(0);
        prefix_value.push(0);
        for &(_, value, cost) in &items {
            c += u128::from(cost);
            v += u128::from(value);
            prefix_cost.push(c);
            prefix_value.push(v);
        }
        let mut search = Search {
            items,
            prefix_cost,
            prefix_value,
            budget,
            rank: &rank,
            best: Vec::new(),
            best_len: None,
            best_value: 0,
            best_cost: 0,
            nodes: 0,
            steps: Steps::new(election.step_limit()),
        };
        match search.run() {
            Ok(()) => {}
            Err(Stop::TooHard) => {
                return Err(TallyError::TooHard {
                    rule: MAX_WELFARE.to_owned(),
                    explored: search.nodes,
                });
            }
            Err(Stop::Steps) => {
                return Err(TallyError::StepLimit {
                    rule: MAX_WELFARE.to_owned(),
                    limit: search.steps.limit(),
                });
            }
        }
        let mut selected = search.best;
        selected.sort_by_key(|&p| rank[p]);
        let total_cost = selected.iter().map(|&p| candidates[p].cost).sum();
        Ok(Outcome {
            rule: MAX_WELFARE.to_owned(),
            tie_breaking: ties.clone(),
            selected,
            total_cost,
            budget,
            scores: support,
            details: OutcomeDetails {
                search_nodes: Some(search.nodes),
                ..OutcomeDetails::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, ProfileKind};

    #[test]
    fn finds_the_best_set_not_the_greedy_one() {
        // Greedy by votes takes A (6 votes, cost 60) and then nothing fits;
        // B + C (5 + 4 votes, 50 + 50) is better.
        let candidates = vec![
            Candidate::new("A", 60),
            Candidate::new("B", 50),
            Candidate::new("C", 50),
        ];
        let mut b = Profile::builder(ProfileKind::Approval, 3);
        b.push_approval(&[0], 6).unwrap();
        b.push_approval(&[1], 5).unwrap();
        b.push_approval(&[2], 4).unwrap();
        let e = Election::new(100, candidates, b.build()).unwrap();
        let o = MaxWelfare.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected, vec![1, 2]);
        assert_eq!(o.total_cost, 100);
        assert!(o.details.search_nodes.is_some());
    }

    #[test]
    fn among_optimal_sets_the_cheaper_wins() {
        let candidates = vec![Candidate::new("A", 60), Candidate::new("B", 40)];
        let mut b = Profile::builder(ProfileKind::Approval, 2);
        b.push_approval(&[0], 3).unwrap();
        b.push_approval(&[1], 3).unwrap();
        let e = Election::new(60, candidates, b.build()).unwrap();
        assert_eq!(
            MaxWelfare
                .tally(&e, &TieBreaking::by_project_id())
                .unwrap()
                .selected,
            vec![1]
        );
    }

    #[test]
    fn identical_projects_do_not_blow_up_the_search() {
        // Sixty identical projects, room for thirty: C(60, 30) ≈ 10¹⁷ subsets of
        // equal value. Identical neighbours are interchangeable, so the search
        // tries each number of them once.
        let n = 60;
        let candidates: Vec<Candidate> = (0..n)
            .map(|i| Candidate::new(format!("{i:02}"), 10))
            .collect();
        let mut b = Profile::builder(ProfileKind::Approval, n);
        b.push_approval(&(0..n as u32).collect::<Vec<_>>(), 1)
            .unwrap();
        let e = Election::new(300, candidates, b.build())
            .unwrap()
            .with_step_limit(1_000_000);
        let o = MaxWelfare.tally(&e, &TieBreaking::by_project_id()).unwrap();
        // The thirty that come first by id.
        let expected: Vec<usize> = (0..30).collect();
        assert_eq!(o.selected, expected);
        assert!(o.details.search_nodes.unwrap_or(u64::MAX) < 10_000);
    }

    #[test]
    fn a_long_ballot_does_not_overflow_the_stack() {
        // The search used to recurse once per project: 200,000 projects needed
        // more stack than a thread has.
        let n = 200_000_u32;
        let candidates: Vec<Candidate> =
            (0..n).map(|i| Candidate::new(format!("{i}"), 1)).collect();
        let mut b = Profile::builder(ProfileKind::Approval, n as usize);
        b.push_approval(&(0..n).collect::<Vec<_>>(), 1).unwrap();
        let e = Election::new(u64::from(n), candidates, b.build()).unwrap();
        let o = MaxWelfare.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected.len(), n as usize);
    }

    #[test]
    fn a_hard_search_stops_at_the_step_limit() {
        // Distinct costs near one another: many sets nearly fill the budget.
        let n = 40;
        let candidates: Vec<Candidate> = (0..n)
            .map(|i| Candidate::new(format!("{i}"), 1_000 + i as u64))
            .collect();
        let mut b = Profile::builder(ProfileKind::Approval, n);
        for i in 0..n as u32 {
            b.push_approval(&[i], 1_000 + u64::from(i % 7)).unwrap();
        }
        let e = Election::new(20_345, candidates, b.build())
            .unwrap()
            .with_step_limit(10_000);
        assert!(matches!(
            MaxWelfare.tally(&e, &TieBreaking::by_project_id()),
            Err(TallyError::StepLimit { limit: 10_000, .. })
        ));
    }
}
