//! Peers that lie about what they hold: heads and "who holds my streams?"
//! answers that claim more than the claimant can prove, through a raw NATS
//! client with a node's generated credentials, against real node processes
//! and a real nats-server. A claim only makes a node ask; what is not
//! proved is dropped and counted, and what a peer can make a node hold or
//! do stays bounded.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::*;
use prost::Message;
use std::time::{Duration, Instant};

/// Finding 2 of issue 20: anyone may answer "who holds my streams?" and
/// name any node, and a restoring node waited for the largest head
/// claimed: one answer claiming 10^12 kept a county from appending until
/// it was restarted. Now a claim only says whom to ask, and what the
/// claimant cannot prove is ignored and counted: the county restores what
/// its city holds and appends after it, within a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_finishes_though_a_liar_claims_a_head_nobody_holds() {
    use futures::StreamExt;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let mut county = topo.event_log("620722").await.unwrap();
    for n in 1..=3 {
        let request = pb::AppendRequest {
            channel: "up".into(),
            payload: Some(info(&format!("社情民意 {n}"))),
            ..Default::default()
        };
        county.append(request).await.unwrap();
    }
    until(Duration::from_secs(30), "the city holds the county's items", async || {
        stream(&topo, "620700", "620722", "up").await.len() == 3
    })
    .await;

    // The county loses its store. Another county's credentials answer its
    // "who holds my streams?" in the city's name, claiming 10^12 events.
    topo.kill9("620722");
    std::fs::remove_dir_all(topo.data_dir("620722").join("store")).unwrap();
    let client = liar(&topo, "620622").await;
    let mut who = client.subscribe("lk.620000.who.620722").await.unwrap();
    client.flush().await.unwrap();
    let answering = tokio::spawn({
        let client = client.clone();
        async move {
            while let Some(asked) = who.next().await {
                let claim = |channel: &str| pb::StreamHead {
                    origin: "620722".into(),
                    channel: channel.into(),
                    seq: 1_000_000_000_000,
                };
                for node in ["620700", "620622"] {
                    let heads = pb::HeadsResponse { heads: vec![claim("up"), claim("all")], node: node.into() };
                    let _ = client.publish(asked.reply.clone().unwrap(), heads.encode_to_vec().into()).await;
                }
            }
        }
    });
    let started = Instant::now();
    topo.restart("620722").await.unwrap();
    until(Duration::from_secs(120), "the county finishes its restore under the liar", async || {
        replication(&topo, "620722").await.restored
    })
    .await;
    eprintln!("restored under a liar in {:?}", started.elapsed());
    assert!(ignored(&topo, "620722", "unproved") >= 1.0, "the unproved claims are counted");

    // It holds what the city proved, and appends after it.
    let request =
        pb::AppendRequest { channel: "up".into(), payload: Some(info("社情民意 4")), ..Default::default() };
    let fourth = topo.event_log("620722").await.unwrap().append(request).await.unwrap();
    assert_eq!(fourth.into_inner().event.unwrap().event.unwrap().seq, 4, "no seq is issued twice");
    until(Duration::from_secs(30), "the city gets the fourth item", async || {
        stream(&topo, "620700", "620722", "up").await.len() == 4
    })
    .await;
    answering.abort();
}

