//! `linkctl proposals …` (提案): a listing, one proposal, counts.

use super::{nonzero, Ctx, Paging, ViewOpts};
use crate::{render, show};
use clap::{Subcommand, ValueEnum};
use linkage_core::pb;
use linkage_proto::v1::proposal_service_client::ProposalServiceClient;

/// What statistics are counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// The handling committee
    Committee,
    /// The lead unit
    Unit,
}

/// 提案: proposals across levels.
#[derive(Subcommand, Debug)]
pub enum ProposalsCommand {
    /// Proposals held by the node; the handling filters match one level's row.
    List {
        /// The proposal's year
        #[arg(long, default_value_t = 0)]
        year: u32,
        /// Node code of a handling committee
        #[arg(long)]
        handler: Option<String>,
        /// A lead or co-handling unit
        #[arg(long)]
        unit: Option<String>,
        /// Assigned, not answered, past the deadline
        #[arg(long)]
        overdue: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// One proposal: each level's handling and the whole trail.
    Show {
        /// Event id of the proposal
        id: String,
    },
    /// Counts per handling committee or per lead unit: filed, answered on time, satisfaction.
    Stats {
        /// The proposals' year (all when absent)
        #[arg(long, default_value_t = 0)]
        year: u32,
        /// Count by committee or by unit
        #[arg(long, value_enum, default_value = "committee")]
        by: By,
    },
}

/// `linkctl proposals …`.
pub async fn proposals(addr: &str, opts: ViewOpts, command: ProposalsCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = ProposalServiceClient::new(ctx.channel.clone());
    match command {
        ProposalsCommand::List { year, handler, unit, overdue, paging } => {
            let (proposals, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListProposalsRequest {
                        year,
                        handler: nonzero(handler.clone()),
                        unit: nonzero(unit.clone()),
                        overdue,
                        page_size,
                        page_token,
                        ..Default::default()
                    };
                    async move {
                        let r = client.list_proposals(request).await?.into_inner();
                        Ok((r.proposals, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListProposalsResponse { proposals, next_page_token };
            ctx.print(&response, "linkage.v1.ListProposalsResponse", |r, names| {
                render::proposals::proposals(&r.proposals, names)
                    + &render::footer(r.proposals.len(), "proposal", "proposals", &r.next_page_token)
            })
            .await
        }
        ProposalsCommand::Show { id } => {
            let response =
                client.clone().get_proposal(pb::GetProposalRequest { id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetProposalResponse", |r, names| {
                render::proposals::proposal(&r.proposal.clone().unwrap_or_default(), &r.objection_until_ms, names)
            })
            .await
        }
        ProposalsCommand::Stats { year, by } => {
            let by = match by {
                By::Committee => pb::ProposalGrouping::Committee,
                By::Unit => pb::ProposalGrouping::Unit,
            };
            let request = pb::ProposalStatisticsRequest { year, by: by as i32 };
            let response = client.clone().proposal_statistics(request).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.ProposalStatisticsResponse", |r, names| {
                render::proposals::statistics(&r.rows, names)
            })
            .await
        }
    }
}
