//! Figure 4: the gallery at 100,000 images — time to the first page, search latency and memory —
//! against the targets (first page < 0.5 s, search < 50 ms, memory < 300 MB).
//!
//! The library is real: small PNG files (64×64, the simulator's artwork) carrying Fluxdesk's
//! metadata chunks and distinct prompts, one lossy WebP thumbnail each in the thumbnail cache, and
//! one index row each in a real SQLite file, inserted through `Gallery::insert` (the path the
//! runner uses). It is cached under the bench data folder and reused while its `seed.json` and
//! row count match, so reruns skip seeding.
//!
//! Measurement runs in a fresh child process (`fluxdesk-bench gallery-probe`), so its memory is
//! the gallery's, not the seeder's: open the database, list the first page (200 newest, converted
//! to the UI's `ImageView` with its thumbnail check, as `Studio::list_images` does), the second
//! page by cursor, then every query once. The parent also times spawn → first page printed.
//!
//! The searches are also split by term length (1 character, 2 characters, 3+) and measured in
//! the ways the UI asks since wave 4: a first page with its count (the old way, 200 items), the
//! same page without an expensive count (`count: false`), the UI's small first page without it
//! ([`UI_FIRST_PAGE`] items), and the separate exact count (`Gallery::count_matches`) — each also
//! with a model filter. Each way is one pass over all queries, in that order.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{DateTime, Local, TimeZone, Utc};
use fluxdesk_core::db::Db;
use fluxdesk_core::files;
use fluxdesk_core::gallery::{Gallery, GalleryQuery, NewImage};
use fluxdesk_core::metadata::{self, ImageMeta};
use fluxdesk_core::thumbs;
use piapi::Model;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::imagegen::small_webp;
use crate::stats::{Summary, ms};
use crate::sysinfo::Memory;
use crate::words;

/// Bump when the seeded library's content changes (forces a reseed).
pub const SEED_VERSION: u32 = 1;
/// The targets.
pub const FIRST_PAGE_TARGET_MS: f64 = 500.0;
pub const SEARCH_TARGET_MS: f64 = 50.0;
pub const MEMORY_TARGET_MB: f64 = 300.0;
/// The UI's smallest first page (two viewports of tiles, never fewer than this).
pub const UI_FIRST_PAGE: u32 = 48;

#[derive(Debug, Clone)]
pub struct GalleryParams {
    pub images: usize,
    pub side: u32,
    pub long_queries: usize,
    pub short_queries: usize,
    pub seed: u64,
}

impl GalleryParams {
    pub fn full() -> Self {
        GalleryParams { images: 100_000, side: 64, long_queries: 300, short_queries: 100, seed: 7 }
    }
    pub fn quick() -> Self {
        GalleryParams { long_queries: 100, short_queries: 40, ..Self::full() }
    }
    pub fn smoke() -> Self {
        GalleryParams { images: 300, side: 64, long_queries: 10, short_queries: 4, seed: 7 }
    }
}

/// Written next to the seeded library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedInfo {
    pub version: u32,
    pub images: usize,
    pub side: u32,
    pub seed: u64,
    pub seconds: f64,
    pub image_bytes: u64,
    pub thumb_bytes: u64,
}

/// A target and whether this run met it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub value: f64,
    pub limit: f64,
    pub unit: String,
    pub pass: bool,
}

/// What the probe process measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub open_ms: f64,
    pub first_page_ms: f64,
    pub first_page_items: usize,
    pub total: u64,
    pub second_page_ms: f64,
    pub long_ms: Vec<f64>,
    pub long_matches: Vec<u64>,
    pub short_ms: Vec<f64>,
    pub short_matches: Vec<u64>,
    #[serde(default)]
    pub split: Vec<SearchSplit>,
    pub memory: Memory,
}

