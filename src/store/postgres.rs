//! The event store in PostgreSQL: a connection pool usable from many threads,
//! one transaction per append, a unique `(stream, version)` key so two concurrent
//! appends can never both win, and versioned migrations, all inside one schema.
//!
//! ```no_run
//! use medborgarbudget::store::postgres::PostgresStore;
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", "medborgarbudget")?;
//! # Ok::<(), medborgarbudget::store::StoreError>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use r2d2::Pool;

use super::{
    Appended, Durability, Evidence, Hash, Head, KeyFingerprint, LogKey, NewEvent, Seal, Store,
    StoreError, StoredEvent, StreamId, StreamInfo, Version, now, plan_append,
};

/// The schema migrations, in order (`{s}` is the schema).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE {s}.events (
        stream      TEXT    NOT NULL,
        version     BIGINT  NOT NULL CHECK (version > 0),
        schema      INTEGER NOT NULL,
        recorded_at BIGINT  NOT NULL, -- microseconds since 1970 UTC
        payload     TEXT    NOT NULL,
        prev_hash   BYTEA   NOT NULL,
        hash        BYTEA   NOT NULL,
        PRIMARY KEY (stream, version)
    );
    CREATE TABLE {s}.streams (
        stream  TEXT   PRIMARY KEY,
        version BIGINT NOT NULL,
        head    BYTEA  NOT NULL
    );",
    ),
    // The head's seal under the writer's log key and the voter key's
    // fingerprint; both NULL for streams written before them.
    (
        2,
        "ALTER TABLE {s}.streams ADD COLUMN seal BYTEA, ADD COLUMN voter_key BYTEA;",
    ),
];

/// One pooled session: a client and the statements it has prepared, so a
/// statement is parsed once per connection rather than once per call (a round
/// trip saved on every query).
struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    /// The prepared statement for `sql`, preparing it on first use.
    fn statement(
        client: &mut impl GenericClient,
        prepared: &mut HashMap<String, Statement>,
        sql: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Opens sessions with the store's commit durability.
#[derive(Debug)]
struct Manager {
    config: Config,
    durability: Durability,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        let setting = match self.durability {
            Durability::Full => "on",
            Durability::Normal => "off",
        };
        client.batch_execute(&format!("SET synchronous_commit TO {setting}"))?;
        Ok(Conn {
            client,
            prepared: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// One event as bound to an INSERT: version, schema, time, payload, hashes.
type Row<'a> = (i64, i32, i64, &'a str, &'a [u8], &'a [u8]);

/// Rows per `INSERT` statement of a batch.
const ROWS_PER_INSERT: usize = 1_000;

/// An event store in a PostgreSQL schema.
pub struct PostgresStore {
    pool: Pool<Manager>,
    schema: String,
    log_key: Option<LogKey>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("connections", &self.pool.state().connections)
            .field("sealed", &self.log_key.is_some())
            .finish()
    }
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
        backend: "postgres",
        message: what.into(),
        source: Some(Box::new(e)),
    }
}

/// Something the database holds or does that is wrong, in words.
fn fault(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        backend: "postgres",
        message: message.into(),
        source: None,
    }
}

fn hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| fault("a stored hash is not 32 bytes"))
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(backend)
}

/// A head as read from `SELECT version, head, seal, voter_key`.
fn head_of(stream: &StreamId, row: &postgres::Row) -> Result<Head, StoreError> {
    let version: i64 = row.get(0);
    let seal = row
        .get::<_, Option<&[u8]>>(2)
        .map(|s| hash(s).map(|h| Seal(h.0)))
        .transpose()?;
    let voter_key = row
        .get::<_, Option<&[u8]>>(3)
        .map(|f| {
            <[u8; 8]>::try_from(f)
                .map(KeyFingerprint)
                .map_err(|_| fault("a stored voter key fingerprint is not 8 bytes"))
        })
        .transpose()?;
    Ok(Head {
        version: super::stored_version(stream, version, "version")?,
        hash: hash(row.get::<_, &[u8]>(1))?,
        seal,
        voter_key,
    })
}

