//! `linkctl`: the command line for people who run or use linkage nodes.
//!
//! # Layout
//! - `append <kind>` (`append.rs`): appends one domain event, one subcommand
//!   per kind of the `Payload` oneof (all 29), timestamps as RFC 3339,
//!   repeated fields as repeatable flags.
//! - `get`, `read`, `status`, `replication`, `forks`, `alarms` (`show.rs`): read a node
//!   and its log back.
//! - `planning`, `progress`, `exchange`, `results`, `views` (`views.rs`): the
//!   four shared views (沟通、联通、畅通、互通) and their rebuild. Listings follow
//!   every page; text comes from `render.rs` (tables by display width in
//!   `table.rs`, enum labels, names and hlc times in `labels.rs`); `--json`
//!   prints the response in the proto3 JSON mapping (`json.rs`).
//! - `topology from-csv | enroll | status` (`topostatus.rs` for `status`: the
//!   province → city → county tree of a local topology with each node's
//!   health, NATS, restore state, lag and events), `nats-config`, and `local
//!   up | down | kill | restart | url` (`deploy.rs`): build, enroll and run
//!   topologies.
//! - `key next`, `topology rotate | close-overlap | eject` (`keys.rs`):
//!   key rotation with an overlap, and ejection.
//! - `pki init-ca | request | sign` (`pki.rs`): the province's CA; keys and
//!   signing requests made where they are used.
//! - `document put | get | list | collect` (`document.rs`): documents
//!   beside the log.
//! - `client.rs`: `--addr` and the TLS flags (`--ca`, `--cert`, `--key`)
//!   into a connection.

mod append;
mod client;
mod deploy;
mod document;
mod from_csv;
mod json;
mod keys;
mod labels;
mod pki;
mod render;
mod show;
mod table;
mod topostatus;
mod views;

use anyhow::Context;
use clap::{Parser, Subcommand};
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::path::PathBuf;

