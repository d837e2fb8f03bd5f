//! The compact ballot profile tallies read.

use serde::{Deserialize, Serialize};

use super::TallyError;
use crate::hash::HashKeys;

/// What the entries of a profile mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// Each ballot is a set of approved projects (approval and knapsack ballots).
    Approval,
    /// Each ballot gives points to projects (cumulative and scoring ballots).
    Points,
    /// Each ballot ranks projects, best first.
    Ranking,
}

/// One distinct ballot of a profile and how many voters cast it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BallotView<'p> {
    /// Project indices: sorted for approval and points ballots, best first for
    /// rankings.
    pub projects: &'p [u32],
    /// Points per project, aligned with `projects` (empty unless
    /// [`ProfileKind::Points`]).
    pub points: &'p [u32],
    /// How many voters cast exactly this ballot.
    pub count: u64,
}

/// Ballots in flat arrays: identical ballots are stored once with a count
/// (past [`MERGE_LIMIT`] distinct ballots, only where merging pays).
///
/// Entries of distinct ballot `b` are `projects[offsets[b]..offsets[b + 1]]`; for a
/// points profile `points` runs alongside. A hundred thousand voters with five
/// approvals each take about 3 MB even when every ballot differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    kind: ProfileKind,
    num_projects: usize,
    offsets: Vec<u32>,
    projects: Vec<u32>,
    points: Vec<u32>,
    counts: Vec<u64>,
    voters: u64,
    /// For rankings: the number of positions that score (a ranked project at
    /// position `r`, counted from 0, scores `ranking_length - r` Borda points).
    ranking_length: u32,
}

impl Profile {
    /// Starts a profile of `kind` over `num_projects` projects.
    pub fn builder(kind: ProfileKind, num_projects: usize) -> ProfileBuilder {
        ProfileBuilder::new(Profile {
            kind,
            num_projects,
            offsets: vec![0],
            projects: Vec::new(),
            points: Vec::new(),
            counts: Vec::new(),
            voters: 0,
            ranking_length: 0,
        })
    }

    /// The kind of ballots.
    pub fn kind(&self) -> ProfileKind {
        self.kind
    }

    /// Number of projects the ballots refer to.
    pub fn num_projects(&self) -> usize {
        self.num_projects
    }

    /// Number of voters (ballots counted with their multiplicity).
    pub fn num_voters(&self) -> u64 {
        self.voters
    }

    /// Number of ballots stored: the distinct ballots, counted once each (see
    /// [`MERGE_LIMIT`] for very large elections).
    pub fn num_distinct(&self) -> usize {
        self.counts.len()
    }

