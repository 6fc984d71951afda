//! `ProgressService` (联通): joint groups, their sub-topics, reports and
//! visits, and the sub-topics that are late.

use super::{millis, optional_code, page_size, Views, Watch};
use crate::convert;
use crate::paging;
use linkage_core::pb;
use linkage_core::views::{self, Flow};
use linkage_proto::v1::progress_service_server::ProgressService;
use tonic::{Request, Response, Status};

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
        let id = super::group_id("group_id", &request.into_inner().group_id)?;
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
        let given = super::given_millis("as_of", &r.as_of)?;
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
