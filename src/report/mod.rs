//! Reports: one self-contained HTML file for a council, the residents and the
//! evaluators, with the follow-up of a cycle or of a whole programme.
//!
//! A [`Report`] is gathered from a counted cycle ([`Report::cycle`]) or a
//! programme ([`Report::programme`]) and written with [`Report::to_html`] or
//! [`Report::write_html`]. The file needs nothing else to be read: the styles
//! and the charts (SVG) are inline, there are no scripts, no fonts to fetch and
//! no links to follow, so it can be mailed, archived or printed as it is. Every
//! text that comes from residents or officials (titles, lessons) is escaped.
//!
//! For each counted year (a cycle in implementation, follow-up or closed) the
//! report shows:
//!
//! * the projects on the ballot against their votes and their cost, the funded
//!   ones highlighted;
//! * the budget: money set aside and carried in, against money spent and left;
//! * greedy against equal shares on the same ballots: which projects each rule
//!   funds, at what cost, and the share of voters with a project they supported;
//! * who voted, by population group, and the cycle's key figures.
//!
//! A programme report adds turnout and representation by group over the years
//! and a table of the main measures per year with the change from the year
//! before. The figures are those of [`followup`](crate::followup): counts are
//! exact, money is printed to the öre.
//!
//! ```
//! use medborgarbudget::report::Report;
//! # use chrono::{Duration, NaiveDate, TimeZone, Utc};
//! # use medborgarbudget::prelude::*;
//! # fn counted_cycle() -> Result<AnyCycle, Box<dyn std::error::Error>> {
//! #     let t0 = Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap();
//! #     let day = |n: i64| t0 + Duration::days(n);
//! #     let area = Area::new(AreaId::new(), "Hjällbo", 7_600)?;
//! #     let mut c = Cycle::new(CycleSetup {
//! #         id: CycleId::new(), programme: None, year: 2026, area: area.clone(),
//! #         currency: Currency::SEK, started_at: t0, rules_version: RulesVersion::CURRENT,
//! #     });
//! #     c.set_budget(Allocation {
//! #         amount: Money::from_major(1_000_000, Currency::SEK)?,
//! #         decision: CouncilDecision { body: "KF".into(), reference: "§ 1".into(),
//! #             decided_on: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap() },
//! #         source: FundingSource::Council, part: None,
//! #     })?;
//! #     c.set_eligibility(Eligibility::residents_aged(12));
//! #     c.set_ballot_rules(BallotRules::builder(BallotKind::Approval).max_projects(3).build()?);
//! #     c.set_criteria(CriteriaSet::builder()
//! #         .social_sustainability("meet", "Brings neighbours together", 2)
//! #         .public_health("move", "Invites people to move", 1).build()?);
//! #     let mut c = c.begin_outreach(day(1))?;
//! #     c.record_outreach(OutreachActivity { channel: OutreachChannel::DoorToDoor,
//! #         description: "Door to door".into(), languages: vec!["sv".into()],
//! #         people_reached: 500, held_on: day(3).date_naive(), groups: Vec::new() })?;
//! #     let mut c = c.open_idea_generation(day(10))?;
//! #     let resident = |n: u128| Resident::new(ResidentId::from_u128(n),
//! #         NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), area.id(),
//! #         NaiveDate::from_ymd_opt(2015, 1, 1).unwrap());
//! #     let ideas = [IdeaId::new(), IdeaId::new()];
//! #     let projects = [ProjectId::new(), ProjectId::new()];
//! #     for k in 0..2 {
//! #         c.submit_idea(IdeaSubmission { id: ideas[k], author: resident(k as u128 + 1),
//! #             co_authors: vec![], title: format!("Idea {k}").into(), description: "…".into(),
//! #             submitted_at: day(12), estimated_cost: None })?;
//! #     }
//! #     let mut c = c.begin_shortlisting(day(40))?;
//! #     for k in 0..2 {
//! #         c.review_idea(ideas[k])?;
//! #         c.propose_project(ProjectProposal { id: projects[k],
//! #             title: ["Outdoor gym", "Lit footpath <by the school>"][k].into(),
//! #             description: "…".into(), ideas: vec![ideas[k]],
//! #             worked_on_by: vec![resident(10)], part: None })?;
//! #         c.estimate_cost(projects[k], Money::from_major(400_000, Currency::SEK)?)?;
//! #         c.assess_feasibility(projects[k], Feasibility::Feasible)?;
//! #         c.score_project(projects[k], "meet".into(), Score::new(7)?)?;
//! #         c.score_project(projects[k], "move".into(), Score::new(5)?)?;
//! #     }
//! #     let mut c = c.open_voting(VotingWindow { opens: day(60), closes: day(74) }, day(60))?;
//! #     for v in 0..20u128 {
//! #         c.cast_ballot(BallotSubmission { id: BallotId::new(), voter: resident(100 + v),
//! #             cast_at: day(61), choices: Choices::Approval(vec![projects[(v % 3 == 0) as usize]]),
//! #             part: None })?;
//! #     }
//! #     Ok(AnyCycle::from(c.close_voting(day(75), &Greedy)?))
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cycle: AnyCycle = counted_cycle()?; // voting has closed
//! let report = Report::cycle(&cycle)?;
//! let html = report.to_html();
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("Lit footpath &lt;by the school&gt;")); // escaped
//! assert!(!html.contains("<script"));
//!
//! // Or straight into a file (any `io::Write`).
//! let mut file = Vec::new();
//! report.write_html(&mut file)?;
//! assert_eq!(file, html.into_bytes());
//! # Ok(())
//! # }
//! ```
//!
//! A cycle whose vote has not been counted has nothing to report yet:
//!
//! ```
//! # use medborgarbudget::prelude::*;
//! # use medborgarbudget::report::{Report, ReportError};
//! # fn f(cycle_in_step_3: AnyCycle) {
//! match Report::cycle(&cycle_in_step_3) {
//!     Err(ReportError::NotCounted { year, step }) => println!("{year} is in step {step}"),
//!     _ => {}
//! }
//! # }
//! ```

