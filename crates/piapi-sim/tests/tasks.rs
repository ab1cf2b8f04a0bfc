//! Every Flux task type over real loopback HTTP: upload a small PNG, create with a valid body,
//! wait for completion, download, and check the output visibly reflects the input. Also: invalid
//! bodies are 400s naming the field, and image URLs the simulator cannot serve make the task fail
//! (never a network fetch).

mod common;

use common::{Api, DEV, DEV_ADVANCED, SCHNELL, b64, decode, png, txt2img};
use image::{Rgb, RgbImage};
use piapi_sim::{SimConfig, SimHandle, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

const RED: [u8; 3] = [200, 40, 40];
const BLUE: [u8; 3] = [40, 60, 200];

/// Left half red, right half blue.
fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| Rgb(if x < w / 2 { RED } else { BLUE }))
}

fn dist(a: [u8; 3], b: [u8; 3]) -> u32 {
    a.iter().zip(b).map(|(x, y)| u32::from(x.abs_diff(y))).sum()
}

fn px(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

fn is_white(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c >= 250)
}

fn body(model: &str, task: &str, input: Value) -> Value {
    json!({ "model": model, "task_type": task, "input": input })
}

async fn start() -> (SimHandle, Api) {
    let sim = Simulator::start(SimConfig::fast()).await.expect("start");
    let api = Api::new(&sim);
    (sim, api)
}

#[tokio::test]
async fn img2img_tints_by_denoise_on_every_model() {
    let (sim, api) = start().await;
    let src = halves(64, 48);
    let url = api.upload_ok(&src).await;
    for model in [SCHNELL, DEV, DEV_ADVANCED] {
        let mut prev = 0;
        for denoise in [0.2, 0.6, 1.0] {
            let b =
                body(model, "img2img", json!({"prompt": "golden hour", "image": url, "denoise": denoise}));
            let (done, out) = api.run_image(&b).await;
            assert_eq!(done["input"]["image"], url.as_str(), "input is echoed");
            assert_eq!(out.dimensions(), (64, 48), "same size as the source");
            let moved = dist(px(&out, 5, 5), RED);
            assert!(moved > prev, "{model}: denoise {denoise} tints more ({moved} vs {prev})");
            prev = moved;
            // The source's structure is still there.
            assert!(dist(px(&out, 5, 5), px(&out, 60, 40)) > 60, "halves still differ");
        }
    }
    // Without denoise PiAPI's default (0.7) applies; deterministic for the same input.
    let b = body(SCHNELL, "img2img", json!({"prompt": "golden hour", "image": url}));
    let (_, a) = api.run_image(&b).await;
    let (_, again) = api.run_image(&b).await;
    assert_eq!(a, again);
    assert_ne!(px(&a, 5, 5), RED);
    sim.shutdown().await;
}

#[tokio::test]
async fn schnell_img2img_batch_gives_every_image() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(32, 32)).await;
    let b = body(SCHNELL, "img2img", json!({"prompt": "x", "image": url, "batch_size": 2}));
    let done = api.run_ok(&b).await;
    let urls = done["output"]["image_urls"].as_array().expect("image_urls").clone();
    assert_eq!(urls.len(), 2);
    for u in urls {
        let img = api.download(u.as_str().expect("url")).await;
        assert_eq!(decode(&img.body).dimensions(), (32, 32));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn lora_tasks_add_a_label_band() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(64, 64)).await;
    let lora = json!([{"lora_type": "anime", "lora_strength": 0.8}]);
    let (_, plain) = api
        .run_image(&body(DEV_ADVANCED, "img2img", json!({"prompt": "p", "image": url, "denoise": 0.5})))
        .await;
    let (_, with) = api
        .run_image(&body(
            DEV_ADVANCED,
            "img2img-lora",
            json!({"prompt": "p", "image": url, "denoise": 0.5, "lora_settings": lora}),
        ))
        .await;
    assert_eq!(with.dimensions(), (64, 64));
    assert_eq!(px(&with, 5, 50), px(&plain, 5, 50), "below the band: the img2img result");
    let band_changed = (0..64).filter(|&x| px(&with, x, 2) != px(&plain, x, 2)).count();
    assert!(band_changed > 50, "the top band is drawn ({band_changed} px)");

    // txt2img-lora: the txt2img render with the band on top.
    let b = body(
        DEV_ADVANCED,
        "txt2img-lora",
        json!({"prompt": "q", "width": 96, "height": 64, "seed": 5, "lora_settings": lora}),
    );
    let (_, out) = api.run_image(&b).await;
    assert_eq!(out.dimensions(), (96, 64));
    let plain = decode(&piapi_sim::render_png("q", 5, 96, 64));
    assert_eq!(px(&out, 10, 30), px(&plain, 10, 30), "below the band: the txt2img render");
    let band_changed = (0..96).filter(|&x| px(&out, x, 2) != px(&plain, x, 2)).count();
    assert!(band_changed > 80, "the top band is drawn ({band_changed} px)");
    sim.shutdown().await;
}

