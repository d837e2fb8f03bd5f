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

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
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
pub(crate) trait Num: Clone + Debug + Send + Sync {
    /// Whether comparisons are exact.
    const EXACT: bool;

    /// Steps one arithmetic operation counts for (see [`Steps`]): exact
    /// rationals cost many times what a float does, so that a step limit
    /// bounds time in either arithmetic.
    const STEP: u64;

    fn from_u64(v: u64) -> Self;
    fn from_u128(v: u128) -> Self;
    fn from_ratio(num: u64, den: u64) -> Self;
    /// The money each voter starts a run with, `num / den` (a plain number
    /// except where a run is traced as the money changes).
    fn per_voter(num: u64, den: u64) -> Self {
        Self::from_ratio(num, den)
    }
    fn zero() -> Self;
    /// For a quantity traced in the money per voter `b₀ + t`: the same
    /// quantity traced from `b₀ + t` on (plain numbers: itself).
    fn shifted(&self, t: u64) -> Self {
        let _ = t;
        self.clone()
    }
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

    /// Whether the numbers trace how long a run's decisions hold as the money
    /// per voter rises (see `super::affine`): the rules then also
    /// [`watch`](Num::watch) the comparisons their result rests on.
    const TRACED: bool = false;

    /// `a < b` for an order that only steers the work (a heap, a sort, an
    /// intermediate estimate), never the result: traced numbers do not record it.
    fn quiet_less(a: &Self, b: &Self) -> bool {
        Self::less(a, b)
    }

    /// `a < b` for a classification where, at a tie, either answer gives the
    /// same value (a voter paying all they have or exactly their share): traced
    /// numbers break a tie by which side `a` moves to, so that the branch holds
    /// as the money rises; nothing is recorded.
    fn settle_less(a: &Self, b: &Self) -> bool {
        Self::less(a, b)
    }

    /// Whether `a ≥ b` beyond doubt, where `scale` bounds the magnitudes whose
    /// rounding `a` and `b` carry (the money a voter started with): exact
    /// numbers compare; floats need a margin of the tolerance times `scale`.
    fn surely_at_least(a: &Self, b: &Self, scale: &Self) -> bool;

    /// Notes that the result may change at the `t`-th whole unit of money per
    /// voter past the current one, found by the caller in integers (traced
    /// numbers record it; others do nothing).
    fn horizon_at(t: u64) {
        let _ = t;
    }

    /// Notes that the result rests on how `a` compares with `b`, a tie counting
    /// as a side of its own (traced numbers record where that could change;
    /// others do nothing).
    fn watch(a: &Self, b: &Self) {
        let _ = (a, b);
    }
}

/// `v` as the nearest float, as `v as f64` gives it: through a signed
/// integer where `v` fits one, which x86-64 converts in one instruction (an
/// unsigned one takes several, and a pass over supporters converts a weight
/// per supporter).
#[inline(always)]
fn as_float(v: u64) -> f64 {
    match i64::try_from(v) {
        Ok(v) => v as f64,
        Err(_) => v as f64,
    }
}

impl Num for f64 {
    const EXACT: bool = false;
    const STEP: u64 = 1;

    fn from_u64(v: u64) -> Self {
        as_float(v)
    }
    fn from_u128(v: u128) -> Self {
        v as f64
    }
    fn from_ratio(num: u64, den: u64) -> Self {
        as_float(num) / as_float(den)
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
        self * as_float(k)
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

    fn surely_at_least(a: &Self, b: &Self, scale: &Self) -> bool {
        a - b > TOLERANCE * scale.abs().max(a.abs()).max(b.abs())
    }

    fn less(a: &Self, b: &Self) -> bool {
        a < b
    }
}

impl Num for BigRational {
    const EXACT: bool = true;
    const STEP: u64 = 16;

