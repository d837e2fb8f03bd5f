// `Stage` is sealed: no other crate can add a stage to the cycle.
use medborgarbudget::process::{Stage, Step};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Referendum;

impl Stage for Referendum {
    const STEP: Step = Step::Voting;
}

fn main() {}
