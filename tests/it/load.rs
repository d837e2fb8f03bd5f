//! Stored state goes through the same rules as live commands: snapshots (event
//! logs) that were cut, edited or re-sealed after an edit, and broken event
//! streams, do not load, and say why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use medborgarbudget::error_chain;
use medborgarbudget::ids::{CycleId, ProgrammeId, ResidentId};
use medborgarbudget::money::Currency;
use medborgarbudget::process::stage::{Closed, Implementation, Voting};
use medborgarbudget::process::{
    AnyCycle, CarryOver, Command, Cycle, CycleError, Event, Programme, ProgrammeCommand,
    ProgrammeError, ProgrammeEvent, ProgrammeSetup, ReplayError, Snapshot, SnapshotError, Step,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The snapshot of the fixture year at the end of `step`, as JSON.
fn snapshot_at(step: Step) -> Value {
    serde_json::to_value(Snapshot::new(logged(step).1).unwrap()).unwrap()
}

fn closed() -> Value {
    snapshot_at(Step::Closed)
}

/// The event's name in a snapshot: `ballot_cast`, or for a recorded command
/// its own name (`set_budget`).
fn name_of(event: &Value) -> String {
    let (outer, inner) = event.as_object().unwrap().iter().next().unwrap();
    match (outer.as_str(), inner) {
        ("accepted", Value::Object(command)) => command.keys().next().unwrap().clone(),
        _ => outer.clone(),
    }
}

/// Where the `nth` event called `name` is in a snapshot's events.
fn nth(v: &Value, name: &str, nth: usize) -> usize {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, e)| name_of(e) == name)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {name} event {nth}"))
        .0
}

/// The fields of the `nth` event called `name` (a command's own fields for a
/// recorded command).
fn fields<'a>(v: &'a mut Value, name: &str, n: usize) -> &'a mut Value {
    let i = nth(v, name, n);
    let event = &mut v["events"][i];
    if event.get("accepted").is_some() {
        &mut event["accepted"][name]
    } else {
        &mut event[name]
    }
}

/// Re-seals an edited snapshot: its version and head recomputed from its
/// events, as a tool that edits a log and writes it out again would, so that
/// only the rules can refuse it. An event that does not decode is refused
/// here.
fn resealed(v: &Value) -> Result<Snapshot<Event>, String> {
    let events: Vec<Event> =
        serde_json::from_value(v["events"].clone()).map_err(|e| e.to_string())?;
    Ok(Snapshot::new(events).unwrap())
}

/// Loads an edited, re-sealed snapshot that must be refused; checks the
/// message (with its causes) names every `needle` and returns it.
#[track_caller]
fn refused(v: Value, needles: &[&str]) -> String {
    let message = match resealed(&v) {
        Err(message) => message,
        Ok(snapshot) => error_chain(
            &AnyCycle::from_snapshot(snapshot).expect_err("an edited log must not load"),
        ),
    };
    for needle in needles {
        assert!(
            message.contains(needle),
            "the message {message:?} should mention {needle:?}"
        );
    }
    message
}

/// An id as it appears in a snapshot (every typed id is a UUID).
fn uuid(n: u128) -> String {
    ResidentId::from_u128(n).to_string()
}

// ---------------------------------------------------------------------------
// Snapshots that are intact load; changed ones are refused by their head
// ---------------------------------------------------------------------------

#[test]
fn intact_snapshots_of_every_stage_load() {
    let mut logs: Vec<_> = Step::ALL[..8].iter().map(|&s| logged(s)).collect();
    let (mut abandoned, mut events) = logged(Step::Voting);
    events.extend(
        abandoned
            .apply(Command::Abandon {
                reason: "Council cut the budget".into(),
                at: day(70),
            })
            .unwrap(),
    );
    logs.push((abandoned, events));
    for (any, events) in logs {
        let json = serde_json::to_string(&Snapshot::new(events).unwrap()).unwrap();
        let back = AnyCycle::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back, any, "{:?} round-trips", any.step());
    }
}

