//! Three annual cycles of participatory budgeting in an invented Swedish district,
//! Norrby in Ekeby kommun: every cycle through all seven steps, a few hundred
//! residents' ideas and ballots generated deterministically, results per year and
//! the programme's credibility report at the end.
//!
//! Each year's cycle starts in November, when the council decides the next
//! year's money, while the current year's projects are still being built; when
//! the current year closes, its lessons and unspent money pass to the next.
//!
//! The programme lives in an SQLite event store: `medborgarbudget.db` in the
//! current directory, or the path given as the first argument (or in
//! `MEDBORGARBUDGET_DB`). Ballots are stored under pseudonyms keyed by a voter
//! key kept next to the database (`<path>.key`), and the head of its event log
//! is sealed with a log key kept there too (`<path>.log-key`), both created on
//! the first run.
//!
//! Running it again continues from what is stored: the run is deterministic, and
//! a [`Journal`] decides each command again on a copy of the programme and, where
//! the store already holds its events, checks them instead of writing them twice.
//! A run that was killed resumes after its last committed command; a finished
//! programme is reported as complete.
//!
//! Run with `cargo run --release --example three_year_programme [PATH]`.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use medborgarbudget::area::{Area, Eligibility, Resident};
use medborgarbudget::ballot::{BallotKind, BallotRules, BallotSubmission, Choices, PaperBatch};
use medborgarbudget::criteria::{CriteriaSet, Score};
use medborgarbudget::followup::CycleMetrics;
use medborgarbudget::idea::{IdeaStatus, IdeaSubmission};
use medborgarbudget::ids::{AreaId, BallotId, CycleId, IdeaId, ProgrammeId, ProjectId, ResidentId};
use medborgarbudget::money::{Currency, Money};
use medborgarbudget::process::{
    Allocation, AnyCycle, Command, CouncilDecision, CredibilityReport, CycleError, Evaluation,
    FundingSource, OutreachActivity, OutreachChannel, ProgrammeCommand, ProgrammeError,
    ProgrammeSetup, VotingWindow,
};
use medborgarbudget::project::{Feasibility, Milestone, Progress, ProjectProposal};
use medborgarbudget::store::sqlite::SqliteStore;
use medborgarbudget::store::{Journal, JournalError, KeyFiles, Store, StoreExt, StreamId};

const FIRST_YEAR: i32 = 2027;
const POPULATION: u32 = 9_400;
const BUDGET_KRONOR: i64 = 2_000_000;

/// A project theme residents propose: a Swedish title, a cost in kronor, how
/// popular it is with young and with older residents, and whether the
/// municipality can do it.
struct Theme {
    title: &'static str,
    cost: i64,
    young: u32,
    old: u32,
    feasible: bool,
}

const THEMES: &[Theme] = &[
    Theme {
        title: "Utegym vid Norrbyskolan",
        cost: 450_000,
        young: 9,
        old: 4,
        feasible: true,
    },
    Theme {
        title: "Belysning på gångvägen till centrum",
        cost: 380_000,
        young: 5,
        old: 9,
        feasible: true,
    },
    Theme {
        title: "Odlingslotter på gården",
        cost: 160_000,
        young: 2,
        old: 7,
        feasible: true,
    },
    Theme {
        title: "Läxhjälp på biblioteket",
        cost: 220_000,
        young: 8,
        old: 3,
        feasible: true,
    },
    Theme {
        title: "Spontanidrottsplats",
        cost: 890_000,
        young: 10,
        old: 2,
        feasible: true,
    },
    Theme {
        title: "Bänkar och pergola vid torget",
        cost: 140_000,
        young: 2,
        old: 8,
        feasible: true,
    },
    Theme {
        title: "Mötesplats för seniorer",
        cost: 310_000,
        young: 1,
        old: 9,
        feasible: true,
    },
    Theme {
        title: "Ny lekplats vid Björkvägen",
        cost: 640_000,
        young: 6,
        old: 5,
        feasible: true,
    },
    Theme {
        title: "Konst i gångtunneln",
        cost: 120_000,
        young: 6,
        old: 3,
        feasible: true,
    },
    Theme {
        title: "Fritidsgården öppen på helger",
        cost: 420_000,
        young: 9,
        old: 2,
        feasible: true,
    },
    Theme {
        title: "Cykelverkstad för alla",
        cost: 95_000,
        young: 6,
        old: 3,
        feasible: true,
    },
    Theme {
        title: "Simhall i stadsdelen",
        cost: 1_900_000,
        young: 8,
        old: 6,
        feasible: false,
    },
];

