//! Questions about proposals that need a clock or look across records:
//! which rows are overdue, and the counts per committee or per unit
//! (`ProposalService`). The clock is passed in.

use crate::pb;
use crate::pb::{AnswerClass as C, ProposalState as P, Satisfaction as R};
use std::collections::BTreeMap;

/// Whether `row` is assigned, not answered, and past its deadline at `now_ms`.
pub fn overdue(row: &pb::ProposalHandling, now_ms: i64) -> bool {
    // A row rated 不满意 waits for its reassignment, which sets a new deadline.
    let waiting = P::try_from(row.state).unwrap_or_default() == P::Assigned;
    waiting && row.due.as_ref().is_some_and(|d| crate::proposals::timestamp_ms(d) < now_ms)
}

/// What a row is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// The handling committee.
    Committee,
    /// The lead unit (rows not yet assigned are not counted).
    Unit,
}

/// The counts of every handling row of `proposals` of `year` (0: all),
/// grouped, in key order.
pub fn statistics(proposals: &[pb::Proposal], year: u32, by: Grouping, now_ms: i64) -> Vec<pb::ProposalStatisticsRow> {
    let mut rows: BTreeMap<String, pb::ProposalStatisticsRow> = BTreeMap::new();
    for p in proposals.iter().filter(|p| p.known && (year == 0 || p.year == year)) {
        for h in &p.handlings {
            let key = match by {
                Grouping::Committee => h.node.clone(),
                Grouping::Unit if h.assigned_hlc != 0 => h.lead_unit.clone(),
                Grouping::Unit => continue,
            };
            if key.is_empty() {
                continue;
            }
            let r = rows.entry(key.clone()).or_insert_with(|| pb::ProposalStatisticsRow { key, ..Default::default() });
            let state = P::try_from(h.state).unwrap_or_default();
            r.received += 1;
            r.sent_up += u32::from(state == P::SentUp);
            r.filed += u32::from(h.state >= P::Filed as i32);
            r.not_filed += u32::from(state == P::NotFiled);
            r.merged += u32::from(state == P::Merged);
            r.assigned += u32::from(h.assigned_hlc != 0);
            r.answered += u32::from(h.answers > 0);
            r.answered_on_time += u32::from(h.answers > 0 && h.answered_on_time);
            r.overdue += u32::from(overdue(h, now_ms));
            match C::try_from(h.class).unwrap_or_default() {
                C::A => r.class_a += 1,
                C::B => r.class_b += 1,
                C::C => r.class_c += 1,
                C::D => r.class_d += 1,
                C::Unspecified => {}
            }
            match R::try_from(h.satisfaction).unwrap_or_default() {
                R::Satisfied => r.satisfied += 1,
                R::Basically => r.basically += 1,
                R::NotSatisfied => r.not_satisfied += 1,
                R::Unspecified => {}
            }
        }
    }
    let rate = |a: u32, b: u32| if b == 0 { 0.0 } else { f64::from(a) / f64::from(b) };
    rows.into_values()
        .map(|mut r| {
            r.filed_rate = rate(r.filed, r.filed + r.not_filed + r.merged);
            r.on_time_rate = rate(r.answered_on_time, r.answered);
            r.satisfaction_rate = rate(r.satisfied + r.basically, r.satisfied + r.basically + r.not_satisfied);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: &str, state: P, unit: &str, due_s: i64, answers: u32, on_time: bool) -> pb::ProposalHandling {
        pb::ProposalHandling {
            node: node.into(),
            state: state as i32,
            lead_unit: unit.into(),
            assigned_hlc: u64::from(!unit.is_empty()),
            due: Some(prost_types::Timestamp { seconds: due_s, nanos: 0 }),
            answers,
            answered_on_time: on_time,
            class: if answers > 0 { C::B as i32 } else { 0 },
            ..Default::default()
        }
    }

    #[test]
    fn counts_each_level_and_unit_and_judges_overdue_by_the_clock_given() {
        let p = |handlings| pb::Proposal { known: true, year: 2027, handlings, ..Default::default() };
        let proposals = vec![
            p(vec![row("620722", P::SentUp, "", 0, 0, false), row("620000", P::Answered, "省水利厅", 100, 1, true)]),
            p(vec![row("620722", P::Assigned, "县水务局", 100, 0, false)]),
            p(vec![row("620000", P::NotFiled, "", 0, 0, false)]),
        ];
        let by_committee = statistics(&proposals, 2027, Grouping::Committee, 200_000);
        let province = by_committee.iter().find(|r| r.key == "620000").unwrap();
        assert_eq!((province.received, province.filed, province.not_filed), (2, 1, 1));
        assert_eq!((province.answered, province.answered_on_time, province.class_b), (1, 1, 1));
        assert_eq!(province.filed_rate, 0.5);
        let county = by_committee.iter().find(|r| r.key == "620722").unwrap();
        assert_eq!((county.received, county.sent_up, county.overdue), (2, 1, 1));
        // Before the deadline nothing is overdue.
        assert_eq!(statistics(&proposals, 2027, Grouping::Committee, 50_000)[1].overdue, 0);
        let by_unit = statistics(&proposals, 0, Grouping::Unit, 200_000);
        assert_eq!(by_unit.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["县水务局", "省水利厅"]);
        assert!(statistics(&proposals, 2026, Grouping::Committee, 0).is_empty());
    }
}
