//! Key layout of what sled derives from the event log: the whole of it,
//! so that no other crate knows how anything lies in sled. Everything
//! lives in one sled tree, written in an order that lets sled's recovery
//! of a prefix of its writes never claim more than it holds (the applied
//! mark last: see `crate::derive`).
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
//! | `A` | origin (6) · rule (1) · event id (16) · seq (u64 BE) · channel | nothing: an event its origin signed that breaks an envelope rule (`linkage_core::views::breach`) and so changes no view |
//! | `M` | name | node metadata: [`META_HLC`], [`META_VIEWS`], [`META_FOLD_CONTEXT`], [`META_APPLIED`], [`META_SYNCED`], [`META_REDERIVE`] |
//! | `V` | record kind (1) · `0x00` · event id (16) or `0xff` · other entity id | a block of view records from that key on (`crate::views`; keys from [`view`]) |
//!
//! Big-endian integers make sled's byte order the numeric order, so range
//! scans read positions and seqs in order.

use linkage_core::validate::{canonical_event_id, format_event_id};
use linkage_core::views::{Breach, RecordKind};
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
/// Prefix of alarms: events whose envelope breaks a rule.
pub const ALARM: u8 = b'A';
/// Key of the highest hlc issued or observed.
pub const META_HLC: &[u8] = b"Mhlc";
/// Key of the versions of the folds and of the record layout that wrote
/// the stored views (`crate::views::StoredVersion`).
pub const META_VIEWS: &[u8] = b"Mviews";
/// Key of the applied mark: position, offset and end of the last log
/// record whose indexes and views sled holds.
pub const META_APPLIED: &[u8] = b"Mapplied";
/// Key of the synced mark: position, offset and end of a log record that
/// an fdatasync is known to cover (the log's end when the store last
/// opened). Records up to it are not checked again on open.
pub const META_SYNCED: &[u8] = b"Msynced";
/// Present while a replay of the whole log, decided because sled holds
/// more than the log, is unfinished: a crash during it must not leave
/// sled's heads and keys of lost records behind.
pub const META_REDERIVE: &[u8] = b"Mrederive";
/// Key of the context the stored views were folded by
/// (`linkage_core::views::FoldContext`); absent: the default.
pub const META_FOLD_CONTEXT: &[u8] = b"Mcontext";
/// Prefix of view record blocks.
pub const VIEW: u8 = b'V';

/// Prefixes of everything sled derives from the log (fork evidence is not
/// derived: it stays).
pub const DERIVED: [u8; 8] = [EVENT, STREAM, ORIGIN, ID, HEAD, IDEMPOTENCY, VIEW, ALARM];

/// Second byte of a view key: the kind of record. These bytes are stored:
/// never change one.
fn kind_byte(kind: RecordKind) -> u8 {
    match kind {
        RecordKind::Topic => b't',
        RecordKind::Group => b'g',
        RecordKind::Info => b'i',
        RecordKind::Notice => b'n',
        RecordKind::Result => b'r',
        RecordKind::ScoreRule => b's',
        RecordKind::Member => b'm',
        RecordKind::Proposal => b'p',
        RecordKind::Calendar => b'c',
        RecordKind::Duties => b'd',
        RecordKind::IndicatorSet => b'e',
        RecordKind::Ratings => b'q',
    }
}

/// Third byte of the key of an entity whose id is an event id in its one
/// text form (`linkage_core::views::norm`): its 16 bytes follow.
const ID_BYTES: u8 = 0x00;

/// Third byte of the key of any other entity (a group, say): its id's text
/// follows. UTF-8 never holds 0xff, and keys of event ids sort first.
const ID_TEXT: u8 = 0xff;

/// Key of the record of `kind` for entity `id`. An event id is stored as
/// its 16 bytes rather than its 36 characters: sled copies and writes a
/// tree node's keys on every insert and every split, and most records are
/// keyed by event ids.
pub fn view(kind: RecordKind, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + id.len());
    key.push(VIEW);
    key.push(kind_byte(kind));
    match canonical_event_id(id) {
        Some(bytes) => {
            key.push(ID_BYTES);
            key.extend_from_slice(&bytes);
        }
        None => {
            key.push(ID_TEXT);
            key.extend_from_slice(id.as_bytes());
        }
    }
    key
}

/// Prefix of every view record of `kind`.
pub fn view_prefix(kind: RecordKind) -> [u8; 2] {
    [VIEW, kind_byte(kind)]
}

