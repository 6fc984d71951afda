//! [`Replicator`]: push after commit, heads, pull, restore, and answering
//! other nodes' requests — for exactly what each is entitled to.

use crate::transport::{Incoming, Transport, TransportError};
use bytes::Bytes;
use futures::StreamExt;
use linkage_core::groups::Groups;
use linkage_core::replica::{self, Behind, Replica, RestoreStep, StreamKey, World};
use linkage_core::signers::Signers;
use linkage_core::subjects::Subjects;
use linkage_core::verify::VerifyError;
use linkage_core::{pb, subjects, Channel, NodeCode, Topology};
use linkage_store::{Appender, ApplyReport, RemoteRun, Store};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Events one pull page carries at most.
pub const PULL_PAGE_EVENTS_MAX: u32 = 1_024;

/// Bytes one pull page carries at most: under NATS' default 1 MiB
/// `max_payload` with room for the envelope.
pub const PULL_PAGE_BYTES_MAX: usize = 800 * 1024;

/// Pulled pages of one stream queued for the writer and not yet answered.
/// With more than one, the writer plans page N+1 while the indexer folds
/// page N and the disk syncs page N-1; a page that does not land (a gap, a
/// failed write) stops the pull, and the pages behind it only count as gaps.
pub const PULL_PAGES_IN_FLIGHT: usize = 3;

/// Payload field numbers of group membership changes (`GroupFormed`,
/// `GroupJoined`, `GroupLeft` in `linkage.v1.Payload`).
const GROUP_KINDS: [u64; 3] = [20, 21, 22];

pub use linkage_core::replica::{
    CLAIMS_PER_STREAM_MAX, CONTACT_FRESH, HEADS_PER_ANSWER_MAX, LIVE_PUSH_GRACE, OTHER_PEERS_PER_ROUND,
    PENDING_EVENTS_MAX, PENDING_EVENTS_TOTAL_MAX, RESTORE_ANSWERS_MAX, RESTORE_CLAIMS_MAX, RESTORE_PARENT_WAIT,
    RESTORE_PROOF_WINDOW, RESTORE_STREAMS_AT_ONCE, STREAMS_TRACKED_MAX, UNPROVED_CLAIM_BACKOFF,
};

/// Counter of claims (heads a peer said a stream has) that were ignored,
/// by reason, or that the claimant could not prove when asked.
pub const CLAIMS_IGNORED: &str = "linkage_claims_ignored_total";

/// Counter of peers' requests dropped unanswered, by reason (a reply
/// subject that is not an inbox of the asker's, say).
pub const REQUESTS_REFUSED: &str = "linkage_requests_refused_total";

/// Timings of replication.
#[derive(Clone, Debug)]
pub struct ReplicationConfig {
    /// How often a node announces the heads of its own streams.
    pub heads_interval: Duration,
    /// How often it asks its parent and children which streams they hold.
    pub anti_entropy_interval: Duration,
    /// How long a pull or heads request waits for an answer.
    pub request_timeout: Duration,
    /// How long a restoring node collects answers to "who holds my streams?".
    pub restore_window: Duration,
    /// A file that marks a restore under way (`RESTORING` in the data
    /// dir); removed, durably, just before appends are accepted.
    pub restore_marker: Option<std::path::PathBuf>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            heads_interval: Duration::from_secs(1),
            anti_entropy_interval: Duration::from_secs(3),
            request_timeout: Duration::from_secs(3),
            restore_window: Duration::from_millis(1500),
            restore_marker: None,
        }
    }
}

/// Pushed runs' bytes are slices of the buffer their message arrived in:
/// copied, a tail that waits for a gap does not keep that buffer alive.
fn unpinned(runs: Vec<RemoteRun>) -> Vec<RemoteRun> {
    runs.into_iter().map(|run| run.into_iter().map(|(p, raw)| (p, Bytes::copy_from_slice(&raw))).collect()).collect()
}

struct Inner {
    me: NodeCode,
    topology: Arc<Topology>,
    /// The province's subjects.
    subjects: Subjects,
    /// Each origin's keys over the seqs they may sign.
    keys: BTreeMap<NodeCode, Signers>,
    store: Store,
    appender: Appender,
    transport: Arc<dyn Transport>,
    config: ReplicationConfig,
    groups: RwLock<Groups>,
    /// The replica's decisions (`linkage_core::replica`). Lock order:
    /// `groups` before `replica`.
    replica: Mutex<Replica>,
    /// The start of the replica's clock.
    epoch: Instant,
    restored: AtomicBool,
    rejected: AtomicU64,
    /// The last log position `follow` has read (group membership is
    /// current up to it).
    followed: AtomicU64,
    shutdown: CancellationToken,
}

/// Handle to the running replication of one node.
#[derive(Clone)]
pub struct Replicator {
    inner: Arc<Inner>,
}

