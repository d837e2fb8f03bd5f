//! A whole cycle through the typed API and through `AnyCycle`, with the same
//! result, and loading what was saved.

use crate::common::*;
use medborgarbudget::area::Eligibility;
use medborgarbudget::ballot::Choices;
use medborgarbudget::criteria::Score;
use medborgarbudget::process::{AnyCycle, Cycle, Event, Snapshot, Step};
use medborgarbudget::project::Feasibility;
use medborgarbudget::tally::Greedy;

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
fn the_log_replays_to_the_same_cycle_and_its_snapshot_round_trips() {
    let (cycle, events) = logged(Step::Closed);
    assert!(matches!(events.first(), Some(Event::CycleStarted(_))));
    assert_eq!(AnyCycle::replay(events.clone()).unwrap(), cycle);
    let snapshot = Snapshot::new(events).unwrap();
    let json = serde_json::to_string_pretty(&snapshot).unwrap();
    let back: Snapshot<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(AnyCycle::from_snapshot(back).unwrap(), cycle);
}

/// The fixture year through the typed methods, step by step, each step's
/// cycle kept.
fn typed_year() -> Vec<AnyCycle> {
    let mut out = Vec::new();
    let mut c = Cycle::new(setup());
    c.set_budget(allocation(1_000_000)).unwrap();
    c.set_eligibility(Eligibility::residents_aged(12));
    c.set_ballot_rules(approval_rules());
    c.set_criteria(criteria());
    out.push(AnyCycle::from(c.clone()));
    let mut c = c.begin_outreach(day(1)).unwrap();
    c.record_outreach(activity()).unwrap();
    out.push(AnyCycle::from(c.clone()));
    let mut c = c.open_idea_generation(day(10)).unwrap();
    for n in 1..=3 {
        c.submit_idea(idea(n, resident(n))).unwrap();
    }
    out.push(AnyCycle::from(c.clone()));
    let mut c = c.begin_shortlisting(day(40)).unwrap();
    for n in 1..=3 {
        let p = project_id(n);
        c.review_idea(idea_id(n)).unwrap();
        c.propose_project(proposal(n, vec![idea_id(n)])).unwrap();
        c.estimate_cost(p, project_cost(n)).unwrap();
        c.assess_feasibility(p, Feasibility::Feasible).unwrap();
        c.score_project(p, "meeting-places".into(), Score::new(7).unwrap())
            .unwrap();
        c.score_project(p, "movement".into(), Score::new(5).unwrap())
            .unwrap();
    }
    out.push(AnyCycle::from(c.clone()));
    let mut c = c.open_voting(window(), day(60)).unwrap();
    for v in 1..=10u128 {
        let choice: Vec<_> = (1..=3)
            .filter(|&p| p == 1 || (p == 2 && v <= 6) || v <= 3)
            .map(project_id)
            .collect();
        c.cast_ballot(ballot(v, resident(100 + v), Choices::Approval(choice)))
            .unwrap();
    }
    out.push(AnyCycle::from(c.clone()));
    let mut c = c.close_voting(day(75), &Greedy).unwrap();
    for (n, cost) in [(1, 390_000), (2, 480_000)] {
        c.add_co_creator(project_id(n), resident(900)).unwrap();
        c.complete_project(project_id(n), sek(cost), day(300))
            .unwrap();
    }
    out.push(AnyCycle::from(c.clone()));
    let c = c.begin_follow_up(day(310)).unwrap();
    out.push(AnyCycle::from(c.clone()));
    out.push(AnyCycle::from(c.close(evaluation()).unwrap()));
    out
}

#[test]
fn commands_through_any_cycle_match_the_typed_api_at_every_step() {
    let typed = typed_year();
    assert_eq!(typed.len(), 8);
    for (typed, step) in typed.into_iter().zip(Step::ALL) {
        assert_eq!(logged(step).0, typed, "the cycle at the end of {step}");
    }
}
