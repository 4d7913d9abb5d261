//! One job on Slurm: submitted as an array, watched, its failed elements submitted again,
//! cancelled, and its outputs committed when every element's items are recorded.
//!
//! Storage is the truth: an element is done when the job's output records all of its items,
//! whatever Slurm says (Slurm forgets finished jobs after `MinJobAge`, and does not retry an
//! element that failed by itself). The run's own files sit in `slurm/` of the output's progress
//! record: the job file the workers read, the batch script, `state.json` (the arrays submitted
//! and each element's attempts), each element's log and the error marker a failed element
//! leaves.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::options::{script, SlurmOptions, DEFAULT_ELEMENTS};
use super::queue::{self, Task};
use crate::batch::{self, Job, JobFile, Outcome, Progress, Report};
use crate::store::StoreOptions;
use crate::{Error, Result};

const STATE_VERSION: u32 = 1;
const MAX_STATE_BYTES: u64 = 64 << 20;
/// Longest wait for Slurm to report cancelled elements as ended.
const CANCEL_WAIT: Duration = Duration::from_secs(120);

/// The file names of a run's folder (`checkpoint::delete` accepts these and nothing else).
pub(crate) fn is_ours(rest: &str) -> bool {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    match rest.split_once('/') {
        None => {
            matches!(rest, "job-file.json" | "submit.sh" | "state.json")
                || rest
                    .strip_suffix(".incomplete")
                    .is_some_and(|r| matches!(r, "job-file.json" | "submit.sh" | "state.json"))
        }
        Some((dir, name)) => matches!(dir, "logs" | "errors") && plain(name),
    }
}

/// One submission of some elements.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Array {
    id: u64,
    /// Slurm's array syntax (`0-3,5`).
    indices: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    omeflow_slurm: u32,
    /// The arrays' job name.
    name: String,
    arrays: Vec<Array>,
    /// Runs of each element so far.
    attempts: Vec<u32>,
    max_attempts: u32,
    poll_ms: u64,
    cancelled: bool,
    /// When the job was submitted (seconds since the Unix epoch): the report's time runs from
    /// there, not from the last run that only committed the outputs.
    #[serde(default)]
    submitted: f64,
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn expand(indices: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in indices.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b.min(a.saturating_add(crate::batch::share::MAX_SHARES)));
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Why an element ended without its items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElementFailure {
    /// Its array index.
    pub index: usize,
    /// Runs so far.
    pub attempts: u32,
    /// What it or Slurm said.
    pub reason: String,
    /// Its last log.
    pub log: PathBuf,
    /// Whether it will not be submitted again (its attempts are spent, or the failure is one a
    /// rerun cannot mend, as a missing binary).
    pub last: bool,
}

/// Where a job on Slurm stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlurmStatus {
    /// `segment` or `classify`.
    pub job: String,
    /// Array elements.
    pub elements: usize,
    /// Elements whose items are all recorded.
    pub done: usize,
    /// Elements running, and waiting in the queue.
    pub running: usize,
    pub pending: usize,
    /// Elements that ended without their items (those submitted again by this look are not
    /// here but in `resubmitted`).
    pub failed: Vec<ElementFailure>,
    /// Elements this look submitted again, with why.
    pub resubmitted: Vec<ElementFailure>,
    /// Items (planes, time points) of the job when it was submitted, and still to do.
    pub items: u64,
    pub items_left: u64,
    /// Whether the run was cancelled.
    pub cancelled: bool,
    /// Whether every element is done (the outputs can be committed).
    pub finished: bool,
    /// Slurm's array job ids, in submission order.
    pub arrays: Vec<u64>,
}

impl std::fmt::Display for SlurmStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.job == "classify" {
            "time points"
        } else {
            "planes"
        };
        write!(
            f,
            "{}: {}/{} {unit} done; elements: {} done, {} running, {} queued, {} failed of {}",
            self.job,
            self.items - self.items_left.min(self.items),
            self.items,
            self.done,
            self.running,
            self.pending,
            self.failed.len(),
            self.elements
        )?;
        if self.cancelled {
            write!(f, " (cancelled)")?;
        }
        for r in &self.resubmitted {
            write!(
                f,
                "\n  element {} submitted again (attempt {}): {}",
                r.index,
                r.attempts + 1,
                r.reason
            )?;
        }
        for x in &self.failed {
            write!(
                f,
                "\n  element {} failed{} after {} attempt(s): {} (log {})",
                x.index,
                if x.last { " for good" } else { "" },
                x.attempts,
                x.reason,
                x.log.display()
            )?;
        }
        Ok(())
    }
}

