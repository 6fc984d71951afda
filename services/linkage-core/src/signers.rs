//! Which keys may sign which seqs of an origin's streams: key rotation
//! with an overlap, and ejection (issue 21, item 5; decision 0054).
//!
//! An origin signs with its current key (`public_key` in the topology).
//! When it rotates, the province moves the old key to `retired_keys`:
//! - while that entry has no `until`, the overlap is open: both keys are
//!   valid for every seq, so the office may switch whenever it restarts;
//! - the province closes the overlap by naming, per stream, the last seq
//!   the old key signed (`until`, from the record the node writes when it
//!   switches). From then on the old key is valid up to those seqs only
//!   (a stream it never signed: not at all), so a stolen old key can
//!   write nothing new, while what it signed before verifies everywhere,
//!   also at a node that pulls it a week later.
//!
//! A compromised office is ejected: `ejected_from` names, per stream, the
//! first seq no longer accepted; a stream it does not name is refused
//! from seq 1. Events before those seqs stay and still verify.
//!
//! Because every node judges an event by its own (origin, channel, seq)
//! against the same signed topology, all nodes reach the same verdict
//! whatever order events arrive in.

use crate::audience::Channel;
use crate::key_validity::SeqBounds;
use crate::topology::Node;
use crate::verify::{check_run, Parsed, VerifyError};
use crate::wire;
use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;

/// What a node writes in its data dir when it takes its new key
/// (`key-rotation.toml`): the last seq of each of its streams the old key
/// signed. It holds no secret; the province closes the overlap with it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RotationRecord {
    /// The node's code.
    pub node: String,
    /// The old key (hex).
    pub public_key: String,
    /// Its last seq per stream.
    pub until: BTreeMap<String, u64>,
}

/// The file in a node's data dir that records its key switch.
pub const ROTATION_RECORD: &str = "key-rotation.toml";

/// Where an office puts its next key beside its key file (`node.key` →
/// `node.next.key`): made by `linkctl key next`, taken by the node at a
/// start once the topology lists it as the node's key.
pub fn next_key_path(path: &std::path::Path) -> std::path::PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "node".into());
    path.with_file_name(format!("{stem}.next.key"))
}

/// The keys that may sign an origin's events, each over the seqs it is
/// valid for.
#[derive(Clone, Debug)]
pub struct Signers {
    current: Option<VerifyingKey>,
    retired: Vec<(VerifyingKey, Option<SeqBounds>)>,
    ejected_from: Option<SeqBounds>,
}

impl Signers {
    /// One key valid for every seq (tests, the simulation, fuzzing).
    pub fn single(key: VerifyingKey) -> Signers {
        Signers { current: Some(key), retired: Vec::new(), ejected_from: None }
    }

    /// The keys the topology lists for `node`; `None` when it has none.
    pub fn of(node: &Node) -> Option<Signers> {
        let current = node.public_key.and_then(|k| VerifyingKey::from_bytes(&k).ok());
        let retired: Vec<_> = node
            .retired_keys
            .iter()
            .filter_map(|r| Some((VerifyingKey::from_bytes(&r.public_key).ok()?, r.until.clone())))
            .collect();
        if current.is_none() && retired.is_empty() {
            return None;
        }
        Some(Signers { current, retired, ejected_from: node.ejected_from.clone() })
    }

    /// The first seq of `channel` no longer accepted, when ejected.
    pub fn ejected_at(&self, channel: &Channel) -> Option<u64> {
        self.ejected_from.as_ref().map(|bounds| bounds.get(channel).copied().unwrap_or(1))
    }

