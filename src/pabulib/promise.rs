//! What a file's META promises about its votes and projects, and the rows that
//! break those promises.
//!
//! The reader gives every `VOTES` row, once its ids are read and repeats merged,
//! to an [`Inspector`], which checks it against the promises read from META and
//! says whether the row is counted. Everything it does per row is linear in the
//! row's entries (per-category sums touch only the categories of the voted
//! projects), and voter ids are looked up in a table or a keyed hash map.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;

use super::error::{PbError, PbErrorKind};
use super::read::Amount;
use super::{PbFile, PbProject, VoteType};

/// Most problems [`Checked::problems`] lists; [`Checked::total`] counts them all.
pub const PROBLEMS_LISTED: usize = 1000;

/// What the reader does with a row that breaks a promise of META (a voter id used
/// twice, a vote longer than `max_length`, …; see [`ProblemKind`]).
///
/// ```
/// use medborgarbudget::pabulib::{self, OnProblem, ParseOptions, PbErrorKind, ProblemKind};
///
/// let text = b"META\nkey;value\nbudget;10\nvote_type;choose-1\n\
///              PROJECTS\nproject_id;cost\n1;5\n2;5\n\
///              VOTES\nvoter_id;vote\n1;1\n2;1,2\n2;2\n";
/// // Strict (the default): the first problem is an error.
/// let err = pabulib::parse(text).unwrap_err();
/// assert_eq!(err.line, 12);
/// assert!(matches!(err.kind, PbErrorKind::Problem(ProblemKind::NotOneChoice { found: 2 })));
///
/// // Counted as written: three voters.
/// let count = ParseOptions::default().on_problem(OnProblem::Count);
/// assert_eq!(pabulib::parse_with(text, count)?.num_voters(), 3);
///
/// // Rows with a problem left out: line 12 (two choices) and line 13 (voter 2
/// // again) are not counted.
/// let skip = ParseOptions::default().on_problem(OnProblem::Skip);
/// assert_eq!(pabulib::parse_with(text, skip)?.num_voters(), 1);
///
/// // `check` lists every problem.
/// let checked = pabulib::check(text, count);
/// assert_eq!(checked.total, 2);
/// assert_eq!(checked.problems[1].to_string(), "line 13: voter id \"2\" was already used on line 12");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnProblem {
    /// The first problem is an error, [`PbErrorKind::Problem`] at its line.
    #[default]
    Refuse,
    /// Every row is counted as written. A project named twice in one vote counts
    /// once (a ranking keeps its first place; points add up), as
    /// [`ParseOptions::merge_repeats`](super::ParseOptions::merge_repeats) does.
    /// Only a row that cannot be counted at all — a project's points adding up
    /// past 32 bits — is still an error.
    Count,
    /// A `VOTES` row with a problem is left out (of a voter id used twice, every
    /// row after the first). Problems that are not about a vote (META counts, a
    /// project's cost, `fully_funded`) change nothing and are only listed.
    Skip,
}

/// One broken promise: the line it is on and what is wrong.
///
/// Displays as `line N: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line: the `VOTES` or `PROJECTS` row, or the META line of the
    /// promise for problems about the whole file.
    pub line: usize,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

