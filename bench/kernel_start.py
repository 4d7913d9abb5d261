#!/usr/bin/env python3
"""Kernel start-up and per-cell times of the omeflow Rust kernel (issue 6's measurements).

    python3 bench/kernel_start.py [NOTEBOOK] [--kernel omeflow-rust]

Starts the kernel with jupyter_client, runs `1 + 1` (or each code cell of NOTEBOOK in order),
and prints: seconds from start to the kernel answering, to the first cell's result, each
cell's time, and the kernel's peak memory (max RSS of the kernel and its children: evcxr runs
cells in a child process). Run it twice: the first run after `kernel/install` or a change to the
crate is a cold start, the second a warm one.
"""
import argparse
import json
import os
import sys
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", nargs="?")
    ap.add_argument("--kernel", default="omeflow-rust")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json-out")
    args = ap.parse_args()

    if args.notebook:
        nb = nbformat.read(args.notebook, as_version=4)
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
        cwd = os.path.dirname(os.path.abspath(args.notebook))
    else:
        cells = ["1 + 1"]
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
