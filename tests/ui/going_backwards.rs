// Going backwards: a cycle in step 5 (voting) cannot begin step 2 (outreach) again.
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;

fn back(cycle: Cycle<Voting>, at: DateTime<Utc>) {
    let _outreach = cycle.begin_outreach(at);
}

fn main() {}
