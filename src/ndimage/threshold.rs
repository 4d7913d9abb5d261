//! Thresholds: a fraction of the maximum (the tutorial's), an absolute value, or Otsu's.

use ndarray::{Array, ArrayBase, Data, Dimension};

use crate::ngff::Element;

/// How to choose the threshold; pixels strictly above it are foreground.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum Threshold {
    /// `fraction * max`, computed in f64 (the tutorial uses 0.75).
    Fraction(f64),
    /// A fixed value.
    Absolute(f64),
    /// Otsu's method on the image histogram (one bin per integer value, 256 bins for floats).
    Otsu,
}

/// Largest value as f64 (NaNs ignored); `None` when empty.
///
/// numpy's `a.max()`, for the tutorial's threshold at a fraction of the plane's maximum.
pub fn max<T: Element, S: Data<Elem = T>, D: Dimension>(a: &ArrayBase<S, D>) -> Option<f64> {
    T::max_of(a.view().into_dyn())
}

/// [`max`] of any view, compiled in omeflow for each element type (`super::kernels`).
pub(super) fn max_view<T: Element>(a: ndarray::ArrayViewD<'_, T>) -> Option<f64> {
    if let Some(s) = a.as_slice_memory_order() {
        return max_slice(s);
    }
    a.iter()
        .map(|v| v.to_f64())
        .filter(|v| !v.is_nan())
        .reduce(f64::max)
}

/// [`max`] of contiguous data: compared in the native type (which vectorises for integers)
/// and converted once; exact, as `to_f64` is exact and keeps the order.
fn max_slice<T: Element>(s: &[T]) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { max_slice_avx2(s) };
        }
    }
    max_slice_impl(s)
}

/// [`max_slice_impl`] with AVX2, which has the unsigned 16-bit max that SSE2 lacks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_slice_avx2<T: Element>(s: &[T]) -> Option<f64> {
    max_slice_impl(s)
}

#[inline(always)]
fn max_slice_impl<T: Element>(s: &[T]) -> Option<f64> {
    // Start from the first value that is not NaN (`v == v`), so NaNs never win a compare.
    #[allow(clippy::eq_op)]
    let first = s.iter().position(|v| v == v)?;
    // Sixteen independent maxima: the compiler turns the inner loop into vector max
    // instructions, which a single running maximum (a serial dependency) does not get.
    const LANES: usize = 16;
    let rest = &s[first..];
    let mut lanes = [rest[0]; LANES];
    let blocks = rest.chunks_exact(LANES);
    let tail = blocks.remainder();
    for block in blocks {
        for (m, &v) in lanes.iter_mut().zip(block) {
            if v > *m {
                *m = v;
            }
        }
    }
    let mut best = rest[0];
    for &v in lanes.iter().chain(tail) {
        if v > best {
            best = v;
        }
    }
    Some(best.to_f64())
}

impl Threshold {
    /// The threshold value for `a`.
    pub fn value<T: Element, S: Data<Elem = T>, D: Dimension>(&self, a: &ArrayBase<S, D>) -> f64 {
        match *self {
            Threshold::Fraction(f) => f * max(a).unwrap_or(0.0),
            Threshold::Absolute(v) => v,
            Threshold::Otsu => otsu(a),
        }
    }
}

/// `a > value`, compared in f64 as numpy compares an integer array with a float.
pub fn above<T: Element, S: Data<Elem = T>, D: Dimension>(
    a: &ArrayBase<S, D>,
    value: f64,
) -> Array<bool, D> {
    let mut out = Array::from_elem(a.raw_dim(), false);
    T::above_into(a.view().into_dyn(), value, out.view_mut().into_dyn());
    out
}

/// Otsu's threshold (maximum between-class variance).
pub fn otsu<T: Element, S: Data<Elem = T>, D: Dimension>(a: &ArrayBase<S, D>) -> f64 {
    let vals: Vec<f64> = a
        .iter()
        .map(|v| v.to_f64())
        .filter(|v| v.is_finite())
        .collect();
    let (Some(lo), Some(hi)) = (
        vals.iter().copied().reduce(f64::min),
        vals.iter().copied().reduce(f64::max),
    ) else {
        return 0.0;
    };
    if lo == hi {
        return lo;
    }
    let integer = !matches!(T::DTYPE, crate::ngff::DType::F32 | crate::ngff::DType::F64);
    let nbins = if integer { (hi - lo) as usize + 1 } else { 256 };
    let width = if integer {
        1.0
    } else {
        (hi - lo) / nbins as f64
    };
    let mut hist = vec![0f64; nbins];
    for v in &vals {
        let b = (((v - lo) / width) as usize).min(nbins - 1);
        hist[b] += 1.0;
    }
    let centers: Vec<f64> = (0..nbins)
        .map(|i| {
            if integer {
                lo + i as f64
            } else {
                lo + (i as f64 + 0.5) * width
            }
        })
        .collect();
    let total: f64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().zip(&centers).map(|(h, c)| h * c).sum();
    let (mut w0, mut sum0) = (0.0, 0.0);
    let (mut best, mut best_var) = (centers[0], -1.0);
    for i in 0..nbins - 1 {
        w0 += hist[i];
        sum0 += hist[i] * centers[i];
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let var = w0 * w1 * (m0 - m1) * (m0 - m1);
        if var > best_var {
            best_var = var;
            best = centers[i];
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn fraction_of_max_is_strict() {
        let a = array![[0u16, 75, 76, 100]];
        let t = Threshold::Fraction(0.75).value(&a);
        assert_eq!(t, 75.0);
        assert_eq!(above(&a, t), array![[false, false, true, true]]);
    }

    #[test]
    fn otsu_splits_two_populations() {
        let a = array![[10u8, 11, 12, 10, 200, 201, 199, 200]];
        let t = otsu(&a);
        assert!((12.0..199.0).contains(&t), "{t}");
    }
}
