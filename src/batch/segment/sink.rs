//! Where a segmentation job's results go: label images to OME-Zarr (written by the workers,
//! plane by plane), measurements to the progress record and then a table, one summary per
//! plane. Results are put back in raster order as they arrive (at most the read-ahead window
//! waits), so the record's parts are runs of consecutive planes and the table comes out in
//! (t, c, z) order whatever order the planes finished in. Outputs become visible only when every
//! plane succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::reader::{PlaneKey, Planes};
use super::worker::PlaneResult;
use super::PlaneSummary;
use crate::batch::checkpoint::Checkpoint;
use crate::batch::table::{rows_text, TableFormat, TableWriter};
use crate::ngff::blocks::{BlockWriter, Expect};
use crate::ngff::labels::LabelTarget;
use crate::ngff::writer::{create_label, Existing};
use crate::store::Store;
use crate::{Error, Result};
use serde_json::Value;

/// The label image of a run, its planes gathered into chunks of several planes along z.
pub(crate) struct Labels {
    blocks: BlockWriter<i32>,
}

/// At most this many bytes of label planes wait for the rest of their chunk.
const PENDING_BYTES: usize = 64 << 20;

impl Labels {
    /// `labels/<name>` at `target`: created, replaced (`--overwrite`), or resumed with the
    /// planes `done` has; `expect` says which planes this run brings (see [`BlockWriter`]).
    pub(crate) fn open(
        target: &LabelTarget,
        name: &str,
        existing: Existing,
        expect: Expect,
    ) -> Result<Self> {
        crate::ngff::writer::check_label_name(name)?;
        let store = target.open_store()?;
        let spec = target.spec.clone();
        let source = target.source.clone();
        let beside = !target.inside;
        let name = name.to_string();
        let rt = store.runtime().clone();
        let writer = rt.block_on(async move {
            create_label(store, spec, &name, &source, beside, existing).await
        })?;
        let [_, _, _, y, x] = writer.spec().shape;
        let block_bytes = writer
            .spec()
            .chunk_z
            .saturating_mul(y)
            .saturating_mul(x)
            .saturating_mul(4)
            .max(1);
        let max_pending = (PENDING_BYTES / block_bytes).max(4);
        Ok(Labels {
            blocks: BlockWriter::new(writer, expect, max_pending),
        })
    }

    /// Count the planes an earlier run recorded as written.
    pub(crate) fn mark_written(&self, bits: &[u64]) -> Result<()> {
        self.blocks.writer().mark_written(bits)
    }

    /// Commit the label image (its metadata last), once every plane is written.
    pub(crate) fn finish(self) -> Result<()> {
        // Callers flush first to record what the flush stores; this one is then a no-op, and
        // stays so that no caller can commit an image with planes still waiting.
        self.blocks.flush()?;
        self.blocks.writer().finish()
    }

    /// Add a plane's labels; they are stored when their chunk is whole (or at [`Labels::flush`]).
    pub(crate) fn write(&self, key: &PlaneKey, labels: ndarray::Array2<i32>) -> Result<()> {
        self.blocks.put(key.t, key.c, key.z, labels)
    }

    /// A plane that failed: its chunk is stored without it.
    pub(crate) fn miss(&self, key: &PlaneKey) -> Result<()> {
        self.blocks.miss(key.t, key.c, key.z)
    }

    /// Whether a plane's labels are stored (so the record may count it).
    pub(crate) fn is_written(&self, key: &PlaneKey) -> bool {
        self.blocks.is_written(key.t, key.c, key.z)
    }

    /// Store the planes still waiting for the rest of their chunk.
    pub(crate) fn flush(&self) -> Result<()> {
        self.blocks.flush()
    }
}

/// The store of a label image's progress record.
pub(crate) fn record_in_labels(target: &LabelTarget, name: &str) -> Result<Store> {
    Ok(target
        .open_store()?
        .child("labels")
        .child(name)
        .child(crate::ngff::RUN_DIR))
}

/// The store of a table's progress record (when no label image holds it): beside the table.
pub(crate) fn record_beside(table: &Path) -> Result<Store> {
    let mut name = table.file_name().unwrap_or_default().to_os_string();
    name.push(".omeflow-run");
    Store::create_local(&table.with_file_name(name))
}

