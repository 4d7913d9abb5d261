//! What a failed task leaves behind: its label and its error, typed, so a notebook can match
//! `Error::NotFound` on a failed plane.

use std::fmt;

use crate::Error;

/// One task that returned an error or panicked.
///
/// ```
/// use omeflow::compute::{compute_all, delayed};
/// use omeflow::Error;
/// let r = compute_all(vec![delayed("z:0", || Err::<(), _>(Error::OutOfBounds("z 9".into())))]);
/// let failure = r.into_iter().next().unwrap().unwrap_err();
/// assert!(matches!(*failure.error, Error::OutOfBounds(_)) && !failure.panicked());
/// ```
#[derive(Debug)]
pub struct TaskFailure {
    /// The task's position in the submitted order.
    pub index: usize,
    /// The task's label (e.g. `t:3, c:0, z:17`).
    pub label: String,
    /// What went wrong: the task's own [`Error`], [`Error::Task`] for another error type,
    /// [`Error::Panicked`] for a panic. Boxed, so a million task results held by `compute`
    /// carry one pointer for the error, not an `Error`'s width each.
    pub error: Box<Error>,
}

impl TaskFailure {
    /// Whether the task panicked (rather than returning an error).
    pub fn panicked(&self) -> bool {
        matches!(*self.error, Error::Panicked { .. })
    }

    /// The error's message, or the panic's.
    pub fn message(&self) -> String {
        match &*self.error {
            Error::Panicked { message, .. } => message.clone(),
            e => e.to_string(),
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.panicked() {
            "panicked"
        } else {
            "failed"
        };
        write!(f, "task {:?} {what}: {}", self.label, self.message())
    }
}

impl std::error::Error for TaskFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// Some tasks failed, or the run stopped early: every failure by label, the results of the
/// tasks that succeeded, and why it stopped.
#[derive(Debug)]
pub struct ComputeError<T> {
    /// Every failed task, in task order.
    pub failures: Vec<TaskFailure>,
    /// One entry per task in task order: `Some` for those that succeeded.
    pub results: Vec<Option<T>>,
    /// Why the run stopped before running every task, if it did (results too large to keep:
    /// [`Error::ResultsTooLarge`]); the tasks it did not run are `None` in `results` and not in
    /// `failures`.
    pub stopped: Option<Box<Error>>,
}

impl<T> ComputeError<T> {
    /// The successful results, in task order, dropping the failed ones.
    pub fn successes(self) -> Vec<T> {
        self.results.into_iter().flatten().collect()
    }
}

impl<T> fmt::Display for ComputeError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ok = self.results.iter().filter(|r| r.is_some()).count();
        if let Some(why) = &self.stopped {
            writeln!(f, "{why}")?;
            if self.failures.is_empty() {
                return Ok(());
            }
        }
        writeln!(
            f,
            "{} of {} tasks failed ({ok} succeeded; their results are in `results`):",
            self.failures.len(),
            self.results.len()
        )?;
        for failure in self.failures.iter().take(20) {
            writeln!(f, "  {failure}")?;
        }
        if self.failures.len() > 20 {
            writeln!(f, "  ... and {} more", self.failures.len() - 20)?;
        }
        Ok(())
    }
}

impl<T: fmt::Debug> std::error::Error for ComputeError<T> {}

/// A task's error as an omeflow [`Error`]: itself when it is one (so its kind survives),
/// else [`Error::Task`] with its message.
pub(crate) fn into_error<E: fmt::Display + 'static>(e: E) -> Error {
    let mut slot = Some(e);
    let any: &mut dyn std::any::Any = &mut slot;
    if let Some(own) = any.downcast_mut::<Option<Error>>() {
        if let Some(own) = own.take() {
            return own;
        }
    }
    match slot {
        Some(e) => Error::Task(e.to_string()),
        None => Error::Internal("a task's error was taken twice".into()),
    }
}
