//! Documents' bytes beside the log: one file per document, named by its
//! root (`linkage_core::documents`), written chunk by chunk in any order,
//! each chunk verified against its hash before it is written and again
//! when it is read, with a bitmap of the chunks held beside it. The
//! bitmap names a chunk only after its bytes were synced, so a crash
//! loses at most the chunk in flight, and a fetch resumes from the
//! bitmap. Space is reserved per document against a quota in total and
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
    pub fn open(dir: &Path, quota: Quota) -> Result<Blobs, BlobError> {
        std::fs::create_dir_all(dir)?;
        // A put that a crash interrupted: its client was never answered.
        let _ = std::fs::remove_dir_all(dir.join("staging"));
        let mut held = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(root) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".data")) else {
                continue;
            };
            let size = std::fs::metadata(&path)?.len();
            let origin = std::fs::read_to_string(dir.join(format!("{root}.origin"))).unwrap_or_default();
            held.insert(root.to_string(), (size, origin.trim().to_string()));
        }
        Ok(Blobs { dir: dir.to_path_buf(), quota, held })
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
        std::fs::write(self.path(&root, "ref"), r.encode_to_vec())?;
        std::fs::write(self.path(&root, "origin"), origin)?;
        let have = open_rw(&self.path(&root, "have"))?;
        have.set_len(chunk_count(r.size).div_ceil(8) as u64)?;
        have.sync_all()?;
        let data = open_rw(&self.path(&root, "data"))?;
        data.set_len(r.size)?;
        data.sync_all()?;
        File::open(&self.dir)?.sync_all()?;
        self.held.insert(root, (r.size, origin.to_string()));
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
        have.sync_data()?;
        Ok(self.missing(r)?.len())
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
    /// store's `staging` directory) whose reference is `r`: checked
    /// against the quota, every chunk verified, then moved in place. The
    /// staged file is gone either way.
    pub fn adopt(&mut self, staged: &Path, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        let outcome = self.adopt_inner(staged, r, origin);
        let _ = std::fs::remove_file(staged);
        outcome
    }

    fn adopt_inner(&mut self, staged: &Path, r: &pb::DocumentRef, origin: &str) -> Result<(), BlobError> {
        if self.complete(r)? {
            return Ok(());
        }
        self.reserve(r, origin)?;
        let file = File::open(staged)?;
        for index in self.missing(r)? {
            let (offset, len) = chunk_span(r, index).expect("missing names chunks of the document");
            let mut bytes = vec![0u8; len];
            file.read_exact_at(&mut bytes, offset)?;
            self.put_chunk(r, index, &bytes)?;
        }
        Ok(())
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
            let root = root.to_string();
            for ext in ["data", "have", "origin", "ref"] {
                match std::fs::remove_file(self.path(&root, ext)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        Ok(())
    }
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
}
