//! Real votes replayed through the cycle give the outcome of counting the file
//! directly; a cycle exported as `.pb` reads back as the same election.

#![allow(clippy::unwrap_used, clippy::panic)]

use medborgarbudget::pabulib::{self, cycle};
use medborgarbudget::tally::{Greedy, Mes, Phragmen, Tally, TieBreaking};

const FILES: &[&str] = &[
    "Poland_Wieliczka_2023_Green_Budget.pb",
    "France_Toulouse_2019.pb",
    "Canada_Stanford_Dataset_PB_Dieppe_2018_vote_approvals.pb",
    "Netherlands_Assen_2024.pb",
];

#[test]
fn replayed_votes_match_direct_counts_and_export_round_trips() {
    let Some(dir) = crate::common::pabulib_dir() else {
        return;
    };
    let rules: [&dyn Tally; 3] = [&Greedy, &Mes, &Phragmen::STOP];
    for name in FILES {
        let file = pabulib::read_file(dir.join("files").join(name)).unwrap();
        let election = file.election().unwrap();
        for rule in rules {
            if *name == "France_Toulouse_2019.pb" && rule.name() == "phragmen" {
                continue; // Phragmén is for approval ballots
            }
            let direct = rule
                .tally(&election, &TieBreaking::by_project_id())
                .unwrap();
            let cycle = cycle::replay_vote(&file, rule).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cycle.ballots().len() as u64, file.num_voters(), "{name}");
            // Funded projects, as file ids, in the order chosen.
            let replayed: Vec<String> = cycle
                .decision()
                .funded
                .iter()
                .map(|p| {
                    cycle
                        .project(*p)
                        .unwrap()
                        .proposal()
                        .ideas
                        .len()
                        .to_string()
                        + &p.to_string()
                })
                .collect();
            let want: Vec<String> = direct
                .selected
                .iter()
                .map(|&i| {
                    format!(
                        "1{}",
                        medborgarbudget::ids::ProjectId::from_u128(i as u128 + 1)
                    )
                })
                .collect();
            assert_eq!(replayed, want, "{name} by {}", rule.name());

            let exported = cycle::export(&cycle).unwrap();
            let mut text = Vec::new();
            pabulib::write(&exported, &mut text).unwrap();
            let back = pabulib::parse(&text).unwrap();
            let (read, ours) = (back.election().unwrap(), cycle.election().unwrap());
            // Same ballots, same projects; the file counts in major units.
            assert!(
                read.profile() == ours.profile(),
                "{name}: ballots differ after export"
            );
            let minor_per_unit = 100 / back.scale;
            let costs = |e: &medborgarbudget::tally::Election, k: u64| -> Vec<(String, u64)> {
                e.candidates()
                    .iter()
                    .map(|c| (c.label.clone(), c.cost * k))
                    .collect()
            };
            assert!(
                costs(&read, minor_per_unit) == costs(&ours, 1),
                "{name}: projects differ after export"
            );
            assert_eq!(read.budget() * minor_per_unit, ours.budget(), "{name}");
            let funded = back.selected().unwrap().len();
            assert_eq!(funded, cycle.decision().funded.len(), "{name}");
        }
    }
}
