//! Gaussian filters with vigra's semantics, the ones ilastik's features use.
//!
//! vigra differs from scipy: its kernel radius is `int(window_ratio * sigma + 0.5)` (at least 1;
//! `window_ratio` 0 means 3, or 3 + order/2 for derivatives), the sampled Gaussian is normalised
//! to sum 1, derivative kernels have their mean removed and are normalised by their moment
//! (`sum k[x] (-x)^n / n! = 1`), and the border is mirrored without repeating the edge
//! (`d c b | a b c d | c b a`, vigra's `BORDER_TREATMENT_REFLECT`). A kernel longer than the line
//! is an error, as in vigra.
//!
//! Filters work on [`Block`]s: a box of a larger volume with its global position, so the
//! feature bank can run on blocks with halos and still mirror at the real image border.
//!
//! The arithmetic is vigra's, operation for operation, so results match bit for bit (checked
//! against vigranumpy): `gaussianSmoothing` uses double kernels and double sums
//! ([`Arith::F64`]); gradients, Laplacian and Hessian use `Kernel1D<float>` built in float and
//! float sums ([`Arith::F32`]); the structure tensor's outer smoothing multiplies in double and
//! sums in float ([`Arith::F32SumF64Product`]). Every pass stores float32, axes in vigra's
//! order (x, then y, then z). This matters: the closed-form 3x3 eigenvalues amplify differences
//! of one ulp in the tensor to 1e-3 of the range where two eigenvalues nearly coincide.

use ndarray::{Array3, ArrayView3};

use crate::{Error, Result};

/// How a convolution computes, after the vigra function it imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// Double kernel, double sum (`gaussianSmoothMultiArray`).
    F64,
    /// Float kernel, float products and sum (`gaussianGradientMultiArray`, Hessian, LoG).
    F32,
    /// Double kernel, each product rounded to float, float sum (smoothing the structure tensor's
    /// `TinyVector<float>` pixels).
    F32SumF64Product,
}

/// A 1-D kernel as correlation weights: `out[i] = sum_j weights[j] * in[i + j - radius]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel1D {
    /// `2 * radius + 1` weights (exact f32 values for [`Arith::F32`]).
    pub weights: Vec<f64>,
    /// Half-width.
    pub radius: usize,
    /// How sums are formed.
    pub arith: Arith,
}

impl Kernel1D {
    /// vigra's Gaussian smoothing kernel (double): `initGaussian(sigma, 1.0, window_ratio)`.
    pub fn smoothing(sigma: f64, window_ratio: f64) -> Result<Kernel1D> {
        vigra_kernel(sigma, 0, window_ratio)
    }

    /// The same double kernel for the structure tensor's outer smoothing.
    pub fn tensor_smoothing(sigma: f64, window_ratio: f64) -> Result<Kernel1D> {
        Ok(Kernel1D {
            arith: Arith::F32SumF64Product,
            ..vigra_kernel(sigma, 0, window_ratio)?
        })
    }

    /// vigra's `Kernel1D<float>::initGaussianDerivative(sigma, order, 1.0, window_ratio)`,
    /// computed in float as vigra does, for the derivative filters.
    pub fn derivative(sigma: f64, order: u32, window_ratio: f64) -> Result<Kernel1D> {
        let radius = kernel_radius(sigma, order, window_ratio)?;
        let s = sigma as f32;
        let sf = s as f64;
        let sigma2 = (-0.5 / sf / sf) as f32;
        let two_pi = (2.0 * std::f64::consts::PI).sqrt();
        let norm = match order {
            0 => (1.0 / two_pi / sf) as f32,
            _ => (-1.0 / (two_pi * (s * s) as f64 * sf)) as f32,
        };
        let r = radius as i32;
        let mut k: Vec<f32> = (-r..=r)
            .map(|xi| {
                let x = xi as f32;
                let g = norm * (x * x * sigma2).exp();
                match order {
                    0 => g,
                    1 => x * g,
                    _ => {
                        let q = x / s;
                        ((1.0 - (q * q) as f64) * g as f64) as f32
                    }
                }
            })
            .collect();
        if order > 0 {
            let mut dc = 0f32;
            for &v in &k {
                dc += v;
            }
            let dc = (dc as f64 / (2.0 * radius as f64 + 1.0)) as f32;
            for v in &mut k {
                *v -= dc;
            }
        }
        let mut sum = 0f32;
        if order == 0 {
            for &v in &k {
                sum += v;
            }
        } else {
            let fact = if order == 2 { 2.0 } else { 1.0 };
            for (i, &v) in k.iter().enumerate() {
                let x = (i as i64 - r as i64) as f64;
                sum = (sum as f64 + v as f64 * (-x).powi(order as i32) / fact) as f32;
            }
        }
        let scale = 1.0f32 / sum;
        // vigra's kernel[x] multiplies in[i - x]; as correlation weights that is kernel[-j].
        let weights = k.iter().rev().map(|&v| (v * scale) as f64).collect();
        Ok(Kernel1D {
            weights,
            radius,
            arith: Arith::F32,
        })
    }
}

