//! `linkage-sim`: runs seeds of the simulation (`make sim SEEDS=N`).
//!
//! `linkage-sim --seeds 1000 [--from 0]` runs a sweep and prints how often
//! each fault and lie occurred; `linkage-sim --seed 42` replays one seed
//! and prints what it found. Exits non-zero if any seed failed.

use std::collections::BTreeMap;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
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
