//! A real year's structures in one programme: Angered, a district of
//! Gothenburg, splits its money into a city-wide part and one part for each of
//! two neighbourhoods, Hjällbo and Hammarkullen, for three years.
//!
//! * Residents cast one ballot per part they may vote in: the city-wide part
//!   and their own neighbourhood's (`PartVoting::Own`). Each part is counted
//!   alone by equal shares (with add1 completion) within its own money.
//! * Two designs for Hjällbo's square exclude each other; the count funds at
//!   most one.
//! * After the first count, the district committee adds Hammarkullen's
//!   football pitch, which fell just short, and raises the budget to pay for
//!   it: the counted outcome and the adjustment stay side by side.
//! * The pitch is not finished by the end of the year: it is handed over to
//!   the programme, delivered in year two, and the credibility report counts
//!   it in year one.
//! * What each part leaves unspent carries over to the same part.
//!
//! Everything runs in memory and is printed; the programme's event log is
//! replayed at the end to show it rebuilds the same programme.
//!
//! Run with `cargo run --example two_districts`.

use std::error::Error;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, BallotSubmission, Choices, Counting};
use medborgarbudget::criteria::{CriteriaSet, Score};
use medborgarbudget::idea::IdeaSubmission;
use medborgarbudget::ids::{AreaId, BallotId, CycleId, IdeaId, ProgrammeId, ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::part::{BudgetPart, PartId, PartVoting};
use medborgarbudget::process::{
    Adjustment, Allocation, Command, CouncilDecision, DeliveryUpdate, Evaluation, ExclusionGroup,
    FundingSource, OutreachActivity, OutreachChannel, Programme, ProgrammeCommand, ProgrammeEvent,
    ProgrammeSetup, VotingWindow,
};
use medborgarbudget::project::{Feasibility, HandOver, Milestone, ProjectProposal};
use medborgarbudget::tally::{Rule, TieBreaking};

const FIRST_YEAR: i32 = 2027;
const HJALLBO: u128 = 0x41;
const HAMMARKULLEN: u128 = 0x42;
const RESIDENTS: u128 = 240;

/// The projects of a year: part, title, cost in kronor, and how many in a
/// hundred residents of the part approve it.
const PROJECTS: [(&str, &str, i64, u64); 8] = [
    ("angered", "Night buses to the centre", 900_000, 55),
    ("angered", "Summer jobs for teenagers", 700_000, 60),
    ("angered", "Library van", 450_000, 30),
    ("hjallbo", "Hjällbo torg: market design", 300_000, 50),
    ("hjallbo", "Hjällbo torg: garden design", 280_000, 45),
    ("hjallbo", "Outdoor gym", 150_000, 35),
    ("hammarkullen", "Football pitch with lights", 380_000, 44),
    ("hammarkullen", "Homework café", 200_000, 52),
];

fn main() -> Result<(), Box<dyn Error>> {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 20, 9, 0, 0)
        .single()
        .ok_or("start time")?;
    let sek = |kronor: i64| Money::from_major(kronor, Currency::SEK);
    let area = Area::new(AreaId::from_u128(0x40), "Angered", 52_000)?
        .with_sub_area(AreaId::from_u128(HJALLBO), "Hjällbo", 7_600)?
        .with_sub_area(AreaId::from_u128(HAMMARKULLEN), "Hammarkullen", 8_000)?;
    let committee = |reference: &str, on: NaiveDate| CouncilDecision {
        body: "Nämnden för Angered".into(),
        reference: reference.into(),
        decided_on: on,
    };
    let setup = ProgrammeSetup {
        id: ProgrammeId::from_u128(2027),
        area: area.clone(),
        currency: Currency::SEK,
        first_year: FIRST_YEAR,
        years: 3,
        carry_over: Some(committee("SDN § 88/2026", t0.date_naive())),
        established_at: t0,
    };
    let mut office = Office {
        programme: Programme::new(setup.clone())?,
        log: vec![ProgrammeEvent::Established(setup)],
    };

    for year in FIRST_YEAR..FIRST_YEAR + 3 {
        let day = |n: i64| year_start(year) + Duration::days(n);
        let cycle = |command: Command| ProgrammeCommand::Cycle { year, command };
        office.run(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(u128::try_from(year)?),
            year,
            at: day(0),
        })?;

        // 1. Criteria: 2.4 million kronor in three parts.
        let parts = vec![
            BudgetPart::whole(PartId::new("angered")?, "Hela Angered", sek(1_600_000)?),
            BudgetPart::of_sub_area(
                PartId::new("hjallbo")?,
                "Hjällbo",
                AreaId::from_u128(HJALLBO),
                sek(400_000)?,
            ),
            BudgetPart::of_sub_area(
                PartId::new("hammarkullen")?,
                "Hammarkullen",
                AreaId::from_u128(HAMMARKULLEN),
                sek(400_000)?,
            ),
        ];
        let rules = BallotRules::builder(BallotKind::Approval)
            .max_projects(3)
            .part_voting(PartVoting::Own)
            .counting(Counting {
                rule: "mes-add1".parse::<Rule>()?,
                tie_breaking: TieBreaking::by_project_id(),
            })
            .build()?;
        for command in [
            Command::SetBudget(Allocation {
                amount: sek(2_400_000)?,
                decision: committee(&format!("KF § 12/{year}"), day(0).date_naive()),
                source: FundingSource::Council,
                part: None,
            }),
            Command::SetParts { parts },
            Command::SetEligibility(Eligibility::residents_aged(12)),
            Command::SetBallotRules(rules),
            Command::SetCriteria {
                criteria: CriteriaSet::builder()
                    .social_sustainability("mötesplatser", "Brings neighbours together", 2)
                    .public_health("rörelse", "Invites people to move", 1)
                    .build()?,
            },
            Command::BeginOutreach { at: day(20) },
            Command::RecordOutreach(OutreachActivity {
                channel: OutreachChannel::DoorToDoor,
                description: "Youth ambassadors at the squares, in six languages".into(),
                languages: vec!["sv".into(), "ar".into(), "so".into()],
                people_reached: 3_100,
                held_on: day(25).date_naive(),
                groups: Vec::new(),
            }),
            Command::OpenIdeaGeneration { at: day(40) },
        ] {
            office.run(cycle(command))?;
        }

        // 3–4. Ideas become projects, each in its part.
        let base = u128::try_from(year)? * 100;
        for (k, (part, title, cost, _)) in PROJECTS.iter().enumerate() {
            let n = base + k as u128;
            let author = resident(n, home_of(part));
            office.run(cycle(Command::SubmitIdea(IdeaSubmission {
                id: IdeaId::from_u128(n),
                author,
                co_authors: Vec::new(),
                title: (*title).into(),
                description: format!("{title}, proposed at a dialogue evening").into(),
                submitted_at: day(45),
                estimated_cost: None,
            })))?;
            let _ = (part, cost);
        }
        office.run(cycle(Command::BeginShortlisting { at: day(70) }))?;
        for (k, (part, title, cost, _)) in PROJECTS.iter().enumerate() {
            let n = base + k as u128;
            let project = ProjectId::from_u128(n);
            for command in [
                Command::ReviewIdea {
                    idea: IdeaId::from_u128(n),
                },
                Command::ProposeProject(ProjectProposal {
                    id: project,
                    title: (*title).into(),
                    description: format!("{title}, worked out with residents").into(),
                    ideas: vec![IdeaId::from_u128(n)],
                    worked_on_by: vec![resident(n + 50, home_of(part))],
                    part: Some(PartId::new(*part)?),
                }),
                Command::EstimateCost {
                    project,
                    cost: sek(*cost)?,
                },
                Command::AssessFeasibility {
                    project,
                    feasibility: Feasibility::Feasible,
                },
                Command::ScoreProject {
                    project,
                    criterion: "mötesplatser".into(),
                    score: Score::new(7)?,
                },
                Command::ScoreProject {
                    project,
                    criterion: "rörelse".into(),
                    score: Score::new(5)?,
                },
            ] {
                office.run(cycle(command))?;
            }
        }
        office.run(cycle(Command::DeclareExclusion(ExclusionGroup {
            projects: vec![
                ProjectId::from_u128(base + 3),
                ProjectId::from_u128(base + 4),
            ],
            reason: "Two designs for Hjällbo torg: one square".into(),
        })))?;
        office.run(cycle(Command::OpenVoting {
            window: VotingWindow {
                opens: day(100),
                closes: day(114),
            },
            at: day(100),
        }))?;

        // 5. Voting: each resident votes city-wide and in their own
        // neighbourhood.
        let mut ballot = 0u128;
        for r in 0..RESIDENTS {
            let home = if r % 2 == 0 {
                "hjallbo"
            } else {
                "hammarkullen"
            };
            let voter = resident(1_000_000 + r, home);
            for part in ["angered", home] {
                let chosen: Vec<ProjectId> = PROJECTS
                    .iter()
                    .enumerate()
                    .filter(|(k, (p, _, _, share))| {
                        *p == part
                            && likes(r, *k as u128 + u128::try_from(year).unwrap_or(0), *share)
                    })
                    .map(|(k, _)| ProjectId::from_u128(base + k as u128))
                    .take(3)
                    .collect();
                if chosen.is_empty() {
                    continue;
                }
                ballot += 1;
                office.run(cycle(Command::CastBallot(BallotSubmission {
                    id: BallotId::from_u128(base * 10_000 + ballot),
                    voter: voter.clone(),
                    cast_at: day(101),
                    choices: Choices::Approval(chosen),
                    part: Some(PartId::new(part)?),
                })))?;
            }
        }
        office.run(cycle(Command::CloseVoting { at: day(115) }))?;
        let counted = office.programme.cycle(year).ok_or("the year's cycle")?;
        let decision = counted.decision().ok_or("counted")?.clone();
        println!("{year}: {} ballots", decision.ballots_counted);
        for part in &decision.parts {
            let titles: Vec<&str> = part
                .funded
                .iter()
                .filter_map(|&p| counted.projects().iter().find(|x| x.id() == p))
                .map(|p| p.title())
                .collect();
            println!(
                "  {:<13} {:>4} ballots, {} of {}: {}",
                part.part.as_str(),
                part.ballots_counted,
                part.total_cost,
                part.budget,
                titles.join("; ")
            );
        }
        for aside in &decision.set_aside {
            println!("  left out: {} ({:?})", aside.project, aside.reason);
        }

        // 6. The committee adds the football pitch in the first year, with
        // the money for it.
        let pitch = ProjectId::from_u128(base + 6);
        let mut funded = counted.funded().ok_or("funded")?;
        if year == FIRST_YEAR && !funded.contains(&pitch) {
            office.run(cycle(Command::AdjustOutcome(Adjustment {
                part: Some(PartId::new("hammarkullen")?),
                add: vec![pitch],
                remove: Vec::new(),
                reason: "The pitch fell just short; the school needs it this year".into(),
                decision: committee("SDN § 41/2027", day(120).date_naive()),
                raises_budget_by: Some(sek(380_000)?),
                at: day(121),
            })))?;
            funded = office
                .programme
                .cycle(year)
                .ok_or("cycle")?
                .funded()
                .ok_or("funded")?;
            println!("  the committee added the football pitch (SDN § 41/2027), +380 000 kr");
        }
        for &project in &funded {
            office.run(cycle(Command::AddCoCreator {
                project,
                resident: resident(5_000 + (project.as_uuid().as_u128() % 1000), "hjallbo"),
            }))?;
            if year == FIRST_YEAR && project == pitch {
                office.run(cycle(Command::HandOver {
                    project,
                    hand_over: HandOver {
                        planned_completion: NaiveDate::from_ymd_opt(year + 1, 6, 1)
                            .ok_or("date")?,
                        reason: "The ground freezes before the turf is laid".into(),
                        at: day(300),
                    },
                }))?;
                continue;
            }
            let estimate = office
                .programme
                .cycle(year)
                .and_then(|c| c.projects().iter().find(|p| p.id() == project))
                .and_then(|p| p.cost())
                .ok_or("cost")?;
            office.run(cycle(Command::CompleteProject {
                project,
                final_cost: estimate,
                at: day(300),
            }))?;
        }
        office.run(cycle(Command::BeginFollowUp { at: day(310) }))?;
        office.run(cycle(Command::Close(Evaluation {
            lessons: vec![format!("{year}: hold the dialogue evenings at the squares").into()],
            summary: format!("{} ballots in three parts", decision.ballots_counted).into(),
            recorded_at: day(330),
            figures: None,
        })))?;

        // The pitch is finished the next spring.
        if year == FIRST_YEAR + 1 {
            let project = ProjectId::from_u128(u128::try_from(FIRST_YEAR)? * 100 + 6);
            let delivery = |update| ProgrammeCommand::Delivery {
                year: FIRST_YEAR,
                project,
                update,
            };
            office.run(delivery(DeliveryUpdate::Milestone {
                milestone: Milestone {
                    title: "Turf laid with the club's youth team".into(),
                    reached_on: day(120).date_naive(),
                },
                at: day(121),
            }))?;
            office.run(delivery(DeliveryUpdate::Complete {
                final_cost: sek(392_000)?,
                at: day(150),
            }))?;
            println!("  the {FIRST_YEAR} football pitch was completed at 392 000 kr");
        }
    }

    let Office {
        mut programme,
        mut log,
    } = office;
    for carry in programme.carry_over() {
        println!(
            "carried over from {} ({}): {} to {:?}",
            carry.from_year,
            carry.part.as_ref().map_or("all", PartId::as_str),
            carry.amount,
            carry.credited_to
        );
    }
    log.extend(programme.apply(ProgrammeCommand::Conclude {
        at: year_start(FIRST_YEAR + 3),
    })?);
    let report = programme.report().ok_or("concluded")?;
    let first = &report.years[0];
    println!(
        "{FIRST_YEAR}: {} funded, {} completed ({} after the year); spent {}",
        first.funded, first.completed, first.finished_later, first.spent
    );
    println!(
        "credible: {}; set aside {}, spent {}, left at the end {}",
        report.credible, report.total_set_aside, report.total_spent, report.left_at_end
    );
    let replayed = Programme::replay(log)?;
    assert_eq!(replayed, programme, "the log rebuilds the programme");
    println!("the event log replays to the same programme");
    Ok(())
}

