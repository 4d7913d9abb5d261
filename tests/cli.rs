//! The `omeflow` binary: `sample` and `info`, as README shows them.

use std::process::Command;

fn omeflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_omeflow"))
        .args(args)
        .output()
        .expect("run omeflow")
}

#[test]
fn sample_then_info_json_follows_the_documented_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.ome.zarr");
    let p = path.to_string_lossy();
    let out = omeflow(&["sample", &p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shape [8, 2, 10, 256, 256]"), "{text}");

    let out = omeflow(&["info", &p, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "location",
        "ngff_version",
        "zarr_format",
        "name",
        "axes",
        "units",
        "levels",
        "channels",
        "labels",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["ngff_version"], "0.4");
    assert_eq!(v["zarr_format"], 2);
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    assert_eq!(levels[2]["shape"], serde_json::json!([8, 2, 10, 64, 64]));
    assert_eq!(levels[0]["chunks"], serde_json::json!([1, 1, 1, 256, 256]));
    assert_eq!(levels[0]["dtype"], "u16");
    assert_eq!(levels[0]["bytes"], 8 * 2 * 10 * 256 * 256 * 2);
    assert_eq!(
        levels[1]["scale"],
        serde_json::json!([1.0, 1.0, 2.0, 0.8, 0.8])
    );
    assert_eq!(v["channels"][0]["name"], "H2B");
    assert_eq!(v["axes"][0]["name"], "t");
}

#[test]
fn sample_in_ngff_05() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s5.ome.zarr");
    let out = omeflow(&["sample", &p.to_string_lossy(), "--ngff", "0.5", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ngff_version"], "0.5");
    assert_eq!(v["zarr_format"], 3);
}

#[test]
fn info_on_a_missing_image_fails_cleanly() {
    let out = omeflow(&["info", "/no/such/image.zarr"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: no OME-Zarr image at /no/such/image.zarr"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