mod render;
pub(crate) mod svg;

use std::collections::HashSet;
use std::io;

use crate::ballot::BallotKind;
use crate::followup::{CycleMetrics, FollowUpError, ProgrammeMetrics};
use crate::ids::{CycleId, ProgrammeId, ProjectId};
use crate::money::{Currency, Money, MoneyError};
use crate::process::stage::Decided;
use crate::process::{
    Adjustment, AnyCycle, Cycle, CycleError, OngoingDelivery, Programme, SetAsideReason, Step,
};
use crate::store::{StreamId, Verified};
use crate::tally::{Fraction, Measure, Rule, Satisfaction, Tally, explain};
use crate::text::{Lang, LocalText};

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A report language the crate does not write.
    #[error("no report in language {given:?}; the languages are en and sv")]
    UnknownLanguage {
        /// The tag given.
        given: String,
    },
    /// The cycle's vote has not been counted: a report needs a cycle in
    /// implementation, follow-up or closed.
    #[error(
        "the cycle of {year} is in step {step}: a report needs a cycle whose vote has been counted (implementation, follow-up or closed)"
    )]
    NotCounted {
        /// The cycle's year.
        year: i32,
        /// The step it is in.
        step: Step,
    },
    /// No year of the programme has had its vote counted yet.
    #[error(
        "programme {programme}: no year's vote has been counted yet, so there is nothing to report"
    )]
    NothingCounted {
        /// The programme.
        programme: ProgrammeId,
    },
    /// The follow-up metrics could not be computed.
    #[error("follow-up metrics: {source}")]
    Metrics {
        /// What went wrong.
        #[source]
        source: FollowUpError,
    },
    /// The metrics of a counted cycle were missing from the programme's.
    #[error("the follow-up of the programme has no figures for the cycle {cycle} of {year}")]
    MissingYear {
        /// The year.
        year: i32,
        /// The cycle.
        cycle: CycleId,
    },
    /// The cycle's ballots could not be read as an election.
    #[error("the cycle of {year}: its ballots cannot be counted again: {source}")]
    Election {
        /// The year.
        year: i32,
        /// What went wrong.
        #[source]
        source: CycleError,
    },
    /// An amount of the cycle could not be computed.
    #[error("the cycle of {year}: {what}: {source}")]
    Money {
        /// The year.
        year: i32,
        /// The amount.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: MoneyError,
    },
    /// The HTML could not be written.
    #[error("writing the report: {source}")]
    Write {
        /// What went wrong.
        #[source]
        source: io::Error,
    },
}

