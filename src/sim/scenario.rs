//! What a simulated district looks like: its residents, outreach, ideas, voting
//! behaviour, counting rule, delivery and the feedback from one year to the
//! next. Readable from TOML or JSON so researchers can share scenarios.

use serde::{Deserialize, Serialize};

use crate::ballot::BallotKind;
use crate::process::OutreachChannel;
use crate::tally::Rule;

use super::SimError;

/// A synthetic district and how its programme behaves. Every field has a
/// default ([`Scenario::default`] is a low-trust district of 10,000 residents),
/// so a scenario file need only say what differs; a field the scenario does
/// not have is an error naming it and its line. [`Scenario::check`] lists the
/// range of every value, and the `MAX_` constants the limit of every size.
///
/// ```
/// let scenario = medborgarbudget::sim::Scenario::from_toml(r#"
///     name = "Higher trust"
///     trust = "high"
///     rule = "mes"
/// "#)?;
/// assert_eq!(scenario.population, 10_000);
/// # Ok::<(), medborgarbudget::sim::SimError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// A name for tables and reports.
    pub name: String,
    /// The district's name.
    pub district: String,
    /// Residents: 1 to [`Scenario::MAX_POPULATION`], and
    /// `population × years` at most [`Scenario::MAX_RESIDENT_YEARS`].
    pub population: u32,
    /// Years of the programme: [`Scenario::MIN_YEARS`] to
    /// [`Scenario::MAX_YEARS`].
    pub years: u32,
    /// The first year: [`Scenario::MIN_FIRST_YEAR`] to
    /// [`Scenario::MAX_FIRST_YEAR`].
    pub first_year: i32,
    /// Money the council sets aside each year, in whole kronor.
    pub budget_kronor: i64,
    /// Whether unspent money carries over to the next year.
    pub carry_over: bool,
    /// The youngest age that may propose and vote.
    pub min_age: u8,
    /// Trust in the municipality, which sets the default propensity to take
    /// part ([`Trust::propensity`]).
    pub trust: Trust,
    /// The propensity to take part of a resident in no special group, if not
    /// the one `trust` gives.
    pub propensity: Option<f64>,
    /// The population by group. Each resident belongs to one group of every
    /// dimension, drawn by the groups' shares.
    pub dimensions: Vec<Dimension>,
    /// Outreach activities of step 2, each raising the propensity of the
    /// residents it reaches.
    pub outreach: Vec<Outreach>,
    /// Idea generation (step 3) and shortlisting (step 4).
    pub ideas: Ideas,
    /// How residents vote (step 5).
    pub voting: Voting,
    /// The counting rule, by name (`greedy`, `mes`, `phragmen`, … as
    /// [`Rule`] lists them); a built-in rule, since the simulator counts.
    pub rule: Rule,
    /// The chance a funded project is delivered rather than cancelled.
    pub delivery: f64,
    /// The feedback: a resident who supported a project that was delivered has
    /// their propensity multiplied by `1 + feedback` for the next years.
    pub feedback: f64,
    /// The highest propensity any resident can reach.
    pub max_propensity: f64,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            name: "Low-trust district, door-to-door outreach".into(),
            district: "Norrby".into(),
            population: 10_000,
            years: 3,
            first_year: 2027,
            budget_kronor: 2_000_000,
            carry_over: true,
            min_age: 12,
            trust: Trust::Low,
            propensity: None,
            dimensions: vec![
                Dimension {
                    name: "age".into(),
                    groups: vec![
                        Group::aged("0-11", 0.12, 1.0, (0, 11), (0.5, 0.3)),
                        Group::aged("12-17", 0.09, 0.9, (12, 17), (0.2, 0.8)),
                        Group::aged("18-29", 0.17, 0.6, (18, 29), (0.3, 0.6)),
                        Group::aged("30-64", 0.45, 1.0, (30, 64), (0.5, 0.5)),
                        Group::aged("65+", 0.17, 1.5, (65, 90), (0.8, 0.3)),
                    ],
                },
                Dimension {
                    name: "language".into(),
                    groups: vec![
                        Group::plain("svenska", 0.55, 1.3),
                        Group::plain("arabiska", 0.18, 0.6),
                        Group::plain("somaliska", 0.12, 0.5),
                        Group::plain("andra", 0.15, 0.7),
                    ],
                },
            ],
            outreach: vec![
                Outreach {
                    channel: OutreachChannel::DoorToDoor,
                    description: "Young ambassadors knock on doors in three languages".into(),
                    groups: vec!["language=arabiska".into(), "language=somaliska".into()],
                    coverage: 0.35,
                    boost: 2.0,
                },
                Outreach {
                    channel: OutreachChannel::School,
                    description: "Class councils at the district's school".into(),
                    groups: vec!["age=12-17".into()],
                    coverage: 0.8,
                    boost: 2.5,
                },
            ],
            ideas: Ideas::default(),
            voting: Voting::default(),
            rule: Rule::Greedy,
            delivery: 0.9,
            feedback: 0.3,
            max_propensity: 0.9,
        }
    }
}

