#!/usr/bin/env python3
"""One plane of the tutorial's segmentation (smooth, threshold, label): scipy.ndimage and dask-image.

    python3 bench/python/plane_bench.py [--omeflow PATH] [--repeat-scale 1.0]

For a 128 x 135 and a 2048 x 2169 uint16 plane (bench/python/make_fixtures.py's generator) it
prints the best-of-N milliseconds per plane of
  - scipy.ndimage: gaussian_filter(sigma=[1, 1]), 0.75 * max, label (the work itself),
  - dask-image as the tutorial calls it (gaussian_filter, eager max, label; labels and count
    computed), on the plane as one chunk and, for the full-size plane, in the fixtures'
    1024 x 1024 chunks (as IDR stores level 0).
If `omeflow bench-plane --json` works (target/release/omeflow by default) it prints its figures and
the ratios; otherwise it says so and stops there. Expected JSON: a list (or {"planes": [...]}) of
{"height": H, "width": W, "ms": best milliseconds per plane} (also accepted: "shape": [H, W];
"ms_per_plane", "best_ms", or "seconds").
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from scipy import ndimage as ndi

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_fixtures import LARGE_HW, SMALL_HW, make_planes  # noqa: E402


def best_ms(fn, repeats):
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def scipy_plane(plane):
    smoothed = ndi.gaussian_filter(plane, sigma=[1, 1])
    labels, n = ndi.label(smoothed > 0.75 * smoothed.max())
    return n


def dask_plane(plane, chunks):
    import dask
    import dask.array as da
    import dask_image.ndfilters
    import dask_image.ndmeasure

    data = da.from_array(plane, chunks=chunks)
    smoothed_image = dask_image.ndfilters.gaussian_filter(data, sigma=[1, 1])
    threshold_value = 0.75 * da.max(smoothed_image).compute()
    threshold_image = smoothed_image > threshold_value
    label_image, num_labels = dask_image.ndmeasure.label(threshold_image)
    label_image, num_labels = dask.compute(label_image, num_labels)
    return int(num_labels)


def omeflow_bench_plane(binary):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return None, f"{binary} not found (cargo build --release)"
    try:
        h = subprocess.run([binary, "bench-plane", "--help"], capture_output=True, text=True, timeout=60)
        if h.returncode != 0:
            return None, "omeflow bench-plane not available yet"
        p = subprocess.run([binary, "bench-plane", "--json"], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        return None, f"omeflow bench-plane failed: {p.stderr.strip()[-500:]}"
    try:
        starts = [i for i in (p.stdout.find("{"), p.stdout.find("[")) if i >= 0]
        doc = json.loads(p.stdout[min(starts):] if starts else p.stdout)
    except ValueError:
        return None, f"omeflow bench-plane: no JSON on stdout: {p.stdout[:300]!r}"
    items = doc.get("planes", doc.get("results", [])) if isinstance(doc, dict) else doc
    out = {}
    for it in items if isinstance(items, list) else []:
        if not isinstance(it, dict):
            continue
        if "shape" in it:
            hw = tuple(int(v) for v in it["shape"][-2:])
        elif "height" in it and "width" in it:
            hw = (int(it["height"]), int(it["width"]))
        else:
            continue
        for key, mult in (("ms", 1.0), ("ms_per_plane", 1.0), ("best_ms", 1.0), ("seconds", 1000.0)):
            if key in it:
                out[hw] = float(it[key]) * mult
                break
    if not out:
        return None, f"omeflow bench-plane: unrecognised JSON: {p.stdout[:300]!r}"
    return out, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--omeflow", default=os.path.join(REPO, "target", "release", "omeflow"))
    ap.add_argument("--repeat-scale", type=float, default=1.0, help="multiply the repeat counts")
    ap.add_argument("--seed", type=int, default=4007801)
    args = ap.parse_args(argv)

    try:
        import dask_image  # noqa: F401
        have_dask = True
    except ImportError:
        have_dask = False
        print("dask-image missing (pip install dask-image): scipy only")

    rows = []
    for hw, rep_scipy, rep_dask in ((SMALL_HW, 200, 30), (LARGE_HW, 10, 3)):
        plane = make_planes(np.random.default_rng([args.seed, 0]), 1, *hw)[0]
        rs = max(1, int(rep_scipy * args.repeat_scale))
        rd = max(1, int(rep_dask * args.repeat_scale))
        n = scipy_plane(plane)
        row = {"hw": hw, "objects": n, "scipy": best_ms(lambda: scipy_plane(plane), rs)}
        if have_dask:
            variants = [("dask-image 1 chunk", hw)]
            if hw == LARGE_HW:
                variants.append(("dask-image 1024^2 chunks", (1024, 1024)))
            for label, chunks in variants:
                nd = dask_plane(plane, chunks)
                if nd != n:
                    print(f"  note: {hw} {label} found {nd} objects, scipy {n}")
                row[label] = best_ms(lambda: dask_plane(plane, chunks), rd)
        rows.append(row)
        print(f"{hw[0]} x {hw[1]} ({n} objects): " + ", ".join(
            f"{k} {v:.3f} ms" for k, v in row.items() if k not in ("hw", "objects")), flush=True)

    rust, why = omeflow_bench_plane(args.omeflow)
    print("\nms per plane (best of repeats)")
    cols = ["scipy", "dask-image 1 chunk", "dask-image 1024^2 chunks"]
    print(f"  {'plane':>12}  " + "  ".join(f"{c:>24}" for c in cols) + f"  {'omeflow':>10}  ratios")
    for row in rows:
        h, w = row["hw"]
        line = f"  {h:>5} x {w:<4}  " + "  ".join(
            f"{row[c]:>24.3f}" if c in row else f"{'-':>24}" for c in cols)
        r = rust.get((h, w)) if rust else None
        if r:
            ratios = ", ".join(f"{c} / omeflow {row[c] / r:.1f}x" for c in cols if c in row)
            line += f"  {r:>10.3f}  {ratios}"
        else:
            line += f"  {'-':>10}"
        print(line)
    if rust is None:
        print(f"\nomeflow: {why}; skipped the ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
