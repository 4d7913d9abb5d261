//! Opening a location as a store: a local path, `file://`, `http(s)://` or `s3://bucket/prefix`.
//!
//! Every backend is an [`object_store::ObjectStore`]; remote ones retry timeouts, dropped
//! connections and 5xx answers with exponential backoff before giving up with an error that
//! names the URL, the status and the number of attempts.
//!
//! ```no_run
//! use omeflow::store::{Store, StoreOptions};
//! # fn main() -> omeflow::Result<()> {
//! // Anonymous S3 (IDR's public buckets); credentials come from options or AWS_* variables.
//! let opts = StoreOptions::default().with_endpoint("https://uk1s3.embassy.ebi.ac.uk");
//! let store = Store::open("s3://idr/zarr/v0.1/4007801.zarr", &opts)?;
//! # Ok(()) }
//! ```

mod bounded;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

pub use crate::runtime::IoRuntime;

use crate::error::BoxError;
use crate::{Error, Result};

/// A secret string (S3 secret key, session token): never printed by `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The default bound of one read: the largest chunk omeflow decodes, plus room for a codec's
/// headers.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = crate::ngff::MAX_CHUNK_BYTES + (16 << 20);

/// How to reach a store: S3 credentials and endpoint, retries, timeouts and concurrency.
///
/// Unset S3 fields fall back to the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`); with no key anywhere, requests are anonymous.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// S3 access key id.
    pub access_key_id: Option<String>,
    /// S3 secret access key.
    pub secret_access_key: Option<Secret>,
    /// S3 session token.
    pub session_token: Option<Secret>,
    /// S3 region (default `us-east-1`, which S3-compatible servers accept).
    pub region: Option<String>,
    /// S3 endpoint for S3-compatible servers, e.g. `https://uk1s3.embassy.ebi.ac.uk`.
    pub endpoint: Option<String>,
    /// Force anonymous S3 access even when credentials are in the environment.
    pub anonymous: bool,
    /// Retries after the first attempt, on timeouts, dropped connections and 5xx.
    pub max_retries: usize,
    /// First backoff between retries; doubles each time.
    pub initial_backoff: Duration,
    /// Give up retrying after this long.
    pub retry_timeout: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Chunk requests kept in flight at once for remote stores.
    pub concurrency: usize,
    /// Worker threads of the I/O runtime.
    pub io_threads: usize,
    /// The most bytes one read (a metadata document or a stored chunk) may return. Larger
    /// answers are refused before anything is allocated for them.
    pub max_object_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            region: None,
            endpoint: None,
            anonymous: false,
            max_retries: 4,
            initial_backoff: Duration::from_millis(100),
            retry_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            concurrency: 32,
            io_threads: 2,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
        }
    }
}

impl StoreOptions {
    /// Use an S3-compatible endpoint.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Use S3 credentials.
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(Secret::new(secret));
        self
    }
    /// Use an S3 region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// Set retries after the first attempt.
    pub fn with_max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self
    }
    /// Set the number of chunk requests in flight.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: Duration::from_secs(10),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_allow_http(allow_http)
            .with_timeout(self.request_timeout)
            .with_connect_timeout(Duration::from_secs(10))
    }
}

/// Which kind of backend a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A local directory.
    Local,
    /// Plain HTTP(S) GETs.
    Http,
    /// The S3 API.
    S3,
}

