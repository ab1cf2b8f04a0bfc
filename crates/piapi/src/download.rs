//! Downloading result images intact.
//!
//! Contract: [`Client::fetch_image`] streams the image into memory under a byte limit, checks the
//! length against `Content-Length`, fully decodes it (PNG, JPEG or WebP) off the async runtime, and
//! retries a truncated, corrupt or transiently failing download up to `max_attempts` times. Only a
//! verified image is returned, together with the pixels the verification decoded
//! ([`DecodedImage`]), so callers that need the pixels (thumbnails) do not decode the same bytes
//! again; callers that do not need them should drop them at once (a 1024² image is 3–4 MiB).
//! [`Client::download_image`] builds on it: the verified bytes go to a
//! temporary file in the destination's directory, are fsynced and then atomically renamed into
//! place without overwriting anything, so a failed or cancelled download never leaves a partial
//! or temporary file behind. Image URLs are fetched without the API key.

use std::fmt;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use image::ImageDecoder as _;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::error::{Error, Result};

/// Limits for one download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Largest accepted image, in bytes (checked against `Content-Length` and while streaming).
    pub max_bytes: u64,
    /// Tries in all, for truncated/corrupt/transiently failing downloads (at least 1).
    pub max_attempts: u32,
}

/// 64 MiB, 3 attempts.
impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions { max_bytes: 64 * 1024 * 1024, max_attempts: 3 }
    }
}

/// A verified image written to disk by [`Client::download_image`].
#[derive(Debug, Clone)]
pub struct DownloadedImage {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// File size in bytes.
    pub bytes: u64,
    /// `"png"`, `"jpeg"` or `"webp"`.
    pub format: String,
}

/// A verified image held in memory by [`Client::fetch_image`].
#[derive(Clone)]
pub struct FetchedImage {
    /// The exact bytes PiAPI served (not re-encoded).
    pub bytes: Vec<u8>,
    /// Stored size (before any EXIF orientation), as in the file's header.
    pub width: u32,
    pub height: u32,
    /// `"png"`, `"jpeg"` or `"webp"`.
    pub format: String,
    /// What `bytes` decoded to during verification. Large: move it out and drop it as soon as it
    /// has been used; never keep it in long-lived structures.
    pub decoded: DecodedImage,
}

/// The pixels of a verified image, as decoded from its bytes, plus the orientation its decoder
/// reported (EXIF; [`Orientation::NoTransforms`](image::metadata::Orientation::NoTransforms)
/// when absent or unreadable).
///
/// The orientation is *not* applied to [`DecodedImage::pixels`] (they are the stored pixels,
/// `width × height` of the [`FetchedImage`]); [`DecodedImage::into_upright`] applies it, which
/// gives exactly what decoding the bytes and applying the decoder's orientation gives.
/// `Debug` prints only the size, colour type and orientation.
#[derive(Clone)]
pub struct DecodedImage {
    pixels: image::DynamicImage,
    orientation: image::metadata::Orientation,
}

impl DecodedImage {
    /// The stored pixels (orientation not applied).
    pub fn pixels(&self) -> &image::DynamicImage {
        &self.pixels
    }

    /// The orientation the decoder reported.
    pub fn orientation(&self) -> image::metadata::Orientation {
        self.orientation
    }

    /// The pixels with the orientation applied (a no-op move for upright images). CPU work for
    /// rotated ones: call it where blocking is fine.
    pub fn into_upright(self) -> image::DynamicImage {
        let mut img = self.pixels;
        img.apply_orientation(self.orientation);
        img
    }
}

impl fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DecodedImage {{ {}x{} {:?}, orientation: {:?} }}",
            self.pixels.width(),
            self.pixels.height(),
            self.pixels.color(),
            self.orientation
        )
    }
}

impl fmt::Debug for FetchedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedImage")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("decoded", &self.decoded)
            .finish()
    }
}

/// One failed try, and whether another try may help.
struct TryError {
    error: Error,
    retry: bool,
}

