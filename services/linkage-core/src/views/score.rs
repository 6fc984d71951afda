//! Scores everyone computes the same way: the province's signed score
//! rules (`ScoreRuleIssued`) applied to the adoptions and 批示 an item's
//! trail holds, each by the rule in force on its own date. A committee's
//! row is a function of the events about its own items (and of those it
//! forwarded), so a county that holds its items' chains ranks itself
//! exactly as the province does.
//!
//! - An adoption earns the submitter `adoption_points[d]`, where `d` is
//!   how many levels above the submitter's own it was adopted (a county's
//!   item adopted by the province: 2); a combined adoption (综合采用)
//!   `combined_percent` of that. Every level adopted counts.
//! - A 批示 earns the points of its leader's rank at its distance
//!   (unset rank counts as deputy).
//! - Each committee that forwarded the item (转报) from below the adopting
//!   level earns `forward_credit_percent` of the adoption's points.
//! - Integer arithmetic, rounding down, so that every node agrees.

use super::levels::level_of;
use crate::pb;
use crate::pb::{AdoptionLevel as A, InfoStatus as S};
use std::collections::BTreeMap;

/// The rules in force, ordered by when they take effect.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// (effective ms, hlc, origin, id) and the rule, ascending.
    rules: Vec<((i64, u64, String, String), pb::ScoreRuleIssued)>,
}

fn ms(t: &Option<prost_types::Timestamp>) -> i64 {
    t.map_or(i64::MIN, |t| t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos / 1_000_000)))
}

impl Rules {
    /// The known rules among `records` (a disputed rule never is).
    pub fn new(records: impl IntoIterator<Item = pb::ScoreRule>) -> Rules {
        let mut rules: Vec<_> = records
            .into_iter()
            .filter(|r| r.known)
            .filter_map(|r| {
                let rule = r.rule?;
                Some(((ms(&rule.effective), r.hlc, r.origin, r.id), rule))
            })
            .collect();
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        Rules { rules }
    }

    /// The rule in force at `at_ms`: the last to take effect at or before it.
    fn at(&self, at_ms: i64) -> Option<&pb::ScoreRuleIssued> {
        let i = self.rules.partition_point(|(k, _)| k.0 <= at_ms);
        i.checked_sub(1).map(|i| &self.rules[i].1)
    }

    /// The ids of the rules, by when they take effect.
    pub fn ids(&self) -> Vec<String> {
        self.rules.iter().map(|(k, _)| k.3.clone()).collect()
    }
}

fn points(list: &[u32], distance: usize) -> u64 {
    list.get(distance).copied().map_or(0, u64::from)
}

/// What scores on an item: at each level, its first adoption (by trail
/// order), and its 批示 once, the first of the highest rank. However many
/// a node records, a level adopts an item once and its 批示 count once, so
/// a committee cannot raise its own or its counties' points by repeating
/// them.
fn scored(item: &pb::InfoItem) -> Vec<&pb::TrailEntry> {
    let mut adopted: BTreeMap<i32, &pb::TrailEntry> = BTreeMap::new();
    let mut instructed: BTreeMap<i32, &pb::TrailEntry> = BTreeMap::new();
    for e in &item.trail {
        if e.step == S::Adopted as i32 {
            adopted.entry(e.at).or_insert(e);
        } else if e.step == S::Instructed as i32 {
            let best = instructed.entry(e.at).or_insert(e);
            if e.rank > best.rank {
                *best = e;
            }
        }
    }
    adopted.into_values().chain(instructed.into_values()).collect()
}

/// The submitter's points for one scored entry under the rule in force on
/// its date (none: 0).
fn earned(rules: &Rules, item: &pb::InfoItem, e: &pb::TrailEntry) -> u64 {
    let Some(rule) = rules.at(crate::hlc::physical_ms(e.hlc) as i64) else { return 0 };
    let own = level_of(&item.origin) as i32;
    let Some(distance) = e.at.checked_sub(own).and_then(|d| usize::try_from(d).ok()) else { return 0 };
    if e.step == S::Adopted as i32 {
        let p = points(&rule.adoption_points, distance);
        if e.combined {
            p * u64::from(rule.combined_percent.min(100)) / 100
        } else {
            p
        }
    } else {
        let list = if e.rank == pb::LeaderRank::Principal as i32 {
            &rule.principal_instruction_points
        } else {
            &rule.deputy_instruction_points
        };
        points(list, distance)
    }
}

/// The forwarding credit for an adoption worth `p` under the rule in force
/// on its date.
fn credit(rules: &Rules, e: &pb::TrailEntry, p: u64) -> u64 {
    let percent = rules.at(crate::hlc::physical_ms(e.hlc) as i64).map_or(0, |r| r.forward_credit_percent.min(100));
    p * u64::from(percent) / 100
}

