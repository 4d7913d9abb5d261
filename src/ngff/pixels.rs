//! `Pixels`: one resolution level of an image, lazy and cheap to clone, read by plane or region.
//!
//! Reads fetch every chunk that overlaps the request, many requests in flight at once for
//! remote stores, decode them (zarrs), and copy the overlaps into an ndarray normalised to
//! (t, c, z, y, x). Chunks that do not exist read as the array's fill value.

use std::ops::Range;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use ndarray::{Array2, Array5, ArrayD, IxDyn, Slice};
use zarrs::array::ArraySubset;

use super::array::ZArray;
use super::dtype::{AnyArray, DType, Element};
use crate::store::Store;
use crate::{Error, Result};

/// Default limit for one read: 2 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 2 << 30;

/// The most elements one image level may declare: 2^52, a 4-petabyte uint8 image. Larger
/// shapes come from corrupt or hostile metadata, and their element counts approach the
/// limits of u64 and f64 arithmetic.
pub const MAX_ELEMENTS: u64 = 1 << 52;

/// The most bytes one decoded chunk may hold: 1 GiB. A chunk is decoded whole in memory,
/// several at once, so a larger declared chunk is refused when the level is opened rather
/// than allocated when it is read.
pub const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// Which of a level's declared sizes [`check_sizes`] refuses. A reader reports it as
/// invalid metadata, a writer as an image it cannot write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SizeError {
    /// More than [`MAX_ELEMENTS`] elements.
    Elements { shape: [usize; 5] },
    /// One (y, x) plane larger than memory can hold.
    Plane { shape: [usize; 5] },
    /// One chunk larger than [`MAX_CHUNK_BYTES`].
    Chunk { chunks: [usize; 5] },
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeError::Elements { shape } => write!(
                f,
                "shape {shape:?} declares more than 2^52 elements; the metadata is corrupt"
            ),
            SizeError::Plane { shape } => {
                write!(
                    f,
                    "a (y, x) plane of shape {shape:?} does not fit in memory"
                )
            }
            SizeError::Chunk { chunks } => write!(
                f,
                "chunks of shape {chunks:?} hold more than {} MiB each; omeflow reads chunks of \
                 at most that size",
                MAX_CHUNK_BYTES >> 20
            ),
        }
    }
}

/// Check a level's declared sizes before anything is allocated or looped over from them:
/// the element count, one plane's bytes and one chunk's bytes.
pub(crate) fn check_sizes(
    shape: [usize; 5],
    chunks: [usize; 5],
    elem_size: usize,
) -> std::result::Result<(), SizeError> {
    let product = |dims: &[usize]| {
        dims.iter()
            .try_fold(1u64, |acc, &n| acc.checked_mul(n as u64))
    };
    match product(&shape) {
        Some(n) if n <= MAX_ELEMENTS => {}
        _ => return Err(SizeError::Elements { shape }),
    }
    let plane = product(&shape[3..]).and_then(|n| n.checked_mul(elem_size as u64));
    if plane.is_none_or(|b| b > usize::MAX as u64 / 2) {
        return Err(SizeError::Plane { shape });
    }
    match product(&chunks).and_then(|n| n.checked_mul(elem_size as u64)) {
        Some(b) if b <= MAX_CHUNK_BYTES => Ok(()),
        _ => Err(SizeError::Chunk { chunks }),
    }
}

/// A region of an image in (t, c, z, y, x) coordinates, half-open ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region(pub [Range<usize>; 5]);

impl Region {
    /// The whole of an image of `shape`.
    pub fn all(shape: [usize; 5]) -> Self {
        Region(shape.map(|n| 0..n))
    }
    /// One (t, c, z) plane of an image of `shape`.
    pub fn plane(shape: [usize; 5], t: usize, c: usize, z: usize) -> Self {
        // Saturating: an index at usize::MAX gives an empty range that the bounds check refuses.
        let one = |i: usize| i..i.saturating_add(1);
        Region([one(t), one(c), one(z), 0..shape[3], 0..shape[4]])
    }
    /// The region's shape.
    pub fn shape(&self) -> [usize; 5] {
        std::array::from_fn(|i| self.0[i].end.saturating_sub(self.0[i].start))
    }
    /// Number of elements; `u64::MAX` when the count does not fit (so any budget refuses it).
    pub fn len(&self) -> u64 {
        self.shape()
            .iter()
            .try_fold(1u64, |acc, &n| acc.checked_mul(n as u64))
            .unwrap_or(u64::MAX)
    }
    /// Whether the region holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Inner {
    store: Store,
    array: ZArray,
    dtype: DType,
    level: usize,
    /// How many levels the image has (this is one of them).
    levels: usize,
    path: String,
    /// For each stored dimension, its slot in (t, c, z, y, x).
    slots: Vec<usize>,
    shape5: [usize; 5],
    chunks5: [usize; 5],
    scale5: [f64; 5],
    sharded: bool,
    /// The compressors, to bound what a chunk decodes to.
    layers: super::chunk::Layers,
}

