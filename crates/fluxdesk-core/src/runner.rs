//! The job runner: turns a ledger task into saved gallery images, exactly once, and sends queued
//! tasks within the plan's concurrency limit.
//!
//! The order of writes is the whole point of this module:
//! 1. the task is already in the ledger (state `queued`) before the runner sees it, with its input
//!    images already prepared as local files (`sources_json`, see [`crate::inputs`]);
//! 2. while the task is still `queued`, each input image is uploaded to PiAPI's ephemeral upload
//!    endpoint (free; the URL is cached in memory by content hash for 30 minutes, so a resume in a
//!    new process simply uploads again) and the full request is validated. An upload failure
//!    marks the task failed with `UploadFailed`: nothing was created or charged, and a retry is
//!    an explicit new task. Upload URLs are never written to the ledger, the gallery or metadata;
//! 3. `queued → submitting` is claimed atomically before the create request is sent, so a crash
//!    while sending leaves a `submitting` row that is reported as "unknown whether PiAPI created
//!    it" and is never resent;
//! 4. PiAPI's `task_id` is written (`submitted`) before polling starts, so a crash while polling
//!    resumes the same task instead of paying for a new one;
//! 5. each image is written under a name derived from `(task_id, index)` and indexed with a unique
//!    `(task_id, output_index)`, so completing a task twice (a resume after a crash, or the app
//!    and the CLI at once) still yields exactly one file and one gallery entry per image.
//!
//! A cross-process lease in the ledger keeps two processes from working the same task at the same
//! time; the lease is renewed while the task runs and expires on its own if the process dies.
//!
//! The queue (see [`crate::queue`]): queued tasks are sent by one dispatcher loop per runner, in
//! ledger queue order, one whenever a slot of the adaptive limit is free, and only while the
//! queue is not paused (the pause switch lives in the database, so `fluxdesk queue pause` pauses
//! the app too). Before each send the daily budget is checked; reaching it pauses the queue with
//! the reason. A create refused with 429 (rate limit or plan concurrency) created nothing: the
//! task goes back to `queued` (keeping its place), the limit is halved and held back for
//! `Retry-After`, and the task is sent again later, so a storm of 429s still ends with exactly
//! one create per task. Tasks already on PiAPI (resumed ones) take a slot too, so this process
//! never has more than the limit in flight. A slot is held from the create until PiAPI reports
//! the task done; the download and save happen outside it, so the next task is sent at once.
//!
//! Polling: a freshly created task's first check waits for most of the duration recent tasks of
//! the same kind took ([`crate::durations`], [`piapi::PollPolicy::expecting`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Local, TimeZone, Utc};
use piapi::{DownloadOptions, ErrorCode, PollEvent, TaskStatus};
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::durations::DurationBook;
use crate::files;
use crate::gallery::{Gallery, ImageRecord, NewImage};
use crate::ledger::{Ledger, LedgerTask, QueueControl, TaskState};
use crate::metadata::{self, ImageMeta};
use crate::queue::{self, Permit, Queue};
use crate::thumbs;
use crate::views::{JobEvent, QueueState, ResumeReport};
use crate::{Error, Result};

/// How long a lease lasts without renewal. A crashed process's tasks become claimable after this.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
const LEASE_RENEW_EVERY: Duration = Duration::from_secs(4);
/// Minimum gap between two rate-limited progress events of one job.
const PROGRESS_EVERY: Duration = Duration::from_millis(120);
/// How often an idle dispatcher looks at the database (the pause switch may be flipped by another
/// process, and another process may cancel or take one of our queued tasks).
const DISPATCH_TICK: Duration = Duration::from_millis(400);
/// How long an upload URL is reused for the same input (PiAPI's uploads are ephemeral).
const UPLOAD_URL_TTL: Duration = Duration::from_secs(30 * 60);
/// What a cancelled job that PiAPI would not (or could not) cancel says.
pub const STOPPED_WAITING: &str = "Fluxdesk stopped waiting; PiAPI may still charge for this task";
/// `QueueControl::kind` of a pause caused by the daily budget.
pub const PAUSE_KIND_BUDGET: &str = "budget";
/// `QueueControl::kind` of a pause asked for by the user.
pub const PAUSE_KIND_USER: &str = "user";

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
    /// Not sent: the queue is paused (it stays queued and is sent after a resume).
    Paused {
        reason: String,
    },
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
    /// Tasks in flight on PiAPI at once (the setting; the plan's limit, when known, caps it).
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
    queue: Queue,
    /// The batch-id prefix of the tasks this runner sends (`None`: any).
    lane: Option<String>,
    /// Tasks cost money: the daily budget applies.
    charges: bool,
    /// The queue generation this runner's dispatcher belongs to; a newer runner replaces it.
    generation: u64,
    dispatcher_started: AtomicBool,
    cancels: Mutex<HashMap<i64, CancellationToken>>,
    /// Recent task durations per kind: the poller sleeps through most of the expected run.
    durations: DurationBook,
    /// Upload URLs of input images by content hash (SHA-256), with when they were made.
    uploads: Mutex<HashMap<String, (String, Instant)>>,
}

