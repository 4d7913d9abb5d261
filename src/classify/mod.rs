//! ilastik pixel classification without ilastik: open a trained project (`.ilp`), compute its
//! feature bank as vigra does, and predict with its random forests, exactly as ilastik would.
//!
//! ```no_run
//! use omeflow::prelude::*;
//! # fn main() -> omeflow::Result<()> {
//! let project = Project::open("../shared/data/ilastik/pixel-class-133.ilp")?;
//! let image = open_image("/tmp/blastocyst.ome.zarr")?;
//! let probabilities = classify(&image.level(0)?, &project)?;   // (t, z, y, x, class), float32
//! let membrane = probabilities.class_plane(1, 0, 0)?;          // class 2 at t 0, z 0
//! probabilities.save_png("/tmp/class2.png", 1, 0, 0)?;
//! # Ok(()) }
//! ```
//!
//! Work runs on a thread pool built and dropped inside the call (never rayon's global pool, so
//! notebook cells can call it again and again), over blocks with halos so memory stays bounded
//! by the block size times the threads. A panic in a block becomes an error.

mod features;
mod forest;
#[cfg(test)]
mod hostile_tests;
mod project;
mod save;
mod train;

use std::ops::Range;

use ndarray::{s, Array2, Array3, Array4, Array5, ArrayView5};
use rayon::prelude::*;

pub use features::{FeatureBank, FeatureId, FeatureSelection};
pub use forest::{Classifier, Forest, Tree};
pub use project::{LabelBlock, LabelClass, Project};
pub use train::{training_samples, TrainOptions};

use crate::ndimage::vigra::Block;
use crate::ngff::{Element, Pixels, Region};
use crate::{Error, Result};

/// Per-pixel class probabilities, float32, shaped (t, z, y, x, class) as ilastik returns them:
/// channel k is the probability of label class k + 1.
#[derive(Clone, Debug)]
pub struct Probabilities {
    /// The probabilities, (t, z, y, x, class).
    pub data: Array5<f32>,
    /// The classes (names and colours), in channel order.
    pub labels: Vec<LabelClass>,
}

impl Probabilities {
    /// Shape (t, z, y, x, class).
    pub fn shape(&self) -> [usize; 5] {
        let d = self.data.dim();
        [d.0, d.1, d.2, d.3, d.4]
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.data.dim().4
    }

    /// The (y, x) probability map of class index `class` (0-based) at time `t`, plane `z`.
    pub fn class_plane(&self, class: usize, t: usize, z: usize) -> Result<Array2<f32>> {
        let [nt, nz, _, _, nc] = self.shape();
        if class >= nc || t >= nt || z >= nz {
            return Err(Error::OutOfBounds(format!(
                "class {class}, t {t}, z {z} of probabilities with {nc} classes, {nt} time points, {nz} planes"
            )));
        }
        Ok(self.data.slice(s![t, z, .., .., class]).to_owned())
    }
}

impl std::fmt::Display for Probabilities {
    /// Shape and the mean probability of each class.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [t, z, y, x, c] = self.shape();
        write!(
            f,
            "probabilities (t {t}, z {z}, y {y}, x {x}) x {c} classes"
        )?;
        for k in 0..c {
            let plane = self.data.slice(s![.., .., .., .., k]);
            let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / plane.len().max(1) as f64;
            let name = self.labels.get(k).map_or("?", |l| l.name.as_str());
            write!(f, "\n  class {} ({name}): mean {mean:.3}", k + 1)?;
        }
        Ok(())
    }
}

/// What can be classified: pixels with axes (t, c, z, y, x), read one time point at a time.
pub trait ClassifyInput {
    /// Shape (t, c, z, y, x).
    fn shape5(&self) -> [usize; 5];
    /// Time point `t` as float32 (c, z, y, x).
    fn timepoint(&self, t: usize) -> Result<Array4<f32>>;
}

