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
Offline by default: dataset 2 of the embedded sample holds three 2-channel z-stacks. The model is the
tutorial's trained project `pixel-class-133.ilp` (from `ome/omero-guide-ilastik`); set `OMEFLOW_ILP` to
use your own copy."""),
code("""let host = SAMPLE.to_string();
let username = String::new();
let password = String::new();
let dataset_id: u64 = 2;
let model_path = std::env::var("OMEFLOW_ILP")
    .unwrap_or_else(|_| format!("{}/../shared/data/ilastik/pixel-class-133.ilp", omeflow::SOURCE_DIR));
model_path"""),
md("""### ONLINE: a real OMERO server
Set `use_server` to `true`, and the host, user, dataset and the address of your images' OME-Zarr pixels
(`{id}` is the image id). The password is read from the environment variable `OMERO_PASSWORD`, never
written in the notebook."""),
code("""let use_server = false; // ONLINE: set to true for your server
let pixels_template = "https://example.org/zarr/{id}.zarr";
let (host, username, password, dataset_id) = if use_server {
    ("wss://workshop.openmicroscopy.org/omero-ws".to_string(), "trainer-1".to_string(),
     std::env::var("OMERO_PASSWORD").unwrap_or_default(), 6210)
} else {
    (host, username, password, dataset_id)
};
host"""),
md("""## Connect to the server"""),
code("""let options = if use_server {
    ConnectOptions::default().with_pixels_template(pixels_template)
} else {
    ConnectOptions::default()
};
let conn = connect_with(&host, &username, &password, options)?;
conn"""),
md("""## Load the images
Every image of the dataset, with its sizes."""),
code("""let images = conn.dataset_images(dataset_id)?;
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
Wait until the work is done and collect the probability maps, in the order of the images."""),
code("""let start = std::time::Instant::now();
let results = client.gather(futures)?;
println!("Compute time (in seconds): {:.3}", start.elapsed().as_secs_f64());
println!("{} probability maps", results.len());
results[0].clone()"""),
md("""## Save the results
As the tutorial does: for each image, the probability of the first class at t = 0, z = 0, as a PNG."""),
code("""let gallery: Gallery = images
    .iter()
    .zip(&results)
    .map(|(image, probabilities)| {
        probabilities.picture(0, 0, 0).map(|p| p.with_caption(format!("image {} ({})", image.id(), image.name())))
    })
    .collect::<Result<_>>()?;
let saved = gallery.save_png("classification_pictures")?;
println!("saved {} pictures to classification_pictures/", saved.len());
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
        "0": ["pixel-class-133.ilp"],
        "2": ["Catalogue"],
        "3": ["1001", "1003"],
        "4": ["Label 1", "forests"],
        "6": ["workers"],
        "7": ["3"],
        "8": ["3 probability maps"],
        "9": ["saved 3 pictures"],
        "10": ["disconnected"],
    },
    "pictures": {"8": 2, "9": 3},
    # The connection, the images, the project and the client show as HTML tables.
    "tables": {"2": 1, "3": 1, "4": 1, "6": 1},
}}
nbformat.write(nb, "notebooks/pixel_classification_zarr_parallel.ipynb")
