// A cycle cannot be built with a struct literal: its fields are private, so no forged stage.
use medborgarbudget::prelude::*;

fn forge(cycle: Cycle<Voting>, stage: Voting) -> Cycle<Voting> {
    Cycle { stage, ..cycle }
}

fn main() {}