    /// Voters per distinct ballot, in the order of [`Profile::iter`].
    pub(crate) fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Distinct ballot `b`.
    pub fn ballot(&self, b: usize) -> Option<BallotView<'_>> {
        let start = usize::try_from(*self.offsets.get(b)?).ok()?;
        let end = usize::try_from(*self.offsets.get(b + 1)?).ok()?;
        Some(BallotView {
            projects: self.projects.get(start..end)?,
            points: if self.kind == ProfileKind::Points {
                self.points.get(start..end)?
            } else {
                &[]
            },
            count: *self.counts.get(b)?,
        })
    }

    /// The distinct ballots with their counts.
    pub fn iter(&self) -> impl Iterator<Item = BallotView<'_>> + '_ {
        (0..self.counts.len()).filter_map(|b| self.ballot(b))
    }

    /// For rankings: the number of scoring positions (see [`ProfileBuilder::ranking_length`]).
    pub fn ranking_length(&self) -> u32 {
        self.ranking_length
    }

    /// Support per project: voters approving it, the points it got, or for
    /// rankings its Borda score (position `r` from 0 scores `ranking_length - r`;
    /// with rankings of three, 3 for the first, 2 for the second, 1 for the
    /// third, as Kraków counts).
    ///
    /// # Errors
    /// [`TallyError::Overflow`] if a sum exceeds 64 bits.
    pub fn support(&self) -> Result<Vec<u64>, TallyError> {
        let mut support = vec![0_u64; self.num_projects];
        for ballot in self.iter() {
            for (k, &p) in ballot.projects.iter().enumerate() {
                let weight = match self.kind {
                    ProfileKind::Points => ballot
                        .points
                        .get(k)
                        .map_or(0, |&v| u64::from(v))
                        .checked_mul(ballot.count)
                        .ok_or(TallyError::Overflow)?,
                    ProfileKind::Approval => ballot.count,
                    ProfileKind::Ranking => {
                        let points = self
                            .ranking_length
                            .saturating_sub(u32::try_from(k).unwrap_or(u32::MAX));
                        u64::from(points)
                            .checked_mul(ballot.count)
                            .ok_or(TallyError::Overflow)?
                    }
                };
                // Errors are made only where they happen (`let … else`): an
                // error built for every entry and dropped costs a call each.
                let Some(slot) = support.get_mut(p as usize) else {
                    return Err(TallyError::ProjectOutOfRange {
                        index: p,
                        projects: self.num_projects,
                    });
                };
                let Some(sum) = slot.checked_add(weight) else {
                    return Err(TallyError::Overflow);
                };
                *slot = sum;
            }
        }
        Ok(support)
    }

    /// The support one voter whose ballot names only one project gives it
    /// ([`Profile::with_voters_for`]): 1 for an approval, the most points any
    /// ballot gives (at least 1), the ranking length in Borda points.
    pub(crate) fn newcomer_support(&self) -> u64 {
        match self.kind {
            ProfileKind::Approval => 1,
            ProfileKind::Points => u64::from(self.points.iter().copied().max().unwrap_or(1).max(1)),
            ProfileKind::Ranking => u64::from(self.ranking_length.max(1)),
        }
    }

    /// This profile with `count` more voters whose ballot names only
    /// `project`: an approval of it, the most points any ballot gives any
    /// project (at least 1), or a ranking of it alone (which scores the
    /// ranking length in Borda points). The counterfactual voters
    /// [`explain`](super::explain) adds.
    pub(crate) fn with_voters_for(&self, project: u32, count: u64) -> Result<Profile, TallyError> {
        let mut p = self.clone();
        let end = u32::try_from(p.projects.len() + 1).map_err(|_| TallyError::Overflow)?;
        p.projects.push(project);
        if p.kind == ProfileKind::Points {
            p.points
                .push(u32::try_from(self.newcomer_support()).unwrap_or(u32::MAX));
        }
        p.offsets.push(end);
        p.counts.push(count);
        p.voters = p.voters.checked_add(count).ok_or(TallyError::Overflow)?;
        Ok(p)
    }

    /// Approximate heap memory in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4
            + self.projects.capacity() * 4
            + self.points.capacity() * 4
            + self.counts.capacity() * 8
    }
}

/// Builds a [`Profile`], merging identical ballots.
///
/// Distinct ballots are found through an open-addressing table. Short ballots
/// are hashed with a fixed cheap hash while probes stay short; if one grows
/// long (as ballots built to collide make it), every ballot is hashed anew with
/// random keys drawn per builder and a hash whose collisions are bounded, which
/// long ballots always use. So no set of ballots makes counting quadratic. A
/// short ballot (the usual case) is also packed into a 64-bit
/// key kept in its table slot with its count, so a repeated ballot is counted by
/// touching that one slot; longer ballots are compared against the profile's
/// arrays. Pushing a ballot allocates nothing beyond the growth of those arrays.
#[derive(Debug)]
pub struct ProfileBuilder {
    profile: Profile,
    fixed_ranking_length: Option<u32>,
    /// Zero or a power of two long, at most three quarters full.
    table: Vec<Slot>,
    /// Bits that hold any project index (for packed keys).
    index_bits: u32,
    scratch: Vec<u32>,
    scratch_points: Vec<u32>,
    scratch_pairs: Vec<(u32, u32)>,
    /// Per project, the number of the last long-ranking check that saw it
    /// (empty until the first long ranking).
    marks: Vec<u32>,
    mark: u32,
    /// This builder's random hash keys.
    keys: HashKeys,
    /// Whether packed keys are hashed with the strong hash (after a long probe).
    strong: bool,
    /// Ballots pushed (each call, whatever its count).
    pushed: u64,
    /// Past [`MERGE_LIMIT`] distinct ballots, most of them seen once: the
    /// table takes no new ballots (a repeat of one it holds is still merged),
    /// and new ballots are stored as they come.
    frozen: bool,
    /// Past [`MERGE_LIMIT`] distinct ballots, where at least one ballot in
    /// three repeated an earlier one: merging goes on without a limit.
    merging: bool,
    /// Once frozen: a byte per table slot, 0 where it is empty, else a few bits
    /// of its ballot's tag ([`print`]). Small enough to stay in cache where the
    /// table is not, it turns away most ballots the table does not hold
    /// without reading the table.
    prints: Vec<u8>,
}

/// A slot's byte in [`ProfileBuilder::prints`]: the tag's low bits (the slot
/// is chosen by its top bits), never 0.
fn print(tag: u32) -> u8 {
    (tag as u8).max(1)
}

