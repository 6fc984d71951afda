//! 提案 per handling level: a proposal is submitted at one committee and
//! may be sent up, level by level; each level that receives it reviews it
//! in its own right (files it, keeps it as 社情民意 or a letter, merges
//! it), assigns it to units, records their answers, and the proposer's
//! committee rates each level's answer.
//!
//! As for 社情民意 (`super::levels`), the trail is the one record: a
//! grow-only set of handling steps sorted by stamp, each stamped with the
//! recorder's level. A proposal's rows ([`pb::ProposalHandling`]), its
//! co-signers and its state are a function of the trail ([`derive`]),
//! read in stamp order, so they are as order-independent as the trail.

use super::levels::level_of;
use super::record::norm;
use super::source::{insert_stamped, Source, Stamp};
use crate::pb;
use crate::pb::payload::Kind;
use crate::pb::{AdoptionLevel as A, ProposalState as P, ProposalStep as S};

/// Folds one event into the proposal `id`.
pub(super) fn fold_proposal(p: &mut pb::Proposal, id: &str, kind: &Kind, src: &Source<'_>) {
    p.id = id.to_string();
    match kind {
        Kind::ProposalSubmitted(m) => {
            let mut members = m.member_ids.clone();
            members.sort();
            members.dedup();
            members.truncate(crate::limits::LIST_ITEMS_MAX);
            let new = (src.hlc, src.channel, m.title.as_str(), m.submitter, &m.submitter_name, &members, m.year);
            let old =
                (p.hlc, p.channel.as_str(), p.title.as_str(), p.submitter, &p.submitter_name, &p.member_ids, p.year);
            if p.known && old <= new && !(old == new && m.category < p.category) {
                return derive_into(p);
            }
            p.origin = src.origin.to_string();
            p.channel = src.channel.to_string();
            p.hlc = src.hlc;
            p.title.clone_from(&m.title);
            p.submitter = m.submitter;
            p.submitter_name.clone_from(&m.submitter_name);
            p.member_ids = members;
            p.year = m.year;
            p.category.clone_from(&m.category);
            p.known = true;
            derive_into(p);
        }
        Kind::ProposalReviewed(m)
            if norm(&m.into_id) == id
                && norm(&m.proposal_id) != id
                && m.outcome == pb::ProposalOutcome::Merged as i32 =>
        {
            // The proposal it was merged into lists it: the
            // `LIST_ITEMS_MAX` least ids, the same ones everywhere.
            let merged = norm(&m.proposal_id);
            if let Err(i) = p.merges.binary_search(&merged) {
                p.merges.insert(i, merged);
                p.merges.truncate(crate::limits::LIST_ITEMS_MAX);
            }
            derive_into(p);
        }
        _ => {
            if let Some(entry) = entry(kind, src) {
                insert_stamped(&mut p.trail, entry, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
            }
            derive_into(p);
        }
    }
}

/// The trail entry of a handling event.
fn entry(kind: &Kind, src: &Source<'_>) -> Option<pb::ProposalTrailEntry> {
    let mut e = pb::ProposalTrailEntry {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        at: level_of(src.origin) as i32,
        ..Default::default()
    };
    let capped = |list: &[String]| {
        let mut list = list.to_vec();
        list.truncate(crate::limits::LIST_ITEMS_MAX);
        list
    };
    let step = match kind {
        Kind::ProposalCoSigned(m) => {
            e.names = capped(&m.member_ids);
            e.text.clone_from(&m.note);
            S::CoSigned
        }
        Kind::ProposalSentUp(m) => {
            e.text.clone_from(&m.note);
            S::SentUp
        }
        Kind::ProposalReviewed(m) => {
            e.key = m.key;
            e.kept_as = m.kept_as;
            match pb::ProposalOutcome::try_from(m.outcome).unwrap_or_default() {
                pb::ProposalOutcome::Filed => {
                    e.text.clone_from(&m.number);
                    S::Filed
                }
                pb::ProposalOutcome::NotFiled => {
                    e.text.clone_from(&m.reason);
                    e.detail = norm(&m.info_id);
                    S::NotFiled
                }
                pb::ProposalOutcome::Merged => {
                    e.text.clone_from(&m.reason);
                    e.detail = norm(&m.into_id);
                    S::Merged
                }
                pb::ProposalOutcome::Unspecified => return None,
            }
        }
        Kind::ProposalAssigned(m) => {
            e.unit.clone_from(&m.lead_unit);
            e.names = capped(&m.co_units);
            e.due = m.due;
            e.days = match m.objection_days {
                0 => crate::proposals::OBJECTION_DAYS_DEFAULT,
                days => days.min(crate::proposals::OBJECTION_DAYS_MAX),
            };
            S::Assigned
        }
        Kind::ProposalObjected(m) => {
            e.unit.clone_from(&m.unit);
            e.text.clone_from(&m.reason);
            S::Objected
        }
        Kind::ProposalDeadlineExtended(m) => {
            e.due = m.due;
            e.text.clone_from(&m.reason);
            S::Extended
        }
        Kind::ProposalContacted(m) => {
            e.unit.clone_from(&m.unit);
            e.text.clone_from(&m.text);
            S::Contacted
        }
        Kind::ProposalAnswered(m) => {
            e.unit.clone_from(&m.unit);
            e.class = m.class;
            e.text.clone_from(&m.text);
            S::Answered
        }
        Kind::ProposalRated(m) => {
            e.detail.clone_from(&m.handler);
            e.rates = norm(&m.answer_id);
            e.satisfaction = m.satisfaction;
            e.text.clone_from(&m.text);
            S::Rated
        }
        Kind::ProposalSupervised(m) => {
            e.unit.clone_from(&m.by);
            e.text.clone_from(&m.note);
            S::Supervised
        }
        Kind::ProposalReminded(m) => {
            e.unit.clone_from(&m.unit);
            e.text.clone_from(&m.note);
            S::Reminded
        }
        Kind::ProposalFollowedUp(m) => {
            e.text.clone_from(&m.text);
            S::FollowedUp
        }
        _ => return None,
    };
    e.step = step as i32;
    Some(e)
}

/// Sets the proposal's co-signers, rows and state from its trail.
fn derive_into(p: &mut pb::Proposal) {
    let origin = if p.known { p.origin.clone() } else { item_origin(&p.id) };
    let (co_signers, rows, state) = derive(&origin, &p.trail);
    p.co_signers = co_signers;
    p.handlings = rows;
    p.state = state as i32;
}

/// The committee a proposal's id names (`crate::ids`), or "".
fn item_origin(id: &str) -> String {
    let named = crate::validate::parse_event_id(id).and_then(|b| crate::ids::embedded_origin(&b));
    named.map(|(code, _)| code.to_string()).unwrap_or_default()
}

/// The code of the committee one level above `code` on its chain, by its
/// form (`Level::parent_by_form`): a county's city (or its province, for
/// a municipality's district), a city's province; "" above a province:
/// 全国政协 records its part as a node of its own, once the topology has it.
pub fn above_code(code: &str) -> String {
    match code.parse::<crate::NodeCode>().ok().filter(|c| *c != crate::NodeCode::NATIONAL) {
        Some(c) if crate::Level::of_code(&c) != crate::Level::Province => {
            crate::Level::parent_by_form(&c).map(|p| p.to_string()).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// One level's row, created on first use, rows kept lowest level first.
fn row<'a>(rows: &'a mut Vec<pb::ProposalHandling>, level: A, node: &str) -> &'a mut pb::ProposalHandling {
    let i = match rows.binary_search_by_key(&(level as i32), |r| r.level) {
        Ok(i) => i,
        Err(i) => {
            let new = pb::ProposalHandling {
                level: level as i32,
                node: node.to_string(),
                state: P::Received as i32,
                ..Default::default()
            };
            rows.insert(i, new);
            i
        }
    };
    &mut rows[i]
}

/// The co-signers, the rows and the state of a proposal submitted at
/// `origin` whose trail is `trail`: the origin's level has received it,
/// and each level a level below sent it up to; each step moves its
/// recorder's row. The state is that of the highest level's row.
pub fn derive(origin: &str, trail: &[pb::ProposalTrailEntry]) -> (Vec<String>, Vec<pb::ProposalHandling>, P) {
    let mut co_signers: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let own = level_of(origin);
    if own != A::Unspecified {
        row(&mut rows, own, origin);
    }
    for e in reading_order(trail) {
        let level = A::try_from(e.at).unwrap_or_default();
        if level == A::Unspecified {
            continue;
        }
        let step = S::try_from(e.step).unwrap_or_default();
        if step == S::CoSigned {
            // The proposal's own committee is its author, not a co-signer.
            if e.origin == origin {
                continue;
            }
            if let Err(i) = co_signers.binary_search(&e.origin) {
                co_signers.insert(i, e.origin.clone());
            }
            continue;
        }
        if step == S::Rated {
            // A rating moves the row of the level whose answer it rates.
            if let Some(r) = rows.iter_mut().find(|r| r.node == e.detail && r.answers > 0) {
                r.satisfaction = e.satisfaction;
                let unsatisfied = e.satisfaction == pb::Satisfaction::NotSatisfied as i32;
                r.state = if unsatisfied { P::Rehandling } else { P::Concluded } as i32;
            }
            continue;
        }
        let r = row(&mut rows, level, &e.origin);
        let state = P::try_from(r.state).unwrap_or_default();
        match step {
            S::SentUp => {
                if state == P::Received {
                    r.state = P::SentUp as i32;
                }
                // A province's sending up ends the trail here.
                let above = above_code(&e.origin);
                if !above.is_empty() {
                    row(&mut rows, level_of(&above), &above);
                }
            }
            S::Filed => {
                r.number.clone_from(&e.text);
                r.key |= e.key;
                r.state = r.state.max(P::Filed as i32);
            }
            S::NotFiled => {
                r.kept_as = e.kept_as;
                r.info_id.clone_from(&e.detail);
                r.reason.clone_from(&e.text);
                r.state = P::NotFiled as i32;
            }
            S::Merged => {
                r.merged_into.clone_from(&e.detail);
                r.reason.clone_from(&e.text);
                r.state = P::Merged as i32;
            }
            S::Assigned => {
                if r.assigned_hlc != 0 {
                    r.reassignments += 1;
                } else {
                    r.first_assigned_hlc = e.hlc;
                }
                r.assigned_hlc = e.hlc;
                r.lead_unit.clone_from(&e.unit);
                r.co_units.clone_from(&e.names);
                r.due = capped_due(r.first_assigned_hlc, e.due);
                r.objection_days = e.days;
                if state < P::Answered || state == P::Rehandling {
                    r.state = P::Assigned as i32;
                }
            }
            S::Objected => r.objections += 1,
            S::Extended => r.due = capped_due(r.first_assigned_hlc, e.due),
            S::Contacted => r.contacts += 1,
            S::Answered => {
                r.answers += 1;
                r.class = e.class;
                r.answered_hlc = e.hlc;
                if r.answers == 1 {
                    let at = crate::hlc::physical_ms(e.hlc) as i64;
                    r.answered_on_time = r.due.as_ref().is_some_and(|d| at <= crate::proposals::timestamp_ms(d));
                }
                r.state = P::Answered as i32;
            }
            S::Supervised => r.supervisions += 1,
            S::Reminded => r.reminders += 1,
            S::FollowedUp => r.follow_ups += 1,
            S::Unspecified | S::CoSigned | S::Rated => {}
        }
    }
    let state = rows.last().map_or(P::Unspecified, |r| P::try_from(r.state).unwrap_or_default());
    (co_signers, rows, state)
}

/// A deadline as the views read it: at most 6 months after the level's
/// first assignment, whatever a signed event says (the append path
/// refuses more; a peer's event is not checked there).
fn capped_due(first_assigned_hlc: u64, due: Option<prost_types::Timestamp>) -> Option<prost_types::Timestamp> {
    let cap = crate::hlc::physical_ms(first_assigned_hlc) as i64 + crate::proposals::ANSWER_DAYS_MAX * 86_400_000;
    due.map(|d| {
        if crate::proposals::timestamp_ms(&d) > cap {
            prost_types::Timestamp { seconds: cap.div_euclid(1000), nanos: 0 }
        } else {
            d
        }
    })
}

/// The trail in the order its steps are read: by stamp, but a rating
/// that names the answer it rates right after that answer (a fast clock
/// at the answering node cannot put the answer after its rating), and
/// not before that answer is held.
fn reading_order(trail: &[pb::ProposalTrailEntry]) -> Vec<&pb::ProposalTrailEntry> {
    let rated = |e: &pb::ProposalTrailEntry| e.step == S::Rated as i32 && !e.rates.is_empty();
    let mut out = Vec::with_capacity(trail.len());
    for e in trail.iter().filter(|e| !rated(e)) {
        out.push(e);
        if e.step == S::Answered as i32 {
            out.extend(trail.iter().filter(|r| rated(r) && r.rates == e.event_id));
        }
    }
    out
}

/// The province's calendar of one year: the latest issued by stamp counts;
/// two under one stamp (only their origin can sign both) go to the lesser
/// encoding.
pub(super) fn fold_calendar(c: &mut pb::HolidayCalendar, kind: &Kind, src: &Source<'_>) {
    let Kind::HolidayCalendarIssued(m) = kind else { return };
    let list = |l: &[String]| {
        let mut l = l.to_vec();
        l.sort();
        l.dedup();
        l
    };
    let candidate = pb::HolidayCalendar {
        year: m.year,
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        holidays: list(&m.holidays),
        workdays: list(&m.workdays),
        known: true,
        disputed: Vec::new(),
    };
    let old = Stamp::new(c.hlc, &c.origin, &c.event_id);
    let newer = !c.known || old < src.stamp() || {
        use prost::Message;
        let mut a = candidate.clone();
        let mut b = c.clone();
        a.disputed.clear();
        b.disputed.clear();
        old == src.stamp() && a.encode_to_vec() < b.encode_to_vec()
    };
    if newer {
        let disputed = std::mem::take(&mut c.disputed);
        *c = candidate;
        c.disputed = disputed;
    }
}
