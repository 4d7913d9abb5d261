//! Training a random forest without ilastik: from a project's own annotations or from a label
//! image. A plain, deterministic forest in vigra's layout (so it predicts through the same code):
//! bootstrap samples, `sqrt(features)` candidate columns per split, Gini impurity, thresholds
//! halfway between neighbouring values, grown until pure (vigra's `min_split_node_size` 1).

use crate::rng::Rng;
use ndarray::{Array2, Array4, ArrayView2, ArrayView4};

use super::forest::{depth_of, f32_threshold, Classifier, Forest, Node, Tree};
use super::{for_each_slab, ClassifyInput, FeatureBank, Project};
use crate::runtime::{self, Pool};
use crate::{Error, Result};

/// How [`Classifier::train`] grows its forest.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    /// Number of trees (ilastik's default is 100).
    pub trees: usize,
    /// Candidate columns per split (default: `floor(sqrt(features))`, vigra's `RF_SQRT`).
    pub mtry: Option<usize>,
    /// Nodes with fewer samples become leaves.
    pub min_split: usize,
    /// Seed: the same seed, samples and options give the same forest on any thread count.
    pub seed: u64,
    /// Worker threads (default: all cores; 1 on an omeflow worker).
    pub threads: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            trees: 100,
            mtry: None,
            min_split: 2,
            seed: 42,
            threads: None,
        }
    }
}

