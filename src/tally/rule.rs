//! [`Rule`]: the one table of counting rules, by name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Completion, Election, EqualShares, Greedy, GreedyNoSkip, GreedyThreshold, MaxWelfare,
    MaximinSupport, Mes, MesAdd1, MesAdd1Comparison, MesGreedy, Outcome, Phragmen, Tally,
    TallyError, TieBreaking, Utility,
};

/// The prefix that marks a rule of your own in a rule's text form.
const CUSTOM: &str = "custom:";

/// The longest name a rule of your own may have, in bytes.
pub const MAX_CUSTOM_NAME: usize = 64;

/// A counting rule: every rule the crate ships, with its options, or a rule of
/// your own ([`Rule::Custom`]).
///
/// This is the crate's one table of rules: ballot rules
/// ([`crate::ballot::Counting`]), the simulator, the report and the command line
/// all name a rule by it, and it counts by itself (it is a [`Tally`]). Its text
/// form, which serde and [`FromStr`] use, is the rule's name, as stored event
/// logs have always recorded it:
///
/// | text | rule |
/// |---|---|
/// | `greedy` | [`Greedy`] |
/// | `greedy-no-skip`, `greedy-no-skip:N` | [`GreedyNoSkip`], ignoring projects with less than `N` support |
/// | `greedy-threshold:N` | [`GreedyThreshold`] at `N` |
/// | `mes` | [`Mes`] |
/// | `mes-add1` | [`MesAdd1`] |
/// | `mes-add1-exhaustive` | [`MesAdd1`] `{ exhaustive_stop: true }` |
/// | `mes-add1-comparison` | [`MesAdd1Comparison`] |
/// | `mes-greedy` | [`MesGreedy`] |
/// | `mes:cardinality`, `mes-add1:cardinality`, … | [`EqualShares`] with cardinality [`Utility`] (`:cost` is the plain name) |
/// | `phragmen` | [`Phragmen::STOP`] |
/// | `phragmen-skip` | [`Phragmen::SKIP`] |
/// | `max-welfare` | [`MaxWelfare`] |
/// | `maximin-support` | [`MaximinSupport`] |
/// | `custom:NAME` | a rule of your own, counted by the [`Tally`] you pass |
///
/// Any other text is refused, naming the known rules, so a typo such as
/// `mes-ad1` is caught where it is written, not when voting closes.
///
/// ```
/// use medborgarbudget::tally::Rule;
///
/// let rule: Rule = "mes-add1".parse()?;
/// assert_eq!(rule, Rule::MesAdd1);
/// assert_eq!(Rule::GreedyThreshold { threshold: 25 }.to_string(), "greedy-threshold:25");
/// assert!("mes-ad1".parse::<Rule>().is_err());
///
/// let mine = Rule::custom("lottery")?;
/// assert_eq!(mine.to_string(), "custom:lottery");
/// # Ok::<(), medborgarbudget::tally::TallyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Greedy by support, skipping what no longer fits.
    Greedy,
    /// Greedy by support, stopping at the first project that does not fit.
    GreedyNoSkip {
        /// Projects with less support are left out (0: none).
        threshold: u64,
    },
    /// Greedy over the projects with at least `threshold` support.
    GreedyThreshold {
        /// The least support a project needs.
        threshold: u64,
    },
    /// The Method of Equal Shares, without completion.
    Mes,
    /// Equal shares, raising each voter's money by one unit per run.
    MesAdd1,
    /// … stopping at the first exhaustive outcome.
    MesAdd1Exhaustive,
    /// add1, then greedy if more voters prefer it.
    MesAdd1Comparison,
    /// Equal shares, then greedy completion.
    MesGreedy,
    /// Sequential Phragmén, stopping at the first project that breaks the budget.
    Phragmen,
    /// Sequential Phragmén, skipping it.
    PhragmenSkip,
    /// Exact knapsack: most total support.
    MaxWelfare,
    /// The maximin support method.
    MaximinSupport,
    /// An equal-shares rule with other than cost utilities (with cost
    /// utilities, the rules above): [`Rule::from_equal_shares`] builds it.
    EqualShares(EqualShares),
    /// A rule of your own: counting needs a [`Tally`] with this name, passed
    /// when voting closes.
    Custom(CustomRule),
}

/// The name of a rule of your own: 1 to [`MAX_CUSTOM_NAME`] bytes of lower-case
/// ASCII letters, digits, `-`, `_`, `.` and `/`, not the name of a built-in rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomRule(String);

