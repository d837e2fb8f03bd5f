//! Speed of the process: casting ballots, counting them, replaying a cycle's
//! events and loading a snapshot, for a district vote of 10 000 ballots.
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
use medborgarbudget::process::stage::Voting;
use medborgarbudget::process::{
    Allocation, AnyCycle, CouncilDecision, Cycle, CycleSetup, FundingSource, OutreachActivity,
    OutreachChannel, VotingWindow,
};
use medborgarbudget::project::{Feasibility, ProjectProposal};
use medborgarbudget::tally::Greedy;

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

/// A cycle in step 5 with 20 projects on the ballot and no ballots yet.
fn voting() -> Cycle<Voting> {
    let area = Area::new(AreaId::from_u128(1), "Bench", 50_000).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Cycle::new(CycleSetup {
        id: CycleId::from_u128(1),
        programme: None,
        year: 2026,
        area,
        currency: Currency::SEK,
        started_at: t(0),
        rules_version: medborgarbudget::process::RulesVersion::CURRENT,
    });
    let run = || -> Result<Cycle<Voting>, Box<dyn std::error::Error>> {
        c.set_budget(Allocation {
            amount: sek(5_000_000),
            decision: CouncilDecision {
                body: "KF".into(),
                reference: "§1".into(),
                decided_on: t(0).date_naive(),
            },
            source: FundingSource::Council,
        })?;
        c.set_eligibility(Eligibility::residents_aged(12));
        c.set_ballot_rules(
            BallotRules::builder(BallotKind::Approval)
                .max_projects(5)
                .build()?,
        );
        c.set_criteria(
            CriteriaSet::builder()
                .social_sustainability("s", "s", 1)
                .public_health("h", "h", 1)
                .build()?,
        );
        let mut c = c.begin_outreach(t(1))?;
        c.record_outreach(OutreachActivity {
            channel: OutreachChannel::Meeting,
            description: "Meeting".into(),
            languages: vec!["sv".into()],
            people_reached: 100,
            held_on: t(2).date_naive(),
        })?;
        let mut c = c.open_idea_generation(t(3))?;
        for n in 0..PROJECTS {
            c.submit_idea(IdeaSubmission {
                id: IdeaId::from_u128(n),
                author: resident(n),
                co_authors: vec![],
                title: format!("Idea {n}"),
                description: "An idea".into(),
                submitted_at: t(4),
                estimated_cost: None,
            })?;
        }
        let mut c = c.begin_shortlisting(t(10))?;
        for n in 0..PROJECTS {
            c.review_idea(IdeaId::from_u128(n))?;
            let id = ProjectId::from_u128(n);
            c.propose_project(ProjectProposal {
                id,
                title: format!("Project {n}"),
                description: "A project".into(),
                ideas: vec![IdeaId::from_u128(n)],
                worked_on_by: vec![resident(1_000_000 + n)],
            })?;
            c.estimate_cost(id, sek(100_000 + 37_000 * i64::try_from(n)?))?;
            c.assess_feasibility(id, Feasibility::Feasible)?;
            c.score_project(id, "s".into(), Score::new(5)?)?;
            c.score_project(id, "h".into(), Score::new(5)?)?;
        }
        Ok(c.open_voting(
            VotingWindow {
                opens: t(20),
                closes: t(30),
            },
            t(20),
        )?)
    };
    run().unwrap_or_else(|e| panic!("{e}"))
}

fn ballots() -> Vec<BallotSubmission> {
    (0..BALLOTS)
        .map(|n| {
            let k = 1 + (n * 7) % 5;
            let choices = (0..k)
                .map(|j| ProjectId::from_u128((n * 13 + j * 3) % PROJECTS))
                .collect();
            BallotSubmission {
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
    let closed = AnyCycle::from(
        voted
            .clone()
            .close_voting(t(31), &Greedy)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let history = closed.history();
    g.bench_function("replay 10k-ballot cycle", |b| {
        b.iter_batched(
            || history.clone(),
            |events| AnyCycle::replay(events).unwrap_or_else(|e| panic!("{e}")),
            BatchSize::LargeInput,
        );
    });
    let json = serde_json::to_vec(&closed).unwrap_or_default();
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("load checked 10k-ballot snapshot (JSON)", |b| {
        b.iter(|| {
            let c: AnyCycle =
                serde_json::from_slice(black_box(&json)).unwrap_or_else(|e| panic!("{e}"));
            c
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
