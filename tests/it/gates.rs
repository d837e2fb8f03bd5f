//! Every gate of the seven steps, through the real cycle: each condition refuses
//! the transition with the exact error, gives the cycle back unchanged, and once
//! fixed lets the cycle pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use crate::common::*;
use medborgarbudget::area::{Eligibility, Ineligible, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, Choices, Counting, RulesError};
use medborgarbudget::criteria::Score;
use medborgarbudget::idea::{IdeaStatus, IdeaSubmission};
use medborgarbudget::ids::{ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::process::stage::{
    Active, Criteria, Implementation, Previous, Shortlisting, Voting,
};
use medborgarbudget::process::{
    Allocation, AnyCycle, Command, Cycle, CycleError, Evaluation, FundingSource, GateError,
    OutreachActivity, Step, TransitionError, VotingWindow,
};
use medborgarbudget::project::{Feasibility, Milestone, Progress, ProjectProposal};
use medborgarbudget::tally::{Election, Greedy, Outcome, Rule, Tally, TallyError, TieBreaking};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Runs a transition that must be refused; checks that the cycle comes back
/// unchanged (`into_cycle` equals a clone taken before) and returns it with the
/// error.
#[track_caller]
fn refused<C, T>(
    cycle: C,
    transition: impl FnOnce(C) -> Result<T, TransitionError<C>>,
) -> (C, CycleError)
where
    C: Clone + PartialEq + Debug,
{
    let before = cycle.clone();
    let Err(refusal) = transition(cycle) else {
        panic!("the transition should have been refused");
    };
    let error = refusal.error().clone();
    let back = refusal.into_cycle();
    assert_eq!(
        back, before,
        "a refused transition gives the cycle back unchanged"
    );
    (back, error)
}

/// Runs a command on `&mut cycle` that must be refused; checks nothing changed.
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

fn gate(step: Step, source: GateError) -> CycleError {
    CycleError::Gate { step, source }
}

fn eur(major: i64) -> Money {
    Money::from_major(major, Currency::EUR).unwrap()
}

fn score(n: u8) -> Score {
    Score::new(n).unwrap()
}

/// Step 4 with ideas 1–3 under review and projects 1–3 proposed from them, but
/// neither costed, assessed nor scored.
fn proposed() -> Cycle<Shortlisting> {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
        c.propose_project(proposal(n, vec![idea_id(n)])).unwrap();
    }
    c
}

fn cost(c: &mut Cycle<Shortlisting>, n: u128) {
    c.estimate_cost(project_id(n), project_cost(n)).unwrap();
}

fn feasible(c: &mut Cycle<Shortlisting>, n: u128) {
    c.assess_feasibility(project_id(n), Feasibility::Feasible)
        .unwrap();
}

fn score_on(c: &mut Cycle<Shortlisting>, n: u128, criterion: &str) {
    c.score_project(project_id(n), criterion.into(), score(6))
        .unwrap();
}

/// Costs, assesses and scores project `n` so that it passes the gate.
fn prepare(c: &mut Cycle<Shortlisting>, n: u128) {
    cost(c, n);
    feasible(c, n);
    score_on(c, n, "meeting-places");
    score_on(c, n, "movement");
}

fn open(c: Cycle<Shortlisting>) -> Result<Cycle<Voting>, TransitionError<Cycle<Shortlisting>>> {
    c.open_voting(window(), day(60))
}

fn council_top_up(major: i64) -> Allocation {
    allocation(major)
}

/// A tally that counts like greedy but calls itself by another name.
struct OtherRule;

impl Tally for OtherRule {
    fn name(&self) -> &str {
        "other"
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let mut outcome = Greedy.tally(election, ties)?;
        outcome.rule = "other".into();
        Ok(outcome)
    }
}

/// A rogue rule that funds every project, whatever the budget.
struct Everything;

impl Tally for Everything {
    fn name(&self) -> &str {
        "everything"
    }
    fn tally(&self, election: &Election, ties: &TieBreaking) -> Result<Outcome, TallyError> {
        let n = election.candidates().len();
        Outcome::new("everything", ties.clone(), (0..n).collect(), election)
    }
}

fn counting(rule: &str) -> Counting {
    Counting {
        rule: rule.parse().unwrap(),
        tie_breaking: TieBreaking::by_project_id(),
    }
}

fn approval_counted_by(rule: &str) -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .counting(counting(rule))
        .build()
        .unwrap()
}

fn voted_with(rules: BallotRules) -> Cycle<Voting> {
    let mut c = shortlisting_cycle_with(rules)
        .open_voting(window(), day(60))
        .unwrap();
    for v in 1..=4u128 {
        let mut choice = vec![project_id(1)];
        if v <= 2 {
            choice.push(project_id(2));
        }
        c.cast_ballot(ballot(v, resident(100 + v), Choices::Approval(choice)))
            .unwrap();
    }
    c
}

// ---------------------------------------------------------------------------
// Step 1: criteria
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Piece {
    Budget,
    Eligibility,
    Rules,
    Criteria,
}

/// Step 1 with every piece of the framework set except `missing`.
fn framework_without(missing: Piece) -> Cycle<Criteria> {
    let mut c = Cycle::new(setup());
    if missing != Piece::Budget {
        c.set_budget(allocation(1_000_000)).unwrap();
    }
    if missing != Piece::Eligibility {
        c.set_eligibility(Eligibility::residents_aged(12));
    }
    if missing != Piece::Rules {
        c.set_ballot_rules(approval_rules());
    }
    if missing != Piece::Criteria {
        c.set_criteria(criteria());
    }
    c
}

#[test]
fn step1_without_budget_outreach_cannot_begin() {
    let (mut c, e) = refused(framework_without(Piece::Budget), |c| {
        c.begin_outreach(day(1))
    });
    assert_eq!(e, gate(Step::Criteria, GateError::NoBudget));
    c.set_budget(allocation(1_000_000)).unwrap();
    let next = c.begin_outreach(day(1)).unwrap();
    assert_eq!(next.budget().unwrap(), sek(1_000_000));
}

#[test]
fn step1_additions_alone_are_no_budget() {
    // Money added without a council base allocation does not open the gate.
    let mut c = framework_without(Piece::Budget);
    c.add_funds(council_top_up(500_000)).unwrap();
    assert_eq!(c.budget().unwrap(), sek(500_000));
    let (_, e) = refused(c, |c| c.begin_outreach(day(1)));
    assert_eq!(e, gate(Step::Criteria, GateError::NoBudget));
}

#[test]
fn step1_without_eligibility_outreach_cannot_begin() {
    let (mut c, e) = refused(framework_without(Piece::Eligibility), |c| {
        c.begin_outreach(day(1))
    });
    assert_eq!(e, gate(Step::Criteria, GateError::NoEligibility));
    c.set_eligibility(Eligibility::residents_aged(16));
    let next = c.begin_outreach(day(1)).unwrap();
    assert_eq!(next.eligibility().minimum_age, 16);
}

#[test]
fn step1_without_ballot_rules_outreach_cannot_begin() {
    let (mut c, e) = refused(framework_without(Piece::Rules), |c| {
        c.begin_outreach(day(1))
    });
    assert_eq!(e, gate(Step::Criteria, GateError::NoBallotRules));
    c.set_ballot_rules(approval_rules());
    assert_eq!(c.begin_outreach(day(1)).unwrap().step(), Step::Outreach);
}

#[test]
fn step1_without_criteria_outreach_cannot_begin() {
    let (mut c, e) = refused(framework_without(Piece::Criteria), |c| {
        c.begin_outreach(day(1))
    });
    assert_eq!(e, gate(Step::Criteria, GateError::NoCriteria));
    c.set_criteria(criteria());
    assert_eq!(c.begin_outreach(day(1)).unwrap().criteria(), &criteria());
}

#[test]
fn step1_missing_pieces_are_reported_in_order() {
    let mut c = Cycle::new(setup());
    let expect = |c: &Cycle<Criteria>, source| {
        let (_, e) = refused(c.clone(), |c| c.begin_outreach(day(1)));
        assert_eq!(e, gate(Step::Criteria, source));
    };
    expect(&c, GateError::NoBudget);
    c.set_budget(allocation(1)).unwrap();
    expect(&c, GateError::NoEligibility);
    c.set_eligibility(Eligibility::residents_aged(12));
    expect(&c, GateError::NoBallotRules);
    c.set_ballot_rules(approval_rules());
    expect(&c, GateError::NoCriteria);
    c.set_criteria(criteria());
    assert!(c.begin_outreach(day(1)).is_ok());
}

