//! Several budgets in one cycle: a part for the whole district and one per
//! neighbourhood, ballots per part under the rules' part voting, each part
//! counted alone, and carry-over kept per part across years.

#![allow(clippy::unwrap_used, clippy::panic)]

use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, Choices, Counting, RulesError};
use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::ids::{AreaId, BallotId, CycleId, ProgrammeId, ResidentId};
use medborgarbudget::part::{BudgetPart, PartCounting, PartId, PartVoting};
use medborgarbudget::process::{
    AnyCycle, Command, Cycle, CycleError, CycleSetup, Evaluation, Event, FundingSource, GateError,
    Programme, ProgrammeCommand, ProgrammeSetup, Step, VotingWindow,
};
use medborgarbudget::project::Feasibility;
use medborgarbudget::tally::{Rule, Tally, TieBreaking};

use crate::common::*;

const NORTH: u128 = 0xA1;
const SOUTH: u128 = 0xA2;
const EAST: u128 = 0xA3;

fn district() -> Area {
    Area::new(area_id(), "Angered", 30_000)
        .unwrap()
        .with_sub_area(AreaId::from_u128(NORTH), "Hjällbo", 7_600)
        .unwrap()
        .with_sub_area(AreaId::from_u128(SOUTH), "Hammarkullen", 8_000)
        .unwrap()
        .with_sub_area(AreaId::from_u128(EAST), "Lövgärdet", 6_000)
        .unwrap()
}

fn id(text: &str) -> PartId {
    PartId::new(text).unwrap()
}

/// City-wide 600 000, and 200 000 for each of the three neighbourhoods.
fn parts() -> Vec<BudgetPart> {
    vec![
        BudgetPart::whole(id("city"), "All of Angered", sek(600_000)),
        BudgetPart::of_sub_area(
            id("north"),
            "Hjällbo",
            AreaId::from_u128(NORTH),
            sek(200_000),
        ),
        BudgetPart::of_sub_area(
            id("south"),
            "Hammarkullen",
            AreaId::from_u128(SOUTH),
            sek(200_000),
        ),
        BudgetPart::of_sub_area(
            id("east"),
            "Lövgärdet",
            AreaId::from_u128(EAST),
            sek(200_000),
        ),
    ]
}

/// A resident of sub-area `home`.
fn living_in(home: u128, n: u128) -> Resident {
    Resident::new(
        ResidentId::from_u128(n),
        date(1980, 1, 1),
        AreaId::from_u128(home),
        date(2010, 1, 1),
    )
}

/// Projects: (number, part, cost in kronor).
const PROJECTS: [(u128, &str, i64); 8] = [
    (1, "city", 400_000),
    (2, "city", 300_000),
    (3, "city", 250_000),
    (4, "north", 150_000),
    (5, "north", 100_000),
    (6, "south", 120_000),
    (7, "south", 90_000),
    (8, "east", 200_000),
];

fn rules(voting: PartVoting, rule: &str) -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .part_voting(voting)
        .counting(Counting {
            rule: rule.parse::<Rule>().unwrap(),
            tie_breaking: TieBreaking::by_project_id(),
        })
        .build()
        .unwrap()
}

/// Steps 1–4 of a parts year, as commands; `offset` shifts ids and days by
/// year, `extra` are additions already credited.
fn to_voting(year: i32, rules: BallotRules) -> Vec<Command> {
    let base = 1000 * u128::try_from(year - 2026).unwrap();
    let mut c = vec![
        Command::SetBudget(allocation(1_200_000)),
        Command::SetParts { parts: parts() },
        Command::SetEligibility(Eligibility::residents_aged(12)),
        Command::SetBallotRules(rules),
        Command::SetCriteria {
            criteria: criteria(),
        },
        Command::BeginOutreach { at: yday(year, 1) },
        Command::RecordOutreach(medborgarbudget::process::OutreachActivity {
            held_on: yday(year, 3).date_naive(),
            ..activity()
        }),
        Command::OpenIdeaGeneration { at: yday(year, 10) },
    ];
    for (n, _, _) in PROJECTS {
        c.push(Command::SubmitIdea(medborgarbudget::idea::IdeaSubmission {
            submitted_at: yday(year, 12),
            ..idea(base + n, living_in(NORTH, 9_000 + n))
        }));
    }
    c.push(Command::BeginShortlisting { at: yday(year, 40) });
    for (n, part, cost) in PROJECTS {
        let project = project_id(base + n);
        let mut proposal = proposal(base + n, vec![idea_id(base + n)]);
        proposal.part = Some(id(part));
        c.extend([
            Command::ReviewIdea {
                idea: idea_id(base + n),
            },
            Command::ProposeProject(proposal),
            Command::EstimateCost {
                project,
                cost: sek(cost),
            },
            Command::AssessFeasibility {
                project,
                feasibility: Feasibility::Feasible,
            },
        ]);
        for criterion in ["meeting-places", "movement"] {
            c.push(Command::ScoreProject {
                project,
                criterion: criterion.into(),
                score: medborgarbudget::criteria::Score::new(6).unwrap(),
            });
        }
    }
    c.push(Command::OpenVoting {
        window: VotingWindow {
            opens: yday(year, 60),
            closes: yday(year, 74),
        },
        at: yday(year, 60),
    });
    c
}

