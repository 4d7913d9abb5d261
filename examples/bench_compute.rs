//! The notebook's whole-image cell outside Jupyter, for `bench/python/whole_image.py`: the
//! tutorial's `analyze` (Gaussian, threshold at 0.75 of the max, label) as one `delayed` task
//! per plane of every plane of IMAGE, computed into a `LabelSink` beside it in OUT with a table,
//! and one JSON line of figures. Run it again on the same OUT to resume.
//!
//! ```text
//! cargo run --release --example bench_compute -- IMAGE OUT [THREADS]
//! ```

use omeflow::prelude::*;

fn analyze(data: &Pixels, t: usize, c: usize, z: usize) -> Result<Segmentation> {
    let plane: Array2<u16> = data.plane_as(t, c, z)?;
    let smoothed = gaussian_filter(&plane, 1.0);
    let max = max(&smoothed).unwrap_or(0.0);
    let (labels, _) = label(&above(&smoothed, 0.75 * max), Connectivity::Face);
    Ok(Segmentation::new(labels, "").at(t, c, z).with_image(plane))
}

fn main() -> Result<()> {
    // As the kernel's cell process has it (kernel/install's GLIBC_TUNABLES).
    omeflow::runtime::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (Some(image), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bench_compute IMAGE OUT [THREADS]");
        std::process::exit(2);
    };
    let threads: Option<usize> = args.get(3).and_then(|t| t.parse().ok());
    let start = std::time::Instant::now();
    let data = open_image(image)?.level(0)?;
    let [nt, nc, nz, _, _] = data.shape();
    let mut lazy = Vec::with_capacity(nt * nc * nz);
    for t in 0..nt {
        for c in 0..nc {
            for z in 0..nz {
                let d = data.clone();
                lazy.push(delayed(plane_name(t, c, z), move || analyze(&d, t, c, z)));
            }
        }
    }
    let tasks = lazy.len();
    let sink = LabelSink::beside(&data, out.as_str())?.table(format!("{out}.csv"))?;
    let mut run = Compute::new().name("bench");
    if let Some(n) = threads {
        run = run.threads(n);
    }
    let results = run.to(sink, lazy)?;
    let seconds = start.elapsed().as_secs_f64();
    let computed = results.len() as u64 - results.resumed();
    println!(
        "{}",
        serde_json::json!({
            "tasks": tasks,
            "planes": results.len(),
            "resumed": results.resumed(),
            "failed": results.failures().len(),
            "objects": results.total_objects(),
            "seconds": seconds,
            "planes_per_second": computed as f64 / seconds.max(1e-9),
            "complete": results.is_complete(),
        })
    );
    Ok(())
}
