//! 评价 as text: one evaluation with its indicators, or a listing.

use super::{listing, or_dash, section};
use crate::labels::{timestamp, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

fn measure(m: i32) -> String {
    pb::Measure::try_from(m).map_or("-".into(), |m| m.as_str_name().trim_start_matches("MEASURE_").to_lowercase())
}

/// One evaluation: the set, each indicator, the total and the grade.
pub fn evaluation(e: &pb::Evaluation, names: &Names) -> String {
    let mut out = fields(&[
        ("work", format!("{} {}", e.subject_id, e.title)),
        ("committee", names.show(&e.origin)),
        ("indicator set", format!("{} {}", e.set_id, e.set_title)),
        ("as of", timestamp(e.as_of.as_ref())),
        ("total", format!("{:.1} of {}", e.total, e.max)),
        ("grade 等次", or_dash(&e.grade)),
    ]);
    let mut t =
        Table::new(&["indicator", "group 一级指标", "measure", "points", "of", "rests on"]).limit(5, super::TEXT);
    for i in &e.indicators {
        t.row([
            format!("{} {}", i.code, i.name),
            or_dash(&i.group),
            measure(i.measure),
            format!("{:.1}", i.awarded),
            i.points.to_string(),
            or_dash(&i.evidence.join(" ")),
        ]);
    }
    section(&mut out, "indicators 指标", &t);
    out
}

/// Evaluations, one per row.
pub fn evaluations(list: &[pb::Evaluation], names: &Names) -> String {
    let mut t = Table::new(&["work", "committee", "title", "total", "of", "grade"]).limit(2, super::TITLE);
    for e in list {
        t.row([
            e.subject_id.clone(),
            names.show(&e.origin),
            e.title.clone(),
            format!("{:.1}", e.total),
            e.max.to_string(),
            or_dash(&e.grade),
        ]);
    }
    listing(&t)
}
