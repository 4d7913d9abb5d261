//! The marker omeflow leaves in every image it writes: proof of what it wrote, and whether the
//! image was committed.
//!
//! A writer puts `.omeflow-write.json` (state `writing`) at the image's root before anything
//! else, writes the arrays and chunks, and writes the group metadata that makes the image an
//! image only once every plane is stored, then sets the marker to `complete`. So an interrupted
//! write has no group metadata (zarr-python and ome-zarr-py see no image, omeflow says it is
//! incomplete), and a later `replace` can prove which keys it may delete: the marker's own
//! levels, group metadata and label images, nothing else, and never through a symlink.

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{Error, Result};

/// The marker's key at an image's root.
pub(crate) const MARKER: &str = ".omeflow-write.json";

/// The folder of a run's progress record inside the output it writes.
pub(crate) const RUN_DIR: &str = ".omeflow-run";

/// Whether an image's data is all committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Writing,
    Complete,
}

/// What the marker records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// Always "omeflow".
    pub writer: String,
    pub state: State,
    /// Resolution levels written (`0/` .. `levels-1/`).
    pub levels: usize,
    /// (t, c, z) planes the image has.
    pub planes: u64,
}

/// The most levels a marker may claim (a level halves y and x, so 64 covers any shape).
const MAX_LEVELS: usize = 64;

impl Marker {
    pub(crate) fn new(state: State, levels: usize, planes: u64) -> Self {
        Self {
            writer: "omeflow".into(),
            state,
            levels,
            planes,
        }
    }

    /// The marker as JSON (a plain struct, so this cannot fail; were it to, an empty marker
    /// would be written, so it is an error rather than a default).
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Internal(format!("serialising the write marker: {e}")))
    }

    /// The marker of the image at the root of `store`, if there is one that omeflow wrote.
    pub(crate) async fn read(store: &Store) -> Result<Option<Marker>> {
        let Some(bytes) = store.get(MARKER).await? else {
            return Ok(None);
        };
        let marker: Marker =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidMetadata {
                location: store.describe(MARKER),
                reason: format!("not an omeflow write marker: {e}"),
            })?;
        if marker.writer != "omeflow" || marker.levels > MAX_LEVELS {
            return Err(Error::InvalidMetadata {
                location: store.describe(MARKER),
                reason: "not an omeflow write marker".into(),
            });
        }
        Ok(Some(marker))
    }
}

/// The error for an image whose marker says it was not committed.
pub(crate) fn incomplete(store: &Store) -> Error {
    Error::Incomplete(format!(
        "{} was being written by omeflow and was interrupted before all its data was \
         committed; write it again (the sample and `segment --labels-out` replace their own \
         interrupted output)",
        store.location()
    ))
}

/// Every key below the root of `store`; for a local store, walked without following links, and
/// refused if there is a link or something that is neither a file nor a folder.
async fn all_keys(store: &Store) -> Result<Vec<String>> {
    if let Some(root) = store.local_root() {
        let root = root.to_path_buf();
        let location = store.location().to_string();
        let task = format!("listing {location}");
        return tokio::task::spawn_blocking(move || walk_local(&root, &location))
            .await
            .map_err(|e| {
                if e.is_panic() {
                    Error::panicked(task, e.into_panic())
                } else {
                    Error::Write {
                        location: "listing the output".into(),
                        reason: e.to_string(),
                    }
                }
            })?;
    }
    use futures::TryStreamExt;
    store
        .objects()
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .map_err(|e| crate::store::storage_error(store.location(), e))
}

fn walk_local(root: &std::path::Path, location: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && prefix.is_empty() => {
                return Ok(keys)
            }
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .map_err(|e| Error::io(format!("reading {}", entry.path().display()), e))?;
            if kind.is_dir() {
                stack.push((entry.path(), format!("{key}/")));
            } else if kind.is_file() {
                keys.push(key);
            } else {
                return Err(Error::Write {
                    location: location.to_string(),
                    reason: format!(
                        "{key} is a symbolic link or a special file; omeflow deletes only \
                         files it wrote and never follows links, so nothing was deleted"
                    ),
                });
            }
        }
    }
    Ok(keys)
}

