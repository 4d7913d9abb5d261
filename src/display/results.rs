//! How results show: a [`Segmentation`] as its plane with the objects overlaid and counted, a
//! list of them as a table of planes and objects beside a plot of objects per plane, and
//! [`Probabilities`] as a probability map per class. The same pictures and plots as files.

use std::path::Path;

use ndarray::Array2;

use super::{html, objects_per_plane_svg, Colormap, Gallery, Picture, PlaneCount, Show};
use crate::batch::segment::Segmentations;
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
    /// (`t`, `z`), probabilities 0..1 through viridis with a colour bar, captioned with the
    /// class name and the plane.
    pub fn picture(&self, class: usize, t: usize, z: usize) -> Result<Picture> {
        let plane = self.class_plane(class, t, z)?;
        let name = self
            .labels
            .get(class)
            .map_or_else(|| format!("class {}", class + 1), |l| l.name.clone());
        Ok(probability_picture(&plane)
            .with_scale(Colormap::Viridis, 0.0, 1.0)
            .with_caption(format!("{name}, t:{t}, z:{z}")))
    }

    /// The plane (t, z) where class `class` has the most to see: the largest spread (standard
    /// deviation) of its probabilities, so neither an empty plane nor a uniformly certain one.
    /// The middle of the stack at t 0 when every plane is flat; an error for a class out of
    /// range.
    pub fn busiest_plane(&self, class: usize) -> Result<(usize, usize)> {
        let [nt, nz, _, _, nc] = self.shape();
        if class >= nc {
            return Err(crate::Error::OutOfBounds(format!(
                "class {class} of probabilities with {nc} classes"
            )));
        }
        let mut best = ((0, nz / 2), 0.0f64);
        for t in 0..nt {
            for z in 0..nz {
                let plane = self.data.slice(ndarray::s![t, z, .., .., class]);
                let n = plane.len().max(1) as f64;
                let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = plane
                    .iter()
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n;
                if var > best.1 + 1e-12 {
                    best = ((t, z), var);
                }
            }
        }
        Ok(best.0)
    }

    /// Write [`Probabilities::picture`] to a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>, class: usize, t: usize, z: usize) -> Result<()> {
        self.picture(class, t, z)?.save_png(path)
    }
}

