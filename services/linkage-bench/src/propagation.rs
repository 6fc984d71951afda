//! Figure 4, our side: county → province latency, p50 and p99. How long
//! one event takes from a county's `Append` to the province's `Subscribe`
//! stream, with nothing else in flight: the county's durable append, its
//! push over NATS, the province's verification and durable apply, and its
//! follower of the durable position. One client appends the fixture on
//! `up` at 民乐县 ([`COUNTY`]), one event at a time, [`SAMPLES`] samples or
//! 20 s; a task reading the province's (620000) stream stamps each event
//! as it arrives. The same appends' own acknowledged latency is kept too.
//!
//! A third stamp splits each sample near where it crosses the broker: the
//! bench's NATS user also subscribes, read-only, to the county's `up`
//! subject (the tap, [`crate::raw_nats::tap_subject`]), and a task of the
//! bench stamps each push as it gets it. So the time before the tap is the
//! county's (its append and its replicator) plus a hop through nats-server
//! to the bench; the time after is the province's (its verification,
//! durable apply and subscriber), whose own delivery ran beside the tap's.
//! The notes list the slowest samples split so.
//!
//! *Baseline* ([`crate::raw_nats::round_trips`]): request/reply round trips
//! of the county's one-event `Push` ([`Propagation::push`]), echoed,
//! between two plain async-nats connections on the same nats-server, as a
//! user with the same kind of permissions as a node's. A push is a one-way
//! trip, so a round trip is the price of two hops through this broker.
//!
//! *Targets* (set in [`crate::replication`]): p50 ≤ 3 × RTT p50 + the same
//! appends' acknowledged p50, so the path may add three hops through the
//! broker to the county's own append; p99 ≤ 5 ms. Notes give the log syncs
//! the county, its city and the province timed meanwhile
//! (`linkage_log_sync_seconds`), the appends as the county's handler timed
//! them (`linkage_append_seconds`), and p50 set against the target with the
//! province's mean log sync added.

use crate::cluster::Cluster;
use crate::measure::Latencies;
use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use linkage_core::pb;
use prost::Message;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The appending county, 民乐县.
pub const COUNTY: &str = crate::fixture::NODE;

/// Timed appends: enough that p99 is the tenth-slowest, few enough that
/// they fit [`DURATION_MAX`] on a slow disk.
pub const SAMPLES: usize = 1_000;

/// Untimed appends first: connections, subscriptions and caches warm.
const WARMUP: usize = 20;

/// Wall time of the samples.
const DURATION_MAX: Duration = Duration::from_secs(20);

/// How long one event may take to reach the province before the run fails:
/// far beyond the 1 s heads announcement that repairs a lost push.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a sample waits for the tap's stamp once the province has
/// delivered the event.
const TAP_WAIT: Duration = Duration::from_millis(200);

/// Events the province's subscription may stamp ahead of the sampler.
const SEEN_BUFFER: usize = 1_024;

/// One timed append, each time from sending `Append` at the county.
#[derive(Clone, Copy, Debug)]
pub struct Split {
    /// When it was sent, from the first timed sample's start.
    pub at: Duration,
    /// Until the county acknowledged it.
    pub acked: Duration,
    /// Until the tap got the county's push of it (`None`: the tap missed it).
    pub on_nats: Option<Duration>,
    /// Until the province's subscription delivered it.
    pub visible: Duration,
}

/// The slowest samples shown in the notes.
pub const SLOWEST_SHOWN: usize = 10;

/// What the figure measured.
pub struct Propagation {
    /// From sending `Append` at the county until the province's
    /// subscription delivered the event.
    pub visible: Latencies,
    /// From sending `Append` until the county acknowledged it: the same
    /// appends' own durable latency, the part that is not replication.
    pub acked: Latencies,
    /// The push the county published for the last sample: the payload of
    /// the round-trip baseline.
    pub push: Bytes,
    /// Every sample, in the order taken.
    pub splits: Vec<Split>,
}

