//! Node configuration: defaults, then the TOML file, then `LINKAGE_*`
//! environment variables, then command-line flags — later wins.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a node needs to start.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    /// This committee's GB/T 2260 code, e.g. "620722". Required.
    pub node: String,
    /// Path of the topology file (deploy/topology/*.toml). Required.
    pub topology: PathBuf,
    /// The province's topology key (64 hex digits, ed25519): when set, the
    /// topology must be signed by it (`<topology>.sig`) and carry a
    /// version no lower than any this node has loaded.
    pub topology_key: Option<String>,
    /// Directory of the sled store and the key file.
    pub data_dir: PathBuf,
    /// Address for gRPC. Port 0 picks a free port; the bound address is
    /// written to `<data_dir>/grpc.addr` either way.
    pub grpc_listen: SocketAddr,
    /// A listener of its own for AdminService (with health and
    /// reflection), loopback in the example: then the gRPC listener does
    /// not serve AdminService. Port 0 picks one, written to
    /// `<data_dir>/admin.addr`.
    pub admin_listen: Option<SocketAddr>,
    /// TLS for every listener (`[tls]`: `cert`, `key`, `client_ca`):
    /// required unless `plaintext_loopback` is set.
    pub tls: Option<linkage_pki::ServerFiles>,
    /// Serve plaintext without authentication, every caller holding every
    /// role: refused unless every listener is on a loopback address. For
    /// a developer's machine and the bench's baseline, never an office.
    pub plaintext_loopback: bool,
    /// The allow-list (`[access]`): principal → roles (`platform`,
    /// `reader`, `operator`). Read again on SIGHUP.
    pub access: crate::access::AccessList,
    /// The node's ed25519 secret key file; `<data_dir>/node.key` when unset.
    pub key_file: Option<PathBuf>,
    /// How long SIGTERM waits for in-flight requests before exiting anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// "text" for people, "json" for log collectors.
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax; `RUST_LOG` wins when set.
    pub log: String,
    /// NATS server URL(s); replication is off when unset (a lone node).
    pub nats_url: Option<String>,
    /// No longer used: a node logs in to NATS with the NKey derived from
    /// its key (`linkage_core::nkey`). Set, it is named in a warning at
    /// start and otherwise ignored, so that an upgraded node starts with
    /// its old configuration.
    pub nats_credentials: Option<PathBuf>,
    /// Address for Prometheus `/metrics`; off when unset. Port 0 picks a
    /// free port, written to `<data_dir>/metrics.addr`.
    pub metrics_listen: Option<SocketAddr>,
    /// How often the node announces the heads of its own streams.
    #[serde(with = "humantime_serde")]
    pub heads_interval: Duration,
    /// How often it asks its parent and children which streams they hold.
    #[serde(with = "humantime_serde")]
    pub anti_entropy_interval: Duration,
    /// Whether a new store compresses sled's pages (zstd): unset, a county
    /// does and a city or the province does not. A store keeps what it
    /// was created with (decision 0064).
    pub compress_store: Option<bool>,
    /// Bytes of store pages sled may cache in memory.
    pub cache_bytes: u64,
    /// No longer read: scores come from the province's signed score rules
    /// (`ScoreRuleIssued`), the same at every node. Accepted so that a
    /// config of an earlier version still loads; the node warns.
    #[serde(skip_serializing)]
    pub score_table: Option<toml::Table>,
    /// Documents' bytes beside the log (`[documents]`).
    pub documents: DocumentSettings,
}

/// The limits of the blob store and of fetching (`[documents]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct DocumentSettings {
    /// Bytes all documents may take on disk. A full quota never stops
    /// events: their documents wait, listed by `AdminService.ListDocuments`.
    pub quota_bytes: u64,
    /// Bytes the documents of one origin's events may take.
    pub per_origin_quota_bytes: u64,
    /// Bytes of chunks asked of holders and not yet stored, at most.
    pub in_flight_bytes: u64,
    /// Fetch rate limit, bytes per second; 0 for none.
    pub fetch_bytes_per_second: u64,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        let d = linkage_replication::DocumentsConfig::default();
        DocumentSettings {
            quota_bytes: d.quota.total_bytes,
            per_origin_quota_bytes: d.quota.per_origin_bytes,
            in_flight_bytes: d.in_flight_bytes,
            fetch_bytes_per_second: d.fetch_bytes_per_second,
        }
    }
}

