//! [`SlurmCluster`]: a real Slurm cluster on this machine (Debian's munged, slurmctld and
//! several slurmd as emulated nodes), started by `tests/slurm/cluster` and stopped by the PIDs
//! it saved when the value is dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};

/// Slurm's commands find a cluster through `SLURM_CONF`, one per process: the tests that use a
/// cluster take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct SlurmCluster {
    dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster")
}

impl SlurmCluster {
    /// `nodes` emulated nodes, or `None` (after one line saying why) where Slurm's daemons
    /// cannot run: not installed, or not root.
    pub fn up(nodes: usize) -> Option<Self> {
        let installed =
            Path::new("/usr/sbin/slurmctld").exists() && Path::new("/usr/sbin/munged").exists();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if !installed || !root {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the Slurm tests need Debian's slurmctld, slurmd and munge and root \
                     (.ci/run installs them)"
                );
            });
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::Builder::new()
            .prefix("omeflow-slurm-")
            .tempdir()
            .unwrap();
        // Ports of this process's own: two test binaries may run clusters at once.
        let port = 17000 + (std::process::id() % 2000) * 10;
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(dir.path())
            .arg(nodes.to_string())
            .env("SLURM_TEST_PORT", port.to_string())
            .output()
            .unwrap();
        let cluster = SlurmCluster { dir, _turn: turn };
        assert!(
            out.status.success(),
            "the Slurm cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The turn taken above keeps every other cluster test out while this is set.
        std::env::set_var("SLURM_CONF", cluster.conf());
        Some(cluster)
    }

    /// Its `slurm.conf`.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// A folder for the test's files that the "nodes" see (the same machine).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// kill -9 node `n`'s slurmd and everything it runs.
    pub fn kill_node(&self, n: usize) {
        let status = Command::new("bash")
            .arg(script())
            .arg("kill-node")
            .arg(self.dir.path())
            .arg(n.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}
