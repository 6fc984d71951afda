//! The NATS baselines of figures 4 and 5: plain async-nats clients on the
//! topology's own nats-server, as [`BENCH_USER`], doing
//! nothing but moving the bytes.

use crate::fsync::RawAppends;
use crate::measure::Latencies;
use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// The NATS user the baselines connect as; the nodes' users are their codes.
pub const BENCH_USER: &str = "bench";

/// The subjects the bench user may use; no node listens there.
pub const BENCH_SUBJECTS: &str = "bench.>";

/// The one subject of the nodes' the bench user may read (never write):
/// the pushes of figure 4's county on `up`, as the province receives them,
/// named by the nodes' own subject scheme.
pub fn tap_subject() -> anyhow::Result<String> {
    let channel = crate::fixture::CHANNEL.parse().map_err(|e: String| anyhow::anyhow!("the fixture's channel: {e}"))?;
    linkage_core::subjects::Subjects
        .push(crate::fixture::origin()?, &channel, &[])
        .pop()
        .context("a broadcast push has one subject")
}

/// The bench user's reply inboxes, shaped like a node's `_INBOX_<code>`.
pub const BENCH_INBOX_PREFIX: &str = "_INBOX_bench";

/// How the baselines reach nats-server as [`BENCH_USER`].
#[derive(Clone)]
pub struct NatsUser {
    /// The topology's broker.
    pub url: String,
    /// The seed of its NKey, random, whose public key only the server's
    /// configuration holds.
    pub seed: String,
    /// (CA, certificate, key) for TLS to the broker, as nodes connect.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)>,
}

/// Where the request/reply baseline asks and answers.
const RTT_SUBJECT: &str = "bench.rtt";

/// Where figure 4's floor ([`durable_hop`]) sends.
const FLOOR_SUBJECT: &str = "bench.floor";

/// Where the publish/subscribe baseline sends.
const FLOW_SUBJECT: &str = "bench.flow";

/// Timed round trips, as many as figure 4's samples.
pub const RTT_SAMPLES: usize = 1_000;

/// Untimed round trips first: connections warm, the server's subject
/// cache filled.
const RTT_WARMUP: usize = 20;

/// Wall time the round trips may take.
const RTT_DURATION_MAX: Duration = Duration::from_secs(10);

/// One round trip's wait at most before the run fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Wall time the publish/subscribe run may take.
const FLOW_DURATION_MAX: Duration = Duration::from_secs(30);

/// A connection as the bench user, with replies under its own inbox
/// prefix as a node's are.
pub async fn connect(user: &NatsUser) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::with_nkey(user.seed.clone());
    if let Some((ca, cert, key)) = &user.tls {
        options = options
            .require_tls(true)
            .add_root_certificates(ca.clone())
            .add_client_certificate(cert.clone(), key.clone());
    }
    options
        .custom_inbox_prefix(BENCH_INBOX_PREFIX)
        .connection_timeout(REQUEST_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connect(user.url.as_str())
        .await
        .with_context(|| format!("connecting to {} as {BENCH_USER}", user.url))
}

/// Latencies of sequential request/reply round trips of `payload`: one
/// connection asks, another one subscribed on a test subject echoes the
/// payload back through the reply inbox (`allow_responses`, as a node
/// answers a pull).
pub async fn round_trips(user: &NatsUser, payload: Bytes) -> anyhow::Result<Latencies> {
    let responder = connect(user).await?;
    let mut requests = responder.subscribe(RTT_SUBJECT).await?;
    // The subscription is registered at the server before the first request.
    responder.flush().await?;
    let answering = crate::task::AbortOnDrop(tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                responder.publish(reply, message.payload).await?;
            }
        }
        anyhow::Ok(())
    }));

    let requester = connect(user).await?;
    let (requester, payload) = (&requester, &payload);
    let round_trip = || async move {
        let started = Instant::now();
        let answer = requester.request(RTT_SUBJECT, payload.clone()).await.context("a baseline request failed")?;
        anyhow::ensure!(answer.payload.len() == payload.len(), "the responder answered other bytes");
        anyhow::Ok(started.elapsed())
    };
    for _ in 0..RTT_WARMUP {
        round_trip().await?;
    }
    let limit = Instant::now() + RTT_DURATION_MAX;
    let mut samples = Vec::with_capacity(RTT_SAMPLES);
    while samples.len() < RTT_SAMPLES && Instant::now() < limit {
        samples.push(round_trip().await?);
    }
    drop(answering);
    Ok(Latencies::new(samples))
}