/// First-page search latency of one class of queries, in each way the UI may ask (ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchSplit {
    /// "1 character", "2 characters", "3+ characters", each optionally "+ model filter".
    pub class: String,
    pub queries: usize,
    /// Mean matches per query.
    pub match_mean: f64,
    /// 200 items with the exact total (`count: true`, the pre-wave-4 page).
    pub counted_ms: Summary,
    /// 200 items, `count: false`.
    pub uncounted_ms: Summary,
    /// [`UI_FIRST_PAGE`] items, `count: false` (what a keystroke waits for).
    pub small_uncounted_ms: Summary,
    /// How many of the `count: false` pages still carried the total (it came free).
    pub free_totals: usize,
    /// `Gallery::count_matches` alone (what the UI asks next).
    pub count_ms: Summary,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GalleryResult {
    pub images: usize,
    pub side: u32,
    pub seeded_this_run: bool,
    pub seed: SeedInfo,
    pub db_mib: f64,
    /// Measured in a separate, fresh process.
    pub fresh_process: bool,
    /// Parent's clock: spawn of the probe process → its "first page ready" line.
    pub process_to_first_page_ms: Option<f64>,
    pub open_ms: f64,
    pub first_page_ms: f64,
    pub second_page_ms: f64,
    pub search_long_ms: Summary,
    pub search_short_ms: Summary,
    pub long_match_mean: f64,
    pub short_match_mean: f64,
    /// Searches split by term length and by how they are asked (see the module header).
    #[serde(default)]
    pub search_split: Vec<SearchSplit>,
    pub memory: Memory,
    pub targets: Vec<Target>,
}

/// Where a library of `images` lives.
#[derive(Debug, Clone)]
pub struct Library {
    pub dir: PathBuf,
}

impl Library {
    pub fn new(data_dir: &Path, p: &GalleryParams) -> Library {
        Library { dir: data_dir.join(format!("gallery-{}-{}px-v{SEED_VERSION}", p.images, p.side)) }
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("home").join("fluxdesk.db")
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("gallery")
    }
    pub fn thumbs_dir(&self) -> PathBuf {
        self.dir.join("cache").join("thumbs")
    }
    fn info_path(&self) -> PathBuf {
        self.dir.join("seed.json")
    }
    fn gallery(&self) -> Result<Gallery> {
        Ok(Gallery::new(Db::open(&self.db_path())?, self.root(), self.thumbs_dir()))
    }
}

/// Runs figure 4. `probe_exe` is the bench binary to run the probe in (a fresh process); `None`
/// runs it in this process.
pub fn run(p: &GalleryParams, data_dir: &Path, probe_exe: Option<&Path>) -> Result<GalleryResult> {
    let lib = Library::new(data_dir, p);
    let (info, seeded) = ensure_library(&lib, p)?;
    let db_mib = db_size(&lib.db_path()) as f64 / (1024.0 * 1024.0);

    let (probe, spawn_to_first) = match probe_exe {
        Some(exe) => {
            let (r, t) = probe_in_child(exe, &lib, p)?;
            (r, Some(t))
        }
        None => (probe(&lib.dir, p.long_queries, p.short_queries, p.seed, || {})?, None),
    };
    if probe.total != p.images as u64 || probe.first_page_items != p.images.min(200) {
        return Err(BenchError::InvalidRun(format!(
            "the first page listed {} of {} images (expected {})",
            probe.first_page_items, probe.total, p.images
        )));
    }
    let search_long_ms = Summary::of(&probe.long_ms);
    let search_short_ms = Summary::of(&probe.short_ms);
    let mean_u64 = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let first_page = spawn_to_first.unwrap_or(probe.open_ms + probe.first_page_ms);
    let mib_limit = MEMORY_TARGET_MB * 1e6 / (1024.0 * 1024.0);
    let target = |name: &str, value: f64, limit: f64, unit: &str| Target {
        name: name.into(),
        value,
        limit,
        unit: unit.into(),
        pass: value < limit,
    };
    let targets = vec![
        target("first page (fresh process)", first_page, FIRST_PAGE_TARGET_MS, "ms"),
        target("search p95, 3+ characters", search_long_ms.p95, SEARCH_TARGET_MS, "ms"),
        target("search p95, 1–2 characters", search_short_ms.p95, SEARCH_TARGET_MS, "ms"),
        target("peak memory (VmHWM)", probe.memory.hwm_mib, mib_limit, "MiB"),
    ];
    Ok(GalleryResult {
        images: p.images,
        side: p.side,
        seeded_this_run: seeded,
        seed: info,
        db_mib,
        fresh_process: probe_exe.is_some(),
        process_to_first_page_ms: spawn_to_first,
        open_ms: probe.open_ms,
        first_page_ms: probe.first_page_ms,
        second_page_ms: probe.second_page_ms,
        long_match_mean: mean_u64(&probe.long_matches),
        short_match_mean: mean_u64(&probe.short_matches),
        search_long_ms,
        search_short_ms,
        search_split: probe.split,
        memory: probe.memory,
        targets,
    })
}