#[test]
fn step1_a_counting_rule_with_a_typo_is_refused_in_step_1() {
    // Before rules were typed, "mes-ad1" passed steps 1-4 and failed only when
    // voting closed, when the year could only be abandoned.
    let rules = approval_counted_by("mes-add1");
    let command = Command::SetBallotRules(rules);
    let json = serde_json::to_string(&command).unwrap();
    assert!(json.contains("\"mes-add1\""), "{json}");
    let typo = json.replace("\"mes-add1\"", "\"mes-ad1\"");
    let err = serde_json::from_str::<Command>(&typo).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown rule \"mes-ad1\"; known rules: greedy"),
        "{err}"
    );
    assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
    // In Rust the typo does not compile, and a rule of one's own is spelled out.
    assert!("mes-ad1".parse::<Rule>().is_err());
    assert!(Rule::custom("mes-ad1").unwrap().is_custom());
}

#[test]
fn step1_knapsack_cost_limit_above_budget_does_not_fit() {
    let rules = BallotRules::builder(BallotKind::Knapsack)
        .max_total_cost(sek(1_200_000))
        .build()
        .unwrap();
    let (mut c, e) = refused(criteria_cycle_with(rules), |c| c.begin_outreach(day(1)));
    assert_eq!(
        e,
        gate(
            Step::Criteria,
            GateError::RulesDoNotFitBudget(RulesError::CostLimitAboveBudget {
                limit: sek(1_200_000),
                budget: sek(1_000_000),
            })
        )
    );
    // A top-up that brings the budget to the limit opens the gate.
    c.add_funds(council_top_up(200_000)).unwrap();
    let next = c.begin_outreach(day(1)).unwrap();
    assert_eq!(next.budget().unwrap(), sek(1_200_000));
}

#[test]
fn step1_knapsack_cost_limit_in_another_currency_does_not_fit() {
    let rules = BallotRules::builder(BallotKind::Knapsack)
        .max_total_cost(eur(10))
        .build()
        .unwrap();
    let (_, e) = refused(criteria_cycle_with(rules), |c| c.begin_outreach(day(1)));
    assert_eq!(
        e,
        gate(
            Step::Criteria,
            GateError::RulesDoNotFitBudget(RulesError::CostLimitAboveBudget {
                limit: eur(10),
                budget: sek(1_000_000),
            })
        )
    );
}

#[test]
fn step1_set_budget_refuses_non_positive_amounts() {
    let mut c = criteria_cycle();
    for minor in [0, -100] {
        let amount = Money::new(minor, Currency::SEK);
        let e = rejected(&mut c, |c| {
            c.set_budget(Allocation {
                amount,
                ..allocation(1)
            })
        });
        assert_eq!(
            e,
            CycleError::NotPositive {
                what: "an allocation",
                amount
            }
        );
    }
    assert_eq!(c.base_allocation(), Some(&allocation(1_000_000)));
    // A positive amount replaces the base allocation in step 1.
    c.set_budget(allocation(800_000)).unwrap();
    assert_eq!(c.budget().unwrap(), sek(800_000));
}

#[test]
fn step1_set_budget_refuses_another_currency() {
    let mut c = criteria_cycle();
    let e = rejected(&mut c, |c| {
        c.set_budget(Allocation {
            amount: eur(100_000),
            ..allocation(1)
        })
    });
    assert_eq!(
        e,
        CycleError::WrongCurrency {
            what: "the allocation",
            expected: Currency::SEK,
            found: Currency::EUR,
        }
    );
}

#[test]
fn step1_set_budget_needs_a_deciding_body_and_reference() {
    let mut c = Cycle::new(setup());
    let mut no_body = allocation(1_000);
    no_body.decision.body = "  ".into();
    let e = rejected(&mut c, |c| c.set_budget(no_body));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the deciding body"
        }
    );
    let mut no_reference = allocation(1_000);
    no_reference.decision.reference = String::new();
    let e = rejected(&mut c, |c| c.set_budget(no_reference));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the decision's reference"
        }
    );
    assert_eq!(c.base_allocation(), None);
}

#[test]
fn step1_carry_over_is_no_base_allocation() {
    let mut c = Cycle::new(setup());
    let e = rejected(&mut c, |c| {
        c.set_budget(Allocation {
            source: FundingSource::CarryOver { from_year: 2025 },
            ..allocation(1_000)
        })
    });
    assert_eq!(e, CycleError::CarryOverAsBase { from_year: 2025 });
}

#[test]
fn step1_empty_lessons_are_refused() {
    let mut c = criteria_cycle();
    let e = rejected(&mut c, |c| {
        c.receive_lessons(vec![
            medborgarbudget::process::Lesson {
                year: 2025,
                text: "Meet in the library".into(),
            },
            medborgarbudget::process::Lesson {
                year: 2025,
                text: " ".into(),
            },
        ])
    });
    assert_eq!(e, CycleError::EmptyText { field: "a lesson" });
    assert!(
        c.lessons().is_empty(),
        "no lesson of a refused batch is kept"
    );
}

#[test]
fn step1_outreach_cannot_begin_before_the_cycle_started() {
    let (c, e) = refused(criteria_cycle(), |c| c.begin_outreach(day(-1)));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "begin outreach",
            at: day(-1),
            step: Step::Criteria,
            began: day(0),
        }
    );
    // At the very instant the step began is fine.
    let next = c.begin_outreach(day(0)).unwrap();
    assert_eq!(next.timeline()[1], (Step::Outreach, day(0)));
}

// ---------------------------------------------------------------------------
// Step 2: outreach
// ---------------------------------------------------------------------------

#[test]
fn step2_without_outreach_ideas_cannot_be_collected() {
    let (mut c, e) = refused(outreach_cycle(), |c| c.open_idea_generation(day(10)));
    assert_eq!(e, gate(Step::Outreach, GateError::NoOutreach));
    c.record_outreach(activity()).unwrap();
    let next = c.open_idea_generation(day(10)).unwrap();
    assert_eq!(next.outreach(), &[activity()]);
}

#[test]
fn step2_idea_generation_cannot_open_before_outreach_began() {
    let mut c = outreach_cycle();
    c.record_outreach(activity()).unwrap();
    let (_, e) = refused(c, |c| c.open_idea_generation(day(0)));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "open idea generation",
            at: day(0),
            step: Step::Outreach,
            began: day(1),
        }
    );
}

#[test]
fn step2_outreach_needs_a_language() {
    let mut c = outreach_cycle();
    for languages in [vec![], vec![" ".to_owned(), String::new()]] {
        let e = rejected(&mut c, |c| {
            c.record_outreach(OutreachActivity {
                languages,
                ..activity()
            })
        });
        assert_eq!(
            e,
            CycleError::EmptyText {
                field: "the activity's languages"
            }
        );
    }
    assert!(c.outreach().is_empty());
}

#[test]
fn step2_outreach_needs_a_description() {
    let mut c = outreach_cycle();
    let e = rejected(&mut c, |c| {
        c.record_outreach(OutreachActivity {
            description: "\t".into(),
            ..activity()
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the activity's description"
        }
    );
}

#[test]
fn step2_outreach_cannot_be_dated_before_outreach_began() {
    let mut c = outreach_cycle(); // began day 1 (2026-01-16)
    let e = rejected(&mut c, |c| {
        c.record_outreach(OutreachActivity {
            held_on: day(0).date_naive(),
            ..activity()
        })
    });
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "record outreach",
            at: day(0).date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc(),
            step: Step::Outreach,
            began: day(1),
        }
    );
    // The day outreach began counts.
    c.record_outreach(OutreachActivity {
        held_on: day(1).date_naive(),
        ..activity()
    })
    .unwrap();
}

// ---------------------------------------------------------------------------
// Step 3: idea generation
// ---------------------------------------------------------------------------

#[test]
fn step3_without_any_idea_shortlisting_cannot_begin() {
    let mut c = outreach_cycle();
    c.record_outreach(activity()).unwrap();
    let c = c.open_idea_generation(day(10)).unwrap();
    let (_, e) = refused(c, |c| c.begin_shortlisting(day(40)));
    assert_eq!(e, gate(Step::IdeaGeneration, GateError::NoAdmissibleIdea));
}

#[test]
fn step3_all_ideas_inadmissible_shortlisting_cannot_begin() {
    let mut c = idea_cycle();
    for n in 1..=3 {
        c.reject_idea(idea_id(n), "Not in the district's remit".into())
            .unwrap();
    }
    let (mut c, e) = refused(c, |c| c.begin_shortlisting(day(40)));
    assert_eq!(e, gate(Step::IdeaGeneration, GateError::NoAdmissibleIdea));
    c.submit_idea(idea(4, resident(4))).unwrap();
    let next = c.begin_shortlisting(day(40)).unwrap();
    assert_eq!(next.ideas().len(), 4);
    assert_eq!(
        next.idea(idea_id(1)).unwrap().status(),
        &IdeaStatus::Rejected {
            reason: "Not in the district's remit".into(),
            step: Step::IdeaGeneration
        }
    );
}

