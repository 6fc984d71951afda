//! `linkctl evaluation …` (评价): one piece of work evaluated, or every one
//! of a kind.

use super::{nonzero, Ctx, Paging, ViewOpts};
use crate::append::Subject;
use crate::labels::parse_time;
use crate::{render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::evaluation_service_client::EvaluationServiceClient;

/// 评价: work evaluated by the province's indicator sets.
#[derive(Subcommand, Debug)]
pub enum EvaluationCommand {
    /// One proposal, 社情民意 item or result: each indicator, its points and what they rest on.
    Show {
        /// Event id of the work
        id: String,
        /// What was known by then (RFC 3339) [default: now]
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Every piece of work of a kind, evaluated.
    List {
        /// The kind of work
        #[arg(long, value_enum)]
        subject: Subject,
        /// Node code of the committee whose work it is
        #[arg(long)]
        committee: Option<String>,
        /// The year in China it was submitted
        #[arg(long, default_value_t = 0)]
        year: u32,
        /// What was known by then (RFC 3339) [default: now]
        #[arg(long)]
        as_of: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

/// `linkctl evaluation …`.
pub async fn evaluation(addr: &str, opts: ViewOpts, command: EvaluationCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = EvaluationServiceClient::new(ctx.channel.clone());
    let as_of = |t: &Option<String>| t.as_deref().map(|t| parse_time("--as-of", t)).transpose();
    match command {
        EvaluationCommand::Show { id, as_of: at } => {
            let request = pb::EvaluateRequest { subject_id: id, as_of: as_of(&at)? };
            let response = client.clone().evaluate(request).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.EvaluateResponse", |r, names| {
                render::evaluation::evaluation(&r.evaluation.clone().unwrap_or_default(), names)
            })
            .await
        }
        EvaluationCommand::List { subject, committee, year, as_of: at, paging } => {
            // One moment for every page.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            let at = as_of(&at)?.or(Some(prost_types::Timestamp { seconds: now, nanos: 0 }));
            let (evaluations, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListEvaluationsRequest {
                        subject: subject.to_pb() as i32,
                        committee: nonzero(committee.clone()),
                        year,
                        as_of: at,
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_evaluations(request).await?.into_inner();
                        Ok((r.evaluations, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListEvaluationsResponse { evaluations, next_page_token };
            ctx.print(&response, "linkage.v1.ListEvaluationsResponse", |r, names| {
                render::evaluation::evaluations(&r.evaluations, names)
                    + &render::footer(r.evaluations.len(), "evaluation", "evaluations", &r.next_page_token)
            })
            .await
        }
    }
}