/// SplitMix64: a tiny deterministic generator, so the example prints the same
/// every time without extra dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

fn sek(kronor: i64) -> Money {
    Money::new(kronor * 100, Currency::SEK)
}

/// The district's residents, generated once: ids, ages, groups.
struct Register {
    area: Area,
    residents: Vec<Resident>,
}

impl Register {
    fn new(area: Area, rng: &mut Rng) -> Register {
        let languages = ["svenska", "arabiska", "somaliska", "persiska", "bosniska"];
        let residents = (0..POPULATION)
            .map(|n| {
                let age = 6 + rng.below(80) as i32;
                let born = date(
                    FIRST_YEAR - age,
                    1 + rng.below(12) as u32,
                    1 + rng.below(28) as u32,
                );
                let since = date(2005 + rng.below(21) as i32, 1 + rng.below(12) as u32, 1);
                let band = match age {
                    ..12 => "0-11",
                    12..=17 => "12-17",
                    18..=64 => "18-64",
                    _ => "65+",
                };
                let language = languages[rng.below(languages.len() as u64) as usize];
                Resident::new(
                    ResidentId::from_u128(u128::from(n) + 1),
                    born,
                    area.id(),
                    since,
                )
                .in_group("age", band)
                .in_group("language", language)
            })
            .collect();
        Register { area, residents }
    }

    fn pick(&self, rng: &mut Rng) -> &Resident {
        &self.residents[rng.below(self.residents.len() as u64) as usize]
    }

    fn is_young(r: &Resident) -> bool {
        r.group("age").is_some_and(|a| a == "12-17" || a == "0-11")
    }
}

/// Running counts for the year's printout.
#[derive(Default)]
struct YearLog {
    ideas_refused: usize,
    ballots_refused: BTreeMap<&'static str, usize>,
    projects: BTreeMap<ProjectId, &'static str>,
}

struct Run {
    journal: Journal,
    register: Register,
    rng: Rng,
    logs: BTreeMap<i32, YearLog>,
    /// `MEDBORGARBUDGET_EXAMPLE_STOP_AFTER`: end abruptly once this run has
    /// written this many events, as a machine that stops would (the resume
    /// test's deterministic stop point).
    stop_after: Option<u64>,
}

impl Run {
    fn apply(
        &mut self,
        command: ProgrammeCommand,
    ) -> Result<Vec<medborgarbudget::process::ProgrammeEvent>, JournalError> {
        let events = self.journal.apply(command)?;
        if self.stop_after.is_some_and(|n| self.journal.written() >= n) {
            // No clean-up, no output flushed beyond what was written: only
            // the store's committed events survive.
            std::process::exit(3);
        }
        Ok(events)
    }

    fn cycle(&mut self, year: i32, command: Command) -> Result<(), JournalError> {
        self.apply(ProgrammeCommand::Cycle { year, command })
            .map(drop)
    }

