//! Figure 6, our side: a county that was down while the province sent a
//! million events down comes back and pulls them all.
//!
//! 古浪县 ([`LAGGARD`]) is killed with SIGKILL; the province appends
//! [`EVENTS_WANTED`] `down` events in `AppendBatch`es of the largest size
//! allowed from [`CLIENTS`] clients, for at most [`APPEND_DURATION_MAX`] (a
//! slower machine appends fewer, and the output says so); the other nodes
//! are let to hold them all and to stop receiving, so that they do not
//! compete for the cores; then the laggard is started again. The figure is
//! events/s from starting its process until its head of (province, down)
//! is the province's, or [`CATCH_UP_MAX`] passed.
//!
//! *Baseline* ([`crate::batched::raw_sled`], after the topology is down):
//! raw sled on the same disk writing the same number of values of the same
//! stored bytes in jobs of one pull page (1,024 events), each one
//! `apply_batch` + `flush` + fdatasync: the least a node keeping its events
//! in sled must do to make them durable, whoever sends them. The ratio is
//! what the pulls' round trips, the holder's reads, verification, the log
//! and the indexes and views cost. *Target*: ≥ 100,000 events/s.

use crate::cluster::{self, Cluster};
use crate::measure::Rate;
use anyhow::Context;
use linkage_core::pb;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The county that misses the events: 古浪县, under 武威市.
pub const LAGGARD: &str = "620622";

/// The channel the province sends on, which every node below it holds.
pub const CHANNEL: &str = "down";

/// Events the laggard should miss.
pub const EVENTS_WANTED: u64 = 1_000_000;

/// Events per `AppendBatch` at the province: the largest batch allowed.
const BATCH_EVENTS: usize = linkage_core::limits::BATCH_EVENTS_MAX;

/// Concurrent appending clients at the province, so that its writer always
/// has the next batch queued while it syncs one.
const CLIENTS: usize = 4;

/// Wall time the province may spend appending; a machine that cannot
/// append [`EVENTS_WANTED`] in it measures fewer, and says so.
pub const APPEND_DURATION_MAX: Duration = Duration::from_secs(180);

/// How long the other nodes may take to hold everything the province
/// appended, and then to stop receiving (a node that pulled ahead of its
/// push backlog still checks every pushed event it already holds), before
/// the laggard comes back; after it the figure is taken anyway, with a
/// note that they competed for the machine.
const SETTLE_MAX: Duration = Duration::from_secs(240);

/// The other nodes count as quiet once their received events (applied and
/// duplicates) stayed the same for this long.
const QUIET_WINDOW: Duration = Duration::from_secs(1);

/// Pause between looks at the other nodes' heads.
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// Wall time the catch-up may take; after it the figure counts what came.
pub const CATCH_UP_MAX: Duration = Duration::from_secs(300);

/// Pause between looks at the laggard's head: the error it adds to the
/// figure's wall time.
const CATCH_UP_POLL: Duration = Duration::from_millis(20);

/// How long the laggard's counters may lag its head before its summary is
/// printed as it stands.
const COUNTERS_SETTLE_MAX: Duration = Duration::from_secs(2);

/// What the figure measured.
pub struct CatchUp {
    /// Events the laggard pulled, over the time from starting its process
    /// until it held the province's head (or [`CATCH_UP_MAX`] passed).
    pub rate: Rate,
    /// Events the province appended while the laggard was down, over the
    /// time that took.
    pub appended: Rate,
    /// Whether the laggard reached the province's head in time.
    pub finished: bool,
    /// How the other nodes settled after the appends.
    pub settled: Settled,
    /// From starting the process until it had bound its gRPC port.
    pub bound_after: Duration,
    /// From starting the process until its head first moved.
    pub first_progress_after: Option<Duration>,
    /// The stored bytes of one of the events, for the baseline.
    pub sample_event: Vec<u8>,
    /// Which process used how much CPU while the province appended.
    pub append_cpu: String,
    /// Which process used how much CPU during the catch-up.
    pub catch_up_cpu: String,
    /// What the laggard's replication did, from its start.
    pub laggard: String,
}

