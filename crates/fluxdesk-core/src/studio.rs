//! The facade the desktop shell and the CLI call: one object that owns the paths, settings,
//! keychain, database, gallery and the job runner, and knows whether we talk to PiAPI or to the
//! bundled simulator (demo mode).
//!
//! Contract:
//! - `open` is fast (opens SQLite, maybe starts the loopback simulator) and never needs the
//!   network; resuming and reconciling run in the background when asked.
//! - Keychain calls run on the blocking pool (they are D-Bus round trips on Linux).
//! - The API key never leaves this module except inside the PiAPI client's config.
//! - Jobs are recorded in the ledger before anything is sent; `generate` returns their ids and
//!   progress arrives on [`Studio::subscribe`].

use std::sync::{Arc, Mutex, RwLock};

use chrono::{Local, TimeZone, Utc};
use piapi::{ClientConfig, FluxInput, Size, TaskRequest, TaskType};
use secrecy::SecretString;
use tokio::sync::broadcast;

use crate::db::Db;
use crate::gallery::{Gallery, GalleryQuery, ReconcileReport};
use crate::ledger::{Ledger, LedgerTask, TaskState};
use crate::paths::Paths;
use crate::runner::{self, JobOutcome, Runner, RunnerParts};
use crate::secrets::{self, KeySource, KeyStatus, SecretStore};
use crate::settings::{EnvOverrides, Settings, SettingsFile};
use crate::views::{
    AccountView, AppInfo, ErrorView, GenerateRequest, ImageView, JobEvent, JobView, ResumeReport,
    SettingsView,
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
    /// Reconcile the gallery and resume unfinished tasks in the background right after opening
    /// (the app: true; the CLI resumes explicitly).
    pub resume_on_open: bool,
}

/// A page of gallery images as the UI sees them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImagePageView {
    pub items: Vec<ImageView>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

