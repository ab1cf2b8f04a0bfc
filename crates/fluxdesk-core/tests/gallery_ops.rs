//! Gallery operations through the Studio facade, end to end: real images generated through the
//! simulator on loopback (live mode against a fast simulator, and demo mode), real SQLite, real
//! files in temp dirs, and the real OS trash of a private HOME in a child process.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{a1111_png, jpeg_bytes, png_bytes};
use fluxdesk_core::export::{
    self, ExportFormat, ExportRequest, exif_user_comment, read_embedded_metadata, read_exif, read_xmp,
    xmp_property,
};
use fluxdesk_core::gallery::ImageRecord;
use fluxdesk_core::gallery_ops::settings_from_record;
use fluxdesk_core::metadata::{ImageMeta, embed_png_metadata, read_png_metadata};
use fluxdesk_core::secrets::MemoryStore;
use fluxdesk_core::studio::{DemoChoice, Studio};
use fluxdesk_core::views::{GenerateRequest, ImageView, JobEvent};
use fluxdesk_core::{Error, ErrorCode};
use image::ImageDecoder;
use piapi::Model;
use piapi_sim::{SimConfig, SimHandle, Simulator};

/// Set in the environment overrides of every live studio; must never reach an exported file.
const FAKE_KEY: &str = "sk-test-NEVER-EXPORT-9f8e7d6c5b4a3921";

struct Fixture {
    dir: tempfile::TempDir,
    sim: Option<SimHandle>,
    studio: Studio,
}

impl Fixture {
    /// Live mode against a fast simulator on loopback, with the fake key in the environment.
    async fn live() -> Fixture {
        Self::live_in(tempfile::tempdir().expect("tmp")).await
    }

    async fn live_in(dir: tempfile::TempDir) -> Fixture {
        let sim = Simulator::start(SimConfig::fast()).await.expect("sim");
        let studio = open(dir.path(), Some(&sim), DemoChoice::Off).await;
        assert!(!studio.is_demo());
        Fixture { dir, sim: Some(sim), studio }
    }

    /// Demo mode (the bundled simulator), as the app runs without an account.
    async fn demo() -> Fixture {
        let dir = tempfile::tempdir().expect("tmp");
        let studio = open(dir.path(), None, DemoChoice::Force).await;
        assert!(studio.is_demo());
        Fixture { dir, sim: None, studio }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    async fn close(self) {
        self.studio.shutdown().await;
        if let Some(s) = self.sim {
            s.shutdown().await;
        }
    }
}

async fn open(root: &Path, sim: Option<&SimHandle>, demo: DemoChoice) -> Studio {
    let env = [("PIAPI_POLL_INTERVAL_MS", "100"), ("PIAPI_API_KEY", FAKE_KEY)];
    Studio::open(common::studio_options(root, sim, &env, Arc::new(MemoryStore::with_key(FAKE_KEY)), demo))
        .await
        .expect("studio opens")
}

fn request(prompt: &str, count: u32, seed: Option<i64>) -> GenerateRequest {
    GenerateRequest {
        negative_prompt: Some("blurry, low quality".into()),
        steps: Some(20),
        guidance: Some(3.5),
        seed,
        count,
        ..GenerateRequest::txt2img(prompt, Model::Dev, 320, 256)
    }
}

/// Generates and waits for the saved images (in job order).
async fn generate(studio: &Studio, req: GenerateRequest) -> Vec<ImageView> {
    let mut rx = studio.subscribe();
    let jobs = studio.generate(req).await.expect("queued");
    let mut saved: Vec<(i64, ImageView)> = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while saved.len() < jobs.len() {
            match rx.recv().await.expect("event") {
                JobEvent::Saved { job_id, image } if jobs.contains(&job_id) => saved.push((job_id, *image)),
                JobEvent::Failed { job_id, message, .. } if jobs.contains(&job_id) => {
                    panic!("job failed: {message}")
                }
                _ => {}
            }
        }
    })
    .await
    .expect("images are saved in time");
    saved.sort_by_key(|(j, _)| *j);
    saved.into_iter().map(|(_, i)| i).collect()
}

