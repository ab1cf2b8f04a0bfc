//! The job runner: turns a ledger task into saved gallery images, exactly once.
//!
//! The order of writes is the whole point of this module:
//! 1. the task is already in the ledger (state `queued`) before the runner sees it;
//! 2. `queued → submitting` is claimed atomically before the create request is sent, so a crash
//!    while sending leaves a `submitting` row that is reported as "unknown whether PiAPI created
//!    it" and is never resent;
//! 3. PiAPI's `task_id` is written (`submitted`) before polling starts, so a crash while polling
//!    resumes the same task instead of paying for a new one;
//! 4. each image is written under a name derived from `(task_id, index)` and indexed with a unique
//!    `(task_id, output_index)`, so completing a task twice (a resume after a crash, or the app
//!    and the CLI at once) still yields exactly one file and one gallery entry per image.
//!
//! A cross-process lease in the ledger keeps two processes from working the same task at the same
//! time; the lease is renewed while the task runs and expires on its own if the process dies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Local, Utc};
use piapi::{DownloadOptions, ErrorCode, PollEvent, TaskStatus};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use crate::files;
use crate::gallery::{Gallery, ImageRecord, NewImage};
use crate::ledger::{Ledger, LedgerTask, TaskState};
use crate::metadata::{self, ImageMeta};
use crate::thumbs;
use crate::views::{ImageView, JobEvent, ResumeReport};
use crate::{Error, Result};

/// How long a lease lasts without renewal. A crashed process's tasks become claimable after this.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
const LEASE_RENEW_EVERY: Duration = Duration::from_secs(4);
/// Minimum gap between two rate-limited progress events of one job.
const PROGRESS_EVERY: Duration = Duration::from_millis(120);

/// What happened to one job.
#[derive(Debug)]
pub enum JobOutcome {
    /// Every image of the task is in the gallery.
    Saved(Vec<ImageRecord>),
    /// The job ended (or stopped) with this error. For errors after which the task may still
    /// finish on PiAPI (timeouts, network trouble) the ledger keeps it resumable.
    Failed(Error),
    Cancelled,
    /// Another process holds this task's lease and is working on it.
    Busy,
}

impl JobOutcome {
    pub fn is_saved(&self) -> bool {
        matches!(self, JobOutcome::Saved(_))
    }
}

/// Everything a runner needs. All parts are cheap clones.
pub struct RunnerParts {
    pub ledger: Ledger,
    pub gallery: Gallery,
    pub thumbs_dir: PathBuf,
    pub client: piapi::Client,
    pub events: broadcast::Sender<JobEvent>,
    /// Tasks in flight on PiAPI at once (the plan's concurrency).
    pub concurrency: usize,
    /// Stamped into image metadata.
    pub generator: String,
}

/// Runs jobs. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    parts: RunnerParts,
    owner: String,
    limit: Arc<Semaphore>,
    cancels: Mutex<HashMap<i64, CancellationToken>>,
}

impl Runner {
    pub fn new(parts: RunnerParts) -> Runner {
        let owner = format!("pid:{}:{:08x}", std::process::id(), rand::random::<u32>());
        let limit = Arc::new(Semaphore::new(parts.concurrency.max(1)));
        Runner { inner: Arc::new(Inner { parts, owner, limit, cancels: Mutex::new(HashMap::new()) }) }
    }

    pub fn client(&self) -> &piapi::Client {
        &self.inner.parts.client
    }

    pub fn gallery(&self) -> &Gallery {
        &self.inner.parts.gallery
    }

    pub fn ledger(&self) -> &Ledger {
        &self.inner.parts.ledger
    }

    /// Converts a gallery record to what the UI sees.
    pub fn image_view(&self, rec: &ImageRecord) -> ImageView {
        image_view(&self.inner.parts.gallery, rec)
    }

    fn emit(&self, ev: JobEvent) {
        // No receivers is fine (the CLI without progress output, tests).
        let _ = self.inner.parts.events.send(ev);
    }

    /// Spawns [`Runner::run`] on the current tokio runtime.
    pub fn spawn(&self, job_id: i64) -> tokio::task::JoinHandle<JobOutcome> {
        let me = self.clone();
        tokio::spawn(async move { me.run(job_id).await })
    }

