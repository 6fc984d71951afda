//! Figures 2 and 3, our side, and figure 2's baseline: a real node
//! ([`BenchNode`], started in-process with `linkage_node::server::start`
//! as `linkage-node` would start it) driven over gRPC on loopback.
//!
//! Figure 2, unary appends per second: 1 client on one connection, then
//! [`CLIENTS_MANY`] clients over [`CONNECTIONS_MAX`] connections, each
//! repeating the fixture's `Append` for [`RUN_DURATION`]. *Baseline*: the
//! same clients on the same connections calling
//! `grpc.health.v1.Health/Check` on the same server, measured right
//! before: a unary call that does no work, so it measures tonic, HTTP/2
//! and the runtime alone. The ratio is what validation, the writer's queue
//! and durability cost per call. With one client each append waits for its
//! own fdatasync, so that ratio is low by nature and has no target; with
//! many, group commit covers many appends with one fdatasync. *Target* for
//! [`CLIENTS_MANY`] clients: ratio ≥ 0.3.
//!
//! Figure 3, append latency p50 and p99: one client makes
//! [`LATENCY_SAMPLES`] sequential `Append`s. *Baseline*: a 300-byte
//! append and fdatasync of a file on the same disk ([`crate::fsync`]),
//! taken in [`LATENCY_ROUNDS`] turns with our samples while the node is
//! up, so that a disk or host slow for a moment slows both. *Targets*:
//! p50 ≤ baseline p50 + 300 µs, p99 ≤ 2 ms. A floor timed in the same
//! rounds — a raw append + fdatasync, then a `Health/Check` on the same
//! connection, the least a durable RPC takes on this host — goes into a
//! note, and another note names each target that the floor alone misses:
//! no node could have met it in that run.

use crate::fixture;
use crate::fsync::RawAppends;
use crate::measure::{Latencies, Rate};
use anyhow::Context;
use linkage_core::pb;
use linkage_node::config::Config;
use linkage_node::server::Running;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Concurrent clients of the "many" rows: more than the writer's queue
/// drains one commit at a time, so group commit has something to group.
pub const CLIENTS_MANY: usize = 64;

/// HTTP/2 connections the clients share, round-robin: several, as a
/// fleet of platform servers would open, but far fewer than clients, as
/// each connection multiplexes many calls.
pub const CONNECTIONS_MAX: usize = 8;

/// Wall time of each throughput measurement.
pub const RUN_DURATION: Duration = Duration::from_secs(3);

/// Untimed calls before each measurement: connections are set up, the
/// server's tasks are spawned and the caches are warm.
pub const WARMUP_DURATION: Duration = Duration::from_millis(300);

/// Calls one client makes in one measurement at most; far above what
/// [`RUN_DURATION`] allows over loopback, it only stops a runaway loop.
pub const CLIENT_CALLS_MAX: u64 = 1_000_000;

/// Sequential calls timed for the latency percentiles: enough that p99
/// is the 20th-slowest call rather than a single outlier.
pub const LATENCY_SAMPLES: usize = 2_000;

/// Rounds the latency samples and their baseline alternate in.
pub const LATENCY_ROUNDS: usize = 10;

/// Untimed sequential calls before the latency samples.
pub const LATENCY_WARMUP_CALLS: usize = 20;

/// Wall time the latency samples, their baseline and the floor may take
/// at most, for a disk whose fdatasync takes 7 ms (3 × 2,000 of them).
pub const LATENCY_DURATION_MAX: Duration = Duration::from_secs(45);

/// How long the node may take to finish in-flight calls on stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One kind of unary call, the thing a client repeats.
#[derive(Clone)]
pub enum Call {
    /// `linkage.v1.EventLogService/Append` of this request.
    Append(Box<pb::AppendRequest>),
    /// `grpc.health.v1.Health/Check` of the event log service.
    HealthCheck,
}

/// A client that repeats one [`Call`] on one connection.
enum Caller {
    Append(EventLogServiceClient<Channel>, Box<pb::AppendRequest>),
    HealthCheck(HealthClient<Channel>),
}

impl Caller {
    fn new(channel: Channel, call: &Call) -> Caller {
        match call {
            Call::Append(request) => Caller::Append(EventLogServiceClient::new(channel), request.clone()),
            Call::HealthCheck => Caller::HealthCheck(HealthClient::new(channel)),
        }
    }

    /// Makes the call once and checks that it succeeded.
    async fn call(&mut self) -> Result<(), tonic::Status> {
        match self {
            Caller::Append(client, request) => {
                let response = client.append(pb::AppendRequest::clone(request)).await?.into_inner();
                if response.event.is_none() {
                    return Err(tonic::Status::internal("Append answered without an event"));
                }
            }
            Caller::HealthCheck(client) => {
                let request = HealthCheckRequest { service: "linkage.v1.EventLogService".into() };
                client.check(request).await?;
            }
        }
        Ok(())
    }
}

/// A node serving on a free loopback port, with data in a given directory.
pub struct BenchNode {
    /// The running node.
    running: Running,
    /// Its clients' TLS; `None` for the plaintext baseline.
    tls: Option<tonic::transport::ClientTlsConfig>,
}

