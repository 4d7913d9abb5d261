//! `omeflow::omero` against a local HTTP server that answers OMERO.web's JSON API in its recorded
//! shapes (../shared/reference/omero-json-api.md), including its failures, and against the local
//! catalogue of the embedded sample.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use omeflow::display::Show;
use omeflow::omero::{connect, connect_with, ConnectOptions, ImageList, SAMPLE};
use omeflow::sample::{write_sample, SampleSpec};
use omeflow::Error;
use serde_json::{json, Value};

const USER: &str = "alice";
const PASSWORD: &str = "pa55-w0rd-never-shown";
const TOKEN: &str = "tok-first";
const ROTATED: &str = "tok-after-login";
const SESSION: &str = "sess-alice-42";
const PUBLIC_SESSION: &str = "sess-public-7";

use common::{read_http_request as read_request, HttpRequest as Request};

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.header("cookie")?.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }
    fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Like IDR: data visible without a login, a public session cookie on the first page.
    Public,
    /// Like a training server: everything but discovery needs a login.
    Private,
    /// Not OMERO.web: 404 for everything.
    NotOmero,
    /// Private, but the login answers 307 to the `elsewhere` server.
    LoginRedirect,
    /// Private, but the login answers 500 with a body that echoes the form and the CSRF token.
    LoginFails,
    /// Private, but the login answers only after 3 s.
    LoginSlow,
    /// Private, but a refused login's message echoes the form.
    LoginEcho,
    /// Another host: records what it receives and answers success to everything.
    Elsewhere,
}

struct Answer {
    status: u16,
    body: String,
    cookies: Vec<String>,
    /// Close the connection without answering.
    drop: bool,
    headers: Vec<(String, String)>,
    /// A Content-Length other than the body's.
    claimed_length: Option<u64>,
    /// After the body, one byte every 50 ms for up to 10 s.
    trickle: bool,
    /// After the body, this many spaces, without a Content-Length.
    stream: Option<usize>,
    /// Wait before answering.
    delay: Option<Duration>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body: body.to_string(),
        cookies: Vec::new(),
        drop: false,
        headers: Vec::new(),
        claimed_length: None,
        trickle: false,
        stream: None,
        delay: None,
    }
}

fn redirect(status: u16, location: &str) -> Answer {
    let mut a = answer(status, json!({}));
    a.headers.push(("Location".into(), location.into()));
    a
}

struct FakeOmero {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
}

struct State {
    mode: Mode,
    addr: String,
    /// The other server redirects point to.
    elsewhere: Option<String>,
    hits: HashMap<String, usize>,
}

fn image_json(id: u64, with_channels: bool) -> Value {
    let mut pixels = json!({
        "@id": id + 100000,
        "SizeX": 256, "SizeY": 256, "SizeZ": 10, "SizeC": 2, "SizeT": 8, "SignificantBits": 16,
        "PhysicalSizeX": {"Symbol": "µm", "Value": 0.4, "Unit": "MICROMETER"},
        "PhysicalSizeY": {"Symbol": "µm", "Value": 0.4, "Unit": "MICROMETER"},
        "Type": {"value": "uint16"}
    });
    if with_channels {
        pixels["Channels"] = json!([
            {"@id": 1, "Name": "H2B", "Color": 65535,
             "EmissionWavelength": {"Symbol": "nm", "Value": 470, "Unit": "NANOMETER"}},
            {"@id": 2, "Name": "LaminB1", "Color": -16776961}
        ]);
    }
    json!({
        "@id": id,
        "@type": "http://www.openmicroscopy.org/Schemas/OME/2016-06#Image",
        "Name": format!("image-{id}.tif"),
        "AcquisitionDate": 1235730332000u64,
        "Pixels": pixels
    })
}

