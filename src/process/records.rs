//! Records the process keeps: council decisions, money set aside, outreach, the
//! voting window, the funding decision, the evaluation and its lessons.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::area::Area;
use crate::ids::{CycleId, ProgrammeId, ProjectId};
use crate::money::{Currency, Money};
use crate::tally::TieBreaking;
use crate::text::LocalText;

/// What a new cycle is for: its id, year, area and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CycleSetup {
    /// The cycle's id.
    pub id: CycleId,
    /// The programme the cycle belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<ProgrammeId>,
    /// The year the cycle runs.
    pub year: i32,
    /// The district.
    pub area: Area,
    /// The currency of the budget.
    pub currency: Currency,
    /// When step 1 began.
    pub started_at: DateTime<Utc>,
    /// The version of the process rules the cycle runs under, for its whole
    /// life: a log is replayed under the rules it was written with. New cycles
    /// take [`RulesVersion::CURRENT`]; logs written before versions were
    /// recorded read as [`RulesVersion::FIRST`].
    #[serde(default = "RulesVersion::first")]
    pub rules_version: RulesVersion,
}

/// A version of the process rules (the gates and checks of the seven steps and
/// of the programme). A change to a rule that could refuse what an earlier
/// version accepted, or accept what it refused, comes with a new version; the
/// rules keep the earlier behaviour for cycles of earlier versions, so stored
/// logs replay as they were written (DESIGN.md, "Changing a rule").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct RulesVersion(pub u32);

impl RulesVersion {
    /// The first version: the rules of every log written before versions were
    /// recorded.
    pub const FIRST: RulesVersion = RulesVersion(1);
    /// The rules this build applies to new cycles.
    ///
    /// * 1: the first rules.
    /// * 2: equal shares with add1 raises each voter's money by one whole
    ///   currency unit per run, not one minor unit, so that a cycle counts as
    ///   its `.pb` export does ([`Cycle::election`](crate::process::Cycle::election)).
    pub const CURRENT: RulesVersion = RulesVersion(2);

    fn first() -> RulesVersion {
        RulesVersion::FIRST
    }

    /// Whether this build knows these rules (versions from
    /// [`RulesVersion::FIRST`] to [`RulesVersion::CURRENT`]).
    pub fn is_known(self) -> bool {
        (RulesVersion::FIRST..=RulesVersion::CURRENT).contains(&self)
    }
}

impl std::fmt::Display for RulesVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A council decision that sets money aside (beslut i fullmäktige eller nämnd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CouncilDecision {
    /// The body that decided (`Kommunfullmäktige`, `Stadsdelsnämnden Angered`).
    pub body: String,
    /// The decision's reference (`KF § 123/2026`).
    pub reference: String,
    /// The day of the decision.
    pub decided_on: NaiveDate,
}

impl CouncilDecision {
    /// The first part a decision on the record needs and lacks: `"the deciding
    /// body"` or `"the decision's reference"` (blank text counts as missing).
    pub fn missing(&self) -> Option<&'static str> {
        if self.body.trim().is_empty() {
            Some("the deciding body")
        } else if self.reference.trim().is_empty() {
            Some("the decision's reference")
        } else {
            None
        }
    }
}

/// Where money set aside for a cycle comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FundingSource {
    /// A council allocation.
    Council,
    /// Money left unspent by an earlier year's cycle of the programme.
    CarryOver {
        /// The year it comes from.
        from_year: i32,
    },
}

/// Money set aside for a cycle, with the decision behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// The amount (positive).
    pub amount: Money,
    /// The decision.
    pub decision: CouncilDecision,
    /// Where it comes from.
    pub source: FundingSource,
    /// The budget part it is for, in a cycle of several
    /// ([`crate::part`]); `None` for a cycle of one budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<crate::part::PartId>,
}

/// A channel used to reach residents in step 2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutreachChannel {
    /// Knocking on doors, talking in the street.
    DoorToDoor,
    /// A public meeting or dialogue evening.
    Meeting,
    /// Schools and youth centres.
    School,
    /// Associations, religious communities, sports clubs.
    Associations,
    /// Posters, leaflets, local papers.
    Print,
    /// Social media and the municipality's web site.
    Digital,
    /// Anything else, described.
    Other(String),
}

