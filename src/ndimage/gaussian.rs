//! Gaussian smoothing with scipy.ndimage's exact semantics.
//!
//! Same kernel (radius `int(truncate * sigma + 0.5)`, weights normalised with numpy's pairwise
//! sum), same separable passes in axis order, same sum order per sample, and, like scipy, the
//! result of every pass is stored in the input's type (truncated toward zero for integers)
//! before the next pass reads it. That is what makes label images equal bit for bit.

use ndarray::{Array, ArrayBase, ArrayViewMutD, Axis, Data, Dimension};

use crate::ngff::Element;
use crate::{Error, Result};

/// How a filter extends the input beyond its border (scipy's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BorderMode {
    /// `d c b a | a b c d | d c b a` (scipy's default).
    Reflect,
    /// `d c b | a b c d | c b a` (vigra and ilastik).
    Mirror,
    /// `a a a a | a b c d | d d d d`.
    Nearest,
    /// `k k k k | a b c d | k k k k` with `k` the constant value.
    Constant(f64),
    /// `a b c d | a b c d | a b c d`.
    Wrap,
}

/// Options of [`gaussian_filter_with`].
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianOptions {
    /// Standard deviation per axis (one value for all axes is allowed).
    pub sigma: Vec<f64>,
    /// Kernel radius in sigmas (scipy's default 4.0).
    pub truncate: f64,
    /// Border handling.
    pub mode: BorderMode,
}

impl GaussianOptions {
    /// `sigma` on every axis, truncate 4, reflect: `scipy.ndimage.gaussian_filter(x, sigma)`.
    pub fn new(sigma: f64) -> Self {
        Self {
            sigma: vec![sigma],
            truncate: 4.0,
            mode: BorderMode::Reflect,
        }
    }
    /// One sigma per axis.
    pub fn per_axis(sigma: &[f64]) -> Self {
        Self {
            sigma: sigma.to_vec(),
            ..Self::new(1.0)
        }
    }
    /// Set the border mode.
    pub fn with_mode(mut self, mode: BorderMode) -> Self {
        self.mode = mode;
        self
    }
    /// Set truncate.
    pub fn with_truncate(mut self, truncate: f64) -> Self {
        self.truncate = truncate;
        self
    }
}

/// numpy's pairwise summation of a contiguous f64 array (what `ndarray.sum()` does).
pub(crate) fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// scipy's `_gaussian_kernel1d(sigma, 0, radius)`: weights for offsets `-radius..=radius`.
pub fn gaussian_kernel1d(sigma: f64, radius: usize) -> Vec<f64> {
    let sigma2 = sigma * sigma;
    let r = radius as i64;
    let phi: Vec<f64> = (-r..=r)
        .map(|x| (-0.5 / sigma2 * ((x * x) as f64)).exp())
        .collect();
    let sum = 0.0 + numpy_sum(&phi);
    phi.iter().map(|v| v / sum).collect()
}

/// The widest kernel radius the filters build.
pub const MAX_RADIUS: usize = 100_000;

/// scipy's kernel radius: `int(truncate * sigma + 0.5)`.
pub fn kernel_radius(sigma: f64, truncate: f64) -> usize {
    (truncate * sigma + 0.5) as usize
}

/// Index of the sample that position `i` (possibly outside `0..n`) reads, or `None` for the
/// constant mode's outside.
#[inline]
fn extend_index(i: isize, n: usize, mode: BorderMode) -> Option<usize> {
    let n_i = n as isize;
    if (0..n_i).contains(&i) {
        return Some(i as usize);
    }
    Some(match mode {
        BorderMode::Constant(_) => return None,
        BorderMode::Nearest => i.clamp(0, n_i - 1) as usize,
        BorderMode::Wrap => i.rem_euclid(n_i) as usize,
        BorderMode::Reflect => {
            let p = 2 * n_i;
            let k = i.rem_euclid(p);
            (if k < n_i { k } else { p - 1 - k }) as usize
        }
        BorderMode::Mirror => {
            if n == 1 {
                0
            } else {
                let p = 2 * n_i - 2;
                let k = i.rem_euclid(p);
                (if k < n_i { k } else { p - k }) as usize
            }
        }
    })
}

