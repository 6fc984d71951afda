//! What must hold once the faults have stopped and the network has
//! healed, for every honest node (the liar's own state proves nothing).

use crate::world::Sim;
use linkage_core::hlc::{physical_ms, SKEW_MAX_MS};
use linkage_core::replica::{StreamKey, PENDING_EVENTS_TOTAL_MAX, STREAMS_TRACKED_MAX};
use linkage_core::views::{dump, RecordKind};
use linkage_core::{ids, pb, validate, Channel};
use prost::Message;

/// Judges the end state; violations go to `sim.stats.violations`.
pub fn judge(sim: &mut Sim) {
    let mut out = Vec::new();
    let wall = sim.wall0 + sim.now;
    let honest: Vec<_> = sim.nodes.keys().copied().filter(|c| *c != sim.liar).collect();
    // The seed exercised every kind of channel.
    let kinds: std::collections::BTreeSet<&str> = sim.stats.created.keys().map(|((_, c), _)| kind(c)).collect();
    if kinds.len() < 6 {
        out.push(format!("the seed made events on {kinds:?} only"));
    }
    // The province rotated its key and every node closed the overlap, so
    // what converged below verified against both keys over their seqs.
    if !sim.rotation.closed {
        out.push(format!("the province's rotation did not close (switched at {:?})", sim.rotation.until));
    }
    for c in &honest {
        let node = &sim.nodes[c];
        if !node.up || !node.restored {
            out.push(format!("{c}: restore not finished (up {}, restored {})", node.up, node.restored));
        }
        // Nothing forged or re-encoded stored.
        for (key, events) in &node.store.streams {
            for (i, raw) in events.iter().enumerate() {
                let made = sim.stats.created.get(&(key.clone(), i as u64 + 1));
                if !made.is_some_and(|v| v.contains(raw)) {
                    out.push(format!("{c}: holds bytes {}/{} seq {} that its origin never made", key.0, key.1, i + 1));
                }
            }
        }
        // Convergence: every stream it may see, as its origin holds it.
        for (origin, source) in &sim.nodes {
            for (key, events) in source.store.streams.iter().filter(|(k, _)| k.0 == *origin) {
                // The liar may withhold its own streams: nobody else holds
                // what it never sent.
                let skip = origin == c || *origin == sim.liar || sim.stats.excused.contains(key);
                if skip || !node.entitled(&sim.topology, *c, key) {
                    continue;
                }
                let held = node.store.streams.get(key).map_or(&[][..], |v| &v[..]);
                if held != &events[..] {
                    out.push(format!("{c}: holds {} of {}/{}, its origin {}", held.len(), key.0, key.1, events.len()));
                }
            }
        }
        // Acknowledged own events are kept.
        for (key, acked) in sim.stats.acked.iter().filter(|(k, _)| k.0 == *c) {
            if node.store.head(key) < *acked && !sim.stats.excused.contains(key) {
                out.push(format!("{c}: lost own acknowledged {}/{} seq {acked}", key.0, key.1));
            }
        }
        // Forks only where a restore was excused.
        for (key, seq) in &node.store.forks {
            if !sim.stats.excused.contains(key) {
                out.push(format!("{c}: fork evidence at {}/{} seq {seq}", key.0, key.1));
            }
        }
        // Views: as folded in stream order, whatever the arrival order;
        // every record belongs to the origin its id names.
        if dump(&node.store.records) != dump(&node.store.refolded()) {
            out.push(format!("{c}: views depend on arrival order"));
        }
        for ((kind, id), bytes) in &node.store.records {
            if *kind != RecordKind::Info {
                continue;
            }
            let Ok(item) = pb::InfoItem::decode(bytes.as_slice()) else { continue };
            let named = validate::parse_event_id(id).and_then(|b| ids::embedded_origin(&b)).map(|(o, _)| o.to_string());
            if !item.origin.is_empty() && named.as_deref() != Some(item.origin.as_str()) {
                out.push(format!("{c}: info {id} shows origin {} but its id names {named:?}", item.origin));
            }
        }
        // Time: no peer dragged its clock ahead.
        if physical_ms(node.store.clock.last()) > wall + SKEW_MAX_MS {
            out.push(format!("{c}: clock dragged {} ms ahead", physical_ms(node.store.clock.last()) - wall));
        }
        // Memory: bounded; nothing believed beyond what exists.
        let replica = &node.replica;
        if replica.streams().len() > STREAMS_TRACKED_MAX || replica.pending_total() > PENDING_EVENTS_TOTAL_MAX {
            out.push(format!("{c}: {} streams tracked, {} pending", replica.streams().len(), replica.pending_total()));
        }
        for (key, state) in replica.streams() {
            // State only for streams that exist, its own, or those the
            // liar may hold (its claims are hints like any entitled peer's).
            let exists = sim.stats.created.contains_key(&(key.clone(), 1));
            let liar_may = key.0 == sim.liar || node.entitled(&sim.topology, sim.liar, key);
            if key.0 != *c && !liar_may && !exists {
                out.push(format!("{c}: tracks {}/{}, which no one made", key.0, key.1));
            }
            let real = real_head(sim, key);
            if state.proved > real && !sim.stats.excused.contains(key) {
                out.push(format!("{c}: believes {}/{} reaches {}, it reaches {real}", key.0, key.1, state.proved));
            }
        }
    }
    sim.stats.violations.extend(out);
}

fn real_head(sim: &Sim, key: &StreamKey) -> u64 {
    sim.nodes.get(&key.0).map_or(0, |n| n.store.head(key))
}

fn kind(channel: &Channel) -> &'static str {
    match channel {
        Channel::Up => "up",
        Channel::Down => "down",
        Channel::All => "all",
        Channel::Group(_) => "group",
        Channel::To(_) => "to",
        Channel::Chain(_) => "chain",
        Channel::Federation(_) => "fed",
    }
}
