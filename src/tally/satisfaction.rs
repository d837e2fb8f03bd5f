//! How satisfied voters are with an outcome: the measures researchers compare
//! rules by.
//!
//! As in Faliszewski, Flis, Peters, Pierczyński, Skowron, Stolicki, Szufa and
//! Talmon, *Participatory Budgeting: Data, Tools, and Analysis* (IJCAI 2023),
//! each voter's satisfaction counts the funded projects the voter supports
//! (approves, gives points to, or ranks): **cost satisfaction** is their total
//! cost, **cardinality satisfaction** their number; averaged over voters. The
//! **exclusion ratio** is the share of voters none of whose projects is funded.
//! The histogram gives, for each number `k`, the voters with exactly `k` of
//! their projects funded.

use serde::Serialize;

use super::{Election, Fraction, TallyError};

/// Satisfaction with one outcome ([`Satisfaction::of`]). Exact: sums are
/// integers, means and ratios [`Fraction`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Satisfaction {
    /// Voters.
    pub voters: u64,
    /// Σ over voters of the cost of the funded projects each supports (minor
    /// units).
    pub total_cost: u128,
    /// Σ over voters of the number of funded projects each supports.
    pub total_cardinality: u128,
    /// Voters none of whose supported projects is funded.
    pub nothing_funded: u64,
    /// `histogram[k]`: voters with exactly `k` supported projects funded (as
    /// long as the largest `k` met, plus one).
    pub histogram: Vec<u64>,
}

impl Satisfaction {
    /// The satisfaction of `election`'s voters with funding `selected`
    /// (candidate indices; an index outside the election is an error).
    ///
    /// ```
    /// use medborgarbudget::tally::{Candidate, Election, Fraction, Profile, ProfileKind, Satisfaction};
    ///
    /// let mut profile = Profile::builder(ProfileKind::Approval, 3);
    /// profile.push_approval(&[0, 1], 2)?; // two voters support a and b
    /// profile.push_approval(&[2], 1)?; // one supports c
    /// let candidates = vec![Candidate::new("a", 30), Candidate::new("b", 20), Candidate::new("c", 50)];
    /// let election = Election::new(60, candidates, profile.build())?;
    /// let s = Satisfaction::of(&election, &[0, 1])?;
    /// assert_eq!(s.histogram, [1, 0, 2]); // one voter with none, two with both
    /// assert_eq!(s.mean_cost(), Fraction::new(100, 3)); // (50 + 50 + 0) / 3
    /// assert_eq!(s.exclusion_ratio(), Fraction::new(1, 3));
    /// # Ok::<(), medborgarbudget::tally::TallyError>(())
    /// ```
    ///
    /// # Errors
    /// [`TallyError::ProjectOutOfRange`] for an index outside the election;
    /// [`TallyError::Overflow`] past 128 bits.
    pub fn of(election: &Election, selected: &[usize]) -> Result<Satisfaction, TallyError> {
        let candidates = election.candidates();
        let mut funded = vec![false; candidates.len()];
        for &p in selected {
            *funded.get_mut(p).ok_or(TallyError::ProjectOutOfRange {
                index: u32::try_from(p).unwrap_or(u32::MAX),
                projects: candidates.len(),
            })? = true;
        }
        let profile = election.profile();
        let mut s = Satisfaction {
            voters: profile.num_voters(),
            total_cost: 0,
            total_cardinality: 0,
            nothing_funded: 0,
            histogram: vec![0],
        };
        for ballot in profile.iter() {
            let (mut count, mut cost) = (0_usize, 0_u128);
            for (k, &p) in ballot.projects.iter().enumerate() {
                let supports = ballot.points.get(k).is_none_or(|&points| points > 0);
                if supports && funded.get(p as usize).copied().unwrap_or(false) {
                    count += 1;
                    cost += u128::from(candidates.get(p as usize).map_or(0, |c| c.cost));
                }
            }
            let voters = u128::from(ballot.count);
            // `let … else`: no error is made (and dropped) per ballot.
            let (Some(total_cost), Some(total_cardinality)) = (
                cost.checked_mul(voters)
                    .and_then(|c| c.checked_add(s.total_cost)),
                (count as u128)
                    .checked_mul(voters)
                    .and_then(|c| c.checked_add(s.total_cardinality)),
            ) else {
                return Err(TallyError::Overflow);
            };
            s.total_cost = total_cost;
            s.total_cardinality = total_cardinality;
            if count == 0 {
                s.nothing_funded += ballot.count;
            }
            if s.histogram.len() <= count {
                s.histogram.resize(count + 1, 0);
            }
            s.histogram[count] += ballot.count;
        }
        Ok(s)
    }

