//! Commands (what someone asks the cycle to do) and events (what the cycle
//! accepted). Events are the source of truth: replaying them through the typed
//! methods rebuilds the cycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{
    Adjustment, Allocation, CycleSetup, Evaluation, ExclusionGroup, FundingDecision, Lesson,
    OutreachActivity, Participation, VoterRegister, VotingWindow,
};
use crate::area::{Eligibility, Resident};
use crate::ballot::{Ballot, BallotRules, BallotSubmission, PaperBatch};
use crate::criteria::{CriteriaSet, Score};
use crate::idea::IdeaSubmission;
use crate::ids::{IdeaId, ProjectId};
use crate::money::Money;
use crate::part::BudgetPart;
use crate::project::{Feasibility, HandOver, Milestone, Progress, ProjectProposal};

/// A request to a cycle. [`AnyCycle::apply`](super::AnyCycle::apply) checks it
/// against the rules of the current step and returns the events it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Step 1: set the council's base allocation.
    SetBudget(Allocation),
    /// Steps 1–4: add money (top-up or carry-over).
    AddFunds(Allocation),
    /// Step 1: fix who may take part.
    SetEligibility(Eligibility),
    /// Step 1: fix the ballot and counting rules.
    SetBallotRules(BallotRules),
    /// Step 1: fix the criteria.
    SetCriteria {
        /// The criteria.
        criteria: CriteriaSet,
    },
    /// Step 1: split the budget into parts (an empty list: one budget).
    SetParts {
        /// The parts.
        parts: Vec<BudgetPart>,
    },
    /// Step 1: receive lessons from earlier years.
    ReceiveLessons {
        /// The lessons.
        lessons: Vec<Lesson>,
    },
    /// Step 1 → 2.
    BeginOutreach {
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 2: record an outreach activity.
    RecordOutreach(OutreachActivity),
    /// Step 2 → 3.
    OpenIdeaGeneration {
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 3: submit an idea.
    SubmitIdea(IdeaSubmission),
    /// Step 4: take an idea up for review.
    ReviewIdea {
        /// The idea.
        idea: IdeaId,
    },
    /// Step 4: merge an idea into another.
    MergeIdea {
        /// The idea merged.
        idea: IdeaId,
        /// The idea it joins.
        into: IdeaId,
    },
    /// Step 3 (inadmissible) or 4 (after review): reject an idea.
    RejectIdea {
        /// The idea.
        idea: IdeaId,
        /// Why.
        reason: String,
    },
    /// Step 3 → 4.
    BeginShortlisting {
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 4: put a project on the shortlist.
    ProposeProject(ProjectProposal),
    /// Step 4: estimate a project's cost.
    EstimateCost {
        /// The project.
        project: ProjectId,
        /// The estimate.
        cost: Money,
    },
    /// Step 4: assess feasibility.
    AssessFeasibility {
        /// The project.
        project: ProjectId,
        /// The verdict.
        feasibility: Feasibility,
    },
    /// Step 4: score a project on a criterion.
    ScoreProject {
        /// The project.
        project: ProjectId,
        /// The criterion's name.
        criterion: String,
        /// The score.
        score: Score,
    },
    /// Step 4 (worked on the proposal) or 6 (co-creates the build): record a
    /// resident on a project.
    AddCoCreator {
        /// The project.
        project: ProjectId,
        /// The resident.
        resident: Resident,
    },
    /// Step 4: take a project off the shortlist.
    WithdrawProject {
        /// The project.
        project: ProjectId,
        /// Why.
        reason: String,
    },
    /// Step 4: declare projects of which at most one is funded.
    DeclareExclusion(ExclusionGroup),
    /// Step 4 → 5.
    OpenVoting {
        /// The voting window.
        window: VotingWindow,
        /// When voting is opened.
        at: DateTime<Utc>,
    },
    /// Step 5: cast a digital ballot.
    CastBallot(BallotSubmission),
    /// Step 5: enter a batch of paper ballots.
    EnterPaperBallots(PaperBatch),
    /// Step 5 → 6: close and count.
    CloseVoting {
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 6 or 7, once: count who took part by group from a register of
    /// residents (ballots keep no record of their voters). Only the counts are
    /// recorded, as [`Event::ParticipationCounted`].
    CountParticipation(VoterRegister),
    /// Step 6: record a council's adjustment of the counted outcome.
    AdjustOutcome(Adjustment),
    /// Step 6: hand a project still being built over to the programme.
    HandOver {
        /// The project.
        project: ProjectId,
        /// When it is planned to be done, and why it takes longer.
        hand_over: HandOver,
    },
    /// Step 6: record a milestone.
    RecordMilestone {
        /// The project.
        project: ProjectId,
        /// The milestone.
        milestone: Milestone,
    },
    /// Step 6: record progress.
    RecordProgress {
        /// The project.
        project: ProjectId,
        /// The progress.
        progress: Progress,
    },
    /// Step 6: complete a project.
    CompleteProject {
        /// The project.
        project: ProjectId,
        /// What it cost.
        final_cost: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 6: cancel a project.
    CancelProject {
        /// The project.
        project: ProjectId,
        /// Why.
        reason: String,
        /// Money spent before cancelling.
        spent: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 6 → 7.
    BeginFollowUp {
        /// When.
        at: DateTime<Utc>,
    },
    /// Step 7 → closed.
    Close(Evaluation),
    /// Any running step → abandoned.
    Abandon {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

impl Command {
    /// The command with every voter's id replaced by `pseudonym(id)`: ballots,
    /// and the register participation is counted from, so that it matches the
    /// ballots (idea authors and co-creators are named in the open).
    pub fn pseudonymize(
        self,
        pseudonym: impl Fn(crate::ids::ResidentId) -> crate::ids::ResidentId,
    ) -> Command {
        let hide = |b: BallotSubmission| BallotSubmission {
            voter: {
                let id = pseudonym(b.voter.id());
                b.voter.with_id(id)
            },
            ..b
        };
        match self {
            Command::CastBallot(b) => Command::CastBallot(hide(b)),
            Command::EnterPaperBallots(batch) => Command::EnterPaperBallots(PaperBatch {
                ballots: batch.ballots.into_iter().map(hide).collect(),
                ..batch
            }),
            Command::CountParticipation(register) => Command::CountParticipation(VoterRegister {
                residents: register
                    .residents
                    .into_iter()
                    .map(|r| {
                        let id = pseudonym(r.id());
                        r.with_id(id)
                    })
                    .collect(),
                ..register
            }),
            other => other,
        }
    }

    /// Whether the command can end its cycle's year (closing or abandoning
    /// it), which has consequences beyond the cycle: lessons and carry-over pass
    /// on to later years.
    pub fn may_end_the_year(&self) -> bool {
        matches!(self, Command::Close(_) | Command::Abandon { .. })
    }

    /// The command's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::SetBudget(_) => "set_budget",
            Command::AddFunds(_) => "add_funds",
            Command::SetEligibility(_) => "set_eligibility",
            Command::SetBallotRules(_) => "set_ballot_rules",
            Command::SetCriteria { .. } => "set_criteria",
            Command::SetParts { .. } => "set_parts",
            Command::ReceiveLessons { .. } => "receive_lessons",
            Command::BeginOutreach { .. } => "begin_outreach",
            Command::RecordOutreach(_) => "record_outreach",
            Command::OpenIdeaGeneration { .. } => "open_idea_generation",
            Command::SubmitIdea(_) => "submit_idea",
            Command::ReviewIdea { .. } => "review_idea",
            Command::MergeIdea { .. } => "merge_idea",
            Command::RejectIdea { .. } => "reject_idea",
            Command::BeginShortlisting { .. } => "begin_shortlisting",
            Command::ProposeProject(_) => "propose_project",
            Command::EstimateCost { .. } => "estimate_cost",
            Command::AssessFeasibility { .. } => "assess_feasibility",
            Command::ScoreProject { .. } => "score_project",
            Command::AddCoCreator { .. } => "add_co_creator",
            Command::WithdrawProject { .. } => "withdraw_project",
            Command::DeclareExclusion(_) => "declare_exclusion",
            Command::OpenVoting { .. } => "open_voting",
            Command::CastBallot(_) => "cast_ballot",
            Command::EnterPaperBallots(_) => "enter_paper_ballots",
            Command::CloseVoting { .. } => "close_voting",
            Command::CountParticipation(_) => "count_participation",
            Command::AdjustOutcome(_) => "adjust_outcome",
            Command::HandOver { .. } => "hand_over",
            Command::RecordMilestone { .. } => "record_milestone",
            Command::RecordProgress { .. } => "record_progress",
            Command::CompleteProject { .. } => "complete_project",
            Command::CancelProject { .. } => "cancel_project",
            Command::BeginFollowUp { .. } => "begin_follow_up",
            Command::Close(_) => "close",
            Command::Abandon { .. } => "abandon",
        }
    }
}

/// Something a cycle accepted. A cycle's stream starts with
/// [`Event::CycleStarted`]; most other events are an accepted [`Command`].
/// Three are records of their own: closing the vote records the
/// [`FundingDecision`] that counting produced, a ballot is recorded without its
/// voter's record ([`Ballot`]: the voter's id, the choices, the time, the
/// channel and the eligibility verdict), and participation by group is recorded
/// as counts without the register it was counted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The cycle started in step 1.
    CycleStarted(CycleSetup),
    /// A command was accepted.
    Accepted(Command),
    /// Voting closed with this decision.
    VotingClosed(FundingDecision),
    /// A ballot was counted (one event per ballot, digital or paper).
    BallotCast(Ballot),
    /// Participation by group was counted.
    ParticipationCounted(Participation),
}

impl Event {
    /// The event's name, for messages: the command's name for accepted commands.
    pub fn name(&self) -> &'static str {
        match self {
            Event::CycleStarted(_) => "cycle_started",
            Event::Accepted(c) => c.name(),
            Event::VotingClosed(_) => "voting_closed",
            Event::BallotCast(_) => "ballot_cast",
            Event::ParticipationCounted(_) => "participation_counted",
        }
    }
}