/// The most images one generate request may queue (each is its own paid task).
pub const MAX_IMAGES_PER_REQUEST: u32 = 100;

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
    /// The in-process simulator for demo mode, started on first need and kept for the process.
    sim: tokio::sync::Mutex<Option<piapi_sim::SimHandle>>,
    /// The key status as last read (keychain reads are D-Bus calls; don't repeat them per render).
    key_status: Mutex<Option<KeyStatus>>,
}

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
            sim: tokio::sync::Mutex::new(None),
            key_status: Mutex::new(None),
        });
        let studio = Studio { inner };
        studio.rebuild_backend().await?;
        if opts.resume_on_open {
            let s = studio.clone();
            tokio::spawn(async move {
                if let Err(e) = s.reconcile().await {
                    tracing::warn!("gallery reconcile failed: {e}");
                }
                match s.resume().await {
                    Ok(r) => tracing::info!(?r, "resume finished"),
                    Err(e) => tracing::warn!("resume failed: {e}"),
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
                Backend::Demo(Runner::new(parts(piapi::Client::new(cfg)?)))
            }
            (_, Some((key, _source))) => {
                let mut cfg = ClientConfig::new(&settings.base_url, key)?;
                cfg.poll = settings.poll_policy();
                if let Some(ms) = http_timeout_override() {
                    cfg.read_timeout = std::time::Duration::from_millis(ms);
                }
                Backend::Live(Runner::new(parts(piapi::Client::new(cfg)?)))
            }
            (DemoChoice::Off, None) => Backend::NoKey(keychain_problem),
        };
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
    pub fn plan_requests(req: &GenerateRequest) -> Result<Vec<TaskRequest>> {
        if !(1..=MAX_IMAGES_PER_REQUEST).contains(&req.count) {
            return Err(Error::invalid_input(
                "count",
                format!("{} is out of range; use 1–{MAX_IMAGES_PER_REQUEST} images", req.count),
            ));
        }
        Size::new(req.width, req.height).validate()?;
        let base_seed = req.seed;
        if base_seed.is_some_and(|s| s < 0) {
            return Err(Error::invalid_input(
                "seed",
                "use a non-negative number, or leave it empty for random",
            ));
        }
        (0..req.count)
            .map(|i| {
                // Always send a concrete seed, so every image records the seed that made it.
                let seed = match base_seed {
                    Some(s) => s + i64::from(i),
                    None => i64::from(rand::random::<u32>() >> 1),
                };
                let r = TaskRequest {
                    model: req.model,
                    task_type: TaskType::Txt2Img,
                    input: FluxInput {
                        prompt: req.prompt.trim().to_owned(),
                        negative_prompt: req.negative_prompt.clone().filter(|s| !s.trim().is_empty()),
                        width: Some(req.width),
                        height: Some(req.height),
                        steps: req.steps,
                        guidance_scale: req.guidance,
                        seed: Some(seed),
                        ..FluxInput::default()
                    },
                };
                r.validate()?;
                Ok(r)
            })
            .collect()
    }

    /// Records the jobs (before anything is sent) and returns their ids.
    fn record(&self, req: &GenerateRequest, retry_of: Option<i64>) -> Result<(Arc<Backend>, Vec<i64>)> {
        let backend = self.backend();
        backend.runner()?;
        let requests = Self::plan_requests(req)?;
        if let Some(cap) = self.settings().daily_budget_usd {
            let midnight = Local::now().date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
            let since = Local
                .from_local_datetime(&midnight)
                .earliest()
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(Utc::now);
            let spent = self.inner.ledger.spent_since(since)?;
            let planned: f64 = requests.iter().map(TaskRequest::estimated_cost_usd).sum();
            if !backend.is_demo() && spent + planned > cap + 1e-9 {
                return Err(Error::BudgetReached { cap, spent });
            }
        }
        let prefix = if backend.is_demo() { DEMO_PREFIX } else { LIVE_PREFIX };
        let batch = format!("{prefix}{:016x}", rand::random::<u64>());
        let mut ids = Vec::with_capacity(requests.len());
        for r in &requests {
            ids.push(self.inner.ledger.record(r, Some(&batch), retry_of)?);
        }
        for id in &ids {
            if let Ok(job) = self.job_view(*id) {
                let _ = self.inner.events.send(JobEvent::Queued { job_id: *id, job: Box::new(job) });
            }
        }
        Ok((backend, ids))
    }

    /// Queues the images and starts them in the background. Progress arrives on `subscribe()`.
    pub async fn generate(&self, req: GenerateRequest) -> Result<Vec<i64>> {
        let (backend, ids) = self.record(&req, None)?;
        let runner = backend.runner()?;
        for id in &ids {
            drop(runner.spawn(*id));
        }
        Ok(ids)
    }

    /// Queues the images and waits for all of them (the CLI). With `resume_others`, tasks left
    /// unfinished by earlier runs are finished alongside; their report is returned too.
    pub async fn generate_and_wait(
        &self,
        req: GenerateRequest,
        resume_others: bool,
    ) -> Result<(Vec<(i64, JobOutcome)>, Option<ResumeReport>)> {
        let (backend, ids) = self.record(&req, None)?;
        let runner = backend.runner()?.clone();
        let handles: Vec<_> = ids.iter().map(|id| (*id, runner.spawn(*id))).collect();
        let resume = resume_others.then(|| {
            let me = self.clone();
            let skip = ids.clone();
            tokio::spawn(async move { me.resume_filtered(move |t| !skip.contains(&t.id)).await })
        });
        let mut out = Vec::with_capacity(handles.len());
        for (id, h) in handles {
            out.push((id, h.await.map_err(join_err)?));
        }
        let report = match resume {
            Some(h) => h.await.map_err(join_err)?.ok(),
            None => None,
        };
        Ok((out, report))
    }

    pub async fn cancel_job(&self, job_id: i64) -> Result<()> {
        let backend = self.backend();
        match backend.runner() {
            Ok(r) => r.cancel(job_id).await,
            Err(_) => {
                let t = self.inner.ledger.get(job_id)?;
                if !runner::is_terminal(t.state) {
                    self.inner.ledger.mark_cancelled(job_id)?;
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
        let input = &t.request.input;
        let req = GenerateRequest {
            prompt: input.prompt.clone(),
            negative_prompt: input.negative_prompt.clone(),
            model: t.request.model,
            width: input.width.unwrap_or(1024),
            height: input.height.unwrap_or(1024),
            steps: input.steps,
            guidance: input.guidance_scale,
            seed: input.seed,
            count: 1,
        };
        let (backend, ids) = self.record(&req, Some(job_id))?;
        let runner = backend.runner()?;
        for id in &ids {
            drop(runner.spawn(*id));
        }
        Ok(ids)
    }

    fn job_view(&self, id: i64) -> Result<JobView> {
        let t = self.inner.ledger.get(id)?;
        Ok(self.to_job_view(&t, &self.gallery()))
    }

    fn to_job_view(&self, t: &LedgerTask, gallery: &Gallery) -> JobView {
        let input = &t.request.input;
        let images = t
            .image_ids
            .iter()
            .filter_map(|id| gallery.get(*id).ok())
            .map(|rec| runner::image_view(gallery, &rec))
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
        let info = runner.client().account_info().await?;
        Ok(AccountView {
            demo: backend.is_demo(),
            balance_usd: info.balance_usd,
            plan: info.plan,
            max_concurrent_tasks: info.max_concurrent_tasks,
        })
    }

    pub fn list_images(&self, q: &GalleryQuery) -> Result<ImagePageView> {
        let gallery = self.gallery();
        let page = gallery.list(q)?;
        Ok(ImagePageView {
            items: page.items.iter().map(|r| runner::image_view(&gallery, r)).collect(),
            next_cursor: page.next_cursor,
            total: page.total,
        })
    }

    pub fn get_image(&self, id: i64) -> Result<ImageView> {
        let gallery = self.gallery();
        Ok(runner::image_view(&gallery, &gallery.get(id)?))
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

    /// Recreates the index from the gallery files alone.
    pub async fn rebuild(&self) -> Result<ReconcileReport> {
        let gallery = self.gallery();
        tokio::task::spawn_blocking(move || gallery.rebuild()).await.map_err(join_err)?
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
            prompt: "a red fox".into(),
            negative_prompt: None,
            model: Model::Schnell,
            width: 1024,
            height: 768,
            steps: None,
            guidance: None,
            seed: Some(7),
            count,
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
