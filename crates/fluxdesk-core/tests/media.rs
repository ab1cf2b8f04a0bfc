//! Media: PNG metadata (ours and A1111), thumbnails and crash-safe files, on real files in temp
//! dirs, checked with independent decoders (the `png` and `image` crates, libwebp).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Cursor;
use std::path::Path;

use chrono::{Local, TimeZone, Utc};
use fluxdesk_core::files::{
    content_hash, gallery_relative_path, short_tag, slugify, write_new_file, write_replace,
};
use fluxdesk_core::metadata::{
    ImageMeta, a1111_parameters, embed_png_metadata, parse_a1111_parameters, read_file_metadata,
    read_png_metadata,
};
use fluxdesk_core::secrets::{MemoryStore, resolve_api_key};
use fluxdesk_core::settings::EnvOverrides;
use fluxdesk_core::thumbs::{THUMB_LONG_SIDE, make_thumbnail, make_thumbnail_from_file, thumb_path};
use fluxdesk_core::{Error, ErrorCode};
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, RgbaImage};
use proptest::prelude::*;

// ----------------------------------------------------------------------------------------------
// helpers
// ----------------------------------------------------------------------------------------------

fn gradient_rgb(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, ((x ^ y) & 0xff) as u8])
    }))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

fn png_of(img: &DynamicImage) -> Vec<u8> {
    encode(img, ImageFormat::Png)
}

/// (type, data) of every chunk, parsed independently of the code under test.
fn chunk_list(png: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let mut pos = 8;
    let mut out = Vec::new();
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let ty = String::from_utf8_lossy(&png[pos + 4..pos + 8]).to_string();
        out.push((ty.clone(), png[pos + 8..pos + 8 + len].to_vec()));
        pos += 12 + len;
        if ty == "IEND" {
            break;
        }
    }
    out
}

/// Text chunks as the `png` crate's decoder reads them, after decoding the whole image.
fn png_crate_texts(png: &[u8]) -> Vec<(String, String)> {
    let decoder = png::Decoder::new(Cursor::new(png));
    let mut reader = decoder.read_info().expect("png crate reads the header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    reader.next_frame(&mut buf).expect("png crate decodes the image data");
    reader.finish().expect("png crate reads to the end");
    let info = reader.info();
    let mut texts: Vec<(String, String)> =
        info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.text.clone())).collect();
    for t in &info.compressed_latin1_text {
        texts.push((t.keyword.clone(), t.get_text().expect("ztxt")));
    }
    for t in &info.utf8_text {
        texts.push((t.keyword.clone(), t.get_text().expect("itxt")));
    }
    texts
}

fn sample_meta() -> ImageMeta {
    ImageMeta {
        prompt: "A red fox at dawn, misty forest".into(),
        negative_prompt: Some("blurry, low quality".into()),
        model: Some("Qubico/flux1-dev".into()),
        task_type: Some("txt2img".into()),
        width: 1024,
        height: 768,
        seed: Some(123),
        steps: Some(28),
        guidance: Some(3.5),
        task_id: Some("0f3c9b2e-task".into()),
        output_index: Some(1),
        cost_usd: Some(0.015),
        created_at: Some(Utc.with_ymd_and_hms(2026, 11, 21, 14, 30, 12).unwrap()),
        source_image_id: None,
        source_image_hash: None,
        generator: Some("Fluxdesk 0.1.0".into()),
        task_settings: None,
    }
}

fn assert_image_err<T: std::fmt::Debug>(r: fluxdesk_core::Result<T>) -> String {
    match r {
        Err(e @ Error::Image(_)) => {
            assert_eq!(e.code(), ErrorCode::InvalidImage);
            e.to_string()
        }
        other => panic!("expected Error::Image, got {other:?}"),
    }
}

// ----------------------------------------------------------------------------------------------
// metadata
// ----------------------------------------------------------------------------------------------

