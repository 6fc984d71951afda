//! Property tests of the views: they are a function of the *set* of events a
//! node holds. Any order of the same events, with any duplicates, must leave
//! byte-identical records, and folding an event a second time changes
//! nothing — otherwise two nodes holding the same events would disagree.
//!
//! The generator builds a referentially coherent event set over a few
//! committees: topics with comments, links, answers and plans; joint groups
//! with rival formations, joins, leaves, sub-topics, progress and reports;
//! 社情民意 items with their steps; notices with acknowledgements; results
//! with shares, adoptions and feedback. Clocks come from a small range so
//! that equal hlcs, from the same and from different origins, are common;
//! references are sometimes written in capitals; some creating events are
//! missing, as if they had not arrived yet.
//!
//! It also lies, as a compromised committee would, and marks each lie with
//! the rule it breaks *as it makes it* (its own reading of who may say
//! what, not `linkage_core::rules`): events that carry the id of another
//! committee's record, groups formed or joined by others than their lead,
//! sub-topics assigned to non-members or by non-leads, sub-reports by
//! others than the assignee, adoptions at another level, topics closed by
//! others than their proposer. Lies must change nothing but the disputed
//! lists (and a lie waiting for what it cites, the pending list), every
//! rule must be hit, and honest events are never disputed. Some
//! committees also reuse their own ids for a second, different event
//! (every order must still give the same bytes).

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_core::views::{self, RecordMap};
use proptest::prelude::*;
use prost::Message;

#[path = "views_properties/coverage.rs"]
mod coverage;
#[path = "views_properties/records.rs"]
mod records;
use records::{disputed_entries, explain, pending_ids, without_disputes};

/// Committees that append: the province, a city, a county, two more cities.
const ORIGINS: [&str; 5] = ["620000", "620700", "620722", "620900", "620600"];
/// Topics, 社情民意 items, notices and results that may be created.
const TOPICS: usize = 3;
const ITEMS: usize = 3;
const NOTICES: usize = 2;
const RESULTS: usize = 2;
/// Groups, named by their leads (`GroupId::owner`), both in `ORIGINS`.
const GROUPS: [&str; 2] = ["620000-hexi-water", "620700-minle-farmland"];
const TASKS: [&str; 3] = ["zhangye", "wuwei", "minle"];
/// Clocks are drawn from 1..=HLC_MAX; a small range makes ties common.
const HLC_MAX: u64 = 12;
/// The 25 payload kinds that refer to something; the 4 creating kinds are
/// generated separately so that each entity has exactly one creator.
const REFERRING_KINDS: u8 = 25;

/// One creating event: a lie to tell with it (0: a forgery of its id by
/// another committee, 1: a second event under its id by its own origin,
/// else none), its clock and content variant.
type Creator = Option<(u8, u64, u8)>;

/// One referring event, before it is turned into a payload.
#[derive(Clone, Debug)]
struct Op {
    kind: u8,
    a: u8,
    b: u8,
    c: u8,
    origin: u8,
    hlc: u64,
    /// Write references in capitals.
    upper: bool,
    /// Varies the id's middle so that id order is unrelated to list order.
    salt: u16,
}

/// An id in the layout of `linkage_core::ids`: it names `origin`.
fn id(space: u64, n: usize, salt: u16, origin: &str) -> String {
    let code: u64 = origin.parse().expect("six digits");
    let high: u64 = (0x0190_b6c8 << 32) | (u64::from(salt) << 16) | 0x7abc;
    let low: u64 = (0b10 << 62) | (code << 42) | (space << 32 | n as u64);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    linkage_core::validate::format_event_id(&bytes)
}

/// Who creates entity `k` of `space`: ids name their origin, so the
/// referring events must know it.
fn creator_of(space: u64, k: usize) -> &'static str {
    ORIGINS[(space as usize + k) % ORIGINS.len()]
}

fn topic_id(k: usize) -> String {
    id(1, k, 0, creator_of(1, k))
}
fn item_id(k: usize) -> String {
    id(2, k, 0, creator_of(2, k))
}
fn notice_id(k: usize) -> String {
    id(3, k, 0, creator_of(3, k))
}
fn result_id(k: usize) -> String {
    id(4, k, 0, creator_of(4, k))
}

fn time(days: u8) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: 1_750_000_000 + i64::from(days) * 86_400, nanos: 0 })
}