/// One resolution level of an OME-Zarr image: lazy, cheap to clone, safe to share across threads.
///
/// ```no_run
/// # use omeflow::prelude::*;
/// # fn main() -> omeflow::Result<()> {
/// let image = open_image("sample.ome.zarr")?;
/// let data = image.level(0)?;
/// let [t, c, z, y, x] = data.shape();
/// let plane = data.plane(0, 1, z / 2)?;            // native type (u16 here)
/// let smooth_input = data.plane_f64(0, 1, z / 2)?; // converted
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pixels {
    inner: Arc<Inner>,
    budget: u64,
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pixels")
            .field("location", &self.location())
            .field("level", &self.inner.level)
            .field("shape", &self.inner.shape5)
            .field("chunks", &self.inner.chunks5)
            .field("dtype", &self.inner.dtype)
            .finish()
    }
}

impl Pixels {
    pub(crate) fn new(
        store: Store,
        (array, layers): (ZArray, super::chunk::Layers),
        dtype: DType,
        (level, levels): (usize, usize),
        path: String,
        slots: Vec<usize>,
        scale5: [f64; 5],
    ) -> Result<Self> {
        let mut shape5 = [1usize; 5];
        let mut chunks5 = [1usize; 5];
        let origin = vec![0u64; slots.len()];
        let chunk0 = array
            .chunk_shape(&origin)
            .map_err(|e| Error::InvalidMetadata {
                location: store.describe(&path),
                reason: e.to_string(),
            })?;
        let bad = |reason: String| Error::InvalidMetadata {
            location: store.describe(&path),
            reason,
        };
        for (i, &slot) in slots.iter().enumerate() {
            shape5[slot] = usize::try_from(array.shape()[i])
                .map_err(|_| bad(format!("axis {i} of {} is too long", array.shape()[i])))?;
            chunks5[slot] = usize::try_from(chunk0[i].get())
                .map_err(|_| bad(format!("chunk axis {i} of {} is too long", chunk0[i])))?;
        }
        check_sizes(shape5, chunks5, dtype.size()).map_err(|e| bad(e.to_string()))?;
        let sharded = match array.metadata() {
            zarrs::array::ArrayMetadata::V3(m) => {
                m.codecs.iter().any(|c| c.name() == "sharding_indexed")
            }
            _ => false,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                sharded,
                layers,
                store,
                array,
                dtype,
                level,
                levels,
                path,
                slots,
                shape5,
                chunks5,
                scale5,
            }),
            budget: DEFAULT_MEMORY_BUDGET,
        })
    }

    /// Shape as (t, c, z, y, x); absent axes have size 1.
    pub fn shape(&self) -> [usize; 5] {
        self.inner.shape5
    }
    /// Chunk shape as (t, c, z, y, x), as stored (edge chunks may be cut by the shape).
    pub fn chunks(&self) -> [usize; 5] {
        self.inner.chunks5
    }
    /// Pixel type.
    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }
    /// Resolution level index (0 is full resolution).
    pub fn level(&self) -> usize {
        self.inner.level
    }
    /// Physical pixel size along (t, c, z, y, x), 1.0 where not given.
    pub fn scale(&self) -> [f64; 5] {
        self.inner.scale5
    }
    /// How many resolution levels the image has (this level is one of them).
    pub fn level_count(&self) -> usize {
        self.inner.levels
    }
    /// Where the level's array lives.
    pub fn location(&self) -> String {
        self.inner.store.describe(&self.inner.path)
    }
    /// Where the image this level belongs to lives (its root, which holds every level).
    pub fn image_location(&self) -> &str {
        self.inner.store.location()
    }
    /// Number of (t, c, z) planes.
    pub fn plane_count(&self) -> usize {
        // Checked when the level was opened (`check_sizes`).
        let [t, c, z, _, _] = self.shape();
        t * c * z
    }
    /// Size of the whole level in bytes, uncompressed (`u64::MAX` if that does not fit).
    pub fn nbytes(&self) -> u64 {
        Region::all(self.shape())
            .len()
            .saturating_mul(self.dtype().size() as u64)
    }
    /// The memory budget of one read, in bytes.
    pub fn memory_budget(&self) -> u64 {
        self.budget
    }
    /// The same pixels with another memory budget for one read.
    pub fn with_memory_budget(&self, bytes: u64) -> Self {
        Self {
            inner: self.inner.clone(),
            budget: bytes,
        }
    }

    /// One (t, c, z) plane in the native type, as a (y, x) array.
    pub fn plane(&self, t: usize, c: usize, z: usize) -> Result<AnyArray<ndarray::Ix2>> {
        if self.is_local() && tokio::runtime::Handle::try_current().is_err() {
            // A local plane is read and decoded on this thread (from the page cache, mostly):
            // handing it to an I/O thread and waiting cost a wake-up each way per plane, which
            // for the small planes of a whole-image `compute` was a third of its time.
            let fetched = self.runtime().run_here(self.fetch_plane_async(t, c, z))?;
            return fetched.decode();
        }
        Ok(with_plane_dtype(self.region(&Region::plane(
            self.shape(),
            t,
            c,
            z,
        ))?))
    }

    /// Async form of [`Pixels::plane`], for callers already on a runtime.
    pub async fn plane_async(
        &self,
        t: usize,
        c: usize,
        z: usize,
    ) -> Result<AnyArray<ndarray::Ix2>> {
        Ok(with_plane_dtype(
            self.region_async(&Region::plane(self.shape(), t, c, z))
                .await?,
        ))
    }

    /// Whether the level is in a local folder (its chunks are files of this machine).
    pub fn is_local(&self) -> bool {
        self.inner.store.local_root().is_some()
    }

    /// The runtime that drives this level's I/O.
    pub fn runtime(&self) -> &crate::store::IoRuntime {
        self.inner.store.runtime()
    }

    /// One plane as `T`, which must be the native type.
    pub fn plane_as<T: Element>(&self, t: usize, c: usize, z: usize) -> Result<Array2<T>> {
        self.plane(t, c, z)?.into_typed::<T>()
    }

    /// One plane converted to f64.
    pub fn plane_f64(&self, t: usize, c: usize, z: usize) -> Result<Array2<f64>> {
        Ok(self.plane(t, c, z)?.to_f64())
    }

    /// One plane converted to f32.
    pub fn plane_f32(&self, t: usize, c: usize, z: usize) -> Result<Array2<f32>> {
        Ok(self.plane(t, c, z)?.to_f32())
    }

    /// A (t, c, z, y, x) region in the native type.
    pub fn region(&self, region: &Region) -> Result<AnyArray<ndarray::Ix5>> {
        self.check(region)?;
        let this = self.clone();
        let region = region.clone();
        self.inner
            .store
            .runtime()
            .block_on(async move { this.region_async(&region).await })
    }

    /// A region as `T`, which must be the native type.
    pub fn region_as<T: Element>(&self, region: &Region) -> Result<Array5<T>> {
        self.region(region)?.into_typed::<T>()
    }

    /// A region converted to f64.
    pub fn region_f64(&self, region: &Region) -> Result<Array5<f64>> {
        Ok(self.region(region)?.to_f64())
    }

    /// A region converted to f32.
    pub fn region_f32(&self, region: &Region) -> Result<Array5<f32>> {
        Ok(self.region(region)?.to_f32())
    }

    /// The whole level, if it fits the memory budget.
    pub fn read_all(&self) -> Result<AnyArray<ndarray::Ix5>> {
        self.region(&Region::all(self.shape()))
    }

    fn check(&self, region: &Region) -> Result<()> {
        let shape = self.shape();
        for (k, r) in region.0.iter().enumerate() {
            if r.start > r.end || r.end > shape[k] {
                return Err(Error::OutOfBounds(format!(
                    "{} range {}..{} outside 0..{} of {}",
                    super::AXES5[k],
                    r.start,
                    r.end,
                    shape[k],
                    self.location()
                )));
            }
        }
        let needed = region.len().saturating_mul(self.dtype().size() as u64);
        if needed > self.budget {
            return Err(Error::MemoryBudget {
                what: format!("{:?} of {}", region.shape(), self.location()),
                needed_bytes: needed,
                budget_bytes: self.budget,
            });
        }
        Ok(())
    }

    /// Async form of [`Pixels::region`], for callers already on a runtime.
    pub async fn region_async(&self, region: &Region) -> Result<AnyArray<ndarray::Ix5>> {
        self.check(region)?;
        crate::with_dtype!(self.dtype(), T => Ok(T::wrap(self.read_typed::<T>(region).await?)))
    }

    /// The region's subset of the stored array (in stored axis order).
    fn subset(&self, region: &Region) -> ArraySubset {
        let ranges: Vec<Range<u64>> = self
            .inner
            .slots
            .iter()
            .map(|&s| region.0[s].start as u64..region.0[s].end as u64)
            .collect();
        ArraySubset::new_with_ranges(&ranges)
    }

    /// The chunks the region overlaps, by index.
    fn chunks_of(&self, subset: &ArraySubset) -> Result<Vec<Vec<u64>>> {
        let chunks = self
            .inner
            .array
            .chunks_in_array_subset(subset)
            .map_err(|e| self.invalid(e))?
            .ok_or_else(|| self.invalid("the region does not map onto the chunk grid"))?;
        Ok(chunks.indices().into_iter().map(|i| i.to_vec()).collect())
    }

    async fn read_typed<T: Element>(&self, region: &Region) -> Result<Array5<T>> {
        let subset = self.subset(region);
        let mut out = Assembler::<T>::new(self, region, &subset);
        if region.is_empty() {
            return out.finish();
        }
        let jobs = self.chunks_of(&subset)?.into_iter().map(|idx| {
            let this = self.clone();
            let subset = subset.clone();
            let key = self.chunk_key(&idx);
            // A task per chunk, so decoding runs on all I/O threads while others wait on the network.
            let task = self
                .inner
                .store
                .runtime()
                .spawn(async move { this.read_chunk_part::<T>(&idx, &subset).await });
            let location = self.inner.store.location().to_string();
            async move {
                task.await.map_err(|e| Error::CorruptChunk {
                    location,
                    key,
                    reason: if e.is_panic() {
                        decoding_panicked(e.into_panic())
                    } else {
                        "the read was cancelled".into()
                    },
                })?
            }
        });
        let mut parts =
            futures::stream::iter(jobs).buffer_unordered(self.inner.store.concurrency());
        while let Some((overlap, data, in_data)) = parts.try_next().await? {
            out.add(&overlap, &data, &in_data)?;
        }
        out.finish()
    }

    /// One plane with its chunks fetched but not decoded: see [`FetchedPlane`].
    pub(crate) async fn fetch_plane_async(
        &self,
        t: usize,
        c: usize,
        z: usize,
    ) -> Result<FetchedPlane> {
        let region = Region::plane(self.shape(), t, c, z);
        self.check(&region)?;
        if self.inner.sharded || region.is_empty() {
            // Shards are read partially, decoding as they go: nothing to leave for later.
            let plane = self.plane_async(t, c, z).await?;
            return Ok(FetchedPlane {
                px: self.clone(),
                region,
                state: Fetch::Decoded(plane),
            });
        }
        let subset = self.subset(&region);
        let fetches = self.chunks_of(&subset)?.into_iter().map(|idx| async move {
            let encoded = self.fetch_chunk(&idx).await?;
            Ok::<_, Error>((idx, encoded))
        });
        let chunks = futures::stream::iter(fetches)
            .buffer_unordered(self.inner.store.concurrency())
            .try_collect()
            .await?;
        Ok(FetchedPlane {
            px: self.clone(),
            region,
            state: Fetch::Chunks(chunks),
        })
    }

    /// The part of chunk `idx` inside `subset`, from its stored bytes.
    fn decode_part<T: Element>(
        &self,
        idx: &[u64],
        subset: &ArraySubset,
        encoded: Option<bytes::Bytes>,
    ) -> Result<(ArraySubset, Decoded<T>, Vec<Range<u64>>)> {
        let (overlap, in_chunk) = self.overlap(idx, subset)?;
        let (bytes, shape) = self.decode_chunk(idx, encoded)?;
        let bytes = bytes.into_fixed().map_err(|e| self.invalid(e))?;
        let shape = shape.iter().map(|n| n.get() as usize).collect();
        Ok((
            overlap,
            Decoded::Bytes { bytes, shape },
            in_chunk.to_ranges(),
        ))
    }

    /// Where chunk `idx` meets `subset`: in the array, and relative to the chunk.
    fn overlap(&self, idx: &[u64], subset: &ArraySubset) -> Result<(ArraySubset, ArraySubset)> {
        let chunk = self
            .inner
            .array
            .chunk_subset_bounded(idx)
            .map_err(|e| self.invalid(e))?;
        let overlap = chunk.overlap(subset).map_err(|e| self.invalid(e))?;
        let in_chunk = overlap
            .relative_to(chunk.start())
            .map_err(|e| self.invalid(e))?;
        Ok((overlap, in_chunk))
    }

    async fn read_chunk_part<T: Element>(
        &self,
        idx: &[u64],
        subset: &ArraySubset,
    ) -> Result<(ArraySubset, Decoded<T>, Vec<Range<u64>>)> {
        if !self.inner.sharded {
            // A compressed chunk is fetched whole anyway; asking for a part would cost a HEAD
            // and a ranged GET (two round trips) for every edge chunk.
            // The decoded bytes are kept as they are: turning them into an ndarray would
            // zero-fill a new buffer and copy every byte into it, only for the caller to copy
            // them once more into the output (which cuts the part out while copying).
            let encoded = self.fetch_chunk(idx).await?;
            return self.decode_part(idx, subset, encoded);
        }
        // Shards are read partially: only the inner chunks that overlap are fetched.
        let (overlap, in_chunk) = self.overlap(idx, subset)?;
        let part = self
            .inner
            .array
            .async_retrieve_chunk_subset::<ArrayD<T>>(idx, &in_chunk)
            .await
            .map_err(|e| self.chunk_error(idx, e))?;
        let whole = part.shape().iter().map(|&n| 0..n as u64).collect();
        Ok((overlap, Decoded::Array(part), whole))
    }

    /// A chunk's declared shape and decoded size, refused past [`MAX_CHUNK_BYTES`].
    fn chunk_size(&self, idx: &[u64]) -> Result<(zarrs::array::ChunkShape, u64, u64)> {
        let shape = self
            .inner
            .array
            .chunk_shape(idx)
            .map_err(|e| self.invalid(e))?;
        let elements = shape.iter().try_fold(1u64, |n, d| n.checked_mul(d.get()));
        let decoded_len = elements
            .and_then(|n| n.checked_mul(self.inner.dtype.size() as u64))
            .filter(|&b| b <= MAX_CHUNK_BYTES)
            .ok_or_else(|| self.invalid(format!("chunk {idx:?} is too large to read")))?;
        Ok((shape, elements.unwrap_or(0), decoded_len))
    }

    /// A chunk's stored bytes, `None` when it is not stored (the fill value).
    async fn fetch_chunk(&self, idx: &[u64]) -> Result<Option<bytes::Bytes>> {
        // Before the request: a chunk too large to decode is not worth fetching.
        self.chunk_size(idx)?;
        let key = self.chunk_key(idx);
        let encoded = self
            .inner
            .array
            .async_retrieve_encoded_chunk(idx)
            .await
            .map_err(|e| Error::Storage {
                location: self.inner.store.describe(&key),
                reason: crate::store::error_chain(&e),
                source: crate::store::clean_source(e),
            })?;
        // A missing chunk is the fill value, but a folder where a chunk file belongs is a
        // broken copy, not a missing chunk.
        if encoded.is_none() && self.inner.store.is_local_dir(&key) {
            return Err(self.corrupt(&key, "a folder where a chunk file belongs"));
        }
        Ok(encoded)
    }

    /// One whole chunk from its stored bytes, decoded by zarrs once they are known to decode
    /// to no more than the chunk's declared size (`super::chunk`); the fill value for `None`.
    /// Returns the chunk's shape beside its bytes.
    fn decode_chunk(
        &self,
        idx: &[u64],
        encoded: Option<bytes::Bytes>,
    ) -> Result<(zarrs::array::ArrayBytes<'static>, zarrs::array::ChunkShape)> {
        use zarrs::array::{ArrayBytes, ArrayToBytesCodecTraits, CodecOptions};
        let array = &self.inner.array;
        let (shape, elements, decoded_len) = self.chunk_size(idx)?;
        let key = self.chunk_key(idx);
        let Some(encoded) = encoded else {
            let fill = ArrayBytes::new_fill_value(array.data_type(), elements, array.fill_value())
                .map_err(|e| self.corrupt(&key, e))?;
            return Ok((fill, shape));
        };
        let at = super::chunk::ChunkAt {
            location: self.inner.store.location(),
            key: &key,
        };
        self.inner.layers.check(&encoded, decoded_len, at)?;
        let bytes = array
            .codecs()
            .decode(
                std::borrow::Cow::Owned(encoded.into()),
                &shape,
                array.data_type(),
                array.fill_value(),
                &CodecOptions::default(),
            )
            .map_err(|e| self.corrupt(&key, crate::store::error_chain(&e)))?;
        Ok((bytes.into_owned(), shape))
    }

    fn chunk_key(&self, idx: &[u64]) -> String {
        let key = self.inner.array.chunk_key(idx).to_string();
        key.trim_start_matches('/').to_string()
    }

    fn corrupt(&self, key: &str, reason: impl std::fmt::Display) -> Error {
        Error::CorruptChunk {
            location: self.inner.store.location().to_string(),
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Stored order -> (t, c, z, y, x), inserting size-1 axes for absent ones.
    fn to_5d<T: Element>(&self, a: ArrayD<T>, region: &Region) -> Array5<T> {
        let slots = &self.inner.slots;
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_key(|&i| slots[i]);
        let a = a.permuted_axes(IxDyn(&order));
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        let shape = region.shape();
        match a.into_shape_with_order(shape) {
            Ok(x) => x,
            // The element count is the region's by construction.
            Err(_) => unreachable!("region shape mismatch"),
        }
    }

    fn invalid(&self, e: impl std::fmt::Display) -> Error {
        Error::InvalidMetadata {
            location: self.location(),
            reason: e.to_string(),
        }
    }

    fn chunk_error(&self, idx: &[u64], e: zarrs::array::ArrayError) -> Error {
        use zarrs::array::ArrayError as A;
        let key = self.chunk_key(idx);
        let reason = crate::store::error_chain(&e);
        let storage = match &e {
            A::StorageError(_) => true,
            A::CodecError(c) => matches!(c, zarrs::array::CodecError::StorageError(_)),
            _ => false,
        };
        if storage {
            Error::Storage {
                location: self.inner.store.describe(&key),
                reason,
                source: crate::store::clean_source(e),
            }
        } else {
            Error::CorruptChunk {
                location: self.inner.store.location().to_string(),
                key,
                reason,
            }
        }
    }
}

/// The output of a region read, filled chunk part by chunk part.
struct Assembler<'a, T> {
    px: &'a Pixels,
    region: &'a Region,
    start: Vec<u64>,
    // Not zero-filled first: the chunk parts tile the region, and coverage is checked before
    // the buffer is used (a full-size plane is 9 MB of memset otherwise).
    out: ndarray::Array<std::mem::MaybeUninit<T>, IxDyn>,
    written: u64,
}

