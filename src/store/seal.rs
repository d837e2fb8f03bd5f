//! Heads and seals: what a store records about each stream besides its events,
//! and the writer's key that makes a rewritten log evident.
//!
//! The hash chain links every event to the one before, so an event edited in
//! place breaks it. It does not stop someone who recomputes it: the encoding is
//! public, so an attacker who can write to the database can edit an event and
//! rehash every event after it, or delete the last events. Two things catch
//! that:
//!
//! - the **head** — the version and hash of a stream's last event — that every
//!   backend records in the same transaction as the events, and that every load
//!   and [`verify`](super::StoreExt::verify) compares with the events (deleting
//!   events without also rewriting the head is caught with no key at all);
//! - the **seal**: HMAC-SHA-256 of the head under a [`LogKey`] that only the
//!   writer holds (separate from the [`VoterKey`](super::VoterKey)). A store
//!   opened with the key seals every head it writes and refuses a head whose
//!   seal does not verify, so rewriting the chain *and* the head is caught
//!   unless the attacker also holds the log key;
//! - against an attacker with the key, or with an older copy of the whole
//!   database to roll back to, the **published head**: the report and the export
//!   show each stream's head, and an outside copy of it (in the council's
//!   minutes, say) no longer matches.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::privacy::{KeyError, KeyFileError, KeyFingerprint, Secret, mac};
use super::{Hash, StreamId, Version};

/// The writer's secret for sealing stream heads (HMAC-SHA-256). Keep it apart
/// from the database: anyone holding both can rewrite the log undetected by the
/// seal (the published heads still catch them). Its `Debug` output never shows
/// the key.
#[derive(Clone)]
pub struct LogKey {
    key: Secret,
}

impl LogKey {
    pub(crate) fn from_secret(key: Secret) -> LogKey {
        LogKey { key }
    }

    /// A key from secret bytes (16 to 1,024; 32 random bytes recommended).
    ///
    /// # Errors
    /// [`KeyError`] for a shorter or longer key.
    pub fn new(key: Vec<u8>) -> Result<LogKey, KeyError> {
        Secret::new(key).map(LogKey::from_secret)
    }

    /// A fresh random 32-byte key.
    pub fn random() -> LogKey {
        LogKey::from_secret(Secret::random())
    }

    /// The key bytes, to store them where the embedding system keeps secrets.
    pub fn as_bytes(&self) -> &[u8] {
        self.key.bytes()
    }

    /// The key as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.key.to_hex()
    }

    /// A key from hex (surrounding white space ignored).
    ///
    /// # Errors
    /// As [`VoterKey::from_hex`](super::VoterKey::from_hex).
    pub fn from_hex(text: &str) -> Result<LogKey, KeyError> {
        Secret::from_hex(text).map(LogKey::from_secret)
    }

    /// Reads a key file written by [`LogKey::write_file`].
    ///
    /// # Errors
    /// [`KeyFileError`] naming the file.
    pub fn read_file(path: &std::path::Path) -> Result<LogKey, KeyFileError> {
        Secret::read_file(path).map(LogKey::from_secret)
    }

    /// Writes the key as hex to a new file, readable only by its owner on Unix
    /// from the moment it exists, and never half written.
    ///
    /// # Errors
    /// [`KeyFileError::Exists`] if the file exists, [`KeyFileError::Io`].
    pub fn write_file(&self, path: &std::path::Path) -> Result<(), KeyFileError> {
        self.key.write_new_file(path)
    }

    /// The seal of a stream's head: HMAC-SHA-256 over a domain tag, the stream's
    /// name, the head's version and hash, and the fingerprint of the voter key
    /// the stream was written with (if recorded), each length-prefixed.
    pub fn seal(
        &self,
        stream: &StreamId,
        version: Version,
        hash: &Hash,
        voter_key: Option<&KeyFingerprint>,
    ) -> Seal {
        let name = stream.as_str().as_bytes();
        let fingerprint: &[u8] = voter_key.map_or(&[], |f| &f.0);
        Seal(mac(
            self.key.bytes(),
            &[
                b"medborgarbudget/head/1\0",
                &(name.len() as u64).to_be_bytes(),
                name,
                &version.to_be_bytes(),
                &hash.0,
                &(fingerprint.len() as u64).to_be_bytes(),
                fingerprint,
            ],
        ))
    }

    /// Whether `head`'s seal is the one this key gives it.
    pub fn verifies(&self, stream: &StreamId, head: &Head) -> bool {
        head.seal.is_some_and(|seal| {
            let expected = self.seal(stream, head.version, &head.hash, head.voter_key.as_ref());
            // Compared in constant time: a timing difference must not tell a
            // forger how many bytes of a guess are right.
            expected
                .0
                .iter()
                .zip(seal.0.iter())
                .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
    }
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogKey(…)")
    }
}

