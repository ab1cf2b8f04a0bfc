//! The results file (`target/bench-results.json`) and the run that fills it.
//!
//! Contract: every section writes into one [`Results`] value; a section that fails is recorded
//! in `failures` with its machine code and the others still run, so the report always renders.
//! The app figure is measured by `scripts/bench.sh --app` and merged at render time from its own
//! small JSON file ([`AppResult`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::batch::{BatchParams, BatchResult};
use crate::error::{BenchError, Result};
use crate::gallery::{GalleryParams, GalleryResult};
use crate::pipeline::{PipelineParams, PipelineResult};
use crate::polling::{PollingParams, PollingResult};
use crate::sysinfo::{CpuSample, GitInfo, Machine, loadavg1, wait_for_quiet};
use crate::thumbnails::{ThumbParams, ThumbResult};

/// The figures this binary measures (the app figure is measured by the shell script).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Polling,
    Pipeline,
    Batch,
    Gallery,
    Thumbnails,
}

impl Section {
    pub const ALL: [Section; 5] =
        [Section::Polling, Section::Pipeline, Section::Batch, Section::Gallery, Section::Thumbnails];

    pub fn name(self) -> &'static str {
        match self {
            Section::Polling => "polling",
            Section::Pipeline => "pipeline",
            Section::Batch => "batch",
            Section::Gallery => "gallery",
            Section::Thumbnails => "thumbnails",
        }
    }
}

impl FromStr for Section {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Section::ALL.into_iter().find(|x| x.name() == s.trim()).ok_or_else(|| {
            format!("unknown section \"{s}\"; use polling, pipeline, batch, gallery, thumbnails")
        })
    }
}

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The published figures.
    Full,
    /// About two minutes: fewer samples; the 100k library is still used (seeded once, cached).
    Quick,
    /// Trivially small sizes, for the test that keeps the bench from rotting. Numbers mean nothing.
    Smoke,
}

/// Every section's parameters for one mode.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub polling: PollingParams,
    pub pipeline: PipelineParams,
    pub batch: BatchParams,
    pub gallery: GalleryParams,
    pub thumbnails: ThumbParams,
}

impl Plan {
    pub fn new(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                mode,
                polling: PollingParams::full(),
                pipeline: PipelineParams::full(),
                batch: BatchParams::full(),
                gallery: GalleryParams::full(),
                thumbnails: ThumbParams::full(),
            },
            Mode::Quick => Plan {
                mode,
                polling: PollingParams::quick(),
                pipeline: PipelineParams::quick(),
                batch: BatchParams::quick(),
                gallery: GalleryParams::quick(),
                thumbnails: ThumbParams::quick(),
            },
            Mode::Smoke => Plan {
                mode,
                polling: PollingParams::smoke(),
                pipeline: PipelineParams::smoke(),
                batch: BatchParams::smoke(),
                gallery: GalleryParams::smoke(),
                thumbnails: ThumbParams::smoke(),
            },
        }
    }
}

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct Context {
    /// Cached inputs (the seeded library, source images) and scratch folders.
    pub data_dir: PathBuf,
    /// The bench binary, to run the gallery probe in a fresh process (`None`: in this process).
    pub probe_exe: Option<PathBuf>,
    /// The repository (for the git commit).
    pub repo: PathBuf,
    /// The command line to show in the report.
    pub command: String,
    /// Before each section, wait at most this long for other processes to calm down
    /// (the budget is shared by all sections). Zero: do not wait.
    pub quiet_wait: std::time::Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub date: String,
    pub mode: String,
    pub command: String,
    /// `release` when built with optimisations and without debug assertions.
    pub profile: String,
    pub rustc: String,
    pub machine: Machine,
    pub git: GitInfo,
    pub sections: Vec<Section>,
    pub elapsed_s: f64,
    /// How busy the machine was with other work during each section.
    #[serde(default)]
    pub load: Vec<SectionLoad>,
}

/// Other processes' share of the CPU while a section ran (the bench's own work and its child
/// processes excluded), and the 1-minute load average around it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SectionLoad {
    pub section: String,
    pub seconds: f64,
    pub background_cpu_pct: f64,
    pub loadavg_start: f64,
    pub loadavg_end: f64,
    /// Seconds spent waiting for a quiet machine before the section.
    pub waited_s: f64,
}

/// A section that did not produce a figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SectionFailure {
    pub section: String,
    pub code: String,
    pub message: String,
}

