// Only a running cycle can be abandoned: a closed cycle is done.
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;

fn abandon(cycle: Cycle<Closed>, at: DateTime<Utc>) {
    let _ = cycle.abandon("changed our minds".into(), at);
}

fn main() {}
