//! Exact maximum utilitarian welfare: a 0/1 knapsack solved exactly.

use std::cmp::Ordering;

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
    budget: u64,
    /// Rank of each project in the tie-breaking order.
    rank: &'a [usize],
    best: Vec<usize>,
    best_value: u128,
    best_cost: u128,
    nodes: u64,
}

impl Search<'_> {
    /// Upper bound on the value reachable from item `k` with `room` left,
    /// as `numerator / denominator` (the fractional relaxation).
    fn bound(&self, k: usize, room: u64, value: u128) -> (u128, u128) {
        let mut room = room;
        let mut total = value;
        for &(_, v, c) in &self.items[k..] {
            if c <= room {
                room -= c;
                total += u128::from(v);
            } else {
                // total + v · room / c
                return (
                    total * u128::from(c) + u128::from(v) * u128::from(room),
                    u128::from(c),
                );
            }
        }
        (total, 1)
    }

    fn better(&self, chosen: &[usize], value: u128, cost: u128) -> bool {
        match value.cmp(&self.best_value) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => match cost.cmp(&self.best_cost) {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    let key = |set: &[usize]| {
                        let mut r: Vec<usize> = set.iter().map(|&p| self.rank[p]).collect();
                        r.sort_unstable();
                        r
                    };
                    key(chosen) < key(&self.best)
                }
            },
        }
    }

    fn dfs(
        &mut self,
        k: usize,
        room: u64,
        value: u128,
        chosen: &mut Vec<usize>,
    ) -> Result<(), TallyError> {
        self.nodes += 1;
        if self.nodes > NODE_LIMIT {
            return Err(TallyError::TooHard {
                rule: MAX_WELFARE.to_owned(),
                explored: self.nodes,
            });
        }
        let cost = u128::from(self.budget - room);
        if self.better(chosen, value, cost) {
            self.best = chosen.clone();
            self.best_value = value;
            self.best_cost = cost;
        }
        if k == self.items.len() {
            return Ok(());
        }
        let (num, den) = self.bound(k, room, value);
        // Prune only when the bound is strictly below the best: equal values may
        // still be a cheaper or earlier-ranked set.
        if num < self.best_value * den {
            return Ok(());
        }
        let (p, v, c) = self.items[k];
        if c <= room {
            chosen.push(p);
            self.dfs(k + 1, room - c, value + u128::from(v), chosen)?;
            chosen.pop();
        }
        self.dfs(k + 1, room, value, chosen)
    }
}

impl Tally for MaxWelfare {
    fn name(&self) -> &str {
        MAX_WELFARE
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let support = election.profile().support()?;
        let budget = election.budget();
        let candidates = election.candidates();
        let mut by_chain: Vec<usize> = (0..candidates.len()).collect();
        by_chain.sort_by(|&a, &b| ties.compare(election, &support, a, b).then(a.cmp(&b)));
        let mut rank = vec![0; candidates.len()];
        for (r, &p) in by_chain.iter().enumerate() {
            rank[p] = r;
        }
        let mut items: Vec<(usize, u64, u64)> = candidates
            .iter()
            .enumerate()
            .filter(|(p, c)| support[*p] > 0 && c.cost <= budget)
            .map(|(p, c)| (p, support[p], c.cost))
            .collect();
        // By value per unit cost, descending (cross-multiplied, exact); free
        // projects first.
        items.sort_by(|a, b| {
            (u128::from(b.1) * u128::from(a.2))
                .cmp(&(u128::from(a.1) * u128::from(b.2)))
                .then(rank[a.0].cmp(&rank[b.0]))
        });
        let mut search = Search {
            items,
            budget,
            rank: &rank,
            best: Vec::new(),
            best_value: 0,
            best_cost: 0,
            nodes: 0,
        };
        search.dfs(0, budget, 0, &mut Vec::new())?;
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
}
