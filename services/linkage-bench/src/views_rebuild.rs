//! Figure 8: rebuilding the four views from the log.
//!
//! *Ours*: a county's log of [`EVENTS`] events is written through the
//! appender; its view records and version mark are then dropped
//! ([`forget_views`], as after an upgrade to views of another version) and
//! the store is opened again, which reads the log and folds it into fresh
//! view records before serving. The figure is events over that rebuild's
//! wall time. A note gives `AdminService.RebuildViews` on the same store
//! beforehand, while its views were current (`Appender::rebuild_views`:
//! the same folding, nothing to write).
//!
//! *Baseline*: bare sled reading every event's bytes in position order
//! from a copy of the same events ([`copy_to_raw_sled`]: one key per event,
//! as a log kept in sled would hold them), the faster of one scan before
//! and one after the rebuild: the least any rebuild must read. The ratio
//! is what reading the log file, decoding, folding and writing the records
//! cost. *Target*: ratio ≥ 0.25.
//!
//! The log is a county's mix of the four flows: one event in ten creates a
//! record (a 社情民意 item, a topic, a result), the other nine build on an
//! earlier one (forwarded, adopted, commented, reused, feedback), picked
//! at random, so records grow the way real ones do.

use crate::measure::Rate;
use anyhow::Context;
use ed25519_dalek::SigningKey;
use linkage_core::pb::payload::Kind;
use linkage_core::validate::validate_append;
use linkage_core::{pb, NodeCode, Topology};
use linkage_store::{Appender, Store};
use prost::Message;
use std::path::Path;
use std::time::{Duration, Instant};

/// Events in the log to rebuild from.
pub const EVENTS: u64 = 200_000;

/// Events per commit while the log is written.
const JOB_EVENTS: usize = 1_000;

/// Writing the log may take this long; a slower machine writes less.
const BUILD_DURATION_MAX: Duration = Duration::from_secs(60);

/// A fixed key: the store is thrown away afterwards.
const SIGNING_KEY_SEED: [u8; 32] = [9; 32];

/// What the figure measured.
pub struct Rebuild {
    /// After an upgrade: the store opened with no current views folds the
    /// whole log and writes every record. Events over the rebuild's wall time.
    pub ours: Rate,
    /// `AdminService.RebuildViews` on a node whose views are current: the
    /// same folding, but only records that differ are written (none).
    pub on_demand: Rate,
    /// The faster of two raw scans of the same events, one before and one after.
    pub raw: Rate,
    /// View records the rebuild wrote.
    pub records: u64,
}

/// A small deterministic generator: the log is the same in every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn request(kind: Kind) -> pb::AppendRequest {
    // An item's handling goes along its chain: the county's own items here.
    let handling = matches!(kind, Kind::InfoForwarded(_) | Kind::InfoAdopted(_));
    pb::AppendRequest {
        channel: if handling { format!("chain:{}", crate::fixture::NODE) } else { "up".into() },
        payload: Some(pb::Payload { kind: Some(kind) }),
        refs: Vec::new(),
        occurred_at: None,
        idempotency_key: String::new(),
    }
}

