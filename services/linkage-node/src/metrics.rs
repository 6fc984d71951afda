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

/// Installs the recorder and serves it on `addr` until `shutdown`.
pub async fn serve(addr: SocketAddr, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
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
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; REQUEST_BYTES_MAX];
                let _ = socket.read(&mut buf).await;
                let body = handle.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(bound)
}