/// The committees other than the submitter that forwarded the item, each
/// with the lowest level it forwarded from.
fn forwarders(item: &pb::InfoItem) -> BTreeMap<&str, i32> {
    let mut out: BTreeMap<&str, i32> = BTreeMap::new();
    for f in item.trail.iter().filter(|f| f.step == S::Forwarded as i32 && f.origin != item.origin) {
        let at = out.entry(f.origin.as_str()).or_insert(f.at);
        *at = (*at).min(f.at);
    }
    out
}

/// The item's points under `rules`, over all dates.
pub fn item_points(rules: &Rules, item: &pb::InfoItem) -> u64 {
    scored(item).into_iter().map(|e| earned(rules, item, e)).fold(0, u64::saturating_add)
}

/// Rows per committee over the adoptions and 批示 dated in `[start, end)`
/// (ms; open when `None`) of `items`, ranked ([`rank`]). Every submitting
/// committee has a row, with nothing earned too.
pub fn ranking(rules: &Rules, items: &[pb::InfoItem], start: Option<i64>, end: Option<i64>) -> Vec<pb::RankingRow> {
    fn row<'a>(rows: &'a mut BTreeMap<String, pb::RankingRow>, node: &str) -> &'a mut pb::RankingRow {
        rows.entry(node.to_string()).or_insert_with(|| pb::RankingRow { node: node.to_string(), ..Default::default() })
    }
    let mut rows: BTreeMap<String, pb::RankingRow> = BTreeMap::new();
    for item in items.iter().filter(|i| i.known && level_of(&i.origin) != A::Unspecified) {
        row(&mut rows, &item.origin);
        let forwarders = forwarders(item);
        for e in scored(item) {
            let at = crate::hlc::physical_ms(e.hlc) as i64;
            if start.is_some_and(|s| at < s) || end.is_some_and(|x| at >= x) {
                continue;
            }
            let p = earned(rules, item, e);
            let r = row(&mut rows, &item.origin);
            r.points = r.points.saturating_add(p);
            if e.step == S::Adopted as i32 {
                r.adoptions += 1;
                let c = credit(rules, e, p);
                for (node, _) in forwarders.iter().filter(|(_, from)| **from < e.at) {
                    let f = row(&mut rows, node);
                    f.points = f.points.saturating_add(c);
                    f.forward_points = f.forward_points.saturating_add(c);
                }
            } else {
                r.instructions += 1;
            }
        }
    }
    let mut rows: Vec<pb::RankingRow> = rows.into_values().collect();
    rank(&mut rows);
    rows
}

