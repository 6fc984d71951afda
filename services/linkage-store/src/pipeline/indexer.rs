//! The index thread: writes what only readers use for each commit, in
//! order, beside the writer and the sync thread.

use super::answer::fail_pending;
use super::commit::{Pending, ToSyncer};
use crate::error::StoreError;
use crate::store::Store;

/// The indexer thread: writes what only readers use (remote ids, views,
/// the applied mark) for each commit in order, on the other core while
/// the writer plans the next one and the syncer syncs this one, then hands
/// it to the syncer to answer. A failure poisons the store, and the syncer
/// fails the commit's answers.
pub(super) fn index_loop(
    store: &Store,
    rx: std::sync::mpsc::Receiver<Pending>,
    syncer: &std::sync::mpsc::SyncSender<ToSyncer>,
) {
    while let Ok(mut pending) = rx.recv() {
        let derived = store.write_derived(&pending.set, pending.mark.take());
        if let Err(e) = &derived {
            if !matches!(e, StoreError::Poisoned(_)) {
                tracing::error!(error = %e, "writing views failed; refusing further writes");
            }
        }
        if let Err(std::sync::mpsc::SendError(ToSyncer::Indexed(pending, _))) =
            syncer.send(ToSyncer::Indexed(Box::new(pending), derived))
        {
            fail_pending(*pending, &StoreError::Poisoned("the sync thread has stopped".into()));
        }
    }
}
