//! Hostile `.ilp` files (issue 14): a real project (ilastik's, from ../shared/data) copied into a temporary folder and mutated
//! with hdf5, one case per kind of untrusted size. Each must fail with an error that names the
//! bound, without allocating by the size it declares: many cases declare datasets of terabytes
//! whose chunks were never written, so the file stays tiny and only a read would allocate.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use hdf5_metno as hdf5;

use omeflow::classify::Project;

mod common;

const FOREST: &str = "PixelClassification/ClassifierForests/Forest0000";

/// The real project, or `None` (and one line) when ../shared/data is absent.
fn real() -> Option<PathBuf> {
    common::shared_data("ilastik/pixel-class-133.ilp")
}

/// A writable copy of the real project in `dir`.
fn copy(dir: &Path) -> PathBuf {
    let to = dir.join("hostile.ilp");
    std::fs::copy(real().expect("../shared/data is present"), &to).unwrap();
    let mut perm = std::fs::metadata(&to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&to, perm).unwrap();
    to
}

/// `mutate` run on a fresh copy; returns the error `Project::open` gives.
fn open_mutated(mutate: impl FnOnce(&hdf5::File)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = copy(dir.path());
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        mutate(&f);
    }
    let e = match Project::open(&path) {
        Ok(_) => panic!("a hostile project opened"),
        Err(e) => e.to_string(),
    };
    assert_small_memory();
    e
}

fn set_f64s(f: &hdf5::File, name: &str, v: &[f64]) {
    f.unlink(name).unwrap();
    f.new_dataset_builder()
        .with_data(&ndarray::Array1::from(v.to_vec()))
        .create(name)
        .unwrap();
}

/// Replaces `name` by a dataset of `n` values that declares them without storing any.
fn declare<T: hdf5::H5Type>(f: &hdf5::File, name: &str, n: usize) {
    if f.link_exists(name) {
        f.unlink(name).unwrap();
    }
    f.new_dataset::<T>()
        .chunk(1 << 12)
        .shape(n)
        .create(name)
        .unwrap();
}

/// The process never held more than 2 GB: a case that allocated by its declared size would
/// have needed terabytes (and aborted), or gigabytes (and shown here).
fn assert_small_memory() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(peak_kb < 2_000_000, "peak memory {peak_kb} kB");
}

#[test]
fn the_real_project_still_opens() {
    if real().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = Project::open(copy(dir.path())).unwrap();
    assert_eq!(p.classifier().unwrap().tree_count(), 100);
    assert_eq!(p.annotations.len(), 43);
}

#[test]
fn class_counts_are_bounded_by_the_label_names() {
    if real().is_none() {
        return;
    }
    let e = open_mutated(|f| {
        set_f64s(f, &format!("{FOREST}/_ext_param/class_count_"), &[4e9]);
        // Without labels the old reader made 1..=class_count of them: 16 GB.
        f.unlink(&format!("{FOREST}/_ext_param/labels")).unwrap();
    });
    assert!(
        e.contains("class_count_ is 4000000000")
            && e.contains("from 1 to 2")
            && e.contains("names 2 label classes"),
        "{e}"
    );
    for bad in [-1.0, 2.5, f64::NAN, 0.0] {
        let e = open_mutated(|f| set_f64s(f, &format!("{FOREST}/_ext_param/class_count_"), &[bad]));
        assert!(e.contains("whole number from 1 to 2"), "{bad}: {e}");
    }
    // The label names themselves: a billion declared, none stored.
    let e = open_mutated(|f| {
        declare::<VarLenUnicode>(f, "PixelClassification/LabelNames", 1e9 as usize)
    });
    assert!(e.contains("1000000000 strings, more than the 1024"), "{e}");
}

#[test]
fn tree_counts_must_be_the_trees_present() {
    if real().is_none() {
        return;
    }
    let e = open_mutated(|f| set_f64s(f, &format!("{FOREST}/_options/tree_count_"), &[1e18]));
    assert!(
        e.contains("tree_count_ is 1000000000000000000") && e.contains("from 1 to 10000"),
        "{e}"
    );
    let e = open_mutated(|f| set_f64s(f, &format!("{FOREST}/_options/tree_count_"), &[14.0]));
    assert!(
        e.contains("tree_count_ is 14, the forest holds 13 trees"),
        "{e}"
    );
    // A scalar that declares a terabyte of values.
    let e = open_mutated(|f| declare::<f64>(f, &format!("{FOREST}/_options/tree_count_"), 1 << 40));
    assert!(
        e.contains("declares 1099511627776 values, more than the 1"),
        "{e}"
    );
}

#[test]
fn feature_counts_and_node_arrays_are_bounded() {
    if real().is_none() {
        return;
    }
    let e = open_mutated(|f| set_f64s(f, &format!("{FOREST}/_ext_param/column_count_"), &[1e12]));
    assert!(
        e.contains("column_count_ is 1000000000000") && e.contains("65536"),
        "{e}"
    );
    let topo = format!("{FOREST}/Tree_00/topology");
    let e = open_mutated(|f| declare::<i32>(f, &topo, 1 << 40));
    assert!(
        e.contains("declares 1099511627776 values, more than the 16777216"),
        "{e}"
    );
    // Parameters are bounded by what the topology's nodes can use.
    let e = open_mutated(|f| declare::<f64>(f, &format!("{FOREST}/Tree_00/parameters"), 1 << 30));
    assert!(
        e.contains("Tree_00/parameters declares 1073741824 values, more than the 138"),
        "{e}"
    );
    let e = open_mutated(|f| {
        declare::<VarLenUnicode>(
            f,
            "PixelClassification/ClassifierForests/feature_names",
            1 << 40,
        )
    });
    assert!(e.contains("more than the 65536"), "{e}");
}