fn cycle_setup(year: i32) -> CycleSetup {
    CycleSetup {
        area: district(),
        year,
        started_at: yday(year, 0),
        ..setup()
    }
}

fn voting(rules: BallotRules) -> AnyCycle {
    let mut cycle = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    for c in to_voting(2026, rules) {
        cycle.apply(c).unwrap();
    }
    assert_eq!(cycle.step(), Step::Voting);
    cycle
}

/// A ballot of `voter` in `part` approving projects `ns` (of 2026).
fn ballot_in(n: u128, voter: Resident, part: &str, ns: &[u128]) -> Command {
    let mut b = ballot(
        n,
        voter,
        Choices::Approval(ns.iter().map(|&k| project_id(k)).collect()),
    );
    b.part = Some(id(part));
    b.id = BallotId::from_u128(n);
    Command::CastBallot(b)
}

#[test]
fn a_ballot_for_a_part_the_resident_may_not_vote_in_is_refused_naming_the_part() {
    let mut cycle = voting(rules(PartVoting::Own, "greedy"));
    let north = living_in(NORTH, 1);
    cycle
        .apply(ballot_in(1, north.clone(), "city", &[1]))
        .unwrap();
    cycle
        .apply(ballot_in(2, north.clone(), "north", &[4]))
        .unwrap();
    let before = cycle.clone();
    let error = cycle
        .apply(ballot_in(3, north.clone(), "south", &[6]))
        .unwrap_err();
    assert!(
        matches!(&error, CycleError::PartNotAllowed { part, voter, .. }
            if part == &id("south") && *voter == north.id()),
        "{error:?}"
    );
    assert!(error.to_string().contains("budget part south"), "{error}");
    assert_eq!(cycle, before, "a refused ballot changes nothing");

    // A second ballot in the same part is refused (one per part)...
    let again = cycle
        .apply(ballot_in(4, north.clone(), "north", &[5]))
        .unwrap_err();
    assert!(
        matches!(again, CycleError::AlreadyVoted { .. }),
        "{again:?}"
    );
    // ...a ballot without a part, or one choosing another part's project, too.
    let mut no_part = ballot(
        5,
        living_in(SOUTH, 5),
        Choices::Approval(vec![project_id(6)]),
    );
    no_part.id = BallotId::from_u128(5);
    let error = cycle.apply(Command::CastBallot(no_part)).unwrap_err();
    assert!(
        matches!(error, CycleError::NoSuchPart { part: None, .. }),
        "{error:?}"
    );
    let error = cycle
        .apply(ballot_in(6, living_in(SOUTH, 6), "south", &[4]))
        .unwrap_err();
    assert!(matches!(error, CycleError::Ballot { .. }), "{error:?}");
    let error = cycle
        .apply(ballot_in(7, living_in(SOUTH, 7), "west", &[6]))
        .unwrap_err();
    assert!(matches!(error, CycleError::NoSuchPart { .. }), "{error:?}");

    // Own plus one other: a resident of the north may vote in one
    // neighbourhood besides their own, not two.
    let mut cycle = voting(rules(PartVoting::OwnPlus { others: 1 }, "greedy"));
    cycle
        .apply(ballot_in(1, north.clone(), "north", &[4]))
        .unwrap();
    cycle
        .apply(ballot_in(2, north.clone(), "south", &[6]))
        .unwrap();
    let error = cycle
        .apply(ballot_in(3, north.clone(), "east", &[8]))
        .unwrap_err();
    assert!(
        matches!(&error, CycleError::PartNotAllowed { part, .. } if part == &id("east")),
        "{error:?}"
    );
    // Any: everyone everywhere.
    let mut cycle = voting(rules(PartVoting::Any, "greedy"));
    for (k, part) in ["north", "south", "east", "city"].iter().enumerate() {
        let project = match *part {
            "north" => 4,
            "south" => 6,
            "east" => 8,
            _ => 1,
        };
        cycle
            .apply(ballot_in(k as u128 + 1, north.clone(), part, &[project]))
            .unwrap();
    }
}

