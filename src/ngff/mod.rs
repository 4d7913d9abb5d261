//! OME-Zarr: NGFF 0.1 to 0.5 images on Zarr v2 and v3, read lazily as [`Pixels`] and written
//! by [`writer`].
//!
//! ```no_run
//! use omeflow::ngff::open_image;
//! # fn main() -> omeflow::Result<()> {
//! let image = open_image("https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.1/4007801.zarr")?;
//! for (i, level) in image.metadata().levels.iter().enumerate() {
//!     println!("level {i} at {}", level.path);
//! }
//! let data = image.level(4)?;
//! println!("{:?} {:?} {}", data.shape(), data.chunks(), data.dtype());
//! # Ok(()) }
//! ```

mod array;
pub(crate) mod blocks;
mod chunk;
mod dtype;
mod info;
pub mod labels;
mod marker;
mod metadata;
mod pixels;
pub mod writer;

use serde_json::Value;

pub use dtype::{AnyArray, DType, Element};
pub use info::{ImageInfo, LevelInfo};
pub use metadata::{Axis, Channel, ImageMetadata, Level, Window, AXES5};
pub(crate) use pixels::FetchedPlane;
pub use pixels::{Pixels, Region, DEFAULT_MEMORY_BUDGET, MAX_CHUNK_BYTES, MAX_ELEMENTS};

pub(crate) use marker::RUN_DIR;

use crate::store::{Store, StoreOptions};
use crate::{Error, Result};
use array::NodeMeta;

/// An opened OME-Zarr image: its metadata, and its levels on demand.
#[derive(Clone, Debug)]
pub struct OmeZarr {
    store: Store,
    metadata: ImageMetadata,
}

/// Open the OME-Zarr image at `location` (path, `file://`, `http(s)://`, `s3://`) with default
/// options: anonymous S3, retries, tens of requests in flight.
pub fn open_image(location: &str) -> Result<OmeZarr> {
    OmeZarr::open(location, &StoreOptions::default())
}

impl OmeZarr {
    /// Open with explicit store options.
    pub fn open(location: &str, options: &StoreOptions) -> Result<Self> {
        let store = Store::open(location, options)?;
        Self::from_store(store)
    }

    /// Open an image rooted at an already opened store.
    pub fn from_store(store: Store) -> Result<Self> {
        let rt = store.runtime().clone();
        rt.block_on(async move { Self::open_async(store).await })
    }

    async fn open_async(store: Store) -> Result<Self> {
        let node = array::read_node(&store, "").await?;
        match node {
            None => {
                // omeflow writes the group metadata last: its marker alone is an interrupted write.
                if marker::Marker::read(&store).await?.is_some() {
                    return Err(marker::incomplete(&store));
                }
                Err(Error::NotFound {
                    location: store.location().to_string(),
                    detail: "no `zarr.json`, `.zattrs`, `.zgroup` or `.zarray` there".into(),
                })
            }
            Some(NodeMeta::ArrayV2(v)) | Some(NodeMeta::ArrayV3(v)) => {
                // A bare array (as in IDR's outreach buckets): t,c,z,y,x, one level.
                let ndim = v.get("shape").and_then(Value::as_array).map_or(0, Vec::len);
                let zarr_format = if v.get("zarr_format").and_then(Value::as_u64) == Some(3) {
                    3
                } else {
                    2
                };
                let axes = metadata::default_axes(ndim, store.location())?;
                let metadata = ImageMetadata {
                    version: "none".into(),
                    zarr_format,
                    name: None,
                    levels: vec![Level {
                        path: String::new(),
                        scale: vec![1.0; ndim],
                        translation: vec![0.0; ndim],
                    }],
                    axes,
                    channels: Vec::new(),
                };
                Ok(Self { store, metadata })
            }
            Some(NodeMeta::Group { attrs, zarr_format }) => {
                if attrs.get("multiscales").is_none()
                    && attrs
                        .get("ome")
                        .and_then(|o| o.get("multiscales"))
                        .is_none()
                    && (attrs.get("bioformats2raw.layout").is_some()
                        || attrs
                            .get("ome")
                            .and_then(|o| o.get("bioformats2raw.layout"))
                            .is_some())
                {
                    // bioformats2raw puts the first image at `0/`.
                    let child = store.child("0");
                    if let Some(NodeMeta::Group { attrs, zarr_format }) =
                        array::read_node(&child, "").await?
                    {
                        return Self::from_attrs(child, attrs, zarr_format).await;
                    }
                }
                Self::from_attrs(store, attrs, zarr_format).await
            }
        }
    }

