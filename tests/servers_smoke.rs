//! Checks the shared test harness itself (fixtures + servers), not omeflow.
mod common;

use common::*;
use std::fs;
use std::time::Duration;

#[test]
fn fixtures_are_generated_once_and_complete() {
    // several threads at once: one generation, same path for all
    let paths: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| fixtures().to_path_buf()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(paths.windows(2).all(|w| w[0] == w[1]));

    let m = manifest();
    let images = m["images"].as_array().unwrap();
    assert!(images.len() >= 50, "{} images", images.len());
    for img in images {
        let root = fixture(img["path"].as_str().unwrap());
        assert!(root.is_dir(), "{}", root.display());
        let size = dtype_size(img["dtype"].as_str().unwrap());
        for level in img["levels"].as_array().unwrap() {
            let n: u64 = level["shape5"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .product();
            assert_eq!(
                raw(level).len() as u64,
                n * size as u64,
                "{} {}",
                img["name"],
                level["path"]
            );
            assert_eq!(level["chunks5"].as_array().unwrap().len(), 5);
            assert_eq!(level["scale5"].as_array().unwrap().len(), 5);
        }
    }
    for name in [
        "v01_blosc_be",
        "v01_zlib",
        "v02_slash_undeclared",
        "v04",
        "v05",
        "u16_blosc-lz4",
        "f64_zstd",
    ] {
        image(name);
    }
    let e = &m["errors"];
    for key in ["not_an_image", "bad_codec", "bad_dtype"] {
        assert!(fixture(e[key].as_str().unwrap()).is_dir(), "{key}");
    }
    let cc = &e["corrupt_chunk"];
    assert!(fixture(cc["path"].as_str().unwrap())
        .join(cc["chunk_key"].as_str().unwrap())
        .is_file());
}

#[test]
fn nginx_serves_files_and_ranges() {
    let root = fixtures();
    let ngx = Nginx::serve(root);
    assert!(ngx.url().starts_with("http://127.0.0.1:"));
    let want = fs::read(root.join("v04.zarr/.zattrs")).unwrap();

    let r = http_get(ngx.port, "/v04.zarr/.zattrs").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, want);

    let r = http_request(
        ngx.port,
        "GET",
        "/v04.zarr/.zattrs",
        &[("Range", "bytes=2-9")],
    )
    .unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &want[2..10]);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 2-9/{}", want.len())
    );

    let r = http_request(ngx.port, "HEAD", "/v04.zarr/.zattrs", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").unwrap(), want.len().to_string());

    assert_eq!(http_get(ngx.port, "/v04.zarr/nope").unwrap().status, 404);
    assert_eq!(http_get(ngx.port, "/v04.zarr").unwrap().status, 404); // directory
    assert!(
        ngx.access_log()
            .contains("GET /v04.zarr/.zattrs range=bytes=2-9 status=206"),
        "{}",
        ngx.access_log()
    );

    // two at once, then drop frees the port
    let ngx2 = Nginx::serve(root);
    assert_ne!(ngx.port, ngx2.port);
    let port = ngx.port;
    drop(ngx);
    assert!(http_get(port, "/v04.zarr/.zattrs").is_err());
    assert_eq!(http_get(ngx2.port, "/manifest.json").unwrap().status, 200);
}

#[test]
fn s3s_fs_answers() {
    let tmp = s3_root_with("bucket", &["v04.zarr"]);
    let want = fs::read(tmp.path().join("bucket/v04.zarr/.zattrs")).unwrap();

    // keyed server: unsigned requests are refused with an S3 error
    let s3 = S3Server::serve(tmp.path(), "AKIDTEST", "SECRETTEST");
    assert!(s3.endpoint().starts_with("http://127.0.0.1:"));
    let r = http_get(s3.port, "/bucket/v04.zarr/.zattrs").unwrap();
    assert_eq!(r.status, 403);
    assert!(String::from_utf8_lossy(&r.body).contains("AccessDenied"));

    // anonymous server: plain GETs work, path-style
    let anon = S3Server::serve_anonymous(tmp.path());
    let r = http_get(anon.port, "/bucket/v04.zarr/.zattrs").unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, want);
    let r = http_request(
        anon.port,
        "GET",
        "/bucket/v04.zarr/.zattrs",
        &[("Range", "bytes=0-4")],
    )
    .unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &want[..5]);
    assert_eq!(
        http_get(anon.port, "/bucket/v04.zarr/missing")
            .unwrap()
            .status,
        404
    );
    let r = http_get(anon.port, "/bucket?list-type=2&prefix=v04.zarr/s0/").unwrap();
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("v04.zarr/s0/.zarray"));

    let port = anon.port;
    drop(anon);
    assert!(http_get(port, "/").is_err());
}

