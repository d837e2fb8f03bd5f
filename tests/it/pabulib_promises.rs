//! What a `.pb` file promises about its votes and projects, checked: each broken
//! promise is a `Problem` at its line; strict reading refuses it, `Count` counts
//! the row as written, `Skip` leaves it out, and `check` lists them all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use medborgarbudget::pabulib::{
    self, Checked, OnProblem, PROBLEMS_LISTED, ParseOptions, PbErrorKind, PbFile, Problem,
    ProblemKind, VoteType,
};
use medborgarbudget::tally::{Profile, ProfileKind};

/// A file with projects `1` (cost 10), `2` (20) and `3` (30), budget 100, META
/// lines `meta` after `vote_type`, and the VOTES rows given. With `n` META lines,
/// the first VOTES row is line `12 + n`.
fn pb(vote_type: &str, meta: &[&str], header: &str, rows: &[&str]) -> String {
    let mut text = format!("META\nkey;value\nbudget;100\nvote_type;{vote_type}\n");
    for m in meta {
        text.push_str(m);
        text.push('\n');
    }
    text.push_str("PROJECTS\nproject_id;cost;category\n1;10;a\n2;20;a,b\n3;30;b\nVOTES\n");
    text.push_str(header);
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    text
}

fn options(policy: OnProblem) -> ParseOptions {
    ParseOptions::default().on_problem(policy)
}

fn checked(text: &str) -> Checked {
    pabulib::check(text.as_bytes(), ParseOptions::default())
}

/// The problems of `text`, all listed.
#[track_caller]
fn problems(text: &str) -> Vec<Problem> {
    let c = checked(text);
    assert_eq!(c.total, c.problems.len() as u64, "{text}");
    assert!(c.read_error().is_none(), "{:?}", c.file);
    c.problems
}

#[track_caller]
fn problem(line: usize, kind: ProblemKind) -> Problem {
    Problem { line, kind }
}

/// Strictly read, the first problem is the error, at its line.
#[track_caller]
fn refused(text: &str, line: usize, kind: ProblemKind) {
    let err = pabulib::parse(text.as_bytes()).unwrap_err();
    assert_eq!(err.line, line, "{err}");
    assert_eq!(err.kind, PbErrorKind::Problem(kind.clone()));
    assert_eq!(err.to_string(), format!("line {line}: {kind}"));
}

fn voters(text: &str, policy: OnProblem) -> u64 {
    pabulib::parse_with(text.as_bytes(), options(policy))
        .unwrap()
        .num_voters()
}

#[test]
fn a_voter_id_used_three_times_is_two_problems() {
    let text = pb(
        "approval",
        &[],
        "voter_id;vote",
        &["7;1", "8;2", "7;1", "7;3"],
    );
    let repeated = |_line: usize| ProblemKind::RepeatedVoter {
        id: "7".into(),
        first_line: 12,
    };
    refused(&text, 14, repeated(14));
    assert_eq!(
        problems(&text),
        [problem(14, repeated(14)), problem(15, repeated(15))]
    );
    assert_eq!(
        problems(&text)[1].to_string(),
        "line 15: voter id \"7\" was already used on line 12"
    );
    // Counted as written: four voters; left out: the first row of 7 and 8.
    assert_eq!(voters(&text, OnProblem::Count), 4);
    let skipped = pabulib::parse_with(text.as_bytes(), options(OnProblem::Skip)).unwrap();
    assert_eq!(skipped.num_voters(), 2);
    assert_eq!(skipped.profile.support().unwrap(), [1, 1, 0]);
}

