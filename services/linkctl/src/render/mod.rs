//! Readable text for the four views: one table per listing, and a header
//! with sub-tables for one record. Pure functions of the records, the node
//! names and (for "overdue") the current time, so that they are testable.

//!
//! # Layout
//! - this file: what every view's text shares (counts, sections, footers).
//! - [`planning`], [`progress`], [`exchange`], [`results`]: one flow each.

pub mod evaluation;
pub mod exchange;
pub mod members;
pub mod planning;
pub mod progress;
pub mod proposals;
pub mod results;

use crate::table::Table;
use linkage_core::pb;

/// Widest a title may be in a listing (display columns).
pub(super) const TITLE: usize = 48;
/// Widest a free text may be in a sub-table.
pub(super) const TEXT: usize = 60;

pub(super) fn count(n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        n.to_string()
    }
}

pub(super) fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

/// A titled sub-table, indented, with `(none)` when empty.
pub(super) fn section(out: &mut String, title: &str, table: &Table) {
    out.push_str(&format!("\n{title} ({})\n", table.len()));
    if table.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    for line in table.render().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

/// A listing's table; nothing, not even the header, without rows.
pub(super) fn listing(t: &Table) -> String {
    if t.is_empty() {
        String::new()
    } else {
        t.render()
    }
}

/// `(3 topics)` (`(1 topic)`) and, when more pages exist, how to get the next one.
pub fn footer(n: usize, one: &str, many: &str, next_page_token: &str) -> String {
    let mut out = format!("({n} {})\n", if n == 1 { one } else { many });
    if !next_page_token.is_empty() {
        out.push_str(&format!("more: --page-token {next_page_token}\n"));
    }
    out
}

/// Claims that broke a rule of who may say what and so changed nothing
/// here, and (a group's) claims waiting for what they cite: shown only
/// when there are some.
pub(super) fn disputes(
    out: &mut String,
    disputed: &[pb::Disputed],
    pending: &[pb::PendingClaim],
    names: &crate::labels::Names,
) {
    use crate::labels::hlc_time;
    if !disputed.is_empty() {
        let mut table = Table::new(&["time", "by", "kind", "rule broken", "event"]);
        for d in disputed {
            table.row([hlc_time(d.hlc), names.show(&d.origin), d.kind.clone(), d.rule.clone(), d.event_id.clone()]);
        }
        section(out, "disputed 存疑 (changed nothing)", &table);
    }
    if !pending.is_empty() {
        let mut table = Table::new(&["time", "by", "waits for", "event"]);
        for p in pending {
            table.row([hlc_time(p.hlc), names.show(&p.origin), p.refs.join(", "), p.event_id.clone()]);
        }
        section(out, "pending 待定 (waiting for what it cites)", &table);
    }
}

pub(super) fn unknown_note(known: bool, what: &str) -> Option<(&'static str, String)> {
    (!known).then(|| ("note", format!("the event that creates this {what} has not arrived here yet")))
}

// ---------------------------------------------------------------- 沟通

/// One view change as a line.
pub fn change(c: &pb::ViewChange) -> String {
    format!("{:>8}  {:<30} {}  {}", c.position, c.kind, c.event_id, c.entity_ids.join(","))
}
