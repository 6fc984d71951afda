//! `linkage.v1.EventLogService`: append, get, read and subscribe.

use crate::access::{Caller, Role};
use crate::convert;
use crate::paging;
use futures::Stream;
use linkage_core::limits::BATCH_EVENTS_MAX;
use linkage_core::pb::payload::Kind;
use linkage_core::validate::{parse_event_id, validate_append, ValidAppend};
use linkage_core::{pb, Channel, NodeCode, Topology};
use linkage_proto::v1::event_log_service_server::EventLogService;
use linkage_store::{Appender, Store, StoredEvent};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Bytes of events in one read page: stays under the 4 MiB that tonic
/// clients accept by default.
pub const PAGE_BYTES_MAX: usize = 3 * 1024 * 1024;

/// Events a subscription buffers ahead of a slow client before it waits.
pub const SUBSCRIBE_BUFFER_EVENTS: usize = 256;

/// Histogram of the seconds the node took to answer an `Append` or an
/// `AppendBatch`, from the request decoded to the answer ready, labelled
/// `rpc` and `code` (the gRPC status: `OK`, `INVALID_ARGUMENT`, …). Beside
/// [`linkage_store::LOG_SYNC_SECONDS`] it tells a slow disk from a busy
/// node.
pub const APPEND_SECONDS: &str = "linkage_append_seconds";

/// Records one answered append in [`APPEND_SECONDS`].
fn observe_append<T>(rpc: &'static str, started: Instant, answer: &Result<T, Status>) {
    let code = answer.as_ref().map_or_else(|status| status.code(), |_| tonic::Code::Ok);
    metrics::histogram!(APPEND_SECONDS, "rpc" => rpc, "code" => code_label(code))
        .record(started.elapsed().as_secs_f64());
}

/// A status code as gRPC's specification spells it.
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// What the handlers share.
pub struct Node {
    /// The province → city → county tree.
    pub topology: Arc<Topology>,
    /// This node.
    pub origin: NodeCode,
    /// The log.
    pub store: Store,
    /// The single writer.
    pub appender: Appender,
    /// Replication over NATS; `None` for a lone node.
    pub replicator: Option<linkage_replication::Replicator>,
    /// Documents' bytes beside the log.
    pub documents: linkage_replication::Documents,
    /// The keys that seal this committee's members' personal fields.
    pub member_keys: crate::member_keys::MemberKeys,
    /// Cancelled on SIGTERM: ends subscriptions so the server can drain.
    pub shutdown: CancellationToken,
}

/// The service.
#[derive(Clone)]
pub struct EventLog {
    node: Arc<Node>,
}

impl EventLog {
    /// A service over `node`.
    pub fn new(node: Arc<Node>) -> EventLog {
        EventLog { node }
    }

