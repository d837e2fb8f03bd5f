//! Idempotency keys for officials' commands: a retried request (a lost
//! answer, a client that sends again) with the same `Idempotency-Key` is
//! answered with the first answer's events instead of being decided again,
//! so that `add_funds` or `record_milestone` sent twice counts once.
//!
//! Before the writer appends an accepted command's events, it records a
//! receipt in the store's `requests` stream: the programme, the key, a hash
//! of the command, and where its events will be (the version of the first,
//! how many, and a hash of their JSON). A receipt is a promise, checked
//! against the programme's stream whenever it is used: if those versions
//! hold those events the command was stored and its answer is replayed; if
//! not (the server died between the two appends, or another server appended
//! first) the receipt is void and the command is decided as new. So a
//! receipt never claims what the programme's stream does not hold, whatever
//! happens between the two appends.
//!
//! A key is remembered for the latest [`REMEMBERED_KEYS`] keyed commands of
//! the server (all programmes), across restarts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::access::{hex, unhex};
use crate::ids::ProgrammeId;
use crate::process::{Programme, ProgrammeCommand, ProgrammeEvent};
use crate::store::{Aggregate, NewEvent, Store, StoreError, StoreExt, StreamId, Version};

/// The stream of receipts.
const RECEIPTS_STREAM: &str = "requests";
/// The longest idempotency key, in bytes.
pub const MAX_KEY_LENGTH: usize = 255;
/// How many keyed commands the server remembers (the oldest is forgotten
/// first).
pub const REMEMBERED_KEYS: usize = 100_000;
/// How often an append of receipts is tried again when another server
/// appended first.
const ATTEMPTS: usize = 16;

/// An official's `Idempotency-Key` and what it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestKey {
    /// The key as sent (checked by [`RequestKey::new`]).
    key: String,
    /// SHA-256 of the command's JSON as the service reads it.
    request: [u8; 32],
}

/// Why an `Idempotency-Key` header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BadKey {
    /// Empty or longer than [`MAX_KEY_LENGTH`].
    Length(usize),
    /// A character outside printable ASCII.
    Character,
}

impl RequestKey {
    /// The key `key` sent with `command`.
    pub(super) fn new(key: &str, command: &ProgrammeCommand) -> Result<RequestKey, BadKey> {
        if key.is_empty() || key.len() > MAX_KEY_LENGTH {
            return Err(BadKey::Length(key.len()));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(BadKey::Character);
        }
        // The command as read, so that whitespace or field order in the body
        // does not make a retry look like another request.
        let json = serde_json::to_string(command).unwrap_or_default();
        Ok(RequestKey {
            key: key.to_owned(),
            request: Sha256::digest(json.as_bytes()).into(),
        })
    }
}

/// What the receipts say of a keyed command.
#[derive(Debug)]
pub(super) enum Seen {
    /// Not stored before (or its receipt is void): decide it.
    New,
    /// Stored before: these are its events, as answered then.
    Stored(Vec<ProgrammeEvent>),
    /// The key came with another command before.
    Reused,
}

