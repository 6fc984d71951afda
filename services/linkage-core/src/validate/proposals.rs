//! The rule of each 提案 payload kind (see each message's proto comment).

use super::fields::*;
use crate::error::{invalid, AppendError};
use crate::limits::*;
use crate::pb;
use crate::pb::payload::Kind;
use crate::proposals::{Date, CALENDAR_HOLIDAYS_MAX, CALENDAR_WORKDAYS_MAX, OBJECTION_DAYS_MAX};
use crate::topology::Topology;

fn members(field: &str, ids: &[String]) -> Result<(), AppendError> {
    check_list(field, ids)?;
    for (i, id) in ids.iter().enumerate() {
        check_member_id(&format!("{field}[{i}]"), id)?;
    }
    Ok(())
}

fn check_submitted(m: &pb::ProposalSubmitted) -> Result<(), AppendError> {
    use pb::ProposalSubmitter as W;
    let f = "payload.proposal_submitted";
    check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
    check_chars(&format!("{f}.body"), &m.body, BODY_CHARS_MAX)?;
    check_year(&format!("{f}.year"), m.year)?;
    check_optional_chars(&format!("{f}.submitter_name"), &m.submitter_name, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.category"), &m.category, TITLE_CHARS_MAX)?;
    members(&format!("{f}.member_ids"), &m.member_ids)?;
    let distinct: std::collections::BTreeSet<&String> = m.member_ids.iter().collect();
    if distinct.len() != m.member_ids.len() {
        return Err(invalid(format!("{f}.member_ids"), "must not repeat a member"));
    }
    match W::try_from(m.submitter).unwrap_or_default() {
        W::Unspecified => Err(invalid(
            format!("{f}.submitter"),
            "must be MEMBER, MEMBERS_JOINT, SECTOR, SPECIAL_COMMITTEE, PARTY or COMMITTEE",
        )),
        W::Member if m.member_ids.len() != 1 => {
            Err(invalid(format!("{f}.member_ids"), "a member's proposal names exactly that member"))
        }
        W::MembersJoint if m.member_ids.len() < 2 => {
            Err(invalid(format!("{f}.member_ids"), "a joint proposal (联名) names at least two members"))
        }
        _ => Ok(()),
    }
}

fn check_reviewed(m: &pb::ProposalReviewed) -> Result<(), AppendError> {
    use pb::ProposalOutcome as O;
    let f = "payload.proposal_reviewed";
    check_optional_chars(&format!("{f}.number"), &m.number, TITLE_CHARS_MAX)?;
    check_optional_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)?;
    let kept = pb::ProposalKeptAs::try_from(m.kept_as)
        .map_err(|_| invalid(format!("{f}.kept_as"), "must be INFO or LETTER (or unset)"))?;
    let outcome = O::try_from(m.outcome).unwrap_or_default();
    let only = |set: bool, name: &str, when: &str| {
        if set {
            Err(invalid(format!("{f}.{name}"), format!("is only for a proposal {when}")))
        } else {
            Ok(())
        }
    };
    only(!m.number.is_empty() && outcome != O::Filed, "number", "FILED")?;
    only(m.key && outcome != O::Filed, "key", "FILED")?;
    only(!m.into_id.is_empty() && outcome != O::Merged, "into_id", "MERGED")?;
    only(kept != pb::ProposalKeptAs::Unspecified && outcome != O::NotFiled, "kept_as", "NOT_FILED")?;
    only(!m.info_id.is_empty() && kept != pb::ProposalKeptAs::Info, "info_id", "NOT_FILED and kept as INFO")?;
    match outcome {
        O::Unspecified => Err(invalid(format!("{f}.outcome"), "must be FILED, NOT_FILED or MERGED")),
        O::Filed => Ok(()),
        O::NotFiled => {
            if kept == pb::ProposalKeptAs::Unspecified {
                return Err(invalid(format!("{f}.kept_as"), "a proposal not filed is kept as INFO or LETTER"));
            }
            if !m.info_id.is_empty() {
                check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            }
            check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)
        }
        O::Merged => {
            check_event_id(&format!("{f}.into_id"), &m.into_id)?;
            if m.into_id.eq_ignore_ascii_case(&m.proposal_id) {
                return Err(invalid(format!("{f}.into_id"), "must name another proposal than proposal_id"));
            }
            Ok(())
        }
    }
}

fn check_calendar(m: &pb::HolidayCalendarIssued) -> Result<(), AppendError> {
    let f = "payload.holiday_calendar_issued";
    check_year(&format!("{f}.year"), m.year)?;
    for (name, list, max) in
        [("holidays", &m.holidays, CALENDAR_HOLIDAYS_MAX), ("workdays", &m.workdays, CALENDAR_WORKDAYS_MAX)]
    {
        if list.len() > max {
            return Err(invalid(format!("{f}.{name}"), format!("at most {max} dates")));
        }
        for (i, d) in list.iter().enumerate() {
            match Date::parse(d) {
                Some(date) if date.year == m.year as i32 => {}
                Some(_) => return Err(invalid(format!("{f}.{name}[{i}]"), format!("must be a date of {}", m.year))),
                None => return Err(invalid(format!("{f}.{name}[{i}]"), "must be a date YYYY-MM-DD")),
            }
        }
    }
    if let Some(d) = m.holidays.iter().find(|d| m.workdays.contains(d)) {
        return Err(invalid(format!("{f}.workdays"), format!("{d} is listed as a holiday too")));
    }
    Ok(())
}

