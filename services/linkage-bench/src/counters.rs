//! What a node counted, scraped from its Prometheus `/metrics`, and the
//! CPU time each process of the topology used: the figures' notes on where
//! their time went.

use std::time::Duration;

/// The unit of CPU times in `/proc/<pid>/stat`: USER_HZ, 100 on Linux
/// whatever the kernel's own tick.
const PROC_TICKS_PER_S: u64 = 100;

/// A node's counters, by metric name, summed over labels.
#[derive(Clone, Debug, Default)]
pub struct Counters(std::collections::BTreeMap<String, f64>);

impl Counters {
    /// Reads the Prometheus text format: `name{labels} value` per line.
    pub fn parse(body: &str) -> Counters {
        let mut out = std::collections::BTreeMap::new();
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            let (Some(series), Some(value)) = (words.next(), words.next()) else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let name = series.split('{').next().unwrap_or(series);
            *out.entry(name.to_owned()).or_insert(0.0) += value;
            if name != series {
                *out.entry(series.to_owned()).or_insert(0.0) += value;
            }
        }
        Counters(out)
    }

    /// One counter, by name (summed over labels) or by series
    /// (`name{label="value"}`); 0 when the node has not counted it yet.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0.0) as u64
    }

    /// `name` now minus `name` in `before`.
    pub fn since(&self, before: &Counters, name: &str) -> u64 {
        self.get(name).saturating_sub(before.get(name))
    }

    /// The log syncs the node timed since `before`, in words (see
    /// [`Counters::timings`] and `linkage_store::LOG_SYNC_SECONDS`).
    pub fn syncs(&self, before: &Counters) -> String {
        self.timings(before, linkage_store::LOG_SYNC_SECONDS, "", "log syncs")
    }

    /// The mean of the log syncs the node timed since `before`, in µs;
    /// `None` when it timed none.
    pub fn sync_mean_us(&self, before: &Counters) -> Option<f64> {
        self.mean_s(before, linkage_store::LOG_SYNC_SECONDS, "").map(|(_, mean)| mean * 1e6)
    }

    /// How many samples the histogram `name` (series `labels`, as in
    /// [`Counters::timings`]) took since `before`, and their mean; `None`
    /// when it took none.
    fn mean_s(&self, before: &Counters, name: &str, labels: &str) -> Option<(u64, f64)> {
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let count = self.since(before, &format!("{name}_count{braced}"));
        let sum = |c: &Counters| c.0.get(&format!("{name}_sum{braced}")).copied().unwrap_or(0.0);
        (count > 0).then(|| (count, (sum(self) - sum(before)) / count as f64))
    }

    /// The `Append` calls the node answered with OK since `before`, timed
    /// by the node itself, in words (see [`Counters::timings`] and
    /// `linkage_node::event_log::APPEND_SECONDS`).
    pub fn appends(&self, before: &Counters) -> String {
        self.timings(before, linkage_node::event_log::APPEND_SECONDS, "rpc=\"Append\",code=\"OK\"", "appends")
    }

    /// What the histogram `name` timed since `before`, in words: how many
    /// `what`, their mean, the bucket bound that 99% stayed within, and how
    /// many took longer than 2 ms. `labels` picks one series, as the
    /// exporter prints its labels (`rpc="Append",code="OK"`); empty for a
    /// histogram without labels.
    fn timings(&self, before: &Counters, name: &str, labels: &str, what: &str) -> String {
        let Some((count, mean_s)) = self.mean_s(before, name, labels) else { return format!("no {what}") };
        // Bucket series as the exporter prints them, in ascending order.
        let prefix =
            if labels.is_empty() { format!("{name}_bucket{{le=\"") } else { format!("{name}_bucket{{{labels},le=\"") };
        let bucket = |le: &str| self.since(before, &format!("{prefix}{le}\"}}"));
        let mut bounds: Vec<(f64, &str)> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix("\"}"))
            .filter_map(|le| Some((le.parse::<f64>().ok()?, le)))
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p99 = bounds
            .iter()
            .find(|(_, le)| bucket(le) as f64 >= 0.99 * count as f64)
            .map_or_else(|| "beyond the last bucket".to_owned(), |(bound, _)| format!("≤ {:.0} µs", bound * 1e6));
        format!(
            "{count} {what}, mean {:.0} µs, p99 {p99}, {} over 2 ms",
            mean_s * 1e6,
            count.saturating_sub(bucket("0.002"))
        )
    }

    /// The commits the node wrote since `before`, in words: how many and
    /// their mean size in events (see `linkage_store::COMMIT_EVENTS`), that
    /// is how many requests or pushed runs shared one sync.
    pub fn commits(&self, before: &Counters) -> String {
        let name = linkage_store::COMMIT_EVENTS;
        let count = self.since(before, &format!("{name}_count"));
        if count == 0 {
            return "no commits".into();
        }
        let events = self.since(before, &format!("{name}_sum"));
        format!("{count} commits of {:.1} events on average", events as f64 / count as f64)
    }

    /// Events stored from other nodes, and events received again that were
    /// already held: together, everything the writer had to look at.
    pub fn received(&self) -> u64 {
        self.get(APPLIED) + self.get(DUPLICATES)
    }

    /// What replication did since `before`, in words: events applied and
    /// received twice, pulls by outcome, events served to others' pulls.
    pub fn summary(&self, before: &Counters) -> String {
        let pulls = |result: &str| self.since(before, &format!("linkage_pulls_total{{result=\"{result}\"}}"));
        format!(
            "applied {}, duplicates {}, pulls ok/empty/unanswered {}/{}/{}, events served to pulls {}",
            self.since(before, APPLIED),
            self.since(before, DUPLICATES),
            pulls("ok"),
            pulls("empty"),
            pulls("no_answer"),
            self.since(before, "linkage_pull_served_events_total")
        )
    }
}