/// Distinct ballots the builder's table holds before it looks at whether
/// merging pays. Where fewer than one ballot in three so far repeated an
/// earlier one (a large election of varied ballots, such as a million voters
/// choosing five of 500 projects), the table takes no more: a ballot it holds
/// (the common ones, met early) is still merged, any other is stored as it
/// comes. A table past this size would cost a cache miss per ballot and, at
/// ten million voters, hundreds of megabytes, for few repeats. Where repeats
/// are common, merging goes on without a limit. Merging changes no count: a
/// ballot stored twice counts as its voters either way.
pub const MERGE_LIMIT: usize = 1 << 16;

/// A probe longer than this makes the builder hash packed keys with the strong
/// hash: with at most three quarters of the table full and a good hash, a probe
/// this long is very unlikely, and a file built to collide under the fixed hash
/// costs at most this many probes per ballot before it is found out.
const PROBE_LIMIT: usize = 64;

/// Multiplier of the fixed cheap hash of packed keys (Fx's).
const FAST_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Unsorted entry lists up to this long are checked for repeats pairwise.
const SHORT_UNSORTED: usize = 16;

/// One distinct ballot in the builder's table.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The packed ballot, or [`NO_KEY`] if it does not fit.
    key: u64,
    /// The top 32 bits of the ballot's hash.
    tag: u32,
    /// The ballot's index + 1; 0 marks an empty slot.
    ballot: u32,
    /// Voters who cast it (copied into the profile by `build`).
    count: u64,
}

/// The key of a ballot too long to pack.
const NO_KEY: u64 = u64::MAX;

/// Why entries were refused; small, so the per-ballot path returns it in
/// registers. Becomes a [`TallyError`] at the public methods.
#[derive(Debug, Clone, Copy)]
enum EntryError {
    OutOfRange(u32),
    Repeated(u32),
    Overflow,
}

impl EntryError {
    #[cold]
    fn into_tally(self, projects: usize) -> TallyError {
        match self {
            EntryError::OutOfRange(index) => TallyError::ProjectOutOfRange { index, projects },
            EntryError::Repeated(index) => TallyError::DuplicateInBallot { index },
            EntryError::Overflow => TallyError::Overflow,
        }
    }
}

/// Sorts a ballot: insertion sort for the usual few entries.
fn sort_small(v: &mut [u32]) {
    if v.len() > 16 {
        v.sort_unstable();
        return;
    }
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            match (v.get(j - 1).copied(), v.get(j).copied()) {
                (Some(a), Some(b)) if a > b => v.swap(j - 1, j),
                _ => break,
            }
            j -= 1;
        }
    }
}

impl ProfileBuilder {
    fn new(profile: Profile) -> ProfileBuilder {
        let index_bits = (usize::BITS - profile.num_projects.leading_zeros()).max(1);
        ProfileBuilder {
            profile,
            fixed_ranking_length: None,
            table: Vec::new(),
            index_bits,
            scratch: Vec::new(),
            scratch_points: Vec::new(),
            scratch_pairs: Vec::new(),
            marks: Vec::new(),
            mark: 0,
            keys: HashKeys::new(3),
            strong: false,
            pushed: 0,
            frozen: false,
            prints: Vec::new(),
            merging: false,
        }
    }

    /// Rankings: the number of positions that score Borda points (such as a
    /// file's `max_length`). By default, the length of the longest ranking.
    pub fn ranking_length(&mut self, length: u32) -> &mut Self {
        self.fixed_ranking_length = Some(length);
        self
    }

    /// Makes room for about `ballots` more distinct ballots with `entries`
    /// entries in all, so that building a large profile does not copy its
    /// arrays as they grow. A hint: more may still be pushed.
    pub fn reserve(&mut self, ballots: usize, entries: usize) -> &mut Self {
        let p = &mut self.profile;
        p.offsets.reserve(ballots);
        p.counts.reserve(ballots);
        p.projects.reserve(entries);
        if p.kind == ProfileKind::Points {
            p.points.reserve(entries);
        }
        self
    }

    /// Adds `count` voters approving `projects` (any order).
    ///
    /// # Errors
    /// A wrong profile kind, an index out of range, or a project named twice.
    pub fn push_approval(&mut self, projects: &[u32], count: u64) -> Result<(), TallyError> {
        self.expect_kind(ProfileKind::Approval)?;
        if projects.is_sorted() {
            return self
                .push_entries(projects, &[], count, true)
                .map_err(|e| e.into_tally(self.profile.num_projects));
        }
        let mut sorted = std::mem::take(&mut self.scratch);
        sorted.clear();
        sorted.extend_from_slice(projects);
        sort_small(&mut sorted);
        let result = self.push_entries(&sorted, &[], count, true);
        self.scratch = sorted;
        result.map_err(|e| e.into_tally(self.profile.num_projects))
    }

