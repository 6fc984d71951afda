//! Reading folded records in the property tests: what differs, for a
//! readable failure, and the records seen without the claims that broke a
//! rule.

use linkage_core::pb;
use linkage_core::views::{RecordKind, RecordMap};
use prost::Message;

/// The records that differ, decoded, for a readable failure.
pub fn explain(a: &RecordMap, b: &RecordMap) -> String {
    fn decode(key: &(RecordKind, String), bytes: Option<&Vec<u8>>) -> String {
        let Some(bytes) = bytes else { return "(none)".into() };
        let b = bytes.as_slice();
        match key.0 {
            RecordKind::Topic => format!("{:#?}", pb::Topic::decode(b)),
            RecordKind::Group => format!("{:#?}", pb::Group::decode(b)),
            RecordKind::Info => format!("{:#?}", pb::InfoItem::decode(b)),
            RecordKind::Notice => format!("{:#?}", pb::Notice::decode(b)),
            RecordKind::Result => format!("{:#?}", pb::Result::decode(b)),
            RecordKind::ScoreRule => format!("{:#?}", pb::ScoreRule::decode(b)),
            RecordKind::Member => format!("{:#?}", pb::CommitteeMember::decode(b)),
            RecordKind::Proposal => format!("{:#?}", pb::Proposal::decode(b)),
            RecordKind::Calendar => format!("{:#?}", pb::HolidayCalendar::decode(b)),
            RecordKind::Duties => format!("{:#?}", pb::DutyRule::decode(b)),
            RecordKind::IndicatorSet => format!("{:#?}", pb::IndicatorSet::decode(b)),
            RecordKind::Ratings => format!("{:#?}", pb::EvaluationRatings::decode(b)),
        }
    }
    let keys: std::collections::BTreeSet<&(RecordKind, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{}{}:\n--- one order\n{}\n--- the other\n{}",
                k.0.letter(),
                k.1,
                decode(k, a.get(k)),
                decode(k, b.get(k))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The records without their disputed lists and without the pending
/// claims in `lies`, and without records nothing but those made.
pub fn without_disputes(records: &RecordMap, lies: &std::collections::BTreeSet<(String, u64, Vec<u8>)>) -> RecordMap {
    fn strip<M: Message + Default>(bytes: &[u8], clear: impl Fn(&mut M), bare: impl Fn(&M) -> M) -> Option<Vec<u8>> {
        let mut m = M::decode(bytes).expect("a record");
        clear(&mut m);
        (m.encode_to_vec() != bare(&m).encode_to_vec()).then(|| m.encode_to_vec())
    }
    records
        .iter()
        .filter_map(|((kind, id), bytes)| {
            let b = bytes.as_slice();
            let stripped = match kind {
                RecordKind::Topic => strip(
                    b,
                    |t: &mut pb::Topic| t.disputed.clear(),
                    |t| pb::Topic { id: t.id.clone(), ..Default::default() },
                ),
                RecordKind::Group => strip(
                    b,
                    |g: &mut pb::Group| {
                        g.disputed.clear();
                        g.disputed_ids.clear();
                        g.pending.retain(|p| !lies.contains(&(p.event_id.clone(), p.hlc, p.payload.clone())));
                        // The index of what is left pending, as it would be.
                        let mut waiting: Vec<pb::Waiting> = g
                            .pending
                            .iter()
                            .flat_map(|p| {
                                p.refs.iter().map(|r| pb::Waiting { ref_id: r.clone(), event_id: p.event_id.clone() })
                            })
                            .collect();
                        waiting.sort_by(|a, b| (&a.ref_id, &a.event_id).cmp(&(&b.ref_id, &b.event_id)));
                        waiting.dedup();
                        g.waiting = waiting;
                    },
                    |g| pb::Group { group_id: g.group_id.clone(), ..Default::default() },
                ),
                RecordKind::Info => strip(
                    b,
                    |i: &mut pb::InfoItem| i.disputed.clear(),
                    |i| pb::InfoItem { id: i.id.clone(), ..Default::default() },
                ),
                RecordKind::Notice => strip(
                    b,
                    |n: &mut pb::Notice| n.disputed.clear(),
                    |n| pb::Notice { id: n.id.clone(), ..Default::default() },
                ),
                RecordKind::Result => strip(
                    b,
                    |r: &mut pb::Result| r.disputed.clear(),
                    |r| pb::Result { id: r.id.clone(), ..Default::default() },
                ),
                RecordKind::ScoreRule => strip(
                    b,
                    |r: &mut pb::ScoreRule| r.disputed.clear(),
                    |r| pb::ScoreRule { id: r.id.clone(), ..Default::default() },
                ),
                RecordKind::Member => strip(
                    b,
                    |m: &mut pb::CommitteeMember| m.disputed.clear(),
                    |m| pb::CommitteeMember {
                        member_id: m.member_id.clone(),
                        committee: m.committee.clone(),
                        ..Default::default()
                    },
                ),
                RecordKind::Proposal => strip(
                    b,
                    |p: &mut pb::Proposal| p.disputed.clear(),
                    |p| pb::Proposal { id: p.id.clone(), ..Default::default() },
                ),
                RecordKind::Calendar => strip(
                    b,
                    |c: &mut pb::HolidayCalendar| c.disputed.clear(),
                    |c| pb::HolidayCalendar { year: c.year, ..Default::default() },
                ),
                RecordKind::Duties => strip(
                    b,
                    |r: &mut pb::DutyRule| r.disputed.clear(),
                    |r| pb::DutyRule { year: r.year, ..Default::default() },
                ),
                RecordKind::IndicatorSet => strip(
                    b,
                    |r: &mut pb::IndicatorSet| r.disputed.clear(),
                    |r| pb::IndicatorSet { id: r.id.clone(), ..Default::default() },
                ),
                RecordKind::Ratings => strip(
                    b,
                    |r: &mut pb::EvaluationRatings| r.disputed.clear(),
                    |r| pb::EvaluationRatings { subject_id: r.subject_id.clone(), ..Default::default() },
                ),
            };
            stripped.map(|s| ((*kind, id.clone()), s))
        })
        .collect()
}

/// Every disputed entry, as (event id, rule).
pub fn disputed_entries(records: &RecordMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ((kind, _), bytes) in records {
        let b = bytes.as_slice();
        let list = match kind {
            RecordKind::Topic => pb::Topic::decode(b).map(|t| t.disputed),
            RecordKind::Group => pb::Group::decode(b).map(|g| g.disputed),
            RecordKind::Info => pb::InfoItem::decode(b).map(|i| i.disputed),
            RecordKind::Notice => pb::Notice::decode(b).map(|n| n.disputed),
            RecordKind::Result => pb::Result::decode(b).map(|r| r.disputed),
            RecordKind::ScoreRule => pb::ScoreRule::decode(b).map(|r| r.disputed),
            RecordKind::Member => pb::CommitteeMember::decode(b).map(|m| m.disputed),
            RecordKind::Proposal => pb::Proposal::decode(b).map(|p| p.disputed),
            RecordKind::Calendar => pb::HolidayCalendar::decode(b).map(|c| c.disputed),
            RecordKind::Duties => pb::DutyRule::decode(b).map(|r| r.disputed),
            RecordKind::IndicatorSet => pb::IndicatorSet::decode(b).map(|r| r.disputed),
            RecordKind::Ratings => pb::EvaluationRatings::decode(b).map(|r| r.disputed),
        }
        .expect("a record");
        out.extend(list.into_iter().map(|d| (d.event_id, d.rule)));
    }
    out
}

/// Every pending claim's event id.
pub fn pending_ids(records: &RecordMap) -> std::collections::BTreeSet<String> {
    records
        .iter()
        .filter(|((kind, _), _)| *kind == RecordKind::Group)
        .flat_map(|(_, b)| pb::Group::decode(b.as_slice()).expect("a group").pending.into_iter().map(|p| p.event_id))
        .collect()
}
