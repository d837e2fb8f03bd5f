//! Shared fixtures: one small valid year, as commands, brought to each stage.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, BallotSubmission, Choices};
use medborgarbudget::criteria::{CriteriaSet, Score};
use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::idea::IdeaSubmission;
use medborgarbudget::ids::{AreaId, BallotId, CycleId, IdeaId, ProgrammeId, ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::process::stage::{
    Closed, Criteria, FollowUp, IdeaGeneration, Implementation, Outreach, Shortlisting, Stage,
    Voting,
};
use medborgarbudget::process::{
    Allocation, AnyCycle, Command, CouncilDecision, Cycle, CycleSetup, Evaluation, Event,
    FundingSource, OutreachActivity, OutreachChannel, Programme, ProgrammeCommand, ProgrammeError,
    ProgrammeEvent, ProgrammeSetup, Step, VotingWindow,
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
        part: None,
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
        rules_version: medborgarbudget::process::RulesVersion::CURRENT,
    }
}

pub fn activity() -> OutreachActivity {
    OutreachActivity {
        channel: OutreachChannel::DoorToDoor,
        description: "Knocking on doors with youth ambassadors".into(),
        languages: vec!["sv".into(), "ar".into()],
        people_reached: 800,
        held_on: day(3).date_naive(),
        groups: Vec::new(),
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
        title: format!("Idea {n}").into(),
        description: format!("Description of idea {n}").into(),
        submitted_at: day(12),
        estimated_cost: None,
    }
}

pub fn proposal(n: u128, ideas: Vec<IdeaId>) -> ProjectProposal {
    ProjectProposal {
        part: None,
        id: project_id(n),
        title: format!("Project {n}").into(),
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
        part: None,
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
        figures: None,
    }
}

/// The fixture year as commands, in order:
/// 1. budget 1 000 000 SEK, eligibility 12+, `rules`, the criteria;
/// 2. one outreach activity;
/// 3. ideas 1, 2, 3 from residents 1, 2, 3;
/// 4. projects 1, 2, 3 from ideas 1, 2, 3, costing 400 000, 500 000 and
///    300 000 SEK, all feasible and scored;
/// 5. ten ballots: project 1 gets 10 votes, 2 gets 6, 3 gets 3 (greedy funds 1
///    and 2; 3 no longer fits), then voting closes;
/// 6. resident 900 co-creates projects 1 and 2, completed at 390 000 and
///    480 000 SEK;
/// 7. follow-up, and the cycle closes with [`evaluation`].
pub fn year_commands(rules: BallotRules) -> Vec<Command> {
    let mut c = vec![
        Command::SetBudget(allocation(1_000_000)),
        Command::SetEligibility(Eligibility::residents_aged(12)),
        Command::SetBallotRules(rules),
        Command::SetCriteria {
            criteria: criteria(),
        },
        Command::BeginOutreach { at: day(1) },
        Command::RecordOutreach(activity()),
        Command::OpenIdeaGeneration { at: day(10) },
    ];
    c.extend((1..=3).map(|n| Command::SubmitIdea(idea(n, resident(n)))));
    c.push(Command::BeginShortlisting { at: day(40) });
    for n in 1..=3 {
        let project = project_id(n);
        c.extend([
            Command::ReviewIdea { idea: idea_id(n) },
            Command::ProposeProject(proposal(n, vec![idea_id(n)])),
            Command::EstimateCost {
                project,
                cost: project_cost(n),
            },
            Command::AssessFeasibility {
                project,
                feasibility: Feasibility::Feasible,
            },
            Command::ScoreProject {
                project,
                criterion: "meeting-places".into(),
                score: Score::new(7).unwrap(),
            },
            Command::ScoreProject {
                project,
                criterion: "movement".into(),
                score: Score::new(5).unwrap(),
            },
        ]);
    }
    c.push(Command::OpenVoting {
        window: window(),
        at: day(60),
    });
    for v in 1..=10u128 {
        let mut choice = vec![project_id(1)];
        if v <= 6 {
            choice.push(project_id(2));
        }
        if v <= 3 {
            choice.push(project_id(3));
        }
        c.push(Command::CastBallot(ballot(
            v,
            resident(100 + v),
            Choices::Approval(choice),
        )));
    }
    c.push(Command::CloseVoting { at: day(75) });
    for (n, cost) in [(1, 390_000), (2, 480_000)] {
        c.extend([
            Command::AddCoCreator {
                project: project_id(n),
                resident: resident(900),
            },
            Command::CompleteProject {
                project: project_id(n),
                final_cost: sek(cost),
                at: day(300),
            },
        ]);
    }
    c.push(Command::BeginFollowUp { at: day(310) });
    c.push(Command::Close(evaluation()));
    c
}

