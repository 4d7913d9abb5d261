"""What Slurm costs a job: the same segmentation here and as an array job on a real Slurm cluster
of this machine (munged, slurmctld and three emulated slurmd nodes, `tests/slurm/cluster`), and the
tutorial's dask code on the same daemons through dask-jobqueue's SLURMCluster.

Figures: wall time of each way, time from submission to the first result, the overhead per array
element ((wall on Slurm x slots - the elements' own compute) / elements), and dask-jobqueue's time to
its first worker and its compute. The image is synthetic, shaped like IDR 4007801 at level 4
(1 x 2 x Z planes of 128 x 135 uint16), written by `cargo run --release --example bench_image`.

Needs root (the daemons) and Debian's slurmctld, slurmd, slurm-client and munge; dask-jobqueue from
PyPI for its row (`pip install dask-jobqueue`; the row says why when it is missing).

Usage: python3 bench/python/slurm_overhead.py [--dir /tmp/omeflow-slurm-bench] [--planes 2000]
                                              [--elements 100] [--dask-planes 400] [--no-dask]
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/omeflow"
CLUSTER = ROOT / "tests/slurm/cluster"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def sh(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def first_part_time(record, start, proc):
    """Seconds from `start` until the first committed part of the record, polled every 10 ms."""
    parts = record / "parts"
    while proc.poll() is None:
        if parts.is_dir() and any(p.suffix == ".json" for p in parts.iterdir()):
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def omeflow_rows(d, img, planes, elements):
    rows = {}
    local = d / f"local-{os.getpid()}"
    local.mkdir()
    t0 = time.monotonic()
    r = sh([BIN, "segment", img, "--labels-out", local, "--table-out", local / "objects.csv",
            "--threads", "2", "--json"])
    rows["local"] = {"seconds": time.monotonic() - t0, "report": json.loads(r.stdout)}

    out = d / f"slurm-{os.getpid()}"
    out.mkdir()
    record = out / "labels/segmentation/.omeflow-run"
    start = time.monotonic()
    proc = subprocess.Popen([str(BIN), "segment", str(img), "--labels-out", str(out),
                             "--table-out", str(out / "objects.csv"), "--slurm",
                             "--elements", str(elements), "--cpus-per-task", "1", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = first_part_time(record, start, proc)
    so, se = proc.communicate()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"the Slurm run failed: {se}")
    # Each element's own time, from its log line ("share i: N items recorded ... in S s").
    own = []
    for log in (record / "slurm/logs").iterdir():
        for line in log.read_text().splitlines():
            if line.startswith("share ") and " in " in line:
                own.append(float(line.rsplit(" in ", 1)[1].split()[0]))
    state = json.loads((record / "slurm/state.json").read_text())
    n = len(state["attempts"])
    same = subprocess.run(["cmp", "-s", str(local / "objects.csv"), str(out / "objects.csv")]).returncode == 0
    rows["slurm"] = {"seconds": wall, "first_result": first, "elements": n,
                     "element_seconds": sum(own), "report": json.loads(so), "same_table": same}
    return rows


def dask_row(img, planes, workers):
    """The tutorial's dask code (segment_bench.analyze) on a distributed Client of SLURMCluster."""
    try:
        import dask
        from dask_jobqueue import SLURMCluster
        from distributed import Client
        import segment_bench
    except ImportError as e:
        return {"error": f"dask-jobqueue is not installed here ({e}); pip install dask-jobqueue"}
    start = time.monotonic()
    cluster = SLURMCluster(cores=1, processes=1, memory="1GB", walltime="01:00:00",
                           python=sys.executable, scheduler_options={"host": "127.0.0.1"},
                           worker_extra_args=["--host", "127.0.0.1"],
                           # The workers import the tutorial's analyze from this folder.
                           job_script_prologue=[f"export PYTHONPATH={Path(__file__).resolve().parent}"])
    try:
        cluster.scale(jobs=workers)
        client = Client(cluster)
        client.wait_for_workers(1, timeout=300)
        first_worker = time.monotonic() - start
        client.wait_for_workers(workers, timeout=300)
        all_workers = time.monotonic() - start
        segment_bench.data = dask.array.from_zarr(str(img / "0"))
        size_z = max(1, planes // 2)
        lazy, coords = segment_bench.prepare_call(1, 2, size_z)

        # The tutorial's analyze reads the module global `data` on the worker: ship the array with
        # each task instead, as the tutorial's notebook process does by closure.
        data = segment_bench.data

        def analyze(t, c, z):
            segment_bench.data = data
            label_image, num, _ = segment_bench.analyze(t, c, z)
            return int(num) if not hasattr(num, "compute") else int(num.compute(scheduler="sync"))

        t0 = time.monotonic()
        futures = [client.submit(analyze, t, c, z, pure=False) for (t, c, z) in coords]
        counts = client.gather(futures)
        compute = time.monotonic() - t0
        client.close()
        return {"planes": len(coords), "first_worker": first_worker, "all_workers": all_workers,
                "compute": compute, "objects": sum(counts), "pps": len(coords) / compute}
    finally:
        cluster.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/omeflow-slurm-bench")
    ap.add_argument("--planes", type=int, default=2000)
    ap.add_argument("--elements", type=int, default=100)
    ap.add_argument("--dask-planes", type=int, default=400)
    ap.add_argument("--dask-workers", type=int, default=6)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("the Slurm daemons need root")
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    z = max(1, args.planes // 2)
    img = d / f"image-1x2x{z}.zarr"
    if not (img / ".zattrs").exists():
        sh(["cargo", "build", "--release", "--quiet", "--example", "bench_image"], cwd=ROOT)
        sh([ROOT / "target/release/examples/bench_image", img, "1", str(z)])
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    cluster = d / f"cluster-{os.getpid()}"
    up = sh(["bash", CLUSTER, "up", cluster, "3"])
    os.environ["SLURM_CONF"] = str(cluster / "slurm.conf")
    try:
        rows = omeflow_rows(d, img, 2 * z, args.elements)
        dask = None if args.no_dask else dask_row(img, args.dask_planes, args.dask_workers)
    finally:
        subprocess.run(["bash", str(CLUSTER), "down", str(cluster)])
    n = 2 * z
    local, slurm = rows["local"], rows["slurm"]
    slots = 6  # 3 nodes x 2 CPUs, one CPU per element
    per_element = (slurm["seconds"] * slots - slurm["element_seconds"]) / slurm["elements"]
    print(f"image: 1 x 2 x {z} planes of 128 x 135 ({n} planes); cluster: 3 emulated nodes of 2 CPUs "
          f"on this machine's {os.cpu_count()} cores")
    print(f"{'way':>22} {'s':>7} {'planes/s':>9} {'first result s':>15}")
    print(f"{'local (2 threads)':>22} {local['seconds']:7.2f} {n / local['seconds']:9.0f} {'-':>15}")
    print(f"{'slurm (' + str(slurm['elements']) + ' elements)':>22} {slurm['seconds']:7.2f} "
          f"{n / slurm['seconds']:9.0f} {slurm['first_result']:15.2f}")
    print(f"elements' own time: {slurm['element_seconds']:.2f} s in all; overhead per element "
          f"{per_element * 1000:.0f} ms ((wall x {slots} slots - own) / elements); "
          f"slurm / local wall: {slurm['seconds'] / local['seconds']:.1f}x; "
          f"tables equal: {slurm['same_table']}")
    if dask is not None:
        if "error" in dask:
            print(f"dask-jobqueue: {dask['error']}")
        else:
            print(f"dask-jobqueue SLURMCluster ({args.dask_workers} workers, tutorial's analyze, "
                  f"{dask['planes']} planes): first worker after {dask['first_worker']:.2f} s, all "
                  f"after {dask['all_workers']:.2f} s, compute {dask['compute']:.2f} s "
                  f"({dask['pps']:.0f} planes/s, {dask['objects']} objects); omeflow on Slurm is "
                  f"{(n / slurm['seconds']) / dask['pps']:.0f}x its planes/s, submission included")


if __name__ == "__main__":
    main()
