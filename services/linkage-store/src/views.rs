//! The four views in sled: records under the `V` prefix, written by the
//! writer in the same batch as the events that change them, and rebuilt
//! from the log on demand or when [`VIEWS_VERSION`] changes.

use crate::keys;
use crate::store::{Store, StoreError};
use linkage_core::pb;
use linkage_core::views::{self, Records, VIEWS_VERSION};
use prost::Message;
use std::collections::BTreeMap;
use std::time::Instant;

/// Key of the version of the stored views.
pub const META_VIEWS: &[u8] = b"Mviews";

/// Events folded per sled batch during a rebuild.
const REBUILD_CHUNK_EVENTS: usize = 20_000;

/// Records read from sled, with the changes of the current commit on top.
pub(crate) struct Overlay<'a> {
    tree: &'a sled::Tree,
    pub(crate) changes: BTreeMap<Vec<u8>, Vec<u8>>,
    error: Option<sled::Error>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Overlay<'a> {
        Overlay { tree, changes: BTreeMap::new(), error: None }
    }

    /// The first sled error a read met, if any.
    pub(crate) fn finish(self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        match self.error {
            Some(e) => Err(e.into()),
            None => Ok(self.changes),
        }
    }
}

impl Records for Overlay<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.changes.get(key) {
            return Some(v.clone());
        }
        match self.tree.get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.insert(key, value);
    }
}

/// Folds stored event bytes into `records`. Bytes that do not decode (they
/// passed verification, so only a newer payload could) change nothing.
pub(crate) fn fold(raw: &[u8], records: &mut impl Records) -> bool {
    match pb::Event::decode(raw) {
        Ok(event) => views::apply(&event, records).is_some(),
        Err(_) => false,
    }
}

/// What a rebuild did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RebuildStats {
    /// Events read from the log.
    pub events: u64,
    /// Records written.
    pub records: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Read-only access to the stored views, for queries and lifecycle checks.
pub struct ViewReader<'a> {
    store: &'a Store,
    error: Option<StoreError>,
}

impl ViewReader<'_> {
    /// The first storage error a read met.
    pub fn error(self) -> Option<StoreError> {
        self.error
    }
}

impl Records for ViewReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match self.store.tree().get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => {
                self.error.get_or_insert(e.into());
                None
            }
        }
    }

    fn put(&mut self, _key: Vec<u8>, _value: Vec<u8>) {
        // Reads only: lifecycle checks never write.
    }
}

impl Store {
    /// Records of the views as they stand, for checks that only read.
    pub fn view_reader(&self) -> ViewReader<'_> {
        ViewReader { store: self, error: None }
    }

    /// One record of `kind` (see [`views::kind`]).
    pub fn view<M: Message + Default>(&self, kind: u8, id: &str) -> Result<Option<M>, StoreError> {
        match self.tree().get(views::key(kind, id))? {
            None => Ok(None),
            Some(v) => M::decode(v.as_ref()).map(Some).map_err(|e| StoreError::Corrupt(format!("view record: {e}"))),
        }
    }

    /// Records of `kind` in key order, starting after the entity id `after`
    /// (from the start when empty), as many as `accept` takes until it
    /// returns `false` (the caller's page is full).
    pub fn scan_views<M: Message + Default>(
        &self,
        kind: u8,
        after: &str,
        mut accept: impl FnMut(M) -> bool,
    ) -> Result<(), StoreError> {
        let prefix = views::kind_prefix(kind);
        let start = views::key(kind, after);
        let mut end = prefix.to_vec();
        end[1] += 1;
        for entry in self.tree().range(start.clone()..end) {
            let (key, value) = entry?;
            if !after.is_empty() && key.as_ref() == start.as_slice() {
                continue;
            }
            let record = M::decode(value.as_ref()).map_err(|e| StoreError::Corrupt(format!("view record: {e}")))?;
            if !accept(record) {
                break;
            }
        }
        Ok(())
    }

    /// Every view record in key order as `key<TAB>hex(value)` lines: equal
    /// on two nodes that hold the same events.
    pub fn dump_views(&self) -> Result<String, StoreError> {
        let mut records = BTreeMap::new();
        for entry in self.tree().scan_prefix([views::PREFIX]) {
            let (k, v) = entry?;
            records.insert(k.to_vec(), v.to_vec());
        }
        Ok(views::dump(&records))
    }

    /// Rebuilds the views when they were written by another version of the
    /// folds (or never). Called on open, before any writer runs.
    pub(crate) fn ensure_views(&self) -> Result<Option<RebuildStats>, StoreError> {
        let stored = self.tree().get(META_VIEWS)?.and_then(|v| keys::be_u64(&v));
        if stored == Some(u64::from(VIEWS_VERSION)) {
            return Ok(None);
        }
        let stats = self.rebuild_views()?;
        tracing::info!(
            from = ?stored, to = VIEWS_VERSION, events = stats.events, seconds = stats.seconds,
            "views rebuilt for a new view version"
        );
        Ok(Some(stats))
    }

    /// Drops every view record and folds the whole log again, then makes it
    /// durable. Must not run beside the writer: the appender runs it as a job.
    /// A crash midway leaves no version mark, so the next open rebuilds.
    pub(crate) fn rebuild_views(&self) -> Result<RebuildStats, StoreError> {
        let started = Instant::now();
        let tree = self.tree();
        tree.remove(META_VIEWS)?;
        let mut batch = sled::Batch::default();
        for key in tree.scan_prefix([views::PREFIX]).keys() {
            batch.remove(key?);
        }
        tree.apply_batch(batch)?;
        let mut stats = RebuildStats::default();
        let mut overlay = Overlay::new(tree);
        let mut in_chunk = 0;
        for entry in tree.scan_prefix([keys::EVENT]) {
            let (_, raw) = entry?;
            fold(&raw, &mut overlay);
            stats.events += 1;
            in_chunk += 1;
            if in_chunk == REBUILD_CHUNK_EVENTS {
                stats.records += write_changes(tree, std::mem::replace(&mut overlay, Overlay::new(tree)))?;
                in_chunk = 0;
            }
        }
        stats.records += write_changes(tree, overlay)?;
        tree.insert(META_VIEWS, &u64::from(VIEWS_VERSION).to_be_bytes()[..])?;
        self.sync()?;
        stats.seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }
}

