//! The views in the store: written with the commit, rebuilt to the same
//! bytes, and rebuilt on open when another version wrote them.

use super::*;
use crate::views::version::StoredVersion;
use linkage_core::pb::payload::Kind;
use linkage_core::views::RecordKind;
use prost::Message;

async fn append_kind(appender: &Appender, kind: Kind) -> String {
    let origin: NodeCode = "620722".parse().unwrap();
    // An item's handling goes along its chain (the county's own, here).
    let handling = matches!(kind, Kind::InfoForwarded(_));
    let request = pb::AppendRequest {
        channel: if handling { "chain:620722" } else { "up" }.into(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        ..Default::default()
    };
    let done = appender.append(vec![validate_append(&topology(), origin, request).unwrap()]).await.unwrap();
    pb::Event::decode(done[0].event.raw.as_ref()).unwrap().id
}

fn item() -> Kind {
    Kind::InfoReported(pb::InfoReported { title: "饮水安全".into(), body: "内容".into(), ..Default::default() })
}

#[tokio::test]
async fn views_change_with_the_commit_and_rebuild_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, appender, writer) = county_store(dir.path());
    let id = append_kind(&appender, item()).await;
    let info: pb::InfoItem = store.view(&id).unwrap().expect("the item's record");
    assert_eq!((info.status, info.known), (pb::InfoStatus::Submitted as i32, true));
    append_kind(&appender, Kind::InfoForwarded(pb::InfoForwarded { info_id: id.clone(), to: "张掖市政协".into() }))
        .await;
    let info: pb::InfoItem = store.view(&id).unwrap().unwrap();
    assert_eq!(info.status, pb::InfoStatus::Forwarded as i32);
    assert_eq!(info.trail.len(), 1);
    // A kind is never read as another.
    assert_eq!(store.view::<pb::Topic>(&id).unwrap(), None);

    let before = store.dump_views().unwrap();
    let stats = appender.rebuild_views().await.unwrap();
    assert_eq!(stats.events, 2);
    assert_eq!(store.dump_views().unwrap(), before);
    drop(appender);
    writer.join().unwrap();
}

#[tokio::test]
async fn a_store_with_views_of_another_version_rebuilds_them_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    let before;
    {
        let (store, _, appender, writer) = county_store(dir.path());
        id = append_kind(&appender, item()).await;
        before = store.dump_views().unwrap();
        // An older version's views: wrong records and an older mark.
        store.tree().insert(keys::view(RecordKind::Info, &id), &b"garbage"[..]).unwrap();
        // Version 1 keyed records by the id's text.
        let old_key = [&keys::view_prefix(RecordKind::Info)[..], id.as_bytes()].concat();
        store.tree().insert(old_key, &b"an old record"[..]).unwrap();
        store.tree().insert(keys::META_VIEWS, &0u64.to_be_bytes()[..]).unwrap();
        store.sync().unwrap();
        drop(appender);
        writer.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.rebuilt_on_open().is_some());
    assert_eq!(store.dump_views().unwrap(), before);
    let info: pb::InfoItem = store.view(&id).unwrap().unwrap();
    assert!(info.known);
}

/// The mark of the version that kept one number for the views (3: the
/// layout of blocks, the first folds) is read as it was meant: those folds
/// changed since (the id of a record must name its origin), so a node
/// upgraded from it rebuilds its views, as does one from before the
/// blocks. A mark of this version's folds and layout is kept. The new mark
/// reads as another version to the old code, which then rebuilds too: a
/// downgrade is safe.
#[tokio::test]
async fn the_views_mark_of_the_version_before_is_read_as_it_was_meant() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _, appender, writer) = county_store(dir.path());
        append_kind(&appender, item()).await;
        let mark = store.tree().get(keys::META_VIEWS).unwrap().unwrap();
        assert_eq!(mark.as_ref(), &StoredVersion::current().encode()[..]);
        assert_ne!(keys::be_u64(&mark), Some(3), "the version before must not take it for its own");
        store.tree().insert(keys::META_VIEWS, &3u64.to_be_bytes()[..]).unwrap();
        store.sync().unwrap();
        drop(appender);
        writer.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.rebuilt_on_open().map(|s| s.events), Some(1), "views of the first folds are rebuilt");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert!(store.rebuilt_on_open().is_none(), "the mark of this version names these views");
    store.tree().insert(keys::META_VIEWS, &2u64.to_be_bytes()[..]).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.rebuilt_on_open().map(|s| s.events), Some(1), "views of layout 2 are rebuilt");
}
