"""scipy.ndimage references for omeflow's ndimage parity tests.

Usage: scipy_reference.py SHARED_IMAGES_DIR OUTDIR
Writes OUTDIR/cases.json and, per case, raw little-endian C-order files: the input, the smoothed
image (scipy.ndimage.gaussian_filter on the native dtype) and label images
(scipy.ndimage.label(smoothed > f * smoothed.max()) with the face and full structures).
"""
import json
import sys
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

DTYPES = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "i8": np.int8,
          "i16": np.int16, "i32": np.int32, "f32": np.float32, "f64": np.float64}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def le(a):
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()


def add_case(out, cases, name, img, sigma, mode="reflect", cval=0.0, truncate=4.0, fractions=(0.75,)):
    img = np.ascontiguousarray(img)
    smoothed = ndi.gaussian_filter(img, sigma=sigma, mode=mode, cval=cval, truncate=truncate)
    case = {"name": name, "dtype": NAMES[img.dtype], "shape": list(img.shape), "sigma": sigma,
            "mode": mode, "cval": cval, "truncate": truncate,
            "input": f"{name}.in.bin", "smoothed": f"{name}.smooth.bin", "labels": []}
    (out / case["input"]).write_bytes(le(img))
    (out / case["smoothed"]).write_bytes(le(smoothed))
    face = ndi.generate_binary_structure(img.ndim, 1)
    full = ndi.generate_binary_structure(img.ndim, img.ndim)
    mx = smoothed.max()
    for f in fractions:
        mask = smoothed > f * mx
        for conn, structure in (("face", face), ("full", full)):
            labels, n = ndi.label(mask, structure=structure)
            fname = f"{name}.f{f}.{conn}.bin"
            (out / fname).write_bytes(le(labels.astype(np.int32)))
            case["labels"].append({"fraction": f, "connectivity": conn, "count": int(n),
                                   "foreground": int(mask.sum()), "file": fname})
    case["smoothed_max"] = float(mx)
    cases.append(case)


def main():
    images, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    # Real images, as the tutorial would smooth them: sigma 1 on the native dtype.
    eh = images / "cellprofiler_examplehuman"
    for i in range(3):
        img = tifffile.imread(eh / f"AS_09125_050116030001_D03f00d{i}.tif")
        add_case(out, cases, f"examplehuman_d{i}", img, [1, 1], fractions=(0.75, 0.33))
    add_case(out, cases, "stardist_img2d", tifffile.imread(images / "stardist_dsb2018/img2d.tif"),
             [1, 1], fractions=(0.75, 0.33))
    bbbc = tifffile.imread(images / "bbbc022/IXMtest_A02_s9.tif")
    add_case(out, cases, "bbbc022_c0", bbbc[0], [1, 1], fractions=(0.75, 0.33))
    mig = tifffile.imread(images / "cancer_cell_migration/cancer_cell_migration_crop.tif")
    for t in (0, 47):
        add_case(out, cases, f"migration_t{t}", mig[t], [1, 1], fractions=(0.75, 0.33))
    add_case(out, cases, "migration_3d", mig[:12], [1, 1, 1], fractions=(0.75, 0.33))
    # Random arrays of every dtype, every mode, other sigmas and truncates.
    rng = np.random.default_rng(20261121)
    for key, dt in DTYPES.items():
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            img = rng.integers(info.min, info.max, size=(37, 41), endpoint=True, dtype=dt)
        else:
            img = (rng.standard_normal((37, 41)) * 1000).astype(dt)
        for mode in ("reflect", "mirror", "nearest", "constant", "wrap"):
            add_case(out, cases, f"rand_{key}_{mode}", img, [1.0, 1.0], mode=mode, cval=5.0)
        add_case(out, cases, f"rand_{key}_sigma", img, [2.5, 0.7], truncate=3.0)
        vol = rng.integers(0, 100, size=(9, 17, 19)).astype(dt)
        add_case(out, cases, f"rand3d_{key}", vol, [1.0, 1.5, 0.8], fractions=(0.6,))
    (out / "cases.json").write_text(json.dumps(cases, indent=1))


if __name__ == "__main__":
    main()