impl Show for Probabilities {
    /// Every class at the plane where the first class has the most to see
    /// ([`Probabilities::busiest_plane`]), side by side.
    fn to_html(&self) -> Result<String> {
        let nc = self.n_classes();
        if nc == 0 {
            return Ok(html::escape(&self.to_text()));
        }
        let (t, z) = self.busiest_plane(0)?;
        let pictures: Result<Gallery> = (0..nc).map(|c| self.picture(c, t, z)).collect();
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

/// A results table (the first planes, the last two, the total) beside the objects-per-plane
/// plot: what a list of segmentations and a [`Segmentations`] result set show.
fn results_html(
    planes: usize,
    total: u64,
    head: &[(String, usize)],
    tail: &[(String, usize)],
    counts: &[PlaneCount],
    note: &str,
) -> Result<String> {
    let show = |(name, count): &(String, usize)| {
        let name = if name.is_empty() {
            "-".to_string()
        } else {
            html::escape(name)
        };
        format!("<tr><td style=\"text-align:left\">{name}</td><td>{count}</td></tr>")
    };
    let mut rows: String = head.iter().map(show).collect();
    let hidden = planes.saturating_sub(head.len() + tail.len());
    if hidden > 0 {
        rows.push_str(&format!(
            "<tr><td colspan=2 style=\"text-align:left\">... {hidden} more ...</td></tr>"
        ));
    }
    rows.extend(tail.iter().map(show));
    let table = format!(
        "<table><tr><th style=\"text-align:left\">plane</th><th>objects</th></tr>{rows}\
         <tr><th style=\"text-align:left\">{planes} planes</th><th>{total}</th></tr></table>{note}"
    );
    let plot = if counts.len() >= 2 {
        objects_per_plane_svg(counts)?
    } else {
        String::new()
    };
    Ok(format!(
        "<div style=\"display:flex;flex-wrap:wrap;align-items:flex-start;gap:16px\"><div>{table}</div><div>{plot}</div></div>"
    ))
}

/// Rows of a results table: a plane's name and its objects.
type Rows = Vec<(String, usize)>;

/// The rows a results table shows: all when few, else the first `TABLE_ROWS - 2` and the
/// last two.
fn head_tail<T>(items: &[T], row: impl Fn(&T) -> (String, usize)) -> (Rows, Rows) {
    if items.len() <= TABLE_ROWS + 2 {
        (items.iter().map(&row).collect(), Vec::new())
    } else {
        (
            items[..TABLE_ROWS - 2].iter().map(&row).collect(),
            items[items.len() - 2..].iter().map(&row).collect(),
        )
    }
}

impl Show for [Segmentation] {
    /// A table (plane, objects) and a plot of objects per plane.
    fn to_html(&self) -> Result<String> {
        let total: u64 = self.iter().map(|s| s.count as u64).sum();
        let (head, tail) = head_tail(self, |s| (s.name.clone(), s.count));
        results_html(self.len(), total, &head, &tail, &plane_counts(self), "")
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

impl Show for Segmentations {
    /// The planes and their objects as a table and a plot, and where the labels and the table
    /// are on disk.
    fn to_html(&self) -> Result<String> {
        let all: Vec<([usize; 3], usize)> = self.counts().collect();
        let row = |(p, n): &([usize; 3], usize)| (crate::segment::plane_name(p[0], p[1], p[2]), *n);
        let (head, tail) = head_tail(&all, row);
        let counts: Vec<PlaneCount> = all
            .iter()
            .map(|&(plane, objects)| PlaneCount { plane, objects })
            .collect();
        let note = format!(
            "<p style=\"text-align:left\">{}</p>",
            html::escape(&self.where_text())
        );
        results_html(
            all.len(),
            self.total_objects(),
            &head,
            &tail,
            &counts,
            &note,
        )
    }
    fn to_text(&self) -> String {
        let mut text = format!("{} planes, {} objects", self.len(), self.total_objects());
        for (p, n) in self.counts().take(TABLE_ROWS) {
            text.push_str(&format!(
                "\n  {}: {n}",
                crate::segment::plane_name(p[0], p[1], p[2])
            ));
        }
        if self.len() > TABLE_ROWS {
            text.push_str(&format!("\n  ... {} more", self.len() - TABLE_ROWS));
        }
        text.push('\n');
        text.push_str(&self.where_text());
        text
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::LabelClass;
    use ndarray::Array5;

    fn probabilities() -> Probabilities {
        // Planes z 0 and 1 empty, z 2 half certain; class 2 the complement.
        let data = Array5::from_shape_fn((1, 4, 6, 6, 2), |(_, z, _, x, c)| {
            let p = if z == 2 && x < 3 { 1.0 } else { 0.0 };
            if c == 0 {
                p
            } else {
                1.0 - p
            }
        });
        let labels = ["nuclei", "background"]
            .iter()
            .map(|n| LabelClass {
                name: n.to_string(),
                color: [0, 0, 0],
            })
            .collect();
        Probabilities { data, labels }
    }

    #[test]
    fn the_busiest_plane_is_where_a_class_varies() {
        let p = probabilities();
        assert_eq!(p.busiest_plane(0).unwrap(), (0, 2));
        assert_eq!(p.busiest_plane(1).unwrap(), (0, 2));
        assert!(p.busiest_plane(2).is_err());
        let flat = Probabilities {
            data: Array5::zeros((1, 5, 2, 2, 1)),
            labels: vec![],
        };
        assert_eq!(
            flat.busiest_plane(0).unwrap(),
            (0, 2),
            "the middle of the stack"
        );
    }

    #[test]
    fn a_probability_map_carries_its_scale_and_plane() {
        let p = probabilities();
        let pic = p.picture(0, 0, 2).unwrap();
        assert_eq!(pic.caption(), "nuclei, t:0, z:2");
        assert_eq!(
            pic.scale(),
            Some(super::super::ColourScale {
                colormap: Colormap::Viridis,
                lo: 0.0,
                hi: 1.0
            })
        );
        let html = Show::to_html(&p).unwrap();
        assert!(html.contains("display:grid"));
        assert!(html.contains("nuclei, t:0, z:2</figcaption>"));
        assert!(html.contains("background, t:0, z:2</figcaption>"));
    }
}
