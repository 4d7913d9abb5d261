//! The tutorials' parallel API: dask's `delayed` / `compute` and the futures `Client`.
//!
//! Everything here is built for notebooks: a `compute` call starts its threads and joins them
//! before returning, and a [`Client`] owns plain std threads, so it can be created in one cell and
//! used in later ones. omeflow's own kernel loads omeflow once per kernel (kernel/README.md), so
//! there its statics would survive from cell to cell; in a stock evcxr kernel every cell has its
//! own copy of them. Threads owned by the call work the same in both, and in the CLI. A task
//! that fails or panics is reported by its label; the others finish. Nothing here uses tokio, so
//! it is safe to call when a tokio runtime is current.
//!
//! ```
//! use omeflow::compute::{compute, delayed};
//! let tasks: Vec<_> = (0..8)
//!     .map(|i| delayed(format!("task {i}"), move || Ok::<_, String>(i * i)))
//!     .collect();
//! let squares = compute(tasks).unwrap();
//! assert_eq!(squares, vec![0, 1, 4, 9, 16, 25, 36, 49]);
//! ```

mod client;
mod delayed;
mod failure;
mod footprint;
mod progress;
mod sink;

pub use client::{Client, Future};
pub use delayed::{compute, compute_all, compute_each, delayed, Compute, Delayed, Summary};
pub use failure::{ComputeError, TaskFailure};
pub use footprint::Footprint;
pub use progress::{ProgressLine, ProgressState};
pub use sink::Sink;

pub use crate::runtime::MAX_THREADS;
