//! The `.pb` reader and the profile builder on inputs built to be slow: one vote
//! of 100,000 entries (distinct projects with a 0-point entry; distinct projects
//! and one of them again; one project over and over; a ranking of 100,000
//! projects), 100,000 rows under one voter id, and 20,000 project ids built to
//! share one slot of the fixed-seed hash the reader used before its keys were
//! random.
//! Each must take time near-linear in its size: for these files of 0.3 to 2 MB,
//! a tenth of a second or so (mostly reading 100,000 project rows), where the
//! quadratic paths took seconds.
//!
//! The inputs are generated here. Run with `cargo bench --bench pabulib_adversarial`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medborgarbudget::pabulib::{self, ParseOptions};
use medborgarbudget::tally::{Profile, ProfileKind};

/// Entries in the long vote.
const ENTRIES: u32 = 100_000;

/// A file of `projects` projects (ids `1..=projects`, cost 1) and the VOTES rows
/// given.
fn file(vote_type: &str, projects: u32, header: &str, rows: &str) -> Vec<u8> {
    let mut text = format!(
        "META\nkey;value\nbudget;{projects}\nvote_type;{vote_type}\nPROJECTS\nproject_id;cost\n"
    );
    for p in 1..=projects {
        let _ = writeln!(text, "{p};1");
    }
    let _ = write!(text, "VOTES\n{header}\n{rows}");
    text.into_bytes()
}

/// `1,2,…,n` (or `f(k)` for each `k` in `1..=n`).
fn list(n: u32, f: impl Fn(u32) -> u32) -> String {
    let mut s = String::new();
    for k in 1..=n {
        if k > 1 {
            s.push(',');
        }
        let _ = write!(s, "{}", f(k));
    }
    s
}

/// `n` distinct 8-byte project ids (printable, without `;`, `,`, `"`, not all
/// digits) whose packed keys all land in slot 0 of the id table the reader
/// used to build with the fixed multiplier below, as an attacker who knew it
/// would write them.
fn colliding_ids(n: usize) -> Vec<String> {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    // SEED's inverse modulo 2^64, by Newton's iteration.
    let mut inverse = SEED;
    for _ in 0..6 {
        inverse = inverse.wrapping_mul(2_u64.wrapping_sub(SEED.wrapping_mul(inverse)));
    }
    let table_bits = (n * 4).max(16).next_power_of_two().trailing_zeros();
    let length_word = 8_u64 << 56;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // A hash whose top bits (the slot) are 0; the id that has it.
        let hash = state >> table_bits;
        let low = (hash.wrapping_mul(inverse) ^ length_word).wrapping_mul(inverse);
        let bytes = low.to_le_bytes();
        let printable = bytes
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && !b";,\"".contains(&b));
        if printable && !bytes.iter().all(u8::is_ascii_digit) {
            ids.insert(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    ids.into_iter().collect()
}

fn adversarial(c: &mut Criterion) {
    let strict = ParseOptions::default();
    let merge = ParseOptions::default().merge_repeats(true);
    let inputs: Vec<(&str, Vec<u8>, ParseOptions)> = vec![
        (
            // Distinct projects, one of them with 0 points: `check` took 12.9 s.
            "cumulative_distinct_with_a_zero",
            file(
                "cumulative",
                ENTRIES,
                "voter_id;vote;points",
                &format!(
                    "1;{};{}\n",
                    list(ENTRIES, |k| k),
                    list(ENTRIES, |k| u32::from(k > 1))
                ),
            ),
            strict,
        ),
        (
            // 100,000 distinct projects and the first again, merged: `tally`
            // took 5.4 s.
            "approval_distinct_then_a_repeat",
            file(
                "approval",
                ENTRIES,
                "voter_id;vote",
                &format!("1;{},1\n", list(ENTRIES, |k| k)),
            ),
            merge,
        ),
        (
            "ordinal_distinct_then_a_repeat",
            file(
                "ordinal",
                ENTRIES,
                "voter_id;vote",
                &format!("1;{},1\n", list(ENTRIES, |k| k)),
            ),
            merge,
        ),
        (
            "cumulative_one_project_repeated",
            file(
                "cumulative",
                10,
                "voter_id;vote;points",
                &format!("1;{};{}\n", list(ENTRIES, |_| 1), list(ENTRIES, |_| 1)),
            ),
            merge,
        ),
        (
            "ordinal_distinct",
            file(
                "ordinal",
                ENTRIES,
                "voter_id;vote",
                &format!("1;{}\n", list(ENTRIES, |k| k)),
            ),
            strict,
        ),
        (
            // 20,000 projects in one slot, and one vote naming them all.
            "project_ids_colliding_under_a_fixed_seed",
            {
                let ids = colliding_ids(20_000);
                let mut text = String::from(
                    "META\nkey;value\nbudget;1\nvote_type;approval\nPROJECTS\nproject_id;cost\n",
                );
                for id in &ids {
                    let _ = writeln!(text, "{id};1");
                }
                let _ = writeln!(text, "VOTES\nvoter_id;vote\n1;{}", ids.join(","));
                text.into_bytes()
            },
            strict,
        ),
        (
            // 100,000 rows under the same voter id: 99,999 problems.
            "one_voter_id_100k_rows",
            file("approval", 10, "voter_id;vote", &"7;1,2\n".repeat(100_000)),
            strict,
        ),
    ];

    let mut group = c.benchmark_group("pabulib_adversarial");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for (name, bytes, options) in &inputs {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                // Refused or read, only the time counts.
                let read = pabulib::check(black_box(bytes), *options);
                (read.total, read.file.map(|f| f.num_voters()).ok())
            })
        });
    }

    let ranking: Vec<u32> = (0..ENTRIES).collect();
    group.throughput(Throughput::Elements(u64::from(ENTRIES)));
    group.bench_function("profile_ranking_distinct", |b| {
        b.iter(|| {
            let mut builder = Profile::builder(ProfileKind::Ranking, ENTRIES as usize);
            let pushed = builder.push_ranking(black_box(&ranking), 1);
            (pushed, builder.build().num_distinct())
        })
    });
    group.finish();
}

criterion_group!(benches, adversarial);
criterion_main!(benches);
