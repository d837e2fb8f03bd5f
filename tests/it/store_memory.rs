//! The conformance suite on the in-memory store, plus the repository's own
//! behaviour: pseudonyms, catching up, old schemas.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use medborgarbudget::ballot::{BallotSubmission, PaperBatch};
use medborgarbudget::ids::BallotId;
use medborgarbudget::process::{AnyCycle, Command, CycleError};
use medborgarbudget::store::conformance::{self, test_key};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{NewEvent, Repository, RepositoryError, Store, StoreError, StreamId};

#[test]
fn append_and_read() {
    conformance::append_and_read(&MemoryStore::new());
}

#[test]
fn conflicts() {
    conformance::conflicts(&MemoryStore::new());
}

#[test]
fn eight_writers_ten_thousand_ballots_each() {
    let took = conformance::concurrent_ballots(Arc::new(MemoryStore::new()), 8, 10_000);
    println!("memory: 80,000 ballots from 8 writers in {took:?}");
}

#[test]
fn replay_equals_live() {
    conformance::replay_equals_live(Arc::new(MemoryStore::new()));
}

#[test]
fn tampering_is_detected() {
    let store = MemoryStore::new();
    conformance::tampering_is_detected(
        &|key| match key {
            Some(key) => Arc::new(store.clone().with_log_key(key)),
            None => Arc::new(store.clone()),
        },
        &store,
    );
}

#[test]
fn a_repository_catches_up_with_other_writers_without_replaying() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut a = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = conformance::create_voting_cycle(&mut a);
    let mut b = Repository::<AnyCycle>::new(store.clone(), test_key());
    b.load(id).unwrap();
    for n in 1..=10 {
        a.execute(id, conformance::ballot(n)).unwrap();
    }
    // b is ten events behind: its next command catches up and succeeds.
    let before = b.version(id).unwrap();
    b.execute(id, conformance::ballot(11)).unwrap();
    assert_eq!(b.version(id).unwrap(), before + 11);
    // The same voter through the other repository is a second ballot; the
    // refusal names the resident id the caller sent, not its pseudonym.
    let again = BallotSubmission {
        id: BallotId::from_u128(1_011),
        ..conformance::submission(11)
    };
    let err = a
        .execute(id, Command::CastBallot(again.clone()))
        .unwrap_err();
    let sent = conformance::submission(11).voter.id();
    assert!(
        matches!(
            &err,
            RepositoryError::Rejected(CycleError::AlreadyVoted { voter, .. }) if *voter == sent
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&sent.to_string()), "{err}");
    // A paper batch refused for the same reason names it too.
    let batch = Command::EnterPaperBallots(PaperBatch {
        ballots: vec![again],
        entered_by: "Valnämnden".into(),
        entered_at: conformance::submission(11).cast_at + chrono::Duration::days(1),
    });
    let err = a.execute(id, batch).unwrap_err();
    assert!(err.to_string().contains(&sent.to_string()), "{err}");
    let AnyCycle::Voting(v) = b.load(id).unwrap() else {
        panic!("voting")
    };
    assert_eq!(v.ballots().len(), 11);
}

