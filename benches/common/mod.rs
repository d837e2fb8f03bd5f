//! What the benches share: the shared pabulib elections.

use std::path::PathBuf;

use medborgarbudget::pabulib;
use medborgarbudget::tally::Election;

/// The shared election `name` (a file in `files/` of `MEDBORGARBUDGET_PABULIB`
/// or `../shared/pabulib`), if it is there and reads.
pub fn election(name: &str) -> Option<Election> {
    let dir = std::env::var_os("MEDBORGARBUDGET_PABULIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"));
    let file = pabulib::read_file(dir.join("files").join(name)).ok()?;
    file.election().ok()
}
