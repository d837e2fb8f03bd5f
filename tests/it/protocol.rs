//! The wire protocol for front ends: one example of every command, written
//! out in `docs/protocol.md` and checked here, and what a cycle can do now
//! (`AnyCycle::available`) checked against what it accepts.
//!
//! `docs/protocol.md` is generated from [`examples`]; after changing a
//! command, run the tests with `MEDBORGARBUDGET_BLESS=1` to rewrite it, and
//! read the difference.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fmt::Write as _;

use medborgarbudget::ballot::{Choices, PaperBatch};
use medborgarbudget::part::{BudgetPart, PartId};
use medborgarbudget::process::{
    Adjustment, AnyCycle, Command, CycleError, ExclusionGroup, FundingSource, Lesson, Step,
    VoterRegister,
};
use medborgarbudget::project::{HandOver, Milestone, Progress};

use crate::common::*;

/// One example of every command: the fixture year's own where it has one,
/// and the rest written here.
fn examples() -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in year_commands(approval_rules()) {
        if seen.insert(c.name()) {
            out.push(c);
        }
    }
    let project = project_id(1);
    let more = [
        Command::AddFunds(medborgarbudget::process::Allocation {
            source: FundingSource::Council,
            ..allocation(50_000)
        }),
        Command::SetParts {
            parts: vec![
                BudgetPart::whole(PartId::new("city").unwrap(), "All of Hjällbo", sek(600_000)),
                BudgetPart::of_sub_area(
                    PartId::new("north").unwrap(),
                    "Hjällbo norra",
                    medborgarbudget::ids::AreaId::from_u128(0xA1),
                    sek(400_000),
                ),
            ],
        },
        Command::ReceiveLessons {
            lessons: vec![Lesson {
                year: 2025,
                text: "Hold workshops in the evening".into(),
            }],
        },
        Command::MergeIdea {
            idea: idea_id(3),
            into: idea_id(1),
        },
        Command::RejectIdea {
            idea: idea_id(2),
            reason: "The land belongs to the housing company".to_owned(),
        },
        Command::WithdrawProject {
            project,
            reason: "The council builds it anyway".to_owned(),
        },
        Command::DeclareExclusion(ExclusionGroup {
            projects: vec![project_id(1), project_id(2)],
            reason: "Two designs for the same square".to_owned(),
        }),
        Command::EnterPaperBallots(PaperBatch {
            entered_by: "Anna Berg".to_owned(),
            entered_at: day(72),
            ballots: vec![ballot(
                500,
                resident(500),
                Choices::Approval(vec![project_id(1)]),
            )],
        }),
        Command::CountParticipation(VoterRegister::new(vec![resident(1), resident(2)])),
        Command::AdjustOutcome(Adjustment {
            add: vec![project_id(3)],
            remove: Vec::new(),
            reason: "The pitch is a safety matter".to_owned(),
            decision: decision(),
            raises_budget_by: Some(sek(300_000)),
            part: None,
            at: day(80),
        }),
        Command::HandOver {
            project,
            hand_over: HandOver {
                planned_completion: date(2027, 6, 30),
                reason: "The ground freezes before the pitch is laid".to_owned(),
                at: day(300),
            },
        },
        Command::RecordMilestone {
            project,
            milestone: Milestone {
                title: "Design workshop with residents held".to_owned(),
                reached_on: date(2026, 9, 1),
            },
        },
        Command::RecordProgress {
            project,
            progress: Progress::new(40).unwrap(),
        },
        Command::CancelProject {
            project,
            reason: "The site was sold".to_owned(),
            spent: sek(20_000),
            at: day(200),
        },
        Command::Abandon {
            reason: "The council withdrew the money".to_owned(),
            at: day(30),
        },
    ];
    for c in more {
        assert!(seen.insert(c.name()), "{} twice", c.name());
        out.push(c);
    }
    // In the order of the steps, and of each step's table.
    let place = |name: &str| {
        Step::ALL
            .iter()
            .enumerate()
            .find_map(|(k, s)| Some((k, s.commands().iter().position(|&c| c == name)?)))
            .unwrap_or((usize::MAX, 0))
    };
    out.sort_by_key(|c| place(c.name()));
    out
}

/// A cycle in every step, the ended ones too.
fn every_step() -> Vec<AnyCycle> {
    let mut out: Vec<AnyCycle> = Step::ALL
        .iter()
        .filter(|&&s| s != Step::Abandoned)
        .map(|&s| logged(s).0)
        .collect();
    let mut abandoned = logged(Step::Criteria).0;
    abandoned
        .apply(Command::Abandon {
            reason: "No money".to_owned(),
            at: day(5),
        })
        .unwrap();
    out.push(abandoned);
    out
}

