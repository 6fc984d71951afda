//! Plans a group commit: turns validated append requests into the exact
//! bytes and index entries to write, given the current heads and
//! idempotency records. The store persists the plan in one atomic batch.
//!
//! Rules this module owns:
//! - each (origin, channel) is numbered densely from 1;
//! - each event carries the hash of the previous event of its stream;
//! - the last event of each stream in a commit is signed, which vouches for
//!   the earlier ones through the hash chain;
//! - a repeated idempotency key with the same content answers the first
//!   event, with different content is a conflict;
//! - one job (one `Append` or `AppendBatch`) is all or nothing, and a failed
//!   job does not disturb the other jobs of the same commit.

use crate::channel::Channel;
use crate::code::NodeCode;
use crate::error::{AppendError, FieldViolation};
use crate::hlc::HlcClock;
use crate::pb;
use crate::validate::{format_event_id, ValidAppend};
use crate::wire;
use ed25519_dalek::SigningKey;
use prost::Message;
use std::collections::BTreeMap;

/// A signature at least every this many events of a stream, so that a
/// push or pull page of that many events can always be checked alone.
pub const SIGN_EVERY_EVENTS: usize = 256;

/// A signature at least every this many bytes of a stream: with events of
/// up to 64 KiB, a signed stretch stays under 320 KiB, well inside one NATS
/// message (1 MiB by default).
pub const SIGN_EVERY_BYTES: usize = 256 * 1024;

/// The head of one of this node's streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Highest seq issued.
    pub seq: u64,
    /// Hash of that event's stored bytes.
    pub hash: [u8; 32],
}

/// What an idempotency key stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Digest of the first request's content.
    pub digest: [u8; 32],
    /// Local position of the first event.
    pub position: u64,
}

/// What the ledger needs to know of the store.
pub trait LedgerState {
    /// Head of this node's stream on `channel`, `None` before its first event.
    fn head(&self, channel: &Channel) -> Option<Head>;
    /// The record of an idempotency key, if it was used before.
    fn key(&self, key: &str) -> Option<KeyRecord>;
}

/// An in-memory [`LedgerState`]: the store loads what a commit needs
/// (its heads are cached; keys are fetched per commit) so that planning
/// cannot meet a storage error halfway.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    /// Heads of this node's streams.
    pub heads: BTreeMap<Channel, Head>,
    /// Records of the idempotency keys the commit's requests carry.
    pub keys: BTreeMap<String, KeyRecord>,
}

impl LedgerState for MemoryState {
    fn head(&self, channel: &Channel) -> Option<Head> {
        self.heads.get(channel).copied()
    }
    fn key(&self, key: &str) -> Option<KeyRecord> {
        self.keys.get(key).copied()
    }
}

/// An event the commit creates.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Local position.
    pub position: u64,
    /// Its channel.
    pub channel: Channel,
    /// Its seq in (origin, channel).
    pub seq: u64,
    /// Its id.
    pub id: [u8; 16],
    /// The stored bytes.
    pub raw: Vec<u8>,
    /// True when `raw` carries a signature.
    pub signed: bool,
    /// The event as built, before signing: the views fold it without
    /// decoding `raw` again.
    pub event: pb::Event,
    /// The principal whose request it answers (`ValidAppend::appended_by`).
    pub appended_by: Option<String>,
}

/// The result of one request of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Local position of the event that answers the request.
    pub position: u64,
    /// True when an earlier event with the same key and content answers it.
    pub deduplicated: bool,
}

/// Why a job was refused: which request, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobError {
    /// Index of the request within its job.
    pub index: usize,
    /// The error, with the field path relative to that request.
    pub error: AppendError,
}

/// Everything one commit writes.
#[derive(Clone, Debug, Default)]
pub struct CommitPlan {
    /// New events in position order.
    pub events: Vec<NewEvent>,
    /// New heads of the streams the commit touches.
    pub heads: BTreeMap<Channel, Head>,
    /// New idempotency records.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Per job: its outcomes, or why the whole job was refused.
    pub results: Vec<Result<Vec<Outcome>, JobError>>,
    /// Highest hlc issued.
    pub hlc_last: u64,
    /// Per stream: events and bytes since the last signed event in this commit.
    unsigned_runs: BTreeMap<Channel, (usize, usize)>,
}

/// Inputs from the outside world for one commit.
pub struct CommitContext<'a> {
    /// This node.
    pub origin: NodeCode,
    /// Its signing key.
    pub key: &'a SigningKey,
    /// Wall time now, for hlc and for a missing `occurred_at`.
    pub now_ms: u64,
    /// The first free local position.
    pub next_position: u64,
    /// The node's clock.
    pub clock: &'a mut HlcClock,
}

