//! Reading and writing pabulib `.pb` files: real participatory budgeting elections
//! in the format of [pabulib.org](https://pabulib.org/format).
//!
//! A `.pb` file has three sections, each a title line then a header line:
//!
//! * `META`: `key;value` rows — budget, `vote_type`, rule, dates, …;
//! * `PROJECTS`: one row per project, with at least `project_id` and `cost`;
//! * `VOTES`: one row per voter, with at least `vote` (a `,`-separated list of
//!   project ids) and, for cumulative and scoring ballots, `points`.
//!
//! Fields are separated by `;` with CSV quoting (`"…"`, `""` for a quote inside);
//! a field is quoted only if it starts with `"` and its closing quote ends it, so
//! stray quotes (`Konkurs " NA`, `"Odkupmy" i my`) are read literally, as written.
//! A quoted field cannot span lines. The reader also takes CRLF line endings, a
//! UTF-8 byte order mark, blank lines, section titles in any case, trailing empty
//! fields, decimal amounts (`400000.0`, `827838.5`), ids that are not numbers
//! (`c12`, `BO.OM.97/24`), the literal `None` for a missing value, and empty votes
//! (a voter who approved nothing still counts as a voter).
//!
//! [`parse`] turns the bytes into a [`PbFile`]: the META pairs and the project rows
//! as text, plus the ballots as a compact [`Profile`] (identical ballots merged;
//! voter ids and voter columns such as age are not kept). Amounts become integers:
//! the budget and every cost are multiplied by [`PbFile::scale`], the smallest
//! power of ten that makes all of them whole. Every error is a [`PbError`] naming
//! the line and what was expected; no input makes the reader panic, and its time
//! is near-linear in the input, whatever the input (`benches/pabulib_adversarial.rs`
//! reads files built to be slow).
//! The reader is strict by default; [`ParseOptions`] relaxes it where real files
//! need it.
//!
//! # Promises
//!
//! Besides the format, a file makes promises about its votes, and the reader
//! checks each one ([`ProblemKind`] lists them): voter ids are unique; a
//! `choose-1` vote names exactly one project; META `min_length`/`max_length`
//! bound how many projects a vote names (for points ballots, projects given more
//! than 0 points); `min_sum_cost`/`max_sum_cost` bound what a vote's projects
//! cost together; for cumulative and scoring ballots `min_points`/`max_points`
//! bound each project's points and `min_sum_points`/`max_sum_points` their sum;
//! `categories` with `min_length_per_category`, `max_length_per_category`,
//! `min_sum_cost_per_category` and `max_sum_cost_per_category` (one value, or one
//! per category) bound a vote within each category of the `category` column;
//! `min_project_cost`/`max_project_cost` bound each project's cost;
//! `num_projects` and `num_votes` count the rows; `fully_funded;1` says the
//! projects cost no more than the budget. Only what META states is checked (the
//! format's defaults, such as `min_length` 1, are not). A row that breaks a
//! promise is a [`Problem`]; [`ParseOptions::on_problem`] says whether a problem
//! is an error (the default), or the row is counted as written, or left out, and
//! [`check`] lists every problem of a file.
//!
//! ```
//! use medborgarbudget::pabulib::{self, VoteType};
//! use medborgarbudget::tally::{Greedy, Tally, TieBreaking};
//!
//! let text = "\
//! META
//! key;value
//! budget;1000.5
//! vote_type;approval
//! rule;greedy
//! PROJECTS
//! project_id;cost;name;selected
//! p1;600;Park;1
//! p2;500.25;Library;0
//! p3;100;\"Bench; by the lake\";1
//! VOTES
//! voter_id;vote;age
//! 1;p1,p3;34
//! 2;p2;71
//! 3;p3,p1;18
//! ";
//! let file = pabulib::parse(text.as_bytes())?;
//! assert_eq!(file.vote_type, VoteType::Approval);
//! assert_eq!(file.scale, 100); // 500.25 has two decimals
//! assert_eq!(file.budget, 100_050);
//! assert_eq!(file.projects[1].cost, 50_025);
//! assert_eq!(file.project_field(2, "name"), Some("Bench; by the lake"));
//! assert_eq!(file.num_voters(), 3);
//! assert_eq!(file.profile.num_distinct(), 2); // "p1,p3" and "p3,p1" merged
//!
//! let election = file.election()?;
//! let outcome = Greedy.tally(&election, &TieBreaking::by_project_id())?;
//! assert_eq!(outcome.selected, file.selected().unwrap_or_default());
//!
//! // Writing keeps META and PROJECTS as read, and one VOTES row per voter.
//! let mut out = Vec::new();
//! pabulib::write(&file, &mut out)?;
//! let again = pabulib::parse(&out)?;
//! assert_eq!((again.meta, again.projects, again.profile), (file.meta, file.projects, file.profile));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cycle;
mod error;
pub mod official;
mod promise;
mod read;
mod write;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub use error::{PbError, PbErrorKind, Section};
pub use promise::{Checked, OnProblem, PROBLEMS_LISTED, Problem, ProblemKind};

