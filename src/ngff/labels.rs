//! Label images that line up with their image, as NGFF's `labels/` says: the image's NGFF
//! version and Zarr format, its axes, and a pyramid whose level k has the shape, scale and
//! translation of the image's level k (labels computed at level 4 start at level 4's scale; the
//! levels below are made by the nearest-neighbour rule), `image-label` colours, and `source` a
//! relative path to the image.
//!
//! Labels go into the image when it is a local folder omeflow may write to, or beside it (a
//! folder of their own whose root is a group holding `labels/<name>`) for an image that is
//! read-only: on a server, or a folder the user cannot write.

use std::path::{Component, Path, PathBuf};

use super::metadata::AXES5;
use super::writer::{Compression, ImageSpec, LevelSpec, NgffVersion};
use super::OmeZarr;
use crate::store::{redact, Store};
use crate::{Error, Result};

/// Where the labels of an image level go, and how they are shaped.
#[derive(Clone, Debug)]
pub struct LabelTarget {
    /// The root that receives `labels/<name>`: the image itself, or a folder beside it.
    pub location: String,
    /// Whether that root is the image.
    pub inside: bool,
    /// The label image's shape, levels and axes, aligned with the image.
    pub spec: ImageSpec,
    /// `image-label`'s `source.image`: the image, relative to `labels/<name>`.
    pub source: String,
}

impl LabelTarget {
    /// Labels of `level` of `image` written to `out` (the image's own location to write into
    /// it, any other location to write beside it).
    pub fn new(image: &OmeZarr, level: usize, out: &str) -> Result<Self> {
        let spec = label_spec(image, level)?;
        let inside = same_place(image.location(), out);
        if inside && image.location().contains("://") {
            return Err(Error::InvalidArgument(format!(
                "{} is on a server and read-only here: give a local folder to write the labels \
                 beside it (e.g. `--labels-out labels.ome.zarr`)",
                redact(image.location())
            )));
        }
        let source = if inside {
            "../../".to_string()
        } else {
            relative_source(image.location(), out)
        };
        Ok(LabelTarget {
            location: out.to_string(),
            inside,
            spec,
            source,
        })
    }

    /// The store of the root that receives `labels/`, a local folder created when missing.
    pub(crate) fn open_store(&self) -> Result<Store> {
        if self.location.contains("://") {
            Store::open(&self.location, &crate::store::StoreOptions::default())
        } else {
            Store::create_local(Path::new(&self.location))
        }
    }
}

/// The spec of a label image for `level` of `image`: levels `level..` of the image for as long
/// as they keep its (t, c, z) and shrink in y and x, with their scales and translations; the
/// image's axes, NGFF version (0.4 on Zarr v2 for 0.1 to 0.4, 0.5 on Zarr v3) and chunk size in
/// y and x, with several planes per chunk along z when planes are small (16 planes of 128 x 135).
pub fn label_spec(image: &OmeZarr, level: usize) -> Result<ImageSpec> {
    let meta = image.metadata();
    let first = image.level(level)?;
    let map = meta.axis_map();
    let mut pyramid: Vec<LevelSpec> = Vec::new();
    for k in level..image.level_count() {
        let shape = if k == level {
            first.shape()
        } else {
            image.level(k)?.shape()
        };
        if let Some(above) = pyramid.last() {
            if shape[..3] != above.shape[..3]
                || shape[3] > above.shape[3]
                || shape[4] > above.shape[4]
            {
                break; // a pyramid that also shrinks z: our labels stop where theirs do
            }
        }
        let scale = meta.scale5(k).unwrap_or([1.0; 5]);
        let translation = std::array::from_fn(|a| {
            map[a]
                .and_then(|i| meta.levels.get(k).and_then(|l| l.translation.get(i)))
                .copied()
                .unwrap_or(0.0)
        });
        pyramid.push(LevelSpec {
            shape,
            scale,
            translation,
        });
    }
    let version = if meta.version == "0.5" {
        NgffVersion::V0_5
    } else {
        NgffVersion::V0_4
    };
    let chunks = first.chunks();
    let stored: Vec<_> = meta
        .axes
        .iter()
        .filter(|a| AXES5.contains(&a.name.as_str()))
        .cloned()
        .collect();
    let (cy, cx) = (chunks[3].clamp(64, 2048), chunks[4].clamp(64, 2048));
    let [_, _, nz, ny, nx] = first.shape();
    let spec = ImageSpec::new(first.shape(), crate::ngff::DType::I32)
        .with_version(version)
        .with_chunks(cy, cx)
        .with_chunk_depth(chunk_depth(cy.min(ny) * cx.min(nx) * 4, nz))
        .with_compression(Compression::Zstd)
        .with_axes(stored)
        .with_pyramid(pyramid);
    spec.validate()?;
    Ok(spec)
}

