//! The OMERO.web JSON API client: discovery, CSRF token, login, session cookie, retries, logout.
//!
//! Requests run on the connection's own [`IoRuntime`], so the sync calls work from plain code,
//! from inside another tokio runtime (evcxr's async mode) and across notebook cells.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE, COOKIE, LOCATION, REFERER, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::model::{idr_studies, image_from_json, Image, PixelSource, Templates};
use super::ConnectOptions;
use crate::store::{IoRuntime, Secret};
use crate::{Error, Result};

/// How the session was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Session {
    /// No login: the server's public user (IDR) or nothing.
    Public,
    /// Logged in as this user.
    User {
        name: String,
        id: Option<i64>,
        group: Option<String>,
    },
}

/// The most an answer may hold. OMERO.web's JSON answers are far smaller (a page of 500 images is
/// about 1 MB); the bound keeps a broken or hostile server from making us buffer without end.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Same-origin redirects allowed in a row; OMERO.web needs none or one.
const MAX_REDIRECTS: usize = 5;

/// Server text shown in an error, at most; enough for OMERO's messages.
const MAX_MESSAGE_CHARS: usize = 200;

/// One answer, with what the caller needs of it.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    /// Where a 3xx that was not followed points, resolved against the request's URL.
    location: Option<Url>,
}

/// What one attempt gave.
enum Attempt {
    Answer(Answer, Vec<String>),
    /// Dropped connection, timeout, unreadable body: worth another attempt.
    Transient(reqwest::Error),
    /// More than [`MAX_ANSWER_BYTES`]: another attempt would be as large.
    TooLarge(Option<u64>),
}

/// Recognises the password in text a server sends back, without keeping the password: a keyed
/// hash of it (and of its form-encoded spelling, which an echoed form body holds).
struct Fingerprint {
    keys: std::collections::hash_map::RandomState,
    spellings: Vec<(usize, u64)>,
}

impl Fingerprint {
    fn new(password: &str) -> Self {
        let keys = std::collections::hash_map::RandomState::new();
        let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
        let mut spellings = vec![(password.len(), keys.hash_one(password))];
        if encoded != password {
            spellings.push((encoded.len(), keys.hash_one(encoded.as_str())));
        }
        // An empty or one-letter password would match everywhere; nothing to hide in it anyway.
        spellings.retain(|(len, _)| *len >= 2);
        Self { keys, spellings }
    }

    /// `text` with every spelling of the password replaced.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for &(len, hash) in &self.spellings {
            let mut start = 0;
            while start + len <= out.len() {
                let end = start + len;
                let hit = out.is_char_boundary(start)
                    && out.is_char_boundary(end)
                    && self.keys.hash_one(&out[start..end]) == hash;
                if hit {
                    out.replace_range(start..end, "[redacted]");
                    start += "[redacted]".len();
                } else {
                    start += 1;
                }
            }
        }
        out
    }
}

pub(crate) struct ServerClient {
    /// The host as the user wrote it, for messages.
    pub(crate) host: String,
    /// Where OMERO.web lives, ending in `/`.
    root: Url,
    /// The JSON API base, e.g. `https://host/api/v0/`.
    api: Url,
    /// For GETs: follows redirects only within the root's origin, so the session cookie never
    /// reaches another host.
    http: reqwest::Client,
    /// For POSTs (login, logout): follows no redirect and never retries, so the login form and
    /// CSRF token are sent once, and only to the root's origin.
    post: reqwest::Client,
    rt: IoRuntime,
    /// Cookies by name: one origin only, so names are enough.
    jar: Mutex<BTreeMap<String, String>>,
    /// The token from `/token/`; Django rotates it on login, so the cookie wins when both exist.
    token: Mutex<Option<String>>,
    pub(crate) session: Session,
    options: ConnectOptions,
    /// Where this server's images keep their pixels, shared by every `Image` it answers.
    templates: Arc<Templates>,
    closed: AtomicBool,
    /// To keep the password out of server messages shown after the login.
    password: Option<Fingerprint>,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Cookies and tokens are credentials: never printed.
        f.debug_struct("ServerClient")
            .field("host", &self.host)
            .field("api", &self.api.as_str())
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The OMERO.web address of a server given by its websocket address, as the Python tutorials
/// connect (`wss://workshop.openmicroscopy.org/omero-ws`, `ws://idr.openmicroscopy.org/omero-ws`):
/// the same host over HTTPS, without the websocket route. omeflow speaks OMERO.web's JSON API, not
/// Ice over websockets; HTTPS even for `ws://`, since the web server of such a host serves HTTPS.
fn web_of_websocket(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "ws" | "wss") {
        return None;
    }
    let host = url.host_str()?;
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/omero-ws").unwrap_or(path);
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Url::parse(&format!("https://{host}{port}{path}/")).ok()
}

