//! What operators rely on: reflection for grpcurl, health probes, SIGTERM,
//! `--help`, clear configuration errors, a stable identity.

use linkage_core::pb;
use linkage_testkit::pki::node_tls_flags;
use linkage_testkit::{topology, NodeProcess};
use std::process::Command;
use tonic_reflection::pb::{v1, v1alpha};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_and_health_work_like_grpcurl_expects() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start(&linkage_testkit::node_bin(), "620000", &topology("demo.toml"), dir.path()).unwrap();
    let want = ["grpc.health.v1.Health", "linkage.v1.AdminService", "linkage.v1.EventLogService"];

    // grpcurl list: v1 reflection …
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(node.channel().await.unwrap());
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list response")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in want {
        assert!(names.iter().any(|n| n == name), "v1 reflection lacks {name}: {names:?}");
    }

    // … and v1alpha, which older grpcurl versions use, including file lookups.
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(node.channel().await.unwrap());
    let requests = [
        v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
        },
        v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "linkage.v1.EventLogService".into(),
            )),
        },
    ];
    let mut stream = client.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap().message_response.unwrap();
    let v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list) = first else {
        panic!("not a list response")
    };
    for name in want {
        assert!(list.service.iter().any(|s| s.name == name), "v1alpha reflection lacks {name}");
    }
    let second = stream.message().await.unwrap().unwrap().message_response.unwrap();
    assert!(matches!(second, v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(_)));

    // grpc_health_probe: overall and per service.
    let mut health = node.health().await.unwrap();
    for service in ["", "linkage.v1.EventLogService", "linkage.v1.AdminService"] {
        let answer =
            health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(answer.status(), tonic_health::pb::health_check_response::ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero_and_the_identity_stays() {
    let dir = tempfile::tempdir().unwrap();
    let mut node =
        NodeProcess::start(&linkage_testkit::node_bin(), "620700", &topology("demo.toml"), dir.path()).unwrap();
    let key_before = node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner().public_key;
    // A live subscription must not keep the node from stopping.
    let mut sub = node.event_log().await.unwrap();
    let mut stream = sub.subscribe(pb::SubscribeRequest { from_position: 1 }).await.unwrap().into_inner();
    let status = node.terminate().unwrap();
    assert!(status.success(), "exit status {status}");
    // The subscription ends (with UNAVAILABLE or end of stream) instead of holding the node up.
    assert!(!matches!(stream.message().await, Ok(Some(_))), "the subscription outlived the node");

    node.restart().unwrap();
    let key_after = node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner().public_key;
    assert_eq!(key_before, key_after, "the node keeps its key across restarts");
    assert_eq!(key_after.len(), 64);
}

/// `grpc.addr` is how tests and `deploy/local/up` learn that a node is up;
/// a SIGTERM sent the moment it appears must get the orderly stop, not
/// the signal's default action (a CI run once saw "exit status signal: 15").
/// The file is watched without sleeping, to send the signal as early as
/// anyone could.
#[test]
fn sigterm_the_moment_the_node_is_up_still_exits_zero() {
    use nix::sys::signal::{kill, Signal};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let topology = topology("demo.toml");
    let addr_file = dir.path().join("grpc.addr");
    for round in 0..20 {
        let _ = std::fs::remove_file(&addr_file);
        let mut child = Command::new(linkage_testkit::node_bin())
            .args(["--node", "620700", "--grpc-listen", "127.0.0.1:0", "--topology"])
            .arg(&topology)
            .args(node_tls_flags("620700", dir.path()).unwrap())
            .arg("--data-dir")
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !addr_file.exists() {
            assert!(child.try_wait().unwrap().is_none(), "round {round}: the node exited at start");
            assert!(Instant::now() < deadline, "round {round}: no grpc.addr within 30 s");
            std::thread::yield_now();
        }
        kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "round {round}: exit status {status}");
    }
}

/// A signal while the node starts (here: waiting for the store's lock,
/// which another node holds) does not kill it by the signal's default
/// action: it is logged and kept for when the node serves, and a second
/// one stops the process at once.
#[test]
fn a_second_sigterm_during_start_up_stops_the_node_at_once() {
    use nix::sys::signal::{kill, Signal};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let topology = topology("demo.toml");
    let _holder = NodeProcess::start(&linkage_testkit::node_bin(), "620700", &topology, dir.path()).unwrap();
    let log = dir.path().join("second.log");
    let mut second = Command::new(linkage_testkit::node_bin())
        .args(["--node", "620700", "--grpc-listen", "127.0.0.1:0", "--topology"])
        .arg(&topology)
        .args(node_tls_flags("620700", dir.path()).unwrap())
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(second.id() as i32);
    // The store's lock is waited for up to 5 s: everything below happens
    // within that wait.
    let wait_for = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(4);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains(text) {
            assert!(Instant::now() < deadline, "no {text:?} in {}", std::fs::read_to_string(&log).unwrap());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for("opening the store");
    kill(pid, Signal::SIGTERM).unwrap();
    wait_for("stopping once started");
    assert!(second.try_wait().unwrap().is_none(), "one SIGTERM during start-up killed the node");
    kill(pid, Signal::SIGTERM).unwrap();
    let status = second.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}: {}", std::fs::read_to_string(&log).unwrap());
}

/// Every argument clap knows of the node's command line — not a hand-kept
/// list, so a new flag without help fails here — has help text that names
/// its environment variable, and `--help` of the real binary shows it.
#[test]
fn help_explains_every_option() {
    use clap::CommandFactory;
    let out = Command::new(linkage_testkit::node_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let command = linkage_node::config::Cli::command();
    let mut checked = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let text = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(text.trim().len() > 10, "--{long} has no help text");
        let env = format!("LINKAGE_{}", long.to_uppercase().replace('-', "_"));
        // The whole flag: `--log` must not be found on `--log-format`'s line.
        let flag = format!("--{long}");
        let line = help
            .lines()
            .find(|l| {
                l.trim_start().strip_prefix(&flag).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '<']))
            })
            .unwrap_or_else(|| panic!("--help does not show --{long}:\n{help}"));
        let shown = help.split(line).nth(1).and_then(|rest| rest.split("\n      --").next()).unwrap_or_default();
        assert!(format!("{line}{shown}").contains(&env), "--help does not name {env} for --{long}:\n{line}{shown}");
        checked += 1;
    }
    assert!(checked >= 15, "clap lists only {checked} arguments");
}

