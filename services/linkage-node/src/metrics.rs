//! Prometheus metrics at `/metrics`, served by a minimal HTTP/1.1 listener:
//! scrapers need nothing more, and it keeps a web framework out of the node.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Bytes of a scrape request read at most; the request itself is ignored.
const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// How often the recorder folds histogram samples into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Bucket bounds, in seconds, of [`linkage_store::LOG_SYNC_SECONDS`]: a
/// fast SSD's fdatasync sits in the first buckets, a busy or networked
/// disk's in the last. Buckets (not a summary) so that a province's nodes
/// add up in one query.
const LOG_SYNC_BUCKETS_S: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Bucket bounds, in seconds, of [`crate::event_log::APPEND_SECONDS`]: a
/// sync and a round of the node's threads at least, up to a writer queue
/// full behind a stalled disk.
const APPEND_BUCKETS_S: [f64; 13] =
    [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0];

/// Bucket bounds of [`linkage_store::COMMIT_EVENTS`]: a lone append, then
/// powers of two up to a full batch.
const COMMIT_EVENTS_BUCKETS: [f64; 11] =
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, linkage_core::limits::BATCH_EVENTS_MAX as f64];

/// A listener's TLS and the gate its callers pass (`operator` role).
pub type Secured = (std::sync::Arc<crate::listen::TlsSource>, std::sync::Arc<crate::access::Gate>);

/// Installs the recorder and serves it on `addr` until `shutdown`: over
/// TLS to operators when `secured`, else plaintext (loopback only).
pub async fn serve(
    addr: SocketAddr,
    secured: Option<Secured>,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new();
    for (name, buckets) in [
        (linkage_store::LOG_SYNC_SECONDS, &LOG_SYNC_BUCKETS_S[..]),
        (crate::event_log::APPEND_SECONDS, &APPEND_BUCKETS_S[..]),
        (linkage_store::COMMIT_EVENTS, &COMMIT_EVENTS_BUCKETS[..]),
    ] {
        builder = builder
            .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(name.into()), buckets)
            .map_err(|e| anyhow::anyhow!("configuring the metrics recorder for {name}: {e}"))?;
    }
    let handle = builder.install_recorder().map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    // Histogram samples wait in the recorder until upkeep folds them in:
    // without it they would pile up between scrapes, or forever unscraped.
    let upkeep = handle.clone();
    let stop_upkeep = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop_upkeep.cancelled() => return,
                _ = tokio::time::sleep(UPKEEP_INTERVAL) => upkeep.run_upkeep(),
            }
        }
    });
    let listener = crate::listen::bind(addr, "/metrics").await?;
    let bound = listener.local_addr()?;
    let handshakes = std::sync::Arc::new(tokio::sync::Semaphore::new(crate::listen::HANDSHAKES_MAX));
    tokio::spawn(async move {
        loop {
            let (socket, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else { continue };
            let handle = handle.clone();
            let secured = secured.clone();
            tokio::spawn(async move {
                match secured {
                    None => answer(socket, Ok(handle.render())).await,
                    Some((tls, gate)) => {
                        let Some(stream) = tls.accept(socket, "metrics").await else { return };
                        let principal = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|leaf| linkage_pki::Principal::of_certificate(leaf).map_err(|e| e.to_string()));
                        let body = gate.decide(crate::access::Need::Operate, principal).map(|_| handle.render());
                        answer(stream, body).await
                    }
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// Reads the request (ignored) and writes the scrape, or the refusal.
async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut socket: S,
    body: Result<String, tonic::Status>,
) {
    let mut buf = vec![0u8; REQUEST_BYTES_MAX];
    let read = tokio::time::timeout(crate::listen::HANDSHAKE_TIMEOUT, socket.read(&mut buf)).await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return;
    }
    let (status, body) = match body {
        Ok(body) => ("200 OK", body),
        Err(refused) if refused.code() == tonic::Code::Unauthenticated => {
            ("401 Unauthorized", format!("{}\n", refused.message()))
        }
        Err(refused) => ("403 Forbidden", format!("{}\n", refused.message())),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(body.as_bytes()).await;
    let _ = socket.shutdown().await;
}
