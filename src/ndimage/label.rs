//! Connected-component labelling like `scipy.ndimage.label`: background 0, labels 1..n
//! numbered in raster order of each object's first pixel, int32 output.

use ndarray::{Array, ArrayBase, Data, Dimension};

use crate::{Error, Result};

/// Which neighbours touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connectivity {
    /// Neighbours that share a face: 4 in 2-D, 6 in 3-D (scipy's default structure).
    Face,
    /// Neighbours that share a face, an edge or a corner: 8 in 2-D, 26 in 3-D.
    Full,
}

impl Connectivity {
    /// From a neighbour count: 4 or 6 is [`Connectivity::Face`], 8 or 26 [`Connectivity::Full`].
    pub fn from_count(n: usize) -> Result<Self> {
        match n {
            4 | 6 => Ok(Connectivity::Face),
            8 | 26 => Ok(Connectivity::Full),
            other => Err(Error::InvalidArgument(format!(
                "connectivity {other}: use 4 or 8 in 2-D, 6 or 26 in 3-D"
            ))),
        }
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) -> u32 {
    let (ra, rb) = (find(parent, a), find(parent, b));
    let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
    parent[hi as usize] = lo;
    lo
}

/// Label the `true` regions of `mask`; returns the labels and the number of objects.
///
/// ```
/// use ndarray::array;
/// use omeflow::ndimage::{label, Connectivity};
/// let mask = array![[true, false, true], [false, true, false]];
/// let (labels, n) = label(&mask, Connectivity::Face);
/// assert_eq!(n, 3);
/// let (_, n8) = label(&mask, Connectivity::Full);
/// assert_eq!(n8, 1);
/// ```
pub fn label<S, D>(mask: &ArrayBase<S, D>, connectivity: Connectivity) -> (Array<i32, D>, usize)
where
    S: Data<Elem = bool>,
    D: Dimension,
{
    let shape = mask.raw_dim();
    let dims: Vec<usize> = mask.shape().to_vec();
    let mask = mask.as_standard_layout();
    let flat = match mask.as_slice() {
        Some(s) => s,
        None => unreachable!("standard layout is contiguous"),
    };
    // The work is in a plain function of omeflow, so a caller compiled without optimisation (a
    // notebook cell) runs omeflow's optimised loop (see `kernels`).
    let (out, count) = label_flat(flat, &dims, connectivity);
    let labels = match Array::from_shape_vec(shape, out) {
        Ok(a) => a,
        Err(_) => unreachable!("label buffer has the mask's size"),
    };
    (labels, count)
}

/// [`label`] of a C-order mask of shape `dims`: the labels in the same order, and their count.
fn label_flat(flat: &[bool], dims: &[usize], connectivity: Connectivity) -> (Vec<i32>, usize) {
    let nd = dims.len();
    let len = flat.len();
    // Raster strides.
    let mut strides = vec![1usize; nd];
    for d in (0..nd.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * dims[d + 1];
    }
    // Neighbours that come before a pixel in raster order.
    let mut offsets: Vec<Vec<isize>> = Vec::new();
    let total = 3usize.pow(nd as u32);
    for code in 0..total {
        let mut c = code;
        let off: Vec<isize> = (0..nd)
            .map(|_| {
                let v = (c % 3) as isize - 1;
                c /= 3;
                v
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let nonzero = off.iter().filter(|&&v| v != 0).count();
        let first = off.iter().find(|&&v| v != 0).copied();
        let ok = match connectivity {
            Connectivity::Face => nonzero == 1,
            Connectivity::Full => nonzero >= 1,
        };
        if ok && first == Some(-1) {
            offsets.push(off);
        }
    }
    let deltas: Vec<isize> = offsets
        .iter()
        .map(|o| o.iter().zip(&strides).map(|(v, s)| v * *s as isize).sum())
        .collect();

    let mut prov = vec![0u32; len];
    let mut parent: Vec<u32> = vec![0];
    if nd == 2 {
        label_pass_2d(
            len,
            dims[1],
            |i| flat[i],
            |r| flat[r].iter().any(|&b| b),
            connectivity,
            &mut prov,
            &mut parent,
        );
    } else {
        label_pass_nd(flat, dims, &offsets, &deltas, &mut prov, &mut parent);
    }
    // Final numbers in raster order of each object's first pixel, as scipy numbers them.
    let mut final_of = vec![0i32; parent.len()];
    let mut count = 0i32;
    let out: Vec<i32> = prov
        .into_iter()
        .map(|p| {
            if p == 0 {
                return 0;
            }
            let root = find(&mut parent, p) as usize;
            if final_of[root] == 0 {
                count += 1;
                final_of[root] = count;
            }
            final_of[root]
        })
        .collect();
    (out, count as usize)
}

/// Attach `l` (a neighbour's provisional label, 0 for none) to the pixel's current label.
#[inline]
fn merge(parent: &mut [u32], current: u32, l: u32) -> u32 {
    if l == 0 {
        current
    } else if current == 0 {
        find(parent, l)
    } else {
        union(parent, current, l)
    }
}

/// Buffers for labelling one 2-D plane after another without allocating (and faulting in)
/// plane-sized memory each time: keep one per worker thread.
#[derive(Debug, Default)]
pub struct LabelScratch {
    /// Provisional label of every pixel of the last plane.
    prov: Vec<u32>,
    /// Union-find forest over the provisional labels (0 is the background).
    parent: Vec<u32>,
}

/// Label the pixels of a 2-D `plane` (row-major, `width` columns) that are strictly above
/// `threshold` (compared in f64, as numpy compares an integer array with a float), without
/// building the boolean mask. Returns the number of objects, the same as
/// `label(&above(plane, threshold), connectivity).1`; the labels themselves can then be
/// written with [`LabelScratch::write_labels`].
pub fn label_above_2d<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    threshold: f64,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
) -> usize {
    let len = plane.len();
    // Every pixel of `prov` is written by the pass (0 for the background), so stale values
    // from the previous plane never leak and the buffer needs no clearing.
    scratch.prov.resize(len, 0);
    scratch.parent.clear();
    scratch.parent.push(0);
    run_above_pass(plane, width, threshold, connectivity, scratch, Pass::Label)
}

/// What a pass over the pixels above a threshold keeps: a plane of provisional labels, or
/// only two rows of them when the count is all that is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Label,
    Count,
}

/// Run `pass` with AVX2 when the CPU has it, and return the number of objects.
fn run_above_pass<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    threshold: f64,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
    pass: Pass,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { above_pass_avx2(plane, width, threshold, connectivity, scratch, pass) };
            return count_roots(&scratch.parent);
        }
    }
    above_pass(plane, width, threshold, connectivity, scratch, pass);
    count_roots(&scratch.parent)
}

