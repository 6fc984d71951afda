//! The demo topology as real processes — nats-server and one
//! `linkage-node` per committee — started by `linkctl local up`, the runner
//! behind `deploy/local/up`, in a scratch directory on the workspace's
//! disk, and stopped by `linkctl local down` when dropped: on success, on
//! error and on a panic alike.
//!
//! Why not `linkage_testkit::topology::LocalTopology`: it keeps its working
//! directory in the system's temp dir, which is a tmpfs on many machines,
//! where fdatasync is free and every replication figure would flatter us.
//! The process handling is the same: the argv `linkctl` recorded in
//! `nodes.json`, SIGKILL by pid, restart with the same argv.

use crate::scratch::Scratch;
use anyhow::Context;
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use tonic::transport::{Channel, Endpoint};

/// Where `cargo build --release --bins` puts the binaries, relative to
/// the workspace root.
const BIN_DIR: &str = "target/release";

/// The release binaries the replication figures run, each with the
/// sources it is built from (its own crate and the workspace crates it
/// uses, their build scripts and the lock file), relative to the workspace
/// root: a change to one of them makes that binary stale, a change
/// elsewhere does not.
const BINARY_SOURCES: [(&str, &[&str]); 2] = [
    (
        "linkage-node",
        &[
            "proto",
            "Cargo.lock",
            "services/linkage-proto/build.rs",
            "services/linkage-proto/src",
            "services/linkage-core/src",
            "services/linkage-store/src",
            "services/linkage-replication/src",
            "services/linkage-node/src",
            "services/linkage-node/Cargo.toml",
        ],
    ),
    (
        "linkctl",
        &[
            "proto",
            "Cargo.lock",
            "services/linkage-proto/build.rs",
            "services/linkage-proto/src",
            "services/linkage-core/src",
            "services/linkctl/src",
            "services/linkctl/Cargo.toml",
        ],
    ),
];

/// Directory levels searched for sources; the trees are shallow.
const SOURCE_DEPTH_MAX: usize = 4;

/// The NATS user the baselines connect as; the nodes' users are their codes.
pub const BENCH_USER: &str = "bench";

/// The subjects the bench user may use; no node listens there.
pub const BENCH_SUBJECTS: &str = "bench.>";

/// The bench user's reply inboxes, shaped like a node's `_INBOX_<code>`.
pub const BENCH_INBOX_PREFIX: &str = "_INBOX_bench";

/// How long nats-server may take to reload its users after SIGHUP.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a restarted node may take to bind its gRPC port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a killed process may take to disappear.
const DEATH_TIMEOUT: Duration = Duration::from_secs(20);

/// Pause between polls of a file or a process.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How long one gRPC connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a scrape of a node's `/metrics` may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The unit of CPU times in `/proc/<pid>/stat`: USER_HZ, 100 on Linux
/// whatever the kernel's own tick.
const PROC_TICKS_PER_S: u64 = 100;

/// The released `linkctl` and `linkage-node`, which the topology runs.
pub struct Binaries {
    /// `target/release` of the workspace.
    dir: PathBuf,
    /// Why the binaries may be older than the sources, if they may.
    pub stale: Option<String>,
}

impl Binaries {
    /// Finds the binaries and nats-server, or says how to get them. The
    /// bench does not build them itself: `cargo run` holds the build lock
    /// of the workspace it was started from.
    pub fn find(root: &Path) -> anyhow::Result<Binaries> {
        let dir = root.join(BIN_DIR);
        let mut stale = None;
        for (name, sources) in BINARY_SOURCES {
            let path = dir.join(name);
            let built = std::fs::metadata(&path).and_then(|m| m.modified()).map_err(|_| {
                anyhow::anyhow!(
                    "{} is missing: the replication figures run the release binaries; \
                     run `cargo build --release --bins` (or `make build`) first",
                    path.display()
                )
            })?;
            if stale.is_some() {
                continue;
            }
            stale = newest_source(root, sources).filter(|(_, changed)| *changed > built).map(|(source, _)| {
                format!(
                    "{} changed after {}/{name} was built: run `cargo build --release --bins` \
                     or the replication figures may measure old code (cargo relinks a binary only \
                     when something it uses changed, so after a build this can be harmless)",
                    source.strip_prefix(root).unwrap_or(&source).display(),
                    BIN_DIR
                )
            });
        }
        anyhow::ensure!(
            on_path("nats-server"),
            "nats-server is not on PATH; `linkctl local up` starts it by name (see `make deps`)"
        );
        Ok(Binaries { dir, stale })
    }

