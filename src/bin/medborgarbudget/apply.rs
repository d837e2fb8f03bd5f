//! `programme new` and `apply`: an official establishes a programme from a
//! setup file and runs it with commands, one JSON object per line, each line
//! accepted or refused by the same rules as the library's, with its number.

use std::path::Path;
use std::sync::Arc;

use medborgarbudget::ids::ProgrammeId;
use medborgarbudget::process::{Programme, ProgrammeCommand, ProgrammeEvent, ProgrammeSetup};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{
    LogKey, NewEvent, Repository, RepositoryError, Store, StoreError, StoreExt, StreamId, VoterKey,
};

use super::BadInput;
use super::output;
use super::programmes::{StoreArg, bad, open, open_existing_to_write, programme_arg};

/// The largest setup file read.
pub const MAX_SETUP_BYTES: u64 = 1 << 20;
/// The largest commands file read.
pub const MAX_COMMANDS_BYTES: u64 = 256 << 20;
/// The most lines a commands file may have.
pub const MAX_COMMAND_LINES: usize = 1_000_000;

/// Reads `path`, refusing a file past `limit` bytes (named with the limit);
/// never holds more than `limit + 1` bytes, whatever the file's recorded
/// length (a pipe has none, a growing file outruns it).
pub(super) fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, BadInput> {
    use std::io::Read;
    let name = path.display();
    let unreadable = |e: std::io::Error| BadInput(format!("{name}: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(BadInput(format!(
            "{name}: more than {limit} bytes; a {what} may have at most {limit} bytes"
        )));
    }
    Ok(bytes)
}

/// [`read_limited`], as UTF-8 text.
fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String, BadInput> {
    String::from_utf8(read_limited(path, limit, what)?)
        .map_err(|e| BadInput(format!("{}: {e}", path.display())))
}

/// A serde_json error with where it happened: `line L, column C: …`.
fn located(e: &serde_json::Error) -> String {
    if e.line() == 0 {
        e.to_string()
    } else {
        // serde_json ends its message with " at line L column C"; say it first.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        format!("line {}, column {}: {message}", e.line(), e.column())
    }
}

/// The setup in `text`: a JSON object as [`ProgrammeSetup`] serialises, where
/// `id` (a new random id) and `established_at` (now) may be left out.
pub fn parse_setup(text: &str) -> Result<ProgrammeSetup, String> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| located(&e))?;
    let Some(object) = value.as_object_mut() else {
        return Err("the setup is a JSON object".into());
    };
    object
        .entry("id")
        .or_insert_with(|| uuid::Uuid::new_v4().to_string().into());
    object.entry("established_at").or_insert_with(|| {
        medborgarbudget::store::timestamp(&medborgarbudget::store::now()).into()
    });
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// `programme new --setup FILE`: establishes the programme in the store
/// (creating an SQLite store and its keys if there is none yet).
pub fn new_programme(store: &StoreArg, setup: &Path) -> Result<(), BadInput> {
    let text = read_text_limited(setup, MAX_SETUP_BYTES, "setup file")?;
    let setup_value =
        parse_setup(&text).map_err(|e| BadInput(format!("{}: {e}", setup.display())))?;
    let id = setup_value.id;
    // The rules first, so that a refused setup is named as such and no store
    // or key is created for it.
    Programme::new(setup_value.clone())
        .map_err(|e| BadInput(format!("{}: {e}", setup.display())))?;
    let (handle, voter) = open(store)?;
    let mut repo = Repository::<Programme>::new(handle, voter);
    match repo.create(id, ProgrammeEvent::Established(setup_value)) {
        Ok(p) => output::line(format_args!(
            "programme {id} established: {}, {}–{} ({} years)",
            p.setup().area.name(),
            p.setup().first_year,
            p.setup().first_year + i32::from(p.setup().years) - 1,
            p.setup().years
        )),
        Err(RepositoryError::Store(StoreError::AlreadyExists { .. })) => Err(BadInput(format!(
            "{}: the store already holds programme {id}",
            setup.display()
        ))),
        Err(e) => Err(BadInput(format!(
            "{}: {}",
            setup.display(),
            medborgarbudget::error_chain(&e)
        ))),
    }
}

