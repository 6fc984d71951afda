//! Documents over real nodes and a real broker: a 20 MiB document put at
//! 民乐县 reaches the province byte-identical, and a fetch cut by killing
//! the province goes on where it stopped; a holder that serves a corrupt
//! chunk is caught at that chunk and the rest comes from another; a node
//! not entitled to the event is refused; a node over its quota keeps its
//! events and fetches the document once space is freed.

use linkage_core::documents::{chunk_count, CHUNK_BYTES};
use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_testkit::request as append;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::docs::{bytes_of, get, once_held, put};
use linkage_tests::liar::{liar, until};
use prost::Message;
use std::time::Duration;

const COUNTY: &str = "620722";
const CITY: &str = "620700";
const PROVINCE: &str = "620000";
const SIBLING: &str = "620622";
const FETCHED: &str = "linkage_document_bytes_fetched_total";

/// The demo topology, every node started with `settings` in its
/// environment.
fn demo_with(settings: &[(&str, &str)]) -> LocalTopology {
    let topology = linkage_testkit::topology("demo.toml");
    LocalTopology::up_with_env(&topology, linkage_testkit::bin_dir(), settings).unwrap()
}

fn proposal(title: &str, root: &[u8]) -> pb::AppendRequest {
    append(
        &format!("chain:{COUNTY}"),
        Kind::ProposalSubmitted(pb::ProposalSubmitted {
            title: title.into(),
            body: "见附件".into(),
            submitter: pb::ProposalSubmitter::Committee as i32,
            year: 2027,
            documents: vec![pb::DocumentRef { root: root.to_vec(), ..Default::default() }],
            ..Default::default()
        }),
    )
}

/// Chunks of `root` held in `code`'s blob store, from its bitmap.
fn chunks_held(topo: &LocalTopology, code: &str, root: &[u8]) -> usize {
    let path = topo.data_dir(code).join("blobs").join(format!("{}.have", hex::encode(root)));
    std::fs::read(path).unwrap_or_default().iter().map(|b| b.count_ones() as usize).sum()
}

