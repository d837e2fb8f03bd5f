//! The ends of a cycle: closed, or abandoned from any running step.

use chrono::{DateTime, Utc};

use crate::process::Step;
use crate::process::cycle::{Cycle, require_text};
use crate::process::error::TransitionError;
use crate::process::records::{Evaluation, FundingDecision, VotingWindow};
use crate::process::stage::{
    Active, Criteria, FollowUp, Framework, IdeaGeneration, Implementation, Outreach, Shortlisting,
    Voting, stage,
};
use serde::Serialize;

/// The cycle is closed: evaluated and done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Closed {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
    pub(crate) evaluation: Evaluation,
}
stage!(Closed, Closed);

/// The cycle was abandoned, with a reason, from the stage it was in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Abandoned {
    pub(crate) from: Box<Previous>,
    pub(crate) reason: String,
    pub(crate) at: chrono::DateTime<chrono::Utc>,
}
stage!(Abandoned, Abandoned);

impl Abandoned {
    /// The step the cycle was in when abandoned.
    pub fn from_step(&self) -> Step {
        self.from.step()
    }

    /// Why it was abandoned.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// When it was abandoned.
    pub fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.at
    }

    /// The framework, if the cycle got past step 1.
    pub fn framework(&self) -> Option<&Framework> {
        match &*self.from {
            Previous::Criteria(_) => None,
            Previous::Outreach(s) => Some(&s.framework),
            Previous::IdeaGeneration(s) => Some(&s.framework),
            Previous::Shortlisting(s) => Some(&s.framework),
            Previous::Voting(s) => Some(&s.framework),
            Previous::Implementation(s) => Some(&s.framework),
            Previous::FollowUp(s) => Some(&s.framework),
        }
    }

    /// The funding decision, if the cycle was abandoned after the vote.
    pub fn decision(&self) -> Option<&FundingDecision> {
        match &*self.from {
            Previous::Implementation(s) => Some(&s.decision),
            Previous::FollowUp(s) => Some(&s.decision),
            _ => None,
        }
    }
}

/// The stage data of an abandoned cycle, as it was when abandoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Previous {
    /// Abandoned in step 1.
    Criteria(Criteria),
    /// Abandoned in step 2.
    Outreach(Outreach),
    /// Abandoned in step 3.
    IdeaGeneration(IdeaGeneration),
    /// Abandoned in step 4.
    Shortlisting(Shortlisting),
    /// Abandoned in step 5.
    Voting(Voting),
    /// Abandoned in step 6.
    Implementation(Implementation),
    /// Abandoned in step 7.
    FollowUp(FollowUp),
}

impl Previous {
    /// The step.
    pub fn step(&self) -> Step {
        match self {
            Previous::Criteria(_) => Step::Criteria,
            Previous::Outreach(_) => Step::Outreach,
            Previous::IdeaGeneration(_) => Step::IdeaGeneration,
            Previous::Shortlisting(_) => Step::Shortlisting,
            Previous::Voting(_) => Step::Voting,
            Previous::Implementation(_) => Step::Implementation,
            Previous::FollowUp(_) => Step::FollowUp,
        }
    }
}

/// A closed cycle.
impl Cycle<Closed> {
    /// The evaluation.
    pub fn evaluation(&self) -> &Evaluation {
        &self.stage.evaluation
    }
}

/// Any running stage can be abandoned.
impl<S: Active> Cycle<S>
where
    S: Into<crate::process::stage::Previous>,
{
    /// Abandons the cycle with a reason. An abandoned year counts against the
    /// programme's credibility.
    ///
    /// # Errors
    /// An empty reason or a time before the current step began; the cycle comes
    /// back unchanged.
    pub fn abandon(
        self,
        reason: String,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Abandoned>, TransitionError<Self>> {
        self.advance(
            "abandon",
            at,
            |_| require_text("the reason for abandoning", &reason).map(|()| reason),
            |_, s, reason| Abandoned {
                from: Box::new(s.into()),
                reason,
                at,
            },
        )
    }
}

/// An abandoned cycle.
impl Cycle<Abandoned> {
    /// The step it was abandoned in.
    pub fn abandoned_in(&self) -> Step {
        self.stage.from_step()
    }

    /// Why.
    pub fn reason(&self) -> &str {
        self.stage.reason()
    }
}
