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

use super::{
    Evidence, Hash, LogKey, NewEvent, Repository, RepositoryError, Seal, Store, StoreError,
    StoreExt, StoredEvent, StreamId, Version, VoterKey, chain_hash,
};
use crate::area::{Area, Eligibility, Resident};
use crate::ballot::{BallotKind, BallotRules, BallotSubmission, Choices};
use crate::criteria::{CriteriaSet, Score};
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
    let build = || -> Result<Vec<Event>, Box<dyn std::error::Error>> {
        let area = Area::new(AreaId::from_u128(1), "Conformance", 5_000_000)?;
        let setup = CycleSetup {
            id,
            programme: None,
            year: 2026,
            area,
            currency: Currency::SEK,
            started_at: day(0),
            rules_version: crate::process::RulesVersion::CURRENT,
        };
        let mut commands = vec![
            Command::SetBudget(Allocation {
                part: None,
                amount: Money::from_major(1_000_000, Currency::SEK)?,
                decision: CouncilDecision {
                    body: "KF".into(),
                    reference: "§ 1".into(),
                    decided_on: day(0).date_naive(),
                },
                source: FundingSource::Council,
            }),
            Command::SetEligibility(Eligibility::residents_aged(12)),
            Command::SetBallotRules(
                BallotRules::builder(BallotKind::Approval)
                    .max_projects(3)
                    .build()?,
            ),
            Command::SetCriteria {
                criteria: CriteriaSet::builder()
                    .social_sustainability("s", "s", 1)
                    .public_health("h", "h", 1)
                    .build()?,
            },
            Command::BeginOutreach { at: day(1) },
            Command::RecordOutreach(OutreachActivity {
                channel: OutreachChannel::Meeting,
                description: "Meeting".into(),
                languages: vec!["sv".into()],
                people_reached: 10,
                held_on: day(1).date_naive(),
                groups: Vec::new(),
            }),
            Command::OpenIdeaGeneration { at: day(2) },
        ];
        commands.extend((0..PROJECTS).map(|n| {
            Command::SubmitIdea(IdeaSubmission {
                id: IdeaId::from_u128(n),
                author: resident(1_000_000_000 + n),
                co_authors: vec![],
                title: format!("Idea {n}").into(),
                description: "An idea".into(),
                submitted_at: day(2),
                estimated_cost: None,
            })
        }));
        commands.push(Command::BeginShortlisting { at: day(3) });
        for n in 0..PROJECTS {
            let project = ProjectId::from_u128(n);
            let cost = Money::from_major(150_000 + 10_000 * i64::try_from(n)?, Currency::SEK)?;
            commands.extend([
                Command::ReviewIdea {
                    idea: IdeaId::from_u128(n),
                },
                Command::ProposeProject(ProjectProposal {
                    part: None,
                    id: project,
                    title: format!("Project {n}").into(),
                    description: "A project".into(),
                    ideas: vec![IdeaId::from_u128(n)],
                    worked_on_by: vec![resident(2_000_000_000 + n)],
                }),
                Command::EstimateCost { project, cost },
                Command::AssessFeasibility {
                    project,
                    feasibility: Feasibility::Feasible,
                },
            ]);
            for criterion in ["s", "h"] {
                commands.push(Command::ScoreProject {
                    project,
                    criterion: criterion.into(),
                    score: Score::new(5)?,
                });
            }
        }
        commands.push(Command::OpenVoting {
            window: VotingWindow {
                opens: day(4),
                closes: day(400),
            },
            at: day(4),
        });
        let mut cycle = AnyCycle::from(Cycle::new(setup.clone()));
        let mut events = vec![Event::CycleStarted(setup)];
        for command in commands {
            events.extend(cycle.apply(command)?);
        }
        Ok(events)
    };
    build().unwrap_or_default()
}

