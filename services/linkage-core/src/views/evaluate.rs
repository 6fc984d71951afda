//! An evaluation computed from the records held, as of a date: the set in
//! force for the work, the indicators the log proves from the
//! counterpart's events, and the judged ones from other committees'
//! ratings. A function of the records and the date alone, so every node
//! holding the same events computes the same evaluation.
//!
//! The counterpart, never the committee whose work it is: a proposal's
//! filing, deadline and answer count only at another level (the
//! proposer's rating of that level's answer is the counterpart's word on
//! the handling); an item's adoption and 批示 only by another committee;
//! a result's reuse and feedback only by others, and its levels only from
//! the sub-reports members of its group signed themselves.

use super::levels::level_of;
use crate::hlc::physical_ms;
use crate::pb;
use crate::pb::{EvaluationSubject as E, Measure as M};

/// The work evaluated, with what its measures read.
#[derive(Clone, Copy, Debug)]
pub enum Work<'a> {
    /// A proposal.
    Proposal(&'a pb::Proposal),
    /// A 社情民意 item.
    Info(&'a pb::InfoItem),
    /// A research result, with its group if held.
    Research(&'a pb::Result, Option<&'a pb::Group>),
}

impl Work<'_> {
    /// The kind of work.
    pub fn subject(&self) -> E {
        match self {
            Work::Proposal(_) => E::Proposal,
            Work::Info(_) => E::InfoItem,
            Work::Research(..) => E::Research,
        }
    }

    fn id_origin_title_hlc(&self) -> (&str, &str, &str, u64) {
        match self {
            Work::Proposal(p) => (&p.id, &p.origin, &p.title, p.hlc),
            Work::Info(i) => (&i.id, &i.origin, &i.title, i.hlc),
            Work::Research(r, _) => (&r.id, &r.origin, &r.title, r.hlc),
        }
    }
}

/// The set in force for `work` as of `as_of_ms`: of its kind, issued by
/// then, with the latest `effective` on or before the work's submission
/// (ties to the later stamp).
pub fn set_in_force<'a>(sets: &'a [pb::IndicatorSet], work: Work<'_>, as_of_ms: i64) -> Option<&'a pb::IndicatorSet> {
    let at = physical_ms(work.id_origin_title_hlc().3) as i64;
    let effective = |s: &pb::IndicatorSet| {
        s.set.as_ref().and_then(|x| x.effective.as_ref()).map(crate::proposals::timestamp_ms).unwrap_or(i64::MAX)
    };
    sets.iter()
        .filter(|s| s.known && s.set.as_ref().is_some_and(|x| x.subject == work.subject() as i32))
        .filter(|s| effective(s) <= at && physical_ms(s.hlc) as i64 <= as_of_ms)
        .max_by(|a, b| (effective(a), a.hlc, &a.id).cmp(&(effective(b), b.hlc, &b.id)))
}