fn db_size(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// Reuses the cached library when its `seed.json` and row count match, else seeds it afresh.
/// Returns the seed info and whether it was seeded now.
pub fn ensure_library(lib: &Library, p: &GalleryParams) -> Result<(SeedInfo, bool)> {
    if let Ok(text) = std::fs::read_to_string(lib.info_path())
        && let Ok(info) = serde_json::from_str::<SeedInfo>(&text)
        && info.version == SEED_VERSION
        && info.images == p.images
        && info.seed == p.seed
        && info.side == p.side
        && lib.gallery().and_then(|g| Ok(g.count()?)).is_ok_and(|n| n == p.images as u64)
    {
        return Ok((info, false));
    }
    let info = seed_library(lib, p)?;
    Ok((info, true))
}

/// Writes `p.images` PNG files with metadata, their thumbnails and their index rows.
pub fn seed_library(lib: &Library, p: &GalleryParams) -> Result<SeedInfo> {
    if lib.dir.exists() {
        std::fs::remove_dir_all(&lib.dir)
            .map_err(|e| BenchError::io("removing a stale library", &lib.dir, e))?;
    }
    let started = Instant::now();
    for d in [lib.root(), lib.thumbs_dir()] {
        std::fs::create_dir_all(&d).map_err(|e| BenchError::io("creating the library", &d, e))?;
    }
    let gallery = lib.gallery()?;
    let prompts = words::distinct_prompts(p.images, p.seed);
    let base = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().expect("BUG: a valid fixed date");
    // Two years of history, oldest first.
    let step_ms = (2 * 365 * 24 * 3600 * 1000) / p.images.max(1) as i64;
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map(usize::from).unwrap_or(2).clamp(1, 4);
    let (tx, rx) = mpsc::sync_channel::<Result<(NewImage, u64, u64)>>(1024);
    let mut image_bytes = 0u64;
    let mut thumb_bytes = 0u64;
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, prompts, lib) = (&next, &prompts, &lib);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= prompts.len() {
                        break;
                    }
                    let created = base
                        + chrono::TimeDelta::milliseconds(step_ms * i as i64 + (i as i64 * 7919) % 60_000);
                    let made = make_image(lib, i, &prompts[i], created, p.side);
                    if tx.send(made).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Owning the receiver here closes it on an early return, so blocked workers stop.
        for (n, made) in rx.into_iter().enumerate() {
            let (img, png_len, webp_len) = made?;
            gallery.insert(&img)?;
            image_bytes += png_len;
            thumb_bytes += webp_len;
            if (n + 1) % 20_000 == 0 {
                eprintln!(
                    "  seeded {} of {} images ({:.0} s)",
                    n + 1,
                    p.images,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    })?;
    let info = SeedInfo {
        version: SEED_VERSION,
        images: p.images,
        side: p.side,
        seed: p.seed,
        seconds: started.elapsed().as_secs_f64(),
        image_bytes,
        thumb_bytes,
    };
    let json = serde_json::to_string_pretty(&info)?;
    std::fs::write(lib.info_path(), json)
        .map_err(|e| BenchError::io("writing seed.json", lib.info_path(), e))?;
    Ok(info)
}

/// One library image: PNG with metadata, its thumbnail, and the row to index.
fn make_image(
    lib: &Library,
    i: usize,
    prompt: &str,
    created: DateTime<Utc>,
    side: u32,
) -> Result<(NewImage, u64, u64)> {
    let model = if i % 5 < 3 { Model::Schnell } else { Model::Dev };
    let task_id = format!("bench-{i:08}-0000-4000-8000-000000000000");
    let meta = ImageMeta {
        prompt: prompt.to_string(),
        model: Some(model.id().to_string()),
        task_type: Some("txt2img".into()),
        width: side,
        height: side,
        seed: Some(i as i64),
        steps: Some(if model == Model::Schnell { 4 } else { 28 }),
        guidance: Some(3.5),
        task_id: Some(task_id.clone()),
        output_index: Some(0),
        cost_usd: Some(model.price_per_image_usd()),
        created_at: Some(created),
        generator: Some(format!("Fluxdesk {}", env!("CARGO_PKG_VERSION"))),
        ..ImageMeta::default()
    };
    let png = piapi_sim::render_png(prompt, i as i64, side, side);
    let with_meta = metadata::embed_png_metadata(&png, &meta)?;
    let rel = files::gallery_relative_path(
        created.with_timezone(&Local),
        prompt,
        &files::short_tag(&format!("{task_id}/0")),
        "png",
    );
    let rel_str = rel.to_string_lossy().replace('\\', "/");
    let abs = lib.root().join(&rel);
    if let Some(dir) = abs.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io("creating a gallery folder", dir, e))?;
    }
    std::fs::write(&abs, &with_meta).map_err(|e| BenchError::io("writing a library image", &abs, e))?;
    let hash = files::content_hash(&with_meta);
    let webp = small_webp(&png)?;
    let thumb = thumbs::thumb_path(&lib.thumbs_dir(), &hash);
    if let Some(dir) = thumb.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io("creating a thumbnail folder", dir, e))?;
    }
    std::fs::write(&thumb, &webp).map_err(|e| BenchError::io("writing a thumbnail", &thumb, e))?;
    let img = NewImage {
        rel_path: rel_str,
        meta,
        content_hash: hash,
        file_size: with_meta.len() as u64,
        ledger_id: None,
        created_at: created,
    };
    Ok((img, with_meta.len() as u64, webp.len() as u64))
}