/// How the other nodes came to rest after the appends.
#[derive(Default)]
pub struct Settled {
    /// How many nodes this is about: all but the province and the laggard.
    pub nodes: usize,
    /// From the end of the appends until they all held the province's
    /// head; `None` when not within [`SETTLE_MAX`].
    pub held_after: Option<Duration>,
    /// From the end of the appends until they also stopped receiving;
    /// `None` when not within [`SETTLE_MAX`].
    pub quiet_after: Option<Duration>,
    /// What their replication did from the start of the appends until
    /// then, summed over them.
    pub applied: u64,
    /// See [`Settled::applied`]: events they got again, already held.
    pub duplicates: u64,
}

/// Kills [`LAGGARD`] with SIGKILL, has the province append up to
/// [`EVENTS_WANTED`] events on `down` (`request` on that channel), waits
/// until every other node holds them, starts the laggard again and times
/// it until its head of (province, down) is the province's.
pub async fn measure(cluster: &mut Cluster, province: &str, request: &pb::AppendRequest) -> anyhow::Result<CatchUp> {
    let had = cluster::head(&mut cluster.admin(LAGGARD).await?, province, CHANNEL).await?;
    cluster.kill9(LAGGARD)?;

    eprintln!(
        "  {province} appends up to {} events on {CHANNEL:?} while {LAGGARD} is down (at most {} s)",
        EVENTS_WANTED,
        APPEND_DURATION_MAX.as_secs()
    );
    let others: Vec<String> = cluster.codes().into_iter().filter(|c| c != province && c != LAGGARD).collect();
    let mut others_before = Vec::new();
    for code in &others {
        others_before.push(cluster.counters(code).await?);
    }
    let cpu_before = cluster.cpu_times();
    let appended = append(cluster, province, request).await?;
    let append_cpu = cluster.cpu_times().since(&cpu_before, appended.elapsed);
    let mut province_admin = cluster.admin(province).await?;
    let target = cluster::head(&mut province_admin, province, CHANNEL).await?;
    anyhow::ensure!(target > had, "the province appended nothing on {CHANNEL}");
    let appended_done = Instant::now();

    eprintln!("  waiting for the other nodes to hold them and go quiet (at most {} s)", SETTLE_MAX.as_secs());
    let settled = settle(cluster, &others, &others_before, province, target, appended_done).await?;

    eprintln!("  {LAGGARD} starts again and pulls {} events (at most {} s)", target - had, CATCH_UP_MAX.as_secs());
    let cpu_before = cluster.cpu_times();
    let started = Instant::now();
    cluster.spawn(LAGGARD)?;
    cluster.wait_bound(LAGGARD).await?;
    let bound_after = started.elapsed();
    let limit = started + CATCH_UP_MAX;
    let mut admin = loop {
        match cluster.admin(LAGGARD).await {
            Ok(admin) => break admin,
            Err(e) if Instant::now() >= limit => return Err(e.context("the restarted county does not serve")),
            Err(_) => tokio::time::sleep(CATCH_UP_POLL).await,
        }
    };
    let mut first_progress_after = None;
    let (held, finished) = loop {
        // A node that has bound its port may not answer for a moment.
        let held = cluster::head(&mut admin, province, CHANNEL).await.unwrap_or(had);
        if held > had && first_progress_after.is_none() {
            first_progress_after = Some(started.elapsed());
        }
        if held >= target {
            break (held, true);
        }
        if Instant::now() >= limit {
            break (held, false);
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    };
    let rate = Rate { ops: held.min(target) - had, elapsed: started.elapsed() };
    let catch_up_cpu = cluster.cpu_times().since(&cpu_before, rate.elapsed);
    // The replicator counts a run it applied after the commit that made it
    // the head: wait a moment for the last one, so that the summary is whole.
    let counted_by = Instant::now() + COUNTERS_SETTLE_MAX;
    let counters = loop {
        let counters = cluster.counters(LAGGARD).await?;
        if counters.received() >= held.saturating_sub(had) || Instant::now() >= counted_by {
            break counters;
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    };
    let laggard = counters.summary(&Default::default());

    let sample_event = province_event(cluster, province, had + (target - had) / 2).await?;
    Ok(CatchUp {
        rate,
        appended,
        finished,
        settled,
        bound_after,
        first_progress_after,
        sample_event,
        append_cpu,
        catch_up_cpu,
        laggard,
    })
}

/// [`CLIENTS`] clients append `request` on [`CHANNEL`] at the province in
/// batches of [`BATCH_EVENTS`], until [`EVENTS_WANTED`] or
/// [`APPEND_DURATION_MAX`].
async fn append(cluster: &Cluster, province: &str, request: &pb::AppendRequest) -> anyhow::Result<Rate> {
    let request = pb::AppendRequest { channel: CHANNEL.into(), ..request.clone() };
    let batch = pb::AppendBatchRequest { requests: vec![request; BATCH_EVENTS], ..Default::default() };
    let batches = EVENTS_WANTED.div_ceil(BATCH_EVENTS as u64);
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(cluster.event_log(province).await?);
    }
    let started = Instant::now();
    let deadline = started + APPEND_DURATION_MAX;
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        let (batch, next) = (batch.clone(), next.clone());
        tasks.spawn(async move {
            let mut appended = 0;
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < batches {
                let answer = client.append_batch(batch.clone()).await?.into_inner();
                anyhow::ensure!(answer.responses.len() == BATCH_EVENTS, "AppendBatch answered too few events");
                appended += BATCH_EVENTS as u64;
            }
            anyhow::Ok(appended)
        });
    }
    let mut ops = 0;
    while let Some(joined) = tasks.join_next().await {
        ops += joined.context("a province client panicked")?.context("appending at the province failed")?;
    }
    Ok(Rate { ops, elapsed: started.elapsed() })
}

