//! `connect` to OMERO, as the tutorials' first step: image metadata from an OMERO.web server's
//! JSON API (IDR, or a private server with a login), or from a local folder of OME-Zarr images
//! (the catalogue, e.g. the embedded [`SAMPLE`]) answering the same calls.
//!
//! ```no_run
//! use omeflow::omero::connect;
//! # fn main() -> omeflow::Result<()> {
//! let conn = connect("idr.openmicroscopy.org", "public", "public")?; // or connect(SAMPLE, "", "")
//! let image = conn.image(4007801)?;
//! println!("{}", image);                        // sizes, pixel type, channels
//! let data = image.pixels(4)?;                  // lazy OME-Zarr level 4
//! for (t, c, z) in image.planes().take(3) {
//!     println!("{t} {c} {z} {:?}", data.plane_f64(t, c, z)?.dim());
//! }
//! conn.disconnect()?;
//! # Ok(()) }
//! ```
//!
//! A host is a name (`idr.openmicroscopy.org`, meaning HTTPS) or a URL (`http://` only when
//! written). An empty user means no login: the server's public data, as IDR offers. On IDR,
//! `public`/`public` works too. A host that is an existing folder, a `file://` URL, or [`SAMPLE`]
//! opens the local catalogue; see the `catalogue` module docs for how its ids are given.

pub(crate) mod catalogue;
mod client;
mod model;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use model::{Channel, Image, ImageList, ImageTable, Length, Rgba};

use crate::store::{Secret, StoreOptions};
use crate::Result;
use catalogue::Catalogue;
use client::{ServerClient, Session};

/// The embedded sample as a host: `connect(SAMPLE, "", "")` opens a local catalogue (written under
/// the system temp folder on first use) holding the sample as image 4007801, the image the first
/// tutorial reads, and a dataset 2 of three small 2-channel stacks (images 1001 to 1003) for the
/// second tutorial, which classifies every image of a dataset. Dataset 1 holds all four.
pub const SAMPLE: &str = "omeflow:sample";

/// IDR's historic address of its NGFF 0.1 images (the first tutorial's).
pub const IDR_ZARR_V01: &str = "https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.1/{id}.zarr";
/// IDR's current address of its NGFF 0.4 images; `{study}` is e.g. `idr0044` or `idr0062A`.
pub const IDR_ZARR_V04: &str = "https://livingobjects.ebi.ac.uk/idr/zarr/v0.4/{study}/{id}.zarr";
/// The same NGFF 0.4 images on IDR's S3 endpoint (e.g. `idr0062A/6001240.zarr`).
pub const IDR_ZARR_V04_S3: &str = "https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.4/{study}/{id}.zarr";

/// How to connect: where pixels are, timeouts and retries.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Where an image's OME-Zarr pixels are, tried in order; `{id}` is the image id and
    /// `{study}` the [`study`](Self::study). Empty means IDR's addresses ([`IDR_ZARR_V01`],
    /// [`IDR_ZARR_V04`], [`IDR_ZARR_V04_S3`]) on IDR, and none elsewhere.
    pub pixels_templates: Vec<String>,
    /// Fills `{study}` in the templates. Unset, `conn.image(id)` asks the server for the image's
    /// project (`/webgateway/imgData/{id}/`) and tries IDR's folder names for it
    /// (`idr0062-blin-nuclearsegmentation/experimentA` gives `idr0062A`, then `idr0062`).
    pub study: Option<String>,
    /// Retries after the first attempt, on dropped connections, timeouts and 5xx answers.
    pub retries: usize,
    /// First pause between retries; doubles each time.
    pub initial_backoff: Duration,
    /// Longest wait for one whole answer.
    pub timeout: Duration,
    /// Longest wait to open a connection.
    pub connect_timeout: Duration,
    /// How pixels are read (S3 endpoint, credentials, retries).
    pub store: StoreOptions,
    /// The most images `dataset_images` lists before failing: a bound against a server whose
    /// pages never end. Default one million.
    pub max_images: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            pixels_templates: Vec::new(),
            study: None,
            retries: 3,
            initial_backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            store: StoreOptions::default(),
            max_images: 1_000_000,
        }
    }
}

impl ConnectOptions {
    /// Use only this pixel address template, e.g. `https://minio.example.org/zarr/{id}.zarr` or
    /// a local `/data/{id}.zarr`.
    pub fn with_pixels_template(mut self, template: impl Into<String>) -> Self {
        self.pixels_templates = vec![template.into()];
        self
    }
    /// Try this template after the ones already set.
    pub fn add_pixels_template(mut self, template: impl Into<String>) -> Self {
        self.pixels_templates.push(template.into());
        self
    }
    /// The study for `{study}`, e.g. `idr0044`.
    pub fn with_study(mut self, study: impl Into<String>) -> Self {
        self.study = Some(study.into());
        self
    }
    /// Retries after the first attempt.
    pub fn with_retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }
    /// First pause between retries.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }
    /// Longest wait for one answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The most images a dataset may list.
    pub fn with_max_images(mut self, max: usize) -> Self {
        self.max_images = max;
        self
    }
    /// How pixels are read.
    pub fn with_store_options(mut self, store: StoreOptions) -> Self {
        self.store = store;
        self
    }
}

enum Backend {
    Server(Box<ServerClient>),
    Catalogue(Catalogue),
}

/// An open connection: to an OMERO.web server, or to a local catalogue. Keep it in a notebook
/// variable; it owns its session and I/O thread (no globals). Dropping it logs out.
pub struct Connection {
    backend: Backend,
}

