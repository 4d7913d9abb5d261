//! The sample's own ilastik project (`classify::sample_project`), which the classification
//! notebook uses on a fresh clone: written in ilastik's layout, its forests load in vigra
//! (Debian's python3-vigra, run by `tests/peers/vigra_reference.py`) and predict there what they
//! predict in omeflow, and it finds the sample's nuclei.

use std::path::Path;
use std::process::Command;

use omeflow::classify::{classify, compute_features, sample_project, Project};
use omeflow::ngff::open_image;

fn vigra_python() -> String {
    std::env::var("OMEFLOW_VIGRA_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// The sample project (its path and itself) and level 0 of image `id` of the sample's dataset 2.
fn project_and_image(id: u64) -> (std::path::PathBuf, Project, omeflow::ngff::Pixels) {
    let path = sample_project().unwrap();
    let project = Project::open(&path).unwrap();
    let image = path.parent().unwrap().join(format!("embryos/{id}.zarr"));
    let pixels = open_image(image.to_str().unwrap())
        .unwrap()
        .level(0)
        .unwrap();
    (path, project, pixels)
}

#[test]
fn the_sample_project_loads_in_vigra_and_predicts_the_same() {
    let (path, project, pixels) = project_and_image(1001);
    let vol = pixels
        .read_all()
        .unwrap()
        .to_f32()
        .index_axis_move(ndarray::Axis(0), 0);
    let feats = compute_features(&vol, &project.features, Some(2)).unwrap();
    let nf = feats.dim().3;
    // Every 13th voxel: enough rows to compare, a small file for vigra.
    let rows: Vec<f32> = feats
        .as_slice()
        .unwrap()
        .chunks_exact(nf)
        .step_by(13)
        .flatten()
        .copied()
        .collect();
    let x = ndarray::Array2::from_shape_vec((rows.len() / nf, nf), rows).unwrap();
    let ours = project.classifier().unwrap().predict(x.view()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let fin = dir.path().join("features.bin");
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&fin, bytes).unwrap();
    let fout = dir.path().join("vigra.bin");
    let run = Command::new(vigra_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/vigra_reference.py"))
        .arg("--predict")
        .arg(&path)
        .arg(&fin)
        .arg(nf.to_string())
        .arg(&fout)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", vigra_python()));
    assert!(
        run.status.success(),
        "vigra could not load the sample project's forests (apt-get install python3-vigra \
         python3-h5py):\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: Vec<f32> = std::fs::read(&fout)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(theirs.len(), ours.len());
    let d = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        d <= 1e-6,
        "vigra predicts the sample project differently: {d}"
    );
}

#[test]
fn the_sample_project_finds_nuclei_on_the_other_images() {
    let (_, project, pixels) = project_and_image(1002);
    let p = classify(&pixels, &project).unwrap();
    let n = p.data.len() / 2;
    let nuclei = p
        .data
        .as_slice()
        .unwrap()
        .chunks_exact(2)
        .filter(|v| v[0] > 0.5)
        .count();
    let share = nuclei as f64 / n as f64;
    // Nuclei fill a part of the volume, never none of it and never all of it.
    assert!(
        (0.01..0.6).contains(&share),
        "nuclei in {share:.3} of the voxels"
    );
}
