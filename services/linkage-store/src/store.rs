//! [`Store`]: the event log file, fdatasynced before any acknowledgement,
//! plus sled for what is derived from it (indexes, heads, idempotency
//! records, views), replayed from the log when a crash took some back
//! ([`crate::recovery`]). Reads from any thread; the steps of a commit
//! from the [`crate::Appender`]'s threads only.

use crate::derive;
use crate::error::{Health, StoreError};
use crate::event::{AlarmRecord, ForkRecord, StoredEvent, StreamHeadInfo, WriteSet};
use crate::index::Indexes;
use crate::keys;
use crate::log::{Log, RecordParts};
use crate::recent::Recent;
use crate::recovery;
use crate::views::{self, RebuildStats, ViewReader};
use linkage_core::ledger::{Head, KeyRecord};
use linkage_core::views::ViewRecord;
use linkage_core::{Channel, NodeCode};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// sled's page cache by default. sled's own default (1 GiB) would let the
/// 101 nodes of a province on one machine take far more memory than it has;
/// reads of recent events, the common case, hit the cache at this size.
pub const CACHE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// zstd's level for a store that compresses sled's pages: its fastest.
/// Higher levels saved nothing more on view records (1.19× the event
/// bytes at levels 1 and 3 alike, decision 0064).
pub const COMPRESSION_LEVEL: i32 = 1;

/// The file in which sled keeps the parameters a store was created with.
const SLED_PARAMETERS_FILE: &str = "conf";

/// sled's data file, beside its parameters.
const SLED_DATA_FILE: &str = "db";

