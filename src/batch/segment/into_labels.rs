//! A notebook's `compute` over per-plane tasks, at the scale of a whole image: each
//! [`Segmentation`] a task returns has its labels written to an OME-Zarr label image aligned with
//! the image (the same writer and progress record as `omeflow segment`), its measurements to a
//! table, and only its plane and count kept. The run returns [`Segmentations`], which shows the
//! counts as a table and a plot and reads any plane's labels back from disk for a picture.
//! Memory is the tasks in flight plus a few bytes per plane, however many planes; a rerun of the
//! same tasks after an interrupted one (a killed kernel) goes on from the record.
//!
//! ```no_run
//! use omeflow::prelude::*;
//! let data = open_image("image.ome.zarr")?.level(0)?;
//! let lazy: Vec<_> = (0..data.shape()[2]).map(|z| {
//!     let d = data.clone();
//!     delayed(plane_name(0, 0, z), move || {
//!         let plane: Array2<u16> = d.plane_as(0, 0, z)?;
//!         Ok::<_, Error>(segment(&plane, &SegmentParams::default())?.at(0, 0, z).with_image(plane))
//!     })
//! }).collect();
//! let results = Compute::new().to(LabelSink::beside(&data, "labels.ome.zarr")?, lazy)?;
//! println!("{} planes, {} objects", results.len(), results.total_objects());
//! # Ok::<(), omeflow::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::reader::PlaneKey;
use super::sink::{record_in_labels, Labels};
use crate::batch::checkpoint::{self, Checkpoint};
use crate::batch::table::{rows_text, TableFormat, TableWriter};
use crate::compute::{Sink, Summary, TaskFailure};
use crate::ndimage::{regionprops, RegionProps};
use crate::ngff::labels::LabelTarget;
use crate::ngff::writer::Existing;
use crate::ngff::{AnyArray, OmeZarr, Pixels};
use crate::segment::Segmentation;
use crate::store::{redact, StoreOptions};
use crate::{Error, Result};

/// Where a `compute` over planes puts its segmentations: see the module's documentation.
pub struct LabelSink {
    data: Pixels,
    out: String,
    name: String,
    table: Option<PathBuf>,
    overwrite: bool,
    job: Value,
    open: Option<Open>,
}

impl std::fmt::Debug for LabelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelSink")
            .field("image", &redact(self.data.image_location()))
            .field("level", &self.data.level())
            .field("out", &redact(&self.out))
            .field("name", &self.name)
            .field("table", &self.table)
            .finish()
    }
}

/// The outputs, once the tasks are known.
struct Open {
    labels: Labels,
    record: Checkpoint,
    format: TableFormat,
    /// Raster index and count of every task, in task order (`u64::MAX`: not done).
    planes: Vec<u64>,
    counts: Vec<u32>,
    resumed: u64,
    /// Tasks still to record, in order, and the outcomes that came before their turn.
    expected: std::vec::IntoIter<usize>,
    next: Option<usize>,
    waiting: BTreeMap<usize, Option<Done>>,
    failures: Vec<TaskFailure>,
    /// In a kernel that shows live output: the objects-per-plane plot, growing as results are
    /// recorded.
    plot: crate::display::GrowingPlot,
}

/// A task whose labels are stored or waiting for the rest of their chunk, and for its turn in
/// the record.
struct Done {
    plane: PlaneKey,
    key: u64,
    count: usize,
    rows: String,
    row_count: u64,
}

impl Open {
    /// Record the tasks whose turn has come, as far as their labels are stored.
    fn advance(&mut self) -> Result<()> {
        while let Some(next) = self.next {
            match self.waiting.get(&next) {
                None => break,
                Some(Some(d)) if !self.labels.is_written(&d.plane) => break,
                Some(_) => {}
            }
            let Some(done) = self.waiting.remove(&next) else {
                break;
            };
            match done {
                Some(d) => {
                    self.record.add_keyed(
                        next as u64,
                        d.key,
                        Value::from(d.count),
                        d.rows.as_bytes(),
                        d.row_count,
                    )?;
                    self.planes[next] = d.key;
                    self.counts[next] = d.count.min(u32::MAX as usize) as u32;
                    self.plot.push([d.plane.t, d.plane.c, d.plane.z], d.count);
                }
                // A failed task is not done: the part stops before it, and a rerun tries again.
                None => self.record.flush()?,
            }
            self.next = self.expected.next();
        }
        Ok(())
    }
}