/// Correlate one extended line with a symmetric kernel, scipy's way.
///
/// `ext` is the line extended by `r` samples on both sides; `out[i]` gets the result for
/// position `i`. Every output sample sees the operations of `NI_Correlate1D`'s symmetric branch
/// in the same order (`x[0]*w[0]`, then `(x[-j] + x[j]) * w[j]` for j = r down to 1); looping
/// over j outside i lets the compiler vectorise without changing that order.
#[inline(always)]
fn correlate_line(ext: &[f64], w: &[f64], r: usize, out: &mut [f64]) {
    let n = out.len();
    let center = w[r];
    for (o, &x) in out.iter_mut().zip(&ext[r..r + n]) {
        *o = x * center;
    }
    for j in (1..=r).rev() {
        let wj = w[r - j];
        let left = &ext[r - j..r - j + n];
        let right = &ext[r + j..r + j + n];
        for ((o, &a), &b) in out.iter_mut().zip(left).zip(right) {
            *o += (a + b) * wj;
        }
    }
}

/// One output line for a radius known at compile time: `left[k]` holds the samples at offset
/// `-(R - k)`, `right[k]` those at `+(R - k)` (rows for the outer-axis pass, shifted views of
/// the extended line for the last axis). Per sample: centre * w[R], then
/// `+= (left + right) * w[R - j]` for j = R down to 1, the order of [`correlate_line`] and of
/// scipy; the taps stay in registers instead of a pass over the line per tap.
#[inline(always)]
fn correlate_rows_fixed<const R: usize>(
    center_row: &[f64],
    left: [&[f64]; R],
    right: [&[f64]; R],
    w: &[f64],
    out: &mut [f64],
) {
    let n = out.len();
    let center_row = &center_row[..n];
    let left = left.map(|l| &l[..n]);
    let right = right.map(|r| &r[..n]);
    let center = w[R];
    for (k, o) in out.iter_mut().enumerate() {
        let mut acc = center_row[k] * center;
        for j in 0..R {
            // j = 0 is offset R (the outermost tap), as the generic loop starts there.
            acc += (left[j][k] + right[j][k]) * w[j];
        }
        *o = acc;
    }
}

/// `scipy.ndimage.gaussian_filter(input, sigma)`: same type out as in, every pass stored in
/// that type.
///
/// ```
/// use ndarray::array;
/// let plane = array![[0u16, 0, 0], [0, 1000, 0], [0, 0, 0]];
/// let smoothed = omeflow::ndimage::gaussian_filter(&plane, 1.0);
/// assert_eq!(smoothed[(1, 1)], 165); // as scipy.ndimage.gaussian_filter gives
/// ```
pub fn gaussian_filter<T, S, D>(input: &ArrayBase<S, D>, sigma: f64) -> Array<T, D>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    match gaussian_filter_with(input, &GaussianOptions::new(sigma)) {
        Ok(a) => a,
        // Only a sigma list of the wrong length can fail, and a single sigma never is.
        Err(_) => input.to_owned(),
    }
}

/// [`gaussian_filter`] with per-axis sigma, truncate and border mode.
pub fn gaussian_filter_with<T, S, D>(
    input: &ArrayBase<S, D>,
    opts: &GaussianOptions,
) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let sigmas = checked_sigmas(input.ndim(), opts)?;
    let mut out = input.to_owned();
    T::gaussian_in_place(out.view_mut().into_dyn(), &sigmas, opts);
    Ok(out)
}

/// [`gaussian_filter_with`] over an array the caller owns, smoothed where it is: no copy of
/// the input and no new buffer of its size, for pipelines that no longer need the raw pixels.
pub fn gaussian_filter_in_place<T, D>(a: &mut Array<T, D>, opts: &GaussianOptions) -> Result<()>
where
    T: Element,
    D: Dimension,
{
    let sigmas = checked_sigmas(a.ndim(), opts)?;
    T::gaussian_in_place(a.view_mut().into_dyn(), &sigmas, opts);
    Ok(())
}

fn checked_sigmas(ndim: usize, opts: &GaussianOptions) -> Result<Vec<f64>> {
    let sigmas: Vec<f64> = match opts.sigma.len() {
        1 => vec![opts.sigma[0]; ndim],
        n if n == ndim => opts.sigma.clone(),
        n => {
            return Err(Error::InvalidArgument(format!(
                "{n} sigmas for an array of {ndim} dimensions"
            )))
        }
    };
    if sigmas.iter().any(|s| !s.is_finite() || *s < 0.0)
        || !opts.truncate.is_finite()
        || opts.truncate < 0.0
    {
        return Err(Error::InvalidArgument(format!(
            "sigma {sigmas:?} and truncate {} must be finite and non-negative",
            opts.truncate
        )));
    }
    // scipy would build any kernel; one wider than MAX_RADIUS pixels is a mistake that would
    // take hours (and its size would overflow for a sigma like 1e12).
    if let Some(s) = sigmas
        .iter()
        .find(|&&s| opts.truncate * s + 0.5 > MAX_RADIUS as f64)
    {
        return Err(Error::InvalidArgument(format!(
            "sigma {s} with truncate {} makes a kernel over {MAX_RADIUS} pixels in radius; \
             use a smaller sigma or truncate",
            opts.truncate
        )));
    }
    Ok(sigmas)
}

