//! `omeflow segment` gives the tutorial's dask-image results plane for plane, streams labels to
//! OME-Zarr and measurements to a table.

use std::process::Command;

use omeflow::batch::segment::{run as run_segment, SegmentJob};
use omeflow::ngff::open_image;
use omeflow::store::StoreOptions;

fn dask_reference() -> (tempfile::TempDir, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/dask_tutorial.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .status()
        .expect("python3");
    assert!(status.success(), "the tutorial's dask code failed");
    let counts =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("counts.json")).unwrap())
            .unwrap();
    (dir, counts)
}

#[test]
fn per_plane_counts_and_labels_equal_the_tutorials_dask_code() {
    let (dir, counts) = dask_reference();
    let image = dir.path().join("image.zarr");
    let out = dir.path().join("labels.ome.zarr");
    let table = dir.path().join("objects.csv");
    let task = SegmentJob {
        labels_out: Some(out.to_string_lossy().into_owned()),
        table_out: Some(table.clone()),
        threads: Some(2),
        ..SegmentJob::new(image.to_string_lossy(), 0)
    };
    let mut calls = 0;
    let report = run_segment(&task, &StoreOptions::default(), &mut |_| calls += 1).unwrap();
    assert_eq!(calls, counts.len());
    assert_eq!(report.outcome.plane_count, counts.len());
    assert_eq!(report.outcome.failed, 0);
    for (ours, theirs) in report.outcome.planes.iter().zip(&counts) {
        assert_eq!(
            (ours.t, ours.c, ours.z, ours.objects as u64),
            (
                theirs["t"].as_u64().unwrap() as usize,
                theirs["c"].as_u64().unwrap() as usize,
                theirs["z"].as_u64().unwrap() as usize,
                theirs["objects"].as_u64().unwrap()
            )
        );
    }
    // The streamed label image holds the same objects as dask-image's, plane for plane. dask-image
    // numbers objects chunk by chunk on a multi-chunk plane (scipy numbers them in raster order),
    // so the partition must be equal, up to the numbering.
    let labels = open_image(&out.join("labels/segmentation").to_string_lossy()).unwrap();
    let ours = labels
        .level(0)
        .unwrap()
        .read_all()
        .unwrap()
        .into_typed::<i32>()
        .unwrap();
    let theirs: Vec<i32> = std::fs::read(dir.path().join("labels.bin"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(ours.len(), theirs.len());
    let plane = ours.shape()[3] * ours.shape()[4];
    for (p, (a, b)) in ours
        .as_slice()
        .unwrap()
        .chunks(plane)
        .zip(theirs.chunks(plane))
        .enumerate()
    {
        let mut fwd = std::collections::HashMap::new();
        let mut back = std::collections::HashMap::new();
        for (&x, &y) in a.iter().zip(b) {
            assert_eq!(
                *fwd.entry(x).or_insert(y),
                y,
                "plane {p}: our object {x} splits"
            );
            assert_eq!(
                *back.entry(y).or_insert(x),
                x,
                "plane {p}: dask object {y} splits"
            );
        }
        assert_eq!(
            fwd.get(&0).copied().unwrap_or(0),
            0,
            "plane {p}: background differs"
        );
    }
    let found = open_image(&out.to_string_lossy()).map(|i| i.labels().unwrap_or_default());
    // The labels location need not be an image; its labels group lists the label image.
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("labels/.zattrs")).unwrap())
            .unwrap();
    assert_eq!(
        list["labels"],
        serde_json::json!(["segmentation"]),
        "{found:?}"
    );
    // One table row per object.
    let rows = std::fs::read_to_string(&table).unwrap().lines().count() - 1;
    assert_eq!(rows as u64, report.outcome.total_objects);
    assert_eq!(report.outcome.table_rows, report.outcome.total_objects);
}

#[test]
fn cli_segment_json_reports_every_plane() {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.ome.zarr");
    let bin = env!("CARGO_BIN_EXE_omeflow");
    let ok = Command::new(bin)
        .args(["sample", &sample.to_string_lossy()])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let out = Command::new(bin)
        .args([
            "segment",
            &sample.to_string_lossy(),
            "--level",
            "1",
            "--t",
            "0..2",
            "--z",
            "3..6",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plane_count"], 2 * 2 * 3);
    assert_eq!(v["planes"].as_array().unwrap().len(), 12);
    assert_eq!(v["planes"][0]["t"], 0);
    assert_eq!(v["planes"][0]["z"], 3);
    for key in ["total_objects", "seconds", "planes_per_second"] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    let sum: u64 = v["planes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["objects"].as_u64().unwrap())
        .sum();
    assert_eq!(v["total_objects"].as_u64().unwrap(), sum);

    // Without --json: progress lines (if any: this run ends within the first, quiet second)
    // only on stderr, a summary on stdout.
    let out = Command::new(bin)
        .args(["segment", &sample.to_string_lossy(), "--level", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().all(|l| l.starts_with("segment: ")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("segmented 160 planes"), "{stdout}");
    assert!(!stdout.contains("segment: "), "{stdout}");

    // A range outside the image is a clear error.
    let out = Command::new(bin)
        .args(["segment", &sample.to_string_lossy(), "--z", "5..50"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("z range 5..50 outside 0..10"));
}

#[test]
fn a_corrupt_plane_is_reported_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("s.ome.zarr");
    let spec = omeflow::sample::SampleSpec {
        shape: [1, 1, 4, 64, 64],
        levels: 1,
        ..Default::default()
    };
    omeflow::sample::write_sample(&sample.to_string_lossy(), &spec).unwrap();
    let chunk = sample.join("0/0/0/2/0/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let report = run_segment(
        &SegmentJob::new(sample.to_string_lossy(), 0),
        &StoreOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.outcome.plane_count, 4);
    assert_eq!(report.outcome.failed, 1);
    let bad = report
        .outcome
        .planes
        .iter()
        .find(|p| p.error.is_some())
        .unwrap();
    assert_eq!((bad.t, bad.c, bad.z), (0, 0, 2));
    assert!(
        bad.error.as_deref().unwrap().contains("0/0/0/2/0/0"),
        "{:?}",
        bad.error
    );
}
