//! Utilitarian greedy by votes: how most municipalities count.

use super::{Election, Outcome, OutcomeDetails, Tally, TallyError, TieBreaking};

pub(super) const NAME: &str = "greedy";
pub(super) const NO_SKIP: &str = "greedy-no-skip";
pub(super) const THRESHOLD: &str = "greedy-threshold";

/// Greedy by votes: projects in order of support (approvals, points, or Borda
/// points for rankings), highest first; each project that still fits in the
/// remaining budget is funded, one that does not fit is skipped and the next one
/// tried.
///
/// Projects with equal support are ordered by the tie-breaking chain. A tie left
/// unbroken is an error only when it matters: when some but not all of the tied
/// projects would fit at that point.
///
/// Definition: "utilitarian greedy" with cost satisfaction as in pabulib's reference
/// outcomes (Faliszewski et al., *Participatory Budgeting: Data, Tools, and
/// Analysis*, IJCAI 2023) and in municipal rulebooks (pabulib rule `greedy`). On
/// rankings it is greedy by Borda score, Kraków's rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Greedy;

/// Greedy by votes that stops at the first project that does not fit (pabulib
/// rule `greedy-no-skip`), over the projects whose support is at least
/// `threshold` (0: all). A project that costs more than the whole budget could
/// never be funded and does not stop the count (Wrocław marks withdrawn projects
/// with such a cost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GreedyNoSkip {
    /// The least support a project needs (0: no threshold).
    pub threshold: u64,
}

/// Greedy by votes over the projects whose support is at least `threshold`
/// (pabulib rule `greedy-threshold`, with the file's
/// `min_project_score_threshold`); others are never funded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GreedyThreshold {
    /// The least support a project needs.
    pub threshold: u64,
}

/// Sorts `projects` in greedy's order: most support first, then by the
/// tie-breaking chain's `ranks`, then by index.
pub(super) fn by_support(projects: &mut [usize], support: &[u64], ranks: &[u32]) {
    projects.sort_by_key(|&p| {
        (
            std::cmp::Reverse(support.get(p).copied().unwrap_or(0)),
            ranks.get(p).copied().unwrap_or(u32::MAX),
            p,
        )
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Skip,
    NoSkip,
}

fn greedy(
    election: &Election,
    ties: &TieBreaking,
    rule: &str,
    mode: Mode,
    threshold: u64,
) -> Result<Outcome, TallyError> {
    let support = election.support()?.to_vec();
    let candidates = election.candidates();
    let ranks = ties.ranks(election, &support);
    // By support, then by the chain: one sort, `O(p log p)`.
    let key = |p: usize| {
        (
            std::cmp::Reverse(support.get(p).copied().unwrap_or(0)),
            ranks.get(p).copied().unwrap_or(u32::MAX),
        )
    };
    let order_of = |a: usize, b: usize| key(a).cmp(&key(b));
    let budget = election.budget();
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&p| support.get(p).is_some_and(|s| *s >= threshold))
        .filter(|&p| mode == Mode::Skip || candidates.get(p).is_some_and(|c| c.cost <= budget))
        .collect();
    by_support(&mut order, &support, &ranks);

    let mut remaining = election.budget();
    let mut selected = Vec::new();
    let mut start = 0;
    // Each pass takes one group of projects the order does not separate and
    // moves `start` past it: at most one pass per project.
    'groups: while let Some(&first) = order.get(start) {
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
                    rule: rule.to_owned(),
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
            } else if mode == Mode::NoSkip {
                break 'groups;
            }
        }
        start = end;
    }
    Ok(Outcome {
        rule: rule.to_owned(),
        tie_breaking: ties.clone(),
        total_cost: election.budget() - remaining,
        budget: election.budget(),
        selected,
        scores: support,
        details: OutcomeDetails {
            threshold: (threshold > 0).then_some(threshold),
            ..OutcomeDetails::default()
        },
    })
}

impl Tally for Greedy {
    fn name(&self) -> &str {
        NAME
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        greedy(election, ties, NAME, Mode::Skip, 0)
    }
}

impl Tally for GreedyNoSkip {
    fn name(&self) -> &str {
        NO_SKIP
    }

    fn rule(&self) -> super::Rule {
        super::Rule::GreedyNoSkip {
            threshold: self.threshold,
        }
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        greedy(election, ties, NO_SKIP, Mode::NoSkip, self.threshold)
    }
}

impl Tally for GreedyThreshold {
    fn name(&self) -> &str {
        THRESHOLD
    }

    fn rule(&self) -> super::Rule {
        super::Rule::GreedyThreshold {
            threshold: self.threshold,
        }
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        greedy(election, ties, THRESHOLD, Mode::Skip, self.threshold)
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
    fn no_skip_stops_and_threshold_filters() {
        let e = election(
            &[60, 50, 30, 10],
            100,
            &[(&[0], 4), (&[1], 3), (&[2], 2), (&[3], 1)],
        );
        let ids = TieBreaking::by_project_id();
        assert_eq!(
            GreedyNoSkip::default().tally(&e, &ids).unwrap().selected,
            vec![0]
        );
        // Below the threshold a project neither counts nor stops the count.
        let t = GreedyNoSkip { threshold: 3 }.tally(&e, &ids).unwrap();
        assert_eq!(t.selected, vec![0]);
        let t = GreedyNoSkip { threshold: 4 }.tally(&e, &ids).unwrap();
        assert_eq!(t.selected, vec![0]);
        // A project dearer than the whole budget does not stop the count.
        let dear = election(&[500, 60, 30], 100, &[(&[0], 9), (&[1], 3), (&[2], 2)]);
        assert_eq!(
            GreedyNoSkip::default().tally(&dear, &ids).unwrap().selected,
            vec![1, 2]
        );
        let t = GreedyThreshold { threshold: 2 }.tally(&e, &ids).unwrap();
        assert_eq!(t.selected, vec![0, 2]);
        assert_eq!(t.details.threshold, Some(2));
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
