//! Between cycles and `.pb` files: export a cycle's vote with its outcome, and
//! replay a real election through a cycle.
//!
//! ```
//! # use medborgarbudget::pabulib::{self, cycle::replay_vote};
//! # use medborgarbudget::tally::Greedy;
//! let text = "META\nkey;value\nnum_projects;2\nnum_votes;3\nbudget;100\nvote_type;approval\ncurrency;PLN\n\
//!             PROJECTS\nproject_id;cost;votes;name\n1;60;2;Park\n2;50;2;Library\n\
//!             VOTES\nvoter_id;vote\n1;1\n2;1,2\n3;2\n";
//! let file = pabulib::parse(text.as_bytes())?;
//! // Every ballot goes through the real voting step: eligibility, window, rules.
//! let cycle = replay_vote(&file, &Greedy)?;
//! assert_eq!(cycle.decision().funded.len(), 1);
//! // And back: the cycle's vote and outcome as a .pb file.
//! let exported = pabulib::cycle::export(&cycle)?;
//! assert_eq!(exported.selected().map(|s| s.len()), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::{PbError, PbFile, VoteType};
use crate::area::{Area, Eligibility, ResidencyRequirement, Resident};
use crate::ballot::{BallotKind, BallotRules, BallotSubmission, Choices, Counting};
use crate::criteria::{CriteriaSet, Score};
use crate::idea::IdeaSubmission;
use crate::ids::{AreaId, BallotId, CycleId, IdeaId, ProjectId, ResidentId};
use crate::money::{Currency, Money, MoneyError};
use crate::process::stage::{Decided, Implementation};
use crate::process::{
    Allocation, CouncilDecision, Cycle, CycleError, CycleSetup, FundingSource, OutreachActivity,
    OutreachChannel, TransitionError, VotingWindow,
};
use crate::project::{Feasibility, ProjectProposal};
use crate::tally::{ProfileKind, Tally, TallyError, TieBreak, TieBreaking};