/// Ballots from a small generator: voter `v` of a neighbourhood approves
/// some of the city's projects and some of their own part's.
fn cast_many(cycle: &mut AnyCycle, seed: u64, voters: u128) {
    let mut x = seed;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let homes = [(NORTH, "north", [4u128, 5]), (SOUTH, "south", [6, 7])];
    let mut n = 1;
    for v in 1..=voters {
        let (home, part, own) = homes[(next() % 2) as usize];
        let voter = living_in(home, 100 + v);
        let city: Vec<u128> = [1u128, 2, 3]
            .into_iter()
            .filter(|_| next() % 2 == 0)
            .collect();
        if !city.is_empty() {
            cycle
                .apply(ballot_in(n, voter.clone(), "city", &city))
                .unwrap();
            n += 1;
        }
        let mine: Vec<u128> = own.into_iter().filter(|_| next() % 3 != 0).collect();
        if !mine.is_empty() {
            cycle.apply(ballot_in(n, voter, part, &mine)).unwrap();
            n += 1;
        }
    }
}

#[test]
fn each_part_is_counted_alone_and_the_decision_replays() {
    for rule in ["greedy", "mes", "mes-add1", "phragmen"] {
        for seed in 1..=6u64 {
            let mut cycle = voting(rules(PartVoting::Own, rule));
            cast_many(&mut cycle, seed, 40);
            let counted = cycle.clone();
            let mut events = Vec::new();
            events.extend(
                cycle
                    .apply(Command::CloseVoting { at: yday(2026, 75) })
                    .unwrap(),
            );
            let decision = cycle.decision().unwrap().clone();
            assert_eq!(decision.parts.len(), 4, "{rule}");
            let voting =
                Cycle::<medborgarbudget::process::Voting>::try_from(counted.clone()).unwrap();
            let tally: Rule = rule.parse().unwrap();
            let mut all = Vec::new();
            for outcome in &decision.parts {
                // The part's own election: its projects, ballots and money.
                let election = voting.part_election(&outcome.part).unwrap();
                assert_eq!(
                    election.budget(),
                    u64::try_from(outcome.budget.minor()).unwrap()
                );
                let alone = tally
                    .tally(&election, &TieBreaking::by_project_id())
                    .unwrap();
                let labels: Vec<String> = outcome.funded.iter().map(ToString::to_string).collect();
                assert_eq!(
                    alone.selected_labels(&election),
                    labels,
                    "{rule}, seed {seed}, part {}",
                    outcome.part
                );
                assert!(outcome.total_cost.minor() <= outcome.budget.minor());
                all.extend(outcome.funded.iter().copied());
            }
            assert_eq!(decision.funded, all, "{rule}: the parts' projects in turn");
            // The recorded count replays (a recount per part).
            let mut replayed = counted.clone();
            replayed.evolve(events).unwrap();
            assert_eq!(replayed, cycle, "{rule}");
        }
    }
}

