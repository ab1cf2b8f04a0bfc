//! Input images of image tasks (img2img, inpaint, outpaint, variation, Kontext, ControlNet,
//! upscale): read once at plan time, made to fit, and kept as content-addressed PNGs until the
//! runner uploads them.
//!
//! Why: PiAPI takes input images only as URLs, so every local file goes through the ephemeral
//! upload endpoint right before the create. Preparing the file when the job is recorded (not when
//! it is sent) means a queued job never depends on a file the user may move or edit meanwhile,
//! and a bad input is refused before anything is recorded or paid for.
//!
//! Contract:
//! - [`prepare_input`] decodes any PNG/JPEG/WebP/GIF, downscales it (aspect kept) to at most
//!   [`piapi::MAX_PIXELS`] pixels — for outpaint so that the source plus the margins fits — burns
//!   the inpaint mask in as pure white, encodes a PNG and stores it as `<inputs>/<sha256>.png`
//!   (identical inputs share one file). The result is always ≤ [`piapi::MAX_UPLOAD_BYTES`].
//! - Masks: white means "repaint": alpha ≥ 128 when the mask has an alpha channel, else luma ≥ 128.
//!   A mask of another size is resized to the source first.
//! - Errors are [`Error::InvalidInput`] on the field the user set (`source`, `mask`, `control`,
//!   `outpaint`), saying what to do; nothing here touches the network or the database.
//! - Storing a file that is already there (the same input again) refreshes its mtime, so a file
//!   about to be recorded with a new task always looks freshly written.
//! - [`clean_inputs`] removes the files no task can still use: see its contract.
//! - Everything blocks (decode, resize, encode, disk): async callers use `spawn_blocking`.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use image::{DynamicImage, GenericImageView, ImageFormat, RgbImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ledger::Ledger;
use crate::views::{Margins, MaskInput};
use crate::{Error, Result, files};

/// The folder under the data folder (`FLUXDESK_HOME`) holding prepared inputs.
pub const INPUTS_DIR: &str = "inputs";
/// The smallest side a source may be shrunk to so outpaint margins fit.
pub const MIN_SOURCE_SIDE: u32 = 64;
/// How long [`clean_inputs`] leaves a file alone after it was last written, whatever the ledger
/// says: an input is prepared (or pasted) before the task that uses it is recorded.
pub const INPUTS_GRACE: Duration = Duration::from_secs(60 * 60);
/// How long a failed, cancelled or abandoned task keeps its prepared inputs for a retry. After
/// that [`clean_inputs`] may remove them, and a retry says the input is gone and to start a new
/// job with the image (the gallery image it came from is untouched).
pub const RETRY_INPUTS_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The prefix of `crate::files`' temporary files (a crash mid-write can leave one behind).
const TEMP_PREFIX: &str = ".fluxdesk-tmp-";

/// `<home>/inputs`.
pub fn inputs_dir(home: &Path) -> PathBuf {
    home.join(INPUTS_DIR)
}

/// One prepared input file (a PNG under [`INPUTS_DIR`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PreparedInput {
    /// Absolute path of the PNG.
    pub path: String,
    /// SHA-256 of the file's bytes (hex), also its file name; the upload cache key.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// The prepared inputs of a task, recorded in the ledger (`tasks.sources_json`) with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct TaskSources {
    /// Sent as `input.image`.
    pub image: Option<PreparedInput>,
    /// Sent as `input.control_net_settings[0].control_image`.
    pub control_image: Option<PreparedInput>,
    /// The gallery image the source came from (recorded on the results).
    pub source_image_id: Option<i64>,
}

impl TaskSources {
    pub fn is_empty(&self) -> bool {
        self == &TaskSources::default()
    }
}

/// Reads an input file. A missing or unreadable file is [`Error::InvalidInput`] on `field`.
pub fn read_input_file(path: &Path, field: &str) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::invalid_input(
            field,
            format!("the file {} does not exist; choose another image", path.display()),
        )),
        Err(e) => Err(Error::invalid_input(
            field,
            format!("the file {} could not be read ({e}); choose another image", path.display()),
        )),
    }
}

