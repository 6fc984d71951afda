//! The four query services over the stored views: `PlanningService` (沟通),
//! `ProgressService` (联通), `ExchangeService` (畅通), `ResultsService` (互通).
//!
//! Lists scan one record kind in id order, filter, and page with an opaque
//! token that names the last id and the filters it was made for.

use crate::convert;
use crate::event_log::{follow, Node};
use crate::paging::{self, page_size};
use futures::Stream;
use linkage_core::views::query::{self, ScoreTable};
use linkage_core::views::{self, Flow, RecordKind, ViewRecord};
use linkage_core::{pb, Level, NodeCode};
use linkage_proto::v1::exchange_service_server::ExchangeService;
use linkage_proto::v1::planning_service_server::PlanningService;
use linkage_proto::v1::progress_service_server::ProgressService;
use linkage_proto::v1::results_service_server::ResultsService;
use linkage_store::StoredEvent;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The four services share the node and the score table.
#[derive(Clone)]
pub struct Views {
    node: Arc<Node>,
    scores: ScoreTable,
}

impl Views {
    /// Services over `node`, scoring 社情民意 items with `scores`.
    pub fn new(node: Arc<Node>, scores: ScoreTable) -> Views {
        Views { node, scores }
    }

    fn level_of(&self, code: &str) -> Option<Level> {
        code.parse::<NodeCode>().ok().and_then(|c| self.node.topology.node(c)).map(|n| n.level)
    }

    fn level_matches(&self, wanted: i32, code: &str) -> bool {
        wanted == 0 || self.level_of(code).is_some_and(|l| l.to_proto() as i32 == wanted)
    }

    /// One page of records of `M`'s kind that pass `keep`.
    fn page<M: ViewRecord>(
        &self,
        page_size: i32,
        page_token: &str,
        scope: &str,
        mut keep: impl FnMut(&M) -> bool,
        id_of: impl Fn(&M) -> &str,
    ) -> Result<(Vec<M>, String), Status> {
        let limit = paging::page_size(page_size)?;
        let after = paging::cursor(page_token, scope)?.unwrap_or_default();
        let mut out = Vec::new();
        self.node
            .store
            .scan_views(&after, |record: M| {
                if keep(&record) {
                    out.push(record);
                }
                out.len() < limit
            })
            .map_err(convert::storage)?;
        let next = if out.len() == limit { paging::token(id_of(&out[limit - 1]), scope) } else { String::new() };
        Ok((out, next))
    }

    fn get<M: ViewRecord>(&self, id: &str, what: &str) -> Result<M, Status> {
        if id.is_empty() {
            return Err(convert::invalid("id", "is required"));
        }
        let id = if M::KIND == RecordKind::Group { id.to_string() } else { event_id(id)? };
        self.node
            .store
            .view::<M>(&id)
            .map_err(convert::storage)?
            .ok_or_else(|| Status::not_found(format!("no {what} {id} is held here")))
    }

    /// The event `id`, decoded, if held: where records' long texts live.
    fn event(&self, id: &str) -> Result<Option<pb::Event>, Status> {
        let Some(bytes) = linkage_core::validate::parse_event_id(id) else { return Ok(None) };
        let Some(stored) = self.node.store.get_by_id(&bytes).map_err(convert::storage)? else { return Ok(None) };
        pb::Event::decode(stored.raw.as_ref())
            .map(Some)
            .map_err(|e| Status::internal(format!("stored event {id} does not decode: {e}")))
    }

    /// Whether result `id`'s summary (in its event) contains `keyword`.
    fn summary_contains(&self, id: &str, keyword: &str) -> bool {
        match self.event(id) {
            Ok(Some(event)) => {
                let mut r = pb::Result::default();
                views::fill::result(&mut r, &event);
                r.summary.to_lowercase().contains(keyword)
            }
            _ => false,
        }
    }

