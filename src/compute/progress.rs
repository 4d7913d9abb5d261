//! One line of progress at least every 10 % or every 2 s, then a summary: what a notebook
//! shows (evcxr streams output by whole lines; `\r` progress bars show nothing). A run that
//! ends within its first second prints the summary alone: ten lines for a 0.1 s run only push
//! the result down the notebook.

use std::time::{Duration, Instant};

/// No progress lines before this much time has passed; the summary is always printed.
const QUIET_START: Duration = Duration::from_secs(1);

/// Prints progress lines for a run of `total` tasks (`None` when the count is unknown).
///
/// In a kernel that shows live output ([`crate::display::live_available`]), a progress line on
/// stdout is a bar instead, updated in place at most 4 times a second and replaced by the
/// summary at the end; a run that ends within its first second shows the summary alone, as a
/// line.
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
    failed: usize,
    live: Option<crate::display::LiveDisplay>,
}

/// Where a run stands, as a progress bar shows it (HTML in a notebook, a line elsewhere).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressState {
    /// What runs (`compute`, `gather`, `slurm`).
    pub what: String,
    /// What is counted (`tasks`, `planes`).
    pub unit: &'static str,
    pub done: usize,
    pub failed: usize,
    pub total: Option<usize>,
    pub elapsed: Duration,
    /// The closing summary, once the run ended.
    pub summary: Option<String>,
}

impl ProgressState {
    /// Items per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Seconds left at the rate so far, when the total is known and something is done.
    pub fn eta(&self) -> Option<f64> {
        let total = self.total?;
        (self.done > 0).then(|| total.saturating_sub(self.done) as f64 / self.rate().max(1e-9))
    }