    /// Adds `count` voters giving `points` to projects; entries with zero points
    /// are dropped (they express no support).
    ///
    /// # Errors
    /// A wrong profile kind, an index out of range, or a project named twice.
    pub fn push_points(&mut self, entries: &[(u32, u32)], count: u64) -> Result<(), TallyError> {
        self.expect_kind(ProfileKind::Points)?;
        let mut pairs = std::mem::take(&mut self.scratch_pairs);
        let mut projects = std::mem::take(&mut self.scratch);
        let mut points = std::mem::take(&mut self.scratch_points);
        pairs.clear();
        pairs.extend(entries.iter().copied().filter(|e| e.1 > 0));
        pairs.sort_unstable();
        projects.clear();
        points.clear();
        projects.extend(pairs.iter().map(|e| e.0));
        points.extend(pairs.iter().map(|e| e.1));
        let result = self.push_entries(&projects, &points, count, true);
        self.scratch_pairs = pairs;
        self.scratch = projects;
        self.scratch_points = points;
        result.map_err(|e| e.into_tally(self.profile.num_projects))
    }

    /// Adds `count` voters ranking `projects`, best first.
    ///
    /// # Errors
    /// A wrong profile kind, an index out of range, or a project named twice.
    pub fn push_ranking(&mut self, projects: &[u32], count: u64) -> Result<(), TallyError> {
        self.expect_kind(ProfileKind::Ranking)?;
        self.push_entries(projects, &[], count, false)
            .map_err(|e| e.into_tally(self.profile.num_projects))?;
        let len = u32::try_from(projects.len()).unwrap_or(u32::MAX);
        self.profile.ranking_length = self.profile.ranking_length.max(len);
        Ok(())
    }

    fn expect_kind(&self, given: ProfileKind) -> Result<(), TallyError> {
        if self.profile.kind == given {
            Ok(())
        } else {
            Err(TallyError::WrongBallotKind {
                kind: self.profile.kind,
                given,
            })
        }
    }

    /// Checks the entries: in range, none twice (`sorted`: repeats are
    /// neighbours). The first offending entry decides the error. An unsorted
    /// list longer than [`SHORT_UNSORTED`] is checked with a mark per project, so
    /// the check takes time linear in its length.
    fn check_entries(&mut self, projects: &[u32], sorted: bool) -> Result<(), EntryError> {
        let n = self.profile.num_projects;
        if !sorted && projects.len() > SHORT_UNSORTED {
            return self.check_long_unsorted(projects);
        }
        let mut previous = None;
        for (k, &p) in projects.iter().enumerate() {
            if p as usize >= n {
                return Err(EntryError::OutOfRange(p));
            }
            let repeated = if sorted {
                previous == Some(p)
            } else {
                projects.get(..k).is_some_and(|before| before.contains(&p))
            };
            if repeated {
                return Err(EntryError::Repeated(p));
            }
            previous = Some(p);
        }
        Ok(())
    }

    /// [`check_entries`](Self::check_entries) for a long unsorted list: each
    /// project's mark holds the number of the check that last saw it.
    fn check_long_unsorted(&mut self, projects: &[u32]) -> Result<(), EntryError> {
        let n = self.profile.num_projects;
        if self.marks.len() != n {
            self.marks = vec![0; n];
            self.mark = 0;
        }
        self.mark = self.mark.wrapping_add(1);
        if self.mark == 0 {
            self.marks.fill(0);
            self.mark = 1;
        }
        for &p in projects {
            let Some(seen) = self.marks.get_mut(p as usize) else {
                return Err(EntryError::OutOfRange(p));
            };
            if *seen == self.mark {
                return Err(EntryError::Repeated(p));
            }
            *seen = self.mark;
        }
        Ok(())
    }