/// Decodes image bytes (PNG, JPEG, WebP, GIF). Anything else is [`Error::InvalidInput`] on
/// `field`.
pub fn decode_image(bytes: &[u8], field: &str, name: &str) -> Result<DynamicImage> {
    let not_image = |why: String| {
        Error::invalid_input(
            field,
            format!("{name} is not an image Fluxdesk can read ({why}); use a PNG, JPEG, WebP or GIF file"),
        )
    };
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| not_image(e.to_string()))?;
    if reader.format().is_none() {
        return Err(not_image("unrecognised format".into()));
    }
    reader.decode().map_err(|e| not_image(e.to_string()))
}

/// The width and height of an image file from its header (no full decode).
pub fn image_dimensions(path: &Path, field: &str) -> Result<(u32, u32)> {
    if !path.is_file() {
        return Err(Error::invalid_input(
            field,
            format!("the file {} does not exist; choose another image", path.display()),
        ));
    }
    let not_image = |why: String| {
        Error::invalid_input(
            field,
            format!(
                "{} is not an image Fluxdesk can read ({why}); use a PNG, JPEG, WebP or GIF file",
                path.display()
            ),
        )
    };
    image::ImageReader::open(path)
        .map_err(|e| not_image(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| not_image(e.to_string()))?
        .into_dimensions()
        .map_err(|e| not_image(e.to_string()))
}

/// The size `(w, h)` is scaled to (aspect kept, never enlarged) so it has at most
/// [`piapi::MAX_PIXELS`] pixels.
pub fn fit_pixels(w: u32, h: u32) -> (u32, u32) {
    let max = piapi::MAX_PIXELS;
    if u64::from(w) * u64::from(h) <= max {
        return (w, h);
    }
    let s = (max as f64 / (f64::from(w) * f64::from(h))).sqrt();
    let (mut a, mut b) = (scaled(w, s), scaled(h, s));
    while u64::from(a) * u64::from(b) > max {
        if a >= b { a -= 1 } else { b -= 1 }
    }
    (a, b)
}

/// The size the source of an outpaint is scaled to (aspect kept, never enlarged) so that the
/// source plus the margins has at most [`piapi::MAX_PIXELS`] pixels. [`Error::InvalidInput`] on
/// `outpaint` when even a source of [`MIN_SOURCE_SIDE`] pixels would not fit, or no margin is set.
pub fn fit_for_outpaint(w: u32, h: u32, m: &Margins) -> Result<(u32, u32)> {
    let (ml, mt) = (u64::from(m.left) + u64::from(m.right), u64::from(m.top) + u64::from(m.bottom));
    if ml + mt == 0 {
        return Err(Error::invalid_input("outpaint", "all margins are 0; add pixels on at least one side"));
    }
    let max = piapi::MAX_PIXELS;
    let fits = |a: u32, b: u32| (u64::from(a) + ml) * (u64::from(b) + mt) <= max;
    let (mut a, mut b) = fit_pixels(w, h);
    if !fits(a, b) {
        // Solve (s·w + ml)(s·h + mt) = max for s.
        let (wf, hf, lf, tf) = (f64::from(w), f64::from(h), ml as f64, mt as f64);
        let qa = wf * hf;
        let qb = wf * tf + hf * lf;
        let qc = lf * tf - max as f64;
        let disc = qb * qb - 4.0 * qa * qc;
        let s = if disc > 0.0 { (-qb + disc.sqrt()) / (2.0 * qa) } else { 0.0 };
        a = scaled(w, s.max(0.0));
        b = scaled(h, s.max(0.0));
        while a > 1 && b > 1 && !fits(a, b) {
            if a >= b { a -= 1 } else { b -= 1 }
        }
    }
    if !fits(a, b) || a.min(b) < MIN_SOURCE_SIDE.min(w.min(h)) {
        return Err(Error::invalid_input(
            "outpaint",
            format!(
                "margins of {}/{}/{}/{} px (left/right/top/bottom) are too large: the image plus margins \
                 must stay within 1,048,576 pixels; use smaller margins",
                m.left, m.right, m.top, m.bottom
            ),
        ));
    }
    Ok((a, b))
}

fn scaled(v: u32, s: f64) -> u32 {
    ((f64::from(v) * s).floor() as u32).clamp(1, v.max(1))
}

/// Reads a mask: a file or base64 PNG bytes (a `data:` prefix is tolerated).
pub fn load_mask(mask: &MaskInput) -> Result<DynamicImage> {
    match (mask.path.as_deref(), mask.png_base64.as_deref()) {
        (Some(p), None) => {
            let path = Path::new(p);
            let bytes = read_input_file(path, "mask")?;
            decode_image(&bytes, "mask", &path.display().to_string())
        }
        (None, Some(b64)) => {
            let data = b64.trim();
            let data = match data.split_once(";base64,") {
                Some((head, rest)) if head.starts_with("data:") => rest,
                _ => data,
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| {
                Error::invalid_input("mask", "the mask is not valid base64 PNG data; paint the mask again")
            })?;
            decode_image(&bytes, "mask", "the mask")
        }
        _ => Err(Error::invalid_input(
            "mask",
            "give the mask either as a file or as PNG data, not both or neither",
        )),
    }
}

/// Burns `mask` into `src` as pure white: every pixel the mask marks (alpha ≥ 128 when the mask
/// has alpha, else luma ≥ 128) becomes (255, 255, 255). A mask of another size is resized to the
/// source first. Returns how many pixels were burned.
pub fn burn_mask(src: &mut RgbImage, mask: &DynamicImage) -> u64 {
    let (w, h) = src.dimensions();
    let use_alpha = mask.color().has_alpha();
    let mask = if mask.dimensions() == (w, h) {
        mask.to_luma_alpha8()
    } else {
        image::imageops::resize(&mask.to_luma_alpha8(), w, h, image::imageops::FilterType::Triangle)
    };
    let mut burned = 0;
    for (p, m) in src.pixels_mut().zip(mask.pixels()) {
        let [luma, alpha] = m.0;
        let marked = if use_alpha { alpha >= 128 } else { luma >= 128 };
        if marked {
            p.0 = [255, 255, 255];
            burned += 1;
        }
    }
    burned
}

/// What [`prepare_input`] does to one input.
#[derive(Debug, Clone, Default)]
pub struct PrepareOptions {
    /// The request field the input belongs to (`source` or `control`), for errors.
    pub field: &'static str,
    /// Outpaint margins: the source is shrunk so source + margins fits.
    pub outpaint: Option<Margins>,
    /// An inpaint mask to burn in.
    pub mask: Option<DynamicImage>,
}

/// Decodes `bytes`, fits, burns the mask, encodes a PNG and stores it in `dir` (see the module
/// contract). `name` names the input in errors (a path, or "image 12").
pub fn prepare_input(bytes: &[u8], name: &str, opts: &PrepareOptions, dir: &Path) -> Result<PreparedInput> {
    let img = decode_image(bytes, opts.field, name)?;
    let (w, h) = img.dimensions();
    let (tw, th) = match &opts.outpaint {
        Some(m) => fit_for_outpaint(w, h, m)?,
        None => fit_pixels(w, h),
    };
    let mut rgb = if (tw, th) == (w, h) {
        img.to_rgb8()
    } else {
        image::imageops::resize(&img.to_rgb8(), tw, th, image::imageops::FilterType::Lanczos3)
    };
    if let Some(mask) = &opts.mask
        && burn_mask(&mut rgb, mask) == 0
    {
        return Err(Error::invalid_input(
            "mask",
            "the mask marks nothing to repaint; paint (white) over the area to change",
        ));
    }
    let png = encode_png(&rgb)?;
    store_png(dir, &png, tw, th)
}

/// Encodes an RGB image as PNG.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| Error::Image(format!("the input could not be encoded as PNG: {e}")))?;
    Ok(out)
}

