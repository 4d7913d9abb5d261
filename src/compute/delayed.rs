//! `delayed` / `compute`: lazy labelled tasks, run in parallel on a pool built for the call.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::failure::{into_error, ComputeError, TaskFailure};
use super::progress::ProgressLine;
use super::sink::Sink;
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

/// Options of a compute call: threads, progress lines, a name for those lines, and whether
/// every result may be kept whatever memory it takes.
#[derive(Clone, Debug)]
pub struct Compute {
    threads: Option<usize>,
    progress: bool,
    name: String,
    keep_all: bool,
    memory: Option<u64>,
}

impl Default for Compute {
    fn default() -> Self {
        Self {
            threads: None,
            progress: true,
            name: "compute".into(),
            keep_all: false,
            memory: None,
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

    /// Keep every result even when they will not fit in memory (by default a run whose results
    /// would not fit stops after its first result, with an error saying how to stream them).
    pub fn keep_all(mut self) -> Self {
        self.keep_all = true;
        self
    }
    /// Check the results against `bytes` of memory instead of what the machine (or the
    /// container's limit) has free now.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory = Some(bytes);
        self
    }

    fn thread_count(&self) -> usize {
        // `threads` was clamped to 1..=MAX_THREADS when set, so this cannot fail.
        crate::runtime::threads(self.threads).unwrap_or(1)
    }

    /// Run every task; results in task order, or every failure with the successes kept.
    ///
    /// Before the other tasks run, the first result's size (for the types
    /// [`super::Footprint`] knows: segmentations, probabilities, arrays) says whether all of them
    /// will fit in the memory this process has free; when they would not, the run stops there
    /// with [`Error::ResultsTooLarge`] in [`ComputeError::stopped`], naming the ways to stream
    /// them ([`Compute::to`] with a sink, [`compute_each`]) or to keep them anyway
    /// ([`Compute::keep_all`]).
    pub fn run<T: Send + 'static>(
        &self,
        tasks: Vec<Delayed<T>>,
    ) -> Result<Vec<T>, ComputeError<T>> {
        let (all, stopped) = self.run_kept(tasks);
        if stopped.is_none() && all.iter().all(|r| matches!(r, Some(Ok(_)))) {
            return Ok(all.into_iter().flatten().flatten().collect());
        }
        let mut failures = Vec::new();
        let mut results = Vec::with_capacity(all.len());
        for r in all {
            match r {
                Some(Ok(v)) => results.push(Some(v)),
                Some(Err(f)) => {
                    failures.push(f);
                    results.push(None);
                }
                None => results.push(None),
            }
        }
        Err(ComputeError {
            failures,
            results,
            stopped: stopped.map(Box::new),
        })
    }

