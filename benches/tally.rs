//! Speed of the rules on real elections: Łódź 2022 (approval, ~90k voters × 160
//! projects), Wrocław 2015 (choose-1, ~132k voters), Kraków 2024 (ranked, ~65k
//! voters), add1 and maximin support on Wieliczka 2023 (6,586 voters × 64 projects), add1 on the five
//! Budapest district elections (money in forints).
//!
//! The `adversarial` group runs the inputs that used to hang or take tens of
//! seconds (issue 9): the 13-voter cumulative election on which plain equal
//! shares looped forever, three thousand symmetric projects (one voter
//! approving all of them; one voter per project), one voter approving three
//! thousand projects of distinct costs, and sixty identical projects for the
//! exact knapsack.
//!
//! Run with `cargo bench --bench tally`. The pabulib folder is
//! `MEDBORGARBUDGET_PABULIB` or `../shared/pabulib`.

use std::hint::black_box;
use std::time::Duration;

mod common;

use common::election;
use criterion::{Criterion, criterion_group, criterion_main};
use medborgarbudget::pabulib;
use medborgarbudget::tally::{
    Candidate, Election, Greedy, MaxWelfare, MaximinSupport, Mes, MesAdd1, MesAdd1Comparison,
    MesGreedy, Phragmen, Profile, ProfileKind, Tally, TieBreaking,
};

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
        g.bench_function("maximin-support", |b| {
            b.iter(|| MaximinSupport.tally(black_box(&e), &ties))
        });
        g.finish();
    }
    // add1 where money per voter is in forints (50,000–400,000 units): the
    // hard cases for stepping.
    let mut g = c.benchmark_group("budapest_add1");
    g.sample_size(10);
    for file in [
        "Hungary_Budapest_2022_VIII_Jozsefvaros.pb",
        "Hungary_Budapest_2023_VIII_Jozsefvaros.pb",
        "Hungary_Budapest_2024_VIII_Jozsefvaros.pb",
        "Hungary_Budapest_2025_VIII_Jozsefvaros.pb",
        "Hungary_Budapest_2025_XI_Ujbuda.pb",
    ] {
        let Some(e) = election(file) else {
            eprintln!("skipping {file}: not found");
            continue;
        };
        g.bench_function(file.trim_end_matches(".pb"), |b| {
            b.iter(|| MesAdd1::default().tally(black_box(&e), &ties))
        });
    }
    g.finish();
}

/// `n` projects with `costs(i)`, approved by the given voters.
fn approval(n: u32, costs: impl Fn(u32) -> u64, voters: &[Vec<u32>], budget: u64) -> Election {
    let candidates: Vec<Candidate> = (0..n)
        .map(|i| Candidate::new(format!("{i}"), costs(i)))
        .collect();
    let mut profile = Profile::builder(ProfileKind::Approval, n as usize);
    for v in voters {
        let _ = profile.push_approval(v, 1);
    }
    Election::new(budget, candidates, profile.build()).expect("a valid election")
}

/// A labelled election and the rules to run on it.
type Case<'a> = (&'a str, Election, Vec<(&'a str, &'a dyn Tally)>);

fn adversarial(c: &mut Criterion) {
    let ties = TieBreaking::by_project_id();
    let n = 3_000_u32;
    let all: Vec<u32> = (0..n).collect();
    let each: Vec<Vec<u32>> = (0..n).map(|i| vec![i]).collect();
    let mturk = pabulib::parse(include_bytes!("../tests/data/mes_loop.pb"))
        .ok()
        .and_then(|f| f.election().ok());
    let cases: Vec<Case> = vec![
        (
            "symmetric_one_voter_3000",
            approval(n, |_| 1, std::slice::from_ref(&all), u64::from(n)),
            vec![("mes", &Mes), ("phragmen", &Phragmen::STOP)],
        ),
        (
            "symmetric_disjoint_3000",
            approval(n, |_| 1, &each, u64::from(n)),
            vec![("mes", &Mes), ("phragmen", &Phragmen::STOP)],
        ),
        (
            "one_voter_distinct_costs_3000",
            approval(
                n,
                |i| u64::from(i) + 1,
                std::slice::from_ref(&all),
                u64::from(n) * u64::from(n),
            ),
            vec![("mes", &Mes), ("phragmen", &Phragmen::STOP)],
        ),
        (
            "identical_60_knapsack",
            approval(60, |_| 10, &[(0..60).collect()], 300),
            vec![("max-welfare", &MaxWelfare)],
        ),
    ];
    let mut g = c.benchmark_group("adversarial");
    if let Some(e) = &mturk {
        g.bench_function("mturk_13_voters/mes", |b| {
            b.iter(|| Mes.tally(black_box(e), &ties))
        });
    }
    for (label, e, rules) in &cases {
        for (name, rule) in rules {
            g.bench_function(format!("{label}/{name}"), |b| {
                b.iter(|| rule.tally(black_box(e), &ties))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bench, adversarial
}
criterion_main!(benches);
