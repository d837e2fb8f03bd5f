//! Numbers for the proportional rules: a fast `f64` path that refuses to decide
//! near-ties, and exact rationals that decide everything.
//!
//! Method of Equal Shares and Phragmén divide money and loads among voters, so
//! their quantities are rationals whose denominators grow round by round. The
//! rules run first with `f64`. Every decision they take — which project has the
//! smallest ρ or load, whether a project is affordable, whether it fits the budget
//! — compares two quantities; when the two are closer than [`TOLERANCE`] (relative),
//! the float run stops with [`Undecided`] and the rule runs again with exact
//! [`BigRational`]s. Float rounding error over the sums and rounds these rules do
//! stays far below the tolerance (≈10⁻¹⁶ per operation; sums of up to 10⁶ voters
//! and thousands of rounds stay under 10⁻⁹), so a decision taken by the float run
//! is the decision exact arithmetic takes. Exact ties always fall to the exact run,
//! where the tie-breaking chain decides them.

use std::cmp::Ordering;
use std::fmt::Debug;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};

/// Relative distance below which the float path does not decide a comparison.
pub(crate) const TOLERANCE: f64 = 1e-9;

/// The float path met a comparison too close to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecided;

/// The arithmetic a proportional rule needs.
pub(crate) trait Num: Clone + Debug {
    /// Whether comparisons are exact.
    const EXACT: bool;

    fn from_u64(v: u64) -> Self;
    fn from_ratio(num: u64, den: u64) -> Self;
    fn zero() -> Self;
    fn add(&self, other: &Self) -> Self;
    fn sub(&self, other: &Self) -> Self;
    fn mul(&self, other: &Self) -> Self;
    fn div(&self, other: &Self) -> Self;
    fn mul_u64(&self, k: u64) -> Self;
    fn is_positive(&self) -> bool;

    /// Compares `a` and `b`; `Err(Undecided)` when the float path cannot tell.
    fn decide(a: &Self, b: &Self) -> Result<Ordering, Undecided>;

    /// The numerically smaller of the two (no decision is taken on it: where the
    /// two are close, either value gives the same result up to rounding).
    fn min_value(a: &Self, b: &Self) -> Self;

    /// `a < b` where the answer does not decide an outcome (both answers near the
    /// boundary give the same result).
    fn less(a: &Self, b: &Self) -> bool;
}

impl Num for f64 {
    const EXACT: bool = false;

    fn from_u64(v: u64) -> Self {
        v as f64
    }
    fn from_ratio(num: u64, den: u64) -> Self {
        num as f64 / den as f64
    }
    fn zero() -> Self {
        0.0
    }
    fn add(&self, other: &Self) -> Self {
        self + other
    }
    fn sub(&self, other: &Self) -> Self {
        self - other
    }
    fn mul(&self, other: &Self) -> Self {
        self * other
    }
    fn div(&self, other: &Self) -> Self {
        self / other
    }
    fn mul_u64(&self, k: u64) -> Self {
        self * k as f64
    }
    fn is_positive(&self) -> bool {
        *self > 0.0
    }

    fn decide(a: &Self, b: &Self) -> Result<Ordering, Undecided> {
        let scale = a.abs().max(b.abs());
        if (a - b).abs() <= TOLERANCE * scale {
            return Err(Undecided);
        }
        a.partial_cmp(b).ok_or(Undecided)
    }

    fn min_value(a: &Self, b: &Self) -> Self {
        a.min(*b)
    }

    fn less(a: &Self, b: &Self) -> bool {
        a < b
    }
}

impl Num for BigRational {
    const EXACT: bool = true;

