//! `delayed` / `compute` and the futures `Client`: order, failures, panics, cancellation,
//! streaming with flat memory, and threads that do not outlive their call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use omeflow::compute::{compute, compute_all, compute_each, delayed, Client, Compute};

/// Threads of ours alive now (their names start with "omeflow-"). Tests that count them run
/// one at a time.
fn threads_now() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.starts_with("omeflow-"))
                .unwrap_or(false)
        })
        .count()
}

/// The omeflow threads once they have gone: a joined thread's /proc entry can outlive the join
/// for a moment (the kernel wakes the joiner as the thread exits, before it is reaped), so the
/// count is read again for up to 5 s before it is believed.
fn threads_settled(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = threads_now();
        if now == expected || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn results_come_back_in_task_order() {
    let _serial = serial();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            delayed(format!("t:{i}"), move || {
                // Later tasks finish first.
                std::thread::sleep(Duration::from_micros(200 - i));
                Ok::<_, String>(i)
            })
        })
        .collect();
    assert_eq!(compute(tasks).unwrap(), (0..200).collect::<Vec<_>>());
}

#[test]
fn failures_and_panics_are_reported_by_label_and_successes_kept() {
    let _serial = serial();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            delayed(format!("t:0, c:0, z:{i}"), move || match i {
                3 => Err(format!("chunk 0/0/0/{i} is corrupt")),
                7 => panic!("plane {i} exploded"),
                _ => Ok(i),
            })
        })
        .collect();
    let err = compute(tasks).unwrap_err();
    assert_eq!(err.failures.len(), 2);
    assert_eq!(err.failures[0].label, "t:0, c:0, z:3");
    assert!(err.failures[0].message().contains("corrupt"));
    assert!(!err.failures[0].panicked());
    assert_eq!(err.failures[1].label, "t:0, c:0, z:7");
    assert!(err.failures[1].panicked());
    assert!(err.failures[1].message().contains("plane 7 exploded"));
    let text = err.to_string();
    assert!(
        text.contains("2 of 10 tasks failed") && text.contains("z:7"),
        "{text}"
    );
    assert_eq!(err.successes(), vec![0, 1, 2, 4, 5, 6, 8, 9]);

    let all = compute_all(
        (0..3)
            .map(|i| delayed("x", move || if i == 1 { Err("no") } else { Ok(i) }))
            .collect(),
    );
    assert!(all[0].is_ok() && all[1].is_err() && all[2].is_ok());
}

#[test]
fn compute_threads_do_not_outlive_the_call() {
    let _serial = serial();
    let before = threads_now();
    for _ in 0..5 {
        let tasks: Vec<_> = (0..64)
            .map(|i| delayed("", move || Ok::<_, String>(i)))
            .collect();
        Compute::new().threads(4).quiet().run(tasks).unwrap();
    }
    assert_eq!(threads_settled(before), before);
}

#[test]
fn a_million_tasks_stream_with_flat_memory() {
    let _serial = serial();
    let run = |n: u64| {
        let mut sum = 0u64;
        let summary = Compute::new().quiet().each(
            (0..n).map(|i| delayed("", move || Ok::<_, String>(i))),
            |_, r| sum += r.unwrap(),
        );
        assert_eq!(summary.done as u64, n);
        assert_eq!(sum, n * (n - 1) / 2);
    };
    run(1_000);
    let base = rss_kb();
    run(1_000_000);
    let grown = rss_kb().saturating_sub(base);
    assert!(
        grown < 8 * 1024,
        "RSS grew by {grown} kB over a million tasks"
    );
    // And the free function prints progress and a summary (seen in the test output).
    let s = compute_each(
        (0..10u32).map(|i| delayed("", move || Ok::<_, String>(i))),
        |_, _| {},
    );
    assert_eq!(s.failed, 0);
}

