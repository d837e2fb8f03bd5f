//! `ballots import`: paper ballots from a CSV file, entered as one paper batch
//! by a named official.
//!
//! The file has a header row and one row per ballot. Columns, in any order:
//!
//! * `voter` — the resident's id (a UUID), the voter's reference;
//! * `born` — the voter's date of birth (`YYYY-MM-DD`);
//! * `resident_since` — first day of residence in the programme's area;
//! * `choices` — the projects, separated by spaces: each either its number on
//!   the shortlist (1, 2, …, in the order `status` lists them) or its id; a
//!   cumulative ballot gives `project:points`; a ranked ballot lists best
//!   first;
//! * `cast_on` — when the ballot was cast: a date (taken as 12:00 UTC) or an
//!   RFC 3339 time;
//! * `groups` (optional) — the voter's groups as `dimension=group`, separated
//!   by `;` (`age=18-64;language=svenska`);
//! * `ballot` (optional) — the ballot's id (a UUID); without it the id is
//!   derived from the file's contents and the row, so importing the same file
//!   twice is refused as the same ballots twice;
//! * `part` (in a cycle of several budget parts) — the part the ballot is for,
//!   by its id (`hjallbo`);
//! * `lives_in` (optional) — the sub-area the voter is registered in, by name
//!   or id; without it, the district as a whole.
//!
//! An unknown or repeated column is refused naming it. Each row is checked by
//! the cycle's rules on a copy in memory, in order (a voter twice in the file
//! is refused the second time); a refused row is reported with its line. With
//! no refused row, or with `--skip-invalid`, the accepted rows are stored as
//! one paper batch: all of them or, if the batch is refused, none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use medborgarbudget::area::{Area, Resident};
use medborgarbudget::ballot::{BallotKind, BallotSubmission, Choices, PaperBatch};
use medborgarbudget::ids::{BallotId, ProjectId, ResidentId};
use medborgarbudget::part::PartId;
use medborgarbudget::process::{Command, Programme, ProgrammeCommand};
use medborgarbudget::store::{Repository, RepositoryError};
use sha2::{Digest, Sha256};

use super::BadInput;
use super::apply::{dry_copy, read_limited};
use super::output;
use super::programmes::{StoreArg, bad, open_existing_to_write, programme_arg};

/// The largest file read.
pub const MAX_CSV_BYTES: u64 = 64 << 20;
/// The most rows a file may have.
pub const MAX_ROWS: usize = 1_000_000;

/// The columns a file may have; the first five are required.
const COLUMNS: [&str; 9] = [
    "voter",
    "born",
    "resident_since",
    "choices",
    "cast_on",
    "groups",
    "ballot",
    "part",
    "lives_in",
];

/// What `ballots import` was asked to do.
#[derive(Debug)]
pub struct Import<'a> {
    /// The store.
    pub store: &'a StoreArg,
    /// The programme's id.
    pub programme: &'a str,
    /// The year whose cycle the ballots are for.
    pub year: i32,
    /// The official entering them.
    pub entered_by: &'a str,
    /// When they are entered (default: now).
    pub entered_at: Option<DateTime<Utc>>,
    /// The CSV file.
    pub file: &'a Path,
    /// Store the rows that pass, writing the refused ones to `refused`.
    pub skip_invalid: bool,
    /// Check every row, store nothing.
    pub dry_run: bool,
    /// Where refused rows go with `skip_invalid` (default: FILE.refused.csv).
    pub refused: Option<&'a Path>,
}

/// One row accepted: its line and its ballot.
struct Row {
    line: u64,
    ballot: BallotSubmission,
}