    /// Drives one ledger task to its end: submit if queued, poll, download, save.
    pub async fn run(&self, job_id: i64) -> JobOutcome {
        let inner = &self.inner;
        let cancel = CancellationToken::new();
        {
            // One run per job per process: the lease below is per process, so it would let a
            // second run in this process through.
            let mut running = lock(&inner.cancels);
            if running.contains_key(&job_id) {
                return JobOutcome::Busy;
            }
            running.insert(job_id, cancel.clone());
        }
        match inner.parts.ledger.try_lease(job_id, &inner.owner, LEASE_TTL) {
            Ok(true) => {}
            Ok(false) => {
                lock(&inner.cancels).remove(&job_id);
                return JobOutcome::Busy;
            }
            Err(e) => {
                lock(&inner.cancels).remove(&job_id);
                return JobOutcome::Failed(e);
            }
        }
        let renew = self.spawn_lease_renewal(job_id, cancel.clone());

        let outcome = match self.drive(job_id, &cancel).await {
            Ok(images) => JobOutcome::Saved(images),
            Err(Error::Api(piapi::Error::Cancelled { .. })) => {
                if let Err(e) = inner.parts.ledger.mark_cancelled(job_id) {
                    tracing::warn!(job_id, "could not record cancellation: {e}");
                }
                self.emit(JobEvent::Cancelled { job_id });
                JobOutcome::Cancelled
            }
            Err(e) => {
                self.emit(JobEvent::Failed { job_id, code: e.code(), message: e.to_string() });
                JobOutcome::Failed(e)
            }
        };

        renew.abort();
        lock(&inner.cancels).remove(&job_id);
        if let Err(e) = inner.parts.ledger.release(job_id, &inner.owner) {
            tracing::warn!(job_id, "could not release lease: {e}");
        }
        outcome
    }

