//! `linkctl planning|progress|exchange|results|views`: the four shared views
//! a node serves (沟通、联通、畅通、互通), as tables or as proto3 JSON.

//!
//! # Layout
//! - this file: what every view command shares (options, paging, the
//!   connection, printing, watching) and `linkctl views`.
//! - [`planning`], [`progress`], [`exchange`], [`results`]: one flow's
//!   commands each.

pub mod evaluation;
pub mod exchange;
pub mod members;
pub mod planning;
pub mod progress;
pub mod proposals;
pub mod results;

use crate::labels::{Category, LevelArg, Names};
use crate::{json, render, show};
use anyhow::Context;
use clap::{Args, Subcommand};
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use std::future::Future;
use std::path::PathBuf;
use tonic::transport::Channel;

/// Options of every view command.
#[derive(Args, Clone, Debug)]
pub struct ViewOpts {
    /// Print one JSON document (the response in the proto3 JSON mapping) instead of tables
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// Topology file to show node names (e.g. deploy/topology/demo.toml); without it only the node's own name is known
    #[arg(long, global = true, env = "LINKCTL_TOPOLOGY", value_name = "FILE", help_heading = "Output")]
    pub topology: Option<PathBuf>,
}

/// Paging of a listing: every page unless told otherwise.
#[derive(Args, Clone, Debug, Default)]
pub struct Paging {
    /// Records per request (the node allows at most 500); alone, fetch only this one page
    #[arg(long, help_heading = "Paging")]
    page_size: Option<i32>,
    /// Continue from this token (the `more: --page-token …` of an earlier listing)
    #[arg(long, help_heading = "Paging")]
    page_token: Option<String>,
    /// Stop after this many records (following pages until then)
    #[arg(long, help_heading = "Paging")]
    limit: Option<usize>,
}

/// The largest page a node serves.
const MAX_PAGE: usize = 500;

impl Paging {
    /// Every record the paging asks for, and the token of the next page
    /// (empty when there is none). `fetch(page_size, page_token)` gets one page.
    pub async fn collect<T, F, Fut>(&self, mut fetch: F) -> anyhow::Result<(Vec<T>, String)>
    where
        F: FnMut(i32, String) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
    {
        if let Some(size) = self.page_size {
            anyhow::ensure!(size > 0, "--page-size must be at least 1");
        }
        let one_page = self.page_size.is_some() && self.limit.is_none();
        let per_request = self.page_size.map(|s| s as usize).unwrap_or(MAX_PAGE);
        let mut token = self.page_token.clone().unwrap_or_default();
        let mut all = Vec::new();
        loop {
            // Never ask for more than the limit leaves, so that the next
            // token resumes exactly after the last record shown.
            let size = match self.limit {
                Some(limit) => per_request.min(limit - all.len()),
                None => per_request,
            };
            if size == 0 {
                return Ok((all, token));
            }
            let (items, next) = fetch(size as i32, token.clone()).await.map_err(show::status_error)?;
            all.extend(items);
            if one_page || next.is_empty() {
                return Ok((all, next));
            }
            anyhow::ensure!(next != token, "the node returned the same page token twice");
            token = next;
        }
    }
}

/// The view store itself.
#[derive(Subcommand, Debug)]
pub enum ViewsCommand {
    /// Rebuild the four views from the log (appends and replication wait meanwhile).
    Rebuild,
}

/// What a view command needs: a connection, how to print, node names.
struct Ctx {
    channel: Channel,
    opts: ViewOpts,
}

impl Ctx {
    async fn new(addr: &str, opts: ViewOpts) -> anyhow::Result<Ctx> {
        Ok(Ctx { channel: crate::client::connect(addr).await?, opts })
    }

    /// Node names: the topology file's, else the node's own name.
    async fn names(&self) -> anyhow::Result<Names> {
        if let Some(path) = &self.opts.topology {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let topology = linkage_core::Topology::from_toml(&text).with_context(|| format!("{}", path.display()))?;
            return Ok(Names::from_topology(&topology));
        }
        // Names are a nicety: a node that cannot say its own still answers the query.
        Ok(match AdminServiceClient::new(self.channel.clone()).status(pb::StatusRequest {}).await {
            Ok(s) => {
                let s = s.into_inner();
                Names::one(&s.node, &s.name)
            }
            Err(_) => Names::default(),
        })
    }

    /// Prints `message` as JSON, or the text `table` makes with the node names.
    async fn print<M: prost::Message>(
        &self,
        message: &M,
        full_name: &str,
        table: impl FnOnce(&M, &Names) -> String,
    ) -> anyhow::Result<()> {
        if self.opts.json {
            return json::print(message, full_name);
        }
        let names = self.names().await?;
        print!("{}", table(message, &names));
        Ok(())
    }
}