/// One outreach activity (step 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OutreachActivity {
    /// The channel.
    pub channel: OutreachChannel,
    /// What was done.
    pub description: String,
    /// Languages used, as BCP 47 tags (`sv`, `ar`, `so`); at least one.
    pub languages: Vec<String>,
    /// Estimated number of people reached.
    pub people_reached: u32,
    /// When it took place.
    pub held_on: NaiveDate,
    /// The population groups it was aimed at, from the area's breakdown
    /// (none: everyone). Follow-up sets, for each group, the contacts made
    /// by the activities aimed at it beside its ideas and its voters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<TargetGroup>,
}

/// A population group an outreach activity is aimed at: a group of one of
/// the area's breakdowns (`age` → `12-17`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// The dimension (`age`, `language`).
    pub dimension: String,
    /// The group within it.
    pub group: String,
}

impl TargetGroup {
    /// The group `group` of `dimension`.
    pub fn new(dimension: impl Into<String>, group: impl Into<String>) -> TargetGroup {
        TargetGroup {
            dimension: dimension.into(),
            group: group.into(),
        }
    }
}

/// When ballots may be cast: from `opens` (inclusive) to `closes` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VotingWindow {
    /// First instant a ballot may be cast.
    pub opens: DateTime<Utc>,
    /// First instant a ballot may no longer be cast.
    pub closes: DateTime<Utc>,
}

impl VotingWindow {
    /// Whether `at` lies in the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.opens <= at && at < self.closes
    }
}

/// A project's score under the counting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectScore {
    /// The project.
    pub project: ProjectId,
    /// Approvals, points or the rule's own measure.
    pub score: u64,
}

/// The result of the vote, as recorded when voting closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FundingDecision {
    /// The counting rule.
    pub rule: String,
    /// The tie-breaking used.
    pub tie_breaking: TieBreaking,
    /// Funded projects in the order the rule chose them.
    pub funded: Vec<ProjectId>,
    /// Their total cost.
    pub total_cost: Money,
    /// The budget they were chosen within.
    pub budget: Money,
    /// Each project's score, in shortlist order.
    pub scores: Vec<ProjectScore>,
    /// Number of ballots counted.
    pub ballots_counted: u64,
    /// When voting was closed and counted.
    pub decided_at: DateTime<Utc>,
    /// Projects on the ballot the count left out, and why: too few votes for
    /// the ballot rules' minimum, or a project of the same exclusion group
    /// chosen first. Empty for a cycle without either rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<SetAside>,
    /// In a cycle of several budget parts, each part's outcome in the order
    /// of the parts (`funded` is theirs one after the other); empty for a
    /// cycle of one budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartOutcome>,
}

/// One budget part's outcome, in a cycle of several
/// ([`FundingDecision::parts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PartOutcome {
    /// The part.
    pub part: crate::part::PartId,
    /// Its funded projects, in the order the rule chose them.
    pub funded: Vec<ProjectId>,
    /// Their total cost.
    pub total_cost: Money,
    /// The part's money.
    pub budget: Money,
    /// The part's ballots.
    pub ballots_counted: u64,
}

/// A project the count left out ([`FundingDecision::set_aside`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetAside {
    /// The project.
    pub project: ProjectId,
    /// Why.
    pub reason: SetAsideReason,
}

/// Why the count left a project out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum SetAsideReason {
    /// Fewer ballots chose it than the ballot rules' minimum
    /// ([`BallotRules::minimum_votes`](crate::ballot::BallotRules::minimum_votes)).
    TooFewVotes {
        /// Ballots that chose it.
        votes: u64,
        /// The minimum.
        minimum: u32,
    },
    /// The rule chose `chosen`, of an exclusion group it shares, first.
    Excluded {
        /// The project of the group the rule chose first.
        chosen: ProjectId,
    },
}

/// Projects that exclude each other: at most one of them is funded (two
/// designs for the same square, two sites for one playground). Declared in
/// step 4, when the projects exist, and respected by the count and by a
/// council's adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExclusionGroup {
    /// The projects (at least two, each once).
    pub projects: Vec<ProjectId>,
    /// Why they exclude each other.
    pub reason: String,
}