#[test]
fn a1111_text_has_the_documented_shape() {
    let text = a1111_parameters(&sample_meta());
    assert_eq!(
        text,
        "A red fox at dawn, misty forest\nNegative prompt: blurry, low quality\n\
         Steps: 28, CFG scale: 3.5, Seed: 123, Size: 1024x768, Model: Qubico/flux1-dev, Version: Fluxdesk 0.1.0"
    );
    // Unknown parts are left out.
    let minimal = ImageMeta { prompt: "cat".into(), width: 512, height: 512, ..Default::default() };
    assert_eq!(a1111_parameters(&minimal), "cat\nSize: 512x512");
}

#[test]
fn a1111_text_parses_back() {
    let meta = sample_meta();
    let parsed = parse_a1111_parameters(&a1111_parameters(&meta));
    assert_eq!(parsed.prompt, meta.prompt);
    assert_eq!(parsed.negative_prompt, meta.negative_prompt);
    assert_eq!(parsed.steps, Some(28));
    assert_eq!(parsed.guidance, Some(3.5));
    assert_eq!(parsed.seed, Some(123));
    assert_eq!((parsed.width, parsed.height), (1024, 768));
    assert_eq!(parsed.model.as_deref(), Some("Qubico/flux1-dev"));
    assert_eq!(parsed.generator.as_deref(), Some("Fluxdesk 0.1.0"));
    // Fields A1111 has no place for are not invented.
    assert_eq!(parsed.task_id, None);
}

#[test]
fn a1111_parser_is_tolerant() {
    // Multi-line prompt, no negative prompt, keys in another order, extra keys, quoted values.
    let text = "line one\nline two: with a colon\nSize: 832x1216, Seed: -5, Sampler: Euler, \
                Model: \"odd, name: x\", Steps: 4, Schedule type: Simple";
    let m = parse_a1111_parameters(text);
    assert_eq!(m.prompt, "line one\nline two: with a colon");
    assert_eq!(m.negative_prompt, None);
    assert_eq!((m.width, m.height), (832, 1216));
    assert_eq!(m.seed, Some(-5));
    assert_eq!(m.steps, Some(4));
    assert_eq!(m.model.as_deref(), Some("odd, name: x"));

    // Multi-line negative prompt, Windows line ends, Forge's distilled guidance wins.
    let text = "a cat\r\nNegative prompt: dogs\r\nmore dogs\r\nSteps: 20, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 7";
    let m = parse_a1111_parameters(text);
    assert_eq!(m.prompt, "a cat");
    assert_eq!(m.negative_prompt.as_deref(), Some("dogs\nmore dogs"));
    assert_eq!(m.guidance, Some(3.5));

    // No parameter line at all: everything is prompt.
    let m = parse_a1111_parameters("just a prompt, with commas");
    assert_eq!(m.prompt, "just a prompt, with commas");
    assert_eq!(m.steps, None);
}