/// Every axis's pass over `out`, in place: instantiated in omeflow for each element type
/// (`super::kernels`), whatever crate calls the filter.
pub(super) fn filter_all_axes<T: Element>(
    mut out: ArrayViewMutD<'_, T>,
    sigmas: &[f64],
    opts: &GaussianOptions,
) {
    if !out.is_standard_layout() {
        // The passes walk C-order lines: filter a C-order copy, then write it back.
        let mut copy = out.as_standard_layout().into_owned();
        filter_all_axes(copy.view_mut(), sigmas, opts);
        out.assign(&copy);
        return;
    }
    for (axis, &sigma) in sigmas.iter().enumerate() {
        // scipy skips axes whose sigma is (practically) zero.
        if sigma <= 1e-15 {
            continue;
        }
        let radius = kernel_radius(sigma, opts.truncate);
        let weights = gaussian_kernel1d(sigma, radius);
        filter_axis(&mut out, Axis(axis), &weights, radius, opts.mode);
    }
}

/// One separable pass along `axis`, in place, stored back into `T`.
///
/// On x86-64 with AVX2 the same code is compiled a second time with wider vectors. Rust never
/// fuses a multiply and an add on its own, so both builds give the same bits.
fn filter_axis<T: Element>(
    a: &mut ArrayViewMutD<'_, T>,
    axis: Axis,
    w: &[f64],
    r: usize,
    mode: BorderMode,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { filter_axis_avx2(a, axis, w, r, mode) };
            return;
        }
    }
    filter_axis_impl(a, axis, w, r, mode);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn filter_axis_avx2<T: Element>(
    a: &mut ArrayViewMutD<'_, T>,
    axis: Axis,
    w: &[f64],
    r: usize,
    mode: BorderMode,
) {
    filter_axis_impl(a, axis, w, r, mode);
}

