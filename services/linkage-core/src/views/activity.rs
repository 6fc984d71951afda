//! What each member (委员) did in a year, counted from the events that name
//! the member — and only its own committee's: the base of "N个一" duties
//! and quotas. A function of the records a node holds, so nodes that
//! hold the same events count a member alike; research and notices
//! answered count where the group and the notice are held.

use crate::hlc::utc_year;
use crate::pb;
use std::collections::{BTreeMap, BTreeSet};

/// One row per member of `members` (known ones), in member id order.
pub fn member_activity(
    year: u32,
    members: &[pb::CommitteeMember],
    items: &[pb::InfoItem],
    groups: &[pb::Group],
    notices: &[pb::Notice],
) -> Vec<pb::MemberActivity> {
    let mut rows: BTreeMap<&str, pb::MemberActivity> = members
        .iter()
        .filter(|m| m.known)
        .map(|m| {
            let row = pb::MemberActivity {
                member_id: m.member_id.clone(),
                committee: m.committee.clone(),
                ..Default::default()
            };
            (m.member_id.as_str(), row)
        })
        .collect();
    // Only the member's own committee's events count for it.
    let own = |member: &str, origin: &str| crate::members::committee_of(member).is_some_and(|c| c.as_str() == origin);
    let replies: BTreeMap<&str, u64> =
        notices.iter().flat_map(|n| n.replies.iter().map(|r| (r.event_id.as_str(), r.hlc))).collect();
    for item in items.iter().filter(|i| i.known && !i.member_id.is_empty() && own(&i.member_id, &i.origin)) {
        let Some(row) = rows.get_mut(item.member_id.as_str()) else { continue };
        if utc_year(item.hlc) == year {
            row.items_submitted += 1;
        }
        let first_adoption = item.trail.iter().find(|e| e.step == pb::InfoStatus::Adopted as i32);
        if first_adoption.is_some_and(|e| utc_year(e.hlc) == year) {
            row.items_adopted += 1;
        }
        if replies.get(item.id.as_str()).is_some_and(|hlc| utc_year(*hlc) == year) {
            row.notices_answered += 1;
        }
    }
    // A sub-topic counts once for each member its sub-reports of the year
    // name, however many times they were submitted again.
    for task in groups.iter().flat_map(|g| &g.tasks) {
        let named: BTreeSet<&str> = task
            .sub_reports
            .iter()
            .filter(|r| utc_year(r.hlc) == year)
            .flat_map(|r| r.member_ids.iter().filter(|m| own(m, &r.origin)).map(String::as_str))
            .collect();
        for member in named {
            if let Some(row) = rows.get_mut(member) {
                row.research += 1;
            }
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-03-01 in ms, as an hlc.
    const MARCH_2027: u64 = 1_803_859_200_000 << 16;
    const JAN_2028: u64 = 1_830_297_600_000 << 16;

    #[test]
    fn a_members_year_counts_its_own_committees_events_only() {
        let member = |id: &str| pb::CommitteeMember {
            member_id: id.into(),
            committee: id[..6].into(),
            known: true,
            ..Default::default()
        };
        let members = [member("620722-zhang"), member("620722-wang")];
        let item = |id: &str, origin: &str, member: &str, adopted_at: Option<u64>| pb::InfoItem {
            id: id.into(),
            origin: origin.into(),
            member_id: member.into(),
            known: true,
            hlc: MARCH_2027,
            trail: adopted_at
                .map(|hlc| pb::TrailEntry { step: pb::InfoStatus::Adopted as i32, hlc, ..Default::default() })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let items = [
            item("a", "620722", "620722-zhang", Some(MARCH_2027)),
            // Adopted the next year: submitted in 2027, adopted in 2028.
            item("b", "620722", "620722-zhang", Some(JAN_2028)),
            // Another committee naming 民乐县's member counts for nobody.
            item("c", "620700", "620722-zhang", Some(MARCH_2027)),
        ];
        let report = pb::Report {
            origin: "620722".into(),
            hlc: MARCH_2027,
            member_ids: vec!["620722-zhang".into(), "620722-wang".into()],
            ..Default::default()
        };
        // Submitted again: the sub-topic still counts once.
        let group = pb::Group {
            tasks: vec![pb::Task { sub_reports: vec![report.clone(), report], ..Default::default() }],
            ..Default::default()
        };
        let notice = pb::Notice {
            replies: vec![pb::Reply { event_id: "a".into(), hlc: MARCH_2027, ..Default::default() }],
            ..Default::default()
        };
        let rows = member_activity(2027, &members, &items, std::slice::from_ref(&group), std::slice::from_ref(&notice));
        let zhang = &rows[1];
        assert_eq!(zhang.member_id, "620722-zhang");
        assert_eq!((zhang.items_submitted, zhang.items_adopted, zhang.research, zhang.notices_answered), (2, 1, 1, 1));
        assert_eq!((rows[0].member_id.as_str(), rows[0].research, rows[0].items_submitted), ("620722-wang", 1, 0));
        let next = member_activity(2028, &members, &items, &[group], &[notice]);
        assert_eq!((next[1].items_submitted, next[1].items_adopted, next[1].research), (0, 1, 0));
    }
}
