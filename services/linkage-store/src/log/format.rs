//! The log file's format: records checksummed, in commits that a scan
//! hands on whole or not at all; reading, scanning and opening it. See
//! [`super`] for the layout.

use crate::error::StoreError;
use crate::event::StoredEvent;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Name of the log file in the store's directory.
pub const FILE_NAME: &str = "events.log";

/// The first bytes of a log file.
pub const MAGIC: &[u8; 8] = b"LNKLOG03";

/// The first bytes of a log file of the second format: records without the
/// appending principal. Its records read as they are.
pub const MAGIC_V2: &[u8; 8] = b"LNKLOG02";

/// The first bytes of a log file of the first format: records without
/// commit boundaries, which read as one commit each.
pub const MAGIC_V1: &[u8; 8] = b"LNKLOG01";

/// Top bit of a record's key length: more records of its commit follow.
const CONTINUES: u16 = 0x8000;

/// Next bit of a record's key length: the principal that appended the
/// event follows the key (a byte of length, then the name). Never set in
/// files of the earlier formats, whose keys are far shorter than 16 KiB.
const APPENDED_BY: u16 = 0x4000;

/// The bits of a record's key length that are the length.
const KEY_LEN: u16 = !(CONTINUES | APPENDED_BY);

/// Bytes before a record's body.
pub const RECORD_HEADER: usize = 8;

/// The longest body a record may have: the longest event, the longest key
/// and its digest, with room to spare. A length beyond it marks a torn or
/// foreign tail.
pub const RECORD_BODY_MAX: usize = linkage_core::limits::EVENT_BYTES_MAX + 4 * 1024;

/// Bytes a scan reads from the file at a time.
const SCAN_CHUNK: usize = 4 * 1024 * 1024;

/// Whether the file holds anything but zeros from `from` to its end: the
/// tail a scan stopped before is either preallocated zeros or a torn write.
pub(super) fn nonzero_after(file: &File, from: u64) -> Result<bool, StoreError> {
    let len = file.metadata()?.len();
    let mut buf = vec![0; SCAN_CHUNK];
    let mut at = from;
    while at < len {
        let n = (len - at).min(SCAN_CHUNK as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(true);
        }
        at += n as u64;
    }
    Ok(false)
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Local position.
    pub position: u64,
    /// Offset of the record's first byte in the file.
    pub offset: u64,
    /// Bytes the record takes, header included.
    pub len: u32,
    /// The idempotency key the event answered and that request's digest.
    pub key: Option<(String, [u8; 32])>,
    /// The principal whose request appended the event here; `None` for a
    /// replicated event and for one written before the log kept it.
    pub appended_by: Option<String>,
    /// The event's stored bytes.
    pub raw: Vec<u8>,
    /// More records of the same commit follow.
    pub continues: bool,
}

impl LogRecord {
    /// Offset just past the record.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// What one record holds besides its position.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordParts<'a> {
    /// The idempotency key and its request's digest.
    pub key: Option<(&'a str, &'a [u8; 32])>,
    /// The principal whose request appended the event, at most
    /// [`APPENDED_BY_BYTES_MAX`] bytes.
    pub appended_by: Option<&'a str>,
    /// The event's stored bytes.
    pub raw: &'a [u8],
}

/// The longest principal a record keeps, in bytes (its length is a byte).
pub const APPENDED_BY_BYTES_MAX: usize = u8::MAX as usize;

/// Appends one record to `out` and returns its length, header included;
/// `continues` when more records of the same commit follow it.
pub fn encode(out: &mut Vec<u8>, position: u64, parts: RecordParts<'_>, continues: bool) -> u32 {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    out.extend_from_slice(&position.to_le_bytes());
    let mut field = if continues { CONTINUES } else { 0 };
    if parts.appended_by.is_some() {
        field |= APPENDED_BY;
    }
    if let Some((key, _)) = parts.key {
        field |= u16::try_from(key.len())
            .ok()
            .filter(|len| len & !KEY_LEN == 0)
            .expect("idempotency keys are limited far below 16 KiB");
    }
    out.extend_from_slice(&field.to_le_bytes());
    if let Some((key, digest)) = parts.key {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(digest);
    }
    if let Some(name) = parts.appended_by {
        let len = u8::try_from(name.len()).expect("principals are limited far below 256 bytes");
        out.push(len);
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(parts.raw);
    let body = &out[start + RECORD_HEADER..];
    let body_len = u32::try_from(body.len()).expect("records are limited far below 4 GiB");
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    (out.len() - start) as u32
}

/// A record's body split into its fields.
struct Body<'a> {
    position: u64,
    /// Key and digest.
    key: Option<(&'a [u8], &'a [u8])>,
    appended_by: Option<&'a [u8]>,
    raw: &'a [u8],
    continues: bool,
}

