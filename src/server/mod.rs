//! The reference service (feature `server`): an HTTP JSON API for officials,
//! one-time voting codes for residents, and the residents' web page — what
//! `medborgarbudget serve` runs.
//!
//! * `GET /` — the residents' start page (Swedish; `?lang=en` for English),
//!   and `/p/{programme}` with its forms: an idea in step 3, a ballot in
//!   step 5, results and delivery after. Plain HTML forms, no JavaScript, each
//!   protected against cross-site posts by a token tied to a cookie.
//! * `/api/…` — the officials' API, described by the OpenAPI document at
//!   `GET /openapi.json` ([`openapi::document`]): create a programme, send any
//!   programme or cycle command, read the programme, a year and what it can
//!   do now, the report; make tokens and voting codes. Officials send
//!   `Authorization: Bearer <token>`; a token has a [`Role`] and is scoped to
//!   one programme (or, for an administrator, to none: the whole server).
//!   Residents vote and submit ideas with a voting code, through the
//!   [`Authenticator`] (the built-in one reads the codes officials made; a
//!   municipality plugs in its e-ID instead).
//! * Writes are decided and stored one programme at a time by a single
//!   writer that commits what arrives together in one append (a group
//!   commit): a refused command changes nothing, an accepted one is stored
//!   before it is answered. A retried ballot (the same ballot id) is answered
//!   as stored, never counted twice; an official's command sent with an
//!   `Idempotency-Key` header is stored once, and a retry with the key is
//!   answered with the first answer's events (see [`REMEMBERED_KEYS`]).
//! * Several servers may share one store (behind a load balancer), given the
//!   same voter key: each write is decided on the stored stream and appended
//!   only at the version it was decided on, so two servers never both store
//!   conflicting commands; idempotency receipts are in the store; each
//!   server reads the others' tokens, revocations and codes every
//!   [`ACCESS_REFRESH`]; form tokens are derived from the voter key, so a
//!   form fetched from one server posts to another (and survives a restart).
//!   What stays per server: the limits on wrong codes are counted in memory,
//!   so `n` servers allow `n` times the attempts, and a restart forgets them.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use medborgarbudget::server::{Config, Service};
//! use medborgarbudget::store::{VoterKey, memory::MemoryStore};
//!
//! let service = Service::new(Arc::new(MemoryStore::new()), VoterKey::random(), Config::default())?;
//! let (admin, _) = service.access().issue_token(medborgarbudget::server::Role::Administrator, None, "setup")?;
//! println!("administrator token: {admin}");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! service.serve(listener, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

mod access;
mod api;
pub mod demo;
mod limit;
pub mod openapi;
mod pages;
mod receipts;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tokio::sync::oneshot;

pub use access::{
    Access, AccessError, Authenticator, CODE_LENGTH, MAX_ACCESS_EVENTS, MAX_CODES_PER_REQUEST,
    Role, TokenGrant, normalize_code,
};
pub use limit::{Limiter, Limits, Wait};
pub use receipts::{MAX_KEY_LENGTH, REMEMBERED_KEYS};

use crate::ids::ProgrammeId;
use crate::process::{Programme, ProgrammeCommand, ProgrammeError, ProgrammeEvent};
use crate::store::{Repository, RepositoryError, Store, VoterKey};

/// The largest request body accepted by default (a batch of voting codes for
/// 10,000 residents fits).
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
/// The most commands waiting for the writer by default; past it a write is
/// answered 503 with `Retry-After`.
pub const DEFAULT_QUEUE: usize = 8_192;
/// The most commands the writer stores in one append.
pub const MAX_BATCH: usize = 1_024;

/// How a [`Service`] runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Limits on wrong voting codes.
    pub limits: Limits,
    /// The largest request body, in bytes (at most 64 MiB).
    pub max_body: usize,
    /// The most writes waiting (at most 1,000,000).
    pub queue: usize,
    /// Whether the session cookie is sent only over HTTPS (`Secure`); set it
    /// when a proxy terminates TLS in front of the service.
    pub secure_cookies: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            max_body: DEFAULT_MAX_BODY,
            queue: DEFAULT_QUEUE,
            secure_cookies: false,
        }
    }
}

