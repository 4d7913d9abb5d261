//! omeflow's ndimage equals scipy.ndimage bit for bit: smoothed images and label images, on
//! real microscopy images and on random arrays of every dtype, mode and sigma.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use omeflow::ndimage::{
    above, gaussian_filter_with, label, BorderMode, Connectivity, GaussianOptions,
};
use omeflow::ngff::{DType, Element};
use serde_json::Value;

mod common;

/// The scipy references of the real images in ../shared/data/images, or `None` (and one line)
/// when they are absent.
fn references() -> Option<(tempfile::TempDir, Vec<Value>)> {
    let images = common::shared_data("images")?;
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/scipy_reference.py"
    );
    let status = Command::new("python3")
        .arg(script)
        .arg(images)
        .arg(dir.path())
        .status()
        .expect("python3");
    assert!(status.success(), "scipy reference script failed");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("cases.json")).unwrap())
            .unwrap();
    Some((dir, cases))
}

fn read_array<T: Element>(path: &Path, shape: &[usize]) -> ArrayD<T> {
    let bytes = std::fs::read(path).unwrap();
    let size = std::mem::size_of::<T>();
    let v: Vec<T> = bytes
        .chunks_exact(size)
        .map(|c| {
            let mut buf = [0u8; 8];
            buf[..size].copy_from_slice(c);
            from_le::<T>(&buf[..size])
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn from_le<T: Element>(b: &[u8]) -> T {
    let any: omeflow::ngff::AnyArray<ndarray::Ix0> = match T::DTYPE {
        DType::U8 => omeflow::ngff::AnyArray::U8(ndarray::arr0(b[0])),
        DType::I8 => omeflow::ngff::AnyArray::I8(ndarray::arr0(b[0] as i8)),
        DType::U16 => omeflow::ngff::AnyArray::U16(ndarray::arr0(u16::from_le_bytes([b[0], b[1]]))),
        DType::I16 => omeflow::ngff::AnyArray::I16(ndarray::arr0(i16::from_le_bytes([b[0], b[1]]))),
        DType::U32 => {
            omeflow::ngff::AnyArray::U32(ndarray::arr0(u32::from_le_bytes(b.try_into().unwrap())))
        }
        DType::I32 => {
            omeflow::ngff::AnyArray::I32(ndarray::arr0(i32::from_le_bytes(b.try_into().unwrap())))
        }
        DType::F32 => {
            omeflow::ngff::AnyArray::F32(ndarray::arr0(f32::from_le_bytes(b.try_into().unwrap())))
        }
        DType::F64 => {
            omeflow::ngff::AnyArray::F64(ndarray::arr0(f64::from_le_bytes(b.try_into().unwrap())))
        }
    };
    any.into_typed::<T>().unwrap().into_scalar()
}

fn shape_of(case: &Value) -> Vec<usize> {
    case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn check_case<T: Element>(dir: &Path, case: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let name = case["name"].as_str().unwrap();
    let shape = shape_of(case);
    let f = |k: &str| -> PathBuf { dir.join(case[k].as_str().unwrap()) };
    let input = read_array::<T>(&f("input"), &shape);
    let expected = read_array::<T>(&f("smoothed"), &shape);
    let sigma: Vec<f64> = case["sigma"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let mode = match case["mode"].as_str().unwrap() {
        "reflect" => BorderMode::Reflect,
        "mirror" => BorderMode::Mirror,
        "nearest" => BorderMode::Nearest,
        "wrap" => BorderMode::Wrap,
        "constant" => BorderMode::Constant(case["cval"].as_f64().unwrap()),
        other => panic!("mode {other}"),
    };
    let opts = GaussianOptions::per_axis(&sigma)
        .with_mode(mode)
        .with_truncate(case["truncate"].as_f64().unwrap());
    let smoothed = gaussian_filter_with(&input, &opts).unwrap();
    let differing = smoothed
        .iter()
        .zip(expected.iter())
        .filter(|(a, b)| a.to_f64().to_bits() != b.to_f64().to_bits())
        .count();
    if differing > 0 {
        failures.push(format!(
            "{name}: {differing} smoothed pixels differ from scipy"
        ));
        return failures;
    }
    let max = omeflow::ndimage::max(&smoothed).unwrap();
    assert_eq!(max, case["smoothed_max"].as_f64().unwrap(), "{name}: max");
    for l in case["labels"].as_array().unwrap() {
        let fraction = l["fraction"].as_f64().unwrap();
        let conn = match l["connectivity"].as_str().unwrap() {
            "face" => Connectivity::Face,
            _ => Connectivity::Full,
        };
        let mask = above(&smoothed, fraction * max);
        let (labels, n) = label(&mask, conn);
        let expected = read_array::<i32>(&dir.join(l["file"].as_str().unwrap()), &shape);
        if n as u64 != l["count"].as_u64().unwrap() || labels != expected {
            failures.push(format!(
                "{name} f={fraction} {conn:?}: {n} labels, scipy {}",
                l["count"]
            ));
        }
    }
    failures
}

#[test]
fn smoothing_and_labels_equal_scipy() {
    let Some((dir, cases)) = references() else {
        return;
    };
    assert!(cases.len() > 60, "too few cases");
    let mut failures = Vec::new();
    for case in &cases {
        let dtype = DType::parse(case["dtype"].as_str().unwrap()).unwrap();
        failures.extend(omeflow::with_dtype!(dtype, T => check_case::<T>(dir.path(), case)));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn counts_equal_the_shared_readme_table() {
    // ../shared/data/images/README.md: (labels, foreground) at f = 0.75 and 0.33, 4-connectivity.
    let Some((dir, cases)) = references() else {
        return;
    };
    let expect = [
        ("examplehuman_d0", [(6, 79), (173, 4782)]),
        ("stardist_img2d", [(9, 1073), (68, 14535)]),
    ];
    for (name, rows) in expect {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        let shape = shape_of(case);
        let dtype = DType::parse(case["dtype"].as_str().unwrap()).unwrap();
        for (fraction, (count, fg)) in [0.75, 0.33].into_iter().zip(rows) {
            let (n, foreground) = omeflow::with_dtype!(dtype, T => {
                let input = read_array::<T>(&dir.path().join(case["input"].as_str().unwrap()), &shape);
                let s = omeflow::ndimage::gaussian_filter(&input, 1.0);
                let mask = above(&s, fraction * omeflow::ndimage::max(&s).unwrap());
                (label(&mask, Connectivity::Face).1, mask.iter().filter(|v| **v).count())
            });
            assert_eq!((n, foreground), (count, fg), "{name} at {fraction}");
        }
    }
}
