//! One simulated node: the store, the replica state machine of
//! `linkage-core` and a driver that does what the NATS engine does, on
//! virtual time and simulated messages.

use crate::net::{Msg, Network};
use crate::rng::Rng;
use crate::stats::Stats;
use crate::store::Store;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use linkage_core::replica::{self, Behind, RemoteRun, Replica, StreamKey, World};
use linkage_core::{pb, verify, Channel, NodeCode, Topology};
use std::collections::BTreeMap;
use std::time::Duration;

mod restore;

/// How long a request waits for its answer (the engine's default).
pub const REQUEST_TIMEOUT_MS: u64 = 3_000;
/// How long a restoring node collects answers per round.
pub const RESTORE_WINDOW_MS: u64 = 1_500;
/// Heads announcements, anti-entropy rounds.
pub const HEADS_EVERY_MS: u64 = 1_000;
/// Anti-entropy rounds.
pub const ENTROPY_EVERY_MS: u64 = 3_000;
/// Events per pull page here (small, so that pages and pipelining show).
pub const PAGE_EVENTS: usize = 16;

/// A stream head as answered: (origin, channel, seq).
pub type Head = (NodeCode, Channel, u64);

/// What a node needs from the world at each step.
pub struct Ctx<'a> {
    /// Virtual ms since the start.
    pub now: u64,
    /// Wall clock ms at the start (the nodes' clocks agree).
    pub wall0: u64,
    pub net: &'a mut Network,
    pub rng: &'a mut Rng,
    pub topology: &'a Topology,
    pub keys: &'a BTreeMap<NodeCode, linkage_core::signers::Signers>,
    pub stats: &'a mut Stats,
    /// The province's old key once its overlap is closed: what a thief
    /// of it (the liar) signs with.
    pub stolen: Option<&'a SigningKey>,
}

impl Ctx<'_> {
    /// Wall clock ms now.
    pub fn wall(&self) -> u64 {
        self.wall0 + self.now
    }
    fn time(&self) -> Duration {
        Duration::from_millis(self.now)
    }
}

enum Req {
    Page { key: StreamKey },
    Heads,
    Restore,
}

struct Pull {
    holders: Vec<NodeCode>,
    idx: usize,
    start_local: u64,
    target: u64,
    progressed: bool,
    stored_from_holder: bool,
    /// This pull belongs to a restore's proof round.
    alone: bool,
}

enum Restore {
    Asking {
        round_ends: u64,
        answers: Vec<(NodeCode, pb::HeadsResponse)>,
        parent: Option<pb::HeadsResponse>,
    },
    Proving {
        claims: replica::RestoreClaims,
        deadline: u64,
        round: usize,
        /// Streams of this round whose pull waits for one already running.
        waiting: Vec<StreamKey>,
        /// When the round's pulls ended, the next round starts at this.
        sleep_until: Option<u64>,
    },
}

/// One node.
pub struct Node {
    pub code: NodeCode,
    pub key: SigningKey,
    pub up: bool,
    pub store: Store,
    pub replica: Replica,
    pub restored: bool,
    pub must_restore: bool,
    /// When the current restore began (virtual ms): the node's last start.
    pub restore_started: u64,
    /// Answers to this restore, by who really sent them: for the check.
    pub restore_heard: Vec<(NodeCode, Vec<Head>)>,
    restore: Option<Restore>,
    restore_began: u64,
    pulls: BTreeMap<StreamKey, Pull>,
    requests: BTreeMap<u64, (NodeCode, u64, Req)>,
    next_request: u64,
    timers: Vec<(u64, StreamKey)>,
    pushed: usize,
    next_heads: u64,
    next_entropy: u64,
    /// Who hears each of its channels but groups, as the topology decides
    /// (`channel::audience`), worked out once per start.
    audiences: BTreeMap<Channel, Vec<NodeCode>>,
}

impl Node {
    pub fn new(code: NodeCode, key: SigningKey) -> Node {
        Node {
            code,
            key,
            up: true,
            store: Store::default(),
            replica: Replica::new(code),
            restored: false,
            must_restore: false,
            restore_started: 0,
            restore_heard: Vec::new(),
            restore: None,
            restore_began: 0,
            pulls: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_request: 0,
            timers: Vec::new(),
            pushed: 0,
            next_heads: 0,
            next_entropy: 0,
            audiences: BTreeMap::new(),
        }
    }

