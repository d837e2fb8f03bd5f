//! The `.pb` reader and writer on small inline files: every quirk of the format,
//! every error with its line, write → parse round trips, and properties that no
//! input, random or a damaged real file, makes the reader panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use medborgarbudget::pabulib::{
    self, OnProblem, PROBLEMS_LISTED, ParseOptions, PbError, PbErrorKind, PbFile, PbProject,
    ProblemKind, Section, VoteType,
};
use medborgarbudget::tally::{Greedy, Profile, ProfileKind, Tally, TallyError, TieBreaking};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

#[track_caller]
fn parse(text: &str) -> PbFile {
    pabulib::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[track_caller]
fn fails(text: &str) -> PbError {
    match pabulib::parse(text.as_bytes()) {
        Ok(_) => panic!("expected an error for\n{text}"),
        Err(e) => e,
    }
}

/// A small approval file: 3 projects, 4 voters, lines numbered in comments.
const APPROVAL: &str = "\
META
key;value
description;A test
budget;1000
vote_type;approval
rule;greedy
PROJECTS
project_id;cost;name;selected
1;600;Park;1
2;500;Library;0
3;100;Bench;1
VOTES
voter_id;vote;age
10;1,3;34
11;2;71
12;3,1;18
13;;40
";

/// Lines of `text` as the reader counts them (an empty text is one line).
fn line_count(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    if bytes.last() == Some(&b'\n') {
        newlines.max(1)
    } else {
        newlines + 1
    }
}

/// Ballots as `(ids, points, count)`, sorted: compares profiles as multisets.
fn ballots(file: &PbFile) -> Vec<(Vec<String>, Vec<u32>, u64)> {
    let mut out: Vec<_> = file
        .profile
        .iter()
        .map(|b| {
            let ids = b
                .projects
                .iter()
                .map(|&p| file.projects[p as usize].id.clone())
                .collect();
            (ids, b.points.to_vec(), b.count)
        })
        .collect();
    out.sort();
    out
}

#[track_caller]
fn round_trip(file: &PbFile) -> PbFile {
    let mut out = Vec::new();
    pabulib::write(file, &mut out).unwrap();
    let again =
        pabulib::parse(&out).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    assert_eq!(again.meta, file.meta);
    assert_eq!(again.project_columns, file.project_columns);
    assert_eq!(again.projects, file.projects);
    assert_eq!(again.vote_type, file.vote_type);
    assert_eq!(again.profile, file.profile);
    assert_eq!(ballots(&again), ballots(file));
    assert_eq!(again.scale, file.scale);
    assert_eq!(again.budget, file.budget);
    assert_eq!(again.election(), file.election());
    again
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

#[test]
fn reads_a_plain_approval_file() {
    let file = parse(APPROVAL);
    assert_eq!(file.meta("description"), Some("A test"));
    assert_eq!(file.meta("missing"), None);
    assert_eq!(file.rule(), Some("greedy"));
    assert_eq!(
        file.meta[0],
        ("description".to_owned(), "A test".to_owned())
    );
    assert_eq!(
        file.project_columns,
        ["project_id", "cost", "name", "selected"]
    );
    assert_eq!(file.vote_columns, ["voter_id", "vote", "age"]);
    assert_eq!(file.vote_type, VoteType::Approval);
    assert_eq!((file.scale, file.budget), (1, 1000));
    assert_eq!(
        file.projects[1],
        PbProject {
            id: "2".into(),
            cost: 500,
            fields: vec!["2".into(), "500".into(), "Library".into(), "0".into()],
        }
    );
    assert_eq!(file.project_field(0, "name"), Some("Park"));
    assert_eq!(file.project_field(0, "nope"), None);
    assert_eq!(file.project_field(9, "name"), None);
    assert_eq!(file.selected(), Some(vec![0, 2]));
    assert_eq!(file.num_voters(), 4);
    // "1,3" and "3,1" are one ballot; the empty vote is a voter too.
    assert_eq!(file.profile.num_distinct(), 3);
    assert_eq!(file.profile.kind(), ProfileKind::Approval);
    assert_eq!(file.profile.support().unwrap(), [2, 1, 2]);

    let election = file.election().unwrap();
    assert_eq!(election.budget(), 1000);
    let labels: Vec<&str> = election
        .candidates()
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(labels, ["1", "2", "3"]);
    let outcome = Greedy
        .tally(&election, &TieBreaking::by_project_id())
        .unwrap();
    assert_eq!(outcome.selected_labels(&election), ["1", "3"]);
}

#[test]
fn no_selected_column_means_no_official_outcome() {
    let file = parse(&APPROVAL.replace("name;selected", "name;chosen"));
    assert_eq!(file.selected(), None);
}

#[test]
fn crlf_line_endings_and_a_byte_order_mark() {
    let crlf = APPROVAL.replace('\n', "\r\n");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(crlf.as_bytes());
    let file = pabulib::parse(&bytes).unwrap();
    let plain = parse(APPROVAL);
    assert_eq!(file, plain);
    assert_eq!(file.meta("rule"), Some("greedy"));
    assert_eq!(file.projects[2].fields[3], "1");
}

#[test]
fn blank_lines_anywhere_and_no_final_newline() {
    let text = "\n\nMETA\n\nkey;value\nbudget;10\n   \nvote_type;approval\n\nPROJECTS\n\
                project_id;cost\n\n1;5\n\t\nVOTES\n\nvoter_id;vote\n\n1;1\n\n\n2;1";
    let file = parse(text);
    assert_eq!(file.num_voters(), 2);
    assert_eq!(file.profile.num_distinct(), 1);
}

#[test]
fn quoted_fields() {
    let text = "META\nkey;value\n\"description\";\"Say \"\"hi\"\"; twice\"\nbudget;\"100\"\n\
                vote_type;approval\nPROJECTS\nproject_id;cost;name\n\
                \"a;b\";10;\"Park; with \"\"trees\"\"\"\nc;20;\"\"\n\
                VOTES\nvoter_id;vote\n1;\"a;b,c\"\n\"2\";c\n";
    let file = parse(text);
    assert_eq!(file.meta("description"), Some("Say \"hi\"; twice"));
    assert_eq!(file.budget, 100);
    assert_eq!(file.projects[0].id, "a;b");
    assert_eq!(file.projects[0].fields[2], "Park; with \"trees\"");
    assert_eq!(file.projects[1].fields[2], "");
    assert_eq!(file.profile.support().unwrap(), [1, 2]);
    round_trip(&file);
}

#[test]
fn stray_quotes_are_read_literally() {
    // A quote inside a field, and a quoted start that does not reach the `;`,
    // as in two Częstochowa files.
    let text = "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost;name\n\
                1;10;Konkurs \" NA NAJ\n2;10;\"Odkupmy\" i my;\n\
                VOTES\nvoter_id;vote\n1;1,2\n";
    let file = parse(text);
    assert_eq!(file.projects[0].fields[2], "Konkurs \" NA NAJ");
    assert_eq!(file.projects[1].fields[2], "\"Odkupmy\" i my");
    round_trip(&file);
}

#[test]
fn decimal_amounts_are_scaled_to_whole_numbers() {
    let text = |budget: &str, costs: [&str; 2]| {
        format!(
            "META\nkey;value\nbudget;{budget}\nvote_type;approval\nPROJECTS\nproject_id;cost\n\
             1;{}\n2;{}\nVOTES\nvoter_id;vote\n1;1\n",
            costs[0], costs[1]
        )
    };
    let file = parse(&text("400000.0", ["1000", "250.00"]));
    assert_eq!((file.scale, file.budget), (1, 400_000));
    assert_eq!(file.projects[1].cost, 250);

    let file = parse(&text("827838.5", ["1000.25", "12.50"]));
    assert_eq!((file.scale, file.budget), (100, 82_783_850));
    assert_eq!(file.projects[0].cost, 100_025);
    assert_eq!(file.projects[1].cost, 1250);
    assert_eq!(file.election().unwrap().candidates()[1].cost, 1250);
    round_trip(&file);

    let file = parse(&text(" 7 ", [".5", "3."]));
    assert_eq!((file.scale, file.budget), (10, 70));
    assert_eq!((file.projects[0].cost, file.projects[1].cost), (5, 30));
}

#[test]
fn project_ids_of_every_shape() {
    for ids in [
        ["1", "2", "30"],                                 // small numbers
        ["c12", "c2", "c100"],                            // short text
        ["BO.OM.97/24", "BO.OM.5/24", "BO.OM.182/24"],    // Kraków
        ["a-very-long-project-identifier-1", "x", "é ü"], // longer than 15 bytes
        ["007", "7", "0"],                                // leading zeros differ
        ["4000000000", "1", "2"],                         // too large for a table
    ] {
        let text = format!(
            "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n\
             {0};1\n{1};2\n{2};3\nVOTES\nvoter_id;vote\n1;{0},{2}\n2; {1} , {0} \n3;{2}\n",
            ids[0], ids[1], ids[2]
        );
        let file = parse(&text);
        let got: Vec<&str> = file.projects.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(got, ids);
        assert_eq!(file.profile.support().unwrap(), [2, 1, 2], "{ids:?}");
        round_trip(&file);
    }
    // "07" is not "7", nor "007".
    let text = "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n\
                007;1\n7;2\nVOTES\nvoter_id;vote\n1;07\n";
    assert_eq!(
        fails(text).kind,
        PbErrorKind::UnknownProject { id: "07".into() }
    );
}

#[test]
fn none_marks_a_missing_value() {
    let text = "META\nkey;value\nbudget;100\nvote_type;ordinal\nmax_length;None\nsubunit;None\n\
                PROJECTS\nproject_id;cost;category;selected\n1;10;None;None\n2;20;None;1\n\
                VOTES\nvoter_id;vote;age\n1;2,1;None\n";
    let file = parse(text);
    assert_eq!(file.meta("subunit"), Some("None"));
    assert_eq!(file.project_field(0, "category"), Some("None"));
    assert_eq!(file.selected(), Some(vec![1]));
    // No usable max_length: rankings score as many places as the longest one.
    assert_eq!(file.profile.ranking_length(), 2);
    let missing_budget = text.replace("budget;100", "budget;None");
    assert_eq!(
        fails(&missing_budget),
        PbError::new(1, PbErrorKind::MissingMeta { key: "budget" })
    );
}

#[test]
fn every_vote_type() {
    let file = |vote_type: &str, votes: &str| {
        parse(&format!(
            "META\nkey;value\nbudget;100\nvote_type;{vote_type}\nmax_length;3\nPROJECTS\n\
             project_id;cost\n1;10\n2;20\n3;30\nVOTES\nvoter_id;vote;points\n{votes}"
        ))
    };
    let approval = file("approval", "1;1,2;\n2;3;\n");
    assert_eq!(approval.vote_type, VoteType::Approval);
    assert_eq!(approval.profile.support().unwrap(), [1, 1, 1]);

    let choose = file("choose-1", "1;2;\n2;2;\n3;3;\n");
    assert_eq!(choose.vote_type, VoteType::Choose1);
    assert_eq!(choose.profile.kind(), ProfileKind::Approval);
    assert_eq!(choose.profile.support().unwrap(), [0, 2, 1]);

    let cumulative = file("cumulative", "1;1,3;2,1\n2;3,2;4,0\n3;;\n");
    assert_eq!(cumulative.vote_type, VoteType::Cumulative);
    assert_eq!(cumulative.profile.kind(), ProfileKind::Points);
    assert_eq!(cumulative.profile.support().unwrap(), [2, 0, 5]);
    let first = cumulative.profile.ballot(0).unwrap();
    assert_eq!((first.projects, first.points), (&[0, 2][..], &[2, 1][..]));
    round_trip(&cumulative);

    let scoring = file("scoring", "1;2,1;5,3\n");
    assert_eq!(scoring.vote_type, VoteType::Scoring);
    assert_eq!(scoring.profile.support().unwrap(), [3, 5, 0]);

    let ordinal = file("ordinal", "1;3,1;\n2;1,3,2;\n3;3,1;\n");
    assert_eq!(ordinal.vote_type, VoteType::Ordinal);
    assert_eq!(ordinal.profile.kind(), ProfileKind::Ranking);
    assert_eq!(ordinal.profile.ranking_length(), 3); // META max_length
    assert_eq!(ordinal.profile.num_distinct(), 2); // order matters
    assert_eq!(ordinal.profile.ballot(0).unwrap().projects, [2, 0]);
    // Borda over 3 places: 3, 2, 1.
    assert_eq!(
        ordinal.profile.support().unwrap(),
        [2 + 3 + 2, 1, 3 + 2 + 3]
    );
    round_trip(&ordinal);
}

#[test]
fn vote_type_spellings() {
    for (text, vote_type) in [
        ("approval", VoteType::Approval),
        ("choose-1", VoteType::Choose1),
        ("cumulative", VoteType::Cumulative),
        ("scoring", VoteType::Scoring),
        ("ordinal", VoteType::Ordinal),
    ] {
        assert_eq!(vote_type.to_string(), text);
        assert_eq!(text.parse::<VoteType>(), Ok(vote_type));
        assert_eq!(
            format!(" {} ", text.to_uppercase()).parse::<VoteType>(),
            Ok(vote_type)
        );
    }
    let err = "knapsack".parse::<VoteType>().unwrap_err();
    assert_eq!(err.found, "knapsack");
    assert!(err.to_string().contains("knapsack"));
}

#[test]
fn titles_take_any_case_and_trailing_separators() {
    let text = APPROVAL
        .replace("META\n", "meta;;\n")
        .replace("PROJECTS\n", " Projects ;\n")
        .replace("VOTES\n", "votes\n");
    assert_eq!(parse(&text), parse(APPROVAL));
}

#[test]
fn extra_empty_fields_are_dropped() {
    let text = APPROVAL
        .replace("budget;1000\n", "budget;1000;;\n")
        .replace("name;selected\n", "name;selected;\n")
        .replace("1;600;Park;1\n", "1;600;Park;1;;\n");
    assert_eq!(parse(&text), parse(APPROVAL));
}

#[test]
fn repeats_in_a_vote_can_be_merged() {
    let text = "META\nkey;value\nbudget;100\nvote_type;VT\nPROJECTS\nproject_id;cost\n\
                1;10\n2;20\nVOTES\nvoter_id;vote;points\n1;2,1,2;1,2,3\n";
    let merge = ParseOptions::default().merge_repeats(true);
    for vote_type in ["approval", "ordinal", "cumulative"] {
        let text = text.replace("VT", vote_type);
        let err = fails(&text);
        assert_eq!(
            err,
            PbError::new(
                11,
                PbErrorKind::Problem(ProblemKind::RepeatedProject { id: "2".into() })
            )
        );
        let file = pabulib::parse_with(text.as_bytes(), merge).unwrap();
        let ballot = file.profile.ballot(0).unwrap();
        match vote_type {
            "approval" => assert_eq!(ballot.projects, [0, 1]),
            "ordinal" => assert_eq!(ballot.projects, [1, 0]),
            _ => assert_eq!((ballot.projects, ballot.points), (&[0, 1][..], &[2, 4][..])),
        }
        round_trip(&file);
    }
    // A repeat hidden behind zero points is still a repeat.
    let zero = text.replace("VT", "cumulative").replace("1,2,3", "0,2,3");
    assert!(matches!(
        fails(&zero).kind,
        PbErrorKind::Problem(ProblemKind::RepeatedProject { .. })
    ));
}

#[test]
fn read_file_reads_and_reports_io_errors_on_line_0() {
    let dir = std::env::temp_dir().join(format!("pabulib-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.pb");
    std::fs::write(&path, APPROVAL).unwrap();
    assert_eq!(pabulib::read_file(&path).unwrap(), parse(APPROVAL));
    let missing = dir.join("missing.pb");
    let err = pabulib::read_file(&missing).unwrap_err();
    assert_eq!(err.line, 0);
    assert!(matches!(
        &err.kind,
        PbErrorKind::Io {
            io_kind: std::io::ErrorKind::NotFound,
            ..
        }
    ));
    assert!(!err.to_string().starts_with("line"), "{err}");
    assert!(err.to_string().contains("missing.pb"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// Errors, each with its line
// ---------------------------------------------------------------------------

#[track_caller]
fn error_at(text: &str, line: usize, kind: PbErrorKind) {
    let err = fails(text);
    assert_eq!(err, PbError::new(line, kind.clone()), "\n{text}");
    assert_eq!(err.to_string(), format!("line {line}: {kind}"));
}

#[test]
fn votes_naming_an_unknown_project() {
    error_at(
        &APPROVAL.replace("11;2;71", "11;2,9;71"),
        15,
        PbErrorKind::UnknownProject { id: "9".into() },
    );
    let err = fails(&APPROVAL.replace("11;2;71", "11;2,9;71"));
    assert_eq!(
        err.to_string(),
        "line 15: a vote names \"9\", which is not a project id listed in PROJECTS"
    );
    error_at(
        &APPROVAL.replace("11;2;71", "11;2,,3;71"),
        15,
        PbErrorKind::EmptyListEntry { column: "vote" },
    );
}

#[test]
fn votes_naming_a_project_twice() {
    error_at(
        &APPROVAL.replace("12;3,1;18", "12;3,1,3;18"),
        16,
        PbErrorKind::Problem(ProblemKind::RepeatedProject { id: "3".into() }),
    );
}

#[test]
fn points_not_matching_the_vote_list() {
    let text = "META\nkey;value\nbudget;100\nvote_type;cumulative\nPROJECTS\nproject_id;cost\n\
                1;10\n2;20\nVOTES\nvoter_id;vote;points\n1;1,2;1,1\n2;1,2;3\n";
    error_at(
        text,
        12,
        PbErrorKind::PointsMismatch {
            votes: 2,
            points: 1,
        },
    );
    error_at(
        &text.replace("2;1,2;3", "2;1;3,4,5"),
        12,
        PbErrorKind::PointsMismatch {
            votes: 1,
            points: 3,
        },
    );
    error_at(
        &text.replace("2;1,2;3", "2;1,2;3,x"),
        12,
        PbErrorKind::InvalidNumber {
            what: "points",
            found: "x".into(),
        },
    );
    error_at(
        &text.replace("2;1,2;3", "2;1,2;3,-1"),
        12,
        PbErrorKind::InvalidNumber {
            what: "points",
            found: "-1".into(),
        },
    );
    error_at(
        &text.replace("2;1,2;3", "2;1,2;3,"),
        12,
        PbErrorKind::EmptyListEntry { column: "points" },
    );
    error_at(
        &text.replace("voter_id;vote;points", "voter_id;vote"),
        10,
        PbErrorKind::MissingColumn {
            section: Section::Votes,
            column: "points",
        },
    );
    error_at(
        &text.replace("2;1,2;3", "2;1,2"),
        12,
        PbErrorKind::TooFewFields {
            expected: 3,
            found: 2,
        },
    );
}

#[test]
fn bad_costs_and_budgets() {
    error_at(
        &APPROVAL.replace("2;500;Library", "2;-500;Library"),
        10,
        PbErrorKind::NegativeAmount {
            what: "cost",
            found: "-500".into(),
        },
    );
    for bad in ["abc", "None", "", "1e5", "1,5", "1.2.3", "."] {
        error_at(
            &APPROVAL.replace("2;500;Library", &format!("2;{bad};Library")),
            10,
            PbErrorKind::InvalidAmount {
                what: "cost",
                found: bad.into(),
            },
        );
    }
    error_at(
        &APPROVAL.replace("budget;1000", "budget;-1"),
        4,
        PbErrorKind::NegativeAmount {
            what: "budget",
            found: "-1".into(),
        },
    );
    error_at(
        &APPROVAL.replace("budget;1000", "budget;lots"),
        4,
        PbErrorKind::InvalidAmount {
            what: "budget",
            found: "lots".into(),
        },
    );
    // Too large once scaled: the budget fits alone, not at two decimals.
    error_at(
        &APPROVAL
            .replace("budget;1000", "budget;18446744073709551615")
            .replace("3;100;Bench", "3;0.01;Bench"),
        4,
        PbErrorKind::AmountOutOfRange {
            what: "budget",
            found: "18446744073709551615".into(),
            decimals: 2,
        },
    );
    error_at(
        &APPROVAL.replace("3;100;Bench", "3;99999999999999999999999;Bench"),
        11,
        PbErrorKind::AmountOutOfRange {
            what: "cost",
            found: "99999999999999999999999".into(),
            decimals: 0,
        },
    );
    error_at(
        &APPROVAL.replace("3;100;Bench", "3;0.0000000000000000001;Bench"),
        11,
        PbErrorKind::AmountOutOfRange {
            what: "cost",
            found: "0.0000000000000000001".into(),
            decimals: 19,
        },
    );
}

#[test]
fn missing_or_bad_meta() {
    error_at(
        &APPROVAL.replace("budget;1000\n", ""),
        1,
        PbErrorKind::MissingMeta { key: "budget" },
    );
    error_at(
        &APPROVAL.replace("vote_type;approval\n", ""),
        1,
        PbErrorKind::MissingMeta { key: "vote_type" },
    );
    error_at(
        &APPROVAL.replace("vote_type;approval", "vote_type;knapsack"),
        5,
        PbErrorKind::UnknownVoteType {
            found: "knapsack".into(),
        },
    );
    error_at(
        &APPROVAL.replace("rule;greedy", "rule;greedy\nbudget;5"),
        7,
        PbErrorKind::DuplicateMetaKey {
            key: "budget".into(),
            first_line: 4,
        },
    );
    error_at(
        &APPROVAL.replace("rule;greedy", "rule;greedy;extra"),
        6,
        PbErrorKind::TooManyFields {
            expected: 2,
            found: 3,
        },
    );
    error_at(
        &APPROVAL.replace("rule;greedy", "rule"),
        6,
        PbErrorKind::TooFewFields {
            expected: 2,
            found: 1,
        },
    );
    let ordinal = APPROVAL.replace("vote_type;approval", "vote_type;ordinal\nmax_length;three");
    error_at(
        &ordinal,
        6,
        PbErrorKind::InvalidNumber {
            what: "max_length",
            found: "three".into(),
        },
    );
}

#[test]
fn bad_projects() {
    error_at(
        &APPROVAL.replace("3;100;Bench", "1;100;Bench"),
        11,
        PbErrorKind::DuplicateProjectId {
            id: "1".into(),
            first_line: 9,
        },
    );
    error_at(
        &APPROVAL.replace("3;100;Bench", " ;100;Bench"),
        11,
        PbErrorKind::EmptyProjectId,
    );
    error_at(
        &APPROVAL.replace("3;100;Bench;1", "3;100;Bench"),
        11,
        PbErrorKind::TooFewFields {
            expected: 4,
            found: 3,
        },
    );
    error_at(
        &APPROVAL.replace("3;100;Bench;1", "3;100;Bench;1;x"),
        11,
        PbErrorKind::TooManyFields {
            expected: 4,
            found: 5,
        },
    );
    error_at(
        &APPROVAL.replace("project_id;cost", "id;cost"),
        8,
        PbErrorKind::MissingColumn {
            section: Section::Projects,
            column: "project_id",
        },
    );
    error_at(
        &APPROVAL.replace("project_id;cost", "project_id;price"),
        8,
        PbErrorKind::MissingColumn {
            section: Section::Projects,
            column: "cost",
        },
    );
    error_at(
        &APPROVAL.replace("name;selected", "name;name"),
        8,
        PbErrorKind::DuplicateColumn {
            section: Section::Projects,
            column: "name".into(),
        },
    );
}

#[test]
fn bad_vote_headers_and_rows() {
    error_at(
        &APPROVAL.replace("voter_id;vote;age", "voter_id;ballot;age"),
        13,
        PbErrorKind::MissingColumn {
            section: Section::Votes,
            column: "vote",
        },
    );
    error_at(
        &APPROVAL.replace("voter_id;vote;age", "voter_id;vote;vote"),
        13,
        PbErrorKind::DuplicateColumn {
            section: Section::Votes,
            column: "vote".into(),
        },
    );
    error_at(
        &APPROVAL.replace("11;2;71", "11"),
        15,
        PbErrorKind::TooFewFields {
            expected: 2,
            found: 1,
        },
    );
}

#[test]
fn quotes_that_do_not_close() {
    error_at(
        &APPROVAL.replace("2;500;Library", "2;500;\"Library"),
        10,
        PbErrorKind::UnclosedQuote,
    );
    error_at(
        &APPROVAL.replace("11;2;71", "11;\"2;71"),
        15,
        PbErrorKind::UnclosedQuote,
    );
    error_at(
        &APPROVAL.replace("rule;greedy", "rule;\"greedy\"\""),
        6,
        PbErrorKind::UnclosedQuote,
    );
}

#[test]
fn invalid_utf8_in_text_sections() {
    let mut bytes = APPROVAL.as_bytes().to_vec();
    let at = APPROVAL.find("Library").unwrap();
    bytes[at] = 0xFF;
    let err = pabulib::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        PbError::new(
            10,
            PbErrorKind::InvalidUtf8 {
                section: Section::Projects
            }
        )
    );
    // In VOTES bytes are compared, not decoded: an invalid id is just unknown.
    let mut bytes = APPROVAL.as_bytes().to_vec();
    let at = APPROVAL.find("11;2;71").unwrap() + 3;
    bytes[at] = 0xFF;
    let err = pabulib::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        PbError::new(
            15,
            PbErrorKind::UnknownProject {
                id: "\u{FFFD}".into()
            }
        )
    );
}

#[test]
fn sections_out_of_order_or_missing() {
    error_at(
        "",
        1,
        PbErrorKind::MissingSection {
            expected: Section::Meta,
        },
    );
    error_at(
        "\n\n",
        2,
        PbErrorKind::MissingSection {
            expected: Section::Meta,
        },
    );
    error_at(
        "hello;world\nMETA\n",
        1,
        PbErrorKind::ExpectedSection {
            expected: Section::Meta,
            found: "hello;world".into(),
        },
    );
    error_at(
        "PROJECTS\nproject_id;cost\nMETA\n",
        1,
        PbErrorKind::SectionOutOfOrder {
            expected: Some(Section::Meta),
            found: Section::Projects,
        },
    );
    error_at(
        "META\n",
        1,
        PbErrorKind::MissingHeader {
            section: Section::Meta,
        },
    );
    error_at(
        "META\nPROJECTS\n",
        2,
        PbErrorKind::MissingHeader {
            section: Section::Meta,
        },
    );
    error_at(
        "META\nkey;value\nbudget;1\n",
        3,
        PbErrorKind::MissingSection {
            expected: Section::Projects,
        },
    );
    // META straight to VOTES.
    let text = APPROVAL.replace(
        "PROJECTS\nproject_id;cost;name;selected\n1;600;Park;1\n2;500;Library;0\n3;100;Bench;1\n",
        "",
    );
    error_at(
        &text,
        7,
        PbErrorKind::SectionOutOfOrder {
            expected: Some(Section::Projects),
            found: Section::Votes,
        },
    );
    // META twice.
    error_at(
        &APPROVAL.replace("rule;greedy", "META"),
        6,
        PbErrorKind::SectionOutOfOrder {
            expected: Some(Section::Projects),
            found: Section::Meta,
        },
    );
    // PROJECTS, then META again.
    error_at(
        &APPROVAL.replace("VOTES", "META"),
        12,
        PbErrorKind::SectionOutOfOrder {
            expected: Some(Section::Votes),
            found: Section::Meta,
        },
    );
    // No VOTES at all.
    let text = &APPROVAL[..APPROVAL.find("VOTES").unwrap()];
    error_at(
        text,
        11,
        PbErrorKind::MissingSection {
            expected: Section::Votes,
        },
    );
    error_at(
        &format!("{APPROVAL}  Meta ;\n"),
        18,
        PbErrorKind::SectionOutOfOrder {
            expected: None,
            found: Section::Meta,
        },
    );
    error_at(
        &format!("{APPROVAL}VOTES\n"),
        18,
        PbErrorKind::SectionOutOfOrder {
            expected: None,
            found: Section::Votes,
        },
    );
    error_at(
        &APPROVAL.replace("voter_id;vote;age\n", ""),
        13,
        PbErrorKind::MissingColumn {
            section: Section::Votes,
            column: "vote",
        },
    );
    let text = &APPROVAL[..APPROVAL.find("voter_id").unwrap()];
    error_at(
        text,
        12,
        PbErrorKind::MissingHeader {
            section: Section::Votes,
        },
    );
}

#[test]
fn an_empty_votes_section_is_an_election_without_voters() {
    let text = &APPROVAL[..APPROVAL.find("10;1,3").unwrap()];
    let file = parse(text);
    assert_eq!(file.num_voters(), 0);
    assert_eq!(file.profile.support().unwrap(), [0, 0, 0]);
    round_trip(&file);
}

#[test]
fn error_messages_say_what_was_expected() {
    let cases: Vec<(PbErrorKind, &str)> = vec![
        (
            PbErrorKind::MissingColumn {
                section: Section::Projects,
                column: "cost",
            },
            "the PROJECTS header has no column \"cost\"",
        ),
        (
            PbErrorKind::PointsMismatch {
                votes: 2,
                points: 1,
            },
            "expected one points entry per voted project (2), found 1",
        ),
        (
            PbErrorKind::SectionOutOfOrder {
                expected: None,
                found: Section::Meta,
            },
            "expected no further section after VOTES, found the section title META",
        ),
        (
            PbErrorKind::NegativeAmount {
                what: "cost",
                found: "-5".into(),
            },
            "expected cost to be zero or more, found \"-5\"",
        ),
        (
            PbErrorKind::Tally(TallyError::Overflow),
            "the ballots cannot be counted: a vote count overflowed 64 bits",
        ),
    ];
    for (kind, message) in cases {
        assert_eq!(kind.to_string(), message);
        assert_eq!(
            PbError::new(3, kind).to_string(),
            format!("line 3: {message}")
        );
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

#[test]
fn writing_expands_ballots_into_voters() {
    let file = parse(APPROVAL);
    let mut out = Vec::new();
    pabulib::write(&file, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "META\nkey;value\ndescription;A test\nbudget;1000\nvote_type;approval\nrule;greedy\n\
         PROJECTS\nproject_id;cost;name;selected\n1;600;Park;1\n2;500;Library;0\n3;100;Bench;1\n\
         VOTES\nvoter_id;vote\n1;1,3\n2;1,3\n3;2\n4;\n"
    );
    round_trip(&file);
}

#[test]
fn writing_quotes_what_needs_it() {
    let mut file = parse(APPROVAL);
    file.meta.push(("note".into(), "a;b \"c\"".into()));
    file.meta.push(("VOTES".into(), String::new()));
    file.meta.push(("\"quoted".into(), "x".into()));
    file.meta.push(("carriage".into(), "a\rb\r".into()));
    let again = round_trip(&file);
    assert_eq!(again.meta("note"), Some("a;b \"c\""));
    assert_eq!(again.meta("VOTES"), Some(""));
    assert_eq!(again.meta("\"quoted"), Some("x"));
    assert_eq!(again.meta("carriage"), Some("a\rb\r"));
}

#[test]
fn writing_refuses_what_the_format_cannot_hold() {
    let mut file = parse(APPROVAL);
    file.projects[0].fields[2] = "two\nlines".into();
    let err = pabulib::write(&file, Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let mut file = parse(APPROVAL);
    file.projects[0].id = "a,b".into();
    let err = pabulib::write(&file, Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let mut file = parse(APPROVAL);
    file.projects.pop();
    let err = pabulib::write(&file, Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn building_a_file_for_export() {
    let mut profile = Profile::builder(ProfileKind::Ranking, 3);
    profile.ranking_length(3);
    profile.push_ranking(&[2, 0], 4).unwrap();
    profile.push_ranking(&[1], 1).unwrap();
    let profile = profile.build();
    let file = PbFile::new(
        vec![
            ("description".into(), "Hjällbo 2026".into()),
            (" budget ".into(), "1000000.50".into()),
            ("vote_type".into(), "approval".into()),
        ],
        vec!["project_id".into(), "cost".into(), "name".into()],
        vec![
            vec!["p1".into(), "400000".into(), "Outdoor gym".into()],
            vec!["p2".into(), "500000.25".into(), "Lit; footpath".into()],
            vec!["p3".into(), "100000".into(), "Benches".into()],
        ],
        VoteType::Ordinal,
        profile.clone(),
    )
    .unwrap();
    assert_eq!(file.meta("vote_type"), Some("ordinal"));
    assert_eq!(file.meta("budget"), Some("1000000.50"));
    assert_eq!(file.meta("max_length"), Some("3"));
    assert_eq!((file.scale, file.budget), (100, 100_000_050));
    assert_eq!(file.projects[1].cost, 50_000_025);
    assert_eq!(file.vote_columns, ["voter_id", "vote"]);
    assert_eq!(file.num_voters(), 5);
    assert_eq!(*file.profile, profile);
    let again = round_trip(&file);
    assert_eq!(again.profile.ranking_length(), 3);
}

#[test]
fn export_parts_are_checked() {
    let approval = |n: usize| {
        let mut b = Profile::builder(ProfileKind::Approval, n);
        b.push_approval(&[0], 1).unwrap();
        b.build()
    };
    let meta = || vec![("budget".to_owned(), "10".to_owned())];
    let columns = || vec!["project_id".to_owned(), "cost".to_owned()];
    let row = |id: &str, cost: &str| vec![id.to_owned(), cost.to_owned()];

    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("1", "5")],
        VoteType::Cumulative,
        approval(1),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, PbErrorKind::Inconsistent { .. }) && err.line == 0,
        "{err}"
    );
    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("1", "5")],
        VoteType::Approval,
        approval(2),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, PbErrorKind::Inconsistent { .. }),
        "{err}"
    );
    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("1", "5"), row("1", "6")],
        VoteType::Approval,
        approval(2),
    )
    .unwrap_err();
    // Lines as written: META, key;value, budget, vote_type, PROJECTS, header, rows.
    assert_eq!(
        err,
        PbError::new(
            8,
            PbErrorKind::DuplicateProjectId {
                id: "1".into(),
                first_line: 7
            }
        )
    );
    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("1", "-5")],
        VoteType::Approval,
        approval(1),
    )
    .unwrap_err();
    assert_eq!(err.line, 7);
    let err = PbFile::new(
        vec![],
        columns(),
        vec![row("1", "5")],
        VoteType::Approval,
        approval(1),
    )
    .unwrap_err();
    assert_eq!(err.kind, PbErrorKind::MissingMeta { key: "budget" });
    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("a,b", "5")],
        VoteType::Approval,
        approval(1),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, PbErrorKind::Inconsistent { .. }),
        "{err}"
    );
    let err = PbFile::new(
        meta(),
        columns(),
        vec![row("1", "5\n")],
        VoteType::Approval,
        approval(1),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, PbErrorKind::Inconsistent { .. }),
        "{err}"
    );
    let ranking = {
        let mut b = Profile::builder(ProfileKind::Ranking, 1);
        b.push_ranking(&[0], 1).unwrap();
        b.build()
    };
    let mut with_length = meta();
    with_length.push(("max_length".into(), "3".into()));
    let err = PbFile::new(
        with_length,
        columns(),
        vec![row("1", "5")],
        VoteType::Ordinal,
        ranking,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, PbErrorKind::Inconsistent { .. }),
        "{err}"
    );
    PbFile::new(
        meta(),
        columns(),
        vec![row("1", "5")],
        VoteType::Choose1,
        approval(1),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// Never a panic
// ---------------------------------------------------------------------------

/// The error's line lies within the input; what parses writes and reads back
/// (with the same options); `check` reads as `parse_with` and lists problems in
/// line order within the input.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let lines = line_count(bytes);
    for options in ParseOptions::ALL {
        let parsed = pabulib::parse_with(bytes, options);
        let checked = pabulib::check(bytes, options);
        prop_assert_eq!(&checked.file, &parsed);
        prop_assert!(checked.problems.len() <= PROBLEMS_LISTED);
        prop_assert!(checked.total >= checked.problems.len() as u64);
        prop_assert!(checked.problems.is_sorted_by_key(|p| p.line));
        for p in &checked.problems {
            prop_assert!((1..=lines).contains(&p.line), "{p} outside 1..={lines}");
        }
        match parsed {
            Ok(file) => {
                if options.on_problem == OnProblem::Refuse {
                    prop_assert_eq!(checked.total, 0);
                }
                let mut out = Vec::new();
                let written = pabulib::write(&file, &mut out);
                prop_assert!(written.is_ok(), "{:?}", written.err());
                let again = pabulib::parse_with(&out, options);
                prop_assert!(again.is_ok(), "{:?}", again.as_ref().err());
                let again = again.unwrap();
                prop_assert_eq!(&again.meta, &file.meta);
                prop_assert_eq!(&again.project_columns, &file.project_columns);
                prop_assert_eq!(&again.projects, &file.projects);
                prop_assert_eq!(again.vote_type, file.vote_type);
                prop_assert_eq!(&again.profile, &file.profile);
                prop_assert_eq!((again.scale, again.budget), (file.scale, file.budget));
            }
            Err(e) => {
                prop_assert!(
                    (1..=lines).contains(&e.line),
                    "line {} outside 1..={lines}: {e}",
                    e.line
                );
            }
        }
    }
    Ok(())
}

