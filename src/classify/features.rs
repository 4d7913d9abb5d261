//! ilastik's pixel feature bank, computed as ilastik 1.3 does with vigra.
//!
//! Per selected scale `s`: pre-smooth with `sqrt(s^2 - 1)` and filter at 1.0 when `s > 1`, else
//! pre-smooth with `s` and filter at `s` (ilastik smooths twice below 1). Pre-smoothing uses
//! vigra's window 3.5, the features window 2. Output channels are ordered by feature row, then
//! scale, then input channel, then eigenvalue (descending).
//!
//! Work is done per block with halos: each stage (pre-smoothing, derivatives, the structure
//! tensor's outer smoothing) mirrors at the real image border, as vigra's whole-image filters do,
//! so a block's features equal the whole image's.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use ndarray::Array3;

use crate::ndimage::vigra::{
    convolve_axis, crop, eigenvalues2, eigenvalues3, mirror, separable, Block, Kernel1D,
};
use crate::{Error, Result};

/// Largest feature scale (sigma, pixels). ilastik's dialog offers 0.3 to 10 and takes custom
/// scales that fit the image; 100 (a pre-smoothing kernel of radius 350) is ten times its
/// largest and keeps a scale read from a file from sizing buffers by it.
pub const MAX_SCALE: f64 = 100.0;
/// Most scale columns a selection may have (ilastik's has 7).
pub const MAX_SCALES: usize = 64;
/// Most feature rows a selection may have (ilastik has 6 kinds; a row may repeat).
pub const MAX_FEATURE_ROWS: usize = 64;

/// ilastik's feature ids, in its row order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FeatureId {
    /// Gaussian smoothing.
    GaussianSmoothing,
    /// Laplacian of Gaussian.
    LaplacianOfGaussian,
    /// Gaussian gradient magnitude.
    GaussianGradientMagnitude,
    /// Difference of Gaussians (`G(s) - G(0.66 s)`).
    DifferenceOfGaussians,
    /// Structure tensor eigenvalues (inner scale `s`, outer `s / 2`).
    StructureTensorEigenvalues,
    /// Hessian of Gaussian eigenvalues.
    HessianOfGaussianEigenvalues,
}

impl FeatureId {
    /// All, in ilastik's order.
    pub const ALL: [FeatureId; 6] = [
        FeatureId::GaussianSmoothing,
        FeatureId::LaplacianOfGaussian,
        FeatureId::GaussianGradientMagnitude,
        FeatureId::DifferenceOfGaussians,
        FeatureId::StructureTensorEigenvalues,
        FeatureId::HessianOfGaussianEigenvalues,
    ];

    /// From the id ilastik stores in `FeatureSelections/FeatureIds`.
    pub fn from_ilastik(id: &str) -> Option<FeatureId> {
        FeatureId::ALL.into_iter().find(|f| f.ilastik_id() == id)
    }

    /// The id ilastik stores.
    pub fn ilastik_id(self) -> &'static str {
        match self {
            FeatureId::GaussianSmoothing => "GaussianSmoothing",
            FeatureId::LaplacianOfGaussian => "LaplacianOfGaussian",
            FeatureId::GaussianGradientMagnitude => "GaussianGradientMagnitude",
            FeatureId::DifferenceOfGaussians => "DifferenceOfGaussians",
            FeatureId::StructureTensorEigenvalues => "StructureTensorEigenvalues",
            FeatureId::HessianOfGaussianEigenvalues => "HessianOfGaussianEigenvalues",
        }
    }

    /// The name ilastik shows, as in `feature_names`.
    pub fn display_name(self) -> &'static str {
        match self {
            FeatureId::GaussianSmoothing => "Gaussian Smoothing",
            FeatureId::LaplacianOfGaussian => "Laplacian of Gaussian",
            FeatureId::GaussianGradientMagnitude => "Gaussian Gradient Magnitude",
            FeatureId::DifferenceOfGaussians => "Difference of Gaussians",
            FeatureId::StructureTensorEigenvalues => "Structure Tensor Eigenvalues",
            FeatureId::HessianOfGaussianEigenvalues => "Hessian of Gaussian Eigenvalues",
        }
    }

    /// Output channels per input channel: the eigenvalue count for the tensor features.
    pub fn channels(self, dims: usize) -> usize {
        match self {
            FeatureId::StructureTensorEigenvalues | FeatureId::HessianOfGaussianEigenvalues => dims,
            _ => 1,
        }
    }
}