/// An opened location: the object store, where it points, and the runtime that drives it.
#[derive(Clone)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    location: String,
    backend: Backend,
    runtime: IoRuntime,
    concurrency: usize,
    /// The folder of a local store, to tell a folder from a missing file.
    local_root: Option<PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Open `location` for reading (and writing, where the backend allows it).
    ///
    /// Accepts a local path, `file://`, `http://`, `https://` and `s3://bucket/prefix`.
    pub fn open(location: &str, options: &StoreOptions) -> Result<Self> {
        let location = location.trim();
        if location.is_empty() {
            return Err(invalid(location, "empty location"));
        }
        let runtime = IoRuntime::new(options.io_threads)?;
        let mut local_root = None;
        let (objects, backend): (Arc<dyn ObjectStore>, Backend) = match scheme(location) {
            Some("http") | Some("https") => (open_http(location, options)?, Backend::Http),
            Some("s3") => (open_s3(location, options)?, Backend::S3),
            Some("file") => {
                let url = url::Url::parse(location).map_err(|e| invalid(location, e))?;
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid(location, "not a local file URL"))?;
                let (store, root) = open_local(&path)?;
                local_root = Some(root);
                (store, Backend::Local)
            }
            Some(other) if other.len() > 1 => {
                return Err(invalid(
                    location,
                    format!(
                        "unsupported scheme {other:?}; use a path, file://, http(s):// or s3://"
                    ),
                ))
            }
            _ => {
                let (store, root) = open_local(Path::new(location))?;
                local_root = Some(root);
                (store, Backend::Local)
            }
        };
        let bounds = bounded::Bounds {
            max_bytes: options.max_object_bytes,
            retries: if backend == Backend::Local {
                0
            } else {
                options.max_retries
            },
            backoff: options.initial_backoff,
        };
        let mut bounded = bounded::BoundedStore::new(objects, bounds);
        if let Some(root) = &local_root {
            bounded = bounded.with_local_root(root.clone());
        }
        let objects: Arc<dyn ObjectStore> = Arc::new(bounded);
        let concurrency = match backend {
            Backend::Local => options.concurrency.min(8),
            _ => options.concurrency,
        };
        Ok(Self {
            objects,
            // Credentials in the URL are used by the client, never shown.
            location: redact(location.trim_end_matches('/')),
            backend,
            runtime,
            concurrency,
            local_root,
        })
    }

    /// Create a local directory (and parents) and open it for writing.
    pub fn create_local(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Self::open(&path.to_string_lossy(), &StoreOptions::default())
    }

    /// Where this store points, as given (without a trailing slash).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The backend kind.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The object store (for zarrs and for callers that need raw access).
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        self.objects.clone()
    }

    /// The runtime that drives this store's I/O.
    pub fn runtime(&self) -> &IoRuntime {
        &self.runtime
    }

    /// Chunk requests to keep in flight.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// A store rooted at `sub` below this one, sharing the connection pool and runtime.
    pub fn child(&self, sub: &str) -> Self {
        let sub = sub.trim_matches('/');
        if sub.is_empty() {
            return self.clone();
        }
        Self {
            objects: Arc::new(PrefixStore::new(self.objects.clone(), sub)),
            location: format!("{}/{}", self.location, sub),
            local_root: self.local_root.as_ref().map(|r| r.join(sub)),
            ..self.clone()
        }
    }

    /// The local folder of this store, if it is local.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// Whether `key` of a local store is a folder (never true for remote stores).
    pub(crate) fn is_local_dir(&self, key: &str) -> bool {
        self.local_root
            .as_ref()
            .and_then(|r| std::fs::symlink_metadata(r.join(key)).ok())
            .is_some_and(|m| m.is_dir())
    }

    /// The full location of `key` in this store, for messages.
    pub fn describe(&self, key: &str) -> String {
        format!("{}/{}", self.location, key.trim_start_matches('/'))
    }

    /// Read a whole object; `Ok(None)` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = ObjectPath::from(key);
        match self.objects.get(&path).await {
            Ok(r) => match r.bytes().await {
                Ok(b) => Ok(Some(b.to_vec())),
                Err(e) => Err(storage_error(&self.describe(key), e)),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(&self.describe(key), e)),
        }
    }

    /// Write a whole object.
    pub async fn put(&self, key: &str, data: Vec<u8>) -> Result<()> {
        self.objects
            .put(&ObjectPath::from(key), data.into())
            .await
            .map(|_| ())
            .map_err(|e| Error::Write {
                location: self.describe(key),
                reason: e.to_string(),
            })
    }

    /// Whether the store holds no object at all.
    pub async fn is_empty(&self) -> Result<bool> {
        use futures::StreamExt;
        match self.objects.list(None).next().await {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(e)) => Err(storage_error(&self.location, e)),
        }
    }

    /// Delete one object (a missing one is not an error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.objects.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Write {
                location: self.describe(key),
                reason: error_chain(&e),
            }),
        }
    }
}

