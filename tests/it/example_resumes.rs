//! The README's first command: the three-year programme on the SQLite file
//! store, run to the end, run again (complete), and killed with SIGKILL part way
//! and run again (it continues, and ends where an uninterrupted run ends).

#![cfg(all(unix, feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use medborgarbudget::ids::ProgrammeId;
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{Store, StoreExt, StreamId};

/// The example as `cargo test` built it (next to this test's own directory),
/// built now if this test was run on its own.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join("examples").join("three_year_programme");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "three_year_programme"])
            .status()
            .unwrap();
        assert!(status.success(), "building the example failed");
    }
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "medborgarbudget-example-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(db: &Path) -> String {
    let out = Command::new(example()).arg(db).output().unwrap();
    assert!(
        out.status.success(),
        "the example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What a run prints about the programme, without the lines about the store.
fn programme_part(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with("Stored in") && !l.starts_with("Continuing"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn stream() -> StreamId {
    StreamId::programme(ProgrammeId::from_u128(0x9B))
}

#[test]
fn a_finished_programme_is_reported_complete_and_not_changed() {
    let dir = scratch("complete");
    let db = dir.join("norrby.db");
    let first = run(&db);
    assert!(first.contains("credible         yes"), "{first}");
    assert!(dir.join("norrby.db.key").exists());
    let store = SqliteStore::open(&db).unwrap();
    let events = store.version(&stream()).unwrap();
    assert!(events > 2_000, "{events} events");
    drop(store);
    let again = run(&db);
    assert!(
        again.starts_with(&format!("The programme in {} is complete", db.display())),
        "{again}"
    );
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.version(&stream()).unwrap(), events);
    store.verify(&stream()).unwrap();
    // Without its key the stored pseudonyms cannot be matched: refused.
    drop(store);
    std::fs::remove_file(dir.join("norrby.db.key")).unwrap();
    let out = Command::new(example()).arg(&db).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is missing"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_stopped_midway_continues_where_it_stopped() {
    let dir = scratch("stopped");
    let reference = run(&dir.join("reference.db"));
    let db = dir.join("stopped.db");
    // The example ends abruptly, as a stopped machine would, once it has
    // written 40 events: a deterministic stop point early in the first year.
    let out = Command::new(example())
        .arg(&db)
        .env("MEDBORGARBUDGET_EXAMPLE_STOP_AFTER", "40")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_kill = SqliteStore::open(&db).unwrap().version(&stream()).unwrap();
    assert!((40..60).contains(&at_kill), "{at_kill} events stored");
    let resumed = run(&db);
    assert!(
        resumed.starts_with(&format!("Continuing the programme in {}", db.display())),
        "{resumed}"
    );
    assert_eq!(programme_part(&resumed), programme_part(&reference));
    let store = SqliteStore::open(&db).unwrap();
    let reference_store = SqliteStore::open(dir.join("reference.db")).unwrap();
    let verified = store.verify(&stream()).unwrap();
    assert!(verified.events >= at_kill);
    assert_eq!(
        verified.events,
        reference_store.version(&stream()).unwrap(),
        "events lost or written twice"
    );
    let _ = std::fs::remove_dir_all(dir);
}