/// How a run of one job ended.
enum RunEnd {
    Done(JobOutcome),
    /// PiAPI refused the create with 429: the task is queued again (nothing was created).
    Requeued,
}

/// Why `drive` stopped early.
enum Stop {
    Requeued,
    Error(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e)
    }
}

impl From<piapi::Error> for Stop {
    fn from(e: piapi::Error) -> Self {
        Stop::Error(e.into())
    }
}

impl Runner {
    /// A runner with its own queue (limit `parts.concurrency`), sending any queued task it is
    /// given, with no budget.
    pub fn new(parts: RunnerParts) -> Runner {
        let queue = Queue::new(u32::try_from(parts.concurrency).unwrap_or(u32::MAX));
        Runner::with_queue(parts, queue, None, false)
    }

    /// A runner sharing `queue` (it replaces the queue's previous runner, whose dispatcher stops;
    /// its running tasks finish). `lane` is the batch-id prefix of the tasks it sends; `charges`
    /// says whether they cost money (the daily budget applies).
    pub fn with_queue(parts: RunnerParts, queue: Queue, lane: Option<&str>, charges: bool) -> Runner {
        let owner = format!("pid:{}:{:08x}", std::process::id(), rand::random::<u32>());
        let setting = u32::try_from(parts.concurrency).unwrap_or(u32::MAX);
        queue.limiter().configure(Some(setting), None, None);
        let generation = queue.next_generation();
        Runner {
            inner: Arc::new(Inner {
                parts,
                owner,
                queue,
                lane: lane.map(str::to_owned),
                charges,
                generation,
                dispatcher_started: AtomicBool::new(false),
                cancels: Mutex::new(HashMap::new()),
                durations: DurationBook::new(),
                uploads: Mutex::new(HashMap::new()),
            }),
        }
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

    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// The batch-id prefix of the tasks this runner sends (`None`: any).
    pub fn lane(&self) -> Option<&str> {
        self.inner.lane.as_deref()
    }

    fn emit(&self, ev: JobEvent) {
        // No receivers is fine (the CLI without progress output, tests).
        let _ = self.inner.parts.events.send(ev);
    }

    /// The queue as the UI sees it, for this runner's lane.
    pub fn queue_state(&self) -> QueueState {
        self.inner.queue.snapshot(&self.inner.parts.ledger, self.lane())
    }

    fn emit_queue_changed(&self) {
        self.emit(JobEvent::QueueChanged { state: self.queue_state() });
    }

    /// Reads the account (balance, plan limit), caches it in the queue and applies the plan's
    /// concurrency limit.
    pub async fn refresh_account(&self) -> Result<piapi::AccountInfo> {
        let info = self.inner.parts.client.account_info().await?;
        self.inner.queue.set_account(info.clone());
        if let Some(n) = info.max_concurrent_tasks
            && self.inner.queue.limiter().configure(None, None, Some(n))
        {
            self.emit_queue_changed();
        }
        Ok(info)
    }

    /// Starts the dispatcher and learns the plan's limit in the background (the first send waits
    /// for it briefly). Call once after building the runner inside a tokio runtime.
    pub fn start(&self) {
        self.ensure_dispatcher();
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.inner.queue.expect_plan();
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.refresh_account().await {
                tracing::info!("could not read the account's plan limit; using the setting: {e}");
            }
            me.inner.queue.plan_settled();
        });
    }

    /// Hands queued jobs to this runner's dispatcher: they are sent in queue order within the
    /// limit, unless the queue is paused. Returns one receiver per job for its outcome (drop it
    /// if nobody waits).
    pub fn enqueue(&self, ids: &[i64]) -> Vec<(i64, oneshot::Receiver<JobOutcome>)> {
        let out = self.inner.queue.adopt(ids, self.lane());
        self.ensure_dispatcher();
        out
    }

    /// Spawns [`Runner::run`] on the current tokio runtime.
    pub fn spawn(&self, job_id: i64) -> tokio::task::JoinHandle<JobOutcome> {
        let me = self.clone();
        tokio::spawn(async move { me.run(job_id).await })
    }

    /// Drives one ledger task to its end: a queued one goes through the queue (in order, within
    /// the limit, unless paused); one already sent is polled, downloaded and saved.
    pub async fn run(&self, job_id: i64) -> JobOutcome {
        loop {
            let state = match self.inner.parts.ledger.get(job_id) {
                Ok(t) => t.state,
                Err(e) => return JobOutcome::Failed(e),
            };
            if state == TaskState::Queued {
                let Some((_, rx)) = self.enqueue(&[job_id]).pop() else {
                    return JobOutcome::Failed(Error::Internal("the queue lost a job".into()));
                };
                return rx.await.unwrap_or_else(|_| {
                    JobOutcome::Failed(Error::Internal("the queue stopped before the job ran".into()))
                });
            }
            match self.run_inner(job_id, None).await {
                RunEnd::Done(outcome) => return outcome,
                RunEnd::Requeued => continue,
            }
        }
    }

    fn ensure_dispatcher(&self) {
        if self.inner.dispatcher_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.inner.dispatcher_started.store(false, Ordering::SeqCst);
            return;
        };
        handle.spawn(dispatch_loop(Arc::downgrade(&self.inner), self.inner.queue.clone()));
    }

    /// Reads the pause switch; announces a change.
    fn observe_pause(&self) -> Result<QueueControl> {
        let control = self.inner.parts.ledger.queue_control()?;
        if self.inner.queue.observe_control(&control) {
            self.emit_queue_changed();
        }
        Ok(control)
    }

    /// One round of the dispatcher. Returns whether to look again at once.
    async fn dispatch_step(&self) -> Result<bool> {
        let q = &self.inner.queue;
        let ledger = &self.inner.parts.ledger;
        let lane = self.lane();
        let control = self.observe_pause()?;
        if !q.has_unclaimed(lane) {
            return Ok(false);
        }
        let order = ledger.queue_order(lane)?;
        let queued: HashSet<i64> = order.iter().map(|r| r.id).collect();
        for (id, waiter) in q.take_stale(lane, &queued) {
            // Cancelled or taken by another process meanwhile: settle it the ordinary way.
            let me = self.clone();
            tokio::spawn(async move {
                let outcome = me.run(id).await;
                if let Some(w) = waiter {
                    let _ = w.send(outcome);
                }
            });
        }
        if control.paused {
            q.release_waiters(lane, &queue::pause_text(&control));
            return Ok(false);
        }
        if !order.iter().any(|r| q.claimable(r.id, lane)) {
            return Ok(false);
        }
        q.wait_for_plan().await;
        let permit = q.limiter().acquire().await;
        // The queue may have changed while we waited for the slot (or a newer runner, with a new
        // key or settings, took over: it sends the job instead).
        if self.inner.generation != q.generation() || self.observe_pause()?.paused {
            return Ok(true);
        }
        let order = ledger.queue_order(lane)?;
        let Some(row) = order.into_iter().find(|r| q.claimable(r.id, lane)) else { return Ok(true) };
        if self.inner.charges
            && let Some(cap) = q.daily_budget()
        {
            let spent = ledger.committed_cost_since(start_of_today(), lane, &q.reserved())?;
            if spent + row.estimated_cost_usd > cap + 1e-9 {
                self.pause_for_budget(cap, spent)?;
                return Ok(true);
            }
        }
        if !q.claim(row.id) {
            return Ok(true);
        }
        let me = self.clone();
        tokio::spawn(async move {
            let id = row.id;
            match me.run_inner(id, Some(permit)).await {
                RunEnd::Requeued => me.inner.queue.unclaim(id),
                RunEnd::Done(outcome) => {
                    if let Some(w) = me.inner.queue.forget(id) {
                        let _ = w.send(outcome);
                    }
                }
            }
        });
        Ok(true)
    }

    fn pause_for_budget(&self, cap: f64, spent: f64) -> Result<()> {
        let reason = format!(
            "Daily budget of {} reached ({} spent today); the queue is paused. Raise the cap in \
             Settings, or resume the queue tomorrow.",
            usd(cap),
            usd(spent)
        );
        tracing::info!("{reason}");
        let control =
            QueueControl { paused: true, reason: Some(reason), kind: Some(PAUSE_KIND_BUDGET.into()) };
        self.inner.parts.ledger.set_queue_control(&control)?;
        self.inner.queue.observe_control(&control);
        self.emit_queue_changed();
        Ok(())
    }

    /// Runs one job in this process: lease, drive, record the end, release.
    async fn run_inner(&self, job_id: i64, permit: Option<Permit>) -> RunEnd {
        let inner = &self.inner;
        let cancel = CancellationToken::new();
        {
            // One run per job per process: the lease below is per process, so it would let a
            // second run in this process through.
            let mut running = lock(&inner.cancels);
            if running.contains_key(&job_id) {
                return RunEnd::Done(JobOutcome::Busy);
            }
            running.insert(job_id, cancel.clone());
        }
        match inner.parts.ledger.try_lease(job_id, &inner.owner, LEASE_TTL) {
            Ok(true) => {}
            Ok(false) => {
                lock(&inner.cancels).remove(&job_id);
                return RunEnd::Done(JobOutcome::Busy);
            }
            Err(e) => {
                lock(&inner.cancels).remove(&job_id);
                return RunEnd::Done(JobOutcome::Failed(e));
            }
        }
        let renew = self.spawn_lease_renewal(job_id, cancel.clone());

        let end = match self.drive(job_id, &cancel, permit).await {
            Ok(images) => {
                if inner.queue.limiter().on_success() {
                    self.emit_queue_changed();
                }
                RunEnd::Done(JobOutcome::Saved(images))
            }
            Err(Stop::Requeued) => RunEnd::Requeued,
            Err(Stop::Error(Error::Api(piapi::Error::Cancelled { .. }))) => {
                if let Err(e) = self.record_cancel(job_id, cancel.is_cancelled()).await {
                    tracing::warn!(job_id, "could not record cancellation: {e}");
                }
                self.emit(JobEvent::Cancelled { job_id });
                RunEnd::Done(JobOutcome::Cancelled)
            }
            Err(Stop::Error(e)) => {
                self.emit(JobEvent::Failed { job_id, code: e.code(), message: e.to_string() });
                RunEnd::Done(JobOutcome::Failed(e))
            }
        };

        renew.abort();
        lock(&inner.cancels).remove(&job_id);
        inner.queue.unreserve(job_id);
        if let Err(e) = inner.parts.ledger.release(job_id, &inner.owner) {
            tracing::warn!(job_id, "could not release lease: {e}");
        }
        if matches!(end, RunEnd::Done(_)) {
            self.after_end(job_id);
        }
        end
    }

    /// Announces the job's batch as finished when this was its last unfinished job, and reads
    /// the balance again.
    fn after_end(&self, job_id: i64) {
        let ledger = &self.inner.parts.ledger;
        let Ok(task) = ledger.get(job_id) else { return };
        let Some(batch_id) = task.batch_id.filter(|_| task.state.is_terminal()) else { return };
        let summary = match ledger.batch_summary(&batch_id) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(job_id, "could not summarise the batch: {e}");
                return;
            }
        };
        if summary.active > 0 || !self.inner.queue.first_finish(&batch_id) {
            return;
        }
        self.emit(JobEvent::BatchFinished {
            batch_id,
            saved: summary.saved,
            failed: summary.failed,
            cancelled: summary.cancelled,
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.refresh_account().await {
                    tracing::info!("could not refresh the balance after a batch: {e}");
                }
            });
        }
    }

    fn spawn_lease_renewal(&self, job_id: i64, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(LEASE_RENEW_EVERY) => {}
                }
                let ledger = &me.inner.parts.ledger;
                if let Err(e) = ledger.try_lease(job_id, &me.inner.owner, LEASE_TTL) {
                    tracing::warn!(job_id, "lease renewal failed: {e}");
                }
                if cancel.is_cancelled() {
                    // Keep renewing while the run loop records the cancellation; it aborts us.
                    tokio::time::sleep(LEASE_RENEW_EVERY).await;
                } else if ledger.get(job_id).is_ok_and(|t| t.state == TaskState::Cancelled) {
                    // Cancelled by another process (`fluxdesk queue cancel`): stop waiting.
                    cancel.cancel();
                }
            }
        })
    }

    /// Cancels a job. A queued one is dropped (nothing is sent). One already sent is cancelled
    /// on PiAPI where the API allows it (pending tasks only, refunded); otherwise Fluxdesk stops
    /// waiting for it and the job says plainly that PiAPI may still charge for it
    /// ([`STOPPED_WAITING`], in the job's error message). Cancelling a finished job does nothing.
    pub async fn cancel(&self, job_id: i64) -> Result<()> {
        let ledger = &self.inner.parts.ledger;
        let task = ledger.get(job_id)?;
        if task.state.is_terminal() {
            return Ok(());
        }
        let token = lock(&self.inner.cancels).get(&job_id).cloned();
        if let Some(t) = token {
            // Our run stops, cancels on PiAPI if it can, records and announces it.
            t.cancel();
            return Ok(());
        }
        match task.task_id.as_deref() {
            // Queued: dropped. Submitting in another process: it notices and stops.
            None => ledger.mark_cancelled(job_id)?,
            Some(task_id) => self.cancel_remote(job_id, task_id).await?,
        }
        if let Some(w) = self.inner.queue.forget(job_id) {
            let _ = w.send(JobOutcome::Cancelled);
        }
        self.inner.queue.wake();
        self.emit(JobEvent::Cancelled { job_id });
        self.after_end(job_id);
        Ok(())
    }

    /// Records the cancellation of a job whose run stopped. `by_user`: our token fired (else
    /// PiAPI reported the task cancelled).
    async fn record_cancel(&self, job_id: i64, by_user: bool) -> Result<()> {
        let ledger = &self.inner.parts.ledger;
        let task = ledger.get(job_id)?;
        if task.state.is_terminal() {
            return Ok(());
        }
        match task.task_id.as_deref() {
            Some(task_id) if by_user => self.cancel_remote(job_id, task_id).await,
            _ => ledger.mark_cancelled(job_id),
        }
    }

    /// Asks PiAPI to cancel the task and records the result.
    async fn cancel_remote(&self, job_id: i64, task_id: &str) -> Result<()> {
        let ledger = &self.inner.parts.ledger;
        match self.inner.parts.client.cancel_task(task_id).await {
            Ok(()) => ledger.mark_cancelled_with(job_id, None, true),
            Err(e) => {
                tracing::info!(job_id, "PiAPI did not cancel the task: {e}");
                let why = match e {
                    piapi::Error::InvalidInput { .. } => {
                        "it had already started, and PiAPI cancels only pending tasks".to_owned()
                    }
                    other => format!("the cancel request failed: {other}"),
                };
                ledger.mark_cancelled_with(job_id, Some(&format!("{STOPPED_WAITING} ({why}).")), false)
            }
        }
    }

    /// The result for a task that is already over, if it is.
    fn ended(&self, task: &LedgerTask) -> Option<std::result::Result<Vec<ImageRecord>, Stop>> {
        match task.state {
            TaskState::Saved => Some(self.saved_images(task).map_err(Stop::Error)),
            TaskState::Failed | TaskState::Abandoned => Some(Err(piapi::Error::TaskFailed {
                task_id: task.task_id.clone().unwrap_or_default(),
                message: task.error_message.clone().unwrap_or_else(|| "it ended earlier".into()),
            }
            .into())),
            TaskState::Cancelled => {
                Some(Err(piapi::Error::Cancelled { task_id: task.task_id.clone() }.into()))
            }
            _ => None,
        }
    }

    async fn drive(
        &self,
        job_id: i64,
        cancel: &CancellationToken,
        permit: Option<Permit>,
    ) -> std::result::Result<Vec<ImageRecord>, Stop> {
        let parts = &self.inner.parts;
        let task = parts.ledger.get(job_id)?;
        if let Some(end) = self.ended(&task) {
            return end;
        }

        // Wait for a slot in the plan's concurrency (a resumed task is already in flight on PiAPI
        // but still takes a slot, so we never exceed the plan from this process).
        let permit = match permit {
            Some(p) => p,
            None => tokio::select! {
                p = self.inner.queue.limiter().acquire() => p,
                _ = cancel.cancelled() => return Err(piapi::Error::Cancelled { task_id: None }.into()),
            },
        };
        // Read again: it may have changed while we waited.
        let task = parts.ledger.get(job_id)?;
        if let Some(end) = self.ended(&task) {
            return end;
        }

        let task_id = match task.state {
            TaskState::Queued => self.submit(&task, cancel).await?,
            TaskState::Submitting => {
                let e = uncertain_error();
                parts.ledger.mark_failed(job_id, ErrorCode::CreateUnknown, &e.to_string())?;
                return Err(e.into());
            }
            _ => task.task_id.clone().ok_or_else(|| {
                Error::Internal(format!("job {job_id} is {:?} without a task id", task.state))
            })?,
        };
        if cancel.is_cancelled() {
            // Cancelled while the create was in flight: the run cancels it on PiAPI.
            return Err(piapi::Error::Cancelled { task_id: Some(task_id) }.into());
        }

        let done = self.poll(&task, &task_id, cancel).await?;
        // PiAPI has finished with the task: it no longer counts against the plan's concurrency,
        // so the next queued task is sent now, while this one downloads and saves.
        drop(permit);
        if let Err(e) = parts.ledger.mark_downloading(job_id, done.consume) {
            // Cancelled by another process while we polled.
            return Err(match parts.ledger.get(job_id) {
                Ok(t) if t.state == TaskState::Cancelled => {
                    piapi::Error::Cancelled { task_id: Some(task_id) }.into()
                }
                _ => e.into(),
            });
        }
        let images = self.save_outputs(&task, &done, cancel).await?;
        parts.ledger.mark_saved(job_id)?;
        // Announce only what is durable: the files, the index rows and the ledger state.
        for rec in &images {
            self.emit(JobEvent::Saved { job_id, image: Box::new(parts.gallery.image_view(rec)) });
        }
        Ok(images)
    }

    /// Sends the create request once. Returns PiAPI's task id, already written to the ledger.
    /// A 429 refusal puts the task back in the queue ([`Stop::Requeued`]).
    async fn submit(
        &self,
        task: &LedgerTask,
        cancel: &CancellationToken,
    ) -> std::result::Result<String, Stop> {
        let parts = &self.inner.parts;
        if cancel.is_cancelled() {
            return Err(piapi::Error::Cancelled { task_id: None }.into());
        }
        // Inputs first, while the task is still queued: a failure here created nothing.
        let request = match self.with_uploaded_inputs(task, cancel).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail_before_create(task.id, e, cancel)),
        };
        let claimed = parts.ledger.begin_submit(task.id);
        // From here the ledger counts it as spent (or it is not ours to send).
        self.inner.queue.unreserve(task.id);
        if !claimed? {
            // Cancelled or taken between our read and the claim.
            let now = parts.ledger.get(task.id)?;
            return match now.state {
                TaskState::Cancelled => Err(piapi::Error::Cancelled { task_id: None }.into()),
                _ => Ok(now.task_id.ok_or_else(uncertain_error)?),
            };
        }
        match parts.client.create_task(&request).await {
            Ok(created) => {
                parts.ledger.mark_submitted(task.id, &created.task_id)?;
                self.emit(JobEvent::Submitted { job_id: task.id, task_id: created.task_id.clone() });
                Ok(created.task_id)
            }
            Err(piapi::Error::RateLimited { retry_after, message }) if !cancel.is_cancelled() => {
                // A 429 (rate limit or the plan's concurrency) created nothing: queue it again.
                if parts.ledger.requeue_refused(task.id)? {
                    tracing::info!(
                        job_id = task.id,
                        ?retry_after,
                        "PiAPI refused the task (429); queued again"
                    );
                    if self.inner.queue.limiter().on_refused(retry_after) {
                        self.emit_queue_changed();
                    }
                    return Err(Stop::Requeued);
                }
                let e = piapi::Error::RateLimited { retry_after, message };
                parts.ledger.mark_failed(task.id, e.code(), &e.to_string())?;
                Err(e.into())
            }
            Err(e) => {
                // Nothing was created (validation, auth, credits, a refused connection), or it is
                // unknown (CreateUnknown). Either way the task is never resent automatically.
                if cancel.is_cancelled() && e.code() == ErrorCode::RateLimited {
                    parts.ledger.mark_cancelled(task.id)?;
                    return Err(piapi::Error::Cancelled { task_id: None }.into());
                }
                parts.ledger.mark_failed(task.id, e.code(), &e.to_string())?;
                Err(e.into())
            }
        }
    }

    /// The request as it is sent: each prepared input uploaded and its URL set
    /// (`input.image`, `control_net_settings[0].control_image`), then fully validated.
    async fn with_uploaded_inputs(
        &self,
        task: &LedgerTask,
        cancel: &CancellationToken,
    ) -> Result<piapi::TaskRequest> {
        let mut request = task.request.clone();
        if let Some(img) = &task.sources.image {
            request.input.image = Some(self.upload_input(img, cancel).await?);
        }
        if let Some(control) = &task.sources.control_image {
            let url = self.upload_input(control, cancel).await?;
            match request.input.control_net_settings.as_mut().and_then(|v| v.first_mut()) {
                Some(c) => c.control_image = url,
                None => {
                    return Err(Error::Internal(format!(
                        "job {} has a control image but no ControlNet",
                        task.id
                    )));
                }
            }
        }
        request.validate()?;
        Ok(request)
    }

    /// Uploads one prepared input (or reuses its URL from the last 30 minutes).
    async fn upload_input(
        &self,
        input: &crate::inputs::PreparedInput,
        cancel: &CancellationToken,
    ) -> Result<String> {
        let now = Instant::now();
        {
            let mut cache = lock(&self.inner.uploads);
            cache.retain(|_, (_, made)| now.duration_since(*made) < UPLOAD_URL_TTL);
            if let Some((url, _)) = cache.get(&input.sha256) {
                return Ok(url.clone());
            }
        }
        let bytes = tokio::fs::read(&input.path).await.map_err(|e| {
            Error::invalid_input(
                "source",
                format!(
                    "the prepared input image {} could not be read ({e}); start a new job with the image",
                    input.path
                ),
            )
        })?;
        let name = format!("{}.png", input.sha256);
        let url = tokio::select! {
            r = self.inner.parts.client.upload_image(&name, &bytes) => r?,
            _ = cancel.cancelled() => return Err(piapi::Error::Cancelled { task_id: None }.into()),
        };
        lock(&self.inner.uploads).insert(input.sha256.clone(), (url.clone(), Instant::now()));
        Ok(url)
    }

    /// Records a failure before the create (upload, validation): the task ends failed (or
    /// cancelled, when that is why), nothing was sent.
    fn fail_before_create(&self, job_id: i64, e: Error, cancel: &CancellationToken) -> Stop {
        let ledger = &self.inner.parts.ledger;
        if cancel.is_cancelled() || e.code() == ErrorCode::Cancelled {
            return piapi::Error::Cancelled { task_id: None }.into();
        }
        if let Err(le) = ledger.mark_failed(job_id, e.code(), &e.to_string()) {
            if ledger.get(job_id).is_ok_and(|t| t.state == TaskState::Cancelled) {
                return piapi::Error::Cancelled { task_id: None }.into();
            }
            return le.into();
        }
        e.into()
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
        let (model, kind) = (task.request.model, task.request.task_type);
        // Only a task we just created starts its clock now; a resumed one has run for a while.
        let fresh = task.state == TaskState::Queued;
        let policy = parts.client.config().poll.clone().expecting(if fresh {
            self.inner.durations.expected(model, kind)
        } else {
            None
        });
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
        match parts.client.poll_until_done_with(task_id, &policy, cancel, &mut on_event).await {
            Ok(t) => {
                if fresh {
                    // PiAPI's own clock when it gives both ends, else ours (which includes the
                    // notice latency).
                    let took = match (t.created_at, t.ended_at) {
                        (Some(c), Some(e)) if e > c => (e - c).to_std().unwrap_or_default(),
                        _ => began.elapsed(),
                    };
                    self.inner.durations.record(model, kind, took);
                }
                Ok(t)
            }
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
        // The source's bytes as the index knows them now: the files carry this hash, so indexing
        // links them by content, never by an id another index gave (`ImageMeta::source_image_hash`).
        // A source deleted since leaves it empty (the link is then empty too, never wrong).
        let source_hash =
            task.sources.source_image_id.and_then(|id| parts.gallery.get(id).ok()).map(|r| r.content_hash);
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
            // The verification's decoded pixels (3–4 MiB) go straight to the thumbnail and are
            // freed there; images of a task are fetched and stored one at a time.
            let piapi::FetchedImage { bytes, width, height, format, decoded } = fetched;
            let req = &task.request;
            let meta = ImageMeta {
                prompt: req.input.prompt.clone(),
                negative_prompt: req.input.negative_prompt.clone().filter(|s| !s.trim().is_empty()),
                model: Some(req.model.id().to_owned()),
                task_type: Some(req.task_type.as_str().to_owned()),
                width,
                height,
                seed: req.input.seed.map(|s| s + i64::from(index)),
                steps: req.input.steps,
                guidance: req.input.guidance_scale,
                task_id: Some(task_id.to_owned()),
                output_index: Some(index),
                cost_usd: Some(per_image_cost),
                created_at: Some(task.created_at),
                source_image_id: task.sources.source_image_id.map(|id| id.to_string()),
                source_image_hash: source_hash.clone(),
                generator: Some(parts.generator.clone()),
                task_settings: crate::studio_tasks::task_settings_of(req),
            };
            saved.push(self.store_image(task, meta, bytes, &format, Some(decoded)).await?);
        }
        Ok(saved)
    }

    /// Writes the file (with metadata), its thumbnail and its index row. Idempotent.
    ///
    /// `decoded`: what `bytes` decode to, when the caller has it (the download's verification);
    /// the thumbnail is then made from it instead of decoding again (embedding PNG metadata adds
    /// text chunks only, so the saved file's pixels are the same). `None` decodes the file's bytes.
    /// The pixels are consumed by the thumbnail step and never outlive this call.
    async fn store_image(
        &self,
        task: &LedgerTask,
        meta: ImageMeta,
        bytes: Vec<u8>,
        format: &str,
        decoded: Option<piapi::DecodedImage>,
    ) -> Result<ImageRecord> {
        let parts = &self.inner.parts;
        let task_id = meta.task_id.clone().unwrap_or_default();
        let index = meta.output_index.unwrap_or(0);
        let ext = match format {
            "jpeg" | "jpg" => "jpg",
            "webp" => "webp",
            _ => "png",
        };
        // The name's tag grows from 4 to 16 hex characters if another image already has the name.
        let created = task.created_at.with_timezone(&Local);
        let root = parts.gallery.root().to_path_buf();
        let names: Vec<PathBuf> = files::name_tags(&format!("{task_id}/{index}"))
            .iter()
            .map(|tag| root.join(files::gallery_relative_path(created, &meta.prompt, tag, ext)))
            .collect();
        let thumbs_dir = parts.thumbs_dir.clone();
        let meta_for_file = meta.clone();
        let is_png = ext == "png";
        // Encoding, hashing, writing and thumbnailing are CPU and disk work: off the runtime.
        let (abs, hash, size) = tokio::task::spawn_blocking(move || -> Result<(PathBuf, String, u64)> {
            let bytes = if is_png { metadata::embed_png_metadata(&bytes, &meta_for_file)? } else { bytes };
            let abs = files::write_new_file_first_free(names, &bytes)?;
            let hash = files::content_hash(&bytes);
            let thumb = thumbs::thumb_path(&thumbs_dir, &hash);
            let made = match decoded {
                Some(d) => thumbs::make_thumbnail_from_image(d.into_upright(), &thumb),
                None => thumbs::make_thumbnail(&bytes, &thumb),
            };
            if let Err(e) = made {
                // The image is safe; the thumbnail is made again lazily.
                tracing::warn!("thumbnail failed for {}: {e}", abs.display());
            }
            Ok((abs, hash, bytes.len() as u64))
        })
        .await
        .map_err(|e| Error::Internal(format!("save task panicked: {e}")))??;
        let rel = abs.strip_prefix(&root).unwrap_or(&abs);
        let rel_str = rel.to_string_lossy().replace('\\', "/");

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
    /// queued tasks are sent through the queue (in order, within the limit; left queued while the
    /// queue is paused), and tasks caught mid-create are reported as uncertain (never resent).
    /// Tasks leased by a live process (or running in this one) are waited for until they end or
    /// the lease expires.
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
                self.after_end(t.id);
            }
        }
        let mut in_flight: Vec<i64> =
            ledger.resumable()?.into_iter().filter(|t| include(t)).map(|t| t.id).collect();
        in_flight.sort_unstable();
        in_flight.dedup();
        let queued: Vec<i64> = ledger.queued()?.into_iter().filter(|t| include(t)).map(|t| t.id).collect();

        let mut handles: Vec<(i64, tokio::task::JoinHandle<JobOutcome>)> =
            in_flight.iter().map(|id| (*id, self.spawn(*id))).collect();
        for (id, rx) in self.enqueue(&queued) {
            let h = tokio::spawn(async move {
                rx.await.unwrap_or_else(|_| {
                    JobOutcome::Failed(Error::Internal("the queue stopped before the job ran".into()))
                })
            });
            handles.push((id, h));
        }

        let deadline = Instant::now() + LEASE_TTL + Duration::from_secs(5);
        while !handles.is_empty() {
            let mut busy = Vec::new();
            for (id, h) in handles {
                let outcome = h.await.map_err(|e| Error::Internal(format!("job panicked: {e}")))?;
                match outcome {
                    JobOutcome::Saved(_) => report.saved.push(id),
                    JobOutcome::Busy => busy.push(id),
                    JobOutcome::Cancelled => report.failed.push(id),
                    JobOutcome::Paused { .. } => report.left_queued.push(id),
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
            let pending: Vec<i64> = busy
                .into_iter()
                .filter(|id| ledger.get(*id).map(|t| !t.state.is_terminal()).unwrap_or(false))
                .collect();
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                report.still_running.extend(pending);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            handles = pending.iter().map(|id| (*id, self.spawn(*id))).collect();
        }
        Ok(report)
    }
}

