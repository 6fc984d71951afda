//! Documents' bytes beside the log: one file per document, named by its
//! root (`linkage_core::documents`), written chunk by chunk in any order,
//! each chunk verified against its hash before it is written and again
//! when it is read, with a bitmap of the chunks held beside it. The
//! bitmap names a chunk only after its bytes were synced, so a killed
//! process loses at most the chunk in flight, and a fetch resumes from
//! the bitmap (synced when the document is whole: a power cut before
//! that costs chunks fetched again, never a bit without its bytes). Space is reserved per document against a quota in total and
//! per origin; a full quota refuses new documents and never touches the
//! log.

use linkage_core::documents::{chunk_count, chunk_span, chunk_verifies, root_hex};
use linkage_core::pb;
use prost::Message;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How much the blob store may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of all documents together.
    pub total_bytes: u64,
    /// Bytes of the documents of one origin's events.
    pub per_origin_bytes: u64,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Reserving the document would pass a quota.
    #[error("the document's {size} bytes would pass the {which} quota ({used} of {limit} bytes used)")]
    Quota {
        /// The document's size.
        size: u64,
        /// "total" or "per-origin".
        which: &'static str,
        /// Bytes in use.
        used: u64,
        /// The quota.
        limit: u64,
    },
    /// The bytes are not that chunk of the document.
    #[error("chunk {index} of document {root} does not verify against its hash")]
    Corrupt {
        /// The document's root, hex.
        root: String,
        /// The chunk.
        index: usize,
    },
    /// No such chunk, or the document is not reserved here.
    #[error("chunk {index} of document {root} is not held here")]
    NotHeld {
        /// The document's root, hex.
        root: String,
        /// The chunk.
        index: usize,
    },
    /// The disk failed.
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
}

/// The blob store of one node.
pub struct Blobs {
    dir: PathBuf,
    quota: Quota,
    /// Reserved bytes and origin, by root (hex).
    held: BTreeMap<String, (u64, String)>,
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

impl Blobs {
    /// Opens the store in `dir`, counting what it holds against `quota`.
    /// A document's `.ref` is written last and removed first, so a set of
    /// files without one, or with a file of the wrong length beside it,
    /// is what a crash left of a reservation or a removal: removed.
    pub fn open(dir: &Path, quota: Quota) -> Result<Blobs, BlobError> {
        std::fs::create_dir_all(dir)?;
        // A put that a crash interrupted: its client was never answered.
        let _ = std::fs::remove_dir_all(dir.join("staging"));
        let mut blobs = Blobs { dir: dir.to_path_buf(), quota, held: BTreeMap::new() };
        let mut roots = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            for ext in [".data", ".have", ".origin", ".ref"] {
                if let Some(root) = name.strip_suffix(ext) {
                    roots.insert(root.to_string());
                }
            }
        }
        for root in roots {
            match blobs.whole_set(&root) {
                Some((size, origin)) => {
                    blobs.held.insert(root, (size, origin));
                }
                None => blobs.remove_files(&root)?,
            }
        }
        Ok(blobs)
    }

    /// A document's size and origin when all its files are there, each of
    /// its length.
    fn whole_set(&self, root: &str) -> Option<(u64, String)> {
        let r = pb::DocumentRef::decode(std::fs::read(self.path(root, "ref")).ok()?.as_slice()).ok()?;
        let len = |ext| std::fs::metadata(self.path(root, ext)).ok().map(|m| m.len());
        let whole =
            root_hex(&r) == root && len("data")? == r.size && len("have")? == chunk_count(r.size).div_ceil(8) as u64;
        let origin = std::fs::read_to_string(self.path(root, "origin")).ok()?;
        whole.then(|| (r.size, origin.trim().to_string()))
    }

    /// Bytes reserved, in total and for `origin`.
    pub fn used(&self, origin: &str) -> (u64, u64) {
        let total = self.held.values().map(|(s, _)| s).sum();
        let own = self.held.values().filter(|(_, o)| o == origin).map(|(s, _)| s).sum();
        (total, own)
    }

    fn path(&self, root: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{root}.{ext}"))
    }

    /// Reserves space for document `r` of an event of `origin`, unless it
    /// is reserved already.
    pub fn reserve(&mut self, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        let root = root_hex(r);
        if self.held.contains_key(&root) {
            return Ok(());
        }
        self.would_fit(r.size, origin)?;
        // Zeroed, whatever a crash left there: no chunk is held yet.
        let have = open_rw(&self.path(&root, "have"))?;
        have.set_len(0)?;
        have.set_len(chunk_count(r.size).div_ceil(8) as u64)?;
        have.sync_all()?;
        let data = open_rw(&self.path(&root, "data"))?;
        data.set_len(r.size)?;
        data.sync_all()?;
        self.write_set_end(&root, r, origin)
    }

