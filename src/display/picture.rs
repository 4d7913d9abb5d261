//! Pictures: a plane with a contrast stretch, a label overlay, a probability map; PNG files,
//! and HTML for Jupyter.

use std::path::Path;

use base64::Engine;
use ndarray::{ArrayBase, Data, Ix2};

use super::colormap::{label_colour, Colormap};
use super::Show;
use crate::ngff::{AnyArray, Element};
use crate::{Error, Result};

/// Pictures wider or taller than this are shown in notebooks at a reduced size (files keep every
/// pixel): a full-size 2048 x 2169 plane would otherwise put megabytes into the notebook.
pub const DISPLAY_MAX: usize = 1024;
/// Small planes (IDR level 4 is 128 x 135) are enlarged to at least this size for display.
pub const DISPLAY_MIN: usize = 384;
/// The longest side of a picture in a [`Gallery`]: thumbnails, four to a row in a notebook.
pub const THUMBNAIL: usize = 256;
/// Gap between a gallery's thumbnails, in CSS pixels.
const GALLERY_GAP: usize = 12;

/// What a picture's colours mean: values `lo..hi` through a colormap. Shown as a colour bar with
/// ticks under the picture in notebooks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColourScale {
    /// The colormap the values went through.
    pub colormap: Colormap,
    /// The value drawn as the colormap's first colour.
    pub lo: f64,
    /// The value drawn as the colormap's last colour.
    pub hi: f64,
}

/// An RGB picture with a caption: what a plane, a segmentation or a probability map looks like.
///
/// ```
/// use ndarray::Array2;
/// use omeflow::display::Picture;
/// let plane = Array2::<u16>::from_shape_fn((64, 80), |(y, x)| (x * y) as u16);
/// let pic = Picture::grey(&plane).with_caption("a ramp");
/// assert_eq!((pic.width(), pic.height()), (80, 64));
/// let png = pic.to_png().unwrap();
/// assert_eq!(&png[1..4], b"PNG");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
    caption: String,
    scale: Option<ColourScale>,
}

/// The intensity range a contrast stretch maps to black..white: the 0.5 and 99.5 percentiles,
/// so a few hot pixels do not leave the rest of the plane dark. Falls back to min..max when
/// those coincide; `None` when there is no finite value.
pub fn auto_range<T: Element, S: Data<Elem = T>>(plane: &ArrayBase<S, Ix2>) -> Option<(f64, f64)> {
    // A sample of at most 2^16 values keeps this cheap on full-size planes.
    let step = (plane.len() / 65_536).max(1);
    let mut values: Vec<f64> = plane
        .iter()
        .step_by(step)
        .map(|v| v.to_f64())
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.005), at(0.995));
    if hi > lo {
        Some((lo, hi))
    } else {
        Some((values[0], values[values.len() - 1]))
    }
}

impl Picture {
    /// A picture from raw RGB bytes (row-major, 3 bytes per pixel).
    pub fn from_rgb(width: usize, height: usize, rgb: Vec<u8>) -> Result<Self> {
        let need = width.checked_mul(height).and_then(|n| n.checked_mul(3));
        if need != Some(rgb.len()) {
            return Err(Error::InvalidArgument(format!(
                "{} RGB bytes do not make a {width} x {height} picture (need {})",
                rgb.len(),
                need.map_or_else(|| "more than memory holds".to_string(), |n| n.to_string())
            )));
        }
        Ok(Self {
            width,
            height,
            rgb,
            caption: String::new(),
            scale: None,
        })
    }

    /// A plane in grey with an automatic contrast stretch ([`auto_range`]).
    pub fn grey<T: Element, S: Data<Elem = T>>(plane: &ArrayBase<S, Ix2>) -> Self {
        Self::mapped(plane, Colormap::Grey, None)
    }

