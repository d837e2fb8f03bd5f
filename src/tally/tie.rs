//! Explicit, recorded tie-breaking.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Election, TallyError};

/// One way of ordering tied projects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TieBreak {
    /// By project id compared as text (`"10"` before `"9"`), the convention of the
    /// pabulib reference outcomes. Written `"project_id"`; `"project-id"`, as
    /// logs before the one naming convention wrote it, is read too.
    #[serde(alias = "project-id")]
    ProjectId,
    /// Cheapest project first.
    #[serde(alias = "lowest-cost")]
    LowestCost,
    /// Project with the most support (approvals or points) first.
    #[serde(alias = "most-votes")]
    MostVotes,
    /// The order of the projects in the election (file or shortlist order).
    #[serde(alias = "file-order")]
    FileOrder,
    /// The listed project labels first, in the given order; unlisted projects stay
    /// tied.
    Explicit(Vec<String>),
    /// Stop: projects still tied here are an error that lists them.
    Refuse,
}

impl TieBreak {
    fn compare(&self, election: &Election, support: &[u64], a: usize, b: usize) -> Ordering {
        let c = election.candidates();
        let (Some(ca), Some(cb)) = (c.get(a), c.get(b)) else {
            // Indices outside the election: keep them in index order.
            return a.cmp(&b);
        };
        match self {
            TieBreak::ProjectId => ca.label.cmp(&cb.label),
            TieBreak::LowestCost => ca.cost.cmp(&cb.cost),
            TieBreak::MostVotes => support.get(b).cmp(&support.get(a)),
            TieBreak::FileOrder => a.cmp(&b),
            TieBreak::Explicit(order) => {
                let rank =
                    |label: &String| order.iter().position(|l| l == label).unwrap_or(usize::MAX);
                rank(&ca.label).cmp(&rank(&cb.label))
            }
            TieBreak::Refuse => Ordering::Equal,
        }
    }
}

impl fmt::Display for TieBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TieBreak::ProjectId => f.write_str("id"),
            TieBreak::LowestCost => f.write_str("min-cost"),
            TieBreak::MostVotes => f.write_str("max-votes"),
            TieBreak::FileOrder => f.write_str("file-order"),
            TieBreak::Explicit(order) => write!(f, "explicit({})", order.join("|")),
            TieBreak::Refuse => f.write_str("refuse"),
        }
    }
}

/// A chain of [`TieBreak`]s applied in order until the projects are separated.
///
/// A chain that ends (or reaches [`TieBreak::Refuse`]) with projects still tied
/// makes a tally fail with [`TallyError::Tie`] when the order changes the outcome.
/// Written as text, a chain is its elements separated by commas: `min-cost,max-votes`.
///
/// ```
/// use medborgarbudget::tally::{TieBreak, TieBreaking};
/// let chain: TieBreaking = "min-cost,max-votes,id".parse()?;
/// assert_eq!(chain.steps(), [TieBreak::LowestCost, TieBreak::MostVotes, TieBreak::ProjectId]);
/// assert_eq!(chain.to_string(), "min-cost,max-votes,id");
/// # Ok::<(), medborgarbudget::tally::TallyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "Vec<TieBreak>", into = "Vec<TieBreak>")]
pub struct TieBreaking(Vec<TieBreak>);

impl TieBreaking {
    /// A chain; `Refuse` may only come last and the chain may not be empty.
    ///
    /// # Errors
    /// [`TallyError::InvalidTieBreaking`].
    pub fn new(steps: Vec<TieBreak>) -> Result<TieBreaking, TallyError> {
        if steps.is_empty() {
            return Err(TallyError::InvalidTieBreaking {
                reason: "the chain is empty",
            });
        }
        if steps[..steps.len() - 1].contains(&TieBreak::Refuse) {
            return Err(TallyError::InvalidTieBreaking {
                reason: "refuse may only end the chain",
            });
        }
        Ok(TieBreaking(steps))
    }

    /// By project id as text: the reference outcomes' convention.
    pub fn by_project_id() -> TieBreaking {
        TieBreaking(vec![TieBreak::ProjectId])
    }

    /// Refuse every tie that matters.
    pub fn refuse() -> TieBreaking {
        TieBreaking(vec![TieBreak::Refuse])
    }

    /// The elements of the chain.
    pub fn steps(&self) -> &[TieBreak] {
        &self.0
    }

