//! The futures API (dask's `Client`): `submit` starts work at once on the client's workers,
//! `gather` collects. The client owns plain std threads, so it lives in a notebook variable
//! across cells; dropping it cancels what has not started and joins its workers.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::delayed::delayed;
use super::failure::{ComputeError, TaskFailure};
use super::progress::ProgressLine;
use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    submitted: AtomicUsize,
    running: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
}

/// A pool of worker threads that runs submitted tasks as soon as a worker is free.
///
/// ```
/// use omeflow::compute::Client;
/// let client = Client::with_workers(2).unwrap();
/// let futures: Vec<_> = (0..4).map(|i| client.submit(move || Ok::<_, String>(i * 10))).collect();
/// assert_eq!(client.gather(futures).unwrap(), vec![0, 10, 20, 30]);
/// ```
pub struct Client {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Slot<T> {
    value: Mutex<Option<std::result::Result<T, TaskFailure>>>,
    ready: Condvar,
    /// When a worker started and finished the task; `None` while it has not run (or never will).
    ran: Mutex<Option<(Instant, Instant)>>,
}

/// The result of a submitted task, available once it has run.
pub struct Future<T> {
    slot: Arc<Slot<T>>,
    label: String,
    index: usize,
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.done() { "finished" } else { "pending" };
        write!(f, "Future({:?}, {state})", self.label)
    }
}

impl<T> Future<T> {
    /// Whether the task has finished (successfully or not).
    pub fn done(&self) -> bool {
        self.slot.value.lock().map(|v| v.is_some()).unwrap_or(true)
    }

    /// The task's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// When a worker started and finished the task, once it has run (`None` before, or when it
    /// was cancelled).
    pub fn ran(&self) -> Option<(Instant, Instant)> {
        self.slot.ran.lock().ok().and_then(|r| *r)
    }

    /// Wait for the task and take its result.
    pub fn result(self) -> std::result::Result<T, TaskFailure> {
        let failure = |message: &str| TaskFailure {
            index: self.index,
            label: self.label.clone(),
            error: Box::new(Error::Internal(message.into())),
        };
        let Ok(mut guard) = self.slot.value.lock() else {
            return Err(failure("the result was lost (poisoned lock)"));
        };
        loop {
            if let Some(v) = guard.take() {
                return v;
            }
            guard = match self.slot.ready.wait(guard) {
                Ok(g) => g,
                Err(_) => return Err(failure("the result was lost (poisoned lock)")),
            };
        }
    }
}

/// Fills a future's slot exactly once; if the job is dropped unrun (client dropped), the
/// future learns it was cancelled instead of waiting forever.
struct Completer<T> {
    slot: Arc<Slot<T>>,
    label: String,
    index: usize,
    filled: bool,
}

impl<T> Completer<T> {
    fn fill(&mut self, v: std::result::Result<T, TaskFailure>) {
        if let Ok(mut g) = self.slot.value.lock() {
            *g = Some(v);
        }
        self.filled = true;
        self.slot.ready.notify_all();
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if !self.filled {
            let failure = TaskFailure {
                index: self.index,
                label: std::mem::take(&mut self.label),
                error: Box::new(Error::Incomplete(
                    "cancelled: the client was dropped before the task started".into(),
                )),
            };
            self.fill(Err(failure));
        }
    }
}

impl Client {
    /// A client with one worker per core (dask's `Client(LocalCluster())`).
    pub fn local() -> Result<Self> {
        Self::with_workers(crate::runtime::cores())
    }

