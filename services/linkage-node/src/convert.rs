//! Edges between typed errors, stored bytes and gRPC.

use linkage_core::{pb, AppendError, FieldViolation};
use linkage_store::{AppendFailure, StoreError, StoredEvent};
use prost::Message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A status with a `BadRequest` detail naming the field.
pub fn field_status(code: Code, violation: &FieldViolation) -> Status {
    Status::with_error_details(
        code,
        format!("{}: {}", violation.field, violation.description),
        ErrorDetails::with_bad_request_violation(violation.field.clone(), violation.description.clone()),
    )
}

/// `INVALID_ARGUMENT` for `field`.
pub fn invalid(field: &str, description: impl Into<String>) -> Status {
    field_status(Code::InvalidArgument, &FieldViolation::new(field, description))
}

/// The status of a refused append.
pub fn append_error(error: &AppendError) -> Status {
    let code = match error {
        AppendError::Invalid(_) => Code::InvalidArgument,
        AppendError::Precondition(_) => Code::FailedPrecondition,
        AppendError::Conflict(_) => Code::AlreadyExists,
    };
    field_status(code, error.violation())
}

/// The status of an append that was not acknowledged. `batch` says whether
/// field paths start with `requests[i].`.
pub fn append_failure(failure: AppendFailure, batch: bool) -> Status {
    match failure {
        AppendFailure::Rejected { index, error } if batch => {
            append_error(&error.within(&format!("requests[{index}].")))
        }
        AppendFailure::Rejected { error, .. } => append_error(&error),
        AppendFailure::Unavailable(why) => Status::unavailable(why),
    }
}

/// A storage error on a read: the client may retry.
pub fn storage(error: StoreError) -> Status {
    tracing::error!(%error, "storage error");
    Status::unavailable(format!("storage: {error}"))
}

/// An appended event for a response, decoded by the commit that wrote it
/// or else from its bytes.
pub fn appended(appended: linkage_store::Appended) -> Result<pb::AppendResponse, Status> {
    let event = match appended.decoded {
        Some(decoded) => {
            pb::StoredEvent { position: appended.event.position, event: Some(decoded), ..Default::default() }
        }
        None => stored(&appended.event, false)?,
    };
    Ok(pb::AppendResponse { event: Some(event), deduplicated: appended.deduplicated })
}

/// An appended event for an `EVENT_VIEW_BASIC` response: its place and
/// envelope without refs, prev_hash, payload or signature.
pub fn appended_basic(appended: linkage_store::Appended) -> Result<pb::AppendResponse, Status> {
    let position = appended.event.position;
    let deduplicated = appended.deduplicated;
    let full = match appended.decoded {
        Some(decoded) => decoded,
        None => stored(&appended.event, false)?.event.unwrap_or_default(),
    };
    let basic = pb::Event {
        id: full.id,
        origin: full.origin,
        channel: full.channel,
        seq: full.seq,
        hlc: full.hlc,
        occurred_at: full.occurred_at,
        ..pb::Event::default()
    };
    let event = pb::StoredEvent { position, event: Some(basic), ..Default::default() };
    Ok(pb::AppendResponse { event: Some(event), deduplicated })
}

/// Decodes stored bytes for a response, with the principal that appended
/// the event when `audit` (the caller is an operator). The bytes were
/// verified or produced by this node, so a decode failure means corruption.
pub fn stored(event: &StoredEvent, audit: bool) -> Result<pb::StoredEvent, Status> {
    let decoded = pb::Event::decode(event.raw.as_ref())
        .map_err(|e| Status::data_loss(format!("event at position {} does not decode: {e}", event.position)))?;
    let appended_by = if audit { event.appended_by.clone().unwrap_or_default() } else { String::new() };
    Ok(pb::StoredEvent { position: event.position, event: Some(decoded), appended_by })
}