/// Connect to `host` as `user` (empty for public data) with default options.
///
/// ```no_run
/// # fn main() -> omeflow::Result<()> {
/// let conn = omeflow::omero::connect("idr.openmicroscopy.org", "public", "public")?;
/// let offline = omeflow::omero::connect(omeflow::omero::SAMPLE, "", "")?;
/// # Ok(()) }
/// ```
pub fn connect(host: &str, user: &str, password: &str) -> Result<Connection> {
    connect_with(host, user, password, ConnectOptions::default())
}

/// Connect with options: pixel address templates, timeouts, retries.
///
/// ```no_run
/// use omeflow::omero::{connect_with, ConnectOptions};
/// # fn main() -> omeflow::Result<()> {
/// let options = ConnectOptions::default().with_pixels_template("https://minio.example.org/zarr/{id}.zarr");
/// let conn = connect_with("omero.example.org", "alice", "secret", options)?;
/// # Ok(()) }
/// ```
pub fn connect_with(
    host: &str,
    user: &str,
    password: &str,
    options: ConnectOptions,
) -> Result<Connection> {
    // Wrapped at once so that nothing below can print it; dropped after the login.
    let password = Secret::new(password);
    if let Some(folder) = local_folder(host)? {
        return Ok(Connection {
            backend: Backend::Catalogue(Catalogue::open(&folder)?),
        });
    }
    Ok(Connection {
        backend: Backend::Server(Box::new(ServerClient::connect(
            host, user, password, options,
        )?)),
    })
}

/// The catalogue folder a host names, if it names one.
fn local_folder(host: &str) -> Result<Option<PathBuf>> {
    if host == SAMPLE {
        return catalogue::sample_catalogue().map(Some);
    }
    if let Some(rest) = host.strip_prefix("file://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(crate::Error::InvalidUrl {
                location: client::redact_host(host),
                reason: "credentials in a file:// URL are not used; give the folder's path".into(),
            });
        }
        return Ok(Some(PathBuf::from(rest)));
    }
    let path = Path::new(host);
    if !host.contains("://") && path.is_dir() {
        return Ok(Some(path.to_path_buf()));
    }
    Ok(None)
}

impl Connection {
    /// One image's metadata.
    pub fn image(&self, id: u64) -> Result<Image> {
        match &self.backend {
            Backend::Server(s) => s.image(id),
            Backend::Catalogue(c) => c.image(id),
        }
    }

    /// Every image of a dataset (all pages). On a server, listed images carry no channels;
    /// `image(id)` gives them.
    pub fn dataset_images(&self, id: u64) -> Result<Vec<Image>> {
        match &self.backend {
            Backend::Server(s) => s.dataset_images(id),
            Backend::Catalogue(c) => c.dataset_images(id),
        }
    }

    /// Log out (a no-op for the catalogue and for sessions without a login).
    pub fn disconnect(self) -> Result<()> {
        match &self.backend {
            Backend::Server(s) => s.logout(),
            Backend::Catalogue(_) => Ok(()),
        }
    }

    /// The host as given (without credentials, query or fragment), or the catalogue's folder.
    pub fn host(&self) -> String {
        match &self.backend {
            Backend::Server(s) => s.host.clone(),
            Backend::Catalogue(c) => c.root.display().to_string(),
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        match &self.backend {
            Backend::Server(s) => match &s.session {
                Session::User { name, .. } => Some(name),
                Session::Public => None,
            },
            Backend::Catalogue(_) => None,
        }
    }

    /// Whether this is a local catalogue.
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Catalogue(_))
    }

    /// The catalogue's images and datasets (`(dataset id, name, image ids)`); empty for a server.
    pub fn catalogue_datasets(&self) -> Vec<(u64, String, Vec<u64>)> {
        match &self.backend {
            Backend::Catalogue(c) => c
                .datasets
                .iter()
                .map(|(id, (name, images))| (*id, name.clone(), images.clone()))
                .collect(),
            Backend::Server(_) => Vec::new(),
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Server(s) => match &s.session {
                Session::Public => write!(f, "Connection to {} (public data, no login)", s.host),
                Session::User { name, group, .. } => {
                    write!(f, "Connection to {} as {name}", s.host)?;
                    if let Some(g) = group {
                        write!(f, " (group {g})")?;
                    }
                    Ok(())
                }
            },
            Backend::Catalogue(c) => write!(
                f,
                "Catalogue {} ({} images, {} datasets)",
                c.root.display(),
                c.images.len(),
                c.datasets.len()
            ),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Server(s) => f.debug_tuple("Connection").field(s).finish(),
            Backend::Catalogue(c) => f
                .debug_struct("Connection")
                .field("catalogue", &c.root)
                .field("images", &c.images.len())
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn values_can_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Connection>();
        send_sync::<Image>();
    }

    #[test]
    fn the_sample_answers_like_a_server() {
        let conn = connect(SAMPLE, "", "").unwrap();
        assert!(conn.is_local());
        let image = conn.image(4007801).unwrap();
        assert_eq!(
            (
                image.size_t(),
                image.size_c(),
                image.size_z(),
                image.size_y(),
                image.size_x()
            ),
            (8, 2, 10, 256, 256)
        );
        assert_eq!(image.pixel_type(), "uint16");
        assert_eq!(image.channels()[0].name.as_deref(), Some("H2B"));
        assert_eq!(image.physical_size_x().map(|l| l.value), Some(0.4));
        assert_eq!(conn.dataset_images(1).unwrap().len(), 4);
        assert_eq!(image.pixels(1).unwrap().shape(), [8, 2, 10, 128, 128]);
        assert!(matches!(
            conn.image(1),
            Err(Error::OmeroNotFound { what: "image", .. })
        ));
        conn.disconnect().unwrap();
    }
}
