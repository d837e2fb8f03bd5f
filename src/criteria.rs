//! The criteria ideas are judged by, fixed by the council in step 1.
//!
//! The model requires criteria grounded in **social sustainability and public
//! health**. The builder makes that a type rule: [`CriteriaBuilder::build`] exists
//! only once at least one criterion of each category has been added. Criteria read
//! from a file or a store go through [`CriteriaSet::new`], which checks the same rule at
//! run time.
//!
//! ```
//! use medborgarbudget::criteria::{Category, CriteriaSet, Score};
//!
//! let criteria = CriteriaSet::builder()
//!     .social_sustainability("meeting-places", "Creates places where neighbours meet", 3)
//!     .public_health("movement", "Invites people to move and play", 2)
//!     .other("upkeep", "Low running costs", 1)
//!     .build()?;
//! assert_eq!(criteria.len(), 3);
//! assert_eq!(criteria.total_weight(), 6);
//! assert_eq!(criteria.get("movement").map(|c| c.category()), Some(Category::PublicHealth));
//! assert!(Score::new(11).is_err());
//! # Ok::<(), medborgarbudget::criteria::CriteriaError>(())
//! ```
//!
//! Without a public-health criterion, `build` does not exist:
//!
//! ```compile_fail
//! use medborgarbudget::criteria::CriteriaSet;
//! let criteria = CriteriaSet::builder()
//!     .social_sustainability("meeting-places", "Creates places where neighbours meet", 3)
//!     .build();
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::text::LocalText;

/// An invalid criterion or set of criteria.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CriteriaError {
    /// A criterion without a name.
    #[error("criterion {index} has an empty name")]
    EmptyName {
        /// Position in the list.
        index: usize,
    },
    /// A criterion with weight zero.
    #[error("criterion {name:?} has weight 0; weights are whole numbers from 1")]
    ZeroWeight {
        /// The criterion.
        name: String,
    },
    /// Two criteria with the same name.
    #[error("criterion {name:?} appears twice")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// No criterion of a required category.
    #[error(
        "criteria must include at least one {missing} criterion (the model grounds criteria in social sustainability and public health)"
    )]
    MissingCategory {
        /// The category with no criterion.
        missing: Category,
    },
    /// A score outside 0–10.
    #[error("score {value} is outside 0..={max}", max = Score::MAX)]
    ScoreOutOfRange {
        /// The value given.
        value: u8,
    },
}

/// The category of a criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Social sustainability (social hållbarhet): inclusion, trust, meeting places.
    SocialSustainability,
    /// Public health (folkhälsa).
    PublicHealth,
    /// Any other criterion (cost of upkeep, accessibility, …).
    Other,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::SocialSustainability => "social-sustainability",
            Category::PublicHealth => "public-health",
            Category::Other => "other",
        })
    }
}

/// One criterion: a name (its key), what it means, its category and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    name: String,
    description: LocalText,
    category: Category,
    weight: u32,
}

impl Criterion {
    /// A criterion; `weight` is relative to the other criteria (a whole number ≥ 1).
    /// Validity is checked when the criteria are assembled by [`CriteriaSet::new`].
    pub fn new(
        name: impl Into<String>,
        description: impl Into<LocalText>,
        category: Category,
        weight: u32,
    ) -> Criterion {
        Criterion {
            name: name.into(),
            description: description.into(),
            category,
            weight,
        }
    }

    /// The criterion's name, unique within its [`CriteriaSet`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the criterion means, for residents and officials (in Swedish).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// What the criterion means, in every language it was written in.
    pub fn description_text(&self) -> &LocalText {
        &self.description
    }

    /// The category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The relative weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// A score of a project against one criterion, from 0 (not at all) to 10 (fully).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "u8", into = "u8")]
pub struct Score(u8);

impl Score {
    /// The highest score.
    pub const MAX: u8 = 10;

    /// A score from 0 to 10.
    ///
    /// # Errors
    /// [`CriteriaError::ScoreOutOfRange`] above 10.
    pub fn new(value: u8) -> Result<Score, CriteriaError> {
        if value <= Self::MAX {
            Ok(Score(value))
        } else {
            Err(CriteriaError::ScoreOutOfRange { value })
        }
    }

    /// The value, 0 to 10.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Score {
    type Error = CriteriaError;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Score::new(value).map_err(crate::wire::refused)
    }
}

impl From<Score> for u8 {
    fn from(score: Score) -> u8 {
        score.0
    }
}

/// A validated set of criteria: non-empty unique names, weights ≥ 1, and at least
/// one social-sustainability and one public-health criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "Vec<Criterion>", into = "Vec<Criterion>")]
pub struct CriteriaSet {
    list: Vec<Criterion>,
}

impl CriteriaSet {
    /// Starts a builder that only offers `build` once both required categories are
    /// present.
    pub fn builder() -> CriteriaBuilder<Missing, Missing> {
        CriteriaBuilder {
            list: Vec::new(),
            _marker: PhantomData,
        }
    }

    /// Checks a list of criteria at run time (the same rules as the builder).
    ///
    /// # Errors
    /// The first broken rule.
    pub fn new(list: Vec<Criterion>) -> Result<CriteriaSet, CriteriaError> {
        for (index, c) in list.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(CriteriaError::EmptyName { index });
            }
            if c.weight == 0 {
                return Err(CriteriaError::ZeroWeight {
                    name: c.name.clone(),
                });
            }
            if list[..index].iter().any(|p| p.name == c.name) {
                return Err(CriteriaError::Duplicate {
                    name: c.name.clone(),
                });
            }
        }
        for required in [Category::SocialSustainability, Category::PublicHealth] {
            if !list.iter().any(|c| c.category == required) {
                return Err(CriteriaError::MissingCategory { missing: required });
            }
        }
        Ok(CriteriaSet { list })
    }

    /// The criteria in the order given.
    pub fn iter(&self) -> std::slice::Iter<'_, Criterion> {
        self.list.iter()
    }

    /// The criterion with this name.
    pub fn get(&self, name: &str) -> Option<&Criterion> {
        self.list.iter().find(|c| c.name == name)
    }

    /// How many criteria there are (at least two).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Always `false`: valid criteria are never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sum of the weights.
    pub fn total_weight(&self) -> u64 {
        self.list.iter().map(|c| u64::from(c.weight)).sum()
    }
}

