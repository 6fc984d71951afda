//! [`Replica`]: one node's replication state — its streams and whom it
//! heard from — and the decisions made on it.

use super::limits::{RemoteRun, StreamKey, CONTACT_FRESH, OTHER_PEERS_PER_ROUND, STREAMS_TRACKED_MAX};
use super::stream::{Behind, StreamState};
use super::world::World;
use crate::code::NodeCode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One node's replication state: its streams and whom it heard from.
#[derive(Debug)]
pub struct Replica {
    me: NodeCode,
    streams: BTreeMap<StreamKey, StreamState>,
    contacts: BTreeMap<NodeCode, Duration>,
    /// Where the next anti-entropy round starts among the other peers.
    other_peers_cursor: usize,
}

impl Replica {
    /// The state of node `me`, knowing nothing yet.
    pub fn new(me: NodeCode) -> Replica {
        Replica { me, streams: BTreeMap::new(), contacts: BTreeMap::new(), other_peers_cursor: 0 }
    }

    /// This node.
    pub fn me(&self) -> NodeCode {
        self.me
    }

    /// `node` was heard from at `now`.
    pub fn touch(&mut self, node: NodeCode, now: Duration) {
        self.contacts.insert(node, now);
    }

    /// When each peer was last heard from.
    pub fn contacts(&self) -> &BTreeMap<NodeCode, Duration> {
        &self.contacts
    }

    /// The tracked streams.
    pub fn streams(&self) -> &BTreeMap<StreamKey, StreamState> {
        &self.streams
    }

    /// The state of `key`, if tracked.
    pub fn existing(&mut self, key: &StreamKey) -> Option<&mut StreamState> {
        self.streams.get_mut(key)
    }