/// Figure 6, measured by `scripts/bench.sh --app`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppResult {
    pub measured: bool,
    pub note: Option<String>,
    pub binary: Option<String>,
    /// Median of the starts below.
    pub cold_start_ms: Option<f64>,
    #[serde(default)]
    pub cold_start_runs_ms: Vec<f64>,
    pub first_paint_method: Option<String>,
    /// VmRSS of the app's own process.
    pub idle_rss_mib: Option<f64>,
    /// PSS summed over the app and its WebKit child processes (shared pages counted once).
    pub idle_total_pss_mib: Option<f64>,
    pub processes: Option<u32>,
    pub idle_after_s: Option<f64>,
    pub bundle_kind: Option<String>,
    pub bundle_path: Option<String>,
    pub bundle_bytes: Option<u64>,
    pub binary_bytes: Option<u64>,
    /// The 100,000-image gallery in the real window (`e2e/bench/gallery.mjs`).
    #[serde(default)]
    pub gallery: Option<AppGallery>,
}

/// What `e2e/bench/gallery.mjs` measured (its JSON, camelCase; fields it may lack default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppGallery {
    pub measured: bool,
    pub note: Option<String>,
    pub first_page: AppFirstPage,
    /// Launches without WebDriver (`e2e/bench/launch.py`); absent in results from before it.
    pub launch: Option<AppLaunch>,
    pub starts: Vec<AppStart>,
    /// By query length: "1", "2", "3+".
    pub search: std::collections::BTreeMap<String, AppSearch>,
    pub scroll: Option<AppScroll>,
    pub idle: Option<AppMemSample>,
    pub after_scroll: Option<AppMemSample>,
    pub memory: Option<AppMemory>,
    /// Memory with the app started directly and driven by X input (`e2e/bench/memory.py`);
    /// absent in results from before it.
    pub direct_memory: Option<AppDirectMemory>,
}

/// What `e2e/bench/memory.py` measured: the same searches and scroll as above, typed as keyboard
/// and mouse input into the app started directly, with nothing of the bench's in the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppDirectMemory {
    pub measured: bool,
    pub note: Option<String>,
    /// Searches typed.
    pub queries: u32,
    /// PageDown presses, one every 100 ms.
    pub page_downs: u32,
    /// Tiles scrolled past (as far as the WebDriver scroll went), `page_tiles` per PageDown.
    pub tiles: u32,
    pub page_tiles: u32,
    pub memory: Option<AppMemory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppFirstPage {
    pub median: Option<f64>,
    pub runs: Vec<f64>,
    pub method: String,
}

/// Start → first gallery page on screen with the app launched directly, read from the X screen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppLaunch {
    pub measured: bool,
    pub note: Option<String>,
    pub median: Option<f64>,
    pub runs: Vec<f64>,
    /// How often the screen was read (the figure's resolution).
    pub sample_every_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppStart {
    pub start_to_painted_ms: f64,
    pub start_to_page_load_ms: f64,
    pub start_to_first_contentful_paint_ms: Option<f64>,
    /// `None` when the app opened in the gallery (no click needed).
    pub start_to_gallery_click_ms: Option<f64>,
    pub click_to_painted_ms: Option<f64>,
    /// The screen the app opened on (it reopens the last one).
    pub started_in: Option<String>,
    pub ipc_ms: f64,
    pub response_to_painted_ms: f64,
    pub tiles: u32,
}

