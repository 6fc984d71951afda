//! Figure 1: batched durable appends per second.
//!
//! *Ours* ([`ours`]): [`Appender`] in-process takes sequential jobs of
//! [`JOB_EVENTS`] validated `InfoReported` events, each job waiting for the
//! one before. Per job the writer plans the events with the core ledger
//! (heads, seqs, hash chain, hlc) and signs them, appends their records to
//! the event log in one `pwrite` and answers after one `fdatasync` of the
//! log; meanwhile the writer writes the indexes, and the index thread the
//! view records, to sled.
//!
//! *Baseline* ([`raw_sled`]): bare sled doing the least a durable batch in
//! sled must do: per job one `sled::Batch` of [`JOB_EVENTS`] values of our
//! stored event's bytes under sequential keys, `apply_batch`, `flush`, and
//! one fdatasync of sled's data file. Both sides pay one fdatasync per job,
//! so the disk's cost cancels and the ratio shows our planning, signing,
//! indexing and views against sled's own batch and flush. The ratio passes
//! 1 when our log write and sync cost less than sled's batch and flush.
//!
//! *Target*: ratio ≥ 0.6 (`BATCHED_RATIO_MIN`).
//!
//! [`raw_sled`] is also figure 6's baseline, with jobs of one pull page.
//! [`single_latencies`] and [`pulled_pages`] are the store-only looks of
//! `LINKAGE_BENCH_STORE_ONLY=1`.

use crate::measure::Rate;
use anyhow::Context;
use ed25519_dalek::SigningKey;
use linkage_core::validate::ValidAppend;
use linkage_core::NodeCode;
use linkage_store::{Appender, Store};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// Events in one job: a client's `AppendBatch` of a day's worth of items,
/// and well under `BATCH_EVENTS_MAX`, so one job is one commit.
pub const JOB_EVENTS: usize = 256;

/// Wall time of one side of the figure; long enough for hundreds of
/// fdatasyncs on a disk that takes milliseconds each.
pub const RUN_DURATION_MAX: Duration = Duration::from_secs(3);

/// Jobs of one side at most, so that a disk whose fdatasync is nearly free
/// (a write-back cache that lies) cannot fill it: 512,000 events of a few
/// hundred bytes.
pub const RUN_JOBS_MAX: u64 = 2_000;

/// A fixed key: the figure measures writing, not key generation, and the
/// store is thrown away afterwards.
const SIGNING_KEY_SEED: [u8; 32] = [7; 32];

/// What our side measured.
pub struct Ours {
    /// Events made durable.
    pub rate: Rate,
    /// The stored bytes of one event, for the baseline to write values of
    /// the same size and content.
    pub sample_event: Vec<u8>,
}

/// Appends sequential jobs of `job` through [`Appender`] into a new store
/// in `dir`: plan, sign, one log write and one fdatasync per job, the
/// indexes and views written to sled beside them.
pub async fn ours(dir: &Path, origin: NodeCode, job: &[ValidAppend]) -> anyhow::Result<Ours> {
    assert_eq!(job.len(), JOB_EVENTS, "a job holds {JOB_EVENTS} events");
    let store = Store::open(dir).with_context(|| format!("opening a store in {}", dir.display()))?;
    let (appender, writer) = Appender::start(store, origin, SigningKey::from_bytes(&SIGNING_KEY_SEED))?;
    // One job before the clock starts: it opens the stream's head and
    // yields a stored event for the baseline. One from the middle of the
    // job is typical: it has a previous hash, and only the last event of a
    // commit carries the signature.
    let first = appender.append(job.to_vec()).await?;
    let sample_event = first.get(JOB_EVENTS / 2).context("the writer answered too few events")?.event.raw.to_vec();

    let started = Instant::now();
    let mut jobs = 0;
    while jobs < RUN_JOBS_MAX && started.elapsed() < RUN_DURATION_MAX {
        let appended = appender.append(job.to_vec()).await?;
        assert_eq!(appended.len(), JOB_EVENTS, "one answer per event");
        jobs += 1;
    }
    let rate = Rate { ops: jobs * JOB_EVENTS as u64, elapsed: started.elapsed() };

    // The writer stops once the last handle is gone; wait for it so that
    // the store is closed before its directory is removed.
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    Ok(Ours { rate, sample_event })
}

