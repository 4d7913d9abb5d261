//! The OMERO.web JSON API client: discovery, CSRF token, login, session cookie, retries, logout.
//!
//! Requests run on the connection's own [`IoRuntime`], so the sync calls work from plain code,
//! from inside another tokio runtime (evcxr's async mode) and across notebook cells.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE, COOKIE, REFERER, SET_COOKIE};
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

/// One answer, with what the caller needs of it.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

pub(crate) struct ServerClient {
    /// The host as the user wrote it, for messages.
    pub(crate) host: String,
    /// Where OMERO.web lives, ending in `/`.
    root: Url,
    /// The JSON API base, e.g. `https://host/api/v0/`.
    api: Url,
    http: reqwest::Client,
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

/// `idr.openmicroscopy.org` means HTTPS; a URL keeps its scheme (plain `http://` only when written).
pub(crate) fn root_url(host: &str) -> Result<Url> {
    let host = host.trim();
    let invalid = |reason: &str| Error::InvalidUrl {
        location: host.to_string(),
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
    let mut url = Url::parse(&text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(
            "an OMERO server is reached over https:// (or http:// when written)",
        ));
    }
    if url.password().is_some() || !url.username().is_empty() {
        // Never echo the URL: it holds a secret.
        return Err(Error::InvalidUrl {
            location: format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
            reason: "credentials in the URL are not used; pass the user and password to connect"
                .into(),
        });
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
        crate::store::ensure_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("omeflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Omero {
                host: host.to_string(),
                call: "setup".into(),
                reason: describe_reqwest(&e),
            })?;
        let rt = IoRuntime::new(1)?;
        let api = root.join("api/v0/").map_err(|e| Error::InvalidUrl {
            location: host.to_string(),
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
            host: host.trim().to_string(),
            root,
            api,
            http,
            rt,
            jar: Mutex::new(BTreeMap::new()),
            token: Mutex::new(None),
            session: Session::Public,
            options,
            templates,
            // Nothing to log out of until a login succeeds.
            closed: AtomicBool::new(true),
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
        drop(password);
        let answer = self.send(
            call,
            Method::POST,
            self.api_url("login/")?,
            Some(Secret::new(form)),
        )?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                let message = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string));
                if user == "public" && self.public_access() {
                    // IDR's public data needs no login; public/public is what the tutorial passes.
                    return Ok(());
                }
                return Err(Error::LoginFailed {
                    host: self.host.clone(),
                    user: user.to_string(),
                    reason: match message {
                        Some(m) => format!("the server refused the credentials ({m})"),
                        None => format!(
                            "HTTP {} without a message (the server's CSRF check may have refused the request)",
                            answer.status
                        ),
                    },
                });
            }
            status => return Err(self.status_error(call, status, &answer.body)),
        }
        let v = self.json(call, &answer)?;
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
        let mut image =
            image_from_json(data, self.pixel_source()).map_err(|e| self.malformed(&call, &e))?;
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

        let mut images = Vec::new();
        let mut offset = 0usize;
        let mut limit = 500usize;
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
            for item in page {
                images.push(
                    image_from_json(item, self.pixel_source())
                        .map_err(|e| self.malformed(&call, &e))?,
                );
            }
            let meta = v.get("meta");
            let total = meta
                .and_then(|m| m.get("totalCount"))
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            if let Some(max) = meta.and_then(|m| m.get("maxLimit")).and_then(Value::as_u64) {
                limit = limit.min(max as usize).max(1);
            }
            offset += page.len();
            match total {
                Some(total) if offset < total && !page.is_empty() => {}
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
                Some(m) => format!("HTTP {status} ({m}): {hint}"),
                None => format!("HTTP {status}: {hint}"),
            },
        }
    }

    /// One call, retried on dropped connections, timeouts and 5xx answers with doubling backoff.
    /// A form body is a `Secret` because the login form holds the password.
    fn send(&self, call: &str, method: Method, url: Url, form: Option<Secret>) -> Result<Answer> {
        let attempts = self.options.retries + 1;
        self.send_with(call, method, url, form, attempts, None)
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
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
            let mut request = self.http.request(method.clone(), url.clone());
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
            let result = self.rt.block_on(async move {
                let response = request.send().await.map_err(|e| describe_reqwest(&e));
                let response = match response {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(e)),
                };
                let status = response.status();
                let set_cookies: Vec<String> = response
                    .headers()
                    .get_all(SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_string))
                    .collect();
                match response.bytes().await {
                    Ok(body) => Ok(Ok((status, set_cookies, body.to_vec()))),
                    Err(e) => Ok(Err(describe_reqwest(&e))),
                }
            })?;
            match result {
                Ok((status, set_cookies, body)) => {
                    self.store_cookies(&set_cookies);
                    if status.is_server_error() && attempt < attempts {
                        last = format!("HTTP {status}");
                        continue;
                    }
                    return Ok(Answer { status, body });
                }
                Err(detail) => {
                    if is_dns_failure(&detail) {
                        return Err(Error::Omero {
                            host: self.host.clone(),
                            call: call.to_string(),
                            reason: format!(
                                "unknown host ({detail}); check the host name, e.g. idr.openmicroscopy.org"
                            ),
                        });
                    }
                    last = detail;
                }
            }
        }
        Err(Error::Omero {
            host: self.host.clone(),
            call: call.to_string(),
            reason: format!(
                "no answer after {attempts} attempts ({last}); check the host and your network, or raise ConnectOptions::with_retries"
            ),
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
        let e = root_url("https://bob:hunter2@host")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
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
