//! Reading ilastik Pixel Classification projects (`.ilp`, HDF5).
//!
//! Layout: ilastik 1.3 and 1.4's `.ilp`, as ilastik's own serializers write it. ilastik writes
//! strings both as fixed-length and as variable-length HDF5 strings (1.3 vs 1.4), so every string read goes through
//! [`read_strings`], which accepts all four kinds.

use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;
use ndarray::{Array5, IxDyn};

use super::features::{FeatureId, FeatureSelection, MAX_FEATURE_ROWS, MAX_SCALES};
use super::forest::{reason, Classifier, Forest, MAX_CLASSES, MAX_FEATURES};
use crate::{Error, Result};

/// ilastik versions whose Pixel Classification layout this reader knows.
const KNOWN_VERSIONS: &[&str] = &["1.3", "1.4"];
const FORESTS: &str = "PixelClassification/ClassifierForests";

/// One label class of the project (ilastik's "Label 1", "Label 2", ...).
#[derive(Clone, Debug, PartialEq)]
pub struct LabelClass {
    /// The name the user gave it.
    pub name: String,
    /// Display colour (RGB).
    pub color: [u8; 3],
}

/// One block of training annotations: `data[t, z, y, x, 0]` is 0 (unlabelled) or the class
/// number k (1-based) of the voxel at `start + (t, z, y, x)` of the training image.
#[derive(Clone, Debug)]
pub struct LabelBlock {
    /// Offset of the block in the training image, as (t, z, y, x, c).
    pub start: [usize; 5],
    /// The labels, (t, z, y, x, c) with c of size 1.
    pub data: Array5<u8>,
}

/// An ilastik Pixel Classification project: what to compute (features), what it learned
/// (forests), and what it was taught (label classes and annotations).
#[derive(Clone, Debug)]
pub struct Project {
    /// Where it was read from.
    pub path: PathBuf,
    /// The ilastik version that wrote it, e.g. `1.3.3post2`.
    pub ilastik_version: String,
    /// The feature selection.
    pub features: FeatureSelection,
    /// Label classes, class k+1 at index k.
    pub labels: Vec<LabelClass>,
    /// Training annotations of the first lane (image).
    pub annotations: Vec<LabelBlock>,
    /// Shape of the first training image as (t, z, y, x, c), when the project records it.
    pub training_shape: Option<[usize; 5]>,
    /// The trained classifier, or why there is none: read with [`Project::classifier`], set
    /// with [`Project::set_classifier`] (or [`Project::train`]).
    trained: Trained,
    /// ilastik's names of the classifier's input columns, e.g. `Gaussian Smoothing (σ=0.3) [0]`.
    pub feature_names: Vec<String>,
}

/// A project's classifier, or why it has none (never trained, a classifier omeflow does not
/// read, removed).
#[derive(Clone, Debug)]
enum Trained {
    Yes(Classifier),
    No(String),
}

