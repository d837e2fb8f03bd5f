// A later step may read the framework fixed in step 1, never change it.
use medborgarbudget::area::Eligibility;
use medborgarbudget::prelude::*;

fn loosen(cycle: Cycle<Voting>) {
    cycle.framework().eligibility = Eligibility::residents_aged(0);
}

fn main() {}
