//! Simulated programmes, for researchers asking "what if": a [`Scenario`]
//! describes a synthetic district; a [`Simulation`] drives the real state
//! machine through every step of every year — commands through a
//! [`Journal`] into any [`Store`], counted by the scenario's rule — and
//! reports each year's follow-up. Runs are deterministic from a seed (ChaCha8),
//! so a run can be repeated, compared across rules, and resumed: running a
//! simulation again on a store that holds it checks every stored event instead
//! of writing it twice, and continues after the last one. [`sweep`] runs many
//! programmes over a grid of parameters in parallel.
//!
//! ```
//! use medborgarbudget::sim::{Scenario, Simulation};
//!
//! let scenario = Scenario { population: 2_000, ..Scenario::default() };
//! let run = Simulation::new(&scenario, 7)?.run_in_memory()?;
//! assert_eq!(run.years.len(), 3);
//! for y in &run.years {
//!     println!("{}: {} voters, {} projects funded", y.year, y.voters, y.funded);
//! }
//! # Ok::<(), medborgarbudget::sim::SimError>(())
//! ```
//!
//! # The model, year by year
//!
//! Residents are drawn once: one group per dimension by the groups' shares, an
//! age from the age group, an ideal point from the groups' taste centres
//! ([`Voting`]), and a propensity to take part: the base propensity (from
//! [`Trust`]) times the factors of the resident's groups. Each year:
//!
//! 1. the council sets the budget, eligibility (`min_age`), ballot rules with
//!    the scenario's counting rule, and criteria;
//! 2. posters and the web site reach everyone without changing anyone's
//!    propensity (the least step 2 asks); each of the scenario's outreach
//!    activities reaches `coverage` of its target groups and multiplies their
//!    propensity by `boost` for the year;
//! 3. each eligible resident takes part with their propensity (at most
//!    `max_propensity`); of those, `ideas.rate` propose the theme nearest their
//!    ideal point (by noisy utility);
//! 4. themes with at least `ideas.min_ideas` ideas, the most popular
//!    `ideas.max_projects` of them, are worked into projects with their
//!    authors, costed, assessed (a share `ideas.infeasible` withdrawn) and
//!    scored; the other ideas are answered with a reason;
//! 5. everyone who takes part votes, by the preference model;
//! 6. each funded project is built with a few of its supporters and delivered
//!    with probability `delivery` (final cost within ±5 % of the estimate),
//!    otherwise cancelled;
//! 7. the follow-up records the year's [`CycleMetrics`]; residents who
//!    supported a delivered project become more likely to take part
//!    (`feedback`).
//!
//! Year *n*+1 starts (step 1) while year *n*'s projects are built, so year
//! *n*'s lessons and unspent money reach it, as the programme rules require.

mod scenario;
mod sweep;
mod synthetic;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use scenario::{Dimension, Group, Ideas, Outreach, Scenario, Trust, Voting};
pub use sweep::{Sweep, SweepPoint, SweepRow, sweep, write_csv};
pub use synthetic::{MAX_APPROVALS, MAX_PROJECTS, MAX_VOTERS, Synthetic};

