//! Every ballot rule and voting rule through `Cycle<Voting>`: each refused
//! ballot names the broken rule and leaves the cycle unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use crate::common::*;
use medborgarbudget::area::{Ineligible, Resident};
use medborgarbudget::ballot::{
    BallotError, BallotKind, BallotRules, BallotSubmission, Channel, Choices, Counting, PaperBatch,
    SecondBallot,
};
use medborgarbudget::ids::{AreaId, BallotId, ProjectId, ResidentId};
use medborgarbudget::process::stage::Voting;
use medborgarbudget::process::{
    AnyCycle, Command, Cycle, CycleError, ProjectScore, Snapshot, Step,
};
use medborgarbudget::tally::{Greedy, Rule, TallyError, TieBreaking};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Runs a command that must be refused; checks that nothing changed.
#[track_caller]
fn rejected<C>(cycle: &mut C, command: impl FnOnce(&mut C) -> Result<(), CycleError>) -> CycleError
where
    C: Clone + PartialEq + Debug,
{
    let before = cycle.clone();
    let error = command(cycle).expect_err("the command should have been refused");
    assert_eq!(*cycle, before, "a refused command changes nothing");
    error
}

/// Casts a ballot that must be refused; returns the error.
#[track_caller]
fn refuses(cycle: &mut Cycle<Voting>, ballot: BallotSubmission) -> CycleError {
    rejected(cycle, |c| c.cast_ballot(ballot))
}

/// The error a ballot breaking a ballot rule gives.
fn broken(ballot: u128, source: BallotError) -> CycleError {
    CycleError::Ballot {
        ballot: BallotId::from_u128(ballot),
        source,
    }
}

fn p(n: u128) -> ProjectId {
    project_id(n)
}

fn approve(ns: &[u128]) -> Choices {
    Choices::Approval(ns.iter().map(|&n| p(n)).collect())
}

fn points(ps: &[(u128, u32)]) -> Choices {
    Choices::Points(ps.iter().map(|&(n, v)| (p(n), v)).collect())
}

fn rank(ns: &[u128]) -> Choices {
    Choices::Ranking(ns.iter().map(|&n| p(n)).collect())
}

/// Voting on projects 1–3 (400 000, 500 000, 300 000 SEK; budget 1 000 000)
/// under `rules`.
fn voting_with(rules: BallotRules) -> Cycle<Voting> {
    shortlisting_cycle_with(rules)
        .open_voting(window(), day(60))
        .unwrap()
}

fn replacing() -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .second_ballot(SecondBallot::Replace)
        .build()
        .unwrap()
}

fn cast_at(
    n: u128,
    voter: Resident,
    choices: Choices,
    at: chrono::DateTime<chrono::Utc>,
) -> BallotSubmission {
    BallotSubmission {
        cast_at: at,
        ..ballot(n, voter, choices)
    }
}

const OFFICIAL: &str = "Valnämndens kansli, K. Andersson";

fn batch(ballots: Vec<BallotSubmission>) -> PaperBatch {
    PaperBatch {
        entered_by: OFFICIAL.into(),
        entered_at: day(62),
        ballots,
    }
}

fn paper_refused(index: usize, source: CycleError) -> CycleError {
    CycleError::PaperBallot {
        index,
        source: Box::new(source),
    }
}

fn ids(c: &Cycle<Voting>) -> Vec<BallotId> {
    c.ballots().iter().map(|b| b.id()).collect()
}

fn bid(n: u128) -> BallotId {
    BallotId::from_u128(n)
}

// ---------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------

#[test]
fn approval_ballots_respect_min_and_max_projects() {
    let rules = BallotRules::builder(BallotKind::Approval)
        .min_projects(2)
        .max_projects(2)
        .build()
        .unwrap();
    let mut c = voting_with(rules);
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1]))),
        broken(1, BallotError::TooFewProjects { chosen: 1, min: 2 })
    );
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1, 2, 3]))),
        broken(1, BallotError::TooManyProjects { chosen: 3, max: 2 })
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 3])))
        .unwrap();
    assert_eq!(c.ballots().len(), 1);
}

