//! [`Store`]: the event log file, fdatasynced before any acknowledgement,
//! plus sled for what is derived from it (indexes, heads, idempotency
//! records, views), replayed from the log when a crash took some back.

use crate::{keys, log};
use linkage_core::ledger::{Head, KeyRecord};
use linkage_core::{Channel, NodeCode};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// sled's page cache by default. sled's own default (1 GiB) would let the
/// 101 nodes of a province on one machine take far more memory than it has;
/// reads of recent events, the common case, hit the cache at this size.
pub const CACHE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// Key of the applied mark: position, offset and end of the last log
/// record whose indexes and views sled holds.
const META_APPLIED: &[u8] = b"Mapplied";

/// Records replayed into sled per batch when the store opens.
const REPLAY_CHUNK: usize = 1_024;

/// Key of the synced mark: position, offset and end of a log record that
/// an fdatasync is known to cover (the log's end when the store last
/// opened). Records up to it are not checked again on open.
const META_SYNCED: &[u8] = b"Msynced";

/// Present while a replay of the whole log, decided because sled holds
/// more than the log, is unfinished: a crash during it must not leave
/// sled's heads and keys of lost records behind.
const META_REDERIVE: &[u8] = b"Mrederive";

/// Log-index runs (one per commit the writer made) before sled's applied
/// mark whose records are checked and replayed again when the store opens,
/// unless the synced mark is later. sled may write a commit's indexes and
/// mark to disk before the log's fdatasync covers its records, and a power
/// cut during that fdatasync can lose a block in the middle of a commit
/// while its last record, which the mark points at, survives. The pipeline
/// keeps far fewer commits between being indexed and being synced (the
/// writer's queue to the index thread and the sync thread's queue, each a
/// few times [`crate::appender::COMMITS_IN_FLIGHT_MAX`]); replaying an
/// event sled already holds writes the same values again.
const RECHECKED_COMMITS: usize = 16 * crate::appender::COMMITS_IN_FLIGHT_MAX;

/// Bytes of one record's place in a log-index run: offset (u64 BE) and
/// length (u32 BE).
const LOCATION_BYTES: usize = 12;

/// A read finds its records with one walk over the log index when their
/// positions span less than this many times their number
/// ([`Store::read_stream`]; a range of positions always does).
const LOCATE_WALK_SPREAD_MAX: u64 = 8;

/// The most bytes one read of consecutive records takes at a time.
const READ_SPAN_MAX: usize = 8 * 1024 * 1024;

/// Bytes of the latest durable events kept in memory, so that followers of
/// the log (the replicator's pushes, `Subscribe` streams) take what just
/// became durable without reading the log file again.
pub const RECENT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The latest durable events, in position order without a gap, up to
/// [`RECENT_BYTES_MAX`] (and at least the last one, whatever its size).
#[derive(Default)]
struct Recent {
    events: VecDeque<StoredEvent>,
    bytes: usize,
}

impl Recent {
    /// Adds a commit's events, which follow the ones held.
    fn extend(&mut self, events: &[StoredEvent]) {
        let Some(first) = events.first() else { return };
        if self.events.back().is_some_and(|e| e.position + 1 != first.position) {
            // Not the next ones (cannot happen: commits publish in order).
            self.events.clear();
            self.bytes = 0;
        }
        for e in events {
            self.bytes += e.raw.len();
            self.events.push_back(e.clone());
        }
        while self.bytes > RECENT_BYTES_MAX && self.events.len() > 1 {
            let dropped = self.events.pop_front().expect("more than one");
            self.bytes -= dropped.raw.len();
        }
    }

    /// `count` events from `from` on, if all of them are held.
    fn get(&self, from: u64, count: u64) -> Option<Vec<StoredEvent>> {
        let skip = from.checked_sub(self.events.front()?.position)? as usize;
        let end = skip.checked_add(count as usize).filter(|end| *end <= self.events.len())?;
        Some(self.events.range(skip..end).cloned().collect())
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

/// A record's place from a log-index run.
fn location(bytes: &[u8]) -> (u64, u32) {
    let offset = u64::from_be_bytes(bytes[..8].try_into().expect("12 bytes"));
    let len = u32::from_be_bytes(bytes[8..12].try_into().expect("12 bytes"));
    (offset, len)
}

/// A mark in sled (`Mapplied`, `Msynced`): the position of a log record
/// and where the record lies.
struct Mark {
    position: u64,
    offset: u64,
    end: u64,
}

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
    #[error(
        "the store refuses writes after an earlier storage error ({0}); fix its cause (a full disk, say) and restart \
         the node"
    )]
    Poisoned(String),
}

