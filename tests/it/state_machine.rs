//! The cycle against a reference model, with proptest-state-machine.
//!
//! Random command sequences — legal and illegal, in the right step and the wrong
//! one — run against `AnyCycle` and against a small model that knows, for every
//! command, whether the rules allow it and what it changes. After each command:
//! a refused command returned `Err` and left the cycle exactly as it was; an
//! accepted one changed what the model says. At the end of each sequence: a serde
//! round trip of the cycle gives an equal value, replaying the events it produced
//! gives the same cycle, and so does replaying its canonical history.
//!
//! The number of sequences is `PROPTEST_CASES` (default 10 000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use chrono::{DateTime, Utc};
use medborgarbudget::area::Eligibility;
use medborgarbudget::ballot::{BallotSubmission, Choices, PaperBatch};
use medborgarbudget::criteria::Score;
use medborgarbudget::ids::BallotId;
use medborgarbudget::money::Money;
use medborgarbudget::process::{
    AnyCycle, Command, Cycle, Event, OutreachActivity, Snapshot, Step, VotingWindow,
};
use medborgarbudget::project::{Feasibility, Progress, ProjectProposal};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

static SEQUENCES: AtomicUsize = AtomicUsize::new(0);
static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
/// How many sequences ended in each step (`Step::ALL` order).
static ENDED_IN: [AtomicUsize; 9] = [const { AtomicUsize::new(0) }; 9];

// Fixed times: step k of the model begins on day 10·k, so every timestamp the
// harness sends is legal and the model can ignore time (time rules have their
// own tests).
const T_OUTREACH: i64 = 10;
const T_IDEAS: i64 = 20;
const T_SUBMIT: i64 = 21;
const T_SHORTLIST: i64 = 30;
const T_VOTING: i64 = 40;
const T_OPENS: i64 = 41;
const T_CAST: i64 = 42;
const T_CLOSES: i64 = 55;
const T_CLOSE: i64 = 60;
const T_DONE: i64 = 65;
const T_FOLLOW_UP: i64 = 70;
const T_EVALUATED: i64 = 80;
const T_ABANDON: i64 = 90;

/// A command as the generator sees it: small numbers the harness turns into
/// real commands.
#[derive(Clone, Debug)]
enum T {
    SetBudget(i64),
    AddFunds(i64),
    SetEligibility,
    SetRules,
    SetCriteria,
    BeginOutreach,
    RecordOutreach {
        valid: bool,
    },
    OpenIdeas,
    SubmitIdea {
        id: u8,
        eligible: bool,
    },
    RejectIdea(u8),
    BeginShortlisting,
    ReviewIdea(u8),
    MergeIdea(u8, u8),
    Propose {
        pid: u8,
        ideas: Vec<u8>,
    },
    Estimate(u8, i64),
    Assess(u8, bool),
    Score(u8, u8),
    CoCreate(u8, u8),
    Withdraw(u8),
    OpenVoting,
    Cast {
        voter: u8,
        choices: Vec<u8>,
        paper: bool,
    },
    CloseVoting,
    Progress(u8, u8),
    Complete(u8),
    Cancel(u8),
    BeginFollowUp,
    Close {
        lessons: bool,
    },
    Abandon,
}

#[derive(Clone, Debug, PartialEq)]
enum MStatus {
    Submitted,
    UnderReview,
    Merged(u8),
    Rejected(Step),
    Shortlisted(u8),
}

#[derive(Clone, Debug, Default, PartialEq)]
struct MProject {
    cost: Option<i64>,
    feasible: Option<bool>,
    scored: BTreeSet<u8>,
    withdrawn: bool,
    workers: BTreeSet<u8>,
    funded: bool,
    co_creators: BTreeSet<u8>,
    /// `Some(true)` completed, `Some(false)` cancelled.
    finished: Option<bool>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    step: Option<Step>,
    base: Option<i64>,
    additions: i64,
    eligibility: bool,
    rules: bool,
    criteria: bool,
    outreach: usize,
    ideas: BTreeMap<u8, MStatus>,
    projects: BTreeMap<u8, MProject>,
    /// Voter → approved projects.
    ballots: BTreeMap<u8, Vec<u8>>,
}