/// Writes the log, measures raw scan, rebuild, raw scan.
pub async fn measure(dir: &Path, topology: &Topology, origin: NodeCode) -> anyhow::Result<Rebuild> {
    let store = Store::open(dir).with_context(|| format!("opening a store in {}", dir.display()))?;
    let (appender, writer) = Appender::start(store, origin, SigningKey::from_bytes(&SIGNING_KEY_SEED))?;
    let mut rng = Lcg(42);
    let (mut items, mut topics, mut results) = (Vec::<String>::new(), Vec::<String>::new(), Vec::<String>::new());
    let started = Instant::now();
    let mut written = 0;
    while written < EVENTS && started.elapsed() < BUILD_DURATION_MAX {
        let mut job = Vec::with_capacity(JOB_EVENTS);
        for i in 0..JOB_EVENTS {
            let kind = if i % 10 == 0 || items.is_empty() || topics.is_empty() || results.is_empty() {
                match (i / 10) % 3 {
                    0 => Kind::InfoReported(pb::InfoReported {
                        title: "关于加强乡村小学冬季供暖保障的建议".into(),
                        body: "全县十二所乡村小学仍以燃煤小锅炉供暖，建议分批改造。".into(),
                        submitter: "王委员".into(),
                        sector: "教育界".into(),
                        member_id: String::new(),
                    }),
                    1 => Kind::TopicProposed(pb::TopicProposed {
                        year: 2027,
                        category: pb::TopicCategory::Research as i32,
                        title: "河西走廊节水农业发展调研".into(),
                        summary: "灌区节水改造与高效农业".into(),
                        lead_committee: String::new(),
                    }),
                    _ => Kind::ResearchCompleted(pb::ResearchCompleted {
                        title: "县域养老服务调研报告".into(),
                        summary: "提出六条建议".into(),
                        attachments: vec!["doc://report.pdf".into()],
                        group_id: String::new(),
                        year: 2027,
                        category: pb::TopicCategory::Research as i32,
                        documents: vec![],
                    }),
                }
            } else {
                let item = items[rng.below(items.len())].clone();
                let topic = topics[rng.below(topics.len())].clone();
                let result = results[rng.below(results.len())].clone();
                match rng.below(6) {
                    0 => Kind::InfoForwarded(pb::InfoForwarded { info_id: item, to: "市政协".into() }),
                    1 => Kind::InfoAdopted(pb::InfoAdopted {
                        info_id: item,
                        // The county's own level: only that is its to record.
                        level: pb::AdoptionLevel::County as i32,
                        by: "县委办公室".into(),
                        combined: false,
                        topology_version: 0,
                    }),
                    2 => Kind::TopicCommented(pb::TopicCommented {
                        topic_id: topic, text: "建议扩大调研范围".into()
                    }),
                    3 => Kind::TopicResponded(pb::TopicResponded {
                        topic_id: topic,
                        response: pb::TopicResponse::Joined as i32,
                        note: String::new(),
                    }),
                    4 => Kind::ResultAdopted(pb::ResultAdopted {
                        result_id: result,
                        by: "县政府".into(),
                        how: "纳入年度民生实事".into(),
                    }),
                    _ => Kind::ResultFeedback(pb::ResultFeedback { result_id: result, text: "已落实".into() }),
                }
            };
            job.push(validate_append(topology, origin, request(kind)).context("a generated event does not validate")?);
        }
        for appended in appender.append(job).await? {
            let event = pb::Event::decode(appended.event.raw.as_ref())?;
            match event.payload.and_then(|p| p.kind) {
                Some(Kind::InfoReported(_)) => items.push(event.id),
                Some(Kind::TopicProposed(_)) => topics.push(event.id),
                Some(Kind::ResearchCompleted(_)) => results.push(event.id),
                _ => {}
            }
        }
        written += JOB_EVENTS as u64;
    }
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer panicked"))?;

    let raw_dir = dir.join("raw-sled");
    copy_to_raw_sled(dir, &raw_dir)?;
    let raw_before = raw_scan(&raw_dir)?;
    let store = Store::open(dir)?;
    let (appender, writer) = Appender::start(store, origin, SigningKey::from_bytes(&SIGNING_KEY_SEED))?;
    let on_demand = appender.rebuild_views().await.map_err(|e| anyhow::anyhow!("rebuild: {e}"))?;
    drop(appender);
    writer.join().map_err(|_| anyhow::anyhow!("the writer panicked"))?;
    forget_views(dir)?;
    let upgrade = Store::open(dir)?.rebuilt_on_open().context("the store did not rebuild missing views")?;
    let raw_after = raw_scan(&raw_dir)?;
    for stats in [on_demand, upgrade] {
        anyhow::ensure!(stats.events == raw_before.ops, "a rebuild read {} of {} events", stats.events, raw_before.ops);
    }
    let raw = if raw_before.per_s() >= raw_after.per_s() { raw_before } else { raw_after };
    Ok(Rebuild {
        ours: Rate { ops: upgrade.events, elapsed: Duration::from_secs_f64(upgrade.seconds) },
        on_demand: Rate { ops: on_demand.events, elapsed: Duration::from_secs_f64(on_demand.seconds) },
        raw,
        records: upgrade.records,
    })
}

/// What an upgrade to a new view version looks like: no view records and
/// no version mark, as if an older version had written none.
fn forget_views(dir: &Path) -> anyhow::Result<()> {
    Ok(Store::forget_views(dir)?)
}

/// Copies every event's bytes from the store in `dir` into a bare sled
/// tree in `raw_dir`, keyed by position.
fn copy_to_raw_sled(dir: &Path, raw_dir: &Path) -> anyhow::Result<()> {
    let store = Store::open(dir)?;
    let db = linkage_store::open_sled(&sled::Config::new().path(raw_dir))?;
    let tree = db.open_tree("log")?;
    let mut from = 1;
    loop {
        let page = store.read_positions(from, 1_000)?;
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        let mut batch = sled::Batch::default();
        for event in page {
            batch.insert(&event.position.to_be_bytes()[..], event.raw);
        }
        tree.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(())
}

/// Reads every event's bytes with bare sled, in position order.
fn raw_scan(dir: &Path) -> anyhow::Result<Rate> {
    let db = linkage_store::open_sled(&sled::Config::new().path(dir))?;
    let tree = db.open_tree("log")?;
    let started = Instant::now();
    let (mut events, mut bytes) = (0u64, 0usize);
    for entry in tree.iter() {
        let (_, value) = entry?;
        bytes += value.len();
        events += 1;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(bytes > 0, "the log is empty");
    Ok(Rate { ops: events, elapsed })
}