/// A council's change to the counted outcome (step 6), on the record beside
/// the count it changes: projects added or removed, why, the decision behind
/// it, and money the decision adds to the cycle's budget, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// Projects of the ballot the council funds beyond the count.
    #[serde(default)]
    pub add: Vec<ProjectId>,
    /// Funded projects the council does not fund after all (before any work
    /// on them is recorded).
    #[serde(default)]
    pub remove: Vec<ProjectId>,
    /// Why.
    pub reason: String,
    /// The decision (body, reference, day).
    pub decision: CouncilDecision,
    /// Money the decision adds to the cycle's budget (zero if none): the
    /// funded projects must fit the budget plus every adjustment's addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raises_budget_by: Option<Money>,
    /// In a cycle of several budget parts, the part the raise goes to (by
    /// default the one city-wide part, [`crate::part::destination`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<crate::part::PartId>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// The evaluation that closes a cycle (step 7): what the people running it
/// decided to record. The follow-up figures are not part of it: they are
/// computed from the cycle whenever they are needed
/// ([`CycleMetrics::of`](crate::followup::CycleMetrics::of)), so a log never
/// holds a second copy of them that could disagree. What the municipality
/// published may be pinned by its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "RawEvaluation")]
pub struct Evaluation {
    /// What was learnt, for next year's criteria step (at least one).
    pub lessons: Vec<LocalText>,
    /// A summary of the follow-up: turnout, who took part, what was delivered.
    pub summary: LocalText,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The digest of the follow-up figures as published
    /// ([`CycleMetrics::digest`](crate::followup::CycleMetrics::digest)), if
    /// they were: anyone can check the published figures against the cycle
    /// ([`CycleMetrics::published`](crate::followup::CycleMetrics::published))
    /// without the log keeping the figures themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<FiguresDigest>,
}

/// An [`Evaluation`] as stored. Logs written before the figures were computed
/// on demand hold them whole, as `metrics`; they load as their digest.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawEvaluation {
    lessons: Vec<LocalText>,
    summary: LocalText,
    recorded_at: DateTime<Utc>,
    #[serde(default)]
    figures: Option<FiguresDigest>,
    #[serde(default)]
    metrics: Option<serde_json::Value>,
}

impl TryFrom<RawEvaluation> for Evaluation {
    type Error = String;

    fn try_from(raw: RawEvaluation) -> Result<Evaluation, String> {
        let figures = match (raw.figures, raw.metrics) {
            (Some(_), Some(_)) => {
                return Err("an evaluation holds figures or metrics, not both".into());
            }
            (Some(d), None) => Some(d),
            (None, Some(metrics)) => Some(FiguresDigest::of_json(&metrics)),
            (None, None) => None,
        };
        Ok(Evaluation {
            lessons: raw.lessons,
            summary: raw.summary,
            recorded_at: raw.recorded_at,
            figures,
        })
    }
}

/// A SHA-256 digest of published follow-up figures, over their JSON with keys
/// in order (serialised as 64 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiguresDigest(pub [u8; 32]);

impl FiguresDigest {
    /// The digest of figures as JSON: SHA-256 over a domain tag and the JSON
    /// text with every object's keys sorted, so the same figures give the same
    /// digest however they were written.
    pub fn of_json(figures: &serde_json::Value) -> FiguresDigest {
        use sha2::{Digest, Sha256};
        fn canonical(v: &serde_json::Value) -> serde_json::Value {
            match v {
                serde_json::Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    serde_json::Value::Object(
                        keys.into_iter()
                            .map(|k| (k.clone(), canonical(&map[k])))
                            .collect(),
                    )
                }
                serde_json::Value::Array(items) => {
                    serde_json::Value::Array(items.iter().map(canonical).collect())
                }
                other => other.clone(),
            }
        }
        let mut h = Sha256::new();
        h.update(b"medborgarbudget/figures/1\0");
        h.update(canonical(figures).to_string().as_bytes());
        FiguresDigest(h.finalize().into())
    }
}

impl std::fmt::Display for FiguresDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for FiguresDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FiguresDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FiguresDigest, D::Error> {
        let text = String::deserialize(d)?;
        crate::store::hex_array::<32>(&text)
            .map(FiguresDigest)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("a figures digest is 64 hex digits, not {text:?}"))
            })
    }
}

/// A lesson from a closed year, available to later years' criteria step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    /// The year it was learnt.
    pub year: i32,
    /// The lesson.
    pub text: LocalText,
}

/// The smallest number of voters a published group count may hold by default
/// (see [`Participation`]).
pub const MIN_CELL: u32 = 5;

fn default_min_cell() -> u32 {
    MIN_CELL
}