/// The line the probe prints as soon as the first page is ready.
pub const FIRST_PAGE_LINE: &str = "first-page-ready";

fn probe_in_child(exe: &Path, lib: &Library, p: &GalleryParams) -> Result<(ProbeResult, f64)> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("gallery-probe")
        .arg("--dir")
        .arg(&lib.dir)
        .args(["--long", &p.long_queries.to_string(), "--short", &p.short_queries.to_string()])
        .args(["--seed", &p.seed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| BenchError::tool("gallery-probe", format!("could not start {}: {e}", exe.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| BenchError::tool("gallery-probe", "no stdout"))?;
    let mut first_page = None;
    let mut json = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| BenchError::tool("gallery-probe", format!("reading its output: {e}")))?;
        if line == FIRST_PAGE_LINE {
            first_page = Some(ms(started.elapsed()));
        } else if line.starts_with('{') {
            json = Some(line);
        }
    }
    let status = child.wait().map_err(|e| BenchError::tool("gallery-probe", e.to_string()))?;
    match (status.success(), first_page, json) {
        (true, Some(t), Some(j)) => Ok((serde_json::from_str(&j)?, t)),
        _ => Err(BenchError::tool("gallery-probe", format!("failed ({status}); see its stderr above"))),
    }
}

/// The probe: runs in a fresh process (`fluxdesk-bench gallery-probe`). `on_first_page` is called
/// as soon as the first page is ready.
pub fn probe(
    dir: &Path,
    long: usize,
    short: usize,
    seed: u64,
    on_first_page: impl FnOnce(),
) -> Result<ProbeResult> {
    let lib = Library { dir: dir.to_path_buf() };
    let t = Instant::now();
    let db = Db::open(&lib.db_path())?;
    let open_ms = ms(t.elapsed());
    let gallery = Gallery::new(db, lib.root(), lib.thumbs_dir());
    let page = |q: &GalleryQuery| -> Result<(usize, Option<u64>, Option<String>)> {
        let page = gallery.list(q)?;
        let views: Vec<_> = page.items.iter().map(|r| gallery.image_view(r)).collect();
        Ok((views.len(), page.total, page.next_cursor))
    };
    let t = Instant::now();
    let (first_page_items, total, cursor) = page(&GalleryQuery::default())?;
    let first_page_ms = ms(t.elapsed());
    let total = total.ok_or_else(|| BenchError::InvalidRun("the first page was not counted".into()))?;
    on_first_page();
    let t = Instant::now();
    page(&GalleryQuery { cursor, ..GalleryQuery::default() })?;
    let second_page_ms = ms(t.elapsed());

    let run = |queries: Vec<String>| -> Result<(Vec<f64>, Vec<u64>)> {
        let mut times = Vec::with_capacity(queries.len());
        let mut matches = Vec::with_capacity(queries.len());
        for q in queries {
            let t = Instant::now();
            let (_, n, _) = page(&GalleryQuery { text: Some(q), ..GalleryQuery::default() })?;
            times.push(ms(t.elapsed()));
            matches.push(n.unwrap_or(0));
        }
        Ok((times, matches))
    };
    let (long_ms, long_matches) = run(words::long_queries(long, seed))?;
    let (short_ms, short_matches) = run(words::short_queries(short, seed))?;
    let split = search_split(&gallery, long, short, seed)?;
    Ok(ProbeResult {
        open_ms,
        first_page_ms,
        first_page_items,
        total,
        second_page_ms,
        long_ms,
        long_matches,
        short_ms,
        short_matches,
        split,
        memory: Memory::of_self().unwrap_or_default(),
    })
}