/// Connects once, directly, to say at once — naming the database, host and
/// port — why a server cannot be used, instead of letting the pool retry
/// until its timeout.
fn probe(config: &Config) -> Result<(), StoreError> {
    let database = config.get_dbname().unwrap_or("(the user's default)");
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, port)| match h {
            postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => format!("{}", path.display()),
        })
        .collect();
    let server = if hosts.is_empty() {
        "the default server".to_owned()
    } else {
        hosts.join(", ")
    };
    match config.connect(NoTls) {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => Err(fault(format!(
            "database {database:?} does not exist on {server}; create it (createdb {database}) or name another in the URL"
        ))),
        Err(e) => Err(backend_with(
            format!("cannot use database {database:?} on {server}"),
            e,
        )),
    }
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL) and uses the schema `schema`
    /// (letters, digits and `_`, up to 63), creating it and applying pending
    /// migrations.
    ///
    /// # Errors
    /// A bad URL or schema name, an unreachable server, or a schema written by a
    /// newer build.
    pub fn connect(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(url, schema, Durability::default())
    }

    /// Connects with the given durability.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub fn connect_with(
        url: &str,
        schema: &str,
        durability: Durability,
    ) -> Result<PostgresStore, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(fault(format!(
                "{schema:?} is not a valid schema name (lower-case letters, digits, '_')"
            )));
        }
        let mut config: Config = url.parse().map_err(backend)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        probe(&config)?;
        let manager = Manager { config, durability };
        // A broken session is found by the query that uses it, and the pool
        // drops it then; testing each checkout would cost a round trip.
        let pool = Pool::builder()
            .test_on_check_out(false)
            .max_size(16)
            .connection_timeout(std::time::Duration::from_secs(30))
            .build(manager)
            .map_err(backend)?;
        let store = PostgresStore {
            pool,
            schema: schema.to_owned(),
            log_key: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The store, sealing every head it writes with `key` and refusing heads
    /// whose seal does not verify.
    pub fn with_log_key(mut self, key: LogKey) -> PostgresStore {
        self.log_key = Some(key);
        self
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn sql(&self, template: &str) -> String {
        template.replace("{s}", &self.schema)
    }

    /// Inserts `rows` of `stream` in statements of up to [`ROWS_PER_INSERT`];
    /// the last also moves the stream's version and head to `moved`.
    fn insert(
        &self,
        client: &mut impl GenericClient,
        prepared: &mut HashMap<String, Statement>,
        stream: &StreamId,
        rows: &[Row<'_>],
        moved: (i64, Hash, Option<Seal>, Option<KeyFingerprint>),
    ) -> Result<(), postgres::Error> {
        let name = stream.as_str();
        let head = &moved.1.0[..];
        let seal = moved.2.as_ref().map(|s| &s.0[..]);
        let voter_key = moved.3.as_ref().map(|f| &f.0[..]);
        let chunks = rows.len().div_ceil(ROWS_PER_INSERT);
        for (n, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
            let last = n + 1 == chunks;
            let sql = self.insert_sql(chunk.len(), last);
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 7 + 4);
            for row in chunk {
                params.extend_from_slice(&[&name, &row.0, &row.1, &row.2, &row.3, &row.4, &row.5]);
            }
            if last {
                params.push(&moved.0);
                params.push(&head);
                params.push(&seal);
                params.push(&voter_key);
            }
            // Batches of one and of a full chunk recur; those are prepared once.
            if chunk.len() == 1 || chunk.len() == ROWS_PER_INSERT {
                let statement = Conn::statement(client, prepared, &sql)?;
                client.execute(&statement, &params)?;
            } else {
                client.execute(sql.as_str(), &params)?;
            }
        }
        Ok(())
    }

    /// An INSERT of `rows` events; with `move_head`, a statement that also sets
    /// the stream's version and head (the last two parameters).
    fn insert_sql(&self, rows: usize, move_head: bool) -> String {
        use std::fmt::Write as _;
        let mut sql = String::with_capacity(64 + rows * 40);
        if move_head {
            sql.push_str("WITH e AS (");
        }
        sql.push_str(&self.sql(
            "INSERT INTO {s}.events (stream, version, schema, recorded_at, payload, prev_hash, hash) VALUES ",
        ));
        for i in 0..rows {
            let b = i * 7;
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(
                sql,
                "{sep}(${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7
            );
        }
        if move_head {
            let (v, h, seal, key) = (rows * 7 + 1, rows * 7 + 2, rows * 7 + 3, rows * 7 + 4);
            sql.push_str(&self.sql(&format!(
                ") INSERT INTO {{s}}.streams (stream, version, head, seal, voter_key)
                 VALUES ($1, ${v}, ${h}, ${seal}, ${key})
                 ON CONFLICT (stream) DO UPDATE SET version = excluded.version, head = excluded.head,
                     seal = excluded.seal, voter_key = excluded.voter_key"
            )));
        }
        sql
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        let mut tx = conn.client.transaction().map_err(backend)?;
        // One migrator at a time, whatever the process.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&self.schema],
        )
        .map_err(backend)?;
        tx.batch_execute(&self.sql(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
                 version    BIGINT      PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );",
        ))
        .map_err(backend)?;
        let applied: i64 = tx
            .query_one(
                &self.sql("SELECT COALESCE(MAX(version), 0) FROM {s}.schema_migrations"),
                &[],
            )
            .map_err(backend)?
            .get(0);
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if applied > newest {
            return Err(fault(format!(
                "schema {} is at migration {applied}, newer than this build knows ({newest})",
                self.schema
            )));
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
            tx.batch_execute(&self.sql(sql)).map_err(backend)?;
            tx.execute(
                &self.sql("INSERT INTO {s}.schema_migrations (version) VALUES ($1)"),
                &[version],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    /// The migrations applied to the schema.
    ///
    /// # Errors
    /// A backend failure.
    pub fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        Ok(conn
            .client
            .query(
                &self.sql("SELECT version FROM {s}.schema_migrations ORDER BY version"),
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// The head recorded for `stream`.
    fn read_head(
        &self,
        client: &mut Client,
        prepared: &mut HashMap<String, Statement>,
        stream: &StreamId,
    ) -> Result<Option<Head>, StoreError> {
        let sql =
            self.sql("SELECT version, head, seal, voter_key FROM {s}.streams WHERE stream = $1");
        let statement = Conn::statement(client, prepared, &sql).map_err(backend)?;
        client
            .query_opt(&statement, &[&stream.as_str()])
            .map_err(backend)?
            .map(|row| head_of(stream, &row))
            .transpose()
    }

    /// Drops the schema and everything in it (for tests and benchmarks).
    ///
    /// # Errors
    /// A backend failure.
    pub fn drop_schema(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        conn.client
            .batch_execute(&self.sql("DROP SCHEMA IF EXISTS {s} CASCADE"))
            .map_err(backend)
    }
}

impl Store for PostgresStore {
    fn append_as(
        &self,
        stream: &StreamId,
        expected: Version,
        events: Vec<NewEvent>,
        voter_key: Option<&KeyFingerprint>,
    ) -> Result<Appended, StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        let Conn { client, prepared } = &mut *conn;
        // No lock: the key on (stream, version) lets only one writer add the
        // event after `expected`; a writer that read a stale head fails there.
        // A stale version is refused here, before any write, so writers that
        // lose a race do not queue behind the one that won.
        let current = self.read_head(client, prepared, stream)?;
        let plan = plan_append(
            stream,
            expected,
            current.as_ref(),
            self.log_key.as_ref(),
            voter_key,
            (events, now()),
        )?;
        let Head {
            version,
            hash: head,
            seal,
            voter_key: fingerprint,
        } = plan.head;
        let rows: Vec<Row<'_>> = plan
            .events
            .iter()
            .map(|e| {
                Ok((
                    to_i64(e.version)?,
                    i32::try_from(e.schema).map_err(backend)?,
                    e.recorded_at.timestamp_micros(),
                    e.payload.as_str(),
                    &e.prev_hash.0[..],
                    &e.hash.0[..],
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let moved = (to_i64(version)?, head, seal, fingerprint);
        // One statement is atomic by itself; more need a transaction.
        let written = if rows.len() <= ROWS_PER_INSERT {
            self.insert(client, prepared, stream, &rows, moved)
        } else {
            client.transaction().and_then(|mut tx| {
                self.insert(&mut tx, prepared, stream, &rows, moved)?;
                tx.commit()
            })
        };
        match written {
            Ok(()) => Ok(Appended { version, head }),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                let now = self.read_head(client, prepared, stream)?;
                match now.map(|h| h.version) {
                    // Another writer created the stream first.
                    Some(version) if expected == 0 => Err(StoreError::AlreadyExists {
                        stream: stream.clone(),
                        version,
                    }),
                    // Another writer appended first.
                    Some(actual) if actual != expected => Err(StoreError::Conflict {
                        stream: stream.clone(),
                        expected,
                        actual,
                    }),
                    // Nobody moved the head, yet an event is there: written
                    // outside the store.
                    Some(_) => Err(StoreError::Tampered {
                        stream: stream.clone(),
                        evidence: Evidence::PastHead { recorded: expected },
                    }),
                    None => Err(StoreError::Tampered {
                        stream: stream.clone(),
                        evidence: Evidence::NoHead {
                            found: expected + 1,
                        },
                    }),
                }
            }
            Err(e) => Err(backend(e)),
        }
    }

    fn head(&self, stream: &StreamId) -> Result<Option<Head>, StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        let Conn { client, prepared } = &mut *conn;
        self.read_head(client, prepared, stream)
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
        let mut conn = self.pool.get().map_err(backend)?;
        let Conn { client, prepared } = &mut *conn;
        let sql = self.sql(
            "SELECT version, schema, recorded_at, payload, prev_hash, hash FROM {s}.events
             WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3",
        );
        let statement = Conn::statement(client, prepared, &sql).map_err(backend)?;
        let rows = client
            .query(
                &statement,
                &[
                    &stream.as_str(),
                    &to_i64(after)?,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let micros: i64 = r.get(2);
                Ok(StoredEvent {
                    stream: stream.clone(),
                    version: super::stored_version(stream, r.get(0), "event version")?,
                    schema: u32::try_from(r.get::<_, i32>(1)).map_err(backend)?,
                    recorded_at: DateTime::<Utc>::from_timestamp_micros(micros)
                        .ok_or_else(|| fault("a stored time is out of range"))?,
                    payload: r.get(3),
                    prev_hash: hash(r.get::<_, &[u8]>(4))?,
                    hash: hash(r.get::<_, &[u8]>(5))?,
                })
            })
            .collect()
    }

    fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        conn.client
            .query(
                &self.sql("SELECT stream, version FROM {s}.streams ORDER BY stream"),
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| {
                let stream = StreamId::new(r.get::<_, String>(0))?;
                let version = super::stored_version(&stream, r.get(1), "version")?;
                Ok(StreamInfo { stream, version })
            })
            .collect()
    }

    fn version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let mut conn = self.pool.get().map_err(backend)?;
        let Conn { client, prepared } = &mut *conn;
        let sql = self.sql("SELECT version FROM {s}.streams WHERE stream = $1");
        let statement = Conn::statement(client, prepared, &sql).map_err(backend)?;
        let row = client
            .query_opt(&statement, &[&stream.as_str()])
            .map_err(backend)?;
        row.map_or(Ok(0), |r| {
            super::stored_version(stream, r.get(0), "version")
        })
    }
}
