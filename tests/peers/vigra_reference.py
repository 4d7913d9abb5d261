"""vigra references for omeflow's ilastik parity tests (Debian's python3-vigra, run with /usr/bin/python3).

Usage: vigra_reference.py PROJECT.ilp SHARED_IMAGES_DIR OUTDIR
       vigra_reference.py --predict PROJECT.ilp FEATURES.bin N_FEATURES OUT.bin

Writes OUTDIR/cases.json and, per case, raw little-endian C-order float32 files:
- the input (spatial..., channels) as the features read it,
- the ilastik feature bank of the project's selection, computed with vigra the way ilastik 1.3
  does it (pre-smoothing, window sizes, per input channel; shape spatial..., n_features),
- the probabilities of every forest of the project on those features and ilastik's tree-count
  weighted average of them (shape spatial..., n_classes).
"""
import json
import math
import sys
from pathlib import Path

import h5py
import numpy as np
import vigra

FOREST_GROUP = "PixelClassification/ClassifierForests"


def load_selection(ilp):
    with h5py.File(ilp, "r") as f:
        g = f["FeatureSelections"]
        ids = [x.decode() if isinstance(x, bytes) else x for x in g["FeatureIds"][()]]
        scales = [float(s) for s in g["Scales"][()]]
        matrix = np.asarray(g["SelectionMatrix"][()], dtype=bool)
        in2d = np.asarray(g["ComputeIn2d"][()], dtype=bool) if "ComputeIn2d" in g else np.zeros(len(scales), bool)
        forests = sorted(k for k in f[FOREST_GROUP].keys() if k.startswith("Forest")) if FOREST_GROUP in f else []
    return ids, scales, matrix, in2d, forests


def feature(fid, pre, s, tags):
    """One ilastik feature of a pre-smoothed single-channel array, channels last."""
    v = vigra.taggedView(pre[..., None], tags)
    w = 2.0
    if fid == "GaussianSmoothing":
        r = vigra.filters.gaussianSmoothing(v, s, window_size=w)
    elif fid == "LaplacianOfGaussian":
        r = vigra.filters.laplacianOfGaussian(v, s, window_size=w)
    elif fid == "GaussianGradientMagnitude":
        r = vigra.filters.gaussianGradientMagnitude(v, s, window_size=w)
    elif fid == "DifferenceOfGaussians":
        r = vigra.filters.gaussianSmoothing(v, s, window_size=w) - vigra.filters.gaussianSmoothing(v, s * 0.66, window_size=w)
    elif fid == "StructureTensorEigenvalues":
        r = vigra.filters.structureTensorEigenvalues(v, s, 0.5 * s, window_size=w)
    elif fid == "HessianOfGaussianEigenvalues":
        r = vigra.filters.hessianOfGaussianEigenvalues(v, s, window_size=w)
    else:
        raise ValueError(fid)
    return np.asarray(r, dtype=np.float32).reshape(pre.shape + (-1,))


def smooth(x, sigma, tags):
    v = vigra.taggedView(x[..., None], tags)
    return np.asarray(vigra.filters.gaussianSmoothing(v, sigma, window_size=3.5), dtype=np.float32)[..., 0]


def one_channel(fid, x, s, in2d):
    """ilastik 1.3's rule: sigma > 1 is pre-smoothed to sqrt(s^2-1) and filtered at 1, else both at s."""
    pre_sigma, fs = (math.sqrt(s * s - 1.0), 1.0) if s > 1.0 else (s, s)
    if x.ndim == 3 and in2d:
        return np.stack([one_channel(fid, x[z], s, False) for z in range(x.shape[0])])
    tags = "yxc" if x.ndim == 2 else "zyxc"
    return feature(fid, smooth(x, pre_sigma, tags), fs, tags)


def features(raw, ids, scales, matrix, in2d):
    """raw: float32 (spatial..., C). Order: feature row, scale, input channel, eigenvalue."""
    out = []
    for i, fid in enumerate(ids):
        for j, s in enumerate(scales):
            if not matrix[i, j]:
                continue
            for c in range(raw.shape[-1]):
                out.append(one_channel(fid, np.ascontiguousarray(raw[..., c]), s, bool(in2d[j])))
    return np.concatenate(out, axis=-1)