/// The residents' register that participation by group is counted from, once
/// the vote is counted (see [`Command::CountParticipation`](super::Command::CountParticipation)).
///
/// Ballots keep no record of their voter, so who took part by group is counted
/// here instead: each resident of the register whose id (pseudonymised, through
/// a [`Repository`](crate::store::Repository), like the ballots) matches a
/// ballot counts for their groups. The register itself is not stored; only the
/// counts are, with cells under `min_cell` suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VoterRegister {
    /// The residents, with their groups by dimension (as the area's breakdown
    /// names them).
    pub residents: Vec<crate::area::Resident>,
    /// Counts under this many voters are not published (default
    /// [`MIN_CELL`]; at least 1).
    #[serde(default = "default_min_cell")]
    pub min_cell: u32,
}

impl VoterRegister {
    /// A register with the default minimum cell size.
    pub fn new(residents: Vec<crate::area::Resident>) -> VoterRegister {
        VoterRegister {
            residents,
            min_cell: MIN_CELL,
        }
    }
}

/// How many voters of one group took part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupCount {
    /// The dimension (`age`, `language`).
    pub dimension: String,
    /// The group.
    pub group: String,
    /// Voters of the group; `None` when suppressed: more than none but fewer
    /// than the minimum cell size, or the cell chosen to hide such a cell when
    /// it is the only one in its dimension (so that it cannot be worked out
    /// from the total). A group nobody of which voted shows 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<u64>,
}

/// Who took part, by group of the area's breakdown, counted from a
/// [`VoterRegister`] after the vote: only aggregates are kept, and counts of
/// one to `min_cell − 1` voters are suppressed. Zero is published: it names
/// no voter, and groups that cannot vote (children under the minimum age)
/// would otherwise hide a neighbour's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Participation {
    /// The minimum cell size applied.
    pub min_cell: u32,
    /// One count per group of the area's breakdown, in its order.
    pub groups: Vec<GroupCount>,
}

impl Participation {
    /// Counts per group of `area`'s breakdown from `voters_in`, a function
    /// giving the number of voters in a (dimension, group), then suppresses:
    /// every count from 1 to `min_cell − 1`, and in a dimension where that
    /// leaves exactly one count suppressed, also a second one — the smallest
    /// published count of at least `min_cell`, or if there is none, the
    /// smallest other count — so that the total does not give it away.
    pub(crate) fn suppressed(
        area: &Area,
        min_cell: u32,
        voters_in: impl Fn(&str, &str) -> u64,
    ) -> Participation {
        let mut groups = Vec::new();
        for breakdown in area.breakdown() {
            let start = groups.len();
            for g in &breakdown.groups {
                let n = voters_in(&breakdown.dimension, &g.name);
                groups.push(GroupCount {
                    dimension: breakdown.dimension.clone(),
                    group: g.name.clone(),
                    voters: (n == 0 || n >= u64::from(min_cell)).then_some(n),
                });
            }
            let cells = &mut groups[start..];
            if cells.iter().filter(|c| c.voters.is_none()).count() == 1 {
                let large = cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.voters.is_some_and(|n| n >= u64::from(min_cell)))
                    .min_by_key(|(_, c)| c.voters)
                    .map(|(i, _)| i);
                let any = cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.voters.is_some())
                    .min_by_key(|(_, c)| c.voters)
                    .map(|(i, _)| i);
                if let Some(cell) = large.or(any).and_then(|i| cells.get_mut(i)) {
                    cell.voters = None;
                }
            }
        }
        Participation { min_cell, groups }
    }

    /// Checks a recorded count against `area` and the number of `ballots`: the
    /// breakdown's groups in order, no published count under `min_cell` or above
    /// the ballots, no dimension whose counts add up to more than the ballots,
    /// and never exactly one suppressed count in a dimension.
    pub(crate) fn check(&self, area: &Area, ballots: u64) -> Result<(), String> {
        if self.min_cell == 0 {
            return Err("the minimum cell size is 0".into());
        }
        let expected: Vec<(&str, &str)> = area
            .breakdown()
            .iter()
            .flat_map(|b| {
                b.groups
                    .iter()
                    .map(|g| (b.dimension.as_str(), g.name.as_str()))
            })
            .collect();
        let found: Vec<(&str, &str)> = self
            .groups
            .iter()
            .map(|g| (g.dimension.as_str(), g.group.as_str()))
            .collect();
        if expected != found {
            return Err("the groups are not the area's breakdown".into());
        }
        for b in area.breakdown() {
            let cells: Vec<&GroupCount> = self
                .groups
                .iter()
                .filter(|g| g.dimension == b.dimension)
                .collect();
            let published: u64 = cells.iter().filter_map(|c| c.voters).sum();
            if published > ballots {
                return Err(format!(
                    "dimension {} counts {published} voters, more than the {ballots} ballots",
                    b.dimension
                ));
            }
            if let Some(c) = cells.iter().find(|c| {
                c.voters
                    .is_some_and(|n| n > 0 && n < u64::from(self.min_cell))
            }) {
                return Err(format!(
                    "{}={} is published with fewer than {} voters",
                    c.dimension, c.group, self.min_cell
                ));
            }
            if cells.len() > 1 && cells.iter().filter(|c| c.voters.is_none()).count() == 1 {
                return Err(format!(
                    "dimension {} has exactly one suppressed count, which its total reveals",
                    b.dimension
                ));
            }
        }
        Ok(())
    }
}