#[test]
fn a1111_quotes_values_that_need_it() {
    let meta = ImageMeta { prompt: "x".into(), model: Some("my, model: v2".into()), ..Default::default() };
    let text = a1111_parameters(&meta);
    assert!(text.ends_with(r#"Model: "my, model: v2""#), "{text}");
    assert_eq!(parse_a1111_parameters(&text).model.as_deref(), Some("my, model: v2"));
}

#[test]
fn embedded_metadata_round_trips_and_other_decoders_agree() {
    let original = png_of(&gradient_rgb(64, 48));
    let meta = ImageMeta { width: 64, height: 48, ..sample_meta() };
    let embedded = embed_png_metadata(&original, &meta).expect("embed");

    // Ours reads it back exactly.
    assert_eq!(read_png_metadata(&embedded).expect("read"), Some(meta.clone()));

    // The png crate decodes the image and sees both iTXt chunks.
    let texts = png_crate_texts(&embedded);
    let params = texts.iter().find(|(k, _)| k == "parameters").expect("parameters chunk").1.clone();
    let ours = texts.iter().find(|(k, _)| k == "fluxdesk").expect("fluxdesk chunk").1.clone();
    assert_eq!(params, a1111_parameters(&meta));
    let json: ImageMeta = serde_json::from_str(&ours).expect("fluxdesk chunk is ImageMeta JSON");
    assert_eq!(json, meta);
    // …and an A1111 reader gets the generation parameters from `parameters`.
    let a1111 = parse_a1111_parameters(&params);
    assert_eq!((a1111.prompt.as_str(), a1111.seed, a1111.steps), (meta.prompt.as_str(), Some(123), Some(28)));

    // The image crate decodes identical pixels.
    let a = image::load_from_memory(&original).expect("decode original").to_rgb8();
    let b = image::load_from_memory(&embedded).expect("decode embedded").to_rgb8();
    assert_eq!(a, b);

    // Our chunks come right after IHDR; every other chunk is byte-identical and in order.
    let before = chunk_list(&original);
    let after = chunk_list(&embedded);
    assert_eq!(after[0].0, "IHDR");
    assert_eq!(after[1].0, "iTXt");
    assert!(after[1].1.starts_with(b"parameters\0"));
    assert_eq!(after[2].0, "iTXt");
    assert!(after[2].1.starts_with(b"fluxdesk\0"));
    let rest: Vec<_> =
        after.iter().enumerate().filter(|(i, _)| *i != 1 && *i != 2).map(|(_, c)| c.clone()).collect();
    assert_eq!(rest, before);
}

#[test]
fn width_and_height_come_from_ihdr() {
    let png = png_of(&gradient_rgb(40, 30));
    let lying = ImageMeta { prompt: "x".into(), width: 9999, height: 1, ..Default::default() };
    let embedded = embed_png_metadata(&png, &lying).expect("embed");
    let read = read_png_metadata(&embedded).expect("read").expect("meta");
    assert_eq!((read.width, read.height), (40, 30));
}

#[test]
fn non_ascii_prompts_survive() {
    let meta = ImageMeta {
        prompt: "富士山の夜明け, ночной город, café «crème» 🦊\nzweite Zeile".into(),
        negative_prompt: Some("ぼやけた".into()),
        width: 16,
        height: 16,
        ..Default::default()
    };
    let embedded = embed_png_metadata(&png_of(&gradient_rgb(16, 16)), &meta).expect("embed");
    assert_eq!(read_png_metadata(&embedded).expect("read").as_ref(), Some(&meta));
    let texts = png_crate_texts(&embedded);
    let params = &texts.iter().find(|(k, _)| k == "parameters").expect("parameters").1;
    let parsed = parse_a1111_parameters(params);
    assert_eq!(parsed.prompt, meta.prompt);
    assert_eq!(parsed.negative_prompt, meta.negative_prompt);
}

#[test]
fn existing_chunks_are_replaced_and_unrelated_text_is_kept() {
    // A PNG that already has tEXt `parameters`, zTXt `fluxdesk` and an unrelated tEXt `Software`.
    let img = gradient_rgb(8, 8).to_rgb8();
    let mut buf = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut buf, 8, 8);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.add_text_chunk("parameters".into(), "old prompt\nSteps: 1, Seed: 1, Size: 8x8".into()).unwrap();
        enc.add_ztxt_chunk("fluxdesk".into(), "{\"prompt\":\"old\"}".into()).unwrap();
        enc.add_text_chunk("Software".into(), "SomeTool".into()).unwrap();
        let mut w = enc.write_header().unwrap();
        w.write_image_data(img.as_raw()).unwrap();
        w.finish().unwrap();
    }
    // Before embedding, our reader prefers the (compressed) fluxdesk JSON.
    assert_eq!(read_png_metadata(&buf).unwrap().unwrap().prompt, "old");

    let meta = ImageMeta { prompt: "new prompt".into(), seed: Some(2), ..Default::default() };
    let once = embed_png_metadata(&buf, &meta).expect("embed");
    let twice = embed_png_metadata(&once, &meta).expect("embed again");
    assert_eq!(once, twice, "embedding is idempotent");

    let texts = png_crate_texts(&twice);
    let keys: Vec<&str> = texts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.iter().filter(|k| **k == "parameters").count(), 1, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| **k == "fluxdesk").count(), 1, "{keys:?}");
    assert!(texts.contains(&("Software".to_string(), "SomeTool".to_string())));
    let read = read_png_metadata(&twice).unwrap().unwrap();
    assert_eq!((read.prompt.as_str(), read.seed, read.width), ("new prompt", Some(2), 8));
}

