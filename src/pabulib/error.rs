//! Why a `.pb` file could not be read or built.

use std::fmt;

use super::promise::ProblemKind;
use crate::tally::TallyError;

/// The three sections of a `.pb` file, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// `META`: key/value pairs describing the election.
    Meta,
    /// `PROJECTS`: one row per project.
    Projects,
    /// `VOTES`: one row per voter.
    Votes,
}

impl Section {
    /// The section's title as written in a file (`META`, `PROJECTS`, `VOTES`).
    pub fn title(self) -> &'static str {
        match self {
            Section::Meta => "META",
            Section::Projects => "PROJECTS",
            Section::Votes => "VOTES",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// A `.pb` file that could not be read, with the line it is about.
///
/// Displays as `line N: …`, or without the line prefix when `line` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbError {
    /// The 1-based line the error is about; 0 when it is not about a line (an I/O
    /// error, or a mismatch between parts given to [`PbFile::new`](super::PbFile::new)).
    pub line: usize,
    /// What went wrong.
    pub kind: PbErrorKind,
}

impl PbError {
    /// An error about `line` (1-based; 0 for none).
    pub fn new(line: usize, kind: PbErrorKind) -> PbError {
        PbError { line, kind }
    }
}

impl fmt::Display for PbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "line {}: {}", self.line, self.kind)
        }
    }
}

impl std::error::Error for PbError {}

/// What went wrong while reading a `.pb` file, saying what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PbErrorKind {
    /// The file could not be read (line 0).
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path given.
        path: String,
        /// The I/O error's kind.
        io_kind: std::io::ErrorKind,
        /// The I/O error's message.
        message: String,
    },
    /// A line in a section that is not valid UTF-8.
    #[error("expected UTF-8 text in the {section} section, found invalid bytes")]
    InvalidUtf8 {
        /// The section.
        section: Section,
    },
    /// Something other than the expected section title.
    #[error("expected the section title {expected}, found {found:?}")]
    ExpectedSection {
        /// The title that had to come next.
        expected: Section,
        /// The start of the line found instead.
        found: String,
    },
    /// A section title out of order (or repeated).
    #[error("expected {}, found the section title {found}", match .expected {
        Some(s) => format!("the section title {s}"),
        None => "no further section after VOTES".to_owned(),
    })]
    SectionOutOfOrder {
        /// The title that had to come next; `None` after `VOTES`, the last section.
        expected: Option<Section>,
        /// The title found.
        found: Section,
    },
    /// The file ended before a required section.
    #[error("expected the section {expected}, but the file ended")]
    MissingSection {
        /// The missing section.
        expected: Section,
    },
    /// A section title not followed by its header line.
    #[error("expected the header line of {section} after its title")]
    MissingHeader {
        /// The section.
        section: Section,
    },
    /// A header line lacking a required column.
    #[error("the {section} header has no column {column:?}")]
    MissingColumn {
        /// The section.
        section: Section,
        /// The column expected.
        column: &'static str,
    },
    /// A header naming the same column twice.
    #[error("the {section} header names the column {column:?} twice")]
    DuplicateColumn {
        /// The section.
        section: Section,
        /// The repeated column.
        column: String,
    },
    /// A quoted field whose closing quote is missing.
    #[error("expected a closing quote '\"' before the end of the line")]
    UnclosedQuote,
    /// A row with fewer fields than its header (or, in `VOTES`, than the columns
    /// that are read).
    #[error("expected {expected} fields, found {found}")]
    TooFewFields {
        /// Fields required.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A row with more non-empty fields than its header has columns.
    #[error("expected {expected} fields, found {found}")]
    TooManyFields {
        /// Columns in the header.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A META key given twice.
    #[error("the META key {key:?} appears twice (first on line {first_line})")]
    DuplicateMetaKey {
        /// The key.
        key: String,
        /// The line of its first appearance (0 if not from a file).
        first_line: usize,
    },
    /// A required META key is absent (or `None`).
    #[error("expected the META key {key:?}")]
    MissingMeta {
        /// The key.
        key: &'static str,
    },
    /// A `vote_type` this reader does not know.
    #[error(
        "expected a vote_type of approval, choose-1, cumulative, scoring or ordinal, found {found:?}"
    )]
    UnknownVoteType {
        /// The value found.
        found: String,
    },
    /// An amount (budget or cost) that is not a plain decimal number.
    #[error("expected {what} as a decimal number such as 1500 or 1500.50, found {found:?}")]
    InvalidAmount {
        /// `budget` or `cost`.
        what: &'static str,
        /// The text found.
        found: String,
    },
    /// A negative amount.
    #[error("expected {what} to be zero or more, found {found:?}")]
    NegativeAmount {
        /// `budget` or `cost`.
        what: &'static str,
        /// The text found.
        found: String,
    },
    /// An amount that, scaled to whole units, does not fit in 64 bits.
    #[error(
        "{what} {found:?} scaled by 10^{decimals} (to make every amount whole) does not fit in 64 bits"
    )]
    AmountOutOfRange {
        /// `budget` or `cost`.
        what: &'static str,
        /// The text found.
        found: String,
        /// The decimals every amount is scaled by.
        decimals: u32,
    },
    /// A whole number (points, `max_length`) that could not be read.
    #[error("expected {what} as a whole number from 0 to 4294967295, found {found:?}")]
    InvalidNumber {
        /// What was being read.
        what: &'static str,
        /// The text found.
        found: String,
    },
    /// A project row with an empty id.
    #[error("expected a project id, found an empty field")]
    EmptyProjectId,
    /// Two projects share an id.
    #[error("project id {id:?} is used twice (first on line {first_line})")]
    DuplicateProjectId {
        /// The id.
        id: String,
        /// The line of its first use (0 if not from a file).
        first_line: usize,
    },
    /// A vote naming a project not in `PROJECTS`.
    #[error("a vote names {id:?}, which is not a project id listed in PROJECTS")]
    UnknownProject {
        /// The id named.
        id: String,
    },
    /// An empty entry in a list, as in `1,,2`.
    #[error("expected a value in every entry of the {column} list, found an empty entry")]
    EmptyListEntry {
        /// The column (`vote` or `points`).
        column: &'static str,
    },
    /// The points list does not match the vote list.
    #[error("expected one points entry per voted project ({votes}), found {points}")]
    PointsMismatch {
        /// Entries in the vote list.
        votes: usize,
        /// Entries in the points list.
        points: usize,
    },
    /// Parts given to [`PbFile::new`](super::PbFile::new) that do not fit together.
    #[error("{reason}")]
    Inconsistent {
        /// What does not fit.
        reason: String,
    },
    /// A META value the reader checks votes or projects against that is not what
    /// the key needs (such as `max_sum_cost;ten`).
    #[error("expected META {key} to be {expected}, found {found:?}")]
    InvalidMetaValue {
        /// The key.
        key: &'static str,
        /// The value found.
        found: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A promise of the format or of META that the file breaks (a voter id used
    /// twice, a vote longer than `max_length`, …), refused by
    /// [`OnProblem::Refuse`](super::OnProblem::Refuse).
    #[error("{0}")]
    Problem(ProblemKind),
    /// The profile refused the ballots (for example, more voters than 64 bits count).
    #[error("the ballots cannot be counted: {0}")]
    Tally(TallyError),
}
