//! Tests that span binaries: every test that starts real `linkage-node`,
//! `linkctl` or `nats-server` processes lives in this crate, beside the
//! repository's structural checks.
//!
//! # Layout
//! - `contract.rs`: every bad input's code and field; paging; subscribe.
//! - `ops.rs`: reflection, health, signals, `--help`, configuration errors,
//!   metrics.
//! - `crash.rs`, `disk_full.rs`, `fsync_strace.rs`: durability under kill
//!   -9, a full disk, and the order write → fdatasync → answer.
//! - `replication.rs`, `security.rs`, `gansu.rs`: whole topologies over a
//!   real nats-server: entitlement, outages, restore, permissions, forks,
//!   all 101 nodes of Gansu.
//! - `lies.rs`, `claims.rs`: peers that lie about what they sign or ask,
//!   and about what they hold, through a raw NATS client with a node's
//!   credentials ([`liar`]): what they make up is refused and counted.
//! - `documents.rs`: documents from a county to the province, resumed after
//!   a kill, a corrupt holder, entitlement, quotas ([`docs`]).
//! - `catch_up.rs`: a stream caught up from whoever holds it.
//! - `views_e2e.rs`, `views_queries.rs`, `views_cli.rs`: the views through
//!   the demo story, the query services and `linkctl`.
//! - `layers.rs`, `file_length.rs`: no import circle between the files of a
//!   crate, and no source file over [`structure::LINES_MAX`] lines unless
//!   `long_files.toml` names it with a reason ([`structure`]).
//!
//! The binaries come from `linkage_testkit::bin_dir()`, which builds them
//! on first use, so `cargo test -p linkage-tests` needs no prior build.
//! Slow variants run with `LINKAGE_LONG_TESTS=1` (`make test-long`).

pub mod docs;
pub mod liar;
pub mod structure;