/// Whether `host` is written as a websocket address (`ws://` or `wss://`).
fn is_websocket(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    host.starts_with("ws://") || host.starts_with("wss://")
}

/// `idr.openmicroscopy.org` means HTTPS; a URL keeps its scheme (plain `http://` only when
/// written); a websocket address (`wss://host/omero-ws`) means the same host's OMERO.web.
pub(crate) fn root_url(host: &str) -> Result<Url> {
    let host = host.trim();
    let invalid = |reason: &str| Error::InvalidUrl {
        location: redact_host(host),
        reason: reason.to_string(),
    };
    if host.is_empty() {
        return Err(invalid(
            "empty host: give a host name like idr.openmicroscopy.org or a URL",
        ));
    }
    let text = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    // The url crate's messages name no part of the input.
    let mut url = Url::parse(&text).map_err(|e| invalid(&e.to_string()))?;
    if url.password().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "credentials in the URL are not used; pass the user and password to connect",
        ));
    }
    if let Some(web) = web_of_websocket(&url) {
        url = web;
    }
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(
            "an OMERO server is reached over https:// (or http:// when written)",
        ));
    }
    if url.host_str().is_none() {
        return Err(invalid("no host name"));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The host for messages: without a `user:password@` part, a query or a fragment, any of which
/// may hold a secret. Works on text that is not a valid URL, since it is used for parse errors.
pub(crate) fn redact_host(host: &str) -> String {
    let (scheme, rest) = match host.find("://") {
        Some(i) => host.split_at(i + 3),
        None => ("", host),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!(
            "{scheme}[credentials removed]@{}{path}",
            &authority[at + 1..]
        ),
        None => format!("{scheme}{rest}"),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `host:port` of a URL, for messages: never its credentials, path or query.
fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => "an address without a host".into(),
    }
}

/// A reqwest error to keep as the `source` of an [`Error::Omero`]: without its URL, as the
/// reason beside it already names the call.
fn reqwest_source(e: reqwest::Error) -> Option<crate::error::BoxError> {
    Some(Box::new(e.without_url()))
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn is_dns_failure(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("dns error")
        || d.contains("failed to lookup address")
        || d.contains("name or service not known")
}

impl ServerClient {
    /// Discover the API, then log in (or use the public session).
    pub(crate) fn connect(
        host: &str,
        user: &str,
        password: Secret,
        options: ConnectOptions,
    ) -> Result<Self> {
        let root = root_url(host)?;
        let shown = redact_host(host);
        if is_websocket(host) {
            eprintln!(
                "omeflow: {shown} is OMERO's websocket address; using the same server's OMERO.web JSON API at {root}"
            );
        }
        crate::store::ensure_tls_provider();
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .timeout(options.timeout)
                .user_agent(concat!("omeflow/", env!("CARGO_PKG_VERSION")))
        };
        let origin = root.clone();
        let within_origin = Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if same_origin(attempt.url(), &origin) {
                attempt.follow()
            } else {
                // Answered as the 3xx itself; the caller turns it into an error naming the host.
                attempt.stop()
            }
        });
        let setup_error = |e: reqwest::Error| Error::Omero {
            host: shown.clone(),
            call: "setup".into(),
            reason: describe_reqwest(&e),
            source: reqwest_source(e),
        };
        let http = builder()
            .redirect(within_origin)
            .build()
            .map_err(setup_error)?;
        let post = builder()
            .redirect(Policy::none())
            .retry(reqwest::retry::never())
            .build()
            .map_err(setup_error)?;
        let rt = IoRuntime::new(1)?;
        let api = root.join("api/v0/").map_err(|e| Error::InvalidUrl {
            location: shown.clone(),
            reason: e.to_string(),
        })?;
        let is_idr = root.host_str() == Some("idr.openmicroscopy.org");
        let templates = Arc::new(Templates {
            templates: if options.pixels_templates.is_empty() && is_idr {
                vec![
                    super::IDR_ZARR_V01.to_string(),
                    super::IDR_ZARR_V04.to_string(),
                    super::IDR_ZARR_V04_S3.to_string(),
                ]
            } else {
                options.pixels_templates.clone()
            },
            study: options.study.clone(),
            store: options.store.clone(),
        });
        let mut client = Self {
            host: shown,
            root,
            api,
            http,
            post,
            rt,
            jar: Mutex::new(BTreeMap::new()),
            token: Mutex::new(None),
            session: Session::Public,
            options,
            templates,
            // Nothing to log out of until a login succeeds.
            closed: AtomicBool::new(true),
            password: None,
        };
        client.discover()?;
        if !user.is_empty() {
            client.login(user, password)?;
        }
        Ok(client)
    }

    fn not_omero(&self, call: &str, reason: String) -> Error {
        Error::Omero {
            host: self.host.clone(),
            call: call.to_string(),
            reason: format!(
                "{reason}; no OMERO.web JSON API there: check the host name (e.g. idr.openmicroscopy.org) \
                 or give the web address, e.g. https://host/omero/"
            ),
            source: None,
        }
    }

    /// `GET /api/` names the API versions; `GET /api/v0/` the calls. The first GET also gives IDR's
    /// public session cookie.
    fn discover(&mut self) -> Result<()> {
        let url = self.url("api/")?;
        let call = "GET /api/";
        let answer = self.send(call, Method::GET, url, None)?;
        if answer.status != StatusCode::OK {
            return Err(self.not_omero(call, format!("HTTP {}", answer.status)));
        }
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| self.not_omero(call, format!("the answer is not JSON ({e})")))?;
        let versions = v
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| self.not_omero(call, "the answer has no \"data\" list".into()))?;
        // We speak v0; a server that lists others still serves it.
        if !versions
            .iter()
            .any(|d| d.get("version").and_then(Value::as_str) == Some("0"))
        {
            return Err(Error::Omero {
                host: self.host.clone(),
                call: call.into(),
                reason: "the server offers no version 0 of the JSON API".into(),
                source: None,
            });
        }
        let call = "GET /api/v0/";
        let answer = self.send(call, Method::GET, self.api.clone(), None)?;
        let v = self.json(call, &answer)?;
        if v.get("url:login").is_none() {
            return Err(self.not_omero(call, "the answer has no \"url:login\"".into()));
        }
        Ok(())
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.root.join(path).map_err(|e| Error::InvalidUrl {
            location: format!("{}{path}", self.root),
            reason: e.to_string(),
        })
    }

    fn api_url(&self, path: &str) -> Result<Url> {
        self.api.join(path).map_err(|e| Error::InvalidUrl {
            location: format!("{}{path}", self.api),
            reason: e.to_string(),
        })
    }

    fn csrf(&self) -> Option<String> {
        let from_cookie = self
            .jar
            .lock()
            .ok()
            .and_then(|j| j.get("csrftoken").cloned());
        from_cookie.or_else(|| self.token.lock().ok().and_then(|t| t.clone()))
    }

    fn login(&mut self, user: &str, password: Secret) -> Result<()> {
        let call = "GET /api/v0/token/";
        let answer = self.send(call, Method::GET, self.api_url("token/")?, None)?;
        let v = self.json(call, &answer)?;
        let token = v
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| self.malformed(call, "no token under \"data\""))?;
        if let Ok(mut t) = self.token.lock() {
            *t = Some(token.to_string());
        }

        let call = "GET /api/v0/servers/";
        let answer = self.send(call, Method::GET, self.api_url("servers/")?, None)?;
        let v = self.json(call, &answer)?;
        let server = v
            .get("data")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|s| s.get("id"))
            .and_then(Value::as_i64)
            .ok_or_else(|| self.malformed(call, "no server \"id\" under \"data\""))?;

        let call = "POST /api/v0/login/";
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("server", &server.to_string())
            .append_pair("username", user)
            .append_pair("password", password.expose())
            .finish();
        self.password = Some(Fingerprint::new(password.expose()));
        drop(password);
        // Sent once: a retry after a 5xx or a timeout would send the password again to a server
        // in a bad state, and a redirect would send it to wherever the server points.
        let answer = self.send_with(
            call,
            Method::POST,
            self.api_url("login/")?,
            Some(Secret::new(form)),
            1,
            None,
        )?;
        // No text of the answer is shown from here on: a login answer may echo the form.
        match answer.status {
            StatusCode::OK => {}
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                // OMERO.web refuses credentials with a JSON message; Django's CSRF check with HTML.
                let has_message = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .is_some_and(|v| v.get("message").is_some());
                if user == "public" && self.public_access() {
                    // IDR's public data needs no login; public/public is what the tutorial passes.
                    return Ok(());
                }
                return Err(Error::LoginFailed {
                    host: self.host.clone(),
                    user: user.to_string(),
                    reason: if has_message {
                        format!(
                            "the server refused the credentials (HTTP {})",
                            answer.status
                        )
                    } else {
                        format!(
                            "HTTP {} without a message (the server's CSRF check may have refused the request)",
                            answer.status
                        )
                    },
                });
            }
            s if s.is_redirection() => return Err(self.redirect_error(call, &answer)),
            s => {
                let hint = if s.is_server_error() {
                    "the server failed; the login is sent once and not retried, so that the \
                     password is not sent again to a server in a bad state: try again later"
                } else {
                    "unexpected answer to the login: check that the host is an OMERO.web server"
                };
                return Err(Error::Omero {
                    host: self.host.clone(),
                    call: call.to_string(),
                    reason: format!("HTTP {s}: {hint}"),
                    source: None,
                });
            }
        }
        // Parsed without `json()`, whose errors could quote the answer.
        let v: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| self.malformed(call, "the login answer is not JSON"))?;
        if v.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(Error::LoginFailed {
                host: self.host.clone(),
                user: user.to_string(),
                reason: "the server did not report success".into(),
            });
        }
        let ctx = v.get("eventContext");
        self.session = Session::User {
            name: ctx
                .and_then(|c| c.get("userName"))
                .and_then(Value::as_str)
                .unwrap_or(user)
                .to_string(),
            id: ctx.and_then(|c| c.get("userId")).and_then(Value::as_i64),
            group: ctx
                .and_then(|c| c.get("groupName"))
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        self.closed.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Whether the server shows data without a login (IDR does).
    fn public_access(&self) -> bool {
        let Ok(url) = self.api_url("m/projects/?limit=1") else {
            return false;
        };
        matches!(
            self.send("GET /api/v0/m/projects/", Method::GET, url, None),
            Ok(a) if a.status == StatusCode::OK
        )
    }

    pub(crate) fn image(&self, id: u64) -> Result<Image> {
        let call = format!("GET /api/v0/m/images/{id}/");
        let answer = self.send(
            &call,
            Method::GET,
            self.api_url(&format!("m/images/{id}/"))?,
            None,
        )?;
        self.check(&call, &answer, "image", id)?;
        let v = self.json(&call, &answer)?;
        let data = v
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| self.malformed(&call, "no image object under \"data\""))?;
        let mut image = image_from_json(data, self.pixel_source(), &self.host, &call)?;
        image.studies = self.studies(id);
        Ok(image)
    }

    /// IDR's study folders for `{study}`, from the project name webgateway reports. Only asked
    /// when a template needs it and no study is set; a failure just leaves the study unknown.
    fn studies(&self, id: u64) -> Vec<String> {
        let needed = self.templates.study.is_none()
            && self
                .templates
                .templates
                .iter()
                .any(|t| t.contains("{study}"));
        if !needed {
            return Vec::new();
        }
        let call = format!("GET /webgateway/imgData/{id}/");
        let Ok(url) = self.url(&format!("webgateway/imgData/{id}/")) else {
            return Vec::new();
        };
        let Ok(answer) = self.send(&call, Method::GET, url, None) else {
            return Vec::new();
        };
        let Ok(v) = self.json(&call, &answer) else {
            return Vec::new();
        };
        v.get("meta")
            .and_then(|m| m.get("projectName"))
            .and_then(Value::as_str)
            .map(idr_studies)
            .unwrap_or_default()
    }

    pub(crate) fn dataset_images(&self, id: u64) -> Result<Vec<Image>> {
        // The image list of an unknown dataset is just empty; the dataset itself answers 404.
        let call = format!("GET /api/v0/m/datasets/{id}/");
        let answer = self.send(
            &call,
            Method::GET,
            self.api_url(&format!("m/datasets/{id}/"))?,
            None,
        )?;
        self.check(&call, &answer, "dataset", id)?;

        let max = self.options.max_images;
        let mut images = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        let mut limit = 500usize;
        // Every turn either adds an image, ends, or fails, so at most `max` + 1 pages are asked;
        // `totalCount` only says when to stop early, it never sizes anything.
        loop {
            let call = format!("GET /api/v0/m/datasets/{id}/images/?offset={offset}");
            let url = self.api_url(&format!(
                "m/datasets/{id}/images/?limit={limit}&offset={offset}"
            ))?;
            let answer = self.send(&call, Method::GET, url, None)?;
            self.check(&call, &answer, "dataset", id)?;
            let v = self.json(&call, &answer)?;
            let page = v
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| self.malformed(&call, "no image list under \"data\""))?;
            if page.is_empty() {
                break;
            }
            let meta = v.get("meta");
            let total = meta
                .and_then(|m| m.get("totalCount"))
                .and_then(Value::as_u64);
            let mut fresh = 0usize;
            for item in page {
                let image = image_from_json(item, self.pixel_source(), &self.host, &call)?;
                // Images added while listing shift later pages; one seen twice is skipped.
                if !seen.insert(image.id) {
                    continue;
                }
                if images.len() >= max {
                    return Err(Error::Omero {
                        host: self.host.clone(),
                        call,
                        reason: format!(
                            "the dataset lists more than {max} images{}; listing stops there so \
                             that a broken server cannot fill memory: raise \
                             ConnectOptions::with_max_images if the dataset is that large",
                            total.map_or(String::new(), |t| format!(" (the server reports {t})"))
                        ),
                        source: None,
                    });
                }
                images.push(image);
                fresh += 1;
            }
            if fresh == 0 {
                return Err(Error::Omero {
                    host: self.host.clone(),
                    call,
                    reason: format!(
                        "the server ignored offset {offset}: the page repeats only images \
                         already listed, so the list would never end; the server's JSON API is \
                         broken, list the dataset in OMERO.web or ask its administrator"
                    ),
                    source: None,
                });
            }
            if let Some(most) = meta.and_then(|m| m.get("maxLimit")).and_then(Value::as_u64) {
                limit = limit
                    .min(usize::try_from(most).unwrap_or(usize::MAX))
                    .max(1);
            }
            offset = offset.saturating_add(page.len());
            match total {
                Some(total) if (offset as u64) < total => {}
                // Without a total, a short page is the last one.
                None if page.len() >= limit => {}
                _ => break,
            }
        }
        Ok(images)
    }

    fn pixel_source(&self) -> PixelSource {
        PixelSource::Templates(Arc::clone(&self.templates))
    }

    /// Log out once; later calls (and `Drop`) do nothing.
    pub(crate) fn logout(&self) -> Result<()> {
        self.logout_with(self.options.retries + 1, None)
    }

    fn logout_with(&self, attempts: usize, timeout: Option<Duration>) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let call = "POST /webclient/logout/";
        let answer = self.send_with(
            call,
            Method::POST,
            self.url("webclient/logout/")?,
            Some(Secret::new("")),
            attempts,
            timeout,
        )?;
        if answer.status.is_success() || answer.status.is_redirection() {
            Ok(())
        } else {
            Err(self.status_error(call, answer.status, &answer.body))
        }
    }

    fn malformed(&self, call: &str, reason: &str) -> Error {
        Error::OmeroMalformed {
            host: self.host.clone(),
            call: call.to_string(),
            reason: reason.to_string(),
        }
    }

    fn json(&self, call: &str, answer: &Answer) -> Result<Value> {
        if !answer.status.is_success() {
            return Err(self.status_error(call, answer.status, &answer.body));
        }
        serde_json::from_slice(&answer.body).map_err(|e| self.malformed(call, &e.to_string()))
    }

    fn check(&self, call: &str, answer: &Answer, what: &'static str, id: u64) -> Result<()> {
        match answer.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(Error::OmeroNotFound {
                host: self.host.clone(),
                what,
                id,
            }),
            s => Err(self.status_error(call, s, &answer.body)),
        }
    }

    fn status_error(&self, call: &str, status: StatusCode, body: &[u8]) -> Error {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string));
        let hint = match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                "not allowed: connect with a user name and password that can see it"
            }
            s if s.is_server_error() => "the server failed after retries; try again later",
            _ => "unexpected answer",
        };
        Error::Omero {
            host: self.host.clone(),
            call: call.to_string(),
            reason: match message {
                Some(m) => format!("HTTP {status} ({}): {hint}", self.sanitize(&m)),
                None => format!("HTTP {status}: {hint}"),
            },
            source: None,
        }
    }

    /// A server's message made fit to show: without the session's cookies, the CSRF token or
    /// the password (a server may echo what it was sent), without control characters, and short.
    fn sanitize(&self, message: &str) -> String {
        let mut secrets: Vec<String> = self
            .jar
            .lock()
            .map(|j| j.values().cloned().collect())
            .unwrap_or_default();
        if let Some(t) = self.token.lock().ok().and_then(|t| t.clone()) {
            secrets.push(t);
        }
        // Longest first, so that a secret holding another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        // Cut first to a window well past the shown part, so that redacting stays cheap on a
        // message of megabytes, yet a secret starting in the shown part is still seen whole.
        let mut text: String = message
            .chars()
            .take(MAX_MESSAGE_CHARS * 5)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for secret in secrets.iter().filter(|s| s.len() >= 2) {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        if let Some(password) = &self.password {
            text = password.redact(&text);
        }
        // Cut after redacting, so that no cut leaves part of a secret.
        match text.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((i, _)) => format!("{}...", &text[..i]),
            None => text,
        }
    }

    fn redirect_error(&self, call: &str, answer: &Answer) -> Error {
        let target = answer
            .location
            .as_ref()
            .map_or("an unreadable address".to_string(), |u| {
                format!("host {}", host_port(u))
            });
        Error::Omero {
            host: self.host.clone(),
            call: call.to_string(),
            reason: format!(
                "HTTP {} redirect to {target}, not followed: the session cookie, CSRF token and \
                 password are sent only to the host given to connect; if the server lives at that \
                 address, connect to it directly",
                answer.status
            ),
            source: None,
        }
    }

    /// One call, retried on dropped connections, timeouts and 5xx answers with doubling backoff.
    /// A form body is a `Secret` because the login form holds the password.
    /// A 3xx left after following same-origin redirects points elsewhere: an error.
    fn send(&self, call: &str, method: Method, url: Url, form: Option<Secret>) -> Result<Answer> {
        let attempts = self.options.retries + 1;
        let answer = self.send_with(call, method, url, form, attempts, None)?;
        if answer.status.is_redirection() {
            return Err(self.redirect_error(call, &answer));
        }
        Ok(answer)
    }

    fn send_with(
        &self,
        call: &str,
        method: Method,
        url: Url,
        form: Option<Secret>,
        attempts: usize,
        timeout: Option<Duration>,
    ) -> Result<Answer> {
        let mut backoff = self.options.initial_backoff;
        let attempts = attempts.max(1);
        let mut last = String::new();
        // The error of the last attempt when it got no answer, for the error's `source`.
        let mut last_error = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
            let client = if method == Method::GET {
                &self.http
            } else {
                &self.post
            };
            let mut request = client.request(method.clone(), url.clone());
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let cookies = self.cookie_header();
            if !cookies.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&cookies) {
                    request = request.header(COOKIE, v);
                }
            }
            if method == Method::POST {
                if let Some(token) = self.csrf() {
                    request = request.header("X-CSRFToken", token);
                }
                // Django checks the Referer of HTTPS POSTs against the host.
                request = request.header(REFERER, self.root.as_str());
            }
            if let Some(form) = &form {
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.expose().to_string());
            }
            let result = self.rt.block_on(read_answer(request))?;
            match result {
                Attempt::Answer(answer, set_cookies) => {
                    self.store_cookies(&set_cookies);
                    if answer.status.is_server_error() && attempt < attempts {
                        last = format!("HTTP {}", answer.status);
                        last_error = None;
                        continue;
                    }
                    return Ok(answer);
                }
                Attempt::TooLarge(announced) => {
                    return Err(Error::Omero {
                        host: self.host.clone(),
                        call: call.to_string(),
                        reason: format!(
                            "the answer is larger than {MAX_ANSWER_BYTES} bytes{}, far more than \
                             any OMERO.web JSON answer: check that the host is an OMERO.web server",
                            announced.map_or(String::new(), |n| format!(" (it announced {n})"))
                        ),
                        source: None,
                    });
                }
                Attempt::Transient(e) => {
                    let detail = describe_reqwest(&e);
                    if is_dns_failure(&detail) {
                        return Err(Error::Omero {
                            host: self.host.clone(),
                            call: call.to_string(),
                            reason: format!(
                                "unknown host ({detail}); check the host name, e.g. idr.openmicroscopy.org"
                            ),
                            source: reqwest_source(e),
                        });
                    }
                    last = detail;
                    last_error = Some(e);
                }
            }
        }
        Err(Error::Omero {
            host: self.host.clone(),
            call: call.to_string(),
            reason: if attempts == 1 {
                format!(
                    "no answer ({last}); sent once, not retried: check the host and your network, or raise ConnectOptions::with_timeout"
                )
            } else {
                format!(
                    "no answer after {attempts} attempts ({last}); check the host and your network, or raise ConnectOptions::with_retries"
                )
            },
            source: last_error.and_then(reqwest_source),
        })
    }

    fn cookie_header(&self) -> String {
        let Ok(jar) = self.jar.lock() else {
            return String::new();
        };
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store_cookies(&self, set_cookies: &[String]) {
        let Ok(mut jar) = self.jar.lock() else {
            return;
        };
        for line in set_cookies {
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            let expired = parts.any(|attr| {
                let attr = attr.trim().to_ascii_lowercase();
                attr.strip_prefix("max-age=")
                    .and_then(|n| n.trim().parse::<i64>().ok())
                    .is_some_and(|n| n <= 0)
            });
            if value.is_empty() || expired {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }
}

/// Send, then read the answer with a running bound: a `Content-Length` over the bound is refused
/// before reading, and a body without one is cut at the bound.
async fn read_answer(request: reqwest::RequestBuilder) -> Result<Attempt> {
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Ok(Attempt::Transient(e)),
    };
    let status = response.status();
    let set_cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| response.url().join(l).ok());
    let announced = response.content_length();
    if announced.is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Ok(Attempt::TooLarge(announced));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Ok(Attempt::TooLarge(announced));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Ok(Attempt::Transient(e)),
        }
    }
    Ok(Attempt::Answer(
        Answer {
            status,
            body,
            location,
        },
        set_cookies,
    ))
}

