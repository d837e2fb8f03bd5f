//! Numbers affine in the money per voter, for equal shares with add1 without
//! stepping.
//!
//! add1 runs equal shares with `b`, `b + 1`, `b + 2`, … whole units per voter
//! until the outcome overspends (or is complete, or exhaustive). One run is a
//! sequence of comparisons between quantities — prices ρ, voters' money, sums —
//! and every one of them is affine in the money per voter while the run takes the
//! same branches: the voters' money starts at `b`, payments are either a price
//! times a utility or all a voter has, prices are (cost − money of those who pay
//! all) / (utility of the others), and the divisions and multiplications are by
//! utilities and weights, which do not depend on `b`. So a run with `b₀ + t`
//! per voter takes the same branches, and gives the same outcome, for every `t`
//! from 0 up to the smallest positive root of the differences it compared.
//!
//! [`Affine`] carries each quantity as `a + s·t` and, at each comparison, takes
//! the decision at `t = 0` and records the first whole `t ≥ 1` at which the
//! decision could be different ([`Horizon`]). add1 then jumps straight there:
//! every whole budget it skips would have given the same outcome, so the result
//! is the one stepping gives, with one run per distinct outcome instead of one
//! per unit.
//!
//! The float version decides at `t = 0` exactly as the float run does (a
//! comparison within [`TOLERANCE`] is left to exact arithmetic) and records a
//! lower bound of the root, allowing the same relative error on each side, so it
//! may stop short of a jump but never jumps past a change. The exact version
//! (`BigRational`) records the root itself.

use std::cell::Cell;
use std::cmp::Ordering;

use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use super::arith::{Num, TOLERANCE, Undecided};

thread_local! {
    /// The smallest whole `t ≥ 1` at which a comparison of the current traced
    /// run could go the other way (`u64::MAX`: none).
    static NEXT: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// The record of one traced run: how far its decisions hold.
#[derive(Debug)]
pub(crate) struct Horizon(());

impl Horizon {
    /// Starts recording for a run on this thread.
    pub(crate) fn start() -> Horizon {
        NEXT.with(|n| n.set(u64::MAX));
        Horizon(())
    }

    /// The smallest whole `t ≥ 1` at which a decision of the run could change,
    /// or `None` if none can.
    pub(crate) fn next(self) -> Option<u64> {
        let next = NEXT.with(Cell::get);
        (next != u64::MAX).then_some(next)
    }
}

/// Begins recording one round of a traced run, setting aside the record of
/// the rounds before it (to give to [`end_round`]).
pub(crate) fn begin_round() -> u64 {
    NEXT.with(|n| n.replace(u64::MAX))
}

/// Ends a round begun by [`begin_round`]: the round's own horizon (`u64::MAX`:
/// none), which also joins the run's.
pub(crate) fn end_round(before: u64) -> u64 {
    NEXT.with(|n| {
        let here = n.get();
        n.set(before.min(here));
        here
    })
}

/// Records a horizon a run carries over from rounds it did not count again.
pub(crate) fn carry(t: u64) {
    if t != u64::MAX {
        record(t);
    }
}

fn record(t: u64) {
    NEXT.with(|n| n.set(n.get().min(t.max(1))));
}

/// A quantity `a + s·t` of a run with `b₀ + t` per voter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Affine<T> {
    a: T,
    s: T,
}

/// The scalar arithmetic under [`Affine`]: a [`Num`] with comparisons of
/// affine quantities that record where they could change.
pub(crate) trait Scalar: Num + PartialEq {
    /// The decision at `t = 0` between `a1 + s1·t` and `a2 + s2·t` (equal when
    /// equal now), recording where it could change.
    fn decide_now(a1: &Self, s1: &Self, a2: &Self, s2: &Self) -> Result<Ordering, Undecided>;
    /// The order just after `t = 0` (by value, then by slope), recording where
    /// it could change. For comparisons where both answers give the same value
    /// at a tie ([`Num::less`], [`Num::min_value`]): the branch taken is then
    /// right at `t = 0` and for the `t` after it, so a tie now is no horizon.
    fn order_after(a1: &Self, s1: &Self, a2: &Self, s2: &Self) -> Ordering;
    /// The order just after `t = 0`, recording nothing.
    fn order_quiet(a1: &Self, s1: &Self, a2: &Self, s2: &Self) -> Ordering;
    /// `a < b` at `t = 0`, recording nothing.
    fn less_now(a: &Self, b: &Self) -> bool;
    /// Records where the sign of `(a1 − a2) + (s1 − s2)·t` (zero counting as a
    /// sign of its own) could first differ from its sign at `t = 0`.
    fn watch_line(a1: &Self, s1: &Self, a2: &Self, s2: &Self);
}