#[test]
fn step3_an_idea_dated_after_the_end_blocks_shortlisting() {
    let mut c = idea_cycle();
    c.submit_idea(IdeaSubmission {
        submitted_at: day(50),
        ..idea(4, resident(4))
    })
    .unwrap();
    let (c, e) = refused(c, |c| c.begin_shortlisting(day(40)));
    assert_eq!(
        e,
        gate(
            Step::IdeaGeneration,
            GateError::IdeaAfterEnd {
                idea: idea_id(4),
                submitted_at: day(50),
                at: day(40),
            }
        )
    );
    // Ending idea generation no earlier than the last idea passes.
    assert!(c.begin_shortlisting(day(50)).is_ok());
}

#[test]
fn step3_shortlisting_cannot_begin_before_idea_generation_began() {
    let (_, e) = refused(idea_cycle(), |c| c.begin_shortlisting(day(9)));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "begin shortlisting",
            at: day(9),
            step: Step::IdeaGeneration,
            began: day(10),
        }
    );
}

#[test]
fn step3_a_child_cannot_submit_an_idea() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| c.submit_idea(idea(4, child(40))));
    assert_eq!(
        e,
        CycleError::Ineligible {
            action: "submitting an idea",
            source: Ineligible::TooYoung {
                resident: ResidentId::from_u128(40),
                age: 10,
                minimum: 12,
                on: day(12).date_naive(),
            }
        }
    );
}

#[test]
fn step3_an_outsider_cannot_submit_an_idea() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| c.submit_idea(idea(4, outsider(41))));
    assert_eq!(
        e,
        CycleError::Ineligible {
            action: "submitting an idea",
            source: Ineligible::OutsideArea {
                resident: ResidentId::from_u128(41),
                lives_in: medborgarbudget::ids::AreaId::from_u128(0xB),
                area: area_id(),
            }
        }
    );
}

#[test]
fn step3_a_resident_who_moved_out_cannot_submit_an_idea() {
    let mut c = idea_cycle();
    let moved: Resident = resident(42).moved_out(date(2026, 1, 20)).unwrap();
    let e = rejected(&mut c, |c| c.submit_idea(idea(4, moved)));
    assert_eq!(
        e,
        CycleError::Ineligible {
            action: "submitting an idea",
            source: Ineligible::MovedOut {
                resident: ResidentId::from_u128(42),
                until: date(2026, 1, 20),
                on: day(12).date_naive(),
            }
        }
    );
    // Moving out after submitting does not matter.
    let later = resident(42).moved_out(date(2026, 6, 1)).unwrap();
    c.submit_idea(idea(4, later)).unwrap();
}

#[test]
fn step3_co_authors_must_be_eligible_too() {
    let mut c = idea_cycle();
    let with_child = IdeaSubmission {
        co_authors: vec![resident(43), child(44)],
        ..idea(4, resident(4))
    };
    let e = rejected(&mut c, |c| c.submit_idea(with_child));
    assert_eq!(
        e,
        CycleError::Ineligible {
            action: "submitting an idea",
            source: Ineligible::TooYoung {
                resident: ResidentId::from_u128(44),
                age: 10,
                minimum: 12,
                on: day(12).date_naive(),
            }
        }
    );
    let with_outsider = IdeaSubmission {
        co_authors: vec![outsider(45)],
        ..idea(4, resident(4))
    };
    let e = rejected(&mut c, |c| c.submit_idea(with_outsider));
    assert!(
        matches!(
            e,
            CycleError::Ineligible {
                action: "submitting an idea",
                source: Ineligible::OutsideArea { resident, .. }
            } if resident == ResidentId::from_u128(45)
        ),
        "{e:?}"
    );
    c.submit_idea(IdeaSubmission {
        co_authors: vec![resident(43)],
        ..idea(4, resident(4))
    })
    .unwrap();
}

#[test]
fn step3_an_author_cannot_be_their_own_co_author() {
    let mut c = idea_cycle();
    let twice = IdeaSubmission {
        co_authors: vec![resident(4)],
        ..idea(4, resident(4))
    };
    let e = rejected(&mut c, |c| c.submit_idea(twice));
    assert!(
        matches!(
            e,
            CycleError::DuplicateId {
                kind: "co-author",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn step3_a_repeated_co_author_is_named_by_resident_id() {
    let mut c = idea_cycle();
    // Resident 44 writes idea 4 and is listed as its co-author as well.
    let twice = IdeaSubmission {
        co_authors: vec![resident(43), resident(44)],
        ..idea(4, resident(44))
    };
    let e = rejected(&mut c, |c| c.submit_idea(twice));
    assert_eq!(
        e,
        CycleError::DuplicateId {
            kind: "co-author",
            id: ResidentId::from_u128(44).to_string(),
        }
    );
}

#[test]
fn step3_an_idea_id_cannot_be_reused() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| c.submit_idea(idea(2, resident(9))));
    assert_eq!(
        e,
        CycleError::DuplicateId {
            kind: "idea",
            id: idea_id(2).to_string()
        }
    );
}

#[test]
fn step3_an_idea_needs_a_title_and_description() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| {
        c.submit_idea(IdeaSubmission {
            title: " ".into(),
            ..idea(4, resident(4))
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the idea's title"
        }
    );
    let e = rejected(&mut c, |c| {
        c.submit_idea(IdeaSubmission {
            description: String::new().into(),
            ..idea(4, resident(4))
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the idea's description"
        }
    );
}

#[test]
fn step3_a_cost_estimate_must_be_in_the_cycle_currency() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| {
        c.submit_idea(IdeaSubmission {
            estimated_cost: Some(eur(5_000)),
            ..idea(4, resident(4))
        })
    });
    assert_eq!(
        e,
        CycleError::WrongCurrency {
            what: "the estimated cost",
            expected: Currency::SEK,
            found: Currency::EUR,
        }
    );
    c.submit_idea(IdeaSubmission {
        estimated_cost: Some(sek(50_000)),
        ..idea(4, resident(4))
    })
    .unwrap();
}

#[test]
fn step3_an_idea_cannot_be_dated_before_idea_generation_began() {
    let mut c = idea_cycle();
    let e = rejected(&mut c, |c| {
        c.submit_idea(IdeaSubmission {
            submitted_at: day(9),
            ..idea(4, resident(4))
        })
    });
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "submit an idea",
            at: day(9),
            step: Step::IdeaGeneration,
            began: day(10),
        }
    );
}

#[test]
fn step3_reject_only_submitted_ideas() {
    let mut c = idea_cycle();
    c.reject_idea(idea_id(1), "Private land".into()).unwrap();
    let e = rejected(&mut c, |c| c.reject_idea(idea_id(1), "Again".into()));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(1),
            operation: "reject",
            status: "rejected",
            expected: "submitted",
        }
    );
    let e = rejected(&mut c, |c| c.reject_idea(idea_id(9), "Unknown".into()));
    assert_eq!(e, CycleError::UnknownIdea { idea: idea_id(9) });
    let e = rejected(&mut c, |c| c.reject_idea(idea_id(2), " ".into()));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the reason for rejecting"
        }
    );
}

// ---------------------------------------------------------------------------
// Step 4: shortlisting
// ---------------------------------------------------------------------------

#[test]
fn step4_undecided_ideas_block_voting() {
    let c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    let all = vec![idea_id(1), idea_id(2), idea_id(3)];
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::UndecidedIdeas { ideas: all.clone() }
        )
    );
    // Under review is not yet an answer.
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
    }
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(Step::Shortlisting, GateError::UndecidedIdeas { ideas: all })
    );
    for n in 1..=3 {
        c.propose_project(proposal(n, vec![idea_id(n)])).unwrap();
        prepare(&mut c, n);
    }
    assert!(open(c).is_ok());
}

/// Step 4 where idea 2 is merged into idea 1, project 1 comes from idea 1, and
/// idea 3 becomes project 3 (`third` true) or is rejected.
fn one_or_two_projects(rules: BallotRules, third: bool) -> Cycle<Shortlisting> {
    let mut c = idea_cycle_with(rules).begin_shortlisting(day(40)).unwrap();
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
    }
    c.merge_idea(idea_id(2), idea_id(1)).unwrap();
    c.propose_project(proposal(1, vec![idea_id(1)])).unwrap();
    prepare(&mut c, 1);
    if third {
        c.propose_project(proposal(3, vec![idea_id(3)])).unwrap();
        prepare(&mut c, 3);
    } else {
        c.reject_idea(idea_id(3), "Duplicates the city's own plan".into())
            .unwrap();
    }
    c
}

