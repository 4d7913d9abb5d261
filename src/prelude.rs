//! Everything a notebook needs, in one `use omeflow::prelude::*;`.

pub use crate::classify::{classify, Probabilities, Project};
pub use crate::compute::{
    compute, compute_all, compute_each, delayed, Client, Compute, ComputeError, Delayed, Future,
    Summary, TaskFailure,
};
pub use crate::display::{save_objects_plot, Colormap, Gallery, Picture, Show};
pub use crate::ndimage::{
    above, gaussian_filter, label, max, regionprops, Connectivity, Threshold,
};
pub use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
pub use crate::ngff::{open_image, AnyArray, DType, Element, ImageInfo, OmeZarr, Pixels, Region};
pub use crate::omero::{
    connect, connect_with, Channel, ConnectOptions, Connection, Image, ImageList, SAMPLE,
};
pub use crate::sample::{write_sample, SampleSpec};
pub use crate::segment::{plane_name, segment, segment_any, SegmentParams, Segmentation};
pub use crate::store::{Store, StoreOptions};
pub use crate::{Error, Result};
pub use ndarray::{self, Array2, Array5, ArrayD};
