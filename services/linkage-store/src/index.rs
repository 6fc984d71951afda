//! [`Indexes`]: what sled derives from the log besides the views — where
//! each record lies, the seq index, the origin-position and id indexes,
//! heads, idempotency records, fork evidence and the marks — read and
//! written in the layout of [`crate::keys`].

use crate::error::StoreError;
use crate::event::{AlarmRecord, ForkRecord, StreamHeadInfo, WriteSet};
use crate::keys;
use crate::log::RecordAt;
use linkage_core::ledger::{Head, KeyRecord};
use linkage_core::{Channel, NodeCode};
use std::collections::BTreeMap;

/// Bytes of one record's place in a log-index run: offset (u64 BE) and
/// length (u32 BE).
const LOCATION_BYTES: usize = 12;

/// A read finds its records with one walk over the log index when their
/// positions span less than this many times their number
/// ([`Indexes::locate_all`]; a range of positions always does).
const LOCATE_WALK_SPREAD_MAX: u64 = 8;

/// A sled write: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A record's place from a log-index run.
fn location(bytes: &[u8]) -> (u64, u32) {
    let offset = u64::from_be_bytes(bytes[..8].try_into().expect("12 bytes"));
    let len = u32::from_be_bytes(bytes[8..12].try_into().expect("12 bytes"));
    (offset, len)
}

/// The last log-index run sled holds: one per commit, a commit's first
/// insert into sled.
pub struct LastRun {
    /// Its last record's position.
    pub last: u64,
    /// Where its last record lies, if the run is not empty.
    pub last_record: Option<RecordAt>,
}

/// The indexes in one sled tree. Cheap to clone.
#[derive(Clone)]
pub struct Indexes {
    tree: sled::Tree,
}

impl Indexes {
    /// The indexes kept in `tree`.
    pub fn new(tree: sled::Tree) -> Indexes {
        Indexes { tree }
    }

    /// The tree itself, for the views that share it.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Whether the store holds events in sled itself (a format before the
    /// log file): indexes without an applied mark.
    pub fn holds_events_without_a_log(&self) -> Result<bool, StoreError> {
        Ok(self.tree.scan_prefix([keys::EVENT]).next().is_some() && self.tree.get(keys::META_APPLIED)?.is_none())
    }

    /// Where the record of `position` lies in the log, durable or not.
    pub fn locate(&self, position: u64) -> Result<Option<(u64, u32)>, StoreError> {
        let floor = [keys::EVENT];
        let Some(entry) = self.tree.range(&floor[..]..=&keys::event(position)[..]).next_back() else {
            return Ok(None);
        };
        let (key, run) = entry?;
        let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
        let index = (position - first) as usize;
        Ok(run.get(index * LOCATION_BYTES..(index + 1) * LOCATION_BYTES).map(location))
    }