#[test]
fn a_snapshot_edited_cut_or_extended_without_its_head_is_refused() {
    let intact = closed();
    let mut edited = intact.clone();
    fields(&mut edited, "ballot_cast", 0)["cast_at"] = json!("2026-03-01T09:00:00Z");
    let err = serde_json::from_value::<Snapshot<Event>>(edited).unwrap_err();
    assert!(err.to_string().contains("the log was changed"), "{err}");

    let mut cut = intact.clone();
    cut["events"].as_array_mut().unwrap().pop();
    let err = serde_json::from_value::<Snapshot<Event>>(cut).unwrap_err();
    assert!(
        err.to_string()
            .contains("records version 48 but holds 47 events"),
        "{err}"
    );

    let mut moved = intact.clone();
    moved["events"].as_array_mut().unwrap().swap(20, 21);
    let err = serde_json::from_value::<Snapshot<Event>>(moved).unwrap_err();
    assert!(err.to_string().contains("the log was changed"), "{err}");

    let mut extra = intact;
    extra["state"] = json!({});
    let err = serde_json::from_value::<Snapshot<Event>>(extra).unwrap_err();
    assert!(err.to_string().contains("unknown field `state`"), "{err}");
}

#[test]
fn a_snapshot_in_the_old_state_form_is_refused_naming_what_is_missing() {
    // Snapshot JSON as earlier versions wrote it: the state, not the log.
    let state = serde_json::to_value(AnyCycle::from(closed_cycle())).unwrap();
    let err = serde_json::from_value::<Snapshot<Event>>(state).unwrap_err();
    assert!(err.to_string().contains("unknown field `core`"), "{err}");
}

// ---------------------------------------------------------------------------
// Edited and re-sealed snapshots: the rules refuse them
// ---------------------------------------------------------------------------

#[test]
fn a_ballot_found_eligible_under_other_rules_does_not_load() {
    // A ballot keeps the verdict, not the voter's record: the verdict must name
    // the cycle's eligibility rules.
    let mut v = closed();
    fields(&mut v, "ballot_cast", 0)["eligibility"]["rules"] = json!("00000000000000ff");
    let index = nth(&v, "ballot_cast", 0);
    refused(
        v,
        &[
            "do not rebuild the cycle",
            &format!("event {index} (ballot_cast)"),
            "eligible under eligibility rules 00000000000000ff",
        ],
    );
}

#[test]
fn a_ballot_that_carries_a_voter_record_does_not_load() {
    // Nothing but the ballot's own fields: a birth date slipped in is refused.
    let mut v = closed();
    fields(&mut v, "ballot_cast", 0)["born"] = json!("2016-01-01");
    refused(v, &["unknown field `born`"]);
}

#[test]
fn a_ballot_cast_outside_the_window_does_not_load() {
    let mut v = closed();
    fields(&mut v, "ballot_cast", 3)["cast_at"] = json!("2026-03-31T09:00:00Z");
    let index = nth(&v, "ballot_cast", 3);
    refused(
        v,
        &[
            &format!("event {index} (ballot_cast)"),
            "outside the voting window",
        ],
    );
}

#[test]
fn a_second_ballot_for_the_same_voter_does_not_load() {
    let mut v = closed();
    fields(&mut v, "ballot_cast", 1)["voter"] = json!(uuid(101));
    let index = nth(&v, "ballot_cast", 1);
    refused(
        v,
        &[
            &format!("event {index} (ballot_cast)"),
            &format!("resident {} has already voted", uuid(101)),
        ],
    );
}

#[test]
fn a_ballot_for_a_project_not_on_the_ballot_does_not_load() {
    let mut v = closed();
    fields(&mut v, "ballot_cast", 9)["choices"]["approval"][0] = json!(uuid(99));
    refused(
        v,
        &[
            "(ballot_cast)",
            &format!("project {} is not on the ballot", uuid(99)),
        ],
    );
}