/// Why the service cannot start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The access stream could not be read.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A setting is out of range.
    #[error("{setting} is {value}; at most {max}")]
    Setting {
        /// Which setting.
        setting: &'static str,
        /// Its value.
        value: usize,
        /// Its limit.
        max: usize,
    },
    /// The idempotency receipts could not be read.
    #[error("the idempotency receipts: {0}")]
    Receipts(#[source] crate::store::StoreError),
    /// Listening or serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// What the writer made of a command.
#[derive(Debug)]
enum Outcome {
    /// Decided now: its events (stored) or why it was refused (nothing
    /// stored).
    Decided(Result<Vec<ProgrammeEvent>, ProgrammeError>),
    /// Its idempotency key was stored before with the same command: the
    /// events it was answered with then.
    Replayed(Vec<ProgrammeEvent>),
    /// Its idempotency key came with another command before.
    KeyReused,
    /// There is no such programme.
    NoProgramme,
    /// The store failed (nothing stored).
    Failed(String),
}

struct Job {
    programme: ProgrammeId,
    command: ProgrammeCommand,
    key: Option<receipts::RequestKey>,
    reply: oneshot::Sender<Outcome>,
}

/// The service: its store, keys, access data and writer. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    repo: Arc<Mutex<Repository<Programme>>>,
    writer: std::sync::mpsc::SyncSender<Job>,
    access: Arc<Access>,
    authenticator: Arc<dyn Authenticator>,
    limiter: Limiter,
    csrf_key: [u8; 32],
    /// The voter key, to recognise a retried ballot by its pseudonym.
    key: VoterKey,
    config: Config,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `store`, pseudonymising ballots with `key`, with voting
    /// codes as residents' authenticator.
    ///
    /// # Errors
    /// The access stream does not read, or a setting is out of range.
    pub fn new(
        store: Arc<dyn Store>,
        key: VoterKey,
        config: Config,
    ) -> Result<Service, ServerError> {
        let access = Arc::new(Access::open(store.clone())?);
        Service::with_authenticator(store, key, config, access.clone(), access)
    }

    /// A service whose residents are named by `authenticator` (a
    /// municipality's e-ID) instead of voting codes; `access` still holds the
    /// officials' tokens.
    ///
    /// # Errors
    /// A setting is out of range.
    pub fn with_authenticator(
        store: Arc<dyn Store>,
        key: VoterKey,
        config: Config,
        access: Arc<Access>,
        authenticator: Arc<dyn Authenticator>,
    ) -> Result<Service, ServerError> {
        for (setting, value, max) in [
            ("max_body", config.max_body, 64 << 20),
            ("queue", config.queue, 1_000_000),
        ] {
            if value > max || value == 0 {
                return Err(ServerError::Setting {
                    setting,
                    value,
                    max,
                });
            }
        }
        let repo = Arc::new(Mutex::new(Repository::<Programme>::new(
            store.clone(),
            key.clone(),
        )));
        let mut receipts =
            receipts::Receipts::open(store.clone()).map_err(ServerError::Receipts)?;
        let (writer, jobs) = std::sync::mpsc::sync_channel(config.queue);
        let for_writer = repo.clone();
        std::thread::Builder::new()
            .name("medborgarbudget-writer".into())
            .spawn(move || write_loop(&for_writer, &mut receipts, &jobs))?;
        // Derived from the voter key, which every server of one store
        // shares: a form fetched from one server posts to another, and to
        // this one after a restart.
        let csrf_key: [u8; 32] = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"medborgarbudget form tokens\0");
            h.update(key.as_bytes());
            h.finalize().into()
        };
        let follow = Arc::downgrade(&access);
        std::thread::Builder::new()
            .name("medborgarbudget-access".into())
            .spawn(move || follow_access(&follow))?;
        Ok(Service {
            inner: Arc::new(Inner {
                store,
                repo,
                writer,
                access,
                authenticator,
                limiter: Limiter::new(config.limits),
                csrf_key,
                key,
                config,
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The tokens and voting codes.
    pub fn access(&self) -> &Access {
        &self.inner.access
    }

    /// The routes: the residents' pages, the API and `/openapi.json`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::start))
            .route("/p/{programme}", get(pages::programme))
            .route(
                "/p/{programme}/idea",
                get(pages::idea_form).post(pages::idea_post),
            )
            .route(
                "/p/{programme}/vote",
                get(pages::vote_form).post(pages::vote_post),
            )
            .route("/p/{programme}/report", get(pages::report))
            .route("/openapi.json", get(openapi::serve))
            .route("/schema/{name}", get(openapi::schema_file))
            .route("/api/programmes", get(api::list).post(api::create))
            .route("/api/programmes/{programme}", get(api::programme))
            .route("/api/programmes/{programme}/commands", post(api::command))
            .route("/api/programmes/{programme}/years/{year}", get(api::year))
            .route(
                "/api/programmes/{programme}/years/{year}/available",
                get(api::available),
            )
            .route("/api/programmes/{programme}/report", get(api::report))
            .route(
                "/api/programmes/{programme}/tokens",
                get(api::tokens).post(api::token),
            )
            .route("/api/tokens/{token}", delete(api::revoke))
            .route("/api/programmes/{programme}/codes", post(api::codes))
            .route("/api/programmes/{programme}/ballots", post(api::ballot))
            .route("/api/programmes/{programme}/ideas", post(api::idea))
            .fallback(api::not_found)
            .layer(DefaultBodyLimit::max(self.inner.config.max_body))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        Ok(())
    }

    fn repo(&self) -> MutexGuard<'_, Repository<Programme>> {
        self.inner.repo.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the loaded programme (brought up to date), off the async
    /// threads.
    async fn with_programme<T: Send + 'static>(
        &self,
        id: ProgrammeId,
        f: impl FnOnce(&Programme) -> T + Send + 'static,
    ) -> Result<T, RepositoryError<ProgrammeError, ProgrammeError>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut repo = this.repo();
            repo.load(id).map(f)
        })
        .await
        .unwrap_or_else(|e| {
            Err(RepositoryError::Store(crate::store::StoreError::Backend {
                backend: "server",
                message: format!("a reading task failed: {e}"),
                source: None,
            }))
        })
    }

    /// Sends `command` (with its idempotency key, if any) to the writer and
    /// waits for its outcome.
    async fn execute(
        &self,
        programme: ProgrammeId,
        command: ProgrammeCommand,
        key: Option<receipts::RequestKey>,
    ) -> Result<Outcome, Busy> {
        let (reply, outcome) = oneshot::channel();
        self.inner
            .writer
            .try_send(Job {
                programme,
                command,
                key,
                reply,
            })
            .map_err(|_| Busy)?;
        outcome.await.map_err(|_| Busy)
    }
}

