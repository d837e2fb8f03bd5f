//! The reader: bytes in, [`PbFile`] out, never a panic.
//!
//! `META` and `PROJECTS` are small and read into strings. `VOTES` is most of a
//! file and is read on bytes: only the `vote` (and `points`) fields are looked at,
//! ids are mapped to indices by a table (ids that are small numbers) or an Fx hash
//! map, and each ballot goes into the [`ProfileBuilder`] from reused buffers.

use std::collections::HashMap;

use super::error::{PbError, PbErrorKind, Section};
use super::fx::FxBuild;
use super::{ParseOptions, PbFile, PbProject, VoteType};
use crate::tally::{Profile, ProfileBuilder, ProfileKind, TallyError};

type Kind = PbErrorKind;

/// Most decimals an amount may have (10^18 still fits in a `u64`).
const MAX_DECIMALS: u32 = 18;

pub(super) fn parse(bytes: &[u8], options: ParseOptions) -> Result<PbFile, PbError> {
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
    let (project_columns, projects, scale, budget) = projects.finish(&info)?;

    // VOTES
    let (header_line, vote_columns) = expect_header(&mut lines, Section::Votes)?;
    let kind = info.vote_type.profile_kind();
    let columns =
        VoteColumns::find(&vote_columns, kind).map_err(|k| PbError::new(header_line, k))?;
    let mut builder = Profile::builder(kind, projects.len());
    if let Some(length) = info.max_length {
        builder.ranking_length(length);
    }
    read_votes(&mut lines, &columns, &projects, kind, options, &mut builder)?;

    Ok(PbFile {
        meta,
        project_columns,
        projects,
        vote_columns,
        vote_type: info.vote_type,
        profile: builder.build(),
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
    for (k, row) in rows.into_iter().enumerate() {
        reader.push(header_line + 1 + k, row)?;
    }
    let (project_columns, projects, scale, budget) = reader.finish(&info)?;
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
        profile,
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
        let mut seen: HashMap<&str, usize, FxBuild> = HashMap::default();
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
struct Amount {
    mantissa: u128,
    decimals: u32,
}

impl Amount {
    fn parse(text: &str, what: &'static str) -> Result<Amount, Kind> {
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
    ids: HashMap<String, usize, FxBuild>,
}

impl ProjectsReader {
    fn new(columns: Vec<String>, header_line: usize) -> Result<ProjectsReader, PbError> {
        let err = |k| PbError::new(header_line, k);
        let mut seen: HashMap<&str, (), FxBuild> = HashMap::default();
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
    fn finish(
        mut self,
        meta: &MetaInfo,
    ) -> Result<(Vec<String>, Vec<PbProject>, u64, u64), PbError> {
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
        for (project, &(amount, line)) in self.projects.iter_mut().zip(&self.costs) {
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
        Ok((self.columns, self.projects, scale, budget))
    }
}

// ---------------------------------------------------------------------------
// VOTES

struct VoteColumns {
    vote: usize,
    points: Option<usize>,
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
        let needed = vote.max(points.unwrap_or(0)) + 1;
        Ok(VoteColumns {
            vote,
            points,
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

/// Any ids, in an Fx hash map.
struct HashedIds<'p>(HashMap<&'p [u8], u32, FxBuild>);

impl<'p> HashedIds<'p> {
    fn new(projects: &'p [PbProject]) -> HashedIds<'p> {
        let mut map = HashMap::with_capacity_and_hasher(projects.len(), FxBuild::default());
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
struct PackedIds {
    keys: Vec<u128>,
    values: Vec<u32>,
    shift: u32,
}

impl PackedIds {
    fn new(projects: &[PbProject]) -> Option<PackedIds> {
        let len = projects
            .len()
            .checked_mul(4)?
            .max(16)
            .checked_next_power_of_two()?;
        let mut table = PackedIds {
            keys: vec![0; len],
            values: vec![u32::MAX; len],
            shift: 64 - len.trailing_zeros(),
        };
        let mask = len - 1;
        for (index, p) in projects.iter().enumerate() {
            let key = pack(p.id.as_bytes())?;
            let mut i = table.home(key);
            loop {
                match table.keys.get_mut(i) {
                    Some(slot) if *slot == 0 => {
                        *slot = key;
                        *table.values.get_mut(i)? = u32::try_from(index).ok()?;
                        break;
                    }
                    Some(_) => i = (i + 1) & mask,
                    None => return None,
                }
            }
        }
        Some(table)
    }

    #[inline]
    fn home(&self, key: u128) -> usize {
        let h = ((key as u64).wrapping_mul(SEED) ^ (key >> 64) as u64).wrapping_mul(SEED);
        (h >> self.shift) as usize
    }
}

impl Ids for PackedIds {
    #[inline(always)]
    fn get(&self, id: &[u8]) -> Option<u32> {
        let key = pack(id)?;
        let mask = self.keys.len().wrapping_sub(1);
        let mut i = self.home(key);
        loop {
            match self.keys.get(i) {
                Some(&k) if k == key => return self.values.get(i).copied(),
                Some(0) | None => return None,
                Some(_) => i = (i + 1) & mask,
            }
        }
    }
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

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
            Kind::DuplicateInVote {
                id: id_of(projects, index),
            },
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

/// Pushes an approval or ranking ballot; with `merge_repeats`, a ballot naming a
/// project twice keeps its first place.
#[inline]
fn push_listed(
    builder: &mut ProfileBuilder,
    kind: ProfileKind,
    ballot: &mut Vec<u32>,
    options: ParseOptions,
) -> Result<(), TallyError> {
    if kind == ProfileKind::Approval {
        // The profile keeps approvals sorted; sorting here spares it a copy.
        sort_ballot(ballot);
    }
    let push = |builder: &mut ProfileBuilder, ballot: &[u32]| {
        if kind == ProfileKind::Approval {
            builder.push_approval(ballot, 1)
        } else {
            builder.push_ranking(ballot, 1)
        }
    };
    let result = push(builder, ballot);
    if result.is_ok() || !options.merge_repeats {
        return result;
    }
    match result {
        Err(TallyError::DuplicateInBallot { .. }) => {
            let mut seen = Vec::with_capacity(ballot.len());
            ballot.retain(|&p| {
                let first = !seen.contains(&p);
                seen.push(p);
                first
            });
            push(builder, ballot)
        }
        other => other,
    }
}

/// Pushes a points ballot; with `merge_repeats`, the points a project got are
/// added up. Without, a project named twice is refused even where the profile
/// would drop a zero.
fn push_points(
    builder: &mut ProfileBuilder,
    entries: &mut [(u32, u32)],
    options: ParseOptions,
) -> Result<(), TallyError> {
    if !options.merge_repeats && entries.iter().any(|e| e.1 == 0) {
        for (k, e) in entries.iter().enumerate() {
            if entries
                .get(..k)
                .is_some_and(|s| s.iter().any(|f| f.0 == e.0))
            {
                return Err(TallyError::DuplicateInBallot { index: e.0 });
            }
        }
    }
    let result = builder.push_points(entries, 1);
    if result.is_ok() || !options.merge_repeats {
        return result;
    }
    match result {
        Err(TallyError::DuplicateInBallot { .. }) => {
            entries.sort_unstable_by_key(|e| e.0);
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(entries.len());
            for &(p, v) in entries.iter() {
                match merged.last_mut() {
                    Some(last) if last.0 == p => {
                        last.1 = last.1.checked_add(v).ok_or(TallyError::Overflow)?;
                    }
                    _ => merged.push((p, v)),
                }
            }
            builder.push_points(&merged, 1)
        }
        other => other,
    }
}

fn read_votes(
    lines: &mut Lines<'_>,
    columns: &VoteColumns,
    projects: &[PbProject],
    kind: ProfileKind,
    options: ParseOptions,
    builder: &mut ProfileBuilder,
) -> Result<(), PbError> {
    // One copy of the loop per kind of id table, so lookups inline.
    if let Some(ids) = NumericIds::new(projects) {
        read_votes_with(&ids, lines, columns, projects, kind, options, builder)
    } else if let Some(ids) = PackedIds::new(projects) {
        read_votes_with(&ids, lines, columns, projects, kind, options, builder)
    } else {
        let ids = HashedIds::new(projects);
        read_votes_with(&ids, lines, columns, projects, kind, options, builder)
    }
}

fn read_votes_with<L: Ids>(
    lookup: &L,
    lines: &mut Lines<'_>,
    columns: &VoteColumns,
    projects: &[PbProject],
    kind: ProfileKind,
    options: ParseOptions,
    builder: &mut ProfileBuilder,
) -> Result<(), PbError> {
    let mut vote_buf = Vec::new();
    let mut points_buf = Vec::new();
    let mut other_buf = Vec::new();
    let mut ballot: Vec<u32> = Vec::new();
    let mut entries: Vec<(u32, u32)> = Vec::new();

    while let Some((no, line)) = lines.next_line() {
        let err = |k| PbError::new(no, k);
        match line.first() {
            None => continue,
            Some(b) if b.is_ascii_whitespace() && is_blank(line) => continue,
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
        let mut rest = Some(line);
        for column in 0..columns.needed {
            let Some(r) = rest else {
                return Err(err(Kind::TooFewFields {
                    expected: columns.needed,
                    found: column,
                }));
            };
            rest = if column == columns.vote {
                let (f, next) = next_field(r, &mut vote_buf).map_err(err)?;
                vote = f;
                next
            } else if Some(column) == columns.points {
                let (f, next) = next_field(r, &mut points_buf).map_err(err)?;
                points = f;
                next
            } else {
                next_field(r, &mut other_buf).map_err(err)?.1
            };
        }
        let vote: &[u8] = match vote {
            Field::Plain(s) => s,
            Field::Quoted => &vote_buf,
        };

        if kind == ProfileKind::Points {
            let points: &[u8] = match points {
                Field::Plain(s) => s,
                Field::Quoted => &points_buf,
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
            if let Err(e) = push_points(builder, &mut entries, options) {
                return Err(refused(no, projects, e));
            }
        } else {
            ballot.clear();
            for id in list_entries(vote) {
                ballot.push(lookup.get(id).ok_or_else(|| bad_id(no, id))?);
            }
            if let Err(e) = push_listed(builder, kind, &mut ballot, options) {
                return Err(refused(no, projects, e));
            }
        }
    }
    Ok(())
}
