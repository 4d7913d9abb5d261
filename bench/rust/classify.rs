//! Features + prediction of pixel-class-133.ilp on a synthetic blastocyst-sized stack
//! (z 237 x y 218 x x 212, 2 channels, uint16), the shape the project was trained on.
//! Run: `cargo bench --bench classify [-- --z N --threads 1,2 --probs FILE]`;
//! `bench/python/classify_bench.py` times vigra on the same stack (same integer formula).
//!
//! Running the built binary directly needs `OMEFLOW_BENCH=1` (or `--bench`).
//! Prints one JSON line per thread count: {"threads", "seconds", "voxels_per_second", ...}.

use std::time::Instant;

use ndarray::Array5;
use omeflow::classify::{classify_with, ClassifyOptions, Project};

const SHAPE: [usize; 3] = [237, 218, 212];

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Nuclei (filled spheres, channel 0) and their membranes (sphere shells plus a sheet pattern,
/// channel 1) over hashed noise; integer arithmetic only, so Python computes the same values.
pub fn stack(nz: usize) -> Array5<u16> {
    let [_, ny, nx] = SHAPE;
    let spheres: Vec<[i64; 4]> = (0..48u64)
        .map(|s| {
            let h = splitmix64(1_000_000 + s);
            [
                (h % SHAPE[0] as u64) as i64,
                ((h >> 16) % ny as u64) as i64,
                ((h >> 32) % nx as u64) as i64,
                6 + ((h >> 48) % 10) as i64,
            ]
        })
        .collect();
    let mut a = Array5::<u16>::zeros((1, 2, nz, ny, nx));
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = ((z * ny + y) * nx + x) as u64;
                let mut c0 = 300 + (splitmix64(i) % 256) as i64;
                let mut c1 = 200 + (splitmix64((1u64 << 40) + i) % 256) as i64;
                let mut shell = false;
                for &[cz, cy, cx, r] in &spheres {
                    let d2 =
                        (z as i64 - cz).pow(2) + (y as i64 - cy).pow(2) + (x as i64 - cx).pow(2);
                    if d2 <= r * r {
                        c0 += 2500 - 1500 * d2 / (r * r);
                    }
                    if (d2 - r * r).abs() <= 2 * r {
                        shell = true;
                    }
                }
                if shell {
                    c1 += 1800;
                }
                if (x + 2 * y + 3 * z) % 47 < 2 {
                    c1 += 600;
                }
                a[[0, 0, z, y, x]] = c0.min(65535) as u16;
                a[[0, 1, z, y, x]] = c1.min(65535) as u16;
            }
        }
    }
    a
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // and a full classification in a debug build would take many minutes there.
    let direct = std::env::var_os("OMEFLOW_BENCH").is_some();
    if !direct && !std::env::args().any(|a| a == "--bench") {
        eprintln!("classify bench: run with `cargo bench --bench classify`; skipped");
        return;
    }
    let ilp = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/ilastik/pixel-class-133.ilp"
    );
    let project = Project::open(ilp).expect("pixel-class-133.ilp");
    let nz: usize = arg("--z").map_or(SHAPE[0], |v| v.parse().expect("--z N"));
    let threads: Vec<usize> = arg("--threads")
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(|t| t.parse().expect("--threads 1,2"))
        .collect();
    if std::env::args().any(|a| a == "--predict-only") {
        // Prediction alone on 1M samples of plausible feature values.
        let cls = project.classifier().expect("forests");
        let n = 1 << 20;
        let cols: Vec<Vec<f32>> = (0..cls.n_features())
            .map(|f| {
                (0..n)
                    .map(|i| (splitmix64((f * n + i) as u64) % 4000) as f32 - 500.0)
                    .collect()
            })
            .collect();
        let mut out = vec![0f32; n * cls.n_classes()];
        let t = Instant::now();
        cls.predict_columns(&cols, &mut out).expect("predict");
        let s = t.elapsed().as_secs_f64();
        println!("{{\"predict_only\": true, \"samples\": {n}, \"seconds\": {s:.3}, \"samples_per_second\": {:.0}}}", n as f64 / s);
        return;
    }
    let t0 = Instant::now();
    let image = stack(nz);
    eprintln!(
        "stack {:?} synthesised in {:.1} s",
        image.dim(),
        t0.elapsed().as_secs_f64()
    );
    let voxels = (nz * SHAPE[1] * SHAPE[2]) as f64;
    for &n in &threads {
        let options = ClassifyOptions {
            threads: Some(n),
            ..ClassifyOptions::default()
        };
        let t = Instant::now();
        let probs = classify_with(&image, &project, &options).expect("classify");
        let s = t.elapsed().as_secs_f64();
        let class2 = probs.data.slice(ndarray::s![.., .., .., .., 1]);
        let mean: f64 = class2.iter().map(|&v| v as f64).sum::<f64>() / class2.len() as f64;
        println!(
            "{{\"impl\": \"omeflow\", \"threads\": {n}, \"shape\": [{nz}, {}, {}, 2], \"seconds\": {s:.3}, \"voxels_per_second\": {:.0}, \"mean_class2\": {mean:.6}}}",
            SHAPE[1],
            SHAPE[2],
            voxels / s
        );
        if let Some(path) = arg("--probs") {
            let bytes: Vec<u8> = probs.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&path, bytes).expect("--probs FILE");
        }
    }
}
