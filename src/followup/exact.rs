//! Exact measures over integers: ratios, the mean and Gini coefficient of a
//! distribution, changes in basis points.

use super::ejr::Overflow;
use crate::tally::Fraction;

/// `numerator / denominator`, and zero when the denominator is zero (an empty
/// group, nobody voted).
pub(crate) fn ratio(numerator: u128, denominator: u128) -> Fraction {
    if denominator == 0 {
        Fraction::new(0, 1)
    } else {
        Fraction::new(numerator, denominator)
    }
}

/// `(a · b) / (c · d)`, checked; zero when `c · d` is zero.
pub(crate) fn ratio_of_products(a: u128, b: u128, c: u128, d: u128) -> Result<Fraction, Overflow> {
    let numerator = a.checked_mul(b).ok_or(Overflow)?;
    let denominator = c.checked_mul(d).ok_or(Overflow)?;
    Ok(ratio(numerator, denominator))
}

/// The Gini coefficient `Σ_i Σ_j |x_i − x_j| / (2 n Σ x)`, zero when `n = 0` or
/// `Σ x = 0`.
///
/// Computed in `O(n log n)`: with `x_(1) ≤ … ≤ x_(n)` sorted, each pair counts
/// `x_(k) − x_(j)` twice for `j < k`, so the double sum is
/// `2 Σ_k (2k − n − 1) x_(k)` and `G = Σ_k (2k − n − 1) x_(k) / (n Σ x)`. The
/// positive and negative coefficients are summed apart to stay in `u128`.
pub(crate) fn gini(values: &mut [u128]) -> Result<Fraction, Overflow> {
    let n = values.len() as u128;
    let mut total: u128 = 0;
    for &x in values.iter() {
        total = total.checked_add(x).ok_or(Overflow)?;
    }
    if n == 0 || total == 0 {
        return Ok(Fraction::new(0, 1));
    }
    values.sort_unstable();
    let (mut above, mut below) = (0u128, 0u128);
    for (k, &x) in (1u128..).zip(values.iter()) {
        let twice = k.checked_mul(2).ok_or(Overflow)?;
        let (sum, coefficient) = if twice > n {
            (&mut above, twice - (n + 1))
        } else {
            (&mut below, (n + 1) - twice)
        };
        let term = coefficient.checked_mul(x).ok_or(Overflow)?;
        *sum = sum.checked_add(term).ok_or(Overflow)?;
    }
    let numerator = above.checked_sub(below).ok_or(Overflow)?;
    Ok(ratio(numerator, n.checked_mul(total).ok_or(Overflow)?))
}

/// `later − earlier` in basis points (1/10,000), rounded half away from zero.
pub(crate) fn change_bp(earlier: Fraction, later: Fraction) -> Result<i64, Overflow> {
    let signed = |v: u128| i128::try_from(v).map_err(|_| Overflow);
    let (en, ed) = (
        signed(earlier.numerator)?,
        signed(earlier.denominator.max(1))?,
    );
    let (ln, ld) = (signed(later.numerator)?, signed(later.denominator.max(1))?);
    let difference = ln
        .checked_mul(ed)
        .zip(en.checked_mul(ld))
        .and_then(|(a, b)| a.checked_sub(b))
        .and_then(|d| d.checked_mul(10_000))
        .ok_or(Overflow)?;
    let denominator = ld.checked_mul(ed).ok_or(Overflow)?;
    let magnitude = difference.unsigned_abs();
    let d = denominator.unsigned_abs();
    let mut q = magnitude / d;
    if (magnitude % d).checked_mul(2).ok_or(Overflow)? >= d {
        q += 1;
    }
    let q = i64::try_from(q).map_err(|_| Overflow)?;
    Ok(if difference < 0 { -q } else { q })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(n: u128, d: u128) -> Fraction {
        Fraction::new(n, d)
    }

    #[test]
    fn gini_by_hand() {
        // [0, 0, 1]: |0−1| appears 4 times in the double sum; 4 / (2·3·1).
        assert_eq!(gini(&mut [1, 0, 0]).unwrap(), f(2, 3));
        // [1, 2, 3, 4]: Σ|x_i − x_j| = 2·(1+2+3+1+2+1) = 20; 20 / (2·4·10).
        assert_eq!(gini(&mut [4, 1, 3, 2]).unwrap(), f(1, 4));
        // One voter has everything among n: (n − 1) / n.
        assert_eq!(gini(&mut [0, 0, 0, 0, 7]).unwrap(), f(4, 5));
        // Equal, empty, all zero.
        assert_eq!(gini(&mut [5, 5, 5]).unwrap(), f(0, 1));
        assert_eq!(gini(&mut []).unwrap(), f(0, 1));
        assert_eq!(gini(&mut [0, 0]).unwrap(), f(0, 1));
        // [2, 6]: 2·4 / (2·2·8) = 1/4.
        assert_eq!(gini(&mut [6, 2]).unwrap(), f(1, 4));
    }

    #[test]
    fn gini_reports_overflow_instead_of_wrapping() {
        assert_eq!(gini(&mut [u128::MAX, 1]), Err(Overflow));
        assert_eq!(gini(&mut [u128::MAX / 2, 0, 0]), Err(Overflow));
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(3, 0), f(0, 1));
        assert_eq!(ratio(6, 8), f(3, 4));
        assert_eq!(ratio_of_products(2, 3, 4, 6).unwrap(), f(1, 4));
        assert_eq!(ratio_of_products(2, 3, 0, 6).unwrap(), f(0, 1));
        assert_eq!(ratio_of_products(u128::MAX, 2, 1, 1), Err(Overflow));
    }

    #[test]
    fn changes_in_basis_points() {
        assert_eq!(change_bp(f(1, 10), f(1, 5)).unwrap(), 1_000);
        assert_eq!(change_bp(f(1, 5), f(1, 10)).unwrap(), -1_000);
        assert_eq!(change_bp(f(1, 3), f(1, 3)).unwrap(), 0);
        // 1/3 − 0 = 3 333.33… bp; 2/3 = 6 666.67 bp; half away from zero.
        assert_eq!(change_bp(f(0, 1), f(1, 3)).unwrap(), 3_333);
        assert_eq!(change_bp(f(0, 1), f(2, 3)).unwrap(), 6_667);
        assert_eq!(change_bp(f(2, 3), f(0, 1)).unwrap(), -6_667);
        assert_eq!(change_bp(f(0, 1), f(1, 20_000)).unwrap(), 1);
        assert_eq!(change_bp(f(1, 20_000), f(0, 1)).unwrap(), -1);
        assert_eq!(change_bp(f(u128::MAX, 1), f(0, 1)), Err(Overflow));
    }

    /// The quadratic definition.
    fn gini_by_definition(values: &[u128]) -> Fraction {
        let n = values.len() as u128;
        let total: u128 = values.iter().sum();
        let pairs: u128 = values
            .iter()
            .flat_map(|a| values.iter().map(move |b| a.abs_diff(*b)))
            .sum();
        ratio(pairs, 2 * n * total)
    }

    proptest! {
        #[test]
        fn gini_equals_its_definition(mut values in proptest::collection::vec(0u128..1_000, 0..40)) {
            let expected = gini_by_definition(&values);
            prop_assert_eq!(gini(&mut values).unwrap(), expected);
        }
    }
}
