//! Figure 3, baseline: the latency of the cheapest durable append a
//! program can make, one small write and one fdatasync, on the same disk.

use crate::measure::Latencies;
use anyhow::Context;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes per write: about one encoded `AppendRequest` of the fixture.
pub const WRITE_BYTES: usize = 300;

/// Timed write + fdatasync pairs, as many as the append latency samples.
pub const SAMPLES: usize = 2_000;

/// Untimed pairs first, as on our side.
pub const WARMUP_WRITES: usize = 20;

/// Wall time the samples may take at most, for a disk whose fdatasync
/// takes 15 ms.
pub const DURATION_MAX: Duration = Duration::from_secs(30);

/// Appends [`WRITE_BYTES`] to a new file in `dir` and fdatasyncs it,
/// [`SAMPLES`] times, timing each pair. The file grows, as a log does, so
/// each fdatasync also persists the new length.
pub fn latencies(dir: &Path) -> anyhow::Result<Latencies> {
    let path = dir.join("fdatasync.log");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let record = [0x5a_u8; WRITE_BYTES];
    let mut append = || -> std::io::Result<Duration> {
        let started = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        Ok(started.elapsed())
    };
    for _ in 0..WARMUP_WRITES {
        append()?;
    }
    let limit = Instant::now() + DURATION_MAX;
    let mut samples = Vec::with_capacity(SAMPLES);
    while samples.len() < SAMPLES && Instant::now() < limit {
        samples.push(append()?);
    }
    Ok(Latencies::new(samples))
}
