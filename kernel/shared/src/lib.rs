//! omeflow as one shared library for all notebook cells of the omeflow kernel.
//!
//! `init.evcxr` loads this crate with `:dep` and names it `omeflow` (`use omeflow_shared as
//! omeflow;`), so cells write `omeflow::...` as they would with the crate itself. The prelude is
//! re-exported at the root as well: the kernel names the type of a variable kept between cells
//! from its crate's root (`omeflow::Connection`), see kernel/README.md.
pub use omeflow::prelude::*;
pub use omeflow::*;