#[tokio::test]
async fn inpaint_repaints_only_white_pixels() {
    let (sim, api) = start().await;
    let mut src = halves(64, 48);
    for y in 10..20 {
        for x in 8..24 {
            src.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    let url = api.upload_ok(&src).await;
    let (_, out) =
        api.run_image(&body(DEV_ADVANCED, "fill-inpaint", json!({"prompt": "a cat", "image": url}))).await;
    assert_eq!(out.dimensions(), (64, 48));
    for (x, y) in [(8, 10), (15, 15), (23, 19)] {
        assert!(!is_white(px(&out, x, y)), "masked pixel ({x},{y}) repainted");
    }
    for (x, y) in [(0, 0), (30, 30), (63, 47), (7, 10), (24, 19)] {
        assert_eq!(px(&out, x, y), px(&src, x, y), "unmasked pixel ({x},{y}) unchanged");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn outpaint_grows_the_canvas_around_the_source() {
    let (sim, api) = start().await;
    let src = halves(64, 48);
    let url = api.upload_ok(&src).await;
    let settings = json!([{"setting_type": "outpaint", "outpaint_left": 8, "outpaint_right": 4, "outpaint_top": 6, "outpaint_bottom": 2}]);
    let b = body(
        DEV_ADVANCED,
        "fill-outpaint",
        json!({"prompt": "a wide meadow", "image": url, "custom_settings": settings}),
    );
    let (done, out) = api.run_image(&b).await;
    assert_eq!(done["input"]["custom_settings"], settings);
    assert_eq!(out.dimensions(), (64 + 12, 48 + 8));
    for (x, y) in [(0, 0), (32, 24), (63, 47), (31, 0), (32, 47)] {
        assert_eq!(px(&out, x + 8, y + 6), px(&src, x, y), "source pixel ({x},{y}) at (left, top)");
    }
    // Margins are rendered art, not a copy of the source edge.
    let margin: Vec<[u8; 3]> = (0..8).map(|x| px(&out, x, 30)).collect();
    assert!(margin.iter().any(|p| *p != RED));
    sim.shutdown().await;
}

#[tokio::test]
async fn redux_mirrors_and_tints() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(64, 40)).await;
    let (_, out) = api
        .run_image(&body(DEV_ADVANCED, "redux-variation", json!({"prompt": "a superman", "image": url})))
        .await;
    assert_eq!(out.dimensions(), (64, 40));
    let (left, right) = (px(&out, 4, 20), px(&out, 60, 20));
    assert!(left[2] > left[0], "left side now blue-ish: {left:?}");
    assert!(right[0] > right[2], "right side now red-ish: {right:?}");
    assert_ne!(left, BLUE, "and tinted");
    sim.shutdown().await;
}

#[tokio::test]
async fn kontext_warms_and_writes_the_instruction() {
    let (sim, api) = start().await;
    let grey = RgbImage::from_pixel(80, 60, Rgb([120, 120, 120]));
    let url = api.upload_ok(&grey).await;
    let b = body(DEV_ADVANCED, "kontext", json!({"prompt": "make it sunset", "image": url}));
    let (done, out) = api.run_image(&b).await;
    assert_eq!(out.dimensions(), (80, 60), "source size when width/height are unset");
    assert_eq!((done["input"]["width"].as_u64(), done["input"]["height"].as_u64()), (Some(80), Some(60)));
    let top = px(&out, 40, 10);
    assert!(top[0] > top[2] + 20, "warm tint: {top:?}");
    let band: Vec<[u8; 3]> = (0..80).map(|x| px(&out, x, 56)).collect();
    assert!(band.iter().all(|p| p[0] < top[0] || p[0] > 230), "a dark band with light text at the bottom");
    assert!(band.iter().any(|p| p[0] > 230), "text in the band");

    // Explicit size; inline base64 and data: URLs are accepted for kontext.
    let raw = b64(&png(&grey));
    for image in [raw.clone(), format!("data:image/png;base64,{raw}")] {
        let b =
            body(DEV_ADVANCED, "kontext", json!({"prompt": "x", "image": image, "width": 48, "height": 32}));
        let (_, out) = api.run_image(&b).await;
        assert_eq!(out.dimensions(), (48, 32));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn controlnet_draws_the_edges_of_the_control_image() {
    let (sim, api) = start().await;
    let control = RgbImage::from_fn(64, 64, |x, _| Rgb(if x < 32 { [0, 0, 0] } else { [255, 255, 255] }));
    let url = api.upload_ok(&control).await;
    let cn = json!([{"control_type": "canny", "control_image": url, "control_strength": 0.6, "return_preprocessed_image": false}]);
    let b = body(
        DEV_ADVANCED,
        "controlnet-lora",
        json!({"prompt": "a city", "width": 64, "height": 64, "control_net_settings": cn}),
    );
    let (_, out) = api.run_image(&b).await;
    assert_eq!(out.dimensions(), (64, 64));
    let flat = px(&out, 8, 32);
    assert_eq!(flat, px(&out, 56, 32), "flat areas are the same dark ground");
    assert!(flat.iter().all(|&c| c < 40));
    let edge = px(&out, 32, 32);
    assert!(dist(edge, flat) > 200, "the edge lights up: {edge:?}");

    // With a LoRA and a different size: the control image is scaled to the output, band on top.
    let b = body(
        DEV_ADVANCED,
        "controlnet-lora",
        json!({"prompt": "a city", "width": 96, "height": 48, "control_net_settings": cn,
               "lora_settings": [{"lora_type": "graphic-portrait", "lora_strength": 1}]}),
    );
    let (_, out) = api.run_image(&b).await;
    assert_eq!(out.dimensions(), (96, 48));
    assert!(dist(px(&out, 48, 40), px(&out, 10, 40)) > 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn super_resolution_upscales_by_scale() {
    let (sim, api) = start().await;
    for model in [SCHNELL, DEV_ADVANCED] {
        let b = body(
            model,
            "txt2img-sr",
            json!({"prompt": "tiny", "width": 32, "height": 24, "seed": 3, "scale": 2}),
        );
        let (done, out) = api.run_image(&b).await;
        assert_eq!(done["input"]["scale"], 2);
        assert_eq!(out.dimensions(), (64, 48));
        let base = decode(&piapi_sim::render_png("tiny", 3, 32, 24));
        for (x, y) in [(0, 0), (10, 7), (31, 23)] {
            assert_eq!(px(&out, 2 * x + 1, 2 * y), px(&base, x, y));
        }
    }
    // Default scale is 2.
    let b = body(SCHNELL, "txt2img-sr", json!({"prompt": "tiny", "width": 16, "height": 16}));
    let (done, out) = api.run_image(&b).await;
    assert_eq!((done["input"]["scale"].as_u64(), out.dimensions()), (Some(2), (32, 32)));

    let src = halves(40, 30);
    let url = api.upload_ok(&src).await;
    let (_, out) =
        api.run_image(&body(SCHNELL, "img2img-sr", json!({"prompt": "x", "image": url, "scale": 4}))).await;
    assert_eq!(out.dimensions(), (160, 120));
    for (x, y) in [(0, 0), (19, 5), (20, 29), (39, 29)] {
        assert_eq!(px(&out, 4 * x + 3, 4 * y + 1), px(&src, x, y));
    }
    // Capped at 2048 per side, keeping the aspect ratio.
    let url = api.upload_ok(&halves(600, 100)).await;
    let (_, out) = api
        .run_image(&body(DEV_ADVANCED, "img2img-sr", json!({"prompt": "x", "image": url, "scale": 4})))
        .await;
    assert_eq!(out.dimensions(), (2048, 341));
    sim.shutdown().await;
}

#[tokio::test]
async fn outputs_of_earlier_tasks_are_valid_sources() {
    let (sim, api) = start().await;
    let (first, _) = api.run_image(&txt2img(SCHNELL, "chain start", 48, 40)).await;
    let url = first["output"]["image_url"].as_str().expect("url").to_owned();
    let (second, redux) =
        api.run_image(&body(DEV_ADVANCED, "redux-variation", json!({"prompt": "p", "image": url}))).await;
    assert_eq!(redux.dimensions(), (48, 40));
    let url2 = second["output"]["image_url"].as_str().expect("url").to_owned();
    let (_, sr) =
        api.run_image(&body(SCHNELL, "img2img-sr", json!({"prompt": "p", "image": url2, "scale": 2}))).await;
    assert_eq!(sr.dimensions(), (96, 80));
    for (x, y) in [(0, 0), (20, 13), (47, 39)] {
        assert_eq!(px(&sr, 2 * x, 2 * y + 1), px(&redux, x, y));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_are_400_naming_the_field() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(64, 48)).await;
    let cn = |v: Value| json!([v]);
    let good_cn = json!({"control_type": "depth", "control_image": url});
    let outpaint = |l: i64| json!([{"setting_type": "outpaint", "outpaint_left": l, "outpaint_right": 0, "outpaint_top": 0, "outpaint_bottom": 0}]);
    let cases: Vec<(Value, &str)> = vec![
        (body(DEV, "img2img", json!({"prompt": "x"})), "input.image"),
        (body(DEV, "txt2img", json!({"prompt": "x", "image": url})), "input.image"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": "C:\\pics\\a.png"})), "input.image"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": 5})), "input.image"),
        (
            body(DEV_ADVANCED, "fill-inpaint", json!({"prompt": "x", "image": b64(&png(&halves(8, 8)))})),
            "input.image",
        ),
        (body(DEV_ADVANCED, "kontext", json!({"prompt": "x", "image": "%%% not base64"})), "input.image"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": url, "denoise": 0})), "input.denoise"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": url, "denoise": 1.5})), "input.denoise"),
        (body(DEV, "txt2img", json!({"prompt": "x", "denoise": 0.5})), "input.denoise"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": url, "width": 512})), "input.width"),
        (
            body(DEV_ADVANCED, "fill-inpaint", json!({"prompt": "x", "image": url, "height": 512})),
            "input.height",
        ),
        (body(DEV_ADVANCED, "txt2img-lora", json!({"prompt": "x"})), "lora_settings"),
        (
            body(
                DEV_ADVANCED,
                "txt2img-lora",
                json!({"prompt": "x", "lora_settings": [{"lora_type": "anime"}, {"lora_type": "art"}]}),
            ),
            "lora_settings",
        ),
        (
            body(
                DEV_ADVANCED,
                "txt2img-lora",
                json!({"prompt": "x", "lora_settings": [{"lora_type": "my-own"}]}),
            ),
            "lora_type",
        ),
        (
            body(
                DEV_ADVANCED,
                "txt2img-lora",
                json!({"prompt": "x", "lora_settings": [{"lora_strength": 1}]}),
            ),
            "lora_type",
        ),
        (
            body(
                DEV_ADVANCED,
                "img2img-lora",
                json!({"prompt": "x", "image": url, "lora_settings": [{"lora_type": "anime", "lora_strength": 3}]}),
            ),
            "lora_strength",
        ),
        (
            body(DEV_ADVANCED, "txt2img", json!({"prompt": "x", "lora_settings": [{"lora_type": "anime"}]})),
            "lora_settings",
        ),
        (body(DEV_ADVANCED, "controlnet-lora", json!({"prompt": "x"})), "control_net_settings"),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "control_net_settings": [good_cn, good_cn]}),
            ),
            "control_net_settings",
        ),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "control_net_settings": cn(json!({"control_type": "sketch", "control_image": url}))}),
            ),
            "control_type",
        ),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "control_net_settings": cn(json!({"control_type": "canny"}))}),
            ),
            "control_image",
        ),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "control_net_settings": cn(json!({"control_type": "canny", "control_image": url, "control_strength": 1.5}))}),
            ),
            "control_strength",
        ),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "control_net_settings": [good_cn], "lora_settings": [{"lora_type": "anime"}, {"lora_type": "art"}]}),
            ),
            "lora_settings",
        ),
        (
            body(
                DEV_ADVANCED,
                "img2img",
                json!({"prompt": "x", "image": url, "control_net_settings": [good_cn]}),
            ),
            "control_net_settings",
        ),
        (body(DEV_ADVANCED, "fill-outpaint", json!({"prompt": "x", "image": url})), "custom_settings"),
        (
            body(
                DEV_ADVANCED,
                "fill-outpaint",
                json!({"prompt": "x", "image": url, "custom_settings": outpaint(0)}),
            ),
            "custom_settings",
        ),
        (
            body(
                DEV_ADVANCED,
                "fill-outpaint",
                json!({"prompt": "x", "image": url, "custom_settings": outpaint(-4)}),
            ),
            "outpaint_left",
        ),
        (
            body(
                DEV_ADVANCED,
                "fill-outpaint",
                json!({"prompt": "x", "image": url, "custom_settings": [{"setting_type": "zoom"}]}),
            ),
            "custom_settings",
        ),
        // 30000 px on the left of a 64x48 source adds 1.44 M pixels: over the budget.
        (
            body(
                DEV_ADVANCED,
                "fill-outpaint",
                json!({"prompt": "x", "image": url, "custom_settings": outpaint(30_000)}),
            ),
            "custom_settings",
        ),
        (
            body(
                DEV_ADVANCED,
                "img2img",
                json!({"prompt": "x", "image": url, "custom_settings": outpaint(8)}),
            ),
            "custom_settings",
        ),
        (body(SCHNELL, "txt2img-sr", json!({"prompt": "x", "scale": 3})), "input.scale"),
        (body(SCHNELL, "txt2img", json!({"prompt": "x", "scale": 2})), "input.scale"),
        (body(SCHNELL, "txt2img-sr", json!({"prompt": "x", "width": 2048, "height": 1024})), "1048576"),
        (body(SCHNELL, "txt2img-sr", json!({"prompt": "x", "batch_size": 2})), "batch_size"),
        (body(DEV, "fill-inpaint", json!({"prompt": "x", "image": url})), "task_type"),
        (body(DEV, "txt2img-sr", json!({"prompt": "x"})), "task_type"),
        (body(SCHNELL, "img2img-lora", json!({"prompt": "x", "image": url})), "task_type"),
        (body(SCHNELL, "kontext", json!({"prompt": "x", "image": url})), "task_type"),
        (body(DEV_ADVANCED, "img2img-kontext", json!({"prompt": "x", "image": url})), "task_type"),
        (body(DEV_ADVANCED, "kontext", json!({"prompt": "x", "image": url, "steps": 45})), "input.steps"),
    ];
    let n = cases.len() as u64;
    for (b, field) in cases {
        let r = api.create(&b).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}: {:?}", r.json);
        assert_eq!(r.json["code"], 400);
        assert!(r.json["data"].is_null());
        let msg = r.json["message"].as_str().expect("message");
        assert!(msg.contains(field), "message {msg:?} should mention {field}");
    }
    let stats = sim.stats();
    assert_eq!((stats.creates, stats.create_requests), (0, n), "refused creates create nothing");
    assert!((sim.balance_usd() - 10.0).abs() < 1e-9);
    sim.shutdown().await;
}

