//! The multi-year programme: the three-year minimum, one cycle per year in
//! order with overlap, carry-over, lessons, conclusion and replay.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::common::*;
use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::ids::CycleId;
use medborgarbudget::process::{
    AnyCycle, Command, Commitment, Event, FundingSource, Programme, ProgrammeCommand,
    ProgrammeError, ProgrammeEvent, ProgrammeSetup, RulesVersion, Snapshot, Step,
};

#[test]
fn fewer_than_three_years_is_refused_at_run_time() {
    for years in [0, 1, 2] {
        assert_eq!(
            Programme::new(programme_setup(years, false)).unwrap_err(),
            ProgrammeError::CommitmentTooShort { years }
        );
    }
    assert!(Programme::new(programme_setup(3, false)).is_ok());
    let p = Programme::committed(Commitment::<4>::new(), programme_setup(1, false)).unwrap();
    assert_eq!(p.setup().years, 4, "the compile-time commitment wins");
}

#[test]
fn a_carry_over_decision_is_checked_when_the_programme_is_established() {
    // Before, a blank decision was first read when a year ended with money
    // left: the year closed and the command still failed.
    let mut setup = programme_setup(3, true);
    if let Some(d) = setup.carry_over.as_mut() {
        d.body = "  ".into();
    }
    let refused = ProgrammeError::CarryOverDecisionIncomplete {
        field: "the deciding body",
    };
    assert_eq!(Programme::new(setup.clone()).unwrap_err(), refused);
    assert_eq!(
        Programme::committed(Commitment::<3>::new(), setup.clone()).unwrap_err(),
        refused
    );
    let replayed = Programme::replay([ProgrammeEvent::Established(setup.clone())]).unwrap_err();
    // The replay error names the event; its source, the rule.
    assert!(
        matches!(&replayed, ProgrammeError::Replay { index: 0, event: "established", source } if **source == refused),
        "{replayed}"
    );
    assert!(
        medborgarbudget::error_chain(&replayed).ends_with("needs the deciding body"),
        "{replayed}"
    );
    if let Some(d) = setup.carry_over.as_mut() {
        d.body = "Kommunfullmäktige".into();
        d.reference = String::new();
    }
    assert_eq!(
        Programme::new(setup).unwrap_err(),
        ProgrammeError::CarryOverDecisionIncomplete {
            field: "the decision's reference"
        }
    );
}

#[test]
fn a_cycle_is_replayed_under_the_rules_it_was_written_with() {
    let mut r = Run::new(3, false);
    r.run_to_implementation(FIRST);
    let json = serde_json::to_value(&r.events).unwrap();
    let started = &json[1]["cycle"]["event"]["cycle_started"];
    assert_eq!(
        started["rules_version"],
        RulesVersion::CURRENT.0,
        "{started}"
    );
    assert_eq!(Programme::replay(r.events.clone()).unwrap(), r.p);

    // A log without a version reads as the first rules, and replays.
    let mut old = json.clone();
    old[1]["cycle"]["event"]["cycle_started"]
        .as_object_mut()
        .unwrap()
        .remove("rules_version");
    let events: Vec<ProgrammeEvent> = serde_json::from_value(old).unwrap();
    let replayed = serde_json::to_string(&Programme::replay(events).unwrap()).unwrap();
    let current = format!("\"rules_version\":{}", RulesVersion::CURRENT);
    assert!(replayed.contains("\"rules_version\":1"));
    assert_eq!(
        replayed,
        serde_json::to_string(&r.p)
            .unwrap()
            .replace(&current, "\"rules_version\":1")
    );

    // Rules this build does not know are refused, naming them.
    let mut newer = json;
    newer[1]["cycle"]["event"]["cycle_started"]["rules_version"] = 99.into();
    let events: Vec<ProgrammeEvent> = serde_json::from_value(newer).unwrap();
    let err = Programme::replay(events.clone()).unwrap_err();
    assert!(
        matches!(&err, ProgrammeError::Replay { index: 1, source, .. }
            if matches!(**source, ProgrammeError::RulesTooNew { year: FIRST, version: RulesVersion(99) })),
        "{err:?}"
    );
    let cycle_events: Vec<Event> = events
        .into_iter()
        .filter_map(|e| match e {
            ProgrammeEvent::Cycle { event, .. } => Some(event),
            _ => None,
        })
        .collect();
    assert!(matches!(
        AnyCycle::replay(cycle_events),
        Err(medborgarbudget::process::ReplayError::RulesTooNew {
            version: RulesVersion(99),
            known: RulesVersion::CURRENT
        })
    ));
}

