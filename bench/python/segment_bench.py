#!/usr/bin/env python3
"""Segmentation throughput: the tutorial's dask code against `omeflow segment`.

    python3 bench/python/segment_bench.py [--fixtures DIR] [--omeflow PATH] [--workers N]
                                   [--latency-ms 50] [--dask-budget SECONDS]

For each fixture image (bench/python/make_fixtures.py) it runs
  (a) the tutorial "Analyze data stored in a public S3 repository in parallel" with dask
      (`da.from_zarr`, `dask.delayed(analyze)`, `dask.compute`, default threaded scheduler),
  (b) `omeflow segment <url> --json`,
and prints planes/s for both, their ratio, and whether per-plane object counts agree.
With --latency-ms X the fixtures are served by bench/python/latency_server.py on 127.0.0.1 with X ms
added to every request and both sides read the http:// URL. Exits 0 whatever the figures: this is a
benchmark, not a test.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.request

try:
    import dask
    import dask.array as da
    import dask_image.ndfilters
    import dask_image.ndmeasure
    IMPORT_ERROR = None
except ImportError as _e:
    IMPORT_ERROR = _e

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

GOALS = {  # omeflow planes/s divided by dask planes/s
    ("local", "small"): 100.0,
    ("local", "large"): 50.0,
    ("http", "small"): 20.0,  # stated for 50 ms added latency
    ("http", "large"): 20.0,
}


# ---------------------------------------------------------------------------------------------
# (a) the tutorial, with dask

# The tutorial's global: the dask array of the level being segmented.
data = None


def analyze(t, c, z):
    """The tutorial's analyze(), line for line, except that it also returns num_points.

    The tutorial returns (label_image, name): label_image is still a lazy dask array, so
    `dask.compute(*lazy_results)` alone only reads each plane, smooths it and takes its maximum
    (the one eager `.compute()` inside); the labelling never runs. To make dask do the same work
    as omeflow (labels and object counts for every plane) the benchmark then computes, in ONE
    `dask.compute` call over all planes, each plane's (label_image, num_points): that is what a
    tutorial user does to get the results, and one call lets the threaded scheduler run all
    planes' tasks together. That second graph reads and smooths each plane again, as the
    tutorial's structure (eager threshold, lazy labels) implies. We report both the tutorial's
    own compute ("tutorial": no labels) and the full work ("+labels"); the ratios use "+labels",
    and the table also shows the ratio against "tutorial", which flatters dask.
    (The tutorial's print() of each plane's coordinates is left out: printing thousands of lines
    measures the terminal.)
    """
    plane = data[t, c, z, :, :]
    smoothed_image = dask_image.ndfilters.gaussian_filter(plane, sigma=[1, 1])
    threshold_value = 0.75 * da.max(smoothed_image).compute()
    threshold_image = smoothed_image > threshold_value
    label_image, num_labels = dask_image.ndmeasure.label(threshold_image)
    name = 't:%s, c: %s, z:%s' % (t, c, z)
    return label_image, num_labels, name


def prepare_call(size_t, size_c, size_z):
    """The tutorial's prepare_call (loop order t, z, c), on explicit sizes."""
    lazy_results = []
    coords = []
    for t in range(size_t):
        for z in range(size_z):
            for c in range(size_c):
                lazy_result = dask.delayed(analyze)(t, c, z)
                lazy_results.append(lazy_result)
                coords.append((t, c, z))
    return lazy_results, coords


def run_dask(array_url, size_t, size_c, size_z, workers=None):
    """Run the tutorial on planes t < size_t, c < size_c, z < size_z; return figures and counts."""
    global data
    data = da.from_zarr(array_url)
    kw = {} if workers is None else {"num_workers": workers}
    lazy_results, coords = prepare_call(size_t, size_c, size_z)
    n = len(lazy_results)

    t0 = time.perf_counter()
    results = dask.compute(*lazy_results, **kw)  # the tutorial's compute()
    t1 = time.perf_counter()
    counted = dask.compute(*[(label_image, num) for label_image, num, _ in results], **kw)
    t2 = time.perf_counter()

    counts = {coord: int(num) for coord, (_, num) in zip(coords, counted)}
    del results, counted
    return {
        "planes": n,
        "tutorial_seconds": t1 - t0,
        "labels_seconds": t2 - t1,
        "seconds": t2 - t0,
        "tutorial_pps": n / (t1 - t0),
        "pps": n / (t2 - t0),
        "total_objects": sum(counts.values()),
        "counts": counts,
    }


