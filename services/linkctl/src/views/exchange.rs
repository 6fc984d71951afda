//! `linkctl exchange …` (畅通): 社情民意 items and notices.

use super::{level, nonzero, watch, Ctx, Paging, ViewOpts};
use crate::labels::{parse_time, InfoStatusArg, LevelArg};
use crate::{render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;

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
    /// Committees ranked (排名) by the province's score rules over a period,
    /// by the date of each adoption and 批示.
    Ranking {
        /// At or after this moment (RFC 3339)
        #[arg(long)]
        start: Option<String>,
        /// Before this moment (RFC 3339)
        #[arg(long)]
        end: Option<String>,
        /// Only committees of this level
        #[arg(long, value_enum)]
        level: Option<LevelArg>,
        #[command(flatten)]
        paging: Paging,
    },
    /// The province's score rules (计分办法) held by the node.
    ScoreRules {
        #[command(flatten)]
        paging: Paging,
    },
    /// Notices (上情下达) held by the node.
    Notices {
        /// Node code of the issuing committee
        #[arg(long)]
        origin: Option<String>,
        /// Only notices that ask for acknowledgement and still miss some (未签收)
        #[arg(long)]
        unacknowledged_only: bool,
        /// Only notices past their due date with a recipient that returned nothing (逾期)
        #[arg(long)]
        overdue_only: bool,
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
                render::exchange::info_items(&r.items, names)
                    + &render::footer(r.items.len(), "item", "items", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::Item { id } => {
            let response =
                client.clone().get_info_item(pb::GetInfoItemRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetInfoItemResponse", |r, names| {
                render::exchange::info_item(&r.item.clone().unwrap_or_default(), r.score, names)
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
            ctx.print(&response.into_inner(), "linkage.v1.GetInfoStatisticsResponse", render::exchange::statistics)
                .await
        }
        ExchangeCommand::Ranking { start, end, level: lvl, paging } => {
            let start = start.as_deref().map(|t| parse_time("--start", t)).transpose()?;
            let end = end.as_deref().map(|t| parse_time("--end", t)).transpose()?;
            let rules = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let (rows, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let (mut client, rules) = (client.clone(), rules.clone());
                    let request = pb::GetInfoRankingRequest { start, end, level: level(lvl), page_size, page_token };
                    async move {
                        let r = client.get_info_ranking(request).await?.into_inner();
                        *rules.lock().expect("not poisoned") = r.rules;
                        Ok((r.rows, r.next_page_token))
                    }
                })
                .await?;
            let rules = std::mem::take(&mut *rules.lock().expect("not poisoned"));
            let response = pb::GetInfoRankingResponse { rows, next_page_token, rules };
            ctx.print(&response, "linkage.v1.GetInfoRankingResponse", |r, names| {
                render::exchange::ranking(r, names)
                    + &render::footer(r.rows.len(), "committee", "committees", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::ScoreRules { paging } => {
            let (rules, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListScoreRulesRequest { page_size, page_token };
                    async move {
                        let r = client.list_score_rules(request).await?.into_inner();
                        Ok((r.rules, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListScoreRulesResponse { rules, next_page_token };
            ctx.print(&response, "linkage.v1.ListScoreRulesResponse", |r, names| {
                render::exchange::score_rules(&r.rules, names)
                    + &render::footer(r.rules.len(), "rule", "rules", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::Notices { origin, unacknowledged_only, overdue_only, paging } => {
            let (notices, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListNoticesRequest {
                        origin: nonzero(origin.clone()),
                        unacknowledged_only,
                        overdue_only,
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
                render::exchange::notices(&r.notices, names)
                    + &render::footer(r.notices.len(), "notice", "notices", &r.next_page_token)
            })
            .await
        }
        ExchangeCommand::Notice { id } => {
            let response = client.clone().get_notice(pb::GetNoticeRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetNoticeResponse", |r, names| {
                render::exchange::notice(&r.notice.clone().unwrap_or_default(), names)
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