    /// A client with `n` workers: 1 to [`super::MAX_THREADS`], else an error.
    pub fn with_workers(n: usize) -> Result<Self> {
        if !(1..=super::MAX_THREADS).contains(&n) {
            return Err(crate::Error::InvalidArgument(format!(
                "{n} workers: use 1 to {}",
                super::MAX_THREADS
            )));
        }
        let shared = Arc::new(Shared::default());
        let mut workers = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("omeflow-client-{i}"))
                .spawn(move || worker(&shared))
                .map_err(|e| Error::io("starting a client worker thread", e))?;
            workers.push(handle);
        }
        Ok(Self { shared, workers })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Submit a task; it starts as soon as a worker is free.
    pub fn submit<T, E, F>(&self, f: F) -> Future<T>
    where
        T: Send + 'static,
        E: fmt::Display + 'static,
        F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    {
        let n = self.shared.submitted.load(Ordering::Relaxed);
        self.submit_labeled(format!("task {n}"), f)
    }

    /// Submit a task with a label (used in errors and progress).
    pub fn submit_labeled<T, E, F>(&self, label: impl Into<String>, f: F) -> Future<T>
    where
        T: Send + 'static,
        E: fmt::Display + 'static,
        F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
    {
        let label = label.into();
        let index = self.shared.submitted.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            value: Mutex::new(None),
            ready: Condvar::new(),
            ran: Mutex::new(None),
        });
        let mut completer = Completer {
            slot: slot.clone(),
            label: label.clone(),
            index,
            filled: false,
        };
        let task = delayed(label.clone(), f);
        let shared = self.shared.clone();
        let ran = slot.clone();
        let job: Job = Box::new(move || {
            shared.running.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let r = task.run(index);
            if let Ok(mut t) = ran.ran.lock() {
                *t = Some((started, Instant::now()));
            }
            if r.is_err() {
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
            shared.running.fetch_sub(1, Ordering::Relaxed);
            shared.finished.fetch_add(1, Ordering::Relaxed);
            completer.fill(r);
        });
        if let Ok(mut q) = self.shared.queue.lock() {
            q.jobs.push_back(job);
        }
        self.shared.wake.notify_one();
        Future { slot, label, index }
    }

    /// Submit `f(item)` for every item (dask's `client.map`).
    pub fn map<I, T, E, F>(&self, f: F, items: impl IntoIterator<Item = I>) -> Vec<Future<T>>
    where
        I: Send + 'static,
        T: Send + 'static,
        E: fmt::Display + 'static,
        F: Fn(I) -> std::result::Result<T, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.submit(move || f(item))
            })
            .collect()
    }

    /// Wait for every future; results in the order given, or every failure with the
    /// successes kept. Prints a progress line at least every 10 % or 2 s once it has waited a
    /// second, then a summary whose time is the work's: from the first of these tasks to start
    /// to the last to end (the work began at `submit`, so the wait here alone can be near 0),
    /// with the time spent waiting here beside it.
    pub fn gather<T>(
        &self,
        futures: Vec<Future<T>>,
    ) -> std::result::Result<Vec<T>, ComputeError<T>> {
        let total = futures.len();
        let mut progress = ProgressLine::new("gather", Some(total), true);
        let mut results = Vec::with_capacity(total);
        let mut failures = Vec::new();
        let mut span = WorkSpan::default();
        for (i, f) in futures.into_iter().enumerate() {
            let slot = f.slot.clone();
            match f.result() {
                Ok(v) => results.push(Some(v)),
                Err(e) => {
                    failures.push(e);
                    results.push(None);
                }
            }
            if let Some(ran) = slot.ran.lock().ok().and_then(|r| *r) {
                span.add(ran);
            }
            progress.set_failed(failures.len());
            progress.update(i + 1);
        }
        progress.finish_work(total, failures.len(), span.duration());
        if failures.is_empty() {
            Ok(results.into_iter().flatten().collect())
        } else {
            Err(ComputeError {
                failures,
                results,
                stopped: None,
            })
        }
    }

    /// Counts of tasks: (submitted, running, finished, failed).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let s = &self.shared;
        (
            s.submitted.load(Ordering::Relaxed),
            s.running.load(Ordering::Relaxed),
            s.finished.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
        )
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (submitted, running, finished, failed) = self.counts();
        write!(
            f,
            "Client: {} workers, {submitted} submitted, {} pending, {running} running, {finished} finished, {failed} failed",
            self.workers(),
            submitted.saturating_sub(running + finished)
        )
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let pending: Vec<Job> = match self.shared.queue.lock() {
            Ok(mut q) => {
                q.shutdown = true;
                q.jobs.drain(..).collect()
            }
            Err(_) => Vec::new(),
        };
        // Dropping unrun jobs tells their futures they were cancelled.
        drop(pending);
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The first start and the last end of a set of tasks.
#[derive(Clone, Copy, Debug, Default)]
struct WorkSpan(Option<(Instant, Instant)>);

impl WorkSpan {
    fn add(&mut self, (start, end): (Instant, Instant)) {
        self.0 = Some(match self.0 {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }

    /// From the first start to the last end; `None` when no task ran.
    fn duration(&self) -> Option<Duration> {
        self.0.map(|(s, e)| e.saturating_duration_since(s))
    }
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            loop {
                if q.shutdown {
                    return;
                }
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q = match shared.wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_records_when_it_ran() {
        let client = Client::with_workers(1).unwrap();
        let f = client.submit(|| {
            std::thread::sleep(Duration::from_millis(30));
            Ok::<_, String>(1)
        });
        while !f.done() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (start, end) = f.ran().unwrap();
        assert!(end.duration_since(start) >= Duration::from_millis(30));
    }

    #[test]
    fn the_work_span_runs_from_the_first_start_to_the_last_end() {
        // Work that finished before gather is called still counts: the span is the tasks',
        // not gather's wait.
        let client = Client::with_workers(2).unwrap();
        let futures: Vec<_> = (0..4)
            .map(|_| {
                client.submit(|| {
                    std::thread::sleep(Duration::from_millis(40));
                    Ok::<_, String>(())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        let mut span = WorkSpan::default();
        for f in &futures {
            span.add(f.ran().unwrap());
        }
        let work = span.duration().unwrap();
        // Two rounds of 40 ms on two workers.
        assert!(work >= Duration::from_millis(80), "{work:?}");
        let waited = Instant::now();
        assert_eq!(client.gather(futures).unwrap().len(), 4);
        assert!(waited.elapsed() < Duration::from_millis(40));
        assert_eq!(WorkSpan::default().duration(), None);
    }
}
