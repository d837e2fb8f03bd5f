//! The reader: bytes in, [`PbFile`] out, never a panic.
//!
//! `META` and `PROJECTS` are small and read into strings. `VOTES` is most of a
//! file and is read on bytes: only the `vote` (and `points`) fields are looked at,
//! ids are mapped to indices by a table (ids that are small numbers) or a hash
//! table with random keys, and each ballot goes into the [`ProfileBuilder`] from reused buffers.

use std::collections::HashMap;
use std::hash::RandomState;

use super::error::{PbError, PbErrorKind, Section};
use super::promise::{
    Ballot, Checked, Inspector, MetaValue, OnProblem, ProblemKind, Promises, Verdict,
};
use super::{ParseOptions, PbFile, PbProject, VoteType};
use crate::hash::HashKeys;
use crate::tally::{Profile, ProfileBuilder, ProfileKind, TallyError};

type Kind = PbErrorKind;

/// Most decimals an amount may have (10^18 still fits in a `u64`).
const MAX_DECIMALS: u32 = 18;

/// Reads `bytes`; `stop` at the first problem the options do not accept
/// (parsing), or go on to find every problem (checking).
pub(super) fn check(bytes: &[u8], options: ParseOptions, stop: bool) -> Checked {
    check_with(bytes, options, stop, None)
}

/// [`check`] with `threads` reading the votes (`None`: as many as the
/// machine has, up to [`MAX_READ_THREADS`]; 1: the one thread alone; 0: in
/// chunks, with no helper thread).
fn check_with(bytes: &[u8], options: ParseOptions, stop: bool, threads: Option<usize>) -> Checked {
    let mut inspector = Inspector::new(options.on_problem, stop, bytes.len());
    let read = read(bytes, options, &mut inspector, threads);
    let (problems, total, fatal) = inspector.finish();
    let file = match (read, fatal) {
        // A problem the options refuse comes first: reading stopped after it.
        (_, Some(p)) => Err(PbError::new(p.line, PbErrorKind::Problem(p.kind))),
        (read, None) => read,
    };
    Checked {
        file,
        problems,
        total,
    }
}

fn read<'a>(
    bytes: &'a [u8],
    options: ParseOptions,
    inspector: &mut Inspector<'a>,
    threads: Option<usize>,
) -> Result<PbFile, PbError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = Lines::new(bytes);

    // META
    let meta_title = expect_title(&mut lines, Section::Meta)?;
    expect_header(&mut lines, Section::Meta)?;
    let mut meta = Vec::new();
    let mut meta_lines = Vec::new();
    let next = loop {
        let Some((no, line)) = lines.next_content() else {
            return Err(PbError::new(
                lines.last_line(),
                Kind::MissingSection {
                    expected: Section::Projects,
                },
            ));
        };
        if let Some(section) = title(line) {
            break (no, section);
        }
        let fields = text_fields(line, Section::Meta).map_err(|k| PbError::new(no, k))?;
        let [key, value] = fit::<2>(fields).map_err(|k| PbError::new(no, k))?;
        meta.push((key.trim().to_owned(), value));
        meta_lines.push(no);
    };
    expect_next(next, Section::Projects)?;
    let info = MetaInfo::read(&meta, &meta_lines, meta_title)?;

    // PROJECTS
    let (header_line, columns) = expect_header(&mut lines, Section::Projects)?;
    let mut projects = ProjectsReader::new(columns, header_line)?;
    let next = loop {
        let Some((no, line)) = lines.next_content() else {
            return Err(PbError::new(
                lines.last_line(),
                Kind::MissingSection {
                    expected: Section::Votes,
                },
            ));
        };
        if let Some(section) = title(line) {
            break (no, section);
        }
        let fields = text_fields(line, Section::Projects).map_err(|k| PbError::new(no, k))?;
        projects.push(no, fields)?;
    };
    expect_next(next, Section::Votes)?;
    let finished = projects.finish(&info)?;
    let mut promises = finished.promises(&meta, &meta_lines, &info, inspector)?;
    let Finished {
        columns: project_columns,
        projects,
        scale,
        budget,
        ..
    } = finished;

    // VOTES
    let (header_line, vote_columns) = expect_header(&mut lines, Section::Votes)?;
    let kind = info.vote_type.profile_kind();
    let columns =
        VoteColumns::find(&vote_columns, kind).map_err(|k| PbError::new(header_line, k))?;
    let mut builder = Profile::builder(kind, projects.len());
    if let Some(length) = info.max_length {
        builder.ranking_length(length);
    }
    // Room for what the rest of the input can hold (a row takes at least four
    // bytes, an entry two), so the arrays do not grow by copying; pages not
    // written are never touched. Capped: past the cap they grow as usual.
    let left = lines.rest.len();
    builder.reserve(
        (left / 4).min(RESERVE_BALLOTS),
        (left / 2).min(RESERVE_ENTRIES),
    );
    let mut votes = Votes {
        columns: &columns,
        projects: &projects,
        kind,
        options,
        builder: &mut builder,
        promises: &mut promises,
        threads,
    };
    votes.read(&mut lines, inspector)?;
    inspector.finish_votes(&promises)?;

    Ok(PbFile {
        meta,
        project_columns,
        projects,
        vote_columns,
        vote_type: info.vote_type,
        profile: std::sync::Arc::new(builder.build()),
        scale,
        budget,
    })
}

/// [`PbFile::new`]: the parts checked as the reader checks a file, with the
/// lines they would have once written.
pub(super) fn from_parts(
    mut meta: Vec<(String, String)>,
    project_columns: Vec<String>,
    rows: Vec<Vec<String>>,
    vote_type: VoteType,
    profile: Profile,
) -> Result<PbFile, PbError> {
    let inconsistent = |reason: String| PbError::new(0, Kind::Inconsistent { reason });
    if profile.kind() != vote_type.profile_kind() {
        return Err(inconsistent(format!(
            "a {:?} profile cannot hold {vote_type} ballots",
            profile.kind()
        )));
    }
    if profile.num_projects() != rows.len() {
        return Err(inconsistent(format!(
            "the profile is for {} projects but {} project rows were given",
            profile.num_projects(),
            rows.len()
        )));
    }
    for (key, _) in &mut meta {
        let trimmed = key.trim();
        if trimmed.len() != key.len() {
            *key = trimmed.to_owned();
        }
    }
    set_meta(&mut meta, "vote_type", vote_type.as_str());
    if vote_type == VoteType::Ordinal {
        let longest = profile.iter().map(|b| b.projects.len()).max().unwrap_or(0);
        let length = profile.ranking_length();
        if usize::try_from(length).ok() != Some(longest)
            && !meta.iter().any(|(k, _)| k == "max_length")
        {
            meta.push(("max_length".to_owned(), length.to_string()));
        }
    }
    let line_breaks = |s: &str| s.contains('\n');
    if let Some(field) = meta
        .iter()
        .flat_map(|(k, v)| [k, v])
        .chain(&project_columns)
        .chain(rows.iter().flatten())
        .find(|s| line_breaks(s))
    {
        return Err(inconsistent(format!(
            "the field {field:?} holds a line break, which a .pb file cannot"
        )));
    }

    // Lines once written: META, key;value, the pairs, PROJECTS, the header, rows.
    let meta_lines: Vec<usize> = (3..3 + meta.len()).collect();
    let info = MetaInfo::read(&meta, &meta_lines, 1)?;
    if vote_type == VoteType::Ordinal
        && info.max_length.unwrap_or(profile.ranking_length()) != profile.ranking_length()
    {
        return Err(inconsistent(format!(
            "META max_length is {:?} but the profile scores {} ranking positions",
            info.max_length,
            profile.ranking_length()
        )));
    }
    let header_line = 4 + meta.len();
    let mut columns: Vec<String> = project_columns
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    while columns.last().is_some_and(String::is_empty) {
        columns.pop();
    }
    let mut reader = ProjectsReader::new(columns, header_line)?;
    let num_rows = rows.len();
    for (k, row) in rows.into_iter().enumerate() {
        reader.push(header_line + 1 + k, row)?;
    }
    let finished = reader.finish(&info)?;
    // The ballots, as the rows they would be: each distinct ballot on the line
    // of its first voter (voter ids are 1, 2, …, so none repeats).
    let mut inspector = Inspector::new(OnProblem::Refuse, true, 0);
    let mut promises = finished.promises(&meta, &meta_lines, &info, &mut inspector)?;
    let Finished {
        columns: project_columns,
        projects,
        scale,
        budget,
        ..
    } = finished;
    let mut line = header_line + num_rows + 3;
    let mut pairs = Vec::new();
    for ballot in profile.iter() {
        let entries = if profile.kind() == ProfileKind::Points {
            pairs.clear();
            pairs.extend(
                ballot
                    .projects
                    .iter()
                    .copied()
                    .zip(ballot.points.iter().copied()),
            );
            Ballot::Points(&pairs)
        } else {
            Ballot::Listed(ballot.projects)
        };
        inspector.start_row(line, None)?;
        inspector.finish_row(line, &mut promises, &projects, entries)?;
        line = line.saturating_add(usize::try_from(ballot.count).unwrap_or(usize::MAX));
    }
    inspector.set_rows(profile.num_voters());
    inspector.finish_votes(&promises)?;
    if let Some(p) = projects.iter().find(|p| p.id.contains(',')) {
        return Err(inconsistent(format!(
            "project id {:?} holds ',', which separates ids in a vote",
            p.id
        )));
    }
    let mut vote_columns = vec!["voter_id".to_owned(), "vote".to_owned()];
    if profile.kind() == ProfileKind::Points {
        vote_columns.push("points".to_owned());
    }
    Ok(PbFile {
        meta,
        project_columns,
        projects,
        vote_columns,
        vote_type,
        profile: std::sync::Arc::new(profile),
        scale,
        budget,
    })
}

