//! Fuzz targets for every parser of untrusted bytes (issue 14, "hostile input"): NGFF/Zarr
//! metadata, chunk decoding through zarrs, the OMERO JSON answers and `.ilp` attributes.
//!
//! A small deterministic mutation fuzzer on stable Rust, without extra crates: real documents
//! are mutated as bytes (flips, truncation, splices) and as JSON (extreme numbers, swapped types,
//! removed and duplicated keys, huge shapes, odd codecs), then read through omeflow's public API.
//! Errors are fine; a panic that reaches the caller, a panic in omeflow's own code (even one
//! omeflow catches), an error of the wrong kind, a hang or a memory peak over 2 GB fails the
//! test, with the seed that replays the case and the input saved under `target/fuzz-crashes/`.
//! A panic in a dependency (zarrs) that omeflow contains and reports as an error is counted and
//! shown, not failed: it is upstream's bug, and the point is that omeflow survives it.
//!
//! * `OMEFLOW_FUZZ_ITERS=N`: cases of the metadata and chunk targets (default 1200); the OMERO
//!   target runs N/4 and the `.ilp` target N/20 (HDF5 is slow).
//! * `OMEFLOW_FUZZ_SEED=S`: another base seed (default 0).
//! * `OMEFLOW_FUZZ_REPLAY=<target>:<case seed>`: run one case only (printed on failure).
//!
//! `scripts/fuzz.sh` runs a long campaign; run with `-- --nocapture` to see the counts.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::{Duration, Instant};

use hdf5_metno as hdf5;
use ndarray::Array5;
use omeflow::ngff::writer::NgffVersion;
use omeflow::ngff::OmeZarr;
use omeflow::sample::{write_sample, SampleSpec};
use omeflow::store::StoreOptions;
use omeflow::Error;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// the fuzzer's machinery

/// splitmix64: tiny, fast and good enough to pick mutations.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The cases of one target: `scale` of `OMEFLOW_FUZZ_ITERS` (at least one), or only the case
/// `OMEFLOW_FUZZ_REPLAY` names (none when it names another target).
fn case_seeds(target: &str, scale: f64) -> Vec<u64> {
    if let Ok(replay) = std::env::var("OMEFLOW_FUZZ_REPLAY") {
        let (t, seed) = replay
            .split_once(':')
            .expect("OMEFLOW_FUZZ_REPLAY=<target>:<seed>");
        if t != target {
            return Vec::new();
        }
        let seed = seed.trim_start_matches("0x");
        return vec![u64::from_str_radix(seed, 16).expect("a hex case seed")];
    }
    let iters = env_u64("OMEFLOW_FUZZ_ITERS").unwrap_or(1200) as f64;
    let n = ((iters * scale) as usize).max(1);
    let mut rng = Rng(fnv(target) ^ env_u64("OMEFLOW_FUZZ_SEED").unwrap_or(0));
    (0..n).map(|_| rng.next()).collect()
}

/// A panic seen by the hook while a case ran.
#[derive(Clone, Debug)]
struct PanicRecord {
    /// The crate the panic came from: "omeflow" for our own code.
    origin: String,
    location: String,
    message: String,
}

static IN_CASE: AtomicBool = AtomicBool::new(false);
static PANICS: Mutex<Vec<PanicRecord>> = Mutex::new(Vec::new());
/// One target at a time: the panic hook and the files on disk are shared.
static SERIAL: Mutex<()> = Mutex::new(());

/// The crate a panic came from: its location's file, or for a panic inside the standard library
/// (an allocation or a slice index) the innermost frame of the backtrace outside it.
fn origin_of(file: &str) -> String {
    if file.starts_with("src/") || file.starts_with("tests/") {
        return "omeflow".into();
    }
    if let Some(rest) = file.split("registry/src/").nth(1) {
        // index.crates.io-xxxx/zarrs-0.23.14/src/...
        if let Some(krate) = rest.split('/').nth(1) {
            return krate.to_string();
        }
    }
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    for line in bt.lines() {
        let line = line.trim();
        let Some((n, sym)) = line.split_once(": ") else {
            continue;
        };
        if n.parse::<usize>().is_err() {
            continue;
        }
        let sym = sym.trim_start_matches('<');
        let krate = sym.split("::").next().unwrap_or("");
        if [
            "std",
            "core",
            "alloc",
            "backtrace",
            "rust_begin_unwind",
            "__rustc",
            "fuzz",
        ]
        .iter()
        .any(|s| krate.starts_with(s))
            || krate.contains("rust_panic")
            || krate.starts_with("_")
        {
            continue;
        }
        return krate.to_string();
    }
    format!("unknown ({file})")
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CASE.load(Ordering::SeqCst) {
                return default(info);
            }
            let (file, location) = match info.location() {
                Some(l) => (l.file().to_string(), format!("{}:{}", l.file(), l.line())),
                None => (String::new(), "?".into()),
            };
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "?".into());
            let rec = PanicRecord {
                origin: origin_of(&file),
                location,
                message,
            };
            if let Ok(mut p) = PANICS.lock() {
                p.push(rec);
            }
        }));
    });
}

/// How one case ended.
enum Ending {
    Ok,
    /// An omeflow error: its variant and message.
    Err(String, String),
    /// A panic reached the caller.
    Escaped(String),
    /// The case did not end in time.
    Hang,
}

fn variant(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split([' ', '{', '(']).next().unwrap_or("?").to_string()
}

/// Run `case` on a thread of its own, catching panics, within `limit`; the panics seen while it
/// ran (also on omeflow's I/O threads) come back with how it ended.
fn run_case<F>(limit: Duration, case: F) -> (Ending, Vec<PanicRecord>, Duration)
where
    F: FnOnce() -> omeflow::Result<()> + Send + 'static,
{
    install_hook();
    PANICS.lock().unwrap().clear();
    IN_CASE.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
            let _ = tx.send(r);
        })
        .unwrap();
    let ending = match rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => Ending::Ok,
        Ok(Ok(Err(e))) => Ending::Err(variant(&e), e.to_string()),
        Ok(Err(p)) => Ending::Escaped(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "?".into()),
        ),
        Err(_) => Ending::Hang,
    };
    let elapsed = start.elapsed();
    // Tasks of a failed read may still be ending on the I/O threads.
    std::thread::sleep(Duration::from_micros(200));
    IN_CASE.store(false, Ordering::SeqCst);
    let panics = std::mem::take(&mut *PANICS.lock().unwrap());
    (ending, panics, elapsed)
}

/// What a target saw, printed at its end (and by `scripts/fuzz.sh`).
#[derive(Default)]
struct Stats {
    tried: usize,
    ok: usize,
    errors: BTreeMap<String, usize>,
    /// Upstream panics omeflow contained, by origin and location.
    contained: BTreeMap<String, usize>,
    failures: Vec<String>,
    slowest: Duration,
    /// The first message of each kind of error.
    examples: BTreeMap<String, String>,
}

