//! The rules of the envelope and of authority that an event its own origin
//! signed can still break, in one table ([`RULES`]). A node refuses such an
//! append (`FAILED_PRECONDITION` naming the rule); one that arrives signed
//! is stored and relayed (refusing it would freeze the origin's stream
//! everywhere) but changes no view and no group membership: the record it
//! claimed to change lists it as *disputed* with the rule it broke, and the
//! store keeps it as an alarm against its origin. One place judges them, so
//! that the append path, the views and replication agree.
//!
//! Two ways of judging:
//! - **By the event alone** ([`authority_breach`]): who may form a group,
//!   add members, assign, close a topic or record an adoption follows from
//!   the event's origin and the ids it names (a group id names its lead, a
//!   topic id its proposer, a code its level).
//! - **By the events it cites** (`Event.refs`, judged in the fold:
//!   `crate::views`): "the assignee is a member", "the author is the
//!   sub-topic's assignee" rest on earlier facts, and a claim is judged
//!   against the events it cites, never against a clock its author chose.
//!   A claim whose cited events have not arrived is *pending* and judged
//!   again when they do, so every node reaches the same verdict whatever
//!   the order.

use crate::code::Level;
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
    /// A 社情民意 adoption recorded for a level other than the recording
    /// node's own (the province also records 全国政协's, the level above it).
    AdoptionNotOwnLevel,
    /// A sub-topic assigned to a committee that the assignment does not
    /// show to be a member: it cites no admission of the assignee.
    AssigneeNotMember,
    /// A sub-report whose author the sub-report does not show to be the
    /// sub-topic's assignee: it cites no assignment of that sub-topic to
    /// its author. An assignment it cites stays valid when the lead
    /// re-assigns the sub-topic later: the verdict rests on the cited
    /// event, not on which assignment is the latest.
    SubReportNotByAssignee,
    /// A reminder (催办) of a notice by a committee that did not issue it
    /// (a notice's id names its issuer, `crate::ids`).
    ReminderNotByIssuer,
    /// A 社情民意 item handled (published, forwarded, adopted, instructed,
    /// fed back, declined, merged) by a committee not on its chain: the
    /// item's origin, or the city or province whose code the origin's
    /// begins with (GB/T 2260 form, which the topology enforces).
    HandlingNotOnChain,
    /// A 批示 recorded for a level other than the recording node's own
    /// (the province also records 全国政协's), like an adoption.
    InstructionNotOwnLevel,
    /// An item merged into a 综合 item that is not the recorder's own.
    MergeNotIntoOwn,
    /// A score rule issued by a committee that is not the province.
    ScoreRuleNotByProvince,
    /// A member registered, changed, removed or erased by a committee
    /// other than the one the member id names (`crate::members`).
    MemberNotOwn,
    /// A proposal's answer rated by a committee other than the one where
    /// it was submitted (the proposal's id names it): the proposer's
    /// committee records the proposer's rating.
    RatingNotByProposer,
    /// The province's signed rules other than scores (its holiday calendar,
    /// members' yearly duties, evaluation indicators) issued by a committee
    /// that is not the province.
    RulesNotByProvince,
    /// A rating of a piece of work by the committee whose work it is (the
    /// work's id names it): judged indicators are rated by others.
    SelfEvaluation,
    /// A group's forming, joining or leaving, or one of the province's
    /// rules (score rules, holiday calendar, members' duties, indicator
    /// sets), on a channel other than `all`. On `all` it reaches every node
    /// of its origin's province and no other; on a federation's channel
    /// another province's calendar would be read as one's own.
    NotOnAll,
}

/// How a rule is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// From the event alone, wherever it is: the append path, the views,
    /// replication's membership.
    ByEvent,
    /// Against the events the claim cites, in the fold (pending until they
    /// arrive); at append, against the records the node holds.
    ByCitedEvents,
}

/// One rule of who may say what.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The rule.
    pub breach: Breach,
    /// The payload kinds it governs (`views::kind_name`).
    pub kinds: &'static [&'static str],
    /// Who may emit them, in words.
    pub who: &'static str,
    /// How it is judged.
    pub judged: Judged,
}

