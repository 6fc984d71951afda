//! Validation of append requests, before anything is written.
//!
//! Every rule the proto comments state is checked here, and the first
//! violation is returned with the field's path in the request.

use crate::channel::{self, Channel};
use crate::code::NodeCode;
use crate::error::{invalid, AppendError};
pub use crate::ids::parse_event_id;
use crate::limits::*;
use crate::pb;
use crate::pb::payload::Kind;
use crate::topology::Topology;
use prost::Message;

mod evaluation;
mod fields;
mod kinds;
mod proposals;
pub use evaluation::{fits, GRADES_MAX, INDICATORS_MAX, INDICATOR_POINTS_MAX};
use fields::*;
pub use fields::{canonical_event_id, check_event_id, check_timestamp, format_event_id};
use kinds::validate_kind;

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
    if let Some((field, why)) = crate::documents::check_all(kind) {
        return Err(invalid(field, why));
    }
    check_membership_channel(&channel, kind)?;
    check_national_level(topology, origin, kind)?;
    check_item_chain(topology, &channel, kind)?;
    check_member_chain(origin, &channel, kind)?;
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
    // After the digest: a retry under a newer topology version is still
    // the same content (the stamp is the node's, not the client's).
    stamp_topology_version(topology, &mut request);
    Ok(ValidAppend {
        channel,
        payload: request.payload.unwrap_or_default(),
        refs: request.refs,
        occurred_at: request.occurred_at,
        idempotency,
        appended_by: None,
    })
}

/// Group membership goes on `all`: a committee the lead adds is not yet a
/// member, so it would not see the change on the group's own channel. So
/// do the province's rules, which every committee of the province goes by
/// (`rules::on_all_only`).
fn check_membership_channel(channel: &Channel, kind: &Kind) -> Result<(), AppendError> {
    match crate::rules::on_all_only(kind) {
        Some(why) if *channel != Channel::All => {
            Err(invalid("channel", format!("{why} (rule {})", crate::rules::Breach::NotOnAll.name())))
        }
        _ => Ok(()),
    }
}

/// A province records 全国政协's adoption or 批示 only under a topology
/// without the national committee, or a version before it joined
/// (`rules::national_breach`): from then on the national committee
/// records its own.
fn check_national_level(topology: &Topology, origin: NodeCode, kind: &Kind) -> Result<(), AppendError> {
    let version = topology.version().unwrap_or(0);
    let national_since = topology.national_since();
    let Some(breach) = crate::rules::national_breach_at(origin.as_str(), kind, version, national_since) else {
        return Ok(());
    };
    let (field, what) = match kind {
        Kind::InfoAdopted(_) => ("payload.info_adopted.level", "adoptions"),
        _ => ("payload.info_instructed.level", "批示"),
    };
    Err(AppendError::Precondition(crate::error::FieldViolation::new(
        field,
        format!(
            "from topology version {} the national committee ({}) records 全国政协's {what} itself (rule {})",
            topology.national_since().unwrap_or(0),
            NodeCode::NATIONAL,
            breach.name()
        ),
    )))
}

/// Stamps an adoption or 批示 with the version of the topology the node
/// has loaded, which the folds judge a province's record of 全国政协's by
/// (`rules::national_breach`). A client's own value is replaced.
fn stamp_topology_version(topology: &Topology, request: &mut pb::AppendRequest) {
    let version = topology.version().unwrap_or(0);
    match request.payload.as_mut().and_then(|p| p.kind.as_mut()) {
        Some(Kind::InfoAdopted(m)) => m.topology_version = version,
        Some(Kind::InfoInstructed(m)) => m.topology_version = version,
        _ => {}
    }
}

/// A committee's register of its members goes up its own chain only
/// (`chain:<its code>`): to the levels above it, not to its siblings.
fn check_member_chain(origin: NodeCode, channel: &Channel, kind: &Kind) -> Result<(), AppendError> {
    let member = matches!(
        kind,
        Kind::MemberRegistered(_)
            | Kind::MemberUpdated(_)
            | Kind::MemberLeft(_)
            | Kind::MemberErased(_)
            | Kind::MemberContributed(_)
    );
    if matches!(kind, Kind::ProposalSubmitted(_)) && *channel != Channel::Chain(origin) {
        return Err(invalid(
            "channel",
            format!("a proposal goes up its committee's chain, where it can be sent up and handled: chain:{origin}"),
        ));
    }
    if member && *channel != Channel::Chain(origin) {
        return Err(invalid(
            "channel",
            format!("a committee's register of members goes up its own chain: chain:{origin}"),
        ));
    }
    Ok(())
}

/// The handling of a 社情民意 item (published, forwarded, adopted,
/// instructed, feedback, declined, merged) goes along the item's chain — its origin and the
/// levels above it — and to nobody else: not to the origin's siblings, nor
/// to every committee below the one that handles it.
fn check_item_chain(topology: &Topology, channel: &Channel, kind: &Kind) -> Result<(), AppendError> {
    let info_id = match kind {
        Kind::InfoPublished(m) => &m.info_id,
        Kind::InfoForwarded(m) => &m.info_id,
        Kind::InfoAdopted(m) => &m.info_id,
        Kind::InfoInstructed(m) => &m.info_id,
        Kind::InfoFeedback(m) => &m.info_id,
        Kind::InfoDeclined(m) => &m.info_id,
        Kind::InfoMerged(m) => &m.info_id,
        Kind::EvaluationRated(m) => return check_proposal_chain(topology, channel, &m.subject_id),
        other => match crate::proposals::handled(other) {
            Some((_, proposal_id)) => return check_proposal_chain(topology, channel, proposal_id),
            None => return Ok(()),
        },
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

/// A proposal's handling goes along its chain, as an item's does; so
/// does a rating of a piece of work, to the levels that see the work.
fn check_proposal_chain(topology: &Topology, channel: &Channel, proposal_id: &str) -> Result<(), AppendError> {
    let named = parse_event_id(proposal_id).and_then(|id| crate::ids::embedded_origin(&id));
    let Some((origin, _)) = named.filter(|(origin, _)| topology.contains(*origin)) else {
        return Ok(());
    };
    if *channel != Channel::Chain(origin) {
        return Err(invalid(
            "channel",
            format!(
                "the handling or rating of a proposal or piece of work goes along its chain: chain:{origin} (its origin and the levels above it)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EVENT_ID_CHARS;

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