    /// Steps 2 to 5 of `year`, ending with the count.
    fn outreach_to_vote(&mut self, year: i32) -> Result<(), Box<dyn Error>> {
        // 2. Marknadsföring.
        self.cycle(
            year,
            Command::BeginOutreach {
                at: at(year, 1, 15),
            },
        )?;
        let activities = [
            (
                OutreachChannel::DoorToDoor,
                "Unga ambassadörer knackar dörr",
                vec!["sv", "ar", "so"],
                1_200,
                20,
            ),
            (
                OutreachChannel::School,
                "Klassråd på Norrbyskolan",
                vec!["sv"],
                430,
                27,
            ),
            (
                OutreachChannel::Associations,
                "Träffar i föreningar och moskén",
                vec!["ar", "so", "fa"],
                310,
                3,
            ),
        ];
        for (channel, description, languages, reached, dayn) in activities {
            let reached = reached + self.rng.below(200) as u32;
            let month = if dayn < 10 { 2 } else { 1 };
            self.cycle(
                year,
                Command::RecordOutreach(OutreachActivity {
                    channel,
                    description: description.into(),
                    languages: languages.into_iter().map(String::from).collect(),
                    people_reached: reached,
                    held_on: date(year, month, dayn),
                    groups: Vec::new(),
                }),
            )?;
        }

        // 3. Idégenerering: ideas drawn from the themes by popularity.
        self.cycle(
            year,
            Command::OpenIdeaGeneration {
                at: at(year, 2, 15),
            },
        )?;
        let mut by_theme: BTreeMap<usize, Vec<IdeaId>> = BTreeMap::new();
        let ideas = 110 + self.rng.below(40);
        for n in 0..ideas {
            let author = self.register.pick(&mut self.rng).clone();
            let theme = self.theme_for(&author);
            let id = IdeaId::from_u128(((year as u128) << 32) + u128::from(n));
            let co_authors = if self.rng.chance(20) {
                vec![self.register.pick(&mut self.rng).clone()]
            } else {
                vec![]
            };
            let idea = IdeaSubmission {
                id,
                author,
                co_authors,
                title: THEMES[theme].title.into(),
                description: format!("Förslag om {}", THEMES[theme].title.to_lowercase()).into(),
                submitted_at: at(year, 2, 16 + self.rng.below(12) as u32),
                estimated_cost: None,
            };
            match self.cycle(year, Command::SubmitIdea(idea)) {
                Ok(()) => by_theme.entry(theme).or_default().push(id),
                Err(JournalError::Refused(ProgrammeError::Cycle {
                    source: CycleError::Ineligible { .. },
                    ..
                })) => {
                    self.log(year).ideas_refused += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }

        // 4. Bearbetning och urval: ideas on the same theme merged, themes with
        // few ideas answered with a reason, one project per remaining theme,
        // worked out in workshops with residents.
        self.cycle(
            year,
            Command::BeginShortlisting {
                at: at(year, 3, 10),
            },
        )?;
        let mut pid_n = 0u128;
        for (theme, ids) in &by_theme {
            for id in ids {
                self.cycle(year, Command::ReviewIdea { idea: *id })?;
            }
            let t = &THEMES[*theme];
            if ids.len() < 4 {
                for id in ids {
                    self.cycle(
                        year,
                        Command::RejectIdea {
                            idea: *id,
                            reason:
                                "För få invånare stod bakom idén i år; den sparas till nästa år"
                                    .into(),
                        },
                    )?;
                }
                continue;
            }
            for id in &ids[1..] {
                self.cycle(
                    year,
                    Command::MergeIdea {
                        idea: *id,
                        into: ids[0],
                    },
                )?;
            }
            pid_n += 1;
            let project = ProjectId::from_u128(((year as u128) << 32) + pid_n);
            let workers = (0..2 + self.rng.below(4))
                .map(|_| self.register.pick(&mut self.rng).clone())
                .fold(Vec::<Resident>::new(), |mut v, r| {
                    if !v.iter().any(|o| o.id() == r.id()) {
                        v.push(r);
                    }
                    v
                });
            self.cycle(
                year,
                Command::ProposeProject(ProjectProposal {
                    part: None,
                    id: project,
                    title: t.title.into(),
                    description: format!("{} – utarbetat i workshop med grannar", t.title).into(),
                    ideas: vec![ids[0]],
                    worked_on_by: workers,
                }),
            )?;
            self.log(year).projects.insert(project, t.title);
            self.cycle(
                year,
                Command::EstimateCost {
                    project,
                    cost: sek(t.cost),
                },
            )?;
            if t.feasible {
                self.cycle(
                    year,
                    Command::AssessFeasibility {
                        project,
                        feasibility: Feasibility::Feasible,
                    },
                )?;
                for (criterion, base) in [
                    ("motesplatser", t.old),
                    ("unga", t.young),
                    ("rorelse", t.young.max(t.old) - 1),
                    ("drift", 6),
                ] {
                    let score = Score::new(u8::try_from(base.min(10)).unwrap_or(10))?;
                    self.cycle(
                        year,
                        Command::ScoreProject {
                            project,
                            criterion: criterion.into(),
                            score,
                        },
                    )?;
                }
            } else {
                self.cycle(
                    year,
                    Command::AssessFeasibility {
                        project,
                        feasibility: Feasibility::Infeasible {
                            reason: "Kostar mer än hela budgeten".into(),
                        },
                    },
                )?;
                self.cycle(
                    year,
                    Command::WithdrawProject {
                        project,
                        reason: "Inte genomförbar inom medborgarbudgeten; lämnad till nämnden"
                            .into(),
                    },
                )?;
            }
        }

        // 5. Röstning: digital ballots and paper batches from the library.
        let window = VotingWindow {
            opens: at(year, 4, 20),
            closes: at(year, 5, 11),
        };
        self.cycle(
            year,
            Command::OpenVoting {
                window,
                at: at(year, 4, 19),
            },
        )?;
        let shortlist: Vec<(ProjectId, usize)> = self
            .cycle_ref(year)
            .and_then(|c| match c {
                AnyCycle::Voting(v) => Some(
                    v.projects()
                        .iter()
                        .filter(|p| p.is_on_shortlist())
                        .filter_map(|p| {
                            THEMES
                                .iter()
                                .position(|t| t.title == p.title())
                                .map(|i| (p.id(), i))
                        })
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default();
        let voters = 650 + self.rng.below(300);
        let mut paper = Vec::new();
        for n in 0..voters {
            let voter = self.register.pick(&mut self.rng).clone();
            let choices = self.choices(year, &voter, &shortlist);
            let ballot = BallotSubmission {
                part: None,
                id: BallotId::from_u128(((year as u128) << 32) + u128::from(n)),
                voter,
                cast_at: at(year, 4, 20) + chrono::Duration::hours(self.rng.below(20 * 24) as i64),
                choices,
            };
            if self.rng.chance(15) {
                paper.push(ballot);
                if paper.len() == 40 {
                    self.enter_paper(year, std::mem::take(&mut paper))?;
                }
                continue;
            }
            self.cast(year, Command::CastBallot(ballot))?;
        }
        if !paper.is_empty() {
            self.enter_paper(year, paper)?;
        }
        self.cycle(
            year,
            Command::CloseVoting {
                at: at(year, 5, 12),
            },
        )?;
        Ok(())
    }

    /// A paper batch; ballots the rules refuse are set aside one by one (the
    /// batch is all or nothing) and counted as refused.
    fn enter_paper(
        &mut self,
        year: i32,
        mut ballots: Vec<BallotSubmission>,
    ) -> Result<(), Box<dyn Error>> {
        loop {
            let batch = PaperBatch {
                entered_by: "Valförrättare Leila Haddad".into(),
                entered_at: at(year, 5, 10),
                ballots: ballots.clone(),
            };
            match self.apply(ProgrammeCommand::Cycle {
                year,
                command: Command::EnterPaperBallots(batch),
            }) {
                Ok(_) => return Ok(()),
                Err(JournalError::Refused(ProgrammeError::Cycle {
                    source: CycleError::PaperBallot { index, source },
                    ..
                })) => {
                    self.refused(year, &source);
                    ballots.remove(index);
                    if ballots.is_empty() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn cast(&mut self, year: i32, command: Command) -> Result<(), Box<dyn Error>> {
        match self
            .journal
            .apply(ProgrammeCommand::Cycle { year, command })
        {
            Ok(_) => Ok(()),
            Err(JournalError::Refused(ProgrammeError::Cycle { source, .. }))
                if refusable(&source) =>
            {
                self.refused(year, &source);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn refused(&mut self, year: i32, error: &CycleError) {
        let why = match error {
            CycleError::Ineligible { .. } => "not eligible",
            CycleError::AlreadyVoted { .. } => "second ballot",
            _ => "broke the ballot rules",
        };
        *self.log(year).ballots_refused.entry(why).or_default() += 1;
    }

    fn log(&mut self, year: i32) -> &mut YearLog {
        self.logs.entry(year).or_default()
    }

    fn cycle_ref(&self, year: i32) -> Option<&AnyCycle> {
        self.journal.programme().cycle(year)
    }

    fn theme_for(&mut self, r: &Resident) -> usize {
        let young = Register::is_young(r);
        let weights: Vec<u64> = THEMES
            .iter()
            .map(|t| u64::from(if young { t.young } else { t.old }))
            .collect();
        let mut pick = self.rng.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        0
    }

    /// A voter's choices, by the year's ballot kind and the voter's taste.
    fn choices(
        &mut self,
        year: i32,
        voter: &Resident,
        shortlist: &[(ProjectId, usize)],
    ) -> Choices {
        let young = Register::is_young(voter);
        let mut liked: Vec<(u64, ProjectId, usize)> = shortlist
            .iter()
            .map(|&(p, t)| {
                let taste = u64::from(if young {
                    THEMES[t].young
                } else {
                    THEMES[t].old
                });
                (taste * 10 + self.rng.below(60), p, t)
            })
            .collect();
        liked.sort_by_key(|l| std::cmp::Reverse(l.0));
        match year - FIRST_YEAR {
            0 => Choices::Approval(
                liked
                    .iter()
                    .take(1 + self.rng.below(5) as usize)
                    .map(|l| l.1)
                    .collect(),
            ),
            1 => {
                let mut left = BUDGET_KRONOR;
                let mut chosen = Vec::new();
                for &(_, p, t) in &liked {
                    if THEMES[t].cost <= left {
                        left -= THEMES[t].cost;
                        chosen.push(p);
                    }
                }
                Choices::Approval(chosen)
            }
            _ => {
                let first = 3 + self.rng.below(3) as u32;
                Choices::Points(
                    liked
                        .iter()
                        .zip([first, 8 - first, 2])
                        .map(|(l, points)| (l.1, points))
                        .collect(),
                )
            }
        }
    }

    /// Steps 6 and 7 of `year`: projects built with residents, then followed up.
    fn build_and_follow_up(&mut self, year: i32) -> Result<(), Box<dyn Error>> {
        let funded: Vec<(ProjectId, Money)> = match self.cycle_ref(year) {
            Some(AnyCycle::Implementation(c)) => c
                .decision()
                .funded
                .iter()
                .filter_map(|p| c.project(*p).and_then(|x| x.cost()).map(|cost| (*p, cost)))
                .collect(),
            _ => Vec::new(),
        };
        for (project, cost) in funded {
            self.cycle(
                year,
                Command::RecordMilestone {
                    project,
                    milestone: Milestone {
                        title: "Workshop om utformningen".into(),
                        reached_on: date(year, 6, 3),
                    },
                },
            )?;
            for _ in 0..2 + self.rng.below(5) {
                let resident = self.register.pick(&mut self.rng).clone();
                let _ = self.cycle(year, Command::AddCoCreator { project, resident });
            }
            self.cycle(
                year,
                Command::RecordProgress {
                    project,
                    progress: Progress::new(60)?,
                },
            )?;
            if self.rng.chance(8) {
                self.cycle(
                    year,
                    Command::CancelProject {
                        project,
                        reason: "Marken visade sig vara förorenad".into(),
                        spent: Money::new(cost.minor() / 10, Currency::SEK),
                        at: at(year, 9, 30),
                    },
                )?;
            } else {
                // Final cost within ±8 % of the estimate, to the öre.
                let done = at(year, 10, 1 + self.rng.below(28) as u32);
                let delta = (self.rng.below(1_601) as i64 - 800) * cost.minor() / 10_000;
                self.cycle(
                    year,
                    Command::CompleteProject {
                        project,
                        final_cost: Money::new(cost.minor() + delta, Currency::SEK),
                        at: done,
                    },
                )?;
            }
        }
        self.cycle(
            year,
            Command::BeginFollowUp {
                at: at(year, 11, 20),
            },
        )?;
        let lessons = match year - FIRST_YEAR {
            0 => {
                vec!["Dörrknackning i tre språk gav flest nya röstande; börja tidigare".to_string()]
            }
            1 => vec![
                "Knapsackvalsedeln var svår för äldre; ha röstvärdar i biblioteket".to_string(),
            ],
            _ => vec!["Poängröstning gav unga projekt större genomslag".to_string()],
        };
        // The figures to publish, computed from the cycle; the evaluation pins
        // their digest, so a printed report can be checked against the log.
        let figures = match self.cycle_ref(year) {
            Some(cycle) => Some(CycleMetrics::of(cycle)?.digest()?),
            None => None,
        };
        self.cycle(
            year,
            Command::Close(Evaluation {
                lessons: lessons.into_iter().map(Into::into).collect(),
                summary: format!(
                    "Uppföljning av {year}: valdeltagande, vem som deltog, vad som byggdes"
                )
                .into(),
                recorded_at: at(year, 12, 10),
                figures,
            }),
        )?;
        Ok(())
    }

    fn print_year(&self, year: i32) {
        let (Some(AnyCycle::Closed(c)), Some(log)) = (self.cycle_ref(year), self.logs.get(&year))
        else {
            return;
        };
        let budget = c.budget().unwrap_or(sek(0));
        let carried: Money = c
            .additions()
            .iter()
            .filter(|a| matches!(a.source, FundingSource::CarryOver { .. }))
            .fold(sek(0), |s, a| s.checked_add(a.amount).unwrap_or(s));
        println!(
            "\n=== {year} — {} ({} ballots, counted by {}) ===",
            self.register.area.name(),
            c.rules().kind(),
            c.rules().counting().rule
        );
        println!("budget     {budget} (of which carried over {carried})");
        if !c.lessons().is_empty() {
            println!(
                "lessons in {}",
                c.lessons()
                    .iter()
                    .map(|l| format!("[{}] {}", l.year, l.text))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let reached: u32 = c.outreach().iter().map(|a| a.people_reached).sum();
        println!(
            "outreach   {} activities, {reached} residents reached",
            c.outreach().len()
        );
        let merged = c
            .ideas()
            .iter()
            .filter(|i| matches!(i.status(), IdeaStatus::Merged { .. }))
            .count();
        let rejected = c
            .ideas()
            .iter()
            .filter(|i| matches!(i.status(), IdeaStatus::Rejected { .. }))
            .count();
        let on_ballot = c.projects().iter().filter(|p| p.is_on_shortlist()).count();
        println!(
            "ideas      {} submitted ({} refused: not eligible), {merged} merged, {rejected} answered with a reason, {on_ballot} projects on the ballot",
            c.ideas().len(),
            log.ideas_refused
        );
        let paper = c.ballots().iter().filter(|b| b.is_paper()).count();
        let refused: Vec<String> = log
            .ballots_refused
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let turnout = c.ballots().len() as f64 * 100.0 / f64::from(POPULATION);
        println!(
            "ballots    {} counted ({paper} on paper), turnout {turnout:.1} % of residents; refused: {}",
            c.ballots().len(),
            if refused.is_empty() {
                "none".into()
            } else {
                refused.join(", ")
            }
        );
        println!("funded     (in the order the rule chose them)");
        for (rank, p) in c.decision().funded.iter().enumerate() {
            let Some(project) = c.project(*p) else {
                continue;
            };
            let votes = c
                .decision()
                .scores
                .iter()
                .find(|s| s.project == *p)
                .map_or(0, |s| s.score);
            let outcome = match project.delivery().map(|d| &d.status) {
                Some(medborgarbudget::project::DeliveryStatus::Completed {
                    final_cost, ..
                }) => format!("completed for {final_cost}"),
                Some(medborgarbudget::project::DeliveryStatus::Cancelled { reason, .. }) => {
                    format!("cancelled: {reason}")
                }
                _ => "in progress".into(),
            };
            let co = project.delivery().map_or(0, |d| d.co_creators.len())
                + project.proposal().worked_on_by.len();
            println!(
                "  {:>2}. {:<38} {:>5} {}  {:>16}  {co} residents co-created; {outcome}",
                rank + 1,
                project.title(),
                votes,
                if c.rules().kind() == BallotKind::Cumulative {
                    "points"
                } else {
                    "votes "
                },
                project.cost().map(|m| m.to_string()).unwrap_or_default(),
            );
        }
        let spent = c.spent().unwrap_or(sek(0));
        println!(
            "spent      {spent}; unspent {}",
            budget.checked_sub(spent).unwrap_or(sek(0))
        );
    }
}

fn refusable(e: &CycleError) -> bool {
    matches!(
        e,
        CycleError::Ineligible { .. } | CycleError::AlreadyVoted { .. } | CycleError::Ballot { .. }
    )
}

fn print_report(r: &CredibilityReport) {
    println!("\n=== Credibility report ===");
    println!("committed years  {}", r.committed_years);
    println!(
        "years run        {} (abandoned {})",
        r.years_run, r.years_abandoned
    );
    println!(
        "{:<6} {:>18} {:>18} {:>18} {:>18}",
        "year", "set aside", "carried in", "spent", "unspent"
    );
    for y in &r.years {
        println!(
            "{:<6} {:>18} {:>18} {:>18} {:>18}",
            y.year,
            y.set_aside.to_string(),
            y.carried_in.to_string(),
            y.spent.to_string(),
            y.unspent.to_string()
        );
    }
    println!("council money    {}", r.total_set_aside);
    println!("spent in all     {}", r.total_spent);
    println!(
        "carried over     {} between years; {} left at the end",
        r.total_carried_over, r.left_at_end
    );
    println!(
        "credible         {}",
        if r.credible {
            "yes: three consecutive years run and closed"
        } else {
            "no"
        }
    );
}

/// The store's path: the first argument, `MEDBORGARBUDGET_DB`, or
/// `medborgarbudget.db` in the current directory.
fn store_path() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("MEDBORGARBUDGET_DB"))
        .map_or_else(|| PathBuf::from("medborgarbudget.db"), PathBuf::from)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let path = store_path();
    // The keys live beside the store (`PATH.key`, `PATH.log-key`), created for
    // a store that holds nothing yet. In a municipal system they would live in
    // the system's secret store instead.
    let sqlite = SqliteStore::open(&path)?;
    let keys = KeyFiles::beside(&path);
    let empty = sqlite.streams()?.is_empty();
    let key = keys.voter_key(empty)?;
    let store: Arc<dyn Store> = match keys.log_key(empty)? {
        Some(log_key) => Arc::new(sqlite.with_log_key(log_key)),
        None => Arc::new(sqlite),
    };
    let mut rng = Rng(0x5EED_2027);
    let area = Area::new(AreaId::from_u128(0x4E0), "Norrby, Ekeby kommun", POPULATION)?
        .with_breakdown(
            "age",
            [
                ("0-11", 1_100),
                ("12-17", 1_000),
                ("18-64", 5_900),
                ("65+", 1_400),
            ],
        )?;
    let register = Register::new(area.clone(), &mut rng);
    let setup = ProgrammeSetup {
        id: ProgrammeId::from_u128(0x9B),
        area,
        currency: Currency::SEK,
        first_year: FIRST_YEAR,
        years: 3,
        carry_over: Some(CouncilDecision {
            body: "Kommunfullmäktige i Ekeby".into(),
            reference: "KF § 88/2026: outnyttjade medel förs över till nästa år".into(),
            decided_on: date(2026, 6, 18),
        }),
        established_at: at(2026, 6, 18),
    };
    let stream = StreamId::programme(setup.id);
    let mut journal = Journal::open(store.clone(), key, setup)?;
    if let Some(report) = journal.stored_report()? {
        println!(
            "The programme in {} is complete ({} events); its report:",
            path.display(),
            store.version(&stream)?
        );
        print_report(&report);
        return Ok(());
    }
    let before = journal.ahead() + 1;
    if before > 1 {
        println!(
            "Continuing the programme in {}: {before} events stored by an earlier run.",
            path.display()
        );
    }
    let mut run = Run {
        journal,
        register,
        rng,
        logs: BTreeMap::new(),
        stop_after: match std::env::var("MEDBORGARBUDGET_EXAMPLE_STOP_AFTER") {
            Ok(n) => Some(n.parse().map_err(|_| {
                format!("MEDBORGARBUDGET_EXAMPLE_STOP_AFTER={n:?}: not a number of events")
            })?),
            Err(_) => None,
        },
    };
    let years = [FIRST_YEAR, FIRST_YEAR + 1, FIRST_YEAR + 2];
    for (k, &year) in years.iter().enumerate() {
        run.start_year(year)?;
        if k > 0 {
            // Last year's projects are finished while this year's cycle is in
            // step 1: its lessons and unspent money reach this year in time.
            run.build_and_follow_up(year - 1)?;
            run.print_year(year - 1);
        }
        run.outreach_to_vote(year)?;
    }
    let last = FIRST_YEAR + 2;
    run.build_and_follow_up(last)?;
    run.print_year(last);
    run.apply(ProgrammeCommand::Conclude {
        at: at(last + 1, 1, 20),
    })?;
    let report = run
        .journal
        .programme()
        .report()
        .cloned()
        .ok_or("the programme did not conclude")?;
    print_report(&report);
    let verified = store.verify(&stream)?;
    println!(
        "\nStored in {}: {} events ({} checked again, {} written now); hash chain verified, head {}.",
        path.display(),
        verified.events,
        run.journal.checked(),
        run.journal.written(),
        verified.head
    );
    Ok(())
}

impl Run {
    /// Step 1 only: the cycle starts and the council fixes the framework.
    fn start_year(&mut self, year: i32) -> Result<(), Box<dyn Error>> {
        let k = (year - FIRST_YEAR) as u128;
        self.apply(ProgrammeCommand::StartCycle {
            id: CycleId::from_u128(0xC0 + k),
            year,
            at: at(year - 1, 11, 16),
        })?;
        self.logs.insert(year, YearLog::default());
        let decision = CouncilDecision {
            body: "Kommunfullmäktige i Ekeby".into(),
            reference: format!("KF § {}/{}", 140 + k, year - 1),
            decided_on: date(year - 1, 11, 14),
        };
        self.cycle(
            year,
            Command::SetBudget(Allocation {
                part: None,
                amount: sek(BUDGET_KRONOR),
                decision,
                source: FundingSource::Council,
            }),
        )?;
        self.cycle(
            year,
            Command::SetEligibility(Eligibility::residents_aged(12)),
        )?;
        let rules = match year - FIRST_YEAR {
            0 => BallotRules::builder(BallotKind::Approval)
                .max_projects(5)
                .build()?,
            1 => BallotRules::builder(BallotKind::Knapsack).build()?,
            _ => BallotRules::cumulative(10)
                .max_points_per_project(5)
                .build()?,
        };
        self.cycle(year, Command::SetBallotRules(rules))?;
        let criteria = CriteriaSet::builder()
            .social_sustainability(
                "motesplatser",
                "Skapar mötesplatser och tillit mellan grannar",
                3,
            )
            .social_sustainability("unga", "Ger unga något att göra och vara stolta över", 2)
            .public_health("rorelse", "Får fler att röra sig och vara ute", 2)
            .other("drift", "Rimliga drift- och underhållskostnader", 1)
            .build()?;
        self.cycle(year, Command::SetCriteria { criteria })?;
        Ok(())
    }
}