/// A promise of the format or of META that the file breaks.
///
/// Bounds are META values as written (`bound`), named by their key (`key`:
/// `min_length`, `max_sum_points`, …); a `min_…` key is broken by less, a
/// `max_…` key by more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A voter id that an earlier row already used (`voter_id` identifies a voter).
    #[error("voter id {id:?} was already used on line {first_line}")]
    RepeatedVoter {
        /// The id.
        id: String,
        /// The row that used it first (saturating at 4294967295).
        first_line: usize,
    },
    /// A vote naming the same project twice (reported unless
    /// [`ParseOptions::merge_repeats`](super::ParseOptions::merge_repeats)).
    #[error("a vote names project {id:?} twice")]
    RepeatedProject {
        /// The project id.
        id: String,
    },
    /// A project whose points in one vote add up (over its repeats) past
    /// 4294967295, which 32 bits cannot hold. The row cannot be counted.
    #[error(
        "the points of project {id:?} in this vote add up to more than 4294967295, \
         which 32 bits cannot hold"
    )]
    PointsOverflow {
        /// The project id.
        id: String,
    },
    /// A `choose-1` vote that does not name exactly one project.
    #[error("a choose-1 vote names exactly one project; this one names {found}")]
    NotOneChoice {
        /// Projects named.
        found: usize,
    },
    /// A vote naming fewer projects than `min_length` or more than `max_length`
    /// (for points, projects given more than 0 points).
    #[error(
        "the vote names {found} projects, {} META {key} {bound}",
        relation(key)
    )]
    Length {
        /// Projects named.
        found: usize,
        /// `min_length` or `max_length`.
        key: &'static str,
        /// The META value.
        bound: String,
    },
    /// A project given fewer points than `min_points` or more than `max_points`.
    #[error(
        "project {id:?} gets {points} points, {} META {key} {bound}",
        relation(key)
    )]
    Points {
        /// The project id.
        id: String,
        /// Its points.
        points: u32,
        /// `min_points` or `max_points`.
        key: &'static str,
        /// The META value.
        bound: String,
    },
    /// A vote whose points add up to less than `min_sum_points` or more than
    /// `max_sum_points`.
    #[error(
        "the vote gives {sum} points in all, {} META {key} {bound}",
        relation(key)
    )]
    PointsSum {
        /// The points given.
        sum: u64,
        /// `min_sum_points` or `max_sum_points`.
        key: &'static str,
        /// The META value.
        bound: String,
    },
    /// A vote whose projects cost less than `min_sum_cost` or more than
    /// `max_sum_cost` together.
    #[error(
        "the vote's projects cost {cost} together, {} META {key} {bound}",
        relation(key)
    )]
    Cost {
        /// Their cost, in the file's units.
        cost: String,
        /// `min_sum_cost` or `max_sum_cost`.
        key: &'static str,
        /// The META value.
        bound: String,
    },
    /// A vote naming fewer or more projects of a category than
    /// `min_length_per_category` or `max_length_per_category` allow.
    #[error(
        "the vote names {found} projects of category {category:?}, {} META {key} {bound}",
        relation(key)
    )]
    CategoryLength {
        /// The category, as META `categories` names it.
        category: String,
        /// Projects of that category named.
        found: usize,
        /// `min_length_per_category` or `max_length_per_category`.
        key: &'static str,
        /// The category's value in the META list.
        bound: String,
    },
    /// A vote whose projects of a category cost less or more together than
    /// `min_sum_cost_per_category` or `max_sum_cost_per_category` allow.
    #[error(
        "the vote's projects of category {category:?} cost {cost} together, {} META {key} {bound}",
        relation(key)
    )]
    CategoryCost {
        /// The category, as META `categories` names it.
        category: String,
        /// Their cost, in the file's units.
        cost: String,
        /// `min_sum_cost_per_category` or `max_sum_cost_per_category`.
        key: &'static str,
        /// The category's value in the META list.
        bound: String,
    },
    /// A project costing less than `min_project_cost` or more than
    /// `max_project_cost`.
    #[error("project {id:?} costs {cost}, {} META {key} {bound}", relation(key))]
    ProjectCost {
        /// The project id.
        id: String,
        /// Its cost as written.
        cost: String,
        /// `min_project_cost` or `max_project_cost`.
        key: &'static str,
        /// The META value.
        bound: String,
    },
    /// META `num_projects` or `num_votes` that is not the number of rows of its
    /// section.
    #[error("META {key} is {stated} but {section} has {found} rows")]
    CountMismatch {
        /// `num_projects` or `num_votes`.
        key: &'static str,
        /// The META value.
        stated: String,
        /// `PROJECTS` or `VOTES`.
        section: &'static str,
        /// Rows in that section.
        found: u64,
    },
    /// META `fully_funded` is 1, but the projects cost more than the budget.
    #[error(
        "META fully_funded is 1, but the projects cost {total} together, more than the budget {budget}"
    )]
    NotFullyFunded {
        /// The projects' cost, in the file's units.
        total: String,
        /// The budget as written.
        budget: String,
    },
}

impl ProblemKind {
    /// Whether the problem is about one `VOTES` row (which
    /// [`OnProblem::Skip`] leaves out), rather than about META or a project.
    pub fn is_about_a_vote(&self) -> bool {
        !matches!(
            self,
            ProblemKind::ProjectCost { .. }
                | ProblemKind::CountMismatch { .. }
                | ProblemKind::NotFullyFunded { .. }
        )
    }
}

/// "below" for a `min_…` key, "above" for a `max_…` key.
fn relation(key: &str) -> &'static str {
    if key.starts_with("min") {
        "below"
    } else {
        "above"
    }
}

/// A file checked: what the reader made of it and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What [`parse_with`](super::parse_with) returns for the same bytes and
    /// options: the file, or the first error (with [`OnProblem::Refuse`], the
    /// first problem is that error).
    pub file: Result<PbFile, PbError>,
    /// The problems found, in line order: the first [`PROBLEMS_LISTED`] found.
    /// Reading stops at an error that is not a problem (a malformed row), so
    /// problems after it are not found.
    pub problems: Vec<Problem>,
    /// How many problems were found, listed or not.
    pub total: u64,
}

impl Checked {
    /// The error that stopped the reader, if it is not one of the
    /// [`problems`](Checked::problems) (a malformed file rather than a broken
    /// promise).
    pub fn read_error(&self) -> Option<&PbError> {
        self.file
            .as_ref()
            .err()
            .filter(|e| !matches!(e.kind, PbErrorKind::Problem(_)))
    }
}

// ---------------------------------------------------------------------------
// Bounds

/// A META bound in whole units (of points, projects, or the file's scaled
/// money), rounded so that comparing integers is exact: a minimum rounded up,
/// a maximum down.
#[derive(Debug, Clone)]
struct Limit {
    key: &'static str,
    /// A `max_…` key (else `min_…`).
    is_max: bool,
    units: i128,
    /// As written, for messages.
    text: String,
}

impl Limit {
    /// Reads `text` (a decimal, possibly negative) in units of `10^-decimals`.
    fn read(key: &'static str, text: &str, decimals: u32) -> Option<Limit> {
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let amount = Amount::parse(digits, key).ok()?;
        let is_max = key.starts_with("max");
        // A negative maximum rounds toward −∞ as its magnitude rounds up.
        let (whole, rest) = amount.split(decimals);
        let round_up = if negative { is_max } else { !is_max };
        let magnitude = whole.saturating_add(u128::from(round_up && rest));
        let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
        Some(Limit {
            key,
            is_max,
            units: if negative { -magnitude } else { magnitude },
            text: t.to_owned(),
        })
    }

    /// Whether `value` breaks the bound.
    #[inline]
    fn broken_by(&self, value: i128) -> bool {
        if self.is_max {
            value > self.units
        } else {
            value < self.units
        }
    }
}

