//! Speed of the process: casting ballots, counting them, replaying a cycle's
//! events and loading a snapshot, for a district vote of 10 000 ballots; and
//! counting a district of four budget parts together by equal shares with
//! add1 (10 000 voters, 20 000 ballots).
//!
//! Run with `cargo bench --bench cycle`.

use std::hint::black_box;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, BallotSubmission, Choices};
use medborgarbudget::criteria::{CriteriaSet, Score};
use medborgarbudget::idea::IdeaSubmission;
use medborgarbudget::ids::{AreaId, BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::part::{BudgetPart, PartCounting, PartId};
use medborgarbudget::process::stage::Voting;
use medborgarbudget::process::{
    Allocation, AnyCycle, Command, CouncilDecision, Cycle, CycleSetup, Event, FundingSource,
    OutreachActivity, OutreachChannel, Snapshot, Step, VotingWindow,
};
use medborgarbudget::project::{Feasibility, ProjectProposal};
use medborgarbudget::tally::{Greedy, MesAdd1, Rule, TieBreaking};

const PROJECTS: u128 = 20;
const BALLOTS: u128 = 10_000;

fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::days(day)
}

fn resident(n: u128) -> Resident {
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    Resident::new(
        ResidentId::from_u128(n),
        d(1980, 5, 5),
        AreaId::from_u128(1),
        d(2010, 1, 1),
    )
}

fn sek(kronor: i64) -> Money {
    Money::new(kronor * 100, Currency::SEK)
}

/// The commands that bring a cycle to step 5 with 20 projects on the ballot
/// and no ballots yet.
fn to_voting() -> Result<Vec<Command>, Box<dyn std::error::Error>> {
    let mut c = vec![
        Command::SetBudget(Allocation {
            part: None,
            amount: sek(5_000_000),
            decision: CouncilDecision {
                body: "KF".into(),
                reference: "§1".into(),
                decided_on: t(0).date_naive(),
            },
            source: FundingSource::Council,
        }),
        Command::SetEligibility(Eligibility::residents_aged(12)),
        Command::SetBallotRules(
            BallotRules::builder(BallotKind::Approval)
                .max_projects(5)
                .build()?,
        ),
        Command::SetCriteria {
            criteria: CriteriaSet::builder()
                .social_sustainability("s", "s", 1)
                .public_health("h", "h", 1)
                .build()?,
        },
        Command::BeginOutreach { at: t(1) },
        Command::RecordOutreach(OutreachActivity {
            channel: OutreachChannel::Meeting,
            description: "Meeting".into(),
            languages: vec!["sv".into()],
            people_reached: 100,
            held_on: t(2).date_naive(),
            groups: Vec::new(),
        }),
        Command::OpenIdeaGeneration { at: t(3) },
    ];
    c.extend((0..PROJECTS).map(|n| {
        Command::SubmitIdea(IdeaSubmission {
            id: IdeaId::from_u128(n),
            author: resident(n),
            co_authors: vec![],
            title: format!("Idea {n}").into(),
            description: "An idea".into(),
            submitted_at: t(4),
            estimated_cost: None,
        })
    }));
    c.push(Command::BeginShortlisting { at: t(10) });
    for n in 0..PROJECTS {
        let project = ProjectId::from_u128(n);
        c.extend([
            Command::ReviewIdea {
                idea: IdeaId::from_u128(n),
            },
            Command::ProposeProject(ProjectProposal {
                part: None,
                id: project,
                title: format!("Project {n}").into(),
                description: "A project".into(),
                ideas: vec![IdeaId::from_u128(n)],
                worked_on_by: vec![resident(1_000_000 + n)],
            }),
            Command::EstimateCost {
                project,
                cost: sek(100_000 + 37_000 * i64::try_from(n)?),
            },
            Command::AssessFeasibility {
                project,
                feasibility: Feasibility::Feasible,
            },
        ]);
        for criterion in ["s", "h"] {
            c.push(Command::ScoreProject {
                project,
                criterion: criterion.into(),
                score: Score::new(5)?,
            });
        }
    }
    c.push(Command::OpenVoting {
        window: VotingWindow {
            opens: t(20),
            closes: t(30),
        },
        at: t(20),
    });
    Ok(c)
}

