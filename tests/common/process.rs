//! Child processes of the server wrappers (nginx, s3s-fs): a free port, readiness, stopping,
//! and reading their logs.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port")
}

pub(super) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

pub(super) fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Wait until `port` accepts connections and `check` (given the port) approves, while the
/// child is still running. Err(reason) when the child exits or the timeout passes.
pub(super) fn wait_ready(
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

pub(super) fn stop_child(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
