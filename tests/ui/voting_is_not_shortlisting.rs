// Going backwards by type: a cycle in voting is not a cycle in shortlisting.
use medborgarbudget::prelude::*;

fn back(cycle: Cycle<Voting>) -> Cycle<Shortlisting> {
    cycle
}

fn main() {}