#[test]
fn funded_projects_that_differ_from_the_recount_do_not_load() {
    // 1 and 3 cost 700 000 together, consistent on their own, but counting the
    // ballots again funds 1 and 2.
    let mut v = closed();
    let decision = fields(&mut v, "voting_closed", 0);
    decision["funded"] = json!([uuid(1), uuid(3)]);
    decision["total_cost"]["minor"] = json!(70_000_000);
    let index = nth(&v, "voting_closed", 0);
    refused(
        v,
        &[
            &format!("event {index} (voting_closed)"),
            "the outcome of counting again does not match",
        ],
    );
}

#[test]
fn a_funded_list_that_does_not_add_up_does_not_load() {
    let mut v = closed();
    fields(&mut v, "voting_closed", 0)["funded"] = json!([uuid(1)]);
    refused(v, &["(voting_closed)", "total_cost does not match"]);
}

#[test]
fn a_changed_total_cost_does_not_load() {
    let mut v = closed();
    fields(&mut v, "voting_closed", 0)["total_cost"]["minor"] = json!(80_000_000);
    refused(v, &["(voting_closed)", "total_cost does not match"]);
}

#[test]
fn a_changed_ballot_count_or_rule_does_not_load() {
    let mut v = closed();
    fields(&mut v, "voting_closed", 0)["ballots_counted"] = json!(11);
    refused(v, &["(voting_closed)", "ballots_counted does not match"]);

    let mut v = closed();
    fields(&mut v, "voting_closed", 0)["rule"] = json!("mes");
    refused(
        v,
        &[
            "(voting_closed)",
            "the ballot rules name the counting rule greedy, not mes",
        ],
    );
}

#[test]
fn a_changed_project_cost_does_not_load() {
    // The decision's total no longer adds up.
    let mut v = closed();
    fields(&mut v, "estimate_cost", 0)["cost"]["minor"] = json!(45_000_000);
    refused(v, &["(voting_closed)", "total_cost does not match"]);

    // A cost above the budget could never have reached the ballot.
    let mut v = closed();
    fields(&mut v, "estimate_cost", 2)["cost"]["minor"] = json!(110_000_000);
    refused(
        v,
        &[
            "(open_voting)",
            &format!("project {} costs 1100000.00 SEK", uuid(3)),
            "more than the budget 1000000.00 SEK",
        ],
    );
}

#[test]
fn criteria_without_public_health_do_not_load() {
    let mut v = closed();
    let criteria = fields(&mut v, "set_criteria", 0)["criteria"]
        .as_array_mut()
        .unwrap();
    let health = criteria
        .iter_mut()
        .find(|c| c["category"] == "public_health")
        .unwrap();
    health["category"] = json!("other");
    refused(v, &["public-health"]);
}

#[test]
fn a_budget_of_zero_does_not_load() {
    let mut v = closed();
    fields(&mut v, "set_budget", 0)["amount"]["minor"] = json!(0);
    refused(
        v,
        &["event 1 (set_budget)", "an allocation must be positive"],
    );
}

#[test]
fn a_budget_in_another_currency_does_not_load() {
    let mut v = snapshot_at(Step::Shortlisting);
    fields(&mut v, "set_budget", 0)["amount"]["currency"] = json!("EUR");
    refused(v, &["event 1 (set_budget)", "the allocation is in EUR"]);
}

#[test]
fn a_project_worked_out_from_an_idea_that_does_not_exist_does_not_load() {
    let mut v = closed();
    fields(&mut v, "propose_project", 2)["ideas"][0] = json!(uuid(99));
    refused(v, &["(propose_project)", &uuid(99)]);
}

#[test]
fn an_idea_merged_into_itself_does_not_load() {
    let mut v = closed();
    let i = nth(&v, "review_idea", 2);
    v["events"][i] = json!({"accepted": {"merge_idea": {"idea": uuid(3), "into": uuid(3)}}});
    refused(v, &["(merge_idea)", "cannot be merged into itself"]);
}