    /// Run every task; one `Result` per task, in task order. A run stopped before its end
    /// (results too large to keep, see [`Compute::run`]) gives each task it did not run a
    /// failure with that reason.
    pub fn run_all<T: Send + 'static>(
        &self,
        tasks: Vec<Delayed<T>>,
    ) -> Vec<Result<T, TaskFailure>> {
        let labels: Vec<String> = tasks.iter().map(|t| t.label.clone()).collect();
        let (all, stopped) = self.run_kept(tasks);
        all.into_iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (s, label))| {
                s.unwrap_or_else(|| {
                    let error = match &stopped {
                        Some(e) => Error::ResultsTooLarge(format!("not run: {e}")),
                        None => Error::Internal("the task never reported back".into()),
                    };
                    Err(TaskFailure {
                        index: i,
                        label,
                        error: Box::new(error),
                    })
                })
            })
            .collect()
    }

    /// Every task's outcome kept (`None` for those not run), and why the run stopped early.
    #[allow(clippy::type_complexity)]
    fn run_kept<T: Send + 'static>(
        &self,
        tasks: Vec<Delayed<T>>,
    ) -> (Vec<Option<Result<T, TaskFailure>>>, Option<Error>) {
        let n = tasks.len();
        let mut slots: Vec<Option<Result<T, TaskFailure>>> = (0..n).map(|_| None).collect();
        let mut checked = self.keep_all;
        let mut stopped = None;
        let mut erased = tasks.into_iter().map(Delayed::erase);
        // A compute over planes shows its objects-per-plane plot growing (in a kernel that
        // shows live output, after the run's first second).
        let mut plot = crate::display::GrowingPlot::new(self.progress);
        self.each_erased(
            &mut erased,
            Some(n),
            &mut |i, r| {
                if let Ok(v) = &r {
                    plot.push_result(&**v);
                }
                if !checked {
                    if let Ok(v) = &r {
                        checked = true;
                        if let Err(e) = self.check_fits(&**v, n) {
                            stopped = Some(e);
                            slots[i] = Some(unerase(i, r));
                            return false;
                        }
                    }
                }
                slots[i] = Some(unerase(i, r));
                true
            },
            !self.keep_all,
        );
        plot.finish();
        (slots, stopped)
    }

    /// Whether `n` results like `first` fit in the memory left (half of it: the work itself,
    /// the kernel and the other cells' values need the rest).
    fn check_fits(&self, first: &(dyn Any + Send), n: usize) -> Result<(), Error> {
        let Some(each) = super::footprint::of(first) else {
            return Ok(());
        };
        let Some(free) = self.memory.or_else(crate::runtime::memory_available) else {
            return Ok(());
        };
        let needed = (each as u64).saturating_mul(n as u64);
        if needed <= free / 2 {
            return Ok(());
        }
        let bytes = crate::units::bytes;
        Err(Error::ResultsTooLarge(format!(
            "keeping {n} results of about {} each needs {}, more than half of the {} this \
             process has free, so the run stopped after its first result. Stream them instead: \
             `Compute::new().to(sink, tasks)` hands each result to a sink as it finishes (for \
             segmentations, `LabelSink::beside(&data, \"labels.ome.zarr\")?` writes the labels \
             to OME-Zarr and keeps the counts and measurements), or `compute_each(tasks, |i, r| \
             ...)` keeps what you choose; `Compute::new().keep_all().run(tasks)` keeps them all \
             anyway",
            bytes(each as u64),
            bytes(needed),
            bytes(free)
        )))
    }

    /// Run the tasks, handing each result to `sink` as it finishes (on this thread, in
    /// completion order), and return what the sink makes of them: memory stays at the tasks in
    /// flight however many there are. Tasks the sink says are already done (an earlier run's,
    /// recorded in its output) are skipped. An error from the sink stops the run.
    ///
    /// ```
    /// use omeflow::compute::{delayed, Compute, Sink, Summary, TaskFailure};
    /// struct Count(usize);
    /// impl Sink<String> for Count {
    ///     type Output = usize;
    ///     fn put(&mut self, _: usize, r: Result<String, TaskFailure>) -> omeflow::Result<()> {
    ///         self.0 += r.map_or(0, |s| s.len());
    ///         Ok(())
    ///     }
    ///     fn finish(self, _: Summary) -> omeflow::Result<usize> { Ok(self.0) }
    /// }
    /// let lazy = vec![delayed("a", || Ok::<_, String>("abc".to_string()))];
    /// assert_eq!(Compute::new().quiet().to(Count(0), lazy)?, 3);
    /// # Ok::<(), omeflow::Error>(())
    /// ```
    pub fn to<T, S>(&self, mut sink: S, tasks: Vec<Delayed<T>>) -> Result<S::Output, Error>
    where
        T: Send + 'static,
        S: Sink<T>,
    {
        let done = {
            let labels: Vec<&str> = tasks.iter().map(|t| t.label.as_str()).collect();
            sink.start(&labels)?
        };
        if !done.is_empty() && done.len() != tasks.len() {
            return Err(Error::Internal(format!(
                "a sink said which of {} tasks are done with {} flags",
                tasks.len(),
                done.len()
            )));
        }
        // Positions of the tasks to run, so results are put under their index in `tasks`.
        let todo: Vec<usize> = (0..tasks.len())
            .filter(|&i| !done.get(i).copied().unwrap_or(false))
            .collect();
        let mut erased = tasks
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !done.get(*i).copied().unwrap_or(false))
            .map(|(_, t)| t.erase());
        let mut failed = None;
        let summary = self.each_erased(
            &mut erased,
            Some(todo.len()),
            &mut |k, r| {
                let index = todo.get(k).copied().unwrap_or(k);
                let r = unerase(index, r).map_err(|mut f| {
                    f.index = index;
                    f
                });
                match sink.put(index, r) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            },
            false,
        );
        if let Some(e) = failed {
            sink.stopped();
            return Err(e);
        }
        sink.finish(summary)
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
        self.each_erased(
            &mut erased,
            total,
            &mut |i, r| {
                consume(i, unerase(i, r));
                true
            },
            false,
        )
    }

    fn each_erased(
        &self,
        tasks: &mut (dyn Iterator<Item = Delayed<AnyValue>> + Send),
        total: Option<usize>,
        consume: &mut dyn FnMut(usize, Result<AnyValue, TaskFailure>) -> bool,
        gated: bool,
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
        // Set when `consume` says stop: workers take no further task.
        let stop = AtomicBool::new(false);
        // With `gated`, each worker runs one task and waits until the first result has been
        // consumed: a run that `consume` stops at its first result has run one task per thread.
        let opened = AtomicBool::new(!gated);
        std::thread::scope(|scope| {
            for k in 0..threads {
                let tx = tx.clone();
                let source = &source;
                let stop = &stop;
                let opened = &opened;
                // Named as omeflow's workers, so parallel calls inside a task take one thread
                // (crate::runtime::threads) instead of all cores again.
                let started = std::thread::Builder::new()
                    .name(format!("omeflow-compute-{k}"))
                    .spawn_scoped(scope, move || {
                        let mut batch = 1usize;
                        // Results kept until SEND_EVERY has passed since the last send: a
                        // message per task woke the consuming thread (a futex call and a context
                        // switch each way) as often as a small plane takes to segment.
                        let mut kept: Batch<T> = Vec::new();
                        let mut sent = Instant::now();
                        loop {
                            if stop.load(Ordering::Acquire) {
                                break;
                            }
                            let taken: Vec<(usize, Delayed<T>)> = match source.lock() {
                                Ok(mut it) => it.by_ref().take(batch).collect(),
                                Err(_) => Vec::new(),
                            };
                            if taken.is_empty() {
                                break;
                            }
                            let started = Instant::now();
                            kept.extend(taken.into_iter().map(|(i, task)| (i, task.run(i))));
                            if started.elapsed() < Duration::from_micros(100) {
                                batch = (batch * 2).min(max_batch);
                            }
                            let gate = !opened.load(Ordering::Acquire);
                            if gate
                                || kept.len() >= batch.max(SEND_AT_MOST)
                                || sent.elapsed() >= SEND_EVERY
                            {
                                if tx.send(std::mem::take(&mut kept)).is_err() {
                                    break;
                                }
                                sent = Instant::now();
                            }
                            while !opened.load(Ordering::Acquire) && !stop.load(Ordering::Acquire) {
                                std::thread::sleep(Duration::from_micros(50));
                            }
                        }
                        if !kept.is_empty() {
                            // Closed: the run stopped and these results are not wanted.
                            let _ = tx.send(kept);
                        }
                    });
                if let Err(e) = started {
                    not_started.get_or_insert(e);
                    break;
                }
            }
            drop(tx);
            for results in rx.iter() {
                if stop.load(Ordering::Acquire) {
                    // Results of tasks already running when the run stopped are dropped.
                    continue;
                }
                for (i, r) in results {
                    done += 1;
                    if let Err(f) = &r {
                        failed += 1;
                        if self.progress {
                            eprintln!("{f}");
                        }
                    }
                    let go_on = consume(i, r);
                    opened.store(true, Ordering::Release);
                    if !go_on {
                        stop.store(true, Ordering::Release);
                        break;
                    }
                }
                progress.set_failed(failed);
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
                let _ = consume(
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

/// How long a compute thread keeps finished results before it hands them over.
const SEND_EVERY: Duration = Duration::from_millis(5);

/// How many results it keeps at most (beyond one batch of tiny tasks): memory stays a few
/// results per thread, whatever their size.
const SEND_AT_MOST: usize = 16;

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
