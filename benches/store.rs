//! The event store: ballots appended per second (one commit per ballot and in
//! batches of 1,000) for each backend, replaying a cycle of 100,000 ballots, and
//! the memory a loaded 100,000-ballot cycle takes.
//!
//! Run with `cargo bench --bench store` (PostgreSQL: `--features postgres` and
//! `MEDBORGARBUDGET_PG_URL`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use medborgarbudget::ids::CycleId;
use medborgarbudget::process::{AnyCycle, Event};
use medborgarbudget::store::conformance::{self, test_key};
use medborgarbudget::store::memory::MemoryStore;
use medborgarbudget::store::{NewEvent, Repository, Store, StreamId};

/// Counts live heap bytes, to measure a loaded cycle.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded to the system allocator with the same layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded to the system allocator with the same layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A fresh stream holding a voting cycle; returns its id and version.
fn fresh(store: &dyn Store) -> (CycleId, u64) {
    let id = CycleId::new();
    let events: Vec<NewEvent> = conformance::voting_cycle(id)
        .iter()
        .map(|e| NewEvent::json(e).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let v = store
        .append(&StreamId::cycle(id), 0, events)
        .unwrap_or_else(|e| panic!("{e}"))
        .version;
    (id, v)
}

/// Encoded ballot events, voters `from..from + n`.
fn ballots(from: u128, n: u128) -> Vec<NewEvent> {
    (from..from + n)
        .map(|k| {
            NewEvent::json(&Event::Accepted(conformance::ballot(k)))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// `store` gives the store for an iteration: a fresh one (memory) or a shared
/// file that grows (SQLite, PostgreSQL).
fn appends(c: &mut Criterion, name: &str, store: &dyn Fn() -> Arc<dyn Store>, singles: u128) {
    let mut g = c.benchmark_group(format!("append/{name}"));
    g.throughput(Throughput::Elements(singles as u64));
    g.bench_function(format!("{singles} ballots, one commit each"), |b| {
        b.iter_batched(
            || {
                let store = store();
                (fresh(store.as_ref()), ballots(1, singles), store)
            },
            |((id, mut v), events, store)| {
                let s = StreamId::cycle(id);
                for e in events {
                    v = store
                        .append(&s, v, vec![e])
                        .unwrap_or_else(|e| panic!("{e}"))
                        .version;
                }
            },
            BatchSize::PerIteration,
        );
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("10,000 ballots in batches of 1,000", |b| {
        b.iter_batched(
            || {
                let store = store();
                let batches: Vec<Vec<NewEvent>> = ballots(1, 10_000)
                    .chunks(1_000)
                    .map(<[_]>::to_vec)
                    .collect();
                (fresh(store.as_ref()), batches, store)
            },
            |((id, mut v), batches, store)| {
                let s = StreamId::cycle(id);
                for batch in batches {
                    v = store
                        .append(&s, v, batch)
                        .unwrap_or_else(|e| panic!("{e}"))
                        .version;
                }
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// A stream with a voting cycle and 100,000 ballots.
fn hundred_thousand(store: &dyn Store) -> CycleId {
    let (id, mut v) = fresh(store);
    let s = StreamId::cycle(id);
    for chunk in ballots(1, 100_000).chunks(5_000) {
        v = store
            .append(&s, v, chunk.to_vec())
            .unwrap_or_else(|e| panic!("{e}"))
            .version;
    }
    id
}

fn replay(c: &mut Criterion, name: &str, store: Arc<dyn Store>) {
    let id = hundred_thousand(store.as_ref());
    let mut g = c.benchmark_group(format!("replay/{name}"));
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("load a cycle of 100,000 ballots", |b| {
        b.iter(|| {
            let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
            repo.load(id).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
            black_box(());
        });
    });
    g.finish();
    if name == "memory" {
        let before = LIVE.load(Ordering::Relaxed);
        let mut repo = Repository::<AnyCycle>::new(store.clone(), test_key());
        let loaded = repo.load(id).cloned().unwrap_or_else(|e| panic!("{e}"));
        drop(repo);
        let bytes = LIVE.load(Ordering::Relaxed).saturating_sub(before);
        println!(
            "memory of a loaded 100,000-ballot cycle: {:.1} MB",
            bytes as f64 / 1e6
        );
        drop(loaded);
    }
}

fn bench(c: &mut Criterion) {
    appends(c, "memory", &|| Arc::new(MemoryStore::new()), 10_000);
    replay(c, "memory", Arc::new(MemoryStore::new()));
    #[cfg(feature = "sqlite")]
    {
        use medborgarbudget::store::Durability;
        use medborgarbudget::store::sqlite::SqliteStore;
        let dir =
            std::env::temp_dir().join(format!("medborgarbudget-bench-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for (label, durability) in [
            ("sqlite-full", Durability::Full),
            ("sqlite-normal", Durability::Normal),
        ] {
            let store: Arc<dyn Store> = Arc::new(
                SqliteStore::open_with(dir.join(format!("{label}.db")), durability)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            appends(c, label, &|| store.clone(), 1_000);
        }
        // Sealed heads: the same appends with an HMAC of each new head.
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open_with(dir.join("sealed.db"), Durability::Normal)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_log_key(medborgarbudget::store::LogKey::random()),
        );
        appends(c, "sqlite-normal-sealed", &|| store.clone(), 1_000);
        let store = SqliteStore::open(dir.join("replay.db")).unwrap_or_else(|e| panic!("{e}"));
        replay(c, "sqlite", Arc::new(store));
        let _ = std::fs::remove_dir_all(&dir);
    }
    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("MEDBORGARBUDGET_PG_URL") {
        use medborgarbudget::store::postgres::PostgresStore;
        let schema = format!("bench_{}", std::process::id());
        let store =
            Arc::new(PostgresStore::connect(&url, &schema).unwrap_or_else(|e| panic!("{e}")));
        let shared: Arc<dyn Store> = store.clone();
        appends(c, "postgres", &|| shared.clone(), 1_000);
        replay(c, "postgres", store.clone());
        let _ = store.drop_schema();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