use crate::tally::{Candidate, Election, Profile, ProfileKind, TallyError};

/// Reads a `.pb` file from its bytes, strictly: a vote naming a project twice,
/// or any other broken promise of the file (see [Promises](self#promises)), is an
/// error (see [`parse_with`] to merge repeats, count or leave out such rows).
///
/// # Errors
/// A [`PbError`] with the 1-based line and what was expected there.
pub fn parse(bytes: &[u8]) -> Result<PbFile, PbError> {
    parse_with(bytes, ParseOptions::default())
}

/// Reads a `.pb` file from its bytes with `options`.
///
/// # Errors
/// As [`parse`], less what `options` accepts.
pub fn parse_with(bytes: &[u8], options: ParseOptions) -> Result<PbFile, PbError> {
    read::check(bytes, options, true).file
}

/// Reads a `.pb` file from its bytes with `options`, as [`parse_with`] does, and
/// lists every broken promise ([`Problem`]) on the way, not only the first:
/// reading goes on after a problem, and stops only at a malformed row.
pub fn check(bytes: &[u8], options: ParseOptions) -> Checked {
    read::check(bytes, options, false)
}

/// Reads the `.pb` file at `path`, strictly, as [`parse`].
///
/// # Errors
/// [`PbErrorKind::Io`] (line 0) if the file cannot be read, otherwise as [`parse`].
pub fn read_file(path: impl AsRef<Path>) -> Result<PbFile, PbError> {
    read_file_with(path, ParseOptions::default())
}

/// Reads the `.pb` file at `path` with `options`.
///
/// # Errors
/// [`PbErrorKind::Io`] (line 0) if the file cannot be read, otherwise as
/// [`parse_with`].
pub fn read_file_with(path: impl AsRef<Path>, options: ParseOptions) -> Result<PbFile, PbError> {
    parse_with(&read_bytes(path.as_ref())?, options)
}

