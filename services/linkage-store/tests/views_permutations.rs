//! The views in real sled stores are a function of the set of events held:
//! signed events of three committees, applied to fresh stores through the
//! writer in random interleavings (each stream in seq order, as the
//! replicator delivers it) with random duplicates, leave byte-identical view
//! dumps — the same as a rebuild from the log.

use ed25519_dalek::SigningKey;
use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_core::validate::validate_append;
use linkage_core::{NodeCode, Topology};
use linkage_store::{Appender, RemoteRun, Store};
use proptest::prelude::*;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn topology() -> Topology {
    Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap()
}

/// One committee writing its own events, each in its own commit (so each
/// is signed and can travel alone).
struct Origin {
    code: NodeCode,
    appender: Appender,
    _dir: tempfile::TempDir,
}

impl Origin {
    fn new(code: &str, seed: u8) -> Origin {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let code: NodeCode = code.parse().unwrap();
        let (appender, _) = Appender::start(store, code, SigningKey::from_bytes(&[seed; 32])).unwrap();
        Origin { code, appender, _dir: dir }
    }

    async fn append(&self, channel: &str, kind: Kind) -> String {
        let request = pb::AppendRequest {
            channel: channel.into(),
            payload: Some(pb::Payload { kind: Some(kind) }),
            ..Default::default()
        };
        let valid = validate_append(&topology(), self.code, request).unwrap();
        let done = self.appender.append(vec![valid]).await.unwrap();
        let raw = done[0].event.raw.to_vec();
        RAWS.with(|r| r.borrow_mut().push(raw.clone()));
        pb::Event::decode(raw.as_slice()).unwrap().id
    }
}

thread_local! {
    static RAWS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The story's events, once: the province, 张掖市 and 民乐县 building on each other.
async fn story() {
    let province = Origin::new("620000", 1);
    let city = Origin::new("620700", 2);
    let county = Origin::new("620722", 3);
    let topic = province
        .append(
            "all",
            Kind::TopicProposed(pb::TopicProposed {
                year: 2027,
                category: pb::TopicCategory::Research as i32,
                title: "河西走廊节水农业发展调研".into(),
                ..Default::default()
            }),
        )
        .await;
    let notice = province
        .append(
            "down",
            Kind::NoticeIssued(pb::NoticeIssued {
                title: "征集选题".into(),
                requires_acknowledgement: true,
                ..Default::default()
            }),
        )
        .await;
    let result = province
        .append(
            "all",
            Kind::ResearchCompleted(pb::ResearchCompleted { title: "调研报告".into(), ..Default::default() }),
        )
        .await;
    province
        .append(
            "all",
            Kind::GroupFormed(pb::GroupFormed {
                group_id: "620000-hexi".into(),
                title: "联动调研组".into(),
                lead: "620000".into(),
                members: vec!["620700".into(), "620722".into()],
                topic_ids: vec![topic.clone()],
                rules: linkage_core::rules::GROUP_RULES,
            }),
        )
        .await;
    for (origin, who) in [(&city, "张掖市"), (&county, "民乐县")] {
        let comment = pb::TopicCommented { topic_id: topic.clone(), text: format!("{who}的意见") };
        origin.append("all", Kind::TopicCommented(comment)).await;
        origin.append("up", Kind::NoticeAcknowledged(pb::NoticeAcknowledged { notice_id: notice.clone() })).await;
        let joined = pb::TopicResponded {
            topic_id: topic.clone(),
            response: pb::TopicResponse::Joined as i32,
            note: String::new(),
        };
        origin.append("up", Kind::TopicResponded(joined)).await;
        let reuse = pb::ResultAdopted { result_id: result.clone(), by: who.into(), how: "转化为提案".into() };
        origin.append("all", Kind::ResultAdopted(reuse)).await;
    }
    let item = county
        .append(
            "up",
            Kind::InfoReported(pb::InfoReported {
                title: "饮水安全".into(),
                body: "内容".into(),
                ..Default::default()
            }),
        )
        .await;
    city.append("chain:620722", Kind::InfoForwarded(pb::InfoForwarded { info_id: item.clone(), to: "省政协".into() }))
        .await;
    let adopted = pb::InfoAdopted {
        info_id: item.clone(),
        level: pb::AdoptionLevel::Province as i32,
        by: "省政协".into(),
        combined: false,
        topology_version: 0,
    };
    province.append("chain:620722", Kind::InfoAdopted(adopted)).await;
    province
        .append("chain:620722", Kind::InfoPublished(pb::InfoPublished { info_id: item, issue: "第1期".into() }))
        .await;
    let second = province
        .append(
            "all",
            Kind::TopicProposed(pb::TopicProposed {
                year: 2027,
                category: pb::TopicCategory::Research as i32,
                title: "石羊河流域节水调研".into(),
                ..Default::default()
            }),
        )
        .await;
    province
        .append("all", Kind::TopicLinked(pb::TopicLinked { topic_ids: vec![topic, second], note: String::new() }))
        .await;
}

/// An event's bytes with its seq.
type Sequenced = (u64, Vec<u8>);

/// The story's events by stream, each stream in seq order.
fn streams() -> &'static Vec<Vec<Vec<u8>>> {
    static STREAMS: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(story());
        let events = RAWS.with(|r| r.take());
        let mut by_stream: BTreeMap<(String, String), Vec<Sequenced>> = BTreeMap::new();
        for raw in events {
            let e = pb::Event::decode(raw.as_slice()).unwrap();
            by_stream.entry((e.origin, e.channel)).or_default().push((e.seq, raw));
        }
        by_stream
            .into_values()
            .map(|mut s| {
                s.sort_by_key(|(seq, _)| *seq);
                s.into_iter().map(|(_, raw)| raw).collect()
            })
            .collect()
    })
}

