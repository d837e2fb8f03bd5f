//! Delivery across years: a funded project still being built when its year
//! ends is handed over to the programme, which records the rest of its
//! delivery; the programme concludes only when every such project is
//! completed or cancelled, and the credibility report counts it in its year.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::common::*;
use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::process::{
    AnyCycle, Command, CycleError, DeliveryUpdate, Programme, ProgrammeCommand, ProgrammeError,
    Step,
};
use medborgarbudget::project::{DeliveryStatus, HandOver, Milestone, Progress};

fn hand_over(year: i32) -> HandOver {
    HandOver {
        planned_completion: date(year + 1, 6, 30),
        reason: "The ground must settle over the winter".into(),
        at: yday(year, 290),
    }
}

/// Year 1 of the shared programme: project 1 completed at 390 000, project 2
/// (500 000) handed over, then followed up and closed.
fn first_year_hands_over() -> Run {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    for n in [1, 2] {
        r.cmd(
            FIRST,
            Command::AddCoCreator {
                project: project_id(n),
                resident: resident(900),
            },
        );
    }
    r.cmd(
        FIRST,
        Command::CompleteProject {
            project: project_id(1),
            final_cost: sek(390_000),
            at: yday(FIRST, 300),
        },
    );
    // The gate waits for project 2 until it is handed over.
    let early = r.try_cmd(
        FIRST,
        Command::BeginFollowUp {
            at: yday(FIRST, 310),
        },
    );
    assert!(early.is_err(), "{early:?}");
    r.cmd(
        FIRST,
        Command::HandOver {
            project: project_id(2),
            hand_over: hand_over(FIRST),
        },
    );
    // The cycle takes no more records of it.
    let refused = r
        .try_cmd(
            FIRST,
            Command::RecordProgress {
                project: project_id(2),
                progress: Progress::new(50).unwrap(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(refused, ProgrammeError::Cycle { source: CycleError::HandedOver { project }, .. } if project == project_id(2)),
        "{refused:?}"
    );
    r.cmd(
        FIRST,
        Command::BeginFollowUp {
            at: yday(FIRST, 310),
        },
    );
    let metrics = CycleMetrics::of(r.p.cycle(FIRST).unwrap()).unwrap();
    assert_eq!(metrics.in_progress, 1);
    r.cmd(FIRST, Command::Close(r.evaluation(FIRST, &metrics)));
    r
}

fn update(r: &mut Run, update: DeliveryUpdate) -> Result<(), ProgrammeError> {
    r.apply(ProgrammeCommand::Delivery {
        year: FIRST,
        project: project_id(2),
        update,
    })
}

#[test]
fn a_project_handed_over_is_completed_in_year_two_and_the_report_counts_it() {
    let mut r = first_year_hands_over();
    assert_eq!(r.p.cycle(FIRST).unwrap().step(), Step::Closed);
    let ongoing = &r.p.deliveries()[0];
    assert_eq!((ongoing.year, ongoing.project), (FIRST, project_id(2)));
    assert_eq!(ongoing.status, DeliveryStatus::InProgress);
    assert_eq!(ongoing.estimate, sek(500_000));
    assert_eq!(
        ongoing.co_creators.len(),
        1,
        "the cycle's co-creators come along"
    );
    // Its estimate stays committed: 1 000 000 − 390 000 − 500 000 carries over.
    assert_eq!(r.p.carry_over()[0].amount, sek(110_000));

    // Year 2 runs; the project is reported on through it.
    r.run_to_implementation(FIRST + 1);
    update(
        &mut r,
        DeliveryUpdate::RevisePlan {
            planned_completion: date(FIRST + 1, 9, 1),
            reason: "The contractor was delayed".into(),
            at: yday(FIRST + 1, 80),
        },
    )
    .unwrap();
    update(
        &mut r,
        DeliveryUpdate::ReviseCost {
            estimate: sek(520_000),
            reason: "Steel costs rose".into(),
            at: yday(FIRST + 1, 81),
        },
    )
    .unwrap();
    update(
        &mut r,
        DeliveryUpdate::Milestone {
            milestone: Milestone {
                title: "Foundations poured with the residents' association".into(),
                reached_on: date(FIRST + 1, 4, 1),
            },
            at: yday(FIRST + 1, 82),
        },
    )
    .unwrap();
    // An update dated before the last record is refused, naming both times.
    let late = update(
        &mut r,
        DeliveryUpdate::Progress {
            progress: Progress::new(60).unwrap(),
            at: yday(FIRST + 1, 70),
        },
    )
    .unwrap_err();
    assert!(
        matches!(late, ProgrammeError::DeliveryOutOfOrder { .. }),
        "{late:?}"
    );
    r.finish(FIRST + 1, [400_000, 500_000]);
    // Not concludable while it is being built.
    r.run_to_implementation(FIRST + 2);
    r.finish(FIRST + 2, [350_000, 500_000]);
    assert_eq!(
        r.p.clone().conclude(yday(FIRST + 3, 0)).unwrap_err(),
        ProgrammeError::DeliveriesUnfinished {
            unfinished: vec![(FIRST, project_id(2))]
        }
    );
    update(
        &mut r,
        DeliveryUpdate::Complete {
            final_cost: sek(515_000),
            at: yday(FIRST + 2, 200),
        },
    )
    .unwrap();
    let again = update(
        &mut r,
        DeliveryUpdate::Cancel {
            reason: "Too late".into(),
            spent: sek(0),
            at: yday(FIRST + 2, 201),
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            again,
            ProgrammeError::Delivery { ref source, .. } if matches!(**source, CycleError::AlreadyFinished { .. })
        ),
        "{again:?}"
    );
    let done = &r.p.deliveries()[0];
    assert_eq!(
        done.history.len(),
        4,
        "the status history: plan, cost, milestone, completion"
    );
    assert_eq!(done.planned_completion, date(FIRST + 1, 9, 1));
    assert_eq!(done.estimate, sek(520_000));

    r.apply(ProgrammeCommand::Conclude {
        at: yday(FIRST + 3, 0),
    })
    .unwrap();
    let report = r.p.report().unwrap();
    let first = &report.years[0];
    assert_eq!((first.funded, first.completed, first.cancelled), (2, 2, 0));
    assert_eq!(first.finished_later, 1);
    assert_eq!(first.spent, sek(390_000 + 515_000));
    assert!(report.credible);

    // The whole log replays to the same programme.
    assert_eq!(Programme::replay(r.events.clone()).unwrap(), r.p);

    // The programme's report lists it with its plan as first made and now.
    let html = medborgarbudget::report::Report::programme(&r.p)
        .unwrap()
        .to_html();
    assert!(html.contains("<h2>Projects built across years</h2>"));
    assert!(html.contains(&format!(
        "{} → {}",
        date(FIRST + 1, 6, 30),
        date(FIRST + 1, 9, 1)
    )));
    assert!(html.contains(&format!("completed {}", yday(FIRST + 2, 200).date_naive())));
}

#[test]
fn deliveries_are_checked_like_the_cycle_checks_them() {
    let mut r = first_year_hands_over();
    let refuse = |r: &mut Run, u: DeliveryUpdate| {
        let before = r.p.clone();
        let e = update(r, u).unwrap_err();
        assert_eq!(r.p, before, "a refused update changes nothing");
        e
    };
    let at = yday(FIRST + 1, 10);
    let e = refuse(
        &mut r,
        DeliveryUpdate::ReviseCost {
            estimate: sek(-1),
            reason: "x".into(),
            at,
        },
    );
    assert!(matches!(
        e,
        ProgrammeError::Delivery { ref source, .. } if matches!(**source, CycleError::Negative { .. })
    ));
    let e = refuse(
        &mut r,
        DeliveryUpdate::RevisePlan {
            planned_completion: date(FIRST, 1, 1),
            reason: "x".into(),
            at,
        },
    );
    assert!(matches!(
        e,
        ProgrammeError::Delivery { ref source, .. } if matches!(**source, CycleError::PlannedInThePast { .. })
    ));
    let e = refuse(
        &mut r,
        DeliveryUpdate::Cancel {
            reason: " ".into(),
            spent: sek(0),
            at,
        },
    );
    assert!(matches!(
        e,
        ProgrammeError::Delivery { ref source, .. } if matches!(**source, CycleError::EmptyText { .. })
    ));
    let e = refuse(
        &mut r,
        DeliveryUpdate::CoCreator {
            resident: resident(900),
            at,
        },
    );
    assert!(matches!(
        e,
        ProgrammeError::Delivery { ref source, .. } if matches!(**source, CycleError::ResidentTwice { .. })
    ));
    // A project no year handed over.
    let e = r
        .apply(ProgrammeCommand::Delivery {
            year: FIRST,
            project: project_id(1),
            update: DeliveryUpdate::Progress {
                progress: Progress::new(10).unwrap(),
                at,
            },
        })
        .unwrap_err();
    assert_eq!(
        e,
        ProgrammeError::NoDelivery {
            year: FIRST,
            project: project_id(1)
        }
    );
    // Cancelled with what was spent: the year's figures count it.
    update(
        &mut r,
        DeliveryUpdate::Cancel {
            reason: "The site was sold".into(),
            spent: sek(30_000),
            at,
        },
    )
    .unwrap();
    assert!(r.p.deliveries()[0].is_finished());
    // What the year held back (500 000) and the project did not spend
    // carries over, waiting for the next year to start.
    let released = r.p.carry_over().last().unwrap();
    assert_eq!(
        (released.from_year, released.amount, released.credited_to),
        (FIRST, sek(470_000), None)
    );
    assert_eq!(Programme::replay(r.events.clone()).unwrap(), r.p);
    r.start(FIRST + 1).unwrap();
    let AnyCycle::Criteria(next) = r.p.cycle(FIRST + 1).unwrap() else {
        panic!("step 1")
    };
    assert!(next.additions().iter().any(|a| a.amount == sek(470_000)));
}

#[test]
fn a_cycle_outside_a_programme_cannot_hand_a_project_over() {
    let mut cycle = AnyCycle::from(implementation_cycle());
    let before = cycle.clone();
    let e = cycle
        .apply(Command::HandOver {
            project: project_id(1),
            hand_over: hand_over(2026),
        })
        .unwrap_err();
    assert!(matches!(e, CycleError::NoProgramme { .. }), "{e:?}");
    assert_eq!(cycle, before);
}

#[test]
fn a_hand_over_needs_a_reason_and_a_plan_not_in_the_past() {
    let mut r = Run::new(3, true);
    r.run_to_implementation(FIRST);
    let mut past = hand_over(FIRST);
    past.planned_completion = date(FIRST, 1, 1);
    let e = r
        .try_cmd(
            FIRST,
            Command::HandOver {
                project: project_id(2),
                hand_over: past,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProgrammeError::Cycle {
                source: CycleError::PlannedInThePast { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let mut blank = hand_over(FIRST);
    blank.reason = String::new();
    let e = r
        .try_cmd(
            FIRST,
            Command::HandOver {
                project: project_id(2),
                hand_over: blank,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProgrammeError::Cycle {
                source: CycleError::EmptyText { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // Not a project the count left unfunded.
    let e = r
        .try_cmd(
            FIRST,
            Command::HandOver {
                project: project_id(3),
                hand_over: hand_over(FIRST),
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProgrammeError::Cycle {
                source: CycleError::NotFunded { .. },
                ..
            }
        ),
        "{e:?}"
    );
}
