//! A node's store in memory: a log that loses its unsynced tail on a
//! crash, the streams it holds, fork evidence, the views and group
//! membership folded from it. The real store keeps its own crash tests;
//! this one keeps the same rules: a remote event is stored only if it
//! extends the head of its stream, byte for byte as received.

use bytes::Bytes;
use linkage_core::groups::Groups;
use linkage_core::hlc::HlcClock;
use linkage_core::replica::{RemoteRun, StreamKey};
use linkage_core::views::{self, RecordMap};
use linkage_core::{pb, wire};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

/// What applying runs did (the real writer's `ApplyReport`).
#[derive(Debug, Default)]
pub struct Applied {
    /// Events stored.
    pub applied: usize,
    /// Events held already.
    pub duplicates: usize,
    /// Events contradicting what is held.
    pub forks: usize,
    /// Events beyond a gap.
    pub gaps: usize,
    /// Those, handed back.
    pub waiting: Vec<RemoteRun>,
}

/// One node's durable state and what is folded from it.
#[derive(Default)]
pub struct Store {
    /// Every stored event, in the order stored.
    pub log: Vec<(StreamKey, Bytes)>,
    /// How much of the log is synced (survives a crash).
    pub synced: usize,
    /// Events per stream, seq 1 first.
    pub streams: BTreeMap<StreamKey, Vec<Bytes>>,
    /// (stream, seq) at which a different signed content was offered.
    pub forks: BTreeSet<(StreamKey, u64)>,
    /// The views.
    pub records: RecordMap,
    /// Group membership.
    pub groups: Groups,
    /// The hybrid logical clock.
    pub clock: HlcClock,
    /// Remote hlcs not observed (too far ahead).
    pub clock_ahead: u64,
    /// The data dir's marker of a restore not finished (the node's
    /// `RESTORING`): it survives a crash.
    pub restoring: bool,
}

impl Store {
    /// The head seq of a stream.
    pub fn head(&self, key: &StreamKey) -> u64 {
        self.streams.get(key).map_or(0, |s| s.len() as u64)
    }

    /// Stores one event that extends its stream (checked by the caller),
    /// and folds it.
    pub fn push(&mut self, key: StreamKey, raw: Bytes, now_ms: u64, remote: bool) {
        let event = pb::Event::decode(raw.as_ref()).expect("stored events decode");
        if remote && !self.clock.observe_within(event.hlc, now_ms) {
            self.clock_ahead += 1;
        }
        views::apply(&event, &mut self.records);
        self.groups.observe(&event);
        self.streams.entry(key.clone()).or_default().push(raw.clone());
        self.log.push((key, raw));
    }

    /// Applies verified runs: what extends a head is stored, what is held
    /// is a duplicate or a fork, what lies beyond a gap waits.
    pub fn apply(&mut self, runs: Vec<RemoteRun>, now_ms: u64) -> Applied {
        let mut out = Applied::default();
        for run in runs {
            let mut rest = run.into_iter();
            while let Some((p, raw)) = rest.next() {
                let key = (p.origin, p.channel.clone());
                let head = self.head(&key);
                if p.seq <= head {
                    let held = &self.streams[&key][p.seq as usize - 1];
                    if *held == raw {
                        out.duplicates += 1;
                    } else if wire::split_signature(&raw).is_ok_and(|(_, s)| s.is_some()) {
                        // Evidence only of two different signed contents.
                        self.forks.insert((key, p.seq));
                        out.forks += 1;
                    }
                    continue;
                }
                if p.seq > head + 1 {
                    let mut waiting = vec![(p, raw)];
                    waiting.extend(rest.by_ref());
                    out.gaps += waiting.len();
                    out.waiting.push(waiting);
                    break;
                }
                let links = match (head, p.prev_hash) {
                    (0, None) => true,
                    (h, Some(prev)) if h > 0 => wire::hash(&self.streams[&key][h as usize - 1]) == prev,
                    _ => false,
                };
                if !links {
                    self.forks.insert((key, p.seq));
                    out.forks += 1;
                    break;
                }
                self.push(key, raw, now_ms, true);
                out.applied += 1;
            }
        }
        out
    }

    /// A crash at wall time `now_ms`: the unsynced tail is lost; the
    /// views, membership and clock are made again from what is left.
    pub fn crash(&mut self, now_ms: u64) {
        self.log.truncate(self.synced);
        let log = std::mem::take(&mut self.log);
        let forks = std::mem::take(&mut self.forks);
        *self = Store { forks, restoring: self.restoring, ..Store::default() };
        for (key, raw) in log {
            // Recovery observes stored hlcs within the skew, as the real one.
            self.push(key, raw, now_ms, true);
        }
        self.synced = self.log.len();
        self.clock_ahead = 0;
    }

    /// The store put back from an older backup: the log up to `keep`
    /// records, or less, to the last commit boundary before (where each
    /// own stream ends with a signed event, as a backup of the real log
    /// does), everything derived from it again.
    pub fn roll_back(&mut self, me: linkage_core::NodeCode, keep: usize, now_ms: u64) {
        let mut keep = keep.min(self.synced);
        let signed = |raw: &Bytes| wire::peek(raw).is_ok_and(|p| p.signed);
        let mut open: BTreeSet<StreamKey> = BTreeSet::new();
        for (key, raw) in self.log[..keep].iter().filter(|(k, _)| k.0 == me) {
            if signed(raw) {
                open.remove(key);
            } else {
                open.insert(key.clone());
            }
        }
        while !open.is_empty() && keep > 0 {
            keep -= 1;
            let (key, _) = &self.log[keep];
            if key.0 == me {
                // Cut before a run's event: whether that stream still
                // ends unsigned is decided by the events before it.
                let before = self.log[..keep].iter().rev().find(|(k, _)| k == key);
                if before.is_none_or(|(_, raw)| signed(raw)) {
                    open.remove(key);
                } else {
                    open.insert(key.clone());
                }
            }
        }
        self.synced = keep;
        self.crash(now_ms);
    }

    /// The views folded again from the log in (origin, channel, seq)
    /// order: the same dump whatever the order events arrived in.
    pub fn refolded(&self) -> RecordMap {
        let mut records = RecordMap::new();
        for events in self.streams.values() {
            for raw in events {
                views::apply(&pb::Event::decode(raw.as_ref()).expect("decodes"), &mut records);
            }
        }
        records
    }
}