#[test]
fn an_empty_approval_ballot_is_too_few_projects() {
    let mut c = voting_cycle(); // min 1 (default), max 3
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[]))),
        broken(1, BallotError::TooFewProjects { chosen: 0, min: 1 })
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 2, 3])))
        .unwrap();
}

// ---------------------------------------------------------------------------
// Knapsack
// ---------------------------------------------------------------------------

fn knapsack() -> BallotRules {
    BallotRules::builder(BallotKind::Knapsack)
        .max_total_cost(sek(800_000))
        .min_budget_share(5_000)
        .build()
        .unwrap()
}

#[test]
fn knapsack_ballots_stay_within_the_cost_limit() {
    let mut c = voting_with(knapsack());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1, 2]))),
        broken(
            1,
            BallotError::OverCostLimit {
                total: sek(900_000),
                limit: sek(800_000)
            }
        )
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[2, 3])))
        .unwrap(); // exactly 800 000
}

#[test]
fn knapsack_ballots_use_the_minimum_share_of_the_budget() {
    let mut c = voting_with(knapsack());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[3]))),
        broken(
            1,
            BallotError::UnderBudgetShare {
                total: sek(300_000),
                required: sek(500_000),
                basis_points: 5_000
            }
        )
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 3])))
        .unwrap(); // 700 000
    c.cast_ballot(ballot(2, resident(102), approve(&[2])))
        .unwrap(); // exactly half
    assert_eq!(c.ballots().len(), 2);
}

#[test]
fn knapsack_limit_defaults_to_the_budget() {
    let mut c = voting_with(BallotRules::builder(BallotKind::Knapsack).build().unwrap());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1, 2, 3]))),
        broken(
            1,
            BallotError::OverCostLimit {
                total: sek(1_200_000),
                limit: sek(1_000_000)
            }
        )
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 2])))
        .unwrap();
}

// ---------------------------------------------------------------------------
// Cumulative
// ---------------------------------------------------------------------------

fn cumulative() -> BallotRules {
    BallotRules::cumulative(10)
        .max_points_per_project(6)
        .must_use_all_points()
        .build()
        .unwrap()
}

#[test]
fn cumulative_ballots_have_a_number_of_points_per_voter() {
    let mut c = voting_with(cumulative());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), points(&[(1, 6), (2, 5)]))),
        broken(
            1,
            BallotError::TooManyPoints {
                given: 11,
                allowed: 10
            }
        )
    );
    c.cast_ballot(ballot(1, resident(101), points(&[(1, 6), (2, 4)])))
        .unwrap();
}

#[test]
fn cumulative_ballots_respect_the_cap_per_project() {
    let mut c = voting_with(cumulative());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), points(&[(1, 7), (2, 3)]))),
        broken(
            1,
            BallotError::OverProjectCap {
                project: p(1),
                given: 7,
                cap: 6
            }
        )
    );
}

#[test]
fn cumulative_ballots_must_use_all_points_when_required() {
    let mut c = voting_with(cumulative());
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), points(&[(1, 6), (3, 2)]))),
        broken(
            1,
            BallotError::PointsNotAllUsed {
                given: 8,
                required: 10
            }
        )
    );
    // Without the requirement, fewer points are fine.
    let mut loose = voting_with(BallotRules::cumulative(10).build().unwrap());
    loose
        .cast_ballot(ballot(1, resident(101), points(&[(1, 6), (3, 2)])))
        .unwrap();
}

#[test]
fn cumulative_ballots_list_no_project_with_zero_points() {
    let mut c = voting_with(cumulative());
    assert_eq!(
        refuses(
            &mut c,
            ballot(1, resident(101), points(&[(1, 6), (2, 0), (3, 4)]))
        ),
        broken(1, BallotError::ZeroPoints { project: p(2) })
    );
}

