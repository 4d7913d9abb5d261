//! `delayed` / `compute`: lazy labelled tasks, run in parallel on a pool built for the call.

use std::any::Any;
use std::fmt;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::failure::{into_error, ComputeError, TaskFailure};
use super::progress::ProgressLine;
use crate::Error;

type TaskFn<T> = Box<dyn FnOnce() -> Result<T, Error> + Send>;

/// A task's result with its type erased: the scheduler below is compiled once, in omeflow, not
/// once per result type in the caller's crate (a notebook cell is built unoptimised, and every
/// cell that computed paid for compiling the scheduler again).
type AnyValue = Box<dyn Any + Send>;

/// A lazy task: a label and a closure that runs when computed (dask's `delayed`).
pub struct Delayed<T> {
    label: String,
    f: TaskFn<T>,
}

impl<T> fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delayed({:?})", self.label)
    }
}

impl<T: Send + 'static> Delayed<T> {
    fn erase(self) -> Delayed<AnyValue> {
        let f = self.f;
        Delayed {
            label: self.label,
            f: Box::new(move || f().map(|v| Box::new(v) as AnyValue)),
        }
    }
}

/// The value of an erased result; a type mismatch (which `erase` rules out) is a failure, not
/// a panic.
fn unerase<T: 'static>(index: usize, r: Result<AnyValue, TaskFailure>) -> Result<T, TaskFailure> {
    r.and_then(|v| {
        v.downcast::<T>().map(|v| *v).map_err(|_| TaskFailure {
            index,
            label: String::new(),
            error: Box::new(Error::Internal(
                "a task's result came back with another type".into(),
            )),
        })
    })
}

impl<T> Delayed<T> {
    /// The task's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Run the task here and now, catching a panic.
    pub fn run(self, index: usize) -> Result<T, TaskFailure> {
        let label = self.label;
        match crate::runtime::catch(|| label.clone(), self.f) {
            Ok(v) => Ok(v),
            Err(error) => Err(TaskFailure {
                index,
                label,
                error: Box::new(error),
            }),
        }
    }
}

/// Make a lazy task from a closure that returns a `Result`: an omeflow [`Error`] keeps its
/// kind in the [`TaskFailure`], any other error that displays becomes [`Error::Task`].
///
/// ```
/// use omeflow::compute::{compute, delayed};
/// let lazy: Vec<_> = (0..3).map(|z| delayed(format!("z:{z}"), move || Ok::<_, String>(z + 1))).collect();
/// assert_eq!(compute(lazy).unwrap(), vec![1, 2, 3]);
/// ```
pub fn delayed<T, E, F>(label: impl Into<String>, f: F) -> Delayed<T>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: fmt::Display + 'static,
{
    Delayed {
        label: label.into(),
        f: Box::new(move || f().map_err(into_error)),
    }
}

/// How a run went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Tasks that finished (successfully or not).
    pub done: usize,
    /// Tasks that failed or panicked.
    pub failed: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Options of a compute call: threads, progress lines, a name for those lines.
#[derive(Clone, Debug)]
pub struct Compute {
    threads: Option<usize>,
    progress: bool,
    name: String,
}

impl Default for Compute {
    fn default() -> Self {
        Self {
            threads: None,
            progress: true,
            name: "compute".into(),
        }
    }
}

