//! How each event changes the record it touches: one fold per kind of
//! record. Every fold is commutative and idempotent (see [`super`]).
//!
//! Only an origin that reuses its own event ids can give two different
//! contributions one stamp (an id names its origin: `super::breach`);
//! where it does, the lesser encoding wins, so that every node still
//! holds the same bytes whatever order the two arrived in.

use super::record::{norm, norm_set, Record};
use super::source::lesser;
pub(super) use super::source::{insert_stamped, Source, Stamp};
use crate::pb;
use crate::pb::payload::Kind;

/// Folds one event into one record it touches.
pub(super) fn fold_record(record: &mut Record, id: &str, kind: &Kind, src: &Source<'_>) {
    match record {
        Record::Topic(t) => fold_topic(t, id, kind, src),
        Record::Group(g) => fold_group(g, id, kind, src),
        Record::Info(i) => fold_info(i, id, kind, src),
        Record::Notice(n) => fold_notice(n, id, kind, src),
        Record::Result(r) => fold_result(r, id, kind, src),
        Record::ScoreRule(r) => fold_score_rule(r, id, kind, src),
        Record::Member(m) => super::members::fold_member(m, id, kind, src),
        Record::Proposal(p) => super::proposals::fold_proposal(p, id, kind, src),
        Record::Calendar(c) => super::proposals::fold_calendar(c, kind, src),
        Record::Duties(r) => super::members::fold_duty_rule(r, kind, src),
        Record::IndicatorSet(r) => super::evaluation::fold_set(r, id, kind, src),
        Record::Ratings(r) => super::evaluation::fold_rating(r, id, kind, src),
    }
}

/// Adds `value` to a sorted set of strings.
fn insert_sorted(list: &mut Vec<String>, value: &str) {
    if let Err(i) = list.binary_search_by(|x| x.as_str().cmp(value)) {
        list.insert(i, value.to_string());
    }
}

fn raise(status: &mut i32, to: i32) {
    *status = (*status).max(to);
}

fn note(src: &Source<'_>, text: &str) -> pb::Note {
    pb::Note { event_id: src.id.clone(), origin: src.origin.to_string(), hlc: src.hlc, text: text.to_string() }
}

fn note_stamp(n: &pb::Note) -> Stamp<'_> {
    Stamp { hlc: n.hlc, origin: &n.origin, event_id: &n.event_id }
}

fn fold_topic(t: &mut pb::Topic, id: &str, kind: &Kind, src: &Source<'_>) {
    t.id = id.to_string();
    raise(&mut t.status, pb::TopicStatus::Proposed as i32);
    match kind {
        Kind::TopicProposed(m) => {
            let new = (src.hlc, src.channel, m.year, m.category, m.title.as_str(), m.lead_committee.as_str());
            if t.known
                && (t.hlc, t.channel.as_str(), t.year, t.category, t.title.as_str(), t.lead_committee.as_str()) <= new
            {
                return;
            }
            t.origin = src.origin.to_string();
            t.channel = src.channel.to_string();
            t.hlc = src.hlc;
            t.year = m.year;
            t.category = m.category;
            t.title.clone_from(&m.title);
            t.lead_committee.clone_from(&m.lead_committee);
            t.known = true;
        }
        Kind::TopicCommented(m) => {
            insert_stamped(&mut t.comments, note(src, &m.text), note_stamp);
        }
        Kind::TopicLinked(m) => {
            for other in norm_set(&m.topic_ids) {
                if other != id {
                    insert_sorted(&mut t.linked_topic_ids, &other);
                }
            }
            raise(&mut t.status, pb::TopicStatus::Linked as i32);
        }
        Kind::TopicResponded(m) => {
            let p = pb::Participant {
                node: src.origin.to_string(),
                response: m.response,
                event_id: src.id.clone(),
                hlc: src.hlc,
                note: m.note.clone(),
            };
            match t.participants.binary_search_by(|x| x.node.cmp(&p.node)) {
                Ok(i) => {
                    let old = &t.participants[i];
                    let newer = (old.hlc, old.event_id.as_str()) < (p.hlc, p.event_id.as_str());
                    let same = (old.hlc, old.event_id.as_str()) == (p.hlc, p.event_id.as_str());
                    if newer || (same && lesser(&p, old)) {
                        t.participants[i] = p;
                    }
                }
                Err(i) => t.participants.insert(i, p),
            }
        }
        Kind::PlanPublished(_) => {
            insert_sorted(&mut t.plan_ids, &src.id);
            raise(&mut t.status, pb::TopicStatus::Planned as i32);
        }
        Kind::TopicClosed(m) => {
            // The latest closing by stamp says how; any closing closes.
            let closing = note(src, &m.note);
            let newer = match &t.closed {
                None => true,
                Some(old) => {
                    note_stamp(old) < note_stamp(&closing)
                        || (note_stamp(old) == note_stamp(&closing)
                            && (m.outcome, norm(&m.into_topic_id), m.note.as_str())
                                < (t.outcome, t.into_topic_id.clone(), old.text.as_str()))
                }
            };
            if newer {
                t.outcome = m.outcome;
                t.into_topic_id = norm(&m.into_topic_id);
                t.closed = Some(closing);
            }
            raise(&mut t.status, pb::TopicStatus::Closed as i32);
        }
        _ => {}
    }
}

