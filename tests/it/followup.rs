//! Step 7's follow-up metrics on real cycles: computed by hand for a small
//! vote, recorded in the evaluation and checked when the cycle closes, on
//! replay and on load; refused before the vote is counted; and over a
//! three-year programme with the change from year to year.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::common::*;
use medborgarbudget::area::Resident;
use medborgarbudget::ballot::Choices;
use medborgarbudget::followup::{
    CycleMetrics, Distribution, FollowUpError, GroupTurnout, ProgrammeMetrics, Proportionality,
    YearChange,
};
use medborgarbudget::ids::{CycleId, ResidentId};
use medborgarbudget::process::stage::{FollowUp, Implementation};
use medborgarbudget::process::{
    AnyCycle, Command, Cycle, CycleError, Evaluation, Event, Programme, Snapshot, Step,
    VoterRegister,
};
use medborgarbudget::tally::{Fraction, Greedy};

fn f(n: u128, d: u128) -> Fraction {
    Fraction::new(n, d)
}

fn aged(n: u128, group: &str) -> Resident {
    let born = match group {
        "12-17" => date(2010, 1, 1),
        "65+" => date(1950, 1, 1),
        _ => date(1985, 3, 1),
    };
    Resident::new(ResidentId::from_u128(n), born, area_id(), date(2012, 1, 1))
        .in_group("age", group)
}

/// Step 5 and the count after the fixture's step 4. Ten voters: two aged
/// 12-17 approve project 3, three adults projects 1 and 2, three adults
/// project 1, two aged 65+ projects 1 and 3. Votes 8, 3, 4: greedy funds 1
/// (400 000) and 3 (300 000); 2 (500 000) no longer fits. If `count`,
/// participation is counted with a minimum cell of 1 (to check the arithmetic;
/// the default suppresses counts of two voters, see below).
fn vote_commands(count: bool) -> Vec<Command> {
    let votes: [(&str, &[u128]); 10] = [
        ("12-17", &[3]),
        ("12-17", &[3]),
        ("18-64", &[1, 2]),
        ("18-64", &[1, 2]),
        ("18-64", &[1, 2]),
        ("18-64", &[1]),
        ("18-64", &[1]),
        ("18-64", &[1]),
        ("65+", &[1, 3]),
        ("65+", &[1, 3]),
    ];
    let mut commands = vec![Command::OpenVoting {
        window: window(),
        at: day(60),
    }];
    let mut register = Vec::new();
    for (k, (group, projects)) in (1u128..).zip(votes) {
        let choices = Choices::Approval(projects.iter().map(|&p| project_id(p)).collect());
        commands.push(Command::CastBallot(ballot(
            k,
            aged(100 + k, group),
            choices,
        )));
        register.push(aged(100 + k, group));
    }
    // Residents who did not vote are in the register too.
    register.extend((200..210).map(|k| aged(k, "65+")));
    commands.push(Command::CloseVoting { at: day(75) });
    if count {
        commands.push(Command::CountParticipation(VoterRegister {
            residents: register,
            min_cell: 1,
        }));
    }
    commands
}

/// Step 4 of the fixture year, then `more`: the cycle and its log.
fn run(more: Vec<Command>) -> (AnyCycle, Vec<Event>) {
    let (mut cycle, mut events) = logged(Step::Shortlisting);
    for command in more {
        events.extend(cycle.apply(command).unwrap());
    }
    (cycle, events)
}

/// The vote of [`vote_commands`] counted, participation counted if `count`.
fn implementation_log(count: bool) -> (AnyCycle, Vec<Event>) {
    run(vote_commands(count))
}

fn implementation() -> Cycle<Implementation> {
    let c: Cycle<Implementation> = implementation_log(true).0.try_into().unwrap();
    assert_eq!(c.decision().funded, [project_id(1), project_id(3)]);
    c
}

