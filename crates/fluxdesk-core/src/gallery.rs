//! The gallery store: image files in a visible folder, and their index in the shared database.
//!
//! Why: the files are the user's and the truth; the index exists to make 100,000 images searchable
//! and pageable in milliseconds. It must never drift from the folder, and it can always be rebuilt
//! from the files alone, because every fact the index holds about an image (prompt, seed, task id…)
//! is also embedded in the file — except ratings and favourites, which [`Gallery::rebuild`] carries
//! over by content hash when the old index is readable.
//!
//! Contract:
//! - [`Gallery::insert`] is idempotent: one row per `rel_path`, and one per `(task_id, output_index)`
//!   (a task id without an index means index 0). Completing a task twice, or from two processes at
//!   once, yields one entry per image.
//! - [`Gallery::list`] pages with a keyset cursor (never OFFSET): pages stay free of duplicates and
//!   gaps when newer images arrive, and — for Newest/Oldest — when ratings change. For the Rating
//!   sort, an image whose rating changes while paging moves to its new place (it may be seen twice
//!   or not at all in that pass). A total, once taken (on the first page, or on the first later
//!   page that had it for free), is carried by the cursor, so it describes the pass.
//! - Counting is separable: with [`GalleryQuery::count`] `false` a page never pays for an
//!   expensive count — its `total` is `None` unless the count came free (no text; at most 2,000
//!   matches for some text index; every match on this one page) — and [`Gallery::count_matches`]
//!   counts exactly, with the SQL a counted page uses. A total given is never an estimate.
//! - Pages and counts read on the database's read-only connections ([`Db::read`]): they never
//!   wait behind a write transaction (a job saving, a reconcile batch) or a slow count.
//! - Text search: each whitespace-separated term must occur in the prompt as a substring,
//!   case-insensitively: terms of 3+ characters as the FTS5 trigram index matches them (Unicode
//!   case folding), 1–2 character terms as SQL `LIKE` does (ASCII case folding), with the
//!   `images_grams` index (see db.rs) narrowing rare ones to their few candidates. Every write of
//!   a row or its prompt keeps `images_grams` in step (`db::set_grams`, called in this file).
//! - [`Gallery::reconcile`] never removes a row whose file still exists, never touches ratings of
//!   rows it keeps, and does nothing destructive when the gallery folder is missing or empty
//!   (e.g. an unmounted drive).
//! - [`Gallery::delete`] and [`Gallery::delete_for_undo`] move files to the OS trash; the latter
//!   also returns the removed rows and their trash items so [`Gallery::restore_rows`] can put
//!   them back exactly (same ids, ratings, favourites) after the files are restored.
//! - All methods block (SQLite, file I/O, hashing): async callers use `spawn_blocking`.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::db::{Db, from_ms, now_ms, set_grams, to_ms};
use crate::metadata::ImageMeta;
use crate::views::{ImageView, TaskSettingsView};
use crate::{Error, Result, files, thumbs};

/// Default and maximum page sizes of [`Gallery::list`].
pub const DEFAULT_PAGE: u32 = 200;
pub const MAX_PAGE: u32 = 1000;

/// Image extensions the gallery indexes (lowercase).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// Above this many text matches, [`Gallery::list`] walks the sort index instead of sorting the
/// matches (measured on 100,000 prompts: sorting 40,000 matches costs ~30 ms, the walk ~6 ms; with
/// a few hundred matches sorting is cheaper).
const DENSE_MATCHES: i64 = 2_000;

/// How many of the next images (in page order) a common 1–2 character term is tested against
/// for a full page before the sort index is walked (~2 ms; a term in at least one prompt in 40
/// finds a page of 48 there).
const SHORT_TERM_PROBE: i64 = 2_000;

/// `images_grams` candidates are counted up to this many: enough to tell a sparse match (at most
/// [`DENSE_MATCHES`]) from a dense one for a page, and, for an exact count, whether a row lookup
/// per candidate (below this) beats one pass over the table (~0.6 ms to count at 100,000 images).
const GRAMS_COUNT_CAP: i64 = 20_000;

/// New files indexed per write transaction during reconcile (keeps the write lock short so the
/// runner is never blocked for long).
const RECONCILE_BATCH: usize = 64;

/// One indexed image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    pub id: i64,
    /// Relative to the gallery root, `/` separators.
    pub rel_path: String,
    /// Empty when the file carries no prompt.
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub model: Option<String>,
    pub task_type: Option<String>,
    pub width: u32,
    pub height: u32,
    pub seed: Option<i64>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    pub task_id: Option<String>,
    pub output_index: Option<u32>,
    pub cost_usd: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub favourite: bool,
    /// 0 (unrated) to 5.
    pub rating: u8,
    /// BLAKE3 of the file's bytes (64 hex characters).
    pub content_hash: String,
    pub file_size: u64,
    pub ledger_id: Option<i64>,
    /// The gallery image this one was made from (img2img, inpaint, …); the source may since
    /// have been deleted.
    #[serde(default)]
    pub source_image_id: Option<i64>,
    /// Task-specific settings (denoise, LoRAs, ControlNet, outpaint, scale); `None` for txt2img.
    #[serde(default)]
    pub task: Option<TaskSettingsView>,
}

impl From<&ImageRecord> for ImageMeta {
    /// Everything the index knows about how the image was made, as file metadata (what export
    /// embeds). `generator` stays unset: the index does not record which program wrote the file.
    fn from(rec: &ImageRecord) -> ImageMeta {
        ImageMeta {
            prompt: rec.prompt.clone(),
            negative_prompt: rec.negative_prompt.clone(),
            model: rec.model.clone(),
            task_type: rec.task_type.clone(),
            width: rec.width,
            height: rec.height,
            seed: rec.seed,
            steps: rec.steps,
            guidance: rec.guidance,
            task_id: rec.task_id.clone(),
            output_index: rec.output_index,
            cost_usd: rec.cost_usd,
            created_at: Some(rec.created_at),
            source_image_id: rec.source_image_id.map(|id| id.to_string()),
            // The record does not keep its source's hash: an exported file names the id only, so
            // imported elsewhere it links to nothing rather than to a wrong image.
            source_image_hash: None,
            generator: None,
            task_settings: rec.task.clone(),
        }
    }
}

/// An image to index (its file is already in the gallery folder).
#[derive(Debug, Clone)]
pub struct NewImage {
    pub rel_path: String,
    pub meta: ImageMeta,
    pub content_hash: String,
    pub file_size: u64,
    pub ledger_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// Sort order of [`Gallery::list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum SortOrder {
    /// Newest first (created_at, then id, descending).
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
    /// Highest rating first, newest first within a rating.
    Rating,
}

/// Image shape filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum Aspect {
    /// width = height.
    Square,
    /// width > height.
    Landscape,
    /// width < height.
    Portrait,
}

/// What to list. All filters combine (AND).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct GalleryQuery {
    /// Prompt search: every whitespace-separated term must occur (substring, case-insensitive).
    pub text: Option<String>,
    /// A model id (`Qubico/flux1-dev`) or short name (`dev`); matches either spelling.
    pub model: Option<String>,
    /// Rating ≥ N (0–5).
    pub min_rating: Option<u8>,
    pub favourites_only: bool,
    /// Inclusive lower bound.
    pub created_after: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub created_before: Option<DateTime<Utc>>,
    pub aspect: Option<Aspect>,
    /// Exact width in pixels.
    pub width: Option<u32>,
    /// Exact height in pixels.
    pub height: Option<u32>,
    pub sort: SortOrder,
    /// Page size: 0 means the default (200); at most 1000.
    pub limit: u32,
    /// `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
    /// `true` (the default): the page's total is always counted. `false`: only when it comes free
    /// (see the module header) — else [`ImagePage::total`] is `None` (in the UI's view,
    /// `counted: false`) and [`Gallery::count_matches`] counts. The UI asks for its pages this
    /// way, so a keystroke never waits for a count.
    pub count: bool,
}

impl Default for GalleryQuery {
    fn default() -> Self {
        GalleryQuery {
            text: None,
            model: None,
            min_rating: None,
            favourites_only: false,
            created_after: None,
            created_before: None,
            aspect: None,
            width: None,
            height: None,
            sort: SortOrder::Newest,
            limit: DEFAULT_PAGE,
            cursor: None,
            count: true,
        }
    }
}

/// One page of [`Gallery::list`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImagePage {
    pub items: Vec<ImageRecord>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Images matching the filters, counted when the pass began (the first page) and carried by
    /// the cursor, so it describes the pass the pages belong to. `None`: not counted (the query
    /// said `count: false` and counting would have cost more than the page); see
    /// [`Gallery::count_matches`].
    pub total: Option<u64>,
}

/// What [`Gallery::reconcile`] / [`Gallery::rebuild`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// New files indexed.
    pub added: u64,
    /// Rows removed because their file is gone.
    pub removed: u64,
    /// Files already indexed and unchanged.
    pub unchanged: u64,
    /// Indexed files whose content changed (hash, size, dimensions, metadata refreshed).
    pub updated: u64,
    /// Files moved or renamed inside the gallery (rows kept, ratings included).
    pub moved: u64,
    /// Files (relative paths) that could not be indexed, with the reason.
    pub failed: Vec<String>,
}

