//! The embedded sample: a small, deterministic time-lapse of nuclei-like objects, generated (never
//! downloaded) so notebooks, the CLI and tests run offline.
//!
//! ```no_run
//! # fn main() -> omeflow::Result<()> {
//! let path = omeflow::sample::write_sample("sample.ome.zarr", &omeflow::sample::SampleSpec::default())?;
//! let image = omeflow::ngff::open_image(&path)?;
//! assert_eq!(image.level(0)?.shape(), [8, 2, 10, 256, 256]);
//! # Ok(()) }
//! ```

use crate::rng::Rng;
use ndarray::Array2;

use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
use crate::ngff::{Channel, DType, Window};
use crate::Result;

/// Shape and format of the sample.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// (t, c, z, y, x) of level 0; c is at most 2.
    pub shape: [usize; 5],
    /// Number of nuclei.
    pub nuclei: usize,
    /// Resolution levels.
    pub levels: usize,
    /// NGFF version written.
    pub version: NgffVersion,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// The image's name, written to its metadata (what a catalogue lists it as).
    pub name: String,
}

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            shape: [8, 2, 10, 256, 256],
            nuclei: 14,
            levels: 3,
            version: NgffVersion::V0_4,
            seed: 4007801,
            name: "omeflow sample: nuclei time-lapse".into(),
        }
    }
}

fn hash_noise(seed: u64, k: [usize; 5]) -> f64 {
    let mut r = Rng(seed
        ^ k.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &v| {
            (h ^ v as u64).wrapping_mul(0x0000_0100_0000_01B3)
        }));
    r.unit()
}

struct Nucleus {
    y: f64,
    x: f64,
    z: f64,
    vy: f64,
    vx: f64,
    ry: f64,
    rx: f64,
    rz: f64,
    brightness: [f64; 2],
}

/// Write the sample image to `location` (replacing a Zarr image already there) and return the location.
pub fn write_sample(location: &str, spec: &SampleSpec) -> Result<String> {
    let [nt, nc, nz, ny, nx] = spec.shape;
    let mut rng = Rng(spec.seed);
    let nuclei: Vec<Nucleus> = (0..spec.nuclei)
        .map(|_| Nucleus {
            y: rng.range(0.15, 0.85) * ny as f64,
            x: rng.range(0.15, 0.85) * nx as f64,
            z: rng.range(0.2, 0.8) * nz as f64,
            vy: rng.range(-1.5, 1.5),
            vx: rng.range(-1.5, 1.5),
            ry: rng.range(0.035, 0.06) * ny as f64,
            rx: rng.range(0.035, 0.06) * nx as f64,
            rz: rng.range(0.15, 0.3) * nz as f64,
            brightness: [rng.range(1200.0, 4000.0), rng.range(300.0, 3000.0)],
        })
        .collect();
    let channels = vec![
        Channel {
            name: Some("H2B".into()),
            color: Some("0000FF".into()),
            window: Some(Window {
                start: 0.0,
                end: 4500.0,
                min: Some(0.0),
                max: Some(65535.0),
            }),
            active: Some(true),
        },
        Channel {
            name: Some("LaminB1".into()),
            color: Some("00FF00".into()),
            window: Some(Window {
                start: 0.0,
                end: 3500.0,
                min: Some(0.0),
                max: Some(65535.0),
            }),
            active: Some(true),
        },
    ];
    let image_spec = ImageSpec::new(spec.shape, DType::U16)
        .with_levels(spec.levels)
        .with_chunks(256, 256)
        .with_scale(
            [1.0, 1.0, 2.0, 0.4, 0.4],
            Some("micrometer"),
            Some("minute"),
        )
        .with_name(spec.name.as_str())
        .with_channels(channels.into_iter().take(nc).collect())
        .with_version(spec.version);
    let writer = ImageWriter::replace(location, image_spec)?;
    for t in 0..nt {
        for c in 0..nc {
            for z in 0..nz {
                let plane = render(spec.seed, &nuclei, [t, c, z], [ny, nx]);
                writer.write_plane(t, c, z, &plane)?;
            }
        }
    }
    Ok(location.to_string())
}

fn render(
    seed: u64,
    nuclei: &[Nucleus],
    [t, c, z]: [usize; 3],
    [ny, nx]: [usize; 2],
) -> Array2<u16> {
    let mut plane = Array2::<f64>::from_elem((ny, nx), 100.0);
    for n in nuclei {
        let cy = (n.y + n.vy * t as f64).rem_euclid(ny as f64);
        let cx = (n.x + n.vx * t as f64).rem_euclid(nx as f64);
        let dz = (z as f64 + 0.5 - n.z) / n.rz;
        if dz.abs() > 1.6 {
            continue;
        }
        let y0 = (cy - 1.6 * n.ry).floor().max(0.0) as usize;
        let y1 = ((cy + 1.6 * n.ry).ceil() as usize).min(ny);
        let x0 = (cx - 1.6 * n.rx).floor().max(0.0) as usize;
        let x1 = ((cx + 1.6 * n.rx).ceil() as usize).min(nx);
        for y in y0..y1 {
            for x in x0..x1 {
                let dy = (y as f64 + 0.5 - cy) / n.ry;
                let dx = (x as f64 + 0.5 - cx) / n.rx;
                let d = (dy * dy + dx * dx + dz * dz).sqrt();
                // A soft-edged ellipsoid; channel 1 is brighter at the rim, like a lamina.
                let body = 1.0 / (1.0 + ((d - 1.0) * 8.0).exp());
                let v = if c == 0 {
                    body
                } else {
                    body * (0.35 + 0.65 * (-((d - 0.9) * 4.0).powi(2)).exp())
                };
                plane[(y, x)] += n.brightness[c % 2] * v;
            }
        }
    }
    Array2::from_shape_fn((ny, nx), |(y, x)| {
        let noise = (hash_noise(seed, [t, c, z, y, x]) - 0.5) * 60.0;
        (plane[(y, x)] + noise).round().clamp(0.0, 65535.0) as u16
    })
}