    /// Members' personal fields never reach the log in clear: a
    /// registration or update is signed with them sealed under the member's
    /// key (`member_keys`); an update seals the fields it gives over those
    /// it keeps. An erasure destroys the key before the event is signed, so
    /// that no failure after it leaves the fields readable. Runs last, once
    /// every request of the call passed every check; a retry of a recorded
    /// idempotency key is answered from its record, so it seals and erases
    /// nothing.
    fn seal_personal(&self, valid: &mut ValidAppend, prefix: &str) -> Result<(), Status> {
        let keys = &self.node.member_keys;
        let failed = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::PermissionDenied => Status::failed_precondition(format!("{prefix}member_id: {e}")),
            _ => Status::internal(format!("{prefix}the member's key: {e}")),
        };
        let member = matches!(
            valid.payload.kind,
            Some(Kind::MemberRegistered(_) | Kind::MemberUpdated(_) | Kind::MemberErased(_))
        );
        if !member {
            return Ok(());
        }
        let retry = match &valid.idempotency {
            Some(keyed) => self.node.store.key_record(&keyed.key).map_err(convert::storage)?.is_some(),
            None => false,
        };
        match valid.payload.kind.as_mut() {
            Some(Kind::MemberRegistered(m)) => {
                let personal = m.personal.take().unwrap_or_default();
                if !retry {
                    m.sealed = Some(keys.seal(&m.member_id, &personal).map_err(failed)?);
                }
            }
            Some(Kind::MemberUpdated(m)) => {
                let given = m.personal.take();
                if !retry {
                    let held: Option<pb::CommitteeMember> =
                        self.node.store.view(&m.member_id).map_err(convert::storage)?;
                    let kept = held.and_then(|h| h.sealed);
                    m.sealed = match given {
                        None => kept,
                        Some(given) => {
                            let old = match &kept {
                                Some(sealed) => keys.unseal(&m.member_id, sealed).map_err(failed)?,
                                None => None,
                            };
                            Some(keys.seal(&m.member_id, &overlay(old.unwrap_or_default(), given)).map_err(failed)?)
                        }
                    };
                }
            }
            Some(Kind::MemberErased(m)) if !retry => keys.erase(&m.member_id).map_err(failed)?,
            _ => {}
        }
        Ok(())
    }

    /// Validates one request, including what depends on replication:
    /// appends wait until the node has checked its own streams with its
    /// peers, and a group channel needs membership.
    /// `index` is the request's place in a batch, named in a refusal's
    /// field (`requests[3].channel`); the prefix is built only then.
    /// `appended_by` names the caller, kept beside the event in the log.
    fn validate(
        &self,
        request: pb::AppendRequest,
        index: Option<usize>,
        appended_by: Option<&str>,
    ) -> Result<ValidAppend, Status> {
        let prefix = || index.map_or_else(String::new, |i| format!("requests[{i}]."));
        let mut request = request;
        crate::documents::fill_and_check(&self.node.documents, &mut request, &prefix())?;
        let mut valid = validate_append(&self.node.topology, self.node.origin, request)
            .map_err(|e| convert::append_error(&e.within(&prefix())))?;
        valid.appended_by = appended_by.map(str::to_owned);
        // Who may say what, and a step must follow what it depends on, as
        // far as this node sees (which also adds the citations a claim's
        // authority rests on) —
        // unless it is a retry: a key already recorded is answered (or
        // refused as a conflict) by the writer, whatever happened since.
        let retry = match &valid.idempotency {
            Some(keyed) => self.node.store.key_record(&keyed.key).map_err(convert::storage)?.is_some(),
            None => false,
        };
        if !retry {
            let mut views = self.node.store.view_reader();
            let checked = linkage_core::views::check_append(&mut valid, self.node.origin, &mut views);
            if let Some(e) = views.error() {
                return Err(convert::storage(e));
            }
            checked.map_err(|e| convert::append_error(&e.within(&prefix())))?;
        }
        if let Some(replicator) = &self.node.replicator {
            if !replicator.restored() {
                return Err(Status::unavailable(
                    "this node is still checking with its peers that it holds all of its own earlier events; retry shortly",
                ));
            }
            if let Channel::Group(group) = &valid.channel {
                if !replicator.is_member(group, self.node.origin) {
                    let violation = linkage_core::FieldViolation::new(
                        format!("{}channel", prefix()),
                        format!("{} is not a member of group {}", self.node.origin, group.as_str()),
                    );
                    return Err(convert::field_status(tonic::Code::FailedPrecondition, &violation));
                }
            }
        }
        Ok(valid)
    }

    /// `Append`, answered.
    async fn append_one(&self, request: pb::AppendRequest, by: Option<&str>) -> Result<pb::AppendResponse, Status> {
        let mut valid = self.validate(request, None, by)?;
        self.seal_personal(&mut valid, "")?;
        let mut appended =
            self.node.appender.append(vec![valid]).await.map_err(|f| convert::append_failure(f, false))?;
        if let Some(replicator) = &self.node.replicator {
            replicator.await_membership(&appended).await;
        }
        let one = appended.pop().ok_or_else(|| Status::internal("the writer answered no event"))?;
        convert::appended(one)
    }

    /// `AppendBatch`, answered.
    async fn append_many(
        &self,
        request: pb::AppendBatchRequest,
        by: Option<&str>,
    ) -> Result<pb::AppendBatchResponse, Status> {
        let pb::AppendBatchRequest { requests, view } = request;
        let basic = match pb::EventView::try_from(view) {
            Ok(pb::EventView::Basic) => true,
            Ok(pb::EventView::Unspecified | pb::EventView::Full) => false,
            Err(_) => return Err(convert::invalid("view", format!("{view} is not an EventView"))),
        };
        if requests.is_empty() || requests.len() > BATCH_EVENTS_MAX {
            return Err(convert::invalid("requests", format!("must hold 1..={BATCH_EVENTS_MAX} requests")));
        }
        let mut valid = requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.validate(r, Some(i), by))
            .collect::<Result<Vec<_>, _>>()?;
        one_event_per_member(&valid)?;
        for (i, v) in valid.iter_mut().enumerate() {
            self.seal_personal(v, &format!("requests[{i}]."))?;
        }
        let appended = self.node.appender.append(valid).await.map_err(|f| convert::append_failure(f, true))?;
        if let Some(replicator) = &self.node.replicator {
            replicator.await_membership(&appended).await;
        }
        let responses = if basic {
            appended.into_iter().map(convert::appended_basic).collect::<Result<_, Status>>()?
        } else {
            appended.into_iter().map(convert::appended).collect::<Result<_, Status>>()?
        };
        Ok(pb::AppendBatchResponse { responses })
    }
}

