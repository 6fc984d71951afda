//! The four shared views — 沟通 (topics), 联通 (groups), 畅通 (社情民意 items and
//! notices), 互通 (results) — as deterministic functions of the *set* of events
//! a node holds.
//!
//! [`apply`] folds one event into the records it touches. Every fold is
//! commutative and idempotent, so any order of the same events, with
//! duplicates, leaves the same bytes:
//! - statuses take the maximum along their lattice;
//! - lists are grow-only sets kept sorted by (hlc, origin, event id) and
//!   deduplicated by event id;
//! - single values that two events set differently go to the greater
//!   (hlc, origin, event id) — (hlc, event id) for a task's progress, whose
//!   event ids already name their origin — except a group's founding facts,
//!   where the first formation wins so that a later one cannot take a group
//!   over.
//!
//! Records are protobuf messages (`linkage.v1.Topic` …) stored under the keys
//! of [`key`]; the store writes them in the same batch as the events. They
//! keep what a list shows and what the folds decide — titles, statuses,
//! trails, notes of at most `TEXT_CHARS_MAX` characters — and leave the long
//! texts (a body, a summary, attachments: up to `BODY_CHARS_MAX` each) in
//! the log: [`fill`] copies them from the event that carries them when one
//! record is asked for. Copying them into every record would double what
//! each commit writes and make every fold of a big group rewrite them.

mod lifecycle;
pub mod query;

pub use lifecycle::check_lifecycle;

use crate::pb;
use crate::pb::payload::Kind;
use crate::validate::{format_event_id, parse_event_id};
use prost::Message;
use std::collections::BTreeMap;

/// Bumped whenever a fold or the key layout changes; a node whose stored
/// views have another version rebuilds them from the log when it opens its
/// store. 2: event ids in keys as 16 bytes. 3: records stored in blocks
/// (`linkage_store::views`).
pub const VIEWS_VERSION: u32 = 3;

/// First byte of every view key.
pub const PREFIX: u8 = b'V';

/// Second byte of a view key: which kind of record.
pub mod kind {
    /// `linkage.v1.Topic`, by topic event id.
    pub const TOPIC: u8 = b't';
    /// `linkage.v1.Group`, by group id.
    pub const GROUP: u8 = b'g';
    /// `linkage.v1.InfoItem`, by item event id.
    pub const INFO: u8 = b'i';
    /// `linkage.v1.Notice`, by notice event id.
    pub const NOTICE: u8 = b'n';
    /// `linkage.v1.Result`, by result event id.
    pub const RESULT: u8 = b'r';
}

/// Third byte of the key of an entity whose id is an event id in its one
/// text form ([`norm`]): its 16 bytes follow.
const ID_BYTES: u8 = 0x00;

/// Third byte of the key of any other entity (a group, say): its id's text
/// follows. UTF-8 never holds 0xff, and keys of event ids sort first.
const ID_TEXT: u8 = 0xff;

/// Key of the record of `kind` for entity `id`. An event id is stored as
/// its 16 bytes rather than its 36 characters: sled copies and writes a
/// tree node's keys on every insert and every split, and most records are
/// keyed by event ids.
pub fn key(kind: u8, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + id.len());
    key.push(PREFIX);
    key.push(kind);
    match canonical_event_id(id) {
        Some(bytes) => {
            key.push(ID_BYTES);
            key.extend_from_slice(&bytes);
        }
        None => {
            key.push(ID_TEXT);
            key.extend_from_slice(id.as_bytes());
        }
    }
    key
}

/// The entity id a record key names, as text.
pub fn key_id(key: &[u8]) -> Option<String> {
    match (key.get(2)?, key.get(3..)?) {
        (&ID_BYTES, bytes) => Some(format_event_id(bytes.try_into().ok()?)),
        (&ID_TEXT, text) => String::from_utf8(text.to_vec()).ok(),
        _ => None,
    }
}

