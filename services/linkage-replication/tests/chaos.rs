//! Deterministic simulation of the demo topology in one process, on the
//! in-process hub: a transport that delivers every message twice, each copy
//! after its own random delay, must end in exactly the same state as a clean
//! one. Real stores (sled in temp dirs), the real engine; only the broker is
//! in-process, as the transport seam allows.

use ed25519_dalek::SigningKey;
use linkage_core::channel::entitled;
use linkage_core::groups::Groups;
use linkage_core::topology::TopologyFile;
use linkage_core::validate::validate_append;
use linkage_core::{pb, Channel, NodeCode, Topology};
use linkage_replication::transport::{Chaos, Hub};
use linkage_replication::{ReplicationConfig, Replicator, Transport};
use linkage_store::{Appender, Store};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const EVENTS_PER_CHANNEL: usize = 40;

fn key(code: NodeCode) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..6].copy_from_slice(code.as_bytes());
    SigningKey::from_bytes(&seed)
}

fn topology() -> Topology {
    let text = include_str!("../../../deploy/topology/demo.toml");
    let mut file: TopologyFile = toml::from_str(text).unwrap();
    for node in &mut file.nodes {
        node.public_key = Some(hex::encode(key(node.code.parse().unwrap()).verifying_key().as_bytes()));
    }
    Topology::from_file(file).unwrap()
}

struct SimNode {
    code: NodeCode,
    store: Store,
    appender: Appender,
    replicator: Replicator,
    _dir: tempfile::TempDir,
}

async fn start(topology: &Arc<Topology>, hub: &Hub, chaos: bool, shutdown: &CancellationToken) -> Vec<SimNode> {
    let config = ReplicationConfig {
        heads_interval: Duration::from_millis(100),
        anti_entropy_interval: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        restore_window: Duration::from_millis(200),
        restore_marker: None,
    };
    let mut nodes = Vec::new();
    for node in topology.nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (appender, _) = Appender::start(store.clone(), node.code, key(node.code)).unwrap();
        let transport: Arc<dyn Transport> = if chaos {
            Arc::new(Chaos::new(hub.connect(node.code), Duration::from_millis(20)))
        } else {
            Arc::new(hub.connect(node.code))
        };
        let replicator = Replicator::start(
            node.code,
            topology.clone(),
            store.clone(),
            appender.clone(),
            transport,
            config.clone(),
            false,
            shutdown.clone(),
        )
        .await
        .unwrap();
        nodes.push(SimNode { code: node.code, store, appender, replicator, _dir: dir });
    }
    for n in &nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !n.replicator.restored() {
            assert!(Instant::now() < deadline, "{} did not finish restoring", n.code);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    nodes
}

/// The same appends in the same order per node, whatever the transport.
async fn workload(topology: &Topology, nodes: &[SimNode]) {
    let mut tasks = Vec::new();
    for n in nodes {
        let me = n.code;
        let t = topology.node(me).unwrap();
        let mut channels = vec!["all".to_owned()];
        if let Some(parent) = t.parent {
            channels.push("up".into());
            channels.push(format!("to:{parent}"));
        }
        if !topology.children(me).is_empty() {
            channels.push("down".into());
        }
        let requests: Vec<_> = (0..EVENTS_PER_CHANNEL)
            .flat_map(|i| {
                channels.iter().map(move |c| pb::AppendRequest {
                    channel: c.clone(),
                    payload: Some(pb::Payload {
                        kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                            title: format!("{me} {c} {i}"),
                            body: "内容".into(),
                            ..Default::default()
                        })),
                    }),
                    ..Default::default()
                })
            })
            .map(|r| validate_append(topology, me, r).unwrap())
            .collect();
        let appender = n.appender.clone();
        tasks.push(tokio::spawn(async move {
            // Small jobs, so that pushes interleave with other nodes' traffic.
            for chunk in requests.chunks(3) {
                appender.append(chunk.to_vec()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

type Holdings = BTreeMap<(String, String, u64), Vec<u8>>;

fn holdings(store: &Store) -> Holdings {
    store
        .read_positions(1, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|s| {
            let e = pb::Event::decode(s.raw.as_ref()).unwrap();
            // What does not depend on the run: the stream position and the payload.
            ((e.origin, e.channel, e.seq), e.payload.unwrap().encode_to_vec())
        })
        .collect()
}

/// Waits until every node holds exactly its entitlement.
async fn converge(topology: &Topology, nodes: &[SimNode]) -> BTreeMap<NodeCode, Holdings> {
    // Seconds when alone; generous for a 2-core machine running 101 nodes beside.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let all: BTreeMap<NodeCode, Holdings> = nodes.iter().map(|n| (n.code, holdings(&n.store))).collect();
        let union: Holdings = all.values().flat_map(|h| h.clone()).collect();
        let groups = Groups::default();
        let done = all.iter().all(|(code, held)| {
            let want: Vec<_> = union
                .keys()
                .filter(|(o, c, _)| {
                    let (o, c): (NodeCode, Channel) = (o.parse().unwrap(), c.parse().unwrap());
                    entitled(topology, *code, o, &c, |g| groups.is_member(g, *code))
                })
                .collect();
            want.len() == held.len() && want.iter().all(|k| held.contains_key(*k))
        });
        if done {
            return all;
        }
        assert!(Instant::now() < deadline, "the simulation did not converge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(chaos: bool) -> BTreeMap<NodeCode, Vec<u8>> {
    let topology = Arc::new(topology());
    let hub = Hub::new();
    let shutdown = CancellationToken::new();
    let nodes = start(&topology, &hub, chaos, &shutdown).await;
    workload(&topology, &nodes).await;
    let held = converge(&topology, &nodes).await;
    shutdown.cancel();
    held.into_iter()
        .map(|(code, h)| {
            let mut hasher = blake3::Hasher::new();
            for ((o, c, s), payload) in &h {
                hasher.update(format!("{o}/{c}/{s}").as_bytes());
                hasher.update(payload);
            }
            (code, hasher.finalize().as_bytes().to_vec())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_messages_change_nothing() {
    let clean = run(false).await;
    let chaotic = run(true).await;
    assert_eq!(clean.len(), 7);
    assert_eq!(clean, chaotic, "per-node digests differ between a clean and a chaotic transport");
}
