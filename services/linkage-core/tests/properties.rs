//! Property tests of the core: sequencing, hash chain and signatures,
//! idempotency, and channel rules — no IO.

use ed25519_dalek::SigningKey;
use linkage_core::channel::{check_send, entitled};
use linkage_core::hlc::HlcClock;
use linkage_core::ledger::{self, CommitContext, CommitPlan, MemoryState};
use linkage_core::validate::{validate_append, ValidAppend};
use linkage_core::{pb, wire, AppendError, Channel, Level, NodeCode, Topology};
use proptest::prelude::*;
use prost::Message;
use std::collections::BTreeMap;

fn gansu() -> Topology {
    Topology::from_toml(include_str!("../../../deploy/topology/gansu.toml")).unwrap()
}

fn code(s: &str) -> NodeCode {
    s.parse().unwrap()
}

/// A request for `channel` whose content is picked by `variant`.
fn request(channel: &str, variant: u8, key: Option<u8>) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: channel.into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: format!("社情民意 {variant}"),
                body: "群众反映的问题".into(),
                ..Default::default()
            })),
        }),
        idempotency_key: key.map(|k| format!("key-{k}")).unwrap_or_default(),
        ..Default::default()
    }
}

/// The ledger's state after a plan was committed, as the store keeps it.
fn apply(state: &mut MemoryState, plan: &CommitPlan) {
    state.heads.extend(plan.heads.clone());
    state.keys.extend(plan.keys.clone());
}

struct Harness {
    topology: Topology,
    origin: NodeCode,
    key: SigningKey,
    state: MemoryState,
    clock: HlcClock,
    next_position: u64,
    now_ms: u64,
    stored: BTreeMap<u64, Vec<u8>>,
}

impl Harness {
    fn new(origin: &str) -> Harness {
        Harness {
            topology: gansu(),
            origin: code(origin),
            key: SigningKey::from_bytes(&[7; 32]),
            state: MemoryState::default(),
            clock: HlcClock::default(),
            next_position: 1,
            now_ms: 1_700_000_000_000,
            stored: BTreeMap::new(),
        }
    }

    fn valid(&self, r: &pb::AppendRequest) -> ValidAppend {
        validate_append(&self.topology, self.origin, r.clone()).unwrap()
    }