impl Stats {
    fn print(&self, target: &str, elapsed: Duration) {
        println!(
            "fuzz {target}: {} inputs in {:.1} s (slowest {:.2} s): {} ok, errors {:?}, \
             contained upstream panics {}, failures {}",
            self.tried,
            elapsed.as_secs_f64(),
            self.slowest.as_secs_f64(),
            self.ok,
            self.errors,
            self.contained.values().sum::<usize>(),
            self.failures.len()
        );
        for (k, m) in &self.examples {
            println!("fuzz {target}:   e.g. {k}: {m}");
        }
        for (k, n) in &self.contained {
            println!("fuzz {target}:   contained {n} x {k}");
        }
        for f in &self.failures {
            println!("fuzz {target}: FAILURE {f}");
        }
    }

    fn finish(&self, target: &str, start: Instant) {
        self.print(target, start.elapsed());
        let peak = peak_memory_kb();
        println!(
            "fuzz {target}: process peak memory (VmHWM) {} MB",
            peak / 1024
        );
        assert!(
            self.failures.is_empty(),
            "fuzz {target}: {} failing inputs (saved under target/fuzz-crashes/):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(
            peak < 2_000_000,
            "fuzz {target}: peak memory {peak} kB over 2 GB"
        );
    }
}

fn peak_memory_kb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn crash_dir(target: &str, seed: u64) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-crashes")
        .join(format!("{target}-{seed:016x}"))
}

/// Note the case about to run in `target/fuzz-crashes/<target>-last.txt`: an abort (an
/// allocation failure, a crash in C code) ends the process before any panic hook or judge runs,
/// and this line is then all that says which input did it.
fn mark(target: &str, seed: u64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = fs::create_dir_all(&dir);
    let _ = fs::write(
        dir.join(format!("{target}-last.txt")),
        format!("OMEFLOW_FUZZ_REPLAY={target}:{seed:016x}\n"),
    );
}

/// Judge one case: a failure is saved with `inputs` (name, bytes) and its replay line.
#[allow(clippy::too_many_arguments)]
fn judge(
    stats: &mut Stats,
    target: &str,
    seed: u64,
    (ending, panics, elapsed): (Ending, Vec<PanicRecord>, Duration),
    allowed: Option<&[&str]>,
    inputs: &[(String, Vec<u8>)],
) {
    stats.tried += 1;
    stats.slowest = stats.slowest.max(elapsed);
    let mut problems = Vec::new();
    match &ending {
        Ending::Ok => stats.ok += 1,
        Ending::Err(kind, msg) => {
            *stats.errors.entry(kind.clone()).or_default() += 1;
            stats
                .examples
                .entry(kind.clone())
                .or_insert_with(|| msg.chars().take(200).collect());
            if allowed.is_some_and(|a| !a.contains(&kind.as_str())) {
                problems.push(format!("an error of kind {kind}: {msg}"));
            }
            if !panics.is_empty() && kind != "CorruptChunk" && target == "chunks" {
                problems.push(format!(
                    "a contained panic reported as {kind}, not as a corrupt chunk: {msg}"
                ));
            }
        }
        Ending::Escaped(m) => problems.push(format!("a panic reached the caller: {m}")),
        Ending::Hang => problems.push(format!("no answer within {elapsed:?}")),
    }
    for p in &panics {
        if p.origin == "omeflow" || p.origin.starts_with("unknown") {
            problems.push(format!(
                "a panic in {} at {}: {}",
                p.origin, p.location, p.message
            ));
        } else if matches!(ending, Ending::Err(..)) {
            let key = format!("{} at {}: {}", p.origin, p.location, p.message);
            let key: String = key.chars().take(160).collect();
            *stats.contained.entry(key).or_default() += 1;
        } else {
            problems.push(format!(
                "a panic in {} at {} ({}) and no error",
                p.origin, p.location, p.message
            ));
        }
    }
    if problems.is_empty() {
        return;
    }
    let dir = crash_dir(target, seed);
    let _ = fs::create_dir_all(&dir);
    for (name, bytes) in inputs {
        let _ = fs::write(dir.join(name.replace('/', "__")), bytes);
    }
    let replay = format!("OMEFLOW_FUZZ_REPLAY={target}:{seed:016x}");
    let _ = fs::write(
        dir.join("README.txt"),
        format!("{}\nreplay: {replay}\n", problems.join("\n")),
    );
    stats.failures.push(format!(
        "{replay}: {} (input in {})",
        problems.join("; "),
        dir.display()
    ));
}

// ---------------------------------------------------------------------------------------
// mutations

/// Numbers and values that break arithmetic and allocation.
fn extreme(rng: &mut Rng) -> Value {
    match rng.below(22) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1),
        3 => json!(9007199254740992u64), // 2^53
        4 => json!(9223372036854775807i64),
        5 => json!(9223372036854775808u64), // 2^63
        6 => json!(18446744073709551615u64),
        7 => serde_json::from_str("18446744073709551616").unwrap(), // 2^64, an f64
        8 => json!(1e308),
        9 => json!(-1e308),
        10 => json!("NaN"),
        11 => json!("Infinity"),
        12 => json!("-Infinity"),
        13 => json!(4294967296u64),
        14 => json!(65536),
        15 => json!(2147483648u64),
        16 => json!(0.5),
        17 => json!(-9223372036854775808i64),
        18 => json!(1u64 << 40),
        19 => json!(1u64 << 32 | 1),
        20 => json!(255),
        _ => json!(-0.0),
    }
}

fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0..=5 => extreme(rng),
        6 => Value::Null,
        7 => json!(true),
        8 => json!(""),
        9 => json!([]),
        10 => json!({}),
        11 => json!("\u{0}/../..//\u{7f}é"),
        12 => json!([[[]]]),
        _ => json!("x".repeat(rng.below(5000))),
    }
}

fn odd_dtype(rng: &mut Rng) -> Value {
    json!(rng.pick(&[
        "<u2",
        ">u2",
        "|u1",
        "<f8",
        ">i4",
        "<c8",
        "|b1",
        "<M8[ns]",
        "|S10",
        "<U4",
        "V8",
        "",
        "u2",
        "uint16",
        "float64",
        "int8",
        "bool",
        "complex64",
        "r16",
        "<u8",
        "<i8",
        "string",
        "float16",
        "uint64",
        "<f2",
        "|O",
    ]))
}

