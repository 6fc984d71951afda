//! A whole topology on this machine — nats-server and one process per node
//! — started through `linkctl local up` (the same runner as
//! `deploy/local/up`), with helpers to kill, restart and inspect them.

use crate::manifest::Manifest;
use crate::process::alive;
use crate::supervisor::Supervisor;
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

/// How long a restarted node may take to bind its port and to restore.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// A running topology. Stopped (everything killed) on drop.
pub struct LocalTopology {
    /// Its processes, killed on drop; declared before the working
    /// directory, so they are gone before it is removed.
    supervisor: Supervisor,
    /// Holds keys, stores, logs, nodes.json.
    pub workdir: tempfile::TempDir,
    bin_dir: PathBuf,
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
        LocalTopology::up_with_brokers(topology, bin_dir, 1)
    }

    /// [`LocalTopology::up`] with `env` in every node's environment (the
    /// `LINKAGE_*` settings of its configuration: nested keys with `__`).
    /// A node restarted later runs without them.
    pub fn up_with_env(topology: &Path, bin_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<LocalTopology> {
        LocalTopology::start(topology, tempfile::tempdir()?, bin_dir, 1, env)
    }

    /// [`LocalTopology::up`] with a cluster of `servers` nats-servers.
    pub fn up_with_brokers(topology: &Path, bin_dir: &Path, servers: usize) -> anyhow::Result<LocalTopology> {
        LocalTopology::up_in(topology, tempfile::tempdir()?, bin_dir, servers)
    }

    /// [`LocalTopology::up_with_brokers`] in a working directory prepared
    /// beforehand: a node whose `nodes/<code>/` already holds a key and a
    /// store (an office upgraded from an older version) starts on them.
    pub fn up_in(
        topology: &Path,
        workdir: tempfile::TempDir,
        bin_dir: &Path,
        servers: usize,
    ) -> anyhow::Result<LocalTopology> {
        LocalTopology::start(topology, workdir, bin_dir, servers, &[])
    }

    fn start(
        topology: &Path,
        workdir: tempfile::TempDir,
        bin_dir: &Path,
        servers: usize,
        env: &[(&str, &str)],
    ) -> anyhow::Result<LocalTopology> {
        let out = Command::new(crate::workspace::workspace_root().join("deploy/local/up"))
            .arg(topology)
            .arg(workdir.path())
            .envs(env.iter().copied())
            .env(crate::binaries::BIN_DIR_ENV, bin_dir)
            .env("LINKAGE_NATS_SERVERS", servers.to_string())
            .stdin(Stdio::null())
            .output()?;
        // Owned before the outcome is looked at: whatever did start is
        // stopped on drop.
        let supervisor = Supervisor::own(workdir.path());
        anyhow::ensure!(out.status.success(), "deploy/local/up failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(LocalTopology { supervisor: supervisor?, workdir, bin_dir: bin_dir.to_owned() })
    }

    /// Takes over a topology that something else started in `workdir` (the
    /// demo with `LINKAGE_DEMO_KEEP=1`); stopped on drop like one from [`LocalTopology::up`].
    pub fn attach(workdir: tempfile::TempDir, bin_dir: &Path) -> anyhow::Result<LocalTopology> {
        Ok(LocalTopology { supervisor: Supervisor::own(workdir.path())?, workdir, bin_dir: bin_dir.to_owned() })
    }

    /// What runs, as `nodes.json` records it.
    pub fn manifest(&self) -> &Manifest {
        self.supervisor.manifest()
    }

    /// Node codes in the topology.
    pub fn codes(&self) -> Vec<String> {
        self.manifest().codes()
    }

    /// The enrolled topology file (with public keys).
    pub fn topology_file(&self) -> PathBuf {
        self.workdir.path().join("topology.toml")
    }

    /// The NATS URL.
    pub fn nats_url(&self) -> String {
        self.manifest().nats.url.clone().unwrap_or_default()
    }

    /// What a raw NATS client shows the topology's broker over TLS: (CA,
    /// certificate, key).
    pub fn nats_tls(&self) -> Option<(PathBuf, PathBuf, PathBuf)> {
        crate::pki::local_nats_tls(self.workdir.path())
    }

    /// The seed of a node's NATS NKey, derived from its key file as the
    /// node derives it: a raw client logs in as that node with it.
    pub fn nats_seed(&self, code: &str) -> String {
        linkage_core::nkey::seed(&self.signing_key(code))
    }

    /// A node's event-signing key, from its key file.
    pub fn signing_key(&self, code: &str) -> ed25519_dalek::SigningKey {
        let path = self.data_dir(code).join("node.key");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bytes: [u8; 32] = hex::decode(text.trim()).ok().and_then(|b| b.try_into().ok()).expect("64 hex digits");
        ed25519_dalek::SigningKey::from_bytes(&bytes)
    }

    /// A node's data directory.
    pub fn data_dir(&self, code: &str) -> PathBuf {
        self.manifest().node(code).and_then(|n| n.data_dir(code)).expect("a node of the topology")
    }

    /// A node's gRPC address (`host:port`); one that refuses connections
    /// while it is down.
    pub fn addr(&self, code: &str) -> String {
        self.manifest().node(code).ok().and_then(|n| n.grpc.clone()).unwrap_or_default()
    }

    /// The TLS clients connect to the topology with, as the local operator.
    pub fn client_tls(&self) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
        self.supervisor.client_tls()
    }

    /// An endpoint for a node read afresh from its `grpc.addr` at each
    /// call, so that it follows restarts.
    pub fn endpoint_following(
        &self,
        code: &str,
    ) -> impl Fn() -> anyhow::Result<tonic::transport::Endpoint> + Send + 'static {
        let dir = self.data_dir(code);
        let tls = self.client_tls().ok().flatten();
        move || {
            let addr = std::fs::read_to_string(dir.join("grpc.addr")).unwrap_or_default();
            crate::pki::endpoint(addr.trim(), tls.as_ref())
        }
    }

    /// The topology's CA.
    pub fn pki(&self) -> anyhow::Result<crate::pki::Pki> {
        crate::pki::Pki::open_or_create(&self.workdir.path().join("pki"))
    }

    /// A new connection to a node.
    pub async fn channel(&self, code: &str) -> anyhow::Result<Channel> {
        Ok(crate::pki::endpoint(&self.addr(code), self.client_tls()?.as_ref())?
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

    /// One scrape of a node's `/metrics`.
    pub fn metrics(&self, code: &str) -> anyhow::Result<crate::node::Metrics> {
        let tls = self.pki()?.rustls_client(Some(crate::pki::OPERATOR))?;
        crate::node::Metrics::scrape(&self.data_dir(code), Some(tls))
    }

    /// SIGKILL a node. Its address goes with it (from grpc.addr and from
    /// the manifest, until `restart`), so that no client reaches whatever
    /// process takes the freed port meanwhile.
    pub fn kill9(&mut self, code: &str) {
        self.supervisor.kill9(code).expect("killing a node");
    }

    /// Starts a stopped node again with its recorded argv and waits until
    /// it has bound its port.
    pub async fn restart(&mut self, code: &str) -> anyhow::Result<()> {
        self.supervisor.start(code)?;
        self.supervisor.wait_bound(code, RESTART_TIMEOUT).await?;
        Ok(())
    }

    /// Starts a stopped node again as `binary` (another version's
    /// linkage-node) on its data dir and argv, and waits until it has bound
    /// its port.
    pub async fn restart_as(&mut self, code: &str, binary: &Path) -> anyhow::Result<()> {
        self.supervisor.start_with(code, Some(binary))?;
        self.supervisor.wait_bound(code, RESTART_TIMEOUT).await?;
        Ok(())
    }

    /// Waits until a node has checked its own streams with its peers and
    /// takes appends.
    pub async fn wait_restored(&self, code: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + RESTART_TIMEOUT;
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
    pub fn kill_nats(&mut self) {
        self.supervisor.kill_nats().expect("killing nats-server");
    }

    /// Starts the broker again with its recorded argv (same port), and
    /// waits until it listens: a broker that could not have its port back
    /// fails here, not as a convergence timeout later.
    pub fn restart_nats(&mut self) -> anyhow::Result<()> {
        self.supervisor.start_nats()
    }

    /// SIGKILL nats-server `i` (from 0) of a cluster.
    pub fn kill_nats_server(&mut self, i: usize) {
        self.supervisor.kill_nats_server(i).expect("killing a nats-server");
    }

    /// Starts nats-server `i` again, as [`LocalTopology::restart_nats`].
    pub fn restart_nats_server(&mut self, i: usize) -> anyhow::Result<()> {
        self.supervisor.start_nats_server(i)
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
    pub fn down(mut self) -> anyhow::Result<()> {
        let out = Command::new(crate::workspace::workspace_root().join("deploy/local/down"))
            .arg(self.workdir.path())
            .env(crate::binaries::BIN_DIR_ENV, &self.bin_dir)
            .output()?;
        anyhow::ensure!(out.status.success(), "deploy/local/down failed: {}", String::from_utf8_lossy(&out.stderr));
        let running: Vec<u32> = self.manifest().pids().into_iter().filter(|p| alive(*p)).collect();
        anyhow::ensure!(running.is_empty(), "still running after down: {running:?}");
        // Stopped: their pids may be anyone's from now on.
        self.supervisor.disown();
        Ok(())
    }

    /// The bin directory.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }
}

impl Drop for LocalTopology {
    fn drop(&mut self) {
        if std::env::var_os("LINKAGE_KEEP_WORKDIR").is_some() {
            let kept = std::mem::replace(&mut self.workdir, tempfile::tempdir().expect("tempdir")).keep();
            eprintln!("kept the topology's workdir: {}", kept.display());
        }
    }
}
