//! omeflow: the OMERO "analyze data in parallel" tutorials, made real in Rust.
//!
//! The crate reads OME-Zarr pixels from disk, HTTP(S) and S3 (`store`, `ngff`), writes OME-Zarr
//! images and label images (`ngff::writer`), and ships a deterministic sample image (`sample`) so
//! every notebook and the CLI work offline.
//!
//! ```no_run
//! use omeflow::prelude::*;
//! # fn main() -> omeflow::Result<()> {
//! let image = open_image("https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.1/4007801.zarr")?;
//! let data = image.level(4)?;                  // lazy: nothing but metadata is read
//! let plane = data.plane_f64(0, 0, 500)?;      // one (t, c, z) plane as Array2<f64>
//! println!("{:?} max {}", plane.dim(), plane.iter().cloned().fold(0.0, f64::max));
//! # Ok(()) }
//! ```

pub mod batch;
pub mod classify;
pub mod compute;
pub mod display;
pub mod error;
pub mod ndimage;
pub mod ngff;
pub mod omero;
pub mod output;
pub mod prelude;
mod rng;
pub mod runtime;
pub mod sample;
pub mod segment;
pub mod slurm;
pub mod store;
pub mod units;

pub use error::{Error, Result};
