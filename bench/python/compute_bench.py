"""Task overhead: omeflow's compute / Client against dask's delayed/compute and Client.submit/gather.

Usage: python3 bench/python/compute_bench.py [--dask-max N]
Runs `cargo bench --bench compute -- --json` for omeflow (1,000 and 1,000,000 empty tasks) and
times dask on the same machine with empty tasks at 1,000 and 10,000 tasks (dask at a million
tasks takes many minutes; its per-task time is flat by then, so the 10,000 figure stands for
it, and the script says so). Prints microseconds per task and the ratios; goal: >= 1000x.
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

import dask
from dask.distributed import Client, LocalCluster

ROOT = Path(__file__).resolve().parents[2]


def empty(i):
    return i


def best(f, reps):
    b = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        b = min(b, time.perf_counter() - t)
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dask-max", type=int, default=10_000)
    args = ap.parse_args()
    out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "compute", "--", "--json"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    ours = {r["tasks"]: r for r in json.loads(out.strip().splitlines()[-1])}

    dask_rows = {}
    for n in (1_000, args.dask_max):
        lazy = lambda: dask.compute(*[dask.delayed(empty)(i) for i in range(n)])
        dask_rows[n] = {"delayed": best(lazy, 3 if n <= 1000 else 1) / n}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        for n in (1_000, args.dask_max):
            def submit_gather():
                futures = [client.submit(empty, i, pure=False) for i in range(n)]
                client.gather(futures)
            dask_rows[n]["submit"] = best(submit_gather, 2 if n <= 1000 else 1) / n

    print(f"{'tasks':>10}  {'omeflow compute':>16}  {'dask compute':>13}  {'ratio':>8}  "
          f"{'omeflow submit':>15}  {'dask submit':>12}  {'ratio':>8}   (us per empty task)")
    for n, d in ((1_000, 1_000), (1_000_000, args.dask_max)):
        o = ours[n]
        dc, ds = dask_rows[d]["delayed"], dask_rows[d]["submit"]
        oc, os_ = o["compute_s_per_task"], o["submit_gather_s_per_task"]
        note = "" if n == d else f"   (dask measured at {d} tasks)"
        print(f"{n:>10}  {oc * 1e6:>16.3f}  {dc * 1e6:>13.1f}  {dc / oc:>7.0f}x  {os_ * 1e6:>15.3f}  "
              f"{ds * 1e6:>12.1f}  {ds / os_:>7.0f}x{note}")
    print("goal: >= 1000x lower overhead per task than dask")


if __name__ == "__main__":
    main()
