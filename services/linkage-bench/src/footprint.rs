//! Figure 11: what an idle county node costs its machine. With the demo
//! topology up (peers running, heads flowing, nothing appended), the
//! county's resident memory is sampled once a second over
//! [`IDLE_WINDOW`], and its CPU time is read from every thread's
//! `/proc/<pid>/task/<tid>/schedstat` at both ends. Baseline, in the same
//! window: this bench binary started again as `linkage-bench floor <dir>`
//! — the same allocator, a multi-thread tokio runtime as the node's, a
//! sled database opened with the node's default cache and a county's
//! compression, and a tonic server
//! answering `grpc.health.v1` on loopback — and nothing else: what any
//! process built on these pieces costs.

use crate::cluster::Cluster;
use crate::scratch::Scratch;
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the county is watched.
pub const IDLE_WINDOW: Duration = Duration::from_secs(60);

/// The argument that makes this binary the floor.
pub const FLOOR_ARG: &str = "floor";

/// How long the floor may take to start serving before it is measured.
const FLOOR_SETTLE: Duration = Duration::from_secs(3);

/// One process over the window.
#[derive(Clone, Copy, Debug)]
pub struct Idle {
    /// Largest resident set seen, MiB.
    pub rss_mib: f64,
    /// CPU time over wall time: µs of CPU per second (1,000 is 0.1 % of
    /// a core).
    pub cpu_us_per_s: f64,
}

/// The figure: the county, and the floor beside it.
pub struct Footprint {
    /// The county node.
    pub node: Idle,
    /// The bare process.
    pub floor: Idle,
    /// RSS samples taken of each.
    pub samples: u64,
}

/// Resident set of `pid`, KiB (`VmRSS`).
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of every thread of `pid` so far, ns (schedstat's first field).
fn cpu_ns(pid: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else { continue };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Measures figure 11 on `county` of `cluster`, the floor's sled in `run`.
pub async fn measure(cluster: &Cluster, run: &Scratch, county: &str) -> anyhow::Result<Footprint> {
    let node = cluster.pid(county)?;
    let dir = run.child("floor")?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg(FLOOR_ARG)
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the floor process")?;
    let floor = child.id().to_string();
    tokio::time::sleep(FLOOR_SETTLE).await;
    let measured = async {
        let cpu = |pid: &str| cpu_ns(pid).with_context(|| format!("reading /proc/{pid}/task/*/schedstat"));
        let (node_cpu, floor_cpu, started) = (cpu(&node)?, cpu(&floor)?, Instant::now());
        let (mut node_rss, mut floor_rss, mut samples) = (0, 0, 0);
        while started.elapsed() < IDLE_WINDOW {
            node_rss = node_rss.max(rss_kib(&node).context("the county node is gone")?);
            floor_rss = floor_rss.max(rss_kib(&floor).context("the floor process is gone")?);
            samples += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let wall = started.elapsed().as_nanos() as f64;
        let per_s = |now: u64, then: u64| now.saturating_sub(then) as f64 / wall * 1e6;
        anyhow::Ok(Footprint {
            node: Idle { rss_mib: node_rss as f64 / 1024.0, cpu_us_per_s: per_s(cpu(&node)?, node_cpu) },
            floor: Idle { rss_mib: floor_rss as f64 / 1024.0, cpu_us_per_s: per_s(cpu(&floor)?, floor_cpu) },
            samples,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    drop(dir);
    measured
}

/// `linkage-bench floor <dir>`: serves health until killed.
pub fn serve_floor(dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Compressed, as a county's store is (decision 0064).
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(linkage_store::CACHE_BYTES_DEFAULT)
            .use_compression(true)
            .compression_factor(linkage_store::store::COMPRESSION_LEVEL)
            .open()
            .context("opening the floor's sled")?;
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tonic::transport::Server::builder().add_service(health).serve_with_incoming(incoming).await?;
        drop(db);
        anyhow::Ok(())
    })
}
