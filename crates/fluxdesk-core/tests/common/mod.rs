//! Helpers shared by the core's integration tests (each test file is its own crate and uses a
//! part of them, hence `dead_code` is allowed).
#![allow(dead_code)]

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use fluxdesk_core::secrets::SecretStore;
use fluxdesk_core::settings::EnvOverrides;
use fluxdesk_core::studio::{DemoChoice, StudioOptions};
use piapi_sim::SimHandle;

/// A fixed instant `secs` seconds after an arbitrary origin in November 2026.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + secs, 0).single().expect("time")
}

/// Options for a test studio: its home, gallery and cache folders under `root`, the simulator's
/// URL when `sim` is given, then `env` (poll interval, key, …: what differs per test file), the
/// JSON settings file, and no resume on open.
pub fn studio_options(
    root: &Path,
    sim: Option<&SimHandle>,
    env: &[(&str, &str)],
    secrets: Arc<dyn SecretStore>,
    demo: DemoChoice,
) -> StudioOptions {
    let folder = |name: &str| root.join(name).to_string_lossy().into_owned();
    let (home, gallery, cache) = (folder("home"), folder("gallery"), folder("cache"));
    let base_url = sim.map(SimHandle::base_url);
    let mut pairs = vec![
        ("FLUXDESK_HOME", home.as_str()),
        ("FLUXDESK_GALLERY", gallery.as_str()),
        ("FLUXDESK_CACHE", cache.as_str()),
    ];
    if let Some(url) = &base_url {
        pairs.push(("PIAPI_BASE_URL", url.as_str()));
    }
    pairs.extend_from_slice(env);
    StudioOptions {
        env: EnvOverrides::from_pairs(pairs),
        secrets,
        demo,
        settings_backend: None,
        resume_on_open: false,
    }
}

/// A small PNG whose pixels depend on `seed` (so hashes differ).
pub fn png_bytes(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x + seed) as u8, (y.wrapping_mul(3) + seed) as u8, (seed.wrapping_mul(7)) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// A small JPEG (no metadata).
pub fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("jpeg");
    out.into_inner()
}

/// A PNG carrying only an A1111 `parameters` tEXt chunk (as A1111/Forge write it).
pub fn a1111_png(w: u32, h: u32, parameters: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.add_text_chunk("parameters".into(), parameters.into()).expect("text chunk");
        let mut writer = enc.write_header().expect("header");
        let data: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        writer.write_image_data(&data).expect("data");
    }
    out
}
