//! Checks events that arrive from other nodes before anything is stored:
//! well-formed, one stream, consecutive seqs, an unbroken hash chain, and
//! the last event signed by the origin's key (`verify_strict`), which
//! vouches for the whole run.

use crate::channel::Channel;
use crate::code::NodeCode;
use crate::limits::EVENT_BYTES_MAX;
use crate::pb;
use crate::validate::parse_event_id;
use crate::wire;
use ed25519_dalek::VerifyingKey;
use prost::Message;

/// The envelope fields the store and the replicator need. (Not `Eq`:
/// prost gives no `Eq` to a payload with a repeated message field.)
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// Origin node.
    pub origin: NodeCode,
    /// Channel.
    pub channel: Channel,
    /// Seq in (origin, channel).
    pub seq: u64,
    /// Event id bytes.
    pub id: [u8; 16],
    /// Hybrid logical clock.
    pub hlc: u64,
    /// Hash of the previous event of the stream; `None` for seq 1.
    pub prev_hash: Option<[u8; 32]>,
    /// Hash of these bytes.
    pub hash: [u8; 32],
    /// The decoded event (payload kind may be unknown).
    pub event: pb::Event,
}

/// Why remote events were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not an event, or a field out of shape.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The run mixes streams or skips seqs.
    #[error("not one consecutive run of one stream")]
    NotARun,
    /// An event's prev_hash is not the hash of the one before.
    #[error("broken hash chain at seq {0}")]
    BrokenChain(u64),
    /// The run does not end with a signed event.
    #[error("the run does not end with a signed event")]
    UnsignedTail,
    /// The signature does not verify.
    #[error("bad signature at seq {0}")]
    BadSignature(u64),
    /// A signed event not in its one accepted encoding: a re-encoding by
    /// whoever relayed it (`crate::wire`).
    #[error("a re-encoded event: {0}")]
    NotCanonical(String),
    /// Signed by a retired key beyond the last seq it may sign.
    #[error("signed at seq {0} by a retired key, beyond the seqs it may sign")]
    RetiredKey(u64),
    /// The origin was ejected from this seq of the stream on.
    #[error("the origin was ejected from seq {from} of {channel}")]
    Ejected {
        /// The stream's channel.
        channel: String,
        /// The first seq refused.
        from: u64,
    },
    /// The origin has no enrolled key.
    #[error("origin {0} has no public key in the topology")]
    UnknownKey(NodeCode),
}

/// Reads the envelope of stored bytes.
pub fn parse(raw: &[u8]) -> Result<Parsed, VerifyError> {
    if raw.len() > EVENT_BYTES_MAX {
        return Err(VerifyError::Malformed(format!("{} bytes", raw.len())));
    }
    let event = pb::Event::decode(raw).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let origin = event.origin.parse().map_err(|_| VerifyError::Malformed("origin".into()))?;
    let channel = event.channel.parse().map_err(|_| VerifyError::Malformed("channel".into()))?;
    let id = parse_event_id(&event.id).ok_or_else(|| VerifyError::Malformed("id".into()))?;
    if event.seq == 0 {
        return Err(VerifyError::Malformed("seq 0".into()));
    }
    let prev_hash = match (event.seq, event.prev_hash.len()) {
        (1, 0) => None,
        (s, 32) if s > 1 => Some(event.prev_hash[..].try_into().expect("32 bytes")),
        _ => return Err(VerifyError::Malformed("prev_hash".into())),
    };
    Ok(Parsed { origin, channel, seq: event.seq, id, hlc: event.hlc, prev_hash, hash: wire::hash(raw), event })
}

/// Reads the envelope of bytes a peer sent, refusing any encoding of a
/// signed event but its one accepted form.
fn parse_received(raw: &[u8]) -> Result<Parsed, VerifyError> {
    match wire::split_signature(raw) {
        Ok(_) => parse(raw),
        Err(wire::WireError::NotCanonical(why)) => Err(VerifyError::NotCanonical(why.into())),
        Err(e) => Err(VerifyError::Malformed(e.to_string())),
    }
}

/// Verifies a run of consecutive events of one stream, each in its one
/// accepted encoding (`crate::wire`): a relay's re-encoding is refused. The
/// first event's link to what the receiver already holds is the store's to
/// check. (Bytes already stored are read with [`parse`] alone.)
/// The origin's keys and their seqs are checked by
/// [`crate::signers::Signers::verify_run`]; this is the one-key form.
pub fn verify_run(raws: &[impl AsRef<[u8]>], key: &VerifyingKey) -> Result<Vec<Parsed>, VerifyError> {
    let parsed = check_run(raws)?;
    let Some(last) = parsed.last() else { return Ok(parsed) };
    let raw_last = raws.last().expect("non-empty").as_ref();
    match wire::verify(raw_last, key) {
        Ok(()) => Ok(parsed),
        Err(wire::WireError::Unsigned) => Err(VerifyError::UnsignedTail),
        Err(_) => Err(VerifyError::BadSignature(last.seq)),
    }
}

/// Everything [`verify_run`] checks but the signature: each event in its
/// one accepted encoding, one stream, consecutive seqs, an unbroken chain.
pub(crate) fn check_run(raws: &[impl AsRef<[u8]>]) -> Result<Vec<Parsed>, VerifyError> {
    let parsed = raws.iter().map(|r| parse_received(r.as_ref())).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = parsed.first() else { return Ok(parsed) };
    for (i, p) in parsed.iter().enumerate().skip(1) {
        let before = &parsed[i - 1];
        if p.origin != first.origin || p.channel != first.channel || Some(p.seq) != before.seq.checked_add(1) {
            return Err(VerifyError::NotARun);
        }
        if p.prev_hash != Some(before.hash) {
            return Err(VerifyError::BrokenChain(p.seq));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn event(seq: u64, prev_hash: Vec<u8>) -> pb::Event {
        pb::Event {
            id: "0190b6c8-7d2e-7abc-8def-0123456789ab".into(),
            origin: "620722".into(),
            channel: "up".into(),
            seq,
            prev_hash,
            ..Default::default()
        }
    }

    #[test]
    fn a_run_with_a_re_encoded_event_is_refused_and_says_so() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let first = wire::sign(event(1, Vec::new()).encode_to_vec(), &key);
        let second = wire::sign(event(2, wire::hash(&first).to_vec()).encode_to_vec(), &key);
        assert!(verify_run(&[&first, &second], &key.verifying_key()).is_ok());
        // The same signed bytes with the signature field moved first.
        let split = |raw: &[u8]| raw.split_at(raw.len() - 66).0.to_vec();
        let moved = |raw: &[u8]| [&raw[raw.len() - 66..], &split(raw)[..]].concat();
        for run in [vec![first.clone(), moved(&second)], vec![moved(&first), second.clone()]] {
            let refused = verify_run(&run, &key.verifying_key());
            assert!(matches!(refused, Err(VerifyError::NotCanonical(_))), "{refused:?}");
        }
        // Stored bytes are read as they are: what is in a log stays readable.
        assert!(parse(&moved(&first)).is_ok());
    }
}