impl BenchNode {
    /// Starts node [`fixture::NODE`] of the demo topology with its data in
    /// `data_dir`, as `linkage-node` would with the same configuration.
    /// `secure`: TLS with client certificates and the allow-list, as every
    /// office runs; else plaintext on loopback (`plaintext_loopback`), the
    /// baseline that shows what TLS costs.
    pub async fn start(root: &Path, data_dir: &Path, secure: bool) -> anyhow::Result<BenchNode> {
        use linkage_testkit::pki::{Pki, ALL_ROLES, OPERATOR};
        let mut config = Config {
            node: fixture::NODE.into(),
            topology: fixture::topology_path(root),
            data_dir: data_dir.to_owned(),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plaintext_loopback: !secure,
            ..Config::default()
        };
        let mut tls = None;
        if secure {
            let pki = Pki::open_or_create(&data_dir.join("test-ca"))?;
            config.tls = Some(pki.node_files(fixture::NODE, data_dir)?);
            let roles =
                ALL_ROLES.iter().map(|r| r.parse::<linkage_node::access::Role>()).collect::<anyhow::Result<_>>()?;
            config.access.insert(OPERATOR.parse().map_err(|e| anyhow::anyhow!("{e}"))?, roles);
            tls = Some(pki.client_tls(OPERATOR)?);
        }
        let running = linkage_node::server::start(&config).await.context("starting the node")?;
        Ok(BenchNode { running, tls })
    }

    /// Opens `count` connections to the node.
    pub async fn connect(&self, count: usize) -> anyhow::Result<Vec<Channel>> {
        assert!(count > 0, "at least one connection");
        let endpoint: Endpoint =
            linkage_testkit::pki::endpoint(&self.running.grpc_addr.to_string(), self.tls.as_ref())?;
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count {
            channels.push(endpoint.connect().await.context("connecting to the node")?);
        }
        Ok(channels)
    }

    /// Stops the node in order, as SIGTERM would.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop(STOP_GRACE).await
    }
}

/// Throughput of `clients` concurrent clients, spread round-robin over
/// `channels`, each repeating `call` for [`RUN_DURATION`] after an untimed
/// [`WARMUP_DURATION`].
pub async fn throughput(channels: &[Channel], clients: usize, call: &Call) -> anyhow::Result<Rate> {
    run_clients(channels, clients, call, WARMUP_DURATION).await?;
    run_clients(channels, clients, call, RUN_DURATION).await
}

async fn run_clients(channels: &[Channel], clients: usize, call: &Call, duration: Duration) -> anyhow::Result<Rate> {
    assert!(clients > 0, "at least one client");
    assert!(!channels.is_empty(), "at least one connection");
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let mut caller = Caller::new(channels[i % channels.len()].clone(), call);
        tasks.spawn(async move {
            let mut calls: u64 = 0;
            while calls < CLIENT_CALLS_MAX && Instant::now() < deadline {
                caller.call().await?;
                calls += 1;
            }
            Ok::<_, tonic::Status>((calls, Instant::now()))
        });
    }
    let mut ops = 0;
    let mut ended = started;
    while let Some(joined) = tasks.join_next().await {
        let (calls, at) = joined.context("a client task panicked")?.context("a call failed")?;
        ops += calls;
        ended = ended.max(at);
    }
    Ok(Rate { ops, elapsed: ended - started })
}

/// What [`latencies`] measured, all interleaved in the same rounds.
pub struct LatencySeries {
    /// The call under test.
    pub ours: Latencies,
    /// Appends + fdatasyncs of the raw file: figure 3's baseline.
    pub raw: Latencies,
    /// One raw append + fdatasync and then one `Health/Check` on the same
    /// connection, timed together: the least a durable RPC can take here.
    pub floor: Latencies,
}

/// Latencies of [`LATENCY_SAMPLES`] sequential calls by one client, each
/// waiting for the answer before the next, after a few untimed ones, and
/// as many appends + fdatasyncs of `raw` (the baseline) and raw appends
/// each followed by a health check (the floor), interleaved in
/// [`LATENCY_ROUNDS`] rounds: a disk or a host that is slow for a moment
/// slows every series alike.
pub async fn latencies(channel: &Channel, call: &Call, raw: &mut RawAppends) -> anyhow::Result<LatencySeries> {
    let mut caller = Caller::new(channel.clone(), call);
    let mut health = Caller::new(channel.clone(), &Call::HealthCheck);
    for _ in 0..LATENCY_WARMUP_CALLS {
        caller.call().await?;
        health.call().await?;
    }
    let limit = Instant::now() + LATENCY_DURATION_MAX;
    let per_round = LATENCY_SAMPLES / LATENCY_ROUNDS;
    let mut ours = Vec::with_capacity(LATENCY_SAMPLES);
    let mut baseline = Vec::with_capacity(LATENCY_SAMPLES);
    let mut floor = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_ROUNDS {
        let mut round = 0;
        while round < per_round && Instant::now() < limit {
            let started = Instant::now();
            caller.call().await?;
            ours.push(started.elapsed());
            round += 1;
        }
        // Blocking writes and syncs, timed alone: off the runtime's worker,
        // which the node shares, so that the node's tasks are not stuck
        // behind them.
        baseline.extend(tokio::task::block_in_place(|| raw.samples(per_round, limit))?);
        let mut round = 0;
        while round < per_round && Instant::now() < limit {
            // Blocking on the worker, as a client that syncs and then
            // calls does: the node has the other worker, and nothing else
            // runs meanwhile. A hand-off to another thread would add a
            // wake-up that the floor must not include.
            let started = Instant::now();
            raw.append()?;
            health.call().await?;
            floor.push(started.elapsed());
            round += 1;
        }
    }
    Ok(LatencySeries { ours: Latencies::new(ours), raw: Latencies::new(baseline), floor: Latencies::new(floor) })
}
