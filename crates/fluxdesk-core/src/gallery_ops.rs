//! Gallery operations on the [`Studio`] facade: export, import, delete with undo, reuse of an
//! image's settings ("Use settings", "Vary"), lazy thumbnails and clipboard bytes.
//!
//! Why a second `impl Studio` block: the facade stays one object for the shell and the CLI, while
//! the gallery's heavier operations live next to the gallery code. Everything here goes through
//! Studio's accessors (`gallery()`, `generate()`, `settings_view()`, and the crate's `undos()`).
//!
//! Contract:
//! - Disk and CPU work (decode, encode, hashing, the trash) runs on the blocking pool, never on
//!   an async worker.
//! - Undo of a delete: [`Studio::delete_images_undoable`] moves the files to the OS trash and
//!   keeps the removed rows (ratings, favourites, ledger ids) with the trash items in the
//!   studio's memory, under a random token, for the life of the studio (the newest
//!   [`MAX_PENDING_UNDOS`] deletes; the app has one studio for its life). [`Studio::undo_delete`]
//!   restores the files from the trash and puts the rows back with their original ids. On macOS
//!   the trash cannot be listed, so undo cannot take files out of it: after "Put Back" in the
//!   Finder, undo restores the rows.
//! - The API key never reaches an exported file: metadata comes from [`crate::metadata::ImageMeta`],
//!   which has no field for it.
//! - A rebuild ([`rebuild_keeping_links`]) keeps "made from" links by content, not by id: a link
//!   that cannot be recovered is cleared, never left pointing at an unrelated image.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::Local;
use piapi::{MAX_PIXELS, Model, Size, TaskType};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::export::{self, ExportFormat, parallel_map};
use crate::gallery::{Gallery, ImageRecord, ReconcileReport, ScanPosition, TrashedImage};
use crate::inputs::PreparedInput;
use crate::ledger::Ledger;
use crate::studio::{MAX_IMAGES_PER_REQUEST, Studio};
use crate::views::{ControlChoice, GenerateRequest, SourceImage};
use crate::{Error, Result, import, thumbs};

pub use crate::export::{ExportReport, ExportRequest};
pub use crate::import::ImportReport;

/// What [`Studio::delete_images_undoable`] did: pass `token` to [`Studio::undo_delete`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct DeleteReceipt {
    pub token: String,
    /// Images removed from the gallery (files that could not be trashed are not counted).
    pub count: u32,
}

/// Deletes whose undo is kept (older ones are forgotten; their files stay in the trash).
pub const MAX_PENDING_UNDOS: usize = 100;
/// Thumbnails made per blocking batch by [`Studio::fill_missing_thumbnails`].
const THUMB_BATCH: u32 = 64;

/// A delete that can still be undone.
struct PendingUndo {
    seq: u64,
    db_path: Option<PathBuf>,
    root: PathBuf,
    items: Vec<TrashedImage>,
}

/// A studio's deletes that can still be undone, by token (kept in [`Studio`]'s state; the newest
/// [`MAX_PENDING_UNDOS`]).
#[derive(Default)]
pub(crate) struct Undos {
    next_seq: u64,
    pending: BTreeMap<String, PendingUndo>,
}

impl Undos {
    /// Keeps a new delete under `token`, forgetting the oldest beyond [`MAX_PENDING_UNDOS`].
    fn add(&mut self, token: String, db_path: Option<PathBuf>, root: PathBuf, items: Vec<TrashedImage>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(token, PendingUndo { seq, db_path, root, items });
        while self.pending.len() > MAX_PENDING_UNDOS {
            let oldest = self.pending.iter().min_by_key(|(_, p)| p.seq).map(|(t, _)| t.clone());
            match oldest {
                Some(t) => self.pending.remove(&t),
                None => break,
            };
        }
    }

    /// Takes the delete kept under `token` (put it back with [`Undos::put_back`] if undo stops).
    fn take(&mut self, token: &str) -> Option<PendingUndo> {
        self.pending.remove(token)
    }

    /// Keeps what an undo could not restore, in its original place in the order.
    fn put_back(&mut self, token: &str, pending: PendingUndo) {
        self.pending.insert(token.to_owned(), pending);
    }
}

