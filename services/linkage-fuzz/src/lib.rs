//! Fuzz targets: everything a peer or a client can send to a node.
//!
//! Each function takes arbitrary bytes, must not panic, and checks what
//! must hold of whatever it accepts. `fuzz/fuzz_targets/` runs them under
//! libFuzzer (`make fuzz`); `tests/corpus.rs` replays the checked-in
//! corpus (`fuzz/corpus/<target>/`) and [`seeds`] in `make test`.

use ed25519_dalek::SigningKey;
use linkage_core::{pb, subjects, verify, wire, Channel, NodeCode, Topology};
use prost::Message;
use std::sync::OnceLock;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("envelope", envelope),
    ("verify_run", verify_run),
    ("mutated_run", mutated_run),
    ("peer_messages", peer_messages),
    ("append_request", append_request),
    ("page_token", page_token),
];

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[7; 32]))
}

/// A valid signed run of three events of 620722's `up` stream (the last
/// one signed, the earlier ones vouched for by the chain).
pub fn valid_run() -> &'static [Vec<u8>] {
    static RUN: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for seq in 1..=3u64 {
            let hlc = (1_800_000_000_000 + seq) << 16;
            let id = linkage_core::ids::event_id("620722".parse().expect("a code"), hlc, seq);
            let event = pb::Event {
                id: linkage_core::validate::format_event_id(&id),
                origin: "620722".into(),
                channel: "up".into(),
                seq,
                hlc,
                prev_hash: out.last().map(|raw| wire::hash(raw).to_vec()).unwrap_or_default(),
                payload: Some(pb::Payload {
                    kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                        title: format!("社情民意 {seq}"),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            };
            let raw = event.encode_to_vec();
            out.push(if seq == 3 { wire::sign(raw, key()) } else { raw });
        }
        out
    })
}

/// A topology of a province, a city and a county.
fn topology() -> &'static Topology {
    static T: OnceLock<Topology> = OnceLock::new();
    T.get_or_init(|| {
        use linkage_core::topology::{NodeEntry, TopologyFile};
        use linkage_core::Level;
        let entry = NodeEntry::unnamed;
        let nodes = vec![
            entry("620000", Level::Province, None),
            entry("620700", Level::City, Some("620000")),
            entry("620722", Level::County, Some("620700")),
        ];
        Topology::from_file(TopologyFile { version: None, nodes, federations: Vec::new(), national_since: None })
            .expect("a valid topology")
    })
}

/// Splits `data` into events: a count byte, then each event as a 2-byte
/// length and its bytes.
fn framed(data: &[u8]) -> Vec<&[u8]> {
    let Some((&count, mut rest)) = data.split_first() else { return Vec::new() };
    let mut out = Vec::new();
    for _ in 0..count % 8 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else { break };
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (event, tail) = tail.split_at(len);
        out.push(event);
        rest = tail;
    }
    out
}

/// The envelope parsers agree with each other on anything.
pub fn envelope(data: &[u8]) {
    let split = wire::split_signature(data);
    let peeked = wire::peek(data);
    let parsed = verify::parse(data);
    if let Ok((signed, signature)) = &split {
        match signature {
            Some(_) => assert_eq!(signed.len() + 66, data.len(), "the signature is the last 66 bytes"),
            None => assert_eq!(signed.len(), data.len()),
        }
        if let Ok(p) = &peeked {
            assert_eq!(p.signed, signature.is_some(), "peek and split agree on the signature");
        }
    }
    if let (Ok(p), Ok(full)) = (&peeked, &parsed) {
        assert_eq!(p.seq, full.seq, "peek and parse agree on the seq");
        assert_eq!(p.origin, full.origin.as_str().as_bytes());
    }
}

/// A run of arbitrary events verified against a key: accepted only if it
/// is one chained run of one stream ending with that key's signature.
pub fn verify_run(data: &[u8]) {
    let events = framed(data);
    if let Ok(parsed) = verify::verify_run(&events, &key().verifying_key()) {
        for pair in parsed.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1);
            assert_eq!(pair[1].prev_hash, Some(pair[0].hash));
            assert_eq!((&pair[1].origin, &pair[1].channel), (&pair[0].origin, &pair[0].channel));
        }
        if let Some(last) = events.last() {
            assert!(wire::verify(last, &key().verifying_key()).is_ok());
        }
    }
}

