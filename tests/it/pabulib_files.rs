//! Every real election in the pabulib snapshot parses, and a write → parse round
//! trip gives it back.
//!
//! 38 files break a promise of their own, each a known defect of the data, listed
//! in [`KNOWN_DEFECTS`] with its problems: fifteen name a project twice in one
//! vote (such as `1155,1155,1155,62,447`), twenty Warsaw files (one of 2017,
//! nineteen of 2018) have votes whose projects cost more than META
//! `max_sum_cost`, and three Mechanical Turk files have votes of 99 or 98 points
//! where `min_sum_points` is 100. The strict reader refuses them at their first
//! problem; read with `ParseOptions::merge_repeats` and `OnProblem::Count`
//! (every row counted as written, as pabutools does) every file parses.
//!
//! The data folder is `MEDBORGARBUDGET_PABULIB` if set, else
//! `../shared/pabulib` next to the crate. Without it the tests print a notice and
//! pass, unless `CI` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medborgarbudget::pabulib::{self, OnProblem, ParseOptions, PbErrorKind, PbFile, ProblemKind};

/// Files that break their promises: the file, the line of its first problem,
/// how many problems it has, and what they are (every problem of a file is of
/// one kind here).
const KNOWN_DEFECTS: &[(&str, usize, u64, &str)] = &[
    ("Netherlands_Amsterdam_604.pb", 1927, 1, REPEAT),
    ("Poland_Czestochowa_2020.pb", 11740, 1, REPEAT),
    ("Poland_Warszawa_2017_Mlynow.pb", 809, 4, MAX_SUM_COST),
    (
        "Poland_Warszawa_2018_Bialoleka_obszar_1.pb",
        1450,
        4,
        MAX_SUM_COST,
    ),
    ("Poland_Warszawa_2018_Bielany.pb", 2857, 10, MAX_SUM_COST),
    (
        "Poland_Warszawa_2018_BoernerowoFort_RadiowoGrotyGorce.pb",
        1185,
        2,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Brodno-Podgrodzie.pb",
        1258,
        1,
        MAX_SUM_COST,
    ),
    ("Poland_Warszawa_2018_Goclaw.pb", 1575, 3, MAX_SUM_COST),
    (
        "Poland_Warszawa_2018_Grochow_Kinowa.pb",
        837,
        2,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Grochow_Poludniowy.pb",
        1247,
        2,
        MAX_SUM_COST,
    ),
    ("Poland_Warszawa_2018_Kamionek.pb", 687, 1, MAX_SUM_COST),
    (
        "Poland_Warszawa_2018_Nowolipki__Powazki.pb",
        847,
        1,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Obszar_2-Sady_Zoliborskie-Zatrasie.pb",
        1046,
        1,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Obszar_I-Nowa_Praga_z_Pelcowizna.pb",
        1251,
        1,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Praga-Polnoc.pb",
        3124,
        9,
        MAX_SUM_COST,
    ),
    (
        "Poland_Warszawa_2018_Praga-Poludnie.pb",
        4518,
        6,
        MAX_SUM_COST,
    ),
    ("Poland_Warszawa_2018_Rembertow.pb", 473, 6, MAX_SUM_COST),
    (
        "Poland_Warszawa_2018_RudaMarymontLas_Bielanski.pb",
        692,
        1,
        MAX_SUM_COST,
    ),
    ("Poland_Warszawa_2018_Saska_Kepa.pb", 1515, 1, MAX_SUM_COST),
    ("Poland_Warszawa_2018_Srodmiescie.pb", 1057, 3, MAX_SUM_COST),
    ("Poland_Warszawa_2018_Stara_Ochota.pb", 644, 3, MAX_SUM_COST),
    ("Poland_Warszawa_2018_rejon_5.pb", 1287, 1, MAX_SUM_COST),
    ("Poland_Warszawa_2022_Wola.pb", 3096, 1, REPEAT),
    ("Poland_Warszawa_2026_Blonia_Wilanowskie.pb", 268, 1, REPEAT),
    (
        "Poland_Warszawa_2026_Golabki_Szamoty_Niedzwiadek.pb",
        475,
        1,
        REPEAT,
    ),
    ("Poland_Warszawa_2026_Grochow.pb", 1590, 2, REPEAT),
    (
        "Poland_Warszawa_2026_Jelonki_Polnocne_Jelonki_Poludniowe_Chrzanow.pb",
        1391,
        1,
        REPEAT,
    ),
    (
        "Poland_Warszawa_2026_Kobialka_Grodzisk_Brzeziny.pb",
        1510,
        1,
        REPEAT,
    ),
    ("Poland_Warszawa_2026_Miedzylesie_Radosc.pb", 118, 1, REPEAT),
    (
        "Poland_Warszawa_2026_Mirow_Czyste_Odolany.pb",
        1726,
        1,
        REPEAT,
    ),
    (
        "Poland_Warszawa_2026_Nadwisle_Miedzeszyn_Aleksandrow_Falenica.pb",
        188,
        1,
        REPEAT,
    ),
    (
        "Poland_Warszawa_2026_Pelcowizna_Nowa_Praga.pb",
        263,
        1,
        REPEAT,
    ),
    ("Poland_Warszawa_2026_Rakowiec.pb", 477, 1, REPEAT),
    (
        "Poland_Warszawa_2026_Srodmiescie_Poludniowe.pb",
        656,
        1,
        REPEAT,
    ),
    (
        "US_Stanford_Dataset_Your_Voice_Your_Choice_Parks_and_Streets-_Seattle_2019_District_3_vote_knapsacks.pb",
        123,
        1,
        REPEAT,
    ),
    (
        "Worldwide_Mechanical_Turk_Utilities_3.pb",
        44,
        11,
        MIN_SUM_POINTS,
    ),
    (
        "Worldwide_Mechanical_Turk_Utilities_7.pb",
        53,
        16,
        MIN_SUM_POINTS,
    ),
    (
        "Worldwide_Mechanical_Turk_Utilities_8.pb",
        52,
        9,
        MIN_SUM_POINTS,
    ),
];

