//! Stage markers for [`Cycle<S>`](super::Cycle) and the traits they share.
//!
//! Each marker (defined beside its step's methods and gate, and re-exported
//! here) is a type that holds what the cycle has gathered by that stage —
//! the way rustls' builder stages carry the configuration chosen so far — and knows
//! its runtime [`Step`] (`Stage::STEP`), like atsamd-hal's pin modes know their
//! `DynPin` variant. The trait is sealed: no other stage can exist.

use serde::Serialize;

use super::Step;
use super::records::{Allocation, FundingDecision, VotingWindow};
use crate::area::Eligibility;
use crate::ballot::BallotRules;
use crate::criteria::CriteriaSet;
use crate::part::BudgetPart;

pub(crate) mod sealed {
    use super::super::{AnyCycle, Cycle};

    /// Conversions between a typed cycle and [`AnyCycle`]; private so that no
    /// other crate can add a stage.
    pub trait ModelStage: Sized {
        fn wrap(cycle: Cycle<Self>) -> AnyCycle;
        // The cycle moves back unchanged on failure; boxing it would only add an
        // allocation to every conversion.
        #[allow(clippy::result_large_err)]
        fn unwrap(any: AnyCycle) -> Result<Cycle<Self>, AnyCycle>;
        fn unwrap_mut(any: &mut AnyCycle) -> Option<&mut Cycle<Self>>;
    }
}

/// A stage of a cycle. Sealed: implemented by the markers of this module only.
pub trait Stage: sealed::ModelStage + Clone + PartialEq + std::fmt::Debug + Serialize {
    /// The runtime step this stage corresponds to.
    const STEP: Step;
}

/// A stage that still runs: it can be abandoned.
pub trait Active: Stage {}

/// A stage in which money may still be added to the budget: steps 1 to 4. Once the
/// ballot is published the budget is fixed, because knapsack ballots are checked
/// against it.
pub trait AcceptsFunds: Stage {
    /// The budget parts, once fixed (after step 1); `None` in step 1, whose
    /// gate checks additions against the parts it ends with.
    fn fixed_parts(&self) -> Option<&[BudgetPart]> {
        None
    }
}

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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The budget parts, for a cycle of several ([`crate::part`]); empty for
    /// a cycle of one budget.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<BudgetPart>,
}

/// Makes `$name` the stage of `AnyCycle::$variant` and `Step::$variant`.
macro_rules! stage {
    ($name:ident, $variant:ident) => {
        impl $crate::process::stage::sealed::ModelStage for $name {
            fn wrap(cycle: $crate::process::Cycle<Self>) -> $crate::process::AnyCycle {
                $crate::process::AnyCycle::$variant(cycle)
            }
            fn unwrap(
                any: $crate::process::AnyCycle,
            ) -> Result<$crate::process::Cycle<Self>, $crate::process::AnyCycle> {
                match any {
                    $crate::process::AnyCycle::$variant(cycle) => Ok(cycle),
                    other => Err(other),
                }
            }
            fn unwrap_mut(
                any: &mut $crate::process::AnyCycle,
            ) -> Option<&mut $crate::process::Cycle<Self>> {
                match any {
                    $crate::process::AnyCycle::$variant(cycle) => Some(cycle),
                    _ => None,
                }
            }
        }
        impl $crate::process::Stage for $name {
            const STEP: $crate::process::Step = $crate::process::Step::$variant;
        }
    };
}
pub(crate) use stage;

// The markers live beside their step's methods and gate (`super::steps`).
pub use super::steps::{
    Abandoned, Closed, Criteria, FollowUp, IdeaGeneration, Implementation, Outreach, Previous,
    Shortlisting, Voting,
};

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
impl AcceptsFunds for Outreach {
    fn fixed_parts(&self) -> Option<&[BudgetPart]> {
        Some(&self.framework.parts)
    }
}
impl AcceptsFunds for IdeaGeneration {
    fn fixed_parts(&self) -> Option<&[BudgetPart]> {
        Some(&self.framework.parts)
    }
}
impl AcceptsFunds for Shortlisting {
    fn fixed_parts(&self) -> Option<&[BudgetPart]> {
        Some(&self.framework.parts)
    }
}

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
