//! Test images and the "floor" pipeline the thumbnail figures are compared against.
//!
//! - [`noisy_png`]: the simulator's demo artwork plus per-pixel noise, encoded as a normal zlib
//!   PNG with adaptive filtering, so PNG decode costs what a real photo-like PNG costs (the
//!   simulator's own smooth PNGs decode unrealistically fast).
//! - [`floor_thumbnail`]: decode + `fast_image_resize` Lanczos3 + the same lossy WebP encode that
//!   `fluxdesk_core::thumbs` uses, in memory, with nothing else (no orientation, no file, no fsync):
//!   the least work any thumbnailer must do for this image.

use fast_image_resize as fr;
use fluxdesk_core::thumbs::{THUMB_LONG_SIDE, WEBP_METHOD, WEBP_QUALITY};

use crate::error::{BenchError, Result};

/// The demo artwork for `(prompt, seed)` at `w`×`h` with uniform noise of ±`noise` per channel,
/// as an RGB8 PNG (balanced zlib, adaptive filter). Deterministic.
pub fn noisy_png(prompt: &str, seed: i64, w: u32, h: u32, noise: u8) -> Result<Vec<u8>> {
    let mut rgb = piapi_sim::render_rgb(prompt, seed, w, h);
    let mut state = ((seed as u64) ^ 0x9E37_79B9_7F4A_7C15) | 1;
    let span = u32::from(noise) * 2 + 1;
    for px in &mut rgb {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delta = (state % u64::from(span)) as i32 - i32::from(noise);
        *px = (i32::from(*px) + delta).clamp(0, 255) as u8;
    }
    encode_png(&rgb, w, h)
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rgb.len() / 2);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::Adaptive);
    let mut writer = enc.write_header().map_err(|e| BenchError::Image(format!("PNG header: {e}")))?;
    writer.write_image_data(rgb).map_err(|e| BenchError::Image(format!("PNG data: {e}")))?;
    writer.finish().map_err(|e| BenchError::Image(format!("PNG end: {e}")))?;
    Ok(out)
}

/// The floor: decode `src` (PNG/JPEG/WebP), resize so the long side is
/// [`THUMB_LONG_SIDE`] with `fast_image_resize` Lanczos3, encode lossy WebP with Fluxdesk's
/// quality and method. Returns the WebP size in bytes.
pub fn floor_thumbnail(src: &[u8]) -> Result<usize> {
    let img = image::load_from_memory(src).map_err(|e| BenchError::Image(format!("decode: {e}")))?;
    let (w, h) = (img.width(), img.height());
    let rgb = img.into_rgb8().into_raw();
    let long = w.max(h);
    let (tw, th) = if long <= THUMB_LONG_SIDE {
        (w, h)
    } else {
        // Same rounding as fluxdesk_core::thumbs.
        let scale = |s: u32| {
            ((u64::from(s) * u64::from(THUMB_LONG_SIDE) + u64::from(long) / 2) / u64::from(long)).max(1)
                as u32
        };
        (scale(w), scale(h))
    };
    let pixels = if (tw, th) == (w, h) {
        rgb
    } else {
        let src = fr::images::Image::from_vec_u8(w, h, rgb, fr::PixelType::U8x3)
            .map_err(|e| BenchError::Image(format!("resize buffer: {e}")))?;
        let mut dst = fr::images::Image::new(tw, th, fr::PixelType::U8x3);
        let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
        fr::Resizer::new()
            .resize(&src, &mut dst, &opts)
            .map_err(|e| BenchError::Image(format!("resize: {e}")))?;
        dst.into_vec()
    };
    let mut config = webp::WebPConfig::new().map_err(|()| BenchError::Image("libwebp config".into()))?;
    config.lossless = 0;
    config.quality = WEBP_QUALITY;
    config.method = WEBP_METHOD;
    let mem = webp::Encoder::from_rgb(&pixels, tw, th)
        .encode_advanced(&config)
        .map_err(|e| BenchError::Image(format!("WebP encode: {e:?}")))?;
    Ok(mem.len())
}

/// A small lossy WebP of an RGB8 PNG's pixels at their own size (for seeding the gallery's
/// thumbnail cache quickly; not a measured path).
pub fn small_webp(png: &[u8]) -> Result<Vec<u8>> {
    let img = image::load_from_memory(png).map_err(|e| BenchError::Image(format!("decode: {e}")))?;
    let (w, h) = (img.width(), img.height());
    let rgb = img.into_rgb8().into_raw();
    let mut config = webp::WebPConfig::new().map_err(|()| BenchError::Image("libwebp config".into()))?;
    config.lossless = 0;
    config.quality = WEBP_QUALITY;
    config.method = WEBP_METHOD;
    let mem = webp::Encoder::from_rgb(&rgb, w, h)
        .encode_advanced(&config)
        .map_err(|e| BenchError::Image(format!("WebP encode: {e:?}")))?;
    Ok(mem.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy_png_decodes_and_floor_runs() {
        let png = noisy_png("a fox", 3, 96, 64, 12).expect("png");
        let img = image::load_from_memory(&png).expect("decodes");
        assert_eq!((img.width(), img.height()), (96, 64));
        assert_eq!(png, noisy_png("a fox", 3, 96, 64, 12).expect("png"), "deterministic");
        assert!(floor_thumbnail(&png).expect("floor") > 0);
        assert!(!small_webp(&png).expect("webp").is_empty());
    }
}
