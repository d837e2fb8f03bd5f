//! One file per step: each holds its stage marker and the `impl Cycle<Step>` of its step — what is
//! legal there and the gate out of it — so "what may happen in step 4" is one
//! file (`shortlisting.rs`), beside the step's stage marker (re-exported from
//! [`super::stage`]); what every step shares (the core, money, participation)
//! is in `cycle.rs`, and the one transition helper is `Cycle::advance`.

mod criteria;
mod ended;
mod follow_up;
mod idea_generation;
mod implementation;
mod outreach;
mod shortlisting;
mod voting;

pub use criteria::Criteria;
pub use ended::{Abandoned, Closed, Previous};
pub use follow_up::FollowUp;
pub use idea_generation::IdeaGeneration;
pub use implementation::Implementation;
pub use outreach::Outreach;
pub use shortlisting::Shortlisting;
pub use voting::Voting;
