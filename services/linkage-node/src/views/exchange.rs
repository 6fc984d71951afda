//! `ExchangeService` (畅通): 社情民意 items with their trail and score, the
//! statistics per committee, and notices with who has acknowledged them.

use super::{check_enum, optional_code, Views, Watch};
use linkage_core::pb;
use linkage_core::views::{self, Flow};
use linkage_core::views::{query, score};
use linkage_proto::v1::exchange_service_server::ExchangeService;
use std::collections::BTreeMap;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl ExchangeService for Views {
    async fn list_info_items(
        &self,
        request: Request<pb::ListInfoItemsRequest>,
    ) -> Result<Response<pb::ListInfoItemsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::InfoStatus>("status", r.status)?;
        check_enum::<pb::Level>("level", r.level)?;
        optional_code("origin", &r.origin)?;
        let scope = format!("items/{}/{}/{}", r.status, r.origin, r.level);
        let (items, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |i: &pb::InfoItem| {
                i.known
                    && (r.status == 0 || i.status == r.status)
                    && (r.origin.is_empty() || i.origin == r.origin)
                    && self.level_matches(r.level, &i.origin)
            },
            |i| &i.id,
        )?;
        Ok(Response::new(pb::ListInfoItemsResponse { items, next_page_token }))
    }

    async fn get_info_item(
        &self,
        request: Request<pb::GetInfoItemRequest>,
    ) -> Result<Response<pb::GetInfoItemResponse>, Status> {
        let mut item: pb::InfoItem = self.get(&request.into_inner().id, "社情民意 item")?;
        if let Some(event) = self.event(&item.id)? {
            views::fill::info(&mut item, &event);
        }
        let score = score::item_points(&self.score_rules()?, &item);
        let score = u32::try_from(score).unwrap_or(u32::MAX);
        Ok(Response::new(pb::GetInfoItemResponse { item: Some(item), score }))
    }

    async fn get_info_statistics(
        &self,
        request: Request<pb::GetInfoStatisticsRequest>,
    ) -> Result<Response<pb::GetInfoStatisticsResponse>, Status> {
        let r = request.into_inner();
        optional_code("node", &r.node)?;
        let (start, end) = super::period(&r.start, &r.end)?;
        let mut rows = BTreeMap::new();
        let items = self.all(|i: &pb::InfoItem| {
            let at = linkage_core::hlc::physical_ms(i.hlc) as i64;
            i.known
                && (r.node.is_empty() || i.origin == r.node)
                && start.is_none_or(|s| at >= s)
                && end.is_none_or(|e| at < e)
        })?;
        let rules = self.score_rules()?;
        for item in &items {
            query::count(&mut rows, item, score::item_points(&rules, item));
        }
        Ok(Response::new(pb::GetInfoStatisticsResponse { rows: rows.into_values().collect(), score_table: None }))
    }

    async fn get_info_ranking(
        &self,
        request: Request<pb::GetInfoRankingRequest>,
    ) -> Result<Response<pb::GetInfoRankingResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::Level>("level", r.level)?;
        let (start, end) = super::period(&r.start, &r.end)?;
        let limit = crate::paging::page_size(r.page_size)?;
        let scope = format!("ranking/{start:?}/{end:?}/{}", r.level);
        let skip = crate::paging::numeric_cursor(&r.page_token, &scope)?.unwrap_or(0);
        let rules = self.score_rules()?;
        let items = self.all(|i: &pb::InfoItem| i.known)?;
        let mut rows: Vec<pb::RankingRow> = score::ranking(&rules, &items, start, end)
            .into_iter()
            .filter(|row| self.level_matches(r.level, &row.node))
            .collect();
        score::rank(&mut rows);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(rows.len());
        let page: Vec<pb::RankingRow> = rows[skip..].iter().take(limit).cloned().collect();
        let next = skip + page.len();
        let next_page_token =
            if next < rows.len() { crate::paging::token(&next.to_string(), &scope) } else { String::new() };
        Ok(Response::new(pb::GetInfoRankingResponse { rows: page, next_page_token, rules: rules.ids() }))
    }

    async fn list_score_rules(
        &self,
        request: Request<pb::ListScoreRulesRequest>,
    ) -> Result<Response<pb::ListScoreRulesResponse>, Status> {
        let r = request.into_inner();
        let (rules, next_page_token) =
            self.page(r.page_size, &r.page_token, "score-rules", |x: &pb::ScoreRule| x.known, |x| &x.id)?;
        Ok(Response::new(pb::ListScoreRulesResponse { rules, next_page_token }))
    }

    async fn list_notices(
        &self,
        request: Request<pb::ListNoticesRequest>,
    ) -> Result<Response<pb::ListNoticesResponse>, Status> {
        let r = request.into_inner();
        optional_code("origin", &r.origin)?;
        let scope = format!("notices/{}/{}/{}", r.origin, r.unacknowledged_only, r.overdue_only);
        let mut failure = None;
        let (notices, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |n: &pb::Notice| {
                if !n.known || !(r.origin.is_empty() || n.origin == r.origin) {
                    return false;
                }
                if !r.unacknowledged_only && !r.overdue_only {
                    return true;
                }
                match self.notice_state(n.clone()) {
                    Ok(state) => {
                        (!r.unacknowledged_only || !state.not_acknowledged.is_empty())
                            && (!r.overdue_only || state.recipients.iter().any(|x| x.overdue))
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                        false
                    }
                }
            },
            |n| &n.id,
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
        let notices = notices.into_iter().map(|n| self.notice_state(n)).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ListNoticesResponse { notices, next_page_token }))
    }

    async fn get_notice(
        &self,
        request: Request<pb::GetNoticeRequest>,
    ) -> Result<Response<pb::GetNoticeResponse>, Status> {
        let mut notice: pb::Notice = self.get(&request.into_inner().id, "notice")?;
        if let Some(event) = self.event(&notice.id)? {
            views::fill::notice(&mut notice, &event);
        }
        Ok(Response::new(pb::GetNoticeResponse { notice: Some(self.notice_state(notice)?) }))
    }

    type WatchExchangeStream = Watch<pb::WatchExchangeResponse>;

    async fn watch_exchange(
        &self,
        request: Request<pb::WatchExchangeRequest>,
    ) -> Result<Response<Self::WatchExchangeStream>, Status> {
        let from = request.into_inner().from_position;
        Ok(Response::new(self.watch(from, Flow::Exchange, |change| pb::WatchExchangeResponse { change: Some(change) })))
    }
}