/// Every rule of who may say what. Each has a scenario that shows both its
/// local refusal and a replicated breach disputed
/// (`tests/scenarios/authority_*.toml`; the runner checks every rule is
/// shown).
pub const RULES: [Rule; 18] = [
    Rule {
        breach: Breach::IdNotOrigin,
        kinds: &["*"],
        who: "an event's id names its origin (`crate::ids`): no committee creates or rewrites another's record",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::GroupNotOrigin,
        kinds: &["group_formed"],
        who: "the lead, under an id that begins with its code",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::MembershipNotAuthorized,
        kinds: &["group_joined", "group_left"],
        who: "the lead adds and removes members; a member may leave",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::TaskNotByLead,
        kinds: &["task_assigned", "task_due_changed"],
        who: "the group's lead",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::TopicNotOwn,
        kinds: &["topic_closed"],
        who: "the committee that proposed the topic",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::AdoptionNotOwnLevel,
        kinds: &["info_adopted"],
        who: "a node of the adopting level; the province also for 全国政协 before the topology's national_since",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::AssigneeNotMember,
        kinds: &["task_assigned"],
        who: "an assignment cites the event that made its assignee a member (groups with rules 1)",
        judged: Judged::ByCitedEvents,
    },
    Rule {
        breach: Breach::SubReportNotByAssignee,
        kinds: &["sub_report_submitted"],
        who: "a committee the sub-topic was assigned to, citing that assignment (groups with rules 1)",
        judged: Judged::ByCitedEvents,
    },
    Rule {
        breach: Breach::ReminderNotByIssuer,
        kinds: &["notice_reminded"],
        who: "the committee that issued the notice",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::HandlingNotOnChain,
        kinds: &[
            "info_published",
            "info_forwarded",
            "info_adopted",
            "info_instructed",
            "info_feedback",
            "info_declined",
            "info_merged",
            "proposal_co_signed",
            "proposal_sent_up",
            "proposal_reviewed",
            "proposal_assigned",
            "proposal_objected",
            "proposal_deadline_extended",
            "proposal_contacted",
            "proposal_answered",
            "proposal_supervised",
            "proposal_reminded",
            "proposal_followed_up",
            "evaluation_rated",
        ],
        who: "a node on the item's or proposal's chain: its origin, its city, its province",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::InstructionNotOwnLevel,
        kinds: &["info_instructed"],
        who: "a node of the leader's level; the province also for 全国政协 before the topology's national_since",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::MergeNotIntoOwn,
        kinds: &["info_merged"],
        who: "the committee whose 综合 item it goes into",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::ScoreRuleNotByProvince,
        kinds: &["score_rule_issued"],
        who: "the province",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::MemberNotOwn,
        kinds: &["member_registered", "member_updated", "member_left", "member_erased", "member_contributed"],
        who: "the committee the member id names",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::RatingNotByProposer,
        kinds: &["proposal_rated"],
        who: "the committee where the proposal was submitted (its id names it)",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::RulesNotByProvince,
        kinds: &["holiday_calendar_issued", "member_duties_issued", "indicator_set_issued"],
        who: "the province",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::SelfEvaluation,
        kinds: &["evaluation_rated"],
        who: "a committee other than the one whose work it is",
        judged: Judged::ByEvent,
    },
    Rule {
        breach: Breach::NotOnAll,
        kinds: &[
            "group_formed",
            "group_joined",
            "group_left",
            "score_rule_issued",
            "holiday_calendar_issued",
            "member_duties_issued",
            "indicator_set_issued",
        ],
        who: "any node, on `all` only: its own province hears it, no other",
        judged: Judged::ByEvent,
    },
];

/// The rules a group's claims are judged by, as a node of this version
/// forms it (`GroupFormed.rules`): 1, claims cite what they rest on.
pub const GROUP_RULES: u32 = 1;

/// What the fold makes of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It changes the views.
    Authorized,
    /// It broke the rule: listed on its record, changes nothing else.
    Disputed(Breach),
    /// An event it cites has not arrived: kept aside, judged again when
    /// one does.
    Pending,
}

impl Breach {
    /// Every rule.
    pub const ALL: [Breach; 18] = [
        Breach::IdNotOrigin,
        Breach::GroupNotOrigin,
        Breach::MembershipNotAuthorized,
        Breach::TaskNotByLead,
        Breach::TopicNotOwn,
        Breach::AdoptionNotOwnLevel,
        Breach::AssigneeNotMember,
        Breach::SubReportNotByAssignee,
        Breach::ReminderNotByIssuer,
        Breach::HandlingNotOnChain,
        Breach::InstructionNotOwnLevel,
        Breach::MergeNotIntoOwn,
        Breach::ScoreRuleNotByProvince,
        Breach::MemberNotOwn,
        Breach::RatingNotByProposer,
        Breach::RulesNotByProvince,
        Breach::SelfEvaluation,
        Breach::NotOnAll,
    ];

