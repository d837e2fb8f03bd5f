// Money may be added only in steps 1–4: once voting opens the budget is fixed.
use medborgarbudget::prelude::*;

fn top_up(mut cycle: Cycle<Voting>, allocation: Allocation) {
    let _ = cycle.add_funds(allocation);
}

fn main() {}