    /// A plane through a colormap, over `range` (values outside are clamped) or, with `None`,
    /// over the automatic contrast range.
    pub fn mapped<T: Element, S: Data<Elem = T>>(
        plane: &ArrayBase<S, Ix2>,
        colormap: Colormap,
        range: Option<(f64, f64)>,
    ) -> Self {
        let (height, width) = plane.dim();
        let (lo, hi) = range.or_else(|| auto_range(plane)).unwrap_or((0.0, 1.0));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mut rgb = Vec::with_capacity(width * height * 3);
        for v in plane.iter() {
            rgb.extend_from_slice(&colormap.colour((v.to_f64() - lo) / span));
        }
        Self {
            width,
            height,
            rgb,
            caption: String::new(),
            scale: None,
        }
    }

    /// A plane of any pixel type, in grey with an automatic contrast stretch.
    pub fn of_plane(plane: &AnyArray<Ix2>) -> Self {
        match plane {
            AnyArray::U8(p) => Self::grey(p),
            AnyArray::U16(p) => Self::grey(p),
            AnyArray::U32(p) => Self::grey(p),
            AnyArray::I8(p) => Self::grey(p),
            AnyArray::I16(p) => Self::grey(p),
            AnyArray::I32(p) => Self::grey(p),
            AnyArray::F32(p) => Self::grey(p),
            AnyArray::F64(p) => Self::grey(p),
        }
    }

    /// A black picture of labels in distinct colours.
    pub fn labels<S: Data<Elem = i32>>(labels: &ArrayBase<S, Ix2>) -> Self {
        let (height, width) = labels.dim();
        Self {
            width,
            height,
            rgb: vec![0; width * height * 3],
            caption: String::new(),
            scale: None,
        }
        .overlay(labels)
    }

    /// This picture with `labels` painted over it: each object outlined in its own solid
    /// colour and tinted lightly inside, so the nucleus under it stays visible. The outline is
    /// one pixel wide per 256 pixels of the picture's longest side (at least one), so it
    /// survives a reduction to a thumbnail. Labels of another size are scaled to fit.
    pub fn overlay<S: Data<Elem = i32>>(mut self, labels: &ArrayBase<S, Ix2>) -> Self {
        let (lh, lw) = labels.dim();
        if lh == 0 || lw == 0 || self.width == 0 || self.height == 0 {
            return self;
        }
        let (h, w) = (self.height, self.width);
        let at = |y: usize, x: usize| -> i32 {
            labels[[(y * lh / h).min(lh - 1), (x * lw / w).min(lw - 1)]]
        };
        let thick = (w.max(h) / 256).max(1);
        for y in 0..h {
            for x in 0..w {
                let l = at(y, x);
                if l <= 0 {
                    continue;
                }
                // On the outline when another label (or the edge) is within `thick` pixels.
                let border = (1..=thick).any(|d| {
                    y < d
                        || at(y - d, x) != l
                        || y + d >= h
                        || at(y + d, x) != l
                        || x < d
                        || at(y, x - d) != l
                        || x + d >= w
                        || at(y, x + d) != l
                });
                let alpha = if border { 1.0 } else { 0.2 };
                let colour = label_colour(l as i64);
                let px = &mut self.rgb[(y * w + x) * 3..][..3];
                for k in 0..3 {
                    px[k] = (px[k] as f64 * (1.0 - alpha) + colour[k] as f64 * alpha).round() as u8;
                }
            }
        }
        self
    }

    /// The same picture marked as values `lo..hi` through `colormap`: notebooks show a colour
    /// bar with ticks under it.
    pub fn with_scale(mut self, colormap: Colormap, lo: f64, hi: f64) -> Self {
        self.scale = Some(ColourScale { colormap, lo, hi });
        self
    }

    /// The colour scale, when the picture has one ([`Picture::with_scale`]).
    pub fn scale(&self) -> Option<ColourScale> {
        self.scale
    }