    fn from_u64(v: u64) -> Self {
        BigRational::from_integer(BigInt::from(v))
    }
    fn from_u128(v: u128) -> Self {
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

    fn surely_at_least(a: &Self, b: &Self, _scale: &Self) -> bool {
        a >= b
    }

    fn less(a: &Self, b: &Self) -> bool {
        a < b
    }
}

/// Why a run of a proportional rule stopped before reaching its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The float path met a comparison too close to call: run again exactly.
    Undecided,
    /// The election's step limit is used up.
    OutOfSteps,
}

impl From<Undecided> for Halt {
    fn from(_: Undecided) -> Halt {
        Halt::Undecided
    }
}

/// The work a count has done, in steps (a supporter visited while computing a
/// price or a load, a queue entry taken, a search node), against the
/// election's limit.
#[derive(Debug)]
pub(crate) struct Steps {
    used: Cell<u64>,
    limit: u64,
}

impl Steps {
    /// A counter for one count; no limit is `u64::MAX` steps.
    pub(crate) fn new(limit: Option<u64>) -> Steps {
        Steps {
            used: Cell::new(0),
            limit: limit.unwrap_or(u64::MAX),
        }
    }

    /// Records `n` more steps.
    ///
    /// # Errors
    /// [`Halt::OutOfSteps`] past the limit.
    #[inline]
    pub(crate) fn charge(&self, n: u64) -> Result<(), Halt> {
        let used = self.used.get().saturating_add(n);
        self.used.set(used);
        if used > self.limit {
            Err(Halt::OutOfSteps)
        } else {
            Ok(())
        }
    }

    /// Steps used so far.
    pub(crate) fn used(&self) -> u64 {
        self.used.get()
    }

    /// The limit (`u64::MAX`: none).
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }
}

/// A value the float run knows exactly, as a ratio of integers: an
/// equal-shares price that no supporter's money caps is the project's cost over
/// its supporters' total utility, whatever they have paid before. Two such
/// prices that the floats cannot tell apart (with cost utilities every
/// uncapped price is `1 / supporters`, so projects with as many supporters tie
/// exactly) are then ordered here instead of by a run in exact rationals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    num: u128,
    den: u128,
}

impl Ratio {
    /// `num / den`, in lowest terms; `None` for a zero denominator.
    pub(crate) fn new(num: u128, den: u128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = num_integer::gcd(num, den).max(1);
        Some(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    /// `self · k`; `None` past 128 bits.
    pub(crate) fn times(self, k: u64) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(u128::from(k))?, self.den)
    }

    /// Numerator and denominator, in lowest terms.
    #[cfg(test)]
    pub(crate) fn parts(self) -> (u128, u128) {
        (self.num, self.den)
    }

    /// The exact order of two ratios (products in 256 bits).
    pub(crate) fn order(self, other: Ratio) -> Ordering {
        wide_mul(self.num, other.den).cmp(&wide_mul(other.num, self.den))
    }
}

/// `a · b` as (high, low) 128-bit halves, which compare as the product.
pub(crate) fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const HALF: u32 = 64;
    let mask = u128::from(u64::MAX);
    let (a1, a0) = (a >> HALF, a & mask);
    let (b1, b0) = (b >> HALF, b & mask);
    let (mid, mid_carry) = (a0 * b1).overflowing_add(a1 * b0);
    let (low, low_carry) = (a0 * b0).overflowing_add(mid << HALF);
    let high = a1 * b1 + (mid >> HALF) + (u128::from(mid_carry) << HALF) + u128::from(low_carry);
    (high, low)
}

/// Near-ties with the winner a float round settles exactly before it leaves
/// the round to exact arithmetic.
const NEAR_TIES_IN_FLOATS: usize = 32;

/// What evaluating a project in a round gave.
pub(crate) enum Eval<N> {
    /// Its value (ρ or load).
    Value(N),
    /// A value the float run cannot tell the project is eligible for.
    Uncertain(N),
    /// The project is out for good (unaffordable, no supporters), and so are
    /// its twins.
    Drop,
}

/// The winner of a round.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Won<N> {
    /// The project.
    pub(crate) project: usize,
    /// Its value (ρ or load).
    pub(crate) value: N,
    /// Projects with exactly the same value that the tie-breaking chain does
    /// not separate from the winner (empty unless the chain leaves a tie).
    pub(crate) tied: Vec<usize>,
}