/// A head's seal: an HMAC-SHA-256, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Seal(pub [u8; 32]);

impl fmt::Display for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Hash(self.0), f)
    }
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Seal({self})")
    }
}

impl TryFrom<String> for Seal {
    type Error = super::StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Hash::from_hex(&s).map(|h| Seal(h.0))
    }
}

impl From<Seal> for String {
    fn from(s: Seal) -> String {
        s.to_string()
    }
}

/// What a store records about a stream besides its events, in the same
/// transaction as them: its version and the hash of its last event, the seal
/// of both under the writer's [`LogKey`] (if it had one), and the fingerprint of
/// the voter key its ballots are pseudonymised with (if a writer recorded one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The stream's version: its number of events.
    pub version: Version,
    /// The hash of its last event.
    pub hash: Hash,
    /// The seal over the head, if the writer had a log key.
    pub seal: Option<Seal>,
    /// The fingerprint of the voter key, if recorded.
    pub voter_key: Option<KeyFingerprint>,
}

/// What shows that a stream's log was tampered with, beside a broken hash link
/// ([`StoreError::Chain`](super::StoreError::Chain)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// The events end before the recorded head: events were deleted.
    EndsBeforeHead {
        /// The head's version as recorded.
        recorded: Version,
        /// The last event there is.
        found: Version,
    },
    /// An event exists after the recorded head: an event was added outside the
    /// store, or the head was moved back.
    PastHead {
        /// The head's version as recorded.
        recorded: Version,
    },
    /// The event at the head's version has another hash than the head records.
    HeadHashDiffers {
        /// The head's version.
        version: Version,
    },
    /// Events exist, but the store records no head for them.
    NoHead {
        /// Events found.
        found: Version,
    },
    /// The head's seal does not verify under the log key: the log or its head
    /// was rewritten by someone without the key.
    BadSeal {
        /// The head's version.
        version: Version,
    },
    /// The store is opened with a log key, but the head carries no seal: it was
    /// removed, or the stream was written without the key.
    NoSeal {
        /// The head's version.
        version: Version,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::EndsBeforeHead { recorded, found } => write!(
                f,
                "its head is recorded at event {recorded}, but its events end at event {found}: events were deleted"
            ),
            Evidence::PastHead { recorded } => write!(
                f,
                "an event exists after its recorded head (event {recorded}): it was added outside the store, or the head was moved back"
            ),
            Evidence::HeadHashDiffers { version } => write!(
                f,
                "event {version} has another hash than its recorded head: the events or the head were replaced"
            ),
            Evidence::NoHead { found } => write!(
                f,
                "it has {found} events but the store records no head for it: the head was deleted"
            ),
            Evidence::BadSeal { version } => write!(
                f,
                "the seal on its head (event {version}) does not verify under the log key: the log or its head was rewritten by someone without the key"
            ),
            Evidence::NoSeal { version } => write!(
                f,
                "its head (event {version}) carries no seal although the store is opened with a log key: the seal was removed, or the stream was written without the key"
            ),
        }
    }
}
