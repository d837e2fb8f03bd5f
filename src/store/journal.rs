//! A deterministic run of a programme that can be repeated and resumed.

use std::sync::Arc;

use crate::ids::ProgrammeId;
use crate::process::{Programme, ProgrammeCommand, ProgrammeError, ProgrammeEvent, ProgrammeSetup};

use super::{NewEvent, Repository, Store, StoreExt, StreamId, VoterKey, decode};

/// Why a journal could not open or apply a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The rules refused the command (nothing was stored).
    #[error(transparent)]
    Refused(ProgrammeError),
    /// The store holds a different run of this programme: the command at this
    /// point produced other events than the ones stored.
    #[error("{stream}: the stored events differ from this run at event {version}")]
    Diverged {
        /// The programme's stream.
        stream: StreamId,
        /// The first stored event that differs (1 is `established`).
        version: u64,
    },
    /// The store failed, or its events do not load.
    #[error("{stream}: {message}")]
    Store {
        /// The programme's stream.
        stream: StreamId,
        /// What happened.
        message: String,
    },
}

/// A programme driven by a deterministic process — a simulation, a scripted
/// import, the crate's example — through a store, so that running the process
/// again is safe: every command is decided on a local copy of the programme;
/// where the store already holds the events a command produces (an earlier
/// run, whole or killed part way), they are checked against it and not written
/// again; past them, their events are appended at the expected version (a
/// journal is its programme's only writer: a conflict is an error, not a
/// retry). A command that produces other events than the ones stored is
/// refused ([`JournalError::Diverged`]), and after a store failure the journal
/// refuses further commands until it is opened again.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use medborgarbudget::area::Area;
/// use medborgarbudget::ids::{AreaId, ProgrammeId};
/// use medborgarbudget::money::Currency;
/// use medborgarbudget::process::ProgrammeSetup;
/// use medborgarbudget::store::{Journal, VoterKey, memory::MemoryStore};
///
/// let setup = ProgrammeSetup {
///     id: ProgrammeId::from_u128(1),
///     area: Area::new(AreaId::from_u128(2), "Norrby", 9_400).expect("a valid area"),
///     currency: Currency::SEK,
///     first_year: 2027,
///     years: 3,
///     carry_over: None,
///     established_at: Utc.with_ymd_and_hms(2026, 6, 18, 10, 0, 0).unwrap(),
/// };
/// let key = VoterKey::random();
/// let store = Arc::new(MemoryStore::new());
/// let first = Journal::open(store.clone(), key.clone(), setup.clone())?;
/// assert_eq!(first.written(), 1);                 // `established`
/// let again = Journal::open(store, key, setup)?;  // the same programme: nothing new
/// assert_eq!(again.written(), 0);
/// # Ok::<(), medborgarbudget::store::JournalError>(())
/// ```
pub struct Journal {
    repo: Repository<Programme>,
    id: ProgrammeId,
    stream: StreamId,
    key: VoterKey,
    local: Programme,
    stored: Vec<ProgrammeEvent>,
    /// Events of `stored` matched so far (`established` included).
    matched: usize,
    written: usize,
    /// The position in the stream of the next event (`established` is 0).
    position: usize,
    store: Arc<dyn Store>,
    /// Set when the copy and the store may disagree.
    broken: bool,
    /// Whether appended events wait for [`Journal::commit`].
    batched: bool,
    /// Events applied past the stored ones and not yet committed (batched).
    pending: Vec<NewEvent>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("stream", &self.stream)
            .field("checked", &self.checked())
            .field("written", &self.written())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens the programme `setup` in `store`, creating it if the store has
    /// none; an existing stream is loaded (every link and rule checked) and must
    /// start with the same `established` event.
    ///
    /// # Errors
    /// [`JournalError::Refused`] for a setup the programme rules refuse,
    /// [`JournalError::Diverged`] for a stream that holds another programme,
    /// [`JournalError::Store`] for a store that fails or does not load.
    pub fn open(
        store: Arc<dyn Store>,
        key: VoterKey,
        setup: ProgrammeSetup,
    ) -> Result<Journal, JournalError> {
        let id = setup.id;
        let stream = StreamId::programme(id);
        let store_err = |e: &dyn std::error::Error| JournalError::Store {
            stream: stream.clone(),
            message: crate::error_chain(e),
        };
        let local = Programme::new(setup).map_err(JournalError::Refused)?;
        let established = ProgrammeEvent::Established(local.setup().clone());
        let mut repo = Repository::<Programme>::new(store.clone(), key.clone());
        let (stored, written) = if store.version(&stream).map_err(|e| store_err(&e))? == 0 {
            repo.create(id, established.clone())
                .map_err(|e| store_err(&e))?;
            (vec![established], 1)
        } else {
            // Loading checks every hash link and every rule.
            repo.load(id).map_err(|e| store_err(&e))?;
            let events = store
                .read_all(&stream, 0)
                .map_err(|e| store_err(&e))?
                .iter()
                .map(decode::<Programme>)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| store_err(&e))?;
            if events.first() != Some(&established) {
                return Err(JournalError::Diverged { stream, version: 1 });
            }
            (events, 0)
        };
        Ok(Journal {
            repo,
            id,
            stream,
            key,
            local,
            stored,
            matched: 1,
            written,
            position: 1,
            store,
            broken: false,
            batched: false,
            pending: Vec::new(),
        })
    }

    /// The journal, keeping the events of the commands it applies until
    /// [`Journal::commit`] appends them in one transaction: a simulated
    /// year's step in one durable commit instead of one per ballot. What was
    /// not committed is not stored — as after a kill, running the process
    /// again from the store continues from the last commit, so a
    /// deterministic process resumes exactly.
    pub fn batched(mut self) -> Journal {
        self.batched = true;
        self
    }

    /// Appends the events applied since the last commit, in one transaction
    /// (nothing to do for a journal that is not [`batched`](Journal::batched),
    /// or has nothing new).
    ///
    /// # Errors
    /// [`JournalError::Store`] if the store fails; the journal then refuses
    /// further commands until it is opened again.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        let count = events.len();
        let expected = self.position - count;
        if let Err(e) = self.store.append_as(
            &self.stream,
            expected as u64,
            events,
            Some(&self.key.fingerprint()),
        ) {
            self.broken = true;
            return Err(JournalError::Store {
                stream: self.stream.clone(),
                message: crate::error_chain(&e),
            });
        }
        self.written += count;
        Ok(())
    }

    /// The programme as far as this run has come.
    pub fn programme(&self) -> &Programme {
        &self.local
    }

    /// Events the store held from an earlier run that this run has checked
    /// (after `established`).
    pub fn checked(&self) -> u64 {
        self.matched.saturating_sub(1) as u64
    }

    /// Stored events this run has not reached yet.
    pub fn ahead(&self) -> u64 {
        self.stored.len().saturating_sub(self.matched) as u64
    }

    /// Events this run wrote (`established` included when it created the
    /// stream); for a [batched](Journal::batched) journal, those committed.
    pub fn written(&self) -> u64 {
        self.written as u64
    }

    /// The programme's report if the stored run was concluded, even before this
    /// run reaches that point.
    ///
    /// # Errors
    /// [`JournalError::Store`] if the stored programme does not load.
    pub fn stored_report(
        &mut self,
    ) -> Result<Option<crate::process::CredibilityReport>, JournalError> {
        let stream = self.stream.clone();
        self.repo
            .load(self.id)
            .map(|p| p.report().cloned())
            .map_err(|e| JournalError::Store {
                stream,
                message: crate::error_chain(&e),
            })
    }

    /// Decides `command`; checks its events against the stored ones, or stores
    /// them; applies them to the local copy; returns them.
    ///
    /// # Errors
    /// [`JournalError::Refused`] if the rules refuse the command (nothing is
    /// stored), [`JournalError::Diverged`] if the store holds other events
    /// here, [`JournalError::Store`] if the store fails.
    pub fn apply(
        &mut self,
        command: ProgrammeCommand,
    ) -> Result<Vec<ProgrammeEvent>, JournalError> {
        let stream = self.stream.clone();
        if self.broken {
            return Err(JournalError::Store {
                stream,
                message: "an earlier command failed in the store; open the journal again".into(),
            });
        }
        // Voters are stored under their pseudonyms. The copy applies the command
        // in place (a refused command changes nothing), so no decision copies
        // the programme.
        let (command, callers) = super::repository::pseudonymize::<Programme>(command, &self.key);
        let events = self.local.apply(command).map_err(|error| {
            let caller = |id| callers.sent(id);
            JournalError::Refused(error.rename_residents(&caller))
        })?;
        if self.matched < self.stored.len() {
            let end = self.matched + events.len();
            if self.stored.get(self.matched..end) != Some(events.as_slice()) {
                self.broken = true;
                return Err(JournalError::Diverged {
                    stream,
                    version: self.matched as u64 + 1,
                });
            }
            self.matched = end;
        } else {
            let encoded = events
                .iter()
                .map(NewEvent::json)
                .collect::<Result<Vec<_>, _>>();
            let appended = encoded.and_then(|new| {
                if self.batched {
                    self.pending.extend(new);
                    return Ok(0);
                }
                self.store
                    .append_as(
                        &stream,
                        self.position as u64,
                        new,
                        Some(&self.key.fingerprint()),
                    )
                    .map(|_| events.len())
            });
            match appended {
                Ok(n) => self.written += n,
                Err(e) => {
                    // The copy is ahead of the store now: refuse further commands.
                    self.broken = true;
                    return Err(JournalError::Store {
                        stream,
                        message: crate::error_chain(&e),
                    });
                }
            }
        }
        self.position += events.len();
        Ok(events)
    }
}
