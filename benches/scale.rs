//! Counting past every real election: a synthetic approval election of
//! 1,000,000 voters × 500 projects (five approvals each on average;
//! `medborgarbudget generate --voters 1000000` writes the same file, seed 1),
//! parsed, counted by equal shares and greedy, and both together.
//!
//! Run with `cargo bench --features sim --bench scale`. For ten million
//! voters, use the command line (see the README).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use medborgarbudget::pabulib;
use medborgarbudget::sim::Synthetic;
use medborgarbudget::tally::{Greedy, Mes, Tally, TieBreaking};

fn bench(c: &mut Criterion) {
    let mut pb = Vec::new();
    if let Err(e) = Synthetic::default().write(1, &mut pb) {
        eprintln!("cannot generate the election: {e}");
        return;
    }
    let ties = TieBreaking::by_project_id();
    let Ok(file) = pabulib::parse(&pb) else {
        eprintln!("the generated election does not read");
        return;
    };
    let Ok(election) = file.election() else {
        eprintln!("the generated election does not count");
        return;
    };
    let mut g = c.benchmark_group("synthetic_1m");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("parse", |b| b.iter(|| pabulib::parse(black_box(&pb))));
    g.bench_function("greedy", |b| {
        b.iter(|| Greedy.tally(black_box(&election), &ties))
    });
    g.bench_function("mes", |b| {
        // A fresh election each time (the ballots shared): the supporters are
        // computed once per election and belong to the count.
        b.iter(|| file.election().map(|e| Mes.tally(black_box(&e), &ties)))
    });
    g.bench_function("parse+mes", |b| {
        b.iter(|| {
            pabulib::parse(black_box(&pb))
                .ok()
                .and_then(|f| f.election().ok())
                .map(|e| Mes.tally(&e, &ties))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