/// The members of `bits` among `ORIGINS`.
fn origins(bits: u8) -> Vec<String> {
    ORIGINS.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, o)| o.to_string()).collect()
}

fn event(id: String, origin: &str, channel: &str, hlc: u64, kind: Kind) -> pb::Event {
    pb::Event {
        id,
        origin: origin.to_string(),
        channel: channel.to_string(),
        hlc,
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    }
}

/// Who appends `op`. Membership changes, assignments, due-date moves and closings come
/// mostly from whom they may (the lead; a member leaving; the proposer),
/// sometimes from anyone: a lie the folds ignore.
fn op_origin(op: &Op) -> &'static str {
    let (a, b, c) = (usize::from(op.a), usize::from(op.b), op.c);
    let owner = &GROUPS[a % GROUPS.len()][..6];
    match (op.kind % REFERRING_KINDS, c % 3) {
        (4 | 5 | 7 | 21, 1 | 2) | (6, 1) => owner,
        (22, 1 | 2) => creator_of(1, a % TOPICS),
        (24, 1 | 2) => creator_of(3, a % NOTICES),
        (6, 2) => ORIGINS[b % ORIGINS.len()],
        _ => ORIGINS[usize::from(op.origin) % ORIGINS.len()],
    }
}

/// A generated event set, each event with the rule its generator meant it
/// to break (`None`: honest).
#[derive(Clone, Debug)]
struct Built {
    events: Vec<pb::Event>,
    lies: Vec<Option<&'static str>>,
}

/// The level of a code in `ORIGINS`, as the generator reads it.
fn adoption_levels(origin: &str) -> &'static [i32] {
    match origin {
        "620000" => &[3, 4],
        "620722" => &[1],
        _ => &[2],
    }
}