impl CustomRule {
    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Rule {
    /// Every built-in rule, in the order of the table above (thresholds at 0).
    pub const BUILTIN: &'static [Rule] = &[
        Rule::Greedy,
        Rule::GreedyNoSkip { threshold: 0 },
        Rule::GreedyThreshold { threshold: 0 },
        Rule::Mes,
        Rule::MesAdd1,
        Rule::MesAdd1Exhaustive,
        Rule::MesAdd1Comparison,
        Rule::MesGreedy,
        Rule::Phragmen,
        Rule::PhragmenSkip,
        Rule::MaxWelfare,
        Rule::MaximinSupport,
    ];

    /// The rule an [`EqualShares`] counts by: `Mes`, `MesAdd1`, … for cost
    /// utilities, [`Rule::EqualShares`] otherwise.
    pub fn from_equal_shares(rule: EqualShares) -> Rule {
        match (rule.utility, rule.completion) {
            (Utility::Cost, Completion::None) => Rule::Mes,
            (Utility::Cost, Completion::Add1) => Rule::MesAdd1,
            (Utility::Cost, Completion::Add1Exhaustive) => Rule::MesAdd1Exhaustive,
            (Utility::Cost, Completion::Add1Comparison) => Rule::MesAdd1Comparison,
            (Utility::Cost, Completion::Greedy) => Rule::MesGreedy,
            _ => Rule::EqualShares(rule),
        }
    }

    /// The equal-shares form of this rule, if it is one.
    pub fn equal_shares(&self) -> Option<EqualShares> {
        match self {
            Rule::EqualShares(rule) => Some(*rule),
            rule => EqualShares::named(rule.builtin_name()?, Utility::Cost),
        }
    }

    /// A rule of your own, by name.
    ///
    /// # Errors
    /// [`TallyError::BadCustomRule`] for a name that is empty, too long, has
    /// other characters, or is a built-in rule's.
    pub fn custom(name: impl Into<String>) -> Result<Rule, TallyError> {
        let name = name.into();
        let bad = |why| TallyError::BadCustomRule {
            name: name.clone(),
            why,
        };
        if name.is_empty() || name.len() > MAX_CUSTOM_NAME {
            return Err(bad("a name has 1 to 64 bytes"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b))
        {
            return Err(bad(
                "a name has only lower-case ASCII letters, digits, '-', '_', '.' and '/'",
            ));
        }
        if Rule::BUILTIN.iter().any(|r| r.name() == name) {
            return Err(bad("a built-in rule has this name"));
        }
        Ok(Rule::Custom(CustomRule(name)))
    }

    /// The rule's name, as [`Tally::name`] and outcomes give it (without options:
    /// `greedy-threshold`, not `greedy-threshold:25`).
    pub fn name(&self) -> &str {
        match self {
            Rule::Custom(c) => c.name(),
            builtin => builtin.builtin_name().unwrap_or_default(),
        }
    }

    /// A built-in rule's name, for the life of the program; `None` for a rule
    /// of your own.
    pub fn builtin_name(&self) -> Option<&'static str> {
        Some(match self {
            Rule::Greedy => "greedy",
            Rule::GreedyNoSkip { .. } => "greedy-no-skip",
            Rule::GreedyThreshold { .. } => "greedy-threshold",
            Rule::Mes => "mes",
            Rule::MesAdd1 => "mes-add1",
            Rule::MesAdd1Exhaustive => "mes-add1-exhaustive",
            Rule::MesAdd1Comparison => "mes-add1-comparison",
            Rule::MesGreedy => "mes-greedy",
            Rule::Phragmen => "phragmen",
            Rule::PhragmenSkip => "phragmen-skip",
            Rule::MaxWelfare => "max-welfare",
            Rule::MaximinSupport => "maximin-support",
            Rule::EqualShares(rule) => return Some(rule.name_static()),
            Rule::Custom(_) => return None,
        })
    }

    /// Whether this is a rule of your own.
    pub fn is_custom(&self) -> bool {
        matches!(self, Rule::Custom(_))
    }

    /// Whether `tally` counts by this rule: the same rule and options for a
    /// built-in rule, the same name for a rule of your own.
    pub fn is_counted_by(&self, tally: &dyn Tally) -> bool {
        match self {
            Rule::Custom(c) => tally.name() == c.name(),
            rule => tally.rule() == *rule,
        }
    }

    /// The names of the built-in rules, comma-separated, for messages.
    pub fn known() -> String {
        let mut names: Vec<&str> = Rule::BUILTIN.iter().map(Rule::name).collect();
        names.push("custom:NAME");
        names.join(", ")
    }

