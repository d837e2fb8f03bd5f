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
//! reports the first broken link. Each stream's [`Head`] (version and last hash)
//! is recorded with its events and compared on every load, so deleted events
//! show; a store opened with a [`LogKey`] seals every head it writes and refuses
//! one whose seal does not verify, so a recomputed chain shows too (what each
//! protects against: the `seal` module's docs and DESIGN.md). Events are JSON
//! with a schema number, so logs written by older versions keep loading.
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

#[cfg(feature = "conformance")]
pub mod conformance;
mod journal;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod privacy;
mod repository;
mod seal;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use journal::{Journal, JournalError};
pub use privacy::{
    KeyError, KeyFileError, KeyFiles, KeyFingerprint, MAX_KEY_LEN, MIN_KEY_LEN, VoterKey,
};
pub use repository::{Aggregate, Repository, RepositoryError, decode};
pub use seal::{Evidence, Head, LogKey, Seal};

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

    /// The programme whose stream this is ([`StreamId::programme`] read
    /// back), if it is one.
    pub fn programme_id(&self) -> Option<ProgrammeId> {
        let id: ProgrammeId = self.0.strip_prefix("programme-")?.parse().ok()?;
        (StreamId::programme(id) == *self).then_some(id)
    }

    /// The cycle whose stream this is ([`StreamId::cycle`] read back), if it
    /// is one.
    pub fn cycle_id(&self) -> Option<CycleId> {
        let id: CycleId = self.0.strip_prefix("cycle-")?.parse().ok()?;
        (StreamId::cycle(id) == *self).then_some(id)
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
        hex_array(text).map(Hash).ok_or_else(bad)
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

/// Exactly `2 * N` hex digits as `N` bytes.
pub(crate) fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0_u8; N];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hex = |b: u8| (b as char).to_digit(16);
        out[i] = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
    }
    Some(out)
}

