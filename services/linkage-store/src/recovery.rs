//! Bringing sled up to the log when the store opens. sled is not synced per
//! commit, so a crash may take back its latest writes; a power cut may
//! even keep sled's pages and lose the log's. Recovery is a decision over
//! what the log and the indexes say ([`start_point`], [`decide`]: pure
//! functions) and then its execution ([`recover`]): replay the records
//! from the start point into sled (writing the same values again where
//! sled held them), or, when sled holds records the log lost, drop
//! everything derived and replay the whole log; cut a torn tail and the
//! preallocated zeros off; make the log durable; move the synced mark.

use crate::derive;
use crate::error::StoreError;
use crate::event::{WriteEvent, WriteSet};
use crate::index::Indexes;
use crate::keys;
use crate::limits::RECHECKED_COMMITS;
use crate::log::{Log, LogRecord, RecordAt, ScanEnd};
use crate::views;
use linkage_core::ledger::{Head, KeyRecord};

/// Records replayed into sled per batch when the store opens.
const REPLAY_CHUNK: usize = 1_024;

/// Where the records to check again start: after the applied mark's
/// [`RECHECKED_COMMITS`]-th last log-index run began (`recheck_run`: its
/// first position and offset, when there are that many), or just past the
/// synced mark when that is later; from the start without an applied mark.
/// `synced` must be a mark the log holds whole.
pub fn start_point(applied: Option<u64>, recheck_run: Option<(u64, u64)>, synced: Option<RecordAt>) -> ScanEnd {
    let Some(applied) = applied else { return Log::start() };
    let mut from = match recheck_run {
        Some((first, offset)) => ScanEnd { offset, position: first - 1 },
        None => Log::start(),
    };
    if let Some(synced) = synced.filter(|s| s.position <= applied) {
        if synced.position > from.position {
            from = ScanEnd { offset: synced.end, position: synced.position };
        }
    }
    from
}

/// What recovery found before writing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The last position sled's log index holds (0 for none).
    pub indexed_last: u64,
    /// Whether the log holds, whole, the last record sled indexed. A
    /// commit's log-index run is its first insert into sled, so sled
    /// holds something of a commit only if it holds that run: when the log
    /// holds the last run's records, it holds everything sled derived
    /// anything from.
    pub last_indexed_in_log: bool,
    /// A replay of the whole log began and did not finish.
    pub rederive_unfinished: bool,
    /// Where a scan of the log from the start point stopped (its last
    /// whole record), when it was worth scanning ([`worth_scanning`]).
    pub reach: Option<u64>,
}

/// Whether the log need be scanned to decide: not when the facts without
/// a scan already call for a replay of the whole log.
pub fn worth_scanning(last_indexed_in_log: bool, rederive_unfinished: bool) -> bool {
    last_indexed_in_log && !rederive_unfinished
}

/// What to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Drop everything derived and replay the whole log: sled holds records
    /// the log lost (a power cut), or an earlier such replay did not finish.
    Whole,
    /// Replay from here: sled holds nothing the log lacks.
    From(ScanEnd),
}

/// The decision: a replay from `from` must reach everything sled indexed,
/// or a record before that is torn and sled holds more than the log.
pub fn decide(facts: &Facts, from: ScanEnd) -> Replay {
    match facts.reach {
        Some(reach)
            if worth_scanning(facts.last_indexed_in_log, facts.rederive_unfinished) && reach >= facts.indexed_last =>
        {
            Replay::From(from)
        }
        _ => Replay::Whole,
    }
}

/// What recovery did.
pub struct Recovered {
    /// Just past the last whole record: the log's durable end.
    pub end: ScanEnd,
    /// Records checked and written into sled again.
    pub replayed: u64,
}

/// Brings sled up to the log; see the module documentation.
pub fn recover(log: &Log, indexes: &Indexes) -> Result<Recovered, StoreError> {
    let started = std::time::Instant::now();
    // Views of another version are rebuilt once the log is replayed (the
    // store does so when it opens); the replay cannot fold events into them.
    if !views::version::is_current(indexes.tree())? {
        indexes.clear_prefixes(&[keys::VIEW])?;
    }
    let last_run = indexes.last_run()?;
    let indexed_last = last_run.as_ref().map_or(0, |r| r.last);
    let last_indexed_in_log = match &last_run {
        None => true,
        Some(run) => run.last_record.is_some_and(|at| log.holds(&at)),
    };
    let applied = indexes.mark(keys::META_APPLIED)?.filter(|m| log.holds(m));
    let from = match &applied {
        Some(m) => {
            let run = indexes.nth_last_run_start(m.position, RECHECKED_COMMITS)?;
            let synced = indexes.mark(keys::META_SYNCED)?.filter(|s| log.holds(s));
            start_point(Some(m.position), run, synced)
        }
        None => Log::start(),
    };
    // Decide before writing to sled. What is decided on is made durable
    // first: sled's evidence for it (runs) is about to be rewritten, and a
    // power cut must not take back the log bytes the decision read.
    let rederive_unfinished = indexes.has(keys::META_REDERIVE)?;
    let reach = if worth_scanning(last_indexed_in_log, rederive_unfinished) {
        Some(log.scan(from, |_| Ok(()))?.position)
    } else {
        None
    };
    log.sync()?;
    let facts = Facts { indexed_last, last_indexed_in_log, rederive_unfinished, reach };
    let (end, replayed, marked) = match decide(&facts, from) {
        Replay::Whole => {
            tracing::warn!(
                log_ends_at = ?reach,
                indexed_up_to = indexed_last,
                unfinished = rederive_unfinished,
                "sled's indexes hold records the event log lost (a power cut), or an earlier replay of the \
                 whole log did not finish; replaying the whole log"
            );
            // sled keeps a prefix of its writes in order: a crash during
            // what follows leaves this mark, and the next open starts over.
            indexes.set_flag(keys::META_REDERIVE)?;
            indexes.clear_derived()?;
            let (end, replayed) = replay_log(log, indexes, Log::start())?;
            indexes.remove(keys::META_REDERIVE)?;
            (end, replayed, 0)
        }
        Replay::From(from) => {
            // Past `from` lie records to replay, or only preallocated zeros.
            if log.nonzero_after(from.offset)? {
                indexes.forget_runs_after(from.position)?;
            }
            let (end, replayed) = replay_log(log, indexes, from)?;
            (end, replayed, applied.map_or(0, |m| m.position))
        }
    };
    let file_len = log.file_len()?;
    if end.offset < file_len && log.nonzero_after(end.offset)? {
        tracing::warn!(bytes = file_len - end.offset, "cutting a torn tail off the event log");
    }
    // Preallocated zeros, or a torn tail among them.
    log.cut(end.offset)?;
    // What the log holds may not have been synced before a crash.
    log.sync()?;
    indexes.mark_synced(end.position)?;
    // Those up to the mark were only checked again: sled held them.
    let past_mark = end.position.saturating_sub(marked);
    if past_mark > 0 {
        tracing::info!(
            replayed = past_mark,
            rechecked = replayed.saturating_sub(past_mark),
            seconds = started.elapsed().as_secs_f64(),
            "replayed the log into the indexes"
        );
    }
    Ok(Recovered { end, replayed })
}

