//! `linkctl members …` (委员): the register, one member, a year's activity.

use super::{nonzero, Ctx, Paging, ViewOpts};
use crate::{render, show};
use clap::Subcommand;
use linkage_core::pb;
use linkage_proto::v1::member_service_client::MemberServiceClient;

/// 委员: each committee's register of its members and their activity.
#[derive(Subcommand, Debug)]
pub enum MembersCommand {
    /// Members held by the node (without personal fields).
    List {
        /// Node code of the committee
        #[arg(long)]
        committee: Option<String>,
        /// Also members who have left (离任)
        #[arg(long)]
        include_left: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// One member; name and other personal fields only at its own committee's node.
    Show {
        /// The member id, e.g. 620722-0017
        member_id: String,
    },
    /// What each member did in a year: items raised and adopted, research, notices answered.
    Activity {
        /// The calendar year
        #[arg(long)]
        year: u32,
        /// Node code of the committee
        #[arg(long)]
        committee: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

/// `linkctl members …`.
pub async fn members(addr: &str, opts: ViewOpts, command: MembersCommand) -> anyhow::Result<()> {
    let ctx = Ctx::new(addr, opts).await?;
    let client = MemberServiceClient::new(ctx.channel.clone());
    match command {
        MembersCommand::List { committee, include_left, paging } => {
            let (members, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListMembersRequest {
                        committee: nonzero(committee.clone()),
                        include_left,
                        page_size,
                        page_token,
                    };
                    async move {
                        let r = client.list_members(request).await?.into_inner();
                        Ok((r.members, r.next_page_token))
                    }
                })
                .await?;
            let response = pb::ListMembersResponse { members, next_page_token };
            ctx.print(&response, "linkage.v1.ListMembersResponse", |r, names| {
                render::members::members(&r.members, names)
                    + &render::footer(r.members.len(), "member", "members", &r.next_page_token)
            })
            .await
        }
        MembersCommand::Show { member_id } => {
            let response =
                client.clone().get_member(pb::GetMemberRequest { member_id }).await.map_err(show::status_error)?;
            ctx.print(&response.into_inner(), "linkage.v1.GetMemberResponse", |r, names| {
                render::members::member(&r.member.clone().unwrap_or_default(), names)
            })
            .await
        }
        MembersCommand::Activity { year, committee, paging } => {
            // Every page carries the year's duty rule: keep the last one.
            let rule = std::sync::Arc::new(std::sync::Mutex::new(None));
            let (rows, next_page_token) = paging
                .collect(|page_size, page_token| {
                    let mut client = client.clone();
                    let request = pb::ListMemberActivityRequest {
                        year,
                        committee: nonzero(committee.clone()),
                        page_size,
                        page_token,
                    };
                    let rule = rule.clone();
                    async move {
                        let r = client.list_member_activity(request).await?.into_inner();
                        *rule.lock().expect("not poisoned") = r.duty_rule;
                        Ok((r.rows, r.next_page_token))
                    }
                })
                .await?;
            let duty_rule = rule.lock().expect("not poisoned").take();
            let response = pb::ListMemberActivityResponse { rows, next_page_token, duty_rule };
            ctx.print(&response, "linkage.v1.ListMemberActivityResponse", |r, names| {
                render::members::activity(&r.rows, names)
                    + &render::members::duties_summary(r)
                    + &render::footer(r.rows.len(), "member", "members", &r.next_page_token)
            })
            .await
        }
    }
}