impl Drop for ServerClient {
    fn drop(&mut self) {
        // Dropping a connection ends its session, like disconnect; nobody is left to hear errors.
        // One quick attempt: a notebook must not hang on a dead server when a cell drops this.
        let _ = self.logout_with(1, Some(Duration::from_secs(5)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_does_not_answer_keeps_reqwests_error_without_its_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = ConnectOptions::default()
            .with_retries(1)
            .with_backoff(Duration::from_millis(1));
        let e = ServerClient::connect(
            &format!("http://127.0.0.1:{port}"),
            "",
            Secret::new(""),
            options,
        )
        .unwrap_err();
        match &e {
            Error::Omero {
                source: Some(source),
                reason,
                ..
            } => {
                let source = source
                    .downcast_ref::<reqwest::Error>()
                    .expect("reqwest's own error");
                assert!(source.url().is_none(), "{source:?}");
                assert!(reason.starts_with("no answer after 2 attempts"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // The printed line is the error's text alone; the source adds nothing to it.
        assert_eq!(crate::store::error_chain(&e), e.to_string());
    }

    #[test]
    fn hosts_mean_https_unless_written() {
        assert_eq!(
            root_url("idr.openmicroscopy.org").unwrap().as_str(),
            "https://idr.openmicroscopy.org/"
        );
        assert_eq!(
            root_url("http://localhost:8080/omero").unwrap().as_str(),
            "http://localhost:8080/omero/"
        );
        assert!(root_url("ftp://x").is_err());
        assert!(root_url("").is_err());
        // The tutorials' websocket addresses mean the same server's OMERO.web, over HTTPS.
        for (ws, web) in [
            (
                "wss://workshop.openmicroscopy.org/omero-ws",
                "https://workshop.openmicroscopy.org/",
            ),
            (
                "ws://idr.openmicroscopy.org/omero-ws",
                "https://idr.openmicroscopy.org/",
            ),
            ("wss://host:4066/omero-ws/", "https://host:4066/"),
            ("wss://host/web/omero-ws", "https://host/web/"),
        ] {
            assert_eq!(root_url(ws).unwrap().as_str(), web, "{ws}");
        }
        assert!(root_url("wss://").is_err());
        assert!(is_websocket(" WSS://host/omero-ws") && is_websocket("ws://host"));
        assert!(!is_websocket("wsserver.example.org") && !is_websocket("https://ws.example.org"));
        let e = root_url("wss://bob:hunter2@host/omero-ws")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = root_url("https://bob:hunter2@host")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn hosts_are_shown_without_secrets() {
        assert_eq!(
            redact_host("idr.openmicroscopy.org"),
            "idr.openmicroscopy.org"
        );
        assert_eq!(
            redact_host("https://bob:hunter2@host:8080/omero/?x=1#y"),
            "https://[credentials removed]@host:8080/omero/"
        );
        assert_eq!(
            redact_host("bob:hunter2@host"),
            "[credentials removed]@host"
        );
        assert_eq!(
            redact_host("https://a:b@c@host"),
            "https://[credentials removed]@host"
        );
        // An @ in the path is not a credential.
        assert_eq!(redact_host("http://host/a@b"), "http://host/a@b");
        for bad in [
            "ftp://bob:hunter2@x",
            "https://bob:hunter2@bad host",
            "http://bob:hunter2@[::1",
        ] {
            let e = root_url(bad).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        }
    }

    #[test]
    fn the_password_is_recognised_in_echoes() {
        let f = Fingerprint::new("s3cret pass");
        assert_eq!(
            f.redact("got s3cret pass and password=s3cret+pass, é!"),
            "got [redacted] and password=[redacted], é!"
        );
        assert_eq!(f.redact("nothing here"), "nothing here");
        assert_eq!(Fingerprint::new("x").redact("x marks"), "x marks");
    }

    #[test]
    fn dns_failures_are_recognised() {
        assert!(is_dns_failure("error sending request: client error (Connect): dns error: failed to lookup address information"));
        assert!(!is_dns_failure("connection refused"));
    }

    #[test]
    fn none_duration_is_sane() {
        assert!(ConnectOptions::default().timeout > Duration::from_secs(1));
    }
}
