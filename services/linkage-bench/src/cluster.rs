//! The demo topology as real processes — nats-server and one
//! `linkage-node` per committee — started by `linkctl local up`, the runner
//! behind `deploy/local/up`, in a scratch directory on the workspace's
//! disk, and stopped as `linkctl local down` stops it (the testkit's
//! [`Supervisor`]) when dropped: on success, on error and on a panic alike.
//!
//! Why not `linkage_testkit::topology::LocalTopology`: it keeps its working
//! directory in the system's temp dir, which is a tmpfs on many machines,
//! where fdatasync is free and every replication figure would flatter us.
//! The process handling is the same supervisor's.

use crate::counters::{cpu_time, Counters, CpuTimes};
use crate::raw_nats::{NatsUser, BENCH_INBOX_PREFIX, BENCH_SUBJECTS, BENCH_USER};
use crate::scratch::Scratch;
use anyhow::Context;
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use linkage_testkit::process::signal;
use linkage_testkit::Supervisor;
use nix::sys::signal::Signal;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use tonic::transport::Channel;

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

/// How long nats-server may take to reload its users after SIGHUP.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a restarted node may take to bind its gRPC port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one gRPC connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a scrape of a node's `/metrics` may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The released `linkctl` and `linkage-node`, which the topology runs.
pub struct Binaries {
    /// The profile directory this bench was built into (`target/release`).
    dir: PathBuf,
    /// Why the binaries may be older than the sources, if they may.
    pub stale: Option<String>,
}