impl<'a> IntoIterator for &'a CriteriaSet {
    type Item = &'a Criterion;
    type IntoIter = std::slice::Iter<'a, Criterion>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl TryFrom<Vec<Criterion>> for CriteriaSet {
    type Error = CriteriaError;
    fn try_from(list: Vec<Criterion>) -> Result<Self, Self::Error> {
        CriteriaSet::new(list).map_err(crate::wire::refused)
    }
}

impl From<CriteriaSet> for Vec<Criterion> {
    fn from(c: CriteriaSet) -> Self {
        c.list
    }
}

/// Type-level marker: no criterion of a required category yet.
#[derive(Debug, Clone, Copy)]
pub enum Missing {}

/// Type-level marker: at least one criterion of a required category.
#[derive(Debug, Clone, Copy)]
pub enum Present {}

/// Builds [`CriteriaSet`]; `SS` and `PH` record at the type level whether a
/// social-sustainability and a public-health criterion have been added.
#[derive(Debug, Clone)]
pub struct CriteriaBuilder<SS, PH> {
    list: Vec<Criterion>,
    _marker: PhantomData<fn() -> (SS, PH)>,
}

impl<SS, PH> CriteriaBuilder<SS, PH> {
    fn push<A, B>(mut self, criterion: Criterion) -> CriteriaBuilder<A, B> {
        self.list.push(criterion);
        CriteriaBuilder {
            list: self.list,
            _marker: PhantomData,
        }
    }

    /// Adds a social-sustainability criterion.
    pub fn social_sustainability(
        self,
        name: impl Into<String>,
        description: impl Into<LocalText>,
        weight: u32,
    ) -> CriteriaBuilder<Present, PH> {
        self.push(Criterion::new(
            name,
            description,
            Category::SocialSustainability,
            weight,
        ))
    }

    /// Adds a public-health criterion.
    pub fn public_health(
        self,
        name: impl Into<String>,
        description: impl Into<LocalText>,
        weight: u32,
    ) -> CriteriaBuilder<SS, Present> {
        self.push(Criterion::new(
            name,
            description,
            Category::PublicHealth,
            weight,
        ))
    }

    /// Adds a criterion of another kind.
    pub fn other(
        self,
        name: impl Into<String>,
        description: impl Into<LocalText>,
        weight: u32,
    ) -> CriteriaBuilder<SS, PH> {
        self.push(Criterion::new(name, description, Category::Other, weight))
    }
}

impl CriteriaBuilder<Present, Present> {
    /// Finishes the criteria. Both required categories are present by type; names
    /// and weights are still checked.
    ///
    /// # Errors
    /// An empty or repeated name, or a weight of zero.
    pub fn build(self) -> Result<CriteriaSet, CriteriaError> {
        CriteriaSet::new(self.list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_runtime_share_rules() {
        let ok = CriteriaSet::builder()
            .public_health("a", "", 1)
            .social_sustainability("b", "", 2)
            .build()
            .unwrap();
        assert_eq!(
            ok.iter().map(Criterion::name).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!ok.is_empty());

        let dup = CriteriaSet::builder()
            .public_health("a", "", 1)
            .social_sustainability("a", "", 2)
            .build();
        assert_eq!(dup, Err(CriteriaError::Duplicate { name: "a".into() }));
        let zero = CriteriaSet::builder()
            .public_health("a", "", 0)
            .social_sustainability("b", "", 2)
            .build();
        assert!(matches!(zero, Err(CriteriaError::ZeroWeight { .. })));
        let empty = CriteriaSet::builder()
            .public_health(" ", "", 1)
            .social_sustainability("b", "", 2)
            .build();
        assert_eq!(empty, Err(CriteriaError::EmptyName { index: 0 }));

        let no_health = CriteriaSet::new(vec![Criterion::new(
            "b",
            "",
            Category::SocialSustainability,
            1,
        )]);
        assert_eq!(
            no_health,
            Err(CriteriaError::MissingCategory {
                missing: Category::PublicHealth
            })
        );
        let no_social = CriteriaSet::new(vec![Criterion::new("b", "", Category::PublicHealth, 1)]);
        assert_eq!(
            no_social,
            Err(CriteriaError::MissingCategory {
                missing: Category::SocialSustainability
            })
        );
    }

    #[test]
    fn deserialised_criteria_are_checked() {
        let ok = CriteriaSet::builder()
            .public_health("a", "x", 1)
            .social_sustainability("b", "y", 2)
            .build()
            .unwrap();
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<CriteriaSet>(&json).unwrap(), ok);
        let broken = json.replace("public_health", "other");
        let err = serde_json::from_str::<CriteriaSet>(&broken).unwrap_err();
        assert!(err.to_string().contains("public-health"), "{err}");
    }

    #[test]
    fn scores_are_bounded() {
        assert_eq!(Score::new(10).unwrap().value(), 10);
        assert!(Score::new(11).is_err());
        assert!(serde_json::from_str::<Score>("11").is_err());
        assert_eq!(serde_json::from_str::<Score>("7").unwrap().value(), 7);
    }
}
