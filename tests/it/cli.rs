//! The command-line tool: outputs, exit codes (0 done, 1 bad input or a write
//! that failed, 2 bad usage), `check`'s `file:line: problem` lines, closed
//! pipes and full disks, limits on every size, and stores that would keep
//! nothing.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medborgarbudget"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medborgarbudget-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SMALL: &str = "META\nkey;value\ndescription;test\nnum_projects;3\nnum_votes;4\nbudget;100\nvote_type;approval\nrule;greedy\ncurrency;PLN\n\
PROJECTS\nproject_id;cost;votes;name;selected\n1;60;3;Park;1\n2;50;2;Library;0\n3;40;1;Bench;1\n\
VOTES\nvoter_id;vote\n1;1,2\n2;1\n3;1,3\n4;2\n";

#[test]
fn a_rule_is_one_of_the_crate_s_rules_and_a_flag_it_ignores_is_refused() {
    let file = scratch("rules.pb", SMALL);
    let file = file.to_str().unwrap();
    // A typo is bad usage, listing the rules.
    let o = run(&["tally", file, "--rule", "mes-ad1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("mes-add1-comparison"), "{}", stderr(&o));
    let o = run(&["sweep", "--rules", "greedy,mes-ad1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown rule \"mes-ad1\""),
        "{}",
        stderr(&o)
    );
    // Every built-in rule counts (none falls back to another).
    for rule in [
        "greedy-no-skip",
        "mes",
        "mes-greedy",
        "phragmen-skip",
        "max-welfare",
    ] {
        let o = run(&["tally", file, "--rule", rule, "--format", "json"]);
        assert!(o.status.success(), "{rule}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["rule"], rule);
    }
    // --threshold only where the rule reads it.
    let o = run(&["tally", file, "--rule", "mes", "--threshold", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("takes no threshold"), "{}", stderr(&o));
    let o = run(&[
        "tally",
        file,
        "--rule",
        "greedy-threshold",
        "--threshold",
        "2",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    // The bench (one vote) is below the threshold; greedy alone funds it.
    assert_eq!(v["selected"], serde_json::json!(["1"]));
}

#[test]
fn tally_prints_json_with_the_promised_keys() {
    let file = scratch("small.pb", SMALL);
    let o = run(&[
        "tally",
        file.to_str().unwrap(),
        "--rule",
        "greedy",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["rule"], "greedy");
    assert_eq!(v["tie_break"], "id");
    assert_eq!(v["selected"], serde_json::json!(["1", "3"]));
    assert_eq!(v["total_cost"], 100);
    assert_eq!(v["budget"], 100);
    assert_eq!(v["num_voters"], 4);
    assert_eq!(v["num_projects"], 3);
}

#[test]
fn tally_formats_and_rules() {
    let file = scratch("small2.pb", SMALL);
    let path = file.to_str().unwrap();
    let table = run(&["tally", path, "--rule", "mes"]);
    assert!(table.status.success());
    assert!(stdout(&table).contains("rule mes"), "{}", stdout(&table));
    let csv = run(&["tally", path, "--rule", "greedy", "--format", "csv"]);
    assert_eq!(
        stdout(&csv),
        "rank,project_id,cost,support,name\n1,1,60,3,Park\n2,3,40,1,Bench\n"
    );
    for rule in [
        "greedy",
        "greedy-no-skip",
        "mes",
        "mes-add1",
        "mes-add1-exhaustive",
        "mes-add1-comparison",
        "mes-greedy",
        "phragmen",
        "phragmen-skip",
        "max-welfare",
        "official",
    ] {
        let o = run(&["tally", path, "--rule", rule, "--format", "json"]);
        assert!(o.status.success(), "{rule}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert!(v["total_cost"].as_u64().unwrap() <= 100, "{rule}");
    }
    let threshold = run(&[
        "tally",
        path,
        "--rule",
        "greedy-threshold",
        "--threshold",
        "2",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&threshold).trim()).unwrap();
    assert_eq!(v["selected"], serde_json::json!(["1"]));
    // Ties: 2 and 3 cost… no tie here; min-cost first still parses as a chain.
    assert!(
        run(&[
            "tally",
            path,
            "--tie-break",
            "min-cost,max-votes,file-order"
        ])
        .status
        .success()
    );
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let broken = scratch("broken.pb", "META\nkey;value\nbudget;100\nPROJECTS\n");
    let o = run(&["tally", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("broken.pb:"), "{}", stderr(&o));

    let missing = run(&["tally", "/nonexistent/file.pb"]);
    assert_eq!(missing.status.code(), Some(1));

    let custom = scratch(
        "custom.pb",
        &SMALL.replace("rule;greedy", "rule;greedy-custom"),
    );
    let o = run(&["tally", custom.to_str().unwrap(), "--rule", "official"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot be recomputed"),
        "{}",
        stderr(&o)
    );

    assert_eq!(run(&["tally"]).status.code(), Some(2));
    assert_eq!(
        run(&["tally", "x.pb", "--rule", "coin-toss"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["tally", "x.pb", "--tie-break", "coin"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["check"]).status.code(), Some(2));
}

#[test]
fn check_names_file_and_line() {
    let good = scratch("good.pb", SMALL);
    let bad = scratch("bad.pb", &SMALL.replace("3;1,3\n", "3;1,9\n"));
    let o = run(&["check", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
    let o = run(&["check", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = format!("{}:19:", bad.display());
    assert!(out.starts_with(&line), "expected `{line} …`, got {out}");
    assert!(!out.contains("good.pb"), "{out}");
}

/// SMALL with voter 1 on lines 17, 18, 20 and 21 (4 voters promised, 5 rows).
fn repeated_voter() -> String {
    SMALL
        .replace("2;1\n", "1;1\n")
        .replace("4;2\n", "1;2\n1;3\n")
}

#[test]
fn check_lists_every_broken_promise_with_its_line() {
    let file = scratch("promises.pb", &repeated_voter());
    let o = run(&["check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let p = file.display();
    assert_eq!(
        stdout(&o),
        format!(
            "{p}:5: META num_votes is 4 but VOTES has 5 rows\n\
             {p}:18: voter id \"1\" was already used on line 17\n\
             {p}:20: voter id \"1\" was already used on line 17\n\
             {p}:21: voter id \"1\" was already used on line 17\n"
        )
    );
    assert!(stderr(&o).contains("4 problems"), "{}", stderr(&o));

    // At most 20 lines per file, then how many more.
    let mut many = SMALL.replace("vote_type;approval", "vote_type;choose-1");
    many.push_str(&(5..40).map(|v| format!("{v};1,2\n")).collect::<String>());
    let many = many.replace("num_votes;4", "num_votes;39");
    let file = scratch("many.pb", &many);
    let o = run(&["check", file.to_str().unwrap()]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 21, "{out}");
    assert_eq!(
        lines[20],
        format!("{}: … and 17 more problems", file.display())
    );
}

#[test]
fn tally_refuses_a_file_that_breaks_its_promises_unless_lenient() {
    let file = scratch("lenient.pb", &repeated_voter());
    let path = file.to_str().unwrap();
    let o = run(&["tally", path, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{path}:18: voter id \"1\" was already used on line 17"
        )),
        "{err}"
    );
    assert!(err.contains("--lenient count"), "{err}");
    assert!(stdout(&o).is_empty());

    let voters = |how: &str| {
        let o = run(&["tally", path, "--format", "json", "--lenient", how]);
        assert!(o.status.success(), "{how}: {}", stderr(&o));
        assert!(stderr(&o).contains("4 problems"), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        v["num_voters"].as_u64().unwrap()
    };
    assert_eq!(voters("count"), 5);
    assert_eq!(voters("skip"), 2);
    assert_eq!(
        run(&["tally", path, "--lenient", "maybe"]).status.code(),
        Some(2)
    );
}

#[test]
fn points_overflowing_32_bits_are_named_as_such() {
    let text = "META\nkey;value\nbudget;10\nvote_type;cumulative\nPROJECTS\nproject_id;cost\n\
                1;5\n2;5\nVOTES\nvoter_id;vote;points\n1;1,1;4294967295,4294967295\n";
    let file = scratch("overflow.pb", text);
    let path = file.to_str().unwrap();
    for lenient in [None, Some("count")] {
        let mut args = vec!["tally", path];
        args.extend(lenient.iter().flat_map(|l| ["--lenient", l]));
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(err.contains(&format!("{path}:11:")), "{err}");
        assert!(err.contains("32 bits"), "{err}");
        assert!(!err.contains("64 bits"), "{err}");
    }
    let o = run(&["tally", path, "--lenient", "skip", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn official_rule_on_wieliczka_reports_the_official_result() {
    let Some(path) = crate::common::pabulib_file("Poland_Wieliczka_2023_Green_Budget.pb") else {
        return;
    };
    let o = run(&[
        "tally",
        path.to_str().unwrap(),
        "--rule",
        "official",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["rule"], "mes-add1-comparison");
    assert_eq!(v["tie_break"], "min-cost,max-votes,file-order");
    assert_eq!(v["selected"].as_array().unwrap().len(), 30);
    assert_eq!(v["total_cost"], 995_079);
    assert_eq!(v["per_voter_budget"], "315");
    assert_eq!(v["comparison"]["prefer_equal_shares"], 1_615);
    assert_eq!(v["comparison"]["prefer_greedy"], 873);
}

/// `/dev/full`: every write fails with "No space left on device".
fn full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// A pipe whose reader has gone: every write fails with a broken pipe.
fn closed() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// A scratch folder of its own, with a small scenario in it.
fn folder(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("medborgarbudget-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("small.toml"), "population = 1500\n").unwrap();
    dir
}

/// Runs the tool in `dir`, checking that it did not panic.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    let o = bin().current_dir(dir).args(args).output().unwrap();
    no_panic(&o);
    o
}

fn no_panic(o: &Output) {
    assert!(
        !stderr(o).contains("panicked") && o.status.code() != Some(101),
        "{:?}: {}",
        o.status,
        stderr(o)
    );
}

#[test]
fn a_reader_that_stops_reading_ends_the_run_quietly() {
    // `check FILES | head -1`: more problem lines than a pipe holds, a reader
    // that takes the first and goes.
    let bad = scratch("pipe-bad.pb", &SMALL.replace("3;1,3\n", "3;1,9\n"));
    let bad = bad.to_str().unwrap();
    let mut args = vec!["check"];
    args.extend(std::iter::repeat_n(bad, 2_000));
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with(bad), "{first}");
    drop(out);
    let o = child.wait_with_output().unwrap();
    no_panic(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    // Every command writing to a pipe already closed.
    let good = scratch("pipe-good.pb", SMALL);
    let good = good.to_str().unwrap();
    for args in [
        vec!["check", bad],
        vec!["tally", good],
        vec!["tally", good, "--format", "json"],
        vec!["tally", good, "--format", "csv"],
        vec!["--help"],
        vec!["tally", "--help"],
        vec!["--version"],
    ] {
        let o = bin().args(&args).stdout(closed()).output().unwrap();
        no_panic(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_exit_1_with_a_message_never_a_panic() {
    let good = scratch("full-good.pb", SMALL);
    let good = good.to_str().unwrap();
    let bad = scratch("full-bad.pb", &SMALL.replace("3;1,3\n", "3;1,9\n"));
    let bad = bad.to_str().unwrap();
    // Standard output full: the message goes to standard error.
    for args in [
        vec!["tally", good],
        vec!["tally", good, "--format", "json"],
        vec!["tally", good, "--format", "csv"],
        vec!["check", bad],
        vec!["--help"],
        vec!["tally", "--help"],
    ] {
        let o = bin().args(&args).stdout(full()).output().unwrap();
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains("writing to standard output: No space left on device"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // Standard error full: exit 1, and what standard output holds is intact.
    for (args, out) in [
        (vec!["check", good], String::new()),
        (vec!["check", bad], format!("{bad}:19:")),
        (vec!["tally", "/nonexistent/file.pb"], String::new()),
    ] {
        let o = bin().args(&args).stderr(full()).output().unwrap();
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stdout(&o).starts_with(&out), "{args:?}: {}", stdout(&o));
    }
    // A usage error still says so by its code.
    let o = bin().args(["tally"]).stderr(full()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[cfg(target_os = "linux")]
#[test]
fn simulate_sweep_and_report_check_every_write() {
    let dir = folder("writes");
    let run = |args: &[&str], out: Stdio, err: Stdio| {
        let o = bin()
            .current_dir(&dir)
            .args(args)
            .stdout(out)
            .stderr(err)
            .output()
            .unwrap();
        no_panic(&o);
        o
    };
    let simulate = ["simulate", "--scenario", "small.toml"];
    let o = run(&simulate, full(), Stdio::piped());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No space left on device"),
        "{}",
        stderr(&o)
    );
    // The run was stored before its table could not be written.
    let o = run(&simulate, closed(), Stdio::piped());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");

    let o = run(
        &["report", "--out", "/dev/full"],
        Stdio::piped(),
        Stdio::piped(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("writing /dev/full: No space left on device"),
        "{}",
        stderr(&o)
    );
    let o = run(&["report", "--out", "r.html"], full(), Stdio::piped());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("standard output"), "{}", stderr(&o));
    let o = run(&["report", "--out", "r.html"], closed(), Stdio::piped());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(dir.join("r.html"))
            .unwrap()
            .ends_with("</html>\n")
    );

    let sweep = [
        "sweep",
        "--scenario",
        "small.toml",
        "--programmes",
        "1",
        "--rules",
        "greedy",
        "--outreach",
        "true",
    ];
    let with = |more: &[&'static str]| -> Vec<&str> { sweep.iter().chain(more).copied().collect() };
    // The file used to be left empty with exit 0.
    let o = run(
        &with(&["--out", "/dev/full"]),
        Stdio::piped(),
        Stdio::piped(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("writing /dev/full: No space left on device"),
        "{}",
        stderr(&o)
    );
    for format in ["csv", "json"] {
        let o = run(&with(&["--format", format]), full(), Stdio::piped());
        assert_eq!(o.status.code(), Some(1), "{format}");
        let o = run(&with(&["--format", format]), closed(), Stdio::piped());
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
    }
    // Standard error full: the file is whole, but the run could not report.
    let o = run(&with(&["--out", "rows.csv"]), Stdio::piped(), full());
    assert_eq!(o.status.code(), Some(1));
    let csv = std::fs::read_to_string(dir.join("rows.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sizes_past_their_limits_are_refused_naming_the_limit() {
    let dir = folder("limits");
    std::fs::write(dir.join("big.toml"), "population = 1000000000\n").unwrap();
    let run = |args: &[&str]| run_in(&dir, args);
    let sweep = |more: &[&'static str]| -> Output {
        let mut args = vec!["sweep", "--scenario", "small.toml"];
        args.extend(more);
        run(&args)
    };
    for (more, says) in [
        (vec!["--programmes", "0"], "= 0: at least 1"),
        (
            vec!["--programmes", "18446744073709551615"],
            "= 18446744073709551615: at most 100000",
        ),
        (
            vec!["--programmes", "100000000"],
            "= 100000000: at most 100000",
        ),
        (
            vec!["--programmes", "10", "--first-seed", "18446744073709551610"],
            "= 10: at most 6",
        ),
        // Two rules × with and without outreach × 30,000 seeds.
        (
            vec!["--programmes", "30000"],
            "programmes in the sweep (points of the grid × seeds) = 120000: at most 100000",
        ),
        (
            vec!["--threads", "100000"],
            "threads = 100000: at most 1024",
        ),
    ] {
        let o = sweep(&more);
        assert_eq!(o.status.code(), Some(1), "{more:?}");
        assert!(stderr(&o).contains(says), "{more:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{more:?}");
    }
    // More threads than cores: capped, with a warning.
    let o = sweep(&[
        "--threads",
        "1024",
        "--programmes",
        "1",
        "--rules",
        "greedy",
        "--outreach",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--threads 1024: this machine has"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 1 + 3);
    let o = run(&["simulate", "--scenario", "big.toml", "--store", "memory"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("big.toml: population = 1000000000: at most 2500000"),
        "{}",
        stderr(&o)
    );
    let o = run(&["simulate", "--years", "51", "--store", "memory"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("years = 51: at most 50"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stores_that_keep_nothing_are_refused() {
    let dir = folder("stores");
    for store in [
        "sqlite:",
        "sqlite: ",
        "sqlite::memory:",
        "sqlite:file::memory:",
        "sqlite:file:run.db?mode=memory",
        "sqlite:FILE:run.db",
    ] {
        for command in ["simulate", "report"] {
            let mut args = vec![command, "--store", store];
            if command == "simulate" {
                args.extend(["--scenario", "small.toml"]);
            } else {
                args.extend(["--out", "r.html"]);
            }
            let o = bin().current_dir(&dir).args(&args).output().unwrap();
            no_panic(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("--store") && stderr(&o).contains("sqlite:"),
                "{args:?}: {}",
                stderr(&o)
            );
        }
    }
    // Nothing was left behind: no key, no database.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["small.toml"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn the_store_and_its_keys_are_private_and_report_needs_no_voter_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder("keys");
    let run = |args: &[&str]| run_in(&dir, args);
    let o = run(&["simulate", "--scenario", "small.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in [
        "medborgarbudget.db",
        "medborgarbudget.db.key",
        "medborgarbudget.db.log-key",
    ] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // No temporary key files are left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // The report reads the log without the voter key, and publishes its head,
    // with the seal checked.
    std::fs::rename(dir.join("medborgarbudget.db.key"), dir.join("kept.key")).unwrap();
    let o = run(&["report", "--out", "report.html"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("seal verified"), "{}", stdout(&o));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("The record") && html.contains("Head: event"),
        "report"
    );
    // Writing needs it, and names it.
    let o = run(&["simulate", "--scenario", "small.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("medborgarbudget.db.key is missing"),
        "{}",
        stderr(&o)
    );
    std::fs::rename(dir.join("kept.key"), dir.join("medborgarbudget.db.key")).unwrap();

    // A damaged key file is named, whatever is wrong with it.
    let key = std::fs::read_to_string(dir.join("medborgarbudget.db.key")).unwrap();
    for (damage, says) in [
        ("".to_owned(), "empty"),
        (key.replace(&key[4..5], "g"), "not a hex digit"),
        ("ab".repeat(5_000), "longer than"),
        (key.trim()[..30].to_owned(), "at least 16 bytes"),
    ] {
        std::fs::write(dir.join("medborgarbudget.db.key"), &damage).unwrap();
        let o = run(&["simulate", "--scenario", "small.toml"]);
        assert_eq!(o.status.code(), Some(1), "{says}");
        let err = stderr(&o);
        assert!(
            err.contains("medborgarbudget.db.key") && err.contains(says),
            "{says}: {err}"
        );
    }
    std::fs::write(dir.join("medborgarbudget.db.key"), &key).unwrap();
    let o = run(&["simulate", "--scenario", "small.toml"]);
    assert!(stdout(&o).contains("already stored"), "{}", stderr(&o));

    // Without the log key the sealed store is not written to, and the report
    // says that it could not check the seal.
    std::fs::rename(
        dir.join("medborgarbudget.db.log-key"),
        dir.join("kept.log-key"),
    )
    .unwrap();
    let o = run(&["simulate", "--scenario", "small.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("medborgarbudget.db.log-key is missing"),
        "{}",
        stderr(&o)
    );
    let o = run(&["report", "--out", "report.html"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("seal not checked"), "{}", stdout(&o));
}

#[test]
fn deleted_events_are_reported_as_tampering() {
    let dir = folder("tamper");
    let run = |args: &[&str]| run_in(&dir, args);
    let o = run(&["simulate", "--scenario", "small.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The programme's last event (`concluded`) deleted, the head left as it was.
    let db = rusqlite::Connection::open(dir.join("medborgarbudget.db")).unwrap();
    let deleted = db
        .execute(
            "DELETE FROM events WHERE stream LIKE 'programme-%' AND version =
                 (SELECT MAX(version) FROM events WHERE stream LIKE 'programme-%')",
            [],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    drop(db);
    let o = run(&["report", "--out", "report.html"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("tampered") && err.contains("events were deleted"),
        "{err}"
    );
    // Moving the head back with them, without the log key: the seal tells.
    let db = rusqlite::Connection::open(dir.join("medborgarbudget.db")).unwrap();
    db.execute(
        "UPDATE streams SET version = version - 1,
             head = (SELECT hash FROM events e WHERE e.stream = streams.stream
                     AND e.version = streams.version - 1)
         WHERE stream LIKE 'programme-%'",
        [],
    )
    .unwrap();
    drop(db);
    let o = run(&["report", "--out", "report.html"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("tampered") && err.contains("seal"), "{err}");
}

#[test]
fn tally_explains_why_each_project_won_or_lost() {
    let file = scratch("explain.pb", SMALL);
    let path = file.to_str().unwrap();
    // Greedy funds Park (60) and Bench (40). The Library (50, two votes) would
    // have fitted at 40, after the Park; or with two more voters (one would
    // tie the Park, and ties go by id), before it.
    let o = run(&["tally", path, "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.contains("why each project won or lost"), "{table}");
    assert!(
        table.contains("voters by funded projects they support: 0: 1 · 1: 2 · 2: 1"),
        "{table}"
    );
    assert!(
        table.contains("the official result (column selected): the same"),
        "{table}"
    );
    let library = table
        .lines()
        .find(|l| l.ends_with("Library"))
        .unwrap_or_default();
    let cells: Vec<&str> = library.split_whitespace().collect();
    assert_eq!(
        cells,
        ["2", "50", "2", "no", "40", "2", "Library"],
        "{table}"
    );

    let o = run(&["tally", path, "--explain", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["matches_official"], true);
    let projects = v["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 3);
    assert_eq!(projects[0]["id"], "1");
    assert_eq!(projects[0]["selected"], true);
    assert_eq!(projects[0]["official_selected"], true);
    assert_eq!(projects[0]["cost_margin"], 40);
    assert_eq!(
        projects[1]["max_cost"],
        serde_json::json!({"kind": "exact", "value": 40})
    );
    assert_eq!(
        projects[1]["extra_voters"],
        serde_json::json!({"kind": "exact", "value": 2})
    );
    assert_eq!(projects[2]["cost_margin"], 0);
    // Voters' satisfaction: {1,2} and {1} have one funded project, {1,3} two,
    // {2} none.
    assert_eq!(
        v["satisfaction"],
        serde_json::json!({
            "histogram": [1, 2, 1],
            "nothing_funded": 1,
            "exclusion_ratio": "1/4",
            "mean_cardinality": "1",
            "mean_cost": "55",
        })
    );
    assert!(v["counterfactual_counts"].as_u64().unwrap() > 0);

    // Without --explain the projects are listed without measures.
    let o = run(&["tally", path, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["projects"][1]["selected"], false);
    assert!(v["projects"][1].get("max_cost").is_none());

    let o = run(&["tally", path, "--explain", "--format", "csv"]);
    assert_eq!(
        stdout(&o),
        "rank,project_id,cost,support,name,selected,max_cost,max_cost_exact,extra_voters,extra_voters_exact\n\
         1,1,60,3,Park,true,100,true,,\n\
         ,2,50,2,Library,false,40,true,2,true\n\
         2,3,40,1,Bench,true,40,true,,\n"
    );

    // The official outcome differs from equal shares' here.
    let o = run(&["tally", path, "--rule", "mes", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["matches_official"], false);
}

#[test]
fn tally_counts_several_files_and_names_the_ones_it_cannot() {
    let a = scratch("several-a.pb", SMALL);
    let b = scratch("several-b.pb", &SMALL.replace("budget;100", "budget;60"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let o = run(&["tally", a, b, "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], a);
    assert_eq!(lines[1]["file"], b);
    assert_eq!(lines[1]["selected"], serde_json::json!(["1"]));

    // CSV: one header, each row with its file.
    let o = run(&["tally", a, b, "--format", "csv"]);
    let text = stdout(&o);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "file,rank,project_id,cost,support,name");
    assert_eq!(rows.len(), 1 + 2 + 1, "{text}");
    assert!(rows[3].starts_with(&format!("{b},1,1,60")), "{text}");

    // A file that cannot be counted is named; the others still are; exit 1.
    let o = run(&["tally", a, "/nonexistent/file.pb", b, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).lines().count(), 2);
    assert!(
        stderr(&o).contains("/nonexistent/file.pb"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("1 of 3 files could not be counted"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn equal_shares_takes_a_utility_and_other_rules_refuse_one() {
    let file = scratch("utility.pb", SMALL);
    let path = file.to_str().unwrap();
    for (utility, name) in [
        ("cost", "mes-add1"),
        ("cardinality", "mes-add1:cardinality"),
    ] {
        let o = run(&[
            "tally",
            path,
            "--rule",
            "mes-add1",
            "--utility",
            utility,
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["rule"], name);
    }
    let o = run(&[
        "tally",
        path,
        "--rule",
        "phragmen",
        "--utility",
        "cardinality",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--utility: the rule phragmen is not an equal-shares rule"),
        "{}",
        stderr(&o)
    );
    let o = run(&["tally", path, "--rule", "official", "--utility", "cost"]);
    assert_eq!(o.status.code(), Some(1));
    // Sweeps name the rule with its utility.
    let o = run(&["sweep", "--rules", "mes:votes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown utility"), "{}", stderr(&o));
}

#[test]
fn generate_writes_the_same_election_for_a_seed_and_tally_counts_it() {
    let dir = folder("generate");
    let args = |out: &str, seed: &str| {
        [
            "generate",
            "--voters",
            "5000",
            "--projects",
            "60",
            "--seed",
            seed,
            "--out",
            out,
        ]
        .map(str::to_owned)
    };
    for (out, seed) in [("a.pb", "9"), ("b.pb", "9"), ("c.pb", "10")] {
        let o = run_in(&dir, &args(out, seed).each_ref().map(String::as_str));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    assert_eq!(read("a.pb"), read("b.pb"));
    assert_ne!(read("a.pb"), read("c.pb"));
    let o = run_in(
        &dir,
        &["tally", "--rule", "mes", "--format", "json", "a.pb"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(json["num_voters"], 5000);
    assert_eq!(json["num_projects"], 60);
    // A size past its limit is refused by name, and no file is written.
    let o = run_in(
        &dir,
        &["generate", "--voters", "100000001", "--out", "big.pb"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("voters"), "{}", stderr(&o));
    assert!(!dir.join("big.pb").exists());
}

/// What newcomers asked of `simulate`, `check` and `report`: other output
/// formats, the default scenario as a file to start from, a report on a .pb
/// file, and a scenario that cannot work refused before it runs.
#[test]
fn simulate_formats_print_scenario_check_json_and_report_on_a_file() {
    let dir = folder("formats");
    let run = |args: &[&str]| run_in(&dir, args);
    // The default scenario as TOML reads back as the same scenario.
    let o = run(&["simulate", "--print-scenario", "--years", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    assert!(
        printed.contains("years = 4") && printed.contains("budget_kronor"),
        "{printed}"
    );
    std::fs::write(dir.join("printed.toml"), &printed).unwrap();
    let again = run(&["simulate", "--print-scenario", "--scenario", "printed.toml"]);
    assert_eq!(stdout(&again), printed);

    let simulate_as = |format| {
        run(&[
            "simulate",
            "--scenario",
            "small.toml",
            "--store",
            "memory",
            "--format",
            format,
        ])
    };
    let o = simulate_as("json");
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let years = json["years"].as_array().unwrap();
    assert_eq!(years.len(), 3);
    assert_eq!(years[0]["year"], 2027);
    assert!(json["events_written"].as_u64().unwrap() > 0);
    let o = simulate_as("csv");
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[0].starts_with("year,population,voters,turnout"),
        "{csv}"
    );
    assert!(lines[1].starts_with("2027,1500,"), "{csv}");
    assert!(stderr(&o).contains("events written"), "{}", stderr(&o));

    // A budget below the dearest project the ideas may cost.
    std::fs::write(dir.join("poor.toml"), "budget_kronor = 100000\n").unwrap();
    let o = run(&["simulate", "--scenario", "poor.toml", "--store", "memory"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ideas.max_cost_kronor"),
        "{}",
        stderr(&o)
    );

    // check --format json: one object per file.
    let good = scratch("formats-good.pb", SMALL);
    let bad = scratch("formats-bad.pb", &repeated_voter());
    let o = run(&[
        "check",
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let objects: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["valid"], true);
    assert_eq!(objects[1]["valid"], false);
    assert!(objects[1]["total"].as_u64().unwrap() >= 1);
    assert!(objects[1]["problems"][0]["line"].as_u64().unwrap() > 0);

    // report --election: a real file through a cycle's voting step.
    let o = run(&[
        "report",
        "--election",
        good.to_str().unwrap(),
        "--rule",
        "mes",
        "--out",
        "file.html",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(dir.join("file.html")).unwrap();
    assert!(html.contains("Counted by <b>mes</b>"), "the rule named");
    assert!(html.contains("Park") && html.contains("Library"));
    let o = run(&[
        "report",
        "--election",
        "file.html",
        "--programme",
        "x",
        "--out",
        "x.html",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--election and --programme together"
    );
}