/// Plans one commit of several jobs, taking them apart: their payloads
/// move into the events uncopied.
pub fn plan(state: &dyn LedgerState, mut ctx: CommitContext<'_>, jobs: Vec<Vec<ValidAppend>>) -> CommitPlan {
    let mut plan = CommitPlan::default();
    let mut next_position = ctx.next_position;
    for job in jobs {
        // Work on copies so a refused job leaves no trace.
        let mut heads = plan.heads.clone();
        let mut keys = plan.keys.clone();
        let mut runs = plan.unsigned_runs.clone();
        let mut events = Vec::new();
        let mut position = next_position;
        let mut clock = *ctx.clock;
        let result =
            plan_job(state, &mut ctx, job, &mut heads, &mut keys, &mut runs, &mut events, &mut position, &mut clock);
        if result.is_ok() {
            plan.heads = heads;
            plan.unsigned_runs = runs;
            plan.keys = keys;
            plan.events.extend(events);
            next_position = position;
            *ctx.clock = clock;
        }
        plan.results.push(result);
    }
    sign_stream_ends(&mut plan, ctx.key);
    plan.hlc_last = ctx.clock.last();
    plan
}

#[allow(clippy::too_many_arguments)]
fn plan_job(
    state: &dyn LedgerState,
    ctx: &mut CommitContext<'_>,
    job: Vec<ValidAppend>,
    heads: &mut BTreeMap<Channel, Head>,
    keys: &mut BTreeMap<String, KeyRecord>,
    runs: &mut BTreeMap<Channel, (usize, usize)>,
    events: &mut Vec<NewEvent>,
    position: &mut u64,
    clock: &mut HlcClock,
) -> Result<Vec<Outcome>, JobError> {
    let mut outcomes = Vec::with_capacity(job.len());
    for (index, request) in job.into_iter().enumerate() {
        if let Some(keyed) = &request.idempotency {
            if let Some(record) = keys.get(&keyed.key).copied().or_else(|| state.key(&keyed.key)) {
                if record.digest != keyed.digest {
                    let error = AppendError::Conflict(FieldViolation::new(
                        "idempotency_key",
                        "was used before with different content",
                    ));
                    return Err(JobError { index, error });
                }
                outcomes.push(Outcome { position: record.position, deduplicated: true });
                continue;
            }
        }
        let head = heads.get(&request.channel).copied().or_else(|| state.head(&request.channel));
        let seq = head.map_or(1, |h| h.seq + 1);
        let hlc = clock.tick(ctx.now_ms);
        let id = crate::ids::event_id(ctx.origin, hlc, *position);
        let occurred_at = request.occurred_at.unwrap_or_else(|| timestamp_from_ms(ctx.now_ms));
        let event = pb::Event {
            id: format_event_id(&id),
            origin: ctx.origin.to_string(),
            channel: request.channel.to_string(),
            seq,
            hlc,
            occurred_at: Some(occurred_at),
            refs: request.refs,
            prev_hash: head.map(|h| h.hash.to_vec()).unwrap_or_default(),
            payload: Some(request.payload),
            signature: Vec::new(),
        };
        let mut raw = event.encode_to_vec();
        // Sign inside long runs too, so that every stretch a push or a pull
        // page carries ends with a signature the receiver can check.
        let run = runs.entry(request.channel.clone()).or_default();
        *run = (run.0 + 1, run.1 + raw.len());
        let signed = run.0 >= SIGN_EVERY_EVENTS || run.1 >= SIGN_EVERY_BYTES;
        if signed {
            raw = wire::sign(raw, ctx.key);
            *run = (0, 0);
        }
        heads.insert(request.channel.clone(), Head { seq, hash: wire::hash(&raw) });
        if let Some(keyed) = request.idempotency {
            keys.insert(keyed.key, KeyRecord { digest: keyed.digest, position: *position });
        }
        let appended_by = request.appended_by;
        events.push(NewEvent {
            position: *position,
            channel: request.channel,
            seq,
            id,
            raw,
            signed,
            event,
            appended_by,
        });
        outcomes.push(Outcome { position: *position, deduplicated: false });
        *position += 1;
    }
    Ok(outcomes)
}

/// Signs the last event of each stream and records the hash of the signed
/// bytes as the stream's head.
fn sign_stream_ends(plan: &mut CommitPlan, key: &SigningKey) {
    for (channel, head) in plan.heads.iter_mut() {
        let Some(last) = plan.events.iter_mut().rev().find(|e| &e.channel == channel) else { continue };
        debug_assert_eq!(last.seq, head.seq);
        if last.signed {
            continue;
        }
        last.signed = true;
        last.raw = wire::sign(std::mem::take(&mut last.raw), key);
        head.hash = wire::hash(&last.raw);
    }
}

/// A protobuf timestamp for wall time in milliseconds.
pub fn timestamp_from_ms(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: (ms / 1000) as i64, nanos: ((ms % 1000) * 1_000_000) as i32 }
}
