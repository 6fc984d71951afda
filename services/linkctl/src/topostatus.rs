//! `linkctl topology status`: every node of a local topology (the
//! `nodes.json` that `deploy/local/up` writes) as the province → city →
//! county tree, with health, NATS connection, restore state, replication lag
//! and events held. Nodes are probed concurrently, each with a short
//! timeout, so a dead or hung node shows `DOWN` instead of stopping the rest.

use crate::table::Table;
use anyhow::Context;
use linkage_core::{pb, Topology};
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_testkit::manifest::Manifest as NodesFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long one probe may wait for a node (connect, and each call),
/// unless `--timeout` says otherwise.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health check's answer, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// SERVING.
    Serving,
    /// NOT_SERVING (e.g. shutting down).
    NotServing,
    /// Another answer.
    Unknown,
    /// No answer: not listening, hung, or no address recorded.
    Down(String),
    /// In the topology but not in nodes.json.
    NotStarted,
}

impl Health {
    /// The label shown.
    pub fn label(&self) -> &'static str {
        match self {
            Health::Serving => "SERVING",
            Health::NotServing => "NOT_SERVING",
            Health::Unknown => "UNKNOWN",
            Health::Down(_) => "DOWN",
            Health::NotStarted => "NOT_STARTED",
        }
    }
}

/// What one node said.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Health.
    pub health: Health,
    /// gRPC address probed.
    pub grpc: Option<String>,
    /// Connected to NATS; `None` when unknown, or replication is off.
    pub connected: Option<bool>,
    /// Checked its own streams with its peers.
    pub restored: Option<bool>,
    /// Sum of lag_events over every stream.
    pub lag_events: Option<u64>,
    /// Largest lag_seconds of any stream.
    pub max_lag_seconds: Option<f64>,
    /// Events in its log.
    pub events: Option<u64>,
    /// True when the node runs without replication (FAILED_PRECONDITION).
    pub replication_off: bool,
    /// Errors of the calls that failed after the health check answered.
    pub errors: Vec<String>,
}

impl Probe {
    fn new(health: Health, grpc: Option<String>) -> Probe {
        Probe {
            health,
            grpc,
            connected: None,
            restored: None,
            lag_events: None,
            max_lag_seconds: None,
            events: None,
            replication_off: false,
            errors: Vec::new(),
        }
    }
}

/// An error and its causes on one line: `connect: transport error: Connection refused (os error 111)`.
fn brief(e: &(dyn std::error::Error + 'static), timeout: Duration) -> String {
    if let Some(status) = e.downcast_ref::<tonic::Status>() {
        // A client-side timeout surfaces as a CANCELLED status.
        if status.message() == "Timeout expired" {
            return format!("no answer within {timeout:?}");
        }
        return format!("{:?}: {}", status.code(), status.message());
    }
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

async fn within<T, E: std::error::Error + 'static>(
    what: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", brief(&e, timeout))),
        Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
    }
}

/// Asks one node (`host:port`) for health, status and replication, each
/// call (and the connect) waiting at most `timeout`.
pub async fn probe(grpc: Option<String>, tls: Option<tonic::transport::ClientTlsConfig>, timeout: Duration) -> Probe {
    let Some(addr) = grpc.clone() else {
        return Probe::new(Health::Down("no gRPC address recorded in nodes.json".into()), grpc);
    };
    let endpoint = match linkage_testkit::pki::endpoint(&addr, tls.as_ref()) {
        Ok(e) => e.connect_timeout(timeout).timeout(timeout),
        Err(e) => return Probe::new(Health::Down(format!("bad address {addr}: {e}")), grpc),
    };
    let channel = match within("connect", timeout, endpoint.connect()).await {
        Ok(c) => c,
        Err(e) => return Probe::new(Health::Down(e), grpc),
    };
    let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    let health = match within("health", timeout, HealthClient::new(channel.clone()).check(request)).await {
        Ok(r) => match r.into_inner().status() {
            ServingStatus::Serving => Health::Serving,
            ServingStatus::NotServing => Health::NotServing,
            _ => Health::Unknown,
        },
        Err(e) => return Probe::new(Health::Down(e), grpc),
    };
    let mut p = Probe::new(health, grpc);
    let mut admin = AdminServiceClient::new(channel);
    let mut admin2 = admin.clone();
    let (status, replication) = tokio::join!(
        within("status", timeout, admin.status(pb::StatusRequest {})),
        within("replication", timeout, admin2.replication(pb::ReplicationRequest {})),
    );
    match status {
        Ok(s) => p.events = Some(s.into_inner().events),
        Err(e) => p.errors.push(e),
    }
    match replication {
        Ok(r) => {
            let r = r.into_inner();
            p.connected = Some(r.connected);
            p.restored = Some(r.restored);
            p.lag_events = Some(r.streams.iter().map(|s| s.lag_events).sum());
            p.max_lag_seconds = Some(r.streams.iter().map(|s| s.lag_seconds).fold(0.0, f64::max));
        }
        Err(e) if e.starts_with("replication: FailedPrecondition") => p.replication_off = true,
        Err(e) => p.errors.push(e),
    }
    p
}

