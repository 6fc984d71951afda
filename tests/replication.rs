//! Three levels linked over a real nats-server, with real node processes:
//! each node ends up with exactly the events it is entitled to, through
//! crashes, a broker restart and a province outage.

use linkage_core::pb::payload::Kind;
use linkage_core::{pb, NodeCode, Topology};
use linkage_testkit::topology::LocalTopology;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batches each side has appended when a test injects its fault: the
/// traffic is flowing, and most of it is still to come.
const FLOWING_BATCHES: usize = 3;

type Key = (String, String, u64);

fn demo() -> PathBuf {
    linkage_testkit::topology("demo.toml")
}

fn info(title: String) -> Option<pb::Payload> {
    Some(pb::Payload {
        kind: Some(Kind::InfoReported(pb::InfoReported { title, body: "内容".into(), ..Default::default() })),
    })
}

fn request(channel: &str, title: String, key: String) -> pb::AppendRequest {
    pb::AppendRequest { channel: channel.into(), payload: info(title), idempotency_key: key, ..Default::default() }
}

/// What an appender has done so far: a test waits on it and checks that
/// its fault landed while the appends were still going.
#[derive(Default)]
struct Progress {
    /// Batches the node acknowledged.
    acknowledged: AtomicUsize,
    /// Attempts the node did not answer (it was down, say) and that were
    /// made again.
    retried: AtomicUsize,
}

/// Appends `batches` × `size` events on `channel` at `code`, retrying each
/// batch (same idempotency keys) until the node takes it.
async fn append_many(
    url_of: impl Fn() -> anyhow::Result<tonic::transport::Endpoint>,
    code: &str,
    channel: &str,
    batches: usize,
    size: usize,
) {
    append_tagged(url_of, code, channel, batches, size, "", &Progress::default()).await
}