/// Union always hangs the larger root under the smaller, so the objects are the roots.
fn count_roots(parent: &[u32]) -> usize {
    (1..parent.len())
        .filter(|&p| parent[p] as usize == p)
        .count()
}

/// [`above_pass`] compiled with AVX2 (wider compares for the background blocks; the labels
/// are the same).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn above_pass_avx2<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    threshold: f64,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
    pass: Pass,
) {
    above_pass(plane, width, threshold, connectivity, scratch, pass);
}

#[inline(always)]
fn above_pass<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    threshold: f64,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
    pass: Pass,
) {
    match above_rule::<T>(threshold) {
        Ok(t) => pass_by(plane, width, move |v: T| v > t, connectivity, scratch, pass),
        Err(thr) => pass_by(
            plane,
            width,
            move |v: T| v.to_f64() > thr,
            connectivity,
            scratch,
            pass,
        ),
    }
}

#[inline(always)]
fn pass_by<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    above: impl Fn(T) -> bool + Copy,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
    pass: Pass,
) {
    match pass {
        Pass::Label => label_pass_by(plane, width, above, connectivity, scratch),
        Pass::Count => count_pass_by(plane, width, above, connectivity, scratch),
    }
}

#[inline(always)]
fn label_pass_by<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    above: impl Fn(T) -> bool + Copy,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
) {
    let len = plane.len();
    label_pass_2d(
        len,
        width,
        |i| above(plane[i]),
        // `|` rather than `any`, so the block is compared without early exits (vectorised).
        |r| plane[r].iter().fold(false, |acc, &v| acc | above(v)),
        connectivity,
        &mut scratch.prov[..len],
        &mut scratch.parent,
    );
}

/// `v.to_f64() > threshold` as a compare in `T` when that is exact: for integer types it is
/// `v > floor(threshold)` (`Ok`), which compares 16 u16 per AVX2 instruction instead of 4
/// f64. Otherwise the f64 compare (`Err`), with a threshold below or above every value of `T`
/// replaced by -inf or +inf (same outcome for every pixel).
fn above_rule<T: crate::ngff::Element>(threshold: f64) -> Result<T, f64> {
    use crate::ngff::DType;
    if matches!(T::DTYPE, DType::F32 | DType::F64) || threshold.is_nan() {
        return Err(threshold);
    }
    let f = threshold.floor();
    let t = T::from_f64_cast(f);
    let back = t.to_f64();
    if back == f {
        Ok(t)
    } else if f < back {
        // Below the type's minimum (the cast saturated up): every pixel is above.
        Err(f64::NEG_INFINITY)
    } else {
        Err(f64::INFINITY)
    }
}