fn query(path: &str, key: &str) -> Option<usize> {
    let q = path.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn route(req: &Request, st: &mut State) -> Answer {
    let hit = {
        // By path without the query, so that pages of one list count together.
        let key = req.path.split('?').next().unwrap_or("").to_string();
        let n = st.hits.entry(key).or_default();
        *n += 1;
        *n
    };
    if st.mode == Mode::NotOmero {
        let mut a = answer(404, json!({}));
        a.body = "<html>not here</html>".into();
        return a;
    }
    if st.mode == Mode::Elsewhere {
        return answer(
            200,
            json!({"success": true, "eventContext": {"userName": USER}, "data": image_json(7, true)}),
        );
    }
    let base = format!("http://{}", st.addr);
    let logged_in = req.cookie("sessionid").as_deref() == Some(SESSION);
    let public = st.mode == Mode::Public;
    let path = req.path.split('?').next().unwrap_or("").to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["api"]) => {
            let mut a = answer(
                200,
                json!({"data": [{"version": "0", "url:base": format!("{base}/api/v0/")}]}),
            );
            if public && req.cookie("sessionid").is_none() {
                a.cookies
                    .push(format!("sessionid={PUBLIC_SESSION}; HttpOnly; Path=/"));
            }
            a
        }
        ("GET", ["api", "v0"]) => answer(
            200,
            json!({
                "url:login": format!("{base}/api/v0/login/"),
                "url:token": format!("{base}/api/v0/token/"),
                "url:servers": format!("{base}/api/v0/servers/"),
                "url:projects": format!("{base}/api/v0/m/projects/"),
                "url:datasets": format!("{base}/api/v0/m/datasets/"),
                "url:images": format!("{base}/api/v0/m/images/"),
            }),
        ),
        ("GET", ["api", "v0", "token"]) => {
            let mut a = answer(200, json!({"data": TOKEN}));
            a.cookies.push(format!("csrftoken={TOKEN}; Path=/"));
            a
        }
        ("GET", ["api", "v0", "servers"]) => answer(
            200,
            json!({"data": [{"host": "localhost", "server": "omero", "id": 1, "port": 4064}]}),
        ),
        ("POST", ["api", "v0", "login"]) if st.mode == Mode::LoginRedirect => redirect(
            307,
            &format!("{}/api/v0/login/", st.elsewhere.clone().unwrap_or_default()),
        ),
        ("POST", ["api", "v0", "login"]) if st.mode == Mode::LoginFails => answer(
            500,
            json!({"message": format!("login failed for {} with token {}",
                   req.body, req.header("x-csrftoken").unwrap_or_default())}),
        ),
        ("POST", ["api", "v0", "login"]) if st.mode == Mode::LoginEcho => answer(
            403,
            json!({"message": format!("bad credentials: {}", req.body)}),
        ),
        ("POST", ["api", "v0", "login"]) => {
            if req.header("x-csrftoken") != Some(TOKEN)
                || req.cookie("csrftoken").as_deref() != Some(TOKEN)
            {
                // Django's CSRF failure page is HTML, not JSON.
                let mut a = answer(403, json!({}));
                a.body = "<h1>Forbidden (403)</h1><p>CSRF verification failed.</p>".into();
                return a;
            }
            if req.form("server").as_deref() == Some("1")
                && req.form("username").as_deref() == Some(USER)
                && req.form("password").as_deref() == Some(PASSWORD)
            {
                let mut a = answer(
                    200,
                    json!({"success": true, "eventContext": {
                        "userName": USER, "userId": 52, "sessionUuid": "uuid-1",
                        "groupId": 3, "groupName": "training"}}),
                );
                a.cookies
                    .push(format!("sessionid={SESSION}; HttpOnly; Path=/"));
                a.cookies.push(format!("csrftoken={ROTATED}; Path=/"));
                if st.mode == Mode::LoginSlow {
                    a.delay = Some(Duration::from_secs(3));
                }
                a
            } else {
                answer(
                    403,
                    json!({"message": "Connection not available, please check your user name and password."}),
                )
            }
        }
        ("POST", ["webclient", "logout"]) if st.elsewhere.is_some() => redirect(
            307,
            &format!(
                "{}/webclient/logout/",
                st.elsewhere.clone().unwrap_or_default()
            ),
        ),
        ("POST", ["webclient", "logout"]) => {
            let mut a = answer(200, json!({}));
            a.cookies.push(
                "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/".into(),
            );
            a
        }
        ("GET", ["api", "v0", "m", ..]) if !public && !logged_in => {
            answer(403, json!({"message": "Not logged in"}))
        }
        ("GET", ["api", "v0", "m", "projects"]) => {
            answer(200, json!({"data": [], "meta": {"totalCount": 0}}))
        }
        ("GET", ["api", "v0", "m", "images", id]) => match id.parse::<u64>() {
            Ok(500) if hit == 1 => answer(500, json!({"message": "Internal error"})),
            Ok(501) => answer(500, json!({"message": "Internal error"})),
            Ok(502) if hit == 1 => dropped(),
            Ok(503) => dropped(),
            Ok(666) => {
                let mut a = answer(200, json!({}));
                a.body = "{\"data\": {\"@id\": 666, \"Pixels\": ".into();
                a
            }
            Ok(7007) if st.elsewhere.is_some() => redirect(
                307,
                &format!(
                    "{}/api/v0/m/images/7/",
                    st.elsewhere.clone().unwrap_or_default()
                ),
            ),
            // A redirect within the server is followed.
            Ok(7008) => redirect(302, "/api/v0/m/images/7/"),
            Ok(900) => {
                let mut a = answer(200, json!({}));
                a.body = "{\"data\": ".into();
                a.claimed_length = Some(100 << 30);
                a.trickle = true;
                a
            }
            Ok(901) => {
                let mut a = answer(200, json!({}));
                a.body = " ".repeat(1000);
                a.claimed_length = Some(100 << 30);
                a
            }
            Ok(902) => {
                let mut a = answer(200, json!({}));
                a.body = "{\"data\": ".into();
                a.stream = Some(65 << 20);
                a
            }
            // A server error whose message echoes the session cookie, the CSRF cookie and the
            // password it was given at login.
            Ok(904) => answer(
                500,
                json!({"message": format!("failed for {} ({USER}/{PASSWORD})",
                       req.header("cookie").unwrap_or_default())}),
            ),
            Ok(906) => {
                let mut v = image_json(906, true);
                v["Pixels"]["SizeT"] = json!(1_000_000_000_000_000u64);
                answer(200, json!({ "data": v }))
            }
            Ok(907) => {
                let mut v = image_json(907, true);
                v["Pixels"]["Channels"] = json!([{}, {}, {}, {}, {}]);
                answer(200, json!({ "data": v }))
            }
            Ok(908) => {
                let mut v = image_json(908, true);
                v["Pixels"]["PhysicalSizeX"]["Value"] = json!(-0.4);
                answer(200, json!({ "data": v }))
            }
            Ok(909) => {
                let mut v = image_json(909, false);
                v["Pixels"]["SizeC"] = json!(0);
                answer(200, json!({ "data": v }))
            }
            Ok(id) if id < 1000 || id == 4007801 => {
                answer(200, json!({"data": image_json(id, true)}))
            }
            _ => answer(404, json!({"message": format!("Image {id} not found")})),
        },
        ("GET", ["webgateway", "imgData", id]) => answer(
            200,
            json!({"id": id.parse::<u64>().unwrap_or(0),
                   "meta": {"imageName": format!("image-{id}.tif"), "pixelsType": "uint16",
                            "projectName": "idr0062-blin-nuclearsegmentation/experimentA"},
                   "size": {"width": 256, "height": 256, "z": 10, "t": 8, "c": 2}}),
        ),
        ("GET", ["api", "v0", "m", "datasets", id @ ("1" | "2" | "3" | "4")]) => answer(
            200,
            json!({"data": {"@id": id.parse::<u64>().unwrap_or(0), "Name": "a dataset"}}),
        ),
        ("GET", ["api", "v0", "m", "datasets", "2", "images"]) => {
            // totalCount lies: five images, not 10^12.
            let offset = query(&req.path, "offset").unwrap_or(0);
            let page: Vec<Value> = (21..=25u64)
                .skip(offset)
                .take(2)
                .map(|id| image_json(id, false))
                .collect();
            answer(
                200,
                json!({"data": page, "meta": {"totalCount": 1_000_000_000_000u64, "limit": 2,
                       "offset": offset, "maxLimit": 2}}),
            )
        }
        ("GET", ["api", "v0", "m", "datasets", "3", "images"]) => {
            // Ignores offset: the same page every time (until the 50th, so that a client that
            // loops on it still ends).
            let page: Vec<Value> = if hit > 50 {
                Vec::new()
            } else {
                vec![image_json(31, false), image_json(32, false)]
            };
            answer(
                200,
                json!({"data": page, "meta": {"totalCount": 1_000_000_000_000u64, "limit": 2,
                       "offset": 0, "maxLimit": 2}}),
            )
        }
        ("GET", ["api", "v0", "m", "datasets", "4", "images"]) => {
            // Endless: new images at every offset (until the 100th page).
            let offset = query(&req.path, "offset").unwrap_or(0) as u64;
            let page: Vec<Value> = if hit > 100 {
                Vec::new()
            } else {
                (0..2)
                    .map(|i| image_json(1000 + offset + i, false))
                    .collect()
            };
            answer(
                200,
                json!({"data": page, "meta": {"totalCount": 1_000_000_000_000u64, "limit": 2,
                       "offset": offset, "maxLimit": 2}}),
            )
        }
        ("GET", ["api", "v0", "m", "datasets", "1", "images"]) => {
            // The server caps pages at 2 to make the client follow pagination.
            let limit = query(&req.path, "limit").unwrap_or(200).min(2);
            let offset = query(&req.path, "offset").unwrap_or(0);
            let ids: Vec<u64> = (11..=15).collect();
            let page: Vec<Value> = ids
                .iter()
                .skip(offset)
                .take(limit)
                .map(|id| image_json(*id, false))
                .collect();
            answer(
                200,
                json!({"data": page, "meta": {"totalCount": ids.len(), "limit": limit,
                       "offset": offset, "maxLimit": 2}}),
            )
        }
        ("GET", ["api", "v0", "m", "datasets", id, ..]) => {
            answer(404, json!({"message": format!("Dataset {id} not found")}))
        }
        _ => answer(404, json!({"message": "no such page"})),
    }
}