/// Runs `commands` on a new cycle: the cycle and its event log.
fn run(commands: impl IntoIterator<Item = Command>) -> (AnyCycle, Vec<Event>) {
    let area = Area::new(AreaId::from_u128(1), "Bench", 50_000).unwrap_or_else(|e| panic!("{e}"));
    run_in(area, commands)
}

/// [`run`] in `area`.
fn run_in(area: Area, commands: impl IntoIterator<Item = Command>) -> (AnyCycle, Vec<Event>) {
    let setup = CycleSetup {
        id: CycleId::from_u128(1),
        programme: None,
        year: 2026,
        area,
        currency: Currency::SEK,
        started_at: t(0),
        rules_version: medborgarbudget::process::RulesVersion::CURRENT,
    };
    let mut cycle = AnyCycle::from(Cycle::new(setup.clone()));
    let mut events = vec![Event::CycleStarted(setup)];
    for command in commands {
        events.extend(cycle.apply(command).unwrap_or_else(|e| panic!("{e}")));
    }
    (cycle, events)
}

/// A cycle in step 5 with 20 projects on the ballot and no ballots yet.
fn voting() -> Cycle<Voting> {
    let commands = to_voting().unwrap_or_else(|e| panic!("{e}"));
    Cycle::try_from(run(commands).0).unwrap_or_else(|e| panic!("{e}"))
}

fn ballots() -> Vec<BallotSubmission> {
    (0..BALLOTS)
        .map(|n| {
            let k = 1 + (n * 7) % 5;
            let choices = (0..k)
                .map(|j| ProjectId::from_u128((n * 13 + j * 3) % PROJECTS))
                .collect();
            BallotSubmission {
                part: None,
                id: BallotId::from_u128(n),
                voter: resident(10_000 + n),
                cast_at: t(21),
                choices: Choices::Approval(choices),
            }
        })
        .collect()
}

fn voted() -> Cycle<Voting> {
    let mut c = voting();
    for b in ballots() {
        c.cast_ballot(b).unwrap_or_else(|e| panic!("{e}"));
    }
    c
}

/// The neighbourhoods of the parts district: north, south, east.
const HOMES: [u128; 3] = [11, 12, 13];

