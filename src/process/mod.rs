//! The process: the seven steps of one annual cycle as a typed state machine, and
//! the programme of at least three annual cycles.
//!
//! * [`Cycle<S>`] is a cycle in stage `S` (a marker from [`stage`]). It offers only
//!   what is legal in that stage, and its transitions consume it and return the
//!   next stage — or give it back inside a [`TransitionError`].
//! * [`AnyCycle`] is the same cycle with its stage known at run time, for storage
//!   and user interfaces. [`AnyCycle::apply`] runs a [`Command`] through the typed
//!   methods and returns the [`Event`]s it produced; [`AnyCycle::replay`] rebuilds a
//!   cycle from its events through the same rules.
//! * A [`Snapshot`] is a cycle's or programme's event log with a hash chain over
//!   it; loading one replays it. The state serialises only as a read model.
//! * [`Programme`] holds one district's annual cycles and enforces the three-year
//!   minimum, their order, carry-over and the passing on of lessons.
//!
//! Trying to skip a step does not compile:
//!
//! ```compile_fail
//! # use medborgarbudget::process::{Cycle, VotingWindow, stage};
//! # fn f(cycle: Cycle<stage::Outreach>, window: VotingWindow, at: chrono::DateTime<chrono::Utc>) {
//! let voting = cycle.open_voting(window, at); // outreach cannot jump to voting
//! # }
//! ```

mod any;
mod command;
mod cycle;
mod error;
mod programme;
mod records;
mod snapshot;
pub mod stage;
mod steps;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use any::{AnyCycle, Available, Unmet, WrongStage};
pub use command::{Command, Event};
pub use cycle::Cycle;
pub use error::{CycleError, GateError, ReplayError, TransitionError};
pub use programme::{
    AtLeastThreeYears, CarryOver, Commitment, CredibilityReport, DeliveryUpdate, MIN_YEARS,
    OngoingDelivery, Programme, ProgrammeCommand, ProgrammeError, ProgrammeEvent, ProgrammeSetup,
    YearReport,
};
pub use records::{
    Adjustment, Allocation, CouncilDecision, CycleSetup, Evaluation, ExclusionGroup, FiguresDigest,
    FundingDecision, FundingSource, GroupCount, Lesson, MIN_CELL, OutreachActivity,
    OutreachChannel, PartOutcome, Participation, ProjectScore, RulesVersion, SetAside,
    SetAsideReason, TargetGroup, VoterRegister, VotingWindow,
};
pub use snapshot::{Snapshot, SnapshotError};
pub use stage::{
    Abandoned, Closed, Criteria, FollowUp, Framework, IdeaGeneration, Implementation, Outreach,
    Shortlisting, Stage, Voting,
};