use crate::area::{Area, Eligibility, Resident};
use crate::ballot::{BallotKind, BallotRules, BallotSubmission, Choices, Counting};
use crate::criteria::{CriteriaSet, Score};
use crate::followup::{CycleMetrics, FollowUpError, ProgrammeMetrics};
use crate::idea::IdeaSubmission;
use crate::ids::{AreaId, BallotId, CycleId, IdeaId, ProgrammeId, ProjectId, ResidentId};
use crate::money::{Currency, Money};
use crate::process::{
    Allocation, AnyCycle, Command, CouncilDecision, Evaluation, FundingSource, OutreachActivity,
    OutreachChannel, Programme, ProgrammeCommand, ProgrammeError, ProgrammeSetup, TargetGroup,
    VoterRegister, VotingWindow,
};
use crate::project::{Feasibility, Milestone, Progress, ProjectProposal};
use crate::store::memory::MemoryStore;
use crate::store::{Journal, JournalError, Store, VoterKey};
use crate::tally::Fraction;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario cannot be read or written, or its values do not fit
    /// together.
    #[error("scenario: {reason}")]
    Scenario {
        /// What is wrong.
        reason: String,
    },
    /// A scenario text that does not parse: bad syntax, an unknown field, a
    /// value of the wrong type.
    #[error("{}line {line}, column {column}: {message}", .file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Parse {
        /// The file, if the text was read from one.
        file: Option<std::path::PathBuf>,
        /// The line, from 1 (0 if the parser did not say).
        line: usize,
        /// The column in characters, from 1 (0 if the parser did not say).
        column: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A day the calendar does not have (a year outside chrono's range).
    #[error("the simulation reached a day the calendar does not have: {year}-{month:02}-{day:02}")]
    Date {
        /// The year.
        year: i32,
        /// The month.
        month: u32,
        /// The day.
        day: u32,
    },
    /// The scenario could not be written out to derive the programme's id.
    #[error("the scenario cannot be serialised to derive the programme's id")]
    Serialise {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A value of the scenario that is not a number, lies outside its range or
    /// contradicts another.
    #[error("scenario: {field} = {value}: {expected}")]
    Invalid {
        /// The field, as a path (`dimensions[1].groups[0].taste`).
        field: String,
        /// The value found.
        value: String,
        /// What the field must be.
        expected: String,
    },
    /// A size past its documented limit, or below its least: residents,
    /// years, groups, programmes in a sweep, threads.
    #[error("{what} = {value}: {}", if .value < .min { format!("at least {min}") } else { format!("at most {max}") })]
    Limit {
        /// What was counted (`population`, `dimensions[0].groups`, `threads`).
        what: String,
        /// The size asked for.
        value: u64,
        /// The least allowed.
        min: u64,
        /// The most allowed.
        max: u64,
    },
    /// The programme refused a command the simulation issued.
    #[error("year {year}, {command}: {source}")]
    Refused {
        /// The year.
        year: i32,
        /// The command's name.
        command: &'static str,
        /// Why.
        #[source]
        source: ProgrammeError,
    },
    /// The store failed, or holds a different run under this programme's id.
    #[error(transparent)]
    Store(JournalError),
    /// The follow-up could not be measured.
    #[error(transparent)]
    FollowUp(#[from] FollowUpError),
    /// Output could not be written.
    #[error("writing {what}: {source}")]
    Write {
        /// What was being written.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// One year of a simulated (or stored) programme, as `simulate` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearRow {
    /// The year.
    pub year: i32,
    /// Residents.
    pub population: u64,
    /// Voters.
    pub voters: u64,
    /// Voters over residents.
    pub turnout: Fraction,
    /// Ideas submitted.
    pub ideas: u64,
    /// Projects on the ballot.
    pub on_ballot: u64,
    /// Projects funded.
    pub funded: u64,
    /// Money spent.
    pub spent: Money,
    /// Share of voters with at least one funded project they supported.
    pub voters_with_funded: Fraction,
}

impl YearRow {
    /// The row of a year's follow-up.
    pub fn of(m: &CycleMetrics) -> YearRow {
        YearRow {
            year: m.year,
            population: m.population,
            voters: m.voters,
            turnout: m.turnout,
            ideas: m.ideas,
            on_ballot: m.projects_on_ballot,
            funded: m.funded,
            spent: m.spent,
            voters_with_funded: m.voters_with_funded,
        }
    }
}

/// A finished simulated programme.
#[derive(Debug, Clone)]
pub struct SimRun {
    /// The seed.
    pub seed: u64,
    /// The programme, concluded.
    pub programme: Programme,
    /// One row per year.
    pub years: Vec<YearRow>,
    /// The programme's follow-up.
    pub metrics: ProgrammeMetrics,
    /// Events the store already held and this run checked instead of writing.
    pub events_checked: u64,
    /// Events this run wrote.
    pub events_written: u64,
}

/// One simulation: a scenario and a seed.
#[derive(Debug, Clone)]
pub struct Simulation<'s> {
    scenario: &'s Scenario,
    seed: u64,
}

/// A simulated resident.
#[derive(Debug, Clone)]
struct Person {
    resident: Resident,
    ideal: (f64, f64),
    propensity: f64,
}

/// A project theme: a place in the preference space and a cost in kronor.
#[derive(Debug, Clone)]
struct Theme {
    title: String,
    at: (f64, f64),
    cost: i64,
}

fn date(year: i32, month: u32, day: u32) -> Result<NaiveDate, SimError> {
    NaiveDate::from_ymd_opt(year, month, day).ok_or(SimError::Date { year, month, day })
}

/// 10:00 UTC on a day of the calendar.
fn at(year: i32, month: u32, day: u32) -> Result<DateTime<Utc>, SimError> {
    Ok(date(year, month, day)?
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        + chrono::Duration::hours(10))
}

fn kronor(k: i64) -> Money {
    Money::new(k.saturating_mul(100), Currency::SEK)
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

const THEME_NAMES: &[&str] = &[
    "Outdoor gym",
    "Lighting on the footpath",
    "Allotment gardens",
    "Homework help at the library",
    "Multi-sport court",
    "Benches and pergola on the square",
    "Meeting place for seniors",
    "New playground",
    "Art in the underpass",
    "Youth centre open at weekends",
    "Bicycle workshop",
    "Skate park",
    "Language café",
    "Community kitchen",
    "Football goals and nets",
    "Walking trail with exercise stations",
    "Summer jobs for teenagers",
    "Free Wi-Fi in the square",
    "Sewing and repair café",
    "Flower beds along the main street",
    "Outdoor stage",
    "Barbecue area",
    "Dog park",
    "Girls' football team",
];

impl<'s> Simulation<'s> {
    /// A simulation of `scenario` from `seed`.
    ///
    /// # Errors
    /// [`SimError::Scenario`] if the scenario does not check.
    pub fn new(scenario: &'s Scenario, seed: u64) -> Result<Simulation<'s>, SimError> {
        scenario.check()?;
        Ok(Simulation { scenario, seed })
    }

    /// The programme's id: a hash of the scenario and the seed, so the same
    /// simulation finds its own programme in a store and a different one does
    /// not collide with it.
    ///
    /// # Errors
    /// [`SimError::Serialise`] if the scenario cannot be written out (it never
    /// hashes an empty text in its place).
    pub fn programme_id(&self) -> Result<ProgrammeId, SimError> {
        let scenario =
            serde_json::to_vec(self.scenario).map_err(|source| SimError::Serialise { source })?;
        let mut h = Sha256::new();
        h.update(b"medborgarbudget/sim/1\0");
        h.update(scenario);
        h.update(self.seed.to_be_bytes());
        let digest: [u8; 32] = h.finalize().into();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Ok(ProgrammeId::from_u128(u128::from_be_bytes(first)))
    }

    /// Runs in a fresh in-memory store, with a voter key derived from the seed.
    ///
    /// # Errors
    /// As [`Simulation::run`].
    pub fn run_in_memory(&self) -> Result<SimRun, SimError> {
        self.run(Arc::new(MemoryStore::new()), self.test_key())
    }

    fn test_key(&self) -> VoterKey {
        let mut h = Sha256::new();
        h.update(b"medborgarbudget/sim/key\0");
        h.update(self.seed.to_be_bytes());
        let key: [u8; 32] = h.finalize().into();
        VoterKey::new(key.to_vec()).unwrap_or_else(|_| VoterKey::random())
    }

    /// Runs the programme through `store`, pseudonymising voters with `key`.
    /// If the store already holds this programme (an earlier run, whole or
    /// killed part way), its events are checked against what the run decides
    /// and the run continues after the last one.
    ///
    /// # Errors
    /// A command the rules refuse (a scenario that cannot run, such as one
    /// whose residents propose too few ideas for a ballot), a store failure,
    /// or a store that holds a different run under this programme's id.
    pub fn run(&self, store: Arc<dyn Store>, key: VoterKey) -> Result<SimRun, SimError> {
        let s = self.scenario;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let (people, area) = self.residents(&mut rng)?;
        let themes = self.themes(&mut rng);
        let id = self.programme_id()?;
        let decided_on = date(s.first_year - 1, 6, 18)?;
        let setup = ProgrammeSetup {
            id,
            area: area.clone(),
            currency: Currency::SEK,
            first_year: s.first_year,
            years: u8::try_from(s.years).unwrap_or(u8::MAX),
            carry_over: s.carry_over.then(|| CouncilDecision {
                body: "Municipal council".into(),
                reference: "Unspent money carries over to the next year".into(),
                decided_on,
            }),
            established_at: at(s.first_year - 1, 6, 18)?,
        };
        // A step's commands are stored in one transaction (one durable
        // commit per step, not per ballot); a kill loses at most the step
        // under way, which running again makes anew.
        let driver = Journal::open(store, key, setup)
            .map_err(SimError::Store)?
            .batched();
        let mut world = World {
            scenario: s,
            driver,
            rng,
            people,
            area,
            themes,
            programme_id: id,
            voted: std::collections::BTreeMap::new(),
        };
        let years: Vec<i32> = (0..s.years)
            .map(|k| s.first_year + i32::try_from(k).unwrap_or(0))
            .collect();
        let mut rows = Vec::with_capacity(years.len());
        for (k, &year) in years.iter().enumerate() {
            world.start_year(year)?;
            if k > 0 {
                rows.push(world.build_and_follow_up(year - 1)?);
            }
            world.outreach_to_vote(year)?;
        }
        if let Some(&last) = years.last() {
            rows.push(world.build_and_follow_up(last)?);
            world.command(
                last,
                ProgrammeCommand::Conclude {
                    at: at(last + 1, 1, 20)?,
                },
            )?;
        }
        let programme = world.driver.programme().clone();
        let metrics = ProgrammeMetrics::of(&programme)?;
        Ok(SimRun {
            seed: self.seed,
            programme,
            years: rows,
            metrics,
            events_checked: world.driver.checked(),
            events_written: world.driver.written(),
        })
    }

    fn residents(&self, rng: &mut ChaCha8Rng) -> Result<(Vec<Person>, Area), SimError> {
        let s = self.scenario;
        let area_id = AreaId::from_u128(self.programme_id()?.as_uuid().as_u128() ^ 0xA);
        let mut counts: Vec<Vec<u32>> = s
            .dimensions
            .iter()
            .map(|d| vec![0; d.groups.len()])
            .collect();
        let mut people = Vec::with_capacity(s.population as usize);
        let base = s.base_propensity();
        for n in 0..s.population {
            let mut age = None;
            let mut taste = (0.0, 0.0, 0u32);
            let mut propensity = base;
            let mut groups = Vec::with_capacity(s.dimensions.len());
            for (d, dim) in s.dimensions.iter().enumerate() {
                let mut pick = rng.random::<f64>();
                let mut chosen = dim.groups.len() - 1;
                for (g, group) in dim.groups.iter().enumerate() {
                    if pick < group.share {
                        chosen = g;
                        break;
                    }
                    pick -= group.share;
                }
                let group = &dim.groups[chosen];
                counts[d][chosen] += 1;
                propensity *= group.factor;
                if let (None, Some((lo, hi))) = (age, group.ages) {
                    age = Some(rng.random_range(lo..=hi));
                }
                if let Some((x, y)) = group.taste {
                    taste = (taste.0 + x, taste.1 + y, taste.2 + 1);
                }
                groups.push((dim.name.as_str(), group.name.as_str()));
            }
            let age = age.unwrap_or_else(|| rng.random_range(18..=80));
            let centre = if taste.2 == 0 {
                (rng.random::<f64>(), rng.random::<f64>())
            } else {
                (taste.0 / f64::from(taste.2), taste.1 / f64::from(taste.2))
            };
            let spread = s.voting.spread;
            let jitter = |rng: &mut ChaCha8Rng| (rng.random::<f64>() * 2.0 - 1.0) * spread;
            let ideal = (
                (centre.0 + jitter(rng)).clamp(0.0, 1.0),
                (centre.1 + jitter(rng)).clamp(0.0, 1.0),
            );
            let born = date(
                s.first_year - 1 - i32::try_from(age).unwrap_or(0),
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            )?;
            let since = date(s.first_year - 1 - rng.random_range(1..=20), 1, 1)?;
            let mut resident = Resident::new(
                ResidentId::from_u128(u128::from(n) + 1),
                born,
                area_id,
                since.min(born.max(since)),
            );
            for (dim, group) in groups {
                resident = resident.in_group(dim, group);
            }
            people.push(Person {
                resident,
                ideal,
                propensity: propensity.min(s.max_propensity),
            });
        }
        let mut area = Area::new(area_id, s.district.clone(), s.population).map_err(|e| {
            SimError::Scenario {
                reason: e.to_string(),
            }
        })?;
        for (d, dim) in s.dimensions.iter().enumerate() {
            let groups: Vec<(String, u32)> = dim
                .groups
                .iter()
                .zip(&counts[d])
                .map(|(g, &c)| (g.name.clone(), c))
                .collect();
            area =
                area.with_breakdown(dim.name.clone(), groups)
                    .map_err(|e| SimError::Scenario {
                        reason: e.to_string(),
                    })?;
        }
        Ok((people, area))
    }

    fn themes(&self, rng: &mut ChaCha8Rng) -> Vec<Theme> {
        let i = &self.scenario.ideas;
        (0..i.themes as usize)
            .map(|n| {
                let name = THEME_NAMES[n % THEME_NAMES.len()];
                let title = if n < THEME_NAMES.len() {
                    name.to_owned()
                } else {
                    format!("{name} {}", n / THEME_NAMES.len() + 1)
                };
                let cost = rng.random_range(i.min_cost_kronor..=i.max_cost_kronor);
                Theme {
                    title,
                    at: (rng.random::<f64>(), rng.random::<f64>()),
                    // Municipal estimates come in thousands.
                    cost: (cost / 1_000).max(1) * 1_000,
                }
            })
            .collect()
    }
}

/// A running simulation.
struct World<'s> {
    scenario: &'s Scenario,
    driver: Journal,
    rng: ChaCha8Rng,
    people: Vec<Person>,
    area: Area,
    themes: Vec<Theme>,
    programme_id: ProgrammeId,
    /// Each year's voters (indices into `people`) in the order they voted.
    voted: std::collections::BTreeMap<i32, Vec<usize>>,
}

impl World<'_> {
    fn command(&mut self, year: i32, command: ProgrammeCommand) -> Result<(), SimError> {
        let name = command.name();
        let step = |w: &Self| w.the_cycle(year).map(AnyCycle::step);
        let before = step(self);
        match self.driver.apply(command) {
            // A new step, year or conclusion ends what the step before did.
            Ok(_) if step(self) != before || name == "conclude" => {
                self.driver.commit().map_err(SimError::Store)
            }
            Ok(_) => Ok(()),
            Err(JournalError::Refused(source)) => Err(SimError::Refused {
                year,
                command: name,
                source,
            }),
            Err(e) => Err(SimError::Store(e)),
        }
    }

    fn cycle(&mut self, year: i32, command: Command) -> Result<(), SimError> {
        self.command(year, ProgrammeCommand::Cycle { year, command })
    }

    /// A command the rules may refuse for a reason the simulation accepts
    /// (a co-creator who already takes part): refusals are skipped.
    fn try_cycle(&mut self, year: i32, command: Command) -> Result<bool, SimError> {
        match self.driver.apply(ProgrammeCommand::Cycle { year, command }) {
            Ok(_) => Ok(true),
            Err(JournalError::Refused(ProgrammeError::Cycle { .. })) => Ok(false),
            Err(JournalError::Refused(source)) => Err(SimError::Refused {
                year,
                command: "cycle",
                source,
            }),
            Err(e) => Err(SimError::Store(e)),
        }
    }

    fn cycle_id(&self, year: i32) -> CycleId {
        CycleId::from_u128(self.programme_id.as_uuid().as_u128() ^ (0xC0DE_0000 + year as u128))
    }

    fn the_cycle(&self, year: i32) -> Option<&AnyCycle> {
        self.driver.programme().cycle(year)
    }

    /// Step 1.
    fn start_year(&mut self, year: i32) -> Result<(), SimError> {
        let s = self.scenario;
        self.command(
            year,
            ProgrammeCommand::StartCycle {
                id: self.cycle_id(year),
                year,
                at: at(year - 1, 11, 16)?,
            },
        )?;
        let decision = CouncilDecision {
            body: "Municipal council".into(),
            reference: format!("Budget {year}"),
            decided_on: date(year - 1, 11, 14)?,
        };
        self.cycle(
            year,
            Command::SetBudget(Allocation {
                part: None,
                amount: kronor(s.budget_kronor),
                decision,
                source: FundingSource::Council,
            }),
        )?;
        self.cycle(
            year,
            Command::SetEligibility(Eligibility::residents_aged(s.min_age)),
        )?;
        let counting = Counting {
            rule: s.rule.clone(),
            ..Counting::default()
        };
        let v = &s.voting;
        let rules = match v.ballot {
            BallotKind::Cumulative => BallotRules::cumulative(v.points),
            BallotKind::Knapsack => BallotRules::builder(BallotKind::Knapsack),
            kind => BallotRules::builder(kind).max_projects(v.max_projects),
        }
        .counting(counting)
        .build()
        .map_err(|e| SimError::Scenario {
            reason: e.to_string(),
        })?;
        self.cycle(year, Command::SetBallotRules(rules))?;
        let criteria = CriteriaSet::builder()
            .social_sustainability("meeting-places", "Brings neighbours together", 3)
            .social_sustainability("young-people", "Gives young people something to do", 2)
            .public_health("movement", "Invites people to move and be outdoors", 2)
            .build()
            .map_err(|e| SimError::Scenario {
                reason: e.to_string(),
            })?;
        self.cycle(year, Command::SetCriteria { criteria })
    }

    /// Steps 2 to 5.
    fn outreach_to_vote(&mut self, year: i32) -> Result<(), SimError> {
        let s = self.scenario;
        // 2. Outreach: who is reached this year.
        self.cycle(
            year,
            Command::BeginOutreach {
                at: at(year, 1, 15)?,
            },
        )?;
        // The least the model asks of step 2, every year: posters, leaflets and
        // the web site. They reach everyone and move no one.
        self.cycle(
            year,
            Command::RecordOutreach(OutreachActivity {
                channel: OutreachChannel::Print,
                description: "Posters, leaflets and the municipality's web site".into(),
                languages: vec!["sv".into()],
                people_reached: s.population,
                held_on: date(year, 1, 16)?,
                groups: Vec::new(),
            }),
        )?;
        let mut boost = vec![1.0f64; self.people.len()];
        for (k, o) in s.outreach.iter().enumerate() {
            let mut reached = 0u32;
            for (i, p) in self.people.iter().enumerate() {
                let targeted = o.groups.is_empty()
                    || o.groups.iter().any(|t| {
                        t.split_once('=')
                            .is_some_and(|(d, g)| p.resident.group(d) == Some(g))
                    });
                if targeted && self.rng.random::<f64>() < o.coverage {
                    boost[i] *= o.boost;
                    reached += 1;
                }
            }
            self.cycle(
                year,
                Command::RecordOutreach(OutreachActivity {
                    channel: o.channel.clone(),
                    description: o.description.clone(),
                    languages: vec!["sv".into()],
                    people_reached: reached,
                    held_on: date(year, 1, 20 + u32::try_from(k % 8).unwrap_or(0))?,
                    // The scenario checks each is `dimension=group` of the area.
                    groups: o
                        .groups
                        .iter()
                        .filter_map(|t| t.split_once('='))
                        .map(|(d, g)| TargetGroup::new(d, g))
                        .collect(),
                }),
            )?;
        }
        // Who takes part this year: eligible on election day, by propensity.
        let eligibility = Eligibility::residents_aged(s.min_age);
        let vote_day = date(year, 4, 20)?;
        let mut taking_part = Vec::new();
        for (i, p) in self.people.iter().enumerate() {
            let chance = (p.propensity * boost[i]).min(s.max_propensity);
            if self.rng.random::<f64>() < chance
                && eligibility.check(&p.resident, &self.area, vote_day).is_ok()
            {
                taking_part.push(i);
            }
        }

        // 3. Ideas.
        self.cycle(
            year,
            Command::OpenIdeaGeneration {
                at: at(year, 2, 15)?,
            },
        )?;
        let mut by_theme: Vec<Vec<(IdeaId, usize)>> = vec![Vec::new(); self.themes.len()];
        let mut n = 0u128;
        for &i in &taking_part {
            if self.rng.random::<f64>() >= s.ideas.rate {
                continue;
            }
            let theme = self.favourite(i);
            n += 1;
            let id = IdeaId::from_u128(self.cycle_id(year).as_uuid().as_u128() ^ (n << 64));
            let idea = IdeaSubmission {
                id,
                author: self.people[i].resident.clone(),
                co_authors: vec![],
                title: self.themes[theme].title.clone().into(),
                description: format!("An idea: {}", self.themes[theme].title.to_lowercase()).into(),
                submitted_at: at(year, 2, 16 + self.rng.random_range(0..12u32))?,
                estimated_cost: None,
            };
            if self.try_cycle(year, Command::SubmitIdea(idea))? {
                by_theme[theme].push((id, i));
            }
        }

        // 4. Shortlisting.
        self.cycle(
            year,
            Command::BeginShortlisting {
                at: at(year, 3, 10)?,
            },
        )?;
        let mut ranked: Vec<usize> = (0..self.themes.len()).collect();
        ranked.sort_by_key(|&t| (std::cmp::Reverse(by_theme[t].len()), t));
        let chosen: Vec<usize> = ranked
            .iter()
            .copied()
            .filter(|&t| by_theme[t].len() >= s.ideas.min_ideas.max(1) as usize)
            .take(s.ideas.max_projects as usize)
            .collect();
        let mut project_n = 0u128;
        for (t, ideas) in by_theme.into_iter().enumerate() {
            if ideas.is_empty() {
                continue;
            }
            for (id, _) in &ideas {
                self.cycle(year, Command::ReviewIdea { idea: *id })?;
            }
            if !chosen.contains(&t) {
                for (id, _) in &ideas {
                    self.cycle(
                        year,
                        Command::RejectIdea {
                            idea: *id,
                            reason: "Too few residents backed this idea this year".into(),
                        },
                    )?;
                }
                continue;
            }
            let (first, _) = ideas[0];
            for (id, _) in &ideas[1..] {
                self.cycle(
                    year,
                    Command::MergeIdea {
                        idea: *id,
                        into: first,
                    },
                )?;
            }
            project_n += 1;
            let project =
                ProjectId::from_u128(self.cycle_id(year).as_uuid().as_u128() ^ (project_n << 80));
            let mut workers: Vec<Resident> = Vec::new();
            for (_, author) in &ideas {
                let r = &self.people[*author].resident;
                if workers.len() < s.ideas.workshop as usize
                    && !workers.iter().any(|w| w.id() == r.id())
                {
                    workers.push(r.clone());
                }
            }
            let theme = self.themes[t].clone();
            self.cycle(
                year,
                Command::ProposeProject(ProjectProposal {
                    part: None,
                    id: project,
                    title: theme.title.clone().into(),
                    description: format!("{}, worked out with residents", theme.title).into(),
                    ideas: vec![first],
                    worked_on_by: workers,
                }),
            )?;
            self.cycle(
                year,
                Command::EstimateCost {
                    project,
                    cost: kronor(theme.cost),
                },
            )?;
            if self.rng.random::<f64>() < s.ideas.infeasible {
                self.cycle(
                    year,
                    Command::AssessFeasibility {
                        project,
                        feasibility: Feasibility::Infeasible {
                            reason: "Not possible on municipal land".into(),
                        },
                    },
                )?;
                self.cycle(
                    year,
                    Command::WithdrawProject {
                        project,
                        reason: "Infeasible; passed to the committee".into(),
                    },
                )?;
                continue;
            }
            self.cycle(
                year,
                Command::AssessFeasibility {
                    project,
                    feasibility: Feasibility::Feasible,
                },
            )?;
            for criterion in ["meeting-places", "young-people", "movement"] {
                let score =
                    Score::new(self.rng.random_range(3..=10)).map_err(|e| SimError::Scenario {
                        reason: e.to_string(),
                    })?;
                self.cycle(
                    year,
                    Command::ScoreProject {
                        project,
                        criterion: criterion.into(),
                        score,
                    },
                )?;
            }
        }

        // 5. Voting.
        self.cycle(
            year,
            Command::OpenVoting {
                window: VotingWindow {
                    opens: at(year, 4, 20)?,
                    closes: at(year, 5, 11)?,
                },
                at: at(year, 4, 19)?,
            },
        )?;
        let shortlist: Vec<(ProjectId, (f64, f64), i64)> = match self.the_cycle(year) {
            Some(AnyCycle::Voting(v)) => v
                .projects()
                .iter()
                .filter(|p| p.is_on_shortlist())
                .filter_map(|p| {
                    let theme = self.themes.iter().find(|t| t.title == p.title())?;
                    Some((p.id(), theme.at, p.cost()?.minor() / 100))
                })
                .collect(),
            _ => Vec::new(),
        };
        for (n, &i) in taking_part.iter().enumerate() {
            let choices = self.choices(i, &shortlist);
            let ballot = BallotSubmission {
                part: None,
                id: BallotId::from_u128(
                    self.cycle_id(year).as_uuid().as_u128() ^ ((n as u128 + 1) << 72),
                ),
                voter: self.people[i].resident.clone(),
                cast_at: at(year, 4, 20)?
                    + chrono::Duration::minutes(self.rng.random_range(0..20 * 24 * 60)),
                choices,
            };
            self.cycle(year, Command::CastBallot(ballot))?;
        }
        self.voted.insert(year, taking_part);
        self.cycle(
            year,
            Command::CloseVoting {
                at: at(year, 5, 12)?,
            },
        )?;
        // Who voted by group, counted from the population register (ballots keep
        // no record of their voters).
        let register = VoterRegister::new(self.people.iter().map(|p| p.resident.clone()).collect());
        self.cycle(year, Command::CountParticipation(register))
    }

    /// The theme a resident proposes: the best by noisy utility.
    fn favourite(&mut self, i: usize) -> usize {
        let ideal = self.people[i].ideal;
        let noise = self.scenario.voting.noise;
        let mut best = (f64::INFINITY, 0);
        for (t, theme) in self.themes.iter().enumerate() {
            let d = distance(ideal, theme.at) + self.rng.random::<f64>() * noise;
            if d < best.0 {
                best = (d, t);
            }
        }
        best.1
    }

    /// A ballot by the preference model.
    fn choices(&mut self, i: usize, shortlist: &[(ProjectId, (f64, f64), i64)]) -> Choices {
        let v = &self.scenario.voting;
        let ideal = self.people[i].ideal;
        let mut by_distance: Vec<(f64, ProjectId, i64)> = shortlist
            .iter()
            .map(|&(p, place, cost)| {
                (
                    distance(ideal, place) + self.rng.random::<f64>() * v.noise,
                    p,
                    cost,
                )
            })
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let max = v.max_projects as usize;
        match v.ballot {
            BallotKind::Approval => Choices::Approval(
                by_distance
                    .iter()
                    .enumerate()
                    .filter(|(k, c)| *k == 0 || c.0 <= v.radius)
                    .take(max)
                    .map(|(_, c)| c.1)
                    .collect(),
            ),
            BallotKind::Knapsack => {
                let mut left = self.scenario.budget_kronor;
                let mut chosen = Vec::new();
                for &(_, p, cost) in &by_distance {
                    if cost <= left {
                        left -= cost;
                        chosen.push(p);
                    }
                }
                Choices::Approval(chosen)
            }
            BallotKind::Cumulative => {
                let total = v.points;
                let first = total * 5 / 10;
                let second = total * 3 / 10;
                let shares = [first, second, total - first - second];
                let top: Vec<ProjectId> = by_distance.iter().take(3).map(|c| c.1).collect();
                let mut points: Vec<(ProjectId, u32)> = Vec::new();
                for (k, &p) in top.iter().enumerate() {
                    // Fewer than three projects: the rest goes to the best.
                    let share = if k + 1 == top.len() {
                        shares[k..].iter().sum()
                    } else {
                        shares[k]
                    };
                    if share > 0 {
                        points.push((p, share));
                    }
                }
                Choices::Points(points)
            }
            BallotKind::Ranked => {
                Choices::Ranking(by_distance.iter().take(max).map(|c| c.1).collect())
            }
        }
    }

    /// Steps 6 and 7, and the feedback to next year.
    fn build_and_follow_up(&mut self, year: i32) -> Result<YearRow, SimError> {
        let s = self.scenario;
        let (funded, supporters) = match self.the_cycle(year) {
            Some(AnyCycle::Implementation(c)) => {
                let funded: Vec<(ProjectId, Money)> = c
                    .decision()
                    .funded
                    .iter()
                    .filter_map(|p| c.project(*p).and_then(|x| x.cost()).map(|m| (*p, m)))
                    .collect();
                // Voters are stored under pseudonyms; the residents behind them
                // are found by position (ballots keep the order they were cast).
                let supporters: Vec<Vec<usize>> = funded
                    .iter()
                    .map(|(p, _)| {
                        c.ballots()
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| supports(b.choices(), *p))
                            .map(|(k, _)| k)
                            .collect()
                    })
                    .collect();
                (funded, supporters)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let voters = self.voters_of(year);
        let mut delivered_to: Vec<usize> = Vec::new();
        for ((project, cost), backers) in funded.iter().zip(&supporters) {
            let (project, cost) = (*project, *cost);
            self.cycle(
                year,
                Command::RecordMilestone {
                    project,
                    milestone: Milestone {
                        title: "Design workshop with residents".into(),
                        reached_on: date(year, 6, 3)?,
                    },
                },
            )?;
            for _ in 0..backers.len().min(3) {
                let k = backers[self.rng.random_range(0..backers.len())];
                if let Some(&person) = voters.get(k) {
                    let resident = self.people[person].resident.clone();
                    self.try_cycle(year, Command::AddCoCreator { project, resident })?;
                }
            }
            self.cycle(
                year,
                Command::RecordProgress {
                    project,
                    progress: Progress::new(60).map_err(|e| SimError::Scenario {
                        reason: e.to_string(),
                    })?,
                },
            )?;
            if self.rng.random::<f64>() < s.delivery {
                let delta = self.rng.random_range(-500i64..=500) * cost.minor() / 10_000;
                let done = at(year, 10, 1 + self.rng.random_range(0..28))?;
                self.cycle(
                    year,
                    Command::CompleteProject {
                        project,
                        final_cost: Money::new(cost.minor() + delta, Currency::SEK),
                        at: done,
                    },
                )?;
                delivered_to.extend(backers.iter().filter_map(|&k| voters.get(k).copied()));
            } else {
                self.cycle(
                    year,
                    Command::CancelProject {
                        project,
                        reason: "The ground turned out to be contaminated".into(),
                        spent: Money::new(cost.minor() / 10, Currency::SEK),
                        at: at(year, 9, 30)?,
                    },
                )?;
            }
        }
        self.cycle(
            year,
            Command::BeginFollowUp {
                at: at(year, 11, 20)?,
            },
        )?;
        let metrics = match self.the_cycle(year) {
            Some(cycle) => CycleMetrics::of(cycle)?,
            None => {
                return Err(SimError::Scenario {
                    reason: format!("the programme has no cycle for {year}"),
                });
            }
        };
        let row = YearRow::of(&metrics);
        self.cycle(
            year,
            Command::Close(Evaluation {
                lessons: vec![
                    format!(
                        "Turnout {:.1} %; {:.0} % of voters saw a project they supported funded",
                        metrics.turnout.value() * 100.0,
                        metrics.voters_with_funded.value() * 100.0
                    )
                    .into(),
                ],
                summary: format!("Follow-up of {year}").into(),
                recorded_at: at(year, 12, 10)?,
                figures: Some(metrics.digest()?),
            }),
        )?;
        // Feedback: seeing a project one supported delivered builds trust.
        delivered_to.sort_unstable();
        delivered_to.dedup();
        for i in delivered_to {
            let p = &mut self.people[i];
            p.propensity = (p.propensity * (1.0 + s.feedback)).min(s.max_propensity);
        }
        Ok(row)
    }

    /// The residents who voted in `year`, in the order of their ballots.
    fn voters_of(&self, year: i32) -> Vec<usize> {
        self.voted.get(&year).cloned().unwrap_or_default()
    }
}

fn supports(choices: &Choices, project: ProjectId) -> bool {
    match choices {
        Choices::Approval(ps) | Choices::Ranking(ps) => ps.contains(&project),
        Choices::Points(ps) => ps.iter().any(|&(p, v)| p == project && v > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_the_calendar_lacks_is_an_error_not_1970() {
        assert!(matches!(
            date(2027, 2, 30),
            Err(SimError::Date {
                year: 2027,
                month: 2,
                day: 30
            })
        ));
        assert!(matches!(at(i32::MAX, 1, 1), Err(SimError::Date { .. })));
        assert_eq!(
            at(2027, 4, 20).unwrap().to_rfc3339(),
            "2027-04-20T10:00:00+00:00"
        );
    }

    fn small() -> Scenario {
        Scenario {
            population: 1_500,
            ..Scenario::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_programme() {
        let s = small();
        let a = Simulation::new(&s, 1).unwrap().run_in_memory().unwrap();
        let b = Simulation::new(&s, 1).unwrap().run_in_memory().unwrap();
        assert_eq!(a.years, b.years);
        assert_eq!(a.programme, b.programme);
        let c = Simulation::new(&s, 2).unwrap().run_in_memory().unwrap();
        assert_ne!(a.years, c.years);
    }

    #[test]
    fn a_programme_runs_every_year_to_the_end() {
        let s = small();
        let run = Simulation::new(&s, 3).unwrap().run_in_memory().unwrap();
        assert_eq!(run.years.len(), 3);
        assert!(run.programme.report().is_some_and(|r| r.credible));
        for y in &run.years {
            assert!(y.voters > 0 && y.on_ballot > 0 && y.funded > 0, "{y:?}");
            assert!(y.spent.minor() > 0);
        }
        assert_eq!(run.metrics.years.len(), 3);
    }

    #[test]
    fn programme_ids_differ_by_seed_and_scenario() {
        let s = small();
        let t = Scenario {
            rule: crate::tally::Rule::Mes,
            ..small()
        };
        let a = Simulation::new(&s, 1).unwrap().programme_id().unwrap();
        assert_eq!(a, Simulation::new(&s, 1).unwrap().programme_id().unwrap());
        assert_ne!(a, Simulation::new(&s, 2).unwrap().programme_id().unwrap());
        assert_ne!(a, Simulation::new(&t, 1).unwrap().programme_id().unwrap());
    }
}