    fn push_entries(
        &mut self,
        projects: &[u32],
        points: &[u32],
        count: u64,
        sorted: bool,
    ) -> Result<(), EntryError> {
        self.check_entries(projects, sorted)?;
        let voters = self
            .profile
            .voters
            .checked_add(count)
            .ok_or(EntryError::Overflow)?;
        self.pushed += 1;
        let distinct = self.profile.counts.len();
        if !self.merging && !self.frozen && distinct >= MERGE_LIMIT {
            // Merging pays where at least one ballot in three so far repeated
            // one seen before.
            let repeats = (self.pushed - 1).saturating_sub(distinct as u64);
            if repeats >= distinct as u64 / 2 {
                self.merging = true;
            } else {
                self.frozen = true;
                self.take_prints();
            }
        }
        let key = self.packed_key(projects, points);
        let tag = self.tag(key, projects, points);
        // At most three quarters full.
        if !self.frozen && (distinct + 1) * 4 > self.table.len() * 3 {
            self.grow()?;
        }
        let mask = self.table.len() - 1;
        let mut i = self.home(tag);
        let want = print(tag);
        for probe in 0..self.table.len() {
            if probe > PROBE_LIMIT && !self.strong {
                // Unlucky keys, or ballots made to collide: hash them all anew
                // with the hash that has a bound, and place this one again.
                self.strong = true;
                self.rehash();
                return self.push_entries(projects, points, count, true);
            }
            match self.prints.get(i) {
                // Frozen, and an empty slot: not among the table's ballots.
                Some(0) => return self.append(projects, points, count, voters),
                Some(&p) if p != want => {
                    i = (i + 1) & mask;
                    continue;
                }
                _ => {}
            }
            let Some(slot) = self.table.get(i).copied() else {
                break;
            };
            if slot.ballot == 0 {
                // (Frozen, an empty slot has turned the ballot away above.)
                // A new distinct ballot; its count lives in the slot.
                let ballot = u32::try_from(distinct + 1).map_err(|_| EntryError::Overflow)?;
                self.append(projects, points, 0, voters)?;
                if let Some(s) = self.table.get_mut(i) {
                    *s = Slot {
                        key,
                        tag,
                        ballot,
                        count,
                    };
                }
                return Ok(());
            }
            if slot.tag == tag
                && slot.key == key
                && (key != NO_KEY || self.same_ballot(slot.ballot as usize - 1, projects, points))
            {
                if let Some(s) = self.table.get_mut(i) {
                    // Cannot overflow: counts add up to `voters`.
                    s.count = s.count.saturating_add(count);
                }
                self.profile.voters = voters;
                return Ok(());
            }
            i = (i + 1) & mask;
        }
        // The table always has empty slots; this is not reached.
        Err(EntryError::Overflow)
    }

    /// Stores a new distinct ballot with `stored` as its count in the profile
    /// (0 while the table keeps it) and `voters` in all.
    fn append(
        &mut self,
        projects: &[u32],
        points: &[u32],
        stored: u64,
        voters: u64,
    ) -> Result<(), EntryError> {
        let end = u32::try_from(self.profile.projects.len() + projects.len())
            .map_err(|_| EntryError::Overflow)?;
        u32::try_from(self.profile.counts.len() + 1).map_err(|_| EntryError::Overflow)?;
        self.profile.projects.extend_from_slice(projects);
        self.profile.points.extend_from_slice(points);
        self.profile.offsets.push(end);
        self.profile.counts.push(stored);
        self.profile.voters = voters;
        Ok(())
    }

    /// Copies the counts kept in table slots into the profile.
    fn flush_counts(&mut self) {
        for slot in &self.table {
            if let Some(c) = (slot.ballot as usize)
                .checked_sub(1)
                .and_then(|b| self.profile.counts.get_mut(b))
            {
                *c = slot.count;
            }
        }
    }

    /// The ballot packed into 64 bits: a leading 1, then each project index in
    /// `index_bits` (and, for points, each value in 8 bits); [`NO_KEY`] if it
    /// does not fit. Entries are checked to be in range first.
    fn packed_key(&self, projects: &[u32], points: &[u32]) -> u64 {
        let with_points = !points.is_empty();
        let per_entry = self.index_bits + if with_points { 8 } else { 0 };
        if projects.len() as u64 * u64::from(per_entry) > 62 {
            return NO_KEY;
        }
        let mut key = 1_u64;
        for (k, &p) in projects.iter().enumerate() {
            key = (key << self.index_bits) | u64::from(p);
            if with_points {
                match points.get(k) {
                    Some(&v) if v < 256 => key = (key << 8) | u64::from(v),
                    _ => return NO_KEY,
                }
            }
        }
        key
    }

    /// The table slot a tag starts probing at (its top bits; the table never
    /// has more than 2^32 slots).
    fn home(&self, tag: u32) -> usize {
        let bits = self.table.len().trailing_zeros();
        if bits == 0 {
            0
        } else {
            (tag >> (32 - bits.min(32))) as usize
        }
    }

    fn same_ballot(&self, b: usize, projects: &[u32], points: &[u32]) -> bool {
        let range = || {
            let start = *self.profile.offsets.get(b)? as usize;
            let end = *self.profile.offsets.get(b + 1)? as usize;
            Some(start..end)
        };
        let Some(range) = range() else { return false };
        // Ballots are short: compare in a plain loop rather than call memcmp.
        let same = |stored: Option<&[u32]>, given: &[u32]| {
            stored
                .is_some_and(|s| s.len() == given.len() && s.iter().zip(given).all(|(a, b)| a == b))
        };
        same(self.profile.projects.get(range.clone()), projects)
            && (points.is_empty() || same(self.profile.points.get(range), points))
    }