    /// The same picture with a caption (shown under it in notebooks).
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = caption.into();
        self
    }

    /// The same picture with `prefix` before its caption (`image 1001: Label 1, t:0, z:36`).
    pub fn with_caption_prefix(mut self, prefix: &str) -> Self {
        self.caption = if self.caption.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}: {}", self.caption)
        };
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The caption.
    pub fn caption(&self) -> &str {
        &self.caption
    }

    /// The RGB bytes, row-major.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Nearest-neighbour resampling by an integer factor up (`factor > 0`) or down (`< 0`).
    fn rescaled(&self, up: usize, down: usize) -> Picture {
        let (w, h) = (
            (self.width * up).div_ceil(down),
            (self.height * up).div_ceil(down),
        );
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            let sy = (y * down / up).min(self.height - 1);
            for x in 0..w {
                let sx = (x * down / up).min(self.width - 1);
                rgb.extend_from_slice(&self.rgb[(sy * self.width + sx) * 3..][..3]);
            }
        }
        Picture {
            width: w,
            height: h,
            rgb,
            caption: self.caption.clone(),
            scale: self.scale,
        }
    }

    /// Reduction by a whole factor, each pixel the mean of its block (a thumbnail of a large
    /// plane keeps thin outlines and small nuclei as tints, where sampling would drop them).
    fn reduced(&self, down: usize) -> Picture {
        let (w, h) = (self.width.div_ceil(down), self.height.div_ceil(down));
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let mut sum = [0usize; 3];
                let mut n = 0;
                for sy in y * down..((y + 1) * down).min(self.height) {
                    for sx in x * down..((x + 1) * down).min(self.width) {
                        let px = &self.rgb[(sy * self.width + sx) * 3..][..3];
                        sum.iter_mut().zip(px).for_each(|(s, &v)| *s += v as usize);
                        n += 1;
                    }
                }
                rgb.extend(sum.iter().map(|&s| (s / n.max(1)) as u8));
            }
        }
        Picture {
            width: w,
            height: h,
            rgb,
            caption: self.caption.clone(),
            scale: self.scale,
        }
    }

    /// The picture at thumbnail size: the longest side at most `size`, small pictures enlarged
    /// by the largest whole factor that fits (pixels stay crisp), large ones reduced by block
    /// means.
    pub fn thumbnail(&self, size: usize) -> Picture {
        let longest = self.width.max(self.height);
        if longest == 0 || size == 0 {
            return self.clone();
        }
        if longest <= size {
            self.rescaled((size / longest).max(1), 1)
        } else {
            self.reduced(longest.div_ceil(size))
        }
    }

    /// The picture at the size a notebook shows: small planes enlarged by a whole factor (pixels
    /// stay crisp), large ones reduced to at most [`DISPLAY_MAX`].
    pub fn for_display(&self) -> Picture {
        let longest = self.width.max(self.height);
        if longest == 0 {
            return self.clone();
        }
        if longest < DISPLAY_MIN {
            self.rescaled(DISPLAY_MIN.div_ceil(longest), 1)
        } else if longest > DISPLAY_MAX {
            self.rescaled(1, longest.div_ceil(DISPLAY_MAX))
        } else {
            self.clone()
        }
    }

    /// PNG bytes (8-bit RGB).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::InvalidArgument(format!(
                "a {} x {} picture has no pixels to write as PNG",
                self.width, self.height
            )));
        }
        let mut out = Vec::new();
        let fail = |e: png::EncodingError| Error::Internal(format!("encoding PNG: {e}"));
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(fail)?;
            writer.write_image_data(&self.rgb).map_err(fail)?;
            writer.finish().map_err(fail)?;
        }
        Ok(out)
    }

    /// Write the picture, every pixel, to a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_png()?;
        crate::output::write_file(path, &bytes)
    }

    /// An HTML `<figure>` with the picture (at display size) embedded as a PNG data URL, its
    /// colour bar (when it has a scale) and its caption.
    pub fn to_html(&self) -> Result<String> {
        self.figure_html(&self.for_display(), "display:inline-block;margin:4px")
    }

    /// A figure of `shown` (this picture at some size), with this picture's scale and caption.
    fn figure_html(&self, shown: &Picture, style: &str) -> Result<String> {
        let caption = if self.caption.is_empty() {
            String::new()
        } else {
            format!(
                "<figcaption style=\"font-size:12px;line-height:1.3;overflow-wrap:anywhere;max-width:{}px\">{}</figcaption>",
                shown.width.max(160),
                super::html::escape(&self.caption)
            )
        };
        if shown.width == 0 || shown.height == 0 {
            return Ok(format!(
                "<figure style=\"{style}\">(empty picture){caption}</figure>"
            ));
        }
        let data = base64::engine::general_purpose::STANDARD.encode(shown.to_png()?);
        let bar = self
            .scale
            .map_or_else(String::new, |s| colour_bar_html(s, shown.width));
        Ok(format!(
            "<figure style=\"{style}\"><img src=\"data:image/png;base64,{data}\" \
             width=\"{}\" height=\"{}\" style=\"image-rendering:pixelated;display:block\" alt=\"{}\"/>{bar}{caption}</figure>",
            shown.width,
            shown.height,
            super::html::escape(&self.caption)
        ))
    }
}

