//! The reference service over HTTP on 127.0.0.1, in a release build: a
//! resident's ballot (voting code checked, decided, stored, answered) one at
//! a time on one connection (the latency a resident sees on a quiet
//! server), and through 64 concurrent connections (the time per ballot under
//! load, the inverse of throughput), on SQLite and, when
//! `MEDBORGARBUDGET_PG_URL` is set, PostgreSQL.
//!
//! Run with `cargo bench --features server --bench server`
//! (PostgreSQL: `--features server,postgres` and `MEDBORGARBUDGET_PG_URL`).
//! Each sample votes in a new demo programme, with fresh codes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use medborgarbudget::area::Resident;
use medborgarbudget::ids::{BallotId, ProgrammeId, ProjectId};
use medborgarbudget::server::{Config, MAX_CODES_PER_REQUEST, Service, demo};
use medborgarbudget::store::{Store, VoterKey};
use serde_json::json;

/// The demo district's area (residents must live there to vote).
const AREA: &str = "6b1f3c2e-8d4a-4f7e-9a51-2c0d7e4b9f10";

/// A demo programme with voting open and `n` fresh codes.
fn programme(service: &Service, n: u64, first: &AtomicUsize) -> (ProgrammeId, Vec<String>) {
    let made = demo::setup(service, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut codes = Vec::with_capacity(n as usize);
    let mut left = n as usize;
    while left > 0 {
        let take = left.min(MAX_CODES_PER_REQUEST);
        let from = first.fetch_add(take, Ordering::Relaxed);
        let residents: Vec<Resident> = (from..from + take)
            .map(|k| {
                serde_json::from_value(json!({
                    "id": uuid::Uuid::from_u128(0xbe4c_0000_0000 + k as u128),
                    "born": "1980-01-01",
                    "residence": { "area": AREA, "since": "2010-01-01" }
                }))
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        codes.extend(
            service
                .access()
                .issue_codes(made.programme, made.year, residents)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        left -= take;
    }
    (made.programme, codes)
}

/// Casts one ballot per code over `connections` connections; the time it
/// took.
async fn cast(
    client: &reqwest::Client,
    at: SocketAddr,
    programme: ProgrammeId,
    codes: Vec<String>,
    connections: usize,
) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let codes = Arc::new(codes);
    let choices = json!({ "approval": [ProjectId::from_u128(0x9e0), ProjectId::from_u128(0x9e1)] });
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, next, codes, choices) =
            (client.clone(), next.clone(), codes.clone(), choices.clone());
        tasks.spawn(async move {
            let url = format!("http://{at}/api/programmes/{programme}/ballots");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(i) else { break };
                let body = json!({ "code": code, "id": BallotId::new(), "choices": choices });
                let r = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    r.status().as_u16(),
                    201,
                    "{}",
                    r.text().await.unwrap_or_default()
                );
            }
        });
    }
    tasks.join_all().await;
    started.elapsed()
}

fn bench_store(c: &mut Criterion, name: &str, store: Arc<dyn Store>) {
    let service = Service::new(store, VoterKey::random(), Config::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let at = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let at = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let serving = service.clone();
        tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
        at
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let residents = AtomicUsize::new(0);
    let mut group = c.benchmark_group(format!("server/{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    for connections in [1, 64] {
        group.bench_function(format!("ballot/{connections}-connections"), |b| {
            b.iter_custom(|ballots| {
                // Set up outside the runtime: the stores are blocking.
                let (programme, codes) = programme(&service, ballots, &residents);
                rt.block_on(cast(&client, at, programme, codes, connections))
            });
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mb-bench-server-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let sqlite = medborgarbudget::store::sqlite::SqliteStore::open(dir.join("bench.db"))
        .unwrap_or_else(|e| panic!("{e}"));
    bench_store(c, "sqlite", Arc::new(sqlite));
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("MEDBORGARBUDGET_PG_URL") {
        use medborgarbudget::store::postgres::PostgresStore;
        let schema = format!("mbbench_{}_server", std::process::id());
        let pg = PostgresStore::connect(&url, &schema).unwrap_or_else(|e| panic!("{e}"));
        bench_store(c, "postgres", Arc::new(pg));
        if let Ok(store) = PostgresStore::connect(&url, &schema) {
            let _ = store.drop_schema();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(server, benches);
criterion_main!(server);
