//! rustls configurations from PEM files.
//!
//! One crypto provider (ring, which async-nats already brings) is
//! installed as the process default at start ([`install_provider`]), so
//! that tonic, async-nats and our own listeners agree.

use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Installs ring as the process's rustls crypto provider; harmless when
/// one is installed already.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The files a listener serves TLS with.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerFiles {
    /// This node's certificate (PEM), signed by the province's CA.
    pub cert: PathBuf,
    /// Its private key (PEM), made where the node runs.
    pub key: PathBuf,
    /// The province's CA certificate (PEM): clients must present a
    /// certificate it signed.
    pub client_ca: PathBuf,
}

/// Every certificate in a PEM file; an error names the file.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM certificates", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// When the first certificate in a PEM file expires (`not_after`, Unix
/// seconds): what the expiry alert watches.
pub fn not_after(path: &Path) -> anyhow::Result<i64> {
    let certs = read_certs(path)?;
    let (_, cert) = x509_parser::parse_x509_certificate(certs[0].as_ref())
        .map_err(|e| anyhow::anyhow!("{}: the certificate cannot be parsed: {e}", path.display()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// The private key in a PEM file; an error names the file.
pub fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).with_context(|| format!("{} holds no PEM private key", path.display()))
}

/// A server configuration that presents `files.cert` and asks every
/// client for a certificate signed by `files.client_ca`: a client may
/// connect without one (health probes do; every other call is then
/// refused as unauthenticated), but a certificate from another CA, or
/// outside its dates, fails the handshake. `alpn`: the protocols served
/// (`h2` for gRPC, `http/1.1` for `/metrics`).
pub fn load_server_config(files: &ServerFiles, alpn: &[&[u8]]) -> anyhow::Result<Arc<ServerConfig>> {
    install_provider();
    let mut roots = RootCertStore::empty();
    for ca in read_certs(&files.client_ca)? {
        roots.add(ca).with_context(|| format!("{} is not a usable CA certificate", files.client_ca.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(&files.cert)?, read_key(&files.key)?)
        .with_context(|| {
            format!("{} and {} do not make a certificate and its key", files.cert.display(), files.key.display())
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