/// The steps of a cycle at run time: the model's seven steps, then `Closed` or
/// `Abandoned`. Ordered as the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1. Kriterier — criteria.
    Criteria,
    /// 2. Marknadsföring — outreach.
    Outreach,
    /// 3. Idégenerering — idea generation.
    IdeaGeneration,
    /// 4. Bearbetning och urval — working the ideas into a shortlist.
    Shortlisting,
    /// 5. Röstning — voting.
    Voting,
    /// 6. Genomförande — implementation.
    Implementation,
    /// 7. Uppföljning — follow-up.
    FollowUp,
    /// The cycle is evaluated and closed.
    Closed,
    /// The cycle was abandoned.
    Abandoned,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::Criteria,
        Step::Outreach,
        Step::IdeaGeneration,
        Step::Shortlisting,
        Step::Voting,
        Step::Implementation,
        Step::FollowUp,
        Step::Closed,
        Step::Abandoned,
    ];

    /// The step's number in the model (1–7), or `None` for `Closed` and
    /// `Abandoned`.
    pub fn number(self) -> Option<u8> {
        match self {
            Step::Criteria => Some(1),
            Step::Outreach => Some(2),
            Step::IdeaGeneration => Some(3),
            Step::Shortlisting => Some(4),
            Step::Voting => Some(5),
            Step::Implementation => Some(6),
            Step::FollowUp => Some(7),
            Step::Closed | Step::Abandoned => None,
        }
    }

    /// The name of the command that leaves the step
    /// ([`Command::name`](crate::process::Command::name): `"open_voting"`);
    /// `None` for `Closed` and `Abandoned`, which have no way out.
    pub fn way_out(self) -> Option<&'static str> {
        match self {
            Step::Criteria => Some("begin_outreach"),
            Step::Outreach => Some("open_idea_generation"),
            Step::IdeaGeneration => Some("begin_shortlisting"),
            Step::Shortlisting => Some("open_voting"),
            Step::Voting => Some("close_voting"),
            Step::Implementation => Some("begin_follow_up"),
            Step::FollowUp => Some("close"),
            Step::Closed | Step::Abandoned => None,
        }
    }

    /// The names of the commands the step accepts
    /// ([`Command::name`](crate::process::Command::name)), the way out last
    /// but one and `abandon` last; none for `Closed` and `Abandoned`. A
    /// command named here may still be refused for its arguments; any other
    /// is refused with [`CycleError::NotInThisStep`].
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Step::Criteria => &[
                "set_budget",
                "add_funds",
                "set_eligibility",
                "set_ballot_rules",
                "set_criteria",
                "set_parts",
                "receive_lessons",
                "begin_outreach",
                "abandon",
            ],
            Step::Outreach => &[
                "add_funds",
                "record_outreach",
                "open_idea_generation",
                "abandon",
            ],
            Step::IdeaGeneration => &[
                "add_funds",
                "submit_idea",
                "reject_idea",
                "begin_shortlisting",
                "abandon",
            ],
            Step::Shortlisting => &[
                "add_funds",
                "review_idea",
                "merge_idea",
                "reject_idea",
                "propose_project",
                "estimate_cost",
                "assess_feasibility",
                "score_project",
                "add_co_creator",
                "withdraw_project",
                "declare_exclusion",
                "open_voting",
                "abandon",
            ],
            Step::Voting => &[
                "cast_ballot",
                "enter_paper_ballots",
                "close_voting",
                "abandon",
            ],
            Step::Implementation => &[
                "count_participation",
                "adjust_outcome",
                "hand_over",
                "add_co_creator",
                "record_milestone",
                "record_progress",
                "complete_project",
                "cancel_project",
                "begin_follow_up",
                "abandon",
            ],
            Step::FollowUp => &["count_participation", "close", "abandon"],
            Step::Closed | Step::Abandoned => &[],
        }
    }

    /// The Swedish label, as in the model (`Idégenerering`).
    pub fn label_sv(self) -> &'static str {
        match self {
            Step::Criteria => "Kriterier",
            Step::Outreach => "Marknadsföring",
            Step::IdeaGeneration => "Idégenerering",
            Step::Shortlisting => "Bearbetning och urval",
            Step::Voting => "Röstning",
            Step::Implementation => "Genomförande",
            Step::FollowUp => "Uppföljning",
            Step::Closed => "Avslutad",
            Step::Abandoned => "Avbruten",
        }
    }

    /// The English label (`Idea generation`).
    pub fn label_en(self) -> &'static str {
        match self {
            Step::Criteria => "Criteria",
            Step::Outreach => "Outreach",
            Step::IdeaGeneration => "Idea generation",
            Step::Shortlisting => "Shortlisting",
            Step::Voting => "Voting",
            Step::Implementation => "Implementation",
            Step::FollowUp => "Follow-up",
            Step::Closed => "Closed",
            Step::Abandoned => "Abandoned",
        }
    }

    /// Whether the cycle has ended in this step.
    pub fn is_terminal(self) -> bool {
        matches!(self, Step::Closed | Step::Abandoned)
    }
}

impl fmt::Display for Step {
    /// The English label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_en())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_numbers() {
        assert_eq!(Step::IdeaGeneration.label_sv(), "Idégenerering");
        assert_eq!(Step::IdeaGeneration.label_en(), "Idea generation");
        assert_eq!(Step::Shortlisting.label_sv(), "Bearbetning och urval");
        assert_eq!(Step::FollowUp.to_string(), "Follow-up");
        let numbers: Vec<_> = Step::ALL.iter().filter_map(|s| s.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
        assert!(Step::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Step::Closed.is_terminal() && Step::Abandoned.is_terminal());
        assert!(!Step::FollowUp.is_terminal());
        assert_eq!(
            serde_json::to_string(&Step::FollowUp).unwrap(),
            "\"follow_up\""
        );
    }
}
