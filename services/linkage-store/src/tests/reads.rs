//! Reads: of the latest events from memory, and of remote events by id.

use super::*;

#[tokio::test]
async fn reads_of_the_latest_events_from_memory_equal_reads_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let origin: NodeCode = "620722".parse().unwrap();
    let read_all = |store: &Store| {
        let all: Vec<_> = (1..=4).flat_map(|from| store.read_positions(from, 2).unwrap()).collect();
        all.into_iter().map(|e| (e.position, e.raw.to_vec())).collect::<Vec<_>>()
    };
    let from_memory = {
        let store = Store::open(dir.path()).unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        for title in ["一", "二", "三", "四"] {
            append(&appender, title).await.unwrap();
        }
        assert_eq!(store.recent_held(), 4);
        drop(appender);
        thread.join().unwrap();
        read_all(&store)
    };
    let store = Store::open(dir.path()).unwrap();
    assert!(store.recent_held() == 0);
    assert_eq!(from_memory.len(), 7);
    assert_eq!(from_memory, read_all(&store));
}

#[tokio::test]
async fn the_latest_events_are_read_from_memory_not_from_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, appender, _thread) = county_store(dir.path());
    let mut appended = Vec::new();
    for title in ["一", "二", "三"] {
        appended.extend(append(&appender, title).await.unwrap().into_iter().map(|a| a.event.raw.to_vec()));
    }
    // The records on disk are gone; reads of what just became durable
    // do not notice.
    let log = std::fs::OpenOptions::new().write(true).open(dir.path().join(crate::log::FILE_NAME)).unwrap();
    let written = log.metadata().unwrap().len() - crate::log::MAGIC.len() as u64;
    log.write_all_at(&vec![0; written as usize], crate::log::MAGIC.len() as u64).unwrap();
    let read: Vec<Vec<u8>> = store.read_positions(1, 10).unwrap().into_iter().map(|e| e.raw.to_vec()).collect();
    assert_eq!(read, appended);
}

#[tokio::test]
async fn remote_events_are_found_by_id_through_their_origin_positions() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let origin: NodeCode = "620722".parse().unwrap();
    let source = Store::open(from.path()).unwrap();
    let (appender, _thread) = Appender::start(source.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    // Two streams whose origin positions interleave, three per commit.
    for commit in 0..6 {
        let channel = if commit % 2 == 0 { "up" } else { "all" };
        let job = (0..3)
            .map(|i| {
                let request = pb::AppendRequest { channel: channel.into(), ..request(&format!("{commit}-{i}")) };
                validate_append(&topology(), origin, request).unwrap()
            })
            .collect();
        appender.append(job).await.unwrap();
    }
    let events = source.read_positions(1, 100).unwrap();
    assert_eq!(events.len(), 18);

    let reopened = {
        let target = Store::open(to.path()).unwrap();
        let (appender, thread) =
            Appender::start(target.clone(), "620000".parse().unwrap(), SigningKey::from_bytes(&[9; 32])).unwrap();
        // Each stream (nine events) in three pages, the last two in one commit.
        for (from, count) in [(1, 4), (5, 3)] {
            for channel in ["up", "all"] {
                let page = source.read_stream(origin, channel, from, count).unwrap();
                let run = page
                    .into_iter()
                    .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
                    .collect();
                assert_eq!(appender.apply(vec![run]).await.unwrap().applied, count);
            }
        }
        let run = ["up", "all"]
            .into_iter()
            .flat_map(|channel| source.read_stream(origin, channel, 8, 2).unwrap())
            .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
            .collect::<Vec<_>>();
        let (up, all) = run.split_at(run.len() / 2);
        assert_eq!(appender.apply(vec![up.to_vec(), all.to_vec()]).await.unwrap().applied, run.len());
        for event in &events {
            let id = linkage_core::verify::parse(&event.raw).unwrap().id;
            let found = target.get_by_id(&id).unwrap().unwrap_or_else(|| panic!("event {}", event.position));
            assert_eq!(found.raw, event.raw);
        }
        // No event needed an entry of its own.
        assert_eq!(target.tree().scan_prefix([keys::ID]).count(), 0);
        let unknown = linkage_core::ids::event_id(origin, 1 << 20, 99);
        assert_eq!(target.get_by_id(&unknown).unwrap(), None);
        drop(appender);
        thread.join().unwrap();
        // As after a crash that lost the mark: everything is replayed.
        target.tree().remove(keys::META_APPLIED).unwrap();
        to.path().to_path_buf()
    };
    let target = Store::open(&reopened).unwrap();
    for event in &events {
        let id = linkage_core::verify::parse(&event.raw).unwrap().id;
        assert_eq!(target.get_by_id(&id).unwrap().map(|e| e.raw), Some(event.raw.clone()));
    }
}

