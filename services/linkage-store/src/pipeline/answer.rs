//! Answering commits: once a commit's views are written and a sync
//! covers it, readers may see it and its callers get their events; a
//! commit that will not become durable fails its callers instead.

use super::commit::{AppendFailure, Appended, InFlight, Pending, Reply};
use crate::error::StoreError;
use crate::event::{StoredEvent, WriteSet};
use crate::store::Store;
use linkage_core::{ledger, pb};
use std::collections::BTreeMap;

pub(super) fn answer_all(store: &Store, commits: Vec<(Pending, Result<(), StoreError>)>, in_flight: &InFlight) {
    let count = commits.len();
    for (pending, result) in commits {
        answer(store, pending, result);
    }
    if count > 0 {
        in_flight.answered(count);
    }
}

/// Lets readers see a written commit whose views are written and whose
/// sync is `result`, then answers it; a failure fails its answers.
pub(super) fn answer(store: &Store, pending: Pending, result: Result<(), StoreError>) {
    let stored: Vec<StoredEvent> = pending
        .set
        .events
        .iter()
        .map(|e| StoredEvent {
            position: e.position,
            raw: sled::IVec::from(e.raw.as_ref()),
            appended_by: e.appended_by.clone(),
        })
        .collect();
    match result.and_then(|()| store.publish_durable(&stored)) {
        Ok(()) => {
            for (reply, report) in pending.applies {
                let _ = reply.send(Ok(report));
            }
            answer_appends(store, pending.plan, pending.set, stored, pending.append_replies);
        }
        Err(e) => fail_pending(pending, &e),
    }
}

/// Answers a durable commit's appends: new events from the commit itself,
/// deduplicated ones from the store.
/// `stored` are the commit's events as [`Store::publish_durable`] took them.
fn answer_appends(
    store: &Store,
    plan: ledger::CommitPlan,
    set: WriteSet,
    stored: Vec<StoredEvent>,
    replies: Vec<Reply>,
) {
    if replies.is_empty() {
        // Remote runs only: nobody to answer here.
        return;
    }
    let mut new: BTreeMap<u64, (StoredEvent, Option<pb::Event>)> =
        stored.into_iter().zip(set.events).map(|(s, e)| (s.position, (s, e.decoded))).collect();
    for (result, reply) in plan.results.into_iter().zip(replies) {
        let answer =
            result.map_err(|e| AppendFailure::Rejected { index: e.index, error: e.error }).and_then(|outcomes| {
                outcomes
                    .into_iter()
                    .map(|o| {
                        // The decoded event goes to the first request it
                        // answers; a second one with the same key in the same
                        // commit gets the bytes only.
                        let (event, decoded) = match new.get_mut(&o.position) {
                            Some((event, decoded)) => (event.clone(), decoded.take()),
                            None => {
                                let stored = store
                                    .get_position(o.position)
                                    .map_err(|e| AppendFailure::Unavailable(e.to_string()))?
                                    .ok_or_else(|| AppendFailure::Unavailable("deduplicated event not found".into()))?;
                                (stored, None)
                            }
                        };
                        Ok(Appended { event, decoded, deduplicated: o.deduplicated })
                    })
                    .collect()
            });
        // A caller that gave up (cancelled RPC) no longer listens; the
        // event is durable all the same and its key answers a retry.
        let _ = reply.send(answer);
    }
}

/// Fails every answer of a commit that will not become durable.
pub(super) fn fail_pending(pending: Pending, error: &StoreError) {
    fail_appends(pending.append_replies, error);
    for (reply, _) in pending.applies {
        let _ = reply.send(Err(error.to_string()));
    }
}

pub(super) fn fail_appends(replies: Vec<Reply>, error: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(AppendFailure::Unavailable(error.to_string())));
    }
}