/// What to compute: ilastik's `FeatureSelections`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FeatureSelection {
    /// Feature rows.
    pub ids: Vec<FeatureId>,
    /// Scale columns (sigmas in pixels).
    pub scales: Vec<f64>,
    /// `matrix[row][scale]`: whether that feature is computed at that scale.
    pub matrix: Vec<Vec<bool>>,
    /// Per scale: filter each z-slice in 2-D instead of the volume in 3-D.
    pub in_2d: Vec<bool>,
}

impl FeatureSelection {
    /// Checks shapes and scales.
    /// A bad selection is [`Error::InvalidArgument`]; the project reader says it again as
    /// [`Error::Project`] naming the file.
    pub fn validate(&self) -> Result<()> {
        if self.matrix.len() != self.ids.len()
            || self.matrix.iter().any(|r| r.len() != self.scales.len())
            || self.in_2d.len() != self.scales.len()
        {
            return Err(Error::InvalidArgument(
                "the feature selection's matrix does not match its ids and scales".into(),
            ));
        }
        if self.scales.len() > MAX_SCALES || self.ids.len() > MAX_FEATURE_ROWS {
            return Err(Error::InvalidArgument(format!(
                "{} feature rows and {} scales: at most {MAX_FEATURE_ROWS} rows and {MAX_SCALES} \
                 scales are allowed",
                self.ids.len(),
                self.scales.len()
            )));
        }
        if let Some(s) = self
            .scales
            .iter()
            .find(|s| !(s.is_finite() && **s > 0.0 && **s <= MAX_SCALE))
        {
            return Err(Error::InvalidArgument(format!(
                "scale {s} is not a number in (0, {MAX_SCALE}]: ilastik offers 0.3 to 10, \
                 and omeflow accepts custom scales up to {MAX_SCALE} pixels"
            )));
        }
        if !self.matrix.iter().flatten().any(|&b| b) {
            return Err(Error::InvalidArgument("no feature is selected".into()));
        }
        Ok(())
    }

    /// Selected (feature, scale index) pairs in output order.
    pub fn selected(&self) -> Vec<(FeatureId, usize)> {
        let mut v = Vec::new();
        for (i, id) in self.ids.iter().enumerate() {
            for j in 0..self.scales.len() {
                if self.matrix[i][j] {
                    v.push((*id, j));
                }
            }
        }
        v
    }

    /// Filter dimensionality of scale `j` on an image that is `is_3d` or not.
    fn dims(&self, j: usize, is_3d: bool) -> usize {
        if is_3d && !self.in_2d[j] {
            3
        } else {
            2
        }
    }

    /// Number of feature channels for `n_channels` input channels.
    pub fn n_features(&self, n_channels: usize, is_3d: bool) -> usize {
        self.selected()
            .iter()
            .map(|&(id, j)| n_channels * id.channels(self.dims(j, is_3d)))
            .sum()
    }

    /// Channel names as ilastik writes them, e.g. `Gaussian Smoothing (σ=0.3) [0]`.
    pub fn names(&self, n_channels: usize, is_3d: bool) -> Vec<String> {
        let mut v = Vec::new();
        for (id, j) in self.selected() {
            let k = n_channels * id.channels(self.dims(j, is_3d));
            for i in 0..k {
                v.push(format!(
                    "{} (σ={}) [{i}]",
                    id.display_name(),
                    fmt_scale(self.scales[j])
                ));
            }
        }
        v
    }
}

