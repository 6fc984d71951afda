//! The four views in sled: records under the `V` prefix, written by the
//! index thread with the commit of the events that change them, and rebuilt
//! from the log on demand or when [`VIEWS_VERSION`] changes.
//!
//! Records are kept in *blocks* of up to [`BLOCK_RECORDS_MAX`] records of
//! one kind, in key order: one sled entry per block, keyed by its first
//! record's key ([`views::key`]). sled 0.34 splits a leaf past 16 entries
//! and rewrites its parent each time, so one entry per record made those
//! splits most of what a store spent on its views. A record lies in the
//! block with the greatest key not above its own. A block owns the keys
//! from its own up to the next block's: a block is split by writing the new
//! blocks first and the shortened one last, so that a crash between the two
//! leaves copies in the old block past the next block's key, which readers
//! and writers ignore.

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

/// Records per block at most; a block that grows past it is cut into
/// blocks of this many (the last one shorter). Updating a record rewrites
/// its block, a few KiB.
pub const BLOCK_RECORDS_MAX: usize = 16;

/// A block's records as (key, bytes), in key order.
type Block = Vec<(Vec<u8>, Vec<u8>)>;

/// A block's bytes: per record its key's length (u16 BE), the key, its
/// bytes' length (u32 BE), the bytes.
fn encode_block(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|(k, v)| 6 + k.len() + v.len()).sum());
    for (key, value) in records {
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// A record's key and bytes, borrowed from its block.
type Entry<'a> = (&'a [u8], &'a [u8]);

/// The records of a block's bytes, borrowed.
fn block_entries(bytes: &[u8]) -> Result<Vec<Entry<'_>>, StoreError> {
    let corrupt = || StoreError::Corrupt("a view block does not decode".into());
    let mut out = Vec::with_capacity(BLOCK_RECORDS_MAX);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(corrupt)?;
        let (key, tail) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len))).ok_or_else(corrupt)?;
        let (len, tail) = tail.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let (value, tail) = tail.split_at_checked(u32::from_be_bytes(*len) as usize).ok_or_else(corrupt)?;
        out.push((key, value));
        rest = tail;
    }
    Ok(out)
}

/// The first two bytes of a record key: the prefix and the kind.
fn kind_of(key: &[u8]) -> &[u8] {
    &key[..2.min(key.len())]
}

/// The block whose range holds `key`: the one with the greatest key not
/// above it, among blocks of the same kind.
fn floor_block(tree: &sled::Tree, key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
    let mut past = key.to_vec();
    past.push(0);
    Ok(tree.get_lt(past)?.filter(|(k, _)| k.starts_with(kind_of(key))))
}

/// The key of the first block of `key`'s kind after `key`.
fn next_block_key(tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
    Ok(tree.get_gt(key)?.map(|(k, _)| k).filter(|k| k.starts_with(kind_of(key))))
}

/// One record's bytes, found in its block.
fn read_record(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((_, bytes)) = floor_block(tree, key)? else { return Ok(None) };
    Ok(block_entries(&bytes)?.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_vec()))
}