/// Figure 4's physical floor, measured in the same window: the least any
/// durable county → province path can take on this host. Per sample: a
/// raw append + fdatasync ([`RawAppends`]) in `sender_dir`, a publish of
/// `payload` over NATS, and at the subscriber a raw append + fdatasync in
/// `receiver_dir`; timed from the first write until the second fdatasync
/// returned. Both sides run on this process's runtime; the writes block
/// their worker as a node's writer thread blocks (`block_in_place`).
pub async fn durable_hop(
    user: &NatsUser,
    sender_dir: &std::path::Path,
    receiver_dir: &std::path::Path,
    payload: Bytes,
) -> anyhow::Result<Latencies> {
    let receiver = connect(user).await?;
    let mut incoming = receiver.subscribe(FLOOR_SUBJECT).await?;
    receiver.flush().await?;
    let mut sink = RawAppends::create(receiver_dir)?;
    let (synced, mut done) = tokio::sync::mpsc::channel::<std::io::Result<Instant>>(1);
    let _receiving = crate::task::AbortOnDrop(tokio::spawn(async move {
        while incoming.next().await.is_some() {
            let stored = tokio::task::block_in_place(|| sink.append()).map(|_| Instant::now());
            if synced.send(stored).await.is_err() {
                return;
            }
        }
    }));

    let sender = connect(user).await?;
    let mut source = RawAppends::create(sender_dir)?;
    let limit = Instant::now() + RTT_DURATION_MAX;
    let mut samples = Vec::with_capacity(RTT_SAMPLES);
    // The first RTT_WARMUP are not kept.
    for taken in 0.. {
        if taken >= RTT_WARMUP + RTT_SAMPLES || (taken >= RTT_WARMUP && Instant::now() >= limit) {
            break;
        }
        let started = Instant::now();
        tokio::task::block_in_place(|| source.append()).context("the floor's sending append")?;
        sender.publish(FLOOR_SUBJECT, payload.clone()).await?;
        let stored = tokio::time::timeout(REQUEST_TIMEOUT, done.recv())
            .await
            .context("the floor's receiver took too long")?
            .context("the floor's receiver stopped")?
            .context("the floor's receiving append")?;
        if taken >= RTT_WARMUP {
            samples.push(stored.saturating_duration_since(started));
        }
    }
    Ok(Latencies::new(samples))
}

/// Publishes `messages` in order from one connection to one subscriber
/// on another; the time from the first publish until the subscriber has
/// every message.
pub async fn publish_subscribe(user: &NatsUser, messages: &[Bytes]) -> anyhow::Result<Duration> {
    let subscriber = connect(user).await?;
    let mut incoming = subscriber.subscribe(FLOW_SUBJECT).await?;
    subscriber.flush().await?;
    let publisher = connect(user).await?;

    let expected = messages.len();
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + FLOW_DURATION_MAX);
    let mut receiving = crate::task::AbortOnDrop(tokio::spawn(async move {
        let mut received = 0;
        while received < expected {
            match tokio::time::timeout_at(deadline, incoming.next()).await {
                Ok(Some(_)) => received += 1,
                Ok(None) | Err(_) => break,
            }
        }
        drop(subscriber);
        (received, Instant::now())
    }));
    for message in messages {
        publisher.publish(FLOW_SUBJECT, message.clone()).await?;
    }
    publisher.flush().await?;
    let (received, ended) = (&mut receiving.0).await.context("the subscriber task failed")?;
    anyhow::ensure!(
        received == expected,
        "the subscriber got {received} of {expected} messages within {FLOW_DURATION_MAX:?}"
    );
    Ok(ended - started)
}
