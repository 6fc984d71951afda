//! Documents by content (`linkage.v1.DocumentRef`): what an event says of
//! a document so that its bytes can travel apart from it, in chunks, each
//! verified on its own. A tree of two levels: each 256 KiB chunk has its
//! BLAKE3 hash in the reference, and the root is BLAKE3 of the size and
//! those hashes ([`root_of`]). So a reference proves itself: one whose
//! hashes do not give its root is refused without a byte of the document,
//! two references with one root name the same bytes, and a holder that
//! serves a corrupted chunk is caught at that chunk. Sans-IO: the bytes
//! are the caller's.

use crate::pb;
use crate::pb::payload::Kind;

/// Bytes per chunk: well inside NATS's default 1 MiB payload with room
/// for the envelope.
pub const CHUNK_BYTES: u32 = 256 * 1024;

/// The largest document: 64 MiB, 256 chunks.
pub const DOCUMENT_BYTES_MAX: u64 = 64 << 20;

/// Most chunks of one document.
pub const CHUNKS_MAX: usize = (DOCUMENT_BYTES_MAX / CHUNK_BYTES as u64) as usize;

/// The longest media type.
pub const MEDIA_TYPE_CHARS_MAX: usize = 100;

/// What the root hashes first: the scheme, so that no other use of
/// BLAKE3 over the same bytes gives a root.
const ROOT_DOMAIN: &[u8] = b"linkage.v1.DocumentRef root: size, then the chunk hashes\n";

/// The root of a document of `size` bytes whose chunks hash to `hashes`:
/// BLAKE3 of [`ROOT_DOMAIN`], the size (8 bytes, little-endian) and the
/// hashes in order.
pub fn root_of(size: u64, hashes: &[Vec<u8>]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(ROOT_DOMAIN);
    hasher.update(&size.to_le_bytes());
    for h in hashes {
        hasher.update(h);
    }
    *hasher.finalize().as_bytes()
}

/// The reference of a document from its size and chunk hashes.
pub fn from_hashes(name: &str, media_type: &str, size: u64, chunk_hashes: Vec<Vec<u8>>) -> pb::DocumentRef {
    pb::DocumentRef {
        root: root_of(size, &chunk_hashes).to_vec(),
        size,
        media_type: media_type.to_string(),
        name: name.to_string(),
        chunk_size: CHUNK_BYTES,
        chunk_hashes,
    }
}

/// The reference of `bytes` as `name` of `media_type`.
pub fn describe(name: &str, media_type: &str, bytes: &[u8]) -> pb::DocumentRef {
    let hashes = bytes.chunks(CHUNK_BYTES as usize).map(|c| blake3::hash(c).as_bytes().to_vec()).collect();
    from_hashes(name, media_type, bytes.len() as u64, hashes)
}

/// How many chunks a document of `size` bytes has.
pub fn chunk_count(size: u64) -> usize {
    size.div_ceil(u64::from(CHUNK_BYTES)) as usize
}

/// Where chunk `index` lies in the document: offset and length.
pub fn chunk_span(r: &pb::DocumentRef, index: usize) -> Option<(u64, usize)> {
    let offset = index as u64 * u64::from(CHUNK_BYTES);
    (offset < r.size).then(|| (offset, (r.size - offset).min(u64::from(CHUNK_BYTES)) as usize))
}

/// Whether `bytes` are chunk `index` of the document.
pub fn chunk_verifies(r: &pb::DocumentRef, index: usize, bytes: &[u8]) -> bool {
    let Some((_, len)) = chunk_span(r, index) else { return false };
    bytes.len() == len && r.chunk_hashes.get(index).is_some_and(|h| h.as_slice() == blake3::hash(bytes).as_bytes())
}

/// Why a reference is not one this version reads, naming the field under
/// `field`; `None` when it is.
pub fn check(field: &str, r: &pb::DocumentRef) -> Option<(String, String)> {
    let bad = |f: &str, why: String| Some((format!("{field}.{f}"), why));
    if r.root.len() != 32 {
        return bad("root", "must be 32 bytes: BLAKE3 of the size and the chunk hashes".into());
    }
    if r.size == 0 || r.size > DOCUMENT_BYTES_MAX {
        return bad("size", format!("must be 1..={DOCUMENT_BYTES_MAX} bytes"));
    }
    if r.chunk_size != CHUNK_BYTES {
        return bad("chunk_size", format!("must be {CHUNK_BYTES}"));
    }
    if r.chunk_hashes.len() != chunk_count(r.size) {
        return bad("chunk_hashes", format!("must be {} hashes, one per chunk", chunk_count(r.size)));
    }
    if let Some(i) = r.chunk_hashes.iter().position(|h| h.len() != 32) {
        return bad(&format!("chunk_hashes[{i}]"), "must be 32 bytes".into());
    }
    if r.root != root_of(r.size, &r.chunk_hashes) {
        return bad("root", "does not match the size and chunk hashes (BLAKE3 of them)".into());
    }
    let chars = |s: &str| s.chars().count();
    if !(1..=crate::limits::TITLE_CHARS_MAX).contains(&chars(&r.name)) {
        return bad("name", format!("must be 1..={} characters", crate::limits::TITLE_CHARS_MAX));
    }
    if !(1..=MEDIA_TYPE_CHARS_MAX).contains(&chars(&r.media_type)) {
        return bad("media_type", format!("must be 1..={MEDIA_TYPE_CHARS_MAX} characters"));
    }
    None
}

/// The payload kinds (field numbers) that carry documents, for a cheap
/// look at stored bytes (`wire::peek`).
pub const KINDS: [u64; 4] = [26, 60, 80, 88];

/// Most documents one event refers to.
pub const DOCUMENTS_PER_EVENT_MAX: usize = 4;

