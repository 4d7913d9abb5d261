"""Read an OME-Zarr image written by omeflow with the Python peers and report what they see.

Usage: read_omezarr.py IMAGE OUTDIR
Writes OUTDIR/report.json and, per level of the image and of each label image, the level's data
as C-order little-endian bytes read by zarr-python (OUTDIR/<node>_<level>.bin).
"""
import json
import sys
from pathlib import Path

import numpy as np
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader


def dump(arr, path):
    a = np.asarray(arr)
    path.write_bytes(a.astype(a.dtype.newbyteorder("<")).tobytes(order="C"))


def main():
    image, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    report = {"nodes": []}
    # ome-zarr-py: the image and its labels as napari would get them.
    reader = Reader(parse_url(str(image)))
    for node in reader():
        if not node.data:  # the `labels` group itself
            continue
        attrs = node.zarr.root_attrs
        is_label = "image-label" in attrs.get("ome", attrs)
        entry = {
            "path": str(node.zarr.path),
            "is_label": bool(is_label),
            "levels": [list(map(int, d.shape)) for d in node.data],
            "dtype": str(node.data[0].dtype),
            "axes": node.metadata.get("axes"),
            "channel_names": node.metadata.get("channel_names"),
            "name": node.metadata.get("name"),
        }
        report["nodes"].append(entry)
    # zarr-python: raw bytes of every level of the image and of labels/*.
    root = zarr.open_group(str(image), mode="r")
    attrs = dict(root.attrs)
    ome = attrs.get("ome", attrs)
    report["ome_version"] = ome.get("version") or ome["multiscales"][0].get("version")
    report["zarr_format"] = root.metadata.zarr_format
    for ds in ome["multiscales"][0]["datasets"]:
        dump(root[ds["path"]][:], out / f"image_{ds['path']}.bin")
    if "labels" in root:
        lattrs = dict(root["labels"].attrs)
        lome = lattrs.get("ome", lattrs)
        report["labels"] = lome.get("labels", [])
        for name in report["labels"]:
            g = root["labels"][name]
            gattrs = dict(g.attrs)
            gome = gattrs.get("ome", gattrs)
            report.setdefault("image_label", {})[name] = gome.get("image-label")
            for ds in gome["multiscales"][0]["datasets"]:
                dump(g[ds["path"]][:], out / f"label_{name}_{ds['path']}.bin")
    (out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