/// One thumbnail fill at a time (a second caller waits, then finds little left to do).
static THUMB_FILL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Studio {
    /// Exports the images as PNG, JPEG or WebP into `req.dest_dir`, keeping their prompt
    /// metadata (see [`crate::export`]). Never overwrites: `name (2).jpg` and so on.
    pub async fn export_images(&self, req: ExportRequest) -> Result<ExportReport> {
        let gallery = self.gallery();
        blocking(move || export::export_images(&gallery, &req)).await
    }

    /// Copies files or folders (recursively; png/jpg/jpeg/webp) into the gallery and indexes them
    /// with whatever metadata they carry; exact duplicates are skipped (see [`crate::import`]).
    pub async fn import_paths(&self, paths: Vec<String>) -> Result<ImportReport> {
        let gallery = self.gallery();
        let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        blocking(move || import::import_paths(&gallery, &paths, Local::now())).await
    }

    /// Moves the images' files to the OS trash and removes them from the index, keeping what
    /// [`Studio::undo_delete`] needs. Files already gone are fine. If no file could be trashed
    /// the first failure is returned; if some could, the receipt counts only those.
    pub async fn delete_images_undoable(&self, ids: &[i64]) -> Result<DeleteReceipt> {
        let gallery = self.gallery();
        let ids = ids.to_vec();
        let g = gallery.clone();
        let outcome = blocking(move || g.delete_for_undo(&ids)).await?;
        let token = format!("{:032x}", rand::random::<u128>());
        if outcome.removed.is_empty() {
            return match outcome.failures.into_iter().next() {
                Some(e) => Err(e),
                None => Ok(DeleteReceipt { token, count: 0 }),
            };
        }
        for e in &outcome.failures {
            tracing::warn!(error = %e, "an image could not be moved to the trash; it stays in the gallery");
        }
        let count = u32::try_from(outcome.removed.len()).unwrap_or(u32::MAX);
        lock(self.undos()).add(
            token.clone(),
            gallery.db().path().map(PathBuf::from),
            gallery.root().to_path_buf(),
            outcome.removed,
        );
        Ok(DeleteReceipt { token, count })
    }

    /// Undoes [`Studio::delete_images_undoable`]: restores the files from the trash to their
    /// places and re-indexes them with their ratings, favourites and ids. Returns how many images
    /// came back.
    ///
    /// Errors: [`Error::Missing`] for an unknown or used-up token, or when the files are no
    /// longer in the trash; [`Error::Io`] (kind `AlreadyExists`) when another file now has an
    /// image's name — the other images are restored, and undo can be retried for the rest once
    /// that file is moved; [`Error::InvalidInput`] where the trash cannot be read (macOS: use
    /// Put Back in the Finder, then undo restores the ratings) or when the gallery folder changed
    /// since the delete.
    pub async fn undo_delete(&self, token: &str) -> Result<u32> {
        let gallery = self.gallery();
        let pending = lock(self.undos()).take(token).ok_or_else(|| {
            Error::missing("That delete (it was already undone, or Fluxdesk was restarted since)")
        })?;
        if pending.root != gallery.root() || pending.db_path.as_deref() != gallery.db().path() {
            let root = pending.root.clone();
            lock(self.undos()).put_back(token, pending);
            return Err(Error::invalid_input(
                "token",
                format!(
                    "the images were deleted from another gallery folder ({}); switch back to it to undo",
                    root.display()
                ),
            ));
        }
        let seq = pending.seq;
        let db_path = pending.db_path.clone();
        let root = pending.root.clone();
        let total = pending.items.len();
        let g = gallery.clone();
        let outcome = blocking(move || Ok(restore_trashed(&g, pending.items))).await?;

        let restored = u32::try_from(outcome.restored).unwrap_or(u32::MAX);
        let collision = outcome.collisions.first().map(|(_, p)| p.clone());
        let any_item = outcome
            .left
            .iter()
            .chain(outcome.collisions.iter().map(|(t, _)| t))
            .any(|t| t.trash_item.is_some());
        let mut left = outcome.left;
        left.extend(outcome.collisions.into_iter().map(|(t, _)| t));
        let nothing_restorable = !left.is_empty() && outcome.restored == 0 && collision.is_none();
        if !left.is_empty() {
            lock(self.undos()).put_back(token, PendingUndo { seq, db_path, root, items: left });
        }
        if let Some(path) = collision {
            return Err(Error::io(
                "restoring the image from the trash",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!(
                        "another file now has this name; move or rename it, then undo again \
                         ({restored} of {total} images were restored)"
                    ),
                ),
            ));
        }
        if let Some(e) = outcome.error {
            return Err(e);
        }
        if nothing_restorable {
            if !any_item {
                return Err(Error::invalid_input(
                    "token",
                    "Fluxdesk cannot take these images out of the trash (on macOS it cannot read the trash): \
                     put them back yourself (Put Back in the Finder, Restore in the file manager), then undo \
                     again to restore their ratings and favourites",
                ));
            }
            return Err(Error::missing("The deleted images in the trash (was the trash emptied?)"));
        }
        Ok(restored)
    }

    /// "Use settings": the request that made the image — prompt, negative prompt, model, size,
    /// steps, guidance, task type and its settings — with the seed locked to the image's seed and
    /// a count of 1. Values Flux cannot take (e.g. an imported photo's size, an SD "CFG scale" of
    /// 7) are adapted: the size is scaled to fit (aspect kept, multiples of 16), out-of-range
    /// steps or guidance are left to the model's default, an unknown model becomes the default
    /// model.
    ///
    /// Inputs: the source is the gallery image it was made from while that still exists, else
    /// the prepared input the job sent (inpaint prefers the latter: its mask is burned in); the
    /// ControlNet image is the prepared one the job sent. Inputs that are gone are left empty for
    /// the user to choose.
    pub fn image_settings(&self, id: i64) -> Result<GenerateRequest> {
        let gallery = self.gallery();
        let rec = gallery.get(id)?;
        let mut req = settings_from_record(&rec, self.settings_view().settings.default_model);
        let sources =
            rec.ledger_id.and_then(|l| self.ledger().get(l).ok()).map(|t| t.sources).unwrap_or_default();
        let existing = |p: &Option<PreparedInput>| {
            p.as_ref()
                .filter(|p| std::path::Path::new(&p.path).is_file())
                .map(|p| SourceImage::file(p.path.clone()))
        };
        let task = req.task_type;
        if task.needs_image() {
            let from_gallery =
                req.source.take().filter(|s| s.image_id.is_some_and(|i| gallery.get(i).is_ok()));
            let from_job = existing(&sources.image);
            req.source = if task == TaskType::FillInpaint {
                from_job.or(from_gallery)
            } else {
                from_gallery.or(from_job)
            };
        } else {
            req.source = None;
        }
        if task.needs_control()
            && let (Some(image), Some(c)) =
                (existing(&sources.control_image), rec.task.and_then(|t| t.control))
        {
            req.control = Some(ControlChoice { control_type: c.control_type, image, strength: c.strength });
        }
        Ok(req)
    }

    /// "Vary": `count` new images (1–100) with the image's settings and new random seeds.
    /// Returns the job ids; progress arrives on `subscribe()`.
    pub async fn vary_image(&self, id: i64, count: u32) -> Result<Vec<i64>> {
        if !(1..=MAX_IMAGES_PER_REQUEST).contains(&count) {
            return Err(Error::invalid_input(
                "count",
                format!("{count} is out of range; use 1–{MAX_IMAGES_PER_REQUEST} images"),
            ));
        }
        let req = GenerateRequest { seed: None, count, ..self.image_settings(id)? };
        self.generate(req).await
    }

    /// Makes the thumbnails that are missing (newest images first), on the blocking pool, in
    /// batches over the available cores. Returns how many were made; images whose thumbnail
    /// cannot be made (damaged files) are skipped and logged.
    pub async fn fill_missing_thumbnails(&self) -> Result<u32> {
        let _one_at_a_time = THUMB_FILL.lock().await;
        let gallery = self.gallery();
        let mut pos: Option<ScanPosition> = None;
        let mut made = 0u32;
        loop {
            let g = gallery.clone();
            let (n, next) = blocking(move || {
                let (mut batch, next) = g.missing_thumbnails_after(pos, THUMB_BATCH)?;
                // Images with the same bytes share one thumbnail.
                let mut seen = std::collections::HashSet::new();
                batch.retain(|(_, _, thumb)| seen.insert(thumb.clone()));
                let results =
                    parallel_map(&batch, |(id, src, thumb)| {
                        match thumbs::make_thumbnail_from_file(src, thumb) {
                            Ok(_) => true,
                            Err(e) => {
                                tracing::warn!(image = id, error = %e, "thumbnail could not be made");
                                false
                            }
                        }
                    });
                Ok((results.into_iter().filter(|ok| *ok).count(), next))
            })
            .await?;
            made = made.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            match next {
                Some(p) => pos = Some(p),
                None => return Ok(made),
            }
        }
    }

    /// The image as PNG bytes (for the clipboard): the file itself when it is a PNG, else
    /// decoded and re-encoded.
    pub async fn read_image_bytes(&self, id: i64) -> Result<Vec<u8>> {
        let gallery = self.gallery();
        let rec = gallery.get(id)?;
        let path = gallery.abs_path(&rec);
        blocking(move || {
            let bytes = std::fs::read(&path).map_err(|e| Error::io("reading the image", &path, e))?;
            export::encode_export(&bytes, None, ExportFormat::Png, 100)
        })
        .await
    }
}

