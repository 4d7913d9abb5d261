//! Micro-benchmark of one plane of the tutorial's recipe (smooth + threshold + label), for an
//! IDR level-4 sized plane (128 x 135) and a full-size one (2048 x 2169), uint16.
//! Run: `cargo bench --bench plane`; `bench/python/plane_bench.py` times scipy on the same planes.

use std::time::Instant;

use ndarray::Array2;
use omeflow::ndimage::{above, gaussian_filter, label, max, regionprops, Connectivity};
use omeflow::segment::{segment, SegmentParams};

fn plane(h: usize, w: usize) -> Array2<u16> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let blobs: Vec<(f64, f64, f64, f64)> = (0..(h * w / 2000).max(4))
        .map(|_| {
            (
                rnd() * h as f64,
                rnd() * w as f64,
                2.0 + rnd() * 8.0,
                300.0 + rnd() * 3000.0,
            )
        })
        .collect();
    let mut p = Array2::from_shape_fn((h, w), |_| 100.0 + rnd() * 30.0);
    for (cy, cx, r, a) in blobs {
        let (y0, y1) = (
            (cy - 4.0 * r).max(0.0) as usize,
            ((cy + 4.0 * r) as usize).min(h),
        );
        let (x0, x1) = (
            (cx - 4.0 * r).max(0.0) as usize,
            ((cx + 4.0 * r) as usize).min(w),
        );
        for y in y0..y1 {
            for x in x0..x1 {
                let d2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                p[(y, x)] += a * (-d2 / (2.0 * r * r)).exp();
            }
        }
    }
    p.mapv(|v| v.min(65535.0) as u16)
}

fn time<F: FnMut() -> Option<usize>>(name: &str, reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    let mut n = None;
    for _ in 0..reps {
        let t = Instant::now();
        n = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    let objects = n.map(|n| format!("  ({n} objects)")).unwrap_or_default();
    println!("{name:<42} {:>10.3} ms{objects}", best * 1e3);
    best
}

fn main() {
    for (h, w, reps) in [(128, 135, 200), (2048, 2169, 10)] {
        let p = plane(h, w);
        println!("plane {h} x {w} uint16, best of {reps}:");
        time("  gaussian_filter sigma 1", reps, || {
            std::hint::black_box(gaussian_filter(&p, 1.0));
            None
        });
        let s = gaussian_filter(&p, 1.0);
        let m = above(&s, 0.75 * max(&s).unwrap_or(0.0));
        time("  threshold 0.75 * max", reps, || {
            std::hint::black_box(above(&s, 0.75 * max(&s).unwrap_or(0.0)));
            None
        });
        time("  label (4-connectivity)", reps, || {
            Some(label(&m, Connectivity::Face).1)
        });
        let (l, _) = label(&m, Connectivity::Face);
        time("  regionprops", reps, || Some(regionprops(&l, &p).len()));
        time("  segment() (all of the above)", reps, || {
            segment(&p, &SegmentParams::default()).ok().map(|s| s.count)
        });
        time("  smooth + threshold + label", reps, || {
            let s = gaussian_filter(&p, 1.0);
            let m = above(&s, 0.75 * max(&s).unwrap_or(0.0));
            Some(label(&m, Connectivity::Face).1)
        });
    }
}
