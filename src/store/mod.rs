//! The event log: one small [`Store`] trait, in-memory, SQLite and PostgreSQL
//! backends, a hash chain that makes tampering evident, and a [`Repository`] that
//! loads cycles and programmes by replaying their events and executes commands
//! with optimistic concurrency.
//!
//! Events are the source of truth. A stream (one cycle or one programme) is a
//! sequence of events numbered from 1; [`Store::append`] adds events only if the
//! stream is still at the version the writer expects, so two writers can never
//! both win. Each stored event carries the SHA-256 of the previous one over a
//! canonical encoding ([`chain_hash`]), and loading or [`StoreExt::verify`]
//! reports the first broken link. Events are JSON with a schema number, so logs
//! written by older versions keep loading.
//!
//! ```
//! use std::sync::Arc;
//! use medborgarbudget::store::{memory::MemoryStore, Repository, StoreExt, VoterKey};
//! use medborgarbudget::process::{AnyCycle, Event};
//! # use medborgarbudget::process::CycleSetup;
//! # let setup: CycleSetup = serde_json::from_str(r#"{"id":"00000000-0000-0000-0000-000000000001","year":2026,"area":{"id":"00000000-0000-0000-0000-00000000000a","name":"Hjällbo","population":7600},"currency":"SEK","started_at":"2026-01-15T09:00:00Z"}"#)?;
//!
//! let store = Arc::new(MemoryStore::new());
//! let key = VoterKey::new(b"the municipality's own secret key".to_vec())?;
//! let mut cycles = Repository::<AnyCycle>::new(store.clone(), key);
//! cycles.create(setup.id, Event::CycleStarted(setup.clone()))?;
//! assert_eq!(cycles.load(setup.id)?.year(), 2026);
//! store.verify(&medborgarbudget::store::StreamId::cycle(setup.id))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{CycleId, ProgrammeId};

pub mod conformance;
mod journal;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
mod privacy;
mod repository;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use journal::{Journal, JournalError};
pub use privacy::{KeyError, KeyFileError, VoterKey};
pub use repository::{Aggregate, Repository, RepositoryError, decode};

/// How hard a commit waits for the disk (SQLite and PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A commit survives power loss (SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on`). The default.
    #[default]
    Full,
    /// A commit survives a crash of the writing process; after a power loss or a
    /// server crash the last commits may roll back, never corrupt (SQLite
    /// `synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`).
    Normal,
}

/// A stream's version: the number of events in it (0 for an empty stream).
pub type Version = u64;

/// The current schema of stored events. Schema 1 (the format before the store
/// existed: internally tagged JSON) is upgraded on read.
pub const SCHEMA: u32 = 2;

/// A stream's name: `cycle-<uuid>`, `programme-<uuid>`, or any 1–200 ASCII
/// letters, digits and `-_.:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

impl StreamId {
    /// A stream name, checked.
    ///
    /// # Errors
    /// [`StoreError::InvalidStream`].
    pub fn new(name: impl Into<String>) -> Result<StreamId, StoreError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 200
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if ok {
            Ok(StreamId(name.into()))
        } else {
            Err(StoreError::InvalidStream { name })
        }
    }

    /// The stream of a cycle.
    pub fn cycle(id: CycleId) -> StreamId {
        StreamId(format!("cycle-{id}").into())
    }

    /// The stream of a programme.
    pub fn programme(id: ProgrammeId) -> StreamId {
        StreamId(format!("programme-{id}").into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        StreamId::new(s)
    }
}

impl From<StreamId> for String {
    fn from(s: StreamId) -> String {
        s.0.to_string()
    }
}

/// A SHA-256 digest, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The "previous hash" of a stream's first event: all zeros.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// From 64 hex digits.
    ///
    /// # Errors
    /// [`StoreError::Decode`] for anything else.
    pub fn from_hex(text: &str) -> Result<Hash, StoreError> {
        let bad = || StoreError::Decode {
            stream: None,
            version: 0,
            message: format!("{text:?} is not a SHA-256 digest in hex"),
        };
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(bad());
        }
        let mut out = [0_u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (hex(pair[0]), hex(pair[1])) {
                (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
                _ => return Err(bad()),
            }
        }
        Ok(Hash(out))
    }

    /// As bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl TryFrom<String> for Hash {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Hash::from_hex(&s)
    }
}