/// Not a plane: the mark of a task that is not done in [`Segmentations`].
const NOT_DONE: u64 = u64::MAX;

impl LabelSink {
    /// Labels of `data`'s level written beside its image, into `out` (a local folder that
    /// becomes an OME-Zarr group holding `labels/segmentation`): for an image that is
    /// read-only, on a server or in a catalogue.
    pub fn beside(data: &Pixels, out: impl Into<String>) -> Result<Self> {
        Ok(Self {
            data: data.clone(),
            out: out.into(),
            name: "segmentation".into(),
            table: None,
            overwrite: false,
            job: Value::Null,
            open: None,
        })
    }

    /// Labels written into the image itself (`labels/segmentation`), when it is a local
    /// folder you may write to.
    pub fn inside(data: &Pixels) -> Result<Self> {
        let out = data.image_location().to_string();
        Self::beside(data, out)
    }

    /// The label image's name (`labels/<name>`; `segmentation` by default).
    pub fn name(mut self, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        crate::ngff::writer::check_label_name(&name)?;
        self.name = name;
        Ok(self)
    }

    /// Also write every object's measurements to a table (`.csv`, or `.json` for JSON lines),
    /// in task order, once every task is done.
    pub fn table(mut self, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        crate::output::check_target(&path)?;
        self.table = Some(path);
        Ok(self)
    }

    /// Start the output again instead of resuming it (deleting only what omeflow wrote).
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// What else identifies the job (your function's parameters, a version): a rerun with a
    /// different value is refused instead of mixed into the old output. The tasks' labels are
    /// part of the job already; the code of a closure cannot be, so change this when you change
    /// the function.
    pub fn job(mut self, what: impl serde::Serialize) -> Result<Self> {
        self.job = serde_json::to_value(what)
            .map_err(|e| Error::InvalidArgument(format!("a job description: {e}")))?;
        Ok(self)
    }

    fn fingerprint(&self, labels: &[&str]) -> Value {
        // FNV-1a over the labels: the same tasks give the same record, across runs and builds.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for l in labels {
            for b in l.bytes().chain([0]) {
                hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        }
        serde_json::json!({
            "omeflow-record": 1,
            "job": "compute",
            "source": redact(self.data.image_location()),
            "level": self.data.level(),
            "tasks": labels.len(),
            "task_labels": format!("{hash:016x}"),
            "labels": self.name,
            "table": self.table.as_ref().map(|p| match TableFormat::from_path(p) {
                TableFormat::Csv => "csv",
                TableFormat::Json => "json",
            }),
            "user": self.job,
        })
    }

    fn open_mut(&mut self) -> Result<&mut Open> {
        self.open
            .as_mut()
            .ok_or_else(|| Error::Internal("a LabelSink used before its run started".into()))
    }
}

impl Sink<Segmentation> for LabelSink {
    type Output = Segmentations;

