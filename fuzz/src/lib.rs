//! What the fuzz targets check, as plain functions: each target in
//! `fuzz_targets/` is one line calling one of them, so a new target adds a
//! function here, a file there and a `[[bin]]` in `Cargo.toml`. The functions panic on a broken property, which
//! libFuzzer reports as a crash with the input that caused it.

use medborgarbudget::pabulib::{self, OnProblem, PROBLEMS_LISTED, ParseOptions, PbError, PbFile};
use medborgarbudget::tally::{
    Candidate, Election, Greedy, GreedyNoSkip, GreedyThreshold, MaxWelfare, MaximinSupport, Mes,
    MesAdd1, MesAdd1Comparison, MesGreedy, Phragmen, Profile, ProfileKind, Tally, TallyError,
    TieBreaking,
};

/// The files `data` reads as, one per way of reading that accepts it: for
/// targets that need elections from arbitrary bytes.
pub fn files(data: &[u8]) -> impl Iterator<Item = PbFile> + '_ {
    ParseOptions::ALL
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
/// six reads: `ParseOptions::ALL[1 + len % 5]`). For each:
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
    let all = ParseOptions::ALL;
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

// ---------------------------------------------------------------------------
// Rules

/// Enough work for every rule on these elections, small enough that a target
/// run stays fast: a rule that needs more stops with `StepLimit`.
const STEPS: u64 = 5_000;

/// The fuzzer's bytes, read from the front.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn wide(&mut self) -> Option<u64> {
        let hi = u64::from(self.next()?);
        let lo = u64::from(self.next()?);
        Some(hi << 8 | lo)
    }
}

/// A small election built from `data` (see [`rules`]), with its step limit,
/// and a tie-breaking chain.
fn election(data: &[u8]) -> Option<(Election, TieBreaking)> {
    let mut b = Bytes(data);
    let kind = match b.next()? % 3 {
        0 => ProfileKind::Approval,
        1 => ProfileKind::Points,
        _ => ProfileKind::Ranking,
    };
    let ties: TieBreaking = [
        "id",
        "min-cost,id",
        "max-votes,min-cost",
        "refuse",
        "file-order",
    ][usize::from(b.next()? % 5)]
    .parse()
    .ok()?;
    let projects = usize::from(b.next()? % 12) + 1;
    let mut candidates = Vec::with_capacity(projects);
    for i in 0..projects {
        // Few distinct costs make ties and twins common; a large cost now and
        // then tests the budget.
        let cost = match b.next()? {
            x @ 0..=249 => u64::from(x % 8) * 5,
            x => u64::from(x) * 1_000_003,
        };
        candidates.push(Candidate::new(format!("p{i}"), cost));
    }
    let budget = b.wide()? * 3;
    let mut profile = Profile::builder(kind, projects);
    while let Some(count) = b.next() {
        let len = usize::from(b.next()? % 6);
        let mut seen = [false; 12];
        let mut ballot = Vec::new();
        for _ in 0..len {
            let p = usize::from(b.next()?) % projects;
            if !seen[p] {
                seen[p] = true;
                ballot.push(u32::try_from(p).ok()?);
            }
        }
        let count = u64::from(count % 7) + 1;
        let pushed = match kind {
            ProfileKind::Approval => profile.push_approval(&ballot, count),
            ProfileKind::Ranking => profile.push_ranking(&ballot, count),
            _ => {
                let mut entries = Vec::with_capacity(ballot.len());
                for &p in &ballot {
                    entries.push((p, u32::from(b.next()? % 4)));
                }
                profile.push_points(&entries, count)
            }
        };
        pushed.ok()?;
    }
    let election = Election::new(budget, candidates, profile.build()).ok()?;
    Some((election.with_step_limit(STEPS), ties))
}

/// The rules target: every rule, with every outcome checked (see below), on
/// elections from `data`. Bytes that start like a `.pb` file are read as one
/// (every way the reader accepts them, under the tie-breaking chains `id` and
/// `refuse`); other bytes are read as a small election: the kind of ballots,
/// the tie-breaking chain, the number of projects (1–12), each project's cost
/// (few distinct small costs, now and then a large one), the budget, then
/// ballots until the bytes run out (a count, the projects named, and for
/// points ballots the points). Small numbers on purpose: ties, twins, voters
/// whose money sits on a price's fixed point and exhausted budgets are what
/// break rules. Every count has a step limit ([`STEPS`]).
///
/// For each rule: the count ends (an outcome, a tie the chain refuses, a
/// search too hard, or the step limit — never a panic or another error), and
/// an outcome funds each project at most once, adds its cost up right, keeps
/// within the budget and comes out the same when counted again.
///
/// # Panics
/// When one of these does not hold.
pub fn rules(data: &[u8]) {
    let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if text.len() >= 4 && text[..4].eq_ignore_ascii_case(b"META") {
        for file in files(data) {
            let Ok(election) = file.election() else {
                continue;
            };
            let election = election.with_step_limit(STEPS);
            for ties in [TieBreaking::by_project_id(), TieBreaking::refuse()] {
                tally_all(&election, &ties);
            }
        }
    } else if let Some((election, ties)) = election(data) {
        tally_all(&election, &ties);
    }
}

/// Every rule on `election`, each outcome checked.
fn tally_all(election: &Election, ties: &TieBreaking) {
    let rules: [&dyn Tally; 12] = [
        &Greedy,
        &GreedyNoSkip { threshold: 0 },
        &GreedyThreshold { threshold: 2 },
        &Mes,
        &MesGreedy,
        &MesAdd1 {
            exhaustive_stop: false,
        },
        &MesAdd1 {
            exhaustive_stop: true,
        },
        &MesAdd1Comparison,
        &Phragmen::STOP,
        &Phragmen::SKIP,
        &MaxWelfare,
        &MaximinSupport,
    ];
    for rule in rules {
        match rule.tally(election, ties) {
            Ok(outcome) => {
                let mut seen = vec![false; election.candidates().len()];
                let mut total = 0_u128;
                for &p in &outcome.selected {
                    assert!(!seen[p], "{}: project {p} selected twice", rule.name());
                    seen[p] = true;
                    total += u128::from(election.candidates()[p].cost);
                }
                assert_eq!(total, u128::from(outcome.total_cost), "{}", rule.name());
                assert!(
                    outcome.total_cost <= election.budget(),
                    "{}: {} over the budget {}",
                    rule.name(),
                    outcome.total_cost,
                    election.budget()
                );
                // The same count again gives the same outcome.
                assert_eq!(rule.tally(election, ties).ok(), Some(outcome));
            }
            Err(
                TallyError::StepLimit { .. } | TallyError::Tie { .. } | TallyError::TooHard { .. },
            ) => {}
            // Points that add up past 64 bits (possible in a file, not here).
            Err(TallyError::Overflow) if election.profile().support().is_err() => {}
            Err(other) => panic!("{}: unexpected error {other}", rule.name()),
        }
    }
}
