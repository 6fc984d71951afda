//! The linkage node: one committee's durable log, served over gRPC.
//!
//! # Layout
//! - [`config`]: the TOML file, `LINKAGE_*` environment and flags, merged.
//! - [`identity`]: the node's ed25519 key, created on first start.
//! - [`access`]: who may call what: principals from client certificates,
//!   roles from the allow-list, checked on every request.
//! - [`listen`]: TCP and TLS listeners; certificates swapped on SIGHUP.
//! - [`convert`]: typed errors and stored bytes to gRPC statuses and messages.
//! - [`event_log`]: `linkage.v1.EventLogService` — thin handlers over the
//!   core's validation and the store's appender.
//! - [`admin`] serves `linkage.v1.AdminService`.
//! - [`documents`]: `linkage.v1.DocumentService` (documents in before the
//!   events that refer to them, and out), and the append-side check.
//! - [`views`]: the four query services over the stored views.
//! - [`metrics`]: Prometheus `/metrics` over a minimal HTTP listener.
//! - [`server`]: wires the services, health and reflection together, and
//!   shuts down in order on SIGTERM.
//!
//! Architecture invariant: only this crate knows tonic. Handlers validate
//! with `linkage-core`, send the work to the store's single writer, and map
//! the typed answer to a status that names the offending field.

pub mod access;
pub mod admin;
pub mod config;
pub mod convert;
pub mod documents;
pub mod event_log;
pub mod identity;
pub mod listen;
pub mod member_keys;
pub mod metrics;
pub mod paging;
pub mod server;
pub mod signed;
pub mod views;