/// [`Gallery::rebuild`], keeping each image's link to the image it was made from.
///
/// Why: a rebuild gives every image a new id, while the index (`images.source_image_id`), the
/// files (the `source_image_id` of [`crate::metadata::ImageMeta`], a gallery id in decimal) and
/// the tasks' recorded inputs (`sources_json.sourceImageId`) still hold ids of the old index. So
/// links are carried by content: before the rebuild, every linked image's content hash is noted
/// with its source's file and content hash as the old index knew them (not as the file says: a
/// file keeps the id of the index it was first saved to); afterwards each image with those bytes
/// gets the new id of its source — the image with the source's bytes at the source's path, else
/// the oldest one with those bytes, else the image now at the source's path — and each task's
/// source id is remapped the same way.
///
/// An image the old index did not link keeps what indexing gave it: its file's source content
/// hash (`ImageMeta::source_image_hash`) finds the image with those bytes, so links survive even
/// `gallery rebuild --force`. A link that cannot be recovered is cleared (`NULL`), never left
/// pointing at whatever image has that id now: the source had been deleted, its file is gone, or
/// the file names only an id (written before files carried the hash) that no index vouches for.
///
/// Errors: those of [`Gallery::rebuild`]; reading the old links fails before anything is
/// dropped. If writing the links fails after the rebuild, the images are indexed and the error is
/// returned; running the rebuild again clears the links it could not restore. An image saved by
/// a job while the rebuild runs may lose its link (it is cleared, never wrong). Blocks (SQLite,
/// the whole gallery folder): async callers use `spawn_blocking`.
pub fn rebuild_keeping_links(gallery: &Gallery, ledger: &Ledger) -> Result<ReconcileReport> {
    let old = OldLinks::read(gallery, ledger)?;
    let report = gallery.rebuild()?;
    let mut sources = SourceFinder::default();
    let rows: Vec<(i64, String, Option<i64>)> = gallery.db().read(|c| {
        c.prepare("SELECT id, content_hash, source_image_id FROM images")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    })?;
    let mut updates: Vec<(i64, Option<i64>)> = Vec::new();
    let (mut kept, mut cleared) = (0u64, 0u64);
    for (id, hash, current) in rows {
        let wanted = match old.by_hash.get(&hash) {
            Some(Some(src)) => sources.find(gallery, src)?,
            Some(None) => None,
            // Unknown to the old index: the link indexing gave it, by its source's content hash
            // (empty for a file that names only an id).
            None => current,
        };
        match wanted {
            Some(_) => kept += 1,
            None if current.is_some() => cleared += 1,
            None => {}
        }
        if wanted != current {
            updates.push((id, wanted));
        }
    }
    if !updates.is_empty() {
        gallery.db().with_tx(|tx| {
            let mut stmt = tx.prepare_cached("UPDATE images SET source_image_id = ?2 WHERE id = ?1")?;
            for (id, source) in &updates {
                stmt.execute(rusqlite::params![id, source])?;
            }
            Ok(())
        })?;
    }
    let mut task_links: HashMap<i64, Option<i64>> = HashMap::with_capacity(old.ids.len());
    for (old_id, src) in &old.ids {
        task_links.insert(*old_id, sources.find(gallery, src)?);
    }
    let tasks = ledger.remap_source_image_ids(|old_id| task_links.get(&old_id).copied().flatten())?;
    if kept + cleared + tasks > 0 {
        tracing::info!(kept, cleared, tasks, "restored source-image links after the rebuild");
    }
    Ok(report)
}

