//! The result: one row per figure, printed as a table and written as JSON.

use anyhow::Context;
use serde::Serialize;
use std::path::Path;

/// What a figure should reach relative to its baseline.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// None: the row informs.
    None,
    /// ours / baseline at least this (for rates).
    RatioAtLeast(f64),
    /// ours at most the baseline plus this (for latencies, in the row's unit).
    BaselinePlusAtMost(f64),
    /// ours at most this (for latencies, in the row's unit).
    AtMost(f64),
    /// ours at least this (for rates, in the row's unit).
    AtLeast(f64),
    /// ours at most `factor` × the baseline plus `plus` (for latencies,
    /// in the row's unit): a path that adds so many baseline round trips
    /// to a cost measured beside it.
    BaselineTimesPlusAtMost {
        /// Baselines allowed.
        factor: f64,
        /// Added to them.
        plus: f64,
    },
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::None => "—".into(),
            Target::RatioAtLeast(ratio) => format!("ratio ≥ {ratio:.2}"),
            Target::BaselinePlusAtMost(slack) => format!("≤ baseline + {} {unit}", thousands(slack)),
            Target::AtMost(limit) => format!("≤ {} {unit}", thousands(limit)),
            Target::AtLeast(floor) => format!("≥ {} {unit}", thousands(floor)),
            Target::BaselineTimesPlusAtMost { factor, plus } => {
                format!("≤ {factor} × baseline + {} {unit}", thousands(plus))
            }
        }
    }

    /// The target with the baseline filled in: what `ours` had to reach.
    pub fn bound(self, baseline: f64, unit: &str) -> String {
        match self {
            Target::None => "—".into(),
            Target::RatioAtLeast(ratio) => format!("≥ {} {unit}", thousands(ratio * baseline)),
            Target::BaselinePlusAtMost(slack) => format!("≤ {} {unit}", thousands(baseline + slack)),
            Target::AtMost(limit) => format!("≤ {} {unit}", thousands(limit)),
            Target::AtLeast(floor) => format!("≥ {} {unit}", thousands(floor)),
            Target::BaselineTimesPlusAtMost { factor, plus } => {
                format!("≤ {} {unit}", thousands(factor * baseline + plus))
            }
        }
    }

    /// Whether `ours` meets the target beside `baseline`.
    pub fn verdict(self, ours: f64, baseline: f64) -> Verdict {
        let met = match self {
            Target::None => return Verdict::Info,
            Target::RatioAtLeast(ratio) => ours >= ratio * baseline,
            Target::BaselinePlusAtMost(slack) => ours <= baseline + slack,
            Target::AtMost(limit) => ours <= limit,
            Target::AtLeast(floor) => ours >= floor,
            Target::BaselineTimesPlusAtMost { factor, plus } => ours <= factor * baseline + plus,
        };
        if met {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }
}

/// Whether a figure met its target. Informational only: the run exits 0
/// either way, since one noisy machine must not fail a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The target is met.
    #[serde(rename = "PASS")]
    Pass,
    /// The target is missed.
    #[serde(rename = "MISS")]
    Miss,
    /// The row has no target.
    #[serde(rename = "info")]
    Info,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "info",
        }
    }
}

/// One figure beside its baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// Unit of `ours` and `baseline`.
    pub unit: &'static str,
    /// What the baseline is.
    pub baseline_name: &'static str,
    /// Our figure.
    pub ours: f64,
    /// The baseline's figure, measured in the same process.
    pub baseline: f64,
    /// ours / baseline.
    pub ratio: f64,
    /// The target, in words.
    pub target: String,
    /// Whether it is met.
    pub verdict: Verdict,
    /// Operations or samples behind `ours`.
    pub ours_count: u64,
    /// Operations or samples behind `baseline`.
    pub baseline_count: u64,
}

impl Row {
    /// A row; the ratio and the verdict follow from the numbers.
    pub fn new(
        figure: &str,
        unit: &'static str,
        baseline_name: &'static str,
        (ours, ours_count): (f64, u64),
        (baseline, baseline_count): (f64, u64),
        target: Target,
    ) -> Row {
        let ratio = if baseline > 0.0 { ours / baseline } else { 0.0 };
        Row {
            figure: figure.into(),
            unit,
            baseline_name,
            ours,
            baseline,
            ratio,
            target: target.describe(unit),
            verdict: target.verdict(ours, baseline),
            ours_count,
            baseline_count,
        }
    }
}

