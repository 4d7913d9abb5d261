//! A summary of an image (`omeflow info`): a JSON contract documented in README.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Axis, Channel, DType, OmeZarr};
use crate::Result;

/// One resolution level, normalised to (t, c, z, y, x).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelInfo {
    /// Level index, 0 = full resolution.
    pub level: usize,
    /// Array path relative to the image.
    pub path: String,
    /// Shape as [t, c, z, y, x].
    pub shape: [usize; 5],
    /// Chunk shape as [t, c, z, y, x].
    pub chunks: [usize; 5],
    /// Pixel type.
    pub dtype: DType,
    /// Physical pixel size along [t, c, z, y, x].
    pub scale: [f64; 5],
    /// Uncompressed size in bytes.
    pub bytes: u64,
}

/// What `omeflow info --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The location as given.
    pub location: String,
    /// NGFF version, or `none` for a bare array.
    pub ngff_version: String,
    /// Zarr format, 2 or 3.
    pub zarr_format: u8,
    /// Image name, where given.
    pub name: Option<String>,
    /// Axes as stored (the `shape` fields are always t, c, z, y, x).
    pub axes: Vec<Axis>,
    /// Units of [t, c, z, y, x], where given.
    pub units: [Option<String>; 5],
    /// Every level.
    pub levels: Vec<LevelInfo>,
    /// Channels from the `omero` block.
    pub channels: Vec<Channel>,
    /// Label images under `labels/`.
    pub labels: Vec<String>,
}

impl ImageInfo {
    pub(crate) fn of(image: &OmeZarr) -> Result<Self> {
        let m = image.metadata();
        let levels = (0..image.level_count())
            .map(|i| {
                let p = image.level(i)?;
                Ok(LevelInfo {
                    level: i,
                    path: m.levels[i].path.clone(),
                    shape: p.shape(),
                    chunks: p.chunks(),
                    dtype: p.dtype(),
                    scale: p.scale(),
                    bytes: p.nbytes(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            location: image.location().to_string(),
            ngff_version: m.version.clone(),
            zarr_format: m.zarr_format,
            name: m.name.clone(),
            axes: m.axes.clone(),
            units: m.units5(),
            levels,
            channels: m.channels.clone(),
            labels: image.labels()?,
        })
    }
}

impl fmt::Display for ImageInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.location)?;
        if let Some(n) = &self.name {
            writeln!(f, "  name: {n}")?;
        }
        let axes: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        writeln!(
            f,
            "  NGFF {} on Zarr v{}, stored axes: {}",
            self.ngff_version,
            self.zarr_format,
            axes.join(",")
        )?;
        writeln!(f, "  levels (shape and chunks as t, c, z, y, x):")?;
        for l in &self.levels {
            writeln!(
                f,
                "    {:>2} {:<6} shape {:?} chunks {:?} {} {}",
                l.level,
                format!("\"{}\"", l.path),
                l.shape,
                l.chunks,
                l.dtype,
                crate::units::bytes(l.bytes)
            )?;
        }
        if !self.channels.is_empty() {
            writeln!(f, "  channels:")?;
            for (i, c) in self.channels.iter().enumerate() {
                let window = c
                    .window
                    .as_ref()
                    .map(|w| format!(" window {}..{}", w.start, w.end))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "    {i}: {} color {}{window}",
                    c.name.as_deref().unwrap_or("(unnamed)"),
                    c.color.as_deref().unwrap_or("-"),
                )?;
            }
        }
        if !self.labels.is_empty() {
            writeln!(f, "  labels: {}", self.labels.join(", "))?;
        }
        Ok(())
    }
}