#[test]
fn voter_ids_compare_as_trimmed_unquoted_text() {
    // Quoted, padded and plain spellings of one id are one voter; `007` is not `7`.
    let text = pb(
        "approval",
        &[],
        "voter_id;vote",
        &["7;1", "\"7\";1", " 7 ;1", "007;1", "x7;1", "\"x7\";1"],
    );
    let lines: Vec<usize> = problems(&text).iter().map(|p| p.line).collect();
    assert_eq!(lines, [13, 14, 17]);
    // Ids far apart, in any order, and huge numbers: a table for some, a map for
    // the rest, one answer.
    let mut rows: Vec<String> = (0..5_000_u64)
        .map(|k| format!("{};1", (k * 7_919) % 5_000 + 1_000_000))
        .collect();
    rows.push("99999999999999999999;1".into());
    rows.push("18446744073709551615;1".into());
    rows.push("1;1".into());
    rows.push("1001234;1".into()); // 1,000,000 + 1,234 again
    rows.push("18446744073709551615;1".into());
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let text = pb("approval", &[], "voter_id;vote", &rows);
    let found = problems(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(matches!(
        &found[0].kind,
        ProblemKind::RepeatedVoter { id, .. } if id == "1001234"
    ));
    assert_eq!(
        found[1].kind,
        ProblemKind::RepeatedVoter {
            id: "18446744073709551615".into(),
            first_line: 12 + 5_001,
        }
    );
    // Without a voter_id column, nothing to compare.
    let text = pb("approval", &[], "vote", &["1", "1"]);
    assert!(problems(&text).is_empty());
}

#[test]
fn a_choose_1_vote_names_exactly_one_project() {
    let text = pb("choose-1", &[], "voter_id;vote", &["1;1,2,3", "2;2", "3;"]);
    refused(&text, 12, ProblemKind::NotOneChoice { found: 3 });
    assert_eq!(
        problems(&text),
        [
            problem(12, ProblemKind::NotOneChoice { found: 3 }),
            problem(14, ProblemKind::NotOneChoice { found: 0 }),
        ]
    );
    assert_eq!(
        problems(&text)[0].kind.to_string(),
        "a choose-1 vote names exactly one project; this one names 3"
    );
    let counted = pabulib::parse_with(text.as_bytes(), options(OnProblem::Count)).unwrap();
    assert_eq!(counted.profile.support().unwrap(), [1, 2, 1]);
    assert_eq!(voters(&text, OnProblem::Skip), 1);
}

#[test]
fn points_beyond_max_sum_points() {
    let text = pb(
        "cumulative",
        &["max_sum_points;10", "min_sum_points;2"],
        "voter_id;vote;points",
        &["1;1;1000", "2;1,2;5,5", "3;3;1"],
    );
    let over = ProblemKind::PointsSum {
        sum: 1000,
        key: "max_sum_points",
        bound: "10".into(),
    };
    refused(&text, 14, over.clone());
    assert_eq!(
        over.to_string(),
        "the vote gives 1000 points in all, above META max_sum_points 10"
    );
    assert_eq!(
        problems(&text),
        [
            problem(14, over),
            problem(
                16,
                ProblemKind::PointsSum {
                    sum: 1,
                    key: "min_sum_points",
                    bound: "2".into(),
                }
            ),
        ]
    );
    let counted = pabulib::parse_with(text.as_bytes(), options(OnProblem::Count)).unwrap();
    assert_eq!(counted.profile.support().unwrap(), [1005, 5, 1]);
    let skipped = pabulib::parse_with(text.as_bytes(), options(OnProblem::Skip)).unwrap();
    assert_eq!(skipped.profile.support().unwrap(), [5, 5, 0]);
}

#[test]
fn points_per_project_and_projects_given_points() {
    let text = pb(
        "scoring",
        &["min_points;1", "max_points;5", "min_length;2"],
        "voter_id;vote;points",
        &["1;1,2;0,6", "2;1,2,3;5,0,1", "3;2,3;1,5"],
    );
    // A project given 0 points is not chosen (it counts towards no length) but
    // still breaks min_points. A row's problems come vote first, then entries.
    let below = |id: &str, points| ProblemKind::Points {
        id: id.into(),
        points,
        key: "min_points",
        bound: "1".into(),
    };
    assert_eq!(
        problems(&text),
        [
            problem(
                15,
                ProblemKind::Length {
                    found: 1,
                    key: "min_length",
                    bound: "2".into()
                }
            ),
            problem(15, below("1", 0)),
            problem(
                15,
                ProblemKind::Points {
                    id: "2".into(),
                    points: 6,
                    key: "max_points",
                    bound: "5".into()
                }
            ),
            problem(16, below("2", 0)),
        ]
    );
}

#[test]
fn an_ordinal_vote_longer_than_max_length() {
    let text = pb(
        "ordinal",
        &["max_length;2"],
        "voter_id;vote",
        &["1;3,1,2", "2;2,1"],
    );
    let long = ProblemKind::Length {
        found: 3,
        key: "max_length",
        bound: "2".into(),
    };
    refused(&text, 13, long.clone());
    assert_eq!(
        long.to_string(),
        "the vote names 3 projects, above META max_length 2"
    );
    // Counted as written, the third place scores nothing (Borda over two places).
    let counted = pabulib::parse_with(text.as_bytes(), options(OnProblem::Count)).unwrap();
    assert_eq!(counted.profile.support().unwrap(), [2, 2, 2]);
    assert_eq!(voters(&text, OnProblem::Skip), 1);
}

#[test]
fn approval_votes_outside_min_and_max_length() {
    let text = pb(
        "approval",
        &["min_length;2", "max_length;2"],
        "voter_id;vote",
        &["1;1", "2;1,2", "3;1,2,3", "4;"],
    );
    let length = |found, key: &'static str| ProblemKind::Length {
        found,
        key,
        bound: "2".into(),
    };
    assert_eq!(
        problems(&text),
        [
            problem(14, length(1, "min_length")),
            problem(16, length(3, "max_length")),
            problem(17, length(0, "min_length")),
        ]
    );
    assert_eq!(voters(&text, OnProblem::Count), 4);
    assert_eq!(voters(&text, OnProblem::Skip), 1);
    // `None` is no promise.
    let none = pb(
        "approval",
        &["min_length;None", "max_length;"],
        "voter_id;vote",
        &["1;1"],
    );
    assert!(problems(&none).is_empty());
}