impl From<Hash> for String {
    fn from(h: Hash) -> String {
        h.to_string()
    }
}

/// An event to append: its JSON and the schema it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The schema of `payload` (normally [`SCHEMA`]).
    pub schema: u32,
    /// The event as JSON text.
    pub payload: String,
}

impl NewEvent {
    /// An event in the current schema.
    ///
    /// # Errors
    /// [`StoreError::Decode`] if the event cannot be serialised.
    pub fn json<E: Serialize>(event: &E) -> Result<NewEvent, StoreError> {
        Ok(NewEvent {
            schema: SCHEMA,
            payload: serde_json::to_string(event).map_err(|e| StoreError::Decode {
                stream: None,
                version: 0,
                message: e.to_string(),
            })?,
        })
    }
}

/// An event as stored: its place in the stream, when it was recorded, its JSON,
/// and its link in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The stream.
    pub stream: StreamId,
    /// Its number in the stream, from 1.
    pub version: Version,
    /// The schema of `payload`.
    pub schema: u32,
    /// When the store recorded it (to the microsecond).
    pub recorded_at: DateTime<Utc>,
    /// The event as JSON text.
    pub payload: String,
    /// The hash of the previous event ([`Hash::GENESIS`] for the first).
    pub prev_hash: Hash,
    /// The hash of this event: [`chain_hash`] of the fields above.
    pub hash: Hash,
}

/// The canonical encoding of an event for the hash chain: SHA-256 over a domain
/// tag, the previous hash, then the stream name, version, schema, recording time
/// (microseconds since 1970 UTC) and payload, each length-prefixed, integers
/// big-endian.
pub fn chain_hash(
    prev: &Hash,
    stream: &StreamId,
    version: Version,
    schema: u32,
    recorded_at: &DateTime<Utc>,
    payload: &str,
) -> Hash {
    let mut h = Sha256::new();
    h.update(b"medborgarbudget/event/1\0");
    h.update(prev.0);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(stream.as_str().as_bytes());
    field(&version.to_be_bytes());
    field(&schema.to_be_bytes());
    field(&recorded_at.timestamp_micros().to_be_bytes());
    field(payload.as_bytes());
    Hash(h.finalize().into())
}

/// The recording time as backends store it as text (RFC 3339, microseconds, `Z`).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The current time, to the microsecond (what every backend can store exactly).
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

impl StoredEvent {
    /// Seals events for appending after `prev` at version `expected`: numbers them,
    /// stamps them with `recorded_at` and links them into the chain.
    pub fn seal(
        stream: &StreamId,
        expected: Version,
        prev: Hash,
        recorded_at: DateTime<Utc>,
        events: Vec<NewEvent>,
    ) -> Vec<StoredEvent> {
        let mut out = Vec::with_capacity(events.len());
        StoredEvent::seal_into(&mut out, stream, expected, prev, recorded_at, events);
        out
    }

    /// Like [`StoredEvent::seal`], appending to `out`; returns the new head.
    pub fn seal_into(
        out: &mut Vec<StoredEvent>,
        stream: &StreamId,
        expected: Version,
        prev: Hash,
        recorded_at: DateTime<Utc>,
        events: Vec<NewEvent>,
    ) -> Hash {
        let mut prev = prev;
        out.reserve(events.len());
        for (i, e) in events.into_iter().enumerate() {
            let version = expected + i as u64 + 1;
            let hash = chain_hash(&prev, stream, version, e.schema, &recorded_at, &e.payload);
            out.push(StoredEvent {
                stream: stream.clone(),
                version,
                schema: e.schema,
                recorded_at,
                payload: e.payload,
                prev_hash: prev,
                hash,
            });
            prev = hash;
        }
        prev
    }

    /// Checks this event's link: it follows `prev` and its hash is right.
    ///
    /// # Errors
    /// [`StoreError::Chain`] naming this event.
    pub fn check(&self, prev: &Hash) -> Result<(), StoreError> {
        self.check_follows(prev)?;
        self.check_sealed()
    }

