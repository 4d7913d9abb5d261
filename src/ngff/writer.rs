//! Writing OME-Zarr images and label images: NGFF 0.4 on Zarr v2, or NGFF 0.5 on Zarr v3.
//!
//! Images are written plane by plane; every plane also fills the lower resolution levels
//! (each halving y and x, floor), so memory stays at one plane whatever the image size.
//!
//! ```no_run
//! use omeflow::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
//! use omeflow::ngff::DType;
//! # fn main() -> omeflow::Result<()> {
//! let spec = ImageSpec::new([1, 1, 1, 64, 64], DType::U16).with_version(NgffVersion::V0_4);
//! let w = ImageWriter::create("out.ome.zarr", spec)?;
//! w.write_plane(0, 0, 0, &ndarray::Array2::<u16>::zeros((64, 64)))?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use ndarray::{Array2, ArrayBase, Data, Ix2};
use serde_json::{json, Value};
use zarrs::array::{Array, ArrayMetadata, ArraySubset};
use zarrs_object_store::AsyncObjectStore;

use super::array::ZArray;
use super::dtype::{DType, Element};
use super::metadata::{Axis, Channel, AXES5};
use crate::store::Store;
use crate::{Error, Result};

/// Which NGFF version (and so which Zarr format) to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NgffVersion {
    /// NGFF 0.4 on Zarr v2 (`.zarray`, "/" chunk keys): what most tools read today.
    V0_4,
    /// NGFF 0.5 on Zarr v3 (`zarr.json`, metadata under `ome`).
    V0_5,
}

impl NgffVersion {
    fn as_str(self) -> &'static str {
        match self {
            NgffVersion::V0_4 => "0.4",
            NgffVersion::V0_5 => "0.5",
        }
    }
}

/// How to downsample a plane into the next level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Downsample {
    /// Mean of each 2 x 2 block (images).
    Mean,
    /// Top-left pixel of each 2 x 2 block (label images: keeps label values).
    Nearest,
}

/// The zstd level of [`Compression::Zstd`].
const ZSTD_LEVEL: i32 = 1;

/// How chunks are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Blosc with zstd at level 5 and byte shuffle (images: shuffling the bytes of smooth
    /// pixel values is what makes them compress).
    Blosc,
    /// Blosc with lz4 at level 5 and byte shuffle: what IDR's images hold. Larger than
    /// [`Compression::Blosc`] on disk, but it decodes several times faster, which counts when
    /// small chunks are read by the million.
    BloscLz4,
    /// zstd at level 1 (label images: long runs of one value, which zstd alone compresses
    /// as small as blosc does, at a seventh of the time; level 1 takes 60 % of level 3's time
    /// on chunks of labels, for the same size to within 1 %).
    Zstd,
}

impl Compression {
    /// The Zarr v2 `compressor`.
    fn v2_json(self) -> Value {
        match self {
            Compression::Blosc => {
                json!({"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0})
            }
            Compression::BloscLz4 => {
                json!({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0})
            }
            Compression::Zstd => json!({"id": "zstd", "level": ZSTD_LEVEL}),
        }
    }

    /// The Zarr v3 bytes-to-bytes codec, for elements of `typesize` bytes.
    fn v3_json(self, typesize: usize) -> Value {
        match self {
            Compression::Blosc => json!({"name": "blosc", "configuration": {"cname": "zstd",
                "clevel": 5, "shuffle": "shuffle", "typesize": typesize, "blocksize": 0}}),
            Compression::BloscLz4 => json!({"name": "blosc", "configuration": {"cname": "lz4",
                "clevel": 5, "shuffle": "shuffle", "typesize": typesize, "blocksize": 0}}),
            Compression::Zstd => {
                json!({"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": false}})
            }
        }
    }
}

/// What to write: shape, type, levels, chunks, physical scale and channels.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// Shape of level 0 as (t, c, z, y, x).
    pub shape: [usize; 5],
    /// Pixel type.
    pub dtype: DType,
    /// Number of resolution levels (each halves y and x).
    pub levels: usize,
    /// Chunk size in y and x.
    pub chunk_yx: [usize; 2],
    /// Planes per chunk along z (1 by default: one plane per chunk row; t and c chunks are
    /// always 1). Deeper chunks mean fewer, larger files for small planes; write them whole
    /// with [`ImageWriter::write_block_async`], as `write_plane` must read a chunk to add one
    /// plane to it.
    pub chunk_z: usize,
    /// Physical pixel size of level 0 along (t, c, z, y, x).
    pub scale: [f64; 5],
    /// Unit of the space axes, e.g. `micrometer`.
    pub space_unit: Option<String>,
    /// Unit of the time axis, e.g. `second`.
    pub time_unit: Option<String>,
    /// Image name.
    pub name: Option<String>,
    /// Channels for the `omero` block.
    pub channels: Vec<Channel>,
    /// NGFF version.
    pub version: NgffVersion,
    /// Downsampling rule.
    pub downsample: Downsample,
    /// Chunk compression.
    pub compression: Compression,
    /// The axes as stored, when not all five of (t, c, z, y, x): an image's own axes, so its
    /// label image has the same dimensions. Absent axes have size 1 in `shape`.
    pub axes: Option<Vec<Axis>>,
    /// Explicit levels (each with its shape, scale and translation), overriding `levels`,
    /// `scale` and the halving rule: a label image whose level k lines up with level k of its
    /// image.
    pub pyramid: Vec<LevelSpec>,
}

/// One resolution level given explicitly: its (t, c, z, y, x) shape, physical scale and offset.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelSpec {
    pub shape: [usize; 5],
    pub scale: [f64; 5],
    pub translation: [f64; 5],
}

impl ImageSpec {
    /// A spec with one level, 256 x 256 chunks, NGFF 0.4, unit scale.
    pub fn new(shape: [usize; 5], dtype: DType) -> Self {
        Self {
            shape,
            dtype,
            levels: 1,
            chunk_yx: [256, 256],
            chunk_z: 1,
            scale: [1.0; 5],
            space_unit: None,
            time_unit: None,
            name: None,
            channels: Vec::new(),
            version: NgffVersion::V0_4,
            downsample: Downsample::Mean,
            compression: Compression::Blosc,
            axes: None,
            pyramid: Vec::new(),
        }
    }
    /// Store only these axes (names among t, c, z, y, x, in that order, ending in y, x).
    pub fn with_axes(mut self, axes: Vec<Axis>) -> Self {
        self.axes = Some(axes);
        self
    }
    /// Give every level explicitly (the first is the full resolution written).
    pub fn with_pyramid(mut self, levels: Vec<LevelSpec>) -> Self {
        if let Some(first) = levels.first() {
            self.shape = first.shape;
            self.scale = first.scale;
            self.levels = levels.len();
        }
        self.pyramid = levels;
        self
    }
    /// Set the NGFF version.
    pub fn with_version(mut self, v: NgffVersion) -> Self {
        self.version = v;
        self
    }
    /// Set the number of levels.
    pub fn with_levels(mut self, n: usize) -> Self {
        self.levels = n.max(1);
        self
    }
    /// Set the y, x chunk size.
    pub fn with_chunks(mut self, y: usize, x: usize) -> Self {
        self.chunk_yx = [y.max(1), x.max(1)];
        self
    }
    /// Set how chunks are compressed.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }
    /// Set the number of planes per chunk along z.
    pub fn with_chunk_depth(mut self, z: usize) -> Self {
        self.chunk_z = z.max(1);
        self
    }
    /// Set the physical scale of level 0 and the units.
    pub fn with_scale(
        mut self,
        scale: [f64; 5],
        space_unit: Option<&str>,
        time_unit: Option<&str>,
    ) -> Self {
        self.scale = scale;
        self.space_unit = space_unit.map(str::to_string);
        self.time_unit = time_unit.map(str::to_string);
        self
    }
    /// Set the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Set the channels.
    pub fn with_channels(mut self, channels: Vec<Channel>) -> Self {
        self.channels = channels;
        self
    }

