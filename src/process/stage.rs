//! Stage markers for [`Cycle<S>`](super::Cycle).
//!
//! Each marker is a type that holds what the cycle has gathered by that stage —
//! the way rustls' builder stages carry the configuration chosen so far — and knows
//! its runtime [`Step`] (`Stage::STEP`), like atsamd-hal's pin modes know their
//! `DynPin` variant. The trait is sealed: no other stage can exist.

use serde::Serialize;

use super::records::{Allocation, Evaluation, FundingDecision, VotingWindow};
use super::{AnyCycle, Cycle, Step};
use crate::area::Eligibility;
use crate::ballot::BallotRules;
use crate::criteria::CriteriaSet;

pub(crate) mod sealed {
    use super::super::{AnyCycle, Cycle};

    /// Conversions between a typed cycle and [`AnyCycle`]; private so that no
    /// other crate can add a stage.
    pub trait Sealed: Sized {
        fn wrap(cycle: Cycle<Self>) -> AnyCycle;
        // The cycle moves back unchanged on failure; boxing it would only add an
        // allocation to every conversion.
        #[allow(clippy::result_large_err)]
        fn unwrap(any: AnyCycle) -> Result<Cycle<Self>, AnyCycle>;
        fn unwrap_mut(any: &mut AnyCycle) -> Option<&mut Cycle<Self>>;
    }
}

/// A stage of a cycle. Sealed: implemented by the markers of this module only.
pub trait Stage: sealed::Sealed + Clone + PartialEq + std::fmt::Debug + Serialize {
    /// The runtime step this stage corresponds to.
    const STEP: Step;
}

/// A stage that still runs: it can be abandoned.
pub trait Active: Stage {}

/// A stage in which money may still be added to the budget: steps 1 to 4. Once the
/// ballot is published the budget is fixed, because knapsack ballots are checked
/// against it.
pub trait AcceptsFunds: Stage {}

/// A stage after step 1: the council's framework is fixed.
pub trait Framed: Stage {
    /// The framework fixed in step 1.
    fn framework(&self) -> &Framework;
}

/// A stage after the vote: the funding decision exists.
pub trait Decided: Framed {
    /// The voting window.
    fn window(&self) -> &VotingWindow;
    /// The funding decision.
    fn decision(&self) -> &FundingDecision;
}

/// What the council fixed in step 1 and what no later step may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Framework {
    /// The council's allocation (more may be added until voting opens, never
    /// removed).
    pub base: Allocation,
    /// Who may take part.
    pub eligibility: Eligibility,
    /// The ballot and counting rules.
    pub rules: BallotRules,
    /// The criteria ideas are judged by.
    pub criteria: CriteriaSet,
}

macro_rules! stage {
    ($name:ident, $variant:ident) => {
        impl sealed::Sealed for $name {
            fn wrap(cycle: Cycle<Self>) -> AnyCycle {
                AnyCycle::$variant(cycle)
            }
            fn unwrap(any: AnyCycle) -> Result<Cycle<Self>, AnyCycle> {
                match any {
                    AnyCycle::$variant(cycle) => Ok(cycle),
                    other => Err(other),
                }
            }
            fn unwrap_mut(any: &mut AnyCycle) -> Option<&mut Cycle<Self>> {
                match any {
                    AnyCycle::$variant(cycle) => Some(cycle),
                    _ => None,
                }
            }
        }
        impl Stage for $name {
            const STEP: Step = Step::$variant;
        }
    };
}

/// Step 1, Kriterier: the council fixes budget, eligibility, ballot rules and
/// criteria.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Criteria {
    pub(crate) base: Option<Allocation>,
    pub(crate) eligibility: Option<Eligibility>,
    pub(crate) rules: Option<BallotRules>,
    pub(crate) criteria: Option<CriteriaSet>,
}
stage!(Criteria, Criteria);

/// Step 2, Marknadsföring: reaching as many residents as possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outreach {
    pub(crate) framework: Framework,
}
stage!(Outreach, Outreach);

/// Step 3, Idégenerering: residents submit ideas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdeaGeneration {
    pub(crate) framework: Framework,
}
stage!(IdeaGeneration, IdeaGeneration);

/// Step 4, Bearbetning och urval: ideas are worked into a shortlist with
/// residents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortlisting {
    pub(crate) framework: Framework,
}
stage!(Shortlisting, Shortlisting);

/// Step 5, Röstning: residents vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voting {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
}
stage!(Voting, Voting);

/// Step 6, Genomförande: funded projects are built with residents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Implementation {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
}
stage!(Implementation, Implementation);

/// Step 7, Uppföljning: the cycle is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
}
stage!(FollowUp, FollowUp);

/// The cycle is closed: evaluated and done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closed {
    pub(crate) framework: Framework,
    pub(crate) window: VotingWindow,
    pub(crate) decision: FundingDecision,
    pub(crate) evaluation: Evaluation,
}
stage!(Closed, Closed);

/// The cycle was abandoned, with a reason, from the stage it was in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[serde(rename_all = "snake_case", tag = "step")]
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

macro_rules! active {
    ($($name:ident),*) => {
        $(
            impl Active for $name {}
            impl From<$name> for Previous {
                fn from(stage: $name) -> Previous {
                    Previous::$name(stage)
                }
            }
        )*
    };
}
active!(
    Criteria,
    Outreach,
    IdeaGeneration,
    Shortlisting,
    Voting,
    Implementation,
    FollowUp
);

impl AcceptsFunds for Criteria {}
impl AcceptsFunds for Outreach {}
impl AcceptsFunds for IdeaGeneration {}
impl AcceptsFunds for Shortlisting {}

macro_rules! framed {
    ($($name:ident),*) => {
        $(
            impl Framed for $name {
                fn framework(&self) -> &Framework {
                    &self.framework
                }
            }
        )*
    };
}
framed!(
    Outreach,
    IdeaGeneration,
    Shortlisting,
    Voting,
    Implementation,
    FollowUp,
    Closed
);

macro_rules! decided {
    ($($name:ident),*) => {
        $(
            impl Decided for $name {
                fn window(&self) -> &VotingWindow {
                    &self.window
                }
                fn decision(&self) -> &FundingDecision {
                    &self.decision
                }
            }
        )*
    };
}
decided!(Implementation, FollowUp, Closed);
