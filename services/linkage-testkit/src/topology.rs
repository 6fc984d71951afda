//! A whole topology on this machine — nats-server and one process per node
//! — started through `linkctl local up` (the same runner as
//! `deploy/local/up`), with helpers to kill, restart and inspect them.

use linkage_core::channel::entitled;
use linkage_core::groups::Groups;
use linkage_core::pb;
use linkage_core::{Channel as Audience, NodeCode, Topology};
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// A running topology. Stopped (everything killed) on drop.
pub struct LocalTopology {
    /// Holds keys, stores, logs, nodes.json.
    pub workdir: tempfile::TempDir,
    bin_dir: PathBuf,
    nodes: serde_json::Value,
}

fn kill(pid: u64, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

fn alive(pid: u64) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn wait_dead(pid: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// (origin, channel, seq).
pub type Key = (String, String, u64);

/// What each node must hold: every event that exists anywhere and that the
/// node is entitled to, and nothing else.
pub fn expected(topology: &Topology, all: &BTreeMap<Key, pb::Event>, node: NodeCode) -> BTreeSet<Key> {
    let mut groups = Groups::default();
    for e in all.values() {
        groups.observe(e);
    }
    all.keys()
        .filter(|(origin, channel, _)| {
            let (Ok(origin), Ok(channel)) = (origin.parse::<NodeCode>(), channel.parse::<Audience>()) else {
                return false;
            };
            entitled(topology, node, origin, &channel, |g| groups.is_member(g, node))
        })
        .cloned()
        .collect()
}

impl LocalTopology {
    /// Starts `topology` with `deploy/local/up`, using the binaries in
    /// `bin_dir` (linkctl, linkage-node).
    pub fn up(topology: &Path, bin_dir: &Path) -> anyhow::Result<LocalTopology> {
        let workdir = tempfile::tempdir()?;
        let out = Command::new(crate::workspace_root().join("deploy/local/up"))
            .arg(topology)
            .arg(workdir.path())
            .env("LINKAGE_BIN_DIR", bin_dir)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(out.status.success(), "deploy/local/up failed: {}", String::from_utf8_lossy(&out.stderr));
        let nodes = serde_json::from_str(&std::fs::read_to_string(workdir.path().join("nodes.json"))?)?;
        Ok(LocalTopology { workdir, bin_dir: bin_dir.to_owned(), nodes })
    }

    /// Takes over a topology that something else started in `workdir` (the
    /// demo with `LINKAGE_DEMO_KEEP=1`); stopped on drop like one from [`LocalTopology::up`].
    pub fn attach(workdir: tempfile::TempDir, bin_dir: &Path) -> anyhow::Result<LocalTopology> {
        let nodes = serde_json::from_str(&std::fs::read_to_string(workdir.path().join("nodes.json"))?)?;
        Ok(LocalTopology { workdir, bin_dir: bin_dir.to_owned(), nodes })
    }

    /// Node codes in the topology.
    pub fn codes(&self) -> Vec<String> {
        self.nodes["nodes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// The enrolled topology file (with public keys).
    pub fn topology_file(&self) -> PathBuf {
        self.workdir.path().join("topology.toml")
    }

    /// The NATS URL.
    pub fn nats_url(&self) -> String {
        self.nodes["nats"]["url"].as_str().unwrap_or_default().to_owned()
    }

    /// A node's NATS credentials file.
    pub fn credentials(&self, code: &str) -> PathBuf {
        self.workdir.path().join("creds").join(format!("{code}.toml"))
    }

    /// A node's data directory.
    pub fn data_dir(&self, code: &str) -> PathBuf {
        PathBuf::from(self.nodes["nodes"][code]["data_dir"].as_str().unwrap_or_default())
    }

    fn pid(&self, code: &str) -> u64 {
        self.nodes["nodes"][code]["pid"].as_u64().unwrap_or(0)
    }

    /// A node's gRPC URL.
    pub fn url(&self, code: &str) -> String {
        format!("http://{}", self.nodes["nodes"][code]["grpc"].as_str().unwrap_or_default())
    }

    /// A new connection to a node.
    pub async fn channel(&self, code: &str) -> anyhow::Result<Channel> {
        Ok(tonic::transport::Endpoint::from_shared(self.url(code))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect()
            .await?)
    }

    /// An EventLogService client.
    pub async fn event_log(&self, code: &str) -> anyhow::Result<EventLogServiceClient<Channel>> {
        Ok(EventLogServiceClient::new(self.channel(code).await?).max_decoding_message_size(64 << 20))
    }

    /// An AdminService client.
    pub async fn admin(&self, code: &str) -> anyhow::Result<AdminServiceClient<Channel>> {
        Ok(AdminServiceClient::new(self.channel(code).await?))
    }

    /// SIGKILL a node. Its address goes with it (from grpc.addr and from
    /// here, until `restart`), so that no client reaches whatever process
    /// takes the freed port meanwhile.
    pub fn kill9(&mut self, code: &str) {
        let pid = self.pid(code);
        kill(pid, nix::sys::signal::Signal::SIGKILL);
        wait_dead(pid);
        let _ = std::fs::remove_file(self.data_dir(code).join("grpc.addr"));
        self.nodes["nodes"][code]["grpc"] = "".into();
    }

    /// Starts a stopped node again with its recorded argv and waits until it serves.
    pub async fn restart(&mut self, code: &str) -> anyhow::Result<()> {
        anyhow::ensure!(!alive(self.pid(code)), "{code} still runs");
        let argv: Vec<String> = serde_json::from_value(self.nodes["nodes"][code]["argv"].clone())?;
        let dir = self.data_dir(code);
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("grpc.addr"));
        let pid = spawn(&argv, &dir.join("node.log"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let grpc = loop {
            if let Ok(addr) = std::fs::read_to_string(dir.join("grpc.addr")) {
                break addr.trim().to_owned();
            }
            anyhow::ensure!(Instant::now() < deadline, "{code} did not restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.nodes["nodes"][code]["pid"] = pid.into();
        self.nodes["nodes"][code]["grpc"] = grpc.into();
        Ok(())
    }

    /// Waits until a node has checked its own streams with its peers and
    /// takes appends.
    pub async fn wait_restored(&self, code: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut admin) = self.admin(code).await {
                if let Ok(r) = admin.replication(pb::ReplicationRequest {}).await {
                    if r.into_inner().restored {
                        return Ok(());
                    }
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "{code} did not finish restoring");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL the broker.
    pub fn kill_nats(&self) {
        let pid = self.nodes["nats"]["pid"].as_u64().unwrap_or(0);
        kill(pid, nix::sys::signal::Signal::SIGKILL);
        wait_dead(pid);
    }

    /// Starts the broker again with its recorded argv (same port), and
    /// waits until it listens: a broker that could not have its port back
    /// fails here, not as a convergence timeout later.
    pub fn restart_nats(&mut self) -> anyhow::Result<()> {
        const READY: &str = "Listening for client connections";
        let argv: Vec<String> = serde_json::from_value(self.nodes["nats"]["argv"].clone())?;
        let log = self.workdir.path().join("nats/nats-server.log");
        let ready = || std::fs::read_to_string(&log).map_or(0, |text| text.matches(READY).count());
        let before = ready();
        let pid = spawn(&argv, &log)?;
        self.nodes["nats"]["pid"] = pid.into();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ready() == before {
            anyhow::ensure!(alive(pid), "nats-server exited on restart; see {}", log.display());
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not listen within 30 s of its restart");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Every event a node holds, by (origin, channel, seq) → BLAKE3 of its bytes.
    pub async fn holdings(&self, code: &str) -> anyhow::Result<BTreeMap<(String, String, u64), pb::Event>> {
        let mut client = self.event_log(code).await?;
        let mut out = BTreeMap::new();
        for stored in crate::read_all(&mut client).await? {
            let e = stored.event.unwrap_or_default();
            out.insert((e.origin.clone(), e.channel.clone(), e.seq), e);
        }
        Ok(out)
    }

    /// Waits until every node in `codes` holds exactly the events it is
    /// entitled to, byte for byte the same wherever held; returns holdings.
    pub async fn converge(&self, codes: &[String], timeout: Duration) -> BTreeMap<String, BTreeMap<Key, pb::Event>> {
        let topo = self;
        let topology = Topology::from_toml(&std::fs::read_to_string(topo.topology_file()).unwrap()).unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            let mut holdings = BTreeMap::new();
            for code in codes {
                holdings.insert(code.clone(), topo.holdings(code).await.unwrap_or_default());
            }
            let all: BTreeMap<Key, pb::Event> = holdings.values().flat_map(|h| h.clone()).collect();
            let mut problems = Vec::new();
            for (code, held) in &holdings {
                let want = expected(&topology, &all, code.parse().unwrap());
                let have: BTreeSet<Key> = held.keys().cloned().collect();
                let missing = want.difference(&have).count();
                let extra: Vec<_> = have.difference(&want).take(3).collect();
                assert!(extra.is_empty(), "{code} holds events it is not entitled to: {extra:?}");
                if missing > 0 {
                    problems.push(format!("{code} misses {missing}"));
                }
                // Identical bytes wherever the same event is held.
                for (key, event) in held {
                    assert_eq!(event, &all[key], "{code} holds a different {key:?}");
                }
            }
            if problems.is_empty() {
                return holdings;
            }
            assert!(Instant::now() < deadline, "no convergence in {timeout:?}: {}", problems.join(", "));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops everything with `deploy/local/down` (SIGTERM, then SIGKILL
    /// after a grace period) and checks that every process is gone.
    pub fn down(self) -> anyhow::Result<()> {
        let out = Command::new(crate::workspace_root().join("deploy/local/down"))
            .arg(self.workdir.path())
            .env("LINKAGE_BIN_DIR", &self.bin_dir)
            .output()?;
        anyhow::ensure!(out.status.success(), "deploy/local/down failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut pids: Vec<u64> = self.nodes["nodes"]
            .as_object()
            .map(|m| m.values().filter_map(|p| p["pid"].as_u64()).collect())
            .unwrap_or_default();
        pids.extend(self.nodes["nats"]["pid"].as_u64());
        let running: Vec<u64> = pids.into_iter().filter(|p| alive(*p)).collect();
        anyhow::ensure!(running.is_empty(), "still running after down: {running:?}");
        Ok(())
    }

    /// The bin directory.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }
}

fn spawn(argv: &[String], log: &Path) -> anyhow::Result<u64> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()?;
    Ok(child.id() as u64)
}

impl Drop for LocalTopology {
    fn drop(&mut self) {
        if let Some(nodes) = self.nodes["nodes"].as_object() {
            for p in nodes.values() {
                kill(p["pid"].as_u64().unwrap_or(0), nix::sys::signal::Signal::SIGKILL);
            }
        }
        kill(self.nodes["nats"]["pid"].as_u64().unwrap_or(0), nix::sys::signal::Signal::SIGKILL);
        if std::env::var_os("LINKAGE_KEEP_WORKDIR").is_some() {
            let kept = std::mem::replace(&mut self.workdir, tempfile::tempdir().expect("tempdir")).keep();
            eprintln!("kept the topology's workdir: {}", kept.display());
        }
    }
}
