//! Test helpers for end-to-end tests: start real `linkage-node` processes
//! on free loopback ports, talk to them over gRPC, kill them with SIGKILL.
//!
//! A node is started with `--grpc-listen 127.0.0.1:0`; it writes the port it
//! bound to `<data_dir>/grpc.addr`, so there is no race for a free port.

pub mod topology;

use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long a node may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root, for `deploy/topology/*.toml`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A topology file under `deploy/topology/`.
pub fn topology(name: &str) -> PathBuf {
    workspace_root().join("deploy/topology").join(name)
}

/// An `InfoReported` (社情民意) append on `channel`: the event most tests
/// append when its content does not matter beyond telling events apart.
pub fn info_reported(channel: &str, title: String, body: &str) -> linkage_proto::v1::AppendRequest {
    use linkage_proto::v1 as pb;
    pb::AppendRequest {
        channel: channel.into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title,
                body: body.into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    }
}

/// True when the long fault-injection variants should run.
pub fn long_tests() -> bool {
    std::env::var_os("LINKAGE_LONG_TESTS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// A running `linkage-node` child process. Killed with SIGKILL on drop.
pub struct NodeProcess {
    bin: PathBuf,
    args: Vec<String>,
    /// The node's data directory (store, key, grpc.addr, node.log).
    pub data_dir: PathBuf,
    /// Where it serves gRPC.
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl NodeProcess {
    /// Starts `bin` as node `code` of `topology` with its data in `data_dir`
    /// and waits until it serves.
    pub fn start(bin: &Path, code: &str, topology: &Path, data_dir: &Path) -> anyhow::Result<NodeProcess> {
        NodeProcess::start_with(bin, code, topology, data_dir, &[])
    }

    /// Like [`NodeProcess::start`], with `extra` arguments after the usual
    /// ones (`--metrics-listen 127.0.0.1:0`, say).
    pub fn start_with(
        bin: &Path,
        code: &str,
        topology: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<NodeProcess> {
        let mut args: Vec<String> = vec![
            "--node".into(),
            code.into(),
            "--topology".into(),
            topology.display().to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--grpc-listen".into(),
            "127.0.0.1:0".into(),
            "--shutdown-grace".into(),
            "5s".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut node = NodeProcess {
            bin: bin.to_owned(),
            args,
            data_dir: data_dir.to_owned(),
            addr: "127.0.0.1:0".parse()?,
            child: None,
        };
        node.spawn()?;
        Ok(node)
    }

    /// Starts the process again with the same arguments (after a kill).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the node is still running");
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        let addr_file = self.data_dir.join("grpc.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.data_dir.join("node.log"))?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().expect("just spawned").try_wait()? {
                self.child = None;
                anyhow::bail!("node exited at start with {status}; see {}", self.data_dir.join("node.log").display());
            }
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if let Ok(addr) = text.trim().parse() {
                    self.addr = addr;
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "node did not start within {START_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().ok_or_else(|| anyhow::anyhow!("not running"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)?;
        Ok(child.wait()?)
    }

    /// The gRPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new connection to the node.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(tonic::transport::Endpoint::from_shared(self.url())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?)
    }

    /// An EventLogService client on a new connection.
    pub async fn event_log(&self) -> anyhow::Result<EventLogServiceClient<Channel>> {
        Ok(EventLogServiceClient::new(self.channel().await?))
    }

    /// An AdminService client on a new connection.
    pub async fn admin(&self) -> anyhow::Result<AdminServiceClient<Channel>> {
        Ok(AdminServiceClient::new(self.channel().await?))
    }

    /// A grpc.health.v1 client on a new connection.
    pub async fn health(&self) -> anyhow::Result<tonic_health::pb::health_client::HealthClient<Channel>> {
        Ok(tonic_health::pb::health_client::HealthClient::new(self.channel().await?))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
