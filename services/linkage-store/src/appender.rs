//! [`Appender`]: the one thread that writes. Concurrent appends queue on a
//! bounded channel; the thread takes everything queued (up to
//! [`BATCH_EVENTS_MAX`] events), plans it with the core ledger, writes it in
//! one sled batch and covers it with one fdatasync: group commit. While one
//! commit syncs, the next one fills up.

use crate::store::{Store, StoreError, StoredEvent};
use ed25519_dalek::SigningKey;
use linkage_core::hlc::HlcClock;
use linkage_core::ledger::{self, CommitContext, Head, MemoryState};
use linkage_core::limits::BATCH_EVENTS_MAX;
use linkage_core::validate::ValidAppend;
use linkage_core::{AppendError, Channel, NodeCode};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Appends waiting for the writer. Beyond this, callers wait (back-pressure)
/// instead of queueing without bound.
pub const QUEUED_JOBS_MAX: usize = 4_096;

/// One acknowledged request.
#[derive(Clone, Debug)]
pub struct Appended {
    /// The event that answers it.
    pub event: StoredEvent,
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
    /// Storage failed or the node is shutting down; the append may be
    /// retried with the same idempotency key.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

type Reply = oneshot::Sender<Result<Vec<Appended>, AppendFailure>>;

struct Job {
    requests: Vec<ValidAppend>,
    reply: Reply,
}

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
        let heads = store.own_heads(origin)?;
        let clock = HlcClock::starting_after(store.hlc_last()?);
        let (tx, rx) = mpsc::channel(QUEUED_JOBS_MAX);
        let writer = Writer { store, origin, key, heads, clock };
        let thread = std::thread::Builder::new().name("linkage-writer".into()).spawn(move || writer.run(rx))?;
        Ok((Appender { tx }, thread))
    }

    /// Appends one job (all of it or none) and waits until it is durable.
    pub async fn append(&self, requests: Vec<ValidAppend>) -> Result<Vec<Appended>, AppendFailure> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { requests, reply })
            .await
            .map_err(|_| AppendFailure::Unavailable("the writer has stopped".into()))?;
        answer.await.map_err(|_| AppendFailure::Unavailable("the writer stopped before answering".into()))?
    }
}

struct Writer {
    store: Store,
    origin: NodeCode,
    key: SigningKey,
    /// Cache of this node's heads: the writer is their only author.
    heads: BTreeMap<Channel, Head>,
    clock: HlcClock,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut events = first.requests.len();
            let mut jobs = vec![first];
            while events < BATCH_EVENTS_MAX {
                let Ok(job) = rx.try_recv() else { break };
                events += job.requests.len();
                jobs.push(job);
            }
            self.commit(jobs);
        }
        tracing::debug!("writer: all appenders gone, stopping");
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let (requests, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.requests, j.reply)).unzip();
        let state = match self.load_state(&requests) {
            Ok(state) => state,
            Err(e) => return fail_all(replies, &e),
        };
        let mut clock = self.clock;
        let mut new_id = || uuid::Uuid::now_v7().into_bytes();
        let ctx = CommitContext {
            origin: self.origin,
            key: &self.key,
            now_ms: now_ms(),
            next_position: self.store.last_position() + 1,
            clock: &mut clock,
            new_id: &mut new_id,
        };
        let plan = ledger::plan(&state, ctx, &requests);
        if let Err(e) = self.store.commit(self.origin, &plan) {
            tracing::error!(error = %e, "commit failed; refusing further appends");
            return fail_all(replies, &e);
        }
        self.clock = clock;
        self.heads.extend(plan.heads.iter().map(|(c, h)| (c.clone(), *h)));
        let new: BTreeMap<u64, &[u8]> = plan.events.iter().map(|e| (e.position, e.raw.as_slice())).collect();
        for (result, reply) in plan.results.into_iter().zip(replies) {
            let answer =
                result.map_err(|e| AppendFailure::Rejected { index: e.index, error: e.error }).and_then(|outcomes| {
                    outcomes
                        .into_iter()
                        .map(|o| {
                            let raw = match new.get(&o.position) {
                                Some(raw) => sled::IVec::from(*raw),
                                None => {
                                    self.store
                                        .get_position(o.position)
                                        .map_err(|e| AppendFailure::Unavailable(e.to_string()))?
                                        .ok_or_else(|| {
                                            AppendFailure::Unavailable("deduplicated event not found".into())
                                        })?
                                        .raw
                                }
                            };
                            Ok(Appended {
                                event: StoredEvent { position: o.position, raw },
                                deduplicated: o.deduplicated,
                            })
                        })
                        .collect()
                });
            // A caller that gave up (cancelled RPC) no longer listens; the
            // event is durable all the same and its key answers a retry.
            let _ = reply.send(answer);
        }
    }

    fn load_state(&self, jobs: &[Vec<ValidAppend>]) -> Result<MemoryState, StoreError> {
        let mut keys = BTreeMap::new();
        for key in jobs.iter().flatten().filter_map(|r| r.idempotency_key.as_deref()) {
            if let Some(record) = self.store.key_record(key)? {
                keys.insert(key.to_owned(), record);
            }
        }
        Ok(MemoryState { heads: self.heads.clone(), keys })
    }
}

fn fail_all(replies: Vec<Reply>, error: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(AppendFailure::Unavailable(error.to_string())));
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
