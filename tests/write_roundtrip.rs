//! What omeflow writes, ome-zarr-py and zarr-python read back identically; and omeflow reads
//! it back too.

mod common;

use std::process::Command;

use ndarray::Array2;
use omeflow::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
use omeflow::ngff::{open_image, Channel, DType};
use omeflow::sample::{write_sample, SampleSpec};

fn peer_report(image: &std::path::Path, out: &std::path::Path) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/read_omezarr.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(image)
        .arg(out)
        .status()
        .expect("python3");
    assert!(
        status.success(),
        "peer reader failed on {}",
        image.display()
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn pseudo_random_plane(seed: u64, h: usize, w: usize) -> Array2<u16> {
    Array2::from_shape_fn((h, w), |(y, x)| {
        let v = (seed ^ (y as u64 * 7919 + x as u64 * 104_729)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (v >> 48) as u16
    })
}

fn roundtrip(version: NgffVersion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.ome.zarr");
    let shape = [2, 2, 3, 70, 45];
    let spec = ImageSpec::new(shape, DType::U16)
        .with_version(version)
        .with_levels(3)
        .with_chunks(32, 32)
        .with_scale([1.0, 1.0, 2.0, 0.5, 0.5], Some("micrometer"), None)
        .with_name("roundtrip")
        .with_channels(vec![
            Channel {
                name: Some("A".into()),
                color: Some("FF0000".into()),
                window: None,
                active: Some(true),
            },
            Channel {
                name: Some("B".into()),
                color: Some("00FF00".into()),
                window: None,
                active: Some(true),
            },
        ]);
    let w = ImageWriter::create(&path.to_string_lossy(), spec).unwrap();
    let labels = w.create_labels("nuclei").unwrap();
    let mut planes = Vec::new();
    for t in 0..2 {
        for c in 0..2 {
            for z in 0..3 {
                let p = pseudo_random_plane((t * 100 + c * 10 + z) as u64, 70, 45);
                w.write_plane(t, c, z, &p).unwrap();
                let l = p.mapv(|v| (v / 8192) as i32);
                labels.write_plane(t, c, z, &l).unwrap();
                planes.push(p);
            }
        }
    }
    let out = dir.path().join("peer");
    let report = peer_report(&path, &out);
    let expected_version = match version {
        NgffVersion::V0_4 => "0.4",
        NgffVersion::V0_5 => "0.5",
    };
    assert_eq!(report["ome_version"], expected_version);
    assert_eq!(report["labels"], serde_json::json!(["nuclei"]));
    assert!(report["image_label"]["nuclei"].is_object(), "{report}");
    let nodes = report["nodes"].as_array().unwrap();
    let img = nodes
        .iter()
        .find(|n| n["is_label"] == false)
        .expect("image node");
    assert_eq!(
        img["levels"],
        serde_json::json!([[2, 2, 3, 70, 45], [2, 2, 3, 35, 22], [2, 2, 3, 17, 11]])
    );
    assert_eq!(img["dtype"], "uint16");
    assert_eq!(img["channel_names"], serde_json::json!(["A", "B"]));
    let lab = nodes
        .iter()
        .find(|n| n["is_label"] == true)
        .expect("ome-zarr-py finds the label image");
    assert_eq!(lab["dtype"], "int32");

    // Level 0 through zarr-python equals what we wrote; every level equals what omeflow reads.
    let level0: Vec<u8> = planes
        .iter()
        .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    assert!(std::fs::read(out.join("image_0.bin")).unwrap() == level0);
    let ours = open_image(&path.to_string_lossy()).unwrap();
    assert_eq!(ours.metadata().version, expected_version);
    assert_eq!(ours.labels().unwrap(), vec!["nuclei".to_string()]);
    for l in 0..3 {
        let px = ours.level(l).unwrap();
        assert_eq!(px.scale()[3], 0.5 * (1 << l) as f64);
        let bytes = px.read_all().unwrap().to_le_bytes();
        assert!(
            std::fs::read(out.join(format!("image_{l}.bin"))).unwrap() == bytes,
            "level {l}"
        );
        let lab = ours.label_image("nuclei").unwrap().level(l).unwrap();
        assert_eq!(lab.dtype(), DType::I32);
        let lbytes = lab.read_all().unwrap().to_le_bytes();
        assert!(
            std::fs::read(out.join(format!("label_nuclei_{l}.bin"))).unwrap() == lbytes,
            "label level {l}"
        );
    }
}

#[test]
fn ngff_04_on_zarr_v2_reads_back_in_python() {
    roundtrip(NgffVersion::V0_4);
}

#[test]
fn ngff_05_on_zarr_v3_reads_back_in_python() {
    roundtrip(NgffVersion::V0_5);
}

#[test]
fn the_sample_is_deterministic_and_readable_by_peers() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ome.zarr");
    let b = dir.path().join("b.ome.zarr");
    let spec = SampleSpec::default();
    write_sample(&a.to_string_lossy(), &spec).unwrap();
    write_sample(&b.to_string_lossy(), &spec).unwrap();
    let ia = open_image(&a.to_string_lossy()).unwrap();
    let ib = open_image(&b.to_string_lossy()).unwrap();
    assert_eq!(ia.level_count(), 3);
    let pa = ia.level(0).unwrap();
    assert_eq!(pa.shape(), [8, 2, 10, 256, 256]);
    assert_eq!(pa.dtype(), DType::U16);
    assert_eq!(ia.metadata().channels.len(), 2);
    let da = pa.read_all().unwrap();
    assert_eq!(da, ib.level(0).unwrap().read_all().unwrap());
    // Nuclei-like: bright objects on a dim background.
    let max = da.max_f64().unwrap();
    assert!(max > 1000.0, "max {max}");
    let out = dir.path().join("peer");
    let report = peer_report(&a, &out);
    assert_eq!(
        report["nodes"][0]["channel_names"],
        serde_json::json!(["H2B", "LaminB1"])
    );
    assert!(std::fs::read(out.join("image_0.bin")).unwrap() == da.to_le_bytes());
}

#[test]
fn writing_over_an_image_is_refused_and_replace_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.ome.zarr");
    let loc = p.to_string_lossy().into_owned();
    let small = |v| SampleSpec {
        shape: [1, 1, 2, 32, 32],
        levels: 2,
        version: v,
        ..SampleSpec::default()
    };
    write_sample(&loc, &small(NgffVersion::V0_5)).unwrap();
    assert_eq!(open_image(&loc).unwrap().metadata().version, "0.5");
    // Re-running the sample with another version replaces it: no stale zarr.json left behind.
    write_sample(&loc, &small(NgffVersion::V0_4)).unwrap();
    let image = open_image(&loc).unwrap();
    assert_eq!(image.metadata().version, "0.4");
    assert!(!p.join("zarr.json").exists());
    let e = ImageWriter::create(&loc, ImageSpec::new([1, 1, 1, 4, 4], DType::U8)).unwrap_err();
    assert!(e.to_string().contains("already there"), "{e}");

    // A folder with other files is never deleted.
    let other = dir.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "keep me").unwrap();
    let e = ImageWriter::replace(
        &other.to_string_lossy(),
        ImageSpec::new([1, 1, 1, 4, 4], DType::U8),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a Zarr image"), "{e}");
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "keep me"
    );
}
