//! `linkage-bench`: how fast linkage makes events durable and moves them
//! between nodes. `make bench` builds the release binaries (`make build`)
//! and runs `target/release/linkage-bench`, which measures the twelve
//! figures below. Every figure is printed beside a baseline measured in the
//! same run, on the same disk or the same nats-server, with the ratio
//! between them: absolute numbers say more about the machine than about
//! linkage; the ratio to the cheapest thing that does the same work says
//! what linkage adds. What each figure measures, its baseline and its
//! target are documented in the file that measures it.
//!
//! # Figures
//!
//! 1. Batched durable appends per second, through the store's writer
//!    in-process, against raw sled: [`batched`].
//! 2. Unary appends per second with 1 and with 64 clients over gRPC,
//!    against health checks: [`unary`].
//! 3. Append latency p50 and p99 of one client, against a raw append +
//!    fdatasync: [`unary`], its baseline in [`fsync`].
//! 4. County → province latency p50 and p99, against NATS round trips:
//!    [`propagation`], its baseline in [`raw_nats`].
//! 5. Fan-in of three counties to the province, against NATS moving the
//!    same pushes: [`fan_in`], its baseline in [`raw_nats`].
//! 6. Catch-up of a county that missed a million events, against raw sled:
//!    [`catch_up`], its baseline in [`batched`].
//! 7. Views updated during fan-in, against events stored, by the province's
//!    own counters: [`fan_in`].
//! 8. View rebuild from the log, against a raw sled scan: [`views_rebuild`].
//! 9. Catch-up of a county that missed 100,000 events on 13 streams of
//!    every kind from 6 origins, after kill -9 and after SIGSTOP/SIGCONT,
//!    against figure 6: [`many_streams`].
//! 10. A 20 MiB document from a county to the province, against NATS
//!     moving the same bytes: [`documents`].
//! 11. An idle county's resident memory and CPU over a minute, against a
//!     bare process on the same allocator, runtime, sled and tonic:
//!     [`footprint`].
//! 12. Disk per stored event after single and batched appends and a clean
//!     stop, county and city stores, against the events' own bytes:
//!     [`disk`].
//!
//! Figures 4 to 7 and 9 run the demo topology (`deploy/topology/demo.toml`: the
//! province, three cities, three counties) as real processes on loopback
//! ([`cluster`]), measured by [`replication`]. Every node shares this
//! machine's cores with the others and with the bench, as they would not
//! in production, so their rates are a floor.
//!
//! # Running it
//!
//! - Figures 4 to 7 run the release binaries of `make build`; the bench
//!   stops at once when they are missing and warns when sources changed
//!   after them.
//! - The table goes to stdout, progress to stderr, and the same rows to
//!   `target/bench/report.json`. Verdicts are informational: the run exits
//!   0 whether targets are met or not.
//! - Stores and files go under `$LINKAGE_BENCH_DIR`, else
//!   `target/bench-tmp` on the repository's disk, never a tmpfs, where
//!   fdatasync is free and every figure would be a lie ([`scratch`]); each
//!   is removed when its figure is done. A whole run needs about 10 GiB
//!   free.
//! - `LINKAGE_BENCH_STORE_ONLY=1` runs figures 1, 8 and 12, single appends to
//!   the store and pulled pages applied to it without NATS, and prints
//!   plain lines: a quick look while working on the store.
//! - `LINKAGE_BENCH_NODE_ONLY=1` runs figures 1, 2, 3 and 8 and prints one
//!   line: a quick look while working on the append path (about a minute).
//! - `LINKAGE_BENCH_LATENCY_ONLY=<rounds>` runs figure 4 that many times on
//!   one topology and prints a line per round: a quick look at the tail.
//!
//! # Layout
//! - [`scratch`]: where stores and files go, and their removal.
//! - [`fixture`]: the topology and the event every figure appends.
//! - [`measure`]: rates and latency percentiles.
//! - [`batched`]: figure 1, both sides; figure 6's baseline.
//! - [`unary`]: figures 2 and 3, our side, and the health-check baseline.
//! - [`fsync`]: figure 3's baseline.
//! - [`cluster`]: the demo topology as processes (the testkit's supervisor).
//! - [`counters`]: what a node counted (`/metrics`) and the CPU each process used.
//! - [`task`]: tasks stopped with the figure that spawned them.
//! - [`replication`]: figures 4 to 7, their rows and notes.
//! - [`propagation`], [`fan_in`], [`catch_up`], [`many_streams`]: figures
//!   4, 5 (and 7), 6 and 9, our side.
//! - [`documents`]: figure 10, our side.
//! - [`footprint`]: figure 11, both sides.
//! - [`disk`]: figure 12, both sides.
//! - [`raw_nats`]: the bench's NATS user and the baselines of figures 4 and 5.
//! - [`views_rebuild`]: figure 8, both sides.
//! - [`report`]: the table and the JSON.

