//! The embedded event store: one SQLite file (bundled SQLite), WAL mode, one
//! transaction per append, a versioned schema with migrations.
//!
//! ```
//! use medborgarbudget::store::{sqlite::SqliteStore, NewEvent, Store, StreamId};
//! let store = SqliteStore::in_memory()?;
//! let s = StreamId::new("example")?;
//! store.append(&s, 0, vec![NewEvent { schema: 2, payload: "{}".into() }])?;
//! assert_eq!(store.version(&s)?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    Appended, Durability, Evidence, Hash, Head, KeyFingerprint, LogKey, NewEvent, Seal, Store,
    StoreError, StoredEvent, StreamId, StreamInfo, Version, now, plan_append, timestamp,
};

/// The schema migrations, in order; the database records which it has applied.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE events (
        stream      TEXT    NOT NULL,
        version     INTEGER NOT NULL CHECK (version > 0),
        schema      INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL, -- microseconds since 1970 UTC
        payload     TEXT    NOT NULL,
        prev_hash   BLOB    NOT NULL,
        hash        BLOB    NOT NULL,
        PRIMARY KEY (stream, version)
    ) WITHOUT ROWID;
    CREATE TABLE streams (
        stream  TEXT    PRIMARY KEY,
        version INTEGER NOT NULL,
        head    BLOB    NOT NULL
    ) WITHOUT ROWID;",
    ),
    // The head's seal under the writer's log key and the voter key's
    // fingerprint; both NULL for streams written before them.
    (
        2,
        "ALTER TABLE streams ADD COLUMN seal BLOB;
         ALTER TABLE streams ADD COLUMN voter_key BLOB;",
    ),
];

/// An event store in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    log_key: Option<LogKey>,
}

/// The database failed: its own error kept as the source.
fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    backend_with("the database failed", e)
}

/// The database failed doing `what`: its own error kept as the source.
fn backend_with<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
    e: E,
) -> StoreError {
    StoreError::Backend {
        backend: "sqlite",
        message: what.into(),
        source: Some(Box::new(e)),
    }
}

/// Something the database holds or does that is wrong, in words.
fn fault(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        backend: "sqlite",
        message: message.into(),
        source: None,
    }
}

fn hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| fault("a stored hash is not 32 bytes"))
}