#[test]
fn a1111_only_files_are_read_from_text_and_compressed_chunks() {
    for compressed in [false, true] {
        let img = gradient_rgb(12, 10).to_rgb8();
        let mut buf = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut buf, 12, 10);
            enc.set_color(png::ColorType::Rgb);
            let text = "a lighthouse\nNegative prompt: fog\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42, Size: 12x10, Model: sdxl";
            if compressed {
                enc.add_ztxt_chunk("parameters".into(), text.into()).unwrap();
            } else {
                enc.add_text_chunk("parameters".into(), text.into()).unwrap();
            }
            let mut w = enc.write_header().unwrap();
            w.write_image_data(img.as_raw()).unwrap();
            w.finish().unwrap();
        }
        let m = read_png_metadata(&buf).unwrap().expect("parameters found");
        assert_eq!(m.prompt, "a lighthouse");
        assert_eq!(m.negative_prompt.as_deref(), Some("fog"));
        assert_eq!((m.steps, m.guidance, m.seed), (Some(30), Some(7.0), Some(42)));
        assert_eq!(m.model.as_deref(), Some("sdxl"));
    }
}

#[test]
fn plain_png_has_no_metadata() {
    assert_eq!(read_png_metadata(&png_of(&gradient_rgb(4, 4))).unwrap(), None);
}

#[test]
fn garbage_input_is_an_error_not_a_panic() {
    let msg = assert_image_err(embed_png_metadata(b"definitely not a png", &ImageMeta::default()));
    assert!(msg.contains("not a PNG"), "{msg}");
    assert_image_err(read_png_metadata(b""));
    assert_image_err(read_png_metadata(&encode(&gradient_rgb(8, 8), ImageFormat::Jpeg)));

    let png = png_of(&gradient_rgb(8, 8));
    // Truncated: embedding refuses, reading is tolerant.
    let cut = &png[..png.len() - 20];
    let msg = assert_image_err(embed_png_metadata(cut, &ImageMeta::default()));
    assert!(msg.contains("truncated"), "{msg}");
    assert_eq!(read_png_metadata(cut).unwrap(), None);
    // A flipped bit: bad CRC.
    let mut bad = png.clone();
    let last_idat_byte = bad.len() - 12 - 5;
    bad[last_idat_byte] ^= 0x40;
    let msg = assert_image_err(embed_png_metadata(&bad, &ImageMeta::default()));
    assert!(msg.contains("checksum"), "{msg}");
    // Signature only.
    assert_image_err(read_png_metadata(b"\x89PNG\r\n\x1a\n"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn read_png_metadata_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_png_metadata(&bytes);
        let _ = embed_png_metadata(&bytes, &ImageMeta::default());
    }

    #[test]
    fn read_png_metadata_never_panics_past_the_signature(
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        keyword in prop_oneof![Just(&b"parameters"[..]), Just(&b"fluxdesk"[..])],
        ty in prop_oneof![Just(*b"tEXt"), Just(*b"zTXt"), Just(*b"iTXt")],
    ) {
        // A valid header and IHDR, then a text chunk with a random body, then random bytes.
        let mut png = png_of(&gradient_rgb(2, 2))[..33].to_vec();
        let mut data = keyword.to_vec();
        data.extend_from_slice(&tail[..tail.len().min(64)]);
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(&ty);
        png.extend_from_slice(&data);
        png.extend_from_slice(&[0, 0, 0, 0]);
        png.extend_from_slice(&tail);
        let _ = read_png_metadata(&png);
    }

    #[test]
    fn a1111_parser_never_panics(text in ".{0,300}") {
        let _ = parse_a1111_parameters(&text);
    }
}

#[test]
fn read_file_metadata_reads_files_and_skips_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let meta = ImageMeta { width: 20, height: 10, ..sample_meta() };
    let png = embed_png_metadata(&png_of(&gradient_rgb(20, 10)), &meta).unwrap();
    let p = dir.path().join("a.png");
    std::fs::write(&p, &png).unwrap();
    assert_eq!(read_file_metadata(&p).unwrap(), Some(meta));

    let jpg = dir.path().join("b.jpg");
    std::fs::write(&jpg, encode(&gradient_rgb(20, 10), ImageFormat::Jpeg)).unwrap();
    assert_eq!(read_file_metadata(&jpg).unwrap(), None);
    let webp = dir.path().join("c.webp");
    std::fs::write(&webp, encode(&gradient_rgb(20, 10), ImageFormat::WebP)).unwrap();
    assert_eq!(read_file_metadata(&webp).unwrap(), None);
    let txt = dir.path().join("notes.png");
    std::fs::write(&txt, "hello").unwrap();
    assert_eq!(read_file_metadata(&txt).unwrap(), None);

    let missing = read_file_metadata(&dir.path().join("nope.png")).unwrap_err();
    assert_eq!(missing.code(), ErrorCode::Io);
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n\0\0\0\x04JUNKabcd").unwrap();
    assert_image_err(read_file_metadata(&broken));
}

