//! The omeflow command line: batch runs of what the notebooks do.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omeflow::ngff::writer::NgffVersion;
use omeflow::ngff::OmeZarr;
use omeflow::sample::{write_sample, SampleSpec};
use omeflow::store::StoreOptions;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_info(image: &OmeZarr, json: bool) -> omeflow::Result<()> {
    let info = image.info()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info)
                .map_err(|e| omeflow::Error::InvalidArgument(e.to_string()))?
        );
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
                println!("wrote the sample image to {path}");
            }
            print_info(&omeflow::ngff::open_image(&path)?, json)
        }
        Command::Info { url, json, remote } => {
            let image = OmeZarr::open(&url, &remote.options())?;
            print_info(&image, json)
        }
    }
}
