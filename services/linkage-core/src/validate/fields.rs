//! Checks of single fields: ids, texts, lists, years, times, codes.

use crate::channel::GroupId;
use crate::code::NodeCode;
use crate::error::{invalid, AppendError};
use crate::ids::parse_event_id;
use crate::ids::EVENT_ID_CHARS;
use crate::limits::*;
use crate::topology::Topology;

/// A member id (`crate::members`).
pub(super) fn check_member_id(field: &str, id: &str) -> Result<(), AppendError> {
    id.parse::<crate::members::MemberId>().map(drop).map_err(|why| invalid(field, why))
}

/// Checks an event id: the text form of a UUID, as the node issues them.
pub fn check_event_id(field: &str, id: &str) -> Result<(), AppendError> {
    parse_event_id(id).map(|_| ()).ok_or_else(|| invalid(field, "must be an event id (a UUID such as 0190b6c8-…)"))
}

/// Formats 16 id bytes as the canonical lower-case UUID text.
pub fn format_event_id(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(EVENT_ID_CHARS);
    for (i, byte) in bytes.iter().enumerate() {
        if [4, 6, 8, 10].contains(&i) {
            text.push('-');
        }
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 0xf)] as char);
    }
    text
}

/// The bytes of `id` if it is an event id in its one text form (lower-case
/// hex in the 8-4-4-4-12 pattern), else `None`: an id in another case is
/// another text. Every fold step asks, so it allocates nothing.
pub fn canonical_event_id(id: &str) -> Option<[u8; 16]> {
    if id.len() != EVENT_ID_CHARS {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = 0;
    for (i, b) in id.bytes().enumerate() {
        let nibble = match (i, b) {
            (8 | 13 | 18 | 23, b'-') => continue,
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => b - b'0',
            (_, b'a'..=b'f') => b - b'a' + 10,
            _ => return None,
        };
        out[nibbles / 2] |= nibble << (4 * (1 - nibbles % 2));
        nibbles += 1;
    }
    Some(out)
}

pub(super) fn check_chars(field: &str, value: &str, max: usize) -> Result<(), AppendError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(invalid(field, format!("must be 1..={max} characters, got {n}")));
    }
    Ok(())
}

pub(super) fn check_optional_chars(field: &str, value: &str, max: usize) -> Result<(), AppendError> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

pub(super) fn check_list<T>(field: &str, items: &[T]) -> Result<(), AppendError> {
    if items.len() > LIST_ITEMS_MAX {
        return Err(invalid(field, format!("at most {LIST_ITEMS_MAX} items, got {}", items.len())));
    }
    Ok(())
}

pub(super) fn check_year(field: &str, year: u32) -> Result<(), AppendError> {
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Err(invalid(field, format!("must be a year in {YEAR_MIN}..={YEAR_MAX}, got {year}")));
    }
    Ok(())
}

/// A timestamp in 0001-01-01 ..= 9999-12-31: the one range appends and
/// queries accept.
pub fn check_timestamp(field: &str, ts: &prost_types::Timestamp) -> Result<(), AppendError> {
    // 0001-01-01 .. 9999-12-31, as google.protobuf.Timestamp defines.
    const SECONDS_MIN: i64 = -62_135_596_800;
    const SECONDS_MAX: i64 = 253_402_300_799;
    if !(SECONDS_MIN..=SECONDS_MAX).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid(field, "must be a valid timestamp between years 1 and 9999"));
    }
    Ok(())
}

pub(super) fn require_timestamp(field: &str, ts: &Option<prost_types::Timestamp>) -> Result<(), AppendError> {
    match ts {
        None => Err(invalid(field, "is required")),
        Some(ts) => check_timestamp(field, ts),
    }
}

pub(super) fn check_code(topology: &Topology, field: &str, code: &str) -> Result<(), AppendError> {
    let code: NodeCode = code.parse().map_err(|e| invalid(field, format!("{e}")))?;
    if !topology.contains(code) {
        return Err(invalid(field, format!("{code} names no node of the topology")));
    }
    Ok(())
}

/// A group's member `code` (valid, of the topology) is of the province of
/// `lead`, the committee whose code begins the group's id: a group stays
/// within its province (`channel::entitled`), and joint work across
/// provinces goes on a federation's channel.
pub(super) fn check_member_province(
    topology: &Topology,
    field: &str,
    code: &str,
    lead: &str,
) -> Result<(), AppendError> {
    let (Ok(code), Ok(lead)) = (code.parse::<NodeCode>(), lead.parse::<NodeCode>()) else { return Ok(()) };
    match (topology.province_of(lead), topology.province_of(code)) {
        (None, _) => Err(invalid(field, format!("{lead} is in no province: a group is led within a province"))),
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(invalid(
            field,
            format!("{code} is not of {lead}'s province: a group stays within a province; work across provinces goes on fed:<name>"),
        )),
    }
}

pub(super) fn check_group(field: &str, id: &str) -> Result<(), AppendError> {
    id.parse::<GroupId>().map(|_| ()).map_err(|why| invalid(field, why))
}

pub(super) fn check_ids(field: &str, ids: &[String], min: usize) -> Result<(), AppendError> {
    check_list(field, ids)?;
    if ids.len() < min {
        return Err(invalid(field, format!("needs at least {min} event ids")));
    }
    for (i, id) in ids.iter().enumerate() {
        check_event_id(&format!("{field}[{i}]"), id)?;
    }
    Ok(())
}

pub(super) fn check_texts(field: &str, items: &[String], max: usize) -> Result<(), AppendError> {
    check_list(field, items)?;
    for (i, item) in items.iter().enumerate() {
        check_chars(&format!("{field}[{i}]"), item, max)?;
    }
    Ok(())
}
