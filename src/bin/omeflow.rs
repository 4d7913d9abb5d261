//! The omeflow command line: batch runs of what the notebooks do.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omeflow::batch::{
    self, ClassifyJob, ClassifyOutcome, Job, JobFile, Outcome, Progress, Report, SegmentJob,
    SegmentOutcome,
};
use omeflow::compute::ProgressLine;
use omeflow::ndimage::{Connectivity, Threshold};
use omeflow::ngff::writer::NgffVersion;
use omeflow::ngff::OmeZarr;
use omeflow::output::{tidy_location, tidy_path};
use omeflow::sample::{write_sample, SampleSpec};
use omeflow::segment::SegmentParams;
use omeflow::slurm::{SlurmOptions, SlurmRun};
use omeflow::store::StoreOptions;
use std::ops::Range;

fn parse_range(s: &str) -> Result<Range<usize>, String> {
    let bad = || format!("{s:?} is not a range like 0..10 (half-open) or a single index");
    match s.split_once("..") {
        Some((a, b)) => {
            let a: usize = a.trim().parse().map_err(|_| bad())?;
            let b: usize = b.trim().parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok(a..b)
        }
        None => {
            let i: usize = s.trim().parse().map_err(|_| bad())?;
            Ok(i..i + 1)
        }
    }
}

/// Run a job with a progress line on stderr, then print its report (`--json`: the report as
/// JSON). A run with failed items ends with an error, so the exit code says so.
fn run_job(job: &Job, options: &StoreOptions, json: bool) -> omeflow::Result<()> {
    let (name, unit) = match job {
        Job::Segment(_) => ("segment", "planes"),
        Job::Classify(_) => ("classify", "time points"),
    };
    let mut line: Option<ProgressLine> = None;
    let mut progress = |p: Progress| {
        let line = line.get_or_insert_with(|| {
            ProgressLine::new(name, Some(p.total), !json)
                .unit(unit)
                .to_stderr()
        });
        line.update_at(p.done, p.elapsed);
    };
    let report = batch::run(job, options, &mut progress)?;
    print_report(&report, job, json)
}

fn print_report(report: &Report<Outcome>, job: &Job, json: bool) -> omeflow::Result<()> {
    if json {
        println!("{}", to_json(report)?);
    }
    match (&report.outcome, job) {
        (Outcome::Segment(o), Job::Segment(job)) => print_segment(report, o, job, json),
        (Outcome::Classify(o), _) => {
            if !json {
                print_classify(report, o);
            }
            Ok(())
        }
        _ => Err(omeflow::Error::Internal(
            "a job reported another job's outcome".into(),
        )),
    }
}

fn print_segment(
    report: &Report<Outcome>,
    o: &SegmentOutcome,
    job: &SegmentJob,
    json: bool,
) -> omeflow::Result<()> {
    if !json {
        if o.resumed_planes > 0 {
            println!(
                "resumed: {} of {} planes were done by an earlier run (from the output's progress record)",
                o.resumed_planes, o.plane_count
            );
        }
        println!(
            "segmented {} planes of {} (level {}) in {:.2} s ({:.1} planes/s): {} objects",
            o.plane_count,
            tidy_location(&report.source),
            report.level,
            report.seconds,
            o.planes_per_second,
            o.total_objects
        );
        if !o.all_planes_listed {
            println!(
                "  (planes are listed up to {}; the table, --table-out, has every object)",
                omeflow::batch::segment::LISTED_PLANES
            );
        }
        for p in o.planes.iter().filter(|_| o.all_planes_listed).take(10) {
            println!("  t:{}, c:{}, z:{}  {} objects", p.t, p.c, p.z, p.objects);
        }
        if o.all_planes_listed && o.planes.len() > 10 {
            println!(
                "  ... ({} more planes; --json for all)",
                o.planes.len() - 10
            );
        }
        if let Some(l) = &o.labels_out {
            println!("labels: {}/labels/{}", tidy_location(l), job.labels_name);
        }
        if let Some(t) = &o.table_out {
            println!(
                "table: {} ({} objects)",
                tidy_path(t).display(),
                o.table_rows
            );
        }
    }
    if o.failed > 0 {
        for p in o.planes.iter().filter(|p| p.error.is_some()).take(5) {
            eprintln!(
                "error: t:{}, c:{}, z:{}: {}",
                p.t,
                p.c,
                p.z,
                p.error.as_deref().unwrap_or("")
            );
        }
        return Err(omeflow::Error::Incomplete(format!(
            "{} of {} planes failed",
            o.failed, o.plane_count
        )));
    }
    Ok(())
}

