//! One conformance suite that every backend runs, as object_store's `integration`
//! module does for its stores. Run it against a [`Store`] of your own too.
//!
//! Each function panics with a message saying what failed; call them from tests.
//! Streams get fresh ids, so the suite can share one store (or one database
//! schema) across tests.

// A test suite reports failure by panicking, like `assert!`; nothing here runs
// outside a test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::{Hash, NewEvent, Repository, Store, StoreError, StoreExt, StreamId, Version, VoterKey};
use crate::area::{Area, Eligibility, Resident};
use crate::ballot::{BallotKind, BallotRules, BallotSubmission, Choices};
use crate::criteria::{Criteria, Score};
use crate::idea::IdeaSubmission;
use crate::ids::{AreaId, BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use crate::money::{Currency, Money};
use crate::process::{
    Allocation, AnyCycle, Command, CouncilDecision, Cycle, CycleSetup, Evaluation, Event,
    FundingSource, OutreachActivity, OutreachChannel, VotingWindow,
};
use crate::project::{Feasibility, ProjectProposal};

/// Projects on the fixture's shortlist.
pub const PROJECTS: u128 = 5;

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        + chrono::Duration::days(n)
}

fn resident(n: u128) -> Resident {
    let d = NaiveDate::from_ymd_opt(1980, 1, 1).unwrap_or_default();
    Resident::new(ResidentId::from_u128(n), d, AreaId::from_u128(1), d).in_group("age", "18-64")
}

/// A key for tests.
pub fn test_key() -> VoterKey {
    VoterKey::new(b"conformance suite key, not secret".to_vec())
        .unwrap_or_else(|_| VoterKey::random())
}

/// The events that bring a fresh cycle `id` to step 5 with five projects on the
/// shortlist and a voting window of a year.
pub fn voting_cycle(id: CycleId) -> Vec<Event> {
    let build = || -> Result<AnyCycle, Box<dyn std::error::Error>> {
        let area = Area::new(AreaId::from_u128(1), "Conformance", 5_000_000)?;
        let mut c = Cycle::new(CycleSetup {
            id,
            programme: None,
            year: 2026,
            area,
            currency: Currency::SEK,
            started_at: day(0),
        });
        c.set_budget(Allocation {
            amount: Money::from_major(1_000_000, Currency::SEK)?,
            decision: CouncilDecision {
                body: "KF".into(),
                reference: "§ 1".into(),
                decided_on: day(0).date_naive(),
            },
            source: FundingSource::Council,
        })?;
        c.set_eligibility(Eligibility::residents_aged(12));
        c.set_ballot_rules(
            BallotRules::builder(BallotKind::Approval)
                .max_projects(3)
                .build()?,
        );
        c.set_criteria(
            Criteria::builder()
                .social_sustainability("s", "s", 1)
                .public_health("h", "h", 1)
                .build()?,
        );
        let mut c = c.begin_outreach(day(1))?;
        c.record_outreach(OutreachActivity {
            channel: OutreachChannel::Meeting,
            description: "Meeting".into(),
            languages: vec!["sv".into()],
            people_reached: 10,
            held_on: day(1).date_naive(),
        })?;
        let mut c = c.open_idea_generation(day(2))?;
        for n in 0..PROJECTS {
            c.submit_idea(IdeaSubmission {
                id: IdeaId::from_u128(n),
                author: resident(1_000_000_000 + n),
                co_authors: vec![],
                title: format!("Idea {n}"),
                description: "An idea".into(),
                submitted_at: day(2),
                estimated_cost: None,
            })?;
        }
        let mut c = c.begin_shortlisting(day(3))?;
        for n in 0..PROJECTS {
            c.review_idea(IdeaId::from_u128(n))?;
            let p = ProjectId::from_u128(n);
            c.propose_project(ProjectProposal {
                id: p,
                title: format!("Project {n}"),
                description: "A project".into(),
                ideas: vec![IdeaId::from_u128(n)],
                worked_on_by: vec![resident(2_000_000_000 + n)],
            })?;
            c.estimate_cost(
                p,
                Money::from_major(150_000 + 10_000 * i64::try_from(n)?, Currency::SEK)?,
            )?;
            c.assess_feasibility(p, Feasibility::Feasible)?;
            c.score_project(p, "s".into(), Score::new(5)?)?;
            c.score_project(p, "h".into(), Score::new(5)?)?;
        }
        Ok(AnyCycle::from(c.open_voting(
            VotingWindow {
                opens: day(4),
                closes: day(400),
            },
            day(4),
        )?))
    };
    build().map(|c| c.history()).unwrap_or_default()
}

