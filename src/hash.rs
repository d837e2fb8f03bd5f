//! Hashing with random keys, for tables keyed by what an input supplies.

/// Random keys for hashing what an input supplies (ballots, ids), drawn per
/// table so that no input can be built to collide.
///
/// The hash of 32-bit words `w₀, w₁, …` is `k₀ + k₁·w₀ + k₂·w₁ + …` modulo
/// 2^64 with random 64-bit keys `kᵢ` (multilinear hashing, Lemire and Kaser,
/// "Strongly universal string hashing is fast", 2014): two different inputs
/// (a shorter one counts as padded with zeros; ballots hash their length too)
/// get the same sum with probability at most 2^-32, whatever the inputs. The sum
/// then goes through a fixed bijective mixer (SplitMix64's), which keeps that
/// bound and spreads inputs with structure, such as evenly spaced numbers,
/// across the top bits, from which tables take their slot. An input cannot be
/// built to collide without the keys, which never leave the process.
#[derive(Debug, Clone)]
pub(crate) struct HashKeys {
    keys: Vec<u64>,
    /// The generator's state (SplitMix64), for keys not yet drawn.
    state: u64,
}

impl HashKeys {
    /// Keys from this process's random source, `n` drawn at once (more are drawn
    /// as longer inputs need them).
    pub(crate) fn new(n: usize) -> HashKeys {
        let seed = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), n);
        let mut keys = HashKeys {
            keys: Vec::new(),
            state: seed,
        };
        keys.draw(n);
        keys
    }

    /// Draws keys until there are `n`.
    fn draw(&mut self, n: usize) {
        while self.keys.len() < n {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            self.keys.push(mix(self.state));
        }
    }

    /// Key `i` (0 if not drawn: callers draw first).
    #[inline(always)]
    pub(crate) fn key(&self, i: usize) -> u64 {
        self.keys.get(i).copied().unwrap_or(0)
    }

    /// The sum of a 64-bit word (two 32-bit words), unmixed.
    #[inline(always)]
    fn sum(&self, w: u64) -> u64 {
        self.key(0)
            .wrapping_add(self.key(1).wrapping_mul(w & 0xffff_ffff))
            .wrapping_add(self.key(2).wrapping_mul(w >> 32))
    }

    /// The hash of a 64-bit word (two 32-bit words); needs 3 keys.
    #[inline(always)]
    pub(crate) fn word(&self, w: u64) -> u64 {
        mix(self.sum(w))
    }

    /// The hash of a ballot of any length: its length, its projects, its
    /// points, drawing keys as needed.
    pub(crate) fn ballot(&mut self, projects: &[u32], points: &[u32]) -> u64 {
        self.draw(2 + projects.len() + points.len());
        let mut h = self
            .key(0)
            .wrapping_add(self.key(1).wrapping_mul(projects.len() as u64));
        for (k, &w) in projects.iter().chain(points).enumerate() {
            h = h.wrapping_add(self.key(k + 2).wrapping_mul(u64::from(w)));
        }
        mix(h)
    }
}

/// SplitMix64's finalizer: a bijection on 64 bits that makes every output bit
/// depend on every input bit.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_drawn_per_table_and_kept() {
        let a = HashKeys::new(5);
        let b = HashKeys::new(5);
        assert_ne!(a.keys, b.keys, "two tables, two sets of keys");
        assert_eq!(a.word(42), a.word(42));
        let mut c = a.clone();
        let long: Vec<u32> = (0..100).collect();
        let h = c.ballot(&long, &[]);
        assert_eq!(c.keys.len(), 102);
        assert_eq!(c.keys.get(..5), a.keys.get(..5), "drawn keys stay");
        assert_eq!(c.ballot(&long, &[]), h);
        // The length is hashed: a trailing zero makes another ballot.
        assert_ne!(c.ballot(&[1], &[]), c.ballot(&[1, 0], &[]));
    }

    /// Evenly spaced inputs, which a multiplier alone can fold into a few
    /// slots for some keys, spread over the top bits for every key tried.
    #[test]
    fn top_bits_spread() {
        for _ in 0..50 {
            let keys = HashKeys::new(5);
            for shift in [0, 8, 32, 40] {
                let slots: std::collections::HashSet<u64> =
                    (0..4096_u64).map(|i| keys.word(i << shift) >> 52).collect();
                // 4,096 inputs into 4,096 slots: about 2,590 distinct if uniform.
                assert!(slots.len() > 2_400, "{shift}: {}", slots.len());
            }
        }
    }
}
