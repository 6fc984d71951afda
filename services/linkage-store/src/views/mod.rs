//! The four views in sled: records written by the index thread with the
//! commit of the events that change them, read by the query services and
//! the lifecycle checks, and rebuilt from the log on demand or when the
//! code that wrote them changed.
//!
//! # Layout
//! - [`blocks`]: records in blocks of up to 16, one sled entry each.
//! - [`overlay`]: a commit's changes folded on top of what sled holds.
//! - [`rebuild`]: folding the whole log again.
//! - [`version`]: which folds and which layout wrote the stored views.
//!
//! Readers ask for records by their message type ([`ViewRecord`]), so a
//! kind is never read as another.

mod blocks;
pub mod overlay;
pub mod rebuild;
pub mod version;

pub use blocks::BLOCK_RECORDS_MAX;
pub use rebuild::RebuildStats;

use crate::error::{Health, StoreError};
use crate::keys;
use linkage_core::views::{FoldContext, RecordKind, RecordMap, Records, ViewRecord};

/// One record, if there is one.
pub fn get<M: ViewRecord>(tree: &sled::Tree, id: &str) -> Result<Option<M>, StoreError> {
    match blocks::read_record(tree, &keys::view(M::KIND, id))? {
        None => Ok(None),
        Some(v) => M::decode(v.as_ref()).map(Some).map_err(|e| StoreError::Corrupt(format!("view record: {e}"))),
    }
}

/// Records of `M`'s kind in key order, starting after the entity id
/// `after` (from the start when empty), as many as `accept` takes until it
/// returns `false` (the caller's page is full).
pub fn scan<M: ViewRecord>(
    tree: &sled::Tree,
    after: &str,
    mut accept: impl FnMut(M) -> bool,
) -> Result<(), StoreError> {
    let prefix = keys::view_prefix(M::KIND);
    let after_key = (!after.is_empty()).then(|| keys::view(M::KIND, after));
    let start = match &after_key {
        Some(key) => blocks::floor_block(tree, key)?.map_or_else(|| key.clone(), |(k, _)| k.to_vec()),
        None => prefix.to_vec(),
    };
    let mut end = prefix.to_vec();
    end[1] += 1;
    blocks::scan_records(tree, start..end, |key, value| {
        if after_key.as_ref().is_some_and(|after| key <= after.as_slice()) {
            return Ok(true);
        }
        let record = M::decode(value).map_err(|e| StoreError::Corrupt(format!("view record: {e}")))?;
        Ok(accept(record))
    })
}

/// Every record, by kind and id.
pub fn all(tree: &sled::Tree) -> Result<RecordMap, StoreError> {
    let mut out = RecordMap::new();
    for (key, value) in blocks::all_records(tree)? {
        let named = keys::parse_view(&key).ok_or_else(|| StoreError::Corrupt("view record key".into()))?;
        out.insert(named, value);
    }
    Ok(out)
}

/// Read-only access to the stored views, for the lifecycle checks.
pub struct ViewReader<'a> {
    tree: &'a sled::Tree,
    health: &'a Health,
    error: Option<StoreError>,
}

impl<'a> ViewReader<'a> {
    /// Reads from `tree` while `health` says the views may be served.
    pub fn new(tree: &'a sled::Tree, health: &'a Health) -> ViewReader<'a> {
        ViewReader { tree, health, error: None }
    }

    /// The first storage error a read met.
    pub fn error(self) -> Option<StoreError> {
        self.error
    }
}

impl Records for ViewReader<'_> {
    type Key = Vec<u8>;

    fn key(&self, kind: RecordKind, id: &str) -> Vec<u8> {
        keys::view(kind, id)
    }

    fn get(&mut self, key: &Vec<u8>) -> Option<Vec<u8>> {
        if let Err(e) = self.health.check_views_readable() {
            self.error.get_or_insert(e);
            return None;
        }
        blocks::read_record(self.tree, key).unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            None
        })
    }

    fn put(&mut self, _key: Vec<u8>, _value: Vec<u8>) {
        // Reads only: lifecycle checks never write.
    }

    fn context(&self) -> FoldContext {
        version::context(self.tree).unwrap_or_default()
    }
}