#[inline(always)]
fn filter_axis_impl<T: Element>(
    a: &mut ArrayViewMutD<'_, T>,
    axis: Axis,
    w: &[f64],
    r: usize,
    mode: BorderMode,
) {
    let n = a.len_of(axis);
    if n == 0 || a.is_empty() {
        return;
    }
    // filter_all_axes gives only C-order views.
    let dims = a.shape().to_vec();
    let inner: usize = dims[axis.index() + 1..].iter().product();
    let cval = match mode {
        BorderMode::Constant(c) => c,
        _ => 0.0,
    };
    // Where each position of the extended line reads from (None: the constant).
    let src: Vec<Option<usize>> = (0..n + 2 * r)
        .map(|k| extend_index(k as isize - r as isize, n, mode))
        .collect();
    let Some(data) = a.as_slice_mut() else {
        unreachable!("standard layout is contiguous")
    };
    if inner == 1 {
        // Along the last axis: lines are contiguous.
        let mut ext = vec![0.0f64; n + 2 * r];
        let mut line = vec![0.0f64; n];
        for chunk in data.chunks_exact_mut(n) {
            for (e, v) in ext[r..r + n].iter_mut().zip(chunk.iter()) {
                *e = v.to_f64();
            }
            for k in (0..r).chain(r + n..n + 2 * r) {
                ext[k] = src[k].map_or(cval, |i| chunk[i].to_f64());
            }
            if r == 4 {
                // sigma 1 (the tutorial's): the row kernel over shifted views of the line.
                let left: [&[f64]; 4] = std::array::from_fn(|k| &ext[k..k + n]);
                let right: [&[f64]; 4] = std::array::from_fn(|k| &ext[2 * 4 - k..2 * 4 - k + n]);
                correlate_rows_fixed::<4>(&ext[4..4 + n], left, right, w, &mut line);
            } else {
                correlate_line(&ext, w, r, &mut line);
            }
            T::cast_from_f64_slice(&line, chunk);
        }
        return;
    }
    // Along an outer axis: whole rows of `inner` samples at a time, same per-sample order. The
    // rows the kernel needs are converted once into a ring of 2r + 1 rows (plus the n rows
    // themselves when the line is shorter than the kernel), so memory stays at a few rows.
    let constant_row = vec![cval; inner];
    let ring_len = (2 * r + 1).min(n);
    let mut ring = vec![0.0f64; ring_len * inner];
    // Positions beyond the border read rows that may already be overwritten (wrap reads the
    // far end), so they get copies taken before the pass writes anything.
    let exterior: Vec<usize> = (0..r).chain(n + r..n + 2 * r).collect();
    let mut outside = vec![0.0f64; exterior.len() * inner];
    let mut acc = vec![0.0f64; inner];
    let center = w[r];
    for chunk in data.chunks_exact_mut(n * inner) {
        if ring_len == n {
            // Short line: every row fits in the ring and stays there.
            for (b, v) in ring.iter_mut().zip(chunk.iter()) {
                *b = v.to_f64();
            }
        }
        for (e, &k) in exterior.iter().enumerate() {
            if let Some(srow) = src[k] {
                for (b, v) in outside[e * inner..(e + 1) * inner]
                    .iter_mut()
                    .zip(&chunk[srow * inner..(srow + 1) * inner])
                {
                    *b = v.to_f64();
                }
            }
        }
        let mut loaded = 0usize; // rows 0..loaded are (or were) in the ring
        for i in 0..n {
            // Rows up to i + r must be loaded before row i is written over.
            let need = (i + r + 1).min(n);
            while ring_len < n && loaded < need {
                let dst = (loaded % ring_len) * inner;
                for (b, v) in ring[dst..dst + inner]
                    .iter_mut()
                    .zip(&chunk[loaded * inner..(loaded + 1) * inner])
                {
                    *b = v.to_f64();
                }
                loaded += 1;
            }
            let row = |k: usize| -> &[f64] {
                match src[k] {
                    None => &constant_row,
                    Some(_) if k < r || k >= n + r => {
                        let e = if k < r { k } else { k - n };
                        &outside[e * inner..(e + 1) * inner]
                    }
                    Some(s) => {
                        let slot = if ring_len == n { s } else { s % ring_len };
                        &ring[slot * inner..(slot + 1) * inner]
                    }
                }
            };
            if r == 4 {
                // sigma 1: every sample sums its nine rows in registers, in the same order
                // as the generic loop below (centre, then j = r down to 1).
                let left: [&[f64]; 4] = std::array::from_fn(|k| row(i + r - 4 + k));
                let right: [&[f64]; 4] = std::array::from_fn(|k| row(i + r + 4 - k));
                correlate_rows_fixed::<4>(row(i + r), left, right, w, &mut acc);
            } else {
                for (o, &x) in acc.iter_mut().zip(row(i + r)) {
                    *o = x * center;
                }
                for j in (1..=r).rev() {
                    let wj = w[r - j];
                    for ((o, &p), &q) in acc.iter_mut().zip(row(i + r - j)).zip(row(i + r + j)) {
                        *o += (p + q) * wj;
                    }
                }
            }
            T::cast_from_f64_slice(&acc, &mut chunk[i * inner..(i + 1) * inner]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn radius_and_kernel_like_scipy() {
        assert_eq!(kernel_radius(1.0, 4.0), 4);
        assert_eq!(kernel_radius(1.5, 4.0), 6);
        let w = gaussian_kernel1d(1.0, 4);
        assert_eq!(w.len(), 9);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(w[0], w[8]);
        // scipy: _gaussian_kernel1d(1, 0, 4)[4] == 0.3989434693560978
        assert!((w[4] - 0.398_943_469_356_097_8).abs() < 1e-16);
    }

    #[test]
    fn border_modes_extend_like_scipy() {
        let n = 4;
        let idx = |mode| {
            (-5..9)
                .map(|i| extend_index(i, n, mode).map_or(-1, |v| v as i64))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            idx(BorderMode::Reflect),
            vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]
        );
        assert_eq!(
            idx(BorderMode::Mirror),
            vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]
        );
        assert_eq!(
            idx(BorderMode::Nearest),
            vec![0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 3]
        );
        assert_eq!(
            idx(BorderMode::Wrap),
            vec![3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0]
        );
    }

    #[test]
    fn integer_passes_truncate() {
        let a = array![[0u16, 0, 0], [0, 1000, 0], [0, 0, 0]];
        assert_eq!(gaussian_filter(&a, 1.0)[(1, 1)], 165);
        let f = gaussian_filter(&a.mapv(f64::from), 1.0);
        // scipy: gaussian_filter(float64 impulse of 1000, 1)[1, 1] == 166.30670633316177
        assert!((f[(1, 1)] - 166.306_706_333_161_77).abs() < 1e-9);
    }

    #[test]
    fn zero_sigma_is_identity_and_bad_sigma_is_an_error() {
        let a = Array2::from_shape_fn((5, 6), |(y, x)| (y * 7 + x) as u8);
        assert_eq!(gaussian_filter(&a, 0.0), a);
        assert!(gaussian_filter_with(&a, &GaussianOptions::per_axis(&[1.0, 1.0, 1.0])).is_err());
        assert!(gaussian_filter_with(&a, &GaussianOptions::new(-1.0)).is_err());
    }
}