    /// Checks that this event follows `prev`.
    ///
    /// # Errors
    /// [`StoreError::Chain`] naming this event.
    pub fn check_follows(&self, prev: &Hash) -> Result<(), StoreError> {
        if self.prev_hash == *prev {
            Ok(())
        } else {
            Err(StoreError::Chain {
                stream: self.stream.clone(),
                version: self.version,
                reason: "it does not follow the previous event's hash",
            })
        }
    }

    /// Checks that this event's hash matches its content (independent of the
    /// events around it, so it can run in parallel).
    ///
    /// # Errors
    /// [`StoreError::Chain`] naming this event.
    pub fn check_sealed(&self) -> Result<(), StoreError> {
        let expected = chain_hash(
            &self.prev_hash,
            &self.stream,
            self.version,
            self.schema,
            &self.recorded_at,
            &self.payload,
        );
        if expected == self.hash {
            Ok(())
        } else {
            Err(StoreError::Chain {
                stream: self.stream.clone(),
                version: self.version,
                reason: "its content does not match its hash",
            })
        }
    }
}

/// What went wrong in the event log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another writer appended first.
    #[error("stream {stream}: expected version {expected}, but it is at {actual}")]
    Conflict {
        /// The stream.
        stream: StreamId,
        /// The version the writer expected.
        expected: Version,
        /// The version it has.
        actual: Version,
    },
    /// The hash chain is broken: the first bad link.
    #[error("stream {stream}, event {version}: the hash chain is broken: {reason}")]
    Chain {
        /// The stream.
        stream: StreamId,
        /// The first event whose link is broken.
        version: Version,
        /// How.
        reason: &'static str,
    },
    /// An event that does not decode.
    #[error("{}event {version}: cannot decode: {message}", stream.as_ref().map(|s| format!("stream {s}, ")).unwrap_or_default())]
    Decode {
        /// The stream, when known.
        stream: Option<StreamId>,
        /// The event.
        version: Version,
        /// What is wrong.
        message: String,
    },
    /// An event written by a newer version of the crate.
    #[error(
        "stream {stream}, event {version}: schema {schema} is newer than this build supports ({supported})"
    )]
    SchemaTooNew {
        /// The stream.
        stream: StreamId,
        /// The event.
        version: Version,
        /// Its schema.
        schema: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// A stream name that is not allowed.
    #[error(
        "{name:?} is not a valid stream name (1–200 ASCII letters, digits, '-', '_', '.', ':')"
    )]
    InvalidStream {
        /// The name.
        name: String,
    },
    /// The backend failed.
    #[error("{backend}: {message}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// Its message.
        message: String,
    },
    /// Writing an export failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// What an append did: the stream's new version and the hash of its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The new version.
    pub version: Version,
    /// The hash of the last event appended (the stream's head).
    pub head: Hash,
}

/// A stream and its version, as [`Store::streams`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream.
    pub stream: StreamId,
    /// Its version.
    pub version: Version,
}

/// An event log. Object-safe and synchronous; `&T`, `Box<T>` and `Arc<T>` of a
/// store are stores. Every backend passes [`conformance`].
pub trait Store: Send + Sync + fmt::Debug {
    /// Appends `events` to `stream` if it is at version `expected` (0: a new
    /// stream), sealing them into the hash chain, all in one transaction. Returns
    /// the new version and head.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the expected and actual version, or a
    /// backend failure. Nothing is appended on error.
    fn append(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError>;

    /// Reads up to `limit` events of `stream` with versions above `after`, in
    /// order.
    ///
    /// # Errors
    /// A backend failure.
    fn read(
        &self,
        stream: &StreamId,
        after: Version,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Every stream with its version.
    ///
    /// # Errors
    /// A backend failure.
    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError>;

    /// The version of `stream` (0 if it has no events).
    ///
    /// # Errors
    /// A backend failure.
    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        Ok(self
            .streams()?
            .into_iter()
            .find(|s| s.stream == *stream)
            .map_or(0, |s| s.version))
    }
}

macro_rules! forward_store {
    ($($ty:ty),*) => {
        $(
            impl<T: Store + ?Sized> Store for $ty {
                fn append(&self, stream: &StreamId, expected: Version, events: Vec<NewEvent>) -> Result<Appended, StoreError> {
                    (**self).append(stream, expected, events)
                }
                fn read(&self, stream: &StreamId, after: Version, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
                    (**self).read(stream, after, limit)
                }
                fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
                    (**self).streams()
                }
                fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
                    (**self).version(stream)
                }
            }
        )*
    };
}
forward_store!(&T, Box<T>, Arc<T>);