    /// The rule's name, as counters and operators see it.
    pub fn name(self) -> &'static str {
        match self {
            Breach::IdNotOrigin => "id_not_origin",
            Breach::GroupNotOrigin => "group_not_origin",
            Breach::MembershipNotAuthorized => "membership_not_authorized",
            Breach::TaskNotByLead => "task_not_by_lead",
            Breach::TopicNotOwn => "topic_not_own",
            Breach::AdoptionNotOwnLevel => "adoption_not_own_level",
            Breach::AssigneeNotMember => "assignee_not_member",
            Breach::SubReportNotByAssignee => "sub_report_not_by_assignee",
            Breach::ReminderNotByIssuer => "reminder_not_by_issuer",
            Breach::HandlingNotOnChain => "handling_not_on_chain",
            Breach::InstructionNotOwnLevel => "instruction_not_own_level",
            Breach::MergeNotIntoOwn => "merge_not_into_own",
            Breach::ScoreRuleNotByProvince => "score_rule_not_by_province",
            Breach::MemberNotOwn => "member_not_own",
            Breach::RatingNotByProposer => "rating_not_by_proposer",
            Breach::RulesNotByProvince => "rules_not_by_province",
            Breach::SelfEvaluation => "self_evaluation",
            Breach::NotOnAll => "not_on_all",
        }
    }

    /// The rule named `name`.
    pub fn from_name(name: &str) -> Option<Breach> {
        Breach::ALL.into_iter().find(|b| b.name() == name)
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
        Kind::TopicClosed(m) => (!named_by(&m.topic_id, origin)).then_some(Breach::TopicNotOwn),
        Kind::NoticeReminded(m) => (!named_by(&m.notice_id, origin)).then_some(Breach::ReminderNotByIssuer),
        Kind::InfoAdopted(m) => (!own_level(origin, m.level))
            .then_some(Breach::AdoptionNotOwnLevel)
            .or_else(|| on_chain_breach(origin, &m.info_id)),
        Kind::InfoInstructed(m) => (m.level != 0 && !own_level(origin, m.level))
            .then_some(Breach::InstructionNotOwnLevel)
            .or_else(|| on_chain_breach(origin, &m.info_id)),
        Kind::InfoPublished(m) => on_chain_breach(origin, &m.info_id),
        Kind::InfoForwarded(m) => on_chain_breach(origin, &m.info_id),
        Kind::InfoFeedback(m) => on_chain_breach(origin, &m.info_id),
        Kind::InfoDeclined(m) => on_chain_breach(origin, &m.info_id),
        Kind::InfoMerged(m) => on_chain_breach(origin, &m.info_id)
            .or_else(|| (!named_by(&m.into_id, origin)).then_some(Breach::MergeNotIntoOwn)),
        Kind::MemberRegistered(m) => member_breach(origin, &m.member_id),
        Kind::MemberUpdated(m) => member_breach(origin, &m.member_id),
        Kind::MemberLeft(m) => member_breach(origin, &m.member_id),
        Kind::MemberErased(m) => member_breach(origin, &m.member_id),
        Kind::MemberContributed(m) => member_breach(origin, &m.member_id),
        Kind::ScoreRuleIssued(_) => (!province(origin)).then_some(Breach::ScoreRuleNotByProvince),
        Kind::HolidayCalendarIssued(_) | Kind::MemberDutiesIssued(_) | Kind::IndicatorSetIssued(_) => {
            (!province(origin)).then_some(Breach::RulesNotByProvince)
        }
        Kind::ProposalRated(m) => (!named_by(&m.proposal_id, origin)).then_some(Breach::RatingNotByProposer),
        Kind::EvaluationRated(m) => named_by(&m.subject_id, origin)
            .then_some(Breach::SelfEvaluation)
            .or_else(|| on_chain_breach(origin, &m.subject_id)),
        Kind::ProposalReviewed(m) if !m.into_id.is_empty() => {
            on_chain_breach(origin, &m.proposal_id).or_else(|| on_chain_breach(origin, &m.into_id))
        }
        other => crate::proposals::handled(other).and_then(|(_, id)| on_chain_breach(origin, id)),
    }
}

/// Why `kind` goes on `all` and nowhere else, or `None` for a kind that
/// may go on any channel its sender may use. The append path refuses it
/// elsewhere with this reason; the views, replication's membership and the
/// folds dispute it ([`channel_breach`]).
pub fn on_all_only(kind: &Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::GroupFormed(_) | Kind::GroupJoined(_) | Kind::GroupLeft(_) => {
            "a group's forming, joining and leaving go on `all`, where a new member hears them"
        }
        Kind::ScoreRuleIssued(_) => "a score rule goes on `all`: every committee ranks by the same rules",
        Kind::HolidayCalendarIssued(_) => {
            "the holiday calendar goes on `all`: every committee counts working days by it"
        }
        Kind::IndicatorSetIssued(_) => "an indicator set goes on `all`: every committee is evaluated alike",
        Kind::MemberDutiesIssued(_) => "members' duties go on `all`: every committee counts its members by them",
        _ => return None,
    })
}