impl ClassifyInput for Pixels {
    fn shape5(&self) -> [usize; 5] {
        self.shape()
    }
    fn timepoint(&self, t: usize) -> Result<Array4<f32>> {
        let sh = self.shape();
        let region = Region([t..t + 1, 0..sh[1], 0..sh[2], 0..sh[3], 0..sh[4]]);
        match self.region_f32(&region) {
            Ok(a) => Ok(a.index_axis_move(ndarray::Axis(0), 0)),
            // Over the reader's budget: the features need the whole time point anyway, so read
            // it plane by plane rather than refuse.
            Err(Error::MemoryBudget { .. }) => {
                let mut out = Array4::<f32>::zeros((sh[1], sh[2], sh[3], sh[4]));
                for c in 0..sh[1] {
                    for z in 0..sh[2] {
                        out.slice_mut(s![c, z, .., ..])
                            .assign(&self.plane_f32(t, c, z)?);
                    }
                }
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }
}

impl<T: Element> ClassifyInput for ArrayView5<'_, T> {
    fn shape5(&self) -> [usize; 5] {
        let d = self.dim();
        [d.0, d.1, d.2, d.3, d.4]
    }
    fn timepoint(&self, t: usize) -> Result<Array4<f32>> {
        if t >= self.dim().0 {
            return Err(Error::OutOfBounds(format!("time point {t}")));
        }
        Ok(self
            .index_axis(ndarray::Axis(0), t)
            .mapv(|v| v.to_f64() as f32))
    }
}

impl<T: Element> ClassifyInput for Array5<T> {
    fn shape5(&self) -> [usize; 5] {
        self.view().shape5()
    }
    fn timepoint(&self, t: usize) -> Result<Array4<f32>> {
        self.view().timepoint(t)
    }
}

/// How [`classify_with`] runs.
#[derive(Clone, Debug)]
pub struct ClassifyOptions {
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Target voxels per block; each worker holds `n_features` floats per block voxel.
    pub block_voxels: usize,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            threads: None,
            block_voxels: 1 << 19,
        }
    }
}

/// Classify every pixel of `input` (t, c, z, y, x) with the project's trained forests:
/// ilastik's headless prediction. Returns float32 (t, z, y, x, class).
pub fn classify<I: ClassifyInput + ?Sized>(input: &I, project: &Project) -> Result<Probabilities> {
    classify_with(input, project, &ClassifyOptions::default())
}

/// [`classify`] with options (threads, block size).
pub fn classify_with<I: ClassifyInput + ?Sized>(
    input: &I,
    project: &Project,
    options: &ClassifyOptions,
) -> Result<Probabilities> {
    let classifier = project.classifier.as_ref().ok_or_else(|| Error::Project {
        path: project.path.display().to_string(),
        reason: project
            .classifier_note
            .clone()
            .unwrap_or_else(|| "no classifier".into()),
    })?;
    let [nt, nc, nz, ny, nx] = input.shape5();
    let bank = FeatureBank::new(&project.features, nc, nz > 1)?;
    if bank.n_features() != classifier.n_features() {
        return Err(Error::Classify(format!(
            "the image gives {} features ({nc} channels, {}), the project's classifier expects {}: \
             it was trained on {} data with {:?} channels",
            bank.n_features(),
            if nz > 1 { "3-D" } else { "2-D" },
            classifier.n_features(),
            match project.training_shape {
                Some(s) if s[1] > 1 => "3-D",
                Some(_) => "2-D",
                None => "other",
            },
            project.training_shape.map(|s| s[4]),
        )));
    }
    bank.check_fits([nz, ny, nx])?;
    let pool = pool(options.threads)?;
    let ncls = classifier.n_classes();
    checked_len(&[nt, nz, ny, nx, ncls], "the probabilities")?;
    let mut out = Array5::<f32>::zeros((nt, nz, ny, nx, ncls));
    for t in 0..nt {
        let vol = input.timepoint(t)?;
        let probs = predict_volume(&vol, &bank, classifier, &pool, options.block_voxels)?;
        out.slice_mut(s![t, .., .., .., ..]).assign(&probs);
    }
    let mut labels = project.labels.clone();
    labels.truncate(classifier.n_classes());
    Ok(Probabilities { data: out, labels })
}

pub use crate::compute::MAX_THREADS;