impl Compute {
    /// All cores, progress lines on.
    pub fn new() -> Self {
        Self::default()
    }
    /// Use `n` threads (at least 1, at most [`crate::runtime::MAX_THREADS`]).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.clamp(1, crate::runtime::MAX_THREADS));
        self
    }
    /// No progress or summary lines.
    pub fn quiet(mut self) -> Self {
        self.progress = false;
        self
    }
    /// The name at the start of progress lines.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn thread_count(&self) -> usize {
        // `threads` was clamped to 1..=MAX_THREADS when set, so this cannot fail.
        crate::runtime::threads(self.threads).unwrap_or(1)
    }

    /// Run every task; results in task order, or every failure with the successes kept.
    pub fn run<T: Send + 'static>(
        &self,
        tasks: Vec<Delayed<T>>,
    ) -> Result<Vec<T>, ComputeError<T>> {
        let all = self.run_all(tasks);
        if all.iter().all(Result::is_ok) {
            return Ok(all.into_iter().flatten().collect());
        }
        let mut failures = Vec::new();
        let mut results = Vec::with_capacity(all.len());
        for r in all {
            match r {
                Ok(v) => results.push(Some(v)),
                Err(f) => {
                    failures.push(f);
                    results.push(None);
                }
            }
        }
        Err(ComputeError { failures, results })
    }

    /// Run every task; one `Result` per task, in task order.
    pub fn run_all<T: Send + 'static>(
        &self,
        tasks: Vec<Delayed<T>>,
    ) -> Vec<Result<T, TaskFailure>> {
        let n = tasks.len();
        let mut slots: Vec<Option<Result<T, TaskFailure>>> = (0..n).map(|_| None).collect();
        self.each_counted(tasks.into_iter(), Some(n), |i, r| slots[i] = Some(r));
        slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.unwrap_or_else(|| {
                    Err(TaskFailure {
                        index: i,
                        label: String::new(),
                        error: Box::new(Error::Internal("the task never reported back".into())),
                    })
                })
            })
            .collect()
    }

    /// Run tasks from an iterator (taken lazily), handing each result to `consume` on the calling
    /// thread as it finishes, in completion order with its task index. Memory stays flat
    /// however many tasks: only a few are in flight and nothing is kept.
    pub fn each<T, I, C>(&self, tasks: I, consume: C) -> Summary
    where
        T: Send + 'static,
        I: IntoIterator<Item = Delayed<T>>,
        I::IntoIter: Send,
        C: FnMut(usize, Result<T, TaskFailure>),
    {
        let iter = tasks.into_iter();
        let total = match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        self.each_counted(iter, total, consume)
    }

    fn each_counted<T, I, C>(&self, tasks: I, total: Option<usize>, mut consume: C) -> Summary
    where
        T: Send + 'static,
        I: Iterator<Item = Delayed<T>> + Send,
        C: FnMut(usize, Result<T, TaskFailure>),
    {
        let mut erased = tasks.map(Delayed::erase);
        self.each_erased(&mut erased, total, &mut |i, r| consume(i, unerase(i, r)))
    }

    fn each_erased(
        &self,
        tasks: &mut (dyn Iterator<Item = Delayed<AnyValue>> + Send),
        total: Option<usize>,
        consume: &mut dyn FnMut(usize, Result<AnyValue, TaskFailure>),
    ) -> Summary {
        type T = AnyValue;
        let threads = self.thread_count();
        let mut progress = ProgressLine::new(self.name.clone(), total, self.progress);
        // Tiny tasks are taken and reported in batches, so the per-task cost is not one lock and
        // one channel message. Each worker starts with batches of one task (long tasks stay
        // balanced) and doubles its batch while a batch takes under 100 us.
        let max_batch = total.map_or(1024, |n| (n / threads).clamp(1, 1024));
        type Batch<T> = Vec<(usize, Result<T, TaskFailure>)>;
        let (tx, rx) = mpsc::sync_channel::<Batch<T>>(4 * threads);
        let (mut done, mut failed) = (0usize, 0usize);
        // Scoped std threads, all joined before the call returns: nothing outlives the cell.
        let source = Mutex::new(tasks.enumerate());
        let mut not_started = None;
        std::thread::scope(|scope| {
            for k in 0..threads {
                let tx = tx.clone();
                let source = &source;
                // Named as omeflow's workers, so parallel calls inside a task take one thread
                // (crate::runtime::threads) instead of all cores again.
                let started = std::thread::Builder::new()
                    .name(format!("omeflow-compute-{k}"))
                    .spawn_scoped(scope, move || {
                        let mut batch = 1usize;
                        loop {
                            let taken: Vec<(usize, Delayed<T>)> = match source.lock() {
                                Ok(mut it) => it.by_ref().take(batch).collect(),
                                Err(_) => Vec::new(),
                            };
                            if taken.is_empty() {
                                break;
                            }
                            let started = Instant::now();
                            let results: Batch<T> = taken
                                .into_iter()
                                .map(|(i, task)| (i, task.run(i)))
                                .collect();
                            if started.elapsed() < Duration::from_micros(100) {
                                batch = (batch * 2).min(max_batch);
                            }
                            if tx.send(results).is_err() {
                                break;
                            }
                        }
                    });
                if let Err(e) = started {
                    not_started.get_or_insert(e);
                    break;
                }
            }
            drop(tx);
            for results in rx.iter() {
                for (i, r) in results {
                    done += 1;
                    if let Err(f) = &r {
                        failed += 1;
                        if self.progress {
                            eprintln!("{f}");
                        }
                    }
                    consume(i, r);
                }
                progress.update(done);
            }
        });
        // No thread could be started (the OS refused): every task left is reported, none lost.
        if let Some(e) = not_started {
            let left: Vec<_> = match source.into_inner() {
                Ok(it) => it.collect(),
                Err(p) => p.into_inner().collect(),
            };
            for (i, task) in left {
                done += 1;
                failed += 1;
                let error = Error::Io {
                    context: "starting a compute thread".into(),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                };
                consume(
                    i,
                    Err(TaskFailure {
                        index: i,
                        label: task.label,
                        error: Box::new(error),
                    }),
                );
            }
        }
        progress.finish(done, failed);
        Summary {
            done,
            failed,
            elapsed: progress.elapsed(),
        }
    }
}

/// Run tasks in parallel on all cores (dask's `compute(*lazy_results)`): results in task order,
/// a progress line at least every 10 % or 2 s once the run has lasted a second, then a
/// summary line.
pub fn compute<T: Send + 'static>(tasks: Vec<Delayed<T>>) -> Result<Vec<T>, ComputeError<T>> {
    Compute::new().run(tasks)
}

/// Like [`compute`], but one `Result` per task, so successes and failures sit side by side.
pub fn compute_all<T: Send + 'static>(tasks: Vec<Delayed<T>>) -> Vec<Result<T, TaskFailure>> {
    Compute::new().run_all(tasks)
}

/// Stream a huge number of tasks with flat memory: each result goes to `consume` as it
/// finishes. Sum object counts, write rows, keep only what you need.
///
/// ```
/// use omeflow::compute::{compute_each, delayed};
/// let mut total = 0u64;
/// let summary = compute_each((0..10_000u64).map(|i| delayed("", move || Ok::<_, String>(i))), |_, r| {
///     total += r.unwrap_or(0);
/// });
/// assert_eq!((summary.done, total), (10_000, 49_995_000));
/// ```
pub fn compute_each<T, I, C>(tasks: I, consume: C) -> Summary
where
    T: Send + 'static,
    I: IntoIterator<Item = Delayed<T>>,
    I::IntoIter: Send,
    C: FnMut(usize, Result<T, TaskFailure>),
{
    Compute::new().each(tasks, consume)
}