/// Reads, every [`ACCESS_REFRESH`], what other servers on the store added to
/// the access stream (tokens, revocations, codes), until the service is gone.
fn follow_access(access: &std::sync::Weak<Access>) {
    loop {
        std::thread::sleep(ACCESS_REFRESH);
        let Some(access) = access.upgrade() else {
            return;
        };
        // A failed read is tried again at the next tick; appends catch up
        // by themselves.
        let _ = access.refresh();
    }
}

/// How often the service reads other servers' tokens, revocations and codes.
pub const ACCESS_REFRESH: Duration = Duration::from_secs(1);

/// The writer's queue is full (or the writer has stopped).
#[derive(Debug, Clone, Copy)]
struct Busy;

/// The writer: takes what is waiting (up to [`MAX_BATCH`]), groups it by
/// programme in order of arrival, and stores each programme's accepted
/// commands in one append, after recording the receipts of those sent with
/// an idempotency key.
fn write_loop(
    repo: &Mutex<Repository<Programme>>,
    receipts: &mut receipts::Receipts,
    jobs: &std::sync::mpsc::Receiver<Job>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut by_programme: Vec<(ProgrammeId, Vec<Job>)> = Vec::new();
        for job in batch {
            match by_programme.iter_mut().find(|(p, _)| *p == job.programme) {
                Some((_, jobs)) => jobs.push(job),
                None => by_programme.push((job.programme, vec![job])),
            }
        }
        let mut repo = repo.lock().unwrap_or_else(|p| p.into_inner());
        for (programme, jobs) in by_programme {
            write_programme(&mut repo, receipts, programme, jobs);
        }
    }
}