#[test]
fn parts_are_checked_in_step_one_and_four() {
    let mut cycle = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    let mut bad = parts();
    bad[2].area = Some(AreaId::from_u128(0xFF));
    assert!(matches!(
        cycle.apply(Command::SetParts { parts: bad }).unwrap_err(),
        CycleError::BadPart { .. }
    ));
    let mut twice = parts();
    twice[3].id = id("north");
    let error = cycle.apply(Command::SetParts { parts: twice }).unwrap_err();
    assert!(error.to_string().contains("north"), "{error}");
    assert!(PartId::new("Norr").is_err() && PartId::new("").is_err());
    assert!(serde_json::from_str::<PartId>("\"bad id\"").is_err());

    // The parts must add up to the council's allocation.
    cycle
        .apply(Command::SetBudget(allocation(1_000_000)))
        .unwrap();
    cycle.apply(Command::SetParts { parts: parts() }).unwrap();
    let unmet = cycle.unmet(yday(2026, 1));
    assert!(
        unmet.iter().any(
            |g| matches!(g, GateError::PartsDoNotAddUp { parts_total, allocation }
            if *parts_total == sek(1_200_000) && *allocation == sek(1_000_000))
        ),
        "{unmet:?}"
    );
    // A part's money is its own amount; council money for a part the cycle
    // lacks keeps the gate shut (money naming no part goes to the city-wide
    // part: `carried_money_never_leaves_a_year_stuck_in_step_one`).
    let cycle = voting(rules(PartVoting::Own, "greedy"));
    let AnyCycle::Voting(v) = &cycle else {
        panic!()
    };
    assert_eq!(v.part_budget(Some(&id("city"))).unwrap(), sek(600_000));

    let mut step1 = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    for c in to_voting(2026, rules(PartVoting::Own, "greedy"))
        .into_iter()
        .take(5)
    {
        step1.apply(c).unwrap();
    }
    step1
        .apply(Command::AddFunds(medborgarbudget::process::Allocation {
            part: None,
            ..allocation(50_000)
        }))
        .unwrap();
    step1
        .apply(Command::AddFunds(medborgarbudget::process::Allocation {
            part: Some(id("west")),
            ..allocation(10_000)
        }))
        .unwrap();
    let unmet = step1.unmet(yday(2026, 1));
    assert_eq!(
        unmet,
        [GateError::UnknownPart { part: id("west") }],
        "the unnamed addition goes to the city-wide part"
    );

    // Step 4: a project naming an unknown part is refused when proposed; a
    // project over its part's money (though within the whole budget) keeps
    // the gate shut.
    let mut cycle = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    let commands = to_voting(2026, rules(PartVoting::Own, "greedy"));
    let (before, _) = commands.split_at(commands.len() - 1);
    for c in before {
        let c = match c.clone() {
            Command::EstimateCost { project, .. } if project == project_id(4) => {
                Command::EstimateCost {
                    project,
                    cost: sek(250_000),
                }
            }
            other => other,
        };
        cycle.apply(c).unwrap();
    }
    let unmet = cycle.unmet(yday(2026, 59));
    assert!(
        unmet.iter().any(
            |g| matches!(g, GateError::CostOverBudget { project, budget, .. }
            if *project == project_id(4) && *budget == sek(200_000))
        ),
        "{unmet:?}"
    );
    let mut stray = proposal(77, vec![idea_id(1)]);
    stray.part = Some(id("west"));
    let error = cycle.apply(Command::ProposeProject(stray)).unwrap_err();
    assert!(matches!(error, CycleError::NoSuchPart { .. }), "{error:?}");
}

#[test]
fn follow_up_shows_each_part() {
    let mut cycle = voting(rules(PartVoting::Own, "greedy"));
    cast_many(&mut cycle, 3, 30);
    cycle
        .apply(Command::CloseVoting { at: yday(2026, 75) })
        .unwrap();
    let metrics = CycleMetrics::of(&cycle).unwrap();
    assert_eq!(metrics.parts.len(), 4);
    let ballots: u64 = metrics.parts.iter().map(|p| p.ballots).sum();
    assert_eq!(ballots, cycle.decision().unwrap().ballots_counted);
    assert!(
        metrics.voters <= 30,
        "voters are people, not ballots: {}",
        metrics.voters
    );
    assert_eq!(metrics.parts[1].name, "Hjällbo");
    let html = medborgarbudget::report::Report::cycle(&cycle)
        .unwrap()
        .to_html();
    assert!(
        html.contains("Hjällbo") && html.contains("Budget parts"),
        "the report has a parts table"
    );
}

// ---------------------------------------------------------------------------
// Carry-over per part across three years.
// ---------------------------------------------------------------------------

fn programme_of_parts() -> Programme {
    Programme::new(ProgrammeSetup {
        id: ProgrammeId::from_u128(70),
        area: district(),
        currency: medborgarbudget::money::Currency::SEK,
        first_year: 2027,
        years: 3,
        carry_over: Some(decision()),
        established_at: day(-200),
    })
    .unwrap()
}

fn cmd(
    p: &mut Programme,
    events: &mut Vec<medborgarbudget::process::ProgrammeEvent>,
    year: i32,
    command: Command,
) {
    events.extend(
        p.apply(ProgrammeCommand::Cycle { year, command })
            .unwrap_or_else(|e| panic!("{year}: {e}")),
    );
}