/// sled allocates and frees a node copy on nearly every insert, often on
/// another thread than the one that allocated it; glibc's malloc spent
/// half of the index thread's time there (perf, catch-up). mimalloc
/// does the same work in a fraction of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod batched;
mod catch_up;
mod cluster;
mod counters;
mod disk;
mod documents;
mod fan_in;
mod fixture;
mod footprint;
mod fsync;
mod many_streams;
mod measure;
mod propagation;
mod raw_nats;
mod replication;
mod report;
mod scratch;
mod task;
mod unary;
mod views_rebuild;

use anyhow::Context;
use linkage_core::validate::validate_append;
use prost::Message;
use report::{Report, Row, Target, Verdict};
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

/// Figure 3's rows: the percentile and its target over the raw fdatasync.
const LATENCY_TARGETS: [(f64, Target); 2] =
    [(50.0, Target::BaselinePlusAtMost(LATENCY_P50_SLACK_US)), (99.0, Target::AtMost(LATENCY_P99_MAX_US))];

/// Figure 8: view rebuild over a raw scan of the same log.
const REBUILD_RATIO_MIN: f64 = 0.25;

/// Where the JSON goes, relative to the workspace root.
const REPORT_FILE: &str = "target/bench/report.json";

/// What each baseline is, in the words the table's legend prints.
const BATCHED_BASELINE: &str = "batched: raw sled, per 256 same-size values one apply_batch + flush + fdatasync";
/// See [`BATCHED_BASELINE`].
const UNARY_BASELINE: &str = "unary: grpc.health.v1 Health/Check, same clients, connections and server";
/// See [`BATCHED_BASELINE`].
const LATENCY_BASELINE: &str = "latency: 300-byte file append + fdatasync, same disk";
/// See [`BATCHED_BASELINE`].
const REBUILD_BASELINE: &str = "rebuild: bare sled reading every event of the same log in position order";

/// Free space the whole bench needs on its scratch disk.
const DISK_FREE_BYTES_MIN: u64 = 10 << 30;

