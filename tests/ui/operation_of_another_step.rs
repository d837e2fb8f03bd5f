// Ballots are cast in step 5 (voting), not in step 3 (idea generation).
use medborgarbudget::prelude::*;

fn vote_early(mut cycle: Cycle<IdeaGeneration>, ballot: BallotSubmission) {
    let _ = cycle.cast_ballot(ballot);
}

fn main() {}
