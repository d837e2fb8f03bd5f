//! Real votes replayed through the cycle give the outcome of counting the file
//! directly; a cycle exported as `.pb` reads back as the same election.

#![allow(clippy::unwrap_used, clippy::panic)]

use medborgarbudget::pabulib::{self, cycle};
use medborgarbudget::tally::{Greedy, Mes, MesAdd1, Phragmen, Tally, TieBreaking};

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

/// add1 in a cycle steps whole currency units (rules version 2), as the file
/// and the cycle's `.pb` export count: the same projects, and the same money
/// per voter in the end (the cycle's in minor units). Stepping minor units
/// instead (an election with unit 1) stops elsewhere.
#[test]
fn add1_counts_a_cycle_as_its_file_and_its_export() {
    let Some(dir) = crate::common::pabulib_dir() else {
        return;
    };
    let file = pabulib::read_file(dir.join("files/Poland_Wieliczka_2023_Green_Budget.pb")).unwrap();
    let rule = MesAdd1::default();
    let ties = TieBreaking::by_project_id();
    let direct = rule.tally(&file.election().unwrap(), &ties).unwrap();
    let cycle = cycle::replay_vote(&file, &rule).unwrap();
    let ours = cycle.election().unwrap();
    assert_eq!(ours.unit(), 100, "grosz per złoty");
    let counted = rule.tally(&ours, &ties).unwrap();
    assert_eq!(counted.selected, direct.selected);
    let per_voter = |o: &medborgarbudget::tally::Outcome| o.details.per_voter_budget.unwrap();
    assert_eq!(
        per_voter(&counted).numerator,
        per_voter(&direct).numerator * 100
    );
    assert_eq!(cycle.decision().funded.len(), direct.selected.len());

    let mut text = Vec::new();
    pabulib::write(&cycle::export(&cycle).unwrap(), &mut text).unwrap();
    let back = pabulib::parse(&text).unwrap().election().unwrap();
    assert_eq!(rule.tally(&back, &ties).unwrap().selected, direct.selected);

    // One grosz at a time ends at another money per voter.
    let by_grosz = rule.tally(&ours.clone().with_unit(1), &ties).unwrap();
    assert_ne!(per_voter(&by_grosz), per_voter(&counted));
}
