//! The work on one plane: the tutorial's recipe, and the plane's labels stored at once, so a
//! label image never waits in memory for a slower output.

use std::sync::Mutex;

use super::reader::PlaneKey;
use super::sink::Labels;
use crate::ndimage::{LabelScratch, RegionProps};
use crate::ngff::{FetchedPlane, Pixels};
use crate::segment::{segment_any_owned, Needs, SegmentParams};
use crate::Result;

/// What a plane leaves for the sink once its labels are stored: its count and measurements.
pub(crate) struct PlaneResult {
    pub(crate) count: usize,
    pub(crate) props: Vec<RegionProps>,
}

/// Segments planes with one set of parameters, reusing labelling scratch from plane to plane.
pub(crate) struct Worker<'a> {
    params: SegmentParams,
    needs: Needs,
    labels: Option<&'a Labels>,
    // Labelling scratch (a plane of u32 and the union-find forest), at most one per thread:
    // allocating it afresh costs a page fault per 4 KiB every plane, as the allocator hands
    // big blocks back to the OS on free. Dropped with the run, so a notebook keeps nothing.
    scratches: Mutex<Vec<LabelScratch>>,
}

impl<'a> Worker<'a> {
    pub(crate) fn new(params: SegmentParams, labels: Option<&'a Labels>, props: bool) -> Self {
        Worker {
            params,
            needs: Needs {
                labels: labels.is_some(),
                props,
            },
            labels,
            scratches: Mutex::new(Vec::new()),
        }
    }

    /// Fetch one plane on this thread (see [`crate::runtime::IoRuntime::run_here`]), then
    /// [`Worker::plane`].
    pub(crate) fn plane_here(&self, px: &Pixels, key: &PlaneKey) -> Result<PlaneResult> {
        let fetched = px
            .runtime()
            .run_here(px.fetch_plane_async(key.t, key.c, key.z))?;
        self.plane(key, fetched)
    }

    /// Decode one plane, segment it and store its labels.
    pub(crate) fn plane(&self, key: &PlaneKey, plane: FetchedPlane) -> Result<PlaneResult> {
        let plane = plane.decode()?;
        let mut scratch = self
            .scratches
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        // A panic leaves this frame with the scratch, so a scratch whose use panicked is
        // dropped, never reused.
        let seg = segment_any_owned(plane, &self.params, self.needs, &mut scratch);
        if let Ok(mut s) = self.scratches.lock() {
            s.push(scratch);
        }
        if let Some(labels) = self.labels {
            labels.write(key, seg.labels)?;
        }
        Ok(PlaneResult {
            count: seg.count,
            props: seg.props,
        })
    }
}
