//! Whole-image runs that resume: `omeflow segment` killed (kill -9, Ctrl-C) and rerun ends with
//! the labels and table an uninterrupted run writes, byte for byte, computing only what was not
//! recorded; a rerun with other parameters is refused; `--overwrite` starts again; labels line
//! up with their image's levels and read back in ome-zarr-py and zarr-python.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ndarray::Array2;
use omeflow::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
use omeflow::ngff::DType;
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_omeflow")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

use common::{nuclei_image, tree};

/// Planes the progress record of `labels` says are done.
fn recorded(labels: &Path) -> u64 {
    let parts = labels.join(".omeflow-run/parts");
    let Ok(entries) = std::fs::read_dir(parts) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v["items"].as_array().unwrap().len() as u64
        })
        .sum()
}

fn segment(args: &[String]) -> Output {
    Command::new(bin())
        .arg("segment")
        .args(args)
        .output()
        .unwrap()
}

/// Start `segment args`, send `signal` after `after`, and wait for it.
fn segment_signalled(args: &[String], after: Duration, signal: libc::c_int) -> Output {
    let child = Command::new(bin())
        .arg("segment")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // SAFETY: signalling our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    child.wait_with_output().unwrap()
}

fn args(image: &Path, out: &Path, table: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        s(image),
        "--labels-out".into(),
        s(out),
        "--table-out".into(),
        s(table),
        "--threads".into(),
        "2".into(),
    ];
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

#[test]
fn killed_runs_resume_to_the_bytes_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img.zarr");
    let planes = 800;
    nuclei_image(&image, planes, NgffVersion::V0_4);

    // The reference: one run, never interrupted.
    let (ref_out, ref_table) = (dir.path().join("ref.zarr"), dir.path().join("ref.csv"));
    let done = segment(&args(&image, &ref_out, &ref_table, &[]));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let started = std::time::Instant::now();
    let again = segment(&args(&image, &ref_out, &ref_table, &["--overwrite"]));
    assert!(again.status.success());
    let one_run = started.elapsed();
    eprintln!("an uninterrupted run takes {one_run:?}");

    // Killed at several points of its run (kill -9: nothing is flushed), then Ctrl-C, then to the end.
    let (out, table) = (dir.path().join("out.zarr"), dir.path().join("out.csv"));
    let labels = out.join("labels/segmentation");
    let a = args(&image, &out, &table, &[]);
    let mut before = 0;
    for (i, frac) in [0.1, 0.15, 0.2, 0.25].into_iter().enumerate() {
        let o = segment_signalled(&a, one_run.mul_f64(frac), libc::SIGKILL);
        if o.status.success() {
            // A fast machine finished before this kill: what follows still holds.
            assert!(i > 0, "the first run ended before its kill at {frac}");
            break;
        }
        let now = recorded(&labels);
        assert!(now >= before, "the record shrank: {before} -> {now}");
        before = now;
        assert!(!table.exists(), "a killed run left a table");
    }
    let o = segment_signalled(&a, one_run.mul_f64(0.1), libc::SIGINT);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(130) {
        assert!(
            stderr.contains("planes are done and recorded in"),
            "{stderr}"
        );
        assert!(stderr.contains("run the same command again"), "{stderr}");
    } else {
        assert!(o.status.success(), "Ctrl-C: {stderr}");
    }
    let at_last = recorded(&labels);
    assert!(at_last >= before);

    let last = segment(&[a.clone(), vec!["--json".into()]].concat());
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let report: Value = serde_json::from_slice(&last.stdout).unwrap();
    assert_eq!(report["plane_count"], planes);
    // Only what was not recorded was computed again.
    assert_eq!(report["resumed_planes"].as_u64().unwrap(), at_last);
    assert_eq!(recorded(&labels), planes as u64);

    assert!(
        std::fs::read(&table).unwrap() == std::fs::read(&ref_table).unwrap(),
        "tables differ"
    );
    let (ours, theirs) = (tree(&out), tree(&ref_out));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "label files differ"
    );
    for (k, v) in &ours {
        assert!(v == &theirs[k], "{k} differs");
        assert!(!k.contains('#'), "a staging file is left: {k}");
    }
}

