//! Who may do what: officials' API tokens with roles and scopes, residents'
//! one-time voting codes, and the [`Authenticator`] a municipality replaces
//! with its e-ID.
//!
//! Tokens and codes are kept as events in the store's `access` stream (hash
//! chained like every other stream), and only as SHA-256 hashes: the secret
//! itself is shown once, when it is made. A code's hash covers its programme,
//! so a code from one programme is not even looked up in another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::area::Resident;
use crate::ids::ProgrammeId;
use crate::store::{NewEvent, Store, StoreError, StoreExt, StreamId, Version};

/// The most codes one request may make.
pub const MAX_CODES_PER_REQUEST: usize = 100_000;
/// The most tokens and code batches the access stream may hold, together.
pub const MAX_ACCESS_EVENTS: usize = 100_000;
/// How often an append to the access stream is tried again when another
/// server appended first.
const ACCESS_ATTEMPTS: usize = 16;
/// Characters of a voting code (no 0/O, 1/I/L, to read aloud and type).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters in a voting code: 31^12, about 2^59 codes.
pub const CODE_LENGTH: usize = 12;

/// What an official's token lets them do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Role {
    /// Everything an official may, and also create programmes (with a token
    /// of no programme), make tokens and voting codes.
    Administrator,
    /// Every programme and cycle command, voting codes, the read models and
    /// the report.
    Official,
    /// Paper ballot entry only (`enter_paper_ballots`), and reading.
    PaperEntry,
}

impl Role {
    /// Whether this role may send `command` (a command's wire name).
    pub fn may_send(self, command: &str) -> bool {
        match self {
            Role::Administrator | Role::Official => true,
            Role::PaperEntry => command == "enter_paper_ballots",
        }
    }
}

/// A token as kept: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The token's id (to revoke it).
    pub id: Uuid,
    /// Its role.
    pub role: Role,
    /// The one programme it may touch; `None` for a server-wide
    /// administrator token.
    pub programme: Option<ProgrammeId>,
    /// Whom it was made for.
    pub label: String,
}

impl TokenGrant {
    /// Whether the token may touch `programme`.
    pub fn covers(&self, programme: ProgrammeId) -> bool {
        self.programme.is_none_or(|p| p == programme)
    }
}

/// The events of the `access` stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum AccessEvent {
    TokenIssued {
        id: Uuid,
        hash: String,
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        programme: Option<ProgrammeId>,
        label: String,
        at: DateTime<Utc>,
    },
    TokenRevoked {
        id: Uuid,
        at: DateTime<Utc>,
    },
    CodesIssued {
        programme: ProgrammeId,
        year: i32,
        codes: Vec<IssuedCode>,
        /// The residents' earlier codes for the year stop working.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replace: bool,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedCode {
    hash: String,
    resident: Resident,
}

/// Why access data could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The store failed.
    #[error("the access stream: {0}")]
    Store(#[from] StoreError),
    /// An event of the access stream does not read.
    #[error("access event {version} does not read: {message}")]
    Decode {
        /// Its version.
        version: Version,
        /// What is wrong.
        message: String,
    },
    /// Too many codes asked for at once.
    #[error("{asked} codes asked for; at most {MAX_CODES_PER_REQUEST} per request")]
    TooManyCodes {
        /// How many were asked for.
        asked: usize,
    },
    /// The access stream is full.
    #[error("the access stream holds {MAX_ACCESS_EVENTS} events, its limit")]
    Full,
    /// The same resident twice in one request, or a resident who has a code
    /// for that year already.
    #[error("resident {resident} is listed twice or has a code for the year already")]
    DuplicateResident {
        /// The resident.
        resident: crate::ids::ResidentId,
    },
    /// No live token has this id.
    #[error("no live token has id {id}")]
    NoToken {
        /// The id asked for.
        id: Uuid,
    },
}

/// A voting code's resident, for one year of one programme.
#[derive(Debug, Clone)]
struct CodeEntry {
    programme: ProgrammeId,
    year: i32,
    resident: Resident,
}

