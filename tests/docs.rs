//! Documents through a node's DocumentService, for `documents.rs` and
//! `upgrade.rs`.

use linkage_core::pb;
use linkage_proto::v1::document_service_client::DocumentServiceClient;
use linkage_testkit::topology::LocalTopology;

pub use linkage_testkit::noise as bytes_of;

/// A DocumentService client of `code`.
pub async fn docs(topo: &LocalTopology, code: &str) -> DocumentServiceClient<tonic::transport::Channel> {
    DocumentServiceClient::new(topo.channel(code).await.unwrap())
        .max_decoding_message_size(4 << 20)
        .max_encoding_message_size(4 << 20)
}

/// Puts `bytes` at `code` as `name`.
pub async fn put(topo: &LocalTopology, code: &str, name: &str, bytes: &[u8]) -> Result<pb::DocumentRef, tonic::Status> {
    let header =
        pb::DocumentHeader { name: name.into(), media_type: "application/pdf".into(), size: bytes.len() as u64 };
    let mut messages = vec![pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Header(header)) }];
    messages.extend(
        bytes
            .chunks(1 << 20)
            .map(|c| pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Data(c.to_vec())) }),
    );
    let response = docs(topo, code).await.put_document(tokio_stream::iter(messages)).await?;
    Ok(response.into_inner().document.unwrap())
}

/// The whole document as `code` serves it, or the status it answers.
pub async fn get(topo: &LocalTopology, code: &str, root: &[u8]) -> Result<Vec<u8>, tonic::Status> {
    let request = pb::GetDocumentRequest { root: hex::encode(root) };
    let mut stream = docs(topo, code).await.get_document(request).await?.into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await? {
        out.extend_from_slice(&message.data);
    }
    Ok(out)
}

/// The whole document once `code` holds it, waiting up to `limit`.
pub async fn once_held(topo: &LocalTopology, code: &str, root: &[u8], limit: std::time::Duration) -> Vec<u8> {
    let what = format!("{code} holds document {} whole", hex::encode(root));
    crate::liar::until(limit, &what, async || get(topo, code, root).await.is_ok()).await;
    get(topo, code, root).await.unwrap()
}