fn print_classify(report: &Report<Outcome>, o: &ClassifyOutcome) {
    let [t, z, y, x] = o.shape;
    if o.resumed_time_points > 0 {
        println!(
            "resumed: {} of {t} time points were done by an earlier run (from the output's progress record)",
            o.resumed_time_points
        );
    }
    println!(
        "classified {} (level {}, t {t} x z {z} x y {y} x x {x}, {} channels) with {}: \
         {} features, {} trees, {:.2} s ({:.0} voxels/s)",
        tidy_location(&report.source),
        report.level,
        o.channels,
        o.project,
        o.features,
        o.trees,
        report.seconds,
        o.voxels_per_second
    );
    for (name, p) in o.classes.iter().zip(&o.mean_probability) {
        println!("  {name}: mean probability {p:.3}");
    }
    if let Some(out) = &o.out {
        println!("probabilities: {}", tidy_location(out));
    }
    for p in &o.pngs {
        println!("png: {p}");
    }
}

#[derive(Parser)]
#[command(
    name = "omeflow",
    version,
    about = "OME-Zarr analysis in parallel: the OMERO tutorials, in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a batch job runs here.
#[derive(clap::Args, Clone)]
struct RunArgs {
    /// CPU threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON (no progress lines).
    #[arg(long)]
    json: bool,
}

/// Run the job on a Slurm cluster instead of here (from a login node; the outputs must be on
/// a file system the nodes share).
#[derive(clap::Args, Clone)]
struct SlurmArgs {
    /// Submit the job to Slurm as an array job, wait for it and commit the outputs here.
    #[arg(long)]
    slurm: bool,
    /// Return once submitted; `omeflow jobs wait OUTPUT` follows the job later.
    #[arg(long, requires = "slurm")]
    no_wait: bool,
    /// Slurm partition.
    #[arg(long, requires = "slurm")]
    partition: Option<String>,
    /// Slurm account.
    #[arg(long, requires = "slurm")]
    account: Option<String>,
    /// Slurm QOS.
    #[arg(long, requires = "slurm")]
    qos: Option<String>,
    /// Time limit of each array element (e.g. 01:00:00).
    #[arg(long, requires = "slurm")]
    time: Option<String>,
    /// Memory of each array element (e.g. 4G; default: estimated from the image).
    #[arg(long, requires = "slurm")]
    mem: Option<String>,
    /// CPUs (threads) of each array element.
    #[arg(long, default_value_t = 1, requires = "slurm")]
    cpus_per_task: usize,
    /// Array elements to cut the job into (at most the cluster's MaxArraySize).
    #[arg(long, requires = "slurm")]
    elements: Option<usize>,
    /// Runs of an element before its failure is final.
    #[arg(long, default_value_t = 3, requires = "slurm")]
    attempts: u32,
    /// An extra #SBATCH option, e.g. --sbatch=--constraint=avx2 (repeatable).
    #[arg(long = "sbatch", requires = "slurm")]
    sbatch: Vec<String>,
    /// A shell line run on the node before omeflow, e.g. "module load omeflow" (repeatable).
    #[arg(long = "setup", requires = "slurm")]
    setup: Vec<String>,
    /// The omeflow binary on the nodes (default: this one).
    #[arg(long, requires = "slurm")]
    slurm_binary: Option<std::path::PathBuf>,
}

impl SlurmArgs {
    fn options(&self) -> omeflow::Result<SlurmOptions> {
        let binary = match &self.slurm_binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().map_err(|e| omeflow::Error::Io {
                context: "finding this omeflow binary for the nodes".into(),
                source: e,
            })?,
        };
        let o = SlurmOptions {
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            mem: self.mem.clone(),
            cpus_per_task: self.cpus_per_task,
            extra: self.sbatch.clone(),
            setup: self.setup.clone(),
            binary: Some(binary),
            elements: self.elements,
            attempts: self.attempts,
            ..SlurmOptions::default()
        };
        o.validate()?;
        Ok(o)
    }
}

/// Submit `job` to Slurm; unless `--no-wait`, follow it and print its report as a local run.
fn run_slurm(
    job: &Job,
    slurm: &SlurmArgs,
    options: &StoreOptions,
    json: bool,
) -> omeflow::Result<()> {
    let run = SlurmRun::submit(job, &slurm.options()?, options)?;
    let st = run.status()?;
    if !json {
        eprintln!(
            "submitted to Slurm as array job {} ({} elements); its files: {}",
            st.arrays
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            st.elements,
            run.dir().display()
        );
    }
    if slurm.no_wait {
        if json {
            println!("{}", to_json(&st)?);
        } else {
            println!(
                "follow it with: omeflow jobs wait {0}\nstop it with: omeflow jobs cancel {0}",
                run.dir().display()
            );
        }
        return Ok(());
    }
    wait_and_report(&run, json)
}