/// Turns the generated description into events: creators first, then the
/// referring events, in generation order (the properties reorder them).
fn build(creators: &[Creator], ops: &[Op]) -> Built {
    let mut events = Vec::new();
    let mut lies = Vec::new();
    let slots = [(TOPICS, 1u64), (ITEMS, 2), (NOTICES, 3), (RESULTS, 4)];
    let mut slot = 0;
    for (count, space) in slots {
        for k in 0..count {
            let creator = creators[slot];
            slot += 1;
            let Some((lie, hlc, v)) = creator else { continue };
            let origin = creator_of(space, k);
            let id = id(space, k, 0, origin);
            let kind = |v: u8| match space {
                1 => Kind::TopicProposed(pb::TopicProposed {
                    year: 2025,
                    category: 1 + i32::from(v % 5),
                    title: format!("选题 {k}.{v}"),
                    summary: format!("摘要 {v}"),
                    lead_committee: String::new(),
                }),
                2 => Kind::InfoReported(pb::InfoReported {
                    title: format!("社情民意 {k}.{v}"),
                    body: "群众反映的问题".into(),
                    submitter: format!("委员 {v}"),
                    sector: String::new(),
                }),
                3 => Kind::NoticeIssued(pb::NoticeIssued {
                    expects: i32::from(v % 4),
                    due: if v.is_multiple_of(4) { None } else { time(v) },
                    title: format!("通知 {k}"),
                    body: String::new(),
                    requires_acknowledgement: v.is_multiple_of(2),
                }),
                _ => Kind::ResearchCompleted(pb::ResearchCompleted {
                    title: format!("调研报告 {k}"),
                    summary: String::new(),
                    attachments: vec![format!("reports/{k}-{v}.pdf")],
                    group_id: GROUPS[usize::from(v) % GROUPS.len()].into(),
                    year: 2025,
                    category: pb::TopicCategory::Research as i32,
                }),
            };
            let mut created = event(id.clone(), origin, "up", hlc, kind(v));
            // Some topics, items and reports answer a notice (its returns).
            if space != 3 && v % 3 == 0 {
                created.refs = vec![notice_id((k + usize::from(v)) % NOTICES)];
            }
            events.push(created);
            lies.push(None);
            match lie % 4 {
                0 => {
                    let liar =
                        ORIGINS[(usize::from(v) + 1 + ORIGINS.iter().position(|o| *o == origin).expect("listed"))
                            % ORIGINS.len()];
                    let liar = if liar == origin { ORIGINS[0] } else { liar };
                    if liar != origin {
                        events.push(event(id, liar, "up", hlc, kind(v.wrapping_add(7))));
                        lies.push(Some("id_not_origin"));
                    }
                }
                1 => {
                    events.push(event(id, origin, "down", hlc + u64::from(v % 2), kind(v.wrapping_add(3))));
                    lies.push(None);
                }
                _ => {}
            }
        }
    }

    // One referring event in seven carries an id naming another committee.
    // Now and then a committee signs two events under one id (the one
    // before, when it made that too): each must still be judged on its own.
    // Not where either is an event claims cite (a formation, a join, an
    // assignment): a lead that reuses those ids can leave claims citing
    // them judged differently by order (decision 0055, "Not done").
    let cited = |op: &Op| matches!(op.kind % REFERRING_KINDS, 4 | 5 | 7);
    let mut op_ids: Vec<String> = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let at = ORIGINS.iter().position(|o| *o == op_origin(op)).expect("listed");
        let forged = op.c % 7 == 0;
        let again = i > 0
            && op.salt % 13 == 0
            && !forged
            && !ops[i - 1].c.is_multiple_of(7)
            && !cited(op)
            && !cited(&ops[i - 1])
            && op_origin(&ops[i - 1]) == op_origin(op);
        op_ids.push(if again {
            op_ids[i - 1].clone()
        } else {
            id(0, i, op.salt, ORIGINS[(at + usize::from(forged)) % ORIGINS.len()])
        });
    }
    // Who the generator admitted to which group, and assigned to which
    // sub-topic, honestly: (event id, group, node) and (event id, group,
    // task, assignee). Claims cite these, or lie about them.
    let mut admissions: Vec<(String, String, String)> = Vec::new();
    let mut assignments: Vec<(String, String, String, String)> = Vec::new();
    let first_op = events.len();
    for (i, op) in ops.iter().enumerate() {
        let r = |id: String| if op.upper { id.to_uppercase() } else { id };
        let (a, b, c) = (usize::from(op.a), usize::from(op.b), op.c);
        let group: &str = GROUPS[a % GROUPS.len()];
        let task = TASKS[b % TASKS.len()].to_string();
        let origin = op_origin(op);
        let kind = match op.kind % REFERRING_KINDS {
            0 => Kind::TopicCommented(pb::TopicCommented {
                topic_id: r(topic_id(a % TOPICS)),
                text: format!("意见 {c}"),
            }),
            1 => {
                let (x, y) = (a % TOPICS, (a + 1 + b % (TOPICS - 1)) % TOPICS);
                let mut topic_ids = vec![r(topic_id(x)), topic_id(y)];
                if c % 4 == 0 {
                    // A topic whose proposal never reaches this node.
                    topic_ids.push(topic_id(TOPICS));
                }
                Kind::TopicLinked(pb::TopicLinked { topic_ids, note: String::new() })
            }
            2 => Kind::TopicResponded(pb::TopicResponded {
                topic_id: r(topic_id(a % TOPICS)),
                response: 1 + i32::from(c % 2),
                note: format!("答复 {c}"),
            }),
            3 => Kind::PlanPublished(pb::PlanPublished {
                year: 2025,
                title: format!("年度计划 {c}"),
                topic_ids: (0..TOPICS).filter(|t| c & (1 << t) != 0).map(|t| r(topic_id(t))).collect(),
            }),
            4 => Kind::GroupFormed(pb::GroupFormed {
                group_id: group.into(),
                title: format!("联动调研组 {c}"),
                lead: if c % 5 == 0 { ORIGINS[b % ORIGINS.len()] } else { origin }.into(),
                members: origins(c),
                topic_ids: (0..TOPICS).filter(|t| b & (1 << t) != 0).map(|t| r(topic_id(t))).collect(),
                rules: linkage_core::rules::GROUP_RULES,
            }),
            5 => {
                Kind::GroupJoined(pb::GroupJoined { group_id: group.into(), member: ORIGINS[b % ORIGINS.len()].into() })
            }
            6 => Kind::GroupLeft(pb::GroupLeft { group_id: group.into(), member: ORIGINS[b % ORIGINS.len()].into() }),
            7 => Kind::TaskAssigned(pb::TaskAssigned {
                group_id: group.into(),
                task_id: task,
                title: format!("子课题 {c}"),
                assignee: ORIGINS[usize::from(c) % ORIGINS.len()].into(),
                due: time(c),
            }),
            8 => Kind::MilestoneReached(pb::MilestoneReached {
                group_id: group.into(),
                task_id: if c % 3 == 0 { String::new() } else { task },
                title: format!("节点 {c}"),
            }),
            9 => Kind::ProgressReported(pb::ProgressReported {
                group_id: group.into(),
                task_id: task,
                percent: u32::from(c % 101),
                text: format!("进展 {c}"),
            }),
            10 => Kind::SubReportSubmitted(pb::SubReportSubmitted {
                group_id: group.into(),
                task_id: task,
                title: format!("分报告 {c}"),
                summary: String::new(),
                attachments: vec![format!("reports/sub-{c}.pdf")],
            }),
            11 => Kind::ConsolidatedReportSubmitted(pb::ConsolidatedReportSubmitted {
                group_id: group.into(),
                title: format!("总报告 {c}"),
                summary: String::new(),
                sub_report_ids: vec![r(op_ids[b % ops.len()].clone()), op_ids[usize::from(c) % ops.len()].clone()],
            }),
            12 => Kind::VisitScheduled(pb::VisitScheduled {
                group_id: group.into(),
                title: format!("联动视察 {c}"),
                starts: time(c),
                places: vec![format!("地点 {b}")],
            }),
            13 => {
                Kind::InfoPublished(pb::InfoPublished { info_id: r(item_id(a % ITEMS)), issue: format!("第{c}期") })
            }
            14 => Kind::InfoForwarded(pb::InfoForwarded { info_id: r(item_id(a % ITEMS)), to: format!("单位 {c}") }),
            15 => Kind::InfoAdopted(pb::InfoAdopted {
                info_id: r(item_id(a % ITEMS)),
                level: 1 + (b % 4) as i32,
                by: format!("采用单位 {c}"),
            }),
            16 => Kind::InfoInstructed(pb::InfoInstructed {
                info_id: r(item_id(a % ITEMS)),
                leader: format!("领导 {c}"),
                text: String::new(),
            }),
            17 => Kind::InfoFeedback(pb::InfoFeedback { info_id: r(item_id(a % ITEMS)), text: format!("反馈 {c}") }),
            18 => Kind::NoticeAcknowledged(pb::NoticeAcknowledged { notice_id: r(notice_id(a % NOTICES)) }),
            19 => Kind::ResultShared(pb::ResultShared {
                result_id: r(result_id(a % RESULTS)),
                audience: ["up", "down", "all"][b % 3].into(),
            }),
            20 => Kind::ResultAdopted(pb::ResultAdopted {
                result_id: r(result_id(a % RESULTS)),
                by: format!("采用单位 {b}"),
                how: format!("转化方式 {c}"),
            }),
            21 => Kind::TaskDueChanged(pb::TaskDueChanged {
                group_id: group.into(),
                task_id: task,
                due: time(c.wrapping_add(1)),
                reason: format!("延期 {c}"),
            }),
            22 => Kind::TopicClosed(pb::TopicClosed {
                topic_id: r(topic_id(a % TOPICS)),
                outcome: 1 + i32::from(c % 3),
                into_topic_id: if c % 3 == 1 { r(topic_id(b % TOPICS)) } else { String::new() },
                note: format!("关闭 {c}"),
            }),
            24 => Kind::NoticeReminded(pb::NoticeReminded {
                notice_id: r(notice_id(a % NOTICES)),
                to: origins(c),
                note: format!("催办 {c}"),
            }),
            _ => Kind::ResultFeedback(pb::ResultFeedback {
                result_id: r(result_id(a % RESULTS)),
                text: format!("反馈 {c}"),
            }),
        };
        // Work inside a group goes on the group's channel; the views ignore
        // channels of referring events, but keep them realistic.
        let channel = if matches!(op.kind % REFERRING_KINDS, 5..=12 | 21) {
            format!("group:{}", GROUPS[a % GROUPS.len()])
        } else {
            "up".to_string()
        };
        let owner = &group[..6];
        let forged = c % 7 == 0;
        let lie = match &kind {
            _ if forged => Some("id_not_origin"),
            Kind::GroupFormed(m) => (origin != owner || m.lead != origin).then_some("group_not_origin"),
            Kind::GroupJoined(_) => (origin != owner).then_some("membership_not_authorized"),
            Kind::GroupLeft(m) => (origin != owner && m.member != origin).then_some("membership_not_authorized"),
            Kind::TaskAssigned(_) | Kind::TaskDueChanged(_) => (origin != owner).then_some("task_not_by_lead"),
            Kind::TopicClosed(_) => (origin != creator_of(1, a % TOPICS)).then_some("topic_not_own"),
            Kind::NoticeReminded(_) => (origin != creator_of(3, a % NOTICES)).then_some("reminder_not_by_issuer"),
            Kind::InfoAdopted(m) => (!adoption_levels(origin).contains(&m.level)).then_some("adoption_not_own_level"),
            _ => None,
        };
        let id = op_ids[i].clone();
        if lie.is_none() {
            match &kind {
                Kind::GroupFormed(m) => {
                    for node in std::iter::once(&m.lead).chain(&m.members) {
                        admissions.push((id.clone(), group.to_string(), node.clone()));
                    }
                }
                Kind::GroupJoined(m) => admissions.push((id.clone(), group.to_string(), m.member.clone())),
                _ => {}
            }
        }
        events.push(event(id, origin, &channel, op.hlc, kind));
        lies.push(lie);
    }

    // Claims cite what their authority rests on: honestly, or citing
    // something else (or nothing) — a lie. Assignments first, since
    // sub-reports cite them.
    for pass in [7, 10] {
        for (i, op) in ops.iter().enumerate() {
            if op.kind % REFERRING_KINDS != pass || lies[first_op + i].is_some() {
                continue;
            }
            let at = first_op + i;
            let e = &events[at];
            let (group, task, who) = match e.payload.as_ref().and_then(|p| p.kind.as_ref()) {
                Some(Kind::TaskAssigned(m)) => (m.group_id.clone(), m.task_id.clone(), m.assignee.clone()),
                Some(Kind::SubReportSubmitted(m)) => (m.group_id.clone(), m.task_id.clone(), e.origin.clone()),
                _ => continue,
            };
            let honest: Option<String> = if pass == 7 {
                admissions.iter().find(|(_, g, n)| *g == group && *n == who).map(|x| x.0.clone())
            } else {
                assignments.iter().find(|(_, g, t, n)| *g == group && *t == task && *n == who).map(|x| x.0.clone())
            };
            let other: Option<String> = if pass == 7 {
                // An admission of others only: one formation admits several.
                let admits = |e: &str| admissions.iter().any(|(x, g, n)| x == e && *g == group && *n == who);
                admissions.iter().find(|(e, g, _)| *g == group && !admits(e)).map(|x| x.0.clone())
            } else {
                // An assignment to another or of another sub-topic only.
                let assigns =
                    |e: &str| assignments.iter().any(|(x, g, t, n)| x == e && *g == group && *t == task && *n == who);
                assignments.iter().find(|(e, g, _, _)| *g == group && !assigns(e)).map(|x| x.0.clone())
            };
            let (refs, lie) = match (op.c % 4, honest) {
                (1..=3, Some(honest)) => (vec![honest], None),
                _ => (
                    other.into_iter().collect(),
                    Some(if pass == 7 { "assignee_not_member" } else { "sub_report_not_by_assignee" }),
                ),
            };
            events[at].refs = refs;
            lies[at] = lie;
            if pass == 7 && lie.is_none() {
                assignments.push((events[at].id.clone(), group, task, who));
            }
        }
    }
    Built { events, lies }
}

