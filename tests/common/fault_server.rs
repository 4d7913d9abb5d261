//! [`FaultServer`]: tiny std-only HTTP/1.1 file servers that misbehave on purpose.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::http::{find, http_date};

#[derive(Debug, Clone)]
enum Fault {
    None,
    Flaky(usize),
    Status(u16),
    DropConnection,
    Truncate,
    Delay(Duration),
    DropMidBody(usize),
    HugeLength,
}

struct Shared {
    root: Option<PathBuf>,
    fault: Fault,
    stop: AtomicBool,
    requests: AtomicUsize,
    seen: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<String>>,
}

/// Minimal HTTP/1.1 file server (GET, HEAD, single `Range: bytes=`) on 127.0.0.1:0 with an
/// injected fault. One request per connection (`Connection: close`). The accept thread
/// stops on drop.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FaultServer {
    fn start(root: Option<&Path>, fault: Fault) -> FaultServer {
        let root = root.map(|r| {
            r.canonicalize()
                .unwrap_or_else(|e| panic!("fault server root {}: {e}", r.display()))
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root,
            fault,
            stop: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            seen: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let thread = thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || {
                for conn in listener.incoming() {
                    if sh.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(stream) => {
                            let sh = sh.clone();
                            let _ = thread::Builder::new()
                                .name("fault-conn".into())
                                .spawn(move || handle_conn(stream, &sh));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .expect("spawn accept thread");
        FaultServer {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Well-behaved file server (a baseline to compare with).
    pub fn plain(root: &Path) -> FaultServer {
        Self::start(Some(root), Fault::None)
    }

    /// Every distinct path first answers 500 `failures_per_path` times, then is served.
    pub fn flaky(root: &Path, failures_per_path: usize) -> FaultServer {
        Self::start(Some(root), Fault::Flaky(failures_per_path))
    }

    /// Every request answers 500.
    pub fn always_500(root: &Path) -> FaultServer {
        Self::status(root, 500)
    }

    /// Every request answers `status` (e.g. 403, 404, 503) with a short text body.
    pub fn status(root: &Path, status: u16) -> FaultServer {
        Self::start(Some(root), Fault::Status(status))
    }

    /// Accepts every connection, reads the request, closes without answering.
    pub fn drop_connection() -> FaultServer {
        Self::start(None, Fault::DropConnection)
    }

    /// Metadata files (names starting with ".z", or "zarr.json") intact; every other file
    /// cut to half its length (Content-Length and ranges refer to the truncated file).
    pub fn truncating(root: &Path) -> FaultServer {
        Self::start(Some(root), Fault::Truncate)
    }

    /// Serves normally, but only after `delay` (for client-timeout tests).
    pub fn slow(root: &Path, delay: Duration) -> FaultServer {
        Self::start(Some(root), Fault::Delay(delay))
    }

    /// Chunk files (not metadata): the first `n` requests of each path send the headers and half
    /// the body, then close the connection; later ones are served whole.
    pub fn drop_mid_body(root: &Path, n: usize) -> FaultServer {
        Self::start(Some(root), Fault::DropMidBody(n))
    }

    /// Every GET announces `Content-Length: 100 GiB`, sends a few bytes and closes.
    pub fn huge_length(root: &Path) -> FaultServer {
        Self::start(Some(root), Fault::HugeLength)
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Number of requests received so far (all methods, including failed ones).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// One entry per request: `"GET /v04.zarr/.zattrs"`, plus `" bytes=0-99"` if ranged.
    pub fn request_log(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // wake the blocking accept()
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while find(&buf, b"\r\n\r\n").is_none() {
        if buf.len() > 64 * 1024 {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let mut range = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    // absolute-form targets (proxies) -> path
    let path = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map(|j| target[i + 3 + j..].to_string())
            .unwrap_or("/".into()),
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    Some(Request {
        method,
        path,
        range,
    })
}

fn handle_conn(mut stream: TcpStream, sh: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_request(&mut stream) else {
        return;
    };
    sh.requests.fetch_add(1, Ordering::SeqCst);
    {
        let mut entry = format!("{} {}", req.method, req.path);
        if let Some(r) = &req.range {
            entry.push(' ');
            entry.push_str(r);
        }
        sh.log.lock().unwrap().push(entry);
    }
    match &sh.fault {
        Fault::DropConnection => {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Fault::Status(code) => respond_text(&mut stream, *code, &req.method),
        Fault::Flaky(n) => {
            let fail = {
                let mut seen = sh.seen.lock().unwrap();
                let c = seen.entry(req.path.clone()).or_insert(0);
                if *c < *n {
                    *c += 1;
                    true
                } else {
                    false
                }
            };
            if fail {
                respond_text(&mut stream, 500, &req.method);
            } else {
                serve_file(&mut stream, sh, &req, false);
            }
        }
        Fault::Delay(d) => {
            let until = Instant::now() + *d;
            while Instant::now() < until && !sh.stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            serve_file(&mut stream, sh, &req, false);
        }
        Fault::Truncate => serve_file(&mut stream, sh, &req, true),
        Fault::None => serve_file(&mut stream, sh, &req, false),
        Fault::HugeLength => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Length: 107374182400\r\nConnection: close\r\n\r\n{\"";
            let _ = stream.write_all(head.as_bytes());
        }
        Fault::DropMidBody(n) => {
            let name = req.path.rsplit('/').next().unwrap_or("");
            let drop = !is_metadata_name(name) && {
                let mut seen = sh.seen.lock().unwrap();
                let c = seen.entry(req.path.clone()).or_insert(0);
                *c += 1;
                *c <= *n
            };
            let file = sh.root.as_ref().and_then(|r| resolve(r, &req.path));
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) if drop => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body[..body.len() / 2]);
                    let _ = stream.flush();
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                _ => serve_file(&mut stream, sh, &req, false),
            }
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) {
    let mut out = format!("HTTP/1.1 {code} {}\r\n", reason(code));
    out.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    out.push_str("Server: omeflow-fault-server\r\n");
    out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    let _ = stream.write_all(&bytes);
}

fn respond_text(stream: &mut TcpStream, code: u16, method: &str) {
    let body = format!("{code} {}\n", reason(code));
    respond(
        stream,
        code,
        &[("Content-Type", "text/plain".into())],
        body.as_bytes(),
        method.eq_ignore_ascii_case("HEAD"),
    );
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    let mut p = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(n) => p.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(p)
}

fn is_metadata_name(name: &str) -> bool {
    name.starts_with(".z") || name == "zarr.json"
}

/// Parse a single `bytes=` range against `len`: Ok(Some((start, end_inclusive))),
/// Ok(None) = ignore the header (serve 200), Err(()) = unsatisfiable (416).
fn parse_range(h: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multi-range: not supported, full response is allowed
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len.saturating_sub(n), len - 1)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Ok(None),
        }
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end.min(len - 1))))
}

fn serve_file(stream: &mut TcpStream, sh: &Shared, req: &Request, truncate: bool) {
    let head_only = req.method.eq_ignore_ascii_case("HEAD");
    if !(head_only || req.method.eq_ignore_ascii_case("GET")) {
        respond_text(stream, 405, &req.method);
        return;
    }
    let Some(root) = &sh.root else {
        respond_text(stream, 404, &req.method);
        return;
    };
    let Some(path) = resolve(root, &req.path) else {
        respond_text(stream, 404, &req.method);
        return;
    };
    if !path.is_file() {
        respond_text(stream, 404, &req.method);
        return;
    }
    let Ok(mut data) = fs::read(&path) else {
        respond_text(stream, 404, &req.method);
        return;
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if truncate && !is_metadata_name(&name) {
        let half = data.len() / 2;
        data.truncate(half);
    }
    let mtime = fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    let secs = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let len = data.len() as u64;
    let content_type = if name.ends_with(".json") || is_metadata_name(&name) {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let mut headers = vec![
        ("Content-Type", content_type.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        ("Last-Modified", http_date(mtime)),
        ("ETag", format!("\"{len:x}-{secs:x}\"")),
    ];
    match req.range.as_deref().map(|r| parse_range(r, len)) {
        Some(Err(())) => {
            headers.push(("Content-Range", format!("bytes */{len}")));
            respond(stream, 416, &headers, b"", head_only);
        }
        Some(Ok(Some((s, e)))) => {
            headers.push(("Content-Range", format!("bytes {s}-{e}/{len}")));
            respond(
                stream,
                206,
                &headers,
                &data[s as usize..=e as usize],
                head_only,
            );
        }
        _ => respond(stream, 200, &headers, &data, head_only),
    }
}