#[test]
fn a_step_that_began_after_its_own_activity_does_not_load() {
    // Outreach now "began" on day 10, after the activity held on day 3.
    let mut v = closed();
    fields(&mut v, "begin_outreach", 0)["at"] = json!("2026-01-25T09:00:00Z");
    refused(v, &["(record_outreach)", "before step Outreach began"]);
}

#[test]
fn an_evaluation_without_lessons_does_not_load() {
    let mut v = closed();
    fields(&mut v, "close", 0)["lessons"] = json!([]);
    refused(v, &["(close)", "the evaluation records no lesson"]);
}

#[test]
fn a_completed_project_without_co_creators_does_not_load() {
    let mut v = closed();
    let i = nth(&v, "add_co_creator", 0);
    v["events"].as_array_mut().unwrap().remove(i);
    refused(v, &["(complete_project)", "no resident co-creator"]);
}

#[test]
fn a_typed_load_must_be_in_its_stage_and_checks_the_rules_too() {
    let load = |v: Value| AnyCycle::from_snapshot(serde_json::from_value(v).unwrap());
    let err = Cycle::<Voting>::try_from(load(closed()).unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the cycle is in step Closed, not Voting"),
        "{err}"
    );
    assert!(Cycle::<Implementation>::try_from(load(closed()).unwrap()).is_err());
    let back = Cycle::<Closed>::try_from(load(closed()).unwrap()).unwrap();
    assert_eq!(back, closed_cycle());

    let mut v = closed();
    fields(&mut v, "ballot_cast", 0)["cast_at"] = json!("2026-03-31T09:00:00Z");
    let err = AnyCycle::from_snapshot(resealed(&v).unwrap()).unwrap_err();
    assert!(matches!(
        err,
        SnapshotError::Cycle(ReplayError::Rejected { .. })
    ));
    assert!(
        error_chain(&err).contains("outside the voting window"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Event streams
// ---------------------------------------------------------------------------

/// The closed fixture year's log.
fn history() -> Vec<Event> {
    logged(Step::Closed).1
}

fn position(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    events.iter().position(pred).unwrap()
}

#[test]
fn the_intact_history_replays() {
    let any = AnyCycle::replay(history()).unwrap();
    assert_eq!(any, AnyCycle::from(closed_cycle()));
    assert_eq!(any, logged(Step::Closed).0);
}

#[test]
fn a_stream_with_an_event_removed_is_rejected_at_the_right_index() {
    let mut events = history();
    let i = position(&events, |e| {
        matches!(e, Event::Accepted(Command::BeginOutreach { .. }))
    });
    events.remove(i);
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: i,
            event: "record_outreach",
            source: CycleError::NotInThisStep {
                operation: "record_outreach",
                step: Step::Criteria
            }
        })
    );
}

#[test]
fn a_stream_with_a_ballot_removed_is_rejected_when_voting_closes() {
    let mut events = history();
    let i = position(&events, |e| matches!(e, Event::BallotCast(_)));
    events.remove(i);
    let closes = position(&events, |e| matches!(e, Event::VotingClosed(_)));
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: closes,
            event: "voting_closed",
            source: CycleError::DecisionMismatch {
                field: "ballots_counted"
            }
        })
    );
}

#[test]
fn a_stream_with_an_event_duplicated_is_rejected_at_the_right_index() {
    let mut events = history();
    let i = position(
        &events,
        |e| matches!(e, Event::Accepted(Command::SubmitIdea(s)) if s.id == idea_id(2)),
    );
    let copy = events[i].clone();
    events.insert(i + 1, copy);
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: i + 1,
            event: "submit_idea",
            source: CycleError::DuplicateId {
                kind: "idea",
                id: idea_id(2).to_string()
            }
        })
    );
}

