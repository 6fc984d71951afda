//! Who may say what, judged where events are folded (`crate::rules`): a
//! claim that breaks a rule changes nothing but the *disputed* list of the
//! record it claimed to change; a claim whose authority rests on events
//! it cites (`Event.refs`) waits in its group's *pending* list until they
//! arrive, then is judged like any other.
//!
//! Every verdict is a function of the claim and the events it cites, never
//! of arrival order or of a clock the claim's author chose: a cited event
//! is *known* once it is held here as what the rule asks for (an
//! admission, an assignment) or as disputed, and stays so; a claim is
//! authorised once one cited event qualifies, disputed once every cited
//! event is known and none does, pending otherwise. So every node that
//! holds the same events holds the same verdicts, and the folds stay
//! commutative and idempotent.

use super::folds::{fold_group, fold_record, insert_stamped, Source, Stamp};
use super::record::Record;
use super::Dispute;
use crate::pb;
use crate::pb::payload::Kind;
use crate::rules::{Breach, Verdict};
use prost::Message;

/// Folds one claim into one record it touches: its content when it is
/// authorised, a disputed entry when it broke `by_event` or a rule judged
/// by the events it cites, a pending entry when those have not arrived.
/// Each claim decided disputed here (this one, or pending ones this one
/// decided) is added to `disputes`.
pub(super) fn fold_claim(
    record: &mut Record,
    id: &str,
    kind: &Kind,
    src: &Source<'_>,
    by_event: Option<Breach>,
    disputes: &mut Vec<Dispute>,
) {
    match record {
        Record::Group(g) => group_claim(g, id, kind, src, by_event, disputes),
        other => match by_event {
            Some(rule) => dispute(other, id, kind, src, rule, disputes),
            None => fold_record(other, id, kind, src),
        },
    }
}

/// The list of disputed claims of any record, with its id set.
fn dispute(record: &mut Record, id: &str, kind: &Kind, src: &Source<'_>, rule: Breach, out: &mut Vec<Dispute>) {
    let list = match record {
        Record::Topic(t) => {
            t.id = id.to_string();
            &mut t.disputed
        }
        Record::Group(g) => {
            g.group_id = id.to_string();
            &mut g.disputed
        }
        Record::Info(i) => {
            i.id = id.to_string();
            &mut i.disputed
        }
        Record::Notice(n) => {
            n.id = id.to_string();
            &mut n.disputed
        }
        Record::Result(r) => {
            r.id = id.to_string();
            &mut r.disputed
        }
    };
    add_disputed(list, kind, src, rule, out);
}

