//! `omeflow segment`: the tutorial's recipe over every plane of an image level, as a
//! serialisable job. Planes are read ahead (`reader.rs`), segmented on the runner's pool with
//! their labels stored at once (`worker.rs`), and measured into a table (`sink.rs`); memory is
//! bounded by the read-ahead window whatever the number of planes.
//!
//! ```no_run
//! use omeflow::batch::segment::{run, SegmentJob};
//! use omeflow::store::StoreOptions;
//! let job = SegmentJob { table_out: Some("objects.csv".into()), ..SegmentJob::new("sample.ome.zarr", 0) };
//! let report = run(&job, &StoreOptions::default(), &mut |p| eprintln!("{}/{}", p.done, p.total))?;
//! println!("{} objects in {} planes", report.outcome.total_objects, report.outcome.plane_count);
//! # Ok::<(), omeflow::Error>(())
//! ```

mod into_labels;
mod reader;
mod sink;
mod worker;

use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint};
use super::runner::{Flow, Runner, Spread};
use super::table::TableFormat;
use super::{Progress, Report};
use crate::ngff::labels::LabelTarget;
use crate::ngff::writer::Existing;
use crate::ngff::OmeZarr;
use crate::runtime::{self, check_threads};
use crate::segment::SegmentParams;
use crate::store::{redact, StoreOptions};
use crate::{Error, Result};
use reader::Planes;
use sink::{Labels, Sink};
use worker::Worker;

pub use into_labels::{LabelSink, Segmentations};
pub use sink::LISTED_PLANES;

fn yes() -> bool {
    true
}

/// What to segment and where results go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentJob {
    /// The image (path or URL).
    pub source: String,
    /// Resolution level.
    pub level: usize,
    /// Time points (all when `None`).
    pub t: Option<Range<usize>>,
    /// Channels (all when `None`).
    pub c: Option<Range<usize>>,
    /// Z planes (all when `None`).
    pub z: Option<Range<usize>>,
    /// The recipe's parameters.
    pub params: SegmentParams,
    /// Where to write label images: an OME-Zarr image location that receives `labels/<labels_name>`.
    pub labels_out: Option<String>,
    /// Name of the label image.
    pub labels_name: String,
    /// Where to write the measurements (`.csv` or `.json`).
    pub table_out: Option<PathBuf>,
    /// CPU threads (all cores when `None`).
    pub threads: Option<usize>,
    /// Planes read ahead of the CPU work (memory is bounded by this many planes). By default
    /// `4 x threads + concurrency`, cut to 64 MiB of planes (at least `2 x threads + 1`).
    pub window: Option<usize>,
    /// Start the outputs again rather than resume them: delete the label image and progress
    /// record an earlier run of any job left there (only what omeflow wrote).
    #[serde(default)]
    pub overwrite: bool,
}

impl SegmentJob {
    /// Every plane of `level` of `source` with the tutorial's parameters.
    pub fn new(source: impl Into<String>, level: usize) -> Self {
        Self {
            source: source.into(),
            level,
            t: None,
            c: None,
            z: None,
            params: SegmentParams::default(),
            labels_out: None,
            labels_name: "segmentation".into(),
            table_out: None,
            threads: None,
            window: None,
            overwrite: false,
        }
    }

