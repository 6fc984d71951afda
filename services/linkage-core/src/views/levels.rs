//! 社情民意 per handling level: each level handles an item in its own right
//! (the county edits it and sends it up; the city publishes it or not,
//! merges it, forwards it; the province does the same and reports it to
//! 全国政协), and adoption and 批示 happen per level.
//!
//! The trail is the one record of what happened, across levels, each step
//! stamped with the level that handled it ([`handling_level`]); an item's
//! [`pb::LevelHandling`] rows are a function of the trail ([`derive`]), so
//! they are as order-independent as the trail is. The append path checks
//! that a level's steps move forward ([`check_step`]).

use super::{load, norm, Records};
use crate::code::Level;
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::pb::{AdoptionLevel as A, HandlingState as H, InfoStatus as S};
use crate::NodeCode;

/// The `AdoptionLevel` of a committee by its code.
pub fn level_of(code: &str) -> A {
    match code.parse::<NodeCode>().map(|c| Level::of_code(&c)) {
        Ok(Level::National) => A::National,
        Ok(Level::Province) => A::Province,
        Ok(Level::City) => A::City,
        Ok(Level::County) => A::County,
        Err(_) => A::Unspecified,
    }
}

/// The level at which `origin`'s handling event `kind` handles the item:
/// the level an adoption or 批示 names, else the recorder's own.
pub fn handling_level(origin: &str, kind: &Kind) -> A {
    let named = match kind {
        Kind::InfoAdopted(m) => m.level,
        Kind::InfoInstructed(m) => m.level,
        _ => 0,
    };
    match A::try_from(named).unwrap_or_default() {
        A::Unspecified => level_of(origin),
        level => level,
    }
}

/// The level above a node at `level` whose code is `origin`, by the
/// code's form (`Level::parent_by_form`: a municipality's district goes
/// to its province); national above the province.
fn above(level: A, origin: &str) -> Option<A> {
    match level {
        A::County => {
            let parent = origin.parse().ok().and_then(|c| crate::Level::parent_by_form(&c))?;
            Some(level_of(parent.as_str()))
        }
        A::City => Some(A::Province),
        A::Province => Some(A::National),
        A::National | A::Unspecified => None,
    }
}

/// One level's row, created on first use, rows kept lowest level first.
fn row(rows: &mut Vec<pb::LevelHandling>, level: A) -> &mut pb::LevelHandling {
    let i = match rows.binary_search_by_key(&(level as i32), |r| r.level) {
        Ok(i) => i,
        Err(i) => {
            rows.insert(i, pb::LevelHandling { level: level as i32, state: H::Received as i32, ..Default::default() });
            i
        }
    };
    &mut rows[i]
}

fn advance(r: &mut pb::LevelHandling, state: H) {
    r.state = r.state.max(state as i32);
}

/// The rows of an item reported by `origin` whose trail is `trail`: the
/// origin's level has received it, and each level a level below
/// forwarded it to; each step of the trail moves its level forward.
pub fn derive(origin: &str, trail: &[pb::TrailEntry]) -> Vec<pb::LevelHandling> {
    let mut rows = Vec::new();
    let own = level_of(origin);
    if own != A::Unspecified {
        row(&mut rows, own).node = origin.to_string();
    }
    for e in trail {
        let Ok(level) = A::try_from(e.at) else { continue };
        if level == A::Unspecified {
            continue;
        }
        let r = row(&mut rows, level);
        if r.node.is_empty() {
            r.node.clone_from(&e.origin);
        }
        match S::try_from(e.step).unwrap_or_default() {
            S::Published => {
                r.published = true;
                r.issue.clone_from(&e.detail);
                advance(r, H::Published);
            }
            S::Forwarded => {
                r.forwarded = true;
                advance(r, H::Forwarded);
                if let Some(up) = above(level, &e.origin) {
                    row(&mut rows, up);
                }
            }
            S::Adopted => {
                r.adopted = true;
                r.combined |= e.combined;
                advance(r, H::Adopted);
            }
            S::Instructed => {
                r.instructions += 1;
                r.highest_rank = r.highest_rank.max(e.rank);
                advance(r, H::Instructed);
            }
            S::Feedback => {
                r.feedback = true;
                advance(r, H::Feedback);
            }
            S::Declined | S::Returned => {
                r.reason.clone_from(&e.text);
                r.closed = true;
                advance(r, if e.step == S::Returned as i32 { H::Returned } else { H::Declined });
            }
            S::Merged => {
                r.merged_into.clone_from(&e.detail);
                r.closed = true;
                advance(r, H::Merged);
            }
            S::Unspecified | S::Submitted => {}
        }
    }
    rows
}

/// Whether a level has used an item: what it can no longer decline or merge.
fn used(at: &pb::LevelHandling) -> bool {
    at.published || at.forwarded || at.adopted || at.instructions > 0 || at.feedback
}

/// The trail step, detail and text of a handling event; `None` for other
/// kinds.
pub(super) fn step(kind: &Kind) -> Option<(S, &str, &str)> {
    Some(match kind {
        Kind::InfoPublished(m) => (S::Published, m.issue.as_str(), ""),
        Kind::InfoForwarded(m) => (S::Forwarded, m.to.as_str(), ""),
        Kind::InfoAdopted(m) => (S::Adopted, m.by.as_str(), ""),
        Kind::InfoInstructed(m) => (S::Instructed, m.leader.as_str(), m.text.as_str()),
        Kind::InfoFeedback(m) => (S::Feedback, "", m.text.as_str()),
        Kind::InfoDeclined(m) => (if m.returned { S::Returned } else { S::Declined }, "", m.reason.as_str()),
        Kind::InfoMerged(m) => (S::Merged, m.into_id.as_str(), ""),
        _ => return None,
    })
}

