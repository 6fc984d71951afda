//! The writer's pipeline: answers in commit order, failures, remote runs.

use super::*;
use crate::RemoteRun;
use crate::StoreError;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_retry_is_answered_only_once_the_event_that_answers_it_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, appender, _thread) = county_store(dir.path());
    let keyed = |title: &str, key: &str| vec![keyed_request(title, key)];
    // A slow disk holds the sync of commit 1 while commit 2 (a new
    // event) and commit 3 (a retry of its key, no event, no sync of its
    // own) are written and indexed: the sync thread then finds all three
    // at once, commit 2 still waiting for its sync.
    store.log().hold_syncs.store(true, Ordering::Release);
    let first = tokio::spawn({
        let (appender, job) = (appender.clone(), keyed("一", "k1"));
        async move { appender.append(job).await }
    });
    wait_for_derived(&store, 1).await;
    let original = tokio::spawn({
        let (appender, job) = (appender.clone(), keyed("二", "k2"));
        async move { appender.append(job).await }
    });
    wait_for_derived(&store, 2).await;
    let retry = tokio::spawn({
        let (appender, job) = (appender.clone(), keyed("二", "k2"));
        async move { appender.append(job).await }
    });
    wait_for_derived(&store, 3).await;
    store.log().hold_syncs.store(false, Ordering::Release);
    first.await.unwrap().unwrap();
    let original = original.await.unwrap().unwrap();
    let retry = retry.await.unwrap().expect("the retry is answered with the first event, once durable");
    assert!(retry[0].deduplicated);
    assert_eq!(retry[0].event.position, original[0].event.position);
    assert_eq!(retry[0].event.raw, original[0].event.raw);
}

#[tokio::test]
async fn an_appended_event_comes_back_decoded_exactly_as_its_bytes_decode() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, appender, _thread) = county_store(dir.path());
    // One commit: two unsigned events, then a signed one, then a retry
    // of the first key, which the first event answers.
    let batch = ["一", "二", "三", "一"].iter().zip(["k1", "k2", "k3", "k1"]);
    let batch = batch.map(|(title, key)| keyed_request(title, key)).collect();
    let appended = appender.append(batch).await.unwrap();
    assert_eq!(appended.len(), 4);
    for (i, a) in appended.iter().enumerate() {
        let from_bytes = <pb::Event as prost::Message>::decode(a.event.raw.as_ref()).unwrap();
        match &a.decoded {
            Some(decoded) => assert_eq!(decoded, &from_bytes, "request {i}"),
            None => assert_eq!(i, 3, "only the retry in the same commit may come without its decoding"),
        }
        assert_eq!(from_bytes.signature.is_empty(), i != 2, "request {i}: only the last event is signed");
    }
    assert_eq!(appended[3].event.position, appended[0].event.position);
}