/// Stores PNG bytes as `<dir>/<sha256>.png` (kept when already there). Refuses bytes above
/// [`piapi::MAX_UPLOAD_BYTES`].
pub fn store_png(dir: &Path, png: &[u8], width: u32, height: u32) -> Result<PreparedInput> {
    if png.len() > piapi::MAX_UPLOAD_BYTES {
        return Err(Error::invalid_input(
            "source",
            format!(
                "the prepared image is {} MB, above the {} MB upload limit; use a smaller image",
                png.len() / (1024 * 1024),
                piapi::MAX_UPLOAD_BYTES / (1024 * 1024)
            ),
        ));
    }
    let sha256 = sha256_hex(png);
    let path = dir.join(format!("{sha256}.png"));
    match files::write_new_file(&path, png) {
        Ok(()) => {}
        // A damaged leftover under our name: replace it.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            files::write_replace(&path, png)?;
        }
        Err(e) => return Err(e),
    }
    // The file may have been there for days (the same input again): it is about to be recorded
    // with a new task, so it must not look old to `clean_inputs` meanwhile.
    mark_fresh(&path);
    Ok(PreparedInput {
        path: path.to_string_lossy().into_owned(),
        sha256,
        width,
        height,
        bytes: png.len() as u64,
    })
}

/// Pasted or dropped bytes as a stored PNG (not resized: that happens when a job uses it).
pub fn stage_bytes(bytes: &[u8], dir: &Path) -> Result<PreparedInput> {
    let img = decode_image(bytes, "source", "the pasted image")?;
    let (w, h) = img.dimensions();
    let is_png = image::guess_format(bytes).ok() == Some(ImageFormat::Png);
    if is_png && bytes.len() <= piapi::MAX_UPLOAD_BYTES {
        return store_png(dir, bytes, w, h);
    }
    let png = encode_png(&img.to_rgb8())?;
    if png.len() > piapi::MAX_UPLOAD_BYTES {
        // Too big to keep as is: fitting it now loses nothing a job would keep.
        let (tw, th) = fit_pixels(w, h);
        let small = image::imageops::resize(&img.to_rgb8(), tw, th, image::imageops::FilterType::Lanczos3);
        return store_png(dir, &encode_png(&small)?, tw, th);
    }
    store_png(dir, &png, w, h)
}