impl Replicator {
    /// Starts replication. `must_restore` says the node has an identity
    /// but may lack its own earlier events (an empty store with an existing
    /// key): it then accepts no appends until a peer has answered.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        me: NodeCode,
        topology: Arc<Topology>,
        store: Store,
        appender: Appender,
        transport: Arc<dyn Transport>,
        config: ReplicationConfig,
        must_restore: bool,
        shutdown: CancellationToken,
    ) -> Result<Replicator, TransportError> {
        let keys = topology.nodes().filter_map(|n| Some((n.code, Signers::of(n)?))).collect();
        let start_position = store.last_position() + 1;
        let groups = scan_groups(&store);
        let inner = Arc::new(Inner {
            me,
            topology: topology.clone(),
            subjects: Subjects,
            keys,
            store,
            appender,
            transport: transport.clone(),
            config,
            groups: RwLock::new(groups),
            replica: Mutex::new(Replica::new(me)),
            epoch: Instant::now(),
            restored: AtomicBool::new(false),
            rejected: AtomicU64::new(0),
            followed: AtomicU64::new(0),
            shutdown,
        });
        let mut incoming = futures::stream::SelectAll::new();
        for subject in inner.subjects.subscriptions(&topology, me) {
            incoming.push(transport.subscribe(subject).await?);
        }
        let replicator = Replicator { inner };
        tokio::spawn(replicator.clone().dispatch(incoming));
        tokio::spawn(replicator.clone().follow(start_position));
        tokio::spawn(replicator.clone().tick());
        tokio::spawn(replicator.clone().restore(must_restore));
        Ok(replicator)
    }

    /// True once the node knows it holds all of its own earlier events.
    pub fn restored(&self) -> bool {
        self.inner.restored.load(Ordering::Acquire)
    }

    /// Waits, for at most a second, until group membership has taken in
    /// these just-appended events if any of them changes it, so that the
    /// committee that formed or joined a group may post on it at once.
    /// Membership follows the durable log, which an acknowledged append is
    /// in already.
    pub async fn await_membership(&self, appended: &[linkage_store::Appended]) {
        let changes = appended.iter().filter(|a| {
            linkage_core::wire::peek(&a.event.raw).is_ok_and(|p| p.kind.is_some_and(|k| GROUP_KINDS.contains(&k)))
        });
        let Some(last) = changes.map(|a| a.event.position).max() else { return };
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.inner.followed.load(Ordering::Acquire) < last && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Current members of a group, as this node knows them.
    pub fn is_member(&self, group: &linkage_core::channel::GroupId, node: NodeCode) -> bool {
        self.inner.groups.read().expect("groups lock").is_member(group, node)
    }

    /// The replication state for `AdminService.Replication`.
    pub fn status(&self) -> pb::ReplicationResponse {
        let inner = &self.inner;
        let local: BTreeMap<StreamKey, u64> = inner
            .store
            .heads()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|h| Some(((h.origin, h.channel.parse().ok()?), h.seq)))
            .collect();
        let replica = inner.replica.lock().expect("replica lock");
        let streams = replica.streams();
        let keys: BTreeSet<&StreamKey> = local.keys().chain(streams.keys()).collect();
        let now = self.now();
        let out = keys
            .into_iter()
            .map(|key| {
                let local_head = local.get(key).copied().unwrap_or(0);
                let state = streams.get(key);
                let remote_head = state.map_or(0, |s| s.proved).max(local_head);
                let missing = state.is_some_and(|s| s.wanted() > remote_head);
                let behind = remote_head > local_head || missing;
                pb::StreamReplication {
                    origin: key.0.to_string(),
                    channel: key.1.to_string(),
                    local_head,
                    remote_head,
                    lag_events: remote_head - local_head,
                    missing_unproved: missing,
                    lag_seconds: match state.and_then(|s| s.behind_since) {
                        Some(since) if behind => now.saturating_sub(since).as_secs_f64(),
                        _ => 0.0,
                    },
                    pulls_in_flight: state.is_some_and(|s| s.pulling) as u32,
                    buffered_events: state.map_or(0, |s| s.pending_events() as u64),
                }
            })
            .collect();
        let peers = replica
            .contacts()
            .iter()
            .map(|(node, at)| pb::PeerContact {
                node: node.to_string(),
                seconds_since_contact: now.saturating_sub(*at).as_secs_f64(),
            })
            .collect();
        pb::ReplicationResponse {
            streams: out,
            peers,
            restored: self.restored(),
            connected: inner.transport.connected(),
            rejected_events: inner.rejected.load(Ordering::Relaxed),
        }
    }

    // ---- incoming ------------------------------------------------------

    async fn dispatch(self, mut incoming: futures::stream::SelectAll<futures::stream::BoxStream<'static, Incoming>>) {
        loop {
            let message = tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                m = incoming.next() => match m { Some(m) => m, None => return },
            };
            if let Some((origin, channel)) = self.inner.subjects.parse_push(&message.subject) {
                if origin != self.inner.me {
                    self.on_push(origin, channel, message.payload).await;
                }
            } else if let Some(requester) = self.inner.subjects.parse_pull(&message.subject) {
                let this = self.clone();
                tokio::spawn(async move { this.on_request(requester, message).await });
            } else if let Some(requester) = self.inner.subjects.parse_who(&message.subject) {
                if requester != self.inner.me {
                    let this = self.clone();
                    tokio::spawn(async move { this.on_who(requester, message).await });
                }
            }
        }
    }

    fn touch(&self, node: NodeCode) {
        let now = self.now();
        self.replica().touch(node, now);
    }

    /// The replica's clock.
    fn now(&self) -> Duration {
        self.inner.epoch.elapsed()
    }

    fn replica(&self) -> std::sync::MutexGuard<'_, Replica> {
        self.inner.replica.lock().expect("replica lock")
    }

    /// Runs `f` with the replica and current group membership (in the
    /// lock order: groups, then replica).
    fn decide<R>(&self, f: impl FnOnce(&mut Replica, World) -> R) -> R {
        let groups = self.inner.groups.read().expect("groups lock");
        let world = World { topology: &self.inner.topology, groups: &groups };
        f(&mut self.replica(), world)
    }

    fn reject(&self, origin: NodeCode, channel: &Channel, why: &dyn std::fmt::Display, reason: &'static str) {
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("linkage_rejected_events_total", "reason" => reason, "origin" => origin.to_string())
            .increment(1);
        tracing::warn!(%origin, %channel, %why, "rejected events");
    }

    async fn on_push(&self, origin: NodeCode, channel: Channel, payload: Bytes) {
        self.touch(origin);
        let Ok(push) = pb::Push::decode(payload) else {
            return self.reject(origin, &channel, &"undecodable push", "malformed");
        };
        if push.origin != origin.as_str() || push.channel != channel.to_string() {
            return self.reject(origin, &channel, &"push names another stream than its subject", "wrong_stream");
        }
        let key = (origin, channel.clone());
        // A group stream of this province that this node may not see yet
        // (it has not heard it joined) gets no state here; its events are
        // still checked and stored, and a later round of heads finds the
        // rest.
        let seen = self.entitled(self.inner.me, origin, &channel);
        let topology = &self.inner.topology;
        let group_here =
            matches!(channel, Channel::Group(_)) && topology.province_of(origin) == topology.province_of(self.inner.me);
        // Every other audience is the topology's alone: events this node
        // is not in (a chain it or its origin is not on, a `to:` another
        // node, a stream across the wall between provinces) are refused,
        // not stored, whatever subject brought them. Heads alone, and an
        // origin this topology version does not know yet (a node added in
        // the next), stay ignored claims, as before.
        if !seen && !group_here && !push.events.is_empty() && topology.contains(origin) {
            return self.reject(origin, &channel, &"a stream this node is not entitled to", "not_entitled");
        }
        self.hear_claim(&key, origin, push.head_seq);
        if !push.events.is_empty() && seen {
            let now = self.now();
            match self.replica().state(&key) {
                Ok(state) => state.last_push = Some(now),
                Err(reason) => metrics::counter!(CLAIMS_IGNORED, "reason" => reason).increment(1),
            }
        }
        // A run this node already holds (it was pulled first) costs one read:
        // if its last event is the one held, the hash chain makes every
        // earlier one identical too. A different one is a fork: go on.
        let held = self.local_head(&key);
        let already_held = push.events.last().is_some_and(|raw| {
            let Ok(last) = linkage_core::wire::peek(raw) else { return false };
            last.seq <= held
                && self
                    .inner
                    .store
                    .read_stream_any(origin, &push.channel, last.seq)
                    .ok()
                    .flatten()
                    .is_some_and(|bytes| bytes == *raw)
        });
        if already_held {
            metrics::counter!("linkage_duplicate_events_total").increment(push.events.len() as u64);
        } else if !push.events.is_empty() {
            match self.verify(origin, &channel, push.events) {
                Ok(run) => {
                    self.prove_or_claim(&run);
                    self.submit(run).await
                }
                Err((why, reason)) => self.reject(origin, &channel, &why, reason),
            }
        }
        if seen {
            self.ensure_pull(key);
        }
    }

    /// Checks a run of one stream: its events must all belong to the stream
    /// the subject names, chain, and end with the origin's signature.
    fn verify(
        &self,
        origin: NodeCode,
        channel: &Channel,
        raws: Vec<Bytes>,
    ) -> Result<RemoteRun, (VerifyError, &'static str)> {
        let signers = self.inner.keys.get(&origin).ok_or((VerifyError::UnknownKey(origin), "unknown_key"))?;
        let parsed = signers.verify_run(&raws).map_err(|e| {
            let reason = match e {
                VerifyError::BadSignature(_) => "bad_signature",
                VerifyError::RetiredKey(_) => "retired_key",
                VerifyError::Ejected { .. } => "ejected",
                VerifyError::UnsignedTail => "unsigned",
                VerifyError::BrokenChain(_) => "broken_chain",
                VerifyError::NotCanonical(_) => "not_canonical",
                _ => "malformed",
            };
            (e, reason)
        })?;
        if parsed.iter().any(|p| p.origin != origin || &p.channel != channel) {
            return Err((VerifyError::NotARun, "wrong_stream"));
        }
        if parsed.len() < raws.len() {
            // Past the seq the origin was ejected at: the part before stays.
            self.reject(origin, channel, &"events past the seq its origin was ejected at", "ejected");
        }
        Ok(parsed.into_iter().zip(raws).collect())
    }

    /// Hands a verified run to the writer without waiting for its commit
    /// (the next push may join the same commit); a run beyond a gap waits.
    async fn submit(&self, run: RemoteRun) {
        let Some((first, _)) = run.first() else { return };
        let key = (first.origin, first.channel.clone());
        let last = run.last().map_or(0, |(p, _)| p.seq);
        if let Some(state) = self.replica().existing(&key) {
            state.submitted = state.submitted.max(last);
        }
        let answer = match self.inner.appender.enqueue_apply(vec![run]).await {
            Ok(answer) => answer,
            Err(e) => return tracing::error!(error = %e, "applying remote events failed"),
        };
        let this = self.clone();
        tokio::spawn(async move {
            let report = match answer.await {
                Ok(Ok(report)) => this.count(report),
                Ok(Err(e)) => return tracing::error!(error = %e, "applying remote events failed"),
                Err(_) => return,
            };
            this.after_submit(key, last, report).await;
        });
    }

    /// `last` is the last seq of the run submitted; the writer hands back
    /// the part of it beyond a gap, which waits here for the gap to fill.
    async fn after_submit(&self, key: StreamKey, last: u64, mut report: ApplyReport) {
        let waiting = unpinned(std::mem::take(&mut report.waiting));
        let local = self.local_head(&key);
        self.replica().applied(&key, last, (report.gaps, report.forks), local, waiting);
        // Also after a gap: the run before it may have landed meanwhile.
        if report.gaps > 0 || report.applied > 0 {
            self.drain_pending(&key).await;
        }
        // What is still missing once the writer answered is pulled.
        self.ensure_pull_after(key, report.gaps > 0);
    }

    async fn apply(&self, runs: Vec<RemoteRun>) -> ApplyReport {
        match self.inner.appender.apply(runs).await {
            Ok(report) => self.count(report),
            Err(e) => {
                tracing::error!(error = %e, "applying remote events failed");
                ApplyReport::default()
            }
        }
    }

    fn count(&self, report: ApplyReport) -> ApplyReport {
        metrics::counter!("linkage_applied_events_total").increment(report.applied as u64);
        metrics::counter!("linkage_duplicate_events_total").increment(report.duplicates as u64);
        if report.forks > 0 {
            metrics::counter!("linkage_forks_total").increment(report.forks as u64);
        }
        report
    }

    /// Applies waiting runs that now link to the head.
    async fn drain_pending(&self, key: &StreamKey) {
        loop {
            let head = self.local_head(key);
            let ready = self.replica().take_ready(key, head);
            if ready.is_empty() {
                return;
            }
            // Runs that waited are copies already (see `unpinned`).
            let mut report = self.apply(ready).await;
            self.replica().keep_waiting(key, std::mem::take(&mut report.waiting));
            if report.applied == 0 {
                return;
            }
        }
    }

    fn local_head(&self, key: &StreamKey) -> u64 {
        self.inner.store.head(key.0, &key.1.to_string()).ok().flatten().map_or(0, |h| h.seq)
    }

    /// A verified run proves its stream if it links to what is held
    /// (`Replica::prove_or_claim`); otherwise it is its origin's claim.
    fn prove_or_claim(&self, run: &RemoteRun) {
        let (Some((first, _)), Some((last, _))) = (run.first(), run.last()) else { return };
        let key = (last.origin, last.channel.clone());
        let local = self.local_head(&key);
        let now = self.now();
        if let Err(reason) = self.decide(|r, w| r.prove_or_claim(w, &key, (first.seq, last.seq), local, now)) {
            metrics::counter!(CLAIMS_IGNORED, "reason" => reason).increment(1);
        }
    }

    /// `holder` says it holds `key` up to `seq`: a hint to ask it
    /// (`Replica::hear_claim`). True if kept.
    fn hear_claim(&self, key: &StreamKey, holder: NodeCode, seq: u64) -> bool {
        // Nothing from the seq an origin was ejected at is ever accepted:
        // a claim beyond it is worth no pull.
        let ejected_at = self.inner.keys.get(&key.0).and_then(|s| s.ejected_at(&key.1));
        let seq = ejected_at.map_or(seq, |from| seq.min(from - 1));
        let local = self.local_head(key);
        let now = self.now();
        match self.decide(|r, w| r.hear_claim(w, key, holder, seq, local, now)) {
            Ok(kept) => kept,
            Err(reason) => {
                metrics::counter!(CLAIMS_IGNORED, "reason" => reason).increment(1);
                false
            }
        }
    }

    async fn on_request(&self, requester: NodeCode, message: Incoming) {
        self.touch(requester);
        let Some(reply) = message.reply else { return };
        if !subjects::is_inbox_of(requester, &reply) {
            metrics::counter!(REQUESTS_REFUSED, "reason" => "reply_not_inbox").increment(1);
            return;
        }
        let Ok(request) = pb::PeerRequest::decode(message.payload) else { return };
        let answer = match request.kind {
            Some(pb::peer_request::Kind::Pull(pull)) => self.answer_pull(requester, &pull).encode_to_vec(),
            Some(pb::peer_request::Kind::Heads(heads)) => self.answer_heads(requester, &heads.origin).encode_to_vec(),
            None => return,
        };
        let _ = self.inner.transport.publish(reply, answer.into()).await;
    }

    async fn on_who(&self, requester: NodeCode, message: Incoming) {
        let Some(reply) = message.reply else { return };
        if !subjects::is_inbox_of(requester, &reply) {
            metrics::counter!(REQUESTS_REFUSED, "reason" => "reply_not_inbox").increment(1);
            return;
        }
        let answer = self.answer_heads(requester, requester.as_str());
        let _ = self.inner.transport.publish(reply, answer.encode_to_vec().into()).await;
    }

    /// Whether `reader` may hold events of `origin` on `channel`, as far
    /// as group membership followed so far says.
    pub fn entitled(&self, reader: NodeCode, origin: NodeCode, channel: &Channel) -> bool {
        let groups = self.inner.groups.read().expect("groups lock");
        World { topology: &self.inner.topology, groups: &groups }.entitled(reader, origin, channel)
    }

    /// Events of the stream from `from_seq`, ending with a signed one, if
    /// the requester is entitled to them.
    fn answer_pull(&self, requester: NodeCode, pull: &pb::PullRequest) -> pb::PullResponse {
        let (Ok(origin), Ok(channel)) = (pull.origin.parse::<NodeCode>(), pull.channel.parse::<Channel>()) else {
            return pb::PullResponse { denied: true, ..Default::default() };
        };
        if !self.entitled(requester, origin, &channel) {
            metrics::counter!("linkage_pull_denied_total").increment(1);
            return pb::PullResponse { denied: true, ..Default::default() };
        }
        let channel = channel.to_string();
        let head_seq = self.inner.store.head(origin, &channel).ok().flatten().map_or(0, |h| h.seq);
        let limit = pull.max_events.clamp(1, PULL_PAGE_EVENTS_MAX) as usize;
        let Ok(page) = self.inner.store.read_stream(origin, &channel, pull.from_seq.max(1), limit) else {
            return pb::PullResponse { head_seq, ..Default::default() };
        };
        let mut events = Vec::with_capacity(page.len());
        let mut bytes = 0;
        let mut last_signed = 0;
        for (_, stored) in page {
            bytes += stored.raw.len();
            if bytes > PULL_PAGE_BYTES_MAX && last_signed > 0 {
                break;
            }
            let signed = linkage_core::wire::peek(&stored.raw).is_ok_and(|p| p.signed);
            events.push(Bytes::from_owner(stored.raw));
            if signed {
                last_signed = events.len();
            }
        }
        // A page ends with a signature, so the requester can check it alone.
        events.truncate(last_signed);
        metrics::counter!("linkage_pull_served_events_total").increment(events.len() as u64);
        pb::PullResponse { events, head_seq, denied: false }
    }

    /// Heads of the streams the requester may see (of `origin` only, when set).
    fn answer_heads(&self, requester: NodeCode, origin: &str) -> pb::HeadsResponse {
        let heads = self
            .inner
            .store
            .heads()
            .unwrap_or_default()
            .into_iter()
            .filter(|h| origin.is_empty() || h.origin.as_str() == origin)
            .filter(|h| h.channel.parse().is_ok_and(|c: Channel| self.entitled(requester, h.origin, &c)))
            .map(|h| pb::StreamHead { origin: h.origin.to_string(), channel: h.channel, seq: h.seq })
            .collect();
        pb::HeadsResponse { heads, node: self.inner.me.to_string() }
    }

    // ---- pulling -------------------------------------------------------

    fn ensure_pull(&self, key: StreamKey) {
        self.ensure_pull_after(key, false);
    }

    /// Starts a pull of what a stream misses, unless one runs or the
    /// stream is live (see [`LIVE_PUSH_GRACE`]); `gap` when a pushed run
    /// did not link to what is held.
    fn ensure_pull_after(&self, key: StreamKey, gap: bool) {
        let local = self.local_head(&key);
        let now = self.now();
        let Some(decided) = self.replica().behind(&key, local, gap, now) else { return };
        match decided {
            Behind::Nothing => return,
            Behind::LookAgainIn(wait) => {
                let this = self.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = this.inner.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    if let Some(state) = this.replica().existing(&key) {
                        state.recheck = false;
                    }
                    this.ensure_pull(key);
                });
                return;
            }
            Behind::Pull => {}
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.pull_loop(&key).await;
            if let Some(state) = this.replica().existing(&key) {
                state.pulling = false;
            }
        });
    }

    /// Who may hold a stream, best first (`Replica::holders`).
    fn holders(&self, key: &StreamKey) -> Vec<NodeCode> {
        let now = self.now();
        self.decide(|r, w| r.holders(w, key, now))
    }

    /// Pulls what the stream misses, from each holder in turn until one
    /// extends it; a holder that extends nothing loses its claim (and is
    /// not believed about this stream for [`UNPROVED_CLAIM_BACKOFF`]), so
    /// a claim nobody proves ends the pull instead of repeating it.
    async fn pull_loop(&self, key: &StreamKey) {
        loop {
            let local = self.local_head(key);
            let target = self.replica().pull_target(key, local);
            if local >= target || self.inner.shutdown.is_cancelled() {
                self.replica().pull_ended(key, None);
                return;
            }
            let mut progressed = false;
            let holders = self.holders(key);
            for holder in &holders {
                if self.pull_from(key, *holder, local + 1, target).await {
                    progressed = true;
                    break;
                }
                // Pushes that filled the stream meanwhile made this
                // holder's pages duplicates: not its fault; ask the next.
                if self.local_head(key) > local {
                    progressed = true;
                    continue;
                }
                self.unproved(key, *holder);
            }
            if !progressed {
                // A claimant that was not asked (it may not hold the stream)
                // cannot prove its claim: it goes too.
                self.replica().pull_ended(key, Some(&holders));
                return;
            }
        }
    }

    /// `holder` was asked for `key` and extended nothing.
    fn unproved(&self, key: &StreamKey, holder: NodeCode) {
        let local = self.local_head(key);
        let now = self.now();
        let refuted = self.replica().unproved(key, holder, local, now);
        if refuted {
            metrics::counter!(CLAIMS_IGNORED, "reason" => "unproved").increment(1);
            tracing::warn!(%holder, origin = %key.0, channel = %key.1, "a claimed head was not proved");
        }
    }

    /// Pulls pages of a stream from one holder up to `target`, asking for
    /// the next page while this one is verified and while the writer
    /// commits the ones before it (at most [`PULL_PAGES_IN_FLIGHT`]). True
    /// when anything was stored.
    async fn pull_from(&self, key: &StreamKey, holder: NodeCode, from: u64, target: u64) -> bool {
        let mut next = from;
        let mut in_flight = std::collections::VecDeque::with_capacity(PULL_PAGES_IN_FLIGHT);
        let mut stored_any = false;
        let mut landed = true;
        let mut asked = (next <= target).then(|| self.ask_page(key, holder, next));
        while landed {
            let events = match asked.take() {
                Some(answer) => answer.await.ok().flatten(),
                None => None,
            };
            // The page after this one, asked for before this one is checked:
            // a page that fails its check drops the answer unread.
            let after = events
                .as_ref()
                .and_then(|e| e.last())
                .and_then(|raw| linkage_core::wire::peek(raw).ok())
                .map(|p| p.seq + 1);
            if let Some(after) = after.filter(|after| *after <= target) {
                asked = Some(self.ask_page(key, holder, after));
            }
            let page = events.and_then(|events| match self.verify(key.0, &key.1, events) {
                Ok(run) => Some(run),
                Err((why, reason)) => {
                    self.reject(key.0, &key.1, &why, reason);
                    None
                }
            });
            while in_flight.len() >= PULL_PAGES_IN_FLIGHT || (page.is_none() && !in_flight.is_empty()) {
                let Some(oldest) = in_flight.pop_front() else { break };
                if self.landed(oldest).await {
                    stored_any = true;
                } else {
                    landed = false;
                    break;
                }
            }
            let Some(run) = page.filter(|_| landed) else { break };
            let last = run.last().map_or(next, |(p, _)| p.seq);
            match self.inner.appender.enqueue_apply(vec![run]).await {
                Ok(answer) => in_flight.push_back(answer),
                Err(_) => break,
            }
            next = last + 1;
        }
        if let Some(answer) = asked {
            answer.abort();
        }
        // Whatever is still queued is counted, landed or not.
        for answer in in_flight {
            stored_any |= self.landed(answer).await;
        }
        if stored_any {
            self.drain_pending(key).await;
        }
        stored_any
    }

    /// Whether a queued page stored anything.
    async fn landed(&self, answer: tokio::sync::oneshot::Receiver<Result<ApplyReport, String>>) -> bool {
        match answer.await {
            Ok(Ok(report)) => self.count(report).applied > 0,
            _ => false,
        }
    }

    /// Asks `holder` for a page of a stream from seq `from`, in a task of
    /// its own: its answer's events, unchecked, or `None`.
    fn ask_page(&self, key: &StreamKey, holder: NodeCode, from: u64) -> tokio::task::JoinHandle<Option<Vec<Bytes>>> {
        let request = pb::PeerRequest {
            kind: Some(pb::peer_request::Kind::Pull(pb::PullRequest {
                origin: key.0.to_string(),
                channel: key.1.to_string(),
                from_seq: from,
                max_events: PULL_PAGE_EVENTS_MAX,
            })),
        };
        let subject = self.inner.subjects.pull(holder, self.inner.me);
        let this = self.clone();
        tokio::spawn(async move {
            let answer = this
                .inner
                .transport
                .request(subject, request.encode_to_vec().into(), this.inner.config.request_timeout)
                .await;
            let Ok(bytes) = answer else {
                metrics::counter!("linkage_pulls_total", "result" => "no_answer").increment(1);
                return None;
            };
            this.touch(holder);
            let response = pb::PullResponse::decode(bytes).ok()?;
            if response.denied || response.events.is_empty() {
                metrics::counter!("linkage_pulls_total", "result" => "empty").increment(1);
                return None;
            }
            metrics::counter!("linkage_pulls_total", "result" => "ok").increment(1);
            Some(response.events)
        })
    }

    // ---- outgoing ------------------------------------------------------

    /// Follows the durable log: keeps group membership current and pushes
    /// this node's own events, one signed run per message.
    async fn follow(self, mut next: u64) {
        let store = self.inner.store.clone();
        let mut durable = store.watch_position();
        let mut runs: BTreeMap<Channel, Vec<Bytes>> = BTreeMap::new();
        loop {
            // Everything before `next` is taken in (membership included).
            self.inner.followed.store(next - 1, Ordering::Release);
            durable.borrow_and_update();
            let page = match store.read_positions(next, 1024) {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "replication: reading the log failed");
                    return;
                }
            };
            if page.is_empty() {
                tokio::select! {
                    _ = self.inner.shutdown.cancelled() => return,
                    changed = durable.changed() => if changed.is_err() { return },
                }
                continue;
            }
            for stored in page {
                next = stored.position + 1;
                // Most events need no decoding here: peek at the envelope and
                // decode only group membership changes.
                let Ok(peek) = linkage_core::wire::peek(&stored.raw) else { continue };
                if peek.kind.is_some_and(|k| GROUP_KINDS.contains(&k)) {
                    if let Ok(event) = pb::Event::decode(stored.raw.as_ref()) {
                        self.inner.groups.write().expect("groups lock").observe(&event);
                    }
                }
                if peek.origin != self.inner.me.as_str().as_bytes() {
                    continue;
                }
                let Some(channel) = std::str::from_utf8(peek.channel).ok().and_then(|c| c.parse::<Channel>().ok())
                else {
                    continue;
                };
                let (signed, seq) = (peek.signed, peek.seq);
                let run = runs.entry(channel.clone()).or_default();
                run.push(Bytes::from_owner(stored.raw));
                if signed {
                    let events = std::mem::take(run);
                    self.push(&channel, events, seq).await;
                }
            }
        }
    }

    async fn push(&self, channel: &Channel, events: Vec<Bytes>, head_seq: u64) {
        let me = self.inner.me;
        let members = match channel {
            Channel::Group(g) => self.inner.groups.read().expect("groups lock").members(g),
            Channel::Chain(code) => linkage_core::channel::chain_members(&self.inner.topology, *code),
            _ => Vec::new(),
        };
        let count = events.len() as u64;
        let push = pb::Push { events, head_seq, origin: me.to_string(), channel: channel.to_string() };
        let bytes: Bytes = push.encode_to_vec().into();
        for subject in self.inner.subjects.push(me, channel, &members) {
            if self.inner.transport.publish(subject, bytes.clone()).await.is_ok() {
                metrics::counter!("linkage_pushed_events_total").increment(count);
            }
        }
    }

    /// Announces own heads, asks neighbours for theirs, and starts pulls.
    async fn tick(self) {
        let mut heads = tokio::time::interval(self.inner.config.heads_interval);
        let mut entropy = tokio::time::interval(self.inner.config.anti_entropy_interval);
        loop {
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = heads.tick() => self.announce().await,
                _ = entropy.tick() => self.anti_entropy().await,
            }
        }
    }

    async fn announce(&self) {
        let me = self.inner.me;
        for head in self.inner.store.heads().unwrap_or_default().into_iter().filter(|h| h.origin == me) {
            let Ok(channel) = head.channel.parse::<Channel>() else { continue };
            self.push(&channel, Vec::new(), head.seq).await;
        }
        self.export_lag();
    }

    fn export_lag(&self) {
        for s in self.status().streams {
            metrics::gauge!("linkage_replication_lag_events", "origin" => s.origin.clone(), "channel" => s.channel.clone())
                .set(s.lag_events as f64);
            metrics::gauge!("linkage_replication_lag_seconds", "origin" => s.origin, "channel" => s.channel)
                .set(s.lag_seconds);
        }
    }

    /// Asks the parent, the children, the province and, in turn,
    /// [`OTHER_PEERS_PER_ROUND`] of the other peers (`other_peers`) which
    /// streams they hold that this node may see, so that streams whose
    /// origin is down are still noticed and pulled from whoever holds them.
    async fn anti_entropy(&self) {
        let me = self.inner.me;
        let peers = self.decide(|r, w| r.anti_entropy_peers(w));
        let request = pb::PeerRequest { kind: Some(pb::peer_request::Kind::Heads(pb::HeadsRequest::default())) };
        let bytes: Bytes = request.encode_to_vec().into();
        let asks = peers.into_iter().map(|peer| {
            let transport = self.inner.transport.clone();
            let bytes = bytes.clone();
            let timeout = self.inner.config.request_timeout;
            async move { (peer, transport.request(self.inner.subjects.pull(peer, me), bytes, timeout).await) }
        });
        // Each answer starts its pulls as it comes: a peer that is slow
        // to answer (busy, or away until the request times out) must not
        // hold back what the others showed. A county back from kill -9
        // waited 2.9 s for its first event while 100,000 were owed.
        let mut answers: futures::stream::FuturesUnordered<_> = asks.collect();
        while let Some((peer, answer)) = answers.next().await {
            let Ok(answer) = answer else { continue };
            self.touch(peer);
            let Ok(heads) = pb::HeadsResponse::decode(answer) else { continue };
            for h in heads.heads.into_iter().take(HEADS_PER_ANSWER_MAX) {
                let (Ok(origin), Ok(channel)) = (h.origin.parse(), h.channel.parse()) else { continue };
                let key = (origin, channel);
                if self.hear_claim(&key, peer, h.seq) {
                    self.ensure_pull(key);
                }
            }
        }
        let behind: Vec<StreamKey> = self.replica().streams().keys().cloned().collect();
        for key in behind {
            self.ensure_pull(key);
        }
    }

    /// Before the first append: learn from the others how far this node's
    /// own streams went, and pull back whatever they can prove, so that no
    /// seq a holder showed is ever issued twice.
    ///
    /// Who answers `lk.<province>.who.<me>` is not pinned (any node may answer, and
    /// name any node), so an answer only says whom to ask: each claimant is
    /// asked through `….pull.<claimant>.<me>`, where only it can answer,
    /// and what it sends is checked against this node's keys (current and
    /// retired, each over its seqs). A claim it does not prove is dropped
    /// and counted. The parent, which holds every
    /// stream of its child, is asked directly as well and waited for up to
    /// [`RESTORE_PARENT_WAIT`]; no other node, answering or silent, can keep
    /// the restore from finishing once anyone has answered.
    async fn restore(self, must_restore: bool) {
        let me = self.inner.me;
        let parent = self.inner.topology.node(me).and_then(|n| n.parent);
        let request = pb::HeadsRequest { origin: me.to_string() }.encode_to_vec();
        let started = Instant::now();
        loop {
            if self.inner.shutdown.is_cancelled() {
                return;
            }
            let gathered = self.inner.transport.gather(
                self.inner.subjects.who(me),
                request.clone().into(),
                self.inner.config.restore_window,
                RESTORE_ANSWERS_MAX,
            );
            let from_parent = async {
                let parent = parent?;
                let asked = pb::PeerRequest {
                    kind: Some(pb::peer_request::Kind::Heads(pb::HeadsRequest { origin: me.to_string() })),
                };
                let timeout = self
                    .inner
                    .config
                    .request_timeout
                    .min(self.inner.config.restore_window.max(Duration::from_millis(500)));
                let answer = self
                    .inner
                    .transport
                    .request(self.inner.subjects.pull(parent, me), asked.encode_to_vec().into(), timeout)
                    .await
                    .ok()?;
                let heads = pb::HeadsResponse::decode(answer).ok()?;
                Some((parent, heads))
            };
            let (answers, from_parent) = futures::join!(gathered, from_parent);
            let answers = answers.unwrap_or_default();
            let step = replica::restore_step(
                must_restore,
                !answers.is_empty(),
                parent,
                from_parent.is_some(),
                started.elapsed(),
            );
            match step {
                RestoreStep::AskAgain("parent") => {
                    tracing::info!("restoring: waiting for the parent a little longer");
                    continue;
                }
                RestoreStep::AskAgain(_) => {
                    tracing::warn!("restoring: no peer answered yet; appends wait until one does");
                    continue;
                }
                RestoreStep::Prove => {}
            }
            // Claims, by whom the answer names: a hint of whom to ask.
            let named = answers.into_iter().filter_map(|answer| {
                let heads = pb::HeadsResponse::decode(answer).ok()?;
                Some((heads.node.parse::<NodeCode>().ok()?, heads))
            });
            let locals: BTreeMap<StreamKey, u64> = self
                .inner
                .store
                .heads()
                .unwrap_or_default()
                .into_iter()
                .filter(|h| h.origin == me)
                .filter_map(|h| Some(((h.origin, h.channel.parse().ok()?), h.seq)))
                .collect();
            let now = self.now();
            let (claims, ignored) = self.decide(|r, w| {
                let local = |k: &StreamKey| locals.get(k).copied().unwrap_or(0);
                replica::restore_claims(r, w, named.chain(from_parent), local, now)
            });
            for (reason, count) in ignored {
                metrics::counter!(CLAIMS_IGNORED, "reason" => reason).increment(count);
            }
            self.prove_claims(claims, replica::proof_window(must_restore)).await;
            // Appends check group membership: let it take in what was
            // restored (a group the node leads, say) before they start.
            let restored_to = self.inner.store.last_position();
            let deadline = Instant::now() + RESTORE_PROOF_WINDOW;
            while self.inner.followed.load(Ordering::Acquire) < restored_to && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if let Some(marker) = &self.inner.config.restore_marker {
                if let Err(e) = remove_durably(marker) {
                    tracing::error!(error = %e, marker = %marker.display(), "removing the restore marker failed");
                }
            }
            self.inner.restored.store(true, Ordering::Release);
            tracing::info!("own streams checked with peers; appends accepted");
            return;
        }
    }
}