    fn commit(&mut self, jobs: &[Vec<ValidAppend>]) -> CommitPlan {
        let ctx = CommitContext {
            origin: self.origin,
            key: &self.key,
            now_ms: self.now_ms,
            next_position: self.next_position,
            clock: &mut self.clock,
        };
        let plan = ledger::plan(&self.state, ctx, jobs.to_vec());
        apply(&mut self.state, &plan);
        for e in &plan.events {
            self.stored.insert(e.position, e.raw.clone());
        }
        self.next_position += plan.events.len() as u64;
        // Time may stand still or jump: the hlc must cope.
        self.now_ms += 1;
        plan
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the mix of jobs and commits: positions are dense, each
    /// (origin, channel) is numbered 1, 2, 3 … with no gap, each event
    /// carries the hash of its predecessor, the last event of each stream in
    /// each commit is signed, and hlc only grows.
    #[test]
    fn sequences_are_dense_and_chained(
        commits in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(0usize..4, 1..6), 1..5), 1..8)
    ) {
        let channels = ["up", "down", "all", "to:620722"];
        let mut h = Harness::new("620700");
        for commit in &commits {
            let jobs: Vec<Vec<ValidAppend>> = commit
                .iter()
                .map(|job| job.iter().map(|&c| h.valid(&request(channels[c], 0, None))).collect())
                .collect();
            let plan = h.commit(&jobs);
            prop_assert!(plan.results.iter().all(|r| r.is_ok()));
            for (channel, head) in &plan.heads {
                let last = plan.events.iter().rev().find(|e| &e.channel == channel).unwrap();
                prop_assert_eq!(last.seq, head.seq);
                prop_assert_eq!(wire::hash(&last.raw), head.hash);
                prop_assert!(wire::verify(&last.raw, &h.key.verifying_key()).is_ok());
            }
        }
        let positions: Vec<u64> = h.stored.keys().copied().collect();
        prop_assert_eq!(positions, (1..h.next_position).collect::<Vec<_>>());
        let mut seqs: BTreeMap<String, (u64, Vec<u8>)> = BTreeMap::new();
        let mut hlc = 0;
        for raw in h.stored.values() {
            let event = pb::Event::decode(raw.as_slice()).unwrap();
            let (prev_seq, prev_hash) = seqs.entry(event.channel.clone()).or_insert((0, Vec::new()));
            prop_assert_eq!(event.seq, *prev_seq + 1, "dense seq on {}", event.channel);
            prop_assert_eq!(&event.prev_hash, &*prev_hash);
            *prev_seq = event.seq;
            *prev_hash = wire::hash(raw).to_vec();
            prop_assert!(event.hlc > hlc);
            hlc = event.hlc;
            prop_assert_eq!(event.origin.as_str(), "620700");
        }
    }

    /// A key answers with its first event while the content is the same;
    /// different content is a conflict that writes nothing of its job and
    /// leaves the other jobs of the same commit alone.
    #[test]
    fn idempotency_keys_answer_the_first_event(
        commits in proptest::collection::vec(
            proptest::collection::vec((0u8..3, 0u8..2), 1..6), 1..6)
    ) {
        let mut h = Harness::new("620722");
        let mut first: BTreeMap<u8, (u8, u64)> = BTreeMap::new();
        for commit in &commits {
            let jobs: Vec<Vec<ValidAppend>> =
                commit.iter().map(|&(k, v)| vec![h.valid(&request("up", v, Some(k)))]).collect();
            let before = h.next_position;
            let plan = h.commit(&jobs);
            let mut expected_new = 0;
            for (&(k, v), result) in commit.iter().zip(&plan.results) {
                match first.get(&k) {
                    None => {
                        let outcome = result.as_ref().unwrap()[0];
                        prop_assert!(!outcome.deduplicated);
                        first.insert(k, (v, outcome.position));
                        expected_new += 1;
                    }
                    Some(&(v0, pos)) if v0 == v => {
                        let outcome = result.as_ref().unwrap()[0];
                        prop_assert!(outcome.deduplicated);
                        prop_assert_eq!(outcome.position, pos);
                    }
                    Some(_) => {
                        let err = result.as_ref().unwrap_err();
                        prop_assert!(matches!(err.error, AppendError::Conflict(_)));
                        prop_assert_eq!(err.error.violation().field.as_str(), "idempotency_key");
                    }
                }
            }
            prop_assert_eq!(h.next_position - before, expected_new);
        }
    }

    /// Channel rules across the whole Gansu topology: the province cannot
    /// send up, a county cannot send down, `to:` must name another known
    /// node; and every allowed up/down event has at least one entitled
    /// reader besides its origin, who is exactly an ancestor / descendant.
    #[test]
    fn channel_rules_follow_the_tree(origin_i in 0usize..101, reader_i in 0usize..101, target in 620000u32..659999) {
        let t = gansu();
        let nodes: Vec<NodeCode> = t.nodes().map(|n| n.code).collect();
        let (origin, reader) = (nodes[origin_i], nodes[reader_i]);
        let level = t.node(origin).unwrap().level;
        let up = check_send(&t, origin, &Channel::Up);
        prop_assert_eq!(up.is_ok(), level != Level::Province);
        let down = check_send(&t, origin, &Channel::Down);
        prop_assert_eq!(down.is_ok(), !t.children(origin).is_empty());
        if level == Level::County {
            prop_assert!(matches!(down, Err(AppendError::Precondition(_))));
        }
        let to: Channel = format!("to:{target}").parse().unwrap();
        let to_ok = check_send(&t, origin, &to).is_ok();
        let target_code = code(&target.to_string());
        prop_assert_eq!(to_ok, t.contains(target_code) && target_code != origin);

        let no_groups = |_: &_| false;
        if reader != origin {
            prop_assert_eq!(entitled(&t, reader, origin, &Channel::Up, no_groups), t.is_ancestor(reader, origin));
            prop_assert_eq!(entitled(&t, reader, origin, &Channel::Down, no_groups), t.is_ancestor(origin, reader));
            prop_assert!(entitled(&t, reader, origin, &Channel::All, no_groups));
            prop_assert_eq!(entitled(&t, reader, origin, &Channel::To(reader), no_groups), true);
            prop_assert_eq!(entitled(&t, reader, origin, &Channel::To(origin), no_groups), false);
        }
        if up.is_ok() {
            prop_assert!(t.nodes().any(|n| n.code != origin && entitled(&t, n.code, origin, &Channel::Up, no_groups)));
        }
        if down.is_ok() {
            prop_assert!(t.nodes().any(|n| n.code != origin && entitled(&t, n.code, origin, &Channel::Down, no_groups)));
        }
    }
}