#[test]
fn step4_fewer_than_two_projects_block_voting() {
    let (_, e) = refused(one_or_two_projects(approval_rules(), false), open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::TooFewProjects { on_shortlist: 1 }
        )
    );
    // The same cycle with a second project passes.
    assert!(open(one_or_two_projects(approval_rules(), true)).is_ok());
}

#[test]
fn step4_no_project_at_all_blocks_voting() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
        c.reject_idea(idea_id(n), "Not feasible".into()).unwrap();
    }
    let (_, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::TooFewProjects { on_shortlist: 0 }
        )
    );
}

#[test]
fn step4_shortlist_shorter_than_the_ballot_minimum_blocks_voting() {
    let choose_three = || {
        BallotRules::builder(BallotKind::Approval)
            .min_projects(3)
            .max_projects(3)
            .build()
            .unwrap()
    };
    // Two projects (idea 3 shortlisted alongside, idea 2 merged).
    let mut c = idea_cycle_with(choose_three())
        .begin_shortlisting(day(40))
        .unwrap();
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
    }
    c.merge_idea(idea_id(3), idea_id(2)).unwrap();
    for n in 1..=2 {
        c.propose_project(proposal(n, vec![idea_id(n)])).unwrap();
        prepare(&mut c, n);
    }
    let (_, e) = refused(c, open);
    let too_short = gate(
        Step::Shortlisting,
        GateError::ShortlistTooShortForRules {
            min_projects: 3,
            on_shortlist: 2,
        },
    );
    assert_eq!(e, too_short);

    // Three projects, one withdrawn: the withdrawn one does not count.
    let mut c = shortlisting_cycle_with(choose_three());
    c.withdraw_project(project_id(3), "Merged into the city's plan".into())
        .unwrap();
    let (_, e) = refused(c, open);
    assert_eq!(e, too_short);

    // Three projects on the shortlist pass.
    assert!(open(shortlisting_cycle_with(choose_three())).is_ok());
}

#[test]
fn step4_a_project_without_cost_blocks_voting() {
    let mut c = proposed();
    prepare(&mut c, 1);
    prepare(&mut c, 3);
    feasible(&mut c, 2);
    score_on(&mut c, 2, "meeting-places");
    score_on(&mut c, 2, "movement");
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::NotCosted {
                project: project_id(2)
            }
        )
    );
    cost(&mut c, 2);
    assert!(open(c).is_ok());
}

#[test]
fn step4_a_project_costing_more_than_the_budget_blocks_voting() {
    let mut c = shortlisting_cycle();
    c.estimate_cost(project_id(2), sek(1_000_001)).unwrap();
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::CostOverBudget {
                project: project_id(2),
                cost: sek(1_000_001),
                budget: sek(1_000_000),
            }
        )
    );
    // Either a revised estimate or a top-up (still allowed in step 4) fixes it.
    let mut revised = c.clone();
    revised
        .estimate_cost(project_id(2), sek(1_000_000))
        .unwrap();
    assert!(open(revised).is_ok());
    c.add_funds(council_top_up(1)).unwrap();
    assert_eq!(c.budget().unwrap(), sek(1_000_001));
    assert!(open(c).is_ok());
}

#[test]
fn step4_a_project_not_assessed_blocks_voting() {
    let mut c = proposed();
    prepare(&mut c, 1);
    prepare(&mut c, 3);
    cost(&mut c, 2);
    score_on(&mut c, 2, "meeting-places");
    score_on(&mut c, 2, "movement");
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::NotFeasible {
                project: project_id(2)
            }
        )
    );
    feasible(&mut c, 2);
    assert!(open(c).is_ok());
}

#[test]
fn step4_an_infeasible_project_blocks_voting() {
    let mut c = shortlisting_cycle();
    c.assess_feasibility(
        project_id(2),
        Feasibility::Infeasible {
            reason: "The ground is contaminated".into(),
        },
    )
    .unwrap();
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::NotFeasible {
                project: project_id(2)
            }
        )
    );
    feasible(&mut c, 2);
    assert!(open(c).is_ok());
}

#[test]
fn step4_infeasibility_needs_a_reason() {
    let mut c = shortlisting_cycle();
    let e = rejected(&mut c, |c| {
        c.assess_feasibility(
            project_id(1),
            Feasibility::Infeasible { reason: " ".into() },
        )
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the reason a project is infeasible"
        }
    );
}

#[test]
fn step4_a_project_not_scored_on_a_criterion_blocks_voting() {
    let mut c = proposed();
    prepare(&mut c, 1);
    prepare(&mut c, 3);
    cost(&mut c, 2);
    feasible(&mut c, 2);
    score_on(&mut c, 2, "meeting-places");
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::NotScored {
                project: project_id(2),
                criterion: "movement".into(),
            }
        )
    );
    score_on(&mut c, 2, "movement");
    assert!(open(c).is_ok());
}

#[test]
fn step4_a_withdrawn_project_is_ignored_by_the_gate_but_refuses_edits() {
    let mut c = proposed();
    prepare(&mut c, 1);
    prepare(&mut c, 2);
    let (mut c, e) = refused(c, open);
    assert_eq!(
        e,
        gate(
            Step::Shortlisting,
            GateError::NotCosted {
                project: project_id(3)
            }
        )
    );
    c.withdraw_project(project_id(3), "Already in the city's plan".into())
        .unwrap();
    let p3 = project_id(3);
    let withdrawn = CycleError::Withdrawn { project: p3 };
    assert_eq!(
        rejected(&mut c, |c| c.estimate_cost(p3, sek(1_000))),
        withdrawn
    );
    assert_eq!(
        rejected(&mut c, |c| c.assess_feasibility(p3, Feasibility::Feasible)),
        withdrawn
    );
    assert_eq!(
        rejected(&mut c, |c| c.score_project(p3, "movement".into(), score(3))),
        withdrawn
    );
    assert_eq!(
        rejected(&mut c, |c| c.add_co_creator(p3, resident(77))),
        withdrawn
    );
    assert_eq!(
        rejected(&mut c, |c| c.withdraw_project(p3, "Twice".into())),
        withdrawn
    );
    let voting = open(c).unwrap();
    assert_eq!(voting.projects().len(), 3, "withdrawn projects are kept");
    assert!(!voting.project(p3).unwrap().is_on_shortlist());
}

#[test]
fn step4_withdrawing_needs_a_reason() {
    let mut c = shortlisting_cycle();
    let e = rejected(&mut c, |c| c.withdraw_project(project_id(1), "".into()));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the reason for withdrawing"
        }
    );
}

#[test]
fn step4_review_only_submitted_ideas() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    c.review_idea(idea_id(1)).unwrap();
    let e = rejected(&mut c, |c| c.review_idea(idea_id(1)));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(1),
            operation: "review",
            status: "under review",
            expected: "submitted",
        }
    );
    let e = rejected(&mut c, |c| c.review_idea(idea_id(9)));
    assert_eq!(e, CycleError::UnknownIdea { idea: idea_id(9) });
}

#[test]
fn step4_an_idea_rejected_as_inadmissible_cannot_be_reviewed() {
    let mut c = idea_cycle();
    c.reject_idea(idea_id(3), "Outside the district".into())
        .unwrap();
    let mut c = c.begin_shortlisting(day(40)).unwrap();
    let e = rejected(&mut c, |c| c.review_idea(idea_id(3)));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(3),
            operation: "review",
            status: "rejected",
            expected: "submitted",
        }
    );
}

#[test]
fn step4_merge_only_under_review_into_under_review() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    c.review_idea(idea_id(1)).unwrap();
    // Idea 2 is still only submitted.
    let e = rejected(&mut c, |c| c.merge_idea(idea_id(2), idea_id(1)));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(2),
            operation: "merge",
            status: "submitted",
            expected: "under review",
        }
    );
    let e = rejected(&mut c, |c| c.merge_idea(idea_id(1), idea_id(2)));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(2),
            operation: "receive a merge",
            status: "submitted",
            expected: "under review",
        }
    );
    let e = rejected(&mut c, |c| c.merge_idea(idea_id(1), idea_id(1)));
    assert_eq!(e, CycleError::MergeIntoItself { idea: idea_id(1) });
    let e = rejected(&mut c, |c| c.merge_idea(idea_id(1), idea_id(9)));
    assert_eq!(e, CycleError::UnknownIdea { idea: idea_id(9) });

    c.review_idea(idea_id(2)).unwrap();
    c.merge_idea(idea_id(2), idea_id(1)).unwrap();
    assert_eq!(
        c.idea(idea_id(2)).unwrap().status(),
        &IdeaStatus::Merged { into: idea_id(1) }
    );
    // A merged idea can be neither merged again nor receive a merge.
    c.review_idea(idea_id(3)).unwrap();
    let e = rejected(&mut c, |c| c.merge_idea(idea_id(3), idea_id(2)));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(2),
            operation: "receive a merge",
            status: "merged",
            expected: "under review",
        }
    );
}