    fn from_u64(v: u64) -> Self {
        BigRational::from_integer(BigInt::from(v))
    }
    fn from_ratio(num: u64, den: u64) -> Self {
        BigRational::new(BigInt::from(num), BigInt::from(den.max(1)))
    }
    fn zero() -> Self {
        <BigRational as Zero>::zero()
    }
    fn add(&self, other: &Self) -> Self {
        self + other
    }
    fn sub(&self, other: &Self) -> Self {
        self - other
    }
    fn mul(&self, other: &Self) -> Self {
        self * other
    }
    fn div(&self, other: &Self) -> Self {
        if other.is_zero() {
            // Callers never divide by zero; keep the value finite regardless.
            return self.clone();
        }
        self / other
    }
    fn mul_u64(&self, k: u64) -> Self {
        self * BigInt::from(k)
    }
    fn is_positive(&self) -> bool {
        Signed::is_positive(self)
    }

    fn decide(a: &Self, b: &Self) -> Result<Ordering, Undecided> {
        Ok(a.cmp(b))
    }

    fn min_value(a: &Self, b: &Self) -> Self {
        if a <= b { a.clone() } else { b.clone() }
    }

    fn less(a: &Self, b: &Self) -> bool {
        a < b
    }
}

/// The project with the smallest value seen so far in a round (ρ for equal
/// shares, the new load for Phragmén), the projects exactly tied with it, and
/// whether a float comparison with it was too close to call.
#[derive(Debug)]
pub(crate) struct Leader<N> {
    best: Option<(usize, N)>,
    tied: Vec<usize>,
    contested: bool,
    /// Values of projects the float run could not tell were eligible at all.
    uncertain: Vec<N>,
}

impl<N: Num> Leader<N> {
    pub(crate) fn new() -> Leader<N> {
        Leader {
            best: None,
            tied: Vec::new(),
            contested: false,
            uncertain: Vec::new(),
        }
    }

    /// A project the float run cannot tell is eligible (for instance affordable
    /// only just or not quite): harmless unless its value could win the round.
    pub(crate) fn offer_uncertain(&mut self, v: N) {
        self.uncertain.push(v);
    }

    /// The value to beat, if any.
    pub(crate) fn value(&self) -> Option<&N> {
        self.best.as_ref().map(|(_, v)| v)
    }

    /// Offers project `p` with value `v`. A near-tie with the leader is only a
    /// problem if nothing smaller turns up later in the round.
    pub(crate) fn offer(&mut self, p: usize, v: N) {
        let Some((_, best)) = &self.best else {
            self.best = Some((p, v));
            return;
        };
        match N::decide(&v, best) {
            Ok(Ordering::Less) => {
                self.best = Some((p, v));
                self.tied.clear();
                self.contested = false;
            }
            Ok(Ordering::Equal) => self.tied.push(p),
            Ok(Ordering::Greater) => {}
            Err(Undecided) => self.contested = true,
        }
    }

    /// The round's winner and value, with every project exactly tied with it
    /// (winner first); `Err(Undecided)` when a float near-tie leaves it open;
    /// `Ok(None)` when nothing was offered.
    pub(crate) fn finish(self) -> Result<Option<(Vec<usize>, N)>, Undecided> {
        if self.contested {
            return Err(Undecided);
        }
        for v in &self.uncertain {
            match &self.best {
                Some((_, best)) if N::decide(v, best) == Ok(Ordering::Greater) => {}
                _ => return Err(Undecided),
            }
        }
        Ok(self.best.map(|(p, v)| {
            let mut all = vec![p];
            all.extend(self.tied);
            (all, v)
        }))
    }
}

/// What evaluating a project in a round gave.
pub(crate) enum Eval<N> {
    /// Its value (ρ or load).
    Value(N),
    /// A value the float run cannot tell the project is eligible for.
    Uncertain(N),
    /// The project is out for good (funded, unaffordable, skipped).
    Drop,
}

struct Entry<N> {
    bound: N,
    project: usize,
}