#[test]
fn client_submit_gather_map_and_display() {
    let _serial = serial();
    let client = Client::with_workers(2).unwrap();
    let futures: Vec<_> = (0..20)
        .map(|i| client.submit(move || Ok::<_, String>(i * 2)))
        .collect();
    let results = client.gather(futures).unwrap();
    assert_eq!(results, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    let mapped = client.map(|x: u32| Ok::<_, String>(x + 1), vec![1, 2, 3]);
    assert_eq!(client.gather(mapped).unwrap(), vec![2, 3, 4]);
    let f = client.submit_labeled("image 6001240", || Err::<u8, _>("403 Forbidden"));
    let failure = f.result().unwrap_err();
    assert_eq!(failure.label, "image 6001240");
    let shown = client.to_string();
    assert!(
        shown.contains("2 workers") && shown.contains("24 submitted") && shown.contains("1 failed"),
        "{shown}"
    );
}

#[test]
fn futures_are_usable_from_other_threads_and_report_done() {
    let _serial = serial();
    let client = Client::with_workers(2).unwrap();
    let gate = Arc::new(AtomicUsize::new(0));
    let g = gate.clone();
    let f = client.submit(move || {
        while g.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok::<_, String>("done")
    });
    assert!(!f.done());
    gate.store(1, Ordering::SeqCst);
    let waiter = std::thread::spawn(move || f.result());
    assert_eq!(waiter.join().unwrap().unwrap(), "done");
}

#[test]
fn dropping_the_client_cancels_pending_tasks_and_joins_workers() {
    let _serial = serial();
    let before = threads_now();
    let started = Arc::new(AtomicUsize::new(0));
    let pending = {
        let client = Client::with_workers(1).unwrap();
        let s = started.clone();
        let _slow = client.submit(move || {
            s.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            Ok::<_, String>(0)
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let queued: Vec<_> = (0..5)
            .map(|i| client.submit(move || Ok::<_, String>(i)))
            .collect();
        queued
    };
    for f in pending {
        let e = f.result().unwrap_err();
        assert!(e.message().contains("cancelled"), "{e}");
    }
    assert_eq!(threads_settled(before), before);
}

#[test]
fn safe_inside_a_tokio_runtime() {
    let _serial = serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v = rt.block_on(async {
        let client = Client::with_workers(2).unwrap();
        let f = client.submit(|| Ok::<_, String>(5));
        let a = compute(vec![delayed("a", || Ok::<_, String>(1))]).unwrap();
        a[0] + f.result().unwrap()
    });
    assert_eq!(v, 6);
}

#[test]
fn worker_counts_outside_one_to_max_threads_are_refused() {
    use omeflow::compute::{Client, MAX_THREADS};
    for n in [0, MAX_THREADS + 1, 100_000] {
        let Err(e) = Client::with_workers(n) else {
            panic!("{n} workers were accepted");
        };
        assert!(e.to_string().contains("workers: use 1 to 1024"), "{e}");
    }
    // Compute clamps instead: a huge request runs on at most MAX_THREADS threads.
    let tasks: Vec<_> = (0..4)
        .map(|i| omeflow::compute::delayed(format!("t{i}"), move || Ok::<_, String>(i)))
        .collect();
    let out = omeflow::compute::Compute::new()
        .threads(100_000)
        .quiet()
        .run(tasks)
        .unwrap();
    assert_eq!(out, vec![0, 1, 2, 3]);
}

#[test]
fn a_failed_task_keeps_its_error_kind() {
    use omeflow::Error;
    let tasks = vec![
        delayed("t:0, c:0, z:0", || {
            Err::<u8, _>(Error::OutOfBounds("plane 9 of 3".into()))
        }),
        delayed("t:0, c:0, z:1", || Err::<u8, _>("not ours")),
    ];
    let err = compute(tasks).unwrap_err();
    assert!(matches!(*err.failures[0].error, Error::OutOfBounds(_)));
    assert!(matches!(&*err.failures[1].error, Error::Task(m) if m == "not ours"));
}

/// Results that would not fit stop the run after the first one, before the other tasks start,
/// with an error naming the ways out; `keep_all` keeps them anyway.
#[test]
fn results_too_large_to_keep_stop_before_the_work() {
    use omeflow::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let ran = Arc::new(AtomicUsize::new(0));
    let tasks = || -> Vec<Delayed<Segmentation>> {
        (0..200)
            .map(|z| {
                let ran = ran.clone();
                delayed(plane_name(0, 0, z), move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(Segmentation::new(Array2::zeros((100, 100)), "").at(0, 0, z))
                })
            })
            .collect()
    };
    // 200 x 40 kB = 8 MB of labels against 4 MB: refused.
    let err = Compute::new()
        .quiet()
        .threads(2)
        .memory_limit(4 << 20)
        .run(tasks())
        .unwrap_err();
    let why = err.stopped.as_deref().expect("a stop reason");
    assert!(matches!(why, Error::ResultsTooLarge(_)), "{why}");
    let text = err.to_string();
    for hint in ["LabelSink", "compute_each", "keep_all", "200 results"] {
        assert!(text.contains(hint), "{hint} not in: {text}");
    }
    assert!(err.failures.is_empty());
    // The first result and at most the tasks already running on two threads.
    assert!(
        ran.load(Ordering::SeqCst) <= 4,
        "{} tasks ran",
        ran.load(Ordering::SeqCst)
    );
    // run_all says so for every task it did not run.
    let all = Compute::new()
        .quiet()
        .memory_limit(4 << 20)
        .run_all(tasks());
    assert!(all.iter().filter(|r| r.is_err()).count() >= 190);
    // Enough memory, or keep_all: every result.
    assert_eq!(
        Compute::new()
            .quiet()
            .memory_limit(1 << 30)
            .run(tasks())
            .unwrap()
            .len(),
        200
    );
    assert_eq!(
        Compute::new()
            .quiet()
            .memory_limit(4 << 20)
            .keep_all()
            .run(tasks())
            .unwrap()
            .len(),
        200
    );
    // Results of unknown size (numbers) are not checked.
    let n: Vec<_> = (0..100)
        .map(|i| delayed("", move || Ok::<_, String>(i)))
        .collect();
    assert_eq!(
        Compute::new().quiet().memory_limit(1).run(n).unwrap().len(),
        100
    );
}
