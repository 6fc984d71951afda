//! What each member (委员) did in a year (a calendar year in China),
//! counted from the events that name
//! the member — and only its own committee's: the base of "N个一" duties
//! and quotas. A function of the records a node holds, so nodes that
//! hold the same events count a member alike; research and notices
//! answered count where the group and the notice are held.

use crate::pb;
use crate::proposals::year_in_china;
use std::collections::{BTreeMap, BTreeSet};

/// What a year's activity is counted from: the records held.
#[derive(Clone, Copy, Default)]
pub struct Held<'a> {
    /// The register.
    pub members: &'a [pb::CommitteeMember],
    /// 社情民意 items.
    pub items: &'a [pb::InfoItem],
    /// Joint groups (their sub-reports).
    pub groups: &'a [pb::Group],
    /// Notices (their replies).
    pub notices: &'a [pb::Notice],
    /// Proposals.
    pub proposals: &'a [pb::Proposal],
}

/// One row per member of `held.members` (known ones), in member id order,
/// each with its progress on the duties of `rule` ("N个一"), the
/// province's rule for the year.
pub fn member_activity(year: u32, held: Held<'_>, rule: Option<&pb::MemberDutiesIssued>) -> Vec<pb::MemberActivity> {
    let Held { members, items, groups, notices, proposals } = held;
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
        if year_in_china(item.hlc) == year {
            row.items_submitted += 1;
        }
        let first_adoption = item.trail.iter().find(|e| e.step == pb::InfoStatus::Adopted as i32);
        if first_adoption.is_some_and(|e| year_in_china(e.hlc) == year) {
            row.items_adopted += 1;
        }
        if replies.get(item.id.as_str()).is_some_and(|hlc| year_in_china(*hlc) == year) {
            row.notices_answered += 1;
        }
    }
    // A sub-topic counts once for each member its sub-reports of the year
    // name, however many times they were submitted again.
    for task in groups.iter().flat_map(|g| &g.tasks) {
        let named: BTreeSet<&str> = task
            .sub_reports
            .iter()
            .filter(|r| year_in_china(r.hlc) == year)
            .flat_map(|r| r.member_ids.iter().filter(|m| own(m, &r.origin)).map(String::as_str))
            .collect();
        for member in named {
            if let Some(row) = rows.get_mut(member) {
                row.research += 1;
            }
        }
    }
    // A proposal counts for the members its submission and its
    // co-signatures name, each committee naming its own.
    for p in proposals.iter().filter(|p| p.known) {
        let mut named: BTreeSet<&str> = p.member_ids.iter().filter(|m| own(m, &p.origin)).map(String::as_str).collect();
        for e in p.trail.iter().filter(|e| e.step == pb::ProposalStep::CoSigned as i32) {
            named.extend(e.names.iter().filter(|m| own(m, &e.origin)).map(String::as_str));
        }
        let filed = p.trail.iter().find(|e| e.step == pb::ProposalStep::Filed as i32).map(|e| e.hlc);
        for member in named {
            if let Some(row) = rows.get_mut(member) {
                row.proposals += u32::from(year_in_china(p.hlc) == year);
                row.proposals_filed += u32::from(filed.is_some_and(|hlc| year_in_china(hlc) == year));
            }
        }
    }
    for m in members.iter().filter(|m| m.known) {
        let Some(row) = rows.get_mut(m.member_id.as_str()) else { continue };
        for c in m.contributions.iter().filter(|c| year_in_china(c.hlc) == year) {
            match pb::ContributionKind::try_from(c.kind).unwrap_or_default() {
                pb::ContributionKind::ThemedTalk => row.themed_talks += 1,
                pb::ContributionKind::Suggestion => row.suggestions += 1,
                pb::ContributionKind::Unspecified => {}
            }
        }
    }
    let mut rows: Vec<pb::MemberActivity> = rows.into_values().collect();
    if let Some(rule) = rule {
        for row in &mut rows {
            duties(row, rule);
        }
    }
    rows
}

