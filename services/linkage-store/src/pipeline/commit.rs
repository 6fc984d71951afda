//! A commit on its way through the pipeline: the jobs it answers, the
//! messages between the writer, index and sync threads, and what callers
//! get back.

use crate::error::StoreError;
use crate::event::{StoredEvent, WriteSet};
use crate::views::RebuildStats;
use linkage_core::ledger;
use linkage_core::validate::ValidAppend;
use linkage_core::{pb, AppendError};
use std::sync::{Condvar, Mutex};
use tokio::sync::oneshot;

/// One acknowledged request.
#[derive(Clone, Debug)]
pub struct Appended {
    /// The event that answers it.
    pub event: StoredEvent,
    /// `event`'s bytes decoded, when the commit that wrote them had them
    /// at hand: callers need not decode them again.
    pub decoded: Option<pb::Event>,
    /// True when an earlier event with the same key and content answers it.
    pub deduplicated: bool,
}

/// Why an append was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AppendFailure {
    /// Request `index` of the job is refused; nothing of the job was written.
    #[error("request {index}: {error}")]
    Rejected {
        /// Which request of the job.
        index: usize,
        /// Why.
        error: AppendError,
    },
    /// Storage failed, the node is shutting down, or it is still restoring
    /// its own streams; the append may be retried with the same key.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// A verified run of consecutive events of one remote stream.
pub use linkage_core::replica::RemoteRun;

/// What applying remote runs did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    /// Events stored.
    pub applied: usize,
    /// Events already held, byte for byte.
    pub duplicates: usize,
    /// Events that contradict what is held (kept as evidence).
    pub forks: usize,
    /// Events that could not be linked or checked yet: a gap before them,
    /// or a held seq whose event could not be read to compare.
    pub gaps: usize,
    /// Those events, handed back so that the caller can apply them again
    /// (once the gap is filled) without keeping a copy of every run it
    /// hands over: the runs' tails from the first event beyond a gap, and
    /// each event that could not be compared, as a run of one.
    pub waiting: Vec<RemoteRun>,
}

pub(super) type Reply = oneshot::Sender<Result<Vec<Appended>, AppendFailure>>;

pub(super) enum Job {
    Append { requests: Vec<ValidAppend>, reply: Reply },
    Apply { runs: Vec<RemoteRun>, reply: oneshot::Sender<Result<ApplyReport, String>> },
    Rebuild { reply: oneshot::Sender<Result<RebuildStats, String>> },
}

impl Job {
    pub(super) fn events(&self) -> usize {
        match self {
            Job::Append { requests, .. } => requests.len(),
            Job::Apply { runs, .. } => runs.iter().map(Vec::len).sum(),
            Job::Rebuild { .. } => 0,
        }
    }
}

/// Commits handed on by the writer and not yet answered by the syncer.
#[derive(Default)]
pub(super) struct InFlight {
    count: Mutex<usize>,
    none: Condvar,
}

impl InFlight {
    pub(super) fn handed_on(&self) {
        *self.count.lock().expect("in-flight lock") += 1;
    }

    pub(super) fn answered(&self, commits: usize) {
        let mut count = self.count.lock().expect("in-flight lock");
        *count -= commits;
        if *count == 0 {
            self.none.notify_all();
        }
    }

    /// Blocks until every commit handed on has been answered.
    pub(super) fn wait_for_none(&self) {
        let count = self.count.lock().expect("in-flight lock");
        drop(self.none.wait_while(count, |c| *c > 0).expect("in-flight lock"));
    }
}

/// A written commit waiting for its views and for the fdatasync that makes
/// it durable.
pub(super) struct Pending {
    /// The sync ticket that covers it, when it wrote anything (events or
    /// fork evidence).
    pub(super) ticket: Option<u64>,
    /// The applied mark the indexer writes after the views.
    pub(super) mark: Option<Vec<u8>>,
    pub(super) plan: ledger::CommitPlan,
    pub(super) set: WriteSet,
    pub(super) append_replies: Vec<Reply>,
    pub(super) applies: Vec<(oneshot::Sender<Result<ApplyReport, String>>, ApplyReport)>,
}

/// A written commit's claim on an fdatasync.
pub(super) struct SyncTicket {
    /// Issued in order, one per commit that wrote anything.
    pub(super) number: u64,
    /// The commit wrote fork evidence, which lives only in sled: sled's
    /// writes must be synced too.
    pub(super) with_sled: bool,
}

/// What the syncer is told, in the order it happened.
pub(super) enum ToSyncer {
    /// The writer wrote a commit: its log records need an fdatasync.
    Ticket(SyncTicket),
    /// The indexer wrote a commit's views (or failed to): it can be
    /// answered once its ticket is covered.
    Indexed(Box<Pending>, Result<(), StoreError>),
}
