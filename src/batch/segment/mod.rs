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
use std::path::{Path, PathBuf};

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
    pub(crate) fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "omeflow-record": 1,
            "job": "segment",
            "source": crate::output::tidy_location(&redact(&self.source)),
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
    match run_with(job, options, progress, None)? {
        Ran::Whole(report) => Ok(report),
        Ran::Share(_) => Err(Error::Internal("a whole run ended as a share".into())),
    }
}

/// How a run ended: a whole job with its report, or one share of it ([`run_share`]).
pub(crate) enum Ran {
    Whole(Report<SegmentOutcome>),
    Share(ShareDone),
}

/// What a share of a job did (its planes are recorded in the job's output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareDone {
    /// Planes of the share this run computed and recorded.
    pub recorded: u64,
    /// Planes of the share an earlier run had recorded.
    pub resumed: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Plan the shares of `job` for `elements` workers at most: its output is created (or resumed,
/// as a local run would), then the planes still to do are cut into runs of whole label chunks,
/// so that no two shares write the same chunk. Returns the shares (ranges of plane indices of
/// the level, raster order) and the planes still to do.
pub(crate) fn plan(
    job: &SegmentJob,
    options: &StoreOptions,
    elements: usize,
    at_least: usize,
) -> Result<(Vec<Range<u64>>, u64)> {
    // An empty share creates the outputs and the record exactly as a run does.
    run_with(job, options, &mut |_| {}, Some(0..0))?;
    let image = OmeZarr::open(&job.source, options)?;
    let px = image.level(job.level)?;
    let mut planes = Planes::new(px.shape(), &job.t, &job.c, &job.z)?;
    let [lt, lc, lz, _, _] = px.shape();
    let level_planes = (lt as u64) * (lc as u64) * (lz as u64);
    let chunk_z = match &job.labels_out {
        Some(loc) => LabelTarget::new(&image, job.level, loc)?
            .spec
            .chunk_z
            .clamp(1, lz.max(1)),
        None => 1,
    };
    if let Some(store) = record_store(job, options)? {
        let record = Checkpoint::open(store, &job.fingerprint(), level_planes)?;
        planes.skip_done(record.done_bits());
    }
    let todo = planes.todo_len() as u64;
    let units = planes.todo().map(|k| {
        let first_z = k.z - k.z % chunk_z;
        let index = |z: usize| ((k.t as u64 * lc as u64) + k.c as u64) * lz as u64 + z as u64;
        index(first_z)..index((first_z + chunk_z).min(lz))
    });
    Ok((super::share::pack(units, todo, elements, at_least), todo))
}

/// Run the planes of `job` whose level index is in `share`, recording them in the job's
/// output, and leave the outputs for the job's last run to commit (the table, the label
/// image's metadata). `share` must hold whole label chunks ([`plan`] cuts them so).
pub(crate) fn run_share(
    job: &SegmentJob,
    options: &StoreOptions,
    share: Range<u64>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ShareDone> {
    match run_with(job, options, progress, Some(share))? {
        Ran::Share(done) => Ok(done),
        Ran::Whole(_) => Err(Error::Internal("a share ended as a whole run".into())),
    }
}

/// One bit per plane of the level for each plane `job` asks for that its output's record does
/// not hold yet (what its workers still have to do).
pub(crate) fn remaining(job: &SegmentJob, options: &StoreOptions) -> Result<Vec<u64>> {
    let image = OmeZarr::open(&job.source, options)?;
    let px = image.level(job.level)?;
    let mut planes = Planes::new(px.shape(), &job.t, &job.c, &job.z)?;
    let [lt, lc, lz, _, _] = px.shape();
    let level_planes = (lt as u64) * (lc as u64) * (lz as u64);
    let store = record_store(job, options)?.ok_or_else(no_output)?;
    let record = Checkpoint::open(store, &job.fingerprint(), level_planes)?;
    planes.skip_done(record.done_bits());
    let mut bits = vec![0u64; level_planes.div_ceil(64) as usize];
    for k in planes.todo() {
        let i = ((k.t as u64 * lc as u64) + k.c as u64) * lz as u64 + k.z as u64;
        bits[(i / 64) as usize] |= 1 << (i % 64);
    }
    Ok(bits)
}

/// The local folder of `job`'s progress record (where its workers' files go).
pub(crate) fn record_dir(job: &SegmentJob, options: &StoreOptions) -> Result<PathBuf> {
    let store = record_store(job, options)?.ok_or_else(no_output)?;
    store.local_root().map(Path::to_path_buf).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} is not on a file system: workers on other machines share a job through a \
             folder they all see; write the outputs to one",
            store.location()
        ))
    })
}

fn no_output() -> Error {
    Error::InvalidArgument(
        "a segmentation run by workers needs an output to record its planes in: \
         --labels-out (or --labels) or --table-out"
            .into(),
    )
}