#[test]
fn step4_reject_only_ideas_under_review() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    let e = rejected(&mut c, |c| c.reject_idea(idea_id(1), "Too costly".into()));
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(1),
            operation: "reject",
            status: "submitted",
            expected: "under review",
        }
    );
    c.review_idea(idea_id(1)).unwrap();
    c.reject_idea(idea_id(1), "Too costly".into()).unwrap();
    assert_eq!(
        c.idea(idea_id(1)).unwrap().status(),
        &IdeaStatus::Rejected {
            reason: "Too costly".into(),
            step: Step::Shortlisting
        }
    );
}

#[test]
fn step4_a_project_needs_ideas_under_review() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    c.review_idea(idea_id(1)).unwrap();
    // Idea 1 is under review, idea 2 only submitted: nothing changes.
    let e = rejected(&mut c, |c| {
        c.propose_project(proposal(1, vec![idea_id(1), idea_id(2)]))
    });
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(2),
            operation: "shortlist",
            status: "submitted",
            expected: "under review",
        }
    );
    assert_eq!(
        c.idea(idea_id(1)).unwrap().status(),
        &IdeaStatus::UnderReview
    );
    let e = rejected(&mut c, |c| c.propose_project(proposal(1, vec![])));
    assert_eq!(
        e,
        CycleError::NoIdeas {
            project: project_id(1)
        }
    );
    let e = rejected(&mut c, |c| {
        c.propose_project(proposal(1, vec![idea_id(1), idea_id(1)]))
    });
    assert_eq!(
        e,
        CycleError::DuplicateId {
            kind: "idea in proposal",
            id: idea_id(1).to_string()
        }
    );
    c.propose_project(proposal(1, vec![idea_id(1)])).unwrap();
    assert_eq!(
        c.idea(idea_id(1)).unwrap().status(),
        &IdeaStatus::Shortlisted {
            project: project_id(1)
        }
    );
    // A shortlisted idea cannot go into a second project.
    c.review_idea(idea_id(2)).unwrap();
    let e = rejected(&mut c, |c| {
        c.propose_project(proposal(2, vec![idea_id(2), idea_id(1)]))
    });
    assert_eq!(
        e,
        CycleError::IdeaStatus {
            idea: idea_id(1),
            operation: "shortlist",
            status: "shortlisted",
            expected: "under review",
        }
    );
    let e = rejected(&mut c, |c| c.propose_project(proposal(1, vec![idea_id(2)])));
    assert_eq!(
        e,
        CycleError::DuplicateId {
            kind: "project",
            id: project_id(1).to_string()
        }
    );
}

#[test]
fn step4_a_project_needs_residents_each_once() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    c.review_idea(idea_id(1)).unwrap();
    let nobody = ProjectProposal {
        worked_on_by: vec![],
        ..proposal(1, vec![idea_id(1)])
    };
    let e = rejected(&mut c, |c| c.propose_project(nobody));
    assert_eq!(
        e,
        CycleError::NoResidents {
            project: project_id(1)
        }
    );
    let twice = ProjectProposal {
        worked_on_by: vec![resident(7), resident(8), resident(7)],
        ..proposal(1, vec![idea_id(1)])
    };
    let e = rejected(&mut c, |c| c.propose_project(twice));
    assert_eq!(
        e,
        CycleError::ResidentTwice {
            project: project_id(1),
            resident: ResidentId::from_u128(7),
        }
    );
    c.propose_project(ProjectProposal {
        worked_on_by: vec![resident(7), resident(8)],
        ..proposal(1, vec![idea_id(1)])
    })
    .unwrap();
    // A co-creator already recorded is refused in step 4 as well.
    let e = rejected(&mut c, |c| c.add_co_creator(project_id(1), resident(8)));
    assert_eq!(
        e,
        CycleError::ResidentTwice {
            project: project_id(1),
            resident: ResidentId::from_u128(8),
        }
    );
}

#[test]
fn step4_a_project_needs_a_title_and_description() {
    let mut c = idea_cycle().begin_shortlisting(day(40)).unwrap();
    c.review_idea(idea_id(1)).unwrap();
    let e = rejected(&mut c, |c| {
        c.propose_project(ProjectProposal {
            title: " ".into(),
            ..proposal(1, vec![idea_id(1)])
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the project's title"
        }
    );
    let e = rejected(&mut c, |c| {
        c.propose_project(ProjectProposal {
            description: String::new().into(),
            ..proposal(1, vec![idea_id(1)])
        })
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the project's description"
        }
    );
}

#[test]
fn step4_scores_only_on_known_criteria() {
    let mut c = shortlisting_cycle();
    let e = rejected(&mut c, |c| {
        c.score_project(project_id(1), "beauty".into(), score(9))
    });
    assert_eq!(
        e,
        CycleError::UnknownCriterion {
            project: project_id(1),
            criterion: "beauty".into(),
        }
    );
    let e = rejected(&mut c, |c| {
        c.score_project(project_id(9), "movement".into(), score(9))
    });
    assert_eq!(
        e,
        CycleError::UnknownProject {
            project: project_id(9)
        }
    );
}

#[test]
fn step4_cost_estimates_are_positive_and_in_the_cycle_currency() {
    let mut c = shortlisting_cycle();
    let p = project_id(1);
    assert_eq!(
        rejected(&mut c, |c| c.estimate_cost(p, sek(0))),
        CycleError::NotPositive {
            what: "a cost estimate",
            amount: sek(0)
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.estimate_cost(p, eur(10))),
        CycleError::WrongCurrency {
            what: "the cost estimate",
            expected: Currency::SEK,
            found: Currency::EUR
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.estimate_cost(ProjectId::from_u128(9), sek(1))),
        CycleError::UnknownProject {
            project: ProjectId::from_u128(9)
        }
    );
}

#[test]
fn step4_a_window_closing_no_later_than_it_opens_is_invalid() {
    let empty = VotingWindow {
        opens: day(60),
        closes: day(60),
    };
    let (c, e) = refused(shortlisting_cycle(), |c| c.open_voting(empty, day(60)));
    assert_eq!(
        e,
        CycleError::InvalidWindow {
            opens: day(60),
            closes: day(60),
            at: day(60)
        }
    );
    let backwards = VotingWindow {
        opens: day(70),
        closes: day(65),
    };
    let (c, e) = refused(c, |c| c.open_voting(backwards, day(60)));
    assert_eq!(
        e,
        CycleError::InvalidWindow {
            opens: day(70),
            closes: day(65),
            at: day(60)
        }
    );
    let voting = c.open_voting(window(), day(60)).unwrap();
    assert_eq!(voting.window(), &window());
}

#[test]
fn step4_a_window_opening_before_voting_is_opened_is_invalid() {
    let (c, e) = refused(shortlisting_cycle(), |c| c.open_voting(window(), day(61)));
    assert_eq!(
        e,
        CycleError::InvalidWindow {
            opens: day(60),
            closes: day(74),
            at: day(61)
        }
    );
    // Opening a window that starts later is fine.
    assert!(c.open_voting(window(), day(55)).is_ok());
}

#[test]
fn step4_voting_cannot_be_opened_before_shortlisting_began() {
    let early = VotingWindow {
        opens: day(39),
        closes: day(74),
    };
    let (_, e) = refused(shortlisting_cycle(), |c| c.open_voting(early, day(39)));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "open voting",
            at: day(39),
            step: Step::Shortlisting,
            began: day(40),
        }
    );
}

// ---------------------------------------------------------------------------
// Step 5: voting
// ---------------------------------------------------------------------------

#[test]
fn step5_voting_cannot_close_while_the_window_is_open() {
    let (c, e) = refused(voted_cycle(), |c| c.close_voting(day(73), &Greedy));
    assert_eq!(
        e,
        gate(
            Step::Voting,
            GateError::WindowOpen {
                closes: day(74),
                at: day(73)
            }
        )
    );
    // The instant the window closes is enough.
    let implementation = c.close_voting(day(74), &Greedy).unwrap();
    assert_eq!(implementation.decision().decided_at, day(74));
}

#[test]
fn step5_a_tally_of_another_rule_is_refused() {
    let (c, e) = refused(voted_cycle(), |c| c.close_voting(day(75), &OtherRule));
    assert_eq!(
        e,
        CycleError::WrongRule {
            expected: Rule::Greedy,
            given: Rule::custom("other").unwrap()
        }
    );
    assert_eq!(
        c.close_voting(day(75), &Greedy).unwrap().decision().rule,
        "greedy"
    );
}

