//! Who supports what: the profile turned around, per project.

use super::{Election, Profile, ProfileKind, TallyError};

/// For each project, the distinct ballots that support it and the utility each
/// gives (1 for an approval, the points, or the Borda points of a ranking), plus
/// how many voters cast each distinct ballot. A ballot that gives a project no
/// utility (0 points) is not among its supporters.
#[derive(Debug, Clone)]
pub(crate) struct Supporters {
    offsets: Vec<usize>,
    groups: Vec<u32>,
    /// Each entry's utility; empty when every utility is 1 (approvals), which
    /// saves the memory of one number per approval.
    utilities: Vec<u32>,
    /// The profile, whose counts are the voters per distinct ballot (shared,
    /// not copied: at ten million ballots a copy is 80 MB).
    profile: std::sync::Arc<Profile>,
    /// A bit per distinct ballot, set where more than one voter cast it (1.25 MB
    /// at ten million ballots, where the counts take 80 MB).
    heavy: Vec<u64>,
}

impl Supporters {
    pub(crate) fn new(election: &Election) -> Result<Supporters, TallyError> {
        let profile = election.profile();
        let n = profile.num_projects();
        let length = profile.ranking_length();
        let kind = profile.kind();
        let utility = |ballot: &super::profile::BallotView<'_>, k: usize| -> u32 {
            match kind {
                ProfileKind::Approval => 1,
                ProfileKind::Points => ballot.points.get(k).copied().unwrap_or(0),
                ProfileKind::Ranking => length.saturating_sub(u32::try_from(k).unwrap_or(u32::MAX)),
            }
        };
        let mut counts = vec![0_usize; n + 1];
        for ballot in profile.iter() {
            for (k, &p) in ballot.projects.iter().enumerate() {
                if let Some(c) = counts.get_mut(p as usize + 1)
                    && utility(&ballot, k) > 0
                {
                    *c += 1;
                }
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let total = counts[n];
        let mut next = counts.clone();
        let mut groups = vec![0_u32; total];
        let mut utilities = if kind == ProfileKind::Approval {
            Vec::new()
        } else {
            vec![0_u32; total]
        };
        for (g, ballot) in profile.iter().enumerate() {
            let group = u32::try_from(g).map_err(|_| TallyError::Overflow)?;
            for (k, &p) in ballot.projects.iter().enumerate() {
                let u = utility(&ballot, k);
                if u == 0 {
                    continue;
                }
                let Some(slot) = next.get_mut(p as usize) else {
                    return Err(TallyError::ProjectOutOfRange {
                        index: p,
                        projects: n,
                    });
                };
                groups[*slot] = group;
                if let Some(entry) = utilities.get_mut(*slot) {
                    *entry = u;
                }
                *slot += 1;
            }
        }
        Ok(Supporters {
            offsets: counts,
            groups,
            utilities,
            heavy: heavy(election.profile().counts()),
            profile: election.shared_profile(),
        })
    }

    /// The supporters of project `p`: (distinct ballot, utility).
    pub(crate) fn of(&self, p: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let range = match (self.offsets.get(p), self.offsets.get(p + 1)) {
            (Some(&a), Some(&b)) => a..b,
            _ => 0..0,
        };
        let utilities = self.utilities.get(range.clone()).unwrap_or(&[]);
        self.groups[range]
            .iter()
            .enumerate()
            .map(move |(i, &g)| (g as usize, utilities.get(i).map_or(1, |&u| u64::from(u))))
    }

    /// The distinct ballots supporting project `p`.
    pub(crate) fn groups_of(&self, p: usize) -> &[u32] {
        match (self.offsets.get(p), self.offsets.get(p + 1)) {
            (Some(&a), Some(&b)) => self.groups.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The projects in classes of twins: same `cost(p)` and the same
    /// supporters, with the same utilities when `utilities` is set. Twins
    /// always have the same price under equal shares; with a constant `cost`,
    /// the classes are the projects with the same supporters, whose Phragmén
    /// loads differ only by their costs. Every project is in exactly one class;
    /// classes come in order of their first project. Linear in the number of ballot entries (with a
    /// randomly keyed hash, so inputs cannot be built to collide).
    pub(crate) fn twins(
        &self,
        projects: usize,
        cost: impl Fn(usize) -> u64,
        utilities: bool,
    ) -> Vec<Vec<usize>> {
        use std::collections::HashMap;
        use std::hash::{BuildHasher, Hash, Hasher, RandomState};
        let state = RandomState::new();
        let same = |a: usize, b: usize| {
            cost(a) == cost(b)
                && if utilities {
                    self.of(a).eq(self.of(b))
                } else {
                    self.of(a).map(|(g, _)| g).eq(self.of(b).map(|(g, _)| g))
                }
        };
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::with_capacity(projects);
        let mut classes: Vec<Vec<usize>> = Vec::with_capacity(projects);
        let mut class_of_first: HashMap<usize, usize> = HashMap::new();
        // Twins have the same cost and as many supporters: a project alone
        // in that is a class of its own, found without hashing its supporters.
        let shape = |p: usize| (cost(p), self.groups_of(p).len());
        let mut shapes: HashMap<(u64, usize), usize, RandomState> =
            HashMap::with_capacity_and_hasher(projects, state.clone());
        for p in 0..projects {
            *shapes.entry(shape(p)).or_default() += 1;
        }
        for p in 0..projects {
            if shapes.get(&shape(p)) == Some(&1) {
                classes.push(vec![p]);
                continue;
            }
            let mut h = state.build_hasher();
            cost(p).hash(&mut h);
            for (g, u) in self.of(p) {
                g.hash(&mut h);
                if utilities {
                    u.hash(&mut h);
                }
            }
            let firsts = buckets.entry(h.finish()).or_default();
            match firsts.iter().find(|&&q| same(q, p)) {
                Some(q) => {
                    if let Some(&c) = class_of_first.get(q) {
                        classes[c].push(p);
                    }
                }
                None => {
                    firsts.push(p);
                    class_of_first.insert(p, classes.len());
                    classes.push(vec![p]);
                }
            }
        }
        classes
    }

    /// The same supporters, each giving utility 1 (cardinality utilities).
    pub(crate) fn unit(&self) -> Supporters {
        Supporters {
            offsets: self.offsets.clone(),
            groups: self.groups.clone(),
            utilities: Vec::new(),
            profile: self.profile.clone(),
            heavy: self.heavy.clone(),
        }
    }

    /// Voters per distinct ballot.
    pub(crate) fn weights(&self) -> &[u64] {
        self.profile.counts()
    }

    /// A bit per distinct ballot (ballot `g` is bit `g % 64` of word `g / 64`),
    /// set where its weight is not 1.
    pub(crate) fn heavy(&self) -> &[u64] {
        &self.heavy
    }

    /// Number of distinct ballots.
    pub(crate) fn num_groups(&self) -> usize {
        self.weights().len()
    }
}

/// A bit per count, set where it is not 1.
fn heavy(counts: &[u64]) -> Vec<u64> {
    counts
        .chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0, |word, (k, &c)| word | (u64::from(c != 1) << k))
        })
        .collect()
}