/// An image removed by [`Gallery::delete_for_undo`]: its row as it was, and the trash item its
/// file became (`None` when the file was already gone, or the trash cannot be listed here, e.g.
/// on macOS).
#[derive(Debug, Clone)]
pub struct TrashedImage {
    pub record: ImageRecord,
    pub trash_item: Option<trash::TrashItem>,
}

/// What [`Gallery::delete_for_undo`] did.
#[derive(Debug, Default)]
pub struct DeleteOutcome {
    /// Rows removed (their files are in the trash, or were already gone).
    pub removed: Vec<TrashedImage>,
    /// Files that could not be trashed (their rows are kept).
    pub failures: Vec<Error>,
}

/// An image without a thumbnail: `(id, absolute source path, thumbnail path)`.
pub type MissingThumb = (i64, PathBuf, PathBuf);

/// Where a [`Gallery::missing_thumbnails_after`] scan stopped (opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPosition {
    created_ms: i64,
    id: i64,
}

/// Serialises capturing deletes of this process (see [`Gallery::delete_for_undo`]).
static TRASH_LISTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The ids of everything in the trash now; `None` where the trash cannot be listed.
fn trash_ids() -> Option<HashSet<std::ffi::OsString>> {
    list_trash().map(|items| items.into_iter().map(|i| i.id).collect())
}

#[cfg(any(
    target_os = "windows",
    all(unix, not(target_os = "macos"), not(target_os = "ios"), not(target_os = "android"))
))]
fn list_trash() -> Option<Vec<trash::TrashItem>> {
    match trash::os_limited::list() {
        Ok(items) => Some(items),
        Err(e) => {
            tracing::warn!(error = %e, "the trash could not be listed; this delete cannot be undone");
            None
        }
    }
}

#[cfg(not(any(
    target_os = "windows",
    all(unix, not(target_os = "macos"), not(target_os = "ios"), not(target_os = "android"))
)))]
fn list_trash() -> Option<Vec<trash::TrashItem>> {
    None
}

/// The original path the trash will record for `abs` (its parent canonicalised, as the trash
/// crate does).
fn trash_original_path(abs: &Path) -> PathBuf {
    match (abs.parent().and_then(|p| fs::canonicalize(p).ok()), abs.file_name()) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => abs.to_path_buf(),
    }
}

/// The gallery: folder + index (cheap to clone).
#[derive(Clone, Debug)]
pub struct Gallery {
    db: Db,
    root: PathBuf,
    thumbs_dir: PathBuf,
}

const COLUMNS: &str = "id, rel_path, prompt, negative_prompt, model, task_type, width, height, seed, steps, \
     guidance, task_id, output_index, cost_usd, created_at, favourite, rating, content_hash, file_size, ledger_id, \
     source_image_id, task_json";

impl Gallery {
    pub fn new(db: Db, root: PathBuf, thumbs_dir: PathBuf) -> Self {
        Gallery { db, root, thumbs_dir }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn thumbs_dir(&self) -> &Path {
        &self.thumbs_dir
    }

    /// The image file's absolute path.
    pub fn abs_path(&self, rec: &ImageRecord) -> PathBuf {
        self.abs(&rec.rel_path)
    }

    /// Where the image's thumbnail lives (it may not exist yet).
    pub fn thumb_path(&self, rec: &ImageRecord) -> PathBuf {
        thumbs::thumb_path(&self.thumbs_dir, &rec.content_hash)
    }

    /// The record as the UI sees it: absolute paths (for the asset protocol), and a thumbnail
    /// path only when that file exists (one `stat`).
    pub fn image_view(&self, rec: &ImageRecord) -> ImageView {
        let thumb = self.thumb_path(rec);
        ImageView {
            id: rec.id,
            path: self.abs_path(rec).to_string_lossy().into_owned(),
            thumb_path: thumb.exists().then(|| thumb.to_string_lossy().into_owned()),
            prompt: rec.prompt.clone(),
            negative_prompt: rec.negative_prompt.clone(),
            model: rec.model.clone(),
            task_type: rec.task_type.clone(),
            width: rec.width,
            height: rec.height,
            seed: rec.seed,
            steps: rec.steps,
            guidance: rec.guidance,
            task_id: rec.task_id.clone(),
            cost_usd: rec.cost_usd,
            created_at: rec.created_at,
            favourite: rec.favourite,
            rating: rec.rating,
            source_image_id: rec.source_image_id,
            task: rec.task.clone(),
        }
    }

    /// Links images indexed one by one (an import) whose source came in after them: see
    /// [`ImageMeta::source_image_hash`].
    pub(crate) fn link_pending_sources(&self, pending: &[PendingLink]) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        self.db.with_tx(|tx| link_sources_by_hash(tx, pending))
    }

    /// `abs` relative to the gallery root with `/` separators (what [`NewImage::rel_path`] wants).
    /// [`Error::InvalidInput`] if it is outside the root or not valid UTF-8.
    pub fn rel_path_of(&self, abs: &Path) -> Result<String> {
        let rel = abs.strip_prefix(&self.root).map_err(|_| {
            Error::invalid_input(
                "path",
                format!("{} is not inside the gallery folder {}", abs.display(), self.root.display()),
            )
        })?;
        rel_to_string(rel).ok_or_else(|| {
            Error::invalid_input("path", format!("{} is not a usable file name", abs.display()))
        })
    }

    /// Indexes an image. Idempotent: on a conflict with an existing row of the same
    /// `(task_id, output_index)` (a task id without an index means index 0) or the same
    /// `rel_path`, returns that row's id and `false`. The file's mtime is recorded when the file
    /// exists, so [`Gallery::reconcile`] need not re-hash it. `ledger_id` defaults to the ledger
    /// task with the same task id.
    pub fn insert(&self, img: &NewImage) -> Result<(i64, bool)> {
        check_rel_path(&img.rel_path)?;
        let mtime = fs::metadata(self.abs(&img.rel_path)).ok().and_then(|m| mtime_ms(&m));
        self.db.with_tx(|tx| insert_tx(tx, img, mtime))
    }

