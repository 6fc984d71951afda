//! [`Supervisor`]: the processes a [`Manifest`] names — SIGKILL one node,
//! start it again with its recorded command line, the same for the broker,
//! stop them all in order — keeping `nodes.json` current, so that whoever
//! reads it next (`deploy/local/down`, say) finds the processes that run.

use crate::manifest::{Manifest, FILE_NAME};
use crate::process::{alive, signal, spawn_detached, wait_gone, POLL_INTERVAL};
use anyhow::Context;
use nix::sys::signal::Signal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// How long a killed process may take to disappear.
pub const DEATH_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`Supervisor::stop`] gives the nodes after SIGTERM before it
/// kills them: a clean stop flushes the store.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// How long [`Supervisor::stop`] gives the broker after SIGTERM.
const NATS_STOP_GRACE: Duration = Duration::from_secs(5);

/// How long a restarted broker may take to listen again.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(30);

/// What nats-server logs once it takes clients.
pub const NATS_READY: &str = "Listening for client connections";

/// The processes of one local topology.
pub struct Supervisor {
    workdir: PathBuf,
    manifest: Manifest,
    /// Processes this one started, to reap.
    children: Vec<Child>,
    /// Kill everything recorded when dropped.
    owned: bool,
}

impl Supervisor {
    /// The topology `workdir/nodes.json` records, left running when this is
    /// dropped (a command that kills or restarts one node).
    pub fn attach(workdir: &Path) -> anyhow::Result<Supervisor> {
        Ok(Supervisor {
            workdir: workdir.to_owned(),
            manifest: Manifest::read(workdir)?,
            children: Vec::new(),
            owned: false,
        })
    }

    /// Like [`Supervisor::attach`], but every process recorded is killed
    /// (SIGKILL) when this is dropped: on success, on error and on a panic.
    pub fn own(workdir: &Path) -> anyhow::Result<Supervisor> {
        let mut supervisor = Supervisor::attach(workdir)?;
        supervisor.owned = true;
        Ok(supervisor)
    }