    /// Starts (or restarts) the node: replication state is memory only.
    pub fn start(&mut self, ctx: &mut Ctx, must_restore: bool) {
        self.up = true;
        self.replica = Replica::new(self.code);
        self.pulls.clear();
        self.requests.clear();
        self.timers.clear();
        self.audiences.clear();
        self.pushed = self.store.synced;
        self.restored = false;
        self.must_restore = must_restore || self.store.restoring;
        self.store.restoring = self.must_restore;
        self.restore_began = ctx.now;
        self.restore_started = ctx.now;
        self.restore_heard.clear();
        self.next_heads = ctx.now + ctx.rng.below(HEADS_EVERY_MS);
        self.next_entropy = ctx.now + ctx.rng.below(ENTROPY_EVERY_MS);
        self.ask_restore(ctx);
    }

    fn world<'a>(&'a self, topology: &'a Topology) -> World<'a> {
        World { topology, groups: &self.store.groups }
    }

    fn send(&mut self, ctx: &mut Ctx, to: NodeCode, msg: Msg) {
        ctx.net.send(ctx.rng, ctx.now, self.code, to, msg);
    }

    fn request(&mut self, ctx: &mut Ctx, to: NodeCode, req: Req, make: impl FnOnce(u64) -> Msg) {
        self.next_request += 1;
        let id = self.next_request;
        self.requests.insert(id, (to, ctx.now + REQUEST_TIMEOUT_MS, req));
        let msg = make(id);
        self.send(ctx, to, msg);
    }

    pub fn entitled(&self, topology: &Topology, reader: NodeCode, key: &StreamKey) -> bool {
        self.world(topology).entitled(reader, key.0, &key.1)
    }

    /// Nodes a push of `channel` goes to: its audience, or a group's
    /// current members.
    fn subscribers(&mut self, topology: &Topology, channel: &Channel) -> Vec<NodeCode> {
        if let Some(known) = self.audiences.get(channel) {
            return known.clone();
        }
        if let Some(audience) = linkage_core::channel::audience(topology, self.code, channel) {
            self.audiences.insert(channel.clone(), audience.clone());
            return audience;
        }
        let key = (self.code, channel.clone());
        topology.nodes().map(|n| n.code).filter(|n| *n != self.code && self.entitled(topology, *n, &key)).collect()
    }

    // ---- own events ------------------------------------------------------

    /// Appends a run of own events (the last one signed), unsynced yet.
    pub fn append(
        &mut self,
        ctx: &mut Ctx,
        channel: Channel,
        payloads: Vec<(pb::payload::Kind, Option<[u8; 16]>, Option<u64>)>,
    ) {
        let key = (self.code, channel.clone());
        let n = payloads.len();
        for (i, (kind, forged_id, forged_hlc)) in payloads.into_iter().enumerate() {
            let seq = self.store.head(&key) + 1;
            let prev_hash = match seq {
                1 => Vec::new(),
                _ => linkage_core::wire::hash(&self.store.streams[&key][seq as usize - 2]).to_vec(),
            };
            let hlc = forged_hlc.unwrap_or_else(|| self.store.clock.tick(ctx.wall()));
            let position = self.store.log.len() as u64 + 1;
            let id = forged_id.unwrap_or_else(|| linkage_core::ids::event_id(self.code, hlc, position));
            let event = pb::Event {
                id: linkage_core::validate::format_event_id(&id),
                origin: self.code.to_string(),
                channel: channel.to_string(),
                seq,
                hlc,
                prev_hash,
                payload: Some(pb::Payload { kind: Some(kind) }),
                ..Default::default()
            };
            let mut raw = prost::Message::encode_to_vec(&event);
            if i + 1 == n {
                raw = linkage_core::wire::sign(raw, &self.key);
            }
            let raw = Bytes::from(raw);
            ctx.stats.created.entry((key.clone(), seq)).or_default().push(raw.clone());
            self.store.push(key.clone(), raw, ctx.wall(), false);
        }
    }

    /// Syncs the log, then pushes newly synced own runs (pushes follow the
    /// durable log).
    pub fn sync(&mut self, ctx: &mut Ctx) {
        self.store.synced = self.store.log.len();
        for (key, _) in &self.store.log[self.pushed..] {
            if key.0 == self.code {
                ctx.stats.acked.insert(key.clone(), self.store.head(key));
            }
        }
        let mut runs: BTreeMap<Channel, Vec<Bytes>> = BTreeMap::new();
        let fresh: Vec<(StreamKey, Bytes)> = self.store.log[self.pushed..].to_vec();
        self.pushed = self.store.log.len();
        for (key, raw) in fresh {
            if key.0 != self.code {
                continue;
            }
            let signed = linkage_core::wire::peek(&raw).is_ok_and(|p| p.signed);
            let run = runs.entry(key.1.clone()).or_default();
            run.push(raw);
            if signed {
                let events = std::mem::take(run);
                let head_seq = self.store.head(&key);
                for to in self.subscribers(ctx.topology, &key.1) {
                    let msg = Msg::Push { origin: self.code, channel: key.1.clone(), head_seq, events: events.clone() };
                    self.send(ctx, to, msg);
                }
            }
        }
    }

