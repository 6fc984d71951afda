//! [`Store`]: sled plus the fsync that sled 0.34 leaves out.

use crate::keys;
use linkage_core::ledger::{Head, KeyRecord};
use linkage_core::{Channel, NodeCode};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// sled's page cache by default. sled's own default (1 GiB) would let the
/// 101 nodes of a province on one machine take far more memory than it has;
/// reads of recent events, the common case, hit the cache at this size.
pub const CACHE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation (the fsync) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes are not what this code wrote.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// An earlier write failed; the store refuses writes until restarted.
    #[error("the store refuses writes after an earlier storage error: {0}")]
    Poisoned(String),
}

/// An event as stored, with its local position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Local position.
    pub position: u64,
    /// The stored bytes, exactly as the origin signed them.
    pub raw: sled::IVec,
}

/// One event a commit writes, local or remote.
#[derive(Clone, Debug)]
pub struct WriteEvent {
    /// Local position.
    pub position: u64,
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// Seq in (origin, channel).
    pub seq: u64,
    /// Event id.
    pub id: [u8; 16],
    /// Stored bytes.
    pub raw: Vec<u8>,
}

/// Two different events at one (origin, channel, seq): evidence of a fork.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkRecord {
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// The seq both claim.
    pub seq: u64,
    /// The event this node holds.
    pub kept: Vec<u8>,
    /// The other one.
    pub other: Vec<u8>,
}

/// Everything one commit writes.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    /// New events in position order.
    pub events: Vec<WriteEvent>,
    /// New stream heads.
    pub heads: BTreeMap<(NodeCode, Channel), Head>,
    /// New idempotency records.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Fork evidence.
    pub forks: Vec<ForkRecord>,
    /// Highest hlc issued or observed.
    pub hlc_last: u64,
}

impl WriteSet {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.forks.is_empty()
    }
}

/// The head of one (origin, channel) stream held here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHeadInfo {
    /// Origin node.
    pub origin: NodeCode,
    /// Channel name.
    pub channel: String,
    /// Highest contiguous seq held.
    pub seq: u64,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    dir: PathBuf,
    /// A second handle on sled's data file: `fdatasync` on it persists
    /// every write sled made to that file, whichever descriptor made it.
    data_file: File,
    /// Highest position covered by a completed fdatasync; reads stop here.
    durable_position: AtomicU64,
    /// Cleared by the first failed write: fsync errors cannot be retried
    /// safely, so the node refuses writes and keeps serving reads.
    writable: AtomicBool,
    /// Announces each new durable position to subscribers.
    durable_tx: tokio::sync::watch::Sender<u64>,
    poison_reason: std::sync::Mutex<String>,
    /// What opening the store rebuilt, if the views were of another version.
    rebuilt_on_open: std::sync::Mutex<Option<crate::views::RebuildStats>>,
    /// Tests set this to make the next sync fail like a full or dying disk.
    #[cfg(test)]
    fail_next_sync: AtomicBool,
}

