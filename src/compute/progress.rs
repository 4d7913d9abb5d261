//! One line of progress at least every 10 % or every 2 s, then a summary: what a notebook
//! shows (evcxr streams output by whole lines; `\r` progress bars show nothing). A run that
//! ends within its first second prints the summary alone: ten lines for a 0.1 s run only push
//! the result down the notebook.

use std::time::{Duration, Instant};

/// No progress lines before this much time has passed; the summary is always printed.
const QUIET_START: Duration = Duration::from_secs(1);

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
        if self.enabled && self.due(done, elapsed) {
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

    fn line(&self, done: usize, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        match self.total {
            Some(total) => {
                // Before the first item there is no rate to tell an end time from.
                let eta = if done == 0 {
                    "?".to_string()
                } else {
                    fmt_secs(total.saturating_sub(done) as f64 / rate.max(1e-9))
                };
                format!(
                    "{}: {done}/{total} {} ({}%), {} {}/s, elapsed {}, eta {}",
                    self.what,
                    self.unit,
                    done * 100 / total.max(1),
                    fmt_rate(rate),
                    self.unit,
                    fmt_secs(secs),
                    eta
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
        if self.enabled {
            self.print(self.summary(done, failed, None));
        }
    }

    /// Print the closing summary line of work that may have started before this line did
    /// (futures run from `submit`): `work` is the tasks' own time, first start to last end,
    /// and the line gives the wait since [`ProgressLine::new`] beside it. With `None` (no task
    /// ran), the same as [`ProgressLine::finish`].
    pub fn finish_work(&self, done: usize, failed: usize, work: Option<Duration>) {
        if self.enabled {
            self.print(self.summary(done, failed, work));
        }
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
