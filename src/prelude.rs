//! The names the tutorials' cells use, in one `use omeflow::prelude::*;` (what our kernel runs
//! at start). Everything else stays at its module path: writers in [`crate::ngff::writer`],
//! batch jobs in [`crate::batch`], stores in [`crate::store`], threads in [`crate::runtime`].

// Connect and look at metadata (both tutorials' first cells).
pub use crate::omero::{
    connect, connect_with, ConnectOptions, Connection, Image, ImageList, SAMPLE,
};
// Open pixels, lazily.
pub use crate::ngff::{open_image, Pixels};
// The segmentation tutorial's recipe, step by step and in one call.
pub use crate::ndimage::{
    above, gaussian_filter, label, max, regionprops, Connectivity, Threshold,
};
pub use crate::segment::{plane_name, segment, SegmentParams, Segmentation};
// The ilastik tutorial.
pub use crate::classify::{classify, sample_project, Probabilities, Project};
// dask's delayed / compute and the futures Client.
pub use crate::compute::{
    compute, compute_all, compute_each, delayed, Client, Compute, ComputeError, Delayed, Future,
    TaskFailure,
};
// Whole images: each plane's labels streamed to an OME-Zarr label image, counts kept.
pub use crate::batch::segment::{LabelSink, Segmentations};
// Looking at results.
pub use crate::display::{save_objects_plot, Colormap, Gallery, Picture, Show};
pub use crate::{Error, Result};
pub use ndarray::{self, Array2};