fn set_meta(meta: &mut Vec<(String, String)>, key: &str, value: &str) {
    match meta.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => value.clone_into(v),
        None => meta.push((key.to_owned(), value.to_owned())),
    }
}

// ---------------------------------------------------------------------------
// Lines and fields

/// Lines of the input, numbered from 1, without their `\n` or `\r\n`.
/// The most ballots the reader makes room for ahead (ten million voters fit).
const RESERVE_BALLOTS: usize = 1 << 24;

/// The most ballot entries the reader makes room for ahead (256 MB).
const RESERVE_ENTRIES: usize = 1 << 26;

struct Lines<'a> {
    rest: &'a [u8],
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Lines<'a> {
        Lines {
            rest: bytes,
            line: 0,
        }
    }

    #[inline]
    fn next_line(&mut self) -> Option<(usize, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match find_byte(b'\n', self.rest) {
            Some(i) => match (self.rest.get(..i), self.rest.get(i + 1..)) {
                (Some(line), Some(rest)) => (line, rest),
                _ => (self.rest, &[][..]),
            },
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        self.line += 1;
        Some((self.line, line.strip_suffix(b"\r").unwrap_or(line)))
    }

    /// The next line that is not blank.
    fn next_content(&mut self) -> Option<(usize, &'a [u8])> {
        loop {
            let (no, line) = self.next_line()?;
            if !is_blank(line) {
                return Some((no, line));
            }
        }
    }

    /// The number of the last line read (1 for an empty input): where an error
    /// about the end of the file is reported.
    fn last_line(&self) -> usize {
        self.line.max(1)
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The first `needle` in `hay`, eight bytes at a time.
#[inline]
fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0_u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            // The lowest flagged byte is always a true match.
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

/// The section a title line names (`META`, `PROJECTS`, `VOTES`, any ASCII case,
/// surrounding whitespace and trailing `;` allowed).
fn title(line: &[u8]) -> Option<Section> {
    let mut t = line.trim_ascii();
    while let [rest @ .., b';'] = t {
        t = rest.trim_ascii_end();
    }
    [Section::Meta, Section::Projects, Section::Votes]
        .into_iter()
        .find(|s| s.title().as_bytes().eq_ignore_ascii_case(t))
}

fn expect_title(lines: &mut Lines<'_>, expected: Section) -> Result<usize, PbError> {
    let Some((no, line)) = lines.next_content() else {
        return Err(PbError::new(
            lines.last_line(),
            Kind::MissingSection { expected },
        ));
    };
    match title(line) {
        Some(found) if found == expected => Ok(no),
        Some(found) => Err(PbError::new(
            no,
            Kind::SectionOutOfOrder {
                expected: Some(expected),
                found,
            },
        )),
        None => Err(PbError::new(
            no,
            Kind::ExpectedSection {
                expected,
                found: excerpt(line),
            },
        )),
    }
}

fn expect_next((no, found): (usize, Section), expected: Section) -> Result<(), PbError> {
    if found == expected {
        Ok(())
    } else {
        Err(PbError::new(
            no,
            Kind::SectionOutOfOrder {
                expected: Some(expected),
                found,
            },
        ))
    }
}

/// The header line after a title: column names without surrounding whitespace,
/// trailing empty ones dropped.
fn expect_header(lines: &mut Lines<'_>, section: Section) -> Result<(usize, Vec<String>), PbError> {
    let Some((no, line)) = lines.next_content() else {
        return Err(PbError::new(
            lines.last_line(),
            Kind::MissingHeader { section },
        ));
    };
    if title(line).is_some() {
        return Err(PbError::new(no, Kind::MissingHeader { section }));
    }
    let mut columns: Vec<String> = text_fields(line, section)
        .map_err(|k| PbError::new(no, k))?
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    while columns.last().is_some_and(String::is_empty) {
        columns.pop();
    }
    Ok((no, columns))
}

/// The start of a line, for messages.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

/// One field split off the front of a line.
enum Field<'a> {
    /// An unquoted field, as it stands in the line.
    Plain(&'a [u8]),
    /// A quoted field; its text was written to the buffer passed in.
    Quoted,
}

/// Splits the first field off `rest`; returns it and what follows its `;`
/// (`None` at the end of the line). A quoted field's text goes to `buf`.
#[inline]
fn next_field<'a>(
    rest: &'a [u8],
    buf: &mut Vec<u8>,
) -> Result<(Field<'a>, Option<&'a [u8]>), Kind> {
    if rest.first() == Some(&b'"') {
        quoted_field(rest, buf)
    } else {
        Ok(plain_field(rest))
    }
}

/// [`next_field`] for a field that starts with `"`.
#[cold]
#[inline(never)]
fn quoted_field<'a>(
    rest: &'a [u8],
    buf: &mut Vec<u8>,
) -> Result<(Field<'a>, Option<&'a [u8]>), Kind> {
    buf.clear();
    let mut i = 1;
    loop {
        match rest.get(i..) {
            None | Some([]) => return Err(Kind::UnclosedQuote),
            Some([b'"', b'"', ..]) => {
                buf.push(b'"');
                i += 2;
            }
            Some([b'"', ..]) => {
                i += 1;
                break;
            }
            Some(tail) => {
                // Copy up to the next quote at once.
                let n = find_byte(b'"', tail).unwrap_or(tail.len());
                buf.extend_from_slice(tail.get(..n).unwrap_or_default());
                i += n;
            }
        }
    }
    while matches!(rest.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match rest.get(i..) {
        None | Some([]) => Ok((Field::Quoted, None)),
        Some([b';', ..]) => Ok((Field::Quoted, rest.get(i + 1..))),
        // Text after the closing quote, as in `"Odkupmy" i my`: the field was not
        // meant as a quoted one; read it literally up to the next `;`.
        Some(_) => Ok(plain_field(rest)),
    }
}

#[inline]
fn plain_field(rest: &[u8]) -> (Field<'_>, Option<&[u8]>) {
    match find_byte(b';', rest) {
        Some(i) => (
            Field::Plain(rest.get(..i).unwrap_or_default()),
            rest.get(i + 1..),
        ),
        None => (Field::Plain(rest), None),
    }
}

/// All fields of a line as text (META and PROJECTS).
fn text_fields(line: &[u8], section: Section) -> Result<Vec<String>, Kind> {
    let line = std::str::from_utf8(line)
        .map_err(|_| Kind::InvalidUtf8 { section })?
        .as_bytes();
    let mut fields = Vec::new();
    let mut buf = Vec::new();
    let mut rest = Some(line);
    while let Some(r) = rest {
        let (field, next) = next_field(r, &mut buf)?;
        // Fields are split at ASCII bytes of valid UTF-8, so they are valid too.
        let bytes = match field {
            Field::Plain(s) => s,
            Field::Quoted => &buf,
        };
        fields.push(String::from_utf8_lossy(bytes).into_owned());
        rest = next;
    }
    Ok(fields)
}

/// Exactly `N` fields: extra fields must be empty.
fn fit<const N: usize>(fields: Vec<String>) -> Result<[String; N], Kind> {
    let fields = fit_to(fields, N)?;
    let found = fields.len();
    <[String; N]>::try_from(fields).map_err(|_| Kind::TooFewFields { expected: N, found })
}

/// Exactly `n` fields: fewer is an error, extra ones must be empty and are dropped.
fn fit_to(mut fields: Vec<String>, n: usize) -> Result<Vec<String>, Kind> {
    let found = fields.len();
    if found < n {
        return Err(Kind::TooFewFields { expected: n, found });
    }
    if fields.iter().skip(n).any(|f| !f.trim().is_empty()) {
        return Err(Kind::TooManyFields { expected: n, found });
    }
    fields.truncate(n);
    Ok(fields)
}

// ---------------------------------------------------------------------------
// META

/// What the reader takes from META.
struct MetaInfo {
    vote_type: VoteType,
    budget: Amount,
    budget_line: usize,
    budget_text: String,
    /// `max_length` for ordinal ballots.
    max_length: Option<u32>,
}

impl MetaInfo {
    /// `lines[i]` is the line of `meta[i]`; `title_line` is where missing keys are
    /// reported.
    fn read(
        meta: &[(String, String)],
        lines: &[usize],
        title_line: usize,
    ) -> Result<MetaInfo, PbError> {
        let line_of = |i: usize| lines.get(i).copied().unwrap_or(0);
        let mut seen: HashMap<&str, usize, RandomState> = HashMap::default();
        for (i, (key, _)) in meta.iter().enumerate() {
            if let Some(&first) = seen.get(key.as_str()) {
                return Err(PbError::new(
                    line_of(i),
                    Kind::DuplicateMetaKey {
                        key: key.clone(),
                        first_line: line_of(first),
                    },
                ));
            }
            seen.insert(key, i);
        }
        let find = |key: &'static str| {
            meta.iter()
                .position(|(k, v)| k == key && !is_none(v))
                .and_then(|i| Some((i, meta.get(i)?.1.as_str())))
        };
        let missing = |key| PbError::new(title_line, Kind::MissingMeta { key });
        let (i, text) = find("vote_type").ok_or_else(|| missing("vote_type"))?;
        let vote_type: VoteType = text.parse().map_err(|_| {
            PbError::new(
                line_of(i),
                Kind::UnknownVoteType {
                    found: text.to_owned(),
                },
            )
        })?;
        let (i, budget_text) = find("budget").ok_or_else(|| missing("budget"))?;
        let budget =
            Amount::parse(budget_text, "budget").map_err(|k| PbError::new(line_of(i), k))?;
        let budget_line = line_of(i);
        let max_length = match (vote_type, find("max_length")) {
            (VoteType::Ordinal, Some((i, text))) => {
                Some(parse_u32(text.trim().as_bytes()).ok_or_else(|| {
                    PbError::new(
                        line_of(i),
                        Kind::InvalidNumber {
                            what: "max_length",
                            found: text.to_owned(),
                        },
                    )
                })?)
            }
            _ => None,
        };
        Ok(MetaInfo {
            vote_type,
            budget,
            budget_line,
            budget_text: budget_text.to_owned(),
            max_length,
        })
    }
}

