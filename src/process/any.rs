//! `AnyCycle`: a cycle whose stage is known at run time — for storage, serde,
//! commands from a user interface, and replay.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Step;
use super::command::{Command, Event};
use super::cycle::{Core, Cycle};
use super::error::{CycleError, GateError, ReplayError, TransitionError};
use super::records::{Adjustment, CycleSetup, Evaluation, FundingDecision, RulesVersion};
use super::stage::{
    Abandoned, Closed, Criteria, FollowUp, Framework, IdeaGeneration, Implementation, Outreach,
    Previous, Shortlisting, Stage, Voting,
};
use crate::ballot::Channel;
use crate::ids::{CycleId, ProjectId};
use crate::money::Money;
use crate::tally::Tally;

/// A cycle in any stage, known at run time.
///
/// Convert with `From<Cycle<S>>` and `TryFrom<AnyCycle> for Cycle<S>`; drive it
/// with [`AnyCycle::apply`], which calls the typed methods of the current stage so
/// the rules live in one place. Its state serialises as a read model
/// (`{"step": …, "core": …, "stage": …}`); it is stored as its events and loaded
/// by [`AnyCycle::replay`] or [`AnyCycle::from_snapshot`](crate::process::Snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyCycle {
    /// Step 1.
    Criteria(Cycle<Criteria>),
    /// Step 2.
    Outreach(Cycle<Outreach>),
    /// Step 3.
    IdeaGeneration(Cycle<IdeaGeneration>),
    /// Step 4.
    Shortlisting(Cycle<Shortlisting>),
    /// Step 5.
    Voting(Cycle<Voting>),
    /// Step 6.
    Implementation(Cycle<Implementation>),
    /// Step 7.
    FollowUp(Cycle<FollowUp>),
    /// Closed.
    Closed(Cycle<Closed>),
    /// Abandoned.
    Abandoned(Cycle<Abandoned>),
}

/// `$body` with `$c` bound to the typed cycle in `$any`, whatever its stage: the
/// one list of the nine stages that `AnyCycle`'s methods share. With
/// `ended $e => $ended`, the closed and abandoned cycles take that arm instead.
macro_rules! each_stage {
    ($any:expr, $c:ident => $body:expr) => {
        each_stage!($any, $c => $body, ended $c => $body)
    };
    ($any:expr, $c:ident => $body:expr, ended $e:ident => $ended:expr) => {
        match $any {
            AnyCycle::Criteria($c) => $body,
            AnyCycle::Outreach($c) => $body,
            AnyCycle::IdeaGeneration($c) => $body,
            AnyCycle::Shortlisting($c) => $body,
            AnyCycle::Voting($c) => $body,
            AnyCycle::Implementation($c) => $body,
            AnyCycle::FollowUp($c) => $body,
            AnyCycle::Closed($e) => $ended,
            AnyCycle::Abandoned($e) => $ended,
        }
    };
}

/// The step of a typed cycle.
fn step_of<S: Stage>(_: &Cycle<S>) -> Step {
    S::STEP
}

impl Serialize for AnyCycle {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        each_stage!(self, c => c.serialize(s))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for AnyCycle {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyCycle".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        use super::stage::{
            Abandoned, Closed, Criteria, FollowUp, IdeaGeneration, Implementation, Outreach,
            Shortlisting, Voting,
        };
        let each = [
            generator.subschema_for::<Cycle<Criteria>>(),
            generator.subschema_for::<Cycle<Outreach>>(),
            generator.subschema_for::<Cycle<IdeaGeneration>>(),
            generator.subschema_for::<Cycle<Shortlisting>>(),
            generator.subschema_for::<Cycle<Voting>>(),
            generator.subschema_for::<Cycle<Implementation>>(),
            generator.subschema_for::<Cycle<FollowUp>>(),
            generator.subschema_for::<Cycle<Closed>>(),
            generator.subschema_for::<Cycle<Abandoned>>(),
        ];
        schemars::json_schema!({
            "description": "A cycle's state in whichever step it is, as a read model",
            "oneOf": each
        })
    }
}

impl<S: Stage> From<Cycle<S>> for AnyCycle {
    fn from(cycle: Cycle<S>) -> AnyCycle {
        S::wrap(cycle)
    }
}