/// The fixture cycle run by [`year_commands`] to the end of `step` (up to the
/// command that would leave it), and the events it recorded: its log.
pub fn logged_with(step: Step, rules: BallotRules) -> (AnyCycle, Vec<Event>) {
    let mut cycle = AnyCycle::from(Cycle::new(setup()));
    let mut events = vec![Event::CycleStarted(setup())];
    for command in year_commands(rules) {
        if enters(&command).is_some_and(|next| next > step) {
            break;
        }
        events.extend(cycle.apply(command).unwrap());
    }
    assert_eq!(cycle.step(), step, "the fixture reaches {step}");
    (cycle, events)
}

/// The step a transition enters.
fn enters(command: &Command) -> Option<Step> {
    Some(match command {
        Command::BeginOutreach { .. } => Step::Outreach,
        Command::OpenIdeaGeneration { .. } => Step::IdeaGeneration,
        Command::BeginShortlisting { .. } => Step::Shortlisting,
        Command::OpenVoting { .. } => Step::Voting,
        Command::CloseVoting { .. } => Step::Implementation,
        Command::BeginFollowUp { .. } => Step::FollowUp,
        Command::Close(_) => Step::Closed,
        Command::Abandon { .. } => Step::Abandoned,
        _ => return None,
    })
}

/// [`logged_with`] approval ballots of at most three projects.
pub fn logged(step: Step) -> (AnyCycle, Vec<Event>) {
    logged_with(step, approval_rules())
}

/// The fixture cycle at the end of step `S`, typed.
pub fn at<S: Stage>() -> Cycle<S> {
    typed(logged(S::STEP).0)
}

fn typed<S: Stage>(cycle: AnyCycle) -> Cycle<S> {
    Cycle::try_from(cycle).unwrap()
}

/// Step 1 of the fixture year.
pub fn criteria_cycle() -> Cycle<Criteria> {
    at()
}

/// Step 1 of the fixture year with other ballot rules.
pub fn criteria_cycle_with(rules: BallotRules) -> Cycle<Criteria> {
    typed(logged_with(Step::Criteria, rules).0)
}

/// Step 2 of the fixture year as it begins, before any activity.
pub fn outreach_cycle() -> Cycle<Outreach> {
    criteria_cycle().begin_outreach(day(1)).unwrap()
}

/// Step 3 with ideas 1, 2, 3 from residents 1, 2, 3.
pub fn idea_cycle() -> Cycle<IdeaGeneration> {
    at()
}

/// Step 3 of the fixture year with other ballot rules.
pub fn idea_cycle_with(rules: BallotRules) -> Cycle<IdeaGeneration> {
    typed(logged_with(Step::IdeaGeneration, rules).0)
}

/// Step 4, ready to open voting: projects 1, 2, 3 from ideas 1, 2, 3, costing
/// 400 000, 500 000 and 300 000 SEK, all feasible and scored.
pub fn shortlisting_cycle() -> Cycle<Shortlisting> {
    at()
}

pub fn project_cost(n: u128) -> Money {
    match n {
        1 => sek(400_000),
        2 => sek(500_000),
        _ => sek(300_000),
    }
}

/// Step 4 of the fixture year with other ballot rules.
pub fn shortlisting_cycle_with(rules: BallotRules) -> Cycle<Shortlisting> {
    typed(logged_with(Step::Shortlisting, rules).0)
}