/// Project 1 completed at 390 000 with resident 900; project 3 cancelled
/// after 50 000.
fn follow_up_log() -> (AnyCycle, Vec<Event>) {
    let mut commands = vote_commands(true);
    commands.extend([
        Command::AddCoCreator {
            project: project_id(1),
            resident: resident(900),
        },
        Command::CompleteProject {
            project: project_id(1),
            final_cost: sek(390_000),
            at: day(300),
        },
        Command::CancelProject {
            project: project_id(3),
            reason: "The ground turned out to be polluted".into(),
            spent: sek(50_000),
            at: day(290),
        },
        Command::BeginFollowUp { at: day(310) },
    ]);
    run(commands)
}

fn follow_up() -> Cycle<FollowUp> {
    follow_up_log().0.try_into().unwrap()
}

fn expected() -> CycleMetrics {
    CycleMetrics {
        cycle: CycleId::from_u128(1),
        year: YEAR,
        population: 7_600,
        voters: 10,
        turnout: f(1, 760),
        groups: vec![
            GroupTurnout {
                dimension: "age".into(),
                group: "12-17".into(),
                population: 900,
                voters: Some(2),
                turnout: Some(f(1, 450)),
                // (2/10) / (900/7 600)
                representation: Some(f(76, 45)),
                reached: 0,
                ideas: 0,
            },
            GroupTurnout {
                dimension: "age".into(),
                group: "18-64".into(),
                population: 5_000,
                voters: Some(6),
                turnout: Some(f(3, 2_500)),
                representation: Some(f(114, 125)),
                reached: 0,
                // The three ideas' authors are adults.
                ideas: 3,
            },
            GroupTurnout {
                dimension: "age".into(),
                group: "65+".into(),
                population: 700,
                voters: Some(2),
                turnout: Some(f(1, 350)),
                representation: Some(f(76, 35)),
                reached: 0,
                ideas: 0,
            },
        ],
        outreach_reached: 800,
        outreach_activities: 1,
        ideas: 3,
        projects_on_ballot: 3,
        funded: 2,
        // Everyone supports a funded project.
        voters_with_funded: f(1, 1),
        // Eight voters with one funded project, two with two: mean 12/10,
        // Gini Σ|x_i − x_j| / (2 n Σx) = 32 / 240.
        satisfaction_by_count: Distribution {
            mean: f(6, 5),
            gini: f(2, 15),
        },
        // 300 000 ×2, 400 000 ×6, 700 000 ×2 of a budget of 1 000 000: mean
        // 4 400 000 / 10 000 000; Gini 12 800 000 / (2 · 10 · 4 400 000).
        satisfaction_by_cost: Distribution {
            mean: f(11, 25),
            gini: f(8, 55),
        },
        // Project 2's three supporters could pay 3/10 of the budget, less than
        // its 500 000: no cohesive group goes without.
        proportionality: Proportionality::Exact {
            ejr_up_to_one: true,
            witness: None,
        },
        budget: sek(1_000_000),
        carried_in: sek(0),
        spent: sek(440_000),
        left_over: sek(560_000),
        delivered: 1,
        cancelled: 1,
        in_progress: 0,
        // Residents 501, 502, 503 worked the projects out; 900 built one.
        co_creators: 4,
        parts: Vec::new(),
    }
}

fn evaluation_with(figures: &CycleMetrics) -> Evaluation {
    Evaluation {
        figures: Some(figures.digest().unwrap()),
        ..evaluation()
    }
}

#[test]
fn metrics_of_a_cycle_by_hand() {
    let c = follow_up();
    assert_eq!(c.metrics().unwrap(), expected());
    assert_eq!(
        CycleMetrics::of(&AnyCycle::from(c.clone())).unwrap(),
        expected()
    );
    let closed = c.close(evaluation()).unwrap();
    assert_eq!(closed.metrics().unwrap(), expected());
}

#[test]
fn in_implementation_projects_count_at_their_estimates() {
    let m = implementation().metrics().unwrap();
    assert_eq!((m.delivered, m.cancelled, m.in_progress), (0, 0, 2));
    assert_eq!(m.spent, sek(700_000));
    assert_eq!(m.left_over, sek(300_000));
    assert_eq!(m.co_creators, 3);
    assert_eq!(m.voters, 10);
}