/// A conversion from [`AnyCycle`] to a `Cycle<S>` of another stage; the cycle
/// comes back unchanged.
pub struct WrongStage {
    /// The stage asked for.
    pub expected: Step,
    /// The cycle, unchanged.
    pub cycle: AnyCycle,
}

impl fmt::Debug for WrongStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrongStage")
            .field("expected", &self.expected)
            .field("found", &self.cycle.step())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for WrongStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the cycle is in step {}, not {}",
            self.cycle.step(),
            self.expected
        )
    }
}

impl std::error::Error for WrongStage {}

impl<S: Stage> TryFrom<AnyCycle> for Cycle<S> {
    type Error = WrongStage;
    fn try_from(any: AnyCycle) -> Result<Self, Self::Error> {
        S::unwrap(any).map_err(|cycle| WrongStage {
            expected: S::STEP,
            cycle,
        })
    }
}

/// What a stage holds, seen without its type (for the accessors below).
#[derive(Default)]
struct View<'a> {
    draft: Option<&'a Criteria>,
    framework: Option<&'a Framework>,
    decision: Option<&'a FundingDecision>,
    evaluation: Option<&'a Evaluation>,
}

impl<'a> View<'a> {
    fn of_previous(previous: &'a Previous) -> View<'a> {
        let mut v = View::default();
        match previous {
            Previous::Criteria(s) => v.draft = Some(s),
            Previous::Outreach(s) => v.framework = Some(&s.framework),
            Previous::IdeaGeneration(s) => v.framework = Some(&s.framework),
            Previous::Shortlisting(s) => v.framework = Some(&s.framework),
            Previous::Voting(s) => v.framework = Some(&s.framework),
            Previous::Implementation(s) => {
                v.framework = Some(&s.framework);
                v.decision = Some(&s.decision);
            }
            Previous::FollowUp(s) => {
                v.framework = Some(&s.framework);
                v.decision = Some(&s.decision);
            }
        }
        v
    }
}

impl AnyCycle {
    /// The current step.
    pub fn step(&self) -> Step {
        each_stage!(self, c => step_of(c))
    }

    /// What the current step still needs at `at` before the cycle can move
    /// on: every condition of the step's gate not met, in the order the
    /// transition ([`Step::way_out`]) checks them, so that the first is the
    /// gate error it would give now. Empty where the gate holds — the
    /// transition may still refuse its own arguments (a time before the step
    /// began, a voting window that opens in the past, an evaluation without a
    /// lesson: follow-up's gate is on the evaluation the closing command
    /// brings) — and for an ended cycle.
    pub fn unmet(&self, at: DateTime<Utc>) -> Vec<GateError> {
        match self {
            AnyCycle::Criteria(c) => c.unmet(),
            AnyCycle::Outreach(c) => c.unmet(at),
            AnyCycle::IdeaGeneration(c) => c.unmet(at),
            AnyCycle::Shortlisting(c) => c.unmet(),
            AnyCycle::Voting(c) => c.unmet(at),
            AnyCycle::Implementation(c) => c.unmet(at),
            AnyCycle::FollowUp(_) | AnyCycle::Closed(_) | AnyCycle::Abandoned(_) => Vec::new(),
        }
    }

