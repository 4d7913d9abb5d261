//! What a failed task leaves behind: its label and its error or panic message.

use std::fmt;

/// One task that returned an error or panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's position in the submitted order.
    pub index: usize,
    /// The task's label (e.g. `t:3, c:0, z:17`).
    pub label: String,
    /// The error's message, or the panic's.
    pub message: String,
    /// Whether the task panicked (rather than returning an error).
    pub panicked: bool,
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.panicked { "panicked" } else { "failed" };
        write!(f, "task {:?} {what}: {}", self.label, self.message)
    }
}

impl std::error::Error for TaskFailure {}

/// Some tasks failed: every failure by label, and the results of the tasks that succeeded.
#[derive(Debug)]
pub struct ComputeError<T> {
    /// Every failed task, in task order.
    pub failures: Vec<TaskFailure>,
    /// One entry per task in task order: `Some` for those that succeeded.
    pub results: Vec<Option<T>>,
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

/// The text of a panic payload.
pub(crate) fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    crate::store::panic_message(payload)
}
