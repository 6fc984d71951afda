//! Validation of append requests, before anything is written.
//!
//! Every rule the proto comments state is checked here, and the first
//! violation is returned with the field's path in the request.

use crate::channel::{self, Channel, GroupId};
use crate::code::NodeCode;
use crate::error::{invalid, AppendError};
pub use crate::ids::parse_event_id;
use crate::ids::EVENT_ID_CHARS;
use crate::limits::*;
use crate::pb;
use crate::pb::payload::Kind;
use crate::topology::Topology;
use prost::Message;

/// An append request that passed validation: what the ledger needs to plan it.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidAppend {
    /// Where it goes.
    pub channel: Channel,
    /// The domain event; `kind` is always set.
    pub payload: pb::Payload,
    /// Ids of events it builds on, as given (each a valid event id).
    pub refs: Vec<String>,
    /// When it happened, if the client said so.
    pub occurred_at: Option<prost_types::Timestamp>,
    /// The client's idempotency key and the content it stands for, if the
    /// request carries a key.
    pub idempotency: Option<Keyed>,
    /// Who asked: the caller's principal, which the node keeps beside the
    /// event in its own log (never signed, never replicated). Validation
    /// leaves it `None`; the node sets it.
    pub appended_by: Option<String>,
}

/// An idempotency key and the content of the request that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    /// The client's key.
    pub key: String,
    /// BLAKE3 of the request without its key: "the same content".
    pub digest: [u8; 32],
}

/// Validates one request from a client of `origin`, taking it apart: what
/// passes moves into the [`ValidAppend`] uncopied. A request without an
/// idempotency key is not hashed: only a key's record keeps its digest.
pub fn validate_append(
    topology: &Topology,
    origin: NodeCode,
    mut request: pb::AppendRequest,
) -> Result<ValidAppend, AppendError> {
    let channel: Channel = request.channel.parse().map_err(|why: String| invalid("channel", why))?;
    channel::check_send(topology, origin, &channel)?;
    let kind = request
        .payload
        .as_ref()
        .and_then(|p| p.kind.as_ref())
        .ok_or_else(|| invalid("payload", "must hold one domain event"))?;
    validate_kind(topology, kind)?;
    check_membership_channel(&channel, kind)?;
    check_item_chain(topology, &channel, kind)?;
    check_list("refs", &request.refs)?;
    for (i, r) in request.refs.iter().enumerate() {
        check_event_id(&format!("refs[{i}]"), r)?;
    }
    if let Some(ts) = &request.occurred_at {
        check_timestamp("occurred_at", ts)?;
    }
    let key = std::mem::take(&mut request.idempotency_key);
    if !key.is_empty() {
        check_chars("idempotency_key", &key, IDEMPOTENCY_KEY_CHARS_MAX)?;
    }
    // The stored event also carries id, origin, channel, seq, hlc, prev hash
    // and signature: allow for them so that the final bytes fit too.
    const ENVELOPE_OVERHEAD_BYTES: usize = 256;
    if request.encoded_len() + ENVELOPE_OVERHEAD_BYTES > EVENT_BYTES_MAX {
        return Err(invalid("payload", format!("the event would exceed {EVENT_BYTES_MAX} bytes")));
    }
    // The request is without its key here, as the digest wants it.
    let idempotency =
        (!key.is_empty()).then(|| Keyed { digest: *blake3::hash(&request.encode_to_vec()).as_bytes(), key });
    Ok(ValidAppend {
        channel,
        payload: request.payload.unwrap_or_default(),
        refs: request.refs,
        occurred_at: request.occurred_at,
        idempotency,
        appended_by: None,
    })
}

/// Checks an event id: the text form of a UUID, as the node issues them.
pub fn check_event_id(field: &str, id: &str) -> Result<(), AppendError> {
    parse_event_id(id).map(|_| ()).ok_or_else(|| invalid(field, "must be an event id (a UUID such as 0190b6c8-…)"))
}

/// Formats 16 id bytes as the canonical lower-case UUID text.
pub fn format_event_id(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(EVENT_ID_CHARS);
    for (i, byte) in bytes.iter().enumerate() {
        if [4, 6, 8, 10].contains(&i) {
            text.push('-');
        }
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 0xf)] as char);
    }
    text
}