/// A report on one counted cycle or on a programme, ready to be written as one
/// self-contained HTML file.
///
/// Gathering does all the work (follow-up metrics, greedy and equal shares on
/// the cycle's ballots); writing only formats. See the [module](self) for what
/// the report contains.
#[derive(Debug, Clone)]
pub struct Report {
    area: String,
    programme: Option<ProgrammePart>,
    years: Vec<YearPart>,
    /// The stream the report was made from and what verifying it found.
    head: Option<(StreamId, Verified)>,
    /// The language it is written in.
    lang: Language,
}

/// The language a report is written in ([`Report::in_language`]). Residents'
/// own texts (titles, lessons) are shown in it where they were written in it,
/// in Swedish otherwise, and in their other languages beside (right-to-left
/// ones marked so, to show correctly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Language {
    /// English (the default).
    #[default]
    English,
    /// Swedish.
    Swedish,
}

impl Language {
    /// The language tag (`en`, `sv`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Swedish => "sv",
        }
    }

    /// The text in this language: `en` or `sv`.
    pub(crate) fn t(self, en: &'static str, sv: &'static str) -> &'static str {
        match self {
            Language::Swedish => sv,
            Language::English => en,
        }
    }

    /// A resident's text in this language, or in Swedish.
    pub(crate) fn text(self, text: &LocalText) -> &str {
        let lang = match self {
            Language::Swedish => crate::text::Lang::swedish(),
            Language::English => crate::text::Lang::english(),
        };
        text.in_or_swedish(&lang)
    }
}

impl std::str::FromStr for Language {
    type Err = ReportError;

    /// `en` or `sv`.
    fn from_str(tag: &str) -> Result<Language, ReportError> {
        match tag {
            "en" => Ok(Language::English),
            "sv" => Ok(Language::Swedish),
            other => Err(ReportError::UnknownLanguage {
                given: other.to_owned(),
            }),
        }
    }
}

/// The programme-wide part.
#[derive(Debug, Clone)]
struct ProgrammePart {
    first_year: i32,
    committed: u8,
    carry_over: bool,
    metrics: ProgrammeMetrics,
    /// Years abandoned: year, step, reason.
    abandoned: Vec<(i32, Step, String)>,
    /// Years not counted yet: year, step.
    running: Vec<(i32, Step)>,
    /// Projects handed over to the programme to be finished in a later year.
    deliveries: Vec<OngoingDelivery>,
}

/// One counted year.
#[derive(Debug, Clone)]
struct YearPart {
    metrics: CycleMetrics,
    step: Step,
    currency: Currency,
    /// The rule the cycle was counted by, and its tie-breaking.
    rule: String,
    tie_breaking: String,
    /// What the scores count: `votes`, `points`, `Borda points`.
    score_unit: &'static str,
    /// The budget less carry-over.
    set_aside: Money,
    /// Projects on the ballot, in shortlist order.
    projects: Vec<ProjectRow>,
    /// Greedy and equal shares on the same ballots.
    rules: Vec<RuleRun>,
    /// The evaluation of a closed cycle: summary and lessons.
    evaluation: Option<(LocalText, Vec<LocalText>)>,
    /// Whether what the projects not funded would have needed was worked out.
    explained: Explained,
    /// The council's adjustments of the counted outcome.
    adjustments: Vec<Adjustment>,
    /// Whether the cycle's budget parts were counted together.
    parts_together: bool,
}

#[derive(Debug, Clone)]
struct ProjectRow {
    /// The project (none for a candidate the cycle does not know).
    id: Option<ProjectId>,
    title: LocalText,
    cost: Money,
    score: u64,
    /// Funded, after any council adjustment.
    funded: bool,
    /// Funded by the count.
    counted: bool,
    /// Why the count left it out, if it did, in words: English, Swedish.
    set_aside: Option<(String, String)>,
    /// Not funded: what it would have needed under the cycle's rule (`None`
    /// for a rule of one's own, or past [`EXPLAIN_STEP_LIMIT`]).
    needed: Option<Needed>,
}

/// What a project not funded would have needed ([`crate::tally::explain`]).
#[derive(Debug, Clone, Copy)]
struct Needed {
    /// The largest cost at which it would have been funded.
    max_cost: Measure,
    /// The fewest added voters supporting it alone that would have funded it.
    extra_voters: Measure,
}

/// The work each count made to explain a year may take
/// ([`Election::with_step_limit`](crate::tally::Election::with_step_limit)):
/// a report on a very large year leaves the explanations out rather than run
/// for long.
pub const EXPLAIN_STEP_LIMIT: u64 = 50_000_000;

