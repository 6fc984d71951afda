//! The query services over the stored views: `PlanningService` (沟通),
//! `ProgressService` (联通), `ExchangeService` (畅通), `ResultsService` (互通),
//! `MemberService` (委员), `ProposalService` (提案) and `EvaluationService` (评价).
//!
//! Lists scan one record kind in id order, filter, and page with an opaque
//! token that names the last id and the filters it was made for
//! (`crate::paging`).
//!
//! # Layout
//! - this file: [`Views`], what the four services share (paging, reads of
//!   one record, the long texts from the log, watching a flow).
//! - [`planning`], [`progress`], [`exchange`], [`results`], [`members`],
//!   [`proposals`], [`evaluation`]: one service each.

mod evaluation;
mod exchange;
mod members;
mod planning;
mod progress;
mod proposals;
mod results;

use crate::convert;
use crate::event_log::{follow, Node};
use crate::paging::{self, page_size};
use futures::Stream;
use linkage_core::views::{self, Flow, RecordKind, ViewRecord};
use linkage_core::{pb, Level, NodeCode};
use linkage_store::StoredEvent;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use tonic::Status;

/// The four services share the node.
#[derive(Clone)]
pub struct Views {
    pub(super) node: Arc<Node>,
}

impl Views {
    /// Services over `node`.
    pub fn new(node: Arc<Node>) -> Views {
        Views { node }
    }

    pub(super) fn level_of(&self, code: &str) -> Option<Level> {
        code.parse::<NodeCode>().ok().and_then(|c| self.node.topology.node(c)).map(|n| n.level)
    }

    pub(super) fn level_matches(&self, wanted: i32, code: &str) -> bool {
        wanted == 0 || self.level_of(code).is_some_and(|l| l.to_proto() as i32 == wanted)
    }