/// A sub-topic's due date: that of its latest assignment or latest move,
/// whichever is later by stamp. Nodes since `TaskDueChanged` refuse a
/// re-assignment that moves it; one from an older node still does, on
/// every node alike.
fn settle_due(t: &mut pb::Task) {
    let assigned = Stamp { hlc: t.hlc, origin: &t.origin, event_id: &t.event_id };
    let moved = t.due_changes.iter().rev().find(|c| c.due.is_some());
    t.due = match moved {
        Some(c) if !t.known || assigned < (Stamp { hlc: c.hlc, origin: &c.origin, event_id: &c.event_id }) => c.due,
        _ => t.assigned_due,
    };
}

fn member_stamp(m: &pb::Member) -> (u64, &str, bool) {
    (m.hlc, &m.origin, m.joined)
}

fn set_member(g: &mut pb::Group, node: &str, joined: bool, src: &Source<'_>) {
    let m = pb::Member { node: node.to_string(), joined, origin: src.origin.to_string(), hlc: src.hlc };
    match g.members.binary_search_by(|x| x.node.as_str().cmp(node)) {
        Ok(i) => {
            if member_stamp(&g.members[i]) < member_stamp(&m) {
                g.members[i] = m;
            }
        }
        Err(i) => g.members.insert(i, m),
    }
}

/// Notes that event `src` made `node` a member: what an assignment cites.
fn admit(g: &mut pb::Group, node: &str, src: &Source<'_>) {
    let admission = pb::Admission { event_id: src.id.clone(), node: node.to_string() };
    if let Err(i) =
        g.admissions.binary_search_by(|a| (&a.event_id, &a.node).cmp(&(&admission.event_id, &admission.node)))
    {
        g.admissions.insert(i, admission);
    }
}

fn task_mut<'a>(g: &'a mut pb::Group, task_id: &str) -> &'a mut pb::Task {
    let i = match g.tasks.binary_search_by(|x| x.task_id.as_str().cmp(task_id)) {
        Ok(i) => i,
        Err(i) => {
            g.tasks.insert(i, pb::Task { task_id: task_id.to_string(), ..Default::default() });
            i
        }
    };
    &mut g.tasks[i]
}

fn report_stamp(r: &pb::Report) -> Stamp<'_> {
    Stamp { hlc: r.hlc, origin: &r.origin, event_id: &r.event_id }
}

