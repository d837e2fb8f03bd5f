//! Money in integer minor units (öre, cents, grosz) with an ISO 4217 currency.
//!
//! A participatory budget must add up to the last öre, so amounts are never
//! floating point. Every operation that could overflow or mix currencies is checked
//! and returns a [`MoneyError`] instead of panicking.
//!
//! ```
//! use medborgarbudget::money::{Currency, Money};
//!
//! let budget = Money::from_major(2_000_000, Currency::SEK)?;
//! let playground = "350000.50 SEK".parse::<Money>()?;
//! let left = budget.checked_sub(playground)?;
//! assert_eq!(left.to_string(), "1649999.50 SEK");
//! assert_eq!(left.minor(), 164_999_950);
//!
//! // Mixing currencies is an error, never a silent conversion.
//! let euros = Money::from_major(10, Currency::EUR)?;
//! assert!(budget.checked_add(euros).is_err());
//! # Ok::<(), medborgarbudget::money::MoneyError>(())
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What went wrong with an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("cannot {operation} {left} and {right}: currencies differ")]
    CurrencyMismatch {
        /// The operation attempted (`add`, `subtract`, `compare`).
        operation: &'static str,
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in 64-bit minor units.
    #[error("{operation} overflowed the range of {currency} minor units")]
    Overflow {
        /// The operation attempted.
        operation: &'static str,
        /// Currency of the operands.
        currency: Currency,
    },
    /// A currency code that is not an active ISO 4217 code.
    #[error("unknown currency code {code:?}: expected an active ISO 4217 code such as SEK")]
    UnknownCurrency {
        /// The code as given.
        code: String,
    },
    /// Text that is not an amount such as `1234.50 SEK`.
    #[error("cannot read {input:?} as money: {reason}")]
    Parse {
        /// The text as given.
        input: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// Active ISO 4217 codes with the number of digits of their minor unit.
///
/// Funds and precious metals without a minor unit are left out: a participatory
/// budget is always in a circulating currency.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An active ISO 4217 currency, such as `SEK`.
///
/// Serialised as its three-letter code; deserialising an unknown code fails.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    code: [u8; 3],
    digits: u8,
}

impl Currency {
    /// Swedish krona.
    pub const SEK: Currency = Currency::known(*b"SEK", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// Polish złoty (most elections in pabulib).
    pub const PLN: Currency = Currency::known(*b"PLN", 2);
    /// Norwegian krone.
    pub const NOK: Currency = Currency::known(*b"NOK", 2);
    /// Danish krone.
    pub const DKK: Currency = Currency::known(*b"DKK", 2);
    /// US dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);

    const fn known(code: [u8; 3], digits: u8) -> Currency {
        Currency { code, digits }
    }

    /// Looks up an ISO 4217 code (upper or lower case).
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] when the code is not an active ISO 4217 code.
    pub fn new(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        ISO_4217
            .binary_search_by(|(c, _)| (*c).cmp(upper.as_str()))
            .ok()
            .and_then(|i| ISO_4217.get(i))
            .and_then(|(c, digits)| {
                let bytes: [u8; 3] = c.as_bytes().try_into().ok()?;
                Some(Currency::known(bytes, *digits))
            })
            .ok_or_else(|| MoneyError::UnknownCurrency {
                code: code.to_owned(),
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The code always comes from the ISO table, which is ASCII.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits of the minor unit: 2 for SEK (öre), 0 for JPY, 3 for KWD.
    pub fn minor_digits(&self) -> u8 {
        self.digits
    }

    /// Minor units in one major unit (100 for SEK).
    pub fn minor_per_major(&self) -> i64 {
        10_i64.pow(u32::from(self.digits))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::new(&value).map_err(crate::wire::refused)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

/// An amount in integer minor units of a currency.
///
/// Amounts may be negative (a difference, an overrun); budgets and costs are checked
/// to be positive where the process requires it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount of `minor` units (öre for SEK).
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero in a currency.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// An amount of whole major units (kronor for SEK).
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] when the amount does not fit in minor units.
    pub fn from_major(major: i64, currency: Currency) -> Result<Money, MoneyError> {
        major
            .checked_mul(currency.minor_per_major())
            .map(|minor| Money { minor, currency })
            .ok_or(MoneyError::Overflow {
                operation: "conversion to minor units",
                currency,
            })
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    fn same_currency(&self, other: &Money, operation: &'static str) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                operation,
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// A currency mismatch or an overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other, "add")?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow {
                operation: "addition",
                currency: self.currency,
            })
    }

    /// `self - other`.
    ///
    /// # Errors
    /// A currency mismatch or an overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other, "subtract")?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow {
                operation: "subtraction",
                currency: self.currency,
            })
    }

    /// `self × factor`.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(factor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow {
                operation: "multiplication",
                currency: self.currency,
            })
    }

    /// Compares two amounts of the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`]: amounts in different currencies have no order.
    pub fn checked_cmp(&self, other: &Money) -> Result<Ordering, MoneyError> {
        self.same_currency(other, "compare")?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// The smallest amount that is at least `basis_points / 10 000` of `self`,
    /// rounded up to the minor unit (the share of a budget a ballot must use).
    ///
    /// ```
    /// # use medborgarbudget::money::{Currency, Money};
    /// let budget = Money::new(1_000, Currency::SEK);
    /// assert_eq!(budget.share_ceil(7_000).minor(), 700);
    /// assert_eq!(Money::new(1_001, Currency::SEK).share_ceil(7_000).minor(), 701);
    /// ```
    pub fn share_ceil(&self, basis_points: u16) -> Money {
        let product = i128::from(self.minor) * i128::from(basis_points);
        let share = product.div_euclid(10_000) + i128::from(product.rem_euclid(10_000) != 0);
        // |share| ≤ |minor| because basis_points ≤ 10 000 is the only use; clamp anyway.
        let minor = i64::try_from(share).unwrap_or(if share > 0 { i64::MAX } else { i64::MIN });
        Money::new(minor, self.currency)
    }

    /// Sums amounts that must all be in `currency`.
    ///
    /// # Errors
    /// A currency mismatch or an overflow.
    pub fn sum<I>(currency: Currency, amounts: I) -> Result<Money, MoneyError>
    where
        I: IntoIterator<Item = Money>,
    {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Money {
    /// `1649999.50 SEK`: the amount with its minor digits, then the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = usize::from(self.currency.digits);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if digits == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10_u64.pow(u32::from(self.currency.digits));
        write!(
            f,
            "{sign}{}.{:0digits$} {}",
            abs / scale,
            abs % scale,
            self.currency
        )
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Reads `1234.50 SEK`, `-3 SEK` or `1234 JPY`: at most as many decimals as the
    /// currency's minor unit has.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse_err = |reason| MoneyError::Parse {
            input: s.to_owned(),
            reason,
        };
        let (amount, code) = s
            .trim()
            .rsplit_once(' ')
            .ok_or_else(|| parse_err("expected an amount, a space and a currency code"))?;
        let currency = Currency::new(code)?;
        let (negative, amount) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = usize::from(currency.digits);
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(parse_err("expected digits before the decimal point"));
        }
        if fraction.len() > digits || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(parse_err(
                "expected no more decimals than the currency's minor unit",
            ));
        }
        let overflow = || MoneyError::Overflow {
            operation: "parsing",
            currency,
        };
        let whole: i64 = whole.parse().map_err(|_| overflow())?;
        let padded = format!("{fraction:0<digits$}");
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| overflow())?
        };
        let minor = whole
            .checked_mul(currency.minor_per_major())
            .and_then(|m| m.checked_add(fraction))
            .ok_or_else(overflow)?;
        Ok(Money::new(if negative { -minor } else { minor }, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_table_is_sorted_so_lookup_finds_every_code() {
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, digits) in ISO_4217 {
            let c = Currency::new(code).unwrap();
            assert_eq!(c.code(), *code);
            assert_eq!(c.minor_digits(), *digits);
        }
    }

    #[test]
    fn currency_rejects_unknown_codes() {
        assert!(matches!(
            Currency::new("XYZ"),
            Err(MoneyError::UnknownCurrency { .. })
        ));
        assert!(Currency::new("").is_err());
        assert_eq!(Currency::new("sek").unwrap(), Currency::SEK);
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(i64::MAX, Currency::SEK);
        assert!(matches!(
            a.checked_add(Money::new(1, Currency::SEK)),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(matches!(
            Money::new(i64::MIN, Currency::SEK).checked_sub(Money::new(1, Currency::SEK)),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(matches!(a.checked_mul(2), Err(MoneyError::Overflow { .. })));
        assert!(matches!(
            Money::from_major(i64::MAX / 10, Currency::SEK),
            Err(MoneyError::Overflow { .. })
        ));
        let err = Money::new(1, Currency::SEK)
            .checked_add(Money::new(1, Currency::EUR))
            .unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                operation: "add",
                left: Currency::SEK,
                right: Currency::EUR
            }
        );
        assert!(
            Money::new(1, Currency::SEK)
                .checked_cmp(&Money::new(1, Currency::EUR))
                .is_err()
        );
    }

    #[test]
    fn display_and_parse_round_trip() {
        for (text, minor, cur) in [
            ("0.05 SEK", 5, Currency::SEK),
            ("-12.30 EUR", -1230, Currency::EUR),
            ("1234 JPY", 1234, Currency::new("JPY").unwrap()),
            ("1.234 KWD", 1234, Currency::new("KWD").unwrap()),
        ] {
            let m: Money = text.parse().unwrap();
            assert_eq!(m, Money::new(minor, cur));
            assert_eq!(m.to_string(), text);
        }
        assert_eq!("12.5 SEK".parse::<Money>().unwrap().minor(), 1250);
        assert!("12.345 SEK".parse::<Money>().is_err());
        assert!("12,50 SEK".parse::<Money>().is_err());
        assert!("SEK".parse::<Money>().is_err());
        assert!("99999999999999999999 SEK".parse::<Money>().is_err());
        assert!(". SEK".parse::<Money>().is_err());
    }

    #[test]
    fn share_rounds_up() {
        let b = Money::new(999, Currency::SEK);
        assert_eq!(b.share_ceil(10_000).minor(), 999);
        assert_eq!(b.share_ceil(0).minor(), 0);
        assert_eq!(b.share_ceil(5_000).minor(), 500);
        assert_eq!(
            Money::new(i64::MAX, Currency::SEK)
                .share_ceil(10_000)
                .minor(),
            i64::MAX
        );
    }

    #[test]
    fn serde_validates_currency() {
        let m = Money::new(150, Currency::SEK);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"minor":150,"currency":"SEK"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"minor":1,"currency":"ABC"}"#).is_err());
    }

    #[test]
    fn sum_checks_every_term() {
        let total = Money::sum(
            Currency::SEK,
            [Money::new(1, Currency::SEK), Money::new(2, Currency::SEK)],
        )
        .unwrap();
        assert_eq!(total.minor(), 3);
        assert!(Money::sum(Currency::SEK, [Money::new(1, Currency::EUR)]).is_err());
    }
}
