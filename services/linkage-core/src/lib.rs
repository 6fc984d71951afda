//! The sans-IO core of linkage.
//!
//! # Layout
//! - [`code`]: GB/T 2260 node codes and the three levels.
//! - [`topology`]: the province → city → county tree every node reads.
//! - [`audience`]: channel names, parsed and printed.
//! - [`channel`]: audiences (`up`, `down`, `all`, `group:<id>`, `to:<code>`),
//!   who may send on them and who may read them.
//! - [`limits`]: every size limit, as a named constant.
//! - [`error`]: typed errors that name the offending field.
//! - [`validate`]: checks an append request before anything is written.
//! - [`hlc`]: the hybrid logical clock, with time passed in.
//! - [`ids`]: event ids that name the origin's position.
//! - [`wire`]: canonical bytes, hash chain and ed25519 signatures of stored events.
//! - [`groups`]: joint group membership as a function of the events held.
//! - [`subjects`]: the NATS subject scheme and the permissions it implies.
//! - [`nkey`]: a node's NATS login key, derived from its identity key.
//! - [`verify`]: checks runs of remote events: chain and signature.
//! - [`key_validity`]: a node's retired keys and ejection as the
//!   topology states them.
//! - [`signers`]: which keys may sign which seqs of an origin's streams
//!   (rotation with an overlap, ejection).
//! - [`documents`]: documents by content, in chunks verified one by one.
//! - [`proposals`]: 提案 handling events, deadlines and working days by
//!   the province's calendar.
//! - [`rules`]: what a signed event may still break (an id naming another
//!   committee, a group formed or joined without authority).
//! - [`views`]: the four shared views as folds over the set of events held,
//!   the lifecycle rules checked at append, and query helpers.
//! - [`replica`]: replication's decisions — what a node believes of each
//!   stream (claims are hints, proofs are facts), whom it asks, when a
//!   restore is done — driven by the NATS engine and by the simulation.
//! - [`paging`]: page tokens that only the request they were made for
//!   may present.
//! - [`mutants`]: deliberate bugs behind the `mutants` feature, which the
//!   simulation must catch.
//! - [`ledger`]: plans a batch of appends against the current heads and
//!   idempotency records; the store only persists the plan.
//!
//! Architecture invariant: nothing here does IO, reads a clock or draws
//! randomness. Time, ids and keys are passed in, so every function is
//! deterministic and testable without a disk or a broker.

pub mod audience;
pub mod channel;
pub mod code;
pub mod documents;
pub mod error;
pub mod groups;
pub mod hlc;
pub mod ids;
pub mod key_validity;
pub mod ledger;
pub mod limits;
pub mod members;
pub mod mutants;
pub mod nkey;
pub mod paging;
pub mod proposals;
pub mod replica;
pub mod rules;
pub mod signers;
pub mod subjects;
pub mod topology;
pub mod validate;
pub mod verify;
pub mod views;
pub mod wire;

pub use channel::Channel;
pub use code::{Level, NodeCode};
pub use error::{AppendError, FieldViolation};
pub use linkage_proto::v1 as pb;
pub use topology::Topology;
