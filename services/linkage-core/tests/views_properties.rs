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
#[path = "views_properties/kinds.rs"]
mod kinds;
#[path = "views_properties/names.rs"]
mod names;
use names::*;
#[path = "views_properties/records.rs"]
mod records;
use records::{disputed_entries, explain, pending_ids, without_disputes};

/// Clocks are drawn from 1..=HLC_MAX; a small range makes ties common.
const HLC_MAX: u64 = 12;
/// One creating event: a lie to tell with it (0: a forgery of its id by
/// another committee, 1: a second event under its id by its own origin,
/// else none), its clock and content variant.
type Creator = Option<(u8, u64, u8)>;

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

/// A generated event set, each event with the rule its generator meant it
/// to break (`None`: honest).
#[derive(Clone, Debug)]
struct Built {
    events: Vec<pb::Event>,
    lies: Vec<Option<&'static str>>,
}

/// Turns the generated description into events: creators first, then the
/// referring events, in generation order (the properties reorder them).
fn build(creators: &[Creator], ops: &[Op]) -> Built {
    let mut events = Vec::new();
    let mut lies = Vec::new();
    let slots = [(TOPICS, 1u64), (ITEMS, 2), (NOTICES, 3), (RESULTS, 4), (PROPOSALS, 5)];
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
                    member_id: if v.is_multiple_of(2) {
                        MEMBERS[usize::from(v) % MEMBERS.len()].into()
                    } else {
                        String::new()
                    },
                }),
                3 => Kind::NoticeIssued(pb::NoticeIssued {
                    expects: i32::from(v % 4),
                    due: if v.is_multiple_of(4) { None } else { time(v) },
                    title: format!("通知 {k}"),
                    body: String::new(),
                    requires_acknowledgement: v.is_multiple_of(2),
                }),
                5 => Kind::ProposalSubmitted(pb::ProposalSubmitted {
                    title: format!("提案 {k}.{v}"),
                    body: "建议".into(),
                    submitter: 1 + i32::from(v % 6),
                    submitter_name: String::new(),
                    member_ids: if v.is_multiple_of(2) {
                        vec![MEMBERS[usize::from(v) % MEMBERS.len()].into()]
                    } else {
                        Vec::new()
                    },
                    year: 2025,
                    category: format!("类别 {}", v % 2),
                    documents: kinds::documents(v),
                }),
                _ => Kind::ResearchCompleted(pb::ResearchCompleted {
                    title: format!("调研报告 {k}"),
                    summary: String::new(),
                    attachments: vec![format!("reports/{k}-{v}.pdf")],
                    group_id: GROUPS[usize::from(v) % GROUPS.len()].into(),
                    year: 2025,
                    category: pb::TopicCategory::Research as i32,
                    documents: kinds::documents(v),
                }),
            };
            let mut created = event(id.clone(), origin, "up", hlc, kind(v));
            // Some topics, items and reports answer a notice (its returns).
            if space != 3 && space != 5 && v % 3 == 0 {
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
        let a = usize::from(op.a);
        let group: &str = GROUPS[a % GROUPS.len()];
        let origin = op_origin(op);
        let kind = kinds::referring_kind(op, &op_ids);
        // Membership and the province's rules go on `all`, but now and then
        // a liar sends one elsewhere (`rules::on_all_only`). Work inside a
        // group goes on the group's channel; the views ignore the channels
        // of other referring events, but keep them realistic.
        let on_all = linkage_core::rules::on_all_only(&kind).is_some();
        let off_all = on_all && op.salt % 5 == 1;
        let channel = if on_all && !off_all {
            "all".to_string()
        } else if matches!(op.kind % REFERRING_KINDS, 5..=12 | 21) {
            format!("group:{}", GROUPS[a % GROUPS.len()])
        } else {
            "up".to_string()
        };
        // The views judge the id first, then the channel, then authority.
        let lie = match kinds::lie_of(&kind, op, origin) {
            Some("id_not_origin") => Some("id_not_origin"),
            _ if off_all => Some("not_on_all"),
            other => other,
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
    (
        proptest::collection::vec(creator(), TOPICS + ITEMS + NOTICES + RESULTS + PROPOSALS),
        proptest::collection::vec(op(), 1..80),
    )
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