/// The searches by term length (1, 2, 3+ characters; alone and with a model filter), each way
/// the UI may ask for a first page, plus the separate count. Each way is one pass over the
/// queries; a page includes converting its items to `ImageView`s, as `Studio::list_images` does.
fn search_split(gallery: &Gallery, long: usize, short: usize, seed: u64) -> Result<Vec<SearchSplit>> {
    let shorts = words::short_queries(short, seed);
    let classes: [(&str, Vec<String>); 3] = [
        ("1 character", shorts.iter().filter(|q| q.chars().count() == 1).cloned().collect()),
        ("2 characters", shorts.iter().filter(|q| q.chars().count() == 2).cloned().collect()),
        ("3+ characters", words::long_queries(long, seed)),
    ];
    let mut out = Vec::new();
    for model in [None, Some("dev")] {
        for (class, queries) in &classes {
            let query = |text: &str, limit: u32, count: bool| GalleryQuery {
                text: Some(text.to_string()),
                model: model.map(str::to_string),
                limit,
                count,
                ..GalleryQuery::default()
            };
            let pass = |limit: u32, count: bool| -> Result<(Vec<f64>, Vec<Option<u64>>)> {
                let mut times = Vec::with_capacity(queries.len());
                let mut totals = Vec::with_capacity(queries.len());
                for text in queries {
                    let t = Instant::now();
                    let page = gallery.list(&query(text, limit, count))?;
                    let views: Vec<_> = page.items.iter().map(|r| gallery.image_view(r)).collect();
                    times.push(ms(t.elapsed()));
                    drop(views);
                    totals.push(page.total);
                }
                Ok((times, totals))
            };
            let (counted, totals) = pass(200, true)?;
            let (uncounted, free) = pass(200, false)?;
            let (small, _) = pass(UI_FIRST_PAGE, false)?;
            let mut count_ms = Vec::with_capacity(queries.len());
            for (text, total) in queries.iter().zip(&totals) {
                let t = Instant::now();
                let n = gallery.count_matches(&query(text, 0, true))?;
                count_ms.push(ms(t.elapsed()));
                if Some(n) != *total {
                    return Err(BenchError::InvalidRun(format!(
                        "count_matches({text:?}) = {n}, but the counted page said {total:?}"
                    )));
                }
            }
            let matches: u64 = totals.iter().map(|t| t.unwrap_or(0)).sum();
            out.push(SearchSplit {
                class: match model {
                    Some(m) => format!("{class} + model {m}"),
                    None => class.to_string(),
                },
                queries: queries.len(),
                match_mean: matches as f64 / queries.len().max(1) as f64,
                counted_ms: Summary::of(&counted),
                uncounted_ms: Summary::of(&uncounted),
                small_uncounted_ms: Summary::of(&small),
                free_totals: free.iter().filter(|t| t.is_some()).count(),
                count_ms: Summary::of(&count_ms),
            });
        }
    }
    Ok(out)
}

/// Entry point of `fluxdesk-bench gallery-probe`: prints [`FIRST_PAGE_LINE`], then one JSON line.
pub fn probe_main(dir: &Path, long: usize, short: usize, seed: u64) -> Result<()> {
    let result = probe(dir, long, short, seed, || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{FIRST_PAGE_LINE}");
        let _ = out.flush();
    })?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