/// Whether the store in `dir` was created compressing sled's pages, by
/// the parameters sled wrote then; `None` for a new store. Parameters
/// missing beside sled data are refused: sled would take whatever it is
/// given and misread every page written the other way.
fn created_compressed(dir: &Path) -> Result<Option<bool>, StoreError> {
    let path = dir.join(SLED_PARAMETERS_FILE);
    // Lines of `key: value`, then a CRC-32 of them (4 bytes); sled takes
    // 8 bytes or fewer for no file.
    let text = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() > 8 => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(_) => String::new(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let unreadable = |what: &str| {
        StoreError::Corrupt(format!(
            "{} {what}, so how sled wrote {} is unknown: move sled's files (conf, db, snap.*) out of {} and \
             the store folds them again from events.log (fork evidence kept only in sled is lost)",
            path.display(),
            SLED_DATA_FILE,
            dir.display()
        ))
    };
    if text.is_empty() {
        let data = std::fs::metadata(dir.join(SLED_DATA_FILE)).map_or(0, |m| m.len());
        return if data == 0 { Ok(None) } else { Err(unreadable("is missing or empty")) };
    }
    match text.lines().find_map(|l| l.strip_prefix("use_compression: ")) {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        _ => Err(unreadable("does not say use_compression: true or false")),
    }
}

/// Makes sled's parameters of a store just created durable: sled writes
/// them without a sync, and losing them would leave the store's pages
/// unreadable ([`created_compressed`]).
fn sync_new_parameters(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir.join(SLED_PARAMETERS_FILE))?.sync_all()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// sled's configuration for the store in `dir`.
fn sled_config(dir: &Path, compressed: bool) -> sled::Config {
    let config = sled::Config::new().path(dir);
    if compressed {
        config.use_compression(true).compression_factor(COMPRESSION_LEVEL)
    } else {
        config
    }
}

/// How long opening waits for sled's lock: a handle on the same directory
/// dropped a moment ago lets go only when sled's IO threads finish.
const LOCK_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens sled with `config`, waiting up to [`LOCK_WAIT_MAX`] for a handle
/// dropped a moment ago (in this process) to let go of its lock. Another
/// process holding it is still an error, after the wait.
pub fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && started.elapsed() < LOCK_WAIT_MAX =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

struct Inner {
    db: sled::Db,
    /// Whether sled compresses its pages, as the store was created.
    compressed: bool,
    /// What sled derives from the log; its tree holds the views too.
    indexes: Indexes,
    /// The event log; only the writer appends to it.
    log: Log,
    /// Highest position covered by a completed fdatasync; reads stop here.
    durable_position: AtomicU64,
    /// Cleared by the first failed write.
    health: Health,
    /// Announces each new durable position to subscribers.
    durable_tx: tokio::sync::watch::Sender<u64>,
    /// The latest durable events, for followers of the log.
    recent: Mutex<Recent>,
    /// What opening the store rebuilt, if the views were of another version.
    rebuilt_on_open: Mutex<Option<RebuildStats>>,
    /// Log records opening the store wrote into sled again.
    replayed_on_open: AtomicU64,
    /// Commits whose derived entries were written, for tests to wait on.
    #[cfg(test)]
    derived_commits: AtomicU64,
}

/// The node's log. Cheap to clone; reads may come from any thread, writes
/// only from the [`crate::Appender`] threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store in `dir` with a [`CACHE_BYTES_DEFAULT`]
    /// page cache, a new one uncompressed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, CACHE_BYTES_DEFAULT, false)
    }

    /// Opens (or creates) the store in `dir`, letting sled cache up to
    /// `cache_bytes` of pages in memory. A new store compresses sled's
    /// pages (zstd, level [`COMPRESSION_LEVEL`]) when `compress` is set;
    /// an existing one keeps the choice it was created with, which sled
    /// cannot change ([`Store::compressed`] says which).
    pub fn open_with(dir: &Path, cache_bytes: u64, compress: bool) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let created = created_compressed(dir)?;
        let compressed = created.unwrap_or(compress);
        let db = open_sled(&sled_config(dir, compressed).cache_capacity(cache_bytes))?;
        if created.is_none() {
            sync_new_parameters(dir)?;
        }
        let indexes = Indexes::new(db.open_tree("log")?);
        let (log, log_existed) = Log::open(dir)?;
        if !log_existed && indexes.holds_events_without_a_log()? {
            return Err(StoreError::Corrupt(format!(
                "{} was written by an older linkage that kept events inside sled; start this node on an \
                 empty directory (it pulls its own events back from its peers) or use the older version",
                dir.display()
            )));
        }
        let recovered = recovery::recover(&log, &indexes)?;
        let end = recovered.end.position;
        let inner = Inner {
            db,
            compressed,
            indexes,
            log,
            durable_position: AtomicU64::new(end),
            health: Health::default(),
            durable_tx: tokio::sync::watch::Sender::new(end),
            recent: Mutex::new(Recent::default()),
            rebuilt_on_open: Mutex::new(None),
            replayed_on_open: AtomicU64::new(recovered.replayed),
            #[cfg(test)]
            derived_commits: AtomicU64::new(0),
        };
        let store = Store { inner: Arc::new(inner) };
        let rebuilt = store.ensure_views()?;
        *store.inner.rebuilt_on_open.lock().expect("rebuilt lock") = rebuilt;
        Ok(store)
    }

    /// What an upgrade to a new version of the views meets: a store in
    /// `dir` (not open) with no view records and no version mark, as if an
    /// older version had written none. For benches and tests of upgrades.
    pub fn forget_views(dir: &Path) -> Result<(), StoreError> {
        let compressed = created_compressed(dir)?.unwrap_or(false);
        let db = open_sled(&sled_config(dir, compressed))?;
        let indexes = Indexes::new(db.open_tree("log")?);
        indexes.clear_prefixes(&[keys::VIEW])?;
        indexes.remove(keys::META_VIEWS)?;
        db.flush()?;
        Ok(())
    }

    /// Whether sled compresses this store's pages: chosen when the store
    /// was created, kept for its life.
    pub fn compressed(&self) -> bool {
        self.inner.compressed
    }

    /// The rebuild opening the store did because its views were written by
    /// another version of the folds or of their layout (or are missing).
    pub fn rebuilt_on_open(&self) -> Option<RebuildStats> {
        *self.inner.rebuilt_on_open.lock().expect("rebuilt lock")
    }

    /// How many log records opening the store checked and wrote into sled
    /// again.
    pub fn replayed_on_open(&self) -> u64 {
        self.inner.replayed_on_open.load(Ordering::Acquire)
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
        self.inner.health.writable()
    }

    /// Bytes the event log and sled use on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()? + self.inner.log.file_len()?)
    }

    /// The event at `position`, if durable.
    pub fn get_position(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        if position == 0 || position > self.last_position() {
            return Ok(None);
        }
        let Some((offset, len)) = self.inner.indexes.locate(position)? else { return Ok(None) };
        Ok(Some(self.inner.log.read(offset, len, position)?))
    }

    /// The event with this id, if durable.
    pub fn get_by_id(&self, id: &[u8; 16]) -> Result<Option<StoredEvent>, StoreError> {
        let holds = |position: u64| -> Result<Option<StoredEvent>, StoreError> {
            let event = self.get_position(position)?;
            Ok(event.filter(|e| linkage_core::verify::parse(&e.raw).is_ok_and(|p| &p.id == id)))
        };
        // A local event's id names its own position.
        if let Some(position) = linkage_core::ids::embedded_position(id) {
            if let Some(event) = holds(position)? {
                return Ok(Some(event));
            }
        }
        // A remote event's id names its origin's position.
        if let Some(event) = self.inner.indexes.find_by_origin_position(id, &holds)? {
            return Ok(Some(event));
        }
        // Ids that name no origin position, and remote events a store
        // written before the origin-position index holds.
        match self.inner.indexes.id_position(id)? {
            None => Ok(None),
            Some(position) => self.get_position(position),
        }
    }

    /// Up to `limit` durable events from `from` on, in position order.
    pub fn read_positions(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let last = self.last_position();
        let from = from.max(1);
        if from > last {
            return Ok(Vec::new());
        }
        // Positions are dense: every one up to the durable one has a record.
        let count = (last - from + 1).min(limit as u64);
        if let Some(recent) = self.inner.recent.lock().expect("recent lock").get(from, count) {
            return Ok(recent);
        }
        let positions: Vec<u64> = (from..from + count).collect();
        let located = self.inner.indexes.locate_all(&positions)?;
        self.inner.log.read_located(&located)
    }

    /// Up to `limit` durable events of (origin, channel) from seq `from` on.
    pub fn read_stream(
        &self,
        origin: NodeCode,
        channel: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, StoreError> {
        let last = self.last_position();
        let mut seqs = Vec::new();
        let mut positions = Vec::new();
        for entry in self.inner.indexes.stream_positions(origin, channel, from) {
            if seqs.len() >= limit {
                break;
            }
            let (seq, position) = entry?;
            // Beyond the durable position: stop, later seqs are later too.
            if position == 0 || position > last {
                break;
            }
            seqs.push(seq);
            positions.push(position);
        }
        let located = self.inner.indexes.locate_all(&positions)?;
        let events = self.inner.log.read_located(&located)?;
        Ok(seqs.into_iter().zip(events).collect())
    }

    /// The stored bytes at (origin, channel, seq), durable or not: the
    /// writer compares incoming events against everything it wrote.
    pub fn read_stream_any(&self, origin: NodeCode, channel: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(found) = self.inner.indexes.stream_positions(origin, channel, seq).next() else { return Ok(None) };
        let (found_seq, position) = found?;
        if found_seq != seq {
            return Ok(None);
        }
        match self.inner.indexes.locate(position)? {
            None => Ok(None),
            Some((offset, len)) => Ok(Some(self.inner.log.read(offset, len, position)?.raw.to_vec())),
        }
    }

    /// Heads of every stream held here, in key order.
    pub fn heads(&self) -> Result<Vec<StreamHeadInfo>, StoreError> {
        self.inner.indexes.heads()
    }

    /// Heads (seq and hash) of every stream held, for the writer's cache.
    pub fn all_heads(&self) -> Result<BTreeMap<(NodeCode, Channel), Head>, StoreError> {
        self.inner.indexes.all_heads()
    }

    /// The highest hlc the node issued or observed, 0 for a new store.
    pub fn hlc_last(&self) -> Result<u64, StoreError> {
        self.inner.indexes.hlc_last()
    }

    /// The head (seq and hash) of one stream, if any of it is held.
    pub fn head(&self, origin: NodeCode, channel: &str) -> Result<Option<Head>, StoreError> {
        self.inner.indexes.head(origin, channel)
    }

    /// The record of an idempotency key, if it was used.
    pub fn key_record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.indexes.key_record(key)
    }

    /// Every fork recorded, oldest key first.
    pub fn forks(&self) -> Result<Vec<ForkRecord>, StoreError> {
        self.inner.indexes.forks()
    }

    /// Calls `each` with every event held whose envelope breaks a rule
    /// (they change no view), in (origin, rule, event id) order.
    pub fn for_each_alarm(&self, each: impl FnMut(AlarmRecord)) -> Result<(), StoreError> {
        self.inner.indexes.for_each_alarm(each)
    }

    /// Records of the views as they stand, for checks that only read.
    pub fn view_reader(&self) -> ViewReader<'_> {
        ViewReader::new(self.inner.indexes.tree(), &self.inner.health)
    }

    /// One view record: a topic, a group, an item, a notice or a result,
    /// as `M` says.
    pub fn view<M: ViewRecord>(&self, id: &str) -> Result<Option<M>, StoreError> {
        self.inner.health.check_views_readable()?;
        views::get(self.inner.indexes.tree(), id)
    }

    /// View records of `M`'s kind in id order, starting after the entity id
    /// `after` (from the start when empty), as many as `accept` takes until
    /// it returns `false` (the caller's page is full).
    pub fn scan_views<M: ViewRecord>(&self, after: &str, accept: impl FnMut(M) -> bool) -> Result<(), StoreError> {
        self.inner.health.check_views_readable()?;
        views::scan(self.inner.indexes.tree(), after, accept)
    }

    /// Every view record as `kind·id<TAB>hex(bytes)` lines: equal on two
    /// nodes that hold the same events.
    pub fn dump_views(&self) -> Result<String, StoreError> {
        Ok(linkage_core::views::dump(&views::all(self.inner.indexes.tree())?))
    }

    /// Rebuilds the views when they were written by another version of the
    /// folds or of their layout (or never). Called on open, before any
    /// writer runs.
    fn ensure_views(&self) -> Result<Option<RebuildStats>, StoreError> {
        let tree = self.inner.indexes.tree();
        if views::version::is_current(tree)? {
            return Ok(None);
        }
        let stored = views::version::stored(tree)?;
        let stats = self.rebuild_views()?;
        tracing::info!(
            from = ?stored, to = ?views::version::StoredVersion::current(), events = stats.events,
            seconds = stats.seconds, "views rebuilt for a new version of the folds or of their layout"
        );
        Ok(Some(stats))
    }

    /// Folds the views by `context` from now on (the node's topology's,
    /// `FoldContext::of`): when the stored views were folded by another,
    /// they are folded again from the log first. Call after opening,
    /// before any writer runs (decision 0067).
    pub fn use_fold_context(
        &self,
        context: linkage_core::views::FoldContext,
    ) -> Result<Option<RebuildStats>, StoreError> {
        let tree = self.inner.indexes.tree();
        let stored = views::version::context(tree)?;
        if stored == context {
            return Ok(None);
        }
        // The version mark goes first: a crash after the new context is in
        // leaves no mark, and the next open folds everything again.
        tree.remove(keys::META_VIEWS)?;
        tree.insert(keys::META_FOLD_CONTEXT, &context.encode()[..])?;
        let stats = self.rebuild_views()?;
        tracing::info!(from = ?stored, to = ?context, events = stats.events, seconds = stats.seconds, "views folded again for the topology's new fold context");
        Ok(Some(stats))
    }

    /// Drops every view record and folds the whole log again, then makes it
    /// durable. Must not run beside the writer: the appender runs it as a job.
    pub(crate) fn rebuild_views(&self) -> Result<RebuildStats, StoreError> {
        self.inner.health.check_views_readable()?;
        // A failed write or fdatasync here is as final as one of a commit:
        // the sync thread must not go on as if the disk were fine.
        views::rebuild::rebuild(self.inner.indexes.tree(), &self.inner.log, || self.sync())
            .inspect_err(|e| self.poison(e))
    }

    /// Appends a commit's events to the log without making them durable:
    /// readers do not see them until [`Store::sync_written`] covers them and
    /// [`Store::publish_durable`] publishes them. Returns where each record
    /// lies, for [`Store::write_indexes`]. An error poisons the store.
    ///
    /// The log first, sled after: after a crash sled never holds more than
    /// the log (short of a power cut, which recovery also handles). The
    /// fdatasync may start as soon as this returns: nothing in sled is
    /// needed to make an event durable.
    pub(crate) fn write_log(&self, set: &WriteSet) -> Result<Vec<(u64, u32)>, StoreError> {
        self.inner.health.check_writable()?;
        let keyed: std::collections::HashMap<u64, (&str, &[u8; 32])> =
            set.keys.iter().map(|(key, record)| (record.position, (key.as_str(), &record.digest))).collect();
        let records = set.events.iter().map(|e| {
            let parts = RecordParts {
                key: keyed.get(&e.position).copied(),
                appended_by: e.appended_by.as_deref(),
                raw: e.raw.as_ref(),
            };
            (e.position, parts)
        });
        self.inner.log.append(records).inspect_err(|e| self.poison(e))
    }

    /// Writes the indexes the writer itself reads back (where records lie,
    /// seqs, heads, keys, forks, the hlc) for a commit whose records are at
    /// `locations`; [`Store::write_derived`] writes the rest. Returns the
    /// applied mark for `write_derived` to write last. An error poisons the
    /// store.
    pub(crate) fn write_indexes(
        &self,
        set: &WriteSet,
        locations: &[(u64, u32)],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.health.check_writable()?;
        if set.is_empty() {
            return Ok(None);
        }
        self.inner.indexes.write_base(set, locations).inspect_err(|e| self.poison(e))
    }

    /// Writes what only readers use — the id index of remote events and
    /// the views — and then the applied mark [`Store::write_indexes`]
    /// returned. Commits come here in order, from one thread. An error
    /// poisons the store.
    pub(crate) fn write_derived(&self, set: &WriteSet, mark: Option<Vec<u8>>) -> Result<(), StoreError> {
        self.inner.health.check_writable()?;
        let derived = derive::write_derived(&self.inner.indexes, set, mark).inspect_err(|e| self.poison(e));
        #[cfg(test)]
        self.inner.derived_commits.fetch_add(1, Ordering::AcqRel);
        derived
    }

    /// Makes the log written so far durable: one fdatasync. With
    /// `with_sled`, sled's writes too: fork evidence is not derived from
    /// the log, so it must not be lost. Readers see nothing new until
    /// [`Store::publish_durable`]. An error poisons the store.
    pub(crate) fn sync_written(&self, with_sled: bool) -> Result<(), StoreError> {
        self.inner.health.check_writable()?;
        let synced = if with_sled { self.sync() } else { self.inner.log.sync() };
        synced.inspect_err(|e| self.poison(e))
    }

    /// Lets readers see a commit's `events`, which a sync covered and whose
    /// views are written, and keeps them at hand for followers of the log.
    /// Refused once the store is poisoned: what failed may be in the views.
    pub(crate) fn publish_durable(&self, events: &[StoredEvent]) -> Result<(), StoreError> {
        self.inner.health.check_writable()?;
        let Some(through) = events.last().map(|e| e.position) else { return Ok(()) };
        // Kept before readers may ask for them: a reader never reads past
        // the durable position, so holding more is harmless.
        self.inner.recent.lock().expect("recent lock").extend(events);
        if through > self.inner.durable_position.load(Ordering::Acquire) {
            self.inner.durable_position.store(through, Ordering::Release);
            self.inner.durable_tx.send_replace(through);
        }
        Ok(())
    }

    /// Refuses every write from now on, for `error`.
    pub(crate) fn poison(&self, error: &StoreError) {
        self.inner.health.poison(error);
    }

    /// Makes everything written so far durable: the event log, then sled's
    /// buffers (sled 0.34's `flush` ends in `sync_file_range`, which is
    /// enough for what can be replayed from the log; see [`crate::recovery`]).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.inner.log.sync()?;
        // Every durable position was synced before it became one; the
        // next open (after a clean stop, say) need not check them again.
        self.inner.indexes.mark_synced(self.last_position())?;
        self.inner.db.flush()?;
        Ok(())
    }
}

/// Hooks for the store's own tests.
#[cfg(test)]
impl Store {
    /// The sled tree, to plant what a crash or an older version leaves.
    pub(crate) fn tree(&self) -> &sled::Tree {
        self.inner.indexes.tree()
    }

    /// The event log, to fail or hold its syncs.
    pub(crate) fn log(&self) -> &Log {
        &self.inner.log
    }

    /// Commits whose derived entries were written.
    pub(crate) fn derived_commits(&self) -> u64 {
        self.inner.derived_commits.load(Ordering::Acquire)
    }

    /// How many of the latest events are held in memory.
    pub(crate) fn recent_held(&self) -> usize {
        self.inner.recent.lock().expect("recent lock").held()
    }

    /// Where the record of `position` lies in the log.
    pub(crate) fn locate(&self, position: u64) -> Result<Option<(u64, u32)>, StoreError> {
        self.inner.indexes.locate(position)
    }
}
