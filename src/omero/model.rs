//! What a connection answers: [`Image`] with its [`Channel`]s, parsed from OMERO's JSON or built
//! from an OME-Zarr image's own metadata, and how both print as text (`omeflow::display` shows
//! them in a notebook).

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::ngff::{OmeZarr, Pixels};
use crate::store::StoreOptions;
use crate::{Error, Result};

/// A colour as red, green, blue, alpha.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgba {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Rgba {
    /// From OMERO's signed 32-bit RGBA integer (`65535` is opaque blue, `-16776961` opaque red).
    pub fn from_omero(value: i64) -> Self {
        // The server sends the bits of an i32; some clients store them as u32, so take the low 32 bits.
        let bits = value as u32;
        let [r, g, b, a] = bits.to_be_bytes();
        Self { r, g, b, a }
    }

    /// From six (`RRGGBB`, opaque) or eight (`RRGGBBAA`) hex digits, as NGFF's `omero` block writes them.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim_start_matches('#');
        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        match hex.len() {
            6 => Some(Self {
                r: byte(0)?,
                g: byte(2)?,
                b: byte(4)?,
                a: 255,
            }),
            8 => Some(Self {
                r: byte(0)?,
                g: byte(2)?,
                b: byte(4)?,
                a: byte(6)?,
            }),
            _ => None,
        }
    }

    /// `RRGGBBAA`.
    pub fn hex(&self) -> String {
        format!("{:02X}{:02X}{:02X}{:02X}", self.r, self.g, self.b, self.a)
    }
}

impl fmt::Display for Rgba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.hex())
    }
}

impl Serialize for Rgba {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

/// A physical length: a value and its unit symbol (e.g. `0.4 µm`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Length {
    pub value: f64,
    pub unit: String,
}

impl fmt::Display for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

/// One channel of an image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Channel {
    /// Position in the image, from 0.
    pub index: usize,
    /// The channel's name (OMERO `Name`, NGFF `label`), where given.
    pub name: Option<String>,
    /// Display colour, where given.
    pub color: Option<Rgba>,
    /// Emission wavelength in nanometres, where given.
    pub emission_wavelength: Option<f64>,
}

impl Channel {
    /// The name, or the index when the channel has none.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }

    /// The label, colour and emission wavelength, where given (`LaminB1 #00FF00FF em 520 nm`).
    pub(crate) fn description(&self) -> String {
        let mut s = self.label();
        if let Some(rgba) = self.color {
            let _ = write!(s, " {rgba}");
        }
        if let Some(w) = self.emission_wavelength {
            let _ = write!(s, " em {w} nm");
        }
        s
    }
}

/// Where an image's OME-Zarr pixels are.
#[derive(Clone, Debug)]
pub(crate) enum PixelSource {
    /// An image of the local catalogue.
    Local(PathBuf),
    /// Found by trying URL templates in order (`{id}`, `{study}`); shared by a server's images.
    Templates(Arc<Templates>),
}

#[derive(Debug)]
pub(crate) struct Templates {
    pub(crate) templates: Vec<String>,
    pub(crate) study: Option<String>,
    pub(crate) store: StoreOptions,
}

/// An image's metadata, as `conn.image(id)` answers it; `pixels(level)` opens its OME-Zarr data.
///
/// Sizes follow OMERO: T, C, Z, then Y and X of the full-resolution level.
#[derive(Clone, Debug, Serialize)]
pub struct Image {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) size_t: usize,
    pub(crate) size_c: usize,
    pub(crate) size_z: usize,
    pub(crate) size_y: usize,
    pub(crate) size_x: usize,
    pub(crate) pixel_type: String,
    pub(crate) physical_size_x: Option<Length>,
    pub(crate) physical_size_y: Option<Length>,
    pub(crate) physical_size_z: Option<Length>,
    pub(crate) channels: Vec<Channel>,
    /// Candidate study folders for `{study}` (IDR), from the image's project or screen.
    #[serde(skip)]
    pub(crate) studies: Vec<String>,
    #[serde(skip)]
    pub(crate) source: PixelSource,
}