impl Scenario {
    /// The most residents: 2,500,000. That covers the largest participatory
    /// budgets run as one city-wide programme — Paris (2.1 million residents),
    /// Warsaw (1.8 million) — and Stockholm, Sweden's largest municipality
    /// (1 million), twice over. A run keeps every resident in memory (about
    /// 1 KB each) and every ballot and idea of every year (about 2.5 KB each),
    /// so 2,500,000 residents at the default low trust take about 2.5 GB for
    /// three years.
    pub const MAX_POPULATION: u32 = 2_500_000;
    /// The fewest years of a programme: 3, as the model requires.
    pub const MIN_YEARS: u32 = 3;
    /// The most years of a programme: 50.
    pub const MAX_YEARS: u32 = 50;
    /// The most resident-years (`population × years`): 10,000,000, such as
    /// 2,500,000 residents for 4 years or 200,000 for 50. Every year loops
    /// over every resident and stores a ballot for each voter, so this bounds
    /// a run's time and memory: at a turnout of 10 %, about 1 million ballots
    /// (2.5 GB).
    pub const MAX_RESIDENT_YEARS: u64 = 10_000_000;
    /// The most dimensions (`age`, `language`, …): 8. Every resident records
    /// a group of each.
    pub const MAX_DIMENSIONS: usize = 8;
    /// The most groups in one dimension: 120 (one per year of age fits).
    pub const MAX_GROUPS: usize = 120;
    /// The most outreach activities: 32. Each one visits every resident every
    /// year.
    pub const MAX_OUTREACH: usize = 32;
    /// The most project themes: 200.
    pub const MAX_THEMES: u32 = 200;
    /// The most points a voter gives on a cumulative ballot: 1,000,000.
    pub const MAX_POINTS: u32 = 1_000_000;
    /// The largest amount, in whole kronor, of the yearly budget and of a
    /// theme's cost: 1,000,000,000,000 (a trillion kronor).
    pub const MAX_KRONOR: i64 = 1_000_000_000_000;
    /// The first year a programme may start: 1900.
    pub const MIN_FIRST_YEAR: i32 = 1900;
    /// The last year a programme may start: 2999.
    pub const MAX_FIRST_YEAR: i32 = 2999;
    /// The oldest age in the model, in years: 110. Age groups end by then and
    /// `min_age` is at most this.
    pub const MAX_AGE: u32 = 110;
    /// The longest name of a dimension or a group, in bytes: 100. Every
    /// resident keeps a copy.
    pub const MAX_NAME_BYTES: usize = 100;
    /// The longest other text (the scenario's name, the district's,
    /// outreach descriptions and channels), in bytes: 1,000.
    pub const MAX_TEXT_BYTES: usize = 1_000;
    /// The longest scenario file [`Scenario::from_file`] reads, in bytes:
    /// 1 MiB.
    pub const MAX_FILE_BYTES: u64 = 1 << 20;

