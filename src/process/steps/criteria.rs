//! Step 1, criteria: the council fixes the framework — budget, eligibility,
//! ballot rules and criteria — and the gate into outreach.

use chrono::{DateTime, Utc};

use crate::area::Eligibility;
use crate::ballot::BallotRules;
use crate::criteria::CriteriaSet;
use crate::money::Money;
use crate::part::BudgetPart;
use crate::process::Step;
use crate::process::cycle::{BallotBox, Core, Cycle, gate, require_text};
use crate::process::error::{CycleError, GateError, TransitionError};
use crate::process::records::{Allocation, CycleSetup, FundingSource, Lesson};
use crate::process::stage::{Framework, Outreach, stage};
use serde::Serialize;

/// Step 1, Kriterier: the council fixes budget, eligibility, ballot rules and
/// criteria.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Criteria {
    pub(crate) base: Option<Allocation>,
    pub(crate) eligibility: Option<Eligibility>,
    pub(crate) rules: Option<BallotRules>,
    pub(crate) criteria: Option<CriteriaSet>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) parts: Vec<BudgetPart>,
}
stage!(Criteria, Criteria);

/// Step 1: the council fixes the framework.
impl Cycle<Criteria> {
    /// Starts a cycle in step 1.
    pub fn new(setup: CycleSetup) -> Cycle<Criteria> {
        let started = setup.started_at;
        Cycle {
            core: Core {
                setup,
                timeline: vec![(Step::Criteria, started)],
                lessons: Vec::new(),
                additions: Vec::new(),
                outreach: Vec::new(),
                ideas: Vec::new(),
                projects: Vec::new(),
                ballots: BallotBox::default(),
                participation: None,
                exclusions: Vec::new(),
                adjustments: Vec::new(),
            },
            stage: Criteria::default(),
        }
    }

    /// Sets (or replaces) the council's base allocation. Before outreach starts
    /// the budget may still change; afterwards it can only grow.
    ///
    /// # Errors
    /// An amount that is not positive or in another currency, or a decision
    /// without a body or reference.
    pub fn set_budget(&mut self, allocation: Allocation) -> Result<(), CycleError> {
        self.core.check_allocation(&allocation)?;
        if let FundingSource::CarryOver { from_year } = allocation.source {
            return Err(CycleError::CarryOverAsBase { from_year });
        }
        self.core.budget_with(Some(&allocation))?;
        self.stage.base = Some(allocation);
        Ok(())
    }

    /// Fixes who may take part.
    pub fn set_eligibility(&mut self, eligibility: Eligibility) {
        self.stage.eligibility = Some(eligibility);
    }

    /// Fixes the ballot and counting rules.
    pub fn set_ballot_rules(&mut self, rules: BallotRules) {
        self.stage.rules = Some(rules);
    }

    /// Fixes the criteria.
    pub fn set_criteria(&mut self, criteria: CriteriaSet) {
        self.stage.criteria = Some(criteria);
    }

    /// Splits the budget into parts ([`crate::part`]): each with its id, the
    /// sub-area it serves (or the whole district) and the council's money
    /// for it. An empty list makes the cycle one budget again. Step 1's gate
    /// then needs the parts' amounts to add up to the council's allocation,
    /// and every addition to name a part.
    ///
    /// # Errors
    /// More than [`MAX_PARTS`](crate::part::MAX_PARTS) parts, an id used
    /// twice, two parts for one sub-area, a sub-area the district does not
    /// have, an empty name, or an amount that is not positive or in another
    /// currency. Nothing changes.
    pub fn set_parts(&mut self, parts: Vec<BudgetPart>) -> Result<(), CycleError> {
        if parts.len() > crate::part::MAX_PARTS {
            return Err(CycleError::TooManyParts {
                given: parts.len(),
                limit: crate::part::MAX_PARTS,
            });
        }
        for (k, part) in parts.iter().enumerate() {
            require_text("a budget part's name", &part.name)?;
            self.core
                .check_currency("a budget part's amount", part.amount)?;
            if !part.amount.is_positive() {
                return Err(CycleError::NotPositive {
                    what: "a budget part's amount",
                    amount: part.amount,
                });
            }
            let earlier = &parts[..k];
            if earlier.iter().any(|p| p.id == part.id) {
                return Err(CycleError::BadPart {
                    part: part.id.clone(),
                    why: "its id is used by another part",
                });
            }
            if let Some(sub) = part.area {
                if self.area().sub_area(sub).is_none() {
                    return Err(CycleError::BadPart {
                        part: part.id.clone(),
                        why: "the district has no such sub-area",
                    });
                }
                if earlier.iter().any(|p| p.area == Some(sub)) {
                    return Err(CycleError::BadPart {
                        part: part.id.clone(),
                        why: "another part serves the same sub-area",
                    });
                }
            }
        }
        self.stage.parts = parts;
        Ok(())
    }