fn parts_area() -> Area {
    let mut area =
        Area::new(AreaId::from_u128(1), "Bench", 50_000).unwrap_or_else(|e| panic!("{e}"));
    for (k, home) in HOMES.into_iter().enumerate() {
        area = area
            .with_sub_area(AreaId::from_u128(home), format!("Area {k}"), 10_000)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    area
}

fn part(k: u128) -> PartId {
    PartId::new(["city", "north", "south", "east"][k as usize % 4])
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The year of [`to_voting`] with four parts (the city's 2 000 000 and
/// 1 000 000 for each neighbourhood; project `n` in part `n mod 4`),
/// counted together by `mes-add1`.
fn to_voting_in_parts() -> Result<Vec<Command>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for command in to_voting()? {
        match command {
            Command::SetBudget(a) => {
                out.push(Command::SetBudget(a));
                let mut parts = vec![BudgetPart::whole(part(0), "City", sek(2_000_000))];
                for (k, home) in HOMES.into_iter().enumerate() {
                    parts.push(BudgetPart::of_sub_area(
                        part(k as u128 + 1),
                        format!("Area {k}"),
                        AreaId::from_u128(home),
                        sek(1_000_000),
                    ));
                }
                out.push(Command::SetParts { parts });
            }
            Command::SetBallotRules(_) => out.push(Command::SetBallotRules(
                BallotRules::builder(BallotKind::Approval)
                    .max_projects(5)
                    .part_counting(PartCounting::Together)
                    .counting(medborgarbudget::ballot::Counting {
                        rule: Rule::MesAdd1,
                        tie_breaking: TieBreaking::by_project_id(),
                    })
                    .build()?,
            )),
            Command::ProposeProject(mut p) => {
                p.part = Some(part(p.id.as_uuid().as_u128()));
                out.push(Command::ProposeProject(p));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// 10 000 voters, half of them in the north, a third in the south and the
/// rest in the east (turnout differs), each casting a ballot for the city's
/// projects and one for their neighbourhood's.
fn ballots_in_parts() -> Vec<BallotSubmission> {
    let mut out = Vec::new();
    for n in 0..BALLOTS {
        let k = match n % 20 {
            0..10 => 1,
            10..17 => 2,
            _ => 3,
        };
        let voter = Resident::new(
            ResidentId::from_u128(10_000 + n),
            NaiveDate::from_ymd_opt(1980, 5, 5).unwrap_or_default(),
            AreaId::from_u128(HOMES[k as usize - 1]),
            NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
        );
        for (slot, p) in [0, k].into_iter().enumerate() {
            let choose = 1 + (n * 7 + slot as u128) % 3;
            let choices = (0..choose)
                .map(|j| ProjectId::from_u128(p + 4 * ((n * 13 + j * 3) % 5)))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            out.push(BallotSubmission {
                part: Some(part(p)),
                id: BallotId::from_u128(2 * n + slot as u128),
                voter: voter.clone(),
                cast_at: t(21),
                choices: Choices::Approval(choices),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cycle");
    g.throughput(Throughput::Elements(BALLOTS as u64));
    g.bench_function("cast 10k ballots", |b| {
        b.iter_batched(
            || (voting(), ballots()),
            |(mut cycle, ballots)| {
                for ballot in ballots {
                    cycle.cast_ballot(ballot).unwrap_or_else(|e| panic!("{e}"));
                }
                cycle
            },
            BatchSize::LargeInput,
        );
    });
    let voted = voted();
    g.bench_function("close voting (greedy) over 10k ballots", |b| {
        b.iter_batched(
            || voted.clone(),
            |cycle| {
                cycle
                    .close_voting(t(31), &Greedy)
                    .unwrap_or_else(|e| panic!("{e}"))
            },
            BatchSize::LargeInput,
        );
    });
    let commands = to_voting_in_parts().unwrap_or_else(|e| panic!("{e}"));
    let mut in_parts: Cycle<Voting> =
        Cycle::try_from(run_in(parts_area(), commands).0).unwrap_or_else(|e| panic!("{e}"));
    for b in ballots_in_parts() {
        in_parts.cast_ballot(b).unwrap_or_else(|e| panic!("{e}"));
    }
    g.bench_function(
        "close voting (mes-add1, 4 parts together) over 10k voters",
        |b| {
            b.iter_batched(
                || in_parts.clone(),
                |cycle| {
                    cycle
                        .close_voting(t(31), &MesAdd1::default())
                        .unwrap_or_else(|e| panic!("{e}"))
                },
                BatchSize::LargeInput,
            );
        },
    );
    // The whole year's log: to voting, 10 000 ballots, the count.
    let commands = to_voting()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .chain(ballots().into_iter().map(Command::CastBallot))
        .chain([Command::CloseVoting { at: t(31) }]);
    let (closed, history) = run(commands);
    assert_eq!(closed.step(), Step::Implementation);
    g.bench_function("replay 10k-ballot cycle", |b| {
        b.iter_batched(
            || history.clone(),
            |events| AnyCycle::replay(events).unwrap_or_else(|e| panic!("{e}")),
            BatchSize::LargeInput,
        );
    });
    let json = serde_json::to_vec(&Snapshot::new(history).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_default();
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function(
        "load 10k-ballot snapshot (JSON, head checked, replayed)",
        |b| {
            b.iter(|| {
                let snapshot: Snapshot<Event> =
                    serde_json::from_slice(black_box(&json)).unwrap_or_else(|e| panic!("{e}"));
                AnyCycle::from_snapshot(snapshot).unwrap_or_else(|e| panic!("{e}"))
            });
        },
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
