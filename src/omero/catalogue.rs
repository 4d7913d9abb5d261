//! The local catalogue: a folder of OME-Zarr images that answers like an OMERO server, from the
//! images' own metadata. The embedded sample is one ([`SAMPLE`](super::SAMPLE)).
//!
//! The rule for ids (stable as long as the folder's names do not change):
//! - An image is a folder holding `.zattrs`, `.zgroup` or `zarr.json`, directly in the catalogue
//!   folder or in one of its subfolders. Names starting with `.` are skipped.
//! - An image whose name up to the first `.` is a number has that id (`4007801.zarr` is image
//!   4007801). The others get 1, 2, 3, ... in path order, skipping ids already taken. When two
//!   images claim the same number, the first in path order keeps it.
//! - Each subfolder that holds images is a dataset; its id comes from its name in the same way,
//!   else 2, 3, ... in name order. Dataset 1 is every image of the catalogue, unless a subfolder
//!   is named `1`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::model::{Channel, Image, Length, PixelSource, Rgba};
use crate::ngff::{DType, OmeZarr};
use crate::sample::{write_sample, SampleSpec};
use crate::store::StoreOptions;
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub(crate) struct Catalogue {
    pub(crate) root: PathBuf,
    pub(crate) images: BTreeMap<u64, PathBuf>,
    pub(crate) datasets: BTreeMap<u64, (String, Vec<u64>)>,
}

fn is_image_dir(path: &Path) -> bool {
    [".zattrs", ".zgroup", "zarr.json"]
        .iter()
        .any(|f| path.join(f).is_file())
}