impl Classifier {
    /// Train a forest on `features` (samples x columns) with class labels `labels` (1-based
    /// class numbers, as ilastik's annotations; 0 is not allowed). Probability column k is
    /// class k + 1 for k below `n_classes`.
    pub fn train(
        features: ArrayView2<f32>,
        labels: &[u32],
        n_classes: usize,
        options: &TrainOptions,
    ) -> Result<Classifier> {
        let (n, nf) = features.dim();
        if n == 0 || n != labels.len() {
            return Err(Error::InvalidArgument(format!(
                "{n} samples and {} labels: need one label per sample, at least one sample",
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l == 0 || l as usize > n_classes) {
            return Err(Error::InvalidArgument(format!(
                "label {bad} is not a class 1..={n_classes}"
            )));
        }
        if options.trees == 0 || nf == 0 {
            return Err(Error::InvalidArgument(
                "need at least one tree and one feature".into(),
            ));
        }
        let x = features.as_standard_layout().into_owned();
        let y: Vec<usize> = labels.iter().map(|&l| l as usize - 1).collect();
        let mtry = options
            .mtry
            .unwrap_or_else(|| (nf as f64).sqrt().floor() as usize)
            .clamp(1, nf);
        let pool = Pool::new("train", options.threads)?;
        let ks: Vec<usize> = (0..options.trees).collect();
        let trees: Vec<Result<Tree>> = pool.map(&ks, |&k| {
            runtime::catch(
                || format!("training tree {k}"),
                || {
                    let mut rng =
                        Rng(options.seed ^ (k as u64).wrapping_mul(0xA076_1D64_78BD_642F));
                    Ok(grow_tree(
                        &x,
                        &y,
                        n_classes,
                        mtry,
                        options.min_split.max(1),
                        &mut rng,
                    ))
                },
            )
        });
        let trees = trees.into_iter().collect::<Result<Vec<Tree>>>()?;
        let forest = Forest {
            n_features: nf,
            n_classes,
            labels: (1..=n_classes as u32).collect(),
            weighted: false,
            trees,
        };
        Classifier::new(vec![forest]).map_err(|e| {
            Error::Internal(format!(
                "a trained forest fails its check: {}",
                super::forest::reason(e)
            ))
        })
    }
}

fn gini(counts: &[usize], n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    1.0 - counts.iter().map(|&c| (c as f64 / n).powi(2)).sum::<f64>()
}

fn grow_tree(
    x: &Array2<f32>,
    y: &[usize],
    n_classes: usize,
    mtry: usize,
    min_split: usize,
    rng: &mut Rng,
) -> Tree {
    let n = y.len();
    let nf = x.ncols();
    let sample: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
    let mut tree = Tree::default();
    // (samples, the node index reserved for them); children are pushed after their parent.
    let mut stack = vec![(sample, 0usize)];
    tree.nodes.push(Node {
        feature: 0,
        threshold: 0.0,
        children: [0, 0],
    });
    tree.leaf_slot.push(0);
    let mut cols: Vec<usize> = (0..nf).collect();
    let mut pairs: Vec<(f32, usize)> = Vec::new();
    while let Some((idx, at)) = stack.pop() {
        let mut counts = vec![0usize; n_classes];
        for &i in &idx {
            counts[y[i]] += 1;
        }
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        let mut best: Option<(f64, usize, f64)> = None;
        if !pure && idx.len() >= min_split {
            // A random subset of columns: a partial Fisher-Yates shuffle.
            for k in 0..mtry {
                let j = k + rng.below(nf - k);
                cols.swap(k, j);
            }
            let parent = gini(&counts, idx.len());
            for &f in &cols[..mtry] {
                pairs.clear();
                pairs.extend(idx.iter().map(|&i| (x[[i, f]], y[i])));
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut left = vec![0usize; n_classes];
                for s in 1..pairs.len() {
                    left[pairs[s - 1].1] += 1;
                    let (a, b) = (pairs[s - 1].0, pairs[s].0);
                    if a == b || a.is_nan() || b.is_nan() {
                        continue;
                    }
                    let right: Vec<usize> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                    let nl = s;
                    let nr = pairs.len() - s;
                    let score = (nl as f64 * gini(&left, nl) + nr as f64 * gini(&right, nr))
                        / pairs.len() as f64;
                    if score < parent - 1e-12 && best.is_none_or(|(bs, _, _)| score < bs) {
                        best = Some((score, f, (a as f64 + b as f64) / 2.0));
                    }
                }
            }
        }
        match best {
            Some((_, f, t)) => {
                let t32 = f32_threshold(t);
                let (l, r): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| x[[i, f]] < t32);
                if l.is_empty() || r.is_empty() {
                    make_leaf(&mut tree, at, &counts, idx.len());
                    continue;
                }
                let li = tree.nodes.len();
                for _ in 0..2 {
                    tree.nodes.push(Node {
                        feature: 0,
                        threshold: 0.0,
                        children: [0, 0],
                    });
                    tree.leaf_slot.push(0);
                }
                tree.nodes[at] = Node {
                    feature: f as u32,
                    threshold: t32,
                    children: [li as u32, li as u32 + 1],
                };
                tree.leaf_slot[at] = u32::MAX;
                stack.push((r, li + 1));
                stack.push((l, li));
            }
            None => make_leaf(&mut tree, at, &counts, idx.len()),
        }
    }
    tree.depth = depth_of(&tree.nodes, &tree.leaf_slot);
    tree
}

fn make_leaf(tree: &mut Tree, at: usize, counts: &[usize], n: usize) {
    let slot = tree.leaf_totals.len();
    let mut total = 0f64;
    for &c in counts {
        let p = c as f64 / n.max(1) as f64;
        tree.leaf_values.push(p as f32);
        total += p;
    }
    tree.leaf_totals.push(total);
    tree.leaf_slot[at] = slot as u32;
    tree.nodes[at] = Node {
        feature: 0,
        threshold: 0.0,
        children: [at as u32, at as u32],
    };
}

/// Features (samples x columns) and class labels of every labelled voxel of `labels`
/// ((t, z, y, x), 0 = unlabelled, k = class k), computed on `image` with `bank`.
pub fn training_samples<I: ClassifyInput + ?Sized>(
    image: &I,
    labels: ArrayView4<u8>,
    bank: &FeatureBank,
    threads: Option<usize>,
) -> Result<(Array2<f32>, Vec<u32>)> {
    let [nt, _, nz, ny, nx] = image.shape5();
    if labels.dim() != (nt, nz, ny, nx) {
        return Err(Error::InvalidArgument(format!(
            "labels of shape {:?} for an image of (t, z, y, x) {:?}",
            labels.dim(),
            (nt, nz, ny, nx)
        )));
    }
    let pool = Pool::new("train", threads)?;
    let nf = bank.n_features();
    let mut rows: Vec<f32> = Vec::new();
    let mut ys: Vec<u32> = Vec::new();
    for t in 0..nt {
        let lt = labels.index_axis(ndarray::Axis(0), t);
        if lt.iter().all(|&v| v == 0) {
            continue;
        }
        let vol = image.timepoint(t)?;
        let got = for_each_slab(&vol, bank, &pool, 1 << 19, |b, feats| {
            let mut r = Vec::new();
            let mut l = Vec::new();
            let mut i = 0;
            for z in b[0].clone() {
                for y in b[1].clone() {
                    for x in b[2].clone() {
                        let v = lt[[z, y, x]];
                        if v > 0 {
                            r.extend(feats.iter().map(|f| f[i]));
                            l.push(v as u32);
                        }
                        i += 1;
                    }
                }
            }
            Ok((r, l))
        })?;
        for (_, (r, l)) in got {
            rows.extend(r);
            ys.extend(l);
        }
    }
    if ys.is_empty() {
        return Err(Error::InvalidArgument("no labelled voxel".into()));
    }
    let x = Array2::from_shape_vec((ys.len(), nf), rows).map_err(|e| {
        Error::Internal(format!(
            "{} training samples of {nf} features: {e}",
            ys.len()
        ))
    })?;
    Ok((x, ys))
}

impl Project {
    /// The annotations as a label image (t, z, y, x) of the given shape; blocks outside it are
    /// an error (they were made on another image).
    pub fn annotation_image(&self, shape: [usize; 4]) -> Result<Array4<u8>> {
        let mut out = Array4::<u8>::zeros(shape);
        for b in &self.annotations {
            let (bt, bz, by, bx, _) = b.data.dim();
            let s = b.start;
            if s[0] + bt > shape[0]
                || s[1] + bz > shape[1]
                || s[2] + by > shape[2]
                || s[3] + bx > shape[3]
            {
                return Err(Error::InvalidArgument(format!(
                    "an annotation block at (t, z, y, x) {:?} of size {:?} lies outside the image {shape:?}: \
                     the project was annotated on another image (its training image was {:?})",
                    &s[..4],
                    (bt, bz, by, bx),
                    self.training_shape
                )));
            }
            let mut view = out.slice_mut(ndarray::s![
                s[0]..s[0] + bt,
                s[1]..s[1] + bz,
                s[2]..s[2] + by,
                s[3]..s[3] + bx
            ]);
            let src = b.data.index_axis(ndarray::Axis(4), 0);
            ndarray::Zip::from(&mut view).and(&src).for_each(|o, &v| {
                if v > 0 {
                    *o = v;
                }
            });
        }
        Ok(out)
    }

    /// Train a new classifier from `labels` ((t, z, y, x); 0 unlabelled, k = class k) on
    /// `image` with the project's features, replacing the project's forests.
    pub fn train_from_labels<I: ClassifyInput + ?Sized>(
        &mut self,
        image: &I,
        labels: ArrayView4<u8>,
        options: &TrainOptions,
    ) -> Result<()> {
        let [_, nc, nz, _, _] = image.shape5();
        let bank = FeatureBank::new(&self.features, nc, nz > 1)?;
        let (x, y) = training_samples(image, labels, &bank, options.threads)?;
        let max = y.iter().copied().max().unwrap_or(1) as usize;
        let n_classes = self.labels.len().max(max).max(2);
        while self.labels.len() < n_classes {
            let k = self.labels.len() + 1;
            self.labels.push(super::LabelClass {
                name: format!("Label {k}"),
                color: [128, 128, 128],
            });
        }
        self.set_classifier(Classifier::train(x.view(), &y, n_classes, options)?);
        self.feature_names = self.features.names(nc, nz > 1);
        Ok(())
    }

    /// Train a new classifier from the project's own annotations, on `image` (the image they
    /// were drawn on, as t, c, z, y, x).
    pub fn train<I: ClassifyInput + ?Sized>(
        &mut self,
        image: &I,
        options: &TrainOptions,
    ) -> Result<()> {
        let [nt, _, nz, ny, nx] = image.shape5();
        let labels = self.annotation_image([nt, nz, ny, nx])?;
        self.train_from_labels(image, labels.view(), options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_and_is_deterministic() {
        // Class 2 where column 1 > 0.5; column 0 is noise.
        let mut rng = Rng(7);
        let n = 400;
        let x = Array2::from_shape_fn((n, 3), |_| (rng.next() % 1000) as f32 / 1000.0);
        let y: Vec<u32> = (0..n)
            .map(|i| if x[[i, 1]] > 0.5 { 2 } else { 1 })
            .collect();
        let opts = TrainOptions {
            trees: 20,
            threads: Some(2),
            ..TrainOptions::default()
        };
        let c = Classifier::train(x.view(), &y, 2, &opts).unwrap();
        let p = c.predict(x.view()).unwrap();
        let right = (0..n).filter(|&i| (p[[i, 1]] > 0.5) == (y[i] == 2)).count();
        assert!(right as f64 > 0.98 * n as f64, "{right} of {n}");
        let again = Classifier::train(
            x.view(),
            &y,
            2,
            &TrainOptions {
                threads: Some(1),
                ..opts.clone()
            },
        )
        .unwrap();
        assert_eq!(c, again, "same seed, same forest, whatever the threads");
        let other = Classifier::train(x.view(), &y, 2, &TrainOptions { seed: 1, ..opts }).unwrap();
        assert_ne!(c, other);
        assert!(Classifier::train(x.view(), &y[..10], 2, &TrainOptions::default()).is_err());
        assert!(Classifier::train(x.view(), &vec![3; n], 2, &TrainOptions::default()).is_err());
    }

    #[test]
    fn a_project_says_why_it_has_no_classifier() {
        use crate::classify::{classify, FeatureId, FeatureSelection, LabelClass};
        let features = FeatureSelection {
            ids: vec![FeatureId::GaussianSmoothing],
            scales: vec![1.0],
            matrix: vec![vec![true]],
            in_2d: vec![false],
        };
        let class = |name: &str| LabelClass {
            name: name.into(),
            color: [0, 0, 0],
        };
        let mut p = Project::new(features, vec![class("dark"), class("bright")]).unwrap();
        // Left half dark, right half bright.
        let image =
            ndarray::Array5::from_shape_fn(
                (1, 1, 1, 16, 16),
                |(_, _, _, _, x)| {
                    if x < 8 {
                        10u16
                    } else {
                        200
                    }
                },
            );
        let untrained = |p: &Project| match p.classifier() {
            Err(Error::Project { path, reason }) => format!("{path}: {reason}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            untrained(&p),
            "(in memory): not trained yet: call train or train_from_labels"
        );
        let e = classify(&image, &p).unwrap_err().to_string();
        assert!(e.contains("not trained yet"), "{e}");
        assert!(p.to_string().contains("classifier: none (not trained yet"));
        // Two columns labelled at each edge.
        let labels = ndarray::Array4::from_shape_fn((1, 1, 16, 16), |(_, _, _, x)| match x {
            0 | 1 => 1u8,
            14 | 15 => 2,
            _ => 0,
        });
        let options = TrainOptions {
            trees: 4,
            threads: Some(1),
            ..TrainOptions::default()
        };
        p.train_from_labels(&image, labels.view(), &options)
            .unwrap();
        assert_eq!(p.classifier().unwrap().tree_count(), 4);
        let probs = classify(&image, &p).unwrap();
        assert!(probs.data[[0, 0, 5, 14, 1]] > 0.5 && probs.data[[0, 0, 5, 1, 0]] > 0.5);
        let c = p.remove_classifier().unwrap();
        assert!(untrained(&p).contains("the classifier was removed"));
        assert!(p.remove_classifier().is_none());
        p.set_classifier(c);
        assert_eq!(p.classifier().unwrap().tree_count(), 4);
    }
}