    /// What can be done now, for a front end deciding what to offer: the
    /// step, the commands it accepts ([`Step::commands`]), the command that
    /// leaves it, and the conditions of its gate still unmet at `at`
    /// ([`AnyCycle::unmet`]), each with its machine code and message.
    ///
    /// ```
    /// use medborgarbudget::area::Area;
    /// use medborgarbudget::ids::{AreaId, CycleId};
    /// use medborgarbudget::money::Currency;
    /// use medborgarbudget::process::{AnyCycle, Cycle, CycleSetup, RulesVersion, Step};
    ///
    /// let at = "2027-01-10T09:00:00Z".parse()?;
    /// let cycle = AnyCycle::from(Cycle::new(CycleSetup {
    ///     id: CycleId::from_u128(1),
    ///     programme: None,
    ///     year: 2027,
    ///     area: Area::new(AreaId::from_u128(1), "Hjällbo", 7_600)?,
    ///     currency: Currency::SEK,
    ///     started_at: at,
    ///     rules_version: RulesVersion::CURRENT,
    /// }));
    /// let now = cycle.available(at);
    /// assert_eq!(now.step, Step::Criteria);
    /// assert!(now.commands.contains(&"set_budget"));
    /// assert_eq!(now.way_out, Some("begin_outreach"));
    /// // Nothing is fixed yet: the budget comes first.
    /// let json = serde_json::to_value(&now)?;
    /// assert_eq!(json["unmet"][0]["code"], "no_budget");
    /// assert_eq!(json["unmet"][0]["message"], "no budget has been set aside by a council decision");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self, at: DateTime<Utc>) -> Available {
        let step = self.step();
        Available {
            step,
            commands: step.commands().to_vec(),
            way_out: step.way_out(),
            unmet: self
                .unmet(at)
                .into_iter()
                .map(|error| Unmet {
                    message: error.to_string(),
                    error,
                })
                .collect(),
        }
    }

    /// The projects in order of proposal, withdrawn ones included (none
    /// before step 4); those on the shortlist are the ones on the ballot.
    pub fn projects(&self) -> &[crate::project::Project] {
        &self.core().projects
    }

    /// The projects on the shortlist, in order: the ballot's, numbered from
    /// 1 in this order where residents vote on paper.
    pub fn shortlist(&self) -> impl Iterator<Item = &crate::project::Project> {
        self.core().shortlist()
    }

    /// The ideas in order of submission (none before step 3).
    pub fn ideas(&self) -> &[crate::idea::Idea] {
        &self.core().ideas
    }

    /// The ballots counted (none before step 5), in order of casting, voters
    /// by pseudonym where the cycle was run through a repository.
    pub fn ballots(&self) -> &[crate::ballot::Ballot] {
        self.core().ballots.as_slice()
    }

    pub(crate) fn core(&self) -> &Core {
        each_stage!(self, c => &c.core)
    }

