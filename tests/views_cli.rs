//! The real `linkctl` against one real `linkage-node` (the province of the
//! demo topology, without NATS): events appended through `linkctl append`
//! come back through the view commands, as proto3 JSON and as tables; and
//! `linkctl topology status` reports a live node, a dead one and one never
//! started without stopping at the dead one.
//!
//! Needs `linkage-node` beside `linkctl` (`cargo build --bins`, as `make test`
//! does first).

use linkage_testkit::{topology, NodeProcess};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn node_bin() -> PathBuf {
    let bin = linkage_testkit::node_bin();
    assert!(bin.exists(), "{} is missing: run `cargo build --bins` first", bin.display());
    bin
}

/// Runs linkctl against the node; panics with its stderr on failure.
fn ctl(node: &NodeProcess, args: &[&str]) -> String {
    let out = Command::new(linkage_testkit::linkctl_bin())
        .args(node.linkctl_args().unwrap())
        .args(args)
        .output()
        .expect("runs linkctl");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(out.status.success(), "linkctl {args:?} failed: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn json(node: &NodeProcess, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ctl(node, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("linkctl {args:?} printed no JSON document ({e}): {text}"))
}

fn append(node: &NodeProcess, args: &[&str]) -> String {
    let mut all = vec!["append", "--print-id"];
    all.extend_from_slice(args);
    let id = ctl(node, &all).trim().to_owned();
    assert_eq!(id.len(), 36, "not an event id: {id:?}");
    id
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().map(|a| a.iter().filter_map(|v| v["id"].as_str()).collect()).unwrap_or_default()
}

#[test]
fn appended_events_come_back_through_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&node_bin(), "620000", &topology("demo.toml"), dir.path()).unwrap();
    let demo = topology("demo.toml");
    let demo = demo.to_str().unwrap();

    // 沟通
    let topic = append(
        &node,
        &[
            "topic-proposed",
            "--channel",
            "all",
            "--year",
            "2027",
            "--category",
            "research",
            "--title",
            "河西走廊节水农业发展调研",
            "--lead-committee",
            "农业和农村委员会",
        ],
    );
    let other = append(
        &node,
        &[
            "topic-proposed",
            "--channel",
            "all",
            "--year",
            "2027",
            "--category",
            "inspection",
            "--title",
            "黄河流域生态保护视察",
        ],
    );
    append(&node, &["topic-commented", "--channel", "all", "--topic-id", &topic, "--text", "建议三级联动"]);
    // 联通: a task already past due, without a sub-report.
    append(
        &node,
        &[
            "group-formed",
            "--channel",
            "all",
            "--group-id",
            "620000-hexi",
            "--title",
            "河西走廊节水农业联动调研组",
            "--lead",
            "620000",
            "--member",
            "620700",
            "--topic-id",
            &topic,
        ],
    );
    append(
        &node,
        &[
            "task-assigned",
            "--channel",
            "group:620000-hexi",
            "--group-id",
            "620000-hexi",
            "--task-id",
            "zhangye",
            "--title",
            "张掖市子课题",
            "--assignee",
            "620700",
            "--due",
            "2020-03-31T00:00:00+08:00",
        ],
    );
    // 畅通
    let info = append(
        &node,
        &["info-reported", "--channel", "all", "--title", "关于加强农村饮水安全保障的建议", "--body", "管网老化。"],
    );
    append(&node, &["info-forwarded", "--channel", "chain:620000", "--info-id", &info, "--to", "全国政协"]);
    append(&node, &["info-adopted", "--channel", "chain:620000", "--info-id", &info, "--level", "national"]);
    // The province's score rule, in force since before the adoption: 全国 is
    // one level above the province, 5 points.
    let rule = ["score-rule-issued", "--channel", "all", "--effective", "2020-01-01T00:00:00Z", "--adoption", "1,5"];
    append(&node, &rule);
    let notice = append(
        &node,
        &["notice-issued", "--channel", "down", "--title", "关于征集2027年度选题的通知", "--requires-acknowledgement"],
    );
    // 互通
    let result = append(
        &node,
        &[
            "research-completed",
            "--channel",
            "all",
            "--title",
            "河西走廊节水农业发展调研报告",
            "--year",
            "2027",
            "--category",
            "research",
            "--group-id",
            "620000-hexi",
            "--attachment",
            "doc://a.pdf",
        ],
    );
    append(
        &node,
        &["result-adopted", "--channel", "all", "--result-id", &result, "--by", "省政府", "--how", "转化为提案"],
    );

    // Planning: every page, a filter, one page, a limit, one topic.
    let topics = json(&node, &["planning", "topics"]);
    let mut listed = ids(&topics["topics"]);
    listed.sort();
    let mut want = vec![topic.as_str(), other.as_str()];
    want.sort();
    assert_eq!(listed, want, "{topics}");
    let research = json(&node, &["planning", "topics", "--category", "research", "--year", "2027"]);
    assert_eq!(ids(&research["topics"]), [topic.as_str()], "{research}");
    assert_eq!(research["topics"][0]["category"], "TOPIC_CATEGORY_RESEARCH");
    assert_eq!(research["topics"][0]["leadCommittee"], "农业和农村委员会");
    let page = json(&node, &["planning", "topics", "--page-size", "1"]);
    assert_eq!(page["topics"].as_array().unwrap().len(), 1);
    assert!(page["nextPageToken"].as_str().is_some_and(|t| !t.is_empty()), "{page}");
    let rest = json(&node, &["planning", "topics", "--page-token", page["nextPageToken"].as_str().unwrap()]);
    assert_eq!(rest["topics"].as_array().unwrap().len(), 1);
    assert_ne!(rest["topics"][0]["id"], page["topics"][0]["id"]);
    assert_eq!(json(&node, &["planning", "topics", "--limit", "1"])["topics"].as_array().unwrap().len(), 1);
    let one = json(&node, &["planning", "topic", &topic]);
    assert_eq!(one["topic"]["comments"][0]["text"], "建议三级联动", "{one}");
    json(&node, &["planning", "overlaps"]);
    json(&node, &["planning", "awaiting"]);

    // Progress.
    let groups = json(&node, &["progress", "groups"]);
    assert_eq!(groups["groups"][0]["groupId"], "620000-hexi", "{groups}");
    let group = json(&node, &["progress", "group", "620000-hexi"]);
    assert_eq!(group["group"]["tasks"][0]["taskId"], "zhangye", "{group}");
    assert_eq!(group["group"]["tasks"][0]["due"], "2020-03-30T16:00:00Z");
    let overdue = json(&node, &["progress", "overdue"]);
    assert_eq!(overdue["tasks"][0]["task"]["taskId"], "zhangye", "{overdue}");
    let not_yet = json(&node, &["progress", "overdue", "--as-of", "2019-01-01T00:00:00Z"]);
    assert!(not_yet.get("tasks").is_none(), "{not_yet}");

    // Exchange.
    let items = json(&node, &["exchange", "items", "--status", "adopted"]);
    assert_eq!(ids(&items["items"]), [info.as_str()], "{items}");
    let item = json(&node, &["exchange", "item", &info]);
    assert_eq!(item["item"]["adoptedLevels"][0], "ADOPTION_LEVEL_NATIONAL", "{item}");
    assert_eq!(item["score"], 5, "{item}");
    let ranking = json(&node, &["exchange", "ranking"]);
    assert_eq!(
        (&ranking["rows"][0]["node"], &ranking["rows"][0]["points"]),
        (&"620000".into(), &"5".into()),
        "{ranking}"
    );
    let rules = json(&node, &["exchange", "score-rules"]);
    assert_eq!(rules["rules"][0]["rule"]["adoptionPoints"], serde_json::json!([1, 5]), "{rules}");
    let stats = json(&node, &["exchange", "stats"]);
    assert_eq!(stats["rows"][0]["node"], "620000", "{stats}");
    let notices = json(&node, &["exchange", "notices", "--unacknowledged-only"]);
    assert_eq!(notices["notices"][0]["notice"]["id"], notice.as_str(), "{notices}");
    let one = json(&node, &["exchange", "notice", &notice]);
    assert_eq!(one["notice"]["notAcknowledged"].as_array().map(Vec::len), Some(6), "every city and county: {one}");

    // Results.
    let results = json(&node, &["results", "list", "--keyword", "节水"]);
    assert_eq!(ids(&results["results"]), [result.as_str()], "{results}");
    let shown = json(&node, &["results", "show", &result]);
    assert_eq!(shown["result"]["adoptions"][0]["how"], "转化为提案", "{shown}");
    assert_eq!(shown["result"]["category"], "TOPIC_CATEGORY_RESEARCH");

    // Members: the register, one member (its name opened here, its own
    // committee's node), a year's activity, paged one at a time.
    for (id, name) in [("620000-wang-0001", "王某"), ("620000-zhao-0002", "赵某")] {
        let args = ["member-registered", "--channel", "chain:620000", "--member-id", id, "--name", name];
        append(&node, &[&args[..], &["--sector", "经济界"]].concat());
    }
    let listed = json(&node, &["members", "list", "--page-size", "1", "--limit", "2"]);
    assert_eq!(listed["members"].as_array().map(Vec::len), Some(2), "{listed}");
    let one = json(&node, &["members", "show", "620000-wang-0001"]);
    assert_eq!(one["member"]["personal"]["name"], "王某", "{one}");
    let text = ctl(&node, &["members", "show", "620000-wang-0001"]);
    assert!(text.contains("王某") && text.contains("在任/serving"), "{text}");
    // Every member has a row, whatever it did that year.
    let activity = json(&node, &["members", "activity", "--year", "2026", "--page-size", "1"]);
    assert_eq!(activity["rows"][0]["memberId"], "620000-wang-0001", "{activity}");
    assert!(activity["nextPageToken"].as_str().is_some_and(|t| !t.is_empty()), "it pages: {activity}");

    // Tables: labels, the node's own name, names from a topology.
    let text = ctl(&node, &["planning", "topics"]);
    assert!(text.contains("甘肃省 620000") && text.contains("调研/research") && text.contains("(2 topics)"), "{text}");
    assert!(text.contains("河西走廊节水农业发展调研") && text.contains("黄河流域生态保护视察"), "titles: {text}");
    let text = ctl(&node, &["exchange", "item", &info]);
    assert!(text.contains("采用:全国") && text.contains("已转报/forwarded"), "{text}");
    let text = ctl(&node, &["exchange", "notice", &notice, "--topology", demo]);
    assert!(text.contains("not acknowledged 未签收 (6)") && text.contains("民乐县 620722"), "{text}");
    let text = ctl(&node, &["progress", "group", "620000-hexi", "--topology", demo]);
    assert!(text.contains("张掖市 620700") && text.contains("逾期/overdue"), "{text}");
    let text = ctl(&node, &["results", "show", &result]);
    assert!(text.contains("adoptions 转化运用 (1)") && text.contains("doc://a.pdf"), "{text}");

    // Rebuilding gives the same views.
    let rebuilt = json(&node, &["views", "rebuild"]);
    assert!(rebuilt["events"].as_str().is_some_and(|n| n.parse::<u64>().unwrap() >= 11), "{rebuilt}");
    assert_eq!(json(&node, &["planning", "topics"]), topics);
}

