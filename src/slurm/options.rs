//! What a user asks of Slurm for a job (partition, account, time, memory, CPUs, environment,
//! the omeflow binary on the nodes) and the batch script made from it.
//!
//! Every value goes into a shell script that Slurm runs, so each is checked for what it may
//! hold before the script is written: no value can end a line or a quote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a job runs on Slurm.
///
/// ```
/// use omeflow::slurm::SlurmOptions;
/// let o = SlurmOptions {
///     partition: Some("cpu".into()),
///     time: Some("01:00:00".into()),
///     mem: Some("4G".into()),
///     cpus_per_task: 4,
///     setup: vec!["module load omeflow".into()],
///     ..SlurmOptions::default()
/// };
/// o.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` of each array element (`MM`, `HH:MM:SS`, `D-HH:MM`...).
    pub time: Option<String>,
    /// `--mem` of each element (`512M`, `4G`); by default what the job needs, estimated from the
    /// image's planes and the CPUs.
    pub mem: Option<String>,
    /// `--cpus-per-task`: the threads each element runs.
    pub cpus_per_task: usize,
    /// More `#SBATCH` lines, each an option (`--constraint=avx2`), with or without `#SBATCH`.
    pub extra: Vec<String>,
    /// Shell lines run before omeflow on the node (`module load omeflow`,
    /// `source /opt/venv/bin/activate`).
    pub setup: Vec<String>,
    /// The omeflow binary on the nodes: a path, or a name found on the node's `PATH` after
    /// `setup`. By default the binary that submits (the CLI) or `omeflow` on this `PATH`.
    pub binary: Option<PathBuf>,
    /// Array elements to cut the job into (at most Slurm's `MaxArraySize`); default 100.
    pub elements: Option<usize>,
    /// Fewest items (planes, time points) per element.
    pub at_least: usize,
    /// Runs of one element before its failure is final (the first included).
    pub attempts: u32,
    /// How often `wait` asks Slurm and the output what is done.
    pub poll: Duration,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions {
            partition: None,
            account: None,
            qos: None,
            time: None,
            mem: None,
            cpus_per_task: 1,
            extra: Vec::new(),
            setup: Vec::new(),
            binary: None,
            elements: None,
            at_least: 1,
            attempts: 3,
            poll: Duration::from_secs(2),
        }
    }
}

/// Array elements when the user names none.
pub(crate) const DEFAULT_ELEMENTS: usize = 100;

fn bad(what: &str, value: &str, why: &str) -> Error {
    Error::InvalidArgument(format!("Slurm {what} {value:?}: {why}"))
}

/// A name Slurm knows (partition, account, qos): letters, digits and `-_.`, comma-separated.
fn check_name(what: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 256
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(what, v, "use letters, digits and -_.,"))
    }
}

/// One line of text with no control characters (it goes into the script as it is).
fn check_line(what: &str, v: &str) -> Result<()> {
    if v.len() > 4096 || v.chars().any(char::is_control) {
        return Err(bad(what, v, "one line of at most 4096 characters"));
    }
    Ok(())
}

impl SlurmOptions {
    /// Check every value before anything is written or submitted.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
        ] {
            if let Some(v) = v {
                check_name(what, v)?;
            }
        }
        if let Some(t) = &self.time {
            let ok = !t.is_empty()
                && t.len() <= 32
                && t.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
                || t == "UNLIMITED"
                || t == "INFINITE";
            if !ok {
                return Err(bad(
                    "time",
                    t,
                    "a Slurm time such as 30, 01:00:00 or 1-12:00",
                ));
            }
        }
        if let Some(m) = &self.mem {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
            let ok = !digits.is_empty()
                && digits.len() <= 12
                && digits.chars().all(|c| c.is_ascii_digit())
                && m.len() - digits.len() <= 1;
            if !ok {
                return Err(bad("mem", m, "a size such as 512M or 4G"));
            }
        }
        if !(1..=1024).contains(&self.cpus_per_task) {
            return Err(bad(
                "cpus-per-task",
                &self.cpus_per_task.to_string(),
                "1 to 1024",
            ));
        }
        for e in &self.extra {
            check_line("extra line", e)?;
            let option = e
                .strip_prefix("#SBATCH")
                .map_or(e.as_str(), str::trim_start);
            if !option.starts_with("--") && !option.starts_with('-') {
                return Err(bad(
                    "extra line",
                    e,
                    "an sbatch option such as --constraint=avx2",
                ));
            }
        }
        for s in &self.setup {
            check_line("setup line", s)?;
        }
        if let Some(b) = &self.binary {
            let s = b.to_str().ok_or_else(|| {
                Error::InvalidArgument(format!("Slurm binary {}: not UTF-8", b.display()))
            })?;
            check_line("binary", s)?;
            if s.is_empty() {
                return Err(bad("binary", s, "name the omeflow binary on the nodes"));
            }
        }
        if let Some(n) = self.elements {
            if !(1..=crate::batch::share::MAX_SHARES).contains(&n) {
                return Err(bad(
                    "elements",
                    &n.to_string(),
                    "1 to 100000 (and at most the cluster's MaxArraySize)",
                ));
            }
        }
        if !(1..=1 << 30).contains(&self.at_least) {
            return Err(bad("at-least", &self.at_least.to_string(), "1 or more"));
        }
        if !(1..=100).contains(&self.attempts) {
            return Err(bad("attempts", &self.attempts.to_string(), "1 to 100"));
        }
        if self.poll < Duration::from_millis(50) || self.poll > Duration::from_secs(3600) {
            return Err(bad(
                "poll",
                &format!("{:?}", self.poll),
                "between 50 ms and an hour",
            ));
        }
        Ok(())
    }
}