pub(super) fn fold_group(g: &mut pb::Group, id: &str, kind: &Kind, src: &Source<'_>) {
    g.group_id = id.to_string();
    match kind {
        Kind::GroupFormed(m) => {
            let old = Stamp { hlc: g.hlc, origin: &g.origin, event_id: &g.event_id };
            let topic_ids = norm_set(&m.topic_ids);
            let same = old == src.stamp() && (&m.title, &m.lead, &topic_ids) < (&g.title, &g.lead, &g.topic_ids);
            let first = !g.known || src.stamp() < old || same;
            if first {
                g.title.clone_from(&m.title);
                g.lead.clone_from(&m.lead);
                g.origin = src.origin.to_string();
                g.hlc = src.hlc;
                g.event_id = src.id.clone();
                g.topic_ids = topic_ids;
                g.rules = m.rules;
                g.known = true;
            }
            for member in std::iter::once(&m.lead).chain(&m.members) {
                set_member(g, member, true, src);
                admit(g, member, src);
            }
        }
        Kind::GroupJoined(m) => {
            set_member(g, &m.member, true, src);
            admit(g, &m.member, src);
        }
        Kind::GroupLeft(m) => set_member(g, &m.member, false, src),
        Kind::TaskAssigned(m) => {
            let t = task_mut(g, &m.task_id);
            let old = Stamp { hlc: t.hlc, origin: &t.origin, event_id: &t.event_id };
            let same = t.known && old == src.stamp();
            let newer = !t.known
                || old < src.stamp()
                || (same
                    && (m.title.as_str(), m.assignee.as_str(), m.due.map(|d| (d.seconds, d.nanos)))
                        < (t.title.as_str(), t.assignee.as_str(), t.assigned_due.map(|d| (d.seconds, d.nanos))));
            if newer {
                t.title.clone_from(&m.title);
                t.assignee.clone_from(&m.assignee);
                t.assigned_due = m.due;
                t.event_id = src.id.clone();
                t.origin = src.origin.to_string();
                t.hlc = src.hlc;
                t.known = true;
            }
            let assignment = pb::Assignment { event_id: src.id.clone(), assignee: m.assignee.clone() };
            if let Err(i) = t
                .assignments
                .binary_search_by(|a| (&a.event_id, &a.assignee).cmp(&(&assignment.event_id, &assignment.assignee)))
            {
                t.assignments.insert(i, assignment);
            }
            settle_due(t);
        }
        Kind::TaskDueChanged(m) => {
            let t = task_mut(g, &m.task_id);
            let change = pb::DueChange {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                due: m.due,
                reason: m.reason.clone(),
            };
            insert_stamped(&mut t.due_changes, change, |x| Stamp {
                hlc: x.hlc,
                origin: &x.origin,
                event_id: &x.event_id,
            });
            settle_due(t);
        }
        Kind::MilestoneReached(m) => {
            let milestone = pb::Milestone {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                task_id: m.task_id.clone(),
                title: m.title.clone(),
            };
            insert_stamped(&mut g.milestones, milestone, |x| Stamp {
                hlc: x.hlc,
                origin: &x.origin,
                event_id: &x.event_id,
            });
        }
        Kind::ProgressReported(m) => {
            let t = task_mut(g, &m.task_id);
            let old = (t.progress_hlc, t.progress_event_id.as_str());
            let new = (src.hlc, src.id.as_str());
            let same = old == new && (m.percent, m.text.as_str()) < (t.percent, t.progress_text.as_str());
            if old < new || same {
                t.percent = m.percent;
                t.progress_text.clone_from(&m.text);
                t.progress_event_id = src.id.clone();
                t.progress_hlc = src.hlc;
            }
        }
        Kind::SubReportSubmitted(m) => {
            let report = pb::Report {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                task_id: m.task_id.clone(),
                title: m.title.clone(),
                summary: String::new(),
                attachments: Vec::new(),
                sub_report_ids: Vec::new(),
                member_ids: capped_set(&m.member_ids),
            };
            insert_stamped(&mut task_mut(g, &m.task_id).sub_reports, report, report_stamp);
        }
        Kind::ConsolidatedReportSubmitted(m) => {
            let report = pb::Report {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                task_id: String::new(),
                title: m.title.clone(),
                summary: String::new(),
                attachments: Vec::new(),
                sub_report_ids: norm_set(&m.sub_report_ids),
                member_ids: Vec::new(),
            };
            insert_stamped(&mut g.consolidated_reports, report, report_stamp);
        }
        Kind::VisitScheduled(m) => {
            let visit = pb::Visit {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                title: m.title.clone(),
                starts: m.starts,
                places: m.places.clone(),
            };
            insert_stamped(&mut g.visits, visit, |x| Stamp { hlc: x.hlc, origin: &x.origin, event_id: &x.event_id });
        }
        _ => {}
    }
}