/// [`check`] on the file at `path`; a file that cannot be read is
/// [`PbErrorKind::Io`] (line 0) in [`Checked::file`].
pub fn check_file(path: impl AsRef<Path>, options: ParseOptions) -> Checked {
    match read_bytes(path.as_ref()) {
        Ok(bytes) => check(&bytes, options),
        Err(e) => Checked {
            file: Err(e),
            problems: Vec::new(),
            total: 0,
        },
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, PbError> {
    std::fs::read(path).map_err(|e| {
        PbError::new(
            0,
            PbErrorKind::Io {
                path: path.display().to_string(),
                io_kind: e.kind(),
                message: e.to_string(),
            },
        )
    })
}

/// What the reader accepts beyond the format and the file's promises. The
/// default is strict.
///
/// ```
/// use medborgarbudget::pabulib::{self, ParseOptions, PbErrorKind, ProblemKind};
///
/// let text = b"META\nkey;value\nbudget;10\nvote_type;cumulative\n\
///              PROJECTS\nproject_id;cost\n1;5\n2;5\n\
///              VOTES\nvoter_id;vote;points\n1;1,1,2;1,1,3\n";
/// let err = pabulib::parse(text).unwrap_err();
/// assert_eq!(err.line, 11);
/// assert!(matches!(err.kind, PbErrorKind::Problem(ProblemKind::RepeatedProject { .. })));
///
/// let file = pabulib::parse_with(text, ParseOptions::default().merge_repeats(true))?;
/// assert_eq!(file.profile.support()?, [2, 3]); // project 1's points added up
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Accept a vote that names a project more than once, as 15 files of the
    /// pabulib snapshot do (one vote each, such as `1155,1155,1155,62,447`). An
    /// approval vote counts the project once; a ranking keeps its first (best)
    /// place; points given to it are added up. Off by default: such a vote is a
    /// [`ProblemKind::RepeatedProject`], handled as
    /// [`on_problem`](ParseOptions::on_problem) says.
    pub merge_repeats: bool,
    /// What to do with a row that breaks a promise of the file: an error (the
    /// default), counted as written, or left out.
    pub on_problem: OnProblem,
}

impl ParseOptions {
    /// Every way of reading: strict first, then merging repeats, and counting or
    /// leaving out rows that break the file's promises — for checking that a
    /// file, or a reader property, holds whichever way it is read.
    ///
    /// ```
    /// use medborgarbudget::pabulib::ParseOptions;
    /// assert_eq!(ParseOptions::ALL[0], ParseOptions::default());
    /// let distinct: std::collections::HashSet<_> = ParseOptions::ALL.into_iter().collect();
    /// assert_eq!(distinct.len(), 6);
    /// ```
    pub const ALL: [ParseOptions; 6] = {
        let mut all = [ParseOptions {
            merge_repeats: false,
            on_problem: OnProblem::Refuse,
        }; 6];
        let policies = [OnProblem::Refuse, OnProblem::Count, OnProblem::Skip];
        let mut i = 0;
        while i < 6 {
            all[i] = ParseOptions {
                merge_repeats: i >= 3,
                on_problem: policies[i % 3],
            };
            i += 1;
        }
        all
    };

    /// Sets [`merge_repeats`](ParseOptions::merge_repeats).
    #[must_use]
    pub fn merge_repeats(mut self, merge: bool) -> ParseOptions {
        self.merge_repeats = merge;
        self
    }

    /// Sets [`on_problem`](ParseOptions::on_problem).
    #[must_use]
    pub fn on_problem(mut self, policy: OnProblem) -> ParseOptions {
        self.on_problem = policy;
        self
    }
}

/// Writes `file` in the `.pb` format: `META` and `PROJECTS` as they are in `file`
/// (every field, so columns such as `selected` survive), then `VOTES` with the
/// columns `voter_id;vote` (and `points` for a points profile), one row per voter,
/// voter ids `1..=n`, in the order of the profile's distinct ballots.
///
/// Fields are quoted where needed. Lines end in `\n`; the output is UTF-8 without
/// a byte order mark. Reading the output back with [`parse`] gives equal `meta`,
/// `projects`, `vote_type`, `profile`, `scale` and `budget`.
///
/// # Errors
/// Errors of `out`, and [`std::io::ErrorKind::InvalidInput`] for what the format
/// cannot hold: a line feed (`\n`) inside a field, a ballot naming a project index that
/// `file` does not have, or a voted project whose id contains `,`.
pub fn write<W: std::io::Write>(file: &PbFile, out: W) -> std::io::Result<()> {
    write::write(file, out)
}

/// How voters filled in their ballots: META `vote_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoteType {
    /// `approval`: each voter approves a set of projects.
    Approval,
    /// `choose-1`: each voter picks one project; read as an approval ballot.
    Choose1,
    /// `cumulative`: each voter spreads points over projects.
    Cumulative,
    /// `scoring`: each voter scores projects.
    Scoring,
    /// `ordinal`: each voter ranks projects, best first.
    Ordinal,
}

impl VoteType {
    /// The spelling in files: `approval`, `choose-1`, `cumulative`, `scoring`,
    /// `ordinal`.
    pub fn as_str(self) -> &'static str {
        match self {
            VoteType::Approval => "approval",
            VoteType::Choose1 => "choose-1",
            VoteType::Cumulative => "cumulative",
            VoteType::Scoring => "scoring",
            VoteType::Ordinal => "ordinal",
        }
    }

    /// The kind of profile the ballots are read into: approval for `approval` and
    /// `choose-1`, points for `cumulative` and `scoring`, rankings for `ordinal`.
    pub fn profile_kind(self) -> ProfileKind {
        match self {
            VoteType::Approval | VoteType::Choose1 => ProfileKind::Approval,
            VoteType::Cumulative | VoteType::Scoring => ProfileKind::Points,
            VoteType::Ordinal => ProfileKind::Ranking,
        }
    }
}

impl fmt::Display for VoteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `vote_type` that is none of the five known spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a vote_type of approval, choose-1, cumulative, scoring or ordinal, found {found:?}"
)]
pub struct ParseVoteTypeError {
    /// The text given.
    pub found: String,
}

impl FromStr for VoteType {
    type Err = ParseVoteTypeError;

    /// Reads the file spellings, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<VoteType, ParseVoteTypeError> {
        let t = s.trim();
        [
            VoteType::Approval,
            VoteType::Choose1,
            VoteType::Cumulative,
            VoteType::Scoring,
            VoteType::Ordinal,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(t))
        .ok_or_else(|| ParseVoteTypeError {
            found: s.to_owned(),
        })
    }
}