#[test]
fn events_of_schema_one_still_load() {
    // A cycle's first events as schema 1 wrote them (internally tagged JSON).
    let id = medborgarbudget::ids::CycleId::new();
    let events = conformance::voting_cycle(id);
    let v1: Vec<NewEvent> = events
        .iter()
        .map(|e| {
            let v2 = serde_json::to_value(e).unwrap();
            let (variant, inner) = v2
                .as_object()
                .unwrap()
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap();
            let mut out = serde_json::Map::new();
            out.insert("event".into(), variant.clone().into());
            let fields = if variant == "accepted" {
                let (command, fields) = inner
                    .as_object()
                    .unwrap()
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap();
                out.insert("command".into(), command.into());
                fields
            } else {
                inner
            };
            if let serde_json::Value::Object(f) = fields {
                out.extend(f);
            }
            NewEvent {
                schema: 1,
                payload: serde_json::Value::Object(out).to_string(),
            }
        })
        .collect();
    // The second event, in the old shape: tags as fields, not as wrappers.
    let old: serde_json::Value = serde_json::from_str(&v1[1].payload).unwrap();
    assert_eq!(old["event"], "accepted", "{old}");
    assert_eq!(old["command"], "set_budget", "{old}");
    assert!(old.get("accepted").is_none(), "{old}");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.append(&StreamId::cycle(id), 0, v1).unwrap();
    let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
    let loaded = repo.load(id).unwrap().clone();
    assert_eq!(loaded, AnyCycle::replay(events).unwrap());
    // New events go in schema 2 after the old ones, and the whole log still loads.
    repo.execute(id, conformance::ballot(1)).unwrap();
    let mut fresh = Repository::<AnyCycle>::new(store.clone(), test_key());
    let AnyCycle::Voting(v) = fresh.load(id).unwrap() else {
        panic!("voting")
    };
    assert_eq!(v.ballots().len(), 1);
    // Its snapshot holds every event in today's form and loads to the same cycle.
    let snapshot = fresh.snapshot(id).unwrap();
    assert_eq!(
        snapshot.version(),
        store.version(&StreamId::cycle(id)).unwrap()
    );
    let json = serde_json::to_string(&snapshot).unwrap();
    assert!(!json.contains(r#""event":"accepted""#), "{json}");
    let copy = AnyCycle::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(&copy, fresh.load(id).unwrap());
    assert!(matches!(
        fresh.snapshot(medborgarbudget::ids::CycleId::new()),
        Err(RepositoryError::NotFound { .. })
    ));
    // An event from a newer build is refused with a clear error.
    let s = StreamId::cycle(id);
    let version = store.version(&s).unwrap();
    store
        .append(
            &s,
            version,
            vec![NewEvent {
                schema: 99,
                payload: "{}".into(),
            }],
        )
        .unwrap();
    let err = Repository::<AnyCycle>::new(store, test_key())
        .load(id)
        .unwrap_err();
    assert!(
        matches!(
            err,
            RepositoryError::Store(StoreError::SchemaTooNew { schema: 99, .. })
        ),
        "{err}"
    );
}

#[test]
fn a_stream_that_does_not_start_a_cycle_does_not_load() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let id = medborgarbudget::ids::CycleId::new();
    let events = conformance::voting_cycle(id);
    let skipped: Vec<NewEvent> = events[1..]
        .iter()
        .map(|e| NewEvent::json(e).unwrap())
        .collect();
    store.append(&StreamId::cycle(id), 0, skipped).unwrap();
    let err = Repository::<AnyCycle>::new(store, test_key())
        .load(id)
        .unwrap_err();
    assert!(matches!(err, RepositoryError::Replay { .. }), "{err}");
}

#[test]
fn creating_a_stream_twice_says_it_exists_and_open_or_create_loads_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
    let id = conformance::create_voting_cycle(&mut repo);
    let first = conformance::voting_cycle(id).remove(0);
    let version = store.version(&StreamId::cycle(id)).unwrap();
    // Before: "expected version 0, but it is at N".
    let err = repo.create(id, first.clone()).unwrap_err();
    assert!(
        matches!(
            &err,
            RepositoryError::Store(StoreError::AlreadyExists { version: v, .. }) if *v == version
        ),
        "{err}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
    // A retried creation loads what is there, unchanged.
    let mut again = Repository::<AnyCycle>::new(store.clone(), test_key());
    assert!(matches!(
        again.open_or_create(id, first.clone()).unwrap(),
        AnyCycle::Voting(_)
    ));
    assert_eq!(store.version(&StreamId::cycle(id)).unwrap(), version);
    // A new id is created.
    let fresh = medborgarbudget::ids::CycleId::new();
    let start = conformance::voting_cycle(fresh).remove(0);
    again.open_or_create(fresh, start.clone()).unwrap();
    assert_eq!(store.version(&StreamId::cycle(fresh)).unwrap(), 1);
    // Another cycle's first event under an existing id is refused.
    let err = again.open_or_create(id, start).unwrap_err();
    assert!(
        matches!(
            err,
            RepositoryError::Store(StoreError::AlreadyExists { .. })
        ),
        "{err}"
    );
}