#[test]
fn a_stream_with_a_ballot_duplicated_is_rejected_at_the_right_index() {
    let mut events = history();
    let i = position(&events, |e| matches!(e, Event::BallotCast(_))) + 4;
    let copy = events[i].clone();
    events.insert(i + 1, copy);
    let Err(ReplayError::Rejected {
        index,
        event,
        source,
    }) = AnyCycle::replay(events)
    else {
        panic!("a duplicated ballot is rejected");
    };
    assert_eq!((index, event), (i + 1, "ballot_cast"));
    assert!(
        matches!(source, CycleError::DuplicateId { kind: "ballot", .. }),
        "{source:?}"
    );
}

#[test]
fn a_stream_with_events_reordered_is_rejected_at_the_right_index() {
    let mut events = history();
    let open = position(&events, |e| {
        matches!(e, Event::Accepted(Command::OpenVoting { .. }))
    });
    events.swap(open, open + 1);
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: open,
            event: "ballot_cast",
            source: CycleError::NotInThisStep {
                operation: "ballot_cast",
                step: Step::Shortlisting
            }
        })
    );
}

#[test]
fn completing_before_the_co_creator_is_recorded_is_rejected() {
    let mut events = history();
    let add = position(&events, |e| {
        matches!(e, Event::Accepted(Command::AddCoCreator { .. }))
    });
    assert!(matches!(
        events[add + 1],
        Event::Accepted(Command::CompleteProject { .. })
    ));
    events.swap(add, add + 1);
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: add,
            event: "complete_project",
            source: CycleError::NoCoCreators {
                project: project_id(1)
            }
        })
    );
}

#[test]
fn an_empty_stream_is_rejected() {
    assert_eq!(AnyCycle::replay(Vec::new()), Err(ReplayError::Empty));
}

#[test]
fn a_stream_must_start_with_cycle_started() {
    let events = history();
    assert_eq!(
        AnyCycle::replay(events[1..].to_vec()),
        Err(ReplayError::Start {
            index: 0,
            event: "set_budget"
        })
    );
    // And contain it only once.
    let mut twice = events.clone();
    twice.insert(3, events[0].clone());
    assert_eq!(
        AnyCycle::replay(twice),
        Err(ReplayError::Start {
            index: 3,
            event: "cycle_started"
        })
    );
}

#[test]
fn a_recorded_close_voting_command_is_no_decision() {
    // Voting closes with the decision recorded, never with a bare command.
    let mut events = history();
    let i = position(&events, |e| matches!(e, Event::VotingClosed(_)));
    let Event::VotingClosed(d) = events[i].clone() else {
        unreachable!()
    };
    events[i] = Event::Accepted(Command::CloseVoting { at: d.decided_at });
    assert_eq!(
        AnyCycle::replay(events),
        Err(ReplayError::Rejected {
            index: i,
            event: "close_voting",
            source: CycleError::NotInThisStep {
                operation: "close_voting",
                step: Step::Voting
            }
        })
    );
}

// ---------------------------------------------------------------------------
// Programmes
// ---------------------------------------------------------------------------

fn programme_setup(years: u8) -> ProgrammeSetup {
    ProgrammeSetup {
        id: ProgrammeId::from_u128(0x77),
        area: area(),
        currency: Currency::SEK,
        first_year: YEAR,
        years,
        carry_over: Some(decision()),
        established_at: day(-10),
    }
}

/// A programme whose first year ran as the closed fixture (spending 870 000 of
/// 1 000 000 SEK), and, if `second`, whose second year has started; with its
/// log.
fn programme(second: bool) -> (Programme, Vec<ProgrammeEvent>) {
    let setup = programme_setup(3);
    let mut p = Programme::new(setup.clone()).unwrap();
    let mut events = vec![ProgrammeEvent::Established(setup)];
    let mut commands = vec![ProgrammeCommand::StartCycle {
        id: CycleId::from_u128(1),
        year: YEAR,
        at: day(0),
    }];
    commands.extend(year_commands(approval_rules()).into_iter().map(|command| {
        ProgrammeCommand::Cycle {
            year: YEAR,
            command,
        }
    }));
    if second {
        commands.push(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(2),
            year: YEAR + 1,
            at: day(400),
        });
    }
    for command in commands {
        events.extend(p.apply(command).unwrap());
    }
    (p, events)
}