fn is_none(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v == "None"
}

// ---------------------------------------------------------------------------
// Amounts

/// A non-negative decimal `mantissa / 10^decimals`, trailing zeros of the
/// fraction removed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Amount {
    mantissa: u128,
    decimals: u32,
}

impl Amount {
    pub(super) fn parse(text: &str, what: &'static str) -> Result<Amount, Kind> {
        let t = text.trim();
        let invalid = || Kind::InvalidAmount {
            what,
            found: text.to_owned(),
        };
        if let Some(rest) = t.strip_prefix('-') {
            return Err(match Amount::parse(rest, what) {
                Ok(_) => Kind::NegativeAmount {
                    what,
                    found: text.to_owned(),
                },
                Err(_) => invalid(),
            });
        }
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        let frac = frac.trim_end_matches('0');
        let out_of_range = || Kind::AmountOutOfRange {
            what,
            found: text.to_owned(),
            decimals: u32::try_from(frac.len()).unwrap_or(u32::MAX),
        };
        let decimals = u32::try_from(frac.len()).map_err(|_| out_of_range())?;
        if decimals > MAX_DECIMALS {
            return Err(out_of_range());
        }
        let mut mantissa: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(b - b'0')))
                .ok_or_else(out_of_range)?;
        }
        Ok(Amount { mantissa, decimals })
    }

    /// The amount in units of `10^-decimals`: the whole units (saturating at
    /// `u128::MAX`) and whether a fraction of a unit is left over.
    pub(super) fn split(self, decimals: u32) -> (u128, bool) {
        match decimals.checked_sub(self.decimals) {
            Some(up) => {
                let whole = 10_u128
                    .checked_pow(up)
                    .and_then(|f| self.mantissa.checked_mul(f))
                    .unwrap_or(if self.mantissa == 0 { 0 } else { u128::MAX });
                (whole, false)
            }
            None => {
                let down = self.decimals - decimals;
                match 10_u128.checked_pow(down) {
                    Some(f) => (self.mantissa / f, !self.mantissa.is_multiple_of(f)),
                    None => (0, self.mantissa != 0),
                }
            }
        }
    }

    /// The amount times `10^decimals` (at least `self.decimals`), if it fits.
    fn scaled(self, decimals: u32) -> Option<u64> {
        let factor = 10_u128.checked_pow(decimals.checked_sub(self.decimals)?)?;
        u64::try_from(self.mantissa.checked_mul(factor)?).ok()
    }
}

// ---------------------------------------------------------------------------
// PROJECTS

struct ProjectsReader {
    columns: Vec<String>,
    id_column: usize,
    cost_column: usize,
    projects: Vec<PbProject>,
    costs: Vec<(Amount, usize)>,
    ids: HashMap<String, usize, RandomState>,
}