/// The child who may not vote or submit ideas.
const CHILD: u8 = 6;
/// The criterion index the cycle does not know.
const UNKNOWN_CRITERION: u8 = 2;
const PROPOSER: u8 = 0;

impl Model {
    fn step(&self) -> Step {
        self.step.unwrap_or(Step::Criteria)
    }

    fn budget(&self) -> i64 {
        self.base.unwrap_or(0) + self.additions
    }

    fn on_shortlist(&self) -> impl Iterator<Item = (&u8, &MProject)> {
        self.projects.iter().filter(|(_, p)| !p.withdrawn)
    }

    /// Greedy by votes, ties by project id (ids are numbered in order, so id
    /// order is number order).
    fn greedy(&self) -> Vec<u8> {
        let mut candidates: Vec<(u8, usize, i64)> = self
            .on_shortlist()
            .map(|(&pid, p)| {
                let support = self.ballots.values().filter(|c| c.contains(&pid)).count();
                (pid, support, p.cost.unwrap_or(0))
            })
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut left = self.budget();
        let mut funded = Vec::new();
        for (pid, _, cost) in candidates {
            if cost <= left {
                left -= cost;
                funded.push(pid);
            }
        }
        funded
    }

    /// Applies `t` if the rules allow it; returns whether they do.
    fn apply(&mut self, t: &T) -> bool {
        use Step::*;
        let step = self.step();
        match (step, t) {
            (Criteria, T::SetBudget(a)) if *a > 0 => self.base = Some(*a),
            (Criteria | Outreach | IdeaGeneration | Shortlisting, T::AddFunds(a)) if *a > 0 => {
                self.additions += a;
            }
            (Criteria, T::SetEligibility) => self.eligibility = true,
            (Criteria, T::SetRules) => self.rules = true,
            (Criteria, T::SetCriteria) => self.criteria = true,
            (Criteria, T::BeginOutreach)
                if self.base.is_some() && self.eligibility && self.rules && self.criteria =>
            {
                self.step = Some(Outreach);
            }
            (Outreach, T::RecordOutreach { valid: true }) => self.outreach += 1,
            (Outreach, T::OpenIdeas) if self.outreach > 0 => self.step = Some(IdeaGeneration),
            (IdeaGeneration, T::SubmitIdea { id, eligible: true })
                if !self.ideas.contains_key(id) =>
            {
                self.ideas.insert(*id, MStatus::Submitted);
            }
            (IdeaGeneration, T::RejectIdea(id))
                if self.ideas.get(id) == Some(&MStatus::Submitted) =>
            {
                self.ideas.insert(*id, MStatus::Rejected(IdeaGeneration));
            }
            (IdeaGeneration, T::BeginShortlisting)
                if self
                    .ideas
                    .values()
                    .any(|s| !matches!(s, MStatus::Rejected(_))) =>
            {
                self.step = Some(Shortlisting);
            }
            (Shortlisting, T::ReviewIdea(id))
                if self.ideas.get(id) == Some(&MStatus::Submitted) =>
            {
                self.ideas.insert(*id, MStatus::UnderReview);
            }
            (Shortlisting, T::RejectIdea(id))
                if self.ideas.get(id) == Some(&MStatus::UnderReview) =>
            {
                self.ideas.insert(*id, MStatus::Rejected(Shortlisting));
            }
            (Shortlisting, T::MergeIdea(id, into))
                if id != into
                    && self.ideas.get(id) == Some(&MStatus::UnderReview)
                    && self.ideas.get(into) == Some(&MStatus::UnderReview) =>
            {
                self.ideas.insert(*id, MStatus::Merged(*into));
            }
            (Shortlisting, T::Propose { pid, ideas })
                if !self.projects.contains_key(pid)
                    && !ideas.is_empty()
                    && ideas
                        .iter()
                        .all(|i| self.ideas.get(i) == Some(&MStatus::UnderReview)) =>
            {
                for i in ideas {
                    self.ideas.insert(*i, MStatus::Shortlisted(*pid));
                }
                self.projects.insert(
                    *pid,
                    MProject {
                        workers: BTreeSet::from([PROPOSER]),
                        ..MProject::default()
                    },
                );
            }
            (Shortlisting, T::Estimate(pid, cost))
                if *cost > 0 && self.projects.get(pid).is_some_and(|p| !p.withdrawn) =>
            {
                self.project(*pid).cost = Some(*cost);
            }
            (Shortlisting, T::Assess(pid, feasible))
                if self.projects.get(pid).is_some_and(|p| !p.withdrawn) =>
            {
                self.project(*pid).feasible = Some(*feasible);
            }
            (Shortlisting, T::Score(pid, c))
                if *c != UNKNOWN_CRITERION
                    && self.projects.get(pid).is_some_and(|p| !p.withdrawn) =>
            {
                self.project(*pid).scored.insert(*c);
            }
            (Shortlisting, T::CoCreate(pid, r))
                if self
                    .projects
                    .get(pid)
                    .is_some_and(|p| !p.withdrawn && !p.workers.contains(r)) =>
            {
                self.project(*pid).workers.insert(*r);
            }
            (Shortlisting, T::Withdraw(pid))
                if self.projects.get(pid).is_some_and(|p| !p.withdrawn) =>
            {
                self.project(*pid).withdrawn = true;
            }
            (Shortlisting, T::OpenVoting) if self.shortlist_ready() => self.step = Some(Voting),
            (Voting, T::Cast { voter, choices, .. }) if self.ballot_ok(*voter, choices) => {
                self.ballots.insert(*voter, choices.clone());
            }
            (Voting, T::CloseVoting) => {
                for pid in self.greedy() {
                    self.project(pid).funded = true;
                }
                self.step = Some(Implementation);
            }
            (Implementation, T::CoCreate(pid, r))
                if self.open_delivery(*pid) && !self.projects[pid].co_creators.contains(r) =>
            {
                self.project(*pid).co_creators.insert(*r);
            }
            (Implementation, T::Progress(pid, pct)) if *pct <= 100 && self.open_delivery(*pid) => {}
            (Implementation, T::Complete(pid))
                if self.open_delivery(*pid) && !self.projects[pid].co_creators.is_empty() =>
            {
                self.project(*pid).finished = Some(true);
            }
            (Implementation, T::Cancel(pid)) if self.open_delivery(*pid) => {
                self.project(*pid).finished = Some(false);
            }
            (Implementation, T::BeginFollowUp)
                if self
                    .projects
                    .values()
                    .all(|p| !p.funded || p.finished.is_some()) =>
            {
                self.step = Some(FollowUp);
            }
            (FollowUp, T::Close { lessons: true }) => self.step = Some(Closed),
            (s, T::Abandon) if !s.is_terminal() => self.step = Some(Abandoned),
            _ => return false,
        }
        true
    }

