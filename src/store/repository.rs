//! Loading cycles and programmes from their events and executing commands with
//! optimistic concurrency.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{
    Hash, NewEvent, PAGE, SCHEMA, Store, StoreError, StoredEvent, StreamId, Version, VoterKey,
    check_head,
};
use crate::ids::{CycleId, ProgrammeId, ResidentId};
use crate::process::{
    AnyCycle, Command, CycleError, Event, Programme, ProgrammeCommand, ProgrammeError,
    ProgrammeEvent, ReplayError, Snapshot,
};

/// Something kept as a stream of events: a cycle or a programme.
///
/// The repository asks it to `decide` which events a command produces without
/// changing it, appends them, and only then lets it `evolve` by them.
pub trait Aggregate: Sized {
    /// Its id.
    type Id: Copy + fmt::Display;
    /// What can be asked of it.
    type Command;
    /// What it records.
    type Event: Serialize + DeserializeOwned + Clone + Send;
    /// Why it refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Why its events do not rebuild it.
    type ReplayError: std::error::Error + Send + Sync + 'static;

    /// Its stream.
    fn stream(id: Self::Id) -> StreamId;

    /// Rebuilds it from all its events.
    ///
    /// # Errors
    /// The first event that breaks a rule.
    fn replay(events: Vec<Self::Event>) -> Result<Self, Self::ReplayError>;

    /// The events `command` produces, leaving `self` unchanged.
    ///
    /// # Errors
    /// The rule the command breaks.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies events recorded after the ones it was built from; `first` is the
    /// version of the first of them.
    ///
    /// # Errors
    /// The first event that breaks a rule.
    fn evolve(&mut self, events: Vec<Self::Event>, first: Version)
    -> Result<(), Self::ReplayError>;

    /// The command with every voter's id replaced by `pseudonym(id)`.
    fn pseudonymize(
        command: Self::Command,
        pseudonym: &dyn Fn(ResidentId) -> ResidentId,
    ) -> Self::Command;

    /// The refusal of a pseudonymised command, naming `caller(id)` for each
    /// resident `id` it names: the id the caller sent, so that an error never
    /// shows a pseudonym. The default names residents as the error does.
    fn name_residents(
        error: Self::Error,
        caller: &dyn Fn(ResidentId) -> ResidentId,
    ) -> Self::Error {
        let _ = caller;
        error
    }

    /// Upgrades an event written in an older `schema` to the current one.
    ///
    /// # Errors
    /// A description of what cannot be upgraded.
    fn upcast(schema: u32, event: Value) -> Result<Value, String>;
}

/// Schema 1 wrote enums internally tagged: the variant's name sat under `tag`
/// next to its fields. Schema 2 writes `{variant: fields}`.
fn untag(value: Value, tag: &str) -> Result<(String, Value), String> {
    let Value::Object(mut map) = value else {
        return Err(format!("expected an object with {tag:?}"));
    };
    match map.remove(tag) {
        Some(Value::String(variant)) => Ok((variant, Value::Object(map))),
        _ => Err(format!("missing {tag:?}")),
    }
}

fn wrap(variant: String, inner: Value) -> Value {
    let mut map = Map::new();
    map.insert(variant, inner);
    Value::Object(map)
}

/// A cycle event of schema 1 in schema 2.
fn upcast_cycle_event(v: Value) -> Result<Value, String> {
    let (variant, rest) = untag(v, "event")?;
    let inner = if variant == "accepted" {
        let (command, fields) = untag(rest, "command")?;
        wrap(command, fields)
    } else {
        rest
    };
    Ok(wrap(variant, inner))
}

impl Aggregate for AnyCycle {
    type Id = CycleId;
    type Command = Command;
    type Event = Event;
    type Error = CycleError;
    type ReplayError = ReplayError;

    fn stream(id: CycleId) -> StreamId {
        StreamId::cycle(id)
    }

    fn replay(events: Vec<Event>) -> Result<AnyCycle, ReplayError> {
        AnyCycle::replay(events)
    }

    fn decide(&self, command: &Command) -> Result<Vec<Event>, CycleError> {
        AnyCycle::decide(self, command)
    }

    fn evolve(&mut self, events: Vec<Event>, first: Version) -> Result<(), ReplayError> {
        let offset = usize::try_from(first.saturating_sub(1)).unwrap_or(usize::MAX);
        AnyCycle::evolve(self, events).map_err(|e| match e {
            ReplayError::Rejected {
                index,
                event,
                source,
            } => ReplayError::Rejected {
                index: index + offset,
                event,
                source,
            },
            other => other,
        })
    }