/// An image file as the old index knew it: `(rel_path, content_hash)`.
type FileKey = (String, String);

/// The links of the index before a rebuild.
struct OldLinks {
    /// Content hash of a linked image → its source, `None` when the source was already gone.
    by_hash: HashMap<String, Option<FileKey>>,
    /// Every old id a task's recorded inputs name → that image (ids no longer indexed are left
    /// out, so their links are cleared).
    ids: HashMap<i64, FileKey>,
}

impl OldLinks {
    fn read(gallery: &Gallery, ledger: &Ledger) -> Result<OldLinks> {
        let linked: Vec<(String, Option<String>, Option<String>)> = gallery.db().read(|c| {
            c.prepare(
                "SELECT a.content_hash, s.rel_path, s.content_hash FROM images a \
                 LEFT JOIN images s ON s.id = a.source_image_id WHERE a.source_image_id IS NOT NULL",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })?;
        let mut by_hash: HashMap<String, Option<FileKey>> = HashMap::with_capacity(linked.len());
        for (hash, src_rel, src_hash) in linked {
            let src = src_rel.zip(src_hash);
            // The same bytes twice (a copy): a known source wins over a lost one.
            let slot = by_hash.entry(hash).or_default();
            if slot.is_none() {
                *slot = src;
            }
        }
        let wanted = ledger.source_image_ids()?;
        let ids = gallery.db().read(|c| {
            let mut stmt = c.prepare_cached("SELECT rel_path, content_hash FROM images WHERE id = ?1")?;
            let mut ids = HashMap::with_capacity(wanted.len());
            for id in wanted {
                if let Some(file) = stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()? {
                    ids.insert(id, file);
                }
            }
            Ok(ids)
        })?;
        Ok(OldLinks { by_hash, ids })
    }
}

/// Finds a source's id in the rebuilt index (memoised: many images share a source).
#[derive(Default)]
struct SourceFinder {
    found: HashMap<FileKey, Option<i64>>,
}

impl SourceFinder {
    /// The image with the source's bytes at its old path, else the oldest with those bytes,
    /// else the image at its old path (its bytes changed since the old index last saw them:
    /// reconcile, too, takes a changed file at the same path for the same image).
    fn find(&mut self, gallery: &Gallery, src: &FileKey) -> Result<Option<i64>> {
        if let Some(id) = self.found.get(src) {
            return Ok(*id);
        }
        let (rel, hash) = src;
        let id = gallery.db().read(|c| {
            c.prepare_cached(
                "SELECT id FROM images WHERE content_hash = ?1 OR rel_path = ?2 \
                 ORDER BY content_hash = ?1 AND rel_path = ?2 DESC, content_hash = ?1 DESC, id LIMIT 1",
            )?
            .query_row([hash, rel], |r| r.get(0))
            .optional()
        })?;
        self.found.insert(src.clone(), id);
        Ok(id)
    }
}

/// The [`GenerateRequest`] that reproduces `rec` (see [`Studio::image_settings`]).
///
/// Task fields come from the record (task type, denoise, LoRAs, outpaint margins, scale; the
/// source is the record's source image id, unchecked); the ControlNet needs its image, which
/// only [`Studio::image_settings`] can find, so it is left empty here.
pub fn settings_from_record(rec: &ImageRecord, default_model: Model) -> GenerateRequest {
    let model = rec.model.as_deref().and_then(|m| Model::parse(m).ok()).unwrap_or(default_model);
    let (width, height) = fit_size(rec.width, rec.height);
    let task_type =
        rec.task_type.as_deref().and_then(|t| TaskType::parse(t).ok()).unwrap_or(TaskType::Txt2Img);
    let task = rec.task.clone().unwrap_or_default();
    GenerateRequest {
        task_type,
        source: rec.source_image_id.filter(|_| task_type.needs_image()).map(SourceImage::gallery),
        mask: None,
        denoise: task.denoise.filter(|_| task_type.takes_denoise()),
        loras: task.loras,
        control: None,
        outpaint: task.outpaint.filter(|_| task_type.takes_outpaint()),
        scale: task.scale.filter(|_| task_type.takes_scale()),
        prompt: rec.prompt.clone(),
        negative_prompt: rec.negative_prompt.clone().filter(|n| !n.trim().is_empty()),
        model,
        width,
        height,
        steps: rec.steps.filter(|s| (1..=50).contains(s)),
        guidance: rec.guidance.filter(|g| (1.5..=5.0).contains(g)),
        seed: rec.seed.filter(|s| *s >= 0),
        count: 1,
    }
}

/// `(w, h)` if Flux accepts it, else the nearest size it does: aspect kept, multiples of 16,
/// sides 64–2048, at most [`MAX_PIXELS`].
pub fn fit_size(w: u32, h: u32) -> (u32, u32) {
    const MIN_SIDE: u32 = 64;
    const MAX_SIDE: u32 = 2048;
    if Size::new(w, h).validate().is_ok() {
        return (w, h);
    }
    if w == 0 || h == 0 {
        return (1024, 1024);
    }
    let (wf, hf) = (f64::from(w), f64::from(h));
    let scale = (MAX_PIXELS as f64 / (wf * hf))
        .sqrt()
        .min(f64::from(MAX_SIDE) / wf.max(hf))
        .max(f64::from(MIN_SIDE) / wf.min(hf));
    let snap = |v: f64| (((v / 16.0).floor() as u32) * 16).clamp(MIN_SIDE, MAX_SIDE);
    let (mut a, mut b) = (snap(wf * scale), snap(hf * scale));
    while u64::from(a) * u64::from(b) > MAX_PIXELS {
        if a >= b { a -= 16 } else { b -= 16 }
    }
    (a, b)
}

struct RestoreOutcome {
    restored: usize,
    /// Blocked by another file at the original path (that path).
    collisions: Vec<(TrashedImage, PathBuf)>,
    /// Not restorable now (not in the trash any more, or no trash item known).
    left: Vec<TrashedImage>,
    /// Re-indexing failed after the files came back (they are re-indexed by the next reconcile).
    error: Option<Error>,
}

/// Takes the items out of the trash one by one (so one collision does not stop the others),
/// accepts files already back at their place (put back by hand), re-inserts their rows and
/// remakes their thumbnails.
fn restore_trashed(gallery: &Gallery, items: Vec<TrashedImage>) -> RestoreOutcome {
    let mut back: Vec<ImageRecord> = Vec::new();
    let mut collisions = Vec::new();
    let mut left = Vec::new();
    for t in items {
        let target = gallery.abs_path(&t.record);
        let result = match &t.trash_item {
            Some(item) => restore_item(item.clone()),
            None => Err(trash::Error::Unknown { description: "no trash item is known".into() }),
        };
        match result {
            Ok(()) => back.push(t.record),
            Err(trash::Error::RestoreCollision { path, .. }) => collisions.push((t, path)),
            Err(e) => {
                // Put back by hand (Finder, file manager) with the same size: accept it.
                let same =
                    std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == t.record.file_size);
                if same {
                    back.push(t.record);
                } else {
                    if t.trash_item.is_some() {
                        tracing::warn!(path = %target.display(), error = %e, "could not restore from the trash");
                    }
                    left.push(t);
                }
            }
        }
    }
    let error = gallery.restore_rows(&back).err();
    if error.is_none() {
        for rec in &back {
            let thumb = gallery.thumb_path(rec);
            if !thumb.exists()
                && let Err(e) = thumbs::make_thumbnail_from_file(&gallery.abs_path(rec), &thumb)
            {
                tracing::warn!(image = rec.id, error = %e, "thumbnail could not be made after undo");
            }
        }
    }
    RestoreOutcome { restored: if error.is_none() { back.len() } else { 0 }, collisions, left, error }
}

