//! vigra random forests: loading ilastik's, predicting exactly as vigra does, and training new ones.
//!
//! Prediction reproduces vigra's `RandomForest::predictProbabilities` to the bit: a sample goes
//! left when `x[column] < threshold` (float feature against a double threshold), each tree adds
//! its leaf's class probabilities to a float32 accumulator in tree order while the total weight
//! is summed in double, and the row is divided by the total. ilastik's ensemble of forests is
//! then the tree-count weighted average of the forests' probabilities, in float32.

use ndarray::{Array2, ArrayView2};

use crate::{Error, Result};

/// Most classes a forest may have: ilastik projects have a handful; the bound keeps a class
/// count read from a file from sizing allocations.
pub const MAX_CLASSES: usize = 1024;
/// Most feature columns a forest may have: 6 features x 64 scales x 3 eigenvalues x 56
/// channels; ilastik's projects have tens to hundreds.
pub const MAX_FEATURES: usize = 1 << 16;

/// A forest or tree that prediction could not walk safely, as given by the caller (a project
/// reader says it again as [`Error::Project`] naming the file, with [`reason`]).
fn malformed(reason: impl Into<String>) -> Error {
    Error::InvalidArgument(reason.into())
}

/// `e` with `what: ` before its text, in the same variant.
fn within(what: impl std::fmt::Display, e: Error) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{what}: {m}")),
        Error::Classify(m) => Error::Classify(format!("{what}: {m}")),
        other => other,
    }
}

/// The text of a forest error without the words its variant's `Display` puts before it, for a
/// caller that says it in its own error (the project reader's [`Error::Project`]).
pub(crate) fn reason(e: Error) -> String {
    match e {
        Error::InvalidArgument(m) | Error::Classify(m) | Error::Internal(m) => m,
        other => other.to_string(),
    }
}

/// Marks an internal node in [`Tree::leaf_slot`].
const INTERNAL: u32 = u32::MAX;
/// vigra's node type ids.
const VIGRA_THRESHOLD_NODE: i32 = 0;
const VIGRA_LEAF_NODE: i32 = 0x4000_0000;

/// Rows predicted together: they stay in cache while every tree walks them.
const BATCH: usize = 256;
/// Rows walked through a tree side by side.
const LANES: usize = 8;

/// A node, 16 bytes so a tree of ilastik's size stays in L1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Node {
    /// Feature column (0 for a leaf, which loops to itself whatever the comparison says).
    pub(crate) feature: u32,
    /// The smallest f32 not below vigra's double threshold: for any f32 `x`,
    /// `x < threshold_f32` exactly when `(x as f64) < threshold_f64`.
    pub(crate) threshold: f32,
    /// Left and right child; a leaf's children are itself.
    pub(crate) children: [u32; 2],
}

/// One decision tree (the default is a tree with no nodes, which trees start from).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    pub(crate) nodes: Vec<Node>,
    /// Per node: its leaf number, or [`INTERNAL`].
    pub(crate) leaf_slot: Vec<u32>,
    /// Longest root-to-leaf path: walking that many steps reaches a leaf from anywhere.
    pub(crate) depth: u32,
    /// Per leaf: the class weights vigra adds (as f32), `n_classes` each.
    pub(crate) leaf_values: Vec<f32>,
    /// Per leaf: the sum of its weights in f64 (vigra's `totalWeight` increment).
    pub(crate) leaf_totals: Vec<f64>,
}