fn fmt_scale(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.1}")
    } else {
        format!("{s}")
    }
}

/// Kernels and halos of one scale.
struct ScalePlan {
    j: usize,
    features: Vec<FeatureId>,
    /// Pre-smoothing (vigra `gaussianSmoothing`, window 3.5).
    pre: Kernel1D,
    /// Gaussian smoothing feature (double arithmetic, window 2).
    gs: Kernel1D,
    /// Float derivative kernels of order 0, 1, 2 (gradient, Laplacian, Hessian).
    g: [Kernel1D; 3],
    dog: Option<Kernel1D>,
    outer: Option<Kernel1D>,
    /// Margin of the feature stage beyond the block: derivative radius + outer radius.
    halo_f: usize,
    /// Margin at which derivatives are needed (the structure tensor's outer radius).
    halo_o: usize,
}

impl ScalePlan {
    fn new(sel: &FeatureSelection, j: usize) -> Result<Option<ScalePlan>> {
        let features: Vec<FeatureId> = sel
            .ids
            .iter()
            .enumerate()
            .filter(|(i, _)| sel.matrix[*i][j])
            .map(|(_, f)| *f)
            .collect();
        if features.is_empty() {
            return Ok(None);
        }
        let s = sel.scales[j];
        let (pre_sigma, fs) = if s > 1.0 {
            ((s * s - 1.0).sqrt(), 1.0)
        } else {
            (s, s)
        };
        let pre = Kernel1D::smoothing(pre_sigma, 3.5)?;
        let gs = Kernel1D::smoothing(fs, 2.0)?;
        let g = [
            Kernel1D::derivative(fs, 0, 2.0)?,
            Kernel1D::derivative(fs, 1, 2.0)?,
            Kernel1D::derivative(fs, 2, 2.0)?,
        ];
        let dog = if features.contains(&FeatureId::DifferenceOfGaussians) {
            Some(Kernel1D::smoothing(fs * 0.66, 2.0)?)
        } else {
            None
        };
        let outer = if features.contains(&FeatureId::StructureTensorEigenvalues) {
            Some(Kernel1D::tensor_smoothing(fs * 0.5, 2.0)?)
        } else {
            None
        };
        let halo_o = outer.as_ref().map_or(0, |k| k.radius);
        let rf = g
            .iter()
            .chain(Some(&gs))
            .chain(dog.as_ref())
            .map(|k| k.radius)
            .max()
            .unwrap_or(0);
        Ok(Some(ScalePlan {
            j,
            features,
            pre,
            gs,
            g,
            dog,
            outer,
            halo_f: rf + halo_o,
            halo_o,
        }))
    }
}

impl ScalePlan {
    /// The largest radius of the kernels this scale runs along an axis.
    fn radius(&self) -> usize {
        [&self.pre, &self.gs]
            .into_iter()
            .chain(&self.g)
            .chain(self.dog.as_ref())
            .chain(self.outer.as_ref())
            .map(|k| k.radius)
            .max()
            .unwrap_or(0)
    }
}

fn grow(r: &Range<usize>, by: usize, n: usize, active: bool) -> Range<usize> {
    if active {
        r.start.saturating_sub(by)..(r.end + by).min(n)
    } else {
        r.clone()
    }
}

/// The feature bank of one project for images with a given channel count and dimensionality.
pub struct FeatureBank {
    sel: FeatureSelection,
    plans: Vec<ScalePlan>,
    is_3d: bool,
    n_channels: usize,
}

impl FeatureBank {
    /// Prepare the kernels for an image with `n_channels` channels, 3-D when `is_3d`.
    pub fn new(sel: &FeatureSelection, n_channels: usize, is_3d: bool) -> Result<FeatureBank> {
        sel.validate()?;
        let mut plans = Vec::new();
        for j in 0..sel.scales.len() {
            if let Some(p) = ScalePlan::new(sel, j)? {
                plans.push(p);
            }
        }
        Ok(FeatureBank {
            sel: sel.clone(),
            plans,
            is_3d,
            n_channels,
        })
    }

