//! Figure 12: disk per stored event. A fresh store takes fixed-size
//! events (the fixture's ~300-byte 社情民意 item) through [`Appender`]
//! in-process, either one event per commit (a client's unary `Append`s)
//! or in commits of [`crate::batched::JOB_EVENTS`] (`AppendBatch`), once
//! as a county's store is created (sled's pages compressed) and once as a
//! city's or the province's (not; `compress_store`, decision 0064); the
//! store is then stopped cleanly (the writer joined, sled dropped and
//! flushed) and every file under its directory is counted by the blocks
//! it holds on disk, as `du` does: the event log with its 1 MiB of
//! preallocated zeros, and sled's files with whatever sled has not yet
//! reclaimed.
//!
//! *Baseline*: the bytes of the events themselves, exactly as signed.
//! The log alone (record headers and the preallocation) is printed beside
//! it, so that the table shows what sled adds. *Target*: everything on
//! disk at most [`DISK_RATIO_MAX`] × the event bytes.

use crate::report::{Row, Target};
use crate::scratch::Scratch;
use anyhow::Context;
use ed25519_dalek::SigningKey;
use linkage_core::validate::ValidAppend;
use linkage_core::NodeCode;
use linkage_store::{Appender, Store};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Everything on disk over the event bytes, at most.
pub const DISK_RATIO_MAX: f64 = 1.7;

/// Events of each run: enough that the log's 1 MiB of preallocation and
/// the sled segments still being filled are a few per cent. With 10,000
/// single appends they were a third of the county's figure (2.38× the
/// event bytes, against 1.64× at 60,000 and 1.56× at 102,400).
pub const EVENTS: usize = 102_400;

/// Wall time the single run may take at most, for a disk whose fdatasync
/// takes several ms (102,400 at 250 µs take 26 s): it stops early and
/// counts what it wrote.
pub const SINGLE_DURATION_MAX: Duration = Duration::from_secs(60);

/// What the rows' baseline is.
const BASELINE: &str = "disk: the stored events' own bytes, as signed";

/// A fixed key, as figure 1's.
const SIGNING_KEY_SEED: [u8; 32] = [9; 32];

/// One run's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Disk {
    /// Events stored.
    pub events: u64,
    /// Their bytes as signed.
    pub event_bytes: u64,
    /// The event log's blocks on disk.
    pub log_bytes: u64,
    /// Every file's blocks under the store's directory, the log included.
    pub total_bytes: u64,
}

/// The figure's four rows, each store in a directory of its own under
/// `run`, and a note of the log's share.
pub fn figures(
    runtime: &tokio::runtime::Runtime,
    run: &Scratch,
    origin: NodeCode,
    request: &ValidAppend,
) -> anyhow::Result<(Vec<Row>, String)> {
    let (mut rows, mut logs) = (Vec::new(), Vec::new());
    for (store, compress) in [("county", true), ("city, province", false)] {
        for (appends, per_commit, events) in [("single", 1, EVENTS), ("batched", crate::batched::JOB_EVENTS, EVENTS)] {
            let dir = run.child(&format!("disk-{appends}-{compress}"))?;
            let disk = runtime.block_on(measure(dir.path(), origin, request, compress, per_commit, events))?;
            let per_event = |bytes: u64| bytes as f64 / disk.events as f64;
            rows.push(Row::new(
                &format!("disk per event, {appends} appends, {store}"),
                "B",
                BASELINE,
                (per_event(disk.total_bytes), disk.events),
                (per_event(disk.event_bytes), disk.events),
                Target::BaselineTimesPlusAtMost { factor: DISK_RATIO_MAX, plus: 0.0 },
            ));
            logs.push(format!("{appends}, {store} {:.2}×", disk.log_bytes as f64 / disk.event_bytes as f64));
        }
    }
    let note = format!(
        "disk: everything on disk after a clean stop, du's blocks, {EVENTS} events a store (single appends \
         stop at {} s; the rows' counts say how many were stored); the event log alone (records and 1 MiB \
         preallocated) over the event bytes: {}",
        SINGLE_DURATION_MAX.as_secs(),
        logs.join(", ")
    );
    Ok((rows, note))
}

/// Stores `events` copies of `request`, `per_commit` to a commit, in a new
/// store in `dir` (sled's pages compressed when `compress`), stops it
/// cleanly and counts its files.
pub async fn measure(
    dir: &Path,
    origin: NodeCode,
    request: &ValidAppend,
    compress: bool,
    per_commit: usize,
    events: usize,
) -> anyhow::Result<Disk> {
    let store = Store::open_with(dir, linkage_store::CACHE_BYTES_DEFAULT, compress)
        .with_context(|| format!("opening a store in {}", dir.display()))?;
    let (appender, writer) = Appender::start(store, origin, SigningKey::from_bytes(&SIGNING_KEY_SEED))?;
    let job = vec![request.clone(); per_commit];
    let (mut stored, mut event_bytes) = (0u64, 0u64);
    let started = Instant::now();
    while (stored as usize) < events && (per_commit > 1 || started.elapsed() < SINGLE_DURATION_MAX) {
        for appended in appender.append(job.clone()).await? {
            stored += 1;
            event_bytes += appended.event.raw.len() as u64;
        }
    }
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    // sled's threads may still write a moment after the last handle is
    // dropped: count once the directory holds still.
    let total_bytes = settled_blocks(dir).await?;
    let log_bytes = blocks(&dir.join(linkage_store::log::FILE_NAME))?;
    Ok(Disk { events: stored, event_bytes, log_bytes, total_bytes })
}

/// How often, and how long at most, the directory is looked at until it
/// holds still after a store's stop.
const SETTLE_POLL: Duration = Duration::from_millis(50);
const SETTLE_MAX: Duration = Duration::from_secs(5);

/// [`tree_blocks`] of `dir` once two looks [`SETTLE_POLL`] apart agree,
/// or after [`SETTLE_MAX`].
async fn settled_blocks(dir: &Path) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut last = tree_blocks(dir)?;
    loop {
        tokio::time::sleep(SETTLE_POLL).await;
        let now = tree_blocks(dir)?;
        if now == last || started.elapsed() > SETTLE_MAX {
            return Ok(now);
        }
        last = now;
    }
}

/// Bytes of the blocks `path` holds on disk.
fn blocks(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.blocks() * 512)
}

/// Bytes of the blocks every file under `dir` holds on disk.
fn tree_blocks(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        total += if path.is_dir() { tree_blocks(&path)? } else { blocks(&path)? };
    }
    Ok(total)
}