const REPEAT: &str = "a project named twice in one vote";
const MAX_SUM_COST: &str = "votes costing more than max_sum_cost";
const MIN_SUM_POINTS: &str = "votes of fewer points than min_sum_points";

/// What a problem is, in the words of [`KNOWN_DEFECTS`].
fn label(kind: &ProblemKind) -> String {
    match kind {
        ProblemKind::RepeatedProject { .. } => REPEAT.to_owned(),
        ProblemKind::Cost {
            key: "max_sum_cost",
            ..
        } => MAX_SUM_COST.to_owned(),
        ProblemKind::PointsSum {
            key: "min_sum_points",
            ..
        } => MIN_SUM_POINTS.to_owned(),
        other => format!("unexpected: {other}"),
    }
}

fn is_known(name: &str) -> bool {
    KNOWN_DEFECTS.iter().any(|d| d.0 == name)
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

/// Runs `f` on every file (name and bytes) on two threads, in file order.
fn over_files<R: Send>(paths: &[PathBuf], f: impl Fn(&str, &[u8]) -> R + Sync) -> Vec<(String, R)> {
    let halves = paths.split_at(paths.len() / 2);
    let work = |part: &[PathBuf]| {
        part.iter()
            .map(|path| {
                let bytes = std::fs::read(path).unwrap();
                (name(path), f(&name(path), &bytes))
            })
            .collect::<Vec<_>>()
    };
    let (mut first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| work(halves.0));
        let b = work(halves.1);
        (a.join().unwrap(), b)
    });
    first.extend(second);
    first
}