/// `s` quoted for a POSIX shell.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The batch script of a job whose files are in `dir`: one array element runs
/// `omeflow worker <dir>/job-file.json --index $SLURM_ARRAY_TASK_ID`.
pub(crate) fn script(
    o: &SlurmOptions,
    name: &str,
    dir: &Path,
    binary: &str,
    mem: &str,
) -> Result<String> {
    let d = dir
        .to_str()
        .ok_or_else(|| Error::InvalidArgument(format!("{}: not UTF-8", dir.display())))?;
    check_line("folder", d)?;
    check_name("job name", name)?;
    let mut s = String::from("#!/bin/bash\n");
    let mut opt = |line: String| {
        s.push_str("#SBATCH ");
        s.push_str(&line);
        s.push('\n');
    };
    // The log (--output) is given on sbatch's command line: a folder may hold spaces.
    opt(format!("--job-name={name}"));
    // omeflow submits again what did not finish, at once and with the reason; Slurm's own
    // requeue of an element whose node failed holds it back for two minutes first.
    opt("--no-requeue".into());
    opt(format!("--cpus-per-task={}", o.cpus_per_task));
    opt(format!("--mem={mem}"));
    for (flag, v) in [
        ("partition", &o.partition),
        ("account", &o.account),
        ("qos", &o.qos),
        ("time", &o.time),
    ] {
        if let Some(v) = v {
            opt(format!("--{flag}={v}"));
        }
    }
    for e in &o.extra {
        opt(e
            .strip_prefix("#SBATCH")
            .map_or(e.as_str(), str::trim_start)
            .to_string());
    }
    s.push_str("# omeflow: each array element runs one share of the job in job-file.json and\n");
    s.push_str("# records it in the job's output; `omeflow jobs wait` commits the output.\n");
    s.push_str("set -u\n");
    for line in &o.setup {
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(&format!("dir={}\n", shell_quote(d)));
    s.push_str(&format!("omeflow={}\n", shell_quote(binary)));
    s.push_str(
        r#"node="${SLURMD_NODENAME:-$(hostname)}"
found=$(command -v "$omeflow" 2>/dev/null || true)
if [ -z "$found" ] || [ ! -x "$found" ]; then
  mkdir -p "$dir/errors"
  msg="no omeflow binary at $omeflow on node $node (set the binary the nodes run, or a setup line that puts it on PATH)"
  printf 'fatal: %s\n' "$msg" > "$dir/errors/${SLURM_ARRAY_TASK_ID}-${SLURM_ARRAY_JOB_ID}.txt"
  echo "omeflow: $msg" >&2
  exit 127
fi
exec "$found" worker "$dir/job-file.json" --index "$SLURM_ARRAY_TASK_ID" --threads "${SLURM_CPUS_PER_TASK:-1}"
"#,
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_could_break_the_script_are_refused() {
        let ok = SlurmOptions::default();
        ok.validate().unwrap();
        let cases: Vec<(SlurmOptions, &str)> = vec![
            (
                SlurmOptions {
                    partition: Some("cpu\n#SBATCH --x".into()),
                    ..ok.clone()
                },
                "partition",
            ),
            (
                SlurmOptions {
                    time: Some("1h; rm -rf /".into()),
                    ..ok.clone()
                },
                "time",
            ),
            (
                SlurmOptions {
                    mem: Some("4GB".into()),
                    ..ok.clone()
                },
                "mem",
            ),
            (
                SlurmOptions {
                    extra: vec!["echo hi".into()],
                    ..ok.clone()
                },
                "extra line",
            ),
            (
                SlurmOptions {
                    setup: vec!["module load x\nrm -rf ~".into()],
                    ..ok.clone()
                },
                "setup line",
            ),
            (
                SlurmOptions {
                    cpus_per_task: 0,
                    ..ok.clone()
                },
                "cpus-per-task",
            ),
            (
                SlurmOptions {
                    attempts: 0,
                    ..ok.clone()
                },
                "attempts",
            ),
            (
                SlurmOptions {
                    elements: Some(0),
                    ..ok.clone()
                },
                "elements",
            ),
        ];
        for (o, what) in cases {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn the_script_quotes_paths_and_names_every_option() {
        let o = SlurmOptions {
            partition: Some("cpu".into()),
            account: Some("lab".into()),
            qos: Some("normal".into()),
            time: Some("01:00:00".into()),
            extra: vec!["#SBATCH --constraint=avx2".into(), "--nice=10".into()],
            setup: vec!["module load omeflow".into()],
            ..SlurmOptions::default()
        };
        let s = script(
            &o,
            "omeflow-x",
            Path::new("/data/it's here"),
            "/opt/omeflow",
            "2G",
        )
        .unwrap();
        for want in [
            "#SBATCH --partition=cpu\n",
            "#SBATCH --account=lab\n",
            "#SBATCH --qos=normal\n",
            "#SBATCH --time=01:00:00\n",
            "#SBATCH --mem=2G\n",
            "#SBATCH --cpus-per-task=1\n",
            "#SBATCH --no-requeue\n",
            "#SBATCH --constraint=avx2\n",
            "#SBATCH --nice=10\n",
            "module load omeflow\n",
            r"dir='/data/it'\''s here'",
            "omeflow='/opt/omeflow'",
        ] {
            assert!(s.contains(want), "{want} not in\n{s}");
        }
    }
}
