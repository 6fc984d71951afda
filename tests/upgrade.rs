//! The flag day of issue 21 (decision 0051), with a real node of main
//! before that issue: an office still on the old version keeps appending
//! on its own after the province switched the broker, then upgrades in
//! place — same data directory, same key — and its old events reach its
//! city and province, its stream going on where it stopped.
//!
//! Needs the old binary: `make test-upgrade` builds it from git (07ed98b,
//! the last commit before issue 21: plaintext gRPC, NATS users with
//! passwords, subjects without the province token, log LNKLOG02) and sets
//! `LINKAGE_OLD_NODE`; `make test` skips this test.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use std::time::{Duration, Instant};

const COUNTY: &str = "620722";
const OLD_EVENTS: u64 = 20;
const NEW_EVENTS: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the old node binary: make test-upgrade"]
async fn an_office_upgraded_after_the_flag_day_brings_its_events() {
    let old_bin =
        std::env::var_os("LINKAGE_OLD_NODE").expect("LINKAGE_OLD_NODE: the linkage-node of main before issue 21");
    let workdir = tempfile::tempdir().unwrap();
    let dir = workdir.path().join("nodes").join(COUNTY);
    std::fs::create_dir_all(&dir).unwrap();
    let topology = linkage_testkit::topology("demo.toml");

    // The old version, on its own: the broker has switched and lets it in
    // no more, so it serves its own platform and appends locally.
    let log = std::fs::File::create(dir.join("old-node.log")).unwrap();
    let mut old = std::process::Command::new(&old_bin)
        .args(["--node", COUNTY, "--topology"])
        .arg(&topology)
        .arg("--data-dir")
        .arg(&dir)
        .arg("--key-file")
        .arg(dir.join("node.key"))
        .args(["--grpc-listen", "127.0.0.1:0"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let addr = linkage_testkit::process::wait_for_file(
        &dir.join("grpc.addr"),
        Instant::now() + Duration::from_secs(60),
        "the old node",
    )
    .unwrap();
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", addr.trim())).unwrap();
    let mut client =
        linkage_proto::v1::event_log_service_client::EventLogServiceClient::new(endpoint.connect().await.unwrap());
    let requests =
        (0..OLD_EVENTS).map(|i| linkage_testkit::info_reported("up", format!("old {i}"), "旧版本")).collect();
    client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap();
    linkage_testkit::process::signal(old.id(), nix::sys::signal::Signal::SIGTERM);
    assert!(old.wait().unwrap().success(), "the old node stops cleanly");

    // The upgrade: the new version on the same directory and key, in the
    // switched topology (TLS, NKeys, signed topology, new subjects).
    let mut topo = LocalTopology::up_in(&topology, workdir, linkage_testkit::bin_dir(), 1).unwrap();
    let requests: Vec<_> =
        (0..NEW_EVENTS).map(|i| linkage_testkit::info_reported("up", format!("new {i}"), "新版本")).collect();
    let mut client = topo.event_log(COUNTY).await.unwrap();
    client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap();
    let codes = topo.codes();
    let holdings = topo.converge(&codes, Duration::from_secs(60)).await;
    let want: Vec<u64> = (1..=OLD_EVENTS + NEW_EVENTS).collect();
    for code in [COUNTY, "620700", "620000"] {
        let stream: Vec<_> = holdings[code].iter().filter(|(k, _)| k.0 == COUNTY && k.1 == "up").collect();
        assert_eq!(stream.iter().map(|(k, _)| k.2).collect::<Vec<_>>(), want, "{code} holds {COUNTY}/up");
    }
    // Stored by the old version: no principal (LNKLOG02 kept none); by the
    // new one: the caller's.
    let stored = linkage_testkit::read_all(&mut client).await.unwrap();
    let own: Vec<_> = stored.iter().filter(|s| s.event.as_ref().is_some_and(|e| e.origin == COUNTY)).collect();
    assert!(own[..OLD_EVENTS as usize].iter().all(|s| s.appended_by.is_empty()));
    assert!(own[OLD_EVENTS as usize..].iter().all(|s| s.appended_by == linkage_testkit::pki::OPERATOR));
    // And it survives a restart on the new version.
    topo.kill9(COUNTY);
    topo.restart(COUNTY).await.unwrap();
    let again = topo.holdings(COUNTY).await.unwrap();
    assert_eq!(again.keys().filter(|k| k.0 == COUNTY).count(), want.len());
}
