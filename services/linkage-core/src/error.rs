//! Typed errors of the append path. Each names the offending field with the
//! request's own path (`requests[3].payload.topic_proposed.title`), so the
//! node can map it to a gRPC status with a `BadRequest` detail.

/// One bad field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `payload.topic_proposed.year`.
    pub field: String,
    /// What is wrong with it, as a sentence fragment.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        FieldViolation { field: field.into(), description: description.into() }
    }
}

/// Why an append was refused. Nothing is written in any of these cases.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// Malformed input: `INVALID_ARGUMENT`.
    #[error("invalid {}: {}", .0.field, .0.description)]
    Invalid(FieldViolation),
    /// Well-formed but not allowed for this node (a county sending `down`):
    /// `FAILED_PRECONDITION`.
    #[error("not allowed: {}: {}", .0.field, .0.description)]
    Precondition(FieldViolation),
    /// An idempotency key reused with different content: `ALREADY_EXISTS`.
    #[error("conflict: {}: {}", .0.field, .0.description)]
    Conflict(FieldViolation),
}

impl AppendError {
    /// The violation, whatever the kind.
    pub fn violation(&self) -> &FieldViolation {
        match self {
            AppendError::Invalid(v) | AppendError::Precondition(v) | AppendError::Conflict(v) => v,
        }
    }

    /// The same error with `prefix` put in front of the field path, for
    /// errors inside a batch (`requests[3].`).
    pub fn within(self, prefix: &str) -> AppendError {
        let wrap = |v: FieldViolation| FieldViolation { field: format!("{prefix}{}", v.field), ..v };
        match self {
            AppendError::Invalid(v) => AppendError::Invalid(wrap(v)),
            AppendError::Precondition(v) => AppendError::Precondition(wrap(v)),
            AppendError::Conflict(v) => AppendError::Conflict(wrap(v)),
        }
    }
}

/// Shorthand for an `INVALID_ARGUMENT` error.
pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> AppendError {
    AppendError::Invalid(FieldViolation::new(field, description))
}
