//! Catching up from whoever holds a stream: a county that was away while
//! its city and a fellow group member wrote, and whose both origins are
//! gone when it comes back, gets everything from its sibling and from
//! the group's other members (issue 20, finding 7; DESIGN §4: repair from
//! the origin or from any node that holds the channel).

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_testkit::topology::LocalTopology;
use linkage_tests::liar::{stream, until};
use std::time::{Duration, Instant};

/// The demo topology with a second county under 兰州市, 七里河区 (620103).
fn topology_with_siblings(dir: &std::path::Path) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(linkage_testkit::topology("demo.toml")).unwrap();
    let path = dir.join("siblings.toml");
    let county = "\n[[nodes]]\ncode = \"620103\"\nname = \"七里河区\"\npinyin = \"Qilihe Qu\"\nlevel = \"county\"\nparent = \"620100\"\n";
    std::fs::write(&path, demo + county).unwrap();
    path
}

fn batch(channel: &str, tag: &str, n: usize) -> pb::AppendBatchRequest {
    let item = |i: usize| pb::AppendRequest {
        channel: channel.into(),
        payload: Some(pb::Payload {
            kind: Some(Kind::InfoReported(pb::InfoReported {
                title: format!("{tag} {i}"),
                body: "内容".into(),
                ..Default::default()
            })),
        }),
        idempotency_key: format!("{tag}-{i}"),
        ..Default::default()
    };
    pb::AppendBatchRequest { requests: (0..n).map(item).collect(), ..Default::default() }
}

async fn held(topo: &LocalTopology, code: &str, origin: &str, channel: &str) -> usize {
    stream(topo, code, origin, channel).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_catches_up_from_its_sibling_and_fellow_members_when_the_origins_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut topo = LocalTopology::up(&topology_with_siblings(dir.path()), linkage_testkit::bin_dir()).unwrap();
    // 民乐县 forms a group with 七里河区 (another city's county) and 古浪县.
    let group = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload {
            kind: Some(Kind::GroupFormed(pb::GroupFormed {
                group_id: "620722-yellow-river".into(),
                title: "黄河流域生态保护联动调研组".into(),
                lead: "620722".into(),
                members: vec!["620103".into(), "620622".into()],
                topic_ids: vec![],
                rules: linkage_core::rules::GROUP_RULES,
            })),
        }),
        ..Default::default()
    };
    topo.event_log("620722").await.unwrap().append(group).await.unwrap();
    until(Duration::from_secs(30), "七里河区 learns it is a member", async || {
        held(&topo, "620103", "620722", "all").await == 1
    })
    .await;

    // 七里河区 goes away; its city writes 300 `down`, 民乐县 300 on the group.
    topo.kill9("620103");
    for (code, channel, tag) in [("620100", "down", "兰州市"), ("620722", "group:620722-yellow-river", "民乐县")]
    {
        let mut log = topo.event_log(code).await.unwrap();
        for part in 0..3 {
            log.append_batch(batch(channel, &format!("{tag}-{part}"), 100)).await.unwrap();
        }
    }
    until(Duration::from_secs(60), "the sibling and a fellow member hold the streams", async || {
        held(&topo, "620102", "620100", "down").await == 300
            && held(&topo, "620622", "620722", "group:620722-yellow-river").await == 300
    })
    .await;

    // Both origins go; 七里河区 comes back and catches up from the others.
    topo.kill9("620100");
    topo.kill9("620722");
    let started = Instant::now();
    topo.restart("620103").await.unwrap();
    until(Duration::from_secs(90), "七里河区 holds all 600 events", async || {
        held(&topo, "620103", "620100", "down").await == 300
            && held(&topo, "620103", "620722", "group:620722-yellow-river").await == 300
    })
    .await;
    eprintln!("caught up 600 events from a sibling and a fellow member in {:?}", started.elapsed());
    let status = topo.admin("620103").await.unwrap().replication(pb::ReplicationRequest {}).await.unwrap().into_inner();
    for (origin, channel) in [("620100", "down"), ("620722", "group:620722-yellow-river")] {
        let s = status.streams.iter().find(|s| s.origin == origin && s.channel == channel);
        assert!(s.is_some_and(|s| s.local_head == 300 && s.lag_events == 0), "{origin} {channel}: {s:?}");
    }
}
