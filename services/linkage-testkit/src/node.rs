//! [`NodeProcess`]: one `linkage-node` child process on a free loopback
//! port, for tests that need a node but no broker; killed on drop.
//!
//! A node is started with `--grpc-listen 127.0.0.1:0`; it writes the port it
//! bound to `<data_dir>/grpc.addr`, so there is no race for a free port.

use crate::pki::{Pki, ALL_ROLES, OPERATOR};
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
    /// The test's CA; `None` for a plaintext node.
    pki: Option<Pki>,
}

/// Tests that may start a node without TLS (`plaintext_loopback`): the
/// secure path is the tested path, and a plaintext node is the exception
/// a test must be listed here for.
pub const PLAINTEXT_TESTS: &[&str] = &[
    // What it tests: a plaintext node, its loopback limit and its trust.
    "a_plaintext_node_serves_loopback_only_and_everyone_is_trusted",
    // Finds the acknowledgement's bytes in the node's socket writes
    // (strace): TLS would hide them.
    "acknowledged_batch_is_covered_by_fdatasync",
];

/// An error unless the running test is one of [`PLAINTEXT_TESTS`]: call
/// it before starting a node without TLS by other means.
pub fn allow_plaintext() -> anyhow::Result<()> {
    let test = std::thread::current().name().unwrap_or_default().to_owned();
    anyhow::ensure!(
        PLAINTEXT_TESTS.iter().any(|t| test.ends_with(t)),
        "test {test:?} may not start a plaintext node: the secure path is the tested path (see PLAINTEXT_TESTS)"
    );
    Ok(())
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
        NodeProcess::start_secured(bin, code, topology, data_dir, extra, &[(OPERATOR, ALL_ROLES)])
    }

    /// Like [`NodeProcess::start_with`], with `access` as the node's
    /// allow-list. TLS files come from the test's CA in
    /// `<data_dir>/test-ca`; the node's key is made in `<data_dir>/tls`.
    pub fn start_secured(
        bin: &Path,
        code: &str,
        topology: &Path,
        data_dir: &Path,
        extra: &[&str],
        access: &[(&str, &[&str])],
    ) -> anyhow::Result<NodeProcess> {
        std::fs::create_dir_all(data_dir)?;
        let pki = Pki::open_or_create(&data_dir.join("test-ca"))?;
        let files = pki.node_files(code, data_dir)?;
        let config = data_dir.join("node.toml");
        std::fs::write(&config, crate::pki::node_config(&files, access))?;
        let mut args = vec!["--config".to_owned(), config.display().to_string()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        NodeProcess::start_inner(bin, code, topology, data_dir, &args, Some(pki))
    }

    /// A node without TLS or authentication, on loopback: only for the
    /// tests [`PLAINTEXT_TESTS`] names; any other test is refused.
    pub fn start_plaintext(bin: &Path, code: &str, topology: &Path, data_dir: &Path) -> anyhow::Result<NodeProcess> {
        allow_plaintext()?;
        NodeProcess::start_inner(bin, code, topology, data_dir, &["--plaintext-loopback", "true"], None)
    }

    fn start_inner(
        bin: &Path,
        code: &str,
        topology: &Path,
        data_dir: &Path,
        extra: &[&str],
        pki: Option<Pki>,
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
            pki,
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
        let scheme = if self.pki.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// An endpoint for the node, as [`OPERATOR`] (to connect from tasks).
    pub fn endpoint(&self) -> anyhow::Result<tonic::transport::Endpoint> {
        let tls = match &self.pki {
            Some(pki) => Some(pki.client_tls(OPERATOR)?),
            None => None,
        };
        crate::pki::endpoint(&self.addr.to_string(), tls.as_ref())
    }

    /// `linkctl`'s flags to reach this node as [`OPERATOR`]: `--addr`,
    /// and `--ca`, `--cert`, `--key` over TLS.
    pub fn linkctl_args(&self) -> anyhow::Result<Vec<String>> {
        Ok([vec!["--addr".to_owned(), self.url()], self.linkctl_tls_args()?].concat())
    }

    /// `linkctl`'s `--ca`, `--cert`, `--key` for this node, as [`OPERATOR`].
    pub fn linkctl_tls_args(&self) -> anyhow::Result<Vec<String>> {
        let mut args = Vec::new();
        if let Some(pki) = &self.pki {
            let (cert, key) = pki.client(OPERATOR)?;
            for (flag, path) in [("--ca", pki.ca_cert()), ("--cert", cert), ("--key", key)] {
                args.push(flag.into());
                args.push(path.display().to_string());
            }
        }
        Ok(args)
    }

    /// The test's CA (`None` for a plaintext node).
    pub fn pki(&self) -> Option<&Pki> {
        self.pki.as_ref()
    }

    /// A new connection to the node, as [`OPERATOR`].
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        self.channel_as(Some(OPERATOR)).await
    }

    /// A new connection as `principal` (`None`: no client certificate).
    pub async fn channel_as(&self, principal: Option<&str>) -> anyhow::Result<Channel> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.url())?.connect_timeout(Duration::from_secs(5));
        if let Some(pki) = &self.pki {
            endpoint = endpoint.tls_config(match principal {
                Some(principal) => pki.client_tls(principal)?,
                None => crate::pki::client_tls(&pki.ca_cert(), None)?,
            })?;
        }
        Ok(endpoint.connect().await?)
    }

    /// Rewrites the allow-list in the node's configuration file and sends
    /// SIGHUP; the node reads it again.
    pub fn set_access(&self, access: &[(&str, &[&str])]) -> anyhow::Result<()> {
        anyhow::ensure!(self.pki.is_some(), "a plaintext node has no allow-list");
        let files = crate::pki::node_file_paths(&self.data_dir);
        std::fs::write(self.data_dir.join("node.toml"), crate::pki::node_config(&files, access))?;
        self.hangup()
    }

    /// SIGHUP: the node reloads its certificates and allow-list.
    pub fn hangup(&self) -> anyhow::Result<()> {
        let pid = self.pid().ok_or_else(|| anyhow::anyhow!("not running"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGHUP)?;
        Ok(())
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
    /// `--metrics-listen`), as [`OPERATOR`].
    pub fn metrics(&self) -> anyhow::Result<Metrics> {
        let tls = match &self.pki {
            Some(pki) => Some(pki.rustls_client(Some(OPERATOR))?),
            None => None,
        };
        Metrics::scrape(&self.data_dir, tls)
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
    /// `data_dir` (it writes its metrics address there), over TLS with
    /// `tls` when given.
    pub fn scrape(data_dir: &Path, tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> anyhow::Result<Metrics> {
        use std::io::{Read, Write};
        let addr = std::fs::read_to_string(data_dir.join("metrics.addr"))?;
        let mut socket = std::net::TcpStream::connect(addr.trim())?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let request = b"GET /metrics HTTP/1.1\r\nHost: linkage\r\n\r\n";
        let mut body = String::new();
        match tls {
            None => {
                socket.write_all(request)?;
                socket.read_to_string(&mut body)?;
            }
            Some(tls) => {
                // Offered as Prometheus and curl offer them: the server
                // must pick HTTP/1.1, the protocol it answers in.
                let mut tls = (*tls).clone();
                tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?.to_owned();
                let connection = rustls::ClientConnection::new(std::sync::Arc::new(tls), name)?;
                let mut stream = rustls::StreamOwned::new(connection, socket);
                stream.write_all(request)?;
                let alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
                anyhow::ensure!(
                    alpn.as_deref() == Some(b"http/1.1".as_slice()),
                    "/metrics negotiated {:?}, not http/1.1",
                    alpn.map(|p| String::from_utf8_lossy(&p).into_owned())
                );
                // The server closes after its answer, without close_notify
                // at times: what arrived is the answer.
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes);
                body = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
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

    /// The sum over every series of `name` whose line holds every label of
    /// `labels` (a counter split by origin, say); `None` when there is none.
    pub fn sum(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let values: Vec<f64> = self
            .body
            .lines()
            .filter(|l| l.split([' ', '{']).next() == Some(name) && labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// Like [`Metrics::get`], but panics, showing the scrape, when there
    /// is no such series.
    pub fn value(&self, name: &str, labels: &[&str]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{}", self.body))
    }
}