    /// Compares two projects by the chain; `Equal` when the chain leaves them tied.
    pub fn compare(&self, election: &Election, support: &[u64], a: usize, b: usize) -> Ordering {
        self.0
            .iter()
            .map(|t| t.compare(election, support, a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl TieBreaking {
    /// Each project's place in the chain's order, in `O(p log p)` whatever the
    /// chain: projects the chain leaves tied share a rank, and a lower rank comes
    /// first. `ranks[a] < ranks[b]` exactly when `compare(.., a, b)` is `Less`.
    pub(crate) fn ranks(&self, election: &Election, support: &[u64]) -> Vec<u32> {
        let candidates = election.candidates();
        let n = candidates.len();
        // One integer key per step and project; a step's order is its keys' order.
        let mut keys: Vec<Vec<u64>> = Vec::new();
        for step in &self.0 {
            let key: Vec<u64> = match step {
                TieBreak::ProjectId => {
                    let mut by_label: Vec<usize> = (0..n).collect();
                    by_label.sort_by(|&a, &b| candidates[a].label.cmp(&candidates[b].label));
                    let mut key = vec![0; n];
                    let mut rank = 0_u64;
                    for (i, &p) in by_label.iter().enumerate() {
                        if i > 0 && candidates[by_label[i - 1]].label != candidates[p].label {
                            rank += 1;
                        }
                        key[p] = rank;
                    }
                    key
                }
                TieBreak::LowestCost => candidates.iter().map(|c| c.cost).collect(),
                TieBreak::MostVotes => (0..n)
                    .map(|p| u64::MAX - support.get(p).copied().unwrap_or(0))
                    .collect(),
                TieBreak::FileOrder => (0..n as u64).collect(),
                TieBreak::Explicit(order) => {
                    let mut place: std::collections::HashMap<&str, u64> =
                        std::collections::HashMap::with_capacity(order.len());
                    for (i, label) in order.iter().enumerate() {
                        place.entry(label.as_str()).or_insert(i as u64);
                    }
                    candidates
                        .iter()
                        .map(|c| place.get(c.label.as_str()).copied().unwrap_or(u64::MAX))
                        .collect()
                }
                TieBreak::Refuse => break,
            };
            keys.push(key);
        }
        let order_of = |a: usize, b: usize| {
            keys.iter()
                .map(|k| k[a].cmp(&k[b]))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let mut sorted: Vec<usize> = (0..n).collect();
        sorted.sort_by(|&a, &b| order_of(a, b));
        let mut ranks = vec![0_u32; n];
        let mut rank = 0_u32;
        for (i, &p) in sorted.iter().enumerate() {
            if i > 0 && order_of(sorted[i - 1], p).is_ne() {
                rank = rank.saturating_add(1);
            }
            ranks[p] = rank;
        }
        ranks
    }
}

impl fmt::Display for TieBreaking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl FromStr for TieBreaking {
    type Err = TallyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let steps = s
            .split(',')
            .map(|t| match t.trim() {
                "id" => Ok(TieBreak::ProjectId),
                "min-cost" => Ok(TieBreak::LowestCost),
                "max-votes" => Ok(TieBreak::MostVotes),
                "file-order" => Ok(TieBreak::FileOrder),
                "refuse" => Ok(TieBreak::Refuse),
                other => other
                    .strip_prefix("explicit(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .map(|list| TieBreak::Explicit(list.split('|').map(str::to_owned).collect()))
                    .ok_or(TallyError::InvalidTieBreaking {
                        reason: "expected id, min-cost, max-votes, file-order, explicit(a|b|…) or refuse",
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        TieBreaking::new(steps)
    }
}

impl TryFrom<Vec<TieBreak>> for TieBreaking {
    type Error = TallyError;
    fn try_from(steps: Vec<TieBreak>) -> Result<Self, Self::Error> {
        TieBreaking::new(steps).map_err(crate::wire::refused)
    }
}

impl From<TieBreaking> for Vec<TieBreak> {
    fn from(t: TieBreaking) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::{Candidate, Profile, ProfileKind};

    fn election() -> Election {
        let candidates = vec![
            Candidate::new("9", 50),
            Candidate::new("10", 50),
            Candidate::new("b", 20),
        ];
        Election::new(
            100,
            candidates,
            Profile::builder(ProfileKind::Approval, 3).build(),
        )
        .unwrap()
    }

    #[test]
    fn each_step_orders_as_documented() {
        let e = election();
        let support = [1, 3, 3];
        let cmp = |s: &str, a, b| {
            s.parse::<TieBreaking>()
                .unwrap()
                .compare(&e, &support, a, b)
        };
        assert_eq!(cmp("id", 1, 0), Ordering::Less, "\"10\" < \"9\" as text");
        assert_eq!(cmp("min-cost", 2, 0), Ordering::Less);
        assert_eq!(cmp("min-cost", 0, 1), Ordering::Equal);
        assert_eq!(cmp("max-votes", 1, 0), Ordering::Less);
        assert_eq!(cmp("file-order", 0, 1), Ordering::Less);
        assert_eq!(cmp("explicit(b|9)", 2, 0), Ordering::Less);
        assert_eq!(cmp("explicit(b)", 0, 1), Ordering::Equal);
        assert_eq!(cmp("min-cost,file-order", 1, 0), Ordering::Greater);
        assert_eq!(cmp("refuse", 1, 0), Ordering::Equal);
    }

    #[test]
    fn ranks_agree_with_compare() {
        let e = election();
        let support = [1, 3, 3];
        for chain in [
            "id",
            "min-cost",
            "max-votes",
            "file-order",
            "explicit(b|9)",
            "explicit(b)",
            "min-cost,file-order",
            "max-votes,refuse",
            "refuse",
        ] {
            let chain: TieBreaking = chain.parse().unwrap();
            let ranks = chain.ranks(&e, &support);
            for a in 0..3 {
                for b in 0..3 {
                    assert_eq!(
                        ranks[a].cmp(&ranks[b]),
                        chain.compare(&e, &support, a, b),
                        "{chain}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn chains_are_validated() {
        assert!("".parse::<TieBreaking>().is_err());
        assert!("refuse,id".parse::<TieBreaking>().is_err());
        assert!("coin".parse::<TieBreaking>().is_err());
        assert!(TieBreaking::new(vec![]).is_err());
        let t: TieBreaking = "explicit(a|b),refuse".parse().unwrap();
        assert_eq!(t.to_string(), "explicit(a|b),refuse");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TieBreaking>(&json).unwrap(), t);
        assert!(serde_json::from_str::<TieBreaking>("[]").is_err());
    }
}