impl ProjectsReader {
    fn new(columns: Vec<String>, header_line: usize) -> Result<ProjectsReader, PbError> {
        let err = |k| PbError::new(header_line, k);
        let mut seen: HashMap<&str, (), RandomState> = HashMap::default();
        for c in &columns {
            if !c.is_empty() && seen.insert(c, ()).is_some() {
                return Err(err(Kind::DuplicateColumn {
                    section: Section::Projects,
                    column: c.clone(),
                }));
            }
        }
        let find = |column: &'static str| {
            columns
                .iter()
                .position(|c| c == column)
                .ok_or(err(Kind::MissingColumn {
                    section: Section::Projects,
                    column,
                }))
        };
        let id_column = find("project_id")?;
        let cost_column = find("cost")?;
        Ok(ProjectsReader {
            columns,
            id_column,
            cost_column,
            projects: Vec::new(),
            costs: Vec::new(),
            ids: HashMap::default(),
        })
    }

    fn push(&mut self, line: usize, fields: Vec<String>) -> Result<(), PbError> {
        let err = |k| PbError::new(line, k);
        let fields = fit_to(fields, self.columns.len()).map_err(err)?;
        let id = fields
            .get(self.id_column)
            .map(|s| s.trim())
            .unwrap_or_default()
            .to_owned();
        if id.is_empty() {
            return Err(err(Kind::EmptyProjectId));
        }
        let cost_text = fields
            .get(self.cost_column)
            .map(String::as_str)
            .unwrap_or_default();
        let cost = Amount::parse(cost_text, "cost").map_err(err)?;
        if let Some(&first_line) = self.ids.get(&id) {
            return Err(err(Kind::DuplicateProjectId { id, first_line }));
        }
        self.ids.insert(id.clone(), line);
        self.costs.push((cost, line));
        self.projects.push(PbProject {
            id,
            cost: 0,
            fields,
        });
        Ok(())
    }

    /// Scales the budget and the costs to integers.
    fn finish(self, meta: &MetaInfo) -> Result<Finished, PbError> {
        let decimals = self
            .costs
            .iter()
            .map(|(a, _)| a.decimals)
            .fold(meta.budget.decimals, u32::max);
        let scale = 10_u64.pow(decimals.min(MAX_DECIMALS));
        let out_of_range = |line: usize, what, found: &str| {
            PbError::new(
                line,
                Kind::AmountOutOfRange {
                    what,
                    found: found.to_owned(),
                    decimals,
                },
            )
        };
        let budget = meta
            .budget
            .scaled(decimals)
            .ok_or_else(|| out_of_range(meta.budget_line, "budget", &meta.budget_text))?;
        let cost_column = self.cost_column;
        let mut projects = self.projects;
        for (project, &(amount, line)) in projects.iter_mut().zip(&self.costs) {
            project.cost = amount.scaled(decimals).ok_or_else(|| {
                out_of_range(
                    line,
                    "cost",
                    project
                        .fields
                        .get(cost_column)
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
            })?;
        }
        Ok(Finished {
            columns: self.columns,
            projects,
            scale,
            budget,
            lines: self.costs.iter().map(|&(_, line)| line).collect(),
            cost_column,
        })
    }
}

/// The projects read, costs scaled.
struct Finished {
    columns: Vec<String>,
    projects: Vec<PbProject>,
    scale: u64,
    budget: u64,
    /// The line of each project.
    lines: Vec<usize>,
    cost_column: usize,
}

impl Finished {
    /// The promises of META about these projects and the votes; problems with
    /// META or the projects go to `inspector`.
    fn promises(
        &self,
        meta: &[(String, String)],
        meta_lines: &[usize],
        info: &MetaInfo,
        inspector: &mut Inspector<'_>,
    ) -> Result<Promises, PbError> {
        let values: Vec<MetaValue<'_>> = meta
            .iter()
            .zip(meta_lines)
            .filter(|((_, v), _)| !is_none(v))
            .map(|((key, value), &line)| MetaValue { key, value, line })
            .collect();
        Promises::read(
            &values,
            info.vote_type,
            &self.projects,
            &self.lines,
            self.cost_column,
            self.columns.iter().position(|c| c == "category"),
            self.scale,
            self.budget,
            &info.budget_text,
            inspector,
        )
    }
}

// ---------------------------------------------------------------------------
// VOTES

struct VoteColumns {
    vote: usize,
    points: Option<usize>,
    /// `voter_id`, if the header has it.
    voter: Option<usize>,
    /// Fields a row must have: up to the last column read.
    needed: usize,
}

impl VoteColumns {
    fn find(columns: &[String], kind: ProfileKind) -> Result<VoteColumns, Kind> {
        let find = |column: &'static str| {
            let mut hits = columns.iter().enumerate().filter(|(_, c)| *c == column);
            match (hits.next(), hits.next()) {
                (Some((i, _)), None) => Ok(Some(i)),
                (None, _) => Ok(None),
                (Some(_), Some(_)) => Err(Kind::DuplicateColumn {
                    section: Section::Votes,
                    column: column.to_owned(),
                }),
            }
        };
        let vote = find("vote")?.ok_or(Kind::MissingColumn {
            section: Section::Votes,
            column: "vote",
        })?;
        let points = if kind == ProfileKind::Points {
            Some(find("points")?.ok_or(Kind::MissingColumn {
                section: Section::Votes,
                column: "points",
            })?)
        } else {
            None
        };
        let voter = find("voter_id")?;
        let needed = vote.max(points.unwrap_or(0)).max(voter.unwrap_or(0)) + 1;
        Ok(VoteColumns {
            vote,
            points,
            voter,
            needed,
        })
    }
}

/// Project ids to indices.
trait Ids {
    /// The index of the project with id `id`.
    fn get(&self, id: &[u8]) -> Option<u32>;
}

/// Every id is a canonical decimal number (no sign, no leading zero) below the
/// table's length; `u32::MAX` marks numbers that are not ids.
struct NumericIds(Vec<u32>);

impl NumericIds {
    fn new(projects: &[PbProject]) -> Option<NumericIds> {
        let limit = projects.len().saturating_mul(16).saturating_add(4096);
        let numbers: Vec<usize> = projects
            .iter()
            .map(|p| canonical_number(p.id.as_bytes()).filter(|&n| n < limit))
            .collect::<Option<_>>()?;
        let mut table = vec![u32::MAX; numbers.iter().max().map_or(0, |&m| m + 1)];
        for (i, n) in numbers.into_iter().enumerate() {
            *table.get_mut(n)? = u32::try_from(i).ok()?;
        }
        Some(NumericIds(table))
    }
}

impl Ids for NumericIds {
    #[inline]
    fn get(&self, id: &[u8]) -> Option<u32> {
        canonical_number(id)
            .and_then(|n| self.0.get(n))
            .copied()
            .filter(|&i| i != u32::MAX)
    }
}

/// Any ids, in a hash map with a random key.
struct HashedIds<'p>(HashMap<&'p [u8], u32, RandomState>);

impl<'p> HashedIds<'p> {
    fn new(projects: &'p [PbProject]) -> HashedIds<'p> {
        let mut map = HashMap::with_capacity_and_hasher(projects.len(), RandomState::new());
        for (i, p) in projects.iter().enumerate() {
            if let Ok(i) = u32::try_from(i) {
                map.insert(p.id.as_bytes(), i);
            }
        }
        HashedIds(map)
    }
}

impl Ids for HashedIds<'_> {
    #[inline]
    fn get(&self, id: &[u8]) -> Option<u32> {
        self.0.get(id).copied()
    }
}

/// Ids of at most 15 bytes, each packed into a `u128` (the bytes, then the length
/// in the top byte; never 0, as ids are not empty), in an open-addressing table.
///
/// The slot comes from a cheap hash (two multiplications), with a fixed seed
/// first. As every id is known when the table is built, the build measures the
/// longest probe; past [`MAX_PROBE`] it tries random seeds, and after three
/// gives up for [`HashedIds`]. So every lookup, of an id in the table or not,
/// probes at most `MAX_PROBE` slots, whatever ids a file holds.
struct PackedIds {
    keys: Vec<u128>,
    values: Vec<u32>,
    shift: u32,
    /// Random keys of the hash: an offset and two odd multipliers.
    seed: [u64; 3],
}

/// The longest probe a [`PackedIds`] table accepts.
const MAX_PROBE: usize = 32;