/// The whole run, as written to `report.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Seconds since the Unix epoch when the run started.
    pub started_unix_s: u64,
    /// CPUs the process may use.
    pub cores: usize,
    /// The 1-minute load average when the run started: other work on the
    /// machine moves every figure, baselines included.
    pub load_average_1m: Option<f64>,
    /// Where the stores and files were written.
    pub scratch_dir: String,
    /// What that directory is on.
    pub filesystem: crate::scratch::Filesystem,
    /// Encoded bytes of the fixture's `AppendRequest`.
    pub request_bytes: usize,
    /// Stored bytes of one event of a batch, the size of the raw sled values.
    pub stored_event_bytes: usize,
    /// One per figure.
    pub rows: Vec<Row>,
    /// What the rows do not say: how a figure splits, what was cut short.
    pub notes: Vec<String>,
}

impl Report {
    /// Prints the table, then the baselines' meaning.
    pub fn print(&self) {
        let fs = &self.filesystem;
        let load = self.load_average_1m.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}"));
        println!(
            "linkage-bench: {} cores, load {load} at start; scratch {} (same device as the workspace: {}; tmpfs: {})",
            self.cores,
            self.scratch_dir,
            yes_no(fs.same_device_as_workspace),
            yes_no(fs.tmpfs)
        );
        if fs.tmpfs {
            println!(
                "WARNING: the scratch directory is a tmpfs; fdatasync does nothing there and the figures mean little"
            );
        }
        println!(
            "event: InfoReported on \"{}\" from {}; request {} B, stored event {} B",
            crate::fixture::CHANNEL,
            crate::fixture::NODE,
            self.request_bytes,
            self.stored_event_bytes
        );
        println!();

        let header = ["figure", "ours", "baseline", "ratio", "target", "verdict"];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    format!("{} ({})", r.figure, r.unit),
                    thousands(r.ours),
                    thousands(r.baseline),
                    format!("{:.2}", r.ratio),
                    r.target.clone(),
                    r.verdict.as_str().to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        // The last column is not padded, so that no line ends in blanks.
        let line = |cells: [&str; 6]| {
            let [w0, w1, w2, w3, w4, _] = widths;
            println!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
            );
        };
        line(header);
        println!("{}", "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
        for row in &cells {
            line(row.each_ref().map(String::as_str));
        }
        println!();
        println!("baselines, measured in this run on the same disk and server:");
        let mut seen = Vec::new();
        for row in &self.rows {
            if !seen.contains(&row.baseline_name) {
                seen.push(row.baseline_name);
                println!("  {}", row.baseline_name);
            }
        }
        // A run cut short by its time bound has fewer samples than asked
        // for; the counts say how much each figure rests on.
        println!("counted (ours / baseline):");
        for row in &self.rows {
            println!(
                "  {}: {} / {}",
                row.figure,
                thousands(row.ours_count as f64),
                thousands(row.baseline_count as f64)
            );
        }
        if !self.notes.is_empty() {
            println!("notes:");
            for note in &self.notes {
                println!("  {note}");
            }
        }
    }

    /// Writes the report as pretty JSON to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The 1-minute load average, where the system tells it.
pub fn load_average_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A whole number with thousands separators, e.g. 123,456.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn verdicts_follow_targets() {
        assert_eq!(Target::RatioAtLeast(0.6).verdict(60.0, 100.0), Verdict::Pass);
        assert_eq!(Target::RatioAtLeast(0.6).verdict(59.0, 100.0), Verdict::Miss);
        assert_eq!(Target::BaselinePlusAtMost(300.0).verdict(1_300.0, 1_000.0), Verdict::Pass);
        assert_eq!(Target::BaselinePlusAtMost(300.0).verdict(1_301.0, 1_000.0), Verdict::Miss);
        assert_eq!(Target::AtMost(2_000.0).verdict(2_001.0, 0.0), Verdict::Miss);
        assert_eq!(Target::None.verdict(1.0, 2.0), Verdict::Info);
        assert_eq!(Target::AtLeast(30_000.0).verdict(30_000.0, 1.0), Verdict::Pass);
        assert_eq!(Target::AtLeast(30_000.0).verdict(29_999.0, 1.0), Verdict::Miss);
        let path = Target::BaselineTimesPlusAtMost { factor: 3.0, plus: 600.0 };
        assert_eq!(path.verdict(900.0, 100.0), Verdict::Pass);
        assert_eq!(path.verdict(901.0, 100.0), Verdict::Miss);
    }

    #[test]
    fn bounds_fill_in_the_baseline() {
        assert_eq!(Target::BaselinePlusAtMost(300.0).bound(233.4, "µs"), "≤ 533 µs");
        assert_eq!(Target::AtMost(2_000.0).bound(0.0, "µs"), "≤ 2,000 µs");
        assert_eq!(Target::RatioAtLeast(0.3).bound(36_000.0, "ops/s"), "≥ 10,800 ops/s");
        assert_eq!(Target::BaselineTimesPlusAtMost { factor: 3.0, plus: 788.0 }.bound(174.0, "µs"), "≤ 1,310 µs");
        assert_eq!(Target::None.bound(1.0, "µs"), "—");
    }
}