impl DocumentSettings {
    /// As the documents service takes them.
    pub fn to_config(&self) -> linkage_replication::DocumentsConfig {
        linkage_replication::DocumentsConfig {
            quota: linkage_store::blobs::Quota {
                total_bytes: self.quota_bytes,
                per_origin_bytes: self.per_origin_quota_bytes,
            },
            in_flight_bytes: self.in_flight_bytes,
            fetch_bytes_per_second: self.fetch_bytes_per_second,
            ..Default::default()
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node: String::new(),
            topology: PathBuf::new(),
            topology_key: None,
            data_dir: PathBuf::from("./data"),
            grpc_listen: "127.0.0.1:7700".parse().expect("literal address"),
            admin_listen: None,
            tls: None,
            plaintext_loopback: false,
            access: crate::access::AccessList::new(),
            key_file: None,
            shutdown_grace: Duration::from_secs(10),
            log_format: LogFormat::Text,
            log: "info".into(),
            nats_url: None,
            nats_credentials: None,
            metrics_listen: None,
            heads_interval: Duration::from_secs(1),
            anti_entropy_interval: Duration::from_secs(3),
            compress_store: None,
            cache_bytes: linkage_store::CACHE_BYTES_DEFAULT,
            score_table: None,
            documents: DocumentSettings::default(),
        }
    }
}

impl Config {
    /// Whether a new store of a node at `level` compresses sled's pages:
    /// `compress_store` when set, else only a county's. A county's machine
    /// is the smallest and its store takes few events a second, where
    /// compression's cost on the store's own rate (decision 0064) cannot
    /// show; a city's and the province's take every county's events.
    pub fn compress_store_for(&self, level: linkage_core::Level) -> bool {
        self.compress_store.unwrap_or(level == linkage_core::Level::County)
    }

    /// The key file's path.
    pub fn key_path(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.data_dir.join("node.key"))
    }

    /// Merges defaults, an optional TOML file, the environment and flags,
    /// and checks the required fields.
    pub fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        use figment::providers::{Env, Format, Serialized, Toml};
        let mut figment = figment::Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("LINKAGE_").split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        anyhow::ensure!(!config.node.is_empty(), "configuration: `node` is required (--node, LINKAGE_NODE)");
        anyhow::ensure!(
            !config.topology.as_os_str().is_empty(),
            "configuration: `topology` is required (--topology, LINKAGE_TOPOLOGY)"
        );
        let mut config = config;
        overrides.apply_tls(&mut config)?;
        let d = &mut config.documents;
        d.quota_bytes = overrides.documents_quota_bytes.unwrap_or(d.quota_bytes);
        d.per_origin_quota_bytes = overrides.documents_per_origin_quota_bytes.unwrap_or(d.per_origin_quota_bytes);
        d.fetch_bytes_per_second = overrides.documents_fetch_bytes_per_second.unwrap_or(d.fetch_bytes_per_second);
        anyhow::ensure!(d.in_flight_bytes > 0, "configuration: documents.in_flight_bytes must be above 0");
        config.check_listeners()?;
        Ok(config)
    }

    /// Every listener serves TLS, or every one is on loopback and the
    /// operator opted out of it.
    fn check_listeners(&self) -> anyhow::Result<()> {
        let listeners = [
            ("grpc_listen", Some(self.grpc_listen)),
            ("admin_listen", self.admin_listen),
            ("metrics_listen", self.metrics_listen),
        ];
        match (&self.tls, self.plaintext_loopback) {
            (Some(_), true) => anyhow::bail!("configuration: `tls` and `plaintext_loopback` are both set: choose one"),
            (Some(_), false) => Ok(()),
            (None, false) => anyhow::bail!(
                "configuration: `tls` is required (cert, key, client_ca; --tls-cert, --tls-key, --tls-client-ca), \
                 or `plaintext_loopback = true` for a node that listens on loopback only"
            ),
            (None, true) => {
                for (field, addr) in listeners {
                    if let Some(addr) = addr {
                        anyhow::ensure!(
                            addr.ip().is_loopback(),
                            "configuration: {field} = {addr}: `plaintext_loopback` serves loopback addresses only; \
                             set `tls` to listen on {}",
                            addr.ip()
                        );
                    }
                }
                Ok(())
            }
        }
    }
}