fn kernel_radius(sigma: f64, order: u32, window_ratio: f64) -> Result<usize> {
    let positive = sigma.is_finite() && sigma > 0.0;
    let window_ok = window_ratio.is_finite() && window_ratio >= 0.0;
    if !positive || !window_ok || order > 2 {
        return Err(Error::InvalidArgument(format!(
            "gaussian kernel: sigma {sigma} (must be > 0), order {order} (0..=2), window {window_ratio}"
        )));
    }
    let half = if window_ratio == 0.0 {
        (3.0 + 0.5 * order as f64) * sigma + 0.5
    } else {
        window_ratio * sigma + 0.5
    };
    // Checked in f64 before the cast (sigma and window are finite, so `half` is a number or
    // infinity): a sigma from a file (1e9) would otherwise become a kernel of billions of
    // weights, allocated before any image is looked at.
    if half >= (MAX_KERNEL_RADIUS + 1) as f64 {
        return Err(Error::InvalidArgument(format!(
            "gaussian kernel: sigma {sigma} with window {window_ratio} needs a radius of {} pixels, \
             more than the {MAX_KERNEL_RADIUS} omeflow allows; use a smaller sigma",
            half.floor()
        )));
    }
    Ok((half as usize).max(1))
}

/// Largest kernel radius. A kernel must be shorter than the line it filters (as in vigra), and
/// 10^5 pixels is beyond the axes these whole-line filters run on; it keeps a kernel under 2 MB.
pub const MAX_KERNEL_RADIUS: usize = 100_000;

/// vigra's `Kernel1D<double>::initGaussianDerivative(sigma, order, 1.0, window_ratio)` (order
/// 0 is `initGaussian`), as correlation weights (vigra convolves, so odd kernels flip).
pub fn vigra_kernel(sigma: f64, order: u32, window_ratio: f64) -> Result<Kernel1D> {
    let radius = kernel_radius(sigma, order, window_ratio)?;
    let r = radius as i64;
    let s2 = -0.5 / sigma / sigma;
    let two_pi = (2.0 * std::f64::consts::PI).sqrt();
    let norm = match order {
        0 => 1.0 / two_pi / sigma,
        _ => -1.0 / (two_pi * (sigma * sigma) * sigma),
    };
    let mut k: Vec<f64> = (-r..=r)
        .map(|x| {
            let x = x as f64;
            let g = norm * (x * x * s2).exp();
            match order {
                0 => g,
                1 => x * g,
                _ => (1.0 - (x / sigma) * (x / sigma)) * g,
            }
        })
        .collect();
    if order > 0 {
        let mut dc = 0.0;
        for &v in &k {
            dc += v;
        }
        let dc = dc / (2.0 * radius as f64 + 1.0);
        for v in &mut k {
            *v -= dc;
        }
    }
    let mut sum = 0.0;
    let fact = if order == 2 { 2.0 } else { 1.0 };
    for (i, &v) in k.iter().enumerate() {
        sum += if order == 0 {
            v
        } else {
            v * (-((i as i64 - r) as f64)).powi(order as i32) / fact
        };
    }
    let scale = 1.0 / sum;
    let weights = k.iter().rev().map(|v| v * scale).collect();
    Ok(Kernel1D {
        weights,
        radius,
        arith: Arith::F64,
    })
}

