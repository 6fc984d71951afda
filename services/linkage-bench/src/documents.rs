//! Figure 10: a document from the county to the province. The county's
//! platform puts 20 MiB (`DocumentService.PutDocument`) and appends a
//! proposal that refers to it; timed from the append's answer until the
//! province's `AdminService.ListDocuments` shows the document held whole:
//! the province learns of the event, asks the holders chunk by chunk,
//! verifies and syncs each. The city fetches the same document at the
//! same time, as it would. Baseline: the same bytes in the same 256 KiB
//! pieces published over NATS from one connection to a subscriber on
//! another, right after, on the same server.

use crate::cluster::Cluster;
use crate::raw_nats::{self, NatsUser};
use anyhow::Context;
use bytes::Bytes;
use linkage_core::documents::CHUNK_BYTES;
use linkage_core::pb;
use linkage_proto::v1::document_service_client::DocumentServiceClient;
use std::time::{Duration, Instant};

/// The document's size.
pub const DOCUMENT_BYTES: usize = 20 << 20;

/// How long the province may take before the figure fails.
const TRANSFER_DURATION_MAX: Duration = Duration::from_secs(120);

/// Bytes per message of the put.
const PUT_PIECE_BYTES: usize = 1 << 20;

/// The figure, both sides.
pub struct Transfer {
    /// Bytes moved.
    pub bytes: u64,
    /// From the append's answer until the province held the document.
    pub ours: Duration,
    /// NATS publish → subscribe of the same bytes.
    pub raw: Duration,
}

/// Measures figure 10 on `cluster`: `county` to `province`.
pub async fn measure(cluster: &Cluster, user: &NatsUser, county: &str, province: &str) -> anyhow::Result<Transfer> {
    let bytes = linkage_testkit::noise(DOCUMENT_BYTES, 10);
    let header =
        pb::DocumentHeader { name: "bench.pdf".into(), media_type: "application/pdf".into(), size: bytes.len() as u64 };
    let mut messages = vec![pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Header(header)) }];
    messages.extend(
        bytes
            .chunks(PUT_PIECE_BYTES)
            .map(|c| pb::PutDocumentRequest { part: Some(pb::put_document_request::Part::Data(c.to_vec())) }),
    );
    let mut docs = DocumentServiceClient::new(cluster.channel(county).await?).max_encoding_message_size(2 << 20);
    let doc = docs.put_document(tokio_stream::iter(messages)).await?.into_inner().document.context("no reference")?;
    let root = hex::encode(&doc.root);

    let proposal = pb::AppendRequest {
        channel: format!("chain:{county}"),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::ProposalSubmitted(pb::ProposalSubmitted {
                title: "关于推进河西走廊高效节水灌溉的建议".into(),
                body: "见附件".into(),
                submitter: pb::ProposalSubmitter::Committee as i32,
                year: 2027,
                documents: vec![pb::DocumentRef { root: doc.root.clone(), ..Default::default() }],
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let mut admin = cluster.admin(province).await?;
    let mut events = cluster.event_log(county).await?;
    events.append(proposal).await.context("appending the proposal with its document")?;
    let started = Instant::now();
    loop {
        let listed = admin.list_documents(pb::ListDocumentsRequest { waiting_only: false }).await?.into_inner();
        if listed.documents.iter().any(|d| d.root == root && d.state == "held") {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < TRANSFER_DURATION_MAX,
            "the province did not hold the document within {TRANSFER_DURATION_MAX:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ours = started.elapsed();

    let pieces: Vec<Bytes> = bytes.chunks(CHUNK_BYTES as usize).map(Bytes::copy_from_slice).collect();
    let raw = raw_nats::publish_subscribe(user, &pieces).await?;
    Ok(Transfer { bytes: doc.size, ours, raw })
}