/// One year of the programme: every part's cheapest project funded by one
/// ballot each, completed at its estimate; the city's 250 000 project too.
fn run_year(
    p: &mut Programme,
    events: &mut Vec<medborgarbudget::process::ProgrammeEvent>,
    year: i32,
) {
    run_year_by(p, events, year, rules(PartVoting::Own, "greedy"));
}

/// [`run_year`] under `rules`.
fn run_year_by(
    p: &mut Programme,
    events: &mut Vec<medborgarbudget::process::ProgrammeEvent>,
    year: i32,
    rules: BallotRules,
) {
    events.extend(
        p.apply(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(500 + u128::try_from(year).unwrap()),
            year,
            at: yday(year, 0),
        })
        .unwrap(),
    );
    for c in to_voting(year, rules) {
        cmd(p, events, year, c);
    }
    let base = 1000 * u128::try_from(year - 2026).unwrap();
    let choices = [
        ("city", NORTH, 3u128),
        ("north", NORTH, 5),
        ("south", SOUTH, 7),
        ("east", EAST, 8),
    ];
    for (k, (part, home, project)) in choices.into_iter().enumerate() {
        let k = k as u128;
        let mut b = ballot(
            base + k,
            living_in(home, 300 + k),
            Choices::Approval(vec![project_id(base + project)]),
        );
        b.part = Some(id(part));
        b.id = BallotId::from_u128(base + k);
        b.cast_at = yday(year, 61);
        cmd(p, events, year, Command::CastBallot(b));
    }
    cmd(p, events, year, Command::CloseVoting { at: yday(year, 75) });
    let funded = p.cycle(year).unwrap().funded().unwrap();
    for project in funded {
        let cost = p
            .cycle(year)
            .unwrap()
            .projects()
            .iter()
            .find(|x| x.id() == project)
            .and_then(|x| x.cost())
            .unwrap();
        cmd(
            p,
            events,
            year,
            Command::AddCoCreator {
                project,
                resident: resident(900),
            },
        );
        cmd(
            p,
            events,
            year,
            Command::CompleteProject {
                project,
                final_cost: cost,
                at: yday(year, 300),
            },
        );
    }
    cmd(
        p,
        events,
        year,
        Command::BeginFollowUp {
            at: yday(year, 310),
        },
    );
    cmd(
        p,
        events,
        year,
        Command::Close(Evaluation {
            lessons: vec![format!("Lesson of {year}").into()],
            summary: "Four parts".into(),
            recorded_at: yday(year, 320),
            figures: None,
        }),
    );
}

#[test]
fn carry_over_is_kept_per_part_over_three_years() {
    let mut p = programme_of_parts();
    let mut events = vec![medborgarbudget::process::ProgrammeEvent::Established(
        p.setup().clone(),
    )];
    run_year(&mut p, &mut events, 2027);
    // Greedy funds what still fits, voted for or not. 2027 leaves: city
    // 600 000 − 250 000 − 300 000, north 200 000 − 100 000 (150 000 no
    // longer fits), south 200 000 − 90 000 (120 000 does not fit), east
    // 200 000 − 200 000 (nothing).
    let left: Vec<(Option<PartId>, i64)> = p
        .carry_over()
        .iter()
        .map(|c| (c.part.clone(), c.amount.minor() / 100))
        .collect();
    assert_eq!(
        left,
        [
            (Some(id("city")), 50_000),
            (Some(id("north")), 100_000),
            (Some(id("south")), 110_000)
        ]
    );
    run_year(&mut p, &mut events, 2028);
    // 2028 received each part's money: its amount plus its carry-over.
    let y2 = p.cycle(2028).unwrap();
    let closed = Cycle::<medborgarbudget::process::Closed>::try_from(y2.clone()).unwrap();
    let carried: Vec<(Option<PartId>, i64)> = closed
        .additions()
        .iter()
        .filter(|a| matches!(a.source, FundingSource::CarryOver { from_year: 2027 }))
        .map(|a| (a.part.clone(), a.amount.minor() / 100))
        .collect();
    assert_eq!(carried, left, "each part's money went to the same part");
    let metrics = CycleMetrics::of(y2).unwrap();
    let budgets: Vec<i64> = metrics
        .parts
        .iter()
        .map(|f| f.budget.minor() / 100)
        .collect();
    assert_eq!(budgets, [650_000, 300_000, 310_000, 200_000]);
    run_year(&mut p, &mut events, 2029);
    let y3 = CycleMetrics::of(p.cycle(2029).unwrap()).unwrap();
    let budgets: Vec<i64> = y3.parts.iter().map(|f| f.budget.minor() / 100).collect();
    // 2028 spends more where it has more: the city 250 000 + 400 000 (all
    // of it), the north 100 000 + 150 000 (50 000 left), the south 90 000 +
    // 120 000 (100 000 left).
    assert_eq!(budgets, [600_000, 250_000, 300_000, 200_000]);
    let report = p.conclude(yday(2030, 0)).unwrap();
    assert!(report.credible);
    assert_eq!(
        report.total_set_aside,
        report.total_spent.checked_add(report.left_at_end).unwrap(),
        "every öre set aside is spent or left, part by part"
    );
    events.push(medborgarbudget::process::ProgrammeEvent::Concluded(
        report.clone(),
    ));
    assert_eq!(Programme::replay(events).unwrap(), p);
}

