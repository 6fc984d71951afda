//! The event log file: every event's stored bytes in position order, each
//! record checksummed, appended by the writer and fdatasynced before any
//! acknowledgement. It is the only state an acknowledgement depends on:
//! sled's indexes and views are derived from it, and whatever of them a
//! crash took back is replayed from it when the store opens
//! (`Store::open`).
//!
//! File layout: [`MAGIC`], then records. A record is
//!
//! | bytes | field |
//! |---|---|
//! | 4 | body length (u32 LE) |
//! | 4 | CRC-32 of the body (u32 LE) |
//! | 8 | position (u64 LE) |
//! | 2 | idempotency key length in bytes (u16 LE), 0 for none; its top bit ([`CONTINUES`]) set when more records of the same commit follow, the next ([`APPENDED_BY`]) when a principal follows the key |
//! | key length | the idempotency key |
//! | 32, only with a key | digest of the request the key first answered |
//! | 1 + n, only with a principal | its length n, then the principal whose request appended the event here |
//! | rest | the event's stored bytes, exactly as the origin signed them |
//!
//! The key and digest ride along so that a replay restores the idempotency
//! records too: a retry after a crash still finds its first answer. The
//! principal is this node's audit of who appended the event (a caller's
//! certificate name, or `plaintext-loopback`): outside the signed bytes,
//! never replicated, kept as long as the log is.
//!
//! A commit's records are all or none: a scan hands on a commit's records
//! only once it has read the last one (top bit of the key length clear),
//! and stops before a commit it cannot read whole. A power cut during a
//! commit's fdatasync may keep any of its blocks; an `AppendBatch` never
//! acknowledged then comes back whole or not at all. Files of the earlier
//! formats ([`MAGIC_V1`]: every record a commit of its own, the top bit
//! never set; [`MAGIC_V2`]: no principals) are read as they are and marked
//! with [`MAGIC`] when opened, so that an older version refuses the file
//! instead of misreading it.
//!
//! The file is written with zeros [`PREALLOCATE_BYTES`] ahead of the last
//! record ([`preallocate`]), so that a commit overwrites blocks the file
//! already owns: its `fdatasync` then writes data only, without a journal
//! commit for the new length and blocks, and without waiting for whatever
//! else (sled's files) that journal commit would carry. A zero header is
//! never a record (its body is too short), so a scan stops there, and
//! opening cuts the zeros off again.
//!
//! [`Log`] owns the file: its end, its preallocation and its fdatasync.
//! [`format`] reads and writes the records.

mod format;

pub use format::{
    encode, LogRecord, RecordParts, ScanEnd, APPENDED_BY_BYTES_MAX, FILE_NAME, MAGIC, MAGIC_V1, MAGIC_V2,
    RECORD_BODY_MAX, RECORD_HEADER,
};

use crate::error::StoreError;
use crate::event::StoredEvent;
use format::{event_of, nonzero_after, open, read, scan};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
#[cfg(test)]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes one read of consecutive records takes at a time.
const READ_SPAN_MAX: usize = 8 * 1024 * 1024;

/// The event log of one store. Reads may come from any thread; only the
/// writer appends, and only the sync thread (or a writer with nothing in
/// flight) syncs.
pub struct Log {
    file: File,
    /// Offset just past the last record written, durable or not yet.
    end: AtomicU64,
    /// Offset up to which the file is written (records, then zeros): see
    /// [`PREALLOCATE_BYTES`]. The writer's alone.
    allocated: AtomicU64,
    /// Tests set this to make the next sync fail like a full or dying disk.
    #[cfg(test)]
    pub(crate) fail_next_sync: AtomicBool,
    /// Tests set this to hold every sync until they clear it, like a slow disk.
    #[cfg(test)]
    pub(crate) hold_syncs: AtomicBool,
}

/// Where one record lies: its position, its first byte and the byte just
/// past it. sled's marks (`Mapplied`, `Msynced`) are such places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordAt {
    /// The record's position.
    pub position: u64,
    /// Offset of its first byte.
    pub offset: u64,
    /// Offset just past it.
    pub end: u64,
}

impl Log {
    /// Opens (or creates) the log in `dir`; says whether it existed. Its end
    /// is not known until [`Log::set_end`]: recovery scans for it.
    pub fn open(dir: &Path) -> Result<(Log, bool), StoreError> {
        let (file, existed) = open(dir)?;
        let start = MAGIC.len() as u64;
        let log = Log {
            file,
            end: AtomicU64::new(start),
            allocated: AtomicU64::new(start),
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
            #[cfg(test)]
            hold_syncs: AtomicBool::new(false),
        };
        Ok((log, existed))
    }

    /// Where a scan of the whole log starts.
    pub fn start() -> ScanEnd {
        ScanEnd { offset: MAGIC.len() as u64, position: 0 }
    }