    /// The TLS its clients connect with (`None` for a plaintext topology).
    pub fn client_tls(&self) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
        crate::pki::local_tls(&self.workdir)
    }

    /// What runs.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where `nodes.json`, keys, stores and logs are.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// SIGKILL one node (no chance to flush anything), and wait until it is
    /// gone. Its address goes with it — from `grpc.addr` and from the
    /// manifest, until it serves again — so that no client reaches whatever
    /// process takes the freed port meanwhile.
    pub fn kill9(&mut self, code: &str) -> anyhow::Result<()> {
        let node = self.manifest.node_mut(code)?;
        let pid = node.pid;
        signal(pid, Signal::SIGKILL);
        self.reap(pid);
        anyhow::ensure!(wait_gone(pid, DEATH_TIMEOUT), "{code} (pid {pid}) survived SIGKILL for {DEATH_TIMEOUT:?}");
        let node = self.manifest.node_mut(code)?;
        let _ = std::fs::remove_file(node.data_dir(code)?.join("grpc.addr"));
        node.grpc = None;
        // Gone: its pid may be given to another process, which nothing
        // here must signal.
        node.pid = 0;
        self.manifest.write(&self.workdir)
    }

    /// Starts a stopped node again with its recorded command line, its
    /// output appended to its `node.log`, and records the new pid. It
    /// serves once [`Supervisor::wait_bound`] returns.
    pub fn start(&mut self, code: &str) -> anyhow::Result<()> {
        self.start_with(code, None)
    }

    /// Like [`Supervisor::start`], with `program` in place of the recorded
    /// binary when given (a node of another version on the same data dir,
    /// for mixed-version tests); the manifest keeps the recorded argv.
    pub fn start_with(&mut self, code: &str, program: Option<&Path>) -> anyhow::Result<()> {
        let node = self.manifest.node(code)?;
        anyhow::ensure!(!alive(node.pid), "{code} still runs as pid {}", node.pid);
        let dir = node.data_dir(code)?;
        std::fs::create_dir_all(&dir)?;
        let _ = std::fs::remove_file(dir.join("grpc.addr"));
        let _ = std::fs::remove_file(dir.join("metrics.addr"));
        let mut argv = node.argv.clone();
        if let (Some(program), Some(first)) = (program, argv.first_mut()) {
            *first = program.to_string_lossy().into_owned();
        }
        let child = spawn_detached(&argv, &dir.join("node.log"))?;
        let node = self.manifest.node_mut(code)?;
        node.pid = child.id();
        node.grpc = None;
        self.children.push(child);
        self.manifest.write(&self.workdir)
    }

    /// Waits until a started node has bound its gRPC port (and its metrics
    /// port, if it has one), and records both.
    pub async fn wait_bound(&mut self, code: &str, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let node = self.manifest.node(code)?;
        let (pid, dir) = (node.pid, node.data_dir(code)?);
        let deadline = Instant::now() + timeout;
        let addr: SocketAddr = loop {
            let text = std::fs::read_to_string(dir.join("grpc.addr")).unwrap_or_default();
            if let Ok(addr) = text.trim().parse() {
                break addr;
            }
            anyhow::ensure!(alive(pid), "{code} exited at start; see {}", dir.join("node.log").display());
            anyhow::ensure!(Instant::now() < deadline, "{code} did not bind its gRPC port in {timeout:?}");
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        let node = self.manifest.node_mut(code)?;
        node.grpc = Some(addr.to_string());
        // Bound before gRPC, so present by now if configured.
        if let Ok(metrics) = std::fs::read_to_string(dir.join("metrics.addr")) {
            node.metrics = Some(metrics.trim().to_owned());
        }
        self.manifest.write(&self.workdir)?;
        Ok(addr)
    }

    /// SIGKILL the broker and wait until it is gone.
    pub fn kill_nats(&mut self) -> anyhow::Result<()> {
        self.kill_nats_server(0)
    }

    /// SIGKILL nats-server `i` (from 0) and wait until it is gone.
    pub fn kill_nats_server(&mut self, i: usize) -> anyhow::Result<()> {
        let pid = self.manifest.broker_mut(i)?.pid;
        signal(pid, Signal::SIGKILL);
        self.reap(pid);
        anyhow::ensure!(wait_gone(pid, DEATH_TIMEOUT), "nats-server {i} (pid {pid}) survived SIGKILL");
        self.manifest.broker_mut(i)?.pid = 0;
        self.manifest.write(&self.workdir)
    }

    /// Starts the broker again with its recorded command line (the same
    /// port), and waits until it listens: a broker that could not have its
    /// port back fails here, not as a convergence timeout later.
    pub fn start_nats(&mut self) -> anyhow::Result<()> {
        self.start_nats_server(0)
    }

    /// [`Supervisor::start_nats`] for nats-server `i` (from 0).
    pub fn start_nats_server(&mut self, i: usize) -> anyhow::Result<()> {
        let running = self.manifest.broker_mut(i)?.pid;
        anyhow::ensure!(!alive(running), "nats-server {i} still runs as pid {running}");
        let log = crate::manifest::nats_log(&self.workdir, i);
        let ready = || std::fs::read_to_string(&log).map_or(0, |text| text.matches(NATS_READY).count());
        let before = ready();
        let argv = self.manifest.broker_mut(i)?.argv.clone();
        let child = spawn_detached(&argv, &log)?;
        let pid = child.id();
        self.children.push(child);
        self.manifest.broker_mut(i)?.pid = pid;
        self.manifest.write(&self.workdir)?;
        let deadline = Instant::now() + NATS_START_TIMEOUT;
        while ready() == before {
            anyhow::ensure!(alive(pid), "nats-server exited on restart; see {}", log.display());
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not listen within {NATS_START_TIMEOUT:?}");
            std::thread::sleep(POLL_INTERVAL);
        }
        Ok(())
    }

    /// Stops everything in order: SIGTERM to every node (they flush their
    /// stores), SIGKILL to those still running after [`STOP_GRACE`] (named
    /// on stderr), then the broker; waits until all are gone, and renames
    /// `nodes.json` so that a second stop cannot signal pids the kernel may
    /// have given to other processes by then.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pids: Vec<u32> = self.manifest.nodes.values().map(|p| p.pid).collect();
        for pid in &pids {
            signal(*pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(POLL_INTERVAL);
        }
        let stuck: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        for (code, node) in self.manifest.nodes.iter().filter(|(_, p)| stuck.contains(&p.pid)) {
            eprintln!("node {code} (pid {}) did not stop within {STOP_GRACE:?} of SIGTERM; killing it", node.pid);
            signal(node.pid, Signal::SIGKILL);
        }
        let brokers: Vec<u32> = self.manifest.brokers().map(|b| b.pid).filter(|p| *p != 0).collect();
        for pid in &brokers {
            signal(*pid, Signal::SIGTERM);
        }
        for pid in &brokers {
            if !wait_gone(*pid, NATS_STOP_GRACE) {
                signal(*pid, Signal::SIGKILL);
            }
        }
        for child in &mut self.children {
            let _ = child.try_wait();
        }
        // A killed process is gone only once the kernel has torn it down
        // (its sled lock and ports freed): whoever starts a topology next
        // must not race it.
        let mut left: Vec<u32> = stuck.into_iter().chain(brokers).collect();
        let deadline = Instant::now() + DEATH_TIMEOUT;
        loop {
            self.children.retain_mut(|c| c.try_wait().map_or(true, |status| status.is_none()));
            left.retain(|p| alive(*p));
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        self.owned = false;
        std::fs::rename(self.workdir.join(FILE_NAME), self.workdir.join(format!("{FILE_NAME}.stopped")))
            .with_context(|| format!("renaming {FILE_NAME}"))?;
        anyhow::ensure!(left.is_empty(), "processes {left:?} still run {DEATH_TIMEOUT:?} after SIGKILL");
        Ok(())
    }

    /// Forgets the processes: they are not killed on drop (after a stop
    /// that something else did, say).
    pub fn disown(&mut self) {
        self.owned = false;
    }

    /// Reaps `pid` if this started it.
    fn reap(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let _ = self.children.remove(i).wait();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for pid in self.manifest.pids() {
            if alive(pid) {
                signal(pid, Signal::SIGKILL);
            }
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until a node's health check answers SERVING and it has checked
/// its own streams with its peers (so that it takes appends).
pub async fn wait_serving(
    grpc: &str,
    tls: Option<&tonic::transport::ClientTlsConfig>,
    deadline: Instant,
) -> anyhow::Result<()> {
    use linkage_proto::v1::admin_service_client::AdminServiceClient;
    use tonic_health::pb::health_client::HealthClient;
    loop {
        let attempt = async {
            let channel = crate::pki::endpoint(grpc, tls)?.connect().await?;
            let answer = HealthClient::new(channel.clone())
                .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                .await?
                .into_inner();
            let serving = answer.status() == tonic_health::pb::health_check_response::ServingStatus::Serving;
            let restored =
                match AdminServiceClient::new(channel).replication(linkage_proto::v1::ReplicationRequest {}).await {
                    Ok(r) => r.into_inner().restored,
                    // Replication off: nothing to restore.
                    Err(status) => status.code() == tonic::Code::FailedPrecondition,
                };
            anyhow::Ok(serving && restored)
        };
        if let Ok(true) = attempt.await {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "not SERVING in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