/// Talk to linkage nodes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The node's gRPC address, e.g. https://127.0.0.1:7700
    #[arg(long, global = true, env = "LINKCTL_ADDR", default_value = "https://127.0.0.1:7700")]
    addr: String,
    #[command(flatten)]
    tls: client::TlsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append one event on a channel (up, down, all, group:<id>, to:<code>, chain:<code>).
    Append {
        /// Print only the new event's id (for scripts).
        #[arg(long, global = true, help_heading = "Envelope (every kind)")]
        print_id: bool,
        #[command(flatten)]
        args: append::AppendArgs,
    },
    /// Show one event by id.
    Get {
        /// Event id (UUID).
        id: String,
    },
    /// Read the local log from a position, or one (origin, channel) stream.
    Read {
        /// First local position.
        #[arg(long, default_value_t = 1, conflicts_with_all = ["origin", "channel"])]
        from_position: u64,
        /// Origin of the stream to read (with --channel).
        #[arg(long, requires = "channel")]
        origin: Option<String>,
        /// Channel of the stream to read (with --origin).
        #[arg(long, requires = "origin")]
        channel: Option<String>,
        /// First seq of the stream.
        #[arg(long, default_value_t = 1)]
        from_seq: u64,
        /// Stop after this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// What the node is and holds.
    Status,
    /// 沟通 views: topics (选题), overlaps, topics awaiting this node's word.
    Planning {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::planning::PlanningCommand,
    },
    /// 联通 views: joint groups (联动调研组), sub-topics, overdue tasks.
    Progress {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::progress::ProgressCommand,
    },
    /// 畅通 views: 社情民意 items and their trail, statistics, notices (上情下达).
    Exchange {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::exchange::ExchangeCommand,
    },
    /// 互通 views: results (调研成果), shares, adoptions, feedback.
    Results {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::results::ResultsCommand,
    },
    /// 委员: each committee's register of its members, one member, a year's activity.
    Members {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::members::MembersCommand,
    },
    /// 提案: proposals across levels, one proposal's trail, counts per committee or unit.
    Proposals {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::proposals::ProposalsCommand,
    },
    /// 评价: work evaluated by the province's indicator sets, as of any date.
    Evaluation {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::evaluation::EvaluationCommand,
    },
    /// Documents: put one before its event, get one, list what waits, collect.
    Document {
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: document::DocumentCommand,
    },
    /// The view store: rebuild the four views from the log.
    Views {
        #[command(flatten)]
        opts: views::ViewOpts,
        #[command(subcommand)]
        command: views::ViewsCommand,
    },
    /// Replication state of the node: lag per stream, peers, rejected events.
    Replication,
    /// Forks the node has seen (two different events at one seq).
    Forks,
    /// Alarms: events an origin signed against an envelope rule (an id
    /// naming another committee …); held and relayed, in no view.
    Alarms,
    /// Generate nats-server.conf from an enrolled topology: one user per
    /// node, known by its NKey, with exactly its permissions.
    NatsConfig {
        /// Topology file with every node's nats_key (`linkctl topology enroll`).
        #[arg(long)]
        topology: PathBuf,
        /// Output directory: nats-server.conf, or nats-server-<i>.conf per
        /// server of a cluster, and nats-urls (what nodes' nats_url takes).
        #[arg(long)]
        out: PathBuf,
        /// Where each nats-server listens for clients: HOST:PORT, one per
        /// server, comma-separated (a cluster when more than one).
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:4222")]
        listen: Vec<String>,
        /// A cluster of N servers on one host: --listen and --route-listen
        /// each give the first port, the others follow it (tests, a trial).
        #[arg(long, value_name = "N")]
        cluster: Option<u16>,
        /// Where each server listens for its cluster's routes: HOST:PORT,
        /// one per server, in --listen's order.
        #[arg(long, value_delimiter = ',', requires_all = ["route_cert", "route_key", "route_ca"])]
        route_listen: Vec<String>,
        /// The certificate a server shows its routes (PEM), of the routes'
        /// own CA, which signs brokers only: a route sees every subject.
        #[arg(long, requires = "route_listen")]
        route_cert: Option<PathBuf>,
        /// Its key (PEM).
        #[arg(long, requires = "route_listen")]
        route_key: Option<PathBuf>,
        /// The routes' CA certificate (PEM).
        #[arg(long, requires = "route_listen")]
        route_ca: Option<PathBuf>,
        /// The server's TLS certificate (PEM, from `linkctl pki`): with
        /// --tls-key and --tls-ca, every client must come over TLS with a
        /// certificate of that CA
        #[arg(long, requires_all = ["tls_key", "tls_ca"])]
        tls_cert: Option<PathBuf>,
        /// The server's TLS key (PEM)
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// The province's CA certificate (PEM) that clients' certificates chain to
        #[arg(long, requires = "tls_cert")]
        tls_ca: Option<PathBuf>,
    },
    /// Run a whole topology on this machine (what deploy/local/up and down call).
    #[command(subcommand)]
    Local(LocalCommand),
    /// Topology files, and the health of a running local topology.
    #[command(subcommand)]
    Topology(TopologyCommand),
    /// Certificates: the province's CA, keys and signing requests made
    /// where they are used, signing.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// The node's keys at its office: the next key of a rotation.
    #[command(subcommand)]
    Key(keys::KeyCommand),
}

