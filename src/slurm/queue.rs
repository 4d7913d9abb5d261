//! Slurm's commands, as omeflow calls them: `sbatch` to submit an array, `squeue` to see its
//! elements, `scancel` to stop them, `scontrol` for the largest array.
//!
//! `squeue` is read in its text form (`-h -r -t all -o ...`): Slurm 22.05's `--json` ignores
//! the `--name` and `--jobs` filters and prints every job of the cluster, and the text form is
//! the same on every version omeflow meets.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::{Error, Result};

/// The most bytes of a command's output read (`squeue` of a big array).
const MAX_OUTPUT: usize = 64 << 20;

/// What Slurm says of one array element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) state: String,
    pub(crate) nodes: String,
    pub(crate) reason: String,
}

impl Task {
    /// Whether the element may still run (queued, running or finishing).
    pub(crate) fn active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "STOPPED"
        )
    }
}

fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Slurm(format!(
                "{program} is not on this machine's PATH: submit from a machine of the cluster \
                 (a login node) where Slurm's commands are installed"
            ))
        } else {
            Error::Slurm(format!("running {program}: {e}"))
        }
    })?;
    if out.stdout.len() > MAX_OUTPUT {
        return Err(Error::Slurm(format!(
            "{program} printed more than {MAX_OUTPUT} bytes"
        )));
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Slurm(format!(
            "{program} {} failed ({}): {}",
            args.first().copied().unwrap_or(""),
            out.status,
            err.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submit `script` as an array of `indices`, logs into `logs`; returns the array's job id.
pub(crate) fn sbatch(script: &Path, indices: &[usize], logs: &Path) -> Result<u64> {
    let array = format!("--array={}", compress(indices));
    let output = format!("--output={}/%A_%a.log", logs.display());
    let script_s = script.display().to_string();
    let dir = script.parent();
    let out = run("sbatch", &["--parsable", &array, &output, &script_s], dir)?;
    // `--parsable` prints `<id>` or `<id>;<cluster>`.
    let id = out.trim().split(';').next().unwrap_or("");
    id.parse().map_err(|_| {
        Error::Slurm(format!(
            "sbatch answered {:?}, not a job id",
            out.trim().chars().take(200).collect::<String>()
        ))
    })
}

/// The elements of the arrays named `name` that Slurm still knows, by (array id, index).
pub(crate) fn squeue(name: &str) -> Result<HashMap<(u64, usize), Task>> {
    let name_arg = format!("--name={name}");
    let out = run(
        "squeue",
        &["-h", "-r", "-t", "all", &name_arg, "-o", "%F|%K|%T|%N|%r"],
        None,
    )?;
    let mut tasks = HashMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.splitn(5, '|').collect();
        let [id, index, state, nodes, reason] = f[..] else {
            continue;
        };
        let (Ok(id), Ok(index)) = (id.trim().parse::<u64>(), index.trim().parse::<usize>()) else {
            continue;
        };
        tasks.insert(
            (id, index),
            Task {
                state: state.trim().to_string(),
                nodes: nodes.trim().to_string(),
                reason: reason.trim().to_string(),
            },
        );
    }
    Ok(tasks)
}

/// What accounting says of element `index` of array `id` (state, exit code, nodes), for an
/// element `squeue` no longer lists; `None` where the cluster keeps no accounting.
pub(crate) fn sacct(id: u64, index: usize) -> Option<String> {
    let job = format!("{id}_{index}");
    let out = run(
        "sacct",
        &[
            "-n",
            "-P",
            "-X",
            "-j",
            &job,
            "-o",
            "State,ExitCode,NodeList",
        ],
        None,
    )
    .ok()?;
    let line = out.lines().find(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = line.split('|').collect();
    match f[..] {
        [state, code, nodes] => Some(format!(
            "Slurm's accounting says {state} (exit code {code}) on {nodes}"
        )),
        _ => None,
    }
}

/// Cancel every element of the arrays `ids`.
pub(crate) fn scancel(ids: &[u64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    let args: Vec<&str> = ids.iter().map(String::as_str).collect();
    run("scancel", &args, None).map(|_| ())
}

/// The cluster's `MaxArraySize` (indices run below it); Slurm's default when it does not say.
pub(crate) fn max_array_size() -> usize {
    let Ok(out) = run("scontrol", &["show", "config"], None) else {
        return 1001;
    };
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "MaxArraySize").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(1001)
}

/// Indices as Slurm's array syntax: `0-3,5,7-9`.
pub(crate) fn compress(indices: &[usize]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_compress_to_slurm_ranges() {
        assert_eq!(compress(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(compress(&[4]), "4");
        assert_eq!(compress(&[3, 1, 2, 2]), "1-3");
    }

    #[test]
    fn only_live_states_are_active() {
        let t = |s: &str| Task {
            state: s.into(),
            nodes: String::new(),
            reason: String::new(),
        };
        assert!(t("PENDING").active() && t("RUNNING").active() && t("COMPLETING").active());
        for s in [
            "COMPLETED",
            "FAILED",
            "NODE_FAIL",
            "CANCELLED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
        ] {
            assert!(!t(s).active(), "{s}");
        }
    }
}
