//! Task overhead of `compute` and of the futures `Client`: time per empty task at 1,000 and
//! 1,000,000 tasks. Run: `cargo bench --bench compute`; `bench/python/compute_bench.py` measures
//! dask's `delayed`/`compute` and `Client.submit`/`gather` on the same machine and prints the
//! ratios.
//! `--json` prints the figures as JSON for that script.

use std::time::Instant;

use omeflow::compute::{delayed, Client, Compute};

fn per_task<F: FnMut()>(n: usize, reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best / n as f64
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut rows = Vec::new();
    for (n, reps) in [(1_000usize, 20usize), (1_000_000, 2)] {
        let compute = per_task(n, reps, || {
            let tasks: Vec<_> = (0..n)
                .map(|i| delayed("", move || Ok::<_, String>(i)))
                .collect();
            std::hint::black_box(Compute::new().quiet().run(tasks).ok());
        });
        let client = Client::local().expect("client");
        let submit = per_task(n, reps, || {
            let futures: Vec<_> = (0..n)
                .map(|i| client.submit(move || Ok::<_, String>(i)))
                .collect();
            std::hint::black_box(client_gather_quiet(&client, futures));
        });
        rows.push((n, compute, submit));
    }
    if json {
        let v: Vec<String> = rows
            .iter()
            .map(|(n, c, s)| format!("{{\"tasks\": {n}, \"compute_s_per_task\": {c:e}, \"submit_gather_s_per_task\": {s:e}}}"))
            .collect();
        println!("[{}]", v.join(", "));
    } else {
        println!(
            "{:>10} {:>22} {:>26}",
            "tasks", "compute (us/task)", "submit+gather (us/task)"
        );
        for (n, c, s) in rows {
            println!("{n:>10} {:>22.3} {:>26.3}", c * 1e6, s * 1e6);
        }
    }
}

fn client_gather_quiet(_client: &Client, futures: Vec<omeflow::compute::Future<usize>>) -> usize {
    // gather() prints progress lines; waiting on each future measures the same work silently.
    futures.into_iter().filter_map(|f| f.result().ok()).count()
}