#[test]
fn cumulative_points_are_counted_as_support() {
    let mut c = voting_with(cumulative());
    c.cast_ballot(ballot(1, resident(101), points(&[(3, 6), (2, 4)])))
        .unwrap();
    c.cast_ballot(ballot(2, resident(102), points(&[(3, 5), (1, 5)])))
        .unwrap();
    let d = c.close_voting(day(75), &Greedy).unwrap().decision().clone();
    let scores: Vec<u64> = d.scores.iter().map(|s| s.score).collect();
    assert_eq!(scores, [5, 4, 11]);
    // 3 (300 000) first, then 1 (400 000); 2 (500 000) no longer fits.
    assert_eq!(d.funded, vec![p(3), p(1)]);
}

// ---------------------------------------------------------------------------
// Ranked
// ---------------------------------------------------------------------------

#[test]
fn ranked_ballots_respect_max_projects() {
    let rules = BallotRules::builder(BallotKind::Ranked)
        .max_projects(2)
        .build()
        .unwrap();
    let mut c = voting_with(rules);
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), rank(&[3, 1, 2]))),
        broken(1, BallotError::TooManyProjects { chosen: 3, max: 2 })
    );
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), rank(&[3, 3]))),
        broken(1, BallotError::DuplicateProject { project: p(3) })
    );
    c.cast_ballot(ballot(1, resident(101), rank(&[3, 1])))
        .unwrap();
    assert_eq!(c.ballots()[0].choices(), &rank(&[3, 1]));
}

// ---------------------------------------------------------------------------
// Choices that do not fit the ballot
// ---------------------------------------------------------------------------

#[test]
fn choices_of_the_wrong_kind_are_refused() {
    let mut c = voting_cycle();
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), rank(&[1, 2]))),
        broken(
            1,
            BallotError::WrongKind {
                kind: BallotKind::Approval,
                given: "ranking"
            }
        )
    );
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), points(&[(1, 1)]))),
        broken(
            1,
            BallotError::WrongKind {
                kind: BallotKind::Approval,
                given: "points"
            }
        )
    );
    let mut cumulative = voting_with(cumulative());
    assert_eq!(
        refuses(&mut cumulative, ballot(1, resident(101), approve(&[1]))),
        broken(
            1,
            BallotError::WrongKind {
                kind: BallotKind::Cumulative,
                given: "approval"
            }
        )
    );
    let mut ranked = voting_with(BallotRules::builder(BallotKind::Ranked).build().unwrap());
    assert_eq!(
        refuses(&mut ranked, ballot(1, resident(101), approve(&[1]))),
        broken(
            1,
            BallotError::WrongKind {
                kind: BallotKind::Ranked,
                given: "approval"
            }
        )
    );
}

#[test]
fn a_project_not_on_the_shortlist_is_refused() {
    let mut c = voting_cycle();
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1, 9]))),
        broken(1, BallotError::UnknownProject { project: p(9) })
    );
}

#[test]
fn a_project_chosen_twice_is_refused() {
    let mut c = voting_cycle();
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[2, 1, 2]))),
        broken(1, BallotError::DuplicateProject { project: p(2) })
    );
}

#[test]
fn a_withdrawn_project_is_not_on_the_ballot() {
    let mut s = shortlisting_cycle();
    s.withdraw_project(p(3), "The school builds it anyway".into())
        .unwrap();
    let mut c = s.open_voting(window(), day(60)).unwrap();
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[1, 3]))),
        broken(1, BallotError::UnknownProject { project: p(3) })
    );
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 2])))
        .unwrap();
    let election = c.election().unwrap();
    let labels: Vec<String> = election
        .candidates()
        .iter()
        .map(|c| c.label.clone())
        .collect();
    assert_eq!(labels, [p(1).to_string(), p(2).to_string()]);
}

// ---------------------------------------------------------------------------
// Voters
// ---------------------------------------------------------------------------

