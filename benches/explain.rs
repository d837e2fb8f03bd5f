//! Speed of explaining outcomes ([`explain`]): for every project, the largest
//! cost at which it is funded and the fewest added voters that fund it, on
//! Wieliczka 2023 (64 projects), Łódź 2022 (160 projects, ~90k voters) and
//! the largest shared election, Kraków 2024 (ranked, ~65k voters), by greedy,
//! equal shares and Phragmén. Each iteration counts the election once and
//! explains it; the number of counterfactual counts each explanation made is
//! printed before the group.
//!
//! add1 is left out: its counterfactual counts often meet exact ties (the
//! boundary of a measure is where comparisons tie), each then run in exact
//! rationals; explaining Wieliczka by add1 takes about 100 s (see DESIGN.md).
//!
//! Run with `cargo bench --bench explain`. The pabulib folder is
//! `MEDBORGARBUDGET_PABULIB` or `../shared/pabulib`.

use std::hint::black_box;
use std::time::Duration;

mod common;

use common::election;
use criterion::{Criterion, criterion_group, criterion_main};
use medborgarbudget::tally::{Greedy, Mes, Phragmen, Tally, TieBreaking, explain};

fn bench(c: &mut Criterion) {
    let ties = TieBreaking::by_project_id();
    let rules: [(&str, &(dyn Tally + Sync)); 3] = [
        ("greedy", &Greedy),
        ("mes", &Mes),
        ("phragmen", &Phragmen::STOP),
    ];
    for (label, file) in [
        (
            "explain_wieliczka_2023",
            "Poland_Wieliczka_2023_Green_Budget.pb",
        ),
        ("explain_lodz_2022", "Poland_Lodz_2022.pb"),
        ("explain_krakow_2024", "Poland_Krakow_2024.pb"),
    ] {
        let Some(e) = election(file) else {
            eprintln!("skipping {file}: not found");
            continue;
        };
        let mut g = c.benchmark_group(label);
        g.sample_size(10);
        for (name, rule) in rules {
            let explained = rule
                .tally(&e, &ties)
                .and_then(|o| explain(rule, &e, &ties, &o));
            match explained {
                Ok(why) => eprintln!("{label}/{name}: {} counterfactual counts", why.counts),
                Err(err) => {
                    eprintln!("skipping {label}/{name}: {err}");
                    continue;
                }
            }
            g.bench_function(name, |b| {
                b.iter(|| {
                    let o = rule.tally(black_box(&e), &ties)?;
                    explain(rule, &e, &ties, &o)
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
