//! A disk that fills up under load. The real node runs with a file-size
//! limit (`RLIMIT_FSIZE`), so that its writes past it fail as a full
//! disk's do (`EFBIG` rather than `ENOSPC`, the same path through the
//! node): appends are refused with UNAVAILABLE naming the cause, nothing
//! acknowledged is lost, reads go on, the node says it refuses writes, and
//! once restarted with room it serves everything and takes appends again.
//! Clients retry what was refused with the same idempotency keys, as the
//! README tells them to, and every request then stands exactly once.

use linkage_core::pb;
use linkage_testkit::{info_reported, topology, NodeProcess};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients, each alternating single appends and batches.
const CLIENTS: usize = 4;

/// Events per `AppendBatch`.
const BATCH: usize = 10;

/// Room left for the files to grow past their size at the restart: about
/// 1,500 events of [`BODY_CHARS`], filled in about a second.
const ROOM_BYTES: u64 = 3 << 20;

/// Characters of every event's body (3 bytes each): large, so that the
/// room fills quickly.
const BODY_CHARS: usize = 660;

/// Calls one client makes at most, and how long all of them may take: the
/// room fills long before either.
const CALLS_MAX: usize = 5_000;
const DURATION_MAX: Duration = Duration::from_secs(300);

/// Calls each client makes up to and including its first refusals:
/// refused once, refused for good.
const REFUSALS_PER_CLIENT: usize = 3;

/// What the refusals must say: the cause, as the operating system gave it.
const CAUSE: &str = "File too large";

/// What the clients learned: the events acknowledged to them (id → seq),
/// the titles of every request they sent, and the calls refused.
#[derive(Default)]
struct Outcome {
    acked: HashMap<String, u64>,
    sent: BTreeSet<String>,
    refused: Vec<(tonic::Status, Vec<pb::AppendRequest>)>,
}

/// An append whose title tells it apart, with an idempotency key.
fn request(title: String) -> pb::AppendRequest {
    pb::AppendRequest { idempotency_key: title.clone(), ..info_reported("up", title, &"满".repeat(BODY_CHARS)) }
}

/// Sends `requests` as one `Append` (one request) or one `AppendBatch`,
/// and returns the events that answer them.
async fn send(
    log: &mut pb::event_log_service_client::EventLogServiceClient<tonic::transport::Channel>,
    requests: Vec<pb::AppendRequest>,
) -> Result<Vec<pb::StoredEvent>, tonic::Status> {
    if let [one] = &requests[..] {
        return Ok(log.append(one.clone()).await?.into_inner().event.into_iter().collect());
    }
    let answer = log.append_batch(pb::AppendBatchRequest { requests, view: 0 }).await?.into_inner();
    Ok(answer.responses.into_iter().filter_map(|a| a.event).collect())
}

async fn client_loop(node: tonic::transport::Endpoint, client: usize, outcome: Arc<Mutex<Outcome>>) {
    let mut log = pb::event_log_service_client::EventLogServiceClient::new(node.connect().await.unwrap());
    let deadline = Instant::now() + DURATION_MAX;
    let mut refused = 0;
    for call in 0..CALLS_MAX {
        if Instant::now() > deadline {
            break;
        }
        let events = if call % 2 == 0 { 1 } else { BATCH };
        let requests: Vec<_> = (0..events).map(|n| request(format!("client {client} call {call} event {n}"))).collect();
        let answer = send(&mut log, requests.clone()).await;
        let mut outcome = outcome.lock().unwrap();
        outcome.sent.extend(requests.iter().map(|r| title(r.payload.as_ref())));
        match answer {
            Ok(events) => {
                assert_eq!(events.len(), requests.len());
                for stored in events {
                    let event = stored.event.unwrap();
                    outcome.acked.insert(event.id, event.seq);
                }
            }
            Err(status) => {
                outcome.refused.push((status, requests));
                refused += 1;
                if refused == REFUSALS_PER_CLIENT {
                    return;
                }
            }
        }
    }
}

fn title(payload: Option<&pb::Payload>) -> String {
    match payload.and_then(|p| p.kind.as_ref()) {
        Some(pb::payload::Kind::InfoReported(info)) => info.title.clone(),
        other => panic!("not an InfoReported: {other:?}"),
    }
}