/// vigra's mirror: `-1 -> 1`, `n -> n - 2`. Valid for `-(n-1) <= i <= 2n - 2`.
#[inline]
pub(crate) fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let j = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    j as usize
}

/// A box `origin .. origin + shape` (z, y, x) of a volume of size `full`, C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Position of `data[0, 0, 0]` in the volume.
    pub origin: [usize; 3],
    /// The volume's shape (for mirroring at its border).
    pub full: [usize; 3],
    /// The samples.
    pub data: Array3<f32>,
}

impl Block {
    /// The whole of `volume`.
    pub fn whole(volume: Array3<f32>) -> Block {
        let d = volume.dim();
        Block {
            origin: [0, 0, 0],
            full: [d.0, d.1, d.2],
            data: volume,
        }
    }

    /// Shape of the box.
    pub fn shape(&self) -> [usize; 3] {
        let d = self.data.dim();
        [d.0, d.1, d.2]
    }

    /// The box's range along `axis`.
    pub fn range(&self, axis: usize) -> std::ops::Range<usize> {
        self.origin[axis]..self.origin[axis] + self.shape()[axis]
    }
}

/// One output line as a weighted sum of source lines, in tap order, with the kernel's arithmetic.
struct Summer {
    arith: Arith,
    w64: Vec<f64>,
    w32: Vec<f32>,
}

impl Summer {
    fn new(k: &Kernel1D) -> Summer {
        Summer {
            arith: k.arith,
            w64: k.weights.clone(),
            w32: k.weights.iter().map(|&v| v as f32).collect(),
        }
    }

    /// `out = sum_t w[t] * src(t)`; vigra's sum starts at zero, and `0 + p == p` exactly.
    #[inline(always)]
    fn run<'s>(&self, src: impl Fn(usize) -> &'s [f32], out: &mut [f32], acc: &mut [f64]) {
        let n = out.len();
        match self.arith {
            Arith::F64 => {
                let acc = &mut acc[..n];
                for (t, &w) in self.w64.iter().enumerate() {
                    let s = &src(t)[..n];
                    if t == 0 {
                        for (a, &v) in acc.iter_mut().zip(s) {
                            *a = w * v as f64;
                        }
                    } else {
                        for (a, &v) in acc.iter_mut().zip(s) {
                            *a += w * v as f64;
                        }
                    }
                }
                for (o, &a) in out.iter_mut().zip(acc.iter()) {
                    *o = a as f32;
                }
            }
            Arith::F32 => {
                for (t, &w) in self.w32.iter().enumerate() {
                    let s = &src(t)[..n];
                    if t == 0 {
                        for (o, &v) in out.iter_mut().zip(s) {
                            *o = w * v;
                        }
                    } else {
                        for (o, &v) in out.iter_mut().zip(s) {
                            *o += w * v;
                        }
                    }
                }
            }
            Arith::F32SumF64Product => {
                for (t, &w) in self.w64.iter().enumerate() {
                    let s = &src(t)[..n];
                    if t == 0 {
                        for (o, &v) in out.iter_mut().zip(s) {
                            *o = (w * v as f64) as f32;
                        }
                    } else {
                        for (o, &v) in out.iter_mut().zip(s) {
                            *o += (w * v as f64) as f32;
                        }
                    }
                }
            }
        }
    }
}

/// The inner loops of [`convolve_axis`], compiled twice: for AVX2 when the CPU has it (no FMA,
/// so the same roundings) and for the baseline.
struct Job<'a> {
    axis: usize,
    taps: &'a [usize],
    lo: [usize; 3],
    src: &'a [f32],
    src_shape: [usize; 3],
    shape: [usize; 3],
    first: usize,
    r: isize,
    n: usize,
    s0: usize,
    sum: Summer,
}