#[test]
fn every_command_has_one_example_and_every_step_says_what_it_accepts() {
    let examples = examples();
    let names: BTreeSet<&str> = examples.iter().map(Command::name).collect();
    assert_eq!(names.len(), examples.len());
    // Every command a step names has an example, and every example is
    // accepted by some step.
    let tabled: BTreeSet<&str> = Step::ALL
        .iter()
        .flat_map(|s| s.commands().iter().copied())
        .collect();
    assert_eq!(names, tabled);
    // The table is what the cycle does: a command not named for the step is
    // refused as not in this step, and one named is never refused so.
    for cycle in every_step() {
        let step = cycle.step();
        for command in &examples {
            let name = command.name();
            let result = cycle.clone().apply(command.clone());
            let not_here = matches!(result, Err(CycleError::NotInThisStep { .. }));
            assert_eq!(
                not_here,
                !step.commands().contains(&name),
                "{name} in {step}: {result:?}"
            );
        }
        assert_eq!(
            step.way_out().is_some(),
            step.commands().len() >= 2,
            "{step}"
        );
        if let Some(out) = step.way_out() {
            assert!(step.commands().contains(&out), "{step}");
        }
    }
}

#[test]
fn what_a_cycle_can_do_now_names_the_commands_and_the_unmet_conditions() {
    let (cycle, _) = logged(Step::Voting);
    // Before the window closes: the gate waits for it.
    let now = cycle.available(day(65));
    assert_eq!(now.step, Step::Voting);
    assert_eq!(now.way_out, Some("close_voting"));
    assert!(now.commands.contains(&"cast_ballot"));
    let json = serde_json::to_value(&now).unwrap();
    assert_eq!(json["step"], "voting");
    assert_eq!(json["unmet"][0]["code"], "window_open");
    assert!(json["unmet"][0]["details"]["closes"].is_string(), "{json}");
    assert!(
        json["unmet"][0]["message"]
            .as_str()
            .unwrap()
            .contains("voting closes at"),
        "{json}"
    );
    // After it: nothing left but the command itself.
    let later = cycle.available(day(200));
    assert!(later.unmet.is_empty(), "{:?}", later.unmet);
    // An ended cycle accepts nothing.
    let (closed, _) = logged(Step::Closed);
    let ended = closed.available(day(400));
    assert!(ended.commands.is_empty() && ended.way_out.is_none());
    // A rules error inside a gate keeps its own code.
    let rules = medborgarbudget::process::GateError::RulesDoNotFitBudget(
        medborgarbudget::ballot::RulesError::MinAboveMax { min: 3, max: 2 },
    );
    assert_eq!(
        serde_json::to_value(&rules).unwrap(),
        serde_json::json!({
            "code": "rules_do_not_fit_budget",
            "details": {"code": "min_above_max", "details": {"min": 3, "max": 2}}
        })
    );
}

/// `docs/protocol.md` as [`examples`] write it.
fn protocol_doc() -> String {
    let mut doc = String::from(
        "# The wire protocol: commands\n\n\
         Generated by `tests/it/protocol.rs` from the commands it checks; do not edit by \
         hand (run the tests with `MEDBORGARBUDGET_BLESS=1` to rewrite it).\n\n\
         A front end drives a cycle with JSON commands, one object named by the command \
         (`{\"close_voting\":{\"at\":\"…\"}}`); `AnyCycle::apply` checks one against the \
         rules of the current step and returns the events it recorded. Unknown fields are \
         refused, naming the field. `AnyCycle::available` says what the current step \
         accepts, the command that leaves it, and the conditions of its gate still unmet, \
         each with a machine `code`, its `details` and an English `message`.\n\n\
         For a programme, wrap a cycle's command as \
         `{\"cycle\":{\"year\":2027,\"command\":…}}` (`ProgrammeCommand::Cycle`); the \
         officials' files in `docs/officials/` are written so.\n\n",
    );
    let _ = writeln!(doc, "| command | accepted in step |\n|---|---|");
    let examples = examples();
    for c in &examples {
        let _ = writeln!(doc, "| [`{0}`](#{0}) | {1} |", c.name(), steps_of(c.name()));
    }
    for c in &examples {
        let json = serde_json::to_string_pretty(c).unwrap();
        let _ = write!(
            doc,
            "\n## {}\n\nAccepted in: {}.\n\n```json\n{}\n```\n",
            c.name(),
            steps_of(c.name()),
            json
        );
    }
    doc
}

