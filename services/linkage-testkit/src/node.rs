//! [`NodeProcess`]: one `linkage-node` child process on a free loopback
//! port, for tests that need a node but no broker; killed on drop.
//!
//! A node is started with `--grpc-listen 127.0.0.1:0`; it writes the port it
//! bound to `<data_dir>/grpc.addr`, so there is no race for a free port.

use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long a node may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `linkage-node` child process. Killed with SIGKILL on drop.
pub struct NodeProcess {
    bin: PathBuf,
    args: Vec<String>,
    /// The node's data directory (store, key, grpc.addr, node.log).
    pub data_dir: PathBuf,
    /// Where it serves gRPC.
    pub addr: SocketAddr,
    child: Option<Child>,
    /// The largest file the process may write (`RLIMIT_FSIZE`), when set.
    file_size_max: Option<u64>,
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
            file_size_max: None,
        };
        node.spawn()?;
        Ok(node)
    }

    /// Starts the process again with the same arguments (after a kill).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the node is still running");
        self.spawn()
    }

    /// From the next (re)start on, lets the process write no file beyond
    /// `bytes` (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored): a write past it
    /// fails with `EFBIG`, as a full disk fails one with `ENOSPC`. `None`
    /// lifts the limit.
    pub fn limit_file_size(&mut self, bytes: Option<u64>) {
        self.file_size_max = bytes;
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        let addr_file = self.data_dir.join("grpc.addr");
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.data_dir.join("node.log"))?;
        let mut command = Command::new(&self.bin);
        command.args(&self.args).env("RUST_LOG", "info").stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        if let Some(bytes) = self.file_size_max {
            use nix::sys::resource::{setrlimit, Resource};
            use nix::sys::signal::{signal, SigHandler, Signal};
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only two system calls run,
            // both async-signal-safe; an ignored signal stays ignored
            // across exec, so the node gets EFBIG instead of being killed.
            unsafe {
                command.pre_exec(move || {
                    signal(Signal::SIGXFSZ, SigHandler::SigIgn)?;
                    setrlimit(Resource::RLIMIT_FSIZE, bytes, bytes)?;
                    Ok(())
                });
            }
        }
        let child = command.spawn()?;
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

    /// One scrape of the node's Prometheus `/metrics` (started with
    /// `--metrics-listen`).
    pub fn metrics(&self) -> anyhow::Result<Metrics> {
        Metrics::scrape(&self.data_dir)
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

/// A scrape of a node's `/metrics`.
pub struct Metrics {
    /// The whole response, headers included.
    pub body: String,
}

impl Metrics {
    /// One scrape of `/metrics` of the node whose data directory is
    /// `data_dir` (it writes its metrics address there).
    pub fn scrape(data_dir: &Path) -> anyhow::Result<Metrics> {
        use std::io::{Read, Write};
        let addr = std::fs::read_to_string(data_dir.join("metrics.addr"))?;
        let mut socket = std::net::TcpStream::connect(addr.trim())?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: linkage\r\n\r\n")?;
        let mut body = String::new();
        socket.read_to_string(&mut body)?;
        Ok(Metrics { body })
    }

    /// The value of the series `name` whose line holds every label of
    /// `labels` (`code="OK"`, say), if the node has one.
    pub fn get(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let line = self
            .body
            .lines()
            .find(|l| l.split([' ', '{']).next() == Some(name) && labels.iter().all(|label| l.contains(label)))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    /// Like [`Metrics::get`], but panics, showing the scrape, when there
    /// is no such series.
    pub fn value(&self, name: &str, labels: &[&str]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{}", self.body))
    }
}
