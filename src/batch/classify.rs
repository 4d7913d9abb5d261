//! `omeflow classify`: an ilastik project run on an OME-Zarr image level as a serialisable
//! job, time point by time point (the next one read while this one is classified), with the
//! probabilities streamed to an OME-Zarr image and PNGs.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use ndarray::s;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::runner::{Flow, Runner, Spread};
use super::share::ShareDone;
use super::{Progress, Report};
use crate::classify::{
    checked_len, predict_volume, timepoint_f32, ClassifyInput, FeatureBank, Project,
};
use crate::ngff::writer::{ImageSpec, ImageWriter};
use crate::ngff::{Channel, DType, OmeZarr, Window};
use crate::runtime::check_threads;
use crate::store::{redact, StoreOptions};
use crate::{Error, Result};

/// A classification run, serialisable so it can run anywhere (a thread, a worker).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifyJob {
    /// The OME-Zarr image (path or URL).
    pub source: String,
    /// Resolution level.
    pub level: usize,
    /// The ilastik project.
    pub project: PathBuf,
    /// Write the probabilities here as an OME-Zarr image (float32, one channel per class).
    pub out: Option<String>,
    /// Write PNGs of every class at plane `png_z` of every time point into this folder.
    pub png_dir: Option<PathBuf>,
    /// The plane of the PNGs (default 0, as the tutorial).
    pub png_z: usize,
    /// Worker threads (default: all cores; 1 on an omeflow worker).
    pub threads: Option<usize>,
    /// Start the output again rather than resume it (deletes only what omeflow wrote).
    #[serde(default)]
    pub overwrite: bool,
}

impl ClassifyJob {
    /// Classify `source` at `level` with `project`, nothing written.
    pub fn new(source: impl Into<String>, level: usize, project: impl Into<PathBuf>) -> Self {
        ClassifyJob {
            source: source.into(),
            level,
            project: project.into(),
            out: None,
            png_dir: None,
            png_z: 0,
            threads: None,
            overwrite: false,
        }
    }

    /// What a rerun must match to go on with this job's output (the project by path, size and
    /// modification time: a project trained again is another job).
    fn fingerprint(&self) -> serde_json::Value {
        let meta = std::fs::metadata(&self.project).ok();
        let modified = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string());
        serde_json::json!({
            "omeflow-record": 1,
            "job": "classify",
            "source": crate::output::tidy_location(&redact(&self.source)),
            "level": self.level,
            "project": crate::output::tidy_path(&self.project).display().to_string(),
            "project_bytes": meta.map(|m| m.len()),
            "project_modified": modified,
            "png": self.png_dir.as_ref().map(|d| crate::output::tidy_path(d).display().to_string()),
            "png_z": self.png_z,
        })
    }
}

/// What a classification job measured (the fields `omeflow classify --json` prints beside
/// the report's source, level and seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifyOutcome {
    /// The project file.
    pub project: String,
    /// Shape classified, (t, z, y, x).
    pub shape: [usize; 4],
    /// Input channels.
    pub channels: usize,
    /// Class names, in probability channel order.
    pub classes: Vec<String>,
    /// Feature channels per pixel.
    pub features: usize,
    /// Trees in the classifier.
    pub trees: usize,
    /// Pixels (t * z * y * x) per second.
    pub voxels_per_second: f64,
    /// Mean probability of each class over the image.
    pub mean_probability: Vec<f64>,
    /// Where the probabilities were written.
    pub out: Option<String>,
    /// PNGs written.
    pub pngs: Vec<String>,
    /// Time points an earlier, interrupted run of the same job had done (from the output's
    /// progress record).
    #[serde(default)]
    pub resumed_time_points: usize,
}