    fn project(&mut self, pid: u8) -> &mut MProject {
        self.projects.entry(pid).or_default()
    }

    fn open_delivery(&self, pid: u8) -> bool {
        self.projects
            .get(&pid)
            .is_some_and(|p| p.funded && p.finished.is_none())
    }

    fn shortlist_ready(&self) -> bool {
        let decided = self
            .ideas
            .values()
            .all(|s| !matches!(s, MStatus::Submitted | MStatus::UnderReview));
        let budget = self.budget();
        decided
            && self.on_shortlist().count() >= 2
            && self.on_shortlist().all(|(_, p)| {
                p.cost.is_some_and(|c| c <= budget)
                    && p.feasible == Some(true)
                    && p.scored.len() == 2
            })
    }

    fn ballot_ok(&self, voter: u8, choices: &[u8]) -> bool {
        voter != CHILD
            && !self.ballots.contains_key(&voter)
            && (1..=3).contains(&choices.len())
            && choices
                .iter()
                .all(|c| self.projects.get(c).is_some_and(|p| !p.withdrawn))
    }
}

struct CycleModel;

fn kronor() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(300_000),
        Just(600_000),
        Just(1_000_000),
        Just(1_300_000)
    ]
}

fn transitions_for(step: Step) -> BoxedStrategy<T> {
    let idea = 0u8..5;
    let pid = 0u8..4;
    match step {
        Step::Criteria => prop_oneof![
            1 => kronor().prop_map(T::SetBudget),
            1 => kronor().prop_map(T::AddFunds),
            1 => Just(T::SetEligibility),
            1 => Just(T::SetRules),
            1 => Just(T::SetCriteria),
            3 => Just(T::BeginOutreach),
        ]
        .boxed(),
        Step::Outreach => prop_oneof![
            1 => any::<bool>().prop_map(|valid| T::RecordOutreach { valid }),
            1 => kronor().prop_map(T::AddFunds),
            2 => Just(T::OpenIdeas),
        ]
        .boxed(),
        Step::IdeaGeneration => prop_oneof![
            4 => (idea.clone(), prop::bool::weighted(0.85)).prop_map(|(id, eligible)| T::SubmitIdea { id, eligible }),
            1 => idea.clone().prop_map(T::RejectIdea),
            2 => Just(T::BeginShortlisting),
        ]
        .boxed(),
        Step::Shortlisting => prop_oneof![
            4 => idea.clone().prop_map(T::ReviewIdea),
            1 => idea.clone().prop_map(T::RejectIdea),
            1 => (idea.clone(), idea.clone()).prop_map(|(a, b)| T::MergeIdea(a, b)),
            3 => (pid.clone(), prop::collection::btree_set(0u8..5, 0..3))
                .prop_map(|(pid, ideas)| T::Propose { pid, ideas: ideas.into_iter().collect() }),
            3 => (pid.clone(), kronor()).prop_map(|(p, c)| T::Estimate(p, c)),
            3 => (pid.clone(), prop::bool::weighted(0.9)).prop_map(|(p, f)| T::Assess(p, f)),
            4 => (pid.clone(), 0u8..3).prop_map(|(p, c)| T::Score(p, c)),
            1 => (pid.clone(), 0u8..3).prop_map(|(p, r)| T::CoCreate(p, r)),
            1 => pid.clone().prop_map(T::Withdraw),
            1 => kronor().prop_map(T::AddFunds),
            3 => Just(T::OpenVoting),
        ]
        .boxed(),
        Step::Voting => prop_oneof![
            6 => (0u8..7, prop::collection::btree_set(0u8..4, 0..5), prop::bool::weighted(0.2))
                .prop_map(|(voter, choices, paper)| T::Cast { voter, choices: choices.into_iter().collect(), paper }),
            1 => Just(T::CloseVoting),
        ]
        .boxed(),
        Step::Implementation => prop_oneof![
            3 => (pid.clone(), 0u8..3).prop_map(|(p, r)| T::CoCreate(p, r)),
            1 => (pid.clone(), 0u8..=100).prop_map(|(p, v)| T::Progress(p, v)),
            2 => pid.clone().prop_map(T::Complete),
            1 => pid.clone().prop_map(T::Cancel),
            2 => Just(T::BeginFollowUp),
        ]
        .boxed(),
        Step::FollowUp => any::<bool>().prop_map(|lessons| T::Close { lessons }).boxed(),
        Step::Closed | Step::Abandoned => any_transition(),
    }
}

