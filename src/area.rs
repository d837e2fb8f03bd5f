//! The district a programme serves, the residents who live there, and who may take
//! part.
//!
//! The model targets an *area* smaller than the municipality, often one where
//! turnout and trust are low. Residents are not stored by the crate: the embedding
//! system looks them up in its population register and passes a [`Resident`] record
//! (as of the day of the action) with every idea, ballot or co-creation. The cycle
//! checks [`Eligibility`] against that record and keeps it with the action, so the
//! check can be repeated when the cycle is loaded again.
//!
//! ```
//! use chrono::NaiveDate;
//! use medborgarbudget::area::{Area, Eligibility, Ineligible, Resident};
//! use medborgarbudget::ids::{AreaId, ResidentId};
//!
//! let area = Area::new(AreaId::from_u128(1), "Hjällbo", 7_600)?
//!     .with_breakdown("age", [("12-17", 900), ("18-64", 5_000), ("65+", 700)])?;
//! let rules = Eligibility::residents_aged(12);
//!
//! let day = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
//! let born = NaiveDate::from_ymd_opt(2015, 6, 1).unwrap();
//! let since = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
//! let child = Resident::new(ResidentId::from_u128(9), born, area.id(), since);
//! assert!(matches!(rules.check(&child, &area, day), Err(Ineligible::TooYoung { age: 10, .. })));
//! # Ok::<(), medborgarbudget::area::AreaError>(())
//! ```

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::ids::{AreaId, ResidentId};

/// An invalid area, resident or eligibility rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AreaError {
    /// The area has no name.
    #[error("an area needs a name")]
    EmptyName,
    /// The area has no inhabitants.
    #[error("area {name:?} has population 0; an area must have inhabitants")]
    EmptyPopulation {
        /// The area's name.
        name: String,
    },
    /// A breakdown dimension (such as `age`) appears twice or has no name.
    #[error("breakdown dimension {dimension:?} is empty or appears twice")]
    BadDimension {
        /// The dimension's name.
        dimension: String,
    },
    /// A group inside a dimension appears twice or has no name.
    #[error("group {group:?} of dimension {dimension:?} is empty or appears twice")]
    BadGroup {
        /// The dimension.
        dimension: String,
        /// The group.
        group: String,
    },
    /// The groups of a dimension count more people than live in the area.
    #[error(
        "groups of dimension {dimension:?} count {counted} people, more than the population {population}"
    )]
    GroupsExceedPopulation {
        /// The dimension.
        dimension: String,
        /// Sum of the groups' sizes.
        counted: u64,
        /// The area's population.
        population: u32,
    },
    /// A sub-area whose id is the area's or another sub-area's, or that has
    /// no name or no inhabitants.
    #[error("sub-area {name:?} ({id}) repeats an id, or has no name or no inhabitants")]
    BadSubArea {
        /// Its id.
        id: AreaId,
        /// Its name.
        name: String,
    },
    /// Sub-areas that count more people than live in the area.
    #[error("the sub-areas count {counted} people, more than the population {population}")]
    SubAreasExceedPopulation {
        /// Sum of their populations.
        counted: u64,
        /// The area's population.
        population: u32,
    },
    /// A residence that ends before it starts.
    #[error("resident {resident}: residence ends on {until} before it starts on {since}")]
    ResidenceEndsBeforeStart {
        /// The resident.
        resident: ResidentId,
        /// Start of residence.
        since: NaiveDate,
        /// End of residence.
        until: NaiveDate,
    },
}

/// A group of inhabitants of an area, such as an age band or a language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PopulationGroup {
    /// The group's name, such as `18-64` or `somali`.
    pub name: String,
    /// How many inhabitants belong to it.
    pub size: u32,
}

/// The population of an area split along one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    /// The dimension, such as `age` or `language`.
    pub dimension: String,
    /// The groups; a breakdown need not be complete, but may not count more people
    /// than the area has.
    pub groups: Vec<PopulationGroup>,
}

/// A part of a district with residents of its own (a neighbourhood), which a
/// budget part may serve ([`crate::part::BudgetPart`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SubArea {
    /// Its id: residents registered there have it as their residence.
    pub id: AreaId,
    /// Its name.
    pub name: String,
    /// Its inhabitants.
    pub population: u32,
}

