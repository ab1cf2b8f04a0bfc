//! The facade the desktop shell and the CLI call: one object that owns the paths, settings,
//! keychain, database, gallery and the job runner, and knows whether we talk to PiAPI or to the
//! bundled simulator (demo mode).
//!
//! Contract:
//! - `open` is fast (opens SQLite, maybe starts the loopback simulator) and never needs the
//!   network; resuming, reconciling and cleaning unused input images run in the background when
//!   asked, and their failures are logged, never fatal.
//! - Keychain calls run on the blocking pool (they are D-Bus round trips on Linux).
//! - The API key never leaves this module except inside the PiAPI client's config.
//! - Jobs are recorded in the ledger before anything is sent (a whole batch in one transaction);
//!   `generate` / `generate_batch` return their ids and progress arrives on [`Studio::subscribe`].
//! - Image tasks (img2img, inpaint, outpaint, ControlNet, …): the request is checked first
//!   ([`Studio::plan_requests`]), then its input images are prepared as files
//!   ([`Studio::prepare_inputs`], see [`crate::inputs`]) and recorded with the jobs; the runner
//!   uploads them right before the create.
//! - The queue (pause, order, limit, budget) is shared with every process using the same data
//!   folder through the database; see [`crate::queue`] and [`crate::runner`].
//! - Daily budget: a request whose estimate does not fit in what is left of today's budget is
//!   refused up front ([`Error::BudgetReached`], nothing recorded). Work queued earlier is checked
//!   again before each task is sent; when the next task would pass the cap, the queue pauses and
//!   says why (several batches queued at once, other processes, costs above the estimate).

use std::sync::{Arc, Mutex, RwLock};

use piapi::{ClientConfig, ControlNetSetting, FluxInput, LoraSetting, Outpaint, Size, TaskRequest, TaskType};
use secrecy::SecretString;
use tokio::sync::broadcast;

use crate::db::Db;
use crate::gallery::{Gallery, GalleryQuery, ReconcileReport};
use crate::inputs::{self, InputsCleanup, TaskSources};
use crate::ledger::{Ledger, LedgerTask, QueueControl, TaskState};
use crate::paths::Paths;
use crate::queue::{MAX_JOBS_PER_BATCH, Queue};
use crate::runner::{self, JobOutcome, Runner, RunnerParts};
use crate::secrets::{self, KeySource, KeyStatus, SecretStore};
use crate::settings::{EnvOverrides, Settings, SettingsFile};
use crate::views::{
    AccountView, AppInfo, BatchRequest, CostSummary, ErrorView, GenerateRequest, ImageView, JobEvent,
    JobView, QueueState, ResumeReport, SeedPlan, SettingsView,
};
use crate::{Error, Result};

/// How the persisted settings are loaded and saved (the CLI uses the JSON file directly; the desktop
/// shell passes one backed by tauri-plugin-store writing the same file).
pub trait SettingsBackend: Send + Sync + 'static {
    fn load(&self) -> Result<Settings>;
    fn save(&self, settings: &Settings) -> Result<()>;
}

impl SettingsBackend for SettingsFile {
    fn load(&self) -> Result<Settings> {
        SettingsFile::load(self)
    }
    fn save(&self, settings: &Settings) -> Result<()> {
        SettingsFile::save(self, settings)
    }
}

/// Whether to run against the bundled simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoChoice {
    /// Demo mode when no API key is configured (the app's default).
    #[default]
    Auto,
    /// Always demo (`--demo`).
    Force,
    /// Never demo: generating without a key is an error.
    Off,
}

pub struct StudioOptions {
    pub env: EnvOverrides,
    pub secrets: Arc<dyn SecretStore>,
    pub demo: DemoChoice,
    /// None = the JSON settings file in FLUXDESK_HOME.
    pub settings_backend: Option<Arc<dyn SettingsBackend>>,
    /// Resume unfinished tasks in the background right after opening, then (after
    /// [`UPKEEP_DELAY`]) reconcile the gallery, fill missing thumbnails and remove input images
    /// no task needs any more ([`Studio::clean_inputs`]) (the app: true; the CLI resumes
    /// explicitly).
    pub resume_on_open: bool,
}

/// A page of gallery images as the UI sees them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImagePageView {
    pub items: Vec<ImageView>,
    pub next_cursor: Option<String>,
    /// With `counted`: the images matching the query (the pass's count). Without: not counted
    /// (the query said `count: false`; ask `count_images`), and this is only a lower bound — the
    /// images on this page.
    pub total: u64,
    /// Whether `total` is the exact count. Always true for queries with `count: true` (the
    /// default).
    pub counted: bool,
}

/// The most images one generate request may queue (each is its own paid task); also the most
/// images per prompt of a batch.
pub const MAX_IMAGES_PER_REQUEST: u32 = 100;
/// The largest `--concurrency` override (the plan's limit caps it when PiAPI reports one).
pub const MAX_CONCURRENCY_OVERRIDE: u32 = 100;
/// How old a cached balance may be before `cost_summary` reads it again.
const BALANCE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Ledger batch ids start with the backend that ran them, so a demo task is never resumed
/// against PiAPI (or the other way round).
const DEMO_PREFIX: &str = "demo:";
const LIVE_PREFIX: &str = "live:";
/// Demo timings: quick enough to feel instant, slow enough to show progress.
const DEMO_PENDING_MS: u64 = 400;
const DEMO_PROCESSING_MS: u64 = 1800;

enum Backend {
    /// Talking to PiAPI (or whatever PIAPI_BASE_URL points at).
    Live(Runner),
    /// The bundled simulator on loopback.
    Demo(Runner),
    /// No key and demo mode is off: generation fails with NoApiKey, or with why the keychain
    /// could not be read.
    NoKey(Option<String>),
}