    fn start(&mut self, labels: &[&str]) -> Result<Vec<bool>> {
        let image = OmeZarr::open(self.data.image_location(), &StoreOptions::default())?;
        let target = LabelTarget::new(&image, self.data.level(), &self.out)?;
        let fingerprint = self.fingerprint(labels);
        let store = record_in_labels(&target, &self.name)?;
        if !self.overwrite {
            // Before the label image is touched: a refused rerun changes nothing.
            Checkpoint::check(&store, &fingerprint)?;
        }
        let existing = if self.overwrite {
            Existing::Replace
        } else {
            Existing::Resume(Vec::new())
        };
        // Tasks name their planes only in their results: a chunk waits for every plane of it
        // not yet written, and is stored with what it has when the run ends.
        let written = Labels::open(&target, &self.name, existing, Box::new(|_, _, _| true))?;
        if self.overwrite {
            checkpoint::delete(&store)?;
        }
        let n = labels.len();
        let record = Checkpoint::open(store, &fingerprint, n as u64)?;
        let [lt, lc, lz, _, _] = self.data.shape();
        let level_planes = (lt as u64) * (lc as u64) * (lz as u64);
        let mut planes = vec![NOT_DONE; n];
        let mut counts = vec![0u32; n];
        let mut bits = vec![0u64; level_planes.div_ceil(64) as usize];
        let mut done = vec![false; n];
        for (i, key, count) in record.done_keyed() {
            let (Some(slot), true) = (planes.get_mut(i as usize), key < level_planes) else {
                return Err(Error::InvalidMetadata {
                    location: target.location.clone(),
                    reason: format!(
                        "the progress record names task {i} at plane {key}, outside the image; \
                         start again with `.overwrite(true)`"
                    ),
                });
            };
            *slot = key;
            counts[i as usize] = count.as_u64().unwrap_or(0).min(u32::MAX as u64) as u32;
            done[i as usize] = true;
            bits[(key / 64) as usize] |= 1 << (key % 64);
        }
        written.mark_written(&bits)?;
        let resumed = done.iter().filter(|d| **d).count() as u64;
        let todo: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
        let mut expected = todo.into_iter();
        let next = expected.next();
        self.open = Some(Open {
            labels: written,
            record,
            format: self
                .table
                .as_deref()
                .map_or(TableFormat::Csv, TableFormat::from_path),
            planes,
            counts,
            resumed,
            expected,
            next,
            waiting: BTreeMap::new(),
            failures: Vec::new(),
            plot: crate::display::GrowingPlot::new(true),
        });
        Ok(done)
    }

    fn put(
        &mut self,
        index: usize,
        result: std::result::Result<Segmentation, TaskFailure>,
    ) -> Result<()> {
        let [lt, lc, lz, ly, lx] = self.data.shape();
        let with_table = self.table.is_some();
        let open = self.open_mut()?;
        let outcome = result.and_then(|s| {
            let fail = |why: String| TaskFailure {
                index,
                label: s.name.clone(),
                error: Box::new(Error::InvalidArgument(why)),
            };
            let Some([t, c, z]) = s.plane else {
                return Err(fail(
                    "a result without its plane cannot go to a label image: make it with \
                     `.at(t, c, z)`"
                        .into(),
                ));
            };
            if t >= lt || c >= lc || z >= lz || s.labels.dim() != (ly, lx) {
                return Err(fail(format!(
                    "labels of {:?} at t:{t}, c:{c}, z:{z} do not fit the level's planes \
                     ({ly} x {lx}, t < {lt}, c < {lc}, z < {lz})",
                    s.labels.dim()
                )));
            }
            Ok((PlaneKey { t, c, z }, s))
        });
        let done = match outcome {
            Ok((key, s)) => {
                let (rows, row_count) = if with_table {
                    let props = measurements(&s);
                    (
                        rows_text(open.format, [key.t, key.c, key.z], &props),
                        props.len() as u64,
                    )
                } else {
                    (String::new(), 0)
                };
                let count = s.count;
                // A storage error stops the run: the next planes would fail the same way.
                open.labels.write(&key, s.labels)?;
                Some(Done {
                    plane: key,
                    key: ((key.t as u64 * lc as u64) + key.c as u64) * lz as u64 + key.z as u64,
                    count,
                    rows,
                    row_count,
                })
            }
            Err(f) => {
                open.failures.push(f);
                None
            }
        };
        open.waiting.insert(index, done);
        open.advance()
    }

    fn stopped(&mut self) {
        if let Some(open) = &mut self.open {
            let _ = open.labels.flush();
            let _ = open.advance();
            let _ = open.record.flush();
        }
    }