impl Job<'_> {
    fn dispatch(&self, outs: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.run_avx2(outs) };
                return;
            }
        }
        self.run(outs);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(&self, outs: &mut [f32]) {
        self.run(outs);
    }

    #[inline(always)]
    fn run(&self, outs: &mut [f32]) {
        let Job {
            axis,
            taps,
            lo,
            src: sv,
            src_shape: [_, sny, snx],
            shape,
            first,
            r,
            n,
            s0,
            ref sum,
        } = *self;
        let nt = sum.w64.len();
        let (ny, nx) = (shape[1], shape[2]);
        let mut acc = vec![0f64; nx];
        match axis {
            0 | 1 => {
                // Rows along x are contiguous: each output row is a weighted sum of source rows.
                for z in 0..shape[0] {
                    for y in 0..ny {
                        let o = if axis == 0 { z } else { y };
                        let row = &mut outs[(z * ny + y) * nx..(z * ny + y + 1) * nx];
                        let t0 = o * nt;
                        sum.run(
                            |t| {
                                let si = taps[t0 + t];
                                let (sz, sy) = if axis == 0 {
                                    (si, y + lo[1])
                                } else {
                                    (z + lo[0], si)
                                };
                                let start = (sz * sny + sy) * snx + lo[2];
                                &sv[start..start + nx]
                            },
                            row,
                            &mut acc,
                        );
                    }
                }
            }
            _ => {
                // Along x: gather the mirrored line once, then one pass per tap over the line.
                let mut line = vec![0f32; nx + nt - 1];
                for z in 0..shape[0] {
                    for y in 0..ny {
                        let start = ((z + lo[0]) * sny + y + lo[1]) * snx;
                        let srow = &sv[start..start + snx];
                        for (i, v) in line.iter_mut().enumerate() {
                            let g = mirror(first as isize + i as isize - r, n);
                            *v = srow[g - s0];
                        }
                        let row = &mut outs[(z * ny + y) * nx..(z * ny + y + 1) * nx];
                        sum.run(|t| &line[t..t + nx], row, &mut acc);
                    }
                }
            }
        }
    }
}

/// Convolves `src` along `axis` with `k` (mirror border of the whole volume) and returns the box
/// `out_range` along `axis` and `keep` along the other axes (each inside `src`'s box). Every
/// mirrored position the kernel reads must lie in `src`'s box.
pub fn convolve_axis(
    src: &Block,
    axis: usize,
    k: &Kernel1D,
    out_range: std::ops::Range<usize>,
    keep: [std::ops::Range<usize>; 3],
) -> Result<Block> {
    let n = src.full[axis];
    if k.radius >= n {
        return Err(Error::Classify(format!(
            "a kernel of radius {} does not fit an axis of length {n} (vigra: kernel longer than line); \
             the image is too small for the project's largest scale",
            k.radius
        )));
    }
    let mut ranges = keep;
    ranges[axis] = out_range;
    for (a, r) in ranges.iter().enumerate() {
        let s = src.range(a);
        let inside = if a == axis {
            r.end <= src.full[a]
        } else {
            r.start >= s.start && r.end <= s.end
        };
        if !inside || r.start > r.end {
            return Err(Error::Internal(format!(
                "output range {r:?} on axis {a} outside {s:?}"
            )));
        }
    }
    // Source-local index of every (output position, tap).
    let r = k.radius as isize;
    let s0 = src.origin[axis];
    let slen = src.shape()[axis];
    let nt = k.weights.len();
    let mut taps = Vec::with_capacity(ranges[axis].len() * nt);
    for o in ranges[axis].clone() {
        for j in -r..=r {
            let g = mirror(o as isize + j, n);
            if g < s0 || g >= s0 + slen {
                return Err(Error::Internal(format!(
                    "axis {axis} position {g} is outside the block {s0}..{}",
                    s0 + slen
                )));
            }
            taps.push(g - s0);
        }
    }
    let shape = [ranges[0].len(), ranges[1].len(), ranges[2].len()];
    let mut out = Array3::<f32>::zeros(shape);
    // Source-local start of the kept ranges (the convolved axis goes through `taps`).
    let mut lo = [0usize; 3];
    for a in 0..3 {
        if a != axis {
            lo[a] = ranges[a].start - src.origin[a];
        }
    }
    let layout = || Error::Internal("a block is not in standard layout".into());
    let job = Job {
        axis,
        taps: &taps,
        lo,
        src: src.data.as_slice().ok_or_else(layout)?,
        src_shape: src.shape(),
        shape,
        first: ranges[axis].start,
        r,
        n,
        s0,
        sum: Summer::new(k),
    };
    job.dispatch(out.as_slice_mut().ok_or_else(layout)?);
    Ok(Block {
        origin: [ranges[0].start, ranges[1].start, ranges[2].start],
        full: src.full,
        data: out,
    })
}

