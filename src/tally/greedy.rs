//! Utilitarian greedy by votes: how most municipalities count.

use super::{Election, Outcome, Tally, TallyError, TieBreaking};

pub(super) const NAME: &str = "greedy";

/// Greedy by votes: projects in order of support (approvals, points, or times
/// ranked), highest first; each project that still fits in the remaining budget is
/// funded, one that does not fit is skipped and the next one tried.
///
/// Projects with equal support are ordered by the tie-breaking chain. A tie left
/// unbroken is an error only when it matters: when some but not all of the tied
/// projects would fit at that point.
///
/// Definition: "utilitarian greedy" with cost satisfaction as in pabulib's reference
/// outcomes (Faliszewski et al., *Participatory Budgeting: Data, Tools, and
/// Analysis*, IJCAI 2023) and in municipal rulebooks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Greedy;

impl Tally for Greedy {
    fn name(&self) -> &str {
        NAME
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let support = election.profile().support()?;
        let candidates = election.candidates();
        let order_of = |a: usize, b: usize| {
            support
                .get(b)
                .cmp(&support.get(a))
                .then_with(|| ties.compare(election, &support, a, b))
        };
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| order_of(a, b));

        let mut remaining = election.budget();
        let mut selected = Vec::new();
        let mut start = 0;
        while let Some(&first) = order.get(start) {
            let end = order[start..]
                .iter()
                .position(|&p| order_of(first, p).is_ne())
                .map_or(order.len(), |k| start + k);
            let group = &order[start..end];
            let cost = |p: usize| candidates.get(p).map_or(u64::MAX, |c| c.cost);
            if group.len() > 1 {
                let total: u128 = group.iter().map(|&p| u128::from(cost(p))).sum();
                let all_fit = total <= u128::from(remaining);
                let none_fit = group.iter().all(|&p| cost(p) > remaining);
                if !all_fit && !none_fit {
                    return Err(TallyError::Tie {
                        rule: NAME.to_owned(),
                        projects: group
                            .iter()
                            .filter_map(|&p| candidates.get(p))
                            .map(|c| c.label.clone())
                            .collect(),
                        tie_breaking: ties.clone(),
                    });
                }
            }
            for &p in group {
                if cost(p) <= remaining {
                    remaining -= cost(p);
                    selected.push(p);
                }
            }
            start = end;
        }
        Ok(Outcome {
            rule: NAME.to_owned(),
            tie_breaking: ties.clone(),
            total_cost: election.budget() - remaining,
            budget: election.budget(),
            selected,
            scores: support,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, ProfileKind, TieBreak};

    fn election(costs: &[u64], budget: u64, ballots: &[(&[u32], u64)]) -> Election {
        let candidates = costs
            .iter()
            .enumerate()
            .map(|(i, &c)| Candidate::new(format!("p{i}"), c))
            .collect::<Vec<_>>();
        let mut b = Profile::builder(ProfileKind::Approval, candidates.len());
        for (approved, count) in ballots {
            b.push_approval(approved, *count).unwrap();
        }
        Election::new(budget, candidates, b.build()).unwrap()
    }

    #[test]
    fn skips_what_does_not_fit_and_tries_the_next() {
        let e = election(
            &[60, 50, 30, 10],
            100,
            &[(&[0], 4), (&[1], 3), (&[2], 2), (&[3], 1)],
        );
        let o = Greedy.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected, vec![0, 2, 3]);
        assert_eq!(o.total_cost, 100);
        assert_eq!(o.left_over(), 0);
        assert_eq!(o.scores, vec![4, 3, 2, 1]);
        assert_eq!(o.rule, "greedy");
    }

    #[test]
    fn ties_follow_the_chain() {
        let e = election(&[60, 50, 40], 100, &[(&[0, 1, 2], 1)]);
        let by_id = Greedy.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(by_id.selected, vec![0, 2]);
        let cheap = Greedy
            .tally(&e, &TieBreaking::new(vec![TieBreak::LowestCost]).unwrap())
            .unwrap();
        assert_eq!(cheap.selected, vec![2, 1]);
    }

    #[test]
    fn refuses_a_tie_that_matters_only() {
        let e = election(&[60, 50, 40], 100, &[(&[0, 1, 2], 1)]);
        let err = Greedy.tally(&e, &TieBreaking::refuse()).unwrap_err();
        assert!(matches!(err, TallyError::Tie { ref projects, .. } if projects.len() == 3));
        // All three fit: the tie does not change the outcome.
        let roomy = election(&[60, 50, 40], 150, &[(&[0, 1, 2], 1)]);
        assert_eq!(
            Greedy
                .tally(&roomy, &TieBreaking::refuse())
                .unwrap()
                .selected
                .len(),
            3
        );
        // None fits: nothing to decide either.
        let tight = election(&[60, 50, 40, 5], 30, &[(&[0, 1, 2], 1)]);
        assert_eq!(
            Greedy
                .tally(&tight, &TieBreaking::refuse())
                .unwrap()
                .selected,
            vec![3]
        );
    }

    #[test]
    fn points_count_as_support() {
        let candidates = vec![Candidate::new("a", 10), Candidate::new("b", 10)];
        let mut b = Profile::builder(ProfileKind::Points, 2);
        b.push_points(&[(0, 1), (1, 5)], 1).unwrap();
        b.push_points(&[(0, 3)], 1).unwrap();
        let e = Election::new(10, candidates, b.build()).unwrap();
        let o = Greedy.tally(&e, &TieBreaking::by_project_id()).unwrap();
        assert_eq!(o.selected, vec![1]);
        assert_eq!(o.scores, vec![4, 5]);
    }
}