    /// The top 32 bits of a ballot's hash: for a packed key, a fixed cheap hash
    /// until a probe grows long, then the strong one with random keys; for a
    /// ballot too long to pack, always the strong one.
    #[inline(always)]
    fn tag(&mut self, key: u64, projects: &[u32], points: &[u32]) -> u32 {
        let hash = if key == NO_KEY {
            self.keys.ballot(projects, points)
        } else if self.strong {
            self.keys.word(key)
        } else {
            (key ^ (key >> 31)).wrapping_mul(FAST_SEED)
        };
        (hash >> 32) as u32
    }

    /// Recomputes every ballot's tag (after `strong` changed) and re-places
    /// them in a table of the same size.
    fn rehash(&mut self) {
        let mut table = std::mem::take(&mut self.table);
        for slot in table.iter_mut().filter(|s| s.ballot != 0) {
            let b = slot.ballot as usize - 1;
            let range = || {
                let start = *self.profile.offsets.get(b)? as usize;
                let end = *self.profile.offsets.get(b + 1)? as usize;
                Some(start..end)
            };
            let range = range().unwrap_or(0..0);
            let projects = self.profile.projects.get(range.clone()).unwrap_or_default();
            let points = if self.profile.kind == ProfileKind::Points {
                self.profile.points.get(range).unwrap_or_default()
            } else {
                &[]
            };
            let hash = if slot.key == NO_KEY {
                self.keys.ballot(projects, points)
            } else {
                self.keys.word(slot.key)
            };
            slot.tag = (hash >> 32) as u32;
        }
        let len = table.len();
        self.table = vec![Slot::default(); len];
        self.place(table);
        if self.frozen {
            self.take_prints();
        }
    }

    /// Fills [`prints`](Self::prints) from the table (which no longer takes
    /// new ballots).
    fn take_prints(&mut self) {
        self.prints = self
            .table
            .iter()
            .map(|s| if s.ballot == 0 { 0 } else { print(s.tag) })
            .collect();
    }