#[test]
fn a_funded_set_that_leaves_a_cohesive_group_out_is_reported() {
    // Six voters approve projects 1 and 2, four project 3. Greedy by votes
    // funds 1 and 2 (900 000); 3 (300 000) no longer fits. The four could pay
    // 4/10 of the budget, more than 300 000, and get nothing, and adding
    // project 3 would give them 300 000 — not more than 300 000: EJR up to one
    // project fails, with {3} as the witness.
    let mut c = voting_cycle();
    for k in 1..=10u128 {
        let projects = if k <= 6 { vec![1, 2] } else { vec![3] };
        let choices = Choices::Approval(projects.into_iter().map(project_id).collect());
        c.cast_ballot(ballot(k, resident(100 + k), choices))
            .unwrap();
    }
    let c = c.close_voting(day(75), &Greedy).unwrap();
    assert_eq!(c.decision().funded.len(), 2);
    assert!(!c.decision().funded.contains(&project_id(3)));
    let m = c.metrics().unwrap();
    assert_eq!(
        m.proportionality,
        Proportionality::Exact {
            ejr_up_to_one: false,
            witness: Some(vec![project_id(3)]),
        }
    );
    assert_eq!(m.voters_with_funded, f(3, 5));
    // Six voters have two funded projects, four none: Gini 4/10.
    assert_eq!(m.satisfaction_by_count.gini, f(2, 5));
}

#[test]
fn published_figures_are_checked_against_the_cycle_on_request() {
    // The evaluation pins what was published; the check recounts when asked.
    let right = AnyCycle::from(follow_up().close(evaluation_with(&expected())).unwrap());
    assert_eq!(CycleMetrics::published(&right).unwrap(), Some(true));
    let mut wrong = expected();
    wrong.co_creators = 5;
    let misprinted = AnyCycle::from(follow_up().close(evaluation_with(&wrong)).unwrap());
    assert_eq!(CycleMetrics::published(&misprinted).unwrap(), Some(false));
    let unpinned = AnyCycle::from(follow_up().close(evaluation()).unwrap());
    assert_eq!(CycleMetrics::published(&unpinned).unwrap(), None);
    assert_eq!(
        CycleMetrics::published(&AnyCycle::from(follow_up())).unwrap(),
        None
    );
    // Every way of computing them agrees.
    assert_eq!(CycleMetrics::of(&right).unwrap(), expected());
}
#[test]
fn figures_stored_whole_by_earlier_logs_load_as_their_digest() {
    let mut any = AnyCycle::from(follow_up());
    let close = Command::Close(evaluation_with(&expected()));
    assert_eq!(
        any.decide(&close).unwrap(),
        [Event::Accepted(close.clone())]
    );
    any.apply(close.clone()).unwrap();
    let digest = expected().digest().unwrap();
    assert_eq!(any.evaluation().unwrap().figures, Some(digest));
    let json = serde_json::to_value(Event::Accepted(close.clone())).unwrap();
    assert_eq!(
        json["accepted"]["close"]["figures"],
        serde_json::Value::String(digest.to_string()),
        "{json}"
    );

    // An event as logs held it before: the figures whole, as `metrics`.
    let mut old = json.clone();
    let fields = old["accepted"]["close"].as_object_mut().unwrap();
    fields.remove("figures");
    fields.insert("metrics".into(), serde_json::to_value(expected()).unwrap());
    let loaded: Event = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(loaded, Event::Accepted(close.clone()));
    // Both, or an unknown field, do not load.
    let mut both = old.clone();
    both["accepted"]["close"]["figures"] = json["accepted"]["close"]["figures"].clone();
    assert!(serde_json::from_value::<Event>(both).is_err());
    let mut short = json.clone();
    short["accepted"]["close"]["figures"] = "abc".into();
    let err = serde_json::from_value::<Event>(short).unwrap_err();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    let mut unknown = old;
    unknown["accepted"]["close"]["metric"] = 1.into();
    assert!(serde_json::from_value::<Event>(unknown).is_err());

    // The log carries the digest, and the cycle's state shows it; an
    // evaluation without one serialises without it.
    let (_, mut events) = follow_up_log();
    events.push(Event::Accepted(close));
    assert_eq!(AnyCycle::replay(events).unwrap(), any);
    let state = serde_json::to_value(&any).unwrap();
    assert_eq!(
        state["stage"]["evaluation"]["figures"],
        serde_json::Value::String(digest.to_string())
    );
    let plain = AnyCycle::from(follow_up().close(evaluation()).unwrap());
    let plain_json = serde_json::to_string(&plain).unwrap();
    assert!(!plain_json.contains("figures"), "{plain_json}");
}
#[test]
fn metrics_are_refused_before_the_vote_is_counted() {
    for cycle in running_cycles().into_iter().take(5) {
        let step = cycle.step();
        assert_eq!(
            CycleMetrics::of(&cycle).unwrap_err(),
            FollowUpError::NotCounted {
                cycle: CycleId::from_u128(1),
                year: YEAR,
                step,
            }
        );
    }
    let mut abandoned = AnyCycle::from(voted_cycle());
    abandoned
        .apply(Command::Abandon {
            reason: "The council withdrew the money".into(),
            at: day(70),
        })
        .unwrap();
    let err = CycleMetrics::of(&abandoned).unwrap_err();
    assert!(matches!(
        err,
        FollowUpError::NotCounted {
            step: Step::Abandoned,
            ..
        }
    ));
    assert!(err.to_string().contains("has not been counted"), "{err}");

    // Abandoned after the vote: the vote was counted and is measured.
    let mut late = AnyCycle::from(implementation());
    late.apply(Command::Abandon {
        reason: "The district was merged".into(),
        at: day(200),
    })
    .unwrap();
    let m = CycleMetrics::of(&late).unwrap();
    assert_eq!((m.voters, m.in_progress), (10, 2));
}