/// The ballot in `record` (`at`: each column's index), for a cycle in `area`
/// with `shortlist` on the ballot, or why not (naming the column).
fn ballot(
    record: &csv::StringRecord,
    at: &HashMap<&str, usize>,
    (area, shortlist): (&Area, &[ProjectId]),
    kind: BallotKind,
    derived: BallotId,
) -> Result<BallotSubmission, String> {
    let field = |name: &str| -> &str {
        at.get(name)
            .and_then(|&i| record.get(i))
            .map_or("", str::trim)
    };
    let date = |name: &str| {
        NaiveDate::parse_from_str(field(name), "%Y-%m-%d")
            .map_err(|e| format!("{name} {:?}: {e} (expected YYYY-MM-DD)", field(name)))
    };
    let uuid = |name: &str, text: &str| {
        uuid::Uuid::parse_str(text).map_err(|e| format!("{name} {text:?}: {e}"))
    };
    let voter = ResidentId::from_uuid(uuid("voter", field("voter"))?);
    let home = match field("lives_in") {
        "" => area.id(),
        text => area
            .sub_areas()
            .iter()
            .find(|s| s.name == text || s.id.to_string() == text)
            .map(|s| s.id)
            .ok_or_else(|| {
                format!(
                    "lives_in {text:?}: the district has no such sub-area (it has {})",
                    area.sub_areas()
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
    };
    let part = match field("part") {
        "" => None,
        text => Some(PartId::new(text).map_err(|e| format!("part: {e}"))?),
    };
    let mut resident = Resident::new(voter, date("born")?, home, date("resident_since")?);
    for pair in field("groups").split(';').filter(|p| !p.trim().is_empty()) {
        let Some((dimension, group)) = pair.split_once('=') else {
            return Err(format!("groups {pair:?}: expected dimension=group"));
        };
        resident = resident.in_group(dimension.trim(), group.trim());
    }
    let cast = field("cast_on");
    let cast_at = match NaiveDate::parse_from_str(cast, "%Y-%m-%d") {
        Ok(day) => day
            .and_time(NaiveTime::MIN + chrono::Duration::hours(12))
            .and_utc(),
        Err(_) => DateTime::parse_from_rfc3339(cast)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("cast_on {cast:?}: {e} (expected a date or an RFC 3339 time)"))?,
    };
    let project = |text: &str| -> Result<ProjectId, String> {
        if let Ok(n) = text.parse::<usize>() {
            return n
                .checked_sub(1)
                .and_then(|k| shortlist.get(k))
                .copied()
                .ok_or_else(|| {
                    format!(
                        "choices: no project {n} on the shortlist (it has {})",
                        shortlist.len()
                    )
                });
        }
        uuid("choices", text).map(ProjectId::from_uuid)
    };
    let entries = field("choices").split_whitespace();
    let choices = match kind {
        BallotKind::Cumulative => Choices::Points(
            entries
                .map(|entry| {
                    let (p, points) = entry
                        .split_once(':')
                        .ok_or_else(|| format!("choices {entry:?}: expected project:points"))?;
                    let points = points
                        .parse::<u32>()
                        .map_err(|e| format!("choices {entry:?}: {e}"))?;
                    Ok((project(p)?, points))
                })
                .collect::<Result<_, String>>()?,
        ),
        BallotKind::Ranked => Choices::Ranking(entries.map(project).collect::<Result<_, _>>()?),
        _ => Choices::Approval(entries.map(project).collect::<Result<_, _>>()?),
    };
    let id = match field("ballot") {
        "" => derived,
        text => BallotId::from_uuid(uuid("ballot", text)?),
    };
    Ok(BallotSubmission {
        part,
        id,
        voter: resident,
        cast_at,
        choices,
    })
}

/// A ballot id from the file's digest and the row's line: the same file
/// gives the same ids.
fn derived_id(digest: &[u8], line: u64) -> BallotId {
    let mut hasher = Sha256::new();
    hasher.update(b"medborgarbudget paper ballot\0");
    hasher.update(digest);
    hasher.update(line.to_le_bytes());
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&hasher.finalize()[..16]);
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    BallotId::from_uuid(uuid)
}

/// `ballots import`.
pub fn import(job: &Import<'_>) -> Result<(), BadInput> {
    let name = job.file.display();
    if job.entered_by.trim().is_empty() {
        return Err(BadInput(
            "--entered-by: name the official entering the ballots".into(),
        ));
    }
    let bytes = read_limited(job.file, MAX_CSV_BYTES, "ballots file")?;
    let digest = Sha256::digest(&bytes);
    let id = programme_arg(job.programme)?;
    let (store, voter_key) = open_existing_to_write(job.store)?;
    let mut reader = Repository::<Programme>::reader(Arc::clone(&store));
    let programme = reader.load(id).map_err(bad)?;
    let Some(cycle) = programme.cycle(job.year) else {
        return Err(BadInput(format!(
            "programme {id} has no cycle for {}",
            job.year
        )));
    };
    let area = cycle.setup().area.clone();
    let shortlist: Vec<ProjectId> = cycle.shortlist().map(|p| p.id()).collect();
    let kind = cycle
        .framework()
        .map(|f| f.rules.kind())
        .ok_or_else(|| BadInput(format!("the cycle of {} has no ballot rules yet", job.year)))?;

    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers = csv
        .headers()
        .map_err(|e| BadInput(format!("{name}: {e}")))?
        .clone();
    let mut at = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim();
        if !COLUMNS.contains(&h) {
            return Err(BadInput(format!(
                "{name}:1: unknown column {h:?}; the columns are {}",
                COLUMNS.join(", ")
            )));
        }
        if at.insert(h, i).is_some() {
            return Err(BadInput(format!("{name}:1: column {h:?} appears twice")));
        }
    }
    if let Some(missing) = COLUMNS[..5].iter().find(|c| !at.contains_key(*c)) {
        return Err(BadInput(format!(
            "{name}:1: the column {missing:?} is missing"
        )));
    }

    // Every row checked on a copy, in order.
    let copy = dry_copy(&store, id, &voter_key)?;
    let mut judge = Repository::<Programme>::new(copy, voter_key.clone());
    judge.load(id).map_err(bad)?;
    let entered_at = job.entered_at.unwrap_or_else(Utc::now);
    let mut accepted = Vec::new();
    let mut refused: Vec<(u64, csv::StringRecord, String)> = Vec::new();
    for record in csv.records() {
        let record = record.map_err(|e| BadInput(format!("{name}: {e}")))?;
        let line = record.position().map_or(0, csv::Position::line);
        if accepted.len() + refused.len() >= MAX_ROWS {
            return Err(BadInput(format!(
                "{name}: more than {MAX_ROWS} rows; split the file"
            )));
        }
        let on_ballot = (&area, shortlist.as_slice());
        let checked =
            ballot(&record, &at, on_ballot, kind, derived_id(&digest, line)).and_then(|b| {
                let batch = PaperBatch {
                    entered_by: job.entered_by.to_owned(),
                    entered_at,
                    ballots: vec![b.clone()],
                };
                match judge.execute(
                    id,
                    ProgrammeCommand::Cycle {
                        year: job.year,
                        command: Command::EnterPaperBallots(batch),
                    },
                ) {
                    Ok(_) => Ok(b),
                    Err(RepositoryError::Rejected(e)) => Err(e.to_string()),
                    Err(e) => Err(medborgarbudget::error_chain(&e)),
                }
            });
        match checked {
            Ok(ballot) => accepted.push(Row { line, ballot }),
            Err(why) => {
                output::line(format_args!("{name}:{line}: refused: {why}"))?;
                refused.push((line, record, why));
            }
        }
    }
    let total = accepted.len() + refused.len();
    if !refused.is_empty() && (job.dry_run || !job.skip_invalid) {
        return Err(BadInput(format!(
            "{} of {total} rows refused; nothing stored (--skip-invalid stores the others)",
            refused.len()
        )));
    }
    if !refused.is_empty() {
        let path = job.refused.map_or_else(
            || PathBuf::from(format!("{}.refused.csv", job.file.display())),
            Path::to_path_buf,
        );
        let mut header: Vec<&str> = headers.iter().collect();
        header.extend(["line", "error"]);
        let write = || -> Result<Vec<u8>, csv::Error> {
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(&header)?;
            for (line, record, why) in &refused {
                let line = line.to_string();
                let mut fields: Vec<&str> = record.iter().collect();
                fields.extend([line.as_str(), why.as_str()]);
                out.write_record(&fields)?;
            }
            out.into_inner()
                .map_err(|e| csv::Error::from(e.into_error()))
        };
        let text = write().map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        output::to_file(&path, |w| w.write_all(&text))?;
        output::note(format_args!(
            "{} refused rows written to {}",
            refused.len(),
            path.display()
        ));
    }
    if accepted.is_empty() {
        return output::line(format_args!("no ballot to store"));
    }
    if job.dry_run {
        return output::line(format_args!(
            "{} of {total} rows would be stored (dry run: nothing stored)",
            accepted.len()
        ));
    }
    let count = accepted.len();
    let first_line = accepted.first().map_or(0, |r| r.line);
    let batch = PaperBatch {
        entered_by: job.entered_by.to_owned(),
        entered_at,
        ballots: accepted.into_iter().map(|r| r.ballot).collect(),
    };
    let mut writer = Repository::<Programme>::new(store, voter_key);
    writer
        .execute(
            id,
            ProgrammeCommand::Cycle {
                year: job.year,
                command: Command::EnterPaperBallots(batch),
            },
        )
        .map_err(|e| {
            BadInput(format!(
                "{name}: the batch (rows from line {first_line}) was refused; nothing stored: {}",
                medborgarbudget::error_chain(&e)
            ))
        })?;
    output::line(format_args!(
        "{count} of {total} paper ballots stored as one batch entered by {} for {}",
        job.entered_by, job.year
    ))
}