fn write_changes(tree: &sled::Tree, overlay: Overlay<'_>) -> Result<u64, StoreError> {
    let changes = overlay.finish()?;
    let n = changes.len() as u64;
    let mut batch = sled::Batch::default();
    for (k, v) in changes {
        batch.insert(k, v);
    }
    tree.apply_batch(batch)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Appender;
    use ed25519_dalek::SigningKey;
    use linkage_core::pb::payload::Kind;
    use linkage_core::validate::validate_append;
    use linkage_core::views::kind;
    use linkage_core::{NodeCode, Topology};

    fn topology() -> Topology {
        Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap()
    }

    async fn append(appender: &Appender, kind: Kind) -> String {
        let origin: NodeCode = "620722".parse().unwrap();
        let request = pb::AppendRequest {
            channel: "up".into(),
            payload: Some(pb::Payload { kind: Some(kind) }),
            ..Default::default()
        };
        let done = appender.append(vec![validate_append(&topology(), origin, &request).unwrap()]).await.unwrap();
        pb::Event::decode(done[0].event.raw.as_ref()).unwrap().id
    }

    fn item() -> Kind {
        Kind::InfoReported(pb::InfoReported {
            title: "饮水安全".into(), body: "内容".into(), ..Default::default()
        })
    }

    #[tokio::test]
    async fn views_change_with_the_commit_and_rebuild_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (appender, writer) =
            Appender::start(store.clone(), "620722".parse().unwrap(), SigningKey::from_bytes(&[1; 32])).unwrap();
        let id = append(&appender, item()).await;
        let info: pb::InfoItem = store.view(kind::INFO, &id).unwrap().expect("the item's record");
        assert_eq!((info.status, info.known), (pb::InfoStatus::Submitted as i32, true));
        append(&appender, Kind::InfoForwarded(pb::InfoForwarded { info_id: id.clone(), to: "张掖市政协".into() }))
            .await;
        let info: pb::InfoItem = store.view(kind::INFO, &id).unwrap().unwrap();
        assert_eq!(info.status, pb::InfoStatus::Forwarded as i32);
        assert_eq!(info.trail.len(), 1);

        let before = store.dump_views().unwrap();
        let stats = appender.rebuild_views().await.unwrap();
        assert_eq!(stats.events, 2);
        assert_eq!(store.dump_views().unwrap(), before);
        drop(appender);
        writer.join().unwrap();
    }

    #[tokio::test]
    async fn a_store_with_views_of_another_version_rebuilds_them_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let id;
        let before;
        {
            let store = Store::open(dir.path()).unwrap();
            let (appender, writer) =
                Appender::start(store.clone(), "620722".parse().unwrap(), SigningKey::from_bytes(&[1; 32])).unwrap();
            id = append(&appender, item()).await;
            before = store.dump_views().unwrap();
            // An older version's views: wrong records and an older mark.
            store.tree().insert(views::key(kind::INFO, &id), &b"garbage"[..]).unwrap();
            store.tree().insert(META_VIEWS, &0u64.to_be_bytes()[..]).unwrap();
            store.sync().unwrap();
            drop(appender);
            writer.join().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.dump_views().unwrap(), before);
        let info: pb::InfoItem = store.view(kind::INFO, &id).unwrap().unwrap();
        assert!(info.known);
    }
}