#[test]
fn step5_the_outcome_stays_within_the_budget() {
    let implementation = implementation_cycle();
    let d = implementation.decision();
    assert_eq!(d.budget, sek(1_000_000));
    assert_eq!(d.total_cost, sek(900_000));
    assert!(d.total_cost.minor() <= d.budget.minor());

    // A rule that funds everything (1 200 000 SEK) is refused.
    let c = voted_with(approval_counted_by("custom:everything"));
    let (_, e) = refused(c, |c| c.close_voting(day(75), &Everything));
    assert_eq!(
        e,
        gate(
            Step::Voting,
            GateError::OutcomeOverBudget {
                total_cost: sek(1_200_000),
                budget: sek(1_000_000),
            }
        )
    );
}

#[test]
fn step5_an_unknown_built_in_rule_needs_an_explicit_tally() {
    let voting = voted_with(approval_counted_by("custom:other"));
    let mut any = AnyCycle::from(voting);
    let before = any.clone();
    let close = Command::CloseVoting { at: day(75) };
    assert_eq!(
        any.apply(close.clone()),
        Err(CycleError::UnknownRule {
            rule: Rule::custom("other").unwrap()
        })
    );
    assert_eq!(any, before);
    // Another rule's tally is refused through AnyCycle too.
    assert_eq!(
        any.apply_with_tally(close.clone(), &Greedy),
        Err(CycleError::WrongRule {
            expected: Rule::custom("other").unwrap(),
            given: Rule::Greedy
        })
    );
    assert_eq!(any, before);
    let events = any.apply_with_tally(close, &OtherRule).unwrap();
    assert_eq!(any.step(), Step::Implementation);
    let decision = any.decision().unwrap();
    assert_eq!(decision.rule, "other");
    assert_eq!(decision.funded, vec![project_id(1), project_id(2)]);
    assert_eq!(
        events,
        vec![medborgarbudget::process::Event::VotingClosed(
            decision.clone()
        )]
    );
}

#[test]
fn step5_voting_cannot_close_before_voting_began() {
    // A window that opens later than voting is opened; closing before the step
    // began is refused as such.
    let c = shortlisting_cycle().open_voting(window(), day(50)).unwrap();
    let (_, e) = refused(c, |c| c.close_voting(day(49), &Greedy));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "close voting",
            at: day(49),
            step: Step::Voting,
            began: day(50),
        }
    );
}

// ---------------------------------------------------------------------------
// Step 6: implementation
// ---------------------------------------------------------------------------

#[test]
fn step6_unfinished_projects_block_follow_up() {
    let (mut c, e) = refused(implementation_cycle(), |c| c.begin_follow_up(day(310)));
    assert_eq!(
        e,
        gate(
            Step::Implementation,
            GateError::Unfinished {
                projects: vec![project_id(1), project_id(2)]
            }
        )
    );
    c.add_co_creator(project_id(1), resident(900)).unwrap();
    c.complete_project(project_id(1), sek(390_000), day(300))
        .unwrap();
    let (mut c, e) = refused(c, |c| c.begin_follow_up(day(310)));
    assert_eq!(
        e,
        gate(
            Step::Implementation,
            GateError::Unfinished {
                projects: vec![project_id(2)]
            }
        )
    );
    // A cancelled project is finished too.
    c.cancel_project(
        project_id(2),
        "The landowner withdrew".into(),
        sek(20_000),
        day(300),
    )
    .unwrap();
    let follow_up = c.begin_follow_up(day(310)).unwrap();
    assert_eq!(follow_up.spent().unwrap(), sek(410_000));
}

#[test]
fn step6_follow_up_cannot_begin_before_implementation_began() {
    let (_, e) = refused(all_projects_completed(), |c| c.begin_follow_up(day(74)));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "begin follow-up",
            at: day(74),
            step: Step::Implementation,
            began: day(75),
        }
    );
}

