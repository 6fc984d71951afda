//! 委员 as text: the register, one member, a year's activity.

use super::{listing, or_dash};
use crate::labels::{hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

fn status(m: &pb::CommitteeMember) -> String {
    match (m.left, m.erased) {
        (_, true) => "信息已删除/erased".into(),
        (true, false) => "离任/left".into(),
        (false, false) => "在任/serving".into(),
    }
}

/// Members, one per row.
pub fn members(members: &[pb::CommitteeMember], names: &Names) -> String {
    let mut t = Table::new(&["member", "committee", "sector 界别", "专委会", "term 届次", "status", "since"]);
    for m in members {
        t.row([
            m.member_id.clone(),
            names.show(&m.committee),
            or_dash(&m.sector),
            or_dash(&m.special_committee),
            or_dash(&m.term),
            status(m),
            hlc_time(m.hlc),
        ]);
    }
    listing(&t)
}

/// One member; the personal fields where this node could open them.
pub fn member(m: &pb::CommitteeMember, names: &Names) -> String {
    let personal = match (&m.personal, &m.sealed, m.erased) {
        (_, _, true) => "erased on request (PIPL): the key is destroyed".to_string(),
        (Some(p), _, false) => {
            let parts = [p.name.as_str(), p.gender.as_str(), p.workplace.as_str(), p.phone.as_str()];
            parts.iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>().join(" · ")
        }
        (None, Some(_), false) => "sealed: readable at the member's own committee only".to_string(),
        (None, None, false) => "-".to_string(),
    };
    let mut out = fields(&[
        ("member", m.member_id.clone()),
        ("committee", names.show(&m.committee)),
        ("personal", personal),
        ("sector 界别", or_dash(&m.sector)),
        ("专委会", or_dash(&m.special_committee)),
        ("term 届次", or_dash(&m.term)),
        ("status", status(m)),
        ("left because", or_dash(&m.left_reason)),
    ]);
    super::disputes(&mut out, &m.disputed, &[], names);
    out
}

/// A year's activity, one member per row.
pub fn activity(rows: &[pb::MemberActivity], names: &Names) -> String {
    let mut t = Table::new(&[
        "member",
        "committee",
        "社情民意 报送",
        "采用",
        "提案",
        "立案",
        "发言",
        "建议",
        "调研 research",
        "征集 answered",
        "N个一",
    ])
    .right(&[2, 3, 4, 5, 6, 7, 8, 9]);
    for r in rows {
        t.row([
            r.member_id.clone(),
            names.show(&r.committee),
            r.items_submitted.to_string(),
            r.items_adopted.to_string(),
            r.proposals.to_string(),
            r.proposals_filed.to_string(),
            r.themed_talks.to_string(),
            r.suggestions.to_string(),
            r.research.to_string(),
            r.notices_answered.to_string(),
            duties(r),
        ]);
    }
    listing(&t)
}

/// The roll-up: how many of the listed members meet the year's duties.
pub fn duties_summary(r: &pb::ListMemberActivityResponse) -> String {
    match r.duty_rule.as_ref().and_then(|d| d.rule.as_ref()) {
        None => "no duty rule (N个一) of the province is held for this year\n".into(),
        Some(rule) => {
            let met = r.rows.iter().filter(|x| x.meets_duties).count();
            let title = if rule.title.is_empty() { "N个一".to_string() } else { rule.title.clone() };
            format!("{title}: {met} of {} members meet their duties\n", r.rows.len())
        }
    }
}

/// "met" or what is missing, e.g. "发言 0/1".
fn duties(r: &pb::MemberActivity) -> String {
    if r.duties.is_empty() {
        return "-".into();
    }
    if r.meets_duties {
        return "met 已完成".into();
    }
    let word = |k: i32| match pb::DutyKind::try_from(k).unwrap_or_default() {
        pb::DutyKind::ThemedTalk => "发言",
        pb::DutyKind::Suggestion => "建议",
        pb::DutyKind::Proposal => "提案",
        pb::DutyKind::InfoItem => "社情民意",
        pb::DutyKind::Research => "调研",
        pb::DutyKind::Unspecified => "?",
    };
    let missing: Vec<String> = r
        .duties
        .iter()
        .filter(|d| d.done < d.required)
        .map(|d| format!("{} {}/{}", word(d.kind), d.done, d.required))
        .collect();
    missing.join(", ")
}