/// A horizontal colour bar `width` px wide with five ticks from `lo` to `hi`.
fn colour_bar_html(scale: ColourScale, width: usize) -> String {
    let stops: Vec<String> = (0..=8)
        .map(|i| {
            let [r, g, b] = scale.colormap.colour(i as f64 / 8.0);
            format!("rgb({r},{g},{b}) {}%", i * 100 / 8)
        })
        .collect();
    let ticks: String = (0..=4)
        .map(|i| {
            let v = scale.lo + (scale.hi - scale.lo) * i as f64 / 4.0;
            let (left, shift) = (i * 25, if i == 0 { 0 } else if i == 4 { 100 } else { 50 });
            format!(
                "<span style=\"position:absolute;left:{left}%;transform:translateX(-{shift}%)\">{}</span>",
                tick(v)
            )
        })
        .collect();
    format!(
        "<div style=\"width:{width}px;margin-top:4px\">\
         <div style=\"height:10px;background:linear-gradient(to right,{});border:1px solid #999;box-sizing:border-box\"></div>\
         <div style=\"position:relative;height:14px;font-size:11px;line-height:14px\">{ticks}</div></div>",
        stops.join(",")
    )
}

/// `0`, `0.25`, `1`, `4500`: a tick label without trailing zeros.
fn tick(v: f64) -> String {
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Several pictures shown together: evcxr keeps one output per MIME type per cell, so many
/// pictures must travel in one HTML block.
///
/// ```no_run
/// # use omeflow::prelude::*;
/// # fn main() -> omeflow::Result<()> {
/// # let results: Vec<Segmentation> = vec![];
/// let gallery: Gallery = results.iter().take(4).map(|s| s.picture()).collect();
/// gallery.save_png("pictures")?;   // pictures/t0_c0_z5.png, ...
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gallery(pub Vec<Picture>);

impl FromIterator<Picture> for Gallery {
    fn from_iter<I: IntoIterator<Item = Picture>>(iter: I) -> Self {
        Gallery(iter.into_iter().collect())
    }
}

impl Gallery {
    /// Write each picture to `dir/<caption>.png` (numbered when captionless) and return the
    /// paths, tidied for printing ([`crate::output::tidy_path`]: absolute, no `.` or `..`).
    /// The folder is created when missing.
    pub fn save_png(&self, dir: impl AsRef<Path>) -> Result<Vec<std::path::PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut paths = Vec::with_capacity(self.0.len());
        for (i, pic) in self.0.iter().enumerate() {
            let stem = file_stem(pic.caption()).unwrap_or_else(|| format!("picture_{i:04}"));
            let path = dir.join(format!("{stem}.png"));
            pic.save_png(&path)?;
            paths.push(crate::output::tidy_path(&path));
        }
        Ok(paths)
    }

    /// All pictures in one HTML block: a grid of thumbnails ([`THUMBNAIL`] px, up to four to a
    /// row), each with its colour bar and caption.
    pub fn to_html(&self) -> Result<String> {
        let columns = self.0.len().clamp(1, 4);
        let mut html = format!(
            "<div style=\"display:grid;grid-template-columns:repeat(auto-fill,{THUMBNAIL}px);\
             gap:{GALLERY_GAP}px;max-width:{}px;align-items:start\">",
            columns * THUMBNAIL + (columns - 1) * GALLERY_GAP
        );
        for pic in &self.0 {
            html.push_str(&pic.figure_html(&pic.thumbnail(THUMBNAIL), "margin:0")?);
        }
        html.push_str("</div>");
        Ok(html)
    }
}