/// The bytes of `id` if it is an event id in its one text form (lower-case
/// hex in the 8-4-4-4-12 pattern). Every fold step asks, so it allocates
/// nothing.
fn canonical_event_id(id: &str) -> Option<[u8; 16]> {
    if id.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = 0;
    for (i, b) in id.bytes().enumerate() {
        let nibble = match (i, b) {
            (8 | 13 | 18 | 23, b'-') => continue,
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => b - b'0',
            (_, b'a'..=b'f') => b - b'a' + 10,
            _ => return None,
        };
        out[nibbles / 2] |= nibble << (4 * (1 - nibbles % 2));
        nibbles += 1;
    }
    Some(out)
}

/// Prefix of every record of `kind`.
pub fn kind_prefix(kind: u8) -> [u8; 2] {
    [PREFIX, kind]
}

/// Where the folds read and write records: sled with an overlay in the
/// store, a map in tests.
pub trait Records {
    /// The record's bytes, if there is one.
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>>;
    /// Replaces the record.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
}

impl Records for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }
}

/// The flow a payload belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    /// 沟通.
    Planning,
    /// 联通.
    Progress,
    /// 畅通.
    Exchange,
    /// 互通.
    Results,
}

/// The payload's field name in `linkage.v1.Payload`, e.g. `topic_commented`.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::TopicProposed(_) => "topic_proposed",
        Kind::TopicCommented(_) => "topic_commented",
        Kind::TopicLinked(_) => "topic_linked",
        Kind::TopicResponded(_) => "topic_responded",
        Kind::PlanPublished(_) => "plan_published",
        Kind::GroupFormed(_) => "group_formed",
        Kind::GroupJoined(_) => "group_joined",
        Kind::GroupLeft(_) => "group_left",
        Kind::TaskAssigned(_) => "task_assigned",
        Kind::MilestoneReached(_) => "milestone_reached",
        Kind::ProgressReported(_) => "progress_reported",
        Kind::SubReportSubmitted(_) => "sub_report_submitted",
        Kind::ConsolidatedReportSubmitted(_) => "consolidated_report_submitted",
        Kind::VisitScheduled(_) => "visit_scheduled",
        Kind::InfoReported(_) => "info_reported",
        Kind::InfoPublished(_) => "info_published",
        Kind::InfoForwarded(_) => "info_forwarded",
        Kind::InfoAdopted(_) => "info_adopted",
        Kind::InfoInstructed(_) => "info_instructed",
        Kind::InfoFeedback(_) => "info_feedback",
        Kind::NoticeIssued(_) => "notice_issued",
        Kind::NoticeAcknowledged(_) => "notice_acknowledged",
        Kind::ResearchCompleted(_) => "research_completed",
        Kind::ResultShared(_) => "result_shared",
        Kind::ResultAdopted(_) => "result_adopted",
        Kind::ResultFeedback(_) => "result_feedback",
    }
}