fn odd_codec(rng: &mut Rng) -> Value {
    let huge = extreme(rng);
    match rng.below(12) {
        0 => {
            json!({"id": "blosc", "cname": "lz4", "clevel": huge, "shuffle": -1, "blocksize": huge})
        }
        1 => json!({"id": "zstd", "level": huge}),
        2 => json!({"id": "lzma"}),
        3 => {
            json!({"name": "sharding_indexed", "configuration": {"chunk_shape": [huge, 1, 1, 1, 1],
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}})
        }
        4 => {
            json!({"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 1, 1, 1073741824, 1073741824],
            "codecs": [{"name": "bytes"}], "index_codecs": [{"name": "bytes"}, {"name": "crc32c"}],
            "index_location": "start"}})
        }
        5 => json!({"name": "transpose", "configuration": {"order": [4, 3, 2, 1, 1]}}),
        6 => json!({"name": "transpose", "configuration": {"order": [0, 1, 2, 3, 99]}}),
        7 => json!({"name": "bytes", "configuration": {"endian": "middle"}}),
        8 => json!({"name": "gzip", "configuration": {"level": huge}}),
        9 => {
            json!({"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "bitshuffle", "typesize": huge, "blocksize": 0}})
        }
        10 => json!({"name": "crc32c"}),
        _ => json!({"name": "vlen-utf8"}),
    }
}

fn huge_shape(rng: &mut Rng, n: usize) -> Value {
    let n = match rng.below(6) {
        0 => 0,
        1 => n + 1,
        2 => n.saturating_sub(1),
        3 => 64,
        _ => n,
    };
    Value::Array((0..n).map(|_| extreme(rng)).collect())
}

/// Every path to a value in `v`, as a list of keys and indices.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                here.push(Step::Key(k.clone()));
                paths(x, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate().take(64) {
                here.push(Step::Index(i));
                paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in path {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// One structural mutation of a JSON document.
fn mutate_json(rng: &mut Rng, doc: &mut Value) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let key = match path.last() {
        Some(Step::Key(k)) => k.clone(),
        _ => String::new(),
    };
    let Some(node) = at(doc, &path) else { return };
    // Targeted: what the key means.
    if rng.chance(2) {
        match key.as_str() {
            "shape" | "chunks" | "chunk_shape" => {
                let n = node.as_array().map_or(5, Vec::len);
                *node = match rng.below(4) {
                    0 => huge_shape(rng, n),
                    1 => json!([1, 1, 1, 1073741824, 1073741824]),
                    2 => json!([1, 1, 1, 65536, 65536]),
                    _ => {
                        let mut a = node.clone();
                        if let Some(x) = a.as_array_mut().and_then(|a| {
                            let i = rng.below(a.len());
                            a.get_mut(i)
                        }) {
                            *x = extreme(rng);
                        }
                        a
                    }
                };
                return;
            }
            "dtype" | "data_type" => {
                *node = odd_dtype(rng);
                return;
            }
            "compressor" => {
                *node = odd_codec(rng);
                return;
            }
            "codecs" | "index_codecs" | "filters" => {
                if let Some(a) = node.as_array_mut() {
                    let i = rng.below(a.len() + 1);
                    a.insert(i, odd_codec(rng));
                } else {
                    *node = json!([odd_codec(rng)]);
                }
                return;
            }
            "axes" | "datasets" | "coordinateTransformations" | "multiscales" | "channels" => {
                if let Some(a) = node.as_array_mut() {
                    match rng.below(4) {
                        // Duplicate an element (duplicate axes, levels).
                        0 if !a.is_empty() => {
                            let i = rng.below(a.len());
                            let x = a[i].clone();
                            a.insert(rng.below(a.len() + 1), x);
                        }
                        1 => a.clear(),
                        2 if !a.is_empty() => {
                            let x = a[0].clone();
                            let n = rng.pick(&[100usize, 10_000]);
                            a.resize(*n, x);
                        }
                        _ => a.reverse(),
                    }
                    return;
                }
            }
            "path" => {
                *node = json!(rng.pick(&[
                    "",
                    "/",
                    "..",
                    "../0",
                    "0/../../..",
                    "0/0",
                    "//",
                    "\u{0}",
                    "a\\b",
                    "zarr.json"
                ]));
                return;
            }
            "dimension_separator" | "separator" => {
                *node = json!(rng.pick(&[".", "/", "", "//", "x", "\\"]));
                return;
            }
            "fill_value" => {
                *node = match rng.below(3) {
                    0 => odd_value(rng),
                    1 => json!("0x7fc00000"),
                    _ => json!([1, 2]),
                };
                return;
            }
            "scale" | "translation" => {
                *node = match rng.below(3) {
                    0 => json!([0, 0, 0, 0, 0]),
                    1 => json!([1e308, -1e308, 1e-308, 0, 1]),
                    _ => huge_shape(rng, 5),
                };
                return;
            }
            _ => {}
        }
    }
    match rng.below(9) {
        0 | 1 => *node = extreme(rng),
        2 => *node = odd_value(rng),
        3 => {
            // Swap the type: numbers become strings, lists objects, and so on.
            *node = match node.take() {
                Value::Number(n) => json!(n.to_string()),
                Value::String(s) => s.parse::<f64>().map_or(json!([s]), |f| json!(f)),
                Value::Array(a) => json!({"0": a}),
                Value::Object(m) => Value::Array(m.into_iter().map(|(_, v)| v).collect()),
                Value::Bool(b) => json!(u8::from(b)),
                Value::Null => json!(0),
            }
        }
        4 => {
            // Remove a key of this object, or of its parent.
            if let Some(m) = node.as_object_mut() {
                let keys: Vec<String> = m.keys().cloned().collect();
                if !keys.is_empty() {
                    m.remove(&keys[rng.below(keys.len())]);
                }
            } else if path.len() > 1 {
                if let (Some(Step::Key(k)), Some(parent)) =
                    (path.last(), at(doc, &path[..path.len() - 1]))
                {
                    if let Some(m) = parent.as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        5 => {
            // Deep nesting (serde_json refuses more than 128 levels; this stays under it).
            let mut x = node.take();
            for _ in 0..rng.below(120) {
                x = json!([x]);
            }
            *node = x;
        }
        6 => {
            if let Some(a) = node.as_array_mut() {
                let fill = a.first().cloned().unwrap_or_else(|| extreme(rng));
                // Long lists of scalars; of lists and objects, fewer, so that the memory
                // measured is the reader's, not the fuzzer's own documents.
                let most = if fill.is_object() || fill.is_array() {
                    1000
                } else {
                    100_000
                };
                let n = (*rng.pick(&[0usize, 1, 1000, 100_000])).min(most);
                a.resize(n, fill);
            } else {
                *node = Value::Array(vec![extreme(rng); 1000]);
            }
        }
        7 => {
            if let Some(m) = node.as_object_mut() {
                m.insert("must_understand".into(), json!(rng.chance(2)));
                m.insert(format!("x{}", rng.below(9)), odd_value(rng));
            } else {
                *node = json!({"name": "?", "configuration": node.take()});
            }
        }
        _ => {
            if let Some(n) = node.as_f64() {
                *node = json!(n + 1.0);
            } else {
                *node = json!(-1);
            }
        }
    }
}

/// A key of the serialized document written twice (serde_json keeps the last one).
fn duplicate_a_key(rng: &mut Rng, text: &str) -> String {
    let keys: Vec<usize> = text.match_indices("\":").map(|(i, _)| i).collect();
    if keys.is_empty() {
        return text.to_string();
    }
    let end = *rng.pick(&keys) + 1;
    let Some(start) = text[..end - 1].rfind('"') else {
        return text.to_string();
    };
    let key = &text[start..end];
    let value = odd_value(rng).to_string();
    format!("{}{key}:{value},{}", &text[..start], &text[start..])
}

/// One byte-level mutation.
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, donor: &[u8]) {
    let len = data.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, b'"', b'{', b'[', b'9', b'-', b'\\']);
        }
        2 => data.truncate(rng.below(len + 1)),
        3 if len > 0 => {
            let a = rng.below(len);
            let b = (a + rng.below(64)).min(len);
            data.drain(a..b);
        }
        4 if !donor.is_empty() => {
            // Splice a run of another document in.
            let a = rng.below(donor.len());
            let b = (a + 1 + rng.below(256)).min(donor.len());
            let at = rng.below(len + 1);
            data.splice(at..at, donor[a..b].iter().copied());
        }
        5 if len > 0 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(32)).min(len);
            let run = data[a..b].to_vec();
            for _ in 0..rng.below(200) {
                data.splice(a..a, run.iter().copied());
            }
        }
        6 => {
            let at = rng.below(len + 1);
            let n = rng.below(64);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, junk);
        }
        7 if len > 0 => {
            // Overwrite a number with an extreme one.
            let digits: Vec<usize> = (0..len).filter(|&i| data[i].is_ascii_digit()).collect();
            if let Some(&i) = digits.get(rng.below(digits.len())) {
                let mut j = i;
                while j < len && data[j].is_ascii_digit() {
                    j += 1;
                }
                let x = extreme(rng).to_string();
                data.splice(i..j, x.bytes());
            }
        }
        _ => {
            for _ in 0..1 + rng.below(8) {
                if data.is_empty() {
                    break;
                }
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// seed images

/// The 5-D test data: deterministic values with some structure.
fn pattern(shape: [usize; 5]) -> Array5<u16> {
    Array5::from_shape_fn(shape, |(t, c, z, y, x)| {
        ((t * 7 + c * 31 + z * 3 + y * 5 + x * 11) % 4093) as u16 + (x as u16 & 3)
    })
}

const AXES: &str = r#"[{"name":"t","type":"time"},{"name":"c","type":"channel"},
    {"name":"z","type":"space"},{"name":"y","type":"space","unit":"micrometer"},
    {"name":"x","type":"space","unit":"micrometer"}]"#;

/// An image of one level written by zarrs with the array metadata `array` (v2 or v3).
fn zarrs_image(dir: &Path, name: &str, array: Value) -> PathBuf {
    use zarrs::storage::{ListableStorageTraits, ReadableStorageTraits};
    let root = dir.join(name);
    let v3 = array.get("zarr_format") == Some(&json!(3));
    let shape: Vec<usize> = serde_json::from_value(array["shape"].clone()).unwrap();
    let store = Arc::new(zarrs::storage::store::MemoryStore::new());
    let meta: zarrs::array::ArrayMetadata = serde_json::from_value(array).unwrap();
    let arr = zarrs::array::Array::new_with_metadata(store.clone(), "/0", meta).unwrap();
    arr.store_metadata().unwrap();
    let data = pattern([shape[0], shape[1], shape[2], shape[3], shape[4]]);
    let all = zarrs::array::ArraySubset::new_with_shape(shape.iter().map(|&n| n as u64).collect());
    arr.store_array_subset(&all, data).unwrap();
    for key in store.list().unwrap() {
        let bytes = store.get(&key).unwrap().unwrap();
        let path = root.join(key.as_str());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, &bytes).unwrap();
    }
    let axes: Value = serde_json::from_str(AXES).unwrap();
    let ms = json!([{"axes": axes, "name": name, "datasets": [{"path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 2.0, 0.5, 0.5]}]}]}]);
    if v3 {
        let group = json!({"zarr_format": 3, "node_type": "group",
            "attributes": {"ome": {"version": "0.5", "multiscales": ms}}});
        fs::write(root.join("zarr.json"), group.to_string()).unwrap();
    } else {
        let mut ms = ms;
        ms[0]["version"] = json!("0.4");
        fs::write(root.join(".zgroup"), r#"{"zarr_format":2}"#).unwrap();
        fs::write(
            root.join(".zattrs"),
            json!({ "multiscales": ms }).to_string(),
        )
        .unwrap();
    }
    root
}

fn v2_array(compressor: Value) -> Value {
    json!({"zarr_format": 2, "shape": [1, 2, 2, 40, 48], "chunks": [1, 1, 1, 32, 32],
        "dtype": "<u2", "compressor": compressor, "fill_value": 0, "order": "C",
        "filters": null, "dimension_separator": "/"})
}

fn v3_array(codecs: Value, chunk: [u64; 5]) -> Value {
    json!({"zarr_format": 3, "node_type": "array", "shape": [1, 2, 2, 40, 48],
        "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": codecs, "dimension_names": ["t", "c", "z", "y", "x"]})
}

fn bytes_codec() -> Value {
    json!({"name": "bytes", "configuration": {"endian": "little"}})
}

/// How an image's chunks are encoded, for codec-aware mutations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Coding {
    Blosc,
    Zstd,
    Gzip,
    Zlib,
    Raw,
    /// v3 sharding, the index with or without its crc32c.
    Shard {
        crc: bool,
    },
    /// v3 gzip then crc32c.
    GzipCrc,
}

struct Seeds {
    _dir: tempfile::TempDir,
    images: Vec<(PathBuf, Coding)>,
}

fn seeds() -> Seeds {
    let dir = tempfile::tempdir().unwrap();
    let mut images = Vec::new();
    for (name, version) in [("s04", NgffVersion::V0_4), ("s05", NgffVersion::V0_5)] {
        let path = dir.path().join(name);
        let spec = SampleSpec {
            shape: [2, 2, 3, 48, 40],
            nuclei: 3,
            levels: 2,
            version,
            seed: 7,
            ..SampleSpec::default()
        };
        write_sample(path.to_str().unwrap(), &spec).unwrap();
        images.push((path, Coding::Blosc));
    }
    let d = dir.path();
    images.push((
        zarrs_image(d, "zstd", v2_array(json!({"id": "zstd", "level": 3}))),
        Coding::Zstd,
    ));
    images.push((
        zarrs_image(d, "gzip", v2_array(json!({"id": "gzip", "level": 5}))),
        Coding::Gzip,
    ));
    images.push((
        zarrs_image(d, "zlib", v2_array(json!({"id": "zlib", "level": 5}))),
        Coding::Zlib,
    ));
    images.push((zarrs_image(d, "raw", v2_array(Value::Null)), Coding::Raw));
    for crc in [false, true] {
        let mut index = vec![bytes_codec()];
        if crc {
            index.push(json!({"name": "crc32c"}));
        }
        let shard = json!([{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [1, 1, 1, 16, 16],
            "codecs": [bytes_codec(), {"name": "zstd", "configuration": {"level": 3, "checksum": false}}],
            "index_codecs": index, "index_location": "end"}}]);
        let name = if crc { "shard-crc" } else { "shard" };
        images.push((
            zarrs_image(d, name, v3_array(shard, [1, 1, 2, 32, 32])),
            Coding::Shard { crc },
        ));
    }
    let codecs =
        json!([bytes_codec(), {"name": "gzip", "configuration": {"level": 5}}, {"name": "crc32c"}]);
    images.push((
        zarrs_image(d, "gzip-crc", v3_array(codecs, [1, 1, 1, 32, 32])),
        Coding::GzipCrc,
    ));
    // Every seed reads back as written, or the fuzzer would be mutating broken data.
    for (path, coding) in &images {
        let image = OmeZarr::open(path.to_str().unwrap(), &StoreOptions::default())
            .unwrap_or_else(|e| panic!("{coding:?}: {e}"));
        let level = image.level(0).unwrap();
        let [_, nc, nz, _, _] = level.shape();
        level
            .plane(0, nc - 1, nz - 1)
            .unwrap_or_else(|e| panic!("{coding:?}: {e}"));
    }
    Seeds { _dir: dir, images }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn is_metadata(p: &Path) -> bool {
    matches!(
        p.file_name().and_then(|n| n.to_str()),
        Some(".zarray" | ".zattrs" | ".zgroup" | "zarr.json" | ".omeflow-write.json")
    )
}

/// Everything a reader does with an image: open, info, every level, its first plane (with a
/// 256 MiB budget, so that a legitimately large plane of fill values is refused, not read).
fn read_image(location: &str, plane: Option<[usize; 3]>) -> omeflow::Result<()> {
    let image = OmeZarr::open(location, &StoreOptions::default())?;
    let _ = image.info();
    let _ = image.labels();
    let mut first = Ok(());
    for k in 0..image.level_count().min(8) {
        let r = image.level(k).and_then(|level| {
            let [t, c, z] = plane.unwrap_or([0, 0, 0]);
            let level = level.with_memory_budget(256 << 20);
            level.plane(t, c, z).map(|_| ())
        });
        if first.is_ok() {
            first = r;
        }
    }
    first
}

fn restore(files: &[(PathBuf, Vec<u8>)]) {
    for (p, b) in files {
        fs::write(p, b).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// 1. NGFF / Zarr metadata

#[test]
fn fuzz_ngff_metadata() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = case_seeds("metadata", 1.0);
    if cases.is_empty() {
        return;
    }
    let seeds = seeds();
    let mut docs: Vec<(usize, PathBuf)> = Vec::new();
    for (i, (root, _)) in seeds.images.iter().enumerate() {
        let mut files = Vec::new();
        walk(root, &mut files);
        files.sort();
        docs.extend(files.into_iter().filter(|p| is_metadata(p)).map(|p| (i, p)));
    }
    let originals: Vec<Vec<u8>> = docs.iter().map(|(_, p)| fs::read(p).unwrap()).collect();
    let start = Instant::now();
    let mut stats = Stats::default();
    for seed in cases {
        let mut rng = Rng(seed);
        let (image, _) = docs[rng.below(docs.len())];
        let candidates: Vec<usize> = (0..docs.len()).filter(|&k| docs[k].0 == image).collect();
        let mut touched = Vec::new();
        let mut inputs = Vec::new();
        for _ in 0..1 + usize::from(rng.chance(4)) {
            let k = *rng.pick(&candidates);
            let path = &docs[k].1;
            let mut bytes = originals[k].clone();
            if rng.chance(3) {
                let donor = &originals[rng.below(originals.len())];
                for _ in 0..1 + rng.below(3) {
                    mutate_bytes(&mut rng, &mut bytes, donor);
                }
            } else if let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) {
                for _ in 0..1 + rng.below(3) {
                    mutate_json(&mut rng, &mut doc);
                }
                let mut text = doc.to_string();
                if rng.chance(6) {
                    text = duplicate_a_key(&mut rng, &text);
                }
                bytes = text.into_bytes();
            }
            if rng.chance(30) {
                // Nesting past serde_json's limit.
                bytes = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
            }
            fs::write(path, &bytes).unwrap();
            let name = path
                .strip_prefix(seeds._dir.path())
                .unwrap()
                .display()
                .to_string();
            inputs.push((name, bytes));
            touched.push((path.clone(), originals[k].clone()));
        }
        let location = seeds.images[image].0.to_str().unwrap().to_string();
        mark("metadata", seed);
        let outcome = run_case(Duration::from_secs(30), move || read_image(&location, None));
        judge(&mut stats, "metadata", seed, outcome, None, &inputs);
        restore(&touched);
    }
    stats.finish("metadata", start);
}

// ---------------------------------------------------------------------------------------
// 2. chunk decoding through zarrs

fn put_u32(data: &mut [u8], at: usize, v: u32) {
    if data.len() >= at + 4 {
        data[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

fn put_u64(data: &mut [u8], at: usize, v: u64) {
    if data.len() >= at + 8 {
        data[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
}

fn near_max(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => u64::MAX,
        1 => u64::MAX - rng.below(64) as u64,
        2 => u64::MAX / 2 + 1,
        3 => 1 << 63,
        4 => i64::MAX as u64 - rng.below(8) as u64,
        _ => u64::MAX - 15,
    }
}

fn small_or_huge_u32(rng: &mut Rng, honest: u32) -> u32 {
    match rng.below(7) {
        0 => 0,
        1 => u32::MAX,
        2 => honest.wrapping_add(1),
        3 => honest.wrapping_sub(1),
        4 => 1 << 31,
        5 => rng.next() as u32,
        _ => 16,
    }
}

/// The Castagnoli CRC of the v3 `crc32c` codec.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A codec-aware mutation of a chunk (or shard) of `coding`.
fn mutate_chunk(rng: &mut Rng, coding: Coding, data: &mut Vec<u8>) {
    let len = data.len();
    match coding {
        Coding::Blosc if rng.chance(2) && len >= 16 => {
            // The header: version, versionlz, flags, typesize, nbytes, blocksize, cbytes. The
            // stored size is kept true most of the time, so that zarrs' decoder is reached.
            let word =
                |d: &[u8], i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
            match rng.below(6) {
                0 => data[rng.below(4)] = rng.next() as u8,
                1 => {
                    let honest = word(data, 8);
                    put_u32(data, 8, small_or_huge_u32(rng, honest));
                }
                2 => {
                    let honest = word(data, 4);
                    put_u32(data, 4, small_or_huge_u32(rng, honest));
                }
                3 => {
                    let honest = word(data, 12);
                    put_u32(data, 12, small_or_huge_u32(rng, honest));
                }
                4 => {
                    // The block starts after the header, then the blocks.
                    let i = 16 + rng.below(len.saturating_sub(16).min(64));
                    if i + 4 <= len {
                        let honest = word(data, i);
                        put_u32(data, i, small_or_huge_u32(rng, honest));
                    }
                }
                _ => {
                    let i = 16 + rng.below(len - 16 + 1);
                    if i < len {
                        data[i] ^= 1 << rng.below(8);
                    }
                }
            }
        }
        Coding::Zstd if rng.chance(2) && len >= 6 => {
            // The frame header descriptor says how wide the content size is.
            let fhd = data[4];
            let single = fhd & 0x20 != 0;
            let dict = [0, 1, 2, 4][usize::from(fhd & 3)];
            let fcs = match fhd >> 6 {
                0 => usize::from(single),
                1 => 2,
                2 => 4,
                _ => 8,
            };
            let at = 5 + usize::from(!single) + dict;
            match rng.below(3) {
                0 if fcs > 0 => {
                    for i in 0..fcs {
                        if at + i < len {
                            data[at + i] = if rng.chance(2) {
                                0xff
                            } else {
                                rng.next() as u8
                            };
                        }
                    }
                }
                1 => data[4] = rng.next() as u8,
                _ => {
                    let i = rng.below(len);
                    data[i] ^= 1 << rng.below(8);
                }
            }
        }
        Coding::Gzip if rng.chance(3) && len >= 8 => {
            // ISIZE, the trailer's decoded length.
            let v = small_or_huge_u32(rng, 0);
            put_u32(data, len - 4, v);
        }
        Coding::Shard { crc } if rng.chance(3) => {
            // The index at the end: (offset, nbytes) per inner chunk, then its crc32c.
            let tail = if crc { 4 } else { 0 };
            let n = 2 * 2 * 2; // inner chunks per shard
            let index_len = n * 16 + tail;
            if len < index_len {
                return;
            }
            let base = len - index_len;
            for _ in 0..1 + rng.below(3) {
                let entry = base + 16 * rng.below(n);
                match rng.below(6) {
                    0 => put_u64(data, entry, near_max(rng)),
                    1 => put_u64(data, entry + 8, near_max(rng)),
                    2 => {
                        put_u64(data, entry, near_max(rng));
                        put_u64(data, entry + 8, rng.below(64) as u64 + 1);
                    }
                    3 => put_u64(data, entry + 8, u64::MAX - near_max(rng) / 2),
                    4 => {
                        put_u64(data, entry, rng.below(len) as u64);
                        put_u64(data, entry + 8, len as u64);
                    }
                    _ => put_u64(data, entry, u64::MAX),
                }
            }
            if crc && rng.below(5) != 0 {
                // Mostly a true checksum, so that the index itself is read.
                let c = crc32c(&data[base..len - 4]);
                put_u32(data, len - 4, c);
            }
        }
        _ => {
            let donor = data.clone();
            for _ in 0..1 + rng.below(3) {
                mutate_bytes(rng, data, &donor);
            }
            if rng.chance(8) {
                data.resize(data.len() + rng.below(1 << 16), rng.next() as u8);
            }
        }
    }
}

/// The (t, c, z) of the first plane a chunk file of `root` holds, from its key.
fn plane_of(root: &Path, chunk: &Path) -> [usize; 3] {
    let rel = chunk.strip_prefix(root).unwrap();
    let parts: Vec<usize> = rel
        .iter()
        .filter_map(|s| s.to_str()?.parse().ok())
        .collect();
    // `<level>/t/c/z/y/x` or `<level>/c/t/c/z/y/x`; chunk sizes along t, c, z are 1 except the
    // sharded arrays' z (2).
    let idx = &parts[parts.len().saturating_sub(5)..];
    let zs = if root.ends_with("shard") || root.ends_with("shard-crc") {
        2
    } else {
        1
    };
    [idx[0], idx[1], idx[2] * zs]
}

#[test]
fn fuzz_chunk_decoding() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = case_seeds("chunks", 1.0);
    if cases.is_empty() {
        return;
    }
    let seeds = seeds();
    let mut chunks: Vec<(usize, PathBuf, Vec<u8>)> = Vec::new();
    for (i, (root, _)) in seeds.images.iter().enumerate() {
        let mut files = Vec::new();
        walk(root, &mut files);
        files.sort();
        for p in files.into_iter().filter(|p| !is_metadata(p)) {
            let b = fs::read(&p).unwrap();
            chunks.push((i, p, b));
        }
    }
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut by_coding: BTreeMap<String, usize> = BTreeMap::new();
    for seed in cases {
        let mut rng = Rng(seed);
        let (image, path, original) = &chunks[rng.below(chunks.len())];
        let (root, coding) = &seeds.images[*image];
        let mut bytes = original.clone();
        for _ in 0..1 + usize::from(rng.chance(3)) {
            mutate_chunk(&mut rng, *coding, &mut bytes);
        }
        fs::write(path, &bytes).unwrap();
        *by_coding.entry(format!("{coding:?}")).or_default() += 1;
        let rel = path.strip_prefix(seeds._dir.path()).unwrap();
        let inputs = vec![(rel.display().to_string(), bytes)];
        let plane = plane_of(root, path);
        let location = root.to_str().unwrap().to_string();
        mark("chunks", seed);
        let outcome = run_case(Duration::from_secs(30), move || {
            let image = OmeZarr::open(&location, &StoreOptions::default())?;
            let level = image.level(0)?;
            let [t, c, z] = plane;
            level.plane(t, c, z).map(|_| ())
        });
        judge(
            &mut stats,
            "chunks",
            seed,
            outcome,
            Some(&["CorruptChunk", "Storage", "InvalidMetadata"]),
            &inputs,
        );
        fs::write(path, original).unwrap();
    }
    println!("fuzz chunks: inputs by coding {by_coding:?}");
    stats.finish("chunks", start);
}

// ---------------------------------------------------------------------------------------
// 3. OMERO JSON answers

/// What the fake server mutates: a case seed, and a count of requests within the case.
struct ServerState {
    seed: AtomicU64,
    requests: AtomicU64,
}

fn image_json(id: u64, channels: bool) -> Value {
    let mut pixels = json!({
        "@id": id.wrapping_add(100000),
        "SizeX": 40, "SizeY": 48, "SizeZ": 2, "SizeC": 2, "SizeT": 1, "SignificantBits": 16,
        "PhysicalSizeX": {"Symbol": "µm", "Value": 0.4, "Unit": "MICROMETER"},
        "PhysicalSizeY": {"Symbol": "µm", "Value": 0.4, "Unit": "MICROMETER"},
        "PhysicalSizeZ": {"Symbol": "µm", "Value": 2.0, "Unit": "MICROMETER"},
        "Type": {"value": "uint16"}
    });
    if channels {
        pixels["Channels"] = json!([
            {"@id": 1, "Name": "H2B", "Color": 65535,
             "EmissionWavelength": {"Symbol": "nm", "Value": 470, "Unit": "NANOMETER"}},
            {"@id": 2, "Name": "LaminB1", "Color": -16776961}
        ]);
    }
    json!({"@id": id, "@type": "http://www.openmicroscopy.org/Schemas/OME/2016-06#Image",
        "Name": format!("image-{id}.tif"), "AcquisitionDate": 1235730332000u64, "Pixels": pixels})
}

/// The recorded answer of OMERO.web to `path` (../shared/reference/omero-json-api.md).
fn omero_answer(base: &str, method: &str, path: &str) -> (u16, Value, Vec<String>) {
    let p = path.split('?').next().unwrap_or("");
    let offset: u64 = path
        .split_once("offset=")
        .and_then(|(_, v)| v.split('&').next()?.parse().ok())
        .unwrap_or(0);
    let seg: Vec<&str> = p.trim_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("GET", ["api"]) => (
            200,
            json!({"data": [{"version": "0", "url:base": format!("{base}/api/v0/")}]}),
            vec!["sessionid=pub-7; HttpOnly; Path=/".into()],
        ),
        ("GET", ["api", "v0"]) => (
            200,
            json!({"url:login": format!("{base}/api/v0/login/"), "url:token": format!("{base}/api/v0/token/"),
                "url:servers": format!("{base}/api/v0/servers/"), "url:images": format!("{base}/api/v0/m/images/")}),
            vec![],
        ),
        ("GET", ["api", "v0", "token"]) => (
            200,
            json!({"data": "tok"}),
            vec!["csrftoken=tok; Path=/".into()],
        ),
        ("GET", ["api", "v0", "servers"]) => (
            200,
            json!({"data": [{"host": "localhost", "server": "omero", "id": 1, "port": 4064}]}),
            vec![],
        ),
        ("POST", ["api", "v0", "login"]) => (
            200,
            json!({"success": true, "eventContext": {"userName": "alice", "userId": 52,
                "sessionUuid": "uuid-1", "groupId": 3, "groupName": "training"}}),
            vec![
                "sessionid=sess-1; HttpOnly; Path=/".into(),
                "csrftoken=tok2; Path=/".into(),
            ],
        ),
        ("GET", ["api", "v0", "m", "projects"]) => {
            (200, json!({"data": [], "meta": {"totalCount": 0}}), vec![])
        }
        ("GET", ["api", "v0", "m", "images", id]) => {
            let id = id.parse().unwrap_or(1);
            (200, json!({"data": image_json(id, true)}), vec![])
        }
        ("GET", ["webgateway", "imgData", id]) => (
            200,
            json!({"id": id.parse::<u64>().unwrap_or(0), "meta": {"imageName": "a.tif", "pixelsType": "uint16",
                "projectName": "idr0062-blin-nuclearsegmentation/experimentA"},
                "size": {"width": 40, "height": 48, "z": 2, "t": 1, "c": 2}}),
            vec![],
        ),
        ("GET", ["api", "v0", "m", "datasets", id]) => (
            200,
            json!({"data": {"@id": id.parse::<u64>().unwrap_or(0), "Name": "a dataset"}}),
            vec![],
        ),
        ("GET", ["api", "v0", "m", "datasets", _, "images"]) => {
            let page: Vec<Value> = (0..3)
                .filter(|i| offset + i < 7)
                .map(|i| image_json(100 + offset + i, false))
                .collect();
            (
                200,
                json!({"data": page, "meta": {"totalCount": 7, "limit": 3, "offset": offset, "maxLimit": 3}}),
                vec![],
            )
        }
        ("POST", ["webclient", "logout"]) => (200, json!({}), vec![]),
        _ => (404, json!({"message": "no such page"}), vec![]),
    }
}

fn serve(stream: &mut TcpStream, base: &str, state: &ServerState) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let common::HttpRequest { method, path, .. } = common::read_http_request(stream)?;
    let (mut status, doc, cookies) = omero_answer(base, &method, &path);
    let k = state.requests.fetch_add(1, Ordering::SeqCst);
    let mut rng = Rng(state.seed.load(Ordering::SeqCst) ^ k.wrapping_mul(0x9e37_79b9) ^ fnv(&path));
    let mut body = doc.to_string().into_bytes();
    // One answer of the case is mutated (which one, the case seed says), and now and then
    // another: every call's parser is reached with the calls before it answered truly.
    let chosen = Rng(state.seed.load(Ordering::SeqCst)).next() % 8;
    if k == chosen || rng.chance(10) {
        if rng.chance(3) {
            let donor = body.clone();
            for _ in 0..1 + rng.below(3) {
                mutate_bytes(&mut rng, &mut body, &donor);
            }
        } else {
            let mut doc = doc;
            for _ in 0..1 + rng.below(4) {
                mutate_json(&mut rng, &mut doc);
            }
            let mut text = doc.to_string();
            if rng.chance(6) {
                text = duplicate_a_key(&mut rng, &text);
            }
            body = text.into_bytes();
        }
    }
    if rng.chance(12) {
        status = *rng.pick(&[
            0u16, 100, 204, 301, 302, 307, 400, 401, 403, 404, 418, 500, 503, 999,
        ]);
    }
    let mut head =
        format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n");
    for c in cookies {
        head.push_str(&format!("Set-Cookie: {c}\r\n"));
    }
    if (300..400).contains(&status) {
        let to = rng.pick(&[
            "/api/v0/m/images/1/",
            "/api/",
            "http://127.0.0.1:1/x",
            "//",
            "",
        ]);
        head.push_str(&format!("Location: {to}\r\n"));
    }
    if rng.chance(10) {
        head.push_str(&format!(
            "Content-Length: {}\r\n\r\n",
            body.len() as u64 + rng.below(1 << 20) as u64
        ));
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&body).ok()?;
    stream.flush().ok()
}

fn fake_omero() -> (String, Arc<ServerState>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(ServerState {
        seed: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let (b, s) = (base.clone(), state.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (b, s) = (b.clone(), s.clone());
            std::thread::spawn(move || {
                let _ = serve(&mut stream, &b, &s);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (base, state)
}

#[test]
fn fuzz_omero_answers() {
    use omeflow::display::Show;
    use omeflow::omero::{connect_with, ConnectOptions, ImageTable};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = case_seeds("omero", 0.25);
    if cases.is_empty() {
        return;
    }
    let (base, state) = fake_omero();
    let start = Instant::now();
    let mut stats = Stats::default();
    for seed in cases {
        state.seed.store(seed, Ordering::SeqCst);
        state.requests.store(0, Ordering::SeqCst);
        let mut rng = Rng(seed);
        let login = rng.chance(3);
        let base = base.clone();
        let image_id = *rng.pick(&[1u64, 7, 4007801, u64::MAX]);
        mark("omero", seed);
        let outcome = run_case(Duration::from_secs(30), move || {
            let options = ConnectOptions::default()
                .with_retries(0)
                .with_timeout(Duration::from_secs(2))
                .with_max_images(50)
                .with_pixels_template("/nonexistent/{id}.zarr");
            let mut options = options;
            options.connect_timeout = Duration::from_secs(1);
            let (user, password) = if login { ("alice", "secret") } else { ("", "") };
            let conn = connect_with(&base, user, password, options)?;
            let mut first = Ok(());
            match conn.image(image_id) {
                Ok(image) => {
                    let _ = image.to_string();
                    let _ = image.to_html();
                    let _ = image.planes().take(4).count();
                    let _ = (image.size_t(), image.size_c(), image.size_z());
                    let _: Vec<String> = image.channels().iter().map(|c| c.label()).collect();
                    let _ = image.pixels(0);
                }
                Err(e) => first = Err(e),
            }
            match conn.dataset_images(2) {
                Ok(images) => {
                    let _ = ImageTable(&images).to_html();
                }
                Err(e) => {
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
            }
            let _ = conn.disconnect();
            first
        });
        judge(&mut stats, "omero", seed, outcome, None, &[]);
    }
    stats.finish("omero", start);
}

// ---------------------------------------------------------------------------------------
// 4. .ilp attributes

/// The real ilastik projects of ../shared/data; empty (and one line) when it is absent.
fn ilps() -> Vec<std::path::PathBuf> {
    [
        "ilastik/pixel-class-133.ilp",
        "ilastik/ilastik14-Nov-2024.ilp",
    ]
    .iter()
    .filter_map(|rel| common::shared_data(rel))
    .collect()
}

/// Every dataset of an HDF5 file, by path.
fn datasets(group: &hdf5::Group, prefix: &str, out: &mut Vec<String>) {
    for name in group.member_names().unwrap_or_default() {
        let path = format!("{prefix}/{name}");
        if let Ok(g) = group.group(&name) {
            datasets(&g, &path, out);
        } else if group.dataset(&name).is_ok() {
            out.push(path);
        }
    }
}

/// Replace (or remove) the dataset `name` by one of extreme values.
fn replace_dataset(rng: &mut Rng, f: &hdf5::File, name: &str) -> String {
    use hdf5::types::VarLenUnicode;
    let _ = f.unlink(name);
    let f64s = [
        0.0,
        -1.0,
        1e18,
        -1e308,
        1e308,
        f64::NAN,
        f64::INFINITY,
        4e9,
        2.5,
        9.007e15,
        1.8446744073709552e19,
    ];
    let i64s = [0i64, -1, i64::MAX, i64::MIN, 1 << 32, 1 << 53, 255, 65536];
    let built = match rng.below(9) {
        0 => return format!("{name}: removed"),
        1 => {
            let v = *rng.pick(&f64s);
            let n = *rng.pick(&[1usize, 1, 2, 3, 1000]);
            f.new_dataset_builder()
                .with_data(&ndarray::Array1::from(vec![v; n]))
                .create(name)
                .map(|_| format!("{name}: {n} x f64 {v}"))
        }
        2 => {
            let v = *rng.pick(&i64s);
            let n = *rng.pick(&[1usize, 1, 2, 5, 1000]);
            f.new_dataset_builder()
                .with_data(&ndarray::Array1::from(vec![v; n]))
                .create(name)
                .map(|_| format!("{name}: {n} x i64 {v}"))
        }
        3 => {
            let s: VarLenUnicode = rng
                .pick(&[
                    "",
                    "Pixel Classification",
                    "1.3.3post2",
                    "\u{1}é",
                    "GaussianSmoothing",
                    "9999.1",
                    "Object Classification",
                ])
                .parse()
                .unwrap();
            f.new_dataset_builder()
                .with_data(&ndarray::arr0(s.clone()))
                .create(name)
                .map(|_| format!("{name}: string {s:?}"))
        }
        4 => {
            let n = *rng.pick(&[1usize << 20, 1 << 30, 1 << 40]);
            f.new_dataset::<f64>()
                .chunk(1 << 12)
                .shape(n)
                .create(name)
                .map(|_| format!("{name}: {n} f64 declared, none stored"))
        }
        5 => {
            let (a, b) = (
                *rng.pick(&[0usize, 1, 3, 7, 1000]),
                *rng.pick(&[0usize, 1, 2, 122]),
            );
            f.new_dataset_builder()
                .with_data(&ndarray::Array2::<u8>::from_elem((a, b), 1))
                .create(name)
                .map(|_| format!("{name}: {a}x{b} u8"))
        }
        6 => f
            .new_dataset_builder()
            .with_data(&ndarray::Array1::<f32>::zeros(0))
            .create(name)
            .map(|_| format!("{name}: empty")),
        7 => {
            let v = rng.chance(2);
            f.new_dataset_builder()
                .with_data(&ndarray::arr1(&[v, !v, v]))
                .create(name)
                .map(|_| format!("{name}: bools"))
        }
        _ => {
            let (a, b, c) = (
                *rng.pick(&[1usize, 2, 1 << 16]),
                *rng.pick(&[1usize, 1 << 16]),
                *rng.pick(&[1usize, 1 << 20]),
            );
            f.new_dataset::<u32>()
                .chunk((1, 1, 1))
                .shape((a, b, c))
                .create(name)
                .map(|_| format!("{name}: {a}x{b}x{c} u32 declared"))
        }
    };
    built.unwrap_or_else(|e| format!("{name}: not replaced ({e})"))
}

#[test]
fn fuzz_ilp_attributes() {
    use omeflow::classify::{classify, Project};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = case_seeds("ilp", 0.05);
    if cases.is_empty() {
        return;
    }
    let ilps = ilps();
    if ilps.len() < 2 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lists: Vec<Vec<String>> = ilps
        .iter()
        .map(|p| {
            let f = hdf5::File::open(p).unwrap();
            let mut out = Vec::new();
            datasets(&f.group("/").unwrap(), "", &mut out);
            // Only the small ones are rewritten: the attributes and the forest's parameters,
            // not the label blocks (whose sizes are bounded separately).
            out.retain(|d| {
                f.dataset(d)
                    .map(|ds| ds.size() <= 4096 || d.contains("Forest") || d.contains("Label"))
                    .unwrap_or(false)
            });
            out
        })
        .collect();
    // 3-D, as both projects were trained (a 2-D image gives fewer features than they expect).
    let image = Array5::from_shape_fn((1, 2, 40, 40, 40), |(_, c, z, y, x)| {
        ((x * 3 + y * 7 + z * 5 + c * 50) % 255) as f32
    });
    let start = Instant::now();
    let mut stats = Stats::default();
    for seed in cases {
        let mut rng = Rng(seed);
        let which = rng.below(ilps.len());
        let path = dir.path().join(format!("case-{which}.ilp"));
        fs::copy(&ilps[which], &path).unwrap();
        let mut perm = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        fs::set_permissions(&path, perm).unwrap();
        let mut changes = Vec::new();
        {
            let f = hdf5::File::open_rw(&path).unwrap();
            for _ in 0..1 + rng.below(3) {
                let name = rng.pick(&lists[which]).clone();
                changes.push(replace_dataset(&mut rng, &f, &name));
            }
        }
        let inputs = vec![("changes.txt".to_string(), changes.join("\n").into_bytes())];
        let (p, image) = (path.clone(), image.clone());
        mark("ilp", seed);
        let outcome = run_case(Duration::from_secs(60), move || {
            let project = Project::open(&p)?;
            let _ = project.n_classes();
            classify(&image, &project).map(|_| ())
        });
        if !matches!(outcome.0, Ending::Ok | Ending::Err(..)) || !outcome.1.is_empty() {
            let _ = fs::create_dir_all(crash_dir("ilp", seed));
            let _ = fs::copy(&path, crash_dir("ilp", seed).join("project.ilp"));
        }
        judge(&mut stats, "ilp", seed, outcome, None, &inputs);
    }
    stats.finish("ilp", start);
}