    fn spawn_lease_renewal(&self, job_id: i64, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(LEASE_RENEW_EVERY) => {}
                }
                if let Err(e) = me.inner.parts.ledger.try_lease(job_id, &me.inner.owner, LEASE_TTL) {
                    tracing::warn!(job_id, "lease renewal failed: {e}");
                }
                if cancel.is_cancelled() {
                    // Keep renewing while the run loop records the cancellation; it aborts us.
                    tokio::time::sleep(LEASE_RENEW_EVERY).await;
                }
            }
        })
    }

    /// Requests cancellation. A queued job is dropped at once; a running one is cancelled on
    /// PiAPI where the API allows it (pending tasks only) and otherwise no longer waited for.
    pub async fn cancel(&self, job_id: i64) -> Result<()> {
        let token = lock(&self.inner.cancels).get(&job_id).cloned();
        let task = self.inner.parts.ledger.get(job_id)?;
        if let Some(task_id) = task.task_id.as_deref()
            && !is_terminal(task.state)
        {
            // Best effort: PiAPI only cancels pending tasks; the error tells the user why not.
            if let Err(e) = self.inner.parts.client.cancel_task(task_id).await {
                tracing::info!(job_id, "PiAPI did not cancel the task: {e}");
            }
        }
        match token {
            Some(t) => t.cancel(),
            None if !is_terminal(task.state) => {
                self.inner.parts.ledger.mark_cancelled(job_id)?;
                self.emit(JobEvent::Cancelled { job_id });
            }
            None => {}
        }
        Ok(())
    }

    async fn drive(&self, job_id: i64, cancel: &CancellationToken) -> Result<Vec<ImageRecord>> {
        let parts = &self.inner.parts;
        let task = parts.ledger.get(job_id)?;
        match task.state {
            TaskState::Saved => return self.saved_images(&task),
            TaskState::Failed | TaskState::Abandoned => {
                return Err(Error::Api(piapi::Error::TaskFailed {
                    task_id: task.task_id.clone().unwrap_or_default(),
                    message: task.error_message.clone().unwrap_or_else(|| "it ended earlier".into()),
                }));
            }
            TaskState::Cancelled => {
                return Err(piapi::Error::Cancelled { task_id: task.task_id.clone() }.into());
            }
            _ => {}
        }

        // Wait for a slot in the plan's concurrency (a resumed task is already in flight on PiAPI
        // but still takes a slot, so we never exceed the plan from this process).
        let _permit = tokio::select! {
            p = self.inner.limit.clone().acquire_owned() => p.map_err(|_| Error::Internal("runner closed".into()))?,
            _ = cancel.cancelled() => return Err(piapi::Error::Cancelled { task_id: None }.into()),
        };

        let task_id = match task.state {
            TaskState::Queued => self.submit(&task, cancel).await?,
            TaskState::Submitting => {
                let e = uncertain_error();
                parts.ledger.mark_failed(job_id, ErrorCode::CreateUnknown, &e.to_string())?;
                return Err(e);
            }
            _ => task.task_id.clone().ok_or_else(|| {
                Error::Internal(format!("job {job_id} is {:?} without a task id", task.state))
            })?,
        };

        let done = self.poll(&task, &task_id, cancel).await?;
        parts.ledger.mark_downloading(job_id, done.consume)?;
        let images = self.save_outputs(&task, &done, cancel).await?;
        parts.ledger.mark_saved(job_id)?;
        // Announce only what is durable: the files, the index rows and the ledger state.
        for rec in &images {
            self.emit(JobEvent::Saved { job_id, image: Box::new(self.image_view(rec)) });
        }
        Ok(images)
    }

    /// Sends the create request once. Returns PiAPI's task id, already written to the ledger.
    async fn submit(&self, task: &LedgerTask, cancel: &CancellationToken) -> Result<String> {
        let parts = &self.inner.parts;
        if cancel.is_cancelled() {
            return Err(piapi::Error::Cancelled { task_id: None }.into());
        }
        if !parts.ledger.begin_submit(task.id)? {
            // Cancelled or taken between our read and the claim.
            let now = parts.ledger.get(task.id)?;
            return match now.state {
                TaskState::Cancelled => Err(piapi::Error::Cancelled { task_id: None }.into()),
                _ => now.task_id.ok_or_else(uncertain_error),
            };
        }
        match parts.client.create_task(&task.request).await {
            Ok(created) => {
                parts.ledger.mark_submitted(task.id, &created.task_id)?;
                self.emit(JobEvent::Submitted { job_id: task.id, task_id: created.task_id.clone() });
                Ok(created.task_id)
            }
            Err(e) => {
                // Nothing was created (validation, auth, credits, a refused connection), or it is
                // unknown (CreateUnknown). Either way the task is never resent automatically.
                parts.ledger.mark_failed(task.id, e.code(), &e.to_string())?;
                Err(e.into())
            }
        }
    }

    async fn poll(
        &self,
        task: &LedgerTask,
        task_id: &str,
        cancel: &CancellationToken,
    ) -> Result<piapi::Task> {
        let parts = &self.inner.parts;
        let job_id = task.id;
        let typical_ms = duration_ms(task.request.model.typical_duration());
        let began = Instant::now();
        let mut running = task.state == TaskState::Running;
        let mut sent_pending = false;
        let mut last_progress: Option<Instant> = None;
        let ledger = parts.ledger.clone();
        let events = parts.events.clone();
        let mut on_event = |ev: PollEvent| match ev {
            PollEvent::Status { task: t, .. } => match t.status {
                TaskStatus::Pending if !sent_pending => {
                    sent_pending = true;
                    let _ = events.send(JobEvent::Pending { job_id });
                }
                TaskStatus::Processing => {
                    if !running {
                        running = true;
                        if let Err(e) = ledger.mark_running(job_id, t.started_at) {
                            tracing::warn!(job_id, "could not record running state: {e}");
                        }
                    }
                    let elapsed = match t.started_at {
                        Some(s) => (Utc::now() - s).to_std().unwrap_or_default(),
                        None => began.elapsed(),
                    };
                    if last_progress.is_none_or(|l| l.elapsed() >= PROGRESS_EVERY) {
                        last_progress = Some(Instant::now());
                        let _ = events.send(JobEvent::Processing {
                            job_id,
                            elapsed_ms: duration_ms(elapsed),
                            typical_ms,
                        });
                    }
                }
                _ => {}
            },
            PollEvent::Transient { attempt, error, retry_in } => {
                tracing::info!(job_id, attempt, ?retry_in, "transient error while polling: {error}");
            }
        };
        match parts.client.poll_until_done(task_id, cancel, &mut on_event).await {
            Ok(t) => Ok(t),
            Err(e) => {
                match &e {
                    // Definitive ends: record them.
                    piapi::Error::TaskFailed { .. } | piapi::Error::NotFound { .. } => {
                        parts.ledger.mark_failed(job_id, e.code(), &e.to_string())?;
                    }
                    // Cancelled is recorded by `run`. Everything else (timeout, network, auth,
                    // server trouble) leaves the task resumable: it may still finish on PiAPI.
                    _ => {}
                }
                Err(e.into())
            }
        }
    }

    async fn save_outputs(
        &self,
        task: &LedgerTask,
        done: &piapi::Task,
        cancel: &CancellationToken,
    ) -> Result<Vec<ImageRecord>> {
        let parts = &self.inner.parts;
        let job_id = task.id;
        let task_id = done.task_id.as_str();
        if done.image_urls.is_empty() {
            return Err(piapi::Error::Protocol {
                message: "the task completed without an image URL".into(),
                body: String::new(),
            }
            .into());
        }
        let n = done.image_urls.len();
        let per_image_cost = match done.consume {
            Some(c) if c > 0 => c as f64 * 1e-7 / n as f64,
            _ => task.estimated_cost_usd / n as f64,
        };
        let mut saved = Vec::with_capacity(n);
        for (i, url) in done.image_urls.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| Error::Internal("too many outputs".into()))?;
            if let Some(rec) = parts.gallery.find_by_task(task_id, index)? {
                saved.push(rec);
                continue;
            }
            let mut last: Option<Instant> = None;
            let events = parts.events.clone();
            let mut on_bytes = |received: u64, total: Option<u64>| {
                let finished = total == Some(received);
                if received == 0 || finished || last.is_none_or(|l| l.elapsed() >= PROGRESS_EVERY) {
                    last = Some(Instant::now());
                    let _ = events.send(JobEvent::Downloading {
                        job_id,
                        received: clamp_u32(received),
                        total: total.map(clamp_u32),
                    });
                }
            };
            let fetched =
                parts.client.fetch_image(url, &DownloadOptions::default(), cancel, &mut on_bytes).await?;
            let req = &task.request;
            let meta = ImageMeta {
                prompt: req.input.prompt.clone(),
                negative_prompt: req.input.negative_prompt.clone().filter(|s| !s.trim().is_empty()),
                model: Some(req.model.id().to_owned()),
                task_type: Some(req.task_type.as_str().to_owned()),
                width: fetched.width,
                height: fetched.height,
                seed: req.input.seed.map(|s| s + i64::from(index)),
                steps: req.input.steps,
                guidance: req.input.guidance_scale,
                task_id: Some(task_id.to_owned()),
                output_index: Some(index),
                cost_usd: Some(per_image_cost),
                created_at: Some(task.created_at),
                source_image_id: None,
                generator: Some(parts.generator.clone()),
            };
            saved.push(self.store_image(task, meta, fetched.bytes, &fetched.format).await?);
        }
        Ok(saved)
    }

    /// Writes the file (with metadata), its thumbnail and its index row. Idempotent.
    async fn store_image(
        &self,
        task: &LedgerTask,
        meta: ImageMeta,
        bytes: Vec<u8>,
        format: &str,
    ) -> Result<ImageRecord> {
        let parts = &self.inner.parts;
        let task_id = meta.task_id.clone().unwrap_or_default();
        let index = meta.output_index.unwrap_or(0);
        let ext = match format {
            "jpeg" | "jpg" => "jpg",
            "webp" => "webp",
            _ => "png",
        };
        let rel = files::gallery_relative_path(
            task.created_at.with_timezone(&Local),
            &meta.prompt,
            &files::short_tag(&format!("{task_id}/{index}")),
            ext,
        );
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let abs = parts.gallery.root().join(&rel);
        let thumbs_dir = parts.thumbs_dir.clone();
        let meta_for_file = meta.clone();
        let is_png = ext == "png";
        // Encoding, hashing, writing and thumbnailing are CPU and disk work: off the runtime.
        let (hash, size) = tokio::task::spawn_blocking(move || -> Result<(String, u64)> {
            let bytes = if is_png { metadata::embed_png_metadata(&bytes, &meta_for_file)? } else { bytes };
            files::write_new_file(&abs, &bytes)?;
            let hash = files::content_hash(&bytes);
            let thumb = thumbs::thumb_path(&thumbs_dir, &hash);
            if let Err(e) = thumbs::make_thumbnail(&bytes, &thumb) {
                // The image is safe; the thumbnail is made again lazily.
                tracing::warn!("thumbnail failed for {}: {e}", abs.display());
            }
            Ok((hash, bytes.len() as u64))
        })
        .await
        .map_err(|e| Error::Internal(format!("save task panicked: {e}")))??;

        let (id, _inserted) = parts.gallery.insert(&NewImage {
            rel_path: rel_str,
            meta,
            content_hash: hash,
            file_size: size,
            ledger_id: Some(task.id),
            created_at: task.created_at,
        })?;
        parts.gallery.get(id)
    }

    fn saved_images(&self, task: &LedgerTask) -> Result<Vec<ImageRecord>> {
        task.image_ids.iter().map(|id| self.inner.parts.gallery.get(*id)).collect()
    }

    /// Finishes everything an earlier process left: tasks with a task id are polled and saved,
    /// queued tasks are submitted, and tasks caught mid-create are reported as uncertain (never
    /// resent). Tasks leased by a live process are waited for until that process finishes them
    /// or its lease expires.
    pub async fn resume_all(&self, include: impl Fn(&LedgerTask) -> bool) -> Result<ResumeReport> {
        let ledger = &self.inner.parts.ledger;
        let mut report = ResumeReport::default();
        for t in ledger.uncertain()? {
            if !include(&t) || lock(&self.inner.cancels).contains_key(&t.id) {
                continue;
            }
            if ledger.try_lease(t.id, &self.inner.owner, LEASE_TTL)? {
                let e = uncertain_error();
                ledger.mark_failed(t.id, ErrorCode::CreateUnknown, &e.to_string())?;
                ledger.release(t.id, &self.inner.owner)?;
                self.emit(JobEvent::Failed { job_id: t.id, code: e.code(), message: e.to_string() });
                report.uncertain.push(t.id);
            }
        }
        let mut pending: Vec<i64> = ledger
            .resumable()?
            .into_iter()
            .chain(ledger.queued()?)
            .filter(|t| include(t))
            .map(|t| t.id)
            .collect();
        pending.sort_unstable();
        pending.dedup();

        let deadline = Instant::now() + LEASE_TTL + Duration::from_secs(5);
        while !pending.is_empty() {
            let handles: Vec<_> = pending.iter().map(|id| (*id, self.spawn(*id))).collect();
            let mut busy = Vec::new();
            for (id, h) in handles {
                let outcome = h.await.map_err(|e| Error::Internal(format!("job panicked: {e}")))?;
                match outcome {
                    JobOutcome::Saved(_) => report.saved.push(id),
                    JobOutcome::Busy => busy.push(id),
                    JobOutcome::Cancelled => report.failed.push(id),
                    JobOutcome::Failed(e) => match e.code() {
                        ErrorCode::CreateUnknown => report.uncertain.push(id),
                        ErrorCode::Timeout | ErrorCode::Network | ErrorCode::ServerError => {
                            report.still_running.push(id)
                        }
                        _ => report.failed.push(id),
                    },
                }
            }
            // Another process holds these. If it finishes them, they are terminal when we look
            // again; if it died, its lease expires and we take over.
            pending = busy
                .into_iter()
                .filter(|id| ledger.get(*id).map(|t| !is_terminal(t.state)).unwrap_or(false))
                .collect();
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                report.still_running.extend(pending);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Saved by another process while we waited: count them as saved.
        Ok(report)
    }
}

/// Converts a gallery record to the UI's view, with absolute paths.
pub fn image_view(gallery: &Gallery, rec: &ImageRecord) -> ImageView {
    let thumb = gallery.thumb_path(rec);
    ImageView {
        id: rec.id,
        path: gallery.abs_path(rec).to_string_lossy().into_owned(),
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
    }
}

fn uncertain_error() -> Error {
    piapi::Error::CreateUnknown { message: "Fluxdesk stopped while sending this task".into() }.into()
}

pub(crate) fn is_terminal(s: TaskState) -> bool {
    matches!(s, TaskState::Saved | TaskState::Failed | TaskState::Abandoned | TaskState::Cancelled)
}

fn duration_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned map of cancel tokens is still consistent (inserts/removes are single calls).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
