//! `Client::upload_image` over real loopback HTTP.
//!
//! One happy path runs against the PiAPI simulator. Reply shapes and failures (5xx, 429, garbage,
//! stalls, redirects) are played by a tiny scripted stand-in for PiAPI's upload server, built in
//! this file on 127.0.0.1, so each test controls exactly what the server answers. Nothing
//! asserts wall-clock durations; every step is bounded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use piapi::{Client, ClientConfig, Error, ErrorCode, MAX_UPLOAD_BYTES};
use piapi_sim::{SimConfig, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};

const KEY: &str = "sk-upload-test-0123456789";
/// Upper bound for any single test step; far above what the steps need.
const BOUND: Duration = Duration::from_secs(20);
const FILE_URL: &str = "https://img.theapi.app/ephemeral/0b1c2d.png";

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("test step finished within its bound")
}

/// One scripted answer.
#[derive(Clone)]
struct Step {
    delay: Duration,
    status: u16,
    body: String,
    headers: Vec<(header::HeaderName, String)>,
}

fn reply(status: u16, body: impl Into<String>) -> Step {
    Step { delay: Duration::ZERO, status, body: body.into(), headers: Vec::new() }
}

fn ok_reply() -> Step {
    reply(200, json!({"code": 200, "message": "success", "data": {"url": FILE_URL}}).to_string())
}

/// What the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    api_key: Option<String>,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Stub {
    script: Arc<Mutex<VecDeque<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }
}

/// Answers every request with the next scripted step (then with a success).
async fn answer(
    State(stub): State<Stub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    stub.seen.lock().expect("seen lock").push(Seen {
        method,
        path: uri.path().to_owned(),
        api_key: text(header::HeaderName::from_static("x-api-key")),
        content_type: text(header::CONTENT_TYPE),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let step = stub.script.lock().expect("script lock").pop_front().unwrap_or_else(ok_reply);
    if !step.delay.is_zero() {
        tokio::time::sleep(step.delay).await;
    }
    let mut response = (StatusCode::from_u16(step.status).expect("status"), step.body).into_response();
    for (name, value) in step.headers {
        response.headers_mut().insert(name, value.parse().expect("header value"));
    }
    response
}

/// Starts a scripted server on 127.0.0.1 and returns its base URL.
async fn start_stub(steps: impl IntoIterator<Item = Step>) -> (String, Stub) {
    let stub = Stub { script: Arc::new(Mutex::new(steps.into_iter().collect())), ..Stub::default() };
    let app = Router::new()
        .fallback(answer)
        .layer(DefaultBodyLimit::max(2 * MAX_UPLOAD_BYTES))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("stub serves");
    });
    (format!("http://{addr}"), stub)
}

/// A client whose base URL (and so, by the default rule, upload URL) is `base`.
fn client_for(base: &str, read_timeout: Duration) -> Client {
    let config = ClientConfig::new(base, SecretString::from(KEY.to_owned()))
        .expect("loopback base URL is allowed")
        .with_timeouts(Duration::from_secs(2), read_timeout);
    Client::new(config).expect("client builds")
}

fn png_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

async fn upload(client: &Client, bytes: &[u8]) -> piapi::Result<String> {
    bounded(client.upload_image("cat.png", bytes)).await
}