/// The fixed multiplier [`PackedIds`] tries first (Fx's).
const FAST_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl PackedIds {
    fn new(projects: &[PbProject]) -> Option<PackedIds> {
        let packed: Vec<u128> = projects
            .iter()
            .map(|p| pack(p.id.as_bytes()))
            .collect::<Option<_>>()?;
        let len = projects
            .len()
            .checked_mul(4)?
            .max(16)
            .checked_next_power_of_two()?;
        // A fixed seed first, as it suits real ids; then random ones, which a
        // file cannot have been built against.
        let random = HashKeys::new(9);
        let seeds = (0..3).map(|a| {
            [
                random.key(3 * a),
                random.key(3 * a + 1) | 1,
                random.key(3 * a + 2) | 1,
            ]
        });
        std::iter::once([0, FAST_SEED, FAST_SEED])
            .chain(seeds)
            .find_map(|seed| PackedIds::build(&packed, len, seed))
    }

    /// The table under `seed`, if no probe is longer than [`MAX_PROBE`].
    fn build(packed: &[u128], len: usize, seed: [u64; 3]) -> Option<PackedIds> {
        let mut table = PackedIds {
            keys: vec![0; len],
            values: vec![u32::MAX; len],
            shift: 64 - len.trailing_zeros(),
            seed,
        };
        let mask = len - 1;
        for (index, &key) in packed.iter().enumerate() {
            let mut i = table.home(key);
            let mut probe = 0;
            loop {
                match table.keys.get_mut(i) {
                    Some(slot) if *slot == 0 => {
                        *slot = key;
                        *table.values.get_mut(i)? = u32::try_from(index).ok()?;
                        break;
                    }
                    Some(_) if probe < MAX_PROBE => {
                        i = (i + 1) & mask;
                        probe += 1;
                    }
                    _ => return None,
                }
            }
        }
        Some(table)
    }

    #[inline(always)]
    fn home(&self, key: u128) -> usize {
        let [offset, m1, m2] = self.seed;
        let h = (((key as u64) ^ offset).wrapping_mul(m1) ^ (key >> 64) as u64).wrapping_mul(m2);
        (h >> self.shift) as usize
    }
}

impl Ids for PackedIds {
    #[inline(always)]
    fn get(&self, id: &[u8]) -> Option<u32> {
        let key = pack(id)?;
        let mask = self.keys.len().wrapping_sub(1);
        let mut i = self.home(key);
        for _ in 0..=MAX_PROBE {
            match self.keys.get(i) {
                Some(&k) if k == key => return self.values.get(i).copied(),
                Some(0) | None => return None,
                Some(_) => i = (i + 1) & mask,
            }
        }
        None
    }
}

#[inline(always)]
fn pack(id: &[u8]) -> Option<u128> {
    let n = id.len();
    if n == 0 || n > 15 {
        return None;
    }
    let lo = load_le(id.get(..n.min(8))?);
    let hi = load_le(id.get(n.min(8)..)?);
    Some(u128::from(lo) | (u128::from(hi) << 64) | ((n as u128) << 120))
}

/// Up to eight bytes as a little-endian number, read without a byte loop.
#[inline(always)]
fn load_le(b: &[u8]) -> u64 {
    let byte = |i: usize| u64::from(b.get(i).copied().unwrap_or(0)) << (8 * i);
    let n = b.len();
    match (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        (Some(first), Some(last)) if n <= 8 => {
            // Two overlapping 4-byte reads.
            u64::from(u32::from_le_bytes(*first))
                | (u64::from(u32::from_le_bytes(*last)) << (8 * (n - 4)))
        }
        _ if n == 0 => 0,
        _ => byte(0) | byte(n / 2) | byte(n.saturating_sub(1)),
    }
}

/// `bytes` as a number if written canonically: 1 to 9 digits, no leading zero
/// (but `0` itself).
#[inline]
fn canonical_number(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [] => None,
        [b'0', _, ..] => None,
        _ if bytes.len() > 9 => None,
        _ => {
            let mut n = 0_usize;
            for &b in bytes {
                let d = b.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                n = n * 10 + usize::from(d);
            }
            Some(n)
        }
    }
}

/// A whole number from 0 to `u32::MAX`.
#[inline]
fn parse_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    u32::try_from(n).ok()
}

/// The entries of a `,`-separated list, without surrounding whitespace. A
/// blank list has none.
#[inline]
fn list_entries(list: &[u8]) -> Entries<'_> {
    let blank = list.is_empty() || (needs_trim(list) && is_blank(list));
    Entries {
        rest: if blank { None } else { Some(list) },
    }
}

/// Iterator of [`list_entries`]: splits at `,` eight bytes at a time.
struct Entries<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let entry = match find_byte(b',', rest) {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i).unwrap_or_default()
            }
            None => {
                self.rest = None;
                rest
            }
        };
        Some(if needs_trim(entry) {
            entry.trim_ascii()
        } else {
            entry
        })
    }
}

#[inline]
fn needs_trim(e: &[u8]) -> bool {
    matches!(e.first(), Some(b) if b.is_ascii_whitespace())
        || matches!(e.last(), Some(b) if b.is_ascii_whitespace())
}

/// The project id behind index `index`, for messages.
fn id_of(projects: &[PbProject], index: u32) -> String {
    projects
        .get(index as usize)
        .map(|p| p.id.clone())
        .unwrap_or_default()
}

/// A project id in a vote that is not a project.
#[cold]
#[inline(never)]
fn bad_id(line: usize, id: &[u8]) -> PbError {
    let kind = if id.is_empty() {
        Kind::EmptyListEntry { column: "vote" }
    } else {
        Kind::UnknownProject {
            id: String::from_utf8_lossy(id).into_owned(),
        }
    };
    PbError::new(line, kind)
}

/// A ballot the profile refused.
#[cold]
#[inline(never)]
fn refused(line: usize, projects: &[PbProject], e: TallyError) -> PbError {
    match e {
        TallyError::DuplicateInBallot { index } => PbError::new(
            line,
            Kind::Problem(ProblemKind::RepeatedProject {
                id: id_of(projects, index),
            }),
        ),
        other => PbError::new(line, Kind::Tally(other)),
    }
}

/// Sorts the entries of a ballot: up to six in registers with a branch-free
/// sorting network (ballots are short and their order random, so the branches
/// of an insertion sort mispredict), more with the standard sort.
#[inline]
fn sort_ballot(v: &mut [u32]) {
    /// Compare-exchange.
    macro_rules! cx {
        ($x:ident, $y:ident) => {
            let (lo, hi) = ($x.min($y), $x.max($y));
            $x = lo;
            $y = hi;
        };
    }
    match v {
        [] | [_] => {}
        [a, b] => {
            let (mut x0, mut x1) = (*a, *b);
            cx!(x0, x1);
            (*a, *b) = (x0, x1);
        }
        [a, b, c] => {
            let (mut x0, mut x1, mut x2) = (*a, *b, *c);
            cx!(x1, x2);
            cx!(x0, x2);
            cx!(x0, x1);
            (*a, *b, *c) = (x0, x1, x2);
        }
        [a, b, c, d] => {
            let (mut x0, mut x1, mut x2, mut x3) = (*a, *b, *c, *d);
            cx!(x0, x1);
            cx!(x2, x3);
            cx!(x0, x2);
            cx!(x1, x3);
            cx!(x1, x2);
            (*a, *b, *c, *d) = (x0, x1, x2, x3);
        }
        [a, b, c, d, e] => {
            let (mut x0, mut x1, mut x2, mut x3, mut x4) = (*a, *b, *c, *d, *e);
            cx!(x0, x1);
            cx!(x3, x4);
            cx!(x2, x4);
            cx!(x2, x3);
            cx!(x0, x3);
            cx!(x0, x2);
            cx!(x1, x4);
            cx!(x1, x3);
            cx!(x1, x2);
            (*a, *b, *c, *d, *e) = (x0, x1, x2, x3, x4);
        }
        [a, b, c, d, e, f] => {
            let (mut x0, mut x1, mut x2, mut x3, mut x4, mut x5) = (*a, *b, *c, *d, *e, *f);
            cx!(x1, x2);
            cx!(x4, x5);
            cx!(x0, x2);
            cx!(x3, x5);
            cx!(x0, x1);
            cx!(x3, x4);
            cx!(x1, x4);
            cx!(x0, x3);
            cx!(x2, x5);
            cx!(x1, x3);
            cx!(x2, x4);
            cx!(x2, x3);
            (*a, *b, *c, *d, *e, *f) = (x0, x1, x2, x3, x4, x5);
        }
        _ => v.sort_unstable(),
    }
}

/// Project indices marked in the current row, for rankings longer than a few
/// entries: a stamp per project, so a row costs its entries, not its entries
/// squared.
struct Seen {
    stamp: Vec<u32>,
    generation: u32,
}