/// Remote events a node stored.
const APPLIED: &str = "linkage_applied_events_total";

/// Remote events a node received again while already holding them.
const DUPLICATES: &str = "linkage_duplicate_events_total";

/// CPU time (user + system) used so far, by process: every node by code,
/// `nats-server`, and `bench` (this process).
#[derive(Clone, Debug, Default)]
pub struct CpuTimes(pub Vec<(String, Duration)>);

impl CpuTimes {
    /// What each process used since `before` (all of it for a process
    /// started since), over `wall`, as one line: which process is busy
    /// says where the time of a figure goes.
    pub fn since(&self, before: &CpuTimes, wall: Duration) -> String {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let used: Vec<String> = self
            .0
            .iter()
            .map(|(name, now)| {
                let then = before.0.iter().find(|(n, _)| n == name).map_or(Duration::ZERO, |(_, t)| *t);
                format!("{name} {:.2}", now.saturating_sub(then).as_secs_f64())
            })
            .collect();
        format!("CPU s over {:.2} s wall on {cores} cores: {}", wall.as_secs_f64(), used.join(", "))
    }
}

/// utime + stime of `/proc/<pid>/stat`.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses, fields count from 3 (state):
    // utime (14) and stime (15) are the 12th and 13th.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1_000 / PROC_TICKS_PER_S))
}

/// Per thread of a process (by tid), time runnable but waiting for a CPU
/// so far (`/proc/<pid>/task/<tid>/schedstat`, second field, in ns).
/// Waiting says whether a process was slow for want of a core.
#[derive(Clone, Debug, Default)]
pub struct ThreadTimes(std::collections::BTreeMap<u64, Duration>);