/// Step 5 with no ballot yet.
pub fn voting_cycle() -> Cycle<Voting> {
    shortlisting_cycle().open_voting(window(), day(60)).unwrap()
}

/// Voting with 10 ballots: project 1 gets 10 votes, 2 gets 6, 3 gets 3. Greedy
/// funds 1 (400 000) and 2 (500 000); 3 no longer fits.
pub fn voted_cycle() -> Cycle<Voting> {
    at()
}

/// Step 6, counted by greedy, nothing delivered yet.
pub fn implementation_cycle() -> Cycle<Implementation> {
    voted_cycle().close_voting(day(75), &Greedy).unwrap()
}

/// Implementation with both funded projects completed (co-created by resident
/// 900), at 390 000 and 480 000 SEK.
pub fn follow_up_cycle() -> Cycle<FollowUp> {
    at()
}

/// The fixture year, closed.
pub fn closed_cycle() -> Cycle<Closed> {
    at()
}

/// A cycle in each running step, in order.
pub fn running_cycles() -> Vec<AnyCycle> {
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

/// A resident of the fixture's area in an age group (`12-17`, `18-64`, `65+`),
/// born to match it.
pub fn resident_in(n: u128, age: &str) -> Resident {
    let born = match age {
        "12-17" => date(2013, 5, 1),
        "65+" => date(1950, 9, 1),
        _ => date(1985, 3, 1),
    };
    Resident::new(ResidentId::from_u128(n), born, area_id(), date(2012, 1, 1)).in_group("age", age)
}

/// The shortlist of each year of [`report_programme`]: title, cost in öre, and
/// the chance (in %) that a voter aged 12-17, 18-64 and 65+ approves it.
pub const REPORT_PROJECTS: [[(&str, i64, [u64; 3]); 6]; 3] = [
    [
        ("Outdoor gym by Hjällbo torg", 42_000_000, [30, 45, 15]),
        ("Lit footpath to the tram stop", 31_050_050, [20, 40, 45]),
        ("Skate park extension", 38_000_000, [80, 12, 2]),
        ("Benches and shade in Hjällboparken", 9_525_000, [5, 20, 70]),
        ("Homework café at the library", 15_000_000, [55, 15, 5]),
        ("Community garden plots", 21_000_000, [5, 30, 40]),
    ],
    [
        ("Football pitch with new turf", 48_000_000, [70, 30, 5]),
        ("Walking group with health guides", 8_500_075, [5, 20, 65]),
        ("Playground for small children", 36_000_000, [10, 45, 20]),
        (
            "Open-air stage for summer evenings",
            29_000_000,
            [25, 30, 25],
        ),
        ("Youth centre open at weekends", 17_500_000, [75, 10, 3]),
        (
            "Better lighting along Hjällbovägen",
            24_000_000,
            [15, 35, 50],
        ),
    ],
    [
        ("Multi-sport court", 45_000_000, [65, 30, 5]),
        ("Senior meeting place with coffee", 12_000_025, [3, 15, 75]),
        ("Bicycle repair station", 6_000_000, [30, 35, 10]),
        ("Tree planting and rain gardens", 26_000_000, [10, 35, 35]),
        (
            "Indoor climbing wall at the school",
            39_000_000,
            [70, 15, 2],
        ),
        ("Neighbourhood festival", 14_000_000, [35, 35, 30]),
    ],
];

/// Voters per year of [`report_programme`], and of them the share (in %) aged
/// 12-17 and 65+ (the rest are 18-64).
pub const REPORT_VOTERS: [(u128, u128, u128); 3] = [(260, 6, 9), (340, 11, 11), (430, 15, 12)];

/// A deterministic three-year programme in Hjällbo (2027–2029, carry-over on)
/// with a few hundred approval ballots a year from residents in three age
/// groups, six projects a year, rejected ideas, co-creators, one cancelled
/// project, all three years closed. `first_title` replaces the title of the
/// first project of 2027 when given.
pub fn report_programme(first_title: Option<&str>) -> medborgarbudget::process::Programme {
    use medborgarbudget::ids::ProgrammeId;
    use medborgarbudget::process::{Command, Programme, ProgrammeCommand, ProgrammeSetup};

    const FIRST: i32 = 2027;
    let yday = |year: i32, n: i64| day(n) + Duration::days(365 * i64::from(year - 2026));
    let mut p = Programme::new(ProgrammeSetup {
        id: ProgrammeId::from_u128(42),
        area: area(),
        currency: Currency::SEK,
        first_year: FIRST,
        years: 3,
        carry_over: Some(CouncilDecision {
            reference: "KF § 88/2026".into(),
            decided_on: date(2026, 6, 18),
            ..decision()
        }),
        established_at: day(-200),
    })
    .unwrap();
    // splitmix64: the same ballots on every run.
    let mut seed = 0x5EED_u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for (y, projects) in REPORT_PROJECTS.iter().enumerate() {
        let year = FIRST + i32::try_from(y).unwrap();
        let base = 1_000 * (y as u128 + 1);
        let cmd = |p: &mut Programme, command: Command| {
            p.apply(ProgrammeCommand::Cycle { year, command })
                .unwrap_or_else(|e| panic!("{year}: {e}"));
        };
        p.apply(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(base),
            year,
            at: yday(year, 0),
        })
        .unwrap();
        cmd(&mut p, Command::SetBudget(allocation(1_000_000)));
        cmd(
            &mut p,
            Command::SetEligibility(Eligibility::residents_aged(12)),
        );
        cmd(&mut p, Command::SetBallotRules(approval_rules()));
        cmd(
            &mut p,
            Command::SetCriteria {
                criteria: criteria(),
            },
        );
        cmd(&mut p, Command::BeginOutreach { at: yday(year, 1) });
        for (k, channel) in [OutreachChannel::DoorToDoor, OutreachChannel::DoorToDoor]
            .into_iter()
            .enumerate()
        {
            cmd(
                &mut p,
                Command::RecordOutreach(OutreachActivity {
                    channel,
                    people_reached: 600 + 250 * y as u32 + 100 * k as u32,
                    held_on: yday(year, 3 + k as i64).date_naive(),
                    ..activity()
                }),
            );
        }
        cmd(&mut p, Command::OpenIdeaGeneration { at: yday(year, 10) });
        let extra = 4 + 3 * y as u128;
        for n in 1..=(6 + extra) {
            let author = resident_in(base + 500 + n, ["12-17", "18-64", "65+"][(n % 3) as usize]);
            cmd(
                &mut p,
                Command::SubmitIdea(IdeaSubmission {
                    submitted_at: yday(year, 12),
                    ..idea(base + n, author)
                }),
            );
        }
        cmd(&mut p, Command::BeginShortlisting { at: yday(year, 40) });
        for n in 7..=(6 + extra) {
            cmd(
                &mut p,
                Command::ReviewIdea {
                    idea: idea_id(base + n),
                },
            );
            cmd(
                &mut p,
                Command::RejectIdea {
                    idea: idea_id(base + n),
                    reason: "Outside the district's remit".into(),
                },
            );
        }
        for (k, (title, cost, _)) in projects.iter().enumerate() {
            let n = k as u128 + 1;
            let project = project_id(base + n);
            let title = match (y, k, first_title) {
                (0, 0, Some(t)) => t.to_owned(),
                _ => (*title).to_owned(),
            };
            cmd(
                &mut p,
                Command::ReviewIdea {
                    idea: idea_id(base + n),
                },
            );
            cmd(
                &mut p,
                Command::ProposeProject(ProjectProposal {
                    title: title.into(),
                    worked_on_by: vec![
                        resident_in(base + 700 + n, "18-64"),
                        resident_in(base + 800 + n, "12-17"),
                    ],
                    ..proposal(base + n, vec![idea_id(base + n)])
                }),
            );
            cmd(
                &mut p,
                Command::EstimateCost {
                    project,
                    cost: Money::new(*cost, Currency::SEK),
                },
            );
            cmd(
                &mut p,
                Command::AssessFeasibility {
                    project,
                    feasibility: Feasibility::Feasible,
                },
            );
            for (criterion, s) in [("meeting-places", 6 + k % 4), ("movement", 5 + k % 3)] {
                cmd(
                    &mut p,
                    Command::ScoreProject {
                        project,
                        criterion: criterion.into(),
                        score: Score::new(u8::try_from(s).unwrap()).unwrap(),
                    },
                );
            }
        }
        cmd(
            &mut p,
            Command::OpenVoting {
                window: VotingWindow {
                    opens: yday(year, 60),
                    closes: yday(year, 74),
                },
                at: yday(year, 60),
            },
        );
        let (voters, young, old) = REPORT_VOTERS[y];
        let mut register = Vec::new();
        for v in 0..voters {
            let pick = u128::from(next() % 100);
            let (group, g) = if pick < young {
                ("12-17", 0)
            } else if pick < young + old {
                ("65+", 2)
            } else {
                ("18-64", 1)
            };
            let mut liked: Vec<(u64, ProjectId)> = projects
                .iter()
                .enumerate()
                .filter_map(|(k, (_, _, appeal))| {
                    let roll = next() % 100;
                    (roll < appeal[g]).then(|| (roll, project_id(base + k as u128 + 1)))
                })
                .collect();
            liked.sort();
            liked.truncate(3);
            if liked.is_empty() {
                let best = (0..6).max_by_key(|&k| projects[k].2[g]).unwrap_or(0);
                liked.push((0, project_id(base + best as u128 + 1)));
            }
            let mut b = ballot(
                base * 10 + v,
                resident_in(100_000 + v, group),
                Choices::Approval(liked.into_iter().map(|(_, p)| p).collect()),
            );
            b.cast_at = yday(year, 61);
            cmd(&mut p, Command::CastBallot(b));
            register.push(resident_in(100_000 + v, group));
        }
        cmd(&mut p, Command::CloseVoting { at: yday(year, 75) });
        // Who voted by group, from the register (with residents who did not).
        register.extend((0..50).map(|v| resident_in(200_000 + v, "65+")));
        cmd(
            &mut p,
            Command::CountParticipation(medborgarbudget::process::VoterRegister::new(register)),
        );

        let funded = p.cycle(year).unwrap().decision().unwrap().funded.clone();
        for (k, project) in funded.iter().enumerate() {
            let n = project.as_uuid().as_u128() - base;
            let estimate = projects[usize::try_from(n - 1).unwrap()].1;
            for c in 0..(2 + k as u128 % 3) {
                cmd(
                    &mut p,
                    Command::AddCoCreator {
                        project: *project,
                        resident: resident_in(
                            base + 900 + 10 * n + c,
                            ["18-64", "12-17", "65+"][(c % 3) as usize],
                        ),
                    },
                );
            }
            if y == 1 && k + 1 == funded.len() {
                cmd(
                    &mut p,
                    Command::CancelProject {
                        project: *project,
                        reason: "The landowner withdrew permission".into(),
                        spent: Money::new(estimate / 10, Currency::SEK),
                        at: yday(year, 200),
                    },
                );
            } else {
                // Final costs a little off the estimates, to the öre.
                let final_cost = estimate + [-1_250_050, 830_000, -420_075, 0][k % 4];
                cmd(
                    &mut p,
                    Command::CompleteProject {
                        project: *project,
                        final_cost: Money::new(final_cost, Currency::SEK),
                        at: yday(year, 300),
                    },
                );
            }
        }
        cmd(
            &mut p,
            Command::BeginFollowUp {
                at: yday(year, 310),
            },
        );
        cmd(
            &mut p,
            Command::Close(Evaluation {
                lessons: vec![
                    format!("{year}: young residents voted more where the youth ambassadors went")
                        .into(),
                    "Hold workshops in the evening".into(),
                ],
                summary: format!("{voters} ballots counted; every funded project followed up")
                    .into(),
                recorded_at: yday(year, 320),
                figures: None,
            }),
        );
    }
    p
}

