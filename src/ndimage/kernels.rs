//! Where `ndimage`'s loops are compiled: once per element type, inside omeflow.
//!
//! The public filters are generic (`gaussian_filter<T, S, D>`), so a caller compiles its own
//! copy of whatever generic code they run. A notebook cell is such a caller, and its crate is
//! built without optimisation (fast to compile): the tutorial's compute ran 15 times slower
//! there than in omeflow. So the generic entry points only make views and allocate results,
//! and hand the loops to [`Kernels`], whose methods are ordinary functions of omeflow for each
//! element type, optimised with it and shared by every cell through the kernel's one library.

use ndarray::{ArrayViewD, ArrayViewMutD};

use super::gaussian::{filter_all_axes, GaussianOptions};
use super::threshold::max_view;

/// The loops of `ndimage` for one element type (implemented for every [`crate::ngff::Element`]).
#[doc(hidden)]
pub trait Kernels: Sized {
    /// The separable Gaussian passes, in place (any layout).
    fn gaussian_in_place(a: ArrayViewMutD<'_, Self>, sigmas: &[f64], opts: &GaussianOptions);
    /// `out = a > value`, compared in f64; `out` has `a`'s shape.
    fn above_into(a: ArrayViewD<'_, Self>, value: f64, out: ArrayViewMutD<'_, bool>);
    /// The largest value as f64 (NaNs ignored); `None` when empty.
    fn max_of(a: ArrayViewD<'_, Self>) -> Option<f64>;
}

macro_rules! impl_kernels {
    ($($t:ty),*) => {$(
        impl Kernels for $t {
            fn gaussian_in_place(a: ArrayViewMutD<'_, Self>, sigmas: &[f64], opts: &GaussianOptions) {
                filter_all_axes(a, sigmas, opts);
            }

            fn above_into(a: ArrayViewD<'_, Self>, value: f64, mut out: ArrayViewMutD<'_, bool>) {
                use crate::ngff::Element;
                ndarray::Zip::from(&mut out).and(&a).for_each(|o, v| *o = v.to_f64() > value);
            }

            fn max_of(a: ArrayViewD<'_, Self>) -> Option<f64> {
                max_view(a)
            }
        }
    )*};
}

impl_kernels!(u8, u16, u32, i8, i16, i32, f32, f64);

#[cfg(test)]
mod tests {
    use ndarray::{s, Array2, ShapeBuilder};

    use crate::ndimage::{above, gaussian_filter, max};

    fn plane() -> Array2<u16> {
        Array2::from_shape_fn((9, 12), |(y, x)| ((y * 31 + x * 17) % 97) as u16 * 40)
    }

    #[test]
    fn an_f_order_array_smooths_as_its_c_order_copy() {
        let c = plane();
        let mut f = Array2::<u16>::zeros(c.raw_dim().f());
        f.assign(&c);
        assert!(!f.is_standard_layout());
        assert_eq!(gaussian_filter(&f, 1.0), gaussian_filter(&c, 1.0));
    }

    #[test]
    fn strided_views_threshold_and_max_as_their_copies() {
        let a = plane();
        let view = a.slice(s![1..;2, ..;3]);
        let copy = view.to_owned();
        assert_eq!(above(&view, 1000.0), above(&copy, 1000.0));
        assert_eq!(max(&view), max(&copy));
        assert_eq!(
            max(&copy),
            copy.iter().map(|&v| f64::from(v)).reduce(f64::max)
        );
    }
}