/// Any command at all, whatever the step: mostly refused.
fn any_transition() -> BoxedStrategy<T> {
    let running: Vec<Step> = Step::ALL.into_iter().filter(|s| !s.is_terminal()).collect();
    prop::sample::select(running)
        .prop_flat_map(transitions_for)
        .boxed()
}

/// Commands that move the model's cycle forward from where it is, so that many
/// sequences reach the later steps.
fn useful(m: &Model) -> Vec<T> {
    let mut out = Vec::new();
    match m.step() {
        Step::Criteria => {
            if m.base.is_none() {
                out.push(T::SetBudget(1_000_000));
            }
            if !m.eligibility {
                out.push(T::SetEligibility);
            }
            if !m.rules {
                out.push(T::SetRules);
            }
            if !m.criteria {
                out.push(T::SetCriteria);
            }
            out.push(T::BeginOutreach);
        }
        Step::Outreach => {
            out.push(T::RecordOutreach { valid: true });
            out.push(T::OpenIdeas);
        }
        Step::IdeaGeneration => {
            out.extend(
                (0..5)
                    .filter(|i| !m.ideas.contains_key(i))
                    .map(|id| T::SubmitIdea { id, eligible: true }),
            );
            out.push(T::BeginShortlisting);
        }
        Step::Shortlisting => {
            for (&i, s) in &m.ideas {
                match s {
                    MStatus::Submitted => out.push(T::ReviewIdea(i)),
                    MStatus::UnderReview => match (0..4).find(|p| !m.projects.contains_key(p)) {
                        Some(pid) => out.push(T::Propose {
                            pid,
                            ideas: vec![i],
                        }),
                        None => out.push(T::RejectIdea(i)),
                    },
                    _ => {}
                }
            }
            for (&pid, p) in m.on_shortlist() {
                if p.cost.is_none_or(|c| c > m.budget()) {
                    out.push(T::Estimate(pid, 300_000));
                }
                if p.feasible != Some(true) {
                    out.push(T::Assess(pid, true));
                }
                out.extend(
                    (0..2)
                        .filter(|c| !p.scored.contains(c))
                        .map(|c| T::Score(pid, c)),
                );
            }
            out.push(T::OpenVoting);
        }
        Step::Voting => {
            for voter in (0..6).filter(|v| !m.ballots.contains_key(v)) {
                let shortlist: Vec<u8> = m.on_shortlist().map(|(p, _)| *p).collect();
                let choices: Vec<u8> = shortlist
                    .iter()
                    .copied()
                    .filter(|p| (p + voter) % 2 == 0)
                    .take(3)
                    .collect();
                out.push(T::Cast {
                    voter,
                    choices,
                    paper: voter == 5,
                });
            }
            out.push(T::CloseVoting);
        }
        Step::Implementation => {
            for (&pid, p) in m
                .projects
                .iter()
                .filter(|(_, p)| p.funded && p.finished.is_none())
            {
                if p.co_creators.is_empty() {
                    out.push(T::CoCreate(pid, 0));
                } else {
                    out.push(T::Complete(pid));
                }
            }
            out.push(T::BeginFollowUp);
        }
        Step::FollowUp => out.push(T::Close { lessons: true }),
        Step::Closed | Step::Abandoned => {}
    }
    out
}

