//! Stored state goes through the same rules as live commands: corrupted
//! snapshots and broken event streams do not load, and say why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use medborgarbudget::ballot::BallotSubmission;
use medborgarbudget::ids::{CycleId, ProgrammeId, ResidentId};
use medborgarbudget::money::Currency;
use medborgarbudget::process::stage::{Closed, Implementation, Stage, Voting};
use medborgarbudget::process::{
    AnyCycle, CarryOver, Command, Cycle, CycleError, Event, Programme, ProgrammeCommand,
    ProgrammeError, ProgrammeSetup, ReplayError, Step,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn snapshot<S: Stage>(cycle: Cycle<S>) -> Value {
    serde_json::to_value(AnyCycle::from(cycle)).unwrap()
}

fn closed() -> Value {
    snapshot(closed_cycle())
}

/// Loads a snapshot that must be refused; checks the message names every
/// `needle` and returns it.
#[track_caller]
fn refused(value: Value, needles: &[&str]) -> String {
    let message = serde_json::from_value::<AnyCycle>(value)
        .expect_err("a corrupted snapshot must not load")
        .to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "the message {message:?} should mention {needle:?}"
        );
    }
    message
}

/// Where the first event matching `pred` is in the closed cycle's history.
fn position_in_history(pred: impl Fn(&Event) -> bool) -> usize {
    AnyCycle::from(closed_cycle())
        .history()
        .iter()
        .position(pred)
        .expect("the history holds such an event")
}

fn first_cast_ballot() -> usize {
    position_in_history(|e| matches!(e, Event::BallotCast(_)))
}

fn voting_closed() -> usize {
    position_in_history(|e| matches!(e, Event::VotingClosed(_)))
}

/// An id as it appears in a snapshot (every typed id is a UUID).
fn uuid(n: u128) -> String {
    ResidentId::from_u128(n).to_string()
}

// ---------------------------------------------------------------------------
// Snapshots that are intact load
// ---------------------------------------------------------------------------

#[test]
fn intact_snapshots_of_every_stage_load() {
    let mut cycles = running_cycles();
    cycles.push(AnyCycle::from(closed_cycle()));
    cycles.push(AnyCycle::from(
        voted_cycle()
            .abandon("Council cut the budget".into(), day(70))
            .unwrap(),
    ));
    for any in cycles {
        let value = serde_json::to_value(&any).unwrap();
        let back: AnyCycle = serde_json::from_value(value).unwrap();
        assert_eq!(back, any, "{:?} round-trips", any.step());
    }
}

// ---------------------------------------------------------------------------
// Corrupted snapshots
// ---------------------------------------------------------------------------

#[test]
fn a_ballot_found_eligible_under_other_rules_does_not_load() {
    // A ballot keeps the verdict, not the voter's record: the verdict must name
    // the cycle's eligibility rules.
    let mut v = closed();
    v["core"]["ballots"][0]["eligibility"]["rules"] = json!("00000000000000ff");
    let index = first_cast_ballot();
    refused(
        v,
        &[
            "breaks the rules",
            &format!("event {index} (ballot_cast)"),
            "eligible under eligibility rules 00000000000000ff",
        ],
    );
}

#[test]
fn a_ballot_that_carries_a_voter_record_does_not_load() {
    // Nothing but the ballot's own fields: a birth date slipped in is refused.
    let mut v = closed();
    v["core"]["ballots"][0]["born"] = json!("2016-01-01");
    refused(v, &["unknown field `born`"]);
}

#[test]
fn a_ballot_cast_outside_the_window_does_not_load() {
    let mut v = closed();
    v["core"]["ballots"][3]["cast_at"] = json!("2026-03-31T09:00:00Z");
    let index = first_cast_ballot() + 3;
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
    v["core"]["ballots"][1]["voter"] = json!(uuid(101));
    let index = first_cast_ballot() + 1;
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
    v["core"]["ballots"][9]["choices"]["approval"][0] = json!(uuid(99));
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
    v["stage"]["decision"]["funded"] = json!([uuid(1), uuid(3)]);
    v["stage"]["decision"]["total_cost"]["minor"] = json!(70_000_000);
    let index = voting_closed();
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
    v["stage"]["decision"]["funded"] = json!([uuid(1)]);
    refused(v, &["(voting_closed)", "total_cost does not match"]);
}

#[test]
fn a_changed_total_cost_does_not_load() {
    let mut v = closed();
    v["stage"]["decision"]["total_cost"]["minor"] = json!(80_000_000);
    refused(v, &["(voting_closed)", "total_cost does not match"]);
}