/// One row of `PROJECTS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PbProject {
    /// The `project_id` field, without surrounding whitespace.
    pub id: String,
    /// The `cost` field times [`PbFile::scale`].
    pub cost: u64,
    /// Every field of the row as read (unquoted), in the order of
    /// [`PbFile::project_columns`].
    pub fields: Vec<String>,
}

/// A `.pb` file: its META pairs and project rows as text, and its ballots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbFile {
    /// The `META` pairs in file order, values unquoted and otherwise as written
    /// (`budget` too is kept as text). Keys are unique.
    pub meta: Vec<(String, String)>,
    /// The `PROJECTS` header: column names in order (surrounding whitespace and
    /// trailing empty columns removed).
    pub project_columns: Vec<String>,
    /// The projects in file order; a ballot's project index `i` is `projects[i]`.
    pub projects: Vec<PbProject>,
    /// The `VOTES` header as read (only `vote` and `points` are used).
    pub vote_columns: Vec<String>,
    /// META `vote_type`.
    pub vote_type: VoteType,
    /// The ballots, identical ones merged: an approval profile for `approval` and
    /// `choose-1`, points for `cumulative` and `scoring` (entries with zero points
    /// dropped), rankings for `ordinal` (scoring `max_length` positions when META
    /// gives one). Shared: [`PbFile::election`] uses it without a copy.
    pub profile: std::sync::Arc<Profile>,
    /// `10^d`, where `d` is the largest number of decimals (ignoring trailing
    /// zeros) among the budget and the costs: `400000.0` needs none, `827838.5`
    /// one.
    pub scale: u64,
    /// META `budget` times [`scale`](PbFile::scale).
    pub budget: u64,
}

impl PbFile {
    /// Builds a file from parts, for export: the META pairs, the `PROJECTS` header
    /// and rows as text (each row must have a `project_id` and a `cost` field), the
    /// vote type and the ballots (project index `i` is `rows[i]`).
    ///
    /// The parts are checked as [`parse`] checks a file, so writing the result and
    /// reading it back gives it again. META `vote_type` is set to `vote_type`
    /// (replaced in place, or appended). For an ordinal profile whose
    /// [`ranking_length`](Profile::ranking_length) is not the length of its
    /// longest ranking, META `max_length` is appended if absent.
    ///
    /// # Errors
    /// What [`parse`] would report, with the line it would have in the written file;
    /// [`PbErrorKind::Inconsistent`] (line 0) if the profile does not fit the vote
    /// type or the rows, if META `max_length` contradicts the profile's ranking
    /// length, or if a field holds a line feed (`\n`) or an id holds `,`.
    pub fn new(
        meta: Vec<(String, String)>,
        project_columns: Vec<String>,
        rows: Vec<Vec<String>>,
        vote_type: VoteType,
        profile: Profile,
    ) -> Result<PbFile, PbError> {
        read::from_parts(meta, project_columns, rows, vote_type, profile)
    }

    /// The META value for `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The election the tallies read: candidates labelled by project id with their
    /// scaled costs, the scaled budget and the profile, with
    /// [`scale`](PbFile::scale) units to a whole currency unit
    /// ([`Election::with_unit`]: add1 adds whole units, as pabulib does).
    ///
    /// # Errors
    /// As [`Election::new`]; a file read by [`parse`] always succeeds.
    pub fn election(&self) -> Result<Election, TallyError> {
        let candidates = self
            .projects
            .iter()
            .map(|p| Candidate::new(p.id.clone(), p.cost))
            .collect();
        Ok(Election::new(
            self.budget,
            candidates,
            std::sync::Arc::clone(&self.profile),
        )?
        .with_unit(self.scale))
    }

    /// META `rule`: how the official outcome was computed (`greedy`,
    /// `equalshares/add1`, …).
    pub fn rule(&self) -> Option<&str> {
        self.meta("rule")
    }

    /// Indices of the projects whose `selected` field is `1` (the official
    /// outcome); `None` if there is no `selected` column.
    pub fn selected(&self) -> Option<Vec<usize>> {
        let column = self.column("selected")?;
        Some(
            self.projects
                .iter()
                .enumerate()
                .filter(|(_, p)| p.fields.get(column).is_some_and(|v| v.trim() == "1"))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The field of project `project` (an index into
    /// [`projects`](PbFile::projects)) in `column`.
    pub fn project_field(&self, project: usize, column: &str) -> Option<&str> {
        let column = self.column(column)?;
        self.projects
            .get(project)?
            .fields
            .get(column)
            .map(String::as_str)
    }

    /// Number of voters (rows of `VOTES`).
    pub fn num_voters(&self) -> u64 {
        self.profile.num_voters()
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.project_columns.iter().position(|c| c == name)
    }
}
