//! Figure 5, our side, and the counters of figure 7: three counties append
//! on `up` at once and the province, two levels above them, takes in
//! everything they append.
//!
//! Figure 5, fan-in: 民乐县, 古浪县 and 城关区 ([`COUNTIES`], under three
//! cities) append [`EVENTS_TOTAL`] events together, in `AppendBatch`es of
//! [`BATCH_EVENTS`] that ask for `EVENT_VIEW_BASIC` answers,
//! [`FLUSHES_IN_FLIGHT`] in flight per county, for at most 30 s; the figure
//! is events/s from the first append until the province's heads show all
//! of them. The load generator shares the cores with the nodes, so it
//! encodes its batch once and counts each answer's events without decoding
//! them ([`Counted`]). The bench measures one flush per county first, on
//! the same cluster, and notes that figure too.
//!
//! *Baseline* ([`crate::raw_nats::publish_subscribe`]): the very `Push`
//! messages the counties published for those events, read back from their
//! logs and cut into runs exactly as the replicator cuts them ([`pushes`]),
//! published from one connection to one subscriber on the same
//! nats-server; events/s until the subscriber has them all. It is what NATS
//! alone costs to move the same bytes; the ratio is what verification,
//! three durable stores and the writers' queues cost on top. *Target*:
//! ≥ 30,000 events/s. A note gives the province's commits meanwhile
//! (`linkage_commit_events`): how many, and their mean size in events.
//!
//! Figure 7, views updated during fan-in: over the same window, the events
//! the province folded into its views (`linkage_views_updated_events_total`)
//! against the events it stored from other nodes
//! (`linkage_applied_events_total`). A commit is answered only once its
//! views are written, so the ratio is the share of stored events whose
//! views were current at the same moment. *Target*: ratio ≥ 0.99.

use crate::cluster::{self, Cluster};
use crate::measure::Rate;
use anyhow::Context;
use bytes::Bytes;
use linkage_core::pb;
use linkage_proto::v1::event_log_service_client::EventLogServiceClient;
use prost::Message;
use std::time::{Duration, Instant};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::Status;

/// The appending counties of the demo topology, under three different
/// cities: 民乐县 (张掖市), 古浪县 (武威市), 城关区 (兰州市).
pub const COUNTIES: [&str; 3] = ["620722", "620622", "620102"];

/// Events per `AppendBatch`: a county platform flushing its queue. It
/// asks for `EVENT_VIEW_BASIC` answers: ids, seqs and positions, not its
/// own payloads echoed back.
pub const BATCH_EVENTS: usize = 100;

/// The method the counties' platforms call.
const APPEND_BATCH_PATH: &str = "/linkage.v1.EventLogService/AppendBatch";

/// Events the counties append together, split evenly.
pub const EVENTS_TOTAL: u64 = 60_000;

/// `AppendBatch`es each county keeps in flight for the figure: two of its
/// platforms (say its 社情民意 system and its proposal system) flushing at
/// once. With one, each county's node, and the nodes its events go on to,
/// wait out its fdatasync with nothing to do, and the figure measures the
/// client's round trips more than what the province sustains. The bench
/// notes the figure with one too.
pub const FLUSHES_IN_FLIGHT: usize = 2;

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