#[derive(Debug, Default)]
struct Tables {
    tokens: HashMap<[u8; 32], TokenGrant>,
    codes: HashMap<[u8; 32], CodeEntry>,
    /// Residents who have a code, by programme and year (to refuse a second).
    residents: HashMap<(ProgrammeId, i32), std::collections::HashSet<crate::ids::ResidentId>>,
    events: usize,
}

/// Tokens and voting codes, read from the `access` stream at start and kept
/// in memory; writes append to the stream first.
#[derive(Debug)]
pub struct Access {
    store: Arc<dyn Store>,
    tables: RwLock<Tables>,
    /// The stream's version; held while appending so appends are in order.
    version: Mutex<Version>,
}

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn token_hash(token: &str) -> [u8; 32] {
    sha(&[b"medborgarbudget token", token.as_bytes()])
}

/// A code as typed, in its canonical form: upper case, no spaces or dashes.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn code_hash(programme: ProgrammeId, code: &str) -> [u8; 32] {
    let programme = programme.to_string();
    sha(&[
        b"medborgarbudget voting code",
        programme.as_bytes(),
        normalize_code(code).as_bytes(),
    ])
}

/// 64 lowercase hex digits.
pub(super) fn hex(bytes: &[u8; 32]) -> String {
    crate::store::Hash(*bytes).to_string()
}

/// Back from [`hex`].
pub(super) fn unhex(text: &str) -> Option<[u8; 32]> {
    crate::store::hex_array(text)
}

/// Random bytes from the operating system (through uuid's v4 ids).
fn random_bytes() -> [u8; 32] {
    let mut out = [0; 32];
    out[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    out
}

/// A new token: `mbt_` and 64 hex digits (244 random bits).
fn new_token() -> String {
    format!("mbt_{}", hex(&random_bytes()))
}

/// A new voting code, `XXXX-XXXX-XXXX`.
fn new_code() -> String {
    let bytes = random_bytes();
    let mut code = String::with_capacity(CODE_LENGTH + 2);
    // 32 bytes, one per character with rejection of the biased top values.
    let mut chars = bytes
        .iter()
        .filter(|b| usize::from(**b) < 256 - 256 % CODE_ALPHABET.len())
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]));
    for i in 0..CODE_LENGTH {
        if i > 0 && i.is_multiple_of(4) {
            code.push('-');
        }
        // 32 bytes leave at least 12 unbiased ones except with odds of about
        // 10^-30; a fresh draw covers even that.
        match chars.next() {
            Some(c) => code.push(c),
            None => return new_code(),
        }
    }
    code
}

pub(crate) const ACCESS_STREAM: &str = "access";

impl Access {
    /// The access data of `store`, read from its `access` stream (checking
    /// its hash chain).
    ///
    /// # Errors
    /// A store failure or an unreadable event.
    pub fn open(store: Arc<dyn Store>) -> Result<Access, AccessError> {
        let stream = Self::stream();
        let mut tables = Tables::default();
        let mut version = 0;
        if store.head(&stream)?.is_some() {
            let verified = store.verify(&stream)?;
            for e in store.read_all(&stream, 0)? {
                if e.version > verified.events {
                    break;
                }
                let event: AccessEvent =
                    serde_json::from_str(&e.payload).map_err(|err| AccessError::Decode {
                        version: e.version,
                        message: err.to_string(),
                    })?;
                apply(&mut tables, event).map_err(|message| AccessError::Decode {
                    version: e.version,
                    message,
                })?;
                version = e.version;
            }
        }
        Ok(Access {
            store,
            tables: RwLock::new(tables),
            version: Mutex::new(version),
        })
    }

    fn stream() -> StreamId {
        // A fixed, valid name.
        StreamId::new(ACCESS_STREAM)
            .unwrap_or_else(|_| StreamId::programme(ProgrammeId::from_u128(0)))
    }

