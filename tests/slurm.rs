//! Jobs on a real Slurm cluster (munged, slurmctld and three emulated slurmd nodes on this
//! machine, `common::SlurmCluster`): the results equal a local run's byte for byte (labels,
//! probabilities) and row for row (tables), through a node killed mid-run and a worker that
//! fails on purpose; a cancel leaves nothing running and the output resumable; a wrong binary is
//! a clear error naming the path and the node.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{nuclei_image, tree, SlurmCluster};
use omeflow::batch::{ClassifyJob, Job};
use omeflow::ngff::writer::NgffVersion;
use omeflow::slurm::{Cluster, SlurmOptions, SlurmRun};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_omeflow")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn omeflow(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "omeflow failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A local run of the segmentation into `dir` (labels beside the image, a table).
fn segment_here(image: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    ok(&omeflow(&[
        "segment",
        &s(image),
        "--labels-out",
        &s(dir),
        "--table-out",
        &s(&dir.join("objects.csv")),
        "--threads",
        "2",
    ]));
}

/// The same job's arguments with `--slurm` and `extra`.
fn segment_on_slurm(image: &Path, dir: &Path, extra: &[&str]) -> Output {
    std::fs::create_dir_all(dir).unwrap();
    let (image, labels, table) = (s(image), s(dir), s(&dir.join("objects.csv")));
    let mut args = vec![
        "segment",
        &image,
        "--labels-out",
        &labels,
        "--table-out",
        &table,
        "--slurm",
    ];
    args.extend_from_slice(extra);
    omeflow(&args)
}

/// The label image and table of two runs are the same bytes (progress records aside).
fn assert_same_outputs(a: &Path, b: &Path) {
    assert_eq!(
        std::fs::read(a.join("objects.csv")).unwrap(),
        std::fs::read(b.join("objects.csv")).unwrap(),
        "tables differ"
    );
    let (ta, tb) = (tree(&a.join("labels")), tree(&b.join("labels")));
    assert!(ta.len() > 10, "{:?}", ta.keys());
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "label files differ"
    );
    for (k, v) in &ta {
        assert!(tb[k] == *v, "{k} differs");
    }
}