/// Lines built from the format's own pieces reach deeper than random bytes.
fn pb_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop::sample::select(vec![
        "META",
        "PROJECTS",
        "VOTES",
        "key;value",
        "budget;100",
        "budget;1.5",
        "budget;-3",
        "vote_type;approval",
        "vote_type;cumulative",
        "vote_type;ordinal",
        "vote_type;scoring",
        "vote_type;choose-1",
        "max_length;2",
        "min_length;1",
        "max_sum_points;3",
        "min_sum_points;1",
        "min_points;1",
        "max_points;2",
        "max_sum_cost;15",
        "min_sum_cost;0.5",
        "num_votes;2",
        "num_projects;2",
        "fully_funded;1",
        "min_project_cost;5",
        "categories;a,b",
        "max_sum_cost_per_category;12,20",
        "min_length_per_category;1",
        "project_id;cost;category",
        "1;10;a",
        "2;20;a,b",
        "project_id;cost",
        "project_id;cost;name",
        "voter_id;vote",
        "voter_id;vote;points",
        "1;10",
        "2;20.25",
        "3;5;\"a;b\"",
        "1;1,2",
        "2;2;3",
        "3;1,2;1,2",
        "4;;",
        "5;2,2",
        "1;2,1",
        "1;1;4294967295",
        "4294967295",
        "\"",
        ";",
        ",",
        "None",
        "\r",
        " ",
        "\u{feff}",
        "é",
        "0",
        "99999999999999999999",
        "c12",
        "1;c12",
    ]);
    prop::collection::vec(prop::collection::vec(piece, 0..4), 0..30).prop_map(|lines| {
        let mut out = Vec::new();
        for line in lines {
            for piece in line {
                out.extend_from_slice(piece.as_bytes());
            }
            out.push(b'\n');
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes)?;
    }

    #[test]
    fn format_like_lines_never_panic(bytes in pb_like()) {
        check(&bytes)?;
    }

    #[test]
    fn damaged_approval_file_never_panics(
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = APPROVAL.as_bytes().to_vec();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        check(&bytes)?;
    }
}