impl TryError {
    fn retry(error: Error) -> Self {
        TryError { error, retry: true }
    }
    fn fatal(error: Error) -> Self {
        TryError { error, retry: false }
    }
}

impl Client {
    /// Downloads and verifies an image in memory (see the module contract).
    ///
    /// `on_bytes(received, total)` is called as data arrives (`total` from `Content-Length`);
    /// it restarts from 0 on a retry. Errors: `Cancelled` when `cancel` fires,
    /// `DownloadFailed` (HTTP error, too large, truncated, network) or `InvalidImage` (not a
    /// decodable PNG/JPEG/WebP) once the attempts are used up or when a retry cannot help.
    pub async fn fetch_image(
        &self,
        url: &str,
        opts: &DownloadOptions,
        cancel: &CancellationToken,
        on_bytes: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<FetchedImage> {
        let parsed =
            url::Url::parse(url).map_err(|e| download_error(url, format!("the URL is invalid: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(download_error(url, "only http and https image URLs are supported"));
        }
        let attempts = opts.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled { task_id: None });
            }
            let err = match self.fetch_once(url, opts, cancel, on_bytes).await {
                Ok(img) => return Ok(img),
                Err(e) => e,
            };
            if matches!(err.error, Error::Cancelled { .. }) || !err.retry || attempt >= attempts {
                return Err(err.error);
            }
            let wait = Duration::from_millis(150u64.saturating_mul(1 << attempt.min(4)));
            tracing::debug!(attempt, error = %err.error, "image download failed; retrying");
            tokio::select! {
                () = cancel.cancelled() => return Err(Error::Cancelled { task_id: None }),
                () = tokio::time::sleep(wait) => {}
            }
            attempt += 1;
        }
    }

    /// Like [`Client::fetch_image`] without progress, returning `(bytes, width, height, format)`.
    pub async fn download_to_memory(
        &self,
        url: &str,
        opts: &DownloadOptions,
        cancel: &CancellationToken,
    ) -> Result<(Vec<u8>, u32, u32, String)> {
        let img = self.fetch_image(url, opts, cancel, &mut |_, _| {}).await?;
        Ok((img.bytes, img.width, img.height, img.format))
    }

