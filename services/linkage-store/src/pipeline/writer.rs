//! The writer thread: takes everything queued, plans it into one commit
//! (seqs, chain, signatures, remote runs linked to the heads), appends its
//! records to the log, hands the sync ticket to the sync thread at once,
//! writes the indexes it reads back itself, and hands the commit to the
//! index thread. Pipelined: it plans the next commit while the disk syncs.

use super::answer::{fail_appends, fail_pending};
use super::commit::{ApplyReport, InFlight, Job, Pending, RemoteRun, SyncTicket, ToSyncer};
use crate::error::StoreError;
use crate::event::{ForkRecord, WriteEvent, WriteSet};
use crate::store::Store;
use ed25519_dalek::SigningKey;
use linkage_core::hlc::HlcClock;
use linkage_core::ledger::{self, CommitContext, Head, MemoryState};
use linkage_core::limits::BATCH_EVENTS_MAX;
use linkage_core::validate::ValidAppend;
use linkage_core::verify::Parsed;
use linkage_core::{wire, Channel, NodeCode};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Histogram of the events each commit wrote (local appends and
/// replicated events together): how many requests shared one fdatasync,
/// per node. One sample per commit that wrote an event.
pub const COMMIT_EVENTS: &str = "linkage_commit_events";

/// Counter of replicated events, by origin, whose timestamp was more than
/// `linkage_core::hlc::SKEW_MAX_MS` ahead of this node's wall clock:
/// stored, but not observed into its hybrid clock.
pub const CLOCK_AHEAD_EVENTS: &str = "linkage_clock_ahead_events_total";

pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) origin: NodeCode,
    pub(super) key: SigningKey,
    /// Cache of every stream's head: the writer is their only author.
    pub(super) heads: BTreeMap<(NodeCode, Channel), Head>,
    pub(super) clock: HlcClock,
    /// Last position written, durable or not yet.
    pub(super) written: u64,
    /// Sync tickets issued: one per commit that wrote anything.
    pub(super) tickets: u64,
    /// Commits written, for the indexer to write their views.
    pub(super) indexer: std::sync::mpsc::SyncSender<Pending>,
    /// Tickets of commits written, for the syncer to cover with an fdatasync.
    pub(super) syncer: std::sync::mpsc::SyncSender<ToSyncer>,
    /// Commits handed to the indexer and not yet answered.
    pub(super) in_flight: Arc<InFlight>,
}

impl Writer {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
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
                appended_by: e.appended_by,
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
        let now = now_ms();
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
                if !clock.observe_within(p.hlc, now) {
                    metrics::counter!(CLOCK_AHEAD_EVENTS, "origin" => p.origin.to_string()).increment(1);
                }
                heads.insert(key, Head { seq: p.seq, hash: p.hash });
                set.events.push(WriteEvent {
                    position,
                    origin: p.origin,
                    channel: p.channel.to_string(),
                    seq: p.seq,
                    id: p.id,
                    raw,
                    appended_by: None,
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

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
