//! An event log in memory: for tests, simulations and as the reference backend.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{
    Appended, Head, KeyFingerprint, LogKey, NewEvent, Store, StoreError, StoredEvent, StreamId,
    StreamInfo, Version, now, plan_append,
};

/// One stream: its events and its head, kept apart as the database backends
/// keep them, so that the same tampering shows the same way.
#[derive(Debug, Default)]
struct Log {
    events: Vec<StoredEvent>,
    head: Option<Head>,
}

/// Streams in memory, behind a read-write lock. Clones share the streams; each
/// clone has its own log key ([`MemoryStore::with_log_key`]).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    streams: Arc<RwLock<BTreeMap<StreamId, Log>>>,
    log_key: Option<LogKey>,
}

fn poisoned() -> StoreError {
    StoreError::Backend {
        backend: "memory",
        message: "a writer panicked while holding the lock".to_owned(),
        source: None,
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The store, sealing every head it writes with `key` and refusing heads
    /// whose seal does not verify.
    pub fn with_log_key(mut self, key: LogKey) -> MemoryStore {
        self.log_key = Some(key);
        self
    }
}

impl Store for MemoryStore {
    fn append_as(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
        voter_key: Option<&KeyFingerprint>,
    ) -> Result<Appended, StoreError> {
        let mut streams = self.streams.write().map_err(|_| poisoned())?;
        let log = streams.entry(stream.clone()).or_default();
        let found = log.events.len() as Version;
        if found != expected && log.head.map_or(0, |h| h.version) == expected {
            // The head says the stream ends at `expected`; the events disagree.
            let evidence = if log.head.is_none() {
                super::Evidence::NoHead {
                    found: expected + 1,
                }
            } else if found < expected {
                super::Evidence::EndsBeforeHead {
                    recorded: expected,
                    found,
                }
            } else {
                super::Evidence::PastHead { recorded: expected }
            };
            return Err(StoreError::Tampered {
                stream: stream.clone(),
                evidence,
            });
        }
        let plan = plan_append(
            stream,
            expected,
            log.head.as_ref(),
            self.log_key.as_ref(),
            voter_key,
            (events, now()),
        )?;
        log.events.extend(plan.events);
        if plan.head.version > 0 {
            log.head = Some(plan.head);
        }
        Ok(Appended {
            version: plan.head.version,
            head: plan.head.hash,
        })
    }

    fn read(
        &self,
        stream: &StreamId,
        after: Version,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let streams = self.streams.read().map_err(|_| poisoned())?;
        Ok(streams
            .get(stream)
            .map(|log| {
                let start = log.events.partition_point(|e| e.version <= after);
                log.events[start..].iter().take(limit).cloned().collect()
            })
            .unwrap_or_default())
    }

    fn head(&self, stream: &StreamId) -> Result<Option<Head>, StoreError> {
        let streams = self.streams.read().map_err(|_| poisoned())?;
        Ok(streams.get(stream).and_then(|log| log.head))
    }

    fn log_key(&self) -> Option<&LogKey> {
        self.log_key.as_ref()
    }

    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let streams = self.streams.read().map_err(|_| poisoned())?;
        Ok(streams
            .iter()
            .filter_map(|(s, log)| {
                log.head.map(|h| StreamInfo {
                    stream: s.clone(),
                    version: h.version,
                })
            })
            .collect())
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        Ok(self.head(stream)?.map_or(0, |h| h.version))
    }
}

/// The in-memory store, tampered with as the conformance suite asks.
#[cfg(feature = "conformance")]
mod tamper {
    use super::super::conformance::Tamper;
    use super::super::{Hash, Head, Seal, StoredEvent, StreamId, Version};
    use super::MemoryStore;

    impl Tamper for MemoryStore {
        fn put_event(&self, event: &StoredEvent) {
            let Ok(mut streams) = self.streams.write() else {
                return;
            };
            let events = &mut streams.entry(event.stream.clone()).or_default().events;
            match events.binary_search_by_key(&event.version, |e| e.version) {
                Ok(i) => events[i] = event.clone(),
                Err(i) => events.insert(i, event.clone()),
            }
        }

        fn delete_events_after(&self, stream: &StreamId, version: Version) {
            if let Ok(mut streams) = self.streams.write()
                && let Some(log) = streams.get_mut(stream)
            {
                log.events.retain(|e| e.version <= version);
            }
        }

        fn put_head(&self, stream: &StreamId, head: Option<(Version, Hash, Option<Seal>)>) {
            let Ok(mut streams) = self.streams.write() else {
                return;
            };
            let log = streams.entry(stream.clone()).or_default();
            log.head = head.map(|(version, hash, seal)| Head {
                version,
                hash,
                seal,
                voter_key: log.head.and_then(|h| h.voter_key),
            });
        }
    }
}