#[test]
fn fault_server_plain_and_ranges() {
    let root = fixture("v04.zarr");
    let srv = FaultServer::plain(&root);
    let want = fs::read(root.join(".zattrs")).unwrap();
    let r = http_get(srv.port(), "/.zattrs").unwrap();
    assert_eq!((r.status, &r.body), (200, &want));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    let r = http_request(srv.port(), "GET", "/.zattrs", &[("Range", "bytes=3-7")]).unwrap();
    assert_eq!((r.status, &r.body[..]), (206, &want[3..8]));
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 3-7/{}", want.len())
    );
    let r = http_request(srv.port(), "GET", "/.zattrs", &[("Range", "bytes=-4")]).unwrap();
    assert_eq!(&r.body[..], &want[want.len() - 4..]);
    let r = http_request(srv.port(), "GET", "/.zattrs", &[("Range", "bytes=10-")]).unwrap();
    assert_eq!(&r.body[..], &want[10..]);
    let r = http_request(srv.port(), "GET", "/.zattrs", &[("Range", "bytes=99999-")]).unwrap();
    assert_eq!(r.status, 416);
    let r = http_request(srv.port(), "HEAD", "/.zattrs", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").unwrap(), want.len().to_string());
    assert!(r.body.is_empty());
    assert_eq!(http_get(srv.port(), "/nope").unwrap().status, 404);
    assert_eq!(
        http_get(srv.port(), "/../v05.zarr/zarr.json")
            .unwrap()
            .status,
        404
    );
    assert_eq!(http_get(srv.port(), "/s0").unwrap().status, 404);
    assert_eq!(srv.requests(), 9);
    assert_eq!(srv.request_log()[1], "GET /.zattrs bytes=3-7");
}

#[test]
fn fault_server_flaky() {
    let srv = FaultServer::flaky(&fixture("v04.zarr"), 2);
    let codes: Vec<u16> = (0..4)
        .map(|_| http_get(srv.port(), "/.zattrs").unwrap().status)
        .collect();
    assert_eq!(codes, [500, 500, 200, 200]);
    assert_eq!(http_get(srv.port(), "/.zgroup").unwrap().status, 500);
    assert_eq!(srv.requests(), 5);
}

#[test]
fn fault_server_always_500_and_status() {
    let srv = FaultServer::always_500(&fixture("v04.zarr"));
    for _ in 0..3 {
        assert_eq!(http_get(srv.port(), "/.zattrs").unwrap().status, 500);
    }
    assert_eq!(srv.requests(), 3);
    let srv = FaultServer::status(&fixture("v04.zarr"), 403);
    assert_eq!(http_get(srv.port(), "/.zattrs").unwrap().status, 403);
}

#[test]
fn fault_server_drop_connection() {
    let srv = FaultServer::drop_connection();
    assert!(http_get(srv.port(), "/.zattrs").is_err());
    assert!(http_get(srv.port(), "/x").is_err());
    assert_eq!(srv.requests(), 2);
}

#[test]
fn fault_server_truncating() {
    let root = fixture("v04.zarr");
    let srv = FaultServer::truncating(&root);
    let meta = fs::read(root.join("s0/.zarray")).unwrap();
    let r = http_get(srv.port(), "/s0/.zarray").unwrap();
    assert_eq!((r.status, &r.body), (200, &meta));
    let chunk = fs::read(root.join("s0/0/0/0/0")).unwrap();
    let r = http_get(srv.port(), "/s0/0/0/0/0").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, &chunk[..chunk.len() / 2]);
    assert_eq!(
        r.header("content-length").unwrap(),
        (chunk.len() / 2).to_string()
    );
    let v5 = fixture("v05.zarr");
    let srv5 = FaultServer::truncating(&v5);
    let zj = fs::read(v5.join("zarr.json")).unwrap();
    assert_eq!(http_get(srv5.port(), "/zarr.json").unwrap().body, zj);
}

#[test]
fn fault_server_slow_and_drop_stops_accepting() {
    let srv = FaultServer::slow(&fixture("v04.zarr"), Duration::from_millis(300));
    let t = std::time::Instant::now();
    assert_eq!(http_get(srv.port(), "/.zattrs").unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let port = srv.port();
    drop(srv);
    assert!(http_get(port, "/.zattrs").is_err());
}

#[test]
fn http_date_format() {
    use std::time::{Duration, UNIX_EPOCH};
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(784111777)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(951782400)),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
}
