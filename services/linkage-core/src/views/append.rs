//! What the append path checks against the views before it signs: who may
//! say what (`crate::rules`, refused as `FAILED_PRECONDITION` naming the
//! field and the rule), the lifecycle ([`super::check_lifecycle`]), and
//! the citations a claim's authority rests on, which the node adds itself
//! so that clients need not know them.

use super::{load, Records};
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::rules::{Breach, GROUP_RULES};
use crate::validate::ValidAppend;
use crate::NodeCode;

fn refuse(field: &str, description: String, rule: Breach) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, format!("{description} (rule {})", rule.name())))
}

/// Checks `valid`, appended by `origin`, against the rules of who may say
/// what and the lifecycle of the records it refers to, as far as this
/// node holds them, and completes it: a group it forms is judged by this
/// version's rules ([`GROUP_RULES`]), and a claim in such a group cites
/// the event its authority rests on. Reads `records` only.
pub fn check_append(valid: &mut ValidAppend, origin: NodeCode, records: &mut impl Records) -> Result<(), AppendError> {
    let Some(kind) = valid.payload.kind.as_mut() else { return Ok(()) };
    super::levels::check_held(kind, records)?;
    super::proposal_steps::check_held(kind, records)?;
    if let Kind::EvaluationRated(m) = kind {
        super::evaluation::check_subject_held(m, records)?;
    }
    check_by_event(origin, kind)?;
    super::check_lifecycle(kind, origin, records)?;
    match kind {
        Kind::GroupFormed(m) => m.rules = GROUP_RULES,
        // A rating names the answer it rates: the handler's latest here.
        Kind::ProposalRated(m) if m.answer_id.is_empty() => {
            let p: Option<pb::Proposal> = load(records, &super::norm(&m.proposal_id));
            if let Some(answer) = p.and_then(|p| super::proposal_steps::latest_answer(&p, &m.handler)) {
                m.answer_id = answer;
            }
        }
        Kind::TaskAssigned(m) => {
            let g = group(records, &m.group_id);
            if g.rules >= GROUP_RULES {
                let member = g.members.iter().any(|x| x.node == m.assignee && x.joined);
                let admission = g.admissions.iter().rev().find(|a| a.node == m.assignee).map(|a| a.event_id.clone());
                let Some(admission) = admission.filter(|_| member) else {
                    return Err(refuse(
                        "payload.task_assigned.assignee",
                        format!("{} is not a member of group {}; a sub-topic goes to a member", m.assignee, g.group_id),
                        Breach::AssigneeNotMember,
                    ));
                };
                cite(&mut valid.refs, admission)?;
            }
        }
        Kind::SubReportSubmitted(m) => {
            let g = group(records, &m.group_id);
            if g.rules >= GROUP_RULES {
                let task = g.tasks.iter().find(|t| t.task_id == m.task_id);
                let assignment = task
                    .and_then(|t| t.assignments.iter().rev().find(|a| a.assignee == origin.as_str()))
                    .map(|a| a.event_id.clone());
                let Some(assignment) = assignment else {
                    let assignee = task.map_or("", |t| t.assignee.as_str());
                    return Err(refuse(
                        "payload.sub_report_submitted.task_id",
                        format!("only the sub-topic's assignee ({assignee}) submits its sub-report"),
                        Breach::SubReportNotByAssignee,
                    ));
                };
                cite(&mut valid.refs, assignment)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The group as held here (lifecycle checked that it is).
fn group(records: &mut impl Records, id: &str) -> pb::Group {
    load(records, id).unwrap_or_default()
}

/// Adds `id` to `refs` unless it is there.
fn cite(refs: &mut Vec<String>, id: String) -> Result<(), AppendError> {
    if refs.iter().any(|r| super::norm(r) == id) {
        return Ok(());
    }
    if refs.len() >= crate::limits::LIST_ITEMS_MAX {
        return Err(AppendError::Invalid(FieldViolation::new(
            "refs",
            format!(
                "leave room for the event this one rests on ({id}): at most {} refs",
                crate::limits::LIST_ITEMS_MAX
            ),
        )));
    }
    refs.push(id);
    Ok(())
}

/// Refuses what the views would dispute by the event alone
/// (`rules::authority_breach`), naming the field and the rule.
fn check_by_event(origin: NodeCode, kind: &Kind) -> Result<(), AppendError> {
    let Some(breach) = crate::rules::authority_breach(origin.as_str(), kind) else { return Ok(()) };
    let level = crate::code::Level::of_code(&origin).as_str();
    let (field, why) = match (breach, kind) {
        (Breach::HandlingNotOnChain, Kind::EvaluationRated(_)) => (
            "payload.evaluation_rated.subject_id",
            format!("{origin} is not on this work's chain: the levels above the committee whose work it is rate it"),
        ),
        (Breach::HandlingNotOnChain, _) if crate::proposals::handled(kind).is_some() => (
            crate::proposals::handled(kind).map_or("payload", |(field, _)| field),
            format!("{origin} is not on this proposal's chain (its origin, its city, its province)"),
        ),
        (Breach::HandlingNotOnChain, _) => (
            handled_item_field(kind),
            format!("{origin} is not on this item's chain (its origin, its city, its province)"),
        ),
        (Breach::RatingNotByProposer, _) => (
            "payload.proposal_rated.proposal_id",
            "the proposer's committee (where the proposal was submitted: its id names it) records the rating".into(),
        ),
        (Breach::SelfEvaluation, _) => (
            "payload.evaluation_rated.subject_id",
            "a committee does not rate its own work: judged indicators are rated by others".into(),
        ),
        (Breach::RulesNotByProvince, Kind::IndicatorSetIssued(_)) => (
            "payload.indicator_set_issued",
            "only the province issues indicator sets: every committee is evaluated alike".into(),
        ),
        (Breach::RulesNotByProvince, Kind::MemberDutiesIssued(_)) => (
            "payload.member_duties_issued",
            "only the province issues members' duties: every committee counts its members alike".into(),
        ),
        (Breach::RulesNotByProvince, _) => (
            "payload.holiday_calendar_issued",
            "only the province issues the holiday calendar: every committee counts working days alike".into(),
        ),
        (Breach::InstructionNotOwnLevel, _) => (
            "payload.info_instructed.level",
            format!("{origin} records 批示 at its own level only ({level}); the province also records 全国政协's"),
        ),
        (Breach::MergeNotIntoOwn, _) => {
            ("payload.info_merged.into_id", "an item is merged into a 综合 item of the merging committee".into())
        }
        (Breach::MemberNotOwn, _) => (
            match kind {
                Kind::MemberRegistered(_) => "payload.member_registered.member_id",
                Kind::MemberUpdated(_) => "payload.member_updated.member_id",
                Kind::MemberLeft(_) => "payload.member_left.member_id",
                Kind::MemberContributed(_) => "payload.member_contributed.member_id",
                _ => "payload.member_erased.member_id",
            },
            format!(
                "a member id begins with its committee's code: {origin} registers and changes its own members only"
            ),
        ),
        (Breach::ScoreRuleNotByProvince, _) => {
            ("payload.score_rule_issued", "only the province issues score rules: every committee ranks alike".into())
        }
        (_, Kind::GroupFormed(m)) if m.lead != origin.as_str() => {
            ("payload.group_formed.lead", format!("the committee that forms a group leads it: {origin}"))
        }
        (_, Kind::GroupFormed(_)) => (
            "payload.group_formed.group_id",
            format!("a group's id begins with the code of the committee that forms it, e.g. {origin}-hexi-water"),
        ),
        (_, Kind::GroupJoined(_)) => (
            "payload.group_joined.group_id",
            "only the group's lead (whose code begins the group's id) adds members".into(),
        ),
        (_, Kind::TopicClosed(_)) => (
            "payload.topic_closed.topic_id",
            "only the committee that proposed a topic (its id names it) closes it".into(),
        ),
        (_, Kind::TaskAssigned(_)) => (
            "payload.task_assigned.group_id",
            "only the group's lead (whose code begins the group's id) assigns its sub-topics".into(),
        ),
        (_, Kind::TaskDueChanged(_)) => (
            "payload.task_due_changed.group_id",
            "only the group's lead (whose code begins the group's id) moves a sub-topic's due date".into(),
        ),
        (_, Kind::NoticeReminded(_)) => (
            "payload.notice_reminded.notice_id",
            "only the committee that issued a notice (its id names it) reminds its recipients".into(),
        ),
        (_, Kind::InfoAdopted(_)) => (
            "payload.info_adopted.level",
            format!("{origin} records adoption at its own level only ({level}); the province also records 全国政协's"),
        ),
        _ => {
            ("payload.group_left.member", "a committee may leave a group; only the group's lead removes another".into())
        }
    };
    Err(refuse(field, why, breach))
}

/// The field naming the item a handling event handles.
fn handled_item_field(kind: &Kind) -> &'static str {
    match kind {
        Kind::InfoPublished(_) => "payload.info_published.info_id",
        Kind::InfoForwarded(_) => "payload.info_forwarded.info_id",
        Kind::InfoAdopted(_) => "payload.info_adopted.info_id",
        Kind::InfoInstructed(_) => "payload.info_instructed.info_id",
        Kind::InfoFeedback(_) => "payload.info_feedback.info_id",
        Kind::InfoDeclined(_) => "payload.info_declined.info_id",
        _ => "payload.info_merged.info_id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::format_event_id;

    #[test]
    fn rules_judged_by_the_event_are_refused_naming_the_field_and_the_rule() {
        let at = |origin: &str, kind: Kind| {
            check_by_event(origin.parse().unwrap(), &kind).map_err(|e| {
                assert!(matches!(e, AppendError::Precondition(_)), "{e}");
                assert!(e.violation().description.contains("(rule "), "{e}");
                e.violation().field.clone()
            })
        };
        let formed = |id: &str, lead: &str| {
            Kind::GroupFormed(pb::GroupFormed {
                group_id: id.into(),
                title: "调研组".into(),
                lead: lead.into(),
                ..Default::default()
            })
        };
        let joined =
            |member: &str| Kind::GroupJoined(pb::GroupJoined { group_id: "620700-g".into(), member: member.into() });
        let left = |member: &str| Kind::GroupLeft(pb::GroupLeft { group_id: "620700-g".into(), member: member.into() });
        assert_eq!(at("620700", formed("620700-g", "620700")), Ok(()));
        assert_eq!(at("620722", formed("620700-g", "620722")), Err("payload.group_formed.group_id".into()));
        assert_eq!(at("620700", formed("hexi-water", "620700")), Err("payload.group_formed.group_id".into()));
        assert_eq!(at("620700", formed("620700-g", "620000")), Err("payload.group_formed.lead".into()));
        assert_eq!(at("620700", joined("620722")), Ok(()));
        assert_eq!(at("620722", joined("620722")), Err("payload.group_joined.group_id".into()));
        assert_eq!(at("620722", left("620722")), Ok(()));
        assert_eq!(at("620700", left("620722")), Ok(()));
        assert_eq!(at("620622", left("620722")), Err("payload.group_left.member".into()));
        let moved = Kind::TaskDueChanged(pb::TaskDueChanged {
            group_id: "620700-g".into(),
            task_id: "minle".into(),
            due: Some(prost_types::Timestamp { seconds: 1_760_000_000, nanos: 0 }),
            reason: "顺延".into(),
        });
        assert_eq!(at("620700", moved.clone()), Ok(()));
        assert_eq!(at("620722", moved), Err("payload.task_due_changed.group_id".into()));
        let topic = format_event_id(&crate::ids::event_id("620700".parse().unwrap(), 1 << 16, 1));
        let closed = Kind::TopicClosed(pb::TopicClosed { topic_id: topic, outcome: 1, ..Default::default() });
        assert_eq!(at("620700", closed.clone()), Ok(()));
        assert_eq!(at("620722", closed), Err("payload.topic_closed.topic_id".into()));
        let item = format_event_id(&crate::ids::event_id("620722".parse().unwrap(), 1 << 16, 2));
        let adopted = |level: pb::AdoptionLevel| {
            Kind::InfoAdopted(pb::InfoAdopted { info_id: item.clone(), level: level as i32, ..Default::default() })
        };
        use pb::AdoptionLevel as A;
        for (origin, level, ok) in [
            ("620000", A::Province, true),
            ("620000", A::National, true),
            ("620000", A::City, false),
            ("620700", A::City, true),
            ("620700", A::Province, false),
            ("620722", A::County, true),
            ("620722", A::National, false),
        ] {
            let expected = if ok { Ok(()) } else { Err("payload.info_adopted.level".to_string()) };
            assert_eq!(at(origin, adopted(level)), expected, "{origin} at {level:?}");
        }
        // 武威市 (620600) is not on 民乐县's (620722) chain; 张掖市 is.
        let published = Kind::InfoPublished(pb::InfoPublished { info_id: item.clone(), issue: "第1期".into() });
        assert_eq!(at("620700", published.clone()), Ok(()));
        assert_eq!(at("620600", published), Err("payload.info_published.info_id".into()));
        let instructed = |level: pb::AdoptionLevel| {
            Kind::InfoInstructed(pb::InfoInstructed {
                info_id: item.clone(),
                leader: "省长".into(),
                level: level as i32,
                ..Default::default()
            })
        };
        assert_eq!(at("620000", instructed(A::National)), Ok(()));
        assert_eq!(at("620000", instructed(A::Unspecified)), Ok(()));
        assert_eq!(at("620700", instructed(A::Province)), Err("payload.info_instructed.level".into()));
        let merged = |into: &str| {
            let into = format_event_id(&crate::ids::event_id(into.parse().unwrap(), 1 << 16, 3));
            Kind::InfoMerged(pb::InfoMerged { info_id: item.clone(), into_id: into })
        };
        assert_eq!(at("620700", merged("620700")), Ok(()));
        assert_eq!(at("620700", merged("620000")), Err("payload.info_merged.into_id".into()));
        let rule = Kind::ScoreRuleIssued(pb::ScoreRuleIssued::default());
        assert_eq!(at("620000", rule.clone()), Ok(()));
        assert_eq!(at("620700", rule), Err("payload.score_rule_issued".into()));
    }
}
