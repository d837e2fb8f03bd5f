//! Extended justified representation up to one project (EJR-1), checked
//! exactly over integers.
//!
//! The definition is that of Peters, Pierczyński and Skowron, *Proportional
//! participatory budgeting with additive utilities* (NeurIPS 2021), for
//! approval-style support and cost utilities:
//!
//! * `n` voters, a budget `b`, projects with costs, a funded set `W`. Voter `i`
//!   supports the set `A_i`; their utility for a set `X` is
//!   `u_i(X) = cost(X ∩ A_i)`.
//! * For a non-empty set of projects `T`, a group of voters `S` is
//!   *T-cohesive* if every voter of `S` supports every project of `T` and
//!   `|S| · b ≥ n · cost(T)`: the group could pay for `T` with its share of the
//!   budget.
//! * A voter `i` of such a group is *satisfied up to one project* if
//!   `u_i(W) ≥ u_i(T)`, or some project `a ∈ T \ W` gives
//!   `u_i(W ∪ {a}) > u_i(T)`.
//! * `W` satisfies EJR up to one project if every T-cohesive group, for every
//!   `T`, has a satisfied member.
//!
//! Every subset of a T-cohesive group supports `T` too, so a violation exists
//! for `T` exactly when the voters supporting all of `T` (the candidate group
//! `N_T`) who are *not* satisfied are themselves numerous enough:
//! `#(unsatisfied in N_T) · b ≥ n · cost(T)`, with at least one of them. For
//! `i ∈ N_T`, `u_i(T) = cost(T)`, so `i` is unsatisfied exactly when
//! `u_i(W) < cost(T)` and `u_i(W) + max{cost(a) : a ∈ T \ W} ≤ cost(T)`, that is
//! when `u_i(W) ≤ cost(T) − max(1, max cost of T \ W)`; nobody is unsatisfied
//! when `T ⊆ W`.
//!
//! The search works on bitsets of supporters per project over voters numbered
//! in increasing order of `u_i(W)`, so that the unsatisfied voters of `N_T` are
//! the members of `N_T` below a position found by binary search. Adding a
//! project to `T` only shrinks `N_T` and raises `cost(T)`, so once
//! `|N_T| · b < n · cost(T)` no superset of `T` can be violated and the search
//! (depth first, projects in shortlist order) prunes it.

/// Exact arithmetic overflowed (amounts far beyond any real budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

/// The most projects for which every subset is tried.
pub(crate) const EXACT_MAX_PROJECTS: usize = 16;

/// A support profile and a funded set, ready for checking.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    voters: usize,
    budget: u128,
    costs: Vec<u128>,
    funded: Vec<bool>,
    /// Per project: its supporters, as a bitset over voters in increasing
    /// order of utility.
    supporters: Vec<Vec<u64>>,
    /// `u_i(W)` of voter `i`, increasing.
    utility: Vec<u128>,
}

fn words(voters: usize) -> usize {
    voters.div_ceil(64)
}

impl Instance {
    /// An instance: `support[i]` lists the projects (indices into `costs`) voter
    /// `i` supports; indices out of range are ignored, repeats count once.
    pub(crate) fn new(
        budget: u128,
        costs: Vec<u128>,
        funded: Vec<bool>,
        support: &[Vec<usize>],
    ) -> Result<Instance, Overflow> {
        let m = costs.len();
        let mut utilities = Vec::with_capacity(support.len());
        for (i, projects) in support.iter().enumerate() {
            let mut seen = vec![false; m];
            let mut u: u128 = 0;
            for &p in projects {
                if p < m && !seen[p] {
                    seen[p] = true;
                    if funded.get(p).copied().unwrap_or(false) {
                        u = u.checked_add(costs[p]).ok_or(Overflow)?;
                    }
                }
            }
            utilities.push((u, i));
        }
        utilities.sort_unstable();
        let mut position = vec![0; support.len()];
        for (k, &(_, i)) in utilities.iter().enumerate() {
            position[i] = k;
        }
        let mut supporters = vec![vec![0u64; words(support.len())]; m];
        for (i, projects) in support.iter().enumerate() {
            let k = position[i];
            for &p in projects {
                if let Some(set) = supporters.get_mut(p) {
                    set[k / 64] |= 1 << (k % 64);
                }
            }
        }
        let mut funded = funded;
        funded.resize(m, false);
        Ok(Instance {
            voters: support.len(),
            budget,
            costs,
            funded,
            supporters,
            utility: utilities.into_iter().map(|(u, _)| u).collect(),
        })
    }