#[test]
fn other_parameters_are_refused_and_overwrite_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img.zarr");
    nuclei_image(&image, 20, NgffVersion::V0_4);
    let (out, table) = (dir.path().join("out.zarr"), dir.path().join("objects.csv"));
    let first = segment(&args(&image, &out, &table, &[]));
    assert!(first.status.success());
    let before = (tree(&out), std::fs::read(&table).unwrap());

    let other = segment(&args(&image, &out, &table, &["--sigma", "2"]));
    assert_eq!(other.status.code(), Some(1));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("different job"), "{err}");
    assert!(err.contains("sigma 2.0 now, 1.0 then"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    assert!(
        (tree(&out), std::fs::read(&table).unwrap()) == before,
        "the refused run changed the output"
    );

    let fresh = segment(&args(
        &image,
        &out,
        &table,
        &["--sigma", "2", "--overwrite"],
    ));
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    assert!(
        std::fs::read(&table).unwrap() != before.1,
        "--overwrite kept the old table"
    );
    // A rerun of the finished job does nothing again and says so.
    let rerun = segment(&args(&image, &out, &table, &["--sigma", "2"]));
    let text = String::from_utf8_lossy(&rerun.stdout);
    assert!(text.contains("resumed: 20 of 20 planes"), "{text}");
}

/// What ome-zarr-py and zarr-python read of a label image: shapes and scales of every level
/// of the label image and of its image, and whether ome-zarr-py found the image from `source`.
fn read_with_peers(labels: &Path) -> Value {
    let script = r#"
import json, sys
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader, Label, Multiscales
path = sys.argv[1]
nodes = list(Reader(parse_url(path))())
is_label = lambda n: any(isinstance(s, Label) for s in n.specs)
labels = [n for n in nodes if is_label(n)]
assert labels, [n.specs for n in nodes]
label = labels[0]
images = [n for n in nodes if not is_label(n) and any(isinstance(s, Multiscales) for s in n.specs)]
attrs = dict(zarr.open_group(path, mode="r").attrs)
attrs = attrs.get("ome", attrs)
out = {"shapes": [list(d.shape) for d in label.data],
       "scales": [d["coordinateTransformations"][0]["scale"] for d in attrs["multiscales"][0]["datasets"]],
       "source_found": bool(images)}
if images:
    out["image_shapes"] = [list(d.shape) for d in images[0].data]
g = zarr.open_group(path, mode="r")
out["zarr_shapes"] = [list(g[str(i)].shape) for i in range(len(out["shapes"]))]
print(json.dumps(out))
"#;
    let o = Command::new("python3")
        .args(["-c", script, &s(labels)])
        .output()
        .expect("python3 with ome-zarr and zarr");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn image_scales(image: &Path) -> Vec<Value> {
    let img = omeflow::ngff::open_image(&s(image)).unwrap();
    let dims: Vec<Value> = img
        .metadata()
        .levels
        .iter()
        .map(|l| serde_json::json!(l.scale))
        .collect();
    dims
}

#[test]
fn labels_line_up_with_the_image_in_ome_zarr_py_inside_and_beside() {
    for version in [NgffVersion::V0_4, NgffVersion::V0_5] {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img.zarr");
        nuclei_image(&image, 6, version);
        // Into the image, computed at level 1: the label levels are the image's levels 1 and 2.
        let inside = segment(&[s(&image), "--level".into(), "1".into(), "--labels".into()]);
        assert!(
            inside.status.success(),
            "{}",
            String::from_utf8_lossy(&inside.stderr)
        );
        let read = read_with_peers(&image.join("labels/segmentation"));
        let scales = image_scales(&image);
        assert_eq!(
            read["scales"],
            Value::Array(scales[1..].to_vec()),
            "{version:?}"
        );
        assert_eq!(
            read["shapes"],
            serde_json::json!([[1, 1, 6, 48, 50], [1, 1, 6, 24, 25]])
        );
        assert_eq!(read["zarr_shapes"], read["shapes"]);
        assert_eq!(read["source_found"], true, "{version:?}: {read}");
        assert_eq!(read["image_shapes"][1], read["shapes"][0]);
        let zarr_v3 = image.join("labels/segmentation/zarr.json").exists();
        assert_eq!(zarr_v3, version == NgffVersion::V0_5);

        // Beside the image: a hierarchy of its own whose source climbs back to the image.
        let beside = dir.path().join("beside.zarr");
        let o = segment(&[s(&image), "--labels-out".into(), s(&beside)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let read = read_with_peers(&beside.join("labels/segmentation"));
        assert_eq!(read["source_found"], true, "{version:?}: {read}");
        assert_eq!(read["scales"], Value::Array(scales.clone()));
        let root = if version == NgffVersion::V0_5 {
            "zarr.json"
        } else {
            ".zgroup"
        };
        assert!(
            beside.join(root).exists(),
            "no group at the root of {beside:?}"
        );
    }
}

#[test]
fn a_server_image_is_read_only_and_gets_its_labels_beside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    nuclei_image(&root.join("img.zarr"), 4, NgffVersion::V0_4);
    let nginx = common::Nginx::serve(&root);
    let url = format!("{}/img.zarr", nginx.url());
    let refused = segment(&[url.clone(), "--labels-out".into(), url.clone()]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("read-only") && err.contains("beside"), "{err}");
    let out = dir.path().join("labels.zarr");
    let ok = segment(&[url.clone(), "--labels-out".into(), s(&out)]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let attrs: Value =
        serde_json::from_slice(&std::fs::read(out.join("labels/segmentation/.zattrs")).unwrap())
            .unwrap();
    assert_eq!(attrs["image-label"]["source"]["image"], url);
}

#[test]
fn a_killed_classification_resumes_to_the_bytes_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    // The sample's own project and one of the dataset images it was made for (in its catalogue).
    // Four time points of it (level 1), each shifted a little, so a run can stop between them.
    let project = omeflow::classify::sample_project().unwrap();
    let one = omeflow::ngff::open_image(&s(&project.parent().unwrap().join("embryos/1002.zarr")))
        .unwrap()
        .level(1)
        .unwrap();
    let [_, nc, nz, ny, nx] = one.shape();
    let image = dir.path().join("timelapse.zarr");
    let w =
        ImageWriter::create(&s(&image), ImageSpec::new([4, nc, nz, ny, nx], DType::U16)).unwrap();
    for t in 0..4 {
        for c in 0..nc {
            for z in 0..nz {
                let p: Array2<u16> = one.plane_as(0, c, z).unwrap();
                let shifted = Array2::from_shape_fn((ny, nx), |(y, x)| p[(y, (x + t) % nx)]);
                w.write_plane(t, c, z, &shifted).unwrap();
            }
        }
    }
    let classify = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "classify".to_string(),
            s(&image),
            "--project".into(),
            s(&project),
            "--out".into(),
            s(out),
            "--threads".into(),
            "2".into(),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let run = |a: &[String]| Command::new(bin()).args(a).output().unwrap();
    let reference = dir.path().join("ref.zarr");
    let started = std::time::Instant::now();
    let o = run(&classify(&reference, &[]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let one_run = started.elapsed();

    let out = dir.path().join("out.zarr");
    for (frac, signal) in [(0.35, libc::SIGKILL), (0.3, libc::SIGINT)] {
        let child = Command::new(bin())
            .args(classify(&out, &[]))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(one_run.mul_f64(frac));
        // SAFETY: signalling our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let o = child.wait_with_output().unwrap();
        if signal == libc::SIGINT && o.status.code() == Some(130) {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("time points are done and recorded"), "{err}");
        }
    }
    let last = run(&classify(&out, &["--json"]));
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let report: Value = serde_json::from_slice(&last.stdout).unwrap();
    let reference_report: Value =
        serde_json::from_slice(&run(&classify(&reference, &["--json"])).stdout).unwrap();
    assert_eq!(
        reference_report["resumed_time_points"], 4,
        "a finished job is not done again"
    );
    eprintln!(
        "the last run resumed {} time points",
        report["resumed_time_points"]
    );
    assert_eq!(
        report["mean_probability"],
        reference_report["mean_probability"]
    );
    let (ours, theirs) = (tree(&out), tree(&reference));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (k, v) in &ours {
        assert!(v == &theirs[k], "{k} differs");
    }
}

/// The notebook's way to the same output: `compute` over per-plane closures into a
/// [`omeflow::batch::segment::LabelSink`]. Tasks that fail are not recorded and a rerun does
/// only them; the finished labels and table equal the CLI's byte for byte, ome-zarr-py reads
/// them back aligned with the image, and a rerun of other tasks is refused.
#[test]
fn a_notebook_compute_into_labels_resumes_to_the_cli_bytes() {
    use omeflow::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img.zarr");
    let planes = 40;
    nuclei_image(&image, planes, NgffVersion::V0_4);
    let (cli_out, cli_table) = (dir.path().join("cli.zarr"), dir.path().join("cli.csv"));
    let o = self::segment(&args(&image, &cli_out, &cli_table, &[]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let data = open_image(&s(&image)).unwrap().level(0).unwrap();
    let tasks = |fail: bool| -> Vec<Delayed<Segmentation>> {
        (0..planes)
            .map(|z| {
                let d = data.clone();
                delayed(plane_name(0, 0, z), move || {
                    if fail && z % 7 == 3 {
                        return Err(Error::Task(format!("plane {z} fails on purpose")));
                    }
                    let plane: Array2<u16> = d.plane_as(0, 0, z)?;
                    Ok(segment(&plane, &SegmentParams::default())?.at(0, 0, z))
                })
            })
            .collect()
    };
    let (out, table) = (dir.path().join("nb.zarr"), dir.path().join("nb.csv"));
    let sink = || {
        LabelSink::beside(&data, s(&out))
            .unwrap()
            .table(&table)
            .unwrap()
    };
    let first = Compute::new().quiet().to(sink(), tasks(true)).unwrap();
    let failed = (0..planes).filter(|z| z % 7 == 3).count();
    assert_eq!(first.failures().len(), failed);
    assert!(!first.is_complete() && !table.exists());
    assert_eq!(
        recorded(&out.join("labels/segmentation")),
        (planes - failed) as u64
    );

    let second = Compute::new().quiet().to(sink(), tasks(false)).unwrap();
    assert!(second.is_complete(), "{}", second.where_text());
    assert_eq!(second.resumed(), (planes - failed) as u64);
    assert_eq!(second.len(), planes);
    let a = same_as_the_cli(&out, &table, &cli_out, &cli_table);
    // A plane read back from disk is the one computed.
    let back = second.get(0, 0, 5).unwrap();
    let plane: Array2<u16> = data.plane_as(0, 0, 5).unwrap();
    let fresh = segment(&plane, &SegmentParams::default()).unwrap();
    assert_eq!(back.labels, fresh.labels);
    assert_eq!(back.count, fresh.count);

    let read = read_with_peers(&out.join("labels/segmentation"));
    assert_eq!(read["source_found"], true, "{read}");
    assert_eq!(read["scales"], Value::Array(image_scales(&image)));

    // Other tasks (fewer planes) are refused, and the output is left as it was.
    let mut fewer = tasks(false);
    fewer.truncate(10);
    let refused = Compute::new().quiet().to(sink(), fewer).unwrap_err();
    assert!(refused.to_string().contains("tasks"), "{refused}");
    assert!(tree(&out) == a, "a refused run changed the output");
}

/// Check that a notebook's label image and table equal the CLI's, byte for byte; returns the
/// notebook's files.
fn same_as_the_cli(
    out: &Path,
    table: &Path,
    cli_out: &Path,
    cli_table: &Path,
) -> BTreeMap<String, Vec<u8>> {
    assert_eq!(
        std::fs::read(table).unwrap(),
        std::fs::read(cli_table).unwrap()
    );
    let (a, b) = (tree(out), tree(cli_out));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "{k} differs from the CLI's");
    }
    a
}

/// The tasks of the notebook's `compute` into a label image: every plane of `image`, each
/// counted in `ran` and slowed by `pause` (so a kill lands in the middle of the run).
fn notebook_tasks(
    image: &Path,
    planes: usize,
    pause: Duration,
    ran: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<omeflow::prelude::Delayed<omeflow::prelude::Segmentation>> {
    use omeflow::prelude::*;
    let data = open_image(&s(image)).unwrap().level(0).unwrap();
    (0..planes)
        .map(|z| {
            let (d, ran) = (data.clone(), ran.clone());
            delayed(plane_name(0, 0, z), move || {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(pause);
                let plane: Array2<u16> = d.plane_as(0, 0, z)?;
                Ok::<_, Error>(segment(&plane, &SegmentParams::default())?.at(0, 0, z))
            })
        })
        .collect()
}

const KILLED_COMPUTE_CHILD: &str = "OMEFLOW_TEST_KILLED_COMPUTE_OUT";

/// A notebook's kernel killed (kill -9) in the middle of a `compute` into a label image, then
/// the same cell run again: it goes on from the record, computes only the planes not recorded,
/// and ends with the CLI's labels and table, byte for byte.
#[test]
fn a_killed_notebook_compute_resumes_to_the_cli_bytes() {
    use omeflow::prelude::*;
    // Chunks of 32 planes, two threads working from both halves of the task list: the record
    // moves once a chunk is whole, so the run needs several chunks per half.
    let planes = 256;
    if let Ok(out) = std::env::var(KILLED_COMPUTE_CHILD) {
        // The child: the kernel that gets killed.
        let out = Path::new(&out);
        let image = out.with_file_name("img.zarr");
        let data = open_image(&s(&image)).unwrap().level(0).unwrap();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks = notebook_tasks(&image, planes, Duration::from_millis(50), ran);
        let sink = LabelSink::beside(&data, s(out))
            .unwrap()
            .table(out.with_extension("csv"))
            .unwrap();
        let _ = Compute::new().quiet().to(sink, tasks);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img.zarr");
    nuclei_image(&image, planes, NgffVersion::V0_4);
    let (cli_out, cli_table) = (dir.path().join("cli.zarr"), dir.path().join("cli.csv"));
    let o = self::segment(&args(&image, &cli_out, &cli_table, &[]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = dir.path().join("nb.zarr");
    let labels = out.join("labels/segmentation");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_notebook_compute_resumes_to_the_cli_bytes",
            "--nocapture",
        ])
        .env(KILLED_COMPUTE_CHILD, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once part of the work is recorded, well before the end.
    let start = std::time::Instant::now();
    while recorded(&labels) == 0 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child ended before it was killed");
    let before = recorded(&labels);
    assert!(
        before > 0 && before < planes as u64,
        "{before} planes recorded"
    );

    let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let data = open_image(&s(&image)).unwrap().level(0).unwrap();
    let table = out.with_extension("csv");
    let sink = LabelSink::beside(&data, s(&out))
        .unwrap()
        .table(&table)
        .unwrap();
    let tasks = notebook_tasks(&image, planes, Duration::ZERO, ran.clone());
    let again = Compute::new().quiet().to(sink, tasks).unwrap();
    assert!(again.is_complete(), "{}", again.where_text());
    assert_eq!(again.resumed(), before);
    assert_eq!(
        ran.load(std::sync::atomic::Ordering::SeqCst) as u64,
        planes as u64 - before,
        "the rerun computed a recorded plane again"
    );
    same_as_the_cli(&out, &table, &cli_out, &cli_table);
}
