//! View records in *blocks* of up to [`BLOCK_RECORDS_MAX`] records of one
//! kind, in key order: one sled entry per block, keyed by its first
//! record's key ([`crate::keys::view`]). sled 0.34 splits a leaf past 16
//! entries and rewrites its parent each time, so one entry per record made
//! those splits most of what a store spent on its views. A record lies in
//! the block with the greatest key not above its own. A block owns the
//! keys from its own up to the next block's: a block is split by writing
//! the new blocks first and the shortened one last, so that a crash between
//! the two leaves copies in the old block past the next block's key, which
//! readers and writers ignore.

use crate::error::StoreError;
use crate::keys;
use std::collections::{BTreeMap, HashMap};

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
pub(super) fn block_entries(bytes: &[u8]) -> Result<Vec<Entry<'_>>, StoreError> {
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
pub(super) fn floor_block(tree: &sled::Tree, key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
    let mut past = key.to_vec();
    past.push(0);
    Ok(tree.get_lt(past)?.filter(|(k, _)| k.starts_with(kind_of(key))))
}

/// The key of the first block of `key`'s kind after `key`.
fn next_block_key(tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
    Ok(tree.get_gt(key)?.map(|(k, _)| k).filter(|k| k.starts_with(kind_of(key))))
}

/// One record's bytes, found in its block.
pub(super) fn read_record(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((_, bytes)) = floor_block(tree, key)? else { return Ok(None) };
    Ok(block_entries(&bytes)?.into_iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_vec()))
}

/// Visits every record with a key in `range` (block keys), in key order,
/// each block cut at the next one's key, until `visit` returns `false`.
pub(super) fn scan_records(
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
/// stored (see `super::overlay::Overlay`): changes past it go to new
/// blocks unread.
pub(super) fn write_records(
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
pub(super) type LastKeys = HashMap<u8, Option<Vec<u8>>>;

/// Every record of the views, by key.
pub(super) fn all_records(tree: &sled::Tree) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
    let mut records = BTreeMap::new();
    scan_records(tree, vec![keys::VIEW]..vec![keys::VIEW + 1], |k, v| {
        records.insert(k.to_vec(), v.to_vec());
        Ok(true)
    })?;
    Ok(records)
}

/// A record's key and bytes.
pub(super) type Encoded = (Vec<u8>, Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;
    use linkage_core::views::RecordKind;

    /// A record key of one of two kinds, ids in a small space so that
    /// commits update records as well as add them.
    fn record_key(kind: bool, id: u16) -> Vec<u8> {
        keys::view(if kind { RecordKind::Info } else { RecordKind::Group }, &format!("r{id:04}"))
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
        for kind in [RecordKind::Info, RecordKind::Group] {
            let prefix = keys::view_prefix(kind).to_vec();
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
                    for kind in [RecordKind::Info, RecordKind::Group] {
                        let prefix = keys::view_prefix(kind);
                        let last = held.keys().rfind(|k| k.starts_with(&prefix));
                        hints.insert(prefix[1], last.cloned());
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
            let blocks = tree.scan_prefix([keys::VIEW]).count();
            proptest::prop_assert!(blocks * BLOCK_RECORDS_MAX >= expected.len());
        }
    }
}