/// A stand-in for omeflow on the nodes: waits `pause` seconds, fails the first run of element
/// `fail` (if any) on purpose, then runs the real binary.
fn wrapper(dir: &Path, pause: f64, fail: Option<usize>) -> PathBuf {
    let path = dir.join("omeflow-wrapper");
    let fail = fail.map_or(String::new(), |i| {
        format!(
            "if [ \"$SLURM_ARRAY_TASK_ID\" = {i} ] && [ ! -e {m} ]; then touch {m}; \
             echo 'failing on purpose' >&2; exit 3; fi\n",
            m = s(&dir.join("failed-once"))
        )
    });
    std::fs::write(
        &path,
        format!("#!/bin/bash\nsleep {pause}\n{fail}exec {} \"$@\"\n", bin()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Worker processes of this test's binary still alive.
fn live_workers(dir: &Path) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", &format!("worker {}", s(dir))])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_segmentation_on_slurm_equals_the_local_run_byte_for_byte() {
    let Some(cluster) = SlurmCluster::up(3) else {
        return;
    };
    let root = cluster.path().join("work");
    let image = root.join("image.ome.zarr");
    std::fs::create_dir_all(&root).unwrap();
    nuclei_image(&image, 2400, NgffVersion::V0_4);
    segment_here(&image, &root.join("local"));

    let start = Instant::now();
    let out = segment_on_slurm(&image, &root.join("slurm"), &["--elements", "40"]);
    let stdout = ok(&out);
    assert!(stdout.contains("segmented 2400 planes"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("submitted to Slurm as array job"),
        "{stderr}"
    );
    eprintln!(
        "2,400 planes in 40 elements on 3 nodes: {:?}",
        start.elapsed()
    );
    assert_same_outputs(&root.join("local"), &root.join("slurm"));

    // The status says it is done, from the output alone.
    let st = ok(&omeflow(&[
        "jobs",
        "status",
        &s(&root.join("slurm")),
        "--json",
    ]));
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["finished"], true, "{st}");
    // At most the 40 asked for: shares hold whole label chunks.
    let elements = st["elements"].as_u64().unwrap();
    assert!((30..=40).contains(&elements), "{st}");
    assert_eq!(st["items_left"], 0, "{st}");

    // A notebook's handle, found again from the output in another process, reads the results
    // back as the local run's: every plane's count, the table, a plane's labels from disk.
    let run = SlurmRun::open(root.join("slurm")).unwrap();
    let results = run.segmentations().unwrap();
    assert_eq!(results.len(), 2400);
    assert!(results.is_complete());
    let local: serde_json::Value = serde_json::from_str(&ok(&omeflow(&[
        "segment",
        &s(&image),
        "--labels-out",
        &s(&root.join("local")),
        "--table-out",
        &s(&root.join("local/objects.csv")),
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        results.total_objects(),
        local["total_objects"].as_u64().unwrap()
    );
    assert_eq!(
        results.table().unwrap().1,
        local["table_rows"].as_u64().unwrap()
    );
    let plane = results.get(0, 0, 1234).unwrap();
    assert_eq!(plane.labels.dim(), (96, 101));
}

#[test]
fn a_node_killed_mid_run_and_a_failing_worker_are_run_again_to_the_same_output() {
    let Some(cluster) = SlurmCluster::up(3) else {
        return;
    };
    let root = cluster.path().join("work");
    let image = root.join("image.ome.zarr");
    std::fs::create_dir_all(&root).unwrap();
    nuclei_image(&image, 600, NgffVersion::V0_5);
    segment_here(&image, &root.join("local"));

    // Every element waits a second before working, so the kill finds some running on node 2;
    // element 1 fails its first run on purpose.
    let slow = wrapper(&root, 1.5, Some(1));
    let out = segment_on_slurm(
        &image,
        &root.join("slurm"),
        &["--elements", "12", "--no-wait", "--slurm-binary", &s(&slow)],
    );
    ok(&out);
    // Kill node 2 once it runs elements.
    let on_node_2 = || {
        let q = Command::new("squeue")
            .args(["-h", "-r", "-w", "n2", "-t", "RUNNING", "-o", "%K"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&q.stdout).trim().to_string()
    };
    let start = Instant::now();
    while on_node_2().is_empty() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = on_node_2();
    assert!(!killed.is_empty(), "no element ran on node 2");
    cluster.kill_node(2);
    let waited = omeflow(&["jobs", "wait", &s(&root.join("slurm"))]);
    let stdout = ok(&waited);
    assert!(stdout.contains("segmented 600 planes"), "{stdout}");
    eprintln!(
        "node 2 was killed running elements {}; wait said:\n{}",
        killed.replace('\n', ", "),
        String::from_utf8_lossy(&waited.stderr)
            .lines()
            .filter(|l| l.contains("submitted again"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let said = String::from_utf8_lossy(&waited.stderr);
    assert!(said.contains("NODE_FAIL on n2"), "{said}");
    assert!(said.contains("failing on purpose"), "{said}");
    assert_same_outputs(&root.join("local"), &root.join("slurm"));

    let run = SlurmRun::open(root.join("slurm")).unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.dir().join("state.json")).unwrap()).unwrap();
    let attempts: Vec<u64> = state["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_u64().unwrap())
        .collect();
    assert!(
        attempts[1] >= 2,
        "the failing element ran again: {attempts:?}"
    );
    assert!(
        run.dir().join("errors").read_dir().unwrap().count() >= 1
            || std::fs::read_dir(run.dir().join("logs"))
                .unwrap()
                .any(|e| std::fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .contains("failing on purpose")),
        "the failure left a trace"
    );
}

#[test]
fn a_cancel_leaves_nothing_running_and_the_output_resumable() {
    let Some(cluster) = SlurmCluster::up(3) else {
        return;
    };
    let root = cluster.path().join("work");
    let image = root.join("image.ome.zarr");
    std::fs::create_dir_all(&root).unwrap();
    nuclei_image(&image, 300, NgffVersion::V0_4);
    segment_here(&image, &root.join("local"));

    let slow = wrapper(&root, 30.0, None);
    let out = segment_on_slurm(
        &image,
        &root.join("slurm"),
        &["--elements", "10", "--no-wait", "--slurm-binary", &s(&slow)],
    );
    ok(&out);
    std::thread::sleep(Duration::from_millis(500));
    let cancelled = ok(&omeflow(&["jobs", "cancel", &s(&root.join("slurm"))]));
    assert!(
        cancelled.contains("no element is queued or running"),
        "{cancelled}"
    );
    assert_eq!(live_workers(&root), 0);
    let sleeping = Command::new("pgrep")
        .args(["-f", &s(&slow)])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sleeping.stdout).trim().is_empty(),
        "a wrapper is still running"
    );
    // Waiting on a cancelled job says so, and keeps the output.
    let waited = omeflow(&["jobs", "wait", &s(&root.join("slurm"))]);
    assert!(!waited.status.success());
    assert!(
        String::from_utf8_lossy(&waited.stderr).contains("cancelled"),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    // The same job submitted again goes on and ends as the local run.
    ok(&segment_on_slurm(
        &image,
        &root.join("slurm"),
        &["--elements", "10"],
    ));
    assert_same_outputs(&root.join("local"), &root.join("slurm"));
}

#[test]
fn a_wrong_binary_path_is_a_clear_error_naming_it_and_the_node() {
    let Some(cluster) = SlurmCluster::up(3) else {
        return;
    };
    let root = cluster.path().join("work");
    let image = root.join("image.ome.zarr");
    std::fs::create_dir_all(&root).unwrap();
    nuclei_image(&image, 20, NgffVersion::V0_4);
    let start = Instant::now();
    let out = segment_on_slurm(
        &image,
        &root.join("slurm"),
        &["--elements", "2", "--slurm-binary", "/opt/nowhere/omeflow"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/opt/nowhere/omeflow"), "{err}");
    assert!(err.contains("on node n"), "{err}");
    assert!(err.contains("after 1 attempt"), "not run again: {err}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_dataset_classified_on_slurm_from_the_library_equals_local_runs() {
    let Some(cluster) = SlurmCluster::up(3) else {
        return;
    };
    let root = cluster.path().join("work");
    std::fs::create_dir_all(&root).unwrap();
    // The sample dataset's images and the project trained on its first one.
    let project = omeflow::classify::sample_project().unwrap();
    let mut images: Vec<PathBuf> = std::fs::read_dir(project.parent().unwrap().join("embryos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zarr"))
        .collect();
    images.sort();
    assert!(images.len() >= 3, "{images:?}");
    let job = |image: &Path, out: PathBuf| ClassifyJob {
        out: Some(s(&out)),
        threads: Some(2),
        ..ClassifyJob::new(s(image), 0, &project)
    };
    let cluster_handle = Cluster::slurm(SlurmOptions {
        binary: Some(bin().into()),
        elements: Some(4),
        cpus_per_task: 1,
        poll: Duration::from_millis(200),
        ..SlurmOptions::default()
    })
    .unwrap();
    // Submitted together (as a notebook's cell would), gathered later.
    let runs: Vec<SlurmRun> = images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            cluster_handle
                .submit(Job::Classify(job(
                    img,
                    root.join(format!("slurm-{i}.ome.zarr")),
                )))
                .unwrap()
        })
        .collect();
    for (i, img) in images.iter().enumerate() {
        let here = omeflow::batch::run(
            &Job::Classify(job(img, root.join(format!("local-{i}.ome.zarr")))),
            &Default::default(),
            &mut |_| {},
        )
        .unwrap();
        let there = runs[i].gather().unwrap();
        let (omeflow::batch::Outcome::Classify(a), omeflow::batch::Outcome::Classify(b)) =
            (&here.outcome, &there.outcome)
        else {
            panic!("not classifications");
        };
        assert_eq!(a.shape, b.shape);
        assert_eq!(a.mean_probability, b.mean_probability, "image {i}");
        let (ta, tb) = (
            tree(&root.join(format!("local-{i}.ome.zarr"))),
            tree(&root.join(format!("slurm-{i}.ome.zarr"))),
        );
        assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
        for (k, v) in &ta {
            // The image's name holds its source, the same here; every byte must match.
            assert!(tb[k] == *v, "image {i}: {k} differs");
        }
    }
}

/// Without Slurm: the shares of a planned job run by `omeflow worker` one after the other (as
/// elements would), then the job's last run, equal a local run; a share that does not exist is
/// refused with an error marker beside the job file, named by the index.
#[test]
fn workers_run_their_shares_and_the_last_run_commits_the_local_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.ome.zarr");
    nuclei_image(&image, 90, NgffVersion::V0_5);
    segment_here(&image, &dir.path().join("local"));
    let out = dir.path().join("shared");
    std::fs::create_dir_all(&out).unwrap();
    let job = omeflow::batch::SegmentJob {
        labels_out: Some(s(&out)),
        table_out: Some(out.join("objects.csv")),
        ..omeflow::batch::SegmentJob::new(s(&image), 0)
    };
    let file =
        omeflow::batch::JobFile::plan(&Job::Segment(job), &Default::default(), 4, 1).unwrap();
    assert!((2..=4).contains(&file.shares.len()), "{:?}", file.shares);
    let job_file = dir.path().join("job-file.json");
    std::fs::write(&job_file, file.to_json().unwrap()).unwrap();
    // The outputs exist but say they are incomplete until the last run.
    assert!(!out.join("objects.csv").exists());
    for i in (0..file.shares.len()).rev() {
        let said = ok(&omeflow(&[
            "worker",
            &s(&job_file),
            "--index",
            &i.to_string(),
        ]));
        assert!(said.contains(&format!("share {i}:")), "{said}");
    }
    assert!(
        !out.join("objects.csv").exists(),
        "a worker committed the table"
    );
    assert_eq!(
        omeflow::batch::JobFile::count(&file.remaining().unwrap()),
        0
    );
    file.finish(&mut |_| {}).unwrap();
    assert_same_outputs(&dir.path().join("local"), &out);

    let bad = omeflow(&["worker", &s(&job_file), "--index", "99"]);
    assert!(!bad.status.success());
    let marker = std::fs::read_to_string(dir.path().join("errors/99-local.txt")).unwrap();
    assert!(marker.contains("share 99 of a job of"), "{marker}");
}
