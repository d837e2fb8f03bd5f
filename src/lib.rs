//! # medborgarbudget
//!
//! Participatory budgeting (Swedish: *medborgarbudget*) as a typed state machine.
//! A municipality sets aside money for a district; its residents propose, shape and
//! vote on how it is spent, once a year, for at least three years.
//!
//! ## A tour
//!
//! One year's [`Cycle`](process::Cycle) runs through the model's seven steps. Each
//! step is a type, so only what is legal in a step can be called:
//!
//! ```
//! use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
//! use medborgarbudget::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap();
//! let day = |n: i64| t0 + Duration::days(n);
//! let area = Area::new(AreaId::new(), "Hjällbo", 7_600)?;
//!
//! // 1. Kriterier: the council fixes budget, eligibility, ballot rules, criteria.
//! let mut cycle = Cycle::new(CycleSetup {
//!     id: CycleId::new(),
//!     programme: None,
//!     year: 2026,
//!     area: area.clone(),
//!     currency: Currency::SEK,
//!     started_at: t0,
//!     rules_version: RulesVersion::CURRENT,
//! });
//! cycle.set_budget(Allocation {
//!     amount: Money::from_major(1_000_000, Currency::SEK)?,
//!     decision: CouncilDecision {
//!         body: "Kommunfullmäktige".into(),
//!         reference: "KF § 12/2026".into(),
//!         decided_on: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
//!     },
//!     source: FundingSource::Council,
//!     part: None, // one budget (see `part` for several)
//! })?;
//! cycle.set_eligibility(Eligibility::residents_aged(12));
//! cycle.set_ballot_rules(BallotRules::builder(BallotKind::Approval).max_projects(3).build()?);
//! cycle.set_criteria(
//!     CriteriaSet::builder()
//!         .social_sustainability("meeting-places", "Brings neighbours together", 2)
//!         .public_health("movement", "Invites people to move", 1)
//!         .build()?,
//! );
//!
//! // 2. Marknadsföring.
//! let mut cycle = cycle.begin_outreach(day(1))?;
//! cycle.record_outreach(OutreachActivity {
//!     channel: OutreachChannel::DoorToDoor,
//!     description: "Knocking on doors with youth ambassadors".into(),
//!     languages: vec!["sv".into(), "ar".into(), "so".into()],
//!     people_reached: 900,
//!     held_on: day(3).date_naive(),
//!     groups: Vec::new(),
//! })?;
//!
//! // 3. Idégenerering: eligible residents submit ideas.
//! let mut cycle = cycle.open_idea_generation(day(10))?;
//! let resident = |n: u128| {
//!     Resident::new(ResidentId::from_u128(n), NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
//!                   area.id(), NaiveDate::from_ymd_opt(2015, 1, 1).unwrap())
//! };
//! let ideas = [IdeaId::new(), IdeaId::new()];
//! for (k, title) in ["Outdoor gym", "Lit footpath"].into_iter().enumerate() {
//!     cycle.submit_idea(IdeaSubmission {
//!         id: ideas[k],
//!         author: resident(k as u128 + 1),
//!         co_authors: vec![],
//!         title: title.into(),
//!         description: format!("{title} by the school").into(),
//!         submitted_at: day(12),
//!         estimated_cost: None,
//!     })?;
//! }
//!
//! // 4. Bearbetning och urval: worked on with residents into a shortlist.
//! let mut cycle = cycle.begin_shortlisting(day(40))?;
//! let projects = [ProjectId::new(), ProjectId::new()];
//! for (k, (&idea, &project)) in ideas.iter().zip(&projects).enumerate() {
//!     cycle.review_idea(idea)?;
//!     cycle.propose_project(ProjectProposal {
//!         id: project,
//!         title: format!("Project {k}").into(),
//!         description: "Worked out in a workshop".into(),
//!         ideas: vec![idea],
//!         worked_on_by: vec![resident(10 + k as u128)],
//!         part: None,
//!     })?;
//!     cycle.estimate_cost(project, Money::from_major(400_000 + 100_000 * k as i64, Currency::SEK)?)?;
//!     cycle.assess_feasibility(project, Feasibility::Feasible)?;
//!     cycle.score_project(project, "meeting-places".into(), Score::new(8)?)?;
//!     cycle.score_project(project, "movement".into(), Score::new(6)?)?;
//! }
//!
//! // 5. Röstning: one ballot per eligible resident, within the window.
//! let window = VotingWindow { opens: day(60), closes: day(74) };
//! let mut cycle = cycle.open_voting(window, day(60))?;
//! for voter in 1..=30u128 {
//!     cycle.cast_ballot(BallotSubmission {
//!         id: BallotId::new(),
//!         voter: resident(100 + voter),
//!         cast_at: day(61),
//!         choices: Choices::Approval(vec![projects[(voter % 3 == 0) as usize]]),
//!         part: None,
//!     })?;
//! }
//! // Counted by the rule fixed in step 1 (greedy by votes).
//! let mut cycle = cycle.close_voting(day(75), &Greedy)?;
//! assert_eq!(cycle.decision().funded, vec![projects[0], projects[1]]);
//!
//! // 6. Genomförande, co-created with residents.
//! for &p in &projects {
//!     cycle.add_co_creator(p, resident(200))?;
//!     cycle.complete_project(p, Money::from_major(420_000, Currency::SEK)?, day(300))?;
//! }
//! // 7. Uppföljning: the follow-up figures are computed from the cycle and
//! // published; the evaluation pins their digest, and the cycle closes.
//! let cycle = cycle.begin_follow_up(day(310))?;
//! let metrics = cycle.metrics()?;
//! assert_eq!((metrics.voters, metrics.delivered), (30, 2));
//! let cycle = cycle.close(Evaluation {
//!     lessons: vec!["Hold workshops in the evening".into()],
//!     summary: "30 ballots, two projects delivered".into(),
//!     recorded_at: day(320),
//!     figures: Some(metrics.digest()?),
//! })?;
//! assert_eq!(cycle.spent()?, Money::from_major(840_000, Currency::SEK)?);
//!
//! // The same cycle at run time, whatever its step: `AnyCycle`. Its state
//! // serialises for display; what is stored is its events (below).
//! let any = AnyCycle::from(cycle);
//! assert_eq!(serde_json::to_value(&any)?["step"], "closed");
//! # Ok(())
//! # }
//! ```
//!
//! Calling a step's operation in another step does not compile:
//!
//! ```compile_fail
//! # use medborgarbudget::prelude::*;
//! # fn f(mut cycle: Cycle<IdeaGeneration>, ballot: BallotSubmission) {
//! cycle.cast_ballot(ballot); // ballots are cast in step 5, not step 3
//! # }
//! ```
//!
//! ## Where to go next
//!
//! * [`process`]: the steps, their gates, [`AnyCycle`](process::AnyCycle),
//!   commands and events, and the multi-year [`Programme`](process::Programme).
//! * [`ballot`]: ballot rules and their validation.
//! * [`tally`]: the [`Tally`](tally::Tally) trait, the ballot profile, tie-breaking.
//! * [`pabulib`]: reading and writing pabulib `.pb` files, the format of 1,200+ real
//!   elections, into [`Election`](tally::Election)s the tallies count.
//! * [`followup`]: step 7's measures — turnout by group, who got what they
//!   voted for, proportionality, money and delivery — for a cycle and a
//!   programme.
//! * [`money`], [`area`], [`criteria`], [`idea`], [`project`], [`ids`]: the domain
//!   values, each checked when built and when deserialised.
//! * [`store`]: event logs with a hash chain, pseudonymous ballots, the
//!   [`Repository`](store::Repository) that decides, appends and evolves.
//!
//! ## Features
//!
//! | feature | default | what it adds | dependencies it brings |
//! |---|---|---|---|
//! | `sqlite` | yes | `store::sqlite`, the embedded event store | rusqlite (bundled SQLite) |
//! | `postgres` | no | `store::postgres` | postgres, r2d2 |
//! | `sim` | no | `sim`: simulated programmes and sweeps | rand, rand_chacha, rayon, toml |
//! | `report` | no | `report`: the self-contained HTML report | — |
//! | `conformance` | no | `store::conformance`, the suite a store backend must pass (test code) | — |
//! | `cli` | no | the `medborgarbudget` binary; implies `sim`, `report`, `sqlite` | clap, indicatif |
//! | `schema` | no | `schema`: JSON Schema of every command, event, read model and error | schemars |
//! | `server` | no | `server`, and `medborgarbudget serve`: the officials' API, voting codes, the residents' web page; implies `cli`, `schema` | axum, tokio |
//!
//! ## A programme in a store
//!
//! A municipal system keeps each programme as an event log and drives it through
//! a [`Repository`](store::Repository), which pseudonymises voters with the
//! municipality's [`VoterKey`](store::VoterKey), decides each command against the
//! rules, appends its events and only then applies them:
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use medborgarbudget::prelude::*;
//! use medborgarbudget::process::ProgrammeEvent;
//! use medborgarbudget::store::{memory::MemoryStore, Repository, Store, VoterKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The voter key lives beside the store (or in the system's secret store);
//! // created once, read on every later start.
//! let dir = std::env::temp_dir().join(format!("mb-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let key = VoterKey::load_or_create(&dir.join("voter.key"))?;
//!
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let mut programmes = Repository::<Programme>::new(store, key);
//! let id = ProgrammeId::new();
//! let established = Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap();
//! programmes.create(id, ProgrammeEvent::Established(ProgrammeSetup {
//!     id,
//!     area: Area::new(AreaId::new(), "Hjällbo", 7_600)?,
//!     currency: Currency::SEK,
//!     first_year: 2027,
//!     years: 3,
//!     carry_over: None,
//!     established_at: established,
//! }))?;
//! programmes.execute(id, ProgrammeCommand::StartCycle {
//!     id: CycleId::new(),
//!     year: 2027,
//!     at: established + chrono::Duration::days(30),
//! })?;
//! assert_eq!(programmes.load(id)?.cycles().len(), 1);
//!
//! // The log travels as a snapshot; loading it replays every event through
//! // the rules.
//! let snapshot = programmes.snapshot(id)?;
//! assert_eq!(snapshot.version(), 2);
//! let copy = Programme::from_snapshot(serde_json::from_str(&serde_json::to_string(&snapshot)?)?)?;
//! assert_eq!(&copy, programmes.load(id)?);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// `schemars::JsonSchema` for a type whose JSON form is written by hand (a
/// custom serde implementation): its name and its schema.
#[cfg(feature = "schema")]
macro_rules! schema_by_hand {
    ($ty:ty, $name:expr, $($json:tt)+) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($($json)+)
            }
        }
    };
}

