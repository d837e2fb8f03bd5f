//! `medborgarbudget`: simulate programmes, report on them, count real
//! participatory-budgeting elections and check `.pb` files.
//!
//! ```text
//! medborgarbudget simulate [--scenario FILE] [--years N] [--seed S] [--store memory|sqlite:PATH|postgres:URL] [--format table|json|csv] [--print-scenario]
//! medborgarbudget sweep [--programmes K] [--rules R,…] [--outreach true,false] [--trust low,…] [--threads N] [--format csv|json] [--out FILE]
//! medborgarbudget report [--store …] [--programme ID] --out FILE.html
//! medborgarbudget report --election FILE.pb [--rule RULE] --out FILE.html
//! medborgarbudget tally FILE.pb… [--rule RULE] [--utility cost|cardinality] [--tie-break T[,T…]] [--format table|json|csv] [--lenient count|skip] [--explain]
//! medborgarbudget check FILE.pb… [--format text|json]
//! medborgarbudget generate [--voters N] [--projects P] [--approvals A] [--seed S] --out FILE.pb
//! medborgarbudget programme new [--store …] --setup FILE.json
//! medborgarbudget apply [--store …] --programme ID COMMANDS.jsonl [--dry-run] [--keep-going]
//! medborgarbudget ballots import [--store …] --programme ID --year Y --entered-by NAME FILE.csv [--dry-run] [--skip-invalid [--refused FILE]]
//! medborgarbudget status [--store …] [--programme ID] [--at TIME]
//! medborgarbudget audit verify [--store …]
//! medborgarbudget audit export [--store …] --out DIR
//! ```
//!
//! A PostgreSQL store is `postgres://…`; the events are kept in the schema
//! `medborgarbudget`, or in another named with `schema=NAME` among the URL's
//! parameters (`postgres://host/db?schema=district_7`).
//!
//! Exit codes:
//!
//! * 0: done — or standard output was closed by its reader (`… | head -1`):
//!   the run then stops at once, without a word;
//! * 1: bad input (a file that does not read, a rule that cannot be applied, a
//!   value past its limit), or a write that failed — to standard output, to an
//!   `--out` file or to standard error, such as on a full disk. The message
//!   goes to standard error if it can still be written there;
//! * 2: bad usage (an unknown command or flag, a value that does not parse, a
//!   store that would keep nothing).
//!
//! Limits, each refused with a message naming it (and enforced by the
//! library, where they are documented):
//!
//! * a scenario: at most 2,500,000 residents, 3 to 50 years, 10,000,000
//!   resident-years (`population × years`), 8 dimensions of at most 120
//!   groups, 32 outreach activities, 200 themes, a file of at most 1 MiB; every
//!   number within its range ([`Scenario::check`](medborgarbudget::sim::Scenario::check));
//! * `sweep`: at least 1 programme per point, at most 100,000 programmes in the
//!   whole grid (rules × outreach × trust × seeds); `--threads` at most 1,024,
//!   and more than the machine's cores runs on the cores, with a warning;
//! * `--store sqlite:PATH` needs the path of a file: not empty, not
//!   `:memory:`, not a `file:` URI.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "medborgarbudget/apply.rs"]
mod apply;
#[path = "medborgarbudget/audit.rs"]
mod audit;
#[path = "medborgarbudget/output.rs"]
mod output;
#[path = "medborgarbudget/paper.rs"]
mod paper;
#[path = "medborgarbudget/programmes.rs"]
mod programmes;
#[cfg(feature = "server")]
#[path = "medborgarbudget/serve.rs"]
mod serve;
#[path = "medborgarbudget/status.rs"]
mod status;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use medborgarbudget::pabulib::{
    self, Checked, OnProblem, ParseOptions, PbErrorKind, PbFile, official::official_rule,
};
use medborgarbudget::tally::{
    EqualShares, Explanation, Measure, Outcome, Rule, Satisfaction, Tally, TallyError, TieBreak,
    TieBreaking, Utility, explain,
};