impl crate::display::Show for SlurmStatus {
    fn to_html(&self) -> Result<String> {
        let done = self.items - self.items_left.min(self.items);
        let pct = if self.items == 0 {
            100.0
        } else {
            100.0 * done as f64 / self.items as f64
        };
        let text = crate::display::html::escape(&self.to_string());
        Ok(format!(
            "<div><progress max=\"100\" value=\"{pct:.1}\"></progress> {pct:.0}%\
             <pre style=\"margin:0\">{text}</pre></div>"
        ))
    }

    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// A job running on Slurm. Plain data (its folder and job file), so it lives in a notebook
/// variable across cells, and `omeflow jobs` finds it again from the output in another process.
#[derive(Clone, Debug)]
pub struct SlurmRun {
    dir: PathBuf,
    file: JobFile,
}

/// A short, stable name for the arrays of the run in `dir`.
fn job_name(kind: &str, dir: &Path) -> String {
    // FNV-1a of the folder: two outputs' runs never share a name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("omeflow-{kind}-{:08x}", h as u32)
}

fn kind(job: &Job) -> &'static str {
    match job {
        Job::Segment(_) => "segment",
        Job::Classify(_) => "classify",
    }
}

/// What one element needs: the planes it holds at once on its threads, or a time point with
/// its features, with room for the program itself.
fn estimate_mem(job: &Job, options: &StoreOptions, cpus: usize) -> Result<String> {
    const MIB: u64 = 1 << 20;
    let bytes = match job {
        Job::Segment(j) => {
            let image = crate::ngff::OmeZarr::open(&j.source, options)?;
            let [_, _, _, y, x] = image.level(j.level)?.shape();
            // Each thread holds a few planes as f64 and its labels; the read-ahead a few more.
            (y as u64 * x as u64).saturating_mul(8 * 8 * cpus as u64 + 64) + 256 * MIB
        }
        Job::Classify(j) => {
            let image = crate::ngff::OmeZarr::open(&j.source, options)?;
            let [_, c, z, y, x] = image.level(j.level)?.shape();
            let voxels = (z as u64) * (y as u64) * (x as u64);
            // A time point as f32 in every channel, and blocks of features per thread.
            voxels.saturating_mul(4 * (c as u64 + 4)) + (cpus as u64) * 256 * MIB + 512 * MIB
        }
    };
    Ok(format!("{}M", bytes.div_ceil(MIB)))
}

/// `omeflow` on this machine's PATH, for runs submitted from a library (a notebook) that names
/// no binary.
fn omeflow_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("omeflow"))
        .find(|p| p.is_file())
}

