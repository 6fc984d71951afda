//! Proof with strace that an acknowledged append was on disk: the write of
//! the event into the event log file is followed by a completed `fdatasync`
//! of that file, and only then is the response written to the client.
//!
//! sled 0.34's `flush()` alone ends in `sync_file_range`, which persists
//! neither the file's metadata nor the drive's cache; this test fails if the
//! node ever acknowledges on that alone.

use linkage_core::pb;
use linkage_testkit::topology;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One syscall as strace printed it (unfinished/resumed pairs joined by
/// their line numbers).
struct Line<'a> {
    index: usize,
    pid: &'a str,
    text: &'a str,
}

fn parse(trace: &str) -> Vec<Line<'_>> {
    trace
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (pid, rest) = line.split_once(' ')?;
            Some(Line { index, pid, text: rest })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batch_is_covered_by_fdatasync() {
    // Plaintext: the test finds the acknowledgement's bytes in the
    // node's socket writes, which TLS would hide.
    linkage_testkit::node::allow_plaintext().unwrap();
    let strace = Command::new("strace").arg("-V").output();
    assert!(strace.is_ok(), "strace is missing: `make deps` (or apt-get install strace) installs it");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let trace_path = dir.path().join("trace.txt");
    let mut tracer = Command::new("strace")
        .args(["-f", "-yy", "-s", "65536", "-o"])
        .arg(&trace_path)
        .args(["-e", "trace=pwrite64,write,writev,sendto,sendmsg,fdatasync,fsync,sync_file_range"])
        .arg(linkage_testkit::node_bin())
        .args(["--node", "620722", "--topology"])
        .arg(topology("demo.toml"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--grpc-listen", "127.0.0.1:0", "--plaintext-loopback", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(text) = std::fs::read_to_string(data.join("grpc.addr")) {
            break text.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "node under strace did not start");
        std::thread::sleep(Duration::from_millis(20));
    };

    let marker = format!("fsync-proof-{}", std::process::id());
    let mut client =
        linkage_proto::v1::event_log_service_client::EventLogServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    let requests = (0..3)
        .map(|i| linkage_testkit::info_reported("up", format!("{marker}-{i}"), "关于农村饮水安全的建议"))
        .collect();
    let acked =
        client.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(acked.responses.len(), 3);

    // Stop the traced node (strace's child) and let strace write everything.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", tracer.id())).unwrap();
    let node_pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(node_pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    tracer.wait().unwrap();
    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let lines = parse(&trace);

    // P: the write of the batch into the event log file.
    let db = "/store/events.log>";
    let p = lines
        .iter()
        .find(|l| l.text.contains("pwrite64(") && l.text.contains(db) && l.text.contains(&marker))
        .unwrap_or_else(|| panic!("no pwrite64 of the events into {db} in the trace:\n{trace}"));
    // F: the first fdatasync of that file that completes after P.
    let mut f = None;
    let mut pending: Vec<&str> = Vec::new();
    for l in lines.iter().filter(|l| l.index > p.index) {
        if l.text.contains("fdatasync(") && l.text.contains(db) {
            if l.text.contains("<unfinished ...>") {
                pending.push(l.pid);
            } else if l.text.trim_end().ends_with("= 0") {
                f = Some(l.index);
                break;
            }
        } else if l.text.contains("<... fdatasync resumed>") && pending.contains(&l.pid) && l.text.contains("= 0") {
            f = Some(l.index);
            break;
        }
    }
    let f = f.unwrap_or_else(|| panic!("no completed fdatasync of {db} after the write:\n{trace}"));
    // W: the response carrying the events to the client's TCP connection.
    let w = lines
        .iter()
        .find(|l| {
            l.text.contains("TCP")
                && l.text.contains(&marker)
                && !l.text.contains("read")
                && !l.text.contains("pwrite64")
        })
        .unwrap_or_else(|| panic!("no response with the events on a TCP socket in the trace:\n{trace}"));
    assert!(
        p.index < f && f < w.index,
        "order must be write (line {}) < fdatasync done (line {f}) < response (line {})",
        p.index,
        w.index
    );
}