fn wait_and_report(run: &SlurmRun, json: bool) -> omeflow::Result<()> {
    let (name, unit) = match run.job() {
        Job::Segment(_) => ("slurm", "planes"),
        Job::Classify(_) => ("slurm", "time points"),
    };
    let mut line: Option<ProgressLine> = None;
    let report = run.wait(&mut |p| {
        let line = line.get_or_insert_with(|| {
            ProgressLine::new(name, Some(p.total), !json)
                .unit(unit)
                .to_stderr()
        });
        line.update_at(p.done, p.elapsed);
    })?;
    print_report(&report, run.job(), json)
}

#[derive(clap::Args, Clone)]
struct RemoteArgs {
    /// S3 endpoint for s3:// URLs (e.g. https://uk1s3.embassy.ebi.ac.uk); default: AWS_ENDPOINT_URL or AWS.
    #[arg(long)]
    endpoint: Option<String>,
    /// S3 region; default: AWS_REGION or us-east-1.
    #[arg(long)]
    region: Option<String>,
    /// Ignore AWS credentials in the environment and read anonymously.
    #[arg(long)]
    anonymous: bool,
    /// Retries after the first attempt on timeouts, dropped connections and 5xx answers.
    #[arg(long, default_value_t = 4)]
    retries: usize,
}

impl RemoteArgs {
    fn options(&self) -> StoreOptions {
        let mut o = StoreOptions::default().with_max_retries(self.retries);
        o.endpoint = self.endpoint.clone();
        o.region = self.region.clone();
        o.anonymous = self.anonymous;
        o
    }
}

#[derive(clap::Args, Clone)]
struct OmeroArgs {
    /// OMERO.web host (idr.openmicroscopy.org means HTTPS) or URL, a folder of OME-Zarr images,
    /// or omeflow:sample.
    #[arg(long)]
    host: String,
    /// User name; empty for public data (IDR).
    #[arg(long, default_value = "")]
    user: String,
    /// Read the password from the first line of stdin (never from the command line).
    #[arg(long)]
    password_stdin: bool,
}

impl OmeroArgs {
    fn connect(&self) -> omeflow::Result<omeflow::omero::Connection> {
        let mut password = String::new();
        if self.password_stdin {
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| omeflow::Error::Io {
                    context: "reading the password from stdin".into(),
                    source: e,
                })?;
        }
        let password = password.trim_end_matches(['\r', '\n']);
        omeflow::omero::connect(&self.host, &self.user, password)
    }
}

/// A report as pretty JSON. omeflow's reports are plain structs, so this does not fail; if it
/// did, it would be a bug, not the user's input.
fn to_json(value: &impl serde::Serialize) -> omeflow::Result<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| omeflow::Error::Internal(format!("writing the report as JSON: {e}")))
}