    /// The line a text progress shows.
    pub fn line(&self) -> String {
        if let Some(s) = &self.summary {
            return s.clone();
        }
        let secs = self.elapsed.as_secs_f64();
        match self.total {
            Some(total) => format!(
                "{}: {}/{total} {} ({}%), {} {}/s, elapsed {}, eta {}{}",
                self.what,
                self.done,
                self.unit,
                self.done * 100 / total.max(1),
                fmt_rate(self.rate()),
                self.unit,
                fmt_secs(secs),
                // Before the first item there is no rate to tell an end time from.
                self.eta().map_or_else(|| "?".to_string(), fmt_secs),
                if self.failed > 0 {
                    format!(", {} failed", self.failed)
                } else {
                    String::new()
                }
            ),
            None => format!(
                "{}: {} done, {} tasks/s, elapsed {}",
                self.what,
                self.done,
                fmt_rate(self.rate()),
                fmt_secs(secs)
            ),
        }
    }
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
            failed: 0,
            live: (enabled && crate::display::live_available())
                .then(crate::display::LiveDisplay::new),
        }
    }

    /// A live bar (`true`) whatever the kernel says, or lines only (`false`).
    pub fn live(mut self, on: bool) -> Self {
        self.live = (on && self.enabled && !self.stderr)
            .then(|| crate::display::LiveDisplay::with_live(true));
        self
    }

    /// How many of the tasks done so far failed (the bar shows it).
    pub fn set_failed(&mut self, failed: usize) {
        self.failed = failed;
    }

    /// Where the run stands.
    pub fn state(&self, done: usize, elapsed: Duration) -> ProgressState {
        ProgressState {
            what: self.what.clone(),
            unit: self.unit,
            done,
            failed: self.failed,
            total: self.total,
            elapsed,
            summary: None,
        }
    }

    /// Count in `unit` (e.g. `planes`) instead of tasks.
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// Print to stderr (a CLI keeps stdout for its results) instead of stdout; never a live bar.
    pub fn to_stderr(mut self) -> Self {
        self.stderr = true;
        self.live = None;
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
        if self.live.is_some() {
            // The bar comes after the quiet first second too: a short run shows its summary
            // alone. Drawing is skipped when the update would not be sent.
            if elapsed >= QUIET_START && self.live.as_ref().is_some_and(|l| l.due()) {
                let state = self.state(done, elapsed);
                if let Some(live) = &mut self.live {
                    live.update(&state);
                }
            }
            return;
        }
        if self.due(done, elapsed) {
            self.print(self.line(done, elapsed));
        }
    }

    /// Whether a line is due now (and if so, remember it was printed).
    fn due(&mut self, done: usize, elapsed: Duration) -> bool {
        if elapsed < QUIET_START {
            return false;
        }
        let decile = self
            .total
            .map_or(0, |t| (done * 10).checked_div(t).unwrap_or(10));
        if decile > self.last_decile || elapsed.saturating_sub(self.last) >= Duration::from_secs(2)
        {
            self.last_decile = decile;
            self.last = elapsed;
            return true;
        }
        false
    }

    /// Messages the live bar sent (0 without one).
    pub fn live_messages(&self) -> u64 {
        self.live.as_ref().map_or(0, |l| l.sent())
    }

    /// The closing summary: the bar, if one is shown, is replaced by it; else a line.
    fn close(&mut self, done: usize, failed: usize, summary: String) {
        if !self.enabled {
            return;
        }
        self.failed = failed;
        let done_state = ProgressState {
            summary: Some(summary.clone()),
            ..self.state(done, self.start.elapsed())
        };
        match &mut self.live {
            Some(live) if live.sent() > 0 => live.finish(&done_state),
            _ => self.print(summary),
        }
    }

    fn line(&self, done: usize, elapsed: Duration) -> String {
        self.state(done, elapsed).line()
    }

    /// Print the closing summary line.
    pub fn finish(&mut self, done: usize, failed: usize) {
        let summary = self.summary(done, failed, None);
        self.close(done, failed, summary);
    }

    /// Print the closing summary line of work that may have started before this line did
    /// (futures run from `submit`): `work` is the tasks' own time, first start to last end,
    /// and the line gives the wait since [`ProgressLine::new`] beside it. With `None` (no task
    /// ran), the same as [`ProgressLine::finish`].
    pub fn finish_work(&mut self, done: usize, failed: usize, work: Option<Duration>) {
        let summary = self.summary(done, failed, work);
        self.close(done, failed, summary);
    }

    fn summary(&self, done: usize, failed: usize, work: Option<Duration>) -> String {
        let waited = self.start.elapsed().as_secs_f64();
        match work {
            None => format!(
                "{}: {done} {} in {} ({} {}/s), {failed} failed",
                self.what,
                self.unit,
                fmt_secs(waited),
                fmt_rate(done as f64 / waited.max(1e-9)),
                self.unit
            ),
            Some(work) => {
                let secs = work.as_secs_f64();
                format!(
                    "{}: {done} {} in {} of work, first start to last end ({} {}/s; {} of it waited for here), {failed} failed",
                    self.what,
                    self.unit,
                    fmt_secs(secs),
                    fmt_rate(done as f64 / secs.max(1e-9)),
                    self.unit,
                    fmt_secs(waited.min(secs))
                )
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_live_bar_is_updated_in_place_and_replaced_by_the_summary() {
        let mut p = ProgressLine::new("compute", Some(100), true).live(true);
        // Within the quiet first second: nothing.
        p.update_at(10, ms(500));
        assert_eq!(p.live_messages(), 0);
        for done in 11..=100 {
            p.update_at(done, ms(1000 + done as u64));
        }
        assert_eq!(p.live_messages(), 1, "throttled to one in 0.1 s");
        p.finish(100, 0);
        assert_eq!(p.live_messages(), 2, "the summary replaces the bar");
        // A run that ends within its first second shows its summary as a line, no bar.
        let mut quick = ProgressLine::new("compute", Some(5), true).live(true);
        quick.update_at(5, ms(100));
        quick.finish(5, 0);
        assert_eq!(quick.live_messages(), 0);
        // Lines on stderr (the CLI) never become a bar.
        let cli = ProgressLine::new("segment", Some(5), true)
            .to_stderr()
            .live(true);
        assert_eq!(cli.live_messages(), 0);
        assert!(cli.live.is_none());
    }

    #[test]
    fn no_end_time_is_guessed_before_the_first_item() {
        let p = ProgressLine::new("slurm", Some(160), false).unit("planes");
        let line = p.line(0, Duration::from_secs(5));
        assert!(line.ends_with("eta ?"), "{line}");
        let line = p.line(80, Duration::from_secs(5));
        assert!(line.ends_with("eta 5.0 s"), "{line}");
    }

    #[test]
    fn a_run_shorter_than_a_second_prints_no_progress_lines() {
        let mut p = ProgressLine::new("compute", Some(160), true);
        assert!((1..=160).all(|done| !p.due(done, ms(done as u64 * 6))));
    }

    #[test]
    fn after_the_first_second_a_line_is_due_every_tenth_or_two_seconds() {
        let mut p = ProgressLine::new("compute", Some(100), true);
        assert!(!p.due(5, ms(500)));
        assert!(
            p.due(12, ms(1_100)),
            "the first line once the quiet second is over"
        );
        assert!(!p.due(15, ms(1_200)), "same tenth, 0.1 s later");
        assert!(p.due(21, ms(1_300)), "a new tenth");
        assert!(!p.due(22, ms(3_200)));
        assert!(p.due(23, ms(3_400)), "2 s since the last line");
    }

    #[test]
    fn a_summary_of_work_gives_the_work_time_not_the_wait() {
        let p = ProgressLine::new("gather", Some(3), true);
        let line = p.summary(3, 0, Some(Duration::from_millis(4_200)));
        assert!(
            line.starts_with("gather: 3 tasks in 4.2 s of work"),
            "{line}"
        );
        assert!(
            line.contains("0.7 tasks/s; 0.0 s of it waited for here"),
            "{line}"
        );
        assert!(line.ends_with("0 failed"), "{line}");
        let plain = p.summary(3, 1, None);
        assert!(plain.starts_with("gather: 3 tasks in 0.0 s ("), "{plain}");
    }

    #[test]
    fn an_unknown_total_prints_every_two_seconds_after_the_first() {
        let mut p = ProgressLine::new("gather", None, true);
        assert!(!p.due(10, ms(900)));
        assert!(p.due(20, ms(2_000)));
        assert!(!p.due(30, ms(3_000)));
        assert!(p.due(40, ms(4_100)));
    }
}