/// A body split into its fields, or `None` when it is not one.
fn decode_body(body: &[u8]) -> Option<Body<'_>> {
    let position = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let field = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?);
    let continues = field & CONTINUES != 0;
    let key_len = usize::from(field & KEY_LEN);
    let mut at = 10;
    let key = if key_len == 0 {
        None
    } else {
        let key = body.get(at..at + key_len)?;
        let digest = body.get(at + key_len..at + key_len + 32)?;
        at += key_len + 32;
        Some((key, digest))
    };
    let appended_by = if field & APPENDED_BY == 0 {
        None
    } else {
        let len = usize::from(*body.get(at)?);
        let name = body.get(at + 1..at + 1 + len)?;
        at += 1 + len;
        Some(name)
    };
    Some(Body { position, key, appended_by, raw: body.get(at..)?, continues })
}

/// The principal's bytes as a name. Only checked names are written, and
/// the record's checksum holds: a lossy reading never cuts a log short.
fn principal_of(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Checks one record's header and checksum and returns its body.
fn check(record: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(record.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(record.get(4..8)?.try_into().ok()?);
    // The shortest body: a position and a key length. Preallocated zeros
    // (length 0, and CRC-32 of nothing is 0) stop here.
    if !(10..=RECORD_BODY_MAX).contains(&len) {
        return None;
    }
    let body = record.get(RECORD_HEADER..RECORD_HEADER + len)?;
    (crc32fast::hash(body) == crc).then_some(body)
}

/// The event of the record at `offset` of `len` bytes, which must hold
/// `position`: reads check what an index points at.
pub(super) fn read(file: &File, offset: u64, len: u32, position: u64) -> Result<StoredEvent, StoreError> {
    let mut record = vec![0; len as usize];
    file.read_exact_at(&mut record, offset)?;
    event_of(&record, position)
}

/// The event inside one whole record read from the file.
pub(super) fn event_of(record: &[u8], position: u64) -> Result<StoredEvent, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("log record of position {position}"));
    let body = check(record).ok_or_else(corrupt)?;
    if RECORD_HEADER + body.len() != record.len() {
        return Err(corrupt());
    }
    match decode_body(body) {
        Some(b) if b.position == position => {
            Ok(StoredEvent { position, raw: b.raw.into(), appended_by: principal_of(b.appended_by) })
        }
        _ => Err(corrupt()),
    }
}

/// Opens (or creates) the log in `dir`; a new file gets its magic and is
/// made durable with its directory entry. A file of an earlier format gets
/// the current magic, durably, before anything else is written to it: an
/// older version then refuses it instead of misreading a record that
/// keeps its principal.
pub(super) fn open(dir: &Path) -> Result<(File, bool), StoreError> {
    let path = dir.join(FILE_NAME);
    let existed = path.exists();
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    if file.metadata()?.len() < MAGIC.len() as u64 {
        file.set_len(0)?;
        file.write_all_at(MAGIC, 0)?;
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
    } else {
        let mut magic = [0; 8];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut magic)?;
        if &magic == MAGIC_V1 || &magic == MAGIC_V2 {
            file.write_all_at(MAGIC, 0)?;
            file.sync_data()?;
            tracing::info!(path = %path.display(), "event log marked with the current format (appending principals kept)");
        } else if &magic != MAGIC {
            return Err(StoreError::Corrupt(format!(
                "{} is not a linkage event log, or one of a newer version",
                path.display()
            )));
        }
    }
    Ok((file, existed))
}

