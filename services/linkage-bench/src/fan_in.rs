//! Figure 5, our side: three counties append on `up` at once and the
//! province, two levels above them, takes in everything they append.

use crate::cluster::{self, Cluster};
use crate::measure::Rate;
use anyhow::Context;
use bytes::Bytes;
use linkage_core::pb;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use prost::Message;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The appending counties of the demo topology, under three different
/// cities: 民乐县 (张掖市), 古浪县 (武威市), 城关区 (兰州市).
pub const COUNTIES: [&str; 3] = ["620722", "620622", "620102"];

/// Events per `AppendBatch`: a county platform flushing its queue. It
/// asks for `EVENT_VIEW_BASIC` answers: ids, seqs and positions, not its
/// own payloads echoed back.
pub const BATCH_EVENTS: usize = 100;

/// Events the counties append together, split evenly.
pub const EVENTS_TOTAL: u64 = 60_000;

/// Wall time the appends may take; a slower machine appends fewer.
const APPEND_DURATION_MAX: Duration = Duration::from_secs(30);

/// How long the province may lag behind the last acknowledged append.
const ARRIVAL_WAIT_MAX: Duration = Duration::from_secs(60);

/// Pause between looks at the province's heads: the error it adds to the
/// figure's wall time, and cheap for the node (a prefix scan of heads).
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Events per page when reading the counties' streams back.
const READ_PAGE: i32 = 1_000;

/// What the figure measured.
pub struct FanIn {
    /// Events appended, over the time from the first append until the
    /// province held all of them.
    pub rate: Rate,
    /// From the first append until the counties had acknowledged the last.
    pub acked_after: Duration,
    /// The exact `Push` messages the counties published for these events,
    /// interleaved, for the baseline to send again.
    pub pushes: Vec<Bytes>,
    /// Which process used how much CPU from the first append until the
    /// province held everything.
    pub cpu: String,
    /// What the province's replication did meanwhile.
    pub province: String,
    /// Events the province stored from others meanwhile, and events it
    /// folded into its views (the same commits), by its own counters.
    pub province_applied: u64,
    /// See [`FanIn::province_applied`].
    pub province_views_updated: u64,
}

/// Each county appends [`EVENTS_TOTAL`] / 3 events in sequential
/// `AppendBatch`es of [`BATCH_EVENTS`], all three at once; the province's
/// heads of their `up` streams are polled until they hold every one.
pub async fn measure(cluster: &Cluster, province: &str, request: &pb::AppendRequest) -> anyhow::Result<FanIn> {
    let mut province_admin = cluster.admin(province).await?;
    let mut before = Vec::new();
    for county in COUNTIES {
        before.push(cluster::head(&mut cluster.admin(county).await?, county, crate::fixture::CHANNEL).await?);
    }
    let batch =
        pb::AppendBatchRequest { requests: vec![request.clone(); BATCH_EVENTS], view: pb::EventView::Basic.into() };
    let batches_per_county = EVENTS_TOTAL / (COUNTIES.len() * BATCH_EVENTS) as u64;

    let mut clients = Vec::new();
    for county in COUNTIES {
        clients.push(cluster.event_log(county).await?);
    }
    let counters_before = cluster.counters(province).await?;
    let cpu_before = cluster.cpu_times();
    let started = Instant::now();
    let deadline = started + APPEND_DURATION_MAX;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let batch = batch.clone();
        tasks.spawn(async move {
            let mut appended = 0;
            for _ in 0..batches_per_county {
                if Instant::now() >= deadline {
                    break;
                }
                let answer = client.append_batch(batch.clone()).await?.into_inner();
                anyhow::ensure!(answer.responses.len() == BATCH_EVENTS, "AppendBatch answered too few events");
                appended += BATCH_EVENTS as u64;
            }
            anyhow::Ok((i, appended, Instant::now()))
        });
    }
    let mut appended = [0; COUNTIES.len()];
    let mut last_ack = started;
    while let Some(joined) = tasks.join_next().await {
        let (i, count, at) = joined.context("a county's client panicked")?.context("a county's append failed")?;
        appended[i] = count;
        last_ack = last_ack.max(at);
    }

    let limit = Instant::now() + ARRIVAL_WAIT_MAX;
    let arrived = loop {
        let status = province_admin.status(pb::StatusRequest {}).await?.into_inner();
        let held = |county: &str| {
            status
                .heads
                .iter()
                .find(|h| h.origin == county && h.channel == crate::fixture::CHANNEL)
                .map_or(0, |h| h.seq)
        };
        if COUNTIES.iter().zip(before.iter().zip(appended)).all(|(c, (b, n))| held(c) >= b + n) {
            break Instant::now();
        }
        anyhow::ensure!(
            Instant::now() < limit,
            "the province lacked events {ARRIVAL_WAIT_MAX:?} after the last append"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let cpu = cluster.cpu_times().since(&cpu_before, arrived - started);
    let counters_after = cluster.counters(province).await?;
    let province_counters = counters_after.summary(&counters_before);
    let province_applied = counters_after.since(&counters_before, "linkage_applied_events_total");
    let province_views_updated = counters_after.since(&counters_before, "linkage_views_updated_events_total");

    let mut runs = Vec::new();
    for ((county, from), count) in COUNTIES.iter().zip(before).zip(appended) {
        runs.push(pushes(&mut cluster.event_log(county).await?, county, from + 1, count).await?);
    }
    let mut pushes = Vec::new();
    for i in 0..runs.iter().map(Vec::len).max().unwrap_or(0) {
        pushes.extend(runs.iter().filter_map(|r| r.get(i).cloned()));
    }
    let total = appended.iter().sum();
    let rate = Rate { ops: total, elapsed: arrived - started };
    Ok(FanIn {
        rate,
        acked_after: last_ack - started,
        pushes,
        cpu,
        province: province_counters,
        province_applied,
        province_views_updated,
    })
}

/// The `Push` messages a county's replicator published for `count` events
/// of its `up` stream from `from_seq`: each run of the stream that ends
/// with a signed event, as `Replicator::follow` cuts them.
async fn pushes(
    client: &mut EventLogServiceClient<Channel>,
    county: &str,
    from_seq: u64,
    count: u64,
) -> anyhow::Result<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    let mut read = 0;
    let mut page_token = String::new();
    while read < count {
        let page = client
            .read(pb::ReadRequest {
                range: Some(pb::read_request::Range::Stream(pb::StreamRange {
                    origin: county.into(),
                    channel: crate::fixture::CHANNEL.into(),
                    from_seq,
                })),
                page_size: READ_PAGE,
                page_token,
            })
            .await
            .with_context(|| format!("reading {county}'s stream back"))?
            .into_inner();
        anyhow::ensure!(!page.events.is_empty(), "{county} holds fewer events than it acknowledged");
        for event in page.events.into_iter().filter_map(|stored| stored.event) {
            if read == count {
                break;
            }
            read += 1;
            let signed = !event.signature.is_empty();
            let seq = event.seq;
            run.push(event.encode_to_vec().into());
            if signed {
                let push = pb::Push {
                    events: std::mem::take(&mut run),
                    head_seq: seq,
                    origin: county.into(),
                    channel: crate::fixture::CHANNEL.into(),
                };
                out.push(push.encode_to_vec().into());
            }
        }
        anyhow::ensure!(
            read == count || !page.next_page_token.is_empty(),
            "{county} holds fewer events than it acknowledged"
        );
        page_token = page.next_page_token;
    }
    anyhow::ensure!(run.is_empty(), "{county}'s stream does not end with a signed event");
    Ok(out)
}
