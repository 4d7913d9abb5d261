//! The one place for threads: how many a call gets ([`threads`]), the pool a call builds
//! ([`Pool`]), what a caught panic becomes ([`catch`], [`panic_message`]), and the tokio runtime
//! for I/O ([`IoRuntime`]).
//!
//! Why one place: a notebook nests parallel work without thinking about it (a `Client` worker
//! runs `classify`, which is parallel itself). The rule here is that a call made on an omeflow
//! worker thread gets one thread unless it asks for more, so nesting never multiplies threads
//! beyond the cores. Workers are recognised by their thread name (`omeflow-...`), not by a
//! static, because evcxr gives every cell its own copy of omeflow's statics while threads
//! started in an earlier cell keep running.
//!
//! Pools are built for a call and dropped with it, never rayon's global pool, and the I/O
//! runtime lives inside the value that needs it: evcxr drops statics between cells and may
//! already run a tokio runtime (async mode), so blocking calls go through
//! [`IoRuntime::block_on`], which never nests `Runtime::block_on`.
use std::future::Future;
use std::sync::Arc;

use crate::{Error, Result};

/// Shared handle to the I/O runtime; cheap to clone.
#[derive(Clone)]
pub struct IoRuntime {
    inner: Arc<RuntimeCell>,
}

struct RuntimeCell {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for RuntimeCell {
    fn drop(&mut self) {
        // `Runtime::drop` panics inside an async context; `shutdown_background` never does.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for IoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoRuntime")
    }
}

impl IoRuntime {
    /// Build a runtime with `threads` worker threads (at least one).
    pub fn new(threads: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("omeflow-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the I/O runtime", e))?;
        Ok(Self {
            inner: Arc::new(RuntimeCell {
                runtime: Some(runtime),
            }),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        match &self.inner.runtime {
            Some(rt) => rt.handle(),
            // Only `Drop` takes the runtime, and a live `IoRuntime` keeps the cell alive.
            None => unreachable!("runtime taken before drop"),
        }
    }

    /// Run `fut` on this runtime and wait for it, from sync code, from inside another tokio
    /// runtime, or from a notebook cell. A panic inside `fut` comes back as an error.
    pub fn block_on<F, T>(&self, fut: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.handle().spawn(fut);
        match futures::executor::block_on(task) {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(Error::panicked("an I/O task", e.into_panic())),
            Err(_) => Err(Error::Storage {
                location: "I/O task".into(),
                reason: "cancelled".into(),
                source: None,
            }),
        }
    }

    /// Poll `fut` to its end on this thread, inside this runtime's context (what it spawns,
    /// its timers and its blocking calls use the runtime): for futures that mostly end without
    /// waiting, such as local reads from the page cache, where handing each to an I/O thread
    /// and back costs more than the read. Not for the runtime's own threads, which it would
    /// hold; a panic inside `fut` reaches the caller.
    pub fn run_here<F: Future>(&self, fut: F) -> F::Output {
        let _entered = self.handle().enter();
        let _blocking = BlockingHere::enter();
        futures::executor::block_on(fut)
    }

    /// Spawn a future onto this runtime.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(fut)
    }
}

thread_local! {
    /// Set while this thread waits in [`IoRuntime::run_here`].
    static BLOCKING_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread, for the length of a `run_here`, as one that waits for its I/O anyway.
struct BlockingHere(bool);

impl BlockingHere {
    fn enter() -> Self {
        BlockingHere(BLOCKING_HERE.with(|b| b.replace(true)))
    }
}

impl Drop for BlockingHere {
    fn drop(&mut self) {
        BLOCKING_HERE.with(|b| b.set(self.0));
    }
}

/// Whether this thread is inside [`IoRuntime::run_here`]: it waits for the future it polls
/// whatever that does, so a read that must wait on the disk is better done here than handed to
/// the blocking pool and waited for (a runtime's own threads are never inside it).
pub(crate) fn blocking_here() -> bool {
    BLOCKING_HERE.with(|b| b.get())
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    panic_text(payload.as_ref())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Run `f`, turning a panic into [`Error::Panicked`] naming `task` (called only on a panic,
/// so a label costs nothing when all goes well).
pub fn catch<T>(task: impl FnOnce() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Error::panicked(task(), payload)),
    }
}

/// Most worker threads a call may ask for: far above any machine's cores, far below what the
/// OS refuses to start. Larger requests are refused (`omeflow segment --threads`, classify) or
/// cut to it (`Compute::threads`).
pub const MAX_THREADS: usize = 1024;

/// The prefix of every thread omeflow starts for work; [`threads`] recognises its own workers
/// by it.
pub(crate) const WORKER_PREFIX: &str = "omeflow-";

/// The cores this process may use (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether the calling thread is one of omeflow's workers (a `Client` or `compute` worker, a
/// pool thread), whose cores are already counted.
pub fn on_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(WORKER_PREFIX) && !n.starts_with("omeflow-io"))
}

