//! Bad input gets a clear error that names the problem, never a panic.

mod common;

use omeflow::ngff::open_image;
use omeflow::Error;

fn err_fixture(key: &str) -> String {
    let m = common::manifest();
    let v = &m["errors"][key];
    let rel = v.as_str().or_else(|| v["path"].as_str()).unwrap();
    common::fixture(rel).to_string_lossy().into_owned()
}

#[test]
fn missing_path_is_not_found() {
    let e = open_image("/no/such/image.zarr").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("/no/such/image.zarr"), "{e}");
}

#[test]
fn an_empty_directory_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_image(&dir.path().to_string_lossy()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[test]
fn a_group_that_is_not_an_image_says_what_it_is() {
    let e = open_image(&err_fixture("not_an_image")).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NotAnImage { .. }), "{msg}");
    assert!(msg.contains("foo") && msg.contains("multiscales"), "{msg}");
}

#[test]
fn a_plate_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".zgroup"), r#"{"zarr_format":2}"#).unwrap();
    std::fs::write(
        dir.path().join(".zattrs"),
        r#"{"plate":{"rows":[],"columns":[]}}"#,
    )
    .unwrap();
    let e = open_image(&dir.path().to_string_lossy()).unwrap_err();
    assert!(e.to_string().contains("plate"), "{e}");
}

#[test]
fn an_unsupported_codec_is_named() {
    let image = open_image(&err_fixture("bad_codec")).unwrap();
    let e = image.level(0).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Unsupported { what: "codec", .. }),
        "{msg}"
    );
    assert!(msg.contains("lzma"), "{msg}");
}

#[test]
fn an_unsupported_dtype_is_named() {
    let image = open_image(&err_fixture("bad_dtype")).unwrap();
    let e = image.level(0).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                what: "data type",
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("<c8") || msg.contains("b1"), "{msg}");
}

#[test]
fn a_corrupt_chunk_is_named() {
    let m = common::manifest();
    let key = m["errors"]["corrupt_chunk"]["chunk_key"]
        .as_str()
        .unwrap()
        .to_string();
    let image = open_image(&err_fixture("corrupt_chunk")).unwrap();
    let px = image.level(0).unwrap();
    let e = px.read_all().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::CorruptChunk { .. }), "{msg}");
    assert!(msg.contains(&key), "{msg} should name {key}");
}

#[test]
fn a_missing_level_is_out_of_bounds() {
    let image = open_image(&common::fixture("v04.zarr").to_string_lossy()).unwrap();
    let e = image.level(17).unwrap_err();
    assert!(e.to_string().contains("levels"), "{e}");
}

#[test]
fn malformed_metadata_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".zattrs"), "{not json").unwrap();
    let e = open_image(&dir.path().to_string_lossy()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::InvalidMetadata { .. }), "{msg}");
    assert!(msg.contains(".zattrs"), "{msg}");
}
