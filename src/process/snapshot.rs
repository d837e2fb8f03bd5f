//! Snapshots: a cycle or a programme kept as its event log, and loaded by
//! replaying it through the rules.
//!
//! The state of a cycle ([`AnyCycle`]) and of a programme ([`Programme`])
//! serialises as a read model for display and reports; it does not load. What
//! loads is the log: the events the commands produced, in order. A
//! [`Snapshot`] carries them with their number and the head of a hash chain over
//! them, so a log cut short, reordered or edited by hand is refused before it is
//! replayed, and replay refuses anything the rules would have refused.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use super::any::AnyCycle;
use super::command::Event;
use super::error::ReplayError;
use super::programme::{Programme, ProgrammeError, ProgrammeEvent};
use crate::store::Hash;

/// A cycle's or a programme's event log as one value:
/// `{"events": […], "version": n, "head": "…"}`.
///
/// * `events` — every event, first to last (a cycle's starts with
///   `cycle_started`, a programme's with `established`);
/// * `version` — how many there are: the stream version they lead to;
/// * `head` — the last link of a SHA-256 chain over the events (see
///   [`Snapshot::head`]), so that the log cannot be cut short or edited without
///   the head telling.
///
/// Build one from the events [`AnyCycle::apply`] and [`Programme::apply`] return
/// (or from a store, with [`Repository::snapshot`](crate::store::Repository::snapshot));
/// load it with [`AnyCycle::from_snapshot`] or [`Programme::from_snapshot`],
/// which replay it through the same rules as live commands. Deserialising checks
/// the version and the head; it rejects unknown fields.
///
/// The head is a checksum anyone can recompute, not a signature: it catches
/// accidents and careless edits, while replay catches anything that breaks a
/// rule. For tamper evidence against someone who can rewrite the whole log, keep
/// the log in a store with a log key ([`crate::store::Seal`]).
///
/// ```
/// # use medborgarbudget::process::*;
/// # use medborgarbudget::ids::{AreaId, CycleId};
/// # use medborgarbudget::area::Area;
/// # use medborgarbudget::money::{Currency, Money};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let area = Area::new(AreaId::new(), "Hjällbo", 7_600)?;
/// # let at = chrono::DateTime::parse_from_rfc3339("2026-01-15T09:00:00Z")?.to_utc();
/// # let setup = CycleSetup { id: CycleId::new(), programme: None, year: 2026, area,
/// #     currency: Currency::SEK, started_at: at, rules_version: RulesVersion::CURRENT };
/// # let council = CouncilDecision { body: "Stadsdelsnämnden".into(), reference: "§ 42".into(), decided_on: at.date_naive() };
/// let mut cycle = AnyCycle::from(Cycle::new(setup.clone()));
/// let mut log = Snapshot::new(vec![Event::CycleStarted(setup)])?;
/// log.extend(cycle.apply(Command::SetBudget(Allocation {
///     amount: Money::from_major(500_000, Currency::SEK)?,
///     decision: council,
///     source: FundingSource::Council,
///     part: None,
/// }))?)?;
///
/// let json = serde_json::to_string(&log)?;
/// let loaded = AnyCycle::from_snapshot(serde_json::from_str(&json)?)?;
/// assert_eq!(loaded, cycle);
///
/// // An edited log does not load.
/// let edited = json.replace("500000", "900000");
/// assert!(serde_json::from_str::<Snapshot<Event>>(&edited).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Snapshot<E> {
    events: Vec<E>,
    version: u64,
    head: Hash,
}

impl<E> fmt::Debug for Snapshot<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// The domain tag of the snapshot chain (distinct from a store's event chain).
const DOMAIN: &[u8] = b"medborgarbudget/snapshot/1\0";

/// The next link: SHA-256 over the domain tag, the previous link, the event's
/// version (from 1) and its JSON, length-prefixed, integers big-endian.
fn link<E: Serialize>(prev: &Hash, version: u64, event: &E) -> Result<Hash, SnapshotError> {
    let json = serde_json::to_vec(event).map_err(|source| SnapshotError::Encode {
        version,
        reason: source.to_string(),
    })?;
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev.0);
    h.update(version.to_be_bytes());
    h.update((json.len() as u64).to_be_bytes());
    h.update(&json);
    Ok(Hash(h.finalize().into()))
}

impl<E: Serialize> Snapshot<E> {
    /// The log of `events`, in order.
    ///
    /// # Errors
    /// [`SnapshotError::Encode`] if an event cannot be written as JSON.
    pub fn new(events: Vec<E>) -> Result<Snapshot<E>, SnapshotError> {
        let mut snapshot = Snapshot {
            events: Vec::new(),
            version: 0,
            head: Hash::GENESIS,
        };
        snapshot.extend(events)?;
        Ok(snapshot)
    }

    /// Appends events recorded after the ones it holds (as
    /// [`AnyCycle::apply`] returns them).
    ///
    /// # Errors
    /// [`SnapshotError::Encode`] if an event cannot be written as JSON; the
    /// snapshot then holds the events before it.
    pub fn extend(&mut self, events: impl IntoIterator<Item = E>) -> Result<(), SnapshotError> {
        for event in events {
            let version = self.version + 1;
            self.head = link(&self.head, version, &event)?;
            self.version = version;
            self.events.push(event);
        }
        Ok(())
    }
}

impl<E> Snapshot<E> {
    /// The events, first to last.
    pub fn events(&self) -> &[E] {
        &self.events
    }