/// Rewrites Tree_00's topology with `edit` applied.
fn edit_tree(edit: impl Fn(&mut Vec<i32>)) -> String {
    open_mutated(|f| {
        let name = format!("{FOREST}/Tree_00/topology");
        let mut t: Vec<i32> = f.dataset(&name).unwrap().read_raw().unwrap();
        edit(&mut t);
        f.unlink(&name).unwrap();
        f.new_dataset_builder()
            .with_data(&ndarray::Array1::from(t))
            .create(name.as_str())
            .unwrap();
    })
}

#[test]
fn malformed_trees_are_refused_at_load() {
    if real().is_none() {
        return;
    }
    // The root (at 2) is a split: [0, param, left, right, column].
    let e = edit_tree(|t| t[6] = 9999);
    assert!(
        e.contains("tree 0: split on column 9999 of 122 features"),
        "{e}"
    );
    let e = edit_tree(|t| t[6] = -5);
    assert!(e.contains("negative index -5"), "{e}");
    let e = edit_tree(|t| t[4] = 1 << 30);
    assert!(e.contains("out of range"), "{e}");
    let e = edit_tree(|t| t[4] = 2);
    assert!(e.contains("reached twice"), "{e}");
    let e = edit_tree(|t| t[3] = i32::MAX);
    assert!(e.contains("out of range"), "{e}");
    let e = edit_tree(|t| t[0] = 7);
    assert!(
        e.contains("topology starts with 7 features and 2 classes"),
        "{e}"
    );
    // A topology with no nodes leaves no room for the tree's parameters.
    let e = edit_tree(|t| t.truncate(2));
    assert!(
        e.contains("Tree_00/parameters declares 68 values, more than the 0"),
        "{e}"
    );
}

#[test]
fn scales_are_finite_positive_and_at_most_100() {
    if real().is_none() {
        return;
    }
    for bad in [1e9, 100.5, 0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = open_mutated(|f| {
            set_f64s(
                f,
                "FeatureSelections/Scales",
                &[0.3, 0.7, 1.0, 1.6, 3.5, 5.0, bad],
            )
        });
        assert!(e.contains("is not a number in (0, 100]"), "{bad}: {e}");
    }
    let e = open_mutated(|f| declare::<f64>(f, "FeatureSelections/Scales", 1 << 40));
    assert!(e.contains("more than the 64"), "{e}");
    let e = open_mutated(|f| declare::<bool>(f, "FeatureSelections/ComputeIn2d", 1 << 40));
    assert!(e.contains("more than the 7"), "{e}");
}

/// Replaces block0000 by a block of (t, z, y, x, c) `shape` with a matching blockSlice,
/// declared and never written.
fn huge_block(f: &hdf5::File, shape: [usize; 5]) {
    let name = "PixelClassification/LabelSets/labels000/block0000";
    f.unlink(name).unwrap();
    let ds = f
        .new_dataset::<u8>()
        .chunk([1, 1, 64, 64, 1])
        .shape(shape)
        .create(name)
        .unwrap();
    let slice: Vec<String> = shape.iter().map(|n| format!("0:{n}")).collect();
    let v: VarLenUnicode = format!("[{}]", slice.join(",")).parse().unwrap();
    ds.new_attr::<VarLenUnicode>()
        .create("blockSlice")
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

#[test]
fn label_blocks_are_bounded_by_the_training_image() {
    if real().is_none() {
        return;
    }
    let e = open_mutated(|f| huge_block(f, [1, 100_000, 100_000, 100_000, 1]));
    assert!(
        e.contains("reaches beyond the training image (t, z, y, x, c) [1, 237, 218, 212, 2]"),
        "{e}"
    );
    // Without a recorded training image, the voxel bound.
    let e = open_mutated(|f| {
        f.unlink("Input Data/infos/lane0000/Raw Data/shape")
            .unwrap();
        huge_block(f, [1, 100_000, 100_000, 100_000, 1]);
    });
    assert!(e.contains("a block may hold 67108864"), "{e}");
    // A blockSlice that disagrees with the block, or runs backwards.
    let e = open_mutated(|f| {
        let ds = f
            .dataset("PixelClassification/LabelSets/labels000/block0000")
            .unwrap();
        ds.delete_attr("blockSlice").unwrap();
        let v: VarLenUnicode = "[0:1,39:37,166:180,106:107,0:1]".parse().unwrap();
        ds.new_attr::<VarLenUnicode>()
            .create("blockSlice")
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    });
    assert!(e.contains("malformed blockSlice"), "{e}");
    let e = open_mutated(|f| {
        set_f64s(
            f,
            "Input Data/infos/lane0000/Raw Data/shape",
            &[1.0, 1e30, 218.0, 212.0, 2.0],
        )
    });
    assert!(e.contains("whole number from 0 to 1099511627776"), "{e}");
}

#[test]
fn long_fixed_strings_are_refused() {
    if real().is_none() {
        return;
    }
    let e = open_mutated(|f| {
        f.unlink("workflowName").unwrap();
        let s: hdf5::types::FixedAscii<2048> =
            hdf5::types::FixedAscii::from_ascii(b"Pixel Classification").unwrap();
        f.new_dataset::<hdf5::types::FixedAscii<2048>>()
            .create("workflowName")
            .unwrap()
            .write_scalar(&s)
            .unwrap();
    });
    assert!(
        e.contains("strings of 2048 bytes, more than the 1024"),
        "{e}"
    );
}