    /// Where the records of `positions` lie, up to the first one not found.
    /// When they ascend and lie close together (a range of positions, or a
    /// stream written or pulled in bulk) one walk over the log index finds
    /// them all, else each is looked up alone.
    pub fn locate_all(&self, positions: &[u64]) -> Result<Vec<(u64, u64, u32)>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        let (Some(&low), Some(&high)) = (positions.first(), positions.last()) else { return Ok(out) };
        let ascending = positions.windows(2).all(|w| w[0] < w[1]);
        if ascending && high - low < LOCATE_WALK_SPREAD_MAX * positions.len() as u64 {
            let floor = [keys::EVENT];
            let start = match self.tree.range(&floor[..]..=&keys::event(low)[..]).next_back() {
                Some(entry) => entry?.0.to_vec(),
                None => keys::event(low).to_vec(),
            };
            let mut next = positions.iter().peekable();
            'runs: for entry in self.tree.range(start..=keys::event(high).to_vec()) {
                let (key, run) = entry?;
                let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
                for (i, at) in run.chunks_exact(LOCATION_BYTES).enumerate() {
                    let Some(&&wanted) = next.peek() else { break 'runs };
                    // After a crash two runs may overlap (see `crate::derive`).
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

    /// Positions of a stream from seq `from` on, in seq order, as stored by
    /// the sparse index: one entry per stream per commit, whose key is the
    /// run's first seq and whose value lists the run's positions.
    pub fn stream_positions(
        &self,
        origin: NodeCode,
        channel: &str,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, u64), StoreError>> + '_ {
        let from = from.max(1);
        let floor = keys::stream(origin, channel, 0);
        // The run that holds `from` starts at or before it.
        let start = match self.tree.range(floor.clone()..=keys::stream(origin, channel, from)).next_back() {
            Some(Ok((key, _))) => key.to_vec(),
            _ => keys::stream(origin, channel, from),
        };
        let end = keys::stream(origin, channel, u64::MAX);
        // After a crash two runs may overlap (see `crate::derive`); they
        // agree, so each seq is taken from the first run that has it.
        let mut next = from;
        self.tree.range(start..=end).flat_map(move |entry| {
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

    /// The remote event with this id, found by the origin and origin
    /// position the id names: in each stream of that origin held here, the
    /// origin-position run that would hold it gives a position, and `check`
    /// says whether the event there is the one (the first it accepts wins).
    pub fn find_by_origin_position<T>(
        &self,
        id: &[u8; 16],
        mut check: impl FnMut(u64) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some((origin, at)) = linkage_core::ids::embedded_origin(id) else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("origin-position index".into());
        for key in self.tree.scan_prefix(keys::stream_prefix(keys::HEAD, origin, "")).keys() {
            let (_, channel) = keys::parse_head(&key?).ok_or_else(corrupt)?;
            let floor = keys::origin_run(origin, &channel, 0);
            let Some(run) = self.tree.range(floor..=keys::origin_run(origin, &channel, at)).next_back() else {
                continue;
            };
            let (_, pairs) = run?;
            let pairs: Vec<(u64, u64)> = pairs
                .chunks_exact(16)
                .map(|pair| Some((keys::be_u64(pair)?, keys::be_u64(&pair[8..])?)))
                .collect::<Option<_>>()
                .ok_or_else(corrupt)?;
            if let Ok(found) = pairs.binary_search_by_key(&at, |(origin_position, _)| *origin_position) {
                if let Some(found) = check(pairs[found].1)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// The position the id index holds for `id`: ids that name no origin
    /// position, and remote events a store written before the
    /// origin-position index holds.
    pub fn id_position(&self, id: &[u8; 16]) -> Result<Option<u64>, StoreError> {
        match self.tree.get(keys::id(id))? {
            None => Ok(None),
            Some(pos) => Ok(Some(keys::be_u64(&pos).ok_or_else(|| StoreError::Corrupt("id index".into()))?)),
        }
    }

    /// Heads of every stream held here, in key order.
    pub fn heads(&self) -> Result<Vec<StreamHeadInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix([keys::HEAD]) {
            let (key, value) = entry?;
            let (origin, channel) = keys::parse_head(&key).ok_or_else(|| StoreError::Corrupt("head key".into()))?;
            let seq = keys::be_u64(&value).ok_or_else(|| StoreError::Corrupt("head value".into()))?;
            out.push(StreamHeadInfo { origin, channel, seq });
        }
        Ok(out)
    }

    /// Heads (seq and hash) of every stream held, for the writer's cache.
    pub fn all_heads(&self) -> Result<BTreeMap<(NodeCode, Channel), Head>, StoreError> {
        let mut out = BTreeMap::new();
        for entry in self.tree.scan_prefix([keys::HEAD]) {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt("head entry".into());
            let (origin, channel) = keys::parse_head(&key).ok_or_else(corrupt)?;
            let channel: Channel = channel.parse().map_err(|_| corrupt())?;
            out.insert((origin, channel), head_of(&value).ok_or_else(corrupt)?);
        }
        Ok(out)
    }

    /// The head (seq and hash) of one stream, if any of it is held.
    pub fn head(&self, origin: NodeCode, channel: &str) -> Result<Option<Head>, StoreError> {
        let Some(value) = self.tree.get(keys::head(origin, channel))? else { return Ok(None) };
        Ok(Some(head_of(&value).ok_or_else(|| StoreError::Corrupt("head entry".into()))?))
    }

    /// The highest hlc the node issued or observed, 0 for a new store.
    pub fn hlc_last(&self) -> Result<u64, StoreError> {
        Ok(self.tree.get(keys::META_HLC)?.and_then(|v| keys::be_u64(&v)).unwrap_or(0))
    }

    /// The record of an idempotency key, if it was used.
    pub fn key_record(&self, key: &str) -> Result<Option<KeyRecord>, StoreError> {
        let Some(value) = self.tree.get(keys::idempotency(key))? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("idempotency record".into());
        let digest = value.get(..32).and_then(|d| d.try_into().ok()).ok_or_else(corrupt)?;
        let position = value.get(32..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        Ok(Some(KeyRecord { digest, position }))
    }

    /// Every fork recorded, oldest key first.
    pub fn forks(&self) -> Result<Vec<ForkRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix([keys::FORK]) {
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

    /// Calls `each` with every alarm held, in (origin, rule, event id)
    /// order: a liar can make many, so they are not collected here.
    pub fn for_each_alarm(&self, mut each: impl FnMut(AlarmRecord)) -> Result<(), StoreError> {
        for entry in self.tree.scan_prefix([keys::ALARM]) {
            let key = entry?.0;
            let (origin, rule, event_id, channel, seq) =
                keys::parse_alarm(&key).ok_or_else(|| StoreError::Corrupt("alarm record".into()))?;
            each(AlarmRecord { origin, rule, event_id, channel, seq });
        }
        Ok(())
    }

    /// The record a mark ([`keys::META_APPLIED`], [`keys::META_SYNCED`])
    /// points at.
    pub fn mark(&self, key: &[u8]) -> Result<Option<RecordAt>, StoreError> {
        let Some(value) = self.tree.get(key)? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt(format!("mark {}", String::from_utf8_lossy(key)));
        let position = keys::be_u64(&value).ok_or_else(corrupt)?;
        let offset = value.get(8..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        let end = value.get(16..).and_then(keys::be_u64).ok_or_else(corrupt)?;
        if end <= offset || end - offset > u64::from(u32::MAX) {
            return Err(corrupt());
        }
        Ok(Some(RecordAt { position, offset, end }))
    }

    /// Records in sled ([`keys::META_SYNCED`]) that an fdatasync of the log
    /// covers everything up to `position`: the next open checks nothing
    /// before it again.
    pub fn mark_synced(&self, position: u64) -> Result<(), StoreError> {
        match self.locate(position)? {
            Some((offset, len)) if position > 0 => {
                let at = RecordAt { position, offset, end: offset + u64::from(len) };
                self.tree.insert(keys::META_SYNCED, mark_bytes(&at))?;
            }
            _ => drop(self.tree.remove(keys::META_SYNCED)?),
        }
        Ok(())
    }

    /// Whether `key` is present (a flag such as [`keys::META_REDERIVE`]).
    pub fn has(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.tree.contains_key(key)?)
    }

    /// Sets a flag such as [`keys::META_REDERIVE`].
    pub fn set_flag(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(key, &[][..])?;
        Ok(())
    }

    /// Removes one key.
    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// The last log-index run, if any.
    pub fn last_run(&self) -> Result<Option<LastRun>, StoreError> {
        let Some(entry) = self.tree.scan_prefix([keys::EVENT]).next_back() else { return Ok(None) };
        let (key, run) = entry?;
        let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
        let count = run.len() / LOCATION_BYTES;
        let last = (first + count as u64).saturating_sub(1);
        let last_record = (count > 0).then(|| {
            let (offset, len) = location(&run[(count - 1) * LOCATION_BYTES..]);
            RecordAt { position: last, offset, end: offset + u64::from(len) }
        });
        Ok(Some(LastRun { last, last_record }))
    }

    /// Where the `n`-th last log-index run up to `position` starts: its
    /// first record's position and offset, if there are that many.
    pub fn nth_last_run_start(&self, position: u64, n: usize) -> Result<Option<(u64, u64)>, StoreError> {
        let runs = self.tree.range(keys::event(0).to_vec()..=keys::event(position).to_vec());
        let Some(entry) = runs.rev().nth(n - 1) else { return Ok(None) };
        let (key, run) = entry?;
        let first = keys::be_u64(&key[1..]).ok_or_else(|| StoreError::Corrupt("log index key".into()))?;
        if run.len() < LOCATION_BYTES || first == 0 {
            return Err(StoreError::Corrupt(format!("log index run of position {first}")));
        }
        Ok(Some((first, location(&run).0)))
    }

    /// Removes the log-index, seq-index and origin-position runs of commits
    /// after `position` that sled kept although its mark does not cover
    /// them: the replay writes them again, cut differently, and an old
    /// shorter run keyed after a new longer one would hide part of it from
    /// lookups.
    pub fn forget_runs_after(&self, position: u64) -> Result<(), StoreError> {
        let tree = &self.tree;
        let past: Vec<_> =
            tree.range(keys::event(position + 1).to_vec()..vec![keys::EVENT + 1]).keys().collect::<Result<_, _>>()?;
        // A stream's runs after the mark are its last ones, and a commit
        // writes a stream's head before its run (`write_base`), so every
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

    /// Removes every key that starts with one of `prefixes`.
    pub fn clear_prefixes(&self, prefixes: &[u8]) -> Result<(), StoreError> {
        for prefix in prefixes {
            let mut batch = sled::Batch::default();
            for key in self.tree.scan_prefix([*prefix]).keys() {
                batch.remove(key?);
            }
            self.tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Drops everything sled derives from the log (fork evidence stays).
    /// The synced mark goes too: the log it spoke of is being replayed,
    /// maybe to a shorter end.
    pub fn clear_derived(&self) -> Result<(), StoreError> {
        self.clear_prefixes(&keys::DERIVED)?;
        self.tree.remove(keys::META_APPLIED)?;
        self.tree.remove(keys::META_SYNCED)?;
        Ok(())
    }

    /// The writer's part of a commit's sled writes for records at
    /// `locations`: where each lies, seqs, heads, keys, forks, the hlc.
    /// Returns the applied mark, for the index thread to write last.
    pub fn write_base(&self, set: &WriteSet, locations: &[(u64, u32)]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut batch: Vec<Entry> = Vec::with_capacity(8);
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
            applied_mark =
                Some(mark_bytes(&RecordAt { position: last.position, offset, end: offset + u64::from(len) }));
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
            let other_hash = linkage_core::wire::hash(&fork.other);
            batch.push((keys::fork(fork.origin, &fork.channel, fork.seq, &other_hash), value));
        }
        batch.push((keys::META_HLC.to_vec(), set.hlc_last.to_be_bytes().to_vec()));
        self.insert_all(batch)?;
        Ok(applied_mark)
    }

    /// The id-index entries of a commit's remote events. An id that names
    /// its own position needs no entry: a node finds its own events (and
    /// any that landed at the same position) by the id alone. A remote
    /// event's id names its origin and the origin's position: one entry
    /// per stream per commit maps those to positions here. See
    /// `linkage_core::ids`.
    pub fn remote_id_entries(set: &WriteSet) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
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
                        entries.push((keys::id(&event.id).to_vec(), position.to_be_bytes().to_vec()));
                    }
                }
                _ => entries.push((keys::id(&event.id).to_vec(), position.to_be_bytes().to_vec())),
            }
        }
        for ((origin, channel), (first, pairs)) in runs {
            entries.push((keys::origin_run(origin, channel, first), pairs));
        }
        entries
    }

    /// Plain inserts, in order, not a `sled::Batch`: sled 0.34 writes out
    /// and `sync_file_range`s its IO buffer twice for every batch (to pin
    /// its recovery point), a disk wait per commit that the log's
    /// fdatasync makes redundant. sled recovers a prefix of its inserts in
    /// the order they happened.
    pub fn insert_all(&self, entries: Vec<Entry>) -> Result<(), StoreError> {
        for (key, value) in entries {
            self.tree.insert(key, value)?;
        }
        Ok(())
    }
}

/// A head entry's value: seq and hash.
fn head_of(value: &[u8]) -> Option<Head> {
    let seq = keys::be_u64(value)?;
    let hash = value.get(8..40).and_then(|h| h.try_into().ok())?;
    Some(Head { seq, hash })
}

/// A mark's value: position, offset and end.
fn mark_bytes(at: &RecordAt) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    for n in [at.position, at.offset, at.end] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out
}