fn dropped() -> Answer {
    let mut a = answer(0, json!({}));
    a.drop = true;
    a
}

impl FakeOmero {
    fn start(mode: Mode) -> Self {
        Self::start_with(mode, None)
    }

    /// A server whose redirects point to `elsewhere` (a base URL).
    fn start_with(mode: Mode, elsewhere: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Mutex::new(State {
            mode,
            addr: addr.clone(),
            elsewhere: elsewhere.map(str::to_string),
            hits: HashMap::new(),
        }));
        let (log2, state2) = (log.clone(), state.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (log, state) = (log2.clone(), state2.clone());
                thread::spawn(move || {
                    let Some(req) = read_request(&mut stream) else {
                        return;
                    };
                    log.lock().unwrap().push(req.clone());
                    let a = route(&req, &mut state.lock().unwrap());
                    if let Some(delay) = a.delay {
                        thread::sleep(delay);
                    }
                    if a.drop {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nConnection: close\r\n",
                        a.status
                    );
                    if a.stream.is_none() {
                        let length = a.claimed_length.unwrap_or(a.body.len() as u64);
                        head.push_str(&format!("Content-Length: {length}\r\n"));
                    }
                    for (k, v) in &a.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    for c in &a.cookies {
                        head.push_str(&format!("Set-Cookie: {c}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(a.body.as_bytes());
                    if let Some(mut left) = a.stream {
                        let chunk = [b' '; 1 << 16];
                        while left > 0 {
                            let n = left.min(chunk.len());
                            if stream.write_all(&chunk[..n]).is_err() {
                                break;
                            }
                            left -= n;
                        }
                    }
                    if a.trickle {
                        for _ in 0..200 {
                            thread::sleep(Duration::from_millis(50));
                            if stream
                                .write_all(b" ")
                                .and_then(|()| stream.flush())
                                .is_err()
                            {
                                break;
                            }
                        }
                    }
                    let _ = stream.flush();
                    let _ = stream.shutdown(Shutdown::Both);
                });
            }
        });
        Self {
            base: format!("http://{addr}"),
            log,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    fn find(&self, method: &str, path_start: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(path_start))
            .collect()
    }
}

fn fast() -> ConnectOptions {
    ConnectOptions::default()
        .with_retries(2)
        .with_backoff(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(10))
}

#[test]
fn login_carries_the_csrf_token_and_the_session_cookie_comes_back() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, USER, PASSWORD, fast()).unwrap();
    assert_eq!(conn.user(), Some(USER));

    let login = server.find("POST", "/api/v0/login/");
    assert_eq!(login.len(), 1);
    assert_eq!(login[0].header("x-csrftoken"), Some(TOKEN));
    assert_eq!(login[0].form("server").as_deref(), Some("1"));
    assert!(login[0].header("referer").is_some());

    let image = conn.image(7).unwrap();
    assert_eq!(image.id(), 7);
    assert_eq!(image.name(), "image-7.tif");
    assert_eq!(
        (
            image.size_t(),
            image.size_c(),
            image.size_z(),
            image.size_y(),
            image.size_x()
        ),
        (8, 2, 10, 256, 256)
    );
    assert_eq!(image.pixel_type(), "uint16");
    assert_eq!(image.channels().len(), 2);
    assert_eq!(image.channels()[0].name.as_deref(), Some("H2B"));
    assert_eq!(image.channels()[0].color.unwrap().hex(), "0000FFFF");
    assert_eq!(image.channels()[1].color.unwrap().hex(), "FF0000FF");
    assert_eq!(image.channels()[0].emission_wavelength, Some(470.0));
    assert_eq!(image.physical_size_x().unwrap().value, 0.4);
    assert_eq!(image.planes().count(), 8 * 2 * 10);

    let get = server.find("GET", "/api/v0/m/images/7/");
    assert_eq!(get[0].cookie("sessionid").as_deref(), Some(SESSION));

    conn.disconnect().unwrap();
    let logout = server.find("POST", "/webclient/logout/");
    assert_eq!(logout.len(), 1);
    // Django rotates the token on login: the logout must carry the new one.
    assert_eq!(logout[0].header("x-csrftoken"), Some(ROTATED));
    assert_eq!(logout[0].cookie("sessionid").as_deref(), Some(SESSION));
}