    /// Puts `slots`' ballots into the (empty) table by their tags.
    fn place(&mut self, slots: Vec<Slot>) {
        let mask = self.table.len().wrapping_sub(1);
        for slot in slots.into_iter().filter(|s| s.ballot != 0) {
            let mut i = self.home(slot.tag);
            while let Some(s) = self.table.get_mut(i) {
                if s.ballot == 0 {
                    *s = slot;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// Doubles the table (16 slots at first) and re-places every ballot.
    fn grow(&mut self) -> Result<(), EntryError> {
        let len = self
            .table
            .len()
            .max(8)
            .checked_mul(2)
            .filter(|&n| n <= 1 << 32)
            .ok_or(EntryError::Overflow)?;
        let old = std::mem::replace(&mut self.table, vec![Slot::default(); len]);
        self.place(old);
        Ok(())
    }

    /// Finishes the profile.
    pub fn build(mut self) -> Profile {
        if let Some(length) = self.fixed_ranking_length {
            self.profile.ranking_length = length;
        }
        self.flush_counts();
        self.profile.offsets.shrink_to_fit();
        self.profile.projects.shrink_to_fit();
        self.profile.points.shrink_to_fit();
        self.profile.counts.shrink_to_fit();
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three distinct projects out of `n` for ballot `i` (distinct for
    /// distinct `i` below `n³`).
    fn triple(i: u32, n: u32) -> [u32; 3] {
        let (a, b, c) = (i % n, (i / n) % n, i / n / n);
        let mut t = [a, b + n, c + 2 * n];
        t.sort_unstable();
        t
    }

    #[test]
    fn past_the_merge_limit_merging_goes_on_only_where_it_pays() {
        let n = 128;
        let distinct = MERGE_LIMIT as u32 + 1_000;
        // Each ballot once: past the limit the table takes no new ballots. A
        // repeat of one it holds is merged; a repeat of one stored after it
        // filled is stored again. The counts stay right either way.
        let mut once = Profile::builder(ProfileKind::Approval, 3 * n as usize);
        for i in 0..distinct {
            once.push_approval(&triple(i, n), 1).unwrap();
        }
        once.push_approval(&triple(0, n), 2).unwrap();
        once.push_approval(&triple(distinct - 1, n), 2).unwrap();
        let once = once.build();
        assert_eq!(once.num_voters(), u64::from(distinct) + 4);
        assert_eq!(once.num_distinct(), distinct as usize + 1);
        assert_eq!(once.ballot(0).map(|b| b.count), Some(3));
        assert_eq!(once.ballot(distinct as usize - 1).map(|b| b.count), Some(1));
        assert_eq!(once.ballot(distinct as usize).map(|b| b.count), Some(2));
        let support = once.support().unwrap();
        assert_eq!(support.iter().sum::<u64>(), 3 * (u64::from(distinct) + 4));
        // Each ballot twice in a row: merging pays and goes on past the limit.
        let mut twice = Profile::builder(ProfileKind::Approval, 3 * n as usize);
        for i in 0..distinct {
            twice.push_approval(&triple(i, n), 1).unwrap();
            twice.push_approval(&triple(i, n), 1).unwrap();
        }
        let twice = twice.build();
        assert_eq!(twice.num_distinct(), distinct as usize);
        assert!(twice.iter().all(|b| b.count == 2));
        // The same support as counting each ballot of the first profile
        // twice (without its extra repeats).
        let mut expected: Vec<u64> = support.iter().map(|s| 2 * s).collect();
        for p in triple(0, n).into_iter().chain(triple(distinct - 1, n)) {
            expected[p as usize] -= 4;
        }
        assert_eq!(twice.support().unwrap(), expected);
    }

    #[test]
    fn identical_ballots_are_stored_once() {
        let mut b = Profile::builder(ProfileKind::Approval, 3);
        b.push_approval(&[2, 0], 1).unwrap();
        b.push_approval(&[0, 2], 4).unwrap();
        b.push_approval(&[1], 1).unwrap();
        let p = b.build();
        assert_eq!(p.num_voters(), 6);
        assert_eq!(p.num_distinct(), 2);
        let first = p.ballot(0).unwrap();
        assert_eq!(first.projects, &[0, 2]);
        assert_eq!(first.count, 5);
        assert_eq!(p.support().unwrap(), vec![5, 1, 5]);
        assert!(p.ballot(2).is_none());
    }

    #[test]
    fn points_keep_values_and_drop_zeros() {
        let mut b = Profile::builder(ProfileKind::Points, 3);
        b.push_points(&[(2, 3), (0, 1), (1, 0)], 2).unwrap();
        b.push_points(&[(0, 1), (2, 3)], 1).unwrap();
        let p = b.build();
        assert_eq!(p.num_distinct(), 1);
        let ballot = p.ballot(0).unwrap();
        assert_eq!(ballot.projects, &[0, 2]);
        assert_eq!(ballot.points, &[1, 3]);
        assert_eq!(p.support().unwrap(), vec![3, 0, 9]);
    }

    #[test]
    fn rankings_keep_order() {
        let mut b = Profile::builder(ProfileKind::Ranking, 3);
        b.push_ranking(&[2, 0], 1).unwrap();
        b.push_ranking(&[0, 2], 1).unwrap();
        b.push_ranking(&[1], 2).unwrap();
        let p = b.build();
        assert_eq!(p.num_distinct(), 3);
        assert_eq!(p.ranking_length(), 2);
        // Borda over two positions: first 2 points, second 1.
        assert_eq!(p.support().unwrap(), vec![3, 4, 3]);
        let mut b = Profile::builder(ProfileKind::Ranking, 3);
        b.ranking_length(3);
        b.push_ranking(&[2, 0], 1).unwrap();
        assert_eq!(b.build().support().unwrap(), vec![2, 0, 3]);
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut b = Profile::builder(ProfileKind::Approval, 2);
        assert_eq!(
            b.push_approval(&[2], 1),
            Err(TallyError::ProjectOutOfRange {
                index: 2,
                projects: 2
            })
        );
        assert_eq!(
            b.push_approval(&[1, 1], 1),
            Err(TallyError::DuplicateInBallot { index: 1 })
        );
        assert!(matches!(
            b.push_ranking(&[0], 1),
            Err(TallyError::WrongBallotKind { .. })
        ));
        assert!(matches!(
            b.push_points(&[(0, 1)], 1),
            Err(TallyError::WrongBallotKind { .. })
        ));
        b.push_approval(&[0], u64::MAX).unwrap();
        assert_eq!(b.push_approval(&[1], 1), Err(TallyError::Overflow));
        assert_eq!(b.build().num_voters(), u64::MAX);
    }

    /// A long ranking is checked by marks: the first repeat in order (or the
    /// first index out of range) is the error, as for a short one, and a later
    /// ranking is not confused by an earlier one's marks.
    #[test]
    fn long_rankings_are_checked_in_order() {
        let mut b = Profile::builder(ProfileKind::Ranking, 100);
        let mut ranking: Vec<u32> = (0..40).collect();
        b.push_ranking(&ranking, 1).unwrap();
        b.push_ranking(&ranking, 1).unwrap();
        ranking.extend([7, 3]);
        assert_eq!(
            b.push_ranking(&ranking, 1),
            Err(TallyError::DuplicateInBallot { index: 7 })
        );
        ranking.truncate(40);
        ranking.push(100);
        assert_eq!(
            b.push_ranking(&ranking, 1),
            Err(TallyError::ProjectOutOfRange {
                index: 100,
                projects: 100
            })
        );
        let p = b.build();
        assert_eq!((p.num_voters(), p.num_distinct()), (2, 1));
    }

    /// Turning to the strong hash midway (as a long probe does) keeps every
    /// ballot found: packed and long ones, before and after.
    #[test]
    fn rehashing_keeps_every_ballot() {
        let mut b = Profile::builder(ProfileKind::Points, 40);
        let ballot = |k: u32| -> Vec<(u32, u32)> {
            let len = if k.is_multiple_of(7) { 7 } else { 1 + k % 3 };
            (0..len)
                .map(|j| ((k + j * 5) % 40, 1 + (k + j) % 300))
                .collect()
        };
        for k in 0..500 {
            b.push_points(&ballot(k), 1).unwrap();
        }
        assert!(!b.strong);
        b.strong = true;
        b.rehash();
        for k in 0..1000 {
            b.push_points(&ballot(k % 600), 1).unwrap();
        }
        let p = b.build();
        assert_eq!(p.num_voters(), 1500);
        let mut expected = std::collections::HashMap::new();
        for k in (0..500).chain((0..1000).map(|k| k % 600)) {
            let mut e = ballot(k);
            e.sort_unstable();
            *expected.entry(e).or_insert(0_u64) += 1;
        }
        assert_eq!(p.num_distinct(), expected.len());
        for v in p.iter() {
            let e: Vec<(u32, u32)> = v
                .projects
                .iter()
                .copied()
                .zip(v.points.iter().copied())
                .collect();
            assert_eq!(expected.get(&e), Some(&v.count), "{e:?}");
        }
    }

    /// A ballot's projects and points.
    type Entries = (Vec<u32>, Vec<u32>);

    /// Many ballots, short (packed keys) and long (compared in memory), with
    /// points large and small: the merged profile counts each distinct ballot
    /// once, in first-seen order, as a plain map would.
    #[test]
    fn merging_agrees_with_a_plain_map() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for (kind, projects) in [
            (ProfileKind::Approval, 5),
            (ProfileKind::Approval, 300),
            (ProfileKind::Ranking, 40),
            (ProfileKind::Points, 12),
        ] {
            let mut builder = Profile::builder(kind, projects);
            let mut expected: Vec<(Entries, u64)> = Vec::new();
            for _ in 0..20_000 {
                let len = if next(10) == 0 { 5 + next(20) } else { next(4) };
                let mut entries: Vec<(u32, u32)> = Vec::new();
                for _ in 0..len {
                    let p = next(projects as u64) as u32;
                    if entries.iter().all(|e| e.0 != p) {
                        let v = if next(5) == 0 {
                            300 + next(10)
                        } else {
                            1 + next(3)
                        };
                        entries.push((p, v as u32));
                    }
                }
                let count = 1 + next(3);
                let ids: Vec<u32> = entries.iter().map(|e| e.0).collect();
                let key = match kind {
                    ProfileKind::Approval => {
                        builder.push_approval(&ids, count).unwrap();
                        let mut sorted = ids.clone();
                        sorted.sort_unstable();
                        (sorted, vec![])
                    }
                    ProfileKind::Ranking => {
                        builder.push_ranking(&ids, count).unwrap();
                        (ids, vec![])
                    }
                    ProfileKind::Points => {
                        builder.push_points(&entries, count).unwrap();
                        let mut sorted = entries.clone();
                        sorted.sort_unstable();
                        sorted.into_iter().unzip()
                    }
                };
                match expected.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, c)) => *c += count,
                    None => expected.push((key, count)),
                }
            }
            let profile = builder.build();
            let got: Vec<(Entries, u64)> = profile
                .iter()
                .map(|b| ((b.projects.to_vec(), b.points.to_vec()), b.count))
                .collect();
            assert_eq!(got, expected, "{kind:?} over {projects} projects");
            let voters: u64 = expected.iter().map(|e| e.1).sum();
            assert_eq!(profile.num_voters(), voters);
        }
    }
}