#[test]
fn one_voter_cannot_claim_two_homes_and_replay_checks_the_recorded_home() {
    let mut cycle = voting(rules(PartVoting::Own, "greedy"));
    let events = cycle
        .apply(ballot_in(1, living_in(NORTH, 7), "north", &[4]))
        .unwrap();
    // The same voter, now said to live in the south, in the south's part.
    let error = cycle
        .apply(ballot_in(2, living_in(SOUTH, 7), "south", &[6]))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("earlier ballots give another home"),
        "{error}"
    );
    // The ballot records the home (a sub-area), and replay judges by it: a
    // ballot recorded in another neighbourhood's part is refused.
    let Event::BallotCast(recorded) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(recorded.home, Some(AreaId::from_u128(NORTH)));
    let mut forged = recorded.clone();
    forged.id = BallotId::from_u128(99);
    forged.voter = ResidentId::from_u128(8);
    forged.part = Some(id("south"));
    forged.choices = Choices::Approval(vec![project_id(6)]);
    let error = cycle.apply_event(Event::BallotCast(forged)).unwrap_err();
    assert!(
        matches!(error, CycleError::PartNotAllowed { .. }),
        "{error:?}"
    );
    // With any part open to anyone, no home is kept.
    let mut any = voting(rules(PartVoting::Any, "greedy"));
    let events = any
        .apply(ballot_in(1, living_in(NORTH, 7), "south", &[6]))
        .unwrap();
    assert!(matches!(&events[0], Event::BallotCast(b) if b.home.is_none()));
}

#[test]
fn a_part_is_a_ballot_of_its_own_for_the_rules() {
    // A knapsack limit above a part's money does not let a ballot spend more
    // than the part has.
    let knapsack = BallotRules::builder(BallotKind::Knapsack)
        .max_total_cost(sek(1_200_000))
        .part_voting(PartVoting::Own)
        .build()
        .unwrap();
    let mut cycle = voting(knapsack);
    let error = cycle
        .apply(ballot_in(1, living_in(NORTH, 7), "north", &[4, 5]))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("over the limit of 200000.00 SEK"),
        "{error}"
    );
    // A part with fewer projects than a ballot must choose keeps step 4 shut.
    let two = BallotRules::builder(BallotKind::Approval)
        .min_projects(2)
        .build()
        .unwrap();
    let mut cycle = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    let commands = to_voting(2026, two);
    for c in &commands[..commands.len() - 1] {
        cycle.apply(c.clone()).unwrap();
    }
    let unmet = cycle.unmet(yday(2026, 59));
    assert!(
        unmet.iter().any(|g| matches!(g, GateError::PartTooShortForRules { part, on_shortlist: 1, .. } if part == &id("east"))),
        "{unmet:?}"
    );
}

