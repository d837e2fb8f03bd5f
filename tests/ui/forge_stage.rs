// A stage marker cannot be built by hand: a voting stage comes only from `open_voting`.
use medborgarbudget::prelude::*;
use medborgarbudget::process::stage::Framework;

fn forge(framework: Framework, window: VotingWindow) -> Voting {
    Voting { framework, window }
}

fn main() {}
