//! Streaming the measurements of every object to CSV or JSON as planes finish, so a run of a
//! million planes never holds them all.

use std::path::Path;

use crate::ndimage::RegionProps;
use crate::Result;

/// File format of the measurement table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl TableFormat {
    /// `.json` means JSON, anything else CSV.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => TableFormat::Json,
            _ => TableFormat::Csv,
        }
    }
}

const COLUMNS: &str = "t,c,z,label,area,centroid_y,centroid_x,bbox_min_y,bbox_min_x,bbox_max_y,bbox_max_x,mean_intensity,max_intensity";

/// Writes one row per object, to `<name>.incomplete` until [`TableWriter::finish`].
pub(crate) struct TableWriter {
    out: crate::output::PartialFile,
    format: TableFormat,
    rows: u64,
}

impl TableWriter {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let format = TableFormat::from_path(path);
        let mut w = Self {
            out: crate::output::PartialFile::create(path)?,
            format,
            rows: 0,
        };
        let head = match format {
            TableFormat::Csv => format!("{COLUMNS}\n"),
            TableFormat::Json => "[".to_string(),
        };
        w.write(head.as_bytes())?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b)
    }

    /// Rows written by [`rows_text`], `count` of them, one per line.
    pub(crate) fn add_text(&mut self, text: &[u8], count: u64) -> Result<()> {
        match self.format {
            TableFormat::Csv => self.write(text)?,
            TableFormat::Json => {
                for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let sep: &[u8] = if self.rows == 0 { b"\n" } else { b",\n" };
                    self.write(sep)?;
                    self.write(line)?;
                    self.rows += 1;
                }
                return Ok(());
            }
        }
        self.rows += count;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<u64> {
        if self.format == TableFormat::Json {
            self.write(b"\n]\n")?;
        }
        self.out.commit()?;
        Ok(self.rows)
    }
}

/// The rows of plane `[t, c, z]` in `format`, one object per line (a JSON object per line for
/// JSON; [`TableWriter::add_text`] puts the separators between them).
pub(crate) fn rows_text(
    format: TableFormat,
    [t, c, z]: [usize; 3],
    props: &[RegionProps],
) -> String {
    let mut out = String::new();
    for p in props {
        let get = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(f64::NAN);
        let geti = |v: &[usize], i: usize| v.get(i).copied().unwrap_or(0);
        let line = match format {
            TableFormat::Csv => format!(
                "{t},{c},{z},{},{},{},{},{},{},{},{},{},{}\n",
                p.label,
                p.area,
                get(&p.centroid, 0),
                get(&p.centroid, 1),
                geti(&p.bbox_min, 0),
                geti(&p.bbox_min, 1),
                geti(&p.bbox_max, 0),
                geti(&p.bbox_max, 1),
                p.mean_intensity,
                p.max_intensity
            ),
            TableFormat::Json => {
                let row = serde_json::json!({"t": t, "c": c, "z": z, "label": p.label, "area": p.area,
                        "centroid": p.centroid, "bbox_min": p.bbox_min, "bbox_max": p.bbox_max,
                        "mean_intensity": p.mean_intensity, "max_intensity": p.max_intensity});
                format!("{row}\n")
            }
        };
        out.push_str(&line);
    }
    out
}