/// The district a programme serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RawArea")]
pub struct Area {
    id: AreaId,
    name: String,
    population: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    breakdown: Vec<Breakdown>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sub_areas: Vec<SubArea>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawArea {
    id: AreaId,
    name: String,
    population: u32,
    #[serde(default)]
    breakdown: Vec<Breakdown>,
    #[serde(default)]
    sub_areas: Vec<SubArea>,
}

impl TryFrom<RawArea> for Area {
    type Error = AreaError;
    fn try_from(raw: RawArea) -> Result<Self, Self::Error> {
        Area::from_raw(raw).map_err(crate::wire::refused)
    }
}

impl Area {
    fn from_raw(raw: RawArea) -> Result<Area, AreaError> {
        let mut area = Area::new(raw.id, raw.name, raw.population)?;
        for b in raw.breakdown {
            area =
                area.with_breakdown(b.dimension, b.groups.into_iter().map(|g| (g.name, g.size)))?;
        }
        for s in raw.sub_areas {
            area = area.with_sub_area(s.id, s.name, s.population)?;
        }
        Ok(area)
    }
}

impl Area {
    /// An area with a name and its number of inhabitants.
    ///
    /// # Errors
    /// An empty name or a population of zero.
    pub fn new(id: AreaId, name: impl Into<String>, population: u32) -> Result<Area, AreaError> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(AreaError::EmptyName);
        }
        if population == 0 {
            return Err(AreaError::EmptyPopulation { name });
        }
        Ok(Area {
            id,
            name,
            population,
            breakdown: Vec::new(),
            sub_areas: Vec::new(),
        })
    }

    /// Adds a sub-area (a neighbourhood with residents of its own). Residents
    /// registered in it live in the area too.
    ///
    /// # Errors
    /// An id the area or another sub-area has, an empty name or population,
    /// or sub-areas counting more people than the area.
    pub fn with_sub_area(
        mut self,
        id: AreaId,
        name: impl Into<String>,
        population: u32,
    ) -> Result<Area, AreaError> {
        let name = name.into();
        if id == self.id
            || self.sub_areas.iter().any(|s| s.id == id)
            || name.trim().is_empty()
            || population == 0
        {
            return Err(AreaError::BadSubArea { id, name });
        }
        let counted = self
            .sub_areas
            .iter()
            .map(|s| u64::from(s.population))
            .sum::<u64>()
            + u64::from(population);
        if counted > u64::from(self.population) {
            return Err(AreaError::SubAreasExceedPopulation {
                counted,
                population: self.population,
            });
        }
        self.sub_areas.push(SubArea {
            id,
            name,
            population,
        });
        Ok(self)
    }

    /// The sub-areas, in the order added.
    pub fn sub_areas(&self) -> &[SubArea] {
        &self.sub_areas
    }

    /// The sub-area `id`, if the area has it.
    pub fn sub_area(&self, id: AreaId) -> Option<&SubArea> {
        self.sub_areas.iter().find(|s| s.id == id)
    }

    /// Whether someone registered in `place` lives in the area: the area
    /// itself or one of its sub-areas.
    pub fn contains(&self, place: AreaId) -> bool {
        place == self.id || self.sub_area(place).is_some()
    }

    /// Adds a breakdown of the population along one dimension.
    ///
    /// # Errors
    /// A repeated or empty dimension or group name, or groups that count more people
    /// than the area has.
    pub fn with_breakdown<D, G, I>(mut self, dimension: D, groups: I) -> Result<Area, AreaError>
    where
        D: Into<String>,
        G: Into<String>,
        I: IntoIterator<Item = (G, u32)>,
    {
        let dimension = dimension.into();
        if dimension.trim().is_empty() || self.breakdown.iter().any(|b| b.dimension == dimension) {
            return Err(AreaError::BadDimension { dimension });
        }
        let mut seen = Vec::new();
        let mut counted = 0_u64;
        for (name, size) in groups {
            let name = name.into();
            if name.trim().is_empty() || seen.iter().any(|g: &PopulationGroup| g.name == name) {
                return Err(AreaError::BadGroup {
                    dimension,
                    group: name,
                });
            }
            counted += u64::from(size);
            seen.push(PopulationGroup { name, size });
        }
        if counted > u64::from(self.population) {
            return Err(AreaError::GroupsExceedPopulation {
                dimension,
                counted,
                population: self.population,
            });
        }
        self.breakdown.push(Breakdown {
            dimension,
            groups: seen,
        });
        Ok(self)
    }

    /// The area's id.
    pub fn id(&self) -> AreaId {
        self.id
    }

    /// The area's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of inhabitants.
    pub fn population(&self) -> u32 {
        self.population
    }

    /// The population broken down by dimension.
    pub fn breakdown(&self) -> &[Breakdown] {
        &self.breakdown
    }

    /// The group `name` of the breakdown by `dimension`, if the area has it.
    pub fn group(&self, dimension: &str, name: &str) -> Option<&PopulationGroup> {
        self.breakdown
            .iter()
            .filter(|b| b.dimension == dimension)
            .flat_map(|b| &b.groups)
            .find(|g| g.name == name)
    }
}

