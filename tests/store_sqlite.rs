//! The conformance suite on the SQLite store: the same checks as every backend,
//! plus closing and reopening the file, a writer killed mid-append, and schema
//! migrations.

#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use medborgarbudget::store::conformance;
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{Durability, Store, StreamId, Version};

fn db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medborgarbudget-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn open(path: &PathBuf) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).unwrap())
}

#[test]
fn append_and_read() {
    conformance::append_and_read(&SqliteStore::open(db("append")).unwrap());
}

#[test]
fn conflicts() {
    conformance::conflicts(&SqliteStore::open(db("conflicts")).unwrap());
}

#[test]
fn eight_writers_ten_thousand_ballots_each() {
    // As for PostgreSQL: the test checks concurrency, not the disk.
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_with(db("concurrent"), Durability::Normal).unwrap());
    let took = conformance::concurrent_ballots(store, 8, 10_000);
    println!("sqlite: 80,000 ballots from 8 writers in {took:?}");
}

#[test]
fn replay_equals_live() {
    conformance::replay_equals_live(open(&db("replay")));
}

#[test]
fn tampering_is_detected() {
    let path = db("tamper");
    let raw = path.clone();
    conformance::tampering_is_detected(
        open(&path),
        &move |stream: &StreamId, version: Version, payload: &str| {
            let c = rusqlite::Connection::open(&raw).unwrap();
            let n = c
                .execute(
                    "UPDATE events SET payload = ?1 WHERE stream = ?2 AND version = ?3",
                    rusqlite::params![payload, stream.as_str(), version as i64],
                )
                .unwrap();
            assert_eq!(n, 1);
        },
    );
}

#[test]
fn closing_and_reopening_the_file_keeps_the_state() {
    let path = db("reopen");
    conformance::survives_reopen(&|| open(&path));
}

#[test]
fn a_writer_killed_mid_append_leaves_a_loadable_log() {
    if let (Ok(id), Ok(path)) = (
        std::env::var("MEDBORGARBUDGET_TEST_WRITER"),
        std::env::var("MEDBORGARBUDGET_TEST_DB"),
    ) {
        // The child: write until killed.
        conformance::write_until_killed(open(&PathBuf::from(path)), id.parse().unwrap());
        return;
    }
    let path = db("killed");
    conformance::killed_writer_leaves_a_loadable_log(&|| open(&path), &|id| {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_writer_killed_mid_append_leaves_a_loadable_log",
                "--test-threads=1",
            ])
            .env("MEDBORGARBUDGET_TEST_WRITER", id.to_string())
            .env("MEDBORGARBUDGET_TEST_DB", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
}

#[test]
fn migrations_are_recorded_once_and_newer_schemas_refused() {
    let path = db("migrations");
    assert_eq!(SqliteStore::open(&path).unwrap().migrations().unwrap(), [1]);
    assert_eq!(SqliteStore::open(&path).unwrap().migrations().unwrap(), [1]);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'later')",
        [],
    )
    .unwrap();
    drop(c);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
}
