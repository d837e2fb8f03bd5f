//! Several budgets in one cycle: the whole district and its neighbourhoods.
//!
//! The model speaks of "ett område eller områden": a cycle's money may be
//! split into [`BudgetPart`]s, each with its own amount, its own projects and
//! its own ballots — one for the whole district, say, and one per
//! neighbourhood ([`SubArea`](crate::area::SubArea)). A resident casts one
//! ballot per part they may vote in ([`PartVoting`]: their own parts only,
//! their own and up to N others, or any), and each part is counted alone by
//! the cycle's rule, with its own budget; money a part leaves unspent carries
//! over to the same part next year.
//!
//! ```
//! use medborgarbudget::area::Area;
//! use medborgarbudget::ids::AreaId;
//! use medborgarbudget::money::{Currency, Money};
//! use medborgarbudget::part::{BudgetPart, PartId};
//!
//! let north = AreaId::new();
//! let area = Area::new(AreaId::new(), "Angered", 52_000)?.with_sub_area(north, "Hjällbo", 7_600)?;
//! let whole = BudgetPart::whole(PartId::new("angered")?, "All of Angered", Money::new(100_000_000, Currency::SEK));
//! let hjallbo = BudgetPart::of_sub_area(PartId::new("hjallbo")?, "Hjällbo", north, Money::new(50_000_000, Currency::SEK));
//! assert!(whole.serves(&area, north) && hjallbo.serves(&area, north));
//! assert!(!hjallbo.serves(&area, AreaId::new()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::area::Area;
use crate::ids::AreaId;
use crate::money::Money;

/// The longest a [`PartId`] may be.
pub const MAX_PART_ID: usize = 64;

/// The most parts one cycle may have.
pub const MAX_PARTS: usize = 64;

/// A budget part's name in commands and ballots: lower-case letters, digits
/// and `-`, 1 to [`MAX_PART_ID`] characters (`"hjallbo"`, `"city-wide"`). It
/// stays the same from year to year, so carry-over finds its part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct PartId(String);

/// A part id that does not read. Serialises as the crate's other errors do:
/// `{"code":"bad_part_id","details":{"given":"Norr"}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} cannot name a budget part: use 1 to {MAX_PART_ID} lower-case letters, digits and '-'"
)]
pub struct BadPartId {
    /// What was given.
    pub given: String,
}

impl Serialize for BadPartId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Details<'a> {
            given: &'a str,
        }
        crate::wire::serialize_error(s, "bad_part_id", Details { given: &self.given })
    }
}

impl PartId {
    /// A part id.
    ///
    /// # Errors
    /// [`BadPartId`] for an empty or long id, or one with other characters.
    pub fn new(id: impl Into<String>) -> Result<PartId, BadPartId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_PART_ID
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(PartId(id))
        } else {
            Err(BadPartId { given: id })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PartId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PartId, D::Error> {
        let text = String::deserialize(d)?;
        PartId::new(text)
            .map_err(crate::wire::refused)
            .map_err(serde::de::Error::custom)
    }
}

/// One of a cycle's budgets: its money, and whom it serves — the whole
/// district, or the residents of one sub-area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BudgetPart {
    /// Its id.
    pub id: PartId,
    /// Its name, for residents.
    pub name: String,
    /// The sub-area it serves; `None` for the whole district.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaId>,
    /// The council's money for it; money carried over or added to the part
    /// comes on top.
    pub amount: Money,
}

impl BudgetPart {
    /// A part for the whole district.
    pub fn whole(id: PartId, name: impl Into<String>, amount: Money) -> BudgetPart {
        BudgetPart {
            id,
            name: name.into(),
            area: None,
            amount,
        }
    }

    /// A part for the residents of one sub-area.
    pub fn of_sub_area(
        id: PartId,
        name: impl Into<String>,
        area: AreaId,
        amount: Money,
    ) -> BudgetPart {
        BudgetPart {
            id,
            name: name.into(),
            area: Some(area),
            amount,
        }
    }

    /// Whether the part is a resident's own: one for the whole district, or
    /// for the sub-area `home` (where the resident is registered).
    pub fn serves(&self, area: &Area, home: AreaId) -> bool {
        match self.area {
            None => area.contains(home),
            Some(sub) => sub == home,
        }
    }
}

/// The part money added to a cycle of `parts` goes to: the part it names if
/// the cycle has it; otherwise (money carried over from a year of one
/// budget, or from a part this year does not have) the one part for the
/// whole district, or the first part if there is not exactly one such. `None`
/// only for a cycle of one budget, where all money is the one budget.
pub fn destination<'a>(parts: &'a [BudgetPart], named: Option<&'a PartId>) -> Option<&'a PartId> {
    if let Some(p) = named.and_then(|id| parts.iter().find(|p| &p.id == id)) {
        return Some(&p.id);
    }
    let mut whole = parts.iter().filter(|p| p.area.is_none());
    match (whole.next(), whole.next()) {
        (Some(only), None) => Some(&only.id),
        _ => parts.first().map(|p| &p.id),
    }
}

/// The part council money names that a cycle of `parts` does not have (a
/// typo, refused rather than sent elsewhere), if any. Carried-over money and
/// money naming no part go where [`destination`] sends them.
pub(crate) fn missing_part<'a>(
    parts: &[BudgetPart],
    money: &'a crate::process::Allocation,
) -> Option<&'a PartId> {
    match (money.source, &money.part) {
        (crate::process::FundingSource::Council, Some(part))
            if !parts.iter().any(|p| &p.id == part) =>
        {
            Some(part)
        }
        _ => None,
    }
}

/// How a cycle of several budget parts is counted (fixed with the ballot
/// rules in step 1).
///
/// * `Separately` (the default): each part alone, by the cycle's rule, within
///   its own money; what a part leaves is carried over to the same part.
/// * `Together`: one count of equal shares over every part's projects and all
///   the parts' money, each voter starting with their share of the money of
///   every part that is theirs — a part's money divided equally among the
///   voters whose own part it is (the residents of its sub-area; everyone,
///   for a part of the whole district). This is the single city-wide
///   election equalshares.net describes for city districts, with its
///   correction for turnout: a district where few vote keeps its share of the
///   money, and its voters may still spend it on other parts' projects (and
///   others' voters on theirs), so a part may receive more or less than its
///   amount. The counting rule must be an equal-shares rule, the ballots
///   approval, knapsack or cumulative (a voter's ballots in several parts are
///   one ballot over all their projects; rankings of different parts do not
///   join into one), and what the count leaves is carried over as one sum.
///   Every ballot records the voter's home, which decides their parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PartCounting {
    /// Each part alone, within its own money.
    #[default]
    Separately,
    /// One count of equal shares, each voter starting with their parts'
    /// money divided among those parts' voters.
    Together,
}

/// In which parts a resident may cast a ballot (fixed with the ballot rules
/// in step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum PartVoting {
    /// Any part (Decidim's "vote in any budget").
    #[default]
    Any,
    /// Only the resident's own parts: the whole district's, and their
    /// sub-area's.
    Own,
    /// Their own parts, and up to `others` parts of other sub-areas
    /// (Decidim's "own plus N").
    OwnPlus {
        /// How many other parts.
        others: u8,
    },
}

#[cfg(feature = "schema")]
struct_error_schema!(BadPartId, "bad_part_id", "given", {"type": "string"});
