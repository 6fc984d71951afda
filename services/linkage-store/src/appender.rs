//! [`Appender`]: the one thread that writes. Local appends and verified
//! remote events queue on one bounded channel; the thread takes everything
//! queued (up to [`BATCH_EVENTS_MAX`] events), plans it and appends its
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

use crate::store::{ForkRecord, Store, StoreError, StoredEvent, WriteEvent, WriteSet};
use crate::views::RebuildStats;
use ed25519_dalek::SigningKey;
use linkage_core::hlc::HlcClock;
use linkage_core::ledger::{self, CommitContext, Head, MemoryState};
use linkage_core::limits::BATCH_EVENTS_MAX;
use linkage_core::validate::ValidAppend;
use linkage_core::verify::Parsed;
use linkage_core::{pb, wire, AppendError, Channel, NodeCode};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for the writer. Beyond this, callers wait (back-pressure)
/// instead of queueing without bound.
pub const QUEUED_JOBS_MAX: usize = 4_096;

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
pub type RemoteRun = Vec<(Parsed, bytes::Bytes)>;

/// What applying remote runs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

type Reply = oneshot::Sender<Result<Vec<Appended>, AppendFailure>>;

enum Job {
    Append { requests: Vec<ValidAppend>, reply: Reply },
    Apply { runs: Vec<RemoteRun>, reply: oneshot::Sender<Result<ApplyReport, String>> },
    Rebuild { reply: oneshot::Sender<Result<RebuildStats, String>> },
}

impl Job {
    fn events(&self) -> usize {
        match self {
            Job::Append { requests, .. } => requests.len(),
            Job::Apply { runs, .. } => runs.iter().map(Vec::len).sum(),
            Job::Rebuild { .. } => 0,
        }
    }
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
            .spawn(move || sync_loop(&syncing, sync_rx, &counted))?;
        let (index_tx, index_rx) = std::sync::mpsc::sync_channel(COMMITS_IN_FLIGHT_MAX);
        let indexing = store.clone();
        let indexed_tx = sync_tx.clone();
        let indexer = std::thread::Builder::new()
            .name("linkage-index".into())
            .spawn(move || index_loop(&indexing, index_rx, &indexed_tx))?;
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
    pub async fn append(&self, requests: Vec<ValidAppend>) -> Result<Vec<Appended>, AppendFailure> {
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

struct Writer {
    store: Store,
    origin: NodeCode,
    key: SigningKey,
    /// Cache of every stream's head: the writer is their only author.
    heads: BTreeMap<(NodeCode, Channel), Head>,
    clock: HlcClock,
    /// Last position written, durable or not yet.
    written: u64,
    /// Sync tickets issued: one per commit that wrote anything.
    tickets: u64,
    /// Commits written, for the indexer to write their views.
    indexer: std::sync::mpsc::SyncSender<Pending>,
    /// Tickets of commits written, for the syncer to cover with an fdatasync.
    syncer: std::sync::mpsc::SyncSender<ToSyncer>,
    /// Commits handed to the indexer and not yet answered.
    in_flight: Arc<InFlight>,
}

/// Commits the writer may have written ahead of the fdatasync that covers
/// them. The writer plans and writes commit N+1 while the syncer waits on
/// the disk for N; replies wait for their sync either way.
pub const COMMITS_IN_FLIGHT_MAX: usize = 4;

/// Commits handed on by the writer and not yet answered by the syncer.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    none: Condvar,
}

impl InFlight {
    fn handed_on(&self) {
        *self.count.lock().expect("in-flight lock") += 1;
    }

    fn answered(&self, commits: usize) {
        let mut count = self.count.lock().expect("in-flight lock");
        *count -= commits;
        if *count == 0 {
            self.none.notify_all();
        }
    }

