//! The full Gansu topology — 1 province, 14 cities, 86 counties, each its
//! own process — comes up with the local runner, converges on 10,000 mixed
//! events, and goes down cleanly.

use linkage_core::pb;
use linkage_testkit::topology::LocalTopology;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gansu_101_nodes_converge_on_10000_events() {
    let bin_dir = linkage_testkit::bin_dir();
    let topo = LocalTopology::up(&linkage_testkit::topology("gansu.toml"), bin_dir).unwrap();
    let codes = topo.codes();
    assert_eq!(codes.len(), 101);
    let topology = linkage_core::Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();

    // Counties report up, cities and the province send down, a few share
    // with all: 10,000 events, or 50,000 with LINKAGE_LONG_TESTS=1.
    let scale = if linkage_testkit::long_tests() { 5 } else { 1 };
    let mut plan: Vec<(String, &str, usize)> = Vec::new();
    for node in topology.nodes() {
        let code = node.code.to_string();
        match node.level {
            linkage_core::Level::County => plan.push((code, "up", 80 * scale)),
            linkage_core::Level::City if !topology.children(node.code).is_empty() => {
                plan.push((code, "down", 150 * scale))
            }
            linkage_core::Level::City => plan.push((code, "up", 150 * scale)),
            linkage_core::Level::Province => plan.push((code, "down", 950 * scale)),
            linkage_core::Level::National => unreachable!("Gansu's topology is the province alone"),
        }
    }
    for node in topology.nodes().take(10) {
        plan.push((node.code.to_string(), "all", 15 * scale));
    }
    let total: usize = plan.iter().map(|p| p.2).sum();
    assert!((10_000 * scale..10_200 * scale).contains(&total), "{total} events planned");
    // AppendBatch takes at most 1,000 events: split larger shares.
    let plan: Vec<(String, &str, usize, usize)> = plan
        .into_iter()
        .flat_map(|(code, channel, count)| {
            (0..count).step_by(1000).map(move |start| (code.clone(), channel, start, (count - start).min(1000)))
        })
        .collect();
    for chunk in plan.chunks(16) {
        let mut calls = Vec::new();
        for (code, channel, start, count) in chunk {
            let mut client = topo.event_log(code).await.unwrap();
            let requests = (*start..*start + *count)
                .map(|i| linkage_testkit::info_reported(channel, format!("{code} {channel} {i}"), "甘肃全省联动"))
                .collect();
            calls.push(async move {
                client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.map(drop)
            });
        }
        for result in futures::future::join_all(calls).await {
            result.unwrap();
        }
    }
    let holdings = topo.converge(&codes, Duration::from_secs(600 * scale as u64)).await;
    let all: usize = holdings["620000"].len();
    // The province is entitled to everything but the cities' own down streams.
    assert!(all >= (950 + 86 * 80 + 150) * scale, "the province holds {all}");
    topo.down().unwrap();
}
