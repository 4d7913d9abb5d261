//! Hostile and unlucky input through the `omeflow` binary: a table of cases, each with the
//! exit code it must give, the words its error must say, what must never be printed, and, for
//! every case, no panic, no abort, no hang (a time bound) and a memory bound (the child's peak
//! RSS from `wait4`). Cases that change files check afterwards that nothing was lost.
//!
//! The classes follow issue 14: data loss (1), sizes that wrap or panic (2), half-written
//! output (3, and the signal tests below), passwords (4), untrusted sizes (5), options (6),
//! dropped connections (7), credentials in URLs (8), lenient metadata (9).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::FaultServer;
use omeflow::ngff::writer::NgffVersion;
use omeflow::sample::{write_sample, SampleSpec};
use serde_json::{json, Value};

/// The address space each case may use: room for omeflow's threads and allocator arenas, far
/// below what any hostile claim in the table asks for.
const ADDRESS_SPACE_LIMIT: libc::rlim_t = 3 << 30;

/// The binary under test: this build's, or the one `OMEFLOW_HOSTILE_BIN` names (an older build,
/// to see the suite fail on it).
fn bin() -> String {
    std::env::var("OMEFLOW_HOSTILE_BIN").unwrap_or(env!("CARGO_BIN_EXE_omeflow").into())
}

/// How a finished child ended.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_mib: u64,
    seconds: f64,
    timed_out: bool,
}

/// Run the binary with `args`, `stdin`, a time bound; peak RSS from its /proc entry.
// `wait4` below reaps the child, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(args: &[String], stdin: Option<&str>, timeout: Duration) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut command = Command::new(bin());
    // SAFETY: setrlimit is async-signal-safe; it bounds the child's address space so that an
    // allocation sized by hostile data fails (and the case with it) instead of succeeding
    // between two polls.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE_LIMIT,
                rlim_max: ADDRESS_SPACE_LIMIT,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
    let mut child = command
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start omeflow");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    let start = Instant::now();
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    let mut timed_out = false;
    // Peak RSS from the child's own /proc entry (wait4's counts the test process's pages that
    // the child shared before exec); polled, so a spike shorter than the poll can be missed,
    // which the address-space limit set below catches instead.
    let mut peak_kib = 0u64;
    loop {
        if let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = st
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        // SAFETY: waiting for our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if start.elapsed() > timeout && !timed_out {
            timed_out = true;
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = usage;
    let exited = libc::WIFEXITED(status);
    Outcome {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        max_rss_mib: peak_kib / 1024,
        seconds: start.elapsed().as_secs_f64(),
        timed_out,
    }
}

type Check = Box<dyn Fn() -> Result<(), String>>;

struct Case {
    class: u8,
    name: &'static str,
    args: Vec<String>,
    stdin: Option<String>,
    /// The exit code it must give.
    exit: i32,
    /// Words its stdout + stderr must hold.
    words: Vec<&'static str>,
    /// Text that must appear nowhere in stdout or stderr.
    absent: Vec<String>,
    timeout: Duration,
    max_rss_mib: u64,
    /// Run afterwards: what must still be true on disk or on a server.
    after: Option<Check>,
}

fn case(class: u8, name: &'static str, args: &[&str], exit: i32, words: &[&'static str]) -> Case {
    Case {
        class,
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
        exit,
        words: words.to_vec(),
        absent: Vec::new(),
        timeout: Duration::from_secs(60),
        max_rss_mib: 400,
        after: None,
    }
}

