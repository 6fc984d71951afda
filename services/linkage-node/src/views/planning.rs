//! `PlanningService` (沟通): topics before plans are final, their overlaps
//! between committees, and the topics awaiting this node's answer.

use super::{check_enum, optional_code, page_size, Views, Watch};
use crate::convert;
use crate::paging;
use linkage_core::pb;
use linkage_core::views::query;
use linkage_core::views::{self, Flow};
use linkage_proto::v1::planning_service_server::PlanningService;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl PlanningService for Views {
    async fn list_topics(
        &self,
        request: Request<pb::ListTopicsRequest>,
    ) -> Result<Response<pb::ListTopicsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::Level>("level", r.level)?;
        check_enum::<pb::TopicCategory>("category", r.category)?;
        check_enum::<pb::TopicStatus>("status", r.status)?;
        optional_code("origin", &r.origin)?;
        let scope = format!("topics/{}/{}/{}/{}/{}", r.year, r.level, r.category, r.status, r.origin);
        let (topics, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |t: &pb::Topic| {
                t.known
                    && (r.year == 0 || t.year == r.year)
                    && (r.category == 0 || t.category == r.category)
                    && (r.status == 0 || t.status == r.status)
                    && (r.origin.is_empty() || t.origin == r.origin)
                    && self.level_matches(r.level, &t.origin)
            },
            |t| &t.id,
        )?;
        Ok(Response::new(pb::ListTopicsResponse { topics, next_page_token }))
    }

    async fn get_topic(&self, request: Request<pb::GetTopicRequest>) -> Result<Response<pb::GetTopicResponse>, Status> {
        let mut topic: pb::Topic = self.get(&request.into_inner().id, "topic")?;
        if let Some(event) = self.event(&topic.id)? {
            views::fill::topic(&mut topic, &event);
        }
        Ok(Response::new(pb::GetTopicResponse { topic: Some(topic) }))
    }

    async fn list_overlapping_topics(
        &self,
        request: Request<pb::ListOverlappingTopicsRequest>,
    ) -> Result<Response<pb::ListOverlappingTopicsResponse>, Status> {
        let r = request.into_inner();
        check_enum::<pb::TopicCategory>("category", r.category)?;
        if r.min_similarity != 0.0 && !(query::SIMILARITY_MIN..=1.0).contains(&r.min_similarity) {
            let why =
                format!("must be 0 (the default, {}) or {}..=1", query::SIMILARITY_DEFAULT, query::SIMILARITY_MIN);
            return Err(convert::invalid("min_similarity", why));
        }
        let min = if r.min_similarity == 0.0 { query::SIMILARITY_DEFAULT } else { r.min_similarity };
        let limit = page_size(r.page_size)?;
        let scope = format!("overlaps/{}/{}/{min}", r.year, r.category);
        let offset = paging::numeric_cursor(&r.page_token, &scope)?.unwrap_or(0) as usize;
        let topics = self.all(|t: &pb::Topic| {
            t.known
                && t.status != pb::TopicStatus::Closed as i32
                && (r.year == 0 || t.year == r.year)
                && (r.category == 0 || t.category == r.category)
        })?;
        let pairs = query::overlaps(&topics, min);
        let overlaps: Vec<_> = pairs
            .into_iter()
            .skip(offset)
            .take(limit + 1)
            .map(|(similarity, i, j)| pb::TopicOverlap {
                first: Some(topics[i].clone()),
                second: Some(topics[j].clone()),
                similarity,
            })
            .collect();
        let (overlaps, next_page_token) = if overlaps.len() > limit {
            (overlaps[..limit].to_vec(), paging::token(&(offset + limit).to_string(), &scope))
        } else {
            (overlaps, String::new())
        };
        Ok(Response::new(pb::ListOverlappingTopicsResponse { overlaps, next_page_token }))
    }

    async fn list_topics_awaiting_feedback(
        &self,
        request: Request<pb::ListTopicsAwaitingFeedbackRequest>,
    ) -> Result<Response<pb::ListTopicsAwaitingFeedbackResponse>, Status> {
        let r = request.into_inner();
        let me = self.node.origin.to_string();
        let (topics, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            "awaiting",
            |t: &pb::Topic| {
                t.known
                    && t.origin != me
                    && t.status < pb::TopicStatus::Planned as i32
                    && !t.comments.iter().any(|c| c.origin == me)
                    && !t.participants.iter().any(|p| p.node == me)
            },
            |t| &t.id,
        )?;
        Ok(Response::new(pb::ListTopicsAwaitingFeedbackResponse { topics, next_page_token }))
    }

    type WatchTopicsStream = Watch<pb::WatchTopicsResponse>;

    async fn watch_topics(
        &self,
        request: Request<pb::WatchTopicsRequest>,
    ) -> Result<Response<Self::WatchTopicsStream>, Status> {
        let from = request.into_inner().from_position;
        Ok(Response::new(self.watch(from, Flow::Planning, |change| pb::WatchTopicsResponse { change: Some(change) })))
    }
}