    /// Reads a scenario from TOML.
    ///
    /// # Errors
    /// [`SimError::Parse`] for a syntax error, an unknown field or a value of
    /// the wrong type (with its line and column), or as [`Scenario::check`].
    pub fn from_toml(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_and_column(text, span.start));
            SimError::Parse {
                file: None,
                line,
                column,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads a scenario from JSON.
    ///
    /// # Errors
    /// As [`Scenario::from_toml`].
    pub fn from_json(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            SimError::Parse {
                file: None,
                line: e.line(),
                column: e.column(),
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            }
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads a scenario file: `.json` as JSON, anything else as TOML.
    ///
    /// # Errors
    /// [`SimError::Scenario`] for a file that cannot be read or is not UTF-8,
    /// [`SimError::Limit`] for one longer than [`Scenario::MAX_FILE_BYTES`],
    /// or as [`Scenario::from_toml`] (a [`SimError::Parse`] names the file).
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, SimError> {
        use std::io::Read;
        let unreadable = |e: std::io::Error| SimError::Scenario {
            reason: format!("{}: {e}", path.display()),
        };
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut bytes = Vec::new();
        let read = file
            .take(Scenario::MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if read as u64 > Scenario::MAX_FILE_BYTES {
            return Err(SimError::Limit {
                what: format!("the length in bytes of {}", path.display()),
                value: read as u64,
                min: 0,
                max: Scenario::MAX_FILE_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| SimError::Scenario {
            reason: format!("{}: not UTF-8: {e}", path.display()),
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json {
            Scenario::from_json(&text)
        } else {
            Scenario::from_toml(&text)
        }
        .map_err(|e| match e {
            SimError::Parse {
                line,
                column,
                message,
                ..
            } => SimError::Parse {
                file: Some(path.to_path_buf()),
                line,
                column,
                message,
            },
            other => other,
        })
    }

    /// The scenario as TOML.
    ///
    /// # Errors
    /// [`SimError::Scenario`] if a value cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String, SimError> {
        toml::to_string_pretty(self).map_err(|e| SimError::Scenario {
            reason: e.to_string(),
        })
    }

    /// The propensity of a resident in no special group.
    pub fn base_propensity(&self) -> f64 {
        self.propensity.unwrap_or_else(|| self.trust.propensity())
    }

    /// Checks every value: each number against its range (a NaN or an
    /// infinity is never in one), each size against its limit (the `MAX_`
    /// constants of [`Scenario`]), and the values that must fit together.
    ///
    /// The ranges: `propensity`, `max_propensity`, `delivery`, `ideas.rate`,
    /// `ideas.infeasible`, `voting.spread`, `voting.noise`, group shares,
    /// outreach coverage and both coordinates of a group's taste are
    /// between 0 and 1; `feedback` between 0 and 10; group factors and
    /// outreach boosts between 0 and 100; `voting.radius` above 0 and at most
    /// 2; the shares of a dimension add up to 1; ages and `min_age` at most
    /// [`Scenario::MAX_AGE`]; `first_year` from [`Scenario::MIN_FIRST_YEAR`]
    /// to [`Scenario::MAX_FIRST_YEAR`]; amounts of kronor from 1 to
    /// [`Scenario::MAX_KRONOR`], the cheapest theme no dearer than the
    /// dearest; the district, outreach descriptions and the names of
    /// dimensions and groups are not blank, and names are unique within their
    /// list; outreach targets name a `dimension=group` of the scenario, once
    /// each.
    ///
    /// # Errors
    /// The first value that does not check: [`SimError::Limit`] for a size,
    /// [`SimError::Invalid`] naming the field (`dimensions[1].groups[0].taste`)
    /// for anything else.
    pub fn check(&self) -> Result<(), SimError> {
        text("name", &self.name, false, Scenario::MAX_TEXT_BYTES)?;
        text("district", &self.district, true, Scenario::MAX_TEXT_BYTES)?;
        size(
            "population",
            self.population.into(),
            1,
            Scenario::MAX_POPULATION.into(),
        )?;
        size(
            "years",
            self.years.into(),
            Scenario::MIN_YEARS.into(),
            Scenario::MAX_YEARS.into(),
        )?;
        size(
            "population × years",
            u64::from(self.population) * u64::from(self.years),
            0,
            Scenario::MAX_RESIDENT_YEARS,
        )?;
        if !(Scenario::MIN_FIRST_YEAR..=Scenario::MAX_FIRST_YEAR).contains(&self.first_year) {
            return invalid(
                "first_year",
                self.first_year,
                format!(
                    "a year from {} to {}",
                    Scenario::MIN_FIRST_YEAR,
                    Scenario::MAX_FIRST_YEAR
                ),
            );
        }
        kronor("budget_kronor", self.budget_kronor)?;
        if u32::from(self.min_age) > Scenario::MAX_AGE {
            return invalid(
                "min_age",
                self.min_age,
                format!("an age of at most {}", Scenario::MAX_AGE),
            );
        }
        if let Some(p) = self.propensity {
            number("propensity", p, 0.0, 1.0)?;
        }
        if self.rule.is_custom() {
            return invalid(
                "rule",
                self.rule.to_string(),
                "a built-in rule (the simulator counts the ballots itself)",
            );
        }
        number("delivery", self.delivery, 0.0, 1.0)?;
        number("feedback", self.feedback, 0.0, 10.0)?;
        number("max_propensity", self.max_propensity, 0.0, 1.0)?;
        self.check_dimensions()?;
        self.check_outreach()?;
        let i = &self.ideas;
        number("ideas.rate", i.rate, 0.0, 1.0)?;
        size(
            "ideas.themes",
            i.themes.into(),
            1,
            Scenario::MAX_THEMES.into(),
        )?;
        kronor("ideas.min_cost_kronor", i.min_cost_kronor)?;
        kronor("ideas.max_cost_kronor", i.max_cost_kronor)?;
        if i.min_cost_kronor > i.max_cost_kronor {
            return invalid(
                "ideas.min_cost_kronor",
                i.min_cost_kronor,
                format!("at most ideas.max_cost_kronor ({})", i.max_cost_kronor),
            );
        }
        if i.max_cost_kronor > self.budget_kronor {
            // The shortlist refuses a project costing more than the budget.
            return invalid(
                "ideas.max_cost_kronor",
                i.max_cost_kronor,
                format!(
                    "at most budget_kronor ({}): a project may not cost more than the budget",
                    self.budget_kronor
                ),
            );
        }
        if i.max_projects == 0 {
            return invalid("ideas.max_projects", 0, "at least 1");
        }
        number("ideas.infeasible", i.infeasible, 0.0, 1.0)?;
        let v = &self.voting;
        if v.max_projects == 0 {
            return invalid("voting.max_projects", 0, "at least 1");
        }
        let least_points = u64::from(v.ballot == BallotKind::Cumulative);
        size(
            "voting.points",
            v.points.into(),
            least_points,
            Scenario::MAX_POINTS.into(),
        )?;
        if !(v.radius > 0.0 && v.radius <= 2.0) {
            return invalid("voting.radius", v.radius, "a number above 0 and at most 2");
        }
        number("voting.spread", v.spread, 0.0, 1.0)?;
        number("voting.noise", v.noise, 0.0, 1.0)
    }

    fn check_dimensions(&self) -> Result<(), SimError> {
        size(
            "dimensions",
            self.dimensions.len() as u64,
            0,
            Scenario::MAX_DIMENSIONS as u64,
        )?;
        for (k, d) in self.dimensions.iter().enumerate() {
            let at = format!("dimensions[{k}]");
            text(
                &format!("{at}.name"),
                &d.name,
                true,
                Scenario::MAX_NAME_BYTES,
            )?;
            if d.name.contains('=') {
                return invalid(
                    format!("{at}.name"),
                    format!("{:?}", d.name),
                    "a name without `=` (outreach targets groups as dimension=group)",
                );
            }
            if self.dimensions[..k].iter().any(|e| e.name == d.name) {
                return invalid(
                    format!("{at}.name"),
                    format!("{:?}", d.name),
                    "a name no other dimension has",
                );
            }
            size(
                &format!("{at}.groups"),
                d.groups.len() as u64,
                1,
                Scenario::MAX_GROUPS as u64,
            )?;
            for (j, g) in d.groups.iter().enumerate() {
                let at = format!("{at}.groups[{j}]");
                text(
                    &format!("{at}.name"),
                    &g.name,
                    true,
                    Scenario::MAX_NAME_BYTES,
                )?;
                if d.groups[..j].iter().any(|h| h.name == g.name) {
                    return invalid(
                        format!("{at}.name"),
                        format!("{:?}", g.name),
                        "a name no other group of the dimension has",
                    );
                }
                number(&format!("{at}.share"), g.share, 0.0, 1.0)?;
                number(&format!("{at}.factor"), g.factor, 0.0, 100.0)?;
                if let Some((lo, hi)) = g.ages
                    && (lo > hi || hi > Scenario::MAX_AGE)
                {
                    return invalid(
                        format!("{at}.ages"),
                        format!("[{lo}, {hi}]"),
                        format!(
                            "[youngest, oldest] with youngest <= oldest <= {}",
                            Scenario::MAX_AGE
                        ),
                    );
                }
                if let Some((x, y)) = g.taste
                    && !((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y))
                {
                    return invalid(
                        format!("{at}.taste"),
                        format!("[{x}, {y}]"),
                        "a point [x, y] of the unit square: both numbers from 0 to 1",
                    );
                }
            }
            let total: f64 = d.groups.iter().map(|g| g.share).sum();
            if (total - 1.0).abs() > 1e-6 {
                return invalid(
                    format!("{at}.groups[..].share"),
                    format!("{total} in all"),
                    "shares that add up to 1",
                );
            }
        }
        Ok(())
    }

    fn check_outreach(&self) -> Result<(), SimError> {
        size(
            "outreach",
            self.outreach.len() as u64,
            0,
            Scenario::MAX_OUTREACH as u64,
        )?;
        for (k, o) in self.outreach.iter().enumerate() {
            let at = format!("outreach[{k}]");
            if let OutreachChannel::Other(name) = &o.channel {
                text(
                    &format!("{at}.channel.other"),
                    name,
                    true,
                    Scenario::MAX_TEXT_BYTES,
                )?;
            }
            text(
                &format!("{at}.description"),
                &o.description,
                true,
                Scenario::MAX_TEXT_BYTES,
            )?;
            number(&format!("{at}.coverage"), o.coverage, 0.0, 1.0)?;
            number(&format!("{at}.boost"), o.boost, 0.0, 100.0)?;
            for (j, target) in o.groups.iter().enumerate() {
                if !self.has_group(target) {
                    return invalid(
                        format!("{at}.groups[{j}]"),
                        format!("{target:?}"),
                        "a dimension=group of the scenario",
                    );
                }
                if o.groups[..j].contains(target) {
                    return invalid(
                        format!("{at}.groups[{j}]"),
                        format!("{target:?}"),
                        "a group the activity does not already target",
                    );
                }
            }
        }
        Ok(())
    }

    fn has_group(&self, target: &str) -> bool {
        target.split_once('=').is_some_and(|(dim, group)| {
            self.dimensions
                .iter()
                .any(|d| d.name == dim && d.groups.iter().any(|g| g.name == group))
        })
    }
}

/// The line and column (from 1, the column in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = before.get(start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn invalid(
    field: impl Into<String>,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> Result<(), SimError> {
    Err(SimError::Invalid {
        field: field.into(),
        value: value.to_string(),
        expected: expected.into(),
    })
}

/// A size between `min` and `max`.
fn size(what: &str, n: u64, min: u64, max: u64) -> Result<(), SimError> {
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(SimError::Limit {
            what: what.to_owned(),
            value: n,
            min,
            max,
        })
    }
}

/// A number from `lo` to `hi` (never NaN or infinite).
fn number(field: &str, x: f64, lo: f64, hi: f64) -> Result<(), SimError> {
    if (lo..=hi).contains(&x) {
        Ok(())
    } else {
        invalid(field, x, format!("a number from {lo} to {hi}"))
    }
}

/// An amount of whole kronor from 1 to [`Scenario::MAX_KRONOR`].
fn kronor(field: &str, k: i64) -> Result<(), SimError> {
    if (1..=Scenario::MAX_KRONOR).contains(&k) {
        Ok(())
    } else {
        invalid(
            field,
            k,
            format!("whole kronor from 1 to {}", Scenario::MAX_KRONOR),
        )
    }
}

/// A text of at most `max` bytes, and not blank if `required`.
fn text(field: &str, s: &str, required: bool, max: usize) -> Result<(), SimError> {
    if required && s.trim().is_empty() {
        return invalid(field, format!("{s:?}"), "a text that is not blank");
    }
    size(&format!("{field} (bytes)"), s.len() as u64, 0, max as u64)
}

/// Trust in the municipality: how likely a resident is to take part at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// 6 % take part: the districts the model was made for.
    Low,
    /// 15 %.
    Medium,
    /// 30 %.
    High,
}

impl Trust {
    /// The propensity to take part of a resident in no special group.
    pub fn propensity(self) -> f64 {
        match self {
            Trust::Low => 0.06,
            Trust::Medium => 0.15,
            Trust::High => 0.30,
        }
    }
}

/// One way to divide the population (`age`, `language`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Its name, as residents' groups and the area's breakdown use it.
    pub name: String,
    /// Its groups, whose shares add up to one.
    pub groups: Vec<Group>,
}

/// A group of residents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Its name (`65+`, `somaliska`).
    pub name: String,
    /// Its share of the population.
    pub share: f64,
    /// Its propensity to take part relative to the base (1 = the base).
    #[serde(default = "one")]
    pub factor: f64,
    /// The ages of its members, if it is an age group (years, inclusive). A
    /// resident's age comes from the first dimension whose group has ages;
    /// 18 to 80 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ages: Option<(u32, u32)>,
    /// Where its members' preferences centre in the two-dimensional space of
    /// the preference model ([`Voting`]); no pull if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taste: Option<(f64, f64)>,
}

fn one() -> f64 {
    1.0
}

impl Group {
    fn aged(name: &str, share: f64, factor: f64, ages: (u32, u32), taste: (f64, f64)) -> Group {
        Group {
            name: name.into(),
            share,
            factor,
            ages: Some(ages),
            taste: Some(taste),
        }
    }

    fn plain(name: &str, share: f64, factor: f64) -> Group {
        Group {
            name: name.into(),
            share,
            factor,
            ages: None,
            taste: None,
        }
    }
}

/// One outreach activity, run every year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outreach {
    /// The channel.
    pub channel: OutreachChannel,
    /// What is done.
    pub description: String,
    /// The groups it is aimed at, as `dimension=group`; everyone if empty.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The share of the targeted residents it reaches.
    pub coverage: f64,
    /// The factor by which it raises the propensity of a resident it reaches,
    /// for that year.
    pub boost: f64,
}

/// Idea generation and shortlisting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ideas {
    /// Of the residents who take part in a year, the share who also propose an
    /// idea.
    pub rate: f64,
    /// Distinct project themes residents can think of; each is a point in the
    /// preference space with a cost.
    pub themes: u32,
    /// The cheapest theme, in whole kronor.
    pub min_cost_kronor: i64,
    /// The dearest theme, in whole kronor.
    pub max_cost_kronor: i64,
    /// Ideas a theme needs to be worked into a project.
    pub min_ideas: u32,
    /// Projects on the ballot at most (the themes with most ideas).
    pub max_projects: u32,
    /// The chance a project is found infeasible and withdrawn.
    pub infeasible: f64,
    /// Residents (idea authors) who work each project out in step 4.
    pub workshop: u32,
}

