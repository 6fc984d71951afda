//! [`Appender`]: the one thread that writes. Local appends and verified
//! remote events queue on one bounded channel; the thread takes everything
//! queued (up to [`linkage_core::limits::BATCH_EVENTS_MAX`] events), plans it and appends its
//! events to the log file. It then hands the commit's sync ticket to the
//! sync thread, which covers every ticket waiting with one fdatasync (group
//! commit); meanwhile the writer writes the indexes it reads back itself
//! (heads, seqs, keys) and hands the commit to the index thread, which
//! writes the views and the remote id index and hands it back to the sync
//! thread; that lets readers see the commit and answers it once both are
//! done. Every commit takes this path, a lone append too: its sync starts
//! as soon as its records are written, and sled's writes happen beside it.
//! Pipelined: the writer plans and writes the next commit (at most
//! [`COMMITS_IN_FLIGHT_MAX`] ahead) while the views are folded and the
//! disk syncs.
//!
//! # Layout
//! - [`commit`]: the jobs, the messages between threads, what callers get.
//! - [`writer`]: the writer thread (plans and writes each commit).
//! - [`indexer`]: the index thread (views and the remote id index).
//! - [`syncer`]: the sync thread (one fdatasync per round; answers).
//! - [`answer`]: answering or failing a commit's callers.

mod answer;
pub mod commit;
mod indexer;
pub mod syncer;
pub mod writer;

use crate::error::StoreError;
use crate::limits::COMMITS_IN_FLIGHT_MAX;
use crate::log::APPENDED_BY_BYTES_MAX;
use crate::store::Store;
use crate::views::RebuildStats;
use commit::{AppendFailure, Appended, ApplyReport, InFlight, Job, RemoteRun};
use ed25519_dalek::SigningKey;
use linkage_core::hlc::HlcClock;
use linkage_core::validate::ValidAppend;
use linkage_core::NodeCode;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use writer::Writer;

/// Jobs waiting for the writer. Beyond this, callers wait (back-pressure)
/// instead of queueing without bound.
pub const QUEUED_JOBS_MAX: usize = 4_096;

/// Handle to the writer thread. Cheap to clone; the thread ends when the
/// last handle is dropped, after finishing what was queued.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Job>,
}

impl Appender {
    /// Starts the writer thread for `origin`'s appends to `store`.
    pub fn start(
        store: Store,
        origin: NodeCode,
        key: SigningKey,
    ) -> Result<(Appender, std::thread::JoinHandle<()>), StoreError> {
        let heads = store.all_heads()?;
        let clock = HlcClock::starting_after(store.hlc_last()?);
        let (tx, rx) = mpsc::channel(QUEUED_JOBS_MAX);
        // Each commit in flight sends the syncer two messages: its ticket
        // and, once its views are written, itself.
        let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel(2 * COMMITS_IN_FLIGHT_MAX);
        let syncing = store.clone();
        let in_flight = Arc::new(InFlight::default());
        let counted = in_flight.clone();
        let syncer = std::thread::Builder::new()
            .name("linkage-sync".into())
            .spawn(move || syncer::sync_loop(&syncing, sync_rx, &counted))?;
        let (index_tx, index_rx) = std::sync::mpsc::sync_channel(COMMITS_IN_FLIGHT_MAX);
        let indexing = store.clone();
        let indexed_tx = sync_tx.clone();
        let indexer = std::thread::Builder::new()
            .name("linkage-index".into())
            .spawn(move || indexer::index_loop(&indexing, index_rx, &indexed_tx))?;
        let written = store.last_position();
        let writer = Writer {
            store,
            origin,
            key,
            heads,
            clock,
            written,
            tickets: 0,
            indexer: index_tx,
            syncer: sync_tx,
            in_flight,
        };
        let thread = std::thread::Builder::new().name("linkage-writer".into()).spawn(move || {
            writer.run(rx);
            // The writer dropped its ends: the indexer and then the syncer
            // (which the indexer still sends to) finish what is left, then stop.
            let _ = indexer.join();
            let _ = syncer.join();
        })?;
        Ok((Appender { tx }, thread))
    }

    /// Appends one job (all of it or none) and waits until it is durable.
    /// A principal longer than the log keeps refuses the job here, before
    /// the writer could meet it.
    pub async fn append(&self, requests: Vec<ValidAppend>) -> Result<Vec<Appended>, AppendFailure> {
        let too_long = |r: &ValidAppend| r.appended_by.as_ref().is_some_and(|p| p.len() > APPENDED_BY_BYTES_MAX);
        if let Some(index) = requests.iter().position(too_long) {
            let error = linkage_core::AppendError::Invalid(linkage_core::FieldViolation::new(
                "appended_by",
                format!("a principal is at most {APPENDED_BY_BYTES_MAX} bytes"),
            ));
            return Err(AppendFailure::Rejected { index, error });
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Append { requests, reply })
            .await
            .map_err(|_| AppendFailure::Unavailable("the writer has stopped".into()))?;
        answer.await.map_err(|_| AppendFailure::Unavailable("the writer stopped before answering".into()))?
    }

    /// Stores verified remote runs that link to what is held, durably.
    pub async fn apply(&self, runs: Vec<RemoteRun>) -> Result<ApplyReport, String> {
        self.enqueue_apply(runs).await?.await.map_err(|_| "the writer stopped before answering".to_owned())?
    }

    /// Rebuilds the views from the log in the writer thread: appends and
    /// remote events wait meanwhile, so nothing lands in a half-built view.
    pub async fn rebuild_views(&self) -> Result<RebuildStats, String> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Rebuild { reply }).await.map_err(|_| "the writer has stopped".to_owned())?;
        answer.await.map_err(|_| "the writer stopped before answering".to_owned())?
    }

    /// Queues remote runs for the writer and returns where the answer will
    /// arrive: the caller keeps the order of its runs without waiting for
    /// each commit, so that many pushes can share one fdatasync.
    pub async fn enqueue_apply(
        &self,
        runs: Vec<RemoteRun>,
    ) -> Result<oneshot::Receiver<Result<ApplyReport, String>>, String> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Apply { runs, reply }).await.map_err(|_| "the writer has stopped".to_owned())?;
        Ok(answer)
    }
}
