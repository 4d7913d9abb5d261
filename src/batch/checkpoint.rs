//! A run's progress record, kept in the output it writes (`.omeflow-run/` in the label image, or
//! beside a table), so a rerun of the same job goes on where an interrupted one stopped.
//!
//! The record is the job that started the output (`job.json`) and one part per run of
//! consecutive planes done: `parts/<first plane>.rows` (the table rows of those planes), then
//! `parts/<first plane>.json` (their object counts), which commits the part. A part is written
//! only after the planes' labels are stored, so what the record says is done is on disk; a plane
//! stored but not yet recorded is computed again, to the same bytes. Parts are disjoint runs of
//! planes in raster order, so the table is their rows in order, whatever order a run and its
//! reruns finished them in.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Store;
use crate::{Error, Result};

/// A part is committed after this long, or this many planes, or this many bytes of rows.
const PART_TIME: Duration = Duration::from_secs(1);
const PART_PLANES: usize = 8192;
const PART_BYTES: usize = 8 << 20;
/// The most parts a record may have (a run of a million planes writes about a thousand).
const MAX_PARTS: usize = 1 << 20;

/// What a committed part says.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Part {
    /// Index of its first plane (raster order of the level's (t, c, z)).
    first: u64,
    /// What each item (plane, time point) left for the report, from `first` on: a plane's
    /// object count, a time point's sums of probabilities.
    items: Vec<Value>,
    /// Table rows, and the size of the rows file.
    rows: u64,
    bytes: u64,
    /// Where each item went, when items are tasks rather than planes (a notebook's `compute`
    /// into a label image: the plane index each task's labels were written at).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<u64>,
}

/// A committed part as the record keeps it in memory: the same as [`Part`], with object counts
/// kept as 4 bytes a plane (a million-plane run keeps 4 MB, not the 32 bytes of a JSON value
/// each).
struct Committed {
    first: u64,
    items: Items,
    rows: u64,
    keys: Vec<u64>,
}

enum Items {
    Counts(Vec<u32>),
    Values(Vec<Value>),
}

impl Items {
    fn new(items: Vec<Value>) -> Self {
        let counts: Option<Vec<u32>> = items
            .iter()
            .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect();
        match counts {
            Some(c) => Items::Counts(c),
            None => Items::Values(items),
        }
    }

