//! The lifecycle of a proposal at one level, checked when a node appends
//! (`super::check_lifecycle`): a level reviews only what reached it and
//! only once, assigns only what it filed, records answers only from the
//! units it assigned, and a new answer follows a 不满意 rating. Who may
//! handle a proposal at all is a rule (`crate::rules`).

use super::levels::level_name;
use super::proposals::derive;
use super::{load, norm, Records};
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::pb::ProposalState as P;
use crate::proposals::{timestamp_ms, ANSWER_DAYS_MAX};
use crate::NodeCode;

fn refuse(field: String, description: impl Into<String>) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, description))
}

/// A proposal held here, or the refusal naming `field`.
fn held(records: &mut impl Records, field: &str, id: &str) -> Result<pb::Proposal, AppendError> {
    load(records, &norm(id))
        .filter(|p: &pb::Proposal| p.known)
        .ok_or_else(|| refuse(field.into(), "no proposal with this id is held here"))
}

/// The event id of `handler`'s latest answer to `p`, by stamp.
pub(super) fn latest_answer(p: &pb::Proposal, handler: &str) -> Option<String> {
    let answered = pb::ProposalStep::Answered as i32;
    p.trail.iter().rev().find(|e| e.step == answered && e.origin == handler).map(|e| e.event_id.clone())
}

