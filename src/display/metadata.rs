//! How metadata shows: [`Pixels`] like dask's array repr, a [`Project`] as what it holds.

use super::{html, Show};
use crate::classify::Project;
use crate::ngff::Pixels;
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
        let forests = match &self.classifier {
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
            match &self.classifier {
                Some(c) => format!("{} forests", c.forests.len()),
                None => "no classifier".into(),
            }
        )
    }
}
