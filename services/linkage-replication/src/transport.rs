//! The transport seam. The node needs five things from a broker; NATS
//! gives them, and so does the in-process hub used by simulations.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use linkage_core::{subjects, NodeCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A message as received.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The subject it was published on.
    pub subject: String,
    /// Its bytes.
    pub payload: Bytes,
    /// Where to answer, for requests.
    pub reply: Option<String>,
}

/// Why a transport call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// Nobody listens on the subject.
    #[error("no responders")]
    NoResponders,
    /// The broker refused or the connection is gone.
    #[error("transport: {0}")]
    Other(String),
}

/// What replication needs from a broker.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Publishes fire-and-forget.
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), TransportError>;
    /// Sends a request and waits for one answer.
    async fn request(&self, subject: String, payload: Bytes, timeout: Duration) -> Result<Bytes, TransportError>;
    /// Publishes with a fresh reply inbox and collects up to `max` answers
    /// for `window`.
    async fn gather(
        &self,
        subject: String,
        payload: Bytes,
        window: Duration,
        max: usize,
    ) -> Result<Vec<Bytes>, TransportError>;
    /// Subscribes to a subject (NATS wildcards `*` and `>` allowed).
    async fn subscribe(&self, subject: String) -> Result<BoxStream<'static, Incoming>, TransportError>;
    /// True while connected to the broker.
    fn connected(&self) -> bool;
}

pub use linkage_core::subjects::matches as subject_matches;

/// Messages a subscription buffers in the hub before it drops (like a NATS
/// slow consumer).
const HUB_SUBSCRIPTION_BUFFER: usize = 65_536;

type Subscribers = Arc<Mutex<Vec<(String, mpsc::Sender<Incoming>)>>>;

/// An in-process broker: every [`InProcess`] connected to the same hub sees
/// the others' messages, with NATS subject semantics and no permissions.
#[derive(Clone, Default)]
pub struct Hub {
    subscribers: Subscribers,
    next_inbox: Arc<std::sync::atomic::AtomicU64>,
}

impl Hub {
    /// A new, empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// A transport on this hub for `node`: its requests' replies come to
    /// its own inboxes (`_INBOX_<node>.…`), as on NATS.
    pub fn connect(&self, node: NodeCode) -> InProcess {
        InProcess { hub: self.clone(), inbox_prefix: subjects::inbox_prefix(node) }
    }

    fn deliver(&self, message: Incoming) {
        let mut subs = self.subscribers.lock().expect("hub lock");
        subs.retain(|(_, tx)| !tx.is_closed());
        for (pattern, tx) in subs.iter() {
            if subject_matches(pattern, &message.subject) {
                let _ = tx.try_send(message.clone());
            }
        }
    }

    fn inbox(&self, prefix: &str) -> String {
        format!("{prefix}.{}", self.next_inbox.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// A transport on a [`Hub`].
#[derive(Clone)]
pub struct InProcess {
    hub: Hub,
    /// Where answers to this node's requests go.
    inbox_prefix: String,
}

#[async_trait]
impl Transport for InProcess {
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), TransportError> {
        self.hub.deliver(Incoming { subject, payload, reply: None });
        Ok(())
    }

    async fn request(&self, subject: String, payload: Bytes, timeout: Duration) -> Result<Bytes, TransportError> {
        let inbox = self.hub.inbox(&self.inbox_prefix);
        let mut answers = self.subscribe(inbox.clone()).await?;
        if !self.hub.subscribers.lock().expect("hub lock").iter().any(|(p, _)| subject_matches(p, &subject)) {
            return Err(TransportError::NoResponders);
        }
        self.hub.deliver(Incoming { subject, payload, reply: Some(inbox) });
        match tokio::time::timeout(timeout, answers.next()).await {
            Ok(Some(m)) => Ok(m.payload),
            Ok(None) => Err(TransportError::Other("hub closed".into())),
            Err(_) => Err(TransportError::Timeout),
        }
    }

    async fn gather(
        &self,
        subject: String,
        payload: Bytes,
        window: Duration,
        max: usize,
    ) -> Result<Vec<Bytes>, TransportError> {
        let inbox = self.hub.inbox(&self.inbox_prefix);
        let answers = self.subscribe(inbox.clone()).await?;
        self.hub.deliver(Incoming { subject, payload, reply: Some(inbox) });
        Ok(collect(answers, window, max).await)
    }

    async fn subscribe(&self, subject: String) -> Result<BoxStream<'static, Incoming>, TransportError> {
        let (tx, rx) = mpsc::channel(HUB_SUBSCRIPTION_BUFFER);
        self.hub.subscribers.lock().expect("hub lock").push((subject, tx));
        Ok(tokio_stream_from(rx))
    }

    fn connected(&self) -> bool {
        true
    }
}

/// Collects up to `max` messages for `window`.
pub async fn collect(mut stream: BoxStream<'static, Incoming>, window: Duration, max: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while out.len() < max {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(m)) => out.push(m.payload),
            _ => break,
        }
    }
    out
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Incoming>) -> BoxStream<'static, Incoming> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Wraps a transport so that every published message is delivered twice,
/// each copy after its own random delay: duplicates and reordering, to show
/// that the result does not depend on either.
pub struct Chaos<T> {
    inner: Arc<T>,
    /// Longest extra delay of a copy.
    delay_max: Duration,
}

impl<T: Transport> Chaos<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, delay_max: Duration) -> Chaos<T> {
        Chaos { inner: Arc::new(inner), delay_max }
    }
}

#[async_trait]
impl<T: Transport> Transport for Chaos<T> {
    async fn publish(&self, subject: String, payload: Bytes) -> Result<(), TransportError> {
        for _ in 0..2 {
            let (inner, subject, payload) = (self.inner.clone(), subject.clone(), payload.clone());
            let delay = self.delay_max.mul_f64(rand::random::<f64>());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = inner.publish(subject, payload).await;
            });
        }
        Ok(())
    }

    async fn request(&self, subject: String, payload: Bytes, timeout: Duration) -> Result<Bytes, TransportError> {
        self.inner.request(subject, payload, timeout).await
    }

    async fn gather(
        &self,
        subject: String,
        payload: Bytes,
        window: Duration,
        max: usize,
    ) -> Result<Vec<Bytes>, TransportError> {
        self.inner.gather(subject, payload, window, max).await
    }

    async fn subscribe(&self, subject: String) -> Result<BoxStream<'static, Incoming>, TransportError> {
        self.inner.subscribe(subject).await
    }

    fn connected(&self) -> bool {
        self.inner.connected()
    }
}
