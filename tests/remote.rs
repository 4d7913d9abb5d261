//! Reading over real servers on loopback: nginx (HTTP with Range), s3s-fs (S3 API with
//! credentials), and fault servers that fail, drop connections or truncate chunks.

mod common;

use std::time::Duration;

use common::{FaultServer, Nginx, S3Server};
use omeflow::ngff::OmeZarr;
use omeflow::store::StoreOptions;
use omeflow::Error;

fn fast_retries() -> StoreOptions {
    let mut o = StoreOptions::default().with_max_retries(3);
    o.initial_backoff = Duration::from_millis(10);
    o.request_timeout = Duration::from_secs(5);
    o
}

/// Read a whole level and compare with numpy's bytes.
fn read_level_matches(image: &OmeZarr, entry: &serde_json::Value, level: usize) {
    let px = image.level(level).unwrap();
    let all = px.read_all().unwrap();
    assert!(
        all.to_le_bytes() == common::raw(&entry["levels"][level]),
        "level {level} differs from numpy"
    );
}

#[test]
fn nginx_serves_a_whole_level_over_http() {
    let nginx = Nginx::serve(common::fixtures());
    for name in ["v01_blosc_be.zarr", "v02_slash_undeclared.zarr", "v05.zarr"] {
        let url = format!("{}/{name}", nginx.url());
        let image = OmeZarr::open(&url, &fast_retries()).unwrap();
        read_level_matches(&image, &common::image(name), 0);
    }
    assert!(nginx.access_log().contains("status=200"));
}

#[test]
fn http_404_is_not_found() {
    let nginx = Nginx::serve(common::fixtures());
    let url = format!("{}/no-such-image.zarr", nginx.url());
    let e = OmeZarr::open(&url, &fast_retries()).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("no-such-image.zarr"), "{e}");
}

#[test]
fn s3s_fs_serves_a_whole_level_over_s3_with_credentials() {
    let root = common::s3_root_with("idr", &["v01_blosc_be.zarr", "v04.zarr"]);
    let s3 = S3Server::serve(root.path(), "omeflow-key", "omeflow-secret-123");
    let opts = fast_retries()
        .with_endpoint(s3.endpoint())
        .with_credentials("omeflow-key", "omeflow-secret-123");
    for name in ["v01_blosc_be.zarr", "v04.zarr"] {
        let image = OmeZarr::open(&format!("s3://idr/{name}"), &opts).unwrap();
        read_level_matches(&image, &common::image(name), 0);
    }
    // Wrong secret: a clear error, and the secret is not in it.
    let bad = fast_retries()
        .with_endpoint(s3.endpoint())
        .with_credentials("omeflow-key", "wrong-secret-456");
    let e = OmeZarr::open("s3://idr/v04.zarr", &bad).unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(!msg.contains("wrong-secret-456"), "{msg}");
    assert!(msg.contains("v04.zarr"), "{msg}");
    assert!(msg.contains("access denied"), "{msg}");
}

#[test]
fn s3_anonymous_read() {
    let root = common::s3_root_with("public", &["v05.zarr"]);
    let s3 = S3Server::serve_anonymous(root.path());
    let mut opts = fast_retries().with_endpoint(s3.endpoint());
    opts.anonymous = true;
    let image = OmeZarr::open("s3://public/v05.zarr", &opts).unwrap();
    read_level_matches(&image, &common::image("v05.zarr"), 1);
}

#[test]
fn two_500s_then_success_reads_fine() {
    let server = FaultServer::flaky(common::fixtures(), 2);
    let url = format!("{}/v01_zlib.zarr", server.url());
    let image = OmeZarr::open(&url, &fast_retries()).unwrap();
    read_level_matches(&image, &common::image("v01_zlib.zarr"), 0);
    assert!(server.requests() > 3);
    let log = server.request_log().join("\n");
    assert!(!log.contains("//"), "no doubled slashes in keys:\n{log}");
}

#[test]
fn a_server_that_keeps_failing_gives_url_status_and_attempts() {
    let server = FaultServer::always_500(common::fixtures());
    let url = format!("{}/v04.zarr", server.url());
    let e = OmeZarr::open(&url, &fast_retries()).unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(matches!(e, Error::Storage { .. }), "{msg}");
    assert!(msg.contains("v04.zarr"), "{msg}");
    assert!(msg.contains("500"), "{msg}");
    assert!(msg.contains("retries") || msg.contains("attempt"), "{msg}");
    assert_eq!(server.requests(), 4, "one try and three retries: {msg}");
}

#[test]
fn a_server_that_drops_connections_gives_a_clear_error() {
    let server = FaultServer::drop_connection();
    let url = format!("{}/v04.zarr", server.url());
    let e = OmeZarr::open(&url, &fast_retries()).unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(matches!(e, Error::Storage { .. }), "{msg}");
    assert!(msg.contains(&server.url()), "{msg}");
}

#[test]
fn a_truncated_chunk_is_named() {
    let server = FaultServer::truncating(common::fixtures());
    let url = format!("{}/v04.zarr", server.url());
    let image = OmeZarr::open(&url, &fast_retries()).unwrap();
    let e = image.level(0).unwrap().plane(0, 0, 0).unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    // Every chunk is truncated; the plane's first failing chunk is named.
    match &e {
        Error::CorruptChunk { key, .. } => {
            // v04.zarr is stored as c, z, y, x: plane (0, 0, 0) lives in chunks s0/0/0/<y>/<x>.
            assert!(key.starts_with("s0/0/0/"), "{msg}");
            assert!(msg.contains(key.as_str()), "{msg}");
        }
        other => panic!("expected a corrupt chunk, got {other}"),
    }
}

#[test]
fn cli_reads_s3_with_credentials_from_the_aws_environment() {
    let root = common::s3_root_with("idr", &["v01_zlib.zarr"]);
    let s3 = S3Server::serve(root.path(), "env-key", "env-secret-789");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omeflow"))
        .args(["info", "s3://idr/v01_zlib.zarr", "--json", "--retries", "1"])
        .env("AWS_ACCESS_KEY_ID", "env-key")
        .env("AWS_SECRET_ACCESS_KEY", "env-secret-789")
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .env("AWS_REGION", "eu-west-2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ngff_version"], "0.1");
    let entry = common::image("v01_zlib.zarr");
    assert_eq!(v["levels"][0]["shape"], entry["levels"][0]["shape5"]);

    // Same server, forced anonymous: refused, and the secret appears nowhere.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omeflow"))
        .args([
            "info",
            "s3://idr/v01_zlib.zarr",
            "--anonymous",
            "--retries",
            "0",
        ])
        .args(["--endpoint", &s3.endpoint()])
        .env("AWS_SECRET_ACCESS_KEY", "env-secret-789")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("access denied"), "{stderr}");
    assert!(!stderr.contains("env-secret-789"), "{stderr}");
}

#[test]
fn one_request_per_chunk_even_at_the_edges() {
    // 37 x 41 planes in 16 x 16 chunks: most chunks are edge chunks cut by the shape.
    let server = FaultServer::plain(common::fixtures());
    let url = format!("{}/dtypes/u16_zstd.zarr", server.url());
    let image = OmeZarr::open(&url, &fast_retries()).unwrap();
    let px = image.level(0).unwrap();
    let before = server.requests();
    px.read_all().unwrap();
    let log = server.request_log()[before..].join("\n");
    assert_eq!(server.requests() - before, 2 * 3 * 3, "{log}");
    assert!(!log.contains("HEAD"), "{log}");
}
