//! Figure 9: a county that missed 100,000 events on many streams — every
//! kind of channel a county is owed, from six origins — catches up.
//!
//! 古浪县 ([`crate::catch_up::LAGGARD`]) leaves, once by SIGKILL and once
//! by SIGSTOP; while it is away six origins append [`EVENTS_TOTAL`] events
//! between them on the streams in [`STREAMS`]: the `down` of its province
//! and city, `all` of six committees, `to:620622` from three, and a joint
//! group of three cities' committees led by 张掖市 ([`GROUP`]). Then it
//! comes back (started again, or SIGCONT) and the figure is events/s from
//! then until it holds every stream's head as its origin does.
//!
//! *Baseline*: figure 6's single-stream catch-up rate, measured in the
//! same run on the same topology. *Target*: at least half of it: catching
//! up is paced by the network, the disk and the writer, not by timers or
//! by how many streams there are.

use crate::catch_up::LAGGARD;
use crate::cluster::{self, Cluster};
use crate::measure::Rate;
use anyhow::Context;
use linkage_core::pb;
use std::time::{Duration, Instant};

/// Events appended while the laggard is away, over all streams.
pub const EVENTS_TOTAL: u64 = 100_000;

/// The joint group: led by 张掖市, with the laggard among its members.
pub const GROUP: &str = "620700-bench-many";

/// The group's members besides its lead.
const MEMBERS: [&str; 3] = ["620622", "620722", "620100"];

/// (origin, channel) of every stream the laggard is owed.
pub const STREAMS: [(&str, &str); 13] = [
    ("620000", "down"),
    ("620000", "all"),
    ("620000", "to:620622"),
    ("620600", "down"),
    ("620600", "all"),
    ("620600", "to:620622"),
    ("620700", "all"),
    ("620700", "group:620700-bench-many"),
    ("620722", "all"),
    ("620722", "group:620700-bench-many"),
    ("620100", "all"),
    ("620100", "group:620700-bench-many"),
    ("620102", "all"),
];

/// Events per `AppendBatch`: the largest allowed.
const BATCH_EVENTS: usize = linkage_core::limits::BATCH_EVENTS_MAX;

/// How long the group's forming may take to reach its members.
const FORMING_MAX: Duration = Duration::from_secs(30);

/// Wall time the catch-up may take; after it the figure counts what came.
pub const CATCH_UP_MAX: Duration = Duration::from_secs(300);

/// How long the other nodes must have received nothing before the
/// laggard comes back, and how long that may take at most.
const QUIET_WINDOW: Duration = Duration::from_secs(1);
/// See [`QUIET_WINDOW`].
const QUIET_MAX: Duration = Duration::from_secs(120);

/// Pause between looks at the laggard's heads.
const POLL: Duration = Duration::from_millis(50);

/// How the laggard is away.
#[derive(Clone, Copy, Debug)]
pub enum Away {
    /// SIGKILL, then started again.
    Killed,
    /// SIGSTOP, then SIGCONT: its connections stay, its inbox fills.
    Paused,
}

/// What the figure measured.
pub struct ManyStreams {
    /// Events the laggard caught up on, over the time from its return
    /// until it held every head (or [`CATCH_UP_MAX`] passed).
    pub rate: Rate,
    /// Whether it held every head in time.
    pub finished: bool,
    /// From its return until it answered gRPC (its store opened).
    pub serving_after: Duration,
    /// From its return until it first held more of any stream.
    pub first_progress_after: Option<Duration>,
    /// Its replication's counters from its return.
    pub laggard: String,
}

