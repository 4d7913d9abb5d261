//! Nesting never multiplies threads: a `Client`'s workers each running `classify` (which is
//! parallel itself) hold no more busy threads than the machine has cores.
//!
//! A sampler thread reads `/proc/self/task/*/comm` and `/proc/self/task/*/stat` every
//! millisecond while the tasks run and keeps the largest counts of
//! - threads named `omeflow-*` (omeflow's workers and pool threads; `omeflow-io*`, the tokio
//!   runtime for I/O, is not compute and is left out), and
//! - threads in state R (running or waiting for a core), leaving out the sampler itself and
//!   this test's own thread, which only submits and then sleeps in `gather` (it wakes for an
//!   instant when a task ends, which says nothing about the workers).
//!
//! Before `runtime::threads`, `classify` on a worker built a pool of every core, so N workers
//! held N x N pool threads besides themselves; this test fails on that code.
//!
//! The file holds one test so that no other test's threads run beside it in the process.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ndarray::{Array4, Array5};
use omeflow::classify::{
    classify, FeatureId, FeatureSelection, LabelClass, Probabilities, Project, TrainOptions,
};
use omeflow::compute::Client;
use omeflow::runtime;

/// (t, c, z, y, x): 3-D, so `classify` has several units of work per call to spread.
const SHAPE: (usize, usize, usize, usize, usize) = (1, 1, 16, 40, 40);

/// Blobs on a ramp: something for the features to tell apart.
fn image() -> Array5<u16> {
    Array5::from_shape_fn(SHAPE, |(_, _, z, y, x)| {
        let blob =
            ((z as f64 / 3.0).sin() * (y as f64 / 5.0).cos() * (x as f64 / 4.0).sin()).max(0.0);
        (100.0 + 2.0 * x as f64 + 800.0 * blob) as u16
    })
}

/// A project made here, not read from ../shared: a small feature selection and a forest
/// trained on the image's brightest and darkest voxels, on this thread (no pool is started, so
/// no pool thread outlives training into the sampled run).
fn project(image: &Array5<u16>) -> Project {
    let features = FeatureSelection {
        ids: vec![
            FeatureId::GaussianSmoothing,
            FeatureId::LaplacianOfGaussian,
            FeatureId::HessianOfGaussianEigenvalues,
        ],
        scales: vec![0.7, 1.6],
        matrix: vec![vec![true, true], vec![false, true], vec![true, false]],
        in_2d: vec![false, false],
    };
    let class = |name: &str| LabelClass {
        name: name.into(),
        color: [128, 128, 128],
    };
    let mut p = Project::new(features, vec![class("background"), class("blob")]).unwrap();
    let labels =
        Array4::from_shape_fn(
            (SHAPE.0, SHAPE.2, SHAPE.3, SHAPE.4),
            |(t, z, y, x)| match image[[t, 0, z, y, x]] {
                v if v > 700 => 2u8,
                v if v < 130 => 1,
                _ => 0,
            },
        );
    let options = TrainOptions {
        trees: 8,
        threads: Some(1),
        ..TrainOptions::default()
    };
    p.train_from_labels(image, labels.view(), &options).unwrap();
    p
}

/// The id of the calling thread, as named in /proc/self/task.
fn tid() -> String {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// One look at the process's threads: the `omeflow-*` compute threads, and the running ones
/// other than `skip` (as "tid name"). A thread that ends while it is read is left out.
fn look(skip: &HashSet<String>) -> (Vec<String>, Vec<String>) {
    let mut named = Vec::new();
    let mut running = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (named, running);
    };
    for entry in dir.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let comm = comm.trim().to_string();
        // The state follows the name, which is in parentheses and may hold anything.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("?");
        if comm.starts_with("omeflow-") && !comm.starts_with("omeflow-io") {
            named.push(format!("{tid} {comm}"));
        }
        if state == "R" && !skip.contains(&tid) {
            running.push(format!("{tid} {comm}"));
        }
    }
    (named, running)
}

/// The largest counts seen, with what was seen then.
#[derive(Default, Debug)]
struct Peaks {
    samples: usize,
    named: Vec<String>,
    running: Vec<String>,
}

#[test]
fn client_workers_running_classify_hold_at_most_one_thread_per_core() {
    let cores = runtime::cores();
    let image = Arc::new(image());
    let project = Arc::new(project(&image));

    let client = Client::local().unwrap();
    assert_eq!(client.workers(), cores);
    let stop = Arc::new(AtomicBool::new(false));
    let me = tid();
    let sampler = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let skip: HashSet<String> = [me, tid()].into();
                let mut peaks = Peaks::default();
                while !stop.load(Ordering::Relaxed) {
                    let (named, running) = look(&skip);
                    peaks.samples += 1;
                    if named.len() > peaks.named.len() {
                        peaks.named = named;
                    }
                    if running.len() > peaks.running.len() {
                        peaks.running = running;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                peaks
            })
            .unwrap()
    };
    let started = std::time::Instant::now();
    let futures: Vec<_> = (0..2 * cores)
        .map(|_| {
            let (image, project) = (image.clone(), project.clone());
            client.submit(move || classify(&*image, &project).map(|p: Probabilities| p.data))
        })
        .collect();
    let results = client.gather(futures);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let peaks = sampler.join().unwrap();
    let results = results.unwrap_or_else(|e| panic!("{e}"));
    drop(client);
    eprintln!(
        "{} tasks on {cores} workers in {seconds:.2} s, {} samples: at most {} omeflow threads {:?}, \
         {} running {:?}",
        2 * cores,
        peaks.samples,
        peaks.named.len(),
        peaks.named,
        peaks.running.len(),
        peaks.running
    );

    // The sampler saw the run: enough samples, and the workers at work.
    assert!(peaks.samples >= 20, "only {} samples", peaks.samples);
    assert!(!peaks.running.is_empty(), "no running thread was ever seen");
    assert!(
        peaks.named.len() <= cores,
        "{} omeflow threads at once on {cores} cores: {:?}",
        peaks.named.len(),
        peaks.named
    );
    assert!(
        peaks.running.len() <= cores,
        "{} threads running at once on {cores} cores: {:?}",
        peaks.running.len(),
        peaks.running
    );

    // One thread per task changes nothing: the same probabilities as a run on every core here.
    let whole = classify(&*image, &project).unwrap();
    assert!(whole.data.iter().any(|&p| p > 0.5) && whole.data.iter().any(|&p| p < 0.5));
    for r in &results {
        assert!(*r == whole.data, "a worker's probabilities differ");
    }
}
