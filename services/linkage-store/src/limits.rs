//! Limits more than one layer of the store depends on. Each layer keeps
//! its own limits; only those two layers must agree on live here, below
//! both, so that neither imports the other.

/// Commits the writer may have written ahead of the fdatasync that covers
/// them. The writer plans and writes commit N+1 while the syncer waits on
/// the disk for N; replies wait for their sync either way.
pub const COMMITS_IN_FLIGHT_MAX: usize = 4;

/// Log-index runs (one per commit the writer made) before sled's applied
/// mark whose records are checked and replayed again when the store opens,
/// unless the synced mark is later. sled may write a commit's indexes and
/// mark to disk before the log's fdatasync covers its records, and a power
/// cut during that fdatasync can lose a block in the middle of a commit
/// while its last record, which the mark points at, survives. The pipeline
/// keeps far fewer commits between being indexed and being synced (the
/// writer's queue to the index thread and the sync thread's queue, each a
/// few times [`COMMITS_IN_FLIGHT_MAX`]); replaying an event sled already
/// holds writes the same values again.
pub const RECHECKED_COMMITS: usize = 16 * COMMITS_IN_FLIGHT_MAX;