/// The programme and its event log, as an office keeps them.
struct Office {
    programme: Programme,
    log: Vec<ProgrammeEvent>,
}

impl Office {
    /// Applies a command; its events join the log.
    fn run(&mut self, command: ProgrammeCommand) -> Result<(), Box<dyn Error>> {
        self.log.extend(self.programme.apply(command)?);
        Ok(())
    }
}

/// 20 November of the year before: when the council decides the money.
fn year_start(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year - 1, 11, 20, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The sub-area of a part's residents (the city-wide part's: Hjällbo).
fn home_of(part: &str) -> &'static str {
    if part == "hammarkullen" {
        "hammarkullen"
    } else {
        "hjallbo"
    }
}

/// An adult resident of `home`.
fn resident(n: u128, home: &str) -> Resident {
    let area = if home == "hammarkullen" {
        HAMMARKULLEN
    } else {
        HJALLBO
    };
    Resident::new(
        ResidentId::from_u128(n),
        NaiveDate::from_ymd_opt(1980 + (n % 30) as i32, 3, 1).unwrap_or_default(),
        AreaId::from_u128(area),
        NaiveDate::from_ymd_opt(2012, 1, 1).unwrap_or_default(),
    )
}

/// Whether resident `r` approves project `k`, which `share` in a hundred
/// approve: a fixed pseudo-random draw.
fn likes(r: u128, k: u128, share: u64) -> bool {
    let x = (r.wrapping_mul(2_654_435_761) ^ k.wrapping_mul(40_503)) % 100;
    (x as u64) < share
}
