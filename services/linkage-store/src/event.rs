//! The store's data: events as read back with their local position, and
//! everything one commit writes. Plain types with no behaviour, below every
//! layer that reads or writes them.

use linkage_core::ledger::{Head, KeyRecord};
use linkage_core::{Channel, NodeCode};
use std::collections::BTreeMap;

/// An event as stored, with its local position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Local position.
    pub position: u64,
    /// The stored bytes, exactly as the origin signed them.
    pub raw: sled::IVec,
    /// The principal whose request appended it here (this node's audit,
    /// never replicated); `None` for a replicated event.
    pub appended_by: Option<String>,
}

/// One event a commit writes, local or remote.
#[derive(Clone, Debug)]
pub struct WriteEvent {
    /// Local position.
    pub position: u64,
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// Seq in (origin, channel).
    pub seq: u64,
    /// Event id.
    pub id: [u8; 16],
    /// Stored bytes: a local event's as the commit built them, a remote
    /// one's as a slice of the message that brought it.
    pub raw: bytes::Bytes,
    /// The principal whose request appended a local event, for the log.
    pub appended_by: Option<String>,
    /// The event decoded, when the caller has it: the views fold it
    /// without decoding `raw` again.
    pub decoded: Option<linkage_core::pb::Event>,
}

/// An event its origin signed whose envelope breaks a rule
/// (`linkage_core::views::breach`): held and relayed, but in no view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmRecord {
    /// The origin that signed it.
    pub origin: NodeCode,
    /// The rule it breaks.
    pub rule: linkage_core::views::Breach,
    /// Its id.
    pub event_id: [u8; 16],
    /// Where it is in its stream.
    pub channel: String,
    /// Its seq.
    pub seq: u64,
}

/// Two different events at one (origin, channel, seq): evidence of a fork.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkRecord {
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// The seq both claim.
    pub seq: u64,
    /// The event this node holds.
    pub kept: Vec<u8>,
    /// The other one.
    pub other: Vec<u8>,
}

/// Everything one commit writes.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    /// New events in position order.
    pub events: Vec<WriteEvent>,
    /// New stream heads.
    pub heads: BTreeMap<(NodeCode, Channel), Head>,
    /// New idempotency records.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Fork evidence.
    pub forks: Vec<ForkRecord>,
    /// Highest hlc issued or observed.
    pub hlc_last: u64,
}

impl WriteSet {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.forks.is_empty()
    }
}

/// The head of one (origin, channel) stream held here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHeadInfo {
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// Highest contiguous seq held.
    pub seq: u64,
}
