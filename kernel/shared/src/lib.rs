//! omeflow as one shared library for all notebook cells of the omeflow kernel.
//!
//! `init.evcxr` loads this crate with `:dep` and names it `omeflow` (`use omeflow_shared as
//! omeflow;`), so cells write `omeflow::...` as they would with the crate itself. The kernel
//! names the type of a variable kept between cells from its crate's root (`omeflow::Connection`,
//! see kernel/README.md), so every type a notebook may keep in a variable is re-exported here at
//! the root: the prelude's, and the ones below that the prelude leaves at their module paths.
pub use omeflow::prelude::*;
pub use omeflow::*;

pub use omeflow::batch::{
    ClassifyJob, ClassifyOutcome, Job, Outcome, PlaneSummary, Progress, Report, SegmentJob,
    SegmentOutcome, TableFormat,
};
pub use omeflow::compute::{ProgressLine, Summary};
pub use omeflow::ngff::writer::{Compression, ImageSpec, ImageWriter, NgffVersion};
pub use omeflow::ngff::{AnyArray, DType, Element, ImageInfo, OmeZarr, Region};
pub use omeflow::omero::Channel;
pub use omeflow::runtime::{IoRuntime, Pool};
pub use omeflow::sample::{write_sample, SampleSpec};
pub use omeflow::segment::segment_any;
pub use omeflow::store::{Store, StoreOptions};