    /// Number of output channels.
    pub fn n_features(&self) -> usize {
        self.sel.n_features(self.n_channels, self.is_3d)
    }

    /// Checks that every kernel fits an image of (z, y, x) `shape` (vigra refuses a kernel longer
    /// than the line), so a run fails before it writes anything, not in a worker half-way.
    pub fn check_fits(&self, shape: [usize; 3]) -> Result<()> {
        if shape.contains(&0) {
            return Err(Error::InvalidArgument(format!(
                "an image of (z, y, x) {shape:?} has no pixels to classify"
            )));
        }
        for (a, axis) in ["z", "y", "x"].iter().enumerate() {
            // The largest kernel run along this axis names the scale to drop.
            let widest = self
                .plans
                .iter()
                .filter(|p| a > 0 || self.sel.dims(p.j, self.is_3d) == 3)
                .max_by_key(|p| p.radius());
            if let Some(plan) = widest {
                let r = plan.radius();
                if r >= shape[a] {
                    return Err(Error::Classify(format!(
                        "the image is too small for the project's scale {}: its kernels have a \
                         radius of {r} pixels and need more than {r} pixels along {axis}, the \
                         image has {} (vigra: kernel longer than line); use a larger image or \
                         level, or a project without that scale",
                        self.sel.scales[plan.j], shape[a]
                    )));
                }
            }
        }
        Ok(())
    }

    /// A stream over consecutive z-slabs of the (y, x) box `tile` of an image whose channels
    /// are `channels` (whole (z, y, x) volumes).
    pub fn stream<'a>(
        &'a self,
        channels: &'a [Block],
        tile: [Range<usize>; 2],
    ) -> Result<FeatureStream<'a>> {
        if channels.len() != self.n_channels {
            return Err(Error::InvalidArgument(format!(
                "{} channels given, the bank was made for {}",
                channels.len(),
                self.n_channels
            )));
        }
        let caches = (0..self.plans.len() * self.n_channels)
            .map(|_| BTreeMap::new())
            .collect();
        Ok(FeatureStream {
            bank: self,
            channels,
            tile,
            caches,
        })
    }
}

/// Computes the features of one (y, x) tile slab by slab, keeping the pre-smoothed planes that
/// the next slab's halo needs, so each plane is pre-smoothed once per scale and channel.
pub struct FeatureStream<'a> {
    bank: &'a FeatureBank,
    channels: &'a [Block],
    tile: [Range<usize>; 2],
    /// Per (scale plan, channel): x/y pre-smoothed planes by z, over the tile and its halo.
    caches: Vec<BTreeMap<usize, Block>>,
}

