//! The simulation's sweep in `make test`: 1,000 seeds in four parts that
//! run side by side (`LINKAGE_SIM_SEEDS` sets the seeds per part), and,
//! built with the `mutants` feature, the proof that every deliberate bug
//! is caught.

#[cfg(not(feature = "mutants"))]
fn sweep(part: u64) {
    let per_part: u64 = std::env::var("LINKAGE_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(250);
    let from = part * per_part;
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for seed in from..from + per_part {
        let stats = linkage_sim::run(seed);
        if !stats.violations.is_empty() {
            eprintln!("seed {seed}: {}", stats.violations.join("; "));
            eprintln!("replay: {}", linkage_sim::replay_command(seed));
            failed.push(seed);
        }
    }
    eprintln!("seeds {from}..{}: {:.1} s", from + per_part, started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

#[cfg(not(feature = "mutants"))]
#[test]
fn seeds_part_0() {
    sweep(0);
}

#[cfg(not(feature = "mutants"))]
#[test]
fn seeds_part_1() {
    sweep(1);
}

#[cfg(not(feature = "mutants"))]
#[test]
fn seeds_part_2() {
    sweep(2);
}

#[cfg(not(feature = "mutants"))]
#[test]
fn seeds_part_3() {
    sweep(3);
}

/// Each mutant must fail some seed among the first few dozen: a
/// simulation that passes with a safety check switched off proves nothing
/// about that check.
#[cfg(feature = "mutants")]
#[test]
fn every_mutant_is_caught() {
    use linkage_core::mutants::{activate, Mutant};
    let mut missed = Vec::new();
    for mutant in Mutant::ALL {
        activate(Some(mutant));
        let caught = (0..40).find_map(|seed| {
            let stats = linkage_sim::run(seed);
            stats.violations.first().map(|v| (seed, v.clone()))
        });
        match caught {
            Some((seed, why)) => eprintln!("{mutant:?}: caught by seed {seed}: {why}"),
            None => missed.push(mutant),
        }
    }
    activate(None);
    assert!(missed.is_empty(), "mutants no seed caught: {missed:?}");
}