/// The documents an event of `kind` refers to, and the field that holds
/// them (`payload.proposal_submitted.documents`); `None` for a kind that
/// carries none.
pub fn of(kind: &Kind) -> Option<(&'static str, &[pb::DocumentRef])> {
    Some(match kind {
        Kind::ProposalSubmitted(m) => ("payload.proposal_submitted.documents", &m.documents),
        Kind::ProposalAnswered(m) => ("payload.proposal_answered.documents", &m.documents),
        Kind::ResearchCompleted(m) => ("payload.research_completed.documents", &m.documents),
        Kind::SubReportSubmitted(m) => ("payload.sub_report_submitted.documents", &m.documents),
        _ => return None,
    })
}

/// [`of`], to change: the node fills in references given by root alone.
pub fn of_mut(kind: &mut Kind) -> Option<(&'static str, &mut Vec<pb::DocumentRef>)> {
    Some(match kind {
        Kind::ProposalSubmitted(m) => ("payload.proposal_submitted.documents", &mut m.documents),
        Kind::ProposalAnswered(m) => ("payload.proposal_answered.documents", &mut m.documents),
        Kind::ResearchCompleted(m) => ("payload.research_completed.documents", &mut m.documents),
        Kind::SubReportSubmitted(m) => ("payload.sub_report_submitted.documents", &mut m.documents),
        _ => return None,
    })
}

/// Why the documents of `kind` are not ones this version takes, naming
/// the field; `None` when they are (or it carries none).
pub fn check_all(kind: &Kind) -> Option<(String, String)> {
    let (field, docs) = of(kind)?;
    if docs.len() > DOCUMENTS_PER_EVENT_MAX {
        return Some((field.to_string(), format!("at most {DOCUMENTS_PER_EVENT_MAX} documents per event")));
    }
    docs.iter().enumerate().find_map(|(i, r)| check(&format!("{field}[{i}]"), r))
}

/// The well-formed documents a (perhaps peer's) event refers to: at
/// most [`DOCUMENTS_PER_EVENT_MAX`], each one that [`check`] accepts.
pub fn usable(kind: &Kind) -> Vec<&pb::DocumentRef> {
    of(kind)
        .map(|(_, docs)| docs.iter().take(DOCUMENTS_PER_EVENT_MAX).filter(|r| check("", r).is_none()).collect())
        .unwrap_or_default()
}

/// Whether `r` names a document by its root alone, for the node to fill in.
pub fn root_only(r: &pb::DocumentRef) -> bool {
    r.root.len() == 32 && r.size == 0 && r.chunk_hashes.is_empty() && r.name.is_empty() && r.media_type.is_empty()
}

/// A root from its 64 hex digits.
pub fn parse_root(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// The root as text: how a blob is named on disk and in logs.
pub fn root_hex(r: &pb::DocumentRef) -> String {
    hex::encode(&r.root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_verifies_alone_and_a_changed_byte_is_caught_at_its_chunk() {
        let bytes: Vec<u8> = (0..(CHUNK_BYTES as usize * 2 + 1000)).map(|i| (i * 7 % 251) as u8).collect();
        let r = describe("答复函.pdf", "application/pdf", &bytes);
        assert_eq!(check("doc", &r), None);
        assert_eq!(r.chunk_hashes.len(), 3);
        assert_eq!(chunk_span(&r, 2), Some((2 * u64::from(CHUNK_BYTES), 1000)));
        assert_eq!(chunk_span(&r, 3), None);
        for (i, c) in bytes.chunks(CHUNK_BYTES as usize).enumerate() {
            assert!(chunk_verifies(&r, i, c));
        }
        let mut bad = bytes[CHUNK_BYTES as usize..2 * CHUNK_BYTES as usize].to_vec();
        bad[17] ^= 1;
        assert!(!chunk_verifies(&r, 1, &bad));
        assert!(!chunk_verifies(&r, 0, &bytes[CHUNK_BYTES as usize..2 * CHUNK_BYTES as usize]), "another chunk");
        assert!(!chunk_verifies(&r, 2, &bytes[2 * CHUNK_BYTES as usize..2 * CHUNK_BYTES as usize + 999]), "short");
    }

    #[test]
    fn a_reference_out_of_shape_names_its_field() {
        let good = describe("a.txt", "text/plain", b"hello");
        let field = |f: fn(&mut pb::DocumentRef)| {
            let mut r = good.clone();
            f(&mut r);
            check("payload.doc", &r).map(|(f, _)| f)
        };
        assert_eq!(field(|r| r.root.pop().map(drop).unwrap_or(())), Some("payload.doc.root".into()));
        assert_eq!(field(|r| r.size = DOCUMENT_BYTES_MAX + 1), Some("payload.doc.size".into()));
        assert_eq!(field(|r| r.chunk_size = 1024), Some("payload.doc.chunk_size".into()));
        assert_eq!(field(|r| r.chunk_hashes.push(vec![0; 32])), Some("payload.doc.chunk_hashes".into()));
        // Hashes of other bytes under a root: refused, without the bytes.
        assert_eq!(field(|r| r.chunk_hashes[0][5] ^= 1), Some("payload.doc.root".into()));
        assert_eq!(field(|r| r.root[0] ^= 1), Some("payload.doc.root".into()));
        assert_eq!(
            field(|r| r.chunk_hashes[0].pop().map(drop).unwrap_or(())),
            Some("payload.doc.chunk_hashes[0]".into())
        );
        assert_eq!(field(|r| r.name.clear()), Some("payload.doc.name".into()));
        assert_eq!(field(|r| r.media_type = "x".repeat(101)), Some("payload.doc.media_type".into()));
    }
}