/// Reads records from `offset` on, in order, as long as each is whole,
/// checks out and holds the next position after `position_before`. Stops
/// at the first that does not (a torn tail from a crash), and before the
/// commit it belongs to: `visit` gets a commit's records once its last is
/// read, and may stop the scan with an error. `offset` must begin a commit
/// or lie inside one (its records from there on are then taken as one).
pub(super) fn scan(
    file: &File,
    offset: u64,
    position_before: u64,
    mut visit: impl FnMut(LogRecord) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let file_len = file.metadata()?.len();
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_offset = offset;
    let mut next_read = offset;
    let mut at = 0usize;
    let mut end = ScanEnd { offset, position: position_before };
    // The records read of a commit whose last is still to come.
    let mut open: Vec<LogRecord> = Vec::new();
    loop {
        // Keep at least one whole record (or the file's rest) in the buffer.
        let need = match buf.get(at..at + 4) {
            Some(len) => {
                RECORD_HEADER + (u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize).min(RECORD_BODY_MAX + 1)
            }
            None => RECORD_HEADER,
        };
        if buf.len() - at < need && next_read < file_len {
            buf.drain(..at);
            buf_offset += at as u64;
            at = 0;
            let want = (SCAN_CHUNK.max(need) as u64).min(file_len - next_read) as usize;
            let old = buf.len();
            buf.resize(old + want, 0);
            file.read_exact_at(&mut buf[old..], next_read)?;
            next_read += want as u64;
            continue;
        }
        let Some(body) = check(&buf[at..]) else { break };
        let Some(Body { position, key, appended_by, raw, continues }) = decode_body(body) else { break };
        let next = open.last().map_or(end.position, |r| r.position) + 1;
        if position != next {
            break;
        }
        let key = match key {
            None => None,
            Some((key, digest)) => {
                let Ok(key) = std::str::from_utf8(key) else { break };
                Some((key.to_owned(), digest.try_into().expect("32 bytes")))
            }
        };
        let appended_by = principal_of(appended_by);
        let len = (RECORD_HEADER + body.len()) as u32;
        let offset = buf_offset + at as u64;
        let record = LogRecord { position, offset, len, key, appended_by, raw: raw.to_vec(), continues };
        at += len as usize;
        if continues {
            open.push(record);
            continue;
        }
        end = ScanEnd { offset: record.end(), position };
        for record in open.drain(..).chain(std::iter::once(record)) {
            visit(record)?;
        }
    }
    Ok(end)
}

