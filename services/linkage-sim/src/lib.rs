//! A deterministic simulation of linkage's replication.
//!
//! Seven nodes of a three-level topology (a province, two cities, four
//! counties, one group across cities) run in one thread on virtual time:
//! the replica state machine of `linkage-core` (`linkage_core::replica`),
//! its envelope checks, folds and group rules, over a simulated network
//! and an in-memory store that loses its unsynced tail on a crash. A seed
//! decides everything: faults (drops, duplicates, reordering, partitions,
//! crashes, restarts with a wiped data dir) and one lying node that tells
//! every lie of `liar::LIES`. The province rotates its key in every seed;
//! once the overlap closes the liar holds the retired key too and signs
//! past its seqs (decision 0054). After the faults stop and the network heals,
//! `check` judges the end state. A failing seed prints the command that
//! replays it.
//!
//! Layout, each file importing only those before it: [`rng`] → [`net`] →
//! [`stats`] → [`store`] → [`node`] → [`liar`] → [`world`] (the province
//! and its schedule) → [`check`] → this file; [`scale`] (`make
//! sim-national`) drives [`node`] at the sizes of a deployment.

pub mod check;
pub mod liar;
pub mod net;
pub mod node;
pub mod rng;
pub mod scale;
pub mod stats;
pub mod store;
pub mod world;

pub use stats::{trace, Stats};
pub use world::Sim;

/// Runs `seed` (with a mutant active, if built with the feature).
pub fn run(seed: u64) -> Stats {
    let mut sim = Sim::new(seed);
    sim.run();
    check::judge(&mut sim);
    sim.stats
}

/// The command that replays `seed` exactly.
pub fn replay_command(seed: u64) -> String {
    format!("LINKAGE_SIM_TRACE=1 cargo run -p linkage-sim -- --seed {seed}")
}