#[test]
fn dropping_a_connection_logs_out() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, USER, PASSWORD, fast()).unwrap();
    drop(conn);
    assert_eq!(server.find("POST", "/webclient/logout/").len(), 1);
}

#[test]
fn public_servers_work_without_a_login() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    assert_eq!(conn.user(), None);
    assert_eq!(conn.image(3).unwrap().size_c(), 2);
    assert!(server.find("POST", "/api/v0/login/").is_empty());
    // The public session from the first page is kept.
    let get = server.find("GET", "/api/v0/m/images/3/");
    assert_eq!(get[0].cookie("sessionid").as_deref(), Some(PUBLIC_SESSION));
    conn.disconnect().unwrap();
    assert!(server.find("POST", "/webclient/logout/").is_empty());
}

#[test]
fn public_public_works_where_the_public_user_cannot_log_in() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "public", "public", fast()).unwrap();
    assert_eq!(conn.image(3).unwrap().id(), 3);
    assert!(conn.to_string().contains("public data"), "{conn}");
}

#[test]
fn a_wrong_password_says_so_and_shows_no_secret() {
    let server = FakeOmero::start(Mode::Private);
    let secret = "wr0ng-Secret-xyzzy";
    let err = connect_with(&server.base, USER, secret, fast()).unwrap_err();
    assert!(matches!(err, Error::LoginFailed { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains(secret), "{text}");
    // The password went only into the login form.
    for r in server.requests() {
        if r.path != "/api/v0/login/" {
            assert!(!format!("{r:?}").contains(secret));
        }
    }
}

#[test]
fn the_password_never_appears_in_debug_or_display() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, USER, PASSWORD, fast()).unwrap();
    let mut outputs = vec![format!("{conn}"), format!("{conn:?}"), format!("{conn:#?}")];
    let image = conn.image(5).unwrap();
    outputs.push(format!("{image} {image:?}"));
    for e in [
        conn.image(9999).unwrap_err(),
        conn.image(666).unwrap_err(),
        conn.dataset_images(77).unwrap_err(),
    ] {
        outputs.push(format!("{e} {e:?}"));
    }
    for text in &outputs {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(SESSION), "session cookie shown: {text}");
        assert!(!text.contains(ROTATED), "token shown: {text}");
    }
}