/// A batch changes each member at most once: each request is checked
/// against the views before the batch, so two (an erasure and an update)
/// would each pass and undo what the other means.
fn one_event_per_member(batch: &[ValidAppend]) -> Result<(), Status> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, v) in batch.iter().enumerate() {
        let id = match v.payload.kind.as_ref() {
            Some(Kind::MemberRegistered(m)) => &m.member_id,
            Some(Kind::MemberUpdated(m)) => &m.member_id,
            Some(Kind::MemberLeft(m)) => &m.member_id,
            Some(Kind::MemberErased(m)) => &m.member_id,
            _ => continue,
        };
        if !seen.insert(id.as_str()) {
            let field = format!("requests[{i}].payload");
            return Err(convert::invalid(
                &field,
                "a batch changes each member once; send this member's changes one at a time",
            ));
        }
    }
    Ok(())
}

/// The personal fields `given` over those `old` held: an empty field keeps
/// the old value.
fn overlay(old: pb::PersonalFields, given: pb::PersonalFields) -> pb::PersonalFields {
    let pick = |new: String, old: String| if new.is_empty() { old } else { new };
    pb::PersonalFields {
        name: pick(given.name, old.name),
        gender: pick(given.gender, old.gender),
        workplace: pick(given.workplace, old.workplace),
        phone: pick(given.phone, old.phone),
    }
}

