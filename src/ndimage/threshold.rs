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
pub fn max<T: Element, S: Data<Elem = T>, D: Dimension>(a: &ArrayBase<S, D>) -> Option<f64> {
    a.iter()
        .map(|v| v.to_f64())
        .filter(|v| !v.is_nan())
        .reduce(f64::max)
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
    a.map(|v| v.to_f64() > value)
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