impl Tree {
    /// Number of nodes (internal and leaves).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no nodes (never true for a loaded or trained tree).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The smallest f32 `t32` with `t32 >= t` (so `x < t32 <=> x < t` for every f32 `x`).
pub(crate) fn f32_threshold(t: f64) -> f32 {
    if t.is_nan() {
        return f32::NAN;
    }
    let f = t as f32;
    if (f as f64) < t {
        f.next_up()
    } else {
        f
    }
}

/// A vigra random forest (one of ilastik's `ForestNNNN`).
#[derive(Clone, Debug, PartialEq)]
pub struct Forest {
    /// Number of feature columns a sample has.
    pub n_features: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// The class labels, in probability column order (ilastik: 1, 2, ...).
    pub labels: Vec<u32>,
    /// vigra's `predict_weighted_`: leaves weigh by their sample count.
    pub weighted: bool,
    /// The trees.
    pub trees: Vec<Tree>,
}

impl Forest {
    /// Build from vigra's serialised trees: per tree the `topology` (int32) and `parameters`
    /// (f64) arrays. Every index is checked; a malformed tree is an error, never a panic.
    pub fn from_vigra(
        n_features: usize,
        n_classes: usize,
        labels: Vec<u32>,
        weighted: bool,
        trees: &[(Vec<i32>, Vec<f64>)],
    ) -> Result<Forest> {
        if n_classes == 0 || n_features == 0 {
            return Err(malformed(format!(
                "{n_features} features and {n_classes} classes: nothing to predict"
            )));
        }
        if labels.len() != n_classes {
            return Err(malformed(format!(
                "{} labels for {n_classes} classes",
                labels.len()
            )));
        }
        if trees.is_empty() {
            return Err(malformed("the forest has no trees"));
        }
        if n_classes > MAX_CLASSES || n_features > MAX_FEATURES {
            return Err(malformed(format!(
                "{n_features} features and {n_classes} classes: at most {MAX_FEATURES} features \
                 and {MAX_CLASSES} classes are allowed"
            )));
        }
        let trees = trees
            .iter()
            .enumerate()
            .map(|(k, (t, p))| {
                convert_tree(t, p, n_features, n_classes, weighted)
                    .map_err(|e| within(format!("tree {k}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let forest = Forest {
            n_features,
            n_classes,
            labels,
            weighted,
            trees,
        };
        forest.check()?;
        Ok(forest)
    }

    /// Checks everything prediction indexes by: the class and feature counts, and per tree
    /// every child, feature column and leaf slot, and that children come after their parent
    /// (so there is no cycle and `depth` steps end on a leaf). A forest that passes cannot make
    /// prediction index out of bounds.
    pub fn check(&self) -> Result<()> {
        if self.n_classes == 0 || self.n_features == 0 {
            return Err(malformed(format!(
                "{} features and {} classes: nothing to predict",
                self.n_features, self.n_classes
            )));
        }
        if self.labels.len() != self.n_classes {
            return Err(malformed(format!(
                "{} labels for {} classes",
                self.labels.len(),
                self.n_classes
            )));
        }
        if self.trees.is_empty() {
            return Err(malformed("the forest has no trees"));
        }
        for (k, t) in self.trees.iter().enumerate() {
            check_tree(t, self.n_features, self.n_classes)
                .map_err(|e| within(format!("tree {k}"), e))?;
        }
        Ok(())
    }

    /// Number of trees.
    pub fn tree_count(&self) -> usize {
        self.trees.len()
    }

    /// vigra's `predictProbabilities` on rows of `features` (samples x columns).
    pub fn predict(&self, features: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check()?;
        check_columns(features.ncols(), self.n_features)?;
        let mut out = Array2::<f32>::zeros((features.nrows(), self.n_classes));
        let mut totals = vec![0f64; features.nrows()];
        let x = rows_of(&features)?;
        if let Some(o) = out.as_slice_mut() {
            self.accumulate(x, self.n_features, o, &mut totals);
            finish_rows(o, &totals, self.n_classes);
        }
        Ok(out)
    }

    /// Adds every tree's leaf values to `acc` (rows x classes) and their totals to `totals`,
    /// trees in order for each row, as vigra does. `x` holds the rows back to back, `nf` each.
    fn accumulate(&self, x: &[f32], nf: usize, acc: &mut [f32], totals: &mut [f64]) {
        let c = self.n_classes;
        let m = totals.len();
        for tree in &self.trees {
            let nodes = &tree.nodes[..];
            for g in (0..m).step_by(LANES) {
                let lanes = LANES.min(m - g);
                // LANES independent walks in registers overlap their memory latencies, and
                // leaves loop to themselves, so `depth` steps always end on one without a
                // branch per row.
                let mut idx = [0u32; LANES];
                let mut base = [0usize; LANES];
                for (l, b) in base.iter_mut().enumerate() {
                    *b = (g + l.min(lanes - 1)) * nf;
                }
                for _ in 0..tree.depth {
                    for l in 0..LANES {
                        let n = nodes[idx[l] as usize];
                        // Right unless `x < t` (so NaN goes right, as in vigra).
                        let go_left = x[base[l] + n.feature as usize] < n.threshold;
                        idx[l] = n.children[(go_left as usize) ^ 1];
                    }
                }
                for (l, &i) in idx.iter().take(lanes).enumerate() {
                    let r = g + l;
                    let leaf = tree.leaf_slot[i as usize] as usize;
                    let v = &tree.leaf_values[leaf * c..leaf * c + c];
                    for (a, &v) in acc[r * c..r * c + c].iter_mut().zip(v) {
                        *a += v;
                    }
                    totals[r] += tree.leaf_totals[leaf];
                }
            }
        }
    }
}

fn check_tree(t: &Tree, n_features: usize, n_classes: usize) -> Result<()> {
    let n = t.nodes.len();
    if n == 0 || t.leaf_slot.len() != n || n > u32::MAX as usize {
        return Err(malformed(format!(
            "{n} nodes and {} leaf slots",
            t.leaf_slot.len()
        )));
    }
    let leaves = t.leaf_totals.len();
    if leaves.checked_mul(n_classes) != Some(t.leaf_values.len()) {
        return Err(malformed(format!(
            "{} leaf values for {leaves} leaves of {n_classes} classes",
            t.leaf_values.len()
        )));
    }
    for (i, (node, &slot)) in t.nodes.iter().zip(&t.leaf_slot).enumerate() {
        let [l, r] = node.children.map(|c| c as usize);
        if slot == INTERNAL {
            if node.feature as usize >= n_features {
                return Err(malformed(format!(
                    "node {i} splits on column {} of {n_features} features",
                    node.feature
                )));
            }
            if l <= i || r <= i || l >= n || r >= n {
                return Err(malformed(format!(
                    "node {i} of {n} has children {l} and {r}: they must come after it"
                )));
            }
        } else if slot as usize >= leaves || l != i || r != i {
            return Err(malformed(format!(
                "leaf {i} has slot {slot} of {leaves} and children {l} and {r}"
            )));
        }
    }
    if t.depth != depth_of(&t.nodes, &t.leaf_slot) {
        return Err(malformed(format!("depth {} is not the tree's", t.depth)));
    }
    Ok(())
}

fn finish_rows(acc: &mut [f32], totals: &[f64], c: usize) {
    for (row, &t) in acc.chunks_mut(c).zip(totals) {
        let t = t as f32;
        for v in row {
            *v /= t;
        }
    }
}

fn check_columns(got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::Classify(format!(
            "the classifier expects {want} features per pixel, got {got}: the features do not \
             match the project (a 2-D image for a project trained in 3-D gives fewer eigenvalues)"
        )));
    }
    Ok(())
}

fn rows_of<'a>(features: &'a ArrayView2<f32>) -> Result<&'a [f32]> {
    features.as_slice().ok_or_else(|| {
        Error::InvalidArgument("features must be a standard-layout (row-major) array".into())
    })
}

fn convert_tree(
    topology: &[i32],
    parameters: &[f64],
    n_features: usize,
    n_classes: usize,
    weighted: bool,
) -> Result<Tree> {
    let get = |i: usize| -> Result<i32> {
        topology.get(i).copied().ok_or_else(|| {
            malformed(format!(
                "topology index {i} out of range ({})",
                topology.len()
            ))
        })
    };
    let param = |i: usize| -> Result<f64> {
        parameters.get(i).copied().ok_or_else(|| {
            malformed(format!(
                "parameter index {i} out of range ({})",
                parameters.len()
            ))
        })
    };
    let idx = |v: i32| -> Result<usize> {
        usize::try_from(v).map_err(|_| malformed(format!("negative index {v}")))
    };
    if topology.len() < 3 {
        return Err(malformed("topology too short"));
    }
    // vigra writes the forest's column and class counts first; a tree that disagrees was not
    // grown for this forest.
    if (idx(topology[0])?, idx(topology[1])?) != (n_features, n_classes) {
        return Err(malformed(format!(
            "topology starts with {} features and {} classes, the forest has {n_features} and \
             {n_classes}",
            topology[0], topology[1]
        )));
    }
    let at = |a: usize, k: usize| -> Result<usize> {
        a.checked_add(k)
            .ok_or_else(|| malformed(format!("index {a} + {k} overflows")))
    };
    let mut tree = Tree::default();
    // (topology address, our node index) still to convert; our index is allocated on push.
    let mut map = std::collections::HashMap::<usize, u32>::new();
    let mut stack = vec![2usize];
    let mut order = Vec::new();
    while let Some(addr) = stack.pop() {
        if map.contains_key(&addr) {
            return Err(malformed(format!("node {addr} is reached twice")));
        }
        if map.len() > topology.len() {
            return Err(malformed("more nodes than topology entries"));
        }
        map.insert(addr, order.len() as u32);
        order.push(addr);
        match get(addr)? {
            VIGRA_THRESHOLD_NODE => {
                stack.push(idx(get(at(addr, 3)?)?)?);
                stack.push(idx(get(at(addr, 2)?)?)?);
            }
            VIGRA_LEAF_NODE => {}
            other => {
                return Err(malformed(format!(
                    "node type {other:#x} at {addr} is not supported"
                )))
            }
        }
    }
    for &addr in &order {
        let p = idx(get(at(addr, 1)?)?)?;
        if get(addr)? == VIGRA_LEAF_NODE {
            let weight = if weighted { param(p)? } else { 1.0 };
            let me = tree.nodes.len() as u32;
            let mut total = 0f64;
            for l in 0..n_classes {
                let w = param(at(p, 1 + l)?)? * weight;
                tree.leaf_values.push(w as f32);
                total += w;
            }
            tree.leaf_slot.push(tree.leaf_totals.len() as u32);
            tree.leaf_totals.push(total);
            tree.nodes.push(Node {
                feature: 0,
                threshold: 0.0,
                children: [me, me],
            });
        } else {
            let column = idx(get(at(addr, 4)?)?)?;
            if column >= n_features {
                return Err(malformed(format!(
                    "split on column {column} of {n_features} features"
                )));
            }
            let child = |a: i32| -> Result<u32> {
                map.get(&idx(a)?)
                    .copied()
                    .ok_or_else(|| malformed(format!("child {a} not found")))
            };
            tree.leaf_slot.push(INTERNAL);
            tree.nodes.push(Node {
                feature: column as u32,
                threshold: f32_threshold(param(at(p, 1)?)?),
                children: [child(get(at(addr, 2)?)?)?, child(get(at(addr, 3)?)?)?],
            });
        }
    }
    tree.depth = depth_of(&tree.nodes, &tree.leaf_slot);
    Ok(tree)
}

/// Longest root-to-leaf path of a tree stored root first (children after their parent).
pub(crate) fn depth_of(nodes: &[Node], leaf_slot: &[u32]) -> u32 {
    let mut depth = vec![0u32; nodes.len()];
    let mut max = 0;
    for (i, n) in nodes.iter().enumerate() {
        if leaf_slot[i] == INTERNAL {
            for &c in &n.children {
                // max, not assignment: a node reached by two paths takes the longer one.
                depth[c as usize] = depth[c as usize].max(depth[i] + 1);
                max = max.max(depth[i] + 1);
            }
        }
    }
    max
}

fn check_forests(forests: &[Forest]) -> Result<()> {
    let first = forests.first().ok_or_else(|| malformed("no forests"))?;
    for (k, f) in forests.iter().enumerate() {
        f.check().map_err(|e| within(format!("forest {k}"), e))?;
        if f.n_features != first.n_features || f.labels != first.labels {
            return Err(malformed(format!(
                "forest {k} has {} features and labels {:?}, forest 0 {} and {:?}",
                f.n_features, f.labels, first.n_features, first.labels
            )));
        }
    }
    Ok(())
}

/// ilastik's classifier: several vigra forests whose probabilities are averaged, weighted by
/// their tree counts (ilastik 1.3's `ParallelVigraRfLazyflowClassifier`).
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier {
    /// The forests.
    pub forests: Vec<Forest>,
}

impl Classifier {
    /// A classifier of forests that agree on features and classes.
    pub fn new(forests: Vec<Forest>) -> Result<Classifier> {
        check_forests(&forests)?;
        Ok(Classifier { forests })
    }

