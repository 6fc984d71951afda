//! kill -9 at a random moment while many clients append: every
//! acknowledged event is there exactly once after restart, and every
//! (origin, channel) stream stays dense.
//!
//! 20 rounds by default; 200 with `LINKAGE_LONG_TESTS=1`.

use linkage_core::pb;
use linkage_testkit::{long_tests, topology, NodeProcess};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent clients per round.
const CLIENTS: usize = 16;
const CHANNELS: [&str; 4] = ["up", "down", "all", "to:620722"];

/// An acknowledged event, as the client saw it.
#[derive(Clone, Debug, PartialEq)]
struct Ack {
    id: String,
    channel: String,
    seq: u64,
    request: pb::AppendRequest,
}

fn request(client: usize, n: u64, round: usize, rng: &mut impl Rng) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: CHANNELS[rng.gen_range(0..CHANNELS.len())].into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: format!("client {client} 社情民意 {n}"),
                body: format!("round {round} 内容 {n}"),
                ..Default::default()
            })),
        }),
        idempotency_key: format!("r{round}-c{client}-n{n}"),
        ..Default::default()
    }
}

/// Appends until the node dies, recording what was acknowledged.
async fn client_loop(
    node: tonic::transport::Endpoint,
    client: usize,
    round: usize,
    seed: u64,
    acks: Arc<Mutex<Vec<Ack>>>,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let Ok(channel) = node.connect().await else { return };
    let mut client_api = linkage_proto::v1::event_log_service_client::EventLogServiceClient::new(channel);
    let mut n = 0u64;
    loop {
        // Every third call is a batch, to exercise multi-event jobs too.
        let batch: Vec<pb::AppendRequest> =
            (0..if n.is_multiple_of(3) { 4 } else { 1 }).map(|i| request(client, n + i, round, &mut rng)).collect();
        n += batch.len() as u64;
        let result = if batch.len() == 1 {
            client_api.append(batch[0].clone()).await.map(|r| vec![r.into_inner()])
        } else {
            client_api
                .append_batch(pb::AppendBatchRequest { requests: batch.clone(), ..Default::default() })
                .await
                .map(|r| r.into_inner().responses)
        };
        match result {
            Ok(responses) => {
                let mut acks = acks.lock().unwrap();
                for (response, request) in responses.into_iter().zip(batch) {
                    let event = response.event.unwrap().event.unwrap();
                    acks.push(Ack { id: event.id, channel: event.channel, seq: event.seq, request });
                }
            }
            // The node is gone: nothing after this was acknowledged. Any
            // other refusal is a bug in the test or the node.
            Err(status) => {
                assert!(
                    matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled),
                    "an append was refused while the node was up: {status:?}"
                );
                return;
            }
        }
    }
}

/// Reads the whole log and checks it: positions dense, seqs dense per
/// channel, ids unique. Returns id → (channel, seq).
async fn check_log(node: &NodeProcess) -> HashMap<String, (String, u64)> {
    let mut client = node.event_log().await.unwrap();
    let mut by_id = HashMap::new();
    let mut heads: BTreeMap<String, u64> = BTreeMap::new();
    for (stored, position) in linkage_testkit::read_all(&mut client).await.unwrap().into_iter().zip(1..) {
        assert_eq!(stored.position, position, "positions are dense");
        let event = stored.event.unwrap();
        let head = heads.entry(event.channel.clone()).or_default();
        assert_eq!(event.seq, *head + 1, "seqs on {} are dense", event.channel);
        *head = event.seq;
        assert!(by_id.insert(event.id.clone(), (event.channel, event.seq)).is_none(), "id {} twice", event.id);
    }
    // The heads the node reports agree with what it serves.
    let status = node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner();
    for head in status.heads {
        assert_eq!(heads.get(&head.channel).copied().unwrap_or(0), head.seq, "head of {}", head.channel);
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_kill_9() {
    let rounds = if long_tests() { 200 } else { 20 };
    let dir = tempfile::tempdir().unwrap();
    let mut node =
        NodeProcess::start(&linkage_testkit::node_bin(), "620700", &topology("demo.toml"), &dir.path().join("node"))
            .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x11_2026);
    let mut all_acks: Vec<Ack> = Vec::new();
    for round in 0..rounds {
        let acks = Arc::new(Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client_loop(node.endpoint().unwrap(), c, round, rng.gen(), acks.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(30..300))).await;
        node.kill9();
        for c in clients {
            c.await.unwrap();
        }
        node.restart().unwrap();
        let round_acks = acks.lock().unwrap().clone();
        all_acks.extend(round_acks);

        let log = check_log(&node).await;
        for ack in &all_acks {
            assert_eq!(log.get(&ack.id), Some(&(ack.channel.clone(), ack.seq)), "acknowledged event {ack:?} lost");
        }
        // A client that retries an acknowledged request gets the first event back.
        if let Some(ack) = all_acks.last() {
            let mut client = node.event_log().await.unwrap();
            let again = client.append(ack.request.clone()).await.unwrap().into_inner();
            assert!(again.deduplicated);
            assert_eq!(again.event.unwrap().event.unwrap().id, ack.id);
        }
    }
    assert!(all_acks.len() > rounds, "the clients got appends through: {}", all_acks.len());
    eprintln!("{rounds} rounds, {} acknowledged events, all present exactly once", all_acks.len());
}