/// Where and since when a resident lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Residence {
    /// The area lived in.
    pub area: AreaId,
    /// First day of residence.
    pub since: NaiveDate,
    /// First day no longer resident (moved out), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
}

/// A resident's groups by dimension (`age` → `18-64`), kept compact: a ballot
/// carries its voter's record, and a vote may have a hundred thousand ballots.
#[derive(Clone, PartialEq, Eq, Default)]
struct Groups(Vec<(Box<str>, Box<str>)>);

impl Groups {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn insert(&mut self, dimension: String, group: String) {
        match self
            .0
            .binary_search_by(|(d, _)| (**d).cmp(dimension.as_str()))
        {
            Ok(i) => self.0[i].1 = group.into_boxed_str(),
            Err(i) => self
                .0
                .insert(i, (dimension.into_boxed_str(), group.into_boxed_str())),
        }
    }
}

impl fmt::Debug for Groups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(d, g)| (d, g)))
            .finish()
    }
}

impl Serialize for Groups {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(d, g)| (&**d, &**g)))
    }
}

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Groups;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from dimension to group")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Groups, M::Error> {
                let mut groups = Groups(Vec::with_capacity(map.size_hint().unwrap_or(1)));
                while let Some((d, g)) = map.next_entry::<String, String>()? {
                    groups.insert(d, g);
                }
                Ok(groups)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A resident's record as the embedding system knows it on the day of an action.
///
/// `groups` holds the resident's groups by dimension (`age` → `18-64`), used by the
/// follow-up to report who took part; it is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RawResident")]
pub struct Resident {
    id: ResidentId,
    born: NaiveDate,
    residence: Residence,
    #[serde(default, skip_serializing_if = "Groups::is_empty")]
    groups: Groups,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawResident {
    id: ResidentId,
    born: NaiveDate,
    residence: Residence,
    #[serde(default)]
    groups: Groups,
}

impl TryFrom<RawResident> for Resident {
    type Error = AreaError;
    fn try_from(raw: RawResident) -> Result<Self, Self::Error> {
        Resident::from_raw(raw).map_err(crate::wire::refused)
    }
}

impl Resident {
    fn from_raw(raw: RawResident) -> Result<Resident, AreaError> {
        if let Some(until) = raw.residence.until.filter(|u| *u <= raw.residence.since) {
            return Err(AreaError::ResidenceEndsBeforeStart {
                resident: raw.id,
                since: raw.residence.since,
                until,
            });
        }
        Ok(Resident {
            id: raw.id,
            born: raw.born,
            residence: raw.residence,
            groups: raw.groups,
        })
    }
}

impl Resident {
    /// A resident born on `born`, living in `area` since `since`.
    pub fn new(id: ResidentId, born: NaiveDate, area: AreaId, since: NaiveDate) -> Resident {
        Resident {
            id,
            born,
            residence: Residence {
                area,
                since,
                until: None,
            },
            groups: Groups::default(),
        }
    }

    /// Records that the resident moved out; `until` is the first day no longer
    /// resident.
    ///
    /// # Errors
    /// [`AreaError::ResidenceEndsBeforeStart`] when `until` is not after `since`.
    pub fn moved_out(mut self, until: NaiveDate) -> Result<Resident, AreaError> {
        if until <= self.residence.since {
            return Err(AreaError::ResidenceEndsBeforeStart {
                resident: self.id,
                since: self.residence.since,
                until,
            });
        }
        self.residence.until = Some(until);
        Ok(self)
    }

    /// Places the resident in a group of a dimension (`age` → `18-64`).
    pub fn in_group(mut self, dimension: impl Into<String>, group: impl Into<String>) -> Resident {
        self.groups.insert(dimension.into(), group.into());
        self
    }

    /// The resident's group in `dimension`, if recorded.
    pub fn group(&self, dimension: &str) -> Option<&str> {
        self.groups
            .0
            .binary_search_by(|(d, _)| (**d).cmp(dimension))
            .ok()
            .map(|i| &*self.groups.0[i].1)
    }

