#!/usr/bin/env python3
"""Kernel start-up and per-cell times of a Rust kernel (the omeflow kernel by default).

    python3 bench/python/kernel_start.py [NOTEBOOK] [--kernel omeflow-rust] [--cell CODE ...]
    python3 bench/python/kernel_start.py [NOTEBOOK] --baseline stock|none|ndarray
    python3 bench/python/kernel_start.py [NOTEBOOK] --cold

Starts the kernel with jupyter_client, runs each code cell of NOTEBOOK in order (or the --cell
codes, default one cell that defines a variable), and prints: seconds from start to the kernel
answering, to the first cell's result, each cell's time, and the kernel's peak memory (max RSS of
the kernel and its children: evcxr runs cells in a child process).

--baseline starts the stock evcxr_jupyter 0.22.0 from crates.io (installed into
~/.cache/omeflow-kernel/stock when missing; never used by the notebooks) with a config and a build
directory of its own: `stock` with omeflow's prelude as the kernel had it before kernel/ became a
crate (`:dep omeflow`, `use omeflow::prelude::*;`), `none` with no dependency at all, `ndarray`
with ndarray alone. Run a baseline twice: the first run compiles its dependencies.

--cold runs the omeflow kernel with an empty build folder of its own (what a fresh machine or a
new Binder image pays once).
"""
import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat
from jupyter_client.manager import KernelManager


def tree_rss_kb(pid):
    """Current RSS (kB) of pid and all its descendants, from /proc."""
    total = 0
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except OSError:
            pass
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


# A cell that defines a variable whose type evcxr must infer, as the notebooks' first cells do.
DEFAULT_CELL = 'let greeting = String::from("omeflow");\ngreeting.len()'

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL_HOME = os.environ.get("OMEFLOW_KERNEL_HOME", os.path.expanduser("~/.cache/omeflow-kernel"))

BASELINE_INIT = {
    "stock": f':dep omeflow = {{ path = "{ROOT}", default-features = false }}\nuse omeflow::prelude::*;\n',
    "none": "",
    "ndarray": ':dep ndarray = "0.17"\nuse ndarray::Array2;\n',
}


def stock_evcxr():
    """The stock evcxr_jupyter 0.22.0 binary, installed from crates.io when missing."""
    evcxr = os.path.join(KERNEL_HOME, "stock", "bin", "evcxr_jupyter")
    if not os.path.exists(evcxr):
        print("installing the stock evcxr_jupyter 0.22.0 for the baseline (minutes)", file=sys.stderr)
        subprocess.run(["cargo", "install", "evcxr_jupyter@0.22.0", "--locked", "--quiet",
                        "--root", os.path.join(KERNEL_HOME, "stock"),
                        "--target-dir", os.path.join(ROOT, "kernel", "target")], check=True)
    return evcxr


def register(name, argv, env):
    """Registers a throw-away kernelspec NAME; returns its name."""
    home = tempfile.mkdtemp(prefix="omeflow-kernelspec-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    spec = os.path.join(home, "kernels", name)
    os.makedirs(spec)
    with open(os.path.join(spec, "kernel.json"), "w") as f:
        json.dump({"argv": argv + ["--control_file", "{connection_file}"], "display_name": name,
                   "language": "rust", "interrupt_mode": "message", "env": env}, f)
    os.environ["JUPYTER_PATH"] = home + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    return name


def baseline_kernel(which):
    """The stock evcxr_jupyter with `which`'s init.evcxr, its own config and build folder."""
    config = tempfile.mkdtemp(prefix=f"omeflow-baseline-{which}-")
    atexit.register(shutil.rmtree, config, ignore_errors=True)
    with open(os.path.join(config, "init.evcxr"), "w") as f:
        f.write(BASELINE_INIT[which])
    # Kept between runs (like the real kernel's) so the second run is a warm start.
    target = f"/tmp/omeflow-kernel-baseline-{which}"
    os.makedirs(target, exist_ok=True)
    return register(f"omeflow-baseline-{which}", [stock_evcxr()],
                    {"EVCXR_CONFIG_DIR": config, "EVCXR_TMPDIR": target})


def cold_kernel():
    """The installed omeflow kernel with an empty build folder (removed afterwards)."""
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec("omeflow-rust")
    base = tempfile.mkdtemp(prefix="omeflow-kernel-cold-", dir="/tmp")
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    os.makedirs(os.path.join(base, ".cargo"))
    # The same per-package opt level as kernel/install writes beside the real build folder.
    shutil.copy(os.path.join(os.path.dirname(spec.env["EVCXR_TMPDIR"]), ".cargo", "config.toml"),
                os.path.join(base, ".cargo", "config.toml"))
    env = dict(spec.env, EVCXR_TMPDIR=os.path.join(base, "cells"))
    return register("omeflow-rust-cold", spec.argv[:1], env)


def measure(kernel, cells, cwd, timeout=1800):
    """Runs cells in a fresh kernel; returns ready, first_result, cells (s), peak_mib, failures."""
    t0 = time.time()
    km = KernelManager(kernel_name=kernel)
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=timeout)
    ready = time.time() - t0
    pid = km.provisioner.process.pid if km.provisioner else None
    peak = tree_rss_kb(pid) if pid else 0
    times = []
    failures = []
    texts = []
    for i, src in enumerate(cells):
        start = time.time()
        msg_id = kc.execute(src)
        texts.append("")
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
            except Exception:
                if pid:
                    peak = max(peak, tree_rss_kb(pid))
                if time.time() - start > timeout:
                    raise SystemExit(f"cell {i} timed out")
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                failures.append(i)
            if msg["msg_type"] == "stream":
                texts[-1] += msg["content"].get("text", "")
                if "panicked" in msg["content"].get("text", ""):
                    failures.append(i)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        times.append(time.time() - start)
        if pid:
            peak = max(peak, tree_rss_kb(pid))
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return {"ready": ready, "first_result": ready + (times[0] if times else 0.0), "cells": times,
            "peak_mib": peak / 1024, "failures": sorted(set(failures)), "stream": texts}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", nargs="?")
    ap.add_argument("--kernel", default="omeflow-rust")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json-out")
    ap.add_argument("--cell", action="append", help="code of a cell to run (repeatable)")
    ap.add_argument("--baseline", choices=sorted(BASELINE_INIT),
                    help="the stock evcxr_jupyter, with omeflow's old prelude or none, for comparison")
    ap.add_argument("--cold", action="store_true", help="the omeflow kernel with an empty build folder")
    args = ap.parse_args()
    if args.baseline:
        args.kernel = baseline_kernel(args.baseline)
    elif args.cold:
        args.kernel = cold_kernel()

    if args.cell:
        cells = args.cell
        cwd = os.getcwd()
    elif args.notebook:
        nb = nbformat.read(args.notebook, as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
        cwd = os.path.dirname(os.path.abspath(args.notebook))
    else:
        cells = [DEFAULT_CELL]
        cwd = os.getcwd()

    result = measure(args.kernel, cells, cwd, args.timeout)
    print(f"kernel ready: {result['ready']:.2f} s; start to first cell result: {result['first_result']:.2f} s")
    for i, (src, s) in enumerate(zip(cells, result["cells"])):
        head = src.strip().splitlines()[0][:60] if src.strip() else ""
        print(f"  cell {i:2d}: {s:6.2f} s  {head}")
    print(f"peak kernel memory (RSS, kernel + cell process): {result['peak_mib']:.0f} MiB")
    if result["failures"]:
        print(f"cells with errors: {result['failures']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
