//! `linkage-sim`: runs seeds of the simulation (`make sim SEEDS=N`).
//!
//! `linkage-sim --seeds 1000 [--from 0]` runs a sweep and prints how often
//! each fault and lie occurred; `linkage-sim --seed 42` replays one seed
//! and prints what it found. Exits non-zero if any seed failed.
//!
//! `linkage-sim --national [--steady S] [--offline S] [--sizes N]` runs
//! the sizes of `make sim-national` (`linkage_sim::scale`) and prints the
//! scale table; it exits non-zero if a size did not converge.

use std::collections::BTreeMap;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    if args.iter().any(|a| a == "--national") {
        let plan = linkage_sim::scale::Plan {
            steady_s: value("--steady").unwrap_or(120),
            offline_s: value("--offline").unwrap_or(600),
            national_down_s: value("--national-down").unwrap_or(30),
            settle_max_s: value("--settle").unwrap_or(600),
        };
        return national(plan, value("--sizes").unwrap_or(3) as usize);
    }
    let (from, count) = match value("--seed") {
        Some(seed) => (seed, 1),
        None => (value("--from").unwrap_or(0), value("--seeds").unwrap_or(100)),
    };
    let started = std::time::Instant::now();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed = Vec::new();
    for seed in from..from + count {
        let stats = linkage_sim::run(seed);
        for (k, v) in &stats.lies {
            *totals.entry(format!("lie {k}")).or_default() += v;
        }
        for (k, v) in &stats.faults {
            *totals.entry(format!("fault {k}")).or_default() += v;
        }
        for (k, v) in &stats.ignored {
            *totals.entry(format!("claim ignored {k}")).or_default() += v;
        }
        *totals.entry("runs refused".into()).or_default() += stats.rejected;
        *totals.entry("re-encodings refused".into()).or_default() += stats.re_encodings_refused;
        *totals.entry("stolen old key's events refused".into()).or_default() += stats.retired_key_refused;
        *totals.entry("restores finished".into()).or_default() += stats.restores_finished;
        for (lost, ms) in &stats.restore_longest_ms {
            let name = if *lost { "longest restore, store lost (ms)" } else { "longest restore, store intact (ms)" };
            let longest = totals.entry(name.into()).or_default();
            *longest = (*longest).max(*ms);
        }
        *totals.entry("streams excused (holders silent)".into()).or_default() += stats.excused.len() as u64;
        if !stats.violations.is_empty() {
            eprintln!("seed {seed} FAILED:");
            for v in stats.violations.iter().take(10) {
                eprintln!("  {v}");
            }
            eprintln!("  replay: {}", linkage_sim::replay_command(seed));
            failed.push(seed);
        }
    }
    println!("{count} seeds from {from} in {:.1} s; {} failed", started.elapsed().as_secs_f64(), failed.len());
    for (k, v) in totals {
        println!("  {k}: {v}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The scale table of `make sim-national`, one size after another.
fn national(plan: linkage_sim::scale::Plan, sizes: usize) -> ExitCode {
    let china = include_str!("../../../deploy/topology/china.toml");
    println!("make sim-national: {plan:?}; per node per virtual second of steady traffic");
    println!(
        "| size | nodes | level | n | others' entitled events/s | received msgs/s | received KiB/s | sent msgs/s (per recipient) | sent KiB/s (per recipient) | received msgs per entitled event |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for (name, topology, keys, offline) in linkage_sim::scale::sizes(china).into_iter().take(sizes) {
        let report = linkage_sim::scale::run(&name, topology, keys, offline, plan);
        for row in &report.rows {
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
                report.name,
                report.nodes,
                row.level,
                row.nodes,
                row.entitled_events,
                row.received_msgs,
                row.received_bytes / 1024.0,
                row.sent_msgs,
                row.sent_bytes / 1024.0,
                row.received_msgs / row.entitled_events.max(f64::MIN_POSITIVE),
            );
        }
        let has_national = report.rows.iter().any(|r| r.level == "national");
        let converged =
            report.converged_after_s.filter(|_| !has_national || report.national_converged_after_s.is_some());
        match converged {
            Some(s) => println!(
                "{}: {} events; {offline} offline {} virtual s: every node converged {s:.0} virtual s after its return{}; {:.1} s wall",
                report.name,
                report.events,
                plan.offline_s,
                report
                    .national_converged_after_s
                    .map(|n| format!(", and {n:.0} s after 全国政协 restarted ({} s down)", plan.national_down_s))
                    .unwrap_or_default(),
                report.wall_s
            ),
            None => {
                ok = false;
                println!("{}: did NOT converge ({:.1} s wall): {:?}", report.name, report.wall_s, report.problems);
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
