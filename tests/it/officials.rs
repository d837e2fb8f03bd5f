//! The officials' tools on the command line, on SQLite and PostgreSQL:
//! `audit verify` (chains, heads, seals and a replay through the rules) and
//! `audit export` (JSON lines per stream and a manifest of their heads).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{KeyFiles, NewEvent, Store, StoreExt, StreamId};
use sha2::{Digest, Sha256};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medborgarbudget"))
}

/// A scratch folder of its own, with a small scenario in it.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "medborgarbudget-officials-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.toml"), "population = 1500\n").unwrap();
    dir
}

/// Runs the tool in `dir` with `env`, checking that it did not panic.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let o = bin()
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(
        !text(&o.stderr).contains("panicked") && o.status.code() != Some(101),
        "{args:?}: {}",
        text(&o.stderr)
    );
    o
}

/// The run failed with exit code 1, saying `what` on standard error.
#[track_caller]
fn exits_1_saying(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains(what), "{}", text(&o.stderr));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A PostgreSQL schema of its own for one test, with fresh keys, dropped when
/// the test ends (even on failure).
#[cfg(feature = "postgres")]
struct Pg {
    url: String,
    schema: String,
    voter: String,
    log: String,
}

#[cfg(feature = "postgres")]
impl Pg {
    /// The schema for test `name`; `None` (the test is skipped, with a
    /// notice) without `MEDBORGARBUDGET_PG_URL`, unless `CI` is set.
    fn new(name: &str) -> Option<Pg> {
        use medborgarbudget::store::{LogKey, VoterKey};
        let Ok(url) = std::env::var("MEDBORGARBUDGET_PG_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but MEDBORGARBUDGET_PG_URL is not: the PostgreSQL tests must run"
            );
            println!("skipped: set MEDBORGARBUDGET_PG_URL to run the PostgreSQL tests");
            return None;
        };
        Some(Pg {
            url,
            schema: format!("mbtest_{}_{name}", std::process::id()),
            voter: VoterKey::random().to_hex(),
            log: LogKey::random().to_hex(),
        })
    }

    /// The `--store` argument.
    fn store(&self) -> String {
        let join = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{join}schema={}", self.url, self.schema)
    }

    /// The keys, as the tool reads them.
    fn env(&self) -> [(&str, &str); 2] {
        [
            ("MEDBORGARBUDGET_VOTER_KEY", self.voter.as_str()),
            ("MEDBORGARBUDGET_LOG_KEY", self.log.as_str()),
        ]
    }

    /// The store, opened as the tool opens it, and the voter key.
    fn open(
        &self,
    ) -> (
        std::sync::Arc<dyn medborgarbudget::store::Store>,
        medborgarbudget::store::VoterKey,
    ) {
        use medborgarbudget::store::postgres::PostgresStore;
        use medborgarbudget::store::{LogKey, VoterKey};
        let store = PostgresStore::connect(&self.url, &self.schema)
            .unwrap()
            .with_log_key(LogKey::from_hex(&self.log).unwrap());
        (
            std::sync::Arc::new(store),
            VoterKey::from_hex(&self.voter).unwrap(),
        )
    }
}

#[cfg(feature = "postgres")]
impl Drop for Pg {
    fn drop(&mut self) {
        use medborgarbudget::store::postgres::PostgresStore;
        if let Ok(s) = PostgresStore::connect(&self.url, &self.schema) {
            let _ = s.drop_schema();
        }
    }
}

