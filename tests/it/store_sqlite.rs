//! The conformance suite on the SQLite store: the same checks as every backend,
//! plus closing and reopening the file, a writer killed mid-append, and schema
//! migrations.

#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use medborgarbudget::store::conformance::{self, Tamper};
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{
    Durability, Hash, NewEvent, Seal, Store, StoreError, StoredEvent, StreamId, Version,
};

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

/// The database file edited with plain SQL, as anyone who can write to it can.
struct Sql(PathBuf);

impl Tamper for Sql {
    fn put_event(&self, e: &StoredEvent) {
        rusqlite::Connection::open(&self.0)
            .unwrap()
            .execute(
                "INSERT OR REPLACE INTO events (stream, version, schema, recorded_at, payload, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    e.stream.as_str(),
                    e.version as i64,
                    e.schema,
                    e.recorded_at.timestamp_micros(),
                    e.payload,
                    &e.prev_hash.0[..],
                    &e.hash.0[..]
                ],
            )
            .unwrap();
    }

    fn delete_events_after(&self, stream: &StreamId, version: Version) {
        rusqlite::Connection::open(&self.0)
            .unwrap()
            .execute(
                "DELETE FROM events WHERE stream = ?1 AND version > ?2",
                rusqlite::params![stream.as_str(), version as i64],
            )
            .unwrap();
    }

    fn put_head(&self, stream: &StreamId, head: Option<(Version, Hash, Option<Seal>)>) {
        let c = rusqlite::Connection::open(&self.0).unwrap();
        match head {
            None => c.execute("DELETE FROM streams WHERE stream = ?1", [stream.as_str()]),
            Some((version, hash, seal)) => c.execute(
                "UPDATE streams SET version = ?2, head = ?3, seal = ?4 WHERE stream = ?1",
                rusqlite::params![
                    stream.as_str(),
                    version as i64,
                    &hash.0[..],
                    seal.as_ref().map(|s| &s.0[..])
                ],
            ),
        }
        .unwrap();
    }
}

#[test]
fn tampering_is_detected() {
    let path = db("tamper");
    conformance::tampering_is_detected(
        &|key| {
            let store = SqliteStore::open(&path).unwrap();
            Arc::new(match key {
                Some(key) => store.with_log_key(key),
                None => store,
            })
        },
        &Sql(path.clone()),
    );
}

#[cfg(unix)]
#[test]
fn a_new_database_file_is_private_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let path = db("private");
    let store = SqliteStore::open(&path).unwrap();
    conformance::append_and_read(&store);
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if let Ok(meta) = std::fs::metadata(&file) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        }
    }
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
                "store_sqlite::a_writer_killed_mid_append_leaves_a_loadable_log",
                "--test-threads=1",
            ])
            .env("MEDBORGARBUDGET_TEST_WRITER", id.to_string())
            .env("MEDBORGARBUDGET_TEST_DB", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
}

#[test]
fn migrations_are_recorded_once_and_newer_schemas_refused() {
    let path = db("migrations");
    assert_eq!(
        SqliteStore::open(&path).unwrap().migrations().unwrap(),
        [1, 2]
    );
    assert_eq!(
        SqliteStore::open(&path).unwrap().migrations().unwrap(),
        [1, 2]
    );
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

#[test]
fn a_backend_error_keeps_the_database_s_own_error_as_its_source() {
    let path = db("read-only-dir")
        .with_file_name("no-such-dir")
        .join("x.db");
    let err = SqliteStore::open(&path).unwrap_err();
    let StoreError::Backend {
        source, message, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(source.is_some(), "{err:?}");
    assert!(message.contains("no-such-dir"), "{message}");
    let chain = medborgarbudget::error_chain(&err);
    assert!(chain.starts_with("sqlite: creating"), "{chain}");
    assert!(chain.len() > err.to_string().len(), "{chain}");
}

#[test]
fn a_version_no_log_can_have_is_corrupt_not_an_empty_stream() {
    let path = db("corrupt-version");
    let store = SqliteStore::open(&path).unwrap();
    let s = StreamId::new("corrupt").unwrap();
    store
        .append(&s, 0, vec![NewEvent::json(&1).unwrap()])
        .unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "UPDATE streams SET version = -5 WHERE stream = 'corrupt'",
        [],
    )
    .unwrap();
    drop(c);
    // Before, the version read as 0: an empty stream, and the next append
    // would have started it again.
    let corrupt = |e: StoreError| {
        assert!(
            matches!(&e, StoreError::Corrupt { stream, version: -5, .. } if *stream == s),
            "{e}"
        );
    };
    corrupt(store.version(&s).unwrap_err());
    corrupt(store.streams().unwrap_err());
    corrupt(
        store
            .append(&s, 0, vec![NewEvent::json(&2).unwrap()])
            .unwrap_err(),
    );
}

#[test]
fn eight_processes_open_one_new_file_at_once() {
    if let (Ok(path), Ok(at)) = (
        std::env::var("MEDBORGARBUDGET_TEST_OPEN"),
        std::env::var("MEDBORGARBUDGET_TEST_AT"),
    ) {
        // A child: wait for the common start, open, append to a stream of its own.
        let at: u128 = at.parse().unwrap();
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        };
        while now() < at {
            std::hint::spin_loop();
        }
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let s = StreamId::new(format!("opener-{}", std::process::id())).unwrap();
        store
            .append(
                &s,
                0,
                vec![medborgarbudget::store::NewEvent {
                    schema: 2,
                    payload: "{}".into(),
                }],
            )
            .unwrap_or_else(|e| panic!("append: {e}"));
        return;
    }
    for round in 0..3 {
        let path = db(&format!("opened-{round}"));
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 300;
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "store_sqlite::eight_processes_open_one_new_file_at_once",
                        "--test-threads=1",
                        "--nocapture",
                    ])
                    .env("MEDBORGARBUDGET_TEST_OPEN", &path)
                    .env("MEDBORGARBUDGET_TEST_AT", at.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: a process could not open the new file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.streams().unwrap().len(), 8, "round {round}");
        assert_eq!(store.migrations().unwrap(), [1, 2]);
    }
}