    /// Blocks until every commit handed on has been answered.
    fn wait_for_none(&self) {
        let count = self.count.lock().expect("in-flight lock");
        drop(self.none.wait_while(count, |c| *c > 0).expect("in-flight lock"));
    }
}

/// A written commit waiting for its views and for the fdatasync that makes
/// it durable.
struct Pending {
    /// The sync ticket that covers it, when it wrote anything (events or
    /// fork evidence).
    ticket: Option<u64>,
    /// The applied mark the indexer writes after the views.
    mark: Option<Vec<u8>>,
    plan: ledger::CommitPlan,
    set: WriteSet,
    append_replies: Vec<Reply>,
    applies: Vec<(oneshot::Sender<Result<ApplyReport, String>>, ApplyReport)>,
}

/// A written commit's claim on an fdatasync.
struct SyncTicket {
    /// Issued in order, one per commit that wrote anything.
    number: u64,
    /// The commit wrote fork evidence, which lives only in sled: sled's
    /// writes must be synced too.
    with_sled: bool,
}

/// What the syncer is told, in the order it happened.
enum ToSyncer {
    /// The writer wrote a commit: its log records need an fdatasync.
    Ticket(SyncTicket),
    /// The indexer wrote a commit's views (or failed to): it can be
    /// answered once its ticket is covered.
    Indexed(Box<Pending>, Result<(), StoreError>),
}

/// Histogram of the seconds each successful sync of the log took (one
/// fdatasync, or with fork evidence sled's flush too), one sample per group
/// commit of appends and replicated events alike: the disk's part of their
/// latency, per node.
pub const LOG_SYNC_SECONDS: &str = "linkage_log_sync_seconds";

/// Histogram of the events each commit wrote (local appends and
/// replicated events together): how many requests shared one fdatasync,
/// per node. One sample per commit that wrote an event.
pub const COMMIT_EVENTS: &str = "linkage_commit_events";

/// The syncer thread: takes everything queued, covers every ticket with
/// one fdatasync (group commit) while the indexer writes views, and
/// answers each commit whose views are written once a sync covers it:
/// a commit waits for the longer of the two, not for both in turn. A
/// commit's ticket is queued before the commit reaches the indexer, so it
/// is covered by the time its views are.
fn sync_loop(store: &Store, rx: std::sync::mpsc::Receiver<ToSyncer>, in_flight: &InFlight) {
    let mut covered = 0;
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut ticket: Option<SyncTicket> = None;
        let mut indexed = Vec::new();
        for message in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match message {
                ToSyncer::Ticket(t) => {
                    let with_sled = t.with_sled || ticket.as_ref().is_some_and(|p| p.with_sled);
                    ticket = Some(SyncTicket { number: t.number, with_sled });
                }
                ToSyncer::Indexed(pending, result) => indexed.push((*pending, result)),
            }
        }
        // Those already covered need not wait for this sync. Answers keep
        // the commits' order: a commit without a ticket (retries only) may
        // answer with an event of an earlier commit, which must be durable
        // first.
        let covered_before = indexed.iter().take_while(|(p, _)| p.ticket.is_none_or(|t| t <= covered)).count();
        let waiting = indexed.split_off(covered_before);
        answer_all(store, indexed, in_flight);
        if let Some(ticket) = ticket {
            if failed.is_none() {
                let started = std::time::Instant::now();
                match store.sync_written(ticket.with_sled) {
                    Ok(()) => {
                        metrics::histogram!(LOG_SYNC_SECONDS).record(started.elapsed().as_secs_f64());
                        covered = ticket.number;
                    }
                    Err(e) => {
                        if !matches!(e, StoreError::Poisoned(_)) {
                            tracing::error!(error = %e, "sync failed; refusing further writes");
                        }
                        failed = Some(e.to_string());
                    }
                }
            }
        }
        let waiting = waiting
            .into_iter()
            .map(|(pending, result)| {
                let result = result.and_then(|()| match (&failed, pending.ticket) {
                    (_, Some(t)) if t <= covered => Ok(()),
                    (Some(why), _) => Err(StoreError::Poisoned(why.clone())),
                    (None, None) => Ok(()),
                    (None, Some(_)) => {
                        Err(StoreError::Poisoned("a commit reached the syncer before its ticket".into()))
                    }
                });
                (pending, result)
            })
            .collect();
        answer_all(store, waiting, in_flight);
    }
}

fn answer_all(store: &Store, commits: Vec<(Pending, Result<(), StoreError>)>, in_flight: &InFlight) {
    let count = commits.len();
    for (pending, result) in commits {
        answer(store, pending, result);
    }
    if count > 0 {
        in_flight.answered(count);
    }
}

