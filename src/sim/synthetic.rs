//! Synthetic approval elections of any size, as `.pb` files: for measuring the
//! counts past every real election, reproducibly.
//!
//! The model is described at [`Synthetic`].
//!
//! ```
//! use medborgarbudget::sim::Synthetic;
//!
//! let mut pb = Vec::new();
//! Synthetic { voters: 1_000, projects: 50, approvals: 5 }.write(7, &mut pb)?;
//! let file = medborgarbudget::pabulib::parse(&pb)?;
//! assert_eq!(file.election()?.profile().num_voters(), 1_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, BufWriter, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimError;

/// The most voters a synthetic election may have.
pub const MAX_VOTERS: u64 = 100_000_000;
/// The most projects a synthetic election may have.
pub const MAX_PROJECTS: u32 = 100_000;
/// The largest mean number of approvals per voter.
pub const MAX_APPROVALS: u32 = 100;

/// Draws per approval before a ballot is filled with the next projects not
/// taken (never reached in practice: it bounds the loop).
const MAX_DRAWS: u32 = 64;

/// The size of a synthetic approval election, written as a `.pb` file by
/// [`Synthetic::write`].
///
/// # The preference model
///
/// * Projects are numbered `1..=m` (their pabulib ids). Each costs `5,000 ·
///   2^(e + f/8)` whole units rounded down to a hundred, with `e` drawn
///   uniformly from `0..=6` and `f` from `0..8`: costs from 5,000 to about
///   600,000, evenly spread on a log scale.
/// * The budget is a fifth of all the projects' costs together.
/// * Each voter approves `k` distinct projects, `k` uniform in `1..=2a − 1`
///   (mean `a`, [`Synthetic::approvals`]; at most `m`). Each approval picks
///   project `j` with weight `⌊10⁶ / j⌋ + ⌊10⁶ / m⌋`: a few popular projects
///   (a Zipf law) over a floor every project gets. A project drawn twice for
///   one voter is drawn again (after 64 draws per approval, the first
///   projects not yet taken fill the ballot).
///
/// Everything is integer arithmetic on a ChaCha8 stream, so a seed gives the
/// same file on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synthetic {
    /// Voters, 1 to [`MAX_VOTERS`].
    pub voters: u64,
    /// Projects, 1 to [`MAX_PROJECTS`].
    pub projects: u32,
    /// Mean approvals per voter, 1 to [`MAX_APPROVALS`] (and at most half the
    /// projects, rounded up, so that distinct draws end quickly).
    pub approvals: u32,
}

impl Default for Synthetic {
    /// A million voters, 500 projects, five approvals each on average.
    fn default() -> Synthetic {
        Synthetic {
            voters: 1_000_000,
            projects: 500,
            approvals: 5,
        }
    }
}

impl Synthetic {
    /// Checks the sizes against their limits.
    ///
    /// # Errors
    /// [`SimError::Limit`] naming the size out of range.
    pub fn check(&self) -> Result<(), SimError> {
        let out = |what: &str, value: u64, max: u64| SimError::Limit {
            what: what.to_owned(),
            value,
            min: 1,
            max,
        };
        if !(1..=MAX_VOTERS).contains(&self.voters) {
            return Err(out("voters", self.voters, MAX_VOTERS));
        }
        if !(1..=MAX_PROJECTS).contains(&self.projects) {
            return Err(out(
                "projects",
                u64::from(self.projects),
                u64::from(MAX_PROJECTS),
            ));
        }
        let most = MAX_APPROVALS.min(self.projects.div_ceil(2));
        if !(1..=most).contains(&self.approvals) {
            return Err(out(
                "approvals (mean per voter, at most half the projects)",
                u64::from(self.approvals),
                u64::from(most),
            ));
        }
        Ok(())
    }

    /// The projects' costs, in whole units (project `j` at index `j − 1`).
    fn costs(&self, rng: &mut ChaCha8Rng) -> Vec<u64> {
        // 2^(f/8) · 1000, for f in 0..8.
        const EIGHTHS: [u64; 8] = [1000, 1090, 1189, 1297, 1414, 1542, 1681, 1834];
        (0..self.projects)
            .map(|_| {
                let e = rng.random_range(0..=6_u32);
                let f = rng.random_range(0..8_usize);
                (5_000_u64 << e) * EIGHTHS[f] / 1000 / 100 * 100
            })
            .collect()
    }

    /// Writes the election as a `.pb` file, from `seed`.
    ///
    /// # Errors
    /// [`SimError::Limit`] for sizes out of range (see [`Synthetic::check`]),
    /// [`SimError::Write`] when writing fails.
    pub fn write<W: Write>(&self, seed: u64, out: W) -> Result<(), SimError> {
        self.check()?;
        self.write_checked(seed, out)
            .map_err(|source| SimError::Write {
                what: "the synthetic election".to_owned(),
                source,
            })
    }

    fn write_checked<W: Write>(&self, seed: u64, out: W) -> io::Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = self.projects;
        let costs = self.costs(&mut rng);
        let budget = costs.iter().sum::<u64>() / 5;
        let most = (2 * self.approvals - 1).min(m);
        // Cumulative weights ⌊10⁶ / j⌋ + ⌊10⁶ / m⌋.
        let floor = 1_000_000 / u64::from(m);
        let cumulative: Vec<u64> = (1..=u64::from(m))
            .scan(0_u64, |sum, j| {
                *sum += 1_000_000 / j + floor;
                Some(*sum)
            })
            .collect();
        let total = cumulative.last().copied().unwrap_or(1);

