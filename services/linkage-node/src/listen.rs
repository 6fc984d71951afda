//! Listeners: TCP with Nagle off, and TLS over it with a certificate that
//! SIGHUP swaps without dropping a connection. A handshake runs in its own
//! task under a deadline, so a client that connects and says nothing
//! holds neither the accept loop nor other clients.

use linkage_pki::ServerFiles;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once per listener; a connection beyond them
/// is closed at once (a flood of silent connections cannot grow memory).
pub const HANDSHAKES_MAX: usize = 256;

/// TLS handshakes that failed or timed out, by listener.
pub const TLS_HANDSHAKE_FAILURES: &str = "linkage_tls_handshake_failures_total";

/// A listener's TLS configuration, swapped whole on reload.
pub struct TlsSource {
    files: ServerFiles,
    alpn: &'static [&'static [u8]],
    current: RwLock<Arc<rustls::ServerConfig>>,
}

/// When the node's certificate expires, in Unix seconds (alert:
/// `deploy/prometheus/alerts.yml`).
pub const CERTIFICATE_NOT_AFTER: &str = "linkage_tls_certificate_not_after_seconds";

/// Sets [`CERTIFICATE_NOT_AFTER`] from the certificate file just loaded
/// (at start, once the recorder is in place, and on every reload).
pub fn publish_expiry(files: &ServerFiles) {
    match linkage_pki::not_after(&files.cert) {
        Ok(seconds) => metrics::gauge!(CERTIFICATE_NOT_AFTER).set(seconds as f64),
        Err(e) => tracing::warn!(error = %e, "cannot read the certificate's expiry"),
    }
}

impl TlsSource {
    /// Loads `files` for a listener serving `alpn`.
    pub fn load(files: &ServerFiles, alpn: &'static [&'static [u8]]) -> anyhow::Result<Arc<TlsSource>> {
        let current = RwLock::new(linkage_pki::load_server_config(files, alpn)?);
        Ok(Arc::new(TlsSource { files: files.clone(), alpn, current }))
    }

    /// Reads `files` again (SIGHUP), which must name the files this
    /// listener started with: new paths (a new CA file, say) need a
    /// restart, and are refused rather than ignored.
    pub fn prepare(&self, files: &ServerFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        anyhow::ensure!(
            *files == self.files,
            "reload: the [tls] paths changed ({} → {}); restart the node to use new paths",
            self.files.cert.display(),
            files.cert.display()
        );
        let config = linkage_pki::load_server_config(files, self.alpn)?;
        publish_expiry(files);
        Ok(config)
    }

    /// New handshakes use `config`; open connections go on.
    pub fn swap(&self, config: Arc<rustls::ServerConfig>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// One handshake on `tcp`, under [`HANDSHAKE_TIMEOUT`]; `None` (and
    /// a count in [`TLS_HANDSHAKE_FAILURES`]) when it fails.
    pub async fn accept(&self, tcp: TcpStream, listener: &'static str) -> Option<TlsStream<TcpStream>> {
        let peer = tcp.peer_addr().ok();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor().accept(tcp)).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(?peer, listener, "TLS handshake failed: {e}");
                metrics::counter!(TLS_HANDSHAKE_FAILURES, "listener" => listener).increment(1);
                None
            }
            Err(_) => {
                tracing::debug!(?peer, listener, "TLS handshake timed out");
                metrics::counter!(TLS_HANDSHAKE_FAILURES, "listener" => listener).increment(1);
                None
            }
        }
    }
}

/// Binds `addr`; the error names what was being bound.
pub async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("binding {what} to {addr}: {e}"))
}

/// Accepted connections of `listener` after their TLS handshake, until
/// `shutdown`: the stream tonic serves.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<TlsSource>,
    name: &'static str,
    shutdown: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_MAX));
        loop {
            let tcp = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(listener = name, "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Nagle would hold the small second write of every unary
            // response until the client's delayed ACK (~40 ms).
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                metrics::counter!(TLS_HANDSHAKE_FAILURES, "listener" => name).increment(1);
                continue;
            };
            let (tls, tx) = (tls.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(stream) = tls.accept(tcp, name).await {
                    let _ = tx.send(Ok(stream)).await;
                }
                drop(permit);
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