#[cfg(feature = "schema")]
schema_by_hand!(FiguresDigest, "FiguresDigest", {
    "description": "A SHA-256 digest of published figures, as 64 hex digits",
    "type": "string",
    "pattern": "^[0-9a-f]{64}$"
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AreaId;

    fn area() -> Area {
        Area::new(AreaId::from_u128(1), "Hjällbo", 10_000)
            .and_then(|a| {
                a.with_breakdown(
                    "age",
                    [
                        ("0-11", 1_000),
                        ("12-17", 900),
                        ("18-64", 5_000),
                        ("65+", 2_000),
                    ],
                )
            })
            .and_then(|a| a.with_breakdown("language", [("sv", 5_000), ("so", 900)]))
            .unwrap()
    }

    fn counted(age: [u64; 4], language: [u64; 2]) -> Vec<Option<u64>> {
        let area = area();
        let names = ["0-11", "12-17", "18-64", "65+"];
        let p = Participation::suppressed(&area, 5, |d, g| match d {
            "age" => names.iter().position(|n| *n == g).map_or(0, |i| age[i]),
            _ => language[usize::from(g == "so")],
        });
        assert_eq!(p.check(&area, 1_000), Ok(()));
        p.groups.iter().map(|g| g.voters).collect()
    }

    #[test]
    fn small_counts_are_suppressed_and_cannot_be_worked_out() {
        // 3 teenagers: suppressed, and with it the smallest count of at least 5
        // (77), so that the total does not give the 3 away; nobody under 12
        // voted, which is shown.
        assert_eq!(
            counted([0, 3, 262, 77], [300, 40]),
            [Some(0), None, Some(262), None, Some(300), Some(40)]
        );
        // Two small counts hide each other.
        assert_eq!(
            counted([0, 2, 4, 300], [1, 2]),
            [Some(0), None, None, Some(300), None, None]
        );
        // A lone small count beside zeros only: a zero goes with it.
        assert_eq!(
            counted([0, 0, 3, 0], [0, 0]),
            [None, Some(0), None, Some(0), Some(0), Some(0)]
        );
        // Nothing to hide.
        assert_eq!(
            counted([0, 5, 6, 7], [8, 9]),
            [Some(0), Some(5), Some(6), Some(7), Some(8), Some(9)]
        );
    }

    #[test]
    fn recorded_counts_are_checked() {
        let area = area();
        let good = Participation::suppressed(&area, 5, |_, g| if g == "12-17" { 3 } else { 50 });
        assert_eq!(good.check(&area, 1_000), Ok(()));
        let mut small = good.clone();
        small.groups[1].voters = Some(3);
        assert!(
            small
                .check(&area, 1_000)
                .unwrap_err()
                .contains("fewer than 5")
        );
        let mut one = good.clone();
        for g in one.groups.iter_mut().filter(|g| g.dimension == "age") {
            g.voters = Some(50);
        }
        one.groups[0].voters = None;
        assert!(
            one.check(&area, 1_000)
                .unwrap_err()
                .contains("exactly one suppressed")
        );
        assert!(
            good.check(&area, 60)
                .unwrap_err()
                .contains("more than the 60 ballots")
        );
        let mut renamed = good.clone();
        renamed.groups[0].group = "0-10".into();
        assert!(
            renamed
                .check(&area, 1_000)
                .unwrap_err()
                .contains("breakdown")
        );
        let zero = Participation {
            min_cell: 0,
            ..good
        };
        assert!(zero.check(&area, 1_000).is_err());
    }
}