    /// Writes `.origin`, then `.ref` (which makes the set whole), synced,
    /// and the directory; counts the document as held.
    fn write_set_end(&mut self, root: &str, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        write_synced(&self.path(root, "origin"), origin.as_bytes())?;
        write_synced(&self.path(root, "ref"), &r.encode_to_vec())?;
        File::open(&self.dir)?.sync_all()?;
        self.held.insert(root.to_string(), (r.size, origin.to_string()));
        Ok(())
    }

    fn bitmap(&self, root: &str) -> Result<Vec<u8>, BlobError> {
        Ok(std::fs::read(self.path(root, "have"))?)
    }

    /// The chunks of `r` not held yet, in order; all of them when the
    /// document is not reserved.
    pub fn missing(&self, r: &pb::DocumentRef) -> Result<Vec<usize>, BlobError> {
        let root = root_hex(r);
        let n = chunk_count(r.size);
        if !self.held.contains_key(&root) {
            return Ok((0..n).collect());
        }
        let bits = self.bitmap(&root)?;
        Ok((0..n).filter(|i| bits.get(i / 8).is_none_or(|b| b & (1 << (i % 8)) == 0)).collect())
    }

    /// Whether every chunk of `r` is held.
    pub fn complete(&self, r: &pb::DocumentRef) -> Result<bool, BlobError> {
        Ok(self.held.contains_key(&root_hex(r)) && self.missing(r)?.is_empty())
    }

    /// Writes chunk `index` of `r` if `bytes` verify, synced before the
    /// bitmap names it. Returns how many chunks are still missing.
    pub fn put_chunk(&mut self, r: &pb::DocumentRef, index: usize, bytes: &[u8]) -> Result<usize, BlobError> {
        let root = root_hex(r);
        if !chunk_verifies(r, index, bytes) {
            return Err(BlobError::Corrupt { root, index });
        }
        if !self.held.contains_key(&root) {
            return Err(BlobError::NotHeld { root, index });
        }
        let (offset, _) = chunk_span(r, index).expect("verified: the chunk exists");
        let data = open_rw(&self.path(&root, "data"))?;
        data.write_all_at(bytes, offset)?;
        data.sync_data()?;
        let have = open_rw(&self.path(&root, "have"))?;
        let mut byte = [0u8];
        have.read_exact_at(&mut byte, (index / 8) as u64)?;
        byte[0] |= 1 << (index % 8);
        have.write_all_at(&byte, (index / 8) as u64)?;
        // The bit is written only after its chunk is durable, so it never
        // names bytes a power cut could take. The bitmap itself is synced
        // once the document is whole: a power cut before that loses bits,
        // whose chunks are fetched again; a killed process loses none.
        let missing = self.missing(r)?.len();
        if missing == 0 {
            have.sync_data()?;
        }
        Ok(missing)
    }

    /// Chunk `index` of `r`, verified again as it is read: a disk that
    /// changed a byte is caught here, never served.
    pub fn read_chunk(&self, r: &pb::DocumentRef, index: usize) -> Result<Vec<u8>, BlobError> {
        let root = root_hex(r);
        let not_held = || BlobError::NotHeld { root: root.clone(), index };
        let (offset, len) = chunk_span(r, index).ok_or_else(not_held)?;
        if self.missing(r)?.contains(&index) {
            return Err(not_held());
        }
        let mut bytes = vec![0u8; len];
        File::open(self.path(&root, "data"))?.read_exact_at(&mut bytes, offset)?;
        if !chunk_verifies(r, index, &bytes) {
            return Err(BlobError::Corrupt { root, index });
        }
        Ok(bytes)
    }

    /// Takes in a whole document written to `staged` (a file in this
    /// store's `staging` directory) whose reference is `r`. The caller
    /// made `r` from those very bytes as it wrote them, and synced them:
    /// they are moved in place, not read again. Checked against the quota
    /// unless the document is here already (a put again marks it as
    /// recently used). The staged file is gone either way.
    pub fn adopt(&mut self, staged: &Path, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        let outcome = self.adopt_inner(staged, r, origin);
        let _ = std::fs::remove_file(staged);
        outcome
    }