impl<'a, T: Element> Assembler<'a, T> {
    fn new(px: &'a Pixels, region: &'a Region, subset: &ArraySubset) -> Self {
        let shape: Vec<usize> = subset.shape().iter().map(|&n| n as usize).collect();
        Assembler {
            px,
            region,
            start: subset.start().to_vec(),
            out: ArrayD::<T>::uninit(IxDyn(&shape)),
            written: 0,
        }
    }

    /// Copy the part `in_data` of a decoded chunk to where it lies, `overlap`.
    fn add(
        &mut self,
        overlap: &ArraySubset,
        data: &Decoded<T>,
        in_data: &[Range<u64>],
    ) -> Result<()> {
        let px = self.px;
        let rel = overlap
            .relative_to(&self.start)
            .map_err(|e| px.invalid(e))?
            .to_ranges();
        let view = self.out.slice_each_axis_mut(|ax| {
            let r = &rel[ax.axis.index()];
            Slice::from(r.start as usize..r.end as usize)
        });
        // Straight from the decoded chunk: one copy per pixel, no intermediate array.
        let data = data.view(px)?;
        let part = data.slice_each_axis(|ax| {
            let r = &in_data[ax.axis.index()];
            Slice::from(r.start as usize..r.end as usize)
        });
        if part.shape() != view.shape() {
            return Err(px.invalid(format!(
                "chunk part of shape {:?} for a region part of shape {:?}",
                part.shape(),
                view.shape()
            )));
        }
        copy_rows(&part, view);
        self.written += part.len() as u64;
        Ok(())
    }