impl FeatureStream<'_> {
    /// Features of planes `zr` of the tile, one vector per feature channel (ilastik's order),
    /// voxels in C order (z, y, x). Slabs must come in increasing z.
    pub fn features(&mut self, zr: Range<usize>) -> Result<Vec<Vec<f32>>> {
        let bank = self.bank;
        let nch = bank.n_channels;
        let mut parts: HashMap<(FeatureId, usize, usize), Vec<Vec<f32>>> = HashMap::new();
        for (pi, plan) in bank.plans.iter().enumerate() {
            let dims = bank.sel.dims(plan.j, bank.is_3d);
            for c in 0..nch {
                let pre = self.presmoothed(pi, c, &zr, dims)?;
                let block = [zr.clone(), self.tile[0].clone(), self.tile[1].clone()];
                for (id, v) in scale_features(plan, &pre, &block, dims)? {
                    parts.insert((id, plan.j, c), v);
                }
            }
        }
        let mut out = Vec::with_capacity(bank.n_features());
        for (id, j) in bank.sel.selected() {
            for c in 0..nch {
                match parts.remove(&(id, j, c)) {
                    Some(v) => out.extend(v),
                    None => {
                        return Err(Error::Internal(format!(
                            "feature {id:?} scale {j} channel {c} missing"
                        )))
                    }
                }
            }
        }
        Ok(out)
    }

    /// The pre-smoothed image over the slab and tile grown by the scale's feature halo.
    fn presmoothed(
        &mut self,
        pi: usize,
        c: usize,
        zr: &Range<usize>,
        dims: usize,
    ) -> Result<Block> {
        let plan = &self.bank.plans[pi];
        let ch = &self.channels[c];
        let full = ch.full;
        let ry = grow(&self.tile[0], plan.halo_f, full[1], true);
        let rx = grow(&self.tile[1], plan.halo_f, full[2], true);
        let (rz, need) = if dims == 3 {
            let rz = grow(zr, plan.halo_f, full[0], true);
            let r = plan.pre.radius as isize;
            if plan.pre.radius >= full[0] {
                return Err(Error::Classify(format!(
                    "a kernel of radius {} does not fit {} planes (vigra: kernel longer than line); \
                     the image is too small for the project's largest scale",
                    plan.pre.radius, full[0]
                )));
            }
            let pos = (rz.start as isize - r)..(rz.end as isize + r);
            let lo = pos.clone().map(|p| mirror(p, full[0])).min().unwrap_or(0);
            let hi = pos.map(|p| mirror(p, full[0])).max().map_or(0, |m| m + 1);
            (rz, lo..hi)
        } else {
            (zr.clone(), zr.clone())
        };
        let cache = &mut self.caches[pi * self.bank.n_channels + c];
        // Slabs move up in z: planes below what this slab needs are never needed again.
        while let Some((&z, _)) = cache.first_key_value() {
            if z >= need.start {
                break;
            }
            cache.pop_first();
        }
        for z in need.clone() {
            if let std::collections::btree_map::Entry::Vacant(e) = cache.entry(z) {
                let k = &plan.pre;
                let b = separable(
                    ch,
                    [None, Some(k), Some(k)],
                    [z..z + 1, ry.clone(), rx.clone()],
                )?;
                e.insert(b);
            }
        }
        let (ny, nx) = (ry.len(), rx.len());
        let mut data = Vec::with_capacity(need.len() * ny * nx);
        for z in need.clone() {
            let b = &cache[&z];
            data.extend_from_slice(b.data.as_slice().ok_or_else(|| {
                Error::Internal("a pre-smoothed plane is not in standard layout".into())
            })?);
        }
        let stack = Block {
            origin: [need.start, ry.start, rx.start],
            full,
            data: Array3::from_shape_vec((need.len(), ny, nx), data)
                .map_err(|e| Error::Internal(format!("the pre-smoothed planes: {e}")))?,
        };
        if dims == 3 {
            convolve_axis(&stack, 0, &plan.pre, rz, [stack.range(0), ry, rx])
        } else {
            Ok(stack)
        }
    }
}

