//! `linkctl planning|progress|exchange|results|views`: the four shared views
//! a node serves (沟通、联通、畅通、互通), as tables or as proto3 JSON.

use crate::labels::{parse_time, Category, InfoStatusArg, LevelArg, Names, TopicStatusArg};
use crate::{json, render, show};
use anyhow::Context;
use clap::{Args, Subcommand};
use linkage_core::pb;
use linkage_proto::v1::admin_service_client::AdminServiceClient;
use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
use linkage_proto::v1::planning_service_client::PlanningServiceClient;
use linkage_proto::v1::progress_service_client::ProgressServiceClient;
use linkage_proto::v1::results_service_client::ResultsServiceClient;
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

/// 沟通: topics and plans.
#[derive(Subcommand, Debug)]
pub enum PlanningCommand {
    /// Topics (选题) held by the node, filtered; unset filters match everything.
    Topics {
        /// Plan year
        #[arg(long)]
        year: Option<u32>,
        /// Level of the proposing committee
        #[arg(long, value_enum)]
        level: Option<LevelArg>,
        /// Kind of work
        #[arg(long, value_enum)]
        category: Option<Category>,
        /// Planning status
        #[arg(long, value_enum)]
        status: Option<TopicStatusArg>,
        /// Node code of the proposing committee
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// One topic with its comments (意见), participants, linked topics and plans.
    Topic {
        /// Event id of the topic-proposed event
        id: String,
    },
    /// Similar topics of different levels, same year and category, not linked yet: candidates for 联动.
    Overlaps {
        /// Plan year
        #[arg(long)]
        year: Option<u32>,
        /// Kind of work
        #[arg(long, value_enum)]
        category: Option<Category>,
        /// Title similarity 0..1 (character bigrams); the node's default is 0.3
        #[arg(long)]
        min_similarity: Option<f64>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Other committees' topics, not yet in a plan, this node has neither commented on nor answered (待回应).
    Awaiting {
        #[command(flatten)]
        paging: Paging,
    },
    /// Follow changes to topics: history after --from-position, then live (one line, or JSON line, each).
    Watch {
        /// Local position to start after; 0 from the beginning
        #[arg(long, default_value_t = 0)]
        from_position: u64,
    },
}

/// 联通: joint groups, their sub-topics and progress.
#[derive(Subcommand, Debug)]
pub enum ProgressCommand {
    /// Joint groups (联动调研组) held by the node.
    Groups {
        /// Only groups this node code currently belongs to (or leads)
        #[arg(long)]
        member: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// One group: members, sub-topics (子课题) with assignee/due/percent, sub-reports, milestones, reports, visits.
    Group {
        /// Group id
        group_id: String,
    },
    /// Sub-topics past their due date without a sub-report (逾期).
    Overdue {
        /// Judge by this moment (RFC 3339); now when absent
        #[arg(long)]
        as_of: Option<String>,
        /// Only tasks assigned to this node code
        #[arg(long)]
        assignee: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Follow changes to groups: history after --from-position, then live.
    Watch {
        /// Local position to start after; 0 from the beginning
        #[arg(long, default_value_t = 0)]
        from_position: u64,
    },
}

/// 畅通: 社情民意 items and notices.
#[derive(Subcommand, Debug)]
pub enum ExchangeCommand {
    /// 社情民意 items held by the node, filtered.
    Items {
        /// Where the item is (status only moves forward)
        #[arg(long, value_enum)]
        status: Option<InfoStatusArg>,
        /// Node code of the submitting committee
        #[arg(long)]
        origin: Option<String>,
        /// Level of the submitting committee
        #[arg(long, value_enum)]
        level: Option<LevelArg>,
        #[command(flatten)]
        paging: Paging,
    },
    /// One 社情民意 item with its trail (流转) and score.
    Item {
        /// Event id of the info-reported event
        id: String,
    },
    /// Counts and scores (计分) per submitting committee over a period.
    Stats {
        /// Items reported at or after this moment (RFC 3339)
        #[arg(long)]
        start: Option<String>,
        /// Items reported before this moment (RFC 3339)
        #[arg(long)]
        end: Option<String>,
        /// Only this node code
        #[arg(long)]
        node: Option<String>,
    },
    /// Notices (上情下达) held by the node.
    Notices {
        /// Node code of the issuing committee
        #[arg(long)]
        origin: Option<String>,
        /// Only notices that ask for acknowledgement and still miss some (未签收)
        #[arg(long)]
        unacknowledged_only: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// One notice: who acknowledged (已签收) and who has not (未签收).
    Notice {
        /// Event id of the notice-issued event
        id: String,
    },
    /// Follow changes to items and notices: history after --from-position, then live.
    Watch {
        /// Local position to start after; 0 from the beginning
        #[arg(long, default_value_t = 0)]
        from_position: u64,
    },
}

/// 互通: results and their use.
#[derive(Subcommand, Debug)]
pub enum ResultsCommand {
    /// Completed studies (调研成果) held by the node, filtered.
    List {
        /// Matched against title and summary, case-insensitively
        #[arg(long)]
        keyword: Option<String>,
        /// Kind of work
        #[arg(long, value_enum)]
        category: Option<Category>,
        /// Year
        #[arg(long)]
        year: Option<u32>,
        /// Level of the committee that completed it
        #[arg(long, value_enum)]
        level: Option<LevelArg>,
        #[command(flatten)]
        paging: Paging,
    },
    /// One result: shares (共享), adoptions (转化运用) and feedback (跟踪反馈).
    Show {
        /// Event id of the research-completed event
        id: String,
    },
    /// Follow changes to results: history after --from-position, then live.
    Watch {
        /// Local position to start after; 0 from the beginning
        #[arg(long, default_value_t = 0)]
        from_position: u64,
    },
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
        Ok(Ctx { channel: crate::connect(addr).await?, opts })
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

/// `linkctl planning …`.
pub async fn planning(addr: &str, opts: ViewOpts, command: PlanningCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = PlanningServiceClient::new(ctx.channel.clone());
    match command {
        PlanningCommand::Topics { year, level: lvl, category: cat, status, origin, paging } => {
            let (topics, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListTopicsRequest {
                        year: nonzero(year),
                        level: level(lvl),
                        category: category(cat),
                        status: status.map_or(0, |s| s.to_pb() as i32),
                        origin: nonzero(origin.clone()),
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_topics(request).await?.into_inner();
                        Ok((r.topics, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListTopicsResponse { topics, next_page_token };
            ctx.print(&response, "linkage.v1.ListTopicsResponse", |r, names| {
                render::topics(&r.topics, names)
                    + &render::footer(r.topics.len(), "topic", "topics", &r.next_page_token)
            })
            .await
        }
        PlanningCommand::Topic { id } => {
            let response = client.clone().get_topic(pb::GetTopicRequest { id }).await.map_err(show::status_error)?;
            let response = response.into_inner();
            if ctx.opts.json {
                return json::print(&response, "linkage.v1.GetTopicResponse");
            }
            let topic = response.topic.unwrap_or_default();
            // The linked topics' titles, as far as this node holds them.
            let mut linked = Vec::new();
            for id in &topic.linked_topic_ids {
                if let Ok(r) = client.clone().get_topic(pb::GetTopicRequest { id: id.clone() }).await {
                    linked.extend(r.into_inner().topic);
                }
            }
            let names = ctx.names().await?;
            print!("{}", render::topic(&topic, &linked, &names));
            Ok(())
        }
        PlanningCommand::Overlaps { year, category: cat, min_similarity, paging } => {
            let (overlaps, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListOverlappingTopicsRequest {
                        year: nonzero(year),
                        category: category(cat),
                        min_similarity: nonzero(min_similarity),
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_overlapping_topics(request).await?.into_inner();
                        Ok((r.overlaps, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListOverlappingTopicsResponse { overlaps, next_page_token };
            ctx.print(&response, "linkage.v1.ListOverlappingTopicsResponse", |r, names| {
                render::overlaps(&r.overlaps, names)
                    + &render::footer(r.overlaps.len(), "candidate pair", "candidate pairs", &r.next_page_token)
            })
            .await
        }
        PlanningCommand::Awaiting { paging } => {
            let (topics, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListTopicsAwaitingFeedbackRequest { page_size, page_token };
                    async move {
                        let r = client.list_topics_awaiting_feedback(request).await?.into_inner();
                        Ok((r.topics, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListTopicsAwaitingFeedbackResponse { topics, next_page_token };
            ctx.print(&response, "linkage.v1.ListTopicsAwaitingFeedbackResponse", |r, names| {
                render::topics(&r.topics, names)
                    + &render::footer(
                        r.topics.len(),
                        "topic awaits this node's word",
                        "topics await this node's word",
                        &r.next_page_token,
                    )
            })
            .await
        }
        PlanningCommand::Watch { from_position } => {
            let stream = client
                .clone()
                .watch_topics(pb::WatchTopicsRequest { from_position })
                .await
                .map_err(show::status_error)?
                .into_inner();
            watch(ctx.opts.json, "linkage.v1.WatchTopicsResponse", stream, |r| r.change.as_ref()).await
        }
    }
}

/// `linkctl progress …`.
pub async fn progress(addr: &str, opts: ViewOpts, command: ProgressCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = ProgressServiceClient::new(ctx.channel.clone());
    match command {
        ProgressCommand::Groups { member, paging } => {
            let (groups, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListGroupsRequest { member: nonzero(member.clone()), page_size, page_token };
                    async move {
                        let r = client.list_groups(request).await?.into_inner();
                        Ok((r.groups, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListGroupsResponse { groups, next_page_token };
            ctx.print(&response, "linkage.v1.ListGroupsResponse", |r, names| {
                render::groups(&r.groups, names)
                    + &render::footer(r.groups.len(), "group", "groups", &r.next_page_token)
            })
            .await
        }
        ProgressCommand::Group { group_id } => {
            let response =
                client.clone().get_group(pb::GetGroupRequest { group_id }).await.map_err(show::status_error)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            ctx.print(&response.into_inner(), "linkage.v1.GetGroupResponse", |r, names| {
                render::group(&r.group.clone().unwrap_or_default(), names, now)
            })
            .await
        }
        ProgressCommand::Overdue { as_of, assignee, paging } => {
            let as_of = as_of.as_deref().map(|t| parse_time("--as-of", t)).transpose()?;
            let (tasks, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListOverdueTasksRequest {
                        as_of,
                        assignee: nonzero(assignee.clone()),
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_overdue_tasks(request).await?.into_inner();
                        Ok((r.tasks, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListOverdueTasksResponse { tasks, next_page_token };
            ctx.print(&response, "linkage.v1.ListOverdueTasksResponse", |r, names| {
                render::overdue(&r.tasks, names)
                    + &render::footer(r.tasks.len(), "overdue task", "overdue tasks", &r.next_page_token)
            })
            .await
        }
        ProgressCommand::Watch { from_position } => {
            let stream = client
                .clone()
                .watch_groups(pb::WatchGroupsRequest { from_position })
                .await
                .map_err(show::status_error)?
                .into_inner();
            watch(ctx.opts.json, "linkage.v1.WatchGroupsResponse", stream, |r| r.change.as_ref()).await
        }
    }
}

/// `linkctl exchange …`.
pub async fn exchange(addr: &str, opts: ViewOpts, command: ExchangeCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = ExchangeServiceClient::new(ctx.channel.clone());
    match command {
        ExchangeCommand::Items { status, origin, level: lvl, paging } => {
            let (items, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListInfoItemsRequest {
                        status: status.map_or(0, |s| s.to_pb() as i32),
                        origin: nonzero(origin.clone()),
                        level: level(lvl),
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_info_items(request).await?.into_inner();
                        Ok((r.items, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListInfoItemsResponse { items, next_page_token };
            ctx.print(&response, "linkage.v1.ListInfoItemsResponse", |r, names| {
                render::info_items(&r.items, names)
                    + &render::footer(r.items.len(), "item", "items", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::Item { id } => {
            let response =
                client.clone().get_info_item(pb::GetInfoItemRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetInfoItemResponse", |r, names| {
                render::info_item(&r.item.clone().unwrap_or_default(), r.score, names)
            })
            .await
        }
        ExchangeCommand::Stats { start, end, node } => {
            let request = pb::GetInfoStatisticsRequest {
                start: start.as_deref().map(|t| parse_time("--start", t)).transpose()?,
                end: end.as_deref().map(|t| parse_time("--end", t)).transpose()?,
                node: nonzero(node),
            };
            let response = client.clone().get_info_statistics(request).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetInfoStatisticsResponse", render::statistics).await
        }
        ExchangeCommand::Notices { origin, unacknowledged_only, paging } => {
            let (notices, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListNoticesRequest {
                        origin: nonzero(origin.clone()),
                        unacknowledged_only,
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_notices(request).await?.into_inner();
                        Ok((r.notices, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListNoticesResponse { notices, next_page_token };
            ctx.print(&response, "linkage.v1.ListNoticesResponse", |r, names| {
                render::notices(&r.notices, names)
                    + &render::footer(r.notices.len(), "notice", "notices", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::Notice { id } => {
            let response = client.clone().get_notice(pb::GetNoticeRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetNoticeResponse", |r, names| {
                render::notice(&r.notice.clone().unwrap_or_default(), names)
            })
            .await
        }
        ExchangeCommand::Watch { from_position } => {
            let stream = client
                .clone()
                .watch_exchange(pb::WatchExchangeRequest { from_position })
                .await
                .map_err(show::status_error)?
                .into_inner();
            watch(ctx.opts.json, "linkage.v1.WatchExchangeResponse", stream, |r| r.change.as_ref()).await
        }
    }
}

/// `linkctl results …`.
pub async fn results(addr: &str, opts: ViewOpts, command: ResultsCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = ResultsServiceClient::new(ctx.channel.clone());
    match command {
        ResultsCommand::List { keyword, category: cat, year, level: lvl, paging } => {
            let (results, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListResultsRequest {
                        keyword: nonzero(keyword.clone()),
                        category: category(cat),
                        year: nonzero(year),
                        level: level(lvl),
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_results(request).await?.into_inner();
                        Ok((r.results, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListResultsResponse { results, next_page_token };
            ctx.print(&response, "linkage.v1.ListResultsResponse", |r, names| {
                render::results(&r.results, names)
                    + &render::footer(r.results.len(), "result", "results", &r.next_page_token)
            })
            .await
        }
        ResultsCommand::Show { id } => {
            let response = client.clone().get_result(pb::GetResultRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetResultResponse", |r, names| {
                render::result(&r.result.clone().unwrap_or_default(), names)
            })
            .await
        }
        ResultsCommand::Watch { from_position } => {
            let stream = client
                .clone()
                .watch_results(pb::WatchResultsRequest { from_position })
                .await
                .map_err(show::status_error)?
                .into_inner();
            watch(ctx.opts.json, "linkage.v1.WatchResultsResponse", stream, |r| r.change.as_ref()).await
        }
    }
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

    /// Every message name this file prints as JSON exists in the descriptor set.
    #[test]
    fn json_names_exist() {
        let source = include_str!("views.rs");
        let quote = '"';
        let prefix = format!("{quote}linkage.v1.");
        let names: Vec<&str> = source
            .match_indices(&prefix)
            .map(|(at, _)| &source[at + 1..])
            .map(|s| &s[..s.find(quote).unwrap()])
            .collect();
        assert!(names.len() >= 19, "{names:?}");
        for name in names {
            assert!(json::pool().get_message_by_name(name).is_some(), "{name}");
        }
    }
}
