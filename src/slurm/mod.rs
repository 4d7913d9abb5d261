//! Beyond one machine: omeflow's batch jobs ([`crate::batch`]) run as Slurm array jobs, the
//! engine bioimaging facilities' clusters run.
//!
//! A job is planned into shares of whole label chunks (or time points), one per array element;
//! each element runs `omeflow worker <job file> --index <i>` on a node and records its items in
//! the job's output, which every node sees on the cluster's shared file system. The output is
//! the truth: a look at a run asks Slurm what still runs and the output what is done, submits
//! again the elements that ended without their items (a node that died, a worker that failed;
//! bounded by [`SlurmOptions::attempts`]), and once every element is done commits the outputs
//! here, as the local run would (the same labels and table).
//!
//! From a notebook, the handle is plain data and lives across cells:
//!
//! ```no_run
//! use omeflow::batch::{Job, SegmentJob};
//! use omeflow::slurm::{Cluster, SlurmOptions};
//! let cluster = Cluster::slurm(SlurmOptions { partition: Some("cpu".into()), ..Default::default() })?;
//! let job = SegmentJob { labels_out: Some("image.ome.zarr".into()), ..SegmentJob::new("image.ome.zarr", 4) };
//! let run = cluster.submit(Job::Segment(job))?;   // returns at once
//! println!("{}", run.status()?);                   // in a later cell: where it stands
//! let report = run.gather()?;                      // waits, then commits the outputs
//! # Ok::<(), omeflow::Error>(())
//! ```

mod options;
mod queue;
mod run;

pub use options::SlurmOptions;
pub(crate) use run::is_ours;
pub use run::{ElementFailure, SlurmRun, SlurmStatus};

use crate::batch::{Job, Outcome, Report};
use crate::store::StoreOptions;
use crate::Result;

/// A Slurm cluster to submit jobs to (dask-jobqueue's `SLURMCluster` with `Client`): the
/// options every job gets, and the storage settings of its images.
#[derive(Clone, Debug)]
pub struct Cluster {
    options: SlurmOptions,
    storage: StoreOptions,
}

impl Cluster {
    /// A cluster reached through this machine's Slurm commands (`sbatch`, `squeue`, `scancel`),
    /// each job submitted with `options`.
    pub fn slurm(options: SlurmOptions) -> Result<Self> {
        options.validate()?;
        Ok(Cluster {
            options,
            storage: StoreOptions::default(),
        })
    }

    /// The same cluster reading and writing with `storage` (an S3 endpoint, retries).
    pub fn with_storage(mut self, storage: StoreOptions) -> Self {
        self.storage = storage;
        self
    }

    /// The options jobs are submitted with.
    pub fn options(&self) -> &SlurmOptions {
        &self.options
    }

    /// Submit `job` as an array; returns at once with the run's handle.
    pub fn submit(&self, job: impl Into<Job>) -> Result<SlurmRun> {
        SlurmRun::submit(&job.into(), &self.options, &self.storage)
    }
}

impl SlurmRun {
    /// For a segmentation with a label image: [`SlurmRun::gather`], then its results as the
    /// notebook's `compute` into a `LabelSink` shows them (a table of planes and their objects,
    /// a plot; `get(t, c, z)` reads a plane's labels back).
    pub fn segmentations(&self) -> Result<crate::batch::segment::Segmentations> {
        let Job::Segment(job) = self.job() else {
            return Err(crate::Error::InvalidArgument(
                "a classification has no segmentations: gather() gives its report".into(),
            ));
        };
        let report = self.gather()?;
        let Outcome::Segment(outcome) = report.outcome else {
            return Err(crate::Error::Internal(
                "a segmentation reported another job's outcome".into(),
            ));
        };
        let report = Report {
            source: report.source,
            level: report.level,
            seconds: report.seconds,
            outcome,
        };
        crate::batch::segment::Segmentations::of_job(job, &report, &self.storage_options())
    }

    /// [`SlurmRun::wait`] with a progress line, as `Client::gather` shows one: the job's
    /// report once every element is done and the outputs are committed.
    pub fn gather(&self) -> Result<Report<Outcome>> {
        let unit = match self.job() {
            Job::Segment(_) => "planes",
            Job::Classify(_) => "time points",
        };
        let mut line: Option<crate::compute::ProgressLine> = None;
        self.wait_with(
            &mut |p| {
                let l = line.get_or_insert_with(|| {
                    crate::compute::ProgressLine::new("slurm", Some(p.total), true).unit(unit)
                });
                l.set_failed(p.failed);
                l.update_at(p.done, p.elapsed);
            },
            &mut |note| println!("{note}"),
        )
    }
}