/// The ballot of voter `n` for one or two of the fixture's projects.
pub fn submission(n: u128) -> BallotSubmission {
    let mut choice = vec![ProjectId::from_u128(n % PROJECTS)];
    if n.is_multiple_of(3) {
        choice.push(ProjectId::from_u128((n + 1) % PROJECTS));
    }
    BallotSubmission {
        part: None,
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
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "three events and the head");
    assert!(
        lines[..3]
            .iter()
            .all(|l| l.contains("\"hash\"") && l.contains("\"event\""))
    );
    let head: serde_json::Value = serde_json::from_str(lines[3]).unwrap_or_default();
    assert_eq!(head["head"]["version"], 3, "{}", lines[3]);
    assert_eq!(head["head"]["hash"], b.head.to_string(), "{}", lines[3]);
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
        Err(e @ StoreError::AlreadyExists { version: 1, .. }) => {
            assert!(e.to_string().contains("already exists"), "{e}");
        }
        other => panic!("expected the stream to exist already, got {other:?}"),
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
            figures: None,
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

/// Raw access to a backend's tables, as an attacker who can write to the
/// database (but does not hold the log key) has it. Each backend's tests
/// implement it with plain SQL (or, for memory, directly).
pub trait Tamper {
    /// Writes `event` as it is — payload, hashes and all — replacing the stored
    /// event at its version or adding it.
    fn put_event(&self, event: &StoredEvent);
    /// Deletes the events of `stream` after `version`, leaving its recorded
    /// head as it is.
    fn delete_events_after(&self, stream: &StreamId, version: Version);
    /// Sets the recorded head of `stream` to a version, hash and seal (`None`
    /// deletes the head), leaving the voter key's fingerprint as it is.
    fn put_head(&self, stream: &StreamId, head: Option<(Version, Hash, Option<Seal>)>);
}

/// The log key the suite's sealed stores use.
pub fn test_log_key() -> LogKey {
    LogKey::new(b"conformance suite log key, not secret".to_vec())
        .unwrap_or_else(|_| LogKey::random())
}

/// A fresh fixture cycle with six ballots in `store`; its stream and events.
fn tamper_fixture(store: &Arc<dyn Store>) -> (CycleId, StreamId, Vec<StoredEvent>) {
    let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = create_voting_cycle(&mut repo);
    for n in 1..=6 {
        repo.execute(id, ballot(n))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let stream = StreamId::cycle(id);
    let events = store.read_all(&stream, 0).unwrap_or_else(|e| panic!("{e}"));
    (id, stream, events)
}

/// Loads the cycle afresh.
fn load_fresh(store: &Arc<dyn Store>, id: CycleId) -> Result<AnyCycle, String> {
    Repository::<AnyCycle>::new(store.clone(), test_key())
        .load(id)
        .cloned()
        .map_err(|e| e.to_string())
}

/// The store error that refuses a new ballot (voter 100) through a fresh
/// repository on `store`; `what` names the case if it is accepted.
fn ballot_refused(store: &Arc<dyn Store>, id: CycleId, what: &str) -> StoreError {
    Repository::<AnyCycle>::new(store.clone(), test_key())
        .execute(id, ballot(100))
        .map_err(store_error)
        .expect_err(what)
}

/// The store error inside a repository error.
fn store_error(
    e: RepositoryError<crate::process::CycleError, crate::process::ReplayError>,
) -> StoreError {
    match e {
        RepositoryError::Store(e) => e,
        other => panic!("expected a store error, got: {other}"),
    }
}

/// Checks that `e` names tampering with `evidence`, and says so in words an
/// official understands — not a version conflict or a database constraint.
fn assert_tampered(e: &StoreError, evidence: Evidence, what: &str) {
    match e {
        StoreError::Tampered {
            evidence: found, ..
        } if *found == evidence => {}
        other => panic!("{what}: expected tampering ({evidence}), got: {other}"),
    }
    let text = e.to_string();
    assert!(text.contains("tampered"), "{what}: {text}");
    for misleading in ["expected version", "UNIQUE", "unique", "duplicate key"] {
        assert!(!text.contains(misleading), "{what}: {text}");
    }
}

/// Rehashes `events` (in order, from version `from` on) as an attacker with the
/// public encoding would, and writes them; returns the new last hash.
fn rewrite_chain(tamper: &dyn Tamper, events: &mut [StoredEvent], from: usize) -> Hash {
    let mut prev = if from == 0 {
        Hash::GENESIS
    } else {
        events[from - 1].hash
    };
    for e in &mut events[from..] {
        e.prev_hash = prev;
        e.hash = chain_hash(
            &prev,
            &e.stream,
            e.version,
            e.schema,
            &e.recorded_at,
            &e.payload,
        );
        tamper.put_event(e);
        prev = e.hash;
    }
    prev
}

/// Every kind of tampering with a stream is reported as tampering, by
/// [`StoreExt::verify`], by loading and by writing, with a store opened with
/// the log key ([`test_log_key`]) and, where the attack leaves evidence without
/// it, without. `open(key)` opens the same database with or without a log key;
/// `tamper` edits it behind the store's back.
///
/// What a store without the log key cannot see — a chain recomputed and its
/// head moved with it — is checked too: it loads, and only the seal or a head
/// published earlier ([`StoreExt::verify`]'s head) tells.
pub fn tampering_is_detected(open: &dyn Fn(Option<LogKey>) -> Arc<dyn Store>, tamper: &dyn Tamper) {
    let keyed = open(Some(test_log_key()));
    let plain = open(None);

    // 1. An event edited in place: the chain breaks at that event.
    let (id, stream, events) = tamper_fixture(&keyed);
    let n = events.len() as Version;
    let mut edited = events[n as usize - 3].clone();
    edited.payload = edited.payload.replace("\"approval\"", "\"approval\" ");
    assert_ne!(
        edited.payload,
        events[n as usize - 3].payload,
        "the fixture has approval ballots"
    );
    tamper.put_event(&edited);
    for store in [&keyed, &plain] {
        match store.verify(&stream) {
            Err(StoreError::Chain { version, .. }) if version == n - 2 => {}
            other => panic!("verify did not report event {}: {other:?}", n - 2),
        }
        let err = load_fresh(store, id).expect_err("an edited event loads");
        assert!(
            err.contains("tampered") && err.contains(&format!("event {}", n - 2)),
            "{err}"
        );
    }

    // 2. The last events deleted: the events end before the recorded head.
    let (id, stream, events) = tamper_fixture(&keyed);
    let n = events.len() as Version;
    let published = keyed.verify(&stream).unwrap_or_else(|e| panic!("{e}")).head;
    tamper.delete_events_after(&stream, n - 2);
    let evidence = Evidence::EndsBeforeHead {
        recorded: n,
        found: n - 2,
    };
    for store in [&keyed, &plain] {
        assert_tampered(
            &store.verify(&stream).expect_err("verify"),
            evidence,
            "verify after deleting",
        );
        let err = Repository::<AnyCycle>::new(store.clone(), test_key())
            .load(id)
            .map(|_| ())
            .map_err(store_error)
            .expect_err("load after deleting");
        assert_tampered(&err, evidence, "load after deleting");
    }
    let err = ballot_refused(&keyed, id, "a ballot after deleting");
    assert_tampered(&err, evidence, "a ballot after deleting");

    // 3. … and the head moved back with them, keeping its old seal: only the
    // seal tells (and the head published before).
    tamper.put_head(
        &stream,
        Some((
            n - 2,
            events[n as usize - 3].hash,
            keyed.head(&stream).ok().flatten().and_then(|h| h.seal),
        )),
    );
    let shortened = plain
        .verify(&stream)
        .unwrap_or_else(|e| panic!("without the key: {e}"));
    assert_ne!(
        shortened.head, published,
        "the published head no longer matches"
    );
    load_fresh(&plain, id).unwrap_or_else(|e| panic!("without the key: {e}"));
    let err = keyed.verify(&stream).expect_err("verify with the key");
    assert_tampered(
        &err,
        Evidence::BadSeal { version: n - 2 },
        "verify with the key",
    );
    let err = load_fresh(&keyed, id).expect_err("load with the key");
    assert!(err.contains("tampered") && err.contains("seal"), "{err}");

    // 4. Two voters' choices swapped and the whole chain recomputed, head and
    // all.
    let (id, stream, mut events) = tamper_fixture(&keyed);
    let n = events.len();
    let (a, b) = (n - 6, n - 5);
    let before = load_fresh(&keyed, id).unwrap_or_else(|e| panic!("{e}"));
    let choices = |payload: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
        v["ballot_cast"]["choices"].clone()
    };
    let (ca, cb) = (choices(&events[a].payload), choices(&events[b].payload));
    assert!(
        !ca.is_null() && ca != cb,
        "the fixture's ballots differ: {}",
        events[a].payload
    );
    let swap = |payload: &str, to: &serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
        v["ballot_cast"]["choices"] = to.clone();
        v.to_string()
    };
    events[a].payload = swap(&events[a].payload, &cb);
    events[b].payload = swap(&events[b].payload, &ca);
    let seal = keyed.head(&stream).ok().flatten().and_then(|h| h.seal);
    let head = rewrite_chain(tamper, &mut events, a);
    tamper.put_head(&stream, Some((n as Version, head, seal)));
    let after = load_fresh(&plain, id).unwrap_or_else(|e| panic!("without the key: {e}"));
    assert!(after != before, "the swap changed the ballots");
    let err = keyed.verify(&stream).expect_err("verify with the key");
    assert_tampered(
        &err,
        Evidence::BadSeal {
            version: n as Version,
        },
        "a rewritten chain",
    );
    // The seal removed instead of kept.
    tamper.put_head(&stream, Some((n as Version, head, None)));
    let err = keyed.verify(&stream).expect_err("verify with the key");
    assert_tampered(
        &err,
        Evidence::NoSeal {
            version: n as Version,
        },
        "a removed seal",
    );
    let err = ballot_refused(&keyed, id, "a ballot on an unsealed head");
    assert_tampered(
        &err,
        Evidence::NoSeal {
            version: n as Version,
        },
        "a ballot on an unsealed head",
    );

    // 5. An event added past the head.
    let (id, stream, events) = tamper_fixture(&keyed);
    let n = events.len() as Version;
    let last = &events[n as usize - 1];
    let extra = StoredEvent::seal(
        &stream,
        n,
        last.hash,
        last.recorded_at,
        vec![NewEvent {
            schema: last.schema,
            payload: last.payload.clone(),
        }],
    );
    tamper.put_event(&extra[0]);
    let evidence = Evidence::PastHead { recorded: n };
    for store in [&keyed, &plain] {
        assert_tampered(
            &store.verify(&stream).expect_err("verify"),
            evidence,
            "an added event",
        );
    }
    let err = ballot_refused(&keyed, id, "a ballot after an added event");
    assert_tampered(&err, evidence, "a ballot after an added event");

    // 6. The head deleted.
    let (id, stream, events) = tamper_fixture(&keyed);
    let n = events.len() as Version;
    tamper.put_head(&stream, None);
    let evidence = Evidence::NoHead { found: n };
    for store in [&keyed, &plain] {
        assert_tampered(
            &store.verify(&stream).expect_err("verify"),
            evidence,
            "a deleted head",
        );
        let err = Repository::<AnyCycle>::new(store.clone(), test_key())
            .load(id)
            .map(|_| ())
            .map_err(store_error)
            .expect_err("load");
        assert_tampered(&err, evidence, "load without a head");
    }
    let err = plain
        .append(&stream, 0, vec![payload(1)])
        .expect_err("an append over a deleted head");
    assert_tampered(
        &err,
        Evidence::NoHead { found: 1 },
        "an append over a deleted head",
    );

    // A store without the log key does not write to a sealed stream, and a
    // writer with another voter key is refused: its pseudonyms differ.
    let (id, stream, events) = tamper_fixture(&keyed);
    let err = ballot_refused(&plain, id, "a keyless write to a sealed stream");
    assert!(matches!(err, StoreError::Sealed { .. }), "{err}");
    let other = VoterKey::new(b"another municipality's voter key".to_vec())
        .unwrap_or_else(|_| VoterKey::random());
    // Resident 1 has voted; a new ballot from them, through the other key.
    let again = Command::CastBallot(BallotSubmission {
        id: BallotId::from_u128(1_001),
        ..submission(1)
    });
    let err = Repository::<AnyCycle>::new(keyed.clone(), other.clone())
        .execute(id, again)
        .map_err(store_error)
        .expect_err("a second ballot under another voter key");
    match &err {
        StoreError::VoterKeyDiffers {
            recorded, given, ..
        } => {
            assert_eq!(*recorded, test_key().fingerprint());
            assert_eq!(*given, other.fingerprint());
            assert!(err.to_string().contains(&recorded.to_string()), "{err}");
        }
        other => panic!("expected VoterKeyDiffers, got {other}"),
    }
    assert_eq!(
        keyed.version(&stream).unwrap_or_else(|e| panic!("{e}")),
        events.len() as Version,
        "nothing appended"
    );
    // A reader needs no voter key at all, and cannot write.
    let mut reader = Repository::<AnyCycle>::reader(keyed.clone());
    reader.load(id).unwrap_or_else(|e| panic!("a reader: {e}"));
    assert!(matches!(
        reader.execute(id, ballot(100)),
        Err(RepositoryError::ReadOnly { .. })
    ));
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
/// real child process running [`write_until_killed`] on the same store for `id`
/// (with its standard error piped, a child that fails early is reported with
/// its own error).
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
            // The child's own words, if its standard error was piped.
            let mut said = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut err, &mut said);
            }
            panic!("the writer exited early: {status}: {said}");
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