/// Bytes of memory this process can still take: the smaller of the system's available memory
/// (`MemAvailable`) and what is left under its cgroup's limit (a Binder pod, a Slurm job, a
/// container). `None` where neither can be read.
pub fn memory_available() -> Option<u64> {
    let system = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .and_then(|kb| kb.checked_mul(1024))
    });
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    // cgroup v2, then v1 (whose "no limit" is a huge number, which min() ignores).
    let cgroup = match (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(current)) => Some(max.saturating_sub(current)),
        _ => match (
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            read("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
        ) {
            (Some(max), Some(used)) => Some(max.saturating_sub(used)),
            _ => None,
        },
    };
    match (system, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Checks a thread count given by a caller: `None` (the default) or 1 to [`MAX_THREADS`].
pub fn check_threads(requested: Option<usize>) -> Result<()> {
    match requested {
        Some(n) if n == 0 || n > MAX_THREADS => Err(Error::InvalidArgument(format!(
            "threads must be between 1 and {MAX_THREADS}, got {n}; leave it unset to use all cores"
        ))),
        _ => Ok(()),
    }
}

/// The threads a call gets: what it asked for (checked), else every core, except on an
/// omeflow worker, where the default is 1 (the worker's own thread).
///
/// ```
/// assert_eq!(omeflow::runtime::threads(Some(3)).unwrap(), 3);
/// assert!(omeflow::runtime::threads(Some(0)).is_err());
/// assert_eq!(omeflow::runtime::threads(None).unwrap(), omeflow::runtime::cores());
/// ```
pub fn threads(requested: Option<usize>) -> Result<usize> {
    check_threads(requested)?;
    Ok(match requested {
        Some(n) => n,
        None if on_worker() => 1,
        None => cores(),
    })
}

/// A pool of threads built for one call and joined when dropped. With one thread it starts
/// none: the work runs on the calling thread, in order.
pub struct Pool {
    threads: usize,
    rayon: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads)
    }
}

impl Pool {
    /// A pool of [`threads`]`(requested)` threads named `omeflow-<name>-<i>`.
    pub fn new(name: &str, requested: Option<usize>) -> Result<Self> {
        let threads = threads(requested)?;
        if threads == 1 {
            return Ok(Pool {
                threads,
                rayon: None,
            });
        }
        let name = format!("{WORKER_PREFIX}{name}");
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .build()
            .map_err(|e| Error::Io {
                context: format!("starting {threads} worker threads"),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(Pool {
            threads,
            rayon: Some(rayon),
        })
    }

    /// Number of threads the work runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// `f` applied to every item, in parallel, results in item order.
    pub fn map<I, R, F>(&self, items: &[I], f: F) -> Vec<R>
    where
        I: Sync,
        R: Send,
        F: Fn(&I) -> R + Sync + Send,
    {
        use rayon::prelude::*;
        match &self.rayon {
            Some(pool) => pool.install(|| items.par_iter().map(&f).collect()),
            None => items.iter().map(f).collect(),
        }
    }

    /// `each` on every item the iterator yields, taken as threads become free; `state` makes
    /// the per-thread state `each` gets (a channel's sender, say).
    pub fn for_each<T, S, I, F>(&self, items: I, state: S, each: F)
    where
        T: Send,
        S: Clone + Send,
        I: Iterator<Item = T> + Send,
        F: Fn(&mut S, T) + Sync + Send,
    {
        match &self.rayon {
            Some(pool) => {
                // Each thread takes the next item as it comes free, holding the lock only to
                // take it: rayon's `par_bridge` splits the work into jobs and wakes sleeping
                // threads for them, several futex calls per item, which for items of a few
                // tens of microseconds (small planes) cost a tenth of the run.
                let items = std::sync::Mutex::new(items);
                let states: Vec<std::sync::Mutex<Option<S>>> = (0..pool.current_num_threads())
                    .map(|_| std::sync::Mutex::new(Some(state.clone())))
                    .collect();
                drop(state);
                pool.broadcast(|ctx| {
                    let Some(mut state) =
                        states.get(ctx.index()).and_then(|s| s.lock().ok()?.take())
                    else {
                        return;
                    };
                    loop {
                        let next = match items.lock() {
                            Ok(mut items) => items.next(),
                            Err(_) => None,
                        };
                        match next {
                            Some(item) => each(&mut state, item),
                            None => break,
                        }
                    }
                });
            }
            None => {
                let mut state = state;
                items.for_each(|item| each(&mut state, item))
            }
        }
    }
}

/// glibc's `malloc` thresholds that [`keep_freed_memory`] sets, also written into the
/// kernelspec by `kernel/install` (as `GLIBC_TUNABLES`) for the kernel's cell process.
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// See [`MMAP_THRESHOLD`].
pub const TRIM_THRESHOLD: usize = 64 << 20;

/// Let the process keep memory it frees for its next allocations, up to
/// [`TRIM_THRESHOLD`] per arena: glibc's defaults hand blocks over 128 KiB back to the OS
/// at each `free`, so a run that allocates a plane's buffers, a chunk's bytes and zstd's
/// context per plane or chunk paid a page fault per 4 KiB of each, again and again (40 % of
/// a level-4 run's time). Called by the binaries at start; a library leaves a host process's
/// allocator alone. Does nothing off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it takes the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_works_inside_another_runtime() {
        let io = IoRuntime::new(1).unwrap();
        let outer = tokio::runtime::Runtime::new().unwrap();
        let io2 = io.clone();
        let v = outer.block_on(async move { io2.block_on(async { Ok(41 + 1) }) });
        assert_eq!(v.unwrap(), 42);
    }