#[test]
fn what_a_vote_costs_in_all() {
    let text = pb(
        "approval",
        &["max_sum_cost;25.5", "min_sum_cost;15"],
        "voter_id;vote",
        &["1;1,2", "2;1", "3;2"],
    );
    assert_eq!(
        problems(&text),
        [
            problem(
                14,
                ProblemKind::Cost {
                    cost: "30".into(),
                    key: "max_sum_cost",
                    bound: "25.5".into()
                }
            ),
            problem(
                15,
                ProblemKind::Cost {
                    cost: "10".into(),
                    key: "min_sum_cost",
                    bound: "15".into()
                }
            ),
        ]
    );
    // Costs with decimals are compared exactly, in the file's units.
    let decimal = pb(
        "approval",
        &["max_sum_cost;30.24"],
        "voter_id;vote",
        &["1;1,2", "2;1"],
    )
    .replace("1;10;a", "1;10.25;a");
    assert_eq!(
        problems(&decimal),
        [problem(
            13,
            ProblemKind::Cost {
                cost: "30.25".into(),
                key: "max_sum_cost",
                bound: "30.24".into()
            }
        )]
    );
    // For points, only projects given points are bought.
    let points = pb(
        "cumulative",
        &["max_sum_cost;20"],
        "voter_id;vote;points",
        &["1;1,3;1,0"],
    );
    assert!(problems(&points).is_empty());
}