/// Checks a thread count given by a caller: `None` (all cores) or 1 to [`MAX_THREADS`].
pub(crate) fn check_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(n) if n == 0 || n > MAX_THREADS => Err(Error::InvalidArgument(format!(
            "threads must be between 1 and {MAX_THREADS}, got {n}; leave it unset to use all cores"
        ))),
        _ => Ok(()),
    }
}

/// The element count of an array of `shape`, or an error naming `what` when it overflows,
/// so a shape never reaches ndarray's allocation (which panics on overflow).
pub(crate) fn checked_len(shape: &[usize], what: &str) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("{what} of shape {shape:?} would not fit in memory"))
        })
}

/// A pool owned by the call, so nothing outlives it (evcxr re-creates statics per cell).
pub(crate) fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    check_threads(threads)?;
    let n = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, MAX_THREADS);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("omeflow-classify-{i}"))
        .build()
        .map_err(|e| Error::Classify(format!("cannot start {n} threads: {e}")))
}

/// Split `n` into `parts` nearly equal ranges.
fn split(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|i| (i * n / parts)..((i + 1) * n / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// A unit of work: planes `z` of the (y, x) tile, processed as a stream of slabs of `slab` planes.
#[derive(Clone, Debug)]
struct Unit {
    z: Range<usize>,
    tile: [Range<usize>; 2],
    slab: usize,
}

/// Units for `threads` workers: whole planes while they are small, (y, x) tiles otherwise, and
/// each tile's z split so every worker has a contiguous run of planes (the pre-smoothed planes
/// of one slab's halo are reused by the next).
fn units(shape: [usize; 3], target: usize, threads: usize) -> Vec<Unit> {
    let [nz, ny, nx] = shape;
    let plane = (ny * nx).max(1);
    let min_slab = nz.clamp(1, 8);
    let tiles = (plane * min_slab).div_ceil(target.max(1)).max(1);
    let ty = (tiles as f64).sqrt().ceil() as usize;
    let tx = tiles.div_ceil(ty);
    let tiles: Vec<[Range<usize>; 2]> = split(ny, ty)
        .into_iter()
        .flat_map(|y| split(nx, tx).into_iter().map(move |x| [y.clone(), x]))
        .collect();
    // Two runs per thread: a worker slowed by other load leaves its second run to the others
    // (each run re-smooths only its halo planes).
    let per_tile = (2 * threads).div_ceil(tiles.len()).max(1);
    let mut v = Vec::new();
    for tile in tiles {
        let area = (tile[0].len() * tile[1].len()).max(1);
        let slab = (target / area).clamp(1, nz.max(1));
        for z in split(nz, per_tile) {
            v.push(Unit {
                z,
                tile: tile.clone(),
                slab,
            });
        }
    }
    v
}

/// Per slab: its box (z, y, x) and what was computed for it.
type SlabResults<T> = Vec<([Range<usize>; 3], T)>;

/// Runs `each` on every slab of every unit, on `pool`, with the slab's features; panics become
/// errors naming the slab.
pub(crate) fn for_each_slab<T: Send>(
    vol: &Array4<f32>,
    bank: &FeatureBank,
    pool: &rayon::ThreadPool,
    block_voxels: usize,
    each: impl Fn(&[Range<usize>; 3], Vec<Vec<f32>>) -> Result<T> + Sync,
) -> Result<SlabResults<T>> {
    let (nc, nz, ny, nx) = vol.dim();
    bank.check_fits([nz, ny, nx])?;
    let channels: Vec<Block> = (0..nc)
        .map(|c| Block::whole(vol.slice(s![c, .., .., ..]).to_owned()))
        .collect();
    let units = units(
        [nz, ny, nx],
        block_voxels.max(1),
        pool.current_num_threads(),
    );
    let results: Vec<Result<SlabResults<T>>> = pool.install(|| {
        units
            .par_iter()
            .map(|u| {
                let run = || -> Result<SlabResults<T>> {
                    let mut stream = bank.stream(&channels, u.tile.clone())?;
                    let mut out = Vec::new();
                    let n = u.z.len().div_ceil(u.slab);
                    for z in split(u.z.len(), n) {
                        let z = u.z.start + z.start..u.z.start + z.end;
                        let b = [z.clone(), u.tile[0].clone(), u.tile[1].clone()];
                        let feats = stream.features(z)?;
                        out.push((b.clone(), each(&b, feats)?));
                    }
                    Ok(out)
                };
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|p| {
                    Err(Error::Classify(format!(
                        "planes {:?}, y {:?}, x {:?} panicked: {}",
                        u.z,
                        u.tile[0],
                        u.tile[1],
                        panic_message(&p)
                    )))
                })
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Features and prediction of one time point (c, z, y, x) -> (z, y, x, class).
pub fn predict_volume(
    vol: &Array4<f32>,
    bank: &FeatureBank,
    classifier: &Classifier,
    pool: &rayon::ThreadPool,
    block_voxels: usize,
) -> Result<Array4<f32>> {
    let (_, nz, ny, nx) = vol.dim();
    let ncls = classifier.n_classes();
    checked_len(&[nz, ny, nx, ncls], "the probabilities of a time point")?;
    let done = for_each_slab(vol, bank, pool, block_voxels, |b, feats| {
        let n = checked_len(&[b[0].len(), b[1].len(), b[2].len(), ncls], "a block")?;
        let mut out = vec![0f32; n];
        classifier
            .predict_columns(&feats, &mut out)
            .map_err(Error::Classify)?;
        Ok(out)
    })?;
    let mut out = Array4::<f32>::zeros((nz, ny, nx, ncls));
    for (b, v) in done {
        let shape = (b[0].len(), b[1].len(), b[2].len(), ncls);
        let a = Array4::from_shape_vec(shape, v)
            .map_err(|e| Error::Classify(format!("internal: {e}")))?;
        out.slice_mut(s![b[0].clone(), b[1].clone(), b[2].clone(), ..])
            .assign(&a);
    }
    Ok(out)
}

/// The feature bank of a whole (c, z, y, x) volume as (z, y, x, feature): what ilastik's
/// feature export gives. Meant for inspection and parity tests; it holds every feature at once.
pub fn compute_features(
    vol: &Array4<f32>,
    selection: &FeatureSelection,
    threads: Option<usize>,
) -> Result<Array4<f32>> {
    let options = ClassifyOptions {
        threads,
        block_voxels: 1 << 17,
    };
    compute_features_with(vol, selection, &options)
}

/// [`compute_features`] with options (threads, block size).
pub fn compute_features_with(
    vol: &Array4<f32>,
    selection: &FeatureSelection,
    options: &ClassifyOptions,
) -> Result<Array4<f32>> {
    let (nc, nz, ny, nx) = vol.dim();
    let bank = FeatureBank::new(selection, nc, nz > 1)?;
    let pool = pool(options.threads)?;
    let done = for_each_slab(vol, &bank, &pool, options.block_voxels.max(1), |_, f| Ok(f))?;
    let nf = bank.n_features();
    checked_len(&[nz, ny, nx, nf], "the features")?;
    let mut out = Array4::<f32>::zeros((nz, ny, nx, nf));
    for (b, feats) in done {
        for (f, v) in feats.into_iter().enumerate() {
            let a = Array3::from_shape_vec((b[0].len(), b[1].len(), b[2].len()), v)
                .map_err(|e| Error::Classify(format!("internal: {e}")))?;
            out.slice_mut(s![b[0].clone(), b[1].clone(), b[2].clone(), f])
                .assign(&a);
        }
    }
    Ok(out)
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_cover_the_volume_once() {
        for (shape, target, threads) in [
            ([237, 218, 212], 1 << 19, 2),
            ([1, 512, 512], 1 << 14, 4),
            ([5, 7, 9], 10, 3),
        ] {
            let mut seen = vec![0u8; shape.iter().product()];
            for u in units(shape, target, threads) {
                for z in u.z.clone() {
                    for y in u.tile[0].clone() {
                        for x in u.tile[1].clone() {
                            seen[(z * shape[1] + y) * shape[2] + x] += 1;
                        }
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{shape:?}");
        }
    }
}