fn assert_round_trip(name: &str, file: &PbFile, options: ParseOptions) {
    let mut out = Vec::new();
    pabulib::write(file, &mut out).unwrap_or_else(|e| panic!("{name}: write failed: {e}"));
    let again = pabulib::parse_with(&out, options)
        .unwrap_or_else(|e| panic!("{name}: re-parse failed: {e}"));
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
fn check_finds_exactly_the_known_defects() {
    let Some(dir) = crate::common::pabulib_dir() else {
        return;
    };
    let paths = files(&dir);
    assert!(!paths.is_empty(), "no .pb files in {}", dir.display());
    let found = over_files(&paths, |_, bytes| {
        let checked = pabulib::check(bytes, ParseOptions::default());
        assert_eq!(checked.total, checked.problems.len() as u64);
        let labels: Vec<String> = checked.problems.iter().map(|p| label(&p.kind)).collect();
        (
            checked.read_error().map(ToString::to_string),
            checked.problems.first().map(|p| p.line),
            checked.total,
            labels,
            checked.file.is_ok(),
        )
    });
    let mut unexpected = Vec::new();
    let mut defects = BTreeMap::new();
    for (name, (error, first, total, labels, ok)) in found {
        if let Some(e) = error {
            unexpected.push(format!("{name}: does not read: {e}"));
        }
        assert_eq!(
            ok,
            total == 0,
            "{name}: read strictly only without problems"
        );
        if total > 0 {
            let mut kinds = labels.clone();
            kinds.dedup();
            defects.insert(name, (first.unwrap_or(0), total, kinds.join("; ")));
        }
    }
    let expected: BTreeMap<String, (usize, u64, String)> = KNOWN_DEFECTS
        .iter()
        .map(|&(n, line, total, kind)| (n.to_owned(), (line, total, kind.to_owned())))
        .collect();
    for (name, got) in &defects {
        if expected.get(name) != Some(got) {
            unexpected.push(format!(
                "{name}: found {got:?}, listed {:?}",
                expected.get(name)
            ));
        }
    }
    for name in expected.keys().filter(|n| !defects.contains_key(*n)) {
        unexpected.push(format!(
            "{name}: listed as a known defect but has no problem"
        ));
    }
    assert!(
        unexpected.is_empty(),
        "{} of {} files differ from the known defects:\n{}",
        unexpected.len(),
        paths.len(),
        unexpected.join("\n")
    );
}

#[test]
fn every_file_parses_strictly_except_the_known_defects() {
    let Some(dir) = crate::common::pabulib_dir() else {
        return;
    };
    let paths = files(&dir);
    let results = over_files(&paths, |_, bytes| pabulib::parse(bytes).err());
    let mut unexpected = Vec::new();
    for (name, err) in &results {
        let known = KNOWN_DEFECTS.iter().find(|d| d.0 == name);
        match (err, known) {
            (None, None) => {}
            (Some(e), Some(&(_, line, _, kind)))
                if e.line == line
                    && matches!(&e.kind, PbErrorKind::Problem(p) if label(p) == kind) => {}
            (e, _) => unexpected.push(format!("{name}: {e:?}")),
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} of {} files did not read as expected:\n{}",
        unexpected.len(),
        paths.len(),
        unexpected.join("\n")
    );
}

#[test]
fn every_file_parses_counted_as_written_and_round_trips() {
    let Some(dir) = crate::common::pabulib_dir() else {
        return;
    };
    let paths = files(&dir);
    let written = ParseOptions::default()
        .merge_repeats(true)
        .on_problem(OnProblem::Count);
    let results = over_files(&paths, |name, bytes| {
        let file = pabulib::parse_with(bytes, written).map_err(|e| format!("{name}: {e}"))?;
        // What every file of the snapshot satisfies.
        let election = file.election().map_err(|e| format!("{name}: {e}"))?;
        assert_eq!(election.candidates().len(), file.projects.len(), "{name}");
        assert!(file.budget > 0, "{name}: budget");
        if let Some(selected) = file.selected() {
            assert!(selected.iter().all(|&i| i < file.projects.len()), "{name}");
        }
        // A file without problems is written back as one (the strict reader
        // takes it); one with problems still counts the same.
        let again = if is_known(name) {
            written
        } else {
            ParseOptions::default()
        };
        assert_round_trip(name, &file, again);
        Ok::<_, String>(())
    });
    let failed: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} files failed to parse:\n{}",
        failed.len(),
        paths.len(),
        failed.join("\n")
    );
}