/// Where `job` keeps its progress record, if it has an output.
fn record_store(job: &SegmentJob, options: &StoreOptions) -> Result<Option<crate::store::Store>> {
    Ok(match (&job.labels_out, &job.table_out) {
        (Some(loc), _) => {
            let image = OmeZarr::open(&job.source, options)?;
            let target = LabelTarget::new(&image, job.level, loc)?;
            Some(sink::record_in_labels(&target, &job.labels_name)?)
        }
        (None, Some(table)) => Some(sink::record_beside(table)?),
        (None, None) => None,
    })
}

fn run_with(
    job: &SegmentJob,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
    share: Option<Range<u64>>,
) -> Result<Ran> {
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
    let existing = match &share {
        // Workers write their chunks beside each other into the output the plan created.
        Some(s) if !s.is_empty() => Existing::Attach,
        _ if job.overwrite => Existing::Replace,
        _ => Existing::Resume(Vec::new()),
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
    let mut skip = record.as_ref().map(Checkpoint::done_bits);
    if let (Some(r), Some(l)) = (&record, &labels) {
        l.mark_written(&r.done_bits())?;
    }
    let mut resumed_here = resumed;
    if let Some(share) = &share {
        if record.is_none() {
            return Err(Error::InvalidArgument(
                "a share of a segmentation needs an output (labels or a table) to record it in"
                    .into(),
            ));
        }
        check_share(share, level_planes, job, &target)?;
        let bits = skip.get_or_insert_with(|| vec![0; level_planes.div_ceil(64) as usize]);
        // Planes outside the share are another worker's: skipped as if done, never written.
        resumed_here = 0;
        for i in 0..level_planes {
            let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
            if !share.contains(&i) {
                bits[w] |= b;
            } else if bits[w] & b != 0 {
                resumed_here += 1;
            }
        }
    }
    if let Some(bits) = skip {
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
    if share.is_some() {
        // The job's last run commits the outputs; a share only records its planes.
        sink.settle(labels.as_ref())?;
        sink.flush()?;
        if let Some(failed) = sink.first_failure() {
            return Err(Error::Incomplete(format!(
                "{} of the share's planes failed, the first {failed}; they are not recorded, \
                 so the job's next run does them again",
                sink.failures()
            )));
        }
        return Ok(Ran::Share(ShareDone {
            recorded: sink.recorded(),
            resumed: resumed_here,
            seconds,
        }));
    }
    let tally = sink.finish(labels)?;
    Ok(Ran::Whole(Report {
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
    }))
}

/// Refuse a share that would split a label chunk with another share (two workers would write
/// the same chunk, each with only its own planes).
fn check_share(
    share: &Range<u64>,
    level_planes: u64,
    job: &SegmentJob,
    target: &Option<LabelTarget>,
) -> Result<()> {
    if share.start > share.end || share.end > level_planes {
        return Err(Error::OutOfBounds(format!(
            "share of planes {}..{} of a level of {level_planes}",
            share.start, share.end
        )));
    }
    let Some(t) = target else {
        return Ok(());
    };
    let [_, _, nz, _, _] = t.spec.shape;
    let cz = t.spec.chunk_z.clamp(1, nz.max(1)) as u64;
    let nz = nz as u64;
    let on_edge = |i: u64| i == level_planes || (i % nz).is_multiple_of(cz);
    if share.is_empty() || (on_edge(share.start) && on_edge(share.end)) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "share of planes {}..{} splits chunks of {cz} planes of {}'s labels; plan shares \
             with omeflow, which cuts them at chunk edges",
            share.start,
            share.end,
            redact(&job.source)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngff::writer::{ImageSpec, ImageWriter};
    use crate::ngff::DType;

    #[test]
    fn a_share_that_splits_a_label_chunk_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.ome.zarr");
        let src = src.to_str().unwrap().to_string();
        let w =
            ImageWriter::create(&src, ImageSpec::new([1, 1, 40, 128, 128], DType::U16)).unwrap();
        for z in 0..40 {
            w.write_plane(
                0,
                0,
                z,
                &ndarray::Array2::<u16>::from_elem((128, 128), z as u16),
            )
            .unwrap();
        }
        let out = dir.path().join("out");
        let job = SegmentJob {
            labels_out: Some(out.to_str().unwrap().to_string()),
            ..SegmentJob::new(&src, 0)
        };
        let (shares, todo) = plan(&job, &StoreOptions::default(), 3, 1).unwrap();
        assert_eq!(todo, 40);
        // Small planes share chunks along z: every cut is at a chunk's first plane.
        let cz = LabelTarget::new(
            &OmeZarr::open(&src, &StoreOptions::default()).unwrap(),
            0,
            job.labels_out.as_deref().unwrap(),
        )
        .unwrap()
        .spec
        .chunk_z as u64;
        assert!(cz > 1, "chunks of {cz} planes");
        assert!(shares.iter().all(|r| r.start % cz == 0), "{shares:?}");
        let e = run_share(&job, &StoreOptions::default(), 1..cz + 1, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("splits chunks"), "{e}");
        let e = run_share(&job, &StoreOptions::default(), 0..41, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("share of planes 0..41"), "{e}");
    }
}
