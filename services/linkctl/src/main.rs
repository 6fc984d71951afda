//! `linkctl`: the command line for people who run or use linkage nodes.
//!
//! # Layout
//! - `topology from-csv`: builds a topology file from the GB/T 2260 list.
//! - `append …`: appends one domain event, one subcommand per event kind.
//! - `get`, `read`, `status`: read a node back.

mod append;
mod show;

use anyhow::Context;
use clap::{Parser, Subcommand};
use linkage_core::topology::{NodeEntry, TopologyFile};
use linkage_core::{pb, Level};
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use std::path::PathBuf;
use tonic::transport::Channel;

/// Talk to linkage nodes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The node's gRPC address, e.g. http://127.0.0.1:7700
    #[arg(long, global = true, env = "LINKCTL_ADDR", default_value = "http://127.0.0.1:7700")]
    addr: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Append one event on a channel (up, down, all, group:<id>, to:<code>).
    Append(append::AppendArgs),
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
    /// Topology files.
    #[command(subcommand)]
    Topology(TopologyCommand),
}

#[derive(Subcommand)]
enum TopologyCommand {
    /// Build a topology TOML from a CSV (code,name_zh,pinyin,level,parent_code).
    FromCsv {
        /// The CSV, e.g. deploy/topology/gansu_divisions.csv
        csv: PathBuf,
        /// Keep only these codes (comma-separated); all when absent.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
}

async fn connect(addr: &str) -> anyhow::Result<Channel> {
    tonic::transport::Endpoint::from_shared(addr.to_owned())
        .with_context(|| format!("--addr {addr} is not a URL like http://127.0.0.1:7700"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach a node at {addr}"))
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
    match cli.command {
        Command::Topology(TopologyCommand::FromCsv { csv, only }) => {
            print!("{}", topology_from_csv(&csv, &only)?);
            Ok(())
        }
        Command::Append(args) => {
            let request = args.to_request()?;
            let mut client = EventLogServiceClient::new(connect(&cli.addr).await?);
            let response = client.append(request).await.map_err(show::status_error)?.into_inner();
            if let Some(stored) = response.event {
                show::print_events(&[stored]);
            }
            if response.deduplicated {
                println!("(already appended with this idempotency key: the first event is shown)");
            }
            Ok(())
        }
        Command::Get { id } => {
            let mut client = EventLogServiceClient::new(connect(&cli.addr).await?);
            let response = client.get(pb::GetRequest { id }).await.map_err(show::status_error)?.into_inner();
            if let Some(stored) = response.event {
                show::print_event_detail(&stored);
            }
            Ok(())
        }
        Command::Read { from_position, origin, channel, from_seq, limit } => {
            let mut client = EventLogServiceClient::new(connect(&cli.addr).await?);
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
            let mut client = AdminServiceClient::new(connect(&cli.addr).await?);
            let status = client.status(pb::StatusRequest {}).await.map_err(show::status_error)?.into_inner();
            show::print_status(&status);
            Ok(())
        }
    }
}

/// Reads `code,name_zh,pinyin,level,parent_code` rows into a topology file.
fn topology_from_csv(path: &std::path::Path, only: &[String]) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut nodes = Vec::new();
    for (line_no, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, pinyin, level, parent] = cols[..] else {
            anyhow::bail!("{}:{}: expected 5 columns, found {}", path.display(), line_no + 1, cols.len());
        };
        if !only.is_empty() && !only.iter().any(|c| c == code) {
            continue;
        }
        let level = match level {
            "province" => Level::Province,
            "city" => Level::City,
            "county" => Level::County,
            other => {
                anyhow::bail!("{}:{}: level {other:?} is not province, city or county", path.display(), line_no + 1)
            }
        };
        nodes.push(NodeEntry {
            code: code.into(),
            name: name.into(),
            pinyin: pinyin.into(),
            level,
            parent: (!parent.is_empty()).then(|| parent.into()),
            public_key: None,
        });
    }
    let file = TopologyFile { nodes };
    // Refuse to print a topology that nodes would refuse to load.
    linkage_core::Topology::from_file(file.clone())?;
    let body = toml::to_string(&file)?;
    let file_name = path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
    let only = if only.is_empty() { String::new() } else { format!(" --only {}", only.join(",")) };
    Ok(format!(
        "# Generated by `linkctl topology from-csv {file_name}{only}`; do not edit by hand.\n# Each node: GB/T 2260 code, name, level, parent; public_key once enrolled.\n\n{body}"
    ))
}
