//! The province's certificates, and the TLS every linkage listener and
//! client speaks.
//!
//! # Layout
//! - [`files`]: private files (keys), written 0600 and synced.
//! - [`principal`]: who a certificate names: [`Principal`], read from the
//!   subject's common name and checked.
//! - [`authority`]: the province's CA ([`Authority`]): signing requests
//!   made where a key lives ([`request`]), never keys made for others.
//! - [`tls`]: rustls configurations from PEM files: the one crypto
//!   provider ([`install_provider`]), a server that asks for client
//!   certificates of the province's CA, and PEM loading with errors that
//!   name the file.
//!
//! Architecture invariant: a private key is written only by the process
//! that will use it; the CA sees signing requests and public keys.

pub mod authority;
pub mod files;
pub mod principal;
pub mod tls;

pub use authority::{request, Authority, Validity};
pub use files::write_private;
pub use principal::Principal;
pub use tls::{install_provider, load_server_config, not_after, ServerFiles};
