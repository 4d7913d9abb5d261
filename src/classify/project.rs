//! Reading ilastik Pixel Classification projects (`.ilp`, HDF5).
//!
//! Layout: `../shared/reference/ilastik.md`. ilastik writes strings both as fixed-length and as
//! variable-length HDF5 strings (1.3 vs 1.4), so every string read goes through
//! [`read_strings`], which accepts all four kinds.

use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;
use ndarray::{Array5, IxDyn};

use super::features::{FeatureId, FeatureSelection};
use super::forest::{Classifier, Forest};
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
    /// The trained classifier; `None` when the project was never trained (see
    /// [`Project::classifier_note`]). Replace it with one trained by
    /// [`Classifier::train`](super::Classifier::train) to use a project without ilastik.
    pub classifier: Option<Classifier>,
    /// Why there is no classifier, when there is none.
    pub classifier_note: Option<String>,
    /// ilastik's names of the classifier's input columns, e.g. "Gaussian Smoothing (σ=0.3) [0]".
    pub feature_names: Vec<String>,
}

fn err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Project {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Strings of a dataset or attribute, whichever of HDF5's four string kinds it holds.
pub(crate) fn read_strings(c: &hdf5::Container) -> hdf5::Result<Vec<String>> {
    fn lossy(b: &[u8]) -> String {
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .to_string()
    }
    Ok(match c.dtype()?.to_descriptor()? {
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
        TypeDescriptor::FixedAscii(_) => c
            .read_raw::<FixedAscii<1024>>()?
            .iter()
            .map(|s| lossy(s.as_bytes()))
            .collect(),
        TypeDescriptor::FixedUnicode(_) => c
            .read_raw::<FixedUnicode<1024>>()?
            .iter()
            .map(|s| lossy(s.as_bytes()))
            .collect(),
        other => return Err(format!("expected strings, found {other}").into()),
    })
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
    fn strings(&self, name: &str) -> Result<Vec<String>> {
        let ds = self.ds(name)?;
        read_strings(&ds).map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn string(&self, name: &str) -> Result<String> {
        self.strings(name)?
            .into_iter()
            .next()
            .ok_or_else(|| err(self.path, format!("{name} is empty")))
    }
    fn f64s(&self, name: &str) -> Result<Vec<f64>> {
        self.ds(name)?
            .read_raw::<f64>()
            .map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn bools(&self, name: &str) -> Result<Vec<bool>> {
        let ds = self.ds(name)?;
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
        let path = path.as_ref();
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
        let (classifier, classifier_note, feature_names) = read_classifier(&ilp)?;
        Ok(Project {
            path: path.to_path_buf(),
            ilastik_version: version,
            features,
            labels,
            annotations,
            training_shape,
            classifier,
            classifier_note,
            feature_names,
        })
    }

    /// A project made without ilastik: a feature selection and label classes, no annotations
    /// and no classifier yet (see [`Project::train_from_labels`]).
    pub fn new(features: FeatureSelection, labels: Vec<LabelClass>) -> Result<Project> {
        features.validate().map_err(Error::InvalidArgument)?;
        Ok(Project {
            path: PathBuf::from("(in memory)"),
            ilastik_version: String::new(),
            features,
            labels,
            annotations: Vec::new(),
            training_shape: None,
            classifier: None,
            classifier_note: Some("not trained yet: call train or train_from_labels".into()),
            feature_names: Vec::new(),
        })
    }

    /// Number of label classes.
    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }
}

fn read_features(ilp: &Ilp) -> Result<FeatureSelection> {
    let ids = ilp.strings("FeatureSelections/FeatureIds")?;
    let ids = ids
        .iter()
        .map(|s| {
            FeatureId::from_ilastik(s)
                .ok_or_else(|| err(ilp.path, format!("unknown feature id {s:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let scales = ilp.f64s("FeatureSelections/Scales")?;
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
    let flat = ilp.bools("FeatureSelections/SelectionMatrix")?;
    let matrix = flat.chunks(scales.len()).map(|r| r.to_vec()).collect();
    let in_2d = if ilp.exists("FeatureSelections/ComputeIn2d") {
        let v = ilp.bools("FeatureSelections/ComputeIn2d")?;
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
    sel.validate().map_err(|r| err(ilp.path, r))?;
    Ok(sel)
}

fn read_labels(ilp: &Ilp) -> Result<Vec<LabelClass>> {
    if !ilp.exists("PixelClassification/LabelNames") {
        return Ok(Vec::new());
    }
    let names = ilp.strings("PixelClassification/LabelNames")?;
    let colors = if ilp.exists("PixelClassification/LabelColors") {
        ilp.f64s("PixelClassification/LabelColors")?
    } else {
        Vec::new()
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            let color = match colors.get(3 * k..3 * k + 3) {
                Some(c) => [c[0] as u8, c[1] as u8, c[2] as u8],
                None => [128, 128, 128],
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
    axes.chars()
        .map(|a| {
            "tzyxc"
                .find(a)
                .ok_or_else(|| err(ilp.path, format!("unknown axis {a:?} in {axes:?}")))
        })
        .collect()
}

fn parse_block_slice(s: &str) -> Option<Vec<(usize, usize)>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split(',')
        .map(|p| {
            let (a, b) = p.trim().split_once(':')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect()
}

type Annotations = (Vec<LabelBlock>, Option<[usize; 5]>);

fn read_annotations(ilp: &Ilp) -> Result<Annotations> {
    let axes = raw_axes(ilp)?;
    let shape_name = "Input Data/infos/lane0000/Raw Data/shape";
    let shape = if ilp.exists(shape_name) {
        Some(ilp.f64s(shape_name)?)
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
    let training_shape = shape.and_then(|s| {
        let s: Vec<usize> = s.iter().map(|&v| v as usize).collect();
        to_tzyxc(&map, &s, 1)
    });
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
    names.sort();
    let mut blocks = Vec::new();
    for name in names {
        let full = format!("{group}/{name}");
        let ds = ilp.ds(&full)?;
        let slice = ds
            .attr("blockSlice")
            .map_err(|e| err(ilp.path, format!("{full}: no blockSlice: {e}")))
            .and_then(|a| {
                read_strings(&a).map_err(|e| err(ilp.path, format!("{full} blockSlice: {e}")))
            })?;
        let slice = slice
            .first()
            .and_then(|s| parse_block_slice(s))
            .ok_or_else(|| err(ilp.path, format!("{full}: malformed blockSlice {slice:?}")))?;
        // ilastik 1.4 tags each block with its own axes (often without t).
        let map = match ds.attr("axistags") {
            Ok(a) => {
                let tags =
                    read_strings(&a).map_err(|e| err(ilp.path, format!("{full} axistags: {e}")))?;
                match tags.first() {
                    Some(t) => Some(axis_map(ilp, &axes_of(ilp, t)?)?),
                    None => map.clone(),
                }
            }
            Err(_) => map.clone(),
        };
        let data = ds
            .read_dyn::<u8>()
            .map_err(|e| err(ilp.path, format!("{full}: {e}")))?;
        let starts: Vec<usize> = slice.iter().map(|r| r.0).collect();
        let dims: Vec<usize> = slice.iter().map(|r| r.1.saturating_sub(r.0)).collect();
        if dims != data.shape() {
            return Err(err(
                ilp.path,
                format!(
                    "{full}: blockSlice {slice:?} does not match its shape {:?}",
                    data.shape()
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

type ClassifierParts = (Option<Classifier>, Option<String>, Vec<String>);

fn read_classifier(ilp: &Ilp) -> Result<ClassifierParts> {
    if !ilp.exists(FORESTS) {
        return Ok((
            None,
            Some("the project has not been trained (no ClassifierForests)".into()),
            Vec::new(),
        ));
    }
    let kind = if ilp.exists(&format!("{FORESTS}/pickled_type")) {
        ilp.string(&format!("{FORESTS}/pickled_type"))?
    } else {
        String::new()
    };
    let names = if ilp.exists(&format!("{FORESTS}/feature_names")) {
        ilp.strings(&format!("{FORESTS}/feature_names"))?
    } else {
        Vec::new()
    };
    if !kind.is_empty() && !kind.contains("VigraRfLazyflowClassifier") {
        let first = kind.lines().nth(1).unwrap_or(&kind).to_string();
        return Ok((
            None,
            Some(format!(
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
    if forest_names.is_empty() {
        return Ok((
            None,
            Some("ClassifierForests holds no forest".into()),
            names,
        ));
    }
    let mut forests = Vec::new();
    for name in &forest_names {
        let group = format!("{FORESTS}/{name}");
        forests.push(read_forest(ilp, &group)?);
    }
    let classifier = Classifier::new(forests).map_err(|r| err(ilp.path, r))?;
    Ok((Some(classifier), None, names))
}

fn read_forest(ilp: &Ilp, group: &str) -> Result<Forest> {
    let scalar = |name: &str| -> Result<f64> {
        ilp.f64s(&format!("{group}/{name}"))?
            .first()
            .copied()
            .ok_or_else(|| err(ilp.path, format!("{group}/{name} is empty")))
    };
    let n_features = scalar("_ext_param/column_count_")? as usize;
    let n_classes = scalar("_ext_param/class_count_")? as usize;
    let tree_count = scalar("_options/tree_count_")? as usize;
    let weighted = if ilp.exists(&format!("{group}/_options/predict_weighted_")) {
        scalar("_options/predict_weighted_")? != 0.0
    } else {
        false
    };
    let labels: Vec<u32> = if ilp.exists(&format!("{group}/_ext_param/labels")) {
        ilp.f64s(&format!("{group}/_ext_param/labels"))?
            .into_iter()
            .map(|v| v as u32)
            .collect()
    } else {
        (1..=n_classes as u32).collect()
    };
    let mut trees = Vec::with_capacity(tree_count);
    for k in 0..tree_count {
        let tree = format!("{group}/Tree_{k:02}");
        let tree = if ilp.exists(&tree) {
            tree
        } else {
            format!("{group}/Tree_{k}")
        };
        let topology: Vec<i32> = ilp
            .ds(&format!("{tree}/topology"))?
            .read_raw::<i32>()
            .map_err(|e| err(ilp.path, format!("{tree}/topology: {e}")))?;
        let parameters = ilp.f64s(&format!("{tree}/parameters"))?;
        trees.push((topology, parameters));
    }
    Forest::from_vigra(n_features, n_classes, labels, weighted, &trees)
        .map_err(|r| err(ilp.path, format!("{group}: {r}")))
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
        match &self.classifier {
            Some(c) => write!(
                f,
                "  classifier: {} forests, {} trees, {} features per pixel",
                c.forests.len(),
                c.tree_count(),
                c.n_features()
            ),
            None => write!(
                f,
                "  classifier: none ({})",
                self.classifier_note.as_deref().unwrap_or("not trained")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