    /// Appends `event` if `admit` allows it on the tables as they are once
    /// caught up with the stream: the check and the append happen under the
    /// version lock, so two requests (or two servers) cannot both pass it.
    fn append(
        &self,
        event: AccessEvent,
        admit: impl Fn(&Tables) -> Result<(), AccessError>,
    ) -> Result<(), AccessError> {
        let mut version = self.version.lock().unwrap_or_else(|p| p.into_inner());
        let stream = Self::stream();
        let new = vec![NewEvent::json(&event)?];
        let mut attempt = 0;
        loop {
            // Another server on the same store may have appended: catch up
            // first.
            self.catch_up(&mut version)?;
            {
                let tables = self.read();
                if tables.events >= MAX_ACCESS_EVENTS {
                    return Err(AccessError::Full);
                }
                admit(&tables)?;
            }
            match self.store.append(&stream, *version, new.clone()) {
                Ok(appended) => {
                    *version = appended.version;
                    break;
                }
                // Another server wrote first
                // (made the stream, or appended to it) since: catch up and
                // check again.
                Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. })
                    if attempt < ACCESS_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut tables = self.write();
        // Admitted above, on these very tables.
        let _ = apply(&mut tables, event);
        Ok(())
    }

    /// Applies what the stream holds past `version` (what other servers on
    /// the same store appended).
    fn catch_up(&self, version: &mut Version) -> Result<(), AccessError> {
        for e in self.store.read_all(&Self::stream(), *version)? {
            let older: AccessEvent =
                serde_json::from_str(&e.payload).map_err(|err| AccessError::Decode {
                    version: e.version,
                    message: err.to_string(),
                })?;
            let mut tables = self.write();
            apply(&mut tables, older).map_err(|message| AccessError::Decode {
                version: e.version,
                message,
            })?;
            *version = e.version;
        }
        Ok(())
    }

