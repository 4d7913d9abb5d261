# Writes notebooks/public_s3_segmentation_parallel.ipynb (run from the repository root); edit here, not in the .ipynb.
import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell as md, new_code_cell as code

cells = [
md("""# Analyze data stored in a public S3 repository in parallel (Rust)

The OMERO tutorial *Analyze data stored in a public S3 repository in parallel*, cell for cell in Rust with
**omeflow**. We will show:

- how to connect to IDR to retrieve the image metadata;
- how to load the Zarr binary stored in a public repository;
- how to run a segmentation on each plane in parallel.

The notebook runs **offline** on omeflow's embedded sample, which answers exactly like IDR (as image 4007801).
To analyse the real image on IDR, switch the cell marked **ONLINE** below. The kernel has already run
`use omeflow::prelude::*;`."""),
md("""## Settings
Offline by default: `SAMPLE` is a local catalogue holding the embedded sample (written on first use)."""),
code("""let host = SAMPLE;
let (username, password) = ("", "");
let image_id: u64 = 4007801;
let resolution: usize = 0; // the sample's full resolution (it has 3 levels)"""),
md("""### ONLINE: the real image on IDR
Set `use_idr` to `true` and run the notebook again to analyse IDR image 4007801 at resolution level 4,
as the Python tutorial does (the pixels come from IDR's public S3 bucket)."""),
code("""let use_idr = false; // ONLINE: set to true for IDR
let (host, username, password, resolution) = if use_idr {
    ("ws://idr.openmicroscopy.org/omero-ws", "public", "public", 4)
} else {
    (host, username, password, resolution)
};
host"""),
md("""## Connect to the server"""),
code("""let conn = connect(host, username, password)?;
conn"""),
md("""## Load the image
The image's metadata: its name, sizes and channels."""),
code("""let image = conn.image(image_id)?;
image"""),
md("""## Load the binary
Open the image's OME-Zarr pixels at one resolution level. Like `dask.array.from_zarr`, this reads only
metadata: planes are fetched when a task needs them."""),
code("""let data = image.pixels(resolution)?;
data"""),
md("""## Define the analysis function
Smooth the plane with a Gaussian (sigma 1), threshold at 0.75 of the smoothed maximum, label the connected
components: `scipy.ndimage` semantics, bit for bit. Edit it as you like: it is ordinary Rust."""),
code("""fn analyze(data: &Pixels, t: usize, c: usize, z: usize) -> Result<Segmentation> {
    let plane: Array2<u16> = data.plane_as(t, c, z)?;                  // data[t, c, z, :, :]
    let smoothed_image = gaussian_filter(&plane, 1.0);                 // sigma = [1, 1]
    let max = max(&smoothed_image).unwrap_or(0.0);                    // smoothed_image.max()
    let threshold_image = above(&smoothed_image, 0.75 * max);         // smoothed > 0.75 * max
    let (label_image, _num_points) = label(&threshold_image, Connectivity::Face);
    Ok(Segmentation::new(label_image, "").at(t, c, z).with_image(plane))
}"""),
md("""Try it on one plane first: the picture shows the plane with its objects in colour."""),
code("""analyze(&data, image.size_t() / 2, 0, image.size_z() / 2)?"""),
md("""## Make the function lazy
`delayed` records each call as a task to run later in parallel, like `dask.delayed(analyze)(t, c, z)`.
As in the tutorial: the middle time points and z-sections (5 on each side), every channel."""),
code("""fn prepare_call(image: &Image, data: &Pixels) -> Vec<Delayed<Segmentation>> {
    let (middle_t, middle_z) = (image.size_t() / 2, image.size_z() / 2);
    let range_t = 5;
    let range_z = 5;
    let mut lazy_results = Vec::new();
    for t in middle_t.saturating_sub(range_t)..(middle_t + range_t).min(image.size_t()) {
        for z in middle_z.saturating_sub(range_z)..(middle_z + range_z).min(image.size_z()) {
            for c in 0..image.size_c() {
                let data = data.clone(); // cheap: every task shares the open image
                lazy_results.push(delayed(plane_name(t, c, z), move || analyze(&data, t, c, z)));
            }
        }
    }
    lazy_results
}
let lazy_results = prepare_call(&image, &data);
lazy_results.len()"""),
md("""## Compute in parallel
`compute` runs every task on all cores, prints a line of progress, and returns the results in the order of
the tasks. A task that fails is reported by its plane; the others still finish."""),
code("""let start = std::time::Instant::now();
let results = compute(lazy_results)?;
println!("Compute time (in seconds): {:.3}", start.elapsed().as_secs_f64());
results"""),
md("""## Look at the results
The middle z-section of the first channel at eight time points, each object outlined in its own colour
over its nucleus, as a grid of thumbnails; the same pictures are saved as full-size PNG files."""),
code("""let middle_z = image.size_z() / 2;
let gallery: Gallery = results
    .iter()
    .filter(|s| s.plane.is_some_and(|[_, c, z]| c == 0 && z == middle_z))
    .take(8)
    .map(|s| s.picture())
    .collect();
let saved = gallery.save_png("segmentation_pictures")?;
if let Some(folder) = saved.first().and_then(|p| p.parent()) {
    println!("saved {} pictures to {}", saved.len(), folder.display());
}
gallery"""),
md("""## Save the labels with the image
`compute` keeps every result in memory: right for these 160 planes (about 100 kB each), not for the image's
million. Before the work starts, `compute` checks the first result's size against the memory this kernel has
free, and stops with an error that says what to do when all of them would not fit. What to do is this cell:
the same tasks, computed *into* a `LabelSink`. Each plane's labels go to an OME-Zarr label image as soon as
they are computed and only its plane and object count stay in memory (memory stays at a few planes, however
many there are); the objects' measurements go to a table. The label image lines up with the image: the same
axes and NGFF version, the scale of the level it was computed at. The image itself is read-only here (on IDR,
or the sample's catalogue), so the labels go *beside* it, in `segmentation_labels_sample_4007801.ome.zarr`
(or `..._idr_...`) next to this notebook, where napari and ome-zarr-py open them.

The sink records its progress in its output. Run the cell again: it finds every plane done and says so. If
the kernel dies half way (the stop button, a dropped connection), run the notebook again: the cell goes on
from the last recorded plane. Tasks that differ (other planes) are refused rather than mixed into old output;
`.overwrite(true)` starts again, and `.job(...)` names what else must match (a version of `analyze`)."""),
code("""// One folder per image: the sample and IDR's image are different outputs.
let labels_dir = format!("segmentation_labels_{}_{image_id}.ome.zarr", if use_idr { "idr" } else { "sample" });
let sink = LabelSink::beside(&data, &labels_dir)?.table("segmentation_objects.csv")?;
let saved = Compute::new().to(sink, prepare_call(&image, &data))?;
saved"""),
md("""Read one plane's labels back from disk and show them over the plane they were computed from."""),
code("""let (middle_t, middle_z) = (image.size_t() / 2, image.size_z() / 2);
saved.get(middle_t, 0, middle_z)?"""),
md("""### Whole images
The tutorial analyses a few hundred planes; IDR image 4007801 has 532 x 2 x 988 planes at every level.
`prepare_call` over every plane, computed into a `LabelSink` as above, runs them all in this notebook with
flat memory. From a terminal, the command line runs the same recipe as a job, on all cores:

```
omeflow segment https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.1/4007801.zarr --level 4 \\
    --labels-out labels.ome.zarr --table-out objects.csv
```

Ctrl-C stops it cleanly, with a line saying how far it got; the same command again resumes from the
output's progress record (`--overwrite` starts again). `--labels` writes the label image into the image
itself when it is a local folder you may write to (`LabelSink::inside(&data)` in a notebook)."""),
md("""### On a cluster (Slurm)
When one machine is not enough, the same job runs on your facility's Slurm cluster (what dask-jobqueue's
`SLURMCluster` does in Python). The job is cut into an array job of whole label chunks; each element runs
`omeflow worker` on a node and records its planes in the output, which must be on a file system the nodes
share. `submit` returns at once, so the kernel stays free while the cluster works; look at the run, or
wait for it, in a later cell. Failed elements (a node that died) are submitted again, and the report and
table at the end are the ones a run here gives. This cell is not run here (this notebook has no cluster);
on a login node with the omeflow binary installed for the nodes it would be:

```rust
use omeflow::batch::SegmentJob;
use omeflow::slurm::{Cluster, SlurmOptions};
let cluster = Cluster::slurm(SlurmOptions {
    partition: Some("cpu".into()),           // your site's names
    time: Some("01:00:00".into()),
    cpus_per_task: 4,
    setup: vec!["module load omeflow".into()],
    binary: Some("omeflow".into()),          // on the nodes' PATH after `setup`
    ..SlurmOptions::default()
})?;
let job = SegmentJob {
    labels_out: Some("/shared/labels_4007801.ome.zarr".into()),
    table_out: Some("/shared/objects_4007801.csv".into()),
    ..SegmentJob::new("https://uk1s3.embassy.ebi.ac.uk/idr/zarr/v0.1/4007801.zarr", 4)
};
let run = cluster.submit(job)?;   // returns at once: the array is queued
run.status()?                     // any later cell: planes done, elements running, queued, failed
```

and in a later cell `run.segmentations()?` waits with a progress line, commits the labels and the table,
and shows the planes and their objects as the `compute` above does (`get(t, c, z)` reads a plane's labels
back). The handle is plain data: it survives from cell to cell, and a restarted kernel finds it again with
`SlurmRun::open("/shared/labels_4007801.ome.zarr")`.
From a terminal: `omeflow segment ... --slurm --partition cpu --time 01:00:00`, and
`omeflow jobs status|wait|cancel OUTPUT` (README, "Slurm")."""),
md("""## Disconnect
When done, close the session."""),
code("""conn.disconnect()?;
println!("disconnected");"""),
]

nb = new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "omeflow-rust", "display_name": "Rust (omeflow)", "language": "rust"}
nb.metadata["language_info"] = {"name": "rust", "file_extension": ".rs", "mimetype": "text/rust"}
nb.metadata["omeflow"] = {"checks": {
    "expect": {
        "2": ["Catalogue"],
        "3": ["4007801"],
        "4": ["uint16", "chunks"],
        "6": ["objects"],
        "7": ["160"],
        "8": ["Compute time (in seconds)", "160 planes", "objects per plane"],
        "9": ["saved 8 pictures to /", "display:grid"],
        "10": ["160 planes", "labels in /", "measurements in /"],
        "12": ["disconnected"],
    },
    "pictures": {"6": 1, "9": 8, "11": 1},
    "absent": {"9": ["/./", "/../"], "10": ["/./", "/../", "Error", "not run"]},
    # The connection, the image, the pixels and the results show as HTML tables.
    "tables": {"2": 1, "3": 1, "4": 1, "8": 1, "10": 1},
}}
nbformat.write(nb, "notebooks/public_s3_segmentation_parallel.ipynb")