#[test]
fn read_file_metadata_stops_at_the_first_idat() {
    let dir = tempfile::tempdir().unwrap();
    let plain = png_of(&gradient_rgb(32, 32));

    // A `parameters` chunk placed after the image data is not looked at by the file reader
    // (the whole-buffer reader does see it).
    let meta = ImageMeta { prompt: "late".into(), width: 32, height: 32, ..Default::default() };
    let with_meta = embed_png_metadata(&plain, &meta).unwrap();
    let c = chunk_list(&with_meta);
    let mut reordered = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut push = |ty: &str, data: &[u8]| {
        reordered.extend_from_slice(&(data.len() as u32).to_be_bytes());
        reordered.extend_from_slice(ty.as_bytes());
        reordered.extend_from_slice(data);
        let mut h = crc32fast::Hasher::new();
        h.update(ty.as_bytes());
        h.update(data);
        reordered.extend_from_slice(&h.finalize().to_be_bytes());
    };
    push(&c[0].0, &c[0].1); // IHDR
    for (t, d) in &c[3..] {
        if t == "IEND" {
            push(&c[1].0, &c[1].1); // parameters after IDAT
        }
        push(t, d);
    }
    let late = dir.path().join("late.png");
    std::fs::write(&late, &reordered).unwrap();
    assert_eq!(read_file_metadata(&late).unwrap(), None);
    assert_eq!(read_png_metadata(&reordered).unwrap().map(|m| m.prompt), Some("late".to_string()));

    // A file cut off inside its image data still yields the metadata written before it.
    let idat_pos = with_meta.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
    let cut_at = idat_pos + 8 + 20;
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &with_meta[..cut_at]).unwrap();
    assert_eq!(read_file_metadata(&cut).unwrap().map(|m| m.prompt), Some("late".to_string()));
}

#[test]
fn api_key_never_reaches_the_image_file() {
    const FAKE_KEY: &str = "fake-piapi-key-0123456789abcdef0123456789abcdef";
    let env = EnvOverrides::from_pairs([("PIAPI_API_KEY", FAKE_KEY)]);
    let (key, _) = resolve_api_key(&MemoryStore::default(), &env).unwrap().expect("env key");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&key), FAKE_KEY);

    // Everything a completed task knows goes into the metadata…
    let meta = ImageMeta { width: 16, height: 16, ..sample_meta() };
    let png = embed_png_metadata(&png_of(&gradient_rgb(16, 16)), &meta).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.png");
    write_new_file(&dest, &png).unwrap();
    // …but the key is nowhere in the file, nor in anything we log about the environment.
    let bytes = std::fs::read(&dest).unwrap();
    assert!(!bytes.windows(FAKE_KEY.len()).any(|w| w == FAKE_KEY.as_bytes()));
    assert!(!format!("{env:?}").contains(FAKE_KEY));
}

// ----------------------------------------------------------------------------------------------
// thumbnails
// ----------------------------------------------------------------------------------------------

fn decode_webp(path: &Path) -> DynamicImage {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WEBP");
    // libwebp and the pure-Rust decoder both accept it.
    let via_libwebp = webp::Decoder::new(&bytes).decode().expect("libwebp decodes the thumbnail");
    let via_image = image::load_from_memory_with_format(&bytes, ImageFormat::WebP).expect("image decodes");
    assert_eq!((via_libwebp.width(), via_libwebp.height()), (via_image.width(), via_image.height()));
    via_image
}

