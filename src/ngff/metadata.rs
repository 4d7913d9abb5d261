//! NGFF metadata, versions 0.1 to 0.5, parsed into one normalised description.
//!
//! Whatever the version, an image comes out with its stored axes, how they map onto
//! (t, c, z, y, x), its resolution levels with physical scales, and its `omero` channels.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The five axes every image is normalised to, in order.
pub const AXES5: [&str; 5] = ["t", "c", "z", "y", "x"];

/// One axis as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Axis name (`t`, `c`, `z`, `y`, `x`).
    pub name: String,
    /// `time`, `channel` or `space`, where the metadata says.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Physical unit, where the metadata says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One resolution level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Array path relative to the image root.
    pub path: String,
    /// Physical size of one pixel along each stored axis (1.0 where not given).
    pub scale: Vec<f64>,
    /// Offset along each stored axis (0.0 where not given).
    pub translation: Vec<f64>,
}

/// The display window of a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A channel from the `omero` block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// The channel's label, e.g. `LaminB1`.
    pub name: Option<String>,
    /// Colour as six hex digits, e.g. `0000FF`.
    pub color: Option<String>,
    /// Rendering window.
    pub window: Option<Window>,
    /// Whether the channel is shown by default.
    pub active: Option<bool>,
}

/// An image's metadata, normalised across NGFF versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageMetadata {
    /// NGFF version (`0.1` ... `0.5`); `none` for a bare array opened as an image.
    pub version: String,
    /// Zarr format of the storage (2 or 3).
    pub zarr_format: u8,
    /// The image's name, where given.
    pub name: Option<String>,
    /// Axes as stored.
    pub axes: Vec<Axis>,
    /// Resolution levels, full resolution first.
    pub levels: Vec<Level>,
    /// Channels from the `omero` block (may be empty).
    pub channels: Vec<Channel>,
}

impl ImageMetadata {
    /// For each of (t, c, z, y, x), the index of that axis in the stored order, if present.
    pub fn axis_map(&self) -> [Option<usize>; 5] {
        let mut map = [None; 5];
        for (i, a) in self.axes.iter().enumerate() {
            if let Some(k) = AXES5.iter().position(|n| *n == a.name) {
                map[k] = Some(i);
            }
        }
        map
    }

    /// Physical scale of a level normalised to (t, c, z, y, x), 1.0 for absent axes.
    pub fn scale5(&self, level: usize) -> Option<[f64; 5]> {
        let lv = self.levels.get(level)?;
        let map = self.axis_map();
        let mut out = [1.0; 5];
        for k in 0..5 {
            if let Some(i) = map[k] {
                out[k] = lv.scale.get(i).copied().unwrap_or(1.0);
            }
        }
        Some(out)
    }

    /// Unit of each of (t, c, z, y, x), where given.
    pub fn units5(&self) -> [Option<String>; 5] {
        let map = self.axis_map();
        std::array::from_fn(|k| map[k].and_then(|i| self.axes[i].unit.clone()))
    }
}

/// What the root attributes hold when they do not describe an image.
pub(crate) fn describe_non_image(attrs: &Value) -> String {
    let attrs = ome_block(attrs);
    let obj = match attrs.as_object() {
        Some(o) if !o.is_empty() => o,
        _ => return "a Zarr group without attributes (no `multiscales`)".into(),
    };
    if obj.contains_key("plate") {
        return "an HCS plate (`plate` metadata); open one of its wells' fields, e.g. `A/1/0`"
            .into();
    }
    if obj.contains_key("well") {
        return "an HCS well (`well` metadata); open one of its fields, e.g. `0`".into();
    }
    if obj.contains_key("labels") {
        return "a `labels` group; open one of its label images".into();
    }
    if obj.contains_key("bioformats2raw.layout") {
        return "a bioformats2raw layout without an image at `0`".into();
    }
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    format!(
        "a Zarr group with attributes [{}] but no `multiscales`",
        keys.join(", ")
    )
}

/// NGFF 0.5 keeps everything under `ome`; older versions at the top.
fn ome_block(attrs: &Value) -> &Value {
    match attrs.get("ome") {
        Some(v) if v.is_object() => v,
        _ => attrs,
    }
}

