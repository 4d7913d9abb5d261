# Writes notebooks/pixel_classification_zarr_parallel.ipynb (run from the repository root); edit here, not in the .ipynb.
import nbformat
from nbformat.v4 import new_notebook, new_markdown_cell as md, new_code_cell as code

cells = [
md("""# Run ilastik in parallel (Rust)

The OMERO tutorial *Run ilastik in parallel using dask*, cell for cell in Rust with **omeflow**: load every
image of a dataset, run a trained ilastik pixel-classification project on each image in parallel with the
futures API (`submit`, then `gather`), and save one probability map per image.

ilastik itself does not run here: omeflow reads the project (`.ilp`) and computes the same features and
random-forest predictions, equal to ilastik's (vigra's) to the bit. The notebook runs **offline** on a small
dataset of the embedded sample; the cell marked **ONLINE** points it at a real OMERO server. The kernel has
already run `use omeflow::prelude::*;`."""),
md("""## Settings
Offline by default: dataset 2 of the embedded sample holds three 2-channel z-stacks of nuclei. The model
is an ilastik project omeflow makes from the sample itself, on first use: two classes, "Nuclei" and
"Background", annotated on the first image's slices, trained by omeflow and saved as an `.ilp` in
ilastik's own layout (ilastik and vigra open it). To use your own project, such as the tutorial's
trained `pixel-class-133.ilp` from `ome/omero-guide-ilastik`, set the environment variable `OMEFLOW_ILP`
to its path before starting the kernel."""),
code("""let host = SAMPLE.to_string();
let username = String::new();
let password = String::new();
let dataset_id: u64 = 2;
let model_path = match std::env::var("OMEFLOW_ILP") {
    Ok(path) => omeflow::output::tidy_path(path),
    Err(_) => sample_project()?,
};
model_path"""),
md("""### ONLINE: the tutorial's data on IDR
Set `use_server` to `true` and run the notebook again to classify IDR image 6001240, a mouse blastocyst of
study idr0062A (2 channels, 236 z-planes): the kind of image `pixel-class-133.ilp` was trained on, so
point `OMEFLOW_ILP` at that project first (the sample's model knows only the sample). The host is written
as the tutorial writes it, `ws://idr.openmicroscopy.org/omero-ws`: omeflow reaches the same server's
OMERO.web JSON API over HTTPS and says so. The pixels come from the image's own OME-Zarr address on
IDR's public S3; a server without one gives a clear error that says how to name it
(`ConnectOptions::with_pixels_template`). For your own server, set the host, user and image ids; the
password is read from the environment variable `OMERO_PASSWORD`, never written in the notebook."""),
code("""let use_server = false; // ONLINE: set to true for IDR
let image_ids: Vec<u64> = vec![6001240]; // ONLINE: IDR images of idr0062A
let (host, username, password) = if use_server {
    ("ws://idr.openmicroscopy.org/omero-ws".to_string(), "public".to_string(),
     std::env::var("OMERO_PASSWORD").unwrap_or_else(|_| "public".to_string()))
} else {
    (host, username, password)
};
host"""),
md("""## Connect to the server"""),
code("""let conn = connect(&host, &username, &password)?;
conn"""),
md("""## Load the images
Every image of the dataset, with its sizes (online: the images named in `image_ids`)."""),
code("""let images: Vec<Image> = if use_server {
    image_ids.iter().map(|&id| conn.image(id)).collect::<Result<_>>()?
} else {
    conn.dataset_images(dataset_id)?
};
images"""),
md("""## Load the model
The trained project: its classes, its feature selection and its random forests."""),
code("""let model = std::sync::Arc::new(Project::open(&model_path)?);
model.as_ref()"""),
md("""## Define the analysis function
Load the image's OME-Zarr pixels (t, c, z, y, x) and classify every voxel. Like the tutorial, which
reorders the data to ilastik's t, z, y, x, c, `classify` feeds the project its axes in ilastik's order; the
result is float32 (t, z, y, x, class), class k + 1 in channel k."""),
code("""fn load_from_zarr(image: &Image, resolution: usize) -> Result<Pixels> {
    image.pixels(resolution)
}

fn analyze(image: &Image, model: &Project) -> Result<Probabilities> {
    let data = load_from_zarr(image, 0)?;
    classify(&data, model)
}"""),
md("""## Start the client
A local pool of workers, like `dask.distributed.Client()`. It lives in this variable until the end."""),
code("""let client = Client::local()?;
client"""),
md("""## Submit the work
The work starts at once, as each image is submitted; the cell returns immediately."""),
code("""let futures: Vec<Future<Probabilities>> = images
    .iter()
    .map(|image| {
        let (image, model) = (image.clone(), model.clone());
        client.submit_labeled(format!("image {}", image.id()), move || analyze(&image, &model))
    })
    .collect();
futures.len()"""),
md("""## Gather the results
Wait until the work is done and collect the probability maps, in the order of the images. The work started
at `submit`, so `gather` reports the work's own time, from the first task's start to the last one's end,
and how much of it this cell waited for."""),
code("""let results = client.gather(futures)?;
println!("{} probability maps", results.len());
results[0].clone()"""),
md("""## Save the results
As the tutorial does, the probability of the first class for each image, as a PNG; here at the plane where
that class has the most to see (the largest spread of probabilities), not blindly z = 0, which may be empty.
Each picture carries its colour scale (0..1) and names its image, class and plane."""),
code("""let gallery: Gallery = images
    .iter()
    .zip(&results)
    .map(|(image, probabilities)| {
        let (t, z) = probabilities.busiest_plane(0)?;
        let picture = probabilities.picture(0, t, z)?;
        Ok(picture.with_caption_prefix(&format!("image {} ({})", image.id(), image.name())))
    })
    .collect::<Result<_>>()?;
let saved = gallery.save_png("classification_pictures")?;
if let Some(folder) = saved.first().and_then(|p| p.parent()) {
    println!("saved {} pictures to {}", saved.len(), folder.display());
}
gallery"""),
md("""## Disconnect
When done, close the session."""),
code("""drop(client);
conn.disconnect()?;
println!("disconnected");"""),
]

nb = new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "omeflow-rust", "display_name": "Rust (omeflow)", "language": "rust"}
nb.metadata["language_info"] = {"name": "rust", "file_extension": ".rs", "mimetype": "text/rust"}
nb.metadata["omeflow"] = {"checks": {
    "expect": {
        "0": ["sample-nuclei-v1.ilp"],
        "2": ["Catalogue"],
        "3": ["1001", "1003"],
        "4": ["Nuclei", "Background", "forests"],
        "6": ["workers"],
        "7": ["3"],
        "8": ["3 probability maps", "of work, first start to last end"],
        "9": ["saved 3 pictures to /", "sample nuclei 1002", "display:grid", "linear-gradient"],
        "10": ["disconnected"],
    },
    "pictures": {"8": 2, "9": 3},
    "absent": {"9": ["/./", "/../"]},
    # The connection, the images, the project and the client show as HTML tables.
    "tables": {"2": 1, "3": 1, "4": 1, "6": 1},
}}
nbformat.write(nb, "notebooks/pixel_classification_zarr_parallel.ipynb")