/// The dispatcher of one runner: sends queued jobs while the runner lives and is the queue's
/// current one.
async fn dispatch_loop(runner: Weak<Inner>, queue: Queue) {
    loop {
        let again = {
            let Some(inner) = runner.upgrade() else { return };
            if inner.generation != queue.generation() {
                return;
            }
            let me = Runner { inner };
            match me.dispatch_step().await {
                Ok(again) => again,
                Err(e) => {
                    tracing::warn!("queue dispatcher: {e}");
                    false
                }
            }
        };
        if !again {
            queue.wait(DISPATCH_TICK).await;
        }
    }
}

/// Local midnight today, in UTC.
pub fn start_of_today() -> DateTime<Utc> {
    local_midnight(Local::now().date_naive())
}

/// Local midnight on the first of this month, in UTC.
pub fn start_of_month() -> DateTime<Utc> {
    let today = Local::now().date_naive();
    local_midnight(today.with_day(1).unwrap_or(today))
}

fn local_midnight(day: chrono::NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A DST gap at midnight: the earliest valid instant of the day.
    Local
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| Local.from_local_datetime(&(midnight + chrono::TimeDelta::hours(1))).earliest())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// A dollar amount for people: cents from $1 up, tenths of a cent below.
pub fn usd(v: f64) -> String {
    if v.abs() >= 1.0 || v == 0.0 { format!("${v:.2}") } else { format!("${v:.4}") }
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
