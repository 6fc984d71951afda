//! `MemberService` (委员): each committee's register of its members, one
//! member (its personal fields only where its key is held), and what each
//! member did in a year.

use super::{optional_code, Views};
use crate::convert;
use linkage_core::pb;
use linkage_core::views;
use linkage_proto::v1::member_service_server::MemberService;
use tonic::{Request, Response, Status};

/// A member id, checked before any lookup: an error never echoes it.
fn member_id(id: &str) -> Result<String, Status> {
    if id.is_empty() {
        return Err(convert::invalid("member_id", "is required"));
    }
    id.parse::<linkage_core::members::MemberId>()
        .map(|_| id.to_owned())
        .map_err(|why| convert::invalid("member_id", why))
}

#[tonic::async_trait]
impl MemberService for Views {
    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let r = request.into_inner();
        optional_code("committee", &r.committee)?;
        let scope = format!("members/{}/{}", r.committee, r.include_left);
        let (members, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |m: &pb::CommitteeMember| {
                m.known && (r.committee.is_empty() || m.committee == r.committee) && (r.include_left || !m.left)
            },
            |m| &m.member_id,
        )?;
        Ok(Response::new(pb::ListMembersResponse { members, next_page_token }))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let id = member_id(&request.into_inner().member_id)?;
        let mut member: pb::CommitteeMember = self
            .node
            .store
            .view(&id)
            .map_err(convert::storage)?
            .ok_or_else(|| Status::not_found(format!("no member {id} is held here")))?;
        if let Some(sealed) = member.sealed.as_ref().filter(|_| !member.erased) {
            member.personal = self
                .node
                .member_keys
                .unseal(&id, sealed)
                .map_err(|e| Status::internal(format!("the member's key: {e}")))?;
        }
        Ok(Response::new(pb::GetMemberResponse { member: Some(member) }))
    }

    async fn list_member_activity(
        &self,
        request: Request<pb::ListMemberActivityRequest>,
    ) -> Result<Response<pb::ListMemberActivityResponse>, Status> {
        let r = request.into_inner();
        optional_code("committee", &r.committee)?;
        let years = linkage_core::limits::YEAR_MIN..=linkage_core::limits::YEAR_MAX;
        if !years.contains(&r.year) {
            return Err(convert::invalid("year", format!("must be a year in {years:?}")));
        }
        let limit = crate::paging::page_size(r.page_size)?;
        let scope = format!("activity/{}/{}", r.year, r.committee);
        let after = crate::paging::cursor(&r.page_token, &scope)?.unwrap_or_default();
        let members = self.all(|m: &pb::CommitteeMember| {
            m.known && (r.committee.is_empty() || m.committee == r.committee) && m.member_id > after
        })?;
        let members: Vec<pb::CommitteeMember> = members.into_iter().take(limit).collect();
        let items = self.all(|i: &pb::InfoItem| i.known && !i.member_id.is_empty())?;
        let groups = self.all(|g: &pb::Group| g.known)?;
        let notices = self.all(|n: &pb::Notice| n.known && !n.replies.is_empty())?;
        let proposals = self.all(|p: &pb::Proposal| p.known)?;
        let rules = self.all(|d: &pb::DutyRule| d.known)?;
        let duty_rule = views::duty_rule(r.year, &rules).cloned();
        let held =
            views::Held { members: &members, items: &items, groups: &groups, notices: &notices, proposals: &proposals };
        let rows = views::member_activity(r.year, held, duty_rule.as_ref().and_then(|d| d.rule.as_ref()));
        let next_page_token = match rows.last() {
            Some(last) if rows.len() == limit => crate::paging::token(&last.member_id, &scope),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListMemberActivityResponse { rows, next_page_token, duty_rule }))
    }
}