    /// Average cost satisfaction: the cost of the funded projects a voter
    /// supports, on average (minor units; 0 without voters).
    pub fn mean_cost(&self) -> Fraction {
        Fraction::new(self.total_cost, u128::from(self.voters))
    }

    /// Average cardinality satisfaction: the number of funded projects a voter
    /// supports, on average.
    pub fn mean_cardinality(&self) -> Fraction {
        Fraction::new(self.total_cardinality, u128::from(self.voters))
    }

    /// The exclusion ratio: the share of voters with nothing funded.
    pub fn exclusion_ratio(&self) -> Fraction {
        Fraction::new(u128::from(self.nothing_funded), u128::from(self.voters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, ProfileKind};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Against each voter counted one by one from the ballots as cast
        /// (before the profile merges identical ones).
        #[test]
        fn measures_agree_with_counting_voter_by_voter(
            costs in proptest::collection::vec(0_u64..1_000, 1..6),
            ballots in proptest::collection::vec(
                (proptest::collection::btree_map(0_u32..6, 0_u32..4, 0..5), 1_u64..4),
                0..12,
            ),
            funded in proptest::collection::btree_set(0_usize..6, 0..6),
            points in any::<bool>(),
        ) {
            let m = costs.len();
            let kind = if points { ProfileKind::Points } else { ProfileKind::Approval };
            let mut b = Profile::builder(kind, m);
            let mut voters: Vec<Vec<(u32, u32)>> = Vec::new();
            for (ballot, count) in &ballots {
                let entries: Vec<(u32, u32)> =
                    ballot.iter().filter(|(p, _)| (**p as usize) < m).map(|(&p, &v)| (p, v)).collect();
                if points {
                    b.push_points(&entries, *count).unwrap();
                } else {
                    let projects: Vec<u32> = entries.iter().map(|e| e.0).collect();
                    b.push_approval(&projects, *count).unwrap();
                }
                for _ in 0..*count {
                    voters.push(entries.clone());
                }
            }
            let candidates: Vec<Candidate> =
                costs.iter().enumerate().map(|(i, &c)| Candidate::new(format!("p{i}"), c)).collect();
            let e = Election::new(1_000, candidates, b.build()).unwrap();
            let funded: Vec<usize> = funded.into_iter().filter(|&p| p < m).collect();
            let s = Satisfaction::of(&e, &funded).unwrap();

            let mut histogram = vec![0_u64; m + 1];
            let (mut cost, mut cardinality, mut nothing) = (0_u128, 0_u128, 0_u64);
            for v in &voters {
                let mine: Vec<u32> = v
                    .iter()
                    .filter(|(p, pts)| (!points || *pts > 0) && funded.contains(&(*p as usize)))
                    .map(|e| e.0)
                    .collect();
                cost += mine.iter().map(|&p| u128::from(costs[p as usize])).sum::<u128>();
                cardinality += mine.len() as u128;
                nothing += u64::from(mine.is_empty());
                histogram[mine.len()] += 1;
            }
            prop_assert_eq!(s.voters, voters.len() as u64);
            prop_assert_eq!(s.total_cost, cost);
            prop_assert_eq!(s.total_cardinality, cardinality);
            prop_assert_eq!(s.nothing_funded, nothing);
            let used = histogram.iter().rposition(|&h| h > 0).map_or(1, |k| k + 1);
            prop_assert_eq!(&s.histogram[..], &histogram[..used.max(s.histogram.len())]);
            prop_assert_eq!(s.histogram.iter().sum::<u64>(), s.voters);
        }
    }

    #[test]
    fn an_index_outside_the_election_is_refused() {
        let mut b = Profile::builder(ProfileKind::Approval, 1);
        b.push_approval(&[0], 1).unwrap();
        let e = Election::new(10, vec![Candidate::new("a", 5)], b.build()).unwrap();
        assert!(matches!(
            Satisfaction::of(&e, &[1]),
            Err(TallyError::ProjectOutOfRange {
                index: 1,
                projects: 1
            })
        ));
        let none = Satisfaction::of(&e, &[]).unwrap();
        assert_eq!(none.exclusion_ratio(), Fraction::new(1, 1));
        assert_eq!(none.histogram, [1]);
    }
}
