// A cycle starts in step 1 (criteria): `Cycle::new` does not exist for any other stage.
use medborgarbudget::prelude::*;

fn start_in_voting(setup: CycleSetup) -> Cycle<Voting> {
    Cycle::<Voting>::new(setup)
}

fn main() {}