/// `t:0, c:1, z:17` -> `t0_c1_z17`: captions as file names, without spaces or separators.
fn file_stem(caption: &str) -> Option<String> {
    let mut stem = String::new();
    for ch in caption.chars() {
        if ch.is_ascii_alphanumeric() || ch == '-' {
            stem.push(ch);
        } else if matches!(ch, ',' | ' ' | '_' | '/') && !stem.is_empty() && !stem.ends_with('_') {
            stem.push('_');
        }
    }
    let stem = stem.trim_end_matches('_').to_string();
    (!stem.is_empty()).then_some(stem)
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn contrast_stretch_ignores_hot_pixels() {
        let mut plane = Array2::<u16>::from_shape_fn((100, 100), |(y, _)| 100 + y as u16);
        plane[[0, 0]] = 60_000;
        let (lo, hi) = auto_range(&plane).unwrap();
        assert!(lo >= 100.0 && hi <= 199.0, "{lo}..{hi}");
        let pic = Picture::grey(&plane);
        assert_eq!(pic.rgb()[(99 * 100 + 50) * 3], 255);
        assert_eq!(pic.rgb()[50 * 3], 0);
    }

    #[test]
    fn flat_and_empty_planes_do_not_fail() {
        let flat = Array2::<f32>::from_elem((4, 4), 7.0);
        assert_eq!(Picture::grey(&flat).rgb().len(), 48);
        let nan = Array2::<f64>::from_elem((2, 2), f64::NAN);
        assert!(auto_range(&nan).is_none());
        assert_eq!(Picture::grey(&nan).rgb(), &[0u8; 12][..]);
        let empty = Array2::<u8>::zeros((0, 0));
        let pic = Picture::grey(&empty);
        assert!(pic.to_html().is_ok());
    }

    #[test]
    fn overlay_colours_objects_and_keeps_background() {
        let plane = Array2::<u8>::from_elem((8, 8), 128);
        let mut labels = Array2::<i32>::zeros((8, 8));
        labels.slice_mut(ndarray::s![2..6, 2..6]).fill(1);
        let pic = Picture::grey(&plane).overlay(&labels);
        assert_eq!(&pic.rgb()[0..3], &[0, 0, 0]); // flat plane maps to black
        assert_ne!(&pic.rgb()[(4 * 8 + 4) * 3..][..3], &[0, 0, 0]);
        // The outline is the label's colour; the inside only tinted, the plane showing through.
        assert_eq!(&pic.rgb()[(2 * 8 + 3) * 3..][..3], &label_colour(1));
        let inside = &pic.rgb()[(3 * 8 + 3) * 3..][..3];
        let c = label_colour(1);
        assert!(
            (0..3).all(|k| inside[k] as f64 <= c[k] as f64 * 0.2 + 1.0),
            "{inside:?}"
        );
        // A large picture gets a thicker outline: 512 px -> 2 px.
        let big = Picture::from_rgb(512, 512, vec![0; 512 * 512 * 3]).unwrap();
        let mut labels = Array2::<i32>::zeros((512, 512));
        labels.slice_mut(ndarray::s![100..200, 100..200]).fill(3);
        let pic = big.overlay(&labels);
        assert_eq!(&pic.rgb()[(150 * 512 + 101) * 3..][..3], &label_colour(3));
        assert_ne!(&pic.rgb()[(150 * 512 + 102) * 3..][..3], &label_colour(3));
    }

    #[test]
    fn display_size_enlarges_small_and_reduces_large() {
        let small = Picture::from_rgb(135, 128, vec![0; 135 * 128 * 3]).unwrap();
        let shown = small.for_display();
        assert_eq!((shown.width(), shown.height()), (405, 384));
        let large = Picture::from_rgb(2169, 2048, vec![0; 2169 * 2048 * 3]).unwrap();
        assert!(large.for_display().width() <= DISPLAY_MAX);
    }

    #[test]
    fn png_round_trips() {
        let pic = Picture::from_rgb(3, 2, (0..18).collect()).unwrap();
        let png = pic.to_png().unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&buf[..18], pic.rgb());
    }

    #[test]
    fn a_gallery_is_a_grid_of_thumbnails() {
        let big = Picture::from_rgb(512, 400, vec![90; 512 * 400 * 3])
            .unwrap()
            .with_caption("t:0, c:0, z:5: 3 objects");
        let small = Picture::from_rgb(80, 80, vec![10; 80 * 80 * 3]).unwrap();
        let gallery = Gallery(vec![big.clone(), small.clone(), big, small]);
        let html = gallery.to_html().unwrap();
        assert!(html.starts_with(
            "<div style=\"display:grid;grid-template-columns:repeat(auto-fill,256px);"
        ));
        assert!(
            html.contains("max-width:1060px"),
            "four columns: {html:.300}"
        );
        assert_eq!(html.matches("<figure").count(), 4);
        // 512 x 400 halves to 256 x 200; 80 x 80 triples to 240 x 240.
        assert!(html.contains("width=\"256\" height=\"200\""));
        assert!(html.contains("width=\"240\" height=\"240\""));
        assert!(html.contains("<figcaption style=\"font-size:12px"));
        assert!(html.contains("t:0, c:0, z:5: 3 objects</figcaption>"));
        assert!(Gallery(vec![]).to_html().is_ok());
    }

    #[test]
    fn a_prefix_goes_before_the_caption() {
        let pic = Picture::from_rgb(1, 1, vec![0; 3]).unwrap();
        assert_eq!(
            pic.clone().with_caption_prefix("image 1").caption(),
            "image 1"
        );
        let pic = pic
            .with_caption("Label 1, t:0, z:3")
            .with_caption_prefix("image 1");
        assert_eq!(pic.caption(), "image 1: Label 1, t:0, z:3");
    }

    #[test]
    fn thumbnails_average_blocks() {
        let pic = Picture::from_rgb(2, 1, vec![0, 0, 0, 200, 100, 50]).unwrap();
        assert_eq!(pic.thumbnail(1).rgb(), &[100, 50, 25]);
        assert_eq!(pic.thumbnail(4).width(), 4);
    }

    #[test]
    fn a_scale_shows_as_a_colour_bar_with_ticks() {
        let plane = Array2::<f32>::from_shape_fn((4, 8), |(_, x)| x as f32 / 7.0);
        let pic = Picture::mapped(&plane, Colormap::Viridis, Some((0.0, 1.0))).with_scale(
            Colormap::Viridis,
            0.0,
            1.0,
        );
        let html = pic.to_html().unwrap();
        assert!(
            html.contains("linear-gradient(to right,rgb(68,1,84) 0%"),
            "{html}"
        );
        for t in [">0<", ">0.25<", ">0.5<", ">0.75<", ">1<"] {
            assert!(html.contains(t), "tick {t} in {html}");
        }
        assert!(!Picture::grey(&plane)
            .to_html()
            .unwrap()
            .contains("gradient"));
        assert_eq!(tick(4500.0), "4500");
        assert_eq!(tick(-0.0), "0");
    }

    #[test]
    fn captions_make_file_names() {
        assert_eq!(file_stem("t:0, c:1, z:17").as_deref(), Some("t0_c1_z17"));
        assert_eq!(file_stem(":::"), None);
    }
}
