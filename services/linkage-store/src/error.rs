//! What can go wrong in the store, and the store's health: the first
//! failed write or sync makes it refuse writes (and serving views) until
//! the node restarts. The bottom layer: every other module may use it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation (the fsync) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes are not what this code wrote.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// An earlier write failed; the store refuses writes until restarted.
    #[error(
        "the store refuses writes after an earlier storage error ({0}); fix its cause (a full disk, say) and restart \
         the node"
    )]
    Poisoned(String),
}

/// Gauge: 1 while the store takes writes, 0 once a storage error (a full
/// disk, a failed fdatasync) made it refuse them until the node restarts.
pub const STORE_WRITABLE: &str = "linkage_store_writable";

/// Whether the store still takes writes. Cleared by the first failed
/// write: fsync errors cannot be retried safely, so the node refuses
/// writes and keeps serving reads of what is durable.
#[derive(Debug)]
pub struct Health {
    writable: AtomicBool,
    /// What failed first.
    reason: Mutex<String>,
}

impl Default for Health {
    fn default() -> Health {
        Health { writable: AtomicBool::new(true), reason: Mutex::new(String::new()) }
    }
}

impl Health {
    /// False after a storage error.
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// `Err(Poisoned)` once a storage error happened.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable() {
            Ok(())
        } else {
            Err(StoreError::Poisoned(self.reason.lock().expect("poison lock").clone()))
        }
    }

    /// Views may run a few commits ahead of the last fdatasync (the writer
    /// writes the next commit while the disk syncs one); after a failed
    /// write or sync they may hold events that never became durable, so
    /// they are not served until the node restarts.
    pub fn check_views_readable(&self) -> Result<(), StoreError> {
        if self.writable() {
            Ok(())
        } else {
            Err(StoreError::Poisoned("views are not served after a storage error; restart the node".into()))
        }
    }

    /// Refuses every write from now on, for `error`.
    pub fn poison(&self, error: &StoreError) {
        *self.reason.lock().expect("poison lock") = error.to_string();
        self.writable.store(false, Ordering::Release);
        metrics::gauge!(STORE_WRITABLE).set(0.0);
    }
}
