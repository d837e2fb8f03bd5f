//! What a simulated district looks like: its residents, outreach, ideas, voting
//! behaviour, counting rule, delivery and the feedback from one year to the
//! next. Readable from TOML or JSON so researchers can share scenarios.

use serde::{Deserialize, Serialize};

use crate::ballot::BallotKind;
use crate::process::OutreachChannel;

use super::SimError;

/// A synthetic district and how its programme behaves. Every field has a
/// default ([`Scenario::default`] is a low-trust district of 10,000 residents),
/// so a scenario file need only say what differs.
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
    /// Residents.
    pub population: u32,
    /// Years of the programme (at least three).
    pub years: u32,
    /// The first year.
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
    /// [`crate::tally::RULES`] lists them).
    pub rule: String,
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
            rule: "greedy".into(),
            delivery: 0.9,
            feedback: 0.3,
            max_propensity: 0.9,
        }
    }
}

impl Scenario {
    /// Reads a scenario from TOML.
    ///
    /// # Errors
    /// [`SimError::Scenario`] for a syntax error, an unknown field or values
    /// that do not fit together.
    pub fn from_toml(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| SimError::Scenario {
            reason: e.to_string(),
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads a scenario from JSON.
    ///
    /// # Errors
    /// As [`Scenario::from_toml`].
    pub fn from_json(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| SimError::Scenario {
            reason: e.to_string(),
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads a scenario file: `.json` as JSON, anything else as TOML.
    ///
    /// # Errors
    /// A file that cannot be read, or as [`Scenario::from_toml`].
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Scenario {
            reason: format!("{}: {e}", path.display()),
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
            SimError::Scenario { reason } => SimError::Scenario {
                reason: format!("{}: {reason}", path.display()),
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

    /// Checks that the values fit together.
    ///
    /// # Errors
    /// [`SimError::Scenario`] naming the first value that does not.
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |reason: String| Err(SimError::Scenario { reason });
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        if self.population == 0 {
            return bad("population must be positive".into());
        }
        if self.years < 3 {
            return bad(format!(
                "a programme runs at least three years, not {}",
                self.years
            ));
        }
        if self.years > 50 {
            return bad(format!("{} years is more than 50", self.years));
        }
        if self.budget_kronor <= 0 || self.budget_kronor > 1_000_000_000_000 {
            return bad(format!(
                "budget_kronor {} is not a positive amount",
                self.budget_kronor
            ));
        }
        if crate::tally::builtin(&self.rule).is_none() {
            return bad(format!(
                "unknown rule {:?}; one of {}",
                self.rule,
                crate::tally::RULES.join(", ")
            ));
        }
        for (what, x) in [
            ("delivery", self.delivery),
            ("max_propensity", self.max_propensity),
            ("ideas.rate", self.ideas.rate),
            ("ideas.infeasible", self.ideas.infeasible),
            ("voting.noise", self.voting.noise),
            ("voting.spread", self.voting.spread),
        ] {
            if !unit(x) {
                return bad(format!("{what} = {x} is not between 0 and 1"));
            }
        }
        if !unit(self.base_propensity()) {
            return bad(format!(
                "propensity {} is not between 0 and 1",
                self.base_propensity()
            ));
        }
        if !(0.0..=10.0).contains(&self.feedback) {
            return bad(format!(
                "feedback {} is not between 0 and 10",
                self.feedback
            ));
        }
        for d in &self.dimensions {
            if d.groups.is_empty() {
                return bad(format!("dimension {} has no groups", d.name));
            }
            let total: f64 = d.groups.iter().map(|g| g.share).sum();
            if (total - 1.0).abs() > 1e-6 {
                return bad(format!(
                    "the shares of dimension {} add up to {total}, not 1",
                    d.name
                ));
            }
            for g in &d.groups {
                if !(g.share >= 0.0 && g.factor >= 0.0 && g.factor <= 100.0) {
                    return bad(format!(
                        "group {}={} has a negative share or factor",
                        d.name, g.name
                    ));
                }
                if let Some((lo, hi)) = g.ages
                    && (lo > hi || hi > 110)
                {
                    return bad(format!("group {}={}: ages {lo}-{hi}", d.name, g.name));
                }
            }
        }
        for o in &self.outreach {
            if !unit(o.coverage) || !(0.0..=100.0).contains(&o.boost) {
                return bad(format!(
                    "outreach {:?}: coverage must be in 0..1 and boost in 0..100",
                    o.description
                ));
            }
            for target in &o.groups {
                if !self.has_group(target) {
                    return bad(format!(
                        "outreach {:?} targets {target:?}, which is no dimension=group of the scenario",
                        o.description
                    ));
                }
            }
        }
        let i = &self.ideas;
        if i.themes == 0 || i.themes > 200 {
            return bad(format!("ideas.themes = {} is not in 1..=200", i.themes));
        }
        if i.min_cost_kronor <= 0 || i.min_cost_kronor > i.max_cost_kronor {
            return bad("ideas: 0 < min_cost_kronor <= max_cost_kronor".into());
        }
        if i.max_projects == 0 {
            return bad("ideas.max_projects must be positive".into());
        }
        let v = &self.voting;
        if v.max_projects == 0 {
            return bad("voting.max_projects must be positive".into());
        }
        if v.ballot == BallotKind::Cumulative && v.points < 1 {
            return bad("voting.points must be positive for cumulative ballots".into());
        }
        if !(v.radius > 0.0 && v.radius <= 2.0) {
            return bad(format!("voting.radius {} is not in (0, 2]", v.radius));
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