#[test]
fn a_child_cannot_vote() {
    let mut c = voting_cycle();
    assert_eq!(
        refuses(&mut c, ballot(1, child(201), approve(&[1]))),
        CycleError::Ineligible {
            action: "voting",
            source: Ineligible::TooYoung {
                resident: ResidentId::from_u128(201),
                age: 10,
                minimum: 12,
                on: day(61).date_naive(),
            }
        }
    );
}

#[test]
fn an_outsider_cannot_vote() {
    let mut c = voting_cycle();
    assert_eq!(
        refuses(&mut c, ballot(1, outsider(202), approve(&[1]))),
        CycleError::Ineligible {
            action: "voting",
            source: Ineligible::OutsideArea {
                resident: ResidentId::from_u128(202),
                lives_in: AreaId::from_u128(0xB),
                area: area_id(),
            }
        }
    );
}

#[test]
fn a_resident_who_moved_out_before_voting_cannot_vote() {
    let mut c = voting_cycle();
    let moved = resident(203).moved_out(date(2026, 3, 1)).unwrap();
    assert_eq!(
        refuses(&mut c, ballot(1, moved, approve(&[1]))),
        CycleError::Ineligible {
            action: "voting",
            source: Ineligible::MovedOut {
                resident: ResidentId::from_u128(203),
                until: date(2026, 3, 1),
                on: day(61).date_naive(),
            }
        }
    );
}

// ---------------------------------------------------------------------------
// The window
// ---------------------------------------------------------------------------

#[test]
fn a_ballot_before_the_window_opens_is_refused() {
    // Voting opened on day 55 for a window from day 60.
    let mut c = shortlisting_cycle().open_voting(window(), day(55)).unwrap();
    let early = cast_at(1, resident(101), approve(&[1]), day(59));
    assert_eq!(
        refuses(&mut c, early),
        CycleError::OutsideWindow {
            ballot: bid(1),
            cast_at: day(59),
            opens: day(60),
            closes: day(74),
        }
    );
    // The instant the window opens is inside it.
    c.cast_ballot(cast_at(1, resident(101), approve(&[1]), day(60)))
        .unwrap();
}

#[test]
fn a_ballot_at_the_instant_the_window_closes_is_refused() {
    let mut c = voting_cycle();
    let late = cast_at(1, resident(101), approve(&[1]), day(74));
    assert_eq!(
        refuses(&mut c, late),
        CycleError::OutsideWindow {
            ballot: bid(1),
            cast_at: day(74),
            opens: day(60),
            closes: day(74),
        }
    );
    let last = day(74) - chrono::Duration::seconds(1);
    c.cast_ballot(cast_at(1, resident(101), approve(&[1]), last))
        .unwrap();
}

// ---------------------------------------------------------------------------
// Ballot ids and second ballots
// ---------------------------------------------------------------------------

#[test]
fn a_ballot_id_cannot_be_used_twice() {
    let mut c = voting_cycle();
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    assert_eq!(
        refuses(&mut c, ballot(1, resident(102), approve(&[2]))),
        CycleError::DuplicateId {
            kind: "ballot",
            id: bid(1).to_string()
        }
    );
}

#[test]
fn a_second_ballot_is_refused_by_default() {
    let mut c = voting_cycle();
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    assert_eq!(
        refuses(&mut c, ballot(2, resident(101), approve(&[2]))),
        CycleError::AlreadyVoted {
            voter: ResidentId::from_u128(101),
            existing: bid(1),
        }
    );
    assert_eq!(c.ballots()[0].choices(), &approve(&[1]));
}

#[test]
fn a_second_ballot_replaces_the_first_when_the_rules_say_so() {
    let mut c = voting_with(replacing());
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 2])))
        .unwrap();
    c.cast_ballot(ballot(2, resident(102), approve(&[1])))
        .unwrap();
    c.cast_ballot(cast_at(3, resident(101), approve(&[3]), day(70)))
        .unwrap();
    assert_eq!(c.ballots().len(), 2, "the ballot count stays");
    assert_eq!(
        ids(&c),
        [bid(3), bid(2)],
        "the new ballot takes the first's place"
    );
    assert_eq!(c.ballots()[0].choices(), &approve(&[3]));
    assert_eq!(c.ballots()[0].cast_at(), day(70));

    let d = c.close_voting(day(75), &Greedy).unwrap().decision().clone();
    assert_eq!(d.ballots_counted, 2);
    assert_eq!(
        d.scores,
        vec![
            ProjectScore {
                project: p(1),
                score: 1
            },
            ProjectScore {
                project: p(2),
                score: 0
            },
            ProjectScore {
                project: p(3),
                score: 1
            },
        ]
    );
    assert_eq!(d.funded, vec![p(1), p(3)]);
}

