// Skipping steps 3 and 4: voting cannot open straight from outreach (step 2 → 5).
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;

fn skip(cycle: Cycle<Outreach>, window: VotingWindow, at: DateTime<Utc>) {
    let _voting = cycle.open_voting(window, at);
}

fn main() {}