#[test]
fn unknown_images_and_datasets_are_404s() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    let err = conn.image(123456).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OmeroNotFound {
                what: "image",
                id: 123456,
                ..
            }
        ),
        "{err:?}"
    );
    let err = conn.dataset_images(77).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OmeroNotFound {
                what: "dataset",
                id: 77,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("dataset 77"), "{err}");
}

#[test]
fn dataset_images_follow_pagination() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, USER, PASSWORD, fast()).unwrap();
    let images = conn.dataset_images(1).unwrap();
    let ids: Vec<u64> = images.iter().map(|i| i.id()).collect();
    assert_eq!(ids, vec![11, 12, 13, 14, 15]);
    assert!(images[0].channels().is_empty());
    assert_eq!(images[0].size_z(), 10);
    assert_eq!(server.find("GET", "/api/v0/m/datasets/1/images/").len(), 3);
    let table = images.table().to_string();
    assert!(
        table.contains("image-15.tif") && table.contains("5 images"),
        "{table}"
    );
    assert!(images.table().to_html().unwrap().starts_with("<table>"));
}

#[test]
fn a_500_and_a_dropped_connection_are_retried() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    assert_eq!(conn.image(500).unwrap().id(), 500);
    assert_eq!(server.find("GET", "/api/v0/m/images/500/").len(), 2);
    assert_eq!(conn.image(502).unwrap().id(), 502);
    assert_eq!(server.find("GET", "/api/v0/m/images/502/").len(), 2);

    let err = conn.image(501).unwrap_err();
    assert!(matches!(err, Error::Omero { .. }), "{err:?}");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(server.find("GET", "/api/v0/m/images/501/").len(), 3);

    let err = conn.image(503).unwrap_err().to_string();
    assert!(err.contains("after 3 attempts"), "{err}");
    assert!(err.contains("/api/v0/m/images/503/"), "{err}");
}

#[test]
fn malformed_json_names_the_call() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    let err = conn.image(666).unwrap_err();
    assert!(matches!(err, Error::OmeroMalformed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("GET /api/v0/m/images/666/"),
        "{err}"
    );
}

#[test]
fn not_an_omero_server() {
    let server = FakeOmero::start(Mode::NotOmero);
    let err = connect_with(&server.base, "", "", fast()).unwrap_err();
    assert!(err.to_string().contains("no OMERO.web JSON API"), "{err}");
}

#[test]
fn nothing_listening_and_unknown_hosts() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = connect_with(&format!("http://127.0.0.1:{port}"), "", "", fast()).unwrap_err();
    assert!(
        err.to_string().contains("no answer after 3 attempts"),
        "{err}"
    );

    let err = connect_with("no-such-host.invalid", "", "", fast()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no-such-host.invalid"), "{text}");
    assert!(
        text.contains("unknown host") || text.contains("no answer"),
        "{text}"
    );
}

