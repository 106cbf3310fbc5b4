//! Progress of a long run: a bar with counts and ETA on a terminal, plain
//! periodic lines otherwise, or nothing (`--quiet`). An observer: the loops
//! that do the work only tell it how far they got.
//!
//! The ETA weighs each network by its estimated cost
//! ([`crate::study::Sweep::network_cost`]), not by count: a study runs its
//! trained networks first, and they cost hundreds of times more than the
//! measured-only ones.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether and how a run shows its progress on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines when it is not.
    Auto,
    /// Nothing (`--quiet`).
    Quiet,
}

/// How often plain lines are printed when stderr is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(15);

/// Runs expected to take longer than this say so before they start.
const LONG_RUN_SECONDS: f64 = 180.0;

/// Steps of the bar: its fill is the share of the cost done.
const BAR_STEPS: u64 = 1000;

/// The progress of one run: finished networks out of a total, and their
/// estimated cost out of the total cost.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
    networks: usize,
    cost: f64,
    networks_done: usize,
    cost_done: f64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Starts counting `networks` networks of total estimated cost `cost`,
    /// shown under `label`.
    pub fn new(label: &str, networks: usize, cost: f64, mode: ProgressMode) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::new(BAR_STEPS);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {msg}, {elapsed} elapsed")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        let now = Instant::now();
        let progress = Self {
            bar,
            lines: mode == ProgressMode::Auto && !terminal,
            label: label.to_string(),
            networks,
            cost,
            networks_done: 0,
            cost_done: 0.0,
            started: now,
            last_line: now,
        };
        if let Some(bar) = &progress.bar {
            bar.set_message(progress.counts());
        }
        progress
    }

    /// Says, before the run starts, how long it is expected to take when
    /// that is more than a few minutes (`seconds` from
    /// [`crate::study::Sweep::estimated_seconds`]).
    pub fn announce(&self, seconds: f64) {
        if (self.bar.is_some() || self.lines) && seconds > LONG_RUN_SECONDS {
            eprintln!(
                "{}: {} networks, expected to take about {} (estimated from their sizes; the progress line refines it)",
                self.label,
                self.networks,
                duration(seconds)
            );
        }
    }

    /// `networks` more networks, of estimated cost `cost`, are finished.
    pub fn advance(&mut self, networks: usize, cost: f64) {
        self.networks_done += networks;
        self.cost_done += cost;
        if let Some(bar) = &self.bar {
            bar.set_message(self.counts());
            bar.set_position((BAR_STEPS as f64 * self.share_done()) as u64);
        }
        let finished = self.networks_done == self.networks;
        if self.lines && (self.last_line.elapsed() >= LINE_INTERVAL || finished) {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    fn share_done(&self) -> f64 {
        if self.cost > 0.0 {
            (self.cost_done / self.cost).min(1.0)
        } else {
            1.0
        }
    }

    /// "n/N networks, ETA …".
    fn counts(&self) -> String {
        let eta = remaining_seconds(
            self.started.elapsed().as_secs_f64(),
            self.cost_done,
            self.cost,
        );
        format!(
            "{}/{} networks, ETA {}",
            self.networks_done,
            self.networks,
            eta.map_or("?".to_string(), duration)
        )
    }

    fn line(&self) -> String {
        format!(
            "{}: {} ({:.0}% of the work), {:.0}s elapsed",
            self.label,
            self.counts(),
            100.0 * self.share_done(),
            self.started.elapsed().as_secs_f64(),
        )
    }

    /// Prints a line on stdout without garbling a live bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Clears the bar, if one is shown.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Seconds left, if the rest of the work goes at the rate the done part
/// went: `elapsed × (cost − cost_done) / cost_done`. `None` before anything
/// is done.
pub fn remaining_seconds(elapsed: f64, cost_done: f64, cost: f64) -> Option<f64> {
    (cost_done > 0.0).then(|| elapsed * (cost - cost_done).max(0.0) / cost_done)
}

/// A duration for people: "42s", "7 min", "2 h 05 min".
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..=99 => format!("{seconds}s"),
        100..=5999 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_weighs_networks_by_their_cost() {
        // A study's shape: 40 trained networks of cost 100 run first, then
        // 1,760 measured-only ones worth as much together. With all the
        // trained ones and 12 others done at 88 s, about half the work is
        // left: ~87 s, where counting networks says 88 × 1748 / 52 ≈ 2,958 s.
        let measured = 4000.0 / 1760.0;
        let total = 40.0 * 100.0 + 1760.0 * measured;
        let done = 40.0 * 100.0 + 12.0 * measured;
        let eta = remaining_seconds(88.0, done, total).unwrap();
        assert!((eta - 88.0 * (total - done) / done).abs() < 1e-9);
        assert!((80.0..90.0).contains(&eta), "{eta}");
        assert_eq!(remaining_seconds(30.0, 1.0, 4.0), Some(90.0));
        assert_eq!(remaining_seconds(10.0, total, total), Some(0.0));
        assert_eq!(remaining_seconds(10.0, 0.0, total), None);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(400.0), "7 min");
        assert_eq!(duration(7500.0), "2 h 05 min");
    }
}