/// Forms [`GROUP`] and waits until each member holds the forming event.
pub async fn form_group(cluster: &Cluster) -> anyhow::Result<()> {
    let lead = "620700";
    let formed = pb::AppendRequest {
        channel: "all".into(),
        payload: Some(pb::Payload {
            kind: Some(pb::payload::Kind::GroupFormed(pb::GroupFormed {
                group_id: GROUP.into(),
                title: "黄河流域生态保护联合调研".into(),
                lead: lead.into(),
                members: MEMBERS.iter().map(|m| m.to_string()).collect(),
                topic_ids: Vec::new(),
                rules: linkage_core::rules::GROUP_RULES,
            })),
        }),
        ..Default::default()
    };
    let answer = cluster.event_log(lead).await?.append(formed).await.context("forming the group")?.into_inner();
    let seq = answer.event.and_then(|e| e.event).map(|e| e.seq).context("the forming event has no seq")?;
    let limit = Instant::now() + FORMING_MAX;
    for member in MEMBERS {
        let mut admin = cluster.admin(member).await?;
        while cluster::head(&mut admin, lead, "all").await? < seq {
            anyhow::ensure!(Instant::now() < limit, "{member} did not hear the group formed in {FORMING_MAX:?}");
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

/// Sends the laggard away, appends [`EVENTS_TOTAL`] events over
/// [`STREAMS`] (each origin's streams in turn, the origins side by side),
/// brings it back and times it until it holds every head.
pub async fn measure(cluster: &mut Cluster, away: Away, request: &pb::AppendRequest) -> anyhow::Result<ManyStreams> {
    let mut admin = cluster.admin(LAGGARD).await?;
    let mut had = Vec::new();
    for (origin, channel) in STREAMS {
        had.push(cluster::head(&mut admin, origin, channel).await?);
    }
    drop(admin);
    match away {
        Away::Killed => cluster.kill9(LAGGARD)?,
        Away::Paused => cluster.pause(LAGGARD, true)?,
    }
    append(cluster, request).await?;
    let mut targets = Vec::new();
    for (origin, channel) in STREAMS {
        targets.push(cluster::head(&mut cluster.admin(origin).await?, origin, channel).await?);
    }
    let owed: u64 = targets.iter().zip(&had).map(|(t, h)| t.saturating_sub(*h)).sum();
    // As figure 6: the others first take in what was appended, so that
    // they do not compete with the laggard for the cores.
    quiet(cluster).await?;

    eprintln!("  {LAGGARD} comes back ({away:?}) and catches up on {owed} events over {} streams", STREAMS.len());
    let started = Instant::now();
    match away {
        Away::Killed => {
            cluster.spawn(LAGGARD)?;
            cluster.wait_bound(LAGGARD).await?;
        }
        Away::Paused => cluster.pause(LAGGARD, false)?,
    }
    let before = cluster.counters(LAGGARD).await.ok();
    let limit = started + CATCH_UP_MAX;
    let mut admin = loop {
        match cluster.admin(LAGGARD).await {
            Ok(admin) => break admin,
            Err(e) if Instant::now() >= limit => return Err(e.context("the county does not serve")),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    };
    let serving_after = started.elapsed();
    let mut first_progress_after = None;
    let (held, finished) = loop {
        let mut held = 0;
        for ((origin, channel), (target, had)) in STREAMS.iter().zip(targets.iter().zip(&had)) {
            let head = cluster::head(&mut admin, origin, channel).await.unwrap_or(*had);
            held += head.min(*target).saturating_sub(*had);
        }
        if held > 0 && first_progress_after.is_none() {
            first_progress_after = Some(started.elapsed());
        }
        if held >= owed {
            break (held, true);
        }
        if Instant::now() >= limit {
            break (held, false);
        }
        tokio::time::sleep(POLL).await;
    };
    let rate = Rate { ops: held, elapsed: started.elapsed() };
    let after = cluster.counters(LAGGARD).await?;
    let laggard = after.summary(&before.unwrap_or_default());
    Ok(ManyStreams { rate, finished, serving_after, first_progress_after, laggard })
}

/// Waits until no node but the laggard received anything for
/// [`QUIET_WINDOW`], at most [`QUIET_MAX`].
async fn quiet(cluster: &Cluster) -> anyhow::Result<()> {
    let others: Vec<String> = cluster.codes().into_iter().filter(|c| c != LAGGARD).collect();
    let limit = Instant::now() + QUIET_MAX;
    let mut last: Option<(u64, Instant)> = None;
    while Instant::now() < limit {
        let mut received = 0;
        for code in &others {
            received += cluster.counters(code).await?.received();
        }
        match last {
            Some((count, since)) if count == received => {
                if since.elapsed() >= QUIET_WINDOW {
                    return Ok(());
                }
            }
            _ => last = Some((received, Instant::now())),
        }
        tokio::time::sleep(POLL * 5).await;
    }
    eprintln!("  the other nodes were still receiving after {} s; they compete with the laggard", QUIET_MAX.as_secs());
    Ok(())
}

/// Each origin appends its share of [`EVENTS_TOTAL`] on its streams, one
/// batch per stream in turn; the origins run side by side.
async fn append(cluster: &Cluster, request: &pb::AppendRequest) -> anyhow::Result<()> {
    let per_stream = EVENTS_TOTAL / STREAMS.len() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    let origins: std::collections::BTreeSet<&str> = STREAMS.iter().map(|(o, _)| *o).collect();
    for origin in origins {
        let mut client = cluster.event_log(origin).await?;
        let channels: Vec<&str> = STREAMS.iter().filter(|(o, _)| *o == origin).map(|(_, c)| *c).collect();
        let request = request.clone();
        tasks.spawn(async move {
            let mut left: Vec<(&str, u64)> = channels.iter().map(|c| (*c, per_stream)).collect();
            while left.iter().any(|(_, n)| *n > 0) {
                for (channel, n) in left.iter_mut().filter(|(_, n)| *n > 0) {
                    let size = (*n).min(BATCH_EVENTS as u64) as usize;
                    let one = pb::AppendRequest { channel: channel.to_string(), ..request.clone() };
                    let batch = pb::AppendBatchRequest { requests: vec![one; size], ..Default::default() };
                    client.append_batch(batch).await.with_context(|| format!("{origin} appending on {channel}"))?;
                    *n -= size as u64;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("an appending client panicked")??;
    }
    Ok(())
}
