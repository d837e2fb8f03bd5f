//! Speed of the rules on real elections: Łódź 2022 (approval, ~90k voters × 160
//! projects), Wrocław 2015 (choose-1, ~132k voters), Kraków 2024 (ranked, ~65k
//! voters) and add1 on Wieliczka 2023 (6,586 voters × 64 projects).
//!
//! Run with `cargo bench --bench tally`. The pabulib folder is
//! `MEDBORGARBUDGET_PABULIB` or `../shared/pabulib`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use medborgarbudget::pabulib;
use medborgarbudget::tally::{
    Election, Greedy, MaxWelfare, Mes, MesAdd1, MesAdd1Comparison, MesGreedy, Phragmen, Tally,
    TieBreaking,
};

fn election(name: &str) -> Option<Election> {
    let dir = std::env::var_os("MEDBORGARBUDGET_PABULIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"));
    let file = pabulib::read_file(dir.join("files").join(name)).ok()?;
    file.election().ok()
}

fn bench(c: &mut Criterion) {
    let ties = TieBreaking::by_project_id();
    let rules: [(&str, &dyn Tally); 5] = [
        ("greedy", &Greedy),
        ("mes", &Mes),
        ("mes-greedy", &MesGreedy),
        ("phragmen", &Phragmen::STOP),
        ("max-welfare", &MaxWelfare),
    ];
    for (label, file) in [
        ("lodz_2022", "Poland_Lodz_2022.pb"),
        ("wroclaw_2015", "Poland_Wroclaw_2015_150_-_500.pb"),
        ("krakow_2024", "Poland_Krakow_2024.pb"),
    ] {
        let Some(e) = election(file) else {
            eprintln!("skipping {file}: not found");
            continue;
        };
        let mut g = c.benchmark_group(label);
        for (name, rule) in rules {
            g.bench_function(name, |b| b.iter(|| rule.tally(black_box(&e), &ties)));
        }
        g.finish();
    }
    if let Some(e) = election("Poland_Wieliczka_2023_Green_Budget.pb") {
        let official = TieBreaking::new(vec![
            medborgarbudget::tally::TieBreak::LowestCost,
            medborgarbudget::tally::TieBreak::MostVotes,
        ])
        .unwrap_or(ties.clone());
        let mut g = c.benchmark_group("wieliczka_2023");
        g.bench_function("mes-add1", |b| {
            b.iter(|| MesAdd1::default().tally(black_box(&e), &official))
        });
        g.bench_function("mes-add1-comparison", |b| {
            b.iter(|| MesAdd1Comparison.tally(black_box(&e), &official))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