impl ReferenceStateMachine for CycleModel {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        let useful = useful(state);
        if useful.is_empty() {
            return prop_oneof![20 => any_transition(), 1 => Just(T::Abandon)].boxed();
        }
        prop_oneof![
            120 => prop::sample::select(useful),
            60 => transitions_for(state.step()),
            20 => any_transition(),
            1 => Just(T::Abandon),
        ]
        .boxed()
    }

    fn apply(mut state: Model, t: &T) -> Model {
        state.apply(t);
        state
    }
}

struct Sut {
    /// The model as it was before each command (the runner hands `apply` the
    /// model *after* the command).
    model: Model,
    cycle: AnyCycle,
    events: Vec<Event>,
    next_ballot: u128,
}

fn at(n: i64) -> DateTime<Utc> {
    day(n)
}

fn command(t: &T, next_ballot: u128) -> Command {
    let pid = |p: u8| project_id(1000 + u128::from(p));
    let iid = |i: u8| idea_id(1000 + u128::from(i));
    let worker = |r: u8| resident(600 + u128::from(r));
    match t {
        T::SetBudget(a) => Command::SetBudget(allocation(*a)),
        T::AddFunds(a) => Command::AddFunds(allocation(*a)),
        T::SetEligibility => Command::SetEligibility(Eligibility::residents_aged(12)),
        T::SetRules => Command::SetBallotRules(approval_rules()),
        T::SetCriteria => Command::SetCriteria {
            criteria: criteria(),
        },
        T::BeginOutreach => Command::BeginOutreach { at: at(T_OUTREACH) },
        T::RecordOutreach { valid } => Command::RecordOutreach(OutreachActivity {
            languages: if *valid { vec!["sv".into()] } else { vec![] },
            held_on: at(T_OUTREACH + 1).date_naive(),
            ..activity()
        }),
        T::OpenIdeas => Command::OpenIdeaGeneration { at: at(T_IDEAS) },
        T::SubmitIdea { id, eligible } => {
            let author = if *eligible {
                resident(1 + u128::from(*id))
            } else {
                child(99)
            };
            Command::SubmitIdea(medborgarbudget::idea::IdeaSubmission {
                submitted_at: at(T_SUBMIT),
                ..idea(1000 + u128::from(*id), author)
            })
        }
        T::RejectIdea(i) => Command::RejectIdea {
            idea: iid(*i),
            reason: "Not within the municipality's remit".into(),
        },
        T::BeginShortlisting => Command::BeginShortlisting {
            at: at(T_SHORTLIST),
        },
        T::ReviewIdea(i) => Command::ReviewIdea { idea: iid(*i) },
        T::MergeIdea(i, into) => Command::MergeIdea {
            idea: iid(*i),
            into: iid(*into),
        },
        T::Propose { pid: p, ideas } => Command::ProposeProject(ProjectProposal {
            part: None,
            id: pid(*p),
            title: format!("Project {p}").into(),
            description: "Worked out in a workshop".into(),
            ideas: ideas.iter().map(|i| iid(*i)).collect(),
            worked_on_by: vec![worker(PROPOSER)],
        }),
        T::Estimate(p, c) => Command::EstimateCost {
            project: pid(*p),
            cost: Money::from_major(*c, medborgarbudget::money::Currency::SEK).unwrap(),
        },
        T::Assess(p, f) => Command::AssessFeasibility {
            project: pid(*p),
            feasibility: if *f {
                Feasibility::Feasible
            } else {
                Feasibility::Infeasible {
                    reason: "The land is not the municipality's".into(),
                }
            },
        },
        T::Score(p, c) => Command::ScoreProject {
            project: pid(*p),
            criterion: ["meeting-places", "movement", "beauty"][usize::from(*c)].into(),
            score: Score::new(6).unwrap(),
        },
        T::CoCreate(p, r) => Command::AddCoCreator {
            project: pid(*p),
            resident: worker(*r),
        },
        T::Withdraw(p) => Command::WithdrawProject {
            project: pid(*p),
            reason: "Merged with the park renovation".into(),
        },
        T::OpenVoting => Command::OpenVoting {
            window: VotingWindow {
                opens: at(T_OPENS),
                closes: at(T_CLOSES),
            },
            at: at(T_VOTING),
        },
        T::Cast {
            voter,
            choices,
            paper,
        } => {
            let voter_record = if *voter == CHILD {
                child(98)
            } else {
                resident(100 + u128::from(*voter))
            };
            let submission = BallotSubmission {
                part: None,
                id: BallotId::from_u128(next_ballot),
                voter: voter_record,
                cast_at: at(T_CAST),
                choices: Choices::Approval(choices.iter().map(|p| pid(*p)).collect()),
            };
            if *paper {
                Command::EnterPaperBallots(PaperBatch {
                    entered_by: "Valförrättare Ana".into(),
                    entered_at: at(T_CAST + 1),
                    ballots: vec![submission],
                })
            } else {
                Command::CastBallot(submission)
            }
        }
        T::CloseVoting => Command::CloseVoting { at: at(T_CLOSE) },
        T::Progress(p, v) => Command::RecordProgress {
            project: pid(*p),
            progress: Progress::new(*v).unwrap(),
        },
        T::Complete(p) => Command::CompleteProject {
            project: pid(*p),
            final_cost: Money::from_major(250_000, medborgarbudget::money::Currency::SEK).unwrap(),
            at: at(T_DONE),
        },
        T::Cancel(p) => Command::CancelProject {
            project: pid(*p),
            reason: "Contractor went bankrupt".into(),
            spent: Money::from_major(10_000, medborgarbudget::money::Currency::SEK).unwrap(),
            at: at(T_DONE),
        },
        T::BeginFollowUp => Command::BeginFollowUp {
            at: at(T_FOLLOW_UP),
        },
        T::Close { lessons } => Command::Close(medborgarbudget::process::Evaluation {
            lessons: if *lessons {
                vec!["Start outreach in schools".into()]
            } else {
                vec![]
            },
            summary: "A year of learning".into(),
            recorded_at: at(T_EVALUATED),
            figures: None,
        }),
        T::Abandon => Command::Abandon {
            reason: "The council withdrew the money".into(),
            at: at(T_ABANDON),
        },
    }
}