impl Propagation {
    /// The [`SLOWEST_SHOWN`] slowest samples to become visible, in µs as
    /// `acked/on NATS/visible`, slowest first.
    pub fn slowest(&self) -> String {
        let mut splits = self.splits.clone();
        splits.sort_by_key(|s| std::cmp::Reverse(s.visible));
        let us = |d: Duration| d.as_micros().to_string();
        splits
            .iter()
            .take(SLOWEST_SHOWN)
            .map(|s| {
                let on_nats = s.on_nats.map_or("—".to_owned(), us);
                format!("{}/{on_nats}/{} at {:.2} s", us(s.acked), us(s.visible), s.at.as_secs_f64())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Appends `request` (the fixture, on `up`) at [`COUNTY`] one at a time, each timed
/// until it is acknowledged and until the province's `Subscribe` delivers
/// it (stamped by a task that reads that stream as it arrives).
pub async fn measure(
    cluster: &Cluster,
    user: &crate::raw_nats::NatsUser,
    province: &str,
    request: &pb::AppendRequest,
) -> anyhow::Result<Propagation> {
    let tap = crate::raw_nats::connect(user).await?;
    let mut pushes = tap.subscribe(crate::raw_nats::tap_subject()?).await.context("subscribing the tap")?;
    tap.flush().await?;
    let (tapped, on_nats) = mpsc::channel::<(u64, Instant)>(SEEN_BUFFER);
    let _tapping = crate::task::AbortOnDrop(tokio::spawn(async move {
        while let Some(message) = pushes.next().await {
            let at = Instant::now();
            // Head announcements carry no events.
            let Ok(push) = pb::Push::decode(message.payload) else { continue };
            if !push.events.is_empty() && tapped.send((push.head_seq, at)).await.is_err() {
                return;
            }
        }
    }));
    let mut admin = cluster.admin(province).await?;
    let from_position = admin.status(pb::StatusRequest {}).await?.into_inner().last_position + 1;
    let mut stream = cluster
        .event_log(province)
        .await?
        .subscribe(pb::SubscribeRequest { from_position })
        .await
        .context("subscribing at the province")?
        .into_inner();
    let (stamp, seen) = mpsc::channel::<(u64, Instant)>(SEEN_BUFFER);
    let _stamping = crate::task::AbortOnDrop(tokio::spawn(async move {
        while let Ok(Some(item)) = stream.message().await {
            let at = Instant::now();
            let Some(event) = item.event.and_then(|stored| stored.event) else { continue };
            let ours = event.origin == COUNTY && event.channel == crate::fixture::CHANNEL;
            if ours && stamp.send((event.seq, at)).await.is_err() {
                return;
            }
        }
    }));

    let mut county = cluster.event_log(COUNTY).await?;
    let mut stamps = Stamps { seen, on_nats };
    let mut tapped = 0;
    for _ in 0..WARMUP {
        tapped += usize::from(sample(&mut county, &mut stamps, request).await?.split.on_nats.is_some());
    }
    // A subscription the server's permissions refuse fails silently; then
    // every sample would wait out TAP_WAIT, and the figure would change.
    anyhow::ensure!(
        tapped > 0,
        "the tap on the county's pushes got none of the {WARMUP} warm-up pushes: the bench user's permission and \
         the tap's subject disagree"
    );
    let first = Instant::now();
    let limit = first + DURATION_MAX;
    let mut splits = Vec::with_capacity(SAMPLES);
    let mut push = Bytes::new();
    while splits.len() < SAMPLES && Instant::now() < limit {
        let at = first.elapsed();
        let s = sample(&mut county, &mut stamps, request).await?;
        splits.push(Split { at, ..s.split });
        push = s.push;
    }
    Ok(Propagation {
        visible: Latencies::new(splits.iter().map(|s| s.visible).collect()),
        acked: Latencies::new(splits.iter().map(|s| s.acked).collect()),
        push,
        splits,
    })
}

/// Where the stamping tasks send (seq, when it arrived).
struct Stamps {
    /// The province's subscription.
    seen: mpsc::Receiver<(u64, Instant)>,
    /// The tap on the county's pushes.
    on_nats: mpsc::Receiver<(u64, Instant)>,
}

struct Sample {
    split: Split,
    push: Bytes,
}

async fn sample(
    county: &mut linkage_proto::v1::event_log_service_client::EventLogServiceClient<tonic::transport::Channel>,
    stamps: &mut Stamps,
    request: &pb::AppendRequest,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let response = county.append(request.clone()).await.context("appending at the county")?.into_inner();
    let acked = started.elapsed();
    let event = response.event.and_then(|stored| stored.event).context("Append answered without an event")?;
    let deadline = tokio::time::Instant::now() + SAMPLE_TIMEOUT;
    let at = loop {
        let (seq, at) = tokio::time::timeout_at(deadline, stamps.seen.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!("seq {} of {COUNTY} did not reach the province in {SAMPLE_TIMEOUT:?}", event.seq)
            })?
            .context("the province's Subscribe stream ended")?;
        // Earlier seqs were all waited for already; nothing else is sent.
        if seq == event.seq {
            break at;
        }
    };
    // nats-server delivered the push to the tap about when it did to the
    // province, which has applied it by now: a short wait suffices. A push
    // the tap did not get (a slow consumer's drop) is shown as missing.
    let tap_deadline = tokio::time::Instant::now() + TAP_WAIT;
    let on_nats = loop {
        match tokio::time::timeout_at(tap_deadline, stamps.on_nats.recv()).await {
            Ok(Some((seq, at))) if seq == event.seq => break Some(at),
            Ok(Some((seq, _))) if seq < event.seq => continue,
            _ => break None,
        }
    };
    // What the county's replicator publishes for a lone event: a run of one.
    let push = pb::Push {
        head_seq: event.seq,
        origin: event.origin.clone(),
        channel: event.channel.clone(),
        events: vec![event.encode_to_vec().into()],
    };
    let split = Split {
        at: Duration::ZERO,
        acked,
        on_nats: on_nats.map(|t| t.saturating_duration_since(started)),
        visible: at.saturating_duration_since(started),
    };
    Ok(Sample { split, push: push.encode_to_vec().into() })
}