/// Sets the file's mtime to now (best effort: at worst the file looks as old as it is).
fn mark_fresh(path: &Path) {
    let touched =
        std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = touched {
        tracing::debug!(path = %path.display(), error = %e, "could not refresh the input's mtime");
    }
}

/// What [`clean_inputs`] did. Every file it looked at is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct InputsCleanup {
    /// Files removed.
    pub removed: u32,
    /// Their total size in bytes.
    pub removed_bytes: u64,
    /// Kept: a task that may still be sent, resumed or retried uses them.
    pub in_use: u32,
    /// Kept: written less than the grace period ago.
    pub recent: u32,
    /// Left alone: not a file Fluxdesk writes there (other names, folders, symbolic links).
    pub foreign: u32,
    /// Could not be checked or removed (each is logged).
    pub failed: u32,
}

/// Removes the prepared inputs in `dir` that no task needs any more.
///
/// Contract:
/// - A file is in use when the recorded inputs of a task that is not Saved name it
///   ([`Ledger::sources_in_use`]): queued and in-flight tasks upload it, failed, cancelled and
///   abandoned ones can be retried with it — for [`RETRY_INPUTS_FOR`] after they ended (a
///   designer's failed img2img tasks no longer keep their inputs for ever). Names are matched by their SHA-256 anywhere in the
///   recorded JSON, so a path under a moved data folder, or a newer Fluxdesk's format, still
///   protects its file.
/// - Only regular files named as this module names them (`<sha256>.png`) and leftover temp files
///   of [`crate::files`] are candidates. Folders, symbolic links (even ones named like an input)
///   and other files are never followed, opened or removed; when `dir` itself is a symbolic
///   link nothing is done. Nothing outside `dir` is touched.
/// - A file written (or stored again, see [`store_png`]) less than `grace` ago is kept, so an
///   input prepared for a task not recorded yet survives. Each candidate's age is checked again
///   right before it is removed, after the ledger was read.
/// - A missing `dir` is nothing to do. One file that cannot be removed is logged and counted in
///   [`InputsCleanup::failed`]; listing `dir` or reading the ledger failing is the error.
/// - The outcome is logged (`tracing`, counts only). Blocks: async callers use `spawn_blocking`.
pub fn clean_inputs(dir: &Path, ledger: &Ledger, grace: Duration) -> Result<InputsCleanup> {
    let mut report = InputsCleanup::default();
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() => {
            tracing::info!(dir = %dir.display(), "the inputs folder is a symbolic link; not cleaning it");
            return Ok(report);
        }
        Ok(_) => return Ok(report),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(Error::io("reading the inputs folder", dir, e)),
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("reading the inputs folder", dir, e))?;
    let now = SystemTime::now();
    let mut candidates: Vec<(PathBuf, Option<String>)> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not list an entry of the inputs folder");
                report.failed += 1;
                continue;
            }
        };
        let path = entry.path();
        let name = entry.file_name();
        let Some(kind) = candidate_kind(name.to_str()) else {
            report.foreign += 1;
            continue;
        };
        if report.old_enough(&path, old_file(&path, now, grace)).is_some() {
            candidates.push((path, kind));
        }
    }
    if !candidates.is_empty() {
        // Read after listing: a task recorded meanwhile either shows up here or stored its file
        // again (fresh mtime), which the second age check below sees.
        let retry_since = chrono::Utc::now()
            - chrono::Duration::from_std(RETRY_INPUTS_FOR).unwrap_or_else(|_| chrono::Duration::days(30));
        let in_use = hex_names(&ledger.sources_in_use(retry_since)?);
        for (path, sha) in candidates {
            if sha.as_ref().is_some_and(|s| in_use.contains(s)) {
                report.in_use += 1;
                continue;
            }
            let Some(bytes) = report.old_enough(&path, old_file(&path, SystemTime::now(), grace)) else {
                continue;
            };
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    report.removed += 1;
                    report.removed_bytes += bytes;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove an unused input file");
                    report.failed += 1;
                }
            }
        }
    }
    if report.removed > 0 || report.failed > 0 {
        tracing::info!(
            removed = report.removed,
            removed_bytes = report.removed_bytes,
            in_use = report.in_use,
            recent = report.recent,
            failed = report.failed,
            "cleaned the inputs folder"
        );
    } else {
        tracing::debug!(?report, "nothing to clean in the inputs folder");
    }
    Ok(report)
}

