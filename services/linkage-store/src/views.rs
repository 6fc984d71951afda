//! The four views in sled: records under the `V` prefix, written by the
//! writer in the same batch as the events that change them, and rebuilt
//! from the log on demand or when [`VIEWS_VERSION`] changes.

use crate::keys;
use crate::store::{Store, StoreError};
use linkage_core::pb;
use linkage_core::views::{self, Record, RecordCache, Records, VIEWS_VERSION};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Key of the version of the stored views.
pub const META_VIEWS: &[u8] = b"Mviews";

/// Events a rebuild's reader decodes per message to the folding thread.
const REBUILD_DECODE_PAGE: usize = 1_024;

/// Decoded records a rebuild keeps in memory before it writes them out and
/// starts reading back from sled the ones later events touch: at a few
/// hundred bytes each, some tens of MiB.
const REBUILD_RECORDS_IN_MEMORY: usize = 200_000;

/// Records read from sled, with the changes of the current commit on top.
///
/// Most events start a record under their own id, and ids grow with time
/// (UUIDv7), so most looks find nothing. The overlay learns the last key
/// of each kind of record once per commit and answers a look past it
/// without searching sled: nothing else writes view records while a
/// commit's views are folded (the indexer is their only writer, and a
/// rebuild runs only when it is idle).
pub(crate) struct Overlay<'a> {
    tree: &'a sled::Tree,
    pub(crate) changes: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Per kind of record (the key's second byte), the last key sled held
    /// when first asked, or `None` when it held none of that kind.
    last_keys: HashMap<u8, Option<sled::IVec>>,
    error: Option<sled::Error>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Overlay<'a> {
        Overlay { tree, changes: BTreeMap::new(), last_keys: HashMap::new(), error: None }
    }

    /// True when sled holds no key this large of the key's kind, so no look
    /// is needed to know it holds no such record.
    fn past_last_key(&mut self, key: &[u8]) -> Result<bool, sled::Error> {
        let [prefix, kind, ..] = *key else { return Ok(false) };
        let last = match self.last_keys.get(&kind) {
            Some(last) => last,
            None => {
                let last = match kind.checked_add(1) {
                    Some(next) => {
                        self.tree.get_lt([prefix, next])?.map(|(k, _)| k).filter(|k| k.starts_with(&[prefix, kind]))
                    }
                    None => return Ok(false),
                };
                self.last_keys.entry(kind).or_insert(last)
            }
        };
        Ok(last.as_ref().is_none_or(|last| key > last.as_ref()))
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
        match self.past_last_key(key) {
            Ok(true) => return None,
            Ok(false) => {}
            Err(e) => {
                self.error.get_or_insert(e);
                return None;
            }
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

/// Folds stored event bytes into `overlay`. Bytes that do not decode (they
/// passed verification, so only a newer payload could) change nothing.
pub(crate) fn fold(raw: &[u8], overlay: &mut Overlay<'_>) -> bool {
    let Ok(event) = pb::Event::decode(raw) else { return false };
    views::apply(&event, overlay).is_some()
}

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
        if let Err(e) = self.store.views_readable() {
            self.error.get_or_insert(e);
            return None;
        }
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
    /// Views may run a few commits ahead of the last fdatasync (the writer
    /// writes the next commit while the disk syncs one); after a failed
    /// write or sync they may hold events that never became durable, so
    /// they are not served until the node restarts.
    fn views_readable(&self) -> Result<(), StoreError> {
        if self.writable() {
            Ok(())
        } else {
            Err(StoreError::Poisoned("views are not served after a storage error; restart the node".into()))
        }
    }

    /// Records of the views as they stand, for checks that only read.
    pub fn view_reader(&self) -> ViewReader<'_> {
        ViewReader { store: self, error: None }
    }

    /// One record of `kind` (see [`views::kind`]).
    pub fn view<M: Message + Default>(&self, kind: u8, id: &str) -> Result<Option<M>, StoreError> {
        self.views_readable()?;
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
        self.views_readable()?;
        let prefix = views::kind_prefix(kind);
        let start = if after.is_empty() { prefix.to_vec() } else { views::key(kind, after) };
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
        self.views_readable()?;
        // A failed write or fdatasync here is as final as one of a commit:
        // the sync thread must not go on as if the disk were fine.
        self.rebuild_views_inner().inspect_err(|e| self.poison(e))
    }

    fn rebuild_views_inner(&self) -> Result<RebuildStats, StoreError> {
        let started = Instant::now();
        let tree = self.tree();
        tree.remove(META_VIEWS)?;
        let mut stats = RebuildStats { events: 0, records: 0, seconds: 0.0 };
        let mut cache = RebuildCache { tree, records: HashMap::new(), spilled: false, error: None };
        // One thread reads and decodes the log while this one folds.
        std::thread::scope(|scope| -> Result<(), StoreError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<pb::Event>, StoreError>>(4);
            scope.spawn(move || {
                let mut page = Vec::with_capacity(REBUILD_DECODE_PAGE);
                let scanned = self.scan_log(|raw| {
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
                    views::apply_cached(&event, &mut cache);
                    stats.events += 1;
                }
                if cache.records.len() >= REBUILD_RECORDS_IN_MEMORY {
                    stats.records += cache.spill()?;
                }
            }
            Ok(())
        })?;
        stats.records += cache.finish()?;
        tree.insert(META_VIEWS, &u64::from(VIEWS_VERSION).to_be_bytes()[..])?;
        self.sync()?;
        stats.seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }
}

/// A record's key and bytes.
type Encoded = (Vec<u8>, Vec<u8>);

/// Decoded records of a rebuild, written out in key order when there are
/// many and at the end.
struct RebuildCache<'a> {
    tree: &'a sled::Tree,
    records: HashMap<Vec<u8>, Record>,
    /// Some records went to sled already: look there before starting one.
    spilled: bool,
    error: Option<sled::Error>,
}