/// `nodes.json` from a workdir or the file itself, and the directory it is in.
pub fn read_nodes(path: &Path) -> anyhow::Result<(NodesFile, PathBuf)> {
    let file = if path.is_dir() { path.join("nodes.json") } else { path.to_owned() };
    let dir = file.parent().map(Path::to_owned).unwrap_or_default();
    let text = std::fs::read_to_string(&file).with_context(|| {
        if dir.join("nodes.json.stopped").exists() {
            format!("reading {}: the topology in {} was stopped (`local down`)", file.display(), dir.display())
        } else {
            format!("reading {}", file.display())
        }
    })?;
    let nodes = serde_json::from_str(&text).with_context(|| format!("{} is not a nodes.json", file.display()))?;
    Ok((nodes, dir))
}

/// The topology: `--topology`, else the enrolled one `local up` wrote beside nodes.json.
pub fn read_topology(explicit: Option<&Path>, dir: &Path) -> anyhow::Result<Option<Topology>> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let p = dir.join("topology.toml");
            if !p.exists() {
                return Ok(None);
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(Topology::from_toml(&text).with_context(|| format!("{}", path.display()))?))
}

/// Probes every node of `nodes` at once, each with `timeout`.
pub async fn probe_all(
    nodes: &NodesFile,
    tls: Option<tonic::transport::ClientTlsConfig>,
    timeout: Duration,
) -> BTreeMap<String, Probe> {
    let tasks: Vec<_> = nodes
        .nodes
        .iter()
        .map(|(code, p)| (code.clone(), tokio::spawn(probe(p.grpc.clone(), tls.clone(), timeout))))
        .collect();
    let mut out = BTreeMap::new();
    for (code, task) in tasks {
        let probe = task.await.unwrap_or_else(|e| Probe::new(Health::Down(format!("probe failed: {e}")), None));
        out.insert(code, probe);
    }
    out
}

/// One line of the tree: depth, code, name.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeNode {
    /// Box-drawing prefix, e.g. `│  └─ `.
    pub prefix: String,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// The topology depth-first: province, each city followed by its counties,
