//! Which planes a segmentation job reads, and the stream that reads them: tens of chunk
//! requests in flight, planes delivered in completion order.

use std::fmt;
use std::ops::Range;

use futures::{Stream, StreamExt};

use crate::ngff::FetchedPlane;
use crate::ngff::Pixels;
use crate::{Error, Result};

/// Planes read but not yet segmented, at most this many bytes by default.
const READ_AHEAD_BYTES: usize = 64 << 20;

/// A plane's coordinates; shown as the tutorial names planes (`t:0, c:1, z:17`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PlaneKey {
    pub(crate) t: usize,
    pub(crate) c: usize,
    pub(crate) z: usize,
}

impl fmt::Display for PlaneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::segment::plane_name(self.t, self.c, self.z))
    }
}

/// The planes of a job: its t, c and z ranges inside the level.
#[derive(Clone, Debug)]
pub(crate) struct Planes {
    t: Range<usize>,
    c: Range<usize>,
    z: Range<usize>,
    /// (t, c, z) sizes of the level, and one bit per plane of it already done (skipped).
    level: [usize; 3],
    done: Option<std::sync::Arc<Vec<u64>>>,
}

fn clip(r: &Option<Range<usize>>, n: usize, axis: &str) -> Result<Range<usize>> {
    match r {
        None => Ok(0..n),
        Some(r) if r.start <= r.end && r.end <= n => Ok(r.clone()),
        Some(r) => Err(Error::OutOfBounds(format!(
            "{axis} range {}..{} outside 0..{n}",
            r.start, r.end
        ))),
    }
}

impl Planes {
    /// The asked ranges (all of an axis when `None`), checked against the level's shape.
    pub(crate) fn new(
        shape: [usize; 5],
        t: &Option<Range<usize>>,
        c: &Option<Range<usize>>,
        z: &Option<Range<usize>>,
    ) -> Result<Self> {
        Ok(Planes {
            t: clip(t, shape[0], "t")?,
            c: clip(c, shape[1], "c")?,
            z: clip(z, shape[2], "z")?,
            level: [shape[0], shape[1], shape[2]],
            done: None,
        })
    }

    /// Skip the planes whose bit is set in `done` (one bit per plane of the level, raster order).
    pub(crate) fn skip_done(&mut self, done: Vec<u64>) {
        self.done = Some(std::sync::Arc::new(done));
    }

    /// The planes still to do: all of them, less those skipped.
    pub(crate) fn todo(&self) -> impl Iterator<Item = PlaneKey> + Send + 'static {
        let done = self.done.clone();
        let [_, nc, nz] = self.level;
        self.keys().filter(move |k| {
            done.as_ref().is_none_or(|bits| {
                let i = ((k.t * nc) + k.c) * nz + k.z;
                bits.get(i / 64).is_none_or(|w| w & (1 << (i % 64)) == 0)
            })
        })
    }

    /// Whether plane (t, c, z) is in the job's ranges (done or not).
    pub(crate) fn contains(&self, t: usize, c: usize, z: usize) -> bool {
        self.t.contains(&t) && self.c.contains(&c) && self.z.contains(&z)
    }

    /// How many planes are still to do.
    pub(crate) fn todo_len(&self) -> usize {
        match &self.done {
            None => self.len(),
            Some(_) => self.todo().count(),
        }
    }

    /// How many planes (each range is within a level whose element count was checked).
    pub(crate) fn len(&self) -> usize {
        self.t.len() * self.c.len() * self.z.len()
    }

    /// (t, c, z) in raster order, lazily.
    fn keys(&self) -> impl Iterator<Item = PlaneKey> + Send + 'static {
        let (c, z) = (self.c.clone(), self.z.clone());
        self.t.clone().flat_map(move |t| {
            let z = z.clone();
            c.clone()
                .flat_map(move |c| z.clone().map(move |z| PlaneKey { t, c, z }))
        })
    }

    /// Every plane still to do fetched from `px` (its chunks' stored bytes, decoded by the
    /// worker that segments it), at most `window` at once, in completion order.
    pub(crate) fn read(
        &self,
        px: &Pixels,
        window: usize,
    ) -> impl Stream<Item = (PlaneKey, Result<FetchedPlane>)> + Send + 'static {
        let px = px.clone();
        futures::stream::iter(self.todo())
            .map(move |k| {
                let px = px.clone();
                async move { (k, px.fetch_plane_async(k.t, k.c, k.z).await) }
            })
            .buffer_unordered(window.max(1))
    }
}

/// The read-ahead window: `asked`, else `4 x threads + concurrency` planes cut to
/// [`READ_AHEAD_BYTES`] of planes, and always a few per thread.
///
/// Read-ahead keeps the network busy; for big planes it is also memory that is never reused
/// while it waits (each plane freshly allocated and faulted in), hence the cut.
pub(crate) fn window(
    asked: Option<usize>,
    px: &Pixels,
    threads: usize,
    concurrency: usize,
) -> usize {
    let [_, _, _, ny, nx] = px.shape();
    let plane_bytes = ny
        .saturating_mul(nx)
        .saturating_mul(px.dtype().size())
        .max(1);
    let by_memory = (READ_AHEAD_BYTES / plane_bytes).max(2 * threads + 1);
    asked
        .unwrap_or((4 * threads + concurrency).min(by_memory))
        .max(1)
}
