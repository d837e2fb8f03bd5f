//! The conformance suite on PostgreSQL. The server is `MEDBORGARBUDGET_PG_URL`
//! (`.ci/run` sets it); each test works in a schema of its own, dropped at the
//! end. Without the variable the tests print that they were skipped — unless `CI`
//! is set, then they fail.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;

use medborgarbudget::store::conformance::{self, Tamper};
use medborgarbudget::store::postgres::PostgresStore;
use medborgarbudget::store::{Durability, Hash, Seal, Store, StoredEvent, StreamId, Version};

fn url() -> Option<String> {
    match std::env::var("MEDBORGARBUDGET_PG_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but MEDBORGARBUDGET_PG_URL is not: the PostgreSQL tests must run"
            );
            println!("skipped: set MEDBORGARBUDGET_PG_URL to run the PostgreSQL tests");
            None
        }
    }
}

/// A schema for one test, dropped when the test ends (even on failure).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        let url = url()?;
        let name = format!("mbtest_{}_{test}", std::process::id());
        Some(Schema { url, name })
    }

    fn open(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::connect(&self.url, &self.name).unwrap())
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if std::env::var_os("MEDBORGARBUDGET_TEST_WRITER").is_some() {
            return; // the child of the kill test leaves cleaning to its parent
        }
        if let Ok(store) = PostgresStore::connect(&self.url, &self.name) {
            let _ = store.drop_schema();
        }
    }
}

#[test]
fn append_and_read() {
    let Some(s) = Schema::new("append") else {
        return;
    };
    conformance::append_and_read(s.open().as_ref());
}

#[test]
fn conflicts() {
    let Some(s) = Schema::new("conflicts") else {
        return;
    };
    conformance::conflicts(s.open().as_ref());
}

#[test]
fn eight_writers_ten_thousand_ballots_each() {
    let Some(s) = Schema::new("concurrent") else {
        return;
    };
    // Writers to one stream take turns, one commit at a time: with commits that
    // wait for the disk (≈2.4 ms here) the test alone would take minutes. What it
    // checks is the concurrency, so it commits without waiting for the disk.
    let store = Arc::new(PostgresStore::connect_with(&s.url, &s.name, Durability::Normal).unwrap());
    let took = conformance::concurrent_ballots(store, 8, 10_000);
    println!("postgres: 80,000 ballots from 8 writers in {took:?}");
}

#[test]
fn replay_equals_live() {
    let Some(s) = Schema::new("replay") else {
        return;
    };
    conformance::replay_equals_live(s.open());
}

/// The schema edited with plain SQL, as anyone who can write to it can.
struct Sql {
    url: String,
    schema: String,
}

impl Sql {
    fn run(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        c.execute(&sql.replace("{s}", &self.schema), params)
            .unwrap();
    }
}

impl Tamper for Sql {
    fn put_event(&self, e: &StoredEvent) {
        self.run(
            "INSERT INTO {s}.events (stream, version, schema, recorded_at, payload, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (stream, version) DO UPDATE SET schema = excluded.schema,
                 recorded_at = excluded.recorded_at, payload = excluded.payload,
                 prev_hash = excluded.prev_hash, hash = excluded.hash",
            &[
                &e.stream.as_str(),
                &(e.version as i64),
                &(e.schema as i32),
                &e.recorded_at.timestamp_micros(),
                &e.payload,
                &&e.prev_hash.0[..],
                &&e.hash.0[..],
            ],
        );
    }

    fn delete_events_after(&self, stream: &StreamId, version: Version) {
        self.run(
            "DELETE FROM {s}.events WHERE stream = $1 AND version > $2",
            &[&stream.as_str(), &(version as i64)],
        );
    }

    fn put_head(&self, stream: &StreamId, head: Option<(Version, Hash, Option<Seal>)>) {
        match head {
            None => self.run(
                "DELETE FROM {s}.streams WHERE stream = $1",
                &[&stream.as_str()],
            ),
            Some((version, hash, seal)) => self.run(
                "UPDATE {s}.streams SET version = $2, head = $3, seal = $4 WHERE stream = $1",
                &[
                    &stream.as_str(),
                    &(version as i64),
                    &&hash.0[..],
                    &seal.as_ref().map(|s| &s.0[..]),
                ],
            ),
        }
    }
}

#[test]
fn tampering_is_detected() {
    let Some(s) = Schema::new("tamper") else {
        return;
    };
    conformance::tampering_is_detected(
        &|key| {
            let store = PostgresStore::connect(&s.url, &s.name).unwrap();
            Arc::new(match key {
                Some(key) => store.with_log_key(key),
                None => store,
            })
        },
        &Sql {
            url: s.url.clone(),
            schema: s.name.clone(),
        },
    );
}

#[test]
fn a_missing_database_is_named_at_once() {
    let Some(url) = url() else {
        return;
    };
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let missing = format!("{base}/mb_no_such_database_{}", std::process::id());
    // Before, the pool waited 30 s and said "timed out waiting for connection".
    let err = PostgresStore::connect(&missing, "medborgarbudget").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("mb_no_such_database_{}", std::process::id()))
            && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn closing_and_reopening_gives_the_same_state() {
    let Some(s) = Schema::new("reopen") else {
        return;
    };
    conformance::survives_reopen(&|| s.open());
}

#[test]
fn a_writer_killed_mid_append_leaves_a_loadable_log() {
    if let (Ok(id), Ok(url), Ok(schema)) = (
        std::env::var("MEDBORGARBUDGET_TEST_WRITER"),
        std::env::var("MEDBORGARBUDGET_PG_URL"),
        std::env::var("MEDBORGARBUDGET_TEST_SCHEMA"),
    ) {
        let store = Arc::new(PostgresStore::connect(&url, &schema).unwrap());
        conformance::write_until_killed(store, id.parse().unwrap());
        return;
    }
    let Some(s) = Schema::new("killed") else {
        return;
    };
    conformance::killed_writer_leaves_a_loadable_log(&|| s.open(), &|id| {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store_postgres::a_writer_killed_mid_append_leaves_a_loadable_log",
                "--test-threads=1",
            ])
            .env("MEDBORGARBUDGET_TEST_WRITER", id.to_string())
            .env("MEDBORGARBUDGET_TEST_SCHEMA", &s.name)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
}

#[test]
fn migrations_are_recorded_once() {
    let Some(s) = Schema::new("migrations") else {
        return;
    };
    let a = PostgresStore::connect(&s.url, &s.name).unwrap();
    assert_eq!(a.migrations().unwrap(), [1, 2]);
    let b = PostgresStore::connect(&s.url, &s.name).unwrap();
    assert_eq!(b.migrations().unwrap(), [1, 2]);
    assert!(PostgresStore::connect(&s.url, "Not-Valid").is_err());
}