    fn pseudonymize(command: Command, pseudonym: &dyn Fn(ResidentId) -> ResidentId) -> Command {
        command.pseudonymize(pseudonym)
    }

    fn name_residents(error: CycleError, caller: &dyn Fn(ResidentId) -> ResidentId) -> CycleError {
        error.rename_residents(caller)
    }

    fn upcast(schema: u32, event: Value) -> Result<Value, String> {
        match schema {
            1 => upcast_cycle_event(event),
            other => Err(format!("no upgrade from schema {other}")),
        }
    }
}

impl Aggregate for Programme {
    type Id = ProgrammeId;
    type Command = ProgrammeCommand;
    type Event = ProgrammeEvent;
    type Error = ProgrammeError;
    type ReplayError = ProgrammeError;

    fn stream(id: ProgrammeId) -> StreamId {
        StreamId::programme(id)
    }

    fn replay(events: Vec<ProgrammeEvent>) -> Result<Programme, ProgrammeError> {
        Programme::replay(events)
    }

    fn decide(&self, command: &ProgrammeCommand) -> Result<Vec<ProgrammeEvent>, ProgrammeError> {
        Programme::decide(self, command)
    }

    fn evolve(
        &mut self,
        events: Vec<ProgrammeEvent>,
        first: Version,
    ) -> Result<(), ProgrammeError> {
        let offset = usize::try_from(first.saturating_sub(1)).unwrap_or(usize::MAX);
        Programme::evolve(self, events, offset)
    }

    fn pseudonymize(
        command: ProgrammeCommand,
        pseudonym: &dyn Fn(ResidentId) -> ResidentId,
    ) -> ProgrammeCommand {
        match command {
            ProgrammeCommand::Cycle { year, command } => ProgrammeCommand::Cycle {
                year,
                command: command.pseudonymize(pseudonym),
            },
            other => other,
        }
    }

    fn name_residents(
        error: ProgrammeError,
        caller: &dyn Fn(ResidentId) -> ResidentId,
    ) -> ProgrammeError {
        error.rename_residents(caller)
    }

    fn upcast(schema: u32, event: Value) -> Result<Value, String> {
        if schema != 1 {
            return Err(format!("no upgrade from schema {schema}"));
        }
        let (variant, rest) = untag(event, "kind")?;
        let inner = if variant == "cycle" {
            let Value::Object(mut fields) = rest else {
                return Err("expected the cycle event's fields".into());
            };
            let event = fields.remove("event").ok_or("missing the cycle's event")?;
            fields.insert("event".into(), upcast_cycle_event(event)?);
            Value::Object(fields)
        } else {
            rest
        };
        Ok(wrap(variant, inner))
    }
}

/// Why the repository could not load or change an aggregate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError<E: std::error::Error + 'static, R: std::error::Error + 'static> {
    /// The command breaks a rule; nothing was appended.
    #[error("refused: {0}")]
    Rejected(#[source] E),
    /// The stored events do not rebuild the aggregate.
    #[error("stream {stream}: the stored events break the rules: {source}")]
    Replay {
        /// The stream.
        stream: StreamId,
        /// The rule broken.
        #[source]
        source: R,
    },
    /// No such stream.
    #[error("stream {stream} has no events")]
    NotFound {
        /// The stream.
        stream: StreamId,
    },
    /// A repository opened to read ([`Repository::reader`]) was asked to
    /// execute a command.
    #[error("stream {stream}: this repository reads only; it has no voter key to write with")]
    ReadOnly {
        /// The stream.
        stream: StreamId,
    },
    /// Other writers kept appending first.
    #[error("stream {stream}: gave up after {attempts} conflicting appends")]
    Contended {
        /// The stream.
        stream: StreamId,
        /// Attempts made.
        attempts: u32,
    },
    /// The store failed, or its log is broken or unreadable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Loaded<A> {
    state: A,
    version: Version,
    head: Hash,
}

