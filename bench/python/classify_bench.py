"""vigra (what ilastik runs) against omeflow: features + prediction of pixel-class-133.ilp.

Usage: /usr/bin/python3 bench/python/classify_bench.py [--z 237] [--threads 1,2] [--skip-omeflow]

Run with Debian's /usr/bin/python3 (python3-vigra, python3-h5py). Synthesises the stack of
bench/rust/classify.rs (z 237 x y 218 x x 212, 2 channels, uint16; the same integer formula), times
vigra computing the project's 122 features and predicting with its eight forests, runs
`cargo bench --bench classify` on the same stack, compares the probabilities and prints
voxels per second for both.

vigra is timed in two ways: serial (one call after another, as vigranumpy runs), and with a
thread per core (vigranumpy releases the GIL: feature channels in parallel, then the forests in
parallel, the way ilastik's ParallelVigraRfLazyflowClassifier predicts).
"""
import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import vigra

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
import vigra_reference as ref  # noqa: E402

ILP = ROOT.parent / "shared" / "data" / "ilastik" / "pixel-class-133.ilp"
SHAPE = (237, 218, 212)
M64 = (1 << 64) - 1


def splitmix64(x):
    """Vectorised over uint64 arrays (numpy wraps on overflow) or plain ints."""
    if isinstance(x, int):
        z = (x + 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def stack(nz):
    """bench/rust/classify.rs's stack: (z, y, x, c) uint16."""
    _, ny, nx = SHAPE
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    i = ((z * ny + y) * nx + x).astype(np.uint64)
    c0 = 300 + (splitmix64(i) % np.uint64(256)).astype(np.int64)
    c1 = 200 + (splitmix64(np.uint64(1 << 40) + i) % np.uint64(256)).astype(np.int64)
    shell = np.zeros(c0.shape, bool)
    for s in range(48):
        h = splitmix64(1_000_000 + s)
        cz, cy, cx, r = h % SHAPE[0], (h >> 16) % ny, (h >> 32) % nx, 6 + (h >> 48) % 10
        d2 = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2
        inside = d2 <= r * r
        # C-style integer division (truncation toward zero); d2 >= 0 here.
        c0[inside] += 2500 - (1500 * d2[inside]) // (r * r)
        shell |= np.abs(d2 - r * r) <= 2 * r
    c1[shell] += 1800
    c1[(x + 2 * y + 3 * z) % 47 < 2] += 600
    return np.stack([np.minimum(c0, 65535), np.minimum(c1, 65535)], axis=-1).astype(np.uint16)


def vigra_features(raw, sel, threads):
    """ilastik's 122 features of the whole volume into one (N, F) float32 matrix."""
    ids, scales, matrix, in2d = sel
    jobs = []
    for i, fid in enumerate(ids):
        for j, s in enumerate(scales):
            if matrix[i, j]:
                for c in range(raw.shape[-1]):
                    jobs.append((fid, s, c, bool(in2d[j])))
    n = int(np.prod(raw.shape[:-1]))
    widths = [3 if fid in ("StructureTensorEigenvalues", "HessianOfGaussianEigenvalues") else 1
              for fid, _, _, _ in jobs]
    offsets = np.cumsum([0] + widths)
    out = np.empty((n, offsets[-1]), np.float32)
    chans = [np.ascontiguousarray(raw[..., c], dtype=np.float32) for c in range(raw.shape[-1])]

    def run(k):
        fid, s, c, in2d_ = jobs[k]
        f = ref.one_channel(fid, chans[c], s, in2d_)
        out[:, offsets[k]:offsets[k + 1]] = f.reshape(n, -1)

    if threads == 1:
        for k in range(len(jobs)):
            run(k)
    else:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            list(ex.map(run, range(len(jobs))))
    return out


def vigra_predict(feats, forests, threads):
    rfs = [vigra.learning.RandomForest(str(ILP), f"{ref.FOREST_GROUP}/{name}") for name in forests]
    if threads == 1:
        preds = [rf.predictProbabilities(feats) for rf in rfs]
    else:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            preds = list(ex.map(lambda rf: rf.predictProbabilities(feats), rfs))
    total = np.zeros_like(preds[0])
    for p, rf in zip(preds, rfs):
        total += p * np.float32(rf.treeCount())
    total /= np.float32(sum(rf.treeCount() for rf in rfs))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--z", type=int, default=SHAPE[0], help="planes of the stack (default 237)")
    ap.add_argument("--threads", default="1,2", help="vigra thread counts to time")
    ap.add_argument("--skip-omeflow", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    raw = stack(args.z)
    print(f"stack {raw.shape} synthesised in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    voxels = args.z * SHAPE[1] * SHAPE[2]
    sel = ref.load_selection(ILP)
    forests = sel[4]
    sel = sel[:4]
    results = []
    probs = None
    for n in [int(v) for v in args.threads.split(",")]:
        t0 = time.perf_counter()
        feats = vigra_features(raw, sel, n)
        t1 = time.perf_counter()
        probs = vigra_predict(feats, forests, n)
        t2 = time.perf_counter()
        del feats
        r = {"impl": "vigra", "threads": n, "shape": [args.z, SHAPE[1], SHAPE[2], 2],
             "seconds": round(t2 - t0, 3), "features_seconds": round(t1 - t0, 3),
             "predict_seconds": round(t2 - t1, 3), "voxels_per_second": round(voxels / (t2 - t0)),
             "mean_class2": float(probs[:, 1].mean())}
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.skip_omeflow:
        return
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "probs.bin"
        cmd = ["cargo", "bench", "--bench", "classify", "--", "--z", str(args.z),
               "--threads", "1,2", "--probs", str(out)]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"cargo bench failed:\n{run.stderr[-3000:]}")
        ours = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        for r in ours:
            print(json.dumps(r), flush=True)
        mine = np.fromfile(out, "<f4").reshape(probs.shape)
        diff = np.abs(mine - probs)
        print(json.dumps({"max_abs_diff": float(diff.max()),
                          "values_over_1e-5": int((diff > 1e-5).sum()), "values": int(diff.size)}))
    best_vigra = max(r["voxels_per_second"] for r in results)
    print("\n| implementation | threads | seconds | voxels/s |")
    print("|---|---|---|---|")
    for r in results + ours:
        print(f"| {r['impl']} | {r['threads']} | {r['seconds']:.1f} | {r['voxels_per_second']:,.0f} |")
    for r in ours:
        print(f"omeflow on {r['threads']} thread(s): {r['voxels_per_second'] / best_vigra:.1f}x "
              f"vigra's best ({best_vigra:,.0f} voxels/s)")


if __name__ == "__main__":
    main()