impl Seen {
    fn new(projects: usize) -> Seen {
        Seen {
            stamp: vec![0; projects],
            generation: 0,
        }
    }

    /// Forgets every mark.
    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `p`; whether it was marked already.
    #[inline]
    fn mark(&mut self, p: u32) -> bool {
        match self.stamp.get_mut(p as usize) {
            Some(s) if *s == self.generation => true,
            Some(s) => {
                *s = self.generation;
                false
            }
            None => false,
        }
    }
}

/// Rankings up to this long are checked for repeats pairwise.
const SHORT_RANKING: usize = 8;

/// The `VOTES` section being read into a profile.
struct Votes<'r> {
    columns: &'r VoteColumns,
    projects: &'r [PbProject],
    kind: ProfileKind,
    options: ParseOptions,
    builder: &'r mut ProfileBuilder,
    promises: &'r mut Promises,
    /// Threads to read with (`None`: as many as the machine has, up to
    /// [`MAX_READ_THREADS`]; `Some(0)`, for tests: in chunks, with no helper
    /// thread).
    threads: Option<usize>,
}

impl Votes<'_> {
    fn read<'a>(
        &mut self,
        lines: &mut Lines<'a>,
        inspector: &mut Inspector<'a>,
    ) -> Result<(), PbError> {
        // One copy of the loop per kind of id table, so lookups inline.
        let projects = self.projects;
        if let Some(ids) = NumericIds::new(projects) {
            self.read_with(&ids, lines, inspector)
        } else if let Some(ids) = PackedIds::new(projects) {
            self.read_with(&ids, lines, inspector)
        } else {
            let ids = HashedIds::new(projects);
            self.read_with(&ids, lines, inspector)
        }
    }

    fn read_with<'a, L: Ids + Sync>(
        &mut self,
        lookup: &L,
        lines: &mut Lines<'a>,
        inspector: &mut Inspector<'a>,
    ) -> Result<(), PbError> {
        let mut bufs = RowBuffers::new(self.kind, self.projects.len());
        if self.kind != ProfileKind::Points && lines.rest.len() >= PARALLEL_READ {
            let threads = self.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_READ_THREADS))
            });
            // (0, for tests: the chunks, with no helper to prepare them.)
            if threads != 1 {
                let helpers = threads.saturating_sub(1);
                return self.read_parallel(lookup, lines, inspector, &mut bufs, helpers);
            }
        }
        while let Some((no, line)) = lines.next_line() {
            self.row(lookup, no, line, inspector, &mut bufs)?;
        }
        Ok(())
    }

    /// Reads the rest of `lines` with `workers` threads preparing rows (the
    /// fields split, ids looked up, ballots sorted) a chunk at a time while
    /// this thread stores them in order: every check, problem and error comes
    /// in the order and with the line one thread gives, and the profile is the
    /// same. At most [`READ_AHEAD`] chunks are prepared ahead of the one being
    /// stored.
    fn read_parallel<'a, L: Ids + Sync>(
        &mut self,
        lookup: &L,
        lines: &mut Lines<'a>,
        inspector: &mut Inspector<'a>,
        bufs: &mut RowBuffers,
        workers: usize,
    ) -> Result<(), PbError> {
        use std::sync::mpsc::sync_channel;
        use std::sync::{Mutex, atomic::AtomicUsize, atomic::Ordering::Relaxed};
        let pieces = chunks(lines.rest);
        let (kind, columns, projects) = (self.kind, self.columns, self.projects.len());
        let next = AtomicUsize::new(0);
        let mut line = lines.line;
        // A token per chunk that may be prepared ahead; one comes back as each
        // chunk is stored.
        let (give, tokens) = sync_channel::<()>(READ_AHEAD + workers);
        for _ in 0..READ_AHEAD + workers {
            let _ = give.send(());
        }
        let tokens = Mutex::new(tokens);
        std::thread::scope(|scope| {
            // Once this thread stops, the workers find no more tokens.
            let give = give;
            let (send, receive) = sync_channel::<(usize, Chunk<'a>)>(READ_AHEAD + workers);
            for _ in 0..workers {
                let send = send.clone();
                let (pieces, next, tokens) = (&pieces, &next, &tokens);
                // A thread that cannot start leaves its chunks to the others
                // (or to this thread, below).
                let _ = std::thread::Builder::new().spawn_scoped(scope, move || {
                    let mut seen = Seen::new(if kind == ProfileKind::Ranking {
                        projects
                    } else {
                        0
                    });
                    loop {
                        // Without a token (or once the storing thread has
                        // stopped), stop.
                        let token = tokens.lock().map(|t| t.recv());
                        if !matches!(token, Ok(Ok(()))) {
                            break;
                        }
                        let i = next.fetch_add(1, Relaxed);
                        let Some(piece) = pieces.get(i) else {
                            break;
                        };
                        let chunk = prepare(piece, columns, lookup, kind, &mut seen);
                        if send.send((i, chunk)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(send);
            let mut waiting = std::collections::BTreeMap::new();
            let mut seen = Seen::new(if kind == ProfileKind::Ranking {
                projects
            } else {
                0
            });
            for (i, piece) in pieces.iter().enumerate() {
                let chunk = loop {
                    if let Some(chunk) = waiting.remove(&i) {
                        break chunk;
                    }
                    match receive.recv() {
                        Ok((j, chunk)) => {
                            waiting.insert(j, chunk);
                        }
                        // No thread left to prepare it (none could start).
                        Err(_) => break prepare(piece, columns, lookup, kind, &mut seen),
                    }
                };
                self.store(lookup, line, &chunk, inspector, bufs)?;
                line += chunk.lines;
                let _ = give.try_send(());
            }
            Ok::<(), PbError>(())
        })?;
        lines.rest = &[];
        lines.line = line;
        Ok(())
    }

    /// Stores a prepared chunk whose lines follow line `base`.
    fn store<'a, L: Ids>(
        &mut self,
        lookup: &L,
        base: usize,
        chunk: &Chunk<'a>,
        inspector: &mut Inspector<'a>,
        bufs: &mut RowBuffers,
    ) -> Result<(), PbError> {
        let check = !self.promises.is_empty_for_rows();
        let mut start = 0;
        for row in &chunk.rows {
            match *row {
                Prepared::Ready { line, voter, end } => {
                    let no = base + line;
                    let ballot = chunk.ids.get(start..end).unwrap_or_default();
                    start = end;
                    inspector.start_row(no, voter.map(|v| (v, Some(v))))?;
                    let verdict = if check {
                        inspector.finish_row(
                            no,
                            self.promises,
                            self.projects,
                            Ballot::Listed(ballot),
                        )?
                    } else {
                        inspector.verdict()
                    };
                    if verdict == Verdict::Count {
                        let pushed = if self.kind == ProfileKind::Approval {
                            self.builder.push_approval(ballot, 1)
                        } else {
                            self.builder.push_ranking(ballot, 1)
                        };
                        pushed.map_err(|e| refused(no, self.projects, e))?;
                    }
                }
                Prepared::Other { line, text } => {
                    self.row(lookup, base + line, text, inspector, bufs)?;
                }
            }
        }
        Ok(())
    }

    /// Reads row `no`, `line`, into the profile.
    #[inline(always)]
    fn row<'a, L: Ids>(
        &mut self,
        lookup: &L,
        no: usize,
        line: &'a [u8],
        inspector: &mut Inspector<'a>,
        bufs: &mut RowBuffers,
    ) -> Result<(), PbError> {
        let columns = self.columns;
        let projects = self.projects;
        let kind = self.kind;
        // Repeats are merged unless refused: with `merge_repeats` they are no
        // problem; without, they are one, counted merged or left out.
        let report_repeats = !self.options.merge_repeats;
        let repeated = |inspector: &mut Inspector<'a>, no: usize, p: u32| {
            if report_repeats {
                inspector.row_problem(
                    no,
                    || ProblemKind::RepeatedProject {
                        id: id_of(projects, p),
                    },
                    false,
                )
            } else {
                Ok(())
            }
        };
        let check = !self.promises.is_empty_for_rows();
        let RowBuffers {
            vote_buf,
            points_buf,
            voter_buf,
            other_buf,
            ballot,
            entries,
            seen,
        } = bufs;
        let err = |k| PbError::new(no, k);
        match line.first() {
            None => return Ok(()),
            Some(b) if b.is_ascii_whitespace() && is_blank(line) => return Ok(()),
            // Titles start with a letter, or with whitespace before it.
            Some(b) if b.is_ascii_alphabetic() || b.is_ascii_whitespace() => {
                if let Some(found) = title(line) {
                    return Err(err(Kind::SectionOutOfOrder {
                        expected: None,
                        found,
                    }));
                }
            }
            Some(_) => {}
        }

        // Split off fields up to the last one read.
        let mut vote = Field::Plain(&[]);
        let mut points = Field::Plain(&[]);
        let mut voter = None;
        let mut rest = Some(line);
        for column in 0..columns.needed {
            let Some(r) = rest else {
                return Err(err(Kind::TooFewFields {
                    expected: columns.needed,
                    found: column,
                }));
            };
            rest = if column == columns.vote {
                let (f, next) = next_field(r, vote_buf).map_err(err)?;
                vote = f;
                next
            } else if Some(column) == columns.points {
                let (f, next) = next_field(r, points_buf).map_err(err)?;
                points = f;
                next
            } else if Some(column) == columns.voter {
                let (f, next) = next_field(r, voter_buf).map_err(err)?;
                voter = Some(f);
                next
            } else {
                next_field(r, other_buf).map_err(err)?.1
            };
        }
        let voter = voter.map(|f| match f {
            Field::Plain(s) => (s.trim_ascii(), Some(s.trim_ascii())),
            Field::Quoted => (voter_buf.trim_ascii(), None),
        });
        inspector.start_row(no, voter)?;
        let vote: &[u8] = match vote {
            Field::Plain(s) => s,
            Field::Quoted => vote_buf,
        };

        if kind == ProfileKind::Points {
            let points: &[u8] = match points {
                Field::Plain(s) => s,
                Field::Quoted => points_buf,
            };
            entries.clear();
            let mut ids = list_entries(vote);
            let mut values = list_entries(points);
            loop {
                match (ids.next(), values.next()) {
                    (Some(id), Some(value)) => {
                        let index = lookup.get(id).ok_or_else(|| bad_id(no, id))?;
                        let value = parse_u32(value).ok_or_else(|| {
                            err(if value.is_empty() {
                                Kind::EmptyListEntry { column: "points" }
                            } else {
                                Kind::InvalidNumber {
                                    what: "points",
                                    found: String::from_utf8_lossy(value).into_owned(),
                                }
                            })
                        })?;
                        entries.push((index, value));
                    }
                    (None, None) => break,
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(err(Kind::PointsMismatch {
                            votes: list_entries(vote).count(),
                            points: list_entries(points).count(),
                        }));
                    }
                }
            }
            // Sorted by project, a repeat is a neighbour: merge by adding up.
            entries.sort_unstable_by_key(|e| e.0);
            if let Some(p) = first_adjacent_repeat(entries.iter().map(|e| e.0)) {
                repeated(inspector, no, p)?;
                if let Err(p) = merge_points(entries) {
                    inspector.row_problem(
                        no,
                        || ProblemKind::PointsOverflow {
                            id: id_of(projects, p),
                        },
                        true,
                    )?;
                    // The row cannot be counted, nor checked further.
                    return Ok(());
                }
            }
            let verdict = if check {
                inspector.finish_row(no, self.promises, projects, Ballot::Points(entries))?
            } else {
                inspector.verdict()
            };
            if verdict == Verdict::Count {
                self.builder
                    .push_points(entries, 1)
                    .map_err(|e| refused(no, projects, e))?;
            }
        } else {
            ballot.clear();
            for id in list_entries(vote) {
                ballot.push(lookup.get(id).ok_or_else(|| bad_id(no, id))?);
            }
            let repeat = if kind == ProfileKind::Approval {
                // The profile keeps approvals sorted; sorting here spares it
                // a copy, and makes repeats neighbours.
                sort_ballot(ballot);
                first_adjacent_repeat(ballot.iter().copied())
            } else {
                first_repeat_in_order(ballot, seen)
            };
            if let Some(p) = repeat {
                repeated(inspector, no, p)?;
                if kind == ProfileKind::Approval {
                    ballot.dedup();
                } else {
                    // A ranking keeps each project's first (best) place.
                    seen.clear();
                    ballot.retain(|&p| !seen.mark(p));
                }
            }
            let verdict = if check {
                inspector.finish_row(no, self.promises, projects, Ballot::Listed(ballot))?
            } else {
                inspector.verdict()
            };
            if verdict == Verdict::Count {
                let pushed = if kind == ProfileKind::Approval {
                    self.builder.push_approval(ballot, 1)
                } else {
                    self.builder.push_ranking(ballot, 1)
                };
                pushed.map_err(|e| refused(no, projects, e))?;
            }
        }
        Ok(())
    }
}

/// `VOTES` sections from this size on are read by several threads (see
/// [`Votes::read_parallel`]).
const PARALLEL_READ: usize = 1 << 21;

/// The most threads reading one `VOTES` section.
const MAX_READ_THREADS: usize = 4;

/// The bytes of rows a reading thread prepares at a time (cut at a line's
/// end).
const READ_CHUNK: usize = 1 << 18;

/// Prepared chunks that may wait for the thread that stores them, beyond one
/// per preparing thread: what bounds the memory running ahead takes.
const READ_AHEAD: usize = 8;

/// What reading a row needs besides the row: buffers reused from row to row.
struct RowBuffers {
    vote_buf: Vec<u8>,
    points_buf: Vec<u8>,
    voter_buf: Vec<u8>,
    other_buf: Vec<u8>,
    ballot: Vec<u32>,
    entries: Vec<(u32, u32)>,
    seen: Seen,
}

impl RowBuffers {
    fn new(kind: ProfileKind, projects: usize) -> RowBuffers {
        RowBuffers {
            vote_buf: Vec::new(),
            points_buf: Vec::new(),
            voter_buf: Vec::new(),
            other_buf: Vec::new(),
            ballot: Vec::new(),
            entries: Vec::new(),
            seen: Seen::new(if kind == ProfileKind::Ranking {
                projects
            } else {
                0
            }),
        }
    }
}

/// A row as a preparing thread left it (see [`Votes::read_parallel`]).
enum Prepared<'a> {
    /// A plain row whose every id is known and named once: its voter (trimmed)
    /// and where its ballot ends in [`Chunk::ids`].
    Ready {
        line: usize,
        voter: Option<&'a [u8]>,
        end: usize,
    },
    /// Any other row (blank, quoted, short, an unknown or repeated id, a title):
    /// read as one thread reads it, with every check in its place.
    Other { line: usize, text: &'a [u8] },
}

/// A chunk of rows, prepared.
struct Chunk<'a> {
    rows: Vec<Prepared<'a>>,
    /// The ballots of the ready rows, one after another (sorted for approvals,
    /// in order for rankings).
    ids: Vec<u32>,
    /// The lines the chunk spans.
    lines: usize,
}