/// The indexer thread: writes what only readers use (remote ids, views,
/// the applied mark) for each commit in order, on the other core while
/// the writer plans the next one and the syncer syncs this one, then hands
/// it to the syncer to answer. A failure poisons the store, and the syncer
/// fails the commit's answers.
fn index_loop(store: &Store, rx: std::sync::mpsc::Receiver<Pending>, syncer: &std::sync::mpsc::SyncSender<ToSyncer>) {
    while let Ok(mut pending) = rx.recv() {
        let derived = store.write_derived(&pending.set, pending.mark.take());
        if let Err(e) = &derived {
            if !matches!(e, StoreError::Poisoned(_)) {
                tracing::error!(error = %e, "writing views failed; refusing further writes");
            }
        }
        if let Err(std::sync::mpsc::SendError(ToSyncer::Indexed(pending, _))) =
            syncer.send(ToSyncer::Indexed(Box::new(pending), derived))
        {
            fail_pending(*pending, &StoreError::Poisoned("the sync thread has stopped".into()));
        }
    }
}

/// Lets readers see a written commit whose views are written and whose
/// sync is `result`, then answers it; a failure fails its answers.
fn answer(store: &Store, pending: Pending, result: Result<(), StoreError>) {
    let stored: Vec<StoredEvent> = pending
        .set
        .events
        .iter()
        .map(|e| StoredEvent { position: e.position, raw: sled::IVec::from(e.raw.as_ref()) })
        .collect();
    match result.and_then(|()| store.publish_durable(&stored)) {
        Ok(()) => {
            for (reply, report) in pending.applies {
                let _ = reply.send(Ok(report));
            }
            answer_appends(store, pending.plan, pending.set, stored, pending.append_replies);
        }
        Err(e) => fail_pending(pending, &e),
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut next = None;
        while let Some(first) = next.take().or_else(|| rx.blocking_recv()) {
            if let Job::Rebuild { reply } = first {
                self.wait_for_answers();
                let _ = reply.send(self.store.rebuild_views().map_err(|e| e.to_string()));
                continue;
            }
            let mut events = first.events();
            let mut jobs = vec![first];
            while events < BATCH_EVENTS_MAX {
                let Ok(job) = rx.try_recv() else { break };
                if matches!(job, Job::Rebuild { .. }) {
                    // Commit what came before it first.
                    next = Some(job);
                    break;
                }
                events += job.events();
                jobs.push(job);
            }
            self.commit(jobs);
        }
        tracing::debug!("writer: all appenders gone, stopping");
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let mut appends = Vec::new();
        let mut append_replies = Vec::new();
        let mut applies = Vec::new();
        for job in jobs {
            match job {
                Job::Append { requests, reply } => {
                    appends.push(requests);
                    append_replies.push(reply);
                }
                Job::Apply { runs, reply } => applies.push((runs, reply)),
                Job::Rebuild { .. } => unreachable!("rebuilds run on their own"),
            }
        }
        let state = match self.load_state(&appends) {
            Ok(state) => state,
            Err(e) => {
                fail_appends(append_replies, &e);
                for (_, reply) in applies {
                    let _ = reply.send(Err(e.to_string()));
                }
                return;
            }
        };
        let mut clock = self.clock;
        let ctx = CommitContext {
            origin: self.origin,
            key: &self.key,
            now_ms: now_ms(),
            next_position: self.written + 1,
            clock: &mut clock,
        };
        let mut plan = ledger::plan(&state, ctx, appends);
        let mut set = WriteSet { keys: std::mem::take(&mut plan.keys), ..WriteSet::default() };
        let mut heads = BTreeMap::new();
        for mut e in std::mem::take(&mut plan.events) {
            if e.signed {
                // What decoding `raw` gives: the event as built and the
                // signature that ends its bytes.
                let (_, signature) = e
                    .raw
                    .split_last_chunk::<{ wire::SIGNATURE_BYTES }>()
                    .expect("a signed event ends with its signature");
                e.event.signature = signature.to_vec();
            }
            set.events.push(WriteEvent {
                position: e.position,
                origin: self.origin,
                channel: e.channel.to_string(),
                seq: e.seq,
                id: e.id,
                raw: e.raw.into(),
                decoded: Some(e.event),
            });
        }
        for (channel, head) in &plan.heads {
            heads.insert((self.origin, channel.clone()), *head);
        }
        let mut reports = Vec::with_capacity(applies.len());
        let mut apply_replies = Vec::with_capacity(applies.len());
        for (runs, reply) in applies {
            reports.push(self.plan_apply(runs, &mut set, &mut heads, &mut clock));
            apply_replies.push(reply);
        }
        set.heads = heads;
        set.hlc_last = clock.last();
        // The log first; its fdatasync starts on the syncer while the
        // writer and the indexer write sled. Fork evidence lives only in
        // sled, so a commit with forks asks for its sync after writing them.
        let with_sled = !set.forks.is_empty();
        let written = self.store.write_log(&set).and_then(|locations| {
            if !with_sled {
                self.issue_ticket(&set, false)?;
            }
            let mark = self.store.write_indexes(&set, &locations)?;
            if with_sled {
                self.issue_ticket(&set, true)?;
            }
            Ok(mark)
        });
        let mark = match written {
            Ok(mark) => mark,
            Err(e) => {
                if matches!(e, StoreError::Poisoned(_)) {
                    // Said once, when the store failed; peers keep offering events.
                    tracing::debug!(error = %e, "commit refused");
                } else {
                    tracing::error!(error = %e, "commit failed; refusing further writes");
                }
                fail_appends(append_replies, &e);
                for reply in apply_replies {
                    let _ = reply.send(Err(e.to_string()));
                }
                return;
            }
        };
        if !set.events.is_empty() {
            metrics::histogram!(COMMIT_EVENTS).record(set.events.len() as f64);
        }
        self.clock = clock;
        self.heads.extend(std::mem::take(&mut set.heads));
        if let Some(last) = set.events.last() {
            self.written = last.position;
        }
        let ticket = (!set.is_empty()).then_some(self.tickets);
        let pending = Pending {
            ticket,
            mark,
            plan,
            set,
            append_replies,
            applies: apply_replies.into_iter().zip(reports).collect(),
        };
        self.in_flight.handed_on();
        if let Err(std::sync::mpsc::SendError(pending)) = self.indexer.send(pending) {
            self.in_flight.answered(1);
            fail_pending(pending, &StoreError::Poisoned("the index thread has stopped".into()));
        }
    }

    /// Hands the syncer a ticket for a commit that wrote anything (events
    /// or fork evidence), so that its fdatasync starts.
    fn issue_ticket(&mut self, set: &WriteSet, with_sled: bool) -> Result<(), StoreError> {
        if set.is_empty() {
            return Ok(());
        }
        self.tickets += 1;
        let ticket = SyncTicket { number: self.tickets, with_sled };
        self.syncer.send(ToSyncer::Ticket(ticket)).map_err(|_| {
            let e = StoreError::Poisoned("the sync thread has stopped".into());
            self.store.poison(&e);
            e
        })
    }

    /// Waits until every commit handed on has been answered: a rebuild
    /// must not run beside the indexer.
    fn wait_for_answers(&self) {
        self.in_flight.wait_for_none();
    }

    /// Adds remote runs to the commit: each event that extends its stream's
    /// head (seq + 1, prev_hash = head's hash) is stored; one already held
    /// is a duplicate; one that contradicts what is held is a fork, kept as
    /// evidence; one beyond a gap waits (the replicator pulls the gap).
    fn plan_apply(
        &self,
        runs: Vec<RemoteRun>,
        set: &mut WriteSet,
        heads: &mut BTreeMap<(NodeCode, Channel), Head>,
        clock: &mut HlcClock,
    ) -> ApplyReport {
        let mut report = ApplyReport::default();
        let mut position = set.events.last().map_or(self.written, |e| e.position) + 1;
        for run in runs {
            let mut events = run.into_iter();
            while let Some((p, raw)) = events.next() {
                let key = (p.origin, p.channel.clone());
                let head = heads.get(&key).or_else(|| self.heads.get(&key)).copied();
                let head_seq = head.map_or(0, |h| h.seq);
                if p.seq <= head_seq {
                    match self.held_hash(&key, p.seq, set) {
                        Some((held_hash, _)) if held_hash == p.hash => report.duplicates += 1,
                        Some((_, held_raw)) => {
                            report.forks += 1;
                            set.forks.push(fork(&p, held_raw, raw.to_vec()));
                        }
                        None => {
                            report.gaps += 1;
                            report.waiting.push(vec![(p, raw)]);
                        }
                    }
                    continue;
                }
                if p.seq > head_seq + 1 {
                    let tail: RemoteRun = std::iter::once((p, raw)).chain(events).collect();
                    report.gaps += tail.len();
                    report.waiting.push(tail);
                    break;
                }
                if p.prev_hash != head.map(|h| h.hash) {
                    // The origin's stream here differs from what we hold
                    // before this seq: keep our event at seq - 1 and this one.
                    report.forks += 1;
                    let held = self.held_hash(&key, head_seq, set).map(|(_, r)| r).unwrap_or_default();
                    set.forks.push(fork(&p, held, raw.to_vec()));
                    break;
                }
                clock.observe(p.hlc);
                heads.insert(key, Head { seq: p.seq, hash: p.hash });
                set.events.push(WriteEvent {
                    position,
                    origin: p.origin,
                    channel: p.channel.to_string(),
                    seq: p.seq,
                    id: p.id,
                    raw,
                    decoded: Some(p.event),
                });
                position += 1;
                report.applied += 1;
            }
        }
        report
    }

    /// Hash and bytes of the event held at (stream, seq), from this commit
    /// or the store.
    fn held_hash(&self, key: &(NodeCode, Channel), seq: u64, set: &WriteSet) -> Option<([u8; 32], Vec<u8>)> {
        let channel = key.1.to_string();
        if let Some(e) = set.events.iter().rev().find(|e| e.origin == key.0 && e.channel == channel && e.seq == seq) {
            return Some((linkage_core::wire::hash(&e.raw), e.raw.to_vec()));
        }
        let found = self.store.read_stream_any(key.0, &channel, seq).ok()??;
        Some((linkage_core::wire::hash(&found), found))
    }
}

