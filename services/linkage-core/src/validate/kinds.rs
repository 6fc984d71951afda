//! The rule of each payload kind (see each message's proto comment).

use super::fields::*;
use crate::channel::Channel;
use crate::error::{invalid, AppendError};
use crate::limits::*;
use crate::pb;
use crate::pb::payload::Kind;
use crate::topology::Topology;

/// A register entry: bounded texts; the sealed fields are the node's to make.
fn check_entry(
    f: &str,
    sector: &str,
    special_committee: &str,
    term: &str,
    sealed: Option<&pb::Sealed>,
) -> Result<(), AppendError> {
    check_optional_chars(&format!("{f}.sector"), sector, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.special_committee"), special_committee, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.term"), term, TITLE_CHARS_MAX)?;
    if sealed.is_some() {
        return Err(invalid(format!("{f}.sealed"), "is made by the node from `personal`; send `personal` only"));
    }
    Ok(())
}

/// Personal fields: a name (required on registration), other fields bounded.
fn check_personal(f: &str, p: &pb::PersonalFields, name_required: bool) -> Result<(), AppendError> {
    if name_required || !p.name.is_empty() {
        check_chars(&format!("{f}.personal.name"), &p.name, MEMBER_NAME_CHARS_MAX)?;
    }
    check_optional_chars(&format!("{f}.personal.gender"), &p.gender, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.personal.workplace"), &p.workplace, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.personal.phone"), &p.phone, TITLE_CHARS_MAX)
}

/// The province's score rule: bounded lists and percents, a start date.
fn check_score_rule(m: &pb::ScoreRuleIssued) -> Result<(), AppendError> {
    let f = "payload.score_rule_issued";
    match &m.effective {
        Some(t) => check_timestamp(&format!("{f}.effective"), t)?,
        None => return Err(invalid(format!("{f}.effective"), "is required: the date the rule takes effect")),
    }
    check_optional_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
    for (name, points) in [
        ("adoption_points", &m.adoption_points),
        ("deputy_instruction_points", &m.deputy_instruction_points),
        ("principal_instruction_points", &m.principal_instruction_points),
    ] {
        if points.len() > SCORE_DISTANCES {
            return Err(invalid(
                format!("{f}.{name}"),
                format!("at most {SCORE_DISTANCES} entries: own level, one, two and three levels above"),
            ));
        }
        if let Some(i) = points.iter().position(|p| *p > SCORE_POINTS_MAX) {
            return Err(invalid(format!("{f}.{name}[{i}]"), format!("must be at most {SCORE_POINTS_MAX}")));
        }
    }
    for (name, percent) in
        [("combined_percent", m.combined_percent), ("forward_credit_percent", m.forward_credit_percent)]
    {
        if percent > 100 {
            return Err(invalid(format!("{f}.{name}"), "must be at most 100"));
        }
    }
    Ok(())
}

/// The province's rule of members' yearly duties: bounded counts, one at least.
fn check_duties(m: &pb::MemberDutiesIssued) -> Result<(), AppendError> {
    let f = "payload.member_duties_issued";
    check_year(&format!("{f}.year"), m.year)?;
    check_optional_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
    let counts = [
        ("themed_talks", m.themed_talks),
        ("suggestions", m.suggestions),
        ("proposals", m.proposals),
        ("info_items", m.info_items),
        ("research", m.research),
    ];
    if let Some((name, _)) = counts.iter().find(|(_, n)| *n > DUTY_COUNT_MAX) {
        return Err(invalid(format!("{f}.{name}"), format!("must be at most {DUTY_COUNT_MAX}")));
    }
    if counts.iter().all(|(_, n)| *n == 0) {
        return Err(invalid(format!("{f}.themed_talks"), "a rule asks for at least one duty"));
    }
    Ok(())
}