impl SlurmRun {
    /// Plan `job` into array elements, create or resume its outputs, and submit the array.
    /// Returns at once; [`SlurmRun::wait`] (in this cell or a later one) follows it.
    pub fn submit(job: &Job, slurm: &SlurmOptions, storage: &StoreOptions) -> Result<Self> {
        slurm.validate()?;
        let binary = match &slurm.binary {
            Some(b) => b.clone(),
            None => omeflow_on_path().ok_or_else(|| {
                Error::InvalidArgument(
                    "no omeflow binary named for the nodes and none on this PATH: set \
                     SlurmOptions::binary (the CLI's --slurm-binary) to the omeflow the nodes \
                     run"
                    .into(),
                )
            })?,
        };
        let binary = binary
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| Error::InvalidArgument(format!("{}: not UTF-8", binary.display())))?;
        let max_array = queue::max_array_size().max(1);
        let wanted = slurm.elements.unwrap_or(DEFAULT_ELEMENTS);
        let elements = wanted.min(max_array);
        let mem = match &slurm.mem {
            Some(m) => m.clone(),
            None => estimate_mem(job, storage, slurm.cpus_per_task)?,
        };
        // Threads per element: what Slurm gives it, whatever the job said for a local run.
        let mut job = job.clone();
        *job.threads_mut() = None;
        // A run still going there is refused before the plan touches the output (an
        // `--overwrite` would delete what its elements write).
        let dir = JobFile::unplanned(&job, storage)?.run_dir()?.join("slurm");
        if let Ok(old) = load_state(&dir) {
            if !old.cancelled {
                let tasks = queue::squeue(&old.name)?;
                if tasks.values().any(Task::active) {
                    return Err(Error::Slurm(format!(
                        "{} already has elements on Slurm (arrays {}): follow it with `omeflow \
                         jobs wait {}` or stop it with `omeflow jobs cancel`",
                        dir.display(),
                        old.arrays
                            .iter()
                            .map(|a| a.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        dir.display()
                    )));
                }
            }
        }
        let file = JobFile::plan(&job, storage, elements, slurm.at_least)?;
        for sub in ["logs", "errors"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| Error::io(format!("creating {}", dir.join(sub).display()), e))?;
        }
        let name = job_name(kind(&file.job), &dir);
        crate::output::write_file(dir.join("job-file.json"), &file.to_json()?)?;
        let script_path = dir.join("submit.sh");
        crate::output::write_file(
            &script_path,
            script(slurm, &name, &dir, &binary, &mem)?.as_bytes(),
        )?;
        let n = file.shares.len();
        let mut state = State {
            omeflow_slurm: STATE_VERSION,
            name,
            arrays: Vec::new(),
            attempts: vec![0; n],
            max_attempts: slurm.attempts,
            poll_ms: slurm.poll.as_millis() as u64,
            cancelled: false,
            submitted: now_unix(),
        };
        if n > 0 {
            let all: Vec<usize> = (0..n).collect();
            let id = queue::sbatch(&script_path, &all, &dir.join("logs"))?;
            state.arrays.push(Array {
                id,
                indices: queue::compress(&all),
            });
            state.attempts.iter_mut().for_each(|a| *a = 1);
        }
        save_state(&dir, &state)?;
        Ok(SlurmRun { dir, file })
    }

    /// The run whose files are in (or under) `output`: its progress record's `slurm/` folder,
    /// the record itself, a table's or image's output, or an image with one label image run.
    pub fn open(output: impl AsRef<Path>) -> Result<Self> {
        let p = output.as_ref();
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(".omeflow-run");
        let mut candidates = vec![
            p.to_path_buf(),
            p.join("slurm"),
            p.join(crate::ngff::RUN_DIR).join("slurm"),
            p.with_file_name(name).join("slurm"),
        ];
        if let Ok(labels) = std::fs::read_dir(p.join("labels")) {
            for l in labels.flatten().take(1000) {
                candidates.push(l.path().join(crate::ngff::RUN_DIR).join("slurm"));
            }
        }
        let found: Vec<PathBuf> = candidates
            .into_iter()
            .filter(|d| d.join("state.json").is_file())
            .collect();
        let dir = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(Error::InvalidArgument(format!(
                    "{}: no omeflow job on Slurm there (give the output a `--slurm` run wrote: \
                     the label image's location, the table, or the probabilities image)",
                    p.display()
                )))
            }
            many => {
                return Err(Error::InvalidArgument(format!(
                    "{}: several jobs on Slurm there; name one of {}",
                    p.display(),
                    many.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let file = JobFile::read(&dir.join("job-file.json"))?;
        load_state(&dir)?;
        Ok(SlurmRun { dir, file })
    }

    /// The folder of the run's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The job.
    pub fn job(&self) -> &Job {
        &self.file.job
    }

    /// The storage settings its workers use.
    pub(crate) fn storage_options(&self) -> StoreOptions {
        self.file.storage.options()
    }

    /// Where the job stands, without submitting anything.
    pub fn status(&self) -> Result<SlurmStatus> {
        self.look(false)
    }

    /// Where the job stands; elements that ended without their items are submitted again
    /// while their attempts last.
    pub fn poll(&self) -> Result<SlurmStatus> {
        self.look(true)
    }

    fn look(&self, resubmit: bool) -> Result<SlurmStatus> {
        let mut state = load_state(&self.dir)?;
        let n = self.file.shares.len();
        if state.attempts.len() != n {
            return Err(Error::InvalidMetadata {
                location: self.dir.join("state.json").display().to_string(),
                reason: format!(
                    "{} elements recorded for a job of {n}",
                    state.attempts.len()
                ),
            });
        }
        // Slurm first, then storage: an element Slurm no longer runs had committed what it
        // would before it ended, so the record read after shows it.
        let tasks = if state.arrays.is_empty() {
            Default::default()
        } else {
            queue::squeue(&state.name)?
        };
        let remaining = self.file.remaining()?;
        let unfinished = self.file.unfinished(&remaining);
        let mut latest = vec![None; n];
        for a in &state.arrays {
            for i in expand(&a.indices) {
                if let Some(l) = latest.get_mut(i) {
                    *l = Some(a.id);
                }
            }
        }
        let mut st = SlurmStatus {
            job: kind(&self.file.job).into(),
            elements: n,
            done: n - unfinished.len(),
            running: 0,
            pending: 0,
            failed: Vec::new(),
            resubmitted: Vec::new(),
            items: self.file.items,
            items_left: JobFile::count(&remaining),
            cancelled: state.cancelled,
            finished: unfinished.is_empty(),
            arrays: state.arrays.iter().map(|a| a.id).collect(),
        };
        let mut failures = Vec::new();
        for &i in &unfinished {
            let Some(id) = latest[i] else {
                // Never submitted (a run planned with no array): a failure to submit again.
                failures.push(self.failure(i, 0, None, state.attempts[i], state.max_attempts));
                continue;
            };
            match tasks.get(&(id, i)) {
                Some(t) if t.active() => {
                    if t.state == "PENDING" {
                        st.pending += 1;
                    } else {
                        st.running += 1;
                    }
                }
                t => failures.push(self.failure(i, id, t, state.attempts[i], state.max_attempts)),
            }
        }
        let retry: Vec<ElementFailure> = if resubmit && !state.cancelled {
            failures.iter().filter(|f| !f.last).cloned().collect()
        } else {
            Vec::new()
        };
        if !retry.is_empty() {
            let indices: Vec<usize> = retry.iter().map(|f| f.index).collect();
            let id = queue::sbatch(
                &self.dir.join("submit.sh"),
                &indices,
                &self.dir.join("logs"),
            )?;
            state.arrays.push(Array {
                id,
                indices: queue::compress(&indices),
            });
            for &i in &indices {
                state.attempts[i] += 1;
            }
            save_state(&self.dir, &state)?;
            st.arrays.push(id);
            st.pending += retry.len();
            failures.retain(|f| f.last);
        }
        st.failed = failures;
        st.resubmitted = retry;
        Ok(st)
    }

    fn failure(
        &self,
        index: usize,
        id: u64,
        task: Option<&Task>,
        attempts: u32,
        max: u32,
    ) -> ElementFailure {
        let log = self.dir.join("logs").join(format!("{id}_{index}.log"));
        let marker = self.dir.join("errors").join(format!("{index}-{id}.txt"));
        let said = crate::output::read_bounded(&marker, 1 << 16)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string());
        let fatal = said.as_deref().is_some_and(|s| s.starts_with("fatal: "));
        let reason = match (said, task) {
            (Some(s), _) => s.strip_prefix("fatal: ").unwrap_or(&s).to_string(),
            (None, Some(t)) => {
                let last_line = crate::output::read_bounded(&log, 16 << 20)
                    .ok()
                    .and_then(|b| {
                        String::from_utf8_lossy(&b)
                            .lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .map(str::to_string)
                    });
                let mut r = format!("Slurm ended it {} on {}", t.state, t.nodes);
                if !t.reason.is_empty() && t.reason != "None" {
                    r.push_str(&format!(" ({})", t.reason));
                }
                if let Some(l) = last_line {
                    r.push_str(&format!("; its log ends: {l}"));
                }
                r
            }
            (None, None) if id == 0 => "it was never submitted".into(),
            (None, None) => queue::sacct(id, index).unwrap_or_else(|| {
                "it ended without recording its items, and Slurm no longer lists it".into()
            }),
        };
        ElementFailure {
            index,
            attempts,
            reason,
            log,
            last: fatal || attempts >= max,
        }
    }

    /// Wait for every element, submitting failed ones again while their attempts last, then
    /// commit the outputs here and return the job's report (the same a local run gives).
    /// `progress` is called after every look with the items done.
    pub fn wait(&self, progress: &mut dyn FnMut(Progress)) -> Result<Report<Outcome>> {
        self.wait_with(progress, &mut |line| eprintln!("{line}"))
    }

    /// [`SlurmRun::wait`], with each element submitted again told to `note` as a line (which
    /// element, its attempt, and why).
    pub fn wait_with(
        &self,
        progress: &mut dyn FnMut(Progress),
        note: &mut dyn FnMut(&str),
    ) -> Result<Report<Outcome>> {
        let start = Instant::now();
        let poll = Duration::from_millis(load_state(&self.dir)?.poll_ms.clamp(50, 3_600_000));
        // The first looks come quickly (a small job ends in seconds), later ones at `poll`.
        let mut pause = Duration::from_millis(100).min(poll);
        loop {
            let st = self.poll()?;
            for r in &st.resubmitted {
                note(&format!(
                    "element {} submitted again (attempt {} of {}): {}",
                    r.index,
                    r.attempts + 1,
                    load_state(&self.dir).map_or(0, |s| s.max_attempts),
                    r.reason
                ));
            }
            progress(Progress {
                done: (st.items - st.items_left.min(st.items)) as usize,
                failed: st.failed.len(),
                total: st.items as usize,
                elapsed: start.elapsed(),
            });
            if st.finished {
                break;
            }
            if st.cancelled {
                return Err(Error::Interrupted(format!(
                    "the job on Slurm was cancelled with {} of {} items done; they are kept: \
                     submit the same job again to go on",
                    st.items - st.items_left.min(st.items),
                    st.items
                )));
            }
            if st.running == 0 && st.pending == 0 && !st.failed.is_empty() {
                return Err(Error::Slurm(format!(
                    "{} element(s) failed for good, the job's output is kept (resumable): {}",
                    st.failed.len(),
                    st.failed
                        .iter()
                        .take(5)
                        .map(|f| format!(
                            "element {} after {} attempt(s): {} (log {})",
                            f.index,
                            f.attempts,
                            f.reason,
                            f.log.display()
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
            if batch::interrupted() {
                return Err(Error::Interrupted(format!(
                    "stopped waiting; the elements go on on Slurm: `omeflow jobs wait {0}` \
                     follows them again, `omeflow jobs cancel {0}` stops them",
                    self.dir.display()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(poll);
        }
        let mut report = self.file.finish(&mut |_| {})?;
        // The last run only committed: the job's time and speed are the cluster's, from the
        // submission, and what was done before it is what the report calls resumed.
        let submitted = load_state(&self.dir)?.submitted;
        if submitted > 0.0 {
            report.seconds = (now_unix() - submitted).max(1e-9);
        }
        let items = self.file.items;
        match &mut report.outcome {
            Outcome::Segment(o) => {
                o.planes_per_second = items as f64 / report.seconds;
                o.resumed_planes = (o.plane_count as u64).saturating_sub(items);
            }
            Outcome::Classify(o) => {
                let [t, z, y, x] = o.shape;
                let per_t = (z * y * x) as f64;
                o.voxels_per_second = per_t * items as f64 / report.seconds;
                o.resumed_time_points = t.saturating_sub(items as usize);
            }
        }
        Ok(report)
    }

    /// Cancel every element still queued or running and wait until Slurm has ended them; what
    /// they recorded stays, so submitting the job again goes on from there.
    pub fn cancel(&self) -> Result<SlurmStatus> {
        let mut state = load_state(&self.dir)?;
        state.cancelled = true;
        save_state(&self.dir, &state)?;
        let ids: Vec<u64> = state.arrays.iter().map(|a| a.id).collect();
        queue::scancel(&ids)?;
        let start = Instant::now();
        loop {
            let tasks = queue::squeue(&state.name)?;
            let live = tasks
                .iter()
                .filter(|((id, _), t)| ids.contains(id) && t.active())
                .count();
            if live == 0 {
                break;
            }
            if start.elapsed() > CANCEL_WAIT {
                return Err(Error::Slurm(format!(
                    "{live} element(s) were still ending {} s after scancel",
                    CANCEL_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.status()
    }
}

fn load_state(dir: &Path) -> Result<State> {
    let path = dir.join("state.json");
    let bytes = crate::output::read_bounded(&path, MAX_STATE_BYTES)?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidMetadata {
        location: path.display().to_string(),
        reason: format!("not an omeflow Slurm state: {e}"),
    })?;
    if state.omeflow_slurm != STATE_VERSION
        || state.attempts.len() > crate::batch::share::MAX_SHARES
    {
        return Err(Error::InvalidMetadata {
            location: path.display().to_string(),
            reason: "written by another omeflow version".into(),
        });
    }
    Ok(state)
}

fn save_state(dir: &Path, state: &State) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::Internal(format!("serialising the Slurm state: {e}")))?;
    crate::output::write_file(dir.join("state.json"), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_syntax_expands_back() {
        assert_eq!(expand("0-3,5,7-8"), vec![0, 1, 2, 3, 5, 7, 8]);
        assert_eq!(expand(&queue::compress(&[9, 2, 3])), vec![2, 3, 9]);
    }

    #[test]
    fn only_the_run_files_are_ours() {
        for k in [
            "job-file.json",
            "state.json",
            "submit.sh",
            "logs/12_3.log",
            "errors/3-12.txt",
        ] {
            assert!(is_ours(k), "{k}");
        }
        for k in [
            "other.txt",
            "logs/../x",
            "logs/.hidden",
            "deep/a/b",
            "errors/a/b",
        ] {
            assert!(!is_ours(k), "{k}");
        }
    }
}