    fn finish(self) -> Result<Array5<T>> {
        if self.region.is_empty() {
            let shape = self.out.shape().to_vec();
            return Ok(self
                .px
                .to_5d(ArrayD::<T>::default(IxDyn(&shape)), self.region));
        }
        if self.written != self.region.len() {
            return Err(self.px.invalid(format!(
                "the chunks cover {} of the {} elements of the region",
                self.written,
                self.region.len()
            )));
        }
        // SAFETY: every element was written: the parts come from distinct chunks, so they
        // are disjoint, and their sizes add up to the region's.
        let out = unsafe { self.out.assume_init() };
        Ok(self.px.to_5d(out, self.region))
    }
}

/// A plane whose chunks are fetched but not decoded ([`Pixels::fetch_plane_async`]).
/// Decoding is CPU work: a batch run leaves it to the thread that segments the plane, where
/// the decoded pixels are used at once, instead of handing each chunk to an I/O thread and
/// back (for small planes those hand-offs cost more than the decoding).
pub(crate) struct FetchedPlane {
    px: Pixels,
    region: Region,
    state: Fetch,
}

enum Fetch {
    /// Read already (a sharded array, an empty plane).
    Decoded(AnyArray<ndarray::Ix2>),
    /// Each chunk's index and stored bytes (`None`: not stored).
    Chunks(Vec<(Vec<u64>, Option<bytes::Bytes>)>),
}