/// The bytes of `id` if it is an event id in its one text form (lower-case
/// hex in the 8-4-4-4-12 pattern), else `None`: an id in another case is
/// another text. Every fold step asks, so it allocates nothing.
pub fn canonical_event_id(id: &str) -> Option<[u8; 16]> {
    if id.len() != EVENT_ID_CHARS {
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

fn check_chars(field: &str, value: &str, max: usize) -> Result<(), AppendError> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(invalid(field, format!("must be 1..={max} characters, got {n}")));
    }
    Ok(())
}

fn check_optional_chars(field: &str, value: &str, max: usize) -> Result<(), AppendError> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

fn check_list<T>(field: &str, items: &[T]) -> Result<(), AppendError> {
    if items.len() > LIST_ITEMS_MAX {
        return Err(invalid(field, format!("at most {LIST_ITEMS_MAX} items, got {}", items.len())));
    }
    Ok(())
}

fn check_year(field: &str, year: u32) -> Result<(), AppendError> {
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Err(invalid(field, format!("must be a year in {YEAR_MIN}..={YEAR_MAX}, got {year}")));
    }
    Ok(())
}

/// A timestamp in 0001-01-01 ..= 9999-12-31: the one range appends and
/// queries accept.
pub fn check_timestamp(field: &str, ts: &prost_types::Timestamp) -> Result<(), AppendError> {
    // 0001-01-01 .. 9999-12-31, as google.protobuf.Timestamp defines.
    const SECONDS_MIN: i64 = -62_135_596_800;
    const SECONDS_MAX: i64 = 253_402_300_799;
    if !(SECONDS_MIN..=SECONDS_MAX).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid(field, "must be a valid timestamp between years 1 and 9999"));
    }
    Ok(())
}

fn require_timestamp(field: &str, ts: &Option<prost_types::Timestamp>) -> Result<(), AppendError> {
    match ts {
        None => Err(invalid(field, "is required")),
        Some(ts) => check_timestamp(field, ts),
    }
}

fn check_code(topology: &Topology, field: &str, code: &str) -> Result<(), AppendError> {
    let code: NodeCode = code.parse().map_err(|e| invalid(field, format!("{e}")))?;
    if !topology.contains(code) {
        return Err(invalid(field, format!("{code} names no node of the topology")));
    }
    Ok(())
}

fn check_group(field: &str, id: &str) -> Result<(), AppendError> {
    id.parse::<GroupId>().map(|_| ()).map_err(|why| invalid(field, why))
}

fn check_ids(field: &str, ids: &[String], min: usize) -> Result<(), AppendError> {
    check_list(field, ids)?;
    if ids.len() < min {
        return Err(invalid(field, format!("needs at least {min} event ids")));
    }
    for (i, id) in ids.iter().enumerate() {
        check_event_id(&format!("{field}[{i}]"), id)?;
    }
    Ok(())
}

fn check_texts(field: &str, items: &[String], max: usize) -> Result<(), AppendError> {
    check_list(field, items)?;
    for (i, item) in items.iter().enumerate() {
        check_chars(&format!("{field}[{i}]"), item, max)?;
    }
    Ok(())
}

/// Group membership goes on `all`: a committee the lead adds is not yet a
/// member, so it would not see the change on the group's own channel.
fn check_membership_channel(channel: &Channel, kind: &Kind) -> Result<(), AppendError> {
    let membership = matches!(kind, Kind::GroupFormed(_) | Kind::GroupJoined(_) | Kind::GroupLeft(_));
    if membership && *channel != Channel::All {
        return Err(invalid(
            "channel",
            "a group's forming, joining and leaving go on `all`, where a new member hears them",
        ));
    }
    Ok(())
}