#[test]
fn a_refused_command_changes_nothing_on_either_path() {
    // Commands to one cycle that cannot end its year run in place; the others
    // are decided on a copy and evolved. Either way a refusal leaves the
    // programme as it was.
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    let before = r.p.clone();
    let refused = [
        ProgrammeCommand::Cycle {
            year: FIRST,
            command: Command::BeginOutreach {
                at: yday(FIRST, 100),
            },
        },
        ProgrammeCommand::Cycle {
            year: FIRST,
            command: Command::CompleteProject {
                project: medborgarbudget::ids::ProjectId::from_u128(999_999),
                final_cost: sek(1),
                at: yday(FIRST, 300),
            },
        },
        ProgrammeCommand::Cycle {
            year: FIRST,
            command: Command::Close(
                r.evaluation(FIRST, &CycleMetrics::of(r.p.cycle(FIRST).unwrap()).unwrap()),
            ),
        },
        ProgrammeCommand::Cycle {
            year: FIRST,
            command: Command::Abandon {
                reason: " ".into(),
                at: yday(FIRST, 200),
            },
        },
        ProgrammeCommand::Conclude {
            at: yday(FIRST, 400),
        },
    ];
    for command in refused {
        let name = format!("{command:?}");
        let decided = r.p.decide(&command);
        assert!(r.p.apply(command).is_err(), "{name}");
        assert!(decided.is_err(), "{name}");
        assert_eq!(r.p, before, "{name}");
    }
}

#[test]
fn a_retried_start_names_the_year_its_id_started_and_changes_nothing() {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    let before = r.p.clone();
    // The same request again: the id is the first year's.
    let first_id = r.p.cycle(FIRST).unwrap().id();
    let again = ProgrammeCommand::StartCycle {
        id: first_id,
        year: FIRST + 1,
        at: yday(FIRST + 1, 0),
    };
    assert_eq!(
        r.p.apply(again.clone()).unwrap_err(),
        ProgrammeError::DuplicateCycleId {
            id: first_id,
            year: FIRST + 1,
            used_by: FIRST,
        }
    );
    assert_eq!(
        r.p.decide(&again).unwrap_err(),
        r.p.apply(again).unwrap_err()
    );
    // A year out of order, with a fresh id.
    for year in [FIRST, FIRST + 2] {
        assert_eq!(
            r.p.apply(ProgrammeCommand::StartCycle {
                id: CycleId::from_u128(999),
                year,
                at: yday(FIRST + 1, 0),
            })
            .unwrap_err(),
            ProgrammeError::YearOutOfOrder {
                year,
                next: FIRST + 1
            }
        );
    }
    assert_eq!(r.p, before, "a refused start changes nothing");
    r.start(FIRST + 1).unwrap();
    assert_eq!(r.p.cycles().len(), 2);
}

#[test]
fn a_year_starts_only_once_the_previous_one_is_in_implementation() {
    let mut r = Run::new(3, false);
    r.start(FIRST).unwrap();
    let err = r.start(FIRST + 1).unwrap_err();
    assert_eq!(
        err,
        ProgrammeError::PreviousNotAdvanced {
            year: FIRST + 1,
            previous_year: FIRST,
            previous_step: Step::Criteria,
        }
    );
    assert_eq!(r.p.cycles().len(), 1, "a refused start adds nothing");
}

