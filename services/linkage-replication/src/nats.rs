//! The real transport: async-nats against nats-server (2.9.10 or later;
//! core NATS only — no JetStream feature is relied on).

use crate::transport::{collect, Incoming, Transport, TransportError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use linkage_core::{subjects, NodeCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Messages one subscription buffers in the client before NATS reports a
/// slow consumer.
pub const SUBSCRIPTION_CAPACITY: usize = 65_536;

/// How to reach NATS as a node. Its `Debug` leaves the seed out.
#[derive(Clone)]
pub struct NatsOptions {
    /// Server URL(s), comma-separated, e.g. nats://127.0.0.1:4222.
    pub url: String,
    /// The seed of the node's NATS NKey (`linkage_core::nkey::seed`): the
    /// server knows the node by its public key. A secret, never logged.
    pub nkey_seed: Option<String>,
    /// TLS to the servers; plaintext when `None` (a loopback topology
    /// without TLS only).
    pub tls: Option<NatsTls>,
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.url)
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "(secret)"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// TLS to nats-server: the CA its certificate chains to, and the node's
/// own certificate and key, which the server checks (`verify: true`).
#[derive(Clone, Debug)]
pub struct NatsTls {
    /// The province's CA certificate (PEM).
    pub ca: std::path::PathBuf,
    /// This node's certificate (PEM).
    pub cert: std::path::PathBuf,
    /// Its key (PEM).
    pub key: std::path::PathBuf,
}

/// A node's NATS connection.
pub struct Nats {
    client: async_nats::Client,
    connected: Arc<AtomicBool>,
}

impl Nats {
    /// Connects as `node`, retrying in the background when the server is not
    /// up yet; replies arrive under the node's own inbox prefix, which the
    /// generated permissions reserve for it.
    pub async fn connect(node: NodeCode, options: &NatsOptions) -> Result<Nats, TransportError> {
        let connected = Arc::new(AtomicBool::new(false));
        let flag = connected.clone();
        let mut connect = async_nats::ConnectOptions::new()
            .name(format!("linkage-{node}"))
            .custom_inbox_prefix(subjects::inbox_prefix(node))
            .retry_on_initial_connect()
            // The URL list's first server first: an operator spreads nodes
            // across a cluster by the order of each node's list; when that
            // server goes, the next one in the list (or one the cluster
            // announced) takes over.
            .retain_servers_order()
            // A broker host that loses power or network closes nothing: a
            // ping every 10 s (two unanswered) finds it within about 30 s,
            // not the default 2–3 min.
            .ping_interval(std::time::Duration::from_secs(10))
            .max_reconnects(None)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let flag = flag.clone();
                async move {
                    match &event {
                        async_nats::Event::Connected => {
                            flag.store(true, Ordering::Release);
                            metrics::counter!("linkage_nats_events_total", "event" => "connected").increment(1);
                            tracing::info!("NATS connected");
                        }
                        async_nats::Event::Disconnected => {
                            flag.store(false, Ordering::Release);
                            metrics::counter!("linkage_nats_events_total", "event" => "disconnected").increment(1);
                            tracing::warn!("NATS disconnected");
                        }
                        async_nats::Event::SlowConsumer(sid) => {
                            metrics::counter!("linkage_nats_events_total", "event" => "slow_consumer").increment(1);
                            tracing::warn!(sid, "NATS slow consumer: messages dropped; pulls will repair");
                        }
                        other => {
                            metrics::counter!("linkage_nats_events_total", "event" => "other").increment(1);
                            tracing::warn!(event = %other, "NATS event");
                        }
                    }
                }
            });
        if let Some(seed) = &options.nkey_seed {
            connect = connect.nkey(seed.clone());
        }
        if let Some(tls) = &options.tls {
            connect = connect
                .require_tls(true)
                .add_root_certificates(tls.ca.clone())
                .add_client_certificate(tls.cert.clone(), tls.key.clone());
        }
        let client =
            connect.connect(server_list(&options.url)).await.map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(Nats { client, connected })
    }
}

/// The servers of a comma-separated URL list, in its order (async-nats
/// takes a single string as one URL).
fn server_list(urls: &str) -> Vec<&str> {
    urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

#[async_trait]
impl Transport for Nats {
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), TransportError> {
        self.client.publish(subject, payload).await.map_err(|e| TransportError::Other(e.to_string()))
    }

    async fn request(&self, subject: String, payload: Bytes, timeout: Duration) -> Result<Bytes, TransportError> {
        match tokio::time::timeout(timeout, self.client.request(subject, payload)).await {
            Err(_) => Err(TransportError::Timeout),
            Ok(Ok(message)) => Ok(message.payload),
            Ok(Err(e)) => match e.kind() {
                async_nats::RequestErrorKind::NoResponders => Err(TransportError::NoResponders),
                async_nats::RequestErrorKind::TimedOut => Err(TransportError::Timeout),
                _ => Err(TransportError::Other(e.to_string())),
            },
        }
    }

    async fn gather(
        &self,
        subject: String,
        payload: Bytes,
        window: Duration,
        max: usize,
    ) -> Result<Vec<Bytes>, TransportError> {
        let inbox = self.client.new_inbox();
        let answers = self.subscribe(inbox.clone()).await?;
        self.client
            .publish_with_reply(subject, inbox, payload)
            .await
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(collect(answers, window, max).await)
    }

    async fn subscribe(&self, subject: String) -> Result<BoxStream<'static, Incoming>, TransportError> {
        let subscriber = self.client.subscribe(subject).await.map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(subscriber
            .map(|m| Incoming {
                subject: m.subject.to_string(),
                payload: m.payload,
                reply: m.reply.map(|r| r.to_string()),
            })
            .boxed())
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use async_nats::ToServerAddrs;

    /// A cluster's URL list is several servers, in order; as one string
    /// async-nats would take it for one URL with an invalid port.
    #[test]
    fn a_url_list_names_each_server_in_order() {
        let list = super::server_list("nats://127.0.0.1:4222, nats://127.0.0.1:4223,nats://10.0.0.3:4222");
        assert_eq!(list, ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://10.0.0.3:4222"]);
        assert_eq!(list.to_server_addrs().unwrap().count(), 3);
        assert_eq!(super::server_list("nats://127.0.0.1:4222"), ["nats://127.0.0.1:4222"]);
    }
}