impl Replicator {
    /// Pulls what restore `claims` name from their claimants, synchronously
    /// (appends wait for this), in rounds until every claim is proved or
    /// [`RESTORE_PROOF_WINDOW`] has passed: a claimant that failed once (a
    /// timeout) is asked again in the next round. Streams are pulled
    /// side by side, [`RESTORE_STREAMS_AT_ONCE`] at a time, each claim
    /// judged on its own stream only.
    async fn prove_claims(&self, claims: replica::RestoreClaims, window: Duration) {
        let deadline = self.now() + window;
        for round in 0.. {
            let open = replica::open_streams(&claims, |k| self.local_head(k), round, self.now(), deadline);
            if open.is_empty() || self.inner.shutdown.is_cancelled() {
                // What is still unproved once the window closed (round 0
                // ignores the window).
                let unproved = replica::open_streams(&claims, |k| self.local_head(k), 0, Duration::ZERO, Duration::MAX);
                if !unproved.is_empty() {
                    tracing::warn!(
                        open = unproved.len(),
                        "restoring: claims nobody proved are ignored; appends accepted"
                    );
                }
                return;
            }
            let rounds = open.into_iter().map(|key| {
                // The first round waits for a pull of the stream already
                // running (anti-entropy may have started one on a claim);
                // later ones only until the window closes.
                let wait_until = if round == 0 { self.now() + RESTORE_PROOF_WINDOW } else { deadline };
                let claims = &claims;
                async move { self.pull_alone(&key, wait_until, claims).await }
            });
            futures::stream::iter(rounds).buffer_unordered(RESTORE_STREAMS_AT_ONCE).collect::<Vec<()>>().await;
            tokio::time::sleep(Duration::from_secs(1).min(deadline.saturating_sub(self.now()))).await;
        }
    }