impl Binaries {
    /// Finds the binaries and nats-server, or says how to get them. The
    /// bench does not build them itself: `cargo run` holds the build lock
    /// of the workspace it was started from.
    pub fn find(root: &Path) -> anyhow::Result<Binaries> {
        let dir = linkage_testkit::binaries::profile_dir();
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
                    dir.display()
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

/// A running topology. Everything it started is stopped when it is
/// dropped, and its working directory removed after that.
pub struct Cluster {
    /// The processes, as `linkctl local up` recorded them in `nodes.json`,
    /// kept current when a node is restarted; `None` once stopped.
    supervisor: Option<Supervisor>,
    /// The working directory: keys, stores, logs, `nodes.json`. Held only
    /// to be removed, after [`Drop`] stopped the processes (declared last).
    _workdir: Scratch,
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
        // Owned as soon as there is anything to stop, so that a failure
        // below still stops it.
        let supervisor = Supervisor::own(workdir.path());
        anyhow::ensure!(
            out.status.success(),
            "linkctl local up failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let supervisor = supervisor.context("linkctl local up wrote no readable nodes.json")?;
        let cluster = Cluster { supervisor: Some(supervisor), _workdir: workdir };
        cluster.nats_addr()?;
        for code in cluster.codes() {
            cluster.grpc_addr(&code)?;
        }
        Ok(cluster)
    }

    fn supervisor(&self) -> &Supervisor {
        self.supervisor.as_ref().expect("the topology runs until dropped")
    }

    fn supervisor_mut(&mut self) -> &mut Supervisor {
        self.supervisor.as_mut().expect("the topology runs until dropped")
    }

    /// Every node's code.
    pub fn codes(&self) -> Vec<String> {
        self.supervisor().manifest().codes()
    }

    /// The broker's URL.
    pub fn nats_url(&self) -> String {
        self.supervisor().manifest().nats.url.clone().unwrap_or_default()
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
        let node = self.supervisor().manifest().node(code)?;
        let text = node.grpc.as_deref().with_context(|| format!("no gRPC address for {code}"))?;
        let addr: SocketAddr = text.parse().with_context(|| format!("gRPC address of {code}: {text:?}"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "{code} serves gRPC on {addr}, not on loopback");
        Ok(addr)
    }

    /// A new HTTP/2 connection to a node.
    pub async fn channel(&self, code: &str) -> anyhow::Result<Channel> {
        let addr = self.grpc_addr(code)?;
        linkage_testkit::pki::endpoint(&addr.to_string(), self.supervisor().client_tls()?.as_ref())?
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
        self.supervisor_mut().kill9(code)
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): the node is frozen with its
    /// connections open, as a machine that hangs, and then goes on.
    pub fn pause(&mut self, code: &str, stop: bool) -> anyhow::Result<()> {
        use nix::sys::signal::{kill, Signal};
        let pid = self.supervisor().manifest().node(code)?.pid;
        anyhow::ensure!(pid > 0, "{code} does not run");
        let signal = if stop { Signal::SIGSTOP } else { Signal::SIGCONT };
        kill(nix::unistd::Pid::from_raw(pid as i32), signal).with_context(|| format!("{signal} to {code} (pid {pid})"))
    }

    /// Starts a stopped node again with the argv `linkctl` recorded, its
    /// output appended to its `node.log`, and records the new pid.
    pub fn spawn(&mut self, code: &str) -> anyhow::Result<()> {
        self.supervisor_mut().start(code)
    }

    /// Waits until a started node has bound its gRPC port; records it.
    pub async fn wait_bound(&mut self, code: &str) -> anyhow::Result<SocketAddr> {
        self.supervisor_mut().wait_bound(code, START_TIMEOUT).await?;
        self.grpc_addr(code)
    }

    /// The counters of a node's Prometheus `/metrics`, each summed over
    /// its labels.
    pub async fn counters(&self, code: &str) -> anyhow::Result<Counters> {
        let node = self.supervisor().manifest().node(code)?;
        let text = node.metrics.as_deref().with_context(|| format!("no metrics address for {code}"))?;
        let addr: SocketAddr = text.parse().with_context(|| format!("metrics address of {code}: {text:?}"))?;
        anyhow::ensure!(addr.ip().is_loopback(), "{code} serves metrics on {addr}, not on loopback");
        // Over TLS as the local operator, as Prometheus scrapes an office.
        let pki = linkage_testkit::pki::Pki::open_or_create(&self.supervisor().workdir().join("pki"))?;
        let tls = pki.rustls_client(Some(linkage_testkit::pki::OPERATOR))?;
        let dir = node.data_dir(code)?;
        let scrape = tokio::task::spawn_blocking(move || linkage_testkit::Metrics::scrape(&dir, Some(tls)));
        let response = tokio::time::timeout(SCRAPE_TIMEOUT, scrape)
            .await
            .map_err(|_| anyhow::anyhow!("scraping {code}'s metrics timed out"))??
            .with_context(|| format!("scraping {code}'s metrics at {addr}"))?
            .body;
        anyhow::ensure!(
            response.starts_with("HTTP/1.1 200"),
            "{code}'s /metrics answered {:?}",
            response.lines().next().unwrap_or_default()
        );
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        Ok(Counters::parse(body))
    }

    /// Adds [`BENCH_USER`] to the broker's users and has it reload them
    /// (SIGHUP), so that the baselines run on the topology's own server
    /// under the same kind of per-user permissions as the nodes, on
    /// subjects no node subscribes to, and may read (never write) one
    /// node subject: figure 4's tap ([`crate::raw_nats::tap_subject`]).
    /// Every subject a node's user may
    /// subscribe to is one the node itself listens on, so a node's
    /// credentials would put a second receiver behind every baseline
    /// message.
    pub async fn add_bench_user(&self) -> anyhow::Result<NatsUser> {
        let nats = &self.supervisor().manifest().nats;
        let conf = nats
            .argv
            .iter()
            .skip_while(|a| a.as_str() != "-c")
            .nth(1)
            .context("nats-server's argv names no config file (-c)")?;
        let text = std::fs::read_to_string(conf).with_context(|| format!("reading {conf}"))?;
        let end = text.rfind(']').with_context(|| format!("{conf} lists no users"))?;
        // An NKey, as the nodes log in: a random key of the bench's own.
        let mut secret = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&secret);
        let nkey = linkage_core::nkey::public_key(&key);
        let tap = crate::raw_nats::tap_subject()?;
        let user = format!(
            "    # {BENCH_USER}\n    {{\n      nkey: \"{nkey}\"\n      permissions: {{\n        \
             publish: {{ allow: [\"{BENCH_SUBJECTS}\"] }}\n        \
             subscribe: {{ allow: [\"{BENCH_SUBJECTS}\", \"{BENCH_INBOX_PREFIX}.>\", \"{tap}\"] }}\n        \
             allow_responses: true\n      }}\n    }}\n"
        );
        let text = format!("{}{user}{}", &text[..end], &text[end..]);
        std::fs::write(conf, text).with_context(|| format!("writing {conf}"))?;
        signal(nats.pid, Signal::SIGHUP);

        let tls = linkage_testkit::pki::local_nats_tls(self.supervisor().workdir());
        let user = NatsUser { url: self.nats_url(), seed: linkage_core::nkey::seed(&key), tls };
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

    /// Stops everything as `linkctl local down` does (SIGTERM, SIGKILL
    /// after its grace period) and checks that it succeeded.
    pub fn down(mut self) -> anyhow::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        match self.supervisor.take() {
            Some(supervisor) => supervisor.stop(),
            None => Ok(()),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the topology: {e:#}");
        }
    }
}

impl Cluster {
    /// CPU time each process of the topology, and the bench, used so far.
    pub fn cpu_times(&self) -> CpuTimes {
        CpuTimes(self.processes().into_iter().filter_map(|(name, pid)| Some((name, cpu_time(&pid)?))).collect())
    }

    /// The pid of node `code`.
    pub fn pid(&self, code: &str) -> anyhow::Result<String> {
        let manifest = self.supervisor().manifest();
        let node = manifest.nodes.get(code).with_context(|| format!("{code} is not in the topology"))?;
        Ok(node.pid.to_string())
    }

    /// Every node by code, `nats-server`, and `bench` (as `self`), each
    /// with the pid `/proc` knows it by.
    fn processes(&self) -> Vec<(String, String)> {
        let manifest = self.supervisor().manifest();
        let mut pids: Vec<(String, String)> =
            manifest.nodes.iter().map(|(code, node)| (code.clone(), node.pid.to_string())).collect();
        pids.push(("nats-server".to_owned(), manifest.nats.pid.to_string()));
        pids.push(("bench".to_owned(), "self".to_owned()));
        pids
    }
}

impl Cluster {
    /// Per process of the topology, and the bench: its threads' times so
    /// far ([`crate::counters::ThreadTimes`]).
    pub fn thread_times(&self) -> Vec<(String, crate::counters::ThreadTimes)> {
        self.processes()
            .into_iter()
            .filter_map(|(name, pid)| Some((name, crate::counters::ThreadTimes::of(&pid)?)))
            .collect()
    }
}

/// The head seq a node holds of (origin, channel); 0 when it holds none.
pub async fn head(admin: &mut AdminServiceClient<Channel>, origin: &str, channel: &str) -> anyhow::Result<u64> {
    let status = admin.status(pb::StatusRequest {}).await?.into_inner();
    Ok(status.heads.iter().find(|h| h.origin == origin && h.channel == channel).map_or(0, |h| h.seq))
}

#[cfg(test)]
mod tests {
    use super::*;

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
