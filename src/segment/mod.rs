//! The tutorial's recipe: smooth a plane with a Gaussian, threshold at a fraction of the
//! smoothed maximum, label the connected components, measure them.
//!
//! ```
//! use ndarray::Array2;
//! use omeflow::segment::{segment, SegmentParams};
//! let plane = Array2::<u16>::from_shape_fn((64, 64), |(y, x)| if (y / 16 + x / 16) % 2 == 0 { 1000 } else { 0 });
//! let result = segment(&plane, &SegmentParams::default());
//! assert_eq!(result.count, 8);
//! ```

mod pipeline;
mod table;

use ndarray::{Array2, ArrayBase, Data, Ix2};
use serde::{Deserialize, Serialize};

use crate::ndimage::{
    above, gaussian_filter_with, label, regionprops, Connectivity, GaussianOptions, RegionProps,
    Threshold,
};
use crate::ngff::{AnyArray, Element};

pub use pipeline::{run_segment, PlaneSummary, Progress, SegmentReport, SegmentTask};
pub use table::TableFormat;

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
pub fn segment<T: Element, S: Data<Elem = T>>(
    plane: &ArrayBase<S, Ix2>,
    params: &SegmentParams,
) -> Segmentation {
    let smoothed = match gaussian_filter_with(plane, &GaussianOptions::new(params.sigma)) {
        Ok(s) => s,
        // A negative or non-finite sigma: smooth nothing rather than fail the whole run.
        Err(_) => plane.to_owned(),
    };
    let threshold = params.threshold.value(&smoothed);
    let mask = above(&smoothed, threshold);
    let (labels, count) = label(&mask, params.connectivity);
    let props = regionprops(&labels, plane);
    Segmentation {
        labels,
        count,
        plane: None,
        name: String::new(),
        threshold,
        props,
        image: None,
    }
}

/// [`segment`] for a plane whose type is known at run time (what `Pixels::plane` returns).
pub fn segment_any(plane: &AnyArray<Ix2>, params: &SegmentParams) -> Segmentation {
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