impl Scalar for f64 {
    fn decide_now(a1: &f64, s1: &f64, a2: &f64, s2: &f64) -> Result<Ordering, Undecided> {
        let (da, ds) = (a1 - a2, s1 - s2);
        let close = da.abs().partial_cmp(&(TOLERANCE * a1.abs().max(a2.abs())));
        if close != Some(Ordering::Greater) {
            // Too close to tell (or not a number): exact arithmetic decides.
            return Err(Undecided);
        }
        let err_a = TOLERANCE * a1.abs().max(a2.abs());
        Ok(float_side(
            da,
            ds,
            err_a,
            TOLERANCE * s1.abs().max(s2.abs()),
        ))
    }

    fn order_after(a1: &f64, s1: &f64, a2: &f64, s2: &f64) -> Ordering {
        let (da, ds) = (a1 - a2, s1 - s2);
        let err_a = TOLERANCE * a1.abs().max(a2.abs());
        let err_s = TOLERANCE * s1.abs().max(s2.abs());
        if da.abs() > err_a {
            return float_side(da, ds, err_a, err_s);
        }
        // Equal now up to rounding: the slope orders them from here on, the
        // value being the same either way.
        if ds.abs() > err_s {
            return if ds > 0.0 {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if da == 0.0 && ds == 0.0 {
            return Ordering::Equal;
        }
        // Equal in value and slope up to rounding, but not exactly: where they
        // cross cannot be told.
        record(1);
        da.partial_cmp(&0.0).unwrap_or(Ordering::Equal)
    }

    fn order_quiet(a1: &f64, s1: &f64, a2: &f64, s2: &f64) -> Ordering {
        let (da, ds) = (a1 - a2, s1 - s2);
        if da.abs() > TOLERANCE * a1.abs().max(a2.abs()) {
            da.partial_cmp(&0.0)
        } else {
            ds.partial_cmp(&0.0)
        }
        .unwrap_or(Ordering::Equal)
    }

    fn less_now(a: &f64, b: &f64) -> bool {
        a < b
    }

    /// A root ahead when they differ now; when they are equal now up to
    /// rounding, the next unit, unless they are the same function.
    fn watch_line(a1: &f64, s1: &f64, a2: &f64, s2: &f64) {
        let (da, ds) = (a1 - a2, s1 - s2);
        let err_a = TOLERANCE * a1.abs().max(a2.abs());
        let err_s = TOLERANCE * s1.abs().max(s2.abs());
        if da.abs() > err_a {
            float_side(da, ds, err_a, err_s);
        } else if da != 0.0 || ds != 0.0 {
            record(1);
        }
    }
}

/// The side of a float difference `da + ds·t` at `t = 0` (`|da| > err_a`),
/// recording a lower bound of where it could reach zero: allowing `da` and `ds`
/// errors of `err_a` and `err_s`, not before `(|da| − err_a) / (|ds| + err_s)`.
fn float_side(da: f64, ds: f64, err_a: f64, err_s: f64) -> Ordering {
    let sign = da.signum();
    if sign * ds < err_s {
        let lower = (da.abs() - err_a) / (ds.abs() + err_s);
        record(if lower.is_finite() && lower < 1.8e19 {
            lower.ceil() as u64
        } else {
            u64::MAX
        });
    }
    if sign > 0.0 {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

impl Scalar for BigRational {
    fn decide_now(
        a1: &BigRational,
        s1: &BigRational,
        a2: &BigRational,
        s2: &BigRational,
    ) -> Result<Ordering, Undecided> {
        let now = a1.cmp(a2);
        if now == Ordering::Equal {
            if s1 != s2 {
                // Equal now (a tie the chain decides), apart just after.
                record(1);
            }
        } else {
            exact_cross(a1, s1, a2, s2, now);
        }
        Ok(now)
    }

    fn order_after(
        a1: &BigRational,
        s1: &BigRational,
        a2: &BigRational,
        s2: &BigRational,
    ) -> Ordering {
        let now = a1.cmp(a2);
        if now == Ordering::Equal {
            return s1.cmp(s2);
        }
        exact_cross(a1, s1, a2, s2, now);
        now
    }

    fn order_quiet(
        a1: &BigRational,
        s1: &BigRational,
        a2: &BigRational,
        s2: &BigRational,
    ) -> Ordering {
        a1.cmp(a2).then_with(|| s1.cmp(s2))
    }

    fn less_now(a: &BigRational, b: &BigRational) -> bool {
        a < b
    }

    fn watch_line(a1: &BigRational, s1: &BigRational, a2: &BigRational, s2: &BigRational) {
        let now = a1.cmp(a2);
        if now != Ordering::Equal {
            exact_cross(a1, s1, a2, s2, now);
        } else if s1 != s2 {
            record(1);
        }
    }
}

/// For `a1 + s1·t` and `a2 + s2·t` on sides `now` (not equal) at `t = 0`:
/// records the first whole `t` at or after the point where they meet, if they
/// move towards each other. The comparisons need no subtraction (and so no
/// gcd); the meeting point is computed only when it could bring the horizon
/// nearer.
fn exact_cross(
    a1: &BigRational,
    s1: &BigRational,
    a2: &BigRational,
    s2: &BigRational,
    now: Ordering,
) {
    // They meet ahead only if the one below now rises faster.
    if s1.cmp(s2) != now.reverse() {
        return;
    }
    if NEXT.with(Cell::get) <= 1 {
        return;
    }
    let root = (a1 - a2) / (s2 - s1);
    let (q, r) = root.numer().div_rem(root.denom());
    let ceil = if Zero::is_zero(&r) { q } else { q + 1 };
    record(ceil.to_u64().unwrap_or(u64::MAX));
}

impl<T: Scalar> Affine<T> {
    fn constant(a: T) -> Affine<T> {
        Affine { a, s: T::zero() }
    }

    /// The quantity `a + s·t`.
    pub(crate) fn line(a: T, s: T) -> Affine<T> {
        Affine { a, s }
    }

    /// The money per voter: `b₀ + t`.
    pub(crate) fn budget(num: u64, den: u64) -> Affine<T> {
        Affine {
            a: T::from_ratio(num, den),
            s: T::from_u64(1),
        }
    }

    fn decide_now(a: &Self, b: &Self) -> Result<Ordering, Undecided> {
        T::decide_now(&a.a, &a.s, &b.a, &b.s)
    }

    fn order_after(a: &Self, b: &Self) -> Ordering {
        T::order_after(&a.a, &a.s, &b.a, &b.s)
    }
}

impl<T: Scalar> Num for Affine<T> {
    const EXACT: bool = T::EXACT;
    // Two numbers an operation.
    const STEP: u64 = 2 * T::STEP;

    fn from_u64(v: u64) -> Self {
        Affine::constant(T::from_u64(v))
    }
    fn from_u128(v: u128) -> Self {
        Affine::constant(T::from_u128(v))
    }
    fn from_ratio(num: u64, den: u64) -> Self {
        Affine::constant(T::from_ratio(num, den))
    }
    fn per_voter(num: u64, den: u64) -> Self {
        Affine::budget(num, den)
    }
    fn shifted(&self, t: u64) -> Self {
        Affine {
            a: self.a.add(&self.s.mul_u64(t)),
            s: self.s.clone(),
        }
    }
    fn zero() -> Self {
        Affine::constant(T::zero())
    }
    fn add(&self, o: &Self) -> Self {
        Affine {
            a: self.a.add(&o.a),
            s: self.s.add(&o.s),
        }
    }
    fn sub(&self, o: &Self) -> Self {
        Affine {
            a: self.a.sub(&o.a),
            s: self.s.sub(&o.s),
        }
    }
    fn mul(&self, o: &Self) -> Self {
        // Equal shares multiplies only by utilities and weights; a product of
        // two quantities that both move is not affine, and holds for this unit
        // only.
        if self.s != T::zero() && o.s != T::zero() {
            record(1);
        }
        Affine {
            a: self.a.mul(&o.a),
            s: self.a.mul(&o.s).add(&self.s.mul(&o.a)),
        }
    }
    fn div(&self, o: &Self) -> Self {
        if o.s != T::zero() {
            record(1);
        }
        Affine {
            a: self.a.div(&o.a),
            s: self.s.div(&o.a),
        }
    }
    fn mul_u64(&self, k: u64) -> Self {
        Affine {
            a: self.a.mul_u64(k),
            s: self.s.mul_u64(k),
        }
    }
    fn is_positive(&self) -> bool {
        Affine::order_after(self, &Affine::zero()) == Ordering::Greater
    }
    fn decide(a: &Self, b: &Self) -> Result<Ordering, Undecided> {
        Affine::decide_now(a, b)
    }
    fn min_value(a: &Self, b: &Self) -> Self {
        if Affine::order_after(b, a) == Ordering::Less {
            b.clone()
        } else {
            a.clone()
        }
    }
    fn less(a: &Self, b: &Self) -> bool {
        Affine::order_after(a, b) == Ordering::Less
    }

    const TRACED: bool = true;

    /// At `t = 0` (the run's horizon covers where it could change).
    fn surely_at_least(a: &Self, b: &Self, scale: &Self) -> bool {
        T::surely_at_least(&a.a, &b.a, &scale.a)
    }

    fn quiet_less(a: &Self, b: &Self) -> bool {
        T::less_now(&a.a, &b.a)
    }

    fn settle_less(a: &Self, b: &Self) -> bool {
        T::order_quiet(&a.a, &a.s, &b.a, &b.s) == Ordering::Less
    }

    fn horizon_at(t: u64) {
        record(t);
    }

    fn watch(a: &Self, b: &Self) {
        T::watch_line(&a.a, &a.s, &b.a, &b.s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    fn exact(a: i64, s: i64) -> Affine<BigRational> {
        Affine {
            a: BigRational::from_integer(BigInt::from(a)),
            s: BigRational::from_integer(BigInt::from(s)),
        }
    }

    #[test]
    fn an_exact_comparison_records_the_first_whole_unit_at_or_after_its_root() {
        // 10 − t against 3 + t: equal at t = 3.5, so unit 4 may differ.
        let h = Horizon::start();
        assert_eq!(
            Affine::decide(&exact(10, -1), &exact(3, 1)),
            Ok(Ordering::Greater)
        );
        assert_eq!(h.next(), Some(4));
        // A root at a whole unit is that unit.
        let h = Horizon::start();
        let _ = Affine::decide(&exact(10, -1), &exact(4, 1));
        assert_eq!(h.next(), Some(3));
        // Moving apart: no root.
        let h = Horizon::start();
        let _ = Affine::decide(&exact(10, 1), &exact(4, -1));
        assert_eq!(h.next(), None);
        // Equal now, apart after: the next unit.
        let h = Horizon::start();
        assert_eq!(
            Affine::decide(&exact(4, 1), &exact(4, 0)),
            Ok(Ordering::Equal)
        );
        assert_eq!(h.next(), Some(1));
    }

    #[test]
    fn a_float_comparison_records_no_later_than_the_root() {
        let f = |a: f64, s: f64| Affine { a, s };
        let h = Horizon::start();
        assert_eq!(
            Affine::decide(&f(10.0, -1.0), &f(3.0, 1.0)),
            Ok(Ordering::Greater)
        );
        let next = h.next();
        assert!(next.is_some_and(|n| n <= 4), "{next:?}");
        // Too close to call: undecided (exact arithmetic decides).
        assert_eq!(
            Affine::decide(&f(1.0, 0.0), &f(1.0 + 1e-12, 0.0)),
            Err(Undecided)
        );
        // A classification at a tie takes the side the slope moves to, and needs
        // no horizon; a watch on a tie that comes apart is one unit.
        let h = Horizon::start();
        assert!(Affine::settle_less(&f(5.0, 0.0), &f(5.0, 1.0)));
        assert!(!Affine::settle_less(&f(5.0, 1.0), &f(5.0, 0.0)));
        assert_eq!(Affine::min_value(&f(5.0, 0.0), &f(5.0, 1.0)), f(5.0, 0.0));
        assert_eq!(h.next(), None);
        let h = Horizon::start();
        Affine::watch(&f(5.0, 0.0), &f(5.0, 1.0));
        assert_eq!(h.next(), Some(1));
        // Identical quantities never part.
        let h = Horizon::start();
        Affine::watch(&f(5.0, 1.0), &f(5.0, 1.0));
        assert_eq!(h.next(), None);
    }
}