    /// The image of PiAPI task `task_id`, output `output_index`.
    pub fn find_by_task(&self, task_id: &str, output_index: u32) -> Result<Option<ImageRecord>> {
        self.db.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE task_id = ?1 AND output_index = ?2"),
                params![task_id, output_index],
                record_from_row,
            )
            .optional()
        })
    }

    /// Images whose content hash is `hash` (the same bytes may be in the gallery twice).
    pub fn find_by_hash(&self, hash: &str) -> Result<Vec<ImageRecord>> {
        self.db.with(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM images WHERE content_hash = ?1 ORDER BY id"))?
                .query_map([hash], record_from_row)?
                .collect()
        })
    }

    /// One image. [`Error::Missing`] if absent.
    pub fn get(&self, id: i64) -> Result<ImageRecord> {
        self.db
            .with(|c| {
                c.query_row(&format!("SELECT {COLUMNS} FROM images WHERE id = ?1"), [id], record_from_row)
                    .optional()
            })?
            .ok_or_else(|| Error::missing(format!("Image {id}")))
    }

    /// The images of `ids` that exist, in the order asked (absent ids are left out): one read-only
    /// connection and one prepared statement for all of them, never the read-write connection.
    pub fn get_many(&self, ids: &[i64]) -> Result<Vec<ImageRecord>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM images WHERE id = ?1"))?;
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                if let Some(rec) = stmt.query_row([id], record_from_row).optional()? {
                    out.push(rec);
                }
            }
            Ok(out)
        })
    }

    /// One page of images matching `q`, in `q.sort` order, after `q.cursor`.
    /// [`Error::InvalidInput`] for a malformed cursor, a cursor of another sort order, or a rating
    /// above 5. `total` counts all matches (taken on the first page, carried by the cursor); with
    /// `q.count` false it is `None` unless the count came free (see the module header).
    ///
    /// Plans (each text index is first counted up to 2,001): no text walks the sort index (or a
    /// filter's); text with at most 2,000 matches for some index starts from those and sorts
    /// them; commoner text tests the next 2,000 images in page order (a trigram term only in
    /// their rowid range of its posting list) and, when those hold less than a page, walks the
    /// sort index probing the whole match set. Cost at 100,000 images (release, a 48-image page
    /// without a count; BENCHMARKS.md figure 4): p50 1–5 ms, p95 under 11 ms for 1, 2 and 3+
    /// character terms, with or without filters. What `count: false` leaves out costs more: a
    /// common 1–2 character term is counted by one pass over the table (~20 ms), a common
    /// trigram term by reading its posting list (1–7 ms), more with other filters.
    pub fn list(&self, q: &GalleryQuery) -> Result<ImagePage> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let filter = Filter::build(q)?;
        let cursor = q.cursor.as_deref().map(|c| Cursor::decode(c, q.sort)).transpose()?;
        let fingerprint = filter.fingerprint();
        // Later pages reuse the counts the pass took, when the filters are the same.
        let carried = cursor.as_ref().filter(|c| c.fingerprint == fingerprint);
        let carried = Carried {
            total: carried.and_then(|c| (c.total >= 0).then_some(c.total)),
            matches: carried.and_then(|c| (c.matches >= 0).then_some(c.matches)),
        };
        let plan = PagePlan { q, filter: &filter, cursor: cursor.as_ref(), limit, carried };

        // One read transaction on a read-only connection: the page and its counts see the same
        // snapshot, and no writer holds them up.
        let listed = self.db.read(|c| {
            let tx = c.unchecked_transaction()?;
            let listed = plan.run(&tx)?;
            tx.commit()?;
            Ok(listed)
        })?;
        let Listed { mut items, total, fts_count } = listed;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| {
                let mut c = Cursor::from_record(q.sort, last);
                (c.total, c.matches, c.fingerprint) =
                    (total.unwrap_or(-1), fts_count.unwrap_or(-1), fingerprint);
                c.encode()
            })
        } else {
            None
        };
        let total = total.map(|n| u64::try_from(n).unwrap_or(0));
        Ok(ImagePage { items, next_cursor, total })
    }

    /// The exact number of images matching `q`'s filters (its cursor, limit, sort and `count` are
    /// ignored), counted now on a read-only connection, with the SQL a counted first page uses —
    /// so it equals that page's `total` on the same data. Costs at 100,000 images: free without
    /// text (index ranges) or for text of 3+ character terms alone (the trigram index counts);
    /// a walk of the date index for a dense trigram term with other filters (~10–30 ms); one
    /// sequential pass over the table for a 1–2 character term (~20 ms).
    pub fn count_matches(&self, q: &GalleryQuery) -> Result<u64> {
        let filter = Filter::build(q)?;
        let n = self.db.read(|c| {
            let tx = c.unchecked_transaction()?;
            let counts = TextCounts::take(&tx, &filter, None, GRAMS_COUNT_CAP)?;
            let n = filter.count(&tx, &counts)?;
            tx.commit()?;
            Ok(n)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sets the rating (0–5, else [`Error::InvalidInput`]) of every image in `ids`, in one
    /// transaction. Unknown ids are ignored.
    pub fn set_rating(&self, ids: &[i64], rating: u8) -> Result<()> {
        if rating > 5 {
            return Err(Error::invalid_input(
                "rating",
                format!("{rating} is out of range; use 0 (none) to 5"),
            ));
        }
        self.update_each(ids, "UPDATE images SET rating = ?2 WHERE id = ?1", i64::from(rating))
    }

    /// Marks or unmarks every image in `ids` as a favourite, in one transaction.
    pub fn set_favourite(&self, ids: &[i64], fav: bool) -> Result<()> {
        self.update_each(ids, "UPDATE images SET favourite = ?2 WHERE id = ?1", i64::from(fav))
    }

    /// Moves the files of `ids` to the OS trash and removes their rows, in one transaction (the
    /// thumbnail is deleted too unless another image shares it). A file already gone is fine; a
    /// file that cannot be trashed keeps its row, the others are still deleted, and the first
    /// failure is returned. Unknown ids are ignored.
    pub fn delete(&self, ids: &[i64]) -> Result<()> {
        let outcome = self.delete_files_and_rows(ids, false)?;
        match outcome.failures.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Like [`Gallery::delete`], but returns what was removed — each row as it was (rating,
    /// favourite, ledger id…) and, where the platform can list its trash (Linux/BSD freedesktop
    /// trash, Windows), the trash item its file became — so the delete can be undone with
    /// [`trash::os_limited::restore_all`] and [`Gallery::restore_rows`]. The trash items are
    /// found by listing the trash before and after (process-wide serialised, so two deletes of
    /// this process never mix their items up). Failures are returned in the outcome, not as an
    /// error; an error means the database could not be updated.
    pub fn delete_for_undo(&self, ids: &[i64]) -> Result<DeleteOutcome> {
        self.delete_files_and_rows(ids, true)
    }

    fn delete_files_and_rows(&self, ids: &[i64], capture: bool) -> Result<DeleteOutcome> {
        // Serialise capturing deletes: the before/after trash listing must see only our items.
        let _serial =
            capture.then(|| TRASH_LISTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let before = if capture { trash_ids() } else { None };
        let mut failures: Vec<Error> = Vec::new();
        // (row, the original path as the trash records it) — None when the file was already gone.
        let mut removed: Vec<(ImageRecord, Option<PathBuf>)> = Vec::new();
        self.db.with_tx(|tx| {
            for &id in ids {
                let row = tx
                    .query_row(&format!("SELECT {COLUMNS} FROM images WHERE id = ?1"), [id], record_from_row)
                    .optional()?;
                let Some(rec) = row else { continue };
                let abs = self.abs(&rec.rel_path);
                let mut trashed_as = None;
                if fs::symlink_metadata(&abs).is_ok() {
                    let original = trash_original_path(&abs);
                    if let Err(e) = trash::delete(&abs) {
                        tracing::warn!(path = %abs.display(), error = %e, "could not move the image to the trash");
                        let source = std::io::Error::other(e.to_string());
                        failures.push(Error::io("moving the image to the trash", &abs, source));
                        continue;
                    }
                    trashed_as = Some(original);
                }
                tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
                removed.push((rec, trashed_as));
            }
            Ok(())
        })?;

        // The trash items that appeared, matched to our files by original path (else by name).
        let mut new_items: Vec<trash::TrashItem> = match (&before, capture) {
            (Some(before), true) => list_trash()
                .map(|all| all.into_iter().filter(|i| !before.contains(&i.id)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut outcome = DeleteOutcome { removed: Vec::with_capacity(removed.len()), failures };
        for (record, original) in removed {
            let trash_item = original.and_then(|orig| {
                let exact = new_items.iter().position(|i| i.original_path() == orig);
                let by_name = || {
                    let name = orig.file_name()?;
                    let mut same = new_items.iter().enumerate().filter(|(_, i)| i.name == name);
                    match (same.next(), same.next()) {
                        (Some((at, _)), None) => Some(at),
                        _ => None,
                    }
                };
                exact.or_else(by_name).map(|at| new_items.swap_remove(at))
            });
            outcome.removed.push(TrashedImage { record, trash_item });
        }

        for t in &outcome.removed {
            let hash = &t.record.content_hash;
            let still_used = self.db.with(|c| {
                c.query_row("SELECT EXISTS (SELECT 1 FROM images WHERE content_hash = ?1)", [hash], |r| {
                    r.get::<_, bool>(0)
                })
            })?;
            if !still_used {
                let _ = fs::remove_file(thumbs::thumb_path(&self.thumbs_dir, hash));
            }
        }
        Ok(outcome)
    }

    /// Puts rows back exactly as they were (same id, rating, favourite, ledger id…) for files
    /// that are back at their paths, e.g. after an undone delete. A row that now holds the same
    /// path or task output (say, reconcile indexed the restored file first) is replaced. The
    /// ledger link is kept only if that ledger task still exists. One transaction.
    pub fn restore_rows(&self, records: &[ImageRecord]) -> Result<()> {
        for r in records {
            check_rel_path(&r.rel_path)?;
        }
        let mtimes: Vec<Option<i64>> = records
            .iter()
            .map(|r| fs::metadata(self.abs(&r.rel_path)).ok().and_then(|m| mtime_ms(&m)))
            .collect();
        self.db.with_tx(|tx| {
            let mut clear = tx.prepare_cached(
                "DELETE FROM images WHERE id = ?1 OR rel_path = ?2 \
                 OR (?3 IS NOT NULL AND task_id = ?3 AND output_index IS ?4)",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO images (id, rel_path, prompt, negative_prompt, model, task_type, width, height, seed, \
                     steps, guidance, task_id, output_index, cost_usd, created_at, favourite, rating, content_hash, \
                     file_size, file_mtime, ledger_id, indexed_at, source_image_id, task_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
                     (SELECT id FROM tasks WHERE id = ?21), ?22, ?23, ?24)",
            )?;
            for (r, mtime) in records.iter().zip(&mtimes) {
                clear.execute(params![r.id, r.rel_path, r.task_id, r.output_index])?;
                insert.execute(params![
                    r.id,
                    r.rel_path,
                    r.prompt,
                    r.negative_prompt,
                    r.model,
                    r.task_type,
                    r.width,
                    r.height,
                    r.seed,
                    r.steps,
                    r.guidance.map(f64::from),
                    r.task_id,
                    r.output_index,
                    r.cost_usd,
                    to_ms(r.created_at),
                    r.favourite,
                    i64::from(r.rating.min(5)),
                    r.content_hash,
                    r.file_size,
                    mtime,
                    r.ledger_id,
                    now_ms(),
                    r.source_image_id,
                    task_json(r.task.as_ref())
                ])?;
                set_grams(tx, r.id, &r.prompt, false)?;
            }
            Ok(())
        })
    }

    /// Brings the index in line with the folder: walks the gallery root (png/jpg/jpeg/webp,
    /// skipping hidden files and folders, which include in-progress temp files), indexes new files
    /// (our metadata, else A1111 `parameters`, else an empty prompt with the file's mtime), detects
    /// files moved inside the gallery by content hash or task id (keeping their rows), refreshes
    /// changed files, and removes rows whose file is gone. Known files whose size and mtime are
    /// unchanged are not re-read. Ratings and favourites of kept rows are untouched.
    ///
    /// Safe to run while the runner saves images. If the root is missing it fails with
    /// [`Error::Missing`]; if it holds no images at all, no row is removed (an unmounted drive
    /// must not empty the index) and the report's `failed` says why.
    pub fn reconcile(&self) -> Result<ReconcileReport> {
        if !self.root.is_dir() {
            return Err(Error::missing(format!("The gallery folder {}", self.root.display())));
        }
        let mut report = ReconcileReport::default();
        // Snapshot the index BEFORE walking: a row inserted after this point is not a removal
        // candidate, and a file written before the walk but indexed later is caught by the
        // idempotent insert.
        // On a read-only connection: the whole table streams through its small page cache
        // instead of filling the read-write connection's.
        //
        // Memory (100,000 images): the snapshot holds only what the walk compares — path, id,
        // size, mtime — sorted by path for binary search; content hashes stay in the database and
        // are read for the few rows that need one (a changed file's own row, the rows a new file
        // may have been moved from, through the `images_hash` index). See [`Known`] for its
        // layout.
        let known = self.db.read(|c| {
            let rows: i64 = c.query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))?;
            // A hint: rows saved meanwhile just grow the snapshot.
            let mut known = Known::with_capacity(usize::try_from(rows).unwrap_or(0));
            let mut stmt = c.prepare("SELECT id, rel_path, file_size, file_mtime FROM images")?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let rel = r.get_ref(1)?.as_str()?;
                known.push(rel, KnownRow { id: r.get(0)?, size: r.get(2)?, mtime: r.get(3)? });
            }
            known.sort();
            Ok(known)
        })?;

        // `gone[i]`: snapshot row `i` is a removal candidate (its file was not seen, and no new
        // file turned out to be it moved). Files are matched as the walk finds them, and only
        // new and changed ones are kept.
        let mut gone = vec![true; known.len()];
        let mut on_disk = 0usize;
        let mut new_files: Vec<DiskFile> = Vec::new();
        let mut changed: Vec<(DiskFile, i64)> = Vec::new();
        walk_gallery(&self.root, &mut report.failed, |f| {
            on_disk += 1;
            match known.position(&f.rel) {
                Some(i) => {
                    gone[i] = false;
                    let k = known.row(i);
                    if k.size == f.size as i64 && k.mtime.is_some() && k.mtime == f.mtime {
                        report.unchanged += 1
                    } else {
                        changed.push((f, k.id));
                    }
                }
                None => new_files.push(f),
            }
        });
        // Handled in path order, as when the walk returned a sorted list.
        new_files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
        changed.sort_unstable_by(|a, b| a.0.rel.cmp(&b.0.rel));

        // Known files whose size or mtime changed: re-hash; refresh the row if the bytes changed
        // (compared with the hash the row holds now).
        let stored_hash = |id: i64| -> Result<Option<String>> {
            self.db.read(|c| {
                c.prepare_cached("SELECT content_hash FROM images WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()
            })
        };
        let mut touch: Vec<(i64, &DiskFile)> = Vec::new();
        for (f, id) in &changed {
            let id = *id;
            let abs = self.abs(&f.rel);
            let bytes = match fs::read(&abs) {
                Ok(b) => b,
                Err(e) => {
                    report.failed.push(format!("{}: {e}", f.rel));
                    continue;
                }
            };
            let hash = files::content_hash(&bytes);
            if stored_hash(id)?.as_deref() == Some(hash.as_str()) {
                touch.push((id, f));
                report.unchanged += 1;
                continue;
            }
            match describe_file(&abs, &bytes) {
                Ok((meta, w, h)) => {
                    self.db.with_tx(|tx| {
                        refresh_row(tx, id, &meta, w, h, &hash, f)?;
                        Ok(())
                    })?;
                    report.updated += 1;
                }
                Err(e) => report.failed.push(format!("{}: {e}", f.rel)),
            }
        }
        if !touch.is_empty() {
            self.db.with_tx(|tx| {
                let mut stmt =
                    tx.prepare_cached("UPDATE images SET file_size = ?2, file_mtime = ?3 WHERE id = ?1")?;
                for (id, f) in &touch {
                    stmt.execute(params![id, f.size, f.mtime])?;
                }
                Ok(())
            })?;
        }

        // Rows whose file was not seen are removal candidates, unless a new file turns out to be
        // the same image moved elsewhere in the gallery.
        let mut gone_left = gone.iter().filter(|g| **g).count();
        // New images whose source may be indexed later in this pass (linked at the end).
        let mut pending_links: Vec<PendingLink> = Vec::new();
        for chunk in new_files.chunks(RECONCILE_BATCH) {
            let mut prepared = Vec::with_capacity(chunk.len());
            for f in chunk {
                match self.prepare_new(f) {
                    Ok(p) => prepared.push(p),
                    Err(e) => report.failed.push(format!("{}: {e}", f.rel)),
                }
            }
            self.db.with_tx(|tx| {
                for (f, img) in &prepared {
                    // Same bytes as a row whose file vanished: a move or rename.
                    let moved_from = if gone_left == 0 {
                        None
                    } else {
                        self.moved_from(tx, &known, &gone, &img.content_hash)?
                    };
                    if let Some(i) = moved_from {
                        gone[i] = false;
                        if move_row(tx, known.row(i).id, f)? == 1 {
                            gone_left -= 1;
                            report.moved += 1;
                        } else {
                            // Someone indexed this path meanwhile; the old row stays a removal
                            // candidate.
                            gone[i] = true;
                            report.unchanged += 1;
                        }
                        continue;
                    }
                    match index_new(tx, f, img, &self.root)? {
                        Indexed::Added => {
                            report.added += 1;
                            pending_links.extend(PendingLink::of(img));
                        }
                        Indexed::Moved(old_rel) => {
                            if let Some(i) = known.position(&old_rel)
                                && std::mem::replace(&mut gone[i], false)
                            {
                                gone_left -= 1;
                            }
                            report.moved += 1;
                        }
                        Indexed::AlreadyThere => report.unchanged += 1,
                    }
                }
                Ok(())
            })?;
        }

        if !pending_links.is_empty() {
            self.db.with_tx(|tx| link_sources_by_hash(tx, &pending_links))?;
        }

        // Remove rows whose file is really gone (re-checked under the write lock).
        if gone_left > 0 {
            if on_disk == 0 {
                report.failed.push(format!(
                    "the gallery folder {} holds no images; kept {gone_left} index entries (run `fluxdesk gallery rebuild` if you emptied it on purpose)",
                    self.root.display(),
                ));
            } else {
                self.db.with_tx(|tx| {
                    let mut stmt = tx.prepare_cached("DELETE FROM images WHERE id = ?1 AND rel_path = ?2")?;
                    for ((rel, k), _) in known.iter().zip(&gone).filter(|(_, g)| **g) {
                        if fs::symlink_metadata(self.abs(rel)).is_err() {
                            report.removed += stmt.execute(params![k.id, rel])? as u64;
                        }
                    }
                    Ok(())
                })?;
            }
        }
        Ok(report)
    }

    /// The snapshot position of a removal candidate with content hash `hash` whose file is still
    /// missing (the row a new file with these bytes was moved or renamed from), if any. Looked up
    /// through the `images_hash` index, so reconcile holds no hashes; the lowest id wins.
    fn moved_from(
        &self,
        tx: &Transaction,
        known: &Known,
        gone: &[bool],
        hash: &str,
    ) -> Result<Option<usize>> {
        let mut stmt =
            tx.prepare_cached("SELECT id, rel_path FROM images WHERE content_hash = ?1 ORDER BY id")?;
        let mut rows = stmt.query([hash])?;
        while let Some(r) = rows.next()? {
            let (id, rel): (i64, String) = (r.get(0)?, r.get(1)?);
            if let Some(i) = known.position(&rel)
                && gone[i]
                && known.row(i).id == id
                && fs::symlink_metadata(self.abs(&rel)).is_err()
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Drops every image row and re-indexes the folder from the files alone (ledger rows are
    /// untouched). Ratings and favourites, which files do not carry, are carried over by content
    /// hash when the old rows are readable. Fails with [`Error::Missing`], before dropping
    /// anything, if the gallery folder does not exist.
    pub fn rebuild(&self) -> Result<ReconcileReport> {
        if !self.root.is_dir() {
            return Err(Error::missing(format!("The gallery folder {}", self.root.display())));
        }
        let kept: Vec<(String, i64, bool)> = self.db.with_tx(|tx| {
            let kept = tx
                .prepare(
                    "SELECT content_hash, MAX(rating), MAX(favourite) FROM images \
                          WHERE rating > 0 OR favourite = 1 GROUP BY content_hash",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.execute("DELETE FROM images", [])?;
            // Re-derive the FTS index from scratch in case it was damaged.
            tx.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')", [])?;
            tx.execute("INSERT INTO images_grams(images_grams) VALUES ('delete-all')", [])?;
            Ok(kept)
        })?;
        let report = self.reconcile()?;
        if !kept.is_empty() {
            self.db.with_tx(|tx| {
                let mut stmt = tx.prepare_cached(
                    "UPDATE images SET rating = ?2, favourite = ?3 WHERE content_hash = ?1",
                )?;
                for (hash, rating, fav) in &kept {
                    stmt.execute(params![hash, rating, fav])?;
                }
                Ok(())
            })?;
        }
        Ok(report)
    }

    /// Number of indexed images.
    pub fn count(&self) -> Result<u64> {
        let n: i64 = self.db.with(|c| c.query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` images, newest first, whose thumbnail is missing on disk (and whose file
    /// exists): `(id, absolute source path, thumbnail path)`, for lazy generation.
    pub fn missing_thumbnails(&self, limit: u32) -> Result<Vec<MissingThumb>> {
        Ok(self.missing_thumbnails_after(None, limit)?.0)
    }

    /// Like [`Gallery::missing_thumbnails`], resumable: scans newest first from `after` (`None`:
    /// the newest image) and returns the images found plus where to continue (`None` once the
    /// whole index was scanned). Walking the index this way visits each row once, however many
    /// thumbnails are missing.
    pub fn missing_thumbnails_after(
        &self,
        after: Option<ScanPosition>,
        limit: u32,
    ) -> Result<(Vec<MissingThumb>, Option<ScanPosition>)> {
        const CHUNK: i64 = 500;
        let mut out = Vec::new();
        let mut pos = after;
        if limit == 0 {
            return Ok((out, pos));
        }
        loop {
            let rows: Vec<(i64, String, String, i64)> = self.db.with(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, rel_path, content_hash, created_at FROM images \
                     WHERE ?1 IS NULL OR (created_at, id) < (?2, ?3) ORDER BY created_at DESC, id DESC LIMIT ?4",
                )?;
                let (flag, ca, id) = match pos {
                    Some(p) => (Some(1), p.created_ms, p.id),
                    None => (None, 0, 0),
                };
                stmt.query_map(params![flag, ca, id, CHUNK], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })?;
            let short = rows.len() < CHUNK as usize;
            for (id, rel, hash, created_ms) in rows {
                pos = Some(ScanPosition { created_ms, id });
                let thumb = thumbs::thumb_path(&self.thumbs_dir, &hash);
                if thumb.exists() {
                    continue;
                }
                let src = self.abs(&rel);
                if src.exists() {
                    out.push((id, src, thumb));
                    if out.len() >= limit as usize {
                        return Ok((out, pos));
                    }
                }
            }
            if short {
                return Ok((out, None));
            }
        }
    }

    fn abs(&self, rel: &str) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(rel.split('/'));
        p
    }

    fn update_each(&self, ids: &[i64], sql: &str, value: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.db.with_tx(|tx| {
            let mut stmt = tx.prepare_cached(sql)?;
            for id in ids {
                stmt.execute(params![id, value])?;
            }
            Ok(())
        })
    }

    /// Reads, hashes and describes a new file (outside any transaction: this is the slow part).
    fn prepare_new<'a>(&self, f: &'a DiskFile) -> Result<(&'a DiskFile, NewImage)> {
        let abs = self.abs(&f.rel);
        let bytes = fs::read(&abs).map_err(|e| Error::io("reading the image", &abs, e))?;
        let content_hash = files::content_hash(&bytes);
        let (meta, width, height) = describe_file(&abs, &bytes)?;
        let created_at = meta
            .created_at
            .or_else(|| f.mtime.and_then(DateTime::<Utc>::from_timestamp_millis))
            .unwrap_or_else(Utc::now);
        let meta = ImageMeta { width, height, ..meta };
        Ok((
            f,
            NewImage {
                rel_path: f.rel.to_string(),
                meta,
                content_hash,
                file_size: bytes.len() as u64,
                ledger_id: None,
                created_at,
            },
        ))
    }
}

/// A row as reconcile's snapshot knows it (keyed by its `rel_path`).
struct KnownRow {
    id: i64,
    size: i64,
    mtime: Option<i64>,
}

/// Reconcile's snapshot of the index: rows sorted by path, the paths in one shared buffer.
///
/// Why one buffer: as separate strings the paths were one small allocation each (100,000 of
/// them, a few MB, at 100,000 images), left behind as free fragments in the allocator's heap when
/// reconcile ended, resident until the app's next heap trim. Two large allocations (the buffer
/// and the rows) go straight back to the OS when the snapshot is dropped.
struct Known {
    paths: String,
    rows: Vec<(std::ops::Range<usize>, KnownRow)>,
}

impl Known {
    fn with_capacity(rows: usize) -> Known {
        // ~40 bytes per path in a typical gallery (`2026-11/<name>.png`); the buffer grows as needed.
        Known { paths: String::with_capacity(rows.saturating_mul(40)), rows: Vec::with_capacity(rows) }
    }

    fn push(&mut self, rel: &str, row: KnownRow) {
        let start = self.paths.len();
        self.paths.push_str(rel);
        self.rows.push((start..self.paths.len(), row));
    }

    /// Sorts by path (byte order, as `str`'s `Ord`); [`Known::position`] needs it.
    fn sort(&mut self) {
        let paths = &self.paths;
        self.rows.sort_unstable_by(|a, b| paths[a.0.clone()].cmp(&paths[b.0.clone()]));
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn row(&self, i: usize) -> &KnownRow {
        &self.rows[i].1
    }

    /// Where `rel` is in the snapshot.
    fn position(&self, rel: &str) -> Option<usize> {
        self.rows.binary_search_by(|(r, _)| self.paths[r.clone()].cmp(rel)).ok()
    }

    /// (path, row), in path order.
    fn iter(&self) -> impl Iterator<Item = (&str, &KnownRow)> {
        self.rows.iter().map(|(r, k)| (&self.paths[r.clone()], k))
    }
}

/// A gallery file found on disk.
#[derive(Debug)]
struct DiskFile {
    rel: Box<str>,
    size: u64,
    mtime: Option<i64>,
}

enum Indexed {
    Added,
    /// The file is a moved copy of the row that had this path.
    Moved(String),
    AlreadyThere,
}

/// The file's metadata (ours or A1111, from PNG chunks or JPEG/WebP XMP/EXIF; else empty) and
/// its real pixel size.
fn describe_file(abs: &Path, bytes: &[u8]) -> Result<(ImageMeta, u32, u32)> {
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io("reading the image", abs, e))?
        .into_dimensions()
        .map_err(|e| Error::Image(format!("{}: {e}", abs.display())))?;
    let meta = match crate::export::read_embedded_metadata(bytes) {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(path = %abs.display(), error = %e, "unreadable image metadata; indexing without it");
            ImageMeta::default()
        }
    };
    Ok((meta, width, height))
}

/// Indexes a new file found by reconcile. If its task identity belongs to a row whose file is
/// gone, that row is moved here; if that file still exists (a copy), the copy is indexed without
/// the task identity (the index allows one row per task output; the file keeps its metadata).
fn index_new(tx: &Transaction, f: &DiskFile, img: &NewImage, root: &Path) -> Result<Indexed> {
    let (id, inserted) = insert_tx(tx, img, f.mtime)?;
    if inserted {
        return Ok(Indexed::Added);
    }
    let existing_rel: String =
        tx.query_row("SELECT rel_path FROM images WHERE id = ?1", [id], |r| r.get(0))?;
    if existing_rel == img.rel_path {
        return Ok(Indexed::AlreadyThere);
    }
    let mut existing_abs = root.to_path_buf();
    existing_abs.extend(existing_rel.split('/'));
    if fs::symlink_metadata(&existing_abs).is_err() {
        if move_row(tx, id, f)? == 0 {
            return Ok(Indexed::AlreadyThere);
        }
        tx.execute(
            "UPDATE images SET content_hash = ?2 WHERE id = ?1 AND content_hash <> ?2",
            params![id, img.content_hash],
        )?;
        return Ok(Indexed::Moved(existing_rel));
    }
    let mut copy = img.clone();
    copy.meta.task_id = None;
    copy.meta.output_index = None;
    let (_, inserted) = insert_tx(tx, &copy, f.mtime)?;
    Ok(if inserted { Indexed::Added } else { Indexed::AlreadyThere })
}

/// The image a file's source is, found by the source's bytes (`ImageMeta::source_image_hash`), as
/// an SQL `(SELECT …)` expression: the image with content hash `$hash`, preferring the id the file
/// names (`$named`) when that image has those bytes, else the oldest, and never the row being
/// linked (`$itself`). The one rule for insert, refresh and the post-pass link.
macro_rules! source_by_hash {
    ($hash:literal, $named:literal, $itself:literal) => {
        concat!(
            "(SELECT s.id FROM images s WHERE s.content_hash = ",
            $hash,
            " AND s.id != ",
            $itself,
            " ORDER BY s.id = ",
            $named,
            " DESC, s.id LIMIT 1)"
        )
    };
}

/// An image just indexed whose file names its source by content: linked again once everything
/// of the same pass is indexed, in case its source was indexed after it.
#[derive(Debug, Clone)]
pub(crate) struct PendingLink {
    rel_path: String,
    source_hash: String,
    source_id: Option<i64>,
}

impl PendingLink {
    pub(crate) fn of(img: &NewImage) -> Option<PendingLink> {
        Some(PendingLink {
            rel_path: img.rel_path.clone(),
            source_hash: img.meta.source_image_hash.clone()?,
            source_id: img.meta.source_id(),
        })
    }
}

/// Links each pending image that has no source yet to the image with its source's bytes (the
/// one with the id its file names when that one has them, else the oldest; never itself).
pub(crate) fn link_sources_by_hash(tx: &Transaction, pending: &[PendingLink]) -> Result<()> {
    let mut stmt = tx.prepare_cached(concat!(
        "UPDATE images SET source_image_id = ",
        source_by_hash!("?2", "?3", "images.id"),
        " WHERE rel_path = ?1 AND source_image_id IS NULL"
    ))?;
    for p in pending {
        stmt.execute(params![p.rel_path, p.source_hash, p.source_id])?;
    }
    Ok(())
}

/// Points row `id` at the file `f` (a move or rename). 0 if another row already has that path.
fn move_row(tx: &Transaction, id: i64, f: &DiskFile) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE OR IGNORE images SET rel_path = ?2, file_size = ?3, file_mtime = ?4 WHERE id = ?1",
        params![id, f.rel, f.size, f.mtime],
    )
}

fn refresh_row(
    tx: &Transaction,
    id: i64,
    meta: &ImageMeta,
    width: u32,
    height: u32,
    hash: &str,
    f: &DiskFile,
) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE images SET content_hash = ?2, file_size = ?3, file_mtime = ?4, width = ?5, height = ?6 WHERE id = ?1",
        params![id, hash, f.size, f.mtime, width, height],
    )?;
    // Only overwrite what the file says (an edited file that lost its metadata keeps the prompt).
    // The source link is the exception: the index's link wins, and the file only fills a NULL,
    // by its source's content hash (`ImageMeta::source_image_hash`), never by its id: a file keeps the id
    // of the index it was first saved to, stale after a rebuild (`gallery_ops::rebuild_keeping_links`
    // holds the remapped one) and meaningless in another gallery.
    if !meta.prompt.is_empty() {
        tx.execute(
            concat!(
                "UPDATE images SET prompt = ?2, negative_prompt = ?3, model = COALESCE(?4, model), \
                     task_type = COALESCE(?5, task_type), seed = COALESCE(?6, seed), steps = COALESCE(?7, steps), \
                     guidance = COALESCE(?8, guidance), source_image_id = COALESCE(source_image_id, ",
                source_by_hash!("?11", "?9", "?1"),
                "), task_json = COALESCE(?10, task_json) WHERE id = ?1"
            ),
            params![
                id,
                meta.prompt,
                meta.negative_prompt,
                meta.model,
                meta.task_type,
                meta.seed,
                meta.steps,
                meta.guidance.map(f64::from),
                meta.source_id(),
                task_json(meta.task_settings.as_ref()),
                meta.source_image_hash
            ],
        )?;
        set_grams(tx, id, &meta.prompt, true)?;
    }
    Ok(1)
}

/// The idempotent insert shared by [`Gallery::insert`] and reconcile.
fn insert_tx(tx: &Transaction, img: &NewImage, mtime: Option<i64>) -> Result<(i64, bool)> {
    let m = &img.meta;
    let task_id = m.task_id.as_deref().filter(|t| !t.trim().is_empty());
    let output_index = match (task_id, m.output_index) {
        (Some(_), None) => Some(0),
        (_, idx) => idx,
    };
    let inserted: Option<i64> = tx
        .query_row(
            concat!(
                "INSERT INTO images (rel_path, prompt, negative_prompt, model, task_type, width, height, seed, steps, \
                     guidance, task_id, output_index, cost_usd, created_at, content_hash, file_size, file_mtime, \
                     ledger_id, indexed_at, source_image_id, task_json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                     COALESCE(?18, (SELECT id FROM tasks WHERE task_id = ?11)), ?19, ",
                // The row does not exist yet, so it cannot be its own source (ids are positive).
                source_by_hash!("?22", "?20", "0"),
                ", ?21) ON CONFLICT DO NOTHING RETURNING id"
            ),
            params![
                img.rel_path,
                m.prompt,
                m.negative_prompt,
                m.model,
                m.task_type,
                m.width,
                m.height,
                m.seed,
                m.steps,
                m.guidance.map(f64::from),
                task_id,
                output_index,
                m.cost_usd,
                to_ms(img.created_at),
                img.content_hash,
                img.file_size,
                mtime,
                img.ledger_id,
                now_ms(),
                m.source_id(),
                task_json(m.task_settings.as_ref()),
                m.source_image_hash
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = inserted {
        set_grams(tx, id, &m.prompt, false)?;
        return Ok((id, true));
    }
    let by_task: Option<i64> = match task_id {
        Some(t) => tx
            .query_row(
                "SELECT id FROM images WHERE task_id = ?1 AND output_index = ?2",
                params![t, output_index],
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    let existing = match by_task {
        Some(id) => Some(id),
        None => tx
            .query_row("SELECT id FROM images WHERE rel_path = ?1", [&img.rel_path], |r| r.get(0))
            .optional()?,
    };
    existing
        .map(|id| (id, false))
        .ok_or_else(|| Error::Internal(format!("inserting {} conflicted with no visible row", img.rel_path)))
}

/// Validates a stored relative path: non-empty, `/`-separated, no `.`/`..`, not absolute.
fn check_rel_path(rel: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid_input("rel_path", format!("\"{rel}\" {why}"));
    if rel.is_empty() {
        return Err(bad("is empty"));
    }
    if rel.starts_with('/') || rel.contains('\\') || rel.contains(':') && cfg!(windows) {
        return Err(bad("must be relative to the gallery folder with / separators"));
    }
    if rel.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(bad("has an empty, . or .. component"));
    }
    Ok(())
}

fn rel_to_string(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

fn mtime_ms(m: &fs::Metadata) -> Option<i64> {
    let d = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// Calls `found` with every image file under `root`, in no particular order. Hidden entries (`.`
/// prefix, which includes our in-progress temp files) and symlinked folders are skipped;
/// unreadable folders and non-UTF-8 names are reported in `failed`. Nothing is kept here: the
/// caller keeps what it needs (at 100,000 images, a list of every file would cost ~12 MiB).
fn walk_gallery(root: &Path, failed: &mut Vec<String>, mut found: impl FnMut(DiskFile)) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                failed.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name_str) = name.to_str() else {
                failed.push(format!("{}: the file name is not valid UTF-8", entry.path().display()));
                continue;
            };
            if name_str.starts_with('.') || name_str.ends_with('~') {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = Path::new(name_str).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if !ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
                continue;
            }
            // Follows a symlinked file; skips one that dangles.
            let Ok(meta) = fs::metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let Some(rel) = path.strip_prefix(root).ok().and_then(rel_to_string) else { continue };
            found(DiskFile { rel: rel.into_boxed_str(), size: meta.len(), mtime: mtime_ms(&meta) });
        }
    }
}

/// The WHERE clauses and their arguments for a query's filters (not the cursor).
struct Filter {
    /// Everything but the index matches: the `LIKE` of each 1–2 character term and the other
    /// filters.
    clauses: Vec<String>,
    args: Vec<Value>,
    /// The FTS5 match expression for the 3+ character terms (trigram index, exact).
    fts: Option<String>,
    /// The FTS5 match expression for the 1–2 character terms (`images_grams`: a superset of the
    /// `LIKE` matches, which decide).
    grams: Option<String>,
}

/// What the text indexes say about a query's text (counted once per page, up to a cap: only
/// "few or many" matters for a plan, and counting a common term to the end costs milliseconds).
#[derive(Debug, Clone, Copy)]
struct TextCounts {
    /// Prompts matching the 3+ character terms (exact when `fts_exact`, else at least this);
    /// `None` without such terms.
    fts: Option<i64>,
    fts_exact: bool,
    /// Candidates for the 1–2 character terms (exact when below `grams_cap`); `None` without
    /// such terms.
    grams: Option<i64>,
    grams_cap: i64,
}

impl TextCounts {
    /// `fts_known`: an exact trigram count carried by a cursor.
    fn take(
        c: &rusqlite::Connection,
        filter: &Filter,
        fts_known: Option<i64>,
        grams_cap: i64,
    ) -> rusqlite::Result<TextCounts> {
        let (fts, fts_exact) = match (&filter.fts, fts_known) {
            (Some(_), Some(n)) => (Some(n), true),
            (Some(expr), None) => {
                let n: i64 = c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM images_fts WHERE images_fts MATCH ?1 LIMIT ?2)",
                    )?
                    .query_row(params![expr, DENSE_MATCHES + 1], |r| r.get(0))?;
                (Some(n), n <= DENSE_MATCHES)
            }
            (None, _) => (None, false),
        };
        let grams = match &filter.grams {
            // Nothing can match: no need to look further.
            Some(_) if fts == Some(0) => Some(0),
            Some(expr) => Some(
                c.prepare_cached(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM images_grams WHERE images_grams MATCH ?1 LIMIT ?2)",
                )?
                .query_row(params![expr, grams_cap], |r| r.get(0))?,
            ),
            None => None,
        };
        Ok(TextCounts { fts, fts_exact, grams, grams_cap })
    }

    /// No image can match.
    fn none(&self) -> bool {
        self.fts == Some(0) || self.grams == Some(0)
    }

    fn fts_dense(&self) -> bool {
        self.fts.is_some_and(|n| n > DENSE_MATCHES)
    }

    fn grams_sparse(&self) -> bool {
        self.grams.is_some_and(|n| n <= DENSE_MATCHES)
    }

    /// Fewer 1–2 character candidates than `n` (known exactly).
    fn grams_below(&self, n: i64) -> bool {
        self.grams.is_some_and(|g| g < n && g < self.grams_cap)
    }

    /// Text whose matches no index narrows to a few: the page is found by testing the next
    /// images in page order ([`PagePlan::probe`]).
    fn dense_text(&self) -> bool {
        (self.fts.is_some() || self.grams.is_some())
            && !self.grams_sparse()
            && self.fts.is_none_or(|n| n > DENSE_MATCHES)
    }
}

/// How [`Filter::sql`] uses `images_grams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grams {
    /// Not at all (the `LIKE` clauses decide alone).
    Skip,
    /// As a match set to start from (few candidates).
    Drive,
    /// As a match set probed while walking the sort index (many candidates).
    Probe,
}

impl Filter {
    fn build(q: &GalleryQuery) -> Result<Filter> {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        let mut fts = None;
        let mut grams = None;
        if let Some(text) = q.text.as_deref() {
            let mut fts_terms = Vec::new();
            let mut gram_terms = Vec::new();
            for term in text.split_whitespace() {
                if term.chars().count() >= 3 {
                    fts_terms.push(format!("prompt : \"{}\"", term.replace('"', "\"\"")));
                } else {
                    clauses.push("prompt LIKE ? ESCAPE '\\'".to_string());
                    args.push(Value::Text(format!("%{}%", escape_like(term))));
                    gram_terms.push(format!("\"{}\"", crate::db::gram_token(term).replace('"', "\"\"")));
                }
            }
            if !fts_terms.is_empty() {
                fts = Some(fts_terms.join(" AND "));
            }
            if !gram_terms.is_empty() {
                grams = Some(gram_terms.join(" AND "));
            }
        }
        if let Some(model) = q.model.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            let canonical =
                piapi::Model::parse(model).map(|m| m.id().to_string()).unwrap_or_else(|_| model.to_string());
            clauses.push("~model IN (?, ?)".to_string());
            args.push(Value::Text(canonical));
            args.push(Value::Text(model.to_string()));
        }
        match q.min_rating {
            Some(r) if r > 5 => {
                return Err(Error::invalid_input("min_rating", format!("{r} is out of range; use 0–5")));
            }
            Some(r) if r > 0 => {
                clauses.push("~rating >= ?".to_string());
                args.push(Value::Integer(i64::from(r)));
            }
            _ => {}
        }
        if q.favourites_only {
            clauses.push("~favourite = 1".to_string());
        }
        if let Some(t) = q.created_after {
            clauses.push("created_at >= ?".to_string());
            args.push(Value::Integer(to_ms(t)));
        }
        if let Some(t) = q.created_before {
            clauses.push("created_at < ?".to_string());
            args.push(Value::Integer(to_ms(t)));
        }
        match q.aspect {
            Some(Aspect::Square) => clauses.push("width = height".to_string()),
            Some(Aspect::Landscape) => clauses.push("width > height".to_string()),
            Some(Aspect::Portrait) => clauses.push("width < height".to_string()),
            None => {}
        }
        if let Some(w) = q.width {
            clauses.push("width = ?".to_string());
            args.push(Value::Integer(i64::from(w)));
        }
        if let Some(h) = q.height {
            clauses.push("height = ?".to_string());
            args.push(Value::Integer(i64::from(h)));
        }
        Ok(Filter { clauses, args, fts, grams })
    }

    /// A short hash identifying these filters (to tell whether a cursor's counts still apply).
    fn fingerprint(&self) -> String {
        let text = format!("{:?}|{:?}|{:?}", self.clauses, self.args, self.fts);
        blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
    }

    /// All clauses and arguments. With a dense trigram match, keep SQLite from driving the query
    /// by it or by the model/rating/favourite indexes (a unary `+` disables an index for that
    /// term): the sort index leads, and `images_created` covers every filter column, so a count
    /// is one index scan plus a probe of the match set. Clauses mark such columns `~`. `grams`
    /// says how the 1–2 character terms' index takes part.
    fn sql(&self, counts: &TextCounts, grams: Grams) -> (Vec<String>, Vec<Value>) {
        let dense = counts.fts_dense();
        let plus = if dense { "+" } else { "" };
        let mut clauses: Vec<String> = self.clauses.iter().map(|c| c.replace('~', plus)).collect();
        let mut args = self.args.clone();
        if let Some(expr) = &self.fts {
            let id = if dense { "+id" } else { "id" };
            clauses.push(format!("{id} IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)"));
            args.push(Value::Text(expr.clone()));
        }
        if let Some(expr) = &self.grams {
            let id = match grams {
                Grams::Skip => None,
                Grams::Drive => Some("id"),
                Grams::Probe => Some("+id"),
            };
            if let Some(id) = id {
                clauses.push(format!("{id} IN (SELECT rowid FROM images_grams WHERE images_grams MATCH ?)"));
                args.push(Value::Text(expr.clone()));
            }
        }
        (clauses, args)
    }

    /// Every match. [`Gallery::list`] and [`Gallery::count_matches`] both count here.
    fn count(&self, c: &rusqlite::Connection, counts: &TextCounts) -> rusqlite::Result<i64> {
        if counts.none() {
            return Ok(0);
        }
        // Text of 3+ character terms is the only filter: the FTS index counts by itself.
        if let (Some(n), Some(expr), true) = (counts.fts, &self.fts, self.clauses.is_empty()) {
            return if counts.fts_exact { Ok(n) } else { fts_matches(c, expr) };
        }
        // 1–2 character terms: start from their candidates while there are few enough; with
        // more, one pass over the table is cheaper than a row lookup per candidate.
        let grams = if counts.grams_below(GRAMS_COUNT_CAP) { Grams::Drive } else { Grams::Skip };
        let (clauses, args) = self.sql(counts, grams);
        count_where(c, &clauses, &args)
    }

    /// Whether [`Filter::count`] costs about as little as a page: no text (index ranges over the
    /// filter columns) or a sparse index match (at most [`DENSE_MATCHES`] rows probed, or that
    /// many trigram matches counted). Not: common terms (counting a common trigram term reads
    /// its whole posting list, ~1–7 ms; a common 1–2 character term a pass over the table or a
    /// row lookup per candidate; with other filters a walk of the date index).
    fn count_is_cheap(&self, counts: &TextCounts) -> bool {
        match (counts.fts, counts.grams) {
            (None, None) => true,
            _ if counts.none() => true,
            (fts, grams) => {
                fts.is_some_and(|n| n <= DENSE_MATCHES) || grams.is_some_and(|n| n <= DENSE_MATCHES)
            }
        }
    }
}

/// Counts a pass already took, carried by its cursor.
#[derive(Debug, Clone, Copy)]
struct Carried {
    /// All matches.
    total: Option<i64>,
    /// Trigram index matches (3+ character terms).
    matches: Option<i64>,
}

/// A page as [`PagePlan::run`] found it: up to `limit + 1` items (one more means more pages).
struct Listed {
    items: Vec<ImageRecord>,
    total: Option<i64>,
    fts_count: Option<i64>,
}

/// How [`Gallery::list`] finds one page.
struct PagePlan<'a> {
    q: &'a GalleryQuery,
    filter: &'a Filter,
    cursor: Option<&'a Cursor>,
    limit: u32,
    carried: Carried,
}

impl PagePlan<'_> {
    fn run(&self, tx: &Transaction) -> rusqlite::Result<Listed> {
        let filter = self.filter;
        // Asked to count: count the 1–2 character candidates far enough to choose how to count.
        let grams_cap =
            if self.q.count && self.carried.total.is_none() { GRAMS_COUNT_CAP } else { DENSE_MATCHES + 1 };
        let counts = TextCounts::take(tx, filter, self.carried.matches, grams_cap)?;
        let fts_count = counts.fts.filter(|_| counts.fts_exact);
        let listed = |items, total| Ok(Listed { items, total, fts_count });
        if counts.none() {
            return listed(Vec::new(), Some(0));
        }
        let keep = self.limit as usize + 1;
        let total = |items: &Vec<ImageRecord>| -> rusqlite::Result<Option<i64>> {
            Ok(match self.carried.total {
                Some(total) => Some(total),
                // The whole result fits on this first page.
                None if self.cursor.is_none() && items.len() < keep => Some(items.len() as i64),
                None if self.q.count || filter.count_is_cheap(&counts) => Some(filter.count(tx, &counts)?),
                None => None,
            })
        };

        if counts.dense_text() {
            // A common term: its page is among the next few thousand images in page order.
            let items = self.probe(tx)?;
            if items.len() >= keep {
                let total = total(&items)?;
                return listed(items, total);
            }
            // Rarer there (an older term, or narrowed by other filters): walk the sort index,
            // probing the whole match set.
            let grams = if filter.grams.is_some() { Grams::Probe } else { Grams::Skip };
            let (clauses, args) = filter.sql(&counts, grams);
            let items = self.walk(tx, &clauses, &args)?;
            let total = total(&items)?;
            return listed(items, total);
        }
        // Few matches for some index: start from them and sort them (SQLite picks the smaller
        // set when both indexes have few); no text: the sort index (or a filter's) leads.
        let grams = if counts.grams_sparse() { Grams::Drive } else { Grams::Skip };
        let (clauses, args) = filter.sql(&counts, grams);
        let items = self.walk(tx, &clauses, &args)?;
        let total = total(&items)?;
        listed(items, total)
    }

    /// The first `limit + 1` matches among the next [`SHORT_TERM_PROBE`] images in page order
    /// (after the cursor): exactly the page when that many are found there. Those images lead
    /// the query; a trigram match is looked up only in their rowid range (a short stretch of
    /// each posting list, however common the term), 1–2 character terms by `LIKE`.
    fn probe(&self, tx: &Transaction) -> rusqlite::Result<Vec<ImageRecord>> {
        let (order, after) = order_sql(self.q.sort);
        let inner_where = if self.cursor.is_some() { format!(" WHERE {after}") } else { String::new() };
        let mut args = self.cursor_args();
        args.push(Value::Integer(SHORT_TERM_PROBE));
        let mut clauses: Vec<String> = self.filter.clauses.iter().map(|c| c.replace('~', "+")).collect();
        args.extend(self.filter.args.iter().cloned());
        if let Some(expr) = &self.filter.fts {
            clauses.push(
                "id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ? \
                 AND rowid BETWEEN (SELECT min(wid) FROM w) AND (SELECT max(wid) FROM w))"
                    .to_string(),
            );
            args.push(Value::Text(expr.clone()));
        }
        args.push(Value::Integer(i64::from(self.limit) + 1));
        let sql = format!(
            "WITH w(wid) AS MATERIALIZED (SELECT id FROM images{inner_where} ORDER BY {order} LIMIT ?) \
             SELECT {COLUMNS} FROM w CROSS JOIN images ON images.id = w.wid{} ORDER BY {order} LIMIT ?",
            where_sql(&clauses)
        );
        tx.prepare_cached(&sql)?.query_map(params_from_iter(args), record_from_row)?.collect()
    }

    /// The page by the query planner: an index in sort order walked from the cursor, or a
    /// sparse index match sorted.
    fn walk(
        &self,
        tx: &Transaction,
        clauses: &[String],
        args: &[Value],
    ) -> rusqlite::Result<Vec<ImageRecord>> {
        let (order, after) = order_sql(self.q.sort);
        let mut page_where = clauses.to_vec();
        let mut page_args = args.to_vec();
        if self.cursor.is_some() {
            page_where.push(after.to_string());
            page_args.extend(self.cursor_args());
        }
        page_args.push(Value::Integer(i64::from(self.limit) + 1));
        let sql = format!("SELECT {COLUMNS} FROM images{} ORDER BY {order} LIMIT ?", where_sql(&page_where));
        tx.prepare_cached(&sql)?.query_map(params_from_iter(page_args), record_from_row)?.collect()
    }

    /// The arguments of [`order_sql`]'s "after the cursor" clause (none without a cursor).
    fn cursor_args(&self) -> Vec<Value> {
        let Some(c) = self.cursor else { return Vec::new() };
        let mut out = Vec::with_capacity(3);
        if self.q.sort == SortOrder::Rating {
            out.push(Value::Integer(i64::from(c.rating)));
        }
        out.push(Value::Integer(c.created_ms));
        out.push(Value::Integer(c.id));
        out
    }
}

/// `ORDER BY` of a sort, and its "after the cursor" condition.
fn order_sql(sort: SortOrder) -> (&'static str, &'static str) {
    match sort {
        SortOrder::Newest => ("created_at DESC, id DESC", "(created_at, id) < (?, ?)"),
        SortOrder::Oldest => ("created_at ASC, id ASC", "(created_at, id) > (?, ?)"),
        SortOrder::Rating => {
            ("rating DESC, created_at DESC, id DESC", "(rating, created_at, id) < (?, ?, ?)")
        }
    }
}

/// Prompts the trigram index matches (3+ character terms).
fn fts_matches(c: &rusqlite::Connection, expr: &str) -> rusqlite::Result<i64> {
    c.prepare_cached("SELECT COUNT(*) FROM images_fts WHERE images_fts MATCH ?1")?
        .query_row([expr], |r| r.get(0))
}

fn count_where(c: &rusqlite::Connection, clauses: &[String], args: &[Value]) -> rusqlite::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM images{}", where_sql(clauses));
    c.prepare_cached(&sql)?.query_row(params_from_iter(args), |r| r.get(0))
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The keyset position after the last item of a page — (rating,) created_at, id — plus the pass's
/// counts (total, text matches or -1), valid for the filters with this fingerprint.
struct Cursor {
    sort: SortOrder,
    rating: u8,
    created_ms: i64,
    id: i64,
    total: i64,
    matches: i64,
    fingerprint: String,
}

impl Cursor {
    fn from_record(sort: SortOrder, r: &ImageRecord) -> Cursor {
        let rating = if sort == SortOrder::Rating { r.rating } else { 0 };
        Cursor {
            sort,
            rating,
            created_ms: to_ms(r.created_at),
            id: r.id,
            total: 0,
            matches: -1,
            fingerprint: String::new(),
        }
    }

    /// Hex of `v1:<n|o|r>:<rating>:<created_ms>:<id>:<total>:<matches>:<fingerprint>`.
    fn encode(&self) -> String {
        let text = format!(
            "v1:{}:{}:{}:{}:{}:{}:{}",
            sort_tag(self.sort),
            self.rating,
            self.created_ms,
            self.id,
            self.total,
            self.matches,
            self.fingerprint
        );
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(s: &str, sort: SortOrder) -> Result<Cursor> {
        let bad =
            || Error::invalid_input("cursor", "the page cursor is not valid; start from the first page");
        let bytes = hex_decode(s).ok_or_else(bad)?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split(':').collect();
        let [version, tag, rating, created, id, total, matches, fingerprint] = parts.as_slice() else {
            return Err(bad());
        };
        if *version != "v1" {
            return Err(bad());
        }
        if *tag != sort_tag(sort) {
            return Err(Error::invalid_input(
                "cursor",
                "the page cursor belongs to another sort order; start from the first page",
            ));
        }
        Ok(Cursor {
            sort,
            rating: rating.parse().map_err(|_| bad())?,
            created_ms: created.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
            total: total.parse().map_err(|_| bad())?,
            matches: matches.parse().map_err(|_| bad())?,
            fingerprint: fingerprint.to_string(),
        })
    }
}

fn sort_tag(sort: SortOrder) -> &'static str {
    match sort {
        SortOrder::Newest => "n",
        SortOrder::Oldest => "o",
        SortOrder::Rating => "r",
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn record_from_row(r: &Row) -> rusqlite::Result<ImageRecord> {
    let guidance: Option<f64> = r.get(10)?;
    let rating: i64 = r.get(16)?;
    Ok(ImageRecord {
        id: r.get(0)?,
        rel_path: r.get(1)?,
        prompt: r.get(2)?,
        negative_prompt: r.get(3)?,
        model: r.get(4)?,
        task_type: r.get(5)?,
        width: r.get(6)?,
        height: r.get(7)?,
        seed: r.get(8)?,
        steps: r.get(9)?,
        guidance: guidance.map(|g| g as f32),
        task_id: r.get(11)?,
        output_index: r.get(12)?,
        cost_usd: r.get(13)?,
        created_at: from_ms(r.get(14)?, 14)?,
        favourite: r.get(15)?,
        rating: u8::try_from(rating).unwrap_or(0),
        content_hash: r.get(17)?,
        file_size: r.get(18)?,
        ledger_id: r.get(19)?,
        source_image_id: r.get(20)?,
        task: task_from_json(r.get::<_, Option<String>>(21)?.as_deref()),
    })
}

/// `images.task_json`: the task settings as JSON, NULL when there are none.
fn task_json(task: Option<&TaskSettingsView>) -> Option<String> {
    task.filter(|t| !t.is_empty()).and_then(|t| serde_json::to_string(t).ok())
}

/// Reads `images.task_json`; unreadable JSON (a newer Fluxdesk's) counts as none.
fn task_from_json(json: Option<&str>) -> Option<TaskSettingsView> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

#[cfg(test)]
mod tests {
    use super::{Known, KnownRow};

    #[test]
    fn the_snapshot_finds_every_path_after_sorting_and_iterates_in_path_order() {
        let paths = ["b/2.png", "a/10.png", "é/1.png", "a/1.png", "Z.png", "a/1.png.webp", "b/2"];
        let mut known = Known::with_capacity(2);
        for (id, p) in (1..).zip(paths) {
            known.push(p, KnownRow { id, size: id * 10, mtime: None });
        }
        known.sort();
        assert_eq!(known.len(), paths.len());
        let mut sorted = paths.to_vec();
        sorted.sort_unstable();
        assert_eq!(known.iter().map(|(p, _)| p).collect::<Vec<_>>(), sorted, "byte order, as str's Ord");
        for (id, p) in (1..).zip(paths) {
            let i = known.position(p).unwrap_or_else(|| panic!("{p} not found"));
            assert_eq!((known.row(i).id, known.row(i).size), (id, id * 10), "{p}");
        }
        for missing in ["", "a", "a/1", "b/2.pn", "é", "zz"] {
            assert_eq!(known.position(missing), None, "{missing}");
        }
    }
}