    fn linkctl(&self) -> PathBuf {
        self.dir.join("linkctl")
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// The most recently changed file under `dirs`, or of them where one is a file.
fn newest_source(root: &Path, dirs: &[&str]) -> Option<(PathBuf, SystemTime)> {
    fn walk(dir: &Path, depth: usize, newest: &mut Option<(PathBuf, SystemTime)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() && depth < SOURCE_DEPTH_MAX {
                walk(&entry.path(), depth + 1, newest);
            } else if let Ok(modified) = meta.modified() {
                if newest.as_ref().is_none_or(|(_, n)| modified > *n) {
                    *newest = Some((entry.path(), modified));
                }
            }
        }
    }
    let mut newest = None;
    for dir in dirs {
        let path = root.join(dir);
        match std::fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(modified) if path.is_file() => {
                if newest.as_ref().is_none_or(|(_, n)| modified > *n) {
                    newest = Some((path, modified));
                }
            }
            _ => walk(&path, 0, &mut newest),
        }
    }
    newest
}

/// How the baselines reach nats-server.
#[derive(Clone, Debug)]
pub struct NatsUser {
    /// The topology's broker.
    pub url: String,
    /// [`BENCH_USER`].
    pub user: String,
    /// Random, written to the server's configuration only.
    pub password: String,
}

/// A running topology. Everything it started is stopped when it is
/// dropped, and its working directory removed after that.
pub struct Cluster {
    /// `target/release/linkctl`.
    linkctl: PathBuf,
    /// `nodes.json` as `linkctl local up` wrote it, with the pid and
    /// address of a restarted node kept current (and written back, so that
    /// `linkctl local down` stops the new process).
    nodes: serde_json::Value,
    /// Nodes this process started again; reaped when stopped.
    children: Vec<Child>,
    /// False once stopped.
    running: bool,
    /// The working directory: keys, stores, logs, `nodes.json`. Declared
    /// last, so it is removed after [`Drop`] stopped the processes.
    workdir: Scratch,
}