/// Decides and stores one programme's share of a batch. A key sent twice in
/// the batch waits for a second round, to be answered from the first's
/// receipt.
fn write_programme(
    repo: &mut Repository<Programme>,
    receipts: &mut receipts::Receipts,
    programme: ProgrammeId,
    mut jobs: Vec<Job>,
) {
    while !jobs.is_empty() {
        let keyed = jobs.iter().any(|j| j.key.is_some());
        if keyed && let Err(e) = receipts.refresh() {
            let message = crate::error_chain(&e);
            for job in jobs {
                let _ = job.reply.send(Outcome::Failed(message.clone()));
            }
            return;
        }
        let mut now = Vec::with_capacity(jobs.len());
        let mut later = Vec::new();
        for job in jobs {
            let Some(key) = &job.key else {
                now.push(job);
                continue;
            };
            if now.iter().any(|j: &Job| j.key.as_ref() == Some(key)) {
                later.push(job);
                continue;
            }
            match receipts.seen(programme, key) {
                Ok(receipts::Seen::New) => now.push(job),
                Ok(receipts::Seen::Stored(events)) => {
                    let _ = job.reply.send(Outcome::Replayed(events));
                }
                Ok(receipts::Seen::Reused) => {
                    let _ = job.reply.send(Outcome::KeyReused);
                }
                Err(e) => {
                    let _ = job.reply.send(Outcome::Failed(crate::error_chain(&e)));
                }
            }
        }
        let (commands, (keys, replies)): (Vec<_>, (Vec<_>, Vec<_>)) = now
            .into_iter()
            .map(|j| (j.command, (j.key, j.reply)))
            .unzip();
        let outcomes = if commands.is_empty() {
            Ok(Vec::new())
        } else {
            repo.execute_each_then(programme, commands, |plan| {
                receipts.intend(programme, &keys, plan)
            })
        };
        match outcomes {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Outcome::Decided(outcome));
                }
            }
            Err(RepositoryError::NotFound { .. }) => {
                for reply in replies {
                    let _ = reply.send(Outcome::NoProgramme);
                }
            }
            Err(e) => {
                let message = crate::error_chain(&e);
                for reply in replies {
                    let _ = reply.send(Outcome::Failed(message.clone()));
                }
            }
        }
        jobs = later;
    }
}

/// How long a client is asked to wait when the writer's queue is full.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// The same key twice in one batch (a client that resent before the
    /// first answer): the first is decided and stored, the second waits for
    /// a second round and is answered from the first's receipt, not decided
    /// again; a command without a key beside them is decided as usual.
    #[test]
    fn a_key_sent_twice_in_one_batch_is_stored_once_and_replayed() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let setup: crate::process::ProgrammeSetup = serde_json::from_value(serde_json::json!({
            "id": ProgrammeId::new(),
            "area": { "id": "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10", "name": "Norrby", "population": 10000 },
            "currency": "SEK",
            "first_year": 2027,
            "years": 3,
            "established_at": "2026-12-01T10:00:00Z"
        }))
        .unwrap();
        let programme = setup.id;
        let mut repo = Repository::<Programme>::new(store.clone(), VoterKey::random());
        repo.create(programme, ProgrammeEvent::Established(setup))
            .unwrap();
        let mut receipts = receipts::Receipts::open(store).unwrap();
        let start: ProgrammeCommand = serde_json::from_value(serde_json::json!({ "start_cycle": {
            "id": crate::ids::CycleId::new(), "year": 2027, "at": "2027-01-10T09:00:00Z" } }))
        .unwrap();
        let key = receipts::RequestKey::new("start", &start).unwrap();
        let mut answers = Vec::new();
        let jobs = [Some(key.clone()), Some(key), None]
            .into_iter()
            .map(|key| {
                let (reply, answer) = oneshot::channel();
                answers.push(answer);
                Job {
                    programme,
                    command: start.clone(),
                    key,
                    reply,
                }
            })
            .collect();
        write_programme(&mut repo, &mut receipts, programme, jobs);
        let mut outcomes = answers.into_iter().map(|mut a| a.try_recv().unwrap());
        let Some(Outcome::Decided(Ok(first))) = outcomes.next() else {
            panic!("the first is decided and stored")
        };
        match outcomes.next() {
            Some(Outcome::Replayed(events)) => assert_eq!(events, first),
            other => panic!("the second is replayed: {other:?}"),
        }
        // Without a key the same command is decided again: the year exists.
        assert!(matches!(outcomes.next(), Some(Outcome::Decided(Err(_)))));
        assert_eq!(repo.load(programme).unwrap().cycles().len(), 1);
    }
}
