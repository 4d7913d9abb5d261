//! ilastik pixel classification without ilastik: open a trained project (`.ilp`), compute its
//! feature bank as vigra does, and predict with its random forests, exactly as ilastik would.
//!
//! ```no_run
//! use omeflow::prelude::*;
//! # fn main() -> omeflow::Result<()> {
//! let project = Project::open(omeflow::classify::sample_project()?)?;  // or your own .ilp
//! let image = open_image("/tmp/blastocyst.ome.zarr")?;
//! let probabilities = classify(&image.level(0)?, &project)?;   // (t, z, y, x, class), float32
//! let membrane = probabilities.class_plane(1, 0, 0)?;          // class 2 at t 0, z 0
//! probabilities.save_png("/tmp/class2.png", 1, 0, 0)?;
//! # Ok(()) }
//! ```
//!
//! Work runs on a [`runtime::Pool`](crate::runtime::Pool) built and dropped inside the call
//! (never rayon's global pool, so notebook cells can call it again and again), over blocks with
//! halos so memory stays bounded by the block size times the threads (the engine is in
//! `predict.rs`). A panic in a block becomes [`Error::Panicked`] naming the block. A call made
//! on an omeflow worker (a `Client` task) runs on that worker's thread unless it asks for more
//! threads ([`runtime::threads`](crate::runtime::threads)), so workers never multiply threads.

mod features;
mod forest;
mod predict;
mod project;
mod sample;
mod save;
mod train;

use ndarray::{s, Array2, Array3, Array4, Array5, ArrayView5};

pub use features::{FeatureBank, FeatureId, FeatureSelection};
pub use forest::{Classifier, Forest, Tree};
pub use project::{LabelBlock, LabelClass, Project};
pub use sample::{sample_features, sample_project};
pub use train::{training_samples, TrainOptions};

/// The most threads a call may ask for (`runtime::MAX_THREADS`).
pub use crate::runtime::MAX_THREADS;
pub use predict::predict_volume;
pub(crate) use predict::{checked_len, for_each_slab};

use crate::ngff::{Element, Pixels, Region};
use crate::runtime::Pool;
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
        let px = self.clone();
        self.runtime()
            .block_on(async move { timepoint_f32(&px, t).await })
    }
}

/// Time point `t` of `px` as float32 (c, z, y, x). Over the reader's memory budget it is read
/// plane by plane rather than refused: the features need the whole time point anyway.
pub(crate) async fn timepoint_f32(px: &Pixels, t: usize) -> Result<Array4<f32>> {
    let sh = px.shape();
    let region = Region([t..t + 1, 0..sh[1], 0..sh[2], 0..sh[3], 0..sh[4]]);
    match px.region_async(&region).await {
        Ok(a) => Ok(a.to_f32().index_axis_move(ndarray::Axis(0), 0)),
        Err(Error::MemoryBudget { .. }) => {
            checked_len(&[sh[1], sh[2], sh[3], sh[4]], "a time point")?;
            let mut out = Array4::<f32>::zeros((sh[1], sh[2], sh[3], sh[4]));
            for c in 0..sh[1] {
                for z in 0..sh[2] {
                    let plane = px.plane_async(t, c, z).await?.to_f32();
                    out.slice_mut(s![c, z, .., ..]).assign(&plane);
                }
            }
            Ok(out)
        }
        Err(e) => Err(e),
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
    /// Worker threads (default: all cores; 1 on an omeflow worker, see
    /// [`runtime::threads`](crate::runtime::threads)).
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
    let classifier = project.classifier()?;
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
    let pool = Pool::new("classify", options.threads)?;
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
    let pool = Pool::new("classify", options.threads)?;
    let done = for_each_slab(vol, &bank, &pool, options.block_voxels.max(1), |_, f| Ok(f))?;
    let nf = bank.n_features();
    checked_len(&[nz, ny, nx, nf], "the features")?;
    let mut out = Array4::<f32>::zeros((nz, ny, nx, nf));
    for (b, feats) in done {
        for (f, v) in feats.into_iter().enumerate() {
            let shape = (b[0].len(), b[1].len(), b[2].len());
            let a = Array3::from_shape_vec(shape, v).map_err(|e| {
                Error::Internal(format!("feature {f} of block {b:?} as {shape:?}: {e}"))
            })?;
            out.slice_mut(s![b[0].clone(), b[1].clone(), b[2].clone(), f])
                .assign(&a);
        }
    }
    Ok(out)
}
