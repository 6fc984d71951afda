//! [`Overlay`]: the records a commit's events change, folded on top of
//! what sled holds, and written into their blocks when the commit's views
//! are done.

use super::blocks::{block_entries, read_record, write_records, Encoded, LastKeys};
use crate::error::StoreError;
use crate::keys;
use linkage_core::views::{FoldContext, RecordKind, Records};
use std::collections::{BTreeMap, HashMap};

/// Records read from sled, with the changes of the current commit on top.
///
/// Most events start a record under their own id, and ids grow with time
/// (UUIDv7), so most looks find nothing. The overlay learns the last key
/// of each kind of record once per commit and answers a look past it
/// without searching sled: nothing else writes view records while a
/// commit's views are folded (the indexer is their only writer, and a
/// rebuild runs only when it is idle).
pub struct Overlay<'a> {
    tree: &'a sled::Tree,
    /// What the stored views were folded by, read once.
    context: FoldContext,
    changes: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The last record key of each kind sled held when first asked.
    last_keys: LastKeys,
    error: Option<StoreError>,
}

impl<'a> Overlay<'a> {
    pub fn new(tree: &'a sled::Tree) -> Overlay<'a> {
        let (context, error) = match super::version::context(tree) {
            Ok(context) => (context, None),
            Err(e) => (FoldContext::default(), Some(e)),
        };
        Overlay { tree, context, changes: BTreeMap::new(), last_keys: HashMap::new(), error }
    }

    /// True when sled holds no key this large of the key's kind, so no look
    /// is needed to know it holds no such record.
    fn past_last_key(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        let [prefix, kind, ..] = *key else { return Ok(false) };
        let last = match self.last_keys.get(&kind) {
            Some(last) => last,
            None => {
                let Some(next) = kind.checked_add(1) else { return Ok(false) };
                let last = match self.tree.get_lt([prefix, next])?.filter(|(k, _)| k.starts_with(&[prefix, kind])) {
                    Some((_, bytes)) => block_entries(&bytes)?.last().map(|(k, _)| k.to_vec()),
                    None => None,
                };
                self.last_keys.entry(kind).or_insert(last)
            }
        };
        Ok(last.as_ref().is_none_or(|last| key > last.as_slice()))
    }

    /// The sled writes of the records changed, or the first error a read met.
    pub fn finish(self) -> Result<Vec<Encoded>, StoreError> {
        match self.error {
            Some(e) => Err(e),
            None => write_records(self.tree, self.changes, &self.last_keys),
        }
    }
}

impl Records for Overlay<'_> {
    type Key = Vec<u8>;

    fn key(&self, kind: RecordKind, id: &str) -> Vec<u8> {
        keys::view(kind, id)
    }

    fn get(&mut self, key: &Vec<u8>) -> Option<Vec<u8>> {
        if let Some(v) = self.changes.get(key) {
            return Some(v.clone());
        }
        let found = self.past_last_key(key).and_then(|past| if past { Ok(None) } else { read_record(self.tree, key) });
        found.unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            None
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, value);
    }

    fn context(&self) -> FoldContext {
        self.context
    }
}
