// A transition consumes the cycle: the step-1 cycle cannot be changed after outreach began.
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;
use medborgarbudget::process::stage::Criteria;

fn change_afterwards(mut cycle: Cycle<Criteria>, allocation: Allocation, at: DateTime<Utc>) {
    let _next = cycle.begin_outreach(at);
    let _ = cycle.set_budget(allocation);
}

fn main() {}
