//! `linkctl results …` (互通): results and their use.

use super::{category, level, nonzero, watch, Ctx, Paging, ViewOpts};
use crate::labels::{Category, LevelArg};
use crate::{render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::results_service_client::ResultsServiceClient;

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
                render::results::results(&r.results, names)
                    + &render::footer(r.results.len(), "result", "results", &r.next_page_token)
            })
            .await
        }
        ResultsCommand::Show { id } => {
            let response = client.clone().get_result(pb::GetResultRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetResultResponse", |r, names| {
                render::results::result(&r.result.clone().unwrap_or_default(), names)
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
