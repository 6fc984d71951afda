//! `linkage-bench`: how fast durable appends are, each figure printed
//! beside a baseline measured in the same process, on the same disk, in
//! the same run, with the ratio between them. Absolute numbers say more
//! about the machine than about linkage; the ratio to the cheapest thing
//! that does the same durable work says what linkage adds.
//!
//! Run it with `make bench` (`cargo run --release -p linkage-bench`). The
//! table goes to stdout and the same rows to `target/bench/report.json`.
//! Stores and files go under `$LINKAGE_BENCH_DIR`, else
//! `target/bench-tmp` in the workspace, which is on the repository's disk
//! and not on a tmpfs (where fdatasync is free and every figure would be
//! a lie); each is removed when its figure is done. Verdicts are
//! informational: the run exits 0 whether targets are met or not.
//!
//! # Figures
//!
//! 1. **Batched durable appends per second.** [`linkage_store::Appender`]
//!    in-process takes sequential jobs of 256 validated `InfoReported`
//!    events and, per job, plans them with the core ledger (heads, seqs,
//!    hash chain, HLC), signs, writes one sled batch (event, stream index,
//!    id index, head, HLC) and waits for one fdatasync. *Baseline*: bare
//!    sled doing the least any durable batch must do: one `sled::Batch` of
//!    256 values of the same bytes as our stored events under sequential
//!    keys, `apply_batch`, `flush`, and one fdatasync of the data file.
//!    Both sides pay one fdatasync per 256 events, so the disk's cost
//!    cancels and the ratio shows our planning, signing and indexing.
//!    Target: ratio ≥ 0.6.
//! 2. **Unary appends per second, with 1 and with 64 clients**, over real
//!    gRPC on loopback to a node started in-process with
//!    [`linkage_node::server::start`]. *Baseline*: the same clients on the
//!    same connections calling `grpc.health.v1.Health/Check` on the same
//!    server: a unary call that does no work, so it measures tonic, HTTP/2
//!    and the runtime alone. The ratio is what validation, the writer
//!    queue and durability cost per call. With one client each append
//!    waits for its own fdatasync, so the ratio is low by nature and has
//!    no target; with 64 the writer's group commit covers many appends
//!    with one fdatasync. Target for 64 clients: ratio ≥ 0.3.
//! 3. **Append latency, p50 and p99**, of one client making sequential
//!    unary `Append`s. *Baseline*: a 300-byte append to a file on the same
//!    disk followed by fdatasync, the floor under any acknowledged durable
//!    write. Targets: p50 ≤ baseline p50 + 300 µs (gRPC, validation and
//!    sled add little to the disk), p99 ≤ 2 ms.
//!
//! # Layout
//! - [`scratch`]: where stores and files go, and their removal.
//! - [`fixture`]: the topology and the event every figure appends.
//! - [`measure`]: rates and latency percentiles.
//! - [`batched`]: figure 1, both sides.
//! - [`unary`]: figures 2 and 3, our side, and the health-check baseline.
//! - [`fsync`]: figure 3's baseline.
//! - [`report`]: the table and the JSON.

mod batched;
mod fixture;
mod fsync;
mod measure;
mod report;
mod scratch;
mod unary;

use anyhow::Context;
use linkage_core::validate::validate_append;
use prost::Message;
use report::{Report, Row, Target};
use scratch::Scratch;

/// Figure 1's target: our batched rate over raw sled's.
const BATCHED_RATIO_MIN: f64 = 0.6;

/// Figure 2's target with [`unary::CLIENTS_MANY`] clients: appends over
/// health checks.
const UNARY_MANY_RATIO_MIN: f64 = 0.3;

/// Figure 3: what gRPC, validation and the store may add to the raw
/// fdatasync's median.
const LATENCY_P50_SLACK_US: f64 = 300.0;

/// Figure 3: the slowest append in a hundred.
const LATENCY_P99_MAX_US: f64 = 2_000.0;

/// Where the JSON goes, relative to the workspace root.
const REPORT_FILE: &str = "target/bench/report.json";

/// What each baseline is, in the words the table's legend prints.
const BATCHED_BASELINE: &str = "batched: raw sled, per 256 same-size values one apply_batch + flush + fdatasync";
/// See [`BATCHED_BASELINE`].
const UNARY_BASELINE: &str = "unary: grpc.health.v1 Health/Check, same clients, connections and server";
/// See [`BATCHED_BASELINE`].
const LATENCY_BASELINE: &str = "latency: 300-byte file append + fdatasync, same disk";