    // ---- time ----------------------------------------------------------

    /// Work due at `ctx.now`.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        let expired: Vec<u64> =
            self.requests.iter().filter(|(_, (_, at, _))| *at <= ctx.now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some((holder, _, Req::Page { key })) = self.requests.remove(&id) {
                self.on_page(ctx, key, holder, None);
            }
        }
        let due: Vec<StreamKey> = self.timers.iter().filter(|(at, _)| *at <= ctx.now).map(|(_, k)| k.clone()).collect();
        self.timers.retain(|(at, _)| *at > ctx.now);
        for key in due {
            if let Some(s) = self.replica.existing(&key) {
                s.recheck = false;
            }
            self.ensure_pull(ctx, key, false);
        }
        self.restore_step(ctx);
        if ctx.now >= self.next_heads {
            self.next_heads = ctx.now + HEADS_EVERY_MS;
            let own: Vec<StreamKey> = self.store.streams.keys().filter(|k| k.0 == self.code).cloned().collect();
            for key in own {
                let head_seq = self.store.head(&key);
                for to in self.subscribers(ctx.topology, &key.1) {
                    let msg = Msg::Push { origin: self.code, channel: key.1.clone(), head_seq, events: Vec::new() };
                    self.send(ctx, to, msg);
                }
            }
        }
        if ctx.now >= self.next_entropy {
            self.next_entropy = ctx.now + ENTROPY_EVERY_MS;
            let tracked: Vec<StreamKey> = self.replica.streams().keys().cloned().collect();
            for key in tracked {
                self.ensure_pull(ctx, key, false);
            }
            let peers = {
                let world = World { topology: ctx.topology, groups: &self.store.groups };
                self.replica.anti_entropy_peers(world)
            };
            for peer in peers {
                self.request(ctx, peer, Req::Heads, |id| Msg::Heads { id, origin: None });
            }
        }
    }

    // ---- incoming ------------------------------------------------------

    /// Handles a message from `from` (pinned by the subject it came on).
    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeCode, msg: Msg) {
        self.replica.touch(from, ctx.time());
        match msg {
            Msg::Push { origin, channel, head_seq, events } if origin == from => {
                self.on_push(ctx, (origin, channel), head_seq, events)
            }
            Msg::Push { .. } => {}
            Msg::Pull { id, origin, channel, from_seq } => {
                let events = self.serve_pull(ctx.topology, from, &(origin, channel), from_seq);
                self.send(ctx, from, Msg::Page { id, events });
            }
            Msg::Heads { id, origin } => {
                let heads = self.heads_for(ctx.topology, from, origin);
                self.send(ctx, from, Msg::HeadsAnswer { id, named: self.code, heads });
            }
            Msg::Who { id } => {
                let heads = self.heads_for(ctx.topology, from, Some(from));
                self.send(ctx, from, Msg::HeadsAnswer { id, named: self.code, heads });
            }
            Msg::Page { id, events } => {
                if let Some((holder, _, Req::Page { key })) = self.requests.remove(&id) {
                    if holder == from {
                        self.on_page(ctx, key, holder, Some(events));
                    }
                }
            }
            Msg::HeadsAnswer { id, named, heads } => self.on_heads(ctx, from, id, named, heads),
        }
    }

    /// Events of a stream from `from_seq`, ending with a signed one, if
    /// the requester is entitled to them.
    pub fn serve_pull(&self, topology: &Topology, requester: NodeCode, key: &StreamKey, from_seq: u64) -> Vec<Bytes> {
        if !self.entitled(topology, requester, key) {
            return Vec::new();
        }
        let Some(events) = self.store.streams.get(key) else { return Vec::new() };
        let start = from_seq.max(1) as usize - 1;
        let mut page: Vec<Bytes> = events.iter().skip(start).take(PAGE_EVENTS).cloned().collect();
        let last_signed = page.iter().rposition(|r| linkage_core::wire::peek(r).is_ok_and(|p| p.signed));
        page.truncate(last_signed.map_or(0, |i| i + 1));
        page
    }

    /// Heads of the streams `requester` may see (of `origin` only).
    pub fn heads_for(&self, topology: &Topology, requester: NodeCode, origin: Option<NodeCode>) -> Vec<Head> {
        self.store
            .streams
            .iter()
            .filter(|(k, _)| origin.is_none_or(|o| k.0 == o))
            .filter(|(k, _)| self.entitled(topology, requester, k))
            .map(|(k, v)| (k.0, k.1.clone(), v.len() as u64))
            .collect()
    }

    fn hear_claim(&mut self, ctx: &mut Ctx, key: &StreamKey, holder: NodeCode, seq: u64) -> bool {
        let local = self.store.head(key);
        let world = World { topology: ctx.topology, groups: &self.store.groups };
        match self.replica.hear_claim(world, key, holder, seq, local, ctx.time()) {
            Ok(kept) => kept,
            Err(reason) => {
                *ctx.stats.ignored.entry(reason).or_default() += 1;
                false
            }
        }
    }

    fn on_push(&mut self, ctx: &mut Ctx, key: StreamKey, head_seq: u64, events: Vec<Bytes>) {
        let seen = self.entitled(ctx.topology, self.code, &key);
        self.hear_claim(ctx, &key, key.0, head_seq);
        if !events.is_empty() && seen {
            if let Ok(state) = self.replica.state(&key) {
                state.last_push = Some(ctx.time());
            }
        }
        if !events.is_empty() {
            if let Some(run) = self.verify(ctx, &key, &events) {
                let (first, last) = (run[0].0.seq, run[run.len() - 1].0.seq);
                let local = self.store.head(&key);
                let world = World { topology: ctx.topology, groups: &self.store.groups };
                if let Err(reason) = self.replica.prove_or_claim(world, &key, (first, last), local, ctx.time()) {
                    *ctx.stats.ignored.entry(reason).or_default() += 1;
                }
                let report = self.store.apply(vec![run], ctx.wall());
                ctx.stats.forks += report.forks as u64;
                let local = self.store.head(&key);
                let gap = report.gaps > 0;
                self.replica.applied(&key, last, (report.gaps, report.forks), local, report.waiting);
                self.drain(ctx, &key);
                self.ensure_pull(ctx, key.clone(), gap);
            }
        }
        if seen {
            self.ensure_pull(ctx, key, false);
        }
    }

    fn verify(&mut self, ctx: &mut Ctx, key: &StreamKey, events: &[Bytes]) -> Option<RemoteRun> {
        match ctx.keys.get(&key.0)?.verify_run(events) {
            Ok(parsed) if parsed.iter().all(|p| p.origin == key.0 && p.channel == key.1) => {
                Some(parsed.into_iter().zip(events.iter().cloned()).collect())
            }
            Ok(_) => {
                ctx.stats.rejected += 1;
                None
            }
            Err(e) => {
                ctx.stats.rejected += 1;
                match e {
                    verify::VerifyError::NotCanonical(_) => ctx.stats.re_encodings_refused += 1,
                    verify::VerifyError::RetiredKey(_) => ctx.stats.retired_key_refused += 1,
                    _ => {}
                }
                None
            }
        }
    }

    fn drain(&mut self, ctx: &mut Ctx, key: &StreamKey) {
        loop {
            let ready = self.replica.take_ready(key, self.store.head(key));
            if ready.is_empty() {
                return;
            }
            let report = self.store.apply(ready, ctx.wall());
            self.replica.keep_waiting(key, report.waiting);
            if report.applied == 0 {
                return;
            }
        }
    }

    // ---- pulling -------------------------------------------------------

    fn ensure_pull(&mut self, ctx: &mut Ctx, key: StreamKey, gap: bool) {
        let local = self.store.head(&key);
        match self.replica.behind(&key, local, gap, ctx.time()) {
            None | Some(Behind::Nothing) => {}
            Some(Behind::LookAgainIn(wait)) => self.timers.push((ctx.now + wait.as_millis() as u64, key)),
            Some(Behind::Pull) => self.start_pull(ctx, key, false),
        }
    }

    /// A pull round (the engine's `pull_loop`): the state says it runs.
    fn start_pull(&mut self, ctx: &mut Ctx, key: StreamKey, alone: bool) {
        let local = self.store.head(&key);
        let target = self.replica.pull_target(&key, local);
        if local >= target || !self.up {
            self.replica.pull_ended(&key, None);
            return self.pull_done(&key);
        }
        let world = World { topology: ctx.topology, groups: &self.store.groups };
        let holders = self.replica.holders(world, &key, ctx.time());
        let pull =
            Pull { holders, idx: 0, start_local: local, target, progressed: false, stored_from_holder: false, alone };
        self.pulls.insert(key.clone(), pull);
        self.ask_next(ctx, key);
    }

    fn pull_done(&mut self, key: &StreamKey) {
        self.pulls.remove(key);
        if let Some(s) = self.replica.existing(key) {
            s.pulling = false;
        }
    }

    fn ask_next(&mut self, ctx: &mut Ctx, key: StreamKey) {
        let Some(pull) = self.pulls.get(&key) else { return };
        let Some(&holder) = pull.holders.get(pull.idx) else {
            let (progressed, holders, alone) = (pull.progressed, pull.holders.clone(), pull.alone);
            if progressed {
                return self.start_pull(ctx, key, alone);
            }
            self.replica.pull_ended(&key, Some(&holders));
            return self.pull_done(&key);
        };
        let from_seq = self.store.head(&key) + 1;
        *ctx.stats.pulls_to.entry(holder).or_default() += 1;
        let (origin, channel) = key.clone();
        crate::stats::trace(|| {
            format!("{} {} pulls {origin}/{channel} from {holder} at {from_seq}", ctx.now, self.code)
        });
        self.request(ctx, holder, Req::Page { key }, |id| Msg::Pull { id, origin, channel, from_seq });
    }

    fn on_page(&mut self, ctx: &mut Ctx, key: StreamKey, holder: NodeCode, events: Option<Vec<Bytes>>) {
        if !self.pulls.contains_key(&key) {
            return;
        }
        let before = self.store.head(&key);
        if let Some(run) = events.filter(|e| !e.is_empty()).and_then(|e| self.verify(ctx, &key, &e)) {
            let report = self.store.apply(vec![run], ctx.wall());
            ctx.stats.forks += report.forks as u64;
            self.replica.keep_waiting(&key, report.waiting);
            if report.applied > 0 {
                self.drain(ctx, &key);
            }
        }
        let local = self.store.head(&key);
        let pull = self.pulls.get_mut(&key).expect("checked");
        if local > before {
            pull.stored_from_holder = true;
            if local < pull.target {
                return self.ask_next(ctx, key);
            }
        }
        if pull.stored_from_holder {
            let alone = pull.alone;
            return self.start_pull(ctx, key, alone);
        }
        if local > pull.start_local {
            pull.progressed = true;
        } else if self.replica.unproved(&key, holder, local, ctx.time()) {
            *ctx.stats.ignored.entry("unproved").or_default() += 1;
        }
        let pull = self.pulls.get_mut(&key).expect("checked");
        pull.idx += 1;
        pull.stored_from_holder = false;
        self.ask_next(ctx, key);
    }

    fn on_heads(&mut self, ctx: &mut Ctx, from: NodeCode, id: u64, named: NodeCode, heads: Vec<Head>) {
        match self.requests.remove(&id) {
            Some((to, _, Req::Heads)) if to == from => {
                for (origin, channel, seq) in heads.into_iter().take(replica::HEADS_PER_ANSWER_MAX) {
                    let key = (origin, channel);
                    if self.hear_claim(ctx, &key, from, seq) {
                        self.ensure_pull(ctx, key, false);
                    }
                }
            }
            Some((to, at, Req::Restore)) => {
                if matches!(self.restore, Some(Restore::Asking { .. })) {
                    self.restore_heard.push((from, heads.clone()));
                }
                let answer = pb::HeadsResponse {
                    node: named.to_string(),
                    heads: heads
                        .into_iter()
                        .map(|(o, c, seq)| pb::StreamHead { origin: o.to_string(), channel: c.to_string(), seq })
                        .collect(),
                };
                let parent = ctx.topology.node(self.code).and_then(|n| n.parent);
                if let Some(Restore::Asking { answers, parent: from_parent, .. }) = &mut self.restore {
                    if Some(from) == parent && to == from && from_parent.is_none() {
                        *from_parent = Some(answer);
                    } else if answers.len() < replica::RESTORE_ANSWERS_MAX {
                        answers.push((named, answer));
                    }
                }
                // The broadcast stays open for every answer.
                if to != from {
                    self.requests.insert(id, (to, at, Req::Restore));
                }
            }
            _ => {}
        }
    }
}
