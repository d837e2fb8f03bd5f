//! Every real election in the pabulib snapshot parses, and a write → parse round
//! trip gives it back.
//!
//! Fifteen files have one vote each that names a project more than once (such as
//! `1155,1155,1155,62,447`). The strict reader refuses them, at the line listed in
//! [`REPEATS`]; with `ParseOptions::merge_repeats` every file parses.
//!
//! The data folder is `MEDBORGARBUDGET_PABULIB` if set, else
//! `../shared/pabulib` next to the crate. Without it the tests print a notice and
//! pass, unless `CI` is set.

use std::path::{Path, PathBuf};

use medborgarbudget::pabulib::{self, ParseOptions, PbErrorKind, PbFile};

/// Files with a vote naming a project twice, and the line of that vote.
const REPEATS: &[(&str, usize)] = &[
    ("Netherlands_Amsterdam_604.pb", 1927),
    ("Poland_Czestochowa_2020.pb", 11740),
    ("Poland_Warszawa_2022_Wola.pb", 3096),
    ("Poland_Warszawa_2026_Blonia_Wilanowskie.pb", 268),
    ("Poland_Warszawa_2026_Golabki_Szamoty_Niedzwiadek.pb", 475),
    ("Poland_Warszawa_2026_Grochow.pb", 1590),
    (
        "Poland_Warszawa_2026_Jelonki_Polnocne_Jelonki_Poludniowe_Chrzanow.pb",
        1391,
    ),
    ("Poland_Warszawa_2026_Kobialka_Grodzisk_Brzeziny.pb", 1510),
    ("Poland_Warszawa_2026_Miedzylesie_Radosc.pb", 118),
    ("Poland_Warszawa_2026_Mirow_Czyste_Odolany.pb", 1726),
    (
        "Poland_Warszawa_2026_Nadwisle_Miedzeszyn_Aleksandrow_Falenica.pb",
        188,
    ),
    ("Poland_Warszawa_2026_Pelcowizna_Nowa_Praga.pb", 263),
    ("Poland_Warszawa_2026_Rakowiec.pb", 477),
    ("Poland_Warszawa_2026_Srodmiescie_Poludniowe.pb", 656),
    (
        "US_Stanford_Dataset_Your_Voice_Your_Choice_Parks_and_Streets-_Seattle_2019_District_3_vote_knapsacks.pb",
        123,
    ),
];

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MEDBORGARBUDGET_PABULIB").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"),
        PathBuf::from,
    );
    if dir.join("files").is_dir() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!("pabulib data not found at {} (CI is set)", dir.display());
    } else {
        eprintln!(
            "skipping: pabulib data not found at {} (set MEDBORGARBUDGET_PABULIB)",
            dir.display()
        );
        None
    }
}

/// The `.pb` files, sorted by name.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("files"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pb"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Files by name, parsed or not.
type Parsed = Vec<(String, PbFile)>;
type Failed = Vec<(String, pabulib::PbError)>;

/// Parses every file on two threads; returns the parsed files and the failures.
fn parse_all(paths: &[PathBuf], options: ParseOptions) -> (Parsed, Failed) {
    let halves = paths.split_at(paths.len() / 2);
    let work = |part: &[PathBuf]| {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for path in part {
            match pabulib::read_file_with(path, options) {
                Ok(file) => ok.push((name(path), file)),
                Err(e) => failed.push((name(path), e)),
            }
        }
        (ok, failed)
    };
    let ((mut ok, mut failed), (ok2, failed2)) = std::thread::scope(|s| {
        let a = s.spawn(|| work(halves.0));
        let b = work(halves.1);
        (a.join().unwrap(), b)
    });
    ok.extend(ok2);
    failed.extend(failed2);
    (ok, failed)
}

fn assert_round_trip(name: &str, file: &PbFile) {
    let mut out = Vec::new();
    pabulib::write(file, &mut out).unwrap_or_else(|e| panic!("{name}: write failed: {e}"));
    let again = pabulib::parse(&out).unwrap_or_else(|e| panic!("{name}: re-parse failed: {e}"));
    assert_eq!(again.meta, file.meta, "{name}: meta");
    assert_eq!(
        again.project_columns, file.project_columns,
        "{name}: columns"
    );
    assert_eq!(again.projects, file.projects, "{name}: projects");
    assert_eq!(again.vote_type, file.vote_type, "{name}: vote_type");
    assert_eq!(again.profile, file.profile, "{name}: profile");
    assert_eq!(again.scale, file.scale, "{name}: scale");
    assert_eq!(again.budget, file.budget, "{name}: budget");
    assert_eq!(again.election(), file.election(), "{name}: election");
}

#[test]
fn every_file_parses_strictly_except_the_known_repeats() {
    let Some(dir) = data_dir() else { return };
    let paths = files(&dir);
    assert!(!paths.is_empty(), "no .pb files in {}", dir.display());
    let (parsed, failed) = parse_all(&paths, ParseOptions::default());
    let unexpected: Vec<String> = failed
        .iter()
        .filter(|(name, e)| {
            !(matches!(e.kind, PbErrorKind::DuplicateInVote { .. })
                && REPEATS.contains(&(name.as_str(), e.line)))
        })
        .map(|(name, e)| format!("{name}: {e}"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} of {} files failed to parse:\n{}",
        unexpected.len(),
        paths.len(),
        unexpected.join("\n")
    );
    let stale: Vec<&str> = REPEATS
        .iter()
        .filter(|(name, _)| parsed.iter().any(|(n, _)| n == name))
        .map(|(name, _)| *name)
        .collect();
    assert!(stale.is_empty(), "listed as refused but parsed: {stale:?}");
}

#[test]
fn every_file_parses_with_merged_repeats_and_round_trips() {
    let Some(dir) = data_dir() else { return };
    let paths = files(&dir);
    let (parsed, failed) = parse_all(&paths, ParseOptions::default().merge_repeats(true));
    let failed: Vec<String> = failed.iter().map(|(n, e)| format!("{n}: {e}")).collect();
    assert!(
        failed.is_empty(),
        "{} of {} files failed to parse:\n{}",
        failed.len(),
        paths.len(),
        failed.join("\n")
    );

    for (name, file) in &parsed {
        // What every file of the snapshot satisfies.
        let election = file.election().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(election.candidates().len(), file.projects.len(), "{name}");
        assert!(file.budget > 0, "{name}: budget");
        if let Some(n) = file.meta("num_projects") {
            assert_eq!(
                n.parse::<usize>().ok(),
                Some(file.projects.len()),
                "{name}: num_projects"
            );
        }
        if let Some(n) = file.meta("num_votes") {
            assert_eq!(
                n.parse::<u64>().ok(),
                Some(file.num_voters()),
                "{name}: num_votes"
            );
        }
        if let Some(selected) = file.selected() {
            assert!(selected.iter().all(|&i| i < file.projects.len()), "{name}");
        }
        assert_round_trip(name, file);
    }
}