impl<N: Num> PartialEq for Entry<N> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<N: Num> Eq for Entry<N> {}
impl<N: Num> PartialOrd for Entry<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<N: Num> Ord for Entry<N> {
    fn cmp(&self, other: &Self) -> Ordering {
        if N::less(&self.bound, &other.bound) {
            Ordering::Less
        } else if N::less(&other.bound, &self.bound) {
            Ordering::Greater
        } else {
            self.project.cmp(&other.project)
        }
    }
}

/// Projects by a lower bound of their value, for rules whose values only rise
/// from round to round (equal shares' ρ as money is spent, Phragmén's loads): a
/// round evaluates projects in order of their last value and stops as soon as the
/// next bound exceeds the best value found.
pub(crate) struct Queue<N> {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Entry<N>>>,
}

impl<N: Num> Queue<N> {
    pub(crate) fn new(projects: impl Iterator<Item = usize>) -> Queue<N> {
        Queue {
            heap: projects
                .map(|project| {
                    std::cmp::Reverse(Entry {
                        bound: N::zero(),
                        project,
                    })
                })
                .collect(),
        }
    }

    /// One round: the projects with the smallest value, exactly tied (first is
    /// the first found), and that value; `Ok(None)` when no project is left. Every
    /// evaluated project goes back in the queue with its new value as its bound
    /// (the caller drops the winner next round through `evaluate`).
    pub(crate) fn round(
        &mut self,
        mut evaluate: impl FnMut(usize) -> Result<Eval<N>, Undecided>,
    ) -> Result<Option<(Vec<usize>, N)>, Undecided> {
        let mut leader = Leader::<N>::new();
        let mut seen: Vec<Entry<N>> = Vec::new();
        while let Some(std::cmp::Reverse(next)) = self.heap.peek() {
            if let Some(best) = leader.value()
                && N::decide(&next.bound, best) == Ok(Ordering::Greater)
            {
                break;
            }
            let Some(std::cmp::Reverse(entry)) = self.heap.pop() else {
                break;
            };
            match evaluate(entry.project)? {
                Eval::Value(v) => {
                    leader.offer(entry.project, v.clone());
                    seen.push(Entry {
                        bound: v,
                        project: entry.project,
                    });
                }
                Eval::Uncertain(v) => {
                    leader.offer_uncertain(v);
                    seen.push(entry);
                }
                Eval::Drop => {}
            }
        }
        self.heap.extend(seen.into_iter().map(std::cmp::Reverse));
        leader.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_refuses_near_ties_and_exact_decides_them() {
        let a = 1.0_f64 / 3.0;
        let b = 0.1_f64 + 0.1 + 0.1 + 0.1 / 3.0 * 1.0 - 0.1 / 3.0; // ≈ 0.3 by another path
        assert_eq!(f64::decide(&a, &(a * (1.0 + 1e-12))), Err(Undecided));
        assert_eq!(f64::decide(&a, &b), Ok(Ordering::Greater));
        let x = BigRational::from_ratio(1, 3);
        let y = BigRational::from_ratio(2, 6);
        assert_eq!(BigRational::decide(&x, &y), Ok(Ordering::Equal));
        assert_eq!(BigRational::min_value(&x, &BigRational::from_u64(1)), x);
    }

    #[test]
    fn a_near_tie_matters_only_for_the_round_winner() {
        let mut l = Leader::<f64>::new();
        l.offer(0, 20.0);
        l.offer(1, 20.0 * (1.0 + 1e-13));
        l.offer(2, 5.0);
        assert_eq!(l.finish(), Ok(Some((vec![2], 5.0))));
        let mut l = Leader::<f64>::new();
        l.offer(0, 5.0);
        l.offer(1, 5.0);
        assert_eq!(l.finish(), Err(Undecided));
        let mut l = Leader::<BigRational>::new();
        l.offer(3, BigRational::from_u64(5));
        l.offer(1, BigRational::from_ratio(10, 2));
        assert_eq!(l.finish().unwrap().map(|(p, _)| p), Some(vec![3, 1]));
    }
}
