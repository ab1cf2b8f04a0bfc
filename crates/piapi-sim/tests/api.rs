//! The simulated PiAPI over real loopback HTTP: lifecycle, wire styles, auth, validation, cancel,
//! account/balance, concurrency, persistence, uploads, control endpoints and shutdown.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Api, DEV, DEV_ADVANCED, KEY, SCHNELL, txt2img};
use piapi_sim::{Faults, SimConfig, Simulator, WireStyle, ZERO_TIME};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("timestamp string")).expect("rfc3339").with_timezone(&Utc)
}

fn config(pending_ms: u64, processing_ms: u64) -> SimConfig {
    SimConfig { pending_ms, processing_ms, ..SimConfig::fast() }
}

#[tokio::test]
async fn lifecycle_pending_processing_completed() {
    let sim = Simulator::start(config(200, 800)).await.expect("start");
    let api = Api::new(&sim);
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));

    let created = api.create(&txt2img(DEV, "a little cat", 96, 64)).await;
    assert_eq!(created.status, StatusCode::OK);
    assert_eq!(created.json["code"], 200);
    assert_eq!(created.json["message"], "success");
    let data = &created.json["data"];
    let id = data["task_id"].as_str().expect("id").to_owned();
    assert_eq!(data["status"], "pending");
    assert_eq!(data["model"], DEV);
    assert_eq!(data["task_type"], "txt2img");
    assert!(data["output"].is_null());
    assert_eq!(data["input"]["prompt"], "a little cat");
    assert_eq!(data["input"]["width"], 96);
    let seed = data["input"]["seed"].as_i64().expect("random seed echoed");
    assert!(seed >= 0);
    assert_eq!(data["meta"]["started_at"], ZERO_TIME);
    assert_eq!(data["meta"]["ended_at"], ZERO_TIME);
    assert_eq!(data["meta"]["usage"], json!({"type": "quota", "frozen": 0, "consume": 150_000}));
    assert_eq!(data["error"], json!({"code": 0, "raw_message": "", "message": "", "detail": null}));
    assert_eq!(data["logs"], json!([]));
    assert!(data["detail"].is_null());
    let created_at = ts(&data["meta"]["created_at"]);

    let processing = api.wait_for(&id, |s| s != "pending").await;
    assert_eq!(processing["status"], "processing");
    assert!(processing["output"].is_null());
    assert_eq!(ts(&processing["meta"]["started_at"]) - created_at, TimeDelta::milliseconds(200));
    assert_eq!(processing["meta"]["ended_at"], ZERO_TIME);

    let done = api.wait_for(&id, |s| s != "processing").await;
    assert_eq!(done["status"], "completed");
    assert_eq!(ts(&done["meta"]["ended_at"]) - created_at, TimeDelta::milliseconds(1000));
    assert_eq!(done["input"]["seed"], seed, "the seed stays the same");
    let url = done["output"]["image_url"].as_str().expect("image_url");
    assert_eq!(url, format!("{}/files/{id}/0.png", sim.base_url()));
    assert!(done["output"].get("image_urls").is_none());

    let img = api.download(url).await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.header("content-type"), Some("image/png"));
    assert_eq!(img.header("content-length"), Some(img.body.len().to_string().as_str()));
    assert_eq!(img.body.as_ref(), piapi_sim::render_png("a little cat", seed, 96, 64).as_slice());
    let decoded = image::load_from_memory(&img.body).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (96, 64));

    let stats = sim.stats();
    assert_eq!(stats.creates, 1);
    assert_eq!(stats.downloads, 1);
    assert!(stats.gets >= 2);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.max_in_flight, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn defaults_seed_and_batch() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    // Unset width/height become 1024; an explicit seed is kept.
    let body = json!({"model": SCHNELL, "task_type": "txt2img", "input": {"prompt": "x", "seed": 42}});
    let r = api.create(&body).await;
    assert_eq!(r.json["data"]["input"]["width"], 1024);
    assert_eq!(r.json["data"]["input"]["height"], 1024);
    assert_eq!(r.json["data"]["input"]["seed"], 42);
    // seed -1 means random.
    let body = json!({"model": SCHNELL, "task_type": "txt2img", "input": {"prompt": "x", "seed": -1}});
    assert_ne!(api.create(&body).await.json["data"]["input"]["seed"], -1);

    // A schnell batch of 3: image_urls with three public URLs, priced 3 x 0.0015.
    let mut body = txt2img(SCHNELL, "three foxes", 64, 48);
    body["input"]["batch_size"] = json!(3);
    body["input"]["seed"] = json!(7);
    let r = api.create(&body).await;
    assert_eq!(r.json["data"]["meta"]["usage"]["consume"], 45_000);
    let id = r.json["data"]["task_id"].as_str().expect("id").to_owned();
    let done = api.wait_done(&id).await;
    let urls: Vec<String> = serde_json::from_value(done["output"]["image_urls"].clone()).expect("image_urls");
    assert_eq!(urls.len(), 3);
    assert!(done["output"].get("image_url").is_none());
    for (n, url) in urls.iter().enumerate() {
        assert!(url.ends_with(&format!("/files/{id}/{n}.png")));
        let img = api.download(url).await;
        assert_eq!(img.status, StatusCode::OK);
        // Image n is rendered with seed + n.
        assert_eq!(img.body.as_ref(), piapi_sim::render_png("three foxes", 7 + n as i64, 64, 48).as_slice());
    }
    let missing = api.download(&format!("{}/files/{id}/3.png", sim.base_url())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn wire_styles() {
    let sim = Simulator::start(config(60, 60)).await.expect("start");
    let api = Api::new(&sim);
    for style in [WireStyle::Standard, WireStyle::Capitalized, WireStyle::Legacy, WireStyle::UrlsOnly] {
        sim.set_faults(Faults { style, ..Faults::default() });
        let created = api.create(&txt2img(SCHNELL, "style check", 32, 32)).await;
        assert_eq!(created.status, StatusCode::OK, "{style:?}");
        let id = created.json["data"]["task_id"].as_str().expect("id").to_owned();
        let first = &created.json["data"];
        let done = api.wait_done(&id).await;
        let out = &done["output"];
        let url = format!("{}/files/{id}/0.png", sim.base_url());
        match style {
            WireStyle::Standard => {
                assert_eq!(created.json["code"], 200);
                assert_eq!(first["status"], "pending");
                assert!(first["output"].is_null());
                assert_eq!(done["status"], "completed");
                assert_eq!(out["image_url"], url);
                assert!(out.get("image_urls").is_none());
                assert!(done["meta"].get("ended_at").is_some());
            }
            WireStyle::Capitalized => {
                assert_eq!(created.json["code"], 200);
                assert_eq!(first["status"], "Pending");
                assert!(first["output"].is_null());
                assert_eq!(done["status"], "Completed");
                assert_eq!(out["image_url"], url);
            }
            WireStyle::Legacy => {
                assert_eq!(created.json["code"], 0);
                assert_eq!(first["status"], "starting");
                assert_eq!(first["output"], json!({}));
                assert_eq!(done["status"], "success");
                assert_eq!(out["image_url"], url);
                assert_eq!(out["image_urls"], json!([url]));
                assert!(done["meta"].get("ended_at").is_none());
                assert!(ts(&done["meta"]["completed_at"]) > ts(&done["meta"]["created_at"]));
                let processing = api.get_task(&id).await; // code 0 on gets too
                assert_eq!(processing.json["code"], 0);
            }
            WireStyle::UrlsOnly => {
                assert_eq!(created.json["code"], 200);
                assert_eq!(first["status"], "pending");
                assert_eq!(first["output"], json!({}));
                assert_eq!(done["status"], "completed");
                assert_eq!(out, &json!({ "image_urls": [url] }));
            }
        }
    }
    // Legacy "processing\t" (with the TAB) is what a task in processing reports.
    sim.update(|c| {
        c.pending_ms = 0;
        c.processing_ms = 60_000;
        c.faults.style = WireStyle::Legacy;
    });
    let id = api.create_ok(&txt2img(SCHNELL, "slow", 32, 32)).await;
    let r = api.get_task(&id).await;
    assert_eq!(r.json["data"]["status"], "processing\t");
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let sim = Simulator::start(SimConfig { api_key: Some(KEY.to_owned()), ..SimConfig::fast() })
        .await
        .expect("start");
    let body = txt2img(SCHNELL, "x", 32, 32);
    let mut api = Api::new(&sim);
    for key in [None, Some(""), Some("   "), Some("wrong-key")] {
        api.key = key.map(str::to_owned);
        for r in [api.create(&body).await, api.account().await, api.get_task("nope").await] {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "key {key:?}");
            assert_eq!(r.json, json!({"code": 401, "message": "Invalid API key", "data": null}));
        }
    }
    assert_eq!(sim.stats().creates, 0);
    api.key = Some(KEY.to_owned());
    assert_eq!(api.create(&body).await.status, StatusCode::OK);
    // Header names are case-insensitive.
    let r = api.client.get(api.url("/account/info")).header("X-API-KEY", KEY).send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    // Images are public (CDN-like): no key needed.
    sim.shutdown().await;

    // Without a configured key, any non-empty key is accepted.
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let mut api = Api::new(&sim);
    api.key = Some("anything".into());
    assert_eq!(api.account().await.status, StatusCode::OK);
    api.key = None;
    assert_eq!(api.account().await.status, StatusCode::UNAUTHORIZED);
    sim.shutdown().await;
}