fn creator() -> impl Strategy<Value = Creator> {
    // One in five creating events has not arrived.
    prop_oneof![1 => Just(None), 4 => (any::<u8>(), 1..=HLC_MAX, any::<u8>()).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    (0..REFERRING_KINDS, any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), 1..=HLC_MAX, any::<bool>(), any::<u16>())
        .prop_map(|(kind, a, b, c, origin, hlc, upper, salt)| Op { kind, a, b, c, origin, hlc, upper, salt })
}

/// A coherent event set, with its lies marked.
fn built_set() -> impl Strategy<Value = Built> {
    (proptest::collection::vec(creator(), TOPICS + ITEMS + NOTICES + RESULTS), proptest::collection::vec(op(), 1..80))
        .prop_map(|(creators, ops)| build(&creators, &ops))
}

/// A coherent event set.
fn event_set() -> impl Strategy<Value = Vec<pb::Event>> {
    built_set().prop_map(|b| b.events)
}

/// An order to deliver `n` events in: a permutation with some events
/// delivered more than once.
fn delivery(n: usize) -> impl Strategy<Value = Vec<usize>> {
    (Just((0..n).collect::<Vec<_>>()).prop_shuffle(), proptest::collection::vec((0..n, 0..=n), 0..10)).prop_map(
        |(mut order, repeats)| {
            for (event, at) in repeats {
                order.insert(at.min(order.len()), event);
            }
            order
        },
    )
}