#[test]
fn per_category_promises() {
    let text = pb(
        "approval",
        &[
            "categories;a,b",
            "max_sum_cost_per_category;15,100",
            "min_length_per_category;1",
        ],
        "voter_id;vote",
        &["1;1,3", "2;2", "3;1", "4;1,2,3"],
    );
    assert_eq!(
        problems(&text),
        [
            problem(
                16,
                ProblemKind::CategoryCost {
                    category: "a".into(),
                    cost: "20".into(),
                    key: "max_sum_cost_per_category",
                    bound: "15".into()
                }
            ),
            problem(
                17,
                ProblemKind::CategoryLength {
                    category: "b".into(),
                    found: 0,
                    key: "min_length_per_category",
                    bound: "1".into()
                }
            ),
            problem(
                18,
                ProblemKind::CategoryCost {
                    category: "a".into(),
                    cost: "30".into(),
                    key: "max_sum_cost_per_category",
                    bound: "15".into()
                }
            ),
        ]
    );
    let misaligned = pb(
        "approval",
        &["categories;a,b", "max_length_per_category;1,2,3"],
        "voter_id;vote",
        &["1;1"],
    );
    let err = pabulib::parse(misaligned.as_bytes()).unwrap_err();
    assert_eq!(err.line, 6);
    assert!(matches!(
        err.kind,
        PbErrorKind::InvalidMetaValue {
            key: "max_length_per_category",
            ..
        }
    ));
    let orphan = pb(
        "approval",
        &["min_sum_cost_per_category;1"],
        "voter_id;vote",
        &["1;1"],
    );
    assert_eq!(pabulib::parse(orphan.as_bytes()).unwrap_err().line, 5);
    let names: Vec<String> = (0..257).map(|c| format!("c{c}")).collect();
    let many = pb(
        "approval",
        &[
            &format!("categories;{}", names.join(",")),
            "max_length_per_category;1",
        ],
        "voter_id;vote",
        &["1;1"],
    );
    assert!(matches!(
        pabulib::parse(many.as_bytes()).unwrap_err().kind,
        PbErrorKind::InvalidMetaValue {
            key: "categories",
            ..
        }
    ));
}

#[test]
fn a_category_minimum_over_many_categories_costs_its_row() {
    // 256 categories, each needing a project: a vote naming one breaks 255; they
    // are all counted, and the listed ones are the first.
    let names: Vec<String> = (0..256).map(|c| format!("c{c}")).collect();
    let mut text = format!(
        "META\nkey;value\nbudget;100\nvote_type;approval\ncategories;{}\n\
         min_length_per_category;1\nPROJECTS\nproject_id;cost;category\n1;1;c0\n2;1;c1\nVOTES\nvoter_id;vote\n",
        names.join(",")
    );
    for v in 0..10 {
        text.push_str(&format!("{v};1\n"));
    }
    let c = checked(&text);
    assert_eq!(c.total, 2_550);
    assert_eq!(c.problems.len(), PROBLEMS_LISTED);
    assert_eq!(
        c.problems[0].kind,
        ProblemKind::CategoryLength {
            category: "c1".into(),
            found: 0,
            key: "min_length_per_category",
            bound: "1".into(),
        }
    );
}

#[test]
fn problems_not_about_a_vote() {
    let text = pb(
        "approval",
        &[
            "num_projects;4",
            "num_votes;3",
            "fully_funded;1",
            "min_project_cost;15",
            "max_project_cost;25",
        ],
        "voter_id;vote",
        &["1;1", "2;2"],
    )
    .replace("budget;100", "budget;50");
    let found = problems(&text);
    assert_eq!(
        found,
        [
            problem(
                5,
                ProblemKind::CountMismatch {
                    key: "num_projects",
                    stated: "4".into(),
                    section: "PROJECTS",
                    found: 3
                }
            ),
            problem(
                6,
                ProblemKind::CountMismatch {
                    key: "num_votes",
                    stated: "3".into(),
                    section: "VOTES",
                    found: 2
                }
            ),
            problem(
                7,
                ProblemKind::NotFullyFunded {
                    total: "60".into(),
                    budget: "50".into()
                }
            ),
            problem(
                12,
                ProblemKind::ProjectCost {
                    id: "1".into(),
                    cost: "10".into(),
                    key: "min_project_cost",
                    bound: "15".into()
                }
            ),
            problem(
                14,
                ProblemKind::ProjectCost {
                    id: "3".into(),
                    cost: "30".into(),
                    key: "max_project_cost",
                    bound: "25".into()
                }
            ),
        ]
    );
    assert!(found.iter().all(|p| !p.kind.is_about_a_vote()));
    // Refused strictly; counted and skipped alike, as they are about no vote.
    assert!(pabulib::parse(text.as_bytes()).is_err());
    assert_eq!(voters(&text, OnProblem::Count), 2);
    assert_eq!(voters(&text, OnProblem::Skip), 2);
}

