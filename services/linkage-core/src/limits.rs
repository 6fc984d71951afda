//! Every size limit in one place. A request over any of them is refused with
//! `INVALID_ARGUMENT` naming the field; nothing is written.

/// Largest encoded event, signature included. Keeps every sled value far
/// below sled's blob threshold (so one fsync of the data file covers it) and
/// every NATS message far below the server's 1 MiB default `max_payload`.
pub const EVENT_BYTES_MAX: usize = 64 * 1024;

/// Titles, names and other one-line texts: room for a long Chinese title.
pub const TITLE_CHARS_MAX: usize = 200;

/// Comments, feedback and instructions: a few paragraphs.
pub const TEXT_CHARS_MAX: usize = 2_000;

/// Bodies of 社情民意 items and notices, which run to a few pages. At most
/// 3 bytes a character in UTF-8, so 20,000 characters stay under
/// [`EVENT_BYTES_MAX`].
pub const BODY_CHARS_MAX: usize = 20_000;

/// Attachment references (URIs or document numbers).
pub const ATTACHMENT_CHARS_MAX: usize = 500;

/// Refs, members, topic ids, attachments and other lists in one event.
pub const LIST_ITEMS_MAX: usize = 64;

/// A client's idempotency key: a UUID or a platform's own request id fits.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 128;

/// A joint group's id, which becomes part of a channel name and a NATS
/// subject token.
pub const GROUP_ID_CHARS_MAX: usize = 64;

/// Events in one `AppendBatch`, and in one group commit. Bounds the time one
/// commit holds the writer and the memory of one request.
pub const BATCH_EVENTS_MAX: usize = 1_000;

/// Page size used when a request leaves `page_size` at 0.
pub const PAGE_SIZE_DEFAULT: usize = 100;

/// Largest page a read returns: bounds one response to about 64 MiB at
/// [`EVENT_BYTES_MAX`], under tonic's decode limits once raised by the node.
pub const PAGE_SIZE_MAX: usize = 1_000;

/// Nodes in one topology. Gansu has 101; the whole country has about 3,200.
pub const TOPOLOGY_NODES_MAX: usize = 10_000;

/// Earlier keys the topology lists for one node (rotations whose old
/// key still verifies what it signed).
pub const RETIRED_KEYS_MAX: usize = 8;

/// Streams one `until` or `ejected_from` table names: a node's `up`,
/// `down`, `all`, its groups and one `to:` per peer.
pub const SEQ_BOUNDS_MAX: usize = 2 * TOPOLOGY_NODES_MAX;

/// A node's name in the topology.
pub const NODE_NAME_CHARS_MAX: usize = 64;

/// Years a plan or topic may name; anything else is a typo.
pub const YEAR_MIN: u32 = 2000;
/// See [`YEAR_MIN`].
pub const YEAR_MAX: u32 = 2100;

/// Entries in a score rule's points lists: an adoption or 批示 at the
/// submitter's own level, one, two or three levels above.
pub const SCORE_DISTANCES: usize = 4;

/// Most of one kind a duty may ask of a member in a year.
pub const DUTY_COUNT_MAX: u32 = 12;

/// Points one adoption or 批示 can earn under a score rule. An item scores
/// each level once (`views::score`), so a committee's total stays far
/// within u64; sums saturate all the same.
pub const SCORE_POINTS_MAX: u32 = 10_000;

/// Characters of a member's name (委员姓名).
pub const MEMBER_NAME_CHARS_MAX: usize = 64;
