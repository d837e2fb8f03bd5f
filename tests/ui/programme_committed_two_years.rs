// `Programme::committed` refuses a commitment shorter than three years.
use medborgarbudget::process::{Commitment, Programme, ProgrammeSetup};

fn establish(commitment: Commitment<2>, setup: ProgrammeSetup) -> Programme {
    Programme::committed(commitment, setup)
}

fn main() {}