#[test]
fn server_images_open_their_pixels_through_a_template() {
    let sample = connect(SAMPLE, "", "").unwrap();
    let folder = sample.host();
    let server = FakeOmero::start(Mode::Public);
    let options = fast()
        .with_pixels_template("/nonexistent/omeflow/{id}.zarr")
        .add_pixels_template(format!("{folder}/{{id}}.zarr"));
    let conn = connect_with(&server.base, "", "", options).unwrap();
    let image = conn.image(4007801).unwrap();
    let data = image.pixels(1).unwrap();
    assert_eq!(data.shape(), [8, 2, 10, 128, 128]);

    // Without a template a private server's image says how to give one.
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    let err = conn
        .image(4007801)
        .unwrap()
        .pixels(0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("with_pixels_template"), "{err}");
}

#[test]
fn the_sample_catalogue_answers_like_a_server() {
    let conn = connect(SAMPLE, "", "").unwrap();
    let image = conn.image(4007801).unwrap();
    assert_eq!(image.name(), "omeflow sample: nuclei time-lapse");
    assert_eq!((image.size_t(), image.size_c(), image.size_z()), (8, 2, 10));
    assert_eq!(image.channels()[1].name.as_deref(), Some("LaminB1"));
    assert_eq!(image.channels()[1].color.unwrap().hex(), "00FF00FF");
    assert_eq!(image.physical_size_z().unwrap().value, 2.0);
    assert_eq!(image.physical_size_z().unwrap().unit, "µm");
    let images = conn.dataset_images(1).unwrap();
    assert_eq!(images.len(), 4);
    let plane = image.pixels(2).unwrap().plane_f64(0, 0, 5).unwrap();
    assert_eq!(plane.dim(), (64, 64));
    assert!(image.to_html().unwrap().contains("LaminB1"));
    // The second tutorial's dataset: every image of it is classified.
    let embryos = conn.dataset_images(2).unwrap();
    let ids: Vec<u64> = embryos.iter().map(|i| i.id()).collect();
    assert_eq!(ids, vec![1001, 1002, 1003]);
    for image in &embryos {
        assert_eq!((image.size_t(), image.size_c(), image.size_z()), (1, 2, 72));
        assert_eq!(image.pixels(0).unwrap().shape(), [1, 2, 72, 80, 80]);
    }
    assert_ne!(
        embryos[0].pixels(0).unwrap().plane_f64(0, 0, 4).unwrap(),
        embryos[1].pixels(0).unwrap().plane_f64(0, 0, 4).unwrap()
    );
    assert!(matches!(
        conn.dataset_images(3),
        Err(Error::OmeroNotFound {
            what: "dataset",
            ..
        })
    ));
}

#[test]
fn a_folder_is_a_catalogue_with_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let small = SampleSpec {
        shape: [1, 1, 2, 32, 32],
        nuclei: 2,
        levels: 1,
        ..SampleSpec::default()
    };
    for p in ["b.zarr", "a.zarr", "wells/12.zarr", "wells/c.zarr"] {
        write_sample(&dir.path().join(p).to_string_lossy(), &small).unwrap();
    }
    let conn = connect(&dir.path().to_string_lossy(), "", "").unwrap();
    // Path order: a, b, wells/12 (named), wells/c.
    assert_eq!(conn.image(12).unwrap().size_z(), 2);
    let all: Vec<u64> = conn
        .dataset_images(1)
        .unwrap()
        .iter()
        .map(|i| i.id())
        .collect();
    assert_eq!(all, vec![1, 2, 3, 12]);
    let wells: Vec<u64> = conn
        .dataset_images(2)
        .unwrap()
        .iter()
        .map(|i| i.id())
        .collect();
    assert_eq!(wells, vec![12, 3]);
    let file_url = format!("file://{}", dir.path().display());
    assert_eq!(
        connect(&file_url, "", "")
            .unwrap()
            .image(1)
            .unwrap()
            .size_x(),
        32
    );
}