// A three-year programme.

#[test]
fn a_programme_records_each_year_and_the_changes() {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    // Year 1 still in implementation: measured, nothing recorded yet.
    assert_eq!(r.p.follow_up(FIRST).unwrap(), None);
    let running = ProgrammeMetrics::of(&r.p).unwrap();
    assert_eq!(running.years.len(), 1);
    assert_eq!(running.years[0].in_progress, 2);
    assert!(running.changes.is_empty());

    r.finish(FIRST, [390_000, 480_000]);
    // Year 2's criteria step reads year 1's follow-up.
    r.run_to_implementation(FIRST + 1);
    let previous = r.p.follow_up(FIRST).unwrap().unwrap();
    assert_eq!(previous.left_over, sek(130_000));
    assert_eq!(
        r.p.cycle(FIRST + 1).unwrap().budget().unwrap(),
        sek(1_130_000)
    );

    // Year 2 publishes figures that are not the cycle's: the log keeps what
    // was published, and the check on request finds the misprint.
    let funded =
        r.p.cycle(FIRST + 1)
            .unwrap()
            .decision()
            .unwrap()
            .funded
            .clone();
    assert_eq!(funded.len(), 2);
    for (project, cost) in funded.into_iter().zip([400_000, 500_000]) {
        r.cmd(
            FIRST + 1,
            Command::AddCoCreator {
                project,
                resident: resident(900),
            },
        );
        r.cmd(
            FIRST + 1,
            Command::CompleteProject {
                project,
                final_cost: sek(cost),
                at: yday(FIRST + 1, 300),
            },
        );
    }
    r.cmd(
        FIRST + 1,
        Command::BeginFollowUp {
            at: yday(FIRST + 1, 310),
        },
    );
    let mut wrong = CycleMetrics::of(r.p.cycle(FIRST + 1).unwrap()).unwrap();
    wrong.left_over = sek(0);
    r.cmd(FIRST + 1, Command::Close(r.evaluation(FIRST + 1, &wrong)));
    assert_eq!(
        CycleMetrics::published(r.p.cycle(FIRST + 1).unwrap()).unwrap(),
        Some(false)
    );
    assert_eq!(
        CycleMetrics::published(r.p.cycle(FIRST).unwrap()).unwrap(),
        Some(true)
    );

    r.run_to_implementation(FIRST + 2);
    r.finish(FIRST + 2, [350_000, 500_000]);

    let m = ProgrammeMetrics::of(&r.p).unwrap();
    assert_eq!(m.years.len(), 3);
    for (k, year) in m.years.iter().enumerate() {
        let y = FIRST + i32::try_from(k).unwrap();
        assert_eq!(year.year, y);
        assert_eq!(r.p.follow_up(y).unwrap().as_ref(), Some(year));
    }
    let budgets: Vec<_> = m.years.iter().map(|y| y.budget).collect();
    assert_eq!(budgets, [sek(1_000_000), sek(1_130_000), sek(1_230_000)]);
    let carried: Vec<_> = m.years.iter().map(|y| y.carried_in).collect();
    assert_eq!(carried, [sek(0), sek(130_000), sek(230_000)]);
    let spent: Vec<_> = m.years.iter().map(|y| y.spent).collect();
    assert_eq!(spent, [sek(870_000), sek(900_000), sek(1_150_000)]);
    assert_eq!(m.years[2].funded, 3, "year 3 can afford all three");
    // Six voters supported 900 000 of funded projects, four 400 000.
    let means: Vec<_> = m
        .years
        .iter()
        .map(|y| y.satisfaction_by_cost.mean)
        .collect();
    assert_eq!(means, [f(7, 10), f(70, 113), f(70, 123)]);
    assert_eq!(
        m.changes,
        [
            YearChange {
                year: FIRST + 1,
                voters: 0,
                turnout_bp: 0,
                voters_with_funded_bp: 0,
                // 70/113 − 7/10 = −91/1 130 = −805.3 bp
                satisfaction_by_cost_bp: -805,
                spent: sek(30_000),
                co_creators: 0,
            },
            YearChange {
                year: FIRST + 2,
                voters: 0,
                turnout_bp: 0,
                voters_with_funded_bp: 0,
                // 70/123 − 70/113 = −700/13 899 = −503.6 bp
                satisfaction_by_cost_bp: -504,
                spent: sek(250_000),
                co_creators: 0,
            },
        ]
    );
    assert_eq!(m.set_aside, sek(3_000_000));
    assert_eq!(m.spent, sek(2_920_000));
    assert_eq!(m.carried_over, sek(360_000));
    assert_eq!(m.left_at_end, sek(80_000));

    // The same money as the credibility report.
    let report = r.p.clone().conclude(yday(FIRST + 3, 0)).unwrap();
    assert_eq!(report.total_set_aside, m.set_aside);
    assert_eq!(report.total_spent, m.spent);
    assert_eq!(report.total_carried_over, m.carried_over);
    assert_eq!(report.left_at_end, m.left_at_end);

    // The programme with its recorded metrics replays and loads.
    let replayed = Programme::replay(r.events.clone()).unwrap();
    assert_eq!(replayed, r.p);
    let json = serde_json::to_string(&Snapshot::new(r.events.clone()).unwrap()).unwrap();
    let loaded = Programme::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(loaded, r.p);
    assert_eq!(ProgrammeMetrics::of(&loaded).unwrap(), m);
}