fn scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    if scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        Some(scheme)
    } else {
        None
    }
}

fn invalid(location: &str, reason: impl fmt::Display) -> Error {
    Error::InvalidUrl {
        location: redact(location),
        reason: redact(&reason.to_string()),
    }
}

fn open_local(path: &Path) -> Result<(Arc<dyn ObjectStore>, PathBuf)> {
    let abs: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("reading the current directory", e))?
            .join(path)
    };
    if !abs.exists() {
        return Err(Error::NotFound {
            location: path.display().to_string(),
            detail: "the path does not exist".into(),
        });
    }
    let fs =
        LocalFileSystem::new_with_prefix(&abs).map_err(|e| invalid(&path.to_string_lossy(), e))?;
    Ok((Arc::new(fs), abs))
}

/// Make ring rustls' crypto provider for this process before any HTTP client is built (reqwest
/// panics without one). Called on every path that builds a client: in evcxr each cell is a library
/// with its own copy of rustls' statics, so a provider installed once is not seen by later cells.
pub(crate) fn ensure_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one meanwhile: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn open_http(location: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>> {
    ensure_tls_provider();
    let url = url::Url::parse(location).map_err(|e| invalid(location, e))?;
    // Plain http only when the user wrote it.
    let allow_http = url.scheme() == "http";
    // object_store adds the "/" between base and key itself.
    let base = location.trim_end_matches('/');
    let store = HttpBuilder::new()
        .with_url(base)
        .with_client_options(options.client_options(allow_http))
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| invalid(location, e))?;
    Ok(Arc::new(store))
}

fn open_s3(location: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>> {
    let rest = &location["s3://".len()..];
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p.trim_matches('/')),
        None => (rest, ""),
    };
    if bucket.is_empty() {
        return Err(invalid(
            location,
            "no bucket name; write s3://bucket/prefix",
        ));
    }
    // Only the settings below are taken from the environment: an anonymous read must not pick up
    // half a set of credentials from it.
    ensure_tls_provider();
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let endpoint = options
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"));
    let mut allow_http = false;
    if let Some(ep) = &endpoint {
        allow_http = ep.starts_with("http://");
        builder = builder.with_endpoint(ep.trim_end_matches('/'));
    }
    let region = options
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_string());
    builder = builder.with_region(region);
    let key = options
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"));
    if options.anonymous || key.is_none() {
        builder = builder.with_skip_signature(true);
    } else if let Some(key) = key {
        let secret = options
            .secret_access_key
            .clone()
            .or_else(|| env("AWS_SECRET_ACCESS_KEY").map(Secret::new))
            .ok_or_else(|| {
                invalid(
                    location,
                    "an S3 access key id is set but no secret access key; set both \
                     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or read anonymously",
                )
            })?;
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret.expose());
        let token = options
            .session_token
            .clone()
            .or_else(|| env("AWS_SESSION_TOKEN").map(Secret::new));
        if let Some(t) = token {
            builder = builder.with_token(t.expose());
        }
    }
    let store = builder
        .with_client_options(options.client_options(allow_http))
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| invalid(location, e))?;
    if prefix.is_empty() {
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(PrefixStore::new(store, prefix)))
    }
}

/// Turn an object_store error into ours, keeping its account of retries and status.
pub(crate) fn storage_error(location: &str, e: object_store::Error) -> Error {
    let location = &redact(location);
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound {
            location: location.to_string(),
            detail: e.to_string(),
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => Error::Storage {
            location: location.to_string(),
            reason: format!(
                "access denied; check the S3 access key and secret (options or AWS_* variables), \
                     or read anonymously: {}",
                error_chain(&e)
            ),
            source: clean_source(e),
        },
        other => Error::Storage {
            location: location.to_string(),
            reason: error_chain(&other),
            source: clean_source(other),
        },
    }
}

