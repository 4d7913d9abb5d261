//! A job cut into shares for workers elsewhere (an array job's elements): the job file they
//! read, how the items still to do are packed into shares, and the run of one share.
//!
//! A share is a range of item indices of the job's level (planes in raster order for a
//! segmentation, time points for a classification), cut only between label chunks so that no
//! two workers write the same chunk. Each worker records what it finished in the job's
//! output, so the output, not the scheduler, says what is done: a share whose items are not all
//! recorded after its worker ended is run again, and the job's last run commits the outputs
//! (the table, the image metadata) exactly as a local run would.

use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{classify, segment, Job, Progress};
use crate::store::StoreOptions;
use crate::{Error, Result};

/// The job file format's version.
const JOB_FILE_VERSION: u32 = 1;
/// The most shares a job file may name (the largest array a scheduler is asked for).
pub const MAX_SHARES: usize = 100_000;
/// The largest job file read (a job and its shares' ranges).
const MAX_JOB_FILE_BYTES: u64 = 16 << 20;

/// What every worker of a job reads: the job, how to reach its storage, and its shares.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobFile {
    /// The job file format's version (1).
    pub omeflow_job_file: u32,
    pub job: Job,
    /// Storage settings a worker needs (never credentials: a node takes those from its own
    /// environment).
    pub storage: Storage,
    /// Item ranges, one per share (array element `i` runs `shares[i]`).
    pub shares: Vec<Range<u64>>,
    /// Items still to do when the shares were planned.
    pub items: u64,
}

/// The storage settings of [`StoreOptions`] that are not secrets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub anonymous: bool,
    pub max_retries: usize,
}

impl Storage {
    /// The settings of `o` that may be written down.
    pub fn of(o: &StoreOptions) -> Self {
        Storage {
            endpoint: o.endpoint.clone(),
            region: o.region.clone(),
            anonymous: o.anonymous,
            max_retries: o.max_retries,
        }
    }

    /// Store options with these settings (credentials from the environment).
    pub fn options(&self) -> StoreOptions {
        let mut o = StoreOptions::default().with_max_retries(self.max_retries);
        o.endpoint = self.endpoint.clone();
        o.region = self.region.clone();
        o.anonymous = self.anonymous;
        o
    }
}

impl JobFile {
    /// Plan `job` into at most `shares` shares of at least `at_least` items each (fewer
    /// shares when the items are few), creating or resuming its outputs as a local run does.
    pub fn plan(job: &Job, options: &StoreOptions, shares: usize, at_least: usize) -> Result<Self> {
        if !(1..=MAX_SHARES).contains(&shares) {
            return Err(Error::InvalidArgument(format!(
                "{shares} shares: ask for 1 to {MAX_SHARES}"
            )));
        }
        let unplanned = Self::unplanned(job, options)?;
        let job = &unplanned.job;
        let (ranges, items) = match job {
            Job::Segment(j) => segment::plan(j, options, shares, at_least.max(1))?,
            Job::Classify(j) => classify::plan(j, options, shares, at_least.max(1))?,
        };
        Ok(JobFile {
            omeflow_job_file: JOB_FILE_VERSION,
            job: job.clone(),
            storage: Storage::of(options),
            shares: ranges,
            items,
        })
    }

    /// The job file of `job` before its shares are planned (none yet): where its run's files
    /// go ([`JobFile::run_dir`]) can be known before anything is written there.
    pub fn unplanned(job: &Job, options: &StoreOptions) -> Result<Self> {
        // The job file is written down and read on other machines: a password in a URL would be
        // in it. Credentials come from each node's environment instead.
        let locations: Vec<&str> = match job {
            Job::Segment(j) => [Some(j.source.as_str()), j.labels_out.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
            Job::Classify(j) => [Some(j.source.as_str()), j.out.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
        };
        if let Some(l) = locations.iter().find(|l| crate::store::redact(l) != **l) {
            return Err(Error::InvalidArgument(format!(
                "{} holds credentials; a job for workers elsewhere is written to a file, so give \
                 them through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) instead",
                crate::store::redact(l)
            )));
        }
        Ok(JobFile {
            omeflow_job_file: JOB_FILE_VERSION,
            // Workers run in other folders, on other machines: every path is made absolute.
            job: absolute(job)?,
            storage: Storage::of(options),
            shares: Vec::new(),
            items: 0,
        })
    }

    /// Read a job file, checking its version and sizes before using it.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::output::read_bounded(path, MAX_JOB_FILE_BYTES)?;
        let file: JobFile = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidMetadata {
            location: path.display().to_string(),
            reason: format!("not an omeflow job file: {e}"),
        })?;
        if file.omeflow_job_file != JOB_FILE_VERSION {
            return Err(Error::InvalidMetadata {
                location: path.display().to_string(),
                reason: format!(
                    "job file version {}, this omeflow reads {JOB_FILE_VERSION}: run the same \
                     omeflow on the nodes as where the job was submitted",
                    file.omeflow_job_file
                ),
            });
        }
        if file.shares.len() > MAX_SHARES || file.shares.iter().any(|r| r.start > r.end) {
            return Err(Error::InvalidMetadata {
                location: path.display().to_string(),
                reason: "its shares are not ranges omeflow plans".into(),
            });
        }
        Ok(file)
    }

