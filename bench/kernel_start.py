#!/usr/bin/env python3
"""Kernel start-up and per-cell times of the omeflow Rust kernel (issue 6's measurements).

    python3 bench/kernel_start.py [NOTEBOOK] [--kernel omeflow-rust] [--cell CODE ...]
    python3 bench/kernel_start.py --baseline none|ndarray [--cell CODE ...]

Starts the kernel with jupyter_client, runs each code cell of NOTEBOOK in order (or the --cell
codes, default one cell that defines a variable), and prints: seconds from start to the kernel
answering, to the first cell's result, each cell's time, and the kernel's peak memory (max RSS of
the kernel and its children: evcxr runs cells in a child process). Run it twice: the first run
after `kernel/install` or a change to the crate is a cold start, the second a warm one.

--baseline starts the same evcxr_jupyter without omeflow (`none`: no dependency at all;
`ndarray`: ndarray alone), with a config and a build directory of its own, so the figures show
what evcxr itself costs on this machine, whatever omeflow does. The first cell that defines a
variable runs evcxr's rust-analyzer over the standard library and every dependency.
"""
import argparse
import atexit
import json
import os
import shutil
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

BASELINE_INIT = {
    "none": "",
    "ndarray": ':dep ndarray = "0.17"\nuse ndarray::Array2;\n',
}


def baseline_kernel(which):
    """Registers a throw-away kernelspec: the installed evcxr_jupyter with no omeflow."""
    evcxr = shutil.which("evcxr_jupyter") or os.path.expanduser("~/.cargo/bin/evcxr_jupyter")
    if not os.path.exists(evcxr):
        raise SystemExit("evcxr_jupyter not found: run 'bash kernel/install' first")
    home = tempfile.mkdtemp(prefix="omeflow-baseline-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    config = os.path.join(home, "config")
    os.makedirs(config)
    with open(os.path.join(config, "init.evcxr"), "w") as f:
        f.write(BASELINE_INIT[which])
    # Kept between runs (like the real kernel's) so the second run is a warm start.
    target = f"/tmp/omeflow-kernel-baseline-{which}"
    os.makedirs(target, exist_ok=True)
    name = f"omeflow-baseline-{which}"
    spec = os.path.join(home, "kernels", name)
    os.makedirs(spec)
    with open(os.path.join(spec, "kernel.json"), "w") as f:
        json.dump({
            "argv": [evcxr, "--control_file", "{connection_file}"],
            "display_name": name,
            "language": "rust",
            "interrupt_mode": "message",
            "env": {"EVCXR_CONFIG_DIR": config, "EVCXR_TMPDIR": target},
        }, f)
    os.environ["JUPYTER_PATH"] = home + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    return name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", nargs="?")
    ap.add_argument("--kernel", default="omeflow-rust")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json-out")
    ap.add_argument("--cell", action="append", help="code of a cell to run (repeatable)")
    ap.add_argument("--baseline", choices=sorted(BASELINE_INIT),
                    help="evcxr without omeflow, for comparison")
    args = ap.parse_args()
    if args.baseline:
        args.kernel = baseline_kernel(args.baseline)

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

    t0 = time.time()
    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=args.timeout)
    ready = time.time() - t0
    pid = km.provisioner.process.pid if km.provisioner else None
    peak = 0
    times = []
    failures = []
    for i, src in enumerate(cells):
        start = time.time()
        msg_id = kc.execute(src)
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=1)
            except Exception:
                if pid:
                    peak = max(peak, tree_rss_kb(pid))
                if time.time() - start > args.timeout:
                    raise SystemExit(f"cell {i} timed out")
                continue
            if pid:
                peak = max(peak, tree_rss_kb(pid))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                failures.append(i)
            if msg["msg_type"] == "stream" and "panicked" in msg["content"].get("text", ""):
                failures.append(i)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        times.append(time.time() - start)
    kc.stop_channels()
    km.shutdown_kernel(now=True)

    first = ready + times[0]
    print(f"kernel ready: {ready:.1f} s; start to first cell result: {first:.1f} s")
    for i, (src, s) in enumerate(zip(cells, times)):
        head = src.strip().splitlines()[0][:60] if src.strip() else ""
        print(f"  cell {i:2d}: {s:6.2f} s  {head}")
    print(f"peak kernel memory (RSS, kernel + cell process): {peak / 1024:.0f} MiB")
    if failures:
        print(f"cells with errors: {sorted(set(failures))}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"ready": ready, "first_result": first, "cells": times, "peak_mib": peak / 1024}, f)


if __name__ == "__main__":
    main()
