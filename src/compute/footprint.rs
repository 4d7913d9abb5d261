//! How much memory a task's result keeps alive, so `compute` can say before the work that
//! keeping every result would not fit, rather than fill the machine a million planes later.
//!
//! Results are type-erased inside the scheduler (`delayed.rs`), and stable Rust cannot ask an
//! arbitrary `T` for its size, so the types worth measuring are listed here: omeflow's own
//! results and the arrays a notebook task returns. Any other type counts as its inline size,
//! which is right for numbers and small structs, the usual results of a user's own tasks.

use std::any::Any;

use ndarray::{ArrayBase, Data, Dimension};

use crate::classify::Probabilities;
use crate::ngff::AnyArray;
use crate::segment::Segmentation;

/// The bytes a value keeps alive in memory, its heap included.
///
/// ```
/// use omeflow::compute::Footprint;
/// let plane = ndarray::Array2::<u16>::zeros((100, 100));
/// assert!(plane.footprint() >= 20_000);
/// ```
pub trait Footprint {
    /// Bytes held, inline and on the heap.
    fn footprint(&self) -> usize;
}

impl<S: Data, D: Dimension> Footprint for ArrayBase<S, D> {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.len() * std::mem::size_of::<S::Elem>()
    }
}

impl<D: Dimension> Footprint for AnyArray<D> {
    fn footprint(&self) -> usize {
        use AnyArray::*;
        match self {
            U8(a) => a.footprint(),
            U16(a) => a.footprint(),
            U32(a) => a.footprint(),
            I8(a) => a.footprint(),
            I16(a) => a.footprint(),
            I32(a) => a.footprint(),
            F32(a) => a.footprint(),
            F64(a) => a.footprint(),
        }
    }
}

impl Footprint for Segmentation {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.labels.len() * 4
            + self.image.as_ref().map_or(0, Footprint::footprint)
            + self.name.len()
            + self.props.len() * std::mem::size_of::<crate::ndimage::RegionProps>()
    }
}

impl Footprint for Probabilities {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.data.len() * 4
    }
}

impl<T: Footprint> Footprint for Vec<T> {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.iter().map(Footprint::footprint).sum::<usize>()
            + (self.capacity() - self.len()) * std::mem::size_of::<T>()
    }
}

macro_rules! inline {
    ($($t:ty),*) => {
        $(impl Footprint for $t {
            fn footprint(&self) -> usize {
                std::mem::size_of::<$t>()
            }
        })*
    };
}
inline!(u8, u16, u32, u64, usize, i8, i16, i32, i64, f32, f64, bool);

impl Footprint for String {
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.capacity()
    }
}

/// The footprint of a result of one of the types this module knows; `None` for any other.
pub(crate) fn of(value: &dyn Any) -> Option<usize> {
    macro_rules! known {
        ($($t:ty),* $(,)?) => {
            $(if let Some(v) = value.downcast_ref::<$t>() {
                return Some(v.footprint());
            })*
        };
    }
    known!(
        Segmentation,
        Probabilities,
        Vec<Segmentation>,
        AnyArray<ndarray::Ix2>,
        AnyArray<ndarray::Ix3>,
        AnyArray<ndarray::Ix5>,
        ndarray::Array2<u8>,
        ndarray::Array2<u16>,
        ndarray::Array2<i32>,
        ndarray::Array2<f32>,
        ndarray::Array2<f64>,
        ndarray::Array2<bool>,
        ndarray::Array3<u16>,
        ndarray::Array3<f32>,
        ndarray::Array3<f64>,
        Vec<u8>,
        Vec<f32>,
        Vec<f64>,
        String,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segmentation_counts_its_labels_and_plane() {
        let s = Segmentation::new(ndarray::Array2::zeros((100, 200)), "p")
            .with_image(ndarray::Array2::<u16>::zeros((100, 200)));
        let f = of(&s as &dyn Any).unwrap();
        assert!((120_000..121_000).contains(&f), "{f}");
        assert_eq!(of(&7u32 as &dyn Any), None);
    }
}
