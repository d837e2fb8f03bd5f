//! What the fuzz targets check, as plain functions: each target in
//! `fuzz_targets/` is one line calling one of them, so a new target (such as a
//! `rules` target tallying every rule) adds a function here, a file there and a
//! `[[bin]]` in `Cargo.toml`. The functions panic on a broken property, which
//! libFuzzer reports as a crash with the input that caused it.

use medborgarbudget::pabulib::{self, OnProblem, PROBLEMS_LISTED, ParseOptions, PbError, PbFile};

/// Every way of reading a file: strict first, then merging repeats, and
/// counting or leaving out rows that break the file's promises.
pub fn all_options() -> Vec<ParseOptions> {
    let mut all = Vec::new();
    for merge in [false, true] {
        for policy in [OnProblem::Refuse, OnProblem::Count, OnProblem::Skip] {
            all.push(
                ParseOptions::default()
                    .merge_repeats(merge)
                    .on_problem(policy),
            );
        }
    }
    all
}

/// The files `data` reads as, one per way of reading that accepts it: for
/// targets that need elections from arbitrary bytes.
pub fn files(data: &[u8]) -> impl Iterator<Item = PbFile> + '_ {
    all_options()
        .into_iter()
        .filter_map(|options| pabulib::parse_with(data, options).ok())
}

/// Lines of `bytes` as the reader counts them (an empty input is one line).
fn line_count(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    if bytes.last() == Some(&b'\n') {
        newlines.max(1)
    } else {
        newlines + 1
    }
}

/// The reader target. `data` is read strictly and in one more way, chosen by
/// its length (so the fuzzer reaches every way without each input paying for
/// six reads: `all_options()[1 + len % 5]`). For each:
///
/// * reading never panics, and an error names a line of the input;
/// * `check` gives what `parse_with` gives, and lists at most
///   [`PROBLEMS_LISTED`] problems, in line order, on lines of the input,
///   counting at least as many as it lists; strictly read, a file that parses
///   has no problem;
/// * a file that parses has an election, writes out, and reads back with the
///   same options to the same META, projects, vote type, ballots, scale and
///   budget.
///
/// # Panics
/// When one of these does not hold.
pub fn reader(data: &[u8]) {
    let all = all_options();
    for options in [all[0], all[1 + data.len() % 5]] {
        read_and_write_back(data, options);
    }
}

/// The properties of [`reader`] for one way of reading.
///
/// # Panics
/// When one of them does not hold.
pub fn read_and_write_back(data: &[u8], options: ParseOptions) {
    let lines = line_count(data);
    let in_input = |e: &PbError| (1..=lines).contains(&e.line);
    let parsed = pabulib::parse_with(data, options);
    let checked = pabulib::check(data, options);
    assert_eq!(checked.file, parsed, "check and parse_with differ");
    assert!(checked.problems.len() <= PROBLEMS_LISTED);
    assert!(checked.total >= checked.problems.len() as u64);
    assert!(checked.problems.is_sorted_by_key(|p| p.line));
    assert!(
        checked
            .problems
            .iter()
            .all(|p| (1..=lines).contains(&p.line)),
        "a problem outside the input's {lines} lines: {:?}",
        checked.problems
    );
    let file = match parsed {
        Ok(file) => file,
        Err(e) => {
            assert!(
                in_input(&e),
                "an error outside the input's {lines} lines: {e}"
            );
            return;
        }
    };
    if options.on_problem == OnProblem::Refuse {
        assert_eq!(checked.total, 0, "read strictly despite problems");
    }
    if let Err(e) = file.election() {
        panic!("a file that parses has no election: {e}");
    }
    let mut out = Vec::new();
    if let Err(e) = pabulib::write(&file, &mut out) {
        panic!("a file that parses does not write: {e}");
    }
    let again = match pabulib::parse_with(&out, options) {
        Ok(again) => again,
        Err(e) => panic!(
            "what was written does not read back: {e}\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.meta, file.meta);
    assert_eq!(again.project_columns, file.project_columns);
    assert_eq!(again.projects, file.projects);
    assert_eq!(again.vote_type, file.vote_type);
    assert_eq!(again.profile, file.profile);
    assert_eq!((again.scale, again.budget), (file.scale, file.budget));
}