/// An optional minimum and maximum.
#[derive(Debug, Clone)]
struct Bounds {
    min: Option<Limit>,
    max: Option<Limit>,
    /// The least and most values allowed (`i128::MIN` and `i128::MAX` when
    /// unbounded), for the check every row makes.
    lo: i128,
    hi: i128,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds::new(None, None)
    }
}

impl Bounds {
    fn new(min: Option<Limit>, max: Option<Limit>) -> Bounds {
        Bounds {
            lo: min.as_ref().map_or(i128::MIN, |l| l.units),
            hi: max.as_ref().map_or(i128::MAX, |l| l.units),
            min,
            max,
        }
    }

    fn is_set(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }

    /// The bound `value` breaks, if any.
    #[inline(always)]
    fn broken(&self, value: i128) -> Option<&Limit> {
        if value >= self.lo && value <= self.hi {
            None
        } else if value < self.lo {
            self.min.as_ref()
        } else {
            self.max.as_ref()
        }
    }
}

/// `units` scaled by `scale` as a decimal without trailing zeros, for messages.
fn money(units: u128, scale: u64) -> String {
    let scale = u128::from(scale.max(1));
    let (whole, fraction) = (units / scale, units % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let text = format!("{whole}.{fraction:0digits$}");
    text.trim_end_matches('0').to_owned()
}

// ---------------------------------------------------------------------------
// META

/// A META value the promises read, with its line.
pub(super) struct MetaValue<'m> {
    pub(super) key: &'m str,
    pub(super) value: &'m str,
    pub(super) line: usize,
}

/// The promises of a file, read from META once the projects are known.
#[derive(Debug, Default)]
pub(super) struct Promises {
    choose1: bool,
    length: Bounds,
    points: Bounds,
    sum_points: Bounds,
    cost: Bounds,
    categories: Option<Categories>,
    /// META `num_votes`: its line and value.
    num_votes: Option<(usize, u64, String)>,
    /// Project costs in the file's scaled units.
    costs: Vec<u64>,
    scale: u64,
    /// Whether any promise is about points, cost or categories.
    beyond_length: bool,
}

/// A row's ballot as the inspector sees it, repeats merged.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ballot<'b> {
    /// Project indices: sorted for approval, best first for rankings.
    Listed(&'b [u32]),
    /// Projects (sorted) with their points, zeros kept.
    Points(&'b [(u32, u32)]),
}

impl<'b> Ballot<'b> {
    /// The projects chosen: for points, those given more than 0.
    fn chosen(self) -> impl Iterator<Item = u32> + 'b {
        let (listed, points): (&[u32], &[(u32, u32)]) = match self {
            Ballot::Listed(b) => (b, &[]),
            Ballot::Points(e) => (&[], e),
        };
        listed
            .iter()
            .copied()
            .chain(points.iter().filter(|e| e.1 > 0).map(|e| e.0))
    }
}

/// Most categories META `categories` may list when per-category promises are
/// made: a vote's row then costs at most this many sums per voted project.
const MAX_CATEGORIES: usize = 256;

/// Per-category promises.
#[derive(Debug)]
struct Categories {
    names: Vec<String>,
    /// Categories of project `p`: `of_project[starts[p]..starts[p + 1]]`.
    starts: Vec<usize>,
    of_project: Vec<u32>,
    /// Per category (index aligned with `names`), each possibly absent.
    length: PerCategory,
    cost: PerCategory,
    /// Categories with a minimum above 0 (sorted), for the length and the cost.
    need_length: Vec<u32>,
    need_cost: Vec<u32>,
    /// Scratch per row: projects and cost per category, and which were touched.
    count: Vec<u32>,
    spent: Vec<u128>,
    touched: Vec<u32>,
}

#[derive(Debug, Default)]
struct PerCategory {
    min: Vec<Limit>,
    max: Vec<Limit>,
}

/// Why META could not be read as promises.
fn invalid(key: &'static str, found: &str, expected: &'static str, line: usize) -> PbError {
    PbError::new(
        line,
        PbErrorKind::InvalidMetaValue {
            key,
            found: found.to_owned(),
            expected,
        },
    )
}

impl Promises {
    /// Reads the promises of `meta` about `projects` (rows on `project_lines`),
    /// whose costs are in units of `1/scale`. Problems about META or the projects
    /// go to `inspector`.
    ///
    /// Keys read: `num_projects`, `num_votes`, `min_length`, `max_length`,
    /// `min_sum_cost`, `max_sum_cost`, `min_project_cost`, `max_project_cost`,
    /// `fully_funded`, `categories` with `min_length_per_category`,
    /// `max_length_per_category`, `min_sum_cost_per_category` and
    /// `max_sum_cost_per_category`; for points ballots also `min_points`,
    /// `max_points`, `min_sum_points` and `max_sum_points`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn read(
        meta: &[MetaValue<'_>],
        vote_type: VoteType,
        projects: &[PbProject],
        project_lines: &[usize],
        cost_column: usize,
        category_column: Option<usize>,
        scale: u64,
        budget: u64,
        budget_text: &str,
        inspector: &mut Inspector<'_>,
    ) -> Result<Promises, PbError> {
        let find = |key: &str| meta.iter().find(|m| m.key == key);
        let decimals = scale.max(1).ilog10();
        let bound = |key: &'static str, decimals: u32| -> Result<Option<Limit>, PbError> {
            match find(key) {
                None => Ok(None),
                Some(m) => Limit::read(key, m.value, decimals)
                    .map(Some)
                    .ok_or_else(|| invalid(key, m.value, "a number", m.line)),
            }
        };
        let bounds = |min: &'static str, max: &'static str, decimals: u32| {
            Ok::<_, PbError>(Bounds::new(bound(min, decimals)?, bound(max, decimals)?))
        };
        let points = vote_type.profile_kind() == crate::tally::ProfileKind::Points;
        let mut promises = Promises {
            choose1: vote_type == VoteType::Choose1,
            length: bounds("min_length", "max_length", 0)?,
            cost: bounds("min_sum_cost", "max_sum_cost", decimals)?,
            costs: projects.iter().map(|p| p.cost).collect(),
            scale,
            ..Promises::default()
        };
        if points {
            promises.points = bounds("min_points", "max_points", 0)?;
            promises.sum_points = bounds("min_sum_points", "max_sum_points", 0)?;
        }

