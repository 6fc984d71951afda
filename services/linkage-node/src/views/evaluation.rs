//! `EvaluationService` (评价): work evaluated by the province's indicator
//! sets, computed from the records held, as of any date.

use super::{check_enum, given_millis, optional_code, Views};
use crate::convert;
use linkage_core::pb;
use linkage_core::views::evaluate::{evaluate, set_in_force, Work};
use linkage_proto::v1::evaluation_service_server::EvaluationService;
use tonic::{Request, Response, Status};

impl Views {
    /// `as_of` in ms, now when unset.
    fn as_of(ts: &Option<prost_types::Timestamp>) -> Result<i64, Status> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Ok(given_millis("as_of", ts)?.unwrap_or(now))
    }

    /// The evaluation of `work`, if a set is in force for it.
    fn evaluation(
        &self,
        work: Work<'_>,
        sets: &[pb::IndicatorSet],
        as_of: i64,
    ) -> Result<Option<pb::Evaluation>, Status> {
        let Some(set) = set_in_force(sets, work, as_of) else { return Ok(None) };
        let id = match work {
            Work::Proposal(p) => &p.id,
            Work::Info(i) => &i.id,
            Work::Research(r, _) => &r.id,
        };
        let ratings: Option<pb::EvaluationRatings> = self.node.store.view(id).map_err(convert::storage)?;
        Ok(Some(evaluate(work, set, ratings.as_ref(), as_of)))
    }

    fn group_of(&self, r: &pb::Result) -> Result<Option<pb::Group>, Status> {
        if r.group_id.is_empty() || r.group_id.parse::<linkage_core::channel::GroupId>().is_err() {
            return Ok(None);
        }
        self.node.store.view(&r.group_id).map_err(convert::storage)
    }
}

#[tonic::async_trait]
impl EvaluationService for Views {
    async fn evaluate(&self, request: Request<pb::EvaluateRequest>) -> Result<Response<pb::EvaluateResponse>, Status> {
        let r = request.into_inner();
        let as_of = Self::as_of(&r.as_of)?;
        let id = super::event_id(&r.subject_id).map_err(|_| convert::invalid("subject_id", "must be an event id"))?;
        let sets = self.all(|s: &pb::IndicatorSet| s.known)?;
        let store = &self.node.store;
        let evaluation = if let Some(p) = store.view::<pb::Proposal>(&id).map_err(convert::storage)?.filter(|p| p.known)
        {
            self.evaluation(Work::Proposal(&p), &sets, as_of)?
        } else if let Some(i) = store.view::<pb::InfoItem>(&id).map_err(convert::storage)?.filter(|i| i.known) {
            self.evaluation(Work::Info(&i), &sets, as_of)?
        } else if let Some(x) = store.view::<pb::Result>(&id).map_err(convert::storage)?.filter(|x| x.known) {
            let group = self.group_of(&x)?;
            self.evaluation(Work::Research(&x, group.as_ref()), &sets, as_of)?
        } else {
            return Err(Status::not_found(format!("no proposal, 社情民意 item or result {id} is held here")));
        };
        let evaluation = evaluation.ok_or_else(|| {
            Status::failed_precondition(format!("no indicator set of the province is in force for {id}"))
        })?;
        Ok(Response::new(pb::EvaluateResponse { evaluation: Some(evaluation) }))
    }

    async fn list_evaluations(
        &self,
        request: Request<pb::ListEvaluationsRequest>,
    ) -> Result<Response<pb::ListEvaluationsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::EvaluationSubject>("subject", r.subject)?;
        optional_code("committee", &r.committee)?;
        if r.year != 0 && !(linkage_core::limits::YEAR_MIN..=linkage_core::limits::YEAR_MAX).contains(&r.year) {
            return Err(convert::invalid("year", "must be a year 2000..=2100, or 0 for every year"));
        }
        let as_of = Self::as_of(&r.as_of)?;
        let sets = self.all(|s: &pb::IndicatorSet| s.known)?;
        // Without as_of each page is evaluated at its own moment; clients
        // that want one moment send it (linkctl does).
        let scope = format!("evaluations/{}/{}/{}", r.subject, r.committee, r.year);
        let keep = |origin: &str, hlc: u64| {
            (r.committee.is_empty() || origin == r.committee)
                && (r.year == 0 || linkage_core::proposals::year_in_china(hlc) == r.year)
        };
        let mut evaluations = Vec::new();
        let next_page_token = match pb::EvaluationSubject::try_from(r.subject).unwrap_or_default() {
            pb::EvaluationSubject::Proposal => {
                let (page, next) = self.page(
                    r.page_size,
                    &r.page_token,
                    &scope,
                    |p: &pb::Proposal| p.known && keep(&p.origin, p.hlc),
                    |p| &p.id,
                )?;
                for p in &page {
                    evaluations.extend(self.evaluation(Work::Proposal(p), &sets, as_of)?);
                }
                next
            }
            pb::EvaluationSubject::InfoItem => {
                let (page, next) = self.page(
                    r.page_size,
                    &r.page_token,
                    &scope,
                    |i: &pb::InfoItem| i.known && keep(&i.origin, i.hlc),
                    |i| &i.id,
                )?;
                for i in &page {
                    evaluations.extend(self.evaluation(Work::Info(i), &sets, as_of)?);
                }
                next
            }
            pb::EvaluationSubject::Research => {
                let (page, next) = self.page(
                    r.page_size,
                    &r.page_token,
                    &scope,
                    |x: &pb::Result| x.known && keep(&x.origin, x.hlc),
                    |x| &x.id,
                )?;
                for x in &page {
                    let group = self.group_of(x)?;
                    evaluations.extend(self.evaluation(Work::Research(x, group.as_ref()), &sets, as_of)?);
                }
                next
            }
            pb::EvaluationSubject::Unspecified => {
                return Err(convert::invalid("subject", "is required: RESEARCH, PROPOSAL or INFO_ITEM"))
            }
        };
        Ok(Response::new(pb::ListEvaluationsResponse { evaluations, next_page_token }))
    }
}
