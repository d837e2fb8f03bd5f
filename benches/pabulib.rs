//! Speed of the `.pb` reader on the three largest files of the pabulib snapshot:
//! Łódź 2022 (approval, ~90k voters), Wrocław 2015 150–500 (choose-1, 132k voters)
//! and Kraków 2024 (ordinal, 65k voters). Reported as bytes per second.
//!
//! The `parse_and_count` group reads and counts, together, every shared file
//! above 1 MB (the three above and Gdynia's green budgets of 2021 and 2024) by
//! greedy, equal shares and Phragmén: what `medborgarbudget tally` does on
//! such a file, less the process start and the output.
//!
//! Run with `cargo bench --bench pabulib`. The data folder is
//! `MEDBORGARBUDGET_PABULIB` if set, else `../shared/pabulib`; files that are
//! missing are skipped.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use medborgarbudget::pabulib;
use medborgarbudget::tally::{Greedy, Mes, Phragmen, Tally, TieBreaking};

const FILES: [&str; 3] = [
    "Poland_Lodz_2022.pb",
    "Poland_Wroclaw_2015_150_-_500.pb",
    "Poland_Krakow_2024.pb",
];

fn data_dir() -> PathBuf {
    std::env::var_os("MEDBORGARBUDGET_PABULIB").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pabulib"),
        PathBuf::from,
    )
}

/// A group measured as every group here is.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group
}

/// The shared file `name`'s bytes, or a notice that it is skipped.
fn bytes(name: &str) -> Option<Vec<u8>> {
    let dir = data_dir().join("files");
    let read = std::fs::read(dir.join(name));
    if read.is_err() {
        eprintln!("skipping {name}: not found in {}", dir.display());
    }
    read.ok()
}

fn parse(c: &mut Criterion) {
    let mut group = group(c, "pabulib_parse");
    for name in FILES {
        let Some(bytes) = bytes(name) else {
            continue;
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name.trim_end_matches(".pb"), |b| {
            b.iter(|| pabulib::parse(black_box(&bytes)).map(|f| f.num_voters()))
        });
    }
    group.finish();
}

/// Every shared file above 1 MB.
const LARGE: [&str; 5] = [
    "Poland_Lodz_2022.pb",
    "Poland_Wroclaw_2015_150_-_500.pb",
    "Poland_Krakow_2024.pb",
    "Poland_Gdynia_2021_Green_Budget.pb",
    "Poland_Gdynia_2024_Green_Budget.pb",
];

fn parse_and_count(c: &mut Criterion) {
    let ties = TieBreaking::by_project_id();
    let rules: [(&str, &dyn Tally); 3] = [
        ("greedy", &Greedy),
        ("mes", &Mes),
        ("phragmen", &Phragmen::STOP),
    ];
    let mut group = group(c, "parse_and_count");
    for name in LARGE {
        let Some(bytes) = bytes(name) else {
            continue;
        };
        for (rule_name, rule) in rules {
            let id = format!("{}/{rule_name}", name.trim_end_matches(".pb"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    let file = pabulib::parse(black_box(&bytes)).ok()?;
                    let election = file.election().ok()?;
                    rule.tally(&election, &ties).ok()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, parse, parse_and_count);
criterion_main!(benches);