/// The ballot of voter `n` for one or two of the fixture's projects.
pub fn submission(n: u128) -> BallotSubmission {
    let mut choice = vec![ProjectId::from_u128(n % PROJECTS)];
    if n.is_multiple_of(3) {
        choice.push(ProjectId::from_u128((n + 1) % PROJECTS));
    }
    BallotSubmission {
        id: BallotId::from_u128(n),
        voter: resident(n),
        cast_at: day(5),
        choices: Choices::Approval(choice),
    }
}

/// Voter `n` casting [`submission`]`(n)` digitally.
pub fn ballot(n: u128) -> Command {
    Command::CastBallot(submission(n))
}

/// Creates a fixture cycle in step 5 through a repository.
pub fn create_voting_cycle(repo: &mut Repository<AnyCycle>) -> CycleId {
    let id = CycleId::new();
    let mut events = voting_cycle(id).into_iter();
    let first = events
        .next()
        .unwrap_or_else(|| panic!("the fixture has events"));
    repo.create(id, first)
        .unwrap_or_else(|e| panic!("create: {e}"));
    let rest: Vec<NewEvent> = events
        .map(|e| NewEvent::json(&e).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    repo.store()
        .append(&StreamId::cycle(id), 1, rest)
        .unwrap_or_else(|e| panic!("append the fixture: {e}"));
    id
}

fn payload(n: u64) -> NewEvent {
    NewEvent {
        schema: super::SCHEMA,
        payload: format!("{{\"n\":{n}}}"),
    }
}

/// Appends and reads back: versions, order, pages, hashes, the stream list.
pub fn append_and_read(store: &dyn Store) {
    let s =
        StreamId::new(format!("conformance-{}", CycleId::new())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.version(&s).unwrap_or_else(|e| panic!("{e}")), 0);
    assert!(
        store
            .read(&s, 0, 10)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    let a = store
        .append(&s, 0, vec![payload(1), payload(2)])
        .unwrap_or_else(|e| panic!("append: {e}"));
    assert_eq!(a.version, 2);
    let b = store
        .append(&s, 2, vec![payload(3)])
        .unwrap_or_else(|e| panic!("append: {e}"));
    assert_eq!(b.version, 3);
    let all = store.read(&s, 0, 100).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(all[2].payload, "{\"n\":3}");
    assert_eq!(all[2].hash, b.head);
    assert_eq!(all[0].prev_hash, Hash::GENESIS);
    assert_eq!(
        store.read(&s, 1, 1).unwrap_or_else(|e| panic!("{e}"))[0].version,
        2
    );
    assert_eq!(store.version(&s).unwrap_or_else(|e| panic!("{e}")), 3);
    assert!(
        store
            .streams()
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .any(|i| i.stream == s && i.version == 3)
    );
    let verified = store.verify(&s).unwrap_or_else(|e| panic!("verify: {e}"));
    assert_eq!((verified.events, verified.head), (3, b.head));
    let mut lines = Vec::new();
    assert_eq!(
        store
            .export_jsonl(&s, &mut lines)
            .unwrap_or_else(|e| panic!("{e}")),
        3
    );
    let text = String::from_utf8(lines).unwrap_or_default();
    assert_eq!(text.lines().count(), 3);
    assert!(
        text.lines()
            .all(|l| l.contains("\"hash\"") && l.contains("\"event\""))
    );
}

/// A writer at a stale version is refused, naming both versions, and nothing is
/// appended.
pub fn conflicts(store: &dyn Store) {
    let s =
        StreamId::new(format!("conformance-{}", CycleId::new())).unwrap_or_else(|e| panic!("{e}"));
    store
        .append(&s, 0, vec![payload(1)])
        .unwrap_or_else(|e| panic!("{e}"));
    match store.append(&s, 0, vec![payload(2)]) {
        Err(StoreError::Conflict {
            expected: 0,
            actual: 1,
            ..
        }) => {}
        other => panic!("expected a conflict at 0 vs 1, got {other:?}"),
    }
    match store.append(&s, 5, vec![payload(2)]) {
        Err(StoreError::Conflict {
            expected: 5,
            actual: 1,
            ..
        }) => {}
        other => panic!("expected a conflict at 5 vs 1, got {other:?}"),
    }
    assert_eq!(store.version(&s).unwrap_or_else(|e| panic!("{e}")), 1);
}

/// `threads` writers each cast `per_thread` ballots into one cycle through their
/// own repository, retrying on conflicts: every ballot is stored exactly once.
/// Returns the time taken.
pub fn concurrent_ballots(store: Arc<dyn Store>, threads: u128, per_thread: u128) -> Duration {
    let mut setup = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = create_voting_cycle(&mut setup);
    let base = store
        .version(&StreamId::cycle(id))
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                let mut repo = Repository::<AnyCycle>::new(store, test_key());
                for i in 0..per_thread {
                    let voter = 1 + t * per_thread + i;
                    repo.execute(id, ballot(voter))
                        .unwrap_or_else(|e| panic!("thread {t}, ballot {i}: {e}"));
                }
            });
        }
    });
    let took = start.elapsed();
    let total = threads * per_thread;
    let mut fresh = Repository::<AnyCycle>::new(store.clone(), test_key());
    let cycle = fresh.load(id).unwrap_or_else(|e| panic!("load: {e}"));
    let AnyCycle::Voting(v) = cycle else {
        panic!("the cycle is in step {}", cycle.step())
    };
    assert_eq!(v.ballots().len() as u128, total, "ballots lost or doubled");
    let mut voters: Vec<ResidentId> = v.ballots().iter().map(|b| b.voter()).collect();
    voters.sort_unstable();
    voters.dedup();
    assert_eq!(voters.len() as u128, total, "a voter counted twice");
    if total > 0 {
        let first = ResidentId::from_u128(1);
        assert!(
            voters.binary_search(&first).is_err(),
            "voter ids are stored in plain text"
        );
        assert!(
            voters.binary_search(&test_key().pseudonym(first)).is_ok(),
            "voters are not under their pseudonym"
        );
    }
    let version = store
        .version(&StreamId::cycle(id))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u128::from(version - base), total, "one event per ballot");
    store
        .verify(&StreamId::cycle(id))
        .unwrap_or_else(|e| panic!("verify: {e}"));
    took
}

