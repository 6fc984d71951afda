//! The durable event log of one node.
//!
//! # Layout
//! - [`keys`]: how events and indexes are laid out in one sled tree.
//! - [`store`]: [`Store`], the sled database with reads and the atomic,
//!   fsynced commit of a plan.
//! - [`views`]: the four views' records, written in the same batch as the
//!   events, read by the query services, rebuilt from the log.
//! - [`appender`]: [`Appender`], the single writer thread that batches
//!   concurrent appends into one commit and one fdatasync (group commit).
//!
//! Architecture invariant: an append is acknowledged only after an
//! `fdatasync` of sled's data file has returned after the commit that holds
//! it. sled 0.34's own `flush()` stops at `sync_file_range`, which does not
//! persist the file's metadata or the disk's write cache.
//!
//! Architecture invariant: readers never see past the durable position, so
//! nothing that a crash could still take back is ever served or replicated.

pub mod appender;
pub mod keys;
pub mod log;
pub mod store;
pub mod views;

pub use appender::{AppendFailure, Appended, Appender, ApplyReport, RemoteRun};
pub use store::{
    ForkRecord, Store, StoreError, StoredEvent, StreamHeadInfo, WriteEvent, WriteSet, CACHE_BYTES_DEFAULT,
};
pub use views::{RebuildStats, ViewReader};

/// BLAKE3 of stored bytes.
pub(crate) fn hash_of(raw: &[u8]) -> [u8; 32] {
    linkage_core::wire::hash(raw)
}