#[test]
fn thumbnails_have_the_right_size_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, (u32, u32))> = vec![
        ("landscape-png", png_of(&gradient_rgb(1280, 816)), (512, 326)),
        ("portrait-png", png_of(&gradient_rgb(600, 1200)), (256, 512)),
        ("square-jpeg", encode(&gradient_rgb(1024, 1024), ImageFormat::Jpeg), (512, 512)),
        ("small-png", png_of(&gradient_rgb(300, 200)), (300, 200)),
        ("webp-input", encode(&gradient_rgb(700, 350), ImageFormat::WebP), (512, 256)),
        (
            "grey-png",
            png_of(&DynamicImage::ImageLuma8(GrayImage::from_fn(800, 400, |x, _| {
                image::Luma([(x % 256) as u8])
            }))),
            (512, 256),
        ),
    ];
    for (name, src, expected) in cases {
        let dest = dir.path().join("thumbs").join(format!("{name}.webp"));
        let info = make_thumbnail(&src, &dest).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((info.width, info.height), expected, "{name}");
        assert!(info.width.max(info.height) <= THUMB_LONG_SIDE);
        assert_eq!(info.bytes, std::fs::metadata(&dest).unwrap().len(), "{name}");
        let decoded = decode_webp(&dest);
        assert_eq!((decoded.width(), decoded.height()), expected, "{name}");
    }
}

#[test]
fn rgba_thumbnails_keep_transparency() {
    let img = DynamicImage::ImageRgba8(RgbaImage::from_fn(1024, 512, |x, _| {
        if x < 512 { image::Rgba([255, 0, 0, 255]) } else { image::Rgba([0, 0, 255, 0]) }
    }));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rgba.webp");
    let info = make_thumbnail(&png_of(&img), &dest).unwrap();
    assert_eq!((info.width, info.height), (512, 256));
    let decoded = decode_webp(&dest).to_rgba8();
    assert!(decoded.get_pixel(50, 128)[3] > 240, "left half opaque");
    assert!(decoded.get_pixel(460, 128)[3] < 15, "right half transparent");
    let red = decoded.get_pixel(50, 128);
    assert!(red[0] > 200 && red[2] < 60, "{red:?}");
}

#[test]
fn thumbnails_replace_atomically_and_report_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.png");
    std::fs::write(&src, png_of(&gradient_rgb(900, 900))).unwrap();
    let hash = content_hash(&std::fs::read(&src).unwrap());
    let dest = thumb_path(&dir.path().join("thumbs"), &hash);
    assert!(dest.ends_with(format!("{}/{hash}.webp", &hash[..2])));
    make_thumbnail_from_file(&src, &dest).unwrap();
    let again = make_thumbnail_from_file(&src, &dest).unwrap();
    assert_eq!((again.width, again.height), (512, 512));
    let leftovers: Vec<_> =
        std::fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    let msg = assert_image_err(make_thumbnail(b"not an image at all", &dir.path().join("x.webp")));
    assert!(msg.contains("not a PNG, JPEG or WebP"), "{msg}");
    let gif = encode(&gradient_rgb(10, 10), ImageFormat::Gif);
    let msg = assert_image_err(make_thumbnail(&gif, &dir.path().join("x.webp")));
    assert!(msg.contains("GIF"), "{msg}");
    let png = png_of(&gradient_rgb(64, 64));
    assert_image_err(make_thumbnail(&png[..png.len() / 2], &dir.path().join("x.webp")));
    assert!(!dir.path().join("x.webp").exists());
    let missing =
        make_thumbnail_from_file(&dir.path().join("missing.png"), &dir.path().join("y.webp")).unwrap_err();
    assert_eq!(missing.code(), ErrorCode::Io);
}

