//! 提案 as text: a listing, one proposal with each level's row and its
//! trail, and the counts per committee or unit.

use super::{count, listing, or_dash, section};
use crate::labels::{hlc_time, timestamp, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

/// An enum value's name without its type's prefix, lower case.
fn word<E: TryFrom<i32>>(value: i32, prefix: &str, name: impl Fn(&E) -> &'static str) -> String {
    match E::try_from(value) {
        Ok(e) if value != 0 => name(&e).trim_start_matches(prefix).to_lowercase(),
        _ => "-".into(),
    }
}

fn state(s: i32) -> String {
    word(s, "PROPOSAL_STATE_", pb::ProposalState::as_str_name)
}

fn class(c: i32) -> String {
    word(c, "ANSWER_CLASS_", pb::AnswerClass::as_str_name).to_uppercase()
}

fn satisfaction(s: i32) -> String {
    word(s, "SATISFACTION_", pb::Satisfaction::as_str_name)
}

/// Proposals, one per row.
pub fn proposals(proposals: &[pb::Proposal], names: &Names) -> String {
    let mut t = Table::new(&["id", "submitted at", "year", "title", "state", "handled by"]).limit(3, super::TITLE);
    for p in proposals {
        let top = p.handlings.last().map(|h| names.show(&h.node)).unwrap_or_default();
        t.row([p.id.clone(), names.show(&p.origin), p.year.to_string(), p.title.clone(), state(p.state), top]);
    }
    listing(&t)
}

/// One proposal: who submitted it, each level's row, the trail.
pub fn proposal(p: &pb::Proposal, objection_until_ms: &[i64], names: &Names) -> String {
    let mut out = fields(&[
        ("id", p.id.clone()),
        ("title", p.title.clone()),
        ("submitted at", format!("{} ({})", names.show(&p.origin), hlc_time(p.hlc))),
        (
            "submitter",
            format!(
                "{} {}",
                word(p.submitter, "PROPOSAL_SUBMITTER_", pb::ProposalSubmitter::as_str_name),
                p.submitter_name
            ),
        ),
        ("members", or_dash(&p.member_ids.join(", "))),
        ("co-signed by", or_dash(&p.co_signers.iter().map(|c| names.show(c)).collect::<Vec<_>>().join(", "))),
        ("year / category", format!("{} {}", p.year, p.category)),
        ("state", state(p.state)),
        ("merged into it", or_dash(&p.merges.join(", "))),
    ]);
    let mut rows = Table::new(&[
        "level",
        "state",
        "案号",
        "key",
        "lead unit",
        "due",
        "objections until",
        "answers",
        "class",
        "on time",
        "rating",
        "reminders",
    ]);
    for (i, h) in p.handlings.iter().enumerate() {
        let until = objection_until_ms.get(i).copied().unwrap_or_default();
        let until = if until == 0 {
            "-".into()
        } else {
            timestamp(Some(&prost_types::Timestamp { seconds: until / 1000, nanos: 0 }))
        };
        rows.row([
            names.show(&h.node),
            state(h.state),
            or_dash(&h.number),
            if h.key { "重点".into() } else { "-".into() },
            or_dash(&h.lead_unit),
            if h.due.is_some() { timestamp(h.due.as_ref()) } else { "-".into() },
            until,
            count(h.answers as usize),
            class(h.class),
            if h.answers > 0 { h.answered_on_time.to_string() } else { "-".into() },
            satisfaction(h.satisfaction),
            count(h.reminders as usize),
        ]);
    }
    section(&mut out, "levels 各级办理", &rows);
    let mut trail = Table::new(&["when", "by", "step", "unit", "text"]).limit(4, super::TEXT);
    for e in &p.trail {
        trail.row([
            hlc_time(e.hlc),
            names.show(&e.origin),
            word(e.step, "PROPOSAL_STEP_", pb::ProposalStep::as_str_name),
            or_dash(&e.unit),
            or_dash(&e.text),
        ]);
    }
    section(&mut out, "trail 办理过程", &trail);
    let mut documents = Table::new(&["with", "name", "bytes", "root (linkctl document get)"]);
    let answers = p.trail.iter().flat_map(|e| e.documents.iter().map(move |d| (names.show(&e.origin), "answer", d)));
    for (by, what, d) in p.documents.iter().map(|d| (names.show(&p.origin), "proposal", d)).chain(answers) {
        documents.row([format!("{what} ({by})"), d.name.clone(), d.size.to_string(), hex::encode(&d.root)]);
    }
    if !p.documents.is_empty() || p.trail.iter().any(|e| !e.documents.is_empty()) {
        section(&mut out, "documents 附件", &documents);
    }
    if !p.body.is_empty() {
        out.push_str(&format!("\ntext\n  {}\n", p.body));
    }
    out
}

/// Counts per committee or unit.
pub fn statistics(rows: &[pb::ProposalStatisticsRow], names: &Names) -> String {
    let mut t = Table::new(&[
        "committee / unit",
        "received",
        "filed",
        "filed rate",
        "answered",
        "on time",
        "overdue",
        "A/B/C/D",
        "satisfied",
    ]);
    let percent = |r: f64| format!("{:.0}%", r * 100.0);
    for r in rows {
        t.row([
            names.show(&r.key),
            r.received.to_string(),
            r.filed.to_string(),
            percent(r.filed_rate),
            r.answered.to_string(),
            percent(r.on_time_rate),
            count(r.overdue as usize),
            format!("{}/{}/{}/{}", r.class_a, r.class_b, r.class_c, r.class_d),
            percent(r.satisfaction_rate),
        ]);
    }
    listing(&t)
}
