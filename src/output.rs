//! Files a user asks for (tables, pictures, pages), written whole or not at all.
//!
//! Data goes to `<name>.incomplete` beside the target, is flushed to disk, and is then renamed
//! over the target, so the target is either the old file or the complete new one. A run that
//! is interrupted or fails leaves only the `.incomplete` file, whose name says what it is. The
//! target is never a symbolic link or a folder: the rename would replace the link itself, so
//! such a target is refused rather than silently swapped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file being written: visible under its name only after [`PartialFile::commit`].
pub struct PartialFile {
    out: BufWriter<File>,
    temp: PathBuf,
    target: PathBuf,
}

/// The name an unfinished `target` is written under.
pub fn incomplete_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".incomplete");
    target.with_file_name(name)
}

fn check_target(target: &Path) -> Result<()> {
    if target.file_name().is_none() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a file name",
            target.display()
        )));
    }
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::InvalidArgument(format!(
            "{} is a symbolic link; omeflow writes only to a new or regular file",
            target.display()
        ))),
        Ok(m) if !m.is_file() => Err(Error::InvalidArgument(format!(
            "{} exists and is not a regular file",
            target.display()
        ))),
        _ => Ok(()),
    }
}

impl PartialFile {
    /// Start writing `target`. Nothing appears under its name until [`PartialFile::commit`].
    pub fn create(target: impl AsRef<Path>) -> Result<Self> {
        let target = target.as_ref().to_path_buf();
        check_target(&target)?;
        let temp = incomplete_path(&target);
        // A leftover of an interrupted run is ours by its name, but only a regular file is
        // removed: a link planted there is refused, not followed.
        if let Ok(m) = std::fs::symlink_metadata(&temp) {
            if !m.is_file() {
                return Err(Error::InvalidArgument(format!(
                    "{} exists and is not a regular file",
                    temp.display()
                )));
            }
            std::fs::remove_file(&temp)
                .map_err(|e| Error::io(format!("removing {}", temp.display()), e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io(format!("creating {}", temp.display()), e))?;
        Ok(Self {
            out: BufWriter::new(file),
            temp,
            target,
        })
    }

    /// Where the data goes once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Append bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(format!("writing {}", self.temp.display()), e))
    }

    /// Flush to disk and give the file its name.
    pub fn commit(self) -> Result<()> {
        let io = |e| Error::io(format!("writing {}", self.temp.display()), e);
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        check_target(&self.target)?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| {
            Error::io(
                format!(
                    "renaming {} to {}",
                    self.temp.display(),
                    self.target.display()
                ),
                e,
            )
        })
    }
}

/// Write `bytes` to `path` whole or not at all.
pub fn write_file(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = PartialFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_visible_before_commit_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("table.csv");
        let mut f = PartialFile::create(&target).unwrap();
        f.write_all(b"a,b\n").unwrap();
        assert!(!target.exists());
        assert!(incomplete_path(&target).exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n");
        assert!(!incomplete_path(&target).exists());

        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(write_file(&link, b"x").is_err());
        std::os::unix::fs::symlink(&outside, incomplete_path(&target)).unwrap();
        assert!(write_file(&target, b"x").is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    }
}
