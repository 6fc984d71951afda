//! The rules of the envelope and of authority that an event its own origin
//! signed can still break. A node refuses such an append; one that arrives
//! signed is stored and relayed (refusing it would freeze the origin's
//! stream everywhere) but changes no view and no group membership, and the
//! store keeps it as an alarm against its origin. One place judges them, so
//! that the append path, the views and replication agree.

use crate::pb::payload::Kind;

/// A rule of the envelope that an event its own origin signed can still
/// break. Such an event is stored and relayed (refusing it would freeze
/// the origin's stream everywhere) but changes no view, and the store
/// keeps it as an alarm against its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Breach {
    /// The event's id does not name the event's origin (`crate::ids`):
    /// an id of another committee's record, or of no committee.
    IdNotOrigin,
    /// A group formed under an id that does not begin with the former's
    /// code, or by a committee that does not lead it
    /// ([`crate::channel::GroupId::owner`]).
    GroupNotOrigin,
    /// A membership change its author may not make: only a group's lead
    /// adds and removes members; a member may leave.
    MembershipNotAuthorized,
    /// A sub-topic assigned, or its due date moved, by a committee that
    /// does not lead the group.
    TaskNotByLead,
    /// A topic closed by a committee that did not propose it (a topic's
    /// id names its proposer, `crate::ids`).
    TopicNotOwn,
}

impl Breach {
    /// Every rule.
    pub const ALL: [Breach; 5] = [
        Breach::IdNotOrigin,
        Breach::GroupNotOrigin,
        Breach::MembershipNotAuthorized,
        Breach::TaskNotByLead,
        Breach::TopicNotOwn,
    ];

    /// The rule's name, as counters and operators see it.
    pub fn name(self) -> &'static str {
        match self {
            Breach::IdNotOrigin => "id_not_origin",
            Breach::GroupNotOrigin => "group_not_origin",
            Breach::MembershipNotAuthorized => "membership_not_authorized",
            Breach::TaskNotByLead => "task_not_by_lead",
            Breach::TopicNotOwn => "topic_not_own",
        }
    }
}

/// The group rule a payload `origin` signed breaks, if any: a group is
/// formed by its lead, under an id that begins with the lead's code; only
/// the lead adds and removes members, and a member may leave; only the
/// lead assigns sub-topics and moves their due dates; only its proposer
/// closes a topic. The append
/// path, the views and replication's membership (`crate::groups`) all
/// judge by this one function. Membership then goes by the greatest
/// (hlc, origin) as before: only the lead and the member itself can
/// author a change, so a chosen hlc can only keep a member out that chose
/// to leave, or disorder the lead's own group.
pub fn authority_breach(origin: &str, kind: &Kind) -> Option<Breach> {
    let owner = |group: &str| group.parse::<crate::channel::GroupId>().ok().and_then(|g| g.owner());
    let is_owner = |group: &str| owner(group).is_some_and(|o| o.as_str() == origin);
    match kind {
        Kind::GroupFormed(m) => (!is_owner(&m.group_id) || m.lead != origin).then_some(Breach::GroupNotOrigin),
        Kind::GroupJoined(m) => (!is_owner(&m.group_id)).then_some(Breach::MembershipNotAuthorized),
        Kind::GroupLeft(m) => {
            // A group id that does not parse has no members anywhere
            // (`crate::groups`): leaving it is no change either.
            let valid = m.group_id.parse::<crate::channel::GroupId>().is_ok();
            (!valid || (!is_owner(&m.group_id) && m.member != origin)).then_some(Breach::MembershipNotAuthorized)
        }
        Kind::TaskAssigned(m) => (!is_owner(&m.group_id)).then_some(Breach::TaskNotByLead),
        Kind::TaskDueChanged(m) => (!is_owner(&m.group_id)).then_some(Breach::TaskNotByLead),
        Kind::TopicClosed(m) => {
            let proposer = crate::ids::parse_event_id(&m.topic_id).and_then(|id| crate::ids::embedded_origin(&id));
            proposer.is_none_or(|(code, _)| code.as_str() != origin).then_some(Breach::TopicNotOwn)
        }
        _ => None,
    }
}

/// The id rule of `views::breach` for an event of `origin` whose id is
/// `id`, without decoding it (the group rules need the payload).
pub fn breach_of(origin: &str, id: &[u8; 16]) -> Option<Breach> {
    match crate::ids::embedded_origin(id) {
        Some((named, _)) if named.as_str() == origin => None,
        _ if crate::mutants::on(crate::mutants::Mutant::SkipIdOriginCheck) => None,
        _ => Some(Breach::IdNotOrigin),
    }
}
