//! Simulation speed: one three-year programme for a district of 10,000
//! residents (target ≤ 200 ms; counted by greedy, by equal shares and by
//! equal shares with add1, whose target is within 2× of plain), and a sweep of many such programmes on one and
//! on two threads (target: 1,000 programmes ≤ 60 s on 2 cores).
//!
//! `SWEEP_PROGRAMMES` sets the size of the sweep (default 100; the note's
//! figure for 1,000 is measured with `SWEEP_PROGRAMMES=1000`).

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use medborgarbudget::sim::{Scenario, Simulation, Sweep, sweep};
use medborgarbudget::tally::Rule;

fn programme(c: &mut Criterion) {
    let scenario = Scenario::default();
    let mut group = c.benchmark_group("simulate");
    group.sample_size(20);
    simulate(
        &mut group,
        "three-year programme, 10,000 residents, memory store",
        &scenario,
    );
    // The same programme counted by equal shares, plain and with add1 (issue
    // 11's target: add1 within 2× of plain).
    for rule in [Rule::Mes, Rule::MesAdd1] {
        let scenario = Scenario {
            rule: rule.clone(),
            ..Scenario::default()
        };
        simulate(
            &mut group,
            &format!("three-year programme by {rule}"),
            &scenario,
        );
    }
    group.finish();
    let run = Simulation::new(&scenario, 1).and_then(|s| s.run_in_memory());
    if let Ok(run) = run {
        let voters: u64 = run.years.iter().map(|y| y.voters).sum();
        println!(
            "one programme: {voters} ballots over {} years, {} events",
            run.years.len(),
            run.events_written
        );
    }
}

/// Benches one programme of `scenario` a sample, a new seed each.
fn simulate(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    scenario: &Scenario,
) {
    group.bench_function(name, |b| {
        let mut seed = 0;
        b.iter(|| {
            seed += 1;
            Simulation::new(scenario, seed)
                .and_then(|s| s.run_in_memory())
                .map(|run| run.years.len())
        });
    });
}

fn sweeps(_: &mut Criterion) {
    let programmes: u64 = std::env::var("SWEEP_PROGRAMMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let grid = Sweep {
        rules: vec![Rule::Greedy],
        outreach: vec![true],
        seeds: (1..=programmes).collect(),
        ..Sweep::default()
    };
    for threads in [1, 2] {
        let started = Instant::now();
        let rows = sweep(&grid, threads, &|_, _| {});
        let took = started.elapsed();
        match rows {
            Ok(rows) => println!(
                "sweep: {programmes} programmes ({} rows) on {threads} thread(s) in {:.2} s ({:.1} ms each)",
                rows.len(),
                took.as_secs_f64(),
                took.as_secs_f64() * 1000.0 / programmes as f64
            ),
            Err(e) => println!("sweep failed: {e}"),
        }
    }
}

criterion_group!(benches, programme, sweeps);
criterion_main!(benches);
