//! Keys that change hands (issue 21, item 5; decision 0054), against the
//! real local topology: a county rotates its key under load and nothing is
//! lost or refused; an ejected county's new events are refused at every
//! node while what it wrote before stays, and nats-server lets it in no
//! more. The ceremony runs through `linkctl` as `deploy/KEYS.md` tells it.

use linkage_core::{pb, NodeCode, Topology};
use linkage_testkit::topology::LocalTopology;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs linkctl; its stdout, or a panic with its stderr.
fn linkctl(args: &[&str]) -> String {
    let out = std::process::Command::new(linkage_testkit::linkctl_bin()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "linkctl {args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Appends batches of 5 on `channel` at `code` until `stop`; retries a
/// batch (same idempotency keys) while the node restarts. Returns how
/// many events the node acknowledged.
async fn append_until(
    url: impl Fn() -> anyhow::Result<tonic::transport::Endpoint>,
    code: &str,
    channel: &str,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut acknowledged = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    for batch in 0.. {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let requests: Vec<_> = (0..5)
            .map(|i| {
                let mut r = linkage_testkit::info_reported(channel, format!("{code} {batch}-{i}"), "内容");
                r.idempotency_key = format!("{code}-{channel}-{batch}-{i}");
                r
            })
            .collect();
        linkage_testkit::append_batch_retrying(&url, &requests, deadline, || ()).await;
        acknowledged += 5;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    acknowledged
}

/// SIGKILLs and restarts every node, `last` last.
async fn restart_all(topo: &mut LocalTopology, last: &str) {
    let mut codes = topo.codes();
    codes.sort_by_key(|c| c == last);
    for code in codes {
        topo.kill9(&code);
        topo.restart(&code).await.unwrap();
    }
}

/// Rejected events of every reason a node counted.
fn rejected(topo: &LocalTopology, code: &str) -> Vec<String> {
    let metrics = topo.metrics(code).unwrap();
    metrics.body.lines().filter(|l| l.starts_with("linkage_rejected_events_total")).map(str::to_owned).collect()
}

/// A county takes a new key while it and its city and province append:
/// the office makes the key (`linkctl key next`), the province lists it
/// with the old one retired and the overlap open, every node restarts onto
/// that version, the county takes its new key and records where, the
/// province closes the overlap with that record, and every node restarts
/// again. Every acknowledged event reaches every entitled node exactly
/// once, and no node refused a single event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_under_load_loses_nothing() {
    const COUNTY: &str = "620722";
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let workdir = topo.workdir.path().to_owned();
    let old = topo.signing_key(COUNTY).verifying_key();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = [("620722", "up"), ("620700", "down"), ("620000", "down")];
    let tasks: Vec<_> = writers
        .iter()
        .map(|&(code, channel)| tokio::spawn(append_until(topo.endpoint_following(code), code, channel, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The office: a next key beside its key, public keys out.
    let key_file = workdir.join("nodes").join(COUNTY).join("node.key");
    let printed: toml::Table = toml::from_str(&linkctl(&["key", "next", "--key-file", path(&key_file)])).unwrap();
    let (public_key, nats_key) = (printed["public_key"].as_str().unwrap(), printed["nats_key"].as_str().unwrap());
    // The province: the new key current, the old retired, overlap open.
    let enrolled = workdir.join("topology.toml");
    let rotate = workdir.join("rotate.toml");
    linkctl(&[
        "topology",
        "rotate",
        path(&enrolled),
        "--node",
        COUNTY,
        "--public-key",
        public_key,
        "--nats-key",
        nats_key,
        "--out",
        path(&rotate),
    ]);
    linkctl(&["local", "publish", path(&workdir), path(&rotate)]);
    restart_all(&mut topo, COUNTY).await;
    assert_eq!(hex::encode(topo.signing_key(COUNTY).verifying_key().as_bytes()), public_key, "took the new key");
    assert_ne!(topo.signing_key(COUNTY).verifying_key(), old);
    let record = workdir.join("nodes").join(COUNTY).join(linkage_core::signers::ROTATION_RECORD);
    let written: linkage_core::signers::RotationRecord =
        toml::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert!(written.until["up"] > 0, "the old key signed some of up: {written:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Counted before the next restarts reset the counters: during the
    // overlap, events of either key are taken.
    for code in topo.codes() {
        assert_eq!(rejected(&topo, &code), Vec::<String>::new(), "{code} refused events during the overlap");
    }

    // The province closes the overlap with the county's record.
    let close = workdir.join("close.toml");
    linkctl(&["topology", "close-overlap", path(&enrolled), "--record", path(&record), "--out", path(&close)]);
    linkctl(&["local", "publish", path(&workdir), path(&close)]);
    restart_all(&mut topo, COUNTY).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    let mut acknowledged = Vec::new();
    for (writer, task) in writers.into_iter().zip(tasks) {
        acknowledged.push((writer, task.await.unwrap()));
    }

    let codes = topo.codes();
    let holdings = topo.converge(&codes, Duration::from_secs(120)).await;
    let topology = Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();
    assert_eq!(topology.version(), Some(3));
    eprintln!("acknowledged {acknowledged:?}; the old key signed {:?}", written.until);
    for ((origin, channel), n) in acknowledged {
        let (origin_code, audience) = (origin.parse::<NodeCode>().unwrap(), channel.parse().unwrap());
        for code in &codes {
            let seqs: Vec<u64> =
                holdings[code].keys().filter(|k| k.0 == origin && k.1 == channel).map(|k| k.2).collect();
            let entitled =
                linkage_core::channel::entitled(&topology, code.parse().unwrap(), origin_code, &audience, |_| false);
            let want: Vec<u64> = if entitled { (1..=n).collect() } else { Vec::new() };
            assert_eq!(seqs, want, "{code} holds {origin}/{channel}");
        }
    }
    for code in &codes {
        assert_eq!(rejected(&topo, code), Vec::<String>::new(), "{code} refused events");
    }
}

/// Appends `n` events on `up` at `code`.
async fn append(topo: &LocalTopology, code: &str, n: u64) {
    let requests = (0..n).map(|i| linkage_testkit::info_reported("up", format!("{code} {i}"), "内容")).collect();
    let mut client = topo.event_log(code).await.unwrap();
    client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap();
}

/// The seqs of (origin, channel) a node holds.
async fn seqs(topo: &LocalTopology, code: &str, origin: &str, channel: &str) -> Vec<u64> {
    let held = topo.holdings(code).await.unwrap();
    held.keys().filter(|k| k.0 == origin && k.1 == channel).map(|k| k.2).collect()
}

/// Waits until `code` holds exactly `want` of (origin, up).
async fn wait_holds(topo: &LocalTopology, code: &str, origin: &str, want: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = seqs(topo, code, origin, "up").await;
        if held == want {
            return;
        }
        assert!(Instant::now() < deadline, "{code} holds {origin}/up {held:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `code` has counted refused events of the ejected office.
async fn wait_refused(topo: &LocalTopology, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while rejected(topo, code).iter().all(|l| !l.contains("reason=\"ejected\"")) {
        assert!(Instant::now() < deadline, "{code} never refused the ejected office's events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The province ejects a county from seq 6 of its `up` stream after it has
/// stored seqs 1–8. Its city was down meanwhile; restarted on the new
/// version, it pulls the county's past from a holder that has more and
/// keeps seqs 1–5, no more. The county — compromised, still running the
/// old topology, and still let in by the broker for this part of the test
/// — appends on: the province refuses those events. Restarted with the new
/// topology, the office itself refuses to start; once nats-server has the
/// version's logins, its key is not let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ejected_office_is_refused_everywhere_and_keeps_its_past() {
    const COUNTY: &str = "620622";
    const CITY: &str = "620600";
    const PROVINCE: &str = "620000";
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let workdir = topo.workdir.path().to_owned();
    topo.kill9(CITY);
    // Two commits: seqs 1–5 and 6–8, each signed at its end.
    append(&topo, COUNTY, 5).await;
    append(&topo, COUNTY, 3).await;
    let (past, stored) = ((1..=5).collect::<Vec<u64>>(), (1..=8).collect::<Vec<u64>>());
    wait_holds(&topo, PROVINCE, COUNTY, &stored).await;

    // The province ejects it from seq 6 of up (its other streams from 1),
    // and signs that version; every node but the county restarts onto it.
    let enrolled = workdir.join("topology.toml");
    let eject = workdir.join("eject.toml");
    linkctl(&["topology", "eject", path(&enrolled), "--node", COUNTY, "--from", "up=6", "--out", path(&eject)]);
    let key = workdir.join("pki/topology.key");
    linkctl(&["topology", "sign", path(&eject), "--key", path(&key), "--out", path(&enrolled)]);
    for code in topo.codes().into_iter().filter(|c| c != COUNTY && c != CITY) {
        topo.kill9(&code);
        topo.restart(&code).await.unwrap();
    }
    // The city catches up from holders with seqs 1–8: it keeps the past.
    // (Whether a page crossing the bound reaches it depends on when it
    // hears whose heads: its claims are capped at the bound.)
    topo.restart(CITY).await.unwrap();
    wait_holds(&topo, CITY, COUNTY, &past).await;

    // The office appends on; the province refuses it.
    append(&topo, COUNTY, 2).await;
    assert_eq!(seqs(&topo, COUNTY, COUNTY, "up").await, (1..=10).collect::<Vec<_>>(), "the office took them");
    wait_refused(&topo, PROVINCE).await;
    wait_refused(&topo, CITY).await;
    // Heads keep flowing for a while: nothing more is taken or pulled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(seqs(&topo, PROVINCE, COUNTY, "up").await, stored, "stored before the ejection, nothing after");
    assert_eq!(seqs(&topo, CITY, COUNTY, "up").await, past, "the city keeps the past only");

    // The office itself, restarted onto the new version, does not start.
    topo.kill9(COUNTY);
    assert!(topo.restart(COUNTY).await.is_err(), "an ejected office started");
    let log = std::fs::read_to_string(workdir.join("nodes").join(COUNTY).join("node.log")).unwrap();
    assert!(log.contains("is ejected from the topology"), "{log}");

    // nats-server with that version's logins: the ejected key is refused,
    // another county's still comes in (the control).
    linkctl(&["local", "publish", path(&workdir), path(&eject)]);
    let (ca, cert, key) = topo.nats_tls().unwrap();
    let connect = |code: &str| {
        async_nats::ConnectOptions::with_nkey(topo.nats_seed(code))
            .require_tls(true)
            .add_root_certificates(ca.clone())
            .add_client_certificate(cert.clone(), key.clone())
            .connection_timeout(Duration::from_secs(5))
            .connect(topo.nats_url())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while connect(COUNTY).await.is_ok() {
        assert!(Instant::now() < deadline, "nats-server still lets the ejected office in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(connect("620102").await.is_ok(), "the control: another county logs in");
}