#[test]
fn carried_money_never_leaves_a_year_stuck_in_step_one() {
    let carry = |part: Option<&str>| {
        Command::AddFunds(medborgarbudget::process::Allocation {
            part: part.map(id),
            source: FundingSource::CarryOver { from_year: 2025 },
            ..allocation(50_000)
        })
    };
    // Money from last year's "city" part reaches a year of one budget.
    let mut single = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    single.apply(carry(Some("city"))).unwrap();
    single
        .apply(Command::SetBudget(allocation(1_000_000)))
        .unwrap();
    assert!(
        single
            .unmet(yday(2026, 1))
            .iter()
            .all(|g| !matches!(g, GateError::UnknownPart { .. }))
    );
    assert_eq!(single.budget().unwrap(), sek(1_050_000));
    // Money naming no part reaches a year of neighbourhood parts only: it
    // goes to the first part.
    let mut local = AnyCycle::from(Cycle::new(cycle_setup(2026)));
    local.apply(carry(None)).unwrap();
    local.apply(carry(Some("gone"))).unwrap();
    local
        .apply(Command::SetBudget(allocation(600_000)))
        .unwrap();
    local
        .apply(Command::SetParts {
            parts: parts().into_iter().skip(1).collect(),
        })
        .unwrap();
    let unmet = local.unmet(yday(2026, 1));
    assert!(
        unmet.iter().all(|g| !matches!(
            g,
            GateError::UnknownPart { .. } | GateError::PartsDoNotAddUp { .. }
        )),
        "{unmet:?}"
    );
    // Council money naming a part the year lacks is a typo: the gate says so.
    local
        .apply(Command::AddFunds(medborgarbudget::process::Allocation {
            part: Some(id("west")),
            ..allocation(1_000)
        }))
        .unwrap();
    assert!(
        local
            .unmet(yday(2026, 1))
            .contains(&GateError::UnknownPart { part: id("west") })
    );
}

// ---------------------------------------------------------------------------
// Parts counted together: equal shares with each voter's parts' money.
// ---------------------------------------------------------------------------

fn together(rule: &str) -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .part_counting(PartCounting::Together)
        .counting(Counting {
            rule: rule.parse::<Rule>().unwrap(),
            tie_breaking: TieBreaking::by_project_id(),
        })
        .build()
        .unwrap()
}

/// Two voters of Hjällbo and eight of Hammarkullen; nobody from Lövgärdet.
/// Hjällbo's want the north's 150 000 project and the city's 400 000 one;
/// Hammarkullen's want both of the south's (120 000, 90 000) and the
/// city's 300 000 one.
fn ten_voters(cycle: &mut AnyCycle) {
    let mut n = 1;
    for v in 0..10u128 {
        let (home, own, mine, city) = if v < 2 {
            (NORTH, "north", vec![4u128], 1u128)
        } else {
            (SOUTH, "south", vec![6, 7], 2)
        };
        let voter = living_in(home, 100 + v);
        cycle
            .apply(ballot_in(n, voter.clone(), "city", &[city]))
            .unwrap();
        cycle.apply(ballot_in(n + 1, voter, own, &mine)).unwrap();
        n += 2;
    }
}

