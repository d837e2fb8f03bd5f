//! An event log in memory: for tests, simulations and as the reference backend.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{
    Appended, Hash, NewEvent, Store, StoreError, StoredEvent, StreamId, StreamInfo, Version, now,
};

/// Streams in memory, behind a read-write lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    streams: RwLock<BTreeMap<StreamId, Vec<StoredEvent>>>,
}

fn poisoned() -> StoreError {
    StoreError::Backend {
        backend: "memory",
        message: "a writer panicked while holding the lock".to_owned(),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Replaces a stored event's payload without re-sealing it, as an attacker
    /// editing the log would; returns whether the event exists. For tests of tamper
    /// detection.
    pub fn tamper(&self, stream: &StreamId, version: Version, payload: &str) -> bool {
        let Ok(mut streams) = self.streams.write() else {
            return false;
        };
        let event = streams
            .get_mut(stream)
            .and_then(|events| events.get_mut(version.saturating_sub(1) as usize));
        match event {
            Some(e) => {
                e.payload = payload.to_owned();
                true
            }
            None => false,
        }
    }
}

impl Store for MemoryStore {
    fn append(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let mut streams = self.streams.write().map_err(|_| poisoned())?;
        let log = streams.entry(stream.clone()).or_default();
        let actual = log.len() as Version;
        if actual != expected {
            return Err(StoreError::Conflict {
                stream: stream.clone(),
                expected,
                actual,
            });
        }
        let prev = log.last().map_or(Hash::GENESIS, |e| e.hash);
        let head = StoredEvent::seal_into(log, stream, expected, prev, now(), events);
        Ok(Appended {
            version: log.len() as Version,
            head,
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
                log.iter()
                    .skip(usize::try_from(after).unwrap_or(usize::MAX))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let streams = self.streams.read().map_err(|_| poisoned())?;
        Ok(streams
            .iter()
            .filter(|(_, log)| !log.is_empty())
            .map(|(s, log)| StreamInfo {
                stream: s.clone(),
                version: log.len() as Version,
            })
            .collect())
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let streams = self.streams.read().map_err(|_| poisoned())?;
        Ok(streams.get(stream).map_or(0, |log| log.len() as Version))
    }
}
