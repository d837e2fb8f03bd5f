//! A whole cycle through the typed API and through `AnyCycle`, with the same
//! result, and loading what was saved.

use crate::common::*;
use medborgarbudget::process::{AnyCycle, Command, Event, Step};

#[test]
fn a_cycle_runs_through_all_seven_steps() {
    let closed = closed_cycle();
    let steps: Vec<Step> = closed.timeline().iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        Step::ALL[..8],
        "every step once, in order, then closed"
    );
    assert_eq!(closed.decision().funded, vec![project_id(1), project_id(2)]);
    assert_eq!(closed.decision().total_cost, sek(900_000));
    assert_eq!(closed.spent().unwrap(), sek(870_000));
    assert_eq!(closed.ballots().len(), 10);
}

#[test]
fn history_replays_to_the_same_cycle_and_snapshots_round_trip() {
    let any = AnyCycle::from(closed_cycle());
    let history = any.history();
    assert!(matches!(history.first(), Some(Event::CycleStarted(_))));
    assert_eq!(AnyCycle::replay(history).unwrap(), any);
    let json = serde_json::to_string_pretty(&any).unwrap();
    let back: AnyCycle = serde_json::from_str(&json).unwrap();
    assert_eq!(back, any);
}

#[test]
fn commands_through_any_cycle_match_the_typed_api() {
    // Replay the typed cycle's canonical history command by command through
    // `apply`, and collect the events it produces: they are the history again.
    let typed = AnyCycle::from(closed_cycle());
    let history = typed.history();
    let Some(Event::CycleStarted(setup)) = history.first().cloned() else {
        panic!("history starts with cycle_started");
    };
    let mut any = AnyCycle::from(medborgarbudget::process::Cycle::new(setup));
    let mut produced = vec![history[0].clone()];
    for event in &history[1..] {
        let command = match event {
            Event::Accepted(c) => c.clone(),
            Event::VotingClosed(d) => Command::CloseVoting { at: d.decided_at },
            // A recorded ballot has no command to recreate it (the voter's record
            // is not kept): it goes in as recorded.
            Event::BallotCast(_) | Event::ParticipationCounted(_) => {
                any.apply_event(event.clone()).unwrap();
                produced.push(event.clone());
                continue;
            }
            other => panic!("unexpected {other:?}"),
        };
        produced.extend(any.apply(command).unwrap());
    }
    assert_eq!(produced, history);
    assert_eq!(any, typed);
}
