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
//!   over;
//! - a notice keeps the `LIST_ITEMS_MAX` least (by stamp) replies of each
//!   committee, a function of the set too;
//! - a group's pending claims leave their list once what they cite is held
//!   (`claims`): the list is the set of claims whose verdict the held
//!   events do not decide.
//!
//! Who may say what (`crate::rules`) is judged here as well: a claim that
//! breaks a rule changes nothing but its record's `disputed` list.
//!
//! Records are protobuf messages (`linkage.v1.Topic` …) named by a
//! [`RecordKind`] and an entity id ([`record`]); the store decides how they
//! lie on disk and writes them with the commit of the events. They
//! keep what a list shows and what the folds decide — titles, statuses,
//! trails, notes of at most `TEXT_CHARS_MAX` characters — and leave the long
//! texts (a body, a summary, attachments: up to `BODY_CHARS_MAX` each) in
//! the log: [`fill`] copies them from the event that carries them when one
//! record is asked for. Copying them into every record would double what
//! each commit writes and make every fold of a big group rewrite them.

mod activity;
mod append;
mod claims;
pub mod evaluate;
pub mod evaluation;
pub mod fill;
mod folds;
mod kinds;
pub mod levels;
mod lifecycle;
mod members;
pub mod proposal_query;
mod proposal_steps;
pub mod proposals;
pub mod query;
mod record;
pub mod score;
mod source;

pub use crate::rules::{authority_breach, breach_of, Breach, Verdict};
pub use activity::{duty_rule, member_activity, Held};
pub use append::check_append;
pub use claims::Dispute;
pub use kinds::kind_name;
pub use lifecycle::check_lifecycle;
pub use members::check_member;
pub use record::{dump, load, norm, FoldContext, Record, RecordCache, RecordKind, RecordMap, Records, ViewRecord};

use crate::pb;
use crate::pb::payload::Kind;
use record::norm_set;
use source::Source;

/// Bumped whenever a fold changes what it writes, so that a node whose
/// stored views were folded by another version rebuilds them from the log
/// when it opens its store. How records are laid out on disk has a version
/// of its own, in the store. Never 3: the version before the store's
/// two-part mark reads its first eight bytes as its own version, which was 3.
pub const FOLDS_VERSION: u32 = 12;

/// The rule `event` breaks by itself, if any (`crate::rules`, judged by
/// the event alone). Views hold only events that break none: a record is
/// created by the event whose id is its id, and that id names the event's
/// origin, so no committee can create, take over or rewrite another's
/// record by reusing its id. Rules judged by the events a claim cites are
/// judged in the fold ([`apply`]).
pub fn breach(event: &pb::Event) -> Option<Breach> {
    let kind = event.payload.as_ref()?.kind.as_ref()?;
    id_breach(event)
        .or_else(|| crate::rules::channel_breach(&event.channel, kind))
        .or_else(|| authority_breach(&event.origin, kind))
}

fn id_breach(event: &pb::Event) -> Option<Breach> {
    match crate::validate::parse_event_id(&event.id) {
        Some(id) => breach_of(&event.origin, &id),
        None => Some(Breach::IdNotOrigin),
    }
}

/// What folding one event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The event's flow.
    pub flow: Flow,
    /// The records it touched.
    pub ids: Vec<String>,
    /// Claims found disputed: this event, or pending ones it decided.
    pub disputes: Vec<Dispute>,
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
    /// 委员: each committee's register of its members.
    Members,
    /// 提案: proposals across levels, and the province's calendar.
    Proposals,
    /// 评价: the province's indicator sets and committees' ratings.
    Evaluation,
}