/// Separable filtering: one kernel per axis (`None` leaves that axis alone), in vigra's order
/// (x, y, z), producing the box `out` (each range inside the volume); `src` must hold every
/// sample the kernels reach.
pub fn separable(
    src: &Block,
    kernels: [Option<&Kernel1D>; 3],
    out: [std::ops::Range<usize>; 3],
) -> Result<Block> {
    let mut cur: Option<Block> = None;
    for axis in [2, 1, 0] {
        let Some(k) = kernels[axis] else { continue };
        let s = cur.as_ref().unwrap_or(src);
        // Axes still to be filtered keep the halo they need; the others are cut to `out`.
        let mut keep = [s.range(0), s.range(1), s.range(2)];
        for a in 0..3 {
            keep[a] = match kernels[a] {
                Some(ka) if a != axis && s.range(a) != out[a] => {
                    let r = ka.radius;
                    let lo = out[a].start.saturating_sub(r).max(s.range(a).start);
                    let hi = (out[a].end + r).min(s.full[a]).min(s.range(a).end);
                    lo..hi
                }
                Some(_) => s.range(a),
                None => out[a].clone(),
            };
        }
        cur = Some(convolve_axis(s, axis, k, out[axis].clone(), keep)?);
    }
    match cur {
        Some(b) => Ok(b),
        None => crop(src, out),
    }
}

/// The box `out` of `src`.
pub fn crop(src: &Block, out: [std::ops::Range<usize>; 3]) -> Result<Block> {
    for (a, r) in out.iter().enumerate() {
        let s = src.range(a);
        if r.start < s.start || r.end > s.end {
            return Err(Error::Internal(format!(
                "crop {r:?} outside {s:?} on axis {a}"
            )));
        }
    }
    let o = src.origin;
    let v = src.data.slice(ndarray::s![
        out[0].start - o[0]..out[0].end - o[0],
        out[1].start - o[1]..out[1].end - o[1],
        out[2].start - o[2]..out[2].end - o[2]
    ]);
    Ok(Block {
        origin: [out[0].start, out[1].start, out[2].start],
        full: src.full,
        data: v.to_owned(),
    })
}

/// vigra's `symmetric2x2Eigenvalues`, descending.
#[inline]
pub fn eigenvalues2(a00: f32, a01: f32, a11: f32) -> [f32; 2] {
    let d = ((a00 - a11) as f64).hypot(2.0 * a01 as f64);
    let s = (a00 + a11) as f64;
    let r0 = (0.5 * (s + d)) as f32;
    let r1 = (0.5 * (s - d)) as f32;
    if r0 < r1 {
        [r1, r0]
    } else {
        [r0, r1]
    }
}

/// vigra's `symmetric3x3Eigenvalues<float>`, descending: the closed form in double, except that
/// C++ evaluates the float-only products and sums of `c0`, `c1` and `c2` in float.
#[inline]
pub fn eigenvalues3(a00: f32, a01: f32, a02: f32, a11: f32, a12: f32, a22: f32) -> [f32; 3] {
    let inv3 = 1.0 / 3.0;
    let root3 = 3.0f64.sqrt();
    let d = |v: f32| v as f64;
    let c0 = d(a00 * a11 * a22) + 2.0 * d(a01) * d(a02) * d(a12)
        - d(a00 * a12 * a12)
        - d(a11 * a02 * a02)
        - d(a22 * a01 * a01);
    let c1 = d(a00 * a11 - a01 * a01 + a00 * a22 - a02 * a02 + a11 * a22 - a12 * a12);
    let c2 = d(a00 + a11 + a22);
    let c2_div3 = c2 * inv3;
    let mut a_div3 = (c1 - c2 * c2_div3) * inv3;
    if a_div3 > 0.0 {
        a_div3 = 0.0;
    }
    let mb_div2 = 0.5 * (c0 + c2_div3 * (2.0 * c2_div3 * c2_div3 - c1));
    let mut q = mb_div2 * mb_div2 + a_div3 * a_div3 * a_div3;
    if q > 0.0 {
        q = 0.0;
    }
    let magnitude = (-a_div3).sqrt();
    let angle = (-q).sqrt().atan2(mb_div2) * inv3;
    let cs = angle.cos();
    let sn = angle.sin();
    let mut r = [
        (c2_div3 + 2.0 * magnitude * cs) as f32,
        (c2_div3 - magnitude * (cs + root3 * sn)) as f32,
        (c2_div3 - magnitude * (cs - root3 * sn)) as f32,
    ];
    if r[0] < r[1] {
        r.swap(0, 1);
    }
    if r[0] < r[2] {
        r.swap(0, 2);
    }
    if r[1] < r[2] {
        r.swap(1, 2);
    }
    r
}