    /// Reads what other servers on the same store appended since: their
    /// tokens, revocations and codes. The service does this every second.
    ///
    /// # Errors
    /// A store failure or an unreadable event.
    pub fn refresh(&self) -> Result<(), AccessError> {
        let mut version = self.version.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up(&mut version)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any token exists (a new server makes its first administrator
    /// token when none does).
    pub fn has_tokens(&self) -> bool {
        !self.read().tokens.is_empty()
    }

    /// Makes a token; returns it (shown once: only its hash is kept) and its
    /// id.
    ///
    /// # Errors
    /// A store failure.
    pub fn issue_token(
        &self,
        role: Role,
        programme: Option<ProgrammeId>,
        label: &str,
    ) -> Result<(String, Uuid), AccessError> {
        let token = new_token();
        let id = Uuid::new_v4();
        self.append(
            AccessEvent::TokenIssued {
                id,
                hash: hex(&token_hash(&token)),
                role,
                programme,
                label: label.chars().take(200).collect(),
                at: crate::store::now(),
            },
            |_| Ok(()),
        )?;
        Ok((token, id))
    }

    /// Revokes a token by id; `false` if there is none.
    ///
    /// # Errors
    /// A store failure.
    pub fn revoke_token(&self, id: Uuid) -> Result<bool, AccessError> {
        let revoked = self.append(
            AccessEvent::TokenRevoked {
                id,
                at: crate::store::now(),
            },
            |tables| {
                if tables.tokens.values().any(|g| g.id == id) {
                    Ok(())
                } else {
                    Err(AccessError::NoToken { id })
                }
            },
        );
        match revoked {
            Ok(()) => Ok(true),
            Err(AccessError::NoToken { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The live tokens, as grants (no secrets: only hashes are kept), in no
    /// particular order.
    pub fn grants(&self) -> Vec<TokenGrant> {
        self.read().tokens.values().cloned().collect()
    }

    /// The live token with id `id`.
    pub fn grant(&self, id: Uuid) -> Option<TokenGrant> {
        self.read().tokens.values().find(|g| g.id == id).cloned()
    }

    /// What `token` grants, if it is a live token.
    pub fn token(&self, token: &str) -> Option<TokenGrant> {
        self.read().tokens.get(&token_hash(token)).cloned()
    }

    /// Makes one voting code for each resident, for `year` of `programme`;
    /// returns them in the residents' order (shown once: only hashes are
    /// kept). A resident who has a code for that year already is refused.
    ///
    /// # Errors
    /// Too many residents, one listed twice or already given a code, or a
    /// store failure.
    pub fn issue_codes(
        &self,
        programme: ProgrammeId,
        year: i32,
        residents: Vec<Resident>,
    ) -> Result<Vec<String>, AccessError> {
        self.make_codes(programme, year, residents, false)
    }

    /// Makes a new voting code for each resident, for `year` of
    /// `programme`, in place of any code they had for the year (lost, or
    /// its answer never arrived): the earlier code stops working. A resident
    /// who has voted stays voted; the new code cannot vote again.
    ///
    /// # Errors
    /// Too many residents, one listed twice, or a store failure.
    pub fn replace_codes(
        &self,
        programme: ProgrammeId,
        year: i32,
        residents: Vec<Resident>,
    ) -> Result<Vec<String>, AccessError> {
        self.make_codes(programme, year, residents, true)
    }

    fn make_codes(
        &self,
        programme: ProgrammeId,
        year: i32,
        residents: Vec<Resident>,
        replace: bool,
    ) -> Result<Vec<String>, AccessError> {
        if residents.len() > MAX_CODES_PER_REQUEST {
            return Err(AccessError::TooManyCodes {
                asked: residents.len(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for r in &residents {
            if !seen.insert(r.id()) {
                return Err(AccessError::DuplicateResident { resident: r.id() });
            }
        }
        let codes: Vec<String> = residents.iter().map(|_| new_code()).collect();
        let issued = codes
            .iter()
            .zip(residents)
            .map(|(code, resident)| IssuedCode {
                hash: hex(&code_hash(programme, code)),
                resident,
            })
            .collect();
        let event = AccessEvent::CodesIssued {
            programme,
            year,
            codes: issued,
            replace,
            at: crate::store::now(),
        };
        self.append(event, |tables| {
            // Checked here, under the lock, so that two requests for the
            // same resident cannot both pass.
            if replace {
                return Ok(());
            }
            match tables.residents.get(&(programme, year)) {
                Some(had) => match seen.iter().find(|r| had.contains(r)) {
                    Some(&resident) => Err(AccessError::DuplicateResident { resident }),
                    None => Ok(()),
                },
                None => Ok(()),
            }
        })?;
        Ok(codes)
    }
}

fn apply(tables: &mut Tables, event: AccessEvent) -> Result<(), String> {
    tables.events += 1;
    match event {
        AccessEvent::TokenIssued {
            id,
            hash,
            role,
            programme,
            label,
            ..
        } => {
            let hash = unhex(&hash).ok_or("a token hash is not 64 hex digits")?;
            tables.tokens.insert(
                hash,
                TokenGrant {
                    id,
                    role,
                    programme,
                    label,
                },
            );
        }
        AccessEvent::TokenRevoked { id, .. } => tables.tokens.retain(|_, g| g.id != id),
        AccessEvent::CodesIssued {
            programme,
            year,
            codes,
            replace,
            ..
        } => {
            if replace {
                let replaced: std::collections::HashSet<_> =
                    codes.iter().map(|c| c.resident.id()).collect();
                tables.codes.retain(|_, e| {
                    !(e.programme == programme
                        && e.year == year
                        && replaced.contains(&e.resident.id()))
                });
            }
            let ids = tables.residents.entry((programme, year)).or_default();
            for c in codes {
                let hash = unhex(&c.hash).ok_or("a code hash is not 64 hex digits")?;
                ids.insert(c.resident.id());
                tables.codes.insert(
                    hash,
                    CodeEntry {
                        programme,
                        year,
                        resident: c.resident,
                    },
                );
            }
        }
    }
    Ok(())
}

/// Who a resident is, from what they present: a voting code, or a
/// municipality's e-ID session. The service asks it before any resident's
/// idea or ballot; whatever it says, a resident acts only as that resident
/// and only in `programme`.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// The resident `credential` stands for in `year` of `programme`, or
    /// `None` when it stands for no one.
    ///
    /// # Errors
    /// The authenticator could not answer (its backend failed).
    fn resident(
        &self,
        programme: ProgrammeId,
        year: i32,
        credential: &str,
    ) -> Result<Option<Resident>, AccessError>;
}

impl Authenticator for Access {
    fn resident(
        &self,
        programme: ProgrammeId,
        year: i32,
        credential: &str,
    ) -> Result<Option<Resident>, AccessError> {
        if credential.len() > 64 {
            return Ok(None);
        }
        Ok(self
            .read()
            .codes
            .get(&code_hash(programme, credential))
            .filter(|e| e.year == year)
            .map(|e| e.resident.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn resident(n: u128) -> Resident {
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::from_u128(n),
            "born": "1990-01-01",
            "residence": {"area": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "since": "2000-01-01"}
        }))
        .unwrap()
    }

    #[test]
    fn codes_are_well_formed_and_unbiased_in_alphabet() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LENGTH + 2);
            assert!(
                normalize_code(&c)
                    .bytes()
                    .all(|b| CODE_ALPHABET.contains(&b))
            );
        }
    }

    #[test]
    fn tokens_and_codes_survive_a_restart_as_hashes_only() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let access = Access::open(store.clone()).unwrap();
        let p = ProgrammeId::from(Uuid::from_u128(7));
        let (token, id) = access.issue_token(Role::Official, Some(p), "Anna").unwrap();
        let codes = access
            .issue_codes(p, 2027, vec![resident(1), resident(2)])
            .unwrap();
        let again = Access::open(store.clone()).unwrap();
        let grant = again.token(&token).unwrap();
        assert_eq!((grant.role, grant.programme), (Role::Official, Some(p)));
        let lower = codes[0].to_lowercase().replace('-', " ");
        let who = again.resident(p, 2027, &lower).unwrap().unwrap();
        assert_eq!(who.id(), resident(1).id());
        assert!(again.resident(p, 2028, &codes[0]).unwrap().is_none());
        let other = ProgrammeId::from(Uuid::from_u128(8));
        assert!(again.resident(other, 2027, &codes[0]).unwrap().is_none());
        // Neither secret is in the stream.
        let mut dump = Vec::new();
        store.export_jsonl(&Access::stream(), &mut dump).unwrap();
        let dump = String::from_utf8(dump).unwrap();
        assert!(!dump.contains(&token) && !dump.contains(&codes[0]));
        assert!(matches!(
            again.issue_codes(p, 2027, vec![resident(2)]),
            Err(AccessError::DuplicateResident { .. })
        ));
        // A lost code replaced: the old one stops working, the new one works,
        // after a restart too.
        let new = again.replace_codes(p, 2027, vec![resident(1)]).unwrap();
        for access in [&again, &Access::open(store.clone()).unwrap()] {
            assert!(access.resident(p, 2027, &codes[0]).unwrap().is_none());
            let who = access.resident(p, 2027, &new[0]).unwrap().unwrap();
            assert_eq!(who.id(), resident(1).id());
            // The other resident's code is untouched.
            assert!(access.resident(p, 2027, &codes[1]).unwrap().is_some());
        }
        assert!(again.revoke_token(id).unwrap());
        assert!(!again.revoke_token(id).unwrap());
        assert!(again.token(&token).is_none());
        assert!(Access::open(store).unwrap().token(&token).is_none());
    }

    /// Two servers on one store asked for the same resident's code at once:
    /// one gets it, the other is refused (the check runs under the lock,
    /// after catching up with what the other appended).
    #[test]
    fn one_code_per_resident_under_races_between_servers() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let p = ProgrammeId::from(Uuid::from_u128(7));
        for round in 0..20 {
            let servers = [
                Arc::new(Access::open(store.clone()).unwrap()),
                Arc::new(Access::open(store.clone()).unwrap()),
            ];
            let barrier = Arc::new(std::sync::Barrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let access = servers[t % 2].clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        access.issue_codes(p, 2027, vec![resident(100 + round)])
                    })
                })
                .collect();
            let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let issued = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(issued, 1, "round {round}: {outcomes:?}");
            assert!(
                outcomes
                    .iter()
                    .all(|o| matches!(o, Ok(_) | Err(AccessError::DuplicateResident { .. }))),
                "round {round}: {outcomes:?}"
            );
        }
    }
}