/// Parse root attributes into image metadata; `Ok(None)` when they hold no `multiscales`.
/// Metadata that cannot be understood is [`Error::InvalidMetadata`] at `location`.
///
/// `ndim_of_level0` gives the dimensionality of the first level's array, needed by versions
/// without axes; its error is returned as it is.
pub(crate) fn parse(
    attrs: &Value,
    zarr_format: u8,
    location: &str,
    ndim_of_level0: impl FnOnce(&str) -> Result<usize>,
) -> Result<Option<ImageMetadata>> {
    let bad = |reason: String| invalid(location, reason);
    let ome = ome_block(attrs);
    let Some(multiscales) = ome.get("multiscales") else {
        return Ok(None);
    };
    let ms = multiscales
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("`multiscales` is not a non-empty list".into()))?;
    let version = ms
        .get("version")
        .or_else(|| ome.get("version"))
        .and_then(Value::as_str)
        .unwrap_or(if zarr_format == 3 { "0.5" } else { "0.4" })
        .to_string();
    let datasets = ms
        .get("datasets")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| bad("`multiscales[0].datasets` is missing or empty".into()))?;
    let paths: Vec<String> = datasets
        .iter()
        .map(|d| {
            d.get("path")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad("a dataset has no `path`".into()))
        })
        .collect::<Result<_>>()?;

    let axes = match ms.get("axes") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(Axis {
                    name: s.clone(),
                    kind: None,
                    unit: None,
                }),
                Value::Object(o) => Ok(Axis {
                    name: o
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("an axis has no `name`".into()))?
                        .to_string(),
                    kind: o.get("type").and_then(Value::as_str).map(str::to_string),
                    unit: o.get("unit").and_then(Value::as_str).map(str::to_string),
                }),
                _ => Err(bad("an axis is neither a string nor an object".into())),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(bad("`axes` is not a list".into())),
        None => {
            // 0.1 and 0.2 have no axes: the array is t,c,z,y,x (its last `ndim` of them).
            let ndim = ndim_of_level0(&paths[0])?;
            default_axes(ndim, location)?
        }
    };
    for (i, a) in axes.iter().enumerate() {
        if !AXES5.contains(&a.name.as_str()) {
            return Err(bad(format!(
                "axis {:?} is not one of t, c, z, y, x; omeflow reads images with those axes",
                a.name
            )));
        }
        if axes[..i].iter().any(|b| b.name == a.name) {
            return Err(bad(format!("axis {:?} is declared twice", a.name)));
        }
    }
    for p in &paths {
        // A level's path names a folder inside the image, never one outside it.
        if p.split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || p.contains('\\')
        {
            return Err(bad(format!(
                "dataset path {p:?} is not a relative path inside the image"
            )));
        }
    }
    if paths.len() > 64 {
        return Err(bad(format!(
            "{} resolution levels declared; at most 64 are read",
            paths.len()
        )));
    }
    let n = axes.len();
    let global = ms.get("coordinateTransformations");
    let (gscale, gtrans) = transforms(global, n, location)?;
    let levels = datasets
        .iter()
        .zip(paths)
        .map(|(d, path)| {
            let (s, t) = transforms(d.get("coordinateTransformations"), n, location)?;
            Ok(Level {
                path,
                scale: s.iter().zip(&gscale).map(|(a, b)| a * b).collect(),
                translation: t
                    .iter()
                    .zip(&gscale)
                    .zip(&gtrans)
                    .map(|((t, g), gt)| t * g + gt)
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let channels = ome
        .get("omero")
        .and_then(|o| o.get("channels"))
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(parse_channel).collect())
        .unwrap_or_default();
    let name = ms
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| {
            ome.get("omero")
                .and_then(|o| o.get("name"))
                .and_then(Value::as_str)
        })
        .map(str::to_string);

    Ok(Some(ImageMetadata {
        version,
        zarr_format,
        name,
        axes,
        levels,
        channels,
    }))
}

/// t,c,z,y,x cut to the last `ndim` axes, as NGFF 0.1/0.2 and bare arrays imply; an array of
/// another dimensionality is [`Error::InvalidMetadata`] at `location`.
pub(crate) fn default_axes(ndim: usize, location: &str) -> Result<Vec<Axis>> {
    if !(2..=5).contains(&ndim) {
        return Err(invalid(
            location,
            format!(
                "the array has {ndim} dimensions; without `axes` omeflow expects 2 to 5 (t, c, z, y, x)"
            ),
        ));
    }
    Ok(AXES5[5 - ndim..]
        .iter()
        .map(|n| Axis {
            name: n.to_string(),
            kind: None,
            unit: None,
        })
        .collect())
}

fn invalid(location: &str, reason: String) -> Error {
    Error::InvalidMetadata {
        location: location.to_string(),
        reason,
    }
}

fn transforms(v: Option<&Value>, n: usize, location: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut scale = vec![1.0; n];
    let mut trans = vec![0.0; n];
    let Some(list) = v.and_then(Value::as_array) else {
        return Ok((scale, trans));
    };
    for t in list {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        let target = match kind {
            "scale" => &mut scale,
            "translation" => &mut trans,
            _ => continue,
        };
        // A transform given by `path` (an external array) is rare; keep the identity then.
        let Some(values) = t.get(kind).and_then(Value::as_array) else {
            continue;
        };
        if values.len() != n {
            return Err(invalid(
                location,
                format!(
                    "a `{kind}` transform has {} values for {n} axes",
                    values.len()
                ),
            ));
        }
        for (dst, v) in target.iter_mut().zip(values) {
            *dst = v
                .as_f64()
                .ok_or_else(|| invalid(location, format!("a `{kind}` value is not a number")))?;
        }
    }
    Ok((scale, trans))
}

fn parse_channel(c: &Value) -> Channel {
    let num = |w: &Value, k: &str| w.get(k).and_then(Value::as_f64);
    Channel {
        name: c.get("label").and_then(Value::as_str).map(str::to_string),
        color: c.get("color").and_then(Value::as_str).map(str::to_string),
        window: c.get("window").and_then(|w| {
            Some(Window {
                start: num(w, "start")?,
                end: num(w, "end")?,
                min: num(w, "min"),
                max: num(w, "max"),
            })
        }),
        active: c.get("active").and_then(Value::as_bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_ndim(_: &str) -> crate::Result<usize> {
        panic!("ndim should not be needed")
    }

    #[test]
    fn v01_has_five_default_axes_and_omero_channels() {
        let attrs = json!({"multiscales":[{"version":"0.1","datasets":[{"path":"0"},{"path":"1"}]}],
            "omero":{"name":"example.tif","channels":[{"active":true,"color":"0000FF","label":"LaminB1",
            "window":{"start":0,"end":1500,"min":0,"max":65535}}]}});
        let m = parse(&attrs, 2, "img", |_| Ok(5)).unwrap().unwrap();
        assert_eq!(m.version, "0.1");
        assert_eq!(m.axes.len(), 5);
        assert_eq!(m.levels.len(), 2);
        assert_eq!(m.channels[0].name.as_deref(), Some("LaminB1"));
        assert_eq!(m.channels[0].window.as_ref().unwrap().end, 1500.0);
        assert_eq!(m.name.as_deref(), Some("example.tif"));
    }

    #[test]
    fn v04_scales_multiply_with_global_transform() {
        let attrs = json!({"multiscales":[{"version":"0.4",
            "axes":[{"name":"c","type":"channel"},{"name":"y","type":"space","unit":"micrometer"},{"name":"x","type":"space","unit":"micrometer"}],
            "datasets":[{"path":"0","coordinateTransformations":[{"type":"scale","scale":[1,0.5,0.5]}]}],
            "coordinateTransformations":[{"type":"scale","scale":[1,2,2]}]}]});
        let m = parse(&attrs, 2, "img", no_ndim).unwrap().unwrap();
        assert_eq!(m.axis_map(), [None, Some(0), None, Some(1), Some(2)]);
        assert_eq!(m.scale5(0).unwrap(), [1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(m.units5()[3].as_deref(), Some("micrometer"));
    }

    #[test]
    fn v05_reads_under_ome() {
        let attrs = json!({"ome":{"version":"0.5","multiscales":[{"axes":["z","y","x"],"datasets":[{"path":"s0"}]}]}});
        let m = parse(&attrs, 3, "img", no_ndim).unwrap().unwrap();
        assert_eq!(m.version, "0.5");
        assert_eq!(m.levels[0].path, "s0");
    }

    #[test]
    fn non_image_is_described() {
        assert!(parse(&json!({"plate":{}}), 2, "img", no_ndim)
            .unwrap()
            .is_none());
        assert!(describe_non_image(&json!({"plate":{}})).contains("plate"));
        assert!(describe_non_image(&json!({"foo":1})).contains("[foo]"));
    }

    #[test]
    fn unknown_axis_is_an_error() {
        let attrs = json!({"multiscales":[{"axes":["q","y","x"],"datasets":[{"path":"0"}]}]});
        let e = parse(&attrs, 2, "img", no_ndim).unwrap_err();
        assert!(e.to_string().contains("\"q\""), "{e}");
    }

    /// What is wrong, where: every refusal is `InvalidMetadata` at the location given, with
    /// the text it always had.
    #[test]
    fn malformed_metadata_is_invalid_metadata_at_the_location() {
        let cases = [
            (
                json!({"multiscales": []}),
                "`multiscales` is not a non-empty list",
            ),
            (
                json!({"multiscales": [{"datasets": []}]}),
                "`multiscales[0].datasets` is missing or empty",
            ),
            (
                json!({"multiscales": [{"axes": ["y", "x"], "datasets": [{}]}]}),
                "a dataset has no `path`",
            ),
            (
                json!({"multiscales": [{"axes": [{"type": "space"}], "datasets": [{"path": "0"}]}]}),
                "an axis has no `name`",
            ),
            (
                json!({"multiscales": [{"axes": [1], "datasets": [{"path": "0"}]}]}),
                "an axis is neither a string nor an object",
            ),
            (
                json!({"multiscales": [{"axes": "yx", "datasets": [{"path": "0"}]}]}),
                "`axes` is not a list",
            ),
            (
                json!({"multiscales": [{"axes": ["y", "y"], "datasets": [{"path": "0"}]}]}),
                "axis \"y\" is declared twice",
            ),
            (
                json!({"multiscales": [{"axes": ["y", "x"], "datasets": [{"path": "../0"}]}]}),
                "dataset path \"../0\" is not a relative path inside the image",
            ),
            (
                json!({"multiscales": [{"axes": ["y", "x"], "datasets": [{"path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": [1]}]}]}]}),
                "a `scale` transform has 1 values for 2 axes",
            ),
            (
                json!({"multiscales": [{"axes": ["y", "x"], "datasets": [{"path": "0"}],
                    "coordinateTransformations": [{"type": "translation", "translation": [0, "a"]}]}]}),
                "a `translation` value is not a number",
            ),
        ];
        for (attrs, reason) in cases {
            match parse(&attrs, 2, "s3://b/img.zarr", no_ndim) {
                Err(e @ Error::InvalidMetadata { .. }) => assert_eq!(
                    e.to_string(),
                    format!("invalid metadata in s3://b/img.zarr: {reason}")
                ),
                other => panic!("{attrs}: {other:?}"),
            }
        }
        let e = parse(
            &json!({"multiscales": [{"datasets": [{"path": "0"}]}]}),
            2,
            "img",
            |_| Ok(7),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidMetadata { .. }), "{e:?}");
        assert!(e.to_string().contains("the array has 7 dimensions"), "{e}");
    }

    #[test]
    fn the_first_level_error_is_returned_as_it_is() {
        let attrs = json!({"multiscales": [{"datasets": [{"path": "0"}]}]});
        let e = parse(&attrs, 2, "img", |p| {
            Err(Error::NotFound {
                location: format!("img/{p}"),
                detail: "gone".into(),
            })
        })
        .unwrap_err();
        assert!(
            matches!(e, Error::NotFound { ref location, .. } if location == "img/0"),
            "{e:?}"
        );
    }
}
