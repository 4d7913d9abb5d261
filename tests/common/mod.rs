//! Shared test infrastructure for omeflow's integration tests (`mod common;`), one file per idea:
//!
//! * `fixtures.rs`: [`fixtures`](fixtures()) / [`manifest`], OME-Zarr fixtures generated once by
//!   `tests/fixtures/make_fixtures.py` (python3 + zarr-python 3 + ome-zarr-py).
//! * `nuclei.rs`: [`nuclei_image`], a synthetic image of moving nuclei, and [`tree`], the files
//!   an output holds (but its progress record), to compare runs byte for byte.
//! * `nginx.rs`: [`Nginx`], Debian's nginx serving a directory as static files (Range works).
//! * `s3.rs`: [`S3Server`], `s3s-fs` serving a directory whose subdirectories are buckets.
//! * `fault_server.rs`: [`FaultServer`], tiny std-only HTTP/1.1 servers that misbehave on purpose.
//! * `http.rs`: [`http_request`], a raw HTTP/1.1 client (Connection: close) for asserting on
//!   servers, and [`read_http_request`] for the tests' own fake servers.
//! * `shared.rs`: [`shared_data`], the parity data in `../shared/data`, or a skip line.
//! * `slurm.rs`: [`SlurmCluster`], real slurmctld and slurmd (emulated nodes) with munge.
//! * `process.rs`: starting, waiting for and stopping the server processes (private).
//!
//! Everything public is re-exported here, so tests write `common::Nginx`, `common::fixture(..)`
//! and so on. Only std, `tempfile` and `serde_json` are used.
#![allow(dead_code)]

mod fault_server;
mod fixtures;
mod http;
mod nginx;
mod nuclei;
mod process;
mod s3;
mod shared;
mod slurm;

// Each test binary uses part of these, as with `dead_code` above.
#[allow(unused_imports)]
pub use fault_server::FaultServer;
#[allow(unused_imports)]
pub use fixtures::{copy_dir, dtype_size, fixture, fixtures, image, manifest, raw, MANIFEST_DIR};
#[allow(unused_imports)]
pub use http::{http_date, http_get, http_request, read_http_request, HttpRequest, RawResponse};
#[allow(unused_imports)]
pub use nginx::Nginx;
#[allow(unused_imports)]
pub use nuclei::{nuclei_image, tree};
#[allow(unused_imports)]
pub use s3::{s3_root_with, S3Server};
#[allow(unused_imports)]
pub use shared::shared_data;
#[allow(unused_imports)]
pub use slurm::SlurmCluster;