impl Image {
    /// The image id (OMERO's, or the catalogue's).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The image name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of time points.
    pub fn size_t(&self) -> usize {
        self.size_t
    }
    /// Number of channels.
    pub fn size_c(&self) -> usize {
        self.size_c
    }
    /// Number of z sections.
    pub fn size_z(&self) -> usize {
        self.size_z
    }
    /// Height in pixels at full resolution.
    pub fn size_y(&self) -> usize {
        self.size_y
    }
    /// Width in pixels at full resolution.
    pub fn size_x(&self) -> usize {
        self.size_x
    }
    /// OMERO's pixel type name: `uint8`, `uint16`, `uint32`, `int8`, `int16`, `int32`, `float`, `double`.
    pub fn pixel_type(&self) -> &str {
        &self.pixel_type
    }
    /// Physical pixel width, where known.
    pub fn physical_size_x(&self) -> Option<&Length> {
        self.physical_size_x.as_ref()
    }
    /// Physical pixel height, where known.
    pub fn physical_size_y(&self) -> Option<&Length> {
        self.physical_size_y.as_ref()
    }
    /// Physical z step, where known.
    pub fn physical_size_z(&self) -> Option<&Length> {
        self.physical_size_z.as_ref()
    }
    /// The channels. Images listed by `dataset_images` on a server carry none (the JSON API does
    /// not list them); `conn.image(id)` gives them.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Every (t, c, z) plane index, t slowest and z fastest, as the tutorial's nested loops.
    pub fn planes(&self) -> impl Iterator<Item = (usize, usize, usize)> + 'static {
        let (nt, nc, nz) = (self.size_t, self.size_c, self.size_z);
        (0..nt).flat_map(move |t| (0..nc).flat_map(move |c| (0..nz).map(move |z| (t, c, z))))
    }

    /// Open the image's OME-Zarr pixels at a resolution level (0 is full resolution), lazily.
    ///
    /// Catalogue images open from their folder. Server images try the connection's URL
    /// templates in order (for IDR by default the historic v0.1 address, then the v0.4 one,
    /// see [`ConnectOptions`](super::ConnectOptions)); the first that holds an image is used.
    ///
    /// ```no_run
    /// # fn main() -> omeflow::Result<()> {
    /// let conn = omeflow::omero::connect("idr.openmicroscopy.org", "public", "public")?;
    /// let data = conn.image(4007801)?.pixels(4)?;
    /// println!("{:?}", data.shape()); // (532, 2, 988, 128, 135)
    /// # Ok(()) }
    /// ```
    pub fn pixels(&self, level: usize) -> Result<Pixels> {
        self.open_zarr()?.level(level)
    }

    /// The OME-Zarr image behind [`pixels`](Self::pixels), e.g. to list its levels.
    pub fn open_zarr(&self) -> Result<OmeZarr> {
        match &self.source {
            PixelSource::Local(path) => {
                OmeZarr::open(&path.to_string_lossy(), &StoreOptions::default())
            }
            PixelSource::Templates(source) => {
                let Templates {
                    templates,
                    study,
                    store,
                } = source.as_ref();
                let studies: Vec<String> = match study {
                    Some(s) => vec![s.clone()],
                    None => self.studies.clone(),
                };
                let mut tried = Vec::new();
                for template in templates {
                    let locations = expand_template(template, self.id, &studies);
                    if locations.is_empty() {
                        tried.push(format!(
                            "{template} (study unknown: set ConnectOptions::with_study)"
                        ));
                    }
                    for location in locations {
                        match OmeZarr::open(&location, store) {
                            Ok(zarr) => return Ok(zarr),
                            Err(e) => tried.push(format!("{location} ({e})")),
                        }
                    }
                }
                Err(Error::NotFound {
                    location: format!("image {} ({})", self.id, self.name),
                    detail: if tried.is_empty() {
                        "no pixel URL template is set for this server; give one with \
                         ConnectOptions::with_pixels_template(\"https://.../{id}.zarr\")"
                            .to_string()
                    } else {
                        format!(
                            "tried {}; give the address with ConnectOptions::with_pixels_template",
                            tried.join(", ")
                        )
                    },
                })
            }
        }
    }

    /// Physical sizes X, Y, Z, `-` where unknown (the text and the notebook table show it).
    pub(crate) fn physical_sizes(&self) -> String {
        let f = |l: &Option<Length>| l.as_ref().map_or("-".to_string(), Length::to_string);
        format!(
            "{}, {}, {}",
            f(&self.physical_size_x),
            f(&self.physical_size_y),
            f(&self.physical_size_z)
        )
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Image {}: {}", self.id, self.name)?;
        writeln!(
            f,
            "  size T, C, Z, Y, X: {}, {}, {}, {}, {} ({})",
            self.size_t, self.size_c, self.size_z, self.size_y, self.size_x, self.pixel_type
        )?;
        writeln!(f, "  physical size X, Y, Z: {}", self.physical_sizes())?;
        for c in &self.channels {
            writeln!(f, "  channel {}: {}", c.index, c.description())?;
        }
        Ok(())
    }
}

