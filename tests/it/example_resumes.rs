//! The README's first command: the three-year programme on the SQLite file
//! store, run to the end, run again (complete), and killed with SIGKILL part way
//! and run again (it continues, and ends where an uninterrupted run ends).

#![cfg(all(unix, feature = "sqlite"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
fn a_killed_run_continues_where_it_stopped() {
    let dir = scratch("killed");
    let reference = run(&dir.join("reference.db"));
    let db = dir.join("killed.db");
    // Kill it once some events are committed, early in the first year: one
    // reader connection, polled without pause (the run takes well under a
    // second). On a loaded machine the run can outpace the poller; then it is
    // started again on a fresh file, a few times at most.
    let mut at_kill = 0;
    let mut killed = false;
    for _ in 0..5 {
        for suffix in ["", "-wal", "-shm", ".key", ".log-key"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let mut child = Command::new(example())
            .arg(&db)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut reader = None;
        at_kill = 0;
        while started.elapsed() < Duration::from_secs(120) {
            if reader.is_none() && db.exists() {
                reader = SqliteStore::open(&db).ok();
            }
            if let Some(store) = &reader {
                at_kill = store.version(&stream()).unwrap_or(0);
            }
            if at_kill >= 20 || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::yield_now();
        }
        child.kill().unwrap();
        if !child.wait().unwrap().success() {
            killed = true;
            break;
        }
    }
    assert!(
        killed,
        "the example finished before it could be killed, five times"
    );
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