    /// Offset just past the last record written, durable or not.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// The file's length, preallocated zeros included.
    pub fn file_len(&self) -> Result<u64, StoreError> {
        Ok(self.file.metadata()?.len())
    }

    /// Cuts the file at `offset` (the end recovery found), which is then
    /// the end of what is written and allocated.
    pub fn cut(&self, offset: u64) -> Result<(), StoreError> {
        if offset < self.file_len()? {
            self.file.set_len(offset)?;
        }
        self.allocated.store(offset, Ordering::Release);
        self.end.store(offset, Ordering::Release);
        Ok(())
    }

    /// Appends one commit's `records` (position and what the record
    /// holds), zeros ahead of them first when the file's written part ends
    /// before them, in one `pwrite`. Not synced. Returns where each record
    /// lies (offset, length).
    pub fn append<'a>(
        &self,
        records: impl ExactSizeIterator<Item = (u64, RecordParts<'a>)>,
    ) -> Result<Vec<(u64, u32)>, StoreError> {
        let start = self.end();
        let count = records.len();
        let mut bytes = Vec::new();
        let mut locations = Vec::with_capacity(count);
        for (i, (position, parts)) in records.enumerate() {
            if bytes.is_empty() {
                bytes.reserve(count * (parts.raw.len() + 64));
            }
            let offset = start + bytes.len() as u64;
            let len = encode(&mut bytes, position, parts, i + 1 < count);
            locations.push((offset, len));
        }
        if bytes.is_empty() {
            return Ok(locations);
        }
        let end = start + bytes.len() as u64;
        let allocated = self.allocated.load(Ordering::Acquire);
        if end > allocated {
            let to = end + PREALLOCATE_BYTES;
            preallocate(&self.file, allocated.max(end), to)?;
            self.allocated.store(to, Ordering::Release);
        }
        self.file.write_all_at(&bytes, start)?;
        self.end.store(end, Ordering::Release);
        Ok(locations)
    }

    /// Makes the log written so far durable: a real `fdatasync`.
    pub fn sync(&self) -> Result<(), StoreError> {
        #[cfg(test)]
        if self.fail_next_sync.swap(false, Ordering::AcqRel) {
            return Err(StoreError::Io(std::io::Error::other("injected: no space left on device")));
        }
        #[cfg(test)]
        while self.hold_syncs.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.file.sync_data()?;
        Ok(())
    }

    /// The event of the record at `offset` of `len` bytes, which must hold
    /// `position`.
    pub fn read(&self, offset: u64, len: u32, position: u64) -> Result<StoredEvent, StoreError> {
        read(&self.file, offset, len, position)
    }

    /// Whether the log holds, whole, the record at `at`.
    pub fn holds(&self, at: &RecordAt) -> bool {
        at.end > at.offset
            && at.end - at.offset <= u64::from(u32::MAX)
            && self.read(at.offset, (at.end - at.offset) as u32, at.position).is_ok()
    }

    /// The records at `wanted` (position, offset, length), in that order.
    /// Consecutive records lie side by side: they are read in few large
    /// reads.
    pub fn read_located(&self, wanted: &[(u64, u64, u32)]) -> Result<Vec<StoredEvent>, StoreError> {
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
            self.file.read_exact_at(&mut bytes, offset)?;
            let mut at = 0;
            for &(position, _, len) in &rest[..count] {
                out.push(event_of(&bytes[at..at + len as usize], position)?);
                at += len as usize;
            }
            rest = &rest[count..];
        }
        Ok(out)
    }

    /// Reads whole commits from `from` on: see [`scan`].
    pub fn scan(
        &self,
        from: ScanEnd,
        visit: impl FnMut(LogRecord) -> Result<(), StoreError>,
    ) -> Result<ScanEnd, StoreError> {
        scan(&self.file, from.offset, from.position, visit)
    }

    /// Every event's bytes written so far, in position order, straight
    /// from the file. For the writer thread only (a rebuild runs there).
    pub fn scan_written(&self, mut visit: impl FnMut(Vec<u8>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let end = self.end();
        self.scan(Log::start(), |record| if record.end() <= end { visit(record.raw) } else { Ok(()) })?;
        Ok(())
    }

    /// Whether the file holds anything but zeros from `offset` to its end.
    pub fn nonzero_after(&self, offset: u64) -> Result<bool, StoreError> {
        nonzero_after(&self.file, offset)
    }
}

/// How far ahead of the last record the file is written with zeros: each
/// extension costs one slower `fdatasync` (the zeros and the new length),
/// and the commits of the next few thousand events none of that.
pub const PREALLOCATE_BYTES: u64 = 1024 * 1024;

/// Zeros written at a time by [`preallocate`].
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Writes zeros from `from` up to `to`: the blocks become the file's, to
/// be overwritten by records. Not synced here: the next `fdatasync`
/// covers them with the records that follow.
fn preallocate(file: &File, from: u64, to: u64) -> Result<(), StoreError> {
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..n], at)?;
        at += n as u64;
    }
    Ok(())
}
