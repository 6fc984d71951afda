//! Lifecycle rules checked when a node appends: a step must follow the steps
//! it depends on, as far as this node can see. Replicated events are never
//! refused here — another node accepted them against what it held, and the
//! folds keep every view moving forward whatever order events arrive in.

use super::{load, norm, Records};
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::NodeCode;

fn refuse(field: String, description: impl Into<String>) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, description))
}

/// Checks that `kind`, appended by `origin`, follows the lifecycle of the
/// records it refers to. Errors are `FAILED_PRECONDITION` naming the field.
pub fn check_lifecycle(kind: &Kind, origin: NodeCode, records: &mut impl Records) -> Result<(), AppendError> {
    use Kind::*;
    match kind {
        TopicCommented(m) => {
            let topic = open_topic(records, "payload.topic_commented.topic_id", &m.topic_id)?;
            if topic.status == pb::TopicStatus::Planned as i32 {
                return Err(refuse(
                    "payload.topic_commented.topic_id".into(),
                    "the topic is already in a published plan; comments come before the plan is final",
                ));
            }
            Ok(())
        }
        TopicResponded(m) => open_topic(records, "payload.topic_responded.topic_id", &m.topic_id).map(drop),
        TopicLinked(m) => {
            for (i, id) in m.topic_ids.iter().enumerate() {
                open_topic(records, &format!("payload.topic_linked.topic_ids[{i}]"), id)?;
            }
            Ok(())
        }
        PlanPublished(m) => {
            for (i, id) in m.topic_ids.iter().enumerate() {
                let field = format!("payload.plan_published.topic_ids[{i}]");
                let t = topic(records, &field, id)?;
                if t.origin != origin.as_str() {
                    return Err(refuse(field, format!("a plan lists its own topics; this one is {}'s", t.origin)));
                }
                if t.status == pb::TopicStatus::Closed as i32 {
                    return Err(refuse(field, "the topic is closed (withdrawn, merged or not selected)"));
                }
            }
            Ok(())
        }
        TopicClosed(m) => {
            let field = "payload.topic_closed.topic_id";
            // Only its proposer: an authority rule (`views::authority_breach`).
            let t = topic(records, field, &m.topic_id)?;
            if t.status == pb::TopicStatus::Planned as i32 {
                return Err(refuse(field.into(), "the topic is in a published plan; it is not closed"));
            }
            if t.status == pb::TopicStatus::Closed as i32 {
                return Err(refuse(field.into(), "the topic is closed already"));
            }
            if !m.into_topic_id.is_empty() {
                let into_field = "payload.topic_closed.into_topic_id";
                let into = topic(records, into_field, &m.into_topic_id)?;
                if into.id == t.id {
                    return Err(refuse(into_field.into(), "a topic is not merged into itself"));
                }
            }
            Ok(())
        }
        GroupFormed(m) => {
            if known(load(records, &m.group_id), |g: &pb::Group| g.known).is_some() {
                return Err(refuse(
                    "payload.group_formed.group_id".into(),
                    "a group with this id is already held here; choose another id",
                ));
            }
            Ok(())
        }
        GroupJoined(m) => membership(records, "payload.group_joined", &m.group_id),
        GroupLeft(m) => membership(records, "payload.group_left", &m.group_id),
        TaskAssigned(m) => {
            let g = group(records, "payload.task_assigned.group_id", &m.group_id)?;
            if !g.consolidated_reports.is_empty() {
                return Err(refuse(
                    "payload.task_assigned.group_id".into(),
                    "the group has submitted its consolidated report; no new sub-topics",
                ));
            }
            // A re-assignment keeps the due date: moving it is an event of
            // its own, with a reason, that everyone sees.
            if let Some(t) = g.tasks.iter().find(|t| t.task_id == m.task_id && t.known) {
                if t.due != m.due {
                    let due = t.due.map_or("none".into(), |d| d.to_string());
                    return Err(refuse(
                        "payload.task_assigned.due".into(),
                        format!(
                            "a re-assignment keeps the sub-topic's due date ({due}); move it with task_due_changed"
                        ),
                    ));
                }
            }
            Ok(())
        }
        // Only the lead: an authority rule (`views::authority_breach`).
        TaskDueChanged(m) => {
            let g = group(records, "payload.task_due_changed.group_id", &m.group_id)?;
            task(&g, "payload.task_due_changed.task_id", &m.task_id).map(drop)
        }
        MilestoneReached(m) => {
            let g = group(records, "payload.milestone_reached.group_id", &m.group_id)?;
            if !m.task_id.is_empty() {
                task(&g, "payload.milestone_reached.task_id", &m.task_id)?;
            }
            Ok(())
        }
        ProgressReported(m) => {
            let g = group(records, "payload.progress_reported.group_id", &m.group_id)?;
            let t = task(&g, "payload.progress_reported.task_id", &m.task_id)?;
            if !t.sub_reports.is_empty() {
                return Err(refuse(
                    "payload.progress_reported.task_id".into(),
                    "the sub-report is in; the sub-topic takes no more progress reports",
                ));
            }
            Ok(())
        }
        SubReportSubmitted(m) => {
            let g = group(records, "payload.sub_report_submitted.group_id", &m.group_id)?;
            task(&g, "payload.sub_report_submitted.task_id", &m.task_id)?;
            super::check_member(kind, origin, records)
        }
        ConsolidatedReportSubmitted(m) => {
            let g = group(records, "payload.consolidated_report_submitted.group_id", &m.group_id)?;
            if g.lead != origin.as_str() {
                return Err(refuse(
                    "payload.consolidated_report_submitted.group_id".into(),
                    format!("only the lead ({}) submits the consolidated report", g.lead),
                ));
            }
            // Each sub-report it draws on is one of this group's, submitted
            // on one of its sub-topics: not another group's, not an event
            // of another kind.
            let held: std::collections::BTreeSet<&str> =
                g.tasks.iter().flat_map(|t| t.sub_reports.iter().map(|r| r.event_id.as_str())).collect();
            for (i, id) in m.sub_report_ids.iter().enumerate() {
                if !held.contains(norm(id).as_str()) {
                    return Err(refuse(
                        format!("payload.consolidated_report_submitted.sub_report_ids[{i}]"),
                        format!("is not a sub-report of a sub-topic of group {}", g.group_id),
                    ));
                }
            }
            Ok(())
        }
        VisitScheduled(m) => group(records, "payload.visit_scheduled.group_id", &m.group_id).map(drop),
        InfoPublished(_) | InfoForwarded(_) | InfoAdopted(_) | InfoInstructed(_) | InfoFeedback(_)
        | InfoDeclined(_) | InfoMerged(_) => super::levels::check_step(kind, origin, records),
        NoticeAcknowledged(m) => {
            let field = "payload.notice_acknowledged.notice_id";
            let n: pb::Notice = known(load(records, &norm(&m.notice_id)), |n: &pb::Notice| n.known)
                .ok_or_else(|| refuse(field.into(), "no notice with this id is held here"))?;
            if n.origin == origin.as_str() {
                return Err(refuse(field.into(), "a committee does not acknowledge its own notice"));
            }
            if !n.requires_acknowledgement {
                return Err(refuse(field.into(), "the notice does not ask for acknowledgement"));
            }
            Ok(())
        }
        NoticeReminded(m) => {
            let field = "payload.notice_reminded.notice_id";
            // Only its issuer: an authority rule (`views::authority_breach`).
            let n: pb::Notice = known(load(records, &norm(&m.notice_id)), |n: &pb::Notice| n.known)
                .ok_or_else(|| refuse(field.into(), "no notice with this id is held here"))?;
            if n.expects == pb::NoticeReturn::Unspecified as i32 {
                return Err(refuse(field.into(), "the notice expects no returns; there is nothing to remind of"));
            }
            Ok(())
        }
        ResultShared(m) => result(records, "payload.result_shared.result_id", &m.result_id).map(drop),
        ResultAdopted(m) => result(records, "payload.result_adopted.result_id", &m.result_id).map(drop),
        ResultFeedback(m) => {
            let r = result(records, "payload.result_feedback.result_id", &m.result_id)?;
            if r.adoptions.is_empty() {
                return Err(refuse(
                    "payload.result_feedback.result_id".into(),
                    "feedback follows an adoption; the result has none yet",
                ));
            }
            Ok(())
        }
        EvaluationRated(m) => super::evaluation::check_rating(m, records),
        InfoReported(_) | MemberRegistered(_) | MemberUpdated(_) | MemberLeft(_) | MemberErased(_)
        | MemberContributed(_) => super::check_member(kind, origin, records),
        ProposalSubmitted(_)
        | ProposalCoSigned(_)
        | ProposalSentUp(_)
        | ProposalReviewed(_)
        | ProposalAssigned(_)
        | ProposalObjected(_)
        | ProposalDeadlineExtended(_)
        | ProposalContacted(_)
        | ProposalAnswered(_)
        | ProposalRated(_)
        | ProposalSupervised(_)
        | ProposalReminded(_)
        | ProposalFollowedUp(_) => super::proposal_steps::check_proposal(kind, origin, records),
        TopicProposed(_)
        | NoticeIssued(_)
        | ResearchCompleted(_)
        | ScoreRuleIssued(_)
        | HolidayCalendarIssued(_)
        | MemberDutiesIssued(_)
        | IndicatorSetIssued(_) => Ok(()),
    }
}