#[test]
fn without_carry_over_what_ended_years_leave_is_left_at_the_end() {
    let mut r = Run::new(3, false);
    r.run_to_implementation(FIRST);
    r.finish(FIRST, [390_000, 480_000]);
    r.run_to_implementation(FIRST + 1);
    let m = ProgrammeMetrics::of(&r.p).unwrap();
    assert_eq!(m.years.len(), 2);
    assert_eq!(m.years[1].carried_in, sek(0));
    assert_eq!(m.set_aside, sek(2_000_000));
    // Year 2's two funded projects count at their estimates while in progress.
    assert_eq!(m.spent, sek(870_000 + 900_000));
    assert_eq!(m.carried_over, sek(0));
    // Year 1 left 130 000; year 2 has not ended.
    assert_eq!(m.left_at_end, sek(130_000));
    assert_eq!(
        r.p.follow_up(FIRST).unwrap().map(|y| y.left_over),
        Some(sek(130_000))
    );
    assert_eq!(r.p.follow_up(FIRST + 1).unwrap(), None);
}

/// The ten voters of `implementation()` and ten residents who did not vote.
fn register() -> Vec<Resident> {
    let groups = [
        "12-17", "12-17", "18-64", "18-64", "18-64", "18-64", "18-64", "18-64", "65+", "65+",
    ];
    let mut r: Vec<Resident> = (1u128..)
        .zip(groups)
        .map(|(k, g)| aged(100 + k, g))
        .collect();
    r.extend((300..310).map(|k| aged(k, "12-17")));
    r
}

