//! A minimal PNG writer for probability maps (the `display` module does the rich display).

use std::path::Path;

use ndarray::Array2;

use crate::{Error, Result};

/// viridis at 0, 1/8, ..., 1 (matplotlib's values).
const VIRIDIS: [[f32; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [71.0, 44.0, 122.0],
    [59.0, 81.0, 139.0],
    [44.0, 113.0, 142.0],
    [33.0, 144.0, 141.0],
    [39.0, 173.0, 129.0],
    [92.0, 200.0, 99.0],
    [170.0, 220.0, 50.0],
    [253.0, 231.0, 37.0],
];

/// The viridis colour of `v` in 0..1 (clamped; NaN is black).
pub fn viridis(v: f32) -> [u8; 3] {
    if v.is_nan() {
        return [0, 0, 0];
    }
    let p = v.clamp(0.0, 1.0) * 8.0;
    let i = (p.floor() as usize).min(7);
    let f = p - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    std::array::from_fn(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

/// Writes `plane` (values 0..1) as an RGB PNG through viridis.
pub fn save_viridis(path: &Path, plane: &Array2<f32>) -> Result<()> {
    let (h, w) = plane.dim();
    let mut rgb = Vec::with_capacity(h * w * 3);
    for &v in plane.iter() {
        rgb.extend_from_slice(&viridis(v));
    }
    let werr = |e: &dyn std::fmt::Display| Error::Write {
        location: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| werr(&e))?;
    writer.write_image_data(&rgb).map_err(|e| werr(&e))?;
    writer.finish().map_err(|e| werr(&e))?;
    Ok(())
}