#[test]
fn topology_status_shows_live_dead_and_missing_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&node_bin(), "620000", &topology("demo.toml"), &dir.path().join("620000")).unwrap();
    // An address nobody listens on (nor can, while `_held` is kept).
    let (_held, dead) = linkage_testkit::unused_address();
    let nodes = serde_json::json!({
        "nats": { "pid": 1, "argv": [] },
        "nodes": {
            "620000": { "name": "甘肃省", "grpc": node.addr.to_string(), "pid": node.pid().unwrap(), "argv": [] },
            "620100": { "name": "兰州市", "grpc": dead.to_string(), "pid": 1, "argv": [] },
        }
    });
    std::fs::write(dir.path().join("nodes.json"), serde_json::to_string(&nodes).unwrap()).unwrap();
    std::fs::copy(topology("demo.toml"), dir.path().join("topology.toml")).unwrap();

    // A node that answers slowly beside the 101 of another test is still up;
    // the dead address is refused at once whatever the timeout.
    let out = Command::new(linkage_testkit::linkctl_bin())
        .args(["topology", "status", "--timeout", "20s", "--nodes"])
        .arg(dir.path())
        .args(node.linkctl_tls_args().unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = |code: &str| text.lines().find(|l| l.contains(code)).unwrap_or_else(|| panic!("{code}: {text}"));
    assert!(line("620000").starts_with("甘肃省") && line("620000").contains("SERVING"), "{text}");
    assert!(line("620100 ").starts_with("├─ 兰州市") && line("620100 ").contains("DOWN"), "{text}");
    assert!(line("620722").starts_with("   └─ 民乐县") && line("620722").contains("NOT_STARTED"), "{text}");
    assert!(text.contains("(7 nodes, 1 serving)"), "{text}");

    let out = Command::new(linkage_testkit::linkctl_bin())
        .args(["topology", "status", "--json", "--timeout", "20s", "--nodes"])
        .arg(dir.path().join("nodes.json"))
        .args(node.linkctl_tls_args().unwrap())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let province = &v["nodes"][0];
    assert_eq!(province["health"], "SERVING", "{v}");
    assert_eq!(province["replication"], false, "no NATS: {v}");
    assert!(province["events"].as_u64().is_some(), "{v}");
    assert_eq!(province["children"][0]["code"], "620100");
    assert_eq!(province["children"][0]["health"], "DOWN");
}
