//! Where a segmentation job's results go: label images to OME-Zarr (written by the workers,
//! plane by plane), measurements to a table and one summary per plane (recorded in completion
//! order on the runner's thread). Outputs become visible only when every plane succeeded.

use std::path::PathBuf;

use super::reader::PlaneKey;
use super::worker::PlaneResult;
use super::PlaneSummary;
use crate::batch::table::TableWriter;
use crate::ngff::writer::{ImageSpec, ImageWriter};
use crate::ngff::DType;
use crate::{Error, Result};

/// The label image of a run.
pub(crate) struct Labels {
    writer: ImageWriter,
}

impl Labels {
    /// `labels/<name>` of the image at `location`, shaped as the segmented level. A rerun
    /// replaces the label image an earlier run wrote (complete or interrupted); anything
    /// omeflow did not write there is refused.
    pub(crate) fn create(
        location: &str,
        name: &str,
        shape: [usize; 5],
        source: &str,
    ) -> Result<Self> {
        let spec = ImageSpec::new(shape, DType::I32).with_chunks(1024, 1024);
        Ok(Labels {
            writer: ImageWriter::replace_label_image(location, spec, name, source)?,
        })
    }

    pub(crate) fn write(&self, key: &PlaneKey, labels: &ndarray::Array2<i32>) -> Result<()> {
        self.writer.write_plane(key.t, key.c, key.z, labels)
    }
}

/// Tables and summaries of a run.
pub(crate) struct Sink {
    table: Option<TableWriter>,
    pub(crate) planes: Vec<PlaneSummary>,
}

impl Sink {
    pub(crate) fn new(table_out: Option<&PathBuf>, planes: usize) -> Result<Self> {
        Ok(Sink {
            table: table_out.map(|p| TableWriter::create(p)).transpose()?,
            planes: Vec::with_capacity(planes.min(1 << 20)),
        })
    }

    /// Record one plane's outcome. An output that fails stops the run (`Err`); a plane that
    /// could not be read or segmented is kept as a failed plane and the others go on.
    pub(crate) fn record(&mut self, key: PlaneKey, out: Result<PlaneResult>) -> Result<()> {
        let PlaneKey { t, c, z } = key;
        let summary = match out {
            Ok(plane) => {
                if let Some(table) = &mut self.table {
                    table.add([t, c, z], &plane.props)?;
                }
                PlaneSummary {
                    t,
                    c,
                    z,
                    objects: plane.count,
                    error: None,
                }
            }
            Err(e @ (Error::Write { .. } | Error::Io { .. })) => return Err(e),
            Err(e) => PlaneSummary {
                t,
                c,
                z,
                objects: 0,
                error: Some(e.to_string()),
            },
        };
        self.planes.push(summary);
        Ok(())
    }

    /// Commit the outputs when every plane succeeded; a run with failed planes leaves them
    /// marked incomplete (labels) or as `<table>.incomplete`. Returns the table's rows.
    pub(crate) fn finish(mut self, labels: Option<Labels>) -> Result<(Vec<PlaneSummary>, u64)> {
        self.planes.sort_by_key(|p| (p.t, p.c, p.z));
        let all_ok = self.planes.iter().all(|p| p.error.is_none());
        let rows = match self.table.take() {
            Some(t) if all_ok => t.finish()?,
            Some(t) => t.rows(),
            None => 0,
        };
        if let Some(labels) = labels {
            if all_ok {
                labels.writer.finish()?;
            }
        }
        Ok((self.planes, rows))
    }
}