fn nonzero<T: Default + PartialEq>(value: Option<T>) -> T {
    value.unwrap_or_default()
}

fn category(c: Option<Category>) -> i32 {
    c.map_or(0, |c| c.to_pb() as i32)
}

fn level(l: Option<LevelArg>) -> i32 {
    l.map_or(0, |l| l.to_pb() as i32)
}

/// Prints a watch stream until it ends.
async fn watch<R: prost::Message>(
    json: bool,
    full_name: &str,
    mut stream: tonic::Streaming<R>,
    change: impl Fn(&R) -> Option<&pb::ViewChange>,
) -> anyhow::Result<()> {
    while let Some(message) = stream.message().await.map_err(show::status_error)? {
        if json {
            json::print_line(&message, full_name)?;
        } else if let Some(c) = change(&message) {
            println!("{}", render::change(c));
        }
    }
    Ok(())
}

/// `linkctl views …`.
pub async fn views(addr: &str, opts: ViewOpts, command: ViewsCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    match command {
        ViewsCommand::Rebuild => {
            let response = AdminServiceClient::new(ctx.channel.clone())
                .rebuild_views(pb::RebuildViewsRequest {})
                .await
                .map_err(show::status_error)?
                .into_inner();
            if ctx.opts.json {
                return json::print(&response, "linkage.v1.RebuildViewsResponse");
            }
            println!(
                "rebuilt the views: {} events read, {} records written in {:.2} s",
                response.events, response.records, response.seconds
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake node: `total` records served `page` (or the asked size) at a time.
    async fn run(paging: Paging, total: usize) -> (Vec<usize>, String, Vec<(i32, String)>) {
        let asked = std::sync::Mutex::new(Vec::new());
        let (items, next) = paging
            .collect(|size, token| {
                asked.lock().unwrap().push((size, token.clone()));
                let start: usize = if token.is_empty() { 0 } else { token.parse().unwrap() };
                let end = (start + size as usize).min(total);
                let next = if end < total { end.to_string() } else { String::new() };
                async move { Ok(((start..end).collect(), next)) }
            })
            .await
            .unwrap();
        (items, next, asked.into_inner().unwrap())
    }

    #[tokio::test]
    async fn paging_follows_tokens_to_the_end() {
        let (items, next, asked) = run(Paging::default(), 1200).await;
        assert_eq!(items.len(), 1200);
        assert_eq!(next, "");
        assert_eq!(asked.len(), 3, "pages of 500");
    }

    #[tokio::test]
    async fn a_page_size_alone_fetches_one_page() {
        let (items, next, _) = run(Paging { page_size: Some(10), ..Default::default() }, 25).await;
        assert_eq!(items, (0..10).collect::<Vec<_>>());
        assert_eq!(next, "10");
        let (items, next, _) =
            run(Paging { page_size: Some(10), page_token: Some("20".into()), ..Default::default() }, 25).await;
        assert_eq!(items, (20..25).collect::<Vec<_>>());
        assert_eq!(next, "");
    }

    #[tokio::test]
    async fn a_limit_stops_exactly_there() {
        let (items, next, asked) =
            run(Paging { page_size: Some(10), limit: Some(25), ..Default::default() }, 100).await;
        assert_eq!(items, (0..25).collect::<Vec<_>>());
        assert_eq!(next, "25", "the next page starts after the last record shown");
        assert_eq!(asked.iter().map(|a| a.0).collect::<Vec<_>>(), [10, 10, 5]);
        let (items, next, _) = run(Paging { limit: Some(7), ..Default::default() }, 5).await;
        assert_eq!(items.len(), 5);
        assert_eq!(next, "");
    }

    /// Every message name the view commands print as JSON exists in the
    /// descriptor set.
    #[test]
    fn json_names_exist() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("planning.rs"),
            include_str!("progress.rs"),
            include_str!("exchange.rs"),
            include_str!("results.rs"),
        ];
        let quote = '"';
        let prefix = format!("{quote}linkage.v1.");
        let names: Vec<&str> = sources
            .iter()
            .flat_map(|source| source.match_indices(&prefix).map(move |(at, _)| &source[at + 1..]))
            .map(|s| &s[..s.find(quote).unwrap()])
            .collect();
        assert!(names.len() >= 19, "{names:?}");
        for name in names {
            assert!(json::pool().get_message_by_name(name).is_some(), "{name}");
        }
    }
}