// ---------------------------------------------------------------------------
// Damaged real files
// ---------------------------------------------------------------------------

/// Twenty small real files: every vote type, CRLF and LF, quotes, decimals,
/// `None`, text ids.
const SMALL_FILES: [&str; 20] = [
    "Poland_Warszawa_2018_Pole_Mokotowskie.pb",
    "Poland_Zabrze_2020_Osiedle_Mlodego_Gornika.pb",
    "Poland_Zabrze_2020_Konczyce.pb",
    "Poland_Warszawa_2017_Plac_Wojska_Polskiego.pb",
    "US_Stanford_Dataset_2022_Jersey_City_Ward_B_vote_knapsacks.pb",
    "France_Toulouse_2022_17_-_Mirail-Universite_Reynerie_Bellefontaine.pb",
    "Poland_Gdansk_2020_Rudniki.pb",
    "US_Stanford_Dataset_PB_Chicago_35th_Ward_2021_vote_rankings.pb",
    "US_Stanford_Dataset_Your_Voice_Your_Choice_Parks_and_Streets-_Seattle_2019_District_2_vote_rankings.pb",
    "Poland_Warszawa_2018_Przyczolek_Grochowski.pb",
    "Poland_Czestochowa_2020_Grabowka.pb",
    "Poland_Czestochowa_2020_Podjasnogorska.pb",
    "Poland_Czestochowa_2020_Bleszno.pb",
    "Worldwide_Mechanical_Turk_Knapsack_3.pb",
    "Worldwide_Mechanical_Turk_k_approval_3.pb",
    "Worldwide_Mechanical_Turk_Ranking_value_money_3.pb",
    "Worldwide_Mechanical_Turk_Utilities_3.pb",
    "Poland_Gdynia_2020_Orlowo__large.pb",
    "Poland_Gdansk_2020_Bretowo.pb",
    "Poland_Poznan_2025_9_-_Stare_Miasto__small.pb",
];

