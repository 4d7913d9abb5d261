//! The tutorial's recipe: smooth a plane with a Gaussian, threshold at a fraction of the
//! smoothed maximum, label the connected components, measure them.
//!
//! ```
//! use ndarray::Array2;
//! use omeflow::segment::{segment, SegmentParams};
//! let plane = Array2::<u16>::from_shape_fn((64, 64), |(y, x)| if (y / 16 + x / 16) % 2 == 0 { 1000 } else { 0 });
//! let result = segment(&plane, &SegmentParams::default())?;
//! assert_eq!(result.count, 8);
//! # Ok::<(), omeflow::Error>(())
//! ```

use ndarray::{Array2, ArrayBase, Data, Ix2};
use serde::{Deserialize, Serialize};

use crate::ndimage::{
    count_above_2d, gaussian_filter_in_place, gaussian_filter_with, label_above_2d, regionprops,
    Connectivity, GaussianOptions, LabelScratch, RegionProps, Threshold,
};
use crate::ngff::{AnyArray, Element};

/// Parameters of the recipe. The default is the tutorial's: sigma 1, 0.75 of the max,
/// 4-connectivity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentParams {
    /// Gaussian sigma (pixels), both axes.
    pub sigma: f64,
    /// Threshold rule.
    pub threshold: Threshold,
    /// Which neighbours connect.
    pub connectivity: Connectivity,
}

/// The largest Gaussian sigma a segmentation takes, in pixels: its kernel is 8001 pixels wide,
/// wider than most planes; beyond it a run would take hours for no useful result.
pub const MAX_SIGMA: f64 = 1000.0;

impl SegmentParams {
    /// Checked parameters: see [`SegmentParams::validate`].
    pub fn new(
        sigma: f64,
        threshold: Threshold,
        connectivity: Connectivity,
    ) -> crate::Result<Self> {
        let p = Self {
            sigma,
            threshold,
            connectivity,
        };
        p.validate()?;
        Ok(p)
    }

    /// Check the values: sigma finite in `0..=MAX_SIGMA`, a fraction threshold in (0, 1], an
    /// absolute one finite.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |why: String| Err(crate::Error::InvalidArgument(why));
        if !(self.sigma.is_finite() && (0.0..=MAX_SIGMA).contains(&self.sigma)) {
            return bad(format!(
                "sigma {}: use a number of pixels from 0 to {MAX_SIGMA}",
                self.sigma
            ));
        }
        match self.threshold {
            Threshold::Fraction(f) if !(f > 0.0 && f <= 1.0) => bad(format!(
                "threshold {f}: a fraction of the maximum must be above 0 and at most 1"
            )),
            Threshold::Absolute(v) if !v.is_finite() => bad(format!(
                "threshold {v}: an absolute threshold must be finite"
            )),
            _ => Ok(()),
        }
    }
}

impl Default for SegmentParams {
    fn default() -> Self {
        Self {
            sigma: 1.0,
            threshold: Threshold::Fraction(0.75),
            connectivity: Connectivity::Face,
        }
    }
}

/// One plane's segmentation: the labels, how many objects, where, and their measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    /// int32 labels, 0 = background, 1..=count numbered like scipy.
    pub labels: Array2<i32>,
    /// Number of objects.
    pub count: usize,
    /// The plane's (t, c, z), when it came from an image.
    pub plane: Option<[usize; 3]>,
    /// A human name such as `t:0, c:1, z:17`.
    pub name: String,
    /// The threshold value used.
    pub threshold: f64,
    /// Measurements per object (over the raw plane's intensities).
    pub props: Vec<RegionProps>,
    /// The plane itself, when kept for pictures ([`Segmentation::with_image`]); `None` in
    /// batch runs, where it would double the memory of every result.
    pub image: Option<AnyArray<Ix2>>,
}

impl Segmentation {
    /// A segmentation from a label image you made yourself (the count is its largest label).
    pub fn new(labels: Array2<i32>, name: impl Into<String>) -> Self {
        let count = labels.iter().copied().max().unwrap_or(0).max(0) as usize;
        Self {
            labels,
            count,
            plane: None,
            name: name.into(),
            threshold: f64::NAN,
            props: Vec::new(),
            image: None,
        }
    }

    /// Keep the plane, so pictures show the objects over it.
    pub fn with_image(mut self, plane: impl Into<AnyArray<Ix2>>) -> Self {
        self.image = Some(plane.into());
        self
    }

    /// A result of the recipe, before it is placed at a plane.
    fn computed(
        labels: Array2<i32>,
        count: usize,
        threshold: f64,
        props: Vec<RegionProps>,
    ) -> Self {
        Self {
            labels,
            count,
            plane: None,
            name: String::new(),
            threshold,
            props,
            image: None,
        }
    }

    /// Attach the plane's coordinates (and name it `t:.., c:.., z:..`).
    pub fn at(mut self, t: usize, c: usize, z: usize) -> Self {
        self.plane = Some([t, c, z]);
        self.name = plane_name(t, c, z);
        self
    }
}

/// `t:0, c:1, z:17`, as the tutorial prints planes.
pub fn plane_name(t: usize, c: usize, z: usize) -> String {
    format!("t:{t}, c:{c}, z:{z}")
}

