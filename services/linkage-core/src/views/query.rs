//! Pure query helpers the services share: title similarity, statistics.

use crate::pb;
use std::collections::{BTreeMap, BTreeSet};

/// Similarity of two titles, 0..=1: the Jaccard index of their character
/// bigrams, ignoring whitespace and punctuation. Works for Chinese titles,
/// which have no word boundaries.
pub fn similarity(a: &str, b: &str) -> f64 {
    jaccard(&bigrams(a), &bigrams(b))
}

fn jaccard(a: &BTreeSet<(char, char)>, b: &BTreeSet<(char, char)>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.intersection(b).count();
    common as f64 / (a.len() + b.len() - common) as f64
}

fn bigrams(s: &str) -> BTreeSet<(char, char)> {
    let chars: Vec<char> = s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Title similarity at or above which two topics count as overlapping.
pub const SIMILARITY_DEFAULT: f64 = 0.3;

/// The lowest similarity a query may ask for: below it nearly every pair
/// of titles "overlaps", and an answer would hold every pair of topics.
pub const SIMILARITY_MIN: f64 = 0.1;

/// Candidate overlaps among `topics` (制订计划前沟通): pairs of the same
/// year and category from two different committees — of any levels, the
/// province and a county as much as two cities — not linked to each
/// other, whose titles are at least `min` similar. Most similar first,
/// then by the pair's ids; as (similarity, index, index) into `topics`,
/// so that a page clones only its own topics. Each title's bigrams are
/// made once; the pairs of one year and category are compared once.
pub fn overlaps(topics: &[pb::Topic], min: f64) -> Vec<(f64, usize, usize)> {
    let grams: Vec<BTreeSet<(char, char)>> = topics.iter().map(|t| bigrams(&t.title)).collect();
    let mut by_work: BTreeMap<(u32, i32), Vec<usize>> = BTreeMap::new();
    for (i, t) in topics.iter().enumerate() {
        by_work.entry((t.year, t.category)).or_default().push(i);
    }
    let mut pairs = Vec::new();
    for same in by_work.values() {
        for (k, &i) in same.iter().enumerate() {
            for &j in &same[k + 1..] {
                let (a, b) = (&topics[i], &topics[j]);
                if a.origin == b.origin || a.linked_topic_ids.contains(&b.id) || b.linked_topic_ids.contains(&a.id) {
                    continue;
                }
                let similarity = jaccard(&grams[i], &grams[j]);
                if similarity >= min {
                    pairs.push((similarity, i, j));
                }
            }
        }
    }
    let ids = |&(_, i, j): &(f64, usize, usize)| (&topics[i].id, &topics[j].id);
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| ids(x).cmp(&ids(y))));
    pairs
}

/// Adds `item` to its origin's row; `score` is the item's points under
/// the province's score rules (`super::score`).
pub fn count(rows: &mut BTreeMap<String, pb::InfoStatistics>, item: &pb::InfoItem, score: u64) {
    let row = rows
        .entry(item.origin.clone())
        .or_insert_with(|| pb::InfoStatistics { node: item.origin.clone(), ..Default::default() });
    row.submitted += 1;
    let has = |step: pb::InfoStatus| item.trail.iter().any(|e| e.step == step as i32);
    row.published += u32::from(has(pb::InfoStatus::Published));
    row.forwarded += u32::from(has(pb::InfoStatus::Forwarded));
    for level in &item.adopted_levels {
        match pb::AdoptionLevel::try_from(*level).unwrap_or_default() {
            pb::AdoptionLevel::County => row.adopted_county += 1,
            pb::AdoptionLevel::City => row.adopted_city += 1,
            pb::AdoptionLevel::Province => row.adopted_province += 1,
            pb::AdoptionLevel::National => row.adopted_national += 1,
            pb::AdoptionLevel::Unspecified => {}
        }
    }
    row.instructed += u32::from(has(pb::InfoStatus::Instructed));
    row.score = row.score.saturating_add(u32::try_from(score).unwrap_or(u32::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_chinese_titles_score_high() {
        let a = "河西走廊节水农业发展调研";
        let b = "关于河西走廊节水农业的调研";
        let c = "城市社区养老服务";
        assert!(similarity(a, b) >= SIMILARITY_DEFAULT, "{}", similarity(a, b));
        assert!(similarity(a, c) < 0.1);
        assert_eq!(similarity(a, a), 1.0);
        assert_eq!(similarity("", a), 0.0);
    }

    /// 张掖市 and 武威市 (two cities) overlap as much as a city and the
    /// province do; a committee's own topics, linked topics, other years
    /// and unlike titles do not.
    #[test]
    fn overlaps_pair_committees_of_any_level() {
        let topic = |id: &str, origin: &str, title: &str| pb::Topic {
            id: id.into(),
            origin: origin.into(),
            title: title.into(),
            year: 2027,
            ..Default::default()
        };
        let zhangye = topic("a", "620700", "河西走廊节水农业发展调研");
        let wuwei = topic("b", "620600", "关于河西走廊节水农业的调研");
        let province =
            pb::Topic { linked_topic_ids: vec!["b".into()], ..topic("c", "620000", "河西走廊节水农业调研") };
        let zhangye_again = topic("d", "620700", "河西走廊节水农业发展调研");
        let other_year = pb::Topic { year: 2026, ..topic("e", "620100", "河西走廊节水农业发展调研") };
        let unlike = topic("f", "620100", "城市社区养老服务");
        let topics = [zhangye, wuwei, province, zhangye_again, other_year, unlike];
        let found = overlaps(&topics, SIMILARITY_DEFAULT);
        let pairs: Vec<(String, String)> =
            found.iter().map(|&(_, i, j)| (topics[i].id.clone(), topics[j].id.clone())).collect();
        let want = [("a", "c"), ("c", "d"), ("a", "b"), ("b", "d")].map(|(x, y)| (x.to_owned(), y.to_owned()));
        assert_eq!(pairs, want, "{found:?}");
    }
}
