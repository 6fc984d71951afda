//! Recovery on open: what a crash or a power cut leaves, replayed.

use super::*;

#[tokio::test]
async fn indexes_and_views_lost_by_sled_are_replayed_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path(), 12).await;
    forget_sled(dir.path());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(seen(&store), before);
    assert_eq!(store.last_position(), 12);
    // Idempotency records come back too: a retry finds its first answer.
    assert_eq!(store.key_record("key-3").unwrap().map(|k| k.position), Some(4));
    let origin: NodeCode = "620722".parse().unwrap();
    assert_eq!(store.read_stream(origin, "up", 5, 3).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(), [5, 6, 7]);
}

#[tokio::test]
async fn sled_holding_part_of_what_follows_its_mark_is_replayed_over() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path(), 9).await;
    {
        // Worse than a kill -9 can leave it: the mark lost, some of
        // what it covers there, some not (every other view block).
        let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
        let tree = db.open_tree("log").unwrap();
        tree.remove(keys::META_APPLIED).unwrap();
        let views: Vec<_> = tree.scan_prefix([keys::VIEW]).keys().map(Result::unwrap).collect();
        for key in views.iter().step_by(2) {
            tree.remove(key).unwrap();
        }
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(seen(&store), before);
    // Runs written by the commits and by the replay overlap; reads take each seq once.
    let origin: NodeCode = "620722".parse().unwrap();
    let seqs: Vec<u64> = store.read_stream(origin, "up", 1, 100).unwrap().iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    let positions: Vec<u64> = store.read_positions(1, 100).unwrap().iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn runs_sled_kept_past_its_mark_do_not_hide_the_replayed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path(), 9).await;
    // As a crash can leave it: every commit's runs are there, but the
    // mark says only the first three commits are.
    let (offset, len) = Store::open(dir.path()).unwrap().locate(3).unwrap().unwrap();
    {
        let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
        let tree = db.open_tree("log").unwrap();
        let mut mark = Vec::new();
        for n in [3, offset, offset + u64::from(len)] {
            mark.extend_from_slice(&n.to_be_bytes());
        }
        tree.insert(keys::META_APPLIED, mark).unwrap();
        // And of the commits after it, sled kept only the fifth's runs.
        let origin: NodeCode = "620722".parse().unwrap();
        for n in 6..=9 {
            tree.remove(keys::event(n)).unwrap();
            tree.remove(keys::stream(origin, "up", n)).unwrap();
        }
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(seen(&store), before);
    let origin: NodeCode = "620722".parse().unwrap();
    for from in 1..=9 {
        assert_eq!(store.get_position(from).unwrap().map(|e| e.position), Some(from));
        let seqs: Vec<u64> = store.read_stream(origin, "up", from, 100).unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (from..=9).collect::<Vec<_>>(), "from seq {from}");
    }
}

#[tokio::test]
async fn a_log_shorter_than_sled_replays_everything_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 10).await;
    // A power cut that kept sled's pages but not the log's last records.
    let log = std::fs::OpenOptions::new().write(true).open(dir.path().join(crate::log::FILE_NAME)).unwrap();
    let third_last = all.0[7].position;
    let cut = {
        let store = Store::open(dir.path()).unwrap();
        store.locate(third_last).unwrap().unwrap().0
    };
    log.set_len(cut).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_position(), 7);
    assert_eq!(store.heads().unwrap()[0].seq, 7);
    assert!(store.key_record("key-8").unwrap().is_none(), "no record of a lost event");
    assert_eq!(store.key_record("key-6").unwrap().map(|k| k.position), Some(7));
    let views = store.dump_views().unwrap();
    assert!(views.lines().count() == 7, "one item per event held:\n{views}");
    // And the next append takes position 8 and seq 8.
    assert_eq!(next_placed(&store, "up", "之后").await, (8, 8));
}

#[tokio::test]
async fn a_commit_torn_inside_is_dropped_whole_though_sled_holds_its_mark() {
    let dir = tempfile::tempdir().unwrap();
    torn_commit(dir.path()).await;
    assert_torn_commit_dropped(&Store::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn a_crash_while_replaying_the_whole_log_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    torn_commit(dir.path()).await;
    {
        // The open that found the torn commit began the replay and
        // died after dropping only some of what sled derived.
        let db = open_sled(&sled::Config::new().path(dir.path())).unwrap();
        let tree = db.open_tree("log").unwrap();
        tree.insert(keys::META_REDERIVE, &[][..]).unwrap();
        for prefix in [keys::EVENT, keys::STREAM, keys::ORIGIN, keys::ID] {
            for key in tree.scan_prefix([prefix]).keys() {
                tree.remove(key.unwrap()).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(!store.tree().contains_key(keys::META_REDERIVE).unwrap());
    assert_torn_commit_dropped(&store).await;
}

#[tokio::test]
async fn a_record_torn_among_the_last_commits_of_a_long_log_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let commits = crate::limits::RECHECKED_COMMITS + 6;
    fill(dir.path(), commits).await;
    // Torn well inside the commits checked again, before sled's mark.
    let torn = commits as u64 - 3;
    tear(dir.path(), torn);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.last_position(), torn - 1);
    assert_eq!(store.heads().unwrap()[0].seq, torn - 1);
    assert_eq!(store.read_positions(1, 1_000).unwrap().len() as u64, torn - 1);
    assert_eq!(next_placed(&store, "up", "之后").await, (torn, torn));
}

#[tokio::test]
async fn opening_checks_the_last_commits_again_once_and_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), crate::limits::RECHECKED_COMMITS + 36).await;
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replayed_on_open(), crate::limits::RECHECKED_COMMITS as u64, "the last commits, one record each");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replayed_on_open(), 0, "all synced when the store last opened");
    assert_eq!(next_placed(&store, "up", "之后").await.0, crate::limits::RECHECKED_COMMITS as u64 + 37);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replayed_on_open(), 1, "only the commit since");
    // A clean stop syncs, and marks it.
    next_placed(&store, "up", "之后").await;
    store.sync().unwrap();
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().replayed_on_open(), 0);
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_rest_served() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path(), 5).await;
    let path = dir.path().join(crate::log::FILE_NAME);
    let len = Log::open(dir.path()).unwrap().0.scan(Log::start(), |_| Ok(())).unwrap().offset;
    let log = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > len, "zeros are written ahead of the records");
    // Half a record where the zeros begin: a length and checksum, then
    // not enough body.
    log.write_all_at(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9], len).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(seen(&store), before);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "the torn record is cut off");
}