    /// Number of feature columns a pixel needs.
    pub fn n_features(&self) -> usize {
        self.forests.first().map_or(0, |f| f.n_features)
    }

    /// Number of classes (probability columns).
    pub fn n_classes(&self) -> usize {
        self.forests.first().map_or(0, |f| f.n_classes)
    }

    /// [`Classifier::new`]'s checks again: the fields are public, and prediction indexes by
    /// them. Linear in the nodes, negligible next to a prediction.
    fn check(&self) -> Result<()> {
        check_forests(&self.forests)
    }

    /// Total number of trees.
    pub fn tree_count(&self) -> usize {
        self.forests.iter().map(|f| f.tree_count()).sum()
    }

    /// Probabilities (rows x classes) for rows of `features` (rows x columns), on this thread.
    pub fn predict(&self, features: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check()?;
        check_columns(features.ncols(), self.n_features())?;
        let x = rows_of(&features)?;
        let (n, nf) = features.dim();
        let c = self.n_classes();
        let mut out = Array2::<f32>::zeros((n, c));
        if let Some(o) = out.as_slice_mut() {
            // Rows in batches that stay in cache while every tree walks them.
            let mut acc = vec![0f32; BATCH * c];
            let mut totals = vec![0f64; BATCH];
            for (chunk, o) in x.chunks(BATCH * nf.max(1)).zip(o.chunks_mut(BATCH * c)) {
                self.predict_batch(chunk, nf, o, &mut acc, &mut totals);
            }
        }
        Ok(out)
    }

