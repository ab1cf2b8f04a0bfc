//! Bringing outside images into the gallery: files or whole folders, copied and indexed.
//!
//! Why: users have images from other tools (A1111, ComfyUI, earlier Fluxdesk exports, plain
//! photos) and want one place to browse them. The gallery folder stays the source of truth, so
//! imports are real copies inside it, carrying whatever metadata they already had.
//!
//! Contract:
//! - Inputs are files or folders; folders are walked recursively (symlinked folders and hidden
//!   entries are not followed; only `png`/`jpg`/`jpeg`/`webp` files inside folders are
//!   considered, other files there are ignored). A file named directly that is not a PNG, JPEG
//!   or WebP image (by content) is reported in `failed`.
//! - Copies are byte for byte (so the content hash equals the source's) into the gallery's
//!   `YYYY/MM` folder of the import time (local), named after the original stem, slugified
//!   (`My Photo.JPG` → `my-photo.jpg`; `my-photo-2.jpg` if taken), never overwriting. The
//!   extension follows the real format.
//! - Exact duplicates (same BLAKE3 content hash as an indexed image, including an earlier file
//!   of the same import) and files already inside the gallery folder are counted in `skipped`.
//! - Metadata: ours (PNG chunk or XMP), else A1111 `parameters` (PNG text or EXIF
//!   `UserComment`); plain files get an empty prompt (the original name survives in the file
//!   name). The date is the metadata's, else the file's modification time.
//! - Every image is fully decoded (its thumbnail is made) before it is copied: an undecodable
//!   file is reported in `failed` and nothing of it lands in the gallery.
//! - Blocks (disk, decode): async callers use `spawn_blocking`.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Local, Utc};
use image::ImageFormat;
use serde::{Deserialize, Serialize};

use crate::export::{is_inside, read_embedded_metadata, write_unique};
use crate::gallery::{Gallery, IMAGE_EXTENSIONS, NewImage, PendingLink};
use crate::metadata::ImageMeta;
use crate::{Error, Result, files, thumbs};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Images copied into the gallery and indexed.
    pub imported: u32,
    /// Exact duplicates of gallery images (and files already in the gallery folder), not copied.
    pub skipped: u32,
    /// One line per file that could not be imported: `<path>: <reason>`.
    pub failed: Vec<String>,
    /// Ids of the imported images, in import order.
    pub ids: Vec<i64>,
}

/// Longest slug of an imported file name.
const NAME_CHARS: usize = 60;
/// Largest file imported (a 2048² PNG is ~12 MB; this leaves room for big photos).
const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Imports `paths` (files or folders) into `gallery`, dating the destination folder by `now`.
/// Per-file problems go to the report; an error means the gallery folder itself is unusable.
pub fn import_paths(gallery: &Gallery, paths: &[PathBuf], now: DateTime<Local>) -> Result<ImportReport> {
    if !gallery.root().is_dir() {
        return Err(Error::missing(format!("The gallery folder {}", gallery.root().display())));
    }
    let mut report = ImportReport::default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for p in paths {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => walk_images(p, &mut candidates, &mut report.failed),
            Ok(_) => candidates.push(p.clone()),
            Err(e) => report.failed.push(format!("{}: {}", p.display(), io_reason(&e))),
        }
    }
    let mut seen: HashSet<PathBuf> = HashSet::with_capacity(candidates.len());
    let dest_dir = gallery.root().join(now.format("%Y").to_string()).join(now.format("%m").to_string());
    let mut pending_links = Vec::new();
    for src in candidates {
        let key = fs::canonicalize(&src).unwrap_or_else(|_| src.clone());
        if !seen.insert(key) {
            continue;
        }
        if is_inside(&src, gallery.root()) {
            report.skipped += 1;
            continue;
        }
        match import_file(gallery, &src, &dest_dir, &mut pending_links) {
            Ok(Some(id)) => {
                report.imported += 1;
                report.ids.push(id);
            }
            Ok(None) => report.skipped += 1,
            Err(e) => {
                tracing::warn!(path = %src.display(), error = %e, "import failed");
                report.failed.push(format!("{}: {e}", src.display()));
            }
        }
    }
    // An image imported before its source (both in this import) is linked now.
    if let Err(e) = gallery.link_pending_sources(&pending_links) {
        tracing::warn!(error = %e, "imported images could not be linked to their sources");
    }
    Ok(report)
}

