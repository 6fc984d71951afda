//! What a commit writes to sled, derived from the events the log holds:
//! the writer's part ([`Indexes::write_base`]: where each record lies,
//! seqs, heads, keys, forks, the hlc) and the index thread's part
//! ([`write_derived`]: the remote id index, alarms, the views, and last the
//! applied mark). Recovery writes both for records it replays ([`write_all`]).
//!
//! sled recovers a prefix of its inserts in the order they happened (the
//! writer's part of a commit happens before the index thread's), so the
//! mark, written last, never claims more than sled holds; whatever sled
//! holds past it is written again, to the same values (views are folds
//! over a set, so folding an event twice changes nothing), when the store
//! opens. After a crash two log-index or seq-index runs may so overlap;
//! they agree, and readers take each position from the first run that
//! has it.

use crate::error::StoreError;
use crate::event::WriteSet;
use crate::index::{Entry, Indexes};
use crate::keys;
use crate::views::overlay::Overlay;
use linkage_core::pb;
use linkage_core::views::{self, Breach, Dispute};
use linkage_core::NodeCode;
use prost::Message;

/// Counter of events whose folds changed a view.
pub const VIEWS_UPDATED_EVENTS: &str = "linkage_views_updated_events_total";

/// Counter of events stored that break an envelope rule, by origin and
/// rule (`linkage_core::views::breach`): they change no view.
pub const ENVELOPE_ALARMS: &str = "linkage_envelope_alarms_total";

/// The alarm entry of event `id` of `origin`, at `seq` of `channel`, that
/// breaks `rule`, counted in [`ENVELOPE_ALARMS`] the first time it is
/// written (a replay after a crash writes it again).
fn alarm_entry(
    indexes: &Indexes,
    origin: NodeCode,
    id: &[u8; 16],
    channel: &str,
    seq: u64,
    rule: Breach,
) -> Result<Entry, StoreError> {
    let key = keys::alarm(origin, rule, id, channel, seq);
    if !indexes.tree().contains_key(&key)? {
        metrics::counter!(ENVELOPE_ALARMS, "origin" => origin.to_string(), "rule" => rule.name()).increment(1);
    }
    Ok((key, Vec::new()))
}

/// The alarm entry of a claim the fold disputed.
fn dispute_entry(indexes: &Indexes, dispute: &Dispute) -> Result<Option<Entry>, StoreError> {
    let (Ok(origin), Some(id)) = (dispute.origin.parse(), linkage_core::validate::parse_event_id(&dispute.event_id))
    else {
        return Ok(None);
    };
    alarm_entry(indexes, origin, &id, &dispute.channel, dispute.seq, dispute.rule).map(Some)
}

/// The index thread's part of a commit: the id index of remote events,
/// alarms, the views, and last `applied_mark` (from [`Indexes::write_base`]).
pub fn write_derived(indexes: &Indexes, set: &WriteSet, applied_mark: Option<Vec<u8>>) -> Result<(), StoreError> {
    let mut batch: Vec<Entry> = Indexes::remote_id_entries(set);
    // The views change with the events that change them; an event that
    // breaks a rule changes none and is kept as an alarm.
    let mut views = Overlay::new(indexes.tree());
    let mut folded = 0;
    for event in &set.events {
        let decoded_here;
        let decoded = match &event.decoded {
            Some(decoded) => decoded,
            // Bytes that do not decode passed verification, so only a newer
            // payload could: they change nothing.
            None => match pb::Event::decode(&event.raw[..]) {
                Ok(decoded) => {
                    decoded_here = decoded;
                    &decoded_here
                }
                Err(_) => continue,
            },
        };
        // `apply` judges the rules itself; only an event it did not fold
        // is judged again, for its alarm.
        match views::apply(decoded, &mut views) {
            Some(applied) => {
                folded += 1;
                for dispute in &applied.disputes {
                    batch.extend(dispute_entry(indexes, dispute)?);
                }
            }
            None => {
                if let Some(rule) = views::breach(decoded) {
                    batch.push(alarm_entry(indexes, event.origin, &event.id, &event.channel, event.seq, rule)?);
                }
            }
        }
    }
    batch.extend(views.finish()?);
    // Last, once everything before it is in: sled recovers a prefix.
    batch.extend(applied_mark.map(|mark| (keys::META_APPLIED.to_vec(), mark)));
    indexes.insert_all(batch)?;
    metrics::counter!(VIEWS_UPDATED_EVENTS).increment(folded);
    Ok(())
}

/// Both parts of a commit whose records are at `locations`, in order.
pub fn write_all(indexes: &Indexes, set: &WriteSet, locations: &[(u64, u32)]) -> Result<(), StoreError> {
    let mark = indexes.write_base(set, locations)?;
    write_derived(indexes, set, mark)
}