/// `Some(Some(sha))` for `<sha256>.png`, `Some(None)` for a leftover temp file, `None` for a
/// name this module never writes.
fn candidate_kind(name: Option<&str>) -> Option<Option<String>> {
    let name = name?;
    if name.starts_with(TEMP_PREFIX) {
        return Some(None);
    }
    let stem = name.strip_suffix(".png")?;
    is_sha256_hex(stem).then(|| Some(stem.to_owned()))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every 64-character run of lowercase hex digits in `texts` (the SHA-256 names they mention).
fn hex_names(texts: &[String]) -> HashSet<String> {
    let mut out = HashSet::new();
    for text in texts {
        let b = text.as_bytes();
        let mut start = 0;
        while start < b.len() {
            let len = b[start..].iter().take_while(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')).count();
            // A longer run is unusual; every 64-character window of it counts (conservative).
            for i in 0..len.saturating_sub(63) {
                out.insert(text[start + i..start + i + 64].to_owned());
            }
            start += len.max(1);
        }
    }
    out
}

impl InputsCleanup {
    /// The file's size when `age` says it is old enough to remove; otherwise counts why it stays
    /// (recent, not a file, unreadable — logged) and returns `None`.
    fn old_enough(&mut self, path: &Path, age: std::io::Result<Age>) -> Option<u64> {
        match age {
            Ok(Age::Old(bytes)) => return Some(bytes),
            Ok(Age::Recent) => self.recent += 1,
            Ok(Age::NotAFile) => self.foreign += 1,
            Ok(Age::Gone) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not check an input file");
                self.failed += 1;
            }
        }
        None
    }
}

enum Age {
    /// A regular file written at least `grace` ago, and its size.
    Old(u64),
    Recent,
    /// A folder, a symbolic link or anything else.
    NotAFile,
    Gone,
}

/// How old the entry at `path` is, without following a symbolic link. An mtime in the future
/// counts as recent.
fn old_file(path: &Path, now: SystemTime, grace: Duration) -> std::io::Result<Age> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Age::Gone),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Ok(Age::NotAFile);
    }
    let age = now.duration_since(meta.modified()?).unwrap_or(Duration::ZERO);
    Ok(if age >= grace { Age::Old(meta.len()) } else { Age::Recent })
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 40]))
    }

    #[test]
    fn mask_burns_white_where_marked_and_keeps_the_rest() {
        let src = gradient(64, 48);
        let mut burned = src.clone();
        // Luma mask: the left half white.
        let mask = GrayImage::from_fn(64, 48, |x, _| Luma([if x < 32 { 255 } else { 0 }]));
        let n = burn_mask(&mut burned, &DynamicImage::ImageLuma8(mask));
        assert_eq!(n, 32 * 48);
        for (x, y, p) in burned.enumerate_pixels() {
            if x < 32 {
                assert_eq!(p.0, [255, 255, 255], "({x},{y}) burned");
            } else {
                assert_eq!(p, src.get_pixel(x, y), "({x},{y}) kept");
            }
        }
    }

    #[test]
    fn mask_of_another_size_is_resized_and_alpha_decides_when_present() {
        let src = gradient(100, 80);
        let mut burned = src.clone();
        // A 10×8 RGBA mask: black but opaque in the top half (painted), transparent below.
        let mask =
            RgbaImage::from_fn(
                10,
                8,
                |_, y| if y < 4 { Rgba([0, 0, 0, 255]) } else { Rgba([255, 255, 255, 0]) },
            );
        burn_mask(&mut burned, &DynamicImage::ImageRgba8(mask));
        assert_eq!(burned.get_pixel(50, 10).0, [255, 255, 255], "opaque mask pixel burns");
        assert_eq!(
            burned.get_pixel(50, 70),
            src.get_pixel(50, 70),
            "transparent mask pixel keeps the source"
        );
    }

    #[test]
    fn sizes_fit_the_pixel_budget_keeping_aspect() {
        assert_eq!(fit_pixels(1024, 1024), (1024, 1024));
        let (w, h) = fit_pixels(4000, 3000);
        assert!(u64::from(w) * u64::from(h) <= piapi::MAX_PIXELS);
        assert!((f64::from(w) / f64::from(h) - 4.0 / 3.0).abs() < 0.01);
        let m = Margins { left: 256, right: 256, top: 0, bottom: 0 };
        let (w, h) = fit_for_outpaint(1024, 1024, &m).expect("fits");
        assert!((u64::from(w) + 512) * u64::from(h) <= piapi::MAX_PIXELS, "{w}x{h}");
        assert!(w >= 790 && (i64::from(w) - i64::from(h)).abs() <= 1, "{w}x{h}");
        let huge = Margins { left: 1000, right: 1000, top: 1000, bottom: 1000 };
        assert!(fit_for_outpaint(512, 512, &huge).unwrap_err().to_string().contains("1,048,576"));
        assert!(fit_for_outpaint(512, 512, &Margins::default()).is_err());
    }

    #[test]
    fn prepare_stores_a_content_addressed_png_and_rejects_non_images() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut png = Vec::new();
        gradient(1500, 1000).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).expect("png");
        let opts = PrepareOptions { field: "source", ..PrepareOptions::default() };
        let a = prepare_input(&png, "a.png", &opts, dir.path()).expect("prepared");
        assert!(u64::from(a.width) * u64::from(a.height) <= piapi::MAX_PIXELS);
        assert!(a.path.ends_with(&format!("{}.png", a.sha256)));
        let stored = std::fs::read(&a.path).expect("stored");
        assert_eq!(sha256_hex(&stored), a.sha256);
        let again = prepare_input(&png, "a.png", &opts, dir.path()).expect("again");
        assert_eq!(again, a, "same input, same file");
        let err = prepare_input(b"hello, not an image", "notes.txt", &opts, dir.path()).unwrap_err();
        assert_eq!(err.code(), piapi::ErrorCode::InvalidInput);
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }
}