# ---------------------------------------------------------------------------------------------
# (b) omeflow segment

def omeflow_available(binary):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return False, f"{binary} not found (cargo build --release)"
    try:
        p = subprocess.run([binary, "segment", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        return False, lines[0] if lines else f"exit {p.returncode}"
    return True, ""


def parse_json_stdout(text):
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.find("{")  # tolerate lines printed before the JSON document
    while start != -1:
        try:
            return json.loads(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
    raise ValueError("no JSON document on stdout")


def run_omeflow(binary, url, ranges=None, workers=None, timeout=1800, extra=()):
    cmd = [binary, "segment", url, "--json"]
    if ranges:
        for axis, (a, b) in zip("tcz", ranges):
            cmd += [f"--{axis}", f"{a}..{b}"]
    if workers is not None:
        cmd += ["--threads", str(workers)]
    cmd += list(extra)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", "cmd": cmd}
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-2000:]}", "cmd": cmd}
    try:
        doc = parse_json_stdout(p.stdout)
    except ValueError as e:
        return {"error": f"{e}: {p.stdout[:500]!r}", "cmd": cmd}
    planes = doc.get("planes") or []
    counts = {}
    for pl in planes:
        try:
            counts[(int(pl["t"]), int(pl["c"]), int(pl["z"]))] = int(pl["objects"])
        except (KeyError, TypeError, ValueError):
            pass
    n = int(doc.get("plane_count", len(planes)))
    secs = doc.get("seconds")
    pps = doc.get("planes_per_second")
    if pps is None and secs:
        pps = n / secs
    return {
        "cmd": cmd,
        "planes": n,
        "seconds": secs,
        "pps": pps,
        "wall_seconds": wall,
        "wall_pps": n / wall if wall > 0 else None,
        "total_objects": doc.get("total_objects"),
        "counts": counts,
    }


def compare_counts(dask_counts, omeflow_counts, show=10):
    mismatches = []
    for coord, n in sorted(dask_counts.items()):
        m = omeflow_counts.get(coord)
        if m != n:
            mismatches.append((coord, n, m))
    if mismatches:
        print(f"    object counts: {len(mismatches)} of {len(dask_counts)} planes DIFFER")
        for (t, c, z), n, m in mismatches[:show]:
            print(f"      t={t} c={c} z={z}: dask {n}, omeflow {'missing' if m is None else m}")
        if len(mismatches) > show:
            print(f"      ... {len(mismatches) - show} more")
    else:
        print(f"    object counts: equal on all {len(dask_counts)} planes compared")
    return len(mismatches)


# ---------------------------------------------------------------------------------------------
# the latency server (a child process)

class LatencyServer:
    def __init__(self, root, latency_ms):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "latency_server.py"), root,
             "--latency-ms", str(latency_ms), "--port", "0"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"latency server did not start: {line!r}")
        self.url = line.split()[-1]

    def stats(self, reset=False):
        try:
            with urllib.request.urlopen(self.url + "/__stats" + ("?reset=1" if reset else ""),
                                        timeout=10) as r:
                return json.load(r)
        except OSError:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------

def read_shape(fixtures, name):
    with open(os.path.join(fixtures, f"{name}.zarr", "0", ".zarray")) as f:
        return json.load(f)["shape"]