#[test]
fn a_changed_ballot_count_or_rule_does_not_load() {
    let mut v = closed();
    v["stage"]["decision"]["ballots_counted"] = json!(11);
    refused(v, &["(voting_closed)", "ballots_counted does not match"]);

    let mut v = closed();
    v["stage"]["decision"]["rule"] = json!("mes");
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
    v["core"]["projects"][0]["cost"]["minor"] = json!(45_000_000);
    refused(v, &["(voting_closed)", "total_cost does not match"]);

    // A cost above the budget could never have reached the ballot.
    let mut v = closed();
    v["core"]["projects"][2]["cost"]["minor"] = json!(110_000_000);
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
    let criteria = v["stage"]["framework"]["criteria"].as_array_mut().unwrap();
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
    v["stage"]["framework"]["base"]["amount"]["minor"] = json!(0);
    refused(
        v,
        &["event 1 (set_budget)", "an allocation must be positive"],
    );
}

#[test]
fn a_budget_in_another_currency_does_not_load() {
    let mut v = shortlisting_snapshot();
    v["stage"]["framework"]["base"]["amount"]["currency"] = json!("EUR");
    refused(v, &["event 1 (set_budget)", "the allocation is in EUR"]);
}

fn shortlisting_snapshot() -> Value {
    snapshot(shortlisting_cycle())
}

#[test]
fn a_step_tag_moved_to_a_later_step_does_not_load() {
    // Implementation and follow-up hold the same stage data; the history then
    // claims follow-up began with both projects unfinished, at no recorded time.
    let mut v = snapshot(implementation_cycle());
    v["step"] = json!("follow_up");
    refused(v, &["(begin_follow_up)", "breaks a rule"]);

    // Voting has no funding decision to be in implementation.
    let mut v = snapshot(voted_cycle());
    v["step"] = json!("implementation");
    refused(v, &["decision"]);
}

#[test]
fn a_step_tag_moved_to_an_earlier_step_does_not_load() {
    let mut v = snapshot(follow_up_cycle());
    v["step"] = json!("implementation");
    refused(
        v,
        &[
            "inconsistent",
            "its timeline do not match what its history rebuilds",
        ],
    );
}

#[test]
fn an_idea_shortlisted_as_a_nonexistent_project_does_not_load() {
    let mut v = closed();
    let idea = &mut v["core"]["ideas"][2];
    assert_eq!(idea["status"], "shortlisted");
    idea["project"] = json!(uuid(99));
    refused(v, &["inconsistent", "its ideas do not match"]);
}

#[test]
fn an_idea_merged_into_itself_does_not_load() {
    let mut v = closed();
    let idea = &mut v["core"]["ideas"][2];
    idea["status"] = json!("merged");
    idea["into"] = json!(uuid(3));
    refused(v, &["(merge_idea)", "cannot be merged into itself"]);
}

#[test]
fn reordered_timeline_entries_do_not_load() {
    let mut v = closed();
    v["core"]["timeline"].as_array_mut().unwrap().swap(1, 2);
    refused(v, &["its timeline do not match"]);
}

#[test]
fn swapped_step_times_do_not_load() {
    // Outreach now "began" on day 10, after the activity held on day 3.
    let mut v = closed();
    let timeline = v["core"]["timeline"].as_array_mut().unwrap();
    let outreach = timeline[1][1].clone();
    timeline[1][1] = timeline[2][1].clone();
    timeline[2][1] = outreach;
    refused(v, &["(record_outreach)", "before step Outreach began"]);
}

#[test]
fn an_evaluation_without_lessons_does_not_load() {
    let mut v = closed();
    v["stage"]["evaluation"]["lessons"] = json!([]);
    refused(v, &["(close)", "the evaluation records no lesson"]);
}

#[test]
fn a_completed_project_without_co_creators_does_not_load() {
    let mut v = closed();
    v["core"]["projects"][0]["delivery"]["co_creators"] = json!([]);
    refused(v, &["(complete_project)", "no resident co-creator"]);
}

#[test]
fn a_stage_snapshot_must_be_in_its_stage() {
    let v = closed();
    let message = serde_json::from_value::<Cycle<Voting>>(v.clone())
        .expect_err("a closed cycle is not in voting")
        .to_string();
    assert!(
        message.contains("the cycle is in step Closed, not Voting"),
        "{message}"
    );
    let err = serde_json::from_value::<Cycle<Implementation>>(v.clone()).unwrap_err();
    assert!(err.to_string().contains("not Implementation"), "{err}");
    let back: Cycle<Closed> = serde_json::from_value(v).unwrap();
    assert_eq!(back, closed_cycle());
}

