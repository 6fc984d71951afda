//! A lying node: a real office's node with its real key and credentials,
//! running the honest code, plus every lie issue 20 names.

use crate::net::Msg;
use crate::node::{Ctx, Node};
use bytes::Bytes;
use linkage_core::{pb, Channel, NodeCode};
use prost::Message;

/// The lies, counted by how often each was told.
pub const LIES: [&str; 9] = [
    "replay",
    "re_encode",
    "inflate_heads",
    "unentitled_claim",
    "false_restore_answer",
    "forged_id",
    "forged_hlc",
    "flood",
    "stolen_key",
];

fn told(ctx: &mut Ctx, lie: &'static str) {
    *ctx.stats.lies.entry(lie).or_default() += 1;
}

/// The signature field moved to the front: the same signed content,
/// another encoding (what a relay could make of it).
pub fn re_encode(raw: &Bytes) -> Option<Bytes> {
    let (signed, signature) = linkage_core::wire::split_signature(raw).ok()?;
    let signature = signature?;
    let mut out = vec![0x7A, 64];
    out.extend_from_slice(&signature);
    out.extend_from_slice(signed);
    Some(out.into())
}

/// The event after `last` in its stream, signed with `key`, the province's
/// retired key: only when `last` was not signed with it, that is past the
/// old key's seqs. Below them the old key still verifies, which decision
/// 0054 leaves open.
fn past_the_old_seqs(last: &Bytes, key: &ed25519_dalek::SigningKey) -> Option<Bytes> {
    linkage_core::wire::verify(last, &key.verifying_key()).is_err().then_some(())?;
    let before = pb::Event::decode(&last[..]).ok()?;
    let event = pb::Event {
        seq: before.seq + 1,
        hlc: before.hlc + 1,
        prev_hash: linkage_core::wire::hash(last).to_vec(),
        signature: Vec::new(),
        ..before
    };
    Some(linkage_core::wire::sign(event.encode_to_vec(), key).into())
}

/// Answers a message as a liar would; false if the honest code should.
pub fn handle(node: &mut Node, ctx: &mut Ctx, from: NodeCode, msg: &Msg) -> bool {
    match msg {
        Msg::Pull { id, origin, channel, from_seq } if ctx.rng.chance(0.5) => {
            let mut events = node.serve_pull(ctx.topology, from, &(*origin, channel.clone()), *from_seq);
            let stolen = ctx.stolen.filter(|_| *origin == ctx.topology.root());
            // A thief of the province's retired key, relaying for it: one
            // more event past the old key's seqs, at the page's end.
            if let Some(forged) = stolen.and_then(|key| events.last().and_then(|last| past_the_old_seqs(last, key))) {
                events.push(forged);
                told(ctx, "stolen_key");
            } else if let Some(last) = events.last_mut() {
                if let Some(other) = re_encode(last) {
                    *last = other;
                    told(ctx, "re_encode");
                }
            }
            ctx.net.send(ctx.rng, ctx.now, node.code, from, Msg::Page { id: *id, events });
            true
        }
        Msg::Heads { id, origin } if ctx.rng.chance(0.7) => {
            let mut heads = node.heads_for(ctx.topology, from, *origin);
            for h in &mut heads {
                h.2 += 1 << 40;
            }
            told(ctx, "inflate_heads");
            // Streams the asker's siblings send up, and made-up ones.
            for n in ctx.topology.nodes() {
                heads.push((n.code, Channel::Up, 1 << 50));
                heads.push((n.code, Channel::To(n.code), 1 << 50));
                // A chain the asker is not on, or whose origin is not.
                heads.push((n.code, Channel::Chain(n.code), 1 << 50));
                heads.push((from, Channel::Chain(n.code), 1 << 50));
            }
            told(ctx, "unentitled_claim");
            if ctx.rng.chance(0.3) {
                for i in 0..5_000u64 {
                    let made_up: NodeCode = format!("{:06}", 100_000 + i).parse().expect("six digits");
                    heads.push((made_up, Channel::All, u64::MAX));
                }
                told(ctx, "flood");
            }
            ctx.net.send(ctx.rng, ctx.now, node.code, from, Msg::HeadsAnswer { id: *id, named: node.code, heads });
            true
        }
        Msg::Who { id } if ctx.rng.chance(0.8) => {
            // Claims the asker's streams reach far, in the name of
            // another node (its parent, say).
            let named = ctx.topology.node(from).and_then(|n| n.parent).unwrap_or(ctx.topology.root());
            let channels = [Channel::Up, Channel::Down, Channel::All, Channel::Chain(from)];
            let heads = channels.into_iter().map(|c| (from, c, 1u64 << 40)).collect();
            told(ctx, "false_restore_answer");
            ctx.net.send(ctx.rng, ctx.now, node.code, from, Msg::HeadsAnswer { id: *id, named, heads });
            true
        }
        _ => false,
    }
}

/// Lies told unasked, now and then.
pub fn act(node: &mut Node, ctx: &mut Ctx) {
    if !node.restored {
        return;
    }
    let roll = ctx.rng.below(1_000);
    match roll {
        0..=4 => {
            // An id of another committee's record, signed as its own.
            let taken: Vec<[u8; 16]> = node
                .store
                .log
                .iter()
                .filter(|(k, _)| k.0 != node.code)
                .filter_map(|(_, raw)| pb::Event::decode(raw.as_ref()).ok())
                .filter_map(|e| linkage_core::validate::parse_event_id(&e.id))
                .collect();
            let id = if taken.is_empty() {
                linkage_core::ids::event_id(ctx.topology.root(), 1 << 16, 1)
            } else {
                *ctx.rng.pick(&taken)
            };
            let kind =
                pb::payload::Kind::InfoReported(pb::InfoReported { title: "forged".into(), ..Default::default() });
            node.append(ctx, Channel::All, vec![(kind, Some(id), None)]);
            told(ctx, "forged_id");
        }
        5..=9 => {
            let far = if ctx.rng.chance(0.5) { u64::MAX - 5 } else { (ctx.wall() + 86_400_000) << 16 };
            let kind = pb::payload::Kind::InfoReported(pb::InfoReported {
                title: "from the future".into(),
                ..Default::default()
            });
            node.append(ctx, Channel::All, vec![(kind, None, Some(far))]);
            told(ctx, "forged_hlc");
        }
        10..=14 => {
            // An empty push claiming its own stream reaches 2^63.
            let me = node.code;
            for to in ctx.topology.nodes().map(|n| n.code).filter(|c| *c != me).collect::<Vec<_>>() {
                let msg = Msg::Push { origin: me, channel: Channel::All, head_seq: 1 << 63, events: Vec::new() };
                ctx.net.send(ctx.rng, ctx.now, me, to, msg);
            }
            told(ctx, "inflate_heads");
        }
        15..=19 => {
            // Its own old events again.
            let key = (node.code, Channel::All);
            let Some(events) = node.store.streams.get(&key).filter(|e| !e.is_empty()) else { return };
            let upto = ctx.rng.below(events.len() as u64) as usize + 1;
            let run: Vec<Bytes> = events[..upto].to_vec();
            let signed = linkage_core::wire::peek(&run[upto - 1]).is_ok_and(|p| p.signed);
            if signed {
                let me = node.code;
                for to in ctx.topology.nodes().map(|n| n.code).filter(|c| *c != me).collect::<Vec<_>>() {
                    let msg =
                        Msg::Push { origin: me, channel: Channel::All, head_seq: upto as u64, events: run.clone() };
                    ctx.net.send(ctx.rng, ctx.now, me, to, msg);
                }
                told(ctx, "replay");
            }
        }
        _ => {}
    }
}
