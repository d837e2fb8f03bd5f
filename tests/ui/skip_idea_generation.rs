// Skipping step 3: shortlisting cannot begin before residents have had ideas.
use chrono::{DateTime, Utc};
use medborgarbudget::prelude::*;

fn skip(cycle: Cycle<Outreach>, at: DateTime<Utc>) {
    let _shortlisting = cycle.begin_shortlisting(at);
}

fn main() {}