/// The records an event changes: its flow, the record kind and the entity
/// ids. `event_id` is the event's own (normalised) id.
pub fn touches(kind: &Kind, event_id: &str) -> (Flow, RecordKind, Vec<String>) {
    use Kind::*;
    let one = |id: &str| vec![norm(id)];
    match kind {
        TopicProposed(_) => (Flow::Planning, RecordKind::Topic, vec![event_id.to_string()]),
        TopicCommented(m) => (Flow::Planning, RecordKind::Topic, one(&m.topic_id)),
        TopicResponded(m) => (Flow::Planning, RecordKind::Topic, one(&m.topic_id)),
        TopicLinked(m) => (Flow::Planning, RecordKind::Topic, norm_set(&m.topic_ids)),
        PlanPublished(m) => (Flow::Planning, RecordKind::Topic, norm_set(&m.topic_ids)),
        TopicClosed(m) => (Flow::Planning, RecordKind::Topic, one(&m.topic_id)),
        GroupFormed(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        GroupJoined(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        GroupLeft(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        TaskAssigned(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        MilestoneReached(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        ProgressReported(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        SubReportSubmitted(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        ConsolidatedReportSubmitted(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        VisitScheduled(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        TaskDueChanged(m) => (Flow::Progress, RecordKind::Group, vec![m.group_id.clone()]),
        InfoReported(_) => (Flow::Exchange, RecordKind::Info, vec![event_id.to_string()]),
        InfoPublished(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoForwarded(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoAdopted(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoInstructed(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoFeedback(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoDeclined(m) => (Flow::Exchange, RecordKind::Info, one(&m.info_id)),
        InfoMerged(m) => (Flow::Exchange, RecordKind::Info, norm_set(&[m.info_id.clone(), m.into_id.clone()])),
        ScoreRuleIssued(_) => (Flow::Exchange, RecordKind::ScoreRule, vec![event_id.to_string()]),
        MemberRegistered(m) => (Flow::Members, RecordKind::Member, vec![m.member_id.clone()]),
        MemberUpdated(m) => (Flow::Members, RecordKind::Member, vec![m.member_id.clone()]),
        MemberLeft(m) => (Flow::Members, RecordKind::Member, vec![m.member_id.clone()]),
        MemberErased(m) => (Flow::Members, RecordKind::Member, vec![m.member_id.clone()]),
        MemberContributed(m) => (Flow::Members, RecordKind::Member, vec![m.member_id.clone()]),
        MemberDutiesIssued(m) => (Flow::Members, RecordKind::Duties, vec![m.year.to_string()]),
        NoticeIssued(_) => (Flow::Exchange, RecordKind::Notice, vec![event_id.to_string()]),
        NoticeAcknowledged(m) => (Flow::Exchange, RecordKind::Notice, one(&m.notice_id)),
        NoticeReminded(m) => (Flow::Exchange, RecordKind::Notice, one(&m.notice_id)),
        ResearchCompleted(_) => (Flow::Results, RecordKind::Result, vec![event_id.to_string()]),
        ResultShared(m) => (Flow::Results, RecordKind::Result, one(&m.result_id)),
        ResultAdopted(m) => (Flow::Results, RecordKind::Result, one(&m.result_id)),
        ResultFeedback(m) => (Flow::Results, RecordKind::Result, one(&m.result_id)),
        ProposalSubmitted(_) => (Flow::Proposals, RecordKind::Proposal, vec![event_id.to_string()]),
        ProposalReviewed(m) if !m.into_id.is_empty() => {
            (Flow::Proposals, RecordKind::Proposal, norm_set(&[m.proposal_id.clone(), m.into_id.clone()]))
        }
        HolidayCalendarIssued(m) => (Flow::Proposals, RecordKind::Calendar, vec![m.year.to_string()]),
        IndicatorSetIssued(_) => (Flow::Evaluation, RecordKind::IndicatorSet, vec![event_id.to_string()]),
        EvaluationRated(m) => (Flow::Evaluation, RecordKind::Ratings, one(&m.subject_id)),
        ProposalCoSigned(_)
        | ProposalSentUp(_)
        | ProposalReviewed(_)
        | ProposalAssigned(_)
        | ProposalObjected(_)
        | ProposalDeadlineExtended(_)
        | ProposalContacted(_)
        | ProposalAnswered(_)
        | ProposalRated(_)
        | ProposalSupervised(_)
        | ProposalReminded(_)
        | ProposalFollowedUp(_) => {
            let id = crate::proposals::handled(kind).map_or("", |(_, id)| id);
            (Flow::Proposals, RecordKind::Proposal, one(id))
        }
    }
}

/// Folds `event` into the views. Events without a payload the code knows
/// (a newer version's) and events whose id does not name their origin
/// change nothing and give `None`. A claim that breaks a rule of who may
/// say what is listed as disputed on the records it touches, and one that
/// waits for the events it cites is kept pending on its group
/// (`claims`).
pub fn apply(event: &pb::Event, records: &mut impl Records) -> Option<Applied> {
    let (kind, src, by_event) = prepare(event, records.context())?;
    let (flow, record_kind, ids) = touches(kind, &src.id);
    let mut disputes = Vec::new();
    let mut change = |record_kind: RecordKind, id: &str, fold: &mut dyn FnMut(&mut Record)| {
        let key = records.key(record_kind, id);
        let old = records.get(&key);
        let mut record = Record::decode(record_kind, old.as_deref());
        fold(&mut record);
        let new = record.encode();
        if old.as_deref() != Some(new.as_slice()) {
            records.put(key, new);
        }
    };
    for id in &ids {
        change(record_kind, id, &mut |r| claims::fold_claim(r, id, kind, &src, by_event, &mut disputes));
    }
    for notice in answered(kind, &src, by_event) {
        change(RecordKind::Notice, notice, &mut |r| reply(r, notice, kind, &src));
    }
    Some(Applied { flow, ids, disputes })
}

/// Like [`apply`], on decoded records: no decoding or encoding per event.
pub fn apply_cached(event: &pb::Event, cache: &mut impl RecordCache) -> Option<Applied> {
    let (kind, src, by_event) = prepare(event, cache.context())?;
    let (flow, record_kind, ids) = touches(kind, &src.id);
    let mut disputes = Vec::new();
    for id in &ids {
        claims::fold_claim(cache.record(record_kind, id), id, kind, &src, by_event, &mut disputes);
    }
    for notice in answered(kind, &src, by_event) {
        reply(cache.record(RecordKind::Notice, notice), notice, kind, &src);
    }
    Some(Applied { flow, ids, disputes })
}

/// The notices an event answers: a topic, item or report is a reply to
/// every notice its refs name (a 征集 notice's returns). A ref that names
/// no notice makes a record that no notice's event ever completes, which
/// lists do not show.
fn answered<'a>(kind: &Kind, src: &'a Source<'_>, by_event: Option<Breach>) -> &'a [String] {
    if kinds::replies(kind) && by_event.is_none() {
        &src.refs
    } else {
        &[]
    }
}

/// The notices `event` changes as a reply ([`apply`]), besides the records
/// [`touches`] names: what a watcher of 畅通 is told.
pub fn replied_notices(event: &pb::Event) -> Vec<String> {
    // The context decides no reply kind's rules.
    match prepare(event, FoldContext::default()) {
        Some((kind, src, by_event)) => answered(kind, &src, by_event).to_vec(),
        None => Vec::new(),
    }
}

fn reply(record: &mut Record, id: &str, kind: &Kind, src: &Source<'_>) {
    if let Record::Notice(n) = record {
        folds::fold_reply(n, id, kind, src);
    }
}

/// The payload, the event as the folds see it, and the rule it breaks by
/// itself in `context`; `None` for an event the views ignore.
fn prepare(event: &pb::Event, context: FoldContext) -> Option<(&Kind, Source<'_>, Option<Breach>)> {
    let kind = event.payload.as_ref()?.kind.as_ref()?;
    if id_breach(event).is_some() {
        return None;
    }
    // No node appends more refs than `LIST_ITEMS_MAX`; of a signed event
    // with more, the folds read that many, the same ones everywhere.
    let mut refs = norm_set(&event.refs);
    refs.truncate(crate::limits::LIST_ITEMS_MAX);
    let src = Source {
        id: norm(&event.id),
        origin: &event.origin,
        channel: &event.channel,
        hlc: event.hlc,
        seq: event.seq,
        refs,
    };
    let breach = crate::rules::channel_breach(&event.channel, kind)
        .or_else(|| authority_breach(&event.origin, kind))
        .or_else(|| crate::rules::national_breach(&event.origin, kind, context.national_since));
    Some((kind, src, breach))
}

/// Whether `kind` creates the record it touches (its id is the event's own).
pub fn creates(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::TopicProposed(_)
            | Kind::InfoReported(_)
            | Kind::NoticeIssued(_)
            | Kind::ResearchCompleted(_)
            | Kind::ScoreRuleIssued(_)
            | Kind::ProposalSubmitted(_)
            | Kind::IndicatorSetIssued(_)
    )
}
