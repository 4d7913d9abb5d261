//! Files a user asks for (tables, pictures, pages), written whole or not at all.
//!
//! Data goes to `<name>.incomplete` beside the target, is flushed to disk, and is then renamed
//! over the target, so the target is either the old file or the complete new one. A run that
//! is interrupted or fails leaves only the `.incomplete` file, whose name says what it is. The
//! target is never a symbolic link or a folder: the rename would replace the link itself, so
//! such a target is refused rather than silently swapped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// A path as it should be printed: the canonical path when it exists (absolute, no `.`, `..`
/// or links), else made absolute, tidied by name (`a/./b/../c` -> `a/c`) and its nearest
/// existing folder canonicalised. What the notebooks and the CLI show for files they read or write.
///
/// ```
/// use std::path::Path;
/// use omeflow::output::tidy_path;
/// assert_eq!(tidy_path("/no-such-dir-omeflow/./a/../b.png"), Path::new("/no-such-dir-omeflow/b.png"));
/// assert_eq!(tidy_path(env!("CARGO_MANIFEST_DIR").to_string() + "/src/.."),
///            Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap());
/// ```
pub fn tidy_path(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(here) => here.join(path),
            Err(_) => return lexical_tidy(path),
        }
    };
    let tidy = lexical_tidy(&absolute);
    // The longest prefix that exists, canonicalised, and the rest after it.
    let parts: Vec<Component> = tidy.components().collect();
    for cut in (1..parts.len()).rev() {
        let head: PathBuf = parts[..cut].iter().collect();
        if let Ok(base) = std::fs::canonicalize(&head) {
            return parts[cut..].iter().fold(base, |p, c| p.join(c));
        }
    }
    tidy
}

/// A location as it should be printed: a local path through [`tidy_path`], an address
/// (`scheme://...`) unchanged.
pub fn tidy_location(location: &str) -> String {
    if location.contains("://") || location.is_empty() {
        location.to_string()
    } else {
        tidy_path(location).display().to_string()
    }
}

/// `.` dropped and `x/..` removed by name alone; `..` kept where nothing precedes it to remove
/// (`../a`), dropped after the root (`/..` is `/`).
fn lexical_tidy(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

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

pub(crate) fn check_target(target: &Path) -> Result<()> {
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

/// Read a small file omeflow wrote (a job file, a state record), refusing one larger than
/// `max` bytes before reading it and a symbolic link.
pub fn read_bounded(path: impl AsRef<Path>, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let path = path.as_ref();
    let m = std::fs::symlink_metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if m.file_type().is_symlink() || !m.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if m.len() > max {
        return Err(Error::InvalidArgument(format!(
            "{} has {} bytes, more than the {max} omeflow reads there",
            path.display(),
            m.len()
        )));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path.display(), e))?;
    if bytes.len() as u64 > max {
        return Err(Error::InvalidArgument(format!(
            "{} grew past the {max} bytes omeflow reads there",
            path.display()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_tidied() {
        let lex = |p: &str| lexical_tidy(Path::new(p));
        assert_eq!(lex("/x/../y"), Path::new("/y"));
        assert_eq!(lex("./a/./b"), Path::new("a/b"));
        assert_eq!(lex("a/.."), Path::new("."));
        assert_eq!(lex("../a/../../b"), Path::new("../../b"));
        assert_eq!(lex("/.."), Path::new("/"));
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("sub")).unwrap();
        // Exists: canonical.
        let odd = real.join("sub").join("..").join(".").join("sub");
        assert_eq!(tidy_path(&odd), real.join("sub"));
        // Does not exist: the existing folder canonical, the rest by name.
        let missing = real.join("sub/../new/./pictures/x.png");
        assert_eq!(tidy_path(&missing), real.join("new/pictures/x.png"));
        assert_eq!(tidy_location("s3://bucket/a/../b"), "s3://bucket/a/../b");
        assert_eq!(
            tidy_location(&odd.to_string_lossy()),
            real.join("sub").display().to_string()
        );
    }

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