    /// The resident's id.
    pub fn id(&self) -> ResidentId {
        self.id
    }

    /// The same record under another id (a pseudonym).
    pub(crate) fn with_id(mut self, id: ResidentId) -> Resident {
        self.id = id;
        self
    }

    /// Date of birth.
    pub fn born(&self) -> NaiveDate {
        self.born
    }

    /// Where the resident lives.
    pub fn residence(&self) -> &Residence {
        &self.residence
    }

    /// The resident's groups as (dimension, group), by dimension.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &str)> {
        self.groups.0.iter().map(|(d, g)| (&**d, &**g))
    }

    /// Age in whole years on `date`, or `None` before birth.
    pub fn age_on(&self, date: NaiveDate) -> Option<u32> {
        if date < self.born {
            return None;
        }
        let mut years = date.year() - self.born.year();
        if (date.month(), date.day()) < (self.born.month(), self.born.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }
}

/// Whether residents must live in the area to take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum ResidencyRequirement {
    /// Anyone may take part (for example people who work or study in the area).
    None,
    /// Residents of the area, registered there for at least `minimum_days` days.
    InArea {
        /// Days of registered residence required on the day of the action.
        minimum_days: u32,
    },
}

/// Who may submit ideas and vote: fixed by the council in step 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Minimum age in whole years on the day of the action.
    pub minimum_age: u8,
    /// The residency requirement.
    pub residency: ResidencyRequirement,
}

/// Why a resident may not take part on a given day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ineligible {
    /// Below the minimum age.
    #[error("resident {resident} is {age} on {on}; the minimum age is {minimum}")]
    TooYoung {
        /// The resident.
        resident: ResidentId,
        /// Age on the day.
        age: u32,
        /// The minimum age.
        minimum: u8,
        /// The day.
        on: NaiveDate,
    },
    /// Not yet born on the day (a record error).
    #[error("resident {resident} is born {born}, after {on}")]
    NotBorn {
        /// The resident.
        resident: ResidentId,
        /// Date of birth.
        born: NaiveDate,
        /// The day.
        on: NaiveDate,
    },
    /// Lives in another area.
    #[error("resident {resident} lives in area {lives_in}, not in {area}")]
    OutsideArea {
        /// The resident.
        resident: ResidentId,
        /// Where the resident lives.
        lives_in: AreaId,
        /// The area of the programme.
        area: AreaId,
    },
    /// Not (or not long enough) resident on the day.
    #[error(
        "resident {resident} has lived in the area since {since}; on {on} {minimum_days} days are required"
    )]
    NotResidentLongEnough {
        /// The resident.
        resident: ResidentId,
        /// Start of residence.
        since: NaiveDate,
        /// The day.
        on: NaiveDate,
        /// Days required.
        minimum_days: u32,
    },
    /// Moved out before the day.
    #[error("resident {resident} moved out of the area on {until}, before {on}")]
    MovedOut {
        /// The resident.
        resident: ResidentId,
        /// First day no longer resident.
        until: NaiveDate,
        /// The day.
        on: NaiveDate,
    },
}

impl Ineligible {
    /// The resident the refusal names.
    pub fn resident(&self) -> ResidentId {
        match self {
            Ineligible::TooYoung { resident, .. }
            | Ineligible::NotBorn { resident, .. }
            | Ineligible::OutsideArea { resident, .. }
            | Ineligible::NotResidentLongEnough { resident, .. }
            | Ineligible::MovedOut { resident, .. } => *resident,
        }
    }

    /// The refusal naming `f(resident)` instead.
    pub(crate) fn rename(mut self, f: &dyn Fn(ResidentId) -> ResidentId) -> Ineligible {
        match &mut self {
            Ineligible::TooYoung { resident, .. }
            | Ineligible::NotBorn { resident, .. }
            | Ineligible::OutsideArea { resident, .. }
            | Ineligible::NotResidentLongEnough { resident, .. }
            | Ineligible::MovedOut { resident, .. } => *resident = f(*resident),
        }
        self
    }
}

/// The version of a set of [`Eligibility`] rules: the first 8 bytes of the
/// SHA-256 of their canonical encoding, as 16 hex digits. A ballot records the
/// version it was checked under instead of the voter's record, so that the
/// log keeps the verdict and nothing that describes the voter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct EligibilityVersion([u8; 8]);

