#!/usr/bin/env python3
"""The omeflow kernel beside the stock evcxr_jupyter 0.22.0 and Python's kernel, in one run.

    python3 bench/python/kernel_compare.py [--runs 2] [--cold] [--json-out FILE]

For each kernel, each tutorial notebook is run from a fresh kernel, --runs times (the figures are
the last, warm run; the first run of the stock kernel compiles its build folder):
- omeflow: the installed `omeflow-rust` kernel (kernel/install);
- stock: evcxr_jupyter 0.22.0 from crates.io with omeflow's prelude as the kernel had it before
  kernel/ became a crate (bench/python/kernel_start.py --baseline stock);
- python: ipykernel running the Python tutorial "Analyze data stored in a public S3 repository in
  parallel" (dask, dask-image) on the same sample image; the ilastik tutorial has no Python run
  here (ilastik itself is not installable from PyPI).
With --cold, the omeflow kernel also starts once with an empty build folder.

Prints, per kernel and notebook: time to kernel ready, to the first result, every cell, the
median and the slowest cell but the first, peak RSS of the kernel and its cell process, and the
compute cell's own "Compute time"; then the goals of issue 13 and whether each is met.
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile

import nbformat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_start  # noqa: E402

ROOT = kernel_start.ROOT
NOTEBOOKS = {
    "segmentation": os.path.join(ROOT, "notebooks", "public_s3_segmentation_parallel.ipynb"),
    "classification": os.path.join(ROOT, "notebooks", "pixel_classification_zarr_parallel.ipynb"),
}
SAMPLE_LEVEL0 = os.path.join(tempfile.gettempdir(), "omeflow-sample-catalogue-v6", "4007801.zarr", "0")

# The Python tutorial's steps that run without an OMERO server, on the sample's level 0: the same
# window as the notebook (middle t and z +/- 5, every channel).
PYTHON_SEGMENTATION = [
    "import os, time\nimport dask\nimport dask.array as da\nimport dask_image.ndfilters, dask_image.ndmeasure\n"
    f"path = {SAMPLE_LEVEL0!r}",
    "data = da.from_zarr(path)\ndata",
    "def analyze(t, c, z):\n    plane = data[t, c, z, :, :]\n"
    "    smoothed_image = dask_image.ndfilters.gaussian_filter(plane, sigma=[1, 1])\n"
    "    threshold_value = 0.75 * da.max(smoothed_image).compute()\n"
    "    threshold_image = smoothed_image > threshold_value\n"
    "    label_image, num_points = dask_image.ndmeasure.label(threshold_image)\n"
    "    name = 't:%s, c: %s, z:%s' % (t, c, z)\n    return label_image, name",
    "analyze(data.shape[0] // 2, 0, data.shape[2] // 2)",
    "def prepare_call(data):\n    size_t, size_c, size_z = data.shape[:3]\n"
    "    middle_t, middle_z = size_t // 2, size_z // 2\n    lazy_results = []\n"
    "    for t in range(max(middle_t - 5, 0), min(middle_t + 5, size_t)):\n"
    "        for z in range(max(middle_z - 5, 0), min(middle_z + 5, size_z)):\n"
    "            for c in range(size_c):\n"
    "                lazy_results.append(dask.delayed(analyze)(t, c, z))\n"
    "    return lazy_results\nlazy_results = prepare_call(data)\nlen(lazy_results)",
    "start = time.time()\nresults = dask.compute(*lazy_results)\n"
    "print('Compute time (in seconds): %.3f' % (time.time() - start))\nlen(results)",
]

GOALS = "ready <= 3 s, first result <= 4 s, median cell <= 0.6 s, no cell but the first over 1.2 s, " \
        "compute cell within 0.5 s of its compute time, peak RSS <= 800 MB, first result >= 6x faster than stock"


def code_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def summarise(result):
    cells = result["cells"]
    compute = None
    compute_cell = None
    for i, text in enumerate(result.get("stream", [])):
        m = re.search(r"Compute time \(in seconds\): ([0-9.]+)", text)
        if m:
            compute, compute_cell = float(m.group(1)), i
    rest = cells[1:] or [0.0]
    return {
        "ready": result["ready"], "first_result": result["first_result"],
        "median_cell": statistics.median(cells), "slowest_but_first": max(rest),
        "peak_mib": result["peak_mib"], "cells": cells, "failures": result["failures"],
        "compute": compute,
        "compute_cell": cells[compute_cell] if compute_cell is not None else None,
    }


def show(kernel, notebook, s):
    compute = ""
    if s["compute"] is not None:
        compute = f"; compute cell {s['compute_cell']:.2f} s, its compute {s['compute']:.3f} s"
    print(f"{kernel:>8} {notebook:<15} ready {s['ready']:6.2f} s  first result {s['first_result']:6.2f} s  "
          f"median cell {s['median_cell']:5.2f} s  slowest but first {s['slowest_but_first']:5.2f} s  "
          f"peak {s['peak_mib']:5.0f} MiB{compute}")
    print(" " * 9 + "cells: " + " ".join(f"{c:.2f}" for c in s["cells"]))
    if s["failures"]:
        print(" " * 9 + f"cells with errors: {s['failures']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--json-out")
    ap.add_argument("--kernels", default="omeflow,stock,python")
    args = ap.parse_args()
    kernels = args.kernels.split(",")
    results = {}

    def run(kernel_label, kernel_name, notebook, cells, cwd, runs):
        last = None
        for _ in range(max(runs, 1)):
            last = kernel_start.measure(kernel_name, cells, cwd)
        s = summarise(last)
        results.setdefault(kernel_label, {})[notebook] = s
        show(kernel_label, notebook, s)

    out = tempfile.mkdtemp(prefix="omeflow-kernel-compare-")
    if args.cold and "omeflow" in kernels:
        for notebook, path in list(NOTEBOOKS.items())[:1]:
            run("cold", kernel_start.cold_kernel(), notebook, code_cells(path), out, 1)
    if "omeflow" in kernels:
        for notebook, path in NOTEBOOKS.items():
            run("omeflow", "omeflow-rust", notebook, code_cells(path), out, args.runs)
    if "stock" in kernels:
        stock = kernel_start.baseline_kernel("stock")
        for notebook, path in NOTEBOOKS.items():
            run("stock", stock, notebook, code_cells(path), out, args.runs)
    if "python" in kernels:
        if not os.path.isdir(SAMPLE_LEVEL0):
            print(f"python: {SAMPLE_LEVEL0} not found (run the omeflow kernel once first)")
        else:
            run("python", "python3", "segmentation", PYTHON_SEGMENTATION, out, args.runs)

    ours = results.get("omeflow", {})
    stock = results.get("stock", {})
    print(f"\ngoals (issue 13, warm, 2 cores): {GOALS}")
    for notebook, s in ours.items():
        checks = [
            ("ready <= 3 s", s["ready"] <= 3.0),
            ("first result <= 4 s", s["first_result"] <= 4.0),
            ("median cell <= 0.6 s", s["median_cell"] <= 0.6),
            ("no cell but the first over 1.2 s", s["slowest_but_first"] <= 1.2),
            ("peak RSS <= 800 MB", s["peak_mib"] * 1.048576 <= 800),
        ]
        if s["compute"] is not None:
            checks.append(("compute cell within 0.5 s of its compute", s["compute_cell"] - s["compute"] <= 0.5))
        if notebook in stock:
            ratio = stock[notebook]["first_result"] / s["first_result"]
            checks.append((f"first result {ratio:.1f}x faster than stock (goal 6x)", ratio >= 6))
        print(f"  {notebook}: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
