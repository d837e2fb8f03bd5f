//! Simulated programmes: scenarios from TOML and JSON, determinism, stores,
//! resuming a stored run, sweeps on one and two threads, and the command line.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use medborgarbudget::ballot::BallotKind;
use medborgarbudget::process::AnyCycle;
use medborgarbudget::sim::{Scenario, SimError, Simulation, Sweep, Trust, sweep, write_csv};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{JournalError, Store, StoreExt, StreamId, VoterKey};
use medborgarbudget::tally::Rule;

fn small() -> Scenario {
    Scenario {
        population: 2_000,
        ..Scenario::default()
    }
}

fn key() -> VoterKey {
    VoterKey::new(vec![7; 32]).unwrap()
}

#[test]
fn scenarios_read_from_toml_and_json_and_refuse_what_does_not_fit() {
    let s = Scenario::from_toml(
        r#"
        name = "Mixed"
        population = 3000
        trust = "medium"
        rule = "mes"
        [voting]
        ballot = "cumulative"
        points = 10
        "#,
    )
    .unwrap();
    assert_eq!(s.population, 3_000);
    assert_eq!(s.trust, Trust::Medium);
    assert_eq!(s.voting.ballot, BallotKind::Cumulative);
    assert_eq!(s.ideas, Scenario::default().ideas);
    let toml = s.to_toml().unwrap();
    assert_eq!(Scenario::from_toml(&toml).unwrap(), s);
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(Scenario::from_json(&json).unwrap(), s);
    for (bad, says) in [
        ("years = 2", "years = 2: at least 3"),
        (
            "rule = \"dice\"",
            "unknown rule \"dice\"; known rules: greedy",
        ),
        (
            "popilation = 4",
            "line 1, column 1: unknown field `popilation`",
        ),
        ("delivery = 1.5", "delivery = 1.5: a number from 0 to 1"),
        (
            "[[outreach]]\nchannel = \"school\"\ndescription = \"x\"\ngroups = [\"age=99\"]\ncoverage = 0.5\nboost = 2.0",
            "outreach[0].groups[0] = \"age=99\"",
        ),
    ] {
        let e = Scenario::from_toml(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn scenario_checks_cover_every_float_and_name_the_field() {
    // A NaN taste used to be accepted and fail later.
    let nan = "[[dimensions]]\nname = \"language\"\n[[dimensions.groups]]\nname = \"svenska\"\nshare = 0.5\n\
               [[dimensions.groups]]\nname = \"andra\"\nshare = 0.5\ntaste = [nan, 0.5]\n";
    match Scenario::from_toml(nan) {
        Err(SimError::Invalid { field, value, .. }) => {
            assert_eq!(field, "dimensions[0].groups[1].taste");
            assert_eq!(value, "[NaN, 0.5]");
        }
        other => panic!("{other:?}"),
    }
    for (text, field) in [
        ("feedback = inf", "feedback"),
        ("max_propensity = nan", "max_propensity"),
        ("propensity = -inf", "propensity"),
        ("[voting]\nradius = nan", "voting.radius"),
        ("[voting]\nnoise = inf", "voting.noise"),
        ("[ideas]\nrate = nan", "ideas.rate"),
        (
            "[[outreach]]\nchannel = \"school\"\ndescription = \"x\"\ncoverage = nan\nboost = 2.0",
            "outreach[0].coverage",
        ),
        (
            "[[outreach]]\nchannel = \"school\"\ndescription = \"x\"\ncoverage = 0.5\nboost = inf",
            "outreach[0].boost",
        ),
    ] {
        match Scenario::from_toml(text) {
            Err(SimError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn scenario_sizes_have_limits() {
    // A billion residents used to abort on a 96 GB allocation.
    match Scenario::from_toml("population = 1000000000") {
        Err(SimError::Limit {
            what, value, max, ..
        }) => {
            assert_eq!(what, "population");
            assert_eq!(value, 1_000_000_000);
            assert_eq!(max, u64::from(Scenario::MAX_POPULATION));
        }
        other => panic!("{other:?}"),
    }
    for (text, what) in [
        ("years = 51", "years"),
        ("population = 2000000\nyears = 10", "population × years"),
        ("[ideas]\nthemes = 4000000000", "ideas.themes"),
        ("[voting]\npoints = 4000000000", "voting.points"),
    ] {
        match Scenario::from_toml(text) {
            Err(SimError::Limit { what: w, .. }) => assert_eq!(w, what, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn sweep_sizes_have_limits() {
    for (first, count) in [
        (1, 0),
        (1, Sweep::MAX_PROGRAMMES + 1),
        (1, u64::MAX),
        (u64::MAX, 2),
    ] {
        assert!(
            matches!(
                Sweep::seeds_from(first, count),
                Err(SimError::Limit { value, .. }) if value == count
            ),
            "{first} + {count}"
        );
    }
    assert_eq!(Sweep::seeds_from(u64::MAX, 1).unwrap(), vec![u64::MAX]);
    assert_eq!(Sweep::seeds_from(5, 3).unwrap(), vec![5, 6, 7]);
    // 400 rules × 300 seeds: refused before a single programme runs or the
    // points are listed.
    let grid = Sweep {
        rules: vec![Rule::Greedy; 400],
        outreach: vec![true],
        seeds: (1..=300).collect(),
        ..Sweep::default()
    };
    assert_eq!(grid.size(), 120_000);
    let started = std::sync::atomic::AtomicUsize::new(0);
    let e = sweep(&grid, 1, &|_, _| {
        started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap_err();
    assert!(
        matches!(e, SimError::Limit { value: 120_000, max, .. } if max == Sweep::MAX_PROGRAMMES),
        "{e}"
    );
    assert_eq!(started.into_inner(), 0);
    let huge = Sweep {
        rules: vec![Rule::Greedy; 1 << 16],
        outreach: vec![true; 1 << 16],
        trust: vec![Trust::Low; 1 << 16],
        feedback: vec![0.1; 1 << 16],
        seeds: vec![1; 1 << 16],
        ..Sweep::default()
    };
    assert_eq!(huge.size(), u64::MAX);
    assert!(matches!(huge.check(), Err(SimError::Limit { .. })));
}

#[test]
fn every_ballot_kind_and_rule_runs_a_whole_programme() {
    for (ballot, rule) in [
        (BallotKind::Approval, "greedy"),
        (BallotKind::Approval, "mes"),
        (BallotKind::Knapsack, "phragmen"),
        (BallotKind::Cumulative, "greedy"),
        (BallotKind::Ranked, "greedy"),
    ] {
        let mut s = small();
        s.voting.ballot = ballot;
        s.rule = rule.parse().unwrap();
        let run = Simulation::new(&s, 11).unwrap().run_in_memory().unwrap();
        assert_eq!(run.years.len(), 3, "{ballot:?} {rule}");
        let report = run.programme.report().unwrap();
        assert!(report.credible, "{ballot:?} {rule}");
        for year in s.first_year..s.first_year + 3 {
            let Some(AnyCycle::Closed(c)) = run.programme.cycle(year) else {
                panic!("{year} not closed");
            };
            assert_eq!(c.decision().rule, rule);
            assert_eq!(c.rules().kind(), ballot);
            assert!(run.programme.follow_up(year).unwrap().is_some());
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_programme_in_any_store() {
    let s = small();
    let sim = Simulation::new(&s, 5).unwrap();
    let memory = sim.run(Arc::new(MemoryStore::new()), key()).unwrap();
    let dir = std::env::temp_dir().join(format!("medborgarbudget-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("same.db");
    let _ = std::fs::remove_file(&path);
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let stored = sim.run(sqlite.clone(), key()).unwrap();
    assert_eq!(memory.years, stored.years);
    assert_eq!(memory.programme, stored.programme);
    let stream = StreamId::programme(sim.programme_id().unwrap());
    let verified = sqlite.verify(&stream).unwrap();
    assert_eq!(verified.events, stored.events_written);
    // Again on the same store: every event checked, none written.
    let again = sim.run(sqlite.clone(), key()).unwrap();
    assert_eq!(again.events_written, 0);
    assert_eq!(again.events_checked + 1, stored.events_written);
    assert_eq!(again.years, stored.years);
    assert_eq!(sqlite.version(&stream).unwrap(), verified.events);
    // Another seed is another programme beside it.
    let other = Simulation::new(&s, 6)
        .unwrap()
        .run(sqlite.clone(), key())
        .unwrap();
    assert_ne!(other.years, stored.years);
    assert_eq!(sqlite.streams().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_cut_short_continues_and_a_different_run_is_refused() {
    let s = small();
    let sim = Simulation::new(&s, 9).unwrap();
    let full: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let whole = sim.run(full.clone(), key()).unwrap();
    // A store holding only the first half of the run, as a killed run leaves it.
    let stream = StreamId::programme(sim.programme_id().unwrap());
    let events = full.read_all(&stream, 0).unwrap();
    let half: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let cut = events.len() / 2;
    let new: Vec<_> = events[..cut]
        .iter()
        .map(|e| medborgarbudget::store::NewEvent {
            schema: e.schema,
            payload: e.payload.clone(),
        })
        .collect();
    half.append(&stream, 0, new).unwrap();
    let resumed = sim.run(half.clone(), key()).unwrap();
    assert_eq!(resumed.events_checked as usize, cut - 1);
    assert_eq!(resumed.events_written as usize, events.len() - cut);
    assert_eq!(resumed.years, whole.years);
    assert_eq!(
        half.version(&stream).unwrap(),
        full.version(&stream).unwrap()
    );
    // The same programme id with another voter key: the stored pseudonyms differ.
    let err = sim
        .run(full, VoterKey::new(vec![8; 32]).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, SimError::Store(JournalError::Diverged { .. })),
        "{err}"
    );
}

#[test]
fn feedback_and_outreach_move_turnout_the_documented_way() {
    let base = small();
    let mut none = base.clone();
    none.outreach.clear();
    none.feedback = 0.0;
    let mut strong = base.clone();
    strong.feedback = 2.0;
    let turnout = |s: &Scenario| -> Vec<u64> {
        (1..=4)
            .map(|seed| {
                let run = Simulation::new(s, seed).unwrap().run_in_memory().unwrap();
                run.years.iter().map(|y| y.voters).sum::<u64>()
            })
            .collect()
    };
    let (a, b, c) = (turnout(&none), turnout(&base), turnout(&strong));
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    assert!(sum(&a) < sum(&b), "outreach raises turnout: {a:?} vs {b:?}");
    assert!(sum(&b) < sum(&c), "feedback raises turnout: {b:?} vs {c:?}");
}

#[test]
fn sweeps_give_the_same_rows_on_one_and_two_threads() {
    let grid = Sweep {
        base: Scenario {
            population: 1_500,
            ..Scenario::default()
        },
        rules: vec![Rule::Greedy, Rule::Mes],
        outreach: vec![true, false],
        trust: vec![Trust::Low],
        feedback: vec![],
        seeds: vec![1, 2],
    };
    assert_eq!(grid.points().len(), 8);
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let one = sweep(&grid, 1, &|_, total| {
        assert_eq!(total, 8);
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(seen.into_inner(), 8);
    let two = sweep(&grid, 2, &|_, _| {}).unwrap();
    assert_eq!(one, two);
    assert_eq!(one.len(), 8 * 3);
    assert!(one.iter().all(|r| r.voters > 0 && r.turnout > 0.0));
    let mut csv = Vec::new();
    write_csv(&one, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + 24);
    assert!(csv.starts_with("rule,outreach,trust,feedback,seed,year,voters,turnout"));
    assert!(csv.lines().nth(1).unwrap().starts_with("greedy,true,low,"));
}

#[test]
fn simulate_and_report_on_the_command_line() {
    let dir = std::env::temp_dir().join(format!("medborgarbudget-sim-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("small.toml");
    std::fs::write(&scenario, "population = 2000\n").unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_medborgarbudget"))
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, first, err) = run(&["simulate", "--scenario", "small.toml", "--seed", "3"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(first.contains("store sqlite:medborgarbudget.db"), "{first}");
    let table: Vec<&str> = first.lines().filter(|l| l.starts_with("20")).collect();
    assert_eq!(table.len(), 3, "{first}");
    assert!(first.contains("events written"), "{first}");
    assert!(dir.join("medborgarbudget.db.key").exists());
    let (code, second, _) = run(&["simulate", "--scenario", "small.toml", "--seed", "3"]);
    assert_eq!(code, Some(0));
    assert!(second.contains("already stored"), "{second}");
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("20"))
            .map(String::from)
            .collect()
    };
    assert_eq!(rows(&first), rows(&second));
    let (code, out, err) = run(&["report", "--out", "report.html"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("wrote report.html"), "{out}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let (code, _, err) = run(&["simulate", "--years", "2", "--store", "memory"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("years = 2: at least 3"), "{err}");
    let (code, _, err) = run(&["simulate", "--store", "ftp:x"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, csv, err) = run(&[
        "sweep",
        "--scenario",
        "small.toml",
        "--programmes",
        "2",
        "--rules",
        "greedy",
        "--outreach",
        "true",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A store that counts its appends and, from the `fail_at`-th on, fails them
/// (a disk that fills, a process killed between two commits).
#[derive(Debug)]
struct Counting {
    inner: MemoryStore,
    appends: std::sync::atomic::AtomicUsize,
    fail_at: usize,
}

impl Store for Counting {
    fn append_as(
        &self,
        stream: &StreamId,
        expected: u64,
        events: Vec<medborgarbudget::store::NewEvent>,
        voter_key: Option<&medborgarbudget::store::KeyFingerprint>,
    ) -> Result<medborgarbudget::store::Appended, medborgarbudget::store::StoreError> {
        let n = self
            .appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n + 1 >= self.fail_at {
            return Err(medborgarbudget::store::StoreError::Tampered {
                stream: stream.clone(),
                evidence: medborgarbudget::store::Evidence::PastHead { recorded: expected },
            });
        }
        self.inner.append_as(stream, expected, events, voter_key)
    }
    fn read(
        &self,
        stream: &StreamId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<medborgarbudget::store::StoredEvent>, medborgarbudget::store::StoreError> {
        self.inner.read(stream, after, limit)
    }
    fn head(
        &self,
        stream: &StreamId,
    ) -> Result<Option<medborgarbudget::store::Head>, medborgarbudget::store::StoreError> {
        self.inner.head(stream)
    }
    fn streams(
        &self,
    ) -> Result<Vec<medborgarbudget::store::StreamInfo>, medborgarbudget::store::StoreError> {
        self.inner.streams()
    }
}

/// A simulated year's step is stored in one transaction, not one per
/// ballot; a run stopped between two commits stores whole steps only, and
/// running it again ends where an uninterrupted run ends.
#[test]
fn a_run_commits_once_per_step_and_resumes_from_the_last_commit() {
    let s = small();
    let sim = Simulation::new(&s, 3).unwrap();
    let counting = Arc::new(Counting {
        inner: MemoryStore::new(),
        appends: 0.into(),
        fail_at: usize::MAX,
    });
    let whole = sim.run(counting.clone(), key()).unwrap();
    let appends = counting.appends.load(std::sync::atomic::Ordering::Relaxed);
    let ballots: u64 = whole.years.iter().map(|y| y.voters).sum();
    // Established, then per year a start and seven steps, and the conclusion.
    assert!(appends <= 2 + 9 * s.years as usize, "{appends} appends");
    assert!((ballots as usize) > 10 * appends, "{ballots} ballots");
    let stream = StreamId::programme(sim.programme_id().unwrap());
    let all = counting.inner.read_all(&stream, 0).unwrap();

    // Stopped at the 10th commit: nine are stored, each a whole step.
    let stopped = Arc::new(Counting {
        inner: MemoryStore::new(),
        appends: 0.into(),
        fail_at: 10,
    });
    let err = sim.run(stopped.clone(), key()).unwrap_err();
    assert!(
        matches!(err, SimError::Store(JournalError::Store { .. })),
        "{err}"
    );
    let kept = stopped.inner.read_all(&stream, 0).unwrap();
    assert!(kept.len() > 1 && kept.len() < all.len());
    let payloads = |events: &[medborgarbudget::store::StoredEvent]| {
        events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>()
    };
    assert!(
        payloads(&kept) == payloads(&all[..kept.len()]),
        "a prefix of the whole run"
    );
    // The last event kept is one a step's last command makes.
    let step_ends = [
        "established",
        "cycle_started",
        "begin_outreach",
        "open_idea_generation",
        "begin_shortlisting",
        "open_voting",
        "voting_closed",
        "begin_follow_up",
        "close",
        "concluded",
    ];
    let last: medborgarbudget::process::ProgrammeEvent =
        serde_json::from_str(&kept[kept.len() - 1].payload).unwrap();
    assert!(
        step_ends.contains(&last.name()),
        "the store ends at a step's end: {}",
        last.name()
    );

    // Again, on what was kept: the same run.
    let again: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let new: Vec<_> = kept
        .iter()
        .map(|e| medborgarbudget::store::NewEvent {
            schema: e.schema,
            payload: e.payload.clone(),
        })
        .collect();
    again.append(&stream, 0, new).unwrap();
    let resumed = sim.run(again.clone(), key()).unwrap();
    assert_eq!(resumed.years, whole.years);
    assert_eq!(resumed.events_checked as usize, kept.len() - 1);
    assert_eq!(again.version(&stream).unwrap() as usize, all.len());
}