/// The small files' bytes, read once.
fn small_files() -> &'static [Vec<u8>] {
    static FILES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let Some(dir) = crate::common::pabulib_dir() else {
            return Vec::new();
        };
        SMALL_FILES
            .iter()
            .map(|name| std::fs::read(dir.join("files").join(name)).unwrap())
            .collect()
    })
}

/// One of the small files breaks a promise: 11 Mechanical Turk votes give 99
/// points where META `min_sum_points` is 100 (a known defect of the data).
const SMALL_FILE_PROBLEMS: (&str, u64) = ("Worldwide_Mechanical_Turk_Utilities_3.pb", 11);

#[test]
fn the_small_files_parse_and_round_trip() {
    for (name, bytes) in SMALL_FILES.iter().zip(small_files()) {
        if *name == SMALL_FILE_PROBLEMS.0 {
            let checked = pabulib::check(bytes, ParseOptions::default());
            assert_eq!(checked.total, SMALL_FILE_PROBLEMS.1, "{name}");
            assert!(checked.file.is_err(), "{name}");
            continue;
        }
        let file = pabulib::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        round_trip(&file);
    }
}

/// One way to damage a file.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut short at a byte.
    Cut(prop::sample::Index),
    /// Bytes overwritten.
    Flip(Vec<(prop::sample::Index, u8)>),
    /// Two lines swapped.
    Swap(prop::sample::Index, prop::sample::Index),
    /// One `;`-separated field of a line emptied.
    Empty(prop::sample::Index, prop::sample::Index),
}