#[tokio::test]
async fn reopening_keeps_events_heads_and_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let origin: NodeCode = "620722".parse().unwrap();
    let hlc_before;
    {
        let store = Store::open(dir.path()).unwrap();
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        for i in 0..5 {
            append(&appender, &format!("事项 {i}")).await.unwrap();
        }
        hlc_before = store.hlc_last().unwrap();
        drop(appender);
        thread.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_position(), 5);
    assert_eq!(store.hlc_last().unwrap(), hlc_before);
    let heads = store.all_heads().unwrap();
    assert_eq!(heads.get(&(origin, linkage_core::Channel::Up)).map(|h| h.seq), Some(5));
    let (appender, _thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
    let next = append(&appender, "重启后").await.unwrap();
    let event = <pb::Event as prost::Message>::decode(next[0].event.raw.as_ref()).unwrap();
    assert_eq!((next[0].event.position, event.seq), (6, 6));
    assert!(event.hlc > hlc_before);
    assert_eq!(store.read_stream(origin, "up", 4, 10).unwrap().len(), 3);
}

/// A store keeps the compression it was created with: sled cannot change
/// it, so asking for the other on reopening opens it as it is, with every
/// event and view record as before, and views folded again from the log
/// equal them.
#[tokio::test]
async fn a_store_keeps_the_compression_it_was_created_with() {
    let origin: NodeCode = "620722".parse().unwrap();
    for created_compressed in [false, true] {
        let mut dumps = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), crate::CACHE_BYTES_DEFAULT, created_compressed).unwrap();
        assert_eq!(store.compressed(), created_compressed);
        let (appender, thread) = Appender::start(store.clone(), origin, SigningKey::from_bytes(&[1; 32])).unwrap();
        for title in ["一", "二", "三"] {
            append(&appender, title).await.unwrap();
        }
        drop((appender, store));
        thread.join().unwrap();
        for asked in [!created_compressed, created_compressed] {
            let store = Store::open_with(dir.path(), crate::CACHE_BYTES_DEFAULT, asked).unwrap();
            assert_eq!(store.compressed(), created_compressed, "asked for {asked}");
            assert_eq!(store.read_positions(1, 10).unwrap().len(), 3);
            dumps.push(store.dump_views().unwrap());
        }
        // Parameters lost beside sled data: refused, naming the way out.
        let conf = std::fs::read(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf"), b"").unwrap();
        let refused = Store::open_with(dir.path(), crate::CACHE_BYTES_DEFAULT, created_compressed).err().unwrap();
        assert!(refused.to_string().contains("is missing or empty"), "{refused}");
        std::fs::write(dir.path().join("conf"), conf).unwrap();
        Store::forget_views(dir.path()).unwrap();
        let store = Store::open_with(dir.path(), crate::CACHE_BYTES_DEFAULT, !created_compressed).unwrap();
        assert!(store.rebuilt_on_open().is_some(), "views folded again from the log");
        dumps.push(store.dump_views().unwrap());
        assert!(dumps.windows(2).all(|w| w[0] == w[1]), "one set of view records");
    }
}