/// Events read per page by [`StoreExt::read_all`] and the repository.
pub const PAGE: usize = 10_000;

/// What [`StoreExt::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Events checked.
    pub events: u64,
    /// The hash of the last one (the stream's head).
    pub head: Hash,
}

/// Conveniences on every [`Store`].
pub trait StoreExt: Store {
    /// Every event of `stream` after `after`, page by page.
    ///
    /// # Errors
    /// A backend failure.
    fn read_all(&self, stream: &StreamId, after: Version) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::new();
        let mut from = after;
        loop {
            let page = self.read(stream, from, PAGE)?;
            let done = page.len() < PAGE;
            if let Some(last) = page.last() {
                from = last.version;
            }
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Checks the whole hash chain of `stream` and the numbering of its events.
    ///
    /// # Errors
    /// [`StoreError::Chain`] naming the first broken link.
    fn verify(&self, stream: &StreamId) -> Result<Verified, StoreError> {
        let mut head = Hash::GENESIS;
        let mut count = 0;
        let mut from = 0;
        loop {
            let page = self.read(stream, from, PAGE)?;
            for e in &page {
                if e.version != count + 1 {
                    return Err(StoreError::Chain {
                        stream: stream.clone(),
                        version: count + 1,
                        reason: "an event is missing or out of order",
                    });
                }
                e.check(&head)?;
                head = e.hash;
                count = e.version;
            }
            if page.len() < PAGE {
                return Ok(Verified {
                    events: count,
                    head,
                });
            }
            from = count;
        }
    }

    /// Writes `stream` as JSON lines for an auditor: one object per event with its
    /// version, schema, recording time, hashes and the event itself. Returns the
    /// number of events written. The chain is verified first.
    ///
    /// # Errors
    /// A broken chain, a backend failure or a write error.
    fn export_jsonl(&self, stream: &StreamId, out: &mut dyn Write) -> Result<u64, StoreError> {
        self.verify(stream)?;
        let mut n = 0;
        for e in self.read_all(stream, 0)? {
            let event: serde_json::Value =
                serde_json::from_str(&e.payload).map_err(|err| StoreError::Decode {
                    stream: Some(stream.clone()),
                    version: e.version,
                    message: err.to_string(),
                })?;
            let line = serde_json::json!({
                "stream": e.stream,
                "version": e.version,
                "schema": e.schema,
                "recorded_at": timestamp(&e.recorded_at),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "event": event,
            });
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        Ok(n)
    }
}

impl<T: Store + ?Sized> StoreExt for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_checked() {
        assert!(StreamId::new("cycle-1").is_ok());
        assert!(StreamId::new("").is_err());
        assert!(StreamId::new("a b").is_err());
        assert!(StreamId::new("x".repeat(201)).is_err());
        assert_eq!(
            StreamId::cycle(CycleId::from_u128(1)).as_str(),
            "cycle-00000000-0000-0000-0000-000000000001"
        );
    }

    #[test]
    fn hashes_round_trip_and_chain() {
        let h = Hash([0xab; 32]);
        assert_eq!(Hash::from_hex(&h.to_string()).unwrap(), h);
        assert!(Hash::from_hex("xy").is_err());
        let s = StreamId::new("s").unwrap();
        let at = now();
        let events = vec![
            NewEvent {
                schema: 2,
                payload: "{\"a\":1}".into(),
            },
            NewEvent {
                schema: 2,
                payload: "{\"b\":2}".into(),
            },
        ];
        let sealed = StoredEvent::seal(&s, 0, Hash::GENESIS, at, events);
        assert_eq!(sealed[1].prev_hash, sealed[0].hash);
        sealed[0].check(&Hash::GENESIS).unwrap();
        sealed[1].check(&sealed[0].hash).unwrap();
        let mut altered = sealed[1].clone();
        altered.payload = "{\"b\":3}".into();
        assert!(matches!(
            altered.check(&sealed[0].hash),
            Err(StoreError::Chain { version: 2, .. })
        ));
        assert!(matches!(
            sealed[1].check(&Hash::GENESIS),
            Err(StoreError::Chain { .. })
        ));
    }
}
