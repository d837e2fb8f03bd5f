//! A demo district for `medborgarbudget serve --demo`: Norrby, a three-year
//! programme whose first year has ideas worked into six proposals and voting
//! open now, and voting codes for a few residents. [`DemoYear`] picks the
//! year's stage, its kind of ballot, and whether its budget is in parts.

use chrono::{Datelike, Duration, Utc};
use serde_json::{Value, json};

use super::{AccessError, Service};
use crate::area::Resident;
use crate::ballot::BallotKind;
use crate::ids::{ProgrammeId, ResidentId};
use crate::process::{ProgrammeCommand, ProgrammeEvent, ProgrammeSetup};
use crate::store::RepositoryError;

/// The most residents a demo makes codes for.
pub const MAX_DEMO_RESIDENTS: usize = 10_000;

/// How far the demo year has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DemoStage {
    /// Step 3: residents send in ideas.
    Ideas,
    /// Step 5: voting is open (what `serve --demo` starts).
    Voting,
    /// Step 6: 60 residents voted, the votes are counted, and the first
    /// funded proposal is under way.
    Results,
}

/// How the demo's first year is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoYear {
    /// How far it has come.
    pub stage: DemoStage,
    /// Its kind of ballot: approval (up to three proposals), knapsack
    /// (proposals within the budget), cumulative (10 points) or ranked (up to
    /// three, best first).
    pub ballot: BallotKind,
    /// Whether the budget is in three parts: one for all of Norrby (two
    /// proposals) and one for each of its neighbourhoods, Norra and Södra
    /// (two proposals each), where the residents live by turns. Residents
    /// vote once in each part.
    pub parts: bool,
}

impl Default for DemoYear {
    /// Voting open, approval ballots, one budget: what `serve --demo` starts.
    fn default() -> DemoYear {
        DemoYear {
            stage: DemoStage::Voting,
            ballot: BallotKind::Approval,
            parts: false,
        }
    }
}

/// What [`setup`] made.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The programme.
    pub programme: ProgrammeId,
    /// Its year with voting open.
    pub year: i32,
    /// The residents' voting codes, in the residents' order.
    pub codes: Vec<(ResidentId, String)>,
}

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Too many residents asked for.
    #[error("{asked} demo residents; at most {MAX_DEMO_RESIDENTS}")]
    TooMany {
        /// How many.
        asked: usize,
    },
    /// A command of the demo was refused or not stored.
    #[error("demo command {line}: {message}")]
    Command {
        /// Which (from 1).
        line: usize,
        /// Why.
        message: String,
    },
    /// The codes could not be made.
    #[error(transparent)]
    Access(#[from] AccessError),
}

const AREA: &str = "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10";
/// The neighbourhoods of a demo with parts.
const NORRA: &str = "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f11";
const SODRA: &str = "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f12";

/// Resident `n`, living in Norrby, or by turns in Norra and Södra when the
/// budget has parts.
fn resident(n: u128, parts: bool) -> Value {
    let home = match (parts, n % 2) {
        (false, _) => AREA,
        (true, 0) => NORRA,
        (true, _) => SODRA,
    };
    json!({
        "id": ResidentId::from_u128(0xde30_0000 + n),
        "born": "1985-05-01",
        "residence": { "area": home, "since": "2015-01-01" }
    })
}

/// The parts of a demo with parts: all of Norrby, Norra, Södra.
const PARTS: [&str; 3] = ["norrby", "norra", "sodra"];
/// The two proposals of each part, by index into [`PROPOSALS`] (each fits
/// in its part's money).
const PART_PROPOSALS: [[usize; 2]; 3] = [[0, 5], [1, 2], [3, 4]];

/// The money of a part, in kronor.
fn part_money(part: &str) -> i64 {
    match part {
        "norra" => 300_000,
        "sodra" => 350_000,
        _ => 600_000,
    }
}

