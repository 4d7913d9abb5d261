//! Plots drawn with plotters, as SVG: text needs no font files, and notebooks show SVG inline.

use std::collections::BTreeMap;

use plotters::prelude::*;

use crate::{Error, Result};

/// One plane's object count at its (t, c, z).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlaneCount {
    /// (t, c, z).
    pub plane: [usize; 3],
    /// Objects found.
    pub objects: usize,
}

/// Objects per plane over z, or over t when z does not vary: one line per channel, averaged
/// over the other axis (the tutorial runs 10 t x 10 z x 2 c planes; 20 lines would be noise).
pub fn objects_per_plane_svg(counts: &[PlaneCount]) -> Result<String> {
    let distinct = |k: usize| {
        let mut v: Vec<usize> = counts.iter().map(|p| p.plane[k]).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let (axis, other, axis_name, other_name) = if distinct(2) > 1 || distinct(0) <= 1 {
        (2, 0, "z", "t")
    } else {
        (0, 2, "t", "z")
    };
    // channel -> axis value -> (sum, n)
    let mut series: BTreeMap<usize, BTreeMap<usize, (f64, usize)>> = BTreeMap::new();
    for p in counts {
        let e = series
            .entry(p.plane[1])
            .or_default()
            .entry(p.plane[axis])
            .or_insert((0.0, 0));
        e.0 += p.objects as f64;
        e.1 += 1;
    }
    let xs = counts.iter().map(|p| p.plane[axis]);
    let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
    let y1 = counts.iter().map(|p| p.objects).max().unwrap_or(0).max(1) as f64 * 1.1;
    let averaged = distinct(other) > 1;
    let caption = if averaged {
        format!("objects per plane over {axis_name} (mean over {other_name})")
    } else {
        format!("objects per plane over {axis_name}")
    };

    let mut svg = String::new();
    {
        let fail = |e: &dyn std::fmt::Display| Error::Internal(format!("drawing the plot: {e}"));
        let root = SVGBackend::with_string(&mut svg, (560, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(x0 as f64 - 0.5..x1 as f64 + 0.5, 0f64..y1)
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc(axis_name)
            .y_desc("objects")
            .disable_x_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| fail(&e))?;
        for (i, (c, points)) in series.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let line: Vec<(f64, f64)> = points
                .iter()
                .map(|(&x, &(sum, n))| (x as f64, sum / n as f64))
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))
                .map_err(|e| fail(&e))?
                .label(format!("c = {c}"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_over_z_with_a_line_per_channel() {
        let counts: Vec<PlaneCount> = (0..10)
            .flat_map(|z| {
                (0..2).map(move |c| PlaneCount {
                    plane: [0, c, z],
                    objects: z + c,
                })
            })
            .collect();
        let svg = objects_per_plane_svg(&counts).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        assert!(svg.contains("over z") && svg.contains("c = 1"));
    }

    #[test]
    fn plots_over_t_when_z_is_fixed_and_survives_empty_input() {
        let counts: Vec<PlaneCount> = (0..5)
            .map(|t| PlaneCount {
                plane: [t, 0, 3],
                objects: 2,
            })
            .collect();
        assert!(objects_per_plane_svg(&counts).unwrap().contains("over t"));
        assert!(objects_per_plane_svg(&[]).is_ok());
    }
}