    /// Downloads, verifies and atomically writes an image to `dest`, which must not exist yet
    /// (callers choose unique names; an existing file is never overwritten).
    ///
    /// Errors: as [`Client::fetch_image`], plus `DownloadFailed` when `dest` exists or cannot be
    /// written. Nothing is left at `dest` or beside it on failure.
    pub async fn download_image(
        &self,
        url: &str,
        dest: &Path,
        opts: &DownloadOptions,
        cancel: &CancellationToken,
        on_bytes: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<DownloadedImage> {
        if dest.exists() {
            return Err(destination_exists(url, dest));
        }
        let img = self.fetch_image(url, opts, cancel, on_bytes).await?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled { task_id: None });
        }
        let dest_owned = dest.to_path_buf();
        let url_owned = url.to_owned();
        let FetchedImage { bytes, width, height, format, decoded } = img;
        drop(decoded); // only the bytes are written; free the pixels before the disk work
        let size = bytes.len() as u64;
        tokio::task::spawn_blocking(move || write_new_file(&dest_owned, &bytes, &url_owned))
            .await
            .map_err(|e| download_error(url, format!("the file writer stopped unexpectedly: {e}")))??;
        Ok(DownloadedImage { path: dest.to_path_buf(), width, height, bytes: size, format })
    }

    async fn fetch_once(
        &self,
        url: &str,
        opts: &DownloadOptions,
        cancel: &CancellationToken,
        on_bytes: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> std::result::Result<FetchedImage, TryError> {
        let request = self.http().get(url).send();
        let response = tokio::select! {
            () = cancel.cancelled() => return Err(TryError::fatal(Error::Cancelled { task_id: None })),
            r = request => r.map_err(|e| TryError::retry(download_error(url, crate::client::describe(&e))))?,
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let error = download_error(url, format!("the image server answered HTTP {status}"));
            let retry = matches!(status, 408 | 425 | 429 | 500..=599);
            return Err(TryError { error, retry });
        }
        let total = response.content_length();
        if let Some(len) = total.filter(|len| *len > opts.max_bytes) {
            return Err(TryError::fatal(download_error(
                url,
                format!("the image is {len} bytes, more than the {} byte limit", opts.max_bytes),
            )));
        }
        let capacity = usize::try_from(total.unwrap_or(0).min(opts.max_bytes)).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        on_bytes(0, total);
        let mut stream = response.bytes_stream();
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return Err(TryError::fatal(Error::Cancelled { task_id: None })),
                n = stream.next() => n,
            };
            let Some(chunk) = next else { break };
            let chunk =
                chunk.map_err(|e| TryError::retry(download_error(url, crate::client::describe(&e))))?;
            if (bytes.len() + chunk.len()) as u64 > opts.max_bytes {
                return Err(TryError::fatal(download_error(
                    url,
                    format!("the image is larger than the {} byte limit", opts.max_bytes),
                )));
            }
            bytes.extend_from_slice(&chunk);
            on_bytes(bytes.len() as u64, total);
        }
        let received = bytes.len() as u64;
        if let Some(expected) = total.filter(|t| *t != received) {
            return Err(TryError::retry(download_error(
                url,
                format!("the download is truncated: {received} of {expected} bytes arrived"),
            )));
        }
        if bytes.is_empty() {
            return Err(TryError::retry(download_error(url, "the image server sent an empty body")));
        }
        let verified =
            tokio::task::spawn_blocking(move || verify_image(&bytes).map(|v| (bytes, v))).await.map_err(
                |e| TryError::retry(Error::InvalidImage { message: format!("the decoder stopped: {e}") }),
            )?;
        let (bytes, (decoded, format)) = verified.map_err(TryError::retry)?;
        let (width, height) = (decoded.pixels.width(), decoded.pixels.height());
        Ok(FetchedImage { bytes, width, height, format: format.to_owned(), decoded })
    }
}

/// Fully decodes `bytes` and returns the pixels (with the decoder's orientation) and the format;
/// only PNG, JPEG and WebP pass. Decoding is exactly `ImageReader::decode`'s (same default
/// limits, same allocation check), split only to read the orientation first.
pub(crate) fn verify_image(bytes: &[u8]) -> Result<(DecodedImage, &'static str)> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::InvalidImage { message: format!("could not read the file: {e}") })?;
    let format = match reader.format() {
        Some(image::ImageFormat::Png) => "png",
        Some(image::ImageFormat::Jpeg) => "jpeg",
        Some(image::ImageFormat::WebP) => "webp",
        Some(other) => {
            return Err(Error::InvalidImage { message: format!("{other:?} images are not supported") });
        }
        None => {
            return Err(Error::InvalidImage {
                message: "the data is not a PNG, JPEG or WebP image".to_owned(),
            });
        }
    };
    let not_decodable = |e: image::ImageError| Error::InvalidImage {
        message: format!("the {format} data does not decode: {e}"),
    };
    let mut decoder = reader.into_decoder().map_err(not_decodable)?;
    image::Limits::default().reserve(decoder.total_bytes()).map_err(not_decodable)?;
    // Same fallback as the thumbnailer: an unreadable orientation means "as stored".
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let pixels = image::DynamicImage::from_decoder(decoder).map_err(not_decodable)?;
    if pixels.width() == 0 || pixels.height() == 0 {
        return Err(Error::InvalidImage { message: "the image has no pixels".to_owned() });
    }
    Ok((DecodedImage { pixels, orientation }, format))
}