/// Tables, progress record and summaries of a run.
pub(crate) struct Sink {
    table: Option<(PathBuf, TableFormat)>,
    record: Option<Checkpoint>,
    /// (t, c, z) shape of the level, for plane indices.
    level: [usize; 3],
    /// The planes still to record, in order, and results that came before their turn.
    expected: Box<dyn Iterator<Item = PlaneKey> + Send>,
    next: Option<PlaneKey>,
    waiting: BTreeMap<PlaneKey, Result<PlaneResult>>,
    /// Every plane's summary when the job lists them ([`LISTED_PLANES`]), else failed ones only.
    planes: Vec<PlaneSummary>,
    list: bool,
    /// Planes done and their objects, this run's (without a record, the report's only source).
    done: u64,
    objects: u64,
}

/// A report lists every plane's summary up to this many planes; past it, only failed planes
/// (the counts of all are in the table and the progress record), so that a run of a million
/// planes keeps in memory what it keeps for ten thousand.
pub const LISTED_PLANES: usize = 1 << 16;

/// What a run's outputs say once it ends: what the report shows.
pub(crate) struct Tally {
    pub(crate) planes: Vec<PlaneSummary>,
    pub(crate) plane_count: u64,
    pub(crate) failed: u64,
    pub(crate) total_objects: u64,
    pub(crate) listed: bool,
    pub(crate) table_rows: u64,
}

impl Sink {
    pub(crate) fn new(
        table_out: Option<&PathBuf>,
        record: Option<Checkpoint>,
        level: [usize; 3],
        planes: &Planes,
    ) -> Result<Self> {
        let table = table_out.map(|p| (p.clone(), TableFormat::from_path(p)));
        if let Some((p, _)) = &table {
            // Refused now, not after the work: a table that is a link or a folder.
            crate::output::check_target(p)?;
        }
        let mut expected: Box<dyn Iterator<Item = PlaneKey> + Send> = Box::new(planes.todo());
        let next = expected.next();
        Ok(Sink {
            table,
            record,
            level,
            expected,
            next,
            waiting: BTreeMap::new(),
            planes: Vec::new(),
            list: planes.len() <= LISTED_PLANES,
            done: 0,
            objects: 0,
        })
    }

    fn index(&self, k: PlaneKey) -> u64 {
        let [_, c, z] = self.level;
        ((k.t as u64 * c as u64) + k.c as u64) * z as u64 + k.z as u64
    }

    /// Take one plane's outcome (in any order) and record those whose turn has come and whose
    /// labels are stored. An output that fails stops the run (`Err`); a plane that could not be
    /// read or segmented is kept as a failed plane (not recorded as done) and the others go on.
    pub(crate) fn record(
        &mut self,
        key: PlaneKey,
        out: Result<PlaneResult>,
        labels: Option<&Labels>,
    ) -> Result<()> {
        if let Err(e @ (Error::Write { .. } | Error::Io { .. })) = out {
            return Err(e);
        }
        if let (Err(_), Some(labels)) = (&out, labels) {
            labels.miss(&key)?;
        }
        self.waiting.insert(key, out);
        self.advance(labels)
    }

    /// Record the planes whose turn has come, as far as their labels are stored.
    fn advance(&mut self, labels: Option<&Labels>) -> Result<()> {
        while let Some(next) = self.next {
            match self.waiting.get(&next) {
                None => break,
                Some(Ok(_)) if labels.is_some_and(|l| !l.is_written(&next)) => break,
                Some(_) => {}
            }
            let Some(out) = self.waiting.remove(&next) else {
                break;
            };
            self.in_turn(next, out)?;
            self.next = self.expected.next();
        }
        Ok(())
    }

    /// Store the labels still waiting for the rest of their chunk and record every plane
    /// that had come: when the run ends or stops.
    pub(crate) fn settle(&mut self, labels: Option<&Labels>) -> Result<()> {
        if let Some(l) = labels {
            l.flush()?;
        }
        self.advance(labels)
    }

    fn in_turn(&mut self, key: PlaneKey, out: Result<PlaneResult>) -> Result<()> {
        let PlaneKey { t, c, z } = key;
        let index = self.index(key);
        let summary = match out {
            Ok(plane) => {
                if let Some(record) = &mut self.record {
                    let (text, rows) = match &self.table {
                        Some((_, format)) => (
                            rows_text(*format, [t, c, z], &plane.props),
                            plane.props.len() as u64,
                        ),
                        None => (String::new(), 0),
                    };
                    record.add(index, Value::from(plane.count), text.as_bytes(), rows)?;
                }
                PlaneSummary {
                    t,
                    c,
                    z,
                    objects: plane.count,
                    error: None,
                }
            }
            Err(e) => {
                // A failed plane is not done: the part stops before it, and a rerun tries again.
                if let Some(record) = &mut self.record {
                    record.flush()?;
                }
                PlaneSummary {
                    t,
                    c,
                    z,
                    objects: 0,
                    error: Some(e.to_string()),
                }
            }
        };
        if summary.error.is_none() {
            self.done += 1;
            self.objects += summary.objects as u64;
        }
        // With a record, the summaries of planes done come from it at the end.
        if summary.error.is_some() || (self.list && self.record.is_none()) {
            self.planes.push(summary);
        }
        Ok(())
    }