        let whole = |key: &'static str| -> Result<Option<(usize, u64, String)>, PbError> {
            match find(key) {
                None => Ok(None),
                Some(m) => m
                    .value
                    .trim()
                    .parse::<u64>()
                    .map(|n| Some((m.line, n, m.value.trim().to_owned())))
                    .map_err(|_| invalid(key, m.value, "a whole number", m.line)),
            }
        };
        if let Some((line, stated, text)) = whole("num_projects")? {
            let found = projects.len() as u64;
            if stated != found {
                inspector.file_problem(line, || ProblemKind::CountMismatch {
                    key: "num_projects",
                    stated: text,
                    section: "PROJECTS",
                    found,
                })?;
            }
        }
        promises.num_votes = whole("num_votes")?;
        if let Some(m) = find("fully_funded").filter(|m| m.value.trim() == "1") {
            let total: u128 = projects.iter().map(|p| u128::from(p.cost)).sum();
            if total > u128::from(budget) {
                inspector.file_problem(m.line, || ProblemKind::NotFullyFunded {
                    total: money(total, scale),
                    budget: budget_text.trim().to_owned(),
                })?;
            }
        }
        let project_cost = bounds("min_project_cost", "max_project_cost", decimals)?;
        if project_cost.is_set() {
            for (p, &line) in projects.iter().zip(project_lines) {
                let units = i128::from(p.cost);
                if let Some(limit) = project_cost.broken(units) {
                    inspector.file_problem(line, || ProblemKind::ProjectCost {
                        id: p.id.clone(),
                        cost: p
                            .fields
                            .get(cost_column)
                            .map_or_else(String::new, |c| c.trim().to_owned()),
                        key: limit.key,
                        bound: limit.text.clone(),
                    })?;
                }
            }
        }
        promises.categories =
            Categories::read(meta, projects, category_column, decimals).map_err(|e| *e)?;
        promises.beyond_length = promises.points.is_set()
            || promises.sum_points.is_set()
            || promises.cost.is_set()
            || promises.categories.is_some();
        Ok(promises)
    }

    /// Whether no promise is about a row's ballot (so rows need no check but
    /// their voter id).
    pub(super) fn is_empty_for_rows(&self) -> bool {
        !self.choose1 && !self.length.is_set() && !self.beyond_length
    }
}

impl Categories {
    fn read(
        meta: &[MetaValue<'_>],
        projects: &[PbProject],
        category_column: Option<usize>,
        decimals: u32,
    ) -> Result<Option<Categories>, Box<PbError>> {
        const KEYS: [&str; 4] = [
            "min_length_per_category",
            "max_length_per_category",
            "min_sum_cost_per_category",
            "max_sum_cost_per_category",
        ];
        let find = |key: &str| meta.iter().find(|m| m.key == key);
        if KEYS.iter().all(|k| find(k).is_none()) {
            return Ok(None);
        }
        let names: Vec<String> = match find("categories") {
            Some(m) => {
                let names: Vec<String> = m.value.split(',').map(|c| c.trim().to_owned()).collect();
                if names.len() > MAX_CATEGORIES {
                    return Err(Box::new(invalid(
                        "categories",
                        m.value,
                        "a list of at most 256 categories",
                        m.line,
                    )));
                }
                names
            }
            None => {
                let (key, m) = KEYS
                    .iter()
                    .find_map(|&k| find(k).map(|m| (k, m)))
                    .unwrap_or((
                        "categories",
                        &MetaValue {
                            key: "",
                            value: "",
                            line: 0,
                        },
                    ));
                return Err(Box::new(invalid(
                    key,
                    m.value,
                    "a list aligned with META categories, which is missing",
                    m.line,
                )));
            }
        };
        let index: HashMap<&str, u32, RandomState> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.as_str(), u32::try_from(i).ok()?)))
            .collect();
        let mut starts = Vec::with_capacity(projects.len() + 1);
        let mut of_project: Vec<u32> = Vec::new();
        let mut marked = vec![false; names.len()];
        starts.push(0);
        for p in projects {
            let first = of_project.len();
            if let Some(text) = category_column.and_then(|c| p.fields.get(c)) {
                for name in text.split(',') {
                    if let Some(&c) = index.get(name.trim())
                        && let Some(m) = marked.get_mut(c as usize)
                        && !*m
                    {
                        *m = true;
                        of_project.push(c);
                    }
                }
            }
            for &c in of_project.get(first..).unwrap_or_default() {
                if let Some(m) = marked.get_mut(c as usize) {
                    *m = false;
                }
            }
            starts.push(of_project.len());
        }
        let list = |key: &'static str, decimals: u32| -> Result<Vec<Limit>, Box<PbError>> {
            let Some(m) = find(key) else {
                return Ok(Vec::new());
            };
            let values: Vec<&str> = m.value.split(',').collect();
            let expected = "numbers separated by ',', one per category or one for all";
            let limits = values
                .iter()
                .map(|v| Limit::read(key, v, decimals))
                .collect::<Option<Vec<Limit>>>()
                .ok_or_else(|| Box::new(invalid(key, m.value, expected, m.line)))?;
            match limits.as_slice() {
                [one] => Ok(vec![one.clone(); names.len()]),
                _ if limits.len() == names.len() => Ok(limits),
                _ => Err(Box::new(invalid(key, m.value, expected, m.line))),
            }
        };
        let length = PerCategory {
            min: list("min_length_per_category", 0)?,
            max: list("max_length_per_category", 0)?,
        };
        let cost = PerCategory {
            min: list("min_sum_cost_per_category", decimals)?,
            max: list("max_sum_cost_per_category", decimals)?,
        };
        let needs = |limits: &[Limit]| -> Vec<u32> {
            limits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.units > 0)
                .filter_map(|(c, _)| u32::try_from(c).ok())
                .collect()
        };
        Ok(Some(Categories {
            need_length: needs(&length.min),
            need_cost: needs(&cost.min),
            count: vec![0; names.len()],
            spent: vec![0; names.len()],
            touched: Vec::new(),
            names,
            starts,
            of_project,
            length,
            cost,
        }))
    }
}