/// The kind and entity id a view record key names.
pub fn parse_view(key: &[u8]) -> Option<(RecordKind, String)> {
    let kind = RecordKind::ALL.into_iter().find(|k| key.get(..2) == Some(&view_prefix(*k)[..]))?;
    let id = match (key.get(2)?, key.get(3..)?) {
        (&ID_BYTES, bytes) => format_event_id(bytes.try_into().ok()?),
        (&ID_TEXT, text) => String::from_utf8(text.to_vec()).ok()?,
        _ => return None,
    };
    Some((kind, id))
}

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

/// Byte of an envelope rule in an alarm key. These bytes are stored:
/// never change one.
fn breach_byte(rule: Breach) -> u8 {
    match rule {
        Breach::IdNotOrigin => b'i',
        Breach::GroupNotOrigin => b'g',
        Breach::MembershipNotAuthorized => b'm',
        Breach::TaskNotByLead => b'k',
        Breach::TopicNotOwn => b't',
        Breach::AdoptionNotOwnLevel => b'a',
        Breach::AssigneeNotMember => b'n',
        Breach::SubReportNotByAssignee => b's',
        Breach::ReminderNotByIssuer => b'r',
        Breach::HandlingNotOnChain => b'c',
        Breach::InstructionNotOwnLevel => b'l',
        Breach::MergeNotIntoOwn => b'o',
        Breach::ScoreRuleNotByProvince => b'p',
        Breach::MemberNotOwn => b'w',
        Breach::RatingNotByProposer => b'v',
        Breach::RulesNotByProvince => b'h',
        Breach::SelfEvaluation => b'x',
        Breach::NotOnAll => b'y',
    }
}

/// Key of the alarm that event `id` of `origin`, at `seq` of `channel`,
/// breaks `rule`. Where the event is belongs in the key: an origin that
/// reuses an id gets one alarm per event.
pub fn alarm(origin: NodeCode, rule: Breach, id: &[u8; 16], channel: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + NodeCode::LEN + 16 + 8 + channel.len());
    key.push(ALARM);
    key.extend_from_slice(origin.as_str().as_bytes());
    key.push(breach_byte(rule));
    key.extend_from_slice(id);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(channel.as_bytes());
    key
}

/// Splits an alarm key into origin, rule, event id, channel and seq.
pub fn parse_alarm(key: &[u8]) -> Option<(NodeCode, Breach, [u8; 16], String, u64)> {
    let origin = NodeCode::from_bytes(key.get(1..1 + NodeCode::LEN)?)?;
    let byte = *key.get(1 + NodeCode::LEN)?;
    let rule = Breach::ALL.into_iter().find(|r| breach_byte(*r) == byte)?;
    let at = 2 + NodeCode::LEN;
    let id = key.get(at..at + 16)?.try_into().ok()?;
    let seq = be_u64(key.get(at + 16..)?)?;
    let channel = std::str::from_utf8(key.get(at + 24..)?).ok()?.to_owned();
    Some((origin, rule, id, channel, seq))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn view_keys_name_their_id_and_keep_the_order_of_event_ids(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), text in "\\PC{0,40}") {
            let (a, b) = (format_event_id(&a), format_event_id(&b));
            let (ka, kb) = (view(RecordKind::Info, &a), view(RecordKind::Info, &b));
            prop_assert_eq!(ka.len(), 19);
            prop_assert_eq!(parse_view(&ka), Some((RecordKind::Info, a.clone())));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            // Any other id keeps its text and never meets an event id's key.
            let other = view(RecordKind::Group, &text);
            prop_assert_eq!(parse_view(&other), Some((RecordKind::Group, text.clone())));
            if canonical_event_id(&text).is_none() {
                prop_assert_ne!(view(RecordKind::Info, &text), ka);
            }
            // Upper case is another text, not the event id.
            let upper = a.to_uppercase();
            prop_assert_eq!(parse_view(&view(RecordKind::Info, &upper)), Some((RecordKind::Info, upper)));
        }
    }

    #[test]
    fn the_stored_bytes_of_each_kind_stay_what_they_were() {
        // Stores written before hold these bytes: a change would hide
        // every record until a rebuild.
        let bytes: Vec<[u8; 2]> = RecordKind::ALL.into_iter().map(view_prefix).collect();
        assert_eq!(
            bytes,
            [*b"Vt", *b"Vg", *b"Vi", *b"Vn", *b"Vr", *b"Vs", *b"Vm", *b"Vp", *b"Vc", *b"Vd", *b"Ve", *b"Vq"]
        );
    }
}