#[test]
fn years_overlap_carry_over_and_lessons_pass_on() {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    // Year 2 starts while year 1 is still being built.
    r.start(FIRST + 1).unwrap();
    assert_eq!(r.p.cycle(FIRST).unwrap().step(), Step::Implementation);
    // Year 1 closes while year 2 is in step 1: 130 000 unspent and the lesson
    // reach year 2.
    r.finish(FIRST, [390_000, 480_000]);
    let y2 = r.p.cycle(FIRST + 1).unwrap();
    assert_eq!(y2.step(), Step::Criteria);
    let AnyCycle::Criteria(c2) = y2 else {
        panic!("criteria")
    };
    assert_eq!(c2.lessons().len(), 1);
    assert_eq!(c2.lessons()[0].text, format!("Lesson of {FIRST}"));
    assert_eq!(c2.additions().len(), 1);
    assert_eq!(c2.additions()[0].amount, sek(130_000));
    assert_eq!(
        c2.additions()[0].source,
        FundingSource::CarryOver { from_year: FIRST }
    );
    assert_eq!(r.p.carry_over()[0].credited_to, Some(FIRST + 1));
    // Carry-over cannot be credited by hand.
    let err =
        r.p.apply(ProgrammeCommand::Cycle {
            year: FIRST + 1,
            command: Command::AddFunds(medborgarbudget::process::Allocation {
                source: FundingSource::CarryOver { from_year: FIRST },
                ..allocation(5)
            }),
        })
        .unwrap_err();
    assert_eq!(err, ProgrammeError::CarryOverByHand { year: FIRST + 1 });
}

fn three_closed_years(carry_over: bool) -> Run {
    let mut r = Run::new(3, carry_over);
    r.run_to_implementation(FIRST);
    r.finish(FIRST, [390_000, 480_000]);
    // Year 2 starts after year 1 closed: carry-over and lessons at its start.
    r.run_to_implementation(FIRST + 1);
    r.finish(FIRST + 1, [400_000, 500_000]);
    r.run_to_implementation(FIRST + 2);
    r.finish(FIRST + 2, [350_000, 500_000]);
    r
}

#[test]
fn conclude_needs_three_closed_cycles_and_reports_credibility() {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    r.finish(FIRST, [390_000, 480_000]);
    assert_eq!(
        r.p.clone().conclude(yday(FIRST + 1, 0)).unwrap_err(),
        ProgrammeError::TooFewClosed { closed: 1 }
    );
    r.run_to_implementation(FIRST + 1);
    assert_eq!(
        r.p.clone().conclude(yday(FIRST + 1, 0)).unwrap_err(),
        ProgrammeError::StillRunning {
            running: vec![FIRST + 1]
        }
    );

    let mut r = three_closed_years(true);
    let report = r.p.conclude(yday(FIRST + 3, 0)).unwrap();
    assert!(report.credible);
    assert_eq!((report.years_run, report.years_abandoned), (3, 0));
    let set_aside: Vec<i64> = report
        .years
        .iter()
        .map(|y| y.set_aside.minor() / 100)
        .collect();
    assert_eq!(set_aside, [1_000_000, 1_130_000, 1_230_000]);
    let spent: Vec<i64> = report.years.iter().map(|y| y.spent.minor() / 100).collect();
    // Year 3 has 330 000 left after projects 1 and 2, so the 300 000 project is
    // funded too.
    assert_eq!(spent, [870_000, 900_000, 1_150_000]);
    assert_eq!(report.years[2].funded, 3);
    assert_eq!(
        report.total_set_aside,
        sek(3_000_000),
        "carry-over is not counted twice"
    );
    assert_eq!(report.total_spent, sek(2_920_000));
    assert_eq!(report.total_carried_over, sek(360_000));
    assert_eq!(report.left_at_end, sek(80_000));
    assert_eq!(
        report.total_set_aside,
        report.total_spent.checked_add(report.left_at_end).unwrap(),
        "every öre set aside is spent or accounted for"
    );
    assert_eq!(
        r.p.apply(ProgrammeCommand::StartCycle {
            id: CycleId::new(),
            year: 2031,
            at: yday(2031, 0)
        })
        .unwrap_err(),
        ProgrammeError::Concluded
    );
}

