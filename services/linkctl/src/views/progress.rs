//! `linkctl progress …` (联通): joint groups, their sub-topics and progress.

use super::{nonzero, watch, Ctx, Paging, ViewOpts};
use crate::labels::parse_time;
use crate::{render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::progress_service_client::ProgressServiceClient;

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
                render::progress::groups(&r.groups, names)
                    + &render::footer(r.groups.len(), "group", "groups", &r.next_page_token)
            })
            .await
        }
        ProgressCommand::Group { group_id } => {
            let response =
                client.clone().get_group(pb::GetGroupRequest { group_id }).await.map_err(show::status_error)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            ctx.print(&response.into_inner(), "linkage.v1.GetGroupResponse", |r, names| {
                render::progress::group(&r.group.clone().unwrap_or_default(), names, now)
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
                render::progress::overdue(&r.tasks, names)
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
