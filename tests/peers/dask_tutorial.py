"""Write a multi-plane OME-Zarr fixture with zarr-python and segment it with the tutorial's own
dask-image code.

Usage: dask_tutorial.py OUTDIR
Writes OUTDIR/image.zarr (NGFF 0.4, Zarr v2, uint16, t,c,z,y,x), OUTDIR/counts.json (a list of
{t, c, z, objects} from the tutorial's analyze()) and OUTDIR/labels.bin (every plane's labels,
int32 little endian, t,c,z,y,x).
"""
import json
import sys
from pathlib import Path

import dask
import dask.array as da
import dask_image.ndfilters
import dask_image.ndmeasure
import numpy as np
import zarr


def write_fixture(path):
    rng = np.random.default_rng(4007801)
    shape = (2, 2, 4, 96, 110)
    yy, xx = np.mgrid[0:shape[3], 0:shape[4]]
    data = np.empty(shape, np.uint16)
    for t in range(shape[0]):
        for c in range(shape[1]):
            for z in range(shape[2]):
                plane = rng.normal(120, 15, shape[3:])
                for _ in range(rng.integers(3, 12)):
                    cy, cx = rng.uniform(5, shape[3] - 5), rng.uniform(5, shape[4] - 5)
                    r = rng.uniform(2, 7)
                    plane += rng.uniform(300, 3000) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
                data[t, c, z] = np.clip(plane, 0, 65535).astype(np.uint16)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
                 {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
                 {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, 1, 1]}]}],
    }]
    arr = root.create_array("0", shape=shape, chunks=(1, 1, 1, 64, 64), dtype="uint16",
                            chunk_key_encoding={"name": "v2", "separator": "/"})
    arr[:] = data


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write_fixture(out / "image.zarr")

    # The tutorial's code, as it reads the binary and analyses each plane.
    data = da.from_zarr(str(out / "image.zarr" / "0"))

    def analyze(t, c, z):
        plane = data[t, c, z, :, :]
        smoothed_image = dask_image.ndfilters.gaussian_filter(plane, sigma=[1, 1])
        threshold_value = 0.75 * da.max(smoothed_image).compute()
        threshold_image = smoothed_image > threshold_value
        labeled_image, num_points = dask_image.ndmeasure.label(threshold_image)
        name = 't:%s, c: %s, z:%s' % (t, c, z)
        return labeled_image, num_points, name

    size_t, size_c, size_z = data.shape[:3]
    lazy_results = []
    for t in range(size_t):
        for c in range(size_c):
            for z in range(size_z):
                lazy_results.append(dask.delayed(analyze)(t, c, z))
    results = dask.compute(*lazy_results)
    counts, labels = [], []
    i = 0
    for t in range(size_t):
        for c in range(size_c):
            for z in range(size_z):
                labeled, n, _ = results[i]
                labeled, n = dask.compute(labeled, n)
                counts.append({"t": t, "c": c, "z": z, "objects": int(n)})
                labels.append(np.asarray(labeled, dtype="<i4"))
                i += 1
    (out / "counts.json").write_text(json.dumps(counts))
    (out / "labels.bin").write_bytes(np.stack(labels).tobytes())


if __name__ == "__main__":
    main()
