//! `linkage.v1.DocumentService`: documents in before the events that
//! refer to them (`PutDocument`), and out to clients (`GetDocument`); and
//! the append-side step that fills in and checks an event's documents.

use crate::convert;
use linkage_core::documents::{self, chunk_count, CHUNK_BYTES, DOCUMENT_BYTES_MAX, MEDIA_TYPE_CHARS_MAX};
use linkage_core::pb;
use linkage_proto::v1::document_service_server::DocumentService;
use linkage_replication::documents::DocumentError;
use linkage_replication::Documents;
use linkage_store::blobs::BlobError;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// Bytes of one `PutDocument` message, at most.
pub const PUT_MESSAGE_BYTES_MAX: usize = 1 << 20;

/// Puts at once; more wait. Each stages at most one document on disk.
pub const PUTS_AT_ONCE: usize = 4;

/// The service.
#[derive(Clone)]
pub struct Docs {
    documents: Documents,
    origin: String,
    puts: Arc<tokio::sync::Semaphore>,
}

impl Docs {
    /// A service over `documents` of node `origin`.
    pub fn new(documents: Documents, origin: String) -> Docs {
        Docs { documents, origin, puts: Arc::new(tokio::sync::Semaphore::new(PUTS_AT_ONCE)) }
    }
}

/// The status of a blob store refusal.
pub fn blob_status(error: BlobError) -> Status {
    match error {
        BlobError::Quota { .. } => Status::resource_exhausted(error.to_string()),
        BlobError::Corrupt { .. } => Status::data_loss(error.to_string()),
        BlobError::NotHeld { .. } => Status::not_found(error.to_string()),
        BlobError::Io(e) => {
            tracing::error!(error = %e, "blob store");
            Status::unavailable(format!("blob store: {e}"))
        }
    }
}

fn document_status(error: DocumentError) -> Status {
    match error {
        DocumentError::NotFound(_) => Status::not_found(error.to_string()),
        DocumentError::Waiting { .. } => Status::unavailable(error.to_string()),
        DocumentError::Blob(e) => blob_status(e),
    }
}

fn check_header(h: &pb::DocumentHeader) -> Result<(), Status> {
    let chars = |s: &str| s.chars().count();
    let title = linkage_core::limits::TITLE_CHARS_MAX;
    if !(1..=title).contains(&chars(&h.name)) {
        return Err(convert::invalid("header.name", format!("must be 1..={title} characters")));
    }
    if !(1..=MEDIA_TYPE_CHARS_MAX).contains(&chars(&h.media_type)) {
        return Err(convert::invalid("header.media_type", format!("must be 1..={MEDIA_TYPE_CHARS_MAX} characters")));
    }
    if h.size == 0 || h.size > DOCUMENT_BYTES_MAX {
        return Err(convert::invalid("header.size", format!("must be 1..={DOCUMENT_BYTES_MAX} bytes")));
    }
    Ok(())
}

/// A document on its way in: staged on disk, hashed chunk by chunk.
struct Staging {
    file: std::fs::File,
    path: std::path::PathBuf,
    whole: blake3::Hasher,
    chunk: Vec<u8>,
    hashes: Vec<Vec<u8>>,
    size: u64,
}