/// Runs a cycle from voting to closed through a repository; a fresh repository
/// replaying the stream rebuilds exactly the live state. Returns the cycle's id.
pub fn replay_equals_live(store: Arc<dyn Store>) -> CycleId {
    let mut live = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = create_voting_cycle(&mut live);
    let run = |repo: &mut Repository<AnyCycle>, c: Command| {
        repo.execute(id, c)
            .unwrap_or_else(|e| panic!("execute: {e}"));
    };
    for n in 1..=200 {
        run(&mut live, ballot(n));
    }
    // A second ballot from the same resident is caught under the pseudonym.
    match live.execute(id, ballot(7)) {
        Err(super::RepositoryError::Rejected(_)) => {}
        other => panic!("a second ballot was not refused: {other:?}"),
    }
    run(&mut live, Command::CloseVoting { at: day(401) });
    let funded = live
        .load(id)
        .ok()
        .and_then(|c| c.decision().map(|d| d.funded.clone()))
        .unwrap_or_default();
    for p in &funded {
        run(
            &mut live,
            Command::AddCoCreator {
                project: *p,
                resident: resident(3_000_000_000),
            },
        );
        run(
            &mut live,
            Command::CompleteProject {
                project: *p,
                final_cost: Money::from_major(100_000, Currency::SEK)
                    .unwrap_or(Money::zero(Currency::SEK)),
                at: day(402),
            },
        );
    }
    run(&mut live, Command::BeginFollowUp { at: day(403) });
    run(
        &mut live,
        Command::Close(Evaluation {
            lessons: vec!["Keep the log".into()],
            summary: "Done".into(),
            recorded_at: day(404),
            metrics: None,
        }),
    );
    let live_state = live.load(id).unwrap_or_else(|e| panic!("{e}")).clone();
    assert!(live_state.has_ended());
    let mut fresh = Repository::<AnyCycle>::new(store, test_key());
    let replayed = fresh.load(id).unwrap_or_else(|e| panic!("replay: {e}"));
    assert!(
        *replayed == live_state,
        "replay differs from the live state"
    );
    id
}