/// Whether `key` (relative to an image root with `marker`) is something omeflow writes there;
/// label images are checked against their own markers (`owned_labels`).
fn owned_by(marker: &Marker, key: &str, owned_labels: &[String]) -> bool {
    if matches!(key, MARKER | ".zgroup" | ".zattrs" | "zarr.json") {
        return true;
    }
    // A run's progress record (batch/checkpoint.rs), files of plain names only.
    if let Some(rest) = key.strip_prefix(RUN_DIR) {
        return rest.strip_prefix('/').is_some_and(|r| {
            !r.is_empty()
                && r.split('/').all(|p| {
                    !p.is_empty()
                        && !p.starts_with('.')
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
        });
    }
    // A chunk an interrupted process was writing: object_store's staging file `<key>#<n>`.
    if let Some((chunk, n)) = key.rsplit_once('#') {
        return !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
            && !chunk.contains('#')
            && owned_by(marker, chunk, owned_labels);
    }
    if matches!(
        key,
        "labels/.zgroup" | "labels/.zattrs" | "labels/zarr.json"
    ) {
        return true;
    }
    if let Some(rest) = key.strip_prefix("labels/") {
        return owned_labels.iter().any(|l| {
            rest.strip_prefix(l.as_str())
                .is_some_and(|r| r.starts_with('/'))
        });
    }
    let level = key.split('/').next().unwrap_or("");
    key.contains('/')
        && level
            .parse::<usize>()
            .is_ok_and(|l| l < marker.levels && level == l.to_string())
}

/// The keys of an image omeflow wrote at the root of `store`, root group metadata first and the
/// marker last, so an interrupted deletion is still incomplete and still provably ours; an
/// error, with nothing deleted, when anything else is there.
pub(crate) fn plan_deletion<'a>(
    store: &'a Store,
) -> futures::future::BoxFuture<'a, Result<Vec<String>>> {
    Box::pin(async move {
        let refuse = |reason: String| Error::Write {
            location: store.location().to_string(),
            reason,
        };
        let Some(marker) = Marker::read(store).await? else {
            let what = if super::array::read_node(store, "").await?.is_some() {
                "a Zarr image that omeflow did not write (no .omeflow-write.json)"
            } else {
                "files that are not a Zarr image omeflow wrote"
            };
            return Err(refuse(format!(
                "it holds {what}; omeflow replaces only its own output, so nothing was \
                 deleted: remove it yourself or choose another location"
            )));
        };
        let keys = all_keys(store).await?;
        // Label images are owned only if each carries its own marker and holds only its keys.
        let mut labels: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("labels/"))
            .filter_map(|r| r.strip_suffix(&format!("/{MARKER}")))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect();
        labels.sort();
        labels.dedup();
        let mut label_keys = Vec::new();
        for name in &labels {
            let child = store.child(&format!("labels/{name}"));
            label_keys.extend(
                plan_deletion(&child)
                    .await?
                    .into_iter()
                    .map(|k| format!("labels/{name}/{k}")),
            );
        }
        // Root metadata first (the image stops being one), then the label images and the
        // levels, the marker last (what is left stays provably omeflow's).
        let (mut root_meta, mut rest, mut last) = (Vec::new(), label_keys, Vec::new());
        for key in keys {
            if !owned_by(&marker, &key, &labels) {
                return Err(refuse(format!(
                    "{key} is not something omeflow wrote there; nothing was deleted: remove \
                     the image yourself or choose another location"
                )));
            }
            let in_label_image = labels
                .iter()
                .any(|l| key.starts_with(&format!("labels/{l}/")));
            match key.as_str() {
                _ if in_label_image => {}
                ".zattrs" | ".zgroup" | "zarr.json" => root_meta.push(key),
                MARKER => last.push(key),
                _ => rest.push(key),
            }
        }
        let mut plan = root_meta;
        plan.append(&mut rest);
        plan.append(&mut last);
        Ok(plan)
    })
}

/// Delete the chunk files an interrupted process of ours was still writing (object_store's
/// staging files, `<chunk>#<n>`, which its own listing hides) from the image at `store`; links
/// and files that are not ours are left alone. Local stores only: elsewhere an upload is atomic.
pub(crate) async fn delete_staging(store: &Store) -> Result<()> {
    let Some(root) = store.local_root().map(std::path::Path::to_path_buf) else {
        return Ok(());
    };
    let Some(marker) = Marker::read(store).await? else {
        return Ok(());
    };
    let location = store.location().to_string();
    let keys = tokio::task::spawn_blocking(move || -> Result<Vec<std::path::PathBuf>> {
        let keys = walk_local(&root, &location)?;
        Ok(keys
            .into_iter()
            .filter(|k| k.contains('#') && owned_by(&marker, k, &[]))
            .map(|k| root.join(k))
            .collect())
    })
    .await
    .map_err(|e| Error::Internal(format!("listing staging files: {e}")))??;
    for path in keys {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }
    Ok(())
}

/// Delete the keys of `plan` in order, except that each run of consecutive chunk keys (whose
/// order does not matter: only metadata and markers say what an image is) is deleted many at
/// a time: an image of 100k chunks goes in seconds, not minutes.
pub(crate) async fn delete(store: &Store, plan: &[String]) -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let is_chunk = |k: &str| {
        let name = k.rsplit('/').next().unwrap_or(k);
        !matches!(
            name,
            ".zattrs" | ".zgroup" | ".zarray" | ".zmetadata" | "zarr.json" | MARKER
        )
    };
    let mut i = 0;
    while i < plan.len() {
        if !is_chunk(&plan[i]) {
            store.delete(&plan[i]).await?;
            i += 1;
            continue;
        }
        let end = plan[i..]
            .iter()
            .position(|k| !is_chunk(k))
            .map_or(plan.len(), |n| i + n);
        futures::stream::iter(plan[i..end].to_vec())
            .map(|k| {
                let store = store.clone();
                async move { store.delete(&k).await }
            })
            .buffer_unordered(64)
            .try_collect::<()>()
            .await?;
        i = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_markers_levels_and_metadata_are_owned() {
        let m = Marker::new(State::Complete, 2, 1);
        for k in [MARKER, ".zattrs", "zarr.json", "0/.zarray", "1/0/0/0/0/0"] {
            assert!(owned_by(&m, k, &[]), "{k}");
        }
        for k in [
            "2/.zarray",
            "notes.txt",
            "0",
            "01/x",
            "labels/x/.zattrs",
            "data/1",
        ] {
            assert!(!owned_by(&m, k, &[]), "{k}");
        }
        assert!(owned_by(&m, "labels/x/0/.zarray", &["x".into()]));
        assert!(owned_by(&m, "0/0/0/0/1/2#17", &[]));
        assert!(owned_by(&m, ".omeflow-run/parts/000000000012.json", &[]));
        for k in [
            "notes.txt#1",
            "0/0/0#x",
            ".omeflow-run/../x",
            ".omeflow-run/.hidden",
            ".omeflow-run",
        ] {
            assert!(!owned_by(&m, k, &[]), "{k}");
        }
        assert!(!owned_by(&m, "labels/xy/0/.zarray", &["x".into()]));
    }
}