/// All features of one scale and channel on `block`, from the pre-smoothed `pre`.
fn scale_features(
    plan: &ScalePlan,
    pre: &Block,
    block: &[Range<usize>; 3],
    dims: usize,
) -> Result<Vec<(FeatureId, Vec<Vec<f32>>)>> {
    let full = pre.full;
    let active = [dims == 3, true, true];
    let r2: [Range<usize>; 3] =
        std::array::from_fn(|a| grow(&block[a], plan.halo_o, full[a], active[a]));
    fn on(k: &Kernel1D, active: bool) -> Option<&Kernel1D> {
        active.then_some(k)
    }
    // vigra's axis order: x, y, z.
    let axes: Vec<usize> = if dims == 3 { vec![2, 1, 0] } else { vec![2, 1] };
    let unit = |a: usize, n: usize| {
        let mut o = [0usize; 3];
        o[a] = n;
        o
    };
    // The derivative orders (z, y, x) this scale's features use.
    let mut need: Vec<[usize; 3]> = Vec::new();
    for &id in &plan.features {
        match id {
            FeatureId::LaplacianOfGaussian => need.extend(axes.iter().map(|&a| unit(a, 2))),
            FeatureId::GaussianGradientMagnitude | FeatureId::StructureTensorEigenvalues => {
                need.extend(axes.iter().map(|&a| unit(a, 1)))
            }
            FeatureId::HessianOfGaussianEigenvalues => {
                for (pi, &p) in axes.iter().enumerate() {
                    for &q in &axes[pi..] {
                        let mut o = [0usize; 3];
                        o[p] += 1;
                        o[q] += 1;
                        need.push(o);
                    }
                }
            }
            _ => {}
        }
    }
    // Derivatives share partial passes: x with orders 0..2, then y, then z (vigra's order, so
    // every value is the one vigra's separate filters give).
    let mut derivs: HashMap<[usize; 3], Block> = HashMap::new();
    let mut xs: HashMap<usize, Block> = HashMap::new();
    let mut ys: HashMap<[usize; 2], Block> = HashMap::new();
    for &o in &need {
        if derivs.contains_key(&o) {
            continue;
        }
        let x = match xs.entry(o[2]) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let out = [pre.range(0), pre.range(1), r2[2].clone()];
                e.insert(separable(pre, [None, None, Some(&plan.g[o[2]])], out)?)
            }
        };
        let y = match ys.entry([o[1], o[2]]) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let out = [x.range(0), r2[1].clone(), r2[2].clone()];
                e.insert(separable(x, [None, Some(&plan.g[o[1]]), None], out)?)
            }
        };
        let b = if active[0] {
            separable(y, [Some(&plan.g[o[0]]), None, None], r2.clone())?
        } else {
            crop(y, r2.clone())?
        };
        derivs.insert(o, b);
    }
    drop((xs, ys));
    let deriv = |o: [usize; 3]| -> Result<&Block> {
        derivs
            .get(&o)
            .ok_or_else(|| Error::Internal(format!("derivative {o:?} missing")))
    };
    let cut = |b: &Block| -> Result<Vec<f32>> {
        let b = crop(b, block.clone())?;
        Ok(b.data.into_raw_vec_and_offset().0)
    };
    let smooth = |k: &Kernel1D| -> Result<Vec<f32>> {
        let b = separable(pre, [on(k, active[0]), Some(k), Some(k)], block.clone())?;
        Ok(b.data.into_raw_vec_and_offset().0)
    };
    let mut gs_cache: Option<Vec<f32>> = None;
    let mut gs_once = || -> Result<Vec<f32>> {
        if gs_cache.is_none() {
            gs_cache = Some(smooth(&plan.gs)?);
        }
        Ok(gs_cache.clone().unwrap_or_default())
    };
    let mut res = Vec::new();
    for &id in &plan.features {
        let v = match id {
            FeatureId::GaussianSmoothing => vec![gs_once()?],
            FeatureId::LaplacianOfGaussian => {
                let mut sum: Option<Vec<f32>> = None;
                for &a in &axes {
                    let d = cut(deriv(unit(a, 2))?)?;
                    sum = Some(match sum {
                        None => d,
                        Some(mut s) => {
                            s.iter_mut().zip(&d).for_each(|(s, d)| *s += d);
                            s
                        }
                    });
                }
                vec![sum.unwrap_or_default()]
            }
            FeatureId::GaussianGradientMagnitude => {
                let gs: Vec<Vec<f32>> = axes
                    .iter()
                    .map(|&a| cut(deriv(unit(a, 1))?))
                    .collect::<Result<_>>()?;
                let mut m = vec![0f32; gs[0].len()];
                for (i, m) in m.iter_mut().enumerate() {
                    // vigranumpy adds the squares from the last axis to the first (z, y, x):
                    // the only order that matches it bit for bit in 3-D.
                    let mut sq = 0f32;
                    for g in gs.iter().rev() {
                        sq += g[i] * g[i];
                    }
                    *m = sq.sqrt();
                }
                vec![m]
            }
            FeatureId::DifferenceOfGaussians => {
                let k = plan
                    .dog
                    .as_ref()
                    .ok_or_else(|| Error::Internal("no DoG kernel".into()))?;
                let a = gs_once()?;
                let b = smooth(k)?;
                vec![a.iter().zip(&b).map(|(a, b)| a - b).collect()]
            }
            FeatureId::StructureTensorEigenvalues => {
                let k = plan
                    .outer
                    .as_ref()
                    .ok_or_else(|| Error::Internal("no outer kernel".into()))?;
                let gs: Vec<&[f32]> = axes
                    .iter()
                    .map(|&a| {
                        deriv(unit(a, 1))?.data.as_slice().ok_or_else(|| {
                            Error::Internal("a gradient is not in standard layout".into())
                        })
                    })
                    .collect::<Result<_>>()?;
                let n = gs.len();
                let shape = [r2[0].len(), r2[1].len(), r2[2].len()];
                let mut comps = Vec::new();
                for p in 0..n {
                    for q in p..n {
                        let prod: Vec<f32> = gs[p].iter().zip(gs[q]).map(|(a, b)| a * b).collect();
                        let b = Block {
                            origin: [r2[0].start, r2[1].start, r2[2].start],
                            full,
                            data: Array3::from_shape_vec(shape, prod).map_err(|e| {
                                Error::Internal(format!("a structure tensor component: {e}"))
                            })?,
                        };
                        let s = separable(&b, [on(k, active[0]), Some(k), Some(k)], block.clone())?;
                        comps.push(s.data.into_raw_vec_and_offset().0);
                    }
                }
                eigen(&comps, n)
            }
            FeatureId::HessianOfGaussianEigenvalues => {
                let mut comps = Vec::new();
                for (pi, &p) in axes.iter().enumerate() {
                    for &q in &axes[pi..] {
                        let mut o = [0usize; 3];
                        o[p] += 1;
                        o[q] += 1;
                        comps.push(cut(deriv(o)?)?);
                    }
                }
                eigen(&comps, axes.len())
            }
        };
        res.push((id, v));
    }
    Ok(res)
}

