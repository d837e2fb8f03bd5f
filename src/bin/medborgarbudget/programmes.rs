//! `simulate`, `sweep` and `report`: simulated programmes in a store, grids of
//! them, and the HTML report of a stored programme.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use medborgarbudget::ids::ProgrammeId;
use medborgarbudget::process::Programme;
use medborgarbudget::report::Report;
use medborgarbudget::sim::{self, Scenario, Simulation, Sweep, SweepRow, Trust};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{
    KeyFiles, LogKey, Repository, Store, StoreExt, StreamId, Verified, VoterKey,
};
use medborgarbudget::tally::Rule;

use super::BadInput;
use super::output;

/// Where programmes are stored: `memory`, `sqlite:PATH` or `postgres:URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreArg {
    /// In memory, gone when the command ends.
    Memory,
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: the URL as the server takes it, and the schema
    /// (`medborgarbudget` unless the URL names another with `schema=NAME`).
    Postgres {
        /// The connection URL, without `schema=`.
        url: String,
        /// The schema the events are kept in.
        schema: String,
    },
}

/// The schema a PostgreSQL store uses unless its URL names another.
const DEFAULT_SCHEMA: &str = "medborgarbudget";

/// Takes `schema=NAME` out of a URL's query (the server does not know the
/// parameter): the URL without it, and the schema.
fn split_schema(url: &str) -> Result<(String, String), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_SCHEMA.to_owned()));
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("schema=") {
            Some(_) if schema.is_some() => {
                return Err(format!("{url:?}: schema= is given twice"));
            }
            Some(name) => schema = Some(name.to_owned()),
            None => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned())))
}

impl std::str::FromStr for StoreArg {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreArg, String> {
        if s == "memory" {
            Ok(StoreArg::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            sqlite_path(path).map(StoreArg::Sqlite)
        } else if s.starts_with("postgres:") || s.starts_with("postgresql:") {
            let (url, schema) = split_schema(s)?;
            Ok(StoreArg::Postgres { url, schema })
        } else {
            Err(format!(
                "{s:?}: expected memory, sqlite:PATH or postgres://…"
            ))
        }
    }
}

/// The path of an SQLite store: a file, never one of the names SQLite keeps
/// in a throwaway place (the empty name is a temporary file deleted when the
/// run ends, `:memory:` and `file:` URIs with `mode=memory` are memory) —
/// they would "store" a run nowhere and leave its voter key in the current
/// folder. `file:` URIs are refused altogether, since the key is kept at
/// `PATH.key` beside a plain path.
fn sqlite_path(path: &str) -> Result<PathBuf, String> {
    if path.trim().is_empty() {
        Err("sqlite: needs the path of the database file (sqlite:PATH); SQLite would keep an empty name in a temporary file deleted when the run ends".into())
    } else if path == ":memory:" {
        Err("sqlite::memory: is a database in memory, gone when the run ends; use --store memory, or sqlite:PATH for a file".into())
    } else if path
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("file:"))
    {
        Err(format!(
            "sqlite:{path}: SQLite URIs (file:…) are not supported; give the plain path of the database file"
        ))
    } else {
        Ok(PathBuf::from(path))
    }
}

impl Default for StoreArg {
    fn default() -> StoreArg {
        StoreArg::Sqlite(PathBuf::from("medborgarbudget.db"))
    }
}

impl std::fmt::Display for StoreArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreArg::Memory => f.write_str("memory"),
            StoreArg::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreArg::Postgres { url, schema } if schema == DEFAULT_SCHEMA => f.write_str(url),
            StoreArg::Postgres { url, schema } => {
                let join = if url.contains('?') { '&' } else { '?' };
                write!(f, "{url}{join}schema={schema}")
            }
        }
    }
}

/// Bad input, saying what went wrong and every cause under it
/// (`programme event 7 (accepted) does not replay: cycle of 2027: …`).
pub(super) fn bad(e: impl std::error::Error) -> BadInput {
    BadInput(medborgarbudget::error_chain(&e))
}

