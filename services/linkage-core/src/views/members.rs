//! A committee's register of its members (委员): the fold of one member's
//! record, and what the append path checks of member events and of events
//! that name a member. Who may change a member is a rule
//! (`crate::rules`, member_not_own): only the committee the id names.

use super::source::{insert_stamped, Source, Stamp};
use super::{load, Records};
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::NodeCode;

/// Folds a member event into the member's record. The entry (sector,
/// 专委会, term, sealed fields) is the latest registration's or update's by
/// (hlc, event id, content); leaving is a flag with the least reason; an
/// erasure drops the sealed fields for good, whatever arrives after it.
pub(super) fn fold_member(m: &mut pb::CommitteeMember, id: &str, kind: &Kind, src: &Source<'_>) {
    m.member_id = id.to_string();
    m.committee = crate::members::committee_of(id).map(|c| c.to_string()).unwrap_or_default();
    match kind {
        Kind::MemberRegistered(x) => {
            m.known = true;
            entry(m, src, (&x.sector, &x.special_committee, &x.term), x.sealed.as_ref());
        }
        Kind::MemberUpdated(x) => entry(m, src, (&x.sector, &x.special_committee, &x.term), x.sealed.as_ref()),
        Kind::MemberLeft(x) => {
            if !m.left || x.reason < m.left_reason {
                m.left_reason.clone_from(&x.reason);
            }
            m.left = true;
        }
        Kind::MemberErased(_) => {
            m.erased = true;
            m.sealed = None;
        }
        Kind::MemberContributed(x) => {
            let c = pb::Contribution {
                event_id: src.id.clone(),
                origin: src.origin.to_string(),
                hlc: src.hlc,
                kind: x.kind,
                title: x.title.clone(),
            };
            insert_stamped(&mut m.contributions, c, |c| Stamp::new(c.hlc, &c.origin, &c.event_id));
            let over = m.contributions.len().saturating_sub(MEMBER_CONTRIBUTIONS_MAX);
            m.contributions.drain(..over);
        }
        _ => {}
    }
}

/// Most contributions a member's record keeps: the latest by stamp, the
/// same ones everywhere (decades of a member's talks and suggestions).
pub const MEMBER_CONTRIBUTIONS_MAX: usize = 512;

/// The province's duty rule of one year: the latest issued by stamp
/// counts; two under one stamp (only their origin can sign both) go to
/// the lesser encoding.
pub(super) fn fold_duty_rule(r: &mut pb::DutyRule, kind: &Kind, src: &Source<'_>) {
    let Kind::MemberDutiesIssued(m) = kind else { return };
    let candidate = pb::DutyRule {
        year: m.year,
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        rule: Some(m.clone()),
        known: true,
        disputed: Vec::new(),
    };
    let old = Stamp::new(r.hlc, &r.origin, &r.event_id);
    let bare = |x: &pb::DutyRule| {
        use prost::Message;
        pb::DutyRule { disputed: Vec::new(), ..x.clone() }.encode_to_vec()
    };
    let newer = !r.known || old < src.stamp() || (old == src.stamp() && bare(&candidate) < bare(r));
    if newer {
        let disputed = std::mem::take(&mut r.disputed);
        *r = candidate;
        r.disputed = disputed;
    }
}

fn entry(
    m: &mut pb::CommitteeMember,
    src: &Source<'_>,
    (sector, special, term): (&String, &String, &String),
    sealed: Option<&pb::Sealed>,
) {
    let seal = |s: Option<&pb::Sealed>| s.map(|s| (s.nonce.clone(), s.ciphertext.clone()));
    let new = (src.hlc, src.id.as_str(), sector, special, term, seal(sealed));
    let old = (m.hlc, m.event_id.as_str(), &m.sector, &m.special_committee, &m.term, seal(m.sealed.as_ref()));
    if !m.event_id.is_empty() && new <= old {
        return;
    }
    m.hlc = src.hlc;
    m.event_id.clone_from(&src.id);
    m.sector.clone_from(sector);
    m.special_committee.clone_from(special);
    m.term.clone_from(term);
    m.sealed = if m.erased { None } else { sealed.cloned() };
}

fn refuse(field: String, description: impl Into<String>) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, description))
}

/// Checks member events against the register held here, and that an item
/// or sub-report names only current members of the appending committee.
pub fn check_member(kind: &Kind, origin: NodeCode, records: &mut impl Records) -> Result<(), AppendError> {
    let mut held = |id: &str| load::<pb::CommitteeMember>(records, id).filter(|m| m.known);
    match kind {
        Kind::MemberRegistered(m) => match held(&m.member_id) {
            Some(_) => Err(refuse(
                "payload.member_registered.member_id".into(),
                "is registered already; change the entry with member-updated",
            )),
            None => Ok(()),
        },
        Kind::MemberUpdated(m) => {
            let f = "payload.member_updated.member_id";
            let member = held(&m.member_id).ok_or_else(|| refuse(f.into(), "no member with this id is held here"))?;
            if member.erased {
                return Err(refuse(f.into(), "the member's personal data were erased; register under a new id"));
            }
            Ok(())
        }
        Kind::MemberLeft(m) => {
            let f = "payload.member_left.member_id";
            let member = held(&m.member_id).ok_or_else(|| refuse(f.into(), "no member with this id is held here"))?;
            if member.left {
                return Err(refuse(f.into(), "the member has left already"));
            }
            Ok(())
        }
        Kind::MemberErased(m) => {
            let f = "payload.member_erased.member_id";
            let member = held(&m.member_id).ok_or_else(|| refuse(f.into(), "no member with this id is held here"))?;
            if member.erased {
                return Err(refuse(f.into(), "the member's personal data are erased already"));
            }
            Ok(())
        }
        Kind::InfoReported(m) if !m.member_id.is_empty() => {
            current(held(&m.member_id), origin, "payload.info_reported.member_id".into())
        }
        Kind::SubReportSubmitted(m) => {
            for (i, id) in m.member_ids.iter().enumerate() {
                current(held(id), origin, format!("payload.sub_report_submitted.member_ids[{i}]"))?;
            }
            Ok(())
        }
        Kind::MemberContributed(m) => {
            current(held(&m.member_id), origin, "payload.member_contributed.member_id".into())
        }
        Kind::ProposalSubmitted(m) => {
            for (i, id) in m.member_ids.iter().enumerate() {
                current(held(id), origin, format!("payload.proposal_submitted.member_ids[{i}]"))?;
            }
            Ok(())
        }
        Kind::ProposalCoSigned(m) => {
            for (i, id) in m.member_ids.iter().enumerate() {
                current(held(id), origin, format!("payload.proposal_co_signed.member_ids[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A member named by an event of `origin`: held, of `origin`, not left.
fn current(member: Option<pb::CommitteeMember>, origin: NodeCode, field: String) -> Result<(), AppendError> {
    let Some(member) = member else { return Err(refuse(field, "no member with this id is held here")) };
    if member.committee != origin.as_str() {
        return Err(refuse(
            field,
            format!("is a member of {}; a committee's events name its own members", member.committee),
        ));
    }
    if member.left {
        return Err(refuse(field, "the member has left the committee"));
    }
    Ok(())
}
