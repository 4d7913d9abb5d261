//! Write a synthetic image shaped like IDR 4007801 at level 4 for the whole-image benchmark
//! (`bench/python/whole_image.py`): T x 2 x Z planes of 128 x 135 uint16, one level, every
//! plane holding a dozen nuclei placed and shifted per plane over a noisy background, so every
//! chunk is different and compresses like real data. Chunks are blosc lz4 with byte shuffle,
//! as IDR's are (`OMEFLOW_BENCH_COMPRESSION=zstd` for blosc zstd, omeflow's default).
//!
//! ```text
//! cargo run --release --example bench_image -- OUT.zarr T Z [Y X [CHUNK_Y CHUNK_X]]
//! ```
//!
//! With Y X of 2048 2169 and chunks of 1024 1024 it is shaped like level 0 of the same image
//! (`bench/python/level0_slab.py`).

use ndarray::Array2;
use omeflow::ngff::writer::{Compression, ImageSpec, ImageWriter};
use omeflow::ngff::DType;
use rayon::prelude::*;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: the same planes on every machine, whatever the thread count.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn plane(index: u64, ny: usize, nx: usize) -> Array2<u16> {
    let nuclei: Vec<(f64, f64, f64, f64)> = (0..12u64)
        .map(|k| {
            let r = mix(index.wrapping_mul(31).wrapping_add(k));
            (
                (r % ny as u64) as f64,
                ((r >> 16) % nx as u64) as f64,
                4.0 + ((r >> 32) % 5) as f64,
                800.0 + ((r >> 40) % 1500) as f64,
            )
        })
        .collect();
    Array2::from_shape_fn((ny, nx), |(y, x)| {
        let noise = mix(index << 20 ^ (y * nx + x) as u64) % 60;
        let mut v = 100.0 + noise as f64;
        for &(cy, cx, r, b) in &nuclei {
            let d2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
            if d2 <= r * r {
                v += b * (1.0 - 0.5 * d2 / (r * r));
            }
        }
        v.min(65535.0) as u16
    })
}

fn main() -> omeflow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench.zarr".into());
    let (t, z, ny, nx) = (arg(2, 532), arg(3, 988), arg(4, 128), arg(5, 135));
    let (cy, cx) = (arg(6, ny), arg(7, nx));
    let compression = match std::env::var("OMEFLOW_BENCH_COMPRESSION").as_deref() {
        Ok("zstd") => Compression::Blosc,
        Ok("lz4") | Err(_) => Compression::BloscLz4,
        Ok(other) => {
            return Err(omeflow::Error::InvalidArgument(format!(
                "OMEFLOW_BENCH_COMPRESSION={other}: say lz4 (the default) or zstd"
            )))
        }
    };
    let spec = ImageSpec::new([t, 2, z, ny, nx], DType::U16)
        .with_chunks(cy, cx)
        .with_compression(compression);
    let w = ImageWriter::create(&out, spec)?;
    let started = std::time::Instant::now();
    let total = (t * 2 * z) as u64;
    (0..total).into_par_iter().try_for_each(|i| {
        let (zi, rest) = ((i % z as u64) as usize, i / z as u64);
        let (ci, ti) = ((rest % 2) as usize, (rest / 2) as usize);
        w.write_plane(ti, ci, zi, &plane(i, ny, nx))
    })?;
    println!(
        "wrote {total} planes of {ny} x {nx} to {out} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
