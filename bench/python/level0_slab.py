#!/usr/bin/env python3
"""Level 0 of a whole image: a slab of full-size planes segmented by the CLI, by the notebook's
`compute` into a LabelSink, and by the tutorial's dask code, on the same synthetic slab.

    python3 bench/python/level0_slab.py [--dir /tmp/omeflow-whole] [--planes 2000] [--threads N]
                                        [--no-dask] [--dask-planes N]

The slab is 1 x 2 x (planes / 2) planes of 2048 x 2169 uint16 in chunks of 1024 x 1024, like IDR
4007801 at level 0, written by `cargo run --release --example bench_image` into --dir (kept
between runs, never committed; 2,000 planes take about 10 GB). Prints, for each way, wall time,
planes/s, the ratio to the one-plane floor (`cargo bench --bench plane`'s 2048 x 2169 plane times
the threads) and to dask, peak RSS and the objects found. Dask runs the tutorial's `analyze`
with `dask.compute` (the labelling included, see segment_bench.py); `--dask-planes N` runs it on
the first N planes only and says so. A benchmark, not a test: it exits 0 whatever the figures.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from whole_image import command, du, last_json, prepare, remove, run_sampled  # noqa: E402

NY, NX, CHUNK = 2048, 2169, 1024


def floor_ms_level0():
    out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "plane"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    parts = out.split("plane 2048")
    if len(parts) < 2:
        return None
    m = re.search(r"segment\(\) \(all of the above\)\s+([\d.]+) ms", parts[1])
    return float(m.group(1)) if m else None


def dask_side(image, z, planes, workers):
    """The tutorial's dask code on planes (t 0, c 0..2, z 0..): its figures, or why not."""
    try:
        import segment_bench
    except ImportError as e:
        return {"error": f"dask is not installed here: {e}"}
    if segment_bench.IMPORT_ERROR is not None:
        return {"error": f"dask is not installed here: {segment_bench.IMPORT_ERROR}"}
    size_z = max(1, min(z, planes // 2))
    r = segment_bench.run_dask(str(image / "0"), 1, 2, size_z, workers=workers)
    r.pop("counts", None)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/omeflow-whole")
    ap.add_argument("--planes", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--dask-planes", type=int, default=None, help="dask on the first N planes only")
    ap.add_argument("--way", nargs="+", choices=["cli", "compute"], default=["cli", "compute"])
    args = ap.parse_args()
    d = prepare(args.dir)
    z = max(1, args.planes // 2)
    n = 2 * z
    img = d / f"slab-1x2x{z}-{NY}x{NX}.zarr"
    if not (img / ".zattrs").exists():
        shutil.rmtree(img, ignore_errors=True)
        subprocess.run([str(ROOT / "target/release/examples/bench_image"), str(img), "1", str(z),
                        str(NY), str(NX), str(CHUNK), str(CHUNK)], check=True)
    floor = None
    if not args.no_floor:
        ms = floor_ms_level0()
        if ms:
            floor = args.threads * 1000.0 / ms
            print(f"floor: segment() of one {NY} x {NX} plane {ms:.1f} ms x {args.threads} threads "
                  f"= {floor:.1f} planes/s")
    rows = []
    outputs = []
    for way in args.way:
        # Outputs in folders of their own, removed when the script ends (see whole_image.py:
        # ext4 makes files slowly just after many were deleted).
        out = d / f"slab-labels-{way}-{n}-{os.getpid()}.zarr"
        table, cmd = command(way, img, out, d / f"slab-objects-{way}-{n}-{os.getpid()}.csv", args.threads)
        outputs.extend([out, table, Path(str(table) + ".omeflow-run")])
        rc, so, se, secs, samples = run_sampled(cmd)
        if rc != 0:
            sys.exit(f"{way} failed: {se}")
        report = last_json(so)
        rows.append({
            "way": way, "planes": n, "seconds": round(secs, 1), "planes_per_s": round(n / secs, 2),
            "of_floor": round(n / secs / floor, 2) if floor else None,
            "peak_rss_mib": round(max((k for _, k in samples), default=0) / 1024, 1),
            "objects": report.get("total_objects", report.get("objects")),
            "labels_mib": round(du(out) / 2**20, 1), "image_mib": round(du(img) / 2**20, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    if not args.no_dask:
        planes = min(n, args.dask_planes or n)
        r = dask_side(img, z, planes, args.threads)
        if "error" in r:
            print(r["error"])
        else:
            row = {"way": "dask", "planes": r["planes"], "seconds": round(r["seconds"], 1),
                   "planes_per_s": round(r["pps"], 2),
                   "of_floor": round(r["pps"] / floor, 2) if floor else None,
                   "objects": r["total_objects"], "note": "first planes only" if r["planes"] < n else ""}
            rows.append(row)
            print(json.dumps(row), flush=True)
    remove(outputs)
    dask = next((r for r in rows if r["way"] == "dask"), None)
    print()
    print(f"{'way':>8} {'planes':>7} {'s':>8} {'planes/s':>9} {'x floor':>8} {'x dask':>7} {'peak MiB':>9} {'objects':>9}")
    for r in rows:
        vs = round(r["planes_per_s"] / dask["planes_per_s"], 1) if dask and r is not dask else "-"
        print(f"{r['way']:>8} {r['planes']:>7} {r['seconds']:>8} {r['planes_per_s']:>9} {str(r['of_floor']):>8} "
              f"{str(vs):>7} {str(r.get('peak_rss_mib', '-')):>9} {r['objects']:>9}")


if __name__ == "__main__":
    main()