    /// The state of `key`, made on first use while fewer than
    /// [`STREAMS_TRACKED_MAX`] streams are tracked (states that hold
    /// nothing the store does not are dropped to make room). Every stream
    /// state is made here, and only for streams this node may see (callers
    /// check): nothing a peer sends adds state without bound.
    pub fn state(&mut self, key: &StreamKey) -> Result<&mut StreamState, &'static str> {
        if !self.streams.contains_key(key) && self.streams.len() >= STREAMS_TRACKED_MAX {
            self.streams.retain(|_, state| !state.idle());
            if self.streams.len() >= STREAMS_TRACKED_MAX {
                return Err("streams_max");
            }
        }
        Ok(self.streams.entry(key.clone()).or_default())
    }

    /// `holder` says it holds `key` up to `seq`, and this node holds
    /// `local`: a hint to ask it, kept only for a stream of an origin in
    /// the topology that this node may see and `holder` may hold, within
    /// the limits. `Ok(true)` if kept (or settled: `seq` is held),
    /// `Ok(false)` if there is nothing to note, `Err(reason)` if ignored.
    pub fn hear_claim(
        &mut self,
        world: World,
        key: &StreamKey,
        holder: NodeCode,
        seq: u64,
        local: u64,
        now: Duration,
    ) -> Result<bool, &'static str> {
        if holder == self.me || seq == 0 {
            return Ok(false);
        }
        if world.topology.node(key.0).is_none() || world.topology.node(holder).is_none() {
            return Err("unknown_node");
        }
        if !world.entitled(self.me, key.0, &key.1) {
            return Err("not_entitled");
        }
        // A claimant that may not hold the stream is never asked for it,
        // so its claim could never be refuted. A node's own streams are
        // the exception: any holder serves the origin its own stream, and
        // a node that lost its store does not know yet which groups it is
        // in.
        if key.0 != self.me && !world.entitled(holder, key.0, &key.1) {
            return Err("claimant_not_entitled");
        }
        if seq <= local {
            if let Some(state) = self.streams.get_mut(key) {
                state.claims.remove(&holder);
            }
            return Ok(true);
        }
        self.state(key)?.claim(holder, seq, now).map(|()| true)
    }

    /// A verified run `first..=last` of `key` that links to what is held
    /// (`local`, or on its way to the writer) proves its stream reaches
    /// `last`: its last event is signed and its chain covers the rest. One
    /// that does not link proves nothing yet — a signed event at seq 2^63
    /// with a made-up `prev_hash` verifies too — and counts as its
    /// origin's claim (the result of [`Self::hear_claim`]).
    pub fn prove_or_claim(
        &mut self,
        world: World,
        key: &StreamKey,
        (first, last): (u64, u64),
        local: u64,
        now: Duration,
    ) -> Result<bool, &'static str> {
        let links = match self.streams.get(key) {
            Some(state) => first <= local.max(state.submitted).max(state.proved) + 1,
            None => first <= local + 1,
        };
        if links {
            if let Some(state) = self.streams.get_mut(key) {
                state.proved = state.proved.max(last);
            }
            return Ok(true);
        }
        self.hear_claim(world, key, key.0, last, local, now)
    }

    /// Who may hold a stream, best first: the origin, nodes that said they
    /// hold it (highest claim first), this node's neighbours in the tree,
    /// then its siblings and fellow group members — those entitled to it
    /// (any of them, for this node's own streams); those heard from within
    /// [`CONTACT_FRESH`] before the others, in that order, since an origin
    /// that is away costs a request timeout each time it is asked first.
    pub fn holders(&self, world: World, key: &StreamKey, now: Duration) -> Vec<NodeCode> {
        let me = self.me;
        let mut out = vec![key.0];
        if let Some(state) = self.streams.get(key) {
            let mut known: Vec<(u64, NodeCode)> = state.claims.iter().map(|(n, s)| (*s, *n)).collect();
            known.sort_by(|a, b| b.cmp(a));
            out.extend(known.into_iter().map(|(_, n)| n));
        }
        let t = world.topology;
        if let Some(parent) = t.node(me).and_then(|n| n.parent) {
            out.push(parent);
        }
        out.extend(t.children(me).iter().copied());
        out.extend(t.province_of(me));
        out.extend(world.other_peers(me));
        let mut seen = BTreeSet::new();
        let own = key.0 == me;
        out.retain(|n| *n != me && seen.insert(*n) && (own || world.entitled(*n, key.0, &key.1)));
        let stale = |n: &NodeCode| self.contacts.get(n).is_none_or(|at| now.saturating_sub(*at) >= CONTACT_FRESH);
        out.sort_by_key(stale);
        out
    }

    /// Whom one anti-entropy round asks for their heads: the parent, the
    /// children, the province and, in turn, [`OTHER_PEERS_PER_ROUND`] of
    /// the other peers ([`World::other_peers`]).
    pub fn anti_entropy_peers(&mut self, world: World) -> Vec<NodeCode> {
        let me = self.me;
        let t = world.topology;
        let mut peers: Vec<NodeCode> = t.node(me).and_then(|n| n.parent).into_iter().collect();
        peers.extend(t.children(me).iter().copied());
        peers.extend(t.province_of(me));
        let others = world.other_peers(me);
        if !others.is_empty() {
            let start = self.other_peers_cursor;
            self.other_peers_cursor = self.other_peers_cursor.wrapping_add(OTHER_PEERS_PER_ROUND);
            peers.extend((0..OTHER_PEERS_PER_ROUND.min(others.len())).map(|i| others[(start + i) % others.len()]));
        }
        let mut seen = BTreeSet::new();
        peers.retain(|p| *p != me && seen.insert(*p));
        peers
    }

    /// What to do about `key` holding `local` ([`StreamState::behind`]);
    /// `None` for an untracked stream.
    pub fn behind(&mut self, key: &StreamKey, local: u64, gap: bool, now: Duration) -> Option<Behind> {
        self.streams.get_mut(key).map(|s| s.behind(local, gap, now))
    }

    /// The seq a pull of `key` aims at, claims at or below `local` settled.
    pub fn pull_target(&mut self, key: &StreamKey, local: u64) -> u64 {
        self.streams.get_mut(key).map_or(0, |s| {
            s.settle(local);
            s.wanted()
        })
    }

    /// A pull of `key` ended with nothing missing, or nobody extending it:
    /// the lag clock stops; a claimant not among those `asked` (it may not
    /// hold the stream) cannot prove its claim, so that claim goes.
    pub fn pull_ended(&mut self, key: &StreamKey, asked: Option<&[NodeCode]>) {
        if let Some(s) = self.streams.get_mut(key) {
            match asked {
                None => s.behind_since = None,
                Some(asked) => s.claims.retain(|n, _| asked.contains(n)),
            }
        }
    }

    /// `holder` was asked for `key` and extended nothing beyond `local`:
    /// true if that refuted a claim it made.
    pub fn unproved(&mut self, key: &StreamKey, holder: NodeCode, local: u64, now: Duration) -> bool {
        self.streams.get_mut(key).is_some_and(|s| s.refute(holder, local, now))
    }

    /// Out-of-order events waiting in every stream but `key`.
    pub fn pending_total_except(&self, key: &StreamKey) -> usize {
        self.streams.iter().filter(|(k, _)| *k != key).map(|(_, s)| s.pending_events()).sum()
    }

    /// Out-of-order events waiting in all streams.
    pub fn pending_total(&self) -> usize {
        self.streams.values().map(StreamState::pending_events).sum()
    }

    /// Keeps `runs` of `key` that could not be linked yet, within the limits.
    pub fn keep_waiting(&mut self, key: &StreamKey, runs: Vec<RemoteRun>) {
        let others = self.pending_total_except(key);
        if let Some(state) = self.streams.get_mut(key) {
            state.keep_waiting(runs, others);
        }
    }

    /// Takes the waiting runs of `key` that now link to `head`.
    pub fn take_ready(&mut self, key: &StreamKey, head: u64) -> Vec<RemoteRun> {
        let Some(state) = self.streams.get_mut(key) else { return Vec::new() };
        let seqs: Vec<u64> = state.pending.range(..=head + 1).map(|(s, _)| *s).collect();
        seqs.into_iter().filter_map(|s| state.pending.remove(&s)).collect()
    }

    /// The writer answered a pushed run of `key` ending at `last`: with
    /// `gaps` and `forks` in it, `local` now held, `waiting` handed back.
    pub fn applied(
        &mut self,
        key: &StreamKey,
        last: u64,
        (gaps, forks): (usize, usize),
        local: u64,
        waiting: Vec<RemoteRun>,
    ) {
        if let Some(state) = self.streams.get_mut(key) {
            // The newest submission answered, or a gap showed that
            // pushes alone will not fill the stream: pull what is missing.
            if state.submitted <= last || gaps > 0 {
                state.submitted = 0;
            }
            // A run that forks what is held proves nothing about this chain.
            if forks > 0 {
                state.proved = state.proved.min(local);
            }
        }
        self.keep_waiting(key, waiting);
    }
}

#[cfg(test)]
mod tests;