/// The handling of a 社情民意 item (published, forwarded, adopted,
/// instructed, feedback) goes along the item's chain — its origin and the
/// levels above it — and to nobody else: not to the origin's siblings, nor
/// to every committee below the one that handles it.
fn check_item_chain(topology: &Topology, channel: &Channel, kind: &Kind) -> Result<(), AppendError> {
    let info_id = match kind {
        Kind::InfoPublished(m) => &m.info_id,
        Kind::InfoForwarded(m) => &m.info_id,
        Kind::InfoAdopted(m) => &m.info_id,
        Kind::InfoInstructed(m) => &m.info_id,
        Kind::InfoFeedback(m) => &m.info_id,
        _ => return Ok(()),
    };
    // An id that names no committee of the topology is no item's (ids
    // name their origin): the lifecycle check refuses it as not held.
    let named = parse_event_id(info_id).and_then(|id| crate::ids::embedded_origin(&id));
    let Some((origin, _)) = named.filter(|(origin, _)| topology.contains(*origin)) else {
        return Ok(());
    };
    if *channel != Channel::Chain(origin) {
        return Err(invalid(
            "channel",
            format!("the handling of a 社情民意 item goes along its chain: chain:{origin} (the item's origin and the levels above it)"),
        ));
    }
    Ok(())
}