#[test]
fn two_u32_max_points_for_one_project_overflow_32_bits() {
    let text = pb(
        "cumulative",
        &[],
        "voter_id;vote;points",
        &["1;1,1;4294967295,4294967295", "2;2;1"],
    );
    let merge = ParseOptions::default().merge_repeats(true);
    let err = pabulib::parse_with(text.as_bytes(), merge).unwrap_err();
    let overflow = ProblemKind::PointsOverflow { id: "1".into() };
    assert_eq!(err.line, 12);
    assert_eq!(err.kind, PbErrorKind::Problem(overflow.clone()));
    let message = err.to_string();
    assert!(message.contains("32 bits"), "{message}");
    assert!(!message.contains("64 bits"), "{message}");
    // Not even counted as written; left out, the rest counts.
    assert_eq!(
        pabulib::parse_with(text.as_bytes(), merge.on_problem(OnProblem::Count)).unwrap_err(),
        err
    );
    let skipped = pabulib::parse_with(text.as_bytes(), merge.on_problem(OnProblem::Skip)).unwrap();
    assert_eq!(skipped.profile.support().unwrap(), [0, 1, 0]);
    // Strictly, the repeat comes first.
    assert_eq!(
        checked(&text).problems,
        [
            problem(12, ProblemKind::RepeatedProject { id: "1".into() }),
            problem(12, overflow),
        ]
    );
}

#[test]
fn long_votes_report_the_right_repeat() {
    // Longer than the pairwise checks: the first repeat in order for a ranking,
    // the smallest for a set.
    let mut projects = String::new();
    for p in 1..=40 {
        projects.push_str(&format!("{p};1\n"));
    }
    let ranking: Vec<String> = (1..=30).map(|p| p.to_string()).collect();
    for (vote_type, repeated) in [("ordinal", "7"), ("approval", "3")] {
        let text = format!(
            "META\nkey;value\nbudget;40\nvote_type;{vote_type}\nPROJECTS\nproject_id;cost\n{projects}\
             VOTES\nvoter_id;vote\n1;{},7,3\n",
            ranking.join(",")
        );
        let err = pabulib::parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.kind,
            PbErrorKind::Problem(ProblemKind::RepeatedProject {
                id: repeated.into()
            }),
            "{vote_type}"
        );
        let merged =
            pabulib::parse_with(text.as_bytes(), ParseOptions::default().merge_repeats(true))
                .unwrap();
        let ballot = merged.profile.ballot(0).unwrap();
        assert_eq!(
            ballot.projects,
            (0..30).collect::<Vec<u32>>(),
            "{vote_type}"
        );
    }
}

#[test]
fn check_goes_on_past_problems_to_the_end_or_a_malformed_row() {
    let text = pb(
        "choose-1",
        &[],
        "voter_id;vote",
        &["1;1,2", "2;2", "3;1,3", "4;9", "5;1,2"],
    );
    let c = checked(&text);
    assert_eq!(
        c.problems.iter().map(|p| p.line).collect::<Vec<_>>(),
        [12, 14]
    );
    // The file is what `parse` gives: the first problem…
    assert_eq!(c.file, pabulib::parse(text.as_bytes()));
    assert_eq!(c.file.as_ref().unwrap_err().line, 12);
    assert!(c.read_error().is_none());
    // …and counting, the malformed row that stopped the reader.
    let counted = pabulib::check(text.as_bytes(), options(OnProblem::Count));
    assert_eq!(counted.problems, c.problems);
    let error = counted.read_error().unwrap();
    assert_eq!(error.line, 15);
    assert!(matches!(error.kind, PbErrorKind::UnknownProject { .. }));
}