#[test]
fn parts_counted_together_give_each_voter_their_parts_money() {
    let mut cycle = voting(together("mes"));
    ten_voters(&mut cycle);
    // Counting together needs each voter's home, even where the rules let
    // everyone vote anywhere: it is recorded on every ballot.
    let open = Cycle::<medborgarbudget::process::Voting>::try_from(cycle.clone()).unwrap();
    let homes: Vec<_> = open.ballots().iter().map(|b| b.home).collect();
    assert!(homes.iter().all(Option::is_some), "{homes:?}");
    let counted = cycle.clone();
    let events = cycle
        .apply(Command::CloseVoting { at: yday(2026, 75) })
        .unwrap();
    // Each Hjällbo voter starts with 600 000 / 10 + 200 000 / 2 = 160 000,
    // each Hammarkullen voter with 60 000 + 200 000 / 8 = 85 000; the east's
    // 200 000 has no voters. The city's 300 000 (8 supporters, 37 500 each),
    // then the south's two (15 000 and 11 250 each), then the north's
    // 150 000 (75 000 each); the city's 400 000 is beyond Hjällbo's 170 000.
    let decision = cycle.decision().unwrap().clone();
    let ids: Vec<_> = [2u128, 6, 7, 4].into_iter().map(project_id).collect();
    assert_eq!(decision.funded, ids);
    assert_eq!(decision.total_cost, sek(660_000));
    let by_part: Vec<(String, i64, i64)> = decision
        .parts
        .iter()
        .map(|o| {
            (
                o.part.to_string(),
                o.total_cost.minor() / 100,
                o.budget.minor() / 100,
            )
        })
        .collect();
    // The south's voters put some of their city money into their own part:
    // it gets 210 000 against its 200 000.
    assert_eq!(
        by_part,
        [
            ("city".to_owned(), 300_000, 600_000),
            ("north".to_owned(), 150_000, 200_000),
            ("south".to_owned(), 210_000, 200_000),
            ("east".to_owned(), 0, 200_000),
        ]
    );
    // The recount on replay agrees.
    let mut replayed = counted.clone();
    replayed.evolve(events).unwrap();
    assert_eq!(replayed, cycle);
    // The report says how the parts were counted; its comparison of rules
    // counts equal shares together and greedy part by part.
    let html = medborgarbudget::report::Report::cycle(&cycle)
        .unwrap()
        .to_html();
    assert!(
        html.contains("The parts were counted together by equal shares"),
        "the report explains the count"
    );

    // Counted separately, the south's 200 000 cannot pay for both of its
    // projects (25 000 a voter: 15 000, then 10 000 left for an 11 250
    // share).
    let mut alone = voting(rules(PartVoting::Any, "mes"));
    ten_voters(&mut alone);
    alone
        .apply(Command::CloseVoting { at: yday(2026, 75) })
        .unwrap();
    let ids: Vec<_> = [2u128, 4, 6].into_iter().map(project_id).collect();
    assert_eq!(alone.decision().unwrap().funded, ids);

    // add1 raises each voter's money in proportion to what they started
    // with. Once Hjällbo's two hold 275 000 each (1.72 times their start)
    // they can pay 200 000 each for the city's 400 000 project and 75 000
    // for their own; every project with a vote is then funded, within the
    // 1 200 000, and the count stops there.
    let mut add1 = voting(together("mes-add1"));
    ten_voters(&mut add1);
    add1.apply(Command::CloseVoting { at: yday(2026, 75) })
        .unwrap();
    let decision = add1.decision().unwrap();
    let ids: Vec<_> = [2u128, 6, 7, 1, 4].into_iter().map(project_id).collect();
    assert_eq!(decision.funded, ids);
    assert_eq!(decision.total_cost, sek(1_060_000));
}

#[test]
fn counting_together_needs_equal_shares_and_ballots_that_join() {
    let build = |kind, rule: &str| {
        BallotRules::builder(kind)
            .part_counting(PartCounting::Together)
            .counting(Counting {
                rule: rule.parse::<Rule>().unwrap(),
                tie_breaking: TieBreaking::by_project_id(),
            })
            .build()
    };
    assert!(matches!(
        build(BallotKind::Approval, "greedy"),
        Err(RulesError::TogetherNeedsEqualShares { rule: Rule::Greedy })
    ));
    assert!(matches!(
        build(BallotKind::Ranked, "mes"),
        Err(RulesError::NotForKind { .. })
    ));
    assert!(build(BallotKind::Approval, "mes-add1:cardinality").is_ok());
    // In JSON, as officials write it; a misspelt value is refused.
    let json = r#"{"kind":"approval","min_projects":1,"counting":{"rule":"mes","tie_breaking":["project-id"]},"part_counting":"together"}"#;
    let rules: BallotRules = serde_json::from_str(json).unwrap();
    assert_eq!(rules.part_counting(), PartCounting::Together);
    let typo = json.replace("together", "togther");
    assert!(serde_json::from_str::<BallotRules>(&typo).is_err());
}

#[test]
fn a_year_counted_together_carries_its_leftover_as_one_sum() {
    let mut p = programme_of_parts();
    let mut events = vec![medborgarbudget::process::ProgrammeEvent::Established(
        p.setup().clone(),
    )];
    run_year_by(&mut p, &mut events, 2027, together("mes"));
    // Four voters: each holds 150 000 of the city's money and half the
    // north's, or all of the south's or the east's; each funds their one
    // project alone (250 000 + 100 000 + 90 000 + 200 000 = 640 000).
    let left: Vec<(Option<PartId>, i64)> = p
        .carry_over()
        .iter()
        .map(|c| (c.part.clone(), c.amount.minor() / 100))
        .collect();
    assert_eq!(left, [(None, 560_000)]);
    run_year(&mut p, &mut events, 2028);
    // Money naming no part goes to the part for the whole district.
    let budgets: Vec<i64> = CycleMetrics::of(p.cycle(2028).unwrap())
        .unwrap()
        .parts
        .iter()
        .map(|f| f.budget.minor() / 100)
        .collect();
    assert_eq!(budgets, [1_160_000, 200_000, 200_000, 200_000]);
    assert_eq!(Programme::replay(events).unwrap(), p);
}