#[derive(Subcommand)]
enum LocalCommand {
    /// The province's step of a key ceremony here: sign TOPOLOGY as the
    /// next version into WORKDIR/topology.toml (nodes read it at their next
    /// start) and reload nats-server with the logins it implies.
    Publish {
        /// The working directory given to `up`.
        workdir: PathBuf,
        /// The changed topology (from `topology rotate | close-overlap | eject`).
        topology: PathBuf,
    },
    /// Start nats-server and every node of TOPOLOGY as separate processes; write WORKDIR/nodes.json.
    Up {
        /// Topology file, e.g. deploy/topology/demo.toml
        topology: PathBuf,
        /// Working directory for keys, stores, logs and nodes.json.
        workdir: PathBuf,
        /// Directory holding the linkage-node binary [default: beside linkctl]
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// nats-servers to start: a cluster when more than one, routing
        /// over TLS with a CA of its own; nodes get every server's URL
        #[arg(long, env = "LINKAGE_NATS_SERVERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
        nats_servers: u16,
    },
    /// SIGKILL one node of a running local topology.
    Kill {
        /// The working directory given to `up`.
        workdir: PathBuf,
        /// The node's code.
        code: String,
    },
    /// Start one killed node again with its recorded argv; wait until it serves.
    Restart {
        /// The working directory given to `up`.
        workdir: PathBuf,
        /// The node's code.
        code: String,
    },
    /// Print a node's gRPC URL (for scripts).
    Url {
        /// The working directory given to `up`.
        workdir: PathBuf,
        /// The node's code.
        code: String,
    },
    /// Stop everything `up` started in WORKDIR.
    Down {
        /// The working directory given to `up`.
        workdir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TopologyCommand {
    #[command(flatten)]
    Keys(keys::RotationCommand),
    /// Make the province's topology key (KEY_FILE, mode 0600; keep it
    /// offline) and print its public key, the `topology_key` every node
    /// is configured with.
    TopologyKey {
        /// Where to write the secret key; an existing file is refused.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a topology with the province's topology key: writes OUT (the
    /// topology with its version) and OUT.sig.
    Sign {
        /// The topology to sign.
        topology: PathBuf,
        /// The province's topology key (from `topology topology-key`).
        #[arg(long)]
        key: PathBuf,
        /// The version to give it [default: the file's version + 1, or 1].
        #[arg(long)]
        version: Option<u64>,
        /// Where to write the signed topology (and OUT.sig beside it).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a node's two public keys (public_key, nats_key) from its key
    /// file, for the province to list in the topology; the key stays put.
    PublicKeys {
        /// The node's key file (its data dir's node.key).
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Create a key for every node (KEYS_DIR/<code>/node.key) and print the topology with both public keys.
    Enroll {
        /// Topology file.
        topology: PathBuf,
        /// Where keys are kept.
        #[arg(long)]
        keys_dir: PathBuf,
    },
    /// Build a topology TOML from a CSV (code,name_zh,pinyin,level,parent_code).
    FromCsv {
        /// The CSV, e.g. deploy/topology/gansu_divisions.csv
        csv: PathBuf,
        /// Keep only these codes (comma-separated); all when absent.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Keep only these provinces' whole trees (comma-separated), and the national committee
        #[arg(long, value_delimiter = ',')]
        provinces: Vec<String>,
        /// Add this file's `[[federations]]`, kept to the nodes that remain (china_federations.toml)
        #[arg(long)]
        federations: Option<PathBuf>,
    },
    /// Health of every node of a local topology as the province → city → county tree.
    Status {
        /// WORKDIR of `local up`, or its nodes.json
        #[arg(long, value_name = "WORKDIR|FILE")]
        nodes: PathBuf,
        /// Topology for the tree [default: the enrolled WORKDIR/topology.toml]
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Print one JSON document instead of the tree
        #[arg(long)]
        json: bool,
        /// How long to wait for each node (connect, and each call) before
        /// showing it DOWN, e.g. 10s, 500ms [default: 2s]
        #[arg(long, value_parser = positive_duration)]
        timeout: Option<std::time::Duration>,
    },
}

/// A duration such as `10s` or `500ms`, more than zero.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be more than 0 (e.g. 2s, 500ms)".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linkctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    client::configure(&cli.tls)?;
    match cli.command {
        Command::Pki(command) => pki::run(command),
        Command::Key(command) => keys::key(command),
        Command::Topology(TopologyCommand::Keys(command)) => keys::rotation(command),
        Command::Topology(TopologyCommand::TopologyKey { out }) => {
            println!("topology_key = \"{}\"", deploy::topology_key(&out)?);
            Ok(())
        }
        Command::Topology(TopologyCommand::Sign { topology, key, version, out }) => {
            let version = deploy::sign_topology(&topology, &key, version, &out)?;
            println!("wrote {} (version {version}) and its signature", out.display());
            Ok(())
        }
        Command::Topology(TopologyCommand::PublicKeys { key_file }) => {
            print!("{}", deploy::public_keys(&key_file)?);
            Ok(())
        }
        Command::Topology(TopologyCommand::Enroll { topology, keys_dir }) => {
            print!("{}", toml::to_string(&deploy::enroll(&topology, &keys_dir)?)?);
            Ok(())
        }
        Command::NatsConfig {
            topology,
            out,
            listen,
            cluster,
            route_listen,
            route_cert,
            route_key,
            route_ca,
            tls_cert,
            tls_key,
            tls_ca,
        } => {
            let text = std::fs::read_to_string(&topology).with_context(|| format!("reading {}", topology.display()))?;
            let topology = linkage_core::Topology::from_toml(&text)?;
            let tls = match (tls_cert, tls_key, tls_ca) {
                (Some(cert), Some(key), Some(client_ca)) => Some(linkage_pki::ServerFiles { cert, key, client_ca }),
                _ => None,
            };
            let (listen, route_listen) = match cluster {
                None => (listen, route_listen),
                Some(n) => (
                    deploy::consecutive("--listen", &listen, n)?,
                    deploy::consecutive("--route-listen", &route_listen, n)?,
                ),
            };
            let route_tls = match (route_cert, route_key, route_ca) {
                (Some(cert), Some(key), Some(client_ca)) => Some(linkage_pki::ServerFiles { cert, key, client_ca }),
                _ => None,
            };
            let routes = route_tls.as_ref().map(|tls| deploy::Routes { listens: &route_listen, tls });
            let paths = deploy::nats_cluster_config(&topology, &out, &listen, tls.as_ref(), routes)?;
            let urls = deploy::nats_urls(&listen, 0);
            std::fs::write(out.join("nats-urls"), format!("{urls}\n"))?;
            for path in &paths {
                println!("wrote {} with {} node users (NKeys)", path.display(), topology.len());
            }
            println!("nodes connect with nats_url = \"{urls}\" (also in {})", out.join("nats-urls").display());
            Ok(())
        }
        Command::Local(LocalCommand::Up { topology, workdir, bin_dir, nats_servers }) => {
            let bin_dir = match bin_dir {
                Some(dir) => dir,
                None => std::env::current_exe()?.parent().context("linkctl has no directory")?.to_owned(),
            };
            let file = deploy::local_up(&topology, &workdir, &bin_dir, usize::from(nats_servers)).await?;
            for broker in file.brokers() {
                println!("nats-server at {} (pid {})", broker.url.as_deref().unwrap_or("?"), broker.pid);
            }
            for (code, p) in &file.nodes {
                println!(
                    "{code} {} grpc {} metrics {} pid {}",
                    table::pad_right(p.name.as_deref().unwrap_or(""), 12),
                    p.grpc.as_deref().unwrap_or(""),
                    p.metrics.as_deref().unwrap_or(""),
                    p.pid
                );
            }
            println!("wrote {}", workdir.join("nodes.json").display());
            Ok(())
        }
        Command::Local(LocalCommand::Kill { workdir, code }) => deploy::local_kill(&workdir, &code),
        Command::Local(LocalCommand::Restart { workdir, code }) => deploy::local_restart(&workdir, &code).await,
        Command::Local(LocalCommand::Url { workdir, code }) => {
            println!("https://{}", deploy::local_node(&workdir, &code)?.grpc.unwrap_or_default());
            Ok(())
        }
        Command::Local(LocalCommand::Publish { workdir, topology }) => {
            let version = deploy::local_publish(&workdir, &topology)?;
            println!("published version {version} in {}; restart the nodes to load it", workdir.display());
            Ok(())
        }
        Command::Local(LocalCommand::Down { workdir }) => {
            deploy::local_down(&workdir)?;
            println!("stopped everything started in {}", workdir.display());
            Ok(())
        }
        Command::Replication => {
            let mut client = AdminServiceClient::new(client::connect(&cli.addr).await?);
            let r = client.replication(pb::ReplicationRequest {}).await.map_err(show::status_error)?.into_inner();
            show::print_replication(&r);
            Ok(())
        }
        Command::Forks => {
            let mut client = AdminServiceClient::new(client::connect(&cli.addr).await?);
            let r = client.list_forks(pb::ListForksRequest {}).await.map_err(show::status_error)?.into_inner();
            println!("{} forks", r.forks.len());
            for f in r.forks {
                println!(
                    "  {} {} seq {}: kept {} bytes, other {} bytes",
                    f.origin,
                    f.channel,
                    f.seq,
                    f.kept.len(),
                    f.other.len()
                );
            }
            Ok(())
        }
        Command::Alarms => {
            let mut client = AdminServiceClient::new(client::connect(&cli.addr).await?);
            let r = client.list_alarms(pb::ListAlarmsRequest {}).await.map_err(show::status_error)?.into_inner();
            println!("{} alarms", r.alarms.len());
            for a in r.alarms {
                println!("  {} {}: {} events", a.origin, a.rule, a.events);
                for e in a.examples {
                    println!("    {} {} seq {}", e.event_id, e.channel, e.seq);
                }
            }
            Ok(())
        }
        Command::Topology(TopologyCommand::Status { nodes, topology, json, timeout }) => {
            let (file, dir) = topostatus::read_nodes(&nodes)?;
            let topology = topostatus::read_topology(topology.as_deref(), &dir)?;
            let extra = file.nodes.iter().map(|(code, p)| (code.clone(), p.name.clone().unwrap_or_default())).collect();
            let tree = topostatus::tree(topology.as_ref(), &extra);
            // The flags' TLS, or the local runner's own CA beside nodes.json.
            let tls = match client::tls() {
                Some(tls) => Some(tls.clone()),
                None => linkage_testkit::pki::local_tls(&dir)?,
            };
            let probes = topostatus::probe_all(&file, tls, timeout.unwrap_or(topostatus::PROBE_TIMEOUT)).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&topostatus::to_json(topology.as_ref(), &tree, &probes))?);
            } else {
                print!("{}", topostatus::render(&tree, &probes));
            }
            Ok(())
        }
        Command::Planning { opts, command } => views::planning::planning(&cli.addr, opts, command).await,
        Command::Progress { opts, command } => views::progress::progress(&cli.addr, opts, command).await,
        Command::Exchange { opts, command } => views::exchange::exchange(&cli.addr, opts, command).await,
        Command::Results { opts, command } => views::results::results(&cli.addr, opts, command).await,
        Command::Members { opts, command } => views::members::members(&cli.addr, opts, command).await,
        Command::Proposals { opts, command } => views::proposals::proposals(&cli.addr, opts, command).await,
        Command::Evaluation { opts, command } => views::evaluation::evaluation(&cli.addr, opts, command).await,
        Command::Views { opts, command } => views::views(&cli.addr, opts, command).await,
        Command::Document { json, command } => document::run(&cli.addr, json, command).await,
        Command::Topology(TopologyCommand::FromCsv { csv, only, provinces, federations }) => {
            let select = from_csv::Select { only, provinces, federations };
            print!("{}", from_csv::topology_from_csv(&csv, &select)?);
            Ok(())
        }
        Command::Append { print_id, args } => {
            let request = args.to_request()?;
            let mut client = EventLogServiceClient::new(client::connect(&cli.addr).await?);
            let response = client.append(request).await.map_err(show::status_error)?.into_inner();
            if print_id {
                println!("{}", response.event.and_then(|e| e.event).map(|e| e.id).unwrap_or_default());
                return Ok(());
            }
            if let Some(stored) = response.event {
                show::print_events(&[stored]);
            }
            if response.deduplicated {
                println!("(already appended with this idempotency key: the first event is shown)");
            }
            Ok(())
        }
        Command::Get { id } => {
            let mut client = EventLogServiceClient::new(client::connect(&cli.addr).await?);
            let response = client.get(pb::GetRequest { id }).await.map_err(show::status_error)?.into_inner();
            if let Some(stored) = response.event {
                show::print_event_detail(&stored);
            }
            Ok(())
        }
        Command::Read { from_position, origin, channel, from_seq, limit } => {
            let mut client = EventLogServiceClient::new(client::connect(&cli.addr).await?);
            let range = match (origin, channel) {
                (Some(origin), Some(channel)) => {
                    pb::read_request::Range::Stream(pb::StreamRange { origin, channel, from_seq })
                }
                _ => pb::read_request::Range::FromPosition(from_position),
            };
            let mut events = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = pb::ReadRequest { range: Some(range.clone()), page_size: 0, page_token };
                let page = client.read(request).await.map_err(show::status_error)?.into_inner();
                events.extend(page.events);
                if page.next_page_token.is_empty() || events.len() >= limit {
                    break;
                }
                page_token = page.next_page_token;
            }
            events.truncate(limit);
            show::print_events(&events);
            Ok(())
        }
        Command::Status => {
            let mut client = AdminServiceClient::new(client::connect(&cli.addr).await?);
            let status = client.status(pb::StatusRequest {}).await.map_err(show::status_error)?.into_inner();
            show::print_status(&status);
            Ok(())
        }
    }
}

#[cfg(test)]
mod cli_tests;
#[cfg(test)]
mod topology_tests;