#[test]
fn an_abandoned_year_counts_against_credibility() {
    let mut r = Run::new(3, false);
    r.run_to_implementation(FIRST);
    r.finish(FIRST, [390_000, 480_000]);
    r.start(FIRST + 1).unwrap();
    r.cmd(
        FIRST + 1,
        Command::Abandon {
            reason: "The council withdrew the money".into(),
            at: yday(FIRST + 1, 5),
        },
    );
    r.run_to_implementation(FIRST + 2);
    r.finish(FIRST + 2, [390_000, 480_000]);
    assert_eq!(
        r.p.clone().conclude(yday(FIRST + 3, 0)).unwrap_err(),
        ProgrammeError::TooFewClosed { closed: 2 }
    );
    r.run_to_implementation(FIRST + 3);
    r.finish(FIRST + 3, [390_000, 480_000]);
    let report = r.p.conclude(yday(FIRST + 4, 0)).unwrap();
    assert!(!report.credible);
    assert_eq!((report.years_run, report.years_abandoned), (3, 1));
    assert_eq!(
        report.years[1].abandoned,
        Some((Step::Criteria, "The council withdrew the money".into()))
    );
}

#[test]
fn conclude_waits_for_every_committed_year() {
    let mut r = Run::new(4, false);
    for y in 0..3 {
        r.run_to_implementation(FIRST + y);
        r.finish(FIRST + y, [390_000, 480_000]);
    }
    assert_eq!(
        r.p.conclude(yday(FIRST + 3, 0)).unwrap_err(),
        ProgrammeError::CommitmentNotServed {
            cycles: 3,
            committed: 4
        }
    );
}

#[test]
fn programme_events_replay_to_the_same_programme() {
    let mut r = three_closed_years(true);
    r.apply(ProgrammeCommand::Conclude {
        at: yday(FIRST + 3, 0),
    })
    .unwrap();
    let replayed = Programme::replay(r.events.clone()).unwrap();
    assert_eq!(replayed, r.p);

    // Dropping the carry-over event the programme derived is detected.
    let i = r
        .events
        .iter()
        .position(|e| {
            matches!(
                e,
                ProgrammeEvent::Cycle {
                    event: Event::Accepted(Command::AddFunds(_)),
                    ..
                }
            )
        })
        .unwrap();
    let mut broken = r.events.clone();
    broken.remove(i);
    let err = Programme::replay(broken).unwrap_err();
    assert!(matches!(err, ProgrammeError::Replay { .. }), "{err}");
}