/// Visits every record with a key in `range` (block keys), in key order,
/// each block cut at the next one's key, until `visit` returns `false`.
fn scan_records(
    tree: &sled::Tree,
    range: std::ops::Range<Vec<u8>>,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut blocks = tree.range(range).peekable();
    while let Some(block) = blocks.next() {
        let (_, bytes) = block?;
        let next = match blocks.peek() {
            Some(Ok((next, _))) => Some(next.clone()),
            // Without the next key, the block's end is not known.
            Some(Err(_)) => {
                return Err(blocks
                    .next()
                    .and_then(Result::err)
                    .map_or_else(|| StoreError::Corrupt("a view block read failed".into()), StoreError::from))
            }
            None => None,
        };
        for (key, value) in block_entries(&bytes)? {
            if next.as_ref().is_some_and(|next| key >= next.as_ref()) {
                break;
            }
            if !visit(key, value)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The sled writes that put `changes` (records by key) into their blocks,
/// in the order that keeps every prefix of them readable: a block's new
/// neighbours before the block itself. Blocks whose bytes stay the same
/// are not written. `last_keys` may tell, per kind of record, the last key
/// stored (see [`Overlay`]): changes past it go to new blocks unread.
fn write_records(
    tree: &sled::Tree,
    changes: BTreeMap<Vec<u8>, Vec<u8>>,
    last_keys: &LastKeys,
) -> Result<Vec<Encoded>, StoreError> {
    let mut out = Vec::new();
    let mut changes = changes.into_iter().peekable();
    while let Some((key, value)) = changes.next() {
        // The common case, records added after every stored one of their
        // kind, needs no block read: they all start new blocks below.
        let known_last = key.get(1).and_then(|kind| last_keys.get(kind));
        let past_all = known_last.is_some_and(|last| last.as_ref().is_none_or(|last| key > *last));
        let floor = if past_all { None } else { floor_block(tree, &key)? };
        let (block_key, old, next) = match floor {
            Some((block_key, bytes)) => {
                let next = next_block_key(tree, &block_key)?;
                (block_key.to_vec(), Some(bytes), next)
            }
            None if past_all => (key.clone(), None, None),
            None => (key.clone(), None, next_block_key(tree, &key)?),
        };
        let mut records: Block = match &old {
            Some(bytes) => block_entries(bytes)?
                .into_iter()
                .filter(|(k, _)| next.as_ref().is_none_or(|next| *k < next.as_ref()))
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
            None => Vec::new(),
        };
        let mut mine = vec![(key, value)];
        while let Some(change) = changes.next_if(|(k, _)| {
            k.starts_with(kind_of(&mine[0].0)) && next.as_ref().is_none_or(|next| k.as_slice() < next.as_ref())
        }) {
            mine.push(change);
        }
        // Records past the block's last one start blocks of their own: the
        // block is rewritten only when a change falls among its records, so
        // a commit adding one record writes one small entry, and one adding
        // many writes them a block at a time.
        let last_held = records.last().map(|(k, _)| k.clone());
        let (among, past): (Block, Block) =
            mine.into_iter().partition(|(k, _)| last_held.as_ref().is_some_and(|last| k <= last));
        for chunk in past.chunks(BLOCK_RECORDS_MAX) {
            out.push((chunk[0].0.clone(), encode_block(chunk)));
        }
        if among.is_empty() {
            continue;
        }
        for (key, value) in among {
            match records.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => records[i].1 = value,
                Err(i) => records.insert(i, (key, value)),
            }
        }
        // The pieces of a block cut in more than two go last one first: a
        // piece written takes over the keys up to the next block, so each
        // must find the pieces after it in place, or the old block's
        // copies of their records would be cut off by it and lost.
        let mut chunks = records.chunks(BLOCK_RECORDS_MAX);
        let first = chunks.next().unwrap_or_default();
        for chunk in chunks.rev() {
            out.push((chunk[0].0.clone(), encode_block(chunk)));
        }
        let first = encode_block(first);
        if old.as_deref() != Some(first.as_slice()) {
            out.push((block_key, first));
        }
    }
    Ok(out)
}

/// Per kind of record (a key's second byte), the last record key stored,
/// or `None` when none of that kind is.
type LastKeys = HashMap<u8, Option<Vec<u8>>>;

/// Every record of the views, by key.
fn all_records(tree: &sled::Tree) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
    let mut records = BTreeMap::new();
    scan_records(tree, vec![views::PREFIX]..vec![views::PREFIX + 1], |k, v| {
        records.insert(k.to_vec(), v.to_vec());
        Ok(true)
    })?;
    Ok(records)
}

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
    /// The last record key of each kind sled held when first asked.
    last_keys: LastKeys,
    error: Option<StoreError>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Overlay<'a> {
        Overlay { tree, changes: BTreeMap::new(), last_keys: HashMap::new(), error: None }
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
    pub(crate) fn finish(self) -> Result<Vec<Encoded>, StoreError> {
        match self.error {
            Some(e) => Err(e),
            None => write_records(self.tree, self.changes, &self.last_keys),
        }
    }
}