/// Finding 4 of issue 20: heads were believed without proof. A county's
/// heads answers gave its city a lag of 4.6·10^18 that never cleared, made
/// it track a stream it may not see and invent thousands of streams, and
/// an empty push claiming 2^63 did the same for the county's own stream.
/// Now a claim only makes the city ask once; what is not proved goes; what
/// it may not see or cannot exist is ignored; streams, metric series and
/// pulls stay bounded; and the province's notices still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_heads_make_a_node_ask_but_never_believe() {
    use futures::StreamExt;
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    topo.event_log("620000").await.unwrap().append(down("通知 1")).await.unwrap();
    until(Duration::from_secs(30), "the city holds the province's notice", async || {
        stream(&topo, "620700", "620000", "down").await.len() == 1
    })
    .await;
    let series_before = topo.metrics("620700").unwrap().body.lines().filter(|l| !l.starts_with('#')).count();

    // 民乐县 turns liar: it answers its city's heads requests with made-up
    // heads, and its pulls with nothing; it announces a head of 2^63.
    topo.kill9("620722");
    let client = liar(&topo, "620722").await;
    let mut asked = client.subscribe("lk.620000.pull.620722.>").await.unwrap();
    client.flush().await.unwrap();
    let mut claims = vec![
        pb::StreamHead { origin: "620000".into(), channel: "down".into(), seq: 4_600_000_000_000_000_000 },
        pb::StreamHead { origin: "620622".into(), channel: "up".into(), seq: 1_000_000_000 },
        pb::StreamHead { origin: "629999".into(), channel: "up".into(), seq: 7 },
        pb::StreamHead { origin: "620722".into(), channel: "up".into(), seq: 1 << 63 },
        // The city may see this stream, the county may not hold it: the
        // city would never ask the county, so the claim could never go.
        pb::StreamHead { origin: "620000".into(), channel: "to:620700".into(), seq: 1_000_000_000 },
    ];
    claims.extend((0..15_000).map(|n| pb::StreamHead {
        origin: "620722".into(),
        channel: format!("group:invented-{n}"),
        seq: 1_000_000,
    }));
    let answering = tokio::spawn({
        let client = client.clone();
        async move {
            while let Some(request) = asked.next().await {
                let answer = match pb::PeerRequest::decode(request.payload) {
                    Ok(pb::PeerRequest { kind: Some(pb::peer_request::Kind::Heads(_)) }) => {
                        pb::HeadsResponse { heads: claims.clone(), node: "620722".into() }.encode_to_vec()
                    }
                    _ => pb::PullResponse::default().encode_to_vec(),
                };
                let _ = client.publish(request.reply.unwrap(), answer.into()).await;
            }
        }
    });
    let announce = pb::Push { events: vec![], head_seq: 1 << 63, origin: "620722".into(), channel: "up".into() };
    // With the county's key: one signed event at seq 2^62 that links to
    // nothing (it verifies alone), and empty pushes on group streams the
    // city is in none of.
    let far = pb::Event {
        id: linkage_core::validate::format_event_id(&linkage_core::ids::event_id(
            "620722".parse().unwrap(),
            1 << 40,
            1 << 30,
        )),
        origin: "620722".into(),
        channel: "up".into(),
        seq: 1 << 62,
        hlc: 1 << 40,
        prev_hash: vec![7; 32],
        payload: Some(info("远处的事件")),
        ..Default::default()
    };
    let far = linkage_core::wire::sign(far.encode_to_vec(), &key_of(&topo, "620722"));
    let far = pb::Push { events: vec![far.into()], head_seq: 1 << 62, origin: "620722".into(), channel: "up".into() };
    client.publish("lk.620000.ev.620722.up", far.encode_to_vec().into()).await.unwrap();
    for n in 0..2_000 {
        let junk =
            pb::Push { events: vec![], head_seq: 9, origin: "620722".into(), channel: format!("group:junk-{n}") };
        client
            .publish(format!("lk.620000.dm.620700.620722.group.junk-{n}"), junk.encode_to_vec().into())
            .await
            .unwrap();
    }
    let pulls_before = total(&topo, "620700", "linkage_pulls_total");
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(10) {
        client.publish("lk.620000.ev.620722.up", announce.encode_to_vec().into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pulls = total(&topo, "620700", "linkage_pulls_total") - pulls_before;

    let status = replication(&topo, "620700").await;
    let series = topo.metrics("620700").unwrap().body.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "under the flood: {} streams tracked, {series_before} → {series} series, {pulls} pulls in 10 s",
        status.streams.len()
    );
    assert!(status.streams.len() < 100, "the city tracks {} streams", status.streams.len());
    for s in &status.streams {
        assert!(s.lag_events < 1_000, "a claimed head became a lag: {s:?}");
        assert!(!(s.origin == "620622" && s.channel == "up"), "the city tracks a stream it may not see");
        assert!(!s.channel.starts_with("group:invented"), "the city tracks an invented stream");
        assert!(!s.channel.starts_with("group:junk"), "the city tracks a pushed stream it may not see");
    }
    assert!(series < series_before + 200, "metric series grew from {series_before} to {series}");
    assert!(pulls < 200.0, "{pulls} pulls in 10 s");
    for reason in ["not_entitled", "unknown_node", "unproved", "claimant_not_entitled"] {
        assert!(ignored(&topo, "620700", reason) >= 1.0, "claims ignored as {reason} are counted");
    }

    // The province's notices still arrive.
    topo.event_log("620000").await.unwrap().append(down("通知 2")).await.unwrap();
    until(Duration::from_secs(30), "the city gets the province's next notice", async || {
        stream(&topo, "620700", "620000", "down").await.len() == 2
    })
    .await;
    answering.abort();
}