    fn adopt_inner(&mut self, staged: &Path, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        let root = root_hex(r);
        if self.complete(r)? {
            File::options().write(true).open(self.path(&root, "origin"))?.set_modified(std::time::SystemTime::now())?;
            return Ok(());
        }
        let origin = match self.held.get(&root) {
            Some((_, o)) => o.clone(),
            None => {
                self.would_fit(r.size, origin)?;
                origin.to_string()
            }
        };
        // Not whole while it changes: `.ref` goes first.
        self.held.remove(&root);
        remove_if_there(&self.path(&root, "ref"))?;
        std::fs::rename(staged, self.path(&root, "data"))?;
        write_synced(&self.path(&root, "have"), &vec![0xff; chunk_count(r.size).div_ceil(8)])?;
        self.write_set_end(&root, r, &origin)
    }

    /// Where [`Blobs::adopt`] wants documents staged.
    pub fn staging_dir(&self) -> io::Result<PathBuf> {
        let dir = self.dir.join("staging");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The reference of a document reserved here, by root.
    pub fn stored_ref(&self, root: &[u8; 32]) -> Result<Option<pb::DocumentRef>, BlobError> {
        let root = hex::encode(root);
        if !self.held.contains_key(&root) {
            return Ok(None);
        }
        let bytes = std::fs::read(self.path(&root, "ref"))?;
        Ok(pb::DocumentRef::decode(bytes.as_slice()).ok())
    }

    /// The origin a document was reserved for, by root.
    pub fn origin_of(&self, root: &[u8; 32]) -> Option<String> {
        self.held.get(&hex::encode(root)).map(|(_, origin)| origin.clone())
    }

    /// Whether a document of `size` bytes for `origin` would fit now.
    pub fn would_fit(&self, size: u64, origin: &str) -> Result<(), BlobError> {
        let (total, own) = self.used(origin);
        let over = |which, used: u64, limit: u64| BlobError::Quota { size, which, used, limit };
        if total + size > self.quota.total_bytes {
            return Err(over("total", total, self.quota.total_bytes));
        }
        if own + size > self.quota.per_origin_bytes {
            return Err(over("per-origin", own, self.quota.per_origin_bytes));
        }
        Ok(())
    }

    /// Every document reserved here: root (hex), size, origin, and when
    /// it was reserved.
    pub fn list(&self) -> Vec<(String, u64, String, std::time::SystemTime)> {
        let when = |root: &str| {
            std::fs::metadata(self.path(root, "origin"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        };
        self.held.iter().map(|(root, (size, origin))| (root.clone(), *size, origin.clone(), when(root))).collect()
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Removes document `r` (no held event refers to it any more) and
    /// frees its space.
    pub fn remove(&mut self, r: &pb::DocumentRef) -> Result<(), BlobError> {
        self.remove_root(&root_hex(r))
    }

    /// [`Blobs::remove`] by the root's hex.
    pub fn remove_root(&mut self, root: &str) -> Result<(), BlobError> {
        if self.held.remove(root).is_some() {
            self.remove_files(root)?;
        }
        Ok(())
    }

    /// Removes a document's files, `.ref` first: a crash midway leaves a
    /// set that [`Blobs::open`] removes.
    fn remove_files(&self, root: &str) -> Result<(), BlobError> {
        for ext in ["ref", "data", "have", "origin"] {
            remove_if_there(&self.path(root, ext))?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes a small file and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    io::Write::write_all(&mut file, bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkage_core::documents::{describe, CHUNK_BYTES};

    const QUOTA: Quota = Quota { total_bytes: 4 << 20, per_origin_bytes: 3 << 20 };

    fn document(len: usize, seed: u8) -> (Vec<u8>, pb::DocumentRef) {
        let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let r = describe("提案.pdf", "application/pdf", &bytes);
        (bytes, r)
    }

    fn chunk(bytes: &[u8], i: usize) -> &[u8] {
        bytes.chunks(CHUNK_BYTES as usize).nth(i).unwrap()
    }

    #[test]
    fn chunks_in_any_order_resume_after_reopening_and_read_back_verified() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, r) = document(CHUNK_BYTES as usize * 3 + 5, 1);
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        blobs.reserve(&r, "620722").unwrap();
        assert_eq!(blobs.put_chunk(&r, 2, chunk(&bytes, 2)).unwrap(), 3);
        assert_eq!(blobs.put_chunk(&r, 0, chunk(&bytes, 0)).unwrap(), 2);
        drop(blobs);
        // Reopened: what was held is held, the fetch goes on from there.
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        assert_eq!(blobs.missing(&r).unwrap(), [1, 3]);
        assert!(matches!(blobs.read_chunk(&r, 1), Err(BlobError::NotHeld { .. })));
        blobs.put_chunk(&r, 1, chunk(&bytes, 1)).unwrap();
        assert_eq!(blobs.put_chunk(&r, 3, chunk(&bytes, 3)).unwrap(), 0);
        assert!(blobs.complete(&r).unwrap());
        let back: Vec<u8> = (0..4).flat_map(|i| blobs.read_chunk(&r, i).unwrap()).collect();
        assert_eq!(back, bytes, "byte-identical");
    }

    #[test]
    fn a_corrupted_chunk_is_refused_on_the_way_in_and_caught_on_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, r) = document(CHUNK_BYTES as usize + 10, 2);
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        blobs.reserve(&r, "620722").unwrap();
        let mut bad = chunk(&bytes, 0).to_vec();
        bad[100] ^= 0xff;
        assert!(matches!(blobs.put_chunk(&r, 0, &bad), Err(BlobError::Corrupt { index: 0, .. })));
        assert_eq!(blobs.missing(&r).unwrap(), [0, 1], "nothing written");
        blobs.put_chunk(&r, 0, chunk(&bytes, 0)).unwrap();
        blobs.put_chunk(&r, 1, chunk(&bytes, 1)).unwrap();
        // The disk changes a byte: it is never served.
        let data = open_rw(&dir.path().join(format!("{}.data", root_hex(&r)))).unwrap();
        data.write_all_at(&[0x55], 7).unwrap();
        assert!(matches!(blobs.read_chunk(&r, 0), Err(BlobError::Corrupt { index: 0, .. })));
        assert_eq!(blobs.read_chunk(&r, 1).unwrap(), chunk(&bytes, 1));
    }

    #[test]
    fn quotas_in_total_and_per_origin_refuse_new_documents_until_space_is_freed() {
        let dir = tempfile::tempdir().unwrap();
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        let (_, a) = document(2 << 20, 3);
        let (_, b) = document(2 << 20, 4);
        let (_, c) = document(1 << 20, 5);
        blobs.reserve(&a, "620722").unwrap();
        blobs.reserve(&a, "620722").unwrap();
        assert!(matches!(blobs.reserve(&b, "620722"), Err(BlobError::Quota { which: "per-origin", .. })));
        blobs.reserve(&b, "620700").unwrap();
        assert!(matches!(blobs.reserve(&c, "620000"), Err(BlobError::Quota { which: "total", .. })));
        assert_eq!(blobs.used("620722"), (4 << 20, 2 << 20));
        drop(blobs);
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        assert_eq!(blobs.used("620700"), (4 << 20, 2 << 20), "counted again on open");
        blobs.remove(&a).unwrap();
        blobs.reserve(&c, "620000").unwrap();
        assert_eq!(blobs.used("620000"), (3 << 20, 1 << 20));
    }

    #[test]
    fn adopt_moves_a_whole_document_in_and_a_half_removed_set_is_gone_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, r) = document(CHUNK_BYTES as usize * 2 + 7, 6);
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        let staged = blobs.staging_dir().unwrap().join("put.part");
        std::fs::write(&staged, &bytes).unwrap();
        blobs.adopt(&staged, &r, "620722").unwrap();
        assert!(blobs.complete(&r).unwrap() && !staged.exists());
        let back: Vec<u8> = (0..3).flat_map(|i| blobs.read_chunk(&r, i).unwrap()).collect();
        assert_eq!(back, bytes);
        assert_eq!(blobs.stored_ref(&r.root.clone().try_into().unwrap()).unwrap(), Some(r.clone()));

        // Half a removal: `.ref` went first, the rest stayed.
        let (other_bytes, other) = document(CHUNK_BYTES as usize + 1, 7);
        blobs.reserve(&other, "620700").unwrap();
        blobs.put_chunk(&other, 0, chunk(&other_bytes, 0)).unwrap();
        drop(blobs);
        std::fs::remove_file(dir.path().join(format!("{}.ref", root_hex(&other)))).unwrap();
        let mut blobs = Blobs::open(dir.path(), QUOTA).unwrap();
        assert_eq!(blobs.used("620700").1, 0, "not counted");
        assert!(!dir.path().join(format!("{}.have", root_hex(&other))).exists(), "its files are gone");
        blobs.reserve(&other, "620700").unwrap();
        assert_eq!(blobs.missing(&other).unwrap(), [0, 1], "reserved again from nothing held");
        assert!(blobs.complete(&r).unwrap(), "the whole document stays");
    }
}