/// The same shape of work on bare sled: per job one `sled::Batch` of
/// `job_events` inserts of `value` under sequential big-endian keys,
/// `apply_batch`, `flush` and one fdatasync of sled's data file; up to
/// `jobs_max` jobs or `duration_max`. Figure 1 uses [`JOB_EVENTS`]; figure
/// 6 the events of one pull page.
pub fn raw_sled(
    dir: &Path,
    value: &[u8],
    job_events: usize,
    jobs_max: u64,
    duration_max: Duration,
) -> anyhow::Result<Rate> {
    let db = sled::Config::new().path(dir).open().with_context(|| format!("opening sled in {}", dir.display()))?;
    let tree = db.open_tree("log")?;
    // As a store kept in sled would: persist sled's files once, then keep
    // the data file open for the per-batch fdatasync.
    db.flush()?;
    let data_file = File::open(dir.join("db"))?;
    data_file.sync_all()?;

    let mut key: u64 = 0;
    let mut write_job = || -> anyhow::Result<()> {
        let mut batch = sled::Batch::default();
        for _ in 0..job_events {
            key += 1;
            batch.insert(&key.to_be_bytes()[..], value);
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        data_file.sync_data()?;
        Ok(())
    };
    // One job before the clock starts, as on our side.
    write_job()?;

    let started = Instant::now();
    let mut jobs = 0;
    while jobs < jobs_max && started.elapsed() < duration_max {
        write_job()?;
        jobs += 1;
    }
    Ok(Rate { ops: jobs * job_events as u64, elapsed: started.elapsed() })
}

/// Latency p50 and p99 (µs) of single appends to a store, one after the
/// other: the store's share of a unary append's latency, without gRPC.
pub async fn single_latencies(dir: &Path, origin: NodeCode, request: &ValidAppend) -> anyhow::Result<(u64, u64)> {
    let store = Store::open(dir).with_context(|| format!("opening a store in {}", dir.display()))?;
    let (appender, writer) = Appender::start(store, origin, SigningKey::from_bytes(&SIGNING_KEY_SEED))?;
    let mut micros = Vec::with_capacity(RUN_JOBS_MAX as usize);
    let started = Instant::now();
    while (micros.len() as u64) < RUN_JOBS_MAX && started.elapsed() < RUN_DURATION_MAX {
        let one = Instant::now();
        appender.append(vec![request.clone()]).await?;
        micros.push(one.elapsed().as_micros() as u64);
    }
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    Ok((at(0.5), at(0.99)))
}

/// Events a store-only look at applying pulled pages moves.
pub const PULLED_EVENTS: usize = 200_000;

/// Events per pulled page, as the replicator asks for.
const PULLED_PAGE: usize = 1_024;

/// Applying pulled pages to a store, without NATS: `origin` appends
/// [`PULLED_EVENTS`] events to a store in `from_dir`; they are read back
/// in pages, verified (hash chain and signature) and applied to a fresh
/// store in `to_dir` with one page in flight while the next is verified,
/// as a catching-up node does. Returns the rate of the verify-and-apply part.
pub async fn pulled_pages(
    from_dir: &Path,
    to_dir: &Path,
    origin: NodeCode,
    job: &[ValidAppend],
) -> anyhow::Result<Rate> {
    let source = Store::open(from_dir)?;
    let key = SigningKey::from_bytes(&SIGNING_KEY_SEED);
    let public = key.verifying_key();
    let (appender, writer) = Appender::start(source.clone(), origin, key)?;
    let mut written = 0;
    while written < PULLED_EVENTS {
        written += appender.append(job.to_vec()).await?.len();
    }
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    let mut pages = Vec::new();
    let mut from = 1;
    loop {
        let page: Vec<bytes::Bytes> = source
            .read_stream(origin, "up", from, PULLED_PAGE)?
            .into_iter()
            .map(|(_, e)| bytes::Bytes::from_owner(e.raw))
            .collect();
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        pages.push(page);
    }
    let target = Store::open(to_dir)?;
    let (appender, writer) = Appender::start(target, "620700".parse()?, SigningKey::from_bytes(&[3; 32]))?;
    let started = Instant::now();
    let mut in_flight = None;
    let mut applied = 0;
    for page in pages {
        let parsed = linkage_core::verify::verify_run(&page, &public)?;
        let run = parsed.into_iter().zip(page).collect();
        let answer = appender.enqueue_apply(vec![run]).await.map_err(anyhow::Error::msg)?;
        if let Some(previous) = in_flight.replace(answer) {
            applied += previous.await?.map_err(anyhow::Error::msg)?.applied;
        }
    }
    if let Some(last) = in_flight {
        applied += last.await?.map_err(anyhow::Error::msg)?.applied;
    }
    let rate = Rate { ops: applied as u64, elapsed: started.elapsed() };
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    anyhow::ensure!(applied == written, "applied {applied} of {written} events");
    Ok(rate)
}
