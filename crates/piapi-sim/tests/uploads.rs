//! `POST /api/ephemeral_resource` over real loopback HTTP: the contract's wire shape, auth, the
//! 10 MiB limit (413), non-images (400), the `upload_failures` fault, stats, and persistence of
//! uploads next to the state file so a restored task still renders after a restart.

mod common;

use common::{Api, DEV, KEY, b64, decode, png};
use image::{Rgb, RgbImage};
use piapi_sim::{Faults, MAX_UPLOAD_BYTES, SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::json;

fn picture() -> RgbImage {
    RgbImage::from_fn(24, 16, |x, y| Rgb([(x * 10) as u8, (y * 15) as u8, 90]))
}

#[tokio::test]
async fn upload_reply_url_and_serving() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let bytes = png(&picture());
    let r = api.upload("photo.png", &bytes).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["code"], 200);
    let url = r.json["data"]["url"].as_str().expect("data.url");
    let id = url.strip_prefix(&format!("{}/files/uploads/", sim.base_url())).expect("own uploads URL");
    let stem = id.strip_suffix(".png").expect(".png");
    assert!(stem.len() == 32 && stem.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let got = api.download(url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.body.as_ref(), bytes.as_slice());

    // Other image formats are kept as sent, with their own extension and content type.
    let mut jpeg = std::io::Cursor::new(Vec::new());
    picture().write_to(&mut jpeg, image::ImageFormat::Jpeg).expect("jpeg");
    let r = api.upload("photo.jpeg", jpeg.get_ref()).await;
    let url = r.json["data"]["url"].as_str().expect("url");
    assert!(url.ends_with(".jpg"), "{url}");
    let got = api.download(url).await;
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    assert_eq!(decode(&got.body).dimensions(), (24, 16));

    let missing = api.download(&format!("{}/files/uploads/0123.png", sim.base_url())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let stats = sim.stats();
    assert_eq!((stats.uploads, sim.upload_count()), (2, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_uploads_are_400() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let good = b64(&png(&picture()));
    let mut truncated = png(&picture());
    truncated.truncate(truncated.len() / 2);
    let cases = [
        (json!({"file_name": "a.png", "file_data": b64(b"just some text, not an image")}), "not an image"),
        (json!({"file_name": "a.png", "file_data": b64(&truncated)}), "file_data"),
        (json!({"file_name": "a.png", "file_data": "%%%"}), "base64"),
        (json!({"file_name": "a.png", "file_data": format!("data:image/png;base64,{good}")}), "data:"),
        (json!({"file_name": "a.png", "file_data": ""}), "file_data"),
        (json!({"file_name": "a.png"}), "file_data"),
        (json!({"file_data": good}), "file_name"),
        (json!({"file_name": "", "file_data": good}), "file_name"),
    ];
    for (body, needle) in cases {
        let r = api.send(api.client.post(api.url("/api/ephemeral_resource")).json(&body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{needle}");
        assert_eq!(r.json["code"], 400);
        assert!(r.json["data"].is_null());
        let msg = r.json["message"].as_str().expect("message");
        assert!(msg.contains(needle), "{msg:?} mentions {needle}");
    }
    let r = api.send(api.client.post(api.url("/api/ephemeral_resource")).body("not json")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.upload_count(), 0);
    assert_eq!(sim.stats().uploads, 9);
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_over_10_mib_are_413() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    // Just over the limit after decoding (a PNG signature, so only the size is wrong).
    let mut big = png(&picture());
    big.resize(MAX_UPLOAD_BYTES + 1, 0);
    let r = api.upload("big.png", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json["code"], 413);
    assert!(r.json["data"].is_null());
    assert!(r.json["message"].as_str().expect("message").contains("10 MiB"));
    // Far over: larger than the body limit, still a JSON 413.
    let huge = "A".repeat(24 * 1024 * 1024);
    let body = format!("{{\"file_name\":\"h.png\",\"file_data\":\"{huge}\"}}");
    let r = api.send(api.client.post(api.url("/api/ephemeral_resource")).body(body)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json["code"], 413);
    assert_eq!(MAX_UPLOAD_BYTES, 10 * 1024 * 1024);
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_need_the_key() {
    let sim =
        Simulator::start(SimConfig { api_key: Some(KEY.into()), ..SimConfig::fast() }).await.expect("start");
    let mut api = Api::new(&sim);
    let bytes = png(&picture());
    for key in [None, Some("wrong")] {
        api.key = key.map(str::to_owned);
        let r = api.upload("a.png", &bytes).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json, json!({"code": 401, "message": "Invalid API key", "data": null}));
    }
    api.key = Some(KEY.into());
    assert_eq!(api.upload("a.png", &bytes).await.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn upload_failures_fault_answers_500_then_recovers() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let bytes = png(&picture());
    sim.set_faults(Faults { upload_failures: 2, ..Faults::default() });
    for left in [1, 0] {
        let r = api.upload("a.png", &bytes).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.json["code"], 500);
        assert!(r.json["data"].is_null());
        assert_eq!(sim.faults().upload_failures, left);
    }
    assert_eq!(api.upload("a.png", &bytes).await.status, StatusCode::OK);
    // API routes are not affected by the upload fault, and vice versa.
    sim.set_faults(Faults { upload_failures: 1, ..Faults::default() });
    assert_eq!(api.account().await.status, StatusCode::OK);
    // Also settable over HTTP.
    let mut open = Api::new(&sim);
    open.key = None;
    let r = open.send(open.client.put(open.url("/_sim/faults")).json(&json!({"upload_failures": 3}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(sim.faults().upload_failures, 3);
    let stats = sim.stats();
    assert_eq!((stats.uploads, stats.faults_injected, sim.upload_count()), (3, 2, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn uploads_persist_with_the_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SimConfig { state_file: Some(dir.path().join("sim.json")), ..SimConfig::fast() };
    let sim = Simulator::start(cfg.clone()).await.expect("start");
    let api = Api::new(&sim);
    let src = picture();
    let url = api.upload_ok(&src).await;
    let id = url.rsplit('/').next().expect("id").to_owned();
    assert!(dir.path().join("sim.uploads").join(&id).is_file());
    // A task accepted now but only downloaded after the restart.
    let body = json!({"model": DEV, "task_type": "img2img", "input": {"prompt": "later", "image": url, "denoise": 0.5}});
    let task = api.create_ok(&body).await;
    sim.shutdown().await;

    let sim = Simulator::start(cfg).await.expect("restart");
    let api = Api::new(&sim);
    let moved = format!("{}/files/uploads/{id}", sim.base_url());
    let got = api.download(&moved).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(decode(&got.body), src);
    let done = api.wait_done(&task).await;
    assert_eq!(done["status"], "completed");
    let out = api.download(done["output"]["image_url"].as_str().expect("url")).await;
    assert_eq!(out.status, StatusCode::OK, "renders from the persisted upload (its URL has the old port)");
    assert_eq!(decode(&out.body).dimensions(), (24, 16));
    // New tasks can use the upload through the new port's URL.
    let body = json!({"model": DEV, "task_type": "img2img", "input": {"prompt": "again", "image": moved}});
    assert_eq!(api.run_ok(&body).await["status"], "completed");
    sim.shutdown().await;
}
