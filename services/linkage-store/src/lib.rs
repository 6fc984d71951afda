//! The durable event log of one node.
//!
//! # Layout
//! - [`log`]: the event log file, the one thing an acknowledgement waits for.
//! - [`keys`]: how what derives from the log is laid out in one sled tree.
//! - [`store`]: [`Store`]: reads, the commit (log records, then sled), the
//!   fdatasync, and the replay of sled from the log on open.
//! - [`views`]: the four views' records, written with the events' indexes,
//!   read by the query services, rebuilt from the log.
//! - [`appender`]: [`Appender`], the single writer thread that batches
//!   concurrent appends into one commit and one fdatasync (group commit).
//!
//! Architecture invariant: an append is acknowledged only after an
//! `fdatasync` of the event log has returned after the commit that holds
//! it. sled is never synced for an acknowledgement: what it holds is
//! replayed from the log when a crash took it back.
//!
//! Architecture invariant: readers never see past the durable position, so
//! nothing that a crash could still take back is ever served or replicated.

pub mod appender;
pub mod keys;
pub mod log;
pub mod store;
pub mod views;

pub use appender::{AppendFailure, Appended, Appender, ApplyReport, RemoteRun, COMMIT_EVENTS, LOG_SYNC_SECONDS};
pub use store::{
    open_sled, ForkRecord, Store, StoreError, StoredEvent, StreamHeadInfo, WriteEvent, WriteSet, CACHE_BYTES_DEFAULT,
    STORE_WRITABLE,
};
pub use views::{RebuildStats, ViewReader};

/// BLAKE3 of stored bytes.
pub(crate) fn hash_of(raw: &[u8]) -> [u8; 32] {
    linkage_core::wire::hash(raw)
}