/// Waits until every node in `codes` holds (province, down) up to
/// `target`, and then until none of them received anything for
/// [`QUIET_WINDOW`], at most [`SETTLE_MAX`]; times count from `since`.
async fn settle(
    cluster: &Cluster,
    codes: &[String],
    before: &[crate::counters::Counters],
    province: &str,
    target: u64,
    since: Instant,
) -> anyhow::Result<Settled> {
    let limit = Instant::now() + SETTLE_MAX;
    let mut admins = Vec::new();
    for code in codes {
        admins.push(cluster.admin(code).await?);
    }
    let mut settled = Settled { nodes: codes.len(), ..Settled::default() };
    // The others' received events at the last change, and when it was.
    let mut last: Option<(u64, Instant)> = None;
    loop {
        if settled.held_after.is_none() {
            let mut all = true;
            for admin in &mut admins {
                all &= cluster::head(admin, province, CHANNEL).await? >= target;
            }
            if all {
                settled.held_after = Some(since.elapsed());
            }
        }
        let mut now = Vec::new();
        for code in codes {
            now.push(cluster.counters(code).await?);
        }
        let received = now.iter().map(crate::counters::Counters::received).sum();
        settled.applied = now.iter().zip(before).map(|(n, b)| n.since(b, "linkage_applied_events_total")).sum();
        settled.duplicates = now.iter().zip(before).map(|(n, b)| n.since(b, "linkage_duplicate_events_total")).sum();
        match last {
            Some((count, at)) if count == received => {
                if settled.held_after.is_some() && at.elapsed() >= QUIET_WINDOW {
                    settled.quiet_after = Some(since.elapsed());
                    return Ok(settled);
                }
            }
            _ => last = Some((received, Instant::now())),
        }
        if Instant::now() >= limit {
            return Ok(settled);
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// The stored bytes of the province's `down` event at `seq`.
async fn province_event(cluster: &Cluster, province: &str, seq: u64) -> anyhow::Result<Vec<u8>> {
    let page = cluster
        .event_log(province)
        .await?
        .read(pb::ReadRequest {
            range: Some(pb::read_request::Range::Stream(pb::StreamRange {
                origin: province.into(),
                channel: CHANNEL.into(),
                from_seq: seq,
            })),
            page_size: 1,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    let event = page.events.into_iter().find_map(|stored| stored.event).context("the province lacks its own event")?;
    Ok(event.encode_to_vec())
}