fn fetched(topo: &LocalTopology, code: &str) -> f64 {
    topo.metrics(code).ok().and_then(|m| m.get(FETCHED, &[])).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_mib_reach_the_province_whole_and_a_cut_fetch_resumes_where_it_stopped() {
    // 4 MiB/s: the 20 MiB take about five seconds, long enough to cut.
    let mut topo = demo_with(&[("LINKAGE_DOCUMENTS__FETCH_BYTES_PER_SECOND", "4194304")]);
    let bytes = bytes_of(20 << 20, 1);
    let doc = put(&topo, COUNTY, "关于河西走廊节水灌溉的提案.pdf", &bytes).await.unwrap();
    assert_eq!(doc.size, 20 << 20);
    assert_eq!(doc, linkage_core::documents::describe(&doc.name, &doc.media_type, &bytes));
    let chunks = chunk_count(doc.size);

    // An event naming a document never put here is refused, naming the field.
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let err = county.append(proposal("无附件", &[7; 32])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("payload.proposal_submitted.documents[0].root"), "{err}");
    let event = county.append(proposal("关于河西走廊节水灌溉的提案", &doc.root)).await.unwrap().into_inner();
    let held = event.event.unwrap().event.unwrap();
    let Some(Kind::ProposalSubmitted(p)) = held.payload.and_then(|p| p.kind) else { panic!("a proposal") };
    assert_eq!(p.documents, std::slice::from_ref(&doc), "the node filled in the reference from the root");

    // Cut the province's fetch midway.
    until(Duration::from_secs(60), "the province holds some chunks", async || {
        chunks_held(&topo, PROVINCE, &doc.root) >= chunks / 5
    })
    .await;
    topo.kill9(PROVINCE);
    let before = chunks_held(&topo, PROVINCE, &doc.root);
    assert!(before < chunks, "killed midway: {before} of {chunks} chunks");
    topo.restart(PROVINCE).await.unwrap();
    let held = once_held(&topo, PROVINCE, &doc.root, Duration::from_secs(90)).await;
    assert!(held == bytes, "byte-identical at the province");
    let remainder = (chunks - before) as f64 * f64::from(CHUNK_BYTES);
    let after = fetched(&topo, PROVINCE);
    assert!(
        after <= remainder + f64::from(CHUNK_BYTES),
        "fetched {after} bytes after the restart; the remainder was {remainder} ({before} of {chunks} chunks held)"
    );
    assert!(once_held(&topo, CITY, &doc.root, Duration::from_secs(60)).await == bytes, "and at the city");

    // A county of another city holds no event that refers to it: its own
    // node does not know it, and a raw request to the holder is denied.
    let err = get(&topo, SIBLING, &doc.root).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
    let sibling = liar(&topo, SIBLING).await;
    let subject = format!("lk.{PROVINCE}.doc.{COUNTY}.{SIBLING}");
    let request = pb::DocumentChunkRequest { root: doc.root.clone(), index: 0 }.encode_to_vec();
    let answer = sibling.request(subject, request.into()).await.unwrap();
    let answer = pb::DocumentChunkResponse::decode(answer.payload).unwrap();
    assert_eq!(answer.outcome(), pb::document_chunk_response::Outcome::Denied);
    assert!(answer.data.is_empty());
    // (That it may not ask in another node's name is `security.rs`'s.)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_serving_a_corrupt_chunk_is_caught_at_it_and_the_rest_comes_from_another() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    // The city's node is gone; in its place, a liar with its NKey answers
    // every chunk request with bytes that do not verify.
    topo.kill9(CITY);
    let city = liar(&topo, CITY).await;
    let mut requests = city.subscribe(format!("lk.{PROVINCE}.doc.{CITY}.*")).await.unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    let liar_city = city.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else { continue };
            let Ok(request) = pb::DocumentChunkRequest::decode(message.payload) else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = pb::DocumentChunkResponse {
                outcome: pb::document_chunk_response::Outcome::Ok as i32,
                data: vec![request.index as u8; CHUNK_BYTES as usize],
            };
            let _ = liar_city.publish(reply, answer.encode_to_vec().into()).await;
        }
    });
    // 32 chunks: each holder is asked first for every other one, so a
    // liar never dropped would be asked 16 times.
    let bytes = bytes_of(8 << 20, 2);
    let doc = put(&topo, COUNTY, "调研报告.pdf", &bytes).await.unwrap();
    let mut county = topo.event_log(COUNTY).await.unwrap();
    county.append(proposal("关于乡村养老服务的提案", &doc.root)).await.unwrap();
    let held = once_held(&topo, PROVINCE, &doc.root, Duration::from_secs(60)).await;
    assert!(held == bytes, "byte-identical, from the honest holder");
    let metrics = topo.metrics(PROVINCE).unwrap();
    let corrupt = metrics.value("linkage_document_chunks_corrupt_total", &[]);
    let lies = served.load(std::sync::atomic::Ordering::SeqCst) as f64;
    assert!(corrupt >= 1.0, "the liar was asked and caught");
    assert_eq!(corrupt, lies, "every corrupt chunk was caught as it arrived, none stored");
    // Once one corrupt chunk is caught the liar is asked no more; the few
    // asked before that answer came were in flight, 4 at a time.
    assert!(lies <= 8.0, "the liar is dropped after its first corrupt chunk, not asked for its 16: {lies}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_quota_a_node_keeps_its_events_and_fetches_once_space_is_freed() {
    let topo = demo_with(&[("LINKAGE_DOCUMENTS__QUOTA_BYTES", "6291456")]);
    // The province holds 3 MiB that no event refers to.
    let orphan = put(&topo, PROVINCE, "草稿.pdf", &bytes_of(3 << 20, 3)).await.unwrap();
    let bytes = bytes_of(4 << 20, 4);
    let doc = put(&topo, COUNTY, "提案全文.pdf", &bytes).await.unwrap();
    let mut county = topo.event_log(COUNTY).await.unwrap();
    let event = county.append(proposal("关于中小学校舍改造的提案", &doc.root)).await.unwrap().into_inner();
    let id = event.event.unwrap().event.unwrap().id;

    // The event is stored and folded; its document waits, and says why.
    let mut admin = topo.admin(PROVINCE).await.unwrap();
    until(Duration::from_secs(30), "the province lists the document as waiting for space", async || {
        let listed = admin.list_documents(pb::ListDocumentsRequest { waiting_only: true }).await.unwrap();
        listed.into_inner().documents.iter().any(|d| d.state == "quota" && d.reason.contains("total"))
    })
    .await;
    let mut proposals =
        linkage_proto::v1::proposal_service_client::ProposalServiceClient::new(topo.channel(PROVINCE).await.unwrap());
    let held = proposals.get_proposal(pb::GetProposalRequest { id }).await.unwrap().into_inner().proposal.unwrap();
    assert_eq!(held.title, "关于中小学校舍改造的提案");
    let err = get(&topo, PROVINCE, &doc.root).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");
    until(Duration::from_secs(10), "linkage_documents_waiting{state=\"quota\"} is 1", async || {
        topo.metrics(PROVINCE).ok().and_then(|m| m.get("linkage_documents_waiting", &["state=\"quota\""])) == Some(1.0)
    })
    .await;
    // A new document does not fit either.
    let err = put(&topo, PROVINCE, "又一稿.pdf", &bytes_of(4 << 20, 5)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");

    // Space freed: the document comes.
    let young = admin.collect_documents(pb::CollectDocumentsRequest { older_than_seconds: None }).await.unwrap();
    assert_eq!(young.into_inner().documents, 0, "a document put within the day is kept for its event");
    let freed = admin.collect_documents(pb::CollectDocumentsRequest { older_than_seconds: Some(0) }).await.unwrap();
    assert_eq!(freed.into_inner().bytes, orphan.size);
    assert!(once_held(&topo, PROVINCE, &doc.root, Duration::from_secs(30)).await == bytes, "byte-identical");
}
