//! omeflow's ilastik pixel classification equals vigra's (Debian's python3-vigra, run by
//! `tests/peers/vigra_reference.py` with /usr/bin/python3): every feature channel of
//! pixel-class-133.ilp's selection on a real 2-D image and a real 3-D stack, and the
//! probabilities of the project's eight forests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ndarray::{Array2, Array4, Array5, ArrayView2};
use omeflow::classify::{
    classify, classify_with, compute_features, compute_features_with, ClassifyOptions, FeatureId,
    Project,
};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

mod common;

fn shared(rel: &str) -> PathBuf {
    common::shared_data(rel).unwrap_or_else(|| panic!("../shared/data/{rel} is absent"))
}

fn ilp() -> PathBuf {
    shared("ilastik/pixel-class-133.ilp")
}

fn ilp14() -> PathBuf {
    shared("ilastik/ilastik14-Nov-2024.ilp")
}

/// Every test here compares with the real projects and images of ../shared/data: without them
/// the test returns at once (one line on stderr says so).
fn absent() -> bool {
    [
        "ilastik/pixel-class-133.ilp",
        "ilastik/ilastik14-Nov-2024.ilp",
        "images",
    ]
    .iter()
    .any(|rel| common::shared_data(rel).is_none())
}

/// The interpreter with vigra: Debian's, not a pyenv `python3` earlier on PATH.
fn vigra_python() -> String {
    std::env::var("OMEFLOW_VIGRA_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

struct Refs {
    dir: tempfile::TempDir,
    cases: Vec<Value>,
}

fn refs() -> &'static Refs {
    static REFS: OnceLock<Refs> = OnceLock::new();
    REFS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(vigra_python())
            .arg(Path::new(ROOT).join("tests/peers/vigra_reference.py"))
            .arg(ilp())
            .arg(shared("images"))
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", vigra_python()));
        assert!(
            out.status.success(),
            "vigra reference failed (apt-get install python3-vigra python3-h5py):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("cases.json")).unwrap())
                .unwrap();
        Refs { dir, cases }
    })
}