/// [`label_above_2d`] when only the number of objects is wanted: the same count, with two
/// rows of provisional labels instead of a plane of them (nothing plane-sized is written).
/// [`LabelScratch::write_labels`] is not meaningful after it.
pub fn count_above_2d<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    threshold: f64,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
) -> usize {
    scratch.parent.clear();
    scratch.parent.push(0);
    if width == 0 {
        return 0;
    }
    scratch.prov.resize(2 * width, 0);
    run_above_pass(plane, width, threshold, connectivity, scratch, Pass::Count)
}

#[inline(always)]
fn count_pass_by<T: crate::ngff::Element>(
    plane: &[T],
    width: usize,
    above: impl Fn(T) -> bool + Copy,
    connectivity: Connectivity,
    scratch: &mut LabelScratch,
) {
    let full = connectivity == Connectivity::Full;
    let (a, b) = scratch.prov.split_at_mut(width);
    for (y, row) in plane.chunks_exact(width).enumerate() {
        // The two halves take turns as this row and the row above.
        let (prev, cur) = if y % 2 == 0 {
            (&*b, &mut *a)
        } else {
            (&*a, &mut *b)
        };
        label_row(
            |x| above(row[x]),
            |r| row[r].iter().fold(false, |acc, &v| acc | above(v)),
            (y > 0).then_some(prev),
            cur,
            full,
            &mut scratch.parent,
        );
    }
}

impl LabelScratch {
    /// The final labels of the last [`label_above_2d`] call, numbered like scipy (raster order
    /// of each object's first pixel), into `out` (one entry per pixel of that plane).
    pub fn write_labels(&mut self, out: &mut [i32]) {
        let mut final_of = renumbering(&mut self.parent);
        for (o, &p) in out.iter_mut().zip(self.prov.iter()) {
            *o = final_of(p);
        }
    }

    /// [`LabelScratch::write_labels`] into a new vector, one entry per pixel: written once,
    /// never zero-filled first (for a small plane the fill cost a quarter of labelling).
    pub fn labels(&mut self) -> Vec<i32> {
        let mut final_of = renumbering(&mut self.parent);
        self.prov.iter().map(|&p| final_of(p)).collect()
    }
}

/// Provisional label -> final label (0 stays 0), numbering objects in the order they are met.
fn renumbering(parent: &mut [u32]) -> impl FnMut(u32) -> i32 + '_ {
    let mut final_of = vec![0i32; parent.len()];
    let mut count = 0i32;
    move |p| {
        if p == 0 {
            0
        } else {
            let root = find(parent, p) as usize;
            if final_of[root] == 0 {
                count += 1;
                final_of[root] = count;
            }
            final_of[root]
        }
    }
}

/// First pass for 2-D: neighbours above and to the left. `on(i)` says whether flat pixel `i`
/// is foreground and `any_on(a..b)` whether any of `a..b` is; every `prov[i]` is written (0 for
/// the background).
#[inline(always)]
fn label_pass_2d(
    len: usize,
    w: usize,
    on: impl Fn(usize) -> bool,
    any_on: impl Fn(std::ops::Range<usize>) -> bool,
    connectivity: Connectivity,
    prov: &mut [u32],
    parent: &mut Vec<u32>,
) {
    if w == 0 {
        return;
    }
    let full = connectivity == Connectivity::Full;
    for y in 0..len / w {
        let (before, rest) = prov.split_at_mut(y * w);
        let prev = y.checked_sub(1).map(|p| &before[p * w..]);
        let base = y * w;
        label_row(
            |x| on(base + x),
            |r| any_on(base + r.start..base + r.end),
            prev,
            &mut rest[..w],
            full,
            parent,
        );
    }
}

