// Ideas are submitted in step 3 (idea generation), not in step 5 (voting).
use medborgarbudget::prelude::*;

fn late_idea(mut cycle: Cycle<Voting>, idea: IdeaSubmission) {
    let _ = cycle.submit_idea(idea);
}

fn main() {}