def choose_z(shape, args, name, rate_guess):
    """Number of z to give dask (all t and c): all planes, --dask-planes, or what fits the budget."""
    t_n, c_n, z_n = shape[:3]
    per_z = t_n * c_n
    if args.dask_planes is not None:
        want = args.dask_planes if args.dask_planes > 0 else t_n * c_n * z_n
    else:
        want = int(args.dask_budget * rate_guess)
    return max(1, min(z_n, want // per_z))


def bench_image(name, base_url, mode, args, server, omeflow_ok):
    shape = read_shape(args.fixtures, name)
    t_n, c_n, z_n = shape[:3]
    array_url = f"{base_url}/{name}.zarr/0"
    image_url = f"{base_url}/{name}.zarr"
    print(f"\n== {name}: {mode}, shape (t,c,z,y,x) = {tuple(shape)}, {t_n * c_n * z_n} planes, "
          f"dask reads {array_url}")
    row = {"pass": mode, "image": name, "shape": shape}

    # dask: warm up on the first few planes (imports, connections, caches), estimate the rate,
    # then run as many planes as fit in --dask-budget seconds (all t and c, the first z).
    warm_planes = 8 if shape[3] * shape[4] < 1_000_000 else 1
    warm_z = max(1, min(z_n, math.ceil(warm_planes / (t_n * c_n))))
    warm = run_dask(array_url, t_n, c_n, warm_z, args.workers)
    z_k = choose_z(shape, args, name, warm["pps"])
    if server:
        server.stats(reset=True)
    d = run_dask(array_url, t_n, c_n, z_k, args.workers)
    if server:
        d["requests"] = (server.stats() or {}).get("requests")
    ranges = ((0, t_n), (0, c_n), (0, z_k))
    subset = "all planes" if z_k == z_n else f"subset t 0..{t_n} c 0..{c_n} z 0..{z_k}"
    print(f"  dask:    {d['planes']} planes ({subset}): tutorial compute {d['tutorial_seconds']:.2f} s "
          f"({d['tutorial_pps']:.1f} planes/s, labels left lazy); + labels and counts "
          f"{d['labels_seconds']:.2f} s; total {d['pps']:.1f} planes/s, {d['total_objects']} objects"
          + (f", {d['requests']} HTTP requests" if d.get("requests") is not None else ""))
    row["dask"] = {k: v for k, v in d.items() if k != "counts"}

    # omeflow
    if not omeflow_ok:
        print("  omeflow: omeflow segment not available")
        row["omeflow"] = None
        return row
    url = array_url if args.omeflow_url == "array" else image_url
    best = None
    for _ in range(args.omeflow_repeat):
        if server:
            server.stats(reset=True)
        o = run_omeflow(args.omeflow, url, ranges if args.same_planes else None, args.workers,
                        args.timeout, args.omeflow_arg)
        if server and "error" not in o:
            o["requests"] = (server.stats() or {}).get("requests")
        if "error" in o:
            best = o
            break
        if best is None or (o["pps"] or 0) > (best["pps"] or 0):
            best = o
    o = best
    if "error" in o:
        print(f"  omeflow: FAILED ({' '.join(o['cmd'])}): {o['error']}")
        row["omeflow"] = {"error": o["error"]}
        return row
    print(f"  omeflow: {o['planes']} planes: {o['pps']:.1f} planes/s by its JSON ({o['seconds']} s), "
          f"{o['wall_pps']:.1f} planes/s wall clock ({o['wall_seconds']:.2f} s incl. process start), "
          f"{o['total_objects']} objects"
          + (f", {o['requests']} HTTP requests" if o.get("requests") is not None else ""))
    row["omeflow"] = {k: v for k, v in o.items() if k != "counts"}
    row["mismatches"] = compare_counts(d["counts"], o["counts"])
    row["compared"] = len(d["counts"])
    row["ratio"] = o["pps"] / d["pps"] if o["pps"] else None
    row["ratio_tutorial"] = o["pps"] / d["tutorial_pps"] if o["pps"] else None
    row["ratio_wall"] = o["wall_pps"] / d["pps"] if o["wall_pps"] else None
    goal = GOALS[("local" if mode == "local" else "http", name)]
    print(f"  ratio:   {row['ratio']:.1f}x (goal >= {goal:g}x: {'met' if row['ratio'] >= goal else 'NOT met'}); "
          f"against the tutorial's compute alone {row['ratio_tutorial']:.1f}x; wall clock {row['ratio_wall']:.1f}x")
    return row


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def print_table(rows):
    print("\n== Summary (planes/s; ratio = omeflow / dask with labels)")
    hdr = ("pass", "image", "dask planes", "dask tut.", "dask +lab", "omeflow", "omeflow wall",
           "ratio", "vs tut.", "goal", "met", "counts")
    lines = [hdr]
    for r in rows:
        d, o = r["dask"], r.get("omeflow")
        goal = GOALS[("local" if r["pass"] == "local" else "http", r["image"])]
        if o and "error" not in o:
            ratio = r["ratio"]
            counts = "equal" if r["mismatches"] == 0 else f"{r['mismatches']}/{r['compared']} differ"
            met = "yes" if ratio is not None and ratio >= goal else "NO"
            lines.append((r["pass"], r["image"], str(d["planes"]), fmt(d["tutorial_pps"]), fmt(d["pps"]),
                          fmt(o["pps"]), fmt(o["wall_pps"]), fmt(ratio) + "x", fmt(r["ratio_tutorial"]) + "x",
                          f">={goal:g}x", met, counts))
        else:
            lines.append((r["pass"], r["image"], str(d["planes"]), fmt(d["tutorial_pps"]), fmt(d["pps"]),
                          "n/a" if o is None else "failed", "-", "-", "-", f">={goal:g}x", "-", "-"))
    widths = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
    for i, l in enumerate(lines):
        print("  " + "  ".join(s.rjust(w) if j >= 2 else s.ljust(w) for j, (s, w) in enumerate(zip(l, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print("\nGoals: omeflow >= 100x dask on small planes (128 x 135), >= 50x on full-size planes "
          "(2048 x 2169), >= 20x with 50 ms added latency.")
    print("'dask tut.' is the tutorial's own compute (labels left lazy, never computed); "
          "'dask +lab' also computes labels and object counts, the work omeflow does.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", default="/tmp/omeflow-bench",
                    help="directory written by make_fixtures.py (default /tmp/omeflow-bench)")
    ap.add_argument("--omeflow", default=os.path.join(REPO, "target", "release", "omeflow"),
                    help="omeflow binary (default target/release/omeflow)")
    ap.add_argument("--workers", type=int, default=None,
                    help="dask num_workers and omeflow --threads (default: each side's own default, all cores)")
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[],
                    help="also run over HTTP on 127.0.0.1 with this much added per request (e.g. 50)")
    ap.add_argument("--no-local", action="store_true", help="skip the local-files pass")
    ap.add_argument("--images", default="small,large", help="comma list of small, large")
    ap.add_argument("--dask-budget", type=float, default=120.0,
                    help="seconds of dask work per image and pass; more planes are cut to a z subset "
                         "(default 120)")
    ap.add_argument("--dask-planes", type=int, default=None,
                    help="planes for dask per image (rounded down to whole z; 0: all), overrides the budget")
    ap.add_argument("--same-planes", action="store_true",
                    help="run omeflow on dask's subset only (--t/--c/--z); default: omeflow does all planes "
                         "and the counts of dask's planes are compared")
    ap.add_argument("--omeflow-url", choices=["array", "image"], default="array",
                    help="give omeflow the array URL (IMAGE.zarr/0, as dask and the tutorial) or the image root")
    ap.add_argument("--omeflow-repeat", type=int, default=1, help="runs of omeflow per image; best is kept")
    ap.add_argument("--omeflow-arg", action="append", default=[],
                    help="extra argument for omeflow segment (repeatable)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per omeflow run")
    ap.add_argument("--json-out", help="also write all figures to this JSON file")
    args = ap.parse_args(argv)

    args.fixtures = os.path.abspath(args.fixtures)
    images = [s.strip() for s in args.images.split(",") if s.strip()]
    for name in images:
        if not os.path.isfile(os.path.join(args.fixtures, f"{name}.zarr", "0", ".zarray")):
            print(f"missing fixture {args.fixtures}/{name}.zarr: run "
                  f"python3 bench/python/make_fixtures.py {args.fixtures}")
            return 0

    if IMPORT_ERROR is not None:
        print(f"dask side not available ({IMPORT_ERROR}): pip install dask-image")
        return 0

    ok, why = omeflow_available(args.omeflow)
    if not ok:
        print(f"omeflow segment not available ({why}); running the dask side only")
    print(f"machine: {os.cpu_count()} cores; dask {dask.__version__}, "
          f"workers {'default' if args.workers is None else args.workers}")

    passes = ([] if args.no_local else [("local", None)]) + [(f"http+{l:g}ms", l) for l in args.latency_ms]
    rows = []
    for mode, latency in passes:
        server = None
        try:
            if latency is None:
                base = args.fixtures
            else:
                server = LatencyServer(args.fixtures, latency)
                base = server.url
                print(f"\nserving {args.fixtures} at {base} with {latency:g} ms per request")
            for name in images:
                try:
                    rows.append(bench_image(name, base, mode, args, server, ok))
                except Exception as e:  # a benchmark reports, it does not stop
                    print(f"  {name}: error: {type(e).__name__}: {e}")
        finally:
            if server:
                server.stop()

    if rows:
        print_table(rows)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
