//! Tests of the store as a whole: a real sled on a temp dir, the real log
//! file, the writer's threads, and what a crash or a power cut leaves.
//! Pure parts are tested beside their code.

mod pipeline;
mod reads;
mod recovery;
mod views;

use crate::event::{StoredEvent, StreamHeadInfo};
use crate::log::Log;
use crate::{keys, open_sled, AppendFailure, Appended, Appender, Store};
use ed25519_dalek::SigningKey;
use linkage_core::validate::{validate_append, ValidAppend};
use linkage_core::{pb, NodeCode, Topology};
use std::os::unix::fs::FileExt;
use std::path::Path;

fn topology() -> Topology {
    Topology::from_toml(include_str!("../../../../deploy/topology/demo.toml")).unwrap()
}

fn request(title: &str) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: "up".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::InfoReported(pb::InfoReported {
                title: title.into(),
                body: "内容".into(),
                ..Default::default()
            })),
        }),
        ..Default::default()
    }
}

/// County 620722's append of `title` with idempotency key `key`.
fn keyed_request(title: &str, key: &str) -> ValidAppend {
    let request = pb::AppendRequest { idempotency_key: key.into(), ..request(title) };
    validate_append(&topology(), "620722".parse().unwrap(), request).unwrap()
}

/// A store in `dir` with the writer of county 620722 on it.
fn county_store(dir: &Path) -> (Store, NodeCode, Appender, std::thread::JoinHandle<()>) {
    let store = Store::open(dir).unwrap();
    let origin: NodeCode = "620722".parse().unwrap();
    let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    (store, origin, appender, thread)
}

async fn append(appender: &Appender, title: &str) -> Result<Vec<Appended>, AppendFailure> {
    let origin: NodeCode = "620722".parse().unwrap();
    appender.append(vec![validate_append(&topology(), origin, request(title)).unwrap()]).await
}

/// Where county 620722's next append of `title` on `channel` lands on
/// `store`, from a new writer: (position, seq).
async fn next_placed(store: &Store, channel: &str, title: &str) -> (u64, u64) {
    let origin: NodeCode = "620722".parse().unwrap();
    let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    let request = pb::AppendRequest { channel: channel.into(), ..request(title) };
    let next = appender.append(vec![validate_append(&topology(), origin, request).unwrap()]).await.unwrap();
    drop(appender);
    thread.join().unwrap();
    let event = <pb::Event as prost::Message>::decode(next[0].event.raw.as_ref()).unwrap();
    (next[0].event.position, event.seq)
}

/// Waits until the index thread has written `commits` commits.
async fn wait_for_derived(store: &Store, commits: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.derived_commits() < commits {
        assert!(std::time::Instant::now() < deadline, "the index thread did not get to commit {commits}");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Appends `n` keyed events to a store in `dir`, every other one with
/// the principal that asked for it, and returns what a reader sees: every
/// event (with its principal), the heads, the views, the clock.
async fn fill(dir: &Path, n: usize) -> (Vec<StoredEvent>, Vec<StreamHeadInfo>, String, u64) {
    let store = Store::open(dir).unwrap();
    let origin: NodeCode = "620722".parse().unwrap();
    let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    for i in 0..n {
        let mut r = request(&format!("事项 {i}"));
        r.idempotency_key = format!("key-{i}");
        let mut valid = validate_append(&topology(), origin, r).unwrap();
        valid.appended_by = (i % 2 == 0).then(|| format!("platform-{i}"));
        let appended = appender.append(vec![valid]).await.unwrap();
        assert_eq!(appended[0].event.appended_by, (i % 2 == 0).then(|| format!("platform-{i}")));
    }
    drop(appender);
    thread.join().unwrap();
    seen(&store)
}

fn seen(store: &Store) -> (Vec<StoredEvent>, Vec<StreamHeadInfo>, String, u64) {
    let events = store.read_positions(1, 1_000).unwrap();
    (events, store.heads().unwrap(), store.dump_views().unwrap(), store.hlc_last().unwrap())
}

/// What sled holds beside the log, as if a crash had taken back every
/// sled write: removes all derived keys straight from sled.
fn forget_sled(dir: &Path) {
    let db = open_sled(&sled::Config::new().path(dir)).unwrap();
    let tree = db.open_tree("log").unwrap();
    for key in tree.iter().keys() {
        let key = key.unwrap();
        if key.as_ref() != keys::META_HLC {
            tree.remove(key).unwrap();
        }
    }
    db.flush().unwrap();
}

/// Where the record of `position` lies in the log in `dir`, read from
/// the file alone: opening the store would check and sync what a test
/// is about to tear.
fn record_offset(dir: &Path, position: u64) -> u64 {
    let (log, _) = Log::open(dir).unwrap();
    let mut found = None;
    log.scan(Log::start(), |r| {
        if r.position == position {
            found = Some(r.offset);
        }
        Ok(())
    })
    .unwrap();
    found.expect("the record is in the log")
}

/// Breaks the record of `position` in the log in `dir`, as a power cut
/// during its fdatasync can: a block of it never written.
fn tear(dir: &Path, position: u64) {
    let offset = record_offset(dir, position);
    let log = std::fs::OpenOptions::new().write(true).open(dir.join(crate::log::FILE_NAME)).unwrap();
    log.write_all_at(&[0xff; 16], offset + 20).unwrap();
}

/// Three lone appends on `up`, then one commit of `up`, `up` and
/// `to:620700` (positions 4 to 6) whose middle record a power cut tore
/// while sled kept the commit's indexes and its mark.
async fn torn_commit(dir: &Path) {
    fill(dir, 3).await;
    let origin: NodeCode = "620722".parse().unwrap();
    let store = Store::open(dir).unwrap();
    let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    let job = [("up", "四"), ("up", "五"), ("to:620700", "六")]
        .into_iter()
        .map(|(channel, title)| {
            let key = format!("torn-{title}");
            let r = pb::AppendRequest { channel: channel.into(), idempotency_key: key, ..request(title) };
            validate_append(&topology(), origin, r).unwrap()
        })
        .collect();
    appender.append(job).await.unwrap();
    drop((appender, store));
    thread.join().unwrap();
    tear(dir, 5);
}

/// What a store opened over [`torn_commit`] must hold: the three lone
/// appends only, and streams that go on from them.
async fn assert_torn_commit_dropped(store: &Store) {
    let origin: NodeCode = "620722".parse().unwrap();
    assert_eq!(store.last_position(), 3, "the log ends before the torn commit, all of it");
    let positions: Vec<u64> = store.read_positions(1, 100).unwrap().iter().map(|e| e.position).collect();
    assert_eq!(positions, [1, 2, 3]);
    assert!(store.get_position(4).unwrap().is_none());
    let heads = store.all_heads().unwrap();
    assert_eq!(heads.get(&(origin, linkage_core::Channel::Up)).map(|h| h.seq), Some(3));
    let to_city: linkage_core::Channel = "to:620700".parse().unwrap();
    assert_eq!(heads.get(&(origin, to_city)), None, "no head for a stream whose events were lost");
    for title in ["四", "五", "六"] {
        assert!(store.key_record(&format!("torn-{title}")).unwrap().is_none(), "no key of a lost event");
    }
    assert_eq!(store.key_record("key-2").unwrap().map(|k| k.position), Some(3));
    // The next appends continue both streams without a gap.
    assert_eq!(next_placed(store, "to:620700", "之后").await, (4, 1));
    assert_eq!(next_placed(store, "up", "之后").await, (5, 4));
}
