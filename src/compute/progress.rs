//! One line of progress at least every 10 % or every 2 s, then a summary: what a notebook
//! shows (evcxr streams output by whole lines; `\r` progress bars show nothing).

use std::time::{Duration, Instant};

/// Prints progress lines for a run of `total` tasks (`None` when the count is unknown).
#[derive(Debug)]
pub struct ProgressLine {
    what: String,
    total: Option<usize>,
    start: Instant,
    last: Duration,
    last_decile: usize,
    enabled: bool,
    unit: &'static str,
    stderr: bool,
}

impl ProgressLine {
    /// Start timing a run.
    pub fn new(what: impl Into<String>, total: Option<usize>, enabled: bool) -> Self {
        Self {
            what: what.into(),
            total,
            start: Instant::now(),
            last: Duration::ZERO,
            last_decile: 0,
            enabled,
            unit: "tasks",
            stderr: false,
        }
    }

    /// Count in `unit` (e.g. `planes`) instead of tasks.
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// Print to stderr (a CLI keeps stdout for its results) instead of stdout.
    pub fn to_stderr(mut self) -> Self {
        self.stderr = true;
        self
    }

    fn print(&self, line: String) {
        if self.stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Record that `done` tasks have finished; prints when a tenth more is done or 2 s passed.
    pub fn update(&mut self, done: usize) {
        self.update_at(done, self.start.elapsed());
    }

    /// [`ProgressLine::update`] with the elapsed time measured by the caller (whose run may
    /// have started before the total was known).
    pub fn update_at(&mut self, done: usize, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let decile = self
            .total
            .map_or(0, |t| (done * 10).checked_div(t).unwrap_or(10));
        if decile > self.last_decile || elapsed.saturating_sub(self.last) >= Duration::from_secs(2)
        {
            self.last_decile = decile;
            self.last = elapsed;
            self.print(self.line(done, elapsed));
        }
    }

    fn line(&self, done: usize, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        match self.total {
            Some(total) => {
                let eta = total.saturating_sub(done) as f64 / rate.max(1e-9);
                format!(
                    "{}: {done}/{total} {} ({}%), {} {}/s, elapsed {}, eta {}",
                    self.what,
                    self.unit,
                    done * 100 / total.max(1),
                    fmt_rate(rate),
                    self.unit,
                    fmt_secs(secs),
                    fmt_secs(eta)
                )
            }
            None => format!(
                "{}: {done} done, {} tasks/s, elapsed {}",
                self.what,
                fmt_rate(rate),
                fmt_secs(secs)
            ),
        }
    }

    /// Print the closing summary line.
    pub fn finish(&self, done: usize, failed: usize) {
        if !self.enabled {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64();
        self.print(format!(
            "{}: {done} {} in {} ({} {}/s), {failed} failed",
            self.what,
            self.unit,
            fmt_secs(secs),
            fmt_rate(done as f64 / secs.max(1e-9)),
            self.unit
        ));
    }
}

fn fmt_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m{:02.0}s", (s / 60.0) as u64, s % 60.0)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}
