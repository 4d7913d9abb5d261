//! How values show in Jupyter (evcxr) and as files: metadata and results as HTML tables, planes
//! and segmentations as PNG pictures, object counts as a plotters chart.
//!
//! evcxr shows the value that ends a cell through its `evcxr_display` method; [`Show`] gives
//! every omeflow value one, and the prelude brings the trait into scope. A cell keeps one output
//! per MIME type, so each value prints one HTML block (pictures embedded as PNG data URLs, plots
//! as SVG) plus a plain-text version for consoles and text-only viewers.
//!
//! ```no_run
//! # use omeflow::prelude::*;
//! # fn main() -> omeflow::Result<()> {
//! let data = open_image("sample.ome.zarr")?.level(0)?;
//! data.evcxr_display();                              // what a cell ending in `data` shows
//! let plane = data.plane(0, 0, 0)?;
//! Picture::of_plane(&plane).save_png("plane.png")?;  // the same picture as a file
//! # Ok(()) }
//! ```

pub mod colormap;
pub mod html;
pub mod picture;
pub mod plot;

use std::io::Write;
use std::path::Path;

pub use colormap::{label_colour, Colormap};
pub use picture::{auto_range, Gallery, Picture};
pub use plot::{objects_per_plane_svg, PlaneCount};

use crate::classify::{Probabilities, Project};
use crate::ngff::Pixels;
use crate::segment::Segmentation;
use crate::Result;

/// Print one rich-output block the way evcxr expects it on stdout.
pub fn emit(mime: &str, content: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed stdout (a notebook shutting down) is not worth a panic in a display call.
    let _ = writeln!(
        out,
        "EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT"
    );
    let _ = out.flush();
}

/// A value that shows itself in a notebook as HTML, and as text elsewhere.
pub trait Show {
    /// The HTML block a notebook shows.
    fn to_html(&self) -> Result<String>;

    /// A plain-text version (terminals, text-only notebook viewers).
    fn to_text(&self) -> String;

    /// What evcxr calls on the value that ends a cell.
    fn evcxr_display(&self) {
        match Show::to_html(self) {
            Ok(html) => emit("text/html", &html),
            Err(e) => emit("text/plain", &format!("(could not draw this value: {e})")),
        }
        emit("text/plain", &self.to_text());
    }

    /// Write the HTML block to a file (a page that opens in any browser).
    fn save_html(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{}</body></html>",
            Show::to_html(self)?
        );
        crate::output::write_file(path, page.as_bytes())
    }
}

impl Show for Picture {
    fn to_html(&self) -> Result<String> {
        Picture::to_html(self)
    }
    fn to_text(&self) -> String {
        format!(
            "picture {} x {} {}",
            self.width(),
            self.height(),
            self.caption()
        )
    }
}

impl Show for Gallery {
    fn to_html(&self) -> Result<String> {
        Gallery::to_html(self)
    }
    fn to_text(&self) -> String {
        format!("{} pictures", self.0.len())
    }
}

fn tuple(v: &[usize]) -> String {
    let parts: Vec<String> = v.iter().map(|n| n.to_string()).collect();
    format!("({})", parts.join(", "))
}