    /// What a rerun must match to go on with this job's output: everything that changes the
    /// results, nothing that only changes how fast they come (threads, window).
    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "omeflow-record": 1,
            "job": "segment",
            "source": redact(&self.source),
            "level": self.level,
            "t": self.t, "c": self.c, "z": self.z,
            "params": self.params,
            "labels": self.labels_out.as_ref().map(|_| &self.labels_name),
            "table": self.table_out.as_ref().map(|p| match TableFormat::from_path(p) {
                TableFormat::Csv => "csv",
                TableFormat::Json => "json",
            }),
        })
    }

    /// Check the job's values before anything is read or created.
    pub fn validate(&self) -> Result<()> {
        self.params.validate()?;
        check_threads(self.threads)?;
        if let Some(w) = self.window {
            if !(1..=1 << 16).contains(&w) {
                return Err(Error::InvalidArgument(format!(
                    "window {w}: read 1 to 65536 planes ahead"
                )));
            }
        }
        if self.labels_out.is_some() {
            crate::ngff::writer::check_label_name(&self.labels_name)?;
        }
        for (axis, r) in [("t", &self.t), ("c", &self.c), ("z", &self.z)] {
            if let Some(r) = r {
                if r.start >= r.end {
                    return Err(Error::InvalidArgument(format!(
                        "{axis} range {}..{} is empty",
                        r.start, r.end
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One plane's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaneSummary {
    pub t: usize,
    pub c: usize,
    pub z: usize,
    /// Number of objects found.
    pub objects: usize,
    /// Why the plane failed, if it did (its objects are then 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a segmentation job measured (the fields `omeflow segment --json` prints beside the
/// report's source, level and seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentOutcome {
    /// Planes processed.
    pub plane_count: usize,
    /// Planes that failed (see each plane's `error`).
    pub failed: usize,
    /// Objects over all planes.
    pub total_objects: u64,
    /// Throughput.
    pub planes_per_second: f64,
    /// Every plane, ordered by (t, c, z), when the job has at most [`LISTED_PLANES`]; past
    /// that, only the failed planes (every plane's count is in the table and the record).
    pub planes: Vec<PlaneSummary>,
    /// Whether `planes` lists every plane (false past [`LISTED_PLANES`]).
    #[serde(default = "yes")]
    pub all_planes_listed: bool,
    /// Where label images were written.
    pub labels_out: Option<String>,
    /// Where the table was written, and its row count.
    pub table_out: Option<PathBuf>,
    pub table_rows: u64,
    /// Planes an earlier, interrupted run of the same job had done (read from the output's
    /// progress record, not computed again).
    #[serde(default)]
    pub resumed_planes: u64,
}

/// Run a segmentation job; `progress` is called after each plane.
///
/// With an output (labels or a table), the run records its progress in it and a rerun of the
/// same job goes on from there: planes recorded as done are skipped, a job with other
/// parameters is refused (unless `overwrite`). [`crate::batch::interrupt`] stops it cleanly.
pub fn run(
    job: &SegmentJob,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report<SegmentOutcome>> {
    let start = std::time::Instant::now();
    job.validate()?;
    let image = OmeZarr::open(&job.source, options)?;
    let px = image.level(job.level)?;
    let mut planes = Planes::new(px.shape(), &job.t, &job.c, &job.z)?;
    let source = redact(&job.source);
    let threads = runtime::threads(job.threads)?;
    let window = reader::window(job.window, &px, threads, options.concurrency);
    let [lt, lc, lz, _, _] = px.shape();
    let level_planes = (lt as u64) * (lc as u64) * (lz as u64);

    // Outputs: the label image first (which proves the place is omeflow's), then the record in
    // it, or beside the table.
    let target = match &job.labels_out {
        Some(loc) => Some(LabelTarget::new(&image, job.level, loc)?),
        None => None,
    };
    let existing = if job.overwrite {
        Existing::Replace
    } else {
        Existing::Resume(Vec::new())
    };
    let record_store = match (&target, &job.table_out) {
        (Some(t), _) => Some(sink::record_in_labels(t, &job.labels_name)?),
        (None, Some(table)) => Some(sink::record_beside(table)?),
        (None, None) => None,
    };
    if let (Some(store), false) = (&record_store, job.overwrite) {
        // Before the label image is touched: a refused rerun changes nothing.
        Checkpoint::check(store, &job.fingerprint())?;
    }
    let labels = match &target {
        Some(t) => {
            let asked = planes.clone();
            let expect = Box::new(move |t, c, z| asked.contains(t, c, z));
            Some(Labels::open(t, &job.labels_name, existing, expect)?)
        }
        None => None,
    };
    let record = match record_store {
        Some(store) => {
            if job.overwrite {
                checkpoint::delete(&store)?;
            }
            Some(Checkpoint::open(store, &job.fingerprint(), level_planes)?)
        }
        None => None,
    };
    let resumed = record.as_ref().map_or(0, Checkpoint::planes_done);
    if let Some(r) = &record {
        let bits = r.done_bits();
        if let Some(l) = &labels {
            l.mark_written(&bits)?;
        }
        planes.skip_done(bits);
    }
    let total = planes.todo_len();
    let mut runner = Runner::new(
        "segment",
        Some(threads),
        window,
        Spread::Items,
        total,
        progress,
    )?;
    let mut sink = Sink::new(job.table_out.as_ref(), record, [lt, lc, lz], &planes)?;
    let worker = Worker::new(job.params, labels.as_ref(), job.table_out.is_some());
    let where_ = job
        .labels_out
        .as_deref()
        .map(|l| {
            format!(
                "{}/labels/{}",
                crate::output::tidy_location(&redact(l)),
                job.labels_name
            )
        })
        .or_else(|| {
            job.table_out
                .as_ref()
                .map(|t| crate::output::tidy_path(t).display().to_string())
        });
    let all = planes.len() as u64;
    let mut recorded = 0u64;
    let what = format!("planes of {source}");
    let record = |key, out| {
        if let Err(e) = sink.record(key, out, labels.as_ref()) {
            return Flow::Stop(e);
        }
        recorded += 1;
        if super::interrupted() {
            let kept = sink
                .settle(labels.as_ref())
                .and_then(|()| sink.flush())
                .map(|()| resumed + sink.recorded());
            return Flow::Stop(match (kept, &where_) {
                (Ok(n), Some(at)) => Error::Interrupted(format!(
                    "{n} of {all} planes are done and recorded in {at}; run the same command \
                     again to go on from there"
                )),
                (Ok(_), None) => Error::Interrupted(format!(
                    "stopped after {recorded} of {total} planes (no output to resume from)"
                )),
                (Err(e), _) => e,
            });
        }
        Flow::Go
    };
    // Local chunks are read by the thread that segments them (from the page cache, inline);
    // remote ones are fetched ahead, many at once, while the threads work.
    let ran = if px.is_local() {
        runner.run_inline(
            &what,
            planes.todo(),
            |_, key| worker.plane_here(&px, key),
            record,
        )
    } else {
        runner.run(
            px.runtime(),
            &what,
            planes.read(&px, window),
            |_, key, plane| worker.plane(key, plane),
            record,
        )
    };
    if let Err(e) = ran {
        // What finished is kept for the rerun, whatever stopped this one.
        let _ = sink.settle(labels.as_ref());
        let _ = sink.flush();
        return Err(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(worker);
    let tally = sink.finish(labels)?;
    Ok(Report {
        source,
        level: job.level,
        seconds,
        outcome: SegmentOutcome {
            plane_count: tally.plane_count as usize,
            failed: tally.failed as usize,
            total_objects: tally.total_objects,
            planes_per_second: tally.plane_count.saturating_sub(resumed) as f64 / seconds.max(1e-9),
            planes: tally.planes,
            all_planes_listed: tally.listed,
            labels_out: job.labels_out.as_deref().map(redact),
            table_out: job.table_out.clone(),
            table_rows: tally.table_rows,
            resumed_planes: resumed,
        },
    })
}
