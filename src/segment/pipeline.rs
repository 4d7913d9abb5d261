//! The plane pipeline: read the planes of an image level concurrently (tens of chunk requests
//! in flight), segment them on a thread pool built for the run, stream label images to
//! OME-Zarr and measurements to a table, and keep memory bounded by the in-flight window
//! whatever the number of planes.
//!
//! A run is described by a [`SegmentTask`], plain data that serialises to JSON, so the same
//! task can run in a thread here or in a worker elsewhere.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rayon::iter::{ParallelBridge, ParallelIterator};
use serde::{Deserialize, Serialize};

use super::table::TableWriter;
use super::{segment_any_owned, Needs, SegmentParams};
use crate::compute::MAX_THREADS;
use crate::ndimage::LabelScratch;
use crate::ngff::writer::{ImageSpec, ImageWriter};
use crate::ngff::{DType, OmeZarr};
use crate::store::StoreOptions;
use crate::{Error, Result};

/// Default read-ahead memory of a run (planes read but not yet segmented).
const READ_AHEAD_BYTES: usize = 64 << 20;

/// What to segment and where results go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentTask {
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

impl SegmentTask {
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
}

impl SegmentTask {
    /// Check the task's values before anything is read or created.
    pub fn validate(&self) -> Result<()> {
        self.params.validate()?;
        if let Some(n) = self.threads {
            if !(1..=MAX_THREADS).contains(&n) {
                return Err(Error::InvalidArgument(format!(
                    "threads {n}: use 1 to {MAX_THREADS}"
                )));
            }
        }
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

/// The outcome of a run (what `omeflow segment --json` prints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    pub source: String,
    pub level: usize,
    /// Planes processed.
    pub plane_count: usize,
    /// Planes that failed (see each plane's `error`).
    pub failed: usize,
    /// Objects over all planes.
    pub total_objects: u64,
    /// Wall time of the run.
    pub seconds: f64,
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

/// Progress of a run, passed to the caller's callback after every plane.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub elapsed: Duration,
}

fn clip(r: &Option<Range<usize>>, n: usize, axis: &str) -> Result<Range<usize>> {
    match r {
        None => Ok(0..n),
        Some(r) if r.start <= r.end && r.end <= n => Ok(r.clone()),
        Some(r) => Err(Error::OutOfBounds(format!(
            "{axis} range {}..{} outside 0..{n}",
            r.start, r.end
        ))),
    }
}

/// Run a segmentation task; `progress` is called after each plane.
pub fn run_segment(
    task: &SegmentTask,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<SegmentReport> {
    let start = Instant::now();
    task.validate()?;
    let image = OmeZarr::open(&task.source, options)?;
    let px = image.level(task.level)?;
    let [nt, nc, nz, ny, nx] = px.shape();
    let (tr, cr, zr) = (
        clip(&task.t, nt, "t")?,
        clip(&task.c, nc, "c")?,
        clip(&task.z, nz, "z")?,
    );
    let total = tr.len() * cr.len() * zr.len();
    let threads = task
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    // Read-ahead keeps the network busy; for big planes it is also memory that is never
    // reused while it waits (each plane freshly allocated and faulted in), so the default
    // window holds at most READ_AHEAD_BYTES of planes, and always a few per thread.
    let plane_bytes = (ny * nx * px.dtype().size()).max(1);
    let by_memory = (READ_AHEAD_BYTES / plane_bytes).max(2 * threads + 1);
    let window = task
        .window
        .unwrap_or((4 * threads + options.concurrency).min(by_memory))
        .max(1);

    let labels = match &task.labels_out {
        Some(loc) => {
            let spec = ImageSpec::new([nt, nc, nz, ny, nx], DType::I32).with_chunks(1024, 1024);
            // A rerun replaces the label image an earlier run wrote (complete or interrupted);
            // anything omeflow did not write there is refused.
            Some(ImageWriter::replace_label_image(
                loc,
                spec,
                &task.labels_name,
                &crate::store::redact(&task.source),
            )?)
        }
        None => None,
    };
    let table = match &task.table_out {
        Some(p) => Some(Mutex::new(TableWriter::create(p)?)),
        None => None,
    };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("omeflow-segment-{i}"))
        .build()
        .map_err(|e| {
            Error::InvalidArgument(format!("building a pool of {threads} threads: {e}"))
        })?;

    // Reader: planes arrive in completion order, at most `window` ahead of the CPU.
    let (plane_tx, plane_rx) = tokio::sync::mpsc::channel(window);
    let reader_px = px.clone();
    let coords = itertools_product(tr, cr, zr);
    let reader = px.runtime().spawn(async move {
        let mut planes = futures::stream::iter(coords)
            .map(|(t, c, z)| {
                let px = reader_px.clone();
                async move { ((t, c, z), px.plane_async(t, c, z).await) }
            })
            .buffer_unordered(window);
        while let Some(item) = planes.next().await {
            if plane_tx.send(item).await.is_err() {
                break; // the consumers stopped
            }
        }
    });

    let (done_tx, done_rx) = mpsc::channel::<PlaneSummary>();
    let params = task.params;
    let needs = Needs {
        labels: labels.is_some(),
        props: table.is_some(),
    };
    // Labelling scratch (a plane of u32 and the union-find forest) is reused from plane to
    // plane: allocating it afresh costs a page fault per 4 KiB every plane, as the allocator
    // hands big blocks back to the OS on free. At most one per pool thread exists; it is
    // dropped with the run, so a notebook keeps nothing once the run is over.
    let scratches: Mutex<Vec<LabelScratch>> = Mutex::new(Vec::new());
    let fatal: Mutex<Option<Error>> = Mutex::new(None);
    let mut planes = Vec::with_capacity(total.min(1 << 20));
    std::thread::scope(|scope| {
        let labels = &labels;
        let table = &table;
        let fatal = &fatal;
        let pool = &pool;
        let scratches = &scratches;
        scope.spawn(move || {
            let mut rx = plane_rx;
            let incoming = std::iter::from_fn(move || rx.blocking_recv());
            pool.install(|| {
                incoming
                    .par_bridge()
                    .for_each_with(done_tx, |done, ((t, c, z), plane)| {
                        let summary = match plane.and_then(|plane| {
                            let mut scratch = scratches
                                .lock()
                                .ok()
                                .and_then(|mut s| s.pop())
                                .unwrap_or_default();
                            let seg =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    segment_any_owned(plane, &params, needs, &mut scratch)
                                        .at(t, c, z)
                                }))
                                .map_err(|p| {
                                    Error::InvalidArgument(format!(
                                        "segmenting panicked: {}",
                                        crate::runtime::panic_message(p)
                                    ))
                                })?;
                            // A scratch whose use panicked is dropped with it, not reused.
                            if let Ok(mut s) = scratches.lock() {
                                s.push(scratch);
                            }
                            if let Some(w) = labels {
                                w.write_plane(t, c, z, &seg.labels)?;
                            }
                            if let Some(tw) = table {
                                match tw.lock() {
                                    Ok(mut tw) => tw.add(&seg)?,
                                    Err(_) => {
                                        return Err(Error::InvalidArgument(
                                            "table writer poisoned".into(),
                                        ))
                                    }
                                }
                            }
                            Ok(seg.count)
                        }) {
                            Ok(objects) => PlaneSummary {
                                t,
                                c,
                                z,
                                objects,
                                error: None,
                            },
                            Err(e) => {
                                // Output failures stop the run; a plane that cannot be read or
                                // segmented is reported and the others go on.
                                if matches!(e, Error::Write { .. } | Error::Io { .. }) {
                                    if let Ok(mut f) = fatal.lock() {
                                        f.get_or_insert(e);
                                    }
                                    return;
                                }
                                PlaneSummary {
                                    t,
                                    c,
                                    z,
                                    objects: 0,
                                    error: Some(e.to_string()),
                                }
                            }
                        };
                        let _ = done.send(summary);
                    });
            });
        });
        for summary in done_rx.iter() {
            planes.push(summary);
            progress(Progress {
                done: planes.len(),
                total,
                elapsed: start.elapsed(),
            });
            if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                break;
            }
        }
    });
    if let Some(e) = fatal.into_inner().ok().flatten() {
        reader.abort();
        return Err(e);
    }
    // Every plane sent was received, so the reader has finished or is about to; a reader that
    // panicked or stopped early leaves planes missing, and the run must not look complete.
    let reader_end = futures::executor::block_on(reader);
    if planes.len() != total {
        let why = match reader_end {
            Err(e) if e.is_panic() => format!(
                "reading planes panicked: {}",
                crate::runtime::panic_message(e.into_panic())
            ),
            Err(_) => "reading planes was cancelled".to_string(),
            Ok(()) => "some planes were never delivered".to_string(),
        };
        return Err(Error::Incomplete(format!(
            "{} of {total} planes of {} were segmented: {why}",
            planes.len(),
            crate::store::redact(&task.source)
        )));
    }
    planes.sort_by_key(|p| (p.t, p.c, p.z));
    // Outputs become visible only when every plane asked for was segmented and stored; a run
    // with failed planes leaves them marked incomplete (labels) or as `<table>.incomplete`.
    let all_ok = planes.iter().all(|p| p.error.is_none());
    let table = table
        .map(|t| t.into_inner())
        .transpose()
        .map_err(|_| Error::InvalidArgument("table writer poisoned".into()))?;
    let table_rows = match table {
        Some(t) if all_ok => t.finish()?,
        Some(t) => t.rows(),
        None => 0,
    };
    if let Some(w) = &labels {
        if all_ok {
            w.finish()?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(SegmentReport {
        source: crate::store::redact(&task.source),
        level: task.level,
        plane_count: planes.len(),
        failed: planes.iter().filter(|p| p.error.is_some()).count(),
        total_objects: planes.iter().map(|p| p.objects as u64).sum(),
        seconds,
        planes_per_second: planes.len() as f64 / seconds.max(1e-9),
        planes,
        labels_out: task.labels_out.as_deref().map(crate::store::redact),
        table_out: task.table_out.clone(),
        table_rows,
    })
}

/// (t, c, z) in raster order, lazily.
fn itertools_product(
    t: Range<usize>,
    c: Range<usize>,
    z: Range<usize>,
) -> impl Iterator<Item = (usize, usize, usize)> + Send + 'static {
    t.flat_map(move |t| {
        let z = z.clone();
        c.clone()
            .flat_map(move |c| z.clone().map(move |z| (t, c, z)))
    })
}
