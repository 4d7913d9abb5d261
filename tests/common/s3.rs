//! [`S3Server`]: `s3s-fs` serving a directory whose subdirectories are buckets, and
//! [`s3_root_with`], a copy of fixtures laid out as such a directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::fixtures::{copy_dir, fixture};
use super::http::http_request;
use super::process::{free_port, read_lossy, stop_child, wait_ready};

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
