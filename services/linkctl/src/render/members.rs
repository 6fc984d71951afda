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
    let mut t = Table::new(&["member", "committee", "社情民意 报送", "采用", "调研 research", "征集 answered"])
        .right(&[2, 3, 4, 5]);
    for r in rows {
        t.row([
            r.member_id.clone(),
            names.show(&r.committee),
            r.items_submitted.to_string(),
            r.items_adopted.to_string(),
            r.research.to_string(),
            r.notices_answered.to_string(),
        ]);
    }
    listing(&t)
}