/// Orders rows by points, most first, then node code, and numbers them:
/// equal points share a rank (1, 1, 3). Rank rows again after filtering
/// them, so that ranks count only the rows shown.
pub fn rank(rows: &mut [pb::RankingRow]) {
    rows.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.node.cmp(&b.node)));
    let mut rank = 0;
    for i in 0..rows.len() {
        if i == 0 || rows[i].points != rows[i - 1].points {
            rank = i as u32 + 1;
        }
        rows[i].rank = rank;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 86_400_000;
    const HOUR_MS: u64 = 3_600_000;
    /// 2025-01-01 in ms.
    const JAN_1: u64 = 1_735_689_600_000;

    fn hlc(ms: u64) -> u64 {
        ms << 16
    }

    fn rule(id: &str, effective_ms: u64, adoption: &[u32]) -> pb::ScoreRule {
        pb::ScoreRule {
            id: id.into(),
            origin: "620000".into(),
            hlc: 1,
            known: true,
            rule: Some(pb::ScoreRuleIssued {
                effective: Some(prost_types::Timestamp { seconds: (effective_ms / 1000) as i64, nanos: 0 }),
                adoption_points: adoption.to_vec(),
                combined_percent: 50,
                deputy_instruction_points: vec![1, 2, 3],
                principal_instruction_points: vec![4, 8, 12],
                forward_credit_percent: 20,
                title: String::new(),
            }),
            disputed: Vec::new(),
        }
    }

    fn entry(origin: &str, step: S, at: A, ms: u64) -> pb::TrailEntry {
        pb::TrailEntry {
            event_id: format!("{origin}-{}-{ms}", step as i32),
            origin: origin.into(),
            hlc: hlc(ms),
            step: step as i32,
            at: at as i32,
            level: if step == S::Adopted { at as i32 } else { 0 },
            ..Default::default()
        }
    }

    /// 民乐县's item, forwarded by the county and 张掖市, adopted by the
    /// province (2 levels up) and by 全国政协 in a combined report (3 up),
    /// with a principal leader's 批示 at the province.
    fn item() -> pb::InfoItem {
        let t = JAN_1 + 10 * DAY_MS;
        pb::InfoItem {
            id: "item".into(),
            origin: "620722".into(),
            known: true,
            trail: vec![
                entry("620722", S::Forwarded, A::County, t),
                entry("620700", S::Forwarded, A::City, t + HOUR_MS),
                entry("620000", S::Adopted, A::Province, t + 2 * HOUR_MS),
                pb::TrailEntry {
                    rank: pb::LeaderRank::Principal as i32,
                    ..entry("620000", S::Instructed, A::Province, t + 3 * HOUR_MS)
                },
                pb::TrailEntry { combined: true, ..entry("620000", S::Adopted, A::National, t + 4 * HOUR_MS) },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn points_go_by_levels_above_the_submitter_with_credit_to_forwarders() {
        let rules = Rules::new([rule("r1", JAN_1, &[1, 5, 20, 50])]);
        let rows = ranking(&rules, &[item()], None, None);
        let row = |node: &str| rows.iter().find(|r| r.node == node).cloned().unwrap();
        // Province: 20 (two up); 批示 by a principal two up: 12; 全国 combined: 50 × 50 % = 25.
        assert_eq!(row("620722").points, 20 + 12 + 25);
        assert_eq!((row("620722").adoptions, row("620722").instructions), (2, 1));
        // 张掖市 forwarded from below both adopting levels: 20 % of 20 and of 25.
        assert_eq!(row("620700").forward_points, 4 + 5);
        assert_eq!(row("620700").points, 9);
        assert_eq!((row("620722").rank, row("620700").rank), (1, 2));
        assert_eq!(item_points(&rules, &item()), 57);
    }

    #[test]
    fn each_adoption_counts_by_the_rule_in_force_on_its_date_and_in_its_period() {
        let later = JAN_1 + 10 * DAY_MS + 3 * HOUR_MS + HOUR_MS / 2;
        // A second rule takes effect between the province's and 全国政协's adoptions.
        let rules = Rules::new([rule("r2", later, &[0, 0, 0, 100]), rule("r1", JAN_1, &[1, 5, 20, 50])]);
        assert_eq!(rules.ids(), ["r1", "r2"]);
        let rows = ranking(&rules, &[item()], None, None);
        // 20 + 12 under r1; 全国's 100 × 50 % under r2.
        assert_eq!(rows[0].points, 20 + 12 + 50);
        // Only what is dated in the period counts.
        let rows = ranking(&rules, &[item()], Some(later as i64), None);
        assert_eq!(rows.iter().find(|r| r.node == "620722").unwrap().points, 50);
        // Before any rule takes effect nothing scores, but the committee has its row.
        let rows = ranking(&Rules::new([rule("r3", JAN_1 + 100 * DAY_MS, &[9, 9, 9, 9])]), &[item()], None, None);
        assert_eq!(rows.iter().map(|r| r.points).sum::<u64>(), 0);
        assert!(rows.iter().any(|r| r.node == "620722"));
    }

    #[test]
    fn equal_points_share_a_rank_and_rows_order_by_code() {
        let rules = Rules::new([rule("r1", JAN_1, &[1, 5, 20, 50])]);
        let other = |origin: &str| pb::InfoItem {
            id: origin.into(),
            origin: origin.into(),
            known: true,
            trail: vec![entry(origin, S::Adopted, A::County, JAN_1 + 1)],
            ..Default::default()
        };
        let rows = ranking(&rules, &[other("620723"), other("620702"), item()], None, None);
        let ranks: Vec<(&str, u32, u64)> = rows.iter().map(|r| (r.node.as_str(), r.rank, r.points)).collect();
        assert_eq!(ranks, [("620722", 1, 57), ("620700", 2, 9), ("620702", 3, 1), ("620723", 3, 1)]);
        // A rule that is not known (a disputed one) is no rule.
        let unknown = pb::ScoreRule { known: false, ..rule("x", JAN_1, &[100]) };
        assert!(Rules::new([unknown]).ids().is_empty());
    }

    /// A level adopts an item once and its 批示 count once: recording them
    /// again, or 批示 by more leaders, earns nothing more (the highest rank
    /// counts).
    #[test]
    fn repeated_adoptions_and_instructions_score_once_per_level() {
        let rules = Rules::new([rule("r1", JAN_1, &[1, 5, 20, 50])]);
        let mut repeated = item();
        let t = JAN_1 + 20 * DAY_MS;
        repeated.trail.push(entry("620000", S::Adopted, A::Province, t));
        for k in 1..4 {
            repeated.trail.push(pb::TrailEntry {
                rank: pb::LeaderRank::Deputy as i32,
                ..entry("620000", S::Instructed, A::Province, t + k)
            });
        }
        assert_eq!(item_points(&rules, &repeated), item_points(&rules, &item()));
        let rows = ranking(&rules, &[repeated], None, None);
        let county = rows.iter().find(|r| r.node == "620722").unwrap();
        assert_eq!((county.adoptions, county.instructions, county.points), (2, 1, 57));
        let city = rows.iter().find(|r| r.node == "620700").unwrap();
        assert_eq!(city.forward_points, 9, "credit once per adopting level");
    }
}