/// Runs `job`: per time point, read (c, z, y, x), compute features and probabilities, write;
/// `progress` is called after each time point.
///
/// Every option, and the project against the image (channels, dimensionality, the largest
/// filter against the smallest axis), is checked before any output is created: a refused run
/// leaves nothing behind.
pub fn run(
    job: &ClassifyJob,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report<ClassifyOutcome>> {
    match run_with(job, options, progress, None)? {
        Ran::Whole(r) => Ok(*r),
        Ran::Share(_) => Err(Error::Internal("a whole run ended as a share".into())),
    }
}

enum Ran {
    Whole(Box<Report<ClassifyOutcome>>),
    Share(ShareDone),
}

/// Plan the shares of `job` (ranges of time points still to do) for `shares` workers at most,
/// creating or resuming its output as a local run does. Returns the shares and the time
/// points still to do.
pub(crate) fn plan(
    job: &ClassifyJob,
    options: &StoreOptions,
    shares: usize,
    at_least: usize,
) -> Result<(Vec<Range<u64>>, u64)> {
    let Some(out) = &job.out else {
        return Err(Error::InvalidArgument(
            "a classification run by workers needs --out, the image they record their time \
             points in"
                .into(),
        ));
    };
    run_with(job, options, &mut |_| {}, Some(0..0))?;
    let image = OmeZarr::open(&job.source, options)?;
    let nt = image.level(job.level)?.shape5()[0];
    let record = Checkpoint::open(open_record(out)?, &job.fingerprint(), nt as u64)?;
    let done = record.done_bits();
    let todo: Vec<u64> = (0..nt as u64)
        .filter(|&t| done[(t / 64) as usize] & (1 << (t % 64)) == 0)
        .collect();
    let n = todo.len() as u64;
    Ok((
        super::share::pack(todo.into_iter().map(|t| t..t + 1), n, shares, at_least),
        n,
    ))
}

/// One bit per time point the job's output does not hold yet.
pub(crate) fn remaining(job: &ClassifyJob, options: &StoreOptions) -> Result<Vec<u64>> {
    let nt = nt_of(job, options)?;
    let record = Checkpoint::open(record_of(job)?, &job.fingerprint(), nt as u64)?;
    let done = record.done_bits();
    Ok((0..nt.div_ceil(64))
        .map(|w| {
            let all = if (w + 1) * 64 <= nt {
                u64::MAX
            } else {
                (1u64 << (nt % 64)) - 1
            };
            !done.get(w).copied().unwrap_or(0) & all
        })
        .collect())
}

/// The local folder of `job`'s progress record.
pub(crate) fn record_dir(job: &ClassifyJob) -> Result<PathBuf> {
    let store = record_of(job)?;
    store
        .local_root()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{} is not on a file system: workers on other machines share a job through a \
             folder they all see; write the probabilities to one",
                store.location()
            ))
        })
}

fn record_of(job: &ClassifyJob) -> Result<crate::store::Store> {
    match &job.out {
        Some(out) => open_record(out),
        None => Err(Error::InvalidArgument(
            "a classification run by workers needs --out, the image they record their time \
             points in"
                .into(),
        )),
    }
}