/// The records an event changes: its flow, the record kind and the entity
/// ids. `event_id` is the event's own (normalised) id.
pub fn touches(kind: &Kind, event_id: &str) -> (Flow, u8, Vec<String>) {
    use Kind::*;
    let one = |id: &str| vec![norm(id)];
    match kind {
        TopicProposed(_) => (Flow::Planning, kind::TOPIC, vec![event_id.to_string()]),
        TopicCommented(m) => (Flow::Planning, kind::TOPIC, one(&m.topic_id)),
        TopicResponded(m) => (Flow::Planning, kind::TOPIC, one(&m.topic_id)),
        TopicLinked(m) => (Flow::Planning, kind::TOPIC, norm_set(&m.topic_ids)),
        PlanPublished(m) => (Flow::Planning, kind::TOPIC, norm_set(&m.topic_ids)),
        GroupFormed(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        GroupJoined(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        GroupLeft(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        TaskAssigned(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        MilestoneReached(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        ProgressReported(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        SubReportSubmitted(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        ConsolidatedReportSubmitted(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        VisitScheduled(m) => (Flow::Progress, kind::GROUP, vec![m.group_id.clone()]),
        InfoReported(_) => (Flow::Exchange, kind::INFO, vec![event_id.to_string()]),
        InfoPublished(m) => (Flow::Exchange, kind::INFO, one(&m.info_id)),
        InfoForwarded(m) => (Flow::Exchange, kind::INFO, one(&m.info_id)),
        InfoAdopted(m) => (Flow::Exchange, kind::INFO, one(&m.info_id)),
        InfoInstructed(m) => (Flow::Exchange, kind::INFO, one(&m.info_id)),
        InfoFeedback(m) => (Flow::Exchange, kind::INFO, one(&m.info_id)),
        NoticeIssued(_) => (Flow::Exchange, kind::NOTICE, vec![event_id.to_string()]),
        NoticeAcknowledged(m) => (Flow::Exchange, kind::NOTICE, one(&m.notice_id)),
        ResearchCompleted(_) => (Flow::Results, kind::RESULT, vec![event_id.to_string()]),
        ResultShared(m) => (Flow::Results, kind::RESULT, one(&m.result_id)),
        ResultAdopted(m) => (Flow::Results, kind::RESULT, one(&m.result_id)),
        ResultFeedback(m) => (Flow::Results, kind::RESULT, one(&m.result_id)),
    }
}

/// An event id in its one text form (lower-case), so that references in
/// either case find the same record.
pub fn norm(id: &str) -> String {
    // Nearly every id is already in that form: check it without parsing.
    if canonical_event_id(id).is_some() {
        return id.to_string();
    }
    parse_event_id(id).map(|b| format_event_id(&b)).unwrap_or_else(|| id.to_string())
}

fn norm_set(ids: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| norm(id)).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Who contributed, and when: the order of grow-only lists and the tie-break
/// of single values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp<'a> {
    hlc: u64,
    origin: &'a str,
    event_id: &'a str,
}

/// The event being folded.
struct Source<'a> {
    id: String,
    origin: &'a str,
    channel: &'a str,
    hlc: u64,
}

impl Source<'_> {
    fn stamp(&self) -> Stamp<'_> {
        Stamp { hlc: self.hlc, origin: self.origin, event_id: &self.id }
    }
}

/// Folds `event` into the views. Events without a payload the code knows
/// (a newer version's) change nothing. Returns the ids it touched.
pub fn apply(event: &pb::Event, records: &mut impl Records) -> Option<(Flow, Vec<String>)> {
    let kind = event.payload.as_ref()?.kind.as_ref()?;
    let src = Source { id: norm(&event.id), origin: &event.origin, channel: &event.channel, hlc: event.hlc };
    let (flow, record_kind, ids) = touches(kind, &src.id);
    for id in &ids {
        let key = key(record_kind, id);
        let old = records.get(&key);
        let mut record = Record::decode(record_kind, old.as_deref());
        fold_record(&mut record, id, kind, &src);
        let new = record.encode();
        if old.as_deref() != Some(new.as_slice()) {
            records.put(key, new);
        }
    }
    Some((flow, ids))
}

/// A decoded view record, for callers that fold many events into the same
/// records (a rebuild) and encode each once at the end.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// [`kind::TOPIC`].
    Topic(pb::Topic),
    /// [`kind::GROUP`].
    Group(pb::Group),
    /// [`kind::INFO`].
    Info(pb::InfoItem),
    /// [`kind::NOTICE`].
    Notice(pb::Notice),
    /// [`kind::RESULT`].
    Result(pb::Result),
}

impl Record {
    /// The record stored under a key of `kind`, or an empty one. Records are
    /// written by this code only; one that does not decode starts empty,
    /// and a rebuild from the log restores it.
    pub fn decode(kind: u8, bytes: Option<&[u8]>) -> Record {
        fn d<M: Message + Default>(bytes: Option<&[u8]>) -> M {
            bytes.and_then(|b| M::decode(b).ok()).unwrap_or_default()
        }
        match kind {
            kind::TOPIC => Record::Topic(d(bytes)),
            kind::GROUP => Record::Group(d(bytes)),
            kind::INFO => Record::Info(d(bytes)),
            kind::NOTICE => Record::Notice(d(bytes)),
            _ => Record::Result(d(bytes)),
        }
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Topic(m) => m.encode_to_vec(),
            Record::Group(m) => m.encode_to_vec(),
            Record::Info(m) => m.encode_to_vec(),
            Record::Notice(m) => m.encode_to_vec(),
            Record::Result(m) => m.encode_to_vec(),
        }
    }
}

/// Decoded records the caller keeps, by key; [`apply_cached`] folds into them.
pub trait RecordCache {
    /// The record under `key` (of kind `kind`), loaded or created empty.
    fn record(&mut self, kind: u8, key: Vec<u8>) -> &mut Record;
}

/// Like [`apply`], on decoded records: no decoding or encoding per event.
pub fn apply_cached(event: &pb::Event, cache: &mut impl RecordCache) -> Option<(Flow, Vec<String>)> {
    let kind = event.payload.as_ref()?.kind.as_ref()?;
    let src = Source { id: norm(&event.id), origin: &event.origin, channel: &event.channel, hlc: event.hlc };
    let (flow, record_kind, ids) = touches(kind, &src.id);
    for id in &ids {
        fold_record(cache.record(record_kind, key(record_kind, id)), id, kind, &src);
    }
    Some((flow, ids))
}

fn fold_record(record: &mut Record, id: &str, kind: &Kind, src: &Source<'_>) {
    match record {
        Record::Topic(t) => fold_topic(t, id, kind, src),
        Record::Group(g) => fold_group(g, id, kind, src),
        Record::Info(i) => fold_info(i, id, kind, src),
        Record::Notice(n) => fold_notice(n, id, kind, src),
        Record::Result(r) => fold_result(r, id, kind, src),
    }
}

/// Reads and decodes one record.
pub fn load<M: Message + Default>(records: &mut impl Records, kind: u8, id: &str) -> Option<M> {
    records.get(&key(kind, id)).and_then(|b| M::decode(b.as_slice()).ok())
}

/// Inserts `item` into a list sorted by its stamp, unless its event is
/// there: an event's stamp (hlc, origin, event id) is its own, so the
/// search finds a copy of it.
fn insert_stamped<T>(list: &mut Vec<T>, item: T, stamp: impl for<'x> Fn(&'x T) -> Stamp<'x>) {
    let at = {
        let s = stamp(&item);
        list.binary_search_by(|x| stamp(x).cmp(&s))
    };
    if let Err(i) = at {
        list.insert(i, item);
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
            t.origin = src.origin.to_string();
            t.channel = src.channel.to_string();
            t.hlc = src.hlc;
            t.year = m.year;
            t.category = m.category;
            t.title.clone_from(&m.title);
            t.lead_committee.clone_from(&m.lead_committee);
            t.known = true;
        }
        Kind::TopicCommented(m) => insert_stamped(&mut t.comments, note(src, &m.text), note_stamp),
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
                    if (old.hlc, old.event_id.as_str()) < (p.hlc, p.event_id.as_str()) {
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
        _ => {}
    }
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

fn fold_group(g: &mut pb::Group, id: &str, kind: &Kind, src: &Source<'_>) {
    g.group_id = id.to_string();
    match kind {
        Kind::GroupFormed(m) => {
            let first = !g.known || src.stamp() < Stamp { hlc: g.hlc, origin: &g.origin, event_id: &g.event_id };
            if first {
                g.title.clone_from(&m.title);
                g.lead.clone_from(&m.lead);
                g.origin = src.origin.to_string();
                g.hlc = src.hlc;
                g.event_id = src.id.clone();
                g.topic_ids = norm_set(&m.topic_ids);
                g.known = true;
            }
            for member in std::iter::once(&m.lead).chain(&m.members) {
                set_member(g, member, true, src);
            }
        }
        Kind::GroupJoined(m) => set_member(g, &m.member, true, src),
        Kind::GroupLeft(m) => set_member(g, &m.member, false, src),
        Kind::TaskAssigned(m) => {
            let t = task_mut(g, &m.task_id);
            let newer = !t.known || Stamp { hlc: t.hlc, origin: &t.origin, event_id: &t.event_id } < src.stamp();
            if newer {
                t.title.clone_from(&m.title);
                t.assignee.clone_from(&m.assignee);
                t.due = m.due;
                t.event_id = src.id.clone();
                t.origin = src.origin.to_string();
                t.hlc = src.hlc;
                t.known = true;
            }
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
            if (t.progress_hlc, t.progress_event_id.as_str()) < (src.hlc, src.id.as_str()) {
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
    let (step, level, detail, text) = match kind {
        Kind::InfoReported(m) => {
            item.origin = src.origin.to_string();
            item.channel = src.channel.to_string();
            item.hlc = src.hlc;
            item.title.clone_from(&m.title);
            item.submitter.clone_from(&m.submitter);
            item.sector.clone_from(&m.sector);
            item.known = true;
            return;
        }
        Kind::InfoPublished(m) => (S::Published, 0, m.issue.as_str(), ""),
        Kind::InfoForwarded(m) => (S::Forwarded, 0, m.to.as_str(), ""),
        Kind::InfoAdopted(m) => {
            if let Err(i) = item.adopted_levels.binary_search(&m.level) {
                item.adopted_levels.insert(i, m.level);
            }
            (S::Adopted, m.level, m.by.as_str(), "")
        }
        Kind::InfoInstructed(m) => (S::Instructed, 0, m.leader.as_str(), m.text.as_str()),
        Kind::InfoFeedback(m) => (S::Feedback, 0, "", m.text.as_str()),
        _ => return,
    };
    raise(&mut item.status, step as i32);
    let entry = pb::TrailEntry {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        step: step as i32,
        level,
        detail: detail.to_string(),
        text: text.to_string(),
    };
    insert_stamped(&mut item.trail, entry, |x| Stamp { hlc: x.hlc, origin: &x.origin, event_id: &x.event_id });
}

fn fold_notice(n: &mut pb::Notice, id: &str, kind: &Kind, src: &Source<'_>) {
    n.id = id.to_string();
    match kind {
        Kind::NoticeIssued(m) => {
            n.origin = src.origin.to_string();
            n.channel = src.channel.to_string();
            n.hlc = src.hlc;
            n.title.clone_from(&m.title);
            n.requires_acknowledgement = m.requires_acknowledgement;
            n.known = true;
        }
        Kind::NoticeAcknowledged(_) => {
            let ack = pb::Acknowledgement { node: src.origin.to_string(), event_id: src.id.clone(), hlc: src.hlc };
            match n.acknowledgements.binary_search_by(|x| x.node.cmp(&ack.node)) {
                // The first acknowledgement counts.
                Ok(i) => {
                    let old = &n.acknowledgements[i];
                    if (ack.hlc, ack.event_id.as_str()) < (old.hlc, old.event_id.as_str()) {
                        n.acknowledgements[i] = ack;
                    }
                }
                Err(i) => n.acknowledgements.insert(i, ack),
            }
        }
        _ => {}
    }
}

fn fold_result(r: &mut pb::Result, id: &str, kind: &Kind, src: &Source<'_>) {
    r.id = id.to_string();
    match kind {
        Kind::ResearchCompleted(m) => {
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
        Kind::ResultFeedback(m) => insert_stamped(&mut r.feedback, note(src, &m.text), note_stamp),
        _ => {}
    }
}

/// Whether `kind` creates the record it touches (its id is the event's own).
pub fn creates(kind: &Kind) -> bool {
    matches!(kind, Kind::TopicProposed(_) | Kind::InfoReported(_) | Kind::NoticeIssued(_) | Kind::ResearchCompleted(_))
}

/// The long texts records leave in the log, copied back from the event that
/// carries them: a topic's summary, an item's or a notice's body, a result's
/// summary and attachments, a report's summary and attachments.
pub mod fill {
    use super::*;

    fn kind_of(event: &pb::Event) -> Option<&Kind> {
        event.payload.as_ref()?.kind.as_ref()
    }

    /// From the `TopicProposed` event.
    pub fn topic(t: &mut pb::Topic, event: &pb::Event) {
        if let Some(Kind::TopicProposed(m)) = kind_of(event) {
            t.summary.clone_from(&m.summary);
        }
    }

    /// From the `InfoReported` event.
    pub fn info(i: &mut pb::InfoItem, event: &pb::Event) {
        if let Some(Kind::InfoReported(m)) = kind_of(event) {
            i.body.clone_from(&m.body);
        }
    }

    /// From the `NoticeIssued` event.
    pub fn notice(n: &mut pb::Notice, event: &pb::Event) {
        if let Some(Kind::NoticeIssued(m)) = kind_of(event) {
            n.body.clone_from(&m.body);
        }
    }

    /// From the `ResearchCompleted` event.
    pub fn result(r: &mut pb::Result, event: &pb::Event) {
        if let Some(Kind::ResearchCompleted(m)) = kind_of(event) {
            r.summary.clone_from(&m.summary);
            r.attachments.clone_from(&m.attachments);
        }
    }

    /// From the `SubReportSubmitted` or `ConsolidatedReportSubmitted` event.
    pub fn report(r: &mut pb::Report, event: &pb::Event) {
        match kind_of(event) {
            Some(Kind::SubReportSubmitted(m)) => {
                r.summary.clone_from(&m.summary);
                r.attachments.clone_from(&m.attachments);
            }
            Some(Kind::ConsolidatedReportSubmitted(m)) => r.summary.clone_from(&m.summary),
            _ => {}
        }
    }
}

/// Every record in key order as `key<TAB>hex(value)` lines: the dump two
/// nodes with the same events agree on byte for byte.
pub fn dump(records: &BTreeMap<Vec<u8>, Vec<u8>>) -> String {
    let mut out = String::new();
    for (k, v) in records.iter().filter(|(k, _)| k.first() == Some(&PREFIX)) {
        out.push_str(&String::from_utf8_lossy(&k[..2.min(k.len())]));
        out.push_str(&key_id(k).unwrap_or_else(|| hex::encode(k.get(2..).unwrap_or_default())));
        out.push('\t');
        out.push_str(&hex::encode(v));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keys_name_their_id_and_keep_the_order_of_event_ids(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), text in "\\PC{0,40}") {
            prop_assert_eq!(canonical_event_id(&format_event_id(&a)), Some(a));
            let (a, b) = (format_event_id(&a), format_event_id(&b));
            let (ka, kb) = (key(kind::INFO, &a), key(kind::INFO, &b));
            prop_assert_eq!(ka.len(), 19);
            prop_assert_eq!(key_id(&ka), Some(a.clone()));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            // Any other id keeps its text and never meets an event id's key.
            let other = key(kind::GROUP, &text);
            prop_assert_eq!(key_id(&other), Some(text.clone()));
            if canonical_event_id(&text).is_none() {
                prop_assert_ne!(key(kind::INFO, &text), ka);
            }
            // Upper case is another text, not the event id.
            let upper = a.to_uppercase();
            prop_assert_eq!(key_id(&key(kind::INFO, &upper)), Some(upper));
        }
    }
}