fn main() -> anyhow::Result<()> {
    // Figure 11's floor: this binary again, as a bare process.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 3 && args[1] == footprint::FLOOR_ARG {
        return footprint::serve_floor(std::path::Path::new(&args[2]));
    }
    let started_unix_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let load_average_1m = report::load_average_1m();
    let root = scratch::workspace_root()?;
    // Before anything is measured: without them figures 4 to 6 cannot run.
    let binaries = cluster::Binaries::find(&root)?;
    if let Some(stale) = &binaries.stale {
        eprintln!("WARNING: {stale}");
    }
    let (base, chosen) = scratch::base_dir(&root);
    let run = Scratch::create(&base, &format!("run-{}", std::process::id()))?;
    let filesystem = scratch::Filesystem::of(run.path(), &root)?;
    // Figure 6 leaves 1,000,000 events on each of 6 nodes: a log and its
    // sled indexes and views, about 1.2 GiB a node. Say so up front rather
    // than fill the disk halfway through.
    let quick =
        ["LINKAGE_BENCH_STORE_ONLY", "LINKAGE_BENCH_LATENCY_ONLY"].iter().any(|v| std::env::var_os(v).is_some());
    if !quick && filesystem.free_bytes < DISK_FREE_BYTES_MIN {
        anyhow::bail!(
            "make bench needs about {} GiB free under {} (figure 6 stores 1,000,000 events on 6 nodes), \
             and {:.1} GiB are free: free some space or point LINKAGE_BENCH_DIR at a larger disk",
            DISK_FREE_BYTES_MIN >> 30,
            run.path().display(),
            filesystem.free_bytes as f64 / f64::from(1 << 30)
        );
    }

    let topology = fixture::topology(&root)?;
    let origin = fixture::origin()?;
    let request = fixture::request();
    let valid = validate_append(&topology, origin, request.clone()).context("the fixture does not validate")?;
    let job = vec![valid; batched::JOB_EVENTS];

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(rounds) = std::env::var_os("LINKAGE_BENCH_LATENCY_ONLY") {
        let rounds =
            rounds.to_str().and_then(|r| r.parse().ok()).context("LINKAGE_BENCH_LATENCY_ONLY: a count of rounds")?;
        return runtime.block_on(replication::latency_rounds(&root, &binaries, &run, &request, rounds));
    }

    // Figure 1. Ours first: the baseline writes our stored event's bytes.
    let dir = run.child("batched-store")?;
    let ours = runtime.block_on(batched::ours(dir.path(), origin, &job))?;
    drop(dir);
    let dir = run.child("batched-sled")?;
    let raw = batched::raw_sled(
        dir.path(),
        &ours.sample_event,
        batched::JOB_EVENTS,
        batched::RUN_JOBS_MAX,
        batched::RUN_DURATION_MAX,
    )?;
    drop(dir);

    // Figure 8, before the topology: it needs the cores to itself.
    let dir = run.child("views")?;
    let rebuild = runtime.block_on(views_rebuild::measure(dir.path(), &topology, origin))?;
    drop(dir);
    if std::env::var_os("LINKAGE_BENCH_STORE_ONLY").is_some() {
        for row in &disk::figures(&runtime, &run, origin, &job[0])?.0 {
            println!("{}: {:.0} B, event {:.0} B, ratio {:.2}", row.figure, row.ours, row.baseline, row.ratio);
        }
        // A quick look while working on the store: figures 1, 8 and 12 only.
        println!(
            "batched: ours {:.0}/s raw {:.0}/s ratio {:.2}",
            ours.rate.per_s(),
            raw.per_s(),
            ours.rate.per_s() / raw.per_s()
        );
        println!(
            "rebuild: after an upgrade {:.0}/s, on demand {:.0}/s, raw {:.0}/s, ratios {:.2} and {:.2}",
            rebuild.ours.per_s(),
            rebuild.on_demand.per_s(),
            rebuild.raw.per_s(),
            rebuild.ours.per_s() / rebuild.raw.per_s(),
            rebuild.on_demand.per_s() / rebuild.raw.per_s()
        );
        let dir = run.child("single-store")?;
        let single = runtime.block_on(batched::single_latencies(dir.path(), origin, &job[0]))?;
        drop(dir);
        println!("single appends to the store alone: p50 {} µs, p99 {} µs", single.0, single.1);
        let (from, to) = (run.child("pulled-from")?, run.child("pulled-to")?);
        let pulled = runtime.block_on(batched::pulled_pages(from.path(), to.path(), origin, &job))?;
        drop((from, to));
        println!("pulled pages verified and applied to the store alone: {:.0} events/s", pulled.per_s());
        return Ok(());
    }

    // Figures 2 and 3 on one node, figure 3 with its baseline interleaved.
    let (dir, raw_dir) = (run.child("node")?, run.child("fdatasync")?);
    let unary = runtime.block_on(unary_figures(&root, dir.path(), raw_dir.path(), request.clone()))?;
    drop((dir, raw_dir));
    let raw_latency = &unary.raw_latency;
    if std::env::var_os("LINKAGE_BENCH_NODE_ONLY").is_some() {
        // A quick look while working on the node: figures 1, 2, 3 and 8.
        println!(
            "batched ratio {:.2}; unary 1 client {:.0}/s (health {:.0}/s), 64 clients {:.0}/s (health {:.0}/s); \
             latency p50 {:.0} µs p99 {:.0} µs, raw fdatasync p50 {:.0} µs p99 {:.0} µs, \
             fdatasync then health check p50 {:.0} µs",
            ours.rate.per_s() / raw.per_s(),
            unary.one_append.per_s(),
            unary.one_health.per_s(),
            unary.many_append.per_s(),
            unary.many_health.per_s(),
            unary.latency.percentile_us(50.0),
            unary.latency.percentile_us(99.0),
            raw_latency.percentile_us(50.0),
            raw_latency.percentile_us(99.0),
            unary.floor_latency.percentile_us(50.0),
        );
        return Ok(());
    }

    // Figure 12, the store alone, before the topology takes the cores.
    let (disk_rows, disk_note) = disk::figures(&runtime, &run, origin, &job[0])?;

    // Figures 4 to 7. Ctrl-C drops the figures' future, and with it the
    // topology, which stops every process it started.
    let replicated = runtime.block_on(async {
        tokio::select! {
            figures = replication::figures(&root, &binaries, &run, &request) => figures,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the topology was stopped")),
        }
    });
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
    for (p, target) in LATENCY_TARGETS {
        rows.push(Row::new(
            &format!("append latency p{p:.0}"),
            "µs",
            LATENCY_BASELINE,
            (unary.latency.percentile_us(p), ours_n),
            (raw_latency.percentile_us(p), raw_n),
            target,
        ));
    }

    // What TLS with client certificates and the allow-list costs: the
    // figures above are over TLS; their plaintext twins ran right after.
    rows.push(Row::new(
        "TLS: unary appends, 64 clients",
        "ops/s",
        TLS_BASELINE,
        (unary.many_append.per_s(), unary.many_append.ops),
        (unary.plain_many_append.per_s(), unary.plain_many_append.ops),
        Target::None,
    ));
    rows.push(Row::new(
        "TLS: append latency p50, 1 client",
        "µs",
        TLS_BASELINE,
        (unary.latency.percentile_us(50.0), ours_n),
        (unary.plain_latency.percentile_us(50.0), unary.plain_latency.len() as u64),
        Target::None,
    ));

    rows.push(Row::new(
        "view rebuild from the log",
        "events/s",
        REBUILD_BASELINE,
        (rebuild.ours.per_s(), rebuild.ours.ops),
        (rebuild.raw.per_s(), rebuild.raw.ops),
        Target::RatioAtLeast(REBUILD_RATIO_MIN),
    ));

    rows.extend(disk_rows);

    let mut notes: Vec<String> = binaries.stale.iter().map(|s| format!("WARNING: {s}")).collect();
    notes.push(disk_note);
    let floor = &unary.floor_latency;
    notes.push(format!(
        "latency: a floor for a durable RPC on this host, a raw append + fdatasync and then a \
         Health/Check on the same connection, timed together in the same rounds ({} samples): \
         p50 {:.0} µs, p99 {:.0} µs; append p50 minus floor p50 {:+.0} µs, p99 minus p99 {:+.0} µs",
        floor.len(),
        floor.percentile_us(50.0),
        floor.percentile_us(99.0),
        unary.latency.percentile_us(50.0) - floor.percentile_us(50.0),
        unary.latency.percentile_us(99.0) - floor.percentile_us(99.0),
    ));
    if let Some(missed) = floor_misses(floor, raw_latency) {
        notes.push(missed);
    }
    notes.push(format!(
        "rebuild: after an upgrade (no views stored) {} records written; on demand over current views \
         (AdminService.RebuildViews, nothing to rewrite) {} events/s, ratio {:.2}",
        report::thousands(rebuild.records as f64),
        report::thousands(rebuild.on_demand.per_s()),
        rebuild.on_demand.per_s() / rebuild.raw.per_s()
    ));
    let failed = match replicated {
        Ok(figures) => {
            rows.extend(figures.rows);
            notes.extend(figures.notes);
            None
        }
        Err(e) => {
            notes.push(format!("replication figures failed: {e:#}"));
            Some(e)
        }
    };

    let report = Report {
        started_unix_s,
        cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        load_average_1m,
        scratch_dir: base.display().to_string(),
        filesystem,
        request_bytes: request.encoded_len(),
        stored_event_bytes: ours.sample_event.len(),
        rows,
        notes,
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
    match failed {
        Some(e) => Err(e.context("the replication figures (4 to 6) failed; figures 1 to 3 are reported")),
        None => Ok(()),
    }
}