impl Default for Ideas {
    fn default() -> Ideas {
        Ideas {
            rate: 0.4,
            themes: 24,
            min_cost_kronor: 80_000,
            max_cost_kronor: 900_000,
            min_ideas: 3,
            max_projects: 12,
            infeasible: 0.08,
            workshop: 4,
        }
    }
}

/// How residents vote: the preference model.
///
/// Every resident has an ideal point in the unit square: their groups' taste
/// centres (averaged) plus a uniform spread of `spread` in each direction (a
/// resident in no group with a taste is uniform over the square). Every theme
/// is a point in the same square. A resident's utility for a project is minus
/// the distance, blurred by uniform noise of up to `noise` per project and
/// year. The ballot follows from the utilities: approval ballots approve the
/// projects within `radius` (at least the best one, at most `max_projects`);
/// knapsack ballots take projects best first while they fit the budget;
/// cumulative ballots give `points` to the best three projects in the ratio
/// 5 : 3 : 2; ranked ballots rank the best `max_projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Voting {
    /// The ballot.
    pub ballot: BallotKind,
    /// The most projects on one ballot.
    pub max_projects: u32,
    /// Points per voter on cumulative ballots.
    pub points: u32,
    /// The distance within which an approval ballot approves a project.
    pub radius: f64,
    /// How far residents' ideal points spread around their groups' centre.
    pub spread: f64,
    /// Noise on utilities.
    pub noise: f64,
}