impl Backend {
    fn runner(&self) -> Result<&Runner> {
        match self {
            Backend::Live(r) | Backend::Demo(r) => Ok(r),
            Backend::NoKey(None) => Err(Error::NoApiKey),
            Backend::NoKey(Some(why)) => Err(Error::KeychainUnavailable(why.clone())),
        }
    }
    fn is_demo(&self) -> bool {
        matches!(self, Backend::Demo(_))
    }
    /// The batch-id prefix of the tasks this backend sends.
    fn lane(&self) -> &'static str {
        if self.is_demo() { DEMO_PREFIX } else { LIVE_PREFIX }
    }
}

/// Cheap to clone; all state is shared.
#[derive(Clone)]
pub struct Studio {
    inner: Arc<Inner>,
}

struct Inner {
    env: EnvOverrides,
    secrets: Arc<dyn SecretStore>,
    demo: DemoChoice,
    settings_backend: Arc<dyn SettingsBackend>,
    settings: RwLock<Settings>,
    paths: RwLock<Paths>,
    db: Db,
    ledger: Ledger,
    events: broadcast::Sender<JobEvent>,
    backend: RwLock<Arc<Backend>>,
    /// The queue (limit, owned jobs, budget, account cache), shared by successive runners.
    queue: Queue,
    /// The in-process simulator for demo mode, started on first need and kept for the process.
    sim: tokio::sync::Mutex<Option<piapi_sim::SimHandle>>,
    /// The key status as last read (keychain reads are D-Bus calls; don't repeat them per render).
    key_status: Mutex<Option<KeyStatus>>,
    /// Deletes that can still be undone ([`Studio::undo_delete`]).
    undos: Mutex<crate::gallery_ops::Undos>,
}

/// The most images [`Studio::get_images`] returns per call (a few screens of tiles).
pub const MAX_IMAGES_BY_ID: usize = 1000;

/// How long after opening (with `resume_on_open`) the gallery is reconciled with its folder and
/// missing thumbnails are made: after the first screen's page and thumbnails are served (~0.1 s),
/// with room for a slow start. Resuming unfinished tasks does not wait.
const UPKEEP_DELAY: std::time::Duration = std::time::Duration::from_secs(3);

impl Studio {
    /// Opens the studio: paths, settings, database, and the backend (PiAPI or demo).
    pub async fn open(opts: StudioOptions) -> Result<Studio> {
        let base_paths = Paths::resolve(&opts.env, None)?;
        base_paths.ensure_dirs()?;
        let settings_backend: Arc<dyn SettingsBackend> = match opts.settings_backend {
            Some(b) => b,
            None => Arc::new(SettingsFile::new(base_paths.settings_path())),
        };
        let settings = settings_backend.load()?;
        let paths = Paths::resolve(&opts.env, settings.gallery_dir.as_deref())?;
        paths.ensure_dirs()?;
        let db_path = paths.db_path();
        let db = tokio::task::spawn_blocking(move || Db::open(&db_path)).await.map_err(join_err)??;
        let ledger = Ledger::new(db.clone());
        let (events, _) = broadcast::channel(1024);
        let queue = Queue::new(settings.max_concurrent);
        let inner = Arc::new(Inner {
            env: opts.env,
            secrets: opts.secrets,
            demo: opts.demo,
            settings_backend,
            settings: RwLock::new(settings),
            paths: RwLock::new(paths),
            db,
            ledger,
            events,
            backend: RwLock::new(Arc::new(Backend::NoKey(None))),
            queue,
            sim: tokio::sync::Mutex::new(None),
            key_status: Mutex::new(None),
            undos: Mutex::default(),
        });
        let studio = Studio { inner };
        studio.rebuild_backend().await?;
        if opts.resume_on_open {
            let s = studio.clone();
            tokio::spawn(async move {
                // Paid tasks first: their results are waiting at PiAPI (usually nothing to do).
                match s.resume().await {
                    Ok(r) => tracing::info!(?r, "resume finished"),
                    Err(e) => tracing::warn!("resume failed: {e}"),
                }
                // Reconcile walks the whole gallery folder (seconds at 100,000 files): it waits
                // until the first screen has had its page and thumbnails, so it never slows them.
                tokio::time::sleep(UPKEEP_DELAY).await;
                if let Err(e) = s.reconcile().await {
                    tracing::warn!("gallery reconcile failed: {e}");
                }
                // Files reconcile just found (added by hand, a cleared cache) get thumbnails now,
                // so the grid never decodes full-size originals.
                match s.fill_missing_thumbnails().await {
                    Ok(0) => {}
                    Ok(made) => tracing::info!(made, "made missing thumbnails"),
                    Err(e) => tracing::warn!("missing thumbnails could not be made: {e}"),
                }
                // Input images no task can use any more (the counts are logged by the cleanup).
                if let Err(e) = s.clean_inputs().await {
                    tracing::warn!("unused input images could not be cleaned: {e}");
                }
            });
        }
        Ok(studio)
    }

