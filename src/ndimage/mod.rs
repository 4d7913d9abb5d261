//! Image filters and measurements on ndarray, with scipy.ndimage's exact semantics where the
//! tutorials rely on them: Gaussian smoothing, thresholds, connected components, region
//! properties.
//!
//! ```
//! use ndarray::Array2;
//! use omeflow::ndimage::{gaussian_filter, label, Connectivity, Threshold, above};
//! let plane = Array2::<u16>::from_shape_fn((64, 64), |(y, x)| if (y / 16 + x / 16) % 2 == 0 { 1000 } else { 0 });
//! let smoothed = gaussian_filter(&plane, 1.0);
//! let mask = above(&smoothed, Threshold::Fraction(0.75).value(&smoothed));
//! let (labels, count) = label(&mask, Connectivity::Face);
//! assert_eq!(count, 8);
//! ```

mod gaussian;
mod kernels;
mod label;
mod measure;
mod threshold;
pub mod vigra;

pub use gaussian::{
    gaussian_filter, gaussian_filter_in_place, gaussian_filter_with, gaussian_kernel1d,
    kernel_radius, BorderMode, GaussianOptions,
};
#[doc(hidden)]
pub use kernels::Kernels;
pub use label::{count_above_2d, label, label_above_2d, Connectivity, LabelScratch};
pub use measure::{regionprops, RegionProps};
pub use threshold::{above, max, otsu, Threshold};
