//! Figure 4, our side: county → province latency, p50 and p99. How long
//! one event takes from a county's `Append` to the province's `Subscribe`
//! stream, with nothing else in flight: the county's durable append, its
//! push over NATS, the province's verification and durable apply, and its
//! follower of the durable position. One client appends the fixture on
//! `up` at 民乐县 ([`COUNTY`]), one event at a time, [`SAMPLES`] samples or
//! 20 s; a task reading the province's (620000) stream stamps each event
//! as it arrives. The same appends' own acknowledged latency is kept too.
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

/// Events the province's subscription may stamp ahead of the sampler.
const SEEN_BUFFER: usize = 1_024;

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
}

/// Appends `request` (the fixture, on `up`) at [`COUNTY`] one at a time, each timed
/// until it is acknowledged and until the province's `Subscribe` delivers
/// it (stamped by a task that reads that stream as it arrives).
pub async fn measure(cluster: &Cluster, province: &str, request: &pb::AppendRequest) -> anyhow::Result<Propagation> {
    let mut admin = cluster.admin(province).await?;
    let from_position = admin.status(pb::StatusRequest {}).await?.into_inner().last_position + 1;
    let mut stream = cluster
        .event_log(province)
        .await?
        .subscribe(pb::SubscribeRequest { from_position })
        .await
        .context("subscribing at the province")?
        .into_inner();
    let (stamp, mut seen) = mpsc::channel::<(u64, Instant)>(SEEN_BUFFER);
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
    for _ in 0..WARMUP {
        sample(&mut county, &mut seen, request).await?;
    }
    let limit = Instant::now() + DURATION_MAX;
    let (mut visible, mut acked) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    let mut push = Bytes::new();
    while visible.len() < SAMPLES && Instant::now() < limit {
        let s = sample(&mut county, &mut seen, request).await?;
        visible.push(s.visible);
        acked.push(s.acked);
        push = s.push;
    }
    Ok(Propagation { visible: Latencies::new(visible), acked: Latencies::new(acked), push })
}

struct Sample {
    visible: Duration,
    acked: Duration,
    push: Bytes,
}

async fn sample(
    county: &mut linkage_proto::v1::event_log_service_client::EventLogServiceClient<tonic::transport::Channel>,
    seen: &mut mpsc::Receiver<(u64, Instant)>,
    request: &pb::AppendRequest,
) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let response = county.append(request.clone()).await.context("appending at the county")?.into_inner();
    let acked = started.elapsed();
    let event = response.event.and_then(|stored| stored.event).context("Append answered without an event")?;
    let deadline = tokio::time::Instant::now() + SAMPLE_TIMEOUT;
    let at = loop {
        let (seq, at) = tokio::time::timeout_at(deadline, seen.recv())
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
    // What the county's replicator publishes for a lone event: a run of one.
    let push = pb::Push {
        head_seq: event.seq,
        origin: event.origin.clone(),
        channel: event.channel.clone(),
        events: vec![event.encode_to_vec().into()],
    };
    Ok(Sample { visible: at.saturating_duration_since(started), acked, push: push.encode_to_vec().into() })
}