/// A receipt as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ReceiptEvent {
    /// A command is about to be stored.
    Intended {
        programme: ProgrammeId,
        key: String,
        /// SHA-256 of the command, hex.
        request: String,
        /// The version of its first event in the programme's stream.
        first: Version,
        /// How many events.
        count: Version,
        /// SHA-256 over the events' JSON, each length-prefixed, hex.
        events: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
struct Receipt {
    request: [u8; 32],
    first: Version,
    count: Version,
    events: [u8; 32],
}

/// The receipts, kept by the writer (which alone uses them).
#[derive(Debug)]
pub(super) struct Receipts {
    store: Arc<dyn Store>,
    version: Version,
    by_key: HashMap<(ProgrammeId, String), Receipt>,
    order: VecDeque<(ProgrammeId, String)>,
}

fn stream() -> StreamId {
    // A fixed, valid name.
    StreamId::new(RECEIPTS_STREAM)
        .unwrap_or_else(|_| StreamId::programme(ProgrammeId::from_u128(1)))
}

fn digest(events: &[NewEvent]) -> [u8; 32] {
    let mut h = Sha256::new();
    for e in events {
        h.update(e.schema.to_be_bytes());
        h.update((e.payload.len() as u64).to_be_bytes());
        h.update(e.payload.as_bytes());
    }
    h.finalize().into()
}

impl Receipts {
    /// The latest [`REMEMBERED_KEYS`] receipts of `store`.
    ///
    /// # Errors
    /// A store failure or a receipt that does not read.
    pub(super) fn open(store: Arc<dyn Store>) -> Result<Receipts, StoreError> {
        let mut receipts = Receipts {
            store,
            version: 0,
            by_key: HashMap::new(),
            order: VecDeque::new(),
        };
        if let Some(head) = receipts.store.head(&stream())? {
            receipts.version = head.version.saturating_sub(REMEMBERED_KEYS as Version);
        }
        receipts.catch_up()?;
        Ok(receipts)
    }

    /// Reads what was appended since (by this server or another).
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let stream = stream();
        for e in self.store.read_all(&stream, self.version)? {
            let event: ReceiptEvent =
                serde_json::from_str(&e.payload).map_err(|err| StoreError::Decode {
                    stream: Some(stream.clone()),
                    version: e.version,
                    message: err.to_string(),
                })?;
            self.remember(event);
            self.version = e.version;
        }
        Ok(())
    }

    fn remember(&mut self, event: ReceiptEvent) {
        let ReceiptEvent::Intended {
            programme,
            key,
            request,
            first,
            count,
            events,
            ..
        } = event;
        let (Some(request), Some(events)) = (unhex(&request), unhex(&events)) else {
            // Not one this service wrote: it can only be void.
            return;
        };
        let receipt = Receipt {
            request,
            first,
            count,
            events,
        };
        if self
            .by_key
            .insert((programme, key.clone()), receipt)
            .is_none()
        {
            self.order.push_back((programme, key));
        }
        while self.order.len() > REMEMBERED_KEYS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
    }

    /// Brings the receipts up to date with the stream (other servers on the
    /// same store), once per batch that has keyed commands.
    pub(super) fn refresh(&mut self) -> Result<(), StoreError> {
        self.catch_up()
    }

    /// What the receipts say of `key` for `programme`: checked against the
    /// programme's stream.
    ///
    /// # Errors
    /// A store failure, or stored events that do not read.
    pub(super) fn seen(
        &self,
        programme: ProgrammeId,
        key: &RequestKey,
    ) -> Result<Seen, StoreError> {
        let Some(receipt) = self.by_key.get(&(programme, key.key.clone())) else {
            return Ok(Seen::New);
        };
        if receipt.request != key.request {
            return Ok(Seen::Reused);
        }
        let stream = Programme::stream(programme);
        let limit = usize::try_from(receipt.count).unwrap_or(usize::MAX);
        let stored = self
            .store
            .read(&stream, receipt.first.saturating_sub(1), limit)?;
        let as_new: Vec<NewEvent> = stored
            .iter()
            .map(|e| NewEvent {
                schema: e.schema,
                payload: e.payload.clone(),
            })
            .collect();
        let in_place = stored.len() == limit
            && stored.first().is_some_and(|e| e.version == receipt.first)
            && digest(&as_new) == receipt.events;
        if !in_place {
            return Ok(Seen::New);
        }
        stored
            .iter()
            .map(|e| {
                serde_json::from_str(&e.payload).map_err(|err| StoreError::Decode {
                    stream: Some(stream.clone()),
                    version: e.version,
                    message: err.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Seen::Stored)
    }

    /// Records, before they are appended, where the keyed commands' events
    /// will be: `keys[i]` is command `i`'s key, `plan[i]` its first version
    /// and events (`None`: refused, nothing to record).
    ///
    /// # Errors
    /// A store failure.
    pub(super) fn intend(
        &mut self,
        programme: ProgrammeId,
        keys: &[Option<RequestKey>],
        plan: &[Option<(Version, &[NewEvent])>],
    ) -> Result<(), StoreError> {
        let at = crate::store::now();
        let intended: Vec<ReceiptEvent> = keys
            .iter()
            .zip(plan)
            .filter_map(|(key, planned)| {
                let (key, (first, events)) = (key.as_ref()?, planned.as_ref()?);
                Some(ReceiptEvent::Intended {
                    programme,
                    key: key.key.clone(),
                    request: hex(&key.request),
                    first: *first,
                    count: events.len() as Version,
                    events: hex(&digest(events)),
                    at,
                })
            })
            .collect();
        if intended.is_empty() {
            return Ok(());
        }
        let new = intended
            .iter()
            .map(NewEvent::json)
            .collect::<Result<Vec<_>, _>>()?;
        let stream = stream();
        let mut attempt = 0;
        loop {
            self.catch_up()?;
            match self.store.append(&stream, self.version, new.clone()) {
                Ok(appended) => {
                    self.version = appended.version;
                    break;
                }
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. })
                    if attempt < ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        for event in intended {
            self.remember(event);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Programme, ProgrammeCommand, ProgrammeEvent, ProgrammeSetup};
    use crate::store::memory::MemoryStore;
    use crate::store::{Repository, VoterKey};

    fn programme(store: &Arc<dyn Store>) -> (Repository<Programme>, ProgrammeId) {
        let setup: ProgrammeSetup = serde_json::from_value(serde_json::json!({
            "id": ProgrammeId::new(),
            "area": { "id": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "name": "Norrby", "population": 10000 },
            "currency": "SEK",
            "first_year": 2027,
            "years": 3,
            "established_at": "2026-12-01T10:00:00Z"
        }))
        .unwrap();
        let id = setup.id;
        let mut repo = Repository::new(store.clone(), VoterKey::random());
        repo.create(id, ProgrammeEvent::Established(setup)).unwrap();
        (repo, id)
    }

    fn start_cycle(year: i32) -> ProgrammeCommand {
        serde_json::from_value(serde_json::json!({ "start_cycle": {
            "id": crate::ids::CycleId::new(), "year": year, "at": "2027-01-10T09:00:00Z" } }))
        .unwrap()
    }

    /// A receipt whose append never followed (the server died between the
    /// two) is void: the command is new. One whose append did is a replay,
    /// after a restart too; the key with another command is a reuse.
    #[test]
    fn a_receipt_counts_only_when_the_programme_holds_its_events() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (mut repo, id) = programme(&store);
        let mut receipts = Receipts::open(store.clone()).unwrap();
        let command = start_cycle(2027);
        let key = RequestKey::new("start-2027", &command).unwrap();
        let keys = [Some(key.clone())];
        // Recorded, then the append "fails" (the hook's error stands for the
        // server dying in between): nothing stored, the receipt is void.
        let died = repo.execute_each_then(id, vec![command.clone()], |plan| {
            receipts.intend(id, &keys, plan)?;
            Err(StoreError::Backend {
                backend: "test",
                message: "died".into(),
                source: None,
            })
        });
        assert!(died.is_err());
        assert_eq!(store.head(&stream()).unwrap().unwrap().version, 1);
        let programme_stream = Programme::stream(id);
        assert_eq!(store.head(&programme_stream).unwrap().unwrap().version, 1);
        assert!(repo.load(id).unwrap().cycles().is_empty());
        assert!(matches!(receipts.seen(id, &key), Ok(Seen::New)));
        // Another command took those versions meanwhile: still void.
        let other = start_cycle(2027);
        repo.execute_each(id, vec![other]).unwrap();
        assert!(matches!(receipts.seen(id, &key), Ok(Seen::New)));
        // Stored this time (in another programme).
        let (mut repo, id) = programme(&store);
        let command = start_cycle(2027);
        let key = RequestKey::new("start-2027", &command).unwrap();
        let keys = [Some(key.clone())];
        let outcomes = repo
            .execute_each_then(id, vec![command.clone()], |plan| {
                receipts.intend(id, &keys, plan)
            })
            .unwrap();
        let Ok(events) = &outcomes[0] else {
            panic!("{outcomes:?}")
        };
        let again = Receipts::open(store.clone()).unwrap();
        match again.seen(id, &key).unwrap() {
            Seen::Stored(replayed) => assert_eq!(&replayed, events),
            other => panic!("{other:?}"),
        }
        let changed = RequestKey::new("start-2027", &start_cycle(2027)).unwrap();
        assert!(matches!(again.seen(id, &changed), Ok(Seen::Reused)));
        // Keys are per programme.
        assert!(matches!(
            again.seen(ProgrammeId::new(), &key),
            Ok(Seen::New)
        ));
    }

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        let c = start_cycle(2027);
        assert!(RequestKey::new("a b-c_1:2", &c).is_ok());
        assert_eq!(RequestKey::new("", &c), Err(BadKey::Length(0)));
        assert_eq!(
            RequestKey::new(&"k".repeat(MAX_KEY_LENGTH + 1), &c),
            Err(BadKey::Length(MAX_KEY_LENGTH + 1))
        );
        assert!(RequestKey::new(&"k".repeat(MAX_KEY_LENGTH), &c).is_ok());
        assert_eq!(RequestKey::new("nyckel\u{e5}", &c), Err(BadKey::Character));
        assert_eq!(RequestKey::new("a\tb", &c), Err(BadKey::Character));
    }

    /// Only the latest REMEMBERED_KEYS are kept in memory.
    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut receipts = Receipts::open(store).unwrap();
        let p = ProgrammeId::new();
        for n in 0..=REMEMBERED_KEYS {
            receipts.remember(ReceiptEvent::Intended {
                programme: p,
                key: n.to_string(),
                request: hex(&[0; 32]),
                first: 1,
                count: 1,
                events: hex(&[0; 32]),
                at: crate::store::now(),
            });
        }
        assert_eq!(receipts.by_key.len(), REMEMBERED_KEYS);
        assert!(!receipts.by_key.contains_key(&(p, "0".to_owned())));
        assert!(
            receipts
                .by_key
                .contains_key(&(p, REMEMBERED_KEYS.to_string()))
        );
    }
}