fn decode(bytes: &[u8]) -> (image::ImageFormat, u32, u32) {
    let r = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().expect("format");
    let format = r.format().expect("known format");
    let img = r.decode().expect("the exported file decodes");
    (format, img.width(), img.height())
}

/// XMP and EXIF as the `image` crate (an independent reader) sees them.
fn image_crate_metadata(bytes: &[u8]) -> (Option<String>, Option<Vec<u8>>) {
    let mut d = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("fmt")
        .into_decoder()
        .expect("dec");
    let xmp = d.xmp_metadata().expect("xmp readable").map(|x| String::from_utf8(x).expect("utf-8 xmp"));
    let exif = d.exif_metadata().expect("exif readable");
    (xmp, exif)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn record(studio: &Studio, id: i64) -> ImageRecord {
    studio.gallery().get(id).expect("record")
}

// ------------------------------------------------------------------------------------------------
// Export
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_each_format_decodes_and_carries_the_prompt_but_never_the_key() {
    let f = Fixture::live().await;
    let prompt = "a red fox at dawn, misty forest, ünïcödé & <tags>";
    let images = generate(&f.studio, request(prompt, 2, Some(42))).await;
    let ids: Vec<i64> = images.iter().map(|i| i.id).collect();

    for (format, quality) in [(ExportFormat::Png, 0), (ExportFormat::Jpeg, 90), (ExportFormat::Webp, 80)] {
        let dest = f.path(&format!("out-{}", format.extension()));
        let report = f
            .studio
            .export_images(ExportRequest {
                ids: vec![ids[0], ids[1], 987_654, ids[0]],
                dest_dir: dest.to_string_lossy().into_owned(),
                format,
                quality,
            })
            .await
            .expect("export");
        assert_eq!(report.written.len(), 2, "{format:?}: duplicates exported once: {report:?}");
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(report.failed[0].contains("987654"), "{:?}", report.failed);

        for (written, img) in report.written.iter().zip(&images) {
            let path = PathBuf::from(written);
            assert_eq!(path.parent(), Some(dest.as_path()));
            let original = Path::new(&img.path);
            assert_eq!(path.file_stem(), original.file_stem(), "same stem as the gallery file");
            assert_eq!(path.extension().and_then(|e| e.to_str()), Some(format.extension()));
            let bytes = std::fs::read(&path).expect("read export");
            let (fmt, w, h) = decode(&bytes);
            assert_eq!((w, h), (320, 256));
            assert!(!contains(&bytes, FAKE_KEY), "{format:?}: the API key leaked into {written}");

            let meta = read_embedded_metadata(&bytes).expect("readable").expect("metadata present");
            assert_eq!(meta.prompt, prompt);
            assert_eq!(meta.negative_prompt.as_deref(), Some("blurry, low quality"));
            assert_eq!(meta.seed, img.seed);
            assert_eq!(meta.model.as_deref(), Some("Qubico/flux1-dev"));
            assert_eq!(meta.task_id, img.task_id);

            match format {
                ExportFormat::Png => {
                    assert_eq!(fmt, image::ImageFormat::Png);
                    let orig = std::fs::read(original).expect("original");
                    assert_eq!(bytes, orig, "a PNG export is the original file, metadata included");
                    assert_eq!(read_png_metadata(&bytes).expect("png").expect("meta").prompt, prompt);
                }
                ExportFormat::Jpeg | ExportFormat::Webp => {
                    let want = if format == ExportFormat::Jpeg {
                        image::ImageFormat::Jpeg
                    } else {
                        image::ImageFormat::WebP
                    };
                    assert_eq!(fmt, want);
                    // The image crate finds both blocks on its own.
                    let (xmp, exif) = image_crate_metadata(&bytes);
                    let xmp = xmp.expect("XMP present");
                    assert!(xmp.contains("<x:xmpmeta"), "{xmp}");
                    assert_eq!(xmp_property(&xmp, "dc:description").as_deref(), Some(prompt));
                    let params = xmp_property(&xmp, "fluxdesk:parameters").expect("A1111 text in XMP");
                    assert!(params.starts_with(prompt) && params.contains("Seed: "), "{params}");
                    assert!(!xmp.contains(FAKE_KEY));
                    let exif = exif.expect("EXIF present");
                    let comment = exif_user_comment(&exif).expect("UserComment");
                    assert!(
                        comment.starts_with(prompt) && comment.contains("Negative prompt: blurry"),
                        "{comment}"
                    );
                    // Our own readers agree.
                    assert_eq!(read_xmp(&bytes).as_deref(), Some(xmp.as_str()));
                    assert_eq!(
                        exif_user_comment(&read_exif(&bytes).expect("exif")).as_deref(),
                        Some(comment.as_str())
                    );
                }
            }
        }
    }

    // Bad requests are errors, not partial reports.
    let err = f
        .studio
        .export_images(ExportRequest {
            ids: ids.clone(),
            dest_dir: f.path("q").to_string_lossy().into_owned(),
            format: ExportFormat::Jpeg,
            quality: 0,
        })
        .await
        .expect_err("quality 0");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let inside = f.studio.paths().gallery.join("exports");
    let err = f
        .studio
        .export_images(ExportRequest {
            ids,
            dest_dir: inside.to_string_lossy().into_owned(),
            format: ExportFormat::Png,
            quality: 0,
        })
        .await
        .expect_err("inside the gallery");
    assert!(err.to_string().contains("inside the gallery"), "{err}");
    f.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_changes_the_size_and_names_never_collide() {
    let f = Fixture::live().await;
    let img =
        generate(&f.studio, request("a lighthouse in heavy fog, detailed rocks", 1, Some(7))).await.remove(0);
    let export = |format: ExportFormat, quality: u8, dir: &str| {
        let req = ExportRequest {
            ids: vec![img.id],
            dest_dir: f.path(dir).to_string_lossy().into_owned(),
            format,
            quality,
        };
        let studio = f.studio.clone();
        async move {
            let r = studio.export_images(req).await.expect("export");
            assert!(r.failed.is_empty(), "{r:?}");
            PathBuf::from(&r.written[0])
        }
    };
    let size = |p: &Path| std::fs::metadata(p).expect("size").len();

    let low = export(ExportFormat::Jpeg, 15, "low").await;
    let high = export(ExportFormat::Jpeg, 98, "high").await;
    assert!(size(&low) < size(&high), "JPEG q15 {} B vs q98 {} B", size(&low), size(&high));
    let low = export(ExportFormat::Webp, 10, "low").await;
    let high = export(ExportFormat::Webp, 95, "high").await;
    assert!(size(&low) < size(&high), "WebP q10 {} B vs q95 {} B", size(&low), size(&high));

    // Collisions: an unrelated file with the name, then repeated exports.
    let stem = Path::new(&img.path).file_stem().and_then(|s| s.to_str()).expect("stem").to_owned();
    let dir = f.path("collide");
    write(&dir.join(format!("{stem}.jpg")), b"not mine");
    let a = export(ExportFormat::Jpeg, 80, "collide").await;
    let b = export(ExportFormat::Jpeg, 80, "collide").await;
    let c = export(ExportFormat::Png, 80, "collide").await;
    assert_eq!(a, dir.join(format!("{stem} (2).jpg")));
    assert_eq!(b, dir.join(format!("{stem} (3).jpg")));
    assert_eq!(c, dir.join(format!("{stem}.png")));
    assert_eq!(
        std::fs::read(dir.join(format!("{stem}.jpg"))).expect("kept"),
        b"not mine",
        "never overwritten"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");
    f.close().await;
}

// ------------------------------------------------------------------------------------------------
// Import
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_copies_indexes_skips_duplicates_and_reports_failures() {
    let f = Fixture::live().await;
    let existing = generate(&f.studio, request("a castle on a hill", 1, Some(3))).await.remove(0);

    // A JPEG exported from the gallery carries its prompt in XMP; importing it brings it back.
    let exported = f
        .studio
        .export_images(ExportRequest {
            ids: vec![existing.id],
            dest_dir: f.path("exported").to_string_lossy().into_owned(),
            format: ExportFormat::Jpeg,
            quality: 85,
        })
        .await
        .expect("export");

    let src = f.path("to-import");
    let ours_meta = ImageMeta {
        prompt: "a paper boat on a lake".into(),
        model: Some("Qubico/flux1-schnell".into()),
        seed: Some(99),
        task_id: Some("other-machine-task".into()),
        output_index: Some(0),
        created_at: Some(chrono::Utc::now() - chrono::Duration::days(40)),
        ..ImageMeta::default()
    };
    write(
        &src.join("Fluxdesk Boat.png"),
        &embed_png_metadata(&png_bytes(96, 64, 1), &ours_meta).expect("embed"),
    );
    write(
        &src.join("forge/Portrait (final).PNG"),
        &a1111_png(
            64,
            80,
            "portrait of a knight\nNegative prompt: ugly\nSteps: 28, CFG scale: 3.5, Seed: 1234, Size: 64x80, Model: flux1-dev",
        ),
    );
    let plain = jpeg_bytes(120, 90);
    write(&src.join("Holiday Photo.JPG"), &plain);
    write(&src.join("copies/holiday-copy.jpeg"), &plain); // duplicate within the import
    write(&src.join("copies/same-name/Fluxdesk Boat.png"), &png_bytes(96, 64, 2)); // same name, other bytes
    std::fs::copy(&existing.path, src.join("already in gallery.png")).expect("copy"); // duplicate of the gallery
    write(&src.join("notes.txt"), b"not an image, ignored inside folders");
    write(&src.join("broken.png"), b"\x89PNG\r\n\x1a\n this is not really a png");
    write(&src.join(".hidden.png"), &png_bytes(8, 8, 9));
    let direct_text = f.path("readme.md");
    write(&direct_text, b"# not an image");

    let paths = vec![
        src.to_string_lossy().into_owned(),
        exported.written[0].clone(),
        direct_text.to_string_lossy().into_owned(),
        f.path("does-not-exist").to_string_lossy().into_owned(),
    ];
    let before = f.studio.gallery().count().expect("count");
    let report = f.studio.import_paths(paths.clone()).await.expect("import");
    assert_eq!(report.imported, 5, "{report:?}");
    assert_eq!(report.skipped, 2, "{report:?}");
    assert_eq!(report.failed.len(), 3, "{report:?}");
    for needle in ["broken.png", "readme.md", "does-not-exist"] {
        assert!(report.failed.iter().any(|l| l.contains(needle)), "{needle} in {:?}", report.failed);
    }
    assert_eq!(report.ids.len(), 5);
    assert_eq!(f.studio.gallery().count().expect("count"), before + 5);

    let now = chrono::Local::now();
    let month = format!("{}/{}/", now.format("%Y"), now.format("%m"));
    let recs: Vec<ImageRecord> = report.ids.iter().map(|id| record(&f.studio, *id)).collect();
    let by_name = |name: &str| -> &ImageRecord {
        recs.iter().find(|r| r.rel_path.ends_with(name)).unwrap_or_else(|| panic!("{name} in {recs:#?}"))
    };
    for r in &recs {
        assert!(r.rel_path.starts_with(&month), "{} is in the import month's folder", r.rel_path);
        let view = f.studio.get_image(r.id).expect("view");
        assert!(view.thumb_path.is_some(), "thumbnail made for {}", r.rel_path);
        assert!(Path::new(&view.path).is_file());
    }
    let ours = by_name("/fluxdesk-boat.png");
    assert_eq!(
        (ours.prompt.as_str(), ours.seed, ours.task_id.as_deref()),
        ("a paper boat on a lake", Some(99), Some("other-machine-task"))
    );
    assert_eq!(
        ours.created_at.timestamp(),
        ours_meta.created_at.expect("date").timestamp(),
        "dated by its metadata"
    );
    let other_boat = by_name("/fluxdesk-boat-2.png");
    assert_eq!(other_boat.prompt, "", "same name, no clobber, plain file");
    let knight = by_name("/portrait-final.png");
    assert_eq!(knight.prompt, "portrait of a knight");
    assert_eq!(
        (knight.seed, knight.steps, knight.negative_prompt.as_deref()),
        (Some(1234), Some(28), Some("ugly"))
    );
    let holiday = by_name("/holiday-photo.jpg");
    assert_eq!((holiday.prompt.as_str(), holiday.width, holiday.height), ("", 120, 90));
    let back = recs
        .iter()
        .find(|r| r.prompt == "a castle on a hill")
        .expect("exported JPEG re-imported with its prompt");
    assert!(back.rel_path.ends_with(".jpg"));
    assert_eq!(back.seed, existing.seed);
    assert!(back.task_id.is_none(), "the task output already has its row; the copy is indexed without it");
    assert_eq!(
        std::fs::read(f.studio.gallery().abs_path(holiday)).expect("copy"),
        plain,
        "byte-for-byte copy"
    );

    // Text search finds imported prompts.
    let page = f
        .studio
        .list_images(&fluxdesk_core::gallery::GalleryQuery {
            text: Some("knight".into()),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(page.total, 1);

    // Importing the same things again adds nothing.
    let again = f.studio.import_paths(paths).await.expect("import again");
    assert_eq!((again.imported, again.skipped), (0, 7), "{again:?}");
    f.close().await;
}

// ------------------------------------------------------------------------------------------------
// Reuse: image settings and vary (demo mode)
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_images_from_another_gallery_link_by_content_never_by_id() {
    let f = Fixture::live().await;
    // This gallery's own images take the low ids an image from elsewhere might name.
    let mine = generate(&f.studio, request("a castle on a hill", 2, Some(3))).await;
    let src = f.path("other-gallery");
    // Another gallery's result and its source: the result names the source by that gallery's id
    // and by its bytes' hash. The result is imported first (its name sorts first).
    let source_bytes = embed_png_metadata(
        &png_bytes(64, 64, 41),
        &ImageMeta { prompt: "the source".into(), ..ImageMeta::default() },
    )
    .expect("embed");
    write(&src.join("b-source.png"), &source_bytes);
    let source_hash = fluxdesk_core::files::content_hash(&source_bytes);
    let named = |prompt: &str, hash: Option<String>| ImageMeta {
        prompt: prompt.into(),
        task_type: Some("img2img".into()),
        source_image_id: Some(mine[0].id.to_string()),
        source_image_hash: hash,
        ..ImageMeta::default()
    };
    write(
        &src.join("a-result.png"),
        &embed_png_metadata(&png_bytes(64, 64, 42), &named("the result", Some(source_hash))).expect("embed"),
    );
    // An older file of that gallery: it names the source by id only.
    write(
        &src.join("c-older.png"),
        &embed_png_metadata(&png_bytes(64, 64, 43), &named("an older result", None)).expect("embed"),
    );

    let report = f.studio.import_paths(vec![src.to_string_lossy().into_owned()]).await.expect("import");
    assert_eq!(report.imported, 3, "{report:?}");
    let by_prompt = |prompt: &str| {
        report.ids.iter().map(|id| record(&f.studio, *id)).find(|r| r.prompt == prompt).expect(prompt)
    };
    let source = by_prompt("the source");
    assert_eq!(by_prompt("the result").source_image_id, Some(source.id), "linked to the same bytes");
    assert_eq!(by_prompt("an older result").source_image_id, None, "an id from elsewhere is no link");
    assert!(mine.iter().all(|m| record(&f.studio, m.id).source_image_id.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_settings_round_trip_and_vary_queues_new_seeds_in_demo_mode() {
    let f = Fixture::demo().await;
    let req = request("a koi pond in autumn", 1, Some(777));
    let img = generate(&f.studio, req.clone()).await.remove(0);

    let settings = f.studio.image_settings(img.id).expect("settings");
    assert_eq!(
        settings,
        GenerateRequest { seed: Some(777), count: 1, ..req.clone() },
        "Use settings reproduces the request"
    );

    let jobs = f.studio.vary_image(img.id, 3).await.expect("vary");
    assert_eq!(jobs.len(), 3);
    let mut seeds = Vec::new();
    for id in &jobs {
        let t = f.studio.ledger().get(*id).expect("job");
        assert_eq!(t.request.input.prompt, req.prompt);
        assert_eq!(t.request.input.negative_prompt, req.negative_prompt);
        assert_eq!(t.request.model, Model::Dev);
        assert_eq!((t.request.input.width, t.request.input.height), (Some(320), Some(256)));
        assert_eq!((t.request.input.steps, t.request.input.guidance_scale), (Some(20), Some(3.5)));
        seeds.push(t.request.input.seed.expect("a concrete seed"));
    }
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "different seeds: {seeds:?}");
    assert!(!seeds.contains(&777), "new random seeds, not the image's");

    assert_eq!(f.studio.vary_image(img.id, 0).await.expect_err("count 0").code(), ErrorCode::InvalidInput);
    assert!(matches!(f.studio.image_settings(424_242), Err(Error::Missing { .. })));

    // An imported photo's settings are adapted to what Flux accepts.
    let photo = ImageRecord {
        width: 4000,
        height: 3000,
        guidance: Some(7.0),
        steps: Some(150),
        model: Some("sdxl".into()),
        seed: None,
        ..record(&f.studio, img.id)
    };
    let s = settings_from_record(&photo, Model::Schnell);
    assert_eq!(
        (s.width, s.height, s.guidance, s.steps, s.model, s.seed),
        (1168, 880, None, None, Model::Schnell, None)
    );
    for id in jobs {
        let _ = f.studio.cancel_job(id).await;
    }
    f.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_by_id_come_in_the_order_asked_without_the_missing_ones() {
    let f = Fixture::live().await;
    let images = generate(&f.studio, request("three pears on a sill", 3, None)).await;
    let ids: Vec<i64> = images.iter().map(|i| i.id).collect();
    let got = f.studio.get_images(&[ids[2], 424_242, ids[0]]).expect("by id");
    assert_eq!(got.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[2], ids[0]]);
    assert_eq!(got[1], f.studio.get_image(ids[0]).expect("view"), "the same view as one by one");
    assert!(f.studio.get_images(&[]).expect("none").is_empty());
    let too_many = vec![ids[0]; fluxdesk_core::studio::MAX_IMAGES_BY_ID + 1];
    assert_eq!(f.studio.get_images(&too_many).expect_err("too many").code(), ErrorCode::InvalidInput);
    f.close().await;
}

// ------------------------------------------------------------------------------------------------
// Thumbnails and clipboard bytes
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fill_missing_thumbnails_remakes_deleted_thumbs_and_read_image_bytes_gives_png() {
    let f = Fixture::live().await;
    let images = generate(&f.studio, request("a field of sunflowers", 3, None)).await;
    let thumbs_dir = f.studio.paths().thumbs_dir();
    std::fs::remove_dir_all(&thumbs_dir).expect("rm thumbs");
    assert!(f.studio.get_image(images[0].id).expect("view").thumb_path.is_none());

    assert_eq!(f.studio.fill_missing_thumbnails().await.expect("fill"), 3);
    for img in &images {
        let view = f.studio.get_image(img.id).expect("view");
        let thumb = view.thumb_path.expect("thumbnail back");
        let (fmt, w, h) = decode(&std::fs::read(thumb).expect("thumb"));
        assert_eq!((fmt, w, h), (image::ImageFormat::WebP, 320, 256));
    }
    assert_eq!(f.studio.fill_missing_thumbnails().await.expect("fill again"), 0, "nothing left to do");

    // Clipboard: PNG bytes, as is for a PNG, converted otherwise.
    let png = f.studio.read_image_bytes(images[0].id).await.expect("bytes");
    assert_eq!(png, std::fs::read(&images[0].path).expect("file"));
    let jpg = f.path("photo.jpg");
    write(&jpg, &jpeg_bytes(100, 60));
    let imported = f.studio.import_paths(vec![jpg.to_string_lossy().into_owned()]).await.expect("import");
    let converted = f.studio.read_image_bytes(imported.ids[0]).await.expect("bytes");
    assert_eq!(decode(&converted), (image::ImageFormat::Png, 100, 60));
    assert!(matches!(f.studio.read_image_bytes(424_242).await, Err(Error::Missing { .. })));

    // A damaged file is skipped, not fatal.
    let rec = record(&f.studio, images[1].id);
    std::fs::remove_dir_all(&thumbs_dir).expect("rm thumbs");
    std::fs::write(f.studio.gallery().abs_path(&rec), b"\x89PNG\r\n\x1a\ngarbage").expect("damage");
    assert_eq!(
        f.studio.fill_missing_thumbnails().await.expect("fill"),
        3,
        "2 generated + 1 imported; the damaged one skipped"
    );
    f.close().await;
}

#[test]
fn export_encoder_handles_alpha_and_plain_sources() {
    // RGBA source → JPEG flattens onto white; WebP keeps alpha (VP8X + ALPH) and still gets metadata.
    let img =
        image::RgbaImage::from_fn(40, 30, |x, _| image::Rgba([200, 10, 10, if x < 20 { 0 } else { 255 }]));
    let mut png = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img).write_to(&mut png, image::ImageFormat::Png).expect("png");
    let png = png.into_inner();
    let meta = ImageMeta { prompt: "alpha test".into(), seed: Some(1), ..ImageMeta::default() };

    let jpeg = export::encode_export(&png, Some(&meta), ExportFormat::Jpeg, 90).expect("jpeg");
    let rgb = image::load_from_memory(&jpeg).expect("decode").to_rgb8();
    let p = rgb.get_pixel(2, 2).0;
    assert!(p.iter().all(|c| *c > 230), "transparent pixels become white: {p:?}");

    let webp = export::encode_export(&png, Some(&meta), ExportFormat::Webp, 90).expect("webp");
    let d = image::load_from_memory(&webp).expect("decode");
    assert!(d.color().has_alpha());
    assert_eq!(read_embedded_metadata(&webp).expect("read").expect("meta").prompt, "alpha test");

    // No metadata: a PNG stays byte-identical, others are plain files.
    assert_eq!(export::encode_export(&png, None, ExportFormat::Png, 0).expect("png"), png);
    let plain = export::encode_export(&png, None, ExportFormat::Webp, 50).expect("webp");
    assert!(read_embedded_metadata(&plain).expect("read").is_none());
    assert!(export::encode_export(b"not an image", None, ExportFormat::Jpeg, 50).is_err());
}

// ------------------------------------------------------------------------------------------------
// Delete with undo (in a child process with its own HOME, so the user's trash is never touched)
// ------------------------------------------------------------------------------------------------

const UNDO_ROOT: &str = "FLUXDESK_TEST_UNDO_ROOT";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper: run as a child process by delete_with_undo_round_trip_restores_files_and_ratings"]
async fn child_undo_worker() {
    let Some(root) = std::env::var_os(UNDO_ROOT) else { return };
    let root = PathBuf::from(root);
    let f = Fixture::live_in(tempfile::tempdir_in(&root).expect("tmp")).await;
    let images = generate(&f.studio, request("a glass of water on a table", 3, Some(5))).await;
    let ids: Vec<i64> = images.iter().map(|i| i.id).collect();
    f.studio.set_rating(&[ids[0]], 4).expect("rate");
    f.studio.set_favourite(&[ids[0], ids[1]], true).expect("fav");
    let before: Vec<ImageRecord> = ids.iter().map(|id| record(&f.studio, *id)).collect();
    assert!(before[0].ledger_id.is_some());

    // Delete two; the third stays.
    let receipt = f.studio.delete_images_undoable(&[ids[0], ids[1], 999_999]).await.expect("delete");
    assert_eq!(receipt.count, 2);
    assert_eq!(receipt.token.len(), 32);
    for img in &images[..2] {
        assert!(!Path::new(&img.path).exists(), "the file left the gallery");
        assert!(f.studio.get_image(img.id).is_err(), "the row is gone");
        let name = Path::new(&img.path).file_name().expect("name");
        let trashed = root.join("home/.local/share/Trash/files").join(name);
        assert!(trashed.exists(), "in this test's own trash: {}", trashed.display());
    }
    assert!(f.studio.get_image(ids[2]).is_ok());

    let restored = f.studio.undo_delete(&receipt.token).await.expect("undo");
    assert_eq!(restored, 2);
    for (img, was) in images.iter().zip(&before).take(2) {
        assert!(Path::new(&img.path).exists(), "the file is back at {}", img.path);
        let now = record(&f.studio, img.id);
        assert_eq!(&now, was, "same id, rating, favourite, ledger id and metadata");
        assert!(f.studio.get_image(img.id).expect("view").thumb_path.is_some(), "thumbnail back");
    }
    let job = f.studio.jobs(10).expect("jobs").into_iter().find(|j| j.images.iter().any(|i| i.id == ids[0]));
    assert!(job.is_some(), "the job links to the restored image again");
    let err = f.studio.undo_delete(&receipt.token).await.expect_err("a token works once");
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
    assert!(matches!(f.studio.undo_delete("nonsense").await, Err(Error::Missing { .. })));

    // A file now in the way: a clear error, the rest of the undo can be retried after moving it.
    let receipt = f.studio.delete_images_undoable(&[ids[2]]).await.expect("delete");
    std::fs::write(&images[2].path, b"someone else's file").expect("blocker");
    let err = f.studio.undo_delete(&receipt.token).await.expect_err("collision");
    assert_eq!(err.code(), ErrorCode::Io);
    assert!(err.to_string().contains("another file now has this name"), "{err}");
    assert!(f.studio.get_image(ids[2]).is_err());
    std::fs::remove_file(&images[2].path).expect("move the blocker away");
    assert_eq!(f.studio.undo_delete(&receipt.token).await.expect("retry"), 1);
    assert_eq!(record(&f.studio, ids[2]), before[2]);

    // Undo tokens belong to their studio: another one (another library) does not know them.
    let receipt = f.studio.delete_images_undoable(&[ids[2]]).await.expect("delete");
    let other = Fixture::live_in(tempfile::tempdir_in(&root).expect("tmp")).await;
    let err = other.studio.undo_delete(&receipt.token).await.expect_err("another studio's token");
    assert!(matches!(err, Error::Missing { .. }), "{err:?}");
    other.close().await;
    assert_eq!(f.studio.undo_delete(&receipt.token).await.expect("undo in its own studio"), 1);
    f.close().await;
    println!("CHILD-OK");
}

#[test]
fn delete_with_undo_round_trip_restores_files_and_ratings() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "child_undo_worker", "--ignored", "--nocapture", "--test-threads=1"])
        .env(UNDO_ROOT, dir.path())
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .output()
        .expect("spawn");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("CHILD-OK"), "child failed:\n{stdout}\n{stderr}");
}
