"""Whole images with `omeflow segment` and with the notebook's `compute` into a `LabelSink`: planes per second against the one-plane floor, peak and
sampled RSS (flat or not as the plane count grows), labels on disk, and the time to resume after
kill -9.

The images are synthetic, shaped like IDR 4007801 at level 4 (T x 2 x Z planes of 128 x 135
uint16, nuclei placed and shifted per plane), written by `cargo run --release --example
bench_image` into --dir (kept between runs; nothing is committed). The floor is `cargo bench
--bench plane`'s `segment()` time for one 128 x 135 plane, times the threads.

The notebook's way is `cargo run --release --example bench_compute`: the tutorial's `analyze` as
one `delayed` task per plane, computed into a `LabelSink` with a table, as the notebook's cell.

Usage: python3 bench/python/whole_image.py [--dir /tmp/omeflow-whole] [--planes 10000 100000]
                                           [--threads 2] [--no-floor] [--way cli compute]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/omeflow"


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_sampled(cmd, kill_after=None):
    """Run cmd, sampling its RSS every 0.1 s; kill -9 after kill_after seconds if given."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []

    def sample():
        while proc.poll() is None:
            samples.append((time.monotonic() - start, rss_kib(proc.pid)))
            if kill_after is not None and time.monotonic() - start >= kill_after:
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.1)

    t = threading.Thread(target=sample)
    t.start()
    out, err = proc.communicate()
    t.join()
    return proc.returncode, out, err, time.monotonic() - start, samples


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def remove(paths):
    """Remove the outputs of the runs (folders or files; absent ones are fine)."""
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


def command(way, img, out, table, threads):
    """The table's path and the command of one way (`cli` or `compute`) writing labels to `out`;
    `compute` (bench_compute) writes its table at OUT.csv, whatever `table` says."""
    if way == "cli":
        return table, [str(BIN), "segment", str(img), "--labels-out", str(out), "--table-out", str(table),
                       "--threads", str(threads), "--json"]
    return Path(str(out) + ".csv"), [str(ROOT / "target/release/examples/bench_compute"), str(img), str(out),
                                     str(threads)]


def shape_for(planes):
    z = min(988, max(1, planes // 2))
    t = max(1, planes // (2 * z))
    return t, z


def floor_ms():
    out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "plane"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    block = out.split("plane 2048")[0]
    m = re.search(r"segment\(\) \(all of the above\)\s+([\d.]+) ms", block)
    return float(m.group(1))


def prepare(folder):
    """The bench folder (made when missing), with omeflow and the bench examples built."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "omeflow",
                    "--example", "bench_image", "--example", "bench_compute"], cwd=ROOT, check=True)
    return d


def last_json(out):
    """The CLI's --json report (pretty-printed), or bench_compute's one line after its progress."""
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/omeflow-whole")
    ap.add_argument("--planes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--way", nargs="+", choices=["cli", "compute"], default=["cli", "compute"])
    args = ap.parse_args()
    d = prepare(args.dir)
    floor = None
    if not args.no_floor:
        ms = floor_ms()
        floor = args.threads * 1000.0 / ms
        print(f"floor: segment() of one 128 x 135 plane {ms:.3f} ms x {args.threads} threads = {floor:.0f} planes/s")
    rows = []
    outputs = []
    for n, way in [(n, w) for n in args.planes for w in args.way]:
        t, z = shape_for(n)
        n = t * 2 * z
        img = d / f"img-{t}x2x{z}.zarr"
        if not (img / ".zattrs").exists():
            shutil.rmtree(img, ignore_errors=True)
            subprocess.run([str(ROOT / "target/release/examples/bench_image"), str(img), str(t), str(z)],
                           check=True)
        # Every run writes into folders of its own, all removed when the script ends: ext4 makes
        # files slowly just after many were deleted (its inode allocator checks recently freed
        # inodes), and deleting the last run's output just before a run doubled its time.
        def fresh(k):
            out = d / f"labels-{way}-{n}-{os.getpid()}-{k}.zarr"
            table, base = command(way, img, out, d / f"objects-{way}-{n}-{os.getpid()}-{k}.csv", args.threads)
            outputs.extend([out, table, Path(str(table) + ".omeflow-run")])
            return out, base

        out, base = fresh(0)
        rc, so, se, secs, samples = run_sampled(base)
        if rc != 0:
            sys.exit(f"segment failed: {se}")
        report = last_json(so)
        peak = max(k for _, k in samples) if samples else 0
        # RSS at 25 / 50 / 75 / 100 % of the run: flat or growing.
        marks = [samples[min(len(samples) - 1, int(len(samples) * f))][1] for f in (0.25, 0.5, 0.75, 0.99)] if samples else []
        labels_mib = round(du(out) / 2**20, 1)
        # Killed half way, then resumed.
        out, base = fresh(1)
        rc2, *_ = run_sampled(base, kill_after=secs / 2)
        rc3, so3, se3, secs3, _ = run_sampled(base)
        if rc3 != 0:
            sys.exit(f"resume failed: {se3}")
        last = last_json(so3)
        resumed = last.get("resumed_planes", last.get("resumed"))
        row = {
            "way": way, "planes": n, "seconds": round(secs, 2), "planes_per_s": round(n / secs),
            "of_floor": round(n / secs / floor, 2) if floor else None,
            "peak_rss_mib": round(peak / 1024, 1), "rss_mib_at_25_50_75_100": [round(k / 1024) for k in marks],
            "labels_mib": labels_mib, "image_mib": round(du(img) / 2**20, 1),
            "objects": report.get("total_objects", report.get("objects")),
            "resume_seconds": round(secs3, 2), "resumed_planes": resumed,
        }
        rows.append(row)
        print(json.dumps(row))
    remove(outputs)
    print()
    print(f"{'way':>8} {'planes':>9} {'s':>8} {'planes/s':>9} {'x floor':>8} {'peak MiB':>9} {'labels MiB':>11} {'resume s':>9} {'resumed':>8}")
    for r in rows:
        print(f"{r['way']:>8} {r['planes']:>9} {r['seconds']:>8} {r['planes_per_s']:>9} {str(r['of_floor']):>8} "
              f"{r['peak_rss_mib']:>9} {r['labels_mib']:>11} {r['resume_seconds']:>9} {r['resumed_planes']:>8}")


if __name__ == "__main__":
    main()