impl Case {
    fn after(mut self, f: impl Fn() -> Result<(), String> + 'static) -> Self {
        self.after = Some(Box::new(f));
        self
    }
    fn absent(mut self, text: &str) -> Self {
        self.absent.push(text.to_string());
        self
    }
    fn rss(mut self, mib: u64) -> Self {
        self.max_rss_mib = mib;
        self
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn small_sample(dir: &Path, name: &str, version: NgffVersion) -> PathBuf {
    let p = dir.join(name);
    let spec = SampleSpec {
        shape: [2, 2, 4, 64, 64],
        levels: 2,
        version,
        ..SampleSpec::default()
    };
    write_sample(&s(&p), &spec).unwrap();
    p
}

fn write_json(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// A 2-D NGFF 0.4 image of one level with the given `.zarray` and chunk files.
fn image_2d(dir: &Path, name: &str, zarray: Value, chunks: &[(&str, Vec<u8>)]) -> PathBuf {
    let p = dir.join(name);
    write_json(&p.join(".zgroup"), &json!({"zarr_format": 2}));
    write_json(
        &p.join(".zattrs"),
        &json!({"multiscales": [{"version": "0.4", "axes": [
            {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}]}]}),
    );
    write_json(&p.join("0/.zarray"), &zarray);
    for (key, bytes) in chunks {
        let f = p.join("0").join(key);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
    p
}

fn zarray(shape: &[u64], chunks: &[u64], compressor: Value) -> Value {
    json!({"zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "<u2",
        "compressor": compressor, "fill_value": 0, "order": "C", "filters": null,
        "dimension_separator": "/"})
}

fn zeros_zstd(n: usize) -> Vec<u8> {
    zstd::bulk::compress(&vec![0u8; n], 19).unwrap()
}

/// A zstd frame of a few bytes whose header claims 8 GiB (an 8-byte content size field).
fn zstd_claiming_8gib() -> Vec<u8> {
    let mut f = vec![0x28, 0xB5, 0x2F, 0xFD];
    // Frame header descriptor: content size 8 bytes, single segment.
    f.push(0b1110_0000);
    f.extend_from_slice(&(8u64 << 30).to_le_bytes());
    // One raw, last block of 4 bytes.
    let block = (4u32 << 3) | 1;
    f.extend_from_slice(&block.to_le_bytes()[..3]);
    f.extend_from_slice(&[1, 2, 3, 4]);
    f
}

fn zeros_gzip(n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; n]).unwrap();
    e.finish().unwrap()
}

fn blosc_claiming(nbytes: u32) -> Vec<u8> {
    let mut h = vec![2u8, 1, 1, 2];
    h.extend_from_slice(&nbytes.to_le_bytes());
    h.extend_from_slice(&4096u32.to_le_bytes());
    h.extend_from_slice(&32u32.to_le_bytes());
    h.extend_from_slice(&[0; 16]);
    h
}

fn file_is(path: PathBuf, text: &'static str) -> impl Fn() -> Result<(), String> {
    move || match std::fs::read_to_string(&path) {
        Ok(t) if t == text => Ok(()),
        other => Err(format!("{} changed or lost: {other:?}", path.display())),
    }
}

fn ilastik_project() -> Option<PathBuf> {
    common::shared_data("ilastik/pixel-class-133.ilp")
}

#[test]
fn hostile_inputs_get_clear_errors_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sample = small_sample(d, "sample.zarr", NgffVersion::V0_4);
    let sample5 = small_sample(d, "sample5.zarr", NgffVersion::V0_5);
    let sp = s(&sample);
    let mut cases: Vec<Case> = Vec::new();

    // 1. Data loss: a writer deletes only what it proves it wrote, never through a link.
    for (name, key, body) in [
        ("foreign .zgroup", ".zgroup", "{\"zarr_format\": 2}"),
        ("foreign .zattrs", ".zattrs", "{}"),
        (
            "foreign zarr.json",
            "zarr.json",
            "{\"zarr_format\": 3, \"node_type\": \"group\"}",
        ),
    ] {
        let dir = d.join(format!("foreign-{key}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(key), body).unwrap();
        std::fs::write(dir.join("keep.txt"), "keep me").unwrap();
        cases.push(
            case(
                1,
                name,
                &["sample", &s(&dir)],
                1,
                &["did not write", "nothing"],
            )
            .after(file_is(dir.join("keep.txt"), "keep me")),
        );
    }
    {
        // A marker of ours, and a level folder that is a link out of the image.
        let dir = d.join("marker-with-link");
        let outside = d.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("precious.txt"), "precious").unwrap();
        small_sample(d, "marker-with-link", NgffVersion::V0_4);
        std::fs::remove_dir_all(dir.join("1")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("1")).unwrap();
        cases.push(
            case(
                1,
                "symlink inside an image of ours",
                &["sample", &s(&dir)],
                1,
                &["symbolic link", "nothing was deleted"],
            )
            .after(file_is(outside.join("precious.txt"), "precious")),
        );
        let dir2 = small_sample(d, "marker-with-notes", NgffVersion::V0_4);
        std::fs::write(dir2.join("notes.txt"), "mine").unwrap();
        cases.push(
            case(
                1,
                "a file of the user's inside an image of ours",
                &["sample", &s(&dir2)],
                1,
                &["notes.txt", "nothing was deleted"],
            )
            .after(file_is(dir2.join("notes.txt"), "mine")),
        );
        let dir3 = d.join("plain-folder");
        std::fs::create_dir_all(&dir3).unwrap();
        std::fs::write(dir3.join("thesis.tex"), "years").unwrap();
        cases.push(
            case(
                1,
                "a folder of other files",
                &["sample", &s(&dir3)],
                1,
                &["not a Zarr image"],
            )
            .after(file_is(dir3.join("thesis.tex"), "years")),
        );
        // Labels over a foreign label image of the same name.
        let img = small_sample(d, "with-foreign-labels", NgffVersion::V0_4);
        let foreign = img.join("labels/segmentation");
        write_json(&foreign.join(".zgroup"), &json!({"zarr_format": 2}));
        std::fs::write(foreign.join("hand-drawn.txt"), "hours of work").unwrap();
        cases.push(
            case(
                1,
                "labels over someone else's labels",
                &["segment", &s(&img), "--labels-out", &s(&img)],
                1,
                &["did not write"],
            )
            .after(file_is(foreign.join("hand-drawn.txt"), "hours of work")),
        );
    }

    // 2. Sizes that would wrap or panic.
    let huge = image_2d(
        d,
        "huge-shape.zarr",
        zarray(&[8589934592, 8589934592], &[256, 256], Value::Null),
        &[],
    );
    cases.push(case(
        2,
        "huge shape, segment",
        &["segment", &s(&huge)],
        1,
        &["2^52", "corrupt"],
    ));
    cases.push(case(
        2,
        "huge shape, info",
        &["info", &s(&huge)],
        1,
        &["2^52"],
    ));
    let bigchunk = image_2d(
        d,
        "huge-chunk.zarr",
        zarray(&[65536, 65536], &[65536, 65536], Value::Null),
        &[],
    );
    cases.push(case(
        2,
        "8 GiB chunks",
        &["segment", &s(&bigchunk)],
        1,
        &["chunks", "MiB"],
    ));
    let negative = image_2d(
        d,
        "negative-shape.zarr",
        zarray(&[64, 64], &[16, 16], Value::Null),
        &[],
    );
    write_json(
        &negative.join("0/.zarray"),
        &json!({"zarr_format": 2, "shape": [-1, 64], "chunks": [16, 16], "dtype": "<u2", "compressor": null, "fill_value": 0, "order": "C", "filters": null}),
    );
    cases.push(case(
        2,
        "negative shape",
        &["segment", &s(&negative)],
        1,
        &["invalid metadata"],
    ));

    // 3. Options are validated before anything is created.
    let table_link = d.join("table-link.csv");
    std::fs::write(d.join("table-target.csv"), "mine").unwrap();
    std::os::unix::fs::symlink(d.join("table-target.csv"), &table_link).unwrap();
    cases.push(
        case(
            3,
            "table through a symlink",
            &["segment", &sp, "--table-out", &s(&table_link)],
            1,
            &["symbolic link"],
        )
        .after(file_is(d.join("table-target.csv"), "mine")),
    );
    let out_bad_name = d.join("bad-label-name.zarr");
    cases.push({
        let p = out_bad_name.clone();
        case(
            3,
            "label name that climbs out",
            &[
                "segment",
                &sp,
                "--labels-out",
                &s(&out_bad_name),
                "--labels-name",
                "../../etc",
            ],
            1,
            &["label name"],
        )
        .after(move || {
            if p.exists() {
                Err("output created".into())
            } else {
                Ok(())
            }
        })
    });
    if let Some(ilp) = ilastik_project() {
        let out = d.join("classify-out.zarr");
        let p = out.clone();
        cases.push(
            case(
                3,
                "classify --png-z out of range",
                &[
                    "classify",
                    &sp,
                    "--project",
                    &s(&ilp),
                    "--out",
                    &s(&out),
                    "--png",
                    &s(&d.join("pngs")),
                    "--png-z",
                    "99",
                ],
                1,
                &["png"],
            )
            .after(move || {
                if p.exists() {
                    Err("output created before validation".into())
                } else {
                    Ok(())
                }
            }),
        );
    }

    // 5. Untrusted sizes: bombs and lying lengths cost no more memory than honest data.
    let zstd_bomb = image_2d(
        d,
        "zstd-bomb.zarr",
        zarray(&[64, 64], &[64, 64], json!({"id": "zstd", "level": 1})),
        &[("0/0", zeros_zstd(512 << 20))],
    );
    let zstd_claim = image_2d(
        d,
        "zstd-claim.zarr",
        zarray(&[64, 64], &[64, 64], json!({"id": "zstd", "level": 1})),
        &[("0/0", zstd_claiming_8gib())],
    );
    cases.push(
        case(
            5,
            "zstd frame claiming 8 GiB",
            &["segment", &s(&zstd_claim)],
            1,
            &["corrupt chunk", "8589934592"],
        )
        .rss(200),
    );
    cases.push(
        case(
            5,
            "zstd chunk inflating to 512 MiB",
            &["segment", &s(&zstd_bomb)],
            1,
            &["corrupt chunk", "536870912"],
        )
        .rss(200),
    );
    let gzip_bomb = image_2d(
        d,
        "gzip-bomb.zarr",
        zarray(&[64, 64], &[64, 64], json!({"id": "gzip", "level": 9})),
        &[("0/0", zeros_gzip(256 << 20))],
    );
    cases.push(
        case(
            5,
            "gzip chunk inflating to 256 MiB",
            &["segment", &s(&gzip_bomb)],
            1,
            &["corrupt chunk", "more than"],
        )
        .rss(200),
    );
    let blosc_bomb = image_2d(
        d,
        "blosc-bomb.zarr",
        zarray(
            &[64, 64],
            &[64, 64],
            json!({"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0}),
        ),
        &[("0/0", blosc_claiming(2_000_000_000))],
    );
    cases.push(
        case(
            5,
            "blosc header claiming 2 GB",
            &["segment", &s(&blosc_bomb)],
            1,
            &["corrupt chunk", "blosc"],
        )
        .rss(200),
    );
    let huge_len = FaultServer::huge_length(d);
    let huge_url = format!("{}/sample.zarr", huge_len.url());
    cases.push(
        case(
            5,
            "Content-Length: 100 GiB",
            &["info", &huge_url, "--retries", "1"],
            1,
            &["107374182400", "more than"],
        )
        .rss(200),
    );

    // 6. Options.
    for (name, flag, value, words) in [
        ("negative sigma", "--sigma", "-1", &["sigma"][..]),
        ("NaN sigma", "--sigma", "NaN", &["sigma"]),
        ("infinite sigma", "--sigma", "inf", &["sigma"]),
        ("sigma 1e12", "--sigma", "1e12", &["sigma", "1000"]),
        ("sigma 1e6", "--sigma", "1e6", &["sigma"]),
        ("NaN threshold", "--threshold", "NaN", &["threshold"]),
        ("zero threshold", "--threshold", "0", &["threshold"]),
        ("threshold above 1", "--threshold", "1.5", &["threshold"]),
        ("no threads", "--threads", "0", &["threads"]),
        (
            "100000 threads",
            "--threads",
            "100000",
            &["threads", "1024"],
        ),
        ("connectivity 5", "--connectivity", "5", &["connectivity"]),
    ] {
        cases.push(
            case(6, name, &["segment", &sp, flag, value], 1, words).after({
                let p = sample.join("labels");
                move || {
                    if p.exists() {
                        Err("labels created".into())
                    } else {
                        Ok(())
                    }
                }
            }),
        );
    }
    cases.push(case(
        6,
        "empty t range",
        &["segment", &sp, "--t", "1..1"],
        1,
        &["empty"],
    ));
    cases.push(case(
        6,
        "unknown ngff version",
        &["sample", &s(&d.join("v9.zarr")), "--ngff", "9"],
        1,
        &["0.4 or 0.5"],
    ));

    // 7. A connection dropped in the middle of a body is retried.
    let dropping = FaultServer::drop_mid_body(d, 1);
    let drop_url = format!("{}/sample.zarr", dropping.url());
    cases.push(case(
        7,
        "bodies cut off once",
        &["segment", &drop_url],
        0,
        &["segmented 16 planes"],
    ));

    // 8. Credentials in a store URL are never shown or saved.
    let plain = FaultServer::plain(d);
    let cred_url = format!(
        "http://alice:s3cr3t-pw@127.0.0.1:{}/sample.zarr",
        plain.port()
    );
    let cred_out = d.join("cred-labels.zarr");
    cases.push({
        let out = cred_out.clone();
        case(
            8,
            "user:password@ in the URL",
            &[
                "segment",
                &cred_url,
                "--labels-out",
                &s(&cred_out),
                "--json",
            ],
            0,
            &[],
        )
        .absent("s3cr3t-pw")
        .after(move || {
            let attrs = std::fs::read_to_string(out.join("labels/segmentation/.zattrs"))
                .map_err(|e| e.to_string())?;
            if attrs.contains("s3cr3t-pw") {
                Err(format!("password saved in metadata: {attrs}"))
            } else {
                Ok(())
            }
        })
    });
    cases.push(
        case(
            8,
            "user:password@ of a server that is down",
            &[
                "info",
                "http://alice:s3cr3t-pw@127.0.0.1:9/x.zarr",
                "--retries",
                "0",
            ],
            1,
            &["127.0.0.1:9"],
        )
        .absent("s3cr3t-pw"),
    );

    // 9. Lenient metadata is refused.
    let dup = small_sample(d, "duplicate-axes.zarr", NgffVersion::V0_4);
    let mut attrs: Value =
        serde_json::from_slice(&std::fs::read(dup.join(".zattrs")).unwrap()).unwrap();
    attrs["multiscales"][0]["axes"][1] = attrs["multiscales"][0]["axes"][0].clone();
    write_json(&dup.join(".zattrs"), &attrs);
    cases.push(case(
        9,
        "duplicate axes",
        &["info", &s(&dup)],
        1,
        &["declared twice"],
    ));
    let must = d.join("must-understand.zarr");
    common::copy_dir(&sample5, &must);
    let mut arr: Value =
        serde_json::from_slice(&std::fs::read(must.join("0/zarr.json")).unwrap()).unwrap();
    arr["secret_extension"] = json!({"must_understand": true, "value": 1});
    write_json(&must.join("0/zarr.json"), &arr);
    cases.push(case(
        9,
        "v3 field that must be understood",
        &["segment", &s(&must)],
        1,
        &["extension field", "secret_extension"],
    ));
    let dirchunk = d.join("chunk-is-folder.zarr");
    common::copy_dir(&sample, &dirchunk);
    let chunk = dirchunk.join("0/0/0/0/0/0");
    std::fs::remove_file(&chunk).unwrap();
    std::fs::create_dir_all(&chunk).unwrap();
    cases.push(case(
        9,
        "chunk path that is a folder",
        &["segment", &s(&dirchunk)],
        1,
        &["folder where a chunk"],
    ));
    let climb = small_sample(d, "climbing-path.zarr", NgffVersion::V0_4);
    let mut attrs: Value =
        serde_json::from_slice(&std::fs::read(climb.join(".zattrs")).unwrap()).unwrap();
    attrs["multiscales"][0]["datasets"][0]["path"] = json!("../sample.zarr/0");
    write_json(&climb.join(".zattrs"), &attrs);
    cases.push(case(
        9,
        "level path outside the image",
        &["info", &s(&climb)],
        1,
        &["relative path"],
    ));

    // Run the table.
    let mut failures = Vec::new();
    let (mut clear, mut panics, mut hangs, mut over_memory) = (0, 0, 0, 0);
    println!(
        "{:<5} {:<46} {:>4} {:>7} {:>8}",
        "class", "case", "exit", "MiB", "seconds"
    );
    for c in &cases {
        let o = run(&c.args, c.stdin.as_deref(), c.timeout);
        let text = format!("{}{}", o.stdout, o.stderr);
        println!(
            "{:<5} {:<46} {:>4} {:>7} {:>8.2}",
            c.class,
            c.name,
            o.code
                .map_or(format!("sig{}", o.signal.unwrap_or(0)), |c| c.to_string()),
            o.max_rss_mib,
            o.seconds
        );
        let mut why = Vec::new();
        if o.timed_out {
            hangs += 1;
            why.push(format!("no answer within {:?}", c.timeout));
        }
        if text.contains("panicked") || o.signal.is_some() {
            panics += 1;
            why.push("panicked or died from a signal".to_string());
        }
        if o.max_rss_mib > c.max_rss_mib {
            over_memory += 1;
            why.push(format!(
                "peak RSS {} MiB over {} MiB",
                o.max_rss_mib, c.max_rss_mib
            ));
        }
        if o.code != Some(c.exit) {
            why.push(format!("exit {:?}, expected {}", o.code, c.exit));
        }
        for w in &c.words {
            if !text.contains(w) {
                why.push(format!("does not say {w:?}"));
            }
        }
        for a in &c.absent {
            if text.contains(a.as_str()) {
                why.push(format!("prints {a:?}"));
            }
        }
        if c.exit != 0
            && o.code == Some(c.exit)
            && o.stderr.lines().filter(|l| l.starts_with("error:")).count() == 1
        {
            clear += 1;
        }
        if let Some(after) = &c.after {
            if let Err(e) = after() {
                why.push(e);
            }
        }
        if !why.is_empty() {
            failures.push(format!(
                "[class {}] {}: {}\n  args: {:?}\n  output: {}",
                c.class,
                c.name,
                why.join("; "),
                c.args,
                text.trim()
            ));
        }
    }
    println!(
        "{} cases: {} clear one-line errors, {} panics, {} hangs, {} over their memory bound, {} failed",
        cases.len(),
        clear,
        panics,
        hangs,
        over_memory,
        failures.len()
    );
    drop((huge_len, dropping, plain));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Start the binary with `args`, send it `signal` after `after`, and wait for it to end.
fn interrupt(args: &[String], after: Duration, signal: libc::c_int) -> std::process::ExitStatus {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // SAFETY: signalling our own child, which has not been waited for yet.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    child.wait().unwrap()
}

/// What an interrupted `segment --labels-out --table-out` leaves: each output either reads as
/// complete (and equals an uninterrupted run's) or is refused as incomplete.
fn check_outputs(out: &Path, table: &Path, reference_rows: usize) -> Result<&'static str, String> {
    let labels = out.join("labels/segmentation");
    let info = run(&["info".into(), s(&labels)], None, Duration::from_secs(30));
    let labels_state = match info.code {
        Some(0) => {
            let marker = std::fs::read_to_string(labels.join(".omeflow-write.json"))
                .map_err(|e| e.to_string())?;
            if !marker.contains("complete") {
                return Err(format!(
                    "labels read as an image but the marker says {marker}"
                ));
            }
            "complete"
        }
        Some(1)
            if info.stderr.contains("incomplete") || info.stderr.contains("no OME-Zarr image") =>
        {
            "refused"
        }
        _ => return Err(format!("info on interrupted labels: {info:?}")),
    };
    match std::fs::read_to_string(table) {
        Ok(t) if t.lines().count() == reference_rows + 1 => {}
        Ok(t) => {
            return Err(format!(
                "the table has {} lines, a whole one {}",
                t.lines().count(),
                reference_rows + 1
            ))
        }
        Err(_) => {}
    }
    Ok(labels_state)
}

#[test]
fn interrupted_runs_leave_output_that_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Big enough that a run lasts a few hundred milliseconds with one thread.
    let img = d.join("big.zarr");
    let spec = SampleSpec {
        shape: [1, 2, 60, 256, 256],
        levels: 1,
        ..SampleSpec::default()
    };
    write_sample(&s(&img), &spec).unwrap();

    let whole = d.join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "segment",
            &s(&img),
            "--labels-out",
            &s(out),
            "--table-out",
            &s(&out.join("t.csv")),
            "--threads",
            "1",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let full = run(&args(&whole), None, Duration::from_secs(120));
    assert_eq!(full.code, Some(0), "{full:?}");
    let rows = std::fs::read_to_string(whole.join("t.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let took = full.seconds;

    let mut seen = Vec::new();
    for (signal, name, fraction) in [
        (libc::SIGINT, "SIGINT", 0.2),
        (libc::SIGTERM, "SIGTERM", 0.5),
        (libc::SIGKILL, "SIGKILL", 0.3),
        (libc::SIGKILL, "SIGKILL", 0.8),
    ] {
        let out = d.join(format!("{name}-{fraction}"));
        std::fs::create_dir_all(&out).unwrap();
        let status = interrupt(
            &args(&out),
            Duration::from_secs_f64(took * fraction),
            signal,
        );
        let state = check_outputs(&out, &out.join("t.csv"), rows)
            .unwrap_or_else(|e| panic!("{name} at {fraction} of the run ({status:?}): {e}"));
        seen.push(format!("{name}@{fraction}: labels {state}"));
        // A rerun replaces the interrupted output and completes.
        let again = run(&args(&out), None, Duration::from_secs(120));
        assert_eq!(again.code, Some(0), "rerun after {name}: {again:?}");
        assert_eq!(
            check_outputs(&out, &out.join("t.csv"), rows),
            Ok("complete")
        );
    }
    // `sample` killed part-way: the image is complete or refused, and a rerun replaces it.
    for delay in [5u64, 30, 120] {
        let out = d.join(format!("sample-killed-{delay}"));
        interrupt(
            &["sample".into(), s(&out)],
            Duration::from_millis(delay),
            libc::SIGKILL,
        );
        let info = run(&["info".into(), s(&out)], None, Duration::from_secs(30));
        let ok = info.code == Some(0)
            || (info.code == Some(1)
                && (info.stderr.contains("incomplete")
                    || info.stderr.contains("does not exist")
                    || info.stderr.contains("no OME-Zarr image")));
        assert!(ok, "sample killed after {delay} ms: {info:?}");
        seen.push(format!("sample@{delay}ms: info exit {:?}", info.code));
        let again = run(&["sample".into(), s(&out)], None, Duration::from_secs(60));
        assert_eq!(again.code, Some(0), "{again:?}");
    }
    // `classify --out` interrupted: the probabilities are complete or refused; a rerun replaces them.
    if let Some(ilp) = ilastik_project() {
        let img = d.join("embryo.zarr");
        let spec = SampleSpec {
            shape: [2, 2, 72, 40, 40],
            nuclei: 6,
            levels: 1,
            ..SampleSpec::default()
        };
        write_sample(&s(&img), &spec).unwrap();
        let args = |out: &Path| -> Vec<String> {
            [
                "classify",
                &s(&img),
                "--project",
                &s(&ilp),
                "--out",
                &s(out),
                "--threads",
                "1",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect()
        };
        let whole = d.join("probabilities-whole.zarr");
        let full = run(&args(&whole), None, Duration::from_secs(600));
        assert_eq!(full.code, Some(0), "{full:?}");
        {
            let (signal, fraction) = (libc::SIGINT, 0.5);
            let out = d.join(format!("probabilities-{signal}.zarr"));
            interrupt(
                &args(&out),
                Duration::from_secs_f64(full.seconds * fraction),
                signal,
            );
            let info = run(&["info".into(), s(&out)], None, Duration::from_secs(30));
            let ok = info.code == Some(0)
                || (info.code == Some(1)
                    && (info.stderr.contains("incomplete")
                        || info.stderr.contains("does not exist")));
            assert!(ok, "classify interrupted by {signal}: {info:?}");
            seen.push(format!(
                "classify signal {signal}@{fraction}: info exit {:?}",
                info.code
            ));
            let again = run(&args(&out), None, Duration::from_secs(600));
            assert_eq!(again.code, Some(0), "rerun: {again:?}");
        }
    }
    println!("{}", seen.join("\n"));
}

/// A full disk and a read-only output, on a small tmpfs (needs root to mount; skipped, and
/// said so, where mounting is not allowed).
#[test]
fn a_full_disk_or_read_only_output_is_an_error_and_marked_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", &s(&mnt)])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let out = mnt.join("s.zarr");
    let full = run(&["sample".into(), s(&out)], None, Duration::from_secs(60));
    assert_eq!(full.code, Some(1), "{full:?}");
    assert!(full.stderr.contains("space"), "{}", full.stderr);
    let info = run(&["info".into(), s(&out)], None, Duration::from_secs(30));
    assert_eq!(info.code, Some(1), "{info:?}");
    assert!(info.stderr.contains("incomplete"), "{}", info.stderr);

    // A table on a full disk: no half table under its name.
    let small = tempfile::tempdir().unwrap();
    let img = small_sample(small.path(), "img.zarr", NgffVersion::V0_4);
    // Fill what room the failed sample left.
    let mut filler = std::fs::File::create(mnt.join("filler")).unwrap();
    while filler
        .write_all(&[7u8; 4096])
        .and_then(|_| filler.sync_all())
        .is_ok()
    {}
    let table = mnt.join("t.json");
    let t = run(
        &["segment".into(), s(&img), "--table-out".into(), s(&table)],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(t.code, Some(1), "{t:?}");
    assert!(
        !table.exists(),
        "a table that failed to write is visible under its name"
    );

    let ro_dir = tmp.path().join("read-only");
    std::fs::create_dir_all(&ro_dir).unwrap();
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", &s(&ro_dir)])
        .status()
        .unwrap()
        .success());
    let _ro_guard = Unmount(ro_dir.clone());
    let ro = run(
        &["sample".into(), s(&ro_dir.join("ro.zarr"))],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(ro.code, Some(1), "{ro:?}");
    assert!(
        ro.stderr.contains("Read-only") || ro.stderr.contains("read-only"),
        "{}",
        ro.stderr
    );
}
