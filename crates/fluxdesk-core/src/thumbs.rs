//! Gallery thumbnails: small lossy WebP files in the cache, keyed by the image's content hash.
//!
//! Why: the gallery grid shows hundreds of 1024² images; decoding full PNGs in the web view is
//! slow and memory-hungry. A 512-px WebP at quality 80 is ~10 KB and decodes instantly. Originals
//! stay PNG (never lossy); thumbnails are rebuildable cache data.
//!
//! Pipeline: decode (PNG, JPEG or WebP via `image`, EXIF orientation applied) → downscale with
//! `fast_image_resize` (Lanczos3; long side [`THUMB_LONG_SIDE`], never upscaled, aspect kept) →
//! lossy WebP q80 through libwebp (`webp` crate, method [`WEBP_METHOD`]) → atomic write.
//! [`make_thumbnail_from_image`] enters after the decode step (for pixels decoded already, e.g.
//! by the download's verification); everything after it is the same code, so both entry points
//! give byte-identical thumbnails for the same upright pixels.
//!
//! Contract: everything here is synchronous and CPU-bound (a 1024² PNG takes ~10–20 ms): callers
//! run it in `tokio::task::spawn_blocking` (or a small pool), never on an async worker. Failures
//! are [`Error::Image`] with a readable sentence (or I/O errors from writing).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use fast_image_resize as fr;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::{Error, Result};

/// The longest side of a thumbnail, in pixels. Smaller images keep their size.
pub const THUMB_LONG_SIDE: u32 = 512;
/// Lossy WebP quality.
pub const WEBP_QUALITY: f32 = 80.0;
/// libwebp's speed/size trade-off (0 fastest … 6 smallest). Method 2 is ~3x faster than the
/// default 4 for a few percent larger files (measured: see BENCHMARKS.md / the module tests).
pub const WEBP_METHOD: i32 = 2;

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbInfo {
    pub width: u32,
    pub height: u32,
    /// Size of the WebP file in bytes.
    pub bytes: u64,
}

/// Decodes `src` (PNG, JPEG or WebP bytes), downscales it so the long side is at most
/// [`THUMB_LONG_SIDE`] (never upscaling, keeping the aspect ratio), encodes lossy WebP q80 and
/// writes it atomically to `dest` (parent folders are created).
///
/// Synchronous and CPU-bound: run it in `spawn_blocking`.
pub fn make_thumbnail(src: &[u8], dest: &Path) -> Result<ThumbInfo> {
    make_thumbnail_from_image(decode(src)?, dest)
}

/// [`make_thumbnail`] for pixels decoded already, which must be upright (EXIF orientation
/// applied, as `piapi::DecodedImage::into_upright` gives). Same resize, encode and write, same
/// output. The pixels are consumed and freed as soon as they are downscaled.
///
/// Synchronous and CPU-bound: run it in `spawn_blocking`.
pub fn make_thumbnail_from_image(img: DynamicImage, dest: &Path) -> Result<ThumbInfo> {
    let webp = encode_thumbnail(img)?;
    crate::files::write_replace(dest, &webp.bytes)?;
    Ok(ThumbInfo { width: webp.width, height: webp.height, bytes: webp.bytes.len() as u64 })
}

/// [`make_thumbnail`] for an image file.
pub fn make_thumbnail_from_file(src: &Path, dest: &Path) -> Result<ThumbInfo> {
    let bytes = std::fs::read(src).map_err(|e| Error::io("reading the image", src, e))?;
    make_thumbnail(&bytes, dest).map_err(|e| match e {
        Error::Image(msg) => Error::Image(format!("{}: {msg}", src.display())),
        other => other,
    })
}

/// Where the thumbnail of the image with this content hash lives:
/// `thumbs_dir/ab/abcdef….webp` (two-character fan-out keeps folders small). Characters other
/// than ASCII letters and digits are dropped, so the result always stays inside `thumbs_dir`.
pub fn thumb_path(thumbs_dir: &Path, content_hash: &str) -> PathBuf {
    let clean: String =
        content_hash.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    let clean = if clean.is_empty() { "unknown".to_string() } else { clean };
    let fan: String = clean.chars().take(2).collect();
    thumbs_dir.join(fan).join(format!("{clean}.webp"))
}

