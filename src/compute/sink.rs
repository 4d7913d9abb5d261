//! Where a compute's results go when keeping them all would not fit: each result is handed to
//! a [`Sink`] as it finishes (label images to disk, a count kept), and the run returns what the
//! sink makes of them at the end. A sink that records what it has stored can also say, before
//! the run, which tasks an earlier run already finished: those are skipped.
//!
//! ```
//! use omeflow::compute::{delayed, Compute, Sink, Summary, TaskFailure};
//! /// Keeps a running total and nothing else.
//! struct Total(u64);
//! impl Sink<u64> for Total {
//!     type Output = u64;
//!     fn put(&mut self, _index: usize, result: Result<u64, TaskFailure>) -> omeflow::Result<()> {
//!         self.0 += result.unwrap_or(0);
//!         Ok(())
//!     }
//!     fn finish(self, _summary: Summary) -> omeflow::Result<u64> {
//!         Ok(self.0)
//!     }
//! }
//! let lazy: Vec<_> = (0..1000u64).map(|i| delayed("", move || Ok::<_, String>(i))).collect();
//! assert_eq!(Compute::new().quiet().to(Total(0), lazy)?, 499_500);
//! # Ok::<(), omeflow::Error>(())
//! ```

use super::{Summary, TaskFailure};
use crate::Result;

/// Takes a compute's results one by one, on the calling thread, in the order they finish.
pub trait Sink<T> {
    /// What the run returns.
    type Output;

    /// Called once before any task runs, with every task's label (in task order): which tasks
    /// are already done, one flag per task (skipped, not run), or an empty list for none. An
    /// error stops the run before it starts.
    fn start(&mut self, labels: &[&str]) -> Result<Vec<bool>> {
        let _ = labels;
        Ok(Vec::new())
    }

    /// One task's outcome (`index` in task order). An error stops the run: no further task is
    /// started, and [`Sink::stopped`] is called.
    fn put(&mut self, index: usize, result: std::result::Result<T, TaskFailure>) -> Result<()>;

    /// The run stopped early (a `put` failed, or the user interrupted it): keep what is done.
    fn stopped(&mut self) {}

    /// After the last task: what the run returns.
    fn finish(self, summary: Summary) -> Result<Self::Output>;
}