/// Run the recipe on one plane of any pixel type.
/// An error when `params` are out of range ([`SegmentParams::validate`]).
pub fn segment<T: Element, S: Data<Elem = T>>(
    plane: &ArrayBase<S, Ix2>,
    params: &SegmentParams,
) -> crate::Result<Segmentation> {
    params.validate()?;
    let smoothed = gaussian_filter_with(plane, &GaussianOptions::new(params.sigma))?;
    let mut scratch = LabelScratch::default();
    let (threshold, count, labels) = threshold_and_label(&smoothed, params, true, &mut scratch);
    let props = regionprops(&labels, plane);
    Ok(Segmentation::computed(labels, count, threshold, props))
}

/// Threshold `smoothed` and label what is above: the threshold, the object count and, when
/// `want_labels`, the label image (else an empty 0 x 0 array). Equal to
/// `label(&above(&smoothed, thr), connectivity)` without the boolean mask, and without the
/// plane-sized label image when only the count is wanted.
fn threshold_and_label<T: Element>(
    smoothed: &Array2<T>,
    params: &SegmentParams,
    want_labels: bool,
    scratch: &mut LabelScratch,
) -> (f64, usize, Array2<i32>) {
    let threshold = params.threshold.value(smoothed);
    let (h, w) = smoothed.dim();
    let standard;
    let flat = match smoothed.as_slice() {
        Some(s) => s,
        None => {
            standard = smoothed.as_standard_layout();
            match standard.as_slice() {
                Some(s) => s,
                None => unreachable!("standard layout is contiguous"),
            }
        }
    };
    let count = if want_labels {
        label_above_2d(flat, w, threshold, params.connectivity, scratch)
    } else {
        count_above_2d(flat, w, threshold, params.connectivity, scratch)
    };
    let labels = if want_labels {
        match Array2::from_shape_vec((h, w), scratch.labels()) {
            Ok(labels) => labels,
            Err(_) => unreachable!("one label per pixel of the plane"),
        }
    } else {
        Array2::zeros((0, 0))
    };
    (threshold, count, labels)
}

/// What a batch run needs from each plane beyond its object count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Needs {
    /// The label image (to write it).
    pub labels: bool,
    /// The measurements (for a table).
    pub props: bool,
}

/// The recipe for a batch run, on a plane the run owns: smoothed in place when the raw
/// pixels are not needed afterwards, labelled with a worker's reusable scratch, and only the
/// outputs the run asked for (the label image is empty and the measurements are missing when
/// not needed). The count and, when asked, labels and measurements equal [`segment`]'s.
pub(crate) fn segment_owned<T: Element>(
    mut plane: Array2<T>,
    params: &SegmentParams,
    needs: Needs,
    scratch: &mut LabelScratch,
) -> Segmentation {
    let opts = GaussianOptions::new(params.sigma);
    // Measurements read the raw intensities, so only then is a smoothed copy made.
    let raw = if needs.props {
        Some(plane.clone())
    } else {
        None
    };
    // The run validated the parameters before its first plane.
    let _ = gaussian_filter_in_place(&mut plane, &opts);
    let (threshold, count, labels) =
        threshold_and_label(&plane, params, needs.labels || needs.props, scratch);
    let props = match &raw {
        Some(raw) => regionprops(&labels, raw),
        None => Vec::new(),
    };
    let labels = if needs.labels {
        labels
    } else {
        Array2::zeros((0, 0))
    };
    Segmentation::computed(labels, count, threshold, props)
}

/// [`segment_owned`] for a plane whose type is known at run time.
pub(crate) fn segment_any_owned(
    plane: AnyArray<Ix2>,
    params: &SegmentParams,
    needs: Needs,
    scratch: &mut LabelScratch,
) -> Segmentation {
    match plane {
        AnyArray::U8(p) => segment_owned(p, params, needs, scratch),
        AnyArray::U16(p) => segment_owned(p, params, needs, scratch),
        AnyArray::U32(p) => segment_owned(p, params, needs, scratch),
        AnyArray::I8(p) => segment_owned(p, params, needs, scratch),
        AnyArray::I16(p) => segment_owned(p, params, needs, scratch),
        AnyArray::I32(p) => segment_owned(p, params, needs, scratch),
        AnyArray::F32(p) => segment_owned(p, params, needs, scratch),
        AnyArray::F64(p) => segment_owned(p, params, needs, scratch),
    }
}

/// [`segment`] for a plane whose type is known at run time (what `Pixels::plane` returns).
pub fn segment_any(plane: &AnyArray<Ix2>, params: &SegmentParams) -> crate::Result<Segmentation> {
    match plane {
        AnyArray::U8(p) => segment(p, params),
        AnyArray::U16(p) => segment(p, params),
        AnyArray::U32(p) => segment(p, params),
        AnyArray::I8(p) => segment(p, params),
        AnyArray::I16(p) => segment(p, params),
        AnyArray::I32(p) => segment(p, params),
        AnyArray::F32(p) => segment(p, params),
        AnyArray::F64(p) => segment(p, params),
    }
}