/// The node's log. Cheap to clone; reads may come from any thread, writes
/// only from the [`crate::Appender`] thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store in `dir` with a [`CACHE_BYTES_DEFAULT`] page cache.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, CACHE_BYTES_DEFAULT)
    }

    /// Opens (or creates) the store in `dir`, letting sled cache up to
    /// `cache_bytes` of pages in memory.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes).open()?;
        let tree = db.open_tree("log")?;
        // sled creates its files on open; persist it all once, directory
        // entries included, so the data file we fsync later is reachable.
        db.flush()?;
        let data_file = File::open(dir.join("db"))?;
        data_file.sync_all()?;
        File::open(dir)?.sync_all()?;
        let last = match tree.scan_prefix([keys::EVENT]).next_back() {
            None => 0,
            Some(entry) => {
                let (key, _) = entry?;
                keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("event key".into()))?
            }
        };
        let inner = Inner {
            db,
            tree,
            dir: dir.to_owned(),
            data_file,
            durable_position: AtomicU64::new(last),
            writable: AtomicBool::new(true),
            durable_tx: tokio::sync::watch::Sender::new(last),
            poison_reason: std::sync::Mutex::new(String::new()),
            rebuilt_on_open: std::sync::Mutex::new(None),
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
        };
        let store = Store { inner: Arc::new(inner) };
        let rebuilt = store.ensure_views()?;
        *store.inner.rebuilt_on_open.lock().expect("rebuilt lock") = rebuilt;
        Ok(store)
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// The rebuild opening the store did because its views were written by
    /// another version of the folds (or are missing), if any.
    pub fn rebuilt_on_open(&self) -> Option<crate::views::RebuildStats> {
        *self.inner.rebuilt_on_open.lock().expect("rebuilt lock")
    }

    /// Highest position that is durable (and so readable).
    pub fn last_position(&self) -> u64 {
        self.inner.durable_position.load(Ordering::Acquire)
    }

    /// Follows the durable position: a subscriber reads up to the value it
    /// sees, then waits for a change, so no event falls between history
    /// and live.
    pub fn watch_position(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.durable_tx.subscribe()
    }

    /// False after a storage error.
    pub fn writable(&self) -> bool {
        self.inner.writable.load(Ordering::Acquire)
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// The event at `position`, if durable.
    pub fn get_position(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        if position == 0 || position > self.last_position() {
            return Ok(None);
        }
        Ok(self.inner.tree.get(keys::event(position))?.map(|raw| StoredEvent { position, raw }))
    }

    /// The event with this id, if durable.
    pub fn get_by_id(&self, id: &[u8; 16]) -> Result<Option<StoredEvent>, StoreError> {
        if let Some(position) = linkage_core::ids::embedded_position(id) {
            if let Some(event) = self.get_position(position)? {
                let held = linkage_core::verify::parse(&event.raw).map(|p| p.id);
                if held.as_ref() == Ok(id) {
                    return Ok(Some(event));
                }
            }
        }
        match self.inner.tree.get(keys::id(id))? {
            None => Ok(None),
            Some(pos) => self.get_position(keys::be_u64(&pos).ok_or_else(|| StoreError::Corrupt("id index".into()))?),
        }
    }

    /// Up to `limit` durable events from `from` on, in position order.
    pub fn read_positions(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let last = self.last_position();
        let from = from.max(1);
        if from > last {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in self.inner.tree.range(keys::event(from)..=keys::event(last)).take(limit) {
            let (key, raw) = entry?;
            let position = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("event key".into()))?;
            out.push(StoredEvent { position, raw });
        }
        Ok(out)
    }

    /// Positions of a stream from seq `from` on, in seq order, as stored by
    /// the sparse index: one entry per stream per commit, whose key is the
    /// run's first seq and whose value lists the run's positions.
    fn stream_positions(
        &self,
        origin: NodeCode,
        channel: &str,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, u64), StoreError>> + '_ {
        let from = from.max(1);
        let floor = keys::stream(origin, channel, 0);
        // The run that holds `from` starts at or before it.
        let start = match self.inner.tree.range(floor.clone()..=keys::stream(origin, channel, from)).next_back() {
            Some(Ok((key, _))) => key.to_vec(),
            _ => keys::stream(origin, channel, from),
        };
        let end = keys::stream(origin, channel, u64::MAX);
        self.inner.tree.range(start..=end).flat_map(move |entry| {
            let run: Vec<Result<(u64, u64), StoreError>> = match entry {
                Err(e) => vec![Err(e.into())],
                Ok((key, value)) => match keys::be_u64(&key[key.len() - 8..]) {
                    None => vec![Err(StoreError::Corrupt("seq key".into()))],
                    Some(first) => value
                        .chunks_exact(8)
                        .enumerate()
                        .map(|(i, p)| (first + i as u64, keys::be_u64(p).unwrap_or(0)))
                        .filter(|(seq, _)| *seq >= from)
                        .map(Ok)
                        .collect(),
                },
            };
            run
        })
    }

    /// Up to `limit` durable events of (origin, channel) from seq `from` on.
    pub fn read_stream(
        &self,
        origin: NodeCode,
        channel: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.stream_positions(origin, channel, from) {
            if out.len() >= limit {
                break;
            }
            let (seq, position) = entry?;
            match self.get_position(position)? {
                Some(event) => out.push((seq, event)),
                // Beyond the durable position: stop, later seqs are later too.
                None => break,
            }
        }
        Ok(out)
    }

    /// The stored bytes at (origin, channel, seq), durable or not: the
    /// writer compares incoming events against everything it wrote.
    pub fn read_stream_any(&self, origin: NodeCode, channel: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(found) = self.stream_positions(origin, channel, seq).next() else { return Ok(None) };
        let (found_seq, position) = found?;
        if found_seq != seq {
            return Ok(None);
        }
        Ok(self.inner.tree.get(keys::event(position))?.map(|v| v.to_vec()))
    }

    /// Heads of every stream held here, in key order.
    pub fn heads(&self) -> Result<Vec<StreamHeadInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix([keys::HEAD]) {
            let (key, value) = entry?;
            let (origin, channel) = keys::parse_head(&key).ok_or_else(|| StoreError::Corrupt("head key".into()))?;
            let seq = keys::be_u64(&value).ok_or_else(|| StoreError::Corrupt("head value".into()))?;
            out.push(StreamHeadInfo { origin, channel, seq });
        }
        Ok(out)
    }

    /// The highest hlc the node issued or observed, 0 for a new store.
    pub fn hlc_last(&self) -> Result<u64, StoreError> {
        Ok(self.inner.tree.get(keys::META_HLC)?.and_then(|v| keys::be_u64(&v)).unwrap_or(0))
    }

    /// The head (seq and hash) of one stream, if any of it is held.
    pub fn head(&self, origin: NodeCode, channel: &str) -> Result<Option<Head>, StoreError> {
        let Some(value) = self.inner.tree.get(keys::head(origin, channel))? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("head entry".into());
        let seq = keys::be_u64(&value).ok_or_else(corrupt)?;
        let hash = value.get(8..40).and_then(|h| h.try_into().ok()).ok_or_else(corrupt)?;
        Ok(Some(Head { seq, hash }))
    }

    /// The record of an idempotency key, if it was used.
    pub fn key_record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let Some(value) = self.inner.tree.get(keys::idempotency(key))? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("idempotency record".into());
        let digest = value.get(..32).and_then(|d| d.try_into().ok()).ok_or_else(corrupt)?;
        let position = value.get(32..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        Ok(Some(KeyRecord { digest, position }))
    }

    /// Writes a commit in one atomic sled batch without making it durable: readers do not
    /// see it until [`Store::make_durable`] covers it. An error poisons the
    /// store.
    pub(crate) fn write(&self, set: &WriteSet) -> Result<(), StoreError> {
        if !self.writable() {
            return Err(StoreError::Poisoned(self.inner.poison_reason.lock().expect("poison lock").clone()));
        }
        if set.is_empty() {
            return Ok(());
        }
        self.write_batch(set).inspect_err(|e| self.poison(e))
    }

    /// Syncs everything written so far (flush, then fdatasync) and lets
    /// readers see up to `through`. An error poisons the store.
    pub(crate) fn make_durable(&self, through: u64) -> Result<(), StoreError> {
        if !self.writable() {
            return Err(StoreError::Poisoned(self.inner.poison_reason.lock().expect("poison lock").clone()));
        }
        self.sync().inspect_err(|e| self.poison(e))?;
        if through > self.inner.durable_position.load(Ordering::Acquire) {
            self.inner.durable_position.store(through, Ordering::Release);
            self.inner.durable_tx.send_replace(through);
        }
        Ok(())
    }

    pub(crate) fn poison(&self, error: &StoreError) {
        *self.inner.poison_reason.lock().expect("poison lock") = error.to_string();
        self.inner.writable.store(false, Ordering::Release);
    }

    fn write_batch(&self, set: &WriteSet) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        // One seq-index entry per stream per commit: (first seq) → positions.
        let mut runs: BTreeMap<(NodeCode, &str), (u64, Vec<u8>)> = BTreeMap::new();
        for event in &set.events {
            let position = event.position.to_be_bytes();
            batch.insert(&keys::event(event.position)[..], event.raw.as_slice());
            // An id that names its own position needs no index entry: a
            // node finds its own events (and any that landed at the same
            // position) by the id alone. See `linkage_core::ids`.
            if linkage_core::ids::embedded_position(&event.id) != Some(event.position) {
                batch.insert(&keys::id(&event.id)[..], &position[..]);
            }
            let run = runs.entry((event.origin, event.channel.as_str())).or_insert((event.seq, Vec::new()));
            debug_assert_eq!(
                run.0 + (run.1.len() / 8) as u64,
                event.seq,
                "a commit's events of one stream are consecutive"
            );
            run.1.extend_from_slice(&position);
        }
        for ((origin, channel), (first, positions)) in runs {
            batch.insert(keys::stream(origin, channel, first), positions);
        }
        for ((origin, channel), head) in &set.heads {
            let mut value = Vec::with_capacity(40);
            value.extend_from_slice(&head.seq.to_be_bytes());
            value.extend_from_slice(&head.hash);
            batch.insert(keys::head(*origin, &channel.to_string()), value);
        }
        for (key, record) in &set.keys {
            let mut value = Vec::with_capacity(40);
            value.extend_from_slice(&record.digest);
            value.extend_from_slice(&record.position.to_be_bytes());
            batch.insert(keys::idempotency(key), value);
        }
        for fork in &set.forks {
            let mut value = Vec::with_capacity(8 + fork.kept.len() + fork.other.len());
            value.extend_from_slice(&(fork.kept.len() as u64).to_be_bytes());
            value.extend_from_slice(&fork.kept);
            value.extend_from_slice(&fork.other);
            batch.insert(keys::fork(fork.origin, &fork.channel, fork.seq, &crate::hash_of(&fork.other)), value);
        }
        batch.insert(keys::META_HLC, &set.hlc_last.to_be_bytes()[..]);
        // The views change in the same batch as the events that change them.
        let mut views = crate::views::Overlay::new(&self.inner.tree);
        let mut folded = 0;
        for event in &set.events {
            folded += u64::from(crate::views::fold(&event.raw, &mut views));
        }
        for (key, value) in views.finish()? {
            batch.insert(key, value);
        }
        self.inner.tree.apply_batch(batch)?;
        metrics::counter!("linkage_views_updated_events_total").increment(folded);
        Ok(())
    }

    /// Every fork recorded, oldest key first.
    pub fn forks(&self) -> Result<Vec<ForkRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.inner.tree.scan_prefix([keys::FORK]) {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt("fork record".into());
            let (origin, channel, seq) = keys::parse_fork(&key).ok_or_else(corrupt)?;
            let kept_len = keys::be_u64(&value).ok_or_else(corrupt)? as usize;
            let kept = value.get(8..8 + kept_len).ok_or_else(corrupt)?.to_vec();
            let other = value.get(8 + kept_len..).ok_or_else(corrupt)?.to_vec();
            out.push(ForkRecord { origin, channel, seq, kept, other });
        }
        Ok(out)
    }

    /// Heads (seq and hash) of every stream held, for the writer's cache.
    pub fn all_heads(&self) -> Result<BTreeMap<(NodeCode, Channel), Head>, StoreError> {
        let mut out = BTreeMap::new();
        for entry in self.inner.tree.scan_prefix([keys::HEAD]) {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt("head entry".into());
            let (origin, channel) = keys::parse_head(&key).ok_or_else(corrupt)?;
            let channel: Channel = channel.parse().map_err(|_| corrupt())?;
            let seq = keys::be_u64(&value).ok_or_else(corrupt)?;
            let hash = value.get(8..40).and_then(|h| h.try_into().ok()).ok_or_else(corrupt)?;
            out.insert((origin, channel), Head { seq, hash });
        }
        Ok(out)
    }

    /// Makes everything written so far durable: sled writes its buffers
    /// (ending in `sync_file_range`), then a real `fdatasync` of the data
    /// file, and an fsync of any blob file sled wrote for an oversized node.
    pub fn sync(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.inner.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(StoreError::Io(std::io::Error::other("injected: no space left on device")));
        }
        self.inner.db.flush()?;
        self.inner.data_file.sync_data()?;
        self.sync_blobs()
    }

    /// sled writes nodes larger than a quarter segment as separate blob
    /// files without syncing them. Our events are far smaller, but a large
    /// leaf could still go there; fsync whatever is in the blob directory.
    fn sync_blobs(&self) -> Result<(), StoreError> {
        let blobs = self.inner.dir.join("blobs");
        let Ok(entries) = std::fs::read_dir(&blobs) else { return Ok(()) };
        let mut any = false;
        for entry in entries {
            let path = entry?.path();
            // A blob may be removed by sled's GC meanwhile: that is fine.
            if let Ok(f) = File::open(&path) {
                f.sync_all()?;
                any = true;
            }
        }
        if any {
            File::open(&blobs)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Appender;
    use ed25519_dalek::SigningKey;
    use linkage_core::validate::validate_append;
    use linkage_core::{pb, Topology};

    fn topology() -> Topology {
        Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap()
    }

    fn request(title: &str) -> pb::AppendRequest {
        pb::AppendRequest {
            channel: "up".into(),
            payload: Some(pb::Payload {
                kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                    title: title.into(),
                    body: "内容".into(),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        }
    }

    async fn append(appender: &Appender, title: &str) -> Result<Vec<crate::Appended>, crate::AppendFailure> {
        let origin: NodeCode = "620722".parse().unwrap();
        appender.append(vec![validate_append(&topology(), origin, &request(title)).unwrap()]).await
    }

    #[tokio::test]
    async fn a_failed_sync_refuses_writes_and_keeps_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let origin: NodeCode = "620722".parse().unwrap();
        let (appender, _thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        append(&appender, "一").await.unwrap();
        store.inner.fail_next_sync.store(true, Ordering::Release);
        let failed = append(&appender, "二").await.unwrap_err();
        assert!(matches!(failed, crate::AppendFailure::Unavailable(_)), "{failed:?}");
        assert!(!store.writable());
        // Nothing unacknowledged is served; what was durable still is.
        assert_eq!(store.last_position(), 1);
        assert_eq!(store.read_positions(1, 10).unwrap().len(), 1);
        // Later appends are refused too, not silently lost.
        assert!(matches!(append(&appender, "三").await, Err(crate::AppendFailure::Unavailable(_))));
        // The views may hold the refused event: they are not served, and
        // neither is a rebuild run.
        let views = store.scan_views(linkage_core::views::kind::INFO, "", |_: pb::InfoItem| true);
        assert!(matches!(views, Err(StoreError::Poisoned(_))), "{views:?}");
        assert!(appender.rebuild_views().await.is_err());
    }

    #[tokio::test]
    async fn reopening_keeps_events_heads_and_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let origin: NodeCode = "620722".parse().unwrap();
        let hlc_before;
        {
            let store = Store::open(dir.path()).unwrap();
            let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
            for i in 0..5 {
                append(&appender, &format!("事项 {i}")).await.unwrap();
            }
            hlc_before = store.hlc_last().unwrap();
            drop(appender);
            thread.join().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_position(), 5);
        assert_eq!(store.hlc_last().unwrap(), hlc_before);
        let heads = store.all_heads().unwrap();
        assert_eq!(heads.get(&(origin, linkage_core::Channel::Up)).map(|h| h.seq), Some(5));
        let (appender, _thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        let next = append(&appender, "重启后").await.unwrap();
        let event = <pb::Event as prost::Message>::decode(next[0].event.raw.as_ref()).unwrap();
        assert_eq!((next[0].event.position, event.seq), (6, 6));
        assert!(event.hlc > hlc_before);
        assert_eq!(store.read_stream(origin, "up", 4, 10).unwrap().len(), 3);
    }
}