fn known<M>(record: Option<M>, is_known: impl Fn(&M) -> bool) -> Option<M> {
    record.filter(|r| is_known(r))
}

fn topic(records: &mut impl Records, field: &str, id: &str) -> Result<pb::Topic, AppendError> {
    known(load(records, &norm(id)), |t: &pb::Topic| t.known)
        .ok_or_else(|| refuse(field.into(), "no topic with this id is held here"))
}

/// A topic held here and not closed: a closed one takes no comments,
/// answers or links.
fn open_topic(records: &mut impl Records, field: &str, id: &str) -> Result<pb::Topic, AppendError> {
    let t = topic(records, field, id)?;
    if t.status == pb::TopicStatus::Closed as i32 {
        return Err(refuse(field.into(), "the topic is closed (withdrawn, merged or not selected)"));
    }
    Ok(t)
}

fn group(records: &mut impl Records, field: &str, id: &str) -> Result<pb::Group, AppendError> {
    known(load(records, id), |g: &pb::Group| g.known)
        .ok_or_else(|| refuse(field.into(), "no group with this id is held here"))
}

/// A membership change needs the group held here; who may make it is
/// checked with the request (`views::authority_breach`).
fn membership(records: &mut impl Records, prefix: &str, group_id: &str) -> Result<(), AppendError> {
    group(records, &format!("{prefix}.group_id"), group_id).map(|_| ())
}

fn task<'a>(g: &'a pb::Group, field: &str, task_id: &str) -> Result<&'a pb::Task, AppendError> {
    g.tasks
        .iter()
        .find(|t| t.task_id == task_id && t.known)
        .ok_or_else(|| refuse(field.into(), format!("group {} has no sub-topic with this id", g.group_id)))
}

fn result(records: &mut impl Records, field: &str, id: &str) -> Result<pb::Result, AppendError> {
    known(load(records, &norm(id)), |r: &pb::Result| r.known)
        .ok_or_else(|| refuse(field.into(), "no result with this id is held here"))
}