    /// One page of records of `M`'s kind that pass `keep`.
    pub(super) fn page<M: ViewRecord>(
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

    pub(super) fn get<M: ViewRecord>(&self, id: &str, what: &str) -> Result<M, Status> {
        if id.is_empty() {
            return Err(convert::invalid("id", "is required"));
        }
        let id = if M::KIND == RecordKind::Group { group_id("id", id)? } else { event_id(id)? };
        self.node
            .store
            .view::<M>(&id)
            .map_err(convert::storage)?
            .ok_or_else(|| Status::not_found(format!("no {what} {id} is held here")))
    }

    /// The event `id`, decoded, if held: where records' long texts live.
    pub(super) fn event(&self, id: &str) -> Result<Option<pb::Event>, Status> {
        let Some(bytes) = linkage_core::validate::parse_event_id(id) else { return Ok(None) };
        let Some(stored) = self.node.store.get_by_id(&bytes).map_err(convert::storage)? else { return Ok(None) };
        pb::Event::decode(stored.raw.as_ref())
            .map(Some)
            .map_err(|e| Status::internal(format!("stored event {id} does not decode: {e}")))
    }

    /// Whether result `id`'s summary (in its event) contains `keyword`.
    pub(super) fn summary_contains(&self, id: &str, keyword: &str) -> bool {
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
    pub(super) fn all<M: ViewRecord>(&self, mut keep: impl FnMut(&M) -> bool) -> Result<Vec<M>, Status> {
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
    pub(super) fn recipients(&self, notice: &pb::Notice) -> Result<Vec<String>, Status> {
        let Ok(origin) = notice.origin.parse::<NodeCode>() else { return Ok(Vec::new()) };
        let topology = &self.node.topology;
        let codes: Vec<NodeCode> = match notice.channel.parse::<linkage_core::Channel>() {
            Ok(linkage_core::Channel::Group(group)) => {
                let g: Option<pb::Group> = self.node.store.view(group.as_str()).map_err(convert::storage)?;
                g.map(|g| g.members.into_iter().filter(|m| m.joined).filter_map(|m| m.node.parse().ok()).collect())
                    .unwrap_or_default()
            }
            Ok(channel) => linkage_core::channel::audience(topology, origin, &channel).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let mut codes: Vec<String> = codes.into_iter().filter(|c| *c != origin).map(|c| c.to_string()).collect();
        codes.sort();
        codes.dedup();
        Ok(codes)
    }

    /// The province's score rules held here.
    pub(super) fn score_rules(&self) -> Result<views::score::Rules, Status> {
        Ok(views::score::Rules::new(self.all(|r: &pb::ScoreRule| r.known)?))
    }

    /// A notice with what each recipient did, judged at this node's clock:
    /// a recipient is overdue when the notice expects returns, its due date
    /// has passed and no reply of the expected kind came from it.
    pub(super) fn notice_state(&self, notice: pb::Notice) -> Result<pb::NoticeState, Status> {
        let acknowledged: Vec<String> = notice.acknowledgements.iter().map(|a| a.node.clone()).collect();
        let done: BTreeSet<&String> = acknowledged.iter().collect();
        let recipients = self.recipients(&notice)?;
        let not_acknowledged = if notice.requires_acknowledgement {
            recipients.iter().filter(|c| !done.contains(c)).cloned().collect()
        } else {
            Vec::new()
        };
        let expected = match pb::NoticeReturn::try_from(notice.expects).unwrap_or_default() {
            pb::NoticeReturn::Unspecified => None,
            pb::NoticeReturn::Topics => Some("topic_proposed"),
            pb::NoticeReturn::Items => Some("info_reported"),
            pb::NoticeReturn::Reports => Some("research_completed"),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let past_due = notice.due.is_some_and(|d| d.seconds <= now);
        // Each recipient's returns of the expected kind: (count, earliest hlc).
        let mut returned: BTreeMap<&str, (u32, u64)> = BTreeMap::new();
        for r in notice.replies.iter().filter(|r| Some(r.kind.as_str()) == expected) {
            let entry = returned.entry(r.origin.as_str()).or_insert((0, r.hlc));
            *entry = (entry.0 + 1, entry.1.min(r.hlc));
        }
        let states = recipients
            .iter()
            .map(|node| {
                let (returns, first) = returned.get(node.as_str()).copied().unwrap_or((0, u64::MAX));
                // A reminder to all concerns those without a return by then.
                let reminders = notice
                    .reminders
                    .iter()
                    .filter(|r| match r.to.is_empty() {
                        true => first > r.hlc,
                        false => r.to.binary_search(node).is_ok(),
                    })
                    .count() as u32;
                pb::RecipientState {
                    node: node.clone(),
                    acknowledged: done.contains(node),
                    returns,
                    overdue: expected.is_some() && past_due && returns == 0,
                    reminders,
                }
            })
            .collect();
        Ok(pb::NoticeState { notice: Some(notice), acknowledged, not_acknowledged, recipients: states })
    }

    /// Follows the log from `from`, sending a change for each event of `flow`.
    pub(super) fn watch<T: Send + 'static>(
        &self,
        from: u64,
        flow: Flow,
        wrap: fn(pb::ViewChange) -> T,
    ) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>> {
        follow(&self.node, from.saturating_add(1), move |event: &StoredEvent| {
            let decoded = pb::Event::decode(event.raw.as_ref()).ok()?;
            let kind = decoded.payload.as_ref()?.kind.as_ref()?;
            let id = views::norm(&decoded.id);
            let (event_flow, _, mut entity_ids) = views::touches(kind, &id);
            // A topic or report that answers a notice changes 畅通 too.
            let replied = views::replied_notices(&decoded);
            let event_flow = match (event_flow, flow, replied.is_empty()) {
                (Flow::Exchange, _, false) => {
                    entity_ids.extend(replied);
                    Flow::Exchange
                }
                (_, Flow::Exchange, false) => {
                    entity_ids = replied;
                    Flow::Exchange
                }
                (event_flow, _, _) => event_flow,
            };
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

pub(super) fn event_id(id: &str) -> Result<String, Status> {
    linkage_core::validate::parse_event_id(id)
        .map(|b| linkage_core::validate::format_event_id(&b))
        .ok_or_else(|| convert::invalid("id", "must be an event id (a UUID)"))
}

pub(super) fn optional_code(field: &str, code: &str) -> Result<(), Status> {
    if !code.is_empty() {
        code.parse::<NodeCode>().map_err(|e| convert::invalid(field, format!("{e}")))?;
    }
    Ok(())
}

pub(super) fn check_enum<E: TryFrom<i32>>(field: &str, value: i32) -> Result<(), Status> {
    E::try_from(value).map(drop).map_err(|_| convert::invalid(field, format!("{value} is not a known value")))
}

/// A query's timestamp `field`, checked as `Append` checks one, in ms.
pub(super) fn given_millis(field: &str, ts: &Option<prost_types::Timestamp>) -> Result<Option<i64>, Status> {
    if let Some(t) = ts {
        linkage_core::validate::check_timestamp(field, t).map_err(|e| convert::append_error(&e))?;
    }
    Ok(millis(ts))
}

/// A query's period `[start, end)` in ms, each end open when unset.
pub(super) fn period(
    start: &Option<prost_types::Timestamp>,
    end: &Option<prost_types::Timestamp>,
) -> Result<(Option<i64>, Option<i64>), Status> {
    let (start, end) = (given_millis("start", start)?, given_millis("end", end)?);
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(convert::invalid("end", "must be after start"));
        }
    }
    Ok((start, end))
}

/// A group id, checked before any lookup: an error never echoes it.
pub(super) fn group_id(field: &str, id: &str) -> Result<String, Status> {
    if id.is_empty() {
        return Err(convert::invalid(field, "is required"));
    }
    id.parse::<linkage_core::channel::GroupId>().map(|_| id.to_owned()).map_err(|why| convert::invalid(field, why))
}

pub(super) fn millis(ts: &Option<prost_types::Timestamp>) -> Option<i64> {
    ts.as_ref().map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

pub(super) type Watch<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;