/// Whether a year's "what it would have needed" list could be worked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Explained {
    /// Yes (the list shows the projects not funded).
    Yes,
    /// Not for this rule in a report: add1, completions, knapsacks, maximin
    /// support and rules of one's own recount too slowly (an add1 recount at a
    /// measure's boundary meets exact ties; a simulated year takes ~10 s).
    NotForRule,
    /// A recount passed [`EXPLAIN_STEP_LIMIT`] or failed.
    TooCostly,
    /// The count left projects out (too few votes, exclusion groups), which
    /// a recount of the whole ballot does not follow.
    SetAside,
    /// Several budget parts, each counted alone.
    Parts,
}

/// For each candidate of `election` not funded by `decision`, what it would
/// have needed under the decision's rule, where the report works it out: for
/// the rules whose measures are exact and quick (greedy, equal shares without
/// completion, Phragmén), each recount within [`EXPLAIN_STEP_LIMIT`].
fn what_it_needed(
    election: &crate::tally::Election,
    decision: &crate::process::FundingDecision,
) -> (Vec<Option<Needed>>, Explained) {
    let n = election.candidates().len();
    let none = |why| (vec![None; n], why);
    if !decision.parts.is_empty() {
        return none(Explained::Parts);
    }
    if !decision.set_aside.is_empty() {
        return none(Explained::SetAside);
    }
    let Ok(rule) = decision.rule.parse::<Rule>() else {
        return none(Explained::NotForRule);
    };
    if !rule.explains_exactly() {
        return none(Explained::NotForRule);
    }
    let election = election.clone().with_step_limit(EXPLAIN_STEP_LIMIT);
    let explained = rule
        .tally(&election, &decision.tie_breaking)
        .and_then(|outcome| explain(&rule, &election, &decision.tie_breaking, &outcome));
    let Ok(why) = explained else {
        return none(Explained::TooCostly);
    };
    let needed = why
        .projects
        .iter()
        .map(|x| {
            Some(Needed {
                max_cost: x.max_cost,
                extra_voters: x.extra_voters?,
            })
        })
        .collect();
    (needed, Explained::Yes)
}

#[derive(Debug, Clone)]
struct RuleRun {
    name: &'static str,
    label: &'static str,
    result: Result<RuleResult, String>,
}

#[derive(Debug, Clone)]
struct RuleResult {
    /// Indices into the year's projects, in the order the rule chose them.
    funded: Vec<usize>,
    cost: Money,
    /// Satisfaction: voters with a funded project they supported, voters by
    /// the number of their projects funded, and so on.
    satisfaction: Satisfaction,
}

impl RuleResult {
    /// Voters with at least one funded project they supported.
    fn voters_with_funded(&self) -> u64 {
        self.satisfaction.voters - self.satisfaction.nothing_funded
    }

    fn share(&self) -> Fraction {
        Fraction::new(
            u128::from(self.voters_with_funded()),
            u128::from(self.satisfaction.voters),
        )
    }
}

/// The rules compared on every counted year's ballots.
static COMPARED: [(Rule, &str); 2] = [(Rule::Greedy, "Greedy"), (Rule::Mes, "Equal shares")];

impl Report {
    /// The report on one cycle whose vote has been counted (implementation,
    /// follow-up or closed).
    ///
    /// # Errors
    /// [`ReportError::NotCounted`] for a cycle in an earlier step or abandoned;
    /// [`ReportError::Metrics`] when its follow-up cannot be computed.
    pub fn cycle(cycle: &AnyCycle) -> Result<Report, ReportError> {
        if !is_counted(cycle) {
            return Err(ReportError::NotCounted {
                year: cycle.year(),
                step: cycle.step(),
            });
        }
        let metrics = CycleMetrics::of(cycle).map_err(|source| ReportError::Metrics { source })?;
        Ok(Report {
            area: cycle.setup().area.name().to_owned(),
            programme: None,
            years: vec![year_part(cycle, metrics)?],
            head: None,
            lang: Language::English,
        })
    }