#[test]
fn participation_is_counted_once_with_small_counts_suppressed() {
    // Re-run the fixture's vote and count with the default minimum cell of 5:
    // two teenagers and two pensioners voted, six adults.
    let mut c: Cycle<Implementation> = implementation_log(false).0.try_into().unwrap();
    assert_eq!(c.participation(), None);
    let counted = c
        .count_participation(&VoterRegister::new(register()))
        .unwrap()
        .clone();
    let voters: Vec<Option<u64>> = counted.groups.iter().map(|g| g.voters).collect();
    assert_eq!(voters, [None, Some(6), None]);
    assert_eq!(counted.min_cell, 5);
    let m = c.metrics().unwrap();
    assert_eq!(m.groups[0].representation, None);
    assert_eq!(m.groups[1].voters, Some(6));
    // Once only.
    assert!(matches!(
        c.count_participation(&VoterRegister::new(register())),
        Err(CycleError::ParticipationCounted)
    ));
}

#[test]
fn a_register_naming_a_resident_twice_or_a_zero_cell_is_refused() {
    let fresh = || -> Cycle<Implementation> { implementation_log(false).0.try_into().unwrap() };
    let mut twice = register();
    twice.push(aged(101, "65+"));
    let mut c = fresh();
    assert!(matches!(
        c.count_participation(&VoterRegister::new(twice)),
        Err(CycleError::RegisterResidentTwice { resident }) if resident == ResidentId::from_u128(101)
    ));
    let zero = VoterRegister {
        residents: register(),
        min_cell: 0,
    };
    assert!(matches!(
        c.count_participation(&zero),
        Err(CycleError::ZeroMinCell)
    ));
    assert_eq!(c.participation(), None, "a refused count changes nothing");
}

#[test]
fn a_recorded_participation_count_is_checked_on_replay() {
    let history = implementation_log(true).1;
    let at = history
        .iter()
        .position(|e| matches!(e, Event::ParticipationCounted(_)))
        .unwrap();
    // More voters in a dimension than ballots.
    let mut inflated = history.clone();
    if let Event::ParticipationCounted(p) = &mut inflated[at] {
        p.groups[1].voters = Some(60);
    }
    assert!(matches!(
        AnyCycle::replay(inflated),
        Err(medborgarbudget::process::ReplayError::Rejected {
            index,
            source: CycleError::InvalidParticipation { .. },
            ..
        }) if index == at
    ));
    // A count published under the minimum cell size.
    let mut small = history.clone();
    if let Event::ParticipationCounted(p) = &mut small[at] {
        p.min_cell = 5;
    }
    assert!(matches!(
        AnyCycle::replay(small),
        Err(medborgarbudget::process::ReplayError::Rejected {
            source: CycleError::InvalidParticipation { .. },
            ..
        })
    ));
    // Counted twice.
    let mut twice = history.clone();
    twice.insert(at + 1, history[at].clone());
    assert!(matches!(
        AnyCycle::replay(twice),
        Err(medborgarbudget::process::ReplayError::Rejected {
            source: CycleError::ParticipationCounted,
            ..
        })
    ));
    // The register is never part of the log: a recorded command is refused.
    let mut command = history.clone();
    command[at] = Event::Accepted(Command::CountParticipation(VoterRegister::new(register())));
    assert!(AnyCycle::replay(command).is_err());
}

