//! The one runner of batch jobs: items read ahead on the I/O runtime (at most `window` in
//! flight), worked on a [`Pool`], and recorded on the calling thread in completion order, with
//! a progress callback after each. Memory is bounded by the window, not by the item count.
//!
//! A job gives the runner three things: a stream of reads, the work on one item, and what to
//! record of each result. The runner owns the threads, catches panics (an item that panics
//! fails alone, named by its key) and makes sure a run that lost items never looks complete.

use std::fmt::Display;
use std::sync::mpsc;
use std::time::Instant;

use futures::{Stream, StreamExt};

use super::Progress;
use crate::runtime::{self, IoRuntime, Pool};
use crate::{Error, Result};

/// How the work of a job spreads over the pool's threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spread {
    /// Items run side by side, one per thread (planes of a segmentation).
    Items,
    /// One item at a time; the work parallelises inside it with the pool it is given
    /// (time points of a classification, each split into blocks).
    Inside,
}

/// What `record` tells the runner after a result.
pub(crate) enum Flow {
    /// Go on with the next result.
    Go,
    /// Stop the run with this error (an output failed: later results have nowhere to go).
    Stop(Error),
}

/// Threads, read-ahead window and progress of one run.
pub(crate) struct Runner<'p> {
    pool: Pool,
    window: usize,
    spread: Spread,
    total: usize,
    start: Instant,
    progress: &'p mut dyn FnMut(Progress),
}

impl<'p> Runner<'p> {
    /// A runner of `total` items on [`runtime::threads`]`(threads)` threads named
    /// `omeflow-<name>-<i>`, reading at most `window` items ahead.
    pub(crate) fn new(
        name: &str,
        threads: Option<usize>,
        window: usize,
        spread: Spread,
        total: usize,
        progress: &'p mut dyn FnMut(Progress),
    ) -> Result<Self> {
        Ok(Runner {
            pool: Pool::new(name, threads)?,
            window: window.max(1),
            spread,
            total,
            start: Instant::now(),
            progress,
        })
    }

    /// Run every item `reads` yields through `work`, then `record`. Returns once every read
    /// item was recorded; an error if `record` stopped the run, or if the reads ended (or
    /// panicked) before `total` items arrived, which is [`Error::Incomplete`] naming `what`.
    pub(crate) fn run<K, In, Out, R, W, C>(
        &mut self,
        io: &IoRuntime,
        what: &str,
        reads: R,
        work: W,
        record: C,
    ) -> Result<()>
    where
        K: Display + Send + 'static,
        In: Send + 'static,
        Out: Send,
        R: Stream<Item = (K, Result<In>)> + Send + 'static,
        W: Fn(&Pool, &K, In) -> Result<Out> + Sync,
        C: FnMut(K, Result<Out>) -> Flow,
    {
        // Reader: items arrive as the stream yields them, at most `window` ahead of the work.
        let (item_tx, item_rx) = tokio::sync::mpsc::channel::<(K, Result<In>)>(self.window);
        let reader = io.spawn(async move {
            let mut reads = std::pin::pin!(reads);
            while let Some(item) = reads.next().await {
                if item_tx.send(item).await.is_err() {
                    break; // the work stopped
                }
            }
        });
        let mut rx = item_rx;
        let incoming = std::iter::from_fn(move || rx.blocking_recv());
        // Stopping aborts the reader, which closes the channel the workers wait on.
        let stop_reader = reader.abort_handle();
        let received = self.drive(incoming, work, record, || stop_reader.abort())?;
        // Every item sent was received, so the reader has finished; one that panicked or
        // stopped early leaves items missing, and the run must not look complete.
        if received != self.total {
            let why = match futures::executor::block_on(reader) {
                Err(e) if e.is_panic() => {
                    Error::panicked(format!("reading {what}"), e.into_panic()).to_string()
                }
                Err(_) => format!("reading {what} was cancelled"),
                Ok(()) => format!("some {what} were never delivered"),
            };
            return Err(self.incomplete(received, what, why));
        }
        Ok(())
    }

    /// [`Runner::run`] for items that need no read-ahead, as local chunk reads from the page
    /// cache, which `work` does itself: the pool's threads take the next item from `items` as
    /// they come free, with no reader and no hand-off of each item from thread to thread (on
    /// small planes those hand-offs cost as much as the reads).
    pub(crate) fn run_inline<K, Out, I, W, C>(
        &mut self,
        what: &str,
        items: I,
        work: W,
        record: C,
    ) -> Result<()>
    where
        K: Display + Send,
        Out: Send,
        I: Iterator<Item = K> + Send,
        W: Fn(&Pool, &K) -> Result<Out> + Sync,
        C: FnMut(K, Result<Out>) -> Flow,
    {
        // Stopping ends the items: the threads take no more.
        let halt = std::sync::atomic::AtomicBool::new(false);
        let incoming = items
            .take_while(|_| !halt.load(std::sync::atomic::Ordering::Relaxed))
            .map(|k| (k, Ok(())));
        let received = self.drive(
            incoming,
            |pool, k, ()| work(pool, k),
            record,
            || halt.store(true, std::sync::atomic::Ordering::Relaxed),
        )?;
        if received != self.total {
            let why = format!("some {what} were never delivered");
            return Err(self.incomplete(received, what, why));
        }
        Ok(())
    }