#[test]
fn a_typed_load_checks_the_rules_too() {
    let mut v = closed();
    v["core"]["ballots"][0]["cast_at"] = json!("2026-03-31T09:00:00Z");
    let err = serde_json::from_value::<Cycle<Closed>>(v).unwrap_err();
    assert!(
        err.to_string().contains("outside the voting window"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Event streams
// ---------------------------------------------------------------------------

fn history() -> Vec<Event> {
    AnyCycle::from(closed_cycle()).history()
}

fn position(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    events.iter().position(pred).unwrap()
}

#[test]
fn the_intact_history_replays() {
    let any = AnyCycle::replay(history()).unwrap();
    assert_eq!(any, AnyCycle::from(closed_cycle()));
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

/// The commands that rebuild the closed fixture cycle, for a programme's cycle.
fn closed_cycle_commands() -> Vec<Command> {
    history()
        .into_iter()
        .skip(1)
        .map(|event| match event {
            Event::Accepted(command) => command,
            Event::VotingClosed(d) => Command::CloseVoting { at: d.decided_at },
            // The fixture's voters are `resident(n)`: the command that cast the
            // ballot, with the record the log does not keep.
            Event::BallotCast(b) => Command::CastBallot(BallotSubmission {
                id: b.id,
                voter: resident(b.voter.as_uuid().as_u128()),
                cast_at: b.cast_at,
                choices: b.choices,
            }),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// A programme whose first year ran as the closed fixture (spending 870 000 of
/// 1 000 000 SEK), and, if `second`, whose second year has started.
fn programme(second: bool) -> Programme {
    let mut p = Programme::new(programme_setup(3)).unwrap();
    p.apply(ProgrammeCommand::StartCycle {
        id: CycleId::from_u128(1),
        year: YEAR,
        at: day(0),
    })
    .unwrap();
    for command in closed_cycle_commands() {
        p.apply(ProgrammeCommand::Cycle {
            year: YEAR,
            command,
        })
        .unwrap();
    }
    if second {
        p.apply(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(2),
            year: YEAR + 1,
            at: day(400),
        })
        .unwrap();
    }
    p
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
    let p = programme(false);
    assert_eq!(p.cycle(YEAR).unwrap().step(), Step::Closed);
    assert_eq!(
        p.carry_over(),
        &[CarryOver {
            from_year: YEAR,
            amount: sek(130_000),
            credited_to: None
        }]
    );
    let p = programme(true);
    assert_eq!(p.carry_over()[0].credited_to, Some(YEAR + 1));
    assert_eq!(p.cycle(YEAR + 1).unwrap().budget().unwrap(), sek(130_000));
    // Both round-trip.
    for p in [programme(false), programme(true)] {
        let back: Programme = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}

#[test]
fn a_stored_programme_of_two_years_does_not_load() {
    let mut v = serde_json::to_value(programme(false)).unwrap();
    v["setup"]["years"] = json!(2);
    let message = serde_json::from_value::<Programme>(v)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("a programme must commit to at least 3 years, not 2"),
        "{message}"
    );
}

#[test]
fn an_edited_carry_over_record_does_not_load() {
    // Not yet credited: the record must equal what the year left unspent.
    let mut v = serde_json::to_value(programme(false)).unwrap();
    v["carry"][0]["amount"]["minor"] = json!(20_000_000);
    let message = serde_json::from_value::<Programme>(v)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("carry-over from 2026 does not equal the money it left unspent"),
        "{message}"
    );

    // Credited: the record must match the money the next year received.
    let mut v = serde_json::to_value(programme(true)).unwrap();
    v["carry"][0]["amount"]["minor"] = json!(20_000_000);
    let message = serde_json::from_value::<Programme>(v)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("carry-over credited to 2027 does not match the programme's record"),
        "{message}"
    );

    let mut v = serde_json::to_value(programme(true)).unwrap();
    v["carry"][0]["credited_to"] = Value::Null;
    let message = serde_json::from_value::<Programme>(v)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("carry-over credited to 2027 does not match"),
        "{message}"
    );
}

#[test]
fn a_programme_with_a_corrupted_cycle_does_not_load() {
    let mut v = serde_json::to_value(programme(false)).unwrap();
    v["cycles"][0]["core"]["ballots"][0]["cast_at"] = json!("2026-03-31T09:00:00Z");
    let message = serde_json::from_value::<Programme>(v)
        .unwrap_err()
        .to_string();
    assert!(message.contains("outside the voting window"), "{message}");
}