    fn view(&self) -> View<'_> {
        let mut v = View::default();
        match self {
            AnyCycle::Criteria(c) => v.draft = Some(&c.stage),
            AnyCycle::Outreach(c) => v.framework = Some(&c.stage.framework),
            AnyCycle::IdeaGeneration(c) => v.framework = Some(&c.stage.framework),
            AnyCycle::Shortlisting(c) => v.framework = Some(&c.stage.framework),
            AnyCycle::Voting(c) => v.framework = Some(&c.stage.framework),
            AnyCycle::Implementation(c) => {
                v.framework = Some(&c.stage.framework);
                v.decision = Some(&c.stage.decision);
            }
            AnyCycle::FollowUp(c) => {
                v.framework = Some(&c.stage.framework);
                v.decision = Some(&c.stage.decision);
            }
            AnyCycle::Closed(c) => {
                v.framework = Some(&c.stage.framework);
                v.decision = Some(&c.stage.decision);
                v.evaluation = Some(&c.stage.evaluation);
            }
            AnyCycle::Abandoned(c) => v = View::of_previous(&c.stage.from),
        }
        v
    }

    /// The cycle's id.
    pub fn id(&self) -> CycleId {
        self.core().setup.id
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.core().setup.year
    }

    /// How the cycle was set up.
    pub fn setup(&self) -> &CycleSetup {
        &self.core().setup
    }

    /// The framework fixed in step 1, once past it.
    pub fn framework(&self) -> Option<&Framework> {
        self.view().framework
    }

    /// The funding decision, once voting has closed.
    pub fn decision(&self) -> Option<&FundingDecision> {
        self.view().decision
    }

    /// The projects funded after the council's adjustments, once voting has
    /// closed (see [`Cycle::funded`]).
    pub fn funded(&self) -> Option<Vec<ProjectId>> {
        self.decision().map(|d| self.core().funded_after(d))
    }

    /// The council's adjustments to the counted outcome, in order.
    pub fn adjustments(&self) -> &[Adjustment] {
        &self.core().adjustments
    }

    /// Who took part by group, once counted.
    pub fn participation(&self) -> Option<&crate::process::Participation> {
        self.core().participation.as_ref()
    }

    /// The evaluation of a closed cycle.
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.view().evaluation
    }

    /// The budget: base allocation (if set) plus additions.
    ///
    /// # Errors
    /// An overflow adding the amounts.
    pub fn budget(&self) -> Result<Money, CycleError> {
        let v = self.view();
        let base = v
            .framework
            .map(|f| &f.base)
            .or(v.draft.and_then(|d| d.base.as_ref()));
        self.core().budget_with(base)
    }

    /// Money spent on funded projects that are completed or cancelled.
    ///
    /// # Errors
    /// An overflow adding the amounts.
    pub fn spent(&self) -> Result<Money, CycleError> {
        self.core().spent()
    }

    /// Whether the cycle has ended (closed or abandoned).
    pub fn has_ended(&self) -> bool {
        matches!(self, AnyCycle::Closed(_) | AnyCycle::Abandoned(_))
    }

    /// What stands in for `self` while a transition owns it: a new cycle of the
    /// same setup, a valid value of the type (never observable from outside:
    /// the transition puts the cycle, moved on or not, back at once).
    fn stand_in(&self) -> AnyCycle {
        AnyCycle::Criteria(Cycle::new(self.setup().clone()))
    }

    fn typed<S: Stage>(&mut self, operation: &'static str) -> Result<&mut Cycle<S>, CycleError> {
        let step = self.step();
        S::unwrap_mut(self).ok_or(CycleError::NotInThisStep { operation, step })
    }

    fn transition<S: Stage, T: Stage>(
        &mut self,
        operation: &'static str,
        f: impl FnOnce(Cycle<S>) -> Result<Cycle<T>, TransitionError<Cycle<S>>>,
    ) -> Result<(), CycleError> {
        let step = self.step();
        let stand_in = self.stand_in();
        let owned = std::mem::replace(self, stand_in);
        match S::unwrap(owned) {
            Ok(cycle) => match f(cycle) {
                Ok(next) => {
                    *self = T::wrap(next);
                    Ok(())
                }
                Err(refused) => {
                    let (cycle, error) = refused.into_parts();
                    *self = S::wrap(cycle);
                    Err(error)
                }
            },
            Err(other) => {
                *self = other;
                Err(CycleError::NotInThisStep { operation, step })
            }
        }
    }

    fn abandon(&mut self, reason: String, at: DateTime<Utc>) -> Result<(), CycleError> {
        let owned = std::mem::replace(self, self.stand_in());
        let (back, result) = each_stage!(owned,
            c => match c.abandon(reason, at) {
                Ok(next) => (AnyCycle::from(next), Ok(())),
                Err(refused) => {
                    let (c, error) = refused.into_parts();
                    (AnyCycle::from(c), Err(error))
                }
            },
            ended e => {
                let step = step_of(&e);
                (AnyCycle::from(e), Err(CycleError::NotInThisStep { operation: "abandon", step }))
            }
        );
        *self = back;
        result
    }

    /// Runs a command through the typed method of the current stage. Returns the
    /// events of the commands that record something other than themselves
    /// (ballots, the count, participation); `None` for the others, which are
    /// recorded as they are.
    fn execute(
        &mut self,
        command: Command,
        tally: Option<&dyn Tally>,
    ) -> Result<Option<Vec<Event>>, CycleError> {
        use Command as C;
        let op = command.name();
        let step = self.step();
        match command {
            C::SetBudget(a) => self.typed::<Criteria>(op)?.set_budget(a)?,
            C::AddFunds(a) => match self {
                AnyCycle::Criteria(c) => c.add_funds(a)?,
                AnyCycle::Outreach(c) => c.add_funds(a)?,
                AnyCycle::IdeaGeneration(c) => c.add_funds(a)?,
                AnyCycle::Shortlisting(c) => c.add_funds(a)?,
                _ => {
                    return Err(CycleError::NotInThisStep {
                        operation: op,
                        step,
                    });
                }
            },
            C::SetEligibility(e) => self.typed::<Criteria>(op)?.set_eligibility(e),
            C::SetBallotRules(r) => self.typed::<Criteria>(op)?.set_ballot_rules(r),
            C::SetCriteria { criteria } => self.typed::<Criteria>(op)?.set_criteria(criteria),
            C::SetParts { parts } => self.typed::<Criteria>(op)?.set_parts(parts)?,
            C::ReceiveLessons { lessons } => {
                self.typed::<Criteria>(op)?.receive_lessons(lessons)?
            }
            C::BeginOutreach { at } => {
                self.transition(op, |c: Cycle<Criteria>| c.begin_outreach(at))?
            }
            C::RecordOutreach(a) => self.typed::<Outreach>(op)?.record_outreach(a)?,
            C::OpenIdeaGeneration { at } => {
                self.transition(op, |c: Cycle<Outreach>| c.open_idea_generation(at))?;
            }
            C::SubmitIdea(i) => self.typed::<IdeaGeneration>(op)?.submit_idea(i)?,
            C::ReviewIdea { idea } => self.typed::<Shortlisting>(op)?.review_idea(idea)?,
            C::MergeIdea { idea, into } => {
                self.typed::<Shortlisting>(op)?.merge_idea(idea, into)?
            }
            C::RejectIdea { idea, reason } => match self {
                AnyCycle::IdeaGeneration(c) => c.reject_idea(idea, reason)?,
                AnyCycle::Shortlisting(c) => c.reject_idea(idea, reason)?,
                _ => {
                    return Err(CycleError::NotInThisStep {
                        operation: op,
                        step,
                    });
                }
            },
            C::BeginShortlisting { at } => {
                self.transition(op, |c: Cycle<IdeaGeneration>| c.begin_shortlisting(at))?;
            }
            C::ProposeProject(p) => self.typed::<Shortlisting>(op)?.propose_project(p)?,
            C::EstimateCost { project, cost } => {
                self.typed::<Shortlisting>(op)?
                    .estimate_cost(project, cost)?;
            }
            C::AssessFeasibility {
                project,
                feasibility,
            } => self
                .typed::<Shortlisting>(op)?
                .assess_feasibility(project, feasibility)?,
            C::ScoreProject {
                project,
                criterion,
                score,
            } => self
                .typed::<Shortlisting>(op)?
                .score_project(project, criterion, score)?,
            C::AddCoCreator { project, resident } => match self {
                AnyCycle::Shortlisting(c) => c.add_co_creator(project, resident)?,
                AnyCycle::Implementation(c) => c.add_co_creator(project, resident)?,
                _ => {
                    return Err(CycleError::NotInThisStep {
                        operation: op,
                        step,
                    });
                }
            },
            C::WithdrawProject { project, reason } => {
                self.typed::<Shortlisting>(op)?
                    .withdraw_project(project, reason)?;
            }
            C::DeclareExclusion(group) => {
                self.typed::<Shortlisting>(op)?.declare_exclusion(group)?;
            }
            C::OpenVoting { window, at } => {
                self.transition(op, |c: Cycle<Shortlisting>| c.open_voting(window, at))?;
            }
            C::CastBallot(b) => {
                let voting = self.typed::<Voting>(op)?;
                let record = voting.ballot_record(&b, Channel::Digital);
                voting.cast_ballot(b)?;
                return Ok(Some(vec![Event::BallotCast(record)]));
            }
            C::EnterPaperBallots(batch) => {
                let voting = self.typed::<Voting>(op)?;
                let records = voting.check_paper(&batch)?;
                voting.enter_paper_ballots(batch)?;
                return Ok(Some(records.into_iter().map(Event::BallotCast).collect()));
            }
            C::CountParticipation(register) => {
                let counted = match self {
                    AnyCycle::Implementation(c) => c.count_participation(&register)?,
                    AnyCycle::FollowUp(c) => c.count_participation(&register)?,
                    _ => {
                        return Err(CycleError::NotInThisStep {
                            operation: op,
                            step,
                        });
                    }
                };
                return Ok(Some(vec![Event::ParticipationCounted(counted.clone())]));
            }
            C::CloseVoting { at } => {
                let voting = self.typed::<Voting>(op)?;
                let rule = voting.rules().counting().rule.clone();
                let tally = match tally {
                    Some(t) => t,
                    None if rule.is_custom() => return Err(CycleError::UnknownRule { rule }),
                    None => &rule,
                };
                self.transition(op, |c: Cycle<Voting>| c.close_voting(at, tally))?;
                return Ok(self
                    .decision()
                    .cloned()
                    .map(|d| vec![Event::VotingClosed(d)]));
            }
            C::AdjustOutcome(adjustment) => self
                .typed::<Implementation>(op)?
                .adjust_outcome(adjustment)?,
            C::HandOver { project, hand_over } => self
                .typed::<Implementation>(op)?
                .hand_over(project, hand_over)?,
            C::RecordMilestone { project, milestone } => self
                .typed::<Implementation>(op)?
                .record_milestone(project, milestone)?,
            C::RecordProgress { project, progress } => self
                .typed::<Implementation>(op)?
                .record_progress(project, progress)?,
            C::CompleteProject {
                project,
                final_cost,
                at,
            } => self
                .typed::<Implementation>(op)?
                .complete_project(project, final_cost, at)?,
            C::CancelProject {
                project,
                reason,
                spent,
                at,
            } => self
                .typed::<Implementation>(op)?
                .cancel_project(project, reason, spent, at)?,
            C::BeginFollowUp { at } => {
                self.transition(op, |c: Cycle<Implementation>| c.begin_follow_up(at))?;
            }
            C::Close(evaluation) => {
                self.transition(op, |c: Cycle<FollowUp>| c.close(evaluation))?
            }
            C::Abandon { reason, at } => self.abandon(reason, at)?,
        }
        Ok(None)
    }

    /// Applies a command through the typed method of the current stage and
    /// returns the events it produced. A refused command changes nothing.
    ///
    /// Closing the vote counts with the built-in rule named in the ballot rules;
    /// use [`AnyCycle::apply_with_tally`] for a rule of your own.
    ///
    /// # Errors
    /// The rule the command breaks, or [`CycleError::NotInThisStep`].
    pub fn apply(&mut self, command: Command) -> Result<Vec<Event>, CycleError> {
        self.apply_inner(command, None)
    }

    /// Like [`AnyCycle::apply`], counting a vote with `tally` (whose name must be
    /// the rule fixed in step 1).
    ///
    /// # Errors
    /// The rule the command breaks, or [`CycleError::NotInThisStep`].
    pub fn apply_with_tally(
        &mut self,
        command: Command,
        tally: &dyn Tally,
    ) -> Result<Vec<Event>, CycleError> {
        self.apply_inner(command, Some(tally))
    }

    fn apply_inner(
        &mut self,
        command: Command,
        tally: Option<&dyn Tally>,
    ) -> Result<Vec<Event>, CycleError> {
        let record = command.clone();
        Ok(match self.execute(command, tally)? {
            Some(events) => events,
            None => vec![Event::Accepted(record)],
        })
    }

    /// The events `command` would produce, without changing the cycle — the
    /// "decide" half of [`AnyCycle::apply`], for writers that append first and
    /// apply after (see [`crate::store::Repository`]). Ballots are checked in
    /// place; other commands run on a copy (without the ballots, unless counting
    /// or checking recorded follow-up metrics needs them).
    ///
    /// # Errors
    /// What `apply` would refuse.
    pub fn decide(&self, command: &Command) -> Result<Vec<Event>, CycleError> {
        match (self, command) {
            (AnyCycle::Voting(c), Command::CastBallot(b)) => {
                c.check_cast(b)?;
                Ok(vec![Event::BallotCast(
                    c.ballot_record(b, Channel::Digital),
                )])
            }
            (AnyCycle::Voting(c), Command::EnterPaperBallots(batch)) => Ok(c
                .check_paper(batch)?
                .into_iter()
                .map(Event::BallotCast)
                .collect()),
            (
                AnyCycle::Implementation(_) | AnyCycle::FollowUp(_),
                Command::CountParticipation(r),
            ) => Ok(vec![Event::ParticipationCounted(
                self.core().count_participation(r)?,
            )]),
            // Counting reads the ballots.
            (_, Command::CloseVoting { .. }) => self.clone().apply(command.clone()),
            _ => self.without_ballots().apply(command.clone()),
        }
    }

    /// Applies recorded events in order (the "evolve" half of `apply`).
    ///
    /// # Errors
    /// The first event that breaks a rule, with its position in `events`.
    pub fn evolve(&mut self, events: Vec<Event>) -> Result<(), ReplayError> {
        for (index, event) in events.into_iter().enumerate() {
            let name = event.name();
            self.apply_event(event)
                .map_err(|source| ReplayError::Rejected {
                    index,
                    event: name,
                    source,
                })?;
        }
        Ok(())
    }

    /// A copy without the ballots.
    pub(crate) fn without_ballots(&self) -> AnyCycle {
        fn light<S: Stage>(c: &Cycle<S>) -> AnyCycle {
            S::wrap(Cycle {
                core: c.core.clone_without_ballots(),
                stage: c.stage.clone(),
            })
        }
        each_stage!(self, c => light(c))
    }

    /// Applies one recorded event (after the first) through the same rules.
    ///
    /// # Errors
    /// The rule the event breaks.
    ///
    /// Logs written before ballots were recorded without their voter's record
    /// hold accepted `cast_ballot` and `enter_paper_ballots` commands; these
    /// still replay (the record is checked as when the ballot was cast).
    pub fn apply_event(&mut self, event: Event) -> Result<(), CycleError> {
        match event {
            // These commands are recorded as their own events, never as
            // themselves (the register of residents is never stored).
            Event::Accepted(Command::CloseVoting { .. } | Command::CountParticipation(_))
            | Event::CycleStarted(_) => Err(CycleError::NotInThisStep {
                operation: event.name(),
                step: self.step(),
            }),
            Event::Accepted(command) => self.execute(command, None).map(drop),
            Event::VotingClosed(decision) => self
                .transition("voting_closed", |c: Cycle<Voting>| {
                    c.close_with_decision(decision)
                }),
            Event::BallotCast(ballot) => self.typed::<Voting>("ballot_cast")?.record_ballot(ballot),
            Event::ParticipationCounted(p) => match self {
                AnyCycle::Implementation(c) => c.record_participation(p),
                AnyCycle::FollowUp(c) => c.record_participation(p),
                _ => Err(CycleError::NotInThisStep {
                    operation: "participation_counted",
                    step: self.step(),
                }),
            },
        }
    }

    /// Rebuilds a cycle from its events, checking every rule on the way. A stream
    /// that breaks a rule is rejected, naming the event's position and the rule.
    ///
    /// # Errors
    /// [`ReplayError`].
    pub fn replay<I>(events: I) -> Result<AnyCycle, ReplayError>
    where
        I: IntoIterator<Item = Event>,
    {
        let mut events = events.into_iter();
        let mut cycle = match events.next() {
            None => return Err(ReplayError::Empty),
            Some(Event::CycleStarted(setup)) if !setup.rules_version.is_known() => {
                return Err(ReplayError::RulesTooNew {
                    version: setup.rules_version,
                    known: RulesVersion::CURRENT,
                });
            }
            Some(Event::CycleStarted(setup)) => AnyCycle::Criteria(Cycle::new(setup)),
            Some(other) => {
                return Err(ReplayError::Start {
                    index: 0,
                    event: other.name(),
                });
            }
        };
        for (i, event) in events.enumerate() {
            let index = i + 1;
            let name = event.name();
            if matches!(event, Event::CycleStarted(_)) {
                return Err(ReplayError::Start { index, event: name });
            }
            cycle
                .apply_event(event)
                .map_err(|source| ReplayError::Rejected {
                    index,
                    event: name,
                    source,
                })?;
        }
        Ok(cycle)
    }
}

/// What a cycle can do now ([`AnyCycle::available`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Available {
    /// The current step.
    pub step: Step,
    /// The names of the commands the step accepts ([`Step::commands`]).
    pub commands: Vec<&'static str>,
    /// The command that leaves the step (none once the cycle has ended).
    pub way_out: Option<&'static str>,
    /// The conditions of the step's gate still unmet, in the order the way
    /// out checks them.
    pub unmet: Vec<Unmet>,
}

/// A condition of a gate not met: the [`GateError`] (its machine `code` and
/// `details` in JSON) and its English message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Unmet {
    /// The condition.
    #[serde(flatten)]
    pub error: GateError,
    /// Its message in English.
    pub message: String,
}