/// A version as a database stores it (`i64`), checked: a negative one is
/// [`StoreError::Corrupt`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn stored_version(
    stream: &StreamId,
    version: i64,
    what: &'static str,
) -> Result<Version, StoreError> {
    u64::try_from(version).map_err(|_| StoreError::Corrupt {
        stream: stream.clone(),
        version,
        what,
    })
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
        let mut prev = prev;
        let mut out = Vec::with_capacity(events.len());
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
        out
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
    /// A writer meant to start a stream (expected version 0) that already has
    /// events: a retried creation, or two ids that collide.
    #[error("stream {stream} already exists, with {version} events")]
    AlreadyExists {
        /// The stream.
        stream: StreamId,
        /// Its version.
        version: Version,
    },
    /// The hash chain is broken: the first bad link. The log was tampered with
    /// (or the storage corrupted it).
    #[error(
        "stream {stream}: the log has been tampered with at event {version}: the hash chain is broken: {reason}"
    )]
    Chain {
        /// The stream.
        stream: StreamId,
        /// The first event whose link is broken.
        version: Version,
        /// How.
        reason: &'static str,
    },
    /// The stream's events and its recorded head or seal disagree: the log was
    /// tampered with.
    #[error("stream {stream}: the log has been tampered with: {evidence}")]
    Tampered {
        /// The stream.
        stream: StreamId,
        /// What shows it.
        evidence: Evidence,
    },
    /// A store opened without a log key was asked to write to a sealed stream
    /// (the new head could not be sealed, and the stream would no longer load
    /// with the key).
    #[error(
        "stream {stream} is sealed with a log key; open the store with that key to write to it"
    )]
    Sealed {
        /// The stream.
        stream: StreamId,
    },
    /// A writer with another voter key than the one the stream's ballots are
    /// pseudonymised with: its pseudonyms would differ, so a resident could vote
    /// twice.
    #[error(
        "stream {stream}: its ballots are pseudonymised with the voter key {recorded}, not with this key ({given}); writing with another key would let a resident vote twice"
    )]
    VoterKeyDiffers {
        /// The stream.
        stream: StreamId,
        /// The fingerprint recorded with the stream.
        recorded: KeyFingerprint,
        /// The writer's.
        given: KeyFingerprint,
    },
    /// A stored number no event log can hold, such as a negative version: the
    /// database was damaged or written by something else. Never read as an
    /// empty stream.
    #[error("stream {stream}: the store holds the {what} {version}, which no event log can have")]
    Corrupt {
        /// The stream.
        stream: StreamId,
        /// The number as stored.
        version: i64,
        /// What the number is (`"version"`, `"event version"`).
        what: &'static str,
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
    /// The backend failed: what it was doing, and the backend's own error as
    /// the source when there is one (a rusqlite or postgres error, kept whole).
    #[error("{backend}: {message}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// What failed.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
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
/// store are stores. Every backend passes the conformance suite
/// (`store::conformance`, with the `conformance` feature).
pub trait Store: Send + Sync + fmt::Debug {
    /// Appends `events` to `stream` if it is at version `expected` (0: a new
    /// stream), sealing them into the hash chain, all in one transaction, with
    /// no voter key fingerprint ([`Store::append_as`]). Returns the new version
    /// and head.
    ///
    /// # Errors
    /// As [`Store::append_as`].
    fn append(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        self.append_as(stream, expected, events, None)
    }

    /// Appends `events` to `stream` if it is at version `expected` (0: a new
    /// stream), linking them into the hash chain, and moves the stream's
    /// [`Head`] — sealed with the store's [`LogKey`], if it has one — all in one
    /// transaction. A writer that pseudonymises voters passes its key's
    /// `voter_key` fingerprint: the first one is recorded with the stream, and
    /// a writer with another is refused.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the expected and actual version
    /// ([`StoreError::AlreadyExists`] when `expected` is 0);
    /// [`StoreError::VoterKeyDiffers`]; [`StoreError::Tampered`] when the
    /// recorded head's seal does not verify or an event already exists past it;
    /// [`StoreError::Sealed`] for a store without a log key writing to a sealed
    /// stream; or a backend failure. Nothing is appended on error.
    fn append_as(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
        voter_key: Option<&KeyFingerprint>,
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

    /// The head the store records for `stream` (`None` for a stream without
    /// events), as written; [`StoreExt::verify`] and the repository compare it
    /// with the events.
    ///
    /// # Errors
    /// A backend failure.
    fn head(&self, stream: &StreamId) -> Result<Option<Head>, StoreError>;

    /// The key this store seals heads with and checks them by, if it was
    /// opened with one.
    fn log_key(&self) -> Option<&LogKey> {
        None
    }

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
                fn append_as(&self, stream: &StreamId, expected: Version, events: Vec<NewEvent>, voter_key: Option<&KeyFingerprint>) -> Result<Appended, StoreError> {
                    (**self).append_as(stream, expected, events, voter_key)
                }
                fn read(&self, stream: &StreamId, after: Version, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
                    (**self).read(stream, after, limit)
                }
                fn head(&self, stream: &StreamId) -> Result<Option<Head>, StoreError> {
                    (**self).head(stream)
                }
                fn log_key(&self) -> Option<&LogKey> {
                    (**self).log_key()
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

/// An append as a backend writes it, decided by [`plan_append`]: the events
/// sealed into the chain and the stream's new head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAppend {
    /// The events, numbered, stamped and linked.
    pub events: Vec<StoredEvent>,
    /// The head after them: version, hash, seal (with a log key) and the voter
    /// key fingerprint to record.
    pub head: Head,
}

/// Decides an append inside a backend's transaction, from the head it records
/// (`current`): checks the version, the recorded seal (with a log key; without
/// one, that the stream is not sealed) and the voter key, then seals `events`
/// into the chain, recorded at `recorded_at`, and computes the new head and its
/// seal. Every backend appends through it, so they cannot drift apart.
///
/// # Errors
/// As [`Store::append_as`].
pub fn plan_append(
    stream: &StreamId,
    expected: Version,
    current: Option<&Head>,
    log_key: Option<&LogKey>,
    voter_key: Option<&KeyFingerprint>,
    (events, recorded_at): (Vec<NewEvent>, DateTime<Utc>),
) -> Result<PlannedAppend, StoreError> {
    let actual = current.map_or(0, |h| h.version);
    if expected == 0 && actual > 0 {
        return Err(StoreError::AlreadyExists {
            stream: stream.clone(),
            version: actual,
        });
    }
    if actual != expected {
        return Err(StoreError::Conflict {
            stream: stream.clone(),
            expected,
            actual,
        });
    }
    let (prev, fingerprint) = match current {
        None => (Hash::GENESIS, voter_key.copied()),
        Some(head) => {
            check_seal(stream, head, log_key)?;
            if head.seal.is_some() && log_key.is_none() {
                return Err(StoreError::Sealed {
                    stream: stream.clone(),
                });
            }
            if let (Some(recorded), Some(given)) = (head.voter_key, voter_key)
                && recorded != *given
            {
                return Err(StoreError::VoterKeyDiffers {
                    stream: stream.clone(),
                    recorded,
                    given: *given,
                });
            }
            (head.hash, head.voter_key.or(voter_key.copied()))
        }
    };
    let events = StoredEvent::seal(stream, expected, prev, recorded_at, events);
    let version = expected + events.len() as u64;
    let hash = events.last().map_or(prev, |e| e.hash);
    Ok(PlannedAppend {
        events,
        head: Head {
            version,
            hash,
            seal: log_key.map(|k| k.seal(stream, version, &hash, fingerprint.as_ref())),
            voter_key: fingerprint,
        },
    })
}

/// With a log key, checks that `head` carries a seal that verifies.
fn check_seal(stream: &StreamId, head: &Head, log_key: Option<&LogKey>) -> Result<(), StoreError> {
    let Some(key) = log_key else {
        return Ok(());
    };
    let evidence = if head.seal.is_none() {
        Evidence::NoSeal {
            version: head.version,
        }
    } else if key.verifies(stream, head) {
        return Ok(());
    } else {
        Evidence::BadSeal {
            version: head.version,
        }
    };
    Err(StoreError::Tampered {
        stream: stream.clone(),
        evidence,
    })
}

/// Checks that a stream's events, which end at (`version`, `hash`), agree with
/// the head the store records for it, and, with a log key, that the head's seal
/// verifies. Only a stream with neither events nor head has no head to check.
///
/// # Errors
/// [`StoreError::Tampered`] with what disagrees.
pub fn check_head(
    stream: &StreamId,
    recorded: Option<&Head>,
    version: Version,
    hash: &Hash,
    log_key: Option<&LogKey>,
) -> Result<(), StoreError> {
    let tampered = |evidence| StoreError::Tampered {
        stream: stream.clone(),
        evidence,
    };
    let Some(head) = recorded else {
        return if version == 0 {
            Ok(())
        } else {
            Err(tampered(Evidence::NoHead { found: version }))
        };
    };
    if version < head.version {
        return Err(tampered(Evidence::EndsBeforeHead {
            recorded: head.version,
            found: version,
        }));
    }
    if version > head.version {
        return Err(tampered(Evidence::PastHead {
            recorded: head.version,
        }));
    }
    if *hash != head.hash {
        return Err(tampered(Evidence::HeadHashDiffers {
            version: head.version,
        }));
    }
    check_seal(stream, head, log_key)
}

/// Events read per page by [`StoreExt::read_all`] and the repository.
pub const PAGE: usize = 10_000;

/// What [`StoreExt::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Events checked.
    pub events: u64,
    /// The hash of the last one (the stream's head).
    pub head: Hash,
    /// The head's seal, if it has one.
    pub seal: Option<Seal>,
    /// Whether the seal was checked: the store has a log key (and then the
    /// seal verified, or `verify` would have failed).
    pub sealed: bool,
    /// The fingerprint of the voter key recorded with the stream.
    pub voter_key: Option<KeyFingerprint>,
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

    /// Checks the whole hash chain of `stream`, the numbering of its events,
    /// that they end exactly at the head the store records, and, for a store
    /// with a log key, the head's seal. An event appended while it runs is not
    /// mistaken for one past the head.
    ///
    /// # Errors
    /// [`StoreError::Chain`] naming the first broken link, or
    /// [`StoreError::Tampered`].
    fn verify(&self, stream: &StreamId) -> Result<Verified, StoreError> {
        let recorded = self.head(stream)?;
        let until = recorded.map_or(Version::MAX, |h| h.version);
        let mut head = Hash::GENESIS;
        let mut count = 0;
        'pages: loop {
            let page = self.read(stream, count, PAGE)?;
            let full = page.len() == PAGE;
            for e in &page {
                if e.version > until {
                    break 'pages;
                }
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
            if !full || count == until {
                break;
            }
        }
        check_head(stream, recorded.as_ref(), count, &head, self.log_key())?;
        if let Some(recorded) = recorded
            && !self.read(stream, count, 1)?.is_empty()
            && self.head(stream)?.is_none_or(|now| now.version <= count)
        {
            // An event past the head that no append since has covered.
            return Err(StoreError::Tampered {
                stream: stream.clone(),
                evidence: Evidence::PastHead {
                    recorded: recorded.version,
                },
            });
        }
        Ok(Verified {
            events: count,
            head,
            seal: recorded.and_then(|h| h.seal),
            sealed: self.log_key().is_some() && recorded.is_some(),
            voter_key: recorded.and_then(|h| h.voter_key),
        })
    }

    /// Writes `stream` as JSON lines for an auditor: one object per event with
    /// its version, schema, recording time, hashes and the event itself, then
    /// one line publishing the stream's head:
    /// `{"stream":…,"head":{"version":…,"hash":…,"seal":…,"voter_key":…}}`
    /// (`seal` and `voter_key` may be `null`). Anyone can recompute the chain
    /// from the lines and compare its end with a head published earlier.
    /// Returns the number of events written. The chain and head are verified
    /// first.
    ///
    /// # Errors
    /// A broken chain or head, a backend failure or a write error.
    fn export_jsonl(&self, stream: &StreamId, out: &mut dyn Write) -> Result<u64, StoreError> {
        let verified = self.verify(stream)?;
        let mut n = 0;
        let mut from = 0;
        while n < verified.events {
            let page = self.read(stream, from, PAGE)?;
            if page.is_empty() {
                break;
            }
            for e in page.iter().take_while(|e| e.version <= verified.events) {
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
                from = e.version;
            }
        }
        let head = serde_json::json!({
            "stream": stream,
            "head": Head {
                version: verified.events,
                hash: verified.head,
                seal: verified.seal,
                voter_key: verified.voter_key,
            },
        });
        serde_json::to_writer(&mut *out, &head).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(n)
    }
}

impl<T: Store + ?Sized> StoreExt for T {}

#[cfg(feature = "schema")]
schema_by_hand!(Hash, "Hash", {
    "description": "A SHA-256 digest, as 64 hex digits",
    "type": "string",
    "pattern": "^[0-9a-f]{64}$"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programme_and_cycle_streams_read_back_their_ids() {
        let p = ProgrammeId::from_u128(7);
        let c = CycleId::from_u128(9);
        assert_eq!(StreamId::programme(p).programme_id(), Some(p));
        assert_eq!(StreamId::cycle(c).cycle_id(), Some(c));
        assert_eq!(StreamId::programme(p).cycle_id(), None);
        assert_eq!(StreamId::cycle(c).programme_id(), None);
        for other in [
            "programme-x",
            "cycle-",
            "votes",
            "programme-00000000-0000-0000-0000-00000000000A",
        ] {
            let s = StreamId::new(other).unwrap();
            assert_eq!((s.programme_id(), s.cycle_id()), (None, None), "{other}");
        }
    }

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
