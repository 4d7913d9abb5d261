//! Pixel data types and arrays whose element type is known only at run time.

use std::fmt;

use ndarray::{Array, Dimension};
use zarrs::array::data_type as zdt;
use zarrs::array::{DataType, ElementOwned};

/// The pixel types omeflow reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    U8,
    U16,
    U32,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl DType {
    /// All supported types.
    pub const ALL: [DType; 8] = [
        DType::U8,
        DType::U16,
        DType::U32,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The numpy-style name (`uint16`, `float32`, ...), as OMERO and zarr v3 spell it.
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parse a name as [`DType::name`] gives it, or the short forms `u16`, `f32`, ...
    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == s || d.short() == s)
    }

    fn short(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// The zarrs data type.
    pub fn to_zarrs(self) -> DataType {
        match self {
            DType::U8 => zdt::uint8(),
            DType::U16 => zdt::uint16(),
            DType::U32 => zdt::uint32(),
            DType::I8 => zdt::int8(),
            DType::I16 => zdt::int16(),
            DType::I32 => zdt::int32(),
            DType::F32 => zdt::float32(),
            DType::F64 => zdt::float64(),
        }
    }

    /// The matching omeflow type of a zarrs data type, if supported.
    pub fn from_zarrs(dt: &DataType) -> Option<DType> {
        DType::ALL.into_iter().find(|d| &d.to_zarrs() == dt)
    }

    /// The numpy little-endian typestr used in Zarr v2 metadata (`<u2`, `|u1`, `<f4`).
    pub fn v2_typestr(self) -> &'static str {
        match self {
            DType::U8 => "|u1",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::I32 => "<i4",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A pixel element type: one of [`DType`]'s Rust types.
pub trait Element:
    ElementOwned
    + Copy
    + Default
    + PartialOrd
    + Send
    + Sync
    + fmt::Debug
    + crate::ndimage::Kernels
    + 'static
{
    /// The run-time tag of this type.
    const DTYPE: DType;
    /// Convert to f64 (exact for every supported type).
    fn to_f64(self) -> f64;
    /// Convert to f32 (as numpy's `astype(float32)`).
    fn to_f32(self) -> f32;
    /// Convert from f64: rounded to nearest and saturated for integer types.
    fn from_f64_rounded(v: f64) -> Self;
    /// Convert from f64 as a C cast does (and so numpy and scipy): integers truncate toward zero.
    fn from_f64_cast(v: f64) -> Self;
    /// [`Element::from_f64_cast`] over a slice: the filters' store loop, written so that it
    /// vectorises for the narrow integer types (same values as the per-element cast).
    fn cast_from_f64_slice(src: &[f64], dst: &mut [Self]);
    /// Wrap an array of this type.
    fn wrap<D: Dimension>(a: Array<Self, D>) -> AnyArray<D>;
    /// Unwrap an array of this type.
    fn unwrap<D: Dimension>(a: AnyArray<D>) -> Result<Array<Self, D>, AnyArray<D>>;
}

macro_rules! impl_element {
    ($($t:ty => $v:ident, $round:expr, $narrow:expr);* $(;)?) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$v;
            #[inline(always)]
            #[allow(clippy::unnecessary_cast)]
            fn cast_from_f64_slice(src: &[f64], dst: &mut [Self]) {
                if $narrow {
                    // `v as $t` saturates with a compare per element that keeps the loop
                    // scalar; clamping first (NaN to 0, as the cast does) and truncating
                    // through i32 gives the same value and vectorises.
                    const LO: f64 = <$t>::MIN as f64;
                    const HI: f64 = <$t>::MAX as f64;
                    for (d, &v) in dst.iter_mut().zip(src) {
                        let c = if v.is_nan() { 0.0 } else { v.max(LO).min(HI) };
                        // SAFETY: `c` is finite and within $t's range, which i32 holds
                        // (`$narrow` is only set for 8- and 16-bit integers).
                        *d = unsafe { c.to_int_unchecked::<i32>() } as $t;
                    }
                } else {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = v as $t;
                    }
                }
            }
            #[inline]
            fn from_f64_rounded(v: f64) -> Self { let f: fn(f64) -> f64 = $round; f(v) as $t }
            #[inline]
            fn from_f64_cast(v: f64) -> Self { v as $t }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
            fn wrap<D: Dimension>(a: Array<Self, D>) -> AnyArray<D> { AnyArray::$v(a) }
            fn unwrap<D: Dimension>(a: AnyArray<D>) -> Result<Array<Self, D>, AnyArray<D>> {
                match a { AnyArray::$v(x) => Ok(x), other => Err(other) }
            }
        }
    )*};
}
impl_element!(
    u8 => U8, f64::round, true; u16 => U16, f64::round, true; u32 => U32, f64::round, false;
    i8 => I8, f64::round, true; i16 => I16, f64::round, true; i32 => I32, f64::round, false;
    f32 => F32, |v| v, false; f64 => F64, |v| v, false;
);