/// Checks the rule of one payload kind (see each message's proto comment).
pub(super) fn validate_kind(topology: &Topology, kind: &Kind) -> Result<(), AppendError> {
    use Kind::*;
    if let Some(checked) = super::proposals::validate_proposal(topology, kind) {
        return checked;
    }
    if let Some(checked) = super::evaluation::validate_evaluation(kind) {
        return checked;
    }
    match kind {
        TopicProposed(m) => {
            let f = "payload.topic_proposed";
            check_year(&format!("{f}.year"), m.year)?;
            if pb::TopicCategory::try_from(m.category).unwrap_or_default() == pb::TopicCategory::Unspecified {
                return Err(invalid(format!("{f}.category"), "must be one of 协商, 调研, 视察, 提案, 民主监督"));
            }
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.lead_committee"), &m.lead_committee, TITLE_CHARS_MAX)
        }
        TopicCommented(m) => {
            let f = "payload.topic_commented";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        TopicLinked(m) => {
            let f = "payload.topic_linked";
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 2)?;
            let mut seen = std::collections::BTreeSet::new();
            if !m.topic_ids.iter().all(|id| seen.insert(id.to_ascii_lowercase())) {
                return Err(invalid(format!("{f}.topic_ids"), "must not repeat a topic"));
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        TopicResponded(m) => {
            let f = "payload.topic_responded";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            if pb::TopicResponse::try_from(m.response).unwrap_or_default() == pb::TopicResponse::Unspecified {
                return Err(invalid(format!("{f}.response"), "must be JOINED or DECLINED"));
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        TopicClosed(m) => {
            let f = "payload.topic_closed";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            let outcome = pb::TopicOutcome::try_from(m.outcome).unwrap_or_default();
            match outcome {
                pb::TopicOutcome::Unspecified => {
                    return Err(invalid(format!("{f}.outcome"), "must be WITHDRAWN, MERGED or NOT_SELECTED"))
                }
                pb::TopicOutcome::Merged => check_event_id(&format!("{f}.into_topic_id"), &m.into_topic_id)?,
                _ if !m.into_topic_id.is_empty() => {
                    return Err(invalid(format!("{f}.into_topic_id"), "is only for a topic MERGED into another"))
                }
                _ => {}
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        PlanPublished(m) => {
            let f = "payload.plan_published";
            check_year(&format!("{f}.year"), m.year)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 0)
        }
        GroupFormed(m) => {
            let f = "payload.group_formed";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_code(topology, &format!("{f}.lead"), &m.lead)?;
            check_member_province(topology, &format!("{f}.lead"), &m.lead, &m.lead)?;
            check_list(&format!("{f}.members"), &m.members)?;
            for (i, member) in m.members.iter().enumerate() {
                check_code(topology, &format!("{f}.members[{i}]"), member)?;
                check_member_province(topology, &format!("{f}.members[{i}]"), member, &m.lead)?;
            }
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 0)
        }
        GroupJoined(pb::GroupJoined { group_id, member }) | GroupLeft(pb::GroupLeft { group_id, member }) => {
            let f = if matches!(kind, GroupJoined(_)) { "payload.group_joined" } else { "payload.group_left" };
            check_group(&format!("{f}.group_id"), group_id)?;
            check_code(topology, &format!("{f}.member"), member)?;
            match group_id.parse::<crate::channel::GroupId>().ok().and_then(|g| g.owner()) {
                Some(owner) if matches!(kind, GroupJoined(_)) => {
                    check_member_province(topology, &format!("{f}.member"), member, owner.as_str())
                }
                _ => Ok(()),
            }
        }
        TaskAssigned(m) => {
            let f = "payload.task_assigned";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_code(topology, &format!("{f}.assignee"), &m.assignee)?;
            require_timestamp(&format!("{f}.due"), &m.due)
        }
        TaskDueChanged(m) => {
            let f = "payload.task_due_changed";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            require_timestamp(&format!("{f}.due"), &m.due)?;
            check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)
        }
        MilestoneReached(m) => {
            let f = "payload.milestone_reached";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            if !m.task_id.is_empty() {
                check_group(&format!("{f}.task_id"), &m.task_id)?;
            }
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)
        }
        ProgressReported(m) => {
            let f = "payload.progress_reported";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            if m.percent > 100 {
                return Err(invalid(format!("{f}.percent"), format!("must be 0..=100, got {}", m.percent)));
            }
            check_optional_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        SubReportSubmitted(m) => {
            let f = "payload.sub_report_submitted";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_texts(&format!("{f}.attachments"), &m.attachments, ATTACHMENT_CHARS_MAX)?;
            check_list(&format!("{f}.member_ids"), &m.member_ids)?;
            for (i, id) in m.member_ids.iter().enumerate() {
                check_member_id(&format!("{f}.member_ids[{i}]"), id)?;
            }
            Ok(())
        }
        ConsolidatedReportSubmitted(m) => {
            let f = "payload.consolidated_report_submitted";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_ids(&format!("{f}.sub_report_ids"), &m.sub_report_ids, 0)
        }
        VisitScheduled(m) => {
            let f = "payload.visit_scheduled";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            require_timestamp(&format!("{f}.starts"), &m.starts)?;
            check_texts(&format!("{f}.places"), &m.places, TITLE_CHARS_MAX)
        }
        InfoReported(m) => {
            let f = "payload.info_reported";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_chars(&format!("{f}.body"), &m.body, BODY_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.submitter"), &m.submitter, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.sector"), &m.sector, TITLE_CHARS_MAX)?;
            if !m.member_id.is_empty() {
                check_member_id(&format!("{f}.member_id"), &m.member_id)?;
            }
            Ok(())
        }
        InfoPublished(m) => {
            let f = "payload.info_published";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_optional_chars(&format!("{f}.issue"), &m.issue, TITLE_CHARS_MAX)
        }
        InfoForwarded(m) => {
            let f = "payload.info_forwarded";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.to"), &m.to, TITLE_CHARS_MAX)
        }
        InfoAdopted(m) => {
            let f = "payload.info_adopted";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            if pb::AdoptionLevel::try_from(m.level).unwrap_or_default() == pb::AdoptionLevel::Unspecified {
                return Err(invalid(format!("{f}.level"), "must be COUNTY, CITY, PROVINCE or NATIONAL"));
            }
            check_optional_chars(&format!("{f}.by"), &m.by, TITLE_CHARS_MAX)
        }
        InfoInstructed(m) => {
            let f = "payload.info_instructed";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.leader"), &m.leader, TITLE_CHARS_MAX)?;
            if pb::LeaderRank::try_from(m.rank).is_err() {
                return Err(invalid(format!("{f}.rank"), "must be DEPUTY or PRINCIPAL (or unset)"));
            }
            if pb::AdoptionLevel::try_from(m.level).is_err() {
                return Err(invalid(format!("{f}.level"), "must be COUNTY, CITY, PROVINCE or NATIONAL (or unset)"));
            }
            check_optional_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        InfoFeedback(m) => {
            let f = "payload.info_feedback";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        InfoDeclined(m) => {
            let f = "payload.info_declined";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)
        }
        InfoMerged(m) => {
            let f = "payload.info_merged";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_event_id(&format!("{f}.into_id"), &m.into_id)?;
            if m.info_id.eq_ignore_ascii_case(&m.into_id) {
                return Err(invalid(format!("{f}.into_id"), "must name another item than info_id"));
            }
            Ok(())
        }
        ScoreRuleIssued(m) => check_score_rule(m),
        MemberRegistered(m) => {
            let f = "payload.member_registered";
            check_member_id(&format!("{f}.member_id"), &m.member_id)?;
            check_entry(f, &m.sector, &m.special_committee, &m.term, m.sealed.as_ref())?;
            match &m.personal {
                Some(p) => check_personal(f, p, true),
                None => Err(invalid(format!("{f}.personal.name"), "is required: whom the committee registers")),
            }
        }
        MemberUpdated(m) => {
            let f = "payload.member_updated";
            check_member_id(&format!("{f}.member_id"), &m.member_id)?;
            check_entry(f, &m.sector, &m.special_committee, &m.term, m.sealed.as_ref())?;
            m.personal.as_ref().map_or(Ok(()), |p| check_personal(f, p, false))
        }
        MemberLeft(m) => {
            let f = "payload.member_left";
            check_member_id(&format!("{f}.member_id"), &m.member_id)?;
            check_optional_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)
        }
        MemberErased(m) => check_member_id("payload.member_erased.member_id", &m.member_id),
        MemberContributed(m) => {
            let f = "payload.member_contributed";
            check_member_id(&format!("{f}.member_id"), &m.member_id)?;
            if pb::ContributionKind::try_from(m.kind).unwrap_or_default() == pb::ContributionKind::Unspecified {
                return Err(invalid(format!("{f}.kind"), "must be THEMED_TALK or SUGGESTION"));
            }
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.occasion"), &m.occasion, TITLE_CHARS_MAX)
        }
        MemberDutiesIssued(m) => check_duties(m),
        NoticeIssued(m) => {
            let f = "payload.notice_issued";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.body"), &m.body, BODY_CHARS_MAX)?;
            if pb::NoticeReturn::try_from(m.expects).is_err() {
                return Err(invalid(format!("{f}.expects"), "must be one of topics, items, reports (or unset)"));
            }
            match (&m.due, m.expects != pb::NoticeReturn::Unspecified as i32) {
                (Some(due), _) => check_timestamp(&format!("{f}.due"), due),
                (None, true) => {
                    Err(invalid(format!("{f}.due"), "a notice that expects returns says when they are due"))
                }
                (None, false) => Ok(()),
            }
        }
        NoticeAcknowledged(m) => check_event_id("payload.notice_acknowledged.notice_id", &m.notice_id),
        NoticeReminded(m) => {
            let f = "payload.notice_reminded";
            check_event_id(&format!("{f}.notice_id"), &m.notice_id)?;
            check_list(&format!("{f}.to"), &m.to)?;
            for (i, code) in m.to.iter().enumerate() {
                check_code(topology, &format!("{f}.to[{i}]"), code)?;
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        ResearchCompleted(m) => {
            let f = "payload.research_completed";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_texts(&format!("{f}.attachments"), &m.attachments, ATTACHMENT_CHARS_MAX)?;
            if !m.group_id.is_empty() {
                check_group(&format!("{f}.group_id"), &m.group_id)?;
            }
            if m.year != 0 {
                check_year(&format!("{f}.year"), m.year)?;
            }
            if pb::TopicCategory::try_from(m.category).is_err() {
                return Err(invalid(
                    format!("{f}.category"),
                    "must be unspecified or one of 协商, 调研, 视察, 提案, 民主监督",
                ));
            }
            Ok(())
        }
        ResultShared(m) => {
            let f = "payload.result_shared";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            match m.audience.parse::<Channel>().map_err(|why| invalid(format!("{f}.audience"), why))? {
                Channel::Federation(name) if topology.federation(&name).is_none() => Err(invalid(
                    format!("{f}.audience"),
                    format!("fed:{} names no federation of the topology", name.as_str()),
                )),
                _ => Ok(()),
            }
        }
        ResultAdopted(m) => {
            let f = "payload.result_adopted";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            check_optional_chars(&format!("{f}.by"), &m.by, TITLE_CHARS_MAX)?;
            check_chars(&format!("{f}.how"), &m.how, TEXT_CHARS_MAX)
        }
        ResultFeedback(m) => {
            let f = "payload.result_feedback";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
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
        | ProposalFollowedUp(_)
        | HolidayCalendarIssued(_)
        | IndicatorSetIssued(_)
        | EvaluationRated(_) => Ok(()),
    }
}
