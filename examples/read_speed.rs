//! How fast planes of an image level read: `cargo run --release --example read_speed -- URL [LEVEL]`.
use std::time::Instant;

fn main() -> omeflow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("omeflow-sample.ome.zarr");
    let level = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let px = omeflow::ngff::open_image(url)?.level(level)?;
    let [nt, nc, nz, ny, nx] = px.shape();
    let t0 = Instant::now();
    let mut n = 0;
    for t in 0..nt {
        for c in 0..nc {
            for z in 0..nz {
                std::hint::black_box(px.plane(t, c, z)?);
                n += 1;
            }
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{n} planes of {ny} x {nx} read one by one in {s:.3} s: {:.1} planes/s, {:.2} ms/plane",
        n as f64 / s,
        s * 1e3 / n as f64
    );
    Ok(())
}