    /// Check the spec before anything is created: a non-empty shape whose sizes omeflow can
    /// read back, a sane number of levels, finite positive scales.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidArgument(why));
        if self.shape.contains(&0) {
            return bad(format!(
                "cannot write an image of shape {:?}: every axis needs at least one element",
                self.shape
            ));
        }
        if self.levels == 0 || self.levels > 32 {
            return bad(format!("{} levels: write 1 to 32", self.levels));
        }
        let [t, c, z, y, x] = self.shape;
        let chunks = [
            1,
            1,
            self.chunk_z.min(z),
            self.chunk_yx[0].min(y),
            self.chunk_yx[1].min(x),
        ];
        if self.chunk_yx.contains(&0) || self.chunk_z == 0 {
            return bad("chunks need at least one pixel each way".into());
        }
        super::pixels::check_sizes(self.shape, chunks, self.dtype.size()).or_else(|why| {
            bad(format!(
                "cannot write an image of shape {:?}: {why}",
                self.shape
            ))
        })?;
        if (t as u64) * (c as u64) * (z as u64) > 1 << 30 {
            return bad(format!("{:?} has too many planes", self.shape));
        }
        if self.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return bad(format!(
                "scale {:?} must be finite and positive",
                self.scale
            ));
        }
        if let Some(axes) = &self.axes {
            let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
            let mut at = 0;
            for n in &names {
                match AXES5[at..].iter().position(|a| a == n) {
                    Some(i) => at += i + 1,
                    None => {
                        return bad(format!(
                            "axes {names:?}: use t, c, z, y, x, in that order, each once"
                        ))
                    }
                }
            }
            if !names.ends_with(&["y", "x"]) {
                return bad(format!("axes {names:?} must end in y, x"));
            }
            for (k, n) in AXES5.iter().enumerate() {
                if !names.contains(n) && self.shape[k] != 1 {
                    return bad(format!(
                        "shape {:?} has {} {n} but the axes {names:?} have no {n}",
                        self.shape, self.shape[k]
                    ));
                }
            }
        }
        if !self.pyramid.is_empty() {
            if self.pyramid.len() != self.levels {
                return bad(format!(
                    "{} levels but {} given explicitly",
                    self.levels,
                    self.pyramid.len()
                ));
            }
            let mut above = self.shape;
            for (l, lv) in self.pyramid.iter().enumerate() {
                let [t2, c2, z2, y2, x2] = lv.shape;
                if [t2, c2, z2] != [t, c, z] || y2 == 0 || x2 == 0 || y2 > above[3] || x2 > above[4]
                {
                    return bad(format!(
                        "level {l} of shape {:?} does not follow {above:?}: t, c, z stay, y and x \
                         shrink",
                        lv.shape
                    ));
                }
                if lv
                    .scale
                    .iter()
                    .chain(&lv.translation)
                    .any(|s| !s.is_finite())
                    || lv.scale.iter().any(|s| *s <= 0.0)
                {
                    return bad(format!(
                        "level {l}: scale and translation must be finite, scale positive"
                    ));
                }
                above = lv.shape;
            }
        }
        Ok(())
    }

    /// Which of (t, c, z, y, x) the arrays store, in order.
    fn dims(&self) -> Vec<usize> {
        match &self.axes {
            Some(axes) => AXES5
                .iter()
                .enumerate()
                .filter(|(_, n)| axes.iter().any(|a| a.name == **n))
                .map(|(k, _)| k)
                .collect(),
            None => (0..5).collect(),
        }
    }

    /// Scale and translation of level `l` along (t, c, z, y, x).
    fn level_transform(&self, l: usize) -> ([f64; 5], [f64; 5]) {
        if let Some(lv) = self.pyramid.get(l) {
            return (lv.scale, lv.translation);
        }
        let f = (1u64 << l.min(63)) as f64;
        let s = self.scale;
        ([s[0], s[1], s[2], s[3] * f, s[4] * f], [0.0; 5])
    }

    /// Shape of level `l`.
    pub fn level_shape(&self, l: usize) -> [usize; 5] {
        if let Some(lv) = self.pyramid.get(l) {
            return lv.shape;
        }
        let [t, c, z, y, x] = self.shape;
        [t, c, z, (y >> l).max(1), (x >> l).max(1)]
    }

    fn axes(&self) -> Value {
        if let Some(axes) = &self.axes {
            let out: Vec<Value> = axes
                .iter()
                .map(|a| {
                    let kind = a.kind.clone().unwrap_or_else(|| {
                        match a.name.as_str() {
                            "t" => "time",
                            "c" => "channel",
                            _ => "space",
                        }
                        .into()
                    });
                    let mut v = json!({"name": a.name, "type": kind});
                    if let Some(u) = &a.unit {
                        v["unit"] = json!(u);
                    }
                    v
                })
                .collect();
            return json!(out);
        }
        let space = |name: &str| match &self.space_unit {
            Some(u) => json!({"name": name, "type": "space", "unit": u}),
            None => json!({"name": name, "type": "space"}),
        };
        let time = match &self.time_unit {
            Some(u) => json!({"name": "t", "type": "time", "unit": u}),
            None => json!({"name": "t", "type": "time"}),
        };
        json!([time, {"name": "c", "type": "channel"}, space("z"), space("y"), space("x")])
    }

    fn multiscales(&self) -> Value {
        let datasets: Vec<Value> = (0..self.levels)
            .map(|l| {
                let dims = self.dims();
                let (scale, shift) = self.level_transform(l);
                let pick = |v: [f64; 5]| dims.iter().map(|&k| v[k]).collect::<Vec<f64>>();
                let mut transforms = vec![json!({"type": "scale", "scale": pick(scale)})];
                if shift.iter().any(|v| *v != 0.0) {
                    transforms.push(json!({"type": "translation", "translation": pick(shift)}));
                }
                json!({"path": l.to_string(), "coordinateTransformations": transforms})
            })
            .collect();
        let mut ms = json!({
            "axes": self.axes(),
            "datasets": datasets,
            "name": self.name.clone().unwrap_or_else(|| "image".into()),
            "type": match self.downsample { Downsample::Mean => "mean", Downsample::Nearest => "nearest" },
        });
        if self.version == NgffVersion::V0_4 {
            ms["version"] = json!("0.4");
        }
        json!([ms])
    }

    fn omero(&self) -> Option<Value> {
        if self.channels.is_empty() {
            return None;
        }
        let channels: Vec<Value> = self
            .channels
            .iter()
            .map(|c| {
                let mut v = json!({
                    "label": c.name.clone().unwrap_or_default(),
                    "color": c.color.clone().unwrap_or_else(|| "FFFFFF".into()),
                    "active": c.active.unwrap_or(true),
                });
                if let Some(w) = &c.window {
                    v["window"] = json!({"start": w.start, "end": w.end,
                        "min": w.min.unwrap_or(w.start), "max": w.max.unwrap_or(w.end)});
                }
                v
            })
            .collect();
        Some(
            json!({"name": self.name.clone().unwrap_or_else(|| "image".into()),
            "version": self.version.as_str(), "channels": channels,
            "rdefs": {"model": "color", "defaultT": 0, "defaultZ": self.shape[2] / 2}}),
        )
    }
}

