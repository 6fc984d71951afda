//! What a run yields: a count over a time, or a sorted set of latencies.

use std::time::Duration;

/// Operations (events or RPCs) completed over a measured wall time.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Rate {
    /// Operations completed.
    pub ops: u64,
    /// From the first operation's start to the last one's end.
    pub elapsed: Duration,
}

impl Rate {
    /// Operations per second; 0 for an empty run rather than a division
    /// by zero.
    pub fn per_s(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ops as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Latencies of one kind of operation, sorted, so that percentiles are
/// index lookups.
#[derive(Clone, Debug)]
pub struct Latencies {
    /// Ascending.
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Sorts `samples`.
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// How many samples took longer than `bound`.
    pub fn over(&self, bound: Duration) -> usize {
        self.sorted.len() - self.sorted.partition_point(|d| *d <= bound)
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 100) in microseconds; 0
    /// when there are no samples.
    pub fn percentile_us(&self, p: f64) -> f64 {
        assert!(p > 0.0, "percentile {p} must be positive");
        assert!(p <= 100.0, "percentile {p} must be at most 100");
        let Some(last) = self.sorted.len().checked_sub(1) else { return 0.0 };
        let rank = (p / 100.0 * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.saturating_sub(1).min(last)].as_secs_f64() * 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies = Latencies::new((1..=100).rev().map(Duration::from_micros).collect());
        assert_eq!(latencies.percentile_us(50.0).round(), 50.0);
        assert_eq!(latencies.percentile_us(99.0).round(), 99.0);
        assert_eq!(latencies.percentile_us(100.0).round(), 100.0);
        assert_eq!(Latencies::new(Vec::new()).percentile_us(50.0), 0.0);
        assert_eq!(latencies.over(Duration::from_micros(98)), 2);
        assert_eq!(latencies.over(Duration::from_micros(100)), 0);
        assert_eq!(latencies.over(Duration::ZERO), 100);
    }

    #[test]
    fn an_empty_rate_is_zero() {
        assert_eq!(Rate { ops: 10, elapsed: Duration::ZERO }.per_s(), 0.0);
        assert_eq!(Rate { ops: 10, elapsed: Duration::from_secs(2) }.per_s(), 5.0);
    }
}
