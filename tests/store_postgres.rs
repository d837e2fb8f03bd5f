//! The conformance suite on PostgreSQL. The server is `MEDBORGARBUDGET_PG_URL`
//! (`.ci/run` sets it); each test works in a schema of its own, dropped at the
//! end. Without the variable the tests print that they were skipped — unless `CI`
//! is set, then they fail.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::Arc;

use medborgarbudget::store::conformance;
use medborgarbudget::store::postgres::PostgresStore;
use medborgarbudget::store::{Durability, Store, StreamId, Version};

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

#[test]
fn tampering_is_detected() {
    let Some(s) = Schema::new("tamper") else {
        return;
    };
    let (url, name) = (s.url.clone(), s.name.clone());
    conformance::tampering_is_detected(
        s.open(),
        &move |stream: &StreamId, version: Version, payload: &str| {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let n = c
                .execute(
                    &format!(
                        "UPDATE {name}.events SET payload = $1 WHERE stream = $2 AND version = $3"
                    ),
                    &[&payload, &stream.as_str(), &(version as i64)],
                )
                .unwrap();
            assert_eq!(n, 1);
        },
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
                "a_writer_killed_mid_append_leaves_a_loadable_log",
                "--test-threads=1",
            ])
            .env("MEDBORGARBUDGET_TEST_WRITER", id.to_string())
            .env("MEDBORGARBUDGET_TEST_SCHEMA", &s.name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
    assert_eq!(a.migrations().unwrap(), [1]);
    let b = PostgresStore::connect(&s.url, &s.name).unwrap();
    assert_eq!(b.migrations().unwrap(), [1]);
    assert!(PostgresStore::connect(&s.url, "Not-Valid").is_err());
}