/// One committee's linkage node: a durable, signed event log on sled,
/// served over gRPC (EventLogService, AdminService, grpc.health.v1 and
/// server reflection).
///
/// Settings come from defaults, then the TOML file given with --config, then
/// LINKAGE_* environment variables (LINKAGE_NODE, LINKAGE_DATA_DIR, …), then
/// the flags below; later wins. SIGTERM or SIGINT: health turns NOT_SERVING,
/// in-flight requests finish, the store is flushed, exit 0. One that comes
/// during start-up (a long recovery, say) takes effect once the node
/// serves; a second one then stops it at once (exit 130 or 143).
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about)]
pub struct Cli {
    /// TOML configuration file with the keys below (node, topology, data_dir,
    /// grpc_listen, key_file, shutdown_grace, log_format, log)
    #[arg(long, env = "LINKAGE_CONFIG")]
    pub config: Option<PathBuf>,
    // Every setting's flag, after the file and the environment.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Flags that override the file and the environment.
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// This committee's GB/T 2260 code, e.g. 620722 [env: LINKAGE_NODE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Topology file listing every node, e.g. deploy/topology/demo.toml [env: LINKAGE_TOPOLOGY]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<PathBuf>,
    /// Directory for the sled store and the key file [default: ./data] [env: LINKAGE_DATA_DIR]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// gRPC listen address; port 0 picks a free one, written to <data_dir>/grpc.addr [default: 127.0.0.1:7700] [env: LINKAGE_GRPC_LISTEN]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_listen: Option<SocketAddr>,
    /// Listener for AdminService alone (health and reflection too); the gRPC listener then does not serve it [env: LINKAGE_ADMIN_LISTEN]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// This node's TLS certificate, PEM (`[tls] cert`)
    #[arg(long, env = "LINKAGE_TLS_CERT")]
    #[serde(skip)]
    pub tls_cert: Option<PathBuf>,
    /// Its private key, PEM (`[tls] key`)
    #[arg(long, env = "LINKAGE_TLS_KEY")]
    #[serde(skip)]
    pub tls_key: Option<PathBuf>,
    /// The province's CA certificate, PEM, that client certificates must chain to (`[tls] client_ca`)
    #[arg(long, env = "LINKAGE_TLS_CLIENT_CA")]
    #[serde(skip)]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve plaintext without authentication, loopback addresses only: a developer's machine, never an office [env: LINKAGE_PLAINTEXT_LOOPBACK]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_loopback: Option<bool>,
    /// ed25519 secret key file, created on first start [default: <data_dir>/node.key] [env: LINKAGE_KEY_FILE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The province's topology key (hex ed25519): the topology must be signed by it (<topology>.sig) and not older than one loaded before [env: LINKAGE_TOPOLOGY_KEY]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology_key: Option<String>,
    /// How long SIGTERM waits for in-flight requests, e.g. 10s [env: LINKAGE_SHUTDOWN_GRACE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace: Option<String>,
    /// Log format [default: text] [env: LINKAGE_LOG_FORMAT]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or linkage_store=debug; RUST_LOG wins [default: info] [env: LINKAGE_LOG]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// NATS URL, e.g. nats://127.0.0.1:4222; without it the node does not replicate [env: LINKAGE_NATS_URL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    /// No longer used (nodes log in to NATS with an NKey derived from their key); warned about and ignored [env: LINKAGE_NATS_CREDENTIALS]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats_credentials: Option<PathBuf>,
    /// Prometheus /metrics address; port 0 picks one, written to <data_dir>/metrics.addr [env: LINKAGE_METRICS_LISTEN]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// How often to announce the heads of own streams, e.g. 1s [env: LINKAGE_HEADS_INTERVAL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads_interval: Option<String>,
    /// How often to ask parent and children which streams they hold, e.g. 3s [env: LINKAGE_ANTI_ENTROPY_INTERVAL]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_entropy_interval: Option<String>,
    /// Whether a new store compresses its indexes and views (zstd) [default: a county does, a city or the province not] [env: LINKAGE_COMPRESS_STORE]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compress_store: Option<bool>,
    /// Bytes of store pages to cache in memory [default: 67108864] [env: LINKAGE_CACHE_BYTES]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_bytes: Option<u64>,
    /// Bytes all documents may take on disk [default: 20 GiB] (`[documents] quota_bytes`)
    #[arg(long, env = "LINKAGE_DOCUMENTS_QUOTA_BYTES")]
    #[serde(skip)]
    pub documents_quota_bytes: Option<u64>,
    /// Bytes one origin's documents may take [default: 4 GiB] (`[documents] per_origin_quota_bytes`)
    #[arg(long, env = "LINKAGE_DOCUMENTS_PER_ORIGIN_QUOTA_BYTES")]
    #[serde(skip)]
    pub documents_per_origin_quota_bytes: Option<u64>,
    /// Document fetch rate limit, bytes per second; 0 for none (`[documents] fetch_bytes_per_second`)
    #[arg(long, env = "LINKAGE_DOCUMENTS_FETCH_BYTES_PER_SECOND")]
    #[serde(skip)]
    pub documents_fetch_bytes_per_second: Option<u64>,
}

