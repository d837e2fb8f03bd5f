//! Council decisions on the record: exclusion groups and a minimum number of
//! votes that every rule respects, and a council's adjustment of the counted
//! outcome kept beside the count, replayed through the same rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::NaiveDate;
use medborgarbudget::ballot::{BallotKind, BallotRules, Choices, Counting};
use medborgarbudget::ids::ProjectId;
use medborgarbudget::money::Money;
use medborgarbudget::process::{
    Adjustment, AnyCycle, Command, CouncilDecision, CycleError, Event, ExclusionGroup, ReplayError,
    SetAside, SetAsideReason, Step,
};
use medborgarbudget::project::Milestone;
use medborgarbudget::report::Report;
use medborgarbudget::tally::{Rule, TieBreaking};
use proptest::prelude::*;

use crate::common::*;

fn group(projects: &[u128]) -> ExclusionGroup {
    ExclusionGroup {
        projects: projects.iter().map(|&n| project_id(n)).collect(),
        reason: "Two designs for the same square".into(),
    }
}

fn council() -> CouncilDecision {
    CouncilDecision {
        body: "Stadsdelsnämnden".into(),
        reference: "SDN § 88/2026".into(),
        decided_on: NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
    }
}

fn adjustment(add: &[u128], remove: &[u128], raise: Option<i64>) -> Adjustment {
    Adjustment {
        part: None,
        add: add.iter().map(|&n| project_id(n)).collect(),
        remove: remove.iter().map(|&n| project_id(n)).collect(),
        reason: "The school yard needs it before the renovation".into(),
        decision: council(),
        raises_budget_by: raise.map(sek),
        at: day(80),
    }
}

/// The fixture year with `extra` commands in step 4 (before voting opens) and
/// `later` ones right after the count, run up to `until`; its log.
fn year_with(
    rules: BallotRules,
    extra: &[Command],
    later: &[Command],
    until: Step,
) -> (AnyCycle, Vec<Event>) {
    let mut cycle = AnyCycle::from(medborgarbudget::process::Cycle::new(setup()));
    let mut events = vec![Event::CycleStarted(setup())];
    for command in year_commands(rules) {
        let opens = matches!(command, Command::OpenVoting { .. });
        let counts = matches!(command, Command::CloseVoting { .. });
        let follows =
            matches!(command, Command::AddCoCreator { .. }) && cycle.step() == Step::Implementation;
        if follows && until == Step::Implementation {
            break;
        }
        if opens {
            for c in extra {
                events.extend(cycle.apply(c.clone()).unwrap());
            }
        }
        events.extend(cycle.apply(command).unwrap());
        if counts {
            for c in later {
                events.extend(cycle.apply(c.clone()).unwrap());
            }
        }
    }
    (cycle, events)
}

fn funded(cycle: &AnyCycle) -> Vec<ProjectId> {
    cycle.funded().unwrap()
}

fn ids(ns: &[u128]) -> Vec<ProjectId> {
    ns.iter().map(|&n| project_id(n)).collect()
}

#[test]
fn a_group_funds_the_rules_first_choice_and_the_rest_of_the_money_goes_on() {
    // Greedy funds 1 (10 votes) and 2 (6) without the group; with 1 and 2
    // excluding each other, 2 is left out and 3 (300 000) fits.
    let (cycle, events) = year_with(
        approval_rules(),
        &[Command::DeclareExclusion(group(&[1, 2]))],
        &[],
        Step::Implementation,
    );
    let decision = cycle.decision().unwrap();
    assert_eq!(decision.funded, ids(&[1, 3]));
    assert_eq!(
        decision.set_aside,
        [SetAside {
            project: project_id(2),
            reason: SetAsideReason::Excluded {
                chosen: project_id(1)
            }
        }]
    );
    // Scores stay each project's votes on the whole ballots.
    let scores: Vec<u64> = decision.scores.iter().map(|s| s.score).collect();
    assert_eq!(scores, [10, 6, 3]);
    assert_eq!(AnyCycle::replay(events).unwrap(), cycle);
}