impl FetchedPlane {
    /// The plane, decoded: what [`Pixels::plane`] gives, errors included.
    pub(crate) fn decode(self) -> Result<AnyArray<ndarray::Ix2>> {
        let FetchedPlane { px, region, state } = self;
        let chunks = match state {
            Fetch::Decoded(plane) => return Ok(plane),
            Fetch::Chunks(chunks) => chunks,
        };
        let subset = px.subset(&region);
        crate::with_dtype!(px.dtype(), T => {
            let mut out = Assembler::<T>::new(&px, &region, &subset);
            for (idx, encoded) in chunks {
                let part = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    px.decode_part::<T>(&idx, &subset, encoded)
                }))
                .unwrap_or_else(|panic| {
                    Err(px.corrupt(&px.chunk_key(&idx), decoding_panicked(panic)))
                })?;
                out.add(&part.0, &part.1, &part.2)?;
            }
            Ok(with_plane_dtype(T::wrap(out.finish()?)))
        })
    }
}

/// Why a chunk is corrupt when zarrs panicked decoding it (it does on some corrupt data, a
/// shard index near 2^64): the chunk is reported, not the process lost.
fn decoding_panicked(payload: Box<dyn std::any::Any + Send>) -> String {
    format!(
        "decoding panicked: {}",
        crate::runtime::panic_message(payload)
    )
}