/// [`append_many`] with a tag that keeps idempotency keys apart between
/// calls, counting into `progress`.
async fn append_tagged(
    url_of: impl Fn() -> anyhow::Result<tonic::transport::Endpoint>,
    code: &str,
    channel: &str,
    batches: usize,
    size: usize,
    tag: &str,
    progress: &Progress,
) {
    for b in 0..batches {
        let requests: Vec<_> = (0..size)
            .map(|i| {
                request(channel, format!("{code} {channel} {tag}{b}-{i}"), format!("{code}-{channel}-{tag}{b}-{i}"))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        let retried = || {
            progress.retried.fetch_add(1, Ordering::AcqRel);
        };
        linkage_testkit::append_batch_retrying(&url_of, &requests, deadline, retried).await;
        progress.acknowledged.fetch_add(1, Ordering::AcqRel);
    }
}

fn digest(held: &BTreeMap<Key, pb::Event>, filter: impl Fn(&Key) -> bool) -> Vec<u8> {
    use prost::Message;
    let mut bytes = Vec::new();
    for (key, event) in held.iter().filter(|(k, _)| filter(k)) {
        bytes.extend_from_slice(format!("{key:?}").as_bytes());
        bytes.extend_from_slice(&event.encode_to_vec());
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_holds_exactly_its_share() {
    let topo = LocalTopology::up(&demo(), linkage_testkit::bin_dir()).unwrap();
    let codes = topo.codes();
    let topology = Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();
    // A joint group first, so that members can use its channel.
    let group = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload {
            kind: Some(Kind::GroupFormed(pb::GroupFormed {
                group_id: "620000-hexi-water".into(),
                title: "河西走廊节水农业联动调研组".into(),
                lead: "620000".into(),
                members: vec!["620700".into(), "620722".into(), "620622".into()],
                topic_ids: vec![],
                rules: linkage_core::rules::GROUP_RULES,
            })),
        }),
        ..Default::default()
    };
    topo.event_log("620000").await.unwrap().append(group).await.unwrap();
    topo.converge(&codes, Duration::from_secs(30)).await;

    for code in &codes {
        let me: NodeCode = code.parse().unwrap();
        let node = topology.node(me).unwrap();
        let mut channels =
            vec!["all".to_owned(), format!("to:{}", node.parent.unwrap_or_else(|| topology.children(me)[0]))];
        if node.parent.is_some() {
            channels.push("up".into());
        }
        if !topology.children(me).is_empty() {
            channels.push("down".into());
        }
        if ["620000", "620700", "620722", "620622"].contains(&code.as_str()) {
            channels.push("group:620000-hexi-water".into());
        }
        for channel in channels {
            append_many(topo.endpoint_following(code), code, &channel, 1, 5).await;
        }
    }
    let holdings = topo.converge(&codes, Duration::from_secs(60)).await;
    // Everyone is entitled to `all` and to the province's `down`: identical digests.
    let shared = |k: &Key| k.1 == "all" || (k.0 == "620000" && k.1 == "down");
    let reference = digest(&holdings["620722"], shared);
    assert!(!reference.is_empty());
    for (code, held) in &holdings {
        assert_eq!(digest(held, shared), reference, "{code} differs on the shared streams");
    }
    // The group's members hold its stream; 城关区 does not.
    assert!(holdings["620622"].keys().any(|k| k.1 == "group:620000-hexi-water" && k.0 == "620722"));
    assert!(!holdings["620102"].keys().any(|k| k.1 == "group:620000-hexi-water"));
}

/// A county (or the broker) goes away while 10,000 events flow both ways.
async fn flow_with_outage(kill_broker: bool) {
    let mut topo = LocalTopology::up(&demo(), linkage_testkit::bin_dir()).unwrap();
    let codes = topo.codes();
    // Follow restarts: the node rewrites grpc.addr when it comes back.
    let urls = |code: &'static str, topo: &LocalTopology| topo.endpoint_following(code);
    // 10,000 events; 100,000 with LINKAGE_LONG_TESTS=1.
    let batches = if linkage_testkit::long_tests() { 500 } else { 50 };
    let per_side = batches * 100;
    let (down_progress, up_progress) = (Arc::new(Progress::default()), Arc::new(Progress::default()));
    let down = tokio::spawn({
        let (url, progress) = (urls("620000", &topo), down_progress.clone());
        async move { append_tagged(url, "620000", "down", batches, 100, "", &progress).await }
    });
    let up = tokio::spawn({
        let (url, progress) = (urls("620722", &topo), up_progress.clone());
        async move { append_tagged(url, "620722", "up", batches, 100, "", &progress).await }
    });
    // The fault lands once both sides have appended a few batches, and
    // must land before either has finished (checked below).
    let deadline = Instant::now() + Duration::from_secs(60);
    let acknowledged = |p: &Progress| p.acknowledged.load(Ordering::Acquire);
    while acknowledged(&down_progress) < FLOWING_BATCHES || acknowledged(&up_progress) < FLOWING_BATCHES {
        assert!(Instant::now() < deadline, "the appends did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_fault = [acknowledged(&down_progress), acknowledged(&up_progress)];
    let retried_before = up_progress.retried.load(Ordering::Acquire);
    if kill_broker {
        topo.kill_nats();
    } else {
        topo.kill9("620722");
    }
    let in_fault = [acknowledged(&down_progress), acknowledged(&up_progress)];
    if kill_broker {
        // Both sides replicate through the broker: traffic of either
        // still being appended means the outage met it.
        assert!(
            in_fault.iter().any(|n| *n < batches),
            "the broker must die while appends go on: {in_fault:?} of {batches} batches acknowledged by then"
        );
    } else {
        assert!(
            in_fault[1] < batches,
            "the county must die while it appends: {} of {batches} batches acknowledged by then",
            in_fault[1]
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    if kill_broker {
        topo.restart_nats().unwrap();
    } else {
        // The county's appends met the outage: refused, and made again.
        let retried = up_progress.retried.load(Ordering::Acquire) - retried_before;
        assert!(retried > 0, "no append of the county's met the outage");
        topo.restart("620722").await.unwrap();
    }
    down.await.unwrap();
    up.await.unwrap();
    eprintln!(
        "fault after {at_fault:?} of {batches} batches per side; retried {}",
        up_progress.retried.load(Ordering::Acquire)
    );
    let holdings = topo.converge(&codes, Duration::from_secs(if per_side > 5000 { 600 } else { 120 })).await;
    let count = |code: &str, origin: &str, channel: &str| {
        let seqs: Vec<u64> = holdings[code].keys().filter(|k| k.0 == origin && k.1 == channel).map(|k| k.2).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{code}: {origin}/{channel} is dense");
        seqs.len()
    };
    assert_eq!(count("620722", "620000", "down"), per_side, "the county got every province event once");
    assert_eq!(count("620000", "620722", "up"), per_side, "the province got every county event once");
    assert_eq!(count("620700", "620722", "up"), per_side);
    assert_eq!(count("620622", "620000", "down"), per_side);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_killed_mid_stream_converges() {
    flow_with_outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_killed_mid_stream_converges() {
    flow_with_outage(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_province_down_a_county_catches_up_from_its_city() {
    let mut topo = LocalTopology::up(&demo(), linkage_testkit::bin_dir()).unwrap();
    append_many(topo.endpoint_following("620000"), "620000", "down", 2, 100).await;
    topo.converge(&topo.codes(), Duration::from_secs(60)).await;
    topo.kill9("620722");
    append_tagged(topo.endpoint_following("620000"), "620000", "down", 2, 100, "second ", &Progress::default()).await;
    // Wait until the city holds all 400, then take the province away.
    let deadline = Instant::now() + Duration::from_secs(60);
    while topo.holdings("620700").await.unwrap().keys().filter(|k| k.0 == "620000" && k.1 == "down").count() < 400 {
        assert!(Instant::now() < deadline, "the city did not get the province's events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    topo.kill9("620000");
    topo.restart("620722").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = topo.holdings("620722").await.unwrap_or_default();
        let n = held.keys().filter(|k| k.0 == "620000" && k.1 == "down").count();
        if n == 400 {
            break;
        }
        assert!(Instant::now() < deadline, "the county has {n} of 400 province events with the province down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Three nats-servers in a cluster, the demo's seven nodes spread across
/// them (each node's URL list starts at another server), and one server
/// kill -9'd and restarted every 10 s, never two down at once, under
/// steady appends at every level: every acknowledged event reaches every
/// node entitled to it, once. Three rounds here; twelve (two minutes)
/// with LINKAGE_LONG_TESTS=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_losing_a_server_every_ten_seconds_loses_nothing() {
    const SERVERS: usize = 3;
    let mut topo = LocalTopology::up_with_brokers(&demo(), linkage_testkit::bin_dir(), SERVERS).unwrap();
    let codes = topo.codes();
    let rounds = if linkage_testkit::long_tests() { 12 } else { 3 };
    let stop = Arc::new(AtomicBool::new(false));
    let writers = [("620000", "down"), ("620700", "down"), ("620700", "up"), ("620722", "up"), ("620622", "up")];
    let mut tasks = Vec::new();
    for (code, channel) in writers {
        let (url, stop) = (topo.endpoint_following(code), stop.clone());
        tasks.push(tokio::spawn(async move {
            let progress = Progress::default();
            let mut batches = 0;
            while !stop.load(Ordering::Acquire) {
                append_tagged(&url, code, channel, 1, 10, &format!("r{batches}-"), &progress).await;
                batches += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            batches * 10
        }));
    }
    // Node k's URL list starts at server k mod 3 (codes in order): while
    // server i is down, node i (the province, 兰州市, 城关区) must move to
    // another server, which a marker it appends reaching a peer shows; only
    // then does server i come back.
    let movers = [("620000", "down", "620700"), ("620100", "down", "620102"), ("620102", "up", "620000")];
    assert_eq!(codes[..SERVERS], movers.map(|m| m.0.to_owned()), "node order");
    for round in 0..rounds {
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let i = round % SERVERS;
        tokio::task::block_in_place(|| topo.kill_nats_server(i));
        let (mover, channel, peer) = movers[i];
        let tag = format!("moved-{round}-");
        append_tagged(topo.endpoint_following(mover), mover, channel, 1, 1, &tag, &Progress::default()).await;
        // Its stream at the mover, marker included; streams apply in order.
        let marker = head_of(&topo, mover, mover, channel).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while head_of(&topo, peer, mover, channel).await < marker {
            assert!(Instant::now() < deadline, "{mover} did not move off server {i}: {peer} lacks its seq {marker}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "round {round}: {mover} moved off server {i}; its marker reached {peer} {:?} after the kill",
            started.elapsed() - Duration::from_secs(5)
        );
        // Down for about 5 s of every 10, one server at a time.
        tokio::time::sleep(Duration::from_secs(10).saturating_sub(started.elapsed())).await;
        tokio::task::block_in_place(|| topo.restart_nats_server(i)).unwrap();
    }
    let last_restart = Instant::now();
    stop.store(true, Ordering::Release);
    let mut acknowledged = BTreeMap::new();
    for ((code, channel), task) in writers.into_iter().zip(tasks) {
        acknowledged.insert((code, channel), task.await.unwrap());
    }
    // The markers too: one per round, on the movers' streams.
    for round in 0..rounds {
        let (mover, channel, _) = movers[round % SERVERS];
        *acknowledged.entry((mover, channel)).or_insert(0) += 1;
    }
    let holdings = topo.converge(&codes, Duration::from_secs(120)).await;
    eprintln!(
        "{rounds} servers killed; converged {:?} after the last restart; acknowledged {acknowledged:?}",
        last_restart.elapsed()
    );
    let topology = Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();
    for ((origin, channel), n) in &acknowledged {
        let (origin_code, audience) = (origin.parse::<NodeCode>().unwrap(), channel.parse().unwrap());
        for code in &codes {
            let seqs: Vec<u64> =
                holdings[code].keys().filter(|k| k.0 == *origin && k.1 == *channel).map(|k| k.2).collect();
            let entitled =
                linkage_core::channel::entitled(&topology, code.parse().unwrap(), origin_code, &audience, |_| false);
            let want: Vec<u64> = if entitled { (1..=*n as u64).collect() } else { Vec::new() };
            assert_eq!(seqs, want, "{code} holds {origin}/{channel}");
        }
    }
}

/// A nats-server on this machine, killed on drop.
struct Rogue(std::process::Child);

impl Drop for Rogue {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server that tries to join the cluster as a route, showing `route`
/// (certificate, key, CA), with open client access on its own port; a
/// client of it subscribed to the whole province.
async fn rogue_route(
    dir: &std::path::Path,
    route_to: &str,
    route: &linkage_pki::ServerFiles,
) -> (Rogue, async_nats::Subscriber) {
    // Both probed while the other is held, so that they differ.
    let held =
        [std::net::TcpListener::bind("127.0.0.1:0").unwrap(), std::net::TcpListener::bind("127.0.0.1:0").unwrap()];
    let [port, cluster_port] = held.map(|l| l.local_addr().unwrap().port());
    let conf = dir.join(format!("rogue-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "host: \"127.0.0.1\"\nport: {port}\ncluster {{\n  name: \"linkage-620000\"\n  listen: \"127.0.0.1:{cluster_port}\"\n  \
             tls {{\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    ca_file: \"{}\"\n    verify: true\n  }}\n  routes: [\"nats-route://{route_to}\"]\n}}\n",
            route.cert.display(),
            route.key.display(),
            route.client_ca.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("rogue-{port}.log"))).unwrap();
    let child = std::process::Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let rogue = Rogue(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match async_nats::connect(format!("nats://127.0.0.1:{port}")).await {
            Ok(client) => break client,
            Err(e) => {
                assert!(Instant::now() < deadline, "the rogue server did not start: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let subscriber = client.subscribe("lk.620000.>").await.unwrap();
    client.flush().await.unwrap();
    // The client's connection lives as long as the subscriber.
    std::mem::forget(client);
    (rogue, subscriber)
}

/// Routes have a CA of their own: a county's certificate, of the
/// province's CA, cannot join the cluster as a route and hear the
/// province's traffic; a broker's route certificate can (the control that
/// shows the first half could fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_certificate_cannot_join_the_cluster_as_a_route() {
    let topo = LocalTopology::up_with_brokers(&demo(), linkage_testkit::bin_dir(), 3).unwrap();
    let work = topo.workdir.path();
    let conf = std::fs::read_to_string(work.join("nats-server-1.conf")).unwrap();
    let cluster = &conf[conf.find("cluster {").expect("a cluster block")..];
    let route_to = cluster.split("listen: \"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let hear = |mut subscriber: async_nats::Subscriber| async move {
        tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut subscriber)).await.ok().flatten()
    };
    // The county's certificate and key, trusting the routes' CA (its
    // certificate is no secret): the brokers must refuse the county.
    let county = linkage_testkit::pki::node_file_paths(&topo.data_dir("620722"));
    let broker = linkage_testkit::pki::node_file_paths(&work.join("nats/route"));
    let county = linkage_pki::ServerFiles { client_ca: broker.client_ca.clone(), ..county };
    let (_county_rogue, overheard) = rogue_route(work, &route_to, &county).await;
    append_many(topo.endpoint_following("620000"), "620000", "down", 1, 5).await;
    assert!(hear(overheard).await.is_none(), "a county's certificate opened a route and heard the province");

    let (_broker_rogue, heard) = rogue_route(work, &route_to, &broker).await;
    // Routes form within a second or two; the province announces its heads every second.
    assert!(hear(heard).await.is_some(), "the control: a route certificate joins and hears the province");
}

/// The head seq `code` holds of (origin, channel); 0 when none.
async fn head_of(topo: &LocalTopology, code: &str, origin: &str, channel: &str) -> u64 {
    let Ok(mut admin) = topo.admin(code).await else { return 0 };
    let Ok(status) = admin.status(pb::StatusRequest {}).await else { return 0 };
    status.into_inner().heads.iter().find(|h| h.origin == origin && h.channel == channel).map_or(0, |h| h.seq)
}
