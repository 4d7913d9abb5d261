//! [`Nginx`]: Debian's nginx serving a directory as static files (Range works).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::http_request;
use super::process::{free_port, is_root, read_lossy, stop_child, wait_ready};

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