// ---------------------------------------------------------------------------
// Voter ids

/// Voter ids seen so far and their first line.
///
/// Ids written as decimal numbers from a little below the first such id up (as
/// most files number their voters) go in a table indexed by the number, in
/// chunks allocated as numbers reach them; other ids go in a hash map with a
/// per-process random key, so no file can make the lookups collide.
struct VoterIds<'a> {
    /// The number of the table's first slot, once a number is seen.
    base: Option<u64>,
    /// First line per number `base + i`, 0 for unseen: slot `i` is in chunk
    /// `i >> CHUNK_BITS`.
    chunks: Vec<Option<Box<[u32]>>>,
    /// The most slots the table may have.
    span: usize,
    other: HashMap<Cow<'a, [u8]>, usize, RandomState>,
}

/// A chunk of the voter id table holds `2^CHUNK_BITS` slots (16 KB).
const CHUNK_BITS: u32 = 12;

impl<'a> VoterIds<'a> {
    /// For an input of `len` bytes: the table covers at most an eighth as many
    /// numbers as the input has bytes (at least 4,096, at most 2^24), and holds
    /// the chunks numbers reach, at most half a byte per byte of input.
    fn new(len: usize) -> VoterIds<'a> {
        VoterIds {
            base: None,
            chunks: Vec::new(),
            span: (len / 8).clamp(1 << CHUNK_BITS, 1 << 24),
            other: HashMap::default(),
        }
    }

    /// Records `id` at `line`; returns the line of its first use if it was seen.
    /// `input` is the same id as a slice of the input, if it is one (else it is
    /// copied when kept).
    #[inline(always)]
    fn first_use(&mut self, id: &[u8], input: Option<&'a [u8]>, line: usize) -> Option<usize> {
        if let Some(n) = decimal(id) {
            // An eighth of the table below the first number: ids in any order
            // near it fit.
            let base = *self
                .base
                .get_or_insert_with(|| n.saturating_sub(self.span as u64 / 8));
            if let Some(i) = n
                .checked_sub(base)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < self.span)
                && let Some(slot) = self.slot(i)
            {
                if *slot != 0 {
                    return Some(*slot as usize);
                }
                *slot = u32::try_from(line).unwrap_or(u32::MAX).max(1);
                return None;
            }
        }
        self.other_use(id, input, line)
    }

    /// Slot `i` of the table, its chunk allocated if need be.
    #[inline(always)]
    fn slot(&mut self, i: usize) -> Option<&mut u32> {
        let c = i >> CHUNK_BITS;
        if c >= self.chunks.len() {
            self.chunks.resize(c + 1, None);
        }
        self.chunks
            .get_mut(c)?
            .get_or_insert_with(|| vec![0; 1 << CHUNK_BITS].into_boxed_slice())
            .get_mut(i & ((1 << CHUNK_BITS) - 1))
    }

    #[cold]
    #[inline(never)]
    fn other_use(&mut self, id: &[u8], input: Option<&'a [u8]>, line: usize) -> Option<usize> {
        if let Some(&first) = self.other.get(id) {
            return Some(first);
        }
        let key = match input {
            Some(borrowed) => Cow::Borrowed(borrowed),
            None => Cow::Owned(id.to_vec()),
        };
        self.other.insert(key, line);
        None
    }
}

/// `bytes` as a number if written canonically: 1 to 19 digits, no leading zero
/// (but `0` itself).
#[inline]
fn decimal(bytes: &[u8]) -> Option<u64> {
    match bytes {
        [] | [b'0', _, ..] => None,
        _ if bytes.len() > 19 => None,
        _ => {
            let mut n = 0_u64;
            for &b in bytes {
                let d = b.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                n = n * 10 + u64::from(d);
            }
            Some(n)
        }
    }
}

// ---------------------------------------------------------------------------
// The inspector

/// What to do with a row once inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Count it.
    Count,
    /// Leave it out.
    Leave,
}

/// Checks rows against the promises and keeps the problems found.
pub(super) struct Inspector<'a> {
    policy: OnProblem,
    /// Stop at the first problem the policy does not accept (parsing), or go on
    /// to find them all (checking).
    stop: bool,
    problems: Vec<Problem>,
    total: u64,
    /// The first problem the policy does not accept: the reader's error.
    fatal: Option<Problem>,
    voters: VoterIds<'a>,
    /// Rows of `VOTES` seen.
    rows: u64,
    /// Whether the row being inspected has a problem, and whether one of them
    /// makes it uncountable.
    row_problem: bool,
    row_fatal: bool,
}