    /// The report on a programme: every counted year, and the programme's
    /// follow-up over the years.
    ///
    /// # Errors
    /// [`ReportError::NothingCounted`] when no year's vote has been counted;
    /// [`ReportError::Metrics`] when the follow-up cannot be computed.
    pub fn programme(programme: &Programme) -> Result<Report, ReportError> {
        let metrics =
            ProgrammeMetrics::of(programme).map_err(|source| ReportError::Metrics { source })?;
        let mut years = Vec::new();
        let mut abandoned = Vec::new();
        let mut running = Vec::new();
        for cycle in programme.cycles() {
            if let AnyCycle::Abandoned(c) = cycle {
                abandoned.push((
                    c.year(),
                    c.stage().from_step(),
                    c.stage().reason().to_owned(),
                ));
            } else if !is_counted(cycle) {
                running.push((cycle.year(), cycle.step()));
            } else {
                let m = metrics
                    .years
                    .iter()
                    .find(|m| m.cycle == cycle.id())
                    .cloned()
                    .ok_or(ReportError::MissingYear {
                        year: cycle.year(),
                        cycle: cycle.id(),
                    })?;
                years.push(year_part(cycle, m)?);
            }
        }
        if years.is_empty() {
            return Err(ReportError::NothingCounted {
                programme: programme.id(),
            });
        }
        let setup = programme.setup();
        Ok(Report {
            area: setup.area.name().to_owned(),
            programme: Some(ProgrammePart {
                first_year: setup.first_year,
                committed: setup.years,
                carry_over: setup.carry_over.is_some(),
                metrics,
                abandoned,
                running,
                deliveries: programme.deliveries().to_vec(),
            }),
            years,
            head: None,
            lang: Language::English,
        })
    }

    /// The report, publishing the head of the stream it was made from (as
    /// [`StoreExt::verify`](crate::store::StoreExt::verify) found it): its
    /// number of events, the hash of the last, and whether its seal was
    /// checked. Anyone who keeps the published head can later check a copy of
    /// the log against it (the export's last line), whoever holds the keys.
    pub fn with_head(mut self, stream: StreamId, verified: Verified) -> Report {
        self.head = Some((stream, verified));
        self
    }

    /// The published head, if any.
    pub fn head(&self) -> Option<(&StreamId, &Verified)> {
        self.head.as_ref().map(|(s, v)| (s, v))
    }

    /// The report as one HTML document.
    pub fn to_html(&self) -> String {
        render::html(self)
    }

    /// The report written in `lang` (English by default).
    #[must_use]
    pub fn in_language(mut self, lang: Language) -> Report {
        self.lang = lang;
        self
    }

    /// The language the report is written in.
    pub fn language(&self) -> Language {
        self.lang
    }

    /// Writes the report as one HTML document.
    ///
    /// # Errors
    /// [`ReportError::Write`] when `out` fails.
    pub fn write_html(&self, out: &mut dyn io::Write) -> Result<(), ReportError> {
        out.write_all(self.to_html().as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| ReportError::Write { source })
    }

    /// The district's name.
    pub fn area(&self) -> &str {
        &self.area
    }

    /// The counted years the report covers, in order.
    pub fn years(&self) -> Vec<i32> {
        self.years.iter().map(|y| y.metrics.year).collect()
    }

    /// Whether this is a programme report (rather than one cycle's).
    pub fn is_programme(&self) -> bool {
        self.programme.is_some()
    }

    /// The number of charts the HTML holds, one `<svg>` each.
    pub fn charts(&self) -> usize {
        let per_year = 3 * self.years.len();
        match &self.programme {
            None => per_year,
            Some(p) => {
                let groups = p.metrics.years.iter().any(|y| !y.groups.is_empty());
                per_year + 1 + usize::from(groups)
            }
        }
    }
}

/// Whether the cycle's vote has been counted and it still runs or closed.
fn is_counted(cycle: &AnyCycle) -> bool {
    matches!(
        cycle,
        AnyCycle::Implementation(_) | AnyCycle::FollowUp(_) | AnyCycle::Closed(_)
    )
}

fn year_part(cycle: &AnyCycle, metrics: CycleMetrics) -> Result<YearPart, ReportError> {
    let mut part = match cycle {
        AnyCycle::Implementation(c) => decided_part(c, metrics)?,
        AnyCycle::FollowUp(c) => decided_part(c, metrics)?,
        AnyCycle::Closed(c) => decided_part(c, metrics)?,
        other => {
            return Err(ReportError::NotCounted {
                year: other.year(),
                step: other.step(),
            });
        }
    };
    part.evaluation = cycle
        .evaluation()
        .map(|e| (e.summary.clone(), e.lessons.clone()));
    Ok(part)
}