#[cfg(any(
    target_os = "windows",
    all(unix, not(target_os = "macos"), not(target_os = "ios"), not(target_os = "android"))
))]
fn restore_item(item: trash::TrashItem) -> std::result::Result<(), trash::Error> {
    trash::os_limited::restore_all([item])
}

#[cfg(not(any(
    target_os = "windows",
    all(unix, not(target_os = "macos"), not(target_os = "ios"), not(target_os = "android"))
)))]
fn restore_item(_item: trash::TrashItem) -> std::result::Result<(), trash::Error> {
    Err(trash::Error::Unknown { description: "the trash cannot be restored from on this system".into() })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("background task failed: {e}")))?
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_size_keeps_valid_sizes_and_fits_others() {
        assert_eq!(fit_size(1024, 768), (1024, 768));
        assert_eq!(fit_size(0, 5), (1024, 1024));
        for (w, h) in [(4000, 3000), (6000, 1000), (30, 20), (3000, 3000), (100, 5000)] {
            let (a, b) = fit_size(w, h);
            assert!(Size::new(a, b).validate().is_ok(), "{w}x{h} → {a}x{b}");
            assert!(a % 16 == 0 && b % 16 == 0);
            // Aspect kept within rounding where the limits allow it.
            if (w, h) == (4000, 3000) {
                assert_eq!((a, b), (1168, 880));
            }
        }
    }
}