/// Loads aggregates by replaying their streams, keeps them, and executes commands:
/// decide, append with the expected version, evolve. On a conflict it reads only
/// the events appended since its version, applies them, and tries again. Ballots
/// are pseudonymised with the [`VoterKey`] before anything is decided or stored,
/// and the key's fingerprint is recorded with each stream it creates: a
/// repository with another key cannot write to it.
///
/// Every load and every command first reads the stream's recorded
/// [`Head`](super::Head), replays the events up to it and checks that they end there
/// (and, for a store with a log key, that its seal verifies): events deleted
/// from the end, or added past it, are reported as tampering
/// ([`StoreError::Tampered`]).
pub struct Repository<A: Aggregate> {
    store: Arc<dyn Store>,
    key: Option<VoterKey>,
    loaded: HashMap<StreamId, Loaded<A>>,
    attempts: u32,
}

/// Waits before retry `attempt` (1, 2, …) of a command that met a conflict:
/// up to 25 µs × 2^attempt (at most 3.2 ms), less a varying part, so writers
/// that collided spread out instead of colliding again at once.
fn backoff(attempt: u32) {
    use std::hash::{BuildHasher, RandomState};
    let ceiling = 25u64 << attempt.min(7);
    let jitter = RandomState::new().hash_one(attempt) % ceiling.max(1);
    std::thread::sleep(std::time::Duration::from_micros(ceiling / 2 + jitter / 2));
}

/// A decoded page: its events, the version of the first, and the new head and
/// version.
type Page<E> = Result<(Vec<E>, Version, Hash, Version), StoreError>;

impl<A: Aggregate> fmt::Debug for Repository<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("store", &self.store)
            .field("loaded", &self.loaded.len())
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Pages at least this long are hashed and decoded on two threads.
const PARALLEL_DECODE: usize = 2_048;

type RepoResult<T, A> =
    std::result::Result<T, RepositoryError<<A as Aggregate>::Error, <A as Aggregate>::ReplayError>>;

/// Decodes a stored event, upgrading older schemas.
///
/// # Errors
/// [`StoreError::Decode`] or [`StoreError::SchemaTooNew`].
pub fn decode<A: Aggregate>(e: &StoredEvent) -> Result<A::Event, StoreError> {
    let bad = |message: String| StoreError::Decode {
        stream: Some(e.stream.clone()),
        version: e.version,
        message,
    };
    match e.schema {
        SCHEMA => serde_json::from_str(&e.payload).map_err(|err| bad(err.to_string())),
        s if s > SCHEMA => Err(StoreError::SchemaTooNew {
            stream: e.stream.clone(),
            version: e.version,
            schema: s,
            supported: SCHEMA,
        }),
        s => {
            let value: Value =
                serde_json::from_str(&e.payload).map_err(|err| bad(err.to_string()))?;
            let mut value = value;
            for from in s..SCHEMA {
                value = A::upcast(from, value).map_err(&bad)?;
            }
            serde_json::from_value(value).map_err(|err| bad(err.to_string()))
        }
    }
}

impl<A: Aggregate> Repository<A> {
    /// A repository over `store`, pseudonymising voters with `key`.
    pub fn new(store: Arc<dyn Store>, key: VoterKey) -> Repository<A> {
        Repository {
            store,
            key: Some(key),
            loaded: HashMap::new(),
            attempts: 10_000,
        }
    }

    /// A repository over `store` that only loads (a report, an audit): it needs
    /// no voter key, and refuses to execute commands
    /// ([`RepositoryError::ReadOnly`]).
    pub fn reader(store: Arc<dyn Store>) -> Repository<A> {
        Repository {
            store,
            key: None,
            loaded: HashMap::new(),
            attempts: 1,
        }
    }

    /// How many conflicting appends to retry before giving up (default 10,000).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The version of a loaded aggregate.
    pub fn version(&self, id: A::Id) -> Option<Version> {
        self.loaded.get(&A::stream(id)).map(|l| l.version)
    }

    /// Forgets a loaded aggregate; the next access replays it.
    pub fn forget(&mut self, id: A::Id) {
        self.loaded.remove(&A::stream(id));
    }

    /// Starts a new stream with its first event (such as `cycle_started`).
    ///
    /// # Errors
    /// A first event that does not start an aggregate, or a stream that already
    /// exists ([`StoreError::AlreadyExists`]; [`Repository::open_or_create`]
    /// loads it instead).
    pub fn create(&mut self, id: A::Id, first: A::Event) -> RepoResult<&A, A> {
        let stream = A::stream(id);
        let state = A::replay(vec![first.clone()]).map_err(|source| RepositoryError::Replay {
            stream: stream.clone(),
            source,
        })?;
        let Some(key) = &self.key else {
            return Err(RepositoryError::ReadOnly { stream });
        };
        let appended = self.store.append_as(
            &stream,
            0,
            vec![NewEvent::json(&first)?],
            Some(&key.fingerprint()),
        )?;
        let loaded = self.loaded.entry(stream).insert_entry(Loaded {
            state,
            version: appended.version,
            head: appended.head,
        });
        Ok(&loaded.into_mut().state)
    }