#[test]
fn stored_programmes_are_checked_when_loaded() {
    let mut r = three_closed_years(true);
    r.apply(ProgrammeCommand::Conclude {
        at: yday(FIRST + 3, 0),
    })
    .unwrap();
    let json = serde_json::to_value(Snapshot::new(r.events.clone()).unwrap()).unwrap();
    let back = Programme::from_snapshot(serde_json::from_value(json.clone()).unwrap()).unwrap();
    assert_eq!(back, r.p);

    // Each edit re-sealed (version and head recomputed), so that only the
    // rules can refuse it.
    let refused = |edit: &dyn Fn(&mut Vec<serde_json::Value>)| -> String {
        let mut events: Vec<serde_json::Value> =
            serde_json::from_value(json["events"].clone()).unwrap();
        edit(&mut events);
        let events: Vec<ProgrammeEvent> =
            serde_json::from_value(serde_json::Value::Array(events)).unwrap();
        let err = Programme::from_snapshot(Snapshot::new(events).unwrap()).unwrap_err();
        medborgarbudget::error_chain(&err)
    };
    let position = |pred: &dyn Fn(&ProgrammeEvent) -> bool| r.events.iter().position(pred).unwrap();

    let err = refused(&|e| e[0]["established"]["years"] = 2.into());
    assert!(err.contains("at least 3 years"), "{err}");

    let carry = position(&|e| {
        matches!(
            e,
            ProgrammeEvent::Cycle {
                event: Event::Accepted(Command::AddFunds(_)),
                ..
            }
        )
    });
    let err = refused(&|e| {
        e[carry]["cycle"]["event"]["accepted"]["add_funds"]["amount"]["minor"] = 1.into();
    });
    // Starting a year credits the carry-over: the group of events starting it
    // produces is refused, from its first.
    let start = (0..carry)
        .rev()
        .find(|&i| {
            matches!(
                r.events[i],
                ProgrammeEvent::Cycle {
                    event: Event::CycleStarted(_),
                    ..
                }
            )
        })
        .unwrap();
    assert!(
        err.contains(&format!("programme event {start} (cycle_started)")) && err.contains("differ"),
        "{err}"
    );

    let last = r.events.len() - 1;
    let err = refused(&|e| e[last]["concluded"]["credible"] = false.into());
    assert!(
        err.contains(&format!("programme event {last} (concluded)")),
        "{err}"
    );

    let second = position(
        &|e| matches!(e, ProgrammeEvent::Cycle { year, event: Event::CycleStarted(_) } if *year == FIRST + 1),
    );
    let err = refused(&|e| {
        e[second]["cycle"]["year"] = (FIRST + 2).into();
        e[second]["cycle"]["event"]["cycle_started"]["year"] = (FIRST + 2).into();
    });
    assert!(err.contains("the programme's next year is 2028"), "{err}");
}

#[test]
fn add1_steps_minor_units_under_the_first_rules_and_whole_units_after() {
    for (version, unit) in [(RulesVersion::FIRST, 1), (RulesVersion::CURRENT, 100)] {
        let mut setup = setup();
        setup.rules_version = version;
        let mut cycle = AnyCycle::from(medborgarbudget::process::Cycle::new(setup));
        for command in year_commands(approval_rules()) {
            if matches!(command, Command::BeginFollowUp { .. }) {
                break;
            }
            cycle.apply(command).unwrap();
        }
        let AnyCycle::Implementation(cycle) = cycle else {
            panic!("the fixture reaches implementation")
        };
        assert_eq!(cycle.election().unwrap().unit(), unit, "rules {version}");
    }
}

/// Commands and setups from outside reject fields they do not know, naming
/// them: a misspelt `co_authors` would otherwise drop the co-author silently.
#[test]
fn commands_and_setups_refuse_unknown_fields() {
    let mut idea = serde_json::to_value(Command::SubmitIdea(idea(1, resident(1)))).unwrap();
    let fields = idea["submit_idea"].as_object_mut().unwrap();
    fields.insert("co_author".into(), serde_json::json!([]));
    let text = idea.to_string();
    let err = serde_json::from_str::<Command>(&text).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `co_author`"),
        "{err}"
    );
    // The same command with the field spelt right reads.
    let fields = idea["submit_idea"].as_object_mut().unwrap();
    fields.remove("co_author");
    fields.insert("co_authors".into(), serde_json::json!([]));
    assert!(serde_json::from_value::<Command>(idea).is_ok());
    let mut setup = serde_json::to_value(programme_setup(3, true)).unwrap();
    setup["carry_over"]
        .as_object_mut()
        .unwrap()
        .insert("date".into(), serde_json::json!("2026-06-18"));
    let err = serde_json::from_value::<ProgrammeSetup>(setup).unwrap_err();
    assert!(err.to_string().contains("unknown field `date`"), "{err}");
}
