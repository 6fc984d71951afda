//! Key layout of what sled derives from the event log ([`crate::log`]).
//! Everything lives in one sled tree so that one `apply_batch` writes a
//! commit's indexes, heads and views atomically, with the applied mark
//! that says how far into the log they reach.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `E` | first position of a commit (u64 BE) | each of its records' offset (u64 BE) and length (u32 BE) in the log |
//! | `S` | origin (6) · channel · `0x00` · first seq (u64 BE) | positions (u64 BE each) of the run of seqs from there written by one commit |
//! | `O` | origin (6) · channel · `0x00` · first origin position (u64 BE) | (origin position, position) pairs (u64 BE each) of the remote events of one stream one commit wrote, found by their ids (`linkage_core::ids::embedded_origin`) |
//! | `I` | event id (16 bytes) | position — only for ids that name neither their own position nor their origin's (`linkage_core::ids`) |
//! | `H` | origin (6) · channel | head seq (u64 BE) · hash of that event (32) |
//! | `K` | idempotency key | digest (32) · position (u64 BE) |
//! | `F` | origin (6) · channel · `0x00` · seq (u64 BE) · hash prefix (8) | kept len (u64 BE) · kept · other |
//! | `M` | name | node metadata (last hlc, views version, applied mark …) |
//! | `V` | record kind (1) · `0x00` · event id (16) or `0xff` · other entity id | a block of view records from that key on (`crate::views`; keys from `linkage_core::views::key`) |
//!
//! Big-endian integers make sled's byte order the numeric order, so range
//! scans read positions and seqs in order.

use linkage_core::NodeCode;

/// Prefix of the log index by position.
pub const EVENT: u8 = b'E';
/// Prefix of the (origin, channel, seq) index.
pub const STREAM: u8 = b'S';
/// Prefix of the id index of events whose ids name no origin position.
pub const ID: u8 = b'I';
/// Prefix of the origin-position index of remote events.
pub const ORIGIN: u8 = b'O';
/// Prefix of stream heads.
pub const HEAD: u8 = b'H';
/// Prefix of idempotency records.
pub const IDEMPOTENCY: u8 = b'K';
/// Prefix of fork evidence.
pub const FORK: u8 = b'F';
/// Key of the highest hlc issued or observed.
pub const META_HLC: &[u8] = b"Mhlc";

/// Key of the log-index run that starts at `position`.
pub fn event(position: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// Prefix of one stream's entries in the seq index (and its head key).
pub fn stream_prefix(prefix: u8, origin: NodeCode, channel: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + NodeCode::LEN + channel.len() + 9);
    key.push(prefix);
    key.extend_from_slice(origin.as_bytes());
    key.extend_from_slice(channel.as_bytes());
    key
}

/// Key of (origin, channel, seq) in the seq index.
pub fn stream(origin: NodeCode, channel: &str, seq: u64) -> Vec<u8> {
    let mut key = stream_prefix(STREAM, origin, channel);
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Key of the origin-position run of (origin, channel) that starts at
/// origin position `first`.
pub fn origin_run(origin: NodeCode, channel: &str, first: u64) -> Vec<u8> {
    let mut key = stream_prefix(ORIGIN, origin, channel);
    key.push(0);
    key.extend_from_slice(&first.to_be_bytes());
    key
}

/// Key of a stream's head.
pub fn head(origin: NodeCode, channel: &str) -> Vec<u8> {
    stream_prefix(HEAD, origin, channel)
}

/// Splits a head key back into origin and channel.
pub fn parse_head(key: &[u8]) -> Option<(NodeCode, String)> {
    let origin = NodeCode::from_bytes(key.get(1..1 + NodeCode::LEN)?)?;
    let channel = std::str::from_utf8(key.get(1 + NodeCode::LEN..)?).ok()?;
    Some((origin, channel.to_owned()))
}

/// Key of an event id.
pub fn id(id: &[u8; 16]) -> [u8; 17] {
    let mut key = [ID; 17];
    key[1..].copy_from_slice(id);
    key
}

/// Key of an idempotency record.
pub fn idempotency(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(IDEMPOTENCY);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Reads a big-endian u64 from the start of a value.
pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Key of a fork record.
pub fn fork(origin: NodeCode, channel: &str, seq: u64, other_hash: &[u8; 32]) -> Vec<u8> {
    let mut key = stream_prefix(FORK, origin, channel);
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&other_hash[..8]);
    key
}

/// Splits a fork key into origin, channel and seq.
pub fn parse_fork(key: &[u8]) -> Option<(NodeCode, String, u64)> {
    let origin = NodeCode::from_bytes(key.get(1..1 + NodeCode::LEN)?)?;
    let rest = key.get(1 + NodeCode::LEN..)?;
    let zero = rest.iter().position(|b| *b == 0)?;
    let channel = std::str::from_utf8(&rest[..zero]).ok()?.to_owned();
    let seq = be_u64(rest.get(zero + 1..)?)?;
    Some((origin, channel, seq))
}