impl fmt::Display for EligibilityVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl From<EligibilityVersion> for String {
    fn from(v: EligibilityVersion) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for EligibilityVersion {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bytes = text.as_bytes();
        let mut out = [0_u8; 8];
        if bytes.len() != 16 {
            return Err(format!(
                "{text:?} is not an eligibility version (16 hex digits)"
            ));
        }
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                pair.first().copied().and_then(hex),
                pair.get(1).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
                _ => {
                    return Err(format!(
                        "{text:?} is not an eligibility version (16 hex digits)"
                    ));
                }
            }
        }
        Ok(EligibilityVersion(out))
    }
}

impl Eligibility {
    /// The version of these rules (see [`EligibilityVersion`]): equal rules
    /// have equal versions in every build.
    pub fn version(&self) -> EligibilityVersion {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"medborgarbudget/eligibility/1\0");
        h.update([self.minimum_age]);
        match self.residency {
            ResidencyRequirement::None => h.update([0]),
            ResidencyRequirement::InArea { minimum_days } => {
                h.update([1]);
                h.update(minimum_days.to_be_bytes());
            }
        }
        let digest = h.finalize();
        let mut out = [0_u8; 8];
        out.copy_from_slice(&digest[..8]);
        EligibilityVersion(out)
    }
}

impl Eligibility {
    /// Residents of the area aged at least `minimum_age`, with no minimum residence.
    pub const fn residents_aged(minimum_age: u8) -> Eligibility {
        Eligibility {
            minimum_age,
            residency: ResidencyRequirement::InArea { minimum_days: 0 },
        }
    }

    /// Checks a resident's record against the rule on `on`.
    ///
    /// # Errors
    /// The first reason the resident may not take part.
    pub fn check(&self, resident: &Resident, area: &Area, on: NaiveDate) -> Result<(), Ineligible> {
        let id = resident.id();
        let age = resident.age_on(on).ok_or(Ineligible::NotBorn {
            resident: id,
            born: resident.born(),
            on,
        })?;
        if age < u32::from(self.minimum_age) {
            return Err(Ineligible::TooYoung {
                resident: id,
                age,
                minimum: self.minimum_age,
                on,
            });
        }
        if let ResidencyRequirement::InArea { minimum_days } = self.residency {
            let residence = resident.residence();
            if !area.contains(residence.area) {
                return Err(Ineligible::OutsideArea {
                    resident: id,
                    lives_in: residence.area,
                    area: area.id(),
                });
            }
            if let Some(until) = residence.until.filter(|until| *until <= on) {
                return Err(Ineligible::MovedOut {
                    resident: id,
                    until,
                    on,
                });
            }
            let days = (on - residence.since).num_days();
            if days < i64::from(minimum_days) {
                return Err(Ineligible::NotResidentLongEnough {
                    resident: id,
                    since: residence.since,
                    on,
                    minimum_days,
                });
            }
        }
        Ok(())
    }
}