fn main() -> anyhow::Result<()> {
    let started_unix_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let load_average_1m = report::load_average_1m();
    let root = scratch::workspace_root()?;
    let (base, chosen) = scratch::base_dir(&root);
    let run = Scratch::create(&base, &format!("run-{}", std::process::id()))?;
    let filesystem = scratch::Filesystem::of(run.path(), &root)?;

    let topology = fixture::topology(&root)?;
    let origin = fixture::origin()?;
    let request = fixture::request();
    let valid = validate_append(&topology, origin, &request).context("the fixture does not validate")?;
    let job = vec![valid; batched::JOB_EVENTS];

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    // Figure 1. Ours first: the baseline writes our stored event's bytes.
    let dir = run.child("batched-store")?;
    let ours = runtime.block_on(batched::ours(dir.path(), origin, &job))?;
    drop(dir);
    let dir = run.child("batched-sled")?;
    let raw = batched::raw_sled(dir.path(), &ours.sample_event)?;
    drop(dir);

    // Figures 2 and 3, our side, on one node.
    let dir = run.child("node")?;
    let unary = runtime.block_on(unary_figures(&root, dir.path(), request.clone()))?;
    drop(dir);

    // Figure 3's baseline.
    let dir = run.child("fdatasync")?;
    let raw_latency = fsync::latencies(dir.path())?;
    drop(dir);
    drop(runtime);

    let mut rows = vec![Row::new(
        "batched durable appends",
        "events/s",
        BATCHED_BASELINE,
        (ours.rate.per_s(), ours.rate.ops),
        (raw.per_s(), raw.ops),
        Target::RatioAtLeast(BATCHED_RATIO_MIN),
    )];
    for (clients, appends, checks, target) in [
        (1, unary.one_append, unary.one_health, Target::None),
        (unary::CLIENTS_MANY, unary.many_append, unary.many_health, Target::RatioAtLeast(UNARY_MANY_RATIO_MIN)),
    ] {
        let plural = if clients == 1 { "" } else { "s" };
        rows.push(Row::new(
            &format!("unary appends, {clients} client{plural}"),
            "ops/s",
            UNARY_BASELINE,
            (appends.per_s(), appends.ops),
            (checks.per_s(), checks.ops),
            target,
        ));
    }
    let (ours_n, raw_n) = (unary.latency.len() as u64, raw_latency.len() as u64);
    for (p, target) in
        [(50.0, Target::BaselinePlusAtMost(LATENCY_P50_SLACK_US)), (99.0, Target::AtMost(LATENCY_P99_MAX_US))]
    {
        rows.push(Row::new(
            &format!("append latency p{p:.0}"),
            "µs",
            LATENCY_BASELINE,
            (unary.latency.percentile_us(p), ours_n),
            (raw_latency.percentile_us(p), raw_n),
            target,
        ));
    }

    let report = Report {
        started_unix_s,
        cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        load_average_1m,
        scratch_dir: base.display().to_string(),
        filesystem,
        request_bytes: request.encoded_len(),
        stored_event_bytes: ours.sample_event.len(),
        rows,
    };
    drop(run);
    if !chosen {
        // Only our own default directory; it is left alone if anything
        // else is in it.
        let _ = std::fs::remove_dir(&base);
    }
    report.print();
    let path = root.join(REPORT_FILE);
    report.write_json(&path)?;
    println!("report: {}", path.display());
    Ok(())
}

/// Figures 2 and 3, our side.
struct UnaryFigures {
    one_append: measure::Rate,
    one_health: measure::Rate,
    many_append: measure::Rate,
    many_health: measure::Rate,
    latency: measure::Latencies,
}

/// Starts a node in `data_dir`, measures throughput with one and with many
/// clients, each baseline right before its figure, then single-client
/// latency, and stops the node.
async fn unary_figures(
    root: &std::path::Path,
    data_dir: &std::path::Path,
    request: linkage_core::pb::AppendRequest,
) -> anyhow::Result<UnaryFigures> {
    let node = unary::BenchNode::start(root, data_dir).await?;
    let append = unary::Call::Append(Box::new(request));
    let health = unary::Call::HealthCheck;

    let one = node.connect(1).await?;
    let one_health = unary::throughput(&one, 1, &health).await?;
    let one_append = unary::throughput(&one, 1, &append).await?;
    let many = node.connect(unary::CONNECTIONS_MAX.min(unary::CLIENTS_MANY)).await?;
    let many_health = unary::throughput(&many, unary::CLIENTS_MANY, &health).await?;
    let many_append = unary::throughput(&many, unary::CLIENTS_MANY, &append).await?;
    let latency = unary::latencies(&one[0], &append).await?;

    drop((one, many));
    node.stop().await?;
    Ok(UnaryFigures { one_append, one_health, many_append, many_health, latency })
}