impl RebuildCache<'_> {
    /// The records held so far, encoded, in key order.
    fn drain_sorted(&mut self) -> Result<Vec<Encoded>, StoreError> {
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        let mut records: Vec<Encoded> = self.records.drain().map(|(k, r)| (k, r.encode())).collect();
        records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }

    /// Too many records for memory: the first time, every old record goes
    /// (from then on sled holds only rebuilt ones, and a record not in
    /// memory is looked up there); then these are written.
    fn spill(&mut self) -> Result<u64, StoreError> {
        let records = self.drain_sorted()?;
        let mut batch = sled::Batch::default();
        if !self.spilled {
            for key in self.tree.scan_prefix([views::PREFIX]).keys() {
                batch.remove(key?);
            }
        }
        for (key, value) in &records {
            batch.insert(key.as_slice(), value.as_slice());
        }
        self.tree.apply_batch(batch)?;
        self.spilled = true;
        Ok(records.len() as u64)
    }

    /// Writes the last records. When nothing was spilled, the stored views
    /// are compared with the rebuilt ones in key order and only the
    /// differences are written: a rebuild of current views writes nothing.
    fn finish(&mut self) -> Result<u64, StoreError> {
        if self.spilled {
            return self.spill();
        }
        let records = self.drain_sorted()?;
        let mut batch = sled::Batch::default();
        let mut written = 0;
        let mut new = records.iter().peekable();
        for entry in self.tree.scan_prefix([views::PREFIX]) {
            let (key, value) = entry?;
            while let Some((k, v)) = new.next_if(|(k, _)| k.as_slice() < key.as_ref()) {
                batch.insert(k.as_slice(), v.as_slice());
                written += 1;
            }
            match new.next_if(|(k, _)| k.as_slice() == key.as_ref()) {
                Some((_, v)) if v.as_slice() == value.as_ref() => {}
                Some((k, v)) => {
                    batch.insert(k.as_slice(), v.as_slice());
                    written += 1;
                }
                None => batch.remove(key),
            }
        }
        for (k, v) in new {
            batch.insert(k.as_slice(), v.as_slice());
            written += 1;
        }
        self.tree.apply_batch(batch)?;
        Ok(written)
    }
}

impl RecordCache for RebuildCache<'_> {
    fn record(&mut self, kind: u8, key: Vec<u8>) -> &mut Record {
        let RebuildCache { tree, records, spilled, error } = self;
        records.entry(key).or_insert_with_key(|key| {
            let stored = if *spilled {
                tree.get(key).unwrap_or_else(|e| {
                    error.get_or_insert(e);
                    None
                })
            } else {
                None
            };
            Record::decode(kind, stored.as_deref())
        })
    }
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
            // Version 1 keyed records by the id's text.
            let old_key = [&views::kind_prefix(kind::INFO)[..], id.as_bytes()].concat();
            store.tree().insert(old_key, &b"an old record"[..]).unwrap();
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