/// Eigenvalues (descending) of symmetric tensors given as upper-triangle components in
/// vigra's order (xx, xy, [xz,] yy, [yz, zz]).
fn eigen(comps: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
    let len = comps.first().map_or(0, |c| c.len());
    let mut out = vec![vec![0f32; len]; n];
    for i in 0..len {
        if n == 2 {
            let e = eigenvalues2(comps[0][i], comps[1][i], comps[2][i]);
            out[0][i] = e[0];
            out[1][i] = e[1];
        } else {
            let e = eigenvalues3(
                comps[0][i],
                comps[1][i],
                comps[2][i],
                comps[3][i],
                comps[4][i],
                comps[5][i],
            );
            for (k, o) in out.iter_mut().enumerate() {
                o[i] = e[k];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_counts() {
        let sel = FeatureSelection {
            ids: FeatureId::ALL.to_vec(),
            scales: vec![0.3, 1.0, 3.5],
            matrix: vec![vec![true, true, false]; 6],
            in_2d: vec![false; 3],
        };
        assert_eq!(sel.n_features(2, true), 2 * (4 * 2 + 2 * 3 * 2));
        assert_eq!(sel.n_features(1, false), 4 * 2 + 2 * 2 * 2);
        let names = sel.names(2, true);
        assert_eq!(names[0], "Gaussian Smoothing (σ=0.3) [0]");
        assert_eq!(names[3], "Gaussian Smoothing (σ=1.0) [1]");
    }
}