    /// The aggregate: loaded if its stream exists, else started with `first`.
    /// A retried creation, or two callers creating the same stream at once,
    /// both end with the one stream (which must start with `first`).
    ///
    /// # Errors
    /// As [`Repository::create`] and [`Repository::load`];
    /// [`StoreError::AlreadyExists`] when the stored stream starts with another
    /// event than `first`.
    pub fn open_or_create(&mut self, id: A::Id, first: A::Event) -> RepoResult<&A, A>
    where
        A::Event: PartialEq,
    {
        let stream = A::stream(id);
        let created = match self.create(id, first.clone()) {
            Ok(_) => true,
            Err(RepositoryError::Store(StoreError::AlreadyExists { .. })) => false,
            Err(e) => return Err(e),
        };
        if !created {
            let stored = self
                .store
                .read(&stream, 0, 1)?
                .first()
                .map(decode::<A>)
                .transpose()?;
            if stored.as_ref() != Some(&first) {
                return Err(StoreError::AlreadyExists {
                    version: self.store.version(&stream)?,
                    stream,
                }
                .into());
            }
        }
        self.load(id)
    }

    /// Checks one page against the chain from (`head`, `version`) and decodes it:
    /// links and numbering in order, then hashes and decoding — of the two halves
    /// of a large page in parallel. The first broken link is reported. Returns the
    /// events, the version of the first, and the new head and version.
    fn decode_page(
        stream: &StreamId,
        page: &[StoredEvent],
        head: Hash,
        version: Version,
    ) -> Page<A::Event> {
        let (mut head, mut version) = (head, version);
        let first = version + 1;
        let mut link_error = None;
        for e in page {
            let link = if e.version == version + 1 {
                e.check_follows(&head)
            } else {
                Err(StoreError::Chain {
                    stream: stream.clone(),
                    version: version + 1,
                    reason: "an event is missing or out of order",
                })
            };
            if let Err(err) = link {
                link_error = Some(err);
                break;
            }
            head = e.hash;
            version = e.version;
        }
        let checked = &page[..usize::try_from(version + 1 - first)
            .unwrap_or(0)
            .min(page.len())];
        let work = |events: &[StoredEvent]| -> Result<Vec<A::Event>, StoreError> {
            events
                .iter()
                .map(|e| {
                    e.check_sealed()?;
                    decode::<A>(e)
                })
                .collect()
        };
        let mut events = if checked.len() < PARALLEL_DECODE {
            work(checked)?
        } else {
            let (left, right) = checked.split_at(checked.len() / 2);
            let (mine, theirs) = std::thread::scope(|s| {
                let other = s.spawn(|| work(right));
                let mine = work(left);
                let theirs = other.join().unwrap_or_else(|_| {
                    Err(StoreError::Backend {
                        backend: "repository",
                        message: "a decoding thread panicked".into(),
                        source: None,
                    })
                });
                (mine, theirs)
            });
            let mut events = mine?;
            events.extend(theirs?);
            events
        };
        events.shrink_to_fit();
        match link_error {
            Some(err) => Err(err),
            None => Ok((events, first, head, version)),
        }
    }

