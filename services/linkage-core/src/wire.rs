//! The stored form of an event: its protobuf bytes exactly as the origin
//! produced them, with the ed25519 signature as field 15.
//!
//! Nobody re-encodes a stored event: a node that does not know a payload
//! type still stores and relays the same bytes, and the signature, computed
//! over the bytes without field 15, stays checkable everywhere. These
//! functions read the top level of the protobuf wire format only.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Field number of `Event.signature`.
pub const SIGNATURE_FIELD: u32 = 15;

/// Bytes of an ed25519 signature: the last bytes of what [`sign`] returns.
pub const SIGNATURE_BYTES: usize = 64;

/// Why stored bytes are not a well-formed signed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not protobuf.
    #[error("malformed protobuf at byte {0}")]
    Malformed(usize),
    /// There is no signature field.
    #[error("the event is not signed")]
    Unsigned,
    /// The signature does not verify under the origin's key.
    #[error("the signature does not match the event")]
    BadSignature,
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, WireError> {
    let start = *at;
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or(WireError::Malformed(start))?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Malformed(start))
}

/// Splits stored bytes into the signed part (every field but 15, in order)
/// and the signature, if present.
pub fn split_signature(raw: &[u8]) -> Result<(Vec<u8>, Option<[u8; 64]>), WireError> {
    let mut unsigned = Vec::with_capacity(raw.len());
    let mut signature = None;
    let mut at = 0;
    while at < raw.len() {
        let field_start = at;
        let tag = read_varint(raw, &mut at)?;
        let (field, wire_type) = (tag >> 3, tag & 7);
        match wire_type {
            0 => {
                read_varint(raw, &mut at)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(read_varint(raw, &mut at)?).map_err(|_| WireError::Malformed(at))?;
                let value_start = at;
                at = at.checked_add(len).ok_or(WireError::Malformed(value_start))?;
                if at <= raw.len() && field == u64::from(SIGNATURE_FIELD) {
                    let sig: [u8; 64] =
                        raw[value_start..at].try_into().map_err(|_| WireError::Malformed(value_start))?;
                    signature = Some(sig);
                    continue;
                }
            }
            _ => return Err(WireError::Malformed(field_start)),
        }
        if at > raw.len() || field == 0 {
            return Err(WireError::Malformed(field_start));
        }
        unsigned.extend_from_slice(&raw[field_start..at]);
    }
    Ok((unsigned, signature))
}

/// What a reader can learn of stored bytes without decoding the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peek<'a> {
    /// `Event.origin`.
    pub origin: &'a [u8],
    /// `Event.channel`.
    pub channel: &'a [u8],
    /// `Event.seq`.
    pub seq: u64,
    /// Field number of the payload's kind (e.g. 20 for `group_formed`).
    pub kind: Option<u64>,
    /// True when field 15 is present.
    pub signed: bool,
}

/// Reads the envelope fields of stored bytes at the top level only: cheap
/// enough to run over every event of a log, where decoding would not be.
pub fn peek(raw: &[u8]) -> Result<Peek<'_>, WireError> {
    let mut out = Peek::default();
    let mut at = 0;
    while at < raw.len() {
        let tag = read_varint(raw, &mut at)?;
        match (tag >> 3, tag & 7) {
            (4, 0) => out.seq = read_varint(raw, &mut at)?,
            (_, 0) => {
                read_varint(raw, &mut at)?;
            }
            (_, 1) => at += 8,
            (_, 5) => at += 4,
            (field, 2) => {
                let len = usize::try_from(read_varint(raw, &mut at)?).map_err(|_| WireError::Malformed(at))?;
                let value = raw
                    .get(at..at.checked_add(len).ok_or(WireError::Malformed(at))?)
                    .ok_or(WireError::Malformed(at))?;
                match field {
                    2 => out.origin = value,
                    3 => out.channel = value,
                    9 if !value.is_empty() => out.kind = Some(read_varint(value, &mut 0)? >> 3),
                    15 => out.signed = true,
                    _ => {}
                }
                at += len;
            }
            _ => return Err(WireError::Malformed(at)),
        }
    }
    Ok(out)
}

