//! Every fixture flavour written by zarr-python / ome-zarr-py is read by omeflow and compared,
//! plane by plane, with numpy's bytes.

mod common;

use omeflow::ngff::{open_image, OmeZarr, Region};
use serde_json::Value;

fn shape5(v: &Value) -> [usize; 5] {
    let a: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    a.try_into().unwrap()
}

/// Compare every plane and the whole level of `image` with the manifest entry `entry`.
pub fn check_image(image: &OmeZarr, entry: &Value) {
    let name = entry["name"].as_str().unwrap();
    assert_eq!(
        image.metadata().version,
        entry["ngff_version"].as_str().unwrap(),
        "{name}: version"
    );
    let levels = entry["levels"].as_array().unwrap();
    assert_eq!(image.level_count(), levels.len(), "{name}: level count");
    let channels: Vec<String> = entry["channels"]
        .as_array()
        .map(|c| c.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let ours: Vec<String> = image
        .metadata()
        .channels
        .iter()
        .map(|c| c.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(ours, channels, "{name}: channels");
    for (l, level) in levels.iter().enumerate() {
        let px = image
            .level(l)
            .unwrap_or_else(|e| panic!("{name} level {l}: {e}"));
        let shape = shape5(&level["shape5"]);
        assert_eq!(px.shape(), shape, "{name} level {l}: shape");
        // For sharded arrays the unit of storage (and of our reads) is the shard.
        let chunks = if level["shards5"].is_null() {
            &level["chunks5"]
        } else {
            &level["shards5"]
        };
        assert_eq!(px.chunks(), shape5(chunks), "{name} level {l}: chunks");
        assert_eq!(
            px.dtype().to_string(),
            omeflow::ngff::DType::parse(entry["dtype"].as_str().unwrap())
                .unwrap()
                .to_string()
        );
        let scale: Vec<f64> = level["scale5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for k in 0..5 {
            assert!(
                (px.scale()[k] - scale[k]).abs() < 1e-9,
                "{name} level {l}: scale {:?} vs {scale:?}",
                px.scale()
            );
        }
        let raw = common::raw(level);
        let esize = px.dtype().size();
        let plane_bytes = shape[3] * shape[4] * esize;
        let [nt, nc, nz, _, _] = shape;
        for t in 0..nt {
            for c in 0..nc {
                for z in 0..nz {
                    let plane = px
                        .plane(t, c, z)
                        .unwrap_or_else(|e| panic!("{name} level {l} plane {t},{c},{z}: {e}"));
                    let i = ((t * nc + c) * nz + z) * plane_bytes;
                    assert!(
                        plane.to_le_bytes() == raw[i..i + plane_bytes],
                        "{name} level {l}: plane t={t} c={c} z={z} differs from numpy"
                    );
                }
            }
        }
        let all = px.read_all().unwrap();
        assert!(
            all.to_le_bytes() == raw,
            "{name} level {l}: whole level differs"
        );
        // An unaligned region crossing chunk borders.
        let r = Region([
            0..nt,
            0..nc,
            0..nz,
            shape[3] / 3..shape[3],
            shape[4] / 4..(shape[4] * 3 / 4).max(shape[4] / 4 + 1),
        ]);
        let region = px.region(&r).unwrap();
        let full = all.to_f64();
        let expect = full.slice(ndarray::s![.., .., .., r.0[3].clone(), r.0[4].clone()]);
        assert_eq!(region.to_f64(), expect, "{name} level {l}: region");
    }
}

#[test]
fn every_fixture_flavour_matches_numpy() {
    let m = common::manifest();
    let images = m["images"].as_array().unwrap();
    assert!(images.len() >= 5, "manifest lists too few images");
    for entry in images {
        let path = common::fixture(entry["path"].as_str().unwrap());
        let image = open_image(&path.to_string_lossy())
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        check_image(&image, entry);
    }
}

#[test]
fn file_url_opens_like_a_path() {
    let path = common::fixture("v04.zarr");
    let url = format!("file://{}", path.display());
    let image = open_image(&url).unwrap();
    check_image(&image, &common::image("v04.zarr"));
}

#[test]
fn typed_and_converted_planes() {
    let image = open_image(&common::fixture("v01_blosc_be.zarr").to_string_lossy()).unwrap();
    let px = image.level(0).unwrap();
    let native = px.plane_as::<u16>(0, 1, 2).unwrap();
    let f = px.plane_f64(0, 1, 2).unwrap();
    let f32p = px.plane_f32(0, 1, 2).unwrap();
    assert_eq!(native.mapv(f64::from), f);
    assert_eq!(native.mapv(f32::from), f32p);
    let e = px.plane_as::<u8>(0, 0, 0).unwrap_err();
    assert!(e.to_string().contains("uint16"), "{e}");
    let e = px.plane(9, 0, 0).unwrap_err();
    assert!(e.to_string().contains("out of bounds"), "{e}");
}

#[test]
fn whole_read_over_budget_suggests_planes() {
    let image = open_image(&common::fixture("v01_blosc_be.zarr").to_string_lossy()).unwrap();
    let px = image.level(0).unwrap().with_memory_budget(20_000);
    let e = px.read_all().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, omeflow::Error::MemoryBudget { .. }), "{msg}");
    assert!(msg.contains("plane by plane"), "{msg}");
    // A plane still fits.
    assert!(px.plane(0, 0, 0).is_ok());
}
