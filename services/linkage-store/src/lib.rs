//! The durable event log of one node.
//!
//! # Layout
//! One-way layers: each module imports only the ones above it in this
//! list (a test in `tests/` fails on any import circle).
//! - [`error`]: [`StoreError`] and the store's [`Health`] (writable or not).
//! - [`limits`]: limits two layers must agree on.
//! - [`blobs`]: documents' bytes beside the log, chunk by chunk, each
//!   verified, with a bitmap of what is held and quotas.
//! - [`event`]: the store's data: events as stored and as a commit writes them.
//! - [`log`]: [`Log`], the event log file, the one thing an acknowledgement
//!   waits for: its records, its end, preallocation and fdatasync.
//! - [`keys`]: how everything derived from the log lies in one sled tree,
//!   view records included.
//! - [`index`]: [`Indexes`]: where records lie, seqs, heads, keys, forks,
//!   the marks.
//! - [`views`]: the four views' records in blocks, the commit overlay,
//!   rebuilds, and the versions that wrote them.
//! - [`derive`]: what a commit writes to sled, in a crash-safe order.
//! - [`recovery`]: bringing sled up to the log on open: a pure decision,
//!   then its execution.
//! - [`recent`]: the latest durable events in memory.
//! - [`store`]: [`Store`]: open, reads, and the steps of a commit.
//! - [`pipeline`]: [`Appender`], the writer, index and sync threads that
//!   batch concurrent appends into one commit and one fdatasync (group
//!   commit).
//!
//! Architecture invariant: an append is acknowledged only after an
//! `fdatasync` of the event log has returned after the commit that holds
//! it. sled is never synced for an acknowledgement: what it holds is
//! replayed from the log when a crash took it back.
//!
//! Architecture invariant: readers never see past the durable position, so
//! nothing that a crash could still take back is ever served or replicated.

pub mod blobs;
pub mod derive;
pub mod error;
pub mod event;
pub mod index;
pub mod keys;
pub mod limits;
pub mod log;
pub mod pipeline;
pub mod recent;
pub mod recovery;
pub mod store;
pub mod views;

#[cfg(test)]
mod tests;

pub use error::{Health, StoreError, STORE_WRITABLE};
pub use event::{AlarmRecord, ForkRecord, StoredEvent, StreamHeadInfo, WriteEvent, WriteSet};
pub use index::Indexes;
pub use log::Log;
pub use pipeline::commit::{AppendFailure, Appended, ApplyReport, RemoteRun};
pub use pipeline::syncer::LOG_SYNC_SECONDS;
pub use pipeline::writer::COMMIT_EVENTS;
pub use pipeline::Appender;
pub use store::{open_sled, Store, CACHE_BYTES_DEFAULT};
pub use views::{RebuildStats, ViewReader};
