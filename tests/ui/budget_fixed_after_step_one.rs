// The council's framework is fixed in step 1: the budget cannot be reset in outreach.
use medborgarbudget::prelude::*;

fn reset(mut cycle: Cycle<Outreach>, allocation: Allocation) {
    let _ = cycle.set_budget(allocation);
}

fn main() {}