fn sorted_subdirs(path: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        fs::read_dir(path).map_err(|e| Error::io(format!("listing {}", path.display()), e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// `4007801.zarr` -> 4007801; names that do not start with a number followed by `.` or the end -> None.
pub(crate) fn id_from_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.split('.').next()?;
    if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Give each path its id from its name, else the next free number from `first`.
fn number(paths: &[PathBuf], first: u64, taken: &mut BTreeSet<u64>) -> Vec<u64> {
    let mut ids: Vec<Option<u64>> = paths
        .iter()
        .map(|p| id_from_name(p).filter(|id| taken.insert(*id)))
        .collect();
    let mut next = first;
    for id in ids.iter_mut().filter(|id| id.is_none()) {
        while taken.contains(&next) {
            next += 1;
        }
        taken.insert(next);
        *id = Some(next);
    }
    ids.into_iter().map(|id| id.unwrap_or_default()).collect()
}

impl Catalogue {
    /// Scan a folder (two levels) for OME-Zarr images.
    pub(crate) fn open(root: &Path) -> Result<Self> {
        // Printed as the connection's host: `data/./images/..` shows as the folder it is.
        let root = &crate::output::tidy_path(root);
        if !root.is_dir() {
            return Err(Error::NotFound {
                location: root.display().to_string(),
                detail: "not a folder of OME-Zarr images".into(),
            });
        }
        let mut image_paths = Vec::new();
        let mut dataset_dirs: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
        if is_image_dir(root) {
            // A single image given as the catalogue: a catalogue of one.
            image_paths.push(root.to_path_buf());
        } else {
            for dir in sorted_subdirs(root)? {
                if is_image_dir(&dir) {
                    image_paths.push(dir);
                } else {
                    let inner: Vec<PathBuf> = sorted_subdirs(&dir)?
                        .into_iter()
                        .filter(|d| is_image_dir(d))
                        .collect();
                    if !inner.is_empty() {
                        image_paths.extend(inner.iter().cloned());
                        dataset_dirs.push((dir, inner));
                    }
                }
            }
        }
        image_paths.sort();
        let ids = number(&image_paths, 1, &mut BTreeSet::new());
        let images: BTreeMap<u64, PathBuf> = ids.iter().copied().zip(image_paths).collect();
        let id_of = |p: &PathBuf| images.iter().find(|(_, q)| *q == p).map(|(id, _)| *id);

        let dirs: Vec<PathBuf> = dataset_dirs.iter().map(|(d, _)| d.clone()).collect();
        // Dataset 1 is everything, unless a folder claims it by name.
        let mut taken = BTreeSet::new();
        let claims_one = dirs.iter().any(|d| id_from_name(d) == Some(1));
        if !claims_one {
            taken.insert(1);
        }
        let dataset_ids = number(&dirs, 2, &mut taken);
        let mut datasets = BTreeMap::new();
        if !claims_one {
            let name = root.file_name().map_or("catalogue".to_string(), |n| {
                n.to_string_lossy().into_owned()
            });
            datasets.insert(1, (name, images.keys().copied().collect()));
        }
        for (id, (dir, inner)) in dataset_ids.into_iter().zip(&dataset_dirs) {
            let name = dir
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            datasets.insert(id, (name, inner.iter().filter_map(id_of).collect()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            images,
            datasets,
        })
    }

    fn host(&self) -> String {
        self.root.display().to_string()
    }

    pub(crate) fn image(&self, id: u64) -> Result<Image> {
        let path = self.images.get(&id).ok_or_else(|| Error::OmeroNotFound {
            host: self.host(),
            what: "image",
            id,
        })?;
        image_from_zarr(id, path)
    }

    pub(crate) fn dataset_images(&self, id: u64) -> Result<Vec<Image>> {
        let (_, ids) = self.datasets.get(&id).ok_or_else(|| Error::OmeroNotFound {
            host: self.host(),
            what: "dataset",
            id,
        })?;
        ids.iter().map(|i| self.image(*i)).collect()
    }
}

/// OMERO spells the floating types as Java does; the others as numpy.
fn omero_pixel_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float",
        DType::F64 => "double",
        other => other.name(),
    }
}

fn unit_symbol(unit: &str) -> String {
    match unit {
        "micrometer" => "µm".into(),
        "nanometer" => "nm".into(),
        "millimeter" => "mm".into(),
        "angstrom" => "Å".into(),
        other => other.into(),
    }
}

/// An image as the server would describe it, from the OME-Zarr metadata and level 0.
pub(crate) fn image_from_zarr(id: u64, path: &Path) -> Result<Image> {
    let zarr = OmeZarr::open(&path.to_string_lossy(), &StoreOptions::default())?;
    let level0 = zarr.level(0)?;
    let [t, c, z, y, x] = level0.shape();
    let meta = zarr.metadata();
    let scale = level0.scale();
    let units = meta.units5();
    let has_axis = meta.axis_map();
    let length = |i: usize| -> Option<Length> {
        has_axis[i]?;
        Some(Length {
            value: scale[i],
            unit: units[i].as_deref().map(unit_symbol).unwrap_or_default(),
        })
    };
    let name = meta.name.clone().unwrap_or_else(|| {
        path.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    });
    let channels = (0..c)
        .map(|index| {
            let m = meta.channels.get(index);
            Channel {
                index,
                name: m.and_then(|m| m.name.clone()),
                color: m.and_then(|m| m.color.as_deref()).and_then(Rgba::from_hex),
                emission_wavelength: None,
            }
        })
        .collect();
    Ok(Image {
        id,
        name,
        size_t: t,
        size_c: c,
        size_z: z,
        size_y: y,
        size_x: x,
        pixel_type: omero_pixel_type(level0.dtype()).to_string(),
        physical_size_x: length(4),
        physical_size_y: length(3),
        physical_size_z: length(2),
        channels,
        studies: Vec::new(),
        source: PixelSource::Local(path.to_path_buf()),
    })
}

/// Images of the sample catalogue's second dataset, the offline stand-in for the ilastik
/// tutorial's dataset: small 2-channel z-stacks, each with its own nuclei.
pub(crate) const SAMPLE_DATASET_IMAGES: [u64; 3] = [1001, 1002, 1003];

/// The folder of the embedded sample's catalogue, written on first use:
/// - image 4007801 (the IDR image the first tutorial reads, which the sample stands in for);
/// - `embryos/`: images 1001 to 1003, (1, 2, 72, 80, 80) stacks for the second tutorial, which
///   classifies every image of a dataset (its project filters at scale 10 in 3-D, which needs
///   more than 70 planes).
///
/// Dataset 1 holds every image, dataset 2 the embryos.
pub(crate) fn sample_catalogue() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("omeflow-sample-catalogue-v6");
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    let parent = std::env::temp_dir();
    // Written aside and renamed into place, so a reader (or a second process writing at the same
    // time) never sees half a catalogue.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = parent.join(format!(
        ".omeflow-sample-catalogue-{}-{nanos}",
        std::process::id()
    ));
    let written = write_sample_catalogue(&staging);
    let moved = written.and_then(|()| {
        if dir.exists() && !dir.join(".complete").is_file() {
            // Left by an older, interrupted writer.
            let _ = fs::remove_dir_all(&dir);
        }
        fs::rename(&staging, &dir)
            .or_else(|e| {
                if dir.join(".complete").is_file() {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| {
                Error::io(
                    format!("moving the sample catalogue to {}", dir.display()),
                    e,
                )
            })
    });
    let _ = fs::remove_dir_all(&staging);
    moved.map(|()| dir)
}

fn write_sample_catalogue(dir: &Path) -> Result<()> {
    let embryos = dir.join("embryos");
    fs::create_dir_all(&embryos)
        .map_err(|e| Error::io(format!("creating {}", embryos.display()), e))?;
    write_sample(
        &dir.join("4007801.zarr").to_string_lossy(),
        &SampleSpec::default(),
    )?;
    for id in SAMPLE_DATASET_IMAGES {
        let spec = SampleSpec {
            shape: [1, 2, 72, 80, 80],
            nuclei: 10,
            levels: 2,
            seed: id,
            name: format!("sample nuclei {id}"),
            ..SampleSpec::default()
        };
        write_sample(&embryos.join(format!("{id}.zarr")).to_string_lossy(), &spec)?;
    }
    fs::write(dir.join(".complete"), b"")
        .map_err(|e| Error::io(format!("writing {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_names_then_path_order() {
        assert_eq!(id_from_name(Path::new("/x/4007801.zarr")), Some(4007801));
        assert_eq!(id_from_name(Path::new("/x/4007801")), Some(4007801));
        assert_eq!(id_from_name(Path::new("/x/idr0044.zarr")), None);
        assert_eq!(id_from_name(Path::new("/x/12abc.zarr")), None);
        let paths: Vec<PathBuf> = ["a.zarr", "2.zarr", "b.zarr", "2.ome.zarr"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(number(&paths, 1, &mut BTreeSet::new()), vec![1, 2, 3, 4]);
    }

    #[test]
    fn folders_become_datasets() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "top.zarr",
            "7.zarr",
            "plates/a.zarr",
            "plates/b.zarr",
            "55/c.zarr",
            "empty/x",
        ] {
            fs::create_dir_all(dir.path().join(p)).unwrap();
            if p.ends_with(".zarr") {
                fs::write(dir.path().join(p).join(".zattrs"), "{}").unwrap();
            }
        }
        let cat = Catalogue::open(dir.path()).unwrap();
        // Paths sorted: 55/c, 7, plates/a, plates/b, top -> c=1, 7=7, a=2, b=3, top=4.
        let ids: Vec<u64> = cat.images.keys().copied().collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 7]);
        assert_eq!(cat.datasets[&1].1.len(), 5);
        assert_eq!(cat.datasets[&55].1, vec![1]);
        assert_eq!(cat.datasets[&2].0, "plates");
        assert_eq!(cat.datasets[&2].1, vec![2, 3]);
        assert!(!cat.datasets.contains_key(&3));
    }

    #[test]
    fn the_sample_dataset_images_have_distinct_names() {
        let dir = sample_catalogue().unwrap();
        let cat = Catalogue::open(&dir).unwrap();
        let names: Vec<String> = SAMPLE_DATASET_IMAGES
            .iter()
            .map(|id| cat.image(*id).unwrap().name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "sample nuclei 1001",
                "sample nuclei 1002",
                "sample nuclei 1003"
            ]
        );
    }

    #[test]
    fn the_root_is_kept_tidied() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/1.zarr")).unwrap();
        fs::write(dir.path().join("a/1.zarr/.zattrs"), "{}").unwrap();
        let odd = dir.path().join("a").join("..").join(".").join("a");
        let cat = Catalogue::open(&odd).unwrap();
        assert_eq!(cat.root, dir.path().join("a").canonicalize().unwrap());
        assert!(!cat.host().contains(".."));
    }
}