/// A decoded chunk: an array, or zarrs' fixed-size bytes (native byte order, C order) and
/// the chunk's shape.
enum Decoded<T> {
    Array(ArrayD<T>),
    Bytes {
        bytes: std::borrow::Cow<'static, [u8]>,
        shape: Vec<usize>,
    },
}

impl<T: Element> Decoded<T> {
    /// The chunk as elements of `T`, without copying when the bytes are aligned for `T`; a
    /// chunk that does not hold its shape is invalid metadata of `px`.
    fn view(&self, px: &Pixels) -> Result<ndarray::CowArray<'_, T, IxDyn>> {
        match self {
            Decoded::Array(a) => Ok(a.view().into()),
            Decoded::Bytes { bytes, shape } => {
                let n: usize = shape.iter().product();
                let size = std::mem::size_of::<T>();
                if bytes.len() != n * size {
                    return Err(px.invalid(format!(
                        "decoded chunk of {} bytes for {n} elements of {} bytes",
                        bytes.len(),
                        size
                    )));
                }
                // SAFETY: `Element` is implemented only for the plain integer and float types
                // of `DType` (its `wrap` needs an `AnyArray` variant), for which every bit
                // pattern is a valid value, and zarrs decodes to native byte order.
                let (head, elements, tail) = unsafe { bytes.align_to::<T>() };
                if head.is_empty() && tail.is_empty() {
                    return ndarray::ArrayViewD::from_shape(IxDyn(shape), elements)
                        .map(Into::into)
                        .map_err(|e| px.invalid(e));
                }
                // Unaligned bytes (allocators align, so this is rare): copy them out.
                let mut v: Vec<T> = Vec::with_capacity(n);
                // SAFETY: `v` has room for `n` elements, `n * size` bytes, which `bytes` holds
                // (checked above); any bit pattern is a valid `T` (see above).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        v.as_mut_ptr().cast::<u8>(),
                        n * size,
                    );
                    v.set_len(n);
                }
                ArrayD::from_shape_vec(IxDyn(shape), v)
                    .map(Into::into)
                    .map_err(|e| px.invalid(e))
            }
        }
    }
}