/// `e` to keep as the `source` of an error, unless showing it would show credentials.
///
/// object_store names the URL it requested in its errors' `Display` and `Debug`, with the
/// `user:password@` of a location that has one (zarrs keeps object_store's text). The reason
/// beside a source is always [`redact`]ed, so it says everything; a source that would need
/// redacting is left out rather than altered, so a kept source is the backend's own error, for
/// `downcast_ref`.
pub(crate) fn clean_source<E>(e: E) -> Option<BoxError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let shown = format!("{} {e:?}", error_chain_raw(&e));
    (redact(&shown) == shown).then(|| Box::new(e) as BoxError)
}

/// `text` with the `user:password@` of every URL in it removed, so a location with
/// credentials can be shown, logged and saved in metadata.
///
/// ```
/// assert_eq!(
///     omeflow::store::redact("reading http://alice:pw@host/x.zarr failed"),
///     "reading http://host/x.zarr failed"
/// );
/// ```
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => rest = &tail[at + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// An error and its sources on one line, so retries, status and cause all show (without any
/// credentials of a URL in them).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    redact(&error_chain_raw(e))
}

fn error_chain_raw(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cur = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tls_provider_is_installed_on_demand() {
        super::ensure_tls_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        super::ensure_tls_provider();
    }

    use super::*;

    #[test]
    fn secret_is_not_printed() {
        let o = StoreOptions::default().with_credentials("AKID", "very-secret-value");
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("very-secret-value"), "{dbg}");
        assert!(dbg.contains("AKID"));
    }

    #[test]
    fn missing_local_path_is_not_found() {
        let e = Store::open("/definitely/not/here.zarr", &StoreOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[test]
    fn unknown_scheme_is_rejected() {
        let e = Store::open("gs://bucket/x", &StoreOptions::default()).unwrap_err();
        assert!(e.to_string().contains("unsupported scheme"), "{e}");
    }

    /// A read from `url` that fails: nothing listens on port 9.
    fn failed_get(url: &str) -> Error {
        let store = Store::open(url, &StoreOptions::default().with_max_retries(0)).unwrap();
        let s = store.clone();
        store
            .runtime()
            .block_on(async move { s.get(".zattrs").await })
            .unwrap_err()
    }

    #[test]
    fn a_storage_error_keeps_object_stores_error_as_its_source() {
        let e = failed_get("http://127.0.0.1:9/x.zarr");
        match &e {
            Error::Storage {
                source: Some(source),
                reason,
                ..
            } => {
                let backend = source
                    .downcast_ref::<object_store::Error>()
                    .expect("object_store's own error");
                assert!(reason.starts_with(&backend.to_string()), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(std::error::Error::source(&e).is_some());
        // The reason already holds the chain: walking the sources adds nothing to the line.
        assert_eq!(error_chain(&e), e.to_string());
    }

    #[test]
    fn a_source_that_would_show_credentials_is_left_out() {
        let e = failed_get("http://alice:s3cr3t-pw@127.0.0.1:9/x.zarr");
        assert!(matches!(e, Error::Storage { source: None, .. }), "{e:?}");
        let shown = format!("{e} | {e:?} | {}", error_chain(&e));
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(shown.contains("127.0.0.1:9"), "{shown}");

        let with = std::io::Error::other("GET http://u:pw@host/x failed");
        assert!(clean_source(with).is_none());
        let without = std::io::Error::other("GET http://host/x failed");
        assert!(clean_source(without).is_some());
    }

    #[test]
    fn s3_needs_a_bucket() {
        let e = Store::open("s3://", &StoreOptions::default()).unwrap_err();
        assert!(e.to_string().contains("bucket"), "{e}");
    }
}