/// Opens the store to write, with the keys kept with it: beside an SQLite file
/// (`PATH.key` for the voter key, `PATH.log-key` for the log key that seals
/// stream heads), in `MEDBORGARBUDGET_VOTER_KEY` and `MEDBORGARBUDGET_LOG_KEY`
/// (hex) for PostgreSQL, fresh for memory. Keys are created only for a store
/// that holds nothing yet, readable by their owner only; an SQLite store
/// written before log keys existed is opened without one (its heads are
/// compared, not sealed).
pub(super) fn open(store: &StoreArg) -> Result<(Arc<dyn Store>, VoterKey), BadInput> {
    match store {
        StoreArg::Memory => Ok((
            Arc::new(MemoryStore::new().with_log_key(LogKey::random())),
            VoterKey::random(),
        )),
        StoreArg::Sqlite(path) => {
            let sqlite = SqliteStore::open(path).map_err(bad)?;
            let empty = sqlite.streams().map_err(bad)?.is_empty();
            let files = KeyFiles::beside(path);
            let voter = files.voter_key(empty).map_err(bad)?;
            let sqlite = match files.log_key(empty).map_err(bad)? {
                Some(key) => sqlite.with_log_key(key),
                None => {
                    let sealed = sqlite
                        .streams()
                        .and_then(|streams| {
                            for info in streams {
                                if sqlite.head(&info.stream)?.is_some_and(|h| h.seal.is_some()) {
                                    return Ok(true);
                                }
                            }
                            Ok(false)
                        })
                        .map_err(bad)?;
                    if sealed {
                        return Err(BadInput(format!(
                            "{} is missing: the stream heads in {} are sealed with that key",
                            files.log.display(),
                            path.display()
                        )));
                    }
                    output::note(format_args!(
                        "{} was written without a log key ({} is missing): its stream heads are checked but not sealed",
                        path.display(),
                        files.log.display()
                    ));
                    sqlite
                }
            };
            Ok((Arc::new(sqlite), voter))
        }
        StoreArg::Postgres { url, schema } => {
            let voter = env_key("MEDBORGARBUDGET_VOTER_KEY", "voter key", VoterKey::from_hex)?
                .ok_or_else(|| {
                    BadInput(
                        "set MEDBORGARBUDGET_VOTER_KEY to the voter key (hex, 16 to 1,024 bytes) for a PostgreSQL store".into(),
                    )
                })?;
            let log = env_key("MEDBORGARBUDGET_LOG_KEY", "log key", LogKey::from_hex)?
                .ok_or_else(|| {
                    BadInput(
                        "set MEDBORGARBUDGET_LOG_KEY to the log key that seals stream heads (hex, 16 to 1,024 bytes; not the voter key) for a PostgreSQL store".into(),
                    )
                })?;
            Ok((postgres(url, schema, Some(log))?, voter))
        }
    }
}

/// Opens the store to read (`report`): no voter key is needed or asked for.
/// The log key is used when it is there (`PATH.log-key`,
/// `MEDBORGARBUDGET_LOG_KEY`) to check the heads' seals.
fn open_to_read(store: &StoreArg) -> Result<Arc<dyn Store>, BadInput> {
    match store {
        StoreArg::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreArg::Sqlite(path) => {
            let sqlite = SqliteStore::open(path).map_err(bad)?;
            Ok(match KeyFiles::beside(path).log_key(false).map_err(bad)? {
                Some(key) => Arc::new(sqlite.with_log_key(key)),
                None => Arc::new(sqlite),
            })
        }
        StoreArg::Postgres { url, schema } => {
            let log = env_key("MEDBORGARBUDGET_LOG_KEY", "log key", LogKey::from_hex)?;
            postgres(url, schema, log)
        }
    }
}