    /// The events, first to last.
    pub fn into_events(self) -> Vec<E> {
        self.events
    }

    /// How many events: the stream version they lead to.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The last link of the chain over the events: `h₀` is 32 zero bytes and
    /// `hᵥ` = SHA-256(`"medborgarbudget/snapshot/1\0"` ‖ `hᵥ₋₁` ‖ `v` ‖ the length of
    /// the JSON of event `v` ‖ that JSON), integers as 64-bit big-endian, events
    /// numbered from 1 and written as compact JSON with fields in declaration
    /// order (as `serde_json::to_vec` writes them).
    pub fn head(&self) -> Hash {
        self.head
    }
}

/// The fields as written, checked before they become a [`Snapshot`].
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct Raw<E> {
    events: Vec<E>,
    version: u64,
    head: Hash,
}

impl<E: Serialize> Raw<E> {
    fn checked(self) -> Result<Snapshot<E>, SnapshotError> {
        let found = self.events.len() as u64;
        if found != self.version {
            return Err(SnapshotError::Version {
                version: self.version,
                events: found,
            });
        }
        let recorded = self.head;
        let snapshot = Snapshot::new(self.events)?;
        if snapshot.head != recorded {
            return Err(SnapshotError::Head {
                recorded,
                computed: snapshot.head,
            });
        }
        Ok(snapshot)
    }
}

impl<'de, E: Serialize + DeserializeOwned> Deserialize<'de> for Snapshot<E> {
    /// Reads a snapshot and checks its version and head (not yet the rules:
    /// that is replay's work).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Raw::<E>::deserialize(d)?
            .checked()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a snapshot does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SnapshotError {
    /// The recorded version is not the number of events: events were added or
    /// cut off.
    #[error("the snapshot records version {version} but holds {events} events")]
    Version {
        /// The version recorded.
        version: u64,
        /// The number of events it holds.
        events: u64,
    },
    /// The recorded head is not the chain over the events: an event was edited,
    /// added, removed or moved.
    #[error(
        "the snapshot's head {recorded} is not the head of its events ({computed}): the log was changed after it was written"
    )]
    Head {
        /// The head recorded.
        recorded: Hash,
        /// The head of the events it holds.
        computed: Hash,
    },
    /// An event cannot be written as JSON (to compute the head).
    #[error("event {version} of the snapshot cannot be written as JSON: {reason}")]
    Encode {
        /// The event's version (from 1).
        version: u64,
        /// What the encoder said.
        reason: String,
    },
    /// The events do not rebuild a cycle.
    #[error("the snapshot's events do not rebuild the cycle")]
    Cycle(#[source] ReplayError),
    /// The events do not rebuild a programme.
    #[error("the snapshot's events do not rebuild the programme")]
    Programme(#[source] Box<ProgrammeError>),
}

impl AnyCycle {
    /// Loads a cycle from its snapshot by replaying the events through the
    /// rules ([`AnyCycle::replay`]).
    ///
    /// # Errors
    /// [`SnapshotError::Cycle`] naming the first event that breaks a rule.
    pub fn from_snapshot(snapshot: Snapshot<Event>) -> Result<AnyCycle, SnapshotError> {
        AnyCycle::replay(snapshot.events).map_err(SnapshotError::Cycle)
    }
}

impl Programme {
    /// Loads a programme from its snapshot by replaying the events through the
    /// rules ([`Programme::replay`]).
    ///
    /// # Errors
    /// [`SnapshotError::Programme`] naming the first event that breaks a rule.
    pub fn from_snapshot(snapshot: Snapshot<ProgrammeEvent>) -> Result<Programme, SnapshotError> {
        Programme::replay(snapshot.events).map_err(|e| SnapshotError::Programme(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: u64) -> Snapshot<u64> {
        Snapshot::new((1..=n).collect()).unwrap()
    }

    #[test]
    fn the_head_chains_every_event_and_extend_equals_new() {
        let whole = numbers(3);
        let mut grown = numbers(1);
        grown.extend([2, 3]).unwrap();
        assert_eq!(grown, whole);
        assert_eq!(whole.version(), 3);
        assert_eq!(numbers(0).head(), Hash::GENESIS);
        assert_ne!(numbers(2).head(), whole.head());
        // The order counts.
        assert_ne!(
            Snapshot::new(vec![2u64, 1]).unwrap().head(),
            numbers(2).head()
        );
    }

    #[test]
    fn a_snapshot_round_trips_and_a_changed_one_is_refused() {
        let s = numbers(3);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            serde_json::from_value::<Snapshot<u64>>(json.clone()).unwrap(),
            s
        );

        let mut cut = json.clone();
        cut["events"].as_array_mut().unwrap().pop();
        let err = serde_json::from_value::<Snapshot<u64>>(cut).unwrap_err();
        assert!(
            err.to_string().contains("records version 3 but holds 2"),
            "{err}"
        );

        let mut edited = json.clone();
        edited["events"][1] = serde_json::json!(7);
        let err = serde_json::from_value::<Snapshot<u64>>(edited).unwrap_err();
        assert!(err.to_string().contains("the log was changed"), "{err}");

        let mut extra = json;
        extra["note"] = serde_json::json!("x");
        let err = serde_json::from_value::<Snapshot<u64>>(extra).unwrap_err();
        assert!(err.to_string().contains("unknown field `note`"), "{err}");
    }
}