fn zero_fill(dtype: DType) -> Value {
    match dtype {
        DType::F32 | DType::F64 => json!(0.0),
        _ => json!(0),
    }
}

/// Shape and chunk shape of level `l`'s array, over the stored axes only.
fn array_shape(spec: &ImageSpec, l: usize) -> (Vec<usize>, Vec<usize>) {
    let shape = spec.level_shape(l);
    let chunks = [
        1,
        1,
        spec.chunk_z.min(shape[2]),
        spec.chunk_yx[0].min(shape[3]),
        spec.chunk_yx[1].min(shape[4]),
    ];
    let dims = spec.dims();
    (
        dims.iter().map(|&k| shape[k]).collect(),
        dims.iter().map(|&k| chunks[k]).collect(),
    )
}

fn v2_array_json(spec: &ImageSpec, l: usize) -> Value {
    let (shape, chunks) = array_shape(spec, l);
    json!({
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": spec.dtype.v2_typestr(),
        "compressor": spec.compression.v2_json(),
        "fill_value": zero_fill(spec.dtype),
        "order": "C",
        "filters": null,
        "dimension_separator": "/",
    })
}

fn v3_array_json(spec: &ImageSpec, l: usize) -> Value {
    let (shape, chunks) = array_shape(spec, l);
    let names: Vec<&str> = spec.dims().iter().map(|&k| AXES5[k]).collect();
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": spec.dtype.name(),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": zero_fill(spec.dtype),
        "codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            spec.compression.v3_json(spec.dtype.size())
        ],
        "dimension_names": names,
        "attributes": {},
    })
}

/// Writes one OME-Zarr image (or label image) plane by plane.
///
/// The image becomes visible (its group metadata is written) only when its last plane is
/// stored, or by [`ImageWriter::finish`]; until then it is marked incomplete, so an interrupted
/// run never leaves an image that reads as whole.
#[derive(Clone)]
pub struct ImageWriter {
    store: Store,
    spec: Arc<ImageSpec>,
    arrays: Arc<Vec<ZArray>>,
    commit: Arc<Commit>,
}

/// Where a label image is listed when it commits: the `labels/` group, its name, and, for a
/// label image written beside its image, the root to make a group (a hierarchy readers open).
struct Register {
    labels: Store,
    name: String,
    root: Option<Store>,
}

/// What is left to do before the image is complete, shared by the writer's clones.
struct Commit {
    /// One bit per (t, c, z) plane written, and how many are set.
    written: std::sync::Mutex<(Vec<u64>, u64)>,
    planes: u64,
    /// The root group's attributes, written last.
    attrs: Value,
    /// For a label image: where to list it.
    register: Option<Register>,
    done: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for ImageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageWriter")
            .field("location", &self.store.location())
            .field("shape", &self.spec.shape)
            .field("dtype", &self.spec.dtype)
            .finish()
    }
}

impl ImageWriter {
    /// Create the image at a local path (created if missing), `file://` URL or `s3://` URL.
    ///
    /// Refuses a location that already holds a Zarr group or array; see [`ImageWriter::replace`].
    pub fn create(location: &str, spec: ImageSpec) -> Result<Self> {
        Self::create_in(open_for_writing(location, &spec, None)?, spec)
    }

    /// Like [`ImageWriter::create`], but first deletes an image that omeflow wrote at
    /// `location`, complete or interrupted. Anything omeflow cannot prove it wrote there (an
    /// image from another tool, other files, a symbolic link) is left alone and refused, with
    /// nothing deleted.
    pub fn replace(location: &str, spec: ImageSpec) -> Result<Self> {
        let store = open_for_writing(location, &spec, None)?;
        let rt = store.runtime().clone();
        rt.block_on(async move {
            replace_own(&store).await?;
            Self::create_async(store, spec, None).await
        })
    }

    /// Write chunks into the image omeflow started at `location`, beside other processes
    /// (see [`Existing::Attach`]).
    pub(crate) fn attach_at(location: &str, spec: ImageSpec) -> Result<Self> {
        let store = open_for_writing(location, &spec, None)?;
        store
            .runtime()
            .clone()
            .block_on(async move { Self::attach(store, spec).await })
    }

    /// Go on with an image omeflow started at `location` with the same `spec` (its planes
    /// written so far are counted by [`ImageWriter::mark_written`] from the caller's progress
    /// record); create it when nothing is there. Anything omeflow did not write is refused.
    pub(crate) fn resume(location: &str, spec: ImageSpec) -> Result<Self> {
        let store = open_for_writing(location, &spec, None)?;
        let rt = store.runtime().clone();
        rt.block_on(async move {
            Self::create_registered(store, spec, None, None, Some(Vec::new())).await
        })
    }

    /// Create the image at the root of `store`.
    pub fn create_in(store: Store, spec: ImageSpec) -> Result<Self> {
        let rt = store.runtime().clone();
        rt.block_on(async move { Self::create_async(store, spec, None).await })
    }

    async fn create_async(store: Store, spec: ImageSpec, label_of: Option<Value>) -> Result<Self> {
        Self::create_registered(store, spec, label_of, None, None).await
    }

    /// The image omeflow started at the root of `store`, for writing chunks beside other
    /// processes ([`Existing::Attach`]): nothing but chunks is ever written, and the writer
    /// never commits the image (the job's last run does).
    async fn attach(store: Store, spec: ImageSpec) -> Result<Self> {
        spec.validate()?;
        if super::marker::Marker::read(&store).await?.is_none() {
            return Err(Error::Write {
                location: store.location().to_string(),
                reason: "no image omeflow started is there to write a share into; submit the \
                         job again so that its output is created first"
                    .into(),
            });
        }
        let arrays = level_arrays(&store, &spec, Levels::Attach).await?;
        let [t, c, z, _, _] = spec.shape;
        let planes = (t * c * z) as u64;
        let done = tokio::sync::OnceCell::new();
        // Set now: the last plane written by this process never commits the image.
        let _ = done.set(());
        Ok(Self {
            store,
            spec: Arc::new(spec),
            arrays: Arc::new(arrays),
            commit: Arc::new(Commit {
                written: std::sync::Mutex::new((vec![0; planes.div_ceil(64) as usize], 0)),
                planes,
                attrs: Value::Null,
                register: None,
                done,
            }),
        })
    }