#[test]
fn through_a_repository_the_register_is_matched_by_pseudonym() {
    use medborgarbudget::store::memory::MemoryStore;
    use medborgarbudget::store::{Repository, Store, StoreExt, StreamId, VoterKey};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let mut repo = Repository::<AnyCycle>::new(store.clone(), VoterKey::new(vec![9; 32]).unwrap());
    let setup = setup();
    let id = setup.id;
    repo.create(id, Event::CycleStarted(setup)).unwrap();
    let step4 = year_commands(approval_rules())
        .into_iter()
        .take_while(|c| !matches!(c, Command::OpenVoting { .. }));
    for command in step4.chain(vote_commands(true)) {
        repo.execute(id, command).unwrap();
    }
    // The same counts as without pseudonyms, although the stored ballots
    // carry pseudonyms only.
    let loaded = repo.load(id).unwrap().clone();
    assert_eq!(
        loaded.participation(),
        AnyCycle::from(implementation()).participation()
    );
    let stored = store.read_all(&StreamId::cycle(id), 0).unwrap();
    assert!(
        !stored
            .iter()
            .any(|e| e.payload.contains(&ResidentId::from_u128(101).to_string()))
    );
    assert!(store.streams().unwrap().len() == 1);
}

/// The funnel by group: contacts made by the outreach aimed at a group, and
/// the ideas of its residents, beside its voters; outreach aimed at a group
/// the area does not have, or at one twice, is refused.
#[test]
fn the_funnel_counts_contacts_aimed_at_a_group_and_its_ideas() {
    use medborgarbudget::process::{OutreachActivity, TargetGroup};
    let aimed = OutreachActivity {
        groups: vec![TargetGroup::new("age", "12-17")],
        people_reached: 300,
        ..activity()
    };
    let mut cycle = AnyCycle::from(Cycle::new(setup()));
    for command in year_commands(approval_rules()) {
        if matches!(command, Command::OpenVoting { .. }) {
            break;
        }
        let outreach = matches!(command, Command::RecordOutreach(_));
        cycle.apply(command).unwrap();
        if outreach {
            cycle.apply(Command::RecordOutreach(aimed.clone())).unwrap();
        }
    }
    for command in vote_commands(true) {
        cycle.apply(command).unwrap();
    }
    let c: Cycle<Implementation> = cycle.try_into().unwrap();
    let m = c.metrics().unwrap();
    let group = |name: &str| m.groups.iter().find(|g| g.group == name).unwrap();
    assert_eq!((group("12-17").reached, group("12-17").ideas), (300, 0));
    assert_eq!((group("18-64").reached, group("18-64").ideas), (0, 3));
    assert_eq!((group("65+").reached, group("65+").ideas), (0, 0));
    assert_eq!(m.outreach_reached, 800 + 300);

    let mut outreach = at::<medborgarbudget::process::stage::Outreach>();
    for groups in [
        vec![TargetGroup::new("age", "30-44")],
        vec![TargetGroup::new("language", "12-17")],
        vec![
            TargetGroup::new("age", "65+"),
            TargetGroup::new("age", "65+"),
        ],
    ] {
        let before = outreach.clone();
        let err = outreach
            .record_outreach(OutreachActivity {
                groups,
                ..activity()
            })
            .unwrap_err();
        assert!(matches!(err, CycleError::OutreachGroup { .. }), "{err}");
        assert_eq!(outreach, before, "a refused command changes nothing");
    }
}