/// Projects whose values keep their order whatever is spent: twins (the same
/// cost and the same supporters with the same utilities), or for Phragmén
/// projects with the same supporters (whose loads differ only by their costs).
/// Members are in the order they must be taken: by key (cost), then chain rank.
#[derive(Debug)]
struct Class {
    members: Vec<usize>,
    next: usize,
}

struct Entry<N> {
    /// A lower bound of the class's value (its value, once evaluated this round).
    bound: N,
    /// The chain rank of the class's next member.
    rank: u32,
    class: u32,
    /// The round in which `bound` was computed (0: never).
    evaluated: u64,
    /// The float run cannot tell whether the project is eligible at all.
    uncertain: bool,
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
        if N::quiet_less(&self.bound, &other.bound) {
            Ordering::Less
        } else if N::quiet_less(&other.bound, &self.bound) {
            Ordering::Greater
        } else {
            (self.rank, self.class).cmp(&(other.rank, other.class))
        }
    }
}

/// The projects still in the running, by a lower bound of their value, for
/// rules whose values only rise from round to round (equal shares' ρ as money
/// is spent, Phragmén's loads).
///
/// Entries are ordered by (bound, chain rank). A round takes the first entry;
/// if its bound was computed this round it is the project's value, and no other
/// project can beat it: every other value is at least its bound, which is at
/// least the winner's value, and where equal the chain rank decides. Otherwise
/// the entry is evaluated and put back with its value. So a round evaluates only
/// the projects whose bound is below the winning value, and projects whose value
/// did not change cost one evaluation.
///
/// Twins — projects with the same cost and the same supporters — always have the
/// same value, so a class of twins is one entry, standing for its member that
/// comes first in the chain. More generally a class is any set of projects
/// whose values keep their order by a key (for Phragmén: projects with the
/// same supporters, by cost), standing for its first member by key and rank.
///
/// Termination: a round evaluates an entry at most once (it comes back marked
/// as evaluated this round), so it takes at most twice as many entries as the
/// queue holds, and every round removes its winner from the queue, so there are
/// at most as many rounds as projects.
pub(crate) struct Queue<N> {
    heap: BinaryHeap<Reverse<Entry<N>>>,
    classes: Vec<Class>,
    ranks: Vec<u32>,
    /// Within a class, a member with a larger key never has a smaller value;
    /// members with the same key have the same value.
    keys: Vec<u64>,
    round: u64,
}

impl<N: Num> Queue<N> {
    /// A queue over `classes` of twins (every project in at most one class) with
    /// the projects' chain ranks (`ranks[p]`; lower comes first).
    #[cfg(test)]
    pub(crate) fn new(classes: Vec<Vec<usize>>, ranks: Vec<u32>) -> Queue<N> {
        Queue::ordered(classes, ranks, Vec::new())
    }

    /// A queue over `classes` (every project in at most one class) whose
    /// members' values are ordered by `keys[p]` (missing keys count as 0): a
    /// member with a larger key never has a smaller value, equal keys mean equal
    /// values. Ranks as for [`Queue::new`].
    pub(crate) fn ordered(classes: Vec<Vec<usize>>, ranks: Vec<u32>, keys: Vec<u64>) -> Queue<N> {
        let rank = |p: usize| ranks.get(p).copied().unwrap_or(u32::MAX);
        let key = |p: usize| keys.get(p).copied().unwrap_or(0);
        let classes: Vec<Class> = classes
            .into_iter()
            .filter(|m| !m.is_empty())
            .map(|mut members| {
                members.sort_by_key(|&p| (key(p), rank(p), p));
                Class { members, next: 0 }
            })
            .collect();
        let heap = classes
            .iter()
            .enumerate()
            .filter_map(|(c, class)| {
                Some(Reverse(Entry {
                    bound: N::zero(),
                    rank: rank(*class.members.first()?),
                    class: u32::try_from(c).ok()?,
                    evaluated: 0,
                    uncertain: false,
                }))
            })
            .collect();
        Queue {
            heap,
            classes,
            ranks,
            keys,
            round: 0,
        }
    }