/// Refuses a store that cannot hold anything yet: a memory store (empty
/// when the command starts) and an SQLite file that is not there (opening it
/// would create it).
fn existing(store: &StoreArg) -> Result<(), BadInput> {
    if *store == StoreArg::Memory {
        return Err(BadInput(
            "a memory store is empty; give sqlite:PATH or postgres://…".into(),
        ));
    }
    if let StoreArg::Sqlite(path) = store
        && !path.exists()
    {
        return Err(BadInput(format!(
            "{} does not exist; run `medborgarbudget simulate` or `medborgarbudget programme new` first",
            path.display()
        )));
    }
    Ok(())
}

/// Opens a store that must exist already, to read (`report`, `audit`,
/// `status`).
pub(super) fn open_existing(store: &StoreArg) -> Result<Arc<dyn Store>, BadInput> {
    existing(store)?;
    open_to_read(store)
}

/// Opens a store that must exist already, to write (`apply`), with its voter
/// key.
pub(super) fn open_existing_to_write(
    store: &StoreArg,
) -> Result<(Arc<dyn Store>, VoterKey), BadInput> {
    existing(store)?;
    open(store)
}

/// A key from an environment variable, if it is set.
fn env_key<K, E: std::fmt::Display>(
    var: &str,
    what: &str,
    parse: fn(&str) -> Result<K, E>,
) -> Result<Option<K>, BadInput> {
    match std::env::var(var) {
        Ok(hex) => parse(&hex)
            .map(Some)
            .map_err(|e| BadInput(format!("{var}: not a {what}: {e}"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(BadInput(format!("{var}: {e}"))),
    }
}

#[cfg(feature = "postgres")]
fn postgres(url: &str, schema: &str, log: Option<LogKey>) -> Result<Arc<dyn Store>, BadInput> {
    use medborgarbudget::store::postgres::PostgresStore;
    let store = PostgresStore::connect(url, schema).map_err(bad)?;
    Ok(match log {
        Some(key) => Arc::new(store.with_log_key(key)),
        None => Arc::new(store),
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &str, _: &str, _: Option<LogKey>) -> Result<Arc<dyn Store>, BadInput> {
    Err(BadInput(
        "this build has no PostgreSQL store; build with --features postgres".into(),
    ))
}

fn scenario(path: Option<&Path>, years: Option<u32>) -> Result<Scenario, BadInput> {
    let in_file = |e: sim::SimError| match (path, &e) {
        (Some(p), sim::SimError::Invalid { .. } | sim::SimError::Limit { .. }) => {
            BadInput(format!("{}: {}", p.display(), bad(e).0))
        }
        _ => bad(e),
    };
    let mut scenario = match path {
        Some(p) => Scenario::from_file(p).map_err(in_file)?,
        None => Scenario::default(),
    };
    if let Some(y) = years {
        scenario.years = y;
        // The file checked; what does not now comes from --years.
        scenario.check().map_err(bad)?;
    }
    Ok(scenario)
}

fn percent(f: medborgarbudget::tally::Fraction) -> String {
    format!("{:.1} %", f.value() * 100.0)
}

/// The output format of `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimulateFormat {
    /// A heading, then a table with a row per year.
    Table,
    /// One JSON object: the run and its years.
    Json,
    /// A row per year, comma-separated, with a header.
    Csv,
}

/// `simulate --print-scenario`: the scenario the run would use, as TOML.
pub fn print_scenario(scenario_file: Option<&Path>, years: Option<u32>) -> Result<(), BadInput> {
    let scenario = scenario(scenario_file, years)?;
    let text = toml::to_string(&scenario).map_err(|e| BadInput(format!("the scenario: {e}")))?;
    output::line(format_args!("{}", text.trim_end()))
}

/// `simulate`.
pub fn simulate(
    scenario_file: Option<&Path>,
    years: Option<u32>,
    seed: u64,
    store: &StoreArg,
    format: SimulateFormat,
) -> Result<(), BadInput> {
    let scenario = scenario(scenario_file, years)?;
    let (handle, key) = open(store)?;
    let sim = Simulation::new(&scenario, seed).map_err(bad)?;
    let started = std::time::Instant::now();
    let run = sim.run(handle, key).map_err(bad)?;
    let took = started.elapsed();
    let programme = sim.programme_id().map_err(bad)?;
    let stored = if run.events_written == 0 {
        format!(
            "already stored: {} events checked, none written",
            run.events_checked
        )
    } else if run.events_checked > 0 {
        format!(
            "continued a stored run: {} events checked, {} written",
            run.events_checked, run.events_written
        )
    } else {
        format!("{} events written", run.events_written)
    };
    let ms = took.as_secs_f64() * 1000.0;
    let mut out = std::io::stdout().lock();
    match format {
        SimulateFormat::Json => {
            let value = serde_json::json!({
                "scenario": scenario.name,
                "district": scenario.district,
                "population": scenario.population,
                "seed": seed,
                "rule": scenario.rule.to_string(),
                "store": store.to_string(),
                "programme": programme,
                "years": run.years,
                "events_checked": run.events_checked,
                "events_written": run.events_written,
                "milliseconds": ms.round(),
            });
            serde_json::to_writer_pretty(&mut out, &value)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .map_err(output::stdout_failed)?;
            return Ok(());
        }
        SimulateFormat::Csv => {
            let rows = run.years.iter().map(|y| {
                format!(
                    "{},{},{},{:.6},{},{},{},{},{},{:.6}",
                    y.year,
                    y.population,
                    y.voters,
                    y.turnout.value(),
                    y.ideas,
                    y.on_ballot,
                    y.funded,
                    y.spent.minor(),
                    y.spent.currency(),
                    y.voters_with_funded.value()
                )
            });
            writeln!(
                out,
                "year,population,voters,turnout,ideas,on_ballot,funded,spent_minor,currency,voters_with_funded"
            )
            .map_err(output::stdout_failed)?;
            for row in rows {
                writeln!(out, "{row}").map_err(output::stdout_failed)?;
            }
            drop(out);
            output::note(format_args!("programme {programme}; {stored}; {ms:.0} ms"));
            return Ok(());
        }
        SimulateFormat::Table => {}
    }
    let w =
        |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(output::stdout_failed);
    w(
        &mut out,
        format!(
            "{} — {} ({} residents), seed {seed}, rule {}, store {store}",
            scenario.name, scenario.district, scenario.population, scenario.rule
        ),
    )?;
    w(&mut out, format!("programme {programme}"))?;
    w(
        &mut out,
        format!(
            "{:<6} {:>7} {:>8} {:>6} {:>9} {:>7} {:>18} {:>12}",
            "year", "voters", "turnout", "ideas", "on ballot", "funded", "spent", "with funded"
        ),
    )?;
    for y in &run.years {
        w(
            &mut out,
            format!(
                "{:<6} {:>7} {:>8} {:>6} {:>9} {:>7} {:>18} {:>12}",
                y.year,
                y.voters,
                percent(y.turnout),
                y.ideas,
                y.on_ballot,
                y.funded,
                y.spent.to_string(),
                percent(y.voters_with_funded)
            ),
        )?;
    }
    w(&mut out, format!("{stored}; {ms:.0} ms"))
}

/// The output format of `sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SweepFormat {
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array of rows.
    Json,
}

/// `sweep`.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    scenario_file: Option<&Path>,
    years: Option<u32>,
    programmes: u64,
    first_seed: u64,
    rules: &[Rule],
    outreach: &[bool],
    trust: &[Trust],
    threads: usize,
    format: SweepFormat,
    out: Option<&Path>,
) -> Result<(), BadInput> {
    let base = scenario(scenario_file, years)?;
    let grid = Sweep {
        base,
        rules: rules.to_vec(),
        outreach: outreach.to_vec(),
        trust: trust.to_vec(),
        feedback: Vec::new(),
        seeds: Sweep::seeds_from(first_seed, programmes).map_err(bad)?,
    };
    grid.check().map_err(bad)?;
    let used = Sweep::threads(threads).map_err(bad)?;
    if threads > used {
        output::note(format_args!(
            "--threads {threads}: this machine has {used} cores; using {used} threads"
        ));
    }
    let total = grid.size();
    let bar = ProgressBar::new(total).with_finish(ProgressFinish::AndClear);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} programmes {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let rows = sim::sweep(&grid, used, &|done, _| bar.set_position(done as u64)).map_err(bad)?;
    bar.finish_and_clear();
    output::note(format_args!(
        "{total} programmes in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    match out {
        Some(p) => output::to_file(p, |w| write_rows(&rows, format, w)),
        None => {
            write_rows(&rows, format, &mut std::io::stdout().lock()).map_err(output::stdout_failed)
        }
    }
}

fn write_rows(rows: &[SweepRow], format: SweepFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        SweepFormat::Csv => sim::write_csv(rows, out),
        SweepFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)
        }
    }
}