/// Run the CLI as `USER` with `PASSWORD` given on stdin.
fn cli_with_password(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omeflow"))
        .args(args)
        .args(["--user", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cli_image_and_dataset() {
    let exe = env!("CARGO_BIN_EXE_omeflow");
    let out = Command::new(exe)
        .args(["image", "--host", SAMPLE, "4007801", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["size_t"], 8);
    assert_eq!(v["channels"][0]["name"], "H2B");
    assert_eq!(v["channels"][0]["color"], "0000FFFF");

    let server = FakeOmero::start(Mode::Private);
    let out = cli_with_password(&["dataset", "--host", &server.base, "1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dataset"], 1);
    assert_eq!(v["images"].as_array().unwrap().len(), 5);
    assert_eq!(server.find("POST", "/webclient/logout/").len(), 1);

    let out = Command::new(exe)
        .args([
            "image",
            "--host",
            &server.base,
            "--user",
            USER,
            "--password-stdin",
            "7",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("login to"), "{stderr}");
}

#[test]
fn works_inside_a_tokio_runtime_like_evcxr_async_mode() {
    let server = FakeOmero::start(Mode::Private);
    let base = server.base.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = rt.block_on(async move {
        let conn = connect_with(&base, USER, PASSWORD, fast()).unwrap();
        let ids: Vec<u64> = conn
            .dataset_images(1)
            .unwrap()
            .iter()
            .map(|i| i.id())
            .collect();
        // Dropped inside the runtime: the logout must neither panic nor deadlock.
        drop(conn);
        ids
    });
    assert_eq!(ids.len(), 5);
    assert_eq!(server.find("POST", "/webclient/logout/").len(), 1);
}

#[test]
fn a_private_server_without_login_says_to_log_in() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    let err = conn.image(7).unwrap_err().to_string();
    assert!(
        err.contains("HTTP 403") && err.contains("user name and password"),
        "{err}"
    );
}

#[test]
fn the_study_comes_from_the_project_name() {
    let dir = tempfile::tempdir().unwrap();
    let small = SampleSpec {
        shape: [1, 1, 2, 32, 32],
        nuclei: 2,
        levels: 1,
        ..SampleSpec::default()
    };
    write_sample(
        &dir.path().join("idr0062A/7.zarr").to_string_lossy(),
        &small,
    )
    .unwrap();
    let server = FakeOmero::start(Mode::Public);
    let template = format!("{}/{{study}}/{{id}}.zarr", dir.path().display());
    let conn = connect_with(&server.base, "", "", fast().with_pixels_template(&template)).unwrap();
    assert_eq!(
        conn.image(7).unwrap().pixels(0).unwrap().shape(),
        [1, 1, 2, 32, 32]
    );
    assert_eq!(server.find("GET", "/webgateway/imgData/7/").len(), 1);

    // A study given by the user wins, and the server is not asked.
    let conn = connect_with(
        &server.base,
        "",
        "",
        fast().with_pixels_template(&template).with_study("idr0044"),
    )
    .unwrap();
    let err = conn.image(8).unwrap().pixels(0).unwrap_err().to_string();
    assert!(err.contains("idr0044/8.zarr"), "{err}");
    assert!(server.find("GET", "/webgateway/imgData/8/").is_empty());
}

/// Short timeouts and retries: a hostile server must never make a test hang.
fn hostile() -> ConnectOptions {
    fast().with_timeout(Duration::from_secs(2))
}

/// No secret of the session in an error's text or Debug.
fn assert_no_secret(text: &str) {
    for secret in [PASSWORD, TOKEN, ROTATED, SESSION] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
}

#[test]
fn a_login_redirect_is_not_followed_and_the_form_goes_nowhere_else() {
    let elsewhere = FakeOmero::start(Mode::Elsewhere);
    let server = FakeOmero::start_with(Mode::LoginRedirect, Some(&elsewhere.base));
    let err = connect_with(&server.base, USER, PASSWORD, hostile()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("307"), "{text}");
    let other = elsewhere.base.trim_start_matches("http://");
    assert!(text.contains(other), "the Location host is named: {text}");
    assert_no_secret(&text);
    assert_eq!(server.find("POST", "/api/v0/login/").len(), 1);
    let received = elsewhere.requests();
    assert!(received.is_empty(), "the other host received {received:?}");
}

#[test]
fn other_redirects_to_another_host_carry_no_cookie_or_token() {
    let elsewhere = FakeOmero::start(Mode::Elsewhere);
    let server = FakeOmero::start_with(Mode::Private, Some(&elsewhere.base));
    let conn = connect_with(&server.base, USER, PASSWORD, hostile()).unwrap();
    // Within the server a redirect is followed, with the session.
    assert_eq!(conn.image(7008).unwrap().id(), 7);
    let followed = server.find("GET", "/api/v0/m/images/7/");
    assert_eq!(followed[0].cookie("sessionid").as_deref(), Some(SESSION));

    let err = conn.image(7007).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("307"), "{text}");
    assert!(
        text.contains(elsewhere.base.trim_start_matches("http://")),
        "{text}"
    );
    assert_no_secret(&text);
    // The logout answers 307 to the other host too.
    conn.disconnect().unwrap();
    assert_eq!(server.find("POST", "/webclient/logout/").len(), 1);
    let received = elsewhere.requests();
    assert!(received.is_empty(), "the other host received {received:?}");
}

#[test]
fn a_failed_login_is_sent_once_and_its_answer_is_not_shown() {
    let server = FakeOmero::start(Mode::LoginFails);
    let err = connect_with(&server.base, USER, PASSWORD, hostile()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert_no_secret(&text);
    assert!(!text.contains("username="), "the form is echoed: {text}");
    // Retries are on (hostile() allows 2), but never for the login.
    assert_eq!(server.find("POST", "/api/v0/login/").len(), 1);
}

#[test]
fn a_login_that_times_out_is_not_sent_again() {
    let server = FakeOmero::start(Mode::LoginSlow);
    let options = hostile().with_timeout(Duration::from_millis(700));
    let err = connect_with(&server.base, USER, PASSWORD, options).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("POST /api/v0/login/"), "{text}");
    assert_no_secret(&text);
    assert_eq!(server.find("POST", "/api/v0/login/").len(), 1);
}

#[test]
fn a_refused_login_never_shows_what_the_server_echoes() {
    let server = FakeOmero::start(Mode::LoginEcho);
    let err = connect_with(&server.base, USER, PASSWORD, hostile()).unwrap_err();
    assert!(matches!(err, Error::LoginFailed { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("403"), "{text}");
    assert_no_secret(&text);
}

#[test]
fn server_messages_are_shown_without_the_session_secrets() {
    let server = FakeOmero::start(Mode::Private);
    let conn = connect_with(&server.base, USER, PASSWORD, hostile()).unwrap();
    let err = conn.image(904).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        text.contains("failed for"),
        "the message is still shown: {text}"
    );
    assert_no_secret(&text);
}

#[test]
fn credentials_in_the_host_are_refused_without_being_shown() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for host in [
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{closed}"),
        format!("{USER}:{PASSWORD}@127.0.0.1:{closed}"),
        format!("ftp://{USER}:{PASSWORD}@127.0.0.1"),
        format!("https://{USER}:{PASSWORD}@bad host"),
        format!("http://{USER}:{PASSWORD}@[::1"),
        format!("file://{USER}:{PASSWORD}@host/data"),
        format!("http://127.0.0.1:{closed}/?password={PASSWORD}"),
        format!("http://127.0.0.1:{closed}/#{PASSWORD}"),
    ] {
        let err = connect_with(&host, USER, "other", hostile().with_retries(0)).unwrap_err();
        let text = format!("{err} {err:?}");
        assert_no_secret(&text);
    }
}

#[test]
fn a_huge_content_length_is_refused_before_reading() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", hostile()).unwrap();
    for id in [900, 901] {
        let started = std::time::Instant::now();
        let err = conn.image(id).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        // Not retried: the next answer would be as large.
        let path = format!("/api/v0/m/images/{id}/");
        assert_eq!(server.find("GET", &path).len(), 1);
    }
}

#[test]
fn an_endless_answer_is_cut_off() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", fast()).unwrap();
    let err = conn.image(902).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[test]
fn a_lying_total_count_stops_at_the_empty_page() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", hostile()).unwrap();
    let ids: Vec<u64> = conn
        .dataset_images(2)
        .unwrap()
        .iter()
        .map(|i| i.id())
        .collect();
    assert_eq!(ids, vec![21, 22, 23, 24, 25]);
}

#[test]
fn a_server_that_ignores_offset_is_caught() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", hostile()).unwrap();
    let err = conn.dataset_images(3).unwrap_err();
    assert!(err.to_string().contains("ignored offset"), "{err}");
    assert_eq!(server.find("GET", "/api/v0/m/datasets/3/images/").len(), 2);
}