impl Overrides {
    /// The `--tls-*` flags over the file's `[tls]`: all three, or each
    /// over a `[tls]` the file has.
    fn apply_tls(&self, config: &mut Config) -> anyhow::Result<()> {
        if self.tls_cert.is_none() && self.tls_key.is_none() && self.tls_client_ca.is_none() {
            return Ok(());
        }
        let tls = match (&mut config.tls, &self.tls_cert, &self.tls_key, &self.tls_client_ca) {
            (Some(tls), ..) => tls,
            (None, Some(cert), Some(key), Some(client_ca)) => {
                config.tls = Some(linkage_pki::ServerFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: client_ca.clone(),
                });
                return Ok(());
            }
            (None, ..) => anyhow::bail!("configuration: --tls-cert, --tls-key and --tls-client-ca go together"),
        };
        if let Some(cert) = &self.tls_cert {
            tls.cert = cert.clone();
        }
        if let Some(key) = &self.tls_key {
            tls.key = key.clone();
        }
        if let Some(client_ca) = &self.tls_client_ca {
            tls.client_ca = client_ca.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config/node.example.toml");
        let config = Config::load(Some(&example), &Overrides::default()).unwrap();
        assert_eq!(config.score_table, None);
    }

    /// Unset, only a county's new store compresses; the setting wins
    /// either way.
    #[test]
    fn a_countys_store_compresses_unless_told_otherwise() {
        use linkage_core::Level;
        let mut config = Config::default();
        let by_level = [Level::Province, Level::City, Level::County].map(|l| config.compress_store_for(l));
        assert_eq!(by_level, [false, false, true]);
        for set in [false, true] {
            config.compress_store = Some(set);
            assert!([Level::Province, Level::City, Level::County].iter().all(|&l| config.compress_store_for(l) == set));
        }
    }

    /// An earlier version's `[score_table]` still loads (and is ignored).
    #[test]
    fn an_old_score_table_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let text = "node = \"620000\"\ntopology = \"t.toml\"\nplaintext_loopback = true\n[score_table]\ncounty = 1\nnational = 20\n";
        std::fs::write(&path, text).unwrap();
        let config = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert!(config.score_table.is_some());
    }
}