/// The member's progress on each duty `rule` asks for, and whether it
/// meets them all.
fn duties(row: &mut pb::MemberActivity, rule: &pb::MemberDutiesIssued) {
    use pb::DutyKind as D;
    let asked = [
        (D::ThemedTalk, rule.themed_talks, row.themed_talks),
        (D::Suggestion, rule.suggestions, row.suggestions),
        (D::Proposal, rule.proposals, row.proposals_filed),
        (D::InfoItem, rule.info_items, row.items_adopted),
        (D::Research, rule.research, row.research),
    ];
    row.duties = asked
        .iter()
        .filter(|(_, required, _)| *required > 0)
        .map(|(kind, required, done)| pb::DutyProgress { kind: *kind as i32, required: *required, done: *done })
        .collect();
    row.meets_duties = row.duties.iter().all(|d| d.done >= d.required);
}

/// The province's duty rule for `year` among those held: the record of
/// that year, known and issued by the province.
pub fn duty_rule(year: u32, rules: &[pb::DutyRule]) -> Option<&pb::DutyRule> {
    rules.iter().find(|r| r.known && r.year == year && r.rule.is_some())
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
        let held = Held {
            members: &members,
            items: &items,
            groups: std::slice::from_ref(&group),
            notices: std::slice::from_ref(&notice),
            proposals: &[],
        };
        let rows = member_activity(2027, held, None);
        let zhang = &rows[1];
        assert_eq!(zhang.member_id, "620722-zhang");
        assert_eq!((zhang.items_submitted, zhang.items_adopted, zhang.research, zhang.notices_answered), (2, 1, 1, 1));
        assert_eq!((rows[0].member_id.as_str(), rows[0].research, rows[0].items_submitted), ("620722-wang", 1, 0));
        let next = member_activity(2028, held, None);
        assert_eq!((next[1].items_submitted, next[1].items_adopted, next[1].research), (0, 1, 0));
    }

    #[test]
    fn duties_count_filed_proposals_co_signatures_and_contributions() {
        let talk = |hlc| pb::Contribution {
            kind: pb::ContributionKind::ThemedTalk as i32,
            hlc,
            origin: "620722".into(),
            ..Default::default()
        };
        let members = [
            pb::CommitteeMember {
                member_id: "620700-li".into(),
                committee: "620700".into(),
                known: true,
                ..Default::default()
            },
            pb::CommitteeMember {
                member_id: "620722-zhang".into(),
                committee: "620722".into(),
                known: true,
                contributions: vec![talk(MARCH_2027), talk(JAN_2028)],
                ..Default::default()
            },
        ];
        let step = |step: pb::ProposalStep, origin: &str, names: &[&str]| pb::ProposalTrailEntry {
            step: step as i32,
            origin: origin.into(),
            hlc: MARCH_2027,
            names: names.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        };
        let proposal = pb::Proposal {
            known: true,
            origin: "620722".into(),
            hlc: MARCH_2027,
            // 张掖市 names its own member when it co-signs, and cannot name 民乐县's.
            member_ids: vec!["620722-zhang".into(), "620700-li".into()],
            trail: vec![
                step(pb::ProposalStep::CoSigned, "620700", &["620700-li"]),
                step(pb::ProposalStep::Filed, "620000", &[]),
            ],
            ..Default::default()
        };
        let rule = pb::MemberDutiesIssued { year: 2027, themed_talks: 1, proposals: 1, ..Default::default() };
        let held = Held { members: &members, proposals: std::slice::from_ref(&proposal), ..Held::default() };
        let rows = member_activity(2027, held, Some(&rule));
        let (li, zhang) = (&rows[0], &rows[1]);
        assert_eq!((zhang.proposals, zhang.proposals_filed, zhang.themed_talks), (1, 1, 1));
        assert!(zhang.meets_duties, "{zhang:?}");
        assert_eq!(zhang.duties.len(), 2);
        assert_eq!((li.proposals, li.proposals_filed, li.themed_talks), (1, 1, 0));
        assert!(!li.meets_duties, "no themed talk: {li:?}");
        // Without a rule no row meets duties it was never given.
        assert!(member_activity(2027, held, None).iter().all(|r| r.duties.is_empty()));
    }
}