    /// (Re)creates the client and runner from the current settings and key.
    async fn rebuild_backend(&self) -> Result<()> {
        let inner = &self.inner;
        let store = inner.secrets.clone();
        let env = inner.env.clone();
        let (resolved, status) = tokio::task::spawn_blocking(move || {
            let resolved = secrets::resolve_api_key(store.as_ref(), &env);
            let status = secrets::key_status(store.as_ref(), &env);
            (resolved, status)
        })
        .await
        .map_err(join_err)?;
        *lock(&inner.key_status) = Some(status);
        // No keychain is not fatal: demo mode and the gallery still work, and generating says why.
        let (key, keychain_problem) = match resolved {
            Ok(k) => (k, None),
            Err(Error::KeychainUnavailable(why)) => {
                if inner.demo == DemoChoice::Auto {
                    tracing::info!("keychain unavailable, using demo mode: {why}");
                }
                (None, Some(why))
            }
            Err(e) => return Err(e),
        };

        let (settings, _) = self.settings().effective(&inner.env);
        let paths = self.paths();
        let gallery = Gallery::new(inner.db.clone(), paths.gallery.clone(), paths.thumbs_dir());
        let concurrency = settings.max_concurrent.max(1) as usize;
        let parts = |client: piapi::Client| RunnerParts {
            ledger: inner.ledger.clone(),
            gallery: gallery.clone(),
            thumbs_dir: paths.thumbs_dir(),
            client,
            events: inner.events.clone(),
            concurrency,
            generator: format!("Fluxdesk {}", env!("CARGO_PKG_VERSION")),
        };

        let backend = match (inner.demo, key) {
            (DemoChoice::Force, _) | (DemoChoice::Auto, None) => {
                let base_url = self.ensure_sim().await?;
                let mut cfg = ClientConfig::new(&base_url, SecretString::from("demo-key".to_owned()))?;
                cfg.poll = settings.poll_policy();
                cfg.poll.first_delay = std::time::Duration::from_millis(250);
                cfg.poll.interval_cap = cfg.poll.interval_cap.min(std::time::Duration::from_millis(500));
                cfg.poll.max_attempts = cfg.poll.max_attempts.max(60);
                Backend::Demo(Runner::with_queue(
                    parts(piapi::Client::new(cfg)?),
                    inner.queue.clone(),
                    Some(DEMO_PREFIX),
                    false,
                ))
            }
            (_, Some((key, _source))) => {
                let mut cfg = ClientConfig::new(&settings.base_url, key)?;
                if let Some(url) = &inner.env.upload_url {
                    crate::settings::validate_service_url(url, crate::settings::ENV_UPLOAD_URL)?;
                    cfg = cfg.with_upload_url(url.clone());
                }
                cfg.poll = settings.poll_policy();
                if let Some(ms) = http_timeout_override() {
                    cfg.read_timeout = std::time::Duration::from_millis(ms);
                }
                Backend::Live(Runner::with_queue(
                    parts(piapi::Client::new(cfg)?),
                    inner.queue.clone(),
                    Some(LIVE_PREFIX),
                    true,
                ))
            }
            (DemoChoice::Off, None) => Backend::NoKey(keychain_problem),
        };
        inner.queue.set_daily_budget(settings.daily_budget_usd);
        inner.queue.limiter().configure(Some(settings.max_concurrent), None, None);
        if let Ok(runner) = backend.runner() {
            // Learns the plan's limit (and the balance) in the background; sends nothing yet.
            runner.start();
        }
        *inner.backend.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(backend);
        Ok(())
    }

    /// Starts the in-process simulator once; its tasks persist in FLUXDESK_HOME so demo jobs
    /// survive a restart like real ones.
    async fn ensure_sim(&self) -> Result<String> {
        let mut sim = self.inner.sim.lock().await;
        if let Some(h) = sim.as_ref() {
            return Ok(h.base_url());
        }
        let state_file = self.paths().home.join("demo-simulator.json");
        let cfg = piapi_sim::SimConfig {
            pending_ms: DEMO_PENDING_MS,
            processing_ms: DEMO_PROCESSING_MS,
            balance_usd: 5.0,
            state_file: Some(state_file),
            ..piapi_sim::SimConfig::default()
        };
        let handle = piapi_sim::Simulator::start(cfg)
            .await
            .map_err(|e| Error::io("could not start the demo simulator", "127.0.0.1", e))?;
        let url = handle.base_url();
        *sim = Some(handle);
        Ok(url)
    }