#[test]
fn a_replacing_ballot_is_still_checked() {
    let mut c = voting_with(replacing());
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    assert_eq!(
        refuses(&mut c, ballot(2, resident(101), approve(&[9]))),
        broken(2, BallotError::UnknownProject { project: p(9) })
    );
    assert_eq!(
        refuses(&mut c, ballot(1, resident(101), approve(&[2]))),
        CycleError::DuplicateId {
            kind: "ballot",
            id: bid(1).to_string()
        }
    );
    assert_eq!(c.ballots()[0].choices(), &approve(&[1]));
}

// ---------------------------------------------------------------------------
// Paper ballots
// ---------------------------------------------------------------------------

#[test]
fn paper_ballots_stay_marked_as_paper() {
    let mut c = voting_cycle();
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    c.enter_paper_ballots(batch(vec![
        ballot(2, resident(102), approve(&[2])),
        ballot(3, resident(103), approve(&[1, 3])),
    ]))
    .unwrap();
    assert_eq!(ids(&c), [bid(1), bid(2), bid(3)]);
    let paper: Vec<bool> = c.ballots().iter().map(|b| b.is_paper()).collect();
    assert_eq!(paper, [false, true, true]);
    assert_eq!(
        c.ballots()[1].channel,
        Channel::Paper {
            entered_by: OFFICIAL.into(),
            entered_at: day(62)
        }
    );
    // And they stay paper through the log: the same commands through
    // `AnyCycle`, replayed from their snapshot.
    let back = through_the_log(
        approval_rules(),
        vec![
            Command::CastBallot(ballot(1, resident(101), approve(&[1]))),
            Command::EnterPaperBallots(batch(vec![
                ballot(2, resident(102), approve(&[2])),
                ballot(3, resident(103), approve(&[1, 3])),
            ])),
        ],
    );
    assert_eq!(back, c);
    assert!(back.ballots()[2].is_paper());
}

/// Opens voting under `rules` and runs `commands` through `AnyCycle`; returns
/// the cycle loaded from the snapshot of its log.
fn through_the_log(rules: BallotRules, commands: Vec<Command>) -> Cycle<Voting> {
    let (mut cycle, mut events) = logged_with(Step::Shortlisting, rules);
    let open = Command::OpenVoting {
        window: window(),
        at: day(60),
    };
    for command in std::iter::once(open).chain(commands) {
        events.extend(cycle.apply(command).unwrap());
    }
    let json = serde_json::to_string(&Snapshot::new(events).unwrap()).unwrap();
    let loaded = AnyCycle::from_snapshot(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(loaded, cycle);
    loaded.try_into().unwrap()
}

#[test]
fn one_bad_paper_ballot_refuses_the_whole_batch() {
    let mut c = voting_cycle();
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(batch(vec![
            ballot(2, resident(102), approve(&[2])),
            ballot(3, child(103), approve(&[1])),
            ballot(4, resident(104), approve(&[3])),
        ]))
    });
    assert_eq!(
        e,
        paper_refused(
            1,
            CycleError::Ineligible {
                action: "voting",
                source: Ineligible::TooYoung {
                    resident: ResidentId::from_u128(103),
                    age: 10,
                    minimum: 12,
                    on: day(61).date_naive(),
                }
            }
        )
    );
    assert_eq!(ids(&c), [bid(1)], "nothing of the batch was added");

    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(batch(vec![
            ballot(2, resident(102), approve(&[2])),
            ballot(3, resident(103), approve(&[1])),
            ballot(4, resident(104), approve(&[1, 2, 3, 9])),
        ]))
    });
    assert_eq!(
        e,
        paper_refused(2, broken(4, BallotError::UnknownProject { project: p(9) }))
    );
    // Entered after the window closed (allowed for paper), but cast after it too.
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(PaperBatch {
            entered_at: day(85),
            ..batch(vec![
                ballot(2, resident(102), approve(&[2])),
                cast_at(3, resident(103), approve(&[1]), day(80)),
            ])
        })
    });
    assert_eq!(
        e,
        paper_refused(
            1,
            CycleError::OutsideWindow {
                ballot: bid(3),
                cast_at: day(80),
                opens: day(60),
                closes: day(74)
            }
        )
    );
    assert_eq!(ids(&c), [bid(1)]);
}