/// The TLS rows' baseline.
const TLS_BASELINE: &str = "the same, plaintext on loopback";

/// Figures 2 and 3, our side.
struct UnaryFigures {
    one_append: measure::Rate,
    one_health: measure::Rate,
    many_append: measure::Rate,
    many_health: measure::Rate,
    latency: measure::Latencies,
    /// Figure 3's baseline, measured in turns with `latency`.
    raw_latency: measure::Latencies,
    /// A raw append + fdatasync and then a health check, timed together,
    /// in the same turns: the least any durable RPC takes on this host.
    floor_latency: measure::Latencies,
    /// The cost of TLS: the same 64-client appends and single-client
    /// latency on a plaintext loopback node (`plaintext_loopback`).
    plain_many_append: measure::Rate,
    plain_latency: measure::Latencies,
}

/// Starts a node in `data_dir`, measures throughput with one and with many
/// clients, each baseline right before its figure, then single-client
/// latency in turns with raw appends to a file in `raw_dir`, and stops
/// the node.
async fn unary_figures(
    root: &std::path::Path,
    data_dir: &std::path::Path,
    raw_dir: &std::path::Path,
    request: linkage_core::pb::AppendRequest,
) -> anyhow::Result<UnaryFigures> {
    let node = unary::BenchNode::start(root, data_dir, true).await?;
    let append = unary::Call::Append(Box::new(request));
    let health = unary::Call::HealthCheck;

    let one = node.connect(1).await?;
    let one_health = unary::throughput(&one, 1, &health).await?;
    let one_append = unary::throughput(&one, 1, &append).await?;
    let many = node.connect(unary::CONNECTIONS_MAX.min(unary::CLIENTS_MANY)).await?;
    let many_health = unary::throughput(&many, unary::CLIENTS_MANY, &health).await?;
    let many_append = unary::throughput(&many, unary::CLIENTS_MANY, &append).await?;
    let mut raw = fsync::RawAppends::create(raw_dir)?;
    let unary::LatencySeries { ours: latency, raw: raw_latency, floor: floor_latency } =
        unary::latencies(&one[0], &append, &mut raw).await?;

    drop((one, many));
    node.stop().await?;

    // The same without TLS, right after, on a node of its own.
    let plain = unary::BenchNode::start(root, &data_dir.join("plaintext"), false).await?;
    let many = plain.connect(unary::CONNECTIONS_MAX.min(unary::CLIENTS_MANY)).await?;
    let plain_many_append = unary::throughput(&many, unary::CLIENTS_MANY, &append).await?;
    let one = plain.connect(1).await?;
    let plain_latency = unary::latencies(&one[0], &append, &mut raw).await?.ours;
    drop((one, many));
    plain.stop().await?;
    Ok(UnaryFigures {
        one_append,
        one_health,
        many_append,
        many_health,
        latency,
        raw_latency,
        floor_latency,
        plain_many_append,
        plain_latency,
    })
}