#[test]
fn the_list_of_problems_is_capped_and_the_count_is_not() {
    let rows: Vec<String> = (0..1_500).map(|v| format!("{v};1,2")).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let text = pb("choose-1", &[], "voter_id;vote", &rows);
    let c = checked(&text);
    assert_eq!(c.total, 1_500);
    assert_eq!(c.problems.len(), PROBLEMS_LISTED);
    assert_eq!(c.problems[999].line, 12 + 999);
    assert_eq!(voters(&text, OnProblem::Count), 1_500);
    assert_eq!(voters(&text, OnProblem::Skip), 0);
}

#[test]
fn a_bound_that_is_not_a_number_is_an_error_at_its_line() {
    let text = pb(
        "cumulative",
        &["max_sum_points;ten"],
        "voter_id;vote;points",
        &["1;1;1"],
    );
    let err = pabulib::parse(text.as_bytes()).unwrap_err();
    assert_eq!(err.line, 5);
    assert_eq!(
        err.kind,
        PbErrorKind::InvalidMetaValue {
            key: "max_sum_points",
            found: "ten".into(),
            expected: "a number",
        }
    );
    // Keys that do not apply to the vote type are not read.
    let approval = pb(
        "approval",
        &["max_sum_points;ten"],
        "voter_id;vote",
        &["1;1"],
    );
    assert!(pabulib::parse(approval.as_bytes()).is_ok());
    // Negative and fractional bounds are exact.
    let text = pb(
        "approval",
        &["min_length;-1", "max_length;1.5"],
        "voter_id;vote",
        &["1;", "2;1", "3;1,2"],
    );
    assert_eq!(
        problems(&text).iter().map(|p| p.line).collect::<Vec<_>>(),
        [16]
    );
}

#[test]
fn new_files_keep_the_promises_of_their_meta() {
    let meta = |extra: &[(&str, &str)]| {
        let mut m = vec![("budget".to_owned(), "100".to_owned())];
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        m
    };
    let columns = vec!["project_id".to_owned(), "cost".to_owned()];
    let rows = vec![
        vec!["1".to_owned(), "10".to_owned()],
        vec!["2".to_owned(), "20".to_owned()],
    ];
    let mut b = Profile::builder(ProfileKind::Approval, 2);
    b.push_approval(&[0], 2).unwrap();
    b.push_approval(&[0, 1], 1).unwrap();
    let profile = b.build();
    // Written: META (budget, vote_type at 3 and 4), PROJECTS 5, header 6, rows
    // 7-8, VOTES 9, header 10, then voters 1 and 2 (ballot 0) and 3 (ballot 1).
    let err = PbFile::new(
        meta(&[]),
        columns.clone(),
        rows.clone(),
        VoteType::Choose1,
        profile.clone(),
    )
    .unwrap_err();
    assert_eq!(err.line, 13);
    assert_eq!(
        err.kind,
        PbErrorKind::Problem(ProblemKind::NotOneChoice { found: 2 })
    );
    let err = PbFile::new(
        meta(&[("num_votes", "2")]),
        columns.clone(),
        rows.clone(),
        VoteType::Approval,
        profile.clone(),
    )
    .unwrap_err();
    assert_eq!(err.line, 4);
    let file = PbFile::new(
        meta(&[("num_votes", "3"), ("max_length", "2")]),
        columns,
        rows,
        VoteType::Approval,
        profile,
    )
    .unwrap();
    let mut out = Vec::new();
    pabulib::write(&file, &mut out).unwrap();
    assert_eq!(pabulib::parse(&out).unwrap().profile, file.profile);
}