/// A county that lost its store gets back its own group stream too,
/// though it does not know yet which groups it is in (its claimants'
/// membership is not known to it): no seq of it is issued twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_back_the_nodes_own_group_stream() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let formed = pb::payload::Kind::GroupFormed(pb::GroupFormed {
        group_id: "620722-farmland".into(),
        title: "高标准农田联动视察组".into(),
        lead: "620722".into(),
        members: vec!["620622".into()],
        topic_ids: vec![],
        rules: linkage_core::rules::GROUP_RULES,
    });
    let mut county = topo.event_log("620722").await.unwrap();
    let request = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload { kind: Some(formed) }),
        ..Default::default()
    };
    county.append(request).await.unwrap();
    for n in 1..=3 {
        county.append(milestone(&format!("节点 {n}"))).await.unwrap();
    }
    until(Duration::from_secs(30), "the fellow member holds the group stream", async || {
        stream(&topo, "620622", "620722", "group:620722-farmland").await.len() == 3
    })
    .await;

    topo.kill9("620722");
    std::fs::remove_dir_all(topo.data_dir("620722").join("store")).unwrap();
    topo.restart("620722").await.unwrap();
    topo.wait_restored("620722").await.unwrap();
    let request = milestone("节点 4");
    let fourth = topo.event_log("620722").await.unwrap().append(request).await.unwrap();
    assert_eq!(fourth.into_inner().event.unwrap().event.unwrap().seq, 4, "no seq of the group stream is issued twice");
}

/// A milestone of 民乐县's group, on the group's channel.
fn milestone(title: &str) -> pb::AppendRequest {
    let kind = pb::payload::Kind::MilestoneReached(pb::MilestoneReached {
        group_id: "620722-farmland".into(),
        task_id: String::new(),
        title: title.into(),
    });
    pb::AppendRequest {
        channel: "group:620722-farmland".into(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    }
}

/// Found by the simulation: a county that lost its store stores others'
/// events while it restores; killed before the restore ended, it came back
/// with a store that was not empty, took itself for intact and stopped
/// waiting for its parent. `RESTORING` in its data dir now keeps the
/// restore going across the restart, until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_cut_short_by_a_crash_goes_on_after_the_restart() {
    let mut topo = LocalTopology::up(&linkage_testkit::topology("demo.toml"), linkage_testkit::bin_dir()).unwrap();
    topo.wait_restored("620722").await.unwrap();
    let mut county = topo.event_log("620722").await.unwrap();
    let up = |n: u64| pb::AppendRequest {
        channel: "up".into(),
        payload: Some(info(&format!("社情民意 {n}"))),
        ..Default::default()
    };
    for n in 1..=5 {
        county.append(up(n)).await.unwrap();
    }
    until(Duration::from_secs(30), "the province holds the county's events", async || {
        stream(&topo, "620000", "620722", "up").await.len() == 5
    })
    .await;

    // The county loses its store while its city is away: its restore
    // waits for the city (RESTORE_PARENT_WAIT).
    topo.kill9("620722");
    std::fs::remove_dir_all(topo.data_dir("620722").join("store")).unwrap();
    topo.kill9("620700");
    topo.restart("620722").await.unwrap();
    let marker = topo.data_dir("620722").join("RESTORING");
    assert!(marker.exists(), "a restore from an empty store is marked");
    // Meanwhile it stores the province's news; then it is killed again.
    topo.event_log("620000").await.unwrap().append(down("省政协通知")).await.unwrap();
    until(Duration::from_secs(30), "the restoring county stores the province's event", async || {
        !stream(&topo, "620722", "620000", "down").await.is_empty()
    })
    .await;
    topo.kill9("620722");
    topo.restart("620722").await.unwrap();
    assert!(marker.exists(), "the marker outlived the crash");
    // Still restoring: without the marker it took its store for intact
    // and appended within about two seconds; it waits up to 10 s for its city.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = topo.event_log("620722").await.unwrap().append(up(6)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    topo.restart("620700").await.unwrap();
    let started = Instant::now();
    let seq = loop {
        match topo.event_log("620722").await.unwrap().append(up(6)).await {
            Ok(r) => break r.into_inner().event.unwrap().event.unwrap().seq,
            Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the county never finished restoring");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seq, 6, "its own five events came back first");
    assert!(!marker.exists(), "the marker goes when the restore ends");
    eprintln!("restored and appended {:.1} s after its city came back", started.elapsed().as_secs_f64());
}