/// Figure 3's targets that the floor alone (a raw append + fdatasync, then
/// a Health/Check) misses, said as a note: no durable RPC can meet them on
/// this host at this moment, whatever the node does.
fn floor_misses(floor: &measure::Latencies, raw: &measure::Latencies) -> Option<String> {
    let missed: Vec<String> = LATENCY_TARGETS
        .iter()
        .filter(|(p, target)| target.verdict(floor.percentile_us(*p), raw.percentile_us(*p)) == Verdict::Miss)
        .map(|(p, target)| {
            format!(
                "p{p:.0} (floor {} µs, target {})",
                report::thousands(floor.percentile_us(*p)),
                target.bound(raw.percentile_us(*p), "µs")
            )
        })
        .collect();
    (!missed.is_empty()).then(|| {
        format!(
            "latency: the floor alone misses figure 3's {}: no durable RPC meets it on this host in this run",
            missed.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn latencies(us: &[u64]) -> measure::Latencies {
        measure::Latencies::new(us.iter().map(|&u| Duration::from_micros(u)).collect())
    }

    #[test]
    fn the_floor_is_named_only_where_it_misses_a_target() {
        let raw = latencies(&[200; 100]);
        assert_eq!(floor_misses(&latencies(&[500; 100]), &raw), None);
        assert_eq!(
            floor_misses(&latencies(&[536; 100]), &raw).as_deref(),
            Some(
                "latency: the floor alone misses figure 3's p50 (floor 536 µs, target ≤ 500 µs): \
                 no durable RPC meets it on this host in this run"
            )
        );
        let slow_tail: Vec<u64> = std::iter::repeat_n(400, 95).chain(std::iter::repeat_n(2_700, 5)).collect();
        assert_eq!(
            floor_misses(&latencies(&slow_tail), &raw).as_deref(),
            Some(
                "latency: the floor alone misses figure 3's p99 (floor 2,700 µs, target ≤ 2,000 µs): \
                 no durable RPC meets it on this host in this run"
            )
        );
    }
}
