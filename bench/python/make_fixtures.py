#!/usr/bin/env python3
"""Write the two OME-Zarr benchmark images for `bench/python/segment_bench.py`.

    python3 bench/python/make_fixtures.py OUTDIR [--small-planes N] [--large-planes M] [--seed S]

Writes OUTDIR/small.zarr and OUTDIR/large.zarr: NGFF 0.4 images on Zarr v2 (zarr-python,
"/" chunk keys, blosc lz4 clevel 5 with byte shuffle as IDR writes them), uint16, axes
t, c, z, y, x, one dataset "0", an `omero` block with 2 channels.

- small.zarr: planes of 128 x 135 with chunks (1, 1, 1, 128, 135), like IDR image 4007801 at
  resolution level 4 (default t=2, c=2, z=988: 3952 planes).
- large.zarr: full-size planes of 2048 x 2169 with chunks (1, 1, 1, 1024, 1024), like level 0
  of the same image (default 16 planes).

Pixels: nuclei-like gaussian blobs (random position, size, brightness, slightly elliptical) on
a noisy background with shot noise, a few planes holding background only (as at the ends of a
light-sheet stack). Deterministic: the same arguments give the same bytes. The plane generator
`make_planes` is also used by `bench/python/plane_bench.py`.
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

SMALL_HW = (128, 135)
LARGE_HW = (2048, 2169)
SMALL_CHUNK_YX = (128, 135)
LARGE_CHUNK_YX = (1024, 1024)


def make_planes(rng, n, h, w, empty_fraction=0.05):
    """Return n planes (n, h, w) uint16 of nuclei-like blobs on noise, vectorised.

    Sizes scale with the plane: the same field of view at 128 x 135 (IDR level 4) and at
    2048 x 2169 (level 0, 16x finer), so both sizes hold a similar number of nuclei.
    """
    scale = h / SMALL_HW[0]
    kmax = 40
    counts = rng.poisson(22, size=n).clip(4, kmax)
    active = np.arange(kmax)[None, :] < counts[:, None]  # (n, K)
    empty = rng.random(n) < empty_fraction
    active &= ~empty[:, None]

    cy = rng.uniform(0, h, size=(n, kmax)).astype(np.float32)
    cx = rng.uniform(0, w, size=(n, kmax)).astype(np.float32)
    sy = (rng.uniform(2.0, 4.5, size=(n, kmax)) * scale).astype(np.float32)
    sx = (sy * rng.uniform(0.75, 1.33, size=(n, kmax))).astype(np.float32)
    peak = rng.uniform(1500, 4000, size=(n, 1))  # brightest nucleus of the plane
    amp = (peak * rng.uniform(0.3, 1.0, size=(n, kmax)) * active).astype(np.float32)

    y = np.arange(h, dtype=np.float32)
    x = np.arange(w, dtype=np.float32)
    gy = amp[:, :, None] * np.exp(-0.5 * ((y[None, None, :] - cy[:, :, None]) / sy[:, :, None]) ** 2)
    gx = np.exp(-0.5 * ((x[None, None, :] - cx[:, :, None]) / sx[:, :, None]) ** 2)
    # sum_k gy[k, y] * gx[k, x]: one batched matrix product.
    img = np.matmul(gy.transpose(0, 2, 1), gx)  # (n, h, w) float32

    background = 110.0
    read_sd2 = 12.0 ** 2  # camera read noise
    gain = 2.0  # shot noise variance per count
    sd = np.sqrt(read_sd2 + gain * img)
    img += background
    img += sd * rng.standard_normal(size=img.shape, dtype=np.float32)
    np.clip(img, 0, 65535, out=img)
    return img.astype(np.uint16)


def tcz_for(planes):
    """Choose (t, c, z) with c = 2 and t = 2 when possible, t*c*z >= planes."""
    c = 2
    t = 2 if planes >= 4 else 1
    z = max(1, math.ceil(planes / (t * c)))
    return t, c, z


def write_image(path, name, tcz, hw, chunk_yx, seed, dtype="<u2", batch_planes=None,
                empty_fraction=0.05):
    import numcodecs
    import zarr

    t_n, c_n, z_n = tcz
    h, w = hw
    if os.path.exists(path):
        shutil.rmtree(path)
    root = zarr.open_group(path, mode="w", zarr_format=2)
    arr = root.create_array(
        "0",
        shape=(t_n, c_n, z_n, h, w),
        chunks=(1, 1, 1) + tuple(chunk_yx),
        dtype=dtype,
        compressors=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
        chunk_key_encoding={"name": "v2", "separator": "/"},
        fill_value=0,
        order="C",
    )
    root.attrs.update({
        "multiscales": [{
            "version": "0.4",
            "name": name,
            "axes": [
                {"name": "t", "type": "time", "unit": "second"},
                {"name": "c", "type": "channel"},
                {"name": "z", "type": "space", "unit": "micrometer"},
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"},
            ],
            "datasets": [{
                "path": "0",
                "coordinateTransformations": [
                    {"type": "scale", "scale": [1.0, 1.0, 2.0, 0.4, 0.4]},
                ],
            }],
            "type": "gaussian",
            "metadata": {"description": "omeflow benchmark fixture (synthetic nuclei)",
                         "seed": seed},
        }],
        "omero": {
            "id": 1,
            "name": name,
            "version": "0.4",
            "channels": [
                {"active": True, "coefficient": 1.0, "color": "00FF00", "family": "linear",
                 "inverted": False, "label": "nuclei-488",
                 "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}},
                {"active": True, "coefficient": 1.0, "color": "FF00FF", "family": "linear",
                 "inverted": False, "label": "nuclei-561",
                 "window": {"start": 0, "end": 4000, "min": 0, "max": 65535}},
            ],
            "rdefs": {"defaultT": 0, "defaultZ": z_n // 2, "model": "color"},
        },
    })
    if batch_planes is None:
        # ~16 MB of float32 per batch
        batch_planes = max(1, (4 << 20) // (h * w))
    for t in range(t_n):
        for c in range(c_n):
            for z0 in range(0, z_n, batch_planes):
                z1 = min(z_n, z0 + batch_planes)
                rng = np.random.default_rng([seed, t, c, z0])
                arr[t, c, z0:z1] = make_planes(rng, z1 - z0, h, w, empty_fraction)
    return arr


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--small-planes", type=int, default=3952,
                    help="planes in small.zarr (t=2, c=2, z=ceil(N/4)); default 3952 (z=988)")
    ap.add_argument("--large-planes", type=int, default=16,
                    help="planes in large.zarr (t=2, c=2, z=ceil(M/4)); default 16")
    ap.add_argument("--seed", type=int, default=4007801)
    ap.add_argument("--big-endian", action="store_true",
                    help="store >u2 as IDR's v0.1 arrays do (default <u2)")
    ap.add_argument("--only", choices=["small", "large"], help="write one image only")
    args = ap.parse_args(argv)

    os.makedirs(args.outdir, exist_ok=True)
    dtype = ">u2" if args.big_endian else "<u2"
    summary = {}
    for name, planes, hw, chunk in (
        ("small", args.small_planes, SMALL_HW, SMALL_CHUNK_YX),
        ("large", args.large_planes, LARGE_HW, LARGE_CHUNK_YX),
    ):
        if args.only and args.only != name:
            continue
        tcz = tcz_for(planes)
        path = os.path.join(args.outdir, f"{name}.zarr")
        t0 = time.perf_counter()
        write_image(path, f"{name}.zarr", tcz, hw, chunk, args.seed, dtype)
        dt = time.perf_counter() - t0
        n = tcz[0] * tcz[1] * tcz[2]
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(path) for f in fs)
        print(f"{path}: shape (t,c,z,y,x) = {tcz + hw}, {n} planes, chunks (1,1,1,{chunk[0]},{chunk[1]}), "
              f"{size / 1e6:.1f} MB on disk, written in {dt:.1f} s")
        summary[name] = {"path": path, "shape": list(tcz + hw), "planes": n, "seconds": round(dt, 2)}
    meta_path = os.path.join(args.outdir, "fixtures.json")
    meta = {"images": {}}
    if args.only and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    meta["images"].update(summary)
    meta.update({"seed": args.seed, "dtype": dtype})
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