    /// The queue with known lower bounds: `bound(p)` for the project each
    /// class stands for, where given (values from an earlier round of the same
    /// run stay lower bounds: values only rise).
    pub(crate) fn with_bounds(mut self, bound: impl Fn(usize) -> Option<N>) -> Queue<N> {
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .map(|Reverse(mut entry)| {
                if let Some(b) = bound(self.member(entry.class)) {
                    entry.bound = b;
                }
                Reverse(entry)
            })
            .collect();
        self
    }

    fn member(&self, class: u32) -> usize {
        self.classes
            .get(class as usize)
            .and_then(|c| c.members.get(c.next))
            .copied()
            .unwrap_or(usize::MAX)
    }

    fn rank(&self, p: usize) -> u32 {
        self.ranks.get(p).copied().unwrap_or(u32::MAX)
    }

    /// Members of `class` from position `from` on that tie exactly with `p`
    /// (the same key and the same chain rank).
    fn twins_of(&self, class: u32, from: usize, p: usize) -> impl Iterator<Item = usize> + '_ {
        let key = |q: usize| self.keys.get(q).copied().unwrap_or(0);
        self.classes
            .get(class as usize)
            .map_or(&[][..], |c| c.members.get(from..).unwrap_or(&[]))
            .iter()
            .copied()
            .take_while(move |&q| key(q) == key(p) && self.rank(q) == self.rank(p))
    }

    /// Evaluates `entry` if its bound is from an earlier round; `None` when
    /// the class is out.
    fn refresh(
        &self,
        mut entry: Entry<N>,
        evaluate: &mut impl FnMut(usize) -> Result<Eval<N>, Halt>,
    ) -> Result<Option<Entry<N>>, Halt> {
        if entry.evaluated == self.round {
            return Ok(Some(entry));
        }
        let (bound, uncertain) = match evaluate(self.member(entry.class))? {
            Eval::Drop => return Ok(None),
            Eval::Value(v) => (v, false),
            Eval::Uncertain(v) => (v, true),
        };
        entry.bound = bound;
        entry.uncertain = uncertain;
        entry.evaluated = self.round;
        Ok(Some(entry))
    }

    /// One round: the project with the smallest value (ties by chain rank),
    /// which leaves the queue; `Ok(None)` when no project is left.
    ///
    /// The float path returns [`Halt::Undecided`] when a project it cannot tell
    /// apart from the winner (a value within the tolerance, or one it cannot
    /// tell is eligible) could win; the exact path reports every project with
    /// exactly the winner's value and the winner's chain rank in
    /// [`Won::tied`].
    pub(crate) fn round(
        &mut self,
        steps: &Steps,
        evaluate: impl FnMut(usize) -> Result<Eval<N>, Halt>,
    ) -> Result<Option<Won<N>>, Halt> {
        self.round_known(steps, evaluate, |_| Ok(None))
    }

    /// A [`Queue::round`] where, for floats, `exact(p)` gives project `p`'s
    /// value this round exactly when the evaluator knows it: two values the
    /// floats cannot tell apart are then ordered exactly (and an exact tie goes
    /// by the chain, as in exact arithmetic) instead of sending the run to
    /// exact arithmetic. Asked only at such near-ties.
    pub(crate) fn round_known(
        &mut self,
        steps: &Steps,
        mut evaluate: impl FnMut(usize) -> Result<Eval<N>, Halt>,
        mut exact: impl FnMut(usize) -> Result<Option<Ratio>, Halt>,
    ) -> Result<Option<Won<N>>, Halt> {
        self.round += 1;
        let winner = loop {
            let Some(Reverse(top)) = self.heap.pop() else {
                return Ok(None);
            };
            steps.charge(1)?;
            if top.evaluated == self.round {
                break top;
            }
            if let Some(entry) = self.refresh(top, &mut evaluate)? {
                self.heap.push(Reverse(entry));
            }
        };
        if winner.uncertain {
            return Err(Halt::Undecided);
        }
        let project = self.member(winner.class);
        let mut tied = Vec::new();
        // Twins tie exactly; the chain decides between them by rank.
        if let Some(class) = self.classes.get(winner.class as usize) {
            tied.extend(self.twins_of(winner.class, class.next + 1, project));
        }
        // Projects whose bound does not rule them out.
        let mut back = Vec::new();
        let mut winner_exact: Option<Option<Ratio>> = None;
        let mut near = 0_usize;
        while let Some(Reverse(next)) = self.heap.peek() {
            let contender = if N::EXACT {
                next.rank == winner.rank
                    && N::decide(&next.bound, &winner.bound) == Ok(Ordering::Equal)
            } else {
                N::decide(&next.bound, &winner.bound) != Ok(Ordering::Greater)
            };
            if !contender {
                break;
            }
            let Some(Reverse(next)) = self.heap.pop() else {
                break;
            };
            steps.charge(1)?;
            let Some(next) = self.refresh(next, &mut evaluate)? else {
                continue;
            };
            let mut order = N::decide(&next.bound, &winner.bound);
            if order.is_err() && !next.uncertain {
                // Too close for floats: exactly, where the evaluator knows both
                // — for a few such projects a round. Many projects tied with
                // the winner (symmetric elections) are left to exact
                // arithmetic, whose queue passes over ties behind the winner
                // in the chain without taking them out.
                near += 1;
                if near > NEAR_TIES_IN_FLOATS {
                    return Err(Halt::Undecided);
                }
                if winner_exact.is_none() {
                    winner_exact = Some(exact(project)?);
                }
                if let (Some(Some(b)), Some(a)) = (winner_exact, exact(self.member(next.class))?) {
                    order = Ok(a.order(b));
                }
            }
            if !N::EXACT {
                let stands = match order {
                    Ok(Ordering::Greater) => true,
                    // An exact tie the heap put behind the winner by rank (a
                    // lower rank, or a tie's float order, is left to exact
                    // arithmetic).
                    Ok(Ordering::Equal) => next.rank >= winner.rank,
                    _ => false,
                };
                if !stands || next.uncertain {
                    return Err(Halt::Undecided);
                }
            }
            if order == Ok(Ordering::Equal)
                && next.rank == winner.rank
                && let Some(class) = self.classes.get(next.class as usize)
            {
                let first = self.member(next.class);
                tied.extend(self.twins_of(next.class, class.next, first));
            }
            back.push(Reverse(next));
        }
        self.heap.extend(back);
        if N::TRACED {
            // The heap's order told the winner from the rest; the result rests on
            // each remaining value (or lower bound) staying on its side of the
            // winner's.
            steps.charge(self.heap.len() as u64 * N::STEP)?;
            for Reverse(other) in &self.heap {
                N::watch(&other.bound, &winner.bound);
            }
        }
        // The winner leaves; its next twin, if any, stands for the class, with the
        // winner's value as its lower bound.
        if let Some(class) = self.classes.get_mut(winner.class as usize) {
            class.next += 1;
            if let Some(&p) = class.members.get(class.next) {
                let rank = self.ranks.get(p).copied().unwrap_or(u32::MAX);
                self.heap.push(Reverse(Entry {
                    bound: winner.bound.clone(),
                    rank,
                    class: winner.class,
                    evaluated: 0,
                    uncertain: false,
                }));
            }
        }
        Ok(Some(Won {
            project,
            value: winner.bound,
            tied,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_order_exactly_past_128_bits() {
        let big = u128::MAX - 6;
        let cases = [
            (1, 20, 1, 20),
            (1, 20, 2, 40),
            (1, 3, 333_333, 1_000_000),
            (big, big - 1, big - 1, big - 2),
            (big, 3, big - 1, 3),
            (u128::MAX, u128::MAX, 1, 1),
            (7, u128::MAX, 6, u128::MAX - 1),
        ];
        for (a, b, c, d) in cases {
            let (x, y) = (Ratio::new(a, b).unwrap(), Ratio::new(c, d).unwrap());
            let exact =
                (BigInt::from(a) * BigInt::from(d)).cmp(&(BigInt::from(c) * BigInt::from(b)));
            assert_eq!(x.order(y), exact, "{a}/{b} vs {c}/{d}");
            assert_eq!(y.order(x), exact.reverse());
        }
        // The 256-bit product against big integers.
        for (a, b) in [
            (u128::MAX, u128::MAX),
            (u128::MAX, 2),
            (1 << 64, 1 << 64),
            (3, 5),
        ] {
            let (high, low) = wide_mul(a, b);
            let wide: BigInt = (BigInt::from(high) << 128_u32) + BigInt::from(low);
            assert_eq!(wide, BigInt::from(a) * BigInt::from(b));
        }
        assert_eq!(Ratio::new(1, 0), None);
        assert_eq!(Ratio::new(2, 4).map(Ratio::parts), Some((1, 2)));
        assert_eq!(Ratio::new(u128::MAX, 1).and_then(|r| r.times(2)), None);
    }

    #[test]
    fn exactly_known_values_decide_what_floats_cannot() {
        // Three prices of 1/20 the floats cannot tell apart, known exactly:
        // the chain decides, as it would in exact arithmetic; without the
        // exact values, the float run gives up.
        let tie = Ratio::new(1, 20);
        let values = [0.05, 0.05, 0.05];
        let steps = Steps::new(None);
        let value = |p: usize| Ok(Eval::Value(values[p]));
        let mut queue = Queue::<f64>::new(singles(3), vec![2, 0, 1]);
        let mut order = Vec::new();
        while let Ok(Some(won)) = queue.round_known(&steps, value, |_| Ok(tie)) {
            assert!(won.tied.is_empty());
            order.push(won.project);
        }
        assert_eq!(order, [1, 2, 0]);
        let mut queue = Queue::<f64>::new(singles(3), vec![2, 0, 1]);
        assert_eq!(queue.round(&steps, value), Err(Halt::Undecided));
        // Exactly equal with the same rank: a tie the chain leaves.
        let mut queue = Queue::<f64>::new(singles(2), vec![0, 0]);
        let won = queue.round_known(&steps, value, |_| Ok(tie));
        assert_eq!(won.map(|w| w.map(|w| w.tied)), Ok(Some(vec![1])));
        // A near tie whose exact order is against the float's: left to
        // exact arithmetic.
        let mut queue = Queue::<f64>::new(singles(2), vec![0, 1]);
        let near = [0.05, 0.05 * (1.0 + 1e-12)];
        let round = queue.round_known(
            &steps,
            |p| Ok(Eval::Value(near[p])),
            |p| {
                Ok(if p == 0 {
                    Ratio::new(1_000_000_001, 20_000_000_000)
                } else {
                    tie
                })
            },
        );
        assert_eq!(round, Err(Halt::Undecided));
        // One of the two known only as a float: exact arithmetic decides.
        let mut queue = Queue::<f64>::new(singles(2), vec![0, 1]);
        let round = queue.round_known(&steps, value, |p| Ok(if p == 0 { tie } else { None }));
        assert_eq!(round, Err(Halt::Undecided));
    }

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

    /// Runs a queue over fixed values until it is empty: the winners in order,
    /// and how many evaluations it took.
    fn drain<N: Num>(
        values: &[N],
        classes: Vec<Vec<usize>>,
        ranks: Vec<u32>,
    ) -> Result<(Vec<Won<N>>, usize), Halt> {
        let mut queue = Queue::<N>::new(classes, ranks);
        let steps = Steps::new(None);
        let mut evaluations = 0;
        let mut won = Vec::new();
        while let Some(w) = queue.round(&steps, |p| {
            evaluations += 1;
            Ok(Eval::Value(values[p].clone()))
        })? {
            won.push(w);
        }
        Ok((won, evaluations))
    }

    fn singles(n: usize) -> Vec<Vec<usize>> {
        (0..n).map(|p| vec![p]).collect()
    }

    #[test]
    fn a_near_tie_matters_only_for_the_round_winner() {
        let values = [20.0, 20.0 * (1.0 + 1e-13), 5.0];
        let mut queue = Queue::<f64>::new(singles(3), vec![0, 1, 2]);
        let steps = Steps::new(None);
        let first = queue.round(&steps, |p| Ok(Eval::Value(values[p])));
        assert_eq!(first.map(|w| w.map(|w| w.project)), Ok(Some(2)));
        // Between the two near-equal values only exact arithmetic can decide.
        let second = queue.round(&steps, |p| Ok(Eval::Value(values[p])));
        assert_eq!(second, Err(Halt::Undecided));
        // A project the float run cannot tell is eligible, with the smallest
        // value, leaves the round to exact arithmetic; with a larger one it is
        // harmless.
        let mut queue = Queue::<f64>::new(singles(2), vec![0, 1]);
        let round = queue.round(&steps, |p| {
            Ok(if p == 0 {
                Eval::Uncertain(1.0)
            } else {
                Eval::Value(2.0)
            })
        });
        assert_eq!(round, Err(Halt::Undecided));
        let mut queue = Queue::<f64>::new(singles(2), vec![0, 1]);
        let round = queue.round(&steps, |p| {
            Ok(if p == 0 {
                Eval::Uncertain(3.0)
            } else {
                Eval::Value(2.0)
            })
        });
        assert_eq!(round.map(|w| w.map(|w| w.project)), Ok(Some(1)));
    }

    #[test]
    fn exact_ties_go_by_chain_rank_or_are_reported() {
        let five = BigRational::from_u64(5);
        let values = vec![five.clone(), BigRational::from_ratio(10, 2), five];
        // Ranks separate 1 (rank 0) from 0 and 2 (rank 1, tied with each other).
        let (won, _) = drain(&values, singles(3), vec![1, 0, 1]).unwrap();
        assert_eq!(won[0].project, 1);
        assert!(won[0].tied.is_empty());
        assert_eq!(won[1].project, 0);
        assert_eq!(won[1].tied, vec![2]);
        // Floats do not decide exact ties at all.
        let floats = [5.0, 5.0, 5.0];
        assert_eq!(
            drain(&floats, singles(3), vec![1, 0, 1]).map(|(w, _)| w.len()),
            Err(Halt::Undecided)
        );
    }

    #[test]
    fn twins_are_one_entry_taken_in_chain_order() {
        let values = [1.0, 1.0, 1.0, 0.5];
        let (won, evaluations) =
            drain(&values, vec![vec![2, 0, 1], vec![3]], vec![2, 0, 1, 3]).unwrap();
        let order: Vec<usize> = won.iter().map(|w| w.project).collect();
        assert_eq!(order, [3, 1, 2, 0]);
        assert!(won.iter().all(|w| w.tied.is_empty()));
        assert!(evaluations <= 2 * 4, "{evaluations} evaluations");
        // Twins with the same chain rank tie.
        let exact: Vec<BigRational> = [2, 2, 2, 1]
            .into_iter()
            .map(|v| BigRational::from_ratio(v, 2))
            .collect();
        let (won, _) = drain(&exact, vec![vec![0, 1], vec![2], vec![3]], vec![0, 0, 1, 2]).unwrap();
        assert_eq!((won[1].project, won[1].tied.clone()), (0, vec![1]));
    }

    #[test]
    fn unchanged_values_cost_one_evaluation_per_round() {
        // Three thousand projects with equal values and distinct chain ranks (the
        // symmetric elections that made the old queue quadratic): about two
        // evaluations per project in all, not one per project per round.
        let n = 3_000;
        let values = vec![BigRational::from_u64(1); n];
        let (won, evaluations) = drain(&values, singles(n), (0..n as u32).rev().collect()).unwrap();
        assert_eq!(won.len(), n);
        assert_eq!(won.first().map(|w| w.project), Some(n - 1));
        assert!(evaluations <= 2 * n, "{evaluations} evaluations");
    }

    #[test]
    fn steps_stop_a_count_at_the_limit() {
        let steps = Steps::new(Some(10));
        assert_eq!(steps.charge(10), Ok(()));
        assert_eq!(steps.charge(1), Err(Halt::OutOfSteps));
        let values = vec![1.0; 100];
        let mut queue = Queue::<f64>::new(singles(100), (0..100).collect());
        let steps = Steps::new(Some(50));
        let mut outcome = Ok(None);
        for _ in 0..100 {
            outcome = queue.round(&steps, |p| Ok(Eval::Value(values[p] + p as f64)));
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome, Err(Halt::OutOfSteps));
    }
}