fn decided_part<S: Decided>(
    cycle: &Cycle<S>,
    metrics: CycleMetrics,
) -> Result<YearPart, ReportError> {
    let year = cycle.year();
    let currency = cycle.currency();
    let decision = cycle.decision();
    let election = cycle
        .election()
        .map_err(|source| ReportError::Election { year, source })?;
    let funded: HashSet<ProjectId> = cycle.funded().into_iter().collect();
    let counted: HashSet<ProjectId> = decision.funded.iter().copied().collect();

    // The shortlist in the election's order, with titles and scores.
    let mut projects = Vec::with_capacity(election.candidates().len());
    let support = election.profile().support().unwrap_or_default();
    let (needed, explained) = what_it_needed(&election, decision);
    for (i, candidate) in election.candidates().iter().enumerate() {
        let project = cycle
            .projects()
            .iter()
            .find(|p| p.id().to_string() == candidate.label);
        let id = project.map(|p| p.id());
        let score = id
            .and_then(|id| decision.scores.iter().find(|s| s.project == id))
            .map(|s| s.score)
            .or_else(|| support.get(i).copied())
            .unwrap_or(0);
        projects.push(ProjectRow {
            id,
            title: project.map_or_else(
                || LocalText::from(candidate.label.clone()),
                |p| p.proposal().title.clone(),
            ),
            cost: project.and_then(|p| p.cost()).unwrap_or(Money::new(
                i64::try_from(candidate.cost).unwrap_or(i64::MAX),
                currency,
            )),
            score,
            funded: id.is_some_and(|id| funded.contains(&id)),
            counted: id.is_some_and(|id| counted.contains(&id)),
            set_aside: id.and_then(|id| {
                let aside = decision.set_aside.iter().find(|s| s.project == id)?;
                Some(match &aside.reason {
                    SetAsideReason::TooFewVotes { votes, minimum } => (
                        format!("too few votes ({votes}; the rules ask for {minimum})"),
                        format!("för få röster ({votes}; reglerna kräver {minimum})"),
                    ),
                    SetAsideReason::Excluded { chosen } => {
                        // The other project by its title in each language
                        // (Swedish where it has no English one).
                        let other = |lang: &Lang| {
                            cycle.project(*chosen).map_or_else(
                                || chosen.to_string(),
                                |p| format!("“{}”", p.proposal().title.in_or_swedish(lang)),
                            )
                        };
                        (
                            format!("excluded by {}, chosen first", other(&Lang::english())),
                            format!("utesluten av {}, som valdes först", other(&Lang::swedish())),
                        )
                    }
                })
            }),
            needed: needed.get(i).copied().flatten(),
        });
    }

    let rules = COMPARED
        .iter()
        .map(|(rule, label)| {
            // Counted as the cycle's rule was: minimum votes and exclusion
            // groups hold for every rule.
            let result = cycle
                .count_by(rule, &decision.tie_breaking)
                .and_then(|count| {
                    let selected: Vec<usize> = count
                        .funded
                        .iter()
                        .filter_map(|p| {
                            let label = p.to_string();
                            election.candidates().iter().position(|c| c.label == label)
                        })
                        .collect();
                    let satisfaction = Satisfaction::of(&election, &selected)?;
                    let cost = selected
                        .iter()
                        .map(|&i| election.candidates()[i].cost)
                        .sum::<u64>();
                    Ok(RuleResult {
                        cost: Money::new(i64::try_from(cost).unwrap_or(i64::MAX), currency),
                        funded: selected,
                        satisfaction,
                    })
                })
                .map_err(|e| e.to_string());
            RuleRun {
                name: rule.name(),
                label,
                result,
            }
        })
        .collect();

    let set_aside = metrics
        .budget
        .checked_sub(metrics.carried_in)
        .map_err(|source| ReportError::Money {
            year,
            what: "the budget less carry-over",
            source,
        })?;
    let score_unit = match cycle.rules().kind() {
        BallotKind::Approval | BallotKind::Knapsack => "votes",
        BallotKind::Cumulative => "points",
        BallotKind::Ranked => "Borda points",
    };
    Ok(YearPart {
        step: cycle.step(),
        currency,
        rule: decision.rule.clone(),
        tie_breaking: decision.tie_breaking.to_string(),
        score_unit,
        set_aside,
        projects,
        rules,
        evaluation: None,
        explained,
        adjustments: cycle.adjustments().to_vec(),
        parts_together: cycle.rules().parts_together(),
        metrics,
    })
}