#[test]
fn step6_follow_up_cannot_begin_before_the_projects_were_finished() {
    // Both projects are completed on day 300; follow-up "begins" on day 200.
    let (_, e) = refused(all_projects_completed(), |c| c.begin_follow_up(day(200)));
    assert!(
        matches!(
            e,
            CycleError::Gate {
                step: Step::Implementation,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn step5_voting_cannot_close_before_counted_ballots_were_entered() {
    let mut c = voting_cycle();
    c.enter_paper_ballots(medborgarbudget::ballot::PaperBatch {
        entered_by: "Valnämndens kansli".into(),
        entered_at: day(90),
        ballots: vec![ballot(
            1,
            resident(101),
            Choices::Approval(vec![project_id(1)]),
        )],
    })
    .unwrap();
    // Decided on day 75, counting a ballot entered on day 90.
    let (_, e) = refused(c, |c| c.close_voting(day(75), &Greedy));
    assert!(
        matches!(
            e,
            CycleError::Gate {
                step: Step::Voting,
                ..
            } | CycleError::BeforeStep { .. }
        ),
        "{e:?}"
    );
}

/// Implementation with both funded projects completed.
fn all_projects_completed() -> Cycle<Implementation> {
    let mut c = implementation_cycle();
    for n in 1..=2 {
        c.add_co_creator(project_id(n), resident(900)).unwrap();
        c.complete_project(project_id(n), project_cost(n), day(300))
            .unwrap();
    }
    c
}

#[test]
fn step6_completing_needs_a_co_creator_from_implementation() {
    let mut c = implementation_cycle();
    // Project 1 was worked on by resident 501 in step 4; that is not enough.
    assert!(
        c.project(project_id(1))
            .unwrap()
            .involves(ResidentId::from_u128(501))
    );
    let e = rejected(&mut c, |c| {
        c.complete_project(project_id(1), sek(390_000), day(300))
    });
    assert_eq!(
        e,
        CycleError::NoCoCreators {
            project: project_id(1)
        }
    );
    c.add_co_creator(project_id(1), resident(901)).unwrap();
    c.complete_project(project_id(1), sek(390_000), day(300))
        .unwrap();
    assert_eq!(
        c.project(project_id(1))
            .unwrap()
            .delivery()
            .unwrap()
            .progress
            .percent(),
        100
    );
}

#[test]
fn step6_an_unfunded_project_cannot_be_implemented() {
    let mut c = implementation_cycle();
    let p3 = project_id(3);
    let not_funded = CycleError::NotFunded { project: p3 };
    let milestone = Milestone {
        title: "Design workshop".into(),
        reached_on: date(2026, 5, 1),
    };
    assert_eq!(
        rejected(&mut c, |c| c.record_milestone(p3, milestone)),
        not_funded
    );
    assert_eq!(
        rejected(&mut c, |c| c
            .record_progress(p3, Progress::new(10).unwrap())),
        not_funded
    );
    assert_eq!(
        rejected(&mut c, |c| c.add_co_creator(p3, resident(900))),
        not_funded
    );
    assert_eq!(
        rejected(&mut c, |c| c.complete_project(p3, sek(1), day(300))),
        not_funded
    );
    assert_eq!(
        rejected(&mut c, |c| c.cancel_project(
            p3,
            "Not funded".into(),
            sek(0),
            day(300)
        )),
        not_funded
    );
    let p9 = project_id(9);
    assert_eq!(
        rejected(&mut c, |c| c
            .record_progress(p9, Progress::new(10).unwrap())),
        CycleError::UnknownProject { project: p9 }
    );
}

#[test]
fn step6_a_finished_project_cannot_be_changed() {
    let mut c = implementation_cycle();
    let p1 = project_id(1);
    c.add_co_creator(p1, resident(900)).unwrap();
    c.complete_project(p1, sek(390_000), day(300)).unwrap();
    let p2 = project_id(2);
    c.cancel_project(p2, "Permit refused".into(), sek(5_000), day(300))
        .unwrap();
    for p in [p1, p2] {
        let finished = CycleError::AlreadyFinished { project: p };
        assert_eq!(
            rejected(&mut c, |c| c.record_progress(p, Progress::new(50).unwrap())),
            finished
        );
        assert_eq!(
            rejected(&mut c, |c| c.record_milestone(
                p,
                Milestone {
                    title: "Late".into(),
                    reached_on: date(2026, 11, 1)
                }
            )),
            finished
        );
        assert_eq!(
            rejected(&mut c, |c| c.add_co_creator(p, resident(902))),
            finished
        );
        assert_eq!(
            rejected(&mut c, |c| c.complete_project(p, sek(1), day(301))),
            finished
        );
        assert_eq!(
            rejected(&mut c, |c| c.cancel_project(
                p,
                "Again".into(),
                sek(1),
                day(301)
            )),
            finished
        );
    }
}

#[test]
fn step6_costs_are_not_negative_and_in_the_cycle_currency() {
    let mut c = implementation_cycle();
    let p1 = project_id(1);
    c.add_co_creator(p1, resident(900)).unwrap();
    assert_eq!(
        rejected(&mut c, |c| c.complete_project(p1, sek(-1), day(300))),
        CycleError::Negative {
            what: "a final cost",
            amount: sek(-1)
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.complete_project(p1, eur(1), day(300))),
        CycleError::WrongCurrency {
            what: "the final cost",
            expected: Currency::SEK,
            found: Currency::EUR
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.cancel_project(
            p1,
            "Budget cut".into(),
            sek(-5),
            day(300)
        )),
        CycleError::Negative {
            what: "an amount spent",
            amount: sek(-5)
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.cancel_project(
            p1,
            "Budget cut".into(),
            eur(5),
            day(300)
        )),
        CycleError::WrongCurrency {
            what: "the amount spent",
            expected: Currency::SEK,
            found: Currency::EUR
        }
    );
    // Nothing spent is fine.
    c.cancel_project(p1, "Budget cut".into(), sek(0), day(300))
        .unwrap();
}

#[test]
fn step6_cancelling_needs_a_reason() {
    let mut c = implementation_cycle();
    let e = rejected(&mut c, |c| {
        c.cancel_project(project_id(1), "  ".into(), sek(0), day(300))
    });
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the reason for cancelling"
        }
    );
}

#[test]
fn step6_nothing_is_finished_before_implementation_began() {
    let mut c = implementation_cycle(); // began day 75
    c.add_co_creator(project_id(1), resident(900)).unwrap();
    let before_step = |operation| CycleError::BeforeStep {
        operation,
        at: day(74),
        step: Step::Implementation,
        began: day(75),
    };
    assert_eq!(
        rejected(&mut c, |c| c.complete_project(
            project_id(1),
            sek(1),
            day(74)
        )),
        before_step("complete a project")
    );
    assert_eq!(
        rejected(&mut c, |c| c.cancel_project(
            project_id(1),
            "Why".into(),
            sek(1),
            day(74)
        )),
        before_step("cancel a project")
    );
}

#[test]
fn step6_co_creators_and_milestones_are_checked() {
    let mut c = implementation_cycle();
    let p1 = project_id(1);
    c.add_co_creator(p1, resident(900)).unwrap();
    assert_eq!(
        rejected(&mut c, |c| c.add_co_creator(p1, resident(900))),
        CycleError::ResidentTwice {
            project: p1,
            resident: ResidentId::from_u128(900)
        }
    );
    assert_eq!(
        rejected(&mut c, |c| c.record_milestone(
            p1,
            Milestone {
                title: " ".into(),
                reached_on: date(2026, 5, 1)
            }
        )),
        CycleError::EmptyText {
            field: "the milestone's title"
        }
    );
}

// ---------------------------------------------------------------------------
// Step 7: follow-up
// ---------------------------------------------------------------------------

#[test]
fn step7_an_evaluation_without_lessons_cannot_close_the_cycle() {
    let no_lessons = Evaluation {
        lessons: vec![],
        ..evaluation()
    };
    let (c, e) = refused(follow_up_cycle(), |c| c.close(no_lessons));
    assert_eq!(e, gate(Step::FollowUp, GateError::NoLessons));
    let closed = c.close(evaluation()).unwrap();
    assert_eq!(closed.evaluation(), &evaluation());
}

#[test]
fn step7_an_empty_lesson_cannot_close_the_cycle() {
    let empty = Evaluation {
        lessons: vec!["Publish results early".into(), "  ".into()],
        ..evaluation()
    };
    let (_, e) = refused(follow_up_cycle(), |c| c.close(empty));
    assert_eq!(e, CycleError::EmptyText { field: "a lesson" });
}

#[test]
fn step7_an_evaluation_cannot_be_dated_before_follow_up_began() {
    let early = Evaluation {
        recorded_at: day(309),
        ..evaluation()
    };
    let (_, e) = refused(follow_up_cycle(), |c| c.close(early));
    assert_eq!(
        e,
        CycleError::BeforeStep {
            operation: "close the cycle",
            at: day(309),
            step: Step::FollowUp,
            began: day(310),
        }
    );
}

// ---------------------------------------------------------------------------
// Abandoning
// ---------------------------------------------------------------------------

#[track_caller]
fn abandons<S>(cycle: Cycle<S>, step: Step)
where
    S: Active + Into<Previous>,
{
    // An empty reason is refused and the cycle comes back.
    let (cycle, e) = refused(cycle, |c| c.abandon(" ".into(), day(400)));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the reason for abandoning"
        }
    );
    let began = cycle.timeline().last().unwrap().1;
    let (cycle, e) = refused(cycle, |c| {
        c.abandon("Too early".into(), began - chrono::Duration::seconds(1))
    });
    assert!(
        matches!(e, CycleError::BeforeStep { operation: "abandon", step: s, .. } if s == step),
        "{e:?}"
    );
    let abandoned = cycle
        .abandon("Council cut the budget".into(), day(400))
        .unwrap();
    assert_eq!(abandoned.abandoned_in(), step);
    assert_eq!(abandoned.reason(), "Council cut the budget");
    assert_eq!(abandoned.step(), Step::Abandoned);
    assert_eq!(
        abandoned.timeline().last(),
        Some(&(Step::Abandoned, day(400)))
    );

    // An abandoned cycle cannot be abandoned again.
    let mut any = AnyCycle::from(abandoned);
    let before = any.clone();
    let again = any.apply(Command::Abandon {
        reason: "Again".into(),
        at: day(401),
    });
    assert_eq!(
        again,
        Err(CycleError::NotInThisStep {
            operation: "abandon",
            step: Step::Abandoned
        })
    );
    assert_eq!(any, before);
}

#[test]
fn abandon_from_criteria() {
    abandons(criteria_cycle(), Step::Criteria);
}

#[test]
fn abandon_from_outreach() {
    abandons(outreach_cycle(), Step::Outreach);
}

#[test]
fn abandon_from_idea_generation() {
    abandons(idea_cycle(), Step::IdeaGeneration);
}

#[test]
fn abandon_from_shortlisting() {
    abandons(shortlisting_cycle(), Step::Shortlisting);
}

#[test]
fn abandon_from_voting() {
    abandons(voted_cycle(), Step::Voting);
}

#[test]
fn abandon_from_implementation() {
    abandons(implementation_cycle(), Step::Implementation);
}

#[test]
fn abandon_from_follow_up() {
    abandons(follow_up_cycle(), Step::FollowUp);
}

#[test]
fn abandon_through_any_cycle_from_every_running_step() {
    for mut any in running_cycles() {
        let step = any.step();
        any.apply(Command::Abandon {
            reason: "Reorganisation".into(),
            at: day(400),
        })
        .unwrap();
        let abandoned: Cycle<medborgarbudget::process::Abandoned> = any.try_into().unwrap();
        assert_eq!(abandoned.abandoned_in(), step);
    }
}

#[test]
fn a_closed_cycle_cannot_be_abandoned() {
    let mut any = AnyCycle::from(closed_cycle());
    let before = any.clone();
    let e = any.apply(Command::Abandon {
        reason: "Too late".into(),
        at: day(400),
    });
    assert_eq!(
        e,
        Err(CycleError::NotInThisStep {
            operation: "abandon",
            step: Step::Closed
        })
    );
    assert_eq!(any, before);
}

// ---------------------------------------------------------------------------
// Adding funds
// ---------------------------------------------------------------------------

#[test]
fn funds_can_be_added_in_steps_one_to_four() {
    let top_up = || council_top_up(50_000);
    let grown = sek(1_050_000);

    let mut c = criteria_cycle();
    c.add_funds(top_up()).unwrap();
    assert_eq!(c.budget().unwrap(), grown);

    let mut c = outreach_cycle();
    c.add_funds(top_up()).unwrap();
    assert_eq!(c.budget().unwrap(), grown);

    let mut c = idea_cycle();
    c.add_funds(top_up()).unwrap();
    assert_eq!(c.budget().unwrap(), grown);

    let mut c = shortlisting_cycle();
    c.add_funds(top_up()).unwrap();
    c.add_funds(top_up()).unwrap();
    assert_eq!(c.budget().unwrap(), sek(1_100_000));
    assert_eq!(c.additions(), &[top_up(), top_up()]);
    // The larger budget is the one voted on.
    let voting = open(c).unwrap();
    assert_eq!(voting.budget().unwrap(), sek(1_100_000));
    assert_eq!(
        voting.election().unwrap().budget(),
        u64::try_from(sek(1_100_000).minor()).unwrap()
    );
}

