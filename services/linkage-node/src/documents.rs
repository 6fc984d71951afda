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

/// How long one put may take in all: 64 MiB at about 110 kB/s.
pub const PUT_DURATION_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// How long a put may send nothing.
pub const PUT_IDLE_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a get waits for its client to take the next chunk.
pub const GET_SEND_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// The next part of a put, within its idle time and its deadline; `None`
/// at its end.
async fn next_part(
    stream: &mut Streaming<pb::PutDocumentRequest>,
    deadline: tokio::time::Instant,
) -> Result<Option<pb::put_document_request::Part>, Status> {
    let wait = deadline.min(tokio::time::Instant::now() + PUT_IDLE_MAX);
    match tokio::time::timeout_at(wait, stream.next()).await {
        Err(_) => Err(Status::deadline_exceeded(format!(
            "a put must send something every {PUT_IDLE_MAX:?} and end within {PUT_DURATION_MAX:?}"
        ))),
        Ok(None) => Ok(None),
        Ok(Some(Err(status))) => Err(status),
        Ok(Some(Ok(message))) => match message.part {
            Some(part) => Ok(Some(part)),
            None => Err(convert::invalid("part", "must be header or data")),
        },
    }
}

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

/// The status of a document that cannot be had.
pub fn document_status(error: DocumentError) -> Status {
    match error {
        DocumentError::NotFound(_) => Status::not_found(error.to_string()),
        DocumentError::Waiting { .. } | DocumentError::Behind => Status::unavailable(error.to_string()),
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

/// A document on its way in: staged on disk, hashed chunk by chunk. The
/// staged file goes when this does, however the put ends (a client gone
/// midway drops the handler's future).
struct Staging {
    file: std::fs::File,
    path: std::path::PathBuf,
    chunk: Vec<u8>,
    hashes: Vec<Vec<u8>>,
    size: u64,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Staging {
    fn add(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        self.size += data.len() as u64;
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

    /// The reference of what came, the bytes synced.
    fn finish(&mut self, header: &pb::DocumentHeader) -> std::io::Result<pb::DocumentRef> {
        if !self.chunk.is_empty() {
            self.hashes.push(blake3::hash(&self.chunk).as_bytes().to_vec());
            self.chunk.clear();
        }
        self.file.sync_all()?;
        let hashes = std::mem::take(&mut self.hashes);
        Ok(documents::from_hashes(&header.name, &header.media_type, self.size, hashes))
    }
}

type GetStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::GetDocumentResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DocumentService for Docs {
    async fn put_document(
        &self,
        request: Request<Streaming<pb::PutDocumentRequest>>,
    ) -> Result<Response<pb::PutDocumentResponse>, Status> {
        let mut stream = request.into_inner();
        let deadline = tokio::time::Instant::now() + PUT_DURATION_MAX;
        let header = match next_part(&mut stream, deadline).await? {
            Some(pb::put_document_request::Part::Header(h)) => h,
            _ => return Err(convert::invalid("header", "the first message must be the header")),
        };
        check_header(&header)?;
        let _permit = self.puts.acquire().await.map_err(|_| Status::unavailable("shutting down"))?;
        let blobs = self.documents.blobs();
        let staging_dir = {
            let blobs = blobs.lock().expect("blobs lock");
            blobs.would_fit(header.size, &self.origin).map_err(blob_status)?;
            blobs.staging_dir().map_err(|e| blob_status(e.into()))?
        };
        let path = staging_dir.join(format!("{:032x}.part", rand::random::<u128>()));
        let file = std::fs::File::create(&path).map_err(|e| blob_status(e.into()))?;
        let mut staging = Staging { file, path, chunk: Vec::new(), hashes: Vec::new(), size: 0 };
        loop {
            match next_part(&mut stream, deadline).await? {
                None => break,
                Some(pb::put_document_request::Part::Data(data)) => {
                    if staging.size + data.len() as u64 > header.size {
                        return Err(convert::invalid("data", format!("more than header.size = {} bytes", header.size)));
                    }
                    staging.add(&data).map_err(|e| blob_status(e.into()))?;
                }
                Some(pb::put_document_request::Part::Header(_)) => {
                    return Err(convert::invalid("header", "only the first message may be the header"))
                }
            }
        }
        if staging.size != header.size {
            return Err(convert::invalid("header.size", format!("said {} bytes, {} came", header.size, staging.size)));
        }
        let doc = staging.finish(&header).map_err(|e| blob_status(e.into()))?;
        let origin = self.origin.clone();
        let adopted = doc.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = blobs.lock().expect("blobs lock").adopt(&staging.path, &adopted, &origin);
            drop(staging);
            outcome
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(blob_status)?;
        tracing::info!(root = %documents::root_hex(&doc), name = %doc.name, size = doc.size, "document put");
        Ok(Response::new(pb::PutDocumentResponse { document: Some(doc) }))
    }

    type GetDocumentStream = GetStream;

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<Self::GetDocumentStream>, Status> {
        let text = request.into_inner().root;
        let root = documents::parse_root(&text).ok_or_else(|| convert::invalid("root", "must be 64 hex digits"))?;
        let documents = self.documents.clone();
        let doc = tokio::task::spawn_blocking(move || documents.readable(&root))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(document_status)?;
        let blobs = self.documents.blobs();
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        // One chunk read at a time off the async threads; a client that
        // takes nothing for a minute is dropped.
        tokio::spawn(async move {
            let send = async |message| tx.send_timeout(message, GET_SEND_WAIT_MAX).await.is_ok();
            if !send(Ok(pb::GetDocumentResponse { document: Some(doc.clone()), data: Vec::new() })).await {
                return;
            }
            for index in 0..chunk_count(doc.size) {
                let (blobs, doc) = (blobs.clone(), doc.clone());
                let read =
                    tokio::task::spawn_blocking(move || blobs.lock().expect("blobs lock").read_chunk(&doc, index))
                        .await
                        .unwrap_or_else(|e| Err(BlobError::Io(std::io::Error::other(e.to_string()))));
                let message = read.map(|data| pb::GetDocumentResponse { document: None, data }).map_err(blob_status);
                let failed = message.is_err();
                if !send(message).await || failed {
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
        // A whole reference stands as given (its name is the event's);
        // its root proves its hashes, which validation checks.
        if documents::root_only(doc) {
            *doc = stored.clone();
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
