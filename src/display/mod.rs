//! How values show in Jupyter (evcxr) and as files: metadata and results as HTML tables, planes
//! and segmentations as PNG pictures, object counts as a plotters chart.
//!
//! This is the one module that writes rich output. evcxr shows the value that ends a cell by
//! compiling `(value).evcxr_display();`, so a trait method is found as soon as the trait is in
//! scope: [`Show`] gives every omeflow value one, and the prelude brings the trait into scope.
//! The domain modules (`omero`, `compute`, `ngff`, `classify`, `store`) hold no HTML and do not
//! know this module; the impls live here:
//!
//! - [`metadata`]: `Pixels`, `Image`, a list of images, `Connection`, `Client`, `Project`;
//! - [`results`]: `Segmentation` (one, or a list as a table and a plot), `Probabilities`;
//! - [`picture`]: `Picture` and `Gallery`;
//! - [`live`]: [`LiveDisplay`], an output replaced in place while a cell runs, and the progress
//!   bar of `compute` (the one display service a domain module calls: `ProgressLine` sends its
//!   bar through it).
//!
//! A cell keeps one output per MIME type, so each value prints one HTML block (pictures embedded
//! as PNG data URLs, plots as SVG), with a plain-text version beside it for the pictures,
//! `Pixels` and results (the metadata tables of images, connections and clients show the HTML
//! alone, see [`Show::text_beside_html`]). All of it goes through [`emit`].
//!
//! ```no_run
//! # use omeflow::prelude::*;
//! # fn main() -> omeflow::Result<()> {
//! let conn = connect(SAMPLE, "", "")?;
//! conn.evcxr_display();                              // what a cell ending in `conn` shows
//! conn.dataset_images(1)?.evcxr_display();           // a table of the dataset's images
//! let image = conn.image(4007801)?;
//! image.evcxr_display();
//! let data = image.pixels(0)?;
//! data.evcxr_display();
//! Client::with_workers(2)?.evcxr_display();
//! let plane = data.plane(0, 0, 0)?;
//! Picture::of_plane(&plane).save_png("plane.png")?;  // the same picture as a file
//! # Ok(()) }
//! ```

pub mod colormap;
pub mod html;
pub mod live;
pub mod metadata;
pub mod picture;
pub mod plot;
pub mod results;

use std::io::Write;
use std::path::Path;

pub use colormap::{label_colour, Colormap};
pub use live::{live_available, GrowingPlot, LiveDisplay, PlotSoFar};
pub use picture::{auto_range, ColourScale, Gallery, Picture};
pub use plot::{objects_per_plane_svg, PlaneCount};
pub use results::{save_objects_plot, save_probability_png};

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

    /// Whether [`Show::evcxr_display`] sends [`Show::to_text`] beside the HTML (as `text/plain`).
    /// True but for the metadata tables (`Image`, image lists, `Connection`, `Client`), which
    /// have always shown the HTML alone.
    fn text_beside_html(&self) -> bool {
        true
    }

    /// What evcxr calls on the value that ends a cell.
    fn evcxr_display(&self) {
        match Show::to_html(self) {
            Ok(html) => emit("text/html", &html),
            Err(e) => emit("text/plain", &format!("(could not draw this value: {e})")),
        }
        if self.text_beside_html() {
            emit("text/plain", &self.to_text());
        }
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