// ---------------------------------------------------------------------------
// The three-year programme shared by the programme and follow-up tests.
// ---------------------------------------------------------------------------

/// The first year of the shared three-year programme ([`Run`]).
pub const FIRST: i32 = 2027;

/// The shared programme's setup: `years` committed, carry-over if asked.
pub fn programme_setup(years: u8, carry_over: bool) -> ProgrammeSetup {
    ProgrammeSetup {
        id: ProgrammeId::from_u128(7),
        area: area(),
        currency: Currency::SEK,
        first_year: FIRST,
        years,
        carry_over: carry_over.then(|| CouncilDecision {
            body: "Kommunfullmäktige".into(),
            reference: "KF § 88/2026".into(),
            decided_on: date(2026, 6, 18),
        }),
        established_at: day(-200),
    }
}

/// Day `n` of year `year` (day 0 = 15 January).
pub fn yday(year: i32, n: i64) -> DateTime<Utc> {
    day(n) + Duration::days(365 * i64::from(year - 2026))
}

/// One three-year programme driven command by command, keeping its events;
/// every command is decided first and must give what applying it gives.
pub struct Run {
    pub p: Programme,
    pub events: Vec<ProgrammeEvent>,
}

/// The commands of steps 1–4 of `year` in the shared programme, ending with
/// voting open from day 60 to day 74 (budget 1 000 000; three projects of
/// 400 000, 500 000 and 300 000 on the shortlist).
pub fn commands_to_voting(year: i32) -> Vec<Command> {
    let base = 1000 * u128::try_from(year - FIRST).unwrap();
    let mut commands = vec![
        Command::SetBudget(allocation(1_000_000)),
        Command::SetEligibility(Eligibility::residents_aged(12)),
        Command::SetBallotRules(approval_rules()),
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
    for n in 1..=3 {
        commands.push(Command::SubmitIdea(medborgarbudget::idea::IdeaSubmission {
            submitted_at: yday(year, 12),
            ..idea(base + n, resident(n))
        }));
    }
    commands.push(Command::BeginShortlisting { at: yday(year, 40) });
    for n in 1..=3 {
        let project = project_id(base + n);
        commands.push(Command::ReviewIdea {
            idea: idea_id(base + n),
        });
        commands.push(Command::ProposeProject(proposal(
            base + n,
            vec![idea_id(base + n)],
        )));
        commands.push(Command::EstimateCost {
            project,
            cost: project_cost(n),
        });
        commands.push(Command::AssessFeasibility {
            project,
            feasibility: Feasibility::Feasible,
        });
        for c in ["meeting-places", "movement"] {
            commands.push(Command::ScoreProject {
                project,
                criterion: c.into(),
                score: medborgarbudget::criteria::Score::new(6).unwrap(),
            });
        }
    }
    commands.push(Command::OpenVoting {
        window: VotingWindow {
            opens: yday(year, 60),
            closes: yday(year, 74),
        },
        at: yday(year, 60),
    });
    commands
}

impl Run {
    pub fn new(years: u8, carry_over: bool) -> Run {
        let setup = programme_setup(years, carry_over);
        Run {
            p: Programme::new(setup.clone()).unwrap(),
            events: vec![ProgrammeEvent::Established(setup)],
        }
    }

    pub fn apply(&mut self, c: ProgrammeCommand) -> Result<(), ProgrammeError> {
        let decided = self.p.decide(&c);
        let events = self.p.apply(c)?;
        assert_eq!(decided.as_ref(), Ok(&events), "decide and apply agree");
        self.events.extend(events);
        Ok(())
    }

    pub fn try_cmd(&mut self, year: i32, command: Command) -> Result<(), ProgrammeError> {
        self.apply(ProgrammeCommand::Cycle { year, command })
    }

    pub fn cmd(&mut self, year: i32, command: Command) {
        self.try_cmd(year, command)
            .unwrap_or_else(|e| panic!("{year}: {e}"));
    }

    pub fn start(&mut self, year: i32) -> Result<(), ProgrammeError> {
        self.apply(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(100 + u128::try_from(year).unwrap()),
            year,
            at: yday(year, 0),
        })
    }

    /// Steps 1–5 of `year` with budget 1 000 000: projects of 400 000 and
    /// 500 000 funded (900 000), a 300 000 one not.
    pub fn run_to_implementation(&mut self, year: i32) {
        self.start(year).unwrap();
        let base = 1000 * u128::try_from(year - FIRST).unwrap();
        for command in commands_to_voting(year) {
            self.cmd(year, command);
        }
        for v in 1..=10u128 {
            let mut choice = vec![project_id(base + 1)];
            if v <= 6 {
                choice.push(project_id(base + 2));
            }
            let mut b = ballot(base + v, resident(100 + v), Choices::Approval(choice));
            b.id = BallotId::from_u128(base + v);
            b.cast_at = yday(year, 61);
            self.cmd(year, Command::CastBallot(b));
        }
        self.cmd(year, Command::CloseVoting { at: yday(year, 75) });
    }

    /// Steps 6–7 of `year`: projects 1 and 2 completed at `costs`, any other
    /// funded project at its estimate; closed with the digest of the figures
    /// computed in step 7.
    pub fn finish(&mut self, year: i32, costs: [i64; 2]) {
        let base = 1000 * u128::try_from(year - FIRST).unwrap();
        let funded = self
            .p
            .cycle(year)
            .unwrap()
            .decision()
            .unwrap()
            .funded
            .clone();
        for project in funded {
            let n = project.as_uuid().as_u128() - base;
            let cost = match n {
                1 | 2 => costs[usize::try_from(n - 1).unwrap()],
                _ => project_cost(n).minor() / 100,
            };
            self.cmd(
                year,
                Command::AddCoCreator {
                    project,
                    resident: resident(900),
                },
            );
            self.cmd(
                year,
                Command::CompleteProject {
                    project,
                    final_cost: sek(cost),
                    at: yday(year, 300),
                },
            );
        }
        self.cmd(
            year,
            Command::BeginFollowUp {
                at: yday(year, 310),
            },
        );
        let metrics = CycleMetrics::of(self.p.cycle(year).unwrap()).unwrap();
        self.cmd(year, Command::Close(self.evaluation(year, &metrics)));
    }

    /// The evaluation of `year`, publishing `metrics`.
    pub fn evaluation(&self, year: i32, metrics: &CycleMetrics) -> Evaluation {
        Evaluation {
            lessons: vec![format!("Lesson of {year}").into()],
            summary: format!("{} ballots", metrics.voters).into(),
            recorded_at: yday(year, 320),
            figures: Some(metrics.digest().unwrap()),
        }
    }
}

// ---------------------------------------------------------------------------
// The real elections: one lookup for every test that reads them.
// ---------------------------------------------------------------------------

/// The pabulib data folder (with `files/` and `expected.jsonl`):
/// `MEDBORGARBUDGET_PABULIB` if set, else `../shared/pabulib` beside the crate.
/// `None` with a printed notice when it is missing; with `CI` set, a missing
/// folder fails the test instead.
pub fn pabulib_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MEDBORGARBUDGET_PABULIB").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"),
        std::path::PathBuf::from,
    );
    if dir.join("files").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the pabulib data is missing at {}",
        dir.display()
    );
    println!(
        "skipped: no pabulib data at {} (set MEDBORGARBUDGET_PABULIB)",
        dir.display()
    );
    None
}

/// One file of the pabulib data, as [`pabulib_dir`] finds it.
pub fn pabulib_file(name: &str) -> Option<std::path::PathBuf> {
    let path = pabulib_dir()?.join("files").join(name);
    assert!(
        path.is_file(),
        "{} is missing from the data",
        path.display()
    );
    Some(path)
}
