//! Each injected fault over real loopback HTTP: what the client sees, that counters go down in
//! arrival order, and that refused creates never create (or charge) a task.

mod common;

use std::time::Duration;

use common::{Api, SCHNELL, eventually, txt2img};
use piapi_sim::{FAIL_MESSAGE, Faults, SimConfig, Simulator};
use reqwest::StatusCode;

#[tokio::test]
async fn server_errors_hit_api_requests_in_order() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let body = txt2img(SCHNELL, "x", 32, 32);
    sim.set_faults(Faults { server_errors: 3, ..Faults::default() });
    let r = api.create(&body).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json["code"], 500);
    assert!(r.json["data"].is_null());
    assert_eq!(sim.faults().server_errors, 2);
    assert_eq!(api.account().await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.get_task("any").await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(sim.faults().server_errors, 0);
    assert_eq!(sim.stats().creates, 0, "a 500 create creates nothing");
    assert!((sim.balance_usd() - 10.0).abs() < 1e-9);
    assert_eq!(api.create(&body).await.status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!((stats.creates, stats.create_requests, stats.faults_injected), (1, 2, 3));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_gateway_is_an_html_page() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    sim.set_faults(Faults { bad_gateway_html: 1, ..Faults::default() });
    let r = api.account().await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.header("content-type").expect("content-type").starts_with("text/html"));
    assert!(r.json.is_null(), "not JSON");
    assert!(String::from_utf8_lossy(&r.body).contains("502: Bad gateway"));
    assert_eq!(api.account().await.status, StatusCode::OK);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_send_retry_after_and_create_nothing() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let body = txt2img(SCHNELL, "x", 32, 32);
    sim.set_faults(Faults { rate_limits: 1, ..Faults::default() });
    let r = api.create(&body).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("1"), "0 means the default of 1 s");
    assert_eq!(r.json["code"], 429);
    assert_eq!(sim.stats().creates, 0);
    assert_eq!(sim.stats().rejected_concurrency, 0, "a rate limit is not a concurrency refusal");

    sim.set_faults(Faults { rate_limits: 2, retry_after_secs: 3, ..Faults::default() });
    for _ in 0..2 {
        let r = api.create(&body).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("retry-after"), Some("3"));
    }
    // The retry that follows creates exactly one task.
    assert_eq!(api.create(&body).await.status, StatusCode::OK);
    assert_eq!(sim.stats().creates, 1);
    assert!((sim.balance_usd() - (10.0 - 0.0015)).abs() < 1e-9);
    sim.shutdown().await;
}

#[tokio::test]
async fn garbage_gets_return_non_json() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let id = api.create_ok(&txt2img(SCHNELL, "x", 32, 32)).await;
    sim.set_faults(Faults { garbage_gets: 1, ..Faults::default() });
    let r = api.get_task(&id).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(!r.body.is_empty());
    // Garbage applies only to task GETs, and only N times.
    let r = api.get_task(&id).await;
    assert_eq!(r.json["data"]["task_id"], id.as_str());
    assert_eq!(sim.stats().gets, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_download_announces_full_length_then_closes() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let id = api.create_ok(&txt2img(SCHNELL, "truncate me", 120, 80)).await;
    let done = api.wait_done(&id).await;
    let url = done["output"]["image_url"].as_str().expect("url").to_owned();
    let full = {
        let seed = done["input"]["seed"].as_i64().expect("seed");
        piapi_sim::render_png("truncate me", seed, 120, 80)
    };
    sim.set_faults(Faults { truncated_downloads: 1, ..Faults::default() });
    let resp = api.client.get(&url).send().await.expect("headers arrive");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.content_length(), Some(full.len() as u64));
    let mut resp = resp;
    let mut got = Vec::new();
    let outcome = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "the body ends with an error, not a clean end");
    assert!(got.len() < full.len());
    assert_eq!(got.as_slice(), &full[..got.len()]);

    let ok = api.download(&url).await;
    assert_eq!(ok.body.as_ref(), full.as_slice());
    assert_eq!(sim.stats().downloads, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn corrupt_download_has_full_length_but_does_not_decode() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    let id = api.create_ok(&txt2img(SCHNELL, "corrupt me", 64, 64)).await;
    let url = api.wait_done(&id).await["output"]["image_url"].as_str().expect("url").to_owned();
    sim.set_faults(Faults { corrupt_downloads: 1, ..Faults::default() });
    let bad = api.download(&url).await;
    let good = api.download(&url).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert_eq!(bad.body.len(), good.body.len());
    assert_eq!(bad.header("content-length"), Some(good.body.len().to_string().as_str()));
    assert!(image::load_from_memory(&bad.body).is_err());
    assert!(image::load_from_memory(&good.body).is_ok());
    assert_eq!(sim.faults().corrupt_downloads, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn fail_prompt_ends_failed_with_message() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    sim.set_faults(Faults { fail_prompt: Some("forbidden".into()), ..Faults::default() });
    let bad = api.create_ok(&txt2img(SCHNELL, "a forbidden thing", 32, 32)).await;
    let fine = api.create_ok(&txt2img(SCHNELL, "a nice thing", 32, 32)).await;
    let failed = api.wait_done(&bad).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["message"], FAIL_MESSAGE);
    assert!(failed["output"].is_null());
    assert_ne!(failed["meta"]["ended_at"], piapi_sim::ZERO_TIME);
    let r = api.download(&format!("{}/files/{bad}/0.png", sim.base_url())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(api.wait_done(&fine).await["status"], "completed");
    sim.shutdown().await;
}

#[tokio::test]
async fn create_delay_records_the_task_before_answering() {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    sim.set_faults(Faults { create_delay_ms: 1_500, ..Faults::default() });
    let client = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().expect("client");
    let res = client
        .post(format!("{}/api/v1/task", sim.base_url()))
        .header("x-api-key", common::KEY)
        .json(&txt2img(SCHNELL, "slow answer", 32, 32))
        .send()
        .await;
    assert!(res.expect_err("client times out").is_timeout());
    eventually("the task to be recorded", || sim.stats().creates == 1).await;
    assert!((sim.balance_usd() - (10.0 - 0.0015)).abs() < 1e-9, "and charged");
    sim.set_faults(Faults::default());
    assert_eq!(api.create(&txt2img(SCHNELL, "fast", 32, 32)).await.status, StatusCode::OK);
    sim.shutdown().await;
}
