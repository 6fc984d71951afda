//! Event ids: UUIDv7 whose random bits are the origin's code and the
//! event's position in the origin's log.
//!
//! Layout (RFC 9562 UUIDv7): 48 bits Unix milliseconds (the event's hlc),
//! version 7, 12 bits of the hlc's logical counter, variant `10`, then 62
//! bits: the origin's code (20 bits) and the origin's local position (42
//! bits). Unique without randomness (a node never reuses a position), time
//! ordered, and — the reason for the layout — a node finds its own events by
//! id without an index entry per event: the id names the position.

use crate::code::NodeCode;

/// Bits of the position in an id.
const POSITION_BITS: u32 = 42;

/// The id of an event the origin stores at `position`, stamped `hlc`.
pub fn event_id(origin: NodeCode, hlc: u64, position: u64) -> [u8; 16] {
    debug_assert!(position < 1 << POSITION_BITS, "positions fit 42 bits");
    let ms = crate::hlc::physical_ms(hlc);
    let logical = hlc & 0xfff;
    let code: u64 = origin.as_str().parse().expect("a node code is six digits");
    let high = (ms << 16) | (0x7 << 12) | logical;
    let low = (0b10 << 62) | (code << POSITION_BITS) | (position & ((1 << POSITION_BITS) - 1));
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    id
}

/// The position an id names, if it has this layout. A reader must check
/// that the event stored there has this id: remote events live elsewhere.
pub fn embedded_position(id: &[u8; 16]) -> Option<u64> {
    let high = u64::from_be_bytes(id[..8].try_into().expect("8 bytes"));
    let low = u64::from_be_bytes(id[8..].try_into().expect("8 bytes"));
    let version = (high >> 12) & 0xf;
    let variant = low >> 62;
    (version == 7 && variant == 0b10).then_some(low & ((1 << POSITION_BITS) - 1))
}

/// The origin and the origin's position an id names, if it has this
/// layout: where a node that holds the event as a remote one finds it.
pub fn embedded_origin(id: &[u8; 16]) -> Option<(NodeCode, u64)> {
    let position = embedded_position(id)?;
    let low = u64::from_be_bytes(id[8..].try_into().expect("8 bytes"));
    let code = (low >> POSITION_BITS) & ((1 << (62 - POSITION_BITS)) - 1);
    if code >= 1_000_000 {
        return None;
    }
    let mut digits = [b'0'; NodeCode::LEN];
    let mut rest = code;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    Some((NodeCode::from_bytes(&digits)?, position))
}

/// Where the text of an event id has its dashes: 8-4-4-4-12 hex digits.
pub(crate) const EVENT_ID_DASHES: [usize; 4] = [8, 13, 18, 23];

/// Characters of an event id's text.
pub(crate) const EVENT_ID_CHARS: usize = 36;

/// Parses an event id to its 16 bytes (the store's key). Every replicated
/// event's id is parsed on arrival, so this allocates nothing.
pub fn parse_event_id(id: &str) -> Option<[u8; 16]> {
    let text = id.as_bytes();
    if text.len() != EVENT_ID_CHARS || EVENT_ID_DASHES.iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut digits = text.iter().enumerate().filter(|(i, _)| !EVENT_ID_DASHES.contains(i)).map(|(_, c)| c);
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        let (high, low) = (digits.next()?, digits.next()?);
        *byte = (hex_value(*high)? << 4) | hex_value(*low)?;
    }
    Some(bytes)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ids_name_their_position_and_order_by_time(code in 100_000u32..999_999, hlc in 0u64..1 << 62, position in 1u64..1 << 42) {
            let origin: NodeCode = code.to_string().parse().unwrap();
            let id = event_id(origin, hlc, position);
            prop_assert_eq!(embedded_position(&id), Some(position));
            prop_assert_eq!(embedded_origin(&id), Some((origin, position)));
            let later = event_id(origin, hlc + (1 << 16), position + 1);
            prop_assert!(later > id);
            prop_assert_ne!(event_id("620000".parse().unwrap(), hlc, position), event_id("620001".parse().unwrap(), hlc, position));
        }
    }
}
