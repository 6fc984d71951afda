//! The replica's decisions, without IO: what a node believes of each
//! stream it may see, whom it asks, and when a restore is done.
//!
//! A driver (the NATS engine in `linkage-replication`, or the simulation
//! in `linkage-sim`) owns one [`Replica`], feeds it what peers said and
//! what the store holds, with the time on its own clock as a
//! [`Duration`] since any fixed start, and carries out what it decides:
//! which peers to ask, which stream to pull, what to count as ignored.
//!
//! Invariants it keeps:
//! - **Claims are hints, proofs are facts.** `StreamState::proved` only
//!   moves on a verified, signed run that links to what is held
//!   ([`Replica::prove_or_claim`]); a claim only makes the node ask.
//! - **Bounded by what a peer can send.** State is made only for streams
//!   this node may see, of origins in the topology, claimed by peers that
//!   may hold them; at most [`STREAMS_TRACKED_MAX`] streams,
//!   [`CLAIMS_PER_STREAM_MAX`] claimants each, [`PENDING_EVENTS_MAX`]
//!   waiting events per stream and [`PENDING_EVENTS_TOTAL_MAX`] in all.
//! - **A refuted claimant is asked again only after
//!   [`UNPROVED_CLAIM_BACKOFF`]**: one pull per peer and stream that often.

mod limits;
mod restore;
mod state;
mod stream;
mod world;

pub use limits::{
    RemoteRun, StreamKey, CLAIMS_PER_STREAM_MAX, CONTACT_FRESH, HEADS_PER_ANSWER_MAX, LIVE_PUSH_GRACE,
    OTHER_PEERS_PER_ROUND, PENDING_EVENTS_MAX, PENDING_EVENTS_TOTAL_MAX, STREAMS_TRACKED_MAX, UNPROVED_CLAIM_BACKOFF,
};
pub use restore::{
    open_streams, proof_window, restore_claims, restore_step, RestoreClaims, RestoreStep, RESTORE_ANSWERS_MAX,
    RESTORE_CLAIMS_MAX, RESTORE_INTACT_PROOF_WINDOW, RESTORE_PARENT_WAIT, RESTORE_PROOF_WINDOW,
    RESTORE_STREAMS_AT_ONCE,
};
pub use state::Replica;
pub use stream::{Behind, StreamState};
pub use world::World;