/// A copy of the programme's stream in memory, written with the same voter
/// key, for a dry run: the same repository decides every line, and nothing
/// reaches the store.
pub(super) fn dry_copy(
    store: &Arc<dyn Store>,
    id: ProgrammeId,
    voter: &VoterKey,
) -> Result<Arc<dyn Store>, BadInput> {
    let stream = StreamId::programme(id);
    let events: Vec<NewEvent> = store
        .read_all(&stream, 0)
        .map_err(bad)?
        .into_iter()
        .map(|e| NewEvent {
            schema: e.schema,
            payload: e.payload,
        })
        .collect();
    let copy = MemoryStore::new().with_log_key(LogKey::random());
    copy.append_as(&stream, 0, events, Some(&voter.fingerprint()))
        .map_err(bad)?;
    Ok(Arc::new(copy))
}

/// What became of the lines of a commands file.
#[derive(Debug, Default)]
struct Lines {
    accepted: usize,
    refused: usize,
    skipped: usize,
}

/// `apply --programme ID FILE`: each line a [`ProgrammeCommand`] in JSON,
/// executed in order; a refused line changes nothing. By default the first
/// refused line stops the run (the lines after it are not applied);
/// `keep_going` goes on. With `dry_run` every line is judged against a copy
/// in memory and nothing is stored. Exit 1 when a line was refused.
pub fn apply(
    store: &StoreArg,
    programme: &str,
    file: &Path,
    dry_run: bool,
    keep_going: bool,
) -> Result<(), BadInput> {
    let id = programme_arg(programme)?;
    let text = read_text_limited(file, MAX_COMMANDS_BYTES, "commands file")?;
    let lines = text.lines().count();
    if lines > MAX_COMMAND_LINES {
        return Err(BadInput(format!(
            "{}: {lines} lines; a commands file may have at most {MAX_COMMAND_LINES}",
            file.display()
        )));
    }
    let (handle, voter) = open_existing_to_write(store)?;
    if handle
        .head(&StreamId::programme(id))
        .map_err(bad)?
        .is_none()
    {
        return Err(BadInput(format!("the store holds no programme {id}")));
    }
    let handle = if dry_run {
        dry_copy(&handle, id, &voter)?
    } else {
        handle
    };
    let mut repo = Repository::<Programme>::new(handle, voter);
    repo.load(id).map_err(bad)?;
    let name = file.display();
    let mut tally = Lines::default();
    for (k, line) in text.lines().enumerate() {
        let n = k + 1;
        if line.trim().is_empty() {
            continue;
        }
        if tally.refused > 0 && !keep_going {
            tally.skipped += 1;
            continue;
        }
        let command: ProgrammeCommand = match serde_json::from_str(line) {
            Ok(command) => command,
            Err(e) => {
                tally.refused += 1;
                let why = located(&e).replacen("line 1, ", "", 1);
                output::line(format_args!("{name}:{n}: refused: not a command: {why}"))?;
                continue;
            }
        };
        let what = match &command {
            ProgrammeCommand::Cycle { year, command } => format!("{year} {}", command.name()),
            ProgrammeCommand::StartCycle { year, .. } => format!("start_cycle {year}"),
            ProgrammeCommand::Delivery { year, update, .. } => {
                format!("{year} delivery {}", update.name())
            }
            other => other.name().to_owned(),
        };
        match repo.execute(id, command) {
            Ok(events) => {
                tally.accepted += 1;
                output::line(format_args!(
                    "{name}:{n}: accepted: {what} ({} event{})",
                    events.len(),
                    if events.len() == 1 { "" } else { "s" }
                ))?;
            }
            Err(RepositoryError::Rejected(e)) => {
                // The programme's refusals name their causes themselves.
                tally.refused += 1;
                output::line(format_args!("{name}:{n}: refused: {what}: {e}"))?;
            }
            Err(e) => {
                return Err(BadInput(format!(
                    "{name}:{n}: {what}: {}",
                    medborgarbudget::error_chain(&e)
                )));
            }
        }
    }
    let stored = if dry_run {
        "dry run: nothing stored"
    } else if tally.accepted > 0 {
        "the accepted lines are stored"
    } else {
        "nothing stored"
    };
    let skipped = if tally.skipped > 0 {
        format!(
            ", {} not applied after the first refusal (--keep-going goes on)",
            tally.skipped
        )
    } else {
        String::new()
    };
    let summary = format!(
        "{} accepted, {} refused{skipped}; {stored}",
        tally.accepted, tally.refused
    );
    if tally.refused > 0 {
        Err(BadInput(summary))
    } else {
        output::line(format_args!("{summary}"))
    }
}