    fn finish(mut self, summary: Summary) -> Result<Segmentations> {
        let table = self.table.take();
        let name = self.name.clone();
        let data = self.data.clone();
        let out = self.out.clone();
        let Some(mut open) = self.open.take() else {
            return Err(Error::Internal(
                "a LabelSink finished before it started".into(),
            ));
        };
        open.labels.flush()?;
        open.advance()?;
        open.record.flush()?;
        open.plot.finish();
        let complete = open.failures.is_empty() && open.planes.iter().all(|&p| p != NOT_DONE);
        let mut table_rows = 0;
        if complete {
            if let Some(path) = &table {
                let mut writer = TableWriter::create(path)?;
                open.record
                    .for_each_rows(|text, n| writer.add_text(text, n))?;
                table_rows = writer.finish()?;
            }
            open.labels.finish()?;
        }
        let [_, lc, lz, _, _] = data.shape();
        Ok(Segmentations {
            labels: format!(
                "{}/labels/{name}",
                crate::output::tidy_location(&redact(&out)).trim_end_matches('/')
            ),
            out,
            name,
            data,
            level_shape: [lc as u64, lz as u64],
            planes: open.planes,
            counts: open.counts,
            failures: open.failures,
            resumed: open.resumed,
            table: table.filter(|_| complete),
            table_rows,
            seconds: summary.elapsed.as_secs_f64(),
            complete,
        })
    }
}

/// The measurements of a result: its own, or measured now from its labels over its plane
/// (the tutorial's `analyze` keeps the plane but does not measure).
fn measurements(s: &Segmentation) -> Vec<RegionProps> {
    if !s.props.is_empty() || s.count == 0 {
        return s.props.clone();
    }
    match &s.image {
        Some(AnyArray::U8(p)) => regionprops(&s.labels, p),
        Some(AnyArray::U16(p)) => regionprops(&s.labels, p),
        Some(AnyArray::U32(p)) => regionprops(&s.labels, p),
        Some(AnyArray::I8(p)) => regionprops(&s.labels, p),
        Some(AnyArray::I16(p)) => regionprops(&s.labels, p),
        Some(AnyArray::I32(p)) => regionprops(&s.labels, p),
        Some(AnyArray::F32(p)) => regionprops(&s.labels, p),
        Some(AnyArray::F64(p)) => regionprops(&s.labels, p),
        None => Vec::new(),
    }
}

/// What a `compute` into a [`LabelSink`] leaves in memory: every task's plane and object count,
/// the failures, and where the labels and the table are. Shows as a table of planes and a plot
/// of objects per plane; [`Segmentations::get`] reads a plane's labels back from disk.
pub struct Segmentations {
    labels: String,
    out: String,
    name: String,
    data: Pixels,
    level_shape: [u64; 2],
    planes: Vec<u64>,
    counts: Vec<u32>,
    failures: Vec<TaskFailure>,
    resumed: u64,
    table: Option<PathBuf>,
    table_rows: u64,
    seconds: f64,
    complete: bool,
}

impl std::fmt::Debug for Segmentations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmentations")
            .field("labels", &self.labels)
            .field("planes", &self.len())
            .field("failed", &self.failures.len())
            .field("resumed", &self.resumed)
            .finish()
    }
}

impl Segmentations {
    /// What a finished segmentation job with a label image left (a `--slurm` run, a CLI run):
    /// every plane's object count from its output's progress record, the label image and the
    /// table, shown as the notebook's `compute` into a [`LabelSink`] shows them.
    pub fn of_job(
        job: &super::SegmentJob,
        report: &crate::batch::Report<super::SegmentOutcome>,
        options: &StoreOptions,
    ) -> Result<Self> {
        let Some(out) = &job.labels_out else {
            return Err(Error::InvalidArgument(
                "the job wrote no label image (labels_out): its planes' results are in its \
                 report and table"
                    .into(),
            ));
        };
        let data = OmeZarr::open(&job.source, options)?.level(job.level)?;
        let [lt, lc, lz, _, _] = data.shape();
        let level_planes = lt as u64 * lc as u64 * lz as u64;
        let target = crate::ngff::labels::LabelTarget::new(
            &OmeZarr::open(&job.source, options)?,
            job.level,
            out,
        )?;
        let store = super::sink::record_in_labels(&target, &job.labels_name)?;
        let record = Checkpoint::open(store, &job.fingerprint(), level_planes)?;
        let (planes, counts): (Vec<u64>, Vec<u32>) = record
            .done()
            .map(|(i, v)| (i, v.as_u64().unwrap_or(0).min(u32::MAX as u64) as u32))
            .unzip();
        let complete = report.outcome.failed == 0;
        Ok(Segmentations {
            labels: format!(
                "{}/labels/{}",
                crate::output::tidy_location(&crate::store::redact(out)),
                job.labels_name
            ),
            out: out.clone(),
            name: job.labels_name.clone(),
            data,
            level_shape: [lc as u64, lz as u64],
            planes,
            counts,
            failures: Vec::new(),
            resumed: report.outcome.resumed_planes,
            table: job.table_out.clone().filter(|_| complete),
            table_rows: report.outcome.table_rows,
            seconds: report.seconds,
            complete,
        })
    }