/// Cuts `bytes` into pieces of about [`READ_CHUNK`] bytes, each ending at a
/// line's end (the last one where `bytes` ends).
fn chunks(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(bytes.len() / READ_CHUNK + 1);
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = match rest
            .get(READ_CHUNK..)
            .and_then(|tail| find_byte(b'\n', tail))
        {
            Some(i) => READ_CHUNK + i + 1,
            None => rest.len(),
        };
        let (piece, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Prepares the rows of `bytes` (whole lines): the plain ones fully, the rest
/// marked for the storing thread to read as one thread does.
fn prepare<'a, L: Ids>(
    bytes: &'a [u8],
    columns: &VoteColumns,
    lookup: &L,
    kind: ProfileKind,
    seen: &mut Seen,
) -> Chunk<'a> {
    let mut lines = Lines::new(bytes);
    let mut chunk = Chunk {
        // Room for a chunk's usual rows, not for one very long line's.
        rows: Vec::with_capacity(bytes.len().min(READ_CHUNK) / 16),
        ids: Vec::with_capacity(bytes.len().min(READ_CHUNK) / 4),
        lines: 0,
    };
    while let Some((line, text)) = lines.next_line() {
        let start = chunk.ids.len();
        match ready(text, columns, lookup, kind, &mut chunk.ids, seen) {
            Some(voter) => chunk.rows.push(Prepared::Ready {
                line,
                voter,
                end: chunk.ids.len(),
            }),
            None => {
                chunk.ids.truncate(start);
                chunk.rows.push(Prepared::Other { line, text });
            }
        }
    }
    chunk.lines = lines.line;
    chunk
}