#[test]
fn every_rule_respects_exclusion_groups_and_the_minimum() {
    for rule in [
        "greedy",
        "greedy-no-skip",
        "mes",
        "mes-add1",
        "mes-greedy",
        "phragmen",
        "phragmen-skip",
        "max-welfare",
        "maximin-support",
    ] {
        let rule: Rule = rule.parse().unwrap();
        let rules = BallotRules::builder(BallotKind::Approval)
            .max_projects(3)
            .minimum_votes(4)
            .counting(Counting {
                rule: rule.clone(),
                tie_breaking: TieBreaking::by_project_id(),
            })
            .build()
            .unwrap();
        let (cycle, events) = year_with(
            rules,
            &[Command::DeclareExclusion(group(&[1, 2]))],
            &[],
            Step::Implementation,
        );
        let decision = cycle.decision().unwrap();
        let f = &decision.funded;
        assert!(
            !(f.contains(&project_id(1)) && f.contains(&project_id(2))),
            "{rule}: {f:?}"
        );
        // Project 3 has three votes, under the minimum of four.
        assert!(!f.contains(&project_id(3)), "{rule}: {f:?}");
        assert!(
            decision.set_aside.contains(&SetAside {
                project: project_id(3),
                reason: SetAsideReason::TooFewVotes {
                    votes: 3,
                    minimum: 4
                }
            }),
            "{rule}: {:?}",
            decision.set_aside
        );
        assert_eq!(AnyCycle::replay(events).unwrap(), cycle, "{rule}");
    }
}