    /// Number of projects.
    pub(crate) fn projects(&self) -> usize {
        self.costs.len()
    }

    /// `count · b ≥ n · cost`.
    fn can_afford(&self, count: usize, cost: u128) -> Result<bool, Overflow> {
        let left = (count as u128).checked_mul(self.budget).ok_or(Overflow)?;
        let right = (self.voters as u128).checked_mul(cost).ok_or(Overflow)?;
        Ok(left >= right)
    }

    /// Whether the unsatisfied members of `members` (= `N_T`) violate EJR-1 for a
    /// `T` of cost `cost` whose unfunded projects cost at most `max_unfunded`
    /// (`None` when `T ⊆ W`).
    fn violated(
        &self,
        members: &[u64],
        cost: u128,
        max_unfunded: Option<u128>,
    ) -> Result<bool, Overflow> {
        let Some(max_unfunded) = max_unfunded else {
            return Ok(false);
        };
        let Some(bound) = cost.checked_sub(max_unfunded.max(1)) else {
            return Ok(false);
        };
        let below = self.utility.partition_point(|&u| u <= bound);
        let count = count_below(members, below);
        Ok(count > 0 && self.can_afford(count, cost)?)
    }

    /// The state of `T ∪ {j}` from that of `T`.
    fn extend(&self, members: &[u64], j: usize, out: &mut Vec<u64>) -> usize {
        out.clear();
        out.extend(members.iter().zip(&self.supporters[j]).map(|(a, b)| a & b));
        out.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn everyone(&self) -> Vec<u64> {
        let mut all = vec![u64::MAX; words(self.voters)];
        if let Some(last) = all.last_mut()
            && !self.voters.is_multiple_of(64)
        {
            *last = (1u64 << (self.voters % 64)) - 1;
        }
        all
    }

    fn max_unfunded(&self, current: Option<u128>, j: usize) -> Option<u128> {
        if self.funded[j] {
            current
        } else {
            Some(current.map_or(self.costs[j], |c| c.max(self.costs[j])))
        }
    }

    /// The first set of projects (in depth-first shortlist order) for which EJR
    /// up to one project is violated, trying every subset (with pruning).
    pub(crate) fn exact(&self) -> Result<Option<Vec<usize>>, Overflow> {
        let mut chosen = Vec::new();
        self.search(0, &self.everyone(), 0, None, &mut chosen)
    }

    fn search(
        &self,
        start: usize,
        members: &[u64],
        cost: u128,
        max_unfunded: Option<u128>,
        chosen: &mut Vec<usize>,
    ) -> Result<Option<Vec<usize>>, Overflow> {
        let mut next = Vec::with_capacity(members.len());
        for j in start..self.projects() {
            let count = self.extend(members, j, &mut next);
            let cost_j = cost.checked_add(self.costs[j]).ok_or(Overflow)?;
            if count == 0 || !self.can_afford(count, cost_j)? {
                continue;
            }
            let max_j = self.max_unfunded(max_unfunded, j);
            chosen.push(j);
            if self.violated(&next, cost_j, max_j)? {
                return Ok(Some(chosen.clone()));
            }
            if let Some(found) = self.search(j + 1, &next, cost_j, max_j, chosen)? {
                return Ok(Some(found));
            }
            chosen.pop();
        }
        Ok(None)
    }

    /// Every set of one or two projects: how many violate EJR up to one
    /// project, and how many were checked.
    pub(crate) fn indicator(&self) -> Result<(u64, u64), Overflow> {
        let everyone = self.everyone();
        let (mut violations, mut checked) = (0u64, 0u64);
        let mut single = Vec::new();
        let mut pair = Vec::new();
        for j in 0..self.projects() {
            checked += 1;
            let count = self.extend(&everyone, j, &mut single);
            let cost_j = self.costs[j];
            if count == 0 || !self.can_afford(count, cost_j)? {
                // Pairs with `j` have fewer members and cost more.
                checked += (self.projects() - j - 1) as u64;
                continue;
            }
            let max_j = self.max_unfunded(None, j);
            if self.violated(&single, cost_j, max_j)? {
                violations += 1;
            }
            for k in j + 1..self.projects() {
                checked += 1;
                let count = self.extend(&single, k, &mut pair);
                let cost_jk = cost_j.checked_add(self.costs[k]).ok_or(Overflow)?;
                if count > 0
                    && self.can_afford(count, cost_jk)?
                    && self.violated(&pair, cost_jk, self.max_unfunded(max_j, k))?
                {
                    violations += 1;
                }
            }
        }
        Ok((violations, checked))
    }
}

/// Members among the first `below` voters.
fn count_below(members: &[u64], below: usize) -> usize {
    let full = below / 64;
    let mut count: usize = members
        .iter()
        .take(full)
        .map(|w| w.count_ones() as usize)
        .sum();
    let rest = below % 64;
    if rest > 0
        && let Some(w) = members.get(full)
    {
        count += (w & ((1u64 << rest) - 1)).count_ones() as usize;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, literally: every non-empty `T`, every non-empty group
    /// `S` of voters.
    fn brute_force_violations(
        budget: u128,
        costs: &[u128],
        funded: &[bool],
        support: &[Vec<usize>],
        max_t: usize,
    ) -> Vec<u32> {
        let (n, m) = (support.len(), costs.len());
        let supports = |i: usize, p: usize| support[i].contains(&p);
        let u = |i: usize, set: &dyn Fn(usize) -> bool| -> u128 {
            (0..m)
                .filter(|&p| set(p) && supports(i, p))
                .map(|p| costs[p])
                .sum()
        };
        let mut out = Vec::new();
        for t in 1u32..(1 << m) {
            if t.count_ones() as usize > max_t {
                continue;
            }
            let in_t = |p: usize| t & (1 << p) != 0;
            let cost_t: u128 = (0..m).filter(|&p| in_t(p)).map(|p| costs[p]).sum();
            let satisfied = |i: usize| {
                let u_w = u(i, &|p| funded[p]);
                let u_t = u(i, &in_t);
                u_w >= u_t
                    || (0..m)
                        .filter(|&a| in_t(a) && !funded[a])
                        .any(|a| u(i, &|p| funded[p] || p == a) > u_t)
            };
            let violated = (1u32..(1 << n)).any(|s| {
                let members: Vec<usize> = (0..n).filter(|&i| s & (1 << i) != 0).collect();
                members
                    .iter()
                    .all(|&i| (0..m).filter(|&p| in_t(p)).all(|p| supports(i, p)))
                    && members.len() as u128 * budget >= n as u128 * cost_t
                    && members.iter().all(|&i| !satisfied(i))
            });
            if violated {
                out.push(t);
            }
        }
        out
    }

    fn mask(t: &[usize]) -> u32 {
        t.iter().map(|&p| 1u32 << p).sum()
    }

    #[test]
    fn a_majority_taking_everything_violates() {
        // 4 voters, budget 4: three support project 0 (cost 3), one supports
        // project 1 (cost 1). Funding only project 1 leaves the three, who could
        // pay for project 0 (3 · 4 ≥ 4 · 3), with nothing: a violation.
        let support = vec![vec![0], vec![0], vec![0], vec![1]];
        let i = Instance::new(4, vec![3, 1], vec![false, true], &support).unwrap();
        assert_eq!(i.exact().unwrap(), Some(vec![0]));
        assert_eq!(i.indicator().unwrap(), (1, 3));
        assert_eq!(
            brute_force_violations(4, &[3, 1], &[false, true], &support, 2),
            vec![1]
        );
    }

    #[test]
    fn a_proportional_outcome_satisfies() {
        // The same voters. Funding project 0 alone still leaves the voter of
        // project 1 — one of four, with a quarter of the budget, exactly its
        // cost — with nothing, and adding project 1 would give them 1, not more
        // than 1: a violation too. Funding both satisfies everyone.
        let support = vec![vec![0], vec![0], vec![0], vec![1]];
        let i = Instance::new(4, vec![3, 1], vec![true, false], &support).unwrap();
        assert_eq!(i.exact().unwrap(), Some(vec![1]));
        let i = Instance::new(4, vec![3, 1], vec![true, true], &support).unwrap();
        assert_eq!(i.exact().unwrap(), None);
        assert_eq!(i.indicator().unwrap(), (0, 3));
        assert!(brute_force_violations(4, &[3, 1], &[true, true], &support, 2).is_empty());
    }

    #[test]
    fn up_to_one_project_forgives_an_indivisible_project() {
        // Two voters, budget 10, both support project 0 (cost 10) and project 1
        // (cost 2); only project 1 is funded. Both together could pay for
        // project 0 (2 · 10 ≥ 2 · 10) and get 2 < 10 — plain EJR fails — but
        // adding project 0 would give them 12 > 10: EJR up to one project holds.
        let support = vec![vec![0, 1], vec![0, 1]];
        let i = Instance::new(10, vec![10, 2], vec![false, true], &support).unwrap();
        assert_eq!(i.exact().unwrap(), None);
        // Two of three voters want project 1 (cost 6) and get nothing; 5 went
        // to the third voter's project. {1} is cohesive (2 · 10 ≥ 3 · 6) and
        // adding it gives them 6, not more than 6: a violation.
        let support = vec![vec![1], vec![1], vec![0]];
        let i = Instance::new(10, vec![5, 6], vec![true, false], &support).unwrap();
        assert_eq!(i.exact().unwrap(), Some(vec![1]));
        // Had they got a project worth 1, adding project 1 would give 7 > 6.
        let support = vec![vec![1, 2], vec![1, 2], vec![0]];
        let i = Instance::new(10, vec![5, 6, 1], vec![true, false, true], &support).unwrap();
        assert_eq!(i.exact().unwrap(), None);
    }

    #[test]
    fn bits_are_counted_across_words() {
        let mut members = vec![u64::MAX, u64::MAX, 0b1011];
        assert_eq!(count_below(&members, 0), 0);
        assert_eq!(count_below(&members, 64), 64);
        assert_eq!(count_below(&members, 130), 130);
        assert_eq!(count_below(&members, 192), 131);
        members.clear();
        assert_eq!(count_below(&members, 10), 0);
        // 130 voters, all supporting project 0 which is unfunded: a violation
        // found over three words.
        let support = vec![vec![0]; 130];
        let i = Instance::new(130, vec![1], vec![false], &support).unwrap();
        assert_eq!(
            i.everyone().iter().map(|w| w.count_ones()).sum::<u32>(),
            130
        );
        assert_eq!(i.exact().unwrap(), Some(vec![0]));
    }

    #[test]
    fn every_subset_of_sixteen_projects_over_ten_thousand_voters() {
        // Nothing prunes: everyone supports every project and all are funded,
        // so all 65 535 sets are tried.
        let support = vec![(0..16).collect::<Vec<_>>(); 10_000];
        let i = Instance::new(16, vec![1; 16], vec![true; 16], &support).unwrap();
        assert_eq!(i.exact().unwrap(), None);
        assert_eq!(i.indicator().unwrap(), (0, 16 + 120));
        // Nothing funded: the first set tried is violated.
        let i = Instance::new(16, vec![1; 16], vec![false; 16], &support).unwrap();
        assert_eq!(i.exact().unwrap(), Some(vec![0]));
        assert_eq!(i.indicator().unwrap(), (136, 136));
    }

    fn instance() -> impl Strategy<Value = (u128, Vec<u128>, Vec<bool>, Vec<Vec<usize>>)> {
        (1usize..=5, 1usize..=7, 1u128..=12).prop_flat_map(|(m, n, budget)| {
            (
                Just(budget),
                proptest::collection::vec(1u128..=budget, m),
                proptest::collection::vec(any::<bool>(), m),
                proptest::collection::vec(proptest::collection::vec(0..m, 0..=m), n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn exact_agrees_with_brute_force((budget, costs, funded, support) in instance()) {
            let i = Instance::new(budget, costs.clone(), funded.clone(), &support).unwrap();
            let brute = brute_force_violations(budget, &costs, &funded, &support, usize::MAX);
            match i.exact().unwrap() {
                None => prop_assert!(brute.is_empty(), "missed {brute:?}"),
                Some(t) => prop_assert!(brute.contains(&mask(&t)), "{t:?} is no violation"),
            }
            let pairs = brute_force_violations(budget, &costs, &funded, &support, 2);
            let m = costs.len() as u64;
            prop_assert_eq!(i.indicator().unwrap(), (pairs.len() as u64, m + m * (m - 1) / 2));
        }
    }
}