#[test]
fn gansu_has_the_real_shape() {
    let t = gansu();
    assert_eq!(t.len(), 101);
    assert_eq!(t.nodes().filter(|n| n.level == Level::City).count(), 14);
    assert_eq!(t.nodes().filter(|n| n.level == Level::County).count(), 86);
    // 嘉峪关市 has no county-level division: it may not send down.
    let jiayuguan = code("620200");
    assert!(t.children(jiayuguan).is_empty());
    assert!(matches!(check_send(&t, jiayuguan, &Channel::Down), Err(AppendError::Precondition(_))));
}

#[test]
fn a_refused_job_leaves_no_trace_in_its_commit() {
    let mut h = Harness::new("620722");
    let first = h.commit(&[vec![h.valid(&request("up", 0, Some(1)))]]);
    assert!(first.results[0].is_ok());
    // Job 0: a fresh event then a conflicting key. Job 1: a fresh event.
    let jobs = vec![
        vec![h.valid(&request("up", 5, None)), h.valid(&request("up", 9, Some(1)))],
        vec![h.valid(&request("up", 6, None))],
    ];
    let plan = h.commit(&jobs);
    let err = plan.results[0].as_ref().unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(plan.events.len(), 1, "only job 1 is written");
    assert_eq!(plan.events[0].seq, 2, "job 1 takes the seq job 0 did not use");
}

/// Stored idempotency records hold this digest, so it must stay what it
/// always was: BLAKE3 of the request encoded without its key, here pinned
/// to its bytes for a request with every field set. A request without a
/// key carries none.
#[test]
fn a_keyed_request_is_digested_without_its_key_and_an_unkeyed_one_not_at_all() {
    let h = Harness::new("620722");
    let keyed = pb::AppendRequest {
        refs: vec!["0190b6c8-7d2e-7abc-8def-0123456789ab".into()],
        occurred_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 5 }),
        ..request("up", 3, Some(9))
    };
    let valid = h.valid(&keyed);
    let mut unkeyed = keyed.clone();
    unkeyed.idempotency_key.clear();
    let idempotency = valid.idempotency.expect("a keyed request keeps its key");
    assert_eq!(idempotency.key, "key-9");
    assert_eq!(idempotency.digest, *blake3::hash(&unkeyed.encode_to_vec()).as_bytes());
    assert_eq!(hex::encode(idempotency.digest), "092252707f4f913328c64e940a6b487b740201518fef672e60eff9724a30ad53");
    assert_eq!(h.valid(&unkeyed).idempotency, None);
    assert_eq!((valid.payload, valid.refs, valid.occurred_at), (keyed.payload.unwrap(), keyed.refs, keyed.occurred_at));
}