fn fold_info(item: &mut pb::InfoItem, id: &str, kind: &Kind, src: &Source<'_>) {
    use pb::InfoStatus as S;
    item.id = id.to_string();
    raise(&mut item.status, S::Submitted as i32);
    if let Kind::InfoReported(m) = kind {
        let new =
            (src.hlc, src.channel, m.title.as_str(), m.submitter.as_str(), m.sector.as_str(), m.member_id.as_str());
        let old = (
            item.hlc,
            item.channel.as_str(),
            item.title.as_str(),
            item.submitter.as_str(),
            item.sector.as_str(),
            item.member_id.as_str(),
        );
        if !item.known || new < old {
            item.origin = src.origin.to_string();
            item.channel = src.channel.to_string();
            item.hlc = src.hlc;
            item.title.clone_from(&m.title);
            item.submitter.clone_from(&m.submitter);
            item.sector.clone_from(&m.sector);
            item.member_id.clone_from(&m.member_id);
            item.known = true;
        }
    } else if let Kind::InfoMerged(m) = kind {
        if norm(&m.into_id) == id {
            // The 综合 item lists what went into it: the `LIST_ITEMS_MAX`
            // least ids, the same ones everywhere.
            let merged = norm(&m.info_id);
            if let Err(i) = item.merges.binary_search(&merged) {
                item.merges.insert(i, merged);
                item.merges.truncate(crate::limits::LIST_ITEMS_MAX);
            }
            return;
        }
    }
    // `levels` is always the rows of the trail: derived again only when
    // the trail changes (and once for a record that has none yet).
    let Some((step, detail, text)) = super::levels::step(kind) else {
        if item.levels.is_empty() {
            item.levels = super::levels::derive(&item_origin(id), &item.trail);
        }
        return;
    };
    if step <= S::Feedback {
        raise(&mut item.status, step as i32);
    }
    let at = super::levels::handling_level(src.origin, kind);
    let (level, combined, rank) = match kind {
        Kind::InfoAdopted(m) => {
            if let Err(i) = item.adopted_levels.binary_search(&m.level) {
                item.adopted_levels.insert(i, m.level);
            }
            (m.level, m.combined, 0)
        }
        Kind::InfoInstructed(m) => (0, false, m.rank),
        _ => (0, false, 0),
    };
    // The 综合 item as `merges` names it: in its one text form.
    let detail = if step == S::Merged { norm(detail) } else { detail.to_string() };
    let entry = pb::TrailEntry {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        step: step as i32,
        level,
        detail,
        text: text.to_string(),
        at: at as i32,
        combined,
        rank,
    };
    let changed =
        insert_stamped(&mut item.trail, entry, |x| Stamp { hlc: x.hlc, origin: &x.origin, event_id: &x.event_id });
    if changed || item.levels.is_empty() {
        item.levels = super::levels::derive(&item_origin(id), &item.trail);
    }
}

/// Texts sorted, each once, the `LIST_ITEMS_MAX` least: what a signed
/// event with more gives everywhere alike.
fn capped_set(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items.truncate(crate::limits::LIST_ITEMS_MAX);
    items
}