/// Each county appends [`EVENTS_TOTAL`] / 3 events in `AppendBatch`es of
/// [`BATCH_EVENTS`], `flushes` at a time, each flush waiting for the one
/// before it, all three counties at once; the province's heads of their
/// `up` streams are polled until they hold every one.
pub async fn measure(
    cluster: &Cluster,
    province: &str,
    request: &pb::AppendRequest,
    flushes: usize,
) -> anyhow::Result<FanIn> {
    let mut province_admin = cluster.admin(province).await?;
    let mut before = Vec::new();
    for county in COUNTIES {
        before.push(cluster::head(&mut cluster.admin(county).await?, county, crate::fixture::CHANNEL).await?);
    }
    // The load generator shares the two cores with the nodes, so it spends
    // as little as it can: the batch is encoded once, and an answer is
    // only counted, not decoded (the nodes encode it all the same).
    let batch: Bytes =
        pb::AppendBatchRequest { requests: vec![request.clone(); BATCH_EVENTS], view: pb::EventView::Basic.into() }
            .encode_to_vec()
            .into();
    let batches_per_county = EVENTS_TOTAL / (COUNTIES.len() * BATCH_EVENTS) as u64;

    // A county's batches are shared among its flushers, the first ones
    // taking one more when they do not divide evenly. The default decoding
    // limit (4 MiB) holds BASIC answers; FULL ones of large events may not.
    let mut clients = Vec::new();
    for (i, county) in COUNTIES.iter().enumerate() {
        for flusher in 0..flushes as u64 {
            let batches =
                batches_per_county / flushes as u64 + u64::from(flusher < batches_per_county % flushes as u64);
            clients.push((i, batches, tonic::client::Grpc::new(cluster.channel(county).await?)));
        }
    }
    let counters_before = cluster.counters(province).await?;
    let cpu_before = cluster.cpu_times();
    let started = Instant::now();
    let deadline = started + APPEND_DURATION_MAX;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, batches, mut client) in clients {
        let batch = batch.clone();
        tasks.spawn(async move {
            let mut appended = 0;
            for _ in 0..batches {
                if Instant::now() >= deadline {
                    break;
                }
                client.ready().await?;
                let path = PathAndQuery::from_static(APPEND_BATCH_PATH);
                let answered = client.unary(tonic::Request::new(batch.clone()), path, Counted).await?.into_inner();
                anyhow::ensure!(answered == BATCH_EVENTS, "AppendBatch answered {answered} of {BATCH_EVENTS} events");
                appended += BATCH_EVENTS as u64;
            }
            anyhow::Ok((i, appended, Instant::now()))
        });
    }
    let mut appended = [0; COUNTIES.len()];
    let mut last_ack = started;
    while let Some(joined) = tasks.join_next().await {
        let (i, count, at) = joined.context("a county's client panicked")?.context("a county's append failed")?;
        appended[i] += count;
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

/// A codec for requests encoded beforehand, whose answers are counted
/// rather than decoded: an `AppendBatch` answer in, the number of its
/// `responses` (field 1) out.
#[derive(Clone, Copy)]
struct Counted;

impl Codec for Counted {
    type Encode = Bytes;
    type Decode = usize;
    type Encoder = Counted;
    type Decoder = Counted;

    fn encoder(&mut self) -> Counted {
        Counted
    }

    fn decoder(&mut self) -> Counted {
        Counted
    }
}

impl Encoder for Counted {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for Counted {
    type Item = usize;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, Status> {
        count_responses(src).map(Some).map_err(|e| Status::internal(format!("an AppendBatch answer: {e}")))
    }
}

/// The `responses` (field 1) of an encoded `AppendBatchResponse`, counted;
/// fields of other numbers, of any wire type, are skipped.
fn count_responses(src: &mut impl bytes::Buf) -> Result<usize, String> {
    let mut count = 0;
    while src.has_remaining() {
        let key = prost::encoding::decode_varint(src).map_err(|e| e.to_string())?;
        let len = match key & 0b111 {
            0 => {
                prost::encoding::decode_varint(src).map_err(|e| e.to_string())?;
                0
            }
            1 => 8,
            2 => prost::encoding::decode_varint(src).map_err(|e| e.to_string())?,
            5 => 4,
            other => return Err(format!("wire type {other}")),
        };
        let len = usize::try_from(len).ok().filter(|len| *len <= src.remaining());
        src.advance(len.ok_or("a field past its end")?);
        count += usize::from(key == (1 << 3 | 2));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_counted_as_its_decoding_counts_it() {
        for n in [0, 1, 3, BATCH_EVENTS] {
            let answer = pb::AppendBatchResponse {
                responses: (0..n)
                    .map(|i| pb::AppendResponse {
                        event: Some(pb::StoredEvent { position: i as u64 + 1, ..Default::default() }),
                        ..Default::default()
                    })
                    .collect(),
            };
            let mut bytes = answer.encode_to_vec();
            assert_eq!(count_responses(&mut bytes.as_slice()), Ok(n));
            // Fields a later version may add, of every wire type, count for nothing.
            bytes.extend_from_slice(&[2 << 3, 0x96, 0x01, 3 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8, 4 << 3 | 5, 1, 2, 3, 4]);
            bytes.extend_from_slice(&[5 << 3 | 2, 2, 0xff, 0xff]);
            assert_eq!(count_responses(&mut bytes.as_slice()), Ok(n));
            assert!(count_responses(&mut &bytes[..bytes.len() - 1]).is_err());
        }
    }
}