#[test]
fn a_minimum_number_of_votes_leaves_a_project_out_before_counting() {
    // Without the minimum greedy funds 1 and 2; with seven votes needed, 2
    // (six votes) never runs and 3 is funded in its place... but 3 has three
    // votes, so it is left out too.
    let rules = BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .minimum_votes(7)
        .build()
        .unwrap();
    let (cycle, _) = year_with(rules, &[], &[], Step::Implementation);
    let decision = cycle.decision().unwrap();
    assert_eq!(decision.funded, ids(&[1]));
    let aside: Vec<(ProjectId, u64)> = decision
        .set_aside
        .iter()
        .map(|s| match s.reason {
            SetAsideReason::TooFewVotes { votes, minimum } => {
                assert_eq!(minimum, 7);
                (s.project, votes)
            }
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(aside, [(project_id(2), 6), (project_id(3), 3)]);

    // Zero is refused when written, naming what is wrong.
    let zero = BallotRules::builder(BallotKind::Approval)
        .minimum_votes(0)
        .build();
    assert!(zero.unwrap_err().to_string().contains("at least 1"));
    let json = r#"{"kind":"approval","min_projects":1,"minimum_votes":0}"#;
    assert!(serde_json::from_str::<BallotRules>(json).is_err());
}

#[test]
fn an_exclusion_group_is_checked_when_declared() {
    let mut cycle = AnyCycle::from(shortlisting_cycle());
    let before = cycle.clone();
    let refused = |cycle: &mut AnyCycle, g: ExclusionGroup| {
        cycle.apply(Command::DeclareExclusion(g)).unwrap_err()
    };
    assert!(matches!(
        refused(&mut cycle, group(&[1])),
        CycleError::ExclusionTooSmall { projects: 1 }
    ));
    assert!(matches!(
        refused(&mut cycle, group(&[1, 2, 1])),
        CycleError::ProjectRepeated { project, .. } if project == project_id(1)
    ));
    assert!(matches!(
        refused(&mut cycle, group(&[1, 9])),
        CycleError::UnknownProject { project } if project == project_id(9)
    ));
    let mut no_reason = group(&[1, 2]);
    no_reason.reason = " ".into();
    assert!(matches!(
        refused(&mut cycle, no_reason),
        CycleError::EmptyText { .. }
    ));
    assert_eq!(cycle, before, "a refused declaration changes nothing");
    cycle
        .apply(Command::WithdrawProject {
            project: project_id(3),
            reason: "The site is sold".into(),
        })
        .unwrap();
    assert!(matches!(
        refused(&mut cycle, group(&[1, 3])),
        CycleError::Withdrawn { project } if project == project_id(3)
    ));
    // Only in step 4.
    let mut voting = AnyCycle::from(voting_cycle());
    assert!(matches!(
        refused(&mut voting, group(&[1, 2])),
        CycleError::NotInThisStep { .. }
    ));
}

#[test]
fn an_adjustment_keeps_the_count_and_funds_within_the_raised_budget() {
    // Counted: 1 and 2, 900 000 of 1 000 000. Adding 3 (300 000) needs more.
    let mut cycle = AnyCycle::from(implementation_cycle());
    let before = cycle.clone();
    let over = cycle
        .apply(Command::AdjustOutcome(adjustment(&[3], &[], None)))
        .unwrap_err();
    assert!(
        matches!(over, CycleError::AdjustedOverBudget { total_cost, budget }
            if total_cost == sek(1_200_000) && budget == sek(1_000_000)),
        "{over:?}"
    );
    assert_eq!(cycle, before);
    let events = cycle
        .apply(Command::AdjustOutcome(adjustment(&[3], &[], Some(200_000))))
        .unwrap();
    assert_eq!(
        events,
        [Event::Accepted(Command::AdjustOutcome(adjustment(
            &[3],
            &[],
            Some(200_000)
        )))]
    );
    assert_eq!(funded(&cycle), ids(&[1, 2, 3]));
    assert_eq!(
        cycle.decision().unwrap().funded,
        ids(&[1, 2]),
        "the count stands"
    );
    assert_eq!(cycle.budget().unwrap(), sek(1_200_000));
    assert_eq!(cycle.adjustments().len(), 1);

    // Then removing 2 (no work on it yet) and adding nothing more.
    cycle
        .apply(Command::AdjustOutcome(adjustment(&[], &[2], None)))
        .unwrap();
    assert_eq!(funded(&cycle), ids(&[1, 3]));
    let two = cycle
        .projects()
        .iter()
        .find(|p| p.id() == project_id(2))
        .unwrap();
    assert!(two.delivery().is_none(), "a removed project is not funded");
}

#[test]
fn an_adjustment_without_a_decision_or_that_breaks_a_rule_is_refused() {
    let base = AnyCycle::from(implementation_cycle());
    let refuse = |a: Adjustment| {
        let mut cycle = base.clone();
        let error = cycle.apply(Command::AdjustOutcome(a)).unwrap_err();
        assert_eq!(cycle, base, "a refused adjustment changes nothing");
        error
    };
    let mut no_body = adjustment(&[], &[2], None);
    no_body.decision.body = String::new();
    assert!(matches!(
        refuse(no_body),
        CycleError::EmptyText {
            field: "the deciding body"
        }
    ));
    let mut no_reference = adjustment(&[], &[2], None);
    no_reference.decision.reference = "  ".into();
    assert!(matches!(
        refuse(no_reference),
        CycleError::EmptyText {
            field: "the decision's reference"
        }
    ));
    let mut no_reason = adjustment(&[], &[2], None);
    no_reason.reason = String::new();
    assert!(matches!(refuse(no_reason), CycleError::EmptyText { .. }));
    assert!(matches!(
        refuse(adjustment(&[], &[], None)),
        CycleError::EmptyAdjustment
    ));
    assert!(matches!(
        refuse(adjustment(&[3], &[3], Some(1))),
        CycleError::ProjectRepeated { .. }
    ));
    assert!(matches!(
        refuse(adjustment(&[1], &[], None)),
        CycleError::AlreadyFunded { project } if project == project_id(1)
    ));
    assert!(matches!(
        refuse(adjustment(&[], &[3], None)),
        CycleError::NotFunded { project } if project == project_id(3)
    ));
    assert!(matches!(
        refuse(adjustment(&[9], &[], None)),
        CycleError::UnknownProject { .. }
    ));
    assert!(matches!(
        refuse(adjustment(&[3], &[], Some(0))),
        CycleError::NotPositive { .. }
    ));
    let mut early = adjustment(&[], &[2], None);
    early.at = day(70);
    assert!(matches!(refuse(early), CycleError::BeforeStep { .. }));
    let mut euros = adjustment(&[3], &[], None);
    euros.raises_budget_by = Some(Money::new(1, medborgarbudget::money::Currency::EUR));
    assert!(matches!(refuse(euros), CycleError::WrongCurrency { .. }));

    // Work on the record: cancel instead.
    let mut begun = base.clone();
    begun
        .apply(Command::RecordMilestone {
            project: project_id(2),
            milestone: Milestone {
                title: "Drawings".into(),
                reached_on: date(2026, 4, 1),
            },
        })
        .unwrap();
    let error = begun
        .apply(Command::AdjustOutcome(adjustment(&[], &[2], None)))
        .unwrap_err();
    assert!(matches!(error, CycleError::DeliveryBegun { project } if project == project_id(2)));

    // Only in step 6.
    let mut follow_up = AnyCycle::from(follow_up_cycle());
    assert!(matches!(
        follow_up
            .apply(Command::AdjustOutcome(adjustment(&[3], &[], Some(300_000))))
            .unwrap_err(),
        CycleError::NotInThisStep { .. }
    ));
}

#[test]
fn an_adjustment_respects_exclusion_groups() {
    // 2 and 3 exclude each other: greedy funds 1 and 2 (3 would not fit
    // anyway), and the council cannot add 3 beside 2.
    let (cycle, _) = year_with(
        approval_rules(),
        &[Command::DeclareExclusion(group(&[2, 3]))],
        &[],
        Step::Implementation,
    );
    assert_eq!(cycle.decision().unwrap().funded, ids(&[1, 2]));
    let mut adjusted = cycle.clone();
    let error = adjusted
        .apply(Command::AdjustOutcome(adjustment(&[3], &[], Some(300_000))))
        .unwrap_err();
    assert!(
        matches!(&error, CycleError::Excludes { first, second, .. }
            if *first == project_id(2) && *second == project_id(3)),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Two designs for the same square")
    );
    // Swapping 2 for 3 is allowed.
    adjusted
        .apply(Command::AdjustOutcome(adjustment(&[3], &[2], None)))
        .unwrap();
    assert_eq!(funded(&adjusted), ids(&[1, 3]));
}

#[test]
fn replay_checks_the_count_and_then_the_adjustment() {
    // The council adds 3 with the money for it; it is cancelled later, and
    // the year runs to the end.
    let (cycle, events) = year_with(
        approval_rules(),
        &[],
        &[
            Command::AdjustOutcome(adjustment(&[3], &[], Some(300_000))),
            Command::CancelProject {
                project: project_id(3),
                reason: "The site was sold".into(),
                spent: sek(20_000),
                at: day(100),
            },
        ],
        Step::Closed,
    );
    assert_eq!(cycle.step(), Step::Closed, "the year runs to the end");
    assert_eq!(funded(&cycle), ids(&[1, 2, 3]));
    assert_eq!(AnyCycle::replay(events.clone()).unwrap(), cycle);

    // A group declared in the log that the recorded count breaks: the count
    // is refused on replay.
    let opens = events
        .iter()
        .position(|e| matches!(e, Event::Accepted(Command::OpenVoting { .. })))
        .unwrap();
    let mut forged = events.clone();
    forged.insert(
        opens,
        Event::Accepted(Command::DeclareExclusion(group(&[1, 2]))),
    );
    match AnyCycle::replay(forged) {
        Err(ReplayError::Rejected { event, .. }) => assert_eq!(event, "voting_closed"),
        other => panic!("expected the count to be refused, got {other:?}"),
    }

    // An adjustment over the budget slipped into the log is refused, named.
    let adjusts = events
        .iter()
        .position(|e| matches!(e, Event::Accepted(Command::AdjustOutcome(_))))
        .unwrap();
    let mut forged = events.clone();
    forged[adjusts] = Event::Accepted(Command::AdjustOutcome(adjustment(&[3], &[], None)));
    match AnyCycle::replay(forged) {
        Err(ReplayError::Rejected {
            index,
            event,
            source: CycleError::AdjustedOverBudget { .. },
        }) => assert_eq!((index, event), (adjusts, "adjust_outcome")),
        other => panic!("expected the adjustment to be refused, got {other:?}"),
    }

    // A recorded count that leaves out a project with too few votes it does
    // not name is refused.
    let counted = events
        .iter()
        .position(|e| matches!(e, Event::VotingClosed(_)))
        .unwrap();
    let mut forged = events;
    if let Event::VotingClosed(d) = &mut forged[counted] {
        d.set_aside.push(SetAside {
            project: project_id(1),
            reason: SetAsideReason::TooFewVotes {
                votes: 10,
                minimum: 11,
            },
        });
    }
    assert!(AnyCycle::replay(forged).is_err());
}

#[test]
fn the_report_shows_the_counted_and_the_adjusted_outcome_side_by_side() {
    let rules = BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .minimum_votes(4)
        .build()
        .unwrap();
    let (cycle, _) = year_with(
        rules,
        &[Command::DeclareExclusion(group(&[2, 3]))],
        &[Command::AdjustOutcome(adjustment(&[3], &[2], None))],
        Step::Implementation,
    );
    let html = Report::cycle(&cycle).unwrap().to_html();
    assert!(html.contains("<th>Counted (greedy)</th><th>Funded after the council</th>"));
    assert!(
        html.contains("The council&#39;s adjustments")
            || html.contains("The council's adjustments")
    );
    assert!(html.contains("Stadsdelsnämnden SDN § 88/2026"));
    assert!(html.contains("added “Project 3”; removed “Project 2”"));
    // The count's own totals and the council's.
    assert!(html.contains("too few votes (3; the rules ask for 4)"));
    assert!(html.contains("900\u{202F}000.00\u{A0}SEK"));
    assert!(html.contains("700\u{202F}000.00\u{A0}SEK"));

    // Without an adjustment, one funded column as before.
    let plain = Report::cycle(&AnyCycle::from(closed_cycle()))
        .unwrap()
        .to_html();
    assert!(!plain.contains("Funded after the council"));
    assert!(plain.contains("<th>Funded (greedy)</th>"));
}

#[test]
fn commands_read_from_json_refuse_unknown_fields() {
    let good =
        serde_json::to_string(&Command::AdjustOutcome(adjustment(&[3], &[], Some(5)))).unwrap();
    let back: Command = serde_json::from_str(&good).unwrap();
    assert_eq!(back, Command::AdjustOutcome(adjustment(&[3], &[], Some(5))));
    let typo = good.replace("\"remove\"", "\"removed\"");
    let error = serde_json::from_str::<Command>(&typo)
        .unwrap_err()
        .to_string();
    assert!(error.contains("removed"), "{error}");
    let typo = r#"{"declare_exclusion":{"projects":[],"reason":"x","why":"y"}}"#;
    let error = serde_json::from_str::<Command>(typo)
        .unwrap_err()
        .to_string();
    assert!(error.contains("why"), "{error}");
}

/// Greedy with a group: projects by votes (ties by id as text), each funded
/// if it fits and no project of its group is funded.
fn constrained_greedy(
    costs: &[u64],
    votes: &[u64],
    budget: u64,
    groups: &[Vec<usize>],
    minimum: u64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).filter(|&i| votes[i] >= minimum).collect();
    order.sort_by(|&a, &b| {
        votes[b].cmp(&votes[a]).then(
            project_id(a as u128 + 1)
                .to_string()
                .cmp(&project_id(b as u128 + 1).to_string()),
        )
    });
    let mut left = budget;
    let mut funded: Vec<usize> = Vec::new();
    for i in order {
        let blocked = groups
            .iter()
            .any(|g| g.contains(&i) && funded.iter().any(|f| g.contains(f)));
        if costs[i] <= left && !blocked {
            left -= costs[i];
            funded.push(i);
        }
    }
    funded
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// On random ballots, groups and minimums: greedy under the recount
    /// procedure equals greedy that skips a project whose group is funded,
    /// and every rule funds at most one project of each group.
    #[test]
    fn the_count_respects_groups_like_a_rule_that_knows_them(
        approvals in prop::collection::vec(prop::collection::vec(0usize..3, 1..=3), 1..25),
        in_group in prop::collection::vec(any::<bool>(), 3),
        minimum in 1u32..5,
    ) {
        let members: Vec<u128> = (1..=3u128).filter(|&n| in_group[n as usize - 1]).collect();
        let extra: Vec<Command> = if members.len() >= 2 {
            vec![Command::DeclareExclusion(group(&members))]
        } else {
            Vec::new()
        };
        for rule in ["greedy", "mes", "phragmen", "max-welfare"] {
            let rules = BallotRules::builder(BallotKind::Approval)
                .max_projects(3)
                .minimum_votes(minimum)
                .counting(Counting { rule: rule.parse().unwrap(), tie_breaking: TieBreaking::by_project_id() })
                .build()
                .unwrap();
            let mut cycle = AnyCycle::from(shortlisting_cycle_with(rules));
            for c in &extra {
                cycle.apply(c.clone()).unwrap();
            }
            cycle.apply(Command::OpenVoting { window: window(), at: day(60) }).unwrap();
            let mut votes = [0u64; 3];
            for (v, choice) in approvals.iter().enumerate() {
                let mut ps: Vec<usize> = choice.clone();
                ps.sort_unstable();
                ps.dedup();
                for &p in &ps {
                    votes[p] += 1;
                }
                let v = v as u128;
                cycle.apply(Command::CastBallot(ballot(
                    v + 1,
                    resident(100 + v),
                    Choices::Approval(ps.iter().map(|&p| project_id(p as u128 + 1)).collect()),
                ))).unwrap();
            }
            let mut log_cycle = cycle.clone();
            cycle.apply(Command::CloseVoting { at: day(75) }).unwrap();
            let decision = cycle.decision().unwrap();
            let funded: Vec<usize> = decision
                .funded
                .iter()
                .map(|p| (1..=3).find(|&n| project_id(n) == *p).unwrap() as usize - 1)
                .collect();
            let in_members = funded.iter().filter(|&&i| members.contains(&(i as u128 + 1))).count();
            prop_assert!(members.len() < 2 || in_members <= 1, "{rule}: {funded:?}");
            for &i in &funded {
                prop_assert!(votes[i] >= u64::from(minimum), "{rule}: {funded:?} {votes:?}");
            }
            if rule == "greedy" {
                let groups: Vec<Vec<usize>> = if members.len() >= 2 {
                    vec![members.iter().map(|&n| n as usize - 1).collect()]
                } else {
                    Vec::new()
                };
                let costs = [400_000u64 * 100, 500_000 * 100, 300_000 * 100];
                let expected = constrained_greedy(&costs, &votes, 1_000_000 * 100, &groups, u64::from(minimum));
                prop_assert_eq!(&funded, &expected);
            }
            // The recorded decision replays.
            log_cycle.apply_event(Event::VotingClosed(decision.clone())).unwrap();
            prop_assert_eq!(&log_cycle, &cycle);
        }
    }
}