    /// The budget parts so far.
    pub fn parts(&self) -> &[BudgetPart] {
        &self.stage.parts
    }

    /// Receives lessons from earlier years' follow-up.
    ///
    /// # Errors
    /// An empty lesson.
    pub fn receive_lessons(&mut self, lessons: Vec<Lesson>) -> Result<(), CycleError> {
        for l in &lessons {
            require_text("a lesson", &l.text)?;
        }
        self.core.lessons.extend(lessons);
        Ok(())
    }

    /// The base allocation, if set.
    pub fn base_allocation(&self) -> Option<&Allocation> {
        self.stage.base.as_ref()
    }

    /// The budget so far: the base allocation plus additions.
    ///
    /// # Errors
    /// An overflow adding the amounts.
    pub fn budget(&self) -> Result<Money, CycleError> {
        self.core.budget_with(self.stage.base.as_ref())
    }

    /// Every condition of step 1's gate not met yet, in the order the gate
    /// checks them (the first is the error [`Cycle::begin_outreach`] gives):
    /// the budget, eligibility, ballot rules, criteria, and ballot rules that
    /// fit the budget.
    pub fn unmet(&self) -> Vec<GateError> {
        let stage = &self.stage;
        let mut unmet = Vec::new();
        let budget = stage
            .base
            .as_ref()
            .and_then(|base| self.core.budget_with(Some(base)).ok());
        if budget.is_none() {
            unmet.push(GateError::NoBudget);
        }
        if stage.eligibility.is_none() {
            unmet.push(GateError::NoEligibility);
        }
        if stage.rules.is_none() {
            unmet.push(GateError::NoBallotRules);
        }
        if stage.criteria.is_none() {
            unmet.push(GateError::NoCriteria);
        }
        if let (Some(rules), Some(budget)) = (&stage.rules, budget)
            && let Err(e) = rules.check_budget(budget)
        {
            unmet.push(GateError::RulesDoNotFitBudget(e));
        }
        if !stage.parts.is_empty() {
            let parts_total = Money::sum(self.currency(), stage.parts.iter().map(|p| p.amount));
            if let (Some(base), Ok(parts_total)) = (&stage.base, parts_total)
                && parts_total != base.amount
            {
                unmet.push(GateError::PartsDoNotAddUp {
                    parts_total,
                    allocation: base.amount,
                });
            }
        }
        // Money the council adds names a part the cycle has (a typo is not
        // sent elsewhere); carry-over goes where `destination` sends it.
        for a in &self.core.additions {
            if let Some(part) = crate::part::missing_part(&stage.parts, a) {
                unmet.push(GateError::UnknownPart { part: part.clone() });
            }
        }
        unmet
    }

    pub(crate) fn framework_ready(&self) -> Result<Framework, GateError> {
        let stage = &self.stage;
        let mut unmet = self.unmet().into_iter();
        match (
            &stage.base,
            stage.eligibility,
            &stage.rules,
            &stage.criteria,
            unmet.next(),
        ) {
            (Some(base), Some(eligibility), Some(rules), Some(criteria), None) => Ok(Framework {
                base: base.clone(),
                eligibility,
                rules: rules.clone(),
                criteria: criteria.clone(),
                parts: stage.parts.clone(),
            }),
            // `unmet` names each missing piece, so there is a first.
            (.., first) => Err(first.unwrap_or(GateError::NoBudget)),
        }
    }

    /// Gate of step 1: budget (with its council decision), eligibility, ballot
    /// rules that fit the budget, and criteria (which by type include social
    /// sustainability and public health). Then outreach begins.
    ///
    /// # Errors
    /// The first missing piece; the cycle comes back unchanged.
    pub fn begin_outreach(
        self,
        at: DateTime<Utc>,
    ) -> Result<Cycle<Outreach>, TransitionError<Self>> {
        self.advance(
            "begin outreach",
            at,
            |c| c.framework_ready().map_err(gate::<Criteria>),
            |_, _, framework| Outreach { framework },
        )
    }
}
