//! The engine behind [`classify`](super::classify): a time point cut into units of work (whole
//! planes or (y, x) tiles, each a run of z-slabs), the units spread over a
//! [`runtime::Pool`](crate::runtime::Pool), each slab's features computed with their halos and
//! handed to the caller's closure (prediction, training samples, a feature export).

use std::ops::Range;

use ndarray::{s, Array4};

use super::{Classifier, FeatureBank};
use crate::ndimage::vigra::Block;
use crate::runtime::{self, Pool};
use crate::{Error, Result};

/// The element count of an array of `shape`, or an error naming `what` when it overflows,
/// so a shape never reaches ndarray's allocation (which panics on overflow).
pub(crate) fn checked_len(shape: &[usize], what: &str) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("{what} of shape {shape:?} would not fit in memory"))
        })
}

/// Split `n` into `parts` nearly equal ranges.
fn split(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|i| (i * n / parts)..((i + 1) * n / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// A unit of work: planes `z` of the (y, x) tile, processed as a stream of slabs of `slab` planes.
#[derive(Clone, Debug)]
struct Unit {
    z: Range<usize>,
    tile: [Range<usize>; 2],
    slab: usize,
}

impl Unit {
    /// The unit as a task name, for a caught panic.
    fn label(&self) -> String {
        format!(
            "planes {:?}, y {:?}, x {:?}",
            self.z, self.tile[0], self.tile[1]
        )
    }
}

/// Units for `threads` workers: whole planes while they are small, (y, x) tiles otherwise, and
/// each tile's z split so every worker has a contiguous run of planes (the pre-smoothed planes
/// of one slab's halo are reused by the next).
fn units(shape: [usize; 3], target: usize, threads: usize) -> Vec<Unit> {
    let [nz, ny, nx] = shape;
    let plane = (ny * nx).max(1);
    let min_slab = nz.clamp(1, 8);
    let tiles = (plane * min_slab).div_ceil(target.max(1)).max(1);
    let ty = (tiles as f64).sqrt().ceil() as usize;
    let tx = tiles.div_ceil(ty);
    let tiles: Vec<[Range<usize>; 2]> = split(ny, ty)
        .into_iter()
        .flat_map(|y| split(nx, tx).into_iter().map(move |x| [y.clone(), x]))
        .collect();
    // Two runs per thread: a worker slowed by other load leaves its second run to the others
    // (each run re-smooths only its halo planes).
    let per_tile = (2 * threads).div_ceil(tiles.len()).max(1);
    let mut v = Vec::new();
    for tile in tiles {
        let area = (tile[0].len() * tile[1].len()).max(1);
        let slab = (target / area).clamp(1, nz.max(1));
        for z in split(nz, per_tile) {
            v.push(Unit {
                z,
                tile: tile.clone(),
                slab,
            });
        }
    }
    v
}

/// Per slab: its box (z, y, x) and what was computed for it.
pub(crate) type SlabResults<T> = Vec<([Range<usize>; 3], T)>;

/// Runs `each` on every slab of every unit, on `pool`, with the slab's features; a panic
/// becomes [`Error::Panicked`] naming the unit (`planes 0..8, y 0..64, x 0..64`).
pub(crate) fn for_each_slab<T: Send>(
    vol: &Array4<f32>,
    bank: &FeatureBank,
    pool: &Pool,
    block_voxels: usize,
    each: impl Fn(&[Range<usize>; 3], Vec<Vec<f32>>) -> Result<T> + Sync,
) -> Result<SlabResults<T>> {
    let (nc, nz, ny, nx) = vol.dim();
    bank.check_fits([nz, ny, nx])?;
    let channels: Vec<Block> = (0..nc)
        .map(|c| Block::whole(vol.slice(s![c, .., .., ..]).to_owned()))
        .collect();
    let units = units([nz, ny, nx], block_voxels.max(1), pool.threads());
    let results = pool.map(&units, |u| {
        runtime::catch(
            || u.label(),
            || {
                let mut stream = bank.stream(&channels, u.tile.clone())?;
                let mut out = Vec::new();
                let n = u.z.len().div_ceil(u.slab);
                for z in split(u.z.len(), n) {
                    let z = u.z.start + z.start..u.z.start + z.end;
                    let b = [z.clone(), u.tile[0].clone(), u.tile[1].clone()];
                    let feats = stream.features(z)?;
                    out.push((b.clone(), each(&b, feats)?));
                }
                Ok(out)
            },
        )
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Features and prediction of one time point (c, z, y, x) -> (z, y, x, class), on `pool`.
pub fn predict_volume(
    vol: &Array4<f32>,
    bank: &FeatureBank,
    classifier: &Classifier,
    pool: &Pool,
    block_voxels: usize,
) -> Result<Array4<f32>> {
    let (_, nz, ny, nx) = vol.dim();
    let ncls = classifier.n_classes();
    checked_len(&[nz, ny, nx, ncls], "the probabilities of a time point")?;
    let done = for_each_slab(vol, bank, pool, block_voxels, |b, feats| {
        let n = checked_len(&[b[0].len(), b[1].len(), b[2].len(), ncls], "a block")?;
        let mut out = vec![0f32; n];
        classifier.predict_columns(&feats, &mut out)?;
        Ok(out)
    })?;
    let mut out = Array4::<f32>::zeros((nz, ny, nx, ncls));
    for (b, v) in done {
        let shape = (b[0].len(), b[1].len(), b[2].len(), ncls);
        let a = Array4::from_shape_vec(shape, v).map_err(|e| {
            Error::Internal(format!(
                "the probabilities of block {b:?} as {shape:?}: {e}"
            ))
        })?;
        out.slice_mut(s![b[0].clone(), b[1].clone(), b[2].clone(), ..])
            .assign(&a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_cover_the_volume_once() {
        for (shape, target, threads) in [
            ([237, 218, 212], 1 << 19, 2),
            ([1, 512, 512], 1 << 14, 4),
            ([5, 7, 9], 10, 3),
        ] {
            let mut seen = vec![0u8; shape.iter().product()];
            for u in units(shape, target, threads) {
                for z in u.z.clone() {
                    for y in u.tile[0].clone() {
                        for x in u.tile[1].clone() {
                            seen[(z * shape[1] + y) * shape[2] + x] += 1;
                        }
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{shape:?}");
        }
    }
}
