//! Everything a notebook needs, in one `use omeflow::prelude::*;`.

pub use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
pub use crate::ngff::{open_image, AnyArray, DType, Element, ImageInfo, OmeZarr, Pixels, Region};
pub use crate::sample::{write_sample, SampleSpec};
pub use crate::store::{Store, StoreOptions};
pub use crate::{Error, Result};
pub use ndarray::{Array2, Array5, ArrayD};