/// The part of proposal `i`.
fn part_of(i: usize) -> &'static str {
    let part = PART_PROPOSALS
        .iter()
        .position(|p| p.contains(&i))
        .unwrap_or(0);
    PARTS[part]
}

/// The demo's proposals: Swedish title, English title, Swedish and English
/// description, cost in kronor.
const PROPOSALS: [(&str, &str, &str, &str, i64); 6] = [
    (
        "Utegym vid skolan",
        "Outdoor gym by the school",
        "Enkla redskap för träning utomhus, öppna för alla dygnet runt.",
        "Simple equipment for training outdoors, open to everyone day and night.",
        450_000,
    ),
    (
        "Mötesplats i parken",
        "Meeting place in the park",
        "Bänkar, tak och belysning så att grannar kan ses även på kvällen.",
        "Benches, a roof and lights so that neighbours can meet in the evening too.",
        300_000,
    ),
    (
        "Läxhjälp på biblioteket",
        "Homework help at the library",
        "Volontärer och studenter hjälper barn med läxor två kvällar i veckan.",
        "Volunteers and students help children with homework two evenings a week.",
        200_000,
    ),
    (
        "Belysning på gångvägen",
        "Lights on the footpath",
        "Ny belysning på gångvägen till busshållplatsen, så att fler känner sig trygga.",
        "New lights on the footpath to the bus stop, so that more people feel safe.",
        350_000,
    ),
    (
        "Odlingslotter",
        "Allotment gardens",
        "Pallkragar och vatten för grannar som vill odla tillsammans.",
        "Raised beds and water for neighbours who want to grow things together.",
        150_000,
    ),
    (
        "Fotbollsplan med konstgräs",
        "Football pitch with artificial grass",
        "En liten plan för spontanfotboll för unga i området.",
        "A small pitch for informal football for young people in the district.",
        600_000,
    ),
];

/// A ballot of `kind` for the demo proposals `picked` (indices, best
/// first): approval and knapsack approve them (knapsack: those that fit in
/// `cap` kronor together, the money of the ballot's budget or part),
/// cumulative gives them 5, 3 and 2 points, ranked ranks them.
fn demo_choices(kind: BallotKind, picked: &[usize], cap: i64) -> Value {
    let id = |k: usize| crate::ids::ProjectId::from_u128(0x9e0 + k as u128);
    match kind {
        BallotKind::Cumulative => json!({ "points": picked
            .iter()
            .zip([5, 3, 2])
            .map(|(&k, points)| json!([id(k), points]))
            .collect::<Vec<_>>() }),
        BallotKind::Ranked => {
            json!({ "ranking": picked.iter().map(|&k| id(k)).collect::<Vec<_>>() })
        }
        BallotKind::Knapsack => {
            let mut left = cap;
            let fits: Vec<_> = picked
                .iter()
                .filter(|&&k| {
                    let cost = PROPOSALS[k].4;
                    let fits = cost <= left;
                    if fits {
                        left -= cost;
                    }
                    fits
                })
                .map(|&k| id(k))
                .collect();
            json!({ "approval": fits })
        }
        _ => json!({ "approval": picked.iter().map(|&k| id(k)).collect::<Vec<_>>() }),
    }
}

/// Establishes the demo programme in `service`'s store, opens voting in its
/// first year (the current calendar year), and makes codes for `residents`
/// residents.
///
/// # Errors
/// Too many residents, or a command refused or not stored.
pub fn setup(service: &Service, residents: usize) -> Result<Demo, DemoError> {
    setup_at(service, residents, DemoStage::Voting)
}

/// [`setup`], with the year brought to `stage`.
///
/// # Errors
/// As [`setup`].
pub fn setup_at(service: &Service, residents: usize, stage: DemoStage) -> Result<Demo, DemoError> {
    setup_year(
        service,
        residents,
        DemoYear {
            stage,
            ..DemoYear::default()
        },
    )
}

