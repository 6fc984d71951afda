//! `ResultsService` (互通): research results, their reuse and feedback.

use super::{check_enum, Views, Watch};
use crate::convert;
use linkage_core::pb;
use linkage_core::views::{self, Flow};
use linkage_proto::v1::results_service_server::ResultsService;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl ResultsService for Views {
    async fn list_results(
        &self,
        request: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ListResultsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::TopicCategory>("category", r.category)?;
        check_enum::<pb::Level>("level", r.level)?;
        if r.keyword.chars().count() > linkage_core::limits::TITLE_CHARS_MAX {
            return Err(convert::invalid(
                "keyword",
                format!("must be at most {} characters", linkage_core::limits::TITLE_CHARS_MAX),
            ));
        }
        let keyword = r.keyword.to_lowercase();
        let scope = format!("results/{}/{}/{}/{}", r.keyword, r.category, r.year, r.level);
        let (results, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |x: &pb::Result| {
                x.known
                    && (r.category == 0 || x.category == r.category)
                    && (r.year == 0 || x.year == r.year)
                    && self.level_matches(r.level, &x.origin)
                    && (keyword.is_empty()
                        || x.title.to_lowercase().contains(&keyword)
                        || self.summary_contains(&x.id, &keyword))
            },
            |x| &x.id,
        )?;
        Ok(Response::new(pb::ListResultsResponse { results, next_page_token }))
    }

    async fn get_result(
        &self,
        request: Request<pb::GetResultRequest>,
    ) -> Result<Response<pb::GetResultResponse>, Status> {
        let mut result: pb::Result = self.get(&request.into_inner().id, "result")?;
        if let Some(event) = self.event(&result.id)? {
            views::fill::result(&mut result, &event);
        }
        Ok(Response::new(pb::GetResultResponse { result: Some(result) }))
    }

    type WatchResultsStream = Watch<pb::WatchResultsResponse>;

    async fn watch_results(
        &self,
        request: Request<pb::WatchResultsRequest>,
    ) -> Result<Response<Self::WatchResultsStream>, Status> {
        let from = request.into_inner().from_position;
        Ok(Response::new(self.watch(from, Flow::Results, |change| pb::WatchResultsResponse { change: Some(change) })))
    }
}