#[tokio::test]
async fn unreachable_images_make_the_task_fail() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(32, 32)).await;
    let other_port = {
        let other = Simulator::start(SimConfig::fast()).await.expect("second sim");
        let other_api = Api::new(&other);
        let u = other_api.upload_ok(&halves(32, 32)).await;
        other.shutdown().await;
        u
    };
    sim.update(|c| c.pending_ms = 60_000);
    let pending = api.create_ok(&txt2img(SCHNELL, "not yet", 32, 32)).await;
    sim.update(|c| c.pending_ms = 20);
    let base = sim.base_url();
    let cases: Vec<(Value, &str)> = vec![
        (body(DEV, "img2img", json!({"prompt": "x", "image": "https://example.com/cat.png"})), "input.image"),
        (body(DEV, "img2img", json!({"prompt": "x", "image": other_port})), "input.image"),
        (
            body(DEV, "img2img", json!({"prompt": "x", "image": format!("{base}/files/uploads/0000.png")})),
            "input.image",
        ),
        (
            body(DEV, "img2img", json!({"prompt": "x", "image": format!("{base}/files/{pending}/0.png")})),
            "input.image",
        ),
        (
            body(
                DEV_ADVANCED,
                "kontext",
                json!({"prompt": "x", "image": b64(b"definitely not an image at all")}),
            ),
            "input.image",
        ),
        (
            body(
                DEV_ADVANCED,
                "controlnet-lora",
                json!({"prompt": "x", "width": 32, "height": 32,
                "control_net_settings": [{"control_type": "depth", "control_image": "http://192.0.2.1/depth.png"}]}),
            ),
            "control_image",
        ),
    ];
    for (b, field) in cases {
        let r = api.create(&b).await;
        assert_eq!(r.status, StatusCode::OK, "accepted: {b}");
        let id = r.json["data"]["task_id"].as_str().expect("id").to_owned();
        let done = api.wait_done(&id).await;
        assert_eq!(done["status"], "failed", "{b}");
        assert!(done["output"].is_null());
        let msg = done["error"]["message"].as_str().expect("error.message");
        assert!(msg.starts_with("failed to download image"), "{msg}");
        assert!(msg.contains(field), "{msg} names {field}");
        let r = api.download(&format!("{base}/files/{id}/0.png")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // The good upload still works.
    api.run_ok(&body(DEV, "img2img", json!({"prompt": "x", "image": url}))).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn create_bodies_are_recorded() {
    let (sim, api) = start().await;
    let url = api.upload_ok(&halves(16, 16)).await;
    let a = body(DEV, "img2img", json!({"prompt": "first", "image": url, "denoise": 0.4}));
    let bad = body(DEV, "img2img", json!({"prompt": "refused"}));
    api.create_ok(&a).await;
    assert_eq!(api.create(&bad).await.status, StatusCode::BAD_REQUEST);
    api.send(api.client.post(api.url("/api/v1/task")).body("{oops")).await;
    assert_eq!(sim.requests(), vec![a.clone(), bad.clone(), json!("{oops")]);
    let mut open = Api::new(&sim);
    open.key = None; // control endpoints need no key
    let r = open.send(open.client.get(open.url("/_sim/requests"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!([a, bad, "{oops"]));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    // At most 200, the most recent last.
    for i in 0..205 {
        api.send(api.client.post(api.url("/api/v1/task")).json(&json!({"n": i}))).await;
    }
    let kept = sim.requests();
    assert_eq!(kept.len(), 200);
    assert_eq!((kept[0]["n"].as_u64(), kept[199]["n"].as_u64()), (Some(5), Some(204)));
    sim.shutdown().await;
}