#[test]
fn a_paper_ballot_from_a_voter_who_voted_digitally_is_refused() {
    let mut c = voting_cycle();
    c.cast_ballot(ballot(1, resident(101), approve(&[1])))
        .unwrap();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(batch(vec![ballot(2, resident(101), approve(&[2]))]))
    });
    assert_eq!(
        e,
        paper_refused(
            0,
            CycleError::AlreadyVoted {
                voter: ResidentId::from_u128(101),
                existing: bid(1)
            }
        )
    );
}

#[test]
fn a_voter_twice_in_one_batch_is_refused_by_default() {
    let mut c = voting_cycle();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(batch(vec![
            ballot(1, resident(101), approve(&[1])),
            ballot(2, resident(102), approve(&[2])),
            ballot(3, resident(101), approve(&[3])),
        ]))
    });
    assert_eq!(
        e,
        paper_refused(
            2,
            CycleError::AlreadyVoted {
                voter: ResidentId::from_u128(101),
                existing: bid(1)
            }
        )
    );
    assert!(c.ballots().is_empty());
}

#[test]
fn a_voter_twice_in_one_batch_is_replaced_when_the_rules_say_so() {
    let mut c = voting_with(replacing());
    c.enter_paper_ballots(batch(vec![
        ballot(1, resident(101), approve(&[1])),
        ballot(2, resident(102), approve(&[2])),
        ballot(3, resident(101), approve(&[3])),
    ]))
    .unwrap();
    assert_eq!(ids(&c), [bid(3), bid(2)]);
    assert_eq!(c.ballots()[0].choices(), &approve(&[3]));
    assert!(c.ballots().iter().all(|b| b.is_paper()));
    // A replaced ballot replays from the log.
    let back = through_the_log(
        replacing(),
        vec![Command::EnterPaperBallots(batch(vec![
            ballot(1, resident(101), approve(&[1])),
            ballot(2, resident(102), approve(&[2])),
            ballot(3, resident(101), approve(&[3])),
        ]))],
    );
    assert_eq!(back, c);
}

#[test]
fn a_ballot_id_twice_in_one_batch_is_refused() {
    let mut c = voting_cycle();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(batch(vec![
            ballot(1, resident(101), approve(&[1])),
            ballot(1, resident(102), approve(&[2])),
        ]))
    });
    assert_eq!(
        e,
        paper_refused(
            1,
            CycleError::DuplicateId {
                kind: "ballot",
                id: bid(1).to_string()
            }
        )
    );
}

#[test]
fn an_empty_batch_is_refused() {
    let mut c = voting_cycle();
    let e = rejected(&mut c, |c| c.enter_paper_ballots(batch(vec![])));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the batch of paper ballots"
        }
    );
}

#[test]
fn a_batch_needs_the_official_who_entered_it() {
    let mut c = voting_cycle();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(PaperBatch {
            entered_by: "  ".into(),
            ..batch(vec![ballot(1, resident(101), approve(&[1]))])
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the official entering paper ballots"
        }
    );
}

