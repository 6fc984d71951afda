//! [`Stats`]: what happened in a run, and what the check found; and
//! [`trace`], the replay's log.

use bytes::Bytes;
use linkage_core::replica::StreamKey;
use linkage_core::NodeCode;
use std::collections::{BTreeMap, BTreeSet};

/// What happened in a run, and what `check` found.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every version of every event an origin made: (stream, seq) → bytes.
    pub created: BTreeMap<(StreamKey, u64), Vec<Bytes>>,
    /// Own events synced (acknowledged) per stream, highest seq.
    pub acked: BTreeMap<StreamKey, u64>,
    /// Lies told, by kind.
    pub lies: BTreeMap<&'static str, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Claims ignored, by reason.
    pub ignored: BTreeMap<&'static str, u64>,
    /// Remote runs refused.
    pub rejected: u64,
    /// Of those, re-encodings.
    pub re_encodings_refused: u64,
    /// Of those, signed by a retired key past its seqs (a stolen key).
    pub retired_key_refused: u64,
    /// Fork evidence recorded.
    pub forks: u64,
    /// Pull requests sent, by the node asked.
    pub pulls_to: BTreeMap<NodeCode, u64>,
    /// Restores finished.
    pub restores_finished: u64,
    /// The longest restore, in virtual ms, by whether the store was lost.
    pub restore_longest_ms: BTreeMap<bool, u64>,
    /// Streams where a wiped node may legitimately fork: every node holding
    /// more of it was silent through the restore.
    pub excused: BTreeSet<StreamKey>,
    /// Invariants broken.
    pub violations: Vec<String>,
}

/// Prints a line when `LINKAGE_SIM_TRACE` is set (replaying one seed).
pub fn trace(line: impl FnOnce() -> String) {
    if std::env::var_os("LINKAGE_SIM_TRACE").is_some() {
        eprintln!("{}", line());
    }
}