    /// Feeds the events after `after` up to `until` to `apply`, page by page,
    /// and returns the new head and version. A short read is handled in place; a
    /// long one in a pipeline: one thread reads pages from the store, another
    /// checks the hash chain and decodes, and the caller applies.
    fn stream_events(
        &self,
        stream: &StreamId,
        (after, head): (Version, Hash),
        until: Version,
        mut apply: impl FnMut(Vec<A::Event>, Version) -> RepoResult<(), A>,
    ) -> RepoResult<(Hash, Version), A> {
        use std::sync::mpsc::sync_channel;
        // A page, cut at `until`, and whether more may follow.
        let store = &self.store;
        let read = |from: Version| -> Result<(Vec<StoredEvent>, bool), StoreError> {
            let mut page = store.read(stream, from, PAGE)?;
            let full = page.len() == PAGE;
            page.truncate(page.partition_point(|e| e.version <= until));
            let more = full && page.last().is_some_and(|e| e.version < until);
            Ok((page, more))
        };
        let (first_page, more) = read(after)?;
        let (events, first, head, version) = Self::decode_page(stream, &first_page, head, after)?;
        if !events.is_empty() {
            apply(events, first)?;
        }
        if !more {
            return Ok((head, version));
        }
        std::thread::scope(|scope| {
            let (raw_tx, raw_rx) = sync_channel::<Result<Vec<StoredEvent>, StoreError>>(2);
            let (decoded_tx, decoded_rx) = sync_channel::<Page<A::Event>>(2);
            let read = &read;
            scope.spawn(move || {
                let mut from = version;
                loop {
                    let (page, more) = match read(from) {
                        Ok((page, more)) => (Ok(page), more),
                        Err(e) => (Err(e), false),
                    };
                    if let Ok(Some(last)) = page.as_ref().map(|p| p.last()) {
                        from = last.version;
                    }
                    if raw_tx.send(page).is_err() || !more {
                        return;
                    }
                }
            });
            scope.spawn(move || {
                let (mut head, mut version) = (head, version);
                for page in raw_rx {
                    let decoded =
                        page.and_then(|page| Self::decode_page(stream, &page, head, version));
                    if let Ok((_, _, h, v)) = &decoded {
                        (head, version) = (*h, *v);
                    }
                    let failed = decoded.is_err();
                    if decoded_tx.send(decoded).is_err() || failed {
                        return;
                    }
                }
            });
            let mut at = (head, version);
            for page in decoded_rx {
                let (events, first, head, version) = page?;
                if !events.is_empty() {
                    apply(events, first)?;
                }
                at = (head, version);
            }
            Ok(at)
        })
    }

    /// Brings a loaded aggregate up to date, or loads it: reads the recorded
    /// head, replays the events up to it, and checks that they end there.
    fn refresh(&mut self, stream: &StreamId) -> RepoResult<(), A> {
        let recorded = self.store.head(stream)?;
        let log_key = self.store.log_key();
        if let Some(mut loaded) = self.loaded.remove(stream) {
            let until = recorded.map_or(0, |h| h.version);
            // On failure the aggregate is dropped: the next access replays it.
            let (head, version) = if until > loaded.version {
                self.stream_events(
                    stream,
                    (loaded.version, loaded.head),
                    until,
                    |events, first| {
                        loaded.state.evolve(events, first).map_err(|source| {
                            RepositoryError::Replay {
                                stream: stream.clone(),
                                source,
                            }
                        })
                    },
                )?
            } else {
                (loaded.head, loaded.version)
            };
            check_head(stream, recorded.as_ref(), version, &head, log_key)?;
            loaded.head = head;
            loaded.version = version;
            self.loaded.insert(stream.clone(), loaded);
            return Ok(());
        }
        let mut state: Option<A> = None;
        // Without a head, every event is read, to say how many there are.
        let until = recorded.map_or(Version::MAX, |h| h.version);
        let (head, version) =
            self.stream_events(stream, (0, Hash::GENESIS), until, |events, first| {
                let replayed = match state.as_mut() {
                    None => A::replay(events).map(|a| state = Some(a)),
                    Some(a) => a.evolve(events, first),
                };
                replayed.map_err(|source| RepositoryError::Replay {
                    stream: stream.clone(),
                    source,
                })
            })?;
        check_head(stream, recorded.as_ref(), version, &head, log_key)?;
        let state = state.ok_or_else(|| RepositoryError::NotFound {
            stream: stream.clone(),
        })?;
        self.loaded.insert(
            stream.clone(),
            Loaded {
                state,
                version,
                head,
            },
        );
        Ok(())
    }

    /// The aggregate, loaded by replaying its stream (verifying the hash chain)
    /// or, if already loaded, brought up to date with the events since.
    ///
    /// # Errors
    /// No stream, a broken chain, an undecodable event, or events that break the
    /// rules.
    pub fn load(&mut self, id: A::Id) -> RepoResult<&A, A> {
        let stream = A::stream(id);
        self.refresh(&stream)?;
        self.loaded
            .get(&stream)
            .map(|l| &l.state)
            .ok_or(RepositoryError::NotFound { stream })
    }