/// Loads a programme's edited, re-sealed log that must be refused; returns the
/// message with its causes.
fn programme_refused(events: Value) -> String {
    let events: Vec<ProgrammeEvent> = serde_json::from_value(events).unwrap();
    error_chain(&Programme::from_snapshot(Snapshot::new(events).unwrap()).unwrap_err())
}

#[test]
fn a_programme_of_two_years_cannot_be_established() {
    assert_eq!(
        Programme::new(programme_setup(2)),
        Err(ProgrammeError::CommitmentTooShort { years: 2 })
    );
    assert!(Programme::new(programme_setup(3)).is_ok());
}

#[test]
fn a_programme_built_from_a_closed_year_carries_its_money_over() {
    let (p, _) = programme(false);
    assert_eq!(p.cycle(YEAR).unwrap().step(), Step::Closed);
    assert_eq!(
        p.carry_over(),
        &[CarryOver {
            part: None,
            from_year: YEAR,
            amount: sek(130_000),
            credited_to: None
        }]
    );
    let (p, _) = programme(true);
    assert_eq!(p.carry_over()[0].credited_to, Some(YEAR + 1));
    assert_eq!(p.cycle(YEAR + 1).unwrap().budget().unwrap(), sek(130_000));
    // Both round-trip as snapshots.
    for (p, events) in [programme(false), programme(true)] {
        let json = serde_json::to_string(&Snapshot::new(events).unwrap()).unwrap();
        let back = Programme::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}

#[test]
fn a_stored_programme_of_two_years_does_not_load() {
    let mut v = serde_json::to_value(programme(false).1).unwrap();
    v[0]["established"]["years"] = json!(2);
    let message = programme_refused(v);
    assert!(
        message.contains("a programme must commit to at least 3 years, not 2"),
        "{message}"
    );
}

#[test]
fn an_edited_carry_over_does_not_load() {
    // The money credited to the next year must be what the first left unspent.
    let (_, events) = programme(true);
    let mut v = serde_json::to_value(&events).unwrap();
    let credit = events
        .iter()
        .position(|e| {
            matches!(e, ProgrammeEvent::Cycle { year, event: Event::Accepted(Command::AddFunds(_)) } if *year == YEAR + 1)
        })
        .expect("the carry-over is credited to the next year");
    v[credit]["cycle"]["event"]["accepted"]["add_funds"]["amount"]["minor"] = json!(20_000_000);
    // Starting the year credits the carry-over: the group of events that
    // starting it produces is refused, from its first.
    let start = events
        .iter()
        .position(|e| matches!(e, ProgrammeEvent::Cycle { event: Event::CycleStarted(_), year } if *year == YEAR + 1))
        .unwrap();
    assert!(start < credit);
    let message = programme_refused(v);
    assert!(
        message.contains(&format!("programme event {start} (cycle_started)"))
            && message.contains("the recorded events differ from what the rules produce"),
        "{message}"
    );
}

#[test]
fn a_programme_with_a_corrupted_cycle_does_not_load() {
    let (_, events) = programme(false);
    let mut v = serde_json::to_value(&events).unwrap();
    let ballot = events
        .iter()
        .position(|e| {
            matches!(
                e,
                ProgrammeEvent::Cycle {
                    event: Event::BallotCast(_),
                    ..
                }
            )
        })
        .unwrap();
    v[ballot]["cycle"]["event"]["ballot_cast"]["cast_at"] = json!("2026-03-31T09:00:00Z");
    let message = programme_refused(v);
    assert!(message.contains("outside the voting window"), "{message}");
}