fn add_disputed(list: &mut Vec<pb::Disputed>, kind: &Kind, src: &Source<'_>, rule: Breach, out: &mut Vec<Dispute>) {
    let entry = pb::Disputed {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        rule: rule.name().to_string(),
        kind: super::kind_name(kind).to_string(),
    };
    insert_stamped(list, entry, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
    if !out.iter().any(|d| d.event_id == src.id) {
        out.push(Dispute {
            event_id: src.id.clone(),
            origin: src.origin.to_string(),
            channel: src.channel.to_string(),
            seq: src.seq,
            rule,
        });
    }
}

/// What the group's rules make of `kind` from `src`, apart from the rules
/// judged by the event alone.
fn judge(g: &pb::Group, kind: &Kind, src: &Source<'_>) -> Verdict {
    if !matches!(kind, Kind::TaskAssigned(_) | Kind::SubReportSubmitted(_)) {
        return Verdict::Authorized;
    }
    // Whether the group's claims cite what they rest on is the formation's
    // to say: until it is held, the claim waits.
    if !g.known {
        return Verdict::Pending;
    }
    if g.rules < crate::rules::GROUP_RULES {
        return Verdict::Authorized;
    }
    let disputed = |r: &str| g.disputed.iter().any(|d| d.event_id == r);
    match kind {
        Kind::TaskAssigned(m) => cited(
            &src.refs,
            |r| g.admissions.iter().any(|a| a.event_id == r && a.node == m.assignee),
            |r| g.admissions.iter().any(|a| a.event_id == r) || disputed(r),
            Breach::AssigneeNotMember,
        ),
        Kind::SubReportSubmitted(m) => {
            let assignments = || g.tasks.iter().flat_map(|t| t.assignments.iter().map(move |a| (t, a)));
            cited(
                &src.refs,
                |r| assignments().any(|(t, a)| a.event_id == r && t.task_id == m.task_id && a.assignee == src.origin),
                |r| assignments().any(|(_, a)| a.event_id == r) || disputed(r),
                Breach::SubReportNotByAssignee,
            )
        }
        _ => Verdict::Authorized,
    }
}

/// Authorised once a cited event qualifies; disputed once every cited
/// event is known here and none does (no citation at all included);
/// pending while one is not known.
fn cited(refs: &[String], qualifies: impl Fn(&str) -> bool, known: impl Fn(&str) -> bool, rule: Breach) -> Verdict {
    if refs.iter().any(|r| qualifies(r)) {
        Verdict::Authorized
    } else if refs.iter().all(|r| known(r)) {
        Verdict::Disputed(rule)
    } else {
        Verdict::Pending
    }
}

/// What became known to pending claims: every event (the group's
/// formation, after which the rules are known) or one event id.
enum Known {
    Everything,
    Event(String),
}

fn group_claim(
    g: &mut pb::Group,
    id: &str,
    kind: &Kind,
    src: &Source<'_>,
    by_event: Option<Breach>,
    disputes: &mut Vec<Dispute>,
) {
    let was_known = g.known;
    let verdict = by_event.map_or_else(|| judge(g, kind, src), Verdict::Disputed);
    match verdict {
        Verdict::Authorized => fold_group(g, id, kind, src),
        Verdict::Disputed(rule) => {
            g.group_id = id.to_string();
            add_disputed(&mut g.disputed, kind, src, rule, disputes);
        }
        Verdict::Pending => {
            g.group_id = id.to_string();
            return add_pending(g, kind, src);
        }
    }
    if g.pending.is_empty() {
        return;
    }
    let first = if g.known && !was_known { Known::Everything } else { Known::Event(src.id.clone()) };
    resolve(g, id, first, disputes);
}

fn add_pending(g: &mut pb::Group, kind: &Kind, src: &Source<'_>) {
    let claim = pb::PendingClaim {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        channel: src.channel.to_string(),
        refs: src.refs.clone(),
        payload: pb::Payload { kind: Some(kind.clone()) }.encode_to_vec(),
        seq: src.seq,
    };
    match g.pending.binary_search_by(|p| p.event_id.cmp(&claim.event_id)) {
        Ok(i) if claim.encode_to_vec() < g.pending[i].encode_to_vec() => g.pending[i] = claim,
        Ok(_) => {}
        Err(i) => g.pending.insert(i, claim),
    }
}

/// Judges again the pending claims that what became known concerns, and
/// what their verdicts make known in turn.
fn resolve(g: &mut pb::Group, id: &str, first: Known, disputes: &mut Vec<Dispute>) {
    let mut work = vec![first];
    while let Some(known) = work.pop() {
        let mut i = 0;
        while i < g.pending.len() {
            let concerned = match &known {
                Known::Everything => true,
                Known::Event(e) => g.pending[i].refs.iter().any(|r| r == e),
            };
            let Some(kind) = concerned
                .then(|| pb::Payload::decode(g.pending[i].payload.as_slice()).ok().and_then(|p| p.kind))
                .flatten()
            else {
                i += 1;
                continue;
            };
            let claim = g.pending[i].clone();
            let src = Source {
                id: claim.event_id.clone(),
                origin: &claim.origin,
                channel: &claim.channel,
                hlc: claim.hlc,
                seq: claim.seq,
                refs: claim.refs.clone(),
            };
            match judge(g, &kind, &src) {
                Verdict::Pending => i += 1,
                verdict => {
                    g.pending.remove(i);
                    match verdict {
                        Verdict::Disputed(rule) => add_disputed(&mut g.disputed, &kind, &src, rule, disputes),
                        _ => fold_group(g, id, &kind, &src),
                    }
                    work.push(Known::Event(claim.event_id.clone()));
                }
            }
        }
    }
}
