//! Four levels on real processes (decision 0065): 全国政协 above the demo's
//! 甘肃 and a small 宁夏, federated as `yellow-river` with 兰州 and 银川
//! (`deploy/topology/national-demo.toml`), each node its own process on one
//! nats-server with the generated per-node permissions, over TLS. Every
//! channel kind that crosses or stops at the wall carries events; every
//! node converges on exactly what it is entitled to. A raw client with a
//! Gansu county's, a Gansu city's and the national committee's NKeys finds
//! the wall in NATS itself.

use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::{expect_violation, watched as raw_client};
use std::time::Duration;
use tokio::sync::mpsc;

/// Each of `subjects` refused to `client`, to subscribe (or publish).
async fn refused(
    client: &async_nats::Client,
    errors: &mut mpsc::UnboundedReceiver<String>,
    subjects: &[&str],
    publish: bool,
) {
    for subject in subjects {
        if publish {
            client.publish(subject.to_string(), bytes::Bytes::new()).await.unwrap();
        } else {
            let _ = client.subscribe(subject.to_string()).await.unwrap();
        }
        client.flush().await.unwrap();
        expect_violation(errors, subject).await;
    }
}

/// Nothing refused: `client` may subscribe to each of `subjects`.
async fn allowed(client: &async_nats::Client, errors: &mut mpsc::UnboundedReceiver<String>, subjects: &[&str]) {
    for subject in subjects {
        let _ = client.subscribe(subject.to_string()).await.unwrap();
    }
    client.flush().await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(1), errors.recv()).await;
    assert!(e.is_err(), "refused: {e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_levels_converge_and_the_province_is_a_wall() {
    let topo = LocalTopology::up(&linkage_testkit::topology("national-demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let codes = topo.codes();
    assert_eq!(codes.len(), 11);

    // Every kind of channel: within a province, up to and down from the
    // national committee, directed across the wall, and the federation.
    let plan: &[(&str, &str)] = &[
        ("620722", "up"),
        ("620700", "down"),
        ("620000", "down"),
        ("620000", "all"),
        ("620000", "up"),
        ("620000", "to:000000"),
        ("620000", "chain:620000"),
        ("640104", "up"),
        ("640000", "up"),
        ("640000", "all"),
        ("000000", "down"),
        ("000000", "all"),
        ("000000", "to:640000"),
        ("620100", "fed:yellow-river"),
        ("640100", "fed:yellow-river"),
        ("640000", "fed:yellow-river"),
    ];
    for (code, channel) in plan {
        let mut client = topo.event_log(code).await.unwrap();
        for i in 0..5 {
            let request = linkage_testkit::info_reported(channel, format!("{code} {channel} {i}"), "四级联动");
            client.append(request).await.unwrap_or_else(|e| panic!("{code} on {channel}: {e}"));
        }
    }
    let holdings = topo.converge(&codes, Duration::from_secs(120)).await;
    let held = |code: &str, origin: &str, channel: &str| {
        holdings[code].keys().filter(|(o, c, _)| o == origin && c == channel).count()
    };
    // What reaches the national committee is what provinces send it.
    assert_eq!(held("000000", "620000", "up"), 5);
    assert_eq!(held("000000", "640000", "up"), 5);
    assert_eq!(held("000000", "620722", "up"), 0, "a county's up stops at its province");
    let below = |o: &str| !o.ends_with("0000");
    assert_eq!(holdings["000000"].keys().filter(|(o, _, _)| below(o)).count(), 0, "nothing of a city or county");
    assert_eq!(held("620000", "620722", "up"), 5);
    assert_eq!(held("620722", "000000", "down"), 0, "the national committee's down reaches the provinces");
    assert_eq!(held("640000", "000000", "all"), 5);
    // The federation: its provinces and the cities they named.
    for code in ["620000", "620100", "640000", "640100"] {
        assert_eq!(held(code, "640100", "fed:yellow-river"), 5, "{code}");
    }
    for code in ["620700", "620722", "640104", "000000"] {
        assert_eq!(holdings[code].keys().filter(|(_, c, _)| c.starts_with("fed:")).count(), 0, "{code}");
    }
    // Nothing of another province but what the federation shares.
    for (code, held) in &holdings {
        let own = &code[..2];
        for (origin, channel, _) in held.keys() {
            let crossing = origin == "000000" || code == "000000" || channel.starts_with("fed:");
            assert!(origin.starts_with(own) || crossing, "{code} holds {origin} on {channel}");
        }
    }

    // In NATS itself: 民乐县 (no federation) can neither hear nor speak
    // into Ningxia, the national committee or the federation.
    let (minle, mut errors) = raw_client(&topo, "620722").await;
    refused(
        &minle,
        &mut errors,
        &[
            "lk.640000.ev.640104.up",
            "lk.640000.ev.*.all",
            "lk.000000.ev.000000.down",
            "lk.fed.yellow-river.ev.*",
            "lk.>",
            "lk.*.ev.*.up",
        ],
        false,
    )
    .await;
    refused(
        &minle,
        &mut errors,
        &[
            "lk.640000.dm.640104.620722.to.640104",
            "lk.000000.dm.000000.620722.to.000000",
            "lk.fed.yellow-river.ev.620722",
            "lk.640000.pull.640000.620722",
            "lk.000000.pull.000000.620722",
        ],
        true,
    )
    .await;
    // 兰州 hears the federation, and pulls from its members, but not
    // Ningxia's own channels, nor as another.
    let (lanzhou, mut errors) = raw_client(&topo, "620100").await;
    allowed(&lanzhou, &mut errors, &["lk.fed.yellow-river.ev.*", "lk.640000.who.640100"]).await;
    refused(
        &lanzhou,
        &mut errors,
        &["lk.640000.ev.640100.down", "lk.640000.ev.*.all", "lk.000000.ev.000000.all"],
        false,
    )
    .await;
    refused(
        &lanzhou,
        &mut errors,
        &["lk.fed.yellow-river.ev.640100", "lk.640000.dm.640100.620100.to.640100", "lk.640000.pull.640104.620100"],
        true,
    )
    .await;
    // 甘肃 may not speak into 宁夏's own subjects, federated or not.
    let (gansu, mut errors) = raw_client(&topo, "620000").await;
    refused(
        &gansu,
        &mut errors,
        &[
            "lk.640000.ev.640000.up",
            "lk.640000.dm.640104.620000.to.640104",
            "lk.640000.dm.640000.620000.to.640000",
            "lk.000000.dm.000000.620000.group.g-1",
        ],
        true,
    )
    .await;
    // The national committee hears a province's up, not a county's; it
    // addresses provinces only.
    let (national, mut errors) = raw_client(&topo, "000000").await;
    allowed(&national, &mut errors, &["lk.620000.ev.620000.up", "lk.640000.ev.640000.up"]).await;
    refused(
        &national,
        &mut errors,
        &["lk.620000.ev.620722.up", "lk.620000.ev.*.up", "lk.620000.ev.620000.all", "lk.fed.yellow-river.ev.*"],
        false,
    )
    .await;
    refused(
        &national,
        &mut errors,
        &["lk.620000.dm.620722.000000.to.620722", "lk.620000.pull.620700.000000", "lk.620000.ev.620000.down"],
        true,
    )
    .await;
    topo.down().unwrap();
}

/// Resident memory of `pid` in KiB (`/proc/<pid>/smaps_rollup`), 0 when gone.
fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let line = text.lines().find(|l| l.starts_with("Rss:")).unwrap_or("Rss: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The reduced national topology of issue 24: 全国政协, and 甘肃 and 宁夏
/// whole (130 nodes, `deploy/topology/gansu-ningxia.toml`), federated
/// twice. Every level and channel kind carries events; every node
/// converges on exactly what it is entitled to. Prints the time to
/// converge and the nodes' total RSS for the record (not asserted:
/// performance is `make bench`'s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gansu_and_ningxia_whole_converge_under_the_national_committee() {
    let topo = LocalTopology::up(&linkage_testkit::topology("gansu-ningxia.toml"), linkage_testkit::bin_dir()).unwrap();
    let codes = topo.codes();
    assert_eq!(codes.len(), 130);
    let topology = linkage_core::Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();
    let mut plan: Vec<(String, String, usize)> = Vec::new();
    for node in topology.nodes() {
        let code = node.code.to_string();
        let sends: &[(&str, usize)] = match node.level {
            linkage_core::Level::County => &[("up", 10)],
            linkage_core::Level::City if topology.children(node.code).is_empty() => &[("up", 10)],
            linkage_core::Level::City => &[("down", 10), ("up", 5)],
            linkage_core::Level::Province => {
                &[("up", 20), ("down", 20), ("all", 10), ("to:000000", 5), ("fed:north-west", 10)]
            }
            linkage_core::Level::National => &[("down", 20), ("all", 10), ("to:640000", 5)],
        };
        plan.extend(sends.iter().map(|(channel, n)| (code.clone(), channel.to_string(), *n)));
    }
    for (_, federation) in topology.federations() {
        plan.extend(federation.cities.iter().map(|c| (c.to_string(), "fed:yellow-river".to_string(), 10)));
    }
    let started = std::time::Instant::now();
    for chunk in plan.chunks(16) {
        let mut calls = Vec::new();
        for (code, channel, count) in chunk {
            let mut client = topo.event_log(code).await.unwrap();
            let requests = (0..*count)
                .map(|i| linkage_testkit::info_reported(channel, format!("{code} {channel} {i}"), "沿黄联动"))
                .collect();
            calls.push(async move {
                client
                    .append_batch(linkage_core::pb::AppendBatchRequest { requests, ..Default::default() })
                    .await
                    .map(drop)
            });
        }
        for result in futures::future::join_all(calls).await {
            result.unwrap();
        }
    }
    let total: usize = plan.iter().map(|p| p.2).sum();
    let holdings = topo.converge(&codes, Duration::from_secs(600)).await;
    let rss: u64 = topo.manifest().nodes.values().map(|p| rss_kib(p.pid)).sum();
    eprintln!(
        "gansu-ningxia: {} nodes converged on {total} events in {:.1} s; nodes' RSS {:.2} GiB in total",
        codes.len(),
        started.elapsed().as_secs_f64(),
        rss as f64 / 1024.0 / 1024.0
    );
    assert_eq!(holdings["000000"].keys().filter(|(o, c, _)| o == "620000" && c == "up").count(), 20);
    assert_eq!(
        holdings["000000"].keys().filter(|(o, _, _)| o.len() == 6 && !o.ends_with("0000")).count(),
        0,
        "the national committee holds no county's or city's event"
    );
    assert_eq!(
        holdings["640100"].keys().filter(|(o, c, _)| o == "620400" && c == "fed:yellow-river").count(),
        10,
        "银川 holds 白银's federation events"
    );
    assert_eq!(
        holdings["620400"].keys().filter(|(_, c, _)| c == "fed:north-west").count(),
        0,
        "白银 is not named for north-west"
    );
    topo.down().unwrap();
}

/// nats-server's `allow_responses` lets a node publish once to the reply
/// subject of a request it received. A node that heard its own request
/// (its `who` subject, which its province's nodes all hear) could name any
/// reply subject and answer itself there: 民乐县 spoke on 兴庆区's `up` in
/// 宁夏 this way before the generated users denied each node what it
/// publishes itself (`subjects::Permissions::subscribe_deny`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cannot_answer_its_own_request_into_another_province() {
    let topo = LocalTopology::up(&linkage_testkit::topology("national-demo.toml"), linkage_testkit::bin_dir()).unwrap();
    let (minle, mut errors) = raw_client(&topo, "620722").await;
    let (yinchuan, _) = raw_client(&topo, "640100").await;
    let target = "lk.640000.ev.640104.up";
    let mut heard = yinchuan.subscribe(target.to_string()).await.unwrap();
    yinchuan.flush().await.unwrap();
    let mut own = minle.subscribe("lk.620000.who.*".to_string()).await.unwrap();
    minle.flush().await.unwrap();
    minle
        .publish_with_reply("lk.620000.who.620722".to_string(), target.to_string(), bytes::Bytes::new())
        .await
        .unwrap();
    // Its own request never comes back to it …
    let echoed = tokio::time::timeout(Duration::from_secs(2), futures::StreamExt::next(&mut own)).await;
    assert!(!matches!(echoed, Ok(Some(_))), "民乐县 heard its own request");
    // … so it holds no response permission for the reply subject it chose.
    minle.publish(target.to_string(), bytes::Bytes::from_static(b"spoofed")).await.unwrap();
    minle.flush().await.unwrap();
    expect_violation(&mut errors, "answering its own request into another province").await;
    let got = tokio::time::timeout(Duration::from_secs(2), futures::StreamExt::next(&mut heard)).await;
    assert!(!matches!(got, Ok(Some(_))), "民乐县 spoke on {target} by answering its own request");
    topo.down().unwrap();
}