/// A plain row's voter (trimmed), its ballot appended to `ids`; `None` for a
/// row [`Votes::row`] must read: one that does not start as data, has a
/// quoted or missing field, or names a project unknown or twice.
#[inline(always)]
fn ready<'a, L: Ids>(
    line: &'a [u8],
    columns: &VoteColumns,
    lookup: &L,
    kind: ProfileKind,
    ids: &mut Vec<u32>,
    seen: &mut Seen,
) -> Option<Option<&'a [u8]>> {
    match line.first() {
        Some(b) if !b.is_ascii_alphabetic() && !b.is_ascii_whitespace() => {}
        _ => return None,
    }
    let mut vote = None;
    let mut voter = None;
    let mut rest = Some(line);
    for column in 0..columns.needed {
        let r = rest?;
        if r.first() == Some(&b'"') {
            return None;
        }
        let (Field::Plain(text), next) = plain_field(r) else {
            return None;
        };
        if column == columns.vote {
            vote = Some(text);
        } else if Some(column) == columns.voter {
            voter = Some(text.trim_ascii());
        }
        rest = next;
    }
    let start = ids.len();
    for id in list_entries(vote?) {
        ids.push(lookup.get(id)?);
    }
    let ballot = ids.get_mut(start..)?;
    let repeat = if kind == ProfileKind::Approval {
        sort_ballot(ballot);
        first_adjacent_repeat(ballot.iter().copied())
    } else {
        first_repeat_in_order(ballot, seen)
    };
    match repeat {
        Some(_) => None,
        None => Some(voter),
    }
}

/// The first value equal to the one before it (a repeat, in a sorted list).
#[inline]
fn first_adjacent_repeat(mut values: impl Iterator<Item = u32>) -> Option<u32> {
    let mut previous = values.next()?;
    for v in values {
        if v == previous {
            return Some(v);
        }
        previous = v;
    }
    None
}

/// The first entry of a ranking that an earlier entry already named: pairwise
/// for a short ranking, by marks for a long one.
#[inline]
fn first_repeat_in_order(ranking: &[u32], seen: &mut Seen) -> Option<u32> {
    if ranking.len() <= SHORT_RANKING {
        return ranking
            .iter()
            .enumerate()
            .find(|&(k, p)| ranking.get(..k).is_some_and(|before| before.contains(p)))
            .map(|(_, &p)| p);
    }
    seen.clear();
    ranking.iter().copied().find(|&p| seen.mark(p))
}

/// Adds up the points of repeated projects in `entries` (sorted by project);
/// the project whose points do not fit in 32 bits is the error.
fn merge_points(entries: &mut Vec<(u32, u32)>) -> Result<(), u32> {
    let mut kept = 0_usize;
    for k in 0..entries.len() {
        let Some(&(p, v)) = entries.get(k) else { break };
        match kept.checked_sub(1).and_then(|last| entries.get_mut(last)) {
            Some(last) if last.0 == p => last.1 = last.1.checked_add(v).ok_or(p)?,
            _ => {
                if let Some(slot) = entries.get_mut(kept) {
                    *slot = (p, v);
                }
                kept += 1;
            }
        }
    }
    entries.truncate(kept);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// Projects 1 to `n`, as a vote.
    fn first(prefix: &str, n: u32) -> String {
        (1..=n)
            .map(|p| format!("{prefix}{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `.pb` file of `rows` votes over 40 projects (ids `prefix` + number),
    /// with `odd` rows of every kind the preparing threads leave to the
    /// storing one sprinkled in, and `last` as the final row.
    fn file(vote_type: &str, prefix: &str, rows: usize, last: &str) -> String {
        let mut text = format!(
            "META\nkey;value\ndescription;parallel\ncountry;Sweden\nunit;Test\n\
             instance;2026\nnum_projects;40\nnum_votes;{rows}\nbudget;100000\n\
             vote_type;{vote_type}\nmax_length;6\nrule;greedy\n\
             PROJECTS\nproject_id;cost\n"
        );
        for p in 1..=40 {
            let _ = writeln!(text, "{prefix}{p};{}", 1_000 + 37 * p);
        }
        text.push_str("VOTES\nvoter_id;vote\n");
        let mut x = 12_345_u64;
        for r in 0..rows {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = 1 + (x >> 60) as usize % 5;
            let mut vote: Vec<String> = (0..len)
                .map(|k| format!("{prefix}{}", 1 + ((x >> (8 * k + 8)) % 40)))
                .collect();
            vote.dedup();
            let vote = vote.join(",");
            let _ = match r % 997 {
                // A quoted vote, blank lines, spaces around the voter.
                1 => writeln!(text, "{r};\"{vote}\""),
                2 => writeln!(text, "\n  \n {r} ;{vote}"),
                // A voter id used before, a project named twice, too long.
                3 => writeln!(text, "{};{vote}", r - 1),
                4 => writeln!(text, "{r};{prefix}7,{prefix}7,{vote}"),
                5 => writeln!(text, "{r};{}", first(prefix, 8)),
                // Windows line ends, a voter id that is not a number.
                6 => write!(text, "{r};{vote}\r\n"),
                7 => writeln!(text, "v{r};{vote}"),
                // A long vote naming its first project again at the end.
                8 => writeln!(text, "{r};{},{prefix}1", first(prefix, 9)),
                _ => writeln!(text, "{r};{vote}"),
            };
        }
        text.push_str(last);
        text
    }

    /// Rows enough for the votes to be read by several threads.
    const ROWS: usize = 180_000;

    fn counting() -> ParseOptions {
        ParseOptions {
            on_problem: OnProblem::Count,
            ..ParseOptions::default()
        }
    }

    fn same_every_way(text: &str) {
        assert!(text.len() > PARALLEL_READ + READ_CHUNK, "{}", text.len());
        for options in ParseOptions::ALL {
            for stop in [false, true] {
                let one = check_with(text.as_bytes(), options, stop, Some(1));
                for threads in [0, 2, 4] {
                    let many = check_with(text.as_bytes(), options, stop, Some(threads));
                    assert_eq!(one, many, "{options:?}, stop {stop}, {threads} threads");
                }
            }
        }
    }

    #[test]
    fn reading_with_threads_gives_what_one_thread_gives() {
        for vote_type in ["approval", "ordinal"] {
            for prefix in ["", "p"] {
                let text = file(vote_type, prefix, ROWS, "");
                let checked = check_with(text.as_bytes(), counting(), false, Some(2));
                // Every kind of problem was met, and the file still read.
                assert!(checked.file.is_ok(), "{vote_type} {prefix}");
                assert!(
                    checked.total >= 3 * 100,
                    "{vote_type} {prefix}: {}",
                    checked.total
                );
                same_every_way(&text);
            }
        }
    }

    #[test]
    fn an_error_late_in_the_votes_is_the_one_thread_gives() {
        for last in ["99;1,2,999\n", "PROJECTS\n", "7;\"1,2\n", "5\n"] {
            let text = file("approval", "", ROWS, last);
            let checked = check_with(text.as_bytes(), counting(), false, Some(2));
            let error = checked.file.expect_err(last);
            assert!(error.line > ROWS, "{last:?}: {error}");
            same_every_way(&text);
        }
    }
}