#[derive(Subcommand)]
enum Command {
    /// Write the embedded sample image (a nuclei time-lapse, 2 channels, 3 levels, uint16) and show it.
    Sample {
        /// Where to write it.
        #[arg(default_value = "omeflow-sample.ome.zarr")]
        dir: String,
        /// NGFF version: 0.4 (Zarr v2) or 0.5 (Zarr v3).
        #[arg(long, default_value = "0.4")]
        ngff: String,
        /// Print the image summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Segment every plane (Gaussian, threshold at a fraction of the max, connected components).
    Segment {
        /// A path, file://, http(s):// or s3:// URL of an OME-Zarr image.
        url: String,
        /// Resolution level.
        #[arg(long, default_value_t = 0)]
        level: usize,
        /// Gaussian sigma in pixels.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        sigma: f64,
        /// Threshold as a fraction of each smoothed plane's maximum.
        #[arg(long, default_value_t = 0.75, allow_negative_numbers = true)]
        threshold: f64,
        /// Connectivity: 4 or 8.
        #[arg(long, default_value_t = 4)]
        connectivity: usize,
        /// Time points A..B (half-open).
        #[arg(long, value_parser = parse_range)]
        t: Option<Range<usize>>,
        /// Channels A..B (half-open).
        #[arg(long, value_parser = parse_range)]
        c: Option<Range<usize>>,
        /// Z planes A..B (half-open).
        #[arg(long, value_parser = parse_range)]
        z: Option<Range<usize>>,
        /// Write the label image to `labels/<name>` of this location: the image's own path to
        /// write into it, another folder to write beside it (for a read-only image). Aligned
        /// with the image (its axes, NGFF version and the scales of its levels).
        #[arg(long)]
        labels_out: Option<String>,
        /// Write the label image into the image itself (a local image you may write to).
        #[arg(long, conflicts_with = "labels_out")]
        labels: bool,
        /// Start the outputs again instead of resuming them (deletes only what omeflow wrote).
        #[arg(long)]
        overwrite: bool,
        /// Name of the label image.
        #[arg(long, default_value = "segmentation")]
        labels_name: String,
        /// Write per-object measurements to this file (.csv or .json).
        #[arg(long)]
        table_out: Option<std::path::PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// Show an OMERO image: sizes T/C/Z/Y/X, pixel type, physical sizes, channels.
    Image {
        /// Image id.
        id: u64,
        #[command(flatten)]
        omero: OmeroArgs,
        /// Print the image as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the images of an OMERO dataset.
    Dataset {
        /// Dataset id.
        id: u64,
        #[command(flatten)]
        omero: OmeroArgs,
        /// Print `{"dataset": ID, "images": [...]}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a trained ilastik Pixel Classification project (.ilp) on every time point of an image.
    Classify {
        /// A path, file://, http(s):// or s3:// URL of an OME-Zarr image (t, c, z, y, x).
        url: String,
        /// The ilastik project (.ilp) with trained forests.
        #[arg(long)]
        project: std::path::PathBuf,
        /// Resolution level.
        #[arg(long, default_value_t = 0)]
        level: usize,
        /// Write the probabilities as an OME-Zarr image (float32, one channel per class).
        #[arg(long)]
        out: Option<String>,
        /// Write a PNG of each class at plane --png-z of each time point into this folder.
        #[arg(long)]
        png: Option<std::path::PathBuf>,
        /// The plane of the PNGs.
        #[arg(long, default_value_t = 0)]
        png_z: usize,
        /// Start the output again instead of resuming it (deletes only what omeflow wrote).
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// Run one array element's share of a job a `--slurm` run wrote (what Slurm's nodes run).
    Worker {
        /// The job file (`slurm/job-file.json` in the output's progress record).
        job_file: std::path::PathBuf,
        /// The share to run (the array index).
        #[arg(long)]
        index: usize,
        /// CPU threads (default: 1).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Follow, wait for or cancel a job submitted with --slurm.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Show an OME-Zarr image: levels with shape, chunks and dtype, axes, channels.
    Info {
        /// A path, file://, http(s):// or s3:// URL of an OME-Zarr image.
        url: String,
        /// Print JSON (fields documented in README).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

#[derive(Subcommand)]
enum JobsAction {
    /// Where the job stands: items done, elements running, queued and failed (with why).
    Status {
        /// The output the job writes (label image location, table or probabilities image), or
        /// its run folder.
        output: std::path::PathBuf,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Wait for the job (submitting failed elements again), commit its outputs, print its report.
    Wait {
        output: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Cancel every element still queued or running; what they recorded is kept.
    Cancel { output: std::path::PathBuf },
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe would panic; a Unix tool ends quietly.
    #[cfg(unix)]
    // SAFETY: setting a signal's action to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The first Ctrl-C stops a batch run cleanly (what it finished is recorded, a rerun goes
    // on); a second one ends the process at once.
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic and resets its own action, both
    // async-signal-safe; installed before any thread starts.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    omeflow::runtime::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ omeflow::Error::Interrupted(_)) => {
            eprintln!("{}", omeflow::store::redact(&e.to_string()));
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {}", omeflow::store::redact(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
extern "C" fn on_interrupt(_: libc::c_int) {
    omeflow::batch::interrupt();
    // SAFETY: signal() is async-signal-safe; the next Ctrl-C gets the default action.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

/// One array element: run its share; on failure leave an error marker beside the job file
/// (named by the index and Slurm's array job, so the submitter can say why) and exit non-zero.
fn run_worker(
    job_file: &std::path::Path,
    index: usize,
    threads: Option<usize>,
) -> omeflow::Result<()> {
    let node = std::env::var("SLURMD_NODENAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into());
    let ran = JobFile::read(job_file).and_then(|f| f.run_share(index, threads, &mut |_| {}));
    match ran {
        Ok(done) => {
            println!(
                "share {index}: {} items recorded ({} by an earlier run) in {:.2} s on {node}",
                done.recorded, done.resumed, done.seconds
            );
            Ok(())
        }
        Err(e) => {
            let array = std::env::var("SLURM_ARRAY_JOB_ID").unwrap_or_else(|_| "local".into());
            if let Some(dir) = job_file.parent() {
                let text = format!(
                    "on node {node}: {}\n",
                    omeflow::store::redact(&e.to_string())
                );
                let marker = dir.join("errors").join(format!("{index}-{array}.txt"));
                let _ = std::fs::create_dir_all(dir.join("errors"));
                let _ = omeflow::output::write_file(&marker, text.as_bytes());
            }
            Err(e)
        }
    }
}

fn print_info(image: &OmeZarr, json: bool) -> omeflow::Result<()> {
    let info = image.info()?;
    if json {
        println!("{}", to_json(&info)?);
    } else {
        print!("{info}");
    }
    Ok(())
}

fn run(cli: Cli) -> omeflow::Result<()> {
    match cli.command {
        Command::Sample { dir, ngff, json } => {
            let version = match ngff.as_str() {
                "0.4" => NgffVersion::V0_4,
                "0.5" => NgffVersion::V0_5,
                other => {
                    return Err(omeflow::Error::InvalidArgument(format!(
                        "--ngff {other}: omeflow writes 0.4 or 0.5"
                    )))
                }
            };
            let spec = SampleSpec {
                version,
                ..SampleSpec::default()
            };
            let path = write_sample(&dir, &spec)?;
            if !json {
                println!("wrote the sample image to {}", tidy_location(&path));
            }
            print_info(&omeflow::ngff::open_image(&path)?, json)
        }
        Command::Segment {
            url,
            level,
            sigma,
            threshold,
            connectivity,
            t,
            c,
            z,
            labels_out,
            labels,
            overwrite,
            labels_name,
            table_out,
            run,
            remote,
            slurm,
        } => {
            let labels_out = if labels {
                Some(url.clone())
            } else {
                labels_out
            };
            let job = SegmentJob {
                overwrite,
                t,
                c,
                z,
                params: SegmentParams {
                    sigma,
                    threshold: Threshold::Fraction(threshold),
                    connectivity: Connectivity::from_count(connectivity)?,
                },
                labels_out,
                labels_name,
                table_out,
                threads: run.threads,
                ..SegmentJob::new(url, level)
            };
            if slurm.slurm {
                return run_slurm(&Job::Segment(job), &slurm, &remote.options(), run.json);
            }
            run_job(&Job::Segment(job), &remote.options(), run.json)
        }
        Command::Image { id, omero, json } => {
            let conn = omero.connect()?;
            let image = conn.image(id)?;
            if json {
                println!("{}", to_json(&image)?);
            } else {
                print!("{image}");
            }
            conn.disconnect()
        }
        Command::Dataset { id, omero, json } => {
            use omeflow::omero::ImageList;
            let conn = omero.connect()?;
            let images = conn.dataset_images(id)?;
            if json {
                println!(
                    "{}",
                    to_json(&serde_json::json!({ "dataset": id, "images": images }))?
                );
            } else {
                println!("dataset {id} on {}", conn.host());
                print!("{}", images.table());
            }
            conn.disconnect()
        }
        Command::Classify {
            url,
            project,
            level,
            out,
            png,
            png_z,
            overwrite,
            run,
            remote,
            slurm,
        } => {
            let job = ClassifyJob {
                overwrite,
                out,
                png_dir: png,
                png_z,
                threads: run.threads,
                ..ClassifyJob::new(url, level, project)
            };
            if slurm.slurm {
                return run_slurm(&Job::Classify(job), &slurm, &remote.options(), run.json);
            }
            run_job(&Job::Classify(job), &remote.options(), run.json)
        }
        Command::Worker {
            job_file,
            index,
            threads,
        } => run_worker(&job_file, index, threads),
        Command::Jobs { action } => match action {
            JobsAction::Status { output, json } => {
                let st = SlurmRun::open(&output)?.status()?;
                if json {
                    println!("{}", to_json(&st)?);
                } else {
                    println!("{st}");
                }
                Ok(())
            }
            JobsAction::Wait { output, json } => {
                let run = SlurmRun::open(&output)?;
                wait_and_report(&run, json)
            }
            JobsAction::Cancel { output } => {
                let st = SlurmRun::open(&output)?.cancel()?;
                println!("cancelled: no element is queued or running; {st}");
                println!("what was recorded is kept: submit the same job again to go on");
                Ok(())
            }
        },
        Command::Info { url, json, remote } => {
            let image = OmeZarr::open(&url, &remote.options())?;
            print_info(&image, json)
        }
    }
}
