//! The sync thread: covers every commit written with one fdatasync per
//! round (group commit) while the index thread writes views, and answers
//! each commit once both are done.

use super::answer::answer_all;
use super::commit::{InFlight, SyncTicket, ToSyncer};
use crate::error::StoreError;
use crate::store::Store;

/// Histogram of the seconds each successful sync of the log took (one
/// fdatasync, or with fork evidence sled's flush too), one sample per group
/// commit of appends and replicated events alike: the disk's part of their
/// latency, per node.
pub const LOG_SYNC_SECONDS: &str = "linkage_log_sync_seconds";

/// The syncer thread: takes everything queued, covers every ticket with
/// one fdatasync (group commit) while the indexer writes views, and
/// answers each commit whose views are written once a sync covers it:
/// a commit waits for the longer of the two, not for both in turn. A
/// commit's ticket is queued before the commit reaches the indexer, so it
/// is covered by the time its views are.
pub(super) fn sync_loop(store: &Store, rx: std::sync::mpsc::Receiver<ToSyncer>, in_flight: &InFlight) {
    let mut covered = 0;
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut ticket: Option<SyncTicket> = None;
        let mut indexed = Vec::new();
        for message in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match message {
                ToSyncer::Ticket(t) => {
                    let with_sled = t.with_sled || ticket.as_ref().is_some_and(|p| p.with_sled);
                    ticket = Some(SyncTicket { number: t.number, with_sled });
                }
                ToSyncer::Indexed(pending, result) => indexed.push((*pending, result)),
            }
        }
        // Those already covered need not wait for this sync. Answers keep
        // the commits' order: a commit without a ticket (retries only) may
        // answer with an event of an earlier commit, which must be durable
        // first.
        let covered_before = indexed.iter().take_while(|(p, _)| p.ticket.is_none_or(|t| t <= covered)).count();
        let waiting = indexed.split_off(covered_before);
        answer_all(store, indexed, in_flight);
        if let Some(ticket) = ticket {
            if failed.is_none() {
                let started = std::time::Instant::now();
                match store.sync_written(ticket.with_sled) {
                    Ok(()) => {
                        metrics::histogram!(LOG_SYNC_SECONDS).record(started.elapsed().as_secs_f64());
                        covered = ticket.number;
                    }
                    Err(e) => {
                        if !matches!(e, StoreError::Poisoned(_)) {
                            tracing::error!(error = %e, "sync failed; refusing further writes");
                        }
                        failed = Some(e.to_string());
                    }
                }
            }
        }
        let waiting = waiting
            .into_iter()
            .map(|(pending, result)| {
                let result = result.and_then(|()| match (&failed, pending.ticket) {
                    (_, Some(t)) if t <= covered => Ok(()),
                    (Some(why), _) => Err(StoreError::Poisoned(why.clone())),
                    (None, None) => Ok(()),
                    (None, Some(_)) => {
                        Err(StoreError::Poisoned("a commit reached the syncer before its ticket".into()))
                    }
                });
                (pending, result)
            })
            .collect();
        answer_all(store, waiting, in_flight);
    }
}