/// [`setup`], with the year set up as `plan` says.
///
/// # Errors
/// As [`setup`].
pub fn setup_year(service: &Service, residents: usize, plan: DemoYear) -> Result<Demo, DemoError> {
    let DemoYear {
        stage,
        ballot,
        parts,
    } = plan;
    if residents > MAX_DEMO_RESIDENTS {
        return Err(DemoError::TooMany { asked: residents });
    }
    let now = Utc::now();
    let year = now.year();
    let at = |days: i64| json!(now - Duration::days(days));
    let programme = ProgrammeId::new();
    let cycle = crate::ids::CycleId::new();
    let mut area = json!({ "id": AREA, "name": "Norrby", "population": 10000 });
    if parts {
        area["sub_areas"] = json!([
            { "id": NORRA, "name": "Norra", "population": 5000 },
            { "id": SODRA, "name": "Södra", "population": 5000 },
        ]);
    }
    let setup: Value = json!({
        "id": programme,
        "area": area,
        "currency": "SEK",
        "first_year": year,
        "years": 3,
        "established_at": at(120),
    });
    let wrap = |command: Value| json!({ "cycle": { "year": year, "command": command } });
    let mut commands = vec![
        json!({ "start_cycle": { "id": cycle, "year": year, "at": at(100) } }),
        wrap(json!({ "set_budget": {
            "amount": { "currency": "SEK", "minor": if parts { 125_000_000 } else { 100_000_000 } },
            "decision": { "body": "Kommunfullmäktige", "reference": "KF § 1/demo", "decided_on": (now - Duration::days(130)).date_naive() },
            "source": { "kind": "council" } } })),
        wrap(
            json!({ "set_eligibility": { "minimum_age": 12, "residency": { "kind": "in_area", "minimum_days": 0 } } }),
        ),
        wrap(json!({ "set_ballot_rules": match ballot {
            BallotKind::Approval | BallotKind::Ranked => json!({ "kind": ballot, "min_projects": 1, "max_projects": 3,
                "counting": { "rule": "mes-add1", "tie_breaking": ["project_id"] } }),
            _ => json!({ "kind": ballot, "counting": { "rule": "mes-add1", "tie_breaking": ["project_id"] } }),
        } })),
        wrap(json!({ "set_criteria": { "criteria": [
            { "name": "meeting-places", "category": "social_sustainability", "description": "För grannar samman", "weight": 3 },
            { "name": "movement", "category": "public_health", "description": "Får fler att röra sig ute", "weight": 2 } ] } })),
    ];
    if parts {
        let money = |kronor: i64| json!({ "currency": "SEK", "minor": kronor * 100 });
        commands.push(wrap(json!({ "set_parts": { "parts": [
            { "id": PARTS[0], "name": "Hela Norrby", "amount": money(part_money(PARTS[0])) },
            { "id": PARTS[1], "name": "Norra", "area": NORRA, "amount": money(part_money(PARTS[1])) },
            { "id": PARTS[2], "name": "Södra", "area": SODRA, "amount": money(part_money(PARTS[2])) },
        ] } })));
    }
    commands.extend([
        wrap(json!({ "begin_outreach": { "at": at(90) } })),
        wrap(
            json!({ "record_outreach": { "channel": "door_to_door", "description": "Dörrknackning på tre språk",
            "held_on": (now - Duration::days(85)).date_naive(), "languages": ["sv", "ar", "so"], "people_reached": 800 } }),
        ),
        wrap(json!({ "open_idea_generation": { "at": at(80) } })),
    ]);
    let ideas_only = stage == DemoStage::Ideas;
    for (i, (sv, en, about_sv, about_en, _)) in PROPOSALS.iter().enumerate() {
        if ideas_only {
            break;
        }
        commands.push(wrap(json!({ "submit_idea": {
            "id": crate::ids::IdeaId::from_u128(0x1de0 + i as u128),
            "author": resident(900 + i as u128, parts),
            "title": { "sv": sv, "en": en },
            "description": { "sv": about_sv, "en": about_en },
            "submitted_at": at(75) } })));
    }
    if !ideas_only {
        commands.push(wrap(json!({ "begin_shortlisting": { "at": at(60) } })));
    }
    for (i, (sv, en, about_sv, about_en, cost)) in PROPOSALS.iter().enumerate() {
        if ideas_only {
            break;
        }
        let project = crate::ids::ProjectId::from_u128(0x9e0 + i as u128);
        let idea = crate::ids::IdeaId::from_u128(0x1de0 + i as u128);
        commands.push(wrap(json!({ "review_idea": { "idea": idea } })));
        let mut proposal = json!({
            "id": project, "title": { "sv": sv, "en": en }, "description": { "sv": about_sv, "en": about_en },
            "ideas": [idea], "worked_on_by": [resident(900 + i as u128, parts)] });
        if parts {
            proposal["part"] = json!(part_of(i));
        }
        commands.push(wrap(json!({ "propose_project": proposal })));
        commands.push(wrap(json!({ "estimate_cost": { "project": project,
            "cost": { "currency": "SEK", "minor": cost * 100 } } })));
        commands.push(wrap(json!({ "assess_feasibility": { "project": project, "feasibility": { "kind": "feasible" } } })));
        for criterion in ["meeting-places", "movement"] {
            commands.push(wrap(json!({ "score_project": { "project": project, "criterion": criterion, "score": 4 } })));
        }
    }
    match stage {
        DemoStage::Ideas => {}
        DemoStage::Voting => commands.push(wrap(json!({ "open_voting": {
            "window": { "opens": at(1), "closes": now + Duration::days(30) }, "at": at(1) } }))),
        DemoStage::Results => {
            commands.push(wrap(json!({ "open_voting": {
                "window": { "opens": at(20), "closes": at(2) }, "at": at(20) } })));
            // 60 voters, each choosing two or three proposals (in each of
            // their parts, one ballot per part) in a pattern that gives every
            // proposal some support.
            for v in 0..60u128 {
                let voter = resident(5_000 + v, parts);
                let ballots: Vec<(Option<&str>, Vec<usize>)> = if parts {
                    let home = 1 + (v % 2) as usize;
                    let [a, b] = PART_PROPOSALS[0];
                    let whole = if v % 3 == 0 { vec![b, a] } else { vec![a] };
                    vec![
                        (Some(PARTS[0]), whole),
                        (Some(PARTS[home]), {
                            let [a, b] = PART_PROPOSALS[home];
                            if v % 4 == 0 { vec![b, a] } else { vec![a, b] }
                        }),
                    ]
                } else {
                    let picked = [v % 6, (v * 7 + 1) % 6, (v * 5 + 3) % 6]
                        .iter()
                        .take(2 + usize::from(v % 3 == 0))
                        .map(|&k| k as usize)
                        .fold(Vec::new(), |mut all, k| {
                            if !all.contains(&k) {
                                all.push(k);
                            }
                            all
                        });
                    vec![(None, picked)]
                };
                for (n, (part, picked)) in ballots.into_iter().enumerate() {
                    let mut cast = json!({
                        "id": crate::ids::BallotId::from_u128(0xba11_0000 + v * 4 + n as u128),
                        "voter": voter,
                        "cast_at": at(10),
                        "choices": demo_choices(ballot, &picked, part.map_or(1_000_000, part_money)) });
                    if let Some(part) = part {
                        cast["part"] = json!(part);
                    }
                    commands.push(wrap(json!({ "cast_ballot": cast })));
                }
            }
            commands.push(wrap(json!({ "close_voting": { "at": at(1) } })));
        }
    }

    let bad = |line: usize, message: String| DemoError::Command { line, message };
    let setup: ProgrammeSetup = serde_json::from_value(setup).map_err(|e| bad(0, e.to_string()))?;
    let parsed = commands
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::from_value::<ProgrammeCommand>(c).map_err(|e| bad(i + 1, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    {
        let mut repo = service.repo();
        repo.create(programme, ProgrammeEvent::Established(setup))
            .map_err(|e| bad(0, crate::error_chain(&e)))?;
        for (i, command) in parsed.into_iter().enumerate() {
            repo.execute(programme, command).map_err(|e| match e {
                RepositoryError::Rejected(e) => bad(i + 1, e.to_string()),
                e => bad(i + 1, crate::error_chain(&e)),
            })?;
        }
        if stage == DemoStage::Results {
            // The first funded proposal is under way: a milestone, 40 %.
            let first = repo
                .load(programme)
                .ok()
                .and_then(|p| p.cycle(year)?.funded()?.first().copied());
            if let Some(project) = first {
                for command in [
                    json!({ "record_milestone": { "project": project, "milestone": {
                        "title": "Workshop med grannar", "reached_on": now.date_naive() } } }),
                    json!({ "record_progress": { "project": project, "progress": 40 } }),
                ] {
                    let command = serde_json::from_value::<ProgrammeCommand>(wrap(command))
                        .map_err(|e| bad(0, e.to_string()))?;
                    repo.execute(programme, command)
                        .map_err(|e| bad(0, crate::error_chain(&e)))?;
                }
            }
        }
    }
    let people: Vec<Resident> = (0..residents as u128)
        .map(|n| serde_json::from_value(resident(n, parts)))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(0, e.to_string()))?;
    let ids: Vec<ResidentId> = people.iter().map(Resident::id).collect();
    let codes = service.access().issue_codes(programme, year, people)?;
    Ok(Demo {
        programme,
        year,
        codes: ids.into_iter().zip(codes).collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::process::Step;
    use crate::store::memory::MemoryStore;
    use crate::store::{Repository, VoterKey};

    /// Every stage, kind of ballot and budget shape sets up; a counted year
    /// funds something, and in every part when there are parts.
    #[test]
    fn every_demo_year_sets_up_and_counts() {
        for stage in [DemoStage::Ideas, DemoStage::Voting, DemoStage::Results] {
            for ballot in [
                BallotKind::Approval,
                BallotKind::Knapsack,
                BallotKind::Cumulative,
                BallotKind::Ranked,
            ] {
                for parts in [false, true] {
                    let store = Arc::new(MemoryStore::new());
                    let key = VoterKey::random();
                    let service =
                        Service::new(store.clone(), key.clone(), crate::server::Config::default())
                            .unwrap();
                    let plan = DemoYear {
                        stage,
                        ballot,
                        parts,
                    };
                    let demo =
                        setup_year(&service, 4, plan).unwrap_or_else(|e| panic!("{plan:?}: {e}"));
                    assert_eq!(demo.codes.len(), 4);
                    let mut repo = Repository::<crate::process::Programme>::new(store, key);
                    let programme = repo.load(demo.programme).unwrap();
                    let cycle = programme.cycle(demo.year).unwrap();
                    let step = match stage {
                        DemoStage::Ideas => Step::IdeaGeneration,
                        DemoStage::Voting => Step::Voting,
                        DemoStage::Results => Step::Implementation,
                    };
                    assert_eq!(cycle.step(), step, "{plan:?}");
                    if stage == DemoStage::Results {
                        let funded = cycle.funded().unwrap();
                        assert!(!funded.is_empty(), "{plan:?}");
                        if parts {
                            // A proposal of each part is funded.
                            for proposals in PART_PROPOSALS {
                                assert!(
                                    funded.iter().any(|p| {
                                        proposals.iter().any(|&k| {
                                            *p == crate::ids::ProjectId::from_u128(
                                                0x9e0 + k as u128,
                                            )
                                        })
                                    }),
                                    "{plan:?}: {funded:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