impl Records for Overlay<'_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
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
        read_record(self.store.tree(), key).unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            None
        })
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
        match read_record(self.tree(), &views::key(kind, id))? {
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
        let after_key = (!after.is_empty()).then(|| views::key(kind, after));
        let start = match &after_key {
            Some(key) => floor_block(self.tree(), key)?.map_or_else(|| key.clone(), |(k, _)| k.to_vec()),
            None => prefix.to_vec(),
        };
        let mut end = prefix.to_vec();
        end[1] += 1;
        scan_records(self.tree(), start..end, |key, value| {
            if after_key.as_ref().is_some_and(|after| key <= after.as_slice()) {
                return Ok(true);
            }
            let record = M::decode(value).map_err(|e| StoreError::Corrupt(format!("view record: {e}")))?;
            Ok(accept(record))
        })
    }

    /// Every view record in key order as `key<TAB>hex(value)` lines: equal
    /// on two nodes that hold the same events.
    pub fn dump_views(&self) -> Result<String, StoreError> {
        Ok(views::dump(&all_records(self.tree())?))
    }

    /// Rebuilds the views when they were written by another version of the
    /// folds (or never). Called on open, before any writer runs.
    pub(crate) fn ensure_views(&self) -> Result<Option<RebuildStats>, StoreError> {
        let stored = self.views_version()?;
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

    /// The version of the folds that wrote the stored views, if any.
    pub(crate) fn views_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.tree().get(META_VIEWS)?.and_then(|v| keys::be_u64(&v)))
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
        let mut batch = sled::Batch::default();
        for key in self.tree.scan_prefix([views::PREFIX]).keys() {
            batch.remove(key?);
        }
        self.tree.apply_batch(batch)?;
        Ok(())
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
    fn record(&mut self, kind: u8, key: Vec<u8>) -> &mut Record {
        let RebuildCache { tree, records, spilled, error } = self;
        records.entry(key).or_insert_with_key(|key| {
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
        let done = appender.append(vec![validate_append(&topology(), origin, request).unwrap()]).await.unwrap();
        pb::Event::decode(done[0].event.raw.as_ref()).unwrap().id
    }

    fn item() -> Kind {
        Kind::InfoReported(pb::InfoReported {
            title: "饮水安全".into(), body: "内容".into(), ..Default::default()
        })
    }

    /// A record key of one of two kinds, ids in a small space so that
    /// commits update records as well as add them.
    fn record_key(kind: bool, id: u16) -> Vec<u8> {
        views::key(if kind { kind::INFO } else { kind::GROUP }, &format!("r{id:04}"))
    }

    fn commits() -> impl proptest::strategy::Strategy<Value = Vec<Vec<(bool, u16, u8)>>> {
        use proptest::prelude::*;
        let change = (any::<bool>(), 0u16..300, any::<u8>());
        proptest::collection::vec(proptest::collection::vec(change, 1..60), 1..12)
    }

    /// Checks every way of reading records against `expected`.
    fn check_reads(tree: &sled::Tree, expected: &BTreeMap<Vec<u8>, Vec<u8>>) {
        assert_eq!(&all_records(tree).unwrap(), expected);
        for id in 0..300 {
            for kind in [false, true] {
                let key = record_key(kind, id);
                assert_eq!(read_record(tree, &key).unwrap().as_ref(), expected.get(&key), "{key:?}");
            }
        }
        for kind in [kind::INFO, kind::GROUP] {
            let prefix = views::kind_prefix(kind).to_vec();
            let mut end = prefix.clone();
            end[1] += 1;
            let mut seen = Vec::new();
            scan_records(tree, prefix.clone()..end, |k, _| {
                seen.push(k.to_vec());
                Ok(true)
            })
            .unwrap();
            let want: Vec<_> = expected.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn a_block_cut_in_three_loses_no_record_after_any_of_its_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
        let tree = db.open_tree("log").unwrap();
        let (a, z) = (record_key(true, 0), record_key(true, 999));
        let first: BTreeMap<_, _> = [(a.clone(), b"a".to_vec()), (z.clone(), b"z".to_vec())].into();
        for (k, v) in write_records(&tree, first.clone(), &LastKeys::new()).unwrap() {
            tree.insert(k, v).unwrap();
        }
        // Forty records between the two: the block becomes three.
        let between: BTreeMap<_, _> = (1..=40).map(|id| (record_key(true, id), vec![id as u8])).collect();
        let writes = write_records(&tree, between.clone(), &LastKeys::new()).unwrap();
        assert_eq!(writes.len(), 3);
        for (k, v) in writes {
            tree.insert(k, v).unwrap();
            assert_eq!(read_record(&tree, &z).unwrap(), Some(b"z".to_vec()));
            let held = all_records(&tree).unwrap();
            assert!(held.contains_key(&a) && held.contains_key(&z));
        }
        let mut expected = first;
        expected.extend(between);
        check_reads(&tree, &expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Records written into blocks read back exactly, by key and in
        /// order, and a commit cut short anywhere (as a crash can leave
        /// sled) loses no record and is mended by writing it again.
        #[test]
        fn blocks_hold_exactly_the_records_written_even_after_a_cut_commit(commits in commits(), cut in 0usize..64) {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new().path(dir.path()).temporary(true).open().unwrap();
            let tree = db.open_tree("log").unwrap();
            let mut expected = BTreeMap::new();
            for (n, commit) in commits.iter().enumerate() {
                let changes: BTreeMap<Vec<u8>, Vec<u8>> =
                    commit.iter().map(|(kind, id, v)| (record_key(*kind, *id), vec![*v; 1 + usize::from(*v) % 40])).collect();
                // Half the commits as the index thread writes them, told
                // the last key of each kind, half as a rebuild, untold.
                let mut hints = LastKeys::new();
                if n % 2 == 1 {
                    let held = all_records(&tree).unwrap();
                    for kind in [kind::INFO, kind::GROUP] {
                        let last = held.keys().rfind(|k| k.starts_with(&views::kind_prefix(kind)));
                        hints.insert(kind, last.cloned());
                    }
                }
                let writes = write_records(&tree, changes.clone(), &hints).unwrap();
                // Cut short after some of its writes, as a crash can leave
                // sled and as a reader can find it meanwhile.
                for (k, v) in writes.iter().take((cut + n) % (writes.len() + 1)) {
                    tree.insert(k.as_slice(), v.as_slice()).unwrap();
                }
                let held = all_records(&tree).unwrap();
                for (k, v) in &expected {
                    let now = held.get(k);
                    proptest::prop_assert!(now.is_some(), "{:?} lost by a cut commit", k);
                    proptest::prop_assert!(now == Some(v) || now == changes.get(k));
                }
                // The rest, or the replay folding the same changes again.
                if n % 2 == 0 {
                    let done = (cut + n) % (writes.len() + 1);
                    for (k, v) in writes.into_iter().skip(done) {
                        tree.insert(k, v).unwrap();
                    }
                } else {
                    for (k, v) in write_records(&tree, changes.clone(), &LastKeys::new()).unwrap() {
                        tree.insert(k, v).unwrap();
                    }
                }
                expected.extend(changes);
                check_reads(&tree, &expected);
            }
            let blocks = tree.scan_prefix([views::PREFIX]).count();
            proptest::prop_assert!(blocks * BLOCK_RECORDS_MAX >= expected.len());
        }
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