/// [`Breach::NotOnAll`] for a kind of [`on_all_only`] on `channel` other
/// than `all`. `all` reaches its origin's province only
/// (`crate::channel`), so what a reader folds as "the province's" rule or
/// a group change is its own province's.
pub fn channel_breach(channel: &str, kind: &Kind) -> Option<Breach> {
    (on_all_only(kind).is_some() && channel != "all").then_some(Breach::NotOnAll)
}

/// Whether `origin` is the province's code.
fn province(origin: &str) -> bool {
    origin.parse::<crate::NodeCode>().is_ok_and(|c| Level::of_code(&c) == Level::Province)
}

/// [`Breach::AdoptionNotOwnLevel`] or [`Breach::InstructionNotOwnLevel`]
/// for a province's record of 全国政协's adoption or 批示 that names a
/// topology version from `national_since` on (`Topology::national_since`,
/// `None` for a province alone): from that version the national committee
/// records its own. Judged by the version the claim names, so every node
/// that knows `national_since` agrees however late the claim arrives
/// (decision 0067).
pub fn national_breach(origin: &str, kind: &Kind, national_since: Option<u64>) -> Option<Breach> {
    let version = match kind {
        Kind::InfoAdopted(m) => m.topology_version,
        Kind::InfoInstructed(m) => m.topology_version,
        _ => return None,
    };
    national_breach_at(origin, kind, version, national_since)
}

/// [`national_breach`] for `kind` recorded under topology `version`
/// (the append path asks before the node stamps it).
pub fn national_breach_at(origin: &str, kind: &Kind, version: u64, national_since: Option<u64>) -> Option<Breach> {
    let national = crate::pb::AdoptionLevel::National as i32;
    let since = national_since?;
    let (level, breach) = match kind {
        Kind::InfoAdopted(m) => (m.level, Breach::AdoptionNotOwnLevel),
        Kind::InfoInstructed(m) => (m.level, Breach::InstructionNotOwnLevel),
        _ => return None,
    };
    (level == national && province(origin) && version >= since).then_some(breach)
}

/// Whether a node of `origin` records handling at `level` (an
/// `AdoptionLevel`): its own level; the province also 全国政协's, as
/// issue 8 set up, under a topology version before the national
/// committee's ([`national_breach`]).
fn own_level(origin: &str, level: i32) -> bool {
    use crate::pb::AdoptionLevel as A;
    match origin.parse::<crate::NodeCode>().map(|c| Level::of_code(&c)) {
        Ok(Level::National) => level == A::National as i32,
        Ok(Level::Province) => level == A::Province as i32 || level == A::National as i32,
        Ok(Level::City) => level == A::City as i32,
        Ok(Level::County) => level == A::County as i32,
        Err(_) => false,
    }
}

/// [`Breach::HandlingNotOnChain`] unless `origin` is on the chain of the
/// item `info_id` names.
fn on_chain_breach(origin: &str, info_id: &str) -> Option<Breach> {
    let item = crate::ids::parse_event_id(info_id).and_then(|id| crate::ids::embedded_origin(&id));
    let on = match (item, origin.parse::<crate::NodeCode>()) {
        (Some((item, _)), Ok(recorder)) => on_chain(recorder, item),
        _ => false,
    };
    (!on).then_some(Breach::HandlingNotOnChain)
}

/// Whether `node` is on `origin`'s chain by their codes: `origin` itself,
/// the national committee, or a city or province whose code `origin`'s
/// begins with. This is who may record a step of an item's handling: the
/// national committee handles a county's item once its province sent it
/// up. Who hears a `chain:` stream is narrower (`channel::chain_members`:
/// it stops at the province). The topology
/// refuses a parent whose code does not prefix its child's
/// (`crate::topology`), so this is the topology's chain.
pub fn on_chain(node: crate::NodeCode, origin: crate::NodeCode) -> bool {
    let (n, o) = (node.as_bytes(), origin.as_bytes());
    match Level::of_code(&node) {
        _ if node == origin => true,
        // The top of every chain; what reaches it is what provinces send.
        Level::National => true,
        Level::Province => n[..2] == o[..2],
        Level::City => n[..4] == o[..4] && Level::of_code(&origin) == Level::County,
        Level::County => false,
    }
}

/// [`Breach::MemberNotOwn`] unless member `id` names `origin`.
fn member_breach(origin: &str, id: &str) -> Option<Breach> {
    let own = crate::members::committee_of(id).is_some_and(|c| c.as_str() == origin);
    (!own).then_some(Breach::MemberNotOwn)
}

/// Whether event id `id` names `origin` as its origin (`crate::ids`).
fn named_by(id: &str, origin: &str) -> bool {
    let named = crate::ids::parse_event_id(id).and_then(|id| crate::ids::embedded_origin(&id));
    named.is_some_and(|(code, _)| code.as_str() == origin)
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