    fn len(&self) -> usize {
        match self {
            Items::Counts(c) => c.len(),
            Items::Values(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Value {
        match self {
            Items::Counts(c) => c.get(i).map_or(Value::Null, |&n| Value::from(n)),
            Items::Values(v) => v.get(i).cloned().unwrap_or(Value::Null),
        }
    }
}

impl From<Part> for Committed {
    fn from(p: Part) -> Self {
        Committed {
            first: p.first,
            items: Items::new(p.items),
            rows: p.rows,
            keys: p.keys,
        }
    }
}

/// Planes done but not yet recorded.
struct Pending {
    first: u64,
    items: Vec<Value>,
    keys: Vec<u64>,
    rows: Vec<u8>,
    row_count: u64,
    since: Instant,
}

/// The progress record of one output.
pub(crate) struct Checkpoint {
    store: Store,
    planes: u64,
    parts: Vec<Committed>,
    pending: Option<Pending>,
    /// Planes this run recorded.
    recorded: u64,
}

fn part_key(first: u64, ext: &str) -> String {
    format!("parts/{first:012}.{ext}")
}

impl Checkpoint {
    /// Open the record at `store` for `job` over a level of `planes` planes: a new one when
    /// there is none, the committed parts of the same job when there is; an error when another
    /// job started this output.
    pub(crate) fn open(store: Store, job: &Value, planes: u64) -> Result<Self> {
        let rt = store.runtime().clone();
        let job = job.clone();
        rt.block_on(async move {
            let job = &job;
            let mut cp = Checkpoint {
                store,
                planes,
                parts: Vec::new(),
                pending: None,
                recorded: 0,
            };
            match cp.store.get("job.json").await? {
                None => {
                    if !cp.store.is_empty().await? {
                        return Err(Error::Write {
                            location: cp.store.location().to_string(),
                            reason: "it holds files that are not an omeflow progress record; \
                                     nothing was changed: remove them or choose another output"
                                .into(),
                        });
                    }
                    let doc = serde_json::to_vec_pretty(job)
                        .map_err(|e| Error::Internal(format!("serialising the job: {e}")))?;
                    cp.store.put("job.json", doc).await?;
                }
                Some(bytes) => {
                    let theirs: Value =
                        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidMetadata {
                            location: cp.store.describe("job.json"),
                            reason: format!("not an omeflow progress record: {e}"),
                        })?;
                    if &theirs != job {
                        return Err(Error::Write {
                            location: cp.store.location().to_string(),
                            reason: format!(
                                "this output was started by a different job ({}); rerun with \
                                 the same options to resume it, or add --overwrite to start \
                                 again",
                                differences(job, &theirs)
                            ),
                        });
                    }
                    cp.parts = cp.read_parts().await?;
                }
            }
            Ok(cp)
        })
    }

    /// Refuse, changing nothing, when the record at `store` was started by another job.
    pub(crate) fn check(store: &Store, job: &Value) -> Result<()> {
        let store = store.clone();
        let job = job.clone();
        store.runtime().clone().block_on(async move {
            let Some(bytes) = store.get("job.json").await? else {
                return Ok(());
            };
            let theirs: Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::InvalidMetadata {
                    location: store.describe("job.json"),
                    reason: format!("not an omeflow progress record: {e}"),
                })?;
            if theirs == job {
                Ok(())
            } else {
                Err(Error::Write {
                    location: store.location().to_string(),
                    reason: format!(
                        "this output was started by a different job ({}); rerun with the same \
                         options to resume it, or add --overwrite to start again",
                        differences(&job, &theirs)
                    ),
                })
            }
        })
    }

    async fn read_parts(&self) -> Result<Vec<Committed>> {
        let keys: Vec<String> = self
            .store
            .objects()
            .list(Some(&object_store::path::Path::from("parts")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| crate::store::storage_error(self.store.location(), e))?;
        let mut parts = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            if parts.len() >= MAX_PARTS {
                return Err(self.corrupt(format!("more than {MAX_PARTS} parts")));
            }
            let key = key.rsplit_once("parts/").map_or(key.as_str(), |(_, k)| k);
            let key = format!("parts/{key}");
            let Some(bytes) = self.store.get(&key).await? else {
                continue;
            };
            let part: Part =
                serde_json::from_slice(&bytes).map_err(|e| self.corrupt(format!("{key}: {e}")))?;
            let end = part.first.checked_add(part.items.len() as u64);
            if part.items.is_empty() || end.is_none_or(|e| e > self.planes) {
                return Err(self.corrupt(format!("{key} names planes outside the image")));
            }
            if !part.keys.is_empty() && part.keys.len() != part.items.len() {
                return Err(self.corrupt(format!(
                    "{key} has {} planes for {} items",
                    part.keys.len(),
                    part.items.len()
                )));
            }
            if key != part_key(part.first, "json") {
                return Err(self.corrupt(format!("{key} says it starts at plane {}", part.first)));
            }
            // A rows file that is not all there (which a commit order rules out) is done again.
            match self.store.get(&part_key(part.first, "rows")).await? {
                Some(rows) if rows.len() as u64 == part.bytes => parts.push(Committed::from(part)),
                _ => {}
            }
        }
        parts.sort_by_key(|p| p.first);
        for w in parts.windows(2) {
            if w[0].first + w[0].items.len() as u64 > w[1].first {
                return Err(self.corrupt(format!(
                    "parts at planes {} and {} overlap",
                    w[0].first, w[1].first
                )));
            }
        }
        Ok(parts)
    }

    fn corrupt(&self, why: String) -> Error {
        Error::InvalidMetadata {
            location: self.store.location().to_string(),
            reason: format!(
                "the progress record is damaged ({why}); add --overwrite to start the output again"
            ),
        }
    }

    /// One bit per plane of the level, set for each plane already done.
    pub(crate) fn done_bits(&self) -> Vec<u64> {
        let mut bits = vec![0u64; self.planes.div_ceil(64) as usize];
        for p in &self.parts {
            for i in p.first..p.first + p.items.len() as u64 {
                bits[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        bits
    }

    /// Items already done, with what each left for the report, in order.
    pub(crate) fn done(&self) -> impl Iterator<Item = (u64, Value)> + '_ {
        self.parts
            .iter()
            .flat_map(|p| (0..p.items.len()).map(move |i| (p.first + i as u64, p.items.get(i))))
    }

    /// Items already done with the key each was recorded with ([`Checkpoint::add_keyed`]).
    pub(crate) fn done_keyed(&self) -> impl Iterator<Item = (u64, u64, Value)> + '_ {
        self.parts.iter().flat_map(|p| {
            (0..p.items.len()).map(move |i| {
                (
                    p.first + i as u64,
                    p.keys.get(i).copied().unwrap_or(0),
                    p.items.get(i),
                )
            })
        })
    }

    /// Planes recorded before this run.
    pub(crate) fn planes_done(&self) -> u64 {
        self.parts.iter().map(|p| p.items.len() as u64).sum::<u64>() - self.recorded
    }

    /// Planes this run recorded.
    pub(crate) fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Record item `index` (its outputs stored), with what it leaves for the report and its
    /// table rows; items come in order. Commits a part when it is old or big enough, or when `index` does not
    /// follow the pending ones.
    pub(crate) fn add(
        &mut self,
        index: u64,
        item: Value,
        rows: &[u8],
        row_count: u64,
    ) -> Result<()> {
        self.add_with(index, None, item, rows, row_count)
    }

    /// [`Checkpoint::add`] for an item that also names where it went (`key`).
    pub(crate) fn add_keyed(
        &mut self,
        index: u64,
        key: u64,
        item: Value,
        rows: &[u8],
        row_count: u64,
    ) -> Result<()> {
        self.add_with(index, Some(key), item, rows, row_count)
    }

    fn add_with(
        &mut self,
        index: u64,
        key: Option<u64>,
        item: Value,
        rows: &[u8],
        row_count: u64,
    ) -> Result<()> {
        let follows = self
            .pending
            .as_ref()
            .is_some_and(|p| p.first + p.items.len() as u64 == index);
        if !follows {
            self.flush()?;
            self.pending = Some(Pending {
                first: index,
                items: Vec::new(),
                keys: Vec::new(),
                rows: Vec::new(),
                row_count: 0,
                since: Instant::now(),
            });
        }
        if let Some(p) = &mut self.pending {
            p.items.push(item);
            if let Some(k) = key {
                p.keys.push(k);
            }
            p.rows.extend_from_slice(rows);
            p.row_count += row_count;
            if p.since.elapsed() >= PART_TIME
                || p.items.len() >= PART_PLANES
                || p.rows.len() >= PART_BYTES
            {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Commit the pending planes: their rows, then the part that names them.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let part = Part {
            first: p.first,
            items: p.items,
            rows: p.row_count,
            bytes: p.rows.len() as u64,
            keys: p.keys,
        };
        let doc = serde_json::to_vec(&part)
            .map_err(|e| Error::Internal(format!("serialising a progress part: {e}")))?;
        let store = self.store.clone();
        let first = part.first;
        let rows = p.rows;
        self.store.runtime().clone().block_on(async move {
            store.put(&part_key(first, "rows"), rows).await?;
            store.put(&part_key(first, "json"), doc).await
        })?;
        self.recorded += part.items.len() as u64;
        // Parts come in plane order within a run; a rerun's may fall between earlier ones.
        let at = self.parts.partition_point(|q| q.first < part.first);
        self.parts.insert(at, Committed::from(part));
        Ok(())
    }

    /// Every part's rows in plane order, each read when its turn comes.
    pub(crate) fn for_each_rows(&self, mut f: impl FnMut(&[u8], u64) -> Result<()>) -> Result<()> {
        for p in &self.parts {
            let store = self.store.clone();
            let key = part_key(p.first, "rows");
            let rows = self
                .store
                .runtime()
                .clone()
                .block_on(async move { store.get(&key).await })?
                .ok_or_else(|| self.corrupt(format!("{} is missing", part_key(p.first, "rows"))))?;
            f(&rows, p.rows)?;
        }
        Ok(())
    }
}

/// What differs between two jobs, field by field, for the refusal.
fn differences(ours: &Value, theirs: &Value) -> String {
    let mut out = Vec::new();
    walk("", ours, theirs, &mut out);
    if out.is_empty() {
        "its record differs".into()
    } else {
        out.join(", ")
    }
}

fn walk(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let name = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                walk(
                    &name,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{at} {a} now, {b} then")),
        _ => {}
    }
}

/// Delete a progress record at `store`, which holds only what [`Checkpoint`] writes; refuse,
/// deleting nothing, when anything else is there.
pub(crate) fn delete(store: &Store) -> Result<()> {
    let store = store.clone();
    store.runtime().clone().block_on(async move {
        if store.local_root().is_some_and(|r| !r.exists()) {
            return Ok(());
        }
        let keys: Vec<String> = store
            .objects()
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|e| crate::store::storage_error(store.location(), e))?;
        let ours = |k: &str| {
            k == "job.json"
                || k.strip_prefix("slurm/").is_some_and(crate::slurm::is_ours)
                || k.strip_prefix("parts/").is_some_and(|r| {
                    let (n, ext) = r.split_once('.').unwrap_or((r, ""));
                    n.len() == 12
                        && n.chars().all(|c| c.is_ascii_digit())
                        && matches!(ext, "json" | "rows")
                })
        };
        if let Some(k) = keys.iter().find(|k| !ours(k)) {
            return Err(Error::Write {
                location: store.location().to_string(),
                reason: format!(
                    "{k} is not part of a progress record omeflow wrote; nothing was deleted"
                ),
            });
        }
        for k in keys.iter().filter(|k| k.ends_with(".json")) {
            store.delete(k).await?;
        }
        for k in &keys {
            store.delete(k).await?;
        }
        Ok(())
    })
}