    /// Everything known of one kind (for questions that look at all of it).
    fn all<M: ViewRecord>(&self, mut keep: impl FnMut(&M) -> bool) -> Result<Vec<M>, Status> {
        let mut out = Vec::new();
        self.node
            .store
            .scan_views("", |record: M| {
                if keep(&record) {
                    out.push(record);
                }
                true
            })
            .map_err(convert::storage)?;
        Ok(out)
    }

    /// Who a notice is addressed to, by its channel and the topology.
    fn recipients(&self, notice: &pb::Notice) -> Result<Vec<String>, Status> {
        let Ok(origin) = notice.origin.parse::<NodeCode>() else { return Ok(Vec::new()) };
        let topology = &self.node.topology;
        let codes: Vec<NodeCode> = match notice.channel.parse::<linkage_core::Channel>() {
            Ok(linkage_core::Channel::Down) => topology.descendants(origin),
            Ok(linkage_core::Channel::Up) => topology.ancestors(origin),
            Ok(linkage_core::Channel::All) => topology.nodes().map(|n| n.code).filter(|c| *c != origin).collect(),
            Ok(linkage_core::Channel::To(code)) => vec![code],
            Ok(linkage_core::Channel::Group(group)) => {
                let g: Option<pb::Group> = self.node.store.view(group.as_str()).map_err(convert::storage)?;
                g.map(|g| g.members.into_iter().filter(|m| m.joined).filter_map(|m| m.node.parse().ok()).collect())
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        let mut codes: Vec<String> = codes.into_iter().filter(|c| *c != origin).map(|c| c.to_string()).collect();
        codes.sort();
        codes.dedup();
        Ok(codes)
    }

    fn notice_state(&self, notice: pb::Notice) -> Result<pb::NoticeState, Status> {
        let acknowledged: Vec<String> = notice.acknowledgements.iter().map(|a| a.node.clone()).collect();
        let not_acknowledged = if notice.requires_acknowledgement {
            let done: BTreeSet<&String> = acknowledged.iter().collect();
            self.recipients(&notice)?.into_iter().filter(|c| !done.contains(c)).collect()
        } else {
            Vec::new()
        };
        Ok(pb::NoticeState { notice: Some(notice), acknowledged, not_acknowledged })
    }

    /// Follows the log from `from`, sending a change for each event of `flow`.
    fn watch<T: Send + 'static>(
        &self,
        from: u64,
        flow: Flow,
        wrap: fn(pb::ViewChange) -> T,
    ) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>> {
        follow(&self.node, from.saturating_add(1), move |event: &StoredEvent| {
            let decoded = pb::Event::decode(event.raw.as_ref()).ok()?;
            let kind = decoded.payload.as_ref()?.kind.as_ref()?;
            let id = views::norm(&decoded.id);
            let (event_flow, _, entity_ids) = views::touches(kind, &id);
            (event_flow == flow).then(|| {
                Ok(wrap(pb::ViewChange {
                    position: event.position,
                    event_id: id,
                    kind: views::kind_name(kind).to_string(),
                    entity_ids,
                }))
            })
        })
    }
}

fn event_id(id: &str) -> Result<String, Status> {
    linkage_core::validate::parse_event_id(id)
        .map(|b| linkage_core::validate::format_event_id(&b))
        .ok_or_else(|| convert::invalid("id", "must be an event id (a UUID)"))
}

fn optional_code(field: &str, code: &str) -> Result<(), Status> {
    if !code.is_empty() {
        code.parse::<NodeCode>().map_err(|e| convert::invalid(field, format!("{e}")))?;
    }
    Ok(())
}

fn check_enum<E: TryFrom<i32>>(field: &str, value: i32) -> Result<(), Status> {
    E::try_from(value).map(drop).map_err(|_| convert::invalid(field, format!("{value} is not a known value")))
}

fn millis(ts: &Option<prost_types::Timestamp>) -> Option<i64> {
    ts.as_ref().map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

type Watch<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

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
        if !(0.0..=1.0).contains(&r.min_similarity) {
            return Err(convert::invalid("min_similarity", "must be 0..=1"));
        }
        let min = if r.min_similarity == 0.0 { query::SIMILARITY_DEFAULT } else { r.min_similarity };
        let limit = page_size(r.page_size)?;
        let scope = format!("overlaps/{}/{}/{min}", r.year, r.category);
        let offset = paging::numeric_cursor(&r.page_token, &scope)?.unwrap_or(0) as usize;
        let topics = self.all(|t: &pb::Topic| {
            t.known && (r.year == 0 || t.year == r.year) && (r.category == 0 || t.category == r.category)
        })?;
        let mut by_work: BTreeMap<(u32, i32), Vec<&pb::Topic>> = BTreeMap::new();
        for t in &topics {
            by_work.entry((t.year, t.category)).or_default().push(t);
        }
        let mut pairs = Vec::new();
        for same in by_work.values() {
            for (i, a) in same.iter().enumerate() {
                for b in &same[i + 1..] {
                    let (la, lb) = (self.level_of(&a.origin), self.level_of(&b.origin));
                    if la == lb || a.linked_topic_ids.contains(&b.id) || b.linked_topic_ids.contains(&a.id) {
                        continue;
                    }
                    let similarity = query::similarity(&a.title, &b.title);
                    if similarity >= min {
                        pairs.push(pb::TopicOverlap {
                            first: Some((*a).clone()),
                            second: Some((*b).clone()),
                            similarity,
                        });
                    }
                }
            }
        }
        pairs.sort_by(|x, y| {
            y.similarity.total_cmp(&x.similarity).then_with(|| {
                let key = |p: &pb::TopicOverlap| {
                    (p.first.as_ref().map(|t| t.id.clone()), p.second.as_ref().map(|t| t.id.clone()))
                };
                key(x).cmp(&key(y))
            })
        });
        let overlaps: Vec<_> = pairs.into_iter().skip(offset).take(limit + 1).collect();
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

#[tonic::async_trait]
impl ProgressService for Views {
    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let r = request.into_inner();
        optional_code("member", &r.member)?;
        let scope = format!("groups/{}", r.member);
        let (groups, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |g: &pb::Group| {
                g.known
                    && (r.member.is_empty()
                        || g.lead == r.member
                        || g.members.iter().any(|m| m.joined && m.node == r.member))
            },
            |g| &g.group_id,
        )?;
        Ok(Response::new(pb::ListGroupsResponse { groups, next_page_token }))
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Result<Response<pb::GetGroupResponse>, Status> {
        let id = request.into_inner().group_id;
        if id.is_empty() {
            return Err(convert::invalid("group_id", "is required"));
        }
        let group: pb::Group = self
            .node
            .store
            .view::<pb::Group>(&id)
            .map_err(convert::storage)?
            .ok_or_else(|| Status::not_found(format!("no group {id} is held here")))?;
        let mut group = group;
        let reports =
            group.tasks.iter_mut().flat_map(|t| t.sub_reports.iter_mut()).chain(group.consolidated_reports.iter_mut());
        for report in reports {
            if let Some(event) = self.event(&report.event_id)? {
                views::fill::report(report, &event);
            }
        }
        Ok(Response::new(pb::GetGroupResponse { group: Some(group) }))
    }

    async fn list_overdue_tasks(
        &self,
        request: Request<pb::ListOverdueTasksRequest>,
    ) -> Result<Response<pb::ListOverdueTasksResponse>, Status> {
        let r = request.into_inner();
        optional_code("assignee", &r.assignee)?;
        let limit = page_size(r.page_size)?;
        // Without as_of the first page fixes "now" and the token carries it,
        // so that every page judges by the same moment.
        let given = millis(&r.as_of);
        let scope = format!("overdue/{}/{}", given.map_or("now".to_string(), |ms| ms.to_string()), r.assignee);
        let cursor = paging::cursor(&r.page_token, &scope)?.unwrap_or_default();
        let bad = paging::bad_token;
        let (as_of, after): (i64, Option<(String, String)>) = if cursor.is_empty() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            (given.unwrap_or(now), None)
        } else {
            let mut parts = cursor.splitn(3, '/');
            let (Some(ms), Some(group), Some(task)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad());
            };
            (ms.parse().map_err(|_| bad())?, Some((group.to_string(), task.to_string())))
        };
        let groups = self.all(|g: &pb::Group| g.known)?;
        let mut tasks = Vec::new();
        for g in groups {
            for t in &g.tasks {
                let late = t.known && t.sub_reports.is_empty() && millis(&t.due).is_some_and(|due| due < as_of);
                let key = (g.group_id.clone(), t.task_id.clone());
                let later = after.as_ref().is_none_or(|a| &key > a);
                if late && later && (r.assignee.is_empty() || t.assignee == r.assignee) {
                    tasks.push((
                        key,
                        pb::OverdueTask {
                            group_id: g.group_id.clone(),
                            group_title: g.title.clone(),
                            task: Some(t.clone()),
                        },
                    ));
                }
            }
        }
        // Groups come in id order and tasks in id order within each.
        tasks.sort_by(|a, b| a.0.cmp(&b.0));
        let next_page_token = match tasks.get(limit.wrapping_sub(1)) {
            Some(((group, task), _)) if tasks.len() > limit => {
                paging::token(&format!("{as_of}/{group}/{task}"), &scope)
            }
            _ => String::new(),
        };
        let tasks = tasks.into_iter().take(limit).map(|(_, t)| t).collect();
        Ok(Response::new(pb::ListOverdueTasksResponse { tasks, next_page_token }))
    }

