//! One file per step: each holds the `impl Cycle<Step>` of its step — what is
//! legal there and the gate out of it — so "what may happen in step 4" is one
//! file (`shortlisting.rs`). The stage markers are in [`super::stage`]; what
//! every step shares (the core, money, participation) is in `cycle.rs`.

mod criteria;
mod ended;
mod follow_up;
mod idea_generation;
mod implementation;
mod outreach;
mod shortlisting;
mod voting;