/// `vigra.filters.gaussianSmoothing(volume, sigma, window_size=window)` of a whole 2-D (z of 1)
/// or 3-D volume.
pub fn gaussian_smoothing(volume: ArrayView3<f32>, sigma: f64, window: f64) -> Result<Array3<f32>> {
    let k = Kernel1D::smoothing(sigma, window)?;
    let b = Block::whole(volume.to_owned());
    let z = if b.full[0] > 1 { Some(&k) } else { None };
    let out = [b.range(0), b.range(1), b.range(2)];
    Ok(separable(&b, [z, Some(&k), Some(&k)], out)?.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_sigmas_are_refused_before_allocating() {
        for sigma in [1e9, 1e300, f64::MAX] {
            let e = vigra_kernel(sigma, 0, 3.5).unwrap_err().to_string();
            assert!(e.contains("100000"), "{e}");
            let e = Kernel1D::derivative(sigma, 2, 2.0).unwrap_err().to_string();
            assert!(e.contains("smaller sigma"), "{e}");
        }
        assert_eq!(vigra_kernel(28_571.0, 0, 3.5).unwrap().radius, 99_999);
    }

    #[test]
    fn kernels_are_normalised() {
        let k = vigra_kernel(1.0, 0, 2.0).unwrap();
        assert_eq!(k.radius, 2);
        assert!((k.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let k = vigra_kernel(0.3, 0, 2.0).unwrap();
        assert_eq!(k.radius, 1);
        let k = vigra_kernel(9.9498743710662, 0, 3.5).unwrap();
        assert_eq!(k.radius, 35);
        // d/dx of a ramp is 1; d2/dx2 of x^2/2 is 1.
        let d1 = vigra_kernel(1.5, 1, 2.0).unwrap();
        let r = d1.radius as f64;
        let ramp: f64 = d1
            .weights
            .iter()
            .enumerate()
            .map(|(j, w)| w * (j as f64 - r))
            .sum();
        assert!((ramp - 1.0).abs() < 1e-12, "{ramp}");
        let d2 = vigra_kernel(1.5, 2, 2.0).unwrap();
        let r = d2.radius as f64;
        let par: f64 = d2
            .weights
            .iter()
            .enumerate()
            .map(|(j, w)| w * (j as f64 - r).powi(2) / 2.0)
            .sum();
        assert!((par - 1.0).abs() < 1e-12, "{par}");
    }

    #[test]
    fn mirror_border() {
        assert_eq!(mirror(-1, 5), 1);
        assert_eq!(mirror(5, 5), 3);
        // A ramp and its reverse smooth to mirror images of each other.
        let a = Array3::from_shape_fn((1, 5, 6), |(_, _, x)| x as f32);
        let s = gaussian_smoothing(a.view(), 1.0, 2.0).unwrap();
        let e = Array3::from_shape_fn((1, 5, 6), |(_, _, x)| (5 - x) as f32);
        let se = gaussian_smoothing(e.view(), 1.0, 2.0).unwrap();
        for x in 0..6 {
            assert!((s[[0, 2, x]] - (5.0 - se[[0, 2, x]])).abs() < 1e-5);
        }
        assert!(gaussian_smoothing(a.view(), 3.0, 2.0).is_err());
    }

    #[test]
    fn eigen() {
        assert_eq!(eigenvalues2(2.0, 0.0, 5.0), [5.0, 2.0]);
        let e = eigenvalues3(1.0, 0.0, 0.0, 3.0, 0.0, 2.0);
        for (a, b) in e.iter().zip([3.0, 2.0, 1.0]) {
            assert!((a - b).abs() < 1e-5, "{e:?}");
        }
    }
}