struct CycleTest;

impl StateMachineTest for CycleTest {
    type SystemUnderTest = Sut;
    type Reference = CycleModel;

    fn init_test(_: &Model) -> Sut {
        SEQUENCES.fetch_add(1, Ordering::Relaxed);
        let setup = medborgarbudget::process::CycleSetup {
            started_at: at(0),
            rules_version: medborgarbudget::process::RulesVersion::CURRENT,
            ..crate::common::setup()
        };
        Sut {
            model: Model::default(),
            cycle: AnyCycle::from(Cycle::new(setup.clone())),
            events: vec![Event::CycleStarted(setup)],
            next_ballot: 1,
        }
    }

    fn apply(mut sut: Sut, after: &Model, t: T) -> Sut {
        let allowed = sut.model.apply(&t);
        assert_eq!(sut.model.step(), after.step());
        let command = command(&t, sut.next_ballot);
        sut.next_ballot += 1;
        let before = sut.cycle.clone();
        match sut.cycle.apply(command.clone()) {
            Ok(events) => {
                assert!(
                    allowed,
                    "accepted {command:?} that the model refuses in {:?}",
                    before.step()
                );
                assert_eq!(events.len(), 1);
                sut.events.extend(events);
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(!allowed, "refused {command:?} that the model allows: {e}");
                assert_eq!(
                    sut.cycle, before,
                    "a refused command changed the cycle: {e}"
                );
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let c = &sut.cycle;
        assert_eq!(c.step(), model.step());
        let pid = |p: u8| project_id(1000 + u128::from(p));
        let iid = |i: u8| idea_id(1000 + u128::from(i));
        // Budget.
        let budget_known = model.base.is_some() || model.additions > 0;
        if budget_known {
            assert_eq!(c.budget().unwrap(), sek(model.budget()));
        }
        let any: &AnyCycle = c;
        let ideas = match any {
            AnyCycle::Criteria(x) => x.ideas().to_vec(),
            AnyCycle::Outreach(x) => x.ideas().to_vec(),
            AnyCycle::IdeaGeneration(x) => x.ideas().to_vec(),
            AnyCycle::Shortlisting(x) => x.ideas().to_vec(),
            AnyCycle::Voting(x) => x.ideas().to_vec(),
            AnyCycle::Implementation(x) => x.ideas().to_vec(),
            AnyCycle::FollowUp(x) => x.ideas().to_vec(),
            AnyCycle::Closed(x) => x.ideas().to_vec(),
            AnyCycle::Abandoned(x) => x.ideas().to_vec(),
        };
        assert_eq!(ideas.len(), model.ideas.len());
        for (i, status) in &model.ideas {
            let idea = ideas
                .iter()
                .find(|x| x.id() == iid(*i))
                .expect("idea exists");
            use medborgarbudget::idea::IdeaStatus as S;
            let ok = match (status, idea.status()) {
                (MStatus::Submitted, S::Submitted) | (MStatus::UnderReview, S::UnderReview) => true,
                (MStatus::Merged(m), S::Merged { into }) => *into == iid(*m),
                (MStatus::Rejected(s), S::Rejected { step, .. }) => s == step,
                (MStatus::Shortlisted(p), S::Shortlisted { project }) => *project == pid(*p),
                _ => false,
            };
            assert!(ok, "idea {i}: model {status:?}, cycle {:?}", idea.status());
        }
        let (projects, ballots) = match any {
            AnyCycle::Criteria(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Outreach(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::IdeaGeneration(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Shortlisting(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Voting(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Implementation(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::FollowUp(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Closed(x) => (x.projects().to_vec(), x.ballots().len()),
            AnyCycle::Abandoned(x) => (x.projects().to_vec(), x.ballots().len()),
        };
        assert_eq!(ballots, model.ballots.len());
        assert_eq!(projects.len(), model.projects.len());
        for (p, m) in &model.projects {
            let project = projects
                .iter()
                .find(|x| x.id() == pid(*p))
                .expect("project exists");
            assert_eq!(project.cost().map(|c| c.minor() / 100), m.cost);
            assert_eq!(project.is_on_shortlist(), !m.withdrawn);
            assert_eq!(project.scores().len(), m.scored.len());
            assert_eq!(project.proposal().worked_on_by.len(), m.workers.len());
            assert_eq!(project.delivery().is_some(), m.funded, "project {p} funded");
            if let Some(d) = project.delivery() {
                assert_eq!(d.co_creators.len(), m.co_creators.len());
                let finished = match d.status {
                    medborgarbudget::project::DeliveryStatus::InProgress => None,
                    medborgarbudget::project::DeliveryStatus::Completed { .. } => Some(true),
                    medborgarbudget::project::DeliveryStatus::Cancelled { .. } => Some(false),
                };
                assert_eq!(finished, m.finished);
            }
        }
        if let Some(decision) = c.decision() {
            let mut funded: Vec<_> = decision.funded.clone();
            funded.sort();
            let mut expected: Vec<_> = model
                .projects
                .iter()
                .filter(|(_, m)| m.funded)
                .map(|(p, _)| pid(*p))
                .collect();
            expected.sort();
            assert_eq!(funded, expected);
        }
    }

    fn teardown(sut: Sut, _: Model) {
        if let Some(i) = Step::ALL.iter().position(|s| *s == sut.cycle.step()) {
            ENDED_IN[i].fetch_add(1, Ordering::Relaxed);
        }
        let replayed = AnyCycle::replay(sut.events.clone())
            .unwrap_or_else(|e| panic!("events do not replay: {e}"));
        assert_eq!(replayed, sut.cycle, "replay of the produced events");
        let snapshot = Snapshot::new(sut.events.clone()).unwrap();
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: Snapshot<Event> =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("snapshot does not load: {e}"));
        assert_eq!(back.events(), sut.events, "events round trip through JSON");
        let loaded = AnyCycle::from_snapshot(back)
            .unwrap_or_else(|e| panic!("snapshot does not replay: {e}"));
        assert_eq!(loaded, sut.cycle, "the snapshot loads to the same cycle");
    }
}

#[test]
fn cycle_matches_reference_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &CycleModel::sequential_strategy(1..300),
        |(initial, transitions, seen)| {
            CycleTest::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let steps_reached = SEQUENCES.load(Ordering::Relaxed);
    println!(
        "state machine: {cases} sequences passed ({steps_reached} runs incl. shrinking), {} commands accepted, {} refused",
        ACCEPTED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed)
    );
    let ended: Vec<String> = Step::ALL
        .iter()
        .zip(&ENDED_IN)
        .map(|(s, n)| format!("{s}: {}", n.load(Ordering::Relaxed)))
        .collect();
    println!("sequences ended in: {}", ended.join(", "));
}
