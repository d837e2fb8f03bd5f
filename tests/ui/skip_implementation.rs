// Skipping step 6: follow-up cannot begin straight after the vote.
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;

fn skip(cycle: Cycle<Voting>, at: DateTime<Utc>) {
    let _follow_up = cycle.begin_follow_up(at);
}

fn main() {}