fn refuse(field: String, description: impl Into<String>) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, description))
}

/// A level in words, as refusals name it.
pub(super) fn level_name(level: A) -> &'static str {
    match level {
        A::County => "county",
        A::City => "city",
        A::Province => "province",
        A::National => "national (全国政协)",
        A::Unspecified => "unknown",
    }
}

/// Checks that `origin`'s handling step `kind` moves its level forward on
/// an item held here: a level publishes, forwards and adopts an item once;
/// one that declined, returned or merged it handles it no further; it
/// declines or merges only what it has not yet published, forwarded,
/// adopted, instructed on or fed back; a leader's 批示 is recorded once per
/// level; feedback follows an adoption, a 批示 or a forward at that level. Who may handle it at all is a rule (`crate::rules`).
pub fn check_step(kind: &Kind, origin: NodeCode, records: &mut impl Records) -> Result<(), AppendError> {
    let Some(item) = check_held(kind, records)? else { return Ok(()) };
    let prefix = handled(kind).map_or("", |(p, _)| p);
    let field = format!("{prefix}.info_id");
    let level = handling_level(origin.as_str(), kind);
    check_level(kind, &item, level, &field, prefix, records)
}

/// The field prefix and the item of a handling event.
fn handled(kind: &Kind) -> Option<(&'static str, &String)> {
    Some(match kind {
        Kind::InfoPublished(m) => ("payload.info_published", &m.info_id),
        Kind::InfoForwarded(m) => ("payload.info_forwarded", &m.info_id),
        Kind::InfoAdopted(m) => ("payload.info_adopted", &m.info_id),
        Kind::InfoInstructed(m) => ("payload.info_instructed", &m.info_id),
        Kind::InfoFeedback(m) => ("payload.info_feedback", &m.info_id),
        Kind::InfoDeclined(m) => ("payload.info_declined", &m.info_id),
        Kind::InfoMerged(m) => ("payload.info_merged", &m.info_id),
        _ => return None,
    })
}

/// The item a handling event handles, if it is one, refused unless held
/// here: checked before who may handle it, so that an item nobody holds
/// is named as such.
pub fn check_held(kind: &Kind, records: &mut impl Records) -> Result<Option<pb::InfoItem>, AppendError> {
    let Some((prefix, info_id)) = handled(kind) else { return Ok(None) };
    load(records, &norm(info_id))
        .filter(|i: &pb::InfoItem| i.known)
        .map(Some)
        .ok_or_else(|| refuse(format!("{prefix}.info_id"), "no 社情民意 item with this id is held here"))
}

/// Whether `kind` moves `level` forward on `item` (see [`check_step`]).
fn check_level(
    kind: &Kind,
    item: &pb::InfoItem,
    level: A,
    field: &str,
    prefix: &str,
    records: &mut impl Records,
) -> Result<(), AppendError> {
    let field = field.to_string();
    let at = item.levels.iter().find(|r| r.level == level as i32).cloned().unwrap_or_default();
    let name = level_name(level);
    if at.closed {
        let why = if at.merged_into.is_empty() {
            "declined or returned this item"
        } else {
            "merged this item into a 综合 item"
        };
        return Err(refuse(field, format!("the {name} level has {why}; it handles it no further")));
    }
    let already = |done: bool, what: &str| {
        if done {
            Err(refuse(field.clone(), format!("the {name} level has already {what} this item")))
        } else {
            Ok(())
        }
    };
    match kind {
        Kind::InfoPublished(_) => already(at.published, "published"),
        Kind::InfoForwarded(_) => already(at.forwarded, "forwarded"),
        Kind::InfoAdopted(_) => already(at.adopted, "recorded the adoption of"),
        Kind::InfoInstructed(m) => {
            let again = item
                .trail
                .iter()
                .any(|e| e.step == S::Instructed as i32 && e.at == level as i32 && e.detail.trim() == m.leader.trim());
            already(again, "recorded this leader's 批示 on")
        }
        Kind::InfoFeedback(_) if at.adopted || at.forwarded || at.instructions > 0 => Ok(()),
        Kind::InfoFeedback(_) => Err(refuse(
            field,
            format!("feedback follows an adoption, a 批示 or a forward at the {name} level; it has none"),
        )),
        Kind::InfoDeclined(m) => {
            already(used(&at), "published, forwarded, adopted or instructed on")?;
            if m.returned && level == level_of(&item.origin) {
                return Err(refuse(
                    format!("{prefix}.returned"),
                    "the item was reported at this level: there is no level below to return it to",
                ));
            }
            Ok(())
        }
        Kind::InfoMerged(m) => {
            already(used(&at), "published, forwarded, adopted or instructed on")?;
            let into: Option<pb::InfoItem> = load(records, &norm(&m.into_id)).filter(|i: &pb::InfoItem| i.known);
            let Some(into) = into else {
                return Err(refuse(format!("{prefix}.into_id"), "no 社情民意 item with this id is held here"));
            };
            let merged = into.levels.iter().any(|r| !r.merged_into.is_empty());
            if merged {
                return Err(refuse(format!("{prefix}.into_id"), "that item is itself merged into another"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