/// Why a cycle cannot be exported or a file not replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CycleFileError {
    /// The cycle's data does not make a valid file.
    #[error("the exported file is invalid: {0}")]
    File(#[from] PbError),
    /// A rule of the process refused a step of the replay.
    #[error("replaying the vote: {0}")]
    Cycle(#[from] CycleError),
    /// The election could not be built or counted.
    #[error("counting: {0}")]
    Tally(#[from] TallyError),
    /// The area derived from the file is invalid.
    #[error(transparent)]
    Area(#[from] crate::area::AreaError),
    /// The ballot rules derived from the file are invalid.
    #[error(transparent)]
    Rules(#[from] crate::ballot::RulesError),
    /// The criteria could not be built.
    #[error(transparent)]
    Criteria(#[from] crate::criteria::CriteriaError),
    /// An amount the currency cannot hold.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The file's currency is missing or not ISO 4217.
    #[error("the file's currency {found:?} is not an ISO 4217 code (META currency)")]
    Currency {
        /// What META says.
        found: Option<String>,
    },
    /// A cycle of several budget parts: a `.pb` file holds one budget.
    #[error(
        "the cycle has {parts} budget parts; a .pb file holds one budget, and exporting a part alone is not supported yet"
    )]
    SeveralParts {
        /// The number of parts.
        parts: usize,
    },
    /// More decimals than the currency has.
    #[error("costs with {decimals} decimals do not fit {currency}'s minor unit")]
    Precision {
        /// Decimals in the file.
        decimals: u32,
        /// The currency.
        currency: Currency,
    },
}

impl<C> From<TransitionError<C>> for CycleFileError {
    fn from(e: TransitionError<C>) -> Self {
        CycleFileError::Cycle(e.into_parts().1)
    }
}

/// An amount as a `.pb` file writes it: major units with the currency's decimals
/// when there are any.
fn decimal(m: Money) -> String {
    let digits = u32::from(m.currency().minor_digits());
    let scale = m.currency().minor_per_major();
    let (whole, frac) = (m.minor() / scale, m.minor() % scale);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{:0width$}", frac.abs(), width = digits as usize)
    }
}

/// The vote of a cycle after its count, as a `.pb` file: the shortlist with costs,
/// support and `selected` (1 for funded), every ballot, and META with the area,
/// year, budget, currency, vote type and counting rule.
///
/// # Errors
/// [`CycleFileError`] if the cycle's values do not make a valid file.
pub fn export<S: Decided>(cycle: &Cycle<S>) -> Result<PbFile, CycleFileError> {
    if !cycle.parts().is_empty() {
        return Err(CycleFileError::SeveralParts {
            parts: cycle.parts().len(),
        });
    }
    let election = cycle.election()?;
    let decision = cycle.decision();
    let rules = cycle.rules();
    let vote_type = match rules.kind() {
        BallotKind::Approval | BallotKind::Knapsack => VoteType::Approval,
        BallotKind::Cumulative => VoteType::Cumulative,
        BallotKind::Ranked => VoteType::Ordinal,
    };
    let shortlist: Vec<_> = cycle
        .projects()
        .iter()
        .filter(|p| p.is_on_shortlist())
        .collect();
    let mut meta = vec![
        (
            "description".to_owned(),
            format!(
                "medborgarbudget cycle {} in {}",
                cycle.year(),
                cycle.area().name()
            ),
        ),
        ("unit".to_owned(), cycle.area().name().to_owned()),
        ("instance".to_owned(), cycle.year().to_string()),
        ("num_projects".to_owned(), shortlist.len().to_string()),
        ("num_votes".to_owned(), cycle.ballots().len().to_string()),
        ("budget".to_owned(), decimal(decision.budget)),
        ("vote_type".to_owned(), vote_type.to_string()),
        ("rule".to_owned(), decision.rule.clone()),
        ("currency".to_owned(), cycle.currency().to_string()),
        ("min_length".to_owned(), rules.min_projects().to_string()),
    ];
    if let Some(max) = rules.max_projects() {
        meta.push(("max_length".to_owned(), max.to_string()));
    }
    if let Some(points) = rules.points() {
        meta.push(("max_sum_points".to_owned(), points.per_voter.to_string()));
    }
    let columns = ["project_id", "cost", "votes", "name", "selected"]
        .map(str::to_owned)
        .to_vec();
    let rows = shortlist
        .iter()
        .map(|p| {
            let score = decision
                .scores
                .iter()
                .find(|s| s.project == p.id())
                .map_or(0, |s| s.score);
            vec![
                p.id().to_string(),
                p.cost().map(decimal).unwrap_or_default(),
                score.to_string(),
                p.title().to_owned(),
                u8::from(decision.funded.contains(&p.id())).to_string(),
            ]
        })
        .collect();
    Ok(PbFile::new(
        meta,
        columns,
        rows,
        vote_type,
        election.profile().clone(),
    )?)
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        + Duration::days(n)
}

/// Replays a real election through a cycle: a district with one synthetic
/// resident per voter (everyone eligible), the file's projects as the shortlist
/// (each from one idea, costed, feasible, scored), every ballot cast through the
/// voting step and its rules, and the count by `tally` — with ties broken by the
/// file's project ids as text, as the reference outcomes do.
///
/// Rules are derived from the file: approval ballots (any number of projects),
/// cumulative and scoring ballots with as many points per voter as the largest
/// ballot gives, rankings as ranked ballots of the file's length.
///
/// # Errors
/// A currency that is not ISO 4217, costs finer than its minor unit, or a step
/// of the process refusing the data.
pub fn replay_vote(
    file: &PbFile,
    tally: &dyn Tally,
) -> Result<Cycle<Implementation>, CycleFileError> {
    let found = file.meta("currency").map(str::trim);
    let currency =
        found
            .and_then(|c| Currency::new(c).ok())
            .ok_or_else(|| CycleFileError::Currency {
                found: found.map(str::to_owned),
            })?;
    let decimals = file.scale.max(1).ilog10();
    if decimals > u32::from(currency.minor_digits()) {
        return Err(CycleFileError::Precision { decimals, currency });
    }
    let factor = currency.minor_per_major() / 10_i64.pow(decimals);
    let money = |units: u64| -> Result<Money, CycleFileError> {
        let units = i64::try_from(units).map_err(|_| MoneyError::Overflow {
            operation: "conversion from the file",
            currency,
        })?;
        Ok(Money::new(units, currency).checked_mul(factor)?)
    };
    let voters = file.num_voters();
    let area_id = AreaId::from_u128(1);
    let population = u32::try_from(voters.max(1)).unwrap_or(u32::MAX);
    let area_name = file.meta("unit").unwrap_or("pabulib election").trim();
    let area = Area::new(
        area_id,
        if area_name.is_empty() {
            "pabulib election"
        } else {
            area_name
        },
        population,
    )?;
    let born = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let resident = |n: u64| {
        Resident::new(
            ResidentId::from_u128(u128::from(n) + 1),
            born,
            area_id,
            born,
        )
    };

    // 1. CriteriaSet, from the file.
    let mut c = Cycle::new(CycleSetup {
        id: CycleId::from_u128(1),
        programme: None,
        year: file
            .meta("instance")
            .and_then(|y| y.trim().get(..4)?.parse().ok())
            .unwrap_or(2000),
        area,
        currency,
        started_at: day(0),
        rules_version: crate::process::RulesVersion::CURRENT,
    });
    c.set_budget(Allocation {
        part: None,
        amount: money(file.budget)?,
        decision: CouncilDecision {
            body: file.meta("unit").unwrap_or("council").trim().to_owned() + " council",
            reference: "pabulib".to_owned(),
            decided_on: day(0).date_naive(),
        },
        source: FundingSource::Council,
    })?;
    c.set_eligibility(Eligibility {
        minimum_age: 0,
        residency: ResidencyRequirement::None,
    });
    let mut by_id: Vec<usize> = (0..file.projects.len()).collect();
    by_id.sort_by(|&a, &b| file.projects[a].id.cmp(&file.projects[b].id));
    let project_id = |i: usize| ProjectId::from_u128(i as u128 + 1);
    let counting = Counting {
        rule: tally.rule(),
        tie_breaking: TieBreaking::new(vec![TieBreak::Explicit(
            by_id.iter().map(|&i| project_id(i).to_string()).collect(),
        )])?,
    };
    let profile = &file.profile;
    let widest = profile.iter().map(|b| b.projects.len()).max().unwrap_or(0);
    let widest = u32::try_from(widest).unwrap_or(u32::MAX);
    let rules = match profile.kind() {
        ProfileKind::Approval => BallotRules::builder(BallotKind::Approval).min_projects(0),
        ProfileKind::Ranking => BallotRules::builder(BallotKind::Ranked)
            .min_projects(0)
            .max_projects(profile.ranking_length().max(widest).max(1)),
        ProfileKind::Points => {
            let most: u64 = profile
                .iter()
                .map(|b| b.points.iter().map(|&p| u64::from(p)).sum::<u64>())
                .max()
                .unwrap_or(1);
            BallotRules::cumulative(u32::try_from(most.max(1)).unwrap_or(u32::MAX)).min_projects(0)
        }
    };
    c.set_ballot_rules(rules.counting(counting).build()?);
    c.set_criteria(
        CriteriaSet::builder()
            .social_sustainability("social", "Social sustainability", 1)
            .public_health("health", "Public health", 1)
            .build()?,
    );

    // 2. Outreach and 3. ideas: one idea per project.
    let mut c = c.begin_outreach(day(1))?;
    c.record_outreach(OutreachActivity {
        channel: OutreachChannel::Other("as recorded by the municipality".to_owned()),
        description: "Outreach before the original vote".to_owned(),
        languages: vec![file.meta("language").unwrap_or("und").trim().to_owned()],
        people_reached: population,
        held_on: day(2).date_naive(),
        groups: Vec::new(),
    })?;
    let mut c = c.open_idea_generation(day(3))?;
    let proposer = Resident::new(ResidentId::from_u128(u128::MAX), born, area_id, born);
    for (i, p) in file.projects.iter().enumerate() {
        c.submit_idea(IdeaSubmission {
            id: IdeaId::from_u128(i as u128 + 1),
            author: proposer.clone(),
            co_authors: vec![],
            title: p.id.clone().into(),
            description: file
                .project_field(i, "name")
                .unwrap_or(&p.id)
                .to_owned()
                .into(),
            submitted_at: day(4),
            estimated_cost: None,
        })?;
    }
    // 4. Every idea becomes a project on the shortlist.
    let mut c = c.begin_shortlisting(day(5))?;
    for (i, p) in file.projects.iter().enumerate() {
        let idea = IdeaId::from_u128(i as u128 + 1);
        let project = project_id(i);
        c.review_idea(idea)?;
        c.propose_project(ProjectProposal {
            part: None,
            id: project,
            title: file
                .project_field(i, "name")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(&p.id)
                .to_owned()
                .into(),
            description: format!("Project {} of the file", p.id).into(),
            ideas: vec![idea],
            worked_on_by: vec![proposer.clone()],
        })?;
        c.estimate_cost(project, money(p.cost.max(1))?)?;
        c.assess_feasibility(project, Feasibility::Feasible)?;
        let five = Score::new(5)?;
        c.score_project(project, "social".to_owned(), five)?;
        c.score_project(project, "health".to_owned(), five)?;
    }
    // 5. Every ballot through the voting step.
    let window = VotingWindow {
        opens: day(10),
        closes: day(20),
    };
    let mut c = c.open_voting(window, day(10))?;
    let mut voter = 0_u64;
    for ballot in profile.iter() {
        for _ in 0..ballot.count {
            let choices = match profile.kind() {
                ProfileKind::Approval => Choices::Approval(
                    ballot
                        .projects
                        .iter()
                        .map(|&p| project_id(p as usize))
                        .collect(),
                ),
                ProfileKind::Ranking => Choices::Ranking(
                    ballot
                        .projects
                        .iter()
                        .map(|&p| project_id(p as usize))
                        .collect(),
                ),
                ProfileKind::Points => Choices::Points(
                    ballot
                        .projects
                        .iter()
                        .zip(ballot.points)
                        .map(|(&p, &v)| (project_id(p as usize), v))
                        .collect(),
                ),
            };
            c.cast_ballot(BallotSubmission {
                part: None,
                id: BallotId::from_u128(u128::from(voter) + 1),
                voter: resident(voter),
                cast_at: day(11),
                choices,
            })?;
            voter += 1;
        }
    }
    Ok(c.close_voting(day(21), tally)?)
}
