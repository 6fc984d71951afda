//! Figure 3, baseline: the latency of the cheapest durable append a
//! program can make, one small write and one fdatasync, on the same disk.

use anyhow::Context;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes per write: about one encoded `AppendRequest` of the fixture.
pub const WRITE_BYTES: usize = 300;

/// Untimed pairs first, as on our side.
pub const WARMUP_WRITES: usize = 20;

/// A file in a scratch directory that grows by [`WRITE_BYTES`] and an
/// fdatasync at a time, as a log does, so each fdatasync also persists
/// the new length.
pub struct RawAppends {
    file: std::fs::File,
}

impl RawAppends {
    /// Creates the file in `dir` and makes [`WARMUP_WRITES`] untimed appends.
    pub fn create(dir: &Path) -> anyhow::Result<RawAppends> {
        let path = dir.join("fdatasync.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let mut raw = RawAppends { file };
        for _ in 0..WARMUP_WRITES {
            raw.append()?;
        }
        Ok(raw)
    }

    /// One timed write + fdatasync.
    pub fn append(&mut self) -> std::io::Result<Duration> {
        let started = Instant::now();
        self.file.write_all(&[0x5a_u8; WRITE_BYTES])?;
        self.file.sync_data()?;
        Ok(started.elapsed())
    }

    /// Up to `count` timed appends, stopping at `limit`.
    pub fn samples(&mut self, count: usize, limit: Instant) -> anyhow::Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(count);
        while samples.len() < count && Instant::now() < limit {
            samples.push(self.append()?);
        }
        Ok(samples)
    }
}