/// Gauge: 1 while the store takes writes, 0 once a storage error (a full
/// disk, a failed fdatasync) made it refuse them until the node restarts.
pub const STORE_WRITABLE: &str = "linkage_store_writable";

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
    /// Stored bytes: a local event's as the commit built them, a remote
    /// one's as a slice of the message that brought it.
    pub raw: bytes::Bytes,
    /// The event decoded, when the caller has it: the views fold it
    /// without decoding `raw` again.
    pub decoded: Option<linkage_core::pb::Event>,
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
    /// The event log ([`crate::log`]); only the writer appends to it.
    log: File,
    /// Offset just past the last record written, durable or not yet.
    log_end: AtomicU64,
    /// Offset up to which the log file is written (records, then zeros):
    /// see [`log::PREALLOCATE_BYTES`]. The writer's alone.
    log_allocated: AtomicU64,
    /// Highest position covered by a completed fdatasync; reads stop here.
    durable_position: AtomicU64,
    /// Cleared by the first failed write: fsync errors cannot be retried
    /// safely, so the node refuses writes and keeps serving reads.
    writable: AtomicBool,
    /// Announces each new durable position to subscribers.
    durable_tx: tokio::sync::watch::Sender<u64>,
    /// The latest durable events, for followers of the log.
    recent: std::sync::Mutex<Recent>,
    poison_reason: std::sync::Mutex<String>,
    /// What opening the store rebuilt, if the views were of another version.
    rebuilt_on_open: std::sync::Mutex<Option<crate::views::RebuildStats>>,
    /// Log records opening the store wrote into sled again.
    replayed_on_open: AtomicU64,
    /// Tests set this to make the next sync fail like a full or dying disk.
    #[cfg(test)]
    fail_next_sync: AtomicBool,
    /// Tests set this to hold every sync until they clear it, like a slow disk.
    #[cfg(test)]
    hold_syncs: AtomicBool,
    /// Commits whose derived entries were written, for tests to wait on.
    #[cfg(test)]
    derived_commits: AtomicU64,
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
        let db = open_sled(&sled::Config::new().path(dir).cache_capacity(cache_bytes))?;
        let tree = db.open_tree("log")?;
        let (log, log_existed) = log::open(dir)?;
        if !log_existed && tree.scan_prefix([keys::EVENT]).next().is_some() && tree.get(META_APPLIED)?.is_none() {
            return Err(StoreError::Corrupt(format!(
                "{} was written by an older linkage that kept events inside sled; start this node on an \
                 empty directory (it pulls its own events back from its peers) or use the older version",
                dir.display()
            )));
        }
        let inner = Inner {
            db,
            tree,
            log,
            log_end: AtomicU64::new(log::MAGIC.len() as u64),
            log_allocated: AtomicU64::new(log::MAGIC.len() as u64),
            durable_position: AtomicU64::new(0),
            writable: AtomicBool::new(true),
            durable_tx: tokio::sync::watch::Sender::new(0),
            recent: std::sync::Mutex::new(Recent::default()),
            poison_reason: std::sync::Mutex::new(String::new()),
            rebuilt_on_open: std::sync::Mutex::new(None),
            replayed_on_open: AtomicU64::new(0),
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
            #[cfg(test)]
            hold_syncs: AtomicBool::new(false),
            #[cfg(test)]
            derived_commits: AtomicU64::new(0),
        };
        let store = Store { inner: Arc::new(inner) };
        store.recover()?;
        let rebuilt = store.ensure_views()?;
        *store.inner.rebuilt_on_open.lock().expect("rebuilt lock") = rebuilt;
        Ok(store)
    }

    /// Brings sled up to the log: replays every record past the last one
    /// sled holds the indexes and views of, cuts a torn tail off the log
    /// and makes the rest durable. When sled holds more than the log (a
    /// power cut persisted sled's pages but not the log's), everything
    /// derived is dropped and replayed from the start.
    fn recover(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let log = &self.inner.log;
        // Views of another version are rebuilt once the log is replayed
        // (`ensure_views`); the replay cannot fold events into them.
        if self.views_version()? != Some(u64::from(linkage_core::views::VIEWS_VERSION)) {
            self.clear_prefixes(&[linkage_core::views::PREFIX])?;
        }
        // A commit's log-index run is its first insert into sled, so sled
        // holds something of a commit only if it holds that run: when the
        // log holds the last run's records, it holds everything sled
        // derived anything from. The replay must reach that run's last
        // position (`indexed_last`), or a record before it is torn.
        let (indexed_last, within_log) = match self.inner.tree.scan_prefix([keys::EVENT]).next_back() {
            None => (0, true),
            Some(entry) => {
                let (key, run) = entry?;
                let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
                let count = run.len() / LOCATION_BYTES;
                let last = (first + count as u64).saturating_sub(1);
                (
                    last,
                    count > 0 && {
                        let (offset, len) = location(&run[(count - 1) * LOCATION_BYTES..]);
                        log::read(log, offset, len, last).is_ok()
                    },
                )
            }
        };
        let start = log::ScanEnd { offset: log::MAGIC.len() as u64, position: 0 };
        let applied = self.mark(META_APPLIED)?.filter(|m| self.holds(m));
        let from = match &applied {
            Some(m) => self.recheck_from(m)?,
            None => start,
        };
        // Decide before writing to sled: a replay from `from` must reach
        // everything sled indexed. What is decided on is made durable first:
        // sled's evidence for it (runs) is about to be rewritten, and a power
        // cut must not take back the log bytes the decision read.
        let unfinished = self.inner.tree.contains_key(META_REDERIVE)?;
        let reach = if unfinished || !within_log {
            None
        } else {
            Some(log::scan(log, from.offset, from.position, |_| Ok(()))?.position)
        };
        log.sync_data()?;
        let (end, replayed, marked) = if reach.is_none_or(|reach| reach < indexed_last) {
            tracing::warn!(
                log_ends_at = ?reach,
                indexed_up_to = indexed_last,
                unfinished,
                "sled's indexes hold records the event log lost (a power cut), or an earlier replay of the \
                 whole log did not finish; replaying the whole log"
            );
            // sled keeps a prefix of its writes in order: a crash during
            // what follows leaves this mark, and the next open starts over.
            self.inner.tree.insert(META_REDERIVE, &[][..])?;
            self.clear_derived()?;
            let (end, replayed) = self.replay_log(start)?;
            self.inner.tree.remove(META_REDERIVE)?;
            (end, replayed, 0)
        } else {
            // Past `from` lie records to replay, or only preallocated zeros.
            if log::nonzero_after(log, from.offset)? {
                self.forget_runs_after(from.position)?;
            }
            let (end, replayed) = self.replay_log(from)?;
            (end, replayed, applied.map_or(0, |m| m.position))
        };
        let file_len = log.metadata()?.len();
        if end.offset < file_len {
            // Preallocated zeros, or a torn tail among them.
            if log::nonzero_after(log, end.offset)? {
                tracing::warn!(bytes = file_len - end.offset, "cutting a torn tail off the event log");
            }
            log.set_len(end.offset)?;
        }
        self.inner.log_allocated.store(end.offset, Ordering::Release);
        // What the log holds may not have been synced before a crash.
        log.sync_data()?;
        self.inner.log_end.store(end.offset, Ordering::Release);
        self.inner.durable_position.store(end.position, Ordering::Release);
        self.inner.durable_tx.send_replace(end.position);
        self.mark_synced(end.position)?;
        self.inner.replayed_on_open.store(replayed, Ordering::Release);
        // Those up to the mark were only checked again: sled held them.
        let past_mark = end.position.saturating_sub(marked);
        if past_mark > 0 {
            tracing::info!(
                replayed = past_mark,
                rechecked = replayed.saturating_sub(past_mark),
                seconds = started.elapsed().as_secs_f64(),
                "replayed the log into the indexes"
            );
        }
        Ok(())
    }

    /// Replays every whole record of the log from `from` on into sled, and
    /// returns where the records end and how many were replayed.
    fn replay_log(&self, from: log::ScanEnd) -> Result<(log::ScanEnd, u64), StoreError> {
        let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
        let mut replayed = 0u64;
        let end = log::scan(&self.inner.log, from.offset, from.position, |record| {
            chunk.push(record);
            if chunk.len() == REPLAY_CHUNK {
                replayed += chunk.len() as u64;
                self.replay(std::mem::take(&mut chunk))?;
            }
            Ok(())
        })?;
        replayed += chunk.len() as u64;
        self.replay(chunk)?;
        Ok((end, replayed))
    }

    /// Where the replay under applied mark `mark` starts: at the first
    /// record of the [`RECHECKED_COMMITS`]-th last log-index run up to the
    /// mark, or just past the synced mark when that is later; from the
    /// start when there is neither.
    fn recheck_from(&self, mark: &Mark) -> Result<log::ScanEnd, StoreError> {
        let mut from = log::ScanEnd { offset: log::MAGIC.len() as u64, position: 0 };
        let runs = self.inner.tree.range(keys::event(0).to_vec()..=keys::event(mark.position).to_vec());
        if let Some(entry) = runs.rev().nth(RECHECKED_COMMITS - 1) {
            let (key, run) = entry?;
            let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
            if run.len() < LOCATION_BYTES || first == 0 {
                return Err(StoreError::Corrupt(format!("log index run of position {first}")));
            }
            from = log::ScanEnd { offset: location(&run).0, position: first - 1 };
        }
        if let Some(synced) = self.mark(META_SYNCED)?.filter(|s| s.position <= mark.position && self.holds(s)) {
            if synced.position > from.position {
                from = log::ScanEnd { offset: synced.end, position: synced.position };
            }
        }
        Ok(from)
    }

    /// Records in sled (`Msynced`) that an fdatasync of the log covers
    /// everything up to `position`: the next open checks nothing before it
    /// again.
    fn mark_synced(&self, position: u64) -> Result<(), StoreError> {
        match self.locate(position)? {
            Some((offset, len)) if position > 0 => {
                let mut synced = Vec::with_capacity(24);
                for n in [position, offset, offset + u64::from(len)] {
                    synced.extend_from_slice(&n.to_be_bytes());
                }
                self.inner.tree.insert(META_SYNCED, synced)?;
            }
            _ => drop(self.inner.tree.remove(META_SYNCED)?),
        }
        Ok(())
    }

    /// Whether the log holds, whole, the record a mark points at.
    fn holds(&self, mark: &Mark) -> bool {
        log::read(&self.inner.log, mark.offset, (mark.end - mark.offset) as u32, mark.position).is_ok()
    }

    /// Removes the log-index, seq-index and origin-position runs of commits after `position`
    /// that sled kept although its mark does not cover them: the replay
    /// writes them again, cut differently, and an old shorter run keyed
    /// after a new longer one would hide part of it from lookups.
    fn forget_runs_after(&self, position: u64) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        let past: Vec<_> =
            tree.range(keys::event(position + 1).to_vec()..vec![keys::EVENT + 1]).keys().collect::<Result<_, _>>()?;
        // A stream's runs after the mark are its last ones, and a commit
        // writes a stream's head before its run (`index_base`), so every
        // stream with such a run has a head.
        let mut doomed = Vec::new();
        for key in tree.scan_prefix([keys::HEAD]).keys() {
            let key = key?;
            let (origin, channel) = keys::parse_head(&key).ok_or_else(|| StoreError::Corrupt("head key".into()))?;
            for run in tree.range(keys::stream(origin, &channel, 0)..=keys::stream(origin, &channel, u64::MAX)).rev() {
                let (run_key, positions) = run?;
                if keys::be_u64(&positions).is_some_and(|first| first <= position) {
                    break;
                }
                doomed.push(run_key);
            }
            let (floor, ceiling) =
                (keys::origin_run(origin, &channel, 0), keys::origin_run(origin, &channel, u64::MAX));
            for run in tree.range(floor..=ceiling).rev() {
                let (run_key, pairs) = run?;
                if pairs.get(8..).and_then(keys::be_u64).is_some_and(|first| first <= position) {
                    break;
                }
                doomed.push(run_key);
            }
        }
        for key in past.into_iter().chain(doomed) {
            tree.remove(key)?;
        }
        Ok(())
    }

    /// The record a mark (`META_APPLIED`, `META_SYNCED`) points at.
    fn mark(&self, key: &[u8]) -> Result<Option<Mark>, StoreError> {
        let Some(value) = self.inner.tree.get(key)? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt(format!("mark {}", String::from_utf8_lossy(key)));
        let position = keys::be_u64(&value).ok_or_else(corrupt)?;
        let offset = value.get(8..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        let end = value.get(16..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        if end <= offset || end - offset > u64::from(u32::MAX) {
            return Err(corrupt());
        }
        Ok(Some(Mark { position, offset, end }))
    }

    /// Drops everything sled derives from the log (fork evidence stays).
    /// The synced mark goes too: the log it spoke of is being replayed,
    /// maybe to a shorter end.
    fn clear_derived(&self) -> Result<(), StoreError> {
        self.clear_prefixes(&[
            keys::EVENT,
            keys::STREAM,
            keys::ORIGIN,
            keys::ID,
            keys::HEAD,
            keys::IDEMPOTENCY,
            linkage_core::views::PREFIX,
        ])?;
        self.inner.tree.remove(META_APPLIED)?;
        self.inner.tree.remove(META_SYNCED)?;
        Ok(())
    }

    /// Removes every key that starts with one of `prefixes`.
    fn clear_prefixes(&self, prefixes: &[u8]) -> Result<(), StoreError> {
        let tree = &self.inner.tree;
        for prefix in prefixes {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix([*prefix]).keys() {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Writes the indexes and views of records read back from the log.
    fn replay(&self, records: Vec<log::LogRecord>) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut set = WriteSet { hlc_last: self.hlc_last()?, ..WriteSet::default() };
        let mut locations = Vec::with_capacity(records.len());
        for record in records {
            let p = linkage_core::verify::parse(&record.raw)
                .map_err(|e| StoreError::Corrupt(format!("event at position {} of the log: {e}", record.position)))?;
            locations.push((record.offset, record.len));
            set.heads.insert((p.origin, p.channel.clone()), Head { seq: p.seq, hash: p.hash });
            if let Some((key, digest)) = record.key {
                set.keys.insert(key, KeyRecord { digest, position: record.position });
            }
            set.hlc_last = set.hlc_last.max(p.hlc);
            set.events.push(WriteEvent {
                position: record.position,
                origin: p.origin,
                channel: p.channel.to_string(),
                seq: p.seq,
                id: p.id,
                raw: record.raw.into(),
                decoded: Some(p.event),
            });
        }
        self.index(&set, &locations)
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.inner.tree
    }

    /// The rebuild opening the store did because its views were written by
    /// another version of the folds (or are missing), if any.
    pub fn rebuilt_on_open(&self) -> Option<crate::views::RebuildStats> {
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
        self.inner.writable.load(Ordering::Acquire)
    }

    /// Bytes the event log and sled use on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()? + self.inner.log.metadata()?.len())
    }

    /// Where the record of `position` lies in the log, durable or not.
    fn locate(&self, position: u64) -> Result<Option<(u64, u32)>, StoreError> {
        let floor = [keys::EVENT];
        let Some(entry) = self.inner.tree.range(&floor[..]..=&keys::event(position)[..]).next_back() else {
            return Ok(None);
        };
        let (key, run) = entry?;
        let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
        let index = (position - first) as usize;
        Ok(run.get(index * LOCATION_BYTES..(index + 1) * LOCATION_BYTES).map(location))
    }

    /// The event at `position`, if durable.
    pub fn get_position(&self, position: u64) -> Result<Option<StoredEvent>, StoreError> {
        if position == 0 || position > self.last_position() {
            return Ok(None);
        }
        let Some((offset, len)) = self.locate(position)? else { return Ok(None) };
        let raw = log::read(&self.inner.log, offset, len, position)?;
        Ok(Some(StoredEvent { position, raw: raw.into() }))
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
        if let Some(event) = self.get_by_origin_position(id)? {
            return Ok(Some(event));
        }
        // Ids that name no origin position, and remote events a store
        // written before the origin-position index holds.
        match self.inner.tree.get(keys::id(id))? {
            None => Ok(None),
            Some(pos) => self.get_position(keys::be_u64(&pos).ok_or_else(|| StoreError::Corrupt("id index".into()))?),
        }
    }

    /// The remote event with this id, found by the origin and origin
    /// position the id names: in each stream of that origin held here, the
    /// origin-position run that would hold it.
    fn get_by_origin_position(&self, id: &[u8; 16]) -> Result<Option<StoredEvent>, StoreError> {
        let Some((origin, at)) = linkage_core::ids::embedded_origin(id) else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("origin-position index".into());
        for key in self.inner.tree.scan_prefix(keys::stream_prefix(keys::HEAD, origin, "")).keys() {
            let (_, channel) = keys::parse_head(&key?).ok_or_else(corrupt)?;
            let floor = keys::origin_run(origin, &channel, 0);
            let Some(run) = self.inner.tree.range(floor..=keys::origin_run(origin, &channel, at)).next_back() else {
                continue;
            };
            let (_, pairs) = run?;
            let pairs: Vec<(u64, u64)> = pairs
                .chunks_exact(16)
                .map(|pair| Some((keys::be_u64(pair)?, keys::be_u64(&pair[8..])?)))
                .collect::<Option<_>>()
                .ok_or_else(corrupt)?;
            let Ok(found) = pairs.binary_search_by_key(&at, |(origin_position, _)| *origin_position) else {
                continue;
            };
            if let Some(event) = self.get_position(pairs[found].1)? {
                if linkage_core::verify::parse(&event.raw).is_ok_and(|p| &p.id == id) {
                    return Ok(Some(event));
                }
            }
        }
        Ok(None)
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
        let located = self.locate_all(&positions)?;
        self.read_located(&located)
    }

    /// The records at `wanted` (position, offset, length), in that order.
    /// Consecutive records lie side by side: they are read in few large
    /// reads.
    fn read_located(&self, wanted: &[(u64, u64, u32)]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::with_capacity(wanted.len());
        let mut rest = wanted;
        while let Some(&(_, offset, _)) = rest.first() {
            let mut span = 0usize;
            let mut count = 0;
            for &(_, o, len) in rest {
                if o != offset + span as u64 || (count > 0 && span + len as usize > READ_SPAN_MAX) {
                    break;
                }
                span += len as usize;
                count += 1;
            }
            let mut bytes = vec![0; span];
            self.inner.log.read_exact_at(&mut bytes, offset)?;
            let mut at = 0;
            for &(position, _, len) in &rest[..count] {
                let raw = log::raw_of(&bytes[at..at + len as usize], position)?;
                out.push(StoredEvent { position, raw: raw.into() });
                at += len as usize;
            }
            rest = &rest[count..];
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
        // After a crash two runs may overlap (see `Store::index`); they
        // agree, so each seq is taken from the first run that has it.
        let mut next = from;
        self.inner.tree.range(start..=end).flat_map(move |entry| {
            let run: Vec<Result<(u64, u64), StoreError>> = match entry {
                Err(e) => vec![Err(e.into())],
                Ok((key, value)) => match keys::be_u64(&key[key.len() - 8..]) {
                    None => vec![Err(StoreError::Corrupt("seq key".into()))],
                    Some(first) => value
                        .chunks_exact(8)
                        .enumerate()
                        .map(|(i, p)| (first + i as u64, keys::be_u64(p).unwrap_or(0)))
                        .filter(|(seq, _)| {
                            let take = *seq >= next;
                            next = next.max(seq + 1);
                            take
                        })
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
        let last = self.last_position();
        let mut seqs = Vec::new();
        let mut positions = Vec::new();
        for entry in self.stream_positions(origin, channel, from) {
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
        let located = self.locate_all(&positions)?;
        let events = self.read_located(&located)?;
        Ok(seqs.into_iter().zip(events).collect())
    }

    /// Where the records of `positions` lie, up to the first one not found.
    /// When they ascend and lie close together (a range of positions, or a
    /// stream written or pulled in bulk) one walk over the log index finds
    /// them all, else each is looked up alone.
    fn locate_all(&self, positions: &[u64]) -> Result<Vec<(u64, u64, u32)>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        let (Some(&low), Some(&high)) = (positions.first(), positions.last()) else { return Ok(out) };
        let ascending = positions.windows(2).all(|w| w[0] < w[1]);
        if ascending && high - low < LOCATE_WALK_SPREAD_MAX * positions.len() as u64 {
            let floor = [keys::EVENT];
            let start = match self.inner.tree.range(&floor[..]..=&keys::event(low)[..]).next_back() {
                Some(entry) => entry?.0.to_vec(),
                None => keys::event(low).to_vec(),
            };
            let mut next = positions.iter().peekable();
            'runs: for entry in self.inner.tree.range(start..=keys::event(high).to_vec()) {
                let (key, run) = entry?;
                let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
                for (i, at) in run.chunks_exact(LOCATION_BYTES).enumerate() {
                    let Some(&&wanted) = next.peek() else { break 'runs };
                    // After a crash two runs may overlap (see `Store::index`).
                    if first + i as u64 == wanted {
                        let (offset, len) = location(at);
                        out.push((wanted, offset, len));
                        next.next();
                    }
                }
            }
            if out.len() == positions.len() {
                return Ok(out);
            }
            out.clear();
        }
        for &position in positions {
            match self.locate(position)? {
                Some((offset, len)) => out.push((position, offset, len)),
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
        match self.locate(position)? {
            None => Ok(None),
            Some((offset, len)) => Ok(Some(log::read(&self.inner.log, offset, len, position)?)),
        }
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

    /// Appends a commit's events to the log without making them durable:
    /// readers do not see them until [`Store::sync_written`] covers them and
    /// [`Store::publish_durable`] publishes them. Returns where each record
    /// lies, for [`Store::write_indexes`]. An error poisons the store.
    ///
    /// The log first, sled after: after a crash sled never holds more than
    /// the log (short of a power cut, which [`Store::recover`] also handles).
    /// The fdatasync may start as soon as this returns: nothing in sled is
    /// needed to make an event durable.
    pub(crate) fn write_log(&self, set: &WriteSet) -> Result<Vec<(u64, u32)>, StoreError> {
        self.check_writable()?;
        self.append_records(set).inspect_err(|e| self.poison(e))
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
        self.check_writable()?;
        if set.is_empty() {
            return Ok(None);
        }
        self.index_base(set, locations).inspect_err(|e| self.poison(e))
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.writable() {
            Ok(())
        } else {
            Err(StoreError::Poisoned(self.inner.poison_reason.lock().expect("poison lock").clone()))
        }
    }

    /// Writes what only readers use — the id index of remote events and
    /// the views — and then the applied mark [`Store::write_indexes`]
    /// returned. Commits come here in order, from one thread. An error
    /// poisons the store.
    pub(crate) fn write_derived(&self, set: &WriteSet, mark: Option<Vec<u8>>) -> Result<(), StoreError> {
        self.check_writable()?;
        let derived = self.index_derived(set, mark).inspect_err(|e| self.poison(e));
        #[cfg(test)]
        self.inner.derived_commits.fetch_add(1, Ordering::AcqRel);
        derived
    }

    /// Makes the log written so far durable: one fdatasync. With
    /// `with_sled`, sled's writes too: fork evidence is not derived from
    /// the log, so it must not be lost. Readers see nothing new until
    /// [`Store::publish_durable`]. An error poisons the store.
    pub(crate) fn sync_written(&self, with_sled: bool) -> Result<(), StoreError> {
        self.check_writable()?;
        let synced = if with_sled { self.sync() } else { self.sync_log() };
        synced.inspect_err(|e| self.poison(e))
    }

    /// Lets readers see a commit's `events`, which a sync covered and whose
    /// views are written, and keeps them at hand for followers of the log.
    /// Refused once the store is poisoned: what failed may be in the views.
    pub(crate) fn publish_durable(&self, events: &[StoredEvent]) -> Result<(), StoreError> {
        self.check_writable()?;
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

    pub(crate) fn poison(&self, error: &StoreError) {
        *self.inner.poison_reason.lock().expect("poison lock") = error.to_string();
        self.inner.writable.store(false, Ordering::Release);
        metrics::gauge!(STORE_WRITABLE).set(0.0);
    }

    /// Appends the commit's events to the log, zeros ahead of them first
    /// when the file's written part ends before them.
    fn append_records(&self, set: &WriteSet) -> Result<Vec<(u64, u32)>, StoreError> {
        let start = self.inner.log_end.load(Ordering::Acquire);
        let keyed: std::collections::HashMap<u64, (&str, &[u8; 32])> =
            set.keys.iter().map(|(key, record)| (record.position, (key.as_str(), &record.digest))).collect();
        let mut bytes = Vec::with_capacity(set.events.iter().map(|e| e.raw.len() + 64).sum());
        let mut locations = Vec::with_capacity(set.events.len());
        for (i, event) in set.events.iter().enumerate() {
            let offset = start + bytes.len() as u64;
            let key = keyed.get(&event.position).copied();
            let continues = i + 1 < set.events.len();
            let len = log::encode(&mut bytes, event.position, key, &event.raw, continues);
            locations.push((offset, len));
        }
        if bytes.is_empty() {
            return Ok(locations);
        }
        let end = start + bytes.len() as u64;
        let allocated = self.inner.log_allocated.load(Ordering::Acquire);
        if end > allocated {
            let to = end + log::PREALLOCATE_BYTES;
            log::preallocate(&self.inner.log, allocated.max(end), to)?;
            self.inner.log_allocated.store(to, Ordering::Release);
        }
        self.inner.log.write_all_at(&bytes, start)?;
        self.inner.log_end.store(end, Ordering::Release);
        Ok(locations)
    }

    /// Writes to sled everything derived from events at `locations` of the
    /// log: where each lies, the seq and id indexes, heads, idempotency
    /// records, views, and last the applied mark.
    ///
    /// Plain inserts, not a `sled::Batch`: sled 0.34 writes out and
    /// `sync_file_range`s its IO buffer twice for every batch (to pin its
    /// recovery point), a disk wait per commit that the log's fdatasync
    /// makes redundant. sled recovers a prefix of its inserts in the order
    /// they happened (the writer's part of a commit, `index_base`, happens
    /// before the indexer thread's, `index_derived`), so the mark, written
    /// last, never claims more than sled holds; whatever
    /// sled holds past it is written again, to the same values (views are
    /// folds over a set, so folding an event twice changes nothing), when
    /// the store opens.
    fn index(&self, set: &WriteSet, locations: &[(u64, u32)]) -> Result<(), StoreError> {
        let mark = self.index_base(set, locations)?;
        self.index_derived(set, mark)
    }

    /// The writer's part of [`Store::index`]: where each record lies, seqs,
    /// heads, keys, forks, the hlc. Returns the applied mark.
    fn index_base(&self, set: &WriteSet, locations: &[(u64, u32)]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(8);
        let mut applied_mark = None;
        if let (Some(first), Some(last)) = (set.events.first(), set.events.last()) {
            // One entry per commit: (first position) → each record's place.
            let mut run = Vec::with_capacity(locations.len() * LOCATION_BYTES);
            for (offset, len) in locations {
                run.extend_from_slice(&offset.to_be_bytes());
                run.extend_from_slice(&len.to_be_bytes());
            }
            batch.push((keys::event(first.position).to_vec(), run));
            let (offset, len) = locations[locations.len() - 1];
            let mut applied = Vec::with_capacity(24);
            applied.extend_from_slice(&last.position.to_be_bytes());
            applied.extend_from_slice(&offset.to_be_bytes());
            applied.extend_from_slice(&(offset + u64::from(len)).to_be_bytes());
            applied_mark = Some(applied);
        }
        // Heads before runs: `forget_runs_after` finds runs by their head.
        for ((origin, channel), head) in &set.heads {
            let mut value = Vec::with_capacity(40);
            value.extend_from_slice(&head.seq.to_be_bytes());
            value.extend_from_slice(&head.hash);
            batch.push((keys::head(*origin, &channel.to_string()), value));
        }
        // One seq-index entry per stream per commit: (first seq) → positions.
        let mut runs: BTreeMap<(NodeCode, &str), (u64, Vec<u8>)> = BTreeMap::new();
        for event in &set.events {
            let position = event.position.to_be_bytes();
            let run = runs.entry((event.origin, event.channel.as_str())).or_insert((event.seq, Vec::new()));
            debug_assert_eq!(
                run.0 + (run.1.len() / 8) as u64,
                event.seq,
                "a commit's events of one stream are consecutive"
            );
            run.1.extend_from_slice(&position);
        }
        for ((origin, channel), (first, positions)) in runs {
            batch.push((keys::stream(origin, channel, first), positions));
        }
        for (key, record) in &set.keys {
            let mut value = Vec::with_capacity(40);
            value.extend_from_slice(&record.digest);
            value.extend_from_slice(&record.position.to_be_bytes());
            batch.push((keys::idempotency(key), value));
        }
        for fork in &set.forks {
            let mut value = Vec::with_capacity(8 + fork.kept.len() + fork.other.len());
            value.extend_from_slice(&(fork.kept.len() as u64).to_be_bytes());
            value.extend_from_slice(&fork.kept);
            value.extend_from_slice(&fork.other);
            batch.push((keys::fork(fork.origin, &fork.channel, fork.seq, &crate::hash_of(&fork.other)), value));
        }
        batch.push((keys::META_HLC.to_vec(), set.hlc_last.to_be_bytes().to_vec()));
        for (key, value) in batch {
            self.inner.tree.insert(key, value)?;
        }
        Ok(applied_mark)
    }

    /// The readers' part of [`Store::index`]: the id index of remote
    /// events, the views, and last the applied mark.
    fn index_derived(&self, set: &WriteSet, applied_mark: Option<Vec<u8>>) -> Result<(), StoreError> {
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(set.events.len() + 4);
        // An id that names its own position needs no index entry: a node
        // finds its own events (and any that landed at the same position)
        // by the id alone. A remote event's id names its origin and the
        // origin's position: one entry per stream per commit maps those
        // to positions here. See `linkage_core::ids`.
        let mut runs: BTreeMap<(NodeCode, &str), (u64, Vec<u8>)> = BTreeMap::new();
        for event in &set.events {
            let position = event.position;
            match linkage_core::ids::embedded_origin(&event.id) {
                Some((_, at)) if at == position => {}
                Some((origin, at)) if origin == event.origin => {
                    let run = runs.entry((origin, event.channel.as_str())).or_insert((at, Vec::new()));
                    let ascending = run.1.len() < 16 || keys::be_u64(&run.1[run.1.len() - 16..]) < Some(at);
                    if ascending {
                        run.1.extend_from_slice(&at.to_be_bytes());
                        run.1.extend_from_slice(&position.to_be_bytes());
                    } else {
                        // Only a misbehaving origin numbers a stream's
                        // events out of order; its ids still find them.
                        batch.push((keys::id(&event.id).to_vec(), position.to_be_bytes().to_vec()));
                    }
                }
                _ => batch.push((keys::id(&event.id).to_vec(), position.to_be_bytes().to_vec())),
            }
        }
        for ((origin, channel), (first, pairs)) in runs {
            batch.push((keys::origin_run(origin, channel, first), pairs));
        }
        // The views change with the events that change them.
        let mut views = crate::views::Overlay::new(&self.inner.tree);
        let mut folded = 0;
        for event in &set.events {
            folded += u64::from(match &event.decoded {
                Some(decoded) => linkage_core::views::apply(decoded, &mut views).is_some(),
                None => crate::views::fold(&event.raw, &mut views),
            });
        }
        batch.extend(views.finish()?);
        // Last, once everything before it is in: sled recovers a prefix.
        batch.extend(applied_mark.map(|mark| (META_APPLIED.to_vec(), mark)));
        for (key, value) in batch {
            self.inner.tree.insert(key, value)?;
        }
        metrics::counter!("linkage_views_updated_events_total").increment(folded);
        Ok(())
    }

    /// Every event's bytes written so far, in position order, straight from
    /// the log file. For the writer thread only (a rebuild runs there).
    pub(crate) fn scan_log(&self, mut visit: impl FnMut(Vec<u8>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let end = self.inner.log_end.load(Ordering::Acquire);
        log::scan(&self.inner.log, log::MAGIC.len() as u64, 0, |record| {
            if record.end() <= end {
                visit(record.raw)
            } else {
                Ok(())
            }
        })?;
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

    /// Makes the event log written so far durable: a real `fdatasync`.
    fn sync_log(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.inner.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(StoreError::Io(std::io::Error::other("injected: no space left on device")));
        }
        #[cfg(test)]
        while self.inner.hold_syncs.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.inner.log.sync_data()?;
        Ok(())
    }

    /// Makes everything written so far durable: the event log, then sled's
    /// buffers (sled 0.34's `flush` ends in `sync_file_range`, which is
    /// enough for what can be replayed from the log; see [`Store::recover`]).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.sync_log()?;
        // Every durable position was synced before it became one; the
        // next open (after a clean stop, say) need not check them again.
        self.mark_synced(self.last_position())?;
        self.inner.db.flush()?;
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

    use linkage_core::validate::ValidAppend;

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

    /// County 620722's append of `title` with idempotency key `key`.
    fn keyed_request(title: &str, key: &str) -> ValidAppend {
        let request = pb::AppendRequest { idempotency_key: key.into(), ..request(title) };
        validate_append(&topology(), "620722".parse().unwrap(), request).unwrap()
    }

    /// A store in `dir` with the writer of county 620722 on it.
    fn county_store(dir: &Path) -> (Store, NodeCode, Appender, std::thread::JoinHandle<()>) {
        let store = Store::open(dir).unwrap();
        let origin: NodeCode = "620722".parse().unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        (store, origin, appender, thread)
    }

    async fn append(appender: &Appender, title: &str) -> Result<Vec<crate::Appended>, crate::AppendFailure> {
        let origin: NodeCode = "620722".parse().unwrap();
        appender.append(vec![validate_append(&topology(), origin, request(title)).unwrap()]).await
    }

    /// Where county 620722's next append of `title` on `channel` lands on
    /// `store`, from a new writer: (position, seq).
    async fn next_placed(store: &Store, channel: &str, title: &str) -> (u64, u64) {
        let origin: NodeCode = "620722".parse().unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        let request = pb::AppendRequest { channel: channel.into(), ..request(title) };
        let next = appender.append(vec![validate_append(&topology(), origin, request).unwrap()]).await.unwrap();
        drop(appender);
        thread.join().unwrap();
        let event = <pb::Event as prost::Message>::decode(next[0].event.raw.as_ref()).unwrap();
        (next[0].event.position, event.seq)
    }

    fn recent_event(position: u64, bytes: usize) -> StoredEvent {
        StoredEvent { position, raw: vec![position as u8; bytes].into() }
    }

    #[test]
    fn the_latest_events_are_kept_without_a_gap_up_to_their_byte_limit() {
        let mut recent = Recent::default();
        assert_eq!(recent.get(1, 1), None);
        let quarter = RECENT_BYTES_MAX / 4;
        recent.extend(&[recent_event(1, quarter), recent_event(2, quarter)]);
        recent.extend(&[recent_event(3, quarter), recent_event(4, quarter)]);
        assert_eq!(recent.get(1, 4).unwrap().iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 3, 4]);
        // Over the limit: the oldest go, what is left still ends at the last.
        recent.extend(&[recent_event(5, quarter)]);
        assert_eq!(recent.get(1, 1), None);
        assert_eq!(recent.get(2, 4).unwrap().iter().map(|e| e.position).collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(recent.bytes, RECENT_BYTES_MAX);
        // Nothing past what is held, nothing partly held.
        assert_eq!(recent.get(5, 2), None);
        assert_eq!(recent.get(6, 1), None);
        // Of a commit bigger than the limit, what fits is kept, and at
        // least its last event.
        recent.extend(&[recent_event(6, quarter), recent_event(7, RECENT_BYTES_MAX - 1), recent_event(8, 1)]);
        assert_eq!(recent.get(7, 2).unwrap().len(), 2);
        assert_eq!(recent.get(6, 1), None);
        recent.extend(&[recent_event(9, RECENT_BYTES_MAX + 1)]);
        assert_eq!((recent.get(8, 1), recent.get(9, 1).map(|e| e.len())), (None, Some(1)));
        // One that does not follow replaces what was held.
        recent.extend(&[recent_event(11, 1)]);
        assert_eq!((recent.get(9, 1), recent.get(11, 1).map(|e| e.len())), (None, Some(1)));
        assert_eq!(recent.bytes, 1);
    }

    #[tokio::test]
    async fn reads_of_the_latest_events_from_memory_equal_reads_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let origin: NodeCode = "620722".parse().unwrap();
        let read_all = |store: &Store| {
            let all: Vec<_> = (1..=4).flat_map(|from| store.read_positions(from, 2).unwrap()).collect();
            all.into_iter().map(|e| (e.position, e.raw.to_vec())).collect::<Vec<_>>()
        };
        let from_memory = {
            let store = Store::open(dir.path()).unwrap();
            let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
            for title in ["一", "二", "三", "四"] {
                append(&appender, title).await.unwrap();
            }
            assert_eq!(store.inner.recent.lock().unwrap().events.len(), 4);
            drop(appender);
            thread.join().unwrap();
            read_all(&store)
        };
        let store = Store::open(dir.path()).unwrap();
        assert!(store.inner.recent.lock().unwrap().events.is_empty());
        assert_eq!(from_memory.len(), 7);
        assert_eq!(from_memory, read_all(&store));
    }

    #[tokio::test]
    async fn the_latest_events_are_read_from_memory_not_from_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, appender, _thread) = county_store(dir.path());
        let mut appended = Vec::new();
        for title in ["一", "二", "三"] {
            appended.extend(append(&appender, title).await.unwrap().into_iter().map(|a| a.event.raw.to_vec()));
        }
        // The records on disk are gone; reads of what just became durable
        // do not notice.
        let log = std::fs::OpenOptions::new().write(true).open(dir.path().join(log::FILE_NAME)).unwrap();
        let written = log.metadata().unwrap().len() - log::MAGIC.len() as u64;
        log.write_all_at(&vec![0; written as usize], log::MAGIC.len() as u64).unwrap();
        let read: Vec<Vec<u8>> = store.read_positions(1, 10).unwrap().into_iter().map(|e| e.raw.to_vec()).collect();
        assert_eq!(read, appended);
    }

    /// Waits until the index thread has written `commits` commits.
    async fn wait_for_derived(store: &Store, commits: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while store.inner.derived_commits.load(Ordering::Acquire) < commits {
            assert!(std::time::Instant::now() < deadline, "the index thread did not get to commit {commits}");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_retry_is_answered_only_once_the_event_that_answers_it_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, appender, _thread) = county_store(dir.path());
        let keyed = |title: &str, key: &str| vec![keyed_request(title, key)];
        // A slow disk holds the sync of commit 1 while commit 2 (a new
        // event) and commit 3 (a retry of its key, no event, no sync of its
        // own) are written and indexed: the sync thread then finds all three
        // at once, commit 2 still waiting for its sync.
        store.inner.hold_syncs.store(true, Ordering::Release);
        let first = tokio::spawn({
            let (appender, job) = (appender.clone(), keyed("一", "k1"));
            async move { appender.append(job).await }
        });
        wait_for_derived(&store, 1).await;
        let original = tokio::spawn({
            let (appender, job) = (appender.clone(), keyed("二", "k2"));
            async move { appender.append(job).await }
        });
        wait_for_derived(&store, 2).await;
        let retry = tokio::spawn({
            let (appender, job) = (appender.clone(), keyed("二", "k2"));
            async move { appender.append(job).await }
        });
        wait_for_derived(&store, 3).await;
        store.inner.hold_syncs.store(false, Ordering::Release);
        first.await.unwrap().unwrap();
        let original = original.await.unwrap().unwrap();
        let retry = retry.await.unwrap().expect("the retry is answered with the first event, once durable");
        assert!(retry[0].deduplicated);
        assert_eq!(retry[0].event.position, original[0].event.position);
        assert_eq!(retry[0].event.raw, original[0].event.raw);
    }

    #[tokio::test]
    async fn an_appended_event_comes_back_decoded_exactly_as_its_bytes_decode() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, appender, _thread) = county_store(dir.path());
        // One commit: two unsigned events, then a signed one, then a retry
        // of the first key, which the first event answers.
        let batch = ["一", "二", "三", "一"].iter().zip(["k1", "k2", "k3", "k1"]);
        let batch = batch.map(|(title, key)| keyed_request(title, key)).collect();
        let appended = appender.append(batch).await.unwrap();
        assert_eq!(appended.len(), 4);
        for (i, a) in appended.iter().enumerate() {
            let from_bytes = <pb::Event as prost::Message>::decode(a.event.raw.as_ref()).unwrap();
            match &a.decoded {
                Some(decoded) => assert_eq!(decoded, &from_bytes, "request {i}"),
                None => assert_eq!(i, 3, "only the retry in the same commit may come without its decoding"),
            }
            assert_eq!(from_bytes.signature.is_empty(), i != 2, "request {i}: only the last event is signed");
        }
        assert_eq!(appended[3].event.position, appended[0].event.position);
    }

    #[tokio::test]
    async fn a_failed_sync_refuses_writes_and_keeps_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, appender, _thread) = county_store(dir.path());
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_sync_under_load_fails_what_it_did_not_cover() {
        // Big jobs from many clients take the pipelined path: the syncer
        // syncs while the indexer writes views. A sync failing midway must
        // fail every commit it did not cover, hang none, and serve only
        // what was acknowledged.
        let dir = tempfile::tempdir().unwrap();
        let (store, origin, appender, _thread) = county_store(dir.path());
        let topology = topology();
        let job = |client: usize, round: usize| -> Vec<ValidAppend> {
            (0..64)
                .map(|i| validate_append(&topology, origin, request(&format!("{client}-{round}-{i}"))).unwrap())
                .collect()
        };
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let appender = appender.clone();
                let jobs: Vec<_> = (0..20).map(|round| job(client, round)).collect();
                let store = store.clone();
                tokio::spawn(async move {
                    let mut acknowledged = Vec::new();
                    for (round, job) in jobs.into_iter().enumerate() {
                        if client == 0 && round == 10 {
                            store.inner.fail_next_sync.store(true, Ordering::Release);
                        }
                        match appender.append(job).await {
                            Ok(done) => acknowledged.extend(done.into_iter().map(|a| a.event.position)),
                            Err(crate::AppendFailure::Unavailable(_)) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    acknowledged
                })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for client in clients {
            let answered = tokio::time::timeout(std::time::Duration::from_secs(60), client).await;
            acknowledged.extend(answered.expect("every append is answered").unwrap());
        }
        assert!(!store.writable());
        acknowledged.sort_unstable();
        let served: Vec<u64> = store.read_positions(1, 100_000).unwrap().iter().map(|e| e.position).collect();
        assert_eq!(served, acknowledged, "readers see exactly what was acknowledged");
        assert_eq!(store.last_position(), acknowledged.last().copied().unwrap_or(0));
    }

    /// Appends `n` keyed events to a store in `dir` and returns what a
    /// reader sees: every event, the heads, the views, the clock.
    async fn fill(dir: &Path, n: usize) -> (Vec<StoredEvent>, Vec<StreamHeadInfo>, String, u64) {
        let store = Store::open(dir).unwrap();
        let origin: NodeCode = "620722".parse().unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        for i in 0..n {
            let mut r = request(&format!("事项 {i}"));
            r.idempotency_key = format!("key-{i}");
            appender.append(vec![validate_append(&topology(), origin, r).unwrap()]).await.unwrap();
        }
        drop(appender);
        thread.join().unwrap();
        seen(&store)
    }

    fn seen(store: &Store) -> (Vec<StoredEvent>, Vec<StreamHeadInfo>, String, u64) {
        let events = store.read_positions(1, 1_000).unwrap();
        (events, store.heads().unwrap(), store.dump_views().unwrap(), store.hlc_last().unwrap())
    }

    /// What sled holds beside the log, as if a crash had taken back every
    /// sled write: removes all derived keys straight from sled.
    fn forget_sled(dir: &Path) {
        let db = open_sled(&sled::Config::new().path(dir)).unwrap();
        let tree = db.open_tree("log").unwrap();
        for key in tree.iter().keys() {
            let key = key.unwrap();
            if key.as_ref() != keys::META_HLC {
                tree.remove(key).unwrap();
            }
        }
        db.flush().unwrap();
    }

    #[tokio::test]
    async fn a_run_beyond_a_gap_is_handed_back_and_lands_once_the_gap_is_filled() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (source, origin, appender, _thread) = county_store(from.path());
        for title in ["一", "二", "三", "四", "五"] {
            append(&appender, title).await.unwrap();
        }
        let run = |from: u64, count: usize| -> crate::RemoteRun {
            let page = source.read_stream(origin, "up", from, count).unwrap();
            page.into_iter()
                .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
                .collect()
        };
        let target = Store::open(to.path()).unwrap();
        let (appender, _thread) =
            Appender::start(target.clone(), "620000".parse().unwrap(), SigningKey::from_bytes(&[9; 32])).unwrap();
        // Seqs 3 to 5 before 1 and 2: nothing lands, all of it comes back.
        let beyond = appender.apply(vec![run(3, 3)]).await.unwrap();
        assert_eq!((beyond.applied, beyond.gaps), (0, 3));
        assert_eq!(beyond.waiting, vec![run(3, 3)]);
        // Seqs 1 to 4: two land, and the part past the new gap comes back.
        let partly = appender.apply(vec![run(1, 2), run(4, 1)]).await.unwrap();
        assert_eq!((partly.applied, partly.gaps, partly.waiting), (2, 1, vec![run(4, 1)]));
        let filled = appender.apply(beyond.waiting).await.unwrap();
        assert_eq!((filled.applied, filled.gaps, filled.waiting.len()), (3, 0, 0));
        assert_eq!(target.head(origin, "up").unwrap().map(|h| h.seq), Some(5));
    }

    #[tokio::test]
    async fn remote_events_are_found_by_id_through_their_origin_positions() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let origin: NodeCode = "620722".parse().unwrap();
        let source = Store::open(from.path()).unwrap();
        let (appender, _thread) = Appender::start(source.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        // Two streams whose origin positions interleave, three per commit.
        for commit in 0..6 {
            let channel = if commit % 2 == 0 { "up" } else { "all" };
            let job = (0..3)
                .map(|i| {
                    let request = pb::AppendRequest { channel: channel.into(), ..request(&format!("{commit}-{i}")) };
                    validate_append(&topology(), origin, request).unwrap()
                })
                .collect();
            appender.append(job).await.unwrap();
        }
        let events = source.read_positions(1, 100).unwrap();
        assert_eq!(events.len(), 18);

        let reopened = {
            let target = Store::open(to.path()).unwrap();
            let (appender, thread) =
                Appender::start(target.clone(), "620000".parse().unwrap(), SigningKey::from_bytes(&[9; 32])).unwrap();
            // Each stream (nine events) in three pages, the last two in one commit.
            for (from, count) in [(1, 4), (5, 3)] {
                for channel in ["up", "all"] {
                    let page = source.read_stream(origin, channel, from, count).unwrap();
                    let run = page
                        .into_iter()
                        .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
                        .collect();
                    assert_eq!(appender.apply(vec![run]).await.unwrap().applied, count);
                }
            }
            let run = ["up", "all"]
                .into_iter()
                .flat_map(|channel| source.read_stream(origin, channel, 8, 2).unwrap())
                .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
                .collect::<Vec<_>>();
            let (up, all) = run.split_at(run.len() / 2);
            assert_eq!(appender.apply(vec![up.to_vec(), all.to_vec()]).await.unwrap().applied, run.len());
            for event in &events {
                let id = linkage_core::verify::parse(&event.raw).unwrap().id;
                let found = target.get_by_id(&id).unwrap().unwrap_or_else(|| panic!("event {}", event.position));
                assert_eq!(found.raw, event.raw);
            }
            // No event needed an entry of its own.
            assert_eq!(target.tree().scan_prefix([keys::ID]).count(), 0);
            let unknown = linkage_core::ids::event_id(origin, 1 << 20, 99);
            assert_eq!(target.get_by_id(&unknown).unwrap(), None);
            drop(appender);
            thread.join().unwrap();
            // As after a crash that lost the mark: everything is replayed.
            target.tree().remove(META_APPLIED).unwrap();
            to.path().to_path_buf()
        };
        let target = Store::open(&reopened).unwrap();
        for event in &events {
            let id = linkage_core::verify::parse(&event.raw).unwrap().id;
            assert_eq!(target.get_by_id(&id).unwrap().map(|e| e.raw), Some(event.raw.clone()));
        }
    }

    #[tokio::test]
    async fn indexes_and_views_lost_by_sled_are_replayed_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill(dir.path(), 12).await;
        forget_sled(dir.path());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(seen(&store), before);
        assert_eq!(store.last_position(), 12);
        // Idempotency records come back too: a retry finds its first answer.
        assert_eq!(store.key_record("key-3").unwrap().map(|k| k.position), Some(4));
        let origin: NodeCode = "620722".parse().unwrap();
        assert_eq!(
            store.read_stream(origin, "up", 5, 3).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [5, 6, 7]
        );
    }

    #[tokio::test]
    async fn sled_holding_part_of_what_follows_its_mark_is_replayed_over() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill(dir.path(), 9).await;
        {
            // Worse than a kill -9 can leave it: the mark lost, some of
            // what it covers there, some not (every other view block).
            let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
            let tree = db.open_tree("log").unwrap();
            tree.remove(META_APPLIED).unwrap();
            let views: Vec<_> = tree.scan_prefix([linkage_core::views::PREFIX]).keys().map(Result::unwrap).collect();
            for key in views.iter().step_by(2) {
                tree.remove(key).unwrap();
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(seen(&store), before);
        // Runs written by the commits and by the replay overlap; reads take each seq once.
        let origin: NodeCode = "620722".parse().unwrap();
        let seqs: Vec<u64> = store.read_stream(origin, "up", 1, 100).unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
        let positions: Vec<u64> = store.read_positions(1, 100).unwrap().iter().map(|e| e.position).collect();
        assert_eq!(positions, (1..=9).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn runs_sled_kept_past_its_mark_do_not_hide_the_replayed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill(dir.path(), 9).await;
        // As a crash can leave it: every commit's runs are there, but the
        // mark says only the first three commits are.
        let (offset, len) = Store::open(dir.path()).unwrap().locate(3).unwrap().unwrap();
        {
            let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
            let tree = db.open_tree("log").unwrap();
            let mut mark = Vec::new();
            for n in [3, offset, offset + u64::from(len)] {
                mark.extend_from_slice(&n.to_be_bytes());
            }
            tree.insert(META_APPLIED, mark).unwrap();
            // And of the commits after it, sled kept only the fifth's runs.
            let origin: NodeCode = "620722".parse().unwrap();
            for n in 6..=9 {
                tree.remove(keys::event(n)).unwrap();
                tree.remove(keys::stream(origin, "up", n)).unwrap();
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(seen(&store), before);
        let origin: NodeCode = "620722".parse().unwrap();
        for from in 1..=9 {
            assert_eq!(store.get_position(from).unwrap().map(|e| e.position), Some(from));
            let seqs: Vec<u64> = store.read_stream(origin, "up", from, 100).unwrap().iter().map(|(s, _)| *s).collect();
            assert_eq!(seqs, (from..=9).collect::<Vec<_>>(), "from seq {from}");
        }
    }

    #[tokio::test]
    async fn a_log_shorter_than_sled_replays_everything_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let all = fill(dir.path(), 10).await;
        // A power cut that kept sled's pages but not the log's last records.
        let log = std::fs::OpenOptions::new().write(true).open(dir.path().join(log::FILE_NAME)).unwrap();
        let third_last = all.0[7].position;
        let cut = {
            let store = Store::open(dir.path()).unwrap();
            store.locate(third_last).unwrap().unwrap().0
        };
        log.set_len(cut).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_position(), 7);
        assert_eq!(store.heads().unwrap()[0].seq, 7);
        assert!(store.key_record("key-8").unwrap().is_none(), "no record of a lost event");
        assert_eq!(store.key_record("key-6").unwrap().map(|k| k.position), Some(7));
        let views = store.dump_views().unwrap();
        assert!(views.lines().count() == 7, "one item per event held:\n{views}");
        // And the next append takes position 8 and seq 8.
        assert_eq!(next_placed(&store, "up", "之后").await, (8, 8));
    }

    /// Where the record of `position` lies in the log in `dir`, read from
    /// the file alone: opening the store would check and sync what a test
    /// is about to tear.
    fn record_offset(dir: &Path, position: u64) -> u64 {
        let (log, _) = log::open(dir).unwrap();
        let mut found = None;
        log::scan(&log, log::MAGIC.len() as u64, 0, |r| {
            if r.position == position {
                found = Some(r.offset);
            }
            Ok(())
        })
        .unwrap();
        found.expect("the record is in the log")
    }

    /// Breaks the record of `position` in the log in `dir`, as a power cut
    /// during its fdatasync can: a block of it never written.
    fn tear(dir: &Path, position: u64) {
        let offset = record_offset(dir, position);
        let log = std::fs::OpenOptions::new().write(true).open(dir.join(log::FILE_NAME)).unwrap();
        log.write_all_at(&[0xff; 16], offset + 20).unwrap();
    }

    /// Three lone appends on `up`, then one commit of `up`, `up` and
    /// `to:620700` (positions 4 to 6) whose middle record a power cut tore
    /// while sled kept the commit's indexes and its mark.
    async fn torn_commit(dir: &Path) {
        fill(dir, 3).await;
        let origin: NodeCode = "620722".parse().unwrap();
        let store = Store::open(dir).unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        let job = [("up", "四"), ("up", "五"), ("to:620700", "六")]
            .into_iter()
            .map(|(channel, title)| {
                let key = format!("torn-{title}");
                let r = pb::AppendRequest { channel: channel.into(), idempotency_key: key, ..request(title) };
                validate_append(&topology(), origin, r).unwrap()
            })
            .collect();
        appender.append(job).await.unwrap();
        drop((appender, store));
        thread.join().unwrap();
        tear(dir, 5);
    }

    /// What a store opened over [`torn_commit`] must hold: the three lone
    /// appends only, and streams that go on from them.
    async fn assert_torn_commit_dropped(store: &Store) {
        let origin: NodeCode = "620722".parse().unwrap();
        assert_eq!(store.last_position(), 3, "the log ends before the torn commit, all of it");
        let positions: Vec<u64> = store.read_positions(1, 100).unwrap().iter().map(|e| e.position).collect();
        assert_eq!(positions, [1, 2, 3]);
        assert!(store.get_position(4).unwrap().is_none());
        let heads = store.all_heads().unwrap();
        assert_eq!(heads.get(&(origin, linkage_core::Channel::Up)).map(|h| h.seq), Some(3));
        let to_city: linkage_core::Channel = "to:620700".parse().unwrap();
        assert_eq!(heads.get(&(origin, to_city)), None, "no head for a stream whose events were lost");
        for title in ["四", "五", "六"] {
            assert!(store.key_record(&format!("torn-{title}")).unwrap().is_none(), "no key of a lost event");
        }
        assert_eq!(store.key_record("key-2").unwrap().map(|k| k.position), Some(3));
        // The next appends continue both streams without a gap.
        assert_eq!(next_placed(store, "to:620700", "之后").await, (4, 1));
        assert_eq!(next_placed(store, "up", "之后").await, (5, 4));
    }

    #[tokio::test]
    async fn a_commit_torn_inside_is_dropped_whole_though_sled_holds_its_mark() {
        let dir = tempfile::tempdir().unwrap();
        torn_commit(dir.path()).await;
        assert_torn_commit_dropped(&Store::open(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn a_crash_while_replaying_the_whole_log_is_finished_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        torn_commit(dir.path()).await;
        {
            // The open that found the torn commit began the replay and
            // died after dropping only some of what sled derived.
            let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
            let tree = db.open_tree("log").unwrap();
            tree.insert(META_REDERIVE, &[][..]).unwrap();
            for prefix in [keys::EVENT, keys::STREAM, keys::ORIGIN, keys::ID] {
                for key in tree.scan_prefix([prefix]).keys() {
                    tree.remove(key.unwrap()).unwrap();
                }
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.inner.tree.contains_key(META_REDERIVE).unwrap());
        assert_torn_commit_dropped(&store).await;
    }

    #[tokio::test]
    async fn a_record_torn_among_the_last_commits_of_a_long_log_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let commits = RECHECKED_COMMITS + 6;
        fill(dir.path(), commits).await;
        // Torn well inside the commits checked again, before sled's mark.
        let torn = commits as u64 - 3;
        tear(dir.path(), torn);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_position(), torn - 1);
        assert_eq!(store.heads().unwrap()[0].seq, torn - 1);
        assert_eq!(store.read_positions(1, 1_000).unwrap().len() as u64, torn - 1);
        assert_eq!(next_placed(&store, "up", "之后").await, (torn, torn));
    }

    #[tokio::test]
    async fn opening_checks_the_last_commits_again_once_and_then_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fill(dir.path(), RECHECKED_COMMITS + 36).await;
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed_on_open(), RECHECKED_COMMITS as u64, "the last commits, one record each");
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed_on_open(), 0, "all synced when the store last opened");
        assert_eq!(next_placed(&store, "up", "之后").await.0, RECHECKED_COMMITS as u64 + 37);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed_on_open(), 1, "only the commit since");
        // A clean stop syncs, and marks it.
        next_placed(&store, "up", "之后").await;
        store.sync().unwrap();
        drop(store);
        assert_eq!(Store::open(dir.path()).unwrap().replayed_on_open(), 0);
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_and_the_rest_served() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill(dir.path(), 5).await;
        let path = dir.path().join(log::FILE_NAME);
        let (log, _) = log::open(dir.path()).unwrap();
        let len = log::scan(&log, log::MAGIC.len() as u64, 0, |_| Ok(())).unwrap().offset;
        assert!(std::fs::metadata(&path).unwrap().len() > len, "zeros are written ahead of the records");
        // Half a record where the zeros begin: a length and checksum, then
        // not enough body.
        log.write_all_at(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9], len).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(seen(&store), before);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "the torn record is cut off");
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