fn err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Project {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Bounds on what a project may declare. A size read from the file (a count, a shape, a
/// dataset's extent) is checked against these and against the rest of the file's metadata
/// before anything is allocated by it or looped over: an HDF5 dataset can declare an extent of
/// terabytes in a file of kilobytes (chunks never written read as the fill value).
mod limits {
    /// Forests in a classifier (ilastik writes 8 by default).
    pub const FORESTS: usize = 1024;
    /// Trees in one forest (ilastik's default is 100 over all forests).
    pub const TREES: usize = 10_000;
    /// Topology entries of one tree: ~3 million nodes, a tree grown on millions of labels.
    pub const TREE_WORDS: usize = 1 << 24;
    /// Topology and parameter entries over the whole classifier: at most 512 MiB held.
    pub const CLASSIFIER_WORDS: usize = 1 << 26;
    /// Voxels of one annotation block (ilastik writes blocks of at most 64^3 or 512^2).
    pub const BLOCK_VOXELS: usize = 1 << 26;
    /// Voxels over all annotation blocks: 256 MiB of labels.
    pub const ANNOTATION_VOXELS: usize = 1 << 28;
    /// Annotation blocks.
    pub const BLOCKS: usize = 1 << 20;
    /// Bytes of one fixed-length string (ilastik's are feature names of ~50 bytes).
    pub const STRING_BYTES: usize = 1024;
    /// Strings in a metadata dataset that is not a list of features or classes.
    pub const STRINGS: usize = 16;
    /// Extent of one axis of the training image.
    pub const AXIS: usize = 1 << 40;
}

/// Strings of a dataset or attribute, whichever of HDF5's four string kinds it holds; at most
/// `max` of them, each of at most [`limits::STRING_BYTES`] bytes when fixed-length.
pub(crate) fn read_strings(c: &hdf5::Container, max: usize) -> hdf5::Result<Vec<String>> {
    let n = c.size();
    if n > max {
        return Err(format!("holds {n} strings, more than the {max} expected").into());
    }
    let dtype = c.dtype()?;
    if dtype.size() > limits::STRING_BYTES {
        return Err(format!(
            "strings of {} bytes, more than the {} expected",
            dtype.size(),
            limits::STRING_BYTES
        )
        .into());
    }
    Ok(match dtype.to_descriptor()? {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()?
            .iter()
            .map(|s| lossy(s.as_bytes()))
            .collect(),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()?
            .iter()
            .map(|s| lossy(s.as_bytes()))
            .collect(),
        // Read into the smallest buffer that holds them: the buffer is allocated per string.
        TypeDescriptor::FixedAscii(n) if n <= 64 => fixed_ascii::<64>(c)?,
        TypeDescriptor::FixedAscii(_) => fixed_ascii::<{ limits::STRING_BYTES }>(c)?,
        TypeDescriptor::FixedUnicode(n) if n <= 64 => fixed_unicode::<64>(c)?,
        TypeDescriptor::FixedUnicode(_) => fixed_unicode::<{ limits::STRING_BYTES }>(c)?,
        other => return Err(format!("expected strings, found {other}").into()),
    })
}

fn fixed_ascii<const N: usize>(c: &hdf5::Container) -> hdf5::Result<Vec<String>> {
    Ok(c.read_raw::<FixedAscii<N>>()?
        .iter()
        .map(|s| lossy(s.as_bytes()))
        .collect())
}

fn fixed_unicode<const N: usize>(c: &hdf5::Container) -> hdf5::Result<Vec<String>> {
    Ok(c.read_raw::<FixedUnicode<N>>()?
        .iter()
        .map(|s| lossy(s.as_bytes()))
        .collect())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches('\0')
        .to_string()
}

/// A file that keeps its path for error messages.
struct Ilp<'a> {
    path: &'a Path,
    file: hdf5::File,
}

impl Ilp<'_> {
    fn ds(&self, name: &str) -> Result<hdf5::Dataset> {
        self.file
            .dataset(name)
            .map_err(|e| err(self.path, format!("missing or unreadable {name}: {e}")))
    }
    /// The dataset, refused when it declares more than `max` values (checked before reading).
    fn ds_at_most(&self, name: &str, max: usize) -> Result<hdf5::Dataset> {
        let ds = self.ds(name)?;
        let n = ds.size();
        if n > max {
            return Err(err(
                self.path,
                format!(
                    "{name} declares {n} values, more than the {max} a project can hold there: \
                     the file is damaged or was not written by ilastik"
                ),
            ));
        }
        Ok(ds)
    }
    fn strings(&self, name: &str, max: usize) -> Result<Vec<String>> {
        let ds = self.ds(name)?;
        read_strings(&ds, max).map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn string(&self, name: &str) -> Result<String> {
        self.strings(name, limits::STRINGS)?
            .into_iter()
            .next()
            .ok_or_else(|| err(self.path, format!("{name} is empty")))
    }
    fn f64s(&self, name: &str, max: usize) -> Result<Vec<f64>> {
        self.ds_at_most(name, max)?
            .read_raw::<f64>()
            .map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    /// A dataset of one number (vigra stores its options as arrays of one).
    fn scalar(&self, name: &str) -> Result<f64> {
        self.f64s(name, 1)?
            .first()
            .copied()
            .ok_or_else(|| err(self.path, format!("{name} is empty")))
    }
    fn bools(&self, name: &str, max: usize) -> Result<Vec<bool>> {
        let ds = self.ds_at_most(name, max)?;
        match ds.read_raw::<bool>() {
            Ok(v) => Ok(v),
            // Some writers store flags as plain integers.
            Err(_) => Ok(ds
                .read_raw::<i64>()
                .map_err(|e| err(self.path, format!("{name}: {e}")))?
                .into_iter()
                .map(|v| v != 0)
                .collect()),
        }
    }
    fn exists(&self, name: &str) -> bool {
        self.file.link_exists(name)
    }
}

impl Project {
    /// Open a Pixel Classification project written by ilastik 1.3 or 1.4.
    ///
    /// Errors name the file and what is wrong: not HDF5, another workflow (e.g. Object
    /// Classification), an ilastik version whose layout is unknown, or a missing part.
    pub fn open(path: impl AsRef<Path>) -> Result<Project> {
        // Kept (and printed) tidied: `dir/../x.ilp` shows as the file it is.
        let path = &crate::output::tidy_path(path.as_ref());
        if !path.exists() {
            return Err(err(path, "no such file"));
        }
        let file = hdf5::File::open(path)
            .map_err(|e| err(path, format!("not an HDF5 file ilastik wrote: {e}")))?;
        let ilp = Ilp { path, file };
        let workflow = if ilp.exists("workflowName") {
            ilp.string("workflowName")?
        } else {
            return Err(err(path, "no workflowName: not an ilastik project"));
        };
        if workflow != "Pixel Classification" {
            return Err(err(
                path,
                format!("a {workflow:?} project; omeflow reads Pixel Classification projects"),
            ));
        }
        let version = if ilp.exists("ilastikVersion") {
            ilp.string("ilastikVersion")?
        } else {
            return Err(err(path, "no ilastikVersion"));
        };
        if !KNOWN_VERSIONS
            .iter()
            .any(|v| version == *v || version.starts_with(&format!("{v}.")))
        {
            return Err(err(
                path,
                format!(
                    "written by ilastik {version}; omeflow knows the layout of ilastik {}",
                    KNOWN_VERSIONS.join(" and ")
                ),
            ));
        }
        let features = read_features(&ilp)?;
        let labels = read_labels(&ilp)?;
        let (annotations, training_shape) = read_annotations(&ilp)?;
        let n_label_names = ilp
            .exists("PixelClassification/LabelNames")
            .then_some(labels.len());
        let (trained, feature_names) = read_classifier(&ilp, n_label_names)?;
        Ok(Project {
            path: path.to_path_buf(),
            ilastik_version: version,
            features,
            labels,
            annotations,
            training_shape,
            trained,
            feature_names,
        })
    }

    /// A project made without ilastik: a feature selection and label classes, no annotations
    /// and no classifier yet (see [`Project::train_from_labels`]).
    pub fn new(features: FeatureSelection, labels: Vec<LabelClass>) -> Result<Project> {
        features.validate()?;
        Ok(Project {
            path: PathBuf::from("(in memory)"),
            ilastik_version: String::new(),
            features,
            labels,
            annotations: Vec::new(),
            training_shape: None,
            trained: Trained::No("not trained yet: call train or train_from_labels".into()),
            feature_names: Vec::new(),
        })
    }

    /// Number of label classes.
    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// The trained classifier, or [`Error::Project`] naming the project and why it has none
    /// (never trained, a classifier omeflow does not read, removed).
    pub fn classifier(&self) -> Result<&Classifier> {
        match &self.trained {
            Trained::Yes(c) => Ok(c),
            Trained::No(why) => Err(err(&self.path, why.clone())),
        }
    }

    /// Use `classifier` from now on (one trained by
    /// [`Classifier::train`](super::Classifier::train), say), replacing the project's own;
    /// [`Project::save`] writes it.
    pub fn set_classifier(&mut self, classifier: Classifier) {
        self.trained = Trained::Yes(classifier);
    }

    /// Drop the classifier (when the features changed, so it no longer fits them), returning
    /// it; [`Project::classifier`] then says it was removed.
    pub fn remove_classifier(&mut self) -> Option<Classifier> {
        let why = "the classifier was removed: call train or train_from_labels".to_string();
        match std::mem::replace(&mut self.trained, Trained::No(why)) {
            Trained::Yes(c) => Some(c),
            Trained::No(_) => None,
        }
    }
}

fn read_features(ilp: &Ilp) -> Result<FeatureSelection> {
    let ids = ilp.strings("FeatureSelections/FeatureIds", MAX_FEATURE_ROWS)?;
    let ids = ids
        .iter()
        .map(|s| {
            FeatureId::from_ilastik(s)
                .ok_or_else(|| err(ilp.path, format!("unknown feature id {s:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let scales = ilp.f64s("FeatureSelections/Scales", MAX_SCALES)?;
    let ds = ilp.ds("FeatureSelections/SelectionMatrix")?;
    let shape = ds.shape();
    if shape != [ids.len(), scales.len()] {
        return Err(err(
            ilp.path,
            format!(
                "SelectionMatrix has shape {shape:?}, expected [{}, {}] (features x scales)",
                ids.len(),
                scales.len()
            ),
        ));
    }
    let flat = ilp.bools(
        "FeatureSelections/SelectionMatrix",
        ids.len() * scales.len(),
    )?;
    let matrix = flat.chunks(scales.len()).map(|r| r.to_vec()).collect();
    let in_2d = if ilp.exists("FeatureSelections/ComputeIn2d") {
        let v = ilp.bools("FeatureSelections/ComputeIn2d", scales.len())?;
        if v.len() != scales.len() {
            return Err(err(
                ilp.path,
                "ComputeIn2d does not have one flag per scale",
            ));
        }
        v
    } else {
        vec![false; scales.len()]
    };
    let sel = FeatureSelection {
        ids,
        scales,
        matrix,
        in_2d,
    };
    sel.validate().map_err(|e| err(ilp.path, reason(e)))?;
    Ok(sel)
}

fn read_labels(ilp: &Ilp) -> Result<Vec<LabelClass>> {
    if !ilp.exists("PixelClassification/LabelNames") {
        return Ok(Vec::new());
    }
    let names = ilp.strings("PixelClassification/LabelNames", MAX_CLASSES)?;
    let colors = if ilp.exists("PixelClassification/LabelColors") {
        ilp.f64s("PixelClassification/LabelColors", 3 * names.len())?
    } else {
        Vec::new()
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            // Clamped: a colour is only displayed, so an odd value is not worth refusing.
            let color = match colors.get(3 * k..3 * k + 3) {
                Some(&[r, g, b]) => [r, g, b].map(|v| v.clamp(0.0, 255.0) as u8),
                _ => [128, 128, 128],
            };
            LabelClass { name, color }
        })
        .collect())
}

/// Axis keys of vigra axistags JSON, e.g. "tzyxc".
fn axes_of(ilp: &Ilp, json: &str) -> Result<String> {
    let json: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| err(ilp.path, format!("axistags are not JSON: {e}")))?;
    Ok(json["axes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["key"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default())
}

/// Axis keys of the first lane's raw data.
fn raw_axes(ilp: &Ilp) -> Result<Option<String>> {
    let name = "Input Data/infos/lane0000/Raw Data/axistags";
    if !ilp.exists(name) {
        return Ok(None);
    }
    Ok(Some(axes_of(ilp, &ilp.string(name)?)?))
}

/// Where each of the file's axes goes in (t, z, y, x, c).
fn axis_map(ilp: &Ilp, axes: &str) -> Result<Vec<usize>> {
    let map = axes
        .chars()
        .map(|a| {
            "tzyxc"
                .find(a)
                .ok_or_else(|| err(ilp.path, format!("unknown axis {a:?} in {axes:?}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    // Each axis once: the blocks are reordered by this map, a repeated axis would lose one.
    if (0..5).any(|d| map.iter().filter(|&&m| m == d).count() > 1) {
        return Err(err(ilp.path, format!("axes {axes:?} repeat an axis")));
    }
    Ok(map)
}

fn parse_block_slice(s: &str) -> Option<Vec<(usize, usize)>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split(',')
        .map(|p| {
            let (a, b) = p.trim().split_once(':')?;
            let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        })
        .collect()
}

type Annotations = (Vec<LabelBlock>, Option<[usize; 5]>);

fn read_annotations(ilp: &Ilp) -> Result<Annotations> {
    let axes = raw_axes(ilp)?;
    let shape_name = "Input Data/infos/lane0000/Raw Data/shape";
    let shape = if ilp.exists(shape_name) {
        let v = ilp.f64s(shape_name, 5)?;
        Some(
            v.iter()
                .map(|&d| whole(ilp, shape_name, d, 0, limits::AXIS))
                .collect::<Result<Vec<usize>>>()?,
        )
    } else {
        None
    };
    let map = match (&axes, &shape) {
        (Some(a), _) if !a.is_empty() => Some(axis_map(ilp, a)?),
        _ => None,
    };
    let to_tzyxc = |map: &Option<Vec<usize>>, v: &[usize], fill: usize| -> Option<[usize; 5]> {
        let mut out = [fill; 5];
        match map {
            Some(m) if m.len() == v.len() => {
                for (i, &d) in m.iter().enumerate() {
                    out[d] = v[i];
                }
            }
            None if v.len() == 5 => out.copy_from_slice(v),
            _ => return None,
        }
        Some(out)
    };
    let training_shape = shape.and_then(|s| to_tzyxc(&map, &s, 1));
    let group = "PixelClassification/LabelSets/labels000";
    if !ilp.exists(group) {
        return Ok((Vec::new(), training_shape));
    }
    let g = ilp
        .file
        .group(group)
        .map_err(|e| err(ilp.path, format!("{group}: {e}")))?;
    let mut names = g
        .member_names()
        .map_err(|e| err(ilp.path, format!("{group}: {e}")))?;
    if names.len() > limits::BLOCKS {
        return Err(err(
            ilp.path,
            format!(
                "{group} holds {} annotation blocks, more than {}",
                names.len(),
                limits::BLOCKS
            ),
        ));
    }
    names.sort();
    let mut blocks = Vec::new();
    let mut voxels_left = limits::ANNOTATION_VOXELS;
    for name in names {
        let full = format!("{group}/{name}");
        let ds = ilp.ds(&full)?;
        let slice = ds
            .attr("blockSlice")
            .map_err(|e| err(ilp.path, format!("{full}: no blockSlice: {e}")))
            .and_then(|a| {
                read_strings(&a, limits::STRINGS)
                    .map_err(|e| err(ilp.path, format!("{full} blockSlice: {e}")))
            })?;
        let slice = slice
            .first()
            .and_then(|s| parse_block_slice(s))
            .ok_or_else(|| err(ilp.path, format!("{full}: malformed blockSlice {slice:?}")))?;
        // ilastik 1.4 tags each block with its own axes (often without t).
        let map = match ds.attr("axistags") {
            Ok(a) => {
                let tags = read_strings(&a, limits::STRINGS)
                    .map_err(|e| err(ilp.path, format!("{full} axistags: {e}")))?;
                match tags.first() {
                    Some(t) => Some(axis_map(ilp, &axes_of(ilp, t)?)?),
                    None => map.clone(),
                }
            }
            Err(_) => map.clone(),
        };
        let starts: Vec<usize> = slice.iter().map(|r| r.0).collect();
        let dims: Vec<usize> = slice.iter().map(|r| r.1 - r.0).collect();
        // Everything about the block's size is checked before its voxels are read.
        if dims != ds.shape() {
            return Err(err(
                ilp.path,
                format!(
                    "{full}: blockSlice {slice:?} does not match its shape {:?}",
                    ds.shape()
                ),
            ));
        }
        let (start, shape5) = match (to_tzyxc(&map, &starts, 0), to_tzyxc(&map, &dims, 1)) {
            (Some(s), Some(d)) => (s, d),
            _ => {
                return Err(err(
                    ilp.path,
                    format!(
                        "{full}: {}-d block does not match the axes {axes:?}",
                        dims.len()
                    ),
                ))
            }
        };
        let limit = training_shape.unwrap_or([limits::AXIS; 5]);
        let inside = |a: usize| {
            start[a]
                .checked_add(shape5[a])
                .is_some_and(|e| e <= limit[a])
        };
        if !(0..5).all(inside) {
            return Err(err(
                ilp.path,
                format!(
                    "{full}: blockSlice {slice:?} reaches beyond the training image \
                     (t, z, y, x, c) {limit:?}"
                ),
            ));
        }
        let voxels = super::checked_len(&dims, "an annotation block")
            .ok()
            .filter(|&v| v <= limits::BLOCK_VOXELS && v <= voxels_left)
            .ok_or_else(|| {
                err(
                    ilp.path,
                    format!(
                        "{full}: a block of {dims:?} voxels; a block may hold {} and all \
                         blocks together {}",
                        limits::BLOCK_VOXELS,
                        limits::ANNOTATION_VOXELS
                    ),
                )
            })?;
        voxels_left -= voxels;
        let data = ds
            .read_dyn::<u8>()
            .map_err(|e| err(ilp.path, format!("{full}: {e}")))?;
        // Reorder the block's own axes to t, z, y, x, c.
        let data = match &map {
            Some(m) => {
                let mut perm = vec![0usize; m.len()];
                let mut order: Vec<usize> = (0..m.len()).collect();
                order.sort_by_key(|&i| m[i]);
                perm.copy_from_slice(&order);
                data.permuted_axes(IxDyn(&perm))
            }
            None => data,
        };
        let data = data
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&shape5))
            .map_err(|e| err(ilp.path, format!("{full}: {e}")))?
            .into_dimensionality::<ndarray::Ix5>()
            .map_err(|e| err(ilp.path, format!("{full}: {e}")))?;
        blocks.push(LabelBlock { start, data });
    }
    Ok((blocks, training_shape))
}

type ClassifierParts = (Trained, Vec<String>);

/// `n_label_names`: the project's label classes, when it names them; a forest cannot have more.
fn read_classifier(ilp: &Ilp, n_label_names: Option<usize>) -> Result<ClassifierParts> {
    if !ilp.exists(FORESTS) {
        return Ok((
            Trained::No("the project has not been trained (no ClassifierForests)".into()),
            Vec::new(),
        ));
    }
    let kind = if ilp.exists(&format!("{FORESTS}/pickled_type")) {
        ilp.string(&format!("{FORESTS}/pickled_type"))?
    } else {
        String::new()
    };
    let names = if ilp.exists(&format!("{FORESTS}/feature_names")) {
        ilp.strings(&format!("{FORESTS}/feature_names"), MAX_FEATURES)?
    } else {
        Vec::new()
    };
    if !kind.is_empty() && !kind.contains("VigraRfLazyflowClassifier") {
        let first = kind.lines().nth(1).unwrap_or(&kind).to_string();
        return Ok((
            Trained::No(format!(
                "the project's classifier is {first}; omeflow reads vigra random forests"
            )),
            names,
        ));
    }
    let g = ilp
        .file
        .group(FORESTS)
        .map_err(|e| err(ilp.path, format!("{FORESTS}: {e}")))?;
    let mut forest_names: Vec<String> = g
        .member_names()
        .map_err(|e| err(ilp.path, format!("{FORESTS}: {e}")))?
        .into_iter()
        .filter(|n| n.starts_with("Forest"))
        .collect();
    forest_names.sort();
    if forest_names.len() > limits::FORESTS {
        return Err(err(
            ilp.path,
            format!(
                "{FORESTS} holds {} forests, more than {}",
                forest_names.len(),
                limits::FORESTS
            ),
        ));
    }
    if forest_names.is_empty() {
        return Ok((
            Trained::No("ClassifierForests holds no forest".into()),
            names,
        ));
    }
    let mut forests = Vec::with_capacity(forest_names.len());
    let mut words_left = limits::CLASSIFIER_WORDS;
    for name in &forest_names {
        let group = format!("{FORESTS}/{name}");
        forests.push(read_forest(ilp, &group, n_label_names, &mut words_left)?);
    }
    let classifier = Classifier::new(forests).map_err(|e| err(ilp.path, reason(e)))?;
    Ok((Trained::Yes(classifier), names))
}

/// A count stored as a number (vigra stores its sizes as doubles): whole, from `min` to `max`.
fn whole(ilp: &Ilp, name: &str, v: f64, min: usize, max: usize) -> Result<usize> {
    if v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
        Ok(v as usize)
    } else {
        Err(err(
            ilp.path,
            format!("{name} is {v}; it must be a whole number from {min} to {max}"),
        ))
    }
}

/// One vigra forest. `words_left` is what the classifier may still hold of topology and
/// parameter entries; every size is checked against the forest's own metadata before it is
/// read.
fn read_forest(
    ilp: &Ilp,
    group: &str,
    n_label_names: Option<usize>,
    words_left: &mut usize,
) -> Result<Forest> {
    let name = |n: &str| format!("{group}/{n}");
    let scalar = |n: &str| ilp.scalar(&name(n));
    let n_features = whole(
        ilp,
        &name("_ext_param/column_count_"),
        scalar("_ext_param/column_count_")?,
        1,
        MAX_FEATURES,
    )?;
    let max_classes = n_label_names.unwrap_or(MAX_CLASSES).min(MAX_CLASSES);
    let n_classes = whole(
        ilp,
        &name("_ext_param/class_count_"),
        scalar("_ext_param/class_count_")?,
        1,
        max_classes,
    )
    .map_err(|e| match n_label_names {
        Some(n) => err(
            ilp.path,
            format!("{e}: the project names {n} label classes"),
        ),
        None => e,
    })?;
    let weighted = if ilp.exists(&name("_options/predict_weighted_")) {
        scalar("_options/predict_weighted_")? != 0.0
    } else {
        false
    };
    let labels: Vec<u32> = if ilp.exists(&name("_ext_param/labels")) {
        let what = name("_ext_param/labels");
        ilp.f64s(&what, n_classes)?
            .into_iter()
            .map(|v| whole(ilp, &what, v, 0, u32::MAX as usize).map(|v| v as u32))
            .collect::<Result<_>>()?
    } else {
        (1..=n_classes as u32).collect()
    };
    // The declared tree count must be the trees present: it sizes the loop below.
    let g = ilp
        .file
        .group(group)
        .map_err(|e| err(ilp.path, format!("{group}: {e}")))?;
    let present = g
        .member_names()
        .map_err(|e| err(ilp.path, format!("{group}: {e}")))?
        .iter()
        .filter(|n| n.starts_with("Tree_"))
        .count();
    let tree_count = whole(
        ilp,
        &name("_options/tree_count_"),
        scalar("_options/tree_count_")?,
        1,
        limits::TREES,
    )?;
    if tree_count != present {
        return Err(err(
            ilp.path,
            format!("{group}: tree_count_ is {tree_count}, the forest holds {present} trees"),
        ));
    }
    // A node has at least two topology entries and at most max(2, 1 + classes) parameters.
    let params_per_node = (n_classes + 1).max(2);
    let mut trees = Vec::with_capacity(tree_count);
    for k in 0..tree_count {
        let tree = format!("{group}/Tree_{k:02}");
        let tree = if ilp.exists(&tree) {
            tree
        } else {
            format!("{group}/Tree_{k}")
        };
        let topology_name = format!("{tree}/topology");
        let max_words = limits::TREE_WORDS.min(*words_left);
        let topology: Vec<i32> = ilp
            .ds_at_most(&topology_name, max_words)?
            .read_raw::<i32>()
            .map_err(|e| err(ilp.path, format!("{topology_name}: {e}")))?;
        *words_left -= topology.len();
        let max_params = (topology.len().saturating_sub(2) / 2)
            .saturating_mul(params_per_node)
            .min(*words_left);
        let parameters = ilp.f64s(&format!("{tree}/parameters"), max_params)?;
        *words_left -= parameters.len();
        trees.push((topology, parameters));
    }
    Forest::from_vigra(n_features, n_classes, labels, weighted, &trees)
        .map_err(|e| err(ilp.path, format!("{group}: {}", reason(e))))
}

impl std::fmt::Display for Project {
    /// A summary for notebooks and logs: version, classes, features, forests.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ilastik {} Pixel Classification project {}",
            if self.ilastik_version.is_empty() {
                "(none)"
            } else {
                &self.ilastik_version
            },
            self.path.display()
        )?;
        let names: Vec<&str> = self.labels.iter().map(|l| l.name.as_str()).collect();
        writeln!(f, "  classes: {}", names.join(", "))?;
        let sel: Vec<String> = self
            .features
            .selected()
            .iter()
            .map(|&(id, j)| format!("{}({})", id.ilastik_id(), self.features.scales[j]))
            .collect();
        writeln!(f, "  features: {} selected: {}", sel.len(), sel.join(" "))?;
        if let Some(s) = self.training_shape {
            writeln!(
                f,
                "  trained on (t, z, y, x, c) {s:?}, {} annotation blocks",
                self.annotations.len()
            )?;
        }
        match &self.trained {
            Trained::Yes(c) => write!(
                f,
                "  classifier: {} forests, {} trees, {} features per pixel",
                c.forests.len(),
                c.tree_count(),
                c.n_features()
            ),
            Trained::No(why) => write!(f, "  classifier: none ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_path_is_kept_tidied() {
        match Project::open("/no-such-omeflow-dir/x/../y/./p.ilp") {
            Err(Error::Project { path, reason }) => {
                assert_eq!(path, "/no-such-omeflow-dir/y/p.ilp");
                assert_eq!(reason, "no such file");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn block_slices() {
        assert_eq!(
            parse_block_slice("[0:1,37:39,166:180,106:107,0:1]"),
            Some(vec![(0, 1), (37, 39), (166, 180), (106, 107), (0, 1)])
        );
        assert_eq!(parse_block_slice("0:1"), None);
        assert_eq!(parse_block_slice("[0:x]"), None);
    }
}
