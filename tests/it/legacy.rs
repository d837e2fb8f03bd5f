//! A log written before the core reshape (`tests/data/legacy-2026-12-04`, by
//! `main` at 189f939: rules as strings, follow-up figures stored whole) still
//! verifies, loads through the rules and reports.

#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::ids::ProgrammeId;
use medborgarbudget::process::{Programme, RulesVersion, Step};
use medborgarbudget::report::Report;
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{KeyFiles, Repository, Store, StoreExt, StreamId};
use medborgarbudget::tally::Rule;

/// A copy of the fixture in a scratch folder (opening a store may migrate it;
/// the fixture itself is never written).
fn copy() -> PathBuf {
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy-2026-12-04");
    let dir = std::env::temp_dir().join(format!("medborgarbudget-legacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["legacy.db", "legacy.db.key", "legacy.db.log-key"] {
        std::fs::copy(from.join(name), dir.join(name)).unwrap();
    }
    dir.join("legacy.db")
}

#[test]
fn a_log_written_before_the_reshape_verifies_loads_and_reports() {
    let path = copy();
    let keys = KeyFiles::beside(&path);
    let log_key = keys.log_key(false).unwrap().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap().with_log_key(log_key));
    let streams = store.streams().unwrap();
    assert_eq!(streams.len(), 1);
    let stream = &streams[0].stream;
    let verified = store.verify(stream).unwrap();
    assert_eq!(verified.events, 881);
    assert!(verified.sealed, "the seal is checked with the log key");
    let stored = store.read_all(stream, 0).unwrap();
    assert!(
        stored.iter().any(|e| e.payload.contains("\"metrics\":{")),
        "the fixture holds figures the old way"
    );

    let id: ProgrammeId = stream.programme_id().unwrap();
    assert_eq!(StreamId::programme(id), *stream);
    let mut repo = Repository::<Programme>::reader(store.clone());
    let programme = repo.load(id).unwrap().clone();
    assert_eq!(programme.cycles().len(), 3);
    for cycle in programme.cycles() {
        assert_eq!(cycle.step(), Step::Closed);
        // Written before versions were recorded: the first rules.
        assert_eq!(cycle.setup().rules_version, RulesVersion::FIRST);
        assert_eq!(cycle.framework().unwrap().rules.counting().rule, Rule::Mes);
        // The figures stored whole load as their digest, which is the digest
        // of the figures this build computes from the same cycle.
        assert!(cycle.evaluation().unwrap().figures.is_some());
        assert_eq!(CycleMetrics::published(cycle).unwrap(), Some(true));
    }
    let report = Report::programme(&programme)
        .unwrap()
        .with_head(stream.clone(), verified);
    let html = report.to_html();
    assert!(
        html.contains(&verified.head.to_string()),
        "the report shows the head"
    );

    // Writing with the voter key still works: the programme is complete, so a
    // new command is refused by the rules, not by the store.
    let voter_key = keys.voter_key(false).unwrap();
    let mut writer = Repository::<Programme>::new(store, voter_key);
    assert!(writer.load(id).is_ok());
}
