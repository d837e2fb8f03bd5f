//! Shared fixtures: a small valid cycle brought to each stage.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, BallotSubmission, Choices};
use medborgarbudget::criteria::{Criteria as CriteriaSet, Score};
use medborgarbudget::idea::IdeaSubmission;
use medborgarbudget::ids::{AreaId, BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::process::stage::{
    Closed, Criteria, FollowUp, IdeaGeneration, Implementation, Outreach, Shortlisting, Voting,
};
use medborgarbudget::process::{
    Allocation, CouncilDecision, Cycle, CycleSetup, Evaluation, FundingSource, OutreachActivity,
    OutreachChannel, VotingWindow,
};
use medborgarbudget::project::{Feasibility, ProjectProposal};
use medborgarbudget::tally::Greedy;

pub const YEAR: i32 = 2026;

/// Day `n` of the cycle (day 0 is 2026-01-15 09:00 UTC).
pub fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap() + Duration::days(n)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn area_id() -> AreaId {
    AreaId::from_u128(0xA)
}

pub fn area() -> Area {
    Area::new(area_id(), "Hjällbo", 7_600)
        .unwrap()
        .with_breakdown("age", [("12-17", 900), ("18-64", 5_000), ("65+", 700)])
        .unwrap()
}

/// An eligible adult resident.
pub fn resident(n: u128) -> Resident {
    Resident::new(
        ResidentId::from_u128(n),
        date(1985, 3, 1),
        area_id(),
        date(2015, 1, 1),
    )
    .in_group("age", "18-64")
}

/// A ten-year-old: too young under the fixture's rules (12+).
pub fn child(n: u128) -> Resident {
    Resident::new(
        ResidentId::from_u128(n),
        date(2016, 1, 1),
        area_id(),
        date(2016, 1, 1),
    )
}

/// An adult living in another area.
pub fn outsider(n: u128) -> Resident {
    Resident::new(
        ResidentId::from_u128(n),
        date(1985, 3, 1),
        AreaId::from_u128(0xB),
        date(2015, 1, 1),
    )
}

pub fn sek(major: i64) -> Money {
    Money::from_major(major, Currency::SEK).unwrap()
}

pub fn decision() -> CouncilDecision {
    CouncilDecision {
        body: "Kommunfullmäktige".into(),
        reference: "KF § 12/2026".into(),
        decided_on: date(2026, 1, 10),
    }
}

pub fn allocation(major: i64) -> Allocation {
    Allocation {
        amount: sek(major),
        decision: decision(),
        source: FundingSource::Council,
    }
}

pub fn criteria() -> CriteriaSet {
    CriteriaSet::builder()
        .social_sustainability("meeting-places", "Brings neighbours together", 2)
        .public_health("movement", "Invites people to move", 1)
        .build()
        .unwrap()
}

pub fn approval_rules() -> BallotRules {
    BallotRules::builder(BallotKind::Approval)
        .max_projects(3)
        .build()
        .unwrap()
}

pub fn setup() -> CycleSetup {
    CycleSetup {
        id: CycleId::from_u128(1),
        programme: None,
        year: YEAR,
        area: area(),
        currency: Currency::SEK,
        started_at: day(0),
    }
}

pub fn activity() -> OutreachActivity {
    OutreachActivity {
        channel: OutreachChannel::DoorToDoor,
        description: "Knocking on doors with youth ambassadors".into(),
        languages: vec!["sv".into(), "ar".into()],
        people_reached: 800,
        held_on: day(3).date_naive(),
    }
}

pub fn idea_id(n: u128) -> IdeaId {
    IdeaId::from_u128(n)
}

pub fn project_id(n: u128) -> ProjectId {
    ProjectId::from_u128(n)
}

pub fn idea(n: u128, author: Resident) -> IdeaSubmission {
    IdeaSubmission {
        id: idea_id(n),
        author,
        co_authors: vec![],
        title: format!("Idea {n}"),
        description: format!("Description of idea {n}"),
        submitted_at: day(12),
        estimated_cost: None,
    }
}

pub fn proposal(n: u128, ideas: Vec<IdeaId>) -> ProjectProposal {
    ProjectProposal {
        id: project_id(n),
        title: format!("Project {n}"),
        description: "Worked out with residents".into(),
        ideas,
        worked_on_by: vec![resident(500 + n)],
    }
}

pub fn window() -> VotingWindow {
    VotingWindow {
        opens: day(60),
        closes: day(74),
    }
}

pub fn ballot(n: u128, voter: Resident, choices: Choices) -> BallotSubmission {
    BallotSubmission {
        id: BallotId::from_u128(n),
        voter,
        cast_at: day(61),
        choices,
    }
}

pub fn evaluation() -> Evaluation {
    Evaluation {
        lessons: vec!["Hold workshops in the evening".into()],
        summary: "Turnout 12 %".into(),
        recorded_at: day(320),
    }
}

/// Step 1 with budget 1 000 000 SEK, eligibility 12+, approval ballots (≤ 3
/// projects), criteria.
pub fn criteria_cycle() -> Cycle<Criteria> {
    criteria_cycle_with(approval_rules())
}

pub fn criteria_cycle_with(rules: BallotRules) -> Cycle<Criteria> {
    let mut c = Cycle::new(setup());
    c.set_budget(allocation(1_000_000)).unwrap();
    c.set_eligibility(Eligibility::residents_aged(12));
    c.set_ballot_rules(rules);
    c.set_criteria(criteria());
    c
}

pub fn outreach_cycle() -> Cycle<Outreach> {
    criteria_cycle().begin_outreach(day(1)).unwrap()
}

/// Step 3 with ideas 1, 2, 3 from residents 1, 2, 3.
pub fn idea_cycle() -> Cycle<IdeaGeneration> {
    idea_cycle_with(approval_rules())
}

pub fn idea_cycle_with(rules: BallotRules) -> Cycle<IdeaGeneration> {
    let mut c = criteria_cycle_with(rules).begin_outreach(day(1)).unwrap();
    c.record_outreach(activity()).unwrap();
    let mut c = c.open_idea_generation(day(10)).unwrap();
    for n in 1..=3 {
        c.submit_idea(idea(n, resident(n))).unwrap();
    }
    c
}

/// Step 4, ready to open voting: projects 1, 2, 3 from ideas 1, 2, 3, costing
/// 400 000, 500 000 and 300 000 SEK, all feasible and scored.
pub fn shortlisting_cycle() -> Cycle<Shortlisting> {
    shortlisting_cycle_with(approval_rules())
}

pub fn project_cost(n: u128) -> Money {
    match n {
        1 => sek(400_000),
        2 => sek(500_000),
        _ => sek(300_000),
    }
}

pub fn shortlisting_cycle_with(rules: BallotRules) -> Cycle<Shortlisting> {
    let mut c = idea_cycle_with(rules).begin_shortlisting(day(40)).unwrap();
    for n in 1..=3 {
        c.review_idea(idea_id(n)).unwrap();
        c.propose_project(proposal(n, vec![idea_id(n)])).unwrap();
        c.estimate_cost(project_id(n), project_cost(n)).unwrap();
        c.assess_feasibility(project_id(n), Feasibility::Feasible)
            .unwrap();
        c.score_project(
            project_id(n),
            "meeting-places".into(),
            Score::new(7).unwrap(),
        )
        .unwrap();
        c.score_project(project_id(n), "movement".into(), Score::new(5).unwrap())
            .unwrap();
    }
    c
}

pub fn voting_cycle() -> Cycle<Voting> {
    shortlisting_cycle().open_voting(window(), day(60)).unwrap()
}

/// Voting with 10 ballots: project 1 gets 10 votes, 2 gets 6, 3 gets 3. Greedy
/// funds 1 (400 000) and 2 (500 000); 3 no longer fits.
pub fn voted_cycle() -> Cycle<Voting> {
    let mut c = voting_cycle();
    for v in 1..=10u128 {
        let mut choice = vec![project_id(1)];
        if v <= 6 {
            choice.push(project_id(2));
        }
        if v <= 3 {
            choice.push(project_id(3));
        }
        c.cast_ballot(ballot(v, resident(100 + v), Choices::Approval(choice)))
            .unwrap();
    }
    c
}

pub fn implementation_cycle() -> Cycle<Implementation> {
    voted_cycle().close_voting(day(75), &Greedy).unwrap()
}

/// Implementation with both funded projects completed (co-created by resident
/// 900), at 390 000 and 480 000 SEK.
pub fn follow_up_cycle() -> Cycle<FollowUp> {
    let mut c = implementation_cycle();
    for (n, cost) in [(1, 390_000), (2, 480_000)] {
        c.add_co_creator(project_id(n), resident(900)).unwrap();
        c.complete_project(project_id(n), sek(cost), day(300))
            .unwrap();
    }
    c.begin_follow_up(day(310)).unwrap()
}

pub fn closed_cycle() -> Cycle<Closed> {
    follow_up_cycle().close(evaluation()).unwrap()
}

/// A cycle in each running step, in order.
pub fn running_cycles() -> Vec<medborgarbudget::process::AnyCycle> {
    use medborgarbudget::process::AnyCycle;
    vec![
        AnyCycle::from(criteria_cycle()),
        AnyCycle::from(outreach_cycle()),
        AnyCycle::from(idea_cycle()),
        AnyCycle::from(shortlisting_cycle()),
        AnyCycle::from(voted_cycle()),
        AnyCycle::from(implementation_cycle()),
        AnyCycle::from(follow_up_cycle()),
    ]
}
