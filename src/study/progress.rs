//! Progress of a long run: a bar with counts and ETA on a terminal, plain
//! periodic lines otherwise, or nothing (`--quiet`). An observer: the loops
//! that do the work only tell it how far they got.

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

/// The progress of one run, counted in finished networks out of a total.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
    total: usize,
    done: usize,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Starts counting `total` networks, shown under `label`.
    pub fn new(label: &str, total: usize, mode: ProgressMode) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == ProgressMode::Auto && terminal).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} networks, {elapsed} elapsed, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            lines: mode == ProgressMode::Auto && !terminal,
            label: label.to_string(),
            total,
            done: 0,
            started: now,
            last_line: now,
        }
    }

    /// `count` more networks are finished.
    pub fn advance(&mut self, count: usize) {
        self.done += count;
        if let Some(bar) = &self.bar {
            bar.inc(count as u64);
        }
        if self.lines && (self.last_line.elapsed() >= LINE_INTERVAL || self.done == self.total) {
            self.last_line = Instant::now();
            eprintln!("{}", self.line());
        }
    }

    fn line(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if self.done > 0 {
            elapsed * (self.total - self.done) as f64 / self.done as f64
        } else {
            f64::NAN
        };
        format!(
            "{}: {}/{} networks ({:.0}%), {:.0}s elapsed, ETA {:.0}s",
            self.label,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            elapsed,
            eta
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