/// Appends the signature of `unsigned` as field 15, so that the result
/// ends with the [`SIGNATURE_BYTES`] of the signature. `unsigned` must be
/// an event encoded without a signature.
pub fn sign(mut unsigned: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    let signature: [u8; SIGNATURE_BYTES] = key.sign(&unsigned).to_bytes();
    unsigned.push(((SIGNATURE_FIELD << 3) | 2) as u8);
    unsigned.push(SIGNATURE_BYTES as u8);
    unsigned.extend_from_slice(&signature);
    unsigned
}

/// Checks a signed event's signature with `verify_strict`.
pub fn verify(raw: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
    let (unsigned, signature) = split_signature(raw)?;
    let signature = Signature::from_bytes(&signature.ok_or(WireError::Unsigned)?);
    key.verify_strict(&unsigned, &signature).map_err(|_| WireError::BadSignature)
}

/// The hash that the next event of the stream carries as `prev_hash`.
pub fn hash(raw: &[u8]) -> [u8; 32] {
    *blake3::hash(raw).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;
    use proptest::prelude::*;
    use prost::Message;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    proptest! {
        #[test]
        fn signature_covers_every_other_field(title in ".{0,40}", seq in 1u64.., flip in 0usize..200) {
            let event = pb::Event {
                id: "x".into(),
                origin: "620722".into(),
                seq,
                payload: Some(pb::Payload { kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported { title, ..Default::default() })) }),
                ..Default::default()
            };
            let raw = sign(event.encode_to_vec(), &key(1));
            prop_assert_eq!(verify(&raw, &key(1).verifying_key()), Ok(()));
            prop_assert_eq!(verify(&raw, &key(2).verifying_key()), Err(WireError::BadSignature));
            // prost decodes what we signed, signature included.
            prop_assert_eq!(pb::Event::decode(raw.as_slice()).unwrap().signature.len(), 64);
            let mut altered = raw.clone();
            let i = flip % altered.len();
            altered[i] ^= 1;
            prop_assert!(verify(&altered, &key(1).verifying_key()).is_err());
        }
    }

    #[test]
    fn unknown_fields_survive_and_stay_signed() {
        // A newer node's payload kind 99: field 9 (payload) holding field 99.
        let mut unsigned = pb::Event { origin: "620000".into(), seq: 1, ..Default::default() }.encode_to_vec();
        let inner = [0x9a, 0x06, 0x02, 0x08, 0x01]; // field 99, len 2, {field 1: 1}
        unsigned.push(0x4a); // field 9, wire type 2
        unsigned.push(inner.len() as u8);
        unsigned.extend_from_slice(&inner);
        let raw = sign(unsigned.clone(), &key(3));
        assert_eq!(split_signature(&raw).unwrap().0, unsigned);
        assert_eq!(verify(&raw, &key(3).verifying_key()), Ok(()));
        let decoded = pb::Event::decode(raw.as_slice()).unwrap();
        assert_eq!(decoded.payload.unwrap().kind, None, "an old reader sees no kind, but keeps the bytes");
    }

    #[test]
    fn peek_reads_the_envelope_without_decoding() {
        let event = pb::Event {
            origin: "620722".into(),
            channel: "group:g-1".into(),
            seq: 42,
            payload: Some(pb::Payload {
                kind: Some(pb::payload::Kind::GroupJoined(pb::GroupJoined {
                    group_id: "g-1".into(),
                    member: "620700".into(),
                })),
            }),
            ..Default::default()
        };
        let raw = sign(event.encode_to_vec(), &key(1));
        let p = peek(&raw).unwrap();
        assert_eq!(
            (p.origin, p.channel, p.seq, p.kind, p.signed),
            (&b"620722"[..], &b"group:g-1"[..], 42, Some(21), true)
        );
        assert!(!peek(&pb::Event::default().encode_to_vec()).unwrap().signed);
    }

    #[test]
    fn unsigned_and_garbage_are_refused() {
        let raw = pb::Event { seq: 1, ..Default::default() }.encode_to_vec();
        assert_eq!(verify(&raw, &key(1).verifying_key()), Err(WireError::Unsigned));
        assert!(matches!(split_signature(&[0xff]), Err(WireError::Malformed(_))));
        assert!(matches!(split_signature(&[0x0a, 0x05, 0x01]), Err(WireError::Malformed(_))));
    }
}