/// A score rule is its one event: the record keeps it whole. Two events
/// under one id (only their origin can sign both) go to the lesser stamp.
fn fold_score_rule(r: &mut pb::ScoreRule, id: &str, kind: &Kind, src: &Source<'_>) {
    let Kind::ScoreRuleIssued(m) = kind else { return };
    r.id = id.to_string();
    let candidate = pb::ScoreRule {
        id: id.to_string(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        rule: Some(m.clone()),
        known: true,
        disputed: std::mem::take(&mut r.disputed),
    };
    let replace = !r.known || (candidate.hlc, &candidate.origin) < (r.hlc, &r.origin) || {
        let same = (candidate.hlc, &candidate.origin) == (r.hlc, &r.origin);
        same && lesser(&candidate, r)
    };
    let disputed = candidate.disputed.clone();
    if replace {
        *r = candidate;
    }
    r.disputed = disputed;
}

/// The committee an item's id names (`crate::ids`), or "".
fn item_origin(id: &str) -> String {
    let named = crate::validate::parse_event_id(id).and_then(|b| crate::ids::embedded_origin(&b));
    named.map(|(code, _)| code.to_string()).unwrap_or_default()
}

fn fold_notice(n: &mut pb::Notice, id: &str, kind: &Kind, src: &Source<'_>) {
    n.id = id.to_string();
    match kind {
        Kind::NoticeIssued(m) => {
            let due = |d: &Option<prost_types::Timestamp>| d.map(|d| (d.seconds, d.nanos));
            let new = (src.hlc, src.channel, m.title.as_str(), m.requires_acknowledgement, m.expects, due(&m.due));
            let old = (n.hlc, n.channel.as_str(), n.title.as_str(), n.requires_acknowledgement, n.expects, due(&n.due));
            if n.known && old <= new {
                return;
            }
            n.origin = src.origin.to_string();
            n.channel = src.channel.to_string();
            n.hlc = src.hlc;
            n.title.clone_from(&m.title);
            n.requires_acknowledgement = m.requires_acknowledgement;
            n.expects = m.expects;
            n.due = m.due;
            n.known = true;
        }
        Kind::NoticeReminded(m) => {
            // No node names more than `LIST_ITEMS_MAX`; of a signed event
            // with more, the same ones everywhere.
            let mut to = m.to.clone();
            to.sort();
            to.dedup();
            to.truncate(crate::limits::LIST_ITEMS_MAX);
            let reminder = pb::Reminder {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                to,
                note: m.note.clone(),
            };
            insert_stamped(&mut n.reminders, reminder, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
        }
        Kind::NoticeAcknowledged(_) => {
            let ack = pb::Acknowledgement { node: src.origin.to_string(), event_id: src.id.clone(), hlc: src.hlc };
            match n.acknowledgements.binary_search_by(|x| x.node.cmp(&ack.node)) {
                // The first acknowledgement counts.
                Ok(i) => {
                    let old = &n.acknowledgements[i];
                    let earlier = (ack.hlc, ack.event_id.as_str()) < (old.hlc, old.event_id.as_str());
                    if earlier
                        || ((ack.hlc, ack.event_id.as_str()) == (old.hlc, old.event_id.as_str()) && lesser(&ack, old))
                    {
                        n.acknowledgements[i] = ack;
                    }
                }
                Err(i) => n.acknowledgements.insert(i, ack),
            }
        }
        _ => {}
    }
}

/// Folds a reply — an event whose refs name notice `id` — into the notice.
/// Of one committee's replies the notice keeps the `LIST_ITEMS_MAX`
/// earliest by stamp: as many returns as anyone sends, and no more than
/// that from one that floods it.
pub(super) fn fold_reply(n: &mut pb::Notice, id: &str, kind: &Kind, src: &Source<'_>) {
    n.id = id.to_string();
    let reply = pb::Reply {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        kind: super::kinds::kind_name(kind).to_string(),
    };
    insert_stamped(&mut n.replies, reply, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
    let from_origin = n.replies.iter().filter(|r| r.origin == src.origin).count();
    if from_origin > crate::limits::LIST_ITEMS_MAX {
        let latest = n.replies.iter().rposition(|r| r.origin == src.origin).expect("counted");
        n.replies.remove(latest);
    }
}

fn fold_result(r: &mut pb::Result, id: &str, kind: &Kind, src: &Source<'_>) {
    r.id = id.to_string();
    match kind {
        Kind::ResearchCompleted(m) => {
            let new = (src.hlc, src.channel, m.title.as_str(), m.group_id.as_str(), m.year, m.category);
            let old = (r.hlc, r.channel.as_str(), r.title.as_str(), r.group_id.as_str(), r.year, r.category);
            if r.known && old <= new {
                return;
            }
            r.origin = src.origin.to_string();
            r.channel = src.channel.to_string();
            r.hlc = src.hlc;
            r.title.clone_from(&m.title);
            r.group_id.clone_from(&m.group_id);
            r.year = m.year;
            r.category = m.category;
            r.known = true;
        }
        Kind::ResultShared(m) => {
            let share = pb::Share {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                audience: m.audience.clone(),
            };
            insert_stamped(&mut r.shares, share, |x| Stamp { hlc: x.hlc, origin: &x.origin, event_id: &x.event_id });
        }
        Kind::ResultAdopted(m) => {
            let adoption = pb::Adoption {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                by: m.by.clone(),
                how: m.how.clone(),
            };
            insert_stamped(&mut r.adoptions, adoption, |x| Stamp {
                hlc: x.hlc,
                origin: &x.origin,
                event_id: &x.event_id,
            });
        }
        Kind::ResultFeedback(m) => {
            insert_stamped(&mut r.feedback, note(src, &m.text), note_stamp);
        }
        _ => {}
    }
}
