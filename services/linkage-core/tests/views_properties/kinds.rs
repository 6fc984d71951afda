//! The referring events the generator makes, and the rule each breaks by
//! the generator's own reading of who may say what (not
//! `linkage_core::rules`).

use super::names::*;
use linkage_core::pb;
use linkage_core::pb::payload::Kind;

/// The payload of `op`; `op_ids` are the ids of all ops, which
/// consolidated reports cite.
pub fn referring_kind(op: &Op, op_ids: &[String]) -> Kind {
    let r = |id: String| if op.upper { id.to_uppercase() } else { id };
    let (a, b, c) = (usize::from(op.a), usize::from(op.b), op.c);
    let group: &str = GROUPS[a % GROUPS.len()];
    let task = TASKS[b % TASKS.len()].to_string();
    let origin = op_origin(op);
    let ops = op_ids;
    match op.kind % REFERRING_KINDS {
        0 => {
            Kind::TopicCommented(pb::TopicCommented { topic_id: r(topic_id(a % TOPICS)), text: format!("意见 {c}") })
        }
        1 => {
            let (x, y) = (a % TOPICS, (a + 1 + b % (TOPICS - 1)) % TOPICS);
            let mut topic_ids = vec![r(topic_id(x)), topic_id(y)];
            if c % 4 == 0 {
                // A topic whose proposal never reaches this node.
                topic_ids.push(topic_id(TOPICS));
            }
            Kind::TopicLinked(pb::TopicLinked { topic_ids, note: String::new() })
        }
        2 => Kind::TopicResponded(pb::TopicResponded {
            topic_id: r(topic_id(a % TOPICS)),
            response: 1 + i32::from(c % 2),
            note: format!("答复 {c}"),
        }),
        3 => Kind::PlanPublished(pb::PlanPublished {
            year: 2025,
            title: format!("年度计划 {c}"),
            topic_ids: (0..TOPICS).filter(|t| c & (1 << t) != 0).map(|t| r(topic_id(t))).collect(),
        }),
        4 => Kind::GroupFormed(pb::GroupFormed {
            group_id: group.into(),
            title: format!("联动调研组 {c}"),
            lead: if c % 5 == 0 { ORIGINS[b % ORIGINS.len()] } else { origin }.into(),
            members: origins(c),
            topic_ids: (0..TOPICS).filter(|t| b & (1 << t) != 0).map(|t| r(topic_id(t))).collect(),
            rules: linkage_core::rules::GROUP_RULES,
        }),
        5 => Kind::GroupJoined(pb::GroupJoined { group_id: group.into(), member: ORIGINS[b % ORIGINS.len()].into() }),
        6 => Kind::GroupLeft(pb::GroupLeft { group_id: group.into(), member: ORIGINS[b % ORIGINS.len()].into() }),
        7 => Kind::TaskAssigned(pb::TaskAssigned {
            group_id: group.into(),
            task_id: task,
            title: format!("子课题 {c}"),
            assignee: ORIGINS[usize::from(c) % ORIGINS.len()].into(),
            due: time(c),
        }),
        8 => Kind::MilestoneReached(pb::MilestoneReached {
            group_id: group.into(),
            task_id: if c % 3 == 0 { String::new() } else { task },
            title: format!("节点 {c}"),
        }),
        9 => Kind::ProgressReported(pb::ProgressReported {
            group_id: group.into(),
            task_id: task,
            percent: u32::from(c % 101),
            text: format!("进展 {c}"),
        }),
        10 => Kind::SubReportSubmitted(pb::SubReportSubmitted {
            group_id: group.into(),
            task_id: task,
            title: format!("分报告 {c}"),
            summary: String::new(),
            attachments: vec![format!("reports/sub-{c}.pdf")],
            member_ids: if c % 2 == 0 { vec![MEMBERS[b % MEMBERS.len()].into()] } else { vec![] },
            documents: documents(c),
        }),
        11 => Kind::ConsolidatedReportSubmitted(pb::ConsolidatedReportSubmitted {
            group_id: group.into(),
            title: format!("总报告 {c}"),
            summary: String::new(),
            sub_report_ids: vec![r(op_ids[b % ops.len()].clone()), op_ids[usize::from(c) % ops.len()].clone()],
        }),
        12 => Kind::VisitScheduled(pb::VisitScheduled {
            group_id: group.into(),
            title: format!("联动视察 {c}"),
            starts: time(c),
            places: vec![format!("地点 {b}")],
        }),
        13 => Kind::InfoPublished(pb::InfoPublished { info_id: r(item_id(a % ITEMS)), issue: format!("第{c}期") }),
        14 => Kind::InfoForwarded(pb::InfoForwarded { info_id: r(item_id(a % ITEMS)), to: format!("单位 {c}") }),
        15 => Kind::InfoAdopted(pb::InfoAdopted {
            info_id: r(item_id(a % ITEMS)),
            level: 1 + (b % 4) as i32,
            by: format!("采用单位 {c}"),
            combined: c % 2 == 0,
            topology_version: 0,
        }),
        16 => Kind::InfoInstructed(pb::InfoInstructed {
            info_id: r(item_id(a % ITEMS)),
            leader: format!("领导 {c}"),
            text: String::new(),
            rank: i32::from(c % 3),
            // Mostly the recorder's own level; sometimes one it names.
            level: if c % 4 == 0 { 1 + (b % 4) as i32 } else { 0 },
            topology_version: 0,
        }),
        17 => Kind::InfoFeedback(pb::InfoFeedback { info_id: r(item_id(a % ITEMS)), text: format!("反馈 {c}") }),
        25 => Kind::InfoDeclined(pb::InfoDeclined {
            info_id: r(item_id(a % ITEMS)),
            reason: format!("不采用 {c}"),
            returned: c % 2 == 0,
        }),
        26 => Kind::InfoMerged(pb::InfoMerged {
            info_id: r(item_id(a % ITEMS)),
            into_id: item_id((a + 1 + b % (ITEMS - 1)) % ITEMS),
        }),
        27 => Kind::ScoreRuleIssued(pb::ScoreRuleIssued {
            effective: time(c % 5),
            adoption_points: vec![1, u32::from(c % 7), 20],
            combined_percent: u32::from(c % 101),
            deputy_instruction_points: vec![u32::from(b as u8 % 5)],
            principal_instruction_points: vec![],
            forward_credit_percent: 10,
            title: format!("计分办法 {c}"),
        }),
        28 => Kind::MemberRegistered(pb::MemberRegistered {
            member_id: MEMBERS[b % MEMBERS.len()].into(),
            sector: format!("界别 {c}"),
            sealed: Some(pb::Sealed { nonce: vec![c; 24], ciphertext: vec![b as u8, c] }),
            ..Default::default()
        }),
        29 => Kind::MemberUpdated(pb::MemberUpdated {
            member_id: MEMBERS[b % MEMBERS.len()].into(),
            term: format!("第{c}届"),
            sealed: (c % 3 != 0).then(|| pb::Sealed { nonce: vec![c; 24], ciphertext: vec![c] }),
            ..Default::default()
        }),
        30 => Kind::MemberLeft(pb::MemberLeft {
            member_id: MEMBERS[b % MEMBERS.len()].into(),
            reason: format!("离任 {c}"),
        }),
        31 => Kind::MemberErased(pb::MemberErased { member_id: MEMBERS[b % MEMBERS.len()].into() }),
        18 => Kind::NoticeAcknowledged(pb::NoticeAcknowledged { notice_id: r(notice_id(a % NOTICES)) }),
        19 => Kind::ResultShared(pb::ResultShared {
            result_id: r(result_id(a % RESULTS)),
            audience: ["up", "down", "all"][b % 3].into(),
        }),
        20 => Kind::ResultAdopted(pb::ResultAdopted {
            result_id: r(result_id(a % RESULTS)),
            by: format!("采用单位 {b}"),
            how: format!("转化方式 {c}"),
        }),
        21 => Kind::TaskDueChanged(pb::TaskDueChanged {
            group_id: group.into(),
            task_id: task,
            due: time(c.wrapping_add(1)),
            reason: format!("延期 {c}"),
        }),
        22 => Kind::TopicClosed(pb::TopicClosed {
            topic_id: r(topic_id(a % TOPICS)),
            outcome: 1 + i32::from(c % 3),
            into_topic_id: if c % 3 == 1 { r(topic_id(b % TOPICS)) } else { String::new() },
            note: format!("关闭 {c}"),
        }),
        24 => Kind::NoticeReminded(pb::NoticeReminded {
            notice_id: r(notice_id(a % NOTICES)),
            to: origins(c),
            note: format!("催办 {c}"),
        }),
        32..=44 => proposal_kind(op, &r, ops),
        45 => Kind::MemberContributed(pb::MemberContributed {
            member_id: MEMBERS[b % MEMBERS.len()].into(),
            kind: 1 + i32::from(c % 2),
            title: format!("发言 {c}"),
            occasion: String::new(),
        }),
        47 => Kind::IndicatorSetIssued(pb::IndicatorSetIssued {
            subject: pb::EvaluationSubject::Proposal as i32,
            effective: time(c % 5),
            title: format!("评价 {c}"),
            indicators: vec![pb::Indicator {
                code: "quality".into(),
                name: "质量".into(),
                group: String::new(),
                points: 40,
                measure: pb::Measure::Judged as i32,
            }],
            grades: vec![pb::Grade { name: "优秀".into(), min_points: u32::from(c % 40) }],
        }),
        48 => Kind::EvaluationRated(pb::EvaluationRated {
            subject_id: r(proposal_id(a % PROPOSALS)),
            set_id: ops[b % ops.len()].clone(),
            scores: vec![pb::IndicatorScore { code: "quality".into(), points: u32::from(c % 41) }],
            note: String::new(),
        }),
        46 => Kind::MemberDutiesIssued(pb::MemberDutiesIssued {
            year: 2025 + (b % 2) as u32,
            title: format!("履职 {c}"),
            themed_talks: 1,
            proposals: u32::from(c % 3),
            ..Default::default()
        }),
        _ => Kind::ResultFeedback(pb::ResultFeedback {
            result_id: r(result_id(a % RESULTS)),
            text: format!("反馈 {c}"),
        }),
    }
}

