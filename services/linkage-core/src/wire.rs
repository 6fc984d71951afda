//! The stored form of an event: its protobuf bytes exactly as the origin
//! produced them, with the ed25519 signature as field 15.
//!
//! Nobody re-encodes a stored event: a node that does not know a payload
//! type still stores and relays the same bytes, and the signature, computed
//! over the bytes without field 15, stays checkable everywhere. These
//! functions read the top level of the protobuf wire format only.
//!
//! A signed event has one accepted encoding: field 15 once and last, as
//! the one-byte tag `0x7A`, the one-byte length 64 and the signature, with
//! nothing after it ([`split_signature`]). Every other byte is pinned by
//! the signature itself or by the next event's hash chain; the place and
//! form of field 15 are the only bytes a relay could change without
//! breaking either, and an event's hash (which the next event chains on
//! and fork evidence compares) would change with them.

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
    /// The signature field is not in its one accepted form (see the
    /// module documentation): a re-encoding, which is refused.
    #[error("not the one accepted encoding of a signed event: {0}")]
    NotCanonical(&'static str),
}

/// The signature field's tag: field 15, length-delimited, in one byte.
const SIGNATURE_TAG: u8 = ((SIGNATURE_FIELD << 3) | 2) as u8;

/// Bytes of the signature field: tag, length and signature.
const SIGNATURE_FIELD_BYTES: usize = 2 + SIGNATURE_BYTES;

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

/// Splits stored bytes into the part the origin signed and the signature,
/// if the event is signed. A signed event is accepted only in its one
/// encoding: field 15 exactly once, last, as [`SIGNATURE_TAG`], length 64
/// in one byte, nothing after it; anything else is
/// [`WireError::NotCanonical`]. An unsigned event (the earlier ones of a
/// run, vouched for by the chain) has no field 15.
pub fn split_signature(raw: &[u8]) -> Result<(&[u8], Option<[u8; SIGNATURE_BYTES]>), WireError> {
    let mut signature_at = None;
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
                at = at.checked_add(len).ok_or(WireError::Malformed(field_start))?;
            }
            _ => return Err(WireError::Malformed(field_start)),
        }
        if at > raw.len() || field == 0 {
            return Err(WireError::Malformed(field_start));
        }
        // The mutant reads a signature moved to the front (a relay's
        // re-encoding) as if it were last: what follows it was signed.
        if field == u64::from(SIGNATURE_FIELD)
            && field_start == 0
            && at == SIGNATURE_FIELD_BYTES
            && crate::mutants::on(crate::mutants::Mutant::AcceptSignatureAnywhere)
        {
            let signature = raw[2..at].try_into().expect("64 bytes after tag and length");
            return Ok((&raw[at..], Some(signature)));
        }
        if field == u64::from(SIGNATURE_FIELD) {
            if signature_at.is_some() {
                return Err(WireError::NotCanonical("field 15 appears twice"));
            }
            signature_at = Some(field_start);
        }
    }
    let Some(start) = signature_at else { return Ok((raw, None)) };
    if raw.len() - start != SIGNATURE_FIELD_BYTES {
        return Err(WireError::NotCanonical("field 15 is not the last field, or not 64 bytes"));
    }
    if raw[start] != SIGNATURE_TAG || usize::from(raw[start + 1]) != SIGNATURE_BYTES {
        return Err(WireError::NotCanonical("field 15's tag or length is not in its shortest form"));
    }
    let signature = raw[start + 2..].try_into().expect("64 bytes after tag and length");
    Ok((&raw[..start], Some(signature)))
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
    unsigned.push(SIGNATURE_TAG);
    unsigned.push(SIGNATURE_BYTES as u8);
    unsigned.extend_from_slice(&signature);
    unsigned
}

/// Checks a signed event's signature with `verify_strict`.
pub fn verify(raw: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
    let (unsigned, signature) = split_signature(raw)?;
    let signature = Signature::from_bytes(&signature.ok_or(WireError::Unsigned)?);
    key.verify_strict(unsigned, &signature).map_err(|_| WireError::BadSignature)
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

    /// The ways a relay could re-encode a signed event while keeping its
    /// signed bytes: field 15 moved, doubled, followed by a field, or its
    /// tag or length written in more bytes than needed.
    fn re_encodings(unsigned: &[u8], signature: &[u8; SIGNATURE_BYTES], at: usize) -> Vec<Vec<u8>> {
        let field = [&[SIGNATURE_TAG, 0x40][..], signature].concat();
        let at = top_level_boundary(unsigned, at);
        vec![
            [&field[..], unsigned].concat(),
            [&unsigned[..at], &field, &unsigned[at..]].concat(),
            [unsigned, &field, &field].concat(),
            [unsigned, &field, &[0x08, 0x01]].concat(),
            [unsigned, &[SIGNATURE_TAG, 0xc0, 0x00], signature].concat(),
            [unsigned, &[0xfa, 0x00, 0x40], signature].concat(),
            [unsigned, &[0xfa, 0x80, 0x00, 0x40], signature].concat(),
        ]
    }

    /// The start of the top-level field at or after `at`, for inserting a
    /// field between two others.
    fn top_level_boundary(bytes: &[u8], at: usize) -> usize {
        let mut pos = 0;
        while pos < bytes.len() && pos < at {
            let mut next = pos;
            let tag = read_varint(bytes, &mut next).unwrap();
            match tag & 7 {
                0 => drop(read_varint(bytes, &mut next).unwrap()),
                2 => next += read_varint(bytes, &mut next).unwrap() as usize,
                1 => next += 8,
                _ => next += 4,
            }
            pos = next;
        }
        pos
    }

    proptest! {
        /// Every re-encoding of a signed event is refused, though its
        /// signed bytes, and so its signature, are the same.
        #[test]
        fn a_signed_event_has_one_accepted_encoding(title in ".{0,40}", seq in 1u64..1_000_000, at in 0usize..400) {
            let event = pb::Event {
                id: "0190b6c8-7d2e-7abc-8def-0123456789ab".into(),
                origin: "620722".into(),
                channel: "up".into(),
                seq,
                payload: Some(pb::Payload { kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported { title, ..Default::default() })) }),
                ..Default::default()
            };
            let unsigned = event.encode_to_vec();
            let raw = sign(unsigned.clone(), &key(1));
            prop_assert_eq!(split_signature(&raw).unwrap().0, &unsigned[..]);
            let signature: [u8; SIGNATURE_BYTES] = raw[raw.len() - SIGNATURE_BYTES..].try_into().unwrap();
            for other in re_encodings(&unsigned, &signature, at) {
                if other == raw {
                    continue;
                }
                let refused = verify(&other, &key(1).verifying_key());
                prop_assert!(
                    matches!(refused, Err(WireError::NotCanonical(_)) | Err(WireError::Malformed(_))),
                    "{:?} accepted for {}", refused, hex::encode(&other)
                );
            }
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
        assert_eq!(split_signature(&raw).unwrap().0, &unsigned[..]);
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