def predict(ilp, forests, feats):
    x = np.ascontiguousarray(feats.reshape(-1, feats.shape[-1]), dtype=np.float32)
    per_forest, counts = [], []
    for name in forests:
        rf = vigra.learning.RandomForest(str(ilp), f"{FOREST_GROUP}/{name}")
        per_forest.append(rf.predictProbabilities(x))
        counts.append(rf.treeCount())
    # ilastik's ParallelVigraRfLazyflowClassifier: weight each forest by its tree count.
    total = np.zeros_like(per_forest[0])
    for p, n in zip(per_forest, counts):
        total += p * np.float32(n)
    total /= np.float32(sum(counts))
    shape = feats.shape[:-1] + (-1,)
    return [p.reshape(shape) for p in per_forest], total.reshape(shape), counts


def le(a):
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def add_case(out, cases, name, raw, ilp, sel, forests):
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    feats = features(raw, *sel)
    case = {"name": name, "shape": list(raw.shape), "n_features": int(feats.shape[-1]),
            "input": f"{name}.in.bin", "features": f"{name}.features.bin"}
    (out / case["input"]).write_bytes(le(raw))
    (out / case["features"]).write_bytes(le(feats))
    cases.append(case)
    if not forests:
        return  # an untrained project: features only
    with h5py.File(ilp, "r") as f:
        columns = int(f[f"{FOREST_GROUP}/{forests[0]}/_ext_param/column_count_"][0])
    if columns != feats.shape[-1]:
        return  # e.g. a 2-D image for a project trained in 3-D: features only
    per_forest, total, counts = predict(ilp, forests, feats)
    case.update({"n_classes": int(total.shape[-1]), "tree_counts": counts,
                 "probabilities": f"{name}.prob.bin", "forests": []})
    (out / case["probabilities"]).write_bytes(le(total))
    for k, p in enumerate(per_forest):
        fname = f"{name}.forest{k}.bin"
        (out / fname).write_bytes(le(p))
        case["forests"].append(fname)


def predict_file(ilp, features, nf, out):
    """vigra's prediction (ilastik's forest average) of raw float32 rows into OUT.bin."""
    with h5py.File(ilp, "r") as f:
        forests = sorted(k for k in f[FOREST_GROUP].keys() if k.startswith("Forest"))
    feats = np.fromfile(features, "<f4").reshape(-1, nf)
    _, total, _ = predict(ilp, forests, feats)
    Path(out).write_bytes(le(total))


def main():
    if sys.argv[1] == "--predict":
        predict_file(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    ilp, images, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    sel = load_selection(ilp)
    forests = sel[4]
    sel = sel[:4]
    cases = []
    # 2-D: two real channels of one field (DNA and PH3), cropped to a non-square region.
    eh = images / "cellprofiler_examplehuman"
    chans = [np.asarray(vigra.impex.readImage(str(eh / f"AS_09125_050116030001_D03f00d{i}.tif")))[..., 0].T
             for i in (0, 1)]
    raw2d = np.stack([c[100:280, 140:300] for c in chans], axis=-1)
    add_case(out, cases, "examplehuman_2d", raw2d, ilp, sel, forests)
    # 3-D: a time-lapse of nuclei read as a z-stack (z = time), two crops as the two channels.
    vol = np.asarray(vigra.impex.readVolume(str(images / "cancer_cell_migration/cancer_cell_migration_crop.tif")))
    vol = vol[..., 0].transpose(2, 1, 0)  # vigra gives x, y, z
    raw3d = np.stack([vol[:, 10:62, 20:76], vol[:, 70:122, 60:116]], axis=-1)
    add_case(out, cases, "migration_3d", raw3d, ilp, sel, forests)
    (out / "cases.json").write_text(json.dumps(cases, indent=1))


if __name__ == "__main__":
    main()