impl Staging {
    fn add(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        self.size += data.len() as u64;
        self.whole.update(data);
        self.file.write_all(data)?;
        while !data.is_empty() {
            let take = (CHUNK_BYTES as usize - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == CHUNK_BYTES as usize {
                self.hashes.push(blake3::hash(&self.chunk).as_bytes().to_vec());
                self.chunk.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self, header: &pb::DocumentHeader) -> std::io::Result<(pb::DocumentRef, std::path::PathBuf)> {
        if !self.chunk.is_empty() {
            self.hashes.push(blake3::hash(&self.chunk).as_bytes().to_vec());
        }
        self.file.flush()?;
        let doc = pb::DocumentRef {
            root: self.whole.finalize().as_bytes().to_vec(),
            size: self.size,
            media_type: header.media_type.clone(),
            name: header.name.clone(),
            chunk_size: CHUNK_BYTES,
            chunk_hashes: self.hashes,
        };
        Ok((doc, self.path))
    }
}

type GetStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::GetDocumentResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DocumentService for Docs {
    async fn put_document(
        &self,
        request: Request<Streaming<pb::PutDocumentRequest>>,
    ) -> Result<Response<pb::PutDocumentResponse>, Status> {
        let _permit = self.puts.acquire().await.map_err(|_| Status::unavailable("shutting down"))?;
        let mut stream = request.into_inner();
        let header = match stream.next().await {
            Some(Ok(pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Header(h)) })) => h,
            Some(Err(status)) => return Err(status),
            _ => return Err(convert::invalid("header", "the first message must be the header")),
        };
        check_header(&header)?;
        let blobs = self.documents.blobs();
        let staging_dir = {
            let blobs = blobs.lock().expect("blobs lock");
            blobs.would_fit(header.size, &self.origin).map_err(blob_status)?;
            blobs.staging_dir().map_err(|e| blob_status(e.into()))?
        };
        let path = staging_dir.join(format!("{:032x}.part", rand::random::<u128>()));
        let file = std::fs::File::create(&path).map_err(|e| blob_status(e.into()))?;
        let mut staging = Staging {
            file,
            path: path.clone(),
            whole: blake3::Hasher::new(),
            chunk: Vec::new(),
            hashes: Vec::new(),
            size: 0,
        };
        let outcome = async {
            while let Some(message) = stream.next().await {
                match message?.part {
                    Some(pb::put_document_request::Part::Data(data)) => {
                        if staging.size + data.len() as u64 > header.size {
                            return Err(convert::invalid(
                                "data",
                                format!("more than header.size = {} bytes", header.size),
                            ));
                        }
                        staging.add(&data).map_err(|e| blob_status(e.into()))?;
                    }
                    Some(pb::put_document_request::Part::Header(_)) => {
                        return Err(convert::invalid("header", "only the first message may be the header"))
                    }
                    None => return Err(convert::invalid("part", "must be header or data")),
                }
            }
            if staging.size != header.size {
                return Err(convert::invalid(
                    "header.size",
                    format!("said {} bytes, {} came", header.size, staging.size),
                ));
            }
            let (doc, staged) = staging.finish(&header).map_err(|e| blob_status(e.into()))?;
            let origin = self.origin.clone();
            let adopted = doc.clone();
            tokio::task::spawn_blocking(move || blobs.lock().expect("blobs lock").adopt(&staged, &adopted, &origin))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(blob_status)?;
            tracing::info!(root = %documents::root_hex(&doc), name = %doc.name, size = doc.size, "document put");
            Ok(doc)
        }
        .await;
        let _ = std::fs::remove_file(&path);
        Ok(Response::new(pb::PutDocumentResponse { document: Some(outcome?) }))
    }

    type GetDocumentStream = GetStream;

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<Self::GetDocumentStream>, Status> {
        let text = request.into_inner().root;
        let root = documents::parse_root(&text).ok_or_else(|| convert::invalid("root", "must be 64 hex digits"))?;
        let doc = self.documents.readable(&root).map_err(document_status)?;
        let blobs = self.documents.blobs();
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let first = pb::GetDocumentResponse { document: Some(doc.clone()), data: Vec::new() };
            if tx.blocking_send(Ok(first)).is_err() {
                return;
            }
            for index in 0..chunk_count(doc.size) {
                let read = blobs.lock().expect("blobs lock").read_chunk(&doc, index);
                let message = read.map(|data| pb::GetDocumentResponse { document: None, data }).map_err(blob_status);
                let failed = message.is_err();
                if tx.blocking_send(message).is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// Fills in the documents an append request names by root alone, from
/// what was put here; then each must be held whole here, or the append is
/// refused naming the field. Runs before validation.
pub fn fill_and_check(documents: &Documents, request: &mut pb::AppendRequest, prefix: &str) -> Result<(), Status> {
    let Some(kind) = request.payload.as_mut().and_then(|p| p.kind.as_mut()) else { return Ok(()) };
    let Some((field, docs)) = documents::of_mut(kind) else { return Ok(()) };
    let blobs = documents.blobs();
    let blobs = blobs.lock().expect("blobs lock");
    for (i, doc) in docs.iter_mut().enumerate().take(documents::DOCUMENTS_PER_EVENT_MAX) {
        let name = format!("{prefix}{field}[{i}]");
        let Ok(root) = <[u8; 32]>::try_from(doc.root.as_slice()) else { continue };
        let stored = blobs.stored_ref(&root).map_err(blob_status)?;
        let Some(stored) = stored else {
            return Err(convert::field_status(
                tonic::Code::FailedPrecondition,
                &linkage_core::FieldViolation::new(
                    format!("{name}.root"),
                    format!(
                        "document {} is not held here: put it with DocumentService.PutDocument first",
                        hex::encode(root)
                    ),
                ),
            ));
        };
        if documents::root_only(doc) {
            *doc = stored.clone();
        } else if *doc != stored {
            return Err(convert::invalid(&name, "differs from the document held here under that root"));
        }
        if !blobs.complete(&stored).map_err(blob_status)? {
            return Err(convert::field_status(
                tonic::Code::FailedPrecondition,
                &linkage_core::FieldViolation::new(name, "the document is not held whole here yet"),
            ));
        }
    }
    Ok(())
}