/// An encoded thumbnail.
struct EncodedThumb {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

/// Downscales and encodes upright pixels (the part shared by every entry point).
fn encode_thumbnail(img: DynamicImage) -> Result<EncodedThumb> {
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(Error::Image("the image has no pixels (zero width or height)".into()));
    }
    let alpha = img.color().has_alpha();
    let (pixels, pixel_type) = if alpha {
        (img.into_rgba8().into_raw(), fr::PixelType::U8x4)
    } else {
        (img.into_rgb8().into_raw(), fr::PixelType::U8x3)
    };

    let (tw, th) = thumb_size(w, h);
    let pixels = if (tw, th) == (w, h) { pixels } else { resize(pixels, pixel_type, (w, h), (tw, th))? };

    let mut config = webp::WebPConfig::new()
        .map_err(|()| Error::Internal("libwebp could not initialise its encoder configuration".into()))?;
    config.lossless = 0;
    config.quality = WEBP_QUALITY;
    config.method = WEBP_METHOD;
    let encoder = if alpha {
        webp::Encoder::from_rgba(&pixels, tw, th)
    } else {
        webp::Encoder::from_rgb(&pixels, tw, th)
    };
    let mem = encoder
        .encode_advanced(&config)
        .map_err(|e| Error::Image(format!("the thumbnail could not be encoded as WebP ({e:?})")))?;
    Ok(EncodedThumb { width: tw, height: th, bytes: mem.to_vec() })
}

/// Decodes PNG, JPEG or WebP, applying the EXIF orientation.
fn decode(src: &[u8]) -> Result<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(src))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("the image could not be read ({e})")))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => {}
        Some(other) => {
            return Err(Error::Image(format!(
                "{} images are not supported for thumbnails; only PNG, JPEG and WebP are",
                other.extensions_str().first().copied().unwrap_or("this kind of").to_uppercase()
            )));
        }
        None => {
            return Err(Error::Image(
                "the data is not a PNG, JPEG or WebP image (the file format was not recognised)".into(),
            ));
        }
    }
    let mut decoder =
        reader.into_decoder().map_err(|e| Error::Image(format!("the image could not be decoded ({e})")))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| Error::Image(format!("the image could not be decoded ({e})")))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The thumbnail size: long side [`THUMB_LONG_SIDE`], aspect kept (rounded), at least 1 px,
/// never larger than the source.
fn thumb_size(w: u32, h: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= THUMB_LONG_SIDE {
        return (w, h);
    }
    let scale = |side: u32| -> u32 {
        let v = (u64::from(side) * u64::from(THUMB_LONG_SIDE) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(v).unwrap_or(THUMB_LONG_SIDE).clamp(1, THUMB_LONG_SIDE)
    };
    if w >= h { (THUMB_LONG_SIDE, scale(h)) } else { (scale(w), THUMB_LONG_SIDE) }
}

fn resize(pixels: Vec<u8>, pt: fr::PixelType, (w, h): (u32, u32), (tw, th): (u32, u32)) -> Result<Vec<u8>> {
    let src = fr::images::Image::from_vec_u8(w, h, pixels, pt)
        .map_err(|e| Error::Internal(format!("thumbnail resize buffer: {e}")))?;
    let mut dst = fr::images::Image::new(tw, th, pt);
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| Error::Image(format!("the image could not be resized ({e})")))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_aspect_and_never_upscale() {
        assert_eq!(thumb_size(1024, 1024), (512, 512));
        assert_eq!(thumb_size(1280, 816), (512, 326));
        assert_eq!(thumb_size(512, 2048), (128, 512));
        assert_eq!(thumb_size(300, 200), (300, 200));
        assert_eq!(thumb_size(10_000, 1), (512, 1));
    }

    #[test]
    fn thumb_path_fans_out_and_stays_inside() {
        let p = thumb_path(Path::new("/c/thumbs"), "ABcdef0123");
        assert_eq!(p, PathBuf::from("/c/thumbs/ab/abcdef0123.webp"));
        let p = thumb_path(Path::new("/c/thumbs"), "../../etc/passwd");
        assert!(p.starts_with("/c/thumbs"));
        assert_eq!(p.components().count(), Path::new("/c/thumbs").components().count() + 2);
    }
}
