//! The views of a real store are folded by the topology's context
//! (decision 0067): a province's record of 全国政协's adoption naming a
//! topology version from `national_since` on is disputed once the store
//! folds by that context, and stands again without it. A change of
//! context folds the whole log again, once, and survives a reopen.

use ed25519_dalek::SigningKey;
use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_core::validate::validate_append;
use linkage_core::views::FoldContext;
use linkage_core::Topology;
use linkage_store::{Appender, Store};
use prost::Message;

fn request(kind: Kind) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: "chain:620000".into(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    }
}

fn disputed(store: &Store, item: &str) -> Vec<String> {
    let record: pb::InfoItem = store.view(item).unwrap().expect("the item's record");
    record.disputed.into_iter().map(|d| d.rule).collect()
}

#[tokio::test]
async fn a_new_fold_context_folds_the_views_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let topology = Topology::from_toml(include_str!("../../../deploy/topology/demo.toml")).unwrap();
    let province = "620000".parse().unwrap();
    let item = {
        let store = Store::open(dir.path()).unwrap();
        let (appender, writer) = Appender::start(store.clone(), province, SigningKey::from_bytes(&[1; 32])).unwrap();
        let report = pb::InfoReported { title: "综合信息".into(), body: "内容".into(), ..Default::default() };
        let valid = validate_append(&topology, province, request(Kind::InfoReported(report))).unwrap();
        let done = appender.append(vec![valid]).await.unwrap();
        let item = pb::Event::decode(&done[0].event.raw[..]).unwrap().id;
        let adopted = pb::InfoAdopted {
            info_id: item.clone(),
            level: pb::AdoptionLevel::National as i32,
            by: "全国政协办公厅".into(),
            ..Default::default()
        };
        let mut valid = validate_append(&topology, province, request(Kind::InfoAdopted(adopted))).unwrap();
        // Signed as if under version 3 of a document national from 2.
        if let Some(Kind::InfoAdopted(m)) = valid.payload.kind.as_mut() {
            m.topology_version = 3;
        }
        appender.append(vec![valid]).await.unwrap();
        drop(appender);
        writer.join().unwrap();
        assert!(disputed(&store, &item).is_empty(), "a province alone records 全国政协's adoption");
        let national = FoldContext { national_since: Some(2) };
        assert!(store.use_fold_context(national).unwrap().is_some(), "a new context folds again");
        assert_eq!(disputed(&store, &item), ["adoption_not_own_level"]);
        assert!(store.use_fold_context(national).unwrap().is_none(), "the same context folds nothing");
        item
    };
    let store = Store::open(dir.path()).unwrap();
    assert!(store.rebuilt_on_open().is_none());
    assert!(store.use_fold_context(FoldContext { national_since: Some(2) }).unwrap().is_none(), "kept across a reopen");
    assert_eq!(disputed(&store, &item), ["adoption_not_own_level"]);
    assert!(store.use_fold_context(FoldContext::default()).unwrap().is_some());
    assert!(disputed(&store, &item).is_empty());
}