/// An answer is due at most 6 months after the level's first assignment.
fn within_six_months(
    r: &pb::ProposalHandling,
    due: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<(), AppendError> {
    let (Some(due), first) = (due, r.first_assigned_hlc) else { return Ok(()) };
    if first == 0 {
        return Ok(());
    }
    let latest = crate::hlc::physical_ms(first) as i64 + ANSWER_DAYS_MAX * 86_400_000;
    if timestamp_ms(due) > latest {
        return Err(refuse(field.into(), "an answer is due at most 6 months after the first assignment"));
    }
    Ok(())
}

/// The proposal a handling event handles, refused unless held here:
/// checked before who may handle it, so that a proposal nobody holds is
/// named as such.
pub(super) fn check_held(kind: &Kind, records: &mut impl Records) -> Result<(), AppendError> {
    if let Some((field, id)) = crate::proposals::handled(kind) {
        held(records, field, id)?;
    }
    if let Kind::ProposalReviewed(m) = kind {
        if !m.into_id.is_empty() {
            held(records, "payload.proposal_reviewed.into_id", &m.into_id)?;
        }
    }
    Ok(())
}

/// Checks a proposal's submission and handling step `kind` by `origin`
/// against the proposal as held here.
pub fn check_proposal(kind: &Kind, origin: NodeCode, records: &mut impl Records) -> Result<(), AppendError> {
    let Some((field, id)) = crate::proposals::handled(kind) else {
        return super::check_member(kind, origin, records);
    };
    let prefix = field.strip_suffix(".proposal_id").unwrap_or(field);
    let field = field.to_string();
    let p = held(records, &field, id)?;
    let level = super::levels::level_of(origin.as_str());
    let name = level_name(level);
    let rows = derive(&p.origin, &p.trail).1;
    let at = rows.iter().find(|r| r.level == level as i32).cloned();
    let state = at.as_ref().map_or(P::Unspecified, |r| P::try_from(r.state).unwrap_or_default());
    let reached = || {
        at.clone().ok_or_else(|| {
            refuse(
                field.clone(),
                format!("the proposal has not reached the {name} level; a level handles what it holds"),
            )
        })
    };
    let assigned = || {
        let r = reached()?;
        if r.assigned_hlc == 0 {
            return Err(refuse(field.clone(), format!("the {name} level has not assigned this proposal to a unit")));
        }
        Ok(r)
    };
    // Refused once the level has an answer standing.
    let answered_already = |state: P, why: &str| {
        if matches!(state, P::Answered | P::Concluded) {
            return Err(refuse(field.clone(), format!("the {name} level has an answer to this proposal; {why}")));
        }
        Ok(())
    };
    let unit_of = |r: &pb::ProposalHandling, unit: &str, f: &str| {
        if r.lead_unit == unit || r.co_units.iter().any(|u| u == unit) {
            Ok(())
        } else {
            Err(refuse(
                format!("{prefix}.{f}"),
                format!("{unit} is not a unit this proposal is assigned to at the {name} level"),
            ))
        }
    };
    match kind {
        Kind::ProposalCoSigned(_) => {
            if p.origin == origin.as_str() {
                return Err(refuse(field, "a committee does not co-sign its own proposal"));
            }
            if p.co_signers.iter().any(|c| c == origin.as_str()) {
                return Err(refuse(field, format!("{origin} has already co-signed this proposal")));
            }
            super::check_member(kind, origin, records)
        }
        Kind::ProposalSentUp(_) | Kind::ProposalReviewed(_) => {
            reached()?;
            if state != P::Received {
                return Err(refuse(field, format!("the {name} level has already sent up or reviewed this proposal")));
            }
            if let Kind::ProposalReviewed(m) = kind {
                if !m.into_id.is_empty() {
                    let into_field = format!("{prefix}.into_id");
                    let into = held(records, &into_field, &m.into_id)?;
                    let filed = derive(&into.origin, &into.trail)
                        .1
                        .iter()
                        .any(|r| r.level == level as i32 && r.state >= P::Filed as i32 && r.merged_into.is_empty());
                    if !filed {
                        return Err(refuse(
                            into_field,
                            format!("is not filed at the {name} level; a proposal is merged into one filed there"),
                        ));
                    }
                }
            }
            Ok(())
        }
        Kind::ProposalAssigned(m) => {
            let r = reached()?;
            within_six_months(&r, m.due.as_ref(), &format!("{prefix}.due"))?;
            match state {
                P::Filed | P::Assigned | P::Rehandling => Ok(()),
                P::Answered | P::Concluded => Err(refuse(
                    field,
                    format!(
                        "the {name} level has an answer to this proposal; it is reassigned only after a 不满意 rating"
                    ),
                )),
                _ => Err(refuse(field, format!("the {name} level has not filed this proposal"))),
            }
        }
        Kind::ProposalObjected(m) => {
            let r = assigned()?;
            unit_of(&r, &m.unit, "unit")?;
            answered_already(state, "an objection comes before the answer")
        }
        Kind::ProposalContacted(m) => {
            let r = assigned()?;
            unit_of(&r, &m.unit, "unit")
        }
        Kind::ProposalReminded(m) => {
            let r = assigned()?;
            unit_of(&r, &m.unit, "unit")?;
            if matches!(state, P::Answered | P::Concluded) {
                return Err(refuse(
                    field,
                    format!("the {name} level has an answer to this proposal; nothing to remind"),
                ));
            }
            Ok(())
        }
        Kind::ProposalDeadlineExtended(m) => {
            let r = assigned()?;
            let due_field = format!("{prefix}.due");
            let new = m.due.as_ref().map_or(0, timestamp_ms);
            if r.due.as_ref().is_some_and(|d| new <= timestamp_ms(d)) {
                return Err(refuse(due_field, "must be later than the deadline in force"));
            }
            within_six_months(&r, m.due.as_ref(), &due_field)?;
            answered_already(state, "an extension comes before the answer")
        }
        Kind::ProposalAnswered(m) => {
            let r = assigned()?;
            unit_of(&r, &m.unit, "unit")?;
            if matches!(state, P::Answered | P::Concluded) {
                return Err(refuse(
                    field,
                    format!("the {name} level has recorded an answer; a new answer follows a 不满意 rating"),
                ));
            }
            Ok(())
        }
        Kind::ProposalSupervised(_) => {
            let r = reached()?;
            if r.state < P::Filed as i32 || !r.key {
                return Err(refuse(field, format!("is not a key proposal (重点提案) filed at the {name} level")));
            }
            Ok(())
        }
        Kind::ProposalFollowedUp(_) => {
            let r = assigned()?;
            if r.class != pb::AnswerClass::B as i32 {
                return Err(refuse(field, "a follow-up (跟踪) is of a B answer: being solved or planned"));
            }
            Ok(())
        }
        Kind::ProposalRated(m) => {
            let handler_field = format!("{prefix}.handler");
            let Some(r) = rows.iter().find(|r| r.node == m.handler && r.answers > 0) else {
                return Err(refuse(handler_field, format!("{} has recorded no answer to this proposal", m.handler)));
            };
            if r.state != P::Answered as i32 {
                return Err(refuse(handler_field, "its latest answer is rated already"));
            }
            if !m.answer_id.is_empty() && latest_answer(&p, &m.handler) != Some(norm(&m.answer_id)) {
                return Err(refuse(format!("{prefix}.answer_id"), format!("is not {}'s latest answer", m.handler)));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
