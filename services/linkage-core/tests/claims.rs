//! Claims judged in the fold, at their edges: two claims an origin signed
//! under one id, and one committee flooding a notice with replies. Both
//! must fold to the same bytes in any order (`linkage_core::views`).

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_core::views::{apply, dump, RecordMap};

fn event(id: &str, origin: &str, hlc: u64, refs: &[&str], kind: Kind) -> pb::Event {
    pb::Event {
        id: id.into(),
        origin: origin.into(),
        channel: "all".into(),
        seq: hlc,
        hlc,
        refs: refs.iter().map(|r| r.to_string()).collect(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    }
}

fn id(origin: &str, n: u64) -> String {
    linkage_core::validate::format_event_id(&linkage_core::ids::event_id(origin.parse().unwrap(), n << 16, n))
}

/// Two claims an origin signed under one id are judged each on its
/// own, whether the group's formation came before them or after: a
/// pending list keyed by id alone kept only one of them.
#[test]
fn two_claims_under_one_id_are_both_judged_in_any_order() {
    let formed = event(
        &id("620000", 1),
        "620000",
        1,
        &[],
        Kind::GroupFormed(pb::GroupFormed {
            group_id: "620000-g".into(),
            title: "调研组".into(),
            lead: "620000".into(),
            members: vec!["620700".into()],
            rules: 1,
            ..Default::default()
        }),
    );
    let report = |title: &str| {
        Kind::SubReportSubmitted(pb::SubReportSubmitted {
            group_id: "620000-g".into(),
            task_id: "t".into(),
            title: title.into(),
            ..Default::default()
        })
    };
    let reused = id("620700", 2);
    let first = event(&reused, "620700", 2, &[], report("一"));
    let second = event(&reused, "620700", 3, &[], report("二"));
    let fold = |events: &[&pb::Event]| {
        let mut records = RecordMap::new();
        for e in events {
            apply(e, &mut records);
        }
        records
    };
    let before = fold(&[&formed, &first, &second]);
    let after = fold(&[&first, &second, &formed]);
    assert_eq!(dump(&after), dump(&before));
    let g: pb::Group = linkage_core::views::load(&mut before.clone(), "620000-g").unwrap();
    assert_eq!(g.disputed.len(), 2, "{g:?}");
    assert!(g.pending.is_empty() && g.waiting.is_empty(), "{g:?}");
}

/// One committee flooding a notice with replies leaves the
/// `LIST_ITEMS_MAX` earliest, whatever the order they came in.
#[test]
fn a_flood_of_replies_keeps_the_earliest_of_each_committee() {
    let notice = id("620000", 1);
    let topic = |n: u64| {
        let kind = Kind::TopicProposed(pb::TopicProposed {
            year: 2026,
            category: 1,
            title: format!("选题 {n}"),
            ..Default::default()
        });
        event(&id("620700", n), "620700", n, &[&notice], kind)
    };
    let replies: Vec<pb::Event> = (2..2 + 70).map(topic).collect();
    let fold = |events: &mut dyn Iterator<Item = &pb::Event>| {
        let mut records = RecordMap::new();
        for e in events {
            apply(e, &mut records);
        }
        records
    };
    let forward = fold(&mut replies.iter());
    let backward = fold(&mut replies.iter().rev());
    assert_eq!(dump(&forward), dump(&backward));
    let n: pb::Notice = linkage_core::views::load(&mut forward.clone(), &notice).unwrap();
    assert_eq!(n.replies.len(), linkage_core::limits::LIST_ITEMS_MAX);
    assert_eq!(n.replies.last().unwrap().hlc, 1 + linkage_core::limits::LIST_ITEMS_MAX as u64);
}
