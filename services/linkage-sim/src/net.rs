//! The simulated network: messages delivered at virtual times, with
//! drops, duplicates, reordering (random delay) and partitions.

use crate::rng::Rng;
use bytes::Bytes;
use linkage_core::{Channel, NodeCode};
use std::collections::{BTreeSet, BinaryHeap};

/// A message between nodes.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A run of an origin's stream (empty: a heads announcement).
    Push { origin: NodeCode, channel: Channel, head_seq: u64, events: Vec<Bytes> },
    /// Events of a stream from a seq.
    Pull { id: u64, origin: NodeCode, channel: Channel, from_seq: u64 },
    /// The answer to a pull.
    Page { id: u64, events: Vec<Bytes> },
    /// Heads of the streams the asker may see (of `origin` only, when set).
    Heads { id: u64, origin: Option<NodeCode> },
    /// Who holds the asker's streams: to every node.
    Who { id: u64 },
    /// An answer to `Heads` or `Who`, naming the node it says it is.
    HeadsAnswer { id: u64, named: NodeCode, heads: Vec<(NodeCode, Channel, u64)> },
}

/// A message on its way.
#[derive(Debug)]
pub struct Delivery {
    /// When it arrives, in virtual ms.
    pub at: u64,
    /// Tie-break: the order it was sent in.
    pub n: u64,
    /// Sender (the subject pins it: a node can only send as itself).
    pub from: NodeCode,
    /// Receiver.
    pub to: NodeCode,
    /// What.
    pub msg: Msg,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.n) == (other.at, other.n)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.n).cmp(&(self.at, self.n))
    }
}

/// Fault rates; all zero once the faults stop.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Probability a message is lost.
    pub drop: f64,
    /// Probability a message arrives twice.
    pub duplicate: f64,
    /// Extra random delay, ms, reordering messages.
    pub jitter_ms: u64,
}

/// Messages in flight.
#[derive(Default)]
pub struct Network {
    queue: BinaryHeap<Delivery>,
    sent: u64,
    /// Pairs that cannot reach each other (both directions).
    pub cut: BTreeSet<(NodeCode, NodeCode)>,
    /// Current fault rates.
    pub faults: Faults,
    /// Counts: dropped, duplicated, cut off.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
    /// When a question, answer, pull or page between two nodes was lost,
    /// by pair (low code first).
    pub losses: std::collections::BTreeMap<(NodeCode, NodeCode), Vec<u64>>,
    /// Messages and bytes each node sent and received, when counting
    /// (`make sim-national`).
    pub traffic: Option<std::collections::BTreeMap<NodeCode, Traffic>>,
}

/// What one node sent and received.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub sent_msgs: u64,
    pub sent_bytes: u64,
    pub received_msgs: u64,
    pub received_bytes: u64,
}

/// About the bytes `msg` takes on the wire: its events, heads and ids,
/// and a subject's worth of header.
pub fn wire_bytes(msg: &Msg) -> u64 {
    const HEADER: u64 = 48;
    let events = |e: &[Bytes]| e.iter().map(|b| b.len() as u64).sum::<u64>();
    HEADER
        + match msg {
            Msg::Push { events: e, .. } => 24 + events(e),
            Msg::Page { events: e, .. } => 8 + events(e),
            Msg::Pull { .. } => 32,
            Msg::Heads { .. } | Msg::Who { .. } => 16,
            Msg::HeadsAnswer { heads, .. } => 16 + 24 * heads.len() as u64,
        }
}

impl Network {
    /// Sends `msg` at `now`: it arrives 1 ms later plus jitter, unless
    /// lost.
    pub fn send(&mut self, rng: &mut Rng, now: u64, from: NodeCode, to: NodeCode, msg: Msg) {
        let pair = (from.min(to), from.max(to));
        // What a restore depends on: questions, answers, pulls and pages.
        let asking = !matches!(msg, Msg::Push { .. });
        if self.cut.contains(&pair) {
            self.partitioned += 1;
            if asking {
                self.losses.entry(pair).or_default().push(now);
            }
            return;
        }
        if rng.chance(self.faults.drop) {
            self.dropped += 1;
            if asking {
                self.losses.entry(pair).or_default().push(now);
            }
            return;
        }
        if let Some(traffic) = &mut self.traffic {
            let bytes = wire_bytes(&msg);
            let sender = traffic.entry(from).or_default();
            sender.sent_msgs += 1;
            sender.sent_bytes += bytes;
            let receiver = traffic.entry(to).or_default();
            receiver.received_msgs += 1;
            receiver.received_bytes += bytes;
        }
        let copies = if rng.chance(self.faults.duplicate) { 2 } else { 1 };
        self.duplicated += copies - 1;
        for _ in 0..copies {
            let jitter = if self.faults.jitter_ms > 0 { rng.below(self.faults.jitter_ms) } else { 0 };
            self.sent += 1;
            self.queue.push(Delivery { at: now + 1 + jitter, n: self.sent, from, to, msg: msg.clone() });
        }
    }

    /// The next delivery due at or before `until`.
    pub fn next_before(&mut self, until: u64) -> Option<Delivery> {
        if self.queue.peek().is_some_and(|d| d.at <= until) {
            self.queue.pop()
        } else {
            None
        }
    }

    /// Whether a message between `a` and `b` was lost at or after `since`.
    pub fn lost_since(&self, a: NodeCode, b: NodeCode, since: u64) -> bool {
        self.losses.get(&(a.min(b), a.max(b))).is_some_and(|times| times.last().is_some_and(|t| *t >= since))
    }

    /// Cuts or heals the link between two nodes.
    pub fn set_cut(&mut self, a: NodeCode, b: NodeCode, cut: bool) {
        let pair = (a.min(b), a.max(b));
        if cut {
            self.cut.insert(pair);
        } else {
            self.cut.remove(&pair);
        }
    }
}