#[cfg(feature = "schema")]
schema_by_hand!(Groups, "Groups", {
    "description": "A resident's group in each dimension of the area's breakdown",
    "type": "object",
    "additionalProperties": {"type": "string"}
});

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn area() -> Area {
        Area::new(AreaId::from_u128(1), "Rosengård", 24_000).unwrap()
    }

    #[test]
    fn area_invariants_hold_in_constructor_and_serde() {
        assert_eq!(
            Area::new(AreaId::from_u128(1), " ", 10),
            Err(AreaError::EmptyName)
        );
        assert!(matches!(
            Area::new(AreaId::from_u128(1), "X", 0),
            Err(AreaError::EmptyPopulation { .. })
        ));
        let err = area()
            .with_breakdown("age", [("0-17", 20_000), ("18+", 5_000)])
            .unwrap_err();
        assert!(matches!(
            err,
            AreaError::GroupsExceedPopulation {
                counted: 25_000,
                ..
            }
        ));
        let ok = area().with_breakdown("age", [("0-17", 6_000)]).unwrap();
        assert!(matches!(
            ok.clone().with_breakdown("age", [("x", 1)]),
            Err(AreaError::BadDimension { .. })
        ));
        assert!(matches!(
            area().with_breakdown("lang", [("sv", 1), ("sv", 2)]),
            Err(AreaError::BadGroup { .. })
        ));
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<Area>(&json).unwrap(), ok);
        let bad = json.replace("6000", "60000");
        assert!(serde_json::from_str::<Area>(&bad).is_err());
        let zero = json.replace("24000", "0");
        assert!(serde_json::from_str::<Area>(&zero).is_err());
    }

    #[test]
    fn age_counts_whole_years() {
        let r = Resident::new(
            ResidentId::from_u128(1),
            d(2010, 6, 15),
            AreaId::from_u128(1),
            d(2010, 6, 15),
        );
        assert_eq!(r.age_on(d(2026, 6, 14)), Some(15));
        assert_eq!(r.age_on(d(2026, 6, 15)), Some(16));
        assert_eq!(r.age_on(d(2010, 6, 14)), None);
        let leap = Resident::new(
            ResidentId::from_u128(2),
            d(2008, 2, 29),
            AreaId::from_u128(1),
            d(2008, 2, 29),
        );
        assert_eq!(leap.age_on(d(2026, 2, 28)), Some(17));
        assert_eq!(leap.age_on(d(2026, 3, 1)), Some(18));
    }

    #[test]
    fn eligibility_checks_each_condition() {
        let a = area();
        let on = d(2026, 5, 1);
        let rule = Eligibility {
            minimum_age: 12,
            residency: ResidencyRequirement::InArea { minimum_days: 30 },
        };
        let ok = Resident::new(
            ResidentId::from_u128(1),
            d(1990, 1, 1),
            a.id(),
            d(2020, 1, 1),
        );
        assert_eq!(rule.check(&ok, &a, on), Ok(()));

        let young = Resident::new(
            ResidentId::from_u128(2),
            d(2015, 1, 1),
            a.id(),
            d(2015, 1, 1),
        );
        assert!(matches!(
            rule.check(&young, &a, on),
            Err(Ineligible::TooYoung {
                age: 11,
                minimum: 12,
                ..
            })
        ));

        let unborn = Resident::new(
            ResidentId::from_u128(3),
            d(2027, 1, 1),
            a.id(),
            d(2027, 1, 1),
        );
        assert!(matches!(
            rule.check(&unborn, &a, on),
            Err(Ineligible::NotBorn { .. })
        ));

        let elsewhere = Resident::new(
            ResidentId::from_u128(4),
            d(1990, 1, 1),
            AreaId::from_u128(2),
            d(2020, 1, 1),
        );
        assert!(matches!(
            rule.check(&elsewhere, &a, on),
            Err(Ineligible::OutsideArea { .. })
        ));

        let newcomer = Resident::new(
            ResidentId::from_u128(5),
            d(1990, 1, 1),
            a.id(),
            d(2026, 4, 20),
        );
        assert!(matches!(
            rule.check(&newcomer, &a, on),
            Err(Ineligible::NotResidentLongEnough { .. })
        ));

        let future = Resident::new(
            ResidentId::from_u128(6),
            d(1990, 1, 1),
            a.id(),
            d(2026, 6, 1),
        );
        assert!(rule.check(&future, &a, on).is_err());

        let gone = ok.clone().moved_out(d(2026, 5, 1)).unwrap();
        assert!(matches!(
            rule.check(&gone, &a, on),
            Err(Ineligible::MovedOut { .. })
        ));
        let leaving = ok.clone().moved_out(d(2026, 5, 2)).unwrap();
        assert_eq!(rule.check(&leaving, &a, on), Ok(()));

        let open = Eligibility {
            minimum_age: 0,
            residency: ResidencyRequirement::None,
        };
        assert_eq!(open.check(&elsewhere, &a, on), Ok(()));
    }

    #[test]
    fn resident_serde_checks_residence() {
        let r = Resident::new(
            ResidentId::from_u128(1),
            d(1990, 1, 1),
            AreaId::from_u128(1),
            d(2020, 1, 1),
        )
        .in_group("age", "18-64")
        .moved_out(d(2024, 1, 1))
        .unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Resident>(&json).unwrap(), r);
        assert_eq!(r.group("age"), Some("18-64"));
        assert_eq!(r.group("language"), None);
        let both = r.clone().in_group("language", "sv").in_group("age", "65+");
        assert_eq!(
            both.groups().collect::<Vec<_>>(),
            [("age", "65+"), ("language", "sv")]
        );
        let bad = json.replace("2024-01-01", "2019-01-01");
        assert!(serde_json::from_str::<Resident>(&bad).is_err());
        assert!(r.clone().moved_out(d(2020, 1, 1)).is_err());
    }
}