fn fold<'a>(events: impl IntoIterator<Item = &'a pb::Event>) -> RecordMap {
    let mut records = RecordMap::new();
    for event in events {
        views::apply(event, &mut records);
    }
    records
}

fn arbitrary_deliveries() -> impl Strategy<Value = (Vec<pb::Event>, Vec<usize>, Vec<usize>)> {
    event_set().prop_flat_map(|events| {
        let n = events.len();
        (Just(events), delivery(n), delivery(n))
    })
}

fn marked_deliveries() -> impl Strategy<Value = (Built, Vec<usize>)> {
    built_set().prop_flat_map(|built| {
        let n = built.events.len();
        (Just(built), delivery(n))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// Two nodes that receive the same events in different orders, with
    /// duplicates, hold byte-identical views — and so does a node that
    /// received them in generation order.
    #[test]
    fn views_depend_only_on_the_set_of_events((events, first, second) in arbitrary_deliveries()) {
        let reference = fold(&events);
        let a = fold(first.iter().map(|&i| &events[i]));
        let b = fold(second.iter().map(|&i| &events[i]));
        prop_assert!(views::dump(&a) == views::dump(&reference), "{}", explain(&a, &reference));
        prop_assert!(views::dump(&b) == views::dump(&reference), "{}", explain(&b, &reference));
    }

    /// A lie changes nothing but the disputed lists (and, waiting for what
    /// it cites, the pending list), in any order: views hold what they hold
    /// without the lies. Every lie the views list is one the generator
    /// made, under the rule it meant it to break; no honest event is
    /// disputed; and every lie is listed, unless it waits or its id names
    /// another committee (then it is in no record at all).
    #[test]
    fn lies_change_nothing_but_the_disputed_lists((built, order) in marked_deliveries()) {
        // A lie by its id (another event may share it), and exactly.
        let mut lies: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        let mut exact = std::collections::BTreeSet::new();
        for (e, lie) in built.events.iter().zip(&built.lies) {
            if let Some(rule) = lie {
                lies.entry(views::norm(&e.id)).or_default().push(*rule);
                exact.insert((views::norm(&e.id), e.hlc, e.payload.clone().unwrap_or_default().encode_to_vec()));
            }
        }
        let honest = fold(built.events.iter().zip(&built.lies).filter(|(_, lie)| lie.is_none()).map(|(e, _)| e));
        let all = fold(order.iter().map(|&i| &built.events[i]));
        let (stripped, plain) = (without_disputes(&all, &exact), without_disputes(&honest, &exact));
        prop_assert!(views::dump(&stripped) == views::dump(&plain), "{}", explain(&stripped, &plain));
        let disputed = disputed_entries(&all);
        for (id, rule) in &disputed {
            let marked = lies.get(id).is_some_and(|rules| rules.contains(&rule.as_str()));
            prop_assert!(marked, "{} is disputed ({}) but the generator made no such lie", id, rule);
        }
        let pending = pending_ids(&all);
        for (id, rules) in &lies {
            for rule in rules {
                // Two lies under one id and one stamp are one entry (the
                // lesser encoding's), so the id is what must be listed.
                let listed = disputed.iter().any(|(d, _)| d == id) || pending.contains(id) || *rule == "id_not_origin";
                prop_assert!(listed, "the lie {} ({}) is listed nowhere", id, rule);
            }
        }
    }

    /// Folding every event again changes nothing: duplicates delivered by
    /// replication are harmless.
    #[test]
    fn folding_the_set_again_changes_nothing(events in event_set()) {
        let once = fold(&events);
        let mut twice = once.clone();
        for event in &events {
            views::apply(event, &mut twice);
        }
        prop_assert!(views::dump(&twice) == views::dump(&once), "{}", explain(&twice, &once));
    }
}
