//! 互通 as text: results, one result with its reuse and feedback.

use super::{count, listing, or_dash, section, unknown_note, TEXT, TITLE};
use crate::labels::{self, hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

/// Results, one per row.
pub fn results(results: &[pb::Result], names: &Names) -> String {
    let mut t =
        Table::new(&["id", "completed", "origin", "year", "category", "shares", "adoptions", "feedback", "title"])
            .right(&[3, 5, 6, 7])
            .limit(8, TITLE);
    for r in results {
        t.row([
            r.id.clone(),
            hlc_time(r.hlc),
            names.show(&r.origin),
            if r.year == 0 { "-".into() } else { r.year.to_string() },
            labels::category(r.category),
            count(r.shares.len()),
            count(r.adoptions.len()),
            count(r.feedback.len()),
            r.title.clone(),
        ]);
    }
    listing(&t)
}

/// One result: header, shares, adoptions, feedback.
pub fn result(r: &pb::Result, names: &Names) -> String {
    let mut header = vec![
        ("id", r.id.clone()),
        ("title", r.title.clone()),
        ("origin", names.show(&r.origin)),
        ("channel", r.channel.clone()),
        ("completed", hlc_time(r.hlc)),
        ("year", if r.year == 0 { "-".into() } else { r.year.to_string() }),
        ("category", labels::category(r.category)),
        ("group", r.group_id.clone()),
        ("attachments", r.attachments.join("\n")),
        ("summary", r.summary.clone()),
    ];
    header.extend(unknown_note(r.known, "result"));
    let mut out = fields(&header);
    let mut shares = Table::new(&["time", "by", "audience"]);
    for s in &r.shares {
        shares.row([hlc_time(s.hlc), names.show(&s.origin), s.audience.clone()]);
    }
    section(&mut out, "shares 共享", &shares);
    let mut adoptions = Table::new(&["time", "recorded by", "adopted by", "how"]).limit(2, 30).limit(3, TEXT);
    for a in &r.adoptions {
        adoptions.row([hlc_time(a.hlc), names.show(&a.origin), or_dash(&a.by), a.how.clone()]);
    }
    section(&mut out, "adoptions 转化运用", &adoptions);
    let mut feedback = Table::new(&["time", "from", "feedback"]).limit(2, TEXT);
    for f in &r.feedback {
        feedback.row([hlc_time(f.hlc), names.show(&f.origin), f.text.clone()]);
    }
    section(&mut out, "feedback 跟踪反馈", &feedback);
    super::disputes(&mut out, &r.disputed, &[], names);
    out
}

// ---------------------------------------------------------------- watch