/// Copies and indexes one file. `Ok(None)`: an exact duplicate of a gallery image.
fn import_file(
    gallery: &Gallery,
    src: &Path,
    dest_dir: &Path,
    pending_links: &mut Vec<PendingLink>,
) -> Result<Option<i64>> {
    let fmeta = fs::metadata(src).map_err(|e| Error::io("reading the image", src, e))?;
    if fmeta.len() > MAX_FILE_BYTES {
        return Err(Error::Image(format!("the file is larger than {} MB", MAX_FILE_BYTES >> 20)));
    }
    let bytes = fs::read(src).map_err(|e| Error::io("reading the image", src, e))?;
    let ext = match image::guess_format(&bytes) {
        Ok(ImageFormat::Png) => "png",
        Ok(ImageFormat::Jpeg) => "jpg",
        Ok(ImageFormat::WebP) => "webp",
        _ => return Err(Error::Image("the file is not a PNG, JPEG or WebP image".into())),
    };
    let hash = files::content_hash(&bytes);
    if !gallery.find_by_hash(&hash)?.is_empty() {
        return Ok(None);
    }
    // Decoding the whole image (for its thumbnail) is the real validity check.
    let thumb = thumbs::thumb_path(gallery.thumbs_dir(), &hash);
    let (width, height) = match thumbs::make_thumbnail(&bytes, &thumb) {
        Ok(_) => image_size(&bytes)?,
        Err(e @ Error::Image(_)) => return Err(e),
        Err(e) => {
            // The image is fine; the cache is not. The thumbnail is made again lazily.
            tracing::warn!(path = %src.display(), error = %e, "thumbnail failed during import");
            image_size(&bytes)?
        }
    };
    let meta = match read_embedded_metadata(&bytes) {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(path = %src.display(), error = %e, "unreadable image metadata; importing without it");
            ImageMeta::default()
        }
    };
    let meta = ImageMeta { width, height, ..meta };
    let created_at = meta.created_at.or_else(|| mtime(&fmeta)).unwrap_or_else(Utc::now);

    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
    let slug = files::slugify(stem, NAME_CHARS);
    let dest = write_unique(dest_dir, &bytes, |n| {
        if n == 1 { format!("{slug}.{ext}") } else { format!("{slug}-{n}.{ext}") }
    })?;
    let indexed = (|| {
        let mut img = NewImage {
            rel_path: gallery.rel_path_of(&dest)?,
            meta,
            content_hash: hash,
            file_size: bytes.len() as u64,
            ledger_id: None,
            created_at,
        };
        let (id, inserted) = gallery.insert(&img)?;
        if inserted {
            pending_links.extend(PendingLink::of(&img));
            return Ok(id);
        }
        // Its task output is already in the gallery under other bytes (one row per task output):
        // index the copy without the task identity; the file keeps its metadata.
        img.meta.task_id = None;
        img.meta.output_index = None;
        match gallery.insert(&img)? {
            (id, true) => {
                pending_links.extend(PendingLink::of(&img));
                Ok(id)
            }
            _ => Err(Error::Internal(format!("the imported file {} could not be indexed", dest.display()))),
        }
    })();
    if indexed.is_err() {
        let _ = fs::remove_file(&dest);
    }
    indexed.map(Some)
}

fn image_size(bytes: &[u8]) -> Result<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("the image could not be read ({e})")))?
        .into_dimensions()
        .map_err(|e| Error::Image(format!("the image could not be read ({e})")))
}

fn mtime(m: &fs::Metadata) -> Option<DateTime<Utc>> {
    let d = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(d.as_millis()).ok()?)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Image files under `dir` (by extension), sorted per folder; hidden entries and symlinked
/// folders are skipped; unreadable folders are reported.
fn walk_images(dir: &Path, out: &mut Vec<PathBuf>, failed: &mut Vec<String>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                failed.push(format!("{}: {}", d.display(), io_reason(&e)));
                continue;
            }
        };
        let mut files_here = Vec::new();
        let mut dirs_here = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                dirs_here.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
                && fs::metadata(&path).is_ok_and(|m| m.is_file())
            {
                files_here.push(path);
            }
        }
        files_here.sort();
        out.extend(files_here);
        dirs_here.sort();
        stack.extend(dirs_here.into_iter().rev());
    }
}