/// The error's message must be a sentence that says what to do next.
fn assert_actionable(e: &Error) {
    let text = e.to_string();
    assert!(text.ends_with('.') && text.contains("retry"), "{text}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

#[tokio::test]
async fn uploads_to_the_simulator_and_the_url_serves_the_bytes() {
    let sim = Simulator::start(SimConfig { api_key: Some(KEY.to_owned()), ..SimConfig::fast() })
        .await
        .expect("simulator starts");
    let client = client_for(&sim.base_url(), Duration::from_secs(5));
    assert_eq!(client.config().upload_url, format!("{}/api/ephemeral_resource", sim.base_url()));
    let png = png_bytes();
    let url = upload(&client, &png).await.expect("upload");
    assert!(url.starts_with(&sim.base_url()), "{url}");
    let served = bounded(reqwest::get(&url)).await.expect("GET the upload");
    assert!(served.status().is_success(), "{}", served.status());
    assert_eq!(bounded(served.bytes()).await.expect("body").as_ref(), png.as_slice());
}

#[tokio::test]
async fn sends_the_documented_request() {
    let (base, stub) = start_stub([ok_reply()]).await;
    let client = client_for(&base, Duration::from_secs(5));
    let png = png_bytes();
    let url = bounded(client.upload_image("/home/me/Pictures/cat.png", &png)).await.expect("upload");
    assert_eq!(url, FILE_URL);
    let seen = stub.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!((s.method.as_str(), s.path.as_str()), ("POST", "/api/ephemeral_resource"));
    assert_eq!(s.api_key.as_deref(), Some(KEY));
    assert_eq!(s.content_type.as_deref(), Some("application/json"));
    assert_eq!(s.body["file_name"], "cat.png", "no directories are sent");
    let data = s.body["file_data"].as_str().expect("file_data is a string");
    assert!(!data.starts_with("data:"), "no data: prefix");
    let decoded = base64::engine::general_purpose::STANDARD.decode(data).expect("plain base64");
    assert_eq!(decoded, png);
    assert_eq!(s.body.as_object().map(|o| o.len()), Some(2), "{:?}", s.body);
}

#[tokio::test]
async fn every_reply_shape_gives_the_url() {
    for body in [
        json!({"code": 200, "data": {"url": FILE_URL}}),
        json!({"code": 0, "url": FILE_URL}),
        json!({"url": FILE_URL}),
        json!({"code": 200, "message": "success", "data": {"file_url": FILE_URL}}),
    ] {
        let (base, stub) = start_stub([reply(200, body.to_string())]).await;
        let client = client_for(&base, Duration::from_secs(5));
        assert_eq!(upload(&client, &png_bytes()).await.expect("upload"), FILE_URL, "{body}");
        assert_eq!(stub.seen().len(), 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_one_succeeds() {
    let bad_gateway = reply(502, "<html><body>502 Bad Gateway</body></html>");
    let envelope_500 = reply(200, json!({"code": 500, "message": "internal error"}).to_string());
    let (base, stub) = start_stub([reply(500, "oops"), bad_gateway]).await;
    let client = client_for(&base, Duration::from_secs(5));
    assert_eq!(upload(&client, &png_bytes()).await.expect("third try succeeds"), FILE_URL);
    assert_eq!(stub.seen().len(), 3);

    let (base, stub) = start_stub([envelope_500]).await;
    let client = client_for(&base, Duration::from_secs(5));
    assert_eq!(upload(&client, &png_bytes()).await.expect("second try succeeds"), FILE_URL);
    assert_eq!(stub.seen().len(), 2, "a 5xx envelope code is retried too");
}

#[tokio::test]
async fn three_server_errors_fail_with_upload_failed() {
    let (base, stub) = start_stub([reply(500, "a"), reply(503, "b"), reply(500, "c"), ok_reply()]).await;
    let client = client_for(&base, Duration::from_secs(5));
    let e = upload(&client, &png_bytes()).await.expect_err("three failures");
    assert_eq!(e.code(), ErrorCode::UploadFailed, "{e}");
    assert_actionable(&e);
    assert!(e.to_string().contains("HTTP 500"), "{e}");
    assert_eq!(stub.seen().len(), 3, "3 attempts in all");
}

#[tokio::test]
async fn a_rate_limit_is_retried() {
    let mut limited = reply(429, json!({"code": 429, "message": "too many requests"}).to_string());
    limited.headers.push((header::RETRY_AFTER, "0".to_owned()));
    let (base, stub) = start_stub([limited]).await;
    let client = client_for(&base, Duration::from_secs(5));
    assert_eq!(upload(&client, &png_bytes()).await.expect("retried"), FILE_URL);
    assert_eq!(stub.seen().len(), 2);
}

#[tokio::test]
async fn garbage_replies_fail_at_once_with_a_sentence() {
    for garbage in [
        reply(200, "<html><body>Welcome</body></html>"),
        reply(200, ""),
        reply(200, json!({"code": 200, "data": {}}).to_string()),
        reply(200, json!({"code": 200, "data": {"url": "not a url"}}).to_string()),
        reply(400, json!({"code": 400, "message": "file_data is not valid base64"}).to_string()),
        reply(413, "Payload Too Large"),
    ] {
        let (base, stub) = start_stub([garbage.clone()]).await;
        let client = client_for(&base, Duration::from_secs(5));
        let e = upload(&client, &png_bytes()).await.expect_err("garbage");
        assert_eq!(e.code(), ErrorCode::UploadFailed, "{}: {e}", garbage.body);
        assert_actionable(&e);
        assert!(!e.to_string().contains("<html"), "{e}");
        assert_eq!(stub.seen().len(), 1, "not retried: {}", garbage.body);
    }
}

#[tokio::test]
async fn a_rejected_key_is_unauthorized_and_not_retried() {
    for status in [401, 403] {
        let (base, stub) =
            start_stub([reply(status, json!({"code": status, "message": "invalid api key"}).to_string())])
                .await;
        let client = client_for(&base, Duration::from_secs(5));
        let e = upload(&client, &png_bytes()).await.expect_err("unauthorized");
        assert_eq!(e.code(), ErrorCode::Unauthorized, "{status}: {e}");
        assert_eq!(stub.seen().len(), 1);
    }
}

#[tokio::test]
async fn too_large_or_empty_images_are_rejected_before_sending() {
    let (base, stub) = start_stub([]).await;
    let client = client_for(&base, Duration::from_secs(5));
    for bytes in [vec![0u8; MAX_UPLOAD_BYTES + 1], Vec::new()] {
        let e = upload(&client, &bytes).await.expect_err("rejected");
        match &e {
            Error::InvalidInput { field, message } => {
                assert_eq!(field, "image");
                assert!(
                    message.contains("use a smaller image") || message.contains("pick another"),
                    "{message}"
                );
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    assert_eq!(stub.seen().len(), 0, "nothing was sent");
    let at_limit = vec![7u8; MAX_UPLOAD_BYTES];
    assert_eq!(upload(&client, &at_limit).await.expect("exactly the limit is sent"), FILE_URL);
    assert_eq!(stub.seen().len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_fails_after_three_attempts() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = client_for(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5));
    let e = upload(&client, &png_bytes()).await.expect_err("refused");
    assert_eq!(e.code(), ErrorCode::UploadFailed, "{e}");
    assert_actionable(&e);
    let text = e.to_string();
    assert!(text.contains("could not be reached") && text.contains("3 attempts"), "{text}");
}

#[tokio::test]
async fn a_stalled_try_times_out_and_is_retried() {
    let stall = Step { delay: Duration::from_secs(10), ..ok_reply() };
    let (base, stub) = start_stub([stall]).await;
    let client = client_for(&base, Duration::from_millis(300));
    assert_eq!(upload(&client, &png_bytes()).await.expect("second try"), FILE_URL);
    assert_eq!(stub.seen().len(), 2);
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    let echo = |status: u16| reply(status, json!({"message": format!("bad key {KEY}")}).to_string());
    let (base, _stub) = start_stub([echo(500), echo(500), echo(500)]).await;
    let client = client_for(&base, Duration::from_secs(5));
    let e = upload(&client, &png_bytes()).await.expect_err("fails");
    assert!(!e.to_string().contains(KEY) && !format!("{e:?}").contains(KEY), "{e:?}");

    let (base, _stub) = start_stub([echo(400)]).await;
    let client = client_for(&base, Duration::from_secs(5));
    let e = upload(&client, &png_bytes()).await.expect_err("fails");
    assert!(!e.to_string().contains(KEY) && !format!("{e:?}").contains(KEY), "{e:?}");
}

#[tokio::test]
async fn redirects_never_carry_the_key_to_another_origin() {
    let (elsewhere, elsewhere_stub) = start_stub([]).await;
    let mut redirect = reply(307, "");
    redirect.headers.push((header::LOCATION, format!("{elsewhere}/steal")));
    let (base, stub) = start_stub([redirect]).await;
    let client = client_for(&base, Duration::from_secs(5));
    let e = upload(&client, &png_bytes()).await.expect_err("redirect not followed");
    assert_eq!(e.code(), ErrorCode::UploadFailed, "{e}");
    assert_eq!(stub.seen().len(), 1);
    assert!(elsewhere_stub.seen().is_empty(), "the other origin got nothing");
}

#[tokio::test]
async fn an_explicit_upload_url_is_used() {
    let (api, api_stub) = start_stub([]).await;
    let (files, files_stub) = start_stub([]).await;
    let config = ClientConfig::new(&api, SecretString::from(KEY.to_owned()))
        .expect("config")
        .with_upload_url(format!("{files}/v2/upload"));
    let client = Client::new(config).expect("client");
    assert_eq!(upload(&client, &png_bytes()).await.expect("upload"), FILE_URL);
    assert!(api_stub.seen().is_empty());
    let seen = files_stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v2/upload");
    assert_eq!(seen[0].api_key.as_deref(), Some(KEY));
}
