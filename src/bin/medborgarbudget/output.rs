//! Checked writes. Every line the tool writes goes through here, so that a
//! reader that stops reading (`medborgarbudget check *.pb | head -1`) ends the
//! run quietly, and a write that fails (a full disk, `> /dev/full`) ends it
//! with exit code 1 and a message on standard error, if one can still be
//! written there. Nothing here panics.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use super::BadInput;

/// Set when standard output turned out to be a closed pipe.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set when a write to standard error failed.
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// The failure of a write to standard output. A closed pipe (the reader has
/// all it wants) is remembered so that the run ends quietly ([`exit`]).
pub fn stdout_failed(e: io::Error) -> BadInput {
    if e.kind() == io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    BadInput(format!("writing to standard output: {e}"))
}

/// The failure of a write to the file `path`.
pub fn file_failed(path: &Path, e: &io::Error) -> BadInput {
    BadInput(format!("writing {}: {e}", path.display()))
}

/// Writes a line to standard output.
pub fn line(args: fmt::Arguments<'_>) -> Result<(), BadInput> {
    writeln!(io::stdout().lock(), "{args}").map_err(stdout_failed)
}

/// Writes a line to standard error (a note, a warning, the error that ends
/// the run). If it cannot be written, the run ends with exit code 1.
pub fn note(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    if writeln!(err, "{args}").and_then(|()| err.flush()).is_err() {
        STDERR_FAILED.store(true, Ordering::Relaxed);
    }
}

/// Creates (or truncates) the file `path`, lets `write` fill it through a
/// buffer and flushes it, naming the file in any error.
pub fn to_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), BadInput> {
    let file = File::create(path).map_err(|e| file_failed(path, &e))?;
    let mut out = BufWriter::new(file);
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| file_failed(path, &e))
}

/// Ends the run: flushes standard output, writes the error if there is one,
/// and gives the exit code — 0 done, 1 for an error or a write that failed
/// (to standard output, a file or standard error), and 0 without a word when
/// standard output was closed by its reader.
pub fn exit(result: Result<(), BadInput>) -> ExitCode {
    let result = result.and_then(|()| io::stdout().lock().flush().map_err(stdout_failed));
    match result {
        Err(_) if STDOUT_CLOSED.load(Ordering::Relaxed) => ExitCode::SUCCESS,
        Err(BadInput(message)) => {
            note(format_args!("{message}"));
            ExitCode::from(1)
        }
        Ok(()) if STDERR_FAILED.load(Ordering::Relaxed) => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
    }
}

/// Ends a run whose command line did not parse, or that asked for `--help`
/// or `--version`: prints clap's message and gives its exit code (2 for bad
/// usage, 0 for help), or as [`exit`] if help cannot be written.
pub fn usage(e: &clap::Error) -> ExitCode {
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    match e.print() {
        Ok(()) if code == 0 => exit(Ok(())),
        Err(err) if !e.use_stderr() => exit(Err(stdout_failed(err))),
        _ => ExitCode::from(code),
    }
}