    /// Verifies a run of one stream (see [`crate::verify::verify_run`]),
    /// the last event signed by a key valid at its seq. Of a run that
    /// crosses the seq its origin was ejected at, the part before it up to
    /// its last signed event is what verifies (the rest is refused): the
    /// returned events may be fewer than `raws`.
    pub fn verify_run(&self, raws: &[impl AsRef<[u8]>]) -> Result<Vec<Parsed>, VerifyError> {
        let mut parsed = check_run(raws)?;
        let Some(last) = parsed.last() else { return Ok(parsed) };
        if let Some(from) = self.ejected_at(&last.channel) {
            if last.seq >= from {
                // A holder that stored more before it knew of the ejection
                // serves pages past the bound: what lies before it is the
                // origin's past, kept up to its last signed event there.
                let before = parsed.iter().take_while(|p| p.seq < from).count();
                let signed = |i: &usize| matches!(wire::split_signature(raws[*i].as_ref()), Ok((_, Some(_))));
                let end = (0..before).rev().find(signed).map(|i| i + 1);
                let refused = VerifyError::Ejected { channel: last.channel.to_string(), from };
                parsed.truncate(end.ok_or(refused)?);
            }
        }
        let last = parsed.last().expect("non-empty");
        let raw_last = raws[parsed.len() - 1].as_ref();
        let valid = |until: &Option<SeqBounds>| match until {
            None => true,
            Some(bounds) => {
                bounds.get(&last.channel).is_some_and(|until| last.seq <= *until)
                    || crate::mutants::on(crate::mutants::Mutant::RetiredKeyForever)
            }
        };
        let keys = self.current.iter().chain(self.retired.iter().filter(|(_, until)| valid(until)).map(|(k, _)| k));
        for key in keys {
            match wire::verify(raw_last, key) {
                Ok(()) => return Ok(parsed),
                Err(wire::WireError::Unsigned) => return Err(VerifyError::UnsignedTail),
                Err(_) => {}
            }
        }
        // Say so when a retired key signed beyond its seqs: a stolen key.
        if self.retired.iter().any(|(key, until)| !valid(until) && wire::verify(raw_last, key).is_ok()) {
            return Err(VerifyError::RetiredKey(last.seq));
        }
        Err(VerifyError::BadSignature(last.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;
    use ed25519_dalek::SigningKey;

    /// A signed chain of `n` events of (620722, up), the first `switch_at`
    /// signed with `old`, the rest with `new`; each event signed.
    fn chain(n: u64, switch_at: u64, old: &SigningKey, new: &SigningKey) -> Vec<Vec<u8>> {
        chain_with(n, |seq| Some(if seq <= switch_at { old } else { new }))
    }

    /// A chain of `n` events of (620722, up), each signed by the key
    /// `key_of` gives its seq, or unsigned (inside a commit) for none.
    fn chain_with<'a>(n: u64, key_of: impl Fn(u64) -> Option<&'a SigningKey>) -> Vec<Vec<u8>> {
        let mut prev = Vec::new();
        let mut out = Vec::new();
        for seq in 1..=n {
            let event = pb::Event {
                id: "0190b6c8-7d2e-7abc-8def-0123456789ab".into(),
                origin: "620722".into(),
                channel: "up".into(),
                seq,
                prev_hash: prev.clone(),
                ..Default::default()
            };
            let bytes = prost::Message::encode_to_vec(&event);
            let raw = match key_of(seq) {
                Some(key) => wire::sign(bytes, key),
                None => bytes,
            };
            prev = wire::hash(&raw).to_vec();
            out.push(raw);
        }
        out
    }

    fn signers(current: &SigningKey, retired: &[(&SigningKey, Option<u64>)], ejected: Option<u64>) -> Signers {
        let up = |seq| SeqBounds::from([(Channel::Up, seq)]);
        Signers {
            current: Some(current.verifying_key()),
            retired: retired.iter().map(|(k, until)| (k.verifying_key(), until.map(up))).collect(),
            ejected_from: ejected.map(up),
        }
    }

    #[test]
    fn an_open_overlap_accepts_both_keys_and_a_closed_one_only_up_to_its_seq() {
        let (old, new) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
        let events = chain(6, 3, &old, &new);
        let open = signers(&new, &[(&old, None)], None);
        let closed = signers(&new, &[(&old, Some(3))], None);
        for s in [&open, &closed] {
            assert!(s.verify_run(&events[..3]).is_ok(), "the old key's seqs");
            assert!(s.verify_run(&events[3..]).is_ok(), "the new key's seqs");
        }
        // The old key signing seq 4 (a thief, or a node that did not switch).
        let stolen = chain(6, 6, &old, &new);
        assert!(open.verify_run(&stolen[3..4]).is_ok(), "valid while the overlap is open");
        assert_eq!(closed.verify_run(&stolen[3..4]).unwrap_err(), VerifyError::RetiredKey(4));
        // A stream the old key never signed: not at all.
        let other = Signers {
            retired: vec![(old.verifying_key(), Some(SeqBounds::from([(Channel::Down, 9)])))],
            ..closed.clone()
        };
        assert_eq!(other.verify_run(&events[..1]).unwrap_err(), VerifyError::RetiredKey(1));
        // A key never listed.
        let stranger = chain(1, 1, &SigningKey::from_bytes(&[3; 32]), &new);
        assert_eq!(closed.verify_run(&stranger).unwrap_err(), VerifyError::BadSignature(1));
    }

    #[test]
    fn an_ejected_origin_keeps_what_it_signed_before_and_nothing_after() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let events = chain(5, 5, &key, &key);
        let ejected = signers(&key, &[], Some(4));
        assert_eq!(ejected.verify_run(&events[..3]).unwrap().len(), 3);
        let refused = ejected.verify_run(&events[3..5]).unwrap_err();
        assert_eq!(refused, VerifyError::Ejected { channel: "up".into(), from: 4 });
        // A page across the bound, from a holder that stored it before it
        // knew: the past up to its last signed event verifies, no further.
        let kept = ejected.verify_run(&events[1..5]).unwrap();
        assert_eq!(kept.iter().map(|p| p.seq).collect::<Vec<_>>(), [2, 3]);
        // Commits of seqs 1–2 and 3–5: only 2 and 5 signed; 3 lies before
        // the bound but only 5 vouches for it.
        let commits = chain_with(5, |seq| [2, 5].contains(&seq).then_some(&key));
        assert_eq!(ejected.verify_run(&commits).unwrap().iter().map(|p| p.seq).collect::<Vec<_>>(), [1, 2]);
        assert!(matches!(ejected.verify_run(&commits[2..]), Err(VerifyError::Ejected { from: 4, .. })));
        // A stream the ejection does not name: from seq 1.
        let down_only = Signers { ejected_from: Some(SeqBounds::from([(Channel::Down, 7)])), ..ejected };
        assert!(matches!(down_only.verify_run(&events[..1]), Err(VerifyError::Ejected { from: 1, .. })));
    }

    /// The topology refuses bad key-validity fields, naming them.
    #[test]
    fn refusals_name_the_field() {
        use crate::key_validity::RetiredKeyEntry;
        use crate::limits::RETIRED_KEYS_MAX;
        use crate::topology::{NodeEntry, Topology, TopologyFile};
        use crate::Level;
        let bounds = |pairs: &[(&str, u64)]| pairs.iter().map(|(c, s)| (c.to_string(), *s)).collect();
        let key = hex::encode(SigningKey::from_bytes(&[1; 32]).verifying_key().as_bytes());
        let entry = |public_key: &str, until| RetiredKeyEntry { public_key: public_key.into(), nats_key: None, until };
        let file = |retired: Vec<RetiredKeyEntry>, ejected_from| TopologyFile {
            version: None,
            federations: Vec::new(),
            national_since: None,
            nodes: vec![
                NodeEntry::unnamed("620000", Level::Province, None),
                NodeEntry::unnamed("620700", Level::City, Some("620000")),
                NodeEntry {
                    retired_keys: retired,
                    ejected_from,
                    ..NodeEntry::unnamed("620722", Level::County, Some("620700"))
                },
            ],
        };
        type Case<'a> = (Vec<RetiredKeyEntry>, Option<BTreeMap<String, u64>>, &'a str);
        let cases: Vec<Case> = vec![
            (vec![entry("abc", None)], None, "nodes[2].retired_keys.public_key: [0] must be 64 hex digits"),
            (vec![entry(&key, Some(bounds(&[("sideways", 3)])))], None, "nodes[2].retired_keys.until: [0] sideways"),
            (vec![], Some(bounds(&[("up", 0)])), "nodes[2].ejected_from: up: seqs start at 1"),
            (vec![entry(&key, None); RETIRED_KEYS_MAX + 1], None, "more than the"),
        ];
        for (retired, ejected, needle) in cases {
            let err = Topology::from_file(file(retired, ejected)).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
        let topology = Topology::from_file(file(vec![entry(&key, Some(bounds(&[("to:620000", 4)])))], None)).unwrap();
        let node = topology.node("620722".parse().unwrap()).unwrap();
        assert_eq!(node.retired_keys[0].until.as_ref().unwrap()[&"to:620000".parse::<Channel>().unwrap()], 4);
        assert!(!node.is_ejected());
    }
}