impl Default for Voting {
    fn default() -> Voting {
        Voting {
            ballot: BallotKind::Approval,
            max_projects: 5,
            points: 10,
            radius: 0.35,
            spread: 0.35,
            noise: 0.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field a scenario's check names, or the check passes.
    fn refused(s: &Scenario) -> Option<String> {
        match s.check() {
            Ok(()) => None,
            Err(SimError::Invalid { field, .. }) => Some(field),
            Err(SimError::Limit { what, .. }) => Some(what),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    type SetFloat = fn(&mut Scenario, f64);

    /// Every float of a scenario, by the path its error names.
    fn floats() -> Vec<(&'static str, SetFloat)> {
        vec![
            ("propensity", |s, x| s.propensity = Some(x)),
            ("delivery", |s, x| s.delivery = x),
            ("feedback", |s, x| s.feedback = x),
            ("max_propensity", |s, x| s.max_propensity = x),
            ("dimensions[1].groups[0].share", |s, x| {
                s.dimensions[1].groups[0].share = x;
            }),
            ("dimensions[1].groups[2].factor", |s, x| {
                s.dimensions[1].groups[2].factor = x;
            }),
            ("dimensions[0].groups[3].taste", |s, x| {
                s.dimensions[0].groups[3].taste = Some((0.5, x));
            }),
            ("dimensions[1].groups[0].taste", |s, x| {
                s.dimensions[1].groups[0].taste = Some((x, 0.5));
            }),
            ("outreach[0].coverage", |s, x| s.outreach[0].coverage = x),
            ("outreach[1].boost", |s, x| s.outreach[1].boost = x),
            ("ideas.rate", |s, x| s.ideas.rate = x),
            ("ideas.infeasible", |s, x| s.ideas.infeasible = x),
            ("voting.radius", |s, x| s.voting.radius = x),
            ("voting.spread", |s, x| s.voting.spread = x),
            ("voting.noise", |s, x| s.voting.noise = x),
        ]
    }

    #[test]
    fn the_default_scenario_checks() {
        assert_eq!(refused(&Scenario::default()), None);
    }

    #[test]
    fn every_float_refuses_nan_infinities_and_values_out_of_range() {
        for (field, set) in floats() {
            for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, 1e6] {
                let mut s = Scenario::default();
                set(&mut s, x);
                assert_eq!(refused(&s).as_deref(), Some(field), "{field} = {x}");
            }
        }
    }

    #[test]
    fn a_nan_taste_is_refused_naming_the_group() {
        let mut s = Scenario::default();
        s.dimensions[1].groups[0].taste = Some((f64::NAN, 0.2));
        let e = s.check().unwrap_err().to_string();
        assert!(
            e.contains("dimensions[1].groups[0].taste = [NaN, 0.2]"),
            "{e}"
        );
    }

    #[test]
    fn every_size_has_a_limit() {
        type Set = fn(&mut Scenario);
        let cases: Vec<(&str, Set)> = vec![
            ("population", |s| s.population = 0),
            ("population", |s| {
                s.population = Scenario::MAX_POPULATION + 1
            }),
            ("population", |s| s.population = 1_000_000_000),
            ("years", |s| s.years = 2),
            ("years", |s| s.years = Scenario::MAX_YEARS + 1),
            ("population × years", |s| {
                s.population = Scenario::MAX_POPULATION;
                s.years = 6;
            }),
            ("dimensions", |s| {
                s.dimensions = (0..=Scenario::MAX_DIMENSIONS)
                    .map(|k| Dimension {
                        name: format!("d{k}"),
                        groups: vec![Group::plain("all", 1.0, 1.0)],
                    })
                    .collect();
                s.outreach.clear();
            }),
            ("dimensions[1].groups", |s| s.dimensions[1].groups.clear()),
            ("dimensions[1].groups", |s| {
                let n = Scenario::MAX_GROUPS + 1;
                s.dimensions[1].groups = (0..n)
                    .map(|k| Group::plain(&format!("g{k}"), 1.0 / n as f64, 1.0))
                    .collect();
                s.outreach.clear();
            }),
            ("outreach", |s| {
                let one = s.outreach[0].clone();
                s.outreach = vec![one; Scenario::MAX_OUTREACH + 1];
            }),
            ("ideas.themes", |s| s.ideas.themes = 0),
            ("ideas.themes", |s| {
                s.ideas.themes = Scenario::MAX_THEMES + 1
            }),
            ("voting.points", |s| {
                s.voting.points = Scenario::MAX_POINTS + 1
            }),
            ("voting.points", |s| {
                s.voting.ballot = BallotKind::Cumulative;
                s.voting.points = 0;
            }),
            ("name (bytes)", |s| {
                s.name = "x".repeat(Scenario::MAX_TEXT_BYTES + 1);
            }),
            ("dimensions[0].groups[1].name (bytes)", |s| {
                s.dimensions[0].groups[1].name = "x".repeat(Scenario::MAX_NAME_BYTES + 1);
            }),
            ("outreach[1].description (bytes)", |s| {
                s.outreach[1].description = "x".repeat(Scenario::MAX_TEXT_BYTES + 1);
            }),
        ];
        for (what, set) in cases {
            let mut s = Scenario::default();
            set(&mut s);
            assert_eq!(refused(&s).as_deref(), Some(what), "{what}");
        }
        // The limits themselves are allowed.
        let mut s = Scenario {
            population: Scenario::MAX_POPULATION,
            years: u32::try_from(
                Scenario::MAX_RESIDENT_YEARS / u64::from(Scenario::MAX_POPULATION),
            )
            .unwrap(),
            ..Scenario::default()
        };
        s.voting.points = Scenario::MAX_POINTS;
        assert_eq!(refused(&s), None);
        s.population = 200_000;
        s.years = Scenario::MAX_YEARS;
        assert_eq!(refused(&s), None);
    }

    #[test]
    fn every_other_range_is_checked() {
        type Set = fn(&mut Scenario);
        let cases: Vec<(&str, Set)> = vec![
            ("district", |s| s.district = " ".into()),
            ("first_year", |s| s.first_year = i32::MAX),
            ("first_year", |s| s.first_year = i32::MIN),
            ("budget_kronor", |s| s.budget_kronor = 0),
            ("budget_kronor", |s| {
                s.budget_kronor = Scenario::MAX_KRONOR + 1
            }),
            ("min_age", |s| s.min_age = 200),
            ("rule", |s| s.rule = Rule::custom("dice").unwrap()),
            ("dimensions[1].name", |s| {
                s.dimensions[1].name = "age".into()
            }),
            ("dimensions[1].name", |s| {
                s.dimensions[1].name = "a=b".into()
            }),
            ("dimensions[1].name", |s| {
                s.dimensions[1].name = String::new()
            }),
            ("dimensions[1].groups[1].name", |s| {
                s.dimensions[1].groups[1].name = "svenska".into();
            }),
            ("dimensions[0].groups[0].ages", |s| {
                s.dimensions[0].groups[0].ages = Some((11, 0));
            }),
            ("dimensions[0].groups[4].ages", |s| {
                s.dimensions[0].groups[4].ages = Some((65, 111));
            }),
            ("dimensions[1].groups[..].share", |s| {
                s.dimensions[1].groups[0].share = 0.9;
            }),
            ("outreach[0].description", |s| {
                s.outreach[0].description = String::new()
            }),
            ("outreach[0].channel.other", |s| {
                s.outreach[0].channel = OutreachChannel::Other(" ".into());
            }),
            ("outreach[0].groups[1]", |s| {
                s.outreach[0].groups[1] = "age=99".into()
            }),
            ("outreach[0].groups[1]", |s| {
                s.outreach[0].groups[1] = s.outreach[0].groups[0].clone();
            }),
            ("ideas.min_cost_kronor", |s| s.ideas.min_cost_kronor = 0),
            ("ideas.min_cost_kronor", |s| {
                s.ideas.min_cost_kronor = s.ideas.max_cost_kronor + 1;
            }),
            ("ideas.max_cost_kronor", |s| {
                s.ideas.max_cost_kronor = Scenario::MAX_KRONOR + 1;
            }),
            ("ideas.max_cost_kronor", |s| {
                s.ideas.max_cost_kronor = s.budget_kronor + 1;
            }),
            ("ideas.max_projects", |s| s.ideas.max_projects = 0),
            ("voting.max_projects", |s| s.voting.max_projects = 0),
        ];
        for (field, set) in cases {
            let mut s = Scenario::default();
            set(&mut s);
            assert_eq!(refused(&s).as_deref(), Some(field), "{field}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_with_their_line_at_every_level() {
        let toml_cases = [
            ("popilation = 4", "popilation", 1),
            (
                "name = \"x\"\n[voting]\nradius = 0.3\nradios = 0.3",
                "radios",
                4,
            ),
            ("[ideas]\nrate = 0.2\n\nthemse = 3", "themse", 4),
            (
                "[[dimensions]]\nname = \"age\"\n[[dimensions.groups]]\nname = \"all\"\nshare = 1.0\nfactr = 1.0",
                "factr",
                6,
            ),
            (
                "[[outreach]]\nchannel = \"school\"\ndescription = \"x\"\ncoverage = 0.5\nboost = 2.0\ntarget = []",
                "target",
                6,
            ),
        ];
        for (text, field, at) in toml_cases {
            match Scenario::from_toml(text) {
                Err(SimError::Parse { line, message, .. }) => {
                    assert!(message.contains(&format!("`{field}`")), "{text}: {message}");
                    assert_eq!(line, at, "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let json_cases = [
            (
                "{\n  \"name\": \"x\",\n  \"popilation\": 4\n}",
                "popilation",
                3,
            ),
            ("{\"voting\": {\n\"radios\": 0.3}}", "radios", 2),
            (
                "{\"dimensions\": [{\"name\": \"age\", \"groups\": [\n{\"name\": \"all\", \"share\": 1.0, \"factr\": 1.0}]}]}",
                "factr",
                2,
            ),
        ];
        for (text, field, at) in json_cases {
            match Scenario::from_json(text) {
                Err(SimError::Parse { line, message, .. }) => {
                    assert!(message.contains(&format!("`{field}`")), "{text}: {message}");
                    assert_eq!(line, at, "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_file_too_long_is_refused_before_it_is_parsed() {
        let dir =
            std::env::temp_dir().join(format!("medborgarbudget-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.toml");
        let comment = format!("# {}\n", "x".repeat(1_000));
        std::fs::write(&path, comment.repeat(1_100)).unwrap();
        assert!(matches!(
            Scenario::from_file(&path),
            Err(SimError::Limit { max, .. }) if max == Scenario::MAX_FILE_BYTES
        ));
        std::fs::write(&path, "popilation = 3").unwrap();
        let e = Scenario::from_file(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: line 1, column 1: unknown field `popilation`",
                path.display()
            )),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
