//! Rebuilding the views from the log: on demand (`AdminService.RebuildViews`,
//! run as a job of the single writer so no append lands in a half-built
//! view) and when the stored views were written by another version. One
//! thread reads and decodes the log while another folds into decoded
//! records in memory; at the end they are compared with the stored ones,
//! and nothing is written when they are equal.

use super::blocks::{all_records, read_record, write_records, LastKeys};
use super::version::StoredVersion;
use crate::error::StoreError;
use crate::keys;
use crate::log::Log;
use linkage_core::pb;
use linkage_core::views::{self, Breach, FoldContext, Record, RecordCache, RecordKind};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Events a rebuild's reader decodes per message to the folding thread.
const REBUILD_DECODE_PAGE: usize = 1_024;

/// Decoded records a rebuild keeps in memory before it writes them out and
/// starts reading back from sled the ones later events touch: at a few
/// hundred bytes each, some tens of MiB.
const REBUILD_RECORDS_IN_MEMORY: usize = 200_000;

/// What a rebuild did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RebuildStats {
    /// Events read from the log.
    pub events: u64,
    /// Records written: those that came out different from what was stored.
    pub records: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Drops every view record and folds the whole log again, then calls
/// `sync` to make it durable. Must not run beside the writer. The version
/// mark goes first and comes back last, so a crash midway leaves none and
/// the next open rebuilds.
pub fn rebuild(
    tree: &sled::Tree,
    log: &Log,
    sync: impl FnOnce() -> Result<(), StoreError>,
) -> Result<RebuildStats, StoreError> {
    let started = Instant::now();
    tree.remove(keys::META_VIEWS)?;
    remove_prefix(tree, keys::ALARM)?;
    let mut stats = RebuildStats { events: 0, records: 0, seconds: 0.0 };
    let context = super::version::context(tree)?;
    let mut cache = RebuildCache { tree, context, records: HashMap::new(), spilled: false, error: None };
    // One thread reads and decodes the log while this one folds.
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<pb::Event>, StoreError>>(4);
        scope.spawn(move || {
            let mut page = Vec::with_capacity(REBUILD_DECODE_PAGE);
            let scanned = log.scan_written(|raw| {
                page.push(pb::Event::decode(raw.as_slice()).unwrap_or_default());
                if page.len() == REBUILD_DECODE_PAGE
                    && tx.send(Ok(std::mem::replace(&mut page, Vec::with_capacity(REBUILD_DECODE_PAGE)))).is_err()
                {
                    return Err(StoreError::Corrupt("the rebuild stopped reading".into()));
                }
                Ok(())
            });
            let _ = tx.send(scanned.map(|()| page));
        });
        for page in rx {
            for event in page? {
                match views::apply_cached(&event, &mut cache) {
                    Some(applied) => {
                        for d in &applied.disputes {
                            note_alarm(tree, &d.origin, &d.event_id, &d.channel, d.seq, d.rule)?;
                        }
                    }
                    None => {
                        if let Some(rule) = views::breach(&event) {
                            note_alarm(tree, &event.origin, &event.id, &event.channel, event.seq, rule)?;
                        }
                    }
                }
                stats.events += 1;
            }
            if cache.records.len() >= REBUILD_RECORDS_IN_MEMORY {
                stats.records += cache.spill()?;
            }
        }
        Ok(())
    })?;
    stats.records += cache.finish()?;
    tree.insert(keys::META_VIEWS, &StoredVersion::current().encode()[..])?;
    sync()?;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// Removes every key under `prefix`.
fn remove_prefix(tree: &sled::Tree, prefix: u8) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    for key in tree.scan_prefix([prefix]).keys() {
        batch.remove(key?);
    }
    tree.apply_batch(batch)?;
    Ok(())
}

/// Keeps the alarm of an event that breaks `rule` (as `crate::derive`
/// does for a commit).
fn note_alarm(
    tree: &sled::Tree,
    origin: &str,
    id: &str,
    channel: &str,
    seq: u64,
    rule: Breach,
) -> Result<(), StoreError> {
    let (Ok(origin), Some(id)) = (origin.parse(), linkage_core::validate::parse_event_id(id)) else {
        return Ok(());
    };
    tree.insert(keys::alarm(origin, rule, &id, channel, seq), &[][..])?;
    Ok(())
}

/// Decoded records of a rebuild, written out in key order when there are
/// many and at the end.
struct RebuildCache<'a> {
    tree: &'a sled::Tree,
    /// What the views are folded by (`version::context`).
    context: FoldContext,
    records: HashMap<Vec<u8>, Record>,
    /// Some records went to sled already: look there before starting one.
    spilled: bool,
    error: Option<StoreError>,
}

impl RebuildCache<'_> {
    /// The records held so far, encoded, by key.
    fn drain_sorted(&mut self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(self.records.drain().map(|(k, r)| (k, r.encode())).collect())
    }

    /// Removes every stored view block.
    fn remove_all(&self) -> Result<(), StoreError> {
        remove_prefix(self.tree, keys::VIEW)
    }

    /// Writes `records` into their blocks.
    fn write(&self, records: BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (key, value) in write_records(self.tree, records, &LastKeys::new())? {
            batch.insert(key, value);
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Too many records for memory: the first time, every old record goes
    /// (from then on sled holds only rebuilt ones, and a record not in
    /// memory is looked up there); then these are written.
    fn spill(&mut self) -> Result<u64, StoreError> {
        let records = self.drain_sorted()?;
        if !self.spilled {
            self.remove_all()?;
        }
        let count = records.len() as u64;
        self.write(records)?;
        self.spilled = true;
        Ok(count)
    }

    /// Writes the last records. When nothing was spilled, the stored views
    /// are compared with the rebuilt ones first: a rebuild of current views
    /// writes nothing, and one that finds differences writes every block
    /// afresh. Returns the records that differed.
    fn finish(&mut self) -> Result<u64, StoreError> {
        if self.spilled {
            return self.spill();
        }
        let records = self.drain_sorted()?;
        let stored = match all_records(self.tree) {
            Ok(stored) => stored,
            // Blocks that do not decode are what a rebuild is for.
            Err(StoreError::Corrupt(_)) => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let differing = records.iter().filter(|(k, v)| stored.get(*k) != Some(*v)).count() as u64;
        if differing == 0 && stored.len() == records.len() {
            return Ok(0);
        }
        self.remove_all()?;
        self.write(records)?;
        Ok(differing)
    }
}

impl RecordCache for RebuildCache<'_> {
    fn record(&mut self, kind: RecordKind, id: &str) -> &mut Record {
        let RebuildCache { tree, records, spilled, error, .. } = self;
        records.entry(keys::view(kind, id)).or_insert_with_key(|key| {
            let stored = if *spilled {
                read_record(tree, key).unwrap_or_else(|e| {
                    error.get_or_insert(e);
                    None
                })
            } else {
                None
            };
            Record::decode(kind, stored.as_deref())
        })
    }

    fn context(&self) -> FoldContext {
        self.context
    }
}
