//! Look at the embedded sample: write it, time it, save a few planes as PNG (each channel over
//! its window, and channel 0 with the tutorial's segmentation drawn over it) and print how many
//! objects a Gaussian (sigma 2) + Otsu + label segmentation finds per plane.
//!
//! ```text
//! cargo run --release --example sample_pictures -- /tmp/sample-pictures
//! ```

use std::time::Instant;

use omeflow::display::{Colormap, Picture};
use omeflow::ndimage::{Connectivity, Threshold};
use omeflow::ngff::open_image;
use omeflow::sample::{write_sample, SampleSpec};
use omeflow::segment::{segment, SegmentParams};

fn main() -> omeflow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample-pictures".into());
    if let Err(e) = std::fs::create_dir_all(&out) {
        return Err(omeflow::Error::InvalidArgument(format!(
            "creating {out}: {e}"
        )));
    }
    let location = format!("{out}/sample.ome.zarr");
    let spec = SampleSpec::default();
    let started = Instant::now();
    write_sample(&location, &spec)?;
    println!(
        "wrote the sample in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let image = open_image(&location)?;
    let pixels = image.level(0)?;
    let [nt, nc, nz, _, _] = pixels.shape();
    let windows: Vec<(f64, f64)> = image
        .metadata()
        .channels
        .iter()
        .map(|c| c.window.as_ref().map_or((0.0, 1.0), |w| (w.start, w.end)))
        .collect();
    let params = SegmentParams::new(2.0, Threshold::Otsu, Connectivity::Face)?;
    for z in [0, nz / 4, nz / 2, nz - 1] {
        let counts = (0..nt)
            .map(|t| Ok(segment(&pixels.plane_as::<u16>(t, 0, z)?, &params)?.count))
            .collect::<omeflow::Result<Vec<usize>>>()?;
        println!("z {z}: objects per timepoint {counts:?}");
    }
    // The tutorial's own recipe (sigma 1, 0.75 of the smoothed maximum) keeps only the brightest.
    let tutorial = SegmentParams::default();
    let counts = (0..nt)
        .map(|t| Ok(segment(&pixels.plane_as::<u16>(t, 0, nz / 2)?, &tutorial)?.count))
        .collect::<omeflow::Result<Vec<usize>>>()?;
    println!(
        "z {}: objects per timepoint at 0.75 of the max {counts:?}",
        nz / 2
    );
    for t in 0..nt {
        let z = nz / 2;
        for c in 0..nc {
            let plane = pixels.plane_as::<u16>(t, c, z)?;
            let window = windows.get(c).copied();
            Picture::mapped(&plane, Colormap::Grey, window)
                .save_png(format!("{out}/t{t}_c{c}_z{z}.png"))?;
            if c == 0 {
                let seg = segment(&plane, &params)?;
                Picture::mapped(&plane, Colormap::Grey, window)
                    .overlay(&seg.labels)
                    .save_png(format!("{out}/t{t}_c0_z{z}_labels.png"))?;
            }
        }
    }
    println!("pictures in {out}/");
    Ok(())
}
