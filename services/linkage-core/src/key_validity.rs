//! A node's earlier keys and its ejection as the topology states them,
//! validated: the data [`crate::signers`] judges events with (decision
//! 0054). Below the topology, which holds them per node.

use crate::audience::Channel;
use crate::limits::{RETIRED_KEYS_MAX, SEQ_BOUNDS_MAX};
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;

/// Seqs per stream of one origin, by channel.
pub type SeqBounds = BTreeMap<Channel, u64>;

/// An earlier key of a node, as the topology file states it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKeyEntry {
    /// Hex ed25519 public key.
    pub public_key: String,
    /// Its NATS login key: listed for nats-server while the overlap is
    /// open, so that the office can log in with either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_key: Option<String>,
    /// The last seq of each stream the key signed; absent while the
    /// overlap is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<BTreeMap<String, u64>>,
}

/// A validated earlier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetiredKey {
    /// Its ed25519 public key.
    pub public_key: [u8; 32],
    /// Its NATS login key.
    pub nats_key: Option<String>,
    /// The last seq per stream it may sign; `None` while the overlap is open.
    pub until: Option<SeqBounds>,
}

impl RetiredKey {
    /// True while the key is valid for every seq.
    pub fn overlap_open(&self) -> bool {
        self.until.is_none()
    }
}

/// Checks a hex ed25519 public key; the reason names no field.
pub fn parse_public_key(hex_key: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(hex_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| "must be 64 hex digits (ed25519)".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "is not a valid ed25519 point".to_owned())?;
    Ok(bytes)
}

/// Parses `{ channel = seq, … }` as written in a topology or given to
/// `linkctl`.
pub fn parse_bounds(bounds: &BTreeMap<String, u64>) -> Result<SeqBounds, String> {
    if bounds.len() > SEQ_BOUNDS_MAX {
        return Err(format!("names {} streams, more than the {SEQ_BOUNDS_MAX} allowed", bounds.len()));
    }
    bounds
        .iter()
        .map(|(channel, seq)| Ok((channel.parse::<Channel>().map_err(|e| format!("{channel}: {e}"))?, *seq)))
        .collect()
}

/// A field of a node's entry and why it is refused.
pub type FieldError = (&'static str, String);

/// Validates a node's `retired_keys` and `ejected_from`; a refusal
/// names the field (`retired_keys.until`, say) and why.
pub fn check_entry(
    retired: &[RetiredKeyEntry],
    ejected_from: Option<&BTreeMap<String, u64>>,
) -> Result<(Vec<RetiredKey>, Option<SeqBounds>), FieldError> {
    if retired.len() > RETIRED_KEYS_MAX {
        return Err(("retired_keys", format!("{} keys, more than the {RETIRED_KEYS_MAX} allowed", retired.len())));
    }
    let mut keys = Vec::with_capacity(retired.len());
    for (k, entry) in retired.iter().enumerate() {
        let public_key =
            parse_public_key(&entry.public_key).map_err(|why| ("retired_keys.public_key", format!("[{k}] {why}")))?;
        if let Some(key) = &entry.nats_key {
            crate::nkey::check_public_key(key).map_err(|why| ("retired_keys.nats_key", format!("[{k}] {why}")))?;
        }
        let until = match &entry.until {
            None => None,
            Some(bounds) => Some(parse_bounds(bounds).map_err(|why| ("retired_keys.until", format!("[{k}] {why}")))?),
        };
        keys.push(RetiredKey { public_key, nats_key: entry.nats_key.clone(), until });
    }
    let ejected = ejected_from.map(parse_bounds).transpose().map_err(|why| ("ejected_from", why))?;
    if let Some(bounds) = &ejected {
        if let Some((channel, _)) = bounds.iter().find(|(_, seq)| **seq == 0) {
            return Err(("ejected_from", format!("{channel}: seqs start at 1")));
        }
    }
    Ok((keys, ejected))
}