impl Show for Pixels {
    /// Like dask's array repr: sizes of the whole level and of one chunk, shape, chunk count,
    /// type, and where the level sits among the image's levels.
    fn to_html(&self) -> Result<String> {
        let shape = self.shape();
        let chunks = self.chunks();
        let chunk_bytes = chunks.iter().product::<usize>() as u64 * self.dtype().size() as u64;
        let count: usize = shape
            .iter()
            .zip(chunks.iter())
            .map(|(s, c)| s.div_ceil((*c).max(1)))
            .product();
        let cell = |v: String| format!("<td style=\"text-align:left\">{v}</td>");
        let row = |k: &str, a: String, b: String| {
            format!(
                "<tr><th style=\"text-align:left\">{k}</th>{}{}</tr>",
                cell(a),
                cell(b)
            )
        };
        Ok(format!(
            "<table><tr><td></td><th style=\"text-align:left\">Level</th><th style=\"text-align:left\">Chunk</th></tr>{}{}{}{}{}{}</table>",
            row("Bytes", html::bytes(self.nbytes()), html::bytes(chunk_bytes)),
            row("Shape (t, c, z, y, x)", tuple(&shape), tuple(&chunks)),
            row("Count", format!("{count} chunks"), format!("{} planes", self.plane_count())),
            row("Type", self.dtype().name().to_string(), "OME-Zarr".into()),
            row("Level", format!("{} of {}", self.level(), self.level_count()), String::new()),
            row("Location", html::escape(&self.location()), String::new()),
        ))
    }
    fn to_text(&self) -> String {
        format!(
            "Pixels {} {} (t, c, z, y, x), chunks {}, {}, level {} of {}, {}",
            tuple(&self.shape()),
            self.dtype().name(),
            tuple(&self.chunks()),
            html::bytes(self.nbytes()),
            self.level(),
            self.level_count(),
            self.location()
        )
    }
}

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
        Ok(Picture::mapped(&plane, Colormap::Viridis, Some((0.0, 1.0)))
            .with_caption(format!("{name}, t:{t}, z:{z}")))
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

impl Show for Project {
    /// What the project holds: classes with their colours, the feature selection, the forests.
    fn to_html(&self) -> Result<String> {
        let classes: Vec<String> = self
            .labels
            .iter()
            .map(|l| {
                let [r, g, b] = l.color;
                format!(
                    "<span style=\"display:inline-block;width:10px;height:10px;background:rgb({r},{g},{b})\"></span> {}",
                    html::escape(&l.name)
                )
            })
            .collect();
        let mut features = String::new();
        for (f, row) in self.features.ids.iter().zip(&self.features.matrix) {
            let scales: Vec<String> = row
                .iter()
                .zip(&self.features.scales)
                .filter(|(on, _)| **on)
                .map(|(_, s)| s.to_string())
                .collect();
            if !scales.is_empty() {
                features.push_str(&format!("{f:?} ({})<br/>", scales.join(", ")));
            }
        }
        let forests = match self.classifier().ok() {
            Some(c) => format!(
                "{} forests, {} trees, {} feature columns",
                c.forests.len(),
                c.forests.iter().map(|f| f.trees.len()).sum::<usize>(),
                c.n_features()
            ),
            None => "none (train one with <code>project.train(...)</code>)".into(),
        };
        Ok(format!(
            "<table>{}{}{}{}{}</table>",
            html::row(
                "ilastik project",
                &html::escape(&self.path.display().to_string())
            ),
            html::row("ilastik version", &html::escape(&self.ilastik_version)),
            html::row("classes", &classes.join("<br/>")),
            html::row("features (scales)", &features),
            html::row("classifier", &forests),
        ))
    }
    fn to_text(&self) -> String {
        let names: Vec<&str> = self.labels.iter().map(|l| l.name.as_str()).collect();
        format!(
            "ilastik project {} ({}): classes {}; {} features; {}",
            self.path.display(),
            self.ilastik_version,
            names.join(", "),
            self.feature_names.len(),
            match self.classifier().ok() {
                Some(c) => format!("{} forests", c.forests.len()),
                None => "no classifier".into(),
            }
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
        let counts: Vec<PlaneCount> = self
            .iter()
            .filter_map(|s| {
                s.plane.map(|plane| PlaneCount {
                    plane,
                    objects: s.count,
                })
            })
            .collect();
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

/// Write the objects-per-plane plot of `results` to an SVG file.
pub fn save_objects_plot(results: &[Segmentation], path: impl AsRef<Path>) -> Result<()> {
    let counts: Vec<PlaneCount> = results
        .iter()
        .filter_map(|s| {
            s.plane.map(|plane| PlaneCount {
                plane,
                objects: s.count,
            })
        })
        .collect();
    let path = path.as_ref();
    crate::output::write_file(path, objects_per_plane_svg(&counts)?.as_bytes())
}
