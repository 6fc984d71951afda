//! The bounds of what a peer can make a node hold or do, and the names
//! of what the replica handles.

use crate::channel::Channel;
use crate::code::NodeCode;
use crate::verify::Parsed;
use std::time::Duration;

/// A verified run of consecutive events of one remote stream, with the
/// bytes as received.
pub type RemoteRun = Vec<(Parsed, bytes::Bytes)>;

/// A stream: its origin and channel.
pub type StreamKey = (NodeCode, Channel);

/// Out-of-order events one stream may hold back waiting for a gap to fill;
/// beyond this they are dropped and pulled again later.
pub const PENDING_EVENTS_MAX: usize = 20_000;

/// Out-of-order events all streams together may hold back (about 100 MB
/// at the largest events, far less at usual ones).
pub const PENDING_EVENTS_TOTAL_MAX: usize = 100_000;

/// How long a stream counts as live after a push with events arrived. A
/// heads announcement (or a neighbour's heads) ahead of what a live stream
/// holds names events that are most likely still on their way in pushes
/// (queued in NATS or in this node's inbox while it is busy): a pull for
/// them waits this long first, and is dropped if the pushes fill the
/// stream. Pulling at once fetched them twice: during the fan-in bench the
/// province stored 60,000 events and received 17,000–24,000 duplicates.
/// A lost push is still noticed: a later push then leaves a gap, which is
/// pulled at once, and a stream whose pushes stop is no longer live.
pub const LIVE_PUSH_GRACE: Duration = Duration::from_millis(300);

/// Streams this node keeps replication state for (held ones included):
/// what peers' claims and pushes can make it remember. Claims about
/// streams this node may not see, or of origins outside the topology, and
/// pushes of streams it may not see, are ignored before they count here.
pub const STREAMS_TRACKED_MAX: usize = 16_384;

/// Claimants remembered per stream (the origin, holders that said so).
pub const CLAIMS_PER_STREAM_MAX: usize = 32;

/// Heads read from one answer to a heads request.
pub const HEADS_PER_ANSWER_MAX: usize = 4_096;

/// How long a peer whose claim about a stream was not proved (asked, it
/// sent nothing that extends what is held) is not believed about that
/// stream again: at most one pull per peer and stream this often.
pub const UNPROVED_CLAIM_BACKOFF: Duration = Duration::from_secs(10);

/// Peers beyond the usual ones (parent, children, province) that one
/// anti-entropy round asks, in turn: siblings and fellow members of this
/// node's groups, who hold streams the usual ones may not (a city's `down`
/// when the city is away; a group's stream across cities).
pub const OTHER_PEERS_PER_ROUND: usize = 4;

/// A peer heard from within this long is asked for a stream before those
/// that were not.
pub const CONTACT_FRESH: Duration = Duration::from_secs(10);
