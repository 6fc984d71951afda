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
use crate::pb;
use crate::pb::payload::Kind;
use crate::rules::{Breach, Verdict};
use prost::Message;

/// A claim the fold found to break a rule: kept in the log, listed on its
/// record, and an alarm against its origin. Folding one event can decide
/// claims that waited for it, so these need not be the folded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispute {
    /// The disputed event's id (normalised).
    pub event_id: String,
    /// Its origin.
    pub origin: String,
    /// Its stream.
    pub channel: String,
    /// Its place in that stream.
    pub seq: u64,
    /// The rule it broke.
    pub rule: Breach,
}

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
        Record::ScoreRule(r) => {
            r.id = id.to_string();
            &mut r.disputed
        }
        Record::Member(m) => {
            m.member_id = id.to_string();
            &mut m.disputed
        }
        Record::Proposal(p) => {
            p.id = id.to_string();
            &mut p.disputed
        }
        Record::Calendar(c) => {
            c.year = id.parse().unwrap_or_default();
            &mut c.disputed
        }
        Record::Duties(r) => {
            r.year = id.parse().unwrap_or_default();
            &mut r.disputed
        }
        Record::IndicatorSet(r) => {
            r.id = id.to_string();
            &mut r.disputed
        }
        Record::Ratings(r) => {
            r.subject_id = id.to_string();
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
        kind: super::kinds::kind_name(kind).to_string(),
    };
    insert_stamped(list, entry, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
    if !out.iter().any(|d| d.event_id == src.id && d.seq == src.seq && d.origin == src.origin) {
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
    let disputed = |r: &str| g.disputed_ids.binary_search_by(|x| x.as_str().cmp(r)).is_ok();
    match kind {
        Kind::TaskAssigned(m) => cited(
            &src.refs,
            |r| admitted(g, r).iter().any(|a| a.node == m.assignee),
            |r| !admitted(g, r).is_empty() || disputed(r),
            Breach::AssigneeNotMember,
        ),
        Kind::SubReportSubmitted(m) => cited(
            &src.refs,
            |r| assigned(g, r).any(|(t, a)| t.task_id == m.task_id && a.assignee == src.origin),
            |r| assigned(g, r).next().is_some() || disputed(r),
            Breach::SubReportNotByAssignee,
        ),
        _ => Verdict::Authorized,
    }
}

/// The admissions event `r` made (admissions are sorted by event id).
fn admitted<'a>(g: &'a pb::Group, r: &str) -> &'a [pb::Admission] {
    let from = g.admissions.partition_point(|a| a.event_id.as_str() < r);
    let to = from + g.admissions[from..].iter().take_while(|a| a.event_id == r).count();
    &g.admissions[from..to]
}

/// The assignments event `r` made, with their sub-topics (each task's
/// assignments are sorted by event id).
fn assigned<'a>(g: &'a pb::Group, r: &'a str) -> impl Iterator<Item = (&'a pb::Task, &'a pb::Assignment)> + 'a {
    g.tasks.iter().flat_map(move |t| {
        let from = t.assignments.partition_point(|a| a.event_id.as_str() < r);
        t.assignments[from..].iter().take_while(move |a| a.event_id == r).map(move |a| (t, a))
    })
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
    g.group_id = id.to_string();
    match verdict {
        Verdict::Authorized => fold_group(g, id, kind, src),
        Verdict::Disputed(rule) => group_dispute(g, kind, src, rule, disputes),
        Verdict::Pending => return add_pending(g, kind, src),
    }
    if g.pending.is_empty() {
        return;
    }
    let first = if g.known && !was_known { Known::Everything } else { Known::Event(src.id.clone()) };
    resolve(g, id, first, disputes);
}

/// Lists a claim on the group as disputed, and its id where claims
/// citing it find it.
fn group_dispute(g: &mut pb::Group, kind: &Kind, src: &Source<'_>, rule: Breach, out: &mut Vec<Dispute>) {
    add_disputed(&mut g.disputed, kind, src, rule, out);
    if let Err(i) = g.disputed_ids.binary_search(&src.id) {
        g.disputed_ids.insert(i, src.id.clone());
    }
}

/// A pending claim's place in the list: by event id, then by everything
/// else, so that two claims an origin signed under one id are both kept,
/// each judged on its own, as they would be were they judged on arrival.
fn pending_key(p: &pb::PendingClaim) -> (&str, u64, u64, &str, &str, &[u8], &[String]) {
    (&p.event_id, p.hlc, p.seq, &p.origin, &p.channel, &p.payload, &p.refs)
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
    let Err(i) = g.pending.binary_search_by(|p| pending_key(p).cmp(&pending_key(&claim))) else { return };
    for r in &claim.refs {
        let w = pb::Waiting { ref_id: r.clone(), event_id: claim.event_id.clone() };
        if let Err(j) = g.waiting.binary_search_by(|x| (&x.ref_id, &x.event_id).cmp(&(&w.ref_id, &w.event_id))) {
            g.waiting.insert(j, w);
        }
    }
    g.pending.insert(i, claim);
}

/// The pending claims `known` concerns, by event id: every one, or those
/// that cite the event.
fn concerned(g: &pb::Group, known: &Known) -> Vec<String> {
    let mut ids: Vec<String> = match known {
        Known::Everything => g.pending.iter().map(|p| p.event_id.clone()).collect(),
        Known::Event(e) => {
            let from = g.waiting.partition_point(|w| w.ref_id < *e);
            g.waiting[from..].iter().take_while(|w| w.ref_id == *e).map(|w| w.event_id.clone()).collect()
        }
    };
    ids.dedup();
    ids
}

/// Judges again the pending claims that what became known concerns, and
/// what their verdicts make known in turn. Found through `waiting`, so an
/// event costs what it concerns, not what is pending.
fn resolve(g: &mut pb::Group, id: &str, first: Known, disputes: &mut Vec<Dispute>) {
    let mut work = vec![first];
    while let Some(known) = work.pop() {
        for claim_id in concerned(g, &known) {
            let mut i = g.pending.partition_point(|p| p.event_id < claim_id);
            while i < g.pending.len() && g.pending[i].event_id == claim_id {
                let Some(kind) = pb::Payload::decode(g.pending[i].payload.as_slice()).ok().and_then(|p| p.kind) else {
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
                let verdict = judge(g, &kind, &src);
                if verdict == Verdict::Pending {
                    i += 1;
                    continue;
                }
                g.pending.remove(i);
                forget_waiting(g, &claim);
                match verdict {
                    Verdict::Disputed(rule) => group_dispute(g, &kind, &src, rule, disputes),
                    _ => fold_group(g, id, &kind, &src),
                }
                work.push(Known::Event(claim.event_id.clone()));
            }
        }
    }
}

/// Removes the index entries of a decided claim, unless another pending
/// claim under its id (an origin reusing an id) still cites the same.
fn forget_waiting(g: &mut pb::Group, claim: &pb::PendingClaim) {
    let from = g.pending.partition_point(|p| p.event_id < claim.event_id);
    let others: Vec<&pb::PendingClaim> =
        g.pending[from..].iter().take_while(|p| p.event_id == claim.event_id).collect();
    let keep: std::collections::BTreeSet<&String> = others.iter().flat_map(|p| &p.refs).collect();
    let gone: Vec<String> = claim.refs.iter().filter(|r| !keep.contains(r)).cloned().collect();
    for r in gone {
        if let Ok(j) = g
            .waiting
            .binary_search_by(|x| (x.ref_id.as_str(), x.event_id.as_str()).cmp(&(r.as_str(), claim.event_id.as_str())))
        {
            g.waiting.remove(j);
        }
    }
}
