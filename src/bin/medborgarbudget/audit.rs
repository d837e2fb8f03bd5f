//! `audit verify` and `audit export`: every stream of a store checked (its
//! hash chain, the head the store records and, with the log key, the head's
//! seal) and every programme and cycle replayed through the rules; and the
//! streams written out for an auditor, one JSON-lines file each, with a
//! manifest of their heads.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use medborgarbudget::ids::{CycleId, ProgrammeId};
use medborgarbudget::process::{AnyCycle, Programme};
use medborgarbudget::store::{Hash, Repository, Store, StoreExt, StreamId, Verified};
use sha2::{Digest, Sha256};

use super::BadInput;
use super::output;
use super::programmes::{StoreArg, bad, open_existing};

/// What a stream holds, by its name.
enum Kind {
    Programme(ProgrammeId),
    Cycle(CycleId),
    /// A stream the tool does not know how to replay: its chain is checked.
    Other,
}

fn kind(stream: &StreamId) -> Kind {
    match (stream.programme_id(), stream.cycle_id()) {
        (Some(id), _) => Kind::Programme(id),
        (_, Some(id)) => Kind::Cycle(id),
        _ => Kind::Other,
    }
}

/// The streams of `store`, by name.
fn streams(store: &dyn Store) -> Result<Vec<StreamId>, BadInput> {
    let names: BTreeSet<StreamId> = store
        .streams()
        .map_err(bad)?
        .into_iter()
        .map(|info| info.stream)
        .collect();
    Ok(names.into_iter().collect())
}

/// Replays `stream` through the rules; a line saying what it rebuilt.
fn replay(store: &Arc<dyn Store>, stream: &StreamId) -> Result<String, BadInput> {
    match kind(stream) {
        Kind::Programme(id) => {
            let mut repo = Repository::<Programme>::reader(Arc::clone(store));
            let p = repo.load(id).map_err(bad)?;
            let closed = p.cycles().iter().filter(|c| c.has_ended()).count();
            let cycles = p.cycles().len();
            Ok(format!(
                "programme of {} years: {cycles} cycle{}, {} ended{}",
                p.setup().years,
                if cycles == 1 { "" } else { "s" },
                closed,
                if p.report().is_some() {
                    ", concluded"
                } else {
                    ""
                }
            ))
        }
        Kind::Cycle(id) => {
            let mut repo = Repository::<AnyCycle>::reader(Arc::clone(store));
            let c = repo.load(id).map_err(bad)?;
            Ok(format!("cycle of {}, step {}", c.year(), c.step()))
        }
        Kind::Other => Ok("not a programme or cycle: chain only".into()),
    }
}

/// The head as printed: version, hash, and whether its seal was checked.
fn head(v: &Verified) -> String {
    format!(
        "{} events, head {}, {}",
        v.events,
        v.head,
        if v.sealed {
            "seal verified"
        } else {
            "seal not checked (no log key)"
        }
    )
}

/// `audit verify`: one line per stream; exit 1 when any is broken, each
/// broken stream named with its first broken event.
pub fn verify(store: &StoreArg) -> Result<(), BadInput> {
    let handle = open_existing(store)?;
    let names = streams(handle.as_ref())?;
    if names.is_empty() {
        return output::line(format_args!("{store}: no streams; nothing to verify"));
    }
    let mut broken = 0_usize;
    let mut events = 0_u64;
    for stream in &names {
        let checked = handle
            .verify(stream)
            .map_err(bad)
            .and_then(|v| replay(&handle, stream).map(|replayed| (v, replayed)));
        match checked {
            Ok((v, replayed)) => {
                events += v.events;
                output::line(format_args!("ok      {stream}: {}; {replayed}", head(&v)))?;
            }
            Err(BadInput(why)) => {
                broken += 1;
                output::line(format_args!("BROKEN  {stream}: {why}"))?;
            }
        }
    }
    if broken > 0 {
        return Err(BadInput(format!(
            "{broken} of {} broken (see above)",
            streams_word(names.len())
        )));
    }
    output::line(format_args!(
        "{}, {events} events: every chain, head and replay verified",
        streams_word(names.len())
    ))
}

/// `audit export`: `DIR/STREAM.jsonl` for each stream (the events, then a
/// line with its head; see `StoreExt::export_jsonl`) and `DIR/manifest.json`
/// naming each file with its head and SHA-256. `DIR` is created and must be
/// empty if it exists. A broken stream stops the export with exit 1 before
/// the manifest is written, so an export without a manifest is incomplete.
pub fn export(store: &StoreArg, dir: &Path) -> Result<(), BadInput> {
    let handle = open_existing(store)?;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).map_err(|e| BadInput(format!("{}: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(BadInput(format!(
                "{} is not empty; export into a new or empty folder",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| BadInput(format!("{}: {e}", dir.display())))?;
    let mut manifest = Vec::new();
    for stream in streams(handle.as_ref())? {
        let verified = handle.verify(&stream).map_err(bad)?;
        let file = format!("{stream}.jsonl");
        let path = dir.join(&file);
        let mut bytes = Vec::new();
        handle.export_jsonl(&stream, &mut bytes).map_err(bad)?;
        output::to_file(&path, |w| w.write_all(&bytes))?;
        manifest.push(serde_json::json!({
            "stream": stream,
            "file": file,
            "events": verified.events,
            "head": {
                "version": verified.events,
                "hash": verified.head,
                "seal": verified.seal,
                "sealed": verified.sealed,
                "voter_key": verified.voter_key,
            },
            "sha256": Hash(Sha256::digest(&bytes).into()).to_string(),
        }));
        output::line(format_args!(
            "wrote {} ({})",
            path.display(),
            head(&verified)
        ))?;
    }
    let count = manifest.len();
    let manifest = serde_json::json!({
        "format": "medborgarbudget audit export 1",
        "exported_at": medborgarbudget::store::timestamp(&medborgarbudget::store::now()),
        "streams": manifest,
    });
    let path = dir.join("manifest.json");
    output::to_file(&path, |w| {
        serde_json::to_writer_pretty(&mut *w, &manifest).map_err(std::io::Error::from)?;
        w.write_all(b"\n")
    })?;
    output::line(format_args!(
        "wrote {} ({})",
        path.display(),
        streams_word(count)
    ))
}

/// "1 stream", "2 streams".
fn streams_word(n: usize) -> String {
    if n == 1 {
        "1 stream".into()
    } else {
        format!("{n} streams")
    }
}
