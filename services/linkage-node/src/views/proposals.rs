//! `ProposalService` (提案): proposals across levels, one proposal's whole
//! trail, and the counts per handling committee and per unit.

use super::{check_enum, optional_code, Views, Watch};
use crate::convert;
use linkage_core::pb;
use linkage_core::views::proposal_query::{self, Grouping};
use linkage_core::views::{self, Flow};
use linkage_proto::v1::proposal_service_server::ProposalService;
use tonic::{Request, Response, Status};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[tonic::async_trait]
impl ProposalService for Views {
    async fn list_proposals(
        &self,
        request: Request<pb::ListProposalsRequest>,
    ) -> Result<Response<pb::ListProposalsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::Level>("level", r.level)?;
        check_enum::<pb::ProposalState>("state", r.state)?;
        check_enum::<pb::AnswerClass>("class", r.class)?;
        check_enum::<pb::Satisfaction>("satisfaction", r.satisfaction)?;
        optional_code("handler", &r.handler)?;
        if r.year != 0 && !(linkage_core::limits::YEAR_MIN..=linkage_core::limits::YEAR_MAX).contains(&r.year) {
            return Err(convert::invalid("year", "must be a year 2000..=2100, or 0 for every year"));
        }
        if r.unit.chars().count() > linkage_core::limits::TITLE_CHARS_MAX {
            return Err(convert::invalid(
                "unit",
                format!("must be at most {} characters", linkage_core::limits::TITLE_CHARS_MAX),
            ));
        }
        let now = now_ms();
        let scope = format!(
            "proposals/{}/{}/{}/{}/{}/{}/{}/{}",
            r.level, r.year, r.state, r.unit, r.class, r.satisfaction, r.handler, r.overdue
        );
        let row_matches = |h: &pb::ProposalHandling| {
            (r.state == 0 || h.state == r.state)
                && (r.unit.is_empty() || h.lead_unit == r.unit || h.co_units.contains(&r.unit))
                && (r.class == 0 || h.class == r.class)
                && (r.satisfaction == 0 || h.satisfaction == r.satisfaction)
                && (r.handler.is_empty() || h.node == r.handler)
                && (!r.overdue || proposal_query::overdue(h, now))
        };
        let (proposals, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |p: &pb::Proposal| {
                p.known
                    && (r.year == 0 || p.year == r.year)
                    && self.level_matches(r.level, &p.origin)
                    && p.handlings.iter().any(row_matches)
            },
            |p| &p.id,
        )?;
        Ok(Response::new(pb::ListProposalsResponse { proposals, next_page_token }))
    }

    async fn get_proposal(
        &self,
        request: Request<pb::GetProposalRequest>,
    ) -> Result<Response<pb::GetProposalResponse>, Status> {
        let mut proposal: pb::Proposal = self.get(&request.into_inner().id, "proposal")?;
        if !proposal.known {
            return Err(Status::not_found(format!(
                "proposal {} is not held here (only steps that name it)",
                proposal.id
            )));
        }
        if let Some(event) = self.event(&proposal.id)? {
            views::fill::proposal(&mut proposal, &event);
        }
        for entry in proposal.trail.iter_mut().filter(|e| e.step() == pb::ProposalStep::Answered) {
            if let Some(event) = self.event(&entry.event_id)? {
                views::fill::answer(entry, &event);
            }
        }
        let calendars = self.all(|c: &pb::HolidayCalendar| c.known)?;
        let objection_until_ms = proposal
            .handlings
            .iter()
            .map(|h| match h.assigned_hlc {
                0 => 0,
                hlc => {
                    let at = linkage_core::hlc::physical_ms(hlc) as i64;
                    linkage_core::proposals::working_days_after(at, h.objection_days, &calendars)
                }
            })
            .collect();
        Ok(Response::new(pb::GetProposalResponse { proposal: Some(proposal), objection_until_ms }))
    }

    async fn proposal_statistics(
        &self,
        request: Request<pb::ProposalStatisticsRequest>,
    ) -> Result<Response<pb::ProposalStatisticsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::ProposalGrouping>("by", r.by)?;
        if r.year != 0 && !(linkage_core::limits::YEAR_MIN..=linkage_core::limits::YEAR_MAX).contains(&r.year) {
            return Err(convert::invalid("year", "must be 2000..=2100, or 0 for every year"));
        }
        let by = match pb::ProposalGrouping::try_from(r.by).unwrap_or_default() {
            pb::ProposalGrouping::Unit => Grouping::Unit,
            _ => Grouping::Committee,
        };
        let proposals = self.all(|p: &pb::Proposal| p.known)?;
        let rows = proposal_query::statistics(&proposals, r.year, by, now_ms());
        Ok(Response::new(pb::ProposalStatisticsResponse { rows }))
    }

    type WatchProposalsStream = Watch<pb::WatchProposalsResponse>;

    async fn watch_proposals(
        &self,
        request: Request<pb::WatchProposalsRequest>,
    ) -> Result<Response<Self::WatchProposalsStream>, Status> {
        let from = request.into_inner().from_position;
        Ok(Response::new(
            self.watch(from, Flow::Proposals, |change| pb::WatchProposalsResponse { change: Some(change) }),
        ))
    }
}