/// Nearest-rank percentiles of one measure, in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppStats {
    pub n: u32,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppSearch {
    pub key_to_painted: AppStats,
    pub key_to_call: AppStats,
    pub ipc: AppStats,
    pub call_to_painted: AppStats,
    pub response_to_painted: AppStats,
    /// Response → the page's script has put the list's first tile in the DOM (before layout and paint).
    pub response_to_dom: AppStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppScroll {
    pub tiles: u32,
    pub steps: u32,
    pub seconds: f64,
    pub visible_tiles_per_step: f64,
    pub blank_after2_frames: u32,
    pub blank_after2_frames_share: f64,
    pub blank_after100ms: u32,
    pub steps_with_blank_after100ms: u32,
    pub max_blank_after100ms: u32,
    pub lingering: AppStats,
    pub frame_ms: AppStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppMemSample {
    pub rss_mib: f64,
    pub pss_mib: f64,
    pub processes: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppMemory {
    pub peak_rss_mib: f64,
    pub peak_pss_mib: f64,
    pub processes: u32,
    pub samples: u32,
    /// Peak and last sample per phase ("start", "idle after first page", "search", "scroll", …).
    pub phases: std::collections::BTreeMap<String, AppPhaseMemory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppPhaseMemory {
    pub samples: u32,
    pub peak_rss_mib: f64,
    pub peak_pss_mib: f64,
    pub last_rss_mib: f64,
    pub last_pss_mib: f64,
    /// The part of the last PSS that is mapped files (shared libraries, fonts); 0 when not measured.
    pub last_pss_file_mib: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub meta: RunMeta,
    pub polling: Option<PollingResult>,
    pub pipeline: Option<PipelineResult>,
    pub batch: Option<BatchResult>,
    pub gallery: Option<GalleryResult>,
    pub thumbnails: Option<ThumbResult>,
    #[serde(default)]
    pub app: Option<AppResult>,
    #[serde(default)]
    pub failures: Vec<SectionFailure>,
}

impl Results {
    pub fn load(path: &Path) -> Result<Results> {
        let text =
            std::fs::read_to_string(path).map_err(|e| BenchError::io("reading the results", path, e))?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| BenchError::io("creating the results folder", dir, e))?;
        }
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json).map_err(|e| BenchError::io("writing the results", path, e))
    }
}

/// Runs `sections` of `plan`, printing progress on stderr. Never fails as a whole: a failing
/// section is recorded in `failures`.
pub async fn run(plan: &Plan, sections: &[Section], ctx: &Context) -> Results {
    let started = Instant::now();
    let created = std::fs::create_dir_all(&ctx.data_dir);
    let mut r = Results {
        meta: RunMeta {
            date: chrono::Local::now().format("%Y-%m-%d %H:%M %Z").to_string(),
            mode: format!("{:?}", plan.mode).to_lowercase(),
            command: ctx.command.clone(),
            profile: if cfg!(debug_assertions) { "debug".into() } else { "release".into() },
            rustc: rustc_version(),
            machine: Machine::detect(&ctx.data_dir),
            git: GitInfo::detect(&ctx.repo),
            sections: sections.to_vec(),
            elapsed_s: 0.0,
            load: Vec::new(),
        },
        ..Results::default()
    };
    if let Err(e) = created {
        r.failures.push(failure("all", &BenchError::io("creating the bench data folder", &ctx.data_dir, e)));
        return r;
    }
    let mut wait_budget = ctx.quiet_wait;
    for &section in sections {
        eprintln!("== {} …", section.name());
        let (_, waited) = if wait_budget.is_zero() {
            (0.0, std::time::Duration::ZERO)
        } else {
            let budget = wait_budget;
            tokio::task::spawn_blocking(move || wait_for_quiet(budget, 15.0))
                .await
                .unwrap_or((0.0, std::time::Duration::ZERO))
        };
        wait_budget = wait_budget.saturating_sub(waited);
        let t = Instant::now();
        let (cpu0, load0) = (CpuSample::now(), loadavg1());
        let outcome = run_section(plan, section, ctx, &mut r).await;
        let (cpu1, load1) = (CpuSample::now(), loadavg1());
        r.meta.load.push(SectionLoad {
            section: section.name().into(),
            seconds: t.elapsed().as_secs_f64(),
            background_cpu_pct: match (cpu0, cpu1) {
                (Some(a), Some(b)) => a.background_pct(&b),
                _ => 0.0,
            },
            loadavg_start: load0,
            loadavg_end: load1,
            waited_s: waited.as_secs_f64(),
        });
        match outcome {
            Ok(()) => eprintln!("   {} done in {:.1} s", section.name(), t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("   {} FAILED [{}]: {e}", section.name(), e.code());
                r.failures.push(failure(section.name(), &e));
            }
        }
    }
    r.meta.elapsed_s = started.elapsed().as_secs_f64();
    r
}

async fn run_section(plan: &Plan, section: Section, ctx: &Context, r: &mut Results) -> Result<()> {
    let data = ctx.data_dir.clone();
    match section {
        Section::Polling => r.polling = Some(crate::polling::run(&plan.polling).await?),
        Section::Pipeline => r.pipeline = Some(crate::pipeline::run(&plan.pipeline, &data).await?),
        Section::Batch => r.batch = Some(crate::batch::run(&plan.batch, &data).await?),
        Section::Gallery => {
            let (p, exe) = (plan.gallery.clone(), ctx.probe_exe.clone());
            r.gallery = Some(blocking(move || crate::gallery::run(&p, &data, exe.as_deref())).await?);
        }
        Section::Thumbnails => {
            let p = plan.thumbnails.clone();
            r.thumbnails = Some(blocking(move || crate::thumbnails::run(&p, &data)).await?);
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BenchError::InvalidRun(format!("the section panicked: {e}")))?
}

fn failure(section: &str, e: &BenchError) -> SectionFailure {
    SectionFailure { section: section.into(), code: e.code().into(), message: e.to_string() }
}

fn rustc_version() -> String {
    std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    /// The report is rendered from the saved JSON (`render` reads `target/bench-results.json`), so
    /// every float must come back bit for bit: a mean of 3.805 ms once rendered "3.81" before the
    /// round trip and "3.80" after (serde_json parses floats exactly only with `float_roundtrip`).
    #[test]
    fn floats_survive_the_json_round_trip_exactly() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Milliseconds as the bench records them: sums and means of f64 timings.
            let v = (x % 10_000_000) as f64 / 7_919.0 + (x >> 40) as f64 * 1e-9;
            let back: f64 = serde_json::from_str(&serde_json::to_string(&v).expect("ser")).expect("de");
            assert_eq!(back.to_bits(), v.to_bits(), "{v} came back as {back}");
        }
    }
}