/// What the node serves from position 1: id → (seq, title), checking that
/// positions and seqs are dense and that no id and no title comes twice.
async fn served(node: &NodeProcess) -> HashMap<String, (u64, String)> {
    let mut log = node.event_log().await.unwrap();
    let (mut by_id, mut titles) = (HashMap::new(), BTreeSet::new());
    for (stored, position) in linkage_testkit::read_all(&mut log).await.unwrap().into_iter().zip(1..) {
        assert_eq!(stored.position, position, "positions are dense");
        let event = stored.event.unwrap();
        assert_eq!(event.seq, position, "seqs on up are dense");
        let title = title(event.payload.as_ref());
        assert!(titles.insert(title.clone()), "{title} stored twice");
        assert!(by_id.insert(event.id.clone(), (event.seq, title)).is_none(), "event {} twice", event.id);
    }
    by_id
}

/// Checks that every acknowledged event is served at its seq.
fn assert_served(served: &HashMap<String, (u64, String)>, acked: &HashMap<String, u64>) {
    for (id, seq) in acked {
        assert_eq!(served.get(id).map(|(s, _)| s), Some(seq), "acknowledged event {id} at seq {seq}");
    }
}

/// The largest file under `dir`.
fn largest_file(dir: &std::path::Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        largest = largest.max(if meta.is_dir() { largest_file(&entry.path()) } else { meta.len() });
    }
    largest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--metrics-listen", "127.0.0.1:0"];
    let mut node =
        NodeProcess::start_with(&linkage_testkit::node_bin(), "620722", &topology("demo.toml"), dir.path(), &extra)
            .unwrap();
    let mut log = node.event_log().await.unwrap();
    let mut outcome = Outcome::default();
    for n in 0..10 {
        let title = format!("before {n}");
        let event = send(&mut log, vec![request(title.clone())]).await.unwrap().remove(0).event.unwrap();
        outcome.acked.insert(event.id, event.seq);
        outcome.sent.insert(title);
    }
    assert!(node.terminate().unwrap().success());

    // The disk fills while clients append.
    node.limit_file_size(Some(largest_file(dir.path()) + ROOM_BYTES));
    node.restart().unwrap();
    let shared = Arc::new(Mutex::new(outcome));
    let clients: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(client_loop(node.endpoint().unwrap(), c, shared.clone()))).collect();
    for client in clients {
        client.await.unwrap();
    }
    let outcome = std::mem::take(&mut *shared.lock().unwrap());
    assert!(outcome.acked.len() > 100, "only {} appends fit in the room left", outcome.acked.len());
    assert_eq!(outcome.refused.len(), REFUSALS_PER_CLIENT * CLIENTS, "every client is refused in the end");
    for (status, _) in &outcome.refused {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains(CAUSE), "the refusal names the cause: {status:?}");
    }

    // Still serving reads: every acknowledged event, nothing unacknowledged.
    let full = served(&node).await;
    assert_served(&full, &outcome.acked);
    assert_eq!(full.len(), outcome.acked.len(), "only acknowledged events are served");
    let status = node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner();
    assert!(!status.writable);
    assert_eq!(node.metrics().unwrap().value("linkage_store_writable", &[]), 0.0);
    // Health stays SERVING: the node still answers reads and queries.
    let health = node.health().await.unwrap().check(tonic_health::pb::HealthCheckRequest::default()).await;
    assert_eq!(health.unwrap().into_inner().status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    let mut log = node.event_log().await.unwrap();
    let later = log.append(info_reported("up", "later".into(), "仍满")).await.unwrap_err();
    assert_eq!(later.code(), tonic::Code::Unavailable);
    assert!(later.message().contains("restart the node"), "the refusal says what to do: {later:?}");
    assert!(node.terminate().unwrap().success(), "SIGTERM stops it cleanly all the same");

    // Room again: a restart serves everything acknowledged, and the refused
    // requests, retried with their keys, each stand once.
    node.limit_file_size(None);
    node.restart().unwrap();
    assert_served(&served(&node).await, &outcome.acked);
    assert_eq!(node.metrics().unwrap().value("linkage_store_writable", &[]), 1.0);
    let mut log = node.event_log().await.unwrap();
    for (_, requests) in outcome.refused {
        let events = send(&mut log, requests.clone()).await.unwrap();
        assert_eq!(events.len(), requests.len(), "a retry answers every request");
    }
    let after = served(&node).await;
    assert_served(&after, &outcome.acked);
    let titles: BTreeSet<String> = after.into_values().map(|(_, title)| title).collect();
    assert_eq!(titles, outcome.sent, "every request stands once, and nothing else");
}