#[test]
fn funds_added_are_positive_and_in_the_cycle_currency() {
    let mut c = idea_cycle();
    for minor in [0, -1] {
        let amount = Money::new(minor, Currency::SEK);
        let e = rejected(&mut c, |c| {
            c.add_funds(Allocation {
                amount,
                ..allocation(1)
            })
        });
        assert_eq!(
            e,
            CycleError::NotPositive {
                what: "an allocation",
                amount
            }
        );
    }
    let e = rejected(&mut c, |c| {
        c.add_funds(Allocation {
            amount: eur(10),
            ..allocation(1)
        })
    });
    assert_eq!(
        e,
        CycleError::WrongCurrency {
            what: "the allocation",
            expected: Currency::SEK,
            found: Currency::EUR
        }
    );
    let mut no_reference = allocation(10);
    no_reference.decision.reference = " ".into();
    let e = rejected(&mut c, |c| c.add_funds(no_reference));
    assert_eq!(
        e,
        CycleError::EmptyText {
            field: "the decision's reference"
        }
    );
    assert_eq!(c.budget().unwrap(), sek(1_000_000));
}

#[test]
fn the_budget_is_fixed_once_the_ballot_is_published() {
    for cycle in [
        AnyCycle::from(voted_cycle()),
        AnyCycle::from(implementation_cycle()),
        AnyCycle::from(follow_up_cycle()),
        AnyCycle::from(closed_cycle()),
    ] {
        let mut any = cycle;
        let step = any.step();
        let before = any.clone();
        assert_eq!(
            any.apply(Command::AddFunds(council_top_up(1))),
            Err(CycleError::NotInThisStep {
                operation: "add_funds",
                step
            })
        );
        assert_eq!(any, before);
        assert_eq!(any.budget().unwrap(), sek(1_000_000));
    }
}

#[test]
fn no_command_can_shrink_the_budget_after_outreach_starts() {
    for cycle in [
        AnyCycle::from(outreach_cycle()),
        AnyCycle::from(idea_cycle()),
        AnyCycle::from(shortlisting_cycle()),
        AnyCycle::from(voted_cycle()),
    ] {
        let mut any = cycle;
        let step = any.step();
        let before = any.clone();
        assert_eq!(
            any.apply(Command::SetBudget(allocation(10))),
            Err(CycleError::NotInThisStep {
                operation: "set_budget",
                step
            })
        );
        assert_eq!(any, before);
        assert_eq!(any.budget().unwrap(), sek(1_000_000));
    }
    // Through AnyCycle in step 1 the base allocation may still be replaced.
    let mut any = AnyCycle::from(criteria_cycle());
    any.apply(Command::SetBudget(allocation(10))).unwrap();
    assert_eq!(any.budget().unwrap(), sek(10));
}

#[test]
fn step2_outreach_dated_after_the_step_ends_is_refused() {
    let mut c = outreach_cycle();
    c.record_outreach(activity_on(day(12))).unwrap();
    let (c, e) = refused(c, |c| c.open_idea_generation(day(10)));
    assert_eq!(
        e,
        gate(
            Step::Outreach,
            GateError::RecordedAfterEnd {
                record: "an outreach activity",
                dated: day(12).date_naive().to_string(),
                at: day(10),
            }
        )
    );
    assert!(c.open_idea_generation(day(12)).is_ok());
}

#[test]
fn step4_knapsack_rules_no_ballot_could_follow_are_refused() {
    // A cost limit below the cheapest project (300 000).
    let tight = BallotRules::builder(BallotKind::Knapsack)
        .max_total_cost(sek(200_000))
        .build()
        .unwrap();
    let (_, e) = refused(shortlisting_cycle_with(tight), open);
    assert!(
        matches!(e, CycleError::Gate { step: Step::Shortlisting, source: GateError::CheapestBallotOverLimit { min_projects: 1, cheapest, limit } } if cheapest == sek(300_000) && limit == sek(200_000)),
        "{e:?}"
    );
    // Two projects at most, but 95 % of 1 000 000 must be used: the two dearest
    // cost 900 000.
    let share = BallotRules::builder(BallotKind::Knapsack)
        .max_projects(2)
        .min_budget_share(9_500)
        .build()
        .unwrap();
    let (_, e) = refused(shortlisting_cycle_with(share), open);
    assert!(
        matches!(e, CycleError::Gate { step: Step::Shortlisting, source: GateError::BudgetShareUnreachable { required, limit, largest } } if required == sek(950_000) && limit == sek(1_000_000) && largest == sek(900_000)),
        "{e:?}"
    );
    // 90 % is reachable with the two dearest projects.
    let reachable = BallotRules::builder(BallotKind::Knapsack)
        .max_projects(2)
        .min_budget_share(9_000)
        .build()
        .unwrap();
    assert!(open(shortlisting_cycle_with(reachable)).is_ok());
}

fn activity_on(at: chrono::DateTime<chrono::Utc>) -> medborgarbudget::process::OutreachActivity {
    medborgarbudget::process::OutreachActivity {
        held_on: at.date_naive(),
        ..activity()
    }
}

// ---------------------------------------------------------------------------
// What a step still needs
// ---------------------------------------------------------------------------

/// The time a transition command takes effect.
fn when(command: &Command) -> Option<chrono::DateTime<chrono::Utc>> {
    match command {
        Command::BeginOutreach { at }
        | Command::OpenIdeaGeneration { at }
        | Command::BeginShortlisting { at }
        | Command::OpenVoting { at, .. }
        | Command::CloseVoting { at }
        | Command::BeginFollowUp { at } => Some(*at),
        Command::Close(evaluation) => Some(evaluation.recorded_at),
        _ => None,
    }
}

/// `AnyCycle::unmet` is what the gate checks: at every point of a year, the
/// transition out of the current step (the year's own command, at its own
/// time) is refused with the first unmet condition as its gate error, and is
/// refused by the gate only when something is unmet.
#[test]
fn unmet_conditions_are_what_the_gate_checks_at_every_point_of_a_year() {
    let commands = year_commands(approval_rules());
    let mut cycle = AnyCycle::from(Cycle::new(setup()));
    let mut refusals = 0;
    for command in &commands {
        let step = cycle.step();
        let way_out = commands
            .iter()
            .find(|c| Some(c.name()) == step.way_out())
            .unwrap();
        let at = when(way_out).unwrap();
        let unmet = cycle.unmet(at);
        match cycle.decide(way_out) {
            Err(CycleError::Gate { step: s, source }) => {
                assert_eq!(s, step);
                assert_eq!(Some(&source), unmet.first(), "before {}", command.name());
                refusals += 1;
            }
            other => assert!(
                unmet.is_empty(),
                "{step}: unmet {unmet:?} but the gate gave {other:?}"
            ),
        }
        cycle.apply(command.clone()).unwrap();
    }
    assert_eq!(cycle.step(), Step::Closed);
    assert!(cycle.unmet(day(400)).is_empty());
    assert!(refusals > 20, "{refusals}");
}

/// Every missing piece is listed at once, not only the first.
#[test]
fn unmet_lists_every_missing_piece() {
    let fresh = AnyCycle::from(Cycle::new(setup()));
    assert_eq!(
        fresh.unmet(day(1)),
        vec![
            GateError::NoBudget,
            GateError::NoEligibility,
            GateError::NoBallotRules,
            GateError::NoCriteria
        ]
    );
    // Three projects proposed, none costed, assessed or scored: each of them
    // is listed for each thing it lacks, two criteria each.
    let c = proposed();
    let unmet = AnyCycle::from(c.clone()).unmet(day(50));
    assert_eq!(unmet.len(), 3 * (1 + 1 + 2), "{unmet:?}");
    assert_eq!(
        unmet[0],
        GateError::NotCosted {
            project: project_id(1)
        }
    );
    assert!(unmet.contains(&GateError::NotFeasible {
        project: project_id(3)
    }));
    assert!(unmet.contains(&GateError::NotScored {
        project: project_id(2),
        criterion: "movement".into()
    }));
    let (_, error) = refused(c, |c| c.open_voting(window(), day(50)));
    assert_eq!(error, gate(Step::Shortlisting, unmet[0].clone()));
    // Voting before the window closes, with paper ballots entered later.
    let voting = AnyCycle::from(at::<Voting>());
    assert!(matches!(
        voting.unmet(day(70)).as_slice(),
        [GateError::WindowOpen { .. }]
    ));
    assert!(voting.unmet(day(75)).is_empty());
}

/// Each step's way out is a command of that name.
#[test]
fn a_step_s_way_out_names_its_command() {
    let commands = year_commands(approval_rules());
    for step in Step::ALL
        .into_iter()
        .filter(|s| !matches!(s, Step::Closed | Step::Abandoned))
    {
        let name = step.way_out().unwrap();
        assert!(
            commands
                .iter()
                .any(|c| c.name() == name && when(c).is_some()),
            "{step}: {name}"
        );
    }
    assert_eq!(Step::Closed.way_out(), None);
    assert_eq!(Step::Abandoned.way_out(), None);
}