/// Changing a stored event's payload in place (`tamper`, backend-specific) is
/// reported as the first broken link, by `verify` and by loading.
pub fn tampering_is_detected(store: Arc<dyn Store>, tamper: &dyn Fn(&StreamId, Version, &str)) {
    let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = create_voting_cycle(&mut repo);
    for n in 1..=5 {
        repo.execute(id, ballot(n))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let stream = StreamId::cycle(id);
    let version = store.version(&stream).unwrap_or_else(|e| panic!("{e}")) - 2;
    let original = store
        .read(&stream, version - 1, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let forged = original[0].payload.replace("\"approval\"", "\"approval\" ");
    tamper(&stream, version, &forged);
    match store.verify(&stream) {
        Err(StoreError::Chain { version: v, .. }) if v == version => {}
        other => panic!("verify did not report event {version}: {other:?}"),
    }
    let mut fresh = Repository::<AnyCycle>::new(store, test_key());
    match fresh.load(id) {
        Err(super::RepositoryError::Store(StoreError::Chain { version: v, .. }))
            if v == version => {}
        other => panic!("loading did not report event {version}: {other:?}"),
    }
}

/// A store closed and opened again (`open`) holds the same state.
pub fn survives_reopen(open: &dyn Fn() -> Arc<dyn Store>) {
    let (id, state) = {
        let store = open();
        let mut repo = Repository::<AnyCycle>::new(store, test_key());
        let id = create_voting_cycle(&mut repo);
        for n in 1..=50 {
            repo.execute(id, ballot(n))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        (id, repo.load(id).unwrap_or_else(|e| panic!("{e}")).clone())
    };
    let store = open();
    let mut repo = Repository::<AnyCycle>::new(store, test_key());
    let reopened = repo.load(id).unwrap_or_else(|e| panic!("reopen: {e}"));
    assert!(*reopened == state, "the reopened store holds another state");
}

/// The child side of [`killed_writer_leaves_a_loadable_log`]: creates the cycle
/// and casts ballots until it is killed.
pub fn write_until_killed(store: Arc<dyn Store>, id: CycleId) {
    let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
    let mut events = voting_cycle(id).into_iter();
    if let Some(first) = events.next() {
        let _ = repo.create(id, first);
        let rest: Vec<NewEvent> = events.filter_map(|e| NewEvent::json(&e).ok()).collect();
        let _ = store.append(&StreamId::cycle(id), 1, rest);
    }
    let mut n = 1;
    loop {
        // Batches of paper ballots make appends large, so the kill lands inside
        // one more often.
        let batch = crate::ballot::PaperBatch {
            entered_by: "official".into(),
            entered_at: day(6),
            ballots: (0..50).map(|k| submission(n + k)).collect(),
        };
        let _ = repo.execute(id, Command::EnterPaperBallots(batch));
        n += 50;
    }
}

/// A writer process killed with SIGKILL while appending leaves a log that
/// verifies and loads up to its last committed append. `spawn_writer` starts a
/// real child process running [`write_until_killed`] on the same store for `id`.
pub fn killed_writer_leaves_a_loadable_log(
    open: &dyn Fn() -> Arc<dyn Store>,
    spawn_writer: &dyn Fn(CycleId) -> std::process::Child,
) {
    let id = CycleId::new();
    let stream = StreamId::cycle(id);
    let mut child = spawn_writer(id);
    let store = open();
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.version(&stream).unwrap_or(0) < 200 {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the writer did not append in time");
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the writer exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = child.wait();
    let store = open();
    let version = store.version(&stream).unwrap_or_else(|e| panic!("{e}"));
    let verified = store
        .verify(&stream)
        .unwrap_or_else(|e| panic!("verify after the kill: {e}"));
    assert_eq!(verified.events, version);
    let mut repo = Repository::<AnyCycle>::new(store, test_key());
    let cycle = repo
        .load(id)
        .unwrap_or_else(|e| panic!("load after the kill: {e}"));
    let AnyCycle::Voting(v) = cycle else {
        panic!("step {}", cycle.step())
    };
    let fixture = voting_cycle(id).len() as u64;
    // One event per ballot; a batch of 50 is one append.
    assert_eq!(
        v.ballots().len() as u64,
        version - fixture,
        "every committed ballot, nothing more"
    );
    assert_eq!(v.ballots().len() % 50, 0, "whole batches only");
}