/// `audit verify` passes on a sound store and `audit export` writes each
/// stream with a manifest whose heads and digests match the files.
fn verify_and_export(dir: &Path, env: &[(&str, &str)], store: &str) {
    let o = run(dir, env, &["audit", "verify", "--store", store]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("ok      programme-"), "{out}");
    assert!(out.contains("seal verified"), "{out}");
    assert!(
        out.contains("programme of 3 years: 3 cycles, 3 ended, concluded"),
        "{out}"
    );
    assert!(
        out.contains("every chain, head and replay verified"),
        "{out}"
    );

    let o = run(
        dir,
        env,
        &["audit", "export", "--store", store, "--out", "export"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("export/manifest.json")).unwrap()).unwrap();
    let streams = manifest["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{manifest}");
    let entry = &streams[0];
    let file = std::fs::read(dir.join("export").join(entry["file"].as_str().unwrap())).unwrap();
    assert_eq!(
        entry["sha256"],
        medborgarbudget::store::Hash(Sha256::digest(&file).into()).to_string()
    );
    let lines: Vec<serde_json::Value> = file
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let events = entry["events"].as_u64().unwrap();
    assert_eq!(lines.len() as u64, events + 1);
    // The last event's hash is the head, which the last line publishes.
    let last = &lines[lines.len() - 2];
    assert_eq!(last["version"], events);
    assert_eq!(last["hash"], entry["head"]["hash"]);
    assert_eq!(
        lines[lines.len() - 1]["head"]["hash"],
        entry["head"]["hash"]
    );
    assert_eq!(entry["head"]["sealed"], true);
    // The verify line names the same head.
    assert!(
        out.contains(entry["head"]["hash"].as_str().unwrap()),
        "{out}"
    );

    // An export never mixes with another.
    let o = run(
        dir,
        env,
        &["audit", "export", "--store", store, "--out", "export"],
    );
    exits_1_saying(&o, "is not empty");
}