/// Checks the rule of one payload kind (see each message's proto comment).
fn validate_kind(topology: &Topology, kind: &Kind) -> Result<(), AppendError> {
    use Kind::*;
    match kind {
        TopicProposed(m) => {
            let f = "payload.topic_proposed";
            check_year(&format!("{f}.year"), m.year)?;
            if pb::TopicCategory::try_from(m.category).unwrap_or_default() == pb::TopicCategory::Unspecified {
                return Err(invalid(format!("{f}.category"), "must be one of 协商, 调研, 视察, 提案, 民主监督"));
            }
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.lead_committee"), &m.lead_committee, TITLE_CHARS_MAX)
        }
        TopicCommented(m) => {
            let f = "payload.topic_commented";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        TopicLinked(m) => {
            let f = "payload.topic_linked";
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 2)?;
            let mut seen = std::collections::BTreeSet::new();
            if !m.topic_ids.iter().all(|id| seen.insert(id.to_ascii_lowercase())) {
                return Err(invalid(format!("{f}.topic_ids"), "must not repeat a topic"));
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        TopicResponded(m) => {
            let f = "payload.topic_responded";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            if pb::TopicResponse::try_from(m.response).unwrap_or_default() == pb::TopicResponse::Unspecified {
                return Err(invalid(format!("{f}.response"), "must be JOINED or DECLINED"));
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        TopicClosed(m) => {
            let f = "payload.topic_closed";
            check_event_id(&format!("{f}.topic_id"), &m.topic_id)?;
            let outcome = pb::TopicOutcome::try_from(m.outcome).unwrap_or_default();
            match outcome {
                pb::TopicOutcome::Unspecified => {
                    return Err(invalid(format!("{f}.outcome"), "must be WITHDRAWN, MERGED or NOT_SELECTED"))
                }
                pb::TopicOutcome::Merged => check_event_id(&format!("{f}.into_topic_id"), &m.into_topic_id)?,
                _ if !m.into_topic_id.is_empty() => {
                    return Err(invalid(format!("{f}.into_topic_id"), "is only for a topic MERGED into another"))
                }
                _ => {}
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        PlanPublished(m) => {
            let f = "payload.plan_published";
            check_year(&format!("{f}.year"), m.year)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 0)
        }
        GroupFormed(m) => {
            let f = "payload.group_formed";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_code(topology, &format!("{f}.lead"), &m.lead)?;
            check_list(&format!("{f}.members"), &m.members)?;
            for (i, member) in m.members.iter().enumerate() {
                check_code(topology, &format!("{f}.members[{i}]"), member)?;
            }
            check_ids(&format!("{f}.topic_ids"), &m.topic_ids, 0)
        }
        GroupJoined(pb::GroupJoined { group_id, member }) | GroupLeft(pb::GroupLeft { group_id, member }) => {
            let f = if matches!(kind, GroupJoined(_)) { "payload.group_joined" } else { "payload.group_left" };
            check_group(&format!("{f}.group_id"), group_id)?;
            check_code(topology, &format!("{f}.member"), member)
        }
        TaskAssigned(m) => {
            let f = "payload.task_assigned";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_code(topology, &format!("{f}.assignee"), &m.assignee)?;
            require_timestamp(&format!("{f}.due"), &m.due)
        }
        TaskDueChanged(m) => {
            let f = "payload.task_due_changed";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            require_timestamp(&format!("{f}.due"), &m.due)?;
            check_chars(&format!("{f}.reason"), &m.reason, TEXT_CHARS_MAX)
        }
        MilestoneReached(m) => {
            let f = "payload.milestone_reached";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            if !m.task_id.is_empty() {
                check_group(&format!("{f}.task_id"), &m.task_id)?;
            }
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)
        }
        ProgressReported(m) => {
            let f = "payload.progress_reported";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            if m.percent > 100 {
                return Err(invalid(format!("{f}.percent"), format!("must be 0..=100, got {}", m.percent)));
            }
            check_optional_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        SubReportSubmitted(m) => {
            let f = "payload.sub_report_submitted";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_group(&format!("{f}.task_id"), &m.task_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_texts(&format!("{f}.attachments"), &m.attachments, ATTACHMENT_CHARS_MAX)
        }
        ConsolidatedReportSubmitted(m) => {
            let f = "payload.consolidated_report_submitted";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_ids(&format!("{f}.sub_report_ids"), &m.sub_report_ids, 0)
        }
        VisitScheduled(m) => {
            let f = "payload.visit_scheduled";
            check_group(&format!("{f}.group_id"), &m.group_id)?;
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            require_timestamp(&format!("{f}.starts"), &m.starts)?;
            check_texts(&format!("{f}.places"), &m.places, TITLE_CHARS_MAX)
        }
        InfoReported(m) => {
            let f = "payload.info_reported";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_chars(&format!("{f}.body"), &m.body, BODY_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.submitter"), &m.submitter, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.sector"), &m.sector, TITLE_CHARS_MAX)
        }
        InfoPublished(m) => {
            let f = "payload.info_published";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_optional_chars(&format!("{f}.issue"), &m.issue, TITLE_CHARS_MAX)
        }
        InfoForwarded(m) => {
            let f = "payload.info_forwarded";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.to"), &m.to, TITLE_CHARS_MAX)
        }
        InfoAdopted(m) => {
            let f = "payload.info_adopted";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            if pb::AdoptionLevel::try_from(m.level).unwrap_or_default() == pb::AdoptionLevel::Unspecified {
                return Err(invalid(format!("{f}.level"), "must be COUNTY, CITY, PROVINCE or NATIONAL"));
            }
            check_optional_chars(&format!("{f}.by"), &m.by, TITLE_CHARS_MAX)
        }
        InfoInstructed(m) => {
            let f = "payload.info_instructed";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.leader"), &m.leader, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        InfoFeedback(m) => {
            let f = "payload.info_feedback";
            check_event_id(&format!("{f}.info_id"), &m.info_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
        NoticeIssued(m) => {
            let f = "payload.notice_issued";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.body"), &m.body, BODY_CHARS_MAX)?;
            if pb::NoticeReturn::try_from(m.expects).is_err() {
                return Err(invalid(format!("{f}.expects"), "must be one of topics, items, reports (or unset)"));
            }
            match (&m.due, m.expects != pb::NoticeReturn::Unspecified as i32) {
                (Some(due), _) => check_timestamp(&format!("{f}.due"), due),
                (None, true) => {
                    Err(invalid(format!("{f}.due"), "a notice that expects returns says when they are due"))
                }
                (None, false) => Ok(()),
            }
        }
        NoticeAcknowledged(m) => check_event_id("payload.notice_acknowledged.notice_id", &m.notice_id),
        NoticeReminded(m) => {
            let f = "payload.notice_reminded";
            check_event_id(&format!("{f}.notice_id"), &m.notice_id)?;
            check_list(&format!("{f}.to"), &m.to)?;
            for (i, code) in m.to.iter().enumerate() {
                check_code(topology, &format!("{f}.to[{i}]"), code)?;
            }
            check_optional_chars(&format!("{f}.note"), &m.note, TEXT_CHARS_MAX)
        }
        ResearchCompleted(m) => {
            let f = "payload.research_completed";
            check_chars(&format!("{f}.title"), &m.title, TITLE_CHARS_MAX)?;
            check_optional_chars(&format!("{f}.summary"), &m.summary, BODY_CHARS_MAX)?;
            check_texts(&format!("{f}.attachments"), &m.attachments, ATTACHMENT_CHARS_MAX)?;
            if !m.group_id.is_empty() {
                check_group(&format!("{f}.group_id"), &m.group_id)?;
            }
            if m.year != 0 {
                check_year(&format!("{f}.year"), m.year)?;
            }
            if pb::TopicCategory::try_from(m.category).is_err() {
                return Err(invalid(
                    format!("{f}.category"),
                    "must be unspecified or one of 协商, 调研, 视察, 提案, 民主监督",
                ));
            }
            Ok(())
        }
        ResultShared(m) => {
            let f = "payload.result_shared";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            m.audience.parse::<Channel>().map(|_| ()).map_err(|why| invalid(format!("{f}.audience"), why))
        }
        ResultAdopted(m) => {
            let f = "payload.result_adopted";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            check_optional_chars(&format!("{f}.by"), &m.by, TITLE_CHARS_MAX)?;
            check_chars(&format!("{f}.how"), &m.how, TEXT_CHARS_MAX)
        }
        ResultFeedback(m) => {
            let f = "payload.result_feedback";
            check_event_id(&format!("{f}.result_id"), &m.result_id)?;
            check_chars(&format!("{f}.text"), &m.text, TEXT_CHARS_MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group is formed by its lead under an id that begins with the
    /// lead's code; only the lead adds, a member may leave; only the lead
    /// moves a due date; only the proposer closes a topic. A refusal names
    /// the field.
    #[test]
    fn membership_changes_go_on_all() {
        let topology = crate::Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap();
        let joined = Kind::GroupJoined(pb::GroupJoined { group_id: "620700-g".into(), member: "620722".into() });
        let at = |channel: &str| {
            let request = pb::AppendRequest {
                channel: channel.into(),
                payload: Some(pb::Payload { kind: Some(joined.clone()) }),
                ..Default::default()
            };
            validate_append(&topology, "620700".parse().unwrap(), request)
                .map(|_| ())
                .map_err(|e| e.violation().field.clone())
        };
        assert_eq!(at("all"), Ok(()));
        assert_eq!(at("group:620700-g"), Err("channel".into()));
    }

    #[test]
    fn event_ids_round_trip() {
        let id = "0190b6c8-7d2e-7abc-8def-0123456789ab";
        let bytes = parse_event_id(id).unwrap();
        assert_eq!(format_event_id(&bytes), id);
        assert_eq!(parse_event_id(&id.to_ascii_uppercase()), Some(bytes));
        for bad in [
            "",
            "0190b6c8",
            "0190b6c87d2e7abc8def0123456789ab",
            "0190b6c8-7d2e-7abc-8def-0123456789ag",
            "0190b6c8-7d2e-7abc-8def-0123456789a-",
            "0190b6c8-7d2e-7abc-8def-0123456789a",
            "0190b6c8-7d2e-7abc-8def-0123456789abc",
            "0190b6c87-d2e-7abc-8def-0123456789ab",
            "0190b6c8-7d2e-7abc-8def-0123456789é",
            "0190b6cé-7d2e-7abc-8def-0123456789a",
            "0190b6c8é7d2e-7abc-8def-0123456789a",
        ] {
            assert!(parse_event_id(bad).is_none(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_id_formats_and_parses_back(bytes: [u8; 16]) {
            let text = format_event_id(&bytes);
            proptest::prop_assert_eq!(text.len(), EVENT_ID_CHARS);
            proptest::prop_assert_eq!(&text, &uuid_text(&bytes));
            proptest::prop_assert_eq!(parse_event_id(&text), Some(bytes));
            proptest::prop_assert_eq!(parse_event_id(&text.to_ascii_uppercase()), Some(bytes));
            proptest::prop_assert_eq!(canonical_event_id(&text), Some(bytes));
            // Upper case is another text, not the canonical form.
            if text.bytes().any(|b| b.is_ascii_alphabetic()) {
                proptest::prop_assert_eq!(canonical_event_id(&text.to_ascii_uppercase()), None);
            }
        }
    }

    /// The id's text built another way: hex digits with the dashes put in.
    fn uuid_text(bytes: &[u8; 16]) -> String {
        let h = hex::encode(bytes);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}