/// The valid run with bytes changed, inserted or removed as `data` says:
/// whatever still verifies is byte for byte the original (one signed
/// event has one accepted encoding, and the chain pins the rest).
pub fn mutated_run(data: &[u8]) {
    let mut run: Vec<Vec<u8>> = valid_run().to_vec();
    for op in data.chunks(4) {
        let [which, at_hi, at_lo, value] =
            [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0), *op.get(3).unwrap_or(&0)];
        let event = &mut run[usize::from(which) % 3];
        let at = usize::from(u16::from_be_bytes([at_hi, at_lo])) % (event.len() + 1);
        match which / 3 % 4 {
            0 if at < event.len() => event[at] ^= value.max(1),
            1 => event.insert(at, value),
            2 if at < event.len() => {
                event.remove(at);
            }
            _ => event.extend_from_slice(&[0x7A, 0x40]),
        }
    }
    if verify::verify_run(&run, &key().verifying_key()).is_ok() {
        assert_eq!(run, valid_run(), "a changed run verified");
    }
}

/// Messages between nodes: pushes, pull requests and pages, heads; and
/// subjects. A push's events go through verification as the engine's.
pub fn peer_messages(data: &[u8]) {
    if let Ok(push) = pb::Push::decode(data) {
        let _ = verify::verify_run(&push.events, &key().verifying_key());
        let _ = push.channel.parse::<Channel>();
        let _ = push.origin.parse::<NodeCode>();
    }
    if let Ok(page) = pb::PullResponse::decode(data) {
        let _ = verify::verify_run(&page.events, &key().verifying_key());
    }
    if let Ok(heads) = pb::HeadsResponse::decode(data) {
        for h in heads.heads.iter().take(linkage_core::replica::HEADS_PER_ANSWER_MAX) {
            let _ = (h.origin.parse::<NodeCode>(), h.channel.parse::<Channel>());
        }
    }
    let _ = pb::PeerRequest::decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let scheme = subjects::Subjects;
        let _ = scheme.parse_push(text);
        let _ = scheme.parse_pull(text);
        let _ = scheme.parse_who(text);
        let me: NodeCode = "620722".parse().expect("a code");
        // A reply subject the responder publishes on is one NATS subject:
        // no wildcard, no space.
        if subjects::is_inbox_of(me, text) {
            assert!(!text.contains(['*', '>']) && !text.chars().any(char::is_whitespace), "not one subject: {text:?}");
        }
    }
}

/// A client's append: decoded and validated as the node does, refused
/// with a field named, or accepted.
pub fn append_request(data: &[u8]) {
    let Ok(request) = pb::AppendRequest::decode(data) else { return };
    let origin: NodeCode = "620722".parse().expect("a code");
    if let Err(e) = linkage_core::validate::validate_append(topology(), origin, request) {
        assert!(!e.to_string().is_empty());
    }
}

/// Page tokens: any text is a cursor or refused; a token made for a
/// scope gives back its cursor there only.
pub fn page_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (scope, rest) = text.split_once('\u{0}').unwrap_or((&text, ""));
    let _ = linkage_core::paging::cursor(rest, scope);
    let _ = linkage_core::paging::numeric_cursor(rest, scope);
    let cursor: String = rest.chars().filter(|c| *c != '\n').collect();
    let token = linkage_core::paging::token(&cursor, scope);
    assert_eq!(linkage_core::paging::cursor(&token, scope), Ok(Some(cursor.clone())));
    let other = format!("{scope}x");
    assert!(linkage_core::paging::cursor(&token, &other).is_err());
}

/// Inputs every target starts from: valid messages of each kind.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let run = valid_run();
    let mut framed_run = vec![3u8];
    for raw in run {
        framed_run.extend_from_slice(&(raw.len() as u16).to_le_bytes());
        framed_run.extend_from_slice(raw);
    }
    let push = pb::Push {
        events: run.iter().map(|r| r.clone().into()).collect(),
        head_seq: 3,
        origin: "620722".into(),
        channel: "up".into(),
    };
    let append = pb::AppendRequest {
        channel: "up".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: "社情民意".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    vec![
        ("envelope", run[2].clone()),
        ("envelope", run[0].clone()),
        ("verify_run", framed_run),
        ("mutated_run", Vec::new()),
        ("mutated_run", vec![2, 0, 10, 1]),
        ("peer_messages", push.encode_to_vec()),
        ("peer_messages", b"lk.620000.pull.620700.620722".to_vec()),
        ("append_request", append.encode_to_vec()),
        ("page_token", b"events/620722/up\x0042".to_vec()),
    ]
}