/// Answers a durable commit's appends: new events from the commit itself,
/// deduplicated ones from the store.
/// `stored` are the commit's events as [`Store::publish_durable`] took them.
fn answer_appends(
    store: &Store,
    plan: ledger::CommitPlan,
    set: WriteSet,
    stored: Vec<StoredEvent>,
    replies: Vec<Reply>,
) {
    if replies.is_empty() {
        // Remote runs only: nobody to answer here.
        return;
    }
    let mut new: BTreeMap<u64, (sled::IVec, Option<pb::Event>)> =
        stored.into_iter().zip(set.events).map(|(s, e)| (s.position, (s.raw, e.decoded))).collect();
    for (result, reply) in plan.results.into_iter().zip(replies) {
        let answer =
            result.map_err(|e| AppendFailure::Rejected { index: e.index, error: e.error }).and_then(|outcomes| {
                outcomes
                    .into_iter()
                    .map(|o| {
                        // The decoded event goes to the first request it
                        // answers; a second one with the same key in the same
                        // commit gets the bytes only.
                        let (raw, decoded) = match new.get_mut(&o.position) {
                            Some((raw, decoded)) => (raw.clone(), decoded.take()),
                            None => {
                                let stored = store
                                    .get_position(o.position)
                                    .map_err(|e| AppendFailure::Unavailable(e.to_string()))?
                                    .ok_or_else(|| AppendFailure::Unavailable("deduplicated event not found".into()))?;
                                (stored.raw, None)
                            }
                        };
                        let event = StoredEvent { position: o.position, raw };
                        Ok(Appended { event, decoded, deduplicated: o.deduplicated })
                    })
                    .collect()
            });
        // A caller that gave up (cancelled RPC) no longer listens; the
        // event is durable all the same and its key answers a retry.
        let _ = reply.send(answer);
    }
}

