//! Starts a node: topology, key, store, writer, gRPC with health and
//! reflection; and stops it in order: health NOT_SERVING, stop taking
//! requests, drain, flush, exit.

use crate::access;
use crate::admin::Admin;
use crate::config::Config;
use crate::event_log::{EventLog, Node};
use crate::identity;
use crate::listen::{self, TlsSource};
use crate::views::Views;
use anyhow::Context;
use linkage_core::NodeCode;
use linkage_proto::v1::admin_service_server::AdminServiceServer;
use linkage_proto::v1::document_service_server::DocumentServiceServer;
use linkage_proto::v1::evaluation_service_server::EvaluationServiceServer;
use linkage_proto::v1::event_log_service_server::EventLogServiceServer;
use linkage_proto::v1::exchange_service_server::ExchangeServiceServer;
use linkage_proto::v1::member_service_server::MemberServiceServer;
use linkage_proto::v1::planning_service_server::PlanningServiceServer;
use linkage_proto::v1::progress_service_server::ProgressServiceServer;
use linkage_proto::v1::proposal_service_server::ProposalServiceServer;
use linkage_proto::v1::results_service_server::ResultsServiceServer;
use linkage_store::{Appender, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A file in the data dir that exists while this node restores its own
/// events from its peers (an empty store, an existing key): a restart
/// before the restore ends restores again instead of appending at once.
pub const RESTORING_MARKER: &str = "RESTORING";

/// Largest request a client may send: one full `AppendBatch`
/// (1,000 events) of ordinary size fits with room to spare; events
/// themselves are capped at 64 KiB each by validation.
pub const REQUEST_BYTES_MAX: usize = 16 * 1024 * 1024;

/// HTTP/2 streams one connection may have open at once (watches and
/// calls together).
pub const STREAMS_PER_CONNECTION_MAX: u32 = 256;

/// Requests one connection may have in the handlers at once; more wait.
pub const REQUESTS_PER_CONNECTION_MAX: usize = 128;

/// The gRPC service names this node serves, for health.
const SERVICES: [&str; 10] = [
    "linkage.v1.EventLogService",
    "linkage.v1.AdminService",
    "linkage.v1.PlanningService",
    "linkage.v1.ProgressService",
    "linkage.v1.ExchangeService",
    "linkage.v1.ResultsService",
    "linkage.v1.MemberService",
    "linkage.v1.ProposalService",
    "linkage.v1.EvaluationService",
    "linkage.v1.DocumentService",
];

/// A started node.
pub struct Running {
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where AdminService listens, when on its own listener.
    pub admin_addr: Option<SocketAddr>,
    /// Cancel to begin shutdown.
    pub shutdown: CancellationToken,
    /// The store, for a final sync.
    pub store: Store,
    health: tonic_health::server::HealthReporter,
    servers: Vec<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    /// Every listener's TLS, reloaded on SIGHUP.
    tls: Vec<Arc<TlsSource>>,
    gate: Arc<access::Gate>,
}

/// Serves a tonic router on a bound listener, over TLS when given its
/// source, until the token is cancelled. (A macro: the two kinds of
/// connection are two types, and tonic's router bounds are long.)
macro_rules! serve {
    ($router:expr, $listener:expr, $tls:expr, $name:literal, $shutdown:expr) => {{
        let token = $shutdown.clone();
        let stop = async move { token.cancelled().await };
        match &$tls {
            Some(tls) => {
                let incoming = listen::tls_incoming($listener, tls.clone(), $name, $shutdown.clone());
                tokio::spawn($router.serve_with_incoming_shutdown(incoming, stop))
            }
            None => {
                let incoming = tonic::transport::server::TcpIncoming::from($listener).with_nodelay(Some(true));
                tokio::spawn($router.serve_with_incoming_shutdown(incoming, stop))
            }
        }
    }};
}

/// How often a connection with nothing to say is pinged.
pub const HTTP2_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a ping may go unanswered before the connection is closed.
pub const HTTP2_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens everything and starts serving.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    let text = std::fs::read_to_string(&config.topology)
        .with_context(|| format!("reading topology {}", config.topology.display()))?;
    let (topology, new_version) =
        crate::signed::load(&config.topology, &text, config.topology_key.as_deref(), &config.data_dir)?;
    if let Some(version) = new_version {
        write_durably(&config.data_dir.join(crate::signed::VERSION_FILE), format!("{version}\n").as_bytes())?;
        tracing::info!(version, "loaded a newer version of the signed topology");
    }
    let origin: NodeCode = config.node.parse().map_err(|e| anyhow::anyhow!("configuration: node: {e}"))?;
    let me = topology
        .node(origin)
        .with_context(|| format!("configuration: node {origin} is not in topology {}", config.topology.display()))?
        .clone();
    anyhow::ensure!(
        !me.is_ejected(),
        "{origin} is ejected from the topology (version {}): its events are refused from the seqs its ejected_from names",
        topology.version().unwrap_or(0)
    );
    // A long recovery after a crash lies between this line and "serving".
    tracing::info!(node = %origin, data_dir = %config.data_dir.display(), "opening the store");
    let compress = config.compress_store_for(me.level);
    let store = Store::open_with(&config.data_dir.join("store"), config.cache_bytes, compress)
        .with_context(|| format!("opening store in {}", config.data_dir.display()))?;
    if store.compressed() != compress {
        tracing::warn!(
            compressed = store.compressed(),
            "compress_store is {compress}, but the store was created otherwise and keeps that; \
             a new data_dir takes the setting"
        );
    }
    // The views judge a province's record of 全国政协's adoptions by the
    // topology's national_since: a new one folds them again, once.
    store.use_fold_context(linkage_core::views::FoldContext::of(&topology)).context("folding the views again")?;
    // A key switch waits while the node has its own events to restore.
    let restoring = config.data_dir.join(RESTORING_MARKER).exists() || store.last_position() == 0;
    let chosen = identity::choose(&config.key_path(), &me, !restoring)?;
    let (key, key_created) = (chosen.key, chosen.created);
    if let Some(old) = &chosen.switch_from {
        let until = store
            .all_heads()?
            .into_iter()
            .filter(|((o, _), _)| *o == origin)
            .map(|((_, channel), head)| (channel.to_string(), head.seq))
            .collect();
        identity::complete_switch(&config.key_path(), &config.data_dir, origin, old, until)?;
    }
    let nkey_seed = linkage_core::nkey::seed(&key);
    let public_key = key.verifying_key().to_bytes();
    let (appender, _writer) = Appender::start(store.clone(), origin, key)?;
    let shutdown = CancellationToken::new();
    let topology = Arc::new(topology);
    let documents = linkage_replication::Documents::open(
        origin,
        topology.clone(),
        store.clone(),
        &config.data_dir.join("blobs"),
        config.documents.to_config(),
        shutdown.clone(),
    )
    .with_context(|| format!("opening the blob store in {}", config.data_dir.join("blobs").display()))?;
    let replicator = match &config.nats_url {
        None => None,
        Some(url) => {
            if let Some(path) = &config.nats_credentials {
                tracing::warn!(
                    path = %path.display(),
                    "nats_credentials is no longer used: this node logs in to NATS with the NKey derived from its key \
                     (the topology's nats_key); remove the setting"
                );
            }
            // Over TLS whenever the node serves TLS: the province's CA,
            // and the node's own certificate as the client's.
            let tls = config.tls.as_ref().map(|files| linkage_replication::nats::NatsTls {
                ca: files.client_ca.clone(),
                cert: files.cert.clone(),
                key: files.key.clone(),
            });
            let options =
                linkage_replication::nats::NatsOptions { url: url.clone(), nkey_seed: Some(nkey_seed.clone()), tls };
            let transport: Arc<dyn linkage_replication::Transport> =
                Arc::new(linkage_replication::nats::Nats::connect(origin, &options).await?);
            // An identity that existed before an empty store: this node may
            // have appended before; it must learn its own heads first. The
            // marker keeps that true across a restart until the restore
            // ends (the replicator removes it): by then the store holds
            // others' events, not yet all of its own (found by the
            // simulation). Written durably: a power cut must not lose it.
            let marker = config.data_dir.join(RESTORING_MARKER);
            let must_restore = (!key_created && store.last_position() == 0) || marker.exists();
            if must_restore {
                write_durably(&marker, b"restoring this node's own events from its peers\n")?;
            }
            let replication = linkage_replication::ReplicationConfig {
                heads_interval: config.heads_interval,
                anti_entropy_interval: config.anti_entropy_interval,
                restore_marker: must_restore.then(|| marker.clone()),
                ..Default::default()
            };
            let replicator = linkage_replication::Replicator::start(
                origin,
                topology.clone(),
                store.clone(),
                appender.clone(),
                transport.clone(),
                replication,
                must_restore,
                shutdown.clone(),
            )
            .await?;
            let entitled = replicator.clone();
            documents
                .connect(transport, Arc::new(move |reader, origin, channel| entitled.entitled(reader, origin, channel)))
                .await?;
            Some(replicator)
        }
    };
    let node = Arc::new(Node {
        topology: topology.clone(),
        origin,
        store: store.clone(),
        appender,
        replicator,
        documents: documents.clone(),
        member_keys: crate::member_keys::MemberKeys::open(&config.data_dir)?,
        shutdown: shutdown.clone(),
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", tonic_health::ServingStatus::Serving).await;
    for name in SERVICES {
        health.set_service_status(name, tonic_health::ServingStatus::Serving).await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(linkage_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };

    let (mode, tls) = match &config.tls {
        Some(files) => (access::Mode::Certificates, Some(TlsSource::load(files, &[b"h2"])?)),
        None => {
            tracing::warn!("serving plaintext without authentication on loopback (`plaintext_loopback`)");
            (access::Mode::PlaintextLoopback, None)
        }
    };
    if mode == access::Mode::Certificates && config.access.is_empty() {
        tracing::warn!("the allow-list (`[access]`) is empty: only health answers");
    }
    let gate = access::Gate::new(mode, origin.to_string(), config.access.clone());
    let mut tls_sources: Vec<Arc<TlsSource>> = tls.iter().cloned().collect();

    let listener = listen::bind(config.grpc_listen, "gRPC").await?;
    let grpc_addr = listener.local_addr()?;
    let admin_listener = match config.admin_listen {
        Some(addr) => Some(listen::bind(addr, "AdminService").await?),
        None => None,
    };
    if let Some(addr) = config.metrics_listen {
        // Its own TLS configuration: /metrics speaks HTTP/1.1, and a
        // scraper offered only h2 would get a reply it cannot read.
        let metrics_tls = match &config.tls {
            Some(files) => Some(TlsSource::load(files, &[b"http/1.1"])?),
            None => None,
        };
        tls_sources.extend(metrics_tls.clone());
        let bound = crate::metrics::serve(addr, metrics_tls.map(|tls| (tls, gate.clone())), shutdown.clone()).await?;
        write_atomic(&config.data_dir.join("metrics.addr"), bound.to_string().as_bytes())?;
        tracing::info!(metrics = %bound, "serving Prometheus metrics at /metrics");
        // Set here, once the recorder is in place; a storage error sets 0,
        // also one that lands between these two lines.
        metrics::gauge!(linkage_store::STORE_WRITABLE).set(1.0);
        if !store.writable() {
            metrics::gauge!(linkage_store::STORE_WRITABLE).set(0.0);
        }
        if let Some(files) = &config.tls {
            crate::listen::publish_expiry(files);
        }
    }

    let event_log = EventLogServiceServer::new(EventLog::new(node.clone()))
        .max_decoding_message_size(REQUEST_BYTES_MAX)
        .max_encoding_message_size(REQUEST_BYTES_MAX);
    let admin = AdminServiceServer::new(Admin::new(node.clone(), hex::encode(public_key)));
    if config.score_table.is_some() {
        tracing::warn!(
            "`[score_table]` in the config is ignored: scores come from the province's signed score rules \
             (ScoreRuleIssued); remove the section"
        );
    }
    let views = Views::new(node);
    let builder = || {
        tonic::transport::Server::builder()
            .max_concurrent_streams(Some(STREAMS_PER_CONNECTION_MAX))
            // A peer that vanished without closing (a cut line, a power
            // loss) is found by HTTP/2 pings and its connection closed,
            // which frees its slot (listen::CONNECTIONS_PER_ADDRESS_MAX).
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .concurrency_limit_per_connection(REQUESTS_PER_CONNECTION_MAX)
            .layer(access::GateLayer::new(gate.clone()))
    };
    let mut servers = Vec::new();
    let admin_addr = match admin_listener {
        Some(admin_listener) => {
            let addr = admin_listener.local_addr()?;
            let router = builder()
                .add_service(health_service.clone())
                .add_service(reflection().build_v1()?)
                .add_service(reflection().build_v1alpha()?)
                .add_service(admin.clone());
            servers.push(serve!(router, admin_listener, tls, "admin", shutdown));
            write_atomic(&config.data_dir.join("admin.addr"), addr.to_string().as_bytes())?;
            tracing::info!(%addr, "serving AdminService on its own listener");
            Some(addr)
        }
        None => None,
    };
    let router = builder()
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(event_log)
        .add_optional_service(admin_addr.is_none().then_some(admin))
        .add_service(PlanningServiceServer::new(views.clone()))
        .add_service(ProgressServiceServer::new(views.clone()))
        .add_service(ExchangeServiceServer::new(views.clone()))
        .add_service(ResultsServiceServer::new(views.clone()))
        .add_service(MemberServiceServer::new(views.clone()))
        .add_service(ProposalServiceServer::new(views.clone()))
        .add_service(EvaluationServiceServer::new(views))
        .add_service(
            DocumentServiceServer::new(crate::documents::Docs::new(documents, origin.to_string()))
                .max_decoding_message_size(crate::documents::PUT_MESSAGE_BYTES_MAX + 1024)
                .max_encoding_message_size(crate::documents::PUT_MESSAGE_BYTES_MAX + 1024),
        );
    servers.push(serve!(router, listener, tls, "grpc", shutdown));
    write_atomic(&config.data_dir.join("grpc.addr"), grpc_addr.to_string().as_bytes())?;
    tracing::info!(node = %origin, name = %me.name, level = me.level.as_str(), %grpc_addr, tls = tls.is_some(),
        public_key = %hex::encode(public_key), events = store.last_position(), "serving");
    Ok(Running { grpc_addr, admin_addr, shutdown, store, health, servers, tls: tls_sources, gate })
}

impl Running {
    /// SIGHUP: the certificate files and the allow-list of `config` take
    /// effect, from the next handshake and the next request on; open
    /// connections stay. Nothing changes when a file cannot be read.
    pub fn reload(&self, config: &Config) -> anyhow::Result<()> {
        match &config.tls {
            None => anyhow::ensure!(self.tls.is_empty(), "reload: `tls` was removed; restart the node to change that"),
            Some(files) => {
                anyhow::ensure!(!self.tls.is_empty(), "reload: `tls` was added; restart the node to serve TLS");
                // Read everything first: nothing changes unless all load.
                let fresh = self.tls.iter().map(|tls| tls.prepare(files)).collect::<anyhow::Result<Vec<_>>>()?;
                for (tls, config) in self.tls.iter().zip(fresh) {
                    tls.swap(config);
                }
            }
        }
        self.gate.replace(config.access.clone());
        tracing::info!(principals = config.access.len(), "reloaded certificates and the allow-list");
        Ok(())
    }

    /// Stops in order: health NOT_SERVING (load balancers stop sending),
    /// refuse new work and end subscriptions, wait up to `grace` for
    /// in-flight requests, then sync the store.
    pub async fn stop(self, grace: std::time::Duration) -> anyhow::Result<()> {
        self.health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        for name in SERVICES {
            self.health.set_service_status(name, tonic_health::ServingStatus::NotServing).await;
        }
        self.shutdown.cancel();
        let all = futures::future::join_all(self.servers);
        match tokio::time::timeout(grace, all).await {
            Ok(joined) => {
                for server in joined {
                    server??;
                }
            }
            Err(_) => tracing::warn!(?grace, "in-flight requests did not finish in time; stopping anyway"),
        }
        // Every acknowledged append is already fsynced; this covers the rest.
        self.store.sync()?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Writes a small file so that readers never see half of it.
/// [`write_atomic`], synced: the file and the directory entry survive a
/// power cut.
fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes)?;
    std::fs::File::open(path)?.sync_all()?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}