    async fn from_attrs(store: Store, attrs: Value, zarr_format: u8) -> Result<Self> {
        // NGFF 0.1/0.2 have no axes: the first level's dimensionality says which ones there are.
        let ndim = if metadata_needs_ndim(&attrs) {
            let path = first_dataset_path(&attrs).unwrap_or_default();
            match array::read_node(&store, &path).await? {
                Some(NodeMeta::ArrayV2(v)) | Some(NodeMeta::ArrayV3(v)) => {
                    v.get("shape").and_then(Value::as_array).map(Vec::len)
                }
                _ => None,
            }
        } else {
            None
        };
        let location = store.location().to_string();
        let parsed = metadata::parse(&attrs, zarr_format, &location, |path| {
            // The image's metadata names a level that is not there.
            ndim.ok_or_else(|| Error::InvalidMetadata {
                location: location.clone(),
                reason: format!(
                    "no OME-Zarr image at {}: the first resolution level's array is missing",
                    store.describe(path)
                ),
            })
        })?;
        match parsed {
            Some(metadata) => Ok(Self { store, metadata }),
            None => Err(Error::NotAnImage {
                location,
                found: metadata::describe_non_image(&attrs),
            }),
        }
    }

    /// The image's metadata.
    pub fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    /// Where the image lives.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// The store the image is read through.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Number of resolution levels.
    pub fn level_count(&self) -> usize {
        self.metadata.levels.len()
    }

    /// Open resolution level `level` (0 is full resolution) as lazy [`Pixels`].
    pub fn level(&self, level: usize) -> Result<Pixels> {
        let lv = self.metadata.levels.get(level).ok_or_else(|| {
            Error::OutOfBounds(format!(
                "level {level} of {}: the image has {} levels (0..{})",
                self.location(),
                self.level_count(),
                self.level_count()
            ))
        })?;
        let path = lv.path.clone();
        let default_sep = if self.metadata.version == "0.1" {
            '.'
        } else {
            '/'
        };
        let store = self.store.clone();
        let (array, dtype, layers) = self
            .store
            .runtime()
            .block_on(async move { array::open_array(&store, &path, default_sep).await })?;
        let map = self.metadata.axis_map();
        let mut slots = vec![0; self.metadata.axes.len()];
        for (k, i) in map.iter().enumerate() {
            if let Some(i) = i {
                slots[*i] = k;
            }
        }
        if array.dimensionality() != slots.len() {
            return Err(Error::InvalidMetadata {
                location: self.store.describe(&lv.path),
                reason: format!(
                    "the array has {} dimensions but the image declares {} axes",
                    array.dimensionality(),
                    slots.len()
                ),
            });
        }
        let scale5 = self.metadata.scale5(level).unwrap_or([1.0; 5]);
        Pixels::new(
            self.store.clone(),
            (array, layers),
            dtype,
            (level, self.level_count()),
            lv.path.clone(),
            slots,
            scale5,
        )
    }

    /// Names of the label images under `labels/`, if any.
    pub fn labels(&self) -> Result<Vec<String>> {
        let store = self.store.clone();
        let attrs = self.store.runtime().block_on(async move {
            Ok(match array::read_node(&store, "labels").await? {
                Some(NodeMeta::Group { attrs, .. }) => attrs,
                _ => Value::Null,
            })
        })?;
        let attrs = attrs.get("ome").cloned().unwrap_or(attrs);
        Ok(attrs
            .get("labels")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Open the label image `name` (from [`OmeZarr::labels`]) as an image of its own.
    pub fn label_image(&self, name: &str) -> Result<OmeZarr> {
        Self::from_store(self.store.child(&format!("labels/{name}")))
    }

    /// A summary of every level: what `omeflow info` prints.
    pub fn info(&self) -> Result<ImageInfo> {
        info::ImageInfo::of(self)
    }
}

fn metadata_needs_ndim(attrs: &Value) -> bool {
    let ome = attrs.get("ome").unwrap_or(attrs);
    ome.get("multiscales")
        .and_then(|m| m.get(0))
        .is_some_and(|m| m.get("axes").is_none())
}

fn first_dataset_path(attrs: &Value) -> Option<String> {
    let ome = attrs.get("ome").unwrap_or(attrs);
    ome.get("multiscales")?
        .get(0)?
        .get("datasets")?
        .get(0)?
        .get("path")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_first_level_is_invalid_metadata_with_its_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
        std::fs::write(
            dir.path().join(".zattrs"),
            r#"{"multiscales": [{"version": "0.1", "datasets": [{"path": "0"}]}]}"#,
        )
        .unwrap();
        let location = dir.path().to_string_lossy().to_string();
        let e = open_image(&location).unwrap_err();
        assert!(matches!(e, Error::InvalidMetadata { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "invalid metadata in {location}: no OME-Zarr image at {location}/0: the first \
                 resolution level's array is missing"
            )
        );
    }
}