    /// Probabilities for samples given column-wise (`columns[f][i]` is feature f of sample i)
    /// into `out` (samples x classes, row-major), as ilastik's feature blocks come out.
    pub fn predict_columns(&self, columns: &[Vec<f32>], out: &mut [f32]) -> Result<()> {
        self.check()?;
        check_columns(columns.len(), self.n_features())?;
        let n = columns.first().map_or(0, |c| c.len());
        let c = self.n_classes();
        if columns.iter().any(|col| col.len() != n) || out.len() != n * c {
            return Err(Error::Classify(
                "columns and output disagree on the sample count".into(),
            ));
        }
        let nf = columns.len();
        let mut rows_buf = vec![0f32; BATCH * nf];
        let mut acc = vec![0f32; BATCH * c];
        let mut totals = vec![0f64; BATCH];
        let mut start = 0;
        while start < n {
            let m = BATCH.min(n - start);
            // Transpose a batch to rows so each sample's features share cache lines.
            for (f, col) in columns.iter().enumerate() {
                for (i, &v) in col[start..start + m].iter().enumerate() {
                    rows_buf[i * nf + f] = v;
                }
            }
            let o = &mut out[start * c..(start + m) * c];
            o.fill(0.0);
            self.predict_batch(&rows_buf[..m * nf], nf, o, &mut acc, &mut totals);
            start += m;
        }
        Ok(())
    }

