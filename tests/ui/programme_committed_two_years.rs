// `Programme::committed` refuses a commitment shorter than three years.
use medborgarbudget::process::{Commitment, Programme, ProgrammeError, ProgrammeSetup};

fn establish(
    commitment: Commitment<2>,
    setup: ProgrammeSetup,
) -> Result<Programme, ProgrammeError> {
    Programme::committed(commitment, setup)
}

fn main() {}
