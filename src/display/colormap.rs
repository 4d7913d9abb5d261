//! Colours: colormaps for intensities and probabilities, distinct colours for labels.

/// How scalar values in `[0, 1]` become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Black to white.
    #[default]
    Grey,
    /// matplotlib's viridis (perceptually uniform; good for probabilities).
    Viridis,
    /// matplotlib's magma.
    Magma,
}

// Nine evenly spaced samples of matplotlib's maps; linear interpolation between them stays
// within a couple of levels of the 256-entry originals, which a notebook picture cannot show.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];
const MAGMA: [[u8; 3]; 9] = [
    [0, 0, 4],
    [28, 16, 68],
    [79, 18, 123],
    [129, 37, 129],
    [181, 54, 122],
    [229, 80, 100],
    [251, 135, 97],
    [254, 194, 135],
    [252, 253, 191],
];

impl Colormap {
    /// The colour of `v` (clamped to `[0, 1]`; NaN is black).
    pub fn colour(self, v: f64) -> [u8; 3] {
        if v.is_nan() {
            return [0, 0, 0];
        }
        let v = v.clamp(0.0, 1.0);
        let table = match self {
            Colormap::Grey => {
                let g = (v * 255.0).round() as u8;
                return [g, g, g];
            }
            Colormap::Viridis => &VIRIDIS,
            Colormap::Magma => &MAGMA,
        };
        let x = v * (table.len() - 1) as f64;
        let i = (x.floor() as usize).min(table.len() - 2);
        let f = x - i as f64;
        let mut out = [0u8; 3];
        for (k, o) in out.iter_mut().enumerate() {
            let a = table[i][k] as f64;
            let b = table[i + 1][k] as f64;
            *o = (a + (b - a) * f).round() as u8;
        }
        out
    }
}

/// A colour for label `n` (> 0): neighbours in numbering get far-apart hues (golden-angle
/// steps), so adjacent objects, which scipy numbers consecutively, stay distinguishable.
pub fn label_colour(n: i64) -> [u8; 3] {
    let hue = (n as f64 * 0.618_033_988_749_895).fract();
    // Alternate brightness too, for the rare pair of similar hues.
    let value = if n % 2 == 0 { 1.0 } else { 0.85 };
    hsv(hue, 0.8, value)
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let h6 = h * 6.0;
    let i = h6.floor() as i64 % 6;
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [
        (r * 255.0).round() as u8,
        (g * 255.0).round() as u8,
        (b * 255.0).round() as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormaps_hit_their_ends() {
        assert_eq!(Colormap::Grey.colour(0.0), [0, 0, 0]);
        assert_eq!(Colormap::Grey.colour(1.0), [255, 255, 255]);
        assert_eq!(Colormap::Viridis.colour(0.0), VIRIDIS[0]);
        assert_eq!(Colormap::Viridis.colour(1.0), VIRIDIS[8]);
        assert_eq!(Colormap::Magma.colour(2.0), MAGMA[8]);
        assert_eq!(Colormap::Viridis.colour(f64::NAN), [0, 0, 0]);
    }

    #[test]
    fn consecutive_labels_differ() {
        for n in 1..200 {
            let (a, b) = (label_colour(n), label_colour(n + 1));
            let d: i32 = (0..3).map(|k| (a[k] as i32 - b[k] as i32).abs()).sum();
            assert!(d > 60, "labels {n} and {} look alike: {a:?} {b:?}", n + 1);
        }
    }
}
