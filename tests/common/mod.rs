//! Shared test infrastructure for omeflow's integration tests (`mod common;`).
//!
//! * [`fixtures`] / [`manifest`]: OME-Zarr fixtures generated once by
//!   `tests/fixtures/make_fixtures.py` (python3 + zarr-python 3 + ome-zarr-py).
//! * [`Nginx`]: Debian's nginx serving a directory as static files (Range works).
//! * [`S3Server`]: `s3s-fs` serving a directory whose subdirectories are buckets.
//! * [`FaultServer`]: tiny std-only HTTP/1.1 servers that misbehave on purpose.
//! * [`http_request`]: raw HTTP/1.1 client (Connection: close) for asserting on servers.
//!
//! Only std, `tempfile` and `serde_json` are used.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------------------------------
// fixtures

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Directory holding the generated fixtures and `manifest.json`.
///
/// Generated once into `target/test-fixtures/fx-<hash of the script>/` by running
/// `python3 tests/fixtures/make_fixtures.py` (interpreter overridable with `OMEFLOW_PYTHON`).
/// Safe across threads (`OnceLock`) and processes (an exclusive `File::lock` on
/// `target/test-fixtures/.lock`; generation goes to a temp dir which is then renamed).
/// A changed script gets a new hash and hence a fresh directory; stale ones are removed.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(generate_fixtures).as_path()
}

fn generate_fixtures() -> PathBuf {
    let root = Path::new(MANIFEST_DIR);
    let script = root.join("tests/fixtures/make_fixtures.py");
    let bytes = fs::read(&script)
        .unwrap_or_else(|e| panic!("cannot read fixture script {}: {e}", script.display()));
    let hash = format!("{:016x}", fnv1a64(&bytes));
    let base = root.join("target/test-fixtures");
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("cannot create {}: {e}", base.display()));
    let final_dir = base.join(format!("fx-{hash}"));
    let complete = |d: &Path| d.join("manifest.json").is_file();
    if complete(&final_dir) {
        return final_dir;
    }

    let lock_path = base.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Someone else may have generated while we waited for the lock.
    if complete(&final_dir) {
        return final_dir;
    }

    let tmp = base.join(format!("tmp-{hash}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let python = std::env::var("OMEFLOW_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .arg(&script)
        .arg(&tmp)
        .current_dir(root)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
            "`{python}` not found: the OME-Zarr test fixtures need python 3.11 with \
             zarr-python 3.1, numcodecs 0.16, numpy and ome-zarr-py 0.18 \
             (set OMEFLOW_PYTHON to choose the interpreter)"
        ),
        Err(e) => panic!("cannot run `{python}`: {e}"),
    };
    if !output.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("ModuleNotFoundError") {
            "\nhint: a python package is missing; the fixtures need zarr-python 3.1, numcodecs, \
             numpy and ome-zarr-py (pip install 'zarr>=3.1' numcodecs numpy ome-zarr)"
        } else {
            ""
        };
        panic!(
            "fixture generation failed ({}): {python} {} {}\n--- stdout ---\n{}\n--- stderr ---\n{}{hint}",
            output.status,
            script.display(),
            tmp.display(),
            String::from_utf8_lossy(&output.stdout),
            stderr,
        );
    }
    fs::rename(&tmp, &final_dir).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} -> {}: {e}",
            tmp.display(),
            final_dir.display()
        )
    });
    // Remove fixtures made by other versions of the script and leftovers of dead runs.
    if let Ok(rd) = fs::read_dir(&base) {
        let keep = final_dir.file_name().unwrap().to_owned();
        for entry in rd.flatten() {
            let name = entry.file_name();
            let s = name.to_string_lossy();
            if (s.starts_with("fx-") || s.starts_with("tmp-")) && name != keep {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    drop(lock); // releases the file lock
    final_dir
}

/// `manifest.json` of the fixtures (see make_fixtures.py for the schema).
pub fn manifest() -> serde_json::Value {
    static M: OnceLock<serde_json::Value> = OnceLock::new();
    M.get_or_init(|| {
        let p = fixtures().join("manifest.json");
        let text =
            fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad {}: {e}", p.display()))
    })
    .clone()
}

/// Absolute path of a fixture-relative path (e.g. `"v04.zarr"` or `"dtypes/u8_zlib.zarr"`).
pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// The manifest entry of the image whose `name` (e.g. `"v01_blosc_be"`, `"u16_blosc-lz4"`)
/// or `path` (e.g. `"v04.zarr"`) matches.
pub fn image(name_or_path: &str) -> serde_json::Value {
    let m = manifest();
    m["images"]
        .as_array()
        .expect("manifest.images")
        .iter()
        .find(|i| i["name"] == name_or_path || i["path"] == name_or_path)
        .unwrap_or_else(|| panic!("no fixture image {name_or_path:?} in manifest"))
        .clone()
}

/// Bytes of a level's reference data (`level["raw"]`): C order, little endian, (t,c,z,y,x).
pub fn raw(level: &serde_json::Value) -> Vec<u8> {
    let rel = level["raw"].as_str().expect("level.raw");
    let p = fixtures().join(rel);
    fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Size in bytes of a manifest dtype name (`u8` .. `f64`).
pub fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "u8" | "i8" => 1,
        "u16" | "i16" => 2,
        "u32" | "i32" | "f32" => 4,
        "f64" => 8,
        other => panic!("unknown manifest dtype {other:?}"),
    }
}

/// Recursively copy a directory (files and subdirectories; symlinks are followed).
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if from.is_dir() {
            copy_dir(&from, &to);
        } else {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
        }
    }
}