/// The first pass over one row, in raster order: `prev` holds the provisional labels of the
/// row above (none for the first row), `cur` receives this row's (0 for the background).
/// Runs of background (most of a plane) are recognised a block at a time with `any_on`, which
/// vectorises; the per-pixel work is left to blocks that hold foreground.
#[inline(always)]
fn label_row(
    on: impl Fn(usize) -> bool,
    any_on: impl Fn(std::ops::Range<usize>) -> bool,
    prev: Option<&[u32]>,
    cur: &mut [u32],
    full: bool,
    parent: &mut Vec<u32>,
) {
    const BLOCK: usize = 32;
    let w = cur.len();
    let mut block_start = 0;
    while block_start < w {
        let block_end = (block_start + BLOCK).min(w);
        if !any_on(block_start..block_end) {
            cur[block_start..block_end].fill(0);
            block_start = block_end;
            continue;
        }
        for x in block_start..block_end {
            if !on(x) {
                cur[x] = 0;
                continue;
            }
            let mut current = 0u32;
            if let Some(up) = prev {
                if full && x > 0 {
                    current = merge(parent, current, up[x - 1]);
                }
                current = merge(parent, current, up[x]);
                if full && x + 1 < w {
                    current = merge(parent, current, up[x + 1]);
                }
            }
            if x > 0 {
                current = merge(parent, current, cur[x - 1]);
            }
            if current == 0 {
                current = parent.len() as u32;
                parent.push(current);
            }
            cur[x] = current;
        }
        block_start = block_end;
    }
}

/// First pass for any dimension: neighbours before the pixel in raster order.
fn label_pass_nd(
    flat: &[bool],
    dims: &[usize],
    offsets: &[Vec<isize>],
    deltas: &[isize],
    prov: &mut [u32],
    parent: &mut Vec<u32>,
) {
    let nd = dims.len();
    let mut coord = vec![0usize; nd];
    for (i, &on) in flat.iter().enumerate() {
        if on {
            let mut current = 0u32;
            for (off, &delta) in offsets.iter().zip(deltas) {
                let inside = off.iter().zip(&coord).zip(dims).all(|((&o, &c), &n)| {
                    let p = c as isize + o;
                    p >= 0 && (p as usize) < n
                });
                if !inside {
                    continue;
                }
                current = merge(parent, current, prov[(i as isize + delta) as usize]);
            }
            if current == 0 {
                current = parent.len() as u32;
                parent.push(current);
            }
            prov[i] = current;
        }
        // Advance the raster coordinate.
        for d in (0..nd).rev() {
            coord[d] += 1;
            if coord[d] < dims[d] {
                break;
            }
            coord[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn numbering_follows_first_pixel_in_raster_order() {
        // A U shape whose arms meet at the bottom: one object first seen at (0, 0).
        let m = array![
            [true, false, true, false, false],
            [true, false, true, false, true],
            [true, true, true, false, false]
        ];
        let (l, n) = label(&m, Connectivity::Face);
        assert_eq!(n, 2);
        assert_eq!(l, array![[1, 0, 1, 0, 0], [1, 0, 1, 0, 2], [1, 1, 1, 0, 0]]);
    }

    #[test]
    fn diagonal_touch_depends_on_connectivity() {
        let m = array![[true, false], [false, true]];
        assert_eq!(label(&m, Connectivity::Face).1, 2);
        assert_eq!(label(&m, Connectivity::Full).1, 1);
    }

    #[test]
    fn three_d_face_and_full() {
        let mut m = Array3::from_elem((2, 2, 2), false);
        m[(0, 0, 0)] = true;
        m[(1, 1, 1)] = true;
        m[(1, 0, 0)] = true;
        assert_eq!(label(&m, Connectivity::Face).1, 2);
        assert_eq!(label(&m, Connectivity::Full).1, 1);
    }

    #[test]
    fn labelling_above_a_threshold_equals_label_of_the_mask() {
        // A pseudo-random plane with objects of every shape, wider than a block.
        let mut seed = 12345u32;
        let plane = ndarray::Array2::from_shape_fn((37, 71), |_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((seed >> 16) % 1000) as u16
        });
        let flat = plane.as_slice().unwrap();
        let mut scratch = LabelScratch::default();
        for thr in [-1e9, -0.5, 0.0, 499.5, 700.0, 900.0, 2000.0, 1e12, f64::NAN] {
            for conn in [Connectivity::Face, Connectivity::Full] {
                let (want, n) = label(&plane.mapv(|v| f64::from(v) > thr), conn);
                assert_eq!(label_above_2d(flat, 71, thr, conn, &mut scratch), n);
                let mut got = vec![0i32; flat.len()];
                scratch.write_labels(&mut got);
                assert_eq!(got, want.into_raw_vec_and_offset().0);
                assert_eq!(count_above_2d(flat, 71, thr, conn, &mut scratch), n);
            }
        }
    }

    #[test]
    fn connectivity_counts() {
        assert_eq!(Connectivity::from_count(8).unwrap(), Connectivity::Full);
        assert!(Connectivity::from_count(5).is_err());
    }
}