#[tokio::test]
async fn a_failed_sync_refuses_writes_and_keeps_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, appender, _thread) = county_store(dir.path());
    append(&appender, "一").await.unwrap();
    store.log().fail_next_sync.store(true, Ordering::Release);
    let failed = append(&appender, "二").await.unwrap_err();
    assert!(matches!(failed, AppendFailure::Unavailable(_)), "{failed:?}");
    assert!(!store.writable());
    // Nothing unacknowledged is served; what was durable still is.
    assert_eq!(store.last_position(), 1);
    assert_eq!(store.read_positions(1, 10).unwrap().len(), 1);
    // Later appends are refused too, not silently lost.
    assert!(matches!(append(&appender, "三").await, Err(AppendFailure::Unavailable(_))));
    // The views may hold the refused event: they are not served, and
    // neither is a rebuild run.
    let views = store.scan_views("", |_: pb::InfoItem| true);
    assert!(matches!(views, Err(StoreError::Poisoned(_))), "{views:?}");
    assert!(appender.rebuild_views().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_under_load_fails_what_it_did_not_cover() {
    // Big jobs from many clients take the pipelined path: the syncer
    // syncs while the indexer writes views. A sync failing midway must
    // fail every commit it did not cover, hang none, and serve only
    // what was acknowledged.
    let dir = tempfile::tempdir().unwrap();
    let (store, origin, appender, _thread) = county_store(dir.path());
    let topology = topology();
    let job = |client: usize, round: usize| -> Vec<ValidAppend> {
        (0..64)
            .map(|i| validate_append(&topology, origin, request(&format!("{client}-{round}-{i}"))).unwrap())
            .collect()
    };
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let appender = appender.clone();
            let jobs: Vec<_> = (0..20).map(|round| job(client, round)).collect();
            let store = store.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for (round, job) in jobs.into_iter().enumerate() {
                    if client == 0 && round == 10 {
                        store.log().fail_next_sync.store(true, Ordering::Release);
                    }
                    match appender.append(job).await {
                        Ok(done) => acknowledged.extend(done.into_iter().map(|a| a.event.position)),
                        Err(AppendFailure::Unavailable(_)) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for client in clients {
        let answered = tokio::time::timeout(std::time::Duration::from_secs(60), client).await;
        acknowledged.extend(answered.expect("every append is answered").unwrap());
    }
    assert!(!store.writable());
    acknowledged.sort_unstable();
    let served: Vec<u64> = store.read_positions(1, 100_000).unwrap().iter().map(|e| e.position).collect();
    assert_eq!(served, acknowledged, "readers see exactly what was acknowledged");
    assert_eq!(store.last_position(), acknowledged.last().copied().unwrap_or(0));
}

#[tokio::test]
async fn a_run_beyond_a_gap_is_handed_back_and_lands_once_the_gap_is_filled() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (source, origin, appender, _thread) = county_store(from.path());
    for title in ["一", "二", "三", "四", "五"] {
        append(&appender, title).await.unwrap();
    }
    let run = |from: u64, count: usize| -> RemoteRun {
        let page = source.read_stream(origin, "up", from, count).unwrap();
        page.into_iter()
            .map(|(_, e)| (linkage_core::verify::parse(&e.raw).unwrap(), bytes::Bytes::from_owner(e.raw)))
            .collect()
    };
    let target = Store::open(to.path()).unwrap();
    let (appender, _thread) =
        Appender::start(target.clone(), "620000".parse().unwrap(), SigningKey::from_bytes(&[9; 32])).unwrap();
    // Seqs 3 to 5 before 1 and 2: nothing lands, all of it comes back.
    let beyond = appender.apply(vec![run(3, 3)]).await.unwrap();
    assert_eq!((beyond.applied, beyond.gaps), (0, 3));
    assert_eq!(beyond.waiting, vec![run(3, 3)]);
    // Seqs 1 to 4: two land, and the part past the new gap comes back.
    let partly = appender.apply(vec![run(1, 2), run(4, 1)]).await.unwrap();
    assert_eq!((partly.applied, partly.gaps, partly.waiting), (2, 1, vec![run(4, 1)]));
    let filled = appender.apply(beyond.waiting).await.unwrap();
    assert_eq!((filled.applied, filled.gaps, filled.waiting.len()), (3, 0, 0));
    assert_eq!(target.head(origin, "up").unwrap().map(|h| h.seq), Some(5));
}

#[tokio::test]
async fn a_principal_longer_than_the_log_keeps_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, origin, appender, _thread) = county_store(dir.path());
    let mut valid = validate_append(&topology(), origin, request("太长")).unwrap();
    valid.appended_by = Some("p".repeat(crate::log::APPENDED_BY_BYTES_MAX + 1));
    match appender.append(vec![valid]).await {
        Err(AppendFailure::Rejected { index: 0, error }) => {
            assert!(error.to_string().contains("appended_by"), "{error}")
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(store.last_position(), 0);
    // The longest it keeps is written and read back whole.
    let mut valid = validate_append(&topology(), origin, request("正好")).unwrap();
    let longest = "p".repeat(crate::log::APPENDED_BY_BYTES_MAX);
    valid.appended_by = Some(longest.clone());
    appender.append(vec![valid]).await.unwrap();
    assert_eq!(store.get_position(1).unwrap().unwrap().appended_by, Some(longest));
}