#[test]
fn configuration_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let demo = topology("demo.toml");
    let tls = node_tls_flags("620200", dir.path()).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--topology".into(), demo.display().to_string()], "`node` is required"),
        (vec!["--node".into(), "620700".into()], "`topology` is required"),
        (vec!["--node".into(), "62070".into(), "--topology".into(), demo.display().to_string()], "node"),
        (
            [vec!["--node".into(), "620200".into(), "--topology".into(), demo.display().to_string()], tls.clone()]
                .concat(),
            "not in topology",
        ),
        (vec!["--node".into(), "620200".into(), "--topology".into(), demo.display().to_string()], "`tls` is required"),
        (
            [vec!["--node".into(), "620700".into(), "--topology".into(), "/nonexistent.toml".into()], tls.clone()]
                .concat(),
            "topology",
        ),
        (vec!["--config".into(), "/nonexistent.toml".into()], "config file /nonexistent.toml does not exist"),
    ];
    for (args, needle) in cases {
        let out = Command::new(linkage_testkit::node_bin())
            .args(&args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("LINKAGE_NODE")
            .env_remove("LINKAGE_TOPOLOGY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} should mention {needle:?}");
    }
}

/// Prometheus finds how long appends took, how long the log's syncs took
/// (one per lone append at least) and how many events each commit wrote:
/// histograms with buckets, appends labelled by RPC and status code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_how_long_appends_and_log_syncs_take() {
    use linkage_testkit::info_reported;
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--metrics-listen", "127.0.0.1:0"];
    let node =
        NodeProcess::start_with(&linkage_testkit::node_bin(), "620722", &topology("demo.toml"), dir.path(), &extra)
            .unwrap();
    let mut client = node.event_log().await.unwrap();
    const APPENDS: u64 = 3;
    const BATCH: u64 = 2;
    for n in 0..APPENDS {
        client.append(info_reported("up", format!("社情民意 {n}"), "内容")).await.unwrap();
    }
    // A county has no `down`: refused, and timed under its code.
    client.append(info_reported("down", "下行".into(), "内容")).await.unwrap_err();
    let requests = (0..BATCH).map(|n| info_reported("up", format!("批量 {n}"), "内容")).collect();
    client.append_batch(pb::AppendBatchRequest { requests, view: 0 }).await.unwrap();

    let metrics = node.metrics().unwrap();
    let value = |name: &str, labels: &[&str]| metrics.value(name, labels);
    let syncs = value("linkage_log_sync_seconds_count", &[]);
    assert!(syncs >= (APPENDS + 1) as f64, "{syncs} syncs for {} acknowledged commits", APPENDS + 1);
    assert_eq!(value("linkage_log_sync_seconds_bucket", &["le=\"+Inf\""]), syncs);
    let body = &metrics.body;
    assert!(body.contains("linkage_log_sync_seconds_bucket{le=\"0.001\"}"), "not a histogram:\n{body}");

    let ok = ["rpc=\"Append\"", "code=\"OK\""];
    assert_eq!(value("linkage_append_seconds_count", &ok), APPENDS as f64);
    assert_eq!(value("linkage_append_seconds_bucket", &[ok[0], ok[1], "le=\"+Inf\""]), APPENDS as f64);
    assert!(value("linkage_append_seconds_sum", &ok) > 0.0);
    assert_eq!(value("linkage_append_seconds_count", &["rpc=\"Append\"", "code=\"FAILED_PRECONDITION\""]), 1.0);
    assert_eq!(value("linkage_append_seconds_count", &["rpc=\"AppendBatch\"", "code=\"OK\""]), 1.0);

    // Every event written once, the batch in one commit.
    assert_eq!(value("linkage_commit_events_sum", &[]), (APPENDS + BATCH) as f64);
    assert_eq!(value("linkage_commit_events_count", &[]), (APPENDS + 1) as f64);
    assert_eq!(value("linkage_commit_events_bucket", &["le=\"1\""]), APPENDS as f64);
    assert_eq!(value("linkage_commit_events_bucket", &["le=\"2\""]), (APPENDS + 1) as f64);
}

/// The alert rules name only metrics a node exports: each `linkage_…`
/// name in `deploy/prometheus/alerts.yml` is a metric name in the code.
#[test]
fn the_alert_rules_name_only_metrics_a_node_exports() {
    let root = linkage_testkit::workspace::workspace_root();
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let mut code = String::new();
    for crate_dir in std::fs::read_dir(root.join("services")).unwrap() {
        let src = crate_dir.unwrap().path().join("src");
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    code.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
    }
    let names: std::collections::BTreeSet<&str> =
        rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("linkage_")).collect();
    assert!(names.len() >= 8, "the rules name {names:?}");
    for name in names {
        assert!(code.contains(&format!("\"{name}\"")), "{name} is in the alert rules but no node exports it");
    }
    assert_eq!(rules.matches("- alert:").count(), rules.matches("expr:").count(), "every alert has an expression");
}