/// Classify the time points of `share` (time point indices) and record them in the job's
/// output, leaving the output for the job's last run to commit.
pub(crate) fn run_share(
    job: &ClassifyJob,
    options: &StoreOptions,
    share: Range<u64>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ShareDone> {
    match run_with(job, options, progress, Some(share))? {
        Ran::Share(d) => Ok(d),
        Ran::Whole(_) => Err(Error::Internal("a share ended as a whole run".into())),
    }
}

fn run_with(
    job: &ClassifyJob,
    options: &StoreOptions,
    progress: &mut dyn FnMut(Progress),
    share: Option<Range<u64>>,
) -> Result<Ran> {
    check_threads(job.threads)?;
    if share.is_some() && job.out.is_none() {
        return Err(Error::InvalidArgument(
            "a share of a classification needs --out to record its time points in".into(),
        ));
    }
    if let Some(s) = &share {
        if s.start > s.end || s.end > nt_of(job, options)? as u64 {
            return Err(Error::OutOfBounds(format!(
                "share of time points {}..{} outside the image",
                s.start, s.end
            )));
        }
    }
    if job.png_dir.is_none() && job.png_z != 0 {
        return Err(Error::InvalidArgument(format!(
            "--png-z {} without --png: no PNG would be written; give a folder with --png",
            job.png_z
        )));
    }
    let project = Project::open(&job.project)?;
    let classifier = project.classifier()?;
    let image = OmeZarr::open(&job.source, options)?;
    let pixels = image.level(job.level)?;
    let [nt, nc, nz, ny, nx] = pixels.shape5();
    if job.png_dir.is_some() && job.png_z >= nz {
        return Err(Error::OutOfBounds(format!(
            "--png-z {} of an image with {nz} planes (0..{nz})",
            job.png_z
        )));
    }
    let bank = FeatureBank::new(&project.features, nc, nz > 1)?;
    if bank.n_features() != classifier.n_features() {
        return Err(Error::Classify(format!(
            "{} gives {} features ({nc} channels, {}); the project's classifier expects {}",
            crate::store::redact(&job.source),
            bank.n_features(),
            if nz > 1 { "3-D" } else { "2-D" },
            classifier.n_features()
        )));
    }
    bank.check_fits([nz, ny, nx])?;
    if let Some(dir) = job.png_dir.as_ref().filter(|d| d.exists() && !d.is_dir()) {
        return Err(Error::InvalidArgument(format!(
            "--png {}: a file is there, not a folder",
            dir.display()
        )));
    }
    let ncls = classifier.n_classes();
    checked_len(&[nt, ncls, nz, ny, nx], "the probabilities")?;
    let classes: Vec<String> = (0..ncls)
        .map(|k| {
            project
                .labels
                .get(k)
                .map_or_else(|| format!("Label {}", k + 1), |l| l.name.clone())
        })
        .collect();
    if let (Some(out), false) = (&job.out, job.overwrite) {
        // Before the output is touched (or a folder made): a refused rerun changes nothing.
        let local_and_new = !out.contains("://") && !std::path::Path::new(out).exists();
        if !local_and_new {
            Checkpoint::check(&open_record(out)?, &job.fingerprint())?;
        }
    }
    let writer = match &job.out {
        Some(out) => {
            let sc = pixels.scale();
            let channels = (0..ncls)
                .map(|k| Channel {
                    name: Some(classes[k].clone()),
                    color: project
                        .labels
                        .get(k)
                        .map(|l| format!("{:02X}{:02X}{:02X}", l.color[0], l.color[1], l.color[2])),
                    window: Some(Window {
                        start: 0.0,
                        end: 1.0,
                        min: Some(0.0),
                        max: Some(1.0),
                    }),
                    active: Some(true),
                })
                .collect();
            let spec = ImageSpec::new([nt, ncls, nz, ny, nx], DType::F32)
                .with_scale([sc[0], 1.0, sc[2], sc[3], sc[4]], None, None)
                .with_name(format!(
                    "ilastik probabilities of {}",
                    crate::store::redact(&job.source)
                ))
                .with_channels(channels);
            Some(match &share {
                // Workers write their time points beside each other into the planned output.
                Some(s) if !s.is_empty() => ImageWriter::attach_at(out, spec)?,
                _ if job.overwrite => ImageWriter::replace(out, spec)?,
                _ => ImageWriter::resume(out, spec)?,
            })
        }
        None => None,
    };
    // The progress record, in the output image: the time points done, with their sums and PNGs.
    let record = match (&job.out, &writer) {
        (Some(out), Some(w)) => {
            let store = open_record(out)?;
            if job.overwrite {
                super::checkpoint::delete(&store)?;
            }
            let cp = Checkpoint::open(store, &job.fingerprint(), nt as u64)?;
            let done = cp.done_bits();
            let mut planes = vec![0u64; (nt * ncls * nz).div_ceil(64)];
            for t in (0..nt).filter(|&t| done[t / 64] & (1 << (t % 64)) != 0) {
                for i in (t * ncls * nz)..((t + 1) * ncls * nz) {
                    planes[i / 64] |= 1 << (i % 64);
                }
            }
            w.mark_written(&planes)?;
            Some(cp)
        }
        _ => None,
    };
    let mut todo: Vec<usize> = match &record {
        Some(cp) => {
            let done = cp.done_bits();
            (0..nt)
                .filter(|&t| done[t / 64] & (1 << (t % 64)) == 0)
                .collect()
        }
        None => (0..nt).collect(),
    };
    let resumed = nt - todo.len();
    let share_resumed = match &share {
        Some(s) => {
            let in_share = |t: &usize| s.contains(&(*t as u64));
            let before = (s.end - s.start) as usize;
            todo.retain(in_share);
            before - todo.len()
        }
        None => 0,
    };
    let mut record = record;
    if let Some(dir) = &job.png_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    let mut runner = Runner::new(
        "classify",
        job.threads,
        1,
        Spread::Inside,
        todo.len(),
        progress,
    )?;
    let start = Instant::now();
    let mut sums = vec![0f64; ncls];
    let mut pngs = Vec::new();
    let read_px = pixels.clone();
    let reads = futures::stream::iter(todo)
        .map(move |t| {
            let px = read_px.clone();
            async move { (TimePoint(t), timepoint_f32(&px, t).await) }
        })
        .buffered(1);
    runner.run(
        pixels.runtime(),
        "time points",
        reads,
        |pool, &TimePoint(t), vol| {
            let probs = predict_volume(&vol, &bank, classifier, pool, 1 << 19)?;
            let sums: Vec<f64> = (0..ncls)
                .map(|k| {
                    probs
                        .slice(s![.., .., .., k])
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>()
                })
                .collect();
            if let Some(w) = &writer {
                for k in 0..ncls {
                    for z in 0..nz {
                        w.write_plane(t, k, z, &probs.slice(s![z, .., .., k]))?;
                    }
                }
            }
            let mut pngs = Vec::new();
            if let Some(dir) = &job.png_dir {
                for k in 0..ncls {
                    let path = dir.join(format!("t{t}_z{}_class{}.png", job.png_z, k + 1));
                    let plane = probs.slice(s![job.png_z, .., .., k]).to_owned();
                    crate::display::save_probability_png(&plane, &path)?;
                    pngs.push(crate::output::tidy_path(&path).display().to_string());
                }
            }
            Ok((sums, pngs))
        },
        |TimePoint(t), out| match out {
            Ok((s, p)) => {
                if let Some(cp) = &mut record {
                    let item = serde_json::json!({"sums": s, "pngs": p});
                    if let Err(e) = cp.add(t as u64, item, &[], 0) {
                        return Flow::Stop(e);
                    }
                    if super::interrupted() {
                        return Flow::Stop(match cp.flush() {
                            Ok(()) => Error::Interrupted(format!(
                                "{} of {nt} time points are done and recorded in {}; run the \
                                 same command again to go on from there",
                                resumed as u64 + cp.recorded(),
                                crate::output::tidy_location(&redact(
                                    job.out.as_deref().unwrap_or("")
                                ))
                            )),
                            Err(e) => e,
                        });
                    }
                } else {
                    sums.iter_mut().zip(s).for_each(|(sum, s)| *sum += s);
                    pngs.extend(p);
                }
                Flow::Go
            }
            // Time points are few and large: the first that fails ends the run.
            Err(e) => Flow::Stop(e),
        },
    )?;
    if let (Some(_), Some(cp)) = (&share, &mut record) {
        // The job's last run sums every time point and commits the image.
        cp.flush()?;
        let recorded = cp.recorded();
        return Ok(Ran::Share(ShareDone {
            recorded,
            resumed: share_resumed as u64,
            seconds: start.elapsed().as_secs_f64(),
        }));
    }
    if let Some(cp) = &mut record {
        cp.flush()?;
        for (_, item) in cp.done() {
            let s = item["sums"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            sums.iter_mut()
                .zip(s)
                .for_each(|(sum, s)| *sum += s.as_f64().unwrap_or(0.0));
            if let Some(p) = item["pngs"].as_array() {
                pngs.extend(p.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
        }
    }
    if let Some(w) = &writer {
        w.finish()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let voxels = [nt, nz, ny, nx].iter().map(|&d| d as f64).product::<f64>();
    Ok(Ran::Whole(Box::new(Report {
        source: redact(&job.source),
        level: job.level,
        seconds,
        outcome: ClassifyOutcome {
            project: crate::output::tidy_path(&job.project).display().to_string(),
            shape: [nt, nz, ny, nx],
            channels: nc,
            classes,
            features: bank.n_features(),
            trees: classifier.tree_count(),
            voxels_per_second: voxels / seconds.max(1e-9),
            mean_probability: sums.iter().map(|s| s / voxels.max(1.0)).collect(),
            out: job.out.as_deref().map(crate::store::redact),
            pngs,
            resumed_time_points: resumed,
        },
    })))
}

/// The time points of the job's level.
fn nt_of(job: &ClassifyJob, options: &StoreOptions) -> Result<usize> {
    Ok(OmeZarr::open(&job.source, options)?
        .level(job.level)?
        .shape5()[0])
}

/// A time point, as the runner names it in errors.
/// The progress record inside the probabilities image at `out`.
fn open_record(out: &str) -> Result<crate::store::Store> {
    let store = if out.contains("://") {
        crate::store::Store::open(out, &StoreOptions::default())?
    } else {
        crate::store::Store::create_local(std::path::Path::new(out))?
    };
    Ok(store.child(crate::ngff::RUN_DIR))
}

struct TimePoint(usize);

impl std::fmt::Display for TimePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "time point {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngff::writer::ImageSpec;

    /// Runs `edit`ed tasks on a small 3-D image (2 channels, 5 planes of 16 x 16) and returns
    /// each error, after checking that neither the output image nor the PNG folder exists.
    fn refused(edit: impl Fn(&mut ClassifyJob)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.ome.zarr");
        let src = src.to_str().unwrap();
        let w = ImageWriter::create(src, ImageSpec::new([1, 2, 5, 16, 16], DType::U16)).unwrap();
        for c in 0..2 {
            for z in 0..5 {
                w.write_plane(0, c, z, &ndarray::Array2::<u16>::zeros((16, 16)))
                    .unwrap();
            }
        }
        let out = dir.path().join("out.ome.zarr");
        let png = dir.path().join("png");
        let mut task = ClassifyJob {
            out: Some(out.to_str().unwrap().to_string()),
            png_dir: Some(png.clone()),
            ..ClassifyJob::new(src, 0, crate::classify::sample_project().unwrap())
        };
        edit(&mut task);
        let e = run(&task, &StoreOptions::default(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(!out.exists(), "{e}: the output was created");
        assert!(!png.exists(), "{e}: the PNG folder was created");
        e
    }

    #[test]
    fn options_are_checked_before_anything_is_created() {
        let e = refused(|t| t.png_z = 99);
        assert!(e.contains("--png-z 99 of an image with 5 planes"), "{e}");
        for n in [0, 100_000] {
            let e = refused(|t| t.threads = Some(n));
            assert!(e.contains("threads must be between 1 and 1024"), "{e}");
        }
        let e = refused(|t| {
            t.png_dir = None;
            t.png_z = 3;
        });
        assert!(e.contains("without --png"), "{e}");
        let e = refused(|t| t.level = 7);
        assert!(e.contains("level 7"), "{e}");
    }

    #[test]
    fn an_image_smaller_than_the_largest_filter_is_refused_before_writing() {
        // The sample project's scale 3.5 filters with a kernel of radius 12: 5 planes cannot
        // hold it.
        let e = refused(|t| t.threads = Some(1));
        assert!(e.contains("too small") && e.contains("radius of 12"), "{e}");
    }
}
