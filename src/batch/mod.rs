//! Batch jobs: the work `omeflow segment` and `omeflow classify` do (and a worker on another
//! machine next), described as data. A job is plain serialisable values (source, level,
//! planes, parameters, outputs), never a closure, so the same job runs in this process or in
//! `omeflow worker` elsewhere; every job runs on the one runner (`batch/runner.rs`: a pool and a
//! read-ahead window) and ends in one [`Report`] shape.
//!
//! Closures written in a notebook run with [`crate::compute`] instead.
//!
//! ```no_run
//! use omeflow::batch::{self, Job, SegmentJob};
//! let job = Job::Segment(SegmentJob::new("sample.ome.zarr", 0));
//! let sent = serde_json::to_string(&job)?;             // what a worker elsewhere receives
//! let job: Job = serde_json::from_str(&sent)?;
//! let report = batch::run(&job, &Default::default(), &mut |p| eprintln!("{}/{}", p.done, p.total))?;
//! println!("{}", serde_json::to_string(&report)?);     // {"source": ..., "job": "segment", ...}
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
pub mod classify;
mod runner;
pub mod segment;
pub mod share;
pub mod table;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use classify::{ClassifyJob, ClassifyOutcome};
pub use segment::{PlaneSummary, SegmentJob, SegmentOutcome};
pub use share::{JobFile, ShareDone, Storage};
pub use table::TableFormat;

use crate::store::StoreOptions;
use crate::Result;

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask the running batch jobs of this process to stop: each records what it finished and ends
/// with [`crate::Error::Interrupted`], so a rerun goes on from there. Safe to call from a
/// signal handler (it only stores a flag); the CLI calls it on Ctrl-C.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A job: what to run, as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    /// The tutorial's segmentation over the planes of an image level.
    Segment(SegmentJob),
    /// An ilastik project's pixel classification of an image level.
    Classify(ClassifyJob),
}

impl Job {
    /// Its CPU threads (all cores when `None`).
    pub fn threads_mut(&mut self) -> &mut Option<usize> {
        match self {
            Job::Segment(j) => &mut j.threads,
            Job::Classify(j) => &mut j.threads,
        }
    }

    /// Whether it starts its outputs again rather than resuming them.
    pub fn overwrite_mut(&mut self) -> &mut bool {
        match self {
            Job::Segment(j) => &mut j.overwrite,
            Job::Classify(j) => &mut j.overwrite,
        }
    }
}

impl From<SegmentJob> for Job {
    fn from(j: SegmentJob) -> Self {
        Job::Segment(j)
    }
}

impl From<ClassifyJob> for Job {
    fn from(j: ClassifyJob) -> Self {
        Job::Classify(j)
    }
}

/// Progress of a run, passed to the caller's callback after every item (plane or time point).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Items finished, successfully or not.
    pub done: usize,
    /// Items that failed.
    pub failed: usize,
    /// Items in the run.
    pub total: usize,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// What a run did: the same shape for every job, with what the job measured in `outcome`
/// (flattened into the JSON that `--json` prints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report<O> {
    /// The image (credentials removed).
    pub source: String,
    /// Its level.
    pub level: usize,
    /// Wall time of the run, reading and writing included.
    pub seconds: f64,
    /// What the job measured.
    #[serde(flatten)]
    pub outcome: O,
}

/// What any job measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "lowercase")]
pub enum Outcome {
    Segment(SegmentOutcome),
    Classify(ClassifyOutcome),
}

impl<O> Report<O> {
    fn map<P>(self, f: impl FnOnce(O) -> P) -> Report<P> {
        Report {
            source: self.source,
            level: self.level,
            seconds: self.seconds,
            outcome: f(self.outcome),
        }
    }
}

/// Run `job` here; `progress` is called after every item.
pub fn run(
    job: &Job,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report<Outcome>> {
    Ok(match job {
        Job::Segment(j) => segment::run(j, options, progress)?.map(Outcome::Segment),
        Job::Classify(j) => classify::run(j, options, progress)?.map(Outcome::Classify),
    })
}