#[test]
fn audit_verifies_and_exports_an_sqlite_store_and_finds_tampering() {
    let dir = folder("sqlite");
    let o = run(&dir, &[], &["simulate", "--scenario", "small.toml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    verify_and_export(&dir, &[], "sqlite:medborgarbudget.db");

    // An event's payload changed in place: its hash no longer matches.
    let db = rusqlite::Connection::open(dir.join("medborgarbudget.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE events SET payload = replace(payload, 'e', 'E') WHERE version = 10",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let o = run(&dir, &[], &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains("BROKEN  programme-"), "{out}");
    assert!(out.contains("event 10"), "{out}");
    assert!(
        text(&o.stderr).contains("1 of 1 stream broken"),
        "{}",
        text(&o.stderr)
    );
    // A broken store is not exported.
    let o = run(&dir, &[], &["audit", "export", "--out", "second"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("second/manifest.json").exists());

    // Missing stores are not created.
    let o = run(&dir, &[], &["audit", "verify", "--store", "sqlite:none.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("none.db").exists());
}

/// Events whose chain, head and seal are all sound but which break the rules
/// (an event left out, everything after it chained anew by a writer holding
/// the keys) are found by the replay.
#[test]
fn audit_replays_a_well_chained_store_through_the_rules() {
    let dir = folder("replay");
    let o = run(&dir, &[], &["simulate", "--scenario", "small.toml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let source = SqliteStore::open(dir.join("medborgarbudget.db")).unwrap();
    let stream: StreamId = source.streams().unwrap()[0].stream.clone();
    let events = source.read_all(&stream, 0).unwrap();
    // The copy, in a store of its own with keys of its own.
    let copy = dir.join("copy.db");
    let store = SqliteStore::open(&copy).unwrap();
    let files = KeyFiles::beside(&copy);
    files.voter_key(true).unwrap();
    let store = store.with_log_key(files.log_key(true).unwrap().unwrap());
    let rewritten: Vec<NewEvent> = events
        .iter()
        .filter(|e| e.version != 3)
        .map(|e| NewEvent {
            schema: e.schema,
            payload: e.payload.clone(),
        })
        .collect();
    store.append(&stream, 0, rewritten).unwrap();
    assert!(store.verify(&stream).unwrap().sealed);
    let o = run(&dir, &[], &["audit", "verify", "--store", "sqlite:copy.db"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains("BROKEN  programme-"), "{out}");
    assert!(out.contains("break"), "{out}");
}

#[test]
#[cfg(feature = "postgres")]
fn audit_verifies_and_exports_a_postgresql_store_and_finds_tampering() {
    let Some(pg) = Pg::new("officials") else {
        return;
    };
    let (store, env, schema, url) = (pg.store(), pg.env(), &pg.schema, &pg.url);
    let dir = folder("postgres");
    let o = run(
        &dir,
        &env,
        &["simulate", "--scenario", "small.toml", "--store", &store],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    verify_and_export(&dir, &env, &store);

    // Without the log key the heads are compared but not sealed.
    let o = run(&dir, &[], &["audit", "verify", "--store", &store]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("seal not checked"));

    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let changed = client
        .execute(
            &format!(
                "UPDATE {schema}.events SET payload = replace(payload, 'e', 'E') WHERE version = 10"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let o = run(&dir, &env, &["audit", "verify", "--store", &store]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("BROKEN  programme-") && out.contains("event 10"),
        "{out}"
    );
}

/// An SQLite store `medborgarbudget.db` in `dir` with its keys beside it, as
/// the tool creates them.
fn keyed_sqlite(
    dir: &Path,
) -> (
    std::sync::Arc<dyn medborgarbudget::store::Store>,
    medborgarbudget::store::VoterKey,
) {
    let path = dir.join("medborgarbudget.db");
    let files = KeyFiles::beside(&path);
    let voter = files.voter_key(true).unwrap();
    let store = SqliteStore::open(&path)
        .unwrap()
        .with_log_key(files.log_key(true).unwrap().unwrap());
    (std::sync::Arc::new(store), voter)
}

/// The shared test programme established in `store`, its first year
/// started: the repository that wrote it, and its id.
fn first_year_started(
    store: std::sync::Arc<dyn medborgarbudget::store::Store>,
    voter: medborgarbudget::store::VoterKey,
) -> (
    medborgarbudget::store::Repository<medborgarbudget::process::Programme>,
    medborgarbudget::ids::ProgrammeId,
) {
    use crate::common::{FIRST, programme_setup, yday};
    use medborgarbudget::ids::CycleId;
    use medborgarbudget::process::{ProgrammeCommand, ProgrammeEvent};

    let mut repo = medborgarbudget::store::Repository::new(store, voter);
    let setup = programme_setup(3, false);
    let id = setup.id;
    repo.create(id, ProgrammeEvent::Established(setup)).unwrap();
    repo.execute(
        id,
        ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(1),
            year: FIRST,
            at: yday(FIRST, 0),
        },
    )
    .unwrap();
    (repo, id)
}

/// `status` tells, year by year, what each step still needs: a programme in
/// its first year's criteria step lacks its ballot rules and criteria, then
/// is ready to begin outreach; later years are not started, and the
/// programme cannot be concluded yet. `store` holds nothing yet; `arg` and
/// `env` name it to the tool.
fn status_flow(
    dir: &Path,
    env: &[(&str, &str)],
    arg: &str,
    (store, voter): (
        std::sync::Arc<dyn medborgarbudget::store::Store>,
        medborgarbudget::store::VoterKey,
    ),
) {
    use crate::common::{FIRST, allocation, approval_rules, criteria};
    use medborgarbudget::area::Eligibility;
    use medborgarbudget::process::{Command, ProgrammeCommand};

    let (mut repo, id) = first_year_started(store, voter);
    let cycle = |command| ProgrammeCommand::Cycle {
        year: FIRST,
        command,
    };
    for command in [
        cycle(Command::SetBudget(allocation(1_000_000))),
        cycle(Command::SetEligibility(Eligibility::residents_aged(12))),
    ] {
        repo.execute(id, command).unwrap();
    }
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--store", arg, "--at", "2027-02-01T00:00:00Z"];
        args.extend_from_slice(extra);
        run(dir, env, &args)
    };
    let o = status(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("programme {id}")), "{out}");
    assert!(
        out.contains(
            "2027  step 1, Criteria (Kriterier): before `begin_outreach` it needs 2 things:"
        ),
        "{out}"
    );
    assert!(
        out.contains("  - ballot rules have not been fixed"),
        "{out}"
    );
    assert!(out.contains("  - criteria have not been fixed"), "{out}");
    assert!(!out.contains("no budget"), "{out}");
    assert!(
        out.contains("2028  not started: the next `start_cycle`"),
        "{out}"
    );
    assert!(out.contains("2029  not started\n"), "{out}");
    assert!(out.contains("cannot be concluded yet"), "{out}");

    for command in [
        cycle(Command::SetBallotRules(approval_rules())),
        cycle(Command::SetCriteria {
            criteria: criteria(),
        }),
    ] {
        repo.execute(id, command).unwrap();
    }
    let o = status(&[]);
    let out = text(&o.stdout);
    assert!(
        out.contains("2027  step 1, Criteria (Kriterier): ready for `begin_outreach`"),
        "{out}"
    );
    // One programme asked for by id; an unknown one is an error.
    let o = status(&["--programme", &id.to_string()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = status(&["--programme", "00000000-0000-0000-0000-000000000001"]);
    exits_1_saying(&o, "no programme");
}

#[test]
fn status_says_what_each_year_still_needs_on_sqlite() {
    let dir = folder("status");
    let store = keyed_sqlite(&dir);
    status_flow(&dir, &[], "sqlite:medborgarbudget.db", store);
}

#[test]
#[cfg(feature = "postgres")]
fn status_says_what_each_year_still_needs_on_postgresql() {
    let Some(pg) = Pg::new("status") else {
        return;
    };
    status_flow(&folder("status-pg"), &pg.env(), &pg.store(), pg.open());
}

/// The documented setup and first commands (`docs/officials/`).
fn officials_doc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/officials")
        .join(name)
}

/// A line of the documented year with a field misspelt, one that breaks a
/// rule (shortlisting with no idea), one that is fine, and one not JSON.
const BAD_LINES: &str = r#"{"cycle": {"year": 2027, "command": {"submit_idea": {"id": "3d2c1b0a-0000-4000-8000-000000000001", "author": {"id": "00000000-0000-0000-0000-000000000006", "born": "1956-09-15", "residence": {"area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2011-01-01"}, "groups": {}}, "co_author": [], "title": "Benches", "description": "Benches by the pond", "submitted_at": "2027-02-19T10:00:00Z"}}}}
{"cycle": {"year": 2027, "command": {"begin_shortlisting": {"at": "2027-03-20T10:00:00Z"}}}}

{"cycle": {"year": 2027, "command": {"submit_idea": {"id": "3d2c1b0a-0000-4000-8000-000000000001", "author": {"id": "00000000-0000-0000-0000-000000000006", "born": "1956-09-15", "residence": {"area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2011-01-01"}, "groups": {}}, "title": "Benches", "description": "Benches by the pond", "submitted_at": "2027-02-19T10:00:00Z"}}}}
{not json
"#;

/// `programme new` and `apply` on `store`: a dry run stores nothing, a run
/// stores every accepted line, a misspelt field is refused naming the field
/// and the line, a rule broken is refused naming the rule, the first refusal
/// stops the run unless --keep-going, and a refused line changes nothing.
fn new_and_apply(dir: &Path, env: &[(&str, &str)], store: &str) {
    let setup = officials_doc("setup.json");
    let year = officials_doc("year-2027.jsonl");
    let establish = || {
        run(
            dir,
            env,
            &[
                "programme",
                "new",
                "--store",
                store,
                "--setup",
                setup.to_str().unwrap(),
            ],
        )
    };
    let o = establish();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let id = out
        .strip_prefix("programme ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        out.contains("established: Norrby, 2027–2029 (3 years)"),
        "{out}"
    );
    let events = |dir: &Path| {
        let o = run(dir, env, &["audit", "verify", "--store", store]);
        assert!(o.status.success(), "{}", text(&o.stdout));
        let out = text(&o.stdout);
        // "1 stream, N events: every chain, head and replay verified"
        let summary = out.lines().last().unwrap();
        summary
            .split_once(", ")
            .and_then(|(_, rest)| rest.split_once(" events"))
            .map(|(n, _)| n.parse::<u64>().unwrap())
            .unwrap()
    };
    assert_eq!(events(dir), 1);

    let apply = |extra: &[&str], file: &str| {
        let mut args = vec!["apply", "--store", store, "--programme", &id];
        args.extend_from_slice(extra);
        args.push(file);
        run(dir, env, &args)
    };
    let o = apply(&["--dry-run"], year.to_str().unwrap());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("year-2027.jsonl:8: accepted: 2027 open_idea_generation"),
        "{out}"
    );
    assert!(
        out.contains("8 accepted, 0 refused; dry run: nothing stored"),
        "{out}"
    );
    assert_eq!(events(dir), 1, "a dry run stores nothing");

    let o = apply(&[], year.to_str().unwrap());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(events(dir), 9);

    std::fs::write(dir.join("bad.jsonl"), BAD_LINES).unwrap();
    let o = apply(&[], "bad.jsonl");
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("bad.jsonl:1: refused: not a command: column")
            && out.contains("unknown field `co_author`"),
        "{out}"
    );
    assert!(
        !out.contains("bad.jsonl:2"),
        "the first refusal stops the run: {out}"
    );
    assert!(
        text(&o.stderr).contains("0 accepted, 1 refused, 3 not applied after the first refusal"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(events(dir), 9, "nothing stored");

    let o = apply(&["--keep-going", "--dry-run"], "bad.jsonl");
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(
        out.contains("bad.jsonl:2: refused: 2027 begin_shortlisting"),
        "{out}"
    );
    assert!(out.contains("no admissible idea"), "{out}");
    assert!(
        out.contains("bad.jsonl:4: accepted: 2027 submit_idea"),
        "{out}"
    );
    assert!(out.contains("bad.jsonl:5: refused: not a command"), "{out}");
    assert_eq!(events(dir), 9, "a dry run stores nothing");

    let o = apply(&["--keep-going"], "bad.jsonl");
    exits_1_saying(&o, "1 accepted, 3 refused; the accepted lines are stored");
    assert_eq!(events(dir), 10);

    // Establishing it again, or applying to a programme the store lacks.
    let o = establish();
    assert!(
        o.status.success(),
        "a new id each time: {}",
        text(&o.stderr)
    );
    let o = run(
        dir,
        env,
        &[
            "apply",
            "--store",
            store,
            "--programme",
            "00000000-0000-0000-0000-000000000001",
            "bad.jsonl",
        ],
    );
    exits_1_saying(&o, "no programme");
}

#[test]
fn programme_new_and_apply_on_sqlite() {
    let dir = folder("apply");
    new_and_apply(&dir, &[], "sqlite:medborgarbudget.db");
    // A store that is not there is not created by apply.
    let o = run(
        &dir,
        &[],
        &[
            "apply",
            "--store",
            "sqlite:none.db",
            "--programme",
            "00000000-0000-0000-0000-000000000001",
            "bad.jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!dir.join("none.db").exists());
    // A setup with a misspelt field is refused, naming it.
    std::fs::write(
        dir.join("typo.json"),
        r#"{"area": {"id": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "name": "N", "population": 10}, "currency": "SEK", "first_year": 2027, "yeras": 3}"#,
    )
    .unwrap();
    let o = run(&dir, &[], &["programme", "new", "--setup", "typo.json"]);
    exits_1_saying(&o, "unknown field `yeras`");
    // A setup past its limit is refused before it is read whole.
    std::fs::write(dir.join("big.json"), vec![b' '; (1 << 20) + 1]).unwrap();
    let o = run(&dir, &[], &["programme", "new", "--setup", "big.json"]);
    exits_1_saying(&o, "a setup file may have at most 1048576 bytes");
    // Two years is not a programme.
    std::fs::write(
        dir.join("short.json"),
        r#"{"area": {"id": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "name": "N", "population": 10}, "currency": "SEK", "first_year": 2027, "years": 2}"#,
    )
    .unwrap();
    let o = run(&dir, &[], &["programme", "new", "--setup", "short.json"]);
    exits_1_saying(
        &o,
        "short.json: a programme must commit to at least 3 years, not 2",
    );
}

#[test]
#[cfg(feature = "postgres")]
fn programme_new_and_apply_on_postgresql() {
    let Some(pg) = Pg::new("apply") else {
        return;
    };
    new_and_apply(&folder("apply-pg"), &pg.env(), &pg.store());
}

/// A programme in `store` whose first year is voting (days 60–74 of 2027;
/// three projects on the shortlist, approval ballots of at most three).
fn voting_programme(
    store: std::sync::Arc<dyn medborgarbudget::store::Store>,
    voter: medborgarbudget::store::VoterKey,
) -> medborgarbudget::ids::ProgrammeId {
    use crate::common::{FIRST, commands_to_voting};
    use medborgarbudget::process::ProgrammeCommand;

    let (mut repo, id) = first_year_started(store, voter);
    for command in commands_to_voting(FIRST) {
        repo.execute(
            id,
            ProgrammeCommand::Cycle {
                year: FIRST,
                command,
            },
        )
        .unwrap();
    }
    id
}

/// `ballots import` on `store` (holding [`voting_programme`]): refused rows
/// are named by line and nothing is stored; with --skip-invalid the others
/// are stored as one batch and the refused ones written out; the same file
/// again adds nothing; an unknown column is refused.
fn import_paper(dir: &Path, env: &[(&str, &str)], store: &str, id: &str) {
    use crate::common::{FIRST, project_id, yday};
    let cast = yday(FIRST, 62).to_rfc3339();
    let cast_day = yday(FIRST, 63).date_naive();
    let csv = format!(
        "voter,born,resident_since,groups,choices,cast_on\n\
         00000000-0000-0000-0000-00000000a001,1980-04-02,2015-06-01,age=18-64,1 2,{cast}\n\
         00000000-0000-0000-0000-00000000a002,1990-01-01,2020-01-01,,{p3},{cast_day}\n\
         00000000-0000-0000-0000-00000000a003,2020-01-01,2020-01-01,age=0-11,1,{cast}\n\
         00000000-0000-0000-0000-00000000a004,1970-01-01,2010-01-01,,7,{cast}\n\
         00000000-0000-0000-0000-00000000a001,1980-04-02,2015-06-01,age=18-64,3,{cast}\n",
        p3 = project_id(3).as_uuid()
    );
    std::fs::write(dir.join("paper.csv"), csv).unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "ballots",
            "import",
            "--store",
            store,
            "--programme",
            id,
            "--year",
            "2027",
            "--entered-by",
            "Anna Official",
            "--entered-at",
            "2027-03-30T12:00:00Z",
        ];
        args.extend_from_slice(extra);
        args.push("paper.csv");
        run(dir, env, &args)
    };
    let events = || {
        let o = run(dir, env, &["audit", "verify", "--store", store]);
        assert!(o.status.success(), "{}", text(&o.stdout));
        text(&o.stdout)
            .lines()
            .last()
            .and_then(|l| l.split_once(", "))
            .and_then(|(_, rest)| rest.split_once(" events"))
            .map(|(n, _)| n.parse::<u64>().unwrap())
            .unwrap()
    };
    // Status gives the numbers the file uses.
    let o = run(
        dir,
        env,
        &["status", "--store", store, "--at", "2027-03-20T00:00:00Z"],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("2027  step 5, Voting (Röstning): before `close_voting`"),
        "{out}"
    );
    assert!(
        out.contains("on the ballot: 3 Project 3 (00000000-0000-0000-0000-000000000003)"),
        "{out}"
    );
    let before = events();
    let o = import(&["--dry-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("3 of 5 rows refused; nothing stored"),
        "{}",
        text(&o.stderr)
    );
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let out = text(&o.stdout);
    assert!(
        out.contains("paper.csv:4: refused:")
            && out.contains("paper.csv:5: refused: choices: no project 7"),
        "{out}"
    );
    assert!(
        out.contains("paper.csv:6: refused:") && out.contains("has already voted"),
        "{out}"
    );
    assert!(out.contains("the minimum age is 12"), "{out}");
    assert!(
        !out.contains("paper.csv:2:") && !out.contains("paper.csv:3:"),
        "{out}"
    );
    assert!(
        text(&o.stderr).contains("3 of 5 rows refused; nothing stored"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(events(), before);

    let o = import(&["--skip-invalid"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout)
            .contains("2 of 5 paper ballots stored as one batch entered by Anna Official for 2027"),
        "{}",
        text(&o.stdout)
    );
    // One event per ballot of the batch.
    assert_eq!(events(), before + 2);
    let refused = std::fs::read_to_string(dir.join("paper.csv.refused.csv")).unwrap();
    let rows: Vec<&str> = refused.lines().collect();
    assert_eq!(rows.len(), 4, "{refused}");
    assert!(rows[0].ends_with(",line,error"), "{refused}");
    assert!(rows[2].contains(",5,choices: no project 7"), "{refused}");

    // The same file again: its ballots are the same ballots (the same ids).
    let o = import(&["--skip-invalid"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("no ballot to store"), "{out}");
    for line in [2, 3] {
        let refusal = out
            .lines()
            .find(|l| l.starts_with(&format!("paper.csv:{line}: refused:")))
            .unwrap_or_else(|| panic!("line {line}: {out}"));
        assert!(
            refusal.contains("is already used in this cycle"),
            "{refusal}"
        );
    }
    assert_eq!(events(), before + 2);

    std::fs::write(
        dir.join("paper.csv"),
        "voter,born,resident_since,choice,cast_on\n",
    )
    .unwrap();
    let o = import(&[]);
    exits_1_saying(&o, "paper.csv:1: unknown column \"choice\"");
}

#[test]
fn paper_ballots_import_from_csv_on_sqlite() {
    let dir = folder("paper");
    let (store, voter) = keyed_sqlite(&dir);
    let id = voting_programme(store, voter);
    import_paper(&dir, &[], "sqlite:medborgarbudget.db", &id.to_string());
}

#[test]
#[cfg(feature = "postgres")]
fn paper_ballots_import_from_csv_on_postgresql() {
    let Some(pg) = Pg::new("paper") else {
        return;
    };
    let (store, voter) = pg.open();
    let id = voting_programme(store, voter);
    import_paper(&folder("paper-pg"), &pg.env(), &pg.store(), &id.to_string());
}

/// The documented year of several budget parts, through the command line:
/// parts, part voting and texts in two languages from JSON lines, paper
/// ballots with `part` and `lives_in`, a ballot in a part its voter may not
/// vote in refused naming the part and the voter as the file names them, and
/// the count per part.
fn year_of_parts(dir: &Path, env: &[(&str, &str)], store: &str) {
    let o = run(
        dir,
        env,
        &[
            "programme",
            "new",
            "--store",
            store,
            "--setup",
            officials_doc("parts-setup.json").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let id = out
        .strip_prefix("programme ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let apply = |file: &Path| {
        run(
            dir,
            env,
            &[
                "apply",
                "--store",
                store,
                "--programme",
                &id,
                file.to_str().unwrap(),
            ],
        )
    };
    let o = apply(&officials_doc("parts-2027.jsonl"));
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("54 accepted, 0 refused"),
        "{}",
        text(&o.stdout)
    );

    let ballots = officials_doc("parts-ballots.csv");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "ballots",
            "import",
            "--store",
            store,
            "--programme",
            &id,
            "--year",
            "2027",
            "--entered-by",
            "Anna Berg",
            "--entered-at",
            "2027-04-10T12:00:00Z",
        ];
        args.extend_from_slice(extra);
        args.push(ballots.to_str().unwrap());
        run(dir, env, &args)
    };
    // The last row: a resident of Hjällbo in Hammarkullen's part.
    let o = import(&[]);
    exits_1_saying(&o, "");
    let out = text(&o.stdout);
    assert!(
        out.contains("parts-ballots.csv:26: refused")
            && out.contains("voter 00000000-0000-0000-0000-000000000001 may not vote in budget part hammarkullen"),
        "{out}"
    );
    let refused = dir.join("refused.csv");
    let o = import(&["--skip-invalid", "--refused", refused.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("24 of 25 paper ballots stored"),
        "{}",
        text(&o.stdout)
    );

    // Close the vote: each part counted alone (greedy; at least two votes).
    let close = dir.join("close.jsonl");
    std::fs::write(
        &close,
        r#"{"cycle": {"year": 2027, "command": {"close_voting": {"at": "2027-04-16T00:00:00Z"}}}}
"#,
    )
    .unwrap();
    let o = apply(&close);
    assert!(o.status.success(), "{}", text(&o.stdout));
    let o = run(
        dir,
        env,
        &["status", "--store", store, "--at", "2027-04-17T00:00:00Z"],
    );
    let out = text(&o.stdout);
    assert!(out.contains("Implementation"), "{out}");
    let o = run(dir, env, &["audit", "verify", "--store", store]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    let report = dir.join("report.html");
    let o = run(
        dir,
        env,
        &[
            "report",
            "--store",
            store,
            "--lang",
            "sv",
            "--out",
            report.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<h3>Budgetdelar</h3>") && html.contains("Hammarkullen"),
        "parts in the report"
    );
    assert!(
        html.contains("lang=\"ar\" dir=\"rtl\""),
        "Arabic titles marked right to left"
    );
}

#[test]
fn a_year_of_several_parts_from_the_command_line() {
    year_of_parts(&folder("parts"), &[], "sqlite:medborgarbudget.db");
}

#[test]
#[cfg(feature = "postgres")]
fn a_year_of_several_parts_from_the_command_line_on_postgresql() {
    let Some(pg) = Pg::new("parts") else {
        return;
    };
    year_of_parts(&folder("parts-pg"), &pg.env(), &pg.store());
}
