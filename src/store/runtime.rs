//! A tokio runtime owned by a store handle, usable from any thread and any context.
//!
//! evcxr drops statics between cells and may already run a tokio runtime (async mode), so the
//! runtime lives inside the value that needs it and blocking calls go through
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
            Err(e) => Err(Error::Storage {
                location: "I/O task".into(),
                reason: if e.is_panic() {
                    format!("panicked: {}", panic_message(e.into_panic()))
                } else {
                    "cancelled".into()
                },
            }),
        }
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

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
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

    #[test]
    fn dropping_inside_async_context_does_not_panic() {
        let outer = tokio::runtime::Runtime::new().unwrap();
        outer.block_on(async {
            let io = IoRuntime::new(1).unwrap();
            drop(io);
        });
    }

    #[test]
    fn panic_in_task_is_an_error() {
        let io = IoRuntime::new(1).unwrap();
        let r: Result<()> = io.block_on(async { panic!("boom") });
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("boom"), "{msg}");
    }
}