/// Checks the rule of one 提案 payload kind; `None` for other kinds.
pub(super) fn validate_proposal(topology: &Topology, kind: &Kind) -> Option<Result<(), AppendError>> {
    let unit = |f: &str, unit: &str| check_chars(&format!("{f}.unit"), unit, TITLE_CHARS_MAX);
    let id = |f: &str, id: &str| check_event_id(&format!("{f}.proposal_id"), id);
    Some(match kind {
        Kind::ProposalSubmitted(m) => check_submitted(m),
        Kind::ProposalCoSigned(m) => {
            let f = "payload.proposal_co_signed";
            id(f, &m.proposal_id)
                .and_then(|_| members(&format!("{f}.member_ids"), &m.member_ids))
                .and_then(|_| check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX))
        }
        Kind::ProposalSentUp(m) => {
            let f = "payload.proposal_sent_up";
            id(f, &m.proposal_id).and_then(|_| check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX))
        }
        Kind::ProposalReviewed(m) => id("payload.proposal_reviewed", &m.proposal_id).and_then(|_| check_reviewed(m)),
        Kind::ProposalAssigned(m) => {
            let f = "payload.proposal_assigned";
            (|| {
                id(f, &m.proposal_id)?;
                check_chars(&format!("{f}.lead_unit"), &m.lead_unit, TITLE_CHARS_MAX)?;
                check_list(&format!("{f}.co_units"), &m.co_units)?;
                for (i, u) in m.co_units.iter().enumerate() {
                    check_chars(&format!("{f}.co_units[{i}]"), u, TITLE_CHARS_MAX)?;
                }
                require_timestamp(&format!("{f}.due"), &m.due)?;
                if m.objection_days > OBJECTION_DAYS_MAX {
                    return Err(invalid(
                        format!("{f}.objection_days"),
                        format!("must be at most {OBJECTION_DAYS_MAX} working days (0: 5)"),
                    ));
                }
                Ok(())
            })()
        }
        Kind::ProposalObjected(m) => {
            let f = "payload.proposal_objected";
            id(f, &m.proposal_id)
                .and_then(|_| unit(f, &m.unit))
                .and_then(|_| check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX))
        }
        Kind::ProposalDeadlineExtended(m) => {
            let f = "payload.proposal_deadline_extended";
            id(f, &m.proposal_id)
                .and_then(|_| require_timestamp(&format!("{f}.due"), &m.due))
                .and_then(|_| check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX))
        }
        Kind::ProposalContacted(m) => {
            let f = "payload.proposal_contacted";
            id(f, &m.proposal_id)
                .and_then(|_| unit(f, &m.unit))
                .and_then(|_| check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX))
        }
        Kind::ProposalAnswered(m) => {
            let f = "payload.proposal_answered";
            (|| {
                id(f, &m.proposal_id)?;
                unit(f, &m.unit)?;
                if pb::AnswerClass::try_from(m.class).unwrap_or_default() == pb::AnswerClass::Unspecified {
                    return Err(invalid(format!("{f}.class"), "must be A, B, C or D"));
                }
                check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
            })()
        }
        Kind::ProposalRated(m) => {
            let f = "payload.proposal_rated";
            (|| {
                id(f, &m.proposal_id)?;
                check_code(topology, &format!("{f}.handler"), &m.handler)?;
                if !m.answer_id.is_empty() {
                    check_event_id(&format!("{f}.answer_id"), &m.answer_id)?;
                }
                if pb::Satisfaction::try_from(m.satisfaction).unwrap_or_default() == pb::Satisfaction::Unspecified {
                    return Err(invalid(format!("{f}.satisfaction"), "must be SATISFIED, BASICALLY or NOT_SATISFIED"));
                }
                check_optional_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
            })()
        }
        Kind::ProposalSupervised(m) => {
            let f = "payload.proposal_supervised";
            id(f, &m.proposal_id)
                .and_then(|_| check_chars(&format!("{f}.by"), &m.by, TITLE_CHARS_MAX))
                .and_then(|_| check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX))
        }
        Kind::ProposalReminded(m) => {
            let f = "payload.proposal_reminded";
            id(f, &m.proposal_id)
                .and_then(|_| unit(f, &m.unit))
                .and_then(|_| check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX))
        }
        Kind::ProposalFollowedUp(m) => {
            let f = "payload.proposal_followed_up";
            id(f, &m.proposal_id).and_then(|_| check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX))
        }
        Kind::HolidayCalendarIssued(m) => check_calendar(m),
        _ => return None,
    })
}