    /// Only the thread inside `run_here` is marked, for as long as it is there.
    #[test]
    fn run_here_marks_its_thread_while_it_waits() {
        let io = IoRuntime::new(1).unwrap();
        assert!(!blocking_here());
        assert!(io.run_here(async { blocking_here() }));
        assert!(!blocking_here());
        let spawned = io.block_on(async { Ok(blocking_here()) }).unwrap();
        assert!(!spawned, "a runtime thread is never marked");
    }

    #[test]
    fn dropping_inside_async_context_does_not_panic() {
        let outer = tokio::runtime::Runtime::new().unwrap();
        outer.block_on(async {
            let io = IoRuntime::new(1).unwrap();
            drop(io);
        });
    }

    #[test]
    fn a_worker_thread_defaults_to_one_thread() {
        let inner = std::thread::Builder::new()
            .name("omeflow-client-0".into())
            .spawn(|| (threads(None).unwrap(), threads(Some(2)).unwrap()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(inner, (1, 2));
        let io = std::thread::Builder::new()
            .name("omeflow-io".into())
            .spawn(|| threads(None).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(io, cores());
    }

    /// Every item goes to exactly one thread, and each thread's state is dropped when the
    /// items run out (a batching sender flushes then).
    #[test]
    fn for_each_hands_every_item_once_and_drops_each_state() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Flush<'a>(&'a AtomicUsize, std::sync::mpsc::Sender<Vec<u32>>, Vec<u32>);
        impl Clone for Flush<'_> {
            fn clone(&self) -> Self {
                Flush(self.0, self.1.clone(), Vec::new())
            }
        }
        impl Drop for Flush<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
                let _ = self.1.send(std::mem::take(&mut self.2));
            }
        }
        let drops = AtomicUsize::new(0);
        let pool = Pool::new("test", Some(3)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.for_each(0..10_000u32, Flush(&drops, tx, Vec::new()), |s, i| {
            s.2.push(i)
        });
        let mut got: Vec<u32> = rx.iter().flatten().collect();
        got.sort_unstable();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        // The original and one clone per thread.
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_pool_of_one_runs_on_the_caller() {
        let pool = Pool::new("t", Some(1)).unwrap();
        let me = std::thread::current().id();
        assert!(pool
            .map(&[1, 2, 3], |_| std::thread::current().id() == me)
            .iter()
            .all(|&b| b));
        let pool = Pool::new("t", Some(2)).unwrap();
        let names = pool.map(&[1, 2], |_| std::thread::current().name().map(String::from));
        assert!(names
            .iter()
            .all(|n| n.as_deref().is_some_and(|n| n.starts_with("omeflow-t-"))));
    }

    #[test]
    fn catch_names_the_task() {
        let r: Result<()> = catch(|| "t:1, c:0, z:2".into(), || panic!("boom"));
        match r {
            Err(Error::Panicked { task, message }) => {
                assert_eq!((task.as_str(), message.as_str()), ("t:1, c:0, z:2", "boom"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn panic_in_task_is_an_error() {
        let io = IoRuntime::new(1).unwrap();
        let r: Result<()> = io.block_on(async { panic!("boom") });
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("boom"), "{msg}");
    }
}