    /// How many planes failed so far.
    pub(crate) fn failures(&self) -> usize {
        self.planes.iter().filter(|p| p.error.is_some()).count()
    }

    /// The first plane that failed, named with why.
    pub(crate) fn first_failure(&self) -> Option<String> {
        self.planes.iter().find_map(|p| {
            p.error
                .as_ref()
                .map(|e| format!("t:{}, c:{}, z:{}: {e}", p.t, p.c, p.z))
        })
    }

    /// Planes this run recorded as done.
    pub(crate) fn recorded(&self) -> u64 {
        self.record.as_ref().map_or(0, Checkpoint::recorded)
    }

    /// Commit what is pending in the record (an interrupted run keeps what it finished).
    pub(crate) fn flush(&mut self) -> Result<()> {
        match &mut self.record {
            Some(r) => r.flush(),
            None => Ok(()),
        }
    }

    /// Commit the outputs when every plane succeeded (the record's rows, in plane order, become
    /// the table; the label image is committed); a run with failed planes leaves them
    /// incomplete, to be finished by a rerun. Returns the summaries the report lists (every
    /// plane, those of earlier runs included, up to [`LISTED_PLANES`]), the counts and the
    /// table's rows.
    pub(crate) fn finish(mut self, labels: Option<Labels>) -> Result<Tally> {
        self.settle(labels.as_ref())?;
        self.flush()?;
        let [_, sc, sz] = self.level;
        let failed = self.planes.iter().filter(|p| p.error.is_some()).count() as u64;
        let (mut plane_count, mut total_objects) = (self.done, self.objects);
        if let Some(record) = &self.record {
            // Every plane done, this run's and earlier runs', is in the record; failures are not.
            (plane_count, total_objects) = (0, 0);
            for (i, objects) in record.done() {
                let objects = objects.as_u64().unwrap_or(0);
                plane_count += 1;
                total_objects += objects;
                if self.list {
                    let (z, rest) = ((i % sz as u64) as usize, i / sz as u64);
                    self.planes.push(PlaneSummary {
                        t: (rest / sc as u64) as usize,
                        c: (rest % sc as u64) as usize,
                        z,
                        objects: objects as usize,
                        error: None,
                    });
                }
            }
        }
        self.planes.sort_by_key(|p| (p.t, p.c, p.z));
        let all_ok = failed == 0;
        let table_rows = match (&self.table, &self.record) {
            (Some((path, _)), Some(record)) if all_ok => {
                let mut table = TableWriter::create(path)?;
                record.for_each_rows(|text, n| table.add_text(text, n))?;
                table.finish()?
            }
            _ => 0,
        };
        if let Some(labels) = labels {
            if all_ok {
                labels.finish()?;
            }
        }
        Ok(Tally {
            planes: self.planes,
            plane_count: plane_count + failed,
            failed,
            total_objects,
            listed: self.list,
            table_rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(planes: usize) -> Tally {
        let p = Planes::new([1, 1, planes, 8, 8], &None, &None, &None).unwrap();
        let mut sink = Sink::new(None, None, [1, 1, planes], &p).unwrap();
        for k in p.todo() {
            let out = if k.z == 7 {
                Err(Error::InvalidArgument("a plane that fails".into()))
            } else {
                Ok(PlaneResult {
                    count: 2,
                    props: Vec::new(),
                })
            };
            sink.record(k, out, None).unwrap();
        }
        sink.finish(None).unwrap()
    }

    #[test]
    fn past_the_listed_planes_only_failures_are_kept() {
        let small = run(100);
        assert!(small.listed);
        assert_eq!(small.planes.len(), 100);
        assert_eq!(
            (small.plane_count, small.failed, small.total_objects),
            (100, 1, 198)
        );
        let big = run(LISTED_PLANES + 10);
        assert!(!big.listed);
        assert_eq!(big.planes.len(), 1, "only the failed plane");
        assert_eq!(big.planes[0].z, 7);
        let n = (LISTED_PLANES + 10) as u64;
        assert_eq!(
            (big.plane_count, big.failed, big.total_objects),
            (n, 1, 2 * (n - 1))
        );
    }
}