impl Cluster {
    /// `linkctl local up TOPOLOGY WORKDIR --bin-dir target/release`: the
    /// broker and every node, each serving and restored when this returns.
    pub fn up(binaries: &Binaries, topology: &Path, workdir: Scratch) -> anyhow::Result<Cluster> {
        let out = Command::new(binaries.linkctl())
            .args(["local", "up"])
            .arg(topology)
            .arg(workdir.path())
            .arg("--bin-dir")
            .arg(&binaries.dir)
            .stdin(Stdio::null())
            .output()
            .context("running linkctl local up")?;
        let nodes_file = workdir.path().join("nodes.json");
        let nodes = std::fs::read_to_string(&nodes_file).ok().and_then(|text| serde_json::from_str(&text).ok());
        // Built as soon as there is anything to stop, so that a failure
        // below still stops it.
        let cluster = nodes.map(|nodes| Cluster {
            linkctl: binaries.linkctl(),
            nodes,
            children: Vec::new(),
            running: true,
            workdir,
        });
        anyhow::ensure!(
            out.status.success(),
            "linkctl local up failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let cluster =
            cluster.with_context(|| format!("linkctl local up wrote no readable {}", nodes_file.display()))?;
        cluster.nats_addr()?;
        for code in cluster.codes() {
            cluster.grpc_addr(&code)?;
        }
        Ok(cluster)
    }

    /// Every node's code.
    pub fn codes(&self) -> Vec<String> {
        self.nodes["nodes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// The broker's URL.
    pub fn nats_url(&self) -> String {
        self.nodes["nats"]["url"].as_str().unwrap_or_default().to_owned()
    }

    /// The broker's address, which must be on loopback.
    fn nats_addr(&self) -> anyhow::Result<SocketAddr> {
        let url = self.nats_url();
        let addr: SocketAddr = url
            .strip_prefix("nats://")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("nats url {url:?} in nodes.json is not nats://IP:PORT"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "nats-server listens on {addr}, not on loopback");
        Ok(addr)
    }

    /// A node's gRPC address, which must be on loopback.
    pub fn grpc_addr(&self, code: &str) -> anyhow::Result<SocketAddr> {
        let text = self.nodes["nodes"][code]["grpc"].as_str().with_context(|| format!("no gRPC address for {code}"))?;
        let addr: SocketAddr = text.parse().with_context(|| format!("gRPC address of {code}: {text:?}"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "{code} serves gRPC on {addr}, not on loopback");
        Ok(addr)
    }

    fn pid(&self, code: &str) -> anyhow::Result<u32> {
        let pid = self.nodes["nodes"][code]["pid"].as_u64().with_context(|| format!("no pid for {code}"))?;
        u32::try_from(pid).with_context(|| format!("pid {pid} of {code}"))
    }

    fn data_dir(&self, code: &str) -> anyhow::Result<PathBuf> {
        let dir = self.nodes["nodes"][code]["data_dir"].as_str().with_context(|| format!("no data_dir for {code}"))?;
        Ok(PathBuf::from(dir))
    }

    /// Every pid the topology runs under, broker last.
    fn pids(&self) -> Vec<u32> {
        let nodes = self.nodes["nodes"].as_object().into_iter().flat_map(|m| m.values());
        nodes.chain([&self.nodes["nats"]]).filter_map(|p| p["pid"].as_u64()?.try_into().ok()).collect()
    }

    /// A new HTTP/2 connection to a node.
    pub async fn channel(&self, code: &str) -> anyhow::Result<Channel> {
        let addr = self.grpc_addr(code)?;
        Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {code} at {addr}"))
    }

    /// An EventLogService client on a new connection, taking pages and
    /// batches of any size the node sends.
    pub async fn event_log(&self, code: &str) -> anyhow::Result<EventLogServiceClient<Channel>> {
        Ok(EventLogServiceClient::new(self.channel(code).await?).max_decoding_message_size(64 << 20))
    }

    /// An AdminService client on a new connection.
    pub async fn admin(&self, code: &str) -> anyhow::Result<AdminServiceClient<Channel>> {
        Ok(AdminServiceClient::new(self.channel(code).await?))
    }

    /// SIGKILL: the node gets no chance to finish anything.
    pub fn kill9(&mut self, code: &str) -> anyhow::Result<()> {
        let pid = self.pid(code)?;
        signal(pid, Signal::SIGKILL);
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            self.children.remove(i).wait().with_context(|| format!("reaping {code}"))?;
        }
        let deadline = Instant::now() + DEATH_TIMEOUT;
        while alive(pid) {
            anyhow::ensure!(Instant::now() < deadline, "{code} (pid {pid}) survived SIGKILL for {DEATH_TIMEOUT:?}");
            std::thread::sleep(POLL_INTERVAL);
        }
        Ok(())
    }

    /// Starts a stopped node again with the argv `linkctl` recorded, its
    /// output appended to its `node.log`, and records the new pid.
    pub fn spawn(&mut self, code: &str) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let old = self.pid(code)?;
        anyhow::ensure!(!alive(old), "{code} still runs as pid {old}");
        let argv: Vec<String> = serde_json::from_value(self.nodes["nodes"][code]["argv"].clone())
            .with_context(|| format!("argv of {code} in nodes.json"))?;
        let (program, args) = argv.split_first().with_context(|| format!("empty argv for {code}"))?;
        let dir = self.data_dir(code)?;
        let _ = std::fs::remove_file(dir.join("grpc.addr"));
        let _ = std::fs::remove_file(dir.join("metrics.addr"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("node.log"))?;
        // Its own process group, as `linkctl local up` starts nodes: a
        // Ctrl-C at the terminal reaches the bench, which stops it.
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {code} again"))?;
        self.nodes["nodes"][code]["pid"] = child.id().into();
        self.children.push(child);
        self.write_nodes()
    }

    /// Waits until a started node has bound its gRPC port; records it.
    pub async fn wait_bound(&mut self, code: &str) -> anyhow::Result<SocketAddr> {
        let dir = self.data_dir(code)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let addr: SocketAddr = loop {
            if let Some(addr) = std::fs::read_to_string(dir.join("grpc.addr")).ok().and_then(|t| t.trim().parse().ok())
            {
                break addr;
            }
            anyhow::ensure!(alive(self.pid(code)?), "{code} exited at start; see {}", dir.join("node.log").display());
            anyhow::ensure!(Instant::now() < deadline, "{code} did not bind its gRPC port in {START_TIMEOUT:?}");
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        self.nodes["nodes"][code]["grpc"] = addr.to_string().into();
        // Bound before gRPC, so present by now.
        if let Ok(metrics) = std::fs::read_to_string(dir.join("metrics.addr")) {
            self.nodes["nodes"][code]["metrics"] = metrics.trim().into();
        }
        self.write_nodes()?;
        self.grpc_addr(code)
    }

    /// The counters of a node's Prometheus `/metrics`, each summed over
    /// its labels.
    pub async fn counters(&self, code: &str) -> anyhow::Result<Counters> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let text =
            self.nodes["nodes"][code]["metrics"].as_str().with_context(|| format!("no metrics address for {code}"))?;
        let addr: SocketAddr = text.parse().with_context(|| format!("metrics address of {code}: {text:?}"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "{code} serves metrics on {addr}, not on loopback");
        let scrape = async {
            let mut socket = tokio::net::TcpStream::connect(addr).await?;
            socket
                .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
                .await?;
            let mut response = String::new();
            socket.read_to_string(&mut response).await?;
            anyhow::Ok(response)
        };
        let response = tokio::time::timeout(SCRAPE_TIMEOUT, scrape)
            .await
            .map_err(|_| anyhow::anyhow!("scraping {code}'s metrics timed out"))?
            .with_context(|| format!("scraping {code}'s metrics at {addr}"))?;
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        Ok(Counters::parse(body))
    }

    fn write_nodes(&self) -> anyhow::Result<()> {
        let tmp = self.workdir.path().join("nodes.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&self.nodes)?)?;
        std::fs::rename(&tmp, self.workdir.path().join("nodes.json")).context("writing nodes.json")
    }

    /// Adds [`BENCH_USER`] to the broker's users and has it reload them
    /// (SIGHUP), so that the baselines run on the topology's own server
    /// under the same kind of per-user permissions as the nodes, on
    /// subjects no node subscribes to. Every subject a node's user may
    /// subscribe to is one the node itself listens on, so a node's
    /// credentials would put a second receiver behind every baseline
    /// message.
    pub async fn add_bench_user(&self) -> anyhow::Result<NatsUser> {
        let argv = self.nodes["nats"]["argv"].as_array().context("no argv for nats-server in nodes.json")?;
        let conf = argv
            .iter()
            .skip_while(|a| a.as_str() != Some("-c"))
            .nth(1)
            .and_then(|c| c.as_str())
            .context("nats-server's argv names no config file (-c)")?;
        let text = std::fs::read_to_string(conf).with_context(|| format!("reading {conf}"))?;
        let end = text.rfind(']').with_context(|| format!("{conf} lists no users"))?;
        let password = random_hex(24)?;
        let user = format!(
            "    {{\n      user: \"{BENCH_USER}\"\n      password: \"{password}\"\n      permissions: {{\n        \
             publish: {{ allow: [\"{BENCH_SUBJECTS}\"] }}\n        \
             subscribe: {{ allow: [\"{BENCH_SUBJECTS}\", \"{BENCH_INBOX_PREFIX}.>\"] }}\n        \
             allow_responses: true\n      }}\n    }}\n"
        );
        let text = format!("{}{user}{}", &text[..end], &text[end..]);
        std::fs::write(conf, text).with_context(|| format!("writing {conf}"))?;
        let nats_pid = self.nodes["nats"]["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).context("no nats pid")?;
        signal(nats_pid, Signal::SIGHUP);

        let user = NatsUser { url: self.nats_url(), user: BENCH_USER.into(), password };
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            match crate::raw_nats::connect(&user).await {
                Ok(client) => {
                    drop(client);
                    return Ok(user);
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("nats-server did not take the bench user within {RELOAD_TIMEOUT:?}")))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Stops everything and checks that `linkctl local down` succeeded.
    pub fn down(mut self) -> anyhow::Result<()> {
        self.stop()
    }

    /// `linkctl local down` (SIGTERM, SIGKILL after its grace period), then
    /// SIGKILL to anything of ours still alive, whatever linkctl did.
    fn stop(&mut self) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let out =
            Command::new(&self.linkctl).args(["local", "down"]).arg(self.workdir.path()).stdin(Stdio::null()).output();
        for pid in self.pids() {
            if alive(pid) {
                signal(pid, Signal::SIGKILL);
            }
        }
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = out.context("running linkctl local down")?;
        anyhow::ensure!(
            out.status.success(),
            "linkctl local down failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the topology: {e:#}");
        }
    }
}

/// A node's counters, by metric name, summed over labels.
#[derive(Clone, Debug, Default)]
pub struct Counters(std::collections::BTreeMap<String, f64>);

impl Counters {
    /// Reads the Prometheus text format: `name{labels} value` per line.
    fn parse(body: &str) -> Counters {
        let mut out = std::collections::BTreeMap::new();
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            let (Some(series), Some(value)) = (words.next(), words.next()) else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let name = series.split('{').next().unwrap_or(series);
            *out.entry(name.to_owned()).or_insert(0.0) += value;
            if name != series {
                *out.entry(series.to_owned()).or_insert(0.0) += value;
            }
        }
        Counters(out)
    }

    /// One counter, by name (summed over labels) or by series
    /// (`name{label="value"}`); 0 when the node has not counted it yet.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0.0) as u64
    }

    /// `name` now minus `name` in `before`.
    pub fn since(&self, before: &Counters, name: &str) -> u64 {
        self.get(name).saturating_sub(before.get(name))
    }

    /// The log syncs the node timed since `before`, in words (see
    /// [`Counters::timings`] and `linkage_store::LOG_SYNC_SECONDS`).
    pub fn syncs(&self, before: &Counters) -> String {
        self.timings(before, linkage_store::LOG_SYNC_SECONDS, "", "log syncs")
    }

    /// The mean of the log syncs the node timed since `before`, in µs;
    /// `None` when it timed none.
    pub fn sync_mean_us(&self, before: &Counters) -> Option<f64> {
        self.mean_s(before, linkage_store::LOG_SYNC_SECONDS, "").map(|(_, mean)| mean * 1e6)
    }

    /// How many samples the histogram `name` (series `labels`, as in
    /// [`Counters::timings`]) took since `before`, and their mean; `None`
    /// when it took none.
    fn mean_s(&self, before: &Counters, name: &str, labels: &str) -> Option<(u64, f64)> {
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let count = self.since(before, &format!("{name}_count{braced}"));
        let sum = |c: &Counters| c.0.get(&format!("{name}_sum{braced}")).copied().unwrap_or(0.0);
        (count > 0).then(|| (count, (sum(self) - sum(before)) / count as f64))
    }

    /// The `Append` calls the node answered with OK since `before`, timed
    /// by the node itself, in words (see [`Counters::timings`] and
    /// `linkage_node::event_log::APPEND_SECONDS`).
    pub fn appends(&self, before: &Counters) -> String {
        self.timings(before, linkage_node::event_log::APPEND_SECONDS, "rpc=\"Append\",code=\"OK\"", "appends")
    }

    /// What the histogram `name` timed since `before`, in words: how many
    /// `what`, their mean, the bucket bound that 99% stayed within, and how
    /// many took longer than 2 ms. `labels` picks one series, as the
    /// exporter prints its labels (`rpc="Append",code="OK"`); empty for a
    /// histogram without labels.
    fn timings(&self, before: &Counters, name: &str, labels: &str, what: &str) -> String {
        let Some((count, mean_s)) = self.mean_s(before, name, labels) else { return format!("no {what}") };
        // Bucket series as the exporter prints them, in ascending order.
        let prefix =
            if labels.is_empty() { format!("{name}_bucket{{le=\"") } else { format!("{name}_bucket{{{labels},le=\"") };
        let bucket = |le: &str| self.since(before, &format!("{prefix}{le}\"}}"));
        let mut bounds: Vec<(f64, &str)> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix("\"}"))
            .filter_map(|le| Some((le.parse::<f64>().ok()?, le)))
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p99 = bounds
            .iter()
            .find(|(_, le)| bucket(le) as f64 >= 0.99 * count as f64)
            .map_or_else(|| "beyond the last bucket".to_owned(), |(bound, _)| format!("≤ {:.0} µs", bound * 1e6));
        format!(
            "{count} {what}, mean {:.0} µs, p99 {p99}, {} over 2 ms",
            mean_s * 1e6,
            count.saturating_sub(bucket("0.002"))
        )
    }

    /// The commits the node wrote since `before`, in words: how many and
    /// their mean size in events (see `linkage_store::COMMIT_EVENTS`), that
    /// is how many requests or pushed runs shared one sync.
    pub fn commits(&self, before: &Counters) -> String {
        let name = linkage_store::COMMIT_EVENTS;
        let count = self.since(before, &format!("{name}_count"));
        if count == 0 {
            return "no commits".into();
        }
        let events = self.since(before, &format!("{name}_sum"));
        format!("{count} commits of {:.1} events on average", events as f64 / count as f64)
    }

    /// Events stored from other nodes, and events received again that were
    /// already held: together, everything the writer had to look at.
    pub fn received(&self) -> u64 {
        self.get(APPLIED) + self.get(DUPLICATES)
    }

    /// What replication did since `before`, in words: events applied and
    /// received twice, pulls by outcome, events served to others' pulls.
    pub fn summary(&self, before: &Counters) -> String {
        let pulls = |result: &str| self.since(before, &format!("linkage_pulls_total{{result=\"{result}\"}}"));
        format!(
            "applied {}, duplicates {}, pulls ok/empty/unanswered {}/{}/{}, events served to pulls {}",
            self.since(before, APPLIED),
            self.since(before, DUPLICATES),
            pulls("ok"),
            pulls("empty"),
            pulls("no_answer"),
            self.since(before, "linkage_pull_served_events_total")
        )
    }
}

/// Remote events a node stored.
const APPLIED: &str = "linkage_applied_events_total";

/// Remote events a node received again while already holding them.
const DUPLICATES: &str = "linkage_duplicate_events_total";

/// CPU time (user + system) used so far, by process: every node by code,
/// `nats-server`, and `bench` (this process).
#[derive(Clone, Debug, Default)]
pub struct CpuTimes(Vec<(String, Duration)>);

impl CpuTimes {
    /// What each process used since `before` (all of it for a process
    /// started since), over `wall`, as one line: which process is busy
    /// says where the time of a figure goes.
    pub fn since(&self, before: &CpuTimes, wall: Duration) -> String {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let used: Vec<String> = self
            .0
            .iter()
            .map(|(name, now)| {
                let then = before.0.iter().find(|(n, _)| n == name).map_or(Duration::ZERO, |(_, t)| *t);
                format!("{name} {:.2}", now.saturating_sub(then).as_secs_f64())
            })
            .collect();
        format!("CPU s over {:.2} s wall on {cores} cores: {}", wall.as_secs_f64(), used.join(", "))
    }
}

impl Cluster {
    /// CPU time each process of the topology, and the bench, used so far.
    pub fn cpu_times(&self) -> CpuTimes {
        let mut out = Vec::new();
        for code in self.codes() {
            if let Some(t) = self.pid(&code).ok().and_then(|pid| cpu_time(&pid.to_string())) {
                out.push((code, t));
            }
        }
        let nats = self.nodes["nats"]["pid"].as_u64().and_then(|pid| cpu_time(&pid.to_string()));
        out.extend(nats.map(|t| ("nats-server".to_owned(), t)));
        out.extend(cpu_time("self").map(|t| ("bench".to_owned(), t)));
        CpuTimes(out)
    }
}

/// utime + stime of `/proc/<pid>/stat`.
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses, fields count from 3 (state):
    // utime (14) and stime (15) are the 12th and 13th.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1_000 / PROC_TICKS_PER_S))
}

/// The head seq a node holds of (origin, channel); 0 when it holds none.
pub async fn head(admin: &mut AdminServiceClient<Channel>, origin: &str, channel: &str) -> anyhow::Result<u64> {
    let status = admin.status(pb::StatusRequest {}).await?.into_inner();
    Ok(status.heads.iter().find(|h| h.origin == origin && h.channel == channel).map_or(0, |h| h.seq))
}

fn signal(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

/// True while `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    raw > 0
        && kill(Pid::from_raw(raw), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_labels() {
        let body = "# TYPE linkage_pulls_total counter\nlinkage_pulls_total{result=\"ok\"} 3\n\
                    linkage_pulls_total{result=\"empty\"} 2\nlinkage_applied_events_total 1000\n";
        let counters = Counters::parse(body);
        assert_eq!(counters.get("linkage_pulls_total"), 5);
        assert_eq!(counters.get("linkage_pulls_total{result=\"ok\"}"), 3);
        assert_eq!(counters.get("linkage_applied_events_total"), 1_000);
        assert_eq!(counters.get("linkage_forks_total"), 0);
    }

    #[test]
    fn syncs_are_told_from_the_histogram_between_two_scrapes() {
        let scrape = |le: [u64; 4], count: u64, sum: f64| {
            let [a, b, c, d] = le;
            Counters::parse(&format!(
                "# TYPE linkage_log_sync_seconds histogram\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.0005\"}} {a}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.001\"}} {b}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.002\"}} {c}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.005\"}} {d}\n\
                 linkage_log_sync_seconds_bucket{{le=\"+Inf\"}} {count}\n\
                 linkage_log_sync_seconds_sum {sum}\nlinkage_log_sync_seconds_count {count}\n"
            ))
        };
        let before = scrape([5, 10, 10, 10], 10, 0.004);
        // 100 more: 60 within 0.5 ms, 30 more within 1 ms, 8 within 2 ms,
        // 1 within 5 ms, 1 beyond; 0.1 s in all.
        let after = scrape([65, 100, 108, 109], 110, 0.104);
        assert_eq!(after.syncs(&before), "100 log syncs, mean 1000 µs, p99 ≤ 5000 µs, 2 over 2 ms");
        assert_eq!(before.syncs(&before), "no log syncs");
        assert_eq!(after.sync_mean_us(&before).map(f64::round), Some(1000.0));
        assert_eq!(before.sync_mean_us(&before), None);
    }

    #[test]
    fn appends_are_told_from_their_own_series_of_the_histogram() {
        let scrape = |ok: [u64; 3], count: u64, sum: f64| {
            let [a, b, c] = ok;
            Counters::parse(&format!(
                "linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.001\"}} {a}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.002\"}} {b}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.005\"}} {c}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"+Inf\"}} {count}\n\
                 linkage_append_seconds_sum{{rpc=\"Append\",code=\"OK\"}} {sum}\n\
                 linkage_append_seconds_count{{rpc=\"Append\",code=\"OK\"}} {count}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"INVALID_ARGUMENT\",le=\"0.001\"}} 7\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"INVALID_ARGUMENT\",le=\"+Inf\"}} 7\n\
                 linkage_append_seconds_sum{{rpc=\"Append\",code=\"INVALID_ARGUMENT\"}} 0.001\n\
                 linkage_append_seconds_count{{rpc=\"Append\",code=\"INVALID_ARGUMENT\"}} 7\n"
            ))
        };
        let before = Counters::default();
        // 100 answered with OK: 90 within 1 ms, 99 within 2 ms; 0.08 s in all.
        let after = scrape([90, 99, 100], 100, 0.08);
        assert_eq!(after.appends(&before), "100 appends, mean 800 µs, p99 ≤ 2000 µs, 1 over 2 ms");
        assert_eq!(before.appends(&before), "no appends");
    }

    #[test]
    fn commit_sizes_are_told_from_the_histogram_between_two_scrapes() {
        let scrape = |count: u64, sum: u64| {
            Counters::parse(&format!(
                "linkage_commit_events_bucket{{le=\"1\"}} 3\nlinkage_commit_events_bucket{{le=\"+Inf\"}} {count}\n\
                 linkage_commit_events_sum {sum}\nlinkage_commit_events_count {count}\n"
            ))
        };
        let before = scrape(3, 3);
        assert_eq!(scrape(7, 1_003).commits(&before), "4 commits of 250.0 events on average");
        assert_eq!(before.commits(&before), "no commits");
    }

    #[test]
    fn the_newest_source_is_looked_for_only_under_a_binarys_own_dirs() {
        let root = std::env::temp_dir().join(format!("linkage-bench-sources-{}", std::process::id()));
        let file = |rel: &str, age_s: u64| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let f = std::fs::File::create(&path).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(age_s)).unwrap();
            path
        };
        let own = file("own/src/deep/lib.rs", 100);
        let other = file("other/src/lib.rs", 10);
        assert_eq!(newest_source(&root, &["own/src"]).map(|(p, _)| p), Some(own));
        assert_eq!(newest_source(&root, &["own/src", "other/src"]).map(|(p, _)| p), Some(other));
        assert_eq!(newest_source(&root, &["missing"]), None);
        let lock = file("Cargo.lock", 1);
        assert_eq!(newest_source(&root, &["own/src", "Cargo.lock"]).map(|(p, _)| p), Some(lock));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
