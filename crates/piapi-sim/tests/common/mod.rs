//! Helpers shared by the integration tests: a reqwest client aimed at a running simulator.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use piapi_sim::SimHandle;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const KEY: &str = "sk-test-0123456789";
/// Upper bound for any wait in a test (the sim's timings are tens of milliseconds).
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One HTTP answer: status, headers, raw body and the body as JSON (Null if it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

pub fn txt2img(model: &str, prompt: &str, width: u32, height: u32) -> Value {
    json!({
        "model": model,
        "task_type": "txt2img",
        "input": { "prompt": prompt, "width": width, "height": height }
    })
}

pub const SCHNELL: &str = "Qubico/flux1-schnell";
pub const DEV: &str = "Qubico/flux1-dev";
pub const DEV_ADVANCED: &str = "Qubico/flux1-dev-advanced";

impl Api {
    pub fn new(sim: &SimHandle) -> Self {
        Self::with_base(sim.base_url())
    }

    pub fn with_base(base: String) -> Self {
        let client = reqwest::Client::builder().timeout(DEADLINE).build().expect("client");
        Self { client, base, key: Some(KEY.to_owned()) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.key {
            Some(k) => req.header("x-api-key", k),
            None => req,
        };
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body read");
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply { status, headers, body, json }
    }

    pub async fn create(&self, body: &Value) -> Reply {
        self.send(self.client.post(self.url("/api/v1/task")).json(body)).await
    }

    /// Creates a task and returns its id, asserting success.
    pub async fn create_ok(&self, body: &Value) -> String {
        let r = self.create(body).await;
        assert_eq!(r.status, StatusCode::OK, "create failed: {:?}", r.json);
        r.json["data"]["task_id"].as_str().expect("task_id").to_owned()
    }

    pub async fn get_task(&self, id: &str) -> Reply {
        self.send(self.client.get(self.url(&format!("/api/v1/task/{id}")))).await
    }

    pub async fn account(&self) -> Reply {
        self.send(self.client.get(self.url("/account/info"))).await
    }

    pub async fn download(&self, url: &str) -> Reply {
        let resp = self.client.get(url).send().await.expect("download sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("download body");
        Reply { status, headers, body, json: Value::Null }
    }

    /// Polls the task until `done(status)` holds; returns that task's `data`.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let r = self.get_task(id).await;
            assert_eq!(r.status, StatusCode::OK, "get failed: {:?}", r.json);
            let status = r.json["data"]["status"].as_str().expect("status").to_owned();
            if done(&status) {
                return r.json["data"].clone();
            }
            assert!(start.elapsed() < DEADLINE, "task {id} stuck in {status:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Polls until the task is in a terminal state (any style's spelling).
    pub async fn wait_done(&self, id: &str) -> Value {
        self.wait_for(id, |s| {
            matches!(s.trim().to_ascii_lowercase().as_str(), "completed" | "success" | "failed" | "cancelled")
        })
        .await
    }
}

/// Polls `cond` until it holds (bounded by `DEADLINE`).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// PNG bytes of an RGB image.
pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

/// Decodes PNG (or any supported) bytes to RGB8.
pub fn decode(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).expect("decodes as an image").to_rgb8()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Api {
    /// `POST /api/ephemeral_resource` with the contract's body.
    pub async fn upload(&self, file_name: &str, bytes: &[u8]) -> Reply {
        let body = json!({ "file_name": file_name, "file_data": b64(bytes) });
        self.send(self.client.post(self.url("/api/ephemeral_resource")).json(&body)).await
    }

    /// Uploads an image and returns its URL, asserting success.
    pub async fn upload_ok(&self, img: &image::RgbImage) -> String {
        let r = self.upload("source.png", &png(img)).await;
        assert_eq!(r.status, StatusCode::OK, "upload failed: {:?}", r.json);
        r.json["data"]["url"].as_str().expect("data.url").to_owned()
    }

    /// Creates, waits until done and returns the task `data`, asserting it completed.
    pub async fn run_ok(&self, body: &Value) -> Value {
        let id = self.create_ok(body).await;
        let done = self.wait_done(&id).await;
        assert_eq!(done["status"], "completed", "task did not complete: {done}");
        done
    }

    /// Runs a task to completion and downloads its (first) image.
    pub async fn run_image(&self, body: &Value) -> (Value, image::RgbImage) {
        let done = self.run_ok(body).await;
        let url = done["output"]["image_url"].as_str().expect("image_url").to_owned();
        let img = self.download(&url).await;
        assert_eq!(img.status, StatusCode::OK, "download of {url}");
        (done, decode(&img.body))
    }
}
