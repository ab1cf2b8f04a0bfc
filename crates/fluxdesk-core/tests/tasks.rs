//! Every Flux task type end to end: real simulator over loopback (uploads included), a real SQLite
//! file, real PNG inputs and outputs. Checks what reaches PiAPI (the create bodies the simulator
//! received), what lands in the gallery and in the files' metadata, and the refusals that must
//! happen before anything is recorded or paid for.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluxdesk_core::ErrorCode;
use fluxdesk_core::gallery::ImageRecord;
use fluxdesk_core::inputs::sha256_hex;
use fluxdesk_core::ledger::TaskState;
use fluxdesk_core::metadata::{self, ImageMeta};
use fluxdesk_core::runner::JobOutcome;
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::studio::{DemoChoice, Studio};
use fluxdesk_core::views::{
    ControlChoice, GenerateRequest, LoraChoice, Margins, MaskInput, SourceImage, TaskSettingsView,
};
use fluxdesk_core::{Error, Result};
use image::{GrayImage, Luma, Rgb, RgbImage};
use piapi::{ControlType, Model, TaskType};
use piapi_sim::{Faults, SimConfig, SimHandle, Simulator};
use serde_json::Value;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn open(&self, sim: Option<&SimHandle>) -> Studio {
        let env = [("PIAPI_POLL_INTERVAL_MS", "100")];
        let (store, demo) = match sim {
            Some(_) => (Arc::new(MemoryStore::with_key("sk-tasks-test")), DemoChoice::Off),
            None => (Arc::new(MemoryStore::default()), DemoChoice::Force),
        };
        Studio::open(common::studio_options(self.dir.path(), sim, &env, store, demo))
            .await
            .expect("studio opens")
    }
}

async fn sim() -> SimHandle {
    Simulator::start(SimConfig::fast()).await.expect("simulator")
}

/// A colourful gradient PNG (no white pixels, so inpaint only repaints the mask).
fn write_source(path: &Path, w: u32, h: u32) -> PathBuf {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 200 / w) as u8 + 20, (y * 200 / h) as u8 + 20, 90]));
    img.save(path).expect("write source");
    path.to_path_buf()
}

fn req(task_type: TaskType, model: Model) -> GenerateRequest {
    GenerateRequest {
        task_type,
        seed: Some(11),
        ..GenerateRequest::txt2img("a lighthouse at dusk", model, 256, 256)
    }
}

fn file(p: &Path) -> Option<SourceImage> {
    Some(SourceImage::file(p.to_string_lossy()))
}

/// Runs one request to its end and returns the saved image.
async fn run_one(studio: &Studio, r: GenerateRequest) -> ImageRecord {
    let (outcomes, _) = studio.generate_and_wait(r.clone(), false).await.expect("accepted");
    assert_eq!(outcomes.len(), 1);
    match outcomes.into_iter().next().map(|(_, o)| o) {
        Some(JobOutcome::Saved(mut images)) => images.remove(0),
        other => panic!("{} did not save: {other:?}", r.task_type),
    }
}

fn last_create(sim: &SimHandle) -> Value {
    sim.requests().last().cloned().expect("a create reached the simulator")
}

fn file_meta(studio: &Studio, rec: &ImageRecord) -> ImageMeta {
    let bytes = std::fs::read(studio.gallery().abs_path(rec)).expect("read image");
    metadata::read_png_metadata(&bytes).expect("png").expect("metadata")
}

fn assert_uploaded(sim: &SimHandle, url: &Value) {
    let url = url.as_str().unwrap_or_default();
    assert!(url.starts_with(&format!("{}/files/uploads/", sim.base_url())), "an uploaded sim URL: {url}");
}