/// Evaluates `work` under `set` with the ratings held, counting only
/// events stamped at or before `as_of_ms`.
pub fn evaluate(
    work: Work<'_>,
    set: &pb::IndicatorSet,
    ratings: Option<&pb::EvaluationRatings>,
    as_of_ms: i64,
) -> pb::Evaluation {
    let within = |hlc: u64| physical_ms(hlc) as i64 <= as_of_ms;
    let (id, origin, title, _) = work.id_origin_title_hlc();
    let issued = set.set.clone().unwrap_or_default();
    // Each other committee's latest rating under this set, by stamp.
    let mut latest: Vec<&pb::Rating> = Vec::new();
    for r in ratings.map_or(&[][..], |r| &r.ratings) {
        if r.set_id != set.id || r.origin == origin || !within(r.hlc) {
            continue;
        }
        latest.retain(|x| x.origin != r.origin);
        latest.push(r);
    }
    // A proposal's rows as of then, other levels' only: read once.
    let rows = match work {
        Work::Proposal(p) => {
            let trail: Vec<pb::ProposalTrailEntry> = p.trail.iter().filter(|e| within(e.hlc)).cloned().collect();
            let rows = super::proposals::derive(&p.origin, &trail).1;
            rows.into_iter().filter(|r| r.node != p.origin).collect()
        }
        _ => Vec::new(),
    };
    let indicators: Vec<pb::IndicatorResult> = issued
        .indicators
        .iter()
        .map(|x| {
            let measure = M::try_from(x.measure).unwrap_or_default();
            // A peer's signed set is not checked on the way in: bound it here.
            let points = x.points.min(crate::validate::INDICATOR_POINTS_MAX);
            let (share, evidence) = match (measure, work) {
                (M::Judged, _) => judged(&latest, &x.code, points),
                (_, Work::Proposal(p)) => proposal(p, &rows, measure, &within),
                (_, Work::Info(i)) => info(i, measure, &within),
                (_, Work::Research(r, g)) => research(r, g, measure, &within),
            };
            let awarded = (share * f64::from(points)).min(f64::from(points));
            pb::IndicatorResult {
                code: x.code.clone(),
                name: x.name.clone(),
                group: x.group.clone(),
                measure: x.measure,
                points,
                awarded,
                evidence,
            }
        })
        .collect();
    let total: f64 = indicators.iter().map(|i| i.awarded).sum();
    let grade = issued
        .grades
        .iter()
        .filter(|g| f64::from(g.min_points) <= total + 1e-9)
        .max_by_key(|g| g.min_points)
        .map(|g| g.name.clone())
        .unwrap_or_default();
    pb::Evaluation {
        subject_id: id.to_string(),
        subject: work.subject() as i32,
        origin: origin.to_string(),
        title: title.to_string(),
        set_id: set.id.clone(),
        set_title: issued.title.clone(),
        max: indicators.iter().map(|i| u64::from(i.points)).sum::<u64>().min(u64::from(u32::MAX)) as u32,
        indicators,
        total,
        grade,
        as_of: Some(prost_types::Timestamp {
            seconds: as_of_ms.div_euclid(1000),
            nanos: (as_of_ms.rem_euclid(1000) * 1_000_000) as i32,
        }),
    }
}

/// The mean share of the points the raters gave `code`.
fn judged(latest: &[&pb::Rating], code: &str, points: u32) -> (f64, Vec<String>) {
    let given: Vec<(u32, &str)> = latest
        .iter()
        .filter_map(|r| r.scores.iter().find(|s| s.code == code).map(|s| (s.points.min(points), r.event_id.as_str())))
        .collect();
    if given.is_empty() || points == 0 {
        return (0.0, Vec::new());
    }
    let mean = given.iter().map(|(p, _)| f64::from(*p)).sum::<f64>() / given.len() as f64;
    (mean / f64::from(points), given.iter().map(|(_, e)| e.to_string()).collect())
}

/// A proposal's computed measure from `rows`, the other levels' rows as
/// of then.
fn proposal(
    p: &pb::Proposal,
    rows: &[pb::ProposalHandling],
    measure: M,
    within: &dyn Fn(u64) -> bool,
) -> (f64, Vec<String>) {
    use pb::{AnswerClass as C, ProposalState as P, ProposalStep as S, Satisfaction as R};
    // The steps other levels recorded (and the ratings of their answers).
    let handlers: Vec<&str> = rows.iter().map(|r| r.node.as_str()).collect();
    let ids = |step: S| -> Vec<String> {
        p.trail
            .iter()
            .filter(|e| within(e.hlc) && e.step == step as i32)
            .filter(|e| {
                handlers.contains(&e.origin.as_str()) || (step == S::Rated && handlers.contains(&e.detail.as_str()))
            })
            .map(|e| e.event_id.clone())
            .collect()
    };
    let full = |yes: bool, evidence: Vec<String>| if yes { (1.0, evidence) } else { (0.0, Vec::new()) };
    match measure {
        M::Filed => full(rows.iter().any(|r| r.state >= P::Filed as i32), ids(S::Filed)),
        M::AnsweredOnTime => {
            let on_time: Vec<&str> =
                rows.iter().filter(|r| r.answers > 0 && r.answered_on_time).map(|r| r.node.as_str()).collect();
            // Each such level's first answer.
            let first = on_time
                .iter()
                .filter_map(|n| p.trail.iter().find(|e| e.step == S::Answered as i32 && e.origin == *n))
                .map(|e| e.event_id.clone())
                .collect();
            full(!on_time.is_empty(), first)
        }
        M::Satisfaction => {
            let best = rows.iter().filter_map(|r| R::try_from(r.satisfaction).ok()).fold(0.0, |best: f64, s| {
                best.max(match s {
                    R::Satisfied => 1.0,
                    R::Basically => 0.5,
                    _ => 0.0,
                })
            });
            (best, if best > 0.0 { ids(S::Rated) } else { Vec::new() })
        }
        M::Solved => {
            let answered = rows.iter().rev().find(|r| r.answers > 0);
            let share = match answered.map(|r| C::try_from(r.class).unwrap_or_default()) {
                Some(C::A) => 1.0,
                Some(C::B) => 0.5,
                _ => 0.0,
            };
            (share, if share > 0.0 { ids(S::Answered) } else { Vec::new() })
        }
        _ => (0.0, Vec::new()),
    }
}