/// A list of images shown as one table: `Display` for text; in a notebook it shows as HTML
/// (`omeflow::display`).
pub struct ImageTable<'a>(pub &'a [Image]);

impl fmt::Display for ImageTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>10}  {:<40} {:>5} {:>3} {:>5} {:>6} {:>6}  type",
            "id", "name", "T", "C", "Z", "Y", "X"
        )?;
        for i in self.0 {
            writeln!(
                f,
                "{:>10}  {:<40} {:>5} {:>3} {:>5} {:>6} {:>6}  {}",
                i.id, i.name, i.size_t, i.size_c, i.size_z, i.size_y, i.size_x, i.pixel_type
            )?;
        }
        let n = self.0.len();
        writeln!(f, "{n} image{}", if n == 1 { "" } else { "s" })
    }
}

/// A dataset's list of images (`Vec<Image>`) as a table: `images.table()` prints. (A cell ending
/// in `images` shows an HTML table through `omeflow::display::Show`, in the prelude.)
pub trait ImageList {
    /// The list as a table that implements `Display`.
    fn table(&self) -> ImageTable<'_>;
}

impl ImageList for [Image] {
    fn table(&self) -> ImageTable<'_> {
        ImageTable(self)
    }
}

impl ImageList for Vec<Image> {
    fn table(&self) -> ImageTable<'_> {
        ImageTable(self)
    }
}

/// `{id}` becomes the image id and `{study}` each candidate study in turn: one location per
/// study, none when the template needs a study and none is known.
pub(crate) fn expand_template(template: &str, id: u64, studies: &[String]) -> Vec<String> {
    let s = template.replace("{id}", &id.to_string());
    if s.contains("{study}") {
        studies.iter().map(|st| s.replace("{study}", st)).collect()
    } else {
        vec![s]
    }
}

/// IDR's folder names for a study, from its project or screen name:
/// `idr0062-blin-nuclearsegmentation/experimentA` gives `idr0062A` then `idr0062` (IDR's v0.4
/// bucket uses both forms).
pub(crate) fn idr_studies(container: &str) -> Vec<String> {
    let prefix: String = container.split(['-', '/']).next().unwrap_or("").to_string();
    let is_idr = prefix.len() > 3
        && prefix.starts_with("idr")
        && prefix[3..].bytes().all(|b| b.is_ascii_digit());
    if !is_idr {
        return Vec::new();
    }
    let letter = container
        .rsplit_once('/')
        .and_then(|(_, part)| part.chars().last())
        .filter(char::is_ascii_uppercase);
    match letter {
        Some(l) => vec![format!("{prefix}{l}"), prefix],
        None => vec![prefix],
    }
}

/// The largest size of one axis: OMERO keeps sizes in 32-bit signed integers.
const MAX_SIZE: u64 = i32::MAX as u64;

/// The most voxels an image may have (2^50, beyond any microscope's image), so that a byte count
/// of 8 bytes a voxel still fits in 64 bits with room to spare.
const MAX_VOXELS: u64 = 1 << 50;

