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

/// Connections one address may hold open on a listener, handshaking or
/// served: a gRPC client needs one (many streams share it); an office
/// behind NAT has room for dozens. One address cannot take a listener's
/// every slot.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 64;

/// Connections a listener holds open at once.
pub const CONNECTIONS_MAX: usize = 1024;

/// Connections closed at accept because an address, or the listener, was
/// at its limit; by listener and reason (`address`, `listener`).
pub const CONNECTIONS_REFUSED: &str = "linkage_connections_refused_total";

/// Open connections per address and in all, of one listener.
#[derive(Default)]
struct Slots {
    by_address: std::collections::HashMap<std::net::IpAddr, usize>,
    total: usize,
}

/// A connection's place in its listener's [`Slots`], given back when the
/// connection is dropped.
pub struct Slot {
    slots: Arc<std::sync::Mutex<Slots>>,
    address: std::net::IpAddr,
}

impl Slot {
    /// A slot for a connection from `address`, or the reason there is none.
    fn take(slots: &Arc<std::sync::Mutex<Slots>>, address: std::net::IpAddr) -> Result<Slot, &'static str> {
        let mut s = slots.lock().unwrap_or_else(|p| p.into_inner());
        if s.total >= CONNECTIONS_MAX {
            return Err("listener");
        }
        let held = s.by_address.entry(address).or_default();
        if *held >= CONNECTIONS_PER_ADDRESS_MAX {
            return Err("address");
        }
        *held += 1;
        s.total += 1;
        Ok(Slot { slots: slots.clone(), address })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        s.total -= 1;
        if let std::collections::hash_map::Entry::Occupied(mut held) = s.by_address.entry(self.address) {
            *held.get_mut() -= 1;
            if *held.get() == 0 {
                held.remove();
            }
        }
    }
}

/// A served connection with its [`Slot`]: tonic drops it when the
/// connection ends, which frees the slot.
pub struct Counted {
    inner: TlsStream<TcpStream>,
    _slot: Slot,
}

impl tonic::transport::server::Connected for Counted {
    type ConnectInfo = <TlsStream<TcpStream> as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

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
/// `shutdown`: the stream tonic serves. A connection beyond its address's
/// or the listener's limit is closed at accept.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<TlsSource>,
    name: &'static str,
    shutdown: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<Result<Counted, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_MAX));
        let slots = Arc::new(std::sync::Mutex::new(Slots::default()));
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
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
            let slot = match Slot::take(&slots, peer.ip()) {
                Ok(slot) => slot,
                Err(reason) => {
                    tracing::debug!(%peer, listener = name, reason, "connection refused: at its limit");
                    metrics::counter!(CONNECTIONS_REFUSED, "listener" => name, "reason" => reason).increment(1);
                    continue;
                }
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                metrics::counter!(TLS_HANDSHAKE_FAILURES, "listener" => name).increment(1);
                continue;
            };
            let (tls, tx) = (tls.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(stream) = tls.accept(tcp, name).await {
                    let _ = tx.send(Ok(Counted { inner: stream, _slot: slot })).await;
                }
                drop(permit);
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