/// Replays every whole record of the log from `from` on into sled, and
/// returns where the records end and how many were replayed.
fn replay_log(log: &Log, indexes: &Indexes, from: ScanEnd) -> Result<(ScanEnd, u64), StoreError> {
    let mut chunk = Vec::with_capacity(REPLAY_CHUNK);
    let mut replayed = 0u64;
    let end = log.scan(from, |record| {
        chunk.push(record);
        if chunk.len() == REPLAY_CHUNK {
            replayed += chunk.len() as u64;
            replay(indexes, std::mem::take(&mut chunk))?;
        }
        Ok(())
    })?;
    replayed += chunk.len() as u64;
    replay(indexes, chunk)?;
    Ok((end, replayed))
}

/// Writes the indexes and views of records read back from the log.
fn replay(indexes: &Indexes, records: Vec<LogRecord>) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut set = WriteSet { hlc_last: indexes.hlc_last()?, ..WriteSet::default() };
    // The clock observes replayed events as the writer observed them: not
    // one stamped more than `hlc::SKEW_MAX_MS` ahead of the wall clock.
    let mut clock = linkage_core::hlc::HlcClock::starting_after(set.hlc_last);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut locations = Vec::with_capacity(records.len());
    for record in records {
        let p = linkage_core::verify::parse(&record.raw)
            .map_err(|e| StoreError::Corrupt(format!("event at position {} of the log: {e}", record.position)))?;
        locations.push((record.offset, record.len));
        set.heads.insert((p.origin, p.channel.clone()), Head { seq: p.seq, hash: p.hash });
        if let Some((key, digest)) = record.key {
            set.keys.insert(key, KeyRecord { digest, position: record.position });
        }
        clock.observe_within(p.hlc, now_ms);
        set.hlc_last = clock.last();
        set.events.push(WriteEvent {
            position: record.position,
            origin: p.origin,
            channel: p.channel.to_string(),
            seq: p.seq,
            id: p.id,
            raw: record.raw.into(),
            appended_by: record.appended_by,
            decoded: Some(p.event),
        });
    }
    derive::write_all(indexes, &set, &locations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(position: u64, offset: u64, end: u64) -> RecordAt {
        RecordAt { position, offset, end }
    }

    #[test]
    fn the_start_is_the_later_of_the_rechecked_runs_and_the_synced_mark() {
        assert_eq!(start_point(None, Some((5, 500)), Some(at(9, 900, 950))), Log::start());
        assert_eq!(start_point(Some(10), None, None), Log::start());
        assert_eq!(start_point(Some(10), Some((5, 500)), None), ScanEnd { offset: 500, position: 4 });
        assert_eq!(start_point(Some(10), Some((5, 500)), Some(at(9, 900, 950))), ScanEnd { offset: 950, position: 9 });
        assert_eq!(start_point(Some(10), Some((5, 500)), Some(at(3, 300, 350))), ScanEnd { offset: 500, position: 4 });
        // A synced mark past the applied one speaks of another log.
        assert_eq!(
            start_point(Some(10), Some((5, 500)), Some(at(11, 1100, 1150))),
            ScanEnd { offset: 500, position: 4 }
        );
    }

    #[test]
    fn the_whole_log_is_replayed_unless_the_scan_reaches_all_sled_indexed() {
        let from = ScanEnd { offset: 500, position: 4 };
        let facts = Facts { indexed_last: 10, last_indexed_in_log: true, rederive_unfinished: false, reach: Some(10) };
        assert_eq!(decide(&facts, from), Replay::From(from));
        assert_eq!(decide(&Facts { reach: Some(12), ..facts }, from), Replay::From(from));
        assert_eq!(
            decide(&Facts { reach: Some(9), ..facts }, from),
            Replay::Whole,
            "a record before sled's end is torn"
        );
        assert_eq!(decide(&Facts { reach: None, ..facts }, from), Replay::Whole);
        assert_eq!(decide(&Facts { last_indexed_in_log: false, ..facts }, from), Replay::Whole);
        assert_eq!(decide(&Facts { rederive_unfinished: true, ..facts }, from), Replay::Whole);
        assert!(!worth_scanning(false, false) && !worth_scanning(true, true) && worth_scanning(true, false));
    }
}