    /// The rule a tally named `name` counts by: the built-in rule of that name
    /// (without options), or a rule of your own.
    pub(crate) fn named(name: &str) -> Rule {
        if let Some((base, utility)) = name.split_once(':')
            && let Ok(utility) = utility.parse()
            && let Some(rule) = EqualShares::named(base, utility)
        {
            return Rule::from_equal_shares(rule);
        }
        Rule::BUILTIN
            .iter()
            .find(|r| r.name() == name)
            .cloned()
            .unwrap_or_else(|| Rule::Custom(CustomRule(name.to_owned())))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::GreedyNoSkip { threshold } if *threshold > 0 => {
                write!(f, "greedy-no-skip:{threshold}")
            }
            Rule::GreedyThreshold { threshold } => write!(f, "greedy-threshold:{threshold}"),
            Rule::Custom(c) => write!(f, "{CUSTOM}{}", c.name()),
            rule => f.write_str(rule.name()),
        }
    }
}

impl FromStr for Rule {
    type Err = TallyError;

    fn from_str(text: &str) -> Result<Rule, TallyError> {
        if let Some(name) = text.strip_prefix(CUSTOM) {
            return Rule::custom(name);
        }
        let unknown = || TallyError::UnknownRule {
            name: text.to_owned(),
            known: Rule::known(),
        };
        let (name, option) = match text.split_once(':') {
            Some((name, option)) => (name, Some(option)),
            None => (text, None),
        };
        let threshold = || -> Result<u64, TallyError> {
            let option = option.ok_or_else(unknown)?;
            option.parse().map_err(|_| TallyError::BadRuleOption {
                rule: name.to_owned(),
                option: option.to_owned(),
            })
        };
        if let (Some(option), Some(_)) = (option, EqualShares::named(name, Utility::Cost)) {
            let utility = option.parse().map_err(|_| TallyError::UnknownUtility {
                rule: name.to_owned(),
                utility: option.to_owned(),
            })?;
            return EqualShares::named(name, utility)
                .map(Rule::from_equal_shares)
                .ok_or_else(unknown);
        }
        let rule = match name {
            "greedy-no-skip" if option.is_some() => Rule::GreedyNoSkip {
                threshold: threshold()?,
            },
            "greedy-threshold" => Rule::GreedyThreshold {
                threshold: threshold()?,
            },
            _ if option.is_some() => return Err(unknown()),
            _ => Rule::BUILTIN
                .iter()
                .find(|r| r.name() == name)
                .cloned()
                .ok_or_else(unknown)?,
        };
        Ok(rule)
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let text = String::deserialize(d)?;
        // Logs written before rules were typed recorded a counted-by-hand
        // `greedy-threshold` without its threshold; such a cycle counted with
        // the tally passed in, as a rule of one's own does.
        if text == "greedy-threshold" {
            return Ok(Rule::Custom(CustomRule(text)));
        }
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Tally for Rule {
    fn name(&self) -> &str {
        Rule::name(self)
    }

    fn rule(&self) -> Rule {
        self.clone()
    }

    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        match self {
            Rule::Greedy => Greedy.tally(election, ties),
            Rule::GreedyNoSkip { threshold } => GreedyNoSkip {
                threshold: *threshold,
            }
            .tally(election, ties),
            Rule::GreedyThreshold { threshold } => GreedyThreshold {
                threshold: *threshold,
            }
            .tally(election, ties),
            Rule::Mes => Mes.tally(election, ties),
            Rule::MesAdd1 => MesAdd1 {
                exhaustive_stop: false,
            }
            .tally(election, ties),
            Rule::MesAdd1Exhaustive => MesAdd1 {
                exhaustive_stop: true,
            }
            .tally(election, ties),
            Rule::MesAdd1Comparison => MesAdd1Comparison.tally(election, ties),
            Rule::MesGreedy => MesGreedy.tally(election, ties),
            Rule::Phragmen => Phragmen::STOP.tally(election, ties),
            Rule::PhragmenSkip => Phragmen::SKIP.tally(election, ties),
            Rule::MaxWelfare => MaxWelfare.tally(election, ties),
            Rule::MaximinSupport => MaximinSupport.tally(election, ties),
            Rule::EqualShares(rule) => rule.tally(election, ties),
            Rule::Custom(c) => Err(TallyError::UnregisteredRule {
                name: c.name().to_owned(),
            }),
        }
    }
}

#[cfg(feature = "schema")]
schema_by_hand!(Rule, "Rule", {
    "description": "A counting rule by name (see the crate's `tally::Rule`)",
    "type": "string",
    "pattern": "^(greedy|greedy-no-skip(:[0-9]+)?|greedy-threshold:[0-9]+|(mes|mes-add1|mes-add1-exhaustive|mes-add1-comparison|mes-greedy)(:(cost|cardinality))?|phragmen|phragmen-skip|max-welfare|maximin-support|custom:.+)$"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_round_trips_through_its_text_and_json() {
        let mut all = Rule::BUILTIN.to_vec();
        all.push(Rule::GreedyNoSkip { threshold: 7 });
        all.push(Rule::GreedyThreshold { threshold: 250 });
        all.push(Rule::custom("lottery").unwrap());
        for completion in [
            Completion::None,
            Completion::Add1,
            Completion::Add1Exhaustive,
            Completion::Add1Comparison,
            Completion::Greedy,
        ] {
            all.push(Rule::from_equal_shares(EqualShares {
                completion,
                utility: Utility::Cardinality,
            }));
        }
        for rule in all {
            let text = rule.to_string();
            assert_eq!(text.parse::<Rule>().unwrap(), rule, "{text}");
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
        }
    }

    #[test]
    fn today_s_names_are_the_stored_names() {
        // The names event logs have recorded since the first release.
        for name in [
            "greedy",
            "greedy-no-skip",
            "mes",
            "mes-add1",
            "mes-add1-exhaustive",
            "mes-add1-comparison",
            "mes-greedy",
            "phragmen",
            "phragmen-skip",
            "max-welfare",
        ] {
            let rule: Rule = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(rule.to_string(), name);
            assert_eq!(rule.name(), name);
        }
        let legacy: Rule = serde_json::from_str("\"greedy-threshold\"").unwrap();
        assert!(legacy.is_custom());
        assert!(legacy.is_counted_by(&GreedyThreshold { threshold: 3 }));
    }

    #[test]
    fn a_typo_is_refused_naming_the_known_rules() {
        let err = "mes-ad1".parse::<Rule>().unwrap_err();
        assert!(
            matches!(&err, TallyError::UnknownRule { name, known } if name == "mes-ad1" && known.contains("mes-add1")),
            "{err:?}"
        );
        let err = serde_json::from_str::<Rule>("\"mes-ad1\"").unwrap_err();
        assert!(err.to_string().contains("mes-ad1"), "{err}");
        assert!(matches!(
            "greedy-threshold:many".parse::<Rule>(),
            Err(TallyError::BadRuleOption { .. })
        ));
        let err = "mes:3".parse::<Rule>().unwrap_err();
        assert!(
            matches!(&err, TallyError::UnknownUtility { rule, utility } if rule == "mes" && utility == "3"),
            "{err:?}"
        );
        assert!(err.to_string().contains("cost, cardinality"), "{err}");
        assert!(matches!(
            "phragmen:cardinality".parse::<Rule>(),
            Err(TallyError::UnknownRule { .. })
        ));
    }

    #[test]
    fn custom_names_are_checked() {
        for bad in ["", "Mes", "mes", "a b", &"x".repeat(65)] {
            assert!(
                matches!(Rule::custom(bad), Err(TallyError::BadCustomRule { .. })),
                "{bad:?}"
            );
        }
        assert!("custom:mes".parse::<Rule>().is_err());
    }

    #[test]
    fn every_builtin_tally_names_its_rule() {
        let tallies: Vec<(Box<dyn Tally>, Rule)> = vec![
            (Box::new(Greedy), Rule::Greedy),
            (
                Box::new(GreedyNoSkip { threshold: 4 }),
                Rule::GreedyNoSkip { threshold: 4 },
            ),
            (
                Box::new(GreedyThreshold { threshold: 9 }),
                Rule::GreedyThreshold { threshold: 9 },
            ),
            (Box::new(Mes), Rule::Mes),
            (
                Box::new(MesAdd1 {
                    exhaustive_stop: false,
                }),
                Rule::MesAdd1,
            ),
            (
                Box::new(MesAdd1 {
                    exhaustive_stop: true,
                }),
                Rule::MesAdd1Exhaustive,
            ),
            (Box::new(MesAdd1Comparison), Rule::MesAdd1Comparison),
            (Box::new(MesGreedy), Rule::MesGreedy),
            (Box::new(Phragmen::STOP), Rule::Phragmen),
            (Box::new(Phragmen::SKIP), Rule::PhragmenSkip),
            (Box::new(MaxWelfare), Rule::MaxWelfare),
        ];
        for (tally, rule) in tallies {
            assert_eq!(tally.rule(), rule);
            assert_eq!(tally.name(), rule.name());
            assert!(rule.is_counted_by(tally.as_ref()));
        }
        assert!(
            !Rule::GreedyThreshold { threshold: 1 }
                .is_counted_by(&GreedyThreshold { threshold: 2 })
        );
    }
}
