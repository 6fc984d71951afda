//! Security against the generated nats-server configuration, with a raw
//! NATS client: a county cannot read another county's reports or publish
//! as another node; forged, unsigned or altered events are rejected and
//! counted; a restored node gets its own events back and never reuses a
//! seq; a fork is reported.

use ed25519_dalek::SigningKey;
use linkage_core::{pb, wire};
use linkage_testkit::topology::LocalTopology;
use prost::Message;
use std::time::{Duration, Instant};

use linkage_tests::liar::{expect_violation, watched as raw_client};

fn key_of(topo: &LocalTopology, code: &str) -> SigningKey {
    topo.signing_key(code)
}

fn event(origin: &str, seq: u64, title: &str, prev_hash: Vec<u8>) -> Vec<u8> {
    pb::Event {
        id: "0190b6c8-7d2e-7abc-8def-0123456789ab".into(),
        origin: origin.into(),
        channel: "up".into(),
        seq,
        hlc: 1 << 40,
        prev_hash,
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: title.into(),
                body: "伪造".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn push(origin: &str, events: Vec<Vec<u8>>, head_seq: u64) -> bytes::Bytes {
    let events = events.into_iter().map(bytes::Bytes::from).collect();
    pb::Push { events, head_seq, origin: origin.into(), channel: "up".into() }.encode_to_vec().into()
}

async fn replication(topo: &LocalTopology, code: &str) -> pb::ReplicationResponse {
    topo.admin(code).await.unwrap().replication(pb::ReplicationRequest {}).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_permissions_pin_who_speaks_and_who_listens() {
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let (minle, mut minle_errors) = raw_client(&topo, "620722").await;

    // 民乐县 cannot listen to 古浪县's reports …
    let mut eavesdrop = minle.subscribe("lk.620000.ev.620622.up").await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "subscribing to another county's up stream").await;
    let report = pb::AppendRequest {
        channel: "up".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: "古浪县社情民意".into(),
                body: "内容".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    topo.event_log("620622").await.unwrap().append(report).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(2), futures::StreamExt::next(&mut eavesdrop)).await;
    assert!(!matches!(heard, Ok(Some(_))), "民乐县 received 古浪县's traffic");
    // … nor its replies.
    let _ = minle.subscribe("_INBOX_620622.>").await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "subscribing to another node's inbox").await;

    // 民乐县 cannot publish as 古浪县: the province hears nothing.
    let (province, _) = raw_client(&topo, "620000").await;
    let mut listener = province.subscribe("lk.620000.ev.620622.up").await.unwrap();
    province.flush().await.unwrap();
    minle.publish("lk.620000.ev.620622.up", push("620622", vec![], 99)).await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "publishing as another node").await;
    let heard = tokio::time::timeout(Duration::from_secs(1), futures::StreamExt::next(&mut listener)).await;
    assert!(
        !matches!(heard, Ok(Some(m)) if !m.payload.is_empty() && pb::Push::decode(m.payload.clone()).is_ok_and(|p| p.head_seq == 99))
    );
    // Nor ask for events as another node.
    minle.publish("lk.620000.pull.620000.620622", bytes::Bytes::new()).await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "requesting as another node").await;
    // Nor ask for a document's chunk as another node, nor hear another
    // holder's chunk requests.
    minle.publish("lk.620000.doc.620000.620622", bytes::Bytes::new()).await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "asking for a chunk as another node").await;
    let _ = minle.subscribe("lk.620000.doc.620700.*").await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut minle_errors, "hearing another holder's chunk requests").await;
    // Nor speak outside its province's subjects: the scheme before the
    // province token, or another province's.
    for subject in ["lk.ev.620722.up", "lk.610000.ev.620722.up"] {
        minle.publish(subject, bytes::Bytes::new()).await.unwrap();
        minle.flush().await.unwrap();
        expect_violation(&mut minle_errors, subject).await;
    }

    // A city and the province are pinned the same way: 张掖市 may not
    // listen to a county of 武威市 nor speak as the province; the province
    // may not speak as a city.
    let (zhangye, mut zhangye_errors) = raw_client(&topo, "620700").await;
    let _ = zhangye.subscribe("lk.620000.ev.620622.up").await.unwrap();
    zhangye.flush().await.unwrap();
    expect_violation(&mut zhangye_errors, "a city subscribing to another city's county").await;
    zhangye.publish("lk.620000.ev.620000.down", bytes::Bytes::new()).await.unwrap();
    zhangye.flush().await.unwrap();
    expect_violation(&mut zhangye_errors, "a city publishing as the province").await;
    let (province_raw, mut province_errors) = raw_client(&topo, "620000").await;
    province_raw.publish("lk.620000.ev.620700.down", bytes::Bytes::new()).await.unwrap();
    province_raw.flush().await.unwrap();
    expect_violation(&mut province_errors, "the province publishing as a city").await;

    // Forged events on 古浪县's own subject, with its own credentials: rejected, counted, never applied.
    let (gulang, _) = raw_client(&topo, "620622").await;
    let before = replication(&topo, "620000").await.rejected_events;
    let wrong_key = SigningKey::from_bytes(&[9; 32]);
    let real_key = key_of(&topo, "620622");
    let mut altered = wire::sign(event("620622", 2, "被篡改的", vec![7; 32]), &real_key);
    let flip = altered.len() / 2;
    altered[flip] ^= 0x20;
    for forged in [
        event("620622", 2, "未签名的", vec![7; 32]),
        wire::sign(event("620622", 2, "错误密钥", vec![7; 32]), &wrong_key),
        altered,
    ] {
        gulang.publish("lk.620000.ev.620622.up", push("620622", vec![forged], 2)).await.unwrap();
    }
    gulang.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while replication(&topo, "620000").await.rejected_events < before + 3 {
        assert!(Instant::now() < deadline, "the province did not count three rejected events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = topo.holdings("620000").await.unwrap();
    assert!(!held.keys().any(|k| k.0 == "620622" && k.2 >= 2), "a forged event was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_county_restores_its_own_events_and_a_fork_is_reported() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let mut client = topo.event_log("620722").await.unwrap();
    let append = |title: String| pb::AppendRequest {
        channel: "up".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title,
                body: "内容".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    // Appends wait until the county has checked with its peers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(status) = client.append(append("第一条".into())).await {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let batch: Vec<_> = (2..=30).map(|i| append(format!("第{i}条"))).collect();
    client.append_batch(pb::AppendBatchRequest { requests: batch, ..Default::default() }).await.unwrap();
    // Both holders have all 30 before the wipe: restore believes the
    // highest head among the peers that answer within its window, and a
    // slow one with all 30 might not answer in time.
    let deadline = Instant::now() + Duration::from_secs(30);
    for holder in ["620700", "620000"] {
        while topo.holdings(holder).await.unwrap().keys().filter(|k| k.0 == "620722").count() < 30 {
            assert!(Instant::now() < deadline, "{holder} did not get the county's events");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Wipe the store, keep the key, restart.
    topo.kill9("620722");
    std::fs::remove_dir_all(topo.data_dir("620722").join("store")).unwrap();
    topo.restart("620722").await.unwrap();
    let mut client = topo.event_log("620722").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        match client.append(append("恢复后第一条".into())).await {
            Ok(r) => break r.into_inner().event.unwrap().event.unwrap(),
            Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        }
        assert!(Instant::now() < deadline, "the restored county never accepted an append");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(next.seq, 31, "no seq is issued twice");
    let own: Vec<u64> =
        topo.holdings("620722").await.unwrap().keys().filter(|k| k.0 == "620722").map(|k| k.2).collect();
    assert_eq!(own, (1..=31).collect::<Vec<_>>(), "the county has its own events back");

    // A second, different signed event at seq 5: a fork, reported with both events.
    let (raw, _) = raw_client(&topo, "620722").await;
    let forked = wire::sign(event("620722", 5, "分叉", vec![1; 32]), &key_of(&topo, "620722"));
    raw.publish("lk.620000.ev.620722.up", push("620722", vec![forked.clone()], 31)).await.unwrap();
    raw.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let forks =
            topo.admin("620000").await.unwrap().list_forks(pb::ListForksRequest {}).await.unwrap().into_inner().forks;
        if let Some(f) = forks.first() {
            assert_eq!((f.origin.as_str(), f.channel.as_str(), f.seq), ("620722", "up", 5));
            assert_eq!(f.other, forked);
            assert_ne!(f.kept, forked);
            break;
        }
        assert!(Instant::now() < deadline, "the fork was not reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The broker takes clients over TLS only, with a certificate of the
/// province's CA and an NKey the topology lists: a plaintext client is told
/// TLS is required, one with another CA's certificate fails the handshake,
/// an NKey not in the topology or none at all is refused, and a node's own
/// NKey over TLS gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_plaintext_other_cas_and_unknown_keys() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let seed = topo.nats_seed("620722");
    let addr = topo.nats_url().trim_start_matches("nats://").to_owned();

    // Plaintext, by hand: INFO says TLS is required, and a CONNECT in
    // the clear is answered with an error, not +OK or PONG.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
    let info = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let nkey = linkage_core::nkey::public_key(&topo.signing_key("620722"));
    let connect = format!("CONNECT {{\"nkey\":\"{nkey}\",\"verbose\":false}}\r\nPING\r\n");
    let _ = tcp.write_all(connect.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("PONG"), "a plaintext client got in: {answer}");

    // Another CA's certificate.
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = linkage_testkit::pki::Pki::open_or_create(foreign_dir.path()).unwrap();
    let (cert, key) = foreign.client("620722").unwrap();
    let (ca, _, _) = topo.nats_tls().unwrap();
    // Over TLS trusting the topology's CA, showing `cert`.
    let tls_client = |options: async_nats::ConnectOptions, ca, cert, key| {
        options
            .require_tls(true)
            .add_root_certificates(ca)
            .add_client_certificate(cert, key)
            .connection_timeout(Duration::from_secs(5))
            .connect(topo.nats_url())
    };
    let with_nkey = async_nats::ConnectOptions::with_nkey(seed.clone());
    assert!(tls_client(with_nkey, ca, cert, key).await.is_err(), "a certificate of another CA got in");

    // A good certificate but no user: refused. Debian's nats-server
    // 2.9.10 is in CVE-2023-47090's range (an `accounts` block holding
    // only $SYS let clients in without authentication); the generated
    // configuration has no `accounts` block, and this shows the door shut.
    let (ca, cert, key) = topo.nats_tls().unwrap();
    let anonymous = tls_client(async_nats::ConnectOptions::new(), ca, cert, key).await;
    assert!(anonymous.is_err(), "a client without credentials got in");

    // A good certificate and an NKey the topology does not list: a
    // node's event-signing key used as an NKey, and a key of no node.
    for stranger in [topo.signing_key("620722"), ed25519_dalek::SigningKey::from_bytes(&[3; 32])] {
        let seed = nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, stranger.to_bytes()).unwrap().seed().unwrap();
        let (ca, cert, key) = topo.nats_tls().unwrap();
        let unknown = tls_client(async_nats::ConnectOptions::with_nkey(seed), ca, cert, key).await;
        assert!(unknown.is_err(), "an NKey not in the topology got in");
    }

    // The node's own NKey over TLS.
    let (client, _) = raw_client(&topo, "620722").await;
    client.flush().await.unwrap();
}