    /// Create the image at the root of `store`; with `resume` (one bit per (t, c, z) plane
    /// already committed), go on with an image omeflow started there instead: its arrays are
    /// described again (the same metadata) and the planes of `resume` count as written.
    async fn create_registered(
        store: Store,
        spec: ImageSpec,
        label_of: Option<Value>,
        register: Option<Register>,
        resume: Option<Vec<u64>>,
    ) -> Result<Self> {
        spec.validate()?;
        let ours = super::marker::Marker::read(&store).await?.is_some();
        let resume = resume.filter(|_| ours);
        if resume.is_some() {
            // The caller's progress record checks that the same job started this image.
            super::marker::delete_staging(&store).await?;
        } else if super::array::read_node(&store, "").await?.is_some() {
            let reason = if ours {
                "an image omeflow wrote is already there; rerun with --overwrite (or use \
                 `ImageWriter::replace`) to write it again, or choose another location"
            } else {
                "a Zarr group or array that omeflow did not write is already there; nothing was \
                 changed: remove it yourself, or choose another location or label name"
            };
            return Err(Error::Write {
                location: store.location().to_string(),
                reason: reason.into(),
            });
        }
        if resume.is_none() && ours {
            return Err(Error::Write {
                location: store.location().to_string(),
                reason: "an interrupted omeflow output is there; use `ImageWriter::replace` \
                         (or rerun the command that wrote it) to write it again"
                    .into(),
            });
        }
        if resume.is_none() && !store.is_empty().await? {
            return Err(Error::Write {
                location: store.location().to_string(),
                reason: "the location holds files that are not a Zarr image; choose an empty or new location"
                    .into(),
            });
        }
        let [t, c, z, _, _] = spec.shape;
        let planes = (t * c * z) as u64;
        store
            .put(
                super::marker::MARKER,
                super::marker::Marker::new(super::marker::State::Writing, spec.levels, planes)
                    .to_bytes()?,
            )
            .await?;
        let mut attrs = json!({"multiscales": spec.multiscales()});
        if let Some(omero) = spec.omero() {
            attrs["omero"] = omero;
        }
        if let Some(label) = label_of {
            attrs["image-label"] = label;
        }
        let how = if resume.is_some() {
            Levels::Resume
        } else {
            Levels::Create
        };
        let arrays = level_arrays(&store, &spec, how).await?;
        let words = planes.div_ceil(64) as usize;
        let mut bits = resume.unwrap_or_default();
        bits.resize(words, 0);
        if let Some(last) = bits.last_mut() {
            if !planes.is_multiple_of(64) {
                *last &= (1u64 << (planes % 64)) - 1;
            }
        }
        let already: u64 = bits.iter().map(|w| u64::from(w.count_ones())).sum();
        Ok(Self {
            store,
            spec: Arc::new(spec),
            arrays: Arc::new(arrays),
            commit: Arc::new(Commit {
                written: std::sync::Mutex::new((bits, already)),
                planes,
                attrs,
                register,
                done: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Whether every plane is written and the image committed (visible as an image).
    pub fn is_complete(&self) -> bool {
        self.commit.done.initialized()
    }

    /// Count these planes (one bit per (t, c, z) plane, raster order) as written: what an
    /// earlier run of the same job committed, from its progress record.
    pub(crate) fn mark_written(&self, bits: &[u64]) -> Result<()> {
        let mut w = self
            .commit
            .written
            .lock()
            .map_err(|_| Error::Internal("the record of planes written is poisoned".into()))?;
        let planes = self.commit.planes;
        for (i, word) in bits.iter().enumerate() {
            for b in 0..64u64 {
                let plane = i as u64 * 64 + b;
                if plane < planes && word & (1 << b) != 0 {
                    let (wi, bit) = ((plane / 64) as usize, 1u64 << (plane % 64));
                    if w.0[wi] & bit == 0 {
                        w.0[wi] |= bit;
                        w.1 += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// How many of the image's (t, c, z) planes have been written.
    pub fn planes_written(&self) -> u64 {
        self.commit.written.lock().map_or(0, |w| w.1)
    }

    /// Commit the image now, with the planes written so far: planes never written read as the
    /// fill value (0). An image commits itself when its last plane is written; call this when
    /// a run writes only some planes on purpose. Until an image is committed it is marked
    /// incomplete, and readers refuse it.
    pub fn finish(&self) -> Result<()> {
        let this = self.clone();
        self.store.runtime().block_on(async move {
            this.commit
                .done
                .get_or_try_init(|| this.commit_now())
                .await?;
            Ok(())
        })
    }

    /// Record plane (t, c, z) as written; commit the image when it was the last one.
    async fn plane_written(&self, t: usize, c: usize, z: usize) -> Result<()> {
        let [_, sc, sz, _, _] = self.spec.shape;
        let i = ((t * sc + c) * sz + z) as u64;
        let last = {
            let mut w = self.commit.written.lock().map_err(|_| {
                Error::Internal(format!(
                    "the record of planes written to {} is poisoned: a writer thread panicked \
                     while updating it",
                    self.location()
                ))
            })?;
            let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
            if w.0[word] & bit == 0 {
                w.0[word] |= bit;
                w.1 += 1;
            }
            w.1 == self.commit.planes
        };
        if last {
            self.commit
                .done
                .get_or_try_init(|| self.commit_now())
                .await?;
        }
        Ok(())
    }

    /// Make the image visible: its group metadata, its entry in `labels/`, then the marker.
    async fn commit_now(&self) -> Result<()> {
        let c = &self.commit;
        write_group(&self.store, self.spec.version, c.attrs.clone()).await?;
        if let Some(r) = &c.register {
            register_label(&r.labels, self.spec.version, &r.name).await?;
            if let Some(root) = &r.root {
                if super::array::read_node(root, "").await?.is_none() {
                    write_group(root, self.spec.version, json!({})).await?;
                }
            }
        }
        self.store
            .put(
                super::marker::MARKER,
                super::marker::Marker::new(
                    super::marker::State::Complete,
                    self.spec.levels,
                    c.planes,
                )
                .to_bytes()?,
            )
            .await
    }

    /// The spec being written.
    pub fn spec(&self) -> &ImageSpec {
        &self.spec
    }

    /// The I/O runtime its writes run on.
    pub(crate) fn runtime(&self) -> &crate::store::IoRuntime {
        self.store.runtime()
    }

    /// Where the image is written.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// Write one (t, c, z) plane of level 0 and its downsampled copies in the other levels.
    pub fn write_plane<T: Element, S: Data<Elem = T>>(
        &self,
        t: usize,
        c: usize,
        z: usize,
        plane: &ArrayBase<S, Ix2>,
    ) -> Result<()> {
        let this = self.clone();
        let plane = plane.to_owned();
        self.store
            .runtime()
            .block_on(async move { this.write_plane_async(t, c, z, plane).await })
    }

    /// Async form of [`ImageWriter::write_plane`].
    pub async fn write_plane_async<T: Element>(
        &self,
        t: usize,
        c: usize,
        z: usize,
        plane: Array2<T>,
    ) -> Result<()> {
        self.write_block_async(t, c, z, vec![Some(plane)]).await
    }

    /// Write the planes (t, c, z0), (t, c, z0 + 1), ... at once, and their downsampled copies
    /// in the other levels; a `None` leaves that plane as it is. A block that fills whole
    /// chunks (see [`ImageSpec::chunk_z`]) is stored without reading anything back; planes
    /// that fill a chunk only in part are merged into what the chunk holds.
    pub async fn write_block_async<T: Element>(
        &self,
        t: usize,
        c: usize,
        z0: usize,
        planes: Vec<Option<Array2<T>>>,
    ) -> Result<()> {
        let spec = &self.spec;
        if T::DTYPE != spec.dtype {
            return Err(Error::TypeMismatch {
                actual: spec.dtype,
                requested: T::DTYPE,
            });
        }
        let [st, sc, sz, sy, sx] = spec.shape;
        let n = planes.len();
        if t >= st || c >= sc || z0.checked_add(n).is_none_or(|end| end > sz) {
            return Err(Error::OutOfBounds(format!(
                "planes t={t} c={c} z={z0}..{} do not fit image shape {:?}",
                z0.saturating_add(n),
                spec.shape
            )));
        }
        if let Some(p) = planes.iter().flatten().find(|p| p.dim() != (sy, sx)) {
            return Err(Error::OutOfBounds(format!(
                "a plane of shape {:?} does not fit image shape {:?}",
                p.dim(),
                spec.shape
            )));
        }
        // Runs of consecutive planes given: each is one subset to store.
        let mut runs: Vec<(usize, Vec<Array2<T>>)> = Vec::new();
        let mut open = false;
        for (i, p) in planes.into_iter().enumerate() {
            match p {
                Some(p) if open => {
                    if let Some(run) = runs.last_mut() {
                        run.1.push(p);
                    }
                }
                Some(p) => {
                    runs.push((z0 + i, vec![p]));
                    open = true;
                }
                None => open = false,
            }
        }
        let dims = spec.dims();
        if !dims.contains(&2) {
            if let Some((_, run)) = runs.iter().find(|(_, run)| run.len() != 1) {
                return Err(Error::Internal(format!(
                    "{} planes at once in an image without a z axis",
                    run.len()
                )));
            }
        }
        for (z, mut current) in runs {
            let depth = current.len();
            for (l, array) in self.arrays.iter().enumerate() {
                let [_, _, _, h, w] = spec.level_shape(l);
                if l > 0 {
                    current = current
                        .iter()
                        .map(|p| downsample_to(p, (h, w), spec.downsample))
                        .collect();
                }
                let at = [t as u64, c as u64, z as u64];
                let ranges: Vec<std::ops::Range<u64>> = dims
                    .iter()
                    .map(|&k| match k {
                        2 => at[2]..at[2] + depth as u64,
                        3 => 0..h as u64,
                        4 => 0..w as u64,
                        k => at[k]..at[k] + 1,
                    })
                    .collect();
                let subset = ArraySubset::new_with_ranges(&ranges);
                let stored: Vec<usize> = dims
                    .iter()
                    .map(|&k| match k {
                        2 => depth,
                        3 => h,
                        4 => w,
                        _ => 1,
                    })
                    .collect();
                // In row-major order, whatever the caller's layout (a transposed plane is
                // fine), so the reshape cannot fail.
                let mut flat = Vec::with_capacity(depth * h * w);
                for p in &current {
                    match p.as_slice() {
                        Some(s) => flat.extend_from_slice(s),
                        None => flat.extend(p.iter().copied()),
                    }
                }
                if let Some(chunk) = self.whole_zstd_chunk(array, &subset) {
                    self.store_zstd_chunk(array, l, &chunk, &flat).await?;
                    continue;
                }
                let data = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&stored), flat).map_err(
                    |e| {
                        Error::Internal(format!(
                            "reshaping {depth} ({h}, {w}) planes to {stored:?}: {e}"
                        ))
                    },
                )?;
                array
                    .async_store_array_subset(&subset, &data)
                    .await
                    .map_err(|e| write_err(&self.store, &l.to_string(), e))?;
            }
            for k in 0..depth {
                self.plane_written(t, c, z + k).await?;
            }
        }
        Ok(())
    }

    /// The indices of the one chunk that `subset` covers exactly, when this image's chunks are
    /// zstd alone (label images) and this machine is little-endian like the stored bytes: such
    /// a chunk is encoded here ([`ImageWriter::store_zstd_chunk`]) rather than by zarrs.
    fn whole_zstd_chunk(&self, array: &ZArray, subset: &ArraySubset) -> Option<Vec<u64>> {
        if self.spec.compression != Compression::Zstd || !cfg!(target_endian = "little") {
            return None;
        }
        let chunks = array.chunks_in_array_subset(subset).ok()??;
        if chunks.num_elements() != 1 {
            return None;
        }
        let indices = chunks.start().to_vec();
        (array.chunk_subset(&indices).ok()? == *subset).then_some(indices)
    }

    /// Store one whole chunk of a zstd image: the bytes zarrs' own codecs would store (`bytes`
    /// little-endian, then zstd at [`ZSTD_LEVEL`] without checksum), encoded with this
    /// thread's compression context. zarrs makes a new context for every chunk, which cost
    /// as much as the compression itself on the small chunks of label images. A chunk of
    /// zeros is not stored (and an older one there is erased), as zarrs does.
    async fn store_zstd_chunk<T: Element>(
        &self,
        array: &ZArray,
        level: usize,
        indices: &[u64],
        elements: &[T],
    ) -> Result<()> {
        let path = level.to_string();
        let bytes = <T as zarrs::array::Element>::to_array_bytes(array.data_type(), elements)
            .map_err(|e| write_err(&self.store, &path, e))?;
        if bytes.is_fill_value(array.fill_value()) {
            return array
                .async_erase_chunk(indices)
                .await
                .map_err(|e| write_err(&self.store, &path, e));
        }
        let raw = bytes
            .into_fixed()
            .map_err(|e| write_err(&self.store, &path, e))?;
        let encoded = super::chunk::zstd_encode(&raw, ZSTD_LEVEL)
            .map_err(|e| write_err(&self.store, &path, e))?;
        // SAFETY: `encoded` is this chunk as the array's codec chain encodes it: the image's
        // metadata names `bytes` (little-endian, this machine's order) and zstd at ZSTD_LEVEL
        // without checksum (`whole_zstd_chunk` checked the compression; a resumed image with
        // other codecs was refused when it was opened), and `bytes` holds the chunk's whole
        // shape, checked by zarrs' `to_array_bytes` against the data type.
        unsafe { array.async_store_encoded_chunk(indices, bytes::Bytes::from(encoded)) }
            .await
            .map_err(|e| write_err(&self.store, &path, e))
    }

    /// Whether plane `index` ((t, c, z) in raster order) is written: its data is stored in
    /// every level, or an earlier run recorded it ([`ImageWriter::mark_written`]).
    pub(crate) fn is_written(&self, index: u64) -> bool {
        self.commit.written.lock().is_ok_and(|w| {
            w.0.get((index / 64) as usize)
                .is_some_and(|word| word & (1 << (index % 64)) != 0)
        })
    }

    /// Create a label image `labels/<name>` at the image location `location` (which need not
    /// hold the image itself: `source` is recorded as the labelled image).
    pub fn create_label_image(
        location: &str,
        spec: ImageSpec,
        name: &str,
        source: &str,
    ) -> Result<ImageWriter> {
        Self::label_image(location, spec, name, source, false)
    }

    /// Like [`ImageWriter::create_label_image`], but first deletes a label image of that name
    /// that omeflow wrote (complete or interrupted); anything else there is refused.
    pub fn replace_label_image(
        location: &str,
        spec: ImageSpec,
        name: &str,
        source: &str,
    ) -> Result<ImageWriter> {
        Self::label_image(location, spec, name, source, true)
    }

    fn label_image(
        location: &str,
        spec: ImageSpec,
        name: &str,
        source: &str,
        replace: bool,
    ) -> Result<ImageWriter> {
        let store = open_for_writing(location, &spec, Some(name))?;
        let name = name.to_string();
        let source = source.to_string();
        let rt = store.runtime().clone();
        rt.block_on(async move {
            if replace {
                replace_own(&store.child("labels").child(&name)).await?;
            }
            create_labels_async(store, spec, &name, Some(source)).await
        })
    }

    /// Start a label image `labels/<name>` (int32, same t, c, z, y, x as this image, nearest
    /// downsampling), registered in `labels/`'s list.
    pub fn create_labels(&self, name: &str) -> Result<ImageWriter> {
        let store = self.store.clone();
        let spec = (*self.spec).clone();
        let name = name.to_string();
        self.store
            .runtime()
            .block_on(async move { create_labels_async(store, spec, &name, None).await })
    }
}

/// Open `location` for writing an image of `spec` (and label image `label`), creating a local
/// folder only once the spec and the name are known to be valid.
fn open_for_writing(location: &str, spec: &ImageSpec, label: Option<&str>) -> Result<Store> {
    spec.validate()?;
    if let Some(name) = label {
        check_label_name(name)?;
    }
    if location.contains("://") {
        Store::open(location, &crate::store::StoreOptions::default())
    } else {
        Store::create_local(std::path::Path::new(location))
    }
}

/// Create `labels/<name>` for an image at the root of `store` shaped as `image`.
pub(crate) async fn create_labels_async(
    store: Store,
    image: ImageSpec,
    name: &str,
    source: Option<String>,
) -> Result<ImageWriter> {
    check_label_name(name)?;
    let labels = store.child("labels");
    let spec = ImageSpec {
        dtype: DType::I32,
        downsample: Downsample::Nearest,
        channels: Vec::new(),
        name: Some(name.to_string()),
        ..image
    };
    let mut label = json!({"source": {"image": source.unwrap_or_else(|| "../../".into())}});
    if spec.version == NgffVersion::V0_4 {
        label["version"] = json!("0.4");
    }
    let register = Some(Register {
        labels: labels.clone(),
        name: name.to_string(),
        root: None,
    });
    ImageWriter::create_registered(labels.child(name), spec, Some(label), register, None).await
}

/// How [`create_label`] treats a label image of that name already there.
pub(crate) enum Existing {
    /// Delete it if omeflow wrote it (refuse anything else).
    Replace,
    /// Go on with it: these planes (one bit each) are already committed.
    Resume(Vec<u64>),
    /// Write chunks into it beside other processes (a worker's share of a job): it must be
    /// there, started by omeflow with the same layout, and nothing but chunks is written
    /// (no marker, no metadata, no staging files cleared, never committed).
    Attach,
}

/// How [`level_arrays`] treats the arrays already stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Levels {
    /// A new image: write every level's metadata.
    Create,
    /// Going on with an image: refuse another layout, then write the same metadata again.
    Resume,
    /// Writing beside other processes: refuse another layout, write nothing.
    Attach,
}

/// The level arrays of the image at `store` as `spec` describes them.
async fn level_arrays(store: &Store, spec: &ImageSpec, how: Levels) -> Result<Vec<ZArray>> {
    let storage = Arc::new(AsyncObjectStore::new(store.objects()));
    let mut arrays = Vec::with_capacity(spec.levels);
    for l in 0..spec.levels {
        let json = match spec.version {
            NgffVersion::V0_4 => v2_array_json(spec, l),
            NgffVersion::V0_5 => v3_array_json(spec, l),
        };
        if how != Levels::Create {
            check_same_layout(store, l, &json).await?;
        }
        let meta = match spec.version {
            NgffVersion::V0_4 => ArrayMetadata::V2(from_json(store, json)?),
            NgffVersion::V0_5 => ArrayMetadata::V3(from_json(store, json)?),
        };
        let array = Array::new_with_metadata(storage.clone(), &format!("/{l}"), meta)
            .map_err(|e| write_err(store, &l.to_string(), e))?;
        if how != Levels::Attach {
            array
                .async_store_metadata()
                .await
                .map_err(|e| write_err(store, &l.to_string(), e))?;
        }
        arrays.push(array);
    }
    Ok(arrays)
}

/// Refuse to resume level `l` of an image whose stored array has another shape, type,
/// chunking or compression than `ours` (one started by another version of omeflow): its
/// chunks would be read with the wrong grid or codec.
async fn check_same_layout(store: &Store, l: usize, ours: &Value) -> Result<()> {
    let theirs = match super::array::read_node(store, &l.to_string()).await? {
        Some(super::array::NodeMeta::ArrayV2(v) | super::array::NodeMeta::ArrayV3(v)) => v,
        Some(super::array::NodeMeta::Group { .. }) => Value::Null,
        None => return Ok(()),
    };
    let keys = [
        "shape",
        "chunks",
        "chunk_grid",
        "dtype",
        "data_type",
        "zarr_format",
        "compressor",
        "codecs",
    ];
    if keys.iter().all(|k| theirs.get(k) == ours.get(k)) {
        return Ok(());
    }
    Err(Error::Write {
        location: store.location().to_string(),
        reason: format!(
            "level {l} there has another shape, type, chunking or compression than this run writes (started \
             by another version of omeflow?); rerun with --overwrite to write it again"
        ),
    })
}

/// Create (or replace, or resume) the label image `labels/<name>` at the root of `store`, with
/// `spec` as it is (the caller aligns it with its image), `image-label` pointing at `source`
/// and colours for its values; `beside` makes the root a group when the labels commit.
pub(crate) async fn create_label(
    store: Store,
    spec: ImageSpec,
    name: &str,
    source: &str,
    beside: bool,
    existing: Existing,
) -> Result<ImageWriter> {
    check_label_name(name)?;
    let labels = store.child("labels");
    let at = labels.child(name);
    let (resume, attach) = match existing {
        Existing::Replace => {
            replace_own(&at).await?;
            (None, false)
        }
        Existing::Resume(bits) => (Some(bits), false),
        Existing::Attach => (Some(Vec::new()), true),
    };
    let spec = ImageSpec {
        dtype: DType::I32,
        downsample: Downsample::Nearest,
        channels: Vec::new(),
        name: Some(name.to_string()),
        ..spec
    };
    let mut label = json!({"source": {"image": source}, "colors": label_colors()});
    if spec.version == NgffVersion::V0_4 {
        label["version"] = json!("0.4");
    }
    let register = Some(Register {
        labels: labels.clone(),
        name: name.to_string(),
        root: beside.then(|| store.clone()),
    });
    if attach {
        return ImageWriter::attach(at, spec).await;
    }
    ImageWriter::create_registered(at, spec, Some(label), register, resume).await
}

/// The most label values `image-label` lists colours for; viewers colour the others themselves.
const COLORED_LABELS: u32 = 255;

/// Colours for label values 1..=255, cycling a palette that stays distinct on a dark image.
fn label_colors() -> Value {
    const PALETTE: [[u8; 3]; 12] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [67, 99, 216],
        [245, 130, 49],
        [145, 30, 180],
        [66, 212, 244],
        [240, 50, 230],
        [191, 239, 69],
        [250, 190, 212],
        [70, 153, 144],
        [220, 190, 255],
    ];
    let colors: Vec<Value> = (1..=COLORED_LABELS)
        .map(|v| {
            let [r, g, b] = PALETTE[(v as usize - 1) % PALETTE.len()];
            json!({"label-value": v, "rgba": [r, g, b, 255]})
        })
        .collect();
    json!(colors)
}

/// Check a label image's name: a plain folder name.
pub fn check_label_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "label name {name:?}: use letters, digits, '_', '-' and '.', not starting with '.'"
        )))
    }
}

/// Delete what omeflow wrote at the root of `store`, if anything is there; refuse, deleting
/// nothing, if anything there is not provably omeflow's.
async fn replace_own(store: &Store) -> Result<()> {
    let empty = store.local_root().is_some_and(|r| !r.exists());
    if empty || store.is_empty().await? {
        return Ok(());
    }
    let plan = super::marker::plan_deletion(store)
        .await
        .map_err(|e| match e {
            Error::Write { .. } | Error::Io { .. } => e,
            other => Error::Write {
                location: store.location().to_string(),
                reason: other.to_string(),
            },
        })?;
    super::marker::delete(store, &plan).await
}

/// Add `name` to the `labels` list of the `labels/` group (created if missing).
async fn register_label(labels: &Store, version: NgffVersion, name: &str) -> Result<()> {
    let mut names = read_label_names(labels, version).await?;
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    write_group(labels, version, json!({"labels": names})).await
}

async fn read_label_names(labels: &Store, version: NgffVersion) -> Result<Vec<String>> {
    let key = match version {
        NgffVersion::V0_4 => ".zattrs",
        NgffVersion::V0_5 => "zarr.json",
    };
    let Some(bytes) = labels.get(key).await? else {
        return Ok(Vec::new());
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let attrs = match version {
        NgffVersion::V0_4 => v,
        NgffVersion::V0_5 => v.pointer("/attributes/ome").cloned().unwrap_or(Value::Null),
    };
    Ok(attrs
        .get("labels")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Write the root group's metadata: `.zgroup` + `.zattrs` (0.4) or `zarr.json` with `ome` (0.5).
async fn write_group(store: &Store, version: NgffVersion, attrs: Value) -> Result<()> {
    match version {
        NgffVersion::V0_4 => {
            store
                .put(".zgroup", pretty(&json!({"zarr_format": 2}))?)
                .await?;
            store.put(".zattrs", pretty(&attrs)?).await
        }
        NgffVersion::V0_5 => {
            let mut ome = attrs;
            ome["version"] = json!("0.5");
            let doc = json!({"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome}});
            store.put("zarr.json", pretty(&doc)?).await
        }
    }
}

/// `v` as pretty JSON. A `Value` always serialises; were it not to, an empty metadata file would
/// be written, so it is an error rather than a default.
fn pretty(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v)
        .map_err(|e| Error::Internal(format!("serialising group metadata: {e}")))
}

fn from_json<M: serde::de::DeserializeOwned>(store: &Store, v: Value) -> Result<M> {
    serde_json::from_value(v).map_err(|e| Error::Write {
        location: store.location().to_string(),
        reason: format!("building array metadata: {e}"),
    })
}

fn write_err(store: &Store, path: &str, e: impl std::error::Error) -> Error {
    Error::Write {
        location: store.describe(path),
        reason: crate::store::error_chain(&e),
    }
}

/// Halve y and x (floor).
pub fn downsample<T: Element>(a: &Array2<T>, how: Downsample) -> Array2<T> {
    let (h, w) = a.dim();
    downsample_to(a, ((h / 2).max(1), (w / 2).max(1)), how)
}

/// Shrink to `(nh, nw)` by the whole factor nearest to each axis's ratio (2 between levels of a
/// pyramid, whether its shapes were rounded down or up): pixel (i, j) comes from the block at
/// (f i, f j), clipped at the edge.
pub fn downsample_to<T: Element>(
    a: &Array2<T>,
    (nh, nw): (usize, usize),
    how: Downsample,
) -> Array2<T> {
    let (h, w) = a.dim();
    let (nh, nw) = (nh.clamp(1, h.max(1)), nw.clamp(1, w.max(1)));
    let factor = |from: usize, to: usize| {
        if to == (from / 2).max(1) || to == from.div_ceil(2) {
            2
        } else {
            ((from as f64 / to as f64).round() as usize).max(1)
        }
    };
    let (fy, fx) = (factor(h, nh), factor(w, nw));
    Array2::from_shape_fn((nh, nw), |(i, j)| {
        let (y, x) = ((fy * i).min(h - 1), (fx * j).min(w - 1));
        match how {
            Downsample::Nearest => a[(y, x)],
            Downsample::Mean => {
                let mut sum = 0.0;
                let mut n = 0.0;
                for yy in y..(y + fy).min(h) {
                    for xx in x..(x + fx).min(w) {
                        sum += a[(yy, xx)].to_f64();
                        n += 1.0;
                    }
                }
                T::from_f64_rounded(sum / n)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_mean_and_nearest() {
        let a = Array2::from_shape_vec((2, 3), vec![1u16, 3, 9, 5, 7, 9]).unwrap();
        assert_eq!(
            downsample(&a, Downsample::Mean),
            Array2::from_elem((1, 1), 4u16)
        );
        assert_eq!(
            downsample(&a, Downsample::Nearest),
            Array2::from_elem((1, 1), 1u16)
        );
    }

    #[test]
    fn an_invalid_spec_or_label_name_creates_no_folder() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("never.zarr");
        let loc = at.to_string_lossy().into_owned();
        let empty = ImageSpec::new([1, 1, 0, 8, 8], DType::U8);
        assert!(ImageWriter::create(&loc, empty.clone()).is_err());
        assert!(ImageWriter::replace(&loc, empty).is_err());
        let ok = ImageSpec::new([1, 1, 1, 8, 8], DType::U8);
        assert!(ImageWriter::create_label_image(&loc, ok, "../up", "x").is_err());
        assert!(!at.exists());
    }

    #[test]
    fn level_shapes_halve_floor() {
        let s = ImageSpec::new([1, 2, 3, 135, 128], DType::U16).with_levels(3);
        assert_eq!(s.level_shape(2), [1, 2, 3, 33, 32]);
    }

    /// A plane of only the fill value leaves no chunk file (labels of empty planes cost nothing).
    #[test]
    fn a_resume_with_other_chunks_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("r.zarr").to_string_lossy().into_owned();
        let spec = ImageSpec::new([1, 1, 8, 8, 8], DType::I32);
        let w = ImageWriter::create(&loc, spec.clone()).unwrap();
        w.write_plane(0, 0, 0, &Array2::<i32>::ones((8, 8)))
            .unwrap();
        // The same spec goes on; planes 4 deep would read the old chunks with the wrong grid.
        ImageWriter::resume(&loc, spec.clone()).unwrap();
        let e = ImageWriter::resume(&loc, spec.with_chunk_depth(4)).unwrap_err();
        assert!(e.to_string().contains("--overwrite"), "{e}");
    }

    /// A whole chunk of a zstd image, encoded by omeflow, holds the bytes zarrs writes for the
    /// same chunk (stored in parts, merged by zarrs); a whole chunk of zeros is not stored.
    #[test]
    fn whole_zstd_chunks_are_the_bytes_zarrs_writes_and_zero_chunks_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        for version in [NgffVersion::V0_4, NgffVersion::V0_5] {
            let spec = ImageSpec::new([1, 1, 8, 8, 9], DType::I32)
                .with_version(version)
                .with_chunk_depth(4)
                .with_compression(Compression::Zstd);
            let plane = |z: usize| {
                Some(Array2::from_shape_fn((8, 9), |(y, x)| {
                    if (y + z).is_multiple_of(3) {
                        (z * 7 + x) as i32
                    } else {
                        0
                    }
                }))
            };
            let at = |name: &str| dir.path().join(format!("{name}{version:?}.zarr"));
            let write = |name: &str, blocks: Vec<(usize, Vec<Option<Array2<i32>>>)>| {
                let loc = at(name).to_string_lossy().into_owned();
                let w = ImageWriter::create(&loc, spec.clone()).unwrap();
                for (z0, block) in blocks {
                    let writer = w.clone();
                    w.runtime()
                        .block_on(async move { writer.write_block_async(0, 0, z0, block).await })
                        .unwrap();
                }
            };
            // Whole: encoded by omeflow. In parts (a plane missing, then brought): by zarrs.
            write("whole", vec![(0, (0..4).map(plane).collect())]);
            let mut first: Vec<_> = (0..4).map(plane).collect();
            first[2] = None;
            write("parts", vec![(0, first), (2, vec![plane(2)])]);
            // A block of zeros, whole: no chunk.
            write("zeros", vec![(4, vec![Some(Array2::zeros((8, 9))); 4])]);
            let key = match version {
                NgffVersion::V0_4 => "0/0/0/0/0/0",
                _ => "0/c/0/0/0/0/0",
            };
            let whole = std::fs::read(at("whole").join(key)).unwrap();
            assert_eq!(
                whole,
                std::fs::read(at("parts").join(key)).unwrap(),
                "{version:?}"
            );
            assert_eq!(&whole[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
            let zeros = at("zeros").join(
                key.replace("0/0/0/0/0/0", "0/0/0/1/0/0")
                    .replace("c/0/0/0", "c/0/0/1"),
            );
            assert!(
                !zeros.exists() && at("zeros").join("0").exists(),
                "{zeros:?}"
            );
        }
    }

    /// Label images are zstd-compressed (in Zarr v2 and v3), read back as written, and a
    /// resume of an image written with another compression is refused.
    #[test]
    fn zstd_chunks_read_back_and_a_resume_with_other_compression_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for version in [NgffVersion::V0_4, NgffVersion::V0_5] {
            let loc = dir
                .path()
                .join(format!("z{version:?}.zarr"))
                .to_string_lossy()
                .into_owned();
            let spec = ImageSpec::new([1, 1, 4, 8, 8], DType::I32)
                .with_version(version)
                .with_chunk_depth(4)
                .with_compression(Compression::Zstd);
            let w = ImageWriter::create(&loc, spec.clone()).unwrap();
            let planes: Vec<Option<Array2<i32>>> = (0..4)
                .map(|z| {
                    Some(Array2::from_shape_fn((8, 8), |(y, x)| {
                        (z * 100 + y * 8 + x) as i32
                    }))
                })
                .collect();
            let writer = w.clone();
            let block = planes.clone();
            w.runtime()
                .block_on(async move { writer.write_block_async(0, 0, 0, block).await })
                .unwrap();
            let meta = std::fs::read_to_string(match version {
                NgffVersion::V0_4 => dir.path().join(format!("z{version:?}.zarr/0/.zarray")),
                _ => dir.path().join(format!("z{version:?}.zarr/0/zarr.json")),
            })
            .unwrap();
            assert!(meta.contains("zstd") && !meta.contains("blosc"), "{meta}");
            let image = crate::ngff::open_image(&loc).unwrap();
            let level = image.level(0).unwrap();
            for (z, p) in planes.iter().enumerate() {
                assert_eq!(
                    level.plane_as::<i32>(0, 0, z).unwrap(),
                    *p.as_ref().unwrap()
                );
            }
            ImageWriter::resume(&loc, spec.clone()).unwrap();
            let e =
                ImageWriter::resume(&loc, spec.with_compression(Compression::Blosc)).unwrap_err();
            assert!(e.to_string().contains("--overwrite"), "{e}");
        }
    }

    #[test]
    fn empty_chunks_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("e.zarr").to_string_lossy().into_owned();
        let spec = ImageSpec::new([1, 1, 2, 8, 8], DType::I32);
        let w = ImageWriter::create(&loc, spec).unwrap();
        w.write_plane(0, 0, 0, &Array2::<i32>::zeros((8, 8)))
            .unwrap();
        w.write_plane(0, 0, 1, &Array2::<i32>::ones((8, 8)))
            .unwrap();
        assert!(!dir.path().join("e.zarr/0/0/0/0/0/0").exists());
        assert!(dir.path().join("e.zarr/0/0/0/1/0/0").exists());
    }

    /// A plane in column-major order (a transposed array) is written like any other.
    #[test]
    fn a_column_major_plane_is_written_as_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("f.zarr").to_string_lossy().into_owned();
        let spec = ImageSpec::new([1, 1, 1, 3, 4], DType::U16).with_levels(2);
        let w = ImageWriter::create(&loc, spec).unwrap();
        let rows = Array2::from_shape_fn((4, 3), |(i, j)| (i * 10 + j) as u16);
        let plane = rows.reversed_axes();
        assert!(!plane.is_standard_layout());
        w.write_plane(0, 0, 0, &plane).unwrap();
        let back = crate::ngff::open_image(&loc)
            .unwrap()
            .level(0)
            .unwrap()
            .plane_as::<u16>(0, 0, 0)
            .unwrap();
        assert_eq!(back, plane);
    }
}