/// A proposal's handling event, or the calendar (ops 32..=44).
fn proposal_kind(op: &Op, r: &dyn Fn(String) -> String, ops: &[String]) -> Kind {
    let (a, b, c) = (usize::from(op.a), usize::from(op.b), op.c);
    let proposal_id = r(proposal_id(a % PROPOSALS));
    let unit = format!("单位 {}", c % 3);
    match op.kind % REFERRING_KINDS {
        32 => Kind::ProposalCoSigned(pb::ProposalCoSigned {
            proposal_id,
            member_ids: vec![MEMBERS[b % MEMBERS.len()].into()],
            note: format!("联合 {c}"),
        }),
        33 => Kind::ProposalSentUp(pb::ProposalSentUp { proposal_id, note: format!("报送 {c}") }),
        34 => {
            let outcome = 1 + i32::from(c % 3);
            Kind::ProposalReviewed(pb::ProposalReviewed {
                proposal_id,
                outcome,
                number: if outcome == 1 { format!("第{c}号") } else { String::new() },
                key: outcome == 1 && b % 2 == 0,
                kept_as: if outcome == 2 { 1 + (b % 2) as i32 } else { 0 },
                into_id: if outcome == 3 {
                    r(self::proposal_id((a + 1 + b % (PROPOSALS - 1)) % PROPOSALS))
                } else {
                    String::new()
                },
                info_id: String::new(),
                reason: format!("审查 {c}"),
            })
        }
        35 => Kind::ProposalAssigned(pb::ProposalAssigned {
            proposal_id,
            lead_unit: unit,
            co_units: vec![format!("单位 {}", b % 3)],
            due: time(c),
            objection_days: u32::from(c % 11),
        }),
        36 => Kind::ProposalObjected(pb::ProposalObjected { proposal_id, unit, reason: format!("异议 {c}") }),
        37 => Kind::ProposalDeadlineExtended(pb::ProposalDeadlineExtended {
            proposal_id,
            due: time(c.wrapping_add(30)),
            reason: format!("延期 {c}"),
        }),
        38 => Kind::ProposalContacted(pb::ProposalContacted { proposal_id, unit, text: format!("沟通 {c}") }),
        39 => Kind::ProposalAnswered(pb::ProposalAnswered {
            proposal_id,
            unit,
            class: 1 + i32::from(c % 4),
            text: format!("答复 {c}"),
            documents: documents(c),
        }),
        40 => Kind::ProposalRated(pb::ProposalRated {
            proposal_id,
            handler: ORIGINS[b % ORIGINS.len()].into(),
            satisfaction: 1 + i32::from(c % 3),
            text: String::new(),
            // Sometimes naming an event as the answer it rates (the other
            // ops include answers), sometimes none.
            answer_id: if c % 2 == 0 { String::new() } else { ops[b % ops.len()].clone() },
        }),
        41 => Kind::ProposalSupervised(pb::ProposalSupervised {
            proposal_id,
            by: format!("督办 {b}"),
            note: String::new(),
        }),
        42 => Kind::ProposalReminded(pb::ProposalReminded { proposal_id, unit, note: format!("催办 {c}") }),
        43 => Kind::ProposalFollowedUp(pb::ProposalFollowedUp { proposal_id, text: format!("跟踪 {c}") }),
        _ => Kind::HolidayCalendarIssued(pb::HolidayCalendarIssued {
            year: 2025 + (b % 2) as u32,
            holidays: vec![format!("{}-10-0{}", 2025 + b % 2, 1 + c % 7)],
            workdays: if c % 2 == 0 { vec![format!("{}-10-11", 2025 + b % 2)] } else { vec![] },
        }),
    }
}