/// The programme named by `--programme ID`.
pub(super) fn programme_arg(id: &str) -> Result<ProgrammeId, BadInput> {
    id.parse()
        .map_err(|e| BadInput(format!("--programme {id}: {e}")))
}

/// The programme to report: the one named, or the most recently established
/// in the store.
fn find_programme(store: &dyn Store, id: Option<&str>) -> Result<ProgrammeId, BadInput> {
    if let Some(id) = id {
        return programme_arg(id);
    }
    let mut newest: Option<(chrono::DateTime<chrono::Utc>, ProgrammeId)> = None;
    for info in store.streams().map_err(bad)? {
        let Some(id) = info.stream.programme_id() else {
            continue;
        };
        let first = store.read(&info.stream, 0, 1).map_err(bad)?;
        if let Some(e) = first.first()
            && newest.as_ref().is_none_or(|(t, _)| e.recorded_at > *t)
        {
            newest = Some((e.recorded_at, id));
        }
    }
    newest.map(|(_, id)| id).ok_or_else(|| {
        BadInput("the store holds no programme; run `medborgarbudget simulate` first".into())
    })
}

/// `report --election FILE.pb`: the file's ballots through a cycle's voting
/// step (eligibility, window, ballot rules), counted by `rule`, reported as
/// a counted year.
pub fn report_election(file: &Path, rule: &Rule, lang: &str, out: &Path) -> Result<(), BadInput> {
    let name = file.display();
    let pb = medborgarbudget::pabulib::read_file(file)
        .map_err(|e| BadInput(format!("{name}: {}", medborgarbudget::error_chain(&e))))?;
    let cycle = medborgarbudget::pabulib::cycle::replay_vote(&pb, rule)
        .map_err(|e| BadInput(format!("{name}: {}", medborgarbudget::error_chain(&e))))?;
    let report = Report::cycle(&medborgarbudget::process::AnyCycle::from(cycle))
        .map_err(|e| BadInput(format!("{name}: {}", medborgarbudget::error_chain(&e))))?
        .in_language(lang.parse().map_err(bad)?);
    output::to_file(out, |w| w.write_all(report.to_html().as_bytes()))?;
    output::line(format_args!(
        "wrote {} ({name} counted by {rule})",
        out.display()
    ))
}

/// `report`.
pub fn report(
    store: &StoreArg,
    programme: Option<&str>,
    lang: &str,
    out: &Path,
) -> Result<(), BadInput> {
    let handle = open_existing(store)?;
    let id = find_programme(handle.as_ref(), programme)?;
    let stream = StreamId::programme(id);
    let verified: Verified = handle.verify(&stream).map_err(bad)?;
    let mut repo = Repository::<Programme>::reader(handle);
    let loaded: &Programme = repo.load(id).map_err(bad)?;
    let report = Report::programme(loaded)
        .map_err(bad)?
        .with_head(stream, verified)
        .in_language(lang.parse().map_err(bad)?);
    output::to_file(out, |w| w.write_all(report.to_html().as_bytes()))?;
    output::line(format_args!(
        "wrote {} (programme {id}; head: event {}, {}{})",
        out.display(),
        verified.events,
        verified.head,
        if verified.sealed {
            ", seal verified"
        } else {
            ", seal not checked: no log key"
        }
    ))
}
