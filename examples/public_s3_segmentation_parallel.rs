//! The first tutorial ("Analyze data stored in a public S3 repository in parallel") as a
//! standalone program: the same steps as `notebooks/public_s3_segmentation_parallel.ipynb`,
//! wrapped up in `main` as the tutorial's script does.
//!
//! ```sh
//! cargo run --release --example public_s3_segmentation_parallel              # offline, the embedded sample
//! cargo run --release --example public_s3_segmentation_parallel -- --idr     # IDR image 4007801, level 4
//! cargo run --release --example public_s3_segmentation_parallel -- --out DIR # where pictures go
//! ```
use std::time::Instant;

use omeflow::prelude::*;

const IMAGE_ID: u64 = 4007801;

/// Smooth, threshold at 0.75 of the smoothed maximum, label: the tutorial's `analyze`.
fn analyze(data: &Pixels, t: usize, c: usize, z: usize) -> omeflow::Result<Segmentation> {
    let plane: Array2<u16> = data.plane_as(t, c, z)?;
    let smoothed_image = gaussian_filter(&plane, 1.0);
    let max = smoothed_image.iter().copied().max().unwrap_or(0) as f64;
    let threshold_image = above(&smoothed_image, 0.75 * max);
    let (label_image, _num_points) = label(&threshold_image, Connectivity::Face);
    Ok(Segmentation::new(label_image, "")
        .at(t, c, z)
        .with_image(plane))
}

/// The tutorial's `prepare_call`: middle t and z, 5 on each side, every channel.
fn prepare_call(image: &Image, data: &Pixels) -> Vec<Delayed<Segmentation>> {
    let (middle_t, middle_z) = (image.size_t() / 2, image.size_z() / 2);
    let (range_t, range_z) = (5, 5);
    let mut lazy_results = Vec::new();
    for t in middle_t.saturating_sub(range_t)..(middle_t + range_t).min(image.size_t()) {
        for z in middle_z.saturating_sub(range_z)..(middle_z + range_z).min(image.size_z()) {
            for c in 0..image.size_c() {
                let data = data.clone();
                lazy_results.push(delayed(plane_name(t, c, z), move || {
                    analyze(&data, t, c, z)
                }));
            }
        }
    }
    lazy_results
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let idr = args.iter().any(|a| a == "--idr");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "segmentation_results".into());
    let (host, username, password, resolution) = if idr {
        ("idr.openmicroscopy.org", "public", "public", 4)
    } else {
        (SAMPLE, "", "", 0)
    };

    let conn = connect(host, username, password)?;
    let image = conn.image(IMAGE_ID)?;
    println!("{image}");
    let data = image.pixels(resolution)?;
    println!("{}", data.to_text());

    let lazy_results = prepare_call(&image, &data);
    let start = Instant::now();
    let results = compute(lazy_results)?;
    println!(
        "Compute time (in seconds): {:.3}",
        start.elapsed().as_secs_f64()
    );
    println!("{}", results.to_text());

    let gallery: Gallery = results
        .iter()
        .filter(|s| s.count > 0)
        .take(4)
        .map(|s| s.picture())
        .collect();
    let saved = gallery.save_png(&out)?;
    save_objects_plot(&results, format!("{out}/objects_per_plane.svg"))?;
    println!(
        "saved {} pictures and objects_per_plane.svg to {out}/",
        saved.len()
    );
    conn.disconnect()?;
    Ok(())
}
