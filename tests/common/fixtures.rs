//! The OME-Zarr fixtures: generated once by `tests/fixtures/make_fixtures.py` (python3 +
//! zarr-python 3 + ome-zarr-py), their `manifest.json`, and paths and reference bytes from it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Directory holding the generated fixtures and `manifest.json`.
///
/// Generated once into `target/test-fixtures/fx-<hash of the script>/` by running
/// `python3 tests/fixtures/make_fixtures.py` (interpreter overridable with `OMEFLOW_PYTHON`).
/// Safe across threads (`OnceLock`) and processes (an exclusive `File::lock` on
/// `target/test-fixtures/.lock`; generation goes to a temp dir which is then renamed).
/// A changed script gets a new hash and hence a fresh directory; stale ones are removed.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(generate_fixtures).as_path()
}

fn generate_fixtures() -> PathBuf {
    let root = Path::new(MANIFEST_DIR);
    let script = root.join("tests/fixtures/make_fixtures.py");
    let bytes = fs::read(&script)
        .unwrap_or_else(|e| panic!("cannot read fixture script {}: {e}", script.display()));
    let hash = format!("{:016x}", fnv1a64(&bytes));
    let base = root.join("target/test-fixtures");
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("cannot create {}: {e}", base.display()));
    let final_dir = base.join(format!("fx-{hash}"));
    let complete = |d: &Path| d.join("manifest.json").is_file();
    if complete(&final_dir) {
        return final_dir;
    }

    let lock_path = base.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Someone else may have generated while we waited for the lock.
    if complete(&final_dir) {
        return final_dir;
    }

    let tmp = base.join(format!("tmp-{hash}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let python = std::env::var("OMEFLOW_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .arg(&script)
        .arg(&tmp)
        .current_dir(root)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
            "`{python}` not found: the OME-Zarr test fixtures need python 3.11 with \
             zarr-python 3.1, numcodecs 0.16, numpy and ome-zarr-py 0.18 \
             (set OMEFLOW_PYTHON to choose the interpreter)"
        ),
        Err(e) => panic!("cannot run `{python}`: {e}"),
    };
    if !output.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("ModuleNotFoundError") {
            "\nhint: a python package is missing; the fixtures need zarr-python 3.1, numcodecs, \
             numpy and ome-zarr-py (pip install 'zarr>=3.1' numcodecs numpy ome-zarr)"
        } else {
            ""
        };
        panic!(
            "fixture generation failed ({}): {python} {} {}\n--- stdout ---\n{}\n--- stderr ---\n{}{hint}",
            output.status,
            script.display(),
            tmp.display(),
            String::from_utf8_lossy(&output.stdout),
            stderr,
        );
    }
    fs::rename(&tmp, &final_dir).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} -> {}: {e}",
            tmp.display(),
            final_dir.display()
        )
    });
    // Remove fixtures made by other versions of the script and leftovers of dead runs.
    if let Ok(rd) = fs::read_dir(&base) {
        let keep = final_dir.file_name().unwrap().to_owned();
        for entry in rd.flatten() {
            let name = entry.file_name();
            let s = name.to_string_lossy();
            if (s.starts_with("fx-") || s.starts_with("tmp-")) && name != keep {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    drop(lock); // releases the file lock
    final_dir
}

/// `manifest.json` of the fixtures (see make_fixtures.py for the schema).
pub fn manifest() -> serde_json::Value {
    static M: OnceLock<serde_json::Value> = OnceLock::new();
    M.get_or_init(|| {
        let p = fixtures().join("manifest.json");
        let text =
            fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad {}: {e}", p.display()))
    })
    .clone()
}

/// Absolute path of a fixture-relative path (e.g. `"v04.zarr"` or `"dtypes/u8_zlib.zarr"`).
pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// The manifest entry of the image whose `name` (e.g. `"v01_blosc_be"`, `"u16_blosc-lz4"`)
/// or `path` (e.g. `"v04.zarr"`) matches.
pub fn image(name_or_path: &str) -> serde_json::Value {
    let m = manifest();
    m["images"]
        .as_array()
        .expect("manifest.images")
        .iter()
        .find(|i| i["name"] == name_or_path || i["path"] == name_or_path)
        .unwrap_or_else(|| panic!("no fixture image {name_or_path:?} in manifest"))
        .clone()
}

/// Bytes of a level's reference data (`level["raw"]`): C order, little endian, (t,c,z,y,x).
pub fn raw(level: &serde_json::Value) -> Vec<u8> {
    let rel = level["raw"].as_str().expect("level.raw");
    let p = fixtures().join(rel);
    fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Size in bytes of a manifest dtype name (`u8` .. `f64`).
pub fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "u8" | "i8" => 1,
        "u16" | "i16" => 2,
        "u32" | "i32" | "f32" => 4,
        "f64" => 8,
        other => panic!("unknown manifest dtype {other:?}"),
    }
}

/// Recursively copy a directory (files and subdirectories; symlinks are followed).
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if from.is_dir() {
            copy_dir(&from, &to);
        } else {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
        }
    }
}