fn damage() -> impl Strategy<Value = Damage> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        index().prop_map(Damage::Cut),
        prop::collection::vec((index(), any::<u8>()), 1..6).prop_map(Damage::Flip),
        (index(), index()).prop_map(|(a, b)| Damage::Swap(a, b)),
        (index(), index()).prop_map(|(a, b)| Damage::Empty(a, b)),
    ]
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let lines = || {
        bytes
            .split(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>()
    };
    match damage {
        Damage::Cut(at) => bytes[..at.index(bytes.len() + 1)].to_vec(),
        Damage::Flip(flips) => {
            let mut out = bytes.to_vec();
            for (at, byte) in flips {
                let i = at.index(out.len());
                out[i] = *byte;
            }
            out
        }
        Damage::Swap(a, b) => {
            let mut lines = lines();
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            lines.join(&b'\n')
        }
        Damage::Empty(line, field) => {
            let mut lines = lines();
            let at = line.index(lines.len());
            let line = &mut lines[at];
            let mut fields: Vec<Vec<u8>> = line.split(|&b| b == b';').map(<[u8]>::to_vec).collect();
            let k = field.index(fields.len());
            fields[k].clear();
            *line = fields.join(&b';');
            lines.join(&b'\n')
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_real_files_never_panic(which in any::<prop::sample::Index>(), damage in damage()) {
        let files = small_files();
        if !files.is_empty() {
            let bytes = apply(&files[which.index(files.len())], &damage);
            check(&bytes)?;
        }
    }
}
