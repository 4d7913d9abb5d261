//! What the live progress bar costs a `compute` (issue 19): the same runs with live output off
//! and on (`EVCXR_LIVE_DISPLAY=1`, as omeflow's kernel sets it, the bar's lines going to stdout),
//! best of several runs each, and the bar's messages per run.
//!
//! Run: `cargo bench --bench live > /dev/null` (the figures go to stderr; stdout takes the bar's
//! lines, as the kernel would).
//!
//! - 100,000 tiny tasks (each returns its index): shorter than the bar's quiet first second, so
//!   only the summary shows, on or off;
//! - 1,000,000 tasks of about 5 us each, long enough (over a second) for the bar;
//! - the tutorial's compute: 160 planes of the sample image (8 x 2 x 10 of 256 x 256), each
//!   read, smoothed, thresholded and labelled, as the notebook's `analyze`.

use std::time::Instant;

use omeflow::compute::{delayed, Compute};
use omeflow::prelude::*;

fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn set_live(on: bool) {
    // Edition 2021: safe; the bench sets it between runs, with no other thread running.
    if on {
        std::env::set_var("EVCXR_LIVE_DISPLAY", "1");
    } else {
        std::env::remove_var("EVCXR_LIVE_DISPLAY");
    }
}

fn analyze(data: &Pixels, t: usize, c: usize, z: usize) -> omeflow::Result<Segmentation> {
    let plane: Array2<u16> = data.plane_as(t, c, z)?;
    segment(&plane, &SegmentParams::default()).map(|s| s.at(t, c, z))
}

/// A named run of the bench.
type Run<'a> = (&'a str, Box<dyn Fn()>);

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and
    // a million tasks ten times in a debug build are minutes of CI for no check.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("live bench: run with `cargo bench --bench live`; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sample = dir.path().join("sample.ome.zarr");
    let sample = omeflow::sample::write_sample(
        sample.to_str().expect("a UTF-8 path"),
        &omeflow::sample::SampleSpec::default(),
    )
    .expect("the sample");
    let data = open_image(&sample)
        .and_then(|i| i.level(0))
        .expect("the sample's pixels");
    let [nt, nc, nz, _, _] = data.shape();
    let runs: Vec<Run> = vec![
        (
            "100,000 tiny tasks",
            Box::new(|| {
                let tasks: Vec<_> = (0..100_000usize)
                    .map(|i| delayed("", move || Ok::<_, String>(i)))
                    .collect();
                std::hint::black_box(Compute::new().run(tasks).ok());
            }),
        ),
        (
            "1,000,000 tasks of ~5 us",
            Box::new(|| {
                let tasks: Vec<_> = (0..1_000_000usize)
                    .map(|i| {
                        delayed("", move || {
                            let mut x = i as u64;
                            for _ in 0..3000 {
                                x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                            }
                            Ok::<_, String>(x)
                        })
                    })
                    .collect();
                std::hint::black_box(Compute::new().run(tasks).ok());
            }),
        ),
        (
            "tutorial, 160 planes",
            Box::new(move || {
                let mut tasks = Vec::new();
                for t in 0..nt {
                    for c in 0..nc {
                        for z in 0..nz {
                            let d = data.clone();
                            tasks.push(delayed(plane_name(t, c, z), move || analyze(&d, t, c, z)));
                        }
                    }
                }
                std::hint::black_box(Compute::new().run(tasks).ok());
            }),
        ),
    ];
    eprintln!(
        "{:>22} {:>10} {:>10} {:>8}",
        "run", "off s", "live s", "cost"
    );
    for (name, run) in &runs {
        // Off and on alternate, best of each, so a slow moment of the machine hits both.
        let (mut off, mut on) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            set_live(false);
            off = off.min(best(1, run));
            set_live(true);
            on = on.min(best(1, run));
        }
        set_live(false);
        eprintln!(
            "{name:>22} {off:>10.3} {on:>10.3} {:>7.1}%",
            (on - off) / off * 100.0
        );
    }
}