impl Writer {
    fn load_state(&self, jobs: &[Vec<ValidAppend>]) -> Result<MemoryState, StoreError> {
        let mut keys = BTreeMap::new();
        for key in jobs.iter().flatten().filter_map(|r| r.idempotency.as_ref().map(|k| k.key.as_str())) {
            if let Some(record) = self.store.key_record(key)? {
                keys.insert(key.to_owned(), record);
            }
        }
        let heads = self
            .heads
            .iter()
            .filter(|((origin, _), _)| *origin == self.origin)
            .map(|((_, channel), head)| (channel.clone(), *head))
            .collect();
        Ok(MemoryState { heads, keys })
    }
}

fn fork(p: &Parsed, kept: Vec<u8>, other: Vec<u8>) -> ForkRecord {
    tracing::error!(origin = %p.origin, channel = %p.channel, seq = p.seq, "fork: two different events at one seq");
    ForkRecord { origin: p.origin, channel: p.channel.to_string(), seq: p.seq, kept, other }
}

/// Fails every answer of a commit that will not become durable.
fn fail_pending(pending: Pending, error: &StoreError) {
    fail_appends(pending.append_replies, error);
    for (reply, _) in pending.applies {
        let _ = reply.send(Err(error.to_string()));
    }
}

fn fail_appends(replies: Vec<Reply>, error: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(AppendFailure::Unavailable(error.to_string())));
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