    /// The job file as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Internal(format!("serialising a job file: {e}")))
    }

    /// Run share `index` here: its items are computed and recorded in the job's output; the
    /// outputs are left for the job's last run to commit. Items an earlier run of the share
    /// recorded are skipped.
    pub fn run_share(
        &self,
        index: usize,
        threads: Option<usize>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ShareDone> {
        let share = self.shares.get(index).cloned().ok_or_else(|| {
            Error::OutOfBounds(format!(
                "share {index} of a job of {} shares (0..{})",
                self.shares.len(),
                self.shares.len()
            ))
        })?;
        let options = self.storage.options();
        match &self.job {
            Job::Segment(j) => {
                let j = segment::SegmentJob {
                    threads: threads.or(j.threads),
                    overwrite: false,
                    ..j.clone()
                };
                segment::run_share(&j, &options, share, progress)
            }
            Job::Classify(j) => {
                let j = classify::ClassifyJob {
                    threads: threads.or(j.threads),
                    overwrite: false,
                    ..j.clone()
                };
                classify::run_share(&j, &options, share, progress)
            }
        }
    }
}

impl JobFile {
    /// The folder the job's workers share (inside its output's progress record).
    pub fn run_dir(&self) -> Result<std::path::PathBuf> {
        match &self.job {
            Job::Segment(j) => segment::record_dir(j, &self.storage.options()),
            Job::Classify(j) => classify::record_dir(j),
        }
    }

    /// One bit per item of the level that the job asks for and its output does not hold yet.
    pub fn remaining(&self) -> Result<Vec<u64>> {
        let options = self.storage.options();
        match &self.job {
            Job::Segment(j) => segment::remaining(j, &options),
            Job::Classify(j) => classify::remaining(j, &options),
        }
    }

    /// The shares with items still to do, given [`JobFile::remaining`]'s bits.
    pub fn unfinished(&self, remaining: &[u64]) -> Vec<usize> {
        let set = |i: u64| {
            remaining
                .get((i / 64) as usize)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
        };
        (0..self.shares.len())
            .filter(|&s| self.shares[s].clone().any(set))
            .collect()
    }