fn read_f32(name: &str) -> Vec<f32> {
    std::fs::read(refs().dir.path().join(name))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn case(name: &str) -> &'static Value {
    refs()
        .cases
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn shape(c: &Value) -> Vec<usize> {
    c["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// The case's input as (c, z, y, x).
fn input(c: &Value) -> Array4<f32> {
    input_from(c, &read_f32)
}

fn input_from(c: &Value, read: &dyn Fn(&str) -> Vec<f32>) -> Array4<f32> {
    let sh = shape(c);
    let v = read(c["input"].as_str().unwrap());
    let (z, y, x, ch) = if sh.len() == 3 {
        (1, sh[0], sh[1], sh[2])
    } else {
        (sh[0], sh[1], sh[2], sh[3])
    };
    Array4::from_shape_vec((z, y, x, ch), v)
        .unwrap()
        .permuted_axes([3, 0, 1, 2])
        .as_standard_layout()
        .into_owned()
}

/// Per channel: max |ours - vigra| relative to the channel's largest magnitude.
fn compare_features(name: &str) {
    let project = Project::open(ilp()).unwrap();
    compare_features_of(case(name), refs().dir.path(), &project);
}

fn compare_features_of(c: &Value, dir: &Path, project: &Project) {
    let name = c["name"].as_str().unwrap();
    let read = |f: &str| -> Vec<f32> {
        std::fs::read(dir.join(f))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let vol = input_from(c, &read);
    let ours = compute_features(&vol, &project.features, None).unwrap();
    let nf = c["n_features"].as_u64().unwrap() as usize;
    assert_eq!(ours.dim().3, nf, "feature count");
    let theirs = read(c["features"].as_str().unwrap());
    let ours = ours.as_slice().unwrap();
    assert_eq!(ours.len(), theirs.len());
    let is_3d = vol.dim().1 > 1;
    let names = project.features.names(vol.dim().0, is_3d);
    let mut worst = (0.0f64, String::new());
    let mut failures = Vec::new();
    for (f, fname) in names.iter().enumerate().take(nf) {
        let mut scale = 0f64;
        let mut err = 0f64;
        let mut elem = 0f64;
        for (a, b) in ours
            .iter()
            .skip(f)
            .step_by(nf)
            .zip(theirs.iter().skip(f).step_by(nf))
        {
            scale = scale.max(b.abs() as f64);
            err = err.max((a - b).abs() as f64);
        }
        // Element-wise too, wherever the value is not tiny next to the channel's range.
        for (a, b) in ours
            .iter()
            .skip(f)
            .step_by(nf)
            .zip(theirs.iter().skip(f).step_by(nf))
        {
            let floor = 1e-2 * scale;
            elem = elem.max((a - b).abs() as f64 / (b.abs() as f64).max(floor).max(1e-30));
        }
        let rel = err / scale.max(1e-30);
        if rel > worst.0 {
            worst = (rel, fname.clone());
        }
        if rel > 1e-4 || elem > 1e-3 {
            failures.push(format!(
                "{f} {fname}: max err {err:.3e} of range {scale:.3e} (rel {rel:.2e}, element-wise {elem:.2e})"
            ));
        }
    }
    eprintln!("{name}: worst channel {} rel {:.2e}", worst.1, worst.0);
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn features_2d_equal_vigra() {
    if absent() {
        return;
    }
    compare_features("examplehuman_2d");
    // Tiles in y and x (with their halos) give the same features as the whole plane.
    let project = Project::open(ilp()).unwrap();
    let vol = input(case("examplehuman_2d"));
    let whole = compute_features(&vol, &project.features, Some(2)).unwrap();
    let options = ClassifyOptions {
        threads: Some(2),
        block_voxels: 2000,
    };
    let tiled = compute_features_with(&vol, &project.features, &options).unwrap();
    assert!(whole == tiled, "tiling changed the features");
}

#[test]
fn features_3d_equal_vigra() {
    if absent() {
        return;
    }
    compare_features("migration_3d");
}

fn max_diff(a: ArrayView2<f32>, b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn forests_predict_as_vigra() {
    if absent() {
        return;
    }
    let c = case("migration_3d");
    let project = Project::open(ilp()).unwrap();
    let classifier = project.classifier().unwrap();
    let nf = c["n_features"].as_u64().unwrap() as usize;
    let feats = Array2::from_shape_vec(
        (read_f32(c["features"].as_str().unwrap()).len() / nf, nf),
        read_f32(c["features"].as_str().unwrap()),
    )
    .unwrap();
    for (k, (forest, file)) in classifier
        .forests
        .iter()
        .zip(c["forests"].as_array().unwrap())
        .enumerate()
    {
        let ours = forest.predict(feats.view()).unwrap();
        let theirs = read_f32(file.as_str().unwrap());
        let d = max_diff(ours.view(), &theirs);
        assert!(d <= 1e-6, "forest {k}: max diff {d}");
    }
    let ours = classifier.predict(feats.view()).unwrap();
    let theirs = read_f32(c["probabilities"].as_str().unwrap());
    let d = max_diff(ours.view(), &theirs);
    assert!(d <= 1e-6, "ensemble: max diff {d}");
    // The column-wise path that classify uses.
    let cols: Vec<Vec<f32>> = (0..nf).map(|f| feats.column(f).to_vec()).collect();
    let mut out = vec![0f32; feats.nrows() * 2];
    classifier.predict_columns(&cols, &mut out).unwrap();
    assert!(max_diff(ours.view(), &out) == 0.0);
}

#[test]
fn classify_end_to_end_equals_vigra() {
    if absent() {
        return;
    }
    let c = case("migration_3d");
    let project = Project::open(ilp()).unwrap();
    let vol = input(c);
    let (nc, nz, ny, nx) = vol.dim();
    let image: Array5<f32> = vol.insert_axis(ndarray::Axis(0));
    // Small blocks so block borders, halos and the image border all take part.
    let options = ClassifyOptions {
        threads: Some(2),
        block_voxels: 20_000,
    };
    let probs = classify_with(&image, &project, &options).unwrap();
    assert_eq!(probs.shape(), [1, nz, ny, nx, 2]);
    let whole = classify(&image, &project).unwrap();
    assert_eq!(probs.data, whole.data, "block size changes nothing");
    let theirs = read_f32(c["probabilities"].as_str().unwrap());
    let ours = probs.data.as_slice().unwrap();
    let diffs: Vec<f32> = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let over = diffs.iter().filter(|&&d| d > 1e-5).count();
    let max = diffs.iter().cloned().fold(0.0, f32::max);
    eprintln!(
        "end to end: {over} of {} values differ by more than 1e-5 (max {max:.3e}); {nc} channels",
        diffs.len()
    );
    // The features equal vigra's bit for bit (or within an ulp), so no sample crosses a split
    // threshold differently: every probability is within 1e-5.
    assert_eq!(
        over, 0,
        "{over} values differ by more than 1e-5 (max {max})"
    );
}

#[test]
fn reads_both_projects() {
    if absent() {
        return;
    }
    let p = Project::open(ilp()).unwrap();
    assert_eq!(p.ilastik_version, "1.3.3post2");
    assert_eq!(p.features.ids, FeatureId::ALL.to_vec());
    assert_eq!(p.features.scales, vec![0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0]);
    assert_eq!(p.features.n_features(2, true), 122);
    assert_eq!(p.features.names(2, true), p.feature_names);
    assert_eq!(p.labels.len(), 2);
    assert_eq!(p.labels[0].name, "Label 1");
    assert_eq!(p.labels[0].color, [255, 225, 25]);
    assert_eq!(p.labels[1].color, [0, 130, 200]);
    assert_eq!(p.training_shape, Some([1, 237, 218, 212, 2]));
    assert!(p.annotations.len() > 10);
    let b0 = &p.annotations[0];
    assert_eq!(b0.start, [0, 37, 166, 106, 0]);
    assert_eq!(b0.data.dim(), (1, 2, 14, 1, 1));
    assert!(p.annotations.iter().all(|b| b.data.iter().all(|&v| v <= 2)));
    let cls = p.classifier().unwrap();
    assert_eq!(cls.forests.len(), 8);
    let counts: Vec<usize> = cls.forests.iter().map(|f| f.tree_count()).collect();
    assert_eq!(counts, vec![13, 13, 13, 13, 12, 12, 12, 12]);
    assert_eq!(cls.n_features(), 122);

    let shown = p.to_string();
    assert!(
        shown.contains("1.3.3post2") && shown.contains("8 forests, 100 trees"),
        "{shown}"
    );

    let q = Project::open(ilp14()).unwrap();
    assert!(q.ilastik_version.starts_with("1.4"));
    assert_eq!(q.features.n_features(2, true), 26);
    assert_eq!(q.classifier().unwrap().n_features(), 26);
    assert_eq!(q.features.names(2, true).len(), q.feature_names.len());
}

#[test]
fn clear_errors_for_other_files() {
    if absent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let not_hdf5 = dir.path().join("x.ilp");
    std::fs::write(&not_hdf5, b"not hdf5").unwrap();
    let e = Project::open(&not_hdf5).unwrap_err().to_string();
    assert!(e.contains("x.ilp") && e.contains("HDF5"), "{e}");
    let e = Project::open(dir.path().join("missing.ilp"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such file"), "{e}");

    use hdf5_metno as hdf5;
    let other = dir.path().join("objects.ilp");
    {
        let f = hdf5::File::create(&other).unwrap();
        let s: hdf5::types::VarLenUnicode = "Object Classification".parse().unwrap();
        f.new_dataset::<hdf5::types::VarLenUnicode>()
            .create("workflowName")
            .unwrap()
            .write_scalar(&s)
            .unwrap();
    }
    let e = Project::open(&other).unwrap_err().to_string();
    assert!(e.contains("Object Classification"), "{e}");
    let old = dir.path().join("old.ilp");
    {
        let f = hdf5::File::create(&old).unwrap();
        for (k, v) in [
            ("workflowName", "Pixel Classification"),
            ("ilastikVersion", "1.1.9"),
        ] {
            let s: hdf5::types::VarLenUnicode = v.parse().unwrap();
            f.new_dataset::<hdf5::types::VarLenUnicode>()
                .create(k)
                .unwrap()
                .write_scalar(&s)
                .unwrap();
        }
    }
    let e = Project::open(&old).unwrap_err().to_string();
    assert!(e.contains("1.1.9"), "{e}");
}

#[test]
fn a_2d_image_for_a_3d_project_is_an_error() {
    if absent() {
        return;
    }
    let project = Project::open(ilp()).unwrap();
    let image = Array5::<u8>::zeros((1, 2, 1, 64, 64));
    let e = classify(&image, &project).unwrap_err().to_string();
    assert!(e.contains("122"), "{e}");
    let tiny = Array5::<u8>::zeros((1, 2, 20, 64, 64));
    let e = classify(&tiny, &project).unwrap_err().to_string();
    assert!(e.contains("too small"), "{e}");
}

#[test]
fn cli_writes_probabilities_as_ome_zarr_and_pngs() {
    if absent() {
        return;
    }
    use omeflow::ngff::writer::{ImageSpec, ImageWriter};
    use omeflow::ngff::DType;
    let c = case("migration_3d");
    let vol = input(c);
    let (nc, nz, ny, nx) = vol.dim();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.ome.zarr");
    let w = ImageWriter::create(
        src.to_str().unwrap(),
        ImageSpec::new([1, nc, nz, ny, nx], DType::U16),
    )
    .unwrap();
    for ch in 0..nc {
        for z in 0..nz {
            // The reference input holds uint16 values read as float32.
            let plane = vol.slice(ndarray::s![ch, z, .., ..]).mapv(|v| v as u16);
            w.write_plane(0, ch, z, &plane).unwrap();
        }
    }
    // A time point over the reader's memory budget is read plane by plane, not refused.
    {
        use omeflow::classify::ClassifyInput;
        let px = omeflow::ngff::open_image(src.to_str().unwrap())
            .unwrap()
            .level(0)
            .unwrap();
        let whole = px.timepoint(0).unwrap();
        assert_eq!(whole, vol);
        assert_eq!(px.with_memory_budget(20_000).timepoint(0).unwrap(), whole);
    }
    let out = dir.path().join("probs.ome.zarr");
    let pngs = dir.path().join("png");
    let run = Command::new(env!("CARGO_BIN_EXE_omeflow"))
        .args(["classify", "--project"])
        .arg(ilp())
        .arg(&src)
        .arg("--out")
        .arg(&out)
        .arg("--png")
        .arg(&pngs)
        .args(["--png-z", "3", "--json", "--threads", "2"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["shape"], serde_json::json!([1, nz, ny, nx]));
    assert_eq!(report["features"], 122);
    assert_eq!(report["trees"], 100);
    assert_eq!(report["classes"], serde_json::json!(["Label 1", "Label 2"]));
    assert_eq!(report["pngs"].as_array().unwrap().len(), 2);
    assert!(pngs.join("t0_z3_class2.png").exists());

    let img = omeflow::ngff::open_image(out.to_str().unwrap()).unwrap();
    let px = img.level(0).unwrap();
    assert_eq!(px.shape(), [1, 2, nz, ny, nx]);
    assert_eq!(px.dtype(), DType::F32);
    let theirs = read_f32(c["probabilities"].as_str().unwrap());
    let mut max = 0f32;
    for k in 0..2 {
        for z in 0..nz {
            let p = px.plane_f32(0, k, z).unwrap();
            for ((y, x), v) in p.indexed_iter() {
                let r = theirs[((z * ny + y) * nx + x) * 2 + k];
                max = max.max((v - r).abs());
            }
        }
    }
    assert!(max <= 1e-5, "max diff {max}");
}

#[test]
fn a_forest_trained_on_annotations_reproduces_the_project() {
    if absent() {
        return;
    }
    use omeflow::classify::{LabelBlock, TrainOptions};
    let c = case("migration_3d");
    let vol = input(c);
    let (_, nz, ny, nx) = vol.dim();
    let image: Array5<f32> = vol.insert_axis(ndarray::Axis(0));
    let theirs = read_f32(c["probabilities"].as_str().unwrap());
    let class_of = |i: usize| {
        if theirs[2 * i + 1] > theirs[2 * i] {
            2u8
        } else {
            1u8
        }
    };
    // Sparse annotations: every 11th voxel, labelled with the project's own answer.
    let labels = ndarray::Array5::from_shape_fn((1, nz, ny, nx, 1), |(_, z, y, x, _)| {
        let i = (z * ny + y) * nx + x;
        if i % 11 == 0 {
            class_of(i)
        } else {
            0
        }
    });
    let mut project = Project::open(ilp()).unwrap();
    project.annotations = vec![LabelBlock {
        start: [0; 5],
        data: labels,
    }];
    let small = Array5::<f32>::zeros((1, 2, 5, 5, 5));
    let e = project.train(&small, &TrainOptions::default()).unwrap_err();
    assert!(e.to_string().contains("another image"), "{e}");

    let options = TrainOptions {
        trees: 30,
        seed: 7,
        threads: Some(2),
        ..TrainOptions::default()
    };
    project.train(&image, &options).unwrap();
    let cls = project.classifier().unwrap();
    assert_eq!((cls.tree_count(), cls.n_features()), (30, 122));
    let probs = classify(&image, &project).unwrap();
    let ours = probs.data.as_slice().unwrap();
    let n = nz * ny * nx;
    let agree = (0..n)
        .filter(|&i| (ours[2 * i + 1] > ours[2 * i]) == (class_of(i) == 2))
        .count();
    eprintln!("trained forest agrees with the project on {agree} of {n} voxels");
    assert!(agree as f64 > 0.9 * n as f64, "{agree} of {n}");
}

#[test]
fn saved_projects_reopen_and_their_forests_load_in_vigra() {
    if absent() {
        return;
    }
    use omeflow::classify::{Classifier, TrainOptions};
    let c = case("migration_3d");
    let nf = c["n_features"].as_u64().unwrap() as usize;
    let raw = read_f32(c["features"].as_str().unwrap());
    let feats = Array2::from_shape_vec((raw.len() / nf, nf), raw).unwrap();
    let theirs = read_f32(c["probabilities"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();

    // The real project, saved and opened again: same selection, classes, annotations, forests.
    let p = Project::open(ilp()).unwrap();
    let saved = dir.path().join("copy.ilp");
    p.save(&saved).unwrap();
    assert!(p.save(&saved).is_err(), "never overwrites");
    let q = Project::open(&saved).unwrap();
    assert_eq!(q.features, p.features);
    assert_eq!(q.labels, p.labels);
    assert_eq!(q.annotations.len(), p.annotations.len());
    assert_eq!(q.annotations[5].data, p.annotations[5].data);
    assert_eq!(q.annotations[5].start, p.annotations[5].start);
    assert_eq!(q.training_shape, p.training_shape);
    let a = p.classifier().unwrap().predict(feats.view()).unwrap();
    let b = q.classifier().unwrap().predict(feats.view()).unwrap();
    let d = a
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(d <= 1e-6, "reopened project predicts differently: {d}");

    // A forest trained by omeflow, saved, predicted by vigra from the file.
    let rows: Vec<usize> = (0..feats.nrows()).step_by(37).collect();
    let x = feats.select(ndarray::Axis(0), &rows);
    let y: Vec<u32> = rows
        .iter()
        .map(|&i| {
            if theirs[2 * i + 1] > theirs[2 * i] {
                2
            } else {
                1
            }
        })
        .collect();
    let options = TrainOptions {
        trees: 12,
        threads: Some(2),
        ..TrainOptions::default()
    };
    let mut mine = p.clone();
    mine.set_classifier(Classifier::train(x.view(), &y, 2, &options).unwrap());
    mine.annotations.clear();
    let trained = dir.path().join("trained.ilp");
    mine.save(&trained).unwrap();
    let ours = mine.classifier().unwrap().predict(feats.view()).unwrap();
    let fin = dir.path().join("features.bin");
    std::fs::write(
        &fin,
        feats
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let fout = dir.path().join("vigra.bin");
    let run = Command::new(vigra_python())
        .arg(Path::new(ROOT).join("tests/peers/vigra_reference.py"))
        .arg("--predict")
        .arg(&trained)
        .arg(&fin)
        .arg(nf.to_string())
        .arg(&fout)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let vig: Vec<f32> = std::fs::read(&fout)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let d = max_diff(ours.view(), &vig);
    assert!(
        d <= 1e-6,
        "vigra predicts our saved forest differently: {d}"
    );
}

#[test]
fn features_computed_in_2d_per_slice_equal_vigra() {
    if absent() {
        return;
    }
    // Some scales filtered per z-slice (ilastik's ComputeIn2d), written as a project of our own
    // and given to the vigra reference like any project.
    let mut p = Project::open(ilp()).unwrap();
    let sel = &mut p.features;
    for row in sel.matrix.iter_mut() {
        row.iter_mut().for_each(|b| *b = false);
    }
    sel.matrix[0][2] = true; // GS 1.0, 2-D
    sel.matrix[1][1] = true; // LoG 0.7, 2-D
    sel.matrix[4][3] = true; // STE 1.6, 2-D
    sel.matrix[5][4] = true; // HoGE 3.5, 3-D
    sel.matrix[2][3] = true; // GGM 1.6, 2-D
    sel.in_2d = vec![false, true, true, true, false, false, false];
    assert!(p.remove_classifier().is_some());
    p.annotations.clear();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in2d.ilp");
    p.save(&path).unwrap();
    let out = Command::new(vigra_python())
        .arg(Path::new(ROOT).join("tests/peers/vigra_reference.py"))
        .arg(&path)
        .arg(shared("images"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cases.json")).unwrap())
            .unwrap();
    let c = cases.iter().find(|c| c["name"] == "migration_3d").unwrap();
    // 2 channels x (GS + LoG + GGM + 2 STE eigenvalues in 2-D + 3 HoGE eigenvalues in 3-D).
    assert_eq!(c["n_features"], 2 * (1 + 1 + 1 + 2 + 3));
    let reopened = Project::open(&path).unwrap();
    compare_features_of(c, dir.path(), &reopened);
}
