//! Measurements per labelled object (like skimage's regionprops): area, centroid, bounding
//! box, mean and max intensity.

use ndarray::{ArrayBase, Data, Dimension};

use crate::ngff::Element;

/// One object's measurements, in the label image's axis order.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegionProps {
    /// The label value.
    pub label: i32,
    /// Number of pixels (voxels).
    pub area: u64,
    /// Mean coordinate per axis.
    pub centroid: Vec<f64>,
    /// First coordinate per axis.
    pub bbox_min: Vec<usize>,
    /// One past the last coordinate per axis.
    pub bbox_max: Vec<usize>,
    /// Mean intensity of the object's pixels.
    pub mean_intensity: f64,
    /// Largest intensity of the object's pixels.
    pub max_intensity: f64,
}

/// Measure every label `1..=n` of `labels` over `intensity` (same shape); rows in label order.
pub fn regionprops<T, S1, S2, D>(
    labels: &ArrayBase<S1, D>,
    intensity: &ArrayBase<S2, D>,
) -> Vec<RegionProps>
where
    T: Element,
    S1: Data<Elem = i32>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    let nd = labels.ndim();
    let n = labels.iter().copied().max().unwrap_or(0).max(0) as usize;
    let mut rows: Vec<RegionProps> = (1..=n)
        .map(|l| RegionProps {
            label: l as i32,
            area: 0,
            centroid: vec![0.0; nd],
            bbox_min: vec![usize::MAX; nd],
            bbox_max: vec![0; nd],
            mean_intensity: 0.0,
            max_intensity: f64::NEG_INFINITY,
        })
        .collect();
    let dims = labels.shape().to_vec();
    let labels = labels.as_standard_layout();
    let intensity = intensity.as_standard_layout();
    let (Some(ls), Some(is)) = (labels.as_slice(), intensity.as_slice()) else {
        unreachable!("standard layout is contiguous")
    };
    let mut coord = vec![0usize; nd];
    // Objects are a small part of a plane: coordinates are worked out only for their pixels.
    for (i, (&l, v)) in ls.iter().zip(is).enumerate() {
        if l <= 0 {
            continue;
        }
        let mut rest = i;
        for d in (0..nd).rev() {
            coord[d] = rest % dims[d];
            rest /= dims[d];
        }
        let r = &mut rows[l as usize - 1];
        let v = v.to_f64();
        r.area += 1;
        r.mean_intensity += v;
        r.max_intensity = r.max_intensity.max(v);
        for (d, &c) in coord.iter().enumerate() {
            r.centroid[d] += c as f64;
            r.bbox_min[d] = r.bbox_min[d].min(c);
            r.bbox_max[d] = r.bbox_max[d].max(c + 1);
        }
    }
    rows.retain(|r| r.area > 0);
    for r in &mut rows {
        let a = r.area as f64;
        r.mean_intensity /= a;
        for c in &mut r.centroid {
            *c /= a;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn props_of_two_objects() {
        let l = array![[1, 1, 0], [0, 0, 2]];
        let img = array![[10u16, 20, 99], [0, 0, 5]];
        let p = regionprops(&l, &img);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].area, 2);
        assert_eq!(p[0].centroid, vec![0.0, 0.5]);
        assert_eq!(p[0].bbox_min, vec![0, 0]);
        assert_eq!(p[0].bbox_max, vec![1, 2]);
        assert_eq!(p[0].mean_intensity, 15.0);
        assert_eq!(p[0].max_intensity, 20.0);
        assert_eq!(p[1].label, 2);
    }
}
