//! The writer: a [`PbFile`] out as `.pb` text.

use std::io::{self, BufWriter, Write};

use super::PbFile;
use crate::tally::ProfileKind;

pub(super) fn write<W: Write>(file: &PbFile, out: W) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 16, out);

    w.write_all(b"META\nkey;value\n")?;
    for (key, value) in &file.meta {
        write_row(&mut w, [key.as_str(), value.as_str()])?;
    }

    w.write_all(b"PROJECTS\n")?;
    write_row(&mut w, file.project_columns.iter().map(String::as_str))?;
    for project in &file.projects {
        write_row(&mut w, project.fields.iter().map(String::as_str))?;
    }

    w.write_all(b"VOTES\n")?;
    let points = file.profile.kind() == ProfileKind::Points;
    w.write_all(if points {
        b"voter_id;vote;points\n"
    } else {
        b"voter_id;vote\n"
    })?;
    let mut voter = VoterId::default();
    let mut list = Vec::new();
    let mut text = Vec::new();
    for ballot in file.profile.iter() {
        // The ballot's text after the voter id, the same for each of its voters.
        list.clear();
        for (k, &index) in ballot.projects.iter().enumerate() {
            let id = file
                .projects
                .get(index as usize)
                .map(|p| p.id.as_str())
                .ok_or_else(|| {
                    invalid(format!(
                        "a ballot names project index {index}, but the file has {} projects",
                        file.projects.len()
                    ))
                })?;
            if id.contains(',') {
                return Err(invalid(format!(
                    "project id {id:?} holds ',', which separates ids in a vote"
                )));
            }
            if k > 0 {
                list.push(b',');
            }
            list.extend_from_slice(id.as_bytes());
        }
        text.clear();
        text.push(b';');
        push_field(&mut text, &list, false)?;
        if points {
            text.push(b';');
            for (k, value) in ballot.points.iter().enumerate() {
                if k > 0 {
                    text.push(b',');
                }
                text.extend_from_slice(value.to_string().as_bytes());
            }
        }
        text.push(b'\n');
        for _ in 0..ballot.count {
            w.write_all(voter.next())?;
            w.write_all(&text)?;
        }
    }
    w.flush()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// One row: fields separated by `;`, quoted where needed, then `\n`.
fn write_row<'a, W: Write>(w: &mut W, fields: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
    let mut line = Vec::new();
    for (k, field) in fields.into_iter().enumerate() {
        if k > 0 {
            line.push(b';');
        }
        push_field(&mut line, field.as_bytes(), k == 0)?;
    }
    line.push(b'\n');
    w.write_all(&line)
}

/// Appends `field`, quoted if it holds `;`, `"` or `\r`, or if, as a row's
/// first field, it reads as a section title.
fn push_field(out: &mut Vec<u8>, field: &[u8], first: bool) -> io::Result<()> {
    if field.contains(&b'\n') {
        return Err(invalid(format!(
            "the field {:?} holds a line break, which a .pb file cannot",
            String::from_utf8_lossy(field)
        )));
    }
    let looks_like_title = first && {
        let t = field.trim_ascii();
        ["META", "PROJECTS", "VOTES"]
            .iter()
            .any(|s| s.as_bytes().eq_ignore_ascii_case(t))
    };
    // A quote inside an unquoted field is read literally, but quoting it is
    // unambiguous; a `\r` unquoted at the end of a line would be lost.
    if looks_like_title || field.iter().any(|&b| matches!(b, b';' | b'"' | b'\r')) {
        out.push(b'"');
        for &b in field {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field);
    }
    Ok(())
}

/// Voter ids 1, 2, 3, … as ASCII, counted in place.
#[derive(Debug)]
struct VoterId {
    digits: [u8; 20],
    start: usize,
}

impl Default for VoterId {
    fn default() -> VoterId {
        VoterId {
            digits: [b'0'; 20],
            start: 20,
        }
    }
}

impl VoterId {
    /// The next id (the first is `1`).
    fn next(&mut self) -> &[u8] {
        let mut i = self.digits.len();
        while i > 0 {
            i -= 1;
            if let Some(d) = self.digits.get_mut(i) {
                if *d == b'9' {
                    *d = b'0';
                } else {
                    *d += 1;
                    break;
                }
            }
        }
        self.start = self.start.min(i);
        self.digits.get(self.start..).unwrap_or_default()
    }
}