/// Applies the streams to a fresh store, interleaved as `picks` say, each
/// event sent again when `dups` says; returns the view dump and the dump
/// after a rebuild.
fn apply(picks: &[usize], dups: &[bool]) -> (String, String) {
    let streams = streams();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // The node applying them: the province, which may hold every stream.
        let (appender, _) =
            Appender::start(store.clone(), "620000".parse().unwrap(), SigningKey::from_bytes(&[9; 32])).unwrap();
        let mut next = vec![0usize; streams.len()];
        let mut i = 0;
        while next.iter().zip(streams).any(|(n, s)| *n < s.len()) {
            let open: Vec<usize> = (0..streams.len()).filter(|s| next[*s] < streams[*s].len()).collect();
            let s = open[picks[i % picks.len()] % open.len()];
            let raw = streams[s][next[s]].clone();
            let run: RemoteRun = vec![(linkage_core::verify::parse(&raw).unwrap(), raw.into())];
            let report = appender.apply(vec![run.clone()]).await.unwrap();
            assert_eq!(report.applied, 1, "{report:?}");
            if dups[i % dups.len()] {
                let report = appender.apply(vec![run]).await.unwrap();
                assert_eq!(report.duplicates, 1, "{report:?}");
            }
            next[s] += 1;
            i += 1;
        }
        let dump = store.dump_views().unwrap();
        appender.rebuild_views().await.unwrap();
        (dump, store.dump_views().unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_interleaving_with_duplicates_gives_the_same_views(
        picks in proptest::collection::vec(0usize..16, 1..40),
        dups in proptest::collection::vec(any::<bool>(), 1..20),
    ) {
        let (reference, _) = apply(&[0], &[false]);
        prop_assert!(reference.lines().count() >= 5, "the story fills the views:\n{}", reference);
        let (dump, rebuilt) = apply(&picks, &dups);
        prop_assert_eq!(&dump, &reference);
        prop_assert_eq!(&rebuilt, &reference);
    }
}