#[tokio::test]
async fn validation_errors_are_400_and_create_nothing() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"task_type": "txt2img", "input": {"prompt": "x"}}), "model"),
        (json!({"model": "Qubico/flux1-pro", "task_type": "txt2img", "input": {"prompt": "x"}}), "model"),
        (json!({"model": DEV, "input": {"prompt": "x"}}), "task_type"),
        (json!({"model": DEV, "task_type": "kontext", "input": {"prompt": "x"}}), "task_type"),
        (json!({"model": DEV, "task_type": "txt2img"}), "input"),
        (json!({"model": DEV, "task_type": "txt2img", "input": {"prompt": ""}}), "prompt"),
        (json!({"model": DEV, "task_type": "txt2img", "input": {}}), "prompt"),
        (txt2img(DEV, "x", 1025, 1024), "1048576"),
        (txt2img(DEV, "x", 2048, 1024), "1048576"),
        (
            json!({"model": DEV, "task_type": "txt2img", "input": {"prompt": "x", "batch_size": 2}}),
            "batch_size",
        ),
        (
            json!({"model": SCHNELL, "task_type": "txt2img", "input": {"prompt": "x", "batch_size": 5}}),
            "batch_size",
        ),
        (
            json!({"model": SCHNELL, "task_type": "txt2img", "input": {"prompt": "x", "width": "wide"}}),
            "width",
        ),
        (json!({"model": SCHNELL, "task_type": "txt2img", "input": {"prompt": "x", "seed": 1.5}}), "seed"),
    ];
    for (body, field) in cases {
        let r = api.create(&body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.json["code"], 400);
        assert!(r.json["data"].is_null());
        let msg = r.json["message"].as_str().expect("message");
        assert!(msg.contains(field), "message {msg:?} should mention {field}");
    }
    let r = api.send(api.client.post(api.url("/api/v1/task")).body("{not json")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Accepted variants: 1024x1024 exactly, img2img and dev-advanced task types.
    assert_eq!(api.create(&txt2img(DEV, "x", 1024, 1024)).await.status, StatusCode::OK);
    let kontext = json!({"model": DEV_ADVANCED, "task_type": "kontext", "input": {"prompt": "x", "image": "http://a/b.png"}});
    assert_eq!(api.create(&kontext).await.status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!(stats.creates, 2);
    assert_eq!(stats.create_requests, 16);
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_pending_tasks_only_and_refund() {
    let sim = Simulator::start(config(60_000, 60)).await.expect("start");
    let api = Api::new(&sim);
    let balance = || api.account();
    let start = balance().await.json["data"]["equivalent_in_usd"].as_f64().expect("usd");
    let a = api.create_ok(&txt2img(DEV, "a", 32, 32)).await;
    let b = api.create_ok(&txt2img(DEV, "b", 32, 32)).await;
    assert!((sim.balance_usd() - (start - 0.03)).abs() < 1e-9);

    let r = api.send(api.client.delete(api.url(&format!("/api/v1/task/{a}")))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({"code": 200, "message": format!("task {a} canceled")}));
    let r = api.send(api.client.post(api.url(&format!("/api/v1/task/{b}/cancel")))).await;
    assert_eq!(r.json["message"], format!("task {b} canceled"));

    let got = api.get_task(&a).await.json["data"].clone();
    assert_eq!(got["status"], "cancelled");
    assert_eq!(got["meta"]["usage"]["consume"], 0);
    assert_ne!(got["meta"]["ended_at"], ZERO_TIME);
    assert!((sim.balance_usd() - start).abs() < 1e-9, "cancelled tasks are refunded");
    assert_eq!(sim.stats().in_flight, 0);

    // Cancelling twice, or a task that is already processing, is a 400; unknown is a 404.
    let again = api.send(api.client.delete(api.url(&format!("/api/v1/task/{a}")))).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json["code"], 400);
    sim.update(|c| {
        c.pending_ms = 0;
        c.processing_ms = 60_000;
    });
    let c = api.create_ok(&txt2img(DEV, "c", 32, 32)).await;
    let r = api.send(api.client.delete(api.url(&format!("/api/v1/task/{c}")))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["message"].as_str().expect("msg").contains("processing"));
    let r = api.send(api.client.delete(api.url("/api/v1/task/does-not-exist"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(sim.stats().cancels, 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn account_info_and_balance() {
    let sim = Simulator::start(SimConfig { concurrency_limit: 5, ..SimConfig::fast() }).await.expect("start");
    let api = Api::new(&sim);
    let r = api.account().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["code"], 200);
    let d = &r.json["data"];
    assert_eq!(d["equivalent_in_usd"], 10.0);
    assert_eq!(d["name"], "Fluxdesk Demo");
    assert_eq!(d["plan"], "creator");
    assert_eq!(d["is_enable"], true);
    assert_eq!(d["max_concurrent_task_count"], 5);
    assert!(d["id"].is_string());

    api.create_ok(&txt2img(DEV, "x", 32, 32)).await;
    api.create_ok(&txt2img(DEV_ADVANCED, "x", 32, 32)).await;
    let mut batch = txt2img(SCHNELL, "x", 32, 32);
    batch["input"]["batch_size"] = json!(2);
    api.create_ok(&batch).await;
    let usd = api.account().await.json["data"]["equivalent_in_usd"].as_f64().expect("usd");
    assert!((usd - (10.0 - 0.015 - 0.02 - 0.003)).abs() < 1e-9, "{usd}");
    assert_eq!(sim.stats().account_calls, 2);

    // Balance below the price: 402 with the JSON error body; nothing is created or charged.
    sim.update(|c| c.balance_usd = 0.01);
    let r = api.create(&txt2img(DEV, "x", 32, 32)).await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(r.json["code"], 402);
    assert!(r.json["data"].is_null());
    assert!(r.json["message"].as_str().expect("msg").contains("insufficient credits"));
    assert_eq!(api.create(&txt2img(SCHNELL, "x", 32, 32)).await.status, StatusCode::OK, "0.0015 fits");
    // The fault flag refuses even with money.
    sim.update(|c| {
        c.balance_usd = 100.0;
        c.faults.insufficient_credits = true;
    });
    assert_eq!(api.create(&txt2img(SCHNELL, "x", 32, 32)).await.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(sim.stats().creates, 4);
    assert!((sim.balance_usd() - 100.0).abs() < 1e-9);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrency_limit_refuses_with_429() {
    // Tasks stay pending for a minute, so which creates are in flight does not depend on speed.
    let sim =
        Simulator::start(SimConfig { concurrency_limit: 3, ..config(60_000, 60) }).await.expect("start");
    let api = Api::new(&sim);
    let body = txt2img(SCHNELL, "crowd", 32, 32);
    let replies = futures_util::future::join_all((0..5).map(|_| api.create(&body))).await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!((ok.len(), refused.len()), (3, 2));
    for r in &refused {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json["code"], 429);
        assert!(r.json["data"].is_null());
    }
    let stats = sim.stats();
    assert_eq!((stats.creates, stats.rejected_concurrency), (3, 2));
    assert_eq!((stats.in_flight, stats.max_in_flight), (3, 3));
    let balance = sim.balance_usd();
    assert!((balance - (10.0 - 3.0 * 0.0015)).abs() < 1e-9, "refused creates are not charged");

    // Freeing a slot (here by cancelling) makes room again.
    let first = ok[0].json["data"]["task_id"].as_str().expect("id");
    let r = api.send(api.client.delete(api.url(&format!("/api/v1/task/{first}")))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(sim.stats().in_flight, 2);
    assert_eq!(api.create(&body).await.status, StatusCode::OK);
    assert_eq!(api.create(&body).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sim.stats().max_in_flight, 3);
    sim.shutdown().await;
}

/// What the client and job runner will do: 64 tasks through a pool of 8 pollers, each creating,
/// polling until done and downloading. The sim must keep up and never see a 9th task in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_at_concurrency_eight() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = std::sync::Arc::new(Api::new(&sim));
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let jobs = (0..64).map(|i| {
        let (api, permits) = (api.clone(), permits.clone());
        tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let id = api.create_ok(&txt2img(SCHNELL, &format!("job {i}"), 24, 24)).await;
            let done = api.wait_done(&id).await;
            let img = api.download(done["output"]["image_url"].as_str().expect("url")).await;
            assert_eq!(img.status, StatusCode::OK);
        })
    });
    for job in futures_util::future::join_all(jobs).await {
        job.expect("job finished");
    }
    let stats = sim.stats();
    assert_eq!((stats.creates, stats.downloads, stats.rejected_concurrency), (64, 64, 0));
    assert!(stats.max_in_flight <= 8 && stats.max_in_flight >= 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn serve_until_runs_until_the_future_resolves() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, addr) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(piapi_sim::serve_until_with(
        SimConfig::fast(),
        async move {
            let _ = stopped.await;
        },
        move |h| {
            let _ = ready.send(h.addr());
        },
    ));
    let addr = addr.await.expect("ready");
    let api = Api::with_base(format!("http://{addr}"));
    assert_eq!(api.send(api.client.get(api.url("/_sim/health"))).await.status, StatusCode::OK);
    stop.send(()).expect("server waiting");
    let res = tokio::time::timeout(Duration::from_secs(5), server).await.expect("stops").expect("no panic");
    res.expect("served without error");
}

#[tokio::test]
async fn unknown_task_and_routes_are_404_json() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let r = api.get_task("00000000-0000-0000-0000-000000000000").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json, json!({"code": 404, "message": "task not found", "data": null}));
    let r = api.send(api.client.get(api.url("/api/v9/nothing"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["code"], 404);
    // An image of a task that is not completed yet is not there.
    sim.update(|c| c.pending_ms = 60_000);
    let id = api.create_ok(&txt2img(SCHNELL, "x", 32, 32)).await;
    let r = api.download(&format!("{}/files/{id}/0.png", sim.base_url())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn state_file_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sim-state.json");
    let cfg = SimConfig { state_file: Some(path.clone()), ..SimConfig::fast() };

    let sim = Simulator::start(cfg.clone()).await.expect("start");
    let api = Api::new(&sim);
    let a = api.create_ok(&txt2img(SCHNELL, "persist me", 40, 30)).await;
    let done_a = api.wait_done(&a).await;
    sim.update(|c| c.pending_ms = 60_000);
    let b = api.create_ok(&txt2img(DEV, "cancel me", 40, 30)).await;
    api.send(api.client.delete(api.url(&format!("/api/v1/task/{b}")))).await;
    sim.shutdown().await;
    assert!(path.exists());

    let sim = Simulator::start(cfg).await.expect("restart");
    let api = Api::new(&sim);
    let again = api.get_task(&a).await;
    assert_eq!(again.status, StatusCode::OK);
    let data = &again.json["data"];
    assert_eq!(data["status"], "completed");
    assert_eq!(data["input"], done_a["input"]);
    assert_eq!(data["meta"], done_a["meta"]);
    // URLs point at the running server; the image is re-rendered identically.
    let url = data["output"]["image_url"].as_str().expect("url");
    assert!(url.starts_with(&sim.base_url()));
    let img = api.download(url).await;
    assert_eq!(img.status, StatusCode::OK);
    let seed = data["input"]["seed"].as_i64().expect("seed");
    assert_eq!(img.body.as_ref(), piapi_sim::render_png("persist me", seed, 40, 30).as_slice());
    assert_eq!(api.get_task(&b).await.json["data"]["status"], "cancelled");
    // New tasks are added to the same file.
    let c = api.create_ok(&txt2img(SCHNELL, "third", 40, 30)).await;
    sim.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("state file");
    assert!(text.contains(&a) && text.contains(&b) && text.contains(&c));
    assert!(!text.contains(KEY), "the API key is never written");
}

#[tokio::test]
async fn upload_stub_serves_the_bytes() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let bytes = piapi_sim::render_png("upload", 1, 16, 16);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let r = api
        .send(
            api.client
                .post(api.url("/api/ephemeral_resource"))
                .json(&json!({"file_name": "in.png", "file_data": b64})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["code"], 200);
    let url = r.json["data"]["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/files/uploads/", sim.base_url())));
    let got = api.download(url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.body.as_ref(), bytes.as_slice());
    let bad = api
        .send(
            api.client
                .post(api.url("/api/ephemeral_resource"))
                .json(&json!({"file_name": "x.png", "file_data": "%%%"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    sim.shutdown().await;
}

#[tokio::test]
async fn control_endpoints() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let mut api = Api::new(&sim);
    api.key = None; // control endpoints need no key
    assert_eq!(api.send(api.client.get(api.url("/_sim/health"))).await.status, StatusCode::OK);

    let plan = json!({"server_errors": 1, "style": "urls-only"});
    let r = api.send(api.client.put(api.url("/_sim/faults")).json(&plan)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(sim.faults(), Faults { server_errors: 1, style: WireStyle::UrlsOnly, ..Faults::default() });
    let r = api.send(api.client.put(api.url("/_sim/faults")).body("{\"style\": \"weird\"}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    api.key = Some(KEY.into());
    assert_eq!(api.account().await.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = api.send(api.client.get(api.url("/_sim/faults"))).await;
    assert_eq!(r.json["server_errors"], 0, "the counter went down");
    let r = api.send(api.client.get(api.url("/_sim/stats"))).await;
    let stats: piapi_sim::SimStats = serde_json::from_value(r.json).expect("stats json");
    assert_eq!(stats, sim.stats());
    assert_eq!(stats.account_calls, 1);
    assert_eq!(stats.faults_injected, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let addr = sim.addr();
    assert!(addr.ip().is_loopback());
    let api = Api::new(&sim);
    assert_eq!(api.account().await.status, StatusCode::OK); // leaves a keep-alive connection open
    tokio::time::timeout(Duration::from_secs(5), sim.shutdown()).await.expect("shutdown does not hang");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let addr = sim.addr();
    drop(sim);
    let mut refused = false;
    let start = std::time::Instant::now();
    while !refused && start.elapsed() < common::DEADLINE {
        refused = tokio::net::TcpStream::connect(addr).await.is_err();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "a dropped handle stops the server");
}

#[test]
fn debug_output_hides_the_key() {
    let cfg = SimConfig { api_key: Some(KEY.to_owned()), ..SimConfig::default() };
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains(KEY));
    assert!(dbg.contains("redacted"));
}