/// Run `$body` with `$T` bound to the Rust type of the run-time `DType` `$dt`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::ngff::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::ngff::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::ngff::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::ngff::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::ngff::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::ngff::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::ngff::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::ngff::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// An ndarray in the image's native pixel type.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyArray<D: Dimension> {
    U8(Array<u8, D>),
    U16(Array<u16, D>),
    U32(Array<u32, D>),
    I8(Array<i8, D>),
    I16(Array<i16, D>),
    I32(Array<i32, D>),
    F32(Array<f32, D>),
    F64(Array<f64, D>),
}

macro_rules! each {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            AnyArray::U8($a) => $body,
            AnyArray::U16($a) => $body,
            AnyArray::U32($a) => $body,
            AnyArray::I8($a) => $body,
            AnyArray::I16($a) => $body,
            AnyArray::I32($a) => $body,
            AnyArray::F32($a) => $body,
            AnyArray::F64($a) => $body,
        }
    };
}

impl<D: Dimension> AnyArray<D> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            AnyArray::U8(_) => DType::U8,
            AnyArray::U16(_) => DType::U16,
            AnyArray::U32(_) => DType::U32,
            AnyArray::I8(_) => DType::I8,
            AnyArray::I16(_) => DType::I16,
            AnyArray::I32(_) => DType::I32,
            AnyArray::F32(_) => DType::F32,
            AnyArray::F64(_) => DType::F64,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        each!(self, a => a.shape())
    }

    /// Convert every element to f64.
    pub fn to_f64(&self) -> Array<f64, D> {
        each!(self, a => a.mapv(|v| v.to_f64()))
    }

    /// Convert every element to f32.
    pub fn to_f32(&self) -> Array<f32, D> {
        each!(self, a => a.mapv(|v| v.to_f32()))
    }

    /// The typed array, or a type-mismatch error.
    pub fn into_typed<T: Element>(self) -> crate::Result<Array<T, D>> {
        let actual = self.dtype();
        T::unwrap(self).map_err(|_| crate::Error::TypeMismatch {
            actual,
            requested: T::DTYPE,
        })
    }

    /// The data as little-endian bytes in C order (what numpy's `tobytes()` gives on x86).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        each!(self, a => {
            let mut out = Vec::with_capacity(a.len() * self.dtype().size());
            for v in a.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        })
    }

    /// Largest value, as f64 (NaN-ignoring for floats); `None` for an empty array.
    pub fn max_f64(&self) -> Option<f64> {
        each!(self, a => a.iter().map(|v| v.to_f64()).filter(|v| !v.is_nan()).reduce(f64::max))
    }
}

impl<T: Element, D: Dimension> From<Array<T, D>> for AnyArray<D> {
    fn from(a: Array<T, D>) -> Self {
        T::wrap(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_cast_equals_the_per_element_cast() {
        let src = [
            f64::NAN,
            -1e9,
            -40000.0,
            -129.5,
            -1.0,
            -0.7,
            -0.0,
            0.0,
            0.4,
            1.9,
            127.9,
            128.0,
            255.5,
            256.0,
            32767.9,
            40000.0,
            65535.9,
            65536.0,
            1e9,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        fn check<T: Element + PartialEq>(src: &[f64]) {
            let mut got = vec![T::default(); src.len()];
            T::cast_from_f64_slice(src, &mut got);
            let want: Vec<T> = src.iter().map(|&v| T::from_f64_cast(v)).collect();
            assert_eq!(got, want, "{:?}", T::DTYPE);
        }
        check::<u8>(&src);
        check::<u16>(&src);
        check::<i8>(&src);
        check::<i16>(&src);
        check::<u32>(&src);
        check::<i32>(&src);
        check::<f32>(&src[1..]);
    }
}