/// in the order of the topology file; then any node of `extra` the
/// topology does not have, flat.
pub fn tree(topology: Option<&Topology>, extra: &BTreeMap<String, String>) -> Vec<TreeNode> {
    let mut out = Vec::new();
    if let Some(t) = topology {
        fn walk(t: &Topology, code: linkage_core::NodeCode, lead: &str, prefix: String, out: &mut Vec<TreeNode>) {
            let name = t.node(code).map(|n| n.name.clone()).unwrap_or_default();
            out.push(TreeNode { prefix, code: code.to_string(), name });
            let children = t.children(code);
            for (i, child) in children.iter().enumerate() {
                let last = i + 1 == children.len();
                let branch = format!("{lead}{}", if last { "└─ " } else { "├─ " });
                let next = format!("{lead}{}", if last { "   " } else { "│  " });
                walk(t, *child, &next, branch, out);
            }
        }
        walk(t, t.root(), "", String::new(), &mut out);
    }
    for (code, name) in extra {
        if !out.iter().any(|n| &n.code == code) {
            out.push(TreeNode { prefix: String::new(), code: code.clone(), name: name.clone() });
        }
    }
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn yes_no(v: Option<bool>) -> String {
    v.map(|b| if b { "yes" } else { "NO" }.to_owned()).unwrap_or_else(|| "-".into())
}

/// The tree as a table, then a summary line and the reasons of failures.
pub fn render(nodes: &[TreeNode], probes: &BTreeMap<String, Probe>) -> String {
    let mut t = Table::new(&["node", "code", "health", "nats", "restored", "lag events", "max lag s", "events"])
        .right(&[5, 6, 7]);
    let mut notes = Vec::new();
    let not_started = Probe::new(Health::NotStarted, None);
    let mut serving = 0;
    for n in nodes {
        let p = probes.get(&n.code).unwrap_or(&not_started);
        if p.health == Health::Serving {
            serving += 1;
        }
        let nats = if p.replication_off { "off".into() } else { yes_no(p.connected) };
        t.row([
            format!("{}{}", n.prefix, if n.name.is_empty() { "?" } else { &n.name }),
            n.code.clone(),
            p.health.label().into(),
            nats,
            yes_no(p.restored),
            opt(p.lag_events),
            p.max_lag_seconds.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into()),
            opt(p.events),
        ]);
        if let Health::Down(why) = &p.health {
            notes.push(format!("{} {}: {why}", n.code, n.name));
        }
        for e in &p.errors {
            notes.push(format!("{} {}: {e}", n.code, n.name));
        }
    }
    let mut out = t.render();
    out.push_str(&format!("({} nodes, {serving} serving)\n", nodes.len()));
    for note in notes {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

/// The tree as nested JSON objects (`children`), each with what its probe found.
pub fn to_json(topology: Option<&Topology>, nodes: &[TreeNode], probes: &BTreeMap<String, Probe>) -> serde_json::Value {
    let not_started = Probe::new(Health::NotStarted, None);
    let one = |n: &TreeNode| {
        let p = probes.get(&n.code).unwrap_or(&not_started);
        let level = topology
            .and_then(|t| t.node(n.code.parse().ok()?))
            .map(|node| node.level.as_str().to_owned())
            .unwrap_or_default();
        serde_json::json!({
            "code": n.code,
            "name": n.name,
            "level": level,
            "grpc": p.grpc,
            "health": p.health.label(),
            "down_reason": match &p.health { Health::Down(why) => Some(why.clone()), _ => None },
            "replication": !p.replication_off,
            "connected": p.connected,
            "restored": p.restored,
            "lag_events": p.lag_events,
            "max_lag_seconds": p.max_lag_seconds,
            "events": p.events,
            "errors": p.errors,
            "children": [],
        })
    };
    // Rebuild the nesting from the topology's parents.
    let mut by_code: BTreeMap<String, serde_json::Value> = nodes.iter().map(|n| (n.code.clone(), one(n))).collect();
    let parent = |code: &str| -> Option<String> {
        let t = topology?;
        t.node(code.parse().ok()?)?.parent.map(|p| p.to_string())
    };
    // Children before parents: attach the deepest first.
    for n in nodes.iter().rev() {
        if let Some(p) = parent(&n.code).filter(|p| by_code.contains_key(p)) {
            let child = by_code.remove(&n.code).expect("present");
            let siblings = by_code.get_mut(&p).expect("checked")["children"].as_array_mut().expect("array");
            siblings.insert(0, child);
        }
    }
    let roots: Vec<serde_json::Value> = nodes.iter().filter_map(|n| by_code.remove(&n.code)).collect();
    let serving = probes.values().filter(|p| p.health == Health::Serving).count();
    serde_json::json!({ "nodes": roots, "total": nodes.len(), "serving": serving })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[[nodes]]
code = "620000"
name = "甘肃省"
level = "province"

[[nodes]]
code = "620100"
name = "兰州市"
level = "city"
parent = "620000"

[[nodes]]
code = "620102"
name = "城关区"
level = "county"
parent = "620100"

[[nodes]]
code = "620700"
name = "张掖市"
level = "city"
parent = "620000"

[[nodes]]
code = "620722"
name = "民乐县"
level = "county"
parent = "620700"

[[nodes]]
code = "620723"
name = "临泽县"
level = "county"
parent = "620700"
"#;

    fn serving(events: u64) -> Probe {
        Probe {
            connected: Some(true),
            restored: Some(true),
            lag_events: Some(0),
            max_lag_seconds: Some(0.0),
            events: Some(events),
            ..Probe::new(Health::Serving, Some("127.0.0.1:1".into()))
        }
    }

    #[test]
    fn the_tree_draws_province_cities_counties() {
        let t = Topology::from_toml(SMALL).unwrap();
        let mut probes: BTreeMap<String, Probe> =
            ["620000", "620100", "620102", "620700", "620722"].iter().map(|c| (c.to_string(), serving(3))).collect();
        probes.get_mut("620102").unwrap().lag_events = Some(12);
        probes.get_mut("620102").unwrap().max_lag_seconds = Some(4.25);
        probes.insert("620722".into(), Probe::new(Health::Down("connect: refused".into()), Some("127.0.0.1:2".into())));
        let nodes = tree(Some(&t), &BTreeMap::new());
        let text = render(&nodes, &probes);
        let expected = "\
node          code    health       nats  restored  lag events  max lag s  events
甘肃省        620000  SERVING      yes   yes                0        0.0       3
├─ 兰州市     620100  SERVING      yes   yes                0        0.0       3
│  └─ 城关区  620102  SERVING      yes   yes               12        4.2       3
└─ 张掖市     620700  SERVING      yes   yes                0        0.0       3
   ├─ 民乐县  620722  DOWN         -     -                  -          -       -
   └─ 临泽县  620723  NOT_STARTED  -     -                  -          -       -
(6 nodes, 4 serving)
620722 民乐县: connect: refused
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn nodes_outside_the_topology_come_last() {
        let extra = BTreeMap::from([("620100".to_string(), "兰州市".to_string()), ("999999".into(), "x".into())]);
        let t = Topology::from_toml(SMALL).unwrap();
        let nodes = tree(Some(&t), &extra);
        assert_eq!(nodes.len(), 7);
        assert_eq!(nodes.last().unwrap().code, "999999");
        let flat = tree(None, &extra);
        assert_eq!(flat.iter().map(|n| n.prefix.as_str()).collect::<Vec<_>>(), ["", ""]);
    }

    #[test]
    fn json_nests_children() {
        let t = Topology::from_toml(SMALL).unwrap();
        let nodes = tree(Some(&t), &BTreeMap::new());
        let probes = BTreeMap::from([("620722".to_string(), serving(5))]);
        let v = to_json(Some(&t), &nodes, &probes);
        assert_eq!(v["total"], 6);
        assert_eq!(v["serving"], 1);
        let root = &v["nodes"][0];
        assert_eq!(root["code"], "620000");
        assert_eq!(root["level"], "province");
        assert_eq!(root["health"], "NOT_STARTED");
        let cities: Vec<&str> =
            root["children"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(cities, ["兰州市", "张掖市"]);
        let minle = &root["children"][1]["children"][0];
        assert_eq!(minle["code"], "620722");
        assert_eq!(minle["events"], 5);
        assert_eq!(minle["connected"], true);
        assert_eq!(v["nodes"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_dead_address_is_down_quickly() {
        let (_held, dead) = linkage_testkit::unused_address();
        let started = std::time::Instant::now();
        let p = probe(Some(dead.to_string()), None, PROBE_TIMEOUT).await;
        assert!(matches!(p.health, Health::Down(_)), "{p:?}");
        assert!(started.elapsed() < PROBE_TIMEOUT + Duration::from_secs(1));
        assert!(matches!(probe(None, None, PROBE_TIMEOUT).await.health, Health::Down(_)));
    }

    #[tokio::test]
    async fn a_hung_node_is_down_after_the_timeout() {
        // Accepts connections (the kernel does) but never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = std::time::Instant::now();
        let p = probe(Some(addr.to_string()), None, PROBE_TIMEOUT).await;
        assert!(matches!(p.health, Health::Down(_)), "{p:?}");
        assert!(started.elapsed() < 2 * PROBE_TIMEOUT + Duration::from_secs(1), "{:?}", started.elapsed());
        drop(listener);
    }
}