        let mut w = BufWriter::with_capacity(1 << 20, out);
        writeln!(w, "META\nkey;value")?;
        writeln!(
            w,
            "description;Synthetic approval election (medborgarbudget generate, seed {seed})"
        )?;
        writeln!(w, "country;Synthetic\nunit;Synthetic\ninstance;{seed}")?;
        writeln!(w, "num_projects;{m}\nnum_votes;{}", self.voters)?;
        writeln!(w, "budget;{budget}\nvote_type;approval\nrule;greedy")?;
        writeln!(w, "min_length;1\nmax_length;{most}")?;
        writeln!(w, "PROJECTS\nproject_id;cost;name")?;
        for (j, cost) in costs.iter().enumerate() {
            writeln!(w, "{};{cost};Project {}", j + 1, j + 1)?;
        }
        writeln!(w, "VOTES\nvoter_id;vote")?;
        let mut line = Vec::with_capacity(64 + 8 * most as usize);
        let mut ballot: Vec<u32> = Vec::with_capacity(most as usize);
        for voter in 1..=self.voters {
            let k = rng.random_range(1..=most);
            distinct(&mut ballot, k, m, || {
                let x = rng.random_range(0..total);
                cumulative.partition_point(|&c| c <= x) as u32 + 1
            });
            ballot.sort_unstable();
            line.clear();
            push_number(&mut line, voter);
            line.push(b';');
            for (i, &j) in ballot.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                push_number(&mut line, u64::from(j));
            }
            line.push(b'\n');
            w.write_all(&line)?;
        }
        w.flush()
    }
}

/// Fills `ballot` with `k` distinct projects of `1..=m` (`k ≤ m`) from
/// `draw`, a draw already taken being drawn again; after [`MAX_DRAWS`] draws
/// per project the first projects not yet taken fill the rest, so it ends
/// whatever `draw` gives.
fn distinct(ballot: &mut Vec<u32>, k: u32, m: u32, mut draw: impl FnMut() -> u32) {
    ballot.clear();
    let k = k.min(m) as usize;
    let mut draws = 0_u64;
    while ballot.len() < k && draws < u64::from(MAX_DRAWS) * k as u64 {
        draws += 1;
        let j = draw();
        if !ballot.contains(&j) {
            ballot.push(j);
        }
    }
    for j in 1..=m {
        if ballot.len() >= k {
            break;
        }
        if !ballot.contains(&j) {
            ballot.push(j);
        }
    }
}

/// Appends `n` in decimal.
fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(s: Synthetic, seed: u64) -> Vec<u8> {
        let mut pb = Vec::new();
        s.write(seed, &mut pb).unwrap();
        pb
    }

    #[test]
    fn a_seed_gives_the_same_file_and_the_file_reads_back() {
        let s = Synthetic {
            voters: 2_000,
            projects: 40,
            approvals: 4,
        };
        let a = generate(s, 3);
        assert_eq!(a, generate(s, 3));
        assert_ne!(a, generate(s, 4));
        let file = crate::pabulib::parse(&a).unwrap();
        let e = file.election().unwrap();
        assert_eq!(e.profile().num_voters(), 2_000);
        assert_eq!(e.candidates().len(), 40);
        let costs: u64 = e.candidates().iter().map(|c| c.cost).sum();
        assert_eq!(e.budget(), costs / 5);
        assert!(
            e.candidates()
                .iter()
                .all(|c| (5_000..=600_000).contains(&c.cost))
        );
        // Mean approvals near 4; the most popular project well ahead of the
        // median.
        let support = e.profile().support().unwrap();
        let approvals: u64 = support.iter().sum();
        assert!((7_000..9_000).contains(&approvals), "{approvals}");
        let mut sorted = support;
        sorted.sort_unstable();
        assert!(sorted[39] > 5 * sorted[20], "{sorted:?}");
        assert!(sorted[0] > 0);
    }

    #[test]
    fn a_ballot_is_filled_even_when_the_draws_keep_repeating() {
        let mut ballot = Vec::new();
        distinct(&mut ballot, 3, 5, || 2);
        assert_eq!(ballot, [2, 1, 3]);
        let mut n = 0;
        distinct(&mut ballot, 3, 5, || {
            n += 1;
            n
        });
        assert_eq!(ballot, [1, 2, 3]);
    }

    #[test]
    fn sizes_past_their_limits_are_refused_by_name() {
        let refused = |s: Synthetic, what: &str| {
            let e = s.write(1, io::sink()).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        };
        let ok = Synthetic::default();
        refused(Synthetic { voters: 0, ..ok }, "voters");
        refused(
            Synthetic {
                voters: MAX_VOTERS + 1,
                ..ok
            },
            "voters",
        );
        refused(Synthetic { projects: 0, ..ok }, "projects");
        refused(
            Synthetic {
                projects: MAX_PROJECTS + 1,
                ..ok
            },
            "projects",
        );
        refused(Synthetic { approvals: 0, ..ok }, "approvals");
        refused(
            Synthetic {
                projects: 4,
                approvals: 3,
                ..ok
            },
            "approvals",
        );
        assert_eq!(
            Synthetic {
                voters: 1,
                projects: 1,
                approvals: 1
            }
            .write(1, io::sink())
            .map_err(|e| e.to_string()),
            Ok(())
        );
    }
}