/// The rule `kind`, appended by `origin` as `op`, breaks.
pub fn lie_of(kind: &Kind, op: &Op, origin: &str) -> Option<&'static str> {
    let (a, c) = (usize::from(op.a), op.c);
    let group: &str = GROUPS[a % GROUPS.len()];
    let owner = &group[..6];
    let forged = c % 7 == 0;
    match kind {
        _ if forged => Some("id_not_origin"),
        Kind::GroupFormed(m) => (origin != owner || m.lead != origin).then_some("group_not_origin"),
        Kind::GroupJoined(_) => (origin != owner).then_some("membership_not_authorized"),
        Kind::GroupLeft(m) => (origin != owner && m.member != origin).then_some("membership_not_authorized"),
        Kind::TaskAssigned(_) | Kind::TaskDueChanged(_) => (origin != owner).then_some("task_not_by_lead"),
        Kind::TopicClosed(_) => (origin != creator_of(1, a % TOPICS)).then_some("topic_not_own"),
        Kind::NoticeReminded(_) => (origin != creator_of(3, a % NOTICES)).then_some("reminder_not_by_issuer"),
        Kind::InfoAdopted(m) if !adoption_levels(origin).contains(&m.level) => Some("adoption_not_own_level"),
        Kind::InfoInstructed(m) if m.level != 0 && !adoption_levels(origin).contains(&m.level) => {
            Some("instruction_not_own_level")
        }
        Kind::InfoPublished(_)
        | Kind::InfoForwarded(_)
        | Kind::InfoAdopted(_)
        | Kind::InfoInstructed(_)
        | Kind::InfoFeedback(_)
        | Kind::InfoDeclined(_)
        | Kind::InfoMerged(_)
            if !on_chain(origin, creator_of(2, a % ITEMS)) =>
        {
            Some("handling_not_on_chain")
        }
        Kind::InfoMerged(_) => {
            let into = (a + 1 + usize::from(op.b) % (ITEMS - 1)) % ITEMS;
            (creator_of(2, into) != origin).then_some("merge_not_into_own")
        }
        Kind::ScoreRuleIssued(_) => (origin != "620000").then_some("score_rule_not_by_province"),
        Kind::EvaluationRated(_) if origin == creator_of(5, a % PROPOSALS) => Some("self_evaluation"),
        Kind::EvaluationRated(_) if !on_chain(origin, creator_of(5, a % PROPOSALS)) => Some("handling_not_on_chain"),
        Kind::HolidayCalendarIssued(_) | Kind::MemberDutiesIssued(_) | Kind::IndicatorSetIssued(_) => {
            (origin != "620000").then_some("rules_not_by_province")
        }
        Kind::ProposalRated(_) => (origin != creator_of(5, a % PROPOSALS)).then_some("rating_not_by_proposer"),
        other if linkage_core::proposals::handled(other).is_some() => {
            let into = match other {
                Kind::ProposalReviewed(m) if !m.into_id.is_empty() => {
                    Some(creator_of(5, (a + 1 + usize::from(op.b) % (PROPOSALS - 1)) % PROPOSALS))
                }
                _ => None,
            };
            let off = !on_chain(origin, creator_of(5, a % PROPOSALS)) || into.is_some_and(|i| !on_chain(origin, i));
            off.then_some("handling_not_on_chain")
        }
        Kind::MemberRegistered(_)
        | Kind::MemberUpdated(_)
        | Kind::MemberLeft(_)
        | Kind::MemberErased(_)
        | Kind::MemberContributed(_) => {
            (!MEMBERS[usize::from(op.b) % MEMBERS.len()].starts_with(origin)).then_some("member_not_own")
        }
        _ => None,
    }
}

/// A document now and then: references change no view.
pub fn documents(c: u8) -> Vec<pb::DocumentRef> {
    match c % 3 {
        0 => vec![linkage_core::documents::describe(&format!("答复函 {c}.pdf"), "application/pdf", &[c; 300])],
        _ => Vec::new(),
    }
}
