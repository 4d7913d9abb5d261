//! Live output: a rich output shown at once while a cell runs, and replaced in place later (a
//! progress bar that fills, a plot that grows), as Jupyter's `display_data` with a
//! `transient.display_id` and `update_display_data` do it.
//!
//! omeflow's kernel turns a line `EVCXR_LIVE <json>` on a cell's stdout into those messages the
//! moment the line arrives (`kernel/README.md`); it says it can by setting `EVCXR_LIVE_DISPLAY=1`
//! for the process that runs the cells. Anywhere else (a stock evcxr kernel, the CLI, a test) a
//! [`LiveDisplay`] prints the value's text instead: a line per update at most every 2 s, and the
//! last one.
//!
//! ```no_run
//! use omeflow::display::{LiveDisplay, Show};
//! # struct Count(usize);
//! # impl Show for Count {
//! #     fn to_html(&self) -> omeflow::Result<String> { Ok(format!("<b>{}</b>", self.0)) }
//! #     fn to_text(&self) -> String { self.0.to_string() }
//! # }
//! let mut live = LiveDisplay::new();
//! for i in 0..1000 {
//!     live.update(&Count(i));       // sent at most 4 times a second
//! }
//! live.finish(&Count(1000));         // always sent: what the saved notebook keeps
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Show;

/// The kernel's marker of a live output line.
pub const LIVE_MARKER: &str = "EVCXR_LIVE ";
/// The variable a kernel sets to `1` when it turns [`LIVE_MARKER`] lines into display messages.
pub const LIVE_ENV: &str = "EVCXR_LIVE_DISPLAY";
/// Updates of one live output are sent at most this often (the last one always).
pub const LIVE_EVERY: Duration = Duration::from_millis(250);
/// Without live output, a text line per update at most this often.
const TEXT_EVERY: Duration = Duration::from_secs(2);

/// Whether this process runs in a kernel that shows live output.
pub fn live_available() -> bool {
    std::env::var(LIVE_ENV).is_ok_and(|v| v == "1")
}

/// One output that a running cell shows at once and replaces in place.
#[derive(Debug)]
pub struct LiveDisplay {
    id: String,
    live: bool,
    shown: bool,
    last: Option<Instant>,
    sent: u64,
}

impl Default for LiveDisplay {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveDisplay {
    /// A new live output (nothing is shown until the first [`LiveDisplay::update`]).
    pub fn new() -> Self {
        Self::with_live(live_available())
    }

    /// A live output that prints its text lines whatever the kernel can do (`false`), or sends
    /// display messages (`true`).
    pub fn with_live(live: bool) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        LiveDisplay {
            id: format!(
                "omeflow-{}-{nanos:x}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            live,
            shown: false,
            last: None,
            sent: 0,
        }
    }

    /// Whether updates go to the notebook as display messages.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Its display id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Messages (or lines) sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether an update now would be sent ([`LIVE_EVERY`] since the last one), so a caller can
    /// skip drawing a value that would not be.
    pub fn due(&self) -> bool {
        let every = if self.live { LIVE_EVERY } else { TEXT_EVERY };
        self.last.is_none_or(|t| t.elapsed() >= every)
    }

    /// Whether `every` has passed since the last update (for outputs redrawn less often than
    /// [`LIVE_EVERY`], as a plot).
    pub fn every_due(&self, every: Duration) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= every)
    }

    /// Show `value`, or replace what was shown, unless the last update was under
    /// [`LIVE_EVERY`] ago (then nothing happens: a million calls send a few messages).
    pub fn update(&mut self, value: &dyn Show) {
        if self.due() {
            self.send(value);
        }
    }

    /// Show `value` now, whatever the time since the last update: the final state.
    pub fn finish(&mut self, value: &dyn Show) {
        self.send(value);
    }

    fn send(&mut self, value: &dyn Show) {
        self.last = Some(Instant::now());
        self.sent += 1;
        if !self.live {
            println!("{}", value.to_text());
            return;
        }
        let html = value
            .to_html()
            .unwrap_or_else(|e| format!("(could not draw this value: {e})"));
        let message = serde_json::json!({
            "id": self.id,
            "update": self.shown,
            "data": {"text/html": html, "text/plain": value.to_text()},
        });
        self.shown = true;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        // One line: JSON escapes the newlines of the HTML.
        let _ = writeln!(out, "{LIVE_MARKER}{message}");
        let _ = out.flush();
    }
}

impl Show for crate::compute::ProgressState {
    /// A bar with done/total, failed, rate, elapsed and ETA; once the run ended, the bar where it
    /// ended and the summary.
    fn to_html(&self) -> crate::Result<String> {
        use super::html::escape;
        let (value, max) = match self.total {
            Some(t) => (self.done.to_string(), t.max(1).to_string()),
            // An unknown total: an indeterminate bar.
            None => (String::new(), String::new()),
        };
        let bar = if max.is_empty() {
            "<progress style=\"width:24em\"></progress>".to_string()
        } else {
            format!("<progress value=\"{value}\" max=\"{max}\" style=\"width:24em\"></progress>")
        };
        // The summary keeps the bar where it ended (full when every task ran) beside its line.
        Ok(format!(
            "<div class=\"omeflow-progress\" style=\"font-family:monospace\">{bar} {}</div>",
            escape(&self.line())
        ))
    }