#[test]
fn a_batch_cannot_be_entered_before_voting_began() {
    let mut c = voting_cycle();
    let e = rejected(&mut c, |c| {
        c.enter_paper_ballots(PaperBatch {
            entered_at: day(59),
            ..batch(vec![ballot(1, resident(101), approve(&[1]))])
        })
    });
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "enter paper ballots",
            at: day(59),
            step: Step::Voting,
            began: day(60)
        }
    );
}

#[test]
fn a_paper_ballot_cannot_be_entered_before_it_was_cast() {
    let mut c = voting_cycle();
    // Entered on day 62, "cast" on paper on day 70.
    let future = cast_at(1, resident(101), approve(&[1]), day(70));
    let e = rejected(&mut c, |c| c.enter_paper_ballots(batch(vec![future])));
    assert!(
        matches!(e, CycleError::PaperBallot { index: 0, .. }),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------
// Counting
// ---------------------------------------------------------------------------

#[test]
fn greedy_funds_projects_one_and_two_and_skips_three() {
    let c = voted_cycle().close_voting(day(75), &Greedy).unwrap();
    let d = c.decision();
    assert_eq!(d.rule, "greedy");
    assert_eq!(d.tie_breaking, TieBreaking::by_project_id());
    assert_eq!(d.funded, vec![p(1), p(2)]);
    assert_eq!(d.total_cost, sek(900_000));
    assert_eq!(d.budget, sek(1_000_000));
    assert_eq!(d.ballots_counted, 10);
    let scores: Vec<(ProjectId, u64)> = d.scores.iter().map(|s| (s.project, s.score)).collect();
    assert_eq!(scores, [(p(1), 10), (p(2), 6), (p(3), 3)]);
    assert!(c.project(p(1)).unwrap().delivery().is_some());
    assert!(c.project(p(2)).unwrap().delivery().is_some());
    assert!(
        c.project(p(3)).unwrap().delivery().is_none(),
        "3 no longer fits"
    );
    assert_eq!(c.timeline().last(), Some(&(Step::Implementation, day(75))));
}

fn refusing_ties() -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .counting(Counting {
            rule: Rule::Greedy,
            tie_breaking: TieBreaking::refuse(),
        })
        .build()
        .unwrap()
}

#[test]
fn a_tie_that_matters_under_refusing_rules_fails_the_count() {
    let mut c = voting_with(refusing_ties());
    for v in 1..=3u128 {
        c.cast_ballot(ballot(v, resident(100 + v), approve(&[1, 2, 3])))
            .unwrap();
    }
    let before = c.clone();
    let refusal = c.close_voting(day(75), &Greedy).unwrap_err();
    assert_eq!(
        refusal.error(),
        &CycleError::Tally(TallyError::Tie {
            rule: "greedy".into(),
            projects: vec![p(1).to_string(), p(2).to_string(), p(3).to_string()],
            tie_breaking: TieBreaking::refuse(),
        })
    );
    let back = refusal.into_cycle();
    assert_eq!(back, before, "the cycle comes back unchanged");

    // The same through AnyCycle.
    let mut any = AnyCycle::from(back);
    let before = any.clone();
    assert!(matches!(
        any.apply(Command::CloseVoting { at: day(75) }),
        Err(CycleError::Tally(TallyError::Tie { .. }))
    ));
    assert_eq!(any, before);
}

#[test]
fn a_tie_that_does_not_matter_is_no_obstacle() {
    let mut c = voting_with(refusing_ties());
    // 1 and 3 tie on two votes and both fit (700 000); 2 comes last.
    c.cast_ballot(ballot(1, resident(101), approve(&[1, 3])))
        .unwrap();
    c.cast_ballot(ballot(2, resident(102), approve(&[3, 1])))
        .unwrap();
    c.cast_ballot(ballot(3, resident(103), approve(&[2])))
        .unwrap();
    let d = c.close_voting(day(75), &Greedy).unwrap().decision().clone();
    assert_eq!(d.funded, vec![p(1), p(3)]);
    assert_eq!(d.total_cost, sek(700_000));
    assert_eq!(d.tie_breaking, TieBreaking::refuse());
}
