//! Synthetic images for whole-image runs and a way to compare what runs wrote.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;
use omeflow::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
use omeflow::ngff::DType;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// An image of `planes` z planes (t 1, c 1) of 96 x 101 pixels with nuclei that move from plane
/// to plane, three levels, in `version`.
pub fn nuclei_image(at: &Path, planes: usize, version: NgffVersion) {
    let spec = ImageSpec::new([1, 1, planes, 96, 101], DType::U16)
        .with_version(version)
        .with_levels(3)
        .with_chunks(64, 64)
        .with_scale(
            [1.0, 1.0, 2.0, 0.25, 0.25],
            Some("micrometer"),
            Some("second"),
        );
    let w = ImageWriter::create(&s(at), spec).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let centres: Vec<(f64, f64, f64)> = (0..12)
        .map(|_| {
            (
                (next() % 96) as f64,
                (next() % 101) as f64,
                3.0 + (next() % 5) as f64,
            )
        })
        .collect();
    for z in 0..planes {
        let drift = z as f64 * 0.37;
        let noise: Vec<u64> = (0..96 * 101).map(|_| next() % 40).collect();
        let plane = Array2::from_shape_fn((96, 101), |(y, x)| {
            let mut v = 100.0 + noise[y * 101 + x] as f64;
            for &(cy, cx, r) in &centres {
                let (dy, dx) = (
                    y as f64 - (cy + drift) % 96.0,
                    x as f64 - (cx + 0.5 * drift) % 101.0,
                );
                if dy * dy + dx * dx <= r * r {
                    v += 1500.0;
                }
            }
            v as u16
        });
        w.write_plane(0, 0, z, &plane).unwrap();
    }
}

/// Every file below `root` (but the progress record), by path relative to it, with its bytes.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel.contains(".omeflow-run") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
