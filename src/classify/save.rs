//! Writing a project as an `.ilp` in ilastik 1.3's layout, with its forests in vigra's HDF5
//! format, so a project trained by omeflow opens again in omeflow and its forests load in
//! `vigra.learning.RandomForest(file, 'PixelClassification/ClassifierForests/Forest0000')`.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5_metno as hdf5;
use ndarray::{Array1, Array2};

use super::forest::{Forest, Tree};
use super::Project;
use crate::{Error, Result};

const FORESTS: &str = "PixelClassification/ClassifierForests";

fn err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Write {
        location: path.display().to_string(),
        reason: reason.to_string(),
    }
}

struct Out<'a> {
    path: &'a Path,
    file: hdf5::File,
}

impl Out<'_> {
    fn group(&self, name: &str) -> Result<hdf5::Group> {
        let mut g = self.file.group("/").map_err(|e| err(self.path, e))?;
        for part in name.split('/').filter(|p| !p.is_empty()) {
            g = if g.link_exists(part) {
                g.group(part)
            } else {
                g.create_group(part)
            }
            .map_err(|e| err(self.path, format!("{name}: {e}")))?;
        }
        Ok(g)
    }
    fn parent(&self, name: &str) -> Result<(hdf5::Group, String)> {
        let (dir, leaf) = name.rsplit_once('/').unwrap_or(("", name));
        Ok((self.group(dir)?, leaf.to_string()))
    }
    fn string(&self, name: &str, value: &str) -> Result<()> {
        let (g, leaf) = self.parent(name)?;
        let v: VarLenUnicode = value
            .parse()
            .map_err(|e| err(self.path, format!("{name}: {e:?}")))?;
        g.new_dataset::<VarLenUnicode>()
            .create(leaf.as_str())
            .and_then(|d| d.write_scalar(&v))
            .map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn strings(&self, name: &str, values: &[String]) -> Result<()> {
        let (g, leaf) = self.parent(name)?;
        let v = values
            .iter()
            .map(|s| s.parse::<VarLenUnicode>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| err(self.path, format!("{name}: {e:?}")))?;
        g.new_dataset_builder()
            .with_data(&Array1::from(v))
            .create(leaf.as_str())
            .map(|_| ())
            .map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn array<T: hdf5::H5Type, D: ndarray::Dimension>(
        &self,
        name: &str,
        a: &ndarray::Array<T, D>,
    ) -> Result<hdf5::Dataset> {
        let (g, leaf) = self.parent(name)?;
        g.new_dataset_builder()
            .with_data(a)
            .create(leaf.as_str())
            .map_err(|e| err(self.path, format!("{name}: {e}")))
    }
    fn f64s(&self, name: &str, v: &[f64]) -> Result<()> {
        self.array(name, &Array1::from(v.to_vec())).map(|_| ())
    }
}

/// vigra's serialisation of one tree: topology (columns, classes, then nodes from index 2) and
/// parameters.
fn vigra_tree(tree: &Tree, n_features: usize, n_classes: usize) -> (Vec<i32>, Vec<f64>) {
    let leaf = |i: usize| tree.leaf_slot[i] != u32::MAX;
    // Topology address of every node, in node order (children come after their parent).
    let mut addr = Vec::with_capacity(tree.nodes.len());
    let mut next = 2usize;
    for i in 0..tree.nodes.len() {
        addr.push(next);
        next += if leaf(i) { 2 } else { 5 };
    }
    let mut topo = vec![n_features as i32, n_classes as i32];
    let mut params = Vec::new();
    for (i, n) in tree.nodes.iter().enumerate() {
        if leaf(i) {
            let s = tree.leaf_slot[i] as usize;
            topo.extend([0x4000_0000, params.len() as i32]);
            params.push(1.0);
            params.extend(
                tree.leaf_values[s * n_classes..(s + 1) * n_classes]
                    .iter()
                    .map(|&v| v as f64),
            );
        } else {
            topo.extend([
                0,
                params.len() as i32,
                addr[n.children[0] as usize] as i32,
                addr[n.children[1] as usize] as i32,
                n.feature as i32,
            ]);
            // The f32 threshold as a double compares with float features exactly as it does.
            params.extend([1.0, n.threshold as f64]);
        }
    }
    (topo, params)
}

fn write_forest(out: &Out, group: &str, f: &Forest) -> Result<()> {
    let g = out.group(group)?;
    g.new_attr_builder()
        .with_data(&Array1::from(vec![0.1f64]))
        .create("vigra_random_forest_version")
        .map_err(|e| err(out.path, format!("{group}: {e}")))?;
    let p = |k: &str, v: f64| out.f64s(&format!("{group}/_ext_param/{k}"), &[v]);
    p("actual_msample_", 0.0)?;
    p("actual_mtry_", (f.n_features as f64).sqrt().floor())?;
    p("class_count_", f.n_classes as f64)?;
    out.f64s(
        &format!("{group}/_ext_param/class_weights_"),
        &vec![1.0; f.n_classes],
    )?;
    p("column_count_", f.n_features as f64)?;
    p("is_weighted_", 0.0)?;
    out.array(
        &format!("{group}/_ext_param/labels"),
        &Array1::from(f.labels.clone()),
    )?;
    p("precision_", 0.0)?;
    p("problem_type_", 1.0)?;
    p("response_size_", 1.0)?;
    p("row_count_", 0.0)?;
    p("used_", 1.0)?;
    let o = |k: &str, v: f64| out.f64s(&format!("{group}/_options/{k}"), &[v]);
    o("min_split_node_size_", 1.0)?;
    o("mtry_", 0.0)?;
    o("mtry_func_", 0.0)?;
    o("mtry_switch_", 6.0)?;
    o("predict_weighted_", if f.weighted { 1.0 } else { 0.0 })?;
    o("prepare_online_learning_", 0.0)?;
    o("sample_with_replacement_", 1.0)?;
    o("stratification_method_", 3.0)?;
    o("training_set_calc_switch_", 1.0)?;
    o("training_set_func_", 0.0)?;
    o("training_set_proportion_", 1.0)?;
    o("training_set_size_", 0.0)?;
    o("tree_count_", f.trees.len() as f64)?;
    for (k, t) in f.trees.iter().enumerate() {
        let (topo, params) = vigra_tree(t, f.n_features, f.n_classes);
        out.array(
            &format!("{group}/Tree_{k:02}/topology"),
            &Array1::from(topo),
        )?;
        out.f64s(&format!("{group}/Tree_{k:02}/parameters"), &params)?;
    }
    Ok(())
}

impl Project {
    /// Save as an ilastik 1.3-layout project (`.ilp`, HDF5): feature selection, label classes,
    /// annotations and the forests in vigra's format. Refuses to overwrite a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if path.exists() {
            return Err(err(
                path,
                "the file exists; remove it or choose another name",
            ));
        }
        let file = hdf5::File::create_excl(path).map_err(|e| err(path, e))?;
        let out = Out { path, file };
        out.string("workflowName", "Pixel Classification")?;
        // The layout written is ilastik 1.3.3's (the reader checks the version).
        out.string("ilastikVersion", "1.3.3")?;
        out.string("omeflowVersion", env!("CARGO_PKG_VERSION"))?;
        let sel = &self.features;
        let ids: Vec<String> = sel.ids.iter().map(|f| f.ilastik_id().to_string()).collect();
        out.strings("FeatureSelections/FeatureIds", &ids)?;
        out.f64s("FeatureSelections/Scales", &sel.scales)?;
        let m = Array2::from_shape_fn((sel.ids.len(), sel.scales.len()), |(i, j)| sel.matrix[i][j]);
        out.array("FeatureSelections/SelectionMatrix", &m)?;
        out.array(
            "FeatureSelections/ComputeIn2d",
            &Array1::from(sel.in_2d.clone()),
        )?;
        out.string("FeatureSelections/StorageVersion", "0.1")?;
        let raw = "Input Data/infos/lane0000/Raw Data";
        let keys = ["t", "z", "y", "x", "c"];
        let axes: Vec<String> = keys
            .iter()
            .map(|k| format!("{{\"key\": \"{k}\"}}"))
            .collect();
        out.string(
            &format!("{raw}/axistags"),
            &format!("{{\"axes\": [{}]}}", axes.join(", ")),
        )?;
        if let Some(s) = self.training_shape {
            let s: Vec<i64> = s.iter().map(|&v| v as i64).collect();
            out.array(&format!("{raw}/shape"), &Array1::from(s))?;
        }
        let names: Vec<String> = self.labels.iter().map(|l| l.name.clone()).collect();
        out.strings("PixelClassification/LabelNames", &names)?;
        let colors = Array2::from_shape_fn((self.labels.len(), 3), |(k, c)| {
            self.labels[k].color[c] as i64
        });
        out.array("PixelClassification/LabelColors", &colors)?;
        out.group("PixelClassification/LabelSets/labels000")?;
        for (k, b) in self.annotations.iter().enumerate() {
            let d = out.array(
                &format!("PixelClassification/LabelSets/labels000/block{k:04}"),
                &b.data,
            )?;
            let sh = b.data.shape();
            let slice: Vec<String> = (0..5)
                .map(|a| format!("{}:{}", b.start[a], b.start[a] + sh[a]))
                .collect();
            let v: VarLenUnicode = format!("[{}]", slice.join(","))
                .parse()
                .map_err(|e| err(path, format!("blockSlice: {e:?}")))?;
            d.new_attr::<VarLenUnicode>()
                .create("blockSlice")
                .and_then(|a| a.write_scalar(&v))
                .map_err(|e| err(path, format!("blockSlice: {e}")))?;
        }
        if let Ok(c) = self.classifier() {
            for (k, f) in c.forests.iter().enumerate() {
                write_forest(&out, &format!("{FORESTS}/Forest{k:04}"), f)?;
            }
            out.strings(&format!("{FORESTS}/feature_names"), &self.feature_names)?;
            out.array(
                &format!("{FORESTS}/known_labels"),
                &Array1::from(c.forests[0].labels.clone()),
            )?;
            out.string(
                &format!("{FORESTS}/pickled_type"),
                "clazyflow.classifiers.parallelVigraRfLazyflowClassifier\nParallelVigraRfLazyflowClassifier\np0\n.",
            )?;
        }
        Ok(())
    }
}
