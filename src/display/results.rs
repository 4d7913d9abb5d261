//! How results show: a [`Segmentation`] as its plane with the objects overlaid and counted, a
//! list of them as a table of planes and objects beside a plot of objects per plane, and
//! [`Probabilities`] as a probability map per class. The same pictures and plots as files.

use std::path::Path;

use ndarray::Array2;

use super::{html, objects_per_plane_svg, Colormap, Gallery, Picture, PlaneCount, Show};
use crate::classify::Probabilities;
use crate::segment::Segmentation;
use crate::Result;

impl Segmentation {
    /// The segmentation as a picture: its plane (when it keeps one, see
    /// [`Segmentation::with_image`]) with the objects overlaid in distinct colours, captioned
    /// with the plane's name and the count.
    pub fn picture(&self) -> Picture {
        let base = match &self.image {
            Some(plane) => Picture::of_plane(plane),
            None => {
                let (h, w) = self.labels.dim();
                Picture::from_rgb(w, h, vec![0; w * h * 3])
                    .unwrap_or_else(|_| Picture::labels(&self.labels))
            }
        };
        let name = if self.name.is_empty() {
            "plane"
        } else {
            &self.name
        };
        base.overlay(&self.labels)
            .with_caption(format!("{name}: {}", objects(self.count)))
    }

    /// Write [`Segmentation::picture`] to a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        self.picture().save_png(path)
    }
}

impl Show for Segmentation {
    fn to_html(&self) -> Result<String> {
        self.picture().to_html()
    }
    fn to_text(&self) -> String {
        let (h, w) = self.labels.dim();
        let name = if self.name.is_empty() {
            "plane"
        } else {
            &self.name
        };
        format!("{name}: {} ({w} x {h})", objects(self.count))
    }
}

fn objects(n: usize) -> String {
    if n == 1 {
        "1 object".into()
    } else {
        format!("{n} objects")
    }
}

impl Probabilities {
    /// The probability map of class index `class` (0-based; class k + 1 of the project) at
    /// (`t`, `z`), probabilities 0..1 through viridis, captioned with the class name.
    pub fn picture(&self, class: usize, t: usize, z: usize) -> Result<Picture> {
        let plane = self.class_plane(class, t, z)?;
        let name = self
            .labels
            .get(class)
            .map_or_else(|| format!("class {}", class + 1), |l| l.name.clone());
        Ok(probability_picture(&plane).with_caption(format!("{name}, t:{t}, z:{z}")))
    }

    /// Write [`Probabilities::picture`] to a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>, class: usize, t: usize, z: usize) -> Result<()> {
        self.picture(class, t, z)?.save_png(path)
    }
}

impl Show for Probabilities {
    /// Every class at t 0 and the middle plane, side by side.
    fn to_html(&self) -> Result<String> {
        let [_, nz, _, _, nc] = self.shape();
        let pictures: Result<Gallery> = (0..nc).map(|c| self.picture(c, 0, nz / 2)).collect();
        pictures?.to_html()
    }
    fn to_text(&self) -> String {
        let [t, z, y, x, c] = self.shape();
        let names: Vec<&str> = self.labels.iter().map(|l| l.name.as_str()).collect();
        format!(
            "probabilities (t, z, y, x, class) = ({t}, {z}, {y}, {x}, {c}), float32; classes: {}",
            names.join(", ")
        )
    }
}

/// Rows shown in a results table before the rest is summarised (the plot shows them all).
const TABLE_ROWS: usize = 12;

impl Show for [Segmentation] {
    /// A table (plane, objects) and a plot of objects per plane.
    fn to_html(&self) -> Result<String> {
        let total: usize = self.iter().map(|s| s.count).sum();
        let mut rows = String::new();
        let show = |s: &Segmentation| {
            let name = if s.name.is_empty() {
                "-".to_string()
            } else {
                html::escape(&s.name)
            };
            format!(
                "<tr><td style=\"text-align:left\">{name}</td><td>{}</td></tr>",
                s.count
            )
        };
        if self.len() <= TABLE_ROWS + 2 {
            self.iter().for_each(|s| rows.push_str(&show(s)));
        } else {
            self[..TABLE_ROWS - 2]
                .iter()
                .for_each(|s| rows.push_str(&show(s)));
            rows.push_str(&format!(
                "<tr><td colspan=2 style=\"text-align:left\">... {} more ...</td></tr>",
                self.len() - TABLE_ROWS
            ));
            self[self.len() - 2..]
                .iter()
                .for_each(|s| rows.push_str(&show(s)));
        }
        let table = format!(
            "<table><tr><th style=\"text-align:left\">plane</th><th>objects</th></tr>{rows}\
             <tr><th style=\"text-align:left\">{} planes</th><th>{total}</th></tr></table>",
            self.len()
        );
        let counts = plane_counts(self);
        let plot = if counts.len() >= 2 {
            objects_per_plane_svg(&counts)?
        } else {
            String::new()
        };
        Ok(format!(
            "<div style=\"display:flex;flex-wrap:wrap;align-items:flex-start;gap:16px\"><div>{table}</div><div>{plot}</div></div>"
        ))
    }
    fn to_text(&self) -> String {
        let total: usize = self.iter().map(|s| s.count).sum();
        let mut text = format!("{} planes, {total} objects", self.len());
        for s in self.iter().take(TABLE_ROWS) {
            text.push_str(&format!("\n  {}: {}", s.name, s.count));
        }
        if self.len() > TABLE_ROWS {
            text.push_str(&format!("\n  ... {} more", self.len() - TABLE_ROWS));
        }
        text
    }
}

impl Show for Vec<Segmentation> {
    fn to_html(&self) -> Result<String> {
        self.as_slice().to_html()
    }
    fn to_text(&self) -> String {
        self.as_slice().to_text()
    }
}

/// The objects of each result that knows its plane: the points of the objects-per-plane plot.
fn plane_counts(results: &[Segmentation]) -> Vec<PlaneCount> {
    results
        .iter()
        .filter_map(|s| {
            s.plane.map(|plane| PlaneCount {
                plane,
                objects: s.count,
            })
        })
        .collect()
}

/// Write the objects-per-plane plot of `results` to an SVG file.
pub fn save_objects_plot(results: &[Segmentation], path: impl AsRef<Path>) -> Result<()> {
    let counts = plane_counts(results);
    let path = path.as_ref();
    crate::output::write_file(path, objects_per_plane_svg(&counts)?.as_bytes())
}

/// Probabilities 0..1 of one class and plane through viridis: what [`Probabilities::picture`]
/// and `omeflow classify --png` draw.
fn probability_picture(plane: &Array2<f32>) -> Picture {
    Picture::mapped(plane, Colormap::Viridis, Some((0.0, 1.0)))
}

/// Write one class's probabilities (0..1) of one plane as a viridis PNG, uncaptioned: the
/// pictures of `omeflow classify --png` (see [`crate::batch::classify::run`]).
pub fn save_probability_png(plane: &Array2<f32>, path: &Path) -> Result<()> {
    probability_picture(plane).save_png(path)
}