/// A `streams` row: version, head, seal, voter key fingerprint.
type HeadRow = (i64, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// How long a connection waits for another's lock.
const BUSY: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `f` again while SQLite says the database is busy or locked without
/// having waited (as it does for some schema and journal changes), with a
/// growing pause of up to 50 ms, for at most [`BUSY`].
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The head recorded for `stream`, if any.
fn read_head(conn: &Connection, stream: &StreamId) -> Result<Option<Head>, StoreError> {
    let row: Option<HeadRow> = conn
        .prepare_cached("SELECT version, head, seal, voter_key FROM streams WHERE stream = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([stream.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((version, head, seal, voter_key)) = row else {
        return Ok(None);
    };
    let seal = seal.map(|s| hash(&s).map(|h| Seal(h.0))).transpose()?;
    let voter_key = voter_key
        .map(|f| {
            <[u8; 8]>::try_from(f.as_slice())
                .map(KeyFingerprint)
                .map_err(|_| fault("a stored voter key fingerprint is not 8 bytes"))
        })
        .transpose()?;
    Ok(Some(Head {
        version: super::stored_version(stream, version, "version")?,
        hash: hash(&head)?,
        seal,
        voter_key,
    }))
}

/// Creates the database file readable and writable by its owner only (on
/// Unix), before SQLite opens it, so that it is never readable by others, not
/// even for a moment. SQLite gives its journal files the same permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(backend_with(format!("creating {}", path.display()), e)),
    }
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`, applying pending
    /// migrations, with [`Durability::Full`] and no log key. A new file is
    /// created readable by its owner only.
    ///
    /// # Errors
    /// The file cannot be opened, or it was written by a newer schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Durability::default())
    }

    /// Opens the store with the given durability.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        create_private(path.as_ref())?;
        let conn = Connection::open(path.as_ref()).map_err(backend)?;
        SqliteStore::init(conn, Some(path.as_ref().to_path_buf()), durability)
    }

    /// A store in memory (for tests).
    ///
    /// # Errors
    /// SQLite cannot start.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(
            Connection::open_in_memory().map_err(backend)?,
            None,
            Durability::Normal,
        )
    }

    fn init(
        mut conn: Connection,
        path: Option<PathBuf>,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY).map_err(backend)?;
        // Switching a new file to WAL takes a lock that SQLite does not wait
        // for: when several processes open one new file at once, all but one
        // are told "database is locked" at once. They wait here instead.
        retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(backend)?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                applied_at TEXT    NOT NULL
            )",
        )
        .map_err(backend)?;
        let applied: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if applied > newest {
            return Err(fault(format!(
                "the database schema is at migration {applied}, newer than this build knows ({newest})"
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, timestamp(&now())],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
            log_key: None,
        })
    }

    /// The store, sealing every head it writes with `key` and refusing heads
    /// whose seal does not verify.
    pub fn with_log_key(mut self, key: LogKey) -> SqliteStore {
        self.log_key = Some(key);
        self
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The migrations applied to this database.
    ///
    /// # Errors
    /// A backend failure.
    pub fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<Vec<i64>, _>>().map_err(backend)
    }
}

impl Store for SqliteStore {
    fn append_as(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
        voter_key: Option<&KeyFingerprint>,
    ) -> Result<Appended, StoreError> {
        let mut conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current = read_head(&tx, stream)?;
        let plan = plan_append(
            stream,
            expected,
            current.as_ref(),
            self.log_key.as_ref(),
            voter_key,
            (events, now()),
        )?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (stream, version, schema, recorded_at, payload, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(backend)?;
            for e in &plan.events {
                let inserted = insert.execute(params![
                    stream.as_str(),
                    i64::try_from(e.version).map_err(backend)?,
                    e.schema,
                    e.recorded_at.timestamp_micros(),
                    e.payload,
                    &e.prev_hash.0[..],
                    &e.hash.0[..],
                ]);
                match inserted {
                    Ok(_) => {}
                    // The head says the stream ends at `expected`, yet an event
                    // is there: written outside the store.
                    Err(rusqlite::Error::SqliteFailure(err, _))
                        if err.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(StoreError::Tampered {
                            stream: stream.clone(),
                            evidence: match current {
                                Some(_) => Evidence::PastHead { recorded: expected },
                                None => Evidence::NoHead { found: e.version },
                            },
                        });
                    }
                    Err(err) => return Err(backend(err)),
                }
            }
        }
        let Head {
            version,
            hash: head,
            seal,
            voter_key: fingerprint,
        } = plan.head;
        tx.execute(
            "INSERT INTO streams (stream, version, head, seal, voter_key) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (stream) DO UPDATE SET version = excluded.version, head = excluded.head,
                 seal = excluded.seal, voter_key = excluded.voter_key",
            params![
                stream.as_str(),
                i64::try_from(version).map_err(backend)?,
                &head.0[..],
                seal.as_ref().map(|s| &s.0[..]),
                fingerprint.as_ref().map(|f| &f.0[..]),
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Appended { version, head })
    }

    fn head(&self, stream: &StreamId) -> Result<Option<Head>, StoreError> {
        let conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        read_head(&conn, stream)
    }

    fn log_key(&self) -> Option<&LogKey> {
        self.log_key.as_ref()
    }

    fn read(
        &self,
        stream: &StreamId,
        after: Version,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT version, schema, recorded_at, payload, prev_hash, hash FROM events
                 WHERE stream = ?1 AND version > ?2 ORDER BY version LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![
                    stream.as_str(),
                    i64::try_from(after).unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    let blob = |i| -> rusqlite::Result<[u8; 32]> {
                        let bytes = r.get_ref(i)?.as_blob()?;
                        <[u8; 32]>::try_from(bytes).map_err(|_| {
                            rusqlite::Error::FromSqlConversionFailure(
                                i,
                                rusqlite::types::Type::Blob,
                                "a stored hash is not 32 bytes".into(),
                            )
                        })
                    };
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        blob(4)?,
                        blob(5)?,
                    ))
                },
            )
            .map_err(backend)?;
        let mut out = Vec::with_capacity(limit.min(super::PAGE));
        for row in rows {
            let (version, schema, micros, payload, prev, this) = row.map_err(backend)?;
            let recorded_at = DateTime::<Utc>::from_timestamp_micros(micros)
                .ok_or_else(|| fault(format!("event {version}: time {micros} out of range")))?;
            out.push(StoredEvent {
                stream: stream.clone(),
                version: super::stored_version(stream, version, "event version")?,
                schema,
                recorded_at,
                payload,
                prev_hash: Hash(prev),
                hash: Hash(this),
            });
        }
        Ok(out)
    }

    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        let mut stmt = conn
            .prepare_cached("SELECT stream, version FROM streams ORDER BY stream")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (stream, version) = row.map_err(backend)?;
            let stream = StreamId::new(stream)?;
            let version = super::stored_version(&stream, version, "version")?;
            out.push(StreamInfo { stream, version });
        }
        Ok(out)
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let conn = self.conn.lock().map_err(|_| fault("a writer panicked"))?;
        let v: Option<i64> = conn
            .query_row(
                "SELECT version FROM streams WHERE stream = ?1",
                [stream.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        v.map_or(Ok(0), |v| super::stored_version(stream, v, "version"))
    }
}
