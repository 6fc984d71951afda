//! Serving chunks: only to a requester entitled to an event held here
//! that refers to the document, only chunks that verify as they are read.

use super::{Documents, CHUNKS_REFUSED, CHUNKS_SERVED};
use crate::transport::Incoming;
use futures::stream::BoxStream;
use futures::StreamExt;
use linkage_core::{pb, subjects, NodeCode};
use linkage_store::blobs::BlobError;
use pb::document_chunk_response::Outcome;
use prost::Message;
use std::sync::Arc;

/// Chunk requests answered at once; more wait (each reads 256 KiB).
pub const SERVE_AT_ONCE: usize = 8;

impl Documents {
    /// Answers chunk requests until shutdown.
    pub(super) async fn serve(self, mut incoming: BoxStream<'static, Incoming>) {
        let limit = Arc::new(tokio::sync::Semaphore::new(SERVE_AT_ONCE));
        loop {
            let message = tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                m = incoming.next() => match m { Some(m) => m, None => return },
            };
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let this = self.clone();
            tokio::spawn(async move {
                this.answer(message).await;
                drop(permit);
            });
        }
    }

    async fn answer(&self, message: Incoming) {
        let refuse = |reason: &'static str| metrics::counter!(CHUNKS_REFUSED, "reason" => reason).increment(1);
        let Some(requester) = self.inner.subjects.parse_doc(&message.subject) else { return refuse("subject") };
        let Some(reply) = message.reply else { return refuse("no_reply") };
        if !subjects::is_inbox_of(requester, &reply) {
            return refuse("reply_not_inbox");
        }
        let Ok(request) = pb::DocumentChunkRequest::decode(message.payload) else { return refuse("malformed") };
        let (outcome, data) = self.chunk_for(requester, &request).await;
        match outcome {
            Outcome::Ok => metrics::counter!(CHUNKS_SERVED).increment(1),
            Outcome::Denied => refuse("not_entitled"),
            _ => refuse("not_held"),
        }
        let answer = pb::DocumentChunkResponse { outcome: outcome as i32, data };
        if let Some((transport, _)) = self.inner.peers.get() {
            let _ = transport.publish(reply, answer.encode_to_vec().into()).await;
        }
    }

    async fn chunk_for(&self, requester: NodeCode, request: &pb::DocumentChunkRequest) -> (Outcome, Vec<u8>) {
        let Ok(root) = <[u8; 32]>::try_from(request.root.as_slice()) else { return (Outcome::Denied, Vec::new()) };
        let Some(entry) = self.inner.index.lock().expect("index lock").get(&root).cloned() else {
            return (Outcome::Denied, Vec::new());
        };
        let Some((_, entitled)) = self.inner.peers.get() else { return (Outcome::NotHeld, Vec::new()) };
        if !entry.referrers.iter().any(|(origin, channel)| entitled(requester, *origin, channel)) {
            tracing::info!(%requester, root = %linkage_core::documents::root_hex(&entry.doc),
                "refused a document chunk: no event that refers to it is the requester's to see");
            return (Outcome::Denied, Vec::new());
        }
        let blobs = self.inner.blobs.clone();
        let index = request.index as usize;
        let read = tokio::task::spawn_blocking(move || blobs.lock().expect("blobs lock").read_chunk(&entry.doc, index));
        match read.await {
            Ok(Ok(bytes)) => (Outcome::Ok, bytes),
            Ok(Err(e @ BlobError::Corrupt { .. })) => {
                tracing::error!(error = %e, "documents: a chunk on this node's disk does not verify; not served");
                (Outcome::NotHeld, Vec::new())
            }
            _ => (Outcome::NotHeld, Vec::new()),
        }
    }
}