impl<'a> Inspector<'a> {
    /// An inspector for an input of `len` bytes.
    pub(super) fn new(policy: OnProblem, stop: bool, len: usize) -> Inspector<'a> {
        Inspector {
            policy,
            stop,
            problems: Vec::new(),
            total: 0,
            fatal: None,
            voters: VoterIds::new(len),
            rows: 0,
            row_problem: false,
            row_fatal: false,
        }
    }

    /// Records a problem; `blocking` if the policy does not accept it.
    #[cold]
    #[inline(never)]
    fn record(
        &mut self,
        line: usize,
        make: impl FnOnce() -> ProblemKind,
        blocking: bool,
    ) -> Result<(), PbError> {
        self.total = self.total.saturating_add(1);
        let needed = self.problems.len() < PROBLEMS_LISTED || (blocking && self.fatal.is_none());
        if !needed {
            return Ok(());
        }
        let problem = Problem { line, kind: make() };
        if blocking && self.fatal.is_none() {
            if self.stop {
                return Err(PbError::new(line, PbErrorKind::Problem(problem.kind)));
            }
            self.fatal = Some(problem.clone());
        }
        if self.problems.len() < PROBLEMS_LISTED {
            self.problems.push(problem);
        }
        Ok(())
    }

    /// A problem about META or a project: blocking only when refusing.
    pub(super) fn file_problem(
        &mut self,
        line: usize,
        make: impl FnOnce() -> ProblemKind,
    ) -> Result<(), PbError> {
        let blocking = self.policy == OnProblem::Refuse;
        self.record(line, make, blocking)
    }

    /// A problem with the row being inspected; `uncountable` if the row cannot
    /// be counted as written.
    #[cold]
    #[inline(never)]
    pub(super) fn row_problem(
        &mut self,
        line: usize,
        make: impl FnOnce() -> ProblemKind,
        uncountable: bool,
    ) -> Result<(), PbError> {
        self.row_problem = true;
        let blocking = match self.policy {
            OnProblem::Skip => false,
            OnProblem::Count => uncountable,
            OnProblem::Refuse => true,
        };
        self.row_fatal |= blocking || uncountable;
        self.record(line, make, blocking)
    }

    /// How many more row problems would be spelled out: room in the list, or
    /// one for the reader's error while there is none.
    fn quota(&self) -> usize {
        let room = PROBLEMS_LISTED.saturating_sub(self.problems.len());
        if room == 0 && self.fatal.is_none() && self.policy == OnProblem::Refuse {
            1
        } else {
            room
        }
    }

    /// `n` more problems with the row being inspected that are counted but not
    /// listed (never uncountable ones; called once the list is full).
    fn unlisted_row_problems(&mut self, n: u64) {
        self.total = self.total.saturating_add(n);
        self.row_problem = true;
        self.row_fatal |= self.policy == OnProblem::Refuse;
    }

    /// Starts a row: checks its voter id (trimmed), if the file has them: the
    /// id, and the same id as a slice of the input if it is one.
    #[inline(always)]
    pub(super) fn start_row(
        &mut self,
        line: usize,
        voter: Option<(&[u8], Option<&'a [u8]>)>,
    ) -> Result<(), PbError> {
        self.rows = self.rows.saturating_add(1);
        self.row_problem = false;
        self.row_fatal = false;
        if let Some((id, input)) = voter
            && let Some(first_line) = self.voters.first_use(id, input, line)
        {
            self.repeated_voter(line, id, first_line)?;
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn repeated_voter(&mut self, line: usize, id: &[u8], first_line: usize) -> Result<(), PbError> {
        self.row_problem(
            line,
            || ProblemKind::RepeatedVoter {
                id: String::from_utf8_lossy(id).into_owned(),
                first_line,
            },
            false,
        )
    }

    /// Checks the row's ballot, repeats merged, and says whether to count the
    /// row.
    #[inline(always)]
    pub(super) fn finish_row(
        &mut self,
        line: usize,
        promises: &mut Promises,
        projects: &[PbProject],
        ballot: Ballot<'_>,
    ) -> Result<Verdict, PbError> {
        self.check_ballot(line, promises, projects, ballot)?;
        Ok(self.verdict())
    }

    /// Whether to count the row inspected so far.
    #[inline]
    pub(super) fn verdict(&self) -> Verdict {
        if self.row_fatal || (self.row_problem && self.policy == OnProblem::Skip) {
            Verdict::Leave
        } else {
            Verdict::Count
        }
    }

    /// For [`PbFile::new`](super::PbFile::new): the rows the profile's ballots
    /// would be written as.
    pub(super) fn set_rows(&mut self, rows: u64) {
        self.rows = rows;
    }

    /// After the last row: checks META `num_votes`.
    pub(super) fn finish_votes(&mut self, promises: &Promises) -> Result<(), PbError> {
        if let Some((line, stated, text)) = &promises.num_votes
            && *stated != self.rows
        {
            let (line, stated, found) = (*line, text.clone(), self.rows);
            self.file_problem(line, || ProblemKind::CountMismatch {
                key: "num_votes",
                stated,
                section: "VOTES",
                found,
            })?;
        }
        Ok(())
    }

    /// The problems listed (in line order), how many were found, and the first
    /// the policy does not accept.
    pub(super) fn finish(mut self) -> (Vec<Problem>, u64, Option<Problem>) {
        self.problems.sort_by_key(|p| p.line);
        (self.problems, self.total, self.fatal)
    }

    #[inline(always)]
    fn check_ballot(
        &mut self,
        line: usize,
        promises: &mut Promises,
        projects: &[PbProject],
        ballot: Ballot<'_>,
    ) -> Result<(), PbError> {
        // Projects chosen: for points, those given more than 0.
        let chosen = match ballot {
            Ballot::Listed(b) => b.len(),
            Ballot::Points(entries) => entries.iter().filter(|e| e.1 > 0).count(),
        };
        if promises.choose1 && chosen != 1 {
            self.row_problem(line, || ProblemKind::NotOneChoice { found: chosen }, false)?;
        }
        if let Some(limit) = promises.length.broken(chosen as i128) {
            let (key, bound) = (limit.key, limit.text.clone());
            self.row_problem(
                line,
                || ProblemKind::Length {
                    found: chosen,
                    key,
                    bound,
                },
                false,
            )?;
        }
        if promises.beyond_length {
            self.check_beyond_length(line, promises, projects, ballot)?;
        }
        Ok(())
    }

    /// The promises about a ballot's points, cost and categories.
    fn check_beyond_length(
        &mut self,
        line: usize,
        promises: &mut Promises,
        projects: &[PbProject],
        ballot: Ballot<'_>,
    ) -> Result<(), PbError> {
        let id = |i: u32| {
            projects
                .get(i as usize)
                .map_or_else(String::new, |p| p.id.clone())
        };
        if let Ballot::Points(entries) = ballot {
            if promises.points.is_set() {
                for &(p, v) in entries {
                    if let Some(limit) = promises.points.broken(i128::from(v)) {
                        let (key, bound) = (limit.key, limit.text.clone());
                        self.row_problem(
                            line,
                            || ProblemKind::Points {
                                id: id(p),
                                points: v,
                                key,
                                bound,
                            },
                            false,
                        )?;
                    }
                }
            }
            if promises.sum_points.is_set() {
                let sum: u64 = entries.iter().map(|&(_, v)| u64::from(v)).sum();
                if let Some(limit) = promises.sum_points.broken(i128::from(sum)) {
                    let (key, bound) = (limit.key, limit.text.clone());
                    self.row_problem(line, || ProblemKind::PointsSum { sum, key, bound }, false)?;
                }
            }
        }
        if promises.cost.is_set() {
            let cost: u128 = ballot
                .chosen()
                .map(|p| u128::from(promises.costs.get(p as usize).copied().unwrap_or(0)))
                .sum();
            if let Some(limit) = promises
                .cost
                .broken(i128::try_from(cost).unwrap_or(i128::MAX))
            {
                let (key, bound, scale) = (limit.key, limit.text.clone(), promises.scale);
                self.row_problem(
                    line,
                    || ProblemKind::Cost {
                        cost: money(cost, scale),
                        key,
                        bound,
                    },
                    false,
                )?;
            }
        }
        if let Some(categories) = promises.categories.as_mut() {
            self.check_categories(
                line,
                categories,
                &promises.costs,
                promises.scale,
                ballot.chosen(),
            )?;
        }
        Ok(())
    }

    /// Per-category sums over the categories of the chosen projects only, so a
    /// row costs time in its entries, not in the number of categories.
    fn check_categories(
        &mut self,
        line: usize,
        cats: &mut Categories,
        costs: &[u64],
        scale: u64,
        chosen: impl Iterator<Item = u32>,
    ) -> Result<(), PbError> {
        cats.touched.clear();
        for p in chosen {
            let p = p as usize;
            let range = cats.starts.get(p).copied().unwrap_or(0)
                ..cats.starts.get(p + 1).copied().unwrap_or(0);
            let cost = u128::from(costs.get(p).copied().unwrap_or(0));
            for &c in cats.of_project.get(range).unwrap_or_default() {
                let i = c as usize;
                if let (Some(n), Some(s)) = (cats.count.get_mut(i), cats.spent.get_mut(i)) {
                    if *n == 0 {
                        cats.touched.push(c);
                    }
                    *n = n.saturating_add(1);
                    *s = s.saturating_add(cost);
                }
            }
        }
        cats.touched.sort_unstable();
        let count = |cats: &Categories, c: u32| cats.count.get(c as usize).copied().unwrap_or(0);
        let spent = |cats: &Categories, c: u32| cats.spent.get(c as usize).copied().unwrap_or(0);
        let name =
            |cats: &Categories, c: u32| cats.names.get(c as usize).cloned().unwrap_or_default();
        let mut result = Ok(());
        // Maxima: only touched categories can break them.
        for k in 0..cats.touched.len() {
            let Some(&c) = cats.touched.get(k) else { break };
            let n = count(cats, c);
            if let Some(limit) = cats
                .length
                .max
                .get(c as usize)
                .filter(|l| l.broken_by(i128::from(n)))
            {
                let (key, bound, category) = (limit.key, limit.text.clone(), name(cats, c));
                result = result.and(self.row_problem(
                    line,
                    || ProblemKind::CategoryLength {
                        category,
                        found: n as usize,
                        key,
                        bound,
                    },
                    false,
                ));
            }
            let s = spent(cats, c);
            if let Some(limit) = cats
                .cost
                .max
                .get(c as usize)
                .filter(|l| l.broken_by(i128::try_from(s).unwrap_or(i128::MAX)))
            {
                let (key, bound, category) = (limit.key, limit.text.clone(), name(cats, c));
                result = result.and(self.row_problem(
                    line,
                    || ProblemKind::CategoryCost {
                        category,
                        cost: money(s, scale),
                        key,
                        bound,
                    },
                    false,
                ));
            }
        }
        // Minima above 0: every category not touched breaks them, so count the
        // broken ones from the touched ones that hold, and spell out only as
        // many as are listed; walking the sorted needs passes at most the
        // touched categories before each broken one.
        for by_cost in [false, true] {
            if result.is_err() {
                break;
            }
            let needs = if by_cost {
                &cats.need_cost
            } else {
                &cats.need_length
            };
            if needs.is_empty() {
                continue;
            }
            let held = cats
                .touched
                .iter()
                .filter(|&&c| !min_broken(cats, c, by_cost))
                .filter(|&&c| needs.binary_search(&c).is_ok())
                .count();
            let broken = needs.len().saturating_sub(held);
            let spelled = broken.min(self.quota());
            let mut k = 0;
            let mut done = 0;
            while done < spelled && result.is_ok() {
                let Some(&c) = needs.get(k) else { break };
                k += 1;
                if !min_broken(cats, c, by_cost) {
                    continue;
                }
                done += 1;
                let limits = if by_cost {
                    &cats.cost.min
                } else {
                    &cats.length.min
                };
                let Some(limit) = limits.get(c as usize) else {
                    continue;
                };
                let (key, bound, category) = (limit.key, limit.text.clone(), name(cats, c));
                let found = count(cats, c) as usize;
                let cost = money(spent(cats, c), scale);
                result = self.row_problem(
                    line,
                    || {
                        if by_cost {
                            ProblemKind::CategoryCost {
                                category,
                                cost,
                                key,
                                bound,
                            }
                        } else {
                            ProblemKind::CategoryLength {
                                category,
                                found,
                                key,
                                bound,
                            }
                        }
                    },
                    false,
                );
            }
            if result.is_ok() && broken > done {
                self.unlisted_row_problems((broken - done) as u64);
            }
        }
        for &c in &cats.touched {
            if let (Some(n), Some(s)) = (
                cats.count.get_mut(c as usize),
                cats.spent.get_mut(c as usize),
            ) {
                *n = 0;
                *s = 0;
            }
        }
        result
    }
}

/// Whether category `c`'s minimum (of length or of cost) is broken by the row
/// summed in `cats`.
fn min_broken(cats: &Categories, c: u32, by_cost: bool) -> bool {
    let i = c as usize;
    if by_cost {
        let spent = cats.spent.get(i).copied().unwrap_or(0);
        cats.cost
            .min
            .get(i)
            .is_some_and(|l| l.broken_by(i128::try_from(spent).unwrap_or(i128::MAX)))
    } else {
        let count = cats.count.get(i).copied().unwrap_or(0);
        cats.length
            .min
            .get(i)
            .is_some_and(|l| l.broken_by(i128::from(count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_inward_to_whole_units() {
        let units = |key, text, decimals| Limit::read(key, text, decimals).map(|l| l.units);
        assert_eq!(units("max_length", "2.9", 0), Some(2));
        assert_eq!(units("min_length", "2.1", 0), Some(3));
        assert_eq!(units("min_length", "2", 0), Some(2));
        assert_eq!(units("max_length", "-1.5", 0), Some(-2));
        assert_eq!(units("min_length", "-1.5", 0), Some(-1));
        assert_eq!(units("max_sum_cost", "25.505", 2), Some(2550));
        assert_eq!(units("min_sum_cost", "25.505", 2), Some(2551));
        assert_eq!(units("max_sum_cost", "7", 2), Some(700));
        assert_eq!(
            units("max_sum_cost", "99999999999999999999999999999999999999", 18),
            Some(i128::MAX)
        );
        assert_eq!(units("max_length", "ten", 0), None);
        assert_eq!(units("max_length", "", 0), None);
        let max = Limit::read("max_length", "2", 0).unwrap();
        assert!(max.broken_by(3) && !max.broken_by(2));
        let min = Limit::read("min_length", "2", 0).unwrap();
        assert!(min.broken_by(1) && !min.broken_by(2));
    }

    #[test]
    fn voter_ids_in_the_table_and_beyond_it() {
        let mut ids = VoterIds::new(0);
        let mut line = 0;
        let mut first_use = |ids: &mut VoterIds<'_>, id: &'static str| {
            line += 1;
            ids.first_use(id.as_bytes(), Some(id.as_bytes()), line)
        };
        assert_eq!(first_use(&mut ids, "5000"), None); // the table: 4488..8584
        assert_eq!(first_use(&mut ids, "1"), None); // below it
        assert_eq!(first_use(&mut ids, "8583"), None); // its last slot
        assert_eq!(first_use(&mut ids, "8584"), None); // past it
        assert_eq!(first_use(&mut ids, "05000"), None); // text, not a number
        for (again, first) in [
            ("5000", 1),
            ("1", 2),
            ("8583", 3),
            ("8584", 4),
            ("05000", 5),
        ] {
            assert_eq!(first_use(&mut ids, again), Some(first), "{again}");
        }
        assert_eq!(ids.chunks.len(), 1);
        assert_eq!(ids.other.len(), 3);
        // A copy is kept of an id that is not a slice of the input.
        assert_eq!(ids.first_use(b"x", None, 11), None);
        assert_eq!(ids.first_use(b"x", Some(b"x"), 12), Some(11));
        assert_eq!(decimal(b"18446744073709551615"), None); // 20 digits
        assert_eq!(
            decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"01"), None);
        assert_eq!(decimal(b"1a"), None);
    }

    #[test]
    fn money_keeps_the_decimals_of_the_scale() {
        assert_eq!(money(3025, 100), "30.25");
        assert_eq!(money(5, 1000), "0.005");
        assert_eq!(money(42, 1), "42");
        assert_eq!(money(2_366_980, 10), "236698");
        assert_eq!(money(3_020, 100), "30.2");
    }
}