/// Participatory budgeting: simulate programmes, report on them, count real
/// elections and check .pb files.
#[derive(Debug, Parser)]
#[command(name = "medborgarbudget", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a programme through every step of every year and print a table
    /// per year. Running it again on the same store checks the stored run (or
    /// continues it after a crash) instead of writing it twice.
    Simulate {
        /// A scenario in TOML or JSON (default: a low-trust district of 10,000;
        /// at most 2,500,000 residents and 10,000,000 resident-years, a file of
        /// at most 1 MiB).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Years (3 to 50; default: the scenario's).
        #[arg(long)]
        years: Option<u32>,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to store the programme: memory, sqlite:PATH (a file; not
        /// :memory: or a file: URI) or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// Output: a table per year, one JSON object, or CSV rows (the
        /// closing line then goes to standard error).
        #[arg(long, value_enum, default_value_t = programmes::SimulateFormat::Table)]
        format: programmes::SimulateFormat,
        /// Print the scenario the run would use (the default, or --scenario
        /// with --years) as TOML, a file to start from, and run nothing.
        #[arg(long)]
        print_scenario: bool,
    },
    /// Simulate many programmes over a grid (rule × outreach × trust × seed) in
    /// parallel, in memory; one row per programme and year.
    Sweep {
        /// The base scenario in TOML or JSON (limits as for `simulate`).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Years (3 to 50; default: the scenario's).
        #[arg(long)]
        years: Option<u32>,
        /// Programmes (seeds) at every point of the grid: at least 1, and at
        /// most 100,000 in the whole grid (rules × outreach × trust × seeds).
        #[arg(long, default_value_t = 10)]
        programmes: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Counting rules, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [Rule::Greedy, Rule::Mes])]
        rules: Vec<Rule>,
        /// With the scenario's outreach (true), without (false), or both.
        #[arg(long, value_delimiter = ',', default_values_t = [true, false])]
        outreach: Vec<bool>,
        /// Trust levels (default: the scenario's).
        #[arg(long, value_enum, value_delimiter = ',')]
        trust: Vec<TrustArg>,
        /// Threads (0: one per core). More than the machine's cores run on the
        /// cores, with a warning; more than 1,024 are refused.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = programmes::SweepFormat::Csv)]
        format: programmes::SweepFormat,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a self-contained HTML report of a stored programme, or of a real
    /// election in a .pb file replayed through a cycle's voting step.
    Report {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// The programme's id (default: the most recent in the store).
        #[arg(long, conflicts_with = "election")]
        programme: Option<String>,
        /// A .pb file to report on instead of a stored programme: its
        /// ballots go through a cycle's voting step and are counted by
        /// --rule.
        #[arg(long)]
        election: Option<PathBuf>,
        /// With --election: the counting rule.
        #[arg(long, requires = "election", default_value_t = Rule::Greedy)]
        rule: Rule,
        /// The report's language: en or sv. Residents' texts are shown in it
        /// where written in it, in Swedish otherwise, with their other
        /// languages beside.
        #[arg(long, default_value = "en", value_parser = ["en", "sv"])]
        lang: String,
        /// The HTML file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Establish a programme from a setup file (JSON: the area, currency,
    /// first year, years committed, optional carry-over decision; `id` and
    /// `established_at` may be left out).
    Programme {
        #[command(subcommand)]
        action: ProgrammeAction,
    },
    /// Run commands against a stored programme: one JSON command per line
    /// (`{"start_cycle":{…}}`, `{"cycle":{"year":…,"command":{…}}}`,
    /// `{"conclude":{…}}`), each accepted or refused with its line number; a
    /// refused line changes nothing, and stops the run unless --keep-going.
    /// Exit 1 when a line was refused.
    Apply {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// The programme's id.
        #[arg(long)]
        programme: String,
        /// The commands, JSON lines (at most 256 MiB and 1,000,000 lines;
        /// blank lines are skipped).
        commands: PathBuf,
        /// Judge every line against a copy in memory; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Go on after a refused line.
        #[arg(long)]
        keep_going: bool,
    },
    /// Paper ballots.
    Ballots {
        #[command(subcommand)]
        action: BallotsAction,
    },
    /// What each programme in a store and each of its years is doing now, and
    /// what the current step still needs before it can move on (every unmet
    /// condition of its gate); whether the programme can be concluded.
    Status {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// Only this programme (its id).
        #[arg(long)]
        programme: Option<String>,
        /// The time to judge at, RFC 3339 (default: now): a voting window
        /// still open then, a record dated after it.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run the reference service: the residents' web page at `/`, the
    /// officials' JSON API under `/api` (OpenAPI at `/openapi.json`). A store
    /// with no token yet gets an administrator token, written beside an
    /// SQLite store (`PATH.admin-token`) or printed. `--demo` starts a demo
    /// district with voting open, in memory unless `--store` is given, and
    /// writes voting codes to a file.
    #[cfg(feature = "server")]
    Serve {
        /// The store: sqlite:PATH or postgres://URL (default: the SQLite file
        /// of the quick start; memory with --demo).
        #[arg(long)]
        store: Option<programmes::StoreArg>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Start a demo district with voting open.
        #[arg(long)]
        demo: bool,
        /// How many demo residents get voting codes (at most 10,000).
        #[arg(long, default_value_t = 20)]
        demo_residents: usize,
        /// How far the demo year has come: ideas (step 3), voting (step 5)
        /// or results (counted, a proposal under way).
        #[arg(long, value_enum, default_value = "voting")]
        demo_stage: serve::DemoStageArg,
        /// The demo's kind of ballot.
        #[arg(long, value_enum, default_value = "approval")]
        demo_ballot: serve::DemoBallotArg,
        /// Split the demo's budget into parts: all of Norrby, and its
        /// neighbourhoods Norra and Södra.
        #[arg(long)]
        demo_parts: bool,
        /// Where the demo's voting codes are written.
        #[arg(long, default_value = "medborgarbudget-demo-codes.txt")]
        codes_file: PathBuf,
        /// Where a new administrator token is written (default: beside an
        /// SQLite store; printed otherwise).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Check a store for an audit: every stream's hash chain, recorded head and
    /// seal, every programme and cycle replayed through the rules; or write
    /// its streams out for an auditor.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Count .pb elections by a rule and print the funded projects, one table,
    /// JSON object (a line each) or block of CSV rows per file.
    Tally {
        /// The elections, in pabulib's .pb format. A file that cannot be
        /// counted is reported on standard error and the others are still
        /// counted (exit code 1 at the end).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        args: TallyArgs,
    },
    /// Check .pb files: print `file:line: problem` for every broken promise (at
    /// most 20 per file) and for a file that does not read.
    Check {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output: `file:line: problem` lines, or one JSON object per file
        /// (`{"file", "valid", "problems": [{"line", "problem"}], "total",
        /// "error": {"line", "message"} or null}`), a line each.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Write a synthetic approval election as a .pb file, the same for the
    /// same seed on every machine: popular projects over a floor every project
    /// gets, costs spread on a log scale, a fifth of their total as the budget
    /// (the model: `medborgarbudget::sim::Synthetic`). For measuring counts
    /// past every real election.
    Generate {
        /// Voters (1 to 100,000,000).
        #[arg(long, default_value_t = 1_000_000)]
        voters: u64,
        /// Projects (1 to 100,000).
        #[arg(long, default_value_t = 500)]
        projects: u32,
        /// Mean approvals per voter (1 to 100, at most half the projects).
        #[arg(long, default_value_t = 5)]
        approvals: u32,
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `tally --rule`: a built-in rule (the crate's table, [`Rule::BUILTIN`]) or
/// the file's own.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RuleArg {
    Official,
    Rule(Rule),
}

/// Every choice of `--rule`: `official`, then the built-in rules.
static RULE_ARGS: std::sync::LazyLock<Vec<RuleArg>> = std::sync::LazyLock::new(|| {
    std::iter::once(RuleArg::Official)
        .chain(Rule::BUILTIN.iter().cloned().map(RuleArg::Rule))
        .collect()
});

impl ValueEnum for RuleArg {
    fn value_variants<'a>() -> &'a [Self] {
        &RULE_ARGS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            RuleArg::Official => Some(clap::builder::PossibleValue::new("official")),
            RuleArg::Rule(rule) => rule.builtin_name().map(clap::builder::PossibleValue::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UtilityArg {
    Cost,
    Cardinality,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LenientArg {
    Count,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TrustArg {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TieArg {
    Id,
    MinCost,
    MaxVotes,
    FileOrder,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// The output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// `file:line: problem`, a line each.
    Text,
    /// One JSON object per file, a line each.
    Json,
}

/// What `programme` does.
#[derive(Debug, Subcommand)]
enum ProgrammeAction {
    /// Establish a programme in the store (an SQLite store and its keys are
    /// created if there is none yet) and print its id.
    New {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// The setup, JSON (at most 1 MiB).
        #[arg(long)]
        setup: PathBuf,
    },
}

/// What `ballots` does.
#[derive(Debug, Subcommand)]
enum BallotsAction {
    /// Enter paper ballots from a CSV file as one paper batch by a named
    /// official. Columns: voter, born, resident_since, choices (shortlist
    /// numbers or project ids, separated by spaces; project:points for
    /// cumulative ballots), cast_on, and optionally groups
    /// (dimension=group;…) and ballot (an id). Every row is checked by the
    /// cycle's rules; a refused row is reported with its line and nothing is
    /// stored unless --skip-invalid, which stores the others and writes the
    /// refused rows to a file. At most 64 MiB and 1,000,000 rows.
    Import {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// The programme's id.
        #[arg(long)]
        programme: String,
        /// The year of the cycle voting.
        #[arg(long)]
        year: i32,
        /// The official entering the ballots (name or staff id).
        #[arg(long)]
        entered_by: String,
        /// When they are entered, RFC 3339 (default: now).
        #[arg(long)]
        entered_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Store the rows that pass and write the refused ones to a file.
        #[arg(long)]
        skip_invalid: bool,
        /// Check every row; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where --skip-invalid writes the refused rows (default:
        /// FILE.refused.csv), with their line and error.
        #[arg(long)]
        refused: Option<PathBuf>,
        /// The CSV file.
        file: PathBuf,
    },
}

/// What `audit` does.
#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Check every stream: its hash chain, that it ends at the head the store
    /// records (and, with the log key, that the head's seal verifies), and
    /// that its programme or cycle replays through the rules. One line per
    /// stream; exit 1 naming each broken stream's first broken event.
    Verify {
        /// The store: sqlite:PATH or postgres://URL (`?schema=NAME` for a
        /// schema other than medborgarbudget).
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
    },
    /// Write each stream, verified, to DIR/STREAM.jsonl (one line per event
    /// with its hashes, then the head) and DIR/manifest.json (each file's
    /// head and SHA-256), so that anyone can recompute the chains and compare
    /// their heads with a printed report.
    Export {
        /// The store: sqlite:PATH or postgres://URL.
        #[arg(long, default_value_t = programmes::StoreArg::default())]
        store: programmes::StoreArg,
        /// The folder to write (created; must be empty if it exists).
        #[arg(long)]
        out: PathBuf,
    },
}

/// A failure that exits with code 1.
struct BadInput(String);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage(&e),
    };
    let result = match cli.command {
        Command::Simulate {
            print_scenario: true,
            scenario,
            years,
            ..
        } => programmes::print_scenario(scenario.as_deref(), years),
        Command::Simulate {
            scenario,
            years,
            seed,
            store,
            format,
            print_scenario: false,
        } => programmes::simulate(scenario.as_deref(), years, seed, &store, format),
        Command::Sweep {
            scenario,
            years,
            programmes: k,
            first_seed,
            rules,
            outreach,
            trust,
            threads,
            format,
            out,
        } => {
            let trust: Vec<medborgarbudget::sim::Trust> = trust
                .iter()
                .map(|t| match t {
                    TrustArg::Low => medborgarbudget::sim::Trust::Low,
                    TrustArg::Medium => medborgarbudget::sim::Trust::Medium,
                    TrustArg::High => medborgarbudget::sim::Trust::High,
                })
                .collect();
            programmes::sweep(
                scenario.as_deref(),
                years,
                k,
                first_seed,
                &rules,
                &outreach,
                &trust,
                threads,
                format,
                out.as_deref(),
            )
        }
        Command::Report {
            election: Some(file),
            rule,
            lang,
            out,
            ..
        } => programmes::report_election(&file, &rule, &lang, &out),
        Command::Report {
            store,
            programme,
            lang,
            out,
            election: None,
            ..
        } => programmes::report(&store, programme.as_deref(), &lang, &out),
        Command::Programme {
            action: ProgrammeAction::New { store, setup },
        } => apply::new_programme(&store, &setup),
        Command::Apply {
            store,
            programme,
            commands,
            dry_run,
            keep_going,
        } => apply::apply(&store, &programme, &commands, dry_run, keep_going),
        Command::Ballots {
            action:
                BallotsAction::Import {
                    store,
                    programme,
                    year,
                    entered_by,
                    entered_at,
                    skip_invalid,
                    dry_run,
                    refused,
                    file,
                },
        } => paper::import(&paper::Import {
            store: &store,
            programme: &programme,
            year,
            entered_by: &entered_by,
            entered_at,
            file: &file,
            skip_invalid,
            dry_run,
            refused: refused.as_deref(),
        }),
        Command::Status {
            store,
            programme,
            at,
        } => status::status(&store, programme.as_deref(), at),
        #[cfg(feature = "server")]
        Command::Serve {
            store,
            listen,
            demo,
            demo_residents,
            demo_stage,
            demo_ballot,
            demo_parts,
            codes_file,
            token_file,
        } => serve::serve(&serve::Serve {
            store,
            listen,
            demo,
            demo_residents,
            demo_year: serve::demo_year(demo_stage, demo_ballot, demo_parts),
            codes_file,
            token_file,
        }),
        Command::Audit { action } => match action {
            AuditAction::Verify { store } => audit::verify(&store),
            AuditAction::Export { store, out } => audit::export(&store, &out),
        },
        Command::Tally { files, args } => tally_files(&files, &args),
        Command::Check { files, format } => check(&files, format),
        Command::Generate {
            voters,
            projects,
            approvals,
            seed,
            out,
        } => generate(
            medborgarbudget::sim::Synthetic {
                voters,
                projects,
                approvals,
            },
            seed,
            &out,
        ),
    };
    output::exit(result)
}

/// `generate`: the synthetic election into `out` (checked before the file is
/// created).
fn generate(
    synthetic: medborgarbudget::sim::Synthetic,
    seed: u64,
    out: &Path,
) -> Result<(), BadInput> {
    synthetic.check().map_err(|e| BadInput(e.to_string()))?;
    let file =
        std::fs::File::create(out).map_err(|e| BadInput(format!("{}: {e}", out.display())))?;
    synthetic
        .write(seed, file)
        .map_err(|e| BadInput(format!("{}: {e}", out.display())))
}

/// Problems `check` and a refusing `tally` print per file.
const PROBLEMS_PRINTED: usize = 20;

/// Reads a file to count it. A file that breaks a promise of its own is refused
/// with its problems, unless `lenient` says how to count it.
fn read(path: &Path, lenient: Option<LenientArg>) -> Result<PbFile, BadInput> {
    let policy = match lenient {
        None => OnProblem::Refuse,
        Some(LenientArg::Count) => OnProblem::Count,
        Some(LenientArg::Skip) => OnProblem::Skip,
    };
    let checked = pabulib::check_file(path, ParseOptions::default().on_problem(policy));
    let total = checked.total;
    match checked.file {
        Ok(file) => {
            if total > 0 {
                let how = match policy {
                    OnProblem::Skip => "rows with problems left out",
                    _ => "every row counted as written",
                };
                output::note(format_args!(
                    "{}: {total} problems (`medborgarbudget check` lists them); {how}",
                    path.display()
                ));
            }
            Ok(file)
        }
        Err(e) if matches!(e.kind, PbErrorKind::Problem(_)) => {
            let mut message = String::new();
            for p in checked.problems.iter().take(PROBLEMS_PRINTED) {
                message.push_str(&format!("{}:{}: {}\n", path.display(), p.line, p.kind));
            }
            message.push_str(&format!(
                "{}: {total} problems; a file that breaks its own promises is counted only \
                 with --lenient count (every row as written) or --lenient skip (rows with \
                 problems left out)",
                path.display()
            ));
            if policy == OnProblem::Count {
                message = format!(
                    "{}:{}: {}: this row cannot be counted, not even with --lenient count",
                    path.display(),
                    e.line,
                    e.kind
                );
            }
            Err(BadInput(message))
        }
        Err(e) => Err(BadInput(format!("{}:{}", path.display(), located(&e)))),
    }
}

/// `line: problem`, or just the problem for errors not about a line.
fn located(e: &pabulib::PbError) -> String {
    if e.line == 0 {
        format!(" {}", e.kind)
    } else {
        format!("{}: {}", e.line, e.kind)
    }
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// `tally`'s options, the same for every file.
#[derive(Debug, clap::Args)]
struct TallyArgs {
    /// The counting rule; `official` is the rule in the file's META with the
    /// tie-breaking its officials use.
    #[arg(long, value_enum, default_value_t = RuleArg::Rule(Rule::Greedy))]
    rule: RuleArg,
    /// Tie-breaking, in order (default: `id`; for `official`, the officials').
    #[arg(long, value_enum, value_delimiter = ',')]
    tie_break: Vec<TieArg>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// For `greedy-threshold` and `greedy-no-skip`: the least support a
    /// project needs (default: META `min_project_score_threshold` for
    /// `greedy-threshold`, none for `greedy-no-skip`); other rules refuse it.
    #[arg(long)]
    threshold: Option<u64>,
    /// For equal-shares rules (`mes`, `mes-add1`, …): what a funded project
    /// is worth to each supporter — `cost` (the default: supporters of an
    /// approved project split its cost equally; points ballots keep their
    /// points) or `cardinality` (1 per supported project). Other rules
    /// refuse it.
    #[arg(long, value_enum)]
    utility: Option<UtilityArg>,
    /// Count a file that breaks a promise of its own (a voter id used twice, a
    /// vote longer than META max_length, …: what `check` lists), which is
    /// otherwise refused. `count`: every row counted as written (a project
    /// named twice in one vote counts once, its points added up); `skip`: every
    /// row with a problem left out (of rows sharing a voter id, all but the
    /// first). Problems not about a vote (META num_votes, a project's cost) do
    /// not change the count. The number of problems goes to standard error.
    #[arg(long, value_enum)]
    lenient: Option<LenientArg>,
    /// Explain why each project won or lost: the largest cost at which it
    /// would have been (or still would be) funded, and the fewest added
    /// voters supporting it alone that would have funded it. A table lists
    /// every project; JSON adds the measures to `projects`; CSV gains
    /// their columns. Counts the election again many times.
    #[arg(long)]
    explain: bool,
}

/// One file counted: the file, its outcome and, with `--explain`, why.
struct Counted {
    file: PbFile,
    outcome: Outcome,
    satisfaction: Satisfaction,
    why: Option<Explanation>,
}

fn tally_files(files: &[PathBuf], args: &TallyArgs) -> Result<(), BadInput> {
    let out = io::stdout();
    let mut failed = 0_usize;
    for (k, path) in files.iter().enumerate() {
        let counted = match count(path, args) {
            Ok(counted) => counted,
            Err(BadInput(message)) if files.len() > 1 => {
                output::note(format_args!("{message}"));
                failed += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut out = out.lock();
        let written = match args.format {
            Format::Table => {
                if k > 0 {
                    writeln!(out).map_err(output::stdout_failed)?;
                }
                table(&mut out, path, &counted)
            }
            Format::Json => json(&mut out, path, &counted),
            Format::Csv => csv(
                &mut out,
                (files.len() > 1).then_some(path),
                k == 0,
                &counted,
            ),
        };
        written.map_err(output::stdout_failed)?;
    }
    if failed > 0 {
        return Err(BadInput(format!(
            "{failed} of {} files could not be counted",
            files.len()
        )));
    }
    Ok(())
}

fn count(path: &Path, args: &TallyArgs) -> Result<Counted, BadInput> {
    let bar = spinner(format!("reading {}", path.display()));
    let file = bar.suspend(|| read(path, args.lenient))?;
    let election = file
        .election()
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let chosen = |default: TieBreaking| -> Result<TieBreaking, BadInput> {
        if args.tie_break.is_empty() {
            return Ok(default);
        }
        let steps = args
            .tie_break
            .iter()
            .map(|t| match t {
                TieArg::Id => TieBreak::ProjectId,
                TieArg::MinCost => TieBreak::LowestCost,
                TieArg::MaxVotes => TieBreak::MostVotes,
                TieArg::FileOrder => TieBreak::FileOrder,
                TieArg::Refuse => TieBreak::Refuse,
            })
            .collect();
        TieBreaking::new(steps).map_err(|e| BadInput(e.to_string()))
    };
    let threshold = args.threshold;
    let official;
    let mut counted;
    let (rule, ties): (&(dyn Tally + Sync), TieBreaking) = match &args.rule {
        RuleArg::Official => {
            if threshold.is_some() {
                return Err(BadInput(
                    "--threshold: the official rule takes its threshold from the file".into(),
                ));
            }
            if args.utility.is_some() {
                return Err(BadInput(
                    "--utility: the official rule counts as the officials did".into(),
                ));
            }
            official =
                official_rule(&file).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            (
                official.rule.as_ref(),
                chosen(official.tie_breaking.clone())?,
            )
        }
        RuleArg::Rule(rule) => {
            counted = match (rule.clone(), threshold) {
                (Rule::GreedyThreshold { .. }, threshold) => Rule::GreedyThreshold {
                    threshold: match threshold {
                        Some(t) => t,
                        None => file
                            .meta("min_project_score_threshold")
                            .and_then(|v| v.trim().split('.').next()?.parse().ok())
                            .ok_or_else(|| {
                                BadInput(format!(
                                    "{}: greedy-threshold needs --threshold or META min_project_score_threshold",
                                    path.display()
                                ))
                            })?,
                    },
                },
                (Rule::GreedyNoSkip { .. }, Some(threshold)) => Rule::GreedyNoSkip { threshold },
                (rule, Some(_)) => {
                    return Err(BadInput(format!(
                        "--threshold: the rule {} takes no threshold",
                        rule.name()
                    )));
                }
                (rule, None) => rule,
            };
            if let Some(utility) = args.utility {
                let shares = counted.equal_shares().ok_or_else(|| {
                    BadInput(format!(
                        "--utility: the rule {} is not an equal-shares rule and takes no utility",
                        counted.name()
                    ))
                })?;
                counted = Rule::from_equal_shares(EqualShares {
                    utility: match utility {
                        UtilityArg::Cost => Utility::Cost,
                        UtilityArg::Cardinality => Utility::Cardinality,
                    },
                    ..shares
                });
            }
            (&counted, chosen(TieBreaking::by_project_id())?)
        }
    };
    bar.set_message(format!("{}: counting by {}", path.display(), rule.name()));
    let failed = |e: TallyError| BadInput(format!("{}: {e}", path.display()));
    let outcome = rule.tally(&election, &ties).map_err(failed)?;
    let why = if args.explain {
        bar.set_message(format!(
            "{}: explaining {} projects",
            path.display(),
            file.projects.len()
        ));
        Some(explain(rule, &election, &ties, &outcome).map_err(failed)?)
    } else {
        None
    };
    let satisfaction = Satisfaction::of(&election, &outcome.selected).map_err(failed)?;
    bar.finish_and_clear();
    Ok(Counted {
        file,
        outcome,
        satisfaction,
        why,
    })
}

/// An amount in the file's units: `units / scale` with its decimals.
fn amount(file: &PbFile, units: u64) -> String {
    let scale = file.scale.max(1);
    if scale == 1 {
        return units.to_string();
    }
    let digits = scale.ilog10() as usize;
    format!("{}.{:0digits$}", units / scale, units % scale)
}

fn amount_json(file: &PbFile, units: u64) -> serde_json::Value {
    if file.scale <= 1 {
        serde_json::Value::from(units)
    } else {
        serde_json::Value::from(amount(file, units))
    }
}

fn name_of(file: &PbFile, p: usize) -> &str {
    file.project_field(p, "name").unwrap_or("")
}

/// Whether the outcome funds exactly the projects the file's `selected`
/// column marks (`None`: the file has no such column).
fn matches_official(c: &Counted) -> Option<bool> {
    let mut official = c.file.selected()?;
    let mut ours = c.outcome.selected.clone();
    official.sort_unstable();
    ours.sort_unstable();
    Some(official == ours)
}

/// A measure for a person: an amount or a count, `~` before a threshold.
fn measure_text(m: Measure, shown: impl Fn(u64) -> String) -> String {
    match m {
        Measure::Exact(v) => shown(v),
        Measure::Threshold(v) => format!("~{}", shown(v)),
        Measure::Never => "never".into(),
        _ => "?".into(),
    }
}

fn table(out: &mut impl Write, path: &Path, c: &Counted) -> io::Result<()> {
    let (file, o) = (&c.file, &c.outcome);
    let currency = file.meta("currency").unwrap_or("");
    writeln!(
        out,
        "{} — rule {}, ties by {}",
        path.display(),
        o.rule,
        o.tie_breaking
    )?;
    writeln!(
        out,
        "budget {} {currency} · {} projects · {} voters",
        amount(file, o.budget),
        file.projects.len(),
        file.num_voters()
    )?;
    writeln!(
        out,
        "{:>4}  {:<16} {:>14} {:>10}  name",
        "#", "project", "cost", "support"
    )?;
    for (rank, &p) in o.selected.iter().enumerate() {
        let project = &file.projects[p];
        writeln!(
            out,
            "{:>4}  {:<16} {:>14} {:>10}  {}",
            rank + 1,
            project.id,
            amount(file, project.cost),
            o.scores.get(p).copied().unwrap_or(0),
            name_of(file, p)
        )?;
    }
    writeln!(
        out,
        "funded {} projects for {} {currency}; {} {currency} left",
        o.selected.len(),
        amount(file, o.total_cost),
        amount(file, o.left_over())
    )?;
    let d = &o.details;
    if let Some(b) = d.per_voter_budget {
        writeln!(
            out,
            "money per voter: {b} (minor units × scale {})",
            file.scale
        )?;
    }
    if let Some(runs) = d.add1_runs {
        writeln!(out, "add1 runs: {runs}")?;
    }
    if let Some(c) = d.comparison {
        writeln!(
            out,
            "comparison: {} voters prefer equal shares, {} greedy; {} taken",
            c.prefer_equal_shares,
            c.prefer_greedy,
            if c.greedy_taken {
                "greedy"
            } else {
                "equal shares"
            }
        )?;
    }
    if d.exact_arithmetic {
        writeln!(out, "a near-tie was decided with exact rational arithmetic")?;
    }
    let s = &c.satisfaction;
    writeln!(
        out,
        "voters with nothing funded: {} ({:.1} %); funded projects a voter supports: {:.2} on average, costing {} {currency}",
        s.nothing_funded,
        100.0 * s.exclusion_ratio().value(),
        s.mean_cardinality().value(),
        amount(file, s.mean_cost().value().round() as u64),
    )?;
    // Up to 9 one by one, then the rest together.
    let mut histogram: Vec<String> = s
        .histogram
        .iter()
        .take(10)
        .enumerate()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if s.histogram.len() > 10 {
        let rest: u64 = s.histogram[10..].iter().sum();
        histogram.push(format!("10+: {rest}"));
    }
    writeln!(
        out,
        "voters by funded projects they support: {}",
        histogram.join(" · ")
    )?;
    if let Some(matches) = matches_official(c) {
        writeln!(
            out,
            "the official result (column selected): {}",
            if matches { "the same" } else { "different" }
        )?;
    }
    if let Some(why) = &c.why {
        explain_table(out, c, why)?;
    }
    Ok(())
}

fn explain_table(out: &mut impl Write, c: &Counted, why: &Explanation) -> io::Result<()> {
    let file = &c.file;
    writeln!(out)?;
    writeln!(
        out,
        "why each project won or lost ({} counterfactual counts):",
        why.counts
    )?;
    writeln!(
        out,
        "  max cost: the largest cost at which it would have been (funded: still would be) funded"
    )?;
    writeln!(
        out,
        "  voters: the fewest added voters supporting it alone that would have funded it"
    )?;
    writeln!(
        out,
        "  ~: a threshold, for a rule that is not monotone in that change (see the docs of `explain`)"
    )?;
    writeln!(
        out,
        "{:<16} {:>14} {:>10} {:>6} {:>14} {:>10}  name",
        "project", "cost", "support", "funded", "max cost", "voters"
    )?;
    for x in &why.projects {
        let project = &file.projects[x.project];
        writeln!(
            out,
            "{:<16} {:>14} {:>10} {:>6} {:>14} {:>10}  {}",
            project.id,
            amount(file, x.cost),
            x.support,
            if x.selected { "yes" } else { "no" },
            measure_text(x.max_cost, |v| amount(file, v)),
            x.extra_voters
                .map_or_else(String::new, |m| measure_text(m, |v| v.to_string())),
            name_of(file, x.project)
        )?;
    }
    Ok(())
}

fn measure_json(m: Measure, value: impl Fn(u64) -> serde_json::Value) -> serde_json::Value {
    match m {
        Measure::Exact(v) => serde_json::json!({"kind": "exact", "value": value(v)}),
        Measure::Threshold(v) => serde_json::json!({"kind": "threshold", "value": value(v)}),
        _ => serde_json::json!({"kind": "never"}),
    }
}

fn json(out: &mut impl Write, path: &Path, c: &Counted) -> io::Result<()> {
    let (file, o) = (&c.file, &c.outcome);
    let selected: Vec<&str> = o
        .selected
        .iter()
        .map(|&p| file.projects[p].id.as_str())
        .collect();
    let official = file.selected();
    let chosen: std::collections::HashSet<usize> = o.selected.iter().copied().collect();
    let projects: Vec<serde_json::Value> = (0..file.projects.len())
        .map(|p| {
            let mut v = serde_json::json!({
                "id": file.projects[p].id,
                "name": name_of(file, p),
                "cost": amount_json(file, file.projects[p].cost),
                "support": o.scores.get(p).copied().unwrap_or(0),
                "selected": chosen.contains(&p),
            });
            if let Some(map) = v.as_object_mut() {
                if let Some(official) = &official {
                    map.insert("official_selected".into(), official.contains(&p).into());
                }
                if let Some(x) = c.why.as_ref().and_then(|w| w.projects.get(p)) {
                    map.insert(
                        "max_cost".into(),
                        measure_json(x.max_cost, |v| amount_json(file, v)),
                    );
                    if let Some(margin) = x.cost_margin() {
                        map.insert("cost_margin".into(), amount_json(file, margin));
                    }
                    if let Some(m) = x.extra_voters {
                        map.insert("extra_voters".into(), measure_json(m, Into::into));
                    }
                }
            }
            v
        })
        .collect();
    let mut value = serde_json::json!({
        "file": path.display().to_string(),
        "rule": o.rule,
        "tie_break": o.tie_breaking.to_string(),
        "selected": selected,
        "total_cost": amount_json(file, o.total_cost),
        "budget": amount_json(file, o.budget),
        "left_over": amount_json(file, o.left_over()),
        "num_voters": file.num_voters(),
        "num_projects": file.projects.len(),
        "exact_arithmetic": o.details.exact_arithmetic,
        "projects": projects,
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(b) = o.details.per_voter_budget {
            map.insert("per_voter_budget".into(), b.to_string().into());
        }
        if let Some(runs) = o.details.add1_runs {
            map.insert("add1_runs".into(), runs.into());
        }
        if let Some(c) = o.details.comparison {
            map.insert(
                "comparison".into(),
                serde_json::json!({
                    "prefer_equal_shares": c.prefer_equal_shares,
                    "prefer_greedy": c.prefer_greedy,
                    "greedy_taken": c.greedy_taken,
                }),
            );
        }
        if let Some(m) = matches_official(c) {
            map.insert("matches_official".into(), m.into());
        }
        let s = &c.satisfaction;
        map.insert(
            "satisfaction".into(),
            serde_json::json!({
                "mean_cost": s.mean_cost().to_string(),
                "mean_cardinality": s.mean_cardinality().to_string(),
                "nothing_funded": s.nothing_funded,
                "exclusion_ratio": s.exclusion_ratio().to_string(),
                "histogram": s.histogram,
            }),
        );
        if let Some(why) = &c.why {
            map.insert("counterfactual_counts".into(), why.counts.into());
        }
    }
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

/// CSV: one row per funded project (with `--explain`, per project); with
/// several files, each row starts with its file.
fn csv(out: &mut impl Write, path: Option<&Path>, header: bool, c: &Counted) -> io::Result<()> {
    let (file, o) = (&c.file, &c.outcome);
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let lead = path.map_or_else(String::new, |p| {
        format!("{},", quote(&p.display().to_string()))
    });
    if header {
        let file_column = if path.is_some() { "file," } else { "" };
        let measures = if c.why.is_some() {
            ",selected,max_cost,max_cost_exact,extra_voters,extra_voters_exact"
        } else {
            ""
        };
        writeln!(
            out,
            "{file_column}rank,project_id,cost,support,name{measures}"
        )?;
    }
    let Some(why) = &c.why else {
        for (rank, &p) in o.selected.iter().enumerate() {
            let project = &file.projects[p];
            writeln!(
                out,
                "{lead}{},{},{},{},{}",
                rank + 1,
                quote(&project.id),
                amount(file, project.cost),
                o.scores.get(p).copied().unwrap_or(0),
                quote(name_of(file, p))
            )?;
        }
        return Ok(());
    };
    let cells = |m: Option<Measure>, shown: &dyn Fn(u64) -> String| match m {
        Some(Measure::Exact(v)) => format!("{},true", shown(v)),
        Some(Measure::Threshold(v)) => format!("{},false", shown(v)),
        _ => ",".to_owned(),
    };
    for x in &why.projects {
        let project = &file.projects[x.project];
        let rank = o
            .selected
            .iter()
            .position(|&p| p == x.project)
            .map_or_else(String::new, |r| (r + 1).to_string());
        writeln!(
            out,
            "{lead}{rank},{},{},{},{},{},{},{}",
            quote(&project.id),
            amount(file, project.cost),
            x.support,
            quote(name_of(file, x.project)),
            x.selected,
            cells(Some(x.max_cost), &|v| amount(file, v)),
            cells(x.extra_voters, &|v| v.to_string()),
        )?;
    }
    Ok(())
}

fn check(files: &[PathBuf], format: CheckFormat) -> Result<(), BadInput> {
    let bar = ProgressBar::new(files.len() as u64).with_finish(ProgressFinish::AndClear);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut bad = 0_u64;
    let mut bad_files = 0_usize;
    for path in files {
        bar.set_message(path.display().to_string());
        let checked = pabulib::check_file(path, ParseOptions::default());
        let error = checked.read_error();
        let valid = checked.total == 0 && error.is_none();
        if !valid {
            bad = bad.saturating_add(checked.total + u64::from(error.is_some()));
            bad_files += 1;
        }
        match format {
            CheckFormat::Json => {
                let value = serde_json::json!({
                    "file": path.display().to_string(),
                    "valid": valid,
                    "problems": checked
                        .problems
                        .iter()
                        .map(|p| serde_json::json!({"line": p.line, "problem": p.kind.to_string()}))
                        .collect::<Vec<_>>(),
                    "total": checked.total,
                    "error": error.map(|e| serde_json::json!({
                        "line": (e.line > 0).then_some(e.line),
                        "message": e.kind.to_string(),
                    })),
                });
                bar.suspend(|| output::line(format_args!("{value}")))?;
            }
            CheckFormat::Text if !valid => {
                let found = problems(path, &checked);
                bar.suspend(|| output::line(format_args!("{}", found.trim_end_matches('\n'))))?;
            }
            CheckFormat::Text => {}
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if bad == 0 {
        output::note(format_args!("{} files, all valid", files.len()));
        Ok(())
    } else {
        Err(BadInput(format!(
            "{} files, {bad} problems in {bad_files} of them",
            files.len()
        )))
    }
}

/// `check`'s lines for one file: `file:line: problem` for the first
/// [`PROBLEMS_PRINTED`] problems, how many more there are, and the error that
/// stopped the reader, if any. Empty for a valid file.
fn problems(path: &Path, checked: &Checked) -> String {
    let mut out = String::new();
    for p in checked.problems.iter().take(PROBLEMS_PRINTED) {
        out.push_str(&format!("{}:{}: {}\n", path.display(), p.line, p.kind));
    }
    let printed = checked.problems.len().min(PROBLEMS_PRINTED) as u64;
    if checked.total > printed {
        out.push_str(&format!(
            "{}: … and {} more problems\n",
            path.display(),
            checked.total - printed
        ));
    }
    if let Some(e) = checked.read_error() {
        out.push_str(&format!("{}:{}\n", path.display(), located(e)));
    }
    out
}
