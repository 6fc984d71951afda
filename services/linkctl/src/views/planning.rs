//! `linkctl planning …` (沟通): topics and plans.

use super::{category, level, nonzero, watch, Ctx, Paging, ViewOpts};
use crate::labels::{Category, LevelArg, TopicStatusArg};
use crate::{json, render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::planning_service_client::PlanningServiceClient;

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
    /// Similar topics of two committees, same year and category, not linked yet: candidates for 联动.
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
                render::planning::topics(&r.topics, names)
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
            print!("{}", render::planning::topic(&topic, &linked, &names));
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
                render::planning::overlaps(&r.overlaps, names)
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
                render::planning::topics(&r.topics, names)
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
