//! The sample's own ilastik project: trained by omeflow on the embedded sample, so the
//! classification tutorial runs from a fresh clone, on Binder or in a workshop, with nothing
//! downloaded.
//!
//! The annotations are what a reader would scribble in ilastik on the first image of the
//! sample's dataset 2 (image 1001): strokes across a few z-slices, "Nuclei" on the bright cores,
//! "Background" well away from them, picked from the image's own intensities (an Otsu threshold
//! of the smoothed H2B channel), never from the generator's truth. The forest is trained on them
//! with [`Project::train`] and saved by [`Project::save`] in ilastik 1.3's layout, whose forests
//! vigra loads.
//!
//! ```no_run
//! # fn main() -> omeflow::Result<()> {
//! let path = omeflow::classify::sample_project()?;
//! let project = omeflow::classify::Project::open(&path)?;
//! assert_eq!(project.labels[0].name, "Nuclei");
//! # Ok(()) }
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array5};

use super::TrainOptions;
use super::{ClassifyInput, FeatureId, FeatureSelection, LabelBlock, LabelClass, Project};
use crate::ndimage::{gaussian_filter, otsu};
use crate::ngff::open_image;
use crate::omero::catalogue::{sample_catalogue, SAMPLE_DATASET_IMAGES};
use crate::{Error, Result};

/// File name inside the sample catalogue; the number changes when the recipe does, so an old
/// file is never mistaken for the current one.
const FILE: &str = "sample-nuclei-v1.ilp";

/// Forest size: enough for smooth maps, small enough to train in about a second.
const TREES: usize = 32;

/// The path of the sample's ilastik project (`.ilp`), trained and written on first use beside
/// the sample catalogue and reused afterwards.
///
/// Two classes, "Nuclei" and "Background" (ilastik's first two label colours); features
/// Gaussian smoothing, Laplacian of Gaussian, gradient magnitude and Hessian eigenvalues at
/// ilastik's scales 0.7 to 3.5, in 3-D. Errors say what could not be read or written.
pub fn sample_project() -> Result<PathBuf> {
    let dir = sample_catalogue()?;
    let path = dir.join(FILE);
    if path.is_file() {
        return Ok(path);
    }
    let image = dir
        .join("embryos")
        .join(format!("{}.zarr", SAMPLE_DATASET_IMAGES[0]));
    let project = train_on(&image)?;
    // Saved aside and renamed into place, so a reader never opens half a file and two kernels
    // training at once both end with a whole one.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = dir.join(format!(".{FILE}.{}-{nanos}", std::process::id()));
    let saved = project.save(&staging).and_then(|()| {
        fs::rename(&staging, &path).map_err(|e| {
            Error::io(
                format!("moving the sample project to {}", path.display()),
                e,
            )
        })
    });
    let _ = fs::remove_file(&staging);
    saved.map(|()| path)
}

/// The feature selection of the sample project.
pub fn sample_features() -> FeatureSelection {
    let ids = vec![
        FeatureId::GaussianSmoothing,
        FeatureId::LaplacianOfGaussian,
        FeatureId::GaussianGradientMagnitude,
        FeatureId::HessianOfGaussianEigenvalues,
    ];
    let scales = vec![0.7, 1.6, 3.5];
    let matrix = vec![
        vec![true, true, true],
        vec![false, true, true],
        vec![false, true, true],
        vec![false, true, false],
    ];
    FeatureSelection {
        ids,
        scales,
        matrix,
        in_2d: vec![false; 3],
    }
}

fn train_on(image_path: &Path) -> Result<Project> {
    let location = image_path.to_string_lossy();
    let pixels = open_image(&location)?.level(0)?;
    let [_, _, nz, ny, nx] = pixels.shape5();
    let volume = pixels.timepoint(0)?;
    let mut project = Project::new(
        sample_features(),
        vec![
            LabelClass {
                name: "Nuclei".into(),
                color: [255, 225, 25],
            },
            LabelClass {
                name: "Background".into(),
                color: [0, 130, 200],
            },
        ],
    )?;
    project.annotations = annotate(&volume.slice(s![0, .., .., ..]).to_owned(), nz)?;
    project.training_shape = Some([1, nz, ny, nx, pixels.shape5()[1]]);
    let options = TrainOptions {
        trees: TREES,
        seed: 1001,
        ..TrainOptions::default()
    };
    project.train(&pixels, &options)?;
    project.path = image_path.with_extension("ilp");
    Ok(project)
}

/// Strokes on a few z-slices of the H2B channel `ch0` (z, y, x): one block per slice.
fn annotate(ch0: &ndarray::Array3<f32>, nz: usize) -> Result<Vec<LabelBlock>> {
    let (_, ny, nx) = ch0.dim();
    let mut blocks = Vec::new();
    for z in [nz * 3 / 10, nz * 9 / 20, nz * 11 / 20, nz * 7 / 10] {
        if z >= nz {
            continue;
        }
        let plane: Array2<f32> = ch0.slice(s![z, .., ..]).to_owned();
        let smooth: Array2<f32> = gaussian_filter(&plane, 1.0);
        let t = otsu(&smooth) as f32;
        let max = smooth.iter().copied().fold(f32::MIN, f32::max);
        let min = smooth.iter().copied().fold(f32::MAX, f32::min);
        if !(max > t && t > min) {
            continue;
        }
        // Cores well inside a nucleus, and background well away from one.
        let core = t + 0.3 * (max - t);
        let clear = min + 0.5 * (t - min);
        let data = Array5::from_shape_fn((1, 1, ny, nx, 1), |(_, _, y, x, _)| {
            // Diagonal strokes, as a brush drawn across the slice leaves them.
            if (y + 2 * x) % 7 > 1 {
                return 0;
            }
            let v = smooth[(y, x)];
            if v >= core {
                1
            } else if v <= clear {
                2
            } else {
                0
            }
        });
        let counts = [1u8, 2].map(|k| data.iter().filter(|&&v| v == k).count());
        if counts.iter().all(|&n| n > 0) {
            blocks.push(LabelBlock {
                start: [0, z, 0, 0, 0],
                data,
            });
        }
    }
    if blocks.is_empty() {
        return Err(Error::Internal(
            "the sample image has no slice with both nuclei and background to annotate".into(),
        ));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_project_is_trained_saved_and_reopened() {
        let path = sample_project().unwrap();
        let p = Project::open(&path).unwrap();
        assert_eq!(p.features, sample_features());
        assert_eq!(p.labels.len(), 2);
        assert!(!p.annotations.is_empty());
        let c = p.classifier().unwrap();
        assert_eq!(c.tree_count(), TREES);
        // Reused, not trained again.
        assert_eq!(sample_project().unwrap(), path);
    }

    #[test]
    fn strokes_hold_both_classes() {
        let vol = ndarray::Array3::from_shape_fn((10, 40, 40), |(_, y, x)| {
            if (y as i32 - 20).pow(2) + (x as i32 - 20).pow(2) < 100 {
                1000.0
            } else {
                100.0
            }
        });
        let blocks = annotate(&vol, 10).unwrap();
        assert_eq!(blocks.len(), 4);
        let flat = ndarray::Array3::<f32>::from_elem((10, 40, 40), 5.0);
        assert!(annotate(&flat, 10).is_err());
    }
}