/// Where a scan stopped: just past the last good record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// Offset just past the last good record.
    pub offset: u64,
    /// Its position (the position before the scan when it read none).
    pub position: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record to write: its key and digest, its principal, and its event
    /// bytes.
    type Written = (Option<(String, [u8; 32])>, Option<String>, Vec<u8>);

    /// Writes `commits` after the magic, positions from 1 on.
    fn write(dir: &Path, commits: &[Vec<Written>]) -> File {
        let (file, _) = open(dir).unwrap();
        let mut buf = Vec::new();
        let mut position = 0;
        for commit in commits {
            for (i, (key, appended_by, raw)) in commit.iter().enumerate() {
                position += 1;
                let continues = i + 1 < commit.len();
                let key = key.as_ref().map(|(k, d)| (k.as_str(), d));
                encode(&mut buf, position, RecordParts { key, appended_by: appended_by.as_deref(), raw }, continues);
            }
        }
        file.write_all_at(&buf, MAGIC.len() as u64).unwrap();
        file
    }

    fn commits() -> impl Strategy<Value = Vec<Vec<Written>>> {
        let key = proptest::option::of(("[a-z0-9-]{1,20}", any::<[u8; 32]>()));
        let appended_by = proptest::option::of("[a-z0-9:@._-]{1,64}");
        let record = (key, appended_by, proptest::collection::vec(any::<u8>(), 0..300));
        proptest::collection::vec(proptest::collection::vec(record, 1..6), 0..15)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever was written reads back; a tail cut anywhere loses only
        /// the commits it cut into, whole, and garbage after the last whole
        /// record is never taken for one.
        #[test]
        fn records_read_back_and_a_torn_tail_is_cut(commits in commits(), cut in 0.0f64..1.0, garbage in proptest::collection::vec(any::<u8>(), 0..64)) {
            let dir = tempfile::tempdir().unwrap();
            let file = write(dir.path(), &commits);
            let records: Vec<Written> = commits.iter().flatten().cloned().collect();
            let mut seen = Vec::new();
            let end = scan(&file, MAGIC.len() as u64, 0, |r| { seen.push(r); Ok(()) }).unwrap();
            prop_assert_eq!(end.position, records.len() as u64);
            prop_assert_eq!(end.offset, file.metadata().unwrap().len());
            for (record, (key, appended_by, raw)) in seen.iter().zip(&records) {
                prop_assert_eq!(&record.key, key);
                prop_assert_eq!(&record.appended_by, appended_by);
                prop_assert_eq!(&record.raw, raw);
                let event = read(&file, record.offset, record.len, record.position).unwrap();
                prop_assert_eq!(event.raw.as_ref(), raw.as_slice());
                prop_assert_eq!(&event.appended_by, appended_by);
            }
            // Tear the file somewhere and append garbage. Garbage that
            // begins with the very bytes cut off would make the torn record
            // whole again: its first byte differs from the one it replaces.
            let cut_at = MAGIC.len() as u64 + ((end.offset - MAGIC.len() as u64) as f64 * cut) as u64;
            let mut garbage = garbage;
            if let (Some(first), true) = (garbage.first_mut(), cut_at < end.offset) {
                let mut replaced = [0u8];
                file.read_exact_at(&mut replaced, cut_at).unwrap();
                if *first == replaced[0] {
                    *first ^= 0xff;
                }
            }
            file.set_len(cut_at).unwrap();
            file.write_all_at(&garbage, cut_at).unwrap();
            // The commits whose last record lies before the cut.
            let whole = seen.iter().filter(|r| !r.continues && r.end() <= cut_at).map(|r| r.position).max().unwrap_or(0);
            let mut visited = 0;
            let torn = scan(&file, MAGIC.len() as u64, 0, |_| { visited += 1; Ok(()) }).unwrap();
            prop_assert_eq!(torn.position, whole);
            prop_assert_eq!(visited, whole, "no record of a commit cut into is handed on");
        }
    }

    #[test]
    fn a_record_is_read_only_at_its_own_position() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), &[vec![(None, None, b"one".to_vec())]]);
        let len = file.metadata().unwrap().len() - MAGIC.len() as u64;
        assert!(read(&file, MAGIC.len() as u64, len as u32, 1).is_ok());
        assert!(matches!(read(&file, MAGIC.len() as u64, len as u32, 2), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_log_of_the_first_format_is_read_and_marked_with_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        for position in 1..=3 {
            encode(&mut bytes, position, RecordParts { raw: b"v1", ..RecordParts::default() }, false);
        }
        std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
        let (file, existed) = open(dir.path()).unwrap();
        assert!(existed);
        let end = scan(&file, MAGIC.len() as u64, 0, |_| Ok(())).unwrap();
        assert_eq!(end.position, 3, "each record of the first format is a commit of its own");
        assert_eq!(&std::fs::read(dir.path().join(FILE_NAME)).unwrap()[..8], MAGIC);
    }

    /// A log of the second format (no principals) reads as it is, then
    /// takes the current magic and records that keep their principal.
    #[test]
    fn a_log_of_the_second_format_reads_and_takes_principals_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = MAGIC_V2.to_vec();
        let digest = [7; 32];
        encode(&mut bytes, 1, RecordParts { key: Some(("k-1", &digest)), raw: b"v2", ..RecordParts::default() }, false);
        std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
        let (file, _) = open(dir.path()).unwrap();
        assert_eq!(&std::fs::read(dir.path().join(FILE_NAME)).unwrap()[..8], MAGIC);
        let mut more = Vec::new();
        let parts = RecordParts { appended_by: Some("platform-620702"), raw: b"v3", ..RecordParts::default() };
        encode(&mut more, 2, parts, false);
        file.write_all_at(&more, bytes.len() as u64).unwrap();
        let mut seen = Vec::new();
        scan(&file, MAGIC.len() as u64, 0, |r| {
            seen.push((r.key.map(|(k, _)| k), r.appended_by, r.raw));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (Some("k-1".to_owned()), None, b"v2".to_vec()),
                (None, Some("platform-620702".to_owned()), b"v3".to_vec())
            ]
        );
    }

    #[test]
    fn another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"not a log at all").unwrap();
        assert!(matches!(open(dir.path()), Err(StoreError::Corrupt(_))));
    }
}