fn field_of(e: &Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field.clone(),
        Error::Api(piapi::Error::InvalidInput { field, .. }) => field.clone(),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_type_runs_end_to_end_through_the_simulator() {
    let s = sim().await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s)).await;
    let src = write_source(&fx.path("source.png"), 96, 64);
    let control = write_source(&fx.path("control.png"), 80, 80);

    // txt2img: the gallery image later tasks use as their source.
    let base = run_one(&studio, req(TaskType::Txt2Img, Model::Schnell)).await;
    let body = last_create(&s);
    assert_eq!(
        (body["task_type"].as_str(), body["model"].as_str()),
        (Some("txt2img"), Some("Qubico/flux1-schnell"))
    );
    assert!(body["input"].get("image").is_none());
    assert_eq!(base.source_image_id, None);
    assert_eq!(base.task, None);

    // img2img from a file, with denoise.
    let r =
        GenerateRequest { source: file(&src), denoise: Some(0.55), ..req(TaskType::Img2Img, Model::Schnell) };
    let img = run_one(&studio, r).await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "img2img");
    assert_uploaded(&s, &body["input"]["image"]);
    assert!((body["input"]["denoise"].as_f64().expect("denoise") - 0.55).abs() < 1e-6);
    assert!(body["input"].get("width").is_none(), "img2img takes the source's size");
    assert_eq!((img.width, img.height), (96, 64), "output reflects the source");
    let meta = file_meta(&studio, &img);
    assert_eq!(meta.task_type.as_deref(), Some("img2img"));
    assert_eq!(meta.task_settings.as_ref().and_then(|t| t.denoise), Some(0.55));
    let text =
        String::from_utf8_lossy(&std::fs::read(studio.gallery().abs_path(&img)).expect("read")).into_owned();
    assert!(text.contains("Denoising strength: 0.55"), "A1111 denoise in the file");
    assert!(!text.contains("/files/uploads/"), "the upload URL never reaches the file");

    // img2img-lora from the gallery image: the result links back to it.
    let r = GenerateRequest {
        source: Some(SourceImage::gallery(base.id)),
        loras: vec![LoraChoice { name: "anime".into(), strength: 0.8 }],
        denoise: Some(0.7),
        ..req(TaskType::Img2ImgLora, Model::DevAdvanced)
    };
    let img = run_one(&studio, r).await;
    let body = last_create(&s);
    assert_eq!(
        (body["task_type"].as_str(), body["model"].as_str()),
        (Some("img2img-lora"), Some("Qubico/flux1-dev-advanced"))
    );
    assert_uploaded(&s, &body["input"]["image"]);
    assert_eq!(body["input"]["lora_settings"][0]["lora_type"], "anime");
    assert!(
        (body["input"]["lora_settings"][0]["lora_strength"].as_f64().expect("strength") - 0.8).abs() < 1e-6
    );
    assert_eq!(img.source_image_id, Some(base.id), "gallery row links to its source");
    let meta = file_meta(&studio, &img);
    assert_eq!(meta.source_id(), Some(base.id), "file metadata links to its source");
    assert_eq!(
        meta.source_image_hash.as_deref(),
        Some(base.content_hash.as_str()),
        "and names its bytes, which survive a rebuild or an import elsewhere"
    );
    assert_eq!(meta.task_type.as_deref(), Some("img2img-lora"));
    let view = studio.get_image(img.id).expect("view");
    assert_eq!(view.source_image_id, Some(base.id));
    assert_eq!(view.task.as_ref().map(|t| t.loras.len()), Some(1));

    // txt2img-lora.
    let r = GenerateRequest {
        loras: vec![LoraChoice { name: "remes-abstract-poster-style".into(), strength: 1.0 }],
        ..req(TaskType::Txt2ImgLora, Model::DevAdvanced)
    };
    run_one(&studio, r).await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "txt2img-lora");
    assert_eq!(body["input"]["lora_settings"][0]["lora_type"], "remes-abstract-poster-style");
    assert_eq!(body["input"]["width"], 256);

    // controlnet-lora: the control image is uploaded too.
    let r = GenerateRequest {
        control: Some(ControlChoice {
            control_type: ControlType::SoftEdge,
            image: SourceImage::file(control.to_string_lossy()),
            strength: 0.45,
        }),
        ..req(TaskType::ControlnetLora, Model::DevAdvanced)
    };
    let img = run_one(&studio, r).await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "controlnet-lora");
    let cn = &body["input"]["control_net_settings"];
    assert_eq!(cn.as_array().map(Vec::len), Some(1));
    assert_eq!(cn[0]["control_type"], "soft_edge");
    assert_uploaded(&s, &cn[0]["control_image"]);
    assert!((cn[0]["control_strength"].as_f64().expect("strength") - 0.45).abs() < 1e-6);
    let control_meta =
        file_meta(&studio, &img).task_settings.and_then(|t| t.control).expect("control recorded");
    assert_eq!(control_meta.control_type, ControlType::SoftEdge);

    // fill-inpaint with a mask: the prepared source has the mask burned in as white.
    let mask_path = fx.path("mask.png");
    GrayImage::from_fn(48, 32, |x, _| Luma([if x >= 24 { 255 } else { 0 }])).save(&mask_path).expect("mask");
    let r = GenerateRequest {
        source: Some(SourceImage::gallery(base.id)),
        mask: Some(MaskInput { path: Some(mask_path.to_string_lossy().into_owned()), png_base64: None }),
        ..req(TaskType::FillInpaint, Model::DevAdvanced)
    };
    let (outcomes, _) = studio.generate_and_wait(r, false).await.expect("accepted");
    let (job, outcome) = &outcomes[0];
    let Some(img) = (match outcome {
        JobOutcome::Saved(v) => v.first().cloned(),
        _ => None,
    }) else {
        panic!("inpaint saved: {outcome:?}")
    };
    let body = last_create(&s);
    assert_eq!(body["task_type"], "fill-inpaint");
    assert_uploaded(&s, &body["input"]["image"]);
    assert!(body["input"].get("mask").is_none(), "no mask field on the wire");
    let prepared = studio.ledger().get(*job).expect("job").sources.image.expect("prepared source");
    let burned = image::open(&prepared.path).expect("prepared png").to_rgb8();
    assert_eq!(burned.dimensions(), (base.width, base.height));
    let (w, h) = burned.dimensions();
    assert_eq!(burned.get_pixel(w - 2, h / 2).0, [255, 255, 255], "masked half is white");
    assert_ne!(burned.get_pixel(1, h / 2).0, [255, 255, 255], "unmasked half keeps the source");
    assert_eq!(sha256_hex(&std::fs::read(&prepared.path).expect("read")), prepared.sha256);
    assert_eq!(img.source_image_id, Some(base.id));

    // fill-outpaint: margins as the documented custom_settings; output grows.
    let r = GenerateRequest {
        source: file(&src),
        outpaint: Some(Margins { left: 32, right: 32, top: 0, bottom: 16 }),
        ..req(TaskType::FillOutpaint, Model::DevAdvanced)
    };
    let img = run_one(&studio, r).await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "fill-outpaint");
    let cs = &body["input"]["custom_settings"][0];
    assert_eq!(
        (
            &cs["setting_type"],
            &cs["outpaint_left"],
            &cs["outpaint_right"],
            &cs["outpaint_top"],
            &cs["outpaint_bottom"]
        ),
        (&Value::from("outpaint"), &Value::from(32), &Value::from(32), &Value::from(0), &Value::from(16))
    );
    assert_eq!((img.width, img.height), (96 + 64, 64 + 16));
    assert_eq!(img.task.and_then(|t| t.outpaint), Some(Margins { left: 32, right: 32, top: 0, bottom: 16 }));

    // redux-variation and kontext.
    run_one(
        &studio,
        GenerateRequest { source: file(&src), ..req(TaskType::ReduxVariation, Model::DevAdvanced) },
    )
    .await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "redux-variation");
    assert_uploaded(&s, &body["input"]["image"]);
    let img = run_one(
        &studio,
        GenerateRequest {
            prompt: "make it night".into(),
            source: Some(SourceImage::gallery(base.id)),
            ..req(TaskType::Kontext, Model::DevAdvanced)
        },
    )
    .await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "kontext");
    assert_uploaded(&s, &body["input"]["image"]);
    assert_eq!(img.source_image_id, Some(base.id));

    // Super-resolution, text and image.
    let img =
        run_one(&studio, GenerateRequest { scale: Some(2), ..req(TaskType::Txt2ImgSr, Model::Schnell) })
            .await;
    let body = last_create(&s);
    assert_eq!((body["task_type"].as_str(), body["input"]["scale"].as_u64()), (Some("txt2img-sr"), Some(2)));
    assert_eq!(img.task.and_then(|t| t.scale), Some(2));
    let img = run_one(
        &studio,
        GenerateRequest { source: file(&src), scale: Some(2), ..req(TaskType::Img2ImgSr, Model::Schnell) },
    )
    .await;
    let body = last_create(&s);
    assert_eq!(body["task_type"], "img2img-sr");
    assert_uploaded(&s, &body["input"]["image"]);
    assert_eq!((img.width, img.height), (192, 128));

    // Eleven task types, eleven creates; identical inputs were uploaded once (cache by hash).
    assert_eq!(s.stats().creates, 11);
    assert_eq!(s.requests().len(), 11);
    let distinct_inputs = 4; // source.png, the gallery image, the burned inpaint source, control.png
    assert!(s.upload_count() <= distinct_inputs + 1, "uploads reused: {}", s.upload_count());
    studio.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_and_invalid_combinations_are_refused_before_anything_is_recorded() {
    let s = sim().await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s)).await;
    let src = write_source(&fx.path("ok.png"), 64, 64);
    let not_image = fx.path("notes.png");
    std::fs::write(&not_image, b"these are words, not pixels").expect("write");

    let cases: Vec<(&str, GenerateRequest, &str)> = vec![
        (
            "missing file",
            GenerateRequest { source: file(&fx.path("gone.png")), ..req(TaskType::Img2Img, Model::Dev) },
            "source",
        ),
        (
            "not an image",
            GenerateRequest { source: file(&not_image), ..req(TaskType::Img2Img, Model::Dev) },
            "source",
        ),
        (
            "unknown gallery id",
            GenerateRequest {
                source: Some(SourceImage::gallery(424_242)),
                ..req(TaskType::Img2Img, Model::Dev)
            },
            "source",
        ),
        ("no source", req(TaskType::Img2Img, Model::Dev), "source"),
        (
            "outpaint over budget",
            GenerateRequest {
                source: file(&src),
                outpaint: Some(Margins { left: 1000, right: 1000, top: 1000, bottom: 1000 }),
                ..req(TaskType::FillOutpaint, Model::DevAdvanced)
            },
            "outpaint",
        ),
        (
            "LoRA on dev",
            GenerateRequest {
                loras: vec![LoraChoice { name: "anime".into(), strength: 1.0 }],
                ..req(TaskType::Txt2ImgLora, Model::Dev)
            },
            "task_type",
        ),
        (
            "LoRA on plain txt2img",
            GenerateRequest {
                loras: vec![LoraChoice { name: "anime".into(), strength: 1.0 }],
                ..req(TaskType::Txt2Img, Model::Dev)
            },
            "lora",
        ),
        (
            "kontext on schnell",
            GenerateRequest { source: file(&src), ..req(TaskType::Kontext, Model::Schnell) },
            "task_type",
        ),
        (
            "mask without fill-inpaint",
            GenerateRequest {
                source: file(&src),
                mask: Some(MaskInput { path: Some(src.to_string_lossy().into_owned()), png_base64: None }),
                ..req(TaskType::Img2Img, Model::Schnell)
            },
            "mask",
        ),
        (
            "ControlNet without a control image",
            GenerateRequest { ..req(TaskType::ControlnetLora, Model::DevAdvanced) },
            "control",
        ),
    ];
    for (what, r, field) in cases {
        let err = studio.generate(r).await.expect_err(what);
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{what}: {err}");
        assert_eq!(field_of(&err), field, "{what}: {err}");
        assert!(err.to_string().len() > 20, "{what}: the message says what to do: {err}");
    }
    assert!(studio.jobs(50).expect("jobs").is_empty(), "nothing recorded");
    assert_eq!((s.stats().creates, s.upload_count()), (0, 0), "nothing sent");
    studio.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_creates_nothing_and_a_retry_succeeds() {
    let s = sim().await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s)).await;
    let src = write_source(&fx.path("source.png"), 64, 48);
    s.set_faults(Faults { upload_failures: 50, ..Faults::default() });

    let r =
        GenerateRequest { source: file(&src), denoise: Some(0.5), ..req(TaskType::Img2Img, Model::Schnell) };
    let (outcomes, _) = studio.generate_and_wait(r, false).await.expect("accepted");
    let (job, outcome) = &outcomes[0];
    match outcome {
        JobOutcome::Failed(e) => {
            assert_eq!(e.code(), ErrorCode::UploadFailed, "{e}");
            assert!(!e.to_string().contains("sk-tasks-test"), "no key in the error");
        }
        other => panic!("expected an upload failure, got {other:?}"),
    }
    let view = studio.job(*job).expect("job");
    assert_eq!(view.state, TaskState::Failed);
    assert_eq!(view.task_id, None, "never created");
    assert_eq!(view.error.map(|e| e.code), Some(ErrorCode::UploadFailed));
    assert_eq!(s.stats().creates, 0, "zero creates");

    s.set_faults(Faults::default());
    let mut rx = studio.subscribe();
    let retry = studio.retry_job(*job).await.expect("retry allowed");
    let new_job = retry[0];
    let saved = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match rx.recv().await.expect("event") {
                fluxdesk_core::views::JobEvent::Saved { job_id, image } if job_id == new_job => {
                    return *image;
                }
                fluxdesk_core::views::JobEvent::Failed { job_id, message, .. } if job_id == new_job => {
                    panic!("retry failed: {message}")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("retry finishes");
    assert_eq!(saved.task_type.as_deref(), Some("img2img"));
    assert_eq!(s.stats().creates, 1);
    assert_uploaded(&s, &last_create(&s)["input"]["image"]);
    studio.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_uploads_to_the_bundled_simulator() {
    let fx = Fixture::new();
    let studio = fx.open(None).await;
    assert!(studio.is_demo());
    let src = write_source(&fx.path("source.png"), 64, 64);
    let staged = studio.stage_source(std::fs::read(&src).expect("read")).await.expect("staged");
    let info = studio.source_info(&staged).expect("info");
    assert_eq!((info.width, info.height, info.image_id), (64, 64, None));
    assert!(info.path.contains("inputs"));
    let r = GenerateRequest { source: Some(staged), ..req(TaskType::ReduxVariation, Model::DevAdvanced) };
    let img = run_one(&studio, r).await;
    assert_eq!(img.task_type.as_deref(), Some("redux-variation"));
    let err = studio.stage_source(b"not an image".to_vec()).await.expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    studio.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_settings_and_edit_restore_task_fields_and_the_catalog_matches_the_rules() -> Result<()> {
    let s = sim().await;
    let fx = Fixture::new();
    let studio = fx.open(Some(&s)).await;
    let base = run_one(&studio, req(TaskType::Txt2Img, Model::Schnell)).await;

    // Edit: source = this image; schnell keeps img2img, kontext needs dev-advanced.
    let edit = studio.edit_settings(base.id, TaskType::Img2Img)?;
    assert_eq!(
        (edit.model, edit.source.clone(), edit.denoise),
        (Model::Schnell, Some(SourceImage::gallery(base.id)), Some(0.7))
    );
    assert_eq!(edit.prompt, "a lighthouse at dusk");
    let edit = studio.edit_settings(base.id, TaskType::Kontext)?;
    assert_eq!(edit.model, Model::DevAdvanced);

    let r = GenerateRequest {
        source: Some(SourceImage::gallery(base.id)),
        loras: vec![LoraChoice { name: "art".into(), strength: 1.5 }],
        denoise: Some(0.4),
        ..req(TaskType::Img2ImgLora, Model::DevAdvanced)
    };
    let img = run_one(&studio, r).await;
    let again = studio.image_settings(img.id)?;
    assert_eq!(again.task_type, TaskType::Img2ImgLora);
    assert_eq!(again.source, Some(SourceImage::gallery(base.id)));
    assert_eq!(again.denoise, Some(0.4));
    assert_eq!(again.loras, vec![LoraChoice { name: "art".into(), strength: 1.5 }]);
    assert_eq!(again.seed, Some(11));
    assert_eq!(
        studio.get_image(img.id)?.task,
        Some(TaskSettingsView {
            denoise: Some(0.4),
            loras: vec![LoraChoice { name: "art".into(), strength: 1.5 }],
            ..TaskSettingsView::default()
        })
    );

    // The source is deleted: "Use settings" falls back to the prepared input the job sent.
    studio.delete_images(&[base.id]).await?;
    let fallback = studio.image_settings(img.id)?;
    let path = fallback.source.and_then(|s| s.path).expect("prepared input as the source");
    assert!(Path::new(&path).is_file());

    // Old requests (before task types) still parse, as txt2img.
    let old = r#"{"prompt":"x","negativePrompt":null,"model":"Qubico/flux1-schnell","width":512,"height":512,"steps":null,"guidance":null,"seed":null,"count":1}"#;
    let parsed: GenerateRequest = serde_json::from_str(old).expect("old JSON parses");
    assert_eq!((parsed.task_type, parsed.source, parsed.loras.len()), (TaskType::Txt2Img, None, 0));

    let catalog = Studio::task_catalog();
    assert_eq!(catalog.tasks.len(), TaskType::ALL.len());
    let kontext = catalog.tasks.iter().find(|t| t.task_type == TaskType::Kontext).expect("kontext");
    assert_eq!(kontext.models, vec![Model::DevAdvanced]);
    assert!(kontext.needs_image && kontext.prices.len() == 1);
    let txt = catalog.tasks.iter().find(|t| t.task_type == TaskType::Txt2Img).expect("txt2img");
    assert_eq!(txt.batch_models, vec![Model::Schnell]);
    assert!(catalog.lora_types.iter().any(|l| l == "remes-abstract-poster-style"));
    assert_eq!(catalog.control_types.len(), 4);
    studio.shutdown().await;
    s.shutdown().await;
    Ok(())
}

#[test]
fn a1111_text_carries_the_denoising_strength_both_ways() {
    let meta = ImageMeta {
        prompt: "a fox".into(),
        width: 64,
        height: 64,
        seed: Some(3),
        model: Some("Qubico/flux1-schnell".into()),
        task_type: Some("img2img".into()),
        source_image_id: Some("12".into()),
        task_settings: Some(TaskSettingsView { denoise: Some(0.35), ..TaskSettingsView::default() }),
        ..ImageMeta::default()
    };
    let text = metadata::a1111_parameters(&meta);
    assert!(text.contains("Denoising strength: 0.35"), "{text}");
    let back = metadata::parse_a1111_parameters(&text);
    assert_eq!(back.task_settings.and_then(|t| t.denoise), Some(0.35));
    let png = {
        let mut out = Vec::new();
        RgbImage::new(64, 64)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("png");
        out
    };
    let with = metadata::embed_png_metadata(&png, &meta).expect("embed");
    let read = metadata::read_png_metadata(&with).expect("read").expect("meta");
    assert_eq!(read.source_id(), Some(12));
    assert_eq!(read.task_settings, meta.task_settings);
}