// ----------------------------------------------------------------------------------------------
// files
// ----------------------------------------------------------------------------------------------

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn write_new_file_is_idempotent_and_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("2026/11/img.png");
    write_new_file(&dest, b"first").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"first");
    write_new_file(&dest, b"first").expect("same content again is fine");

    for other in [&b"secnd"[..], &b"different length"[..]] {
        let err = write_new_file(&dest, other).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Io);
        match &err {
            Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists),
            e => panic!("{e:?}"),
        }
        assert_eq!(std::fs::read(&dest).unwrap(), b"first", "never overwritten");
    }
    assert_eq!(entries(dest.parent().unwrap()), vec!["img.png"], "no temp files left");
}

#[test]
fn write_errors_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The destination is an existing directory: the rename fails after the temp file was written.
    let as_dir = dir.path().join("taken");
    std::fs::create_dir(&as_dir).unwrap();
    std::fs::write(as_dir.join("inner"), b"x").unwrap();
    assert!(write_replace(&as_dir, b"data").is_err());
    assert!(write_new_file(&as_dir, b"data").is_err());
    assert_eq!(entries(dir.path()), vec!["taken"]);
    // A parent that is a file cannot be created.
    let blocked = dir.path().join("taken/inner/child.png");
    assert!(write_new_file(&blocked, b"data").is_err());
}

#[test]
fn write_replace_overwrites_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("settings.json");
    write_replace(&dest, b"one").unwrap();
    write_replace(&dest, b"two").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"two");
    assert_eq!(entries(dir.path()), vec!["settings.json"]);
}

#[test]
fn content_hash_is_blake3_hex() {
    let h = content_hash(b"abc");
    assert_eq!(h, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
    assert_eq!(h.len(), 64);
    assert_eq!(short_tag("abc"), "6437");
}

#[test]
fn slugify_cases() {
    assert_eq!(slugify("A red fox, at dawn!", 60), "a-red-fox-at-dawn");
    assert_eq!(slugify("Crème brûlée à la française", 60), "creme-brulee-a-la-francaise");
    assert_eq!(slugify("Straße Æther Øresund", 60), "strasse-aether-oresund");
    assert_eq!(slugify("富士山 sunrise ночь", 60), "sunrise");
    assert_eq!(slugify("富士山", 60), "image");
    assert_eq!(slugify("", 60), "image");
    assert_eq!(slugify("   ---   ", 60), "image");
    assert_eq!(slugify("the fox's den", 60), "the-foxs-den");
    assert_eq!(slugify("one two three four", 9), "one-two");
    assert_eq!(slugify("cafe\u{301} ok", 60), "cafe-ok"); // combining accent dropped
    for s in ["a/b\\c:d*e?f\"g<h>i|j", "..", "CON", "x\0y\n"] {
        let slug = slugify(s, 40);
        assert!(slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{slug}");
        assert!(!slug.starts_with('-') && !slug.ends_with('-'));
    }
}

#[test]
fn gallery_paths_are_readable_and_deterministic() {
    let created = Local.with_ymd_and_hms(2026, 11, 21, 14, 30, 12).unwrap();
    let p = gallery_relative_path(created, "red fox", "3f9a", "png");
    assert_eq!(p, Path::new("2026/11/2026-11-21_143012_red-fox_3f9a.png"));
    let p = gallery_relative_path(created, "A red fox, at dawn, in the misty forest", "3f9a", ".PNG");
    assert_eq!(p, Path::new("2026/11/2026-11-21_143012_red-fox-at-dawn-in_3f9a.png"));
    assert_eq!(p, gallery_relative_path(created, "A red fox, at dawn, in the misty forest", "3f9a", ".PNG"));
    let long = gallery_relative_path(created, &"supercalifragilistic ".repeat(10), "ab12", "png");
    let name = long.file_name().unwrap().to_string_lossy().to_string();
    let slug = name.strip_prefix("2026-11-21_143012_").unwrap().strip_suffix("_ab12.png").unwrap();
    assert!(slug.len() <= 40, "{slug}");
    let p = gallery_relative_path(created, "🦊🦊", &short_tag("task-1:0"), "webp");
    let name = p.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("2026-11-21_143012_image_") && name.ends_with(".webp"), "{name}");
    assert_eq!(p.components().count(), 3);
}