    fn predict_batch(
        &self,
        x: &[f32],
        nf: usize,
        out: &mut [f32],
        acc: &mut [f32],
        totals: &mut [f64],
    ) {
        let c = self.n_classes();
        let n = out.len() / c;
        let (acc, totals) = (&mut acc[..n * c], &mut totals[..n]);
        for f in &self.forests {
            acc.fill(0.0);
            totals.fill(0.0);
            f.accumulate(x, nf, acc, totals);
            finish_rows(acc, totals, c);
            let w = f.tree_count() as f32;
            for (o, &p) in out.iter_mut().zip(acc.iter()) {
                *o += p * w;
            }
        }
        let total = self.tree_count() as f32;
        for o in out.iter_mut() {
            *o /= total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_compare_like_doubles() {
        for &t in &[0.1f64, -0.1, 225.124718, 1e-40, -3.0, 0.0, 1e300, -1e300] {
            let t32 = f32_threshold(t);
            let x = t as f32;
            for x in [x.next_down(), x, x.next_up()] {
                assert_eq!(x < t32, (x as f64) < t, "t {t} x {x}");
            }
        }
    }

    #[test]
    fn a_stump() {
        // root at 2: split on column 1 at 0.5; leaves at 7 and 9.
        let topo = vec![2, 2, 0, 0, 7, 9, 1, 0x4000_0000, 2, 0x4000_0000, 5];
        let params = vec![1.0, 0.5, 3.0, 1.0, 0.0, 4.0, 0.25, 0.75];
        let f = Forest::from_vigra(2, 2, vec![1, 2], false, &[(topo, params)]).unwrap();
        let x = ndarray::arr2(&[[9.0f32, 0.4], [9.0, 0.5]]);
        let p = f.predict(x.view()).unwrap();
        assert_eq!(p, ndarray::arr2(&[[1.0, 0.0], [0.25, 0.75]]));
        let bad = Forest::from_vigra(
            2,
            2,
            vec![1, 2],
            false,
            &[(vec![2, 2, 0, 0, 70, 9, 1], vec![])],
        );
        assert!(bad.is_err());
    }

    fn stump() -> Forest {
        let topo = vec![2, 2, 0, 0, 7, 9, 1, 0x4000_0000, 2, 0x4000_0000, 5];
        let params = vec![1.0, 0.5, 3.0, 1.0, 0.0, 4.0, 0.25, 0.75];
        Forest::from_vigra(2, 2, vec![1, 2], false, &[(topo, params)]).unwrap()
    }

    #[test]
    fn broken_trees_cannot_reach_prediction() {
        let x = ndarray::arr2(&[[9.0f32, 0.4]]);
        // Each edit would index out of bounds (or walk too few steps) in `accumulate`.
        let edits: [fn(&mut Forest); 6] = [
            |f| f.trees[0].nodes[0].feature = 7,
            |f| f.trees[0].nodes[0].children[1] = 99,
            |f| f.trees[0].nodes[0].children[0] = 0,
            |f| f.trees[0].leaf_slot[1] = 5,
            |f| f.trees[0].depth = 0,
            |f| f.n_features = 1,
        ];
        for (k, edit) in edits.iter().enumerate() {
            let mut f = stump();
            edit(&mut f);
            assert!(f.check().is_err(), "edit {k}");
            assert!(Classifier::new(vec![f.clone()]).is_err(), "edit {k}");
            let c = Classifier {
                forests: vec![f.clone()],
            };
            assert!(c.predict(x.view()).is_err(), "edit {k}");
            let mut out = vec![0f32; 2];
            let cols = vec![vec![9.0f32], vec![0.4]];
            assert!(c.predict_columns(&cols, &mut out).is_err(), "edit {k}");
        }
        // A header that disagrees with the forest, and class counts beyond the bound.
        let topo = vec![5, 2, 0x4000_0000, 0];
        let e = Forest::from_vigra(2, 2, vec![1, 2], false, &[(topo, vec![1.0, 0.5, 0.5])]);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("topology starts with 5 features"));
        let many = MAX_CLASSES + 1;
        let e = Forest::from_vigra(2, many, vec![1; many], false, &[(vec![2, 2, 0], vec![])]);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("at most 65536 features and 1024 classes"));
        assert_eq!(Classifier { forests: vec![] }.n_features(), 0);
    }

    #[test]
    fn errors_are_typed() {
        // A broken forest is the caller's argument; features that do not fit are a failed
        // classification.
        let mut f = stump();
        f.trees[0].depth = 0;
        let e = f
            .predict(ndarray::arr2(&[[9.0f32, 0.4]]).view())
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m == "tree 0: depth 0 is not the tree's"),
            "{e:?}"
        );
        let c = Classifier::new(vec![stump()]).unwrap();
        let e = c.predict(ndarray::arr2(&[[9.0f32]]).view()).unwrap_err();
        assert!(matches!(e, Error::Classify(_)), "{e:?}");
        let e = c
            .predict_columns(&[vec![1.0], vec![2.0]], &mut [0.0; 3])
            .unwrap_err();
        assert!(matches!(e, Error::Classify(_)), "{e:?}");
        let e = Classifier::new(vec![]).unwrap_err();
        assert_eq!(reason(e), "no forests");
    }
}
