//! `linkage.v1.AdminService`: what this node is and holds.

use crate::convert;
use crate::event_log::Node;
use linkage_core::pb;
use linkage_proto::v1::admin_service_server::AdminService;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// A document put here is collected only after this long with no event
/// referring to it: it is put before its event.
const COLLECT_AFTER_SECONDS: u64 = 24 * 3600;

/// Events shown per alarm: the latest by id.
const ALARM_EXAMPLES: usize = 10;

/// The service.
#[derive(Clone)]
pub struct Admin {
    node: Arc<Node>,
    public_key: String,
}

impl Admin {
    /// A service over `node`, which signs with `public_key` (hex).
    pub fn new(node: Arc<Node>, public_key: String) -> Admin {
        Admin { node, public_key }
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let node = &self.node;
        let me = node.topology.node(node.origin).ok_or_else(|| Status::internal("this node left the topology"))?;
        let heads = node
            .store
            .heads()
            .map_err(convert::storage)?
            .into_iter()
            .map(|h| pb::StreamHead { origin: h.origin.to_string(), channel: h.channel, seq: h.seq })
            .collect();
        let last_position = node.store.last_position();
        Ok(Response::new(pb::StatusResponse {
            node: node.origin.to_string(),
            name: me.name.clone(),
            level: me.level.to_proto() as i32,
            parent: me.parent.map(|p| p.to_string()).unwrap_or_default(),
            public_key: self.public_key.clone(),
            heads,
            events: last_position,
            last_position,
            store_bytes: node.store.size_on_disk().map_err(convert::storage)?,
            writable: node.store.writable(),
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn replication(
        &self,
        _: Request<pb::ReplicationRequest>,
    ) -> Result<Response<pb::ReplicationResponse>, Status> {
        match &self.node.replicator {
            Some(r) => Ok(Response::new(r.status())),
            None => Err(Status::failed_precondition("replication is off: the node runs without nats_url")),
        }
    }

    async fn list_forks(&self, _: Request<pb::ListForksRequest>) -> Result<Response<pb::ListForksResponse>, Status> {
        let forks = self
            .node
            .store
            .forks()
            .map_err(convert::storage)?
            .into_iter()
            .map(|f| pb::Fork {
                origin: f.origin.to_string(),
                channel: f.channel,
                seq: f.seq,
                kept: f.kept,
                other: f.other,
            })
            .collect();
        Ok(Response::new(pb::ListForksResponse { forks }))
    }

    async fn list_alarms(&self, _: Request<pb::ListAlarmsRequest>) -> Result<Response<pb::ListAlarmsResponse>, Status> {
        let mut alarms: Vec<pb::Alarm> = Vec::new();
        let mut each = |a: linkage_store::AlarmRecord| {
            let (origin, rule) = (a.origin.to_string(), a.rule.name());
            if alarms.last().is_none_or(|last| (last.origin.as_str(), last.rule.as_str()) != (origin.as_str(), rule)) {
                alarms.push(pb::Alarm { origin, rule: rule.to_string(), ..Default::default() });
            }
            let alarm = alarms.last_mut().expect("pushed");
            alarm.events += 1;
            alarm.examples.push(pb::AlarmEvent {
                event_id: linkage_core::validate::format_event_id(&a.event_id),
                channel: a.channel,
                seq: a.seq,
            });
            if alarm.examples.len() > ALARM_EXAMPLES {
                alarm.examples.remove(0);
            }
        };
        self.node.store.for_each_alarm(&mut each).map_err(convert::storage)?;
        Ok(Response::new(pb::ListAlarmsResponse { alarms }))
    }

    async fn rebuild_views(
        &self,
        _: Request<pb::RebuildViewsRequest>,
    ) -> Result<Response<pb::RebuildViewsResponse>, Status> {
        let stats = self.node.appender.rebuild_views().await.map_err(Status::unavailable)?;
        tracing::info!(events = stats.events, records = stats.records, seconds = stats.seconds, "views rebuilt");
        Ok(Response::new(pb::RebuildViewsResponse {
            events: stats.events,
            records: stats.records,
            seconds: stats.seconds,
        }))
    }

    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        let (documents, waiting_only) = (self.node.documents.clone(), request.into_inner().waiting_only);
        let listed = tokio::task::spawn_blocking(move || documents.list(waiting_only));
        Ok(Response::new(listed.await.map_err(|e| Status::internal(e.to_string()))?))
    }

    async fn collect_documents(
        &self,
        request: Request<pb::CollectDocumentsRequest>,
    ) -> Result<Response<pb::CollectDocumentsResponse>, Status> {
        let older_than = request.into_inner().older_than_seconds.unwrap_or(COLLECT_AFTER_SECONDS);
        let (documents, bytes) = self
            .node
            .documents
            .collect(std::time::Duration::from_secs(older_than))
            .await
            .map_err(crate::documents::document_status)?;
        tracing::info!(documents, bytes, "collected documents no event refers to");
        Ok(Response::new(pb::CollectDocumentsResponse { documents, bytes }))
    }
}