    /// Tasks done (this run's and an earlier one's).
    pub fn len(&self) -> usize {
        self.planes.iter().filter(|&&p| p != NOT_DONE).count()
    }
    /// Whether no task is done.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Objects over every plane done.
    pub fn total_objects(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
    /// Tasks an earlier, interrupted run had done (read from the record, not computed again).
    pub fn resumed(&self) -> u64 {
        self.resumed
    }
    /// Tasks that failed, by label (they are not recorded: a rerun tries them again).
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }
    /// Whether every task is done and the outputs are committed.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
    /// The label image (`.../labels/<name>`).
    pub fn labels_location(&self) -> &str {
        &self.labels
    }
    /// The measurements table and its row count, once complete.
    pub fn table(&self) -> Option<(&std::path::Path, u64)> {
        self.table.as_deref().map(|p| (p, self.table_rows))
    }
    /// Seconds this run took.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Where the outputs are and how complete they are, in a line.
    pub fn where_text(&self) -> String {
        let mut text = format!("labels in {}", self.labels);
        if let Some((path, rows)) = self.table() {
            text.push_str(&format!(
                "; measurements in {} ({rows} rows)",
                crate::output::tidy_path(path).display()
            ));
        }
        if self.resumed > 0 {
            text.push_str(&format!("; {} planes done by an earlier run", self.resumed));
        }
        if !self.failures.is_empty() {
            text.push_str(&format!(
                "; {} tasks failed (run again to retry them), the first: {}",
                self.failures.len(),
                self.failures[0]
            ));
        } else if !self.complete {
            text.push_str("; incomplete: run again to finish");
        }
        text
    }

    /// Every task done, in task order: its plane (t, c, z) and object count.
    pub fn counts(&self) -> impl Iterator<Item = ([usize; 3], usize)> + '_ {
        let [lc, lz] = self.level_shape;
        self.planes
            .iter()
            .zip(&self.counts)
            .filter(|(&p, _)| p != NOT_DONE)
            .map(move |(&p, &n)| {
                let (z, rest) = (p % lz.max(1), p / lz.max(1));
                (
                    [
                        (rest / lc.max(1)) as usize,
                        (rest % lc.max(1)) as usize,
                        z as usize,
                    ],
                    n as usize,
                )
            })
    }

    /// The segmentation of plane (t, c, z), its labels read back from the label image on disk
    /// and its plane from the image, for a picture.
    pub fn get(&self, t: usize, c: usize, z: usize) -> Result<Segmentation> {
        let Some(count) = self.counts().find(|(p, _)| *p == [t, c, z]).map(|(_, n)| n) else {
            return Err(Error::OutOfBounds(format!(
                "plane t:{t}, c:{c}, z:{z} is not among the {} planes computed",
                self.len()
            )));
        };
        // The label image's level 0 is the level it was computed at.
        let store = crate::store::Store::open(&self.out, &StoreOptions::default())?
            .child("labels")
            .child(&self.name);
        let labels: ndarray::Array2<i32> =
            OmeZarr::from_store(store)?.level(0)?.plane_as(t, c, z)?;
        let plane = self.data.plane(t, c, z)?;
        let mut s = Segmentation::new(labels, "").at(t, c, z).with_image(plane);
        s.count = count;
        Ok(s)
    }
}