    /// Runs [`Self::pull_loop`] for `key` once no other pull of it runs
    /// (waiting for one until `deadline`), so that two pulls of one stream
    /// do not refute each other's holders, and a restore's round asks its
    /// claimants itself.
    async fn pull_alone(&self, key: &StreamKey, deadline: Duration, claims: &replica::RestoreClaims) {
        loop {
            let took = self.replica().existing(key).map(|s| !std::mem::replace(&mut s.pulling, true));
            match took {
                // No state: nothing is claimed, nothing to pull.
                None => return,
                // This call took the pull: it runs it and gives it back.
                Some(true) => break,
                Some(false) if self.now() >= deadline => return,
                Some(false) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        // Every claimant of the restore is asked again, backoff or not, and
        // only now: the pull that ran before dropped the claims of those it
        // did not ask (found by the simulation).
        let now = self.now();
        if let Some(state) = self.replica().existing(key) {
            for (_, peer, seq) in claims.iter().filter(|(k, _, _)| k == key) {
                state.refuted.remove(peer);
                let _ = state.claim(*peer, *seq, now);
            }
        }
        self.pull_loop(key).await;
        if let Some(s) = self.replica().existing(key) {
            s.pulling = false;
        }
    }
}

/// Removes `path` (if there) and syncs its directory, so that the removal
/// survives a power cut.
fn remove_durably(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Group membership from every event already in the log.
fn scan_groups(store: &Store) -> Groups {
    let mut groups = Groups::default();
    let mut next = 1;
    while let Ok(page) = store.read_positions(next, 4096) {
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        for stored in &page {
            let is_group =
                linkage_core::wire::peek(&stored.raw).is_ok_and(|p| p.kind.is_some_and(|k| GROUP_KINDS.contains(&k)));
            if let (true, Ok(event)) = (is_group, pb::Event::decode(stored.raw.as_ref())) {
                groups.observe(&event);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_run_keeps_its_own_bytes_not_the_buffer_they_came_in() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let event = pb::Event {
            id: "0190a5c4-0000-7000-8000-000000000001".into(),
            origin: "620722".into(),
            channel: "up".into(),
            seq: 3,
            prev_hash: vec![7; 32],
            ..Default::default()
        };
        let raw = linkage_core::wire::sign(event.encode_to_vec(), &key);
        let message = Bytes::from([vec![0; 4096], raw.clone()].concat());
        let slice = message.slice(4096..);
        let parsed = linkage_core::verify::parse(&slice).unwrap();
        let mut state = linkage_core::replica::StreamState::default();
        state.keep_waiting(unpinned(vec![vec![(parsed, slice)]]), 0);
        let (_, kept) = &state.pending[&3][0];
        assert_eq!(kept.as_ref(), raw.as_slice());
        let within = message.as_ptr_range();
        assert!(!within.contains(&kept.as_ptr()), "the waiting run still points into the buffer");
    }
}