    fn to_text(&self) -> String {
        self.line()
    }
}

/// The objects-per-plane plot of the planes recorded so far (a whole-image `compute` into a
/// label image draws it as results arrive).
#[derive(Clone, Debug)]
pub struct PlotSoFar(pub Vec<super::PlaneCount>);

impl Show for PlotSoFar {
    fn to_html(&self) -> crate::Result<String> {
        Ok(format!(
            "<div class=\"omeflow-live-plot\">{}</div>",
            super::objects_per_plane_svg(&self.0)?
        ))
    }

    fn to_text(&self) -> String {
        format!(
            "{} planes so far, {} objects",
            self.0.len(),
            self.0.iter().map(|p| p.objects as u64).sum::<u64>()
        )
    }
}

/// The objects-per-plane plot of a run over planes, shown live and redrawn at most once a
/// second (after the run's first second) as results arrive; nothing at all outside a kernel that
/// shows live output (a plot is no text line).
#[derive(Debug)]
pub struct GrowingPlot {
    live: Option<(LiveDisplay, Instant)>,
    counts: Vec<super::PlaneCount>,
}

/// How often a [`GrowingPlot`] is redrawn.
const PLOT_EVERY: Duration = Duration::from_secs(1);

impl GrowingPlot {
    /// A plot shown when `on` and the kernel shows live output.
    pub fn new(on: bool) -> Self {
        Self::with_live(on && live_available())
    }

    /// A plot shown live (`true`) whatever the kernel says, or never.
    pub fn with_live(live: bool) -> Self {
        GrowingPlot {
            live: live.then(|| (LiveDisplay::with_live(true), Instant::now())),
            counts: Vec::new(),
        }
    }

    /// Whether anything will be drawn.
    pub fn is_on(&self) -> bool {
        self.live.is_some()
    }

    /// One more plane's objects; redraws when due.
    pub fn push(&mut self, plane: [usize; 3], objects: usize) {
        let Some((live, start)) = &mut self.live else {
            return;
        };
        self.counts.push(super::PlaneCount { plane, objects });
        let due = if live.sent() == 0 {
            start.elapsed() >= PLOT_EVERY
        } else {
            live.every_due(PLOT_EVERY)
        };
        if due {
            live.update(&PlotSoFar(self.counts.clone()));
        }
    }

    /// A result of a task, when it is a segmentation of a known plane.
    pub fn push_result(&mut self, result: &(dyn std::any::Any + Send)) {
        if self.live.is_none() {
            return;
        }
        if let Some(s) = result.downcast_ref::<crate::segment::Segmentation>() {
            if let Some(plane) = s.plane {
                self.push(plane, s.count);
            }
        }
    }

    /// The run ended: the plot, if shown, is drawn with every plane.
    pub fn finish(&mut self) {
        if let Some((live, _)) = &mut self.live {
            if live.sent() > 0 {
                live.finish(&PlotSoFar(std::mem::take(&mut self.counts)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct N(usize);
    impl Show for N {
        fn to_html(&self) -> crate::Result<String> {
            Ok(format!("<b>{}</b>", self.0))
        }
        fn to_text(&self) -> String {
            self.0.to_string()
        }
    }

    #[test]
    fn the_plot_takes_segmentations_of_known_planes_and_nothing_else() {
        let mut plot = GrowingPlot::with_live(true);
        let seg = crate::segment::Segmentation::new(ndarray::Array2::zeros((4, 4)), "").at(1, 0, 3);
        plot.push_result(&seg);
        plot.push_result(&crate::segment::Segmentation::new(
            ndarray::Array2::zeros((4, 4)),
            "",
        ));
        plot.push_result(&42u32);
        assert_eq!(plot.counts.len(), 1);
        assert_eq!(plot.counts[0].plane, [1, 0, 3]);
        // Within the first second nothing is drawn, and a plot never shown is not drawn at the end.
        assert_eq!(plot.live.as_ref().map(|(l, _)| l.sent()), Some(0));
        plot.finish();
        assert_eq!(plot.live.as_ref().map(|(l, _)| l.sent()), Some(0));
        assert!(!GrowingPlot::with_live(false).is_on());
    }

    #[test]
    fn updates_are_throttled_and_the_last_is_always_sent() {
        let mut live = LiveDisplay::with_live(true);
        for i in 0..100_000 {
            live.update(&N(i));
        }
        assert!(live.sent() <= 2, "{} sent", live.sent());
        live.finish(&N(100_000));
        assert!(live.sent() <= 3);
        assert!(live.id().starts_with("omeflow-"));
        assert_ne!(live.id(), LiveDisplay::with_live(true).id());
    }
}
