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

mod reader;
mod sink;
mod worker;

use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::runner::{Flow, Runner, Spread};
use super::{Progress, Report};
use crate::ngff::OmeZarr;
use crate::runtime::{self, check_threads};
use crate::segment::SegmentParams;
use crate::store::{redact, StoreOptions};
use crate::{Error, Result};
use reader::Planes;
use sink::{Labels, Sink};
use worker::Worker;

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
        }
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
    /// Every plane, ordered by (t, c, z).
    pub planes: Vec<PlaneSummary>,
    /// Where label images were written.
    pub labels_out: Option<String>,
    /// Where the table was written, and its row count.
    pub table_out: Option<PathBuf>,
    pub table_rows: u64,
}

/// Run a segmentation job; `progress` is called after each plane.
pub fn run(
    job: &SegmentJob,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report<SegmentOutcome>> {
    let start = std::time::Instant::now();
    job.validate()?;
    let image = OmeZarr::open(&job.source, options)?;
    let px = image.level(job.level)?;
    let planes = Planes::new(px.shape(), &job.t, &job.c, &job.z)?;
    let total = planes.len();
    let source = redact(&job.source);
    let threads = runtime::threads(job.threads)?;
    let window = reader::window(job.window, &px, threads, options.concurrency);
    let mut runner = Runner::new(
        "segment",
        Some(threads),
        window,
        Spread::Items,
        total,
        progress,
    )?;

    let labels = match &job.labels_out {
        Some(loc) => Some(Labels::create(loc, &job.labels_name, px.shape(), &source)?),
        None => None,
    };
    let mut sink = Sink::new(job.table_out.as_ref(), total)?;
    let worker = Worker::new(job.params, labels.as_ref(), job.table_out.is_some());
    runner.run(
        px.runtime(),
        &format!("planes of {source}"),
        planes.read(&px, window),
        |_, key, plane| worker.plane(key, plane),
        |key, out| match sink.record(key, out) {
            Ok(()) => Flow::Go,
            Err(e) => Flow::Stop(e),
        },
    )?;
    let seconds = start.elapsed().as_secs_f64();
    drop(worker);
    let (planes, table_rows) = sink.finish(labels)?;
    Ok(Report {
        source,
        level: job.level,
        seconds,
        outcome: SegmentOutcome {
            plane_count: planes.len(),
            failed: planes.iter().filter(|p| p.error.is_some()).count(),
            total_objects: planes.iter().map(|p| p.objects as u64).sum(),
            planes_per_second: planes.len() as f64 / seconds.max(1e-9),
            planes,
            labels_out: job.labels_out.as_deref().map(redact),
            table_out: job.table_out.clone(),
            table_rows,
        },
    })
}