    /// Items still to do, given [`JobFile::remaining`]'s bits.
    pub fn count(remaining: &[u64]) -> u64 {
        remaining.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The job's last run, here: with every share recorded, it computes nothing and commits the
    /// outputs (the table in plane order, the image metadata), returning the report a local
    /// run gives.
    pub fn finish(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<super::Report<super::Outcome>> {
        let mut job = self.job.clone();
        *job.overwrite_mut() = false;
        super::run(&job, &self.storage.options(), progress)
    }
}

/// `job` with its local paths absolute (URLs as they are).
fn absolute(job: &Job) -> Result<Job> {
    fn path(p: &Path) -> Result<std::path::PathBuf> {
        std::path::absolute(p).map_err(|e| Error::io(p.display(), e))
    }
    fn location(l: &str) -> Result<String> {
        if l.contains("://") || l.starts_with("omeflow:") {
            return Ok(l.to_string());
        }
        Ok(path(Path::new(l))?.display().to_string())
    }
    Ok(match job {
        Job::Segment(j) => Job::Segment(segment::SegmentJob {
            source: location(&j.source)?,
            labels_out: j.labels_out.as_deref().map(location).transpose()?,
            table_out: j.table_out.as_deref().map(path).transpose()?,
            ..j.clone()
        }),
        Job::Classify(j) => Job::Classify(classify::ClassifyJob {
            source: location(&j.source)?,
            project: path(&j.project)?,
            out: j.out.as_deref().map(location).transpose()?,
            png_dir: j.png_dir.as_deref().map(path).transpose()?,
            ..j.clone()
        }),
    })
}

pub use segment::ShareDone;

/// Pack `units` (consecutive, disjoint ranges of item indices in order, each to stay whole; a
/// unit arrives once per item it holds) holding `items` items in all into at most `shares`
/// ranges of about equal items, at least `at_least` each. A range runs from its first unit's
/// start to its last unit's end. Cuts fall where the items so far first reach each share's
/// even part, so units of several items still give about `shares` ranges.
pub(crate) fn pack(
    units: impl Iterator<Item = Range<u64>>,
    items: u64,
    shares: usize,
    at_least: usize,
) -> Vec<Range<u64>> {
    let shares = shares.max(1) as u64;
    // Items done by the end of share `k`, on an even cut.
    let target = |k: u64| (k + 1).saturating_mul(items).div_ceil(shares);
    let mut out: Vec<Range<u64>> = Vec::new();
    // The open share: its range and items.
    let mut open: Option<(Range<u64>, u64)> = None;
    let mut last: Option<Range<u64>> = None;
    for (so_far, unit) in (0u64..).zip(units) {
        let same = last.as_ref() == Some(&unit);
        last = Some(unit.clone());
        match &mut open {
            Some((r, n)) if same => {
                *n += 1;
                r.end = r.end.max(unit.end);
            }
            Some((r, n)) if so_far < target(out.len() as u64) || *n < at_least as u64 => {
                *n += 1;
                r.end = unit.end;
            }
            _ => {
                if let Some((r, _)) = open.take() {
                    out.push(r);
                }
                open = Some((unit, 1));
            }
        }
    }
    if let Some((r, _)) = open {
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units of 4 items (a label chunk of 4 planes), one unit per item as `plan` gives them.
    fn items_in_chunks(n: u64, chunk: u64) -> Vec<Range<u64>> {
        (0..n)
            .map(|i| {
                let first = i - i % chunk;
                first..(first + chunk).min(n)
            })
            .collect()
    }

    #[test]
    fn shares_hold_whole_units_and_every_item_once() {
        let units = items_in_chunks(30, 4);
        let shares = pack(units.into_iter(), 30, 4, 1);
        assert_eq!(shares, vec![0..8, 8..16, 16..24, 24..30]);
        for n in [1u64, 3, 4, 5, 17, 64, 101] {
            for s in [1usize, 2, 3, 7, 1000] {
                let shares = pack(items_in_chunks(n, 4).into_iter(), n, s, 1);
                assert!(shares.len() <= s, "{n} items, {s} shares: {shares:?}");
                let covered: u64 = shares.iter().map(|r| r.end - r.start).sum();
                assert_eq!(covered, n, "{shares:?}");
                assert!(shares.iter().all(|r| r.start % 4 == 0), "{shares:?}");
                assert!(shares.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }

    #[test]
    fn units_of_several_items_still_give_about_the_shares_asked() {
        // 2 channels of 1000 planes in chunks of 16: 126 units; 100 shares asked.
        let units = (0..2000u64).map(|i| {
            let (c, z) = (i / 1000, i % 1000);
            let first = c * 1000 + z - z % 16;
            first..(first + 16).min((c + 1) * 1000)
        });
        let shares = pack(units, 2000, 100, 1);
        assert!((90..=100).contains(&shares.len()), "{}", shares.len());
        let covered: u64 = shares.iter().map(|r| r.end - r.start).sum();
        assert_eq!(covered, 2000);
    }

    #[test]
    fn a_url_with_a_password_is_never_written_into_a_job_file() {
        let job = Job::Segment(segment::SegmentJob::new(
            "https://alice:s3cret@example.org/image.zarr",
            0,
        ));
        let e = JobFile::unplanned(&job, &StoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds credentials"), "{e}");
        assert!(!e.contains("s3cret") && !e.contains("alice"), "{e}");
        let ok = Job::Segment(segment::SegmentJob::new("relative/image.zarr", 0));
        let file = JobFile::unplanned(&ok, &StoreOptions::default()).unwrap();
        let Job::Segment(j) = &file.job else { panic!() };
        assert!(Path::new(&j.source).is_absolute(), "{}", j.source);
    }

    #[test]
    fn a_minimum_per_share_makes_fewer_shares() {
        let shares = pack((0..100).map(|i| i..i + 1), 100, 50, 30);
        assert_eq!(shares, vec![0..30, 30..60, 60..90, 90..100]);
    }

    #[test]
    fn gaps_between_units_belong_to_no_share() {
        // Items 0..2 and 10..12 of chunks of 2: two units far apart.
        let shares = pack([0..2, 0..2, 10..12, 10..12].into_iter(), 4, 2, 1);
        assert_eq!(shares, vec![0..2, 10..12]);
    }
}
