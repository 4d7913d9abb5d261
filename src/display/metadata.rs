//! How metadata shows: [`Pixels`] like dask's array repr, an [`Image`] and a list of images as
//! tables, a [`Connection`] as one line, a [`Client`] as its task counts, a [`Project`] as what it holds.

use std::fmt::Write as _;

use super::{html, Show};
use crate::classify::Project;
use crate::compute::Client;
use crate::ngff::Pixels;
use crate::omero::{Connection, Image, ImageTable};
use crate::Result;

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

impl Show for Image {
    /// A table: id and name, sizes, pixel type, physical sizes, a row per channel with its colour.
    fn to_html(&self) -> Result<String> {
        let mut h = String::new();
        let _ = write!(
            h,
            "<table><tr><th colspan=2 style=\"text-align:left\">Image {} &mdash; {}</th></tr>",
            self.id,
            html::escape(&self.name)
        );
        let row = |h: &mut String, k: &str, v: String| {
            let _ = write!(h, "<tr><td>{k}</td><td>{}</td></tr>", html::escape(&v));
        };
        row(
            &mut h,
            "size (T, C, Z, Y, X)",
            format!(
                "{}, {}, {}, {}, {}",
                self.size_t, self.size_c, self.size_z, self.size_y, self.size_x
            ),
        );
        row(&mut h, "pixel type", self.pixel_type.clone());
        row(&mut h, "physical size (X, Y, Z)", self.physical_sizes());
        for c in &self.channels {
            let swatch = c.color.map_or(String::new(), |rgba| {
                format!(
                    "<span style=\"display:inline-block;width:0.9em;height:0.9em;background:#{:02X}{:02X}{:02X}\"></span> ",
                    rgba.r, rgba.g, rgba.b
                )
            });
            let _ = write!(
                h,
                "<tr><td>channel {}</td><td>{swatch}{}</td></tr>",
                c.index,
                html::escape(&c.description())
            );
        }
        h.push_str("</table>");
        Ok(h)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

impl Show for ImageTable<'_> {
    /// One table, a row per image, and the count.
    fn to_html(&self) -> Result<String> {
        let mut h = String::from(
            "<table><tr><th>id</th><th>name</th><th>T</th><th>C</th><th>Z</th><th>Y</th><th>X</th><th>type</th></tr>",
        );
        for i in self.0 {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.id,
                html::escape(&i.name),
                i.size_t,
                i.size_c,
                i.size_z,
                i.size_y,
                i.size_x,
                html::escape(&i.pixel_type)
            );
        }
        let _ = write!(
            h,
            "<tr><td colspan=8>{} image{}</td></tr></table>",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        );
        Ok(h)
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

/// A dataset's images (`conn.dataset_images(id)`), as [`ImageTable`].
impl Show for [Image] {
    fn to_html(&self) -> Result<String> {
        ImageTable(self).to_html()
    }
    fn to_text(&self) -> String {
        ImageTable(self).to_text()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

impl Show for Vec<Image> {
    fn to_html(&self) -> Result<String> {
        self.as_slice().to_html()
    }
    fn to_text(&self) -> String {
        self.as_slice().to_text()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

impl Show for Connection {
    /// The connection's one line (host and user, or the catalogue and its counts).
    fn to_html(&self) -> Result<String> {
        Ok(format!(
            "<table><tr><th style=\"text-align:left\">{}</th></tr></table>",
            html::escape(&self.to_string())
        ))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

impl Show for Client {
    /// Workers and task counts: submitted, pending, running, finished, failed.
    fn to_html(&self) -> Result<String> {
        let (submitted, running, finished, failed) = self.counts();
        let pending = submitted.saturating_sub(running + finished);
        Ok(format!(
            "<table><tr><th colspan=2 style=\"text-align:left\">omeflow Client</th></tr>\
             <tr><td>workers</td><td>{}</td></tr><tr><td>submitted</td><td>{submitted}</td></tr>\
             <tr><td>pending</td><td>{pending}</td></tr><tr><td>running</td><td>{running}</td></tr>\
             <tr><td>finished</td><td>{finished}</td></tr><tr><td>failed</td><td>{failed}</td></tr></table>",
            self.workers()
        ))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn text_beside_html(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::omero::{connect, SAMPLE};

    // The texts notebooks show: they must stay as they are.
    #[test]
    fn metadata_tables_are_the_notebooks_texts() {
        let conn = connect(SAMPLE, "", "").unwrap();
        assert_eq!(
            conn.to_html().unwrap(),
            format!(
                "<table><tr><th style=\"text-align:left\">{}</th></tr></table>",
                html::escape(&conn.to_string())
            )
        );
        let image = conn.image(4007801).unwrap();
        assert_eq!(
            image.to_html().unwrap(),
            "<table><tr><th colspan=2 style=\"text-align:left\">Image 4007801 &mdash; omeflow sample: nuclei time-lapse</th></tr>\
             <tr><td>size (T, C, Z, Y, X)</td><td>8, 2, 10, 256, 256</td></tr><tr><td>pixel type</td><td>uint16</td></tr>\
             <tr><td>physical size (X, Y, Z)</td><td>0.4 µm, 0.4 µm, 2 µm</td></tr>\
             <tr><td>channel 0</td><td><span style=\"display:inline-block;width:0.9em;height:0.9em;background:#0000FF\"></span> H2B #0000FFFF</td></tr>\
             <tr><td>channel 1</td><td><span style=\"display:inline-block;width:0.9em;height:0.9em;background:#00FF00\"></span> LaminB1 #00FF00FF</td></tr></table>"
        );
        let images = conn.dataset_images(2).unwrap();
        let row = |id: u64| {
            format!(
                "<tr><td>{id}</td><td>sample nuclei {id}</td><td>1</td><td>2</td><td>72</td><td>80</td><td>80</td><td>uint16</td></tr>"
            )
        };
        let table = format!(
            "<table><tr><th>id</th><th>name</th><th>T</th><th>C</th><th>Z</th><th>Y</th><th>X</th><th>type</th></tr>\
             {}{}<tr><td colspan=8>2 images</td></tr></table>",
            row(1001),
            row(1002)
        );
        assert_eq!(images[..2].to_html().unwrap(), table);
        assert_eq!(ImageTable(&images[..2]).to_html().unwrap(), table);
        assert!(images
            .to_html()
            .unwrap()
            .ends_with("<tr><td colspan=8>3 images</td></tr></table>"));
        // The tables have always shown the HTML alone; the text is Display's.
        assert!(
            !conn.text_beside_html() && !image.text_beside_html() && !images.text_beside_html()
        );
        assert_eq!(Show::to_text(&image), image.to_string());
    }

    #[test]
    fn a_client_shows_its_counts() {
        let client = Client::with_workers(2).unwrap();
        assert_eq!(
            client.to_html().unwrap(),
            "<table><tr><th colspan=2 style=\"text-align:left\">omeflow Client</th></tr>\
             <tr><td>workers</td><td>2</td></tr><tr><td>submitted</td><td>0</td></tr>\
             <tr><td>pending</td><td>0</td></tr><tr><td>running</td><td>0</td></tr>\
             <tr><td>finished</td><td>0</td></tr><tr><td>failed</td><td>0</td></tr></table>"
        );
        assert!(!client.text_beside_html());
    }
}