    /// Work the items `incoming` yields on the pool and record each result on this thread, in
    /// completion order; `stop` is called when `record` stops the run. Returns how many
    /// results were recorded.
    fn drive<K, In, Out, I, W, C>(
        &mut self,
        incoming: I,
        work: W,
        mut record: C,
        stop: impl FnOnce(),
    ) -> Result<usize>
    where
        K: Display + Send,
        In: Send,
        Out: Send,
        I: Iterator<Item = (K, Result<In>)> + Send,
        W: Fn(&Pool, &K, In) -> Result<Out> + Sync,
        C: FnMut(K, Result<Out>) -> Flow,
    {
        let (done_tx, done_rx) = mpsc::channel::<Vec<(K, Result<Out>)>>();
        let mut received = 0usize;
        let mut failed = 0usize;
        let mut stopped = None;
        let pool = &self.pool;
        let spread = self.spread;
        let work = &work;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let each = |done: &mut Batch<(K, Result<Out>)>, (key, input): (K, Result<In>)| {
                    let out = input.and_then(|input| {
                        runtime::catch(|| key.to_string(), || work(pool, &key, input))
                    });
                    done.push((key, out));
                };
                let done = Batch::new(done_tx);
                match spread {
                    Spread::Items => pool.for_each(incoming, done, each),
                    Spread::Inside => {
                        let mut done = done;
                        incoming.for_each(|item| each(&mut done, item));
                    }
                }
            });
            let mut stop = Some(stop);
            'results: for batch in done_rx.iter() {
                for (key, out) in batch {
                    received += 1;
                    if out.is_err() {
                        failed += 1;
                    }
                    if let Flow::Stop(e) = record(key, out) {
                        stopped = Some(e);
                        // Dropping the receiver ends the workers: their next send fails.
                        if let Some(stop) = stop.take() {
                            stop();
                        }
                        break 'results;
                    }
                    (self.progress)(Progress {
                        done: received,
                        failed,
                        total: self.total,
                        elapsed: self.start.elapsed(),
                    });
                }
            }
            // Whatever is still queued is dropped unworked when the scope's thread ends.
            drop(done_rx);
        });
        match stopped {
            Some(e) => Err(e),
            None => Ok(received),
        }
    }

    fn incomplete(&self, received: usize, what: &str, why: String) -> Error {
        Error::Incomplete(format!(
            "{received} of {} {what} were done: {why}",
            self.total
        ))
    }
}

/// Results sent to the recording thread a few at a time: sending each wakes that thread, a
/// futex call and a context switch per item, which for small planes cost as much as reading
/// them. A result waits at most until its thread's next one (sent at once when the last send
/// is [`BATCH_WAIT`] old), and the rest go when the thread's work ends.
struct Batch<T> {
    items: Vec<T>,
    tx: mpsc::Sender<Vec<T>>,
    sent: Instant,
}

/// How long a thread keeps its results before it sends them.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Most results a thread keeps before it sends them.
const BATCH_MAX: usize = 256;

impl<T> Batch<T> {
    fn new(tx: mpsc::Sender<Vec<T>>) -> Self {
        Batch {
            items: Vec::new(),
            tx,
            sent: Instant::now(),
        }
    }

    fn push(&mut self, item: T) {
        self.items.push(item);
        if self.items.len() >= BATCH_MAX || self.sent.elapsed() >= BATCH_WAIT {
            self.send();
        }
    }

    fn send(&mut self) {
        if !self.items.is_empty() {
            // A closed channel: the run stopped, and these results are not wanted.
            let _ = self.tx.send(std::mem::take(&mut self.items));
        }
        self.sent = Instant::now();
    }
}

impl<T> Clone for Batch<T> {
    fn clone(&self) -> Self {
        Batch::new(self.tx.clone())
    }
}

impl<T> Drop for Batch<T> {
    fn drop(&mut self) {
        self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Results come in batches but every one is recorded, with progress after each; a run
    /// stopped by its record takes no more items (a huge iterator is not drained).
    #[test]
    fn inline_runs_record_every_result_and_stop_taking_items() {
        let mut seen = 0;
        let mut progress = |p: Progress| seen = p.done;
        let mut runner =
            Runner::new("test", Some(2), 4, Spread::Items, 5000, &mut progress).unwrap();
        let mut sum = 0u64;
        runner
            .run_inline(
                "items",
                0..5000u64,
                |_, &k| Ok(k * 2),
                |_, out| {
                    sum += out.unwrap();
                    Flow::Go
                },
            )
            .unwrap();
        drop(runner);
        assert_eq!((sum, seen), (4999 * 5000, 5000));

        let taken = AtomicUsize::new(0);
        let mut quiet = |_: Progress| {};
        let mut runner =
            Runner::new("test", Some(2), 4, Spread::Items, usize::MAX, &mut quiet).unwrap();
        let mut recorded = 0;
        let err = runner
            .run_inline(
                "items",
                (0..u64::MAX).inspect(|_| {
                    taken.fetch_add(1, Ordering::Relaxed);
                }),
                |_, &k| Ok(k),
                |_, _| {
                    recorded += 1;
                    if recorded == 100 {
                        Flow::Stop(Error::Interrupted("enough".into()))
                    } else {
                        Flow::Go
                    }
                },
            )
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted(_)), "{err}");
        assert!(
            taken.load(Ordering::Relaxed) < 1_000_000,
            "the items were drained"
        );
    }
}