    /// The stream's events as a [`Snapshot`], to load elsewhere with
    /// `from_snapshot` ([`AnyCycle::from_snapshot`],
    /// [`Programme::from_snapshot`]): the hash chain and the recorded head are
    /// verified first ([`StoreExt::verify`](super::StoreExt::verify)), and
    /// events of older schemas are upgraded. Voters appear by pseudonym, as
    /// stored.
    ///
    /// # Errors
    /// No stream, a broken chain or head, an undecodable event, or a backend
    /// failure.
    pub fn snapshot(&self, id: A::Id) -> RepoResult<Snapshot<A::Event>, A> {
        use super::StoreExt;
        let stream = A::stream(id);
        let verified = self.store.verify(&stream)?;
        if verified.events == 0 {
            return Err(RepositoryError::NotFound { stream });
        }
        let events = self
            .store
            .read_all(&stream, 0)?
            .iter()
            .take_while(|e| e.version <= verified.events)
            .map(decode::<A>)
            .collect::<Result<Vec<_>, _>>()?;
        Snapshot::new(events).map_err(|e| {
            RepositoryError::Store(StoreError::Decode {
                stream: Some(stream),
                version: verified.events,
                message: e.to_string(),
            })
        })
    }

    /// Executes a command: pseudonymises its voters, decides its events on the
    /// loaded aggregate, appends them at the loaded version, and applies them. On a
    /// conflict, catches up with the new events only and tries again.
    ///
    /// # Errors
    /// The rule the command breaks (nothing appended), a store failure, or
    /// [`RepositoryError::Contended`] after too many conflicts.
    pub fn execute(&mut self, id: A::Id, command: A::Command) -> RepoResult<Vec<A::Event>, A> {
        let stream = A::stream(id);
        let Some(key) = &self.key else {
            return Err(RepositoryError::ReadOnly { stream });
        };
        let (command, callers) = pseudonymize::<A>(command, key);
        let rejected = |error| {
            let caller = |id| callers.sent(id);
            RepositoryError::Rejected(A::name_residents(error, &caller))
        };
        let fingerprint = key.fingerprint();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                backoff(attempt);
            }
            self.refresh(&stream)?;
            let Some(loaded) = self.loaded.get_mut(&stream) else {
                return Err(RepositoryError::NotFound { stream });
            };
            let events = loaded.state.decide(&command).map_err(rejected)?;
            let encoded = events
                .iter()
                .map(NewEvent::json)
                .collect::<Result<Vec<_>, _>>()?;
            match self
                .store
                .append_as(&stream, loaded.version, encoded, Some(&fingerprint))
            {
                Ok(appended) => {
                    let first = loaded.version + 1;
                    if let Err(source) = loaded.state.evolve(events.clone(), first) {
                        self.loaded.remove(&stream);
                        return Err(RepositoryError::Replay { stream, source });
                    }
                    loaded.version = appended.version;
                    loaded.head = appended.head;
                    return Ok(events);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepositoryError::Contended {
            stream,
            attempts: self.attempts,
        })
    }

    /// Executes several commands as one append (a group commit): each is
    /// decided on the aggregate as the ones before it left it, a refused one
    /// changes nothing and is reported in its place, and the events of all the
    /// accepted ones are appended together, so that they are stored together
    /// or not at all. Returns, per command in order, its events or its refusal.
    ///
    /// On a conflict the aggregate catches up and every command is decided
    /// again; a store failure forgets the loaded aggregate (the next access
    /// replays it), so nothing decided but not stored is ever seen.
    ///
    /// # Errors
    /// A store failure (nothing stored), or [`RepositoryError::Contended`].
    #[allow(clippy::type_complexity)]
    pub fn execute_each(
        &mut self,
        id: A::Id,
        commands: Vec<A::Command>,
    ) -> RepoResult<Vec<Result<Vec<A::Event>, A::Error>>, A> {
        self.execute_each_then(id, commands, |_| Ok(()))
    }