/// Build an image from one object of OMERO's JSON (`data` of `/m/images/{id}/`, or one entry of
/// a dataset's list) that `call` on `host` answered; [`Error::OmeroMalformed`] saying what is
/// wrong with it.
pub(crate) fn image_from_json(
    v: &Value,
    source: PixelSource,
    host: &str,
    call: &str,
) -> Result<Image> {
    let bad = |reason: String| Error::OmeroMalformed {
        host: host.to_string(),
        call: call.to_string(),
        reason,
    };
    let id = v
        .get("@id")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no numeric \"@id\"".into()))?;
    let name = v
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let px = v
        .get("Pixels")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad(format!("image {id} has no \"Pixels\" object")))?;
    let size = |k: &str| -> Result<usize> {
        let v = px
            .get(k)
            .ok_or_else(|| bad(format!("image {id}: Pixels has no numeric \"{k}\"")))?;
        v.as_u64()
            .filter(|n| (1..=MAX_SIZE).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                bad(format!(
                    "image {id}: Pixels {k} is {v}, not a whole number from 1 to {MAX_SIZE}"
                ))
            })
    };
    let positive = |what: &str, v: &Value| -> Result<f64> {
        v.as_f64()
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| bad(format!("image {id}: {what} is {v}, not a positive number")))
    };
    let length = |k: &str| -> Result<Option<Length>> {
        let Some(value) = px.get(k).and_then(|l| l.get("Value")) else {
            return Ok(None);
        };
        let l = &px[k];
        Ok(Some(Length {
            value: positive(k, value)?,
            unit: l
                .get("Symbol")
                .or_else(|| l.get("Unit"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }))
    };
    let pixel_type = px
        .get("Type")
        .and_then(|t| t.get("value").or(Some(t)))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let (size_t, size_c, size_z) = (size("SizeT")?, size("SizeC")?, size("SizeZ")?);
    let (size_y, size_x) = (size("SizeY")?, size("SizeX")?);
    // Each size fits OMERO's 32 bits; their product must also stay where byte counts computed
    // from it (8 bytes a voxel) cannot overflow.
    let voxels = [size_t, size_c, size_z, size_y]
        .iter()
        .try_fold(size_x as u64, |acc, &n| acc.checked_mul(n as u64))
        .filter(|v| *v <= MAX_VOXELS);
    if voxels.is_none() {
        return Err(bad(format!(
            "image {id}: sizes T, C, Z, Y, X {size_t}, {size_c}, {size_z}, {size_y}, {size_x} \
             make more than {MAX_VOXELS} voxels"
        )));
    }
    let channels = match px.get("Channels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.len() > size_c => {
            return Err(bad(format!(
                "image {id}: {} channels listed for SizeC {size_c}",
                list.len()
            )))
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(index, c)| {
                Ok(Channel {
                    index,
                    name: c.get("Name").and_then(Value::as_str).map(str::to_string),
                    color: c.get("Color").and_then(Value::as_i64).map(Rgba::from_omero),
                    emission_wavelength: c
                        .get("EmissionWavelength")
                        .and_then(|w| w.get("Value"))
                        .map(|w| positive(&format!("channel {index} EmissionWavelength"), w))
                        .transpose()?,
                })
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad(format!("image {id}: \"Channels\" is not a list"))),
    };
    Ok(Image {
        id,
        name,
        size_t,
        size_c,
        size_z,
        size_y,
        size_x,
        pixel_type,
        physical_size_x: length("PhysicalSizeX")?,
        physical_size_y: length("PhysicalSizeY")?,
        physical_size_z: length("PhysicalSizeZ")?,
        channels,
        studies: Vec::new(),
        source,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omero_colours_are_rgba() {
        assert_eq!(
            Rgba::from_omero(65535),
            Rgba {
                r: 0,
                g: 0,
                b: 255,
                a: 255
            }
        );
        assert_eq!(Rgba::from_omero(-16776961).hex(), "FF0000FF");
        assert_eq!(
            Rgba::from_hex("00FF00").map(|c| c.hex()).as_deref(),
            Some("00FF00FF")
        );
        assert_eq!(Rgba::from_hex("xyz"), None);
    }

    #[test]
    fn parses_the_documented_image() {
        let v: Value = serde_json::from_str(
            r#"{"@id":16783,"Name":"CFP_AurB_R3D.dv","Pixels":{"@id":12801,"SizeX":512,"SizeY":512,
            "SizeZ":29,"SizeC":2,"SizeT":1,"PhysicalSizeX":{"Symbol":"µm","Value":0.12698,"Unit":"MICROMETER"},
            "Type":{"value":"uint16"},"Channels":[{"@id":14451,"Name":"CFP_JP4","Color":65535,
            "EmissionWavelength":{"Symbol":"nm","Value":470,"Unit":"NANOMETER"}}]}}"#,
        )
        .unwrap();
        let image = image_from_json(&v, PixelSource::Local(PathBuf::new()), "h", "c").unwrap();
        assert_eq!(image.id(), 16783);
        assert_eq!((image.size_t(), image.size_c(), image.size_z()), (1, 2, 29));
        assert_eq!(image.pixel_type(), "uint16");
        assert_eq!(image.physical_size_x().unwrap().unit, "µm");
        assert_eq!(image.channels()[0].emission_wavelength, Some(470.0));
        assert_eq!(image.planes().count(), 58);
        assert_eq!(image.planes().nth(1), Some((0, 0, 1)));
        assert!(image.to_string().contains("#0000FFFF"));
    }

    #[test]
    fn malformed_images_say_what_is_missing() {
        let v: Value = serde_json::from_str(r#"{"@id":1,"Pixels":{"SizeX":2}}"#).unwrap();
        let e = image_from_json(&v, PixelSource::Local(PathBuf::new()), "h", "c").unwrap_err();
        assert!(matches!(e, Error::OmeroMalformed { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("SizeT") || e.contains("SizeY"), "{e}");
        // Named by the call, the text as it always was.
        let v: Value = serde_json::from_str(r#"{"Pixels":{}}"#).unwrap();
        let e = image_from_json(&v, PixelSource::Local(PathBuf::new()), "idr", "GET /x/")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "OMERO GET /x/ on idr answered malformed JSON: no numeric \"@id\""
        );
    }

    #[test]
    fn sizes_and_lengths_are_bounded() {
        let image = |pixels: &str| {
            let v: Value =
                serde_json::from_str(&format!(r#"{{"@id":1,"Pixels":{pixels}}}"#)).unwrap();
            image_from_json(&v, PixelSource::Local(PathBuf::new()), "h", "c")
        };
        let ok = r#"{"SizeX":2,"SizeY":2,"SizeZ":1,"SizeC":1,"SizeT":1}"#;
        assert!(image(ok).is_ok());
        for (pixels, what) in [
            (ok.replace("\"SizeZ\":1", "\"SizeZ\":0"), "SizeZ is 0"),
            (ok.replace("\"SizeZ\":1", "\"SizeZ\":-3"), "SizeZ is -3"),
            (ok.replace("\"SizeZ\":1", "\"SizeZ\":2.5"), "SizeZ is 2.5"),
            (ok.replace("\"SizeZ\":1", "\"SizeZ\":4294967296"), "SizeZ"),
            (
                ok.replace(
                    "\"SizeX\":2,\"SizeY\":2",
                    "\"SizeX\":2000000000,\"SizeY\":2000000000",
                )
                .replace("\"SizeZ\":1", "\"SizeZ\":1000000"),
                "voxels",
            ),
            (
                ok.replace('}', r#","Channels":[{},{}]}"#),
                "2 channels listed for SizeC 1",
            ),
            (
                ok.replace('}', r#","PhysicalSizeZ":{"Value":0}}"#),
                "PhysicalSizeZ is 0",
            ),
            (
                ok.replace('}', r#","Channels":[{"EmissionWavelength":{"Value":-1}}]}"#),
                "EmissionWavelength is -1",
            ),
        ] {
            let e = image(&pixels).unwrap_err();
            assert!(matches!(e, Error::OmeroMalformed { .. }), "{e:?}");
            assert!(e.to_string().contains(what), "{pixels}: {e}");
        }
    }

    #[test]
    fn templates_expand() {
        let studies = vec!["idr0044A".to_string(), "idr0044".to_string()];
        assert_eq!(
            expand_template("https://x/v0.4/{study}/{id}.zarr", 7, &studies),
            vec![
                "https://x/v0.4/idr0044A/7.zarr",
                "https://x/v0.4/idr0044/7.zarr"
            ]
        );
        assert!(expand_template("https://x/{study}/{id}.zarr", 7, &[]).is_empty());
        assert_eq!(expand_template("/d/{id}.zarr", 7, &[]), vec!["/d/7.zarr"]);
    }

    #[test]
    fn idr_study_names() {
        assert_eq!(
            idr_studies("idr0062-blin-nuclearsegmentation/experimentA"),
            vec!["idr0062A", "idr0062"]
        );
        assert_eq!(idr_studies("idr0044-mcdole-mouseembryo"), vec!["idr0044"]);
        assert!(idr_studies("my project").is_empty());
        assert!(idr_studies("idr").is_empty());
    }
}