    type WatchGroupsStream = Watch<pb::WatchGroupsResponse>;

    async fn watch_groups(
        &self,
        request: Request<pb::WatchGroupsRequest>,
    ) -> Result<Response<Self::WatchGroupsStream>, Status> {
        let from = request.into_inner().from_position;
        Ok(Response::new(self.watch(from, Flow::Progress, |change| pb::WatchGroupsResponse { change: Some(change) })))
    }
}

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
        let score = self.scores.score(&item);
        Ok(Response::new(pb::GetInfoItemResponse { item: Some(item), score }))
    }

    async fn get_info_statistics(
        &self,
        request: Request<pb::GetInfoStatisticsRequest>,
    ) -> Result<Response<pb::GetInfoStatisticsResponse>, Status> {
        let r = request.into_inner();
        optional_code("node", &r.node)?;
        let (start, end) = (millis(&r.start), millis(&r.end));
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                return Err(convert::invalid("end", "must be after start"));
            }
        }
        let mut rows = BTreeMap::new();
        let items = self.all(|i: &pb::InfoItem| {
            let at = linkage_core::hlc::physical_ms(i.hlc) as i64;
            i.known
                && (r.node.is_empty() || i.origin == r.node)
                && start.is_none_or(|s| at >= s)
                && end.is_none_or(|e| at < e)
        })?;
        for item in &items {
            query::count(&mut rows, item, &self.scores);
        }
        Ok(Response::new(pb::GetInfoStatisticsResponse {
            rows: rows.into_values().collect(),
            score_table: Some(self.scores.to_proto()),
        }))
    }

    async fn list_notices(
        &self,
        request: Request<pb::ListNoticesRequest>,
    ) -> Result<Response<pb::ListNoticesResponse>, Status> {
        let r = request.into_inner();
        optional_code("origin", &r.origin)?;
        let scope = format!("notices/{}/{}", r.origin, r.unacknowledged_only);
        let mut failure = None;
        let (notices, next_page_token) = self.page(
            r.page_size,
            &r.page_token,
            &scope,
            |n: &pb::Notice| {
                if !n.known || !(r.origin.is_empty() || n.origin == r.origin) {
                    return false;
                }
                if !r.unacknowledged_only {
                    return true;
                }
                match self.notice_state(n.clone()) {
                    Ok(state) => !state.not_acknowledged.is_empty(),
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