    /// [`Repository::execute_each`], calling `before_append` with what is
    /// about to be appended: per command in order, the version of its first
    /// event and its encoded events, or `None` for a refused command. It is
    /// called once per attempt (a conflict decides everything again, at new
    /// versions); when it fails nothing is appended and its error is
    /// returned. A caller records there what it must know was intended, such
    /// as the idempotency keys of the commands (a record it can later check
    /// against the stream: the events are at those versions or they are not).
    ///
    /// # Errors
    /// As [`Repository::execute_each`], or `before_append`'s error.
    #[allow(clippy::type_complexity)]
    pub fn execute_each_then(
        &mut self,
        id: A::Id,
        commands: Vec<A::Command>,
        mut before_append: impl FnMut(&[Option<(Version, &[NewEvent])>]) -> Result<(), StoreError>,
    ) -> RepoResult<Vec<Result<Vec<A::Event>, A::Error>>, A> {
        let stream = A::stream(id);
        let Some(key) = &self.key else {
            return Err(RepositoryError::ReadOnly { stream });
        };
        let fingerprint = key.fingerprint();
        let commands: Vec<_> = commands
            .into_iter()
            .map(|c| pseudonymize::<A>(c, key))
            .collect();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                backoff(attempt);
            }
            self.refresh(&stream)?;
            let Some(loaded) = self.loaded.get_mut(&stream) else {
                return Err(RepositoryError::NotFound { stream });
            };
            let mut outcomes = Vec::with_capacity(commands.len());
            let mut encoded = Vec::new();
            let mut planned = Vec::with_capacity(commands.len());
            let mut next = loaded.version + 1;
            let mut broken = None;
            for (command, callers) in &commands {
                match loaded.state.decide(command) {
                    Ok(events) => {
                        let count = events.len() as Version;
                        let start = encoded.len();
                        for e in &events {
                            match NewEvent::json(e) {
                                Ok(new) => encoded.push(new),
                                Err(e) => broken = Some(RepositoryError::Store(e)),
                            }
                        }
                        if broken.is_none()
                            && let Err(source) = loaded.state.evolve(events.clone(), next)
                        {
                            broken = Some(RepositoryError::Replay {
                                stream: stream.clone(),
                                source,
                            });
                        }
                        if broken.is_some() {
                            break;
                        }
                        planned.push(Some((next, start..encoded.len())));
                        next += count;
                        outcomes.push(Ok(events));
                    }
                    Err(error) => {
                        let caller = |id| callers.sent(id);
                        outcomes.push(Err(A::name_residents(error, &caller)));
                        planned.push(None);
                    }
                }
            }
            if let Some(e) = broken {
                self.loaded.remove(&stream);
                return Err(e);
            }
            if encoded.is_empty() {
                return Ok(outcomes);
            }
            let plan: Vec<_> = planned
                .iter()
                .map(|p| {
                    p.as_ref()
                        .map(|(first, range)| (*first, &encoded[range.clone()]))
                })
                .collect();
            if let Err(e) = before_append(&plan) {
                // The state moved on in memory only: replay it from the store.
                self.loaded.remove(&stream);
                return Err(e.into());
            }
            drop(plan);
            let expected = loaded.version;
            match self
                .store
                .append_as(&stream, expected, encoded, Some(&fingerprint))
            {
                Ok(appended) => {
                    loaded.version = appended.version;
                    loaded.head = appended.head;
                    return Ok(outcomes);
                }
                // The state moved on in memory only: replay it from the store.
                Err(StoreError::Conflict { .. }) => {
                    self.loaded.remove(&stream);
                }
                Err(e) => {
                    self.loaded.remove(&stream);
                    return Err(e.into());
                }
            }
        }
        Err(RepositoryError::Contended {
            stream,
            attempts: self.attempts,
        })
    }
}

/// The resident ids a command was sent with, by pseudonym: kept in memory for
/// the refusal, never stored. A list, not a map: it is read only when the
/// command is refused, so building it must cost no more than a push per voter.
pub(crate) struct Callers(Vec<(ResidentId, ResidentId)>);

impl Callers {
    /// The id the caller sent for `pseudonym` (`pseudonym` itself if none).
    pub(crate) fn sent(&self, pseudonym: ResidentId) -> ResidentId {
        self.0
            .iter()
            .find(|(p, _)| *p == pseudonym)
            .map_or(pseudonym, |(_, id)| *id)
    }
}

/// `command` with its voters pseudonymised by `key`, and what the caller sent.
pub(crate) fn pseudonymize<A: Aggregate>(
    command: A::Command,
    key: &VoterKey,
) -> (A::Command, Callers) {
    let callers = std::cell::RefCell::new(Vec::new());
    let command = A::pseudonymize(command, &|id| {
        let pseudonym = key.pseudonym(id);
        callers.borrow_mut().push((pseudonym, id));
        pseudonym
    });
    (command, Callers(callers.into_inner()))
}
