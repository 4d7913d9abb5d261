#!/usr/bin/env python3
"""The Python tutorial's steps, timed one by one, beside the notebook's cells in the Rust kernel.

    python3 bench/python/tutorial_steps.py [--kernel-json FILE] [--repeat 3]

Runs the steps of "Analyze data stored in a public S3 repository in parallel" that need no OMERO
server on the embedded sample (image 4007801, written by any kernel start or `omeflow sample` to
$TMPDIR/omeflow-sample-catalogue-v6): import the libraries, load the binary (`da.from_zarr`),
analyze one plane (dask-image, as the tutorial), prepare the lazy calls (the notebook's 10 t x
10 z x 2 c window) and compute them. Each step's time is the best of --repeat runs in one Python
process, except the imports (the first run).

With --kernel-json (written by `python3 bench/python/kernel_start.py NOTEBOOK --json-out FILE` on
notebooks/public_s3_segmentation_parallel.ipynb) it prints the matching cell's time and the ratio
cell / Python step. The connect, load-image and disconnect steps talk to an OMERO server in Python
(BlitzGateway over Ice) and have no local Python equivalent, so they are not compared.
"""
import argparse
import json
import os
import sys
import tempfile
import time

# Notebook code-cell index -> the Python step it ports.
CELL_OF_STEP = {"load binary": 4, "analyze one plane": 6, "prepare lazy calls": 7, "compute": 8}


def sample_level0():
    path = os.path.join(tempfile.gettempdir(), "omeflow-sample-catalogue-v6", "4007801.zarr", "0")
    if not os.path.isdir(path):
        raise SystemExit(f"{path} not found: start the kernel once or run `omeflow sample` first")
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-json")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = sample_level0()

    steps = {}
    t = time.perf_counter()
    import dask
    import dask.array as da
    # The tutorial's analyze() as segment_bench.py has it (it imports dask-image), on its
    # module-level `data`.
    import segment_bench as tutorial
    if tutorial.IMPORT_ERROR is not None:
        raise SystemExit(f"needs dask and dask-image: {tutorial.IMPORT_ERROR}")
    steps["imports"] = time.perf_counter() - t

    state = {}

    def load_binary():
        tutorial.data = da.from_zarr(path)

    def analyze_one():
        size_t, _, size_z = tutorial.data.shape[:3]
        tutorial.analyze(size_t // 2, 0, size_z // 2)

    def prepare():  # the notebook's window: middle t and z +/- 5, every c
        size_t, size_c, size_z = tutorial.data.shape[:3]
        mt, mz = size_t // 2, size_z // 2
        state["lazy"] = [
            dask.delayed(tutorial.analyze)(t, c, z)
            for t in range(max(mt - 5, 0), min(mt + 5, size_t))
            for z in range(max(mz - 5, 0), min(mz + 5, size_z))
            for c in range(size_c)
        ]

    def compute():
        dask.compute(*state["lazy"])

    for name, fn in [("load binary", load_binary), ("analyze one plane", analyze_one),
                     ("prepare lazy calls", prepare), ("compute", compute)]:
        best = None
        for _ in range(max(args.repeat, 1)):
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        steps[name] = best

    cells = None
    if args.kernel_json:
        with open(args.kernel_json) as f:
            cells = json.load(f)["cells"]

    print(f"Python tutorial steps on the sample {path} ({len(state['lazy'])} planes computed)")
    print(f"{'step':<20} {'python (s)':>10} {'rust cell (s)':>14} {'cell / python':>14}")
    for name, secs in steps.items():
        cell = CELL_OF_STEP.get(name)
        if cells is not None and cell is not None and cell < len(cells):
            ratio = cells[cell] / secs if secs > 0 else float("inf")
            print(f"{name:<20} {secs:>10.3f} {cells[cell]:>14.2f} {ratio:>13.1f}x")
        else:
            print(f"{name:<20} {secs:>10.3f} {'-':>14} {'-':>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