/// Copy `src` into `dst` (same shape) a row at a time: a memcpy per row when both rows are
/// contiguous, which an element-wise `assign` over dynamic dimensions is not.
fn copy_rows<T: Copy>(
    src: &ndarray::ArrayViewD<'_, T>,
    mut dst: ndarray::ArrayViewMutD<'_, std::mem::MaybeUninit<T>>,
) {
    // A chunk that is the whole region (one chunk per plane, as IDR's small levels are): one
    // run, where walking the rows of an n-dimensional view cost more than the copy itself.
    if let (Some(d), Some(s)) = (dst.as_slice_mut(), src.as_slice()) {
        if d.len() == s.len() {
            for (d, &s) in d.iter_mut().zip(s) {
                d.write(s);
            }
            return;
        }
    }
    for (mut d, s) in dst.rows_mut().into_iter().zip(src.rows()) {
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => {
                for (d, &s) in d.iter_mut().zip(s) {
                    d.write(s);
                }
            }
            _ => {
                for (d, &s) in d.iter_mut().zip(s.iter()) {
                    d.write(s);
                }
            }
        }
    }
}

fn with_plane_dtype(a: AnyArray<ndarray::Ix5>) -> AnyArray<ndarray::Ix2> {
    fn squeeze<T: Element>(a: Array5<T>) -> Array2<T> {
        let s = a.shape();
        let (y, x) = (s[3], s[4]);
        match a.into_shape_with_order((y, x)) {
            Ok(p) => p,
            Err(_) => unreachable!("a plane region has t = c = z = 1"),
        }
    }
    match a {
        AnyArray::U8(a) => AnyArray::U8(squeeze(a)),
        AnyArray::U16(a) => AnyArray::U16(squeeze(a)),
        AnyArray::U32(a) => AnyArray::U32(squeeze(a)),
        AnyArray::I8(a) => AnyArray::I8(squeeze(a)),
        AnyArray::I16(a) => AnyArray::I16(squeeze(a)),
        AnyArray::I32(a) => AnyArray::I32(squeeze(a)),
        AnyArray::F32(a) => AnyArray::F32(squeeze(a)),
        AnyArray::F64(a) => AnyArray::F64(squeeze(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local plane read on the calling thread (outside any runtime) is the plane the
    /// runtime's read gives (inside one): edge chunks, a missing chunk, several chunks a plane.
    #[test]
    fn local_planes_read_here_equal_the_runtimes_reads() {
        use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
        let dir = tempfile::tempdir().unwrap();
        for version in [NgffVersion::V0_4, NgffVersion::V0_5] {
            let loc = dir
                .path()
                .join(format!("p{version:?}.zarr"))
                .to_string_lossy()
                .into_owned();
            let spec = ImageSpec::new([1, 2, 3, 21, 34], DType::U16)
                .with_version(version)
                .with_chunks(8, 16);
            let w = ImageWriter::create(&loc, spec).unwrap();
            for c in 0..2 {
                for z in 0..3 {
                    if (c, z) == (1, 2) {
                        continue;
                    }
                    let p = Array2::from_shape_fn((21, 34), |(y, x)| {
                        (c * 1000 + z * 100 + y * 34 + x) as u16
                    });
                    w.write_plane(0, c, z, &p).unwrap();
                }
            }
            w.finish().unwrap();
            let px = crate::ngff::open_image(&loc).unwrap().level(0).unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            for c in 0..2 {
                for z in 0..3 {
                    let here = px.plane_as::<u16>(0, c, z).unwrap();
                    let _in_runtime = rt.enter();
                    let there = px.plane_as::<u16>(0, c, z).unwrap();
                    assert_eq!(here, there, "{version:?} c {c} z {z}");
                    assert_eq!(
                        here[(20, 33)],
                        if (c, z) == (1, 2) {
                            0
                        } else {
                            (c * 1000 + z * 100 + 20 * 34 + 33) as u16
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn a_chunk_the_store_cannot_read_is_a_storage_error_with_its_source() {
        use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("s.zarr").to_string_lossy().into_owned();
        let spec = ImageSpec::new([1, 1, 1, 4, 4], DType::U8).with_version(NgffVersion::V0_4);
        let w = ImageWriter::create(&loc, spec).unwrap();
        w.write_plane(0, 0, 0, &Array2::<u8>::ones((4, 4))).unwrap();
        let px = crate::ngff::open_image(&loc).unwrap().level(0).unwrap();
        // The chunk's folder becomes a file: the store fails to read the chunk below it.
        let level = dir.path().join("s.zarr/0/0");
        std::fs::remove_dir_all(&level).unwrap();
        std::fs::write(&level, b"not a folder").unwrap();
        let e = px.plane(0, 0, 0).unwrap_err();
        match &e {
            Error::Storage {
                source: Some(source),
                reason,
                ..
            } => {
                assert!(source.is::<zarrs::storage::StorageError>(), "{source:?}");
                assert!(reason.starts_with(&source.to_string()), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_sizes_say_which_with_their_texts() {
        let big = 1usize << 20;
        assert_eq!(check_sizes([1, 1, 1, 64, 64], [1, 1, 1, 64, 64], 2), Ok(()));
        let e = check_sizes([big, big, big, 1, 1], [1; 5], 1).unwrap_err();
        assert_eq!(
            e,
            SizeError::Elements {
                shape: [big, big, big, 1, 1]
            }
        );
        assert_eq!(
            e.to_string(),
            format!(
                "shape {:?} declares more than 2^52 elements; the metadata is corrupt",
                [big, big, big, 1, 1]
            )
        );
        // (A plane too large for memory needs more than 2^52 elements on 64-bit targets.)
        let e =
            check_sizes([1, 1, 1, 1 << 16, 1 << 16], [1, 1, 1, 1 << 16, 1 << 16], 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "chunks of shape [1, 1, 1, 65536, 65536] hold more than 1024 MiB each; omeflow reads \
             chunks of at most that size"
        );
    }
}