/// `schemars::JsonSchema` for an error that is a struct, serialised as the
/// enums are (`crate::wire::serialize_error`): `{"code": code, "details":
/// {field: …}}`, the field's schema given.
#[cfg(feature = "schema")]
macro_rules! struct_error_schema {
    ($ty:ident, $code:literal, $field:literal, $($field_schema:tt)+) => {
        schema_by_hand!($ty, stringify!($ty), {
            "type": "object",
            "properties": {
                "code": {"const": $code},
                "details": {
                    "type": "object",
                    "properties": {$field: $($field_schema)+},
                    "required": [$field]
                }
            },
            "required": ["code", "details"]
        });
    };
}

pub mod area;
pub mod ballot;
pub mod criteria;
pub mod followup;
mod hash;
pub mod idea;
pub mod ids;
pub mod money;
pub mod pabulib;
pub mod part;
pub mod process;
pub mod project;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "schema")]
pub mod schema;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
pub mod store;
pub mod tally;
pub mod text;
pub mod wire;

/// An error's message followed by each of its causes, `a: b: c`. The crate's
/// errors keep their causes as sources (a replayed event's error holds the rule
/// it breaks; a store's holds the database's own error) rather than repeating
/// them in their message; this is their whole story, for a log line or a
/// command-line tool.
///
/// ```
/// use medborgarbudget::process::{Programme, ProgrammeEvent};
///
/// let err = Programme::replay(Vec::<ProgrammeEvent>::new()).unwrap_err();
/// assert_eq!(
///     medborgarbudget::error_chain(&err),
///     "programme event 0 (end of stream) does not replay: a programme's stream has exactly one established event, its first"
/// );
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        // Many errors here already say their cause in their own message: a
        // cause the text ends with is not said twice.
        let said = c.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    /// An error whose message already ends with its cause's.
    #[derive(Debug, thiserror::Error)]
    #[error("cycle of 2027: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("no admissible idea")]
    struct Inner;

    /// An error that keeps its cause out of its message.
    #[derive(Debug, thiserror::Error)]
    #[error("event 3 does not replay")]
    struct Quiet(#[source] Inner);

    #[test]
    fn a_cause_is_said_once() {
        assert_eq!(
            super::error_chain(&Outer(Inner)),
            "cycle of 2027: no admissible idea"
        );
        assert_eq!(
            super::error_chain(&Quiet(Inner)),
            "event 3 does not replay: no admissible idea"
        );
    }
}

/// The types most programs need, in one import.
pub mod prelude {
    pub use crate::area::{Area, Eligibility, Resident};
    pub use crate::ballot::{
        Ballot, BallotKind, BallotRules, BallotSubmission, Choices, PaperBatch, SecondBallot,
    };
    pub use crate::criteria::{Category, CriteriaSet, Score};
    pub use crate::idea::{Idea, IdeaStatus, IdeaSubmission};
    pub use crate::ids::{AreaId, BallotId, CycleId, IdeaId, ProgrammeId, ProjectId, ResidentId};
    pub use crate::money::{Currency, Money};
    pub use crate::process::stage::{
        Closed, FollowUp, IdeaGeneration, Implementation, Outreach, Shortlisting, Voting,
    };
    pub use crate::process::{
        Allocation, AnyCycle, Command, Commitment, CouncilDecision, Cycle, CycleError, CycleSetup,
        Evaluation, Event, FundingSource, OutreachActivity, OutreachChannel, Programme,
        ProgrammeCommand, ProgrammeSetup, RulesVersion, Snapshot, Step, VotingWindow,
    };
    pub use crate::project::{Feasibility, Milestone, Progress, ProjectProposal};
    pub use crate::tally::{Greedy, Tally};
}
