//! The integration tests, as one crate (one link step instead of one per
//! file): a module per area. `cargo test --all-features` runs them all;
//! modules that need an optional feature are compiled only with it.

mod common;

#[cfg(feature = "server")]
mod browser;
#[cfg(feature = "cli")]
mod cli;
mod compile_fail;
mod conformance;
mod council;
mod delivery;
mod end_to_end;
mod example_resumes;
mod followup;
mod gates;
#[cfg(feature = "report")]
mod legacy;
mod load;
#[cfg(all(feature = "cli", feature = "sqlite", feature = "sim"))]
mod officials;
mod pabulib_cycle;
mod pabulib_files;
mod pabulib_promises;
mod pabulib_reader;
mod parts;
#[cfg(feature = "sim")]
mod privacy;
mod programme;
mod protocol;
#[cfg(feature = "report")]
mod report;
#[cfg(feature = "server")]
mod resident_forms;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "sim")]
mod sim;
mod state_machine;
#[cfg(feature = "conformance")]
mod store_memory;
#[cfg(feature = "conformance")]
mod store_postgres;
#[cfg(feature = "conformance")]
mod store_sqlite;
mod tally_properties;
mod voting;