fn steps_of(name: &str) -> String {
    Step::ALL
        .iter()
        .filter(|s| s.commands().contains(&name))
        .map(|s| format!("{} {}", s.number().unwrap_or(0), s.label_en()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_protocol_document_is_the_examples_and_each_example_reads_back() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/protocol.md");
    let expected = protocol_doc();
    if std::env::var_os("MEDBORGARBUDGET_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == expected,
        "docs/protocol.md is out of date: run the tests with MEDBORGARBUDGET_BLESS=1 and read the difference"
    );
    // Every example in the document reads back as the command it shows.
    let mut blocks = written.split("```json\n").skip(1);
    for c in examples() {
        let block = blocks.next().unwrap();
        let json = &block[..block.find("\n```").unwrap()];
        let read: Command = serde_json::from_str(json).unwrap();
        assert_eq!(read, c);
    }
    assert!(blocks.next().is_none());
    // A misspelt field is refused, naming it.
    let typo = r#"{"submit_idea":{"id":"00000000-0000-0000-0000-000000000001","author":{"id":"00000000-0000-0000-0000-000000000001","born":"1980-01-01","residence":{"area":"00000000-0000-0000-0000-000000000001","since":"2010-01-01"}},"co_author":[],"title":"Bänkar","description":"x","submitted_at":"2026-02-01T00:00:00Z"}}"#;
    let error = serde_json::from_str::<Command>(typo)
        .unwrap_err()
        .to_string();
    assert!(error.contains("co_author"), "{error}");
}

/// The schema files in `schema/` are what the types give; each example
/// command is valid against the command schema's list of commands.
#[cfg(feature = "schema")]
#[test]
fn the_schema_files_are_the_types_schemas() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let bless = std::env::var_os("MEDBORGARBUDGET_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let documents = medborgarbudget::schema::documents();
    let mut stale = Vec::new();
    for (name, schema) in &documents {
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(schema).unwrap() + "\n";
        if bless {
            std::fs::write(&path, &text).unwrap();
        }
        if std::fs::read_to_string(&path).unwrap_or_default() != text {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run the tests with MEDBORGARBUDGET_BLESS=1 and read the difference): {stale:?}"
    );
    // No file is left from a document that is gone.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = documents.iter().map(|(n, _)| format!("{n}.json")).collect();
    expected.sort();
    assert_eq!(files, expected);
    // Every command of the examples is one the schema lists, and every
    // command the schema lists has an example.
    let command = serde_json::to_value(&documents[0].1).unwrap();
    let mut listed: Vec<String> = command["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["required"][0].as_str().map(str::to_owned))
        .collect();
    listed.sort();
    let mut named: Vec<String> = examples().iter().map(|c| c.name().to_owned()).collect();
    named.sort();
    assert_eq!(listed, named);
    // Inputs refuse unknown fields in the schema as in serde.
    let text = serde_json::to_string(&command).unwrap();
    assert!(
        text.contains("\"additionalProperties\":false"),
        "unknown fields refused"
    );
}

/// What the types write is valid against their schemas: every example
/// command, a whole year's events and its snapshot, the cycle and a
/// programme as read models, what a cycle can do now, and errors.
#[cfg(feature = "schema")]
#[test]
fn what_the_types_write_is_valid_against_the_schemas() {
    use medborgarbudget::process::{CycleError, Snapshot};
    let documents: std::collections::HashMap<&str, serde_json::Value> =
        medborgarbudget::schema::documents()
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap()))
            .collect();
    let check = |name: &str, value: serde_json::Value| {
        let validator = jsonschema::validator_for(&documents[name]).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    };
    // The schema is no blanket: a misspelt field is invalid.
    let validator = jsonschema::validator_for(&documents["command"]).unwrap();
    assert!(
        !validator.is_valid(
            &serde_json::json!({"close_voting": {"at": "2026-03-30T09:00:00Z", "when": 1}})
        )
    );
    assert!(
        !validator.is_valid(&serde_json::json!({"close_votign": {"at": "2026-03-30T09:00:00Z"}}))
    );
    for c in examples() {
        check("command", serde_json::to_value(&c).unwrap());
        check(
            "programme_command",
            serde_json::json!({"cycle": {"year": 2026, "command": c}}),
        );
    }
    let (closed, events) = logged(Step::Closed);
    for e in &events {
        check("event", serde_json::to_value(e).unwrap());
    }
    check(
        "cycle_snapshot",
        serde_json::to_value(Snapshot::new(events).unwrap()).unwrap(),
    );
    for cycle in every_step() {
        check("cycle", serde_json::to_value(&cycle).unwrap());
        check(
            "available",
            serde_json::to_value(cycle.available(day(65))).unwrap(),
        );
    }
    check("cycle", serde_json::to_value(&closed).unwrap());
    let programme = report_programme(None);
    check("programme", serde_json::to_value(&programme).unwrap());
    let (voting, _) = logged(Step::Voting);
    let refused = voting
        .clone()
        .apply(Command::CloseVoting { at: day(65) })
        .unwrap_err();
    check("cycle_error", serde_json::to_value(&refused).unwrap());
    check(
        "problem",
        serde_json::to_value(medborgarbudget::wire::Problem::of(&refused)).unwrap(),
    );
    let not_here = CycleError::NotInThisStep {
        operation: "cast_ballot",
        step: Step::Outreach,
    };
    check("cycle_error", serde_json::to_value(&not_here).unwrap());
}

/// What JSON leaves out is what the Rust builders start with: ballot rules of
/// every kind, their counting, and the counting's tie-breaking.
#[test]
fn json_defaults_are_the_builders_defaults() {
    use medborgarbudget::ballot::{BallotKind, BallotRules, Counting};
    use medborgarbudget::tally::{Rule, TieBreaking};
    for (kind, name) in [
        (BallotKind::Approval, "approval"),
        (BallotKind::Knapsack, "knapsack"),
        (BallotKind::Cumulative, "cumulative"),
        (BallotKind::Ranked, "ranked"),
    ] {
        let read: BallotRules =
            serde_json::from_value(serde_json::json!({ "kind": name })).unwrap();
        assert_eq!(read, BallotRules::builder(kind).build().unwrap(), "{name}");
    }
    let read: Counting = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(read, Counting::default());
    let read: Counting = serde_json::from_value(serde_json::json!({ "rule": "mes" })).unwrap();
    assert_eq!(
        read,
        Counting {
            rule: Rule::Mes,
            tie_breaking: TieBreaking::by_project_id()
        }
    );
    // A cumulative ballot's points, when given, are the ones read.
    let read: BallotRules = serde_json::from_value(serde_json::json!({
        "kind": "cumulative", "points": { "per_voter": 5, "must_use_all": true } }))
    .unwrap();
    assert_eq!(
        read,
        BallotRules::cumulative(5)
            .must_use_all_points()
            .build()
            .unwrap()
    );
}

/// One tagging convention, snake_case names: what is written now, and the
/// older spellings still read (logs written before: `verdict` for a
/// feasibility's `kind`, kebab-case tie-breaking).
#[test]
fn one_tagging_convention_is_written_and_the_old_spellings_are_read() {
    use medborgarbudget::project::Feasibility;
    use medborgarbudget::tally::TieBreak;
    let infeasible = Feasibility::Infeasible {
        reason: "Marken är inte kommunens".into(),
    };
    assert_eq!(
        serde_json::to_value(&infeasible).unwrap(),
        serde_json::json!({ "kind": "infeasible", "reason": "Marken är inte kommunens" })
    );
    for old in [
        serde_json::json!({ "verdict": "infeasible", "reason": "Marken är inte kommunens" }),
        serde_json::json!({ "kind": "infeasible", "reason": "Marken är inte kommunens" }),
    ] {
        assert_eq!(
            serde_json::from_value::<Feasibility>(old).unwrap(),
            infeasible
        );
    }
    assert!(
        serde_json::from_value::<Feasibility>(serde_json::json!({ "kind": "feasible", "why": 1 }))
            .is_err()
    );
    for (tie, new, old) in [
        (TieBreak::ProjectId, "project_id", "project-id"),
        (TieBreak::LowestCost, "lowest_cost", "lowest-cost"),
        (TieBreak::MostVotes, "most_votes", "most-votes"),
        (TieBreak::FileOrder, "file_order", "file-order"),
    ] {
        assert_eq!(serde_json::to_value(&tie).unwrap(), new);
        for spelling in [new, old] {
            assert_eq!(
                serde_json::from_value::<TieBreak>(spelling.into()).unwrap(),
                tie
            );
        }
    }
    // No schema has the old feasibility tag.
    #[cfg(feature = "schema")]
    for (name, schema) in medborgarbudget::schema::documents() {
        let text = serde_json::to_string(&schema).unwrap();
        // (`status` and `state` remain as field names: an idea's status,
        // a delivery's, each tagged by `kind`.)
        assert!(!text.contains("\"verdict\""), "{name} still has verdict");
    }
}