#[test]
fn sizes_outside_omeros_range_are_refused() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", hostile()).unwrap();
    for (id, what) in [
        (906, "SizeT"),
        (907, "channels"),
        (908, "PhysicalSizeX"),
        (909, "SizeC"),
    ] {
        let err = conn.image(id).unwrap_err();
        assert!(matches!(err, Error::OmeroMalformed { .. }), "{err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[test]
fn an_endless_dataset_stops_at_the_bound() {
    let server = FakeOmero::start(Mode::Public);
    let conn = connect_with(&server.base, "", "", hostile().with_max_images(10)).unwrap();
    let err = conn.dataset_images(4).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("more than 10 images") && text.contains("with_max_images"),
        "{text}"
    );
    // Five pages of two, and the one with the eleventh image.
    assert_eq!(server.find("GET", "/api/v0/m/datasets/4/images/").len(), 6);
}

/// The secrets test through the CLI: a password given on stdin appears in no output, whatever
/// the server does (redirects the login elsewhere, echoes the form in an error), and reaches no
/// other host.
#[test]
fn cli_never_shows_the_password_or_sends_it_elsewhere() {
    let elsewhere = FakeOmero::start(Mode::Elsewhere);
    for mode in [Mode::LoginRedirect, Mode::LoginEcho, Mode::LoginFails] {
        let server = FakeOmero::start_with(mode, Some(&elsewhere.base));
        let out = cli_with_password(&["image", "--host", &server.base, "7", "--json"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{text}");
        assert!(text.starts_with("error: "), "one clear error line: {text}");
        assert_no_secret(&text);
        assert!(
            server.find("POST", "/api/v0/login/").len() <= 1,
            "the login was sent more than once"
        );
    }
    let received = elsewhere.requests();
    assert!(received.is_empty(), "the other host received {received:?}");
}
