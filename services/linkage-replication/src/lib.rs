//! Replication between linkage nodes.
//!
//! # Layout
//! - [`transport`]: the seam — publish, subscribe, request/reply, gather —
//!   with an in-process hub for simulations and a chaos wrapper that
//!   duplicates and reorders every message.
//! - [`nats`]: the real transport, async-nats against nats-server.
//! - [`engine`]: [`Replicator`]: pushes this node's events after commit,
//!   announces heads, answers pulls for exactly what the requester is
//!   entitled to, pulls gaps from any holder, restores its own streams.
//!
//! - [`documents`]: [`Documents`]: which documents the events held refer
//!   to, fetching them in verified chunks from entitled holders, serving
//!   chunks only to requesters entitled to a referring event.
//!
//! Architecture invariant: replication never blocks local appends. Pushes
//! follow the durable log from behind; remote events enter through the same
//! single writer as local ones, only after their hash chain and signature
//! verified.
//!
//! Architecture invariant: a requester's identity comes from the subject it
//! was allowed to publish on (`lk.<province>.pull.<responder>.<requester>`), never from
//! a field it fills in.

pub mod documents;
pub mod engine;
pub mod nats;
pub mod transport;

pub use documents::{Documents, DocumentsConfig};
pub use engine::{ReplicationConfig, Replicator};
pub use transport::{Incoming, Transport, TransportError};