    fn backend(&self) -> Arc<Backend> {
        self.inner.backend.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn settings(&self) -> Settings {
        self.inner.settings.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn paths(&self) -> Paths {
        self.inner.paths.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn is_demo(&self) -> bool {
        self.backend().is_demo()
    }

    /// All job progress, for every job of this process (including resumed ones).
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// This studio's deletes that can still be undone (see `gallery_ops`).
    pub(crate) fn undos(&self) -> &Mutex<crate::gallery_ops::Undos> {
        &self.inner.undos
    }

    pub fn gallery(&self) -> Gallery {
        let p = self.paths();
        Gallery::new(self.inner.db.clone(), p.gallery.clone(), p.thumbs_dir())
    }

    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    pub async fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            demo: self.is_demo(),
            key_status: self.key_status().await,
            gallery_dir: self.paths().gallery.to_string_lossy().into_owned(),
        }
    }

    pub async fn key_status(&self) -> KeyStatus {
        if let Some(s) = lock(&self.inner.key_status).clone() {
            return s;
        }
        self.refresh_key_status().await
    }

    async fn refresh_key_status(&self) -> KeyStatus {
        let store = self.inner.secrets.clone();
        let env = self.inner.env.clone();
        let status =
            tokio::task::spawn_blocking(move || secrets::key_status(store.as_ref(), &env)).await.unwrap_or(
                KeyStatus { source: KeySource::None, keychain_available: false, keychain_error: None },
            );
        *lock(&self.inner.key_status) = Some(status.clone());
        status
    }

    /// Stores the key in the OS keychain and switches to PiAPI (unless the environment's key
    /// overrides it). The key is never returned.
    pub async fn set_key(&self, key: &str) -> Result<KeyStatus> {
        let key = secrets::normalize_key(key)?;
        let store = self.inner.secrets.clone();
        tokio::task::spawn_blocking(move || store.set(&key)).await.map_err(join_err)??;
        self.rebuild_backend().await?;
        Ok(self.refresh_key_status().await)
    }

    pub async fn delete_key(&self) -> Result<KeyStatus> {
        let store = self.inner.secrets.clone();
        tokio::task::spawn_blocking(move || store.delete()).await.map_err(join_err)??;
        self.rebuild_backend().await?;
        Ok(self.refresh_key_status().await)
    }

    pub fn settings_view(&self) -> SettingsView {
        let settings = self.settings();
        let (_, overridden_by) = settings.effective(&self.inner.env);
        let paths = self.paths();
        SettingsView {
            settings,
            overridden_by,
            gallery_dir: paths.gallery.to_string_lossy().into_owned(),
            data_dir: paths.home.to_string_lossy().into_owned(),
            demo: self.is_demo(),
        }
    }

    /// Validates, saves and applies settings (a new gallery folder is created and reconciled).
    pub async fn update_settings(&self, settings: Settings) -> Result<SettingsView> {
        settings.validate()?;
        self.inner.settings_backend.save(&settings)?;
        let new_paths = Paths::resolve(&self.inner.env, settings.gallery_dir.as_deref())?;
        new_paths.ensure_dirs()?;
        let gallery_changed = new_paths.gallery != self.paths().gallery;
        *self.inner.settings.write().unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
        *self.inner.paths.write().unwrap_or_else(std::sync::PoisonError::into_inner) = new_paths;
        self.rebuild_backend().await?;
        if gallery_changed {
            self.reconcile().await?;
        }
        Ok(self.settings_view())
    }

    /// Builds one validated PiAPI request per image. Nothing is recorded or sent on error.
    ///
    /// Everything is checked except the input images themselves: the task type against the
    /// model, the fields the task type needs or refuses (source, mask, LoRAs, ControlNet,
    /// denoise, outpaint margins, scale). Input files are read and prepared by
    /// [`Studio::prepare_inputs`]; their upload URLs are set by the runner right before the
    /// create, which then runs the full [`TaskRequest::validate`].
    pub fn plan_requests(req: &GenerateRequest) -> Result<Vec<TaskRequest>> {
        if !(1..=MAX_IMAGES_PER_REQUEST).contains(&req.count) {
            return Err(Error::invalid_input(
                "count",
                format!("{} is out of range; use 1–{MAX_IMAGES_PER_REQUEST} images", req.count),
            ));
        }
        let task = req.task_type;
        if task.takes_size() {
            Size::new(req.width, req.height).validate()?;
        }
        let base_seed = req.seed;
        if base_seed.is_some_and(|s| s < 0) {
            return Err(Error::invalid_input(
                "seed",
                "use a non-negative number, or leave it empty for random",
            ));
        }
        let out = (0..req.count)
            .map(|i| {
                // Always send a concrete seed, so every image records the seed that made it.
                let seed = match base_seed {
                    Some(s) => s + i64::from(i),
                    None => i64::from(rand::random::<u32>() >> 1),
                };
                let r = TaskRequest { model: req.model, task_type: task, input: task_input(req, seed) };
                r.validate_except_inputs().map_err(request_field_error)?;
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        check_task_inputs(req)?;
        Ok(out)
    }

    /// Builds one validated PiAPI request per image of a batch: every prompt ×
    /// `count_per_prompt`, prompt by prompt, with the seeds of `req.seeds`. Nothing is recorded
    /// or sent on error; the error names the prompt (1-based) when one is at fault.
    pub fn plan_batch(req: &BatchRequest) -> Result<Vec<TaskRequest>> {
        if req.prompts.is_empty() {
            return Err(Error::invalid_input("prompts", "there are no prompts; give at least one"));
        }
        if !(1..=MAX_IMAGES_PER_REQUEST).contains(&req.count_per_prompt) {
            return Err(Error::invalid_input(
                "countPerPrompt",
                format!(
                    "{} is out of range; use 1–{MAX_IMAGES_PER_REQUEST} images per prompt",
                    req.count_per_prompt
                ),
            ));
        }
        let total = u64::from(req.count_per_prompt) * req.prompts.len() as u64;
        if total > u64::from(MAX_JOBS_PER_BATCH) {
            return Err(Error::invalid_input(
                "prompts",
                format!(
                    "{} prompts × {} images is {total} tasks; a batch may have at most {MAX_JOBS_PER_BATCH}",
                    req.prompts.len(),
                    req.count_per_prompt
                ),
            ));
        }
        Size::new(req.width, req.height).validate()?;
        let seed_for = |i: u32| -> Result<i64> {
            let seed = match req.seeds {
                SeedPlan::Random => Some(i64::from(rand::random::<u32>() >> 1)),
                SeedPlan::Locked { seed } => seed.checked_add(i64::from(i)),
                SeedPlan::Sweep { start, step } => {
                    step.checked_mul(i64::from(i)).and_then(|d| start.checked_add(d))
                }
            };
            match seed {
                Some(s) if s >= 0 => Ok(s),
                _ => Err(Error::invalid_input(
                    "seed",
                    "the seeds must stay non-negative; use a non-negative start (and step), or random seeds",
                )),
            }
        };
        let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for (n, prompt) in req.prompts.iter().enumerate() {
            for i in 0..req.count_per_prompt {
                let r = TaskRequest {
                    model: req.model,
                    task_type: TaskType::Txt2Img,
                    input: FluxInput {
                        prompt: prompt.trim().to_owned(),
                        negative_prompt: req.negative_prompt.clone().filter(|s| !s.trim().is_empty()),
                        width: Some(req.width),
                        height: Some(req.height),
                        steps: req.steps,
                        guidance_scale: req.guidance,
                        seed: Some(seed_for(i)?),
                        ..FluxInput::default()
                    },
                };
                r.validate().map_err(|e| match e {
                    piapi::Error::InvalidInput { field, message } if field == "prompt" => {
                        Error::invalid_input("prompt", format!("prompt {}: {message}", n + 1))
                    }
                    other => other.into(),
                })?;
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records the jobs (all at once, before anything is sent, with their prepared inputs) and
    /// returns their ids.
    fn record(
        &self,
        requests: &[TaskRequest],
        sources: Option<&TaskSources>,
        retry_of: Option<i64>,
    ) -> Result<(Arc<Backend>, Vec<i64>)> {
        let backend = self.backend();
        backend.runner()?;
        if let Some(cap) = self.settings().daily_budget_usd
            && !backend.is_demo()
        {
            let spent = self.inner.ledger.cost_since(runner::start_of_today(), Some(LIVE_PREFIX))?;
            let planned: f64 = requests.iter().map(TaskRequest::estimated_cost_usd).sum();
            if spent + planned > cap + 1e-9 {
                return Err(Error::BudgetReached { cap, spent });
            }
        }
        let batch = format!("{}{:016x}", backend.lane(), rand::random::<u64>());
        let ids = self.inner.ledger.record_batch_with_sources(requests, sources, Some(&batch), retry_of)?;
        let gallery = self.gallery();
        for t in self.inner.ledger.list_batch(&batch)? {
            let job = self.to_job_view(&t, &gallery);
            let _ = self.inner.events.send(JobEvent::Queued { job_id: t.id, job: Box::new(job) });
        }
        Ok((backend, ids))
    }

    /// Queues the images and starts them in the background. Progress arrives on `subscribe()`.
    pub async fn generate(&self, req: GenerateRequest) -> Result<Vec<i64>> {
        let requests = Self::plan_requests(&req)?;
        let sources = self.prepare_inputs(&req).await?;
        let (backend, ids) = self.record(&requests, Some(&sources), None)?;
        drop(backend.runner()?.enqueue(&ids));
        Ok(ids)
    }

    /// Queues a batch (every prompt × `count_per_prompt`, at most 1000 tasks; validated entirely
    /// before anything is recorded, then recorded in one transaction) and sends it in the
    /// background within the plan's limit. Progress arrives on `subscribe()`;
    /// [`JobEvent::BatchFinished`] when every job has ended.
    pub async fn generate_batch(&self, req: BatchRequest) -> Result<Vec<i64>> {
        let (backend, ids) = self.record(&Self::plan_batch(&req)?, None, None)?;
        drop(backend.runner()?.enqueue(&ids));
        Ok(ids)
    }

    /// Queues the images and waits for all of them (the CLI). With `resume_others`, tasks left
    /// unfinished by earlier runs are finished alongside; their report is returned too. Jobs not
    /// sent because the queue is (or becomes) paused come back as [`JobOutcome::Paused`].
    pub async fn generate_and_wait(
        &self,
        req: GenerateRequest,
        resume_others: bool,
    ) -> Result<(Vec<(i64, JobOutcome)>, Option<ResumeReport>)> {
        let requests = Self::plan_requests(&req)?;
        let sources = self.prepare_inputs(&req).await?;
        self.record_and_wait(&requests, Some(&sources), resume_others).await
    }

    /// [`Studio::generate_batch`], waiting for every job (the CLI's `batch`).
    pub async fn generate_batch_and_wait(
        &self,
        req: BatchRequest,
        resume_others: bool,
    ) -> Result<(Vec<(i64, JobOutcome)>, Option<ResumeReport>)> {
        self.record_and_wait(&Self::plan_batch(&req)?, None, resume_others).await
    }

    async fn record_and_wait(
        &self,
        requests: &[TaskRequest],
        sources: Option<&TaskSources>,
        resume_others: bool,
    ) -> Result<(Vec<(i64, JobOutcome)>, Option<ResumeReport>)> {
        let (backend, ids) = self.record(requests, sources, None)?;
        let runner = backend.runner()?.clone();
        let waiters = runner.enqueue(&ids);
        let resume = resume_others.then(|| {
            let me = self.clone();
            let skip: std::collections::HashSet<i64> = ids.iter().copied().collect();
            tokio::spawn(async move { me.resume_filtered(move |t| !skip.contains(&t.id)).await })
        });
        let mut out = Vec::with_capacity(waiters.len());
        for (id, rx) in waiters {
            let outcome = rx.await.unwrap_or_else(|_| {
                JobOutcome::Failed(Error::Internal("the queue stopped before the job ran".into()))
            });
            out.push((id, outcome));
        }
        let report = match resume {
            Some(h) => h.await.map_err(join_err)?.ok(),
            None => None,
        };
        Ok((out, report))
    }

    /// Overrides the concurrency setting for this process (`fluxdesk generate --concurrency K`);
    /// the plan's limit still caps it. `None` returns to the setting.
    pub fn set_concurrency_override(&self, limit: Option<u32>) -> Result<()> {
        if let Some(k) = limit
            && !(1..=MAX_CONCURRENCY_OVERRIDE).contains(&k)
        {
            return Err(Error::invalid_input(
                "concurrency",
                format!("{k} is out of range; use 1–{MAX_CONCURRENCY_OVERRIDE} tasks at once"),
            ));
        }
        self.inner.queue.limiter().configure(None, Some(limit), None);
        Ok(())
    }

    /// The queue: paused or not (and why), how many jobs wait and run, the limit in force.
    pub fn queue_state(&self) -> QueueState {
        self.inner.queue.snapshot(&self.inner.ledger, Some(self.backend().lane()))
    }

    /// Pauses the queue for every process using this data folder: nothing new is sent; tasks
    /// already sent continue.
    pub fn pause_queue(&self, reason: Option<String>) -> Result<QueueState> {
        let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        self.set_queue_control(QueueControl {
            paused: true,
            reason: Some(reason.unwrap_or_else(|| "Paused by you.".to_owned())),
            kind: Some(runner::PAUSE_KIND_USER.to_owned()),
        })
    }

    /// Resumes the queue: queued jobs are sent again, in order, within the limit (and the daily
    /// budget, which pauses it again at once if it is still reached).
    pub fn resume_queue(&self) -> Result<QueueState> {
        self.set_queue_control(QueueControl::default())
    }

    fn set_queue_control(&self, control: QueueControl) -> Result<QueueState> {
        self.inner.ledger.set_queue_control(&control)?;
        self.inner.queue.observe_control(&control);
        self.inner.queue.wake();
        let state = self.queue_state();
        let _ = self.inner.events.send(JobEvent::QueueChanged { state: state.clone() });
        Ok(state)
    }

    /// Moves queued job `job_id` just before queued job `before` (`None`: to the end of the
    /// queue). [`Error::InvalidInput`] when either is no longer queued.
    pub fn move_job(&self, job_id: i64, before: Option<i64>) -> Result<()> {
        self.inner.ledger.move_queued(job_id, before)?;
        self.inner.queue.wake();
        Ok(())
    }

    /// The unfinished jobs of the current backend: those on their way first, then the queued ones
    /// in the order they will be sent.
    pub fn queue_jobs(&self) -> Result<Vec<JobView>> {
        let gallery = self.gallery();
        let lane = self.backend().lane();
        Ok(self
            .inner
            .ledger
            .active_in_order(Some(lane))?
            .iter()
            .map(|t| self.to_job_view(t, &gallery))
            .collect())
    }

    /// Spending today and this month (local time) on the current backend, the account balance
    /// (read from PiAPI when the cached one is older than a minute; `None` when it cannot be read)
    /// and the daily budget.
    pub async fn cost_summary(&self) -> Result<CostSummary> {
        let backend = self.backend();
        let lane = Some(backend.lane());
        let ledger = &self.inner.ledger;
        let today_usd = ledger.cost_since(runner::start_of_today(), lane)?;
        let month_usd = ledger.cost_since(runner::start_of_month(), lane)?;
        let cached = self.inner.queue.account().filter(|(_, age)| *age < BALANCE_MAX_AGE);
        let balance_usd = match (cached, backend.runner()) {
            (Some((info, _)), _) => info.balance_usd,
            (None, Ok(r)) => match r.refresh_account().await {
                Ok(info) => info.balance_usd,
                Err(e) => {
                    tracing::info!("could not read the balance: {e}");
                    self.inner.queue.account().and_then(|(info, _)| info.balance_usd)
                }
            },
            (None, Err(_)) => None,
        };
        Ok(CostSummary {
            demo: backend.is_demo(),
            today_usd,
            month_usd,
            balance_usd,
            daily_budget_usd: self.settings().daily_budget_usd,
        })
    }

    /// Cancels a job: a queued one is dropped; one already sent is cancelled on PiAPI where the
    /// API allows it (pending tasks), else Fluxdesk stops waiting and the job's error message says
    /// PiAPI may still charge for it. A finished job is left as it is.
    pub async fn cancel_job(&self, job_id: i64) -> Result<()> {
        let backend = self.backend();
        let t = self.inner.ledger.get(job_id)?;
        let lane = t.batch_id.as_deref().unwrap_or(LIVE_PREFIX);
        match backend.runner() {
            Ok(r) if lane.starts_with(backend.lane()) => r.cancel(job_id).await,
            _ => {
                // A job of the other backend (or no backend): stop waiting for it here.
                if !t.state.is_terminal() {
                    let note = (t.task_id.is_some() && lane.starts_with(LIVE_PREFIX)).then(|| {
                        format!(
                            "{} (Fluxdesk could not ask PiAPI to cancel it now).",
                            runner::STOPPED_WAITING
                        )
                    });
                    self.inner.ledger.mark_cancelled_with(job_id, note.as_deref(), false)?;
                    let _ = self.inner.events.send(JobEvent::Cancelled { job_id });
                }
                Ok(())
            }
        }
    }

    /// An explicit new task with the same parameters (never a silent resubmission).
    pub async fn retry_job(&self, job_id: i64) -> Result<Vec<i64>> {
        let t = self.inner.ledger.get(job_id)?;
        if !runner::is_terminal(t.state) || t.state == TaskState::Saved {
            return Err(Error::invalid_input("job", "only failed or cancelled jobs can be retried"));
        }
        // The same request (same seed) and the same prepared inputs, checked again.
        let mut request = t.request.clone();
        request.input.image = None;
        request.validate_except_inputs()?;
        for input in [&t.sources.image, &t.sources.control_image].into_iter().flatten() {
            if !std::path::Path::new(&input.path).is_file() {
                return Err(Error::invalid_input(
                    "source",
                    format!(
                        "the prepared input image of job {job_id} is gone ({}); start a new job with the image",
                        input.path
                    ),
                ));
            }
        }
        let (backend, ids) = self.record(&[request], Some(&t.sources), Some(job_id))?;
        drop(backend.runner()?.enqueue(&ids));
        Ok(ids)
    }

    /// One job as Activity shows it.
    pub fn job(&self, id: i64) -> Result<JobView> {
        let t = self.inner.ledger.get(id)?;
        Ok(self.to_job_view(&t, &self.gallery()))
    }

    fn to_job_view(&self, t: &LedgerTask, gallery: &Gallery) -> JobView {
        let input = &t.request.input;
        let images = t
            .image_ids
            .iter()
            .filter_map(|id| gallery.get(*id).ok())
            .map(|rec| gallery.image_view(&rec))
            .collect();
        JobView {
            id: t.id,
            prompt: input.prompt.clone(),
            model: t.request.model,
            width: input.width.unwrap_or(1024),
            height: input.height.unwrap_or(1024),
            state: t.state,
            task_id: t.task_id.clone(),
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
            cost_usd: t.estimated_cost_usd,
            error: t
                .error_code
                .map(|code| ErrorView { code, message: t.error_message.clone().unwrap_or_default() }),
            images,
            typical_ms: u32::try_from(t.request.model.typical_duration().as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// The newest jobs first.
    pub fn jobs(&self, limit: u32) -> Result<Vec<JobView>> {
        let gallery = self.gallery();
        Ok(self.inner.ledger.list_recent(limit)?.iter().map(|t| self.to_job_view(t, &gallery)).collect())
    }

    pub async fn account(&self) -> Result<AccountView> {
        let backend = self.backend();
        let runner = backend.runner()?;
        let info = runner.refresh_account().await?;
        Ok(AccountView {
            demo: backend.is_demo(),
            balance_usd: info.balance_usd,
            plan: info.plan,
            max_concurrent_tasks: info.max_concurrent_tasks,
        })
    }

    /// One page of the gallery (see [`Gallery::list`]), as the UI shows it.
    pub fn list_images(&self, q: &GalleryQuery) -> Result<ImagePageView> {
        let gallery = self.gallery();
        let page = gallery.list(q)?;
        Ok(ImagePageView {
            items: page.items.iter().map(|r| gallery.image_view(r)).collect(),
            next_cursor: page.next_cursor,
            total: page.total.unwrap_or(page.items.len() as u64),
            counted: page.total.is_some(),
        })
    }

    /// The exact number of images matching `q` (see [`Gallery::count_matches`]): the count a
    /// page asked for with `count: false` left out.
    pub fn count_images(&self, q: &GalleryQuery) -> Result<u64> {
        self.gallery().count_matches(q)
    }

    /// Hands back the database connections' page caches for an idle moment ([`Db::release_memory`]);
    /// the shell calls it before returning freed heap to the OS. Returns how many were shrunk.
    pub fn release_memory(&self) -> usize {
        self.inner.db.release_memory()
    }

    pub fn get_image(&self, id: i64) -> Result<ImageView> {
        let gallery = self.gallery();
        Ok(gallery.image_view(&gallery.get(id)?))
    }

    /// The images of `ids` in the order asked, leaving out those no longer in the gallery: the
    /// page's image store asks for a screen's worth it dropped to stay small (at most
    /// [`MAX_IMAGES_BY_ID`] per call; more is [`Error::InvalidInput`]).
    pub fn get_images(&self, ids: &[i64]) -> Result<Vec<ImageView>> {
        if ids.len() > MAX_IMAGES_BY_ID {
            return Err(Error::invalid_input(
                "ids",
                format!("at most {MAX_IMAGES_BY_ID} images per call (asked for {})", ids.len()),
            ));
        }
        let gallery = self.gallery();
        Ok(gallery.get_many(ids)?.iter().map(|rec| gallery.image_view(rec)).collect())
    }

    pub fn set_rating(&self, ids: &[i64], rating: u8) -> Result<()> {
        self.gallery().set_rating(ids, rating)
    }

    pub fn set_favourite(&self, ids: &[i64], favourite: bool) -> Result<()> {
        self.gallery().set_favourite(ids, favourite)
    }

    /// Moves the files to the OS trash and removes them from the index.
    pub async fn delete_images(&self, ids: &[i64]) -> Result<()> {
        let gallery = self.gallery();
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || gallery.delete(&ids)).await.map_err(join_err)?
    }

    /// Indexes files added by hand and forgets files deleted by hand.
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let gallery = self.gallery();
        tokio::task::spawn_blocking(move || gallery.reconcile()).await.map_err(join_err)?
    }

    /// Recreates the index from the gallery files alone, keeping each image's link to the image
    /// it was made from (and the tasks' links) on the new ids; see
    /// [`crate::gallery_ops::rebuild_keeping_links`].
    pub async fn rebuild(&self) -> Result<ReconcileReport> {
        let gallery = self.gallery();
        let ledger = self.inner.ledger.clone();
        tokio::task::spawn_blocking(move || crate::gallery_ops::rebuild_keeping_links(&gallery, &ledger))
            .await
            .map_err(join_err)?
    }

    /// Removes the prepared input images (`<data>/inputs`) that no task can use any more and
    /// that were written more than [`inputs::INPUTS_GRACE`] ago; see [`inputs::clean_inputs`].
    /// Runs on the blocking pool. Part of the upkeep after opening; errors are the caller's to
    /// log (the upkeep never fails on them).
    pub async fn clean_inputs(&self) -> Result<InputsCleanup> {
        let dir = self.paths().inputs_dir();
        let ledger = self.inner.ledger.clone();
        tokio::task::spawn_blocking(move || inputs::clean_inputs(&dir, &ledger, inputs::INPUTS_GRACE))
            .await
            .map_err(join_err)?
    }

    /// Finishes what earlier runs left: polls, downloads and saves tasks PiAPI already has,
    /// submits queued ones, and reports ones caught mid-create (never resent).
    pub async fn resume(&self) -> Result<ResumeReport> {
        self.resume_filtered(|_| true).await
    }

    async fn resume_filtered(&self, also: impl Fn(&LedgerTask) -> bool) -> Result<ResumeReport> {
        let backend = self.backend();
        let runner = backend.runner()?;
        let demo = backend.is_demo();
        // Tasks of the other backend cannot be resumed here; leave them for when it is back.
        let belongs = move |t: &LedgerTask| {
            let b = t.batch_id.as_deref().unwrap_or(LIVE_PREFIX);
            b.starts_with(DEMO_PREFIX) == demo && also(t)
        };
        runner.resume_all(belongs).await
    }

    /// Stops the simulator. Running jobs stay in the ledger and resume on the next start.
    pub async fn shutdown(&self) {
        if let Some(h) = self.inner.sim.lock().await.take() {
            h.shutdown().await;
        }
    }
}

/// The `input` of one task of `req` (image URLs are filled in by the runner after the upload).
fn task_input(req: &GenerateRequest, seed: i64) -> FluxInput {
    let task = req.task_type;
    let mut input = FluxInput {
        prompt: req.prompt.trim().to_owned(),
        negative_prompt: req.negative_prompt.clone().filter(|s| !s.trim().is_empty()),
        width: task.takes_size().then_some(req.width),
        height: task.takes_size().then_some(req.height),
        steps: req.steps,
        guidance_scale: req.guidance,
        seed: Some(seed),
        denoise: req.denoise,
        scale: req.scale,
        ..FluxInput::default()
    };
    if !req.loras.is_empty() {
        input.lora_settings = Some(
            req.loras
                .iter()
                .map(|l| LoraSetting { lora_type: l.name.trim().to_owned(), lora_strength: Some(l.strength) })
                .collect(),
        );
    }
    if let Some(c) = &req.control {
        input.control_net_settings = Some(vec![ControlNetSetting {
            control_type: c.control_type,
            control_image: String::new(),
            control_strength: Some(c.strength),
            return_preprocessed_image: None,
        }]);
    }
    if let Some(m) = &req.outpaint {
        input.set_outpaint(&Outpaint { left: m.left, right: m.right, top: m.top, bottom: m.bottom });
    }
    input
}

/// Names a request-validation error by what the user set (`lora`, `control`, `outpaint`,
/// `source`) rather than by PiAPI's wire field.
fn request_field_error(e: piapi::Error) -> Error {
    match e {
        piapi::Error::InvalidInput { field, message } => {
            let field = match field.as_str() {
                "lora_settings" | "lora_type" | "lora_strength" => "lora",
                "control_net_settings" | "control_type" | "control_strength" | "control_image" => "control",
                "custom_settings" => "outpaint",
                "image" => "source",
                other => other,
            };
            Error::invalid_input(field, message)
        }
        other => other.into(),
    }
}

/// The input images a task type needs or refuses, checked before anything is read or recorded.
fn check_task_inputs(req: &GenerateRequest) -> Result<()> {
    let task = req.task_type;
    let name = format!("{} ({task})", task.label());
    match (&req.source, task.needs_image()) {
        (None, true) => {
            return Err(Error::invalid_input(
                "source",
                format!("{name} needs a source image; choose one from the gallery or a file"),
            ));
        }
        (Some(_), false) => {
            return Err(Error::invalid_input(
                "source",
                format!("{name} takes no source image; remove it, or choose an image task such as img2img"),
            ));
        }
        (Some(s), true) => check_source_shape(s, "source")?,
        (None, false) => {}
    }
    if req.mask.is_some() && task != TaskType::FillInpaint {
        return Err(Error::invalid_input(
            "mask",
            format!("{name} takes no mask; a mask applies only to fill-inpaint (Inpaint)"),
        ));
    }
    if let Some(m) = &req.mask
        && m.path.is_some() == m.png_base64.is_some()
    {
        return Err(Error::invalid_input("mask", "give the mask either as a file or as PNG data"));
    }
    match (&req.control, task.needs_control()) {
        (None, true) => {
            return Err(Error::invalid_input(
                "control",
                format!("{name} needs a ControlNet type and control image (e.g. canny with an image)"),
            ));
        }
        (Some(_), false) => {
            return Err(Error::invalid_input(
                "control",
                format!("{name} takes no ControlNet; remove it, or choose controlnet-lora"),
            ));
        }
        (Some(c), true) => check_source_shape(&c.image, "control")?,
        (None, false) => {}
    }
    if task.takes_outpaint() && req.outpaint.is_none() {
        return Err(Error::invalid_input(
            "outpaint",
            format!("{name} needs margins: how many pixels to add on the left, right, top and bottom"),
        ));
    }
    Ok(())
}

/// Exactly one of gallery id and path.
fn check_source_shape(s: &crate::views::SourceImage, field: &str) -> Result<()> {
    match (s.image_id, s.path.as_deref().map(str::trim)) {
        (Some(_), None) => Ok(()),
        (None, Some(p)) if !p.is_empty() => Ok(()),
        (Some(_), Some(_)) => {
            Err(Error::invalid_input(field, "give either a gallery image or a file, not both"))
        }
        _ => Err(Error::invalid_input(field, "no image was given; choose one from the gallery or a file")),
    }
}

/// `FLUXDESK_HTTP_TIMEOUT_MS`: the per-request read timeout (default 30 s). For slow networks,
/// and for tests that provoke a timeout after a create request was sent.
fn http_timeout_override() -> Option<u64> {
    std::env::var("FLUXDESK_HTTP_TIMEOUT_MS").ok()?.trim().parse().ok().filter(|ms| *ms >= 100)
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("background task failed: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use piapi::Model;

    fn req(count: u32) -> GenerateRequest {
        GenerateRequest {
            seed: Some(7),
            count,
            ..GenerateRequest::txt2img("a red fox", Model::Schnell, 1024, 768)
        }
    }

    #[test]
    fn plan_locks_seeds_per_image() {
        let plan = Studio::plan_requests(&req(3)).expect("valid");
        let seeds: Vec<_> = plan.iter().map(|r| r.input.seed).collect();
        assert_eq!(seeds, vec![Some(7), Some(8), Some(9)]);
    }

    #[test]
    fn plan_rejects_bad_input_before_recording() {
        let mut r = req(1);
        r.prompt = "  ".into();
        assert_eq!(Studio::plan_requests(&r).unwrap_err().code(), piapi::ErrorCode::InvalidInput);
        let mut r = req(101);
        r.prompt = "x".into();
        assert!(Studio::plan_requests(&r).unwrap_err().to_string().contains("count"));
        let mut r = req(1);
        r.width = 2048;
        r.height = 2048;
        assert!(Studio::plan_requests(&r).unwrap_err().to_string().contains("1,048,576"));
    }
}
