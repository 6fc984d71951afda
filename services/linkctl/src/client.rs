//! Reaching a node: one place that turns `--addr` and the TLS flags into
//! a connection, with errors that say which flag was wrong or which node
//! did not answer.

use anyhow::Context;
use std::path::PathBuf;
use std::sync::OnceLock;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// The TLS flags, set once at start.
static TLS: OnceLock<Option<ClientTlsConfig>> = OnceLock::new();

/// The client's TLS: the CA that signed the nodes' certificates, and this
/// caller's certificate and key (its principal).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// The province's CA certificate (PEM) that node certificates chain to
    #[arg(long, global = true, env = "LINKCTL_CA")]
    pub ca: Option<PathBuf>,
    /// Your client certificate (PEM), naming your principal
    #[arg(long, global = true, env = "LINKCTL_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM)
    #[arg(long, global = true, env = "LINKCTL_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// Reads the TLS flags once; later calls change nothing.
pub fn configure(args: &TlsArgs) -> anyhow::Result<()> {
    let tls = match &args.ca {
        None => None,
        Some(ca) => {
            let identity = args.cert.as_deref().zip(args.key.as_deref());
            Some(linkage_testkit::pki::client_tls(ca, identity).context("--ca, --cert, --key")?)
        }
    };
    let _ = TLS.set(tls);
    Ok(())
}

/// The TLS configured by the flags, if any.
pub fn tls() -> Option<&'static ClientTlsConfig> {
    TLS.get().and_then(Option::as_ref)
}

/// An endpoint for `addr` (`https://host:port` or, for a plaintext
/// loopback node, `http://host:port`), with the TLS flags.
pub fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    let endpoint = Endpoint::from_shared(addr.to_owned())
        .with_context(|| format!("--addr {addr} is not a URL like https://127.0.0.1:7700"))?;
    if addr.starts_with("https://") {
        let tls = tls().with_context(|| format!("{addr} is https: give the CA with --ca (LINKCTL_CA)"))?;
        return Ok(endpoint.tls_config(tls.clone())?);
    }
    Ok(endpoint)
}

/// A connection to the node at `addr`.
pub async fn connect(addr: &str) -> anyhow::Result<Channel> {
    endpoint(addr)?.connect().await.with_context(|| format!("cannot reach a node at {addr}"))
}