fn info(i: &pb::InfoItem, measure: M, within: &dyn Fn(u64) -> bool) -> (f64, Vec<String>) {
    use pb::InfoStatus as S;
    let own = level_of(&i.origin) as i32;
    // Another committee's record only: a county's word on its own item is no proof.
    let steps = |keep: &dyn Fn(&pb::TrailEntry) -> bool| -> Vec<String> {
        i.trail
            .iter()
            .filter(|e| within(e.hlc) && e.origin != i.origin && keep(e))
            .map(|e| e.event_id.clone())
            .collect()
    };
    let evidence = match measure {
        M::Adopted => steps(&|e| e.step == S::Adopted as i32),
        M::AdoptedAbove => steps(&|e| e.step == S::Adopted as i32 && e.level > own),
        M::Instructed => steps(&|e| e.step == S::Instructed as i32),
        _ => Vec::new(),
    };
    (if evidence.is_empty() { 0.0 } else { 1.0 }, evidence)
}

fn research(r: &pb::Result, group: Option<&pb::Group>, measure: M, within: &dyn Fn(u64) -> bool) -> (f64, Vec<String>) {
    match measure {
        M::Reused => {
            let e: Vec<String> = r
                .adoptions
                .iter()
                .filter(|a| a.origin != r.origin && within(a.hlc))
                .map(|a| a.event_id.clone())
                .collect();
            (if e.is_empty() { 0.0 } else { 1.0 }, e)
        }
        M::FedBack => {
            let e: Vec<String> = r
                .feedback
                .iter()
                .filter(|n| n.origin != r.origin && within(n.hlc))
                .map(|n| n.event_id.clone())
                .collect();
            (if e.is_empty() { 0.0 } else { 1.0 }, e)
        }
        M::Levels => {
            // Only the group its author leads, and only levels whose
            // committees signed a sub-report of it themselves.
            let Some(g) = group.filter(|g| g.known && g.lead == r.origin) else { return (0.0, Vec::new()) };
            let mut levels: Vec<i32> = g
                .tasks
                .iter()
                .flat_map(|t| &t.sub_reports)
                .filter(|s| within(s.hlc))
                .map(|s| level_of(&s.origin) as i32)
                .chain(std::iter::once(level_of(&g.lead) as i32))
                .filter(|l| *l != 0)
                .collect();
            levels.sort();
            levels.dedup();
            let share = match levels.len() {
                0 | 1 => 0.0,
                2 => 0.5,
                _ => 1.0,
            };
            (share, if share > 0.0 { vec![g.group_id.clone()] } else { Vec::new() })
        }
        _ => (0.0, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    fn hlc(day: u64) -> u64 {
        (1_800_000_000_000 + day * DAY) << 16
    }
    fn ms(day: u64) -> i64 {
        (1_800_000_000_000 + day * DAY) as i64
    }

    fn set() -> pb::IndicatorSet {
        let ind = |code: &str, points, measure: M| pb::Indicator {
            code: code.into(),
            name: code.into(),
            points,
            measure: measure as i32,
            ..Default::default()
        };
        pb::IndicatorSet {
            id: "set".into(),
            known: true,
            set: Some(pb::IndicatorSetIssued {
                subject: E::Proposal as i32,
                effective: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
                title: "提案质量评价".into(),
                indicators: vec![
                    ind("filed", 20, M::Filed),
                    ind("on_time", 20, M::AnsweredOnTime),
                    ind("satisfied", 20, M::Satisfaction),
                    ind("quality", 40, M::Judged),
                ],
                grades: vec![
                    pb::Grade { name: "优秀".into(), min_points: 85 },
                    pb::Grade { name: "较好".into(), min_points: 60 },
                ],
            }),
            ..Default::default()
        }
    }

    fn entry(step: pb::ProposalStep, origin: &str, day: u64) -> pb::ProposalTrailEntry {
        pb::ProposalTrailEntry {
            event_id: format!("{}-{day}", step.as_str_name()),
            origin: origin.into(),
            hlc: hlc(day),
            step: step as i32,
            at: level_of(origin) as i32,
            ..Default::default()
        }
    }

    #[test]
    fn counts_only_what_was_known_by_the_date_and_only_others_ratings() {
        use pb::ProposalStep as S;
        let mut assigned = entry(S::Assigned, "620000", 2);
        assigned.unit = "省水利厅".into();
        assigned.due = Some(prost_types::Timestamp { seconds: ms(30) / 1000, nanos: 0 });
        let mut rated = entry(S::Rated, "620722", 12);
        rated.detail = "620000".into();
        rated.satisfaction = pb::Satisfaction::Basically as i32;
        let mut answered = entry(S::Answered, "620000", 10);
        answered.class = pb::AnswerClass::B as i32;
        let p = pb::Proposal {
            id: "p".into(),
            origin: "620722".into(),
            known: true,
            hlc: hlc(0),
            trail: vec![entry(S::SentUp, "620722", 0), entry(S::Filed, "620000", 1), assigned, answered, rated],
            ..Default::default()
        };
        let rating = |origin: &str, day, points| pb::Rating {
            event_id: format!("r-{origin}-{day}"),
            origin: origin.into(),
            hlc: hlc(day),
            set_id: "set".into(),
            scores: vec![pb::IndicatorScore { code: "quality".into(), points }],
            note: String::new(),
        };
        let ratings = pb::EvaluationRatings {
            ratings: vec![
                rating("620000", 13, 20),
                rating("620700", 13, 40),
                // Its own work: not counted.
                rating("620722", 14, 40),
                // The province's later rating replaces its first.
                rating("620000", 15, 30),
            ],
            ..Default::default()
        };
        let set = set();
        let at = |day| evaluate(Work::Proposal(&p), &set, Some(&ratings), ms(day));
        let early = at(5);
        assert_eq!(early.indicators.iter().map(|i| i.awarded).collect::<Vec<_>>(), [20.0, 0.0, 0.0, 0.0]);
        let late = at(20);
        // Filed 20, answered on time 20, basically satisfied 10, (30 + 40) / 2 = 35.
        assert_eq!(late.indicators.iter().map(|i| i.awarded).collect::<Vec<_>>(), [20.0, 20.0, 10.0, 35.0]);
        assert_eq!((late.total, late.max, late.grade.as_str()), (85.0, 100, "优秀"));
        assert_eq!(late.indicators[3].evidence, ["r-620700-13", "r-620000-15"]);
        assert_eq!(at(14).grade, "较好", "before the province re-rated: 20 + 20 + 10 + 30");
    }

    #[test]
    fn the_set_in_force_is_the_latest_effective_by_the_works_date() {
        let mut a = set();
        a.id = "a".into();
        let mut b = set();
        b.id = "b".into();
        b.set.as_mut().unwrap().effective = Some(prost_types::Timestamp { seconds: ms(10) / 1000, nanos: 0 });
        let sets = [a, b];
        let p = |day| pb::Proposal { known: true, hlc: hlc(day), ..Default::default() };
        assert_eq!(set_in_force(&sets, Work::Proposal(&p(5)), i64::MAX).map(|s| s.id.as_str()), Some("a"));
        assert_eq!(set_in_force(&sets, Work::Proposal(&p(11)), i64::MAX).map(|s| s.id.as_str()), Some("b"));
        let item = pb::InfoItem { known: true, hlc: hlc(11), ..Default::default() };
        assert!(set_in_force(&sets, Work::Info(&item), i64::MAX).is_none(), "no set for 社情民意");
    }
}