/// Label chunks of about this many bytes (before compression), when planes are small.
const BLOCK_BYTES: usize = 1 << 21;

/// Planes per label chunk along z: as many as fit [`BLOCK_BYTES`] (a power of two, at most 64
/// and at most `nz`), one when a plane's chunk alone is that big. Small planes (IDR's level 4)
/// then make one file per 16 planes, not one per plane.
fn chunk_depth(plane_chunk_bytes: usize, nz: usize) -> usize {
    let fit = (BLOCK_BYTES / plane_chunk_bytes.max(1)).clamp(1, 64);
    let pow2 = 1usize << fit.ilog2();
    pow2.min(nz.max(1))
}

/// Whether two locations name the same place (the same text, or the same folder on disk).
fn same_place(a: &str, b: &str) -> bool {
    if a.trim_end_matches('/') == b.trim_end_matches('/') {
        return true;
    }
    let local = |s: &str| s.strip_prefix("file://").unwrap_or(s).to_string();
    if a.contains("://") && !a.starts_with("file://")
        || b.contains("://") && !b.starts_with("file://")
    {
        return false;
    }
    crate::output::tidy_path(local(a)) == crate::output::tidy_path(local(b))
}

/// The image at `image`, as seen from `<out>/labels/<name>`: a relative path when both are on
/// this machine, else the image's address (without credentials).
fn relative_source(image: &str, out: &str) -> String {
    let local = |s: &str| -> Option<PathBuf> {
        if let Some(p) = s.strip_prefix("file://") {
            Some(PathBuf::from(p))
        } else if s.contains("://") {
            None
        } else {
            Some(PathBuf::from(s))
        }
    };
    let (Some(img), Some(out)) = (local(image), local(out)) else {
        return redact(image);
    };
    let from = crate::output::tidy_path(out).join("labels").join("name");
    let to = crate::output::tidy_path(img);
    relative(&from, &to)
        .map(|p| format!("{}/", p.display()))
        .unwrap_or_else(|| to.display().to_string())
}

/// `to` relative to the folder `from`, both absolute and tidy.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_planes_share_chunks_along_z() {
        assert_eq!(chunk_depth(128 * 135 * 4, 988), 16);
        assert_eq!(chunk_depth(128 * 135 * 4, 5), 5);
        assert_eq!(chunk_depth(1024 * 1024 * 4, 988), 1);
        assert_eq!(chunk_depth(64 * 64 * 4, 988), 64);
        assert_eq!(chunk_depth(0, 1), 1);
    }

    #[test]
    fn relative_paths_climb_out_of_the_label_image() {
        let r = relative(
            Path::new("/data/out.zarr/labels/name"),
            Path::new("/data/images/a.zarr"),
        );
        assert_eq!(r, Some(PathBuf::from("../../../images/a.zarr")));
        assert_eq!(
            relative_source("https://u:pw@host/a.zarr", "/tmp/x"),
            "https://host/a.zarr"
        );
    }
}