/// Cuts a page at [`PAGE_BYTES_MAX`], keeping at least one event.
fn cap_bytes(events: &mut Vec<StoredEvent>) -> bool {
    let mut bytes = 0;
    for (i, e) in events.iter().enumerate() {
        bytes += e.raw.len();
        if bytes > PAGE_BYTES_MAX && i > 0 {
            events.truncate(i);
            return true;
        }
    }
    false
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventLogService for EventLog {
    async fn append(&self, request: Request<pb::AppendRequest>) -> Result<Response<pb::AppendResponse>, Status> {
        let started = Instant::now();
        let by = appended_by(&request);
        let answer = self.append_one(request.into_inner(), by.as_deref()).await;
        observe_append("Append", started, &answer);
        answer.map(Response::new)
    }

    async fn append_batch(
        &self,
        request: Request<pb::AppendBatchRequest>,
    ) -> Result<Response<pb::AppendBatchResponse>, Status> {
        let started = Instant::now();
        let by = appended_by(&request);
        let answer = self.append_many(request.into_inner(), by.as_deref()).await;
        observe_append("AppendBatch", started, &answer);
        answer.map(Response::new)
    }

    async fn get(&self, request: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let audit = audits(&request);
        let id = request.into_inner().id;
        let bytes = parse_event_id(&id).ok_or_else(|| convert::invalid("id", "must be an event id (a UUID)"))?;
        let event = self.node.store.get_by_id(&bytes).map_err(convert::storage)?;
        let event = event.ok_or_else(|| Status::not_found(format!("no event with id {id}")))?;
        Ok(Response::new(pb::GetResponse { event: Some(convert::stored(&event, audit)?) }))
    }

    async fn read(&self, request: Request<pb::ReadRequest>) -> Result<Response<pb::ReadResponse>, Status> {
        let audit = audits(&request);
        let request = request.into_inner();
        let limit = paging::page_size(request.page_size)?;
        let store = &self.node.store;
        let (mut events, scope, next_of): (Vec<StoredEvent>, String, Vec<u64>) = match request.range {
            None => return Err(convert::invalid("range", "set stream or from_position")),
            Some(pb::read_request::Range::FromPosition(from)) => {
                let scope = format!("p{from}");
                let from = paging::numeric_cursor(&request.page_token, &scope)?.unwrap_or(from.max(1));
                let events = store.read_positions(from, limit).map_err(convert::storage)?;
                let next = events.iter().map(|e| e.position + 1).collect();
                (events, scope, next)
            }
            Some(pb::read_request::Range::Stream(range)) => {
                let origin: NodeCode =
                    range.origin.parse().map_err(|e| convert::invalid("stream.origin", format!("{e}")))?;
                let channel: Channel =
                    range.channel.parse().map_err(|why: String| convert::invalid("stream.channel", why))?;
                let channel = channel.to_string();
                let scope = format!("s{}.{origin}.{channel}", range.from_seq);
                let from = paging::numeric_cursor(&request.page_token, &scope)?.unwrap_or(range.from_seq.max(1));
                let pairs = store.read_stream(origin, &channel, from, limit).map_err(convert::storage)?;
                let next = pairs.iter().map(|(seq, _)| seq + 1).collect();
                (pairs.into_iter().map(|(_, e)| e).collect(), scope, next)
            }
        };
        let cut = cap_bytes(&mut events);
        let next_page_token = if (cut || events.len() == limit) && !events.is_empty() {
            paging::token(&next_of[events.len() - 1].to_string(), &scope)
        } else {
            String::new()
        };
        let events = events.iter().map(|e| convert::stored(e, audit)).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::ReadResponse { events, next_page_token }))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(&self, request: Request<pb::SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let audit = audits(&request);
        let from = request.into_inner().from_position.max(1);
        Ok(Response::new(follow(&self.node, from, move |event: &StoredEvent| {
            Some(convert::stored(event, audit).map(|e| pb::SubscribeResponse { event: Some(e) }))
        })))
    }
}

/// The name the gate gave a request's caller, kept with what it appends.
fn appended_by<T>(request: &Request<T>) -> Option<String> {
    Caller::of(request).map(|caller| caller.name().to_owned())
}

/// Whether a request's caller sees who appended each event: operators.
fn audits<T>(request: &Request<T>) -> bool {
    Caller::of(request).is_some_and(|caller| caller.has(Role::Operator))
}

/// Follows the log from position `from`: history first, then each new
/// durable event, with no gap between the two. `map` turns an event into
/// an item to send, or `None` to skip it. Ends on shutdown (UNAVAILABLE) or
/// when the client goes away.
pub fn follow<T: Send + 'static>(
    node: &Node,
    from: u64,
    map: impl Fn(&StoredEvent) -> Option<Result<T, Status>> + Send + 'static,
) -> Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>> {
    let mut next = from.max(1);
    let store = node.store.clone();
    let shutdown = node.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(SUBSCRIBE_BUFFER_EVENTS);
    tokio::spawn(async move {
        let mut durable = store.watch_position();
        loop {
            // Mark the current version seen before reading, so a commit
            // that lands after the read wakes the wait below.
            durable.borrow_and_update();
            let page = match store.read_positions(next, SUBSCRIBE_BUFFER_EVENTS) {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.send(Err(convert::storage(e))).await;
                    return;
                }
            };
            if page.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("the node is shutting down"))).await;
                        return;
                    }
                    _ = tx.closed() => return,
                    changed = durable.changed() => if changed.is_err() { return },
                }
                continue;
            }
            for event in &page {
                next = event.position + 1;
                let Some(item) = map(event) else { continue };
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