/// A temp dir usable as an S3 root: `<tmp>/<bucket>/<rel>` for each fixture-relative `rel`
/// (so the object keys are e.g. `v04.zarr/.zattrs`). s3s-fs writes sidecar files into its
/// root, so serve a copy like this rather than the fixtures directory itself.
pub fn s3_root_with(bucket: &str, rels: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = tmp.path().join(bucket);
    fs::create_dir_all(&b).unwrap();
    for rel in rels {
        copy_dir(&fixture(rel), &b.join(rel));
    }
    tmp
}

// ---------------------------------------------------------------------------------------
// process helpers

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port")
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Wait until `port` accepts connections and `check` (given the port) approves, while the
/// child is still running. Err(reason) when the child exits or the timeout passes.
fn wait_ready(
    child: &mut Child,
    port: u16,
    timeout: Duration,
    check: impl Fn(u16) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited early with {status}"));
        }
        if check(port) {
            // still alive? (a port clash makes it exit right away)
            thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("process exited early with {status}"));
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready on port {port} after {timeout:?}"));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

fn stop_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------
// nginx

/// Debian's nginx serving a directory as static files on 127.0.0.1 (single process,
/// foreground). Range requests get 206, missing files and directories 404.
/// Killed on drop.
pub struct Nginx {
    pub port: u16,
    pub root: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

const NGINX_READY_PATH: &str = "/__omeflow_nginx_ready";

impl Nginx {
    pub fn serve(root: &Path) -> Nginx {
        let bin = std::env::var("OMEFLOW_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
        if !Path::new(&bin).exists() {
            panic!("nginx not found at {bin} (apt-get install nginx-light, or set OMEFLOW_NGINX)");
        }
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("nginx root {}: {e}", root.display()));
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("omeflow-nginx")
                .tempdir()
                .expect("tempdir");
            let port = free_port();
            let token = format!("omeflow-{}-{port}", std::process::id());
            let d = dir.path().display().to_string();
            let user = if is_root() { "user root;\n" } else { "" };
            let conf = format!(
                r#"{user}master_process off;
worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    log_format omeflow '$request_method $uri range=$http_range status=$status bytes=$body_bytes_sent';
    access_log {d}/access.log omeflow;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    sendfile on;
    keepalive_timeout 5;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        absolute_redirect off;
        location = {NGINX_READY_PATH} {{ access_log off; return 200 "{token}"; }}
        location / {{ try_files $uri =404; }}
    }}
}}
"#,
                root = root.display()
            );
            let conf_path = dir.path().join("nginx.conf");
            fs::write(&conf_path, conf).expect("write nginx.conf");
            let stderr = fs::File::create(dir.path().join("stderr.log")).expect("stderr.log");
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-g")
                .arg("daemon off;")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
            let check = |p: u16| {
                http_request(p, "GET", NGINX_READY_PATH, &[])
                    .map(|r| r.status == 200 && r.body == token.as_bytes())
                    .unwrap_or(false)
            };
            match wait_ready(&mut child, port, Duration::from_secs(15), check) {
                Ok(()) => {
                    return Nginx {
                        port,
                        root,
                        child,
                        dir,
                    }
                }
                Err(e) => {
                    stop_child(&mut child);
                    last_err = format!(
                        "{e}\n--- error.log ---\n{}\n--- stderr ---\n{}",
                        read_lossy(&dir.path().join("error.log")),
                        read_lossy(&dir.path().join("stderr.log"))
                    );
                }
            }
        }
        panic!("nginx did not start: {last_err}");
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Access log so far, one line per request:
    /// `GET /v04.zarr/.zattrs range=bytes=0-9 status=206 bytes=10` (`range=-` when none).
    pub fn access_log(&self) -> String {
        read_lossy(&self.dir.path().join("access.log"))
    }

    pub fn error_log(&self) -> String {
        read_lossy(&self.dir.path().join("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------
// s3s-fs

/// `s3s-fs` (S3 API over a local directory; each subdirectory of `root` is a bucket) on
/// 127.0.0.1. Path-style addressing, any region. Killed on drop.
///
/// Note: s3s-fs writes `.bucket-*.json` sidecar files into `root` on PUT; serve a copy
/// (see [`s3_root_with`]) rather than the fixtures directory.
pub struct S3Server {
    pub port: u16,
    pub root: PathBuf,
    /// `None` for an anonymous server (started without keys: unsigned requests allowed).
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    child: Child,
    dir: tempfile::TempDir,
}

fn s3s_fs_bin() -> PathBuf {
    if let Ok(p) = std::env::var("OMEFLOW_S3S_FS") {
        return PathBuf::from(p);
    }
    if let Ok(home) = std::env::var("HOME") {
        let p = Path::new(&home).join(".cargo/bin/s3s-fs");
        if p.exists() {
            return p;
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join("s3s-fs");
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "s3s-fs not found (install: cargo install s3s-fs@0.14.1 --features binary --locked, \
         or set OMEFLOW_S3S_FS)"
    );
}

impl S3Server {
    /// Server requiring SigV4 signatures made with these credentials.
    pub fn serve(root: &Path, access_key: &str, secret_key: &str) -> S3Server {
        Self::start(root, Some((access_key, secret_key)))
    }

    /// Server accepting unsigned (anonymous) requests.
    pub fn serve_anonymous(root: &Path) -> S3Server {
        Self::start(root, None)
    }

    fn start(root: &Path, keys: Option<(&str, &str)>) -> S3Server {
        let bin = s3s_fs_bin();
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("s3 root {}: {e}", root.display()));
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("omeflow-s3s")
                .tempdir()
                .expect("tempdir");
            let port = free_port();
            let log = fs::File::create(dir.path().join("s3s.log")).expect("s3s.log");
            let log2 = log.try_clone().expect("clone log");
            let mut cmd = Command::new(&bin);
            cmd.arg("--host")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(port.to_string());
            if let Some((ak, sk)) = keys {
                cmd.arg("--access-key").arg(ak).arg("--secret-key").arg(sk);
            }
            cmd.arg(&root).stdin(Stdio::null()).stdout(log).stderr(log2);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let check = |p: u16| {
                http_request(p, "GET", "/", &[])
                    .map(|r| r.status > 0 && r.header("content-type").is_some())
                    .unwrap_or(false)
            };
            match wait_ready(&mut child, port, Duration::from_secs(15), check) {
                Ok(()) => {
                    return S3Server {
                        port,
                        root,
                        access_key: keys.map(|k| k.0.to_string()),
                        secret_key: keys.map(|k| k.1.to_string()),
                        child,
                        dir,
                    }
                }
                Err(e) => {
                    stop_child(&mut child);
                    last_err = format!(
                        "{e}\n--- log ---\n{}",
                        read_lossy(&dir.path().join("s3s.log"))
                    );
                }
            }
        }
        panic!("s3s-fs did not start: {last_err}");
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        self.endpoint()
    }

    /// s3s-fs's own log (stdout + stderr).
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("s3s.log"))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------
// raw HTTP client

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to 127.0.0.1:port with `Connection: close`; reads the whole
/// response until EOF (no chunked decoding: fine for nginx static files and FaultServer).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<RawResponse> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = find(&buf, b"\r\n\r\n").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("no complete response header ({} bytes)", buf.len()),
        )
    })?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if method.eq_ignore_ascii_case("HEAD") {
        body.clear();
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// GET shortcut of [`http_request`].
pub fn http_get(port: u16, path: &str) -> io::Result<RawResponse> {
    http_request(port, "GET", path, &[])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// fault-injecting HTTP servers

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

/// RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} GMT",
        WD[wd],
        MO[(m - 1) as usize]
    )
}

/// One HTTP/1.1 request: its method, target, headers (names in lower case) and body.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// Read one request from `stream`, with the body its `Content-Length` announces; `None` when
/// the client closes or sends no request line. For the fake servers of the tests (OMERO, fuzz).
pub fn read_http_request(stream: &mut TcpStream) -> Option<HttpRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(HttpRequest {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}