impl ThreadTimes {
    /// The threads `pid` has now; `None` when none could be read.
    pub fn of(pid: &str) -> Option<ThreadTimes> {
        let mut waited = std::collections::BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else { continue };
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
            let Some(ns) = text.split_whitespace().nth(1).and_then(|f| f.parse::<u64>().ok()) else { continue };
            waited.insert(tid, Duration::from_nanos(ns));
        }
        (!waited.is_empty()).then_some(ThreadTimes(waited))
    }

    /// Waiting since `before`, over the threads alive now: a thread that
    /// exited in between takes nothing away, one started since counts whole.
    pub fn waited_since(&self, before: &ThreadTimes) -> Duration {
        self.0.iter().map(|(tid, now)| now.saturating_sub(before.0.get(tid).copied().unwrap_or_default())).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_is_counted_per_thread() {
        let ms = Duration::from_millis;
        let before = ThreadTimes([(1, ms(10)), (2, ms(500))].into_iter().collect());
        // Thread 2 exited; thread 3 started.
        let after = ThreadTimes([(1, ms(15)), (3, ms(7))].into_iter().collect());
        assert_eq!(after.waited_since(&before), ms(12));
        assert!(ThreadTimes::of("self").is_some_and(|t| !t.0.is_empty()));
        assert!(ThreadTimes::of("0").is_none());
    }

    #[test]
    fn counters_sum_over_labels() {
        let body = "# TYPE linkage_pulls_total counter\nlinkage_pulls_total{result=\"ok\"} 3\n\
                    linkage_pulls_total{result=\"empty\"} 2\nlinkage_applied_events_total 1000\n";
        let counters = Counters::parse(body);
        assert_eq!(counters.get("linkage_pulls_total"), 5);
        assert_eq!(counters.get("linkage_pulls_total{result=\"ok\"}"), 3);
        assert_eq!(counters.get("linkage_applied_events_total"), 1_000);
        assert_eq!(counters.get("linkage_forks_total"), 0);
    }

    #[test]
    fn syncs_are_told_from_the_histogram_between_two_scrapes() {
        let scrape = |le: [u64; 4], count: u64, sum: f64| {
            let [a, b, c, d] = le;
            Counters::parse(&format!(
                "# TYPE linkage_log_sync_seconds histogram\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.0005\"}} {a}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.001\"}} {b}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.002\"}} {c}\n\
                 linkage_log_sync_seconds_bucket{{le=\"0.005\"}} {d}\n\
                 linkage_log_sync_seconds_bucket{{le=\"+Inf\"}} {count}\n\
                 linkage_log_sync_seconds_sum {sum}\nlinkage_log_sync_seconds_count {count}\n"
            ))
        };
        let before = scrape([5, 10, 10, 10], 10, 0.004);
        // 100 more: 60 within 0.5 ms, 30 more within 1 ms, 8 within 2 ms,
        // 1 within 5 ms, 1 beyond; 0.1 s in all.
        let after = scrape([65, 100, 108, 109], 110, 0.104);
        assert_eq!(after.syncs(&before), "100 log syncs, mean 1000 µs, p99 ≤ 5000 µs, 2 over 2 ms");
        assert_eq!(before.syncs(&before), "no log syncs");
        assert_eq!(after.sync_mean_us(&before).map(f64::round), Some(1000.0));
        assert_eq!(before.sync_mean_us(&before), None);
    }

    #[test]
    fn appends_are_told_from_their_own_series_of_the_histogram() {
        let scrape = |ok: [u64; 3], count: u64, sum: f64| {
            let [a, b, c] = ok;
            Counters::parse(&format!(
                "linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.001\"}} {a}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.002\"}} {b}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"0.005\"}} {c}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"OK\",le=\"+Inf\"}} {count}\n\
                 linkage_append_seconds_sum{{rpc=\"Append\",code=\"OK\"}} {sum}\n\
                 linkage_append_seconds_count{{rpc=\"Append\",code=\"OK\"}} {count}\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"INVALID_ARGUMENT\",le=\"0.001\"}} 7\n\
                 linkage_append_seconds_bucket{{rpc=\"Append\",code=\"INVALID_ARGUMENT\",le=\"+Inf\"}} 7\n\
                 linkage_append_seconds_sum{{rpc=\"Append\",code=\"INVALID_ARGUMENT\"}} 0.001\n\
                 linkage_append_seconds_count{{rpc=\"Append\",code=\"INVALID_ARGUMENT\"}} 7\n"
            ))
        };
        let before = Counters::default();
        // 100 answered with OK: 90 within 1 ms, 99 within 2 ms; 0.08 s in all.
        let after = scrape([90, 99, 100], 100, 0.08);
        assert_eq!(after.appends(&before), "100 appends, mean 800 µs, p99 ≤ 2000 µs, 1 over 2 ms");
        assert_eq!(before.appends(&before), "no appends");
    }

    #[test]
    fn commit_sizes_are_told_from_the_histogram_between_two_scrapes() {
        let scrape = |count: u64, sum: u64| {
            Counters::parse(&format!(
                "linkage_commit_events_bucket{{le=\"1\"}} 3\nlinkage_commit_events_bucket{{le=\"+Inf\"}} {count}\n\
                 linkage_commit_events_sum {sum}\nlinkage_commit_events_count {count}\n"
            ))
        };
        let before = scrape(3, 3);
        assert_eq!(scrape(7, 1_003).commits(&before), "4 commits of 250.0 events on average");
        assert_eq!(before.commits(&before), "no commits");
    }
}