/// Writes `bytes` to a temp file beside `dest`, fsyncs it and renames it to `dest` without
/// overwriting. The temp file is removed on every failure path.
fn write_new_file(dest: &Path, bytes: &[u8], url: &str) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io_error =
        |what: &str, e: std::io::Error| download_error(url, format!("{what} {}: {e}", dest.display()));
    let mut tmp = tempfile::Builder::new()
        .prefix(".fluxdesk-download-")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(|e| io_error("could not create a temporary file for", e))?;
    tmp.write_all(bytes).map_err(|e| io_error("could not write", e))?;
    tmp.as_file().sync_all().map_err(|e| io_error("could not flush", e))?;
    tmp.persist_noclobber(dest).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            destination_exists(url, dest)
        } else {
            io_error("could not move the download into place at", e.error)
        }
    })?;
    // Make the rename durable; failure here does not undo a complete, correct file.
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn destination_exists(url: &str, dest: &Path) -> Error {
    download_error(url, format!("destination exists: {} (choose a new file name)", dest.display()))
}

fn download_error(url: &str, message: impl Into<String>) -> Error {
    Error::DownloadFailed { url: url.to_owned(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    /// `(width, height, format)` of a verified image.
    fn dims(v: (DecodedImage, &'static str)) -> (u32, u32, &'static str) {
        (v.0.pixels().width(), v.0.pixels().height(), v.1)
    }

    #[test]
    fn options_default() {
        let o = DownloadOptions::default();
        assert_eq!(o.max_bytes, 64 * 1024 * 1024);
        assert_eq!(o.max_attempts, 3);
    }

    #[test]
    fn verifies_a_real_png_and_jpeg() {
        assert_eq!(dims(verify_image(&png(40, 30)).expect("png")), (40, 30, "png"));
        let mut jpg = Cursor::new(Vec::new());
        image::RgbImage::new(16, 8).write_to(&mut jpg, image::ImageFormat::Jpeg).expect("jpeg");
        assert_eq!(dims(verify_image(jpg.get_ref()).expect("jpeg")), (16, 8, "jpeg"));
    }

    #[test]
    fn truncated_png_is_rejected() {
        let full = png(64, 64);
        for cut in [full.len() - 12, full.len() / 2, 40, 8] {
            let e = verify_image(&full[..cut]).expect_err("truncated must fail");
            assert!(matches!(e, Error::InvalidImage { .. }), "{cut}: {e:?}");
        }
    }

    #[test]
    fn garbage_and_html_are_rejected() {
        for data in [&b"<html>502 Bad Gateway</html>"[..], b"", b"\x89PNG\r\n\x1a\nnope"] {
            assert!(matches!(verify_image(data), Err(Error::InvalidImage { .. })));
        }
    }

    #[test]
    fn write_new_file_never_overwrites_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("a.png");
        write_new_file(&dest, b"first", "u").expect("first write");
        let e = write_new_file(&dest, b"second", "u").expect_err("must not clobber");
        assert!(e.to_string().contains("destination exists"), "{e}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"first");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.png")]);
    }

    #[test]
    fn verified_pixels_are_what_the_bytes_decode_to() {
        let bytes = png(33, 17);
        let (decoded, _) = verify_image(&bytes).expect("png");
        let reference = image::load_from_memory(&bytes).expect("decode");
        assert_eq!(decoded.pixels(), &reference);
        assert_eq!(decoded.orientation(), image::metadata::Orientation::NoTransforms);
        assert_eq!(decoded.into_upright(), reference);
    }

    #[test]
    fn fetched_image_debug_hides_the_bytes_and_pixels() {
        let decoded = DecodedImage {
            pixels: image::DynamicImage::new_rgb8(1, 2),
            orientation: image::metadata::Orientation::NoTransforms,
        };
        let f = FetchedImage { bytes: vec![1; 1000], width: 1, height: 2, format: "png".into(), decoded };
        assert_eq!(
            format!("{f:?}"),
            "FetchedImage { bytes: <1000 bytes>, width: 1, height: 2, format: \"png\", \
             decoded: DecodedImage { 1x2 Rgb8, orientation: NoTransforms } }"
        );
    }
}
